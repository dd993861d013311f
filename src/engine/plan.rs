//! What the kernel and resolver should look like, from the published snapshot and the
//! managed links: addresses, routes with metrics in service order, IPv6 mode, resolv.conf.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use super::managed::Managed;
use super::Snapshot;
use crate::model::{Ipv4Config, Ipv6Config, ServiceId};
use crate::net::apply::{Ipv6Mode, LinkPlan, NetPlan, PlannedRoute};
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

/// The plan for every managed link. `managed` is keyed by service id.
pub fn plan(
    snapshot: &Snapshot,
    managed: &BTreeMap<ServiceId, Managed>,
    metrics: &BTreeMap<ServiceId, u32>,
) -> NetPlan {
    let mut links = BTreeMap::new();
    for view in &snapshot.interfaces {
        let Some(m) = view.service_id.as_ref().and_then(|id| managed.get(id)) else {
            continue;
        };
        let iface = &view.interface;
        let link = super::managed::LinkFacts {
            admin_up: iface.admin_up,
            oper_up: iface.oper_up,
        };
        let mgmt = m.management();
        let mut addresses = Vec::new();
        let mut routes = Vec::new();
        if m.active(link) {
            if let Some((a, p)) = mgmt.ipv4_target() {
                addresses.push((IpAddr::V4(a), p));
            }
            if let Ipv6Config::Manual {
                address,
                prefix_len,
                ..
            } = m.config.ipv6
            {
                addresses.push((IpAddr::V6(address), prefix_len));
            }
        }
        if let Some(&metric) = metrics.get(&m.id) {
            if let (Some(gw), Some((addr, prefix))) = (mgmt.ipv4_gateway(), mgmt.ipv4_target()) {
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
            if let (Ipv4Config::Dhcp, Some(lease)) = (&m.config.ipv4, &m.lease) {
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
            } = m.config.ipv6
            {
                routes.push(PlannedRoute {
                    destination: IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
                    prefix_len: 0,
                    gateway: Some(IpAddr::V6(gw)),
                    metric,
                });
            }
        }
        let ipv6 = match m.config.ipv6 {
            Ipv6Config::Auto => Ipv6Mode::Slaac,
            Ipv6Config::Manual { .. } => Ipv6Mode::Static,
            Ipv6Config::Off => Ipv6Mode::Disabled,
        };
        let connected = snapshot.service(&m.id.0).filter(|s| s.state.is_connected());
        let mtu = match (&m.config.ipv4, &m.lease) {
            (Ipv4Config::Dhcp, Some(lease)) if m.active(link) => {
                lease.mtu.map_or(m.original_mtu, u32::from)
            }
            _ => m.original_mtu,
        };
        links.insert(
            iface.index,
            LinkPlan {
                ifname: iface.name.clone(),
                admin_up: !m.admin_down,
                addresses,
                routes,
                ipv6,
                mtu,
                nameservers: connected.map(|s| s.nameservers.clone()).unwrap_or_default(),
                domains: connected.map(|s| s.domains.clone()).unwrap_or_default(),
            },
        );
    }
    let resolv_conf = (!managed.is_empty()).then(|| {
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
    NetPlan { links, resolv_conf }
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
