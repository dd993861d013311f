//! Makes the kernel look as the engine's plan says on managed links: admin state, MTU, IPv6
//! sysctls, addresses (with the lease's lifetimes) and routes. DNS is [`super::dns`]'s.
//!
//! Addresses and routes are reconciled against the kernel, not against the last plan: each
//! pass reads what is there, adds only what is missing and removes only what netpilot
//! added (tagged [`PROTOCOL`]) that the plan no longer lists. A pass runs when the plan
//! changes, when the kernel reports a change of links, addresses or routes (so what
//! another process removed comes back at once, logged as restored), and after a failure,
//! with backoff ([`RETRY_MIN`] doubling to [`RETRY_MAX`]). Additions go before removals,
//! so a new route metric is "add the new route, then delete the old one" (no gap).
//!
//! Link admin state, MTU and IPv6 sysctls are set when the plan asks for a new value (and
//! retried until that succeeds): a user's `ip link set … down` is the user's decision, which
//! the engine sees as a kernel event.
//!
//! What an earlier run left is not removed blindly: at the first complete plan the applier
//! notes the tagged addresses and routes already there. Those the plan lists are kept as
//! they are (no blip); the others go, except on a link whose DHCP client is still asking
//! for its first lease (INIT-REBOOT from the lease file), where they stay until it answers.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use futures_util::{FutureExt, StreamExt, TryStreamExt};
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressMessage, AddressProtocol, CacheInfo,
};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
};
use rtnetlink::{Handle, LinkUnspec, MulticastGroup, RouteMessageBuilder};
use tokio::sync::watch;

use super::netlink::display_chain;

/// Protocol number on every address (IFA_PROTO) and route (RTM_PROTOCOL) netpilot adds, so
/// a restarted daemon finds what an earlier run left behind, and `ip` shows whose they are
/// ("proto 211").
pub const PROTOCOL: u8 = 211;

/// First wait before a failed pass is tried again.
pub const RETRY_MIN: Duration = Duration::from_millis(500);
/// Longest wait between attempts.
pub const RETRY_MAX: Duration = Duration::from_secs(30);

/// The kernel's "forever" lifetime (INFINITY_LIFE_TIME).
const FOREVER: u32 = u32::MAX;

/// One route netpilot wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PlannedRoute {
    /// Destination network.
    pub destination: IpAddr,
    /// Destination prefix length (0 = default route).
    pub prefix_len: u8,
    /// Next hop; `None` for an on-link (scope link) route.
    pub gateway: Option<IpAddr>,
    /// Route metric.
    pub metric: u32,
}

impl std::fmt::Display for PlannedRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.prefix_len == 0 {
            f.write_str("default")?;
        } else {
            write!(f, "{}/{}", self.destination, self.prefix_len)?;
        }
        if let Some(gw) = self.gateway {
            write!(f, " via {gw}")?;
        }
        write!(f, " metric {}", self.metric)
    }
}

/// One address netpilot wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PlannedAddress {
    /// The address.
    pub address: IpAddr,
    /// Prefix length.
    pub prefix_len: u8,
    /// When its valid and preferred lifetimes end (a DHCP lease's end, RFC 2131 §4.4.5): the
    /// kernel removes the address then, even if netpilot hangs. `None`: forever (a static
    /// address, an infinite lease).
    pub valid_until: Option<Instant>,
}

/// IPv6 mode of a link, applied through /proc/sys/net/ipv6/conf/<if>/.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv6Mode {
    /// SLAAC from router advertisements (accept_ra=2, autoconf=1).
    Slaac,
    /// Static only (accept_ra=0, autoconf=0).
    Static,
    /// IPv6 disabled (disable_ipv6=1).
    Disabled,
}

