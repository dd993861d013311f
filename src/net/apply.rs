//! Applies what the engine wants on managed links: admin state, MTU, addresses, routes,
//! IPv6 sysctls, and DNS (resolv.conf or systemd-resolved). It compares the wanted plan
//! with what it applied before and changes only the difference, so a new route metric is
//! "add the new route, then delete the old one" (no gap), and it removes only what it
//! added. Failures are logged with the action and object, and the rest of the plan still
//! goes through.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

use rtnetlink::packet_route::address::{AddressAttribute, AddressProtocol};
use rtnetlink::packet_route::route::{RouteMessage, RouteProtocol, RouteScope};
use rtnetlink::{Handle, LinkUnspec, RouteMessageBuilder};
use tokio::sync::watch;

use super::netlink::display_chain;
use super::resolv;

/// Protocol number on every address (IFA_PROTO) and route (RTM_PROTOCOL) netpilot adds, so
/// a restarted daemon finds what an earlier run left behind, and `ip` shows whose they are
/// ("proto 211").
pub const PROTOCOL: u8 = 211;

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
    pub addresses: Vec<(IpAddr, u8)>,
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
}

/// Where nameservers go.
pub enum DnsSink {
    /// resolv.conf at this path.
    File(PathBuf),
    /// systemd-resolved, per link.
    Resolved(super::resolved::Resolved),
}

impl DnsSink {
    /// systemd-resolved when `use_resolved` and it is on the system bus, else the file
    /// (logged), so a device without resolved still gets DNS.
    pub async fn open(use_resolved: bool, resolv_conf: PathBuf) -> Self {
        if use_resolved {
            match super::resolved::Resolved::connect().await {
                Ok(r) => return DnsSink::Resolved(r),
                Err(e) => {
                    tracing::warn!(error = %e, file = %resolv_conf.display(), "systemd-resolved not available; writing resolv.conf instead")
                }
            }
        }
        DnsSink::File(resolv_conf)
    }
}

/// Everything netpilot wants from the kernel and the resolver.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NetPlan {
    /// Managed links by ifindex.
    pub links: BTreeMap<u32, LinkPlan>,
    /// resolv.conf content; `None` leaves the file alone.
    pub resolv_conf: Option<String>,
}

/// Starts the applier: it applies every new plan from `plans`.
pub fn spawn(
    dns: DnsSink,
    mut plans: watch::Receiver<NetPlan>,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let (conn, handle, _) = rtnetlink::new_connection()?;
    tokio::spawn(conn);
    Ok(tokio::spawn(async move {
        remove_leftovers(&handle).await;
        let mut applied = NetPlan::default();
        loop {
            let plan = plans.borrow_and_update().clone();
            apply(&handle, &applied, &plan).await;
            apply_dns(&dns, &applied, &plan).await;
            applied = plan;
            if plans.changed().await.is_err() {
                return;
            }
        }
    }))
}

fn warn(action: &str, object: String, e: rtnetlink::Error) {
    // EEXIST on add and ESRCH/EADDRNOTAVAIL/ENODEV on delete mean "already as wanted".
    if let rtnetlink::Error::NetlinkError(ref m) = e {
        if matches!(m.raw_code(), -17 | -3 | -99 | -19) {
            tracing::debug!(%object, "{action}: already done ({})", m.raw_code());
            return;
        }
    }
    tracing::warn!(%object, error = %display_chain(&e), "{action} failed");
}

async fn apply(handle: &Handle, old: &NetPlan, new: &NetPlan) {
    for (index, want) in &new.links {
        let had = old.links.get(index);
        if let Some(up) = want
            .admin
            .filter(|up| had.and_then(|h| h.admin) != Some(*up))
        {
            let msg = if up {
                LinkUnspec::new_with_index(*index).up()
            } else {
                LinkUnspec::new_with_index(*index).down()
            };
            if let Err(e) = handle.link().set(msg.build()).execute().await {
                warn("set link state", format!("{} up={up}", want.ifname), e);
            }
        }
        if had.map(|h| h.mtu) != Some(want.mtu) {
            let msg = LinkUnspec::new_with_index(*index).mtu(want.mtu).build();
            if let Err(e) = handle.link().set(msg).execute().await {
                warn("set MTU", format!("{} mtu {}", want.ifname, want.mtu), e);
            }
        }
        if had.map(|h| h.ipv6) != Some(want.ipv6) {
            set_ipv6_mode(&want.ifname, want.ipv6);
        }
        for (addr, prefix) in &want.addresses {
            if !had.is_some_and(|h| h.addresses.contains(&(*addr, *prefix))) {
                tracing::info!(interface = %want.ifname, "add address {addr}/{prefix}");
                let mut request = handle.address().add(*index, *addr, *prefix);
                request
                    .message_mut()
                    .attributes
                    .push(AddressAttribute::Protocol(AddressProtocol::Other(PROTOCOL)));
                if let Err(e) = request.execute().await {
                    warn(
                        "add address",
                        format!("{addr}/{prefix} on {}", want.ifname),
                        e,
                    );
                }
            }
        }
        for route in &want.routes {
            if !had.is_some_and(|h| h.routes.contains(route)) {
                tracing::info!(interface = %want.ifname, ?route, "add route");
                if let Err(e) = handle
                    .route()
                    .add(route_message(*index, route))
                    .replace()
                    .execute()
                    .await
                {
                    warn("add route", format!("{route:?} via {}", want.ifname), e);
                }
            }
        }
    }
    // Removals after additions: traffic always has a route.
    for (index, had) in &old.links {
        let want = new.links.get(index);
        for route in &had.routes {
            if !want.is_some_and(|w| w.routes.contains(route)) {
                tracing::info!(interface = %had.ifname, ?route, "delete route");
                if let Err(e) = handle
                    .route()
                    .del(route_message(*index, route))
                    .execute()
                    .await
                {
                    warn("delete route", format!("{route:?} via {}", had.ifname), e);
                }
            }
        }
        for (addr, prefix) in &had.addresses {
            if !want.is_some_and(|w| w.addresses.contains(&(*addr, *prefix))) {
                tracing::info!(interface = %had.ifname, "delete address {addr}/{prefix}");
                if let Err(e) = delete_address(handle, *index, *addr, *prefix).await {
                    warn(
                        "delete address",
                        format!("{addr}/{prefix} on {}", had.ifname),
                        e,
                    );
                }
            }
        }
    }
}

