//! The engine task: the [`Manager`] owns the kernel's links, the services that backends
//! announce with their connections, the sessions and the agent. After every input it
//! settles the connections, publishes a snapshot with the events since the last one, and
//! hands the applier a new plan.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, watch};

use super::agent::Agents;
use super::connect::ParkedConnect;
use super::connection::{Connection, Reporters, Rules};
use super::handle::{Command, EngineHandle};
use super::input::{EventSender, Input};
use super::sessions::Sessions;
use super::technologies::TechState;
use super::{plan, view, Event, EventBatch, InterfaceView, ManagerInfo, Snapshot};
use crate::config::{Config, OnlineCheckMode};
use crate::model::{Credentials, Interface, InterfaceAddress, L2State, ServiceId};
use crate::net::apply::NetPlan;
use crate::net::netlink::{DefaultRoute, Link, NetEvent};
use crate::policy::{self, connection::Demotion, order::OrderPreferences};
use crate::store::{Loaded, Store};
use crate::tech::wifi::{self, WifiHandle};
use crate::tech::{self, ethernet::Ethernet, ServiceInfo};

/// Capacity of the engine's input queue: senders wait when the engine is busy.
const QUEUE: usize = 64;
/// Event batches a slow watcher may fall behind before it gets a fresh snapshot instead.
const EVENT_BACKLOG: usize = 256;

