//! The session registry: settings, owners, and the view each session's stream follows.

use std::collections::BTreeMap;

use tokio::sync::watch;

use super::{Caller, EngineError};
use crate::model::{
    Bearer, ConnectionType, Service, SessionId, SessionInfo, SessionSettings, SessionView,
};
use crate::policy::session::session_view;

struct Entry {
    owner: Caller,
    settings: SessionSettings,
    view: watch::Sender<SessionView>,
}

/// Open sessions by id.
#[derive(Default)]
pub(super) struct Sessions {
    next_id: u64,
    open: BTreeMap<SessionId, Entry>,
}

impl Sessions {
    pub fn open(
        &mut self,
        owner: Caller,
        settings: SessionSettings,
        services: &[Service],
    ) -> (SessionId, watch::Receiver<SessionView>) {
        self.next_id += 1;
        let id = SessionId(self.next_id);
        let (view, rx) = watch::channel(session_view(&settings, services));
        tracing::info!(session = %id, %owner, bearers = ?settings.allowed_bearers, connection_type = settings.connection_type.as_str(), "session opened");
        self.open.insert(
            id,
            Entry {
                owner,
                settings,
                view,
            },
        );
        (id, rx)
    }

    fn authorized(&mut self, id: SessionId, caller: &Caller) -> Result<&mut Entry, EngineError> {
        let entry = self.open.get_mut(&id).ok_or(EngineError::NotFound {
            kind: "session",
            id: id.to_string(),
        })?;
        if !caller.may_act_for(&entry.owner) {
            return Err(EngineError::PermissionDenied(format!(
                "session {id} belongs to {}; only its owner or an administrator may change it",
                entry.owner
            )));
        }
        Ok(entry)
    }

    pub fn check(&mut self, id: SessionId, caller: &Caller) -> Result<(), EngineError> {
        self.authorized(id, caller).map(|_| ())
    }

    pub fn change(
        &mut self,
        id: SessionId,
        caller: &Caller,
        allowed_bearers: Option<Vec<Bearer>>,
        connection_type: Option<ConnectionType>,
    ) -> Result<(), EngineError> {
        let entry = self.authorized(id, caller)?;
        if let Some(b) = allowed_bearers {
            entry.settings.allowed_bearers = b;
        }
        if let Some(c) = connection_type {
            entry.settings.connection_type = c;
        }
        Ok(())
    }

    pub fn destroy(&mut self, id: SessionId, caller: &Caller) -> Result<(), EngineError> {
        self.authorized(id, caller)?;
        if let Some(entry) = self.open.remove(&id) {
            release(id, &entry, "destroyed");
        }
        Ok(())
    }

    pub fn close(&mut self, id: SessionId) {
        if self.open.remove(&id).is_some() {
            tracing::info!(session = %id, "session closed by its client");
        }
    }

    pub fn release_all(&mut self, reason: &'static str) {
        for (id, entry) in std::mem::take(&mut self.open) {
            release(id, &entry, reason);
        }
    }

    pub fn list(&self) -> Vec<SessionInfo> {
        self.open
            .iter()
            .map(|(id, e)| {
                let view = e.view.borrow();
                SessionInfo {
                    id: *id,
                    owner: e.owner.to_string(),
                    settings: e.settings.clone(),
                    state: view.state,
                    service_id: view.service_id.clone(),
                }
            })
            .collect()
    }

    /// Recomputes every session's view; streams wake only where something changed.
    pub fn update(&mut self, services: &[Service]) {
        for entry in self.open.values() {
            let view = session_view(&entry.settings, services);
            entry.view.send_if_modified(|current| {
                let changed = *current != view;
                if changed {
                    *current = view;
                }
                changed
            });
        }
    }
}

fn release(id: SessionId, entry: &Entry, reason: &'static str) {
    tracing::info!(session = %id, reason, "session released");
    entry.view.send_modify(|v| v.released = Some(reason));
}
