//! The session registry: settings, owners, session policies, connect requests, and the view
//! each session's stream follows.
//!
//! Only a session's owner (the same identity) or an administrator may change, connect,
//! disconnect or destroy it, and a non-administrator lists only its own. Each identity holds
//! at most `max_sessions` (its policy's, else the daemon's default). A session keeps what
//! its owner asked for; what is in effect is that, through the owner's policy. When the
//! policies change every session is evaluated again, and those no longer allowed are
//! released with reason "policy".
//!
//! Bookkeeping is incremental: a command recomputes only its own session's view, and the
//! engine recomputes every view only when the published services changed. What routing
//! per session needs (which services carry sessions, whose traffic goes where) is kept up
//! to date as views change, so building the steering plan never walks every session.

use std::collections::BTreeMap;
use std::net::IpAddr;

use tokio::sync::watch;

use super::{Caller, EngineError};
use crate::access::policy::{Effective, PolicySet};
use crate::access::Identity;
use crate::model::{
    Handover, Service, ServiceId, SessionChange, SessionId, SessionInfo, SessionSettings,
    SessionView,
};
use crate::policy::session::{handover_reason, session_view_on};

/// Sessions one identity may hold when no policy says otherwise.
pub(super) const DEFAULT_MAX_SESSIONS: u32 = 64;

struct Entry {
    owner: Caller,
    /// What the owner asked for.
    requested: SessionSettings,
    /// What is in effect (the request through the owner's policy).
    effective: Effective,
    connect_requested: bool,
    view: watch::Sender<SessionView>,
}

/// What routing per session needs from one session: its chosen service and address.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Route {
    service: ServiceId,
    /// The session's IPv4 and IPv6 addresses, when it has a source-address rule.
    sources: Vec<IpAddr>,
    /// The owner's uid, when it is a local user other than root (its traffic is steered).
    uid: Option<u32>,
}

/// The sessions' part of routing per session, kept up to date as views change.
#[derive(Debug, Default)]
pub(super) struct Carried {
    /// Sessions per service.
    pub by_service: BTreeMap<ServiceId, usize>,
    /// Source addresses with their service, per session.
    pub sources: BTreeMap<SessionId, (ServiceId, Vec<IpAddr>)>,
    /// Per uid, its sessions' services, oldest session first.
    pub owners: BTreeMap<u32, BTreeMap<SessionId, ServiceId>>,
    /// Each service's slot (1-based): its routing table and firewall mark. A service keeps
    /// its slot while sessions use it, so its table and mark stay put.
    pub slots: BTreeMap<ServiceId, u32>,
}

impl Carried {
    fn remove(&mut self, id: SessionId, route: &Route) {
        if let Some(n) = self.by_service.get_mut(&route.service) {
            *n -= 1;
            if *n == 0 {
                self.by_service.remove(&route.service);
                self.slots.remove(&route.service);
            }
        }
        self.sources.remove(&id);
        if let Some(uid) = route.uid {
            if let Some(map) = self.owners.get_mut(&uid) {
                map.remove(&id);
                if map.is_empty() {
                    self.owners.remove(&uid);
                }
            }
        }
    }

    fn add(&mut self, id: SessionId, route: &Route) {
        *self.by_service.entry(route.service.clone()).or_default() += 1;
        if !self.slots.contains_key(&route.service) {
            let used: std::collections::BTreeSet<u32> = self.slots.values().copied().collect();
            let slot = (1..).find(|n| !used.contains(n)).unwrap_or(1);
            self.slots.insert(route.service.clone(), slot);
        }
        if !route.sources.is_empty() {
            self.sources
                .insert(id, (route.service.clone(), route.sources.clone()));
        }
        if let Some(uid) = route.uid {
            self.owners
                .entry(uid)
                .or_default()
                .insert(id, route.service.clone());
        }
    }
}

/// Open sessions by id.
pub(super) struct Sessions {
    next_id: u64,
    open: BTreeMap<SessionId, Entry>,
    policies: PolicySet,
    max_per_identity: u32,
    /// What routing per session needs.
    pub carried: Carried,
    /// Sessions with a standing connect request.
    requesting: usize,
    /// Something routing per session depends on changed since the last steering plan.
    pub steer_dirty: bool,
}

impl Default for Sessions {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_SESSIONS)
    }
}