/// A running engine and the ends the daemon wires to the kernel monitor, backends and the
/// applier.
pub struct Engine {
    /// For the API.
    pub handle: EngineHandle,
    /// Where the rtnetlink monitor reports.
    pub kernel: EventSender<NetEvent>,
    /// Where technology backends report.
    pub backends: EventSender<tech::Event>,
    /// Where IPv6 DNS from router advertisements is reported.
    pub ra_dns: EventSender<crate::net::ndopt::RaDns>,
    /// What the applier should make true.
    pub plans: watch::Receiver<NetPlan>,
    /// What the engine asks of the Wi-Fi backend.
    pub wifi: mpsc::Receiver<wifi::Request>,
    /// What the engine asks of the access point backend.
    pub setup: mpsc::UnboundedReceiver<crate::setup::Request>,
    /// Where the access point backend and the setup page report.
    pub setup_events: EventSender<crate::setup::Event>,
    /// The engine task.
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts the engine with what the store held.
pub fn spawn(config: &Config, store: Store, loaded: Loaded) -> Engine {
    let (input_tx, input) = mpsc::channel(QUEUE);
    let (snapshot_tx, snapshot_rx) = watch::channel(Arc::new(Snapshot::default()));
    let (events_tx, _) = broadcast::channel(EVENT_BACKLOG);
    let (stopping_tx, stopping_rx) = watch::channel(false);
    let (plan_tx, plan_rx) = watch::channel(NetPlan::default());
    let (kernel_known_tx, kernel_known_rx) = watch::channel(false);
    let (wifi, wifi_rx) = WifiHandle::channel();
    let (setup, setup_rx) = crate::setup::SetupHandle::channel();
    let hostname = if config.dhcp.hostname.is_empty() {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default()
    } else {
        config.dhcp.hostname.clone()
    };
    let mut manager = Manager {
        config: config.clone(),
        hostname,
        prefs: OrderPreferences {
            technologies: config.preferred_technologies.clone(),
            user_order: vec![],
        },
        links: BTreeMap::new(),
        kernel_known: false,
        addresses: BTreeMap::new(),
        routes: BTreeSet::new(),
        ra_dns: BTreeMap::new(),
        ignore_overrides: BTreeMap::new(),
        offline_mode: false,
        ready_since: BTreeMap::new(),
        clock: 0,
        store,
        stored: loaded.services,
        credentials: loaded.credentials,
        technologies: TechState::initial(config, &loaded.technologies),
        wifi,
        devices: Default::default(),
        scans: BTreeMap::new(),
        next_scan: 0,
        ethernet: Ethernet::default(),
        services: BTreeMap::new(),
        original_mtu: BTreeMap::new(),
        reporters: Reporters {
            dhcp: EventSender::new(input_tx.clone()),
            online: EventSender::new(input_tx.clone()),
            timers: EventSender::new(input_tx.clone()),
        },
        extra_events: Vec::new(),
        published: Arc::new(Snapshot::default()),
        snapshot_tx,
        events_tx: events_tx.clone(),
        plan_tx,
        kernel_known_tx,
        sessions: Sessions::new(config.api.max_sessions_per_identity),
        agents: Agents::default(),
        setup: super::setup::SetupState::new(
            setup,
            EventSender::new(input_tx.clone()),
            loaded.tethering,
        ),
    };
    // The Wi-Fi backend starts powered: a stored "off" must reach it before it drives a
    // radio (scans, lists networks).
    if !manager.powered(crate::model::TechnologyKind::Wifi) {
        manager.wifi.send(wifi::Request::SetPowered(false));
    }
    manager.publish();
    let handle = EngineHandle {
        commands: input_tx.clone(),
        snapshot: snapshot_rx,
        events: events_tx,
        stopping: stopping_rx,
        kernel_known: kernel_known_rx,
    };
    Engine {
        handle,
        kernel: EventSender::new(input_tx.clone()),
        backends: EventSender::new(input_tx.clone()),
        ra_dns: EventSender::new(input_tx.clone()),
        plans: plan_rx,
        wifi: wifi_rx,
        setup: setup_rx,
        setup_events: EventSender::new(input_tx),
        task: tokio::spawn(async move { manager.run(input, stopping_tx).await }),
    }
}

/// One service a backend announced, with its connection when netpilot manages it.
pub(super) struct ServiceEntry {
    pub info: ServiceInfo,
    /// The backend's last L2 report.
    pub l2: L2State,
    pub connection: Option<Connection>,
}

/// The state owner (ConnMan's manager).
pub(super) struct Manager {
    pub config: Config,
    pub hostname: String,
    pub prefs: OrderPreferences,
    links: BTreeMap<u32, Link>,
    /// A full kernel dump has been taken in: plans are complete from now on.
    kernel_known: bool,
    addresses: BTreeMap<u32, Vec<InterfaceAddress>>,
    routes: BTreeSet<DefaultRoute>,
    /// IPv6 nameservers and search domains from router advertisements, by ifindex.
    ra_dns: BTreeMap<u32, crate::net::ndopt::RaDns>,
    /// UpdateInterface decisions by interface name; they beat the config's ignore list.
    pub ignore_overrides: BTreeMap<String, bool>,
    pub offline_mode: bool,
    /// When each connected service became ready, on the engine's step clock.
    ready_since: BTreeMap<ServiceId, u64>,
    clock: u64,
    pub store: Store,
    /// Stored configurations, also of services not present now.
    pub stored: BTreeMap<ServiceId, crate::model::ServiceConfig>,
    /// Stored credentials.
    pub credentials: BTreeMap<ServiceId, Credentials>,
    /// Each technology's devices, power and country.
    pub technologies: BTreeMap<crate::model::TechnologyKind, TechState>,
    /// The Wi-Fi (and wired 802.1X) backend.
    pub wifi: WifiHandle,
    /// The radios and 802.1X ports the backend was last told about.
    pub devices: (Vec<wifi::Radio>, Vec<wifi::WiredPort>),
    /// ScanTechnology calls waiting for their scan.
    pub scans:
        BTreeMap<wifi::ScanToken, tokio::sync::oneshot::Sender<Result<(), super::EngineError>>>,
    pub next_scan: u64,
    ethernet: Ethernet,
    pub services: BTreeMap<ServiceId, ServiceEntry>,
    /// The MTU of each managed netdev when netpilot took it over; restored when no lease
    /// sets one.
    pub original_mtu: BTreeMap<u32, u32>,
    pub reporters: Reporters,
    /// Events raised by handlers (timeouts, portals), published with the next batch.
    pub extra_events: Vec<Event>,
    pub published: Arc<Snapshot>,
    snapshot_tx: watch::Sender<Arc<Snapshot>>,
    events_tx: broadcast::Sender<Arc<EventBatch>>,
    plan_tx: watch::Sender<NetPlan>,
    /// Turns true once a snapshot built from a full kernel dump is published.
    kernel_known_tx: watch::Sender<bool>,
    pub sessions: Sessions,
    pub agents: Agents<ParkedConnect>,
    /// The setup access point and tethering.
    pub setup: super::setup::SetupState,
}

impl Manager {
    async fn run(&mut self, mut input: mpsc::Receiver<Input>, stopping: watch::Sender<bool>) {
        while let Some(first) = input.recv().await {
            // Everything already queued is taken in before one step, so decisions are never
            // made on half of a burst (a backend announcing several services).
            let mut next = Some(first);
            let mut taken = 0;
            let mut settle = false;
            while let Some(one) = next.take() {
                if let Input::Command(Command::Shutdown(done)) = one {
                    let _ = stopping.send(true);
                    self.sessions.release_all("shutdown");
                    let parked = self.agents.release("shutdown");
                    self.abandon_parked(parked, "the daemon is shutting down");
                    let _ = done.send(());
                    return;
                }
                settle |= !matches!(&one, Input::Command(c) if c.sessions_only());
                self.take(one);
                taken += 1;
                if taken < QUEUE {
                    next = input.try_recv().ok();
                }
            }
            // A session command changes no service: only its own session's view (done by the
            // command) and what routing per session needs.
            if settle {
                self.step();
            } else {
                self.steer();
            }
        }
    }