/// What one managed link should look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkPlan {
    /// Interface name (for sysctls and logs).
    pub ifname: String,
    /// Set the link up (`Some(true)`) or down (`Some(false)`); `None` leaves its admin state
    /// as it is (the user's).
    pub admin: Option<bool>,
    /// Addresses netpilot wants on the link.
    pub addresses: Vec<PlannedAddress>,
    /// Routes netpilot wants through the link.
    pub routes: Vec<PlannedRoute>,
    /// IPv6 mode.
    pub ipv6: Ipv6Mode,
    /// MTU in bytes: the lease's (DHCP option 26) or the link's own.
    pub mtu: u32,
    /// Nameservers of the link's connected service (resolved backend).
    pub nameservers: Vec<IpAddr>,
    /// Search domains of the link's connected service (resolved backend).
    pub domains: Vec<String>,
    /// Remove nothing from this link for now (a DHCPRELEASE is on its way; the address
    /// and routes go after it). Additions still happen.
    pub hold: bool,
    /// The link's DHCP client is asking for its first lease since the daemon started: what
    /// an earlier run left on the link stays until it has an answer.
    pub awaiting_lease: bool,
}

/// Everything netpilot wants from the kernel and the resolver.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetPlan {
    /// Managed links by ifindex.
    pub links: BTreeMap<u32, LinkPlan>,
    /// resolv.conf content; `None` leaves the file alone.
    pub resolv_conf: Option<String>,
    /// Built after the engine has seen a full kernel dump. Until then the applier changes
    /// nothing (an empty plan at start-up must not remove what an earlier run left).
    pub complete: bool,
    /// Routing per session: tables, rules and marks ([`super::steer`]).
    pub steering: super::steer::SteerPlan,
}

/// Why the applier could not start.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Opening a netlink socket failed.
    #[error("open rtnetlink socket for the applier")]
    Open(#[source] std::io::Error),
}

/// Starts the applier: it makes every new plan from `plans` true and keeps it true. The task
/// ends when the plan's sender is gone, or (logged) when its netlink socket closes.
pub fn spawn(plans: watch::Receiver<NetPlan>) -> Result<tokio::task::JoinHandle<()>, ApplyError> {
    let (conn, handle, _) = rtnetlink::new_connection().map_err(ApplyError::Open)?;
    tokio::spawn(conn);
    let groups = [
        MulticastGroup::Link,
        MulticastGroup::Ipv4Ifaddr,
        MulticastGroup::Ipv6Ifaddr,
        MulticastGroup::Ipv4Route,
        MulticastGroup::Ipv6Route,
        MulticastGroup::Ipv4Rule,
        MulticastGroup::Ipv6Rule,
    ];
    let (monitor, _, kernel) =
        rtnetlink::new_multicast_connection(&groups).map_err(ApplyError::Open)?;
    tokio::spawn(monitor);
    let applier = Applier {
        handle,
        links_set: BTreeMap::new(),
        lifetimes: BTreeMap::new(),
        confirmed: BTreeSet::new(),
        leftovers: None,
        retry: RETRY_MIN,
        retry_at: None,
        last_actions: Vec::new(),
        steerer: super::steer::Steerer::default(),
    };
    Ok(tokio::spawn(applier.run(plans, kernel.boxed())))
}

/// An address or route on one link, as compared with the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Item {
    Address {
        index: u32,
        address: IpAddr,
        prefix_len: u8,
    },
    Route {
        index: u32,
        route: PlannedRoute,
    },
}

impl Item {
    fn index(&self) -> u32 {
        match self {
            Item::Address { index, .. } | Item::Route { index, .. } => *index,
        }
    }
}

/// One change a pass makes.
#[derive(Debug, Clone, PartialEq)]
enum Action {
    AddAddress {
        index: u32,
        address: PlannedAddress,
        restore: bool,
    },
    AddRoute {
        index: u32,
        route: PlannedRoute,
        restore: bool,
    },
    DeleteRoute(Item, RouteMessage),
    DeleteAddress(Item, AddressMessage),
}

/// What the kernel has now: every address, and every main-table route with an output
/// interface, each with its message (for deletion) and whether netpilot's tag is on it;
/// and the routes in netpilot's session tables, by (table, ifindex, route).
#[derive(Default)]
struct KernelState {
    addresses: BTreeMap<Item, (bool, AddressMessage)>,
    routes: BTreeMap<Item, (bool, RouteMessage)>,
    tables: BTreeMap<(u32, u32, PlannedRoute), RouteMessage>,
}

