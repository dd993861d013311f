//! The engine's commands and the cloneable handle the API uses to send them.

use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, oneshot, watch};

use super::agent::{AgentId, InputAnswer, ToAgent};
use super::input::Input;
use super::{Caller, EngineError, EventBatch, InterfaceView, ManagerInfo, Snapshot};
use crate::model::{
    Credentials, Service, ServiceId, SessionChange, SessionId, SessionInfo, SessionSettings,
    SessionView, Technology, TechnologyKind,
};

type Reply<T> = oneshot::Sender<Result<T, EngineError>>;

/// What the API asks of the engine. Each carries its reply channel.
#[derive(Debug)]
pub(crate) enum Command {
    /// Turn offline mode on or off.
    SetOfflineMode(bool, Reply<ManagerInfo>),
    /// Move a service before or after another in the user order.
    MoveService {
        id: String,
        anchor: String,
        after: bool,
        reply: Reply<Vec<Service>>,
    },
    /// Connect a service; answered when it is ready or has failed.
    Connect {
        id: String,
        timeout: Option<std::time::Duration>,
        /// Credentials the caller gave (validated), used instead of stored ones.
        credentials: Credentials,
        /// A hidden network's SSID.
        name: Option<Vec<u8>>,
        reply: Reply<Service>,
    },
    /// Disconnect a service and keep it disconnected.
    Disconnect { id: String, reply: Reply<()> },
    /// Forget a service's configuration and favorite.
    Remove { id: String, reply: Reply<()> },
    /// Merge a change into a service's configuration; answered once it is stored.
    UpdateService {
        id: String,
        update: Box<crate::model::ServiceUpdate>,
        reply: Reply<Service>,
    },
    /// Re-run the online check now.
    ReportConnectivity { id: String, reply: Reply<()> },
    /// Ignore an interface or stop ignoring it.
    SetInterfaceIgnored {
        name: String,
        ignored: bool,
        reply: Reply<InterfaceView>,
    },
    /// Open a session; the receiver carries its views.
    OpenSession {
        owner: Caller,
        settings: SessionSettings,
        reply: Reply<(SessionId, watch::Receiver<SessionView>)>,
    },
    /// Change a session's settings; `None` keeps a setting.
    ChangeSession {
        id: SessionId,
        caller: Caller,
        change: SessionChange,
        reply: Reply<()>,
    },
    /// A session asks for a service to be connected for it.
    ConnectSession {
        id: SessionId,
        caller: Caller,
        reply: Reply<()>,
    },
    /// A session withdraws its connect request.
    DisconnectSession {
        id: SessionId,
        caller: Caller,
        reply: Reply<()>,
    },
    /// Check that a session exists and the caller may act on it.
    CheckSession {
        id: SessionId,
        caller: Caller,
        reply: Reply<()>,
    },
    /// End a session with a release ("destroyed").
    DestroySession {
        id: SessionId,
        caller: Caller,
        reply: Reply<()>,
    },
    /// The session's stream went away: forget it, no release.
    CloseSession(SessionId),
    /// List the sessions the caller may see.
    ListSessions {
        caller: Caller,
        reply: Reply<Vec<SessionInfo>>,
    },
    /// Put new session policies in force; sessions no longer allowed are released.
    SetSessionPolicies(crate::access::policy::PolicySet, Reply<()>),
    /// Register the caller as the agent; the receiver carries what the engine tells it.
    RegisterAgent {
        name: String,
        caller: Caller,
        reply: Reply<(AgentId, mpsc::Receiver<ToAgent>)>,
    },
    /// The agent's stream went away.
    UnregisterAgent(AgentId),
    /// The agent answered an input request.
    AgentAnswer {
        agent: AgentId,
        request_id: u64,
        answer: InputAnswer,
    },
    /// Scan a technology; answered when the results are in.
    Scan {
        kind: TechnologyKind,
        reply: Reply<()>,
    },
    /// Change a technology's settings; `None` keeps a setting.
    UpdateTechnology {
        kind: TechnologyKind,
        powered: Option<bool>,
        country: Option<String>,
        ignored: Option<bool>,
        reply: Reply<Technology>,
    },
    /// Connect every managed service (of one technology); answered at once with their ids.
    ConnectAll {
        kind: Option<TechnologyKind>,
        reply: Reply<Vec<ServiceId>>,
    },
    /// Disconnect every managed service (of one technology).
    DisconnectAll {
        kind: Option<TechnologyKind>,
        reply: Reply<Vec<ServiceId>>,
    },
    /// Take in a reloaded configuration (SIGHUP); its run-time keys are applied.
    Reload {
        config: Box<crate::config::Config>,
        reply: Reply<()>,
    },
    /// The setup access point and tethering.
    Setup(super::setup::SetupCommand),
    /// Release every session and stop.
    Shutdown(oneshot::Sender<()>),
}

