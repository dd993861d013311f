//! The engine task: owns interfaces, routes, services, managed links and sessions;
//! recomputes and publishes after every input.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, watch};

use super::handle::{service_id, Command, EngineHandle};
use super::managed::{ConnectReply, LinkFacts, Managed, Reporters, Timer};
use super::sessions::Sessions;
use super::{plan, EngineError, Event, EventBatch, InterfaceView, ManagerInfo, Snapshot};
use crate::config::Config;
use crate::model::{
    Interface, InterfaceKind, Service, ServiceConfig, ServiceId, Technology, TechnologyKind,
};
use crate::net::apply::NetPlan;
use crate::net::dhcp::DhcpReport;
use crate::net::netlink::{display_chain, DefaultRoute, Link, NetEvent};
use crate::net::online::OnlineReport;
use crate::policy::{self, order::OrderPreferences};
use crate::store::Store;
use crate::tech::ethernet;

/// Capacity of the command and backend-event channels: senders wait when the engine is busy.
const QUEUE: usize = 64;
/// Event batches a slow watcher may fall behind before it gets a fresh snapshot instead.
const EVENT_BACKLOG: usize = 256;

/// A running engine and the ends the daemon wires to backends.
pub struct Engine {
    /// For the API.
    pub handle: EngineHandle,
    /// Where the netlink monitor reports.
    pub net_events: mpsc::Sender<NetEvent>,
    /// What the applier should make true.
    pub plans: watch::Receiver<NetPlan>,
    /// The engine task.
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts the engine with the stored service configurations.
pub fn spawn(config: &Config, store: Store, stored: BTreeMap<ServiceId, ServiceConfig>) -> Engine {
    let (commands_tx, commands) = mpsc::channel(QUEUE);
    let (net_tx, net) = mpsc::channel(QUEUE);
    let (dhcp_tx, dhcp) = mpsc::channel(QUEUE);
    let (online_tx, online) = mpsc::channel(QUEUE);
    let (timers_tx, timers) = mpsc::channel(QUEUE);
    let (snapshot_tx, snapshot_rx) = watch::channel(Arc::new(Snapshot::default()));
    let (events_tx, _) = broadcast::channel(EVENT_BACKLOG);
    let (stopping_tx, stopping_rx) = watch::channel(false);
    let (plan_tx, plan_rx) = watch::channel(NetPlan::default());
    let hostname = if config.dhcp.hostname.is_empty() {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default()
    } else {
        config.dhcp.hostname.clone()
    };
    let mut world = World {
        config: config.clone(),
        hostname,
        prefs: OrderPreferences {
            technologies: config.preferred_technologies.clone(),
            user_order: vec![],
        },
        links: BTreeMap::new(),
        addresses: BTreeMap::new(),
        routes: BTreeSet::new(),
        ignore_overrides: BTreeMap::new(),
        offline_mode: false,
        ready_since: BTreeMap::new(),
        clock: 0,
        store,
        stored,
        managed: BTreeMap::new(),
        reporters: Reporters {
            dhcp: dhcp_tx,
            online: online_tx,
            timers: timers_tx,
        },
        extra_events: Vec::new(),
        published: Arc::new(Snapshot::default()),
        snapshot_tx,
        events_tx: events_tx.clone(),
        plan_tx,
        sessions: Sessions::default(),
    };
    world.publish();
    let handle = EngineHandle {
        commands: commands_tx,
        snapshot: snapshot_rx,
        events: events_tx,
        stopping: stopping_rx,
    };
    let inputs = Inputs {
        commands,
        net,
        dhcp,
        online,
        timers,
    };
    let task = tokio::spawn(async move { world.run(inputs, stopping_tx).await });
    Engine {
        handle,
        net_events: net_tx,
        plans: plan_rx,
        task,
    }
}

struct Inputs {
    commands: mpsc::Receiver<Command>,
    net: mpsc::Receiver<NetEvent>,
    dhcp: mpsc::Receiver<DhcpReport>,
    online: mpsc::Receiver<OnlineReport>,
    timers: mpsc::Receiver<Timer>,
}

pub(super) struct World {
    config: Config,
    hostname: String,
    prefs: OrderPreferences,
    links: BTreeMap<u32, Link>,
    addresses: BTreeMap<u32, Vec<crate::model::InterfaceAddress>>,
    routes: BTreeSet<DefaultRoute>,
    /// UpdateInterface decisions by interface name; they beat the config's ignore list.
    ignore_overrides: BTreeMap<String, bool>,
    offline_mode: bool,
    /// When each connected service became ready, on the engine's step clock.
    ready_since: BTreeMap<ServiceId, u64>,
    clock: u64,
    store: Store,
    /// Stored configurations, also of services not present now.
    stored: BTreeMap<ServiceId, ServiceConfig>,
    managed: BTreeMap<ServiceId, Managed>,
    reporters: Reporters,
    /// Events raised by handlers (timeouts, portals), published with the next batch.
    extra_events: Vec<Event>,
    published: Arc<Snapshot>,
    snapshot_tx: watch::Sender<Arc<Snapshot>>,
    events_tx: broadcast::Sender<Arc<EventBatch>>,
    plan_tx: watch::Sender<NetPlan>,
    pub(super) sessions: Sessions,
}

impl World {
    async fn run(&mut self, mut inputs: Inputs, stopping: watch::Sender<bool>) {
        loop {
            tokio::select! {
                Some(event) = inputs.net.recv() => self.on_net_event(event),
                Some(report) = inputs.dhcp.recv() => self.on_dhcp(report),
                Some(report) = inputs.online.recv() => self.on_online(report),
                Some(timer) = inputs.timers.recv() => self.on_timer(timer),
                command = inputs.commands.recv() => match command {
                    Some(Command::Shutdown(done)) => {
                        let _ = stopping.send(true);
                        self.sessions.release_all("shutdown");
                        let _ = done.send(());
                        return;
                    }
                    Some(command) => self.on_command(command),
                    None => return,
                },
            }
            self.step();
        }
    }