/// Why a pass runs: only a kernel change (no new plan) means the last pass's actions did
/// not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    Plan,
    Kernel,
    Retry,
}

/// A link's admin state, MTU and IPv6 mode as last set.
type LinkSet = (Option<bool>, Option<u32>, Option<Ipv6Mode>);

struct Applier {
    handle: Handle,
    /// Admin state, MTU and IPv6 mode last set successfully, by ifindex.
    links_set: BTreeMap<u32, LinkSet>,
    /// Addresses netpilot set in this run, with the lifetime end they were given.
    lifetimes: BTreeMap<Item, Option<Instant>>,
    /// Items seen in place as planned: missing later means someone else removed them.
    confirmed: BTreeSet<Item>,
    /// What an earlier run left, noted at the first complete plan.
    leftovers: Option<BTreeSet<Item>>,
    retry: Duration,
    retry_at: Option<tokio::time::Instant>,
    /// The previous pass's changes, to notice a kernel that keeps undoing them.
    last_actions: Vec<Action>,
    /// Routing per session.
    steerer: super::steer::Steerer,
}

/// The applier's multicast messages (links, addresses, routes): only their arrival matters.
type KernelMessages = futures_util::stream::BoxStream<
    'static,
    (
        rtnetlink::packet_core::NetlinkMessage<rtnetlink::packet_route::RouteNetlinkMessage>,
        rtnetlink::sys::SocketAddr,
    ),
>;

impl Applier {
    async fn run(mut self, mut plans: watch::Receiver<NetPlan>, mut kernel: KernelMessages) {
        let mut cause = Cause::Plan;
        loop {
            let plan = plans.borrow_and_update().clone();
            self.pass(&plan, cause).await;
            cause = tokio::select! {
                changed = plans.changed() => match changed {
                    Ok(()) => Cause::Plan,
                    Err(_) => return,
                },
                message = kernel.next() => match message {
                    Some(_) => {
                        // A burst is one pass.
                        while let Some(Some(_)) = kernel.next().now_or_never() {}
                        Cause::Kernel
                    }
                    None => {
                        tracing::error!("the applier's netlink monitor socket closed; kernel changes are no longer noticed");
                        return;
                    }
                },
                _ = sleep_until(self.retry_at) => Cause::Retry,
            };
        }
    }

