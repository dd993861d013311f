//! The engine: the single owner of all state (DESIGN §2).
//!
//! One task receives backend events and API commands, asks [`crate::policy`] what the world
//! should look like, and publishes the result: a [`Snapshot`] in a `watch` channel (readers
//! never wait for the engine) and numbered [`Event`] batches on a `broadcast` channel. A
//! watcher subscribes to the events first, then reads the snapshot, and skips batches the
//! snapshot already contains, so nothing is lost or seen twice.

mod agent;
mod commands;
mod connect;
mod connection;
mod diff;
mod handle;
mod input;
mod manager;
mod plan;
mod services;
mod sessions;
mod setup;
mod steering;
mod technologies;
mod view;

use std::sync::Arc;

pub use crate::access::Caller;
pub use agent::{AgentId, InputAnswer, InputRequest, ToAgent};
pub use handle::{EngineHandle, Subscription};
pub use input::{Busy, DetachedReceiver, EngineStopped, EventSender, Permit};
pub use manager::{spawn, Engine};

use crate::model::{
    Connectivity, Interface, L4Event, ManagerState, Service, ServiceId, ServiceState, SessionId,
    Technology, TechnologyKind,
};
use crate::policy::readiness::Readiness;

/// The manager's own properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ManagerInfo {
    /// Overall state.
    pub state: ManagerState,
    /// Offline mode.
    pub offline_mode: bool,
    /// L4 connectivity.
    pub connectivity: Connectivity,
}

/// An interface with what policy derived for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceView {
    /// The netdev.
    pub interface: Interface,
    /// Readiness per family.
    pub readiness: Readiness,
    /// The service it carries.
    pub service_id: Option<ServiceId>,
}

/// Everything at once, as of event batch `seq`.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Number of the last event batch this snapshot includes.
    pub seq: u64,
    /// Manager properties.
    pub manager: ManagerInfo,
    /// Technologies.
    pub technologies: Vec<Technology>,
    /// Services in service order.
    pub services: Vec<Service>,
    /// Interfaces by index.
    pub interfaces: Vec<InterfaceView>,
    /// The setup (or tethering) access point.
    pub setup: crate::model::SetupStatus,
}

impl Snapshot {
    /// A service by id.
    pub fn service(&self, id: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.id.0 == id)
    }

    /// An interface by name.
    pub fn interface(&self, name: &str) -> Option<&InterfaceView> {
        self.interfaces.iter().find(|i| i.interface.name == name)
    }

    /// A technology by kind.
    pub fn technology(&self, kind: TechnologyKind) -> Option<&Technology> {
        self.technologies.iter().find(|t| t.kind == kind)
    }
}

/// One change, as WatchManager reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Manager properties changed.
    ManagerChanged(ManagerInfo),
    /// A technology appeared.
    TechnologyAdded(Technology),
    /// A technology went away.
    TechnologyRemoved(TechnologyKind),
    /// A technology changed.
    TechnologyChanged(Technology),
    /// Service list changed (ConnMan ServicesChanged).
    ServicesChanged {
        /// All ids in the new order.
        order: Vec<ServiceId>,
        /// New or changed services.
        changed: Vec<Service>,
        /// Removed ids.
        removed: Vec<ServiceId>,
    },
    /// A service changed state.
    ServiceStateChanged {
        /// Which.
        id: ServiceId,
        /// New state.
        state: ServiceState,
        /// Old state.
        previous: ServiceState,
        /// Error word, for failure.
        error: Option<crate::model::ServiceError>,
    },
    /// An interface appeared or changed.
    InterfaceChanged(InterfaceView),
    /// An interface went away.
    InterfaceRemoved {
        /// Its name.
        name: String,
        /// Its index.
        index: u32,
    },
    /// L4 connectivity changed.
    Connectivity(L4Event),
    /// A connect gave up after `timeout`.
    ConnectTimedOut {
        /// Which service.
        id: ServiceId,
        /// The timeout that ran out.
        timeout: std::time::Duration,
    },
    /// A connected service was disconnected after `idle` without traffic.
    IdleTimedOut {
        /// Which service.
        id: ServiceId,
        /// Its idle timeout.
        idle: std::time::Duration,
    },
    /// A connect needs input nobody can give: no credentials in the request, none stored,
    /// and no agent.
    InputRequired {
        /// Which service.
        id: ServiceId,
        /// What is missing.
        fields: Vec<crate::model::InputField>,
    },
    /// The setup (or tethering) access point changed: opened, closed, a connect from the
    /// page progressed.
    SetupChanged(crate::model::SetupStatus),
    /// A station joined the access point.
    SetupClientJoined {
        /// Its MAC.
        mac: String,
    },
    /// Credentials were submitted on the setup page.
    SetupCredentialsSubmitted {
        /// For which service.
        id: ServiceId,
    },
    /// The online check found a captive portal.
    CaptivePortal {
        /// Which service.
        id: ServiceId,
        /// The portal URL.
        url: String,
    },
}