fn route_of(owner: &Caller, view: &SessionView) -> Option<Route> {
    let service = view.service_id.clone()?;
    let mut sources = Vec::new();
    if view.settings.source_ip_rule {
        sources.extend(view.ipv4.as_ref().map(|a| IpAddr::V4(a.address)));
        sources.extend(view.ipv6.as_ref().map(|a| IpAddr::V6(a.address)));
    }
    // Root's traffic is never steered by mark: it is the daemon's own and the system's
    // (sshd, DHCP, updates). A root session still gets its table and source rule.
    let uid = match &owner.identity {
        Identity::Local { uid, .. } if *uid != 0 => Some(*uid),
        _ => None,
    };
    Some(Route {
        service,
        sources,
        uid,
    })
}

impl Sessions {
    /// A registry allowing `max_per_identity` sessions per identity without a policy.
    pub fn new(max_per_identity: u32) -> Self {
        Self {
            next_id: 0,
            open: BTreeMap::new(),
            policies: PolicySet::default(),
            max_per_identity,
            carried: Carried::default(),
            requesting: 0,
            steer_dirty: false,
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
        let view = view_of(&effective, services);
        if let Some(route) = route_of(&owner, &view) {
            self.carried.add(id, &route);
            self.steer_dirty = true;
        }
        let (view, rx) = watch::channel(view);
        tracing::info!(session = %id, %owner, bearers = ?effective.settings.allowed_bearers, connection_type = effective.settings.connection_type.as_str(), interface = ?effective.settings.allowed_interface, policy_interface = ?effective.interface, context = %effective.settings.context_identifier, "session opened");
        self.open.insert(
            id,
            Entry {
                owner,
                requested,
                effective,
                connect_requested: false,
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

    /// ChangeSession: the requested settings change, go through the owner's policy, and
    /// this session's view is recomputed.
    pub fn change(
        &mut self,
        id: SessionId,
        caller: &Caller,
        change: &SessionChange,
        services: &[Service],
    ) -> Result<(), EngineError> {
        let entry = self.authorized(id, caller)?;
        let mut requested = entry.requested.clone();
        change.apply_to(&mut requested);
        let owner = entry.owner.identity.clone();
        let effective = self
            .effective(&owner, &requested)
            .map_err(EngineError::PermissionDenied)?;
        tracing::info!(session = %id, bearers = ?effective.settings.allowed_bearers, connection_type = effective.settings.connection_type.as_str(), interface = ?effective.settings.allowed_interface, "session changed");
        if let Some(entry) = self.open.get_mut(&id) {
            entry.requested = requested;
            entry.effective = effective;
        }
        self.refresh(id, services, &|_| false, true);
        Ok(())
    }

    /// ConnectSession: `claim` says which service the session's connect wants now, given the
    /// settings in effect (`None`: none can connect, and the request is refused with
    /// `no-service`).
    pub fn connect(
        &mut self,
        id: SessionId,
        caller: &Caller,
        claim: impl FnOnce(&Effective) -> Option<ServiceId>,
    ) -> Result<ServiceId, EngineError> {
        let entry = self.authorized(id, caller)?;
        let Some(service) = claim(&entry.effective) else {
            let settings = &entry.effective.settings;
            return Err(EngineError::FailedPrecondition {
                reason: "no-service",
                message: format!(
                    "session {id}: no allowed service can connect (bearers {}, interface {}, metered {}); \
                     check the session's settings and that a matching link is managed and present",
                    settings
                        .allowed_bearers
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(","),
                    settings
                        .allowed_interface
                        .as_deref()
                        .or(entry.effective.interface.as_deref())
                        .unwrap_or("any"),
                    if settings.allow_metered { "allowed" } else { "refused" },
                ),
            });
        };
        if !entry.connect_requested {
            entry.connect_requested = true;
            entry.view.send_modify(|v| v.connect_requested = true);
            self.requesting += 1;
        }
        tracing::info!(session = %id, service = %service, "session asks to connect");
        Ok(service)
    }

    /// DisconnectSession: the session's claim goes.
    pub fn disconnect(&mut self, id: SessionId, caller: &Caller) -> Result<(), EngineError> {
        let entry = self.authorized(id, caller)?;
        if entry.connect_requested {
            entry.connect_requested = false;
            entry.view.send_modify(|v| v.connect_requested = false);
            self.requesting -= 1;
            tracing::info!(session = %id, "session withdrew its connect request");
        }
        Ok(())
    }

    /// The settings in effect of the sessions with a standing connect request.
    pub fn requests(&self) -> impl Iterator<Item = &Effective> {
        let any = self.requesting > 0;
        self.open
            .values()
            .filter(move |e| any && e.connect_requested)
            .map(|e| &e.effective)
    }

    pub fn destroy(&mut self, id: SessionId, caller: &Caller) -> Result<(), EngineError> {
        self.authorized(id, caller)?;
        if let Some(entry) = self.remove(id) {
            release(id, &entry, "destroyed");
        }
        Ok(())
    }

    pub fn close(&mut self, id: SessionId) {
        if self.remove(id).is_some() {
            tracing::info!(session = %id, "session closed by its client");
        }
    }

    fn remove(&mut self, id: SessionId) -> Option<Entry> {
        let entry = self.open.remove(&id)?;
        if entry.connect_requested {
            self.requesting -= 1;
        }
        if let Some(route) = route_of(&entry.owner, &entry.view.borrow()) {
            self.carried.remove(id, &route);
            self.steer_dirty = true;
        }
        Some(entry)
    }

    pub fn release_all(&mut self, reason: &'static str) {
        for (id, entry) in std::mem::take(&mut self.open) {
            release(id, &entry, reason);
        }
        self.carried = Carried::default();
        self.requesting = 0;
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
                    connect_requested: e.connect_requested,
                }
            })
            .collect()
    }

    /// Puts new policies in force: every session is evaluated again; those no longer
    /// allowed (bearers, connection type, or past the identity's session limit, newest
    /// first) are released with reason "policy". Call [`Sessions::update`] afterwards
    /// (the views of the sessions that remain are recomputed there).
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
            if let Some(entry) = self.remove(id) {
                tracing::info!(session = %id, owner = %entry.owner, "{why}");
                release(id, &entry, "policy");
            }
        }
    }

    /// Recomputes every session's view after the services changed; streams wake only where
    /// something changed. `link_lost` says whether a service's link is gone (for the
    /// handover reason).
    pub fn update(&mut self, services: &[Service], link_lost: &dyn Fn(&ServiceId) -> bool) {
        let ids: Vec<SessionId> = self.open.keys().copied().collect();
        for id in ids {
            self.refresh(id, services, link_lost, false);
        }
    }

    /// Recomputes one session's view, with the handover notice when its service changes
    /// from one to another, and keeps `carried` in step.
    fn refresh(
        &mut self,
        id: SessionId,
        services: &[Service],
        link_lost: &dyn Fn(&ServiceId) -> bool,
        settings_changed: bool,
    ) {
        let Some(entry) = self.open.get(&id) else {
            return;
        };
        let mut view = view_of(&entry.effective, services);
        view.connect_requested = entry.connect_requested;
        let (old_route, new_route) = {
            let current = entry.view.borrow();
            view.handover = current.handover.clone();
            if let (Some(previous), Some(next)) = (&current.service_id, &view.service_id) {
                if previous != next {
                    let now = services.iter().find(|s| &s.id == previous);
                    let reason = handover_reason(
                        entry.effective.settings.connection_type,
                        now,
                        link_lost(previous),
                        settings_changed,
                    );
                    tracing::info!(session = %id, from = %previous, to = %next, reason = reason.as_str(), "session handover");
                    view.handover = Some(Handover {
                        previous: previous.clone(),
                        next: next.clone(),
                        reason,
                    });
                }
            }
            if *current == view {
                return;
            }
            (
                route_of(&entry.owner, &current),
                route_of(&entry.owner, &view),
            )
        };
        if old_route != new_route {
            if let Some(r) = &old_route {
                self.carried.remove(id, r);
            }
            if let Some(r) = &new_route {
                self.carried.add(id, r);
            }
            self.steer_dirty = true;
        }
        if let Some(entry) = self.open.get(&id) {
            entry.view.send_replace(view);
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
    use crate::model::{Bearer, ConnectionType, ServiceState, TechnologyKind};
    use crate::policy::fixtures::service;

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

    fn local(uid: u32) -> Caller {
        caller(uid, Role::User)
    }

    fn policies(text: &str) -> PolicySet {
        let mut set = PolicySet::default();
        set.add(parse("p.toml".into(), text, &|_, _| None).expect("policy"))
            .expect("add");
        set
    }

    fn ready(id: &str, ifname: &str, address: &str) -> Service {
        let mut s = service(id, TechnologyKind::Ethernet, ServiceState::Ready);
        s.interface = ifname.into();
        s.ipv4 = Some(crate::model::Ipv4Info {
            method: crate::model::IpMethod::Dhcp,
            address: address.parse().expect("ip"),
            prefix_len: 24,
            gateway: None,
        });
        s
    }

    #[test]
    fn carried_follows_views_and_handover_is_noted() {
        let mut s = Sessions::default();
        let a = ready("a", "eth0", "198.18.1.2");
        let b = ready("b", "eth1", "198.18.2.2");
        let services = vec![a.clone(), b.clone()];
        let pinned = SessionSettings {
            allowed_interface: Some("eth1".into()),
            source_ip_rule: true,
            ..SessionSettings::default()
        };
        let (one, rx1) = s
            .open(local(1000), SessionSettings::default(), &services)
            .expect("open");
        let (two, _rx2) = s.open(local(1001), pinned, &services).expect("open");
        assert_eq!(s.carried.by_service.len(), 2);
        assert_eq!(
            s.carried
                .sources
                .get(&two)
                .map(|(svc, a)| (svc.0.as_str(), a.len())),
            Some(("b", 1))
        );
        assert_eq!(s.carried.owners[&1000][&one].0, "a");
        let (root, _rx3) = s
            .open(local(0), SessionSettings::default(), &services)
            .expect("open");
        assert!(!s.carried.owners.contains_key(&0), "root is never steered");
        s.close(root);

        // a loses its link: session one moves to b, with the reason.
        let mut gone = a.clone();
        gone.state = ServiceState::Idle;
        s.update(&[b.clone(), gone], &|id| id.0 == "a");
        let view = rx1.borrow().clone();
        assert_eq!(view.service_id.as_ref().map(|i| i.0.as_str()), Some("b"));
        let h = view.handover.expect("handover");
        assert_eq!((h.previous.0.as_str(), h.next.0.as_str()), ("a", "b"));
        assert_eq!(h.reason, crate::model::HandoverReason::LostCarrier);
        assert_eq!(s.carried.by_service.len(), 1);

        // ChangeSession to a bearer with nothing: no service, nothing carried for it.
        s.change(
            one,
            &local(1000),
            &SessionChange {
                allowed_bearers: Some(vec![Bearer::Technology(TechnologyKind::Wifi)]),
                ..SessionChange::default()
            },
            std::slice::from_ref(&b),
        )
        .expect("change");
        assert!(!s.carried.owners.contains_key(&1000));
        s.close(two);
        assert!(s.carried.by_service.is_empty() && s.carried.sources.is_empty());
    }

    #[test]
    fn connect_requests_need_a_service_and_an_owner() {
        let mut s = Sessions::default();
        let (id, rx) = s
            .open(local(1000), SessionSettings::default(), &[])
            .expect("open");
        let e = s
            .connect(id, &local(1000), |_| None)
            .expect_err("nothing can connect");
        assert!(
            matches!(
                e,
                EngineError::FailedPrecondition {
                    reason: "no-service",
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(!rx.borrow().connect_requested);
        assert!(matches!(
            s.connect(id, &local(1001), |_| Some(ServiceId("x".into()))),
            Err(EngineError::PermissionDenied(_))
        ));
        s.connect(id, &local(1000), |_| Some(ServiceId("x".into())))
            .expect("connect");
        assert!(rx.borrow().connect_requested);
        assert_eq!(s.requests().count(), 1);
        s.disconnect(id, &local(1000)).expect("disconnect");
        assert_eq!(s.requests().count(), 0);
        assert!(!rx.borrow().connect_requested);
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
            s.change(
                a1,
                &bob,
                &SessionChange {
                    connection_type: Some(ConnectionType::Local),
                    ..SessionChange::default()
                },
                &[]
            ),
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
            ..SessionSettings::default()
        };
        let cell = SessionSettings {
            allowed_bearers: vec![Bearer::Technology(TechnologyKind::Cellular)],
            connection_type: ConnectionType::Any,
            ..SessionSettings::default()
        };
        let (keep, keep_rx) = s.open(alice.clone(), wifi_eth, &[]).expect("open");
        let (_drop, drop_rx) = s.open(alice.clone(), cell.clone(), &[]).expect("open");
        s.set_policies(policies(
            "identity = [\"uid:1000\"]\nallowed_bearers = [\"ethernet\"]\n",
        ));
        s.update(&[], &|_| false);
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
