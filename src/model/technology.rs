use std::fmt;
use std::str::FromStr;

/// A kind of link, ConnMan's technology "Type" (doc/technology-api.txt).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TechnologyKind {
    /// Wired Ethernet.
    Ethernet,
    /// IEEE 802.11.
    Wifi,
    /// Bluetooth PAN.
    Bluetooth,
    /// Cellular data.
    Cellular,
}

impl TechnologyKind {
    /// The technology whose netdevs are of this kind, if any.
    pub fn of_interface(kind: super::InterfaceKind) -> Option<Self> {
        use super::InterfaceKind as K;
        match kind {
            K::Ethernet => Some(Self::Ethernet),
            K::Wireless => Some(Self::Wifi),
            K::Bluetooth => Some(Self::Bluetooth),
            K::Wwan => Some(Self::Cellular),
            _ => None,
        }
    }

    /// Every kind, in ConnMan's default preference order.
    pub const ALL: [TechnologyKind; 4] =
        [Self::Ethernet, Self::Wifi, Self::Bluetooth, Self::Cellular];

    /// ConnMan's name: "ethernet", "wifi", "bluetooth", "cellular".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ethernet => "ethernet",
            Self::Wifi => "wifi",
            Self::Bluetooth => "bluetooth",
            Self::Cellular => "cellular",
        }
    }
}

impl fmt::Display for TechnologyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not one of "ethernet", "wifi", "bluetooth", "cellular".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown technology {0:?}: expected one of ethernet, wifi, bluetooth, cellular")]
pub struct UnknownTechnology(pub String);

impl FromStr for TechnologyKind {
    type Err = UnknownTechnology;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownTechnology(s.to_string()))
    }
}

/// One technology and its settings (ConnMan Technology properties).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Technology {
    /// The kind.
    pub kind: TechnologyKind,
    /// Enabled.
    pub powered: bool,
    /// A service of this kind is ready or online.
    pub connected: bool,
    /// Tethering on.
    pub tethering: bool,
    /// Tethering network name (ConnMan "TetheringIdentifier"), when tethering is set up.
    pub tethering_identifier: Option<String>,
    /// Usable now: for Wi-Fi, a radio is present and its wpa_supplicant answers.
    pub available: bool,
    /// Wi-Fi regulatory country (ISO 3166-1 alpha-2), if set.
    pub country: Option<String>,
    /// netpilot leaves its netdevs alone (Zephyr IgnoreL2).
    pub ignored: bool,
}

impl Technology {
    /// Human-readable name, as ConnMan shows it.
    pub fn name(&self) -> &'static str {
        match self.kind {
            TechnologyKind::Ethernet => "Wired",
            TechnologyKind::Wifi => "WiFi",
            TechnologyKind::Bluetooth => "Bluetooth",
            TechnologyKind::Cellular => "Cellular",
        }
    }
}