/// The events of one engine step, numbered.
#[derive(Debug)]
pub struct EventBatch {
    /// Increases by one per batch.
    pub seq: u64,
    /// The events, in order.
    pub events: Vec<Event>,
}

/// Why the engine refused a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// No such object.
    #[error("{kind} {id:?} not found")]
    NotFound {
        /// "service", "interface", "session", "technology".
        kind: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The input is wrong; `field` names it.
    #[error("{field}: {message}")]
    InvalidArgument {
        /// Field path, e.g. "settings.allowed_bearers[1]".
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The caller may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// A per-caller limit is reached (sessions per identity).
    #[error("{0}")]
    ResourceExhausted(String),
    /// Only one at a time (ConnMan "AlreadyExists").
    #[error("{0}")]
    AlreadyExists(String),
    /// The call does not fit the object's state; `reason` is ConnMan's error word
    /// (NotSupported, InProgress, …).
    #[error("{message}")]
    FailedPrecondition {
        /// ConnMan error word.
        reason: &'static str,
        /// What is wrong and what to do.
        message: String,
    },
    /// A connect failed (DHCP gave no usable lease, …).
    #[error("connect {id}: {reason}: {message}")]
    ConnectFailed {
        /// Which service.
        id: String,
        /// ConnMan error word, e.g. dhcp-failed.
        reason: &'static str,
        /// Details.
        message: String,
    },
    /// A connect did not finish in time.
    #[error("connect {id}: not ready after {after:?} (connect-failed)")]
    Timeout {
        /// Which service.
        id: String,
        /// The timeout.
        after: std::time::Duration,
    },
    /// Another call ended this one (e.g. a Disconnect during a Connect).
    #[error("{0}")]
    Aborted(String),
    /// The user declined: the agent canceled its input request.
    #[error("{0}")]
    Canceled(String),
    /// Persisting the configuration failed; the change is in effect until the daemon
    /// restarts.
    #[error("{0}")]
    Store(String),
    /// The engine has stopped (daemon shutting down).
    #[error("the daemon is shutting down")]
    Stopped,
}

impl EngineError {
    /// The error for changing a service netpilot only observes.
    pub fn immutable(id: &str) -> Self {
        EngineError::FailedPrecondition {
            reason: "NotSupported",
            message: format!(
                "service {id} is immutable: netpilot observes its link but does not manage it; \
                 add the interface to managed_interfaces"
            ),
        }
    }
}

/// A session's id as the API spells it.
pub fn parse_session_id(field: &str, text: &str) -> Result<SessionId, EngineError> {
    if text.len() > 20 {
        return Err(EngineError::InvalidArgument {
            field: field.to_string(),
            message: format!("{} bytes is too long for a session id", text.len()),
        });
    }
    text.parse()
        .map(SessionId)
        .map_err(|_| EngineError::InvalidArgument {
            field: field.to_string(),
            message: format!("{text:?} is not a session id (a decimal number from OpenSession)"),
        })
}

/// Shared pointer to the published snapshot.
pub type SharedSnapshot = Arc<Snapshot>;
