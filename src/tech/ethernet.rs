//! Ethernet: one service per Ethernet netdev, observed through rtnetlink.
//!
//! State follows the link: no carrier (or admin-down) → `idle`; carrier without an address →
//! `configuration`; an IPv4 address or a global non-tentative IPv6 address → `ready`.
//! netpilot does not configure these links yet, so their services are immutable and their
//! IP method is `fixed` (ConnMan's word for "configured elsewhere").

use std::net::IpAddr;

use crate::model::{
    Interface, InterfaceKind, IpMethod, Ipv4Info, Ipv6Info, Service, ServiceId, ServiceState,
    TechnologyKind,
};
use crate::net::netlink::DefaultRoute;

/// ConnMan's name for every wired service.
pub const SERVICE_NAME: &str = "Wired";

/// The service an interface carries, if it is a non-ignored Ethernet link with a MAC.
/// `routes` are all default routes; those through this interface give the gateways.
pub fn service_for(iface: &Interface, routes: &[DefaultRoute]) -> Option<Service> {
    if iface.kind != InterfaceKind::Ethernet || iface.ignored {
        return None;
    }
    let mac = iface.mac?;
    let gateway = |v4: bool| {
        routes
            .iter()
            .filter(|r| r.index == iface.index && r.gateway.is_ipv4() == v4)
            .min_by_key(|r| r.metric)
            .map(|r| r.gateway)
    };
    let ipv4 = iface.addresses.iter().find_map(|a| match a.address {
        IpAddr::V4(address) => Some(Ipv4Info {
            method: IpMethod::Fixed,
            address,
            prefix_len: a.prefix_len,
            gateway: match gateway(true) {
                Some(IpAddr::V4(g)) => Some(g),
                _ => None,
            },
        }),
        IpAddr::V6(_) => None,
    });
    let ipv6 = iface.addresses.iter().find_map(|a| match a.address {
        IpAddr::V6(address) if a.counts_for_readiness() => Some(Ipv6Info {
            method: IpMethod::Fixed,
            address,
            prefix_len: a.prefix_len,
            gateway: match gateway(false) {
                Some(IpAddr::V6(g)) => Some(g),
                _ => None,
            },
        }),
        _ => None,
    });
    let state = if !iface.admin_up || !iface.oper_up {
        ServiceState::Idle
    } else if ipv4.is_some() || ipv6.is_some() {
        ServiceState::Ready
    } else {
        ServiceState::Configuration
    };
    let connected = state.is_connected();
    Some(Service {
        id: ServiceId::ethernet(mac),
        name: SERVICE_NAME.to_string(),
        technology: TechnologyKind::Ethernet,
        state,
        error: None,
        strength: 0,
        favorite: false,
        immutable: true,
        autoconnect: false,
        interface: iface.name.clone(),
        mac: iface.mac_string(),
        mtu: iface.mtu,
        ipv4: ipv4.filter(|_| connected),
        ipv6: ipv6.filter(|_| connected),
        ready_since: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AddrScope, InterfaceAddress};

    fn iface(up: bool, carrier: bool, addrs: &[&str]) -> Interface {
        Interface {
            index: 7,
            name: "veth0".into(),
            mac: Some([0x02, 0, 0, 0, 0, 0x01]),
            kind: InterfaceKind::Ethernet,
            admin_up: up,
            oper_up: carrier,
            mtu: 1500,
            addresses: addrs
                .iter()
                .map(|a| InterfaceAddress {
                    address: a.parse().expect("test address"),
                    prefix_len: 24,
                    scope: if a.starts_with("fe80") {
                        AddrScope::Link
                    } else {
                        AddrScope::Global
                    },
                    tentative: false,
                })
                .collect(),
            ignored: false,
        }
    }

    #[test]
    fn state_follows_the_link() {
        let cases = [
            (
                "admin down",
                iface(false, false, &["198.18.0.2"]),
                ServiceState::Idle,
            ),
            (
                "no carrier",
                iface(true, false, &["198.18.0.2"]),
                ServiceState::Idle,
            ),
            (
                "carrier, link-local only",
                iface(true, true, &["fe80::1"]),
                ServiceState::Configuration,
            ),
            (
                "carrier and IPv4",
                iface(true, true, &["198.18.0.2"]),
                ServiceState::Ready,
            ),
            (
                "carrier and global IPv6",
                iface(true, true, &["2001:db8::2"]),
                ServiceState::Ready,
            ),
        ];
        for (name, i, want) in cases {
            let s = service_for(&i, &[]).expect("ethernet service");
            assert_eq!(s.state, want, "{name}");
            assert_eq!(s.id.0, "ethernet_020000000001_cable");
        }
    }

    #[test]
    fn gateway_from_the_lowest_metric_route_through_the_link() {
        let routes = [
            DefaultRoute {
                index: 7,
                metric: 200,
                gateway: "198.18.0.9".parse().expect("ip"),
            },
            DefaultRoute {
                index: 7,
                metric: 100,
                gateway: "198.18.0.1".parse().expect("ip"),
            },
            DefaultRoute {
                index: 8,
                metric: 1,
                gateway: "198.18.5.1".parse().expect("ip"),
            },
        ];
        let s = service_for(&iface(true, true, &["198.18.0.2"]), &routes).expect("service");
        let ipv4 = s.ipv4.expect("ipv4");
        assert_eq!(ipv4.gateway, Some("198.18.0.1".parse().expect("ip")));
        assert_eq!(ipv4.prefix_len, 24);
    }

    #[test]
    fn no_service_for_ignored_or_non_ethernet_links() {
        let mut ignored = iface(true, true, &[]);
        ignored.ignored = true;
        assert!(service_for(&ignored, &[]).is_none());
        let mut lo = iface(true, true, &[]);
        lo.kind = InterfaceKind::Loopback;
        assert!(service_for(&lo, &[]).is_none());
        let mut no_mac = iface(true, true, &[]);
        no_mac.mac = None;
        assert!(service_for(&no_mac, &[]).is_none());
    }
}
