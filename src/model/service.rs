use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{CredentialFlags, ProxyConfig, Security, ServiceConfig, TechnologyKind, WifiInfo};

/// Service identifier as ConnMan builds it, e.g. `ethernet_0242c0a80002_cable`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceId(pub String);

impl ServiceId {
    /// The id of the Ethernet service on a NIC with this MAC: `ethernet_<mac-hex>_cable`.
    pub fn ethernet(mac: [u8; 6]) -> Self {
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        Self(format!("ethernet_{hex}_cable"))
    }
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Service state, ConnMan's service "State" (doc/service-api.txt).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServiceState {
    /// Not connected; for Ethernet, no carrier.
    Idle,
    /// Link layer coming up; for Ethernet, carrier seen.
    Association,
    /// Waiting for IP configuration.
    Configuration,
    /// IP configured.
    Ready,
    /// Online check passed.
    Online,
    /// Being disconnected.
    Disconnect,
    /// Failed; see [`Service::error`].
    Failure,
}

impl ServiceState {
    /// Ready or online: the service carries traffic.
    pub fn is_connected(self) -> bool {
        matches!(self, Self::Ready | Self::Online)
    }

    /// Association or configuration: on its way to ready.
    pub fn is_connecting(self) -> bool {
        matches!(self, Self::Association | Self::Configuration)
    }

    /// ConnMan's word for the state.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Association => "association",
            Self::Configuration => "configuration",
            Self::Ready => "ready",
            Self::Online => "online",
            Self::Disconnect => "disconnect",
            Self::Failure => "failure",
        }
    }
}

/// Why a service failed or is degraded: ConnMan's service "Error" words
/// (doc/service-api.txt), plus `online-check-failed` and `passphrase-required`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServiceError {
    /// The link layer did not come up in time, or the backend failed to connect.
    ConnectFailed,
    /// DHCP gave no usable lease.
    DhcpFailed,
    /// The network went out of range (its access point disappeared).
    OutOfRange,
    /// The passphrase or key was refused (Wi-Fi 4-way handshake or SAE).
    InvalidKey,
    /// Authentication failed (EAP, or the access point refused us).
    AuthFailed,
    /// A secret is needed and no one gave it: no stored credential, none in the request,
    /// and no agent.
    PassphraseRequired,
    /// The online check keeps failing on a service that was online.
    OnlineCheckFailed,
}

impl ServiceError {
    /// ConnMan's word for the error.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConnectFailed => "connect-failed",
            Self::DhcpFailed => "dhcp-failed",
            Self::OutOfRange => "out-of-range",
            Self::InvalidKey => "invalid-key",
            Self::AuthFailed => "auth-failed",
            Self::PassphraseRequired => "passphrase-required",
            Self::OnlineCheckFailed => "online-check-failed",
        }
    }

    /// What happened, in words, for an error message that has no more detail.
    pub fn describe(self) -> &'static str {
        match self {
            Self::ConnectFailed => "the link did not come up",
            Self::DhcpFailed => "no usable DHCP lease",
            Self::OutOfRange => "the network went out of range",
            Self::InvalidKey => "the passphrase was refused",
            Self::AuthFailed => "authentication was refused",
            Self::PassphraseRequired => "a secret is needed and none was given",
            Self::OnlineCheckFailed => "the online check keeps failing",
        }
    }

    /// Whether a persistent service tries again by itself after this failure. A refused
    /// key or credential is not retried: it would fail the same way (wpa_supplicant alone
    /// would retry a wrong key forever), so it waits for the user.
    pub fn retryable(self) -> bool {
        !matches!(
            self,
            Self::InvalidKey | Self::AuthFailed | Self::PassphraseRequired
        )
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The link-layer state of one service as its backend reports it: carrier for Ethernet,
/// association and authentication for Wi-Fi (wpa_supplicant), the PAN or bearer connection
/// for Bluetooth and cellular.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L2State {
    /// Not connected, and not trying.
    Idle,
    /// Connecting: association, authentication, the 4-way handshake, 802.1X.
    Associating,
    /// Connected; traffic can flow on the netdev with this ifindex.
    Associated {
        /// The netdev that carries the service now.
        ifindex: u32,
    },
    /// The attempt failed for this reason; the backend has stopped trying.
    Failed(ServiceError),
}