    /// One reconciliation: link settings, then addresses and routes against the kernel.
    async fn pass(&mut self, plan: &NetPlan, cause: Cause) {
        if !plan.complete {
            return;
        }
        let mut failed = self.set_links(plan).await;
        let kernel = match self.read_kernel(&plan.steering.config).await {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(error = %display_chain(&e), "read addresses and routes from the kernel");
                self.failed(true);
                return;
            }
        };
        if self.leftovers.is_none() {
            let addresses = kernel.addresses.iter().map(|(i, (ours, _))| (i, ours));
            let routes = kernel.routes.iter().map(|(i, (ours, _))| (i, ours));
            let found: BTreeSet<Item> = addresses
                .chain(routes)
                .filter(|(_, ours)| **ours)
                .map(|(item, _)| *item)
                .collect();
            if !found.is_empty() {
                tracing::info!(
                    count = found.len(),
                    "found addresses and routes an earlier run added; keeping those still wanted"
                );
            }
            self.leftovers = Some(found);
        }
        let actions = self.actions(plan, &kernel);
        if !actions.is_empty() && cause == Cause::Kernel && actions == self.last_actions {
            // The same changes again, with no new plan: something undoes them at once.
            // Waiting (backoff) keeps this from becoming a busy loop.
            tracing::warn!(
                ?actions,
                "the kernel does not keep netpilot's changes; trying again later"
            );
            failed = true;
        } else {
            for action in &actions {
                failed |= !self.carry_out(plan, action).await;
            }
        }
        self.last_actions = actions;
        // Routing per session after the main table: its routes need the addresses and
        // gateways just set, and removing it (an nft run) must not hold up an address
        // that has to go.
        failed |= !self
            .steerer
            .reconcile(
                &self.handle,
                &plan.steering,
                &kernel.tables,
                cause == Cause::Kernel,
            )
            .await;
        self.failed(failed);
    }

    fn failed(&mut self, failed: bool) {
        if failed {
            self.retry_at = Some(tokio::time::Instant::now() + self.retry);
            self.retry = (self.retry * 2).min(RETRY_MAX);
        } else {
            self.retry_at = None;
            self.retry = RETRY_MIN;
        }
    }

    /// Sets admin state, MTU and IPv6 mode where the plan asks for a value not yet set.
    /// Returns whether something failed.
    async fn set_links(&mut self, plan: &NetPlan) -> bool {
        self.links_set
            .retain(|index, _| plan.links.contains_key(index));
        let mut failed = false;
        for (index, want) in &plan.links {
            let set = self.links_set.entry(*index).or_default();
            if let Some(up) = want.admin.filter(|up| set.0 != Some(*up)) {
                let msg = if up {
                    LinkUnspec::new_with_index(*index).up()
                } else {
                    LinkUnspec::new_with_index(*index).down()
                };
                tracing::info!(interface = %want.ifname, up, "set link state");
                match self.handle.link().set(msg.build()).execute().await {
                    Ok(()) => set.0 = Some(up),
                    Err(e) => {
                        let object = format!("{} up={up}", want.ifname);
                        failed |= !ok_or_warn("set link state", &object, e);
                    }
                }
            }
            if set.1 != Some(want.mtu) {
                let msg = LinkUnspec::new_with_index(*index).mtu(want.mtu).build();
                match self.handle.link().set(msg).execute().await {
                    Ok(()) => set.1 = Some(want.mtu),
                    Err(e) => {
                        let object = format!("{} mtu {}", want.ifname, want.mtu);
                        failed |= !ok_or_warn("set MTU", &object, e);
                    }
                }
            }
            if set.2 != Some(want.ipv6) {
                if set_ipv6_mode(&want.ifname, want.ipv6) {
                    set.2 = Some(want.ipv6);
                } else {
                    failed = true;
                }
            }
        }
        failed
    }

    async fn read_kernel(
        &self,
        steering: &super::steer::SteerConfig,
    ) -> Result<KernelState, rtnetlink::Error> {
        let mut state = KernelState::default();
        let addresses: Vec<AddressMessage> =
            self.handle.address().get().execute().try_collect().await?;
        for msg in addresses {
            if let Some(item) = address_item(&msg) {
                let ours =
                    msg.attributes
                        .contains(&AddressAttribute::Protocol(AddressProtocol::Other(
                            PROTOCOL,
                        )))
                        || self.lifetimes.contains_key(&item);
                state.addresses.insert(item, (ours, msg));
            }
        }
        let mut routes: Vec<RouteMessage> = self
            .handle
            .route()
            .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
            .execute()
            .try_collect()
            .await?;
        let v6: Vec<RouteMessage> = self
            .handle
            .route()
            .get(RouteMessageBuilder::<Ipv6Addr>::new().build())
            .execute()
            .try_collect()
            .await?;
        routes.extend(v6);
        for msg in routes {
            match route_parts(&msg) {
                Some((table, item)) if table == u32::from(RouteHeader::RT_TABLE_MAIN) => {
                    let ours = msg.header.protocol == RouteProtocol::Other(PROTOCOL);
                    state.routes.insert(item, (ours, msg));
                }
                Some((table, Item::Route { index, route })) if steering.owns_table(table) => {
                    state.tables.insert((table, index, route), msg);
                }
                _ => {}
            }
        }
        Ok(state)
    }

    /// What this pass changes: additions first (addresses, then routes), then removals
    /// (routes, then addresses).
    fn actions(&mut self, plan: &NetPlan, kernel: &KernelState) -> Vec<Action> {
        let mut adds = Vec::new();
        let mut wanted = BTreeSet::new();
        for (&index, link) in &plan.links {
            for a in &link.addresses {
                let item = Item::Address {
                    index,
                    address: a.address,
                    prefix_len: a.prefix_len,
                };
                wanted.insert(item);
                let present = kernel.addresses.contains_key(&item);
                // Ours from an earlier run, or set in this run with other lifetimes.
                let refresh = present && self.lifetimes.get(&item) != Some(&a.valid_until);
                if !present || refresh {
                    adds.push(Action::AddAddress {
                        index,
                        address: *a,
                        restore: !present && self.confirmed.contains(&item),
                    });
                } else {
                    self.confirmed.insert(item);
                }
            }
        }
        for (&index, link) in &plan.links {
            for r in &link.routes {
                let item = Item::Route { index, route: *r };
                wanted.insert(item);
                if kernel.routes.contains_key(&item) {
                    self.confirmed.insert(item);
                } else {
                    adds.push(Action::AddRoute {
                        index,
                        route: *r,
                        restore: self.confirmed.contains(&item),
                    });
                }
            }
        }
        self.confirmed.retain(|i| wanted.contains(i));
        let leftovers = self.leftovers.get_or_insert_with(BTreeSet::new);
        leftovers.retain(|i| !wanted.contains(i));
        let keep = |item: &Item| {
            plan.links
                .get(&item.index())
                .is_some_and(|l| l.hold || (l.awaiting_lease && leftovers.contains(item)))
        };
        let mut removals = Vec::new();
        for (item, (ours, msg)) in &kernel.routes {
            if *ours && !wanted.contains(item) && !keep(item) {
                removals.push(Action::DeleteRoute(*item, msg.clone()));
            }
        }
        for (item, (ours, msg)) in &kernel.addresses {
            if *ours && !wanted.contains(item) && !keep(item) {
                removals.push(Action::DeleteAddress(*item, msg.clone()));
            }
        }
        // What is neither kept nor in the kernel any more is no longer a leftover.
        leftovers.retain(|i| kernel.addresses.contains_key(i) || kernel.routes.contains_key(i));
        // An address the kernel dropped (lifetime ended, link gone) is no longer ours: the
        // same address added later by someone else stays theirs.
        self.lifetimes
            .retain(|i, _| kernel.addresses.contains_key(i));
        adds.extend(removals);
        adds
    }

    /// Carries out one action; returns whether it succeeded (or was already done).
    async fn carry_out(&mut self, plan: &NetPlan, action: &Action) -> bool {
        let name = |index: &u32| {
            plan.links
                .get(index)
                .map_or_else(|| format!("ifindex {index}"), |l| l.ifname.clone())
        };
        match action {
            Action::AddAddress {
                index,
                address: a,
                restore,
            } => {
                let ifname = name(index);
                let object = format!("{}/{} on {ifname}", a.address, a.prefix_len);
                let lifetime = a.valid_until.map(|end| {
                    let left = end.saturating_duration_since(Instant::now());
                    // Rounded up: the kernel counts whole seconds, 0 would mean gone.
                    u32::try_from(left.as_secs() + u64::from(left.subsec_nanos() > 0))
                        .unwrap_or(FOREVER - 1)
                        .clamp(1, FOREVER - 1)
                });
                if *restore {
                    tracing::warn!(interface = %ifname, "restoring address {}/{}: it was removed outside netpilot", a.address, a.prefix_len);
                } else {
                    tracing::info!(interface = %ifname, lifetime_s = ?lifetime, "set address {}/{}", a.address, a.prefix_len);
                }
                let mut request = self
                    .handle
                    .address()
                    .add(*index, a.address, a.prefix_len)
                    .replace();
                let message = request.message_mut();
                message
                    .attributes
                    .push(AddressAttribute::Protocol(AddressProtocol::Other(PROTOCOL)));
                let mut info = CacheInfo::default();
                info.ifa_valid = lifetime.unwrap_or(FOREVER);
                info.ifa_preferred = lifetime.unwrap_or(FOREVER);
                message.attributes.push(AddressAttribute::CacheInfo(info));
                match request.execute().await {
                    Ok(()) => {
                        let item = Item::Address {
                            index: *index,
                            address: a.address,
                            prefix_len: a.prefix_len,
                        };
                        self.lifetimes.insert(item, a.valid_until);
                        true
                    }
                    Err(e) => ok_or_warn("add address", &object, e),
                }
            }
            Action::AddRoute {
                index,
                route,
                restore,
            } => {
                let ifname = name(index);
                if *restore {
                    tracing::warn!(interface = %ifname, "restoring route {route} dev {ifname}: it was removed outside netpilot");
                } else {
                    tracing::info!(interface = %ifname, "add route {route}");
                }
                let result = self
                    .handle
                    .route()
                    .add(route_message(*index, route))
                    .replace()
                    .execute()
                    .await;
                match result {
                    Ok(()) => true,
                    Err(e) => ok_or_warn("add route", &format!("{route} dev {ifname}"), e),
                }
            }
            Action::DeleteRoute(item, msg) => {
                let ifname = name(&item.index());
                let text = match item {
                    Item::Route { route, .. } => route.to_string(),
                    Item::Address { .. } => String::new(),
                };
                tracing::info!(interface = %ifname, "delete route {text}");
                match self.handle.route().del(msg.clone()).execute().await {
                    Ok(()) => true,
                    Err(e) => ok_or_warn("delete route", &format!("{text} dev {ifname}"), e),
                }
            }
            Action::DeleteAddress(item, msg) => {
                let ifname = name(&item.index());
                let text = match item {
                    Item::Address {
                        address,
                        prefix_len,
                        ..
                    } => format!("{address}/{prefix_len}"),
                    Item::Route { .. } => String::new(),
                };
                tracing::info!(interface = %ifname, "delete address {text}");
                self.lifetimes.remove(item);
                match self.handle.address().del(msg.clone()).execute().await {
                    Ok(()) => true,
                    Err(e) => ok_or_warn("delete address", &format!("{text} on {ifname}"), e),
                }
            }
        }
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Logs a failed step; EEXIST on add and ESRCH/EADDRNOTAVAIL/ENODEV on delete mean
/// "already as wanted" and count as success. Returns whether it counts as success.
fn ok_or_warn(action: &str, object: &str, e: rtnetlink::Error) -> bool {
    if let rtnetlink::Error::NetlinkError(ref m) = e {
        if matches!(m.raw_code(), -17 | -3 | -99 | -19) {
            tracing::debug!(%object, "{action}: already done ({})", m.raw_code());
            return true;
        }
    }
    tracing::warn!(%object, error = %display_chain(&e), "{action} failed; will retry");
    false
}

fn address_item(msg: &AddressMessage) -> Option<Item> {
    let mut local = None;
    let mut address = None;
    for attr in &msg.attributes {
        match attr {
            AddressAttribute::Local(a) => local = Some(*a),
            AddressAttribute::Address(a) => address = Some(*a),
            _ => {}
        }
    }
    Some(Item::Address {
        index: msg.header.index,
        address: local.or(address)?,
        prefix_len: msg.header.prefix_len,
    })
}

/// A main-table unicast route with one output interface, as a [`PlannedRoute`].
#[cfg(test)]
fn route_item(msg: &RouteMessage) -> Option<Item> {
    route_parts(msg)
        .filter(|(table, _)| *table == u32::from(RouteHeader::RT_TABLE_MAIN))
        .map(|(_, item)| item)
}

/// A unicast route with one output interface: its table, and it as a [`PlannedRoute`].
fn route_parts(msg: &RouteMessage) -> Option<(u32, Item)> {
    let header = &msg.header;
    let mut table = u32::from(header.table);
    let mut index = None;
    let mut metric = 0;
    let mut gateway = None;
    let mut destination = None;
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Oif(i) => index = Some(*i),
            RouteAttribute::Priority(p) => metric = *p,
            RouteAttribute::Gateway(a) => gateway = route_address(a),
            RouteAttribute::Destination(a) => destination = route_address(a),
            _ => {}
        }
    }
    let unspecified = match header.address_family {
        rtnetlink::packet_route::AddressFamily::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        rtnetlink::packet_route::AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => return None,
    };
    Some((
        table,
        Item::Route {
            index: index?,
            route: PlannedRoute {
                destination: destination.unwrap_or(unspecified),
                prefix_len: header.destination_prefix_length,
                gateway,
                metric,
            },
        },
    ))
}

