use std::net::IpAddr;

/// What kind of netdev an interface is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterfaceKind {
    /// ARPHRD_ETHER, not wireless, not a bridge: carries an Ethernet service.
    Ethernet,
    /// Has a wireless extension / cfg80211 phy.
    Wireless,
    /// ARPHRD_LOOPBACK.
    Loopback,
    /// A Linux bridge.
    Bridge,
    /// Anything else (tun, wireguard, gre, …).
    Other,
}

impl InterfaceKind {
    /// Lower-case name as the API reports it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ethernet => "ethernet",
            Self::Wireless => "wireless",
            Self::Loopback => "loopback",
            Self::Bridge => "bridge",
            Self::Other => "other",
        }
    }
}

/// Address scope (rtnetlink `ifa_scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrScope {
    /// RT_SCOPE_UNIVERSE.
    Global,
    /// RT_SCOPE_SITE.
    Site,
    /// RT_SCOPE_LINK.
    Link,
    /// RT_SCOPE_HOST.
    Host,
}

impl AddrScope {
    /// Lower-case name as the API reports it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Global => "global",
            Self::Site => "site",
            Self::Link => "link",
            Self::Host => "host",
        }
    }
}

/// One address on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceAddress {
    /// The address.
    pub address: IpAddr,
    /// Prefix length (0..=32 or 0..=128).
    pub prefix_len: u8,
    /// Scope.
    pub scope: AddrScope,
    /// IPv6 DAD not finished (IFA_F_TENTATIVE).
    pub tentative: bool,
}

impl InterfaceAddress {
    /// Counts toward readiness for its family: any IPv4 address; an IPv6 address only when
    /// global and not tentative (DESIGN §1).
    pub fn counts_for_readiness(&self) -> bool {
        match self.address {
            IpAddr::V4(_) => true,
            IpAddr::V6(_) => self.scope == AddrScope::Global && !self.tentative,
        }
    }
}

/// A kernel netdev as netpilot sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// ifindex.
    pub index: u32,
    /// Kernel name.
    pub name: String,
    /// Link-layer address, when the link has a 6-byte one.
    pub mac: Option<[u8; 6]>,
    /// Kind of device.
    pub kind: InterfaceKind,
    /// IFF_UP.
    pub admin_up: bool,
    /// IFF_LOWER_UP (carrier).
    pub oper_up: bool,
    /// MTU in bytes.
    pub mtu: u32,
    /// Addresses, in the order the kernel reported them.
    pub addresses: Vec<InterfaceAddress>,
    /// netpilot leaves the interface alone (config ignore list or UpdateInterface).
    pub ignored: bool,
}

impl Interface {
    /// `aa:bb:cc:dd:ee:ff`, or empty.
    pub fn mac_string(&self) -> String {
        self.mac
            .map(|m| {
                m.iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(":")
            })
            .unwrap_or_default()
    }
}