    /// Hands the applier a plan whose routing per session is up to date, when the
    /// sessions changed it.
    fn steer(&mut self) {
        if !std::mem::take(&mut self.sessions.steer_dirty) {
            return;
        }
        let steering = super::steering::plan(
            self.config.sessions.steer_config(),
            &self.sessions.carried,
            &self.published,
        );
        self.plan_tx.send_if_modified(|current| {
            let changed = current.steering != steering;
            if changed {
                current.steering = steering;
            }
            changed
        });
    }

    fn take(&mut self, input: Input) {
        match input {
            Input::Command(command) => self.on_command(command),
            Input::Kernel(event) => self.on_kernel(event),
            Input::Backend(event) => self.on_backend(event),
            Input::Dhcp(report) => self.on_dhcp(report),
            Input::Online(report) => self.on_online(report),
            Input::Timer(timer) => self.on_timer(timer),
            Input::Setup(event) => self.on_setup_event(event),
            Input::RaDns(dns) => {
                if dns.servers.is_empty() && dns.domains.is_empty() {
                    self.ra_dns.remove(&dns.ifindex);
                } else {
                    self.ra_dns.insert(dns.ifindex, dns);
                }
            }
        }
    }

    /// Publishes, settles the connections, publishes again if they changed, answers parked
    /// connects and hands the applier the plan.
    pub(super) fn step(&mut self) {
        self.publish();
        let setup_changed = self.setup_step();
        if self.drive() || setup_changed {
            self.publish();
        }
        self.answer_connects();
        let metrics = plan::metrics(&self.published);
        let mut next = plan::plan(&self.published, &self.managed_netdevs(), &metrics);
        next.complete = self.kernel_known;
        self.sessions.steer_dirty = false;
        next.steering = super::steering::plan(
            self.config.sessions.steer_config(),
            &self.sessions.carried,
            &self.published,
        );
        if self.kernel_known {
            self.kernel_known_tx
                .send_if_modified(|known| !std::mem::replace(known, true));
        }
        self.plan_tx.send_if_modified(|current| {
            let changed = *current != next;
            if changed {
                *current = next;
            }
            changed
        });
    }

    /// The rules connections follow: demotion by the continuous check, auto admin-down.
    pub(super) fn rules(&self) -> Rules {
        Rules {
            demotion: Demotion {
                after_misses: match self.config.online_check.mode {
                    OnlineCheckMode::Continuous => self.config.online_check.failures,
                    _ => 0,
                },
            },
            admin_down: self.config.connect.admin_down_on_timeout,
        }
    }

    fn on_kernel(&mut self, event: NetEvent) {
        match event {
            NetEvent::Dump {
                links,
                addresses,
                routes,
            } => {
                self.kernel_known = true;
                self.links = links.into_iter().map(|l| (l.index, l)).collect();
                self.addresses.clear();
                for (index, addr) in addresses {
                    self.addresses.entry(index).or_default().push(addr);
                }
                self.routes = routes.into_iter().collect();
            }
            NetEvent::LinkChanged(link) => {
                let set_up = self
                    .links
                    .get(&link.index)
                    .is_some_and(|old| !old.admin_up && link.admin_up);
                let index = link.index;
                self.links.insert(index, link);
                if set_up {
                    self.link_set_up(index);
                }
            }
            NetEvent::LinkRemoved(index) => {
                self.links.remove(&index);
                self.addresses.remove(&index);
                self.routes.retain(|r| r.index != index);
                self.original_mtu.remove(&index);
                self.ra_dns.remove(&index);
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
        self.sync_links();
    }

    /// Lets the Ethernet backend compare the links with what it announced, and tells the
    /// Wi-Fi backend which radios and 802.1X ports to drive.
    pub(super) fn sync_links(&mut self) {
        let interfaces = self.interfaces();
        let config = &self.config;
        let events = self.ethernet.sync(
            &interfaces,
            |i| config.is_managed(&i.name, &i.mac_string()),
            |i| config.is_ieee8021x(&i.name),
        );
        for event in events {
            self.on_backend(event);
        }
        self.sync_devices(&interfaces);
    }

    /// The kernel's links as interfaces, by ifindex.
    pub(super) fn interfaces(&self) -> Vec<Interface> {
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
                ignored: self.technology_ignored(l.kind)
                    || self
                        .ignore_overrides
                        .get(&l.name)
                        .copied()
                        .unwrap_or_else(|| self.config.is_ignored(&l.name)),
            })
            .collect()
    }

