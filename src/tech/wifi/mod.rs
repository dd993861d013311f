//! Wi-Fi (and wired IEEE 802.1X) through wpa_supplicant's control interface.
//!
//! [`ctrl`] is the control-interface transport (sockets, supervision); [`supplicant`] the
//! typed protocol on top: commands, network settings, events and the parsers of its replies.
//! The engine drives the backend with [`Request`]s through a [`WifiHandle`]; the backend
//! reports services (one per SSID and security class seen by a radio), their L2 state, the
//! technology's availability and finished scans as [`super::Event`]s.

mod backend;
pub mod ctrl;
pub mod networks;
mod process;
pub mod settings;
pub mod supplicant;

pub use backend::{spawn, WifiConfig};

use tokio::sync::mpsc;

use crate::model::{Credentials, EapConfig, Security, SecurityClass, ServiceId};

/// Requests the backend's queue may hold; beyond that, senders wait on a task.
const QUEUE: usize = 32;

/// A radio netpilot manages: a wireless netdev listed in `managed_interfaces`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Radio {
    /// ifindex of its netdev.
    pub ifindex: u32,
    /// Kernel name, e.g. `wlan0` (also its wpa_supplicant control socket's name).
    pub name: String,
    /// Its MAC, part of its services' ids.
    pub mac: [u8; 6],
}

/// An Ethernet link that authenticates with IEEE 802.1X before IP (`[ieee8021x]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WiredPort {
    /// ifindex of its netdev.
    pub ifindex: u32,
    /// Kernel name.
    pub name: String,
    /// Its Ethernet service.
    pub service: ServiceId,
}

/// Everything the backend needs to connect one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRequest {
    /// The service.
    pub id: ServiceId,
    /// The radio or wired port to use (the service's netdev).
    pub netdev: Option<u32>,
    /// The SSID (Wi-Fi); empty for a wired port.
    pub ssid: Vec<u8>,
    /// Its security class.
    pub class: SecurityClass,
    /// What it offers (decides PSK, SAE or both, and PMF).
    pub security: Vec<Security>,
    /// The network hides its SSID: probe for it by name.
    pub hidden: bool,
    /// Secrets for it.
    pub credentials: Credentials,
    /// 802.1X settings.
    pub eap: Option<EapConfig>,
}

/// Identifies a ScanTechnology call until the backend reports it done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScanToken(pub u64);

/// What the engine asks of the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// The radios and wired 802.1X ports to drive now (replaces the previous lists).
    Devices {
        /// Managed wireless netdevs.
        radios: Vec<Radio>,
        /// Managed Ethernet links listed in `[ieee8021x] interfaces`.
        ports: Vec<WiredPort>,
    },
    /// Connect a service; L2 reports follow.
    Connect(Box<ConnectRequest>),
    /// Disconnect a service (and stop wpa_supplicant from joining it by itself).
    Disconnect(ServiceId),
    /// Forget a service: remove its network from wpa_supplicant.
    Forget(ServiceId),
    /// Scan every radio now; report [`super::Event::ScanDone`] when the results are in.
    Scan(ScanToken),
    /// Turn the radios on or off (Technology "Powered").
    SetPowered(bool),
    /// Set the regulatory country (ISO 3166-1 alpha-2).
    SetCountry(String),
}

/// The engine's end of the backend. Sending never waits.
#[derive(Debug, Clone)]
pub struct WifiHandle {
    tx: mpsc::Sender<Request>,
}

impl WifiHandle {
    /// A handle and the queue the backend reads.
    pub fn channel() -> (Self, mpsc::Receiver<Request>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (Self { tx }, rx)
    }

    /// Queues a request without waiting; when the queue is full a task sends it later, in
    /// order with other late requests only, which is why the queue is generous.
    pub fn send(&self, request: Request) {
        match self.tx.try_send(request) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(request)) => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let _ = tx.send(request).await;
                });
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!("the Wi-Fi backend has stopped; request dropped");
            }
        }
    }
}