fn route_address(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(a) => Some(IpAddr::V4(*a)),
        RouteAddress::Inet6(a) => Some(IpAddr::V6(*a)),
        _ => None,
    }
}

fn route_message(index: u32, r: &PlannedRoute) -> RouteMessage {
    let scope = if r.gateway.is_some() {
        RouteScope::Universe
    } else {
        RouteScope::Link
    };
    match (r.destination, r.gateway) {
        (IpAddr::V4(dst), gw) => {
            let mut b = RouteMessageBuilder::<Ipv4Addr>::new()
                .destination_prefix(dst, r.prefix_len)
                .output_interface(index)
                .priority(r.metric)
                .protocol(RouteProtocol::Other(PROTOCOL))
                .scope(scope);
            if let Some(IpAddr::V4(g)) = gw {
                b = b.gateway(g);
            }
            b.build()
        }
        (IpAddr::V6(dst), gw) => {
            let mut b = RouteMessageBuilder::<Ipv6Addr>::new()
                .destination_prefix(dst, r.prefix_len)
                .output_interface(index)
                .priority(r.metric)
                .protocol(RouteProtocol::Other(PROTOCOL))
                .scope(scope);
            if let Some(IpAddr::V6(g)) = gw {
                b = b.gateway(g);
            }
            b.build()
        }
    }
}