    /// Publish, let managed links react, and publish again if they changed something.
    fn step(&mut self) {
        self.publish();
        if self.drive() {
            self.publish();
        }
        let metrics = plan::metrics(&self.published);
        let next = plan::plan(&self.published, &self.managed, &metrics);
        self.plan_tx.send_if_modified(|current| {
            let changed = *current != next;
            if changed {
                *current = next;
            }
            changed
        });
    }

    fn drive(&mut self) -> bool {
        let mut changed = false;
        let published = self.published.clone();
        let allowed = policy::autoconnect::allowed_technologies(
            self.config.single_connected_technology,
            &self.config.always_connected_technologies,
            &published.services,
        );
        for (id, m) in &mut self.managed {
            let allow = allowed.contains(&TechnologyKind::Ethernet);
            changed |= m.allowed != allow;
            m.allowed = allow;
            let (Some(link), Some(service)) =
                (self.links.get(&m.ifindex), published.service(&id.0))
            else {
                continue;
            };
            let facts = LinkFacts {
                admin_up: link.admin_up,
                oper_up: link.oper_up,
            };
            let favorite = m.config.favorite;
            changed |= m.drive(
                facts,
                service,
                &self.config,
                &self.hostname,
                &self.reporters,
            );
            if m.config.favorite != favorite {
                self.stored.insert(id.clone(), m.config.clone());
                if let Err(e) = self.store.save(id, &m.config) {
                    tracing::error!(service = %id, error = %display_chain(&e), "store favorite");
                }
            }
        }
        changed
    }

