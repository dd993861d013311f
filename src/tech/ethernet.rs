//! Ethernet: one service per Ethernet netdev.
//!
//! Unmanaged links are observed: no carrier (or admin-down) → `idle`; carrier without an
//! address → `configuration`; an IPv4 address or a global non-tentative IPv6 address →
//! `ready`. Their services are immutable and their IP method is `fixed` (ConnMan's word for
//! "configured elsewhere").
//!
//! Managed links follow what netpilot does on them ([`Management`]): `failure` with its error
//! first; then `idle` without carrier or when not wanted; `ready` once the address netpilot
//! configured (DHCP lease or static) or a global IPv6 address is on the link; `online` when
//! the online check passed; else `configuration`.

use std::net::IpAddr;

use crate::model::{
    Interface, InterfaceKind, IpMethod, Ipv4Config, Ipv4Info, Ipv6Config, Ipv6Info, Lease, Service,
    ServiceConfig, ServiceId, ServiceState, TechnologyKind,
};
use crate::net::netlink::DefaultRoute;

/// ConnMan's name for every wired service.
pub const SERVICE_NAME: &str = "Wired";

/// What netpilot does on a managed link, as the engine knows it.
#[derive(Debug, Clone, Copy)]
pub struct Management<'a> {
    /// Stored configuration.
    pub config: &'a ServiceConfig,
    /// Current DHCP lease.
    pub lease: Option<&'a Lease>,
    /// netpilot is connecting or has connected the service (autoconnect or Connect, not
    /// Disconnect).
    pub wanted: bool,
    /// Error word of a failure (dhcp-failed, connect-failed).
    pub failure: Option<&'a str>,
    /// The online check passed.
    pub online: bool,
    /// Error word shown while ready, e.g. online-check-failed.
    pub warning: Option<&'a str>,
    /// Captive portal URL from the online check.
    pub portal: Option<&'a str>,
}

impl Management<'_> {
    /// The IPv4 address netpilot puts on the link, with its prefix length.
    pub fn ipv4_target(&self) -> Option<(std::net::Ipv4Addr, u8)> {
        match self.config.ipv4 {
            Ipv4Config::Dhcp => self.lease.map(|l| (l.address, l.prefix_len)),
            Ipv4Config::Manual {
                address,
                prefix_len,
                ..
            } => Some((address, prefix_len)),
            Ipv4Config::Off => None,
        }
    }

    /// The IPv4 default gateway netpilot routes through.
    pub fn ipv4_gateway(&self) -> Option<std::net::Ipv4Addr> {
        match self.config.ipv4 {
            Ipv4Config::Dhcp => self.lease.and_then(|l| l.gateway),
            Ipv4Config::Manual { gateway, .. } => gateway,
            Ipv4Config::Off => None,
        }
    }
}

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

