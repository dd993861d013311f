//! The session registry: settings, owners, session policies, and the view each session's
//! stream follows.
//!
//! Only a session's owner (the same identity) or an administrator may change, connect,
//! disconnect or destroy it, and a non-administrator lists only its own. Each identity holds
//! at most `max_sessions` (its policy's, else the daemon's default). A session keeps what
//! its owner asked for; what is in effect is that, through the owner's policy. When the
//! policies change every session is evaluated again, and those no longer allowed are
//! released with reason "policy".

use std::collections::BTreeMap;

use tokio::sync::watch;

use super::{Caller, EngineError};
use crate::access::policy::{Effective, PolicySet};
use crate::access::Identity;
use crate::model::{
    Bearer, ConnectionType, Service, SessionId, SessionInfo, SessionSettings, SessionView,
};
use crate::policy::session::session_view_on;

/// Sessions one identity may hold when no policy says otherwise.
pub(super) const DEFAULT_MAX_SESSIONS: u32 = 64;

struct Entry {
    owner: Caller,
    /// What the owner asked for.
    requested: SessionSettings,
    /// What is in effect (the request through the owner's policy).
    effective: Effective,
    view: watch::Sender<SessionView>,
}

/// Open sessions by id.
pub(super) struct Sessions {
    next_id: u64,
    open: BTreeMap<SessionId, Entry>,
    policies: PolicySet,
    max_per_identity: u32,
}

impl Default for Sessions {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_SESSIONS)
    }
}

impl Sessions {
    /// A registry allowing `max_per_identity` sessions per identity without a policy.
    pub fn new(max_per_identity: u32) -> Self {
        Self {
            next_id: 0,
            open: BTreeMap::new(),
            policies: PolicySet::default(),
            max_per_identity,
        }
    }

    /// What `owner` gets when asking for `requested`, under its policy.
    fn effective(
        &self,
        owner: &Identity,
        requested: &SessionSettings,
    ) -> Result<Effective, String> {
        match self.policies.for_identity(owner) {
            Some(p) => p.apply(requested),
            None => Ok(Effective {
                settings: requested.clone(),
                interface: None,
            }),
        }
    }

    fn limit(&self, owner: &Identity) -> u32 {
        self.policies
            .for_identity(owner)
            .and_then(|p| p.max_sessions)
            .unwrap_or(self.max_per_identity)
    }

    fn held_by(&self, owner: &Identity) -> usize {
        self.open
            .values()
            .filter(|e| e.owner.identity.same_owner(owner))
            .count()
    }

    pub fn open(
        &mut self,
        owner: Caller,
        requested: SessionSettings,
        services: &[Service],
    ) -> Result<(SessionId, watch::Receiver<SessionView>), EngineError> {
        let limit = self.limit(&owner.identity);
        if self.held_by(&owner.identity) >= limit as usize {
            return Err(EngineError::ResourceExhausted(format!(
                "{} holds {limit} sessions, the most it may; destroy one first",
                owner.identity
            )));
        }
        let effective = self
            .effective(&owner.identity, &requested)
            .map_err(EngineError::PermissionDenied)?;
        self.next_id += 1;
        let id = SessionId(self.next_id);
        let (view, rx) = watch::channel(view_of(&effective, services));
        tracing::info!(session = %id, %owner, bearers = ?effective.settings.allowed_bearers, connection_type = effective.settings.connection_type.as_str(), interface = ?effective.interface, "session opened");
        self.open.insert(
            id,
            Entry {
                owner,
                requested,
                effective,
                view,
            },
        );
        Ok((id, rx))
    }

