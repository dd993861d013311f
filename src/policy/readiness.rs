//! Interface readiness and L4 connectivity events (DESIGN §1, Zephyr conn_mgr).
//!
//! An interface is ready for a family when it is admin-up, oper-up, not ignored, and has an
//! address of that family that counts (any IPv4; IPv6 only global and not tentative), and is
//! not the loopback device (whose 127.0.0.1 says nothing about connectivity). L4
//! events fire when the number of ready interfaces of a family goes 0 → 1 or 1 → 0, each
//! naming the interface that caused it.

use std::collections::BTreeMap;

use crate::model::{Connectivity, Family, Interface, InterfaceKind, L4Event};

/// Readiness of one interface, per family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Readiness {
    /// Ready for IPv4.
    pub ipv4: bool,
    /// Ready for IPv6.
    pub ipv6: bool,
}

impl Readiness {
    /// Ready for either family.
    pub fn any(self) -> bool {
        self.ipv4 || self.ipv6
    }

    fn get(self, family: Family) -> bool {
        match family {
            Family::Any => self.any(),
            Family::Ipv4 => self.ipv4,
            Family::Ipv6 => self.ipv6,
        }
    }
}

/// Readiness of one interface.
pub fn readiness(iface: &Interface) -> Readiness {
    if iface.ignored || !iface.admin_up || !iface.oper_up || iface.kind == InterfaceKind::Loopback {
        return Readiness::default();
    }
    let counts = |v4: bool| {
        iface
            .addresses
            .iter()
            .any(|a| a.address.is_ipv4() == v4 && a.counts_for_readiness())
    };
    Readiness {
        ipv4: counts(true),
        ipv6: counts(false),
    }
}

/// Readiness of every interface, keyed by interface name.
pub fn readiness_map<'a>(
    ifaces: impl IntoIterator<Item = &'a Interface>,
) -> BTreeMap<String, Readiness> {
    ifaces
        .into_iter()
        .map(|i| (i.name.clone(), readiness(i)))
        .collect()
}

/// Whether at least one interface is ready, per family.
pub fn connectivity(ready: &BTreeMap<String, Readiness>) -> Connectivity {
    Connectivity {
        any: ready.values().any(|r| r.any()),
        ipv4: ready.values().any(|r| r.ipv4),
        ipv6: ready.values().any(|r| r.ipv6),
    }
}

