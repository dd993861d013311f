//! Routing per session, as the applier should make it: a table per service that carries
//! sessions, with that service's routes; rules for sessions' source addresses; and which
//! uid's traffic goes through which table ([`crate::net::steer`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::sessions::Carried;
use super::Snapshot;
use crate::model::Service;
use crate::net::apply::PlannedRoute;
use crate::net::steer::{ServiceTable, SteerConfig, SteerPlan};

/// The network of `address/prefix_len`.
fn network(address: IpAddr, prefix_len: u8) -> IpAddr {
    match address {
        IpAddr::V4(a) => {
            let mask = u32::MAX
                .checked_shl(32 - u32::from(prefix_len))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
        }
        IpAddr::V6(a) => {
            let mask = u128::MAX
                .checked_shl(128 - u32::from(prefix_len))
                .unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
        }
    }
}

/// A service's routes for its own table: each address's subnet on-link, and the default
/// route through its gateway.
fn table_routes(service: &Service) -> Vec<PlannedRoute> {
    let mut routes = Vec::new();
    let v4 = service.ipv4.as_ref().map(|i| {
        (
            IpAddr::V4(i.address),
            i.prefix_len,
            i.gateway.map(IpAddr::V4),
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        )
    });
    let v6 = service.ipv6.as_ref().map(|i| {
        (
            IpAddr::V6(i.address),
            i.prefix_len,
            i.gateway.map(IpAddr::V6),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        )
    });
    for (address, prefix_len, gateway, any) in v4.into_iter().chain(v6) {
        if prefix_len < if address.is_ipv4() { 32 } else { 128 } {
            routes.push(PlannedRoute {
                destination: network(address, prefix_len),
                prefix_len,
                gateway: None,
                metric: 0,
            });
        }
        if let Some(gateway) = gateway {
            routes.push(PlannedRoute {
                destination: any,
                prefix_len: 0,
                gateway: Some(gateway),
                metric: 0,
            });
        }
    }
    routes
}

/// The steering plan for the sessions' `carried` state on the published snapshot. A
/// service without an interface or address gets no table (and nothing is steered into
/// it); a uid with sessions on several services is steered through its oldest session's.
pub(super) fn plan(config: SteerConfig, carried: &Carried, snapshot: &Snapshot) -> SteerPlan {
    let mut plan = SteerPlan {
        config,
        ..SteerPlan::default()
    };
    for (id, slot) in &carried.slots {
        if *slot > config.slots() {
            tracing::warn!(service = %id, "more services carry sessions than [sessions] mark_mask has slots for; not steering this one");
            continue;
        }
        let Some(service) = snapshot.service(&id.0) else {
            continue;
        };
        let Some(iface) = snapshot.interface(&service.interface) else {
            continue;
        };
        let routes = table_routes(service);
        if routes.is_empty() {
            continue;
        }
        plan.tables.insert(
            config.table(*slot),
            ServiceTable {
                service: id.0.clone(),
                index: iface.interface.index,
                ifname: service.interface.clone(),
                mark: config.mark(*slot),
                routes,
            },
        );
    }
    let table_of = |id| {
        carried
            .slots
            .get(id)
            .map(|slot| config.table(*slot))
            .filter(|t| plan.tables.contains_key(t))
    };
    for (service, addresses) in carried.sources.values() {
        if let Some(table) = table_of(service) {
            plan.sources.extend(addresses.iter().map(|a| (*a, table)));
        }
    }
    for (uid, sessions) in &carried.owners {
        if let Some(table) = sessions.values().next().and_then(table_of) {
            plan.owners.insert(*uid, table);
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_services_table_has_its_subnet_and_default_route() {
        let mut s = crate::policy::fixtures::service(
            "a",
            crate::model::TechnologyKind::Ethernet,
            crate::model::ServiceState::Ready,
        );
        s.ipv4 = Some(crate::model::Ipv4Info {
            method: crate::model::IpMethod::Dhcp,
            address: "198.18.2.77".parse().expect("ip"),
            prefix_len: 24,
            gateway: Some("198.18.2.1".parse().expect("ip")),
        });
        let text: Vec<String> = table_routes(&s).iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            vec!["198.18.2.0/24 metric 0", "default via 198.18.2.1 metric 0"]
        );
        assert_eq!(
            network("2001:db8::5".parse().expect("ip"), 64),
            "2001:db8::".parse::<IpAddr>().expect("ip")
        );
    }
}