/// The service an interface carries, if it is a non-ignored Ethernet link with a MAC.
/// `routes` are all default routes; those through this interface give the gateways of
/// unmanaged services. `managed` is set for links netpilot configures.
pub fn service_for(
    iface: &Interface,
    routes: &[DefaultRoute],
    managed: Option<Management<'_>>,
) -> Option<Service> {
    if iface.kind != InterfaceKind::Ethernet || iface.ignored {
        return None;
    }
    let mac = iface.mac?;
    let carrier = iface.admin_up && iface.oper_up;
    let global_v6 = iface.addresses.iter().find_map(|a| match a.address {
        IpAddr::V6(address) if a.counts_for_readiness() => Some((address, a.prefix_len)),
        _ => None,
    });
    let v6_gateway = match gateway(routes, iface.index, false) {
        Some(IpAddr::V6(g)) => Some(g),
        _ => None,
    };

    let (state, ipv4, ipv6, error) = match managed {
        None => {
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
            let ipv6 = global_v6.map(|(address, prefix_len)| Ipv6Info {
                method: IpMethod::Fixed,
                address,
                prefix_len,
                gateway: v6_gateway,
            });
            let state = if !carrier {
                ServiceState::Idle
            } else if ipv4.is_some() || ipv6.is_some() {
                ServiceState::Ready
            } else {
                ServiceState::Configuration
            };
            (state, ipv4, ipv6, None)
        }
        Some(m) => {
            let ipv4 = m
                .ipv4_target()
                .filter(|(a, _)| iface.addresses.iter().any(|x| x.address == IpAddr::V4(*a)))
                .map(|(address, prefix_len)| Ipv4Info {
                    method: if m.config.ipv4 == Ipv4Config::Dhcp {
                        IpMethod::Dhcp
                    } else {
                        IpMethod::Manual
                    },
                    address,
                    prefix_len,
                    gateway: m.ipv4_gateway(),
                });
            let ipv6 = global_v6.filter(|_| m.config.ipv6 != Ipv6Config::Off).map(
                |(address, prefix_len)| Ipv6Info {
                    method: if m.config.ipv6 == Ipv6Config::Auto {
                        IpMethod::Auto
                    } else {
                        IpMethod::Manual
                    },
                    address,
                    prefix_len,
                    gateway: match m.config.ipv6 {
                        Ipv6Config::Manual { gateway, .. } => gateway,
                        _ => v6_gateway,
                    },
                },
            );
            let state = if let Some(_error) = m.failure {
                ServiceState::Failure
            } else if !carrier || !m.wanted {
                ServiceState::Idle
            } else if ipv4.is_some() || ipv6.is_some() {
                if m.online {
                    ServiceState::Online
                } else {
                    ServiceState::Ready
                }
            } else {
                ServiceState::Configuration
            };
            let error = m
                .failure
                .or(m.warning.filter(|_| state.is_connected()))
                .map(str::to_string);
            (state, ipv4, ipv6, error)
        }
    };
    let connected = state.is_connected();
    let config = managed.map(|m| m.config.clone());
    let (nameservers, timeservers, domains) = match managed.filter(|_| connected) {
        None => (vec![], vec![], vec![]),
        Some(m) => {
            let lease = m.lease.filter(|_| m.config.ipv4 == Ipv4Config::Dhcp);
            (
                pick(
                    &m.config.nameservers,
                    lease
                        .map(|l| l.nameservers.iter().map(|a| IpAddr::V4(*a)).collect())
                        .unwrap_or_default(),
                ),
                pick(
                    &m.config.timeservers,
                    lease
                        .map(|l| l.timeservers.iter().map(|a| a.to_string()).collect())
                        .unwrap_or_default(),
                ),
                pick(
                    &m.config.domains,
                    lease.map(|l| l.domains.clone()).unwrap_or_default(),
                ),
            )
        }
    };
    Some(Service {
        id: ServiceId::ethernet(mac),
        name: SERVICE_NAME.to_string(),
        technology: TechnologyKind::Ethernet,
        state,
        error,
        strength: 0,
        favorite: config.as_ref().is_some_and(|c| c.favorite),
        immutable: managed.is_none(),
        autoconnect: config.as_ref().is_some_and(|c| c.autoconnect),
        interface: iface.name.clone(),
        mac: iface.mac_string(),
        mtu: iface.mtu,
        ipv4: ipv4.filter(|_| connected),
        ipv6: ipv6.filter(|_| connected),
        ready_since: None,
        managed: managed.is_some(),
        config,
        nameservers,
        timeservers,
        domains,
        route_metric: None,
        captive_portal_url: managed
            .and_then(|m| m.portal)
            .filter(|_| connected)
            .map(str::to_string),
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
            let s = service_for(&i, &[], None).expect("ethernet service");
            assert_eq!(s.state, want, "{name}");
            assert_eq!(s.id.0, "ethernet_020000000001_cable");
            assert!(s.immutable && !s.managed);
        }
    }

    fn lease(addr: &str) -> Lease {
        Lease {
            address: addr.parse().expect("ip"),
            prefix_len: 24,
            gateway: Some("198.18.0.1".parse().expect("ip")),
            routes: vec![],
            nameservers: vec!["198.18.0.53".parse().expect("ip")],
            domains: vec!["lab.example".into()],
            timeservers: vec![],
            mtu: None,
            lease_secs: 3600,
            t1_secs: 1800,
            t2_secs: 3150,
            acquired: std::time::Instant::now(),
            server: "198.18.0.1".parse().expect("ip"),
        }
    }

    #[test]
    fn managed_state_table() {
        let dhcp = ServiceConfig::default();
        let no_v6 = ServiceConfig {
            ipv6: Ipv6Config::Off,
            ..ServiceConfig::default()
        };
        let l = lease("198.18.0.10");
        let m = |config, lease, wanted, failure, online| Management {
            config,
            lease,
            wanted,
            failure,
            online,
            warning: None,
            portal: None,
        };
        let cases = [
            (
                "no carrier",
                iface(true, false, &[]),
                m(&dhcp, None, true, None, false),
                ServiceState::Idle,
            ),
            (
                "failure wins",
                iface(true, true, &[]),
                m(&dhcp, None, true, Some("dhcp-failed"), false),
                ServiceState::Failure,
            ),
            (
                "not wanted",
                iface(true, true, &["198.18.0.10"]),
                m(&dhcp, Some(&l), false, None, false),
                ServiceState::Idle,
            ),
            (
                "waiting for a lease",
                iface(true, true, &[]),
                m(&dhcp, None, true, None, false),
                ServiceState::Configuration,
            ),
            (
                "lease, address not yet on the link",
                iface(true, true, &[]),
                m(&dhcp, Some(&l), true, None, false),
                ServiceState::Configuration,
            ),
            (
                "lease address on the link",
                iface(true, true, &["198.18.0.10"]),
                m(&dhcp, Some(&l), true, None, false),
                ServiceState::Ready,
            ),
            (
                "a stray address does not count",
                iface(true, true, &["198.18.0.99"]),
                m(&dhcp, Some(&l), true, None, false),
                ServiceState::Configuration,
            ),
            (
                "online",
                iface(true, true, &["198.18.0.10"]),
                m(&dhcp, Some(&l), true, None, true),
                ServiceState::Online,
            ),
            (
                "SLAAC address counts",
                iface(true, true, &["2001:db8::10"]),
                m(&dhcp, None, true, None, false),
                ServiceState::Ready,
            ),
            (
                "unless IPv6 is off",
                iface(true, true, &["2001:db8::10"]),
                m(&no_v6, None, true, None, false),
                ServiceState::Configuration,
            ),
        ];
        for (name, i, mgmt, want) in cases {
            let s = service_for(&i, &[], Some(mgmt)).expect("service");
            assert_eq!(s.state, want, "{name}");
            assert!(s.managed && !s.immutable, "{name}");
        }
    }

    #[test]
    fn managed_details_come_from_the_lease_or_the_config() {
        let l = lease("198.18.0.10");
        let dhcp = ServiceConfig::default();
        let mgmt = Management {
            config: &dhcp,
            lease: Some(&l),
            wanted: true,
            failure: None,
            online: false,
            warning: None,
            portal: None,
        };
        let s =
            service_for(&iface(true, true, &["198.18.0.10"]), &[], Some(mgmt)).expect("service");
        let ipv4 = s.ipv4.expect("ipv4");
        assert_eq!(
            (ipv4.method, ipv4.gateway),
            (IpMethod::Dhcp, Some("198.18.0.1".parse().expect("ip")))
        );
        assert_eq!(
            s.nameservers,
            vec!["198.18.0.53".parse::<IpAddr>().expect("ip")]
        );
        assert_eq!(s.domains, vec!["lab.example".to_string()]);
        let own = ServiceConfig {
            nameservers: vec!["198.18.9.9".parse().expect("ip")],
            ..ServiceConfig::default()
        };
        let mgmt = Management {
            config: &own,
            ..mgmt
        };
        let s =
            service_for(&iface(true, true, &["198.18.0.10"]), &[], Some(mgmt)).expect("service");
        assert_eq!(
            s.nameservers,
            vec!["198.18.9.9".parse::<IpAddr>().expect("ip")],
            "configured nameservers replace DHCP's"
        );
    }

    #[test]
    fn no_service_for_ignored_or_non_ethernet_links() {
        let mut ignored = iface(true, true, &[]);
        ignored.ignored = true;
        assert!(service_for(&ignored, &[], None).is_none());
        let mut lo = iface(true, true, &[]);
        lo.kind = InterfaceKind::Loopback;
        assert!(service_for(&lo, &[], None).is_none());
        let mut no_mac = iface(true, true, &[]);
        no_mac.mac = None;
        assert!(service_for(&no_mac, &[], None).is_none());
    }
}
