//! Domain types: what the engine owns and policy decides over. No I/O, no protobuf.

mod config;
mod credentials;
mod interface;
mod lease;
mod service;
mod session;
mod setup;
mod technology;
mod wifi;

pub use config::{
    validate_pac_url, EapConfig, EapMethod, EapPhase2, FieldError, Ipv4Config, Ipv6Config,
    ProxyConfig, ServiceConfig, ServiceUpdate,
};
pub use credentials::{
    validate_passphrase, validate_text, CredentialFlags, Credentials, InputField, Secret,
};
pub use interface::{AddrScope, DeviceFacts, Interface, InterfaceAddress, InterfaceKind};
pub use lease::Lease;
pub use service::{
    IpMethod, Ipv4Info, Ipv6Info, L2State, Service, ServiceError, ServiceId, ServiceState,
};
pub use session::{
    Bearer, ConnectionType, Handover, HandoverReason, SessionChange, SessionId, SessionInfo,
    SessionSettings, SessionState, SessionView, MAX_CONTEXT_IDENTIFIER,
};
pub use setup::{
    ApRole, ApState, Attempt, AttemptPhase, SetupMode, SetupReason, SetupStatus, TetheringSettings,
};
pub use technology::{Technology, TechnologyKind};
pub use wifi::{
    is_country_code, ssid_display, validate_ssid, Security, SecurityClass, WifiInfo, SSID_MAX,
};

/// Names the task the engine started for one service (a DHCP client, an online check, a
/// timer) in that task's reports. The engine counts `generation` up per service each time it
/// starts a task, so a report from a task it has since replaced or stopped is recognised as
/// stale and dropped, even when another service now uses the same netdev.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReportKey {
    /// The service the task works for.
    pub service: ServiceId,
    /// Which start of the task, counted per service.
    pub generation: u64,
}

/// Daemon-wide state, ConnMan's manager "State" (doc/manager-api.txt).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ManagerState {
    /// Offline mode is on.
    Offline,
    /// No service is ready.
    #[default]
    Idle,
    /// A service is ready, none online.
    Ready,
    /// A service passed the online check.
    Online,
}

/// L4 connectivity: is at least one interface ready, per family (Zephyr conn_mgr).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Connectivity {
    /// Ready for IPv4 or IPv6.
    pub any: bool,
    /// Ready for IPv4.
    pub ipv4: bool,
    /// Ready for IPv6.
    pub ipv6: bool,
}

/// Address family of an L4 connectivity event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Either family.
    Any,
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

/// The number of ready interfaces of one family went 0 → 1 (`connected`) or 1 → 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L4Event {
    /// Which count changed.
    pub family: Family,
    /// True for 0 → 1.
    pub connected: bool,
    /// Name of the interface whose change caused it.
    pub interface: String,
}