    fn on_net_event(&mut self, event: NetEvent) {
        match event {
            NetEvent::Dump {
                links,
                addresses,
                routes,
            } => {
                self.links = links.into_iter().map(|l| (l.index, l)).collect();
                self.addresses.clear();
                for (index, addr) in addresses {
                    self.addresses.entry(index).or_default().push(addr);
                }
                self.routes = routes.into_iter().collect();
            }
            NetEvent::LinkChanged(link) => {
                self.links.insert(link.index, link);
            }
            NetEvent::LinkRemoved(index) => {
                self.links.remove(&index);
                self.addresses.remove(&index);
                self.routes.retain(|r| r.index != index);
            }
            NetEvent::AddressAdded(index, addr) => {
                let list = self.addresses.entry(index).or_default();
                match list.iter_mut().find(|a| a.address == addr.address) {
                    Some(existing) => *existing = addr,
                    None => list.push(addr),
                }
            }
            NetEvent::AddressRemoved(index, addr) => {
                if let Some(list) = self.addresses.get_mut(&index) {
                    list.retain(|a| a.address != addr.address);
                }
            }
            NetEvent::RouteAdded(route) => {
                self.routes.insert(route);
            }
            NetEvent::RouteRemoved(route) => {
                self.routes.remove(&route);
            }
        }
        self.sync_managed();
    }

    /// Creates a managed entry for every managed Ethernet link and drops those whose link
    /// went away or is now ignored.
    fn sync_managed(&mut self) {
        let interfaces = self.interfaces();
        let mut present = BTreeSet::new();
        for i in &interfaces {
            let Some(mac) = i.mac else { continue };
            if i.kind != InterfaceKind::Ethernet
                || i.ignored
                || !self.config.is_managed(&i.name, &i.mac_string())
            {
                continue;
            }
            let id = ServiceId::ethernet(mac);
            present.insert(id.clone());
            let entry = self.managed.entry(id.clone()).or_insert_with(|| {
                tracing::info!(service = %id, interface = %i.name, "managing link");
                let config = self.stored.get(&id).cloned().unwrap_or_default();
                Managed::new(
                    id.clone(),
                    i.index,
                    i.name.clone(),
                    mac,
                    i.mtu,
                    config,
                    Duration::from_secs(self.config.connect.retry_min),
                )
            });
            entry.ifindex = i.index;
            entry.ifname = i.name.clone();
        }
        self.managed.retain(|id, _| {
            let keep = present.contains(id);
            if !keep {
                tracing::info!(service = %id, "link gone or ignored; no longer managed");
            }
            keep
        });
    }

    fn on_dhcp(&mut self, report: DhcpReport) {
        if let Some(m) = self.managed.get_mut(&report.key.service) {
            m.on_dhcp(report.key.generation, report.event);
        }
    }

    fn on_online(&mut self, report: OnlineReport) {
        if let Some(m) = self.managed.get_mut(&report.key.service) {
            if let Some(event) = m.on_online(report.key.generation, report.result, &self.config) {
                self.extra_events.push(event);
            }
        }
    }

    fn on_timer(&mut self, timer: Timer) {
        let connected = self
            .published
            .service(&timer.service.0)
            .is_some_and(|s| s.state.is_connected());
        if let Some(m) = self.managed.get_mut(&timer.service) {
            if let Some(event) = m.on_timer(timer.generation, timer.kind, &self.config, connected) {
                self.extra_events.push(event);
            }
        }
    }

