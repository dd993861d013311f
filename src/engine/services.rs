//! Services and their connections: what backends report, what tasks report, and driving
//! every connection toward what policy wants.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::connection::{Connection, Context, L2Request, TimerKind};
use super::manager::{Manager, ServiceEntry};
use super::EngineError;
use crate::model::{
    L2State, Security, Service, ServiceConfig, ServiceError, ServiceId, ServiceUpdate,
    TechnologyKind,
};
use crate::net::dhcp::DhcpReport;
use crate::net::online::OnlineReport;
use crate::policy::autoconnect::{self, Candidate};
use crate::policy::connection::{self as connection_policy, Facts, State};
use crate::policy::credentials::{self, Need};
use crate::policy::session as session_policy;
use crate::store::Written;
use crate::tech::{self, wifi};

use super::connection::Timer;

impl Manager {
    /// A backend reported something.
    pub(super) fn on_backend(&mut self, event: tech::Event) {
        match event {
            tech::Event::Service(info) => self.on_service(info),
            tech::Event::ServiceGone(id) => {
                if let Some(mut entry) = self.services.remove(&id) {
                    tracing::info!(service = %id, "service gone");
                    if let Some(c) = entry.connection.as_mut() {
                        c.abort(format!("service {id} went away"));
                    }
                }
                let parked = self.agents.cancel_for(&id, |p| &p.id);
                self.abandon_parked(parked, "the service went away");
            }
            tech::Event::L2 { id, state } => self.on_l2(id, state),
            tech::Event::Technology {
                kind,
                present,
                available,
            } => self.on_technology(kind, present, available),
            tech::Event::ScanDone { token, error } => self.on_scan_done(token, error),
            tech::Event::Batch(events) => events.into_iter().for_each(|e| self.on_backend(e)),
        }
    }

    fn on_l2(&mut self, id: ServiceId, state: L2State) {
        let rules = self.rules();
        let Some(entry) = self.services.get_mut(&id) else {
            tracing::debug!(service = %id, ?state, "L2 report for an unknown service");
            return;
        };
        let port = entry.info.technology == TechnologyKind::Ethernet
            && entry.info.security.contains(&Security::Ieee8021x);
        // An 802.1X port's authentication means nothing once its carrier is gone.
        if entry.l2 == L2State::Idle && matches!(state, L2State::Associated { .. }) && port {
            tracing::debug!(service = %id, "authenticated without carrier; ignored");
            return;
        }
        entry.l2 = state;
        let Some(c) = entry.connection.as_mut() else {
            return;
        };
        c.handle(&connection_policy::Event::L2(state), rules);
        match state {
            // A port's idle is its carrier going (its backend reports idle only when asked
            // to, or when it stops driving the port): the request stays counted, so that
            // drive() takes it back while there is no carrier and makes it again after.
            L2State::Idle if !port => c.l2_dropped(),
            L2State::Associated { ifindex } => self.remember_mtu(ifindex),
            L2State::Failed(ServiceError::InvalidKey) => {
                c.given = Default::default();
                self.refused_key(&id);
            }
            L2State::Failed(_) => c.given = Default::default(),
            _ => {}
        }
    }

    fn on_service(&mut self, info: tech::ServiceInfo) {
        let id = info.id.clone();
        let retry_min = Duration::from_secs(self.config.connect.retry_min);
        let new_connection = |stored: &BTreeMap<ServiceId, ServiceConfig>| {
            tracing::info!(service = %id, "managing service");
            Connection::new(
                id.clone(),
                stored.get(&id).cloned().unwrap_or_default(),
                retry_min,
            )
        };
        let netdev = info.netdev.filter(|_| info.managed);
        match self.services.get_mut(&id) {
            Some(entry) => {
                match (info.managed, entry.connection.is_some()) {
                    (true, false) => entry.connection = Some(new_connection(&self.stored)),
                    (false, true) => {
                        tracing::info!(service = %id, "no longer managed");
                        if let Some(mut c) = entry.connection.take() {
                            c.abort(format!("service {id} is no longer managed"));
                        }
                    }
                    _ => {}
                }
                entry.info = info;
            }
            None => {
                tracing::info!(service = %id, technology = %info.technology, name = %info.name, "service appeared");
                let connection = info.managed.then(|| new_connection(&self.stored));
                self.services.insert(
                    id.clone(),
                    ServiceEntry {
                        info,
                        l2: L2State::Idle,
                        connection,
                    },
                );
            }
        }
        if let Some(netdev) = netdev {
            self.remember_mtu(netdev);
        }
    }

    /// A link went admin-up (by the user, or by the applier after a connect): a connection
    /// that netpilot held down on it starts a new attempt (Zephyr conn_mgr).
    pub(super) fn link_set_up(&mut self, index: u32) {
        let rules = self.rules();
        for entry in self.services.values_mut() {
            if entry.info.netdev == Some(index) {
                if let Some(c) = entry.connection.as_mut() {
                    c.user_admin_up(rules);
                }
            }
        }
    }

