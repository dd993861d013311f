//! The setup access point and Wi-Fi tethering as the engine shows them. Tethering follows
//! ConnMan's Technology `Tethering`, `TetheringIdentifier` and `TetheringPassphrase`
//! (doc/technology-api.txt); the setup access point with its page is netpilot's own.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::{Secret, ServiceId};

/// When the setup access point opens by itself (`[setup] mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SetupMode {
    /// When no service is ready after the grace period, and on demand.
    #[default]
    Auto,
    /// Only on demand (StartSetup, `netpilot setup start`).
    OnDemand,
    /// Whenever a radio is there, even beside a ready Ethernet or cellular link.
    Always,
    /// Never, not even on demand.
    Off,
}

impl SetupMode {
    /// The word the configuration and the API use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::OnDemand => "on-demand",
            Self::Always => "always",
            Self::Off => "off",
        }
    }
}

/// What the access point is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApRole {
    /// The setup access point: captive DNS, the setup page.
    #[default]
    Setup,
    /// Tethering: shares the uplink through NAT; DNS is forwarded.
    Tethering,
}

impl ApRole {
    /// "setup" or "tethering".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Setup => "setup",
            Self::Tethering => "tethering",
        }
    }
}

/// Whether the access point runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApState {
    /// Not running.
    #[default]
    Closed,
    /// Asked to open; not serving yet.
    Opening,
    /// Serving: phones can join, get an address and the page.
    Open,
}

impl ApState {
    /// "closed", "opening" or "open".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Opening => "opening",
            Self::Open => "open",
        }
    }
}

/// Why the setup access point is open or closed: the deciding rule of
/// [`crate::policy::setup::decide`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SetupReason {
    /// `[setup] mode = "off"`.
    Off,
    /// No managed Wi-Fi radio, or its wpa_supplicant does not answer.
    #[default]
    NoRadio,
    /// Tethering has the radio.
    Tethering,
    /// An Ethernet, cellular or Bluetooth service is ready.
    OtherReady,
    /// The Wi-Fi station link is online (or ready long enough to count).
    WifiValidated,
    /// The Wi-Fi station is joining a network and the radio cannot run an access point beside it.
    StationBusy,
    /// A Wi-Fi service is ready; the setup access point opens only when none is.
    WifiReady,
    /// StopSetup: closed until the next loss.
    Stopped,
    /// Waiting for the grace period after start-up or the last loss.
    Grace,
    /// `[setup] mode = "on-demand"` and nobody asked.
    NotRequested,
    /// A connect submitted on the page runs on the radio (no AP beside a station).
    Attempt,
    /// Closed for a while to let known networks be tried (no AP beside a station).
    Retrying,
    /// Open: StartSetup asked for it.
    Requested,
    /// Open: `[setup] mode = "always"`.
    Always,
    /// Open: nothing is ready and the grace period has passed.
    NothingReady,
    /// Open until the new Wi-Fi link validates.
    Validating,
}

impl SetupReason {
    /// The word the API and the logs use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::NoRadio => "no-radio",
            Self::Tethering => "tethering",
            Self::OtherReady => "other-ready",
            Self::WifiValidated => "wifi-validated",
            Self::StationBusy => "station-busy",
            Self::WifiReady => "wifi-ready",
            Self::Stopped => "stopped",
            Self::Grace => "grace",
            Self::NotRequested => "not-requested",
            Self::Attempt => "attempt",
            Self::Retrying => "retrying",
            Self::Requested => "requested",
            Self::Always => "always",
            Self::NothingReady => "nothing-ready",
            Self::Validating => "validating",
        }
    }
}

/// How far a connect submitted on the setup page has come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptPhase {
    /// Joining, authenticating, getting an address.
    Connecting,
    /// Ready (an address); the online check runs.
    Ready,
    /// The online check passed: done.
    Online,
    /// It failed: ConnMan's error word (`invalid-key`, `auth-failed`, …) and what happened.
    Failed {
        /// The error word.
        reason: String,
        /// In words.
        message: String,
    },
}

/// The last connect submitted on the setup page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// The service.
    pub service: ServiceId,
    /// Its name (the SSID), for the page.
    pub name: String,
    /// Where it stands.
    pub phase: AttemptPhase,
}

/// The setup access point (or the tethering access point, which uses the same radio), as
/// GetSetup and WatchManager show it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SetupStatus {
    /// Whether the access point runs.
    pub state: ApState,
    /// What it runs for.
    pub role: ApRole,
    /// Why the setup access point is open or closed.
    pub reason: SetupReason,
    /// `[setup] mode`.
    pub mode: SetupMode,
    /// Its SSID, when open or opening.
    pub ssid: Option<String>,
    /// The netdev it runs on (its own virtual interface, or the radio's).
    pub interface: Option<String>,
    /// Its address and prefix length.
    pub address: Option<(Ipv4Addr, u8)>,
    /// Its channel, in MHz.
    pub frequency: Option<u32>,
    /// The page, e.g. `http://192.168.42.1/`.
    pub portal_url: Option<String>,
    /// MACs of the stations joined now.
    pub clients: Vec<String>,
    /// The radio runs an access point beside its station (nl80211 interface combinations);
    /// `None` until probed.
    pub concurrent: Option<bool>,
    /// Why it last failed to open or stopped by itself.
    pub error: Option<String>,
    /// The last connect submitted on the page.
    pub attempt: Option<Attempt>,
}

/// Tethering settings, kept across restarts (mode 0600: the passphrase is in it).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TetheringSettings {
    /// Tethering on.
    pub enabled: bool,
    /// The network name (SSID); `None`: the host name.
    pub identifier: Option<String>,
    /// WPA2 passphrase; write-only in the API.
    pub passphrase: Option<Secret>,
}
