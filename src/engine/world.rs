//! The engine task: owns interfaces, routes, services and sessions; recomputes and publishes
//! after every input.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, watch};

use super::handle::{service_id, Command, EngineHandle};
use super::sessions::Sessions;
use super::{EngineError, EventBatch, InterfaceView, ManagerInfo, Snapshot};
use crate::config::Config;
use crate::model::{Interface, ServiceId, Technology, TechnologyKind};
use crate::net::netlink::{DefaultRoute, Link, NetEvent};
use crate::policy::{self, order::OrderPreferences};
use crate::tech::ethernet;

/// Capacity of the command and backend-event channels: senders wait when the engine is busy.
const QUEUE: usize = 64;
/// Event batches a slow watcher may fall behind before it gets a fresh snapshot instead.
const EVENT_BACKLOG: usize = 256;

/// Starts the engine. Returns the handle for the API and the sender backends report kernel
/// events on.
pub fn spawn(
    config: &Config,
) -> (
    EngineHandle,
    mpsc::Sender<NetEvent>,
    tokio::task::JoinHandle<()>,
) {
    let (commands_tx, commands) = mpsc::channel(QUEUE);
    let (net_tx, net) = mpsc::channel(QUEUE);
    let (snapshot_tx, snapshot_rx) = watch::channel(Arc::new(Snapshot::default()));
    let (events_tx, _) = broadcast::channel(EVENT_BACKLOG);
    let (stopping_tx, stopping_rx) = watch::channel(false);
    let mut world = World {
        ignored_prefixes: config.ignored_interfaces.clone(),
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
        published: Arc::new(Snapshot::default()),
        snapshot_tx,
        events_tx: events_tx.clone(),
        sessions: Sessions::default(),
    };
    world.publish();
    let handle = EngineHandle {
        commands: commands_tx,
        snapshot: snapshot_rx,
        events: events_tx,
        stopping: stopping_rx,
    };
    let task = tokio::spawn(async move { world.run(commands, net, stopping_tx).await });
    (handle, net_tx, task)
}

pub(super) struct World {
    ignored_prefixes: Vec<String>,
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
    published: Arc<Snapshot>,
    snapshot_tx: watch::Sender<Arc<Snapshot>>,
    events_tx: broadcast::Sender<Arc<EventBatch>>,
    pub(super) sessions: Sessions,
}

impl World {
    async fn run(
        &mut self,
        mut commands: mpsc::Receiver<Command>,
        mut net: mpsc::Receiver<NetEvent>,
        stopping: watch::Sender<bool>,
    ) {
        loop {
            tokio::select! {
                Some(event) = net.recv() => self.on_net_event(event),
                command = commands.recv() => match command {
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
            self.publish();
        }
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
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::SetOfflineMode(on, reply) => {
                self.offline_mode = on;
                self.publish();
                let _ = reply.send(Ok(self.published.manager));
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
                    self.publish();
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

    fn move_service(
        &mut self,
        id: &str,
        anchor: &str,
        after: bool,
    ) -> Result<Vec<crate::model::Service>, EngineError> {
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
        self.publish();
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
                    .unwrap_or_else(|| {
                        self.ignored_prefixes
                            .iter()
                            .any(|p| !p.is_empty() && l.name.starts_with(p.as_str()))
                    }),
            })
            .collect()
    }

    /// Recomputes the world from the inputs and publishes what changed.
    pub(super) fn publish(&mut self) {
        self.clock += 1;
        let routes: Vec<DefaultRoute> = self.routes.iter().copied().collect();
        let interfaces = self.interfaces();
        let mut services: Vec<_> = interfaces
            .iter()
            .filter_map(|i| ethernet::service_for(i, &routes))
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
        let events = super::diff::events(&old, &next);
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