    fn authorized(&mut self, id: SessionId, caller: &Caller) -> Result<&mut Entry, EngineError> {
        let entry = self.open.get_mut(&id).ok_or(EngineError::NotFound {
            kind: "session",
            id: id.to_string(),
        })?;
        if !caller.may_act_for(&entry.owner.identity) {
            return Err(EngineError::PermissionDenied(format!(
                "session {id} belongs to {}; only its owner or an administrator may change it",
                entry.owner.identity
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
        let mut requested = entry.requested.clone();
        if let Some(b) = allowed_bearers {
            requested.allowed_bearers = b;
        }
        if let Some(c) = connection_type {
            requested.connection_type = c;
        }
        let owner = entry.owner.identity.clone();
        let effective = self
            .effective(&owner, &requested)
            .map_err(EngineError::PermissionDenied)?;
        if let Some(entry) = self.open.get_mut(&id) {
            entry.requested = requested;
            entry.effective = effective;
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

    /// Sessions as `caller` may see them: all for an administrator, its own otherwise.
    pub fn list(&self, caller: &Caller) -> Vec<SessionInfo> {
        self.open
            .iter()
            .filter(|(_, e)| caller.may_act_for(&e.owner.identity))
            .map(|(id, e)| {
                let view = e.view.borrow();
                SessionInfo {
                    id: *id,
                    owner: e.owner.to_string(),
                    settings: e.effective.settings.clone(),
                    state: view.state,
                    service_id: view.service_id.clone(),
                }
            })
            .collect()
    }

    /// Puts new policies in force: every session is evaluated again; those no longer
    /// allowed (bearers, connection type, or past the identity's session limit, newest
    /// first) are released with reason "policy". Call [`Sessions::update`] afterwards.
    pub fn set_policies(&mut self, policies: PolicySet) {
        self.policies = policies;
        let mut gone = Vec::new();
        let mut held: Vec<(Identity, u32)> = Vec::new();
        let ids: Vec<SessionId> = self.open.keys().copied().collect();
        for id in ids {
            let Some(entry) = self.open.get(&id) else {
                continue;
            };
            let owner = entry.owner.identity.clone();
            let outcome = self.effective(&owner, &entry.requested);
            let limit = self.limit(&owner);
            let slot = match held.iter().position(|(o, _)| o.same_owner(&owner)) {
                Some(i) => i,
                None => {
                    held.push((owner.clone(), 0));
                    held.len() - 1
                }
            };
            match outcome {
                Ok(effective) if held[slot].1 < limit => {
                    held[slot].1 += 1;
                    if let Some(entry) = self.open.get_mut(&id) {
                        if entry.effective != effective {
                            tracing::info!(session = %id, bearers = ?effective.settings.allowed_bearers, interface = ?effective.interface, "session policy changed the session's settings");
                        }
                        entry.effective = effective;
                    }
                }
                Ok(_) => gone.push((id, format!("{owner} may hold {limit} sessions"))),
                Err(why) => gone.push((id, why)),
            }
        }
        for (id, why) in gone {
            if let Some(entry) = self.open.remove(&id) {
                tracing::info!(session = %id, owner = %entry.owner, "{why}");
                release(id, &entry, "policy");
            }
        }
    }

    /// Recomputes every session's view; streams wake only where something changed.
    pub fn update(&mut self, services: &[Service]) {
        for entry in self.open.values() {
            let view = view_of(&entry.effective, services);
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

fn view_of(effective: &Effective, services: &[Service]) -> SessionView {
    session_view_on(
        &effective.settings,
        effective.interface.as_deref(),
        services,
    )
}

fn release(id: SessionId, entry: &Entry, reason: &'static str) {
    tracing::info!(session = %id, reason, "session released");
    entry.view.send_modify(|v| v.released = Some(reason));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::policy::parse;
    use crate::access::Role;
    use crate::model::TechnologyKind;

    fn caller(uid: u32, role: Role) -> Caller {
        Caller::new(
            Identity::Local {
                uid,
                gid: uid,
                groups: vec![],
            },
            Some(role),
        )
    }

    fn policies(text: &str) -> PolicySet {
        let mut set = PolicySet::default();
        set.add(parse("p.toml".into(), text, &|_, _| None).expect("policy"))
            .expect("add");
        set
    }

    #[test]
    fn ownership_listing_and_limits() {
        let mut s = Sessions::new(2);
        let alice = caller(1000, Role::User);
        let bob = caller(1001, Role::User);
        let root = caller(0, Role::Admin);
        let (a1, _ra1) = s
            .open(alice.clone(), SessionSettings::default(), &[])
            .expect("a1");
        let (_a2, _ra2) = s
            .open(alice.clone(), SessionSettings::default(), &[])
            .expect("a2");
        let e = s
            .open(alice.clone(), SessionSettings::default(), &[])
            .expect_err("third");
        assert!(matches!(e, EngineError::ResourceExhausted(_)), "{e:?}");
        let (b1, _rb1) = s
            .open(bob.clone(), SessionSettings::default(), &[])
            .expect("b1");
        assert!(matches!(
            s.destroy(a1, &bob),
            Err(EngineError::PermissionDenied(_))
        ));
        assert!(matches!(
            s.change(a1, &bob, None, Some(ConnectionType::Local)),
            Err(EngineError::PermissionDenied(_))
        ));
        assert_eq!(s.list(&alice).len(), 2);
        assert_eq!(s.list(&bob).len(), 1);
        assert_eq!(s.list(&root).len(), 3);
        s.destroy(b1, &root).expect("admin destroys anyone's");
        s.destroy(a1, &alice).expect("owner destroys its own");
        s.open(alice, SessionSettings::default(), &[])
            .expect("room again");
    }

    #[test]
    fn policy_change_releases_and_narrows() {
        let mut s = Sessions::new(10);
        let alice = caller(1000, Role::User);
        let wifi_eth = SessionSettings {
            allowed_bearers: vec![
                Bearer::Technology(TechnologyKind::Wifi),
                Bearer::Technology(TechnologyKind::Ethernet),
            ],
            connection_type: ConnectionType::Any,
        };
        let cell = SessionSettings {
            allowed_bearers: vec![Bearer::Technology(TechnologyKind::Cellular)],
            connection_type: ConnectionType::Any,
        };
        let (keep, keep_rx) = s.open(alice.clone(), wifi_eth, &[]).expect("open");
        let (_drop, drop_rx) = s.open(alice.clone(), cell.clone(), &[]).expect("open");
        s.set_policies(policies(
            "identity = [\"uid:1000\"]\nallowed_bearers = [\"ethernet\"]\n",
        ));
        s.update(&[]);
        assert_eq!(drop_rx.borrow().released, Some("policy"));
        assert_eq!(keep_rx.borrow().released, None);
        assert_eq!(
            keep_rx.borrow().settings.allowed_bearers,
            vec![Bearer::Technology(TechnologyKind::Ethernet)]
        );
        assert_eq!(s.list(&alice).len(), 1);
        assert!(matches!(
            s.open(alice.clone(), cell, &[]),
            Err(EngineError::PermissionDenied(_))
        ));
        s.set_policies(policies("identity = [\"uid:1000\"]\nmax_sessions = 0\n"));
        assert_eq!(keep_rx.borrow().released, Some("policy"));
        assert!(s.list(&alice).is_empty());
        let _ = keep;
    }
}