    fn remember_mtu(&mut self, index: u32) {
        if let Some(mtu) = self.link_mtu(index) {
            self.original_mtu.entry(index).or_insert(mtu);
        }
    }

    fn connection_by_key(&mut self, id: &ServiceId) -> Option<&mut Connection> {
        self.services.get_mut(id)?.connection.as_mut()
    }

    pub(super) fn on_dhcp(&mut self, report: DhcpReport) {
        let rules = self.rules();
        if let Some(c) = self.connection_by_key(&report.key.service) {
            c.on_dhcp(report.key.generation, report.event, rules);
        }
    }

    pub(super) fn on_online(&mut self, report: OnlineReport) {
        let rules = self.rules();
        if let Some(c) = self.connection_by_key(&report.key.service) {
            if let Some(event) = c.on_online(report.key.generation, report.result, rules) {
                self.extra_events.push(event);
            }
        }
    }

    pub(super) fn on_timer(&mut self, timer: Timer) {
        if timer.kind == TimerKind::InputTimeout {
            self.on_input_timeout(timer.key.generation);
            return;
        }
        let rules = self.rules();
        if let Some(c) = self.connection_by_key(&timer.key.service) {
            if let Some(event) = c.on_timer(timer.key.generation, timer.kind, rules) {
                self.extra_events.push(event);
            }
        }
    }

