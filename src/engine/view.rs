//! The service as the API shows it, from what its backend announced, its connection (for
//! managed services) and the kernel's view of its netdev.
//!
//! Managed services show their connection's state. Observed (unmanaged) services follow
//! their link: no carrier (or admin-down) → `idle`; carrier without an address →
//! `configuration`; an IPv4 address or a global non-tentative IPv6 address → `ready`. They
//! are immutable and their IP method is `fixed` (ConnMan's word for "configured elsewhere").

use std::net::IpAddr;

use super::connection::Connection;
use crate::model::{
    Interface, IpMethod, Ipv4Config, Ipv4Info, Ipv6Config, Ipv6Info, ProxyConfig, Service,
    ServiceState,
};
use crate::net::ndopt::RaDns;
use crate::net::netlink::DefaultRoute;
use crate::tech::ServiceInfo;

/// Configured values replace what DHCP gave (ConnMan's *.Configuration semantics).
fn pick<T: Clone>(configured: &[T], leased: Vec<T>) -> Vec<T> {
    if configured.is_empty() {
        leased
    } else {
        configured.to_vec()
    }
}

fn gateway(routes: &[DefaultRoute], index: u32, v4: bool) -> Option<IpAddr> {
    routes
        .iter()
        .filter(|r| r.index == index && r.gateway.is_ipv4() == v4)
        .min_by_key(|r| r.metric)
        .map(|r| r.gateway)
}

fn global_v6(iface: &Interface) -> Option<(std::net::Ipv6Addr, u8)> {
    iface.addresses.iter().find_map(|a| match a.address {
        IpAddr::V6(address) if a.counts_for_readiness() => Some((address, a.prefix_len)),
        _ => None,
    })
}

fn v6_gateway(routes: &[DefaultRoute], index: u32) -> Option<std::net::Ipv6Addr> {
    match gateway(routes, index, false) {
        Some(IpAddr::V6(g)) => Some(g),
        _ => None,
    }
}

/// Builds a service. `netdev` is the interface the service is shown on (the NIC, the
/// radio); `carrier` is the one whose addresses it uses now (where L2 is up), often the same.
/// `ra_dns`: nameservers and search domains router advertisements gave the carrier
/// (RFC 8106), used with IPv6 `auto` after DHCP's.
pub(super) fn service(
    info: &ServiceInfo,
    connection: Option<&Connection>,
    netdev: Option<&Interface>,
    carrier: Option<&Interface>,
    routes: &[DefaultRoute],
    ra_dns: Option<&RaDns>,
) -> Service {
    let mut service = Service {
        id: info.id.clone(),
        name: info.name.clone(),
        technology: info.technology,
        state: ServiceState::Idle,
        error: None,
        strength: info.strength,
        favorite: false,
        immutable: connection.is_none(),
        autoconnect: false,
        interface: netdev.map(|i| i.name.clone()).unwrap_or_default(),
        mac: netdev.map(Interface::mac_string).unwrap_or_default(),
        mtu: netdev.map(|i| i.mtu).unwrap_or_default(),
        ipv4: None,
        ipv6: None,
        ready_since: None,
        managed: connection.is_some(),
        config: connection.map(|c| c.config.clone()),
        nameservers: vec![],
        timeservers: vec![],
        domains: vec![],
        proxy: None,
        route_metric: None,
        captive_portal_url: None,
        security: info.security.clone(),
        wifi: info.wifi.clone(),
        credentials: Default::default(),
        metered: connection.map_or(
            info.technology == crate::model::TechnologyKind::Cellular,
            |c| c.config.is_metered(info.technology),
        ),
    };
    match connection {
        Some(c) => managed(&mut service, c, carrier, routes, ra_dns),
        None => observed(&mut service, carrier.or(netdev), routes),
    }
    service
}