    /// The managed entry of a service, or why there is none.
    fn managed_mut(&mut self, id: &str) -> Result<&mut Managed, EngineError> {
        if self.published.service(id).is_none() {
            return Err(EngineError::NotFound {
                kind: "service",
                id: id.to_string(),
            });
        }
        self.managed
            .get_mut(&service_id(id))
            .ok_or_else(|| EngineError::immutable(id))
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::SetOfflineMode(on, reply) => {
                self.offline_mode = on;
                self.step();
                let _ = reply.send(Ok(self.published.manager));
            }
            Command::Connect { id, timeout, reply } => self.connect(&id, timeout, reply),
            Command::Disconnect { id, reply } => {
                let result = self.managed_mut(&id).map(|m| m.disconnect());
                let _ = reply.send(result);
            }
            Command::Remove { id, reply } => {
                let result = self.remove(&id);
                let _ = reply.send(result);
            }
            Command::UpdateService { id, config, reply } => {
                let result = self.update_service(&id, config);
                let _ = reply.send(result);
            }
            Command::ReportConnectivity { id, reply } => {
                let result = self.managed_mut(&id).map(|m| m.recheck());
                let _ = reply.send(result);
            }
            Command::MoveService {
                id,
                anchor,
                after,
                reply,
            } => {
                let _ = reply.send(self.move_service(&id, &anchor, after));
            }
            Command::SetInterfaceIgnored {
                name,
                ignored,
                reply,
            } => {
                let result = if self.links.values().any(|l| l.name == name) {
                    self.ignore_overrides.insert(name.clone(), ignored);
                    self.sync_managed();
                    self.step();
                    self.published
                        .interface(&name)
                        .cloned()
                        .ok_or(EngineError::NotFound {
                            kind: "interface",
                            id: name,
                        })
                } else {
                    Err(EngineError::NotFound {
                        kind: "interface",
                        id: name,
                    })
                };
                let _ = reply.send(result);
            }
            Command::OpenSession {
                owner,
                settings,
                reply,
            } => {
                let opened = self
                    .sessions
                    .open(owner, settings, &self.published.services);
                let _ = reply.send(Ok(opened));
            }
            Command::ChangeSession {
                id,
                caller,
                allowed_bearers,
                connection_type,
                reply,
            } => {
                let result = self
                    .sessions
                    .change(id, &caller, allowed_bearers, connection_type);
                let _ = reply.send(result);
            }
            Command::CheckSession { id, caller, reply } => {
                let _ = reply.send(self.sessions.check(id, &caller));
            }
            Command::DestroySession { id, caller, reply } => {
                let _ = reply.send(self.sessions.destroy(id, &caller));
            }
            Command::CloseSession(id) => self.sessions.close(id),
            Command::ListSessions(reply) => {
                let _ = reply.send(Ok(self.sessions.list()));
            }
            Command::Shutdown(_) => unreachable!("handled in run"),
        }
    }

    fn connect(&mut self, id: &str, timeout: Option<Duration>, reply: ConnectReply) {
        let connected = self
            .published
            .service(id)
            .filter(|s| s.state.is_connected())
            .cloned();
        match self.managed_mut(id) {
            Err(e) => {
                let _ = reply.send(Err(e));
            }
            Ok(m) => match connected {
                Some(service) => {
                    m.intent = super::managed::Intent::Connect;
                    let _ = reply.send(Ok(service));
                }
                None => m.connect(timeout, reply),
            },
        }
    }

    fn remove(&mut self, id: &str) -> Result<(), EngineError> {
        self.managed_mut(id)?;
        let sid = service_id(id);
        self.store
            .remove(&sid)
            .map_err(|e| EngineError::Store(display_chain(&e)))?;
        self.stored.remove(&sid);
        let m = self.managed_mut(id)?;
        m.disconnect();
        m.reconfigure(ServiceConfig::default());
        Ok(())
    }

    fn update_service(&mut self, id: &str, config: ServiceConfig) -> Result<Service, EngineError> {
        self.managed_mut(id)?;
        let sid = service_id(id);
        self.store
            .save(&sid, &config)
            .map_err(|e| EngineError::Store(display_chain(&e)))?;
        self.stored.insert(sid.clone(), config.clone());
        if let Some(m) = self.managed.get_mut(&sid) {
            m.reconfigure(config);
        }
        self.step();
        self.published
            .service(id)
            .cloned()
            .ok_or(EngineError::NotFound {
                kind: "service",
                id: id.to_string(),
            })
    }