    /// Whether a link with this name exists.
    pub(super) fn has_link(&self, name: &str) -> bool {
        self.links.values().any(|l| l.name == name)
    }

    /// The MTU a netdev has now.
    pub(super) fn link_mtu(&self, index: u32) -> Option<u32> {
        self.links.get(&index).map(|l| l.mtu)
    }

    /// Every netdev netpilot manages, with the connection that uses it now: the one whose L2
    /// is up on it, or else the only service that uses it (an Ethernet link, even idle).
    fn managed_netdevs(&self) -> Vec<plan::ManagedNetdev<'_>> {
        let mut users: BTreeMap<u32, Vec<&Connection>> = BTreeMap::new();
        let mut active: BTreeMap<u32, &Connection> = BTreeMap::new();
        for entry in self.services.values() {
            let Some(c) = &entry.connection else { continue };
            if let Some(netdev) = entry.info.netdev {
                users.entry(netdev).or_default().push(c);
            }
            if let (L2State::Associated { ifindex }, true) = (entry.l2, c.state().has_link()) {
                active.insert(ifindex, c);
                users.entry(ifindex).or_default();
            }
        }
        users
            .into_iter()
            .filter_map(|(index, users)| {
                let link = self.links.get(&index)?;
                let sole = match users[..] {
                    [only] => Some(only),
                    _ => None,
                };
                Some(plan::ManagedNetdev {
                    index,
                    name: link.name.clone(),
                    original_mtu: self.original_mtu.get(&index).copied().unwrap_or(link.mtu),
                    connection: active.get(&index).copied().or(sole),
                    hold: users.iter().any(|c| c.releasing()),
                })
            })
            .collect()
    }

    /// Recomputes the snapshot from the state and publishes what changed.
    pub(super) fn publish(&mut self) {
        self.clock += 1;
        let routes: Vec<DefaultRoute> = self.routes.iter().copied().collect();
        let interfaces = self.interfaces();
        let by_index: BTreeMap<u32, &Interface> = interfaces.iter().map(|i| (i.index, i)).collect();
        let mut carried: BTreeMap<u32, ServiceId> = BTreeMap::new();
        let mut netdev_users: BTreeMap<u32, Vec<&ServiceId>> = BTreeMap::new();
        let mut services = Vec::with_capacity(self.services.len());
        for (id, entry) in &self.services {
            let carrier = match entry.l2 {
                L2State::Associated { ifindex } => {
                    carried.insert(ifindex, id.clone());
                    by_index.get(&ifindex).copied()
                }
                _ => None,
            };
            if let Some(netdev) = entry.info.netdev {
                netdev_users.entry(netdev).or_default().push(id);
            }
            let netdev = entry.info.netdev.and_then(|i| by_index.get(&i).copied());
            let ra_dns = carrier.and_then(|c| self.ra_dns.get(&c.index));
            let mut service = view::service(
                &entry.info,
                entry.connection.as_ref(),
                netdev.or(carrier),
                carrier,
                &routes,
                ra_dns,
            );
            if let Some(stored) = self.credentials.get(id) {
                service.credentials = stored.flags();
            }
            services.push(service);
        }
        for (netdev, users) in netdev_users {
            if let ([only], false) = (&users[..], carried.contains_key(&netdev)) {
                carried.insert(netdev, (*only).clone());
            }
        }
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

        let mut counted = interfaces.clone();
        self.setup.hide_ap_address(&mut counted);
        let readiness = policy::readiness::readiness_map(&counted);
        let manager = ManagerInfo {
            state: policy::state::manager_state(self.offline_mode, &services),
            offline_mode: self.offline_mode,
            connectivity: policy::readiness::connectivity(&readiness),
        };
        let technologies = self.technology_list(&services);
        let interfaces: Vec<InterfaceView> = interfaces
            .into_iter()
            .map(|i| InterfaceView {
                readiness: readiness.get(&i.name).copied().unwrap_or_default(),
                service_id: carried.get(&i.index).cloned(),
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
            setup: self.setup_status(),
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
        let services_changed = old.services != next.services;
        self.published = Arc::new(next);
        self.snapshot_tx.send_replace(self.published.clone());
        if services_changed {
            let entries = &self.services;
            let link_lost = |id: &ServiceId| {
                entries
                    .get(id)
                    .is_none_or(|e| !matches!(e.l2, L2State::Associated { .. }))
            };
            self.sessions.update(&self.published.services, &link_lost);
        }
    }
}