fn observed(service: &mut Service, iface: Option<&Interface>, routes: &[DefaultRoute]) {
    let Some(iface) = iface else { return };
    let ipv4 = iface.addresses.iter().find_map(|a| match a.address {
        IpAddr::V4(address) => Some(Ipv4Info {
            method: IpMethod::Fixed,
            address,
            prefix_len: a.prefix_len,
            gateway: match gateway(routes, iface.index, true) {
                Some(IpAddr::V4(g)) => Some(g),
                _ => None,
            },
        }),
        IpAddr::V6(_) => None,
    });
    let ipv6 = global_v6(iface).map(|(address, prefix_len)| Ipv6Info {
        method: IpMethod::Fixed,
        address,
        prefix_len,
        gateway: v6_gateway(routes, iface.index),
    });
    service.state = if !(iface.admin_up && iface.oper_up) {
        ServiceState::Idle
    } else if ipv4.is_some() || ipv6.is_some() {
        ServiceState::Ready
    } else {
        ServiceState::Configuration
    };
    if service.state.is_connected() {
        service.ipv4 = ipv4;
        service.ipv6 = ipv6;
    }
}

fn managed(
    service: &mut Service,
    c: &Connection,
    carrier: Option<&Interface>,
    routes: &[DefaultRoute],
    ra_dns: Option<&RaDns>,
) {
    let (state, error) = c.state().service_state();
    service.state = state;
    service.error = error;
    service.favorite = c.config.favorite;
    service.autoconnect = c.config.autoconnect;
    let Some(iface) = carrier.filter(|_| state.is_connected()) else {
        return;
    };
    service.ipv4 = c
        .ipv4_target()
        .filter(|(a, _)| iface.addresses.iter().any(|x| x.address == IpAddr::V4(*a)))
        .map(|(address, prefix_len)| Ipv4Info {
            method: if c.config.ipv4 == Ipv4Config::Dhcp {
                IpMethod::Dhcp
            } else {
                IpMethod::Manual
            },
            address,
            prefix_len,
            gateway: c.ipv4_gateway(),
        });
    service.ipv6 = global_v6(iface)
        .filter(|_| c.config.ipv6 != Ipv6Config::Off)
        .map(|(address, prefix_len)| Ipv6Info {
            method: if c.config.ipv6 == Ipv6Config::Auto {
                IpMethod::Auto
            } else {
                IpMethod::Manual
            },
            address,
            prefix_len,
            gateway: match c.config.ipv6 {
                Ipv6Config::Manual { gateway, .. } => gateway,
                _ => v6_gateway(routes, iface.index),
            },
        });
    let lease = c
        .lease
        .as_ref()
        .filter(|_| c.config.ipv4 == Ipv4Config::Dhcp);
    let ra = ra_dns.filter(|_| c.config.ipv6 == Ipv6Config::Auto);
    let mut learned: Vec<IpAddr> = lease
        .map(|l| l.nameservers.iter().map(|a| IpAddr::V4(*a)).collect())
        .unwrap_or_default();
    learned.extend(
        ra.iter()
            .flat_map(|r| r.servers.iter().map(|a| IpAddr::V6(*a))),
    );
    service.nameservers = pick(&c.config.nameservers, learned);
    service.timeservers = pick(
        &c.config.timeservers,
        lease
            .map(|l| l.timeservers.iter().map(|a| a.to_string()).collect())
            .unwrap_or_default(),
    );
    let mut domains = lease.map(|l| l.domains.clone()).unwrap_or_default();
    for d in ra.iter().flat_map(|r| r.domains.iter()) {
        if !domains.contains(d) {
            domains.push(d.clone());
        }
    }
    service.domains = pick(&c.config.domains, domains);
    service.proxy = Some(
        match (&c.config.proxy, lease.and_then(|l| l.proxy_url.clone())) {
            (Some(ProxyConfig::Auto { url: None }), Some(url)) => {
                ProxyConfig::Auto { url: Some(url) }
            }
            (Some(configured), _) => configured.clone(),
            (None, Some(url)) => ProxyConfig::Auto { url: Some(url) },
            (None, None) => ProxyConfig::Direct,
        },
    );
    service.captive_portal_url = c.portal().map(str::to_string);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        AddrScope, InterfaceAddress, InterfaceKind, Lease, ServiceConfig, ServiceError, ServiceId,
        TechnologyKind,
    };
    use crate::policy::connection::State;

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
                    deprecated: false,
                })
                .collect(),
            ignored: false,
        }
    }

    fn info(managed: bool) -> ServiceInfo {
        ServiceInfo {
            id: ServiceId::ethernet([0x02, 0, 0, 0, 0, 0x01]),
            technology: TechnologyKind::Ethernet,
            name: "Wired".into(),
            netdev: Some(7),
            managed,
            strength: 0,
            security: vec![],
            wifi: None,
        }
    }

    fn lease() -> Lease {
        Lease {
            address: "198.18.0.10".parse().expect("ip"),
            prefix_len: 24,
            gateway: Some("198.18.0.1".parse().expect("ip")),
            routes: vec![],
            nameservers: vec!["198.18.0.53".parse().expect("ip")],
            domains: vec!["lab.example".into()],
            timeservers: vec![],
            proxy_url: None,
            mtu: None,
            lease_secs: 3600,
            t1_secs: 1800,
            t2_secs: 3150,
            acquired: std::time::Instant::now(),
            server: "198.18.0.1".parse().expect("ip"),
        }
    }

    #[test]
    fn observed_state_follows_the_link() {
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
            let s = service(&info(false), None, Some(&i), Some(&i), &[], None);
            assert_eq!(s.state, want, "{name}");
            assert!(s.immutable && !s.managed, "{name}");
            assert_eq!(
                s.ipv4.is_some() || s.ipv6.is_some(),
                want == ServiceState::Ready,
                "{name}: addresses only while ready"
            );
        }
    }

    #[test]
    fn managed_state_and_error_come_from_the_connection() {
        let failed = Connection::in_state(
            "e",
            ServiceConfig::default(),
            None,
            State::Failure {
                error: ServiceError::DhcpFailed,
            },
        );
        let i = iface(true, true, &["198.18.0.99"]);
        let s = service(&info(true), Some(&failed), Some(&i), Some(&i), &[], None);
        assert_eq!(
            (s.state, s.error, s.managed, s.immutable),
            (
                ServiceState::Failure,
                Some(ServiceError::DhcpFailed),
                true,
                false
            )
        );
        assert_eq!(s.ipv4, None, "a stray address is not the service's");
    }

    #[test]
    fn managed_details_come_from_the_lease_or_the_config() {
        let ready = State::Ready {
            portal: Some("http://portal.test/".into()),
            warning: None,
        };
        let c = Connection::in_state("e", ServiceConfig::default(), Some(lease()), ready.clone());
        let i = iface(true, true, &["198.18.0.10", "2001:db8::10"]);
        let s = service(&info(true), Some(&c), Some(&i), Some(&i), &[], None);
        let ipv4 = s.ipv4.expect("ipv4");
        assert_eq!(
            (ipv4.method, ipv4.gateway),
            (IpMethod::Dhcp, Some("198.18.0.1".parse().expect("ip")))
        );
        assert_eq!(s.ipv6.map(|v| v.method), Some(IpMethod::Auto));
        assert_eq!(
            s.nameservers,
            vec!["198.18.0.53".parse::<IpAddr>().expect("ip")]
        );
        assert_eq!(s.domains, vec!["lab.example".to_string()]);
        assert_eq!(s.captive_portal_url.as_deref(), Some("http://portal.test/"));

        let own = ServiceConfig {
            nameservers: vec!["198.18.9.9".parse().expect("ip")],
            ipv6: Ipv6Config::Off,
            ..ServiceConfig::default()
        };
        let c = Connection::in_state("e", own, Some(lease()), ready);
        let s = service(&info(true), Some(&c), Some(&i), Some(&i), &[], None);
        assert_eq!(
            s.nameservers,
            vec!["198.18.9.9".parse::<IpAddr>().expect("ip")],
            "configured nameservers replace DHCP's"
        );
        assert_eq!(s.ipv6, None, "IPv6 off hides the SLAAC address");
    }
}