impl Command {
    /// Whether the command only touches sessions (their settings, streams and list), so
    /// the engine need not settle connections or publish after it. A session's connect and
    /// disconnect change which services are wanted, so they are not.
    pub(super) fn sessions_only(&self) -> bool {
        matches!(
            self,
            Command::OpenSession { .. }
                | Command::ChangeSession { .. }
                | Command::CheckSession { .. }
                | Command::DestroySession { .. }
                | Command::CloseSession(_)
                | Command::ListSessions { .. }
        )
    }
}

/// A subscription to the engine's state: a snapshot plus the event batches after it.
pub struct Subscription {
    /// The snapshot.
    pub snapshot: Arc<Snapshot>,
    /// Batches; skip those with `seq <= snapshot.seq`.
    pub events: broadcast::Receiver<Arc<EventBatch>>,
}

/// Cheap to clone; every method fails with [`EngineError::Stopped`] once the engine ended.
#[derive(Clone)]
pub struct EngineHandle {
    pub(super) commands: mpsc::Sender<Input>,
    pub(super) snapshot: watch::Receiver<Arc<Snapshot>>,
    pub(super) events: broadcast::Sender<Arc<EventBatch>>,
    pub(super) stopping: watch::Receiver<bool>,
    pub(super) kernel_known: watch::Receiver<bool>,
}

