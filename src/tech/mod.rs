//! Technology backends. Each turns one external system into services and reports them to
//! the engine as [`Event`]s: services appearing, changing and going, and their L2 state.
//! What happens above L2 (IP configuration, the online check, sessions) is the same for
//! every technology and belongs to the engine.

pub mod ethernet;
pub mod wifi;

use crate::model::{L2State, Security, ServiceId, TechnologyKind, WifiInfo};

/// A service as its backend sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    /// Identifier, ConnMan's form (`ethernet_<mac>_cable`, `wifi_<mac>_<ssid-hex>_managed_psk`).
    pub id: ServiceId,
    /// Its technology.
    pub technology: TechnologyKind,
    /// Human-readable name: "Wired", the SSID.
    pub name: String,
    /// ifindex of the netdev that carries the service or would carry it: the NIC for
    /// Ethernet, the radio for Wi-Fi. `None` for services whose netdev appears only when they
    /// connect (Bluetooth PAN, cellular); their L2 report names it then.
    pub netdev: Option<u32>,
    /// netpilot configures the service (IP, routes, DNS); otherwise it only observes it, and
    /// the service is immutable.
    pub managed: bool,
    /// Signal strength 0..=100; 0 where there is none.
    pub strength: u8,
    /// What the network offers; empty for open Ethernet.
    pub security: Vec<Security>,
    /// Wi-Fi details.
    pub wifi: Option<WifiInfo>,
}

/// What a backend reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A service appeared or its properties changed.
    Service(ServiceInfo),
    /// A service is gone (its netdev went away, it is out of range).
    ServiceGone(ServiceId),
    /// A service's L2 state changed.
    L2 {
        /// Which service.
        id: ServiceId,
        /// Its new L2 state.
        state: L2State,
    },
    /// A technology's devices changed.
    Technology {
        /// Which technology.
        kind: TechnologyKind,
        /// It has devices (radios) netpilot manages.
        present: bool,
        /// They can be used now (wpa_supplicant answers).
        available: bool,
    },
    /// Several events that belong together (a radio's list of networks after a scan or
    /// power-on), taken in by the engine as one input so that it never decides on half of
    /// the list.
    Batch(Vec<Event>),
    /// A scan asked for with [`wifi::Request::Scan`] has finished.
    ScanDone {
        /// Which scan.
        token: wifi::ScanToken,
        /// Why it failed, if it did.
        error: Option<String>,
    },
}