/// Writes the IPv6 sysctls of a mode; returns whether all were written.
fn set_ipv6_mode(ifname: &str, mode: Ipv6Mode) -> bool {
    let (disable, accept_ra, autoconf) = match mode {
        Ipv6Mode::Slaac => ("0", "2", "1"),
        Ipv6Mode::Static => ("0", "0", "0"),
        Ipv6Mode::Disabled => ("1", "0", "0"),
    };
    let dir = std::path::Path::new("/proc/sys/net/ipv6/conf").join(ifname);
    let mut ok = true;
    for (key, value) in [
        ("disable_ipv6", disable),
        ("accept_ra", accept_ra),
        ("autoconf", autoconf),
    ] {
        let path = dir.join(key);
        if let Err(e) = std::fs::write(&path, value) {
            tracing::warn!(path = %path.display(), error = %e, "set IPv6 sysctl failed; will retry");
            ok = false;
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_read_like_ip_route() {
        let r = PlannedRoute {
            destination: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            prefix_len: 0,
            gateway: Some("198.18.1.1".parse().expect("ip")),
            metric: 100,
        };
        assert_eq!(r.to_string(), "default via 198.18.1.1 metric 100");
        let onlink = PlannedRoute {
            destination: "198.18.6.1".parse().expect("ip"),
            prefix_len: 32,
            gateway: None,
            metric: 110,
        };
        assert_eq!(onlink.to_string(), "198.18.6.1/32 metric 110");
    }

    #[test]
    fn a_route_message_reads_back_as_the_same_item() {
        for r in [
            PlannedRoute {
                destination: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                prefix_len: 0,
                gateway: Some("198.18.1.1".parse().expect("ip")),
                metric: 100,
            },
            PlannedRoute {
                destination: "198.18.6.1".parse().expect("ip"),
                prefix_len: 32,
                gateway: None,
                metric: 110,
            },
            PlannedRoute {
                destination: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                prefix_len: 0,
                gateway: Some("2001:db8::1".parse().expect("ip")),
                metric: 100,
            },
        ] {
            assert_eq!(
                route_item(&route_message(7, &r)),
                Some(Item::Route { index: 7, route: r })
            );
        }
    }
}
