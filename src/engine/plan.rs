//! What the kernel and resolver should look like, from the published snapshot and the
//! connections on managed netdevs: addresses, routes with metrics in service order, IPv6
//! mode, MTU, resolv.conf.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use super::connection::Connection;
use super::Snapshot;
use crate::model::{Ipv4Config, Ipv6Config, ServiceId};
use crate::net::apply::{Ipv6Mode, LinkPlan, NetPlan, PlannedAddress, PlannedRoute};
use crate::net::resolv;

/// Metric of the first connected service's default route; each later one adds
/// [`METRIC_STEP`].
pub const METRIC_BASE: u32 = 100;
/// Metric distance between consecutive connected services.
pub const METRIC_STEP: u32 = 10;

/// Route metrics of connected services, in service order: first = lowest.
pub fn metrics(snapshot: &Snapshot) -> BTreeMap<ServiceId, u32> {
    snapshot
        .services
        .iter()
        .filter(|s| s.state.is_connected())
        .enumerate()
        .map(|(rank, s)| (s.id.clone(), METRIC_BASE + METRIC_STEP * rank as u32))
        .collect()
}

fn in_subnet(a: Ipv4Addr, b: Ipv4Addr, prefix_len: u8) -> bool {
    let mask = if prefix_len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix_len))
    };
    u32::from(a) & mask == u32::from(b) & mask
}

/// A netdev netpilot manages, and the connection that uses it now: the one whose L2 is up
/// on it, or the only service that uses it (an Ethernet link, even when idle). A radio no
/// service is connected through has none.
pub(super) struct ManagedNetdev<'a> {
    pub index: u32,
    pub name: String,
    /// The MTU it had when netpilot took it over.
    pub original_mtu: u32,
    pub connection: Option<&'a Connection>,
    /// A connection on it is sending a DHCPRELEASE: remove nothing yet.
    pub hold: bool,
}

/// The plan for every managed netdev.
pub(super) fn plan(
    snapshot: &Snapshot,
    netdevs: &[ManagedNetdev<'_>],
    metrics: &BTreeMap<ServiceId, u32>,
) -> NetPlan {
    let mut links = BTreeMap::new();
    for netdev in netdevs {
        let c = netdev.connection;
        let mut addresses = Vec::new();
        let mut routes = Vec::new();
        let has_link = c.is_some_and(|c| c.state().has_link());
        if let Some(c) = c.filter(|_| has_link) {
            if let Some((a, p)) = c.ipv4_target() {
                addresses.push(PlannedAddress {
                    address: IpAddr::V4(a),
                    prefix_len: p,
                    valid_until: c.lease_end(),
                });
            }
            if let Ipv6Config::Manual {
                address,
                prefix_len,
                ..
            } = c.config.ipv6
            {
                addresses.push(PlannedAddress {
                    address: IpAddr::V6(address),
                    prefix_len,
                    valid_until: None,
                });
            }
        }
        if let Some((c, &metric)) = c.and_then(|c| metrics.get(&c.id).map(|m| (c, m))) {
            if let (Some(gw), Some((addr, prefix))) = (c.ipv4_gateway(), c.ipv4_target()) {
                if !in_subnet(gw, addr, prefix) {
                    // e.g. a /32 lease: reach the gateway on-link first.
                    routes.push(PlannedRoute {
                        destination: IpAddr::V4(gw),
                        prefix_len: 32,
                        gateway: None,
                        metric,
                    });
                }
                routes.push(PlannedRoute {
                    destination: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    prefix_len: 0,
                    gateway: Some(IpAddr::V4(gw)),
                    metric,
                });
            }
            if let (Ipv4Config::Dhcp, Some(lease)) = (&c.config.ipv4, &c.lease) {
                for (dst, prefix, via) in &lease.routes {
                    let gateway = (!via.is_unspecified()).then_some(IpAddr::V4(*via));
                    routes.push(PlannedRoute {
                        destination: IpAddr::V4(*dst),
                        prefix_len: *prefix,
                        gateway,
                        metric,
                    });
                }
            }
            if let Ipv6Config::Manual {
                gateway: Some(gw), ..
            } = c.config.ipv6
            {
                routes.push(PlannedRoute {
                    destination: IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
                    prefix_len: 0,
                    gateway: Some(IpAddr::V6(gw)),
                    metric,
                });
            }
        }
        let ipv6 = match c.map(|c| &c.config.ipv6) {
            None | Some(Ipv6Config::Auto) => Ipv6Mode::Slaac,
            Some(Ipv6Config::Manual { .. }) => Ipv6Mode::Static,
            Some(Ipv6Config::Off) => Ipv6Mode::Disabled,
        };
        let connected = c
            .and_then(|c| snapshot.service(&c.id.0))
            .filter(|s| s.state.is_connected());
        let mtu = match c.filter(|_| has_link) {
            Some(c) if c.config.ipv4 == Ipv4Config::Dhcp => c
                .lease
                .as_ref()
                .and_then(|l| l.mtu)
                .map_or(netdev.original_mtu, u32::from),
            _ => netdev.original_mtu,
        };
        links.insert(
            netdev.index,
            LinkPlan {
                ifname: netdev.name.clone(),
                admin: c.and_then(Connection::link_admin),
                addresses,
                routes,
                ipv6,
                mtu,
                nameservers: connected.map(|s| s.nameservers.clone()).unwrap_or_default(),
                domains: connected.map(|s| s.domains.clone()).unwrap_or_default(),
                hold: netdev.hold,
                awaiting_lease: c.is_some_and(Connection::awaiting_first_lease),
            },
        );
    }
    let resolv_conf = (!netdevs.is_empty()).then(|| {
        let connected = snapshot
            .services
            .iter()
            .filter(|s| s.managed && s.state.is_connected());
        let (mut nameservers, mut domains) = (Vec::new(), Vec::new());
        for s in connected {
            nameservers.extend(s.nameservers.iter().copied());
            domains.extend(s.domains.iter().cloned());
        }
        resolv::render(&nameservers, &domains)
    });
    NetPlan {
        links,
        resolv_conf,
        complete: false,
        steering: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ServiceState::*;
    use crate::model::TechnologyKind::Ethernet;
    use crate::policy::fixtures::service;

    #[test]
    fn metrics_follow_the_order_of_connected_services() {
        let snapshot = Snapshot {
            services: vec![
                service("a", Ethernet, Online),
                service("b", Ethernet, Ready),
                service("c", Ethernet, Configuration),
                service("d", Ethernet, Ready),
            ],
            ..Snapshot::default()
        };
        let got: Vec<(String, u32)> = metrics(&snapshot)
            .into_iter()
            .map(|(id, m)| (id.0, m))
            .collect();
        assert_eq!(
            got,
            vec![("a".into(), 100), ("b".into(), 110), ("d".into(), 120)]
        );
    }

    #[test]
    fn subnet_check_for_on_link_gateways() {
        let ip = |s: &str| s.parse::<Ipv4Addr>().expect("ip");
        assert!(in_subnet(ip("198.18.0.1"), ip("198.18.0.9"), 24));
        assert!(
            !in_subnet(ip("198.18.0.1"), ip("198.18.0.9"), 32),
            "a /32 lease needs an on-link route"
        );
        assert!(in_subnet(ip("198.18.0.1"), ip("10.0.0.1"), 0));
    }
}