    fn move_service(
        &mut self,
        id: &str,
        anchor: &str,
        after: bool,
    ) -> Result<Vec<Service>, EngineError> {
        let services = &self.published.services;
        for value in [id, anchor] {
            if services.iter().all(|s| s.id.0 != value) {
                return Err(EngineError::NotFound {
                    kind: "service",
                    id: value.to_string(),
                });
            }
        }
        if id == anchor {
            return Err(EngineError::InvalidArgument {
                field: if after { "after" } else { "before" }.into(),
                message: "a service cannot move relative to itself".into(),
            });
        }
        let current: Vec<ServiceId> = services.iter().map(|s| s.id.clone()).collect();
        self.prefs.user_order =
            policy::order::move_service(&current, &service_id(id), &service_id(anchor), after);
        self.step();
        Ok(self.published.services.clone())
    }

    fn interfaces(&self) -> Vec<Interface> {
        self.links
            .values()
            .map(|l| Interface {
                index: l.index,
                name: l.name.clone(),
                mac: l.mac,
                kind: l.kind,
                admin_up: l.admin_up,
                oper_up: l.oper_up,
                mtu: l.mtu,
                addresses: self.addresses.get(&l.index).cloned().unwrap_or_default(),
                ignored: self
                    .ignore_overrides
                    .get(&l.name)
                    .copied()
                    .unwrap_or_else(|| self.config.is_ignored(&l.name)),
            })
            .collect()
    }

    /// Recomputes the world from the inputs and publishes what changed.
    pub(super) fn publish(&mut self) {
        self.clock += 1;
        let routes: Vec<DefaultRoute> = self.routes.iter().copied().collect();
        let interfaces = self.interfaces();
        let managed_by_index: BTreeMap<u32, &Managed> =
            self.managed.values().map(|m| (m.ifindex, m)).collect();
        let mut services: Vec<_> = interfaces
            .iter()
            .filter_map(|i| {
                ethernet::service_for(
                    i,
                    &routes,
                    managed_by_index.get(&i.index).map(|m| m.management()),
                )
            })
            .collect();
        for s in &mut services {
            if s.state.is_connected() {
                s.ready_since = Some(*self.ready_since.entry(s.id.clone()).or_insert(self.clock));
            } else {
                self.ready_since.remove(&s.id);
            }
        }
        self.ready_since
            .retain(|id, _| services.iter().any(|s| &s.id == id));
        policy::order::sort(&mut services, &self.prefs);

        let readiness = policy::readiness::readiness_map(&interfaces);
        let manager = ManagerInfo {
            state: policy::state::manager_state(self.offline_mode, &services),
            offline_mode: self.offline_mode,
            connectivity: policy::readiness::connectivity(&readiness),
        };
        let technologies = vec![Technology {
            kind: TechnologyKind::Ethernet,
            powered: true,
            connected: policy::state::technology_connected(TechnologyKind::Ethernet, &services),
            tethering: false,
        }];
        let interfaces: Vec<InterfaceView> = interfaces
            .into_iter()
            .map(|i| InterfaceView {
                readiness: readiness.get(&i.name).copied().unwrap_or_default(),
                service_id: services
                    .iter()
                    .find(|s| s.interface == i.name)
                    .map(|s| s.id.clone()),
                interface: i,
            })
            .collect();

        let old = self.published.clone();
        let mut next = Snapshot {
            seq: old.seq,
            manager,
            technologies,
            services,
            interfaces,
        };
        let metrics = plan::metrics(&next);
        for s in next.services.iter_mut().filter(|s| s.managed) {
            s.route_metric = metrics.get(&s.id).copied();
        }
        let mut events = super::diff::events(&old, &next);
        events.append(&mut self.extra_events);
        if !events.is_empty() {
            next.seq += 1;
            events.iter().for_each(super::diff::log);
            // No receivers is fine: nobody is watching.
            let _ = self.events_tx.send(Arc::new(EventBatch {
                seq: next.seq,
                events,
            }));
        }
        self.published = Arc::new(next);
        self.snapshot_tx.send_replace(self.published.clone());
        self.sessions.update(&self.published.services);
    }
}