/// L4 events between two readiness maps, in the order any, IPv4, IPv6. An interface absent
/// from a map is not ready there.
pub fn l4_events(
    before: &BTreeMap<String, Readiness>,
    after: &BTreeMap<String, Readiness>,
) -> Vec<L4Event> {
    let mut events = Vec::new();
    for family in [Family::Any, Family::Ipv4, Family::Ipv6] {
        let ready = |m: &BTreeMap<String, Readiness>| -> Vec<String> {
            m.iter()
                .filter(|(_, r)| r.get(family))
                .map(|(n, _)| n.clone())
                .collect()
        };
        let (was, is) = (ready(before), ready(after));
        let cause = match (was.is_empty(), is.is_empty()) {
            (true, false) => is
                .iter()
                .find(|n| !was.contains(n))
                .map(|n| (true, n.clone())),
            (false, true) => was
                .iter()
                .find(|n| !is.contains(n))
                .map(|n| (false, n.clone())),
            _ => None,
        };
        if let Some((connected, interface)) = cause {
            events.push(L4Event {
                family,
                connected,
                interface,
            });
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AddrScope, InterfaceAddress};

    fn iface(
        name: &str,
        up: bool,
        carrier: bool,
        addrs: &[(&str, AddrScope, bool, bool)],
        ignored: bool,
    ) -> Interface {
        Interface {
            index: 1,
            name: name.to_string(),
            mac: None,
            kind: InterfaceKind::Ethernet,
            admin_up: up,
            oper_up: carrier,
            mtu: 1500,
            addresses: addrs
                .iter()
                .map(|(a, scope, tentative, deprecated)| InterfaceAddress {
                    address: a.parse().expect("test address"),
                    prefix_len: 24,
                    scope: *scope,
                    tentative: *tentative,
                    deprecated: *deprecated,
                })
                .collect(),
            ignored,
        }
    }

    #[test]
    fn readiness_table() {
        use AddrScope::*;
        let v4 = ("198.18.0.2", Global, false, false);
        let v6 = ("2001:db8::2", Global, false, false);
        let v6_tentative = ("2001:db8::3", Global, true, false);
        let v6_deprecated = ("2001:db8::4", Global, false, true);
        let v6_link = ("fe80::1", Link, false, false);
        let cases = [
            (
                "up, carrier, v4",
                iface("a", true, true, &[v4], false),
                (true, false),
            ),
            (
                "up, carrier, v6 global",
                iface("a", true, true, &[v6], false),
                (false, true),
            ),
            (
                "both families",
                iface("a", true, true, &[v4, v6], false),
                (true, true),
            ),
            (
                "v6 tentative does not count",
                iface("a", true, true, &[v6_tentative], false),
                (false, false),
            ),
            (
                "v6 deprecated does not count",
                iface("a", true, true, &[v6_deprecated], false),
                (false, false),
            ),
            (
                "v6 link-local does not count",
                iface("a", true, true, &[v6_link], false),
                (false, false),
            ),
            (
                "no carrier",
                iface("a", true, false, &[v4], false),
                (false, false),
            ),
            (
                "admin down",
                iface("a", false, true, &[v4], false),
                (false, false),
            ),
            (
                "ignored",
                iface("a", true, true, &[v4, v6], true),
                (false, false),
            ),
            (
                "no address",
                iface("a", true, true, &[], false),
                (false, false),
            ),
            (
                "loopback never counts",
                Interface {
                    kind: InterfaceKind::Loopback,
                    ..iface("lo", true, true, &[v4], false)
                },
                (false, false),
            ),
        ];
        for (name, i, (v4, v6)) in cases {
            assert_eq!(readiness(&i), Readiness { ipv4: v4, ipv6: v6 }, "{name}");
        }
    }

    fn map(entries: &[(&str, bool, bool)]) -> BTreeMap<String, Readiness> {
        entries
            .iter()
            .map(|(n, v4, v6)| {
                (
                    n.to_string(),
                    Readiness {
                        ipv4: *v4,
                        ipv6: *v6,
                    },
                )
            })
            .collect()
    }

    fn ev(family: Family, connected: bool, interface: &str) -> L4Event {
        L4Event {
            family,
            connected,
            interface: interface.to_string(),
        }
    }

    #[test]
    fn l4_events_table() {
        use Family::*;
        type Case = (
            &'static str,
            BTreeMap<String, Readiness>,
            BTreeMap<String, Readiness>,
            Vec<L4Event>,
        );
        let cases: Vec<Case> = vec![
            (
                "first v4 interface",
                map(&[("a", false, false)]),
                map(&[("a", true, false)]),
                vec![ev(Any, true, "a"), ev(Ipv4, true, "a")],
            ),
            (
                "v6 joins a v4-ready interface",
                map(&[("a", true, false)]),
                map(&[("a", true, true)]),
                vec![ev(Ipv6, true, "a")],
            ),
            (
                "second interface ready is silent",
                map(&[("a", true, false), ("b", false, false)]),
                map(&[("a", true, false), ("b", true, false)]),
                vec![],
            ),
            (
                "one of two leaves: silent",
                map(&[("a", true, false), ("b", true, false)]),
                map(&[("a", false, false), ("b", true, false)]),
                vec![],
            ),
            (
                "last one leaves",
                map(&[("a", false, false), ("b", true, false)]),
                map(&[("a", false, false), ("b", false, false)]),
                vec![ev(Any, false, "b"), ev(Ipv4, false, "b")],
            ),
            (
                "ready interface removed",
                map(&[("a", true, true)]),
                map(&[]),
                vec![
                    ev(Any, false, "a"),
                    ev(Ipv4, false, "a"),
                    ev(Ipv6, false, "a"),
                ],
            ),
            (
                "new interface appears ready",
                map(&[]),
                map(&[("b", false, true)]),
                vec![ev(Any, true, "b"), ev(Ipv6, true, "b")],
            ),
            (
                "v4 lost but v6 stays: any is silent",
                map(&[("a", true, true)]),
                map(&[("a", false, true)]),
                vec![ev(Ipv4, false, "a")],
            ),
            (
                "no change",
                map(&[("a", true, true)]),
                map(&[("a", true, true)]),
                vec![],
            ),
        ];
        for (name, before, after, want) in cases {
            assert_eq!(l4_events(&before, &after), want, "{name}");
        }
    }

    #[test]
    fn ignoring_the_only_ready_interface_disconnects_and_one_of_two_is_silent() {
        let v4 = ("198.18.0.2", AddrScope::Global, false, false);
        let a = iface("a", true, true, &[v4], false);
        let mut b = iface("b", true, true, &[v4], false);
        let before = readiness_map([&a, &b]);
        b.ignored = true;
        assert_eq!(
            l4_events(&before, &readiness_map([&a, &b])),
            vec![],
            "one of two"
        );
        let before = readiness_map([&a]);
        let mut a_ignored = a.clone();
        a_ignored.ignored = true;
        assert_eq!(
            l4_events(&before, &readiness_map([&a_ignored])),
            vec![ev(Family::Any, false, "a"), ev(Family::Ipv4, false, "a")]
        );
        assert_eq!(
            connectivity(&readiness_map([&a_ignored])),
            Connectivity::default()
        );
    }
}