/// How an address family is configured (ConnMan "IPv4.Method" / "IPv6.Method").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpMethod {
    /// DHCPv4 (IPv4 only).
    Dhcp,
    /// SLAAC / DHCPv6 (IPv6 only).
    Auto,
    /// Static.
    Manual,
    /// Disabled.
    Off,
    /// Configured outside netpilot.
    Fixed,
}

/// IPv4 in use on a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Info {
    /// How it was obtained.
    pub method: IpMethod,
    /// The address.
    pub address: Ipv4Addr,
    /// Prefix length, 0..=32.
    pub prefix_len: u8,
    /// Default gateway, when a default route goes through the service's link.
    pub gateway: Option<Ipv4Addr>,
}

/// IPv6 in use on a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Info {
    /// How it was obtained.
    pub method: IpMethod,
    /// The global address.
    pub address: Ipv6Addr,
    /// Prefix length, 0..=128.
    pub prefix_len: u8,
    /// Default gateway, when a default route goes through the service's link.
    pub gateway: Option<Ipv6Addr>,
}

/// Something you can connect to (ConnMan Service properties).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Identifier.
    pub id: ServiceId,
    /// Human-readable name ("Wired", an SSID).
    pub name: String,
    /// Technology.
    pub technology: TechnologyKind,
    /// State.
    pub state: ServiceState,
    /// Why the service is in `failure`, or what degrades it while `ready`
    /// (`online-check-failed`).
    pub error: Option<ServiceError>,
    /// Signal strength 0..=100 (0 for Ethernet).
    pub strength: u8,
    /// Known to the user or configured.
    pub favorite: bool,
    /// Configured outside the API; read-only.
    pub immutable: bool,
    /// Connected by netpilot on its own.
    pub autoconnect: bool,
    /// Kernel interface carrying it.
    pub interface: String,
    /// MAC of that interface, `aa:bb:…`.
    pub mac: String,
    /// MTU of that interface.
    pub mtu: u32,
    /// IPv4 in use.
    pub ipv4: Option<Ipv4Info>,
    /// IPv6 in use.
    pub ipv6: Option<Ipv6Info>,
    /// Engine sequence number of the moment it last became ready; keeps the order of
    /// otherwise equal services stable (the one connected first stays first).
    pub ready_since: Option<u64>,
    /// netpilot configures the link (config `managed_interfaces`).
    pub managed: bool,
    /// Stored configuration; `None` for unmanaged services.
    pub config: Option<ServiceConfig>,
    /// Nameservers in use, most preferred first.
    pub nameservers: Vec<IpAddr>,
    /// Timeservers in use.
    pub timeservers: Vec<String>,
    /// Search domains in use.
    pub domains: Vec<String>,
    /// Proxy in use while connected (ConnMan's "Proxy"): the configured one, else an auto
    /// configuration with DHCP's PAC URL (option 252), else direct; `None` while not
    /// connected.
    pub proxy: Option<ProxyConfig>,
    /// Metric of the default route netpilot installed for it.
    pub route_metric: Option<u32>,
    /// Captive portal found by the online check.
    pub captive_portal_url: Option<String>,
    /// What the network offers (Wi-Fi; `ieee8021x` for wired 802.1X); empty for open
    /// Ethernet.
    pub security: Vec<Security>,
    /// Wi-Fi details.
    pub wifi: Option<WifiInfo>,
    /// Which credentials are stored (never the values).
    pub credentials: CredentialFlags,
    /// The service costs per byte (cellular by default, or set by UpdateService).
    pub metered: bool,
}