impl EngineHandle {
    pub(super) async fn call<T>(
        &self,
        make: impl FnOnce(Reply<T>) -> Command,
    ) -> Result<T, EngineError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Input::Command(make(tx)))
            .await
            .map_err(|_| EngineError::Stopped)?;
        rx.await.map_err(|_| EngineError::Stopped)?
    }

    /// The current snapshot (never waits for the engine).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }

    /// Events after a snapshot. Subscribes before reading the snapshot, so no batch between
    /// the two is lost.
    pub fn subscribe(&self) -> Subscription {
        let events = self.events.subscribe();
        Subscription {
            snapshot: self.snapshot(),
            events,
        }
    }

    /// Resolves once the engine has published a snapshot built from a full kernel dump, so
    /// that the API never shows an empty world; [`EngineError::Stopped`] if it ended first.
    pub async fn kernel_known(&self) -> Result<(), EngineError> {
        let mut rx = self.kernel_known.clone();
        rx.wait_for(|known| *known)
            .await
            .map(|_| ())
            .map_err(|_| EngineError::Stopped)
    }

    /// Applies a reloaded configuration (SIGHUP): the keys that may change at run time
    /// ([`crate::config::RELOADABLE`]) take effect; the caller keeps the others as they were.
    pub async fn reload(&self, config: crate::config::Config) -> Result<(), EngineError> {
        self.call(|reply| Command::Reload {
            config: Box::new(config),
            reply,
        })
        .await
    }

    /// Resolves once the daemon starts shutting down.
    pub async fn stopping(&self) {
        let mut rx = self.stopping.clone();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// Turns offline mode on or off.
    pub async fn set_offline_mode(&self, on: bool) -> Result<ManagerInfo, EngineError> {
        self.call(|reply| Command::SetOfflineMode(on, reply)).await
    }

    /// Moves service `id` before (or after) `anchor`; returns the new service order.
    pub async fn move_service(
        &self,
        id: String,
        anchor: String,
        after: bool,
    ) -> Result<Vec<Service>, EngineError> {
        self.call(|reply| Command::MoveService {
            id,
            anchor,
            after,
            reply,
        })
        .await
    }

    /// Connects a service (ConnMan Service.Connect) with optional credentials and a hidden
    /// network's name; resolves when it is ready, or with [`EngineError::Timeout`],
    /// [`EngineError::ConnectFailed`] (`invalid-key`, `auth-failed`, …),
    /// [`EngineError::FailedPrecondition`] (`passphrase-required` when no agent can be asked)
    /// or [`EngineError::Canceled`] (the agent declined).
    pub async fn connect(
        &self,
        id: String,
        timeout: Option<std::time::Duration>,
        credentials: Credentials,
        name: Option<Vec<u8>>,
    ) -> Result<Service, EngineError> {
        self.call(|reply| Command::Connect {
            id,
            timeout,
            credentials,
            name,
            reply,
        })
        .await
    }

    /// Scans a technology (ConnMan Technology.Scan); resolves when the results are in and
    /// published.
    pub async fn scan(&self, kind: TechnologyKind) -> Result<(), EngineError> {
        self.call(|reply| Command::Scan { kind, reply }).await
    }

    /// Changes a technology's power, regulatory country, or whether it is ignored.
    pub async fn update_technology(
        &self,
        kind: TechnologyKind,
        powered: Option<bool>,
        country: Option<String>,
        ignored: Option<bool>,
    ) -> Result<Technology, EngineError> {
        self.call(|reply| Command::UpdateTechnology {
            kind,
            powered,
            country,
            ignored,
            reply,
        })
        .await
    }

    /// Connects every managed service, or those of one technology (Zephyr
    /// conn_mgr_all_if_connect); returns the services asked, without waiting for them.
    pub async fn connect_all(
        &self,
        kind: Option<TechnologyKind>,
    ) -> Result<Vec<ServiceId>, EngineError> {
        self.call(|reply| Command::ConnectAll { kind, reply }).await
    }

    /// Disconnects every managed service, or those of one technology.
    pub async fn disconnect_all(
        &self,
        kind: Option<TechnologyKind>,
    ) -> Result<Vec<ServiceId>, EngineError> {
        self.call(|reply| Command::DisconnectAll { kind, reply })
            .await
    }

    /// Disconnects a service; it stays disconnected until the next connect.
    pub async fn disconnect(&self, id: String) -> Result<(), EngineError> {
        self.call(|reply| Command::Disconnect { id, reply }).await
    }

    /// Forgets a service: disconnects it and drops its stored configuration and favorite.
    pub async fn remove(&self, id: String) -> Result<(), EngineError> {
        self.call(|reply| Command::Remove { id, reply }).await
    }

    /// Merges `update` into a service's configuration, applies it and stores it; resolves
    /// once it is on disk. Fails with [`EngineError::InvalidArgument`] naming the field
    /// when the merged configuration is invalid, and with [`EngineError::Store`] when it
    /// could not be written (it is in effect until the daemon restarts).
    pub async fn update_service(
        &self,
        id: String,
        update: crate::model::ServiceUpdate,
    ) -> Result<Service, EngineError> {
        self.call(|reply| Command::UpdateService {
            id,
            update: Box::new(update),
            reply,
        })
        .await
    }

    /// Re-runs a service's online check now.
    pub async fn report_connectivity(&self, id: String) -> Result<(), EngineError> {
        self.call(|reply| Command::ReportConnectivity { id, reply })
            .await
    }

    /// Ignores an interface or stops ignoring it.
    pub async fn set_interface_ignored(
        &self,
        name: String,
        ignored: bool,
    ) -> Result<InterfaceView, EngineError> {
        self.call(|reply| Command::SetInterfaceIgnored {
            name,
            ignored,
            reply,
        })
        .await
    }

    /// Opens a session; the receiver carries its views until one says `released`. Fails
    /// with [`EngineError::ResourceExhausted`] past the owner's session limit and
    /// [`EngineError::PermissionDenied`] when its session policy forbids the settings.
    pub async fn open_session(
        &self,
        owner: Caller,
        settings: SessionSettings,
    ) -> Result<(SessionId, watch::Receiver<SessionView>), EngineError> {
        self.call(|reply| Command::OpenSession {
            owner,
            settings,
            reply,
        })
        .await
    }

    /// Changes a session's settings.
    pub async fn change_session(
        &self,
        id: SessionId,
        caller: Caller,
        change: SessionChange,
    ) -> Result<(), EngineError> {
        self.call(|reply| Command::ChangeSession {
            id,
            caller,
            change,
            reply,
        })
        .await
    }

    /// ConnectSession (ConnMan Session.Connect): the session claims the best allowed service
    /// that can connect, and the daemon keeps one connected for it until
    /// [`EngineHandle::disconnect_session`]. Answers at once; progress goes to the session's
    /// stream. [`EngineError::FailedPrecondition`] with reason `no-service` when no allowed
    /// service can connect.
    pub async fn connect_session(&self, id: SessionId, caller: Caller) -> Result<(), EngineError> {
        self.call(|reply| Command::ConnectSession { id, caller, reply })
            .await
    }

    /// DisconnectSession (ConnMan Session.Disconnect): the session's claim goes; a service
    /// brought up only for sessions goes down once none claims it and autoconnect does not
    /// keep it. Answers at once.
    pub async fn disconnect_session(
        &self,
        id: SessionId,
        caller: Caller,
    ) -> Result<(), EngineError> {
        self.call(|reply| Command::DisconnectSession { id, caller, reply })
            .await
    }

    /// Checks that a session exists and `caller` may act on it.
    pub async fn check_session(&self, id: SessionId, caller: Caller) -> Result<(), EngineError> {
        self.call(|reply| Command::CheckSession { id, caller, reply })
            .await
    }

    /// Ends a session: its stream gets a release.
    pub async fn destroy_session(&self, id: SessionId, caller: Caller) -> Result<(), EngineError> {
        self.call(|reply| Command::DestroySession { id, caller, reply })
            .await
    }

    /// Sends a command that has no reply without waiting: when the queue is full, a task
    /// sends it later.
    fn send_later(&self, command: Command) {
        if let Err(mpsc::error::TrySendError::Full(input)) =
            self.commands.try_send(Input::Command(command))
        {
            let commands = self.commands.clone();
            tokio::spawn(async move {
                let _ = commands.send(input).await;
            });
        }
    }

    /// Forgets a session whose stream went away. Never waits.
    pub fn close_session(&self, id: SessionId) {
        self.send_later(Command::CloseSession(id));
    }

    /// Registers the caller as the agent (ConnMan Manager.RegisterAgent). The receiver
    /// carries what the engine tells the agent; ALREADY_EXISTS while another is registered.
    pub async fn register_agent(
        &self,
        name: String,
        caller: Caller,
    ) -> Result<(AgentId, mpsc::Receiver<ToAgent>), EngineError> {
        self.call(|reply| Command::RegisterAgent {
            name,
            caller,
            reply,
        })
        .await
    }

    /// The agent's stream ended. Never waits.
    pub fn unregister_agent(&self, id: AgentId) {
        self.send_later(Command::UnregisterAgent(id));
    }

    /// The agent answered an input request. Never waits.
    pub fn agent_answer(&self, agent: AgentId, request_id: u64, answer: InputAnswer) {
        self.send_later(Command::AgentAnswer {
            agent,
            request_id,
            answer,
        });
    }

    /// Lists the sessions `caller` may see (an administrator all, others their own), oldest
    /// first.
    pub async fn list_sessions(&self, caller: Caller) -> Result<Vec<SessionInfo>, EngineError> {
        self.call(|reply| Command::ListSessions { caller, reply })
            .await
    }

    /// Puts new session policies in force (`[access] session_policies`); sessions they no
    /// longer allow are released with reason "policy".
    pub async fn set_session_policies(
        &self,
        policies: crate::access::policy::PolicySet,
    ) -> Result<(), EngineError> {
        self.call(|reply| Command::SetSessionPolicies(policies, reply))
            .await
    }

    /// Releases every session (their streams get `release` "shutdown") and stops the engine.
    /// Returns once the releases are handed to the session streams.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self
            .commands
            .send(Input::Command(Command::Shutdown(tx)))
            .await
            .is_ok()
        {
            let _ = rx.await;
        }
    }
}