    /// Managed services as the autoconnect policy sees them, in the last published service
    /// order (services not published yet last).
    fn candidates(&self) -> Vec<Candidate> {
        let rank: BTreeMap<&ServiceId, usize> = self
            .published
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| (&s.id, i))
            .collect();
        let mut candidates: Vec<(usize, Candidate)> = self
            .services
            .values()
            .filter_map(|e| {
                let c = e.connection.as_ref()?;
                let stored = self.credentials.get(&c.id).cloned().unwrap_or_default();
                let missing = credentials::missing(&Need {
                    class: super::connect::class_of(e),
                    nameless: false,
                    eap: c.config.eap.as_ref(),
                    have: &stored,
                });
                let candidate = Candidate {
                    id: c.id.clone(),
                    technology: e.info.technology,
                    netdev: e.info.netdev,
                    intent: c.intent,
                    autoconnect: c.config.autoconnect
                        && (c.config.favorite || e.info.technology == TechnologyKind::Ethernet),
                    needs_user: !missing.is_empty()
                        || matches!(c.state(), State::Failure { error, .. } if !error.retryable()),
                    claimed: false,
                };
                Some((rank.get(&c.id).copied().unwrap_or(usize::MAX), candidate))
            })
            .collect();
        candidates.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
        candidates.into_iter().map(|(_, c)| c).collect()
    }

    /// Settles every connection on the current facts and starts and stops its tasks. Returns
    /// true when something visible changed (publish again).
    pub(super) fn drive(&mut self) -> bool {
        let mut allowed = autoconnect::allowed_technologies(
            self.config.single_connected_technology,
            &self.config.always_connected_technologies,
            &self.published.services,
        );
        allowed.retain(|t| self.powered(*t));
        // The setup access point's decision: no background retries while a phone is on the
        // page, nor while the AP has a radio that cannot run a station beside it.
        allowed.retain(|t| *t != TechnologyKind::Wifi || self.setup.autoconnect_wifi);
        let mut candidates = self.candidates();
        let claims = self.session_claims(&candidates);
        for c in &mut candidates {
            c.claimed = claims.contains(&c.id);
        }
        let wanted = autoconnect::wanted(&candidates, &allowed);
        let interfaces: BTreeMap<u32, _> = self
            .interfaces()
            .into_iter()
            .map(|i| (i.index, i))
            .collect();
        let mut changed = false;
        let mut favorites = Vec::new();
        let mut secrets = Vec::new();
        let mut requests = Vec::new();
        for entry in self.services.values_mut() {
            let Some(c) = entry.connection.as_mut() else {
                continue;
            };
            let carrier = match entry.l2 {
                L2State::Associated { ifindex } => interfaces.get(&ifindex),
                _ => None,
            };
            let want = wanted.contains(&c.id);
            c.claimed = claims.contains(&c.id);
            changed |= c.settle(&Facts {
                wanted: want,
                l2: entry.l2,
                ip_configured: c.ip_configured(carrier),
            });
            if c.state().is_connected() {
                if !c.config.favorite {
                    c.config.favorite = true;
                    favorites.push((c.id.clone(), c.config.clone()));
                    changed = true;
                }
                let given = c.take_given();
                if !given.is_empty() {
                    secrets.push((c.id.clone(), given));
                    changed = true;
                }
            }
            // An 802.1X port authenticates afresh at every carrier.
            let port = entry.info.technology == TechnologyKind::Ethernet
                && entry.info.security.contains(&Security::Ieee8021x);
            let has_carrier = entry
                .info
                .netdev
                .and_then(|i| interfaces.get(&i))
                .is_some_and(|i| i.admin_up && i.oper_up);
            let facts = c.task_facts(want, !port || has_carrier, &self.config);
            let tasks = connection_policy::tasks(c.state(), &facts);
            let cx = Context {
                config: &self.config,
                hostname: &self.hostname,
                reporters: &self.reporters,
                netdev: carrier,
            };
            if let Some(request) = c.reconcile(tasks, &cx) {
                requests.push((c.id.clone(), request));
            }
        }
        for (id, config) in favorites {
            self.stored.insert(id.clone(), config.clone());
            // The writer logs a failure; nobody waits for this one.
            let _ = self.store.save(&id, &config);
        }
        for (id, given) in secrets {
            self.keep_credentials(&id, given);
        }
        for (id, request) in requests {
            self.request_l2(&id, request);
        }
        changed
    }

    /// The services a session could connect now: managed, powered, needing nothing from the
    /// user; with `after_disconnect`, also those the user disconnected (a new request wins
    /// over an earlier DisconnectService).
    fn connectable(&self, candidates: &[Candidate], after_disconnect: bool) -> BTreeSet<ServiceId> {
        candidates
            .iter()
            .filter(|c| {
                !c.needs_user
                    && self.powered(c.technology)
                    && (after_disconnect || c.intent != super::connection::Intent::Disconnected)
            })
            .map(|c| c.id.clone())
            .collect()
    }

    /// The services sessions' connect requests claim now ([`policy::session::claim_on`]).
    fn session_claims(&self, candidates: &[Candidate]) -> BTreeSet<ServiceId> {
        let mut claims = BTreeSet::new();
        let mut requests = self.sessions.requests().peekable();
        if requests.peek().is_none() {
            return claims;
        }
        let connectable = self.connectable(candidates, false);
        for effective in requests {
            if let Some(s) = session_policy::claim_on(
                &effective.settings,
                effective.interface.as_deref(),
                &self.published.services,
                |s| connectable.contains(&s.id),
            ) {
                claims.insert(s.id.clone());
            }
        }
        claims
    }

    /// ConnectSession: the session's request stands from now on and claims the best allowed
    /// service that can connect; `no-service` when there is none.
    pub(super) fn connect_session(
        &mut self,
        id: crate::model::SessionId,
        caller: &super::Caller,
    ) -> Result<(), EngineError> {
        let connectable = self.connectable(&self.candidates(), true);
        let published = self.published.clone();
        let claimed = self.sessions.connect(id, caller, |effective| {
            session_policy::claim_on(
                &effective.settings,
                effective.interface.as_deref(),
                &published.services,
                |s| connectable.contains(&s.id),
            )
            .map(|s| s.id.clone())
        })?;
        if let Some(c) = self
            .services
            .get_mut(&claimed)
            .and_then(|e| e.connection.as_mut())
        {
            if c.intent == super::connection::Intent::Disconnected {
                tracing::info!(service = %claimed, "a session's connect request undoes an earlier disconnect");
                c.intent = super::connection::Intent::Auto;
            }
        }
        Ok(())
    }

    /// Asks a service's backend to connect or disconnect its L2. Plain Ethernet has nothing
    /// to ask for: its L2 is the carrier.
    fn request_l2(&mut self, id: &ServiceId, request: L2Request) {
        let Some(entry) = self.services.get(id) else {
            return;
        };
        let wired = entry.info.technology == TechnologyKind::Ethernet;
        if wired && !entry.info.security.contains(&Security::Ieee8021x) {
            return;
        }
        if !wired && entry.info.technology != TechnologyKind::Wifi {
            tracing::warn!(service = %id, technology = %entry.info.technology, ?request, "no backend for this technology");
            return;
        }
        let request = match request {
            L2Request::Disconnect => wifi::Request::Disconnect(id.clone()),
            L2Request::Connect => {
                let config = entry.connection.as_ref().map(|c| &c.config);
                let given = entry.connection.as_ref().map(|c| c.given.clone());
                let credentials = self
                    .credentials
                    .get(id)
                    .cloned()
                    .unwrap_or_default()
                    .merged(&given.unwrap_or_default());
                wifi::Request::Connect(Box::new(wifi::ConnectRequest {
                    id: id.clone(),
                    netdev: entry.info.netdev,
                    ssid: entry
                        .info
                        .wifi
                        .as_ref()
                        .map(|w| w.ssid.clone())
                        .unwrap_or_default(),
                    class: super::connect::class_of(entry),
                    security: entry.info.security.clone(),
                    hidden: entry.info.wifi.as_ref().is_some_and(|w| w.hidden),
                    credentials,
                    eap: config.and_then(|c| c.eap.clone()),
                }))
            }
        };
        self.wifi.send(request);
    }

    /// Answers parked connects of services that are now connected.
    pub(super) fn answer_connects(&mut self) {
        let published = self.published.clone();
        let retry_min = Duration::from_secs(self.config.connect.retry_min);
        for entry in self.services.values_mut() {
            if let (Some(c), Some(service)) = (
                entry.connection.as_mut(),
                published.service(&entry.info.id.0),
            ) {
                c.answer_connects(service, retry_min);
            }
        }
    }

    /// The connection of a service the API named, or why there is none.
    pub(super) fn connection_mut(&mut self, id: &str) -> Result<&mut Connection, EngineError> {
        let entry = self
            .services
            .get_mut(&ServiceId(id.to_string()))
            .ok_or_else(|| EngineError::NotFound {
                kind: "service",
                id: id.to_string(),
            })?;
        entry
            .connection
            .as_mut()
            .ok_or_else(|| EngineError::immutable(id))
    }

    /// Managed services of `kind` (or all), in service order.
    fn managed_ids(&self, kind: Option<TechnologyKind>) -> Vec<ServiceId> {
        self.published
            .services
            .iter()
            .filter(|s| s.managed && kind.is_none_or(|k| s.technology == k))
            .map(|s| s.id.clone())
            .collect()
    }

    /// ConnectAll: a connect for every managed service that can connect without asking
    /// anyone (credentials stored or not needed); each is answered through its state. One
    /// network per radio: the first in service order.
    pub(super) fn connect_all(&mut self, kind: Option<TechnologyKind>) -> Vec<ServiceId> {
        let rules = self.rules();
        let mut claimed = std::collections::BTreeSet::new();
        let mut asked = Vec::new();
        for id in self.managed_ids(kind) {
            let Some(entry) = self.services.get_mut(&id) else {
                continue;
            };
            if entry.info.netdev.is_some_and(|n| !claimed.insert(n)) {
                continue;
            }
            if let Some(c) = entry.connection.as_mut() {
                c.intent = super::connection::Intent::Connect;
                c.handle(&connection_policy::Event::Connect, rules);
                asked.push(id);
            }
        }
        tracing::info!(technology = ?kind, services = asked.len(), "connect all");
        asked
    }

    /// DisconnectAll.
    pub(super) fn disconnect_all(&mut self, kind: Option<TechnologyKind>) -> Vec<ServiceId> {
        let rules = self.rules();
        let ids = self.managed_ids(kind);
        for id in &ids {
            if let Some(c) = self
                .services
                .get_mut(id)
                .and_then(|e| e.connection.as_mut())
            {
                c.disconnect(rules);
            }
        }
        tracing::info!(technology = ?kind, services = ids.len(), "disconnect all");
        ids
    }

    /// DisconnectService.
    pub(super) fn disconnect(&mut self, id: &str) -> Result<(), EngineError> {
        let rules = self.rules();
        self.connection_mut(id).map(|c| c.disconnect(rules))
    }

    /// RemoveService: forget the stored configuration and disconnect. The files go on the
    /// store's writer; the returned [`Written`] resolves when they are gone.
    pub(super) fn remove(&mut self, id: &str) -> Result<Written, EngineError> {
        self.connection_mut(id)?;
        let sid = ServiceId(id.to_string());
        let written = self.store.remove(&sid);
        self.stored.remove(&sid);
        self.credentials.remove(&sid);
        let rules = self.rules();
        let c = self.connection_mut(id)?;
        c.disconnect(rules);
        c.reconfigure(ServiceConfig::default());
        if self.services[&sid].info.technology != TechnologyKind::Ethernet {
            self.wifi.send(wifi::Request::Forget(sid));
        }
        Ok(written)
    }

    /// UpdateService: merges `update` into the service's current configuration, checks the
    /// result, applies it and hands it to the store's writer; the returned [`Written`]
    /// resolves when it is on disk.
    pub(super) fn update_service(
        &mut self,
        id: &str,
        update: &ServiceUpdate,
    ) -> Result<(Service, Written), EngineError> {
        let mut config = self.connection_mut(id)?.config.clone();
        update.apply_to(&mut config);
        config
            .validate()
            .map_err(|e| EngineError::InvalidArgument {
                field: e.field,
                message: e.message,
            })?;
        let sid = ServiceId(id.to_string());
        let written = self.store.save(&sid, &config);
        self.stored.insert(sid, config.clone());
        self.connection_mut(id)?.reconfigure(config);
        self.step();
        let service = self
            .published
            .service(id)
            .cloned()
            .ok_or(EngineError::NotFound {
                kind: "service",
                id: id.to_string(),
            })?;
        Ok((service, written))
    }
}