async fn apply_dns(dns: &DnsSink, old: &NetPlan, new: &NetPlan) {
    match dns {
        DnsSink::File(path) => {
            if new.resolv_conf != old.resolv_conf {
                if let Some(content) = &new.resolv_conf {
                    match resolv::write(path, content) {
                        Ok(()) => tracing::info!(path = %path.display(), "resolv.conf updated"),
                        Err(e) => {
                            tracing::error!(path = %path.display(), error = %e, "write resolv.conf failed")
                        }
                    }
                }
            }
        }
        DnsSink::Resolved(resolved) => {
            let dns_of = |plan: &NetPlan, index: &u32| {
                plan.links
                    .get(index)
                    .map(|l| (l.nameservers.clone(), l.domains.clone()))
                    .unwrap_or_default()
            };
            let indexes: std::collections::BTreeSet<u32> =
                old.links.keys().chain(new.links.keys()).copied().collect();
            for index in indexes {
                let (was, is) = (dns_of(old, &index), dns_of(new, &index));
                if was == is {
                    continue;
                }
                let result = if is.0.is_empty() && is.1.is_empty() {
                    resolved.revert(index).await
                } else {
                    resolved.set_link(index, &is.0, &is.1).await
                };
                match result {
                    Ok(()) => {
                        tracing::info!(ifindex = index, nameservers = ?is.0, domains = ?is.1, "DNS pushed to systemd-resolved")
                    }
                    Err(e) => {
                        tracing::warn!(ifindex = index, error = %e, "push DNS to systemd-resolved failed")
                    }
                }
            }
        }
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

/// Removes the addresses and routes an earlier run added (tagged [`PROTOCOL`]): after a
/// crash or a configuration change while stopped they would be stale. The engine's first
/// plans add back what is still wanted.
async fn remove_leftovers(handle: &Handle) {
    use futures_util::TryStreamExt;
    let ours = RouteProtocol::Other(PROTOCOL);
    let mut routes: Vec<RouteMessage> = Vec::new();
    for dump in [
        handle
            .route()
            .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
            .execute()
            .try_collect::<Vec<_>>()
            .await,
        handle
            .route()
            .get(RouteMessageBuilder::<Ipv6Addr>::new().build())
            .execute()
            .try_collect::<Vec<_>>()
            .await,
    ] {
        match dump {
            Ok(found) => routes.extend(found.into_iter().filter(|r| r.header.protocol == ours)),
            Err(e) => tracing::warn!(error = %display_chain(&e), "dump routes to find leftovers"),
        }
    }
    for route in routes {
        tracing::info!(route = ?route.attributes, "removing a route an earlier run left");
        if let Err(e) = handle.route().del(route).execute().await {
            warn("delete leftover route", String::new(), e);
        }
    }
    let addresses = match handle
        .address()
        .get()
        .execute()
        .try_collect::<Vec<_>>()
        .await
    {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(error = %display_chain(&e), "dump addresses to find leftovers");
            return;
        }
    };
    let tagged = |a: &rtnetlink::packet_route::address::AddressMessage| {
        a.attributes
            .contains(&AddressAttribute::Protocol(AddressProtocol::Other(
                PROTOCOL,
            )))
    };
    for address in addresses.into_iter().filter(tagged) {
        tracing::info!(ifindex = address.header.index, attributes = ?address.attributes, "removing an address an earlier run left");
        if let Err(e) = handle.address().del(address).execute().await {
            warn("delete leftover address", String::new(), e);
        }
    }
}

async fn delete_address(
    handle: &Handle,
    index: u32,
    addr: IpAddr,
    prefix: u8,
) -> Result<(), rtnetlink::Error> {
    use futures_util::TryStreamExt;
    let mut found = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .set_address_filter(addr)
        .execute();
    while let Some(msg) = found.try_next().await? {
        if msg.header.prefix_len == prefix {
            handle.address().del(msg).execute().await?;
        }
    }
    Ok(())
}

fn set_ipv6_mode(ifname: &str, mode: Ipv6Mode) {
    let (disable, accept_ra, autoconf) = match mode {
        Ipv6Mode::Slaac => ("0", "2", "1"),
        Ipv6Mode::Static => ("0", "0", "0"),
        Ipv6Mode::Disabled => ("1", "0", "0"),
    };
    let dir = std::path::Path::new("/proc/sys/net/ipv6/conf").join(ifname);
    for (key, value) in [
        ("disable_ipv6", disable),
        ("accept_ra", accept_ra),
        ("autoconf", autoconf),
    ] {
        let path = dir.join(key);
        if let Err(e) = std::fs::write(&path, value) {
            tracing::warn!(path = %path.display(), error = %e, "set IPv6 sysctl failed");
        }
    }
}
