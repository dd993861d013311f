//! Service order: which service is preferred (ConnMan's `service_compare`, made explicit).
//!
//! Rules, first difference wins:
//! 1. connected (ready/online) before connecting (association/configuration) before the rest;
//! 2. online before ready;
//! 3. favorite before not;
//! 4. user order from MoveService: moved services in their user order, before the rest;
//! 5. unmetered before metered (a free network before a paid LTE uplink);
//! 6. technology preference (config `preferred_technologies`, unlisted ones last);
//! 7. stronger signal first;
//! 8. the one that became ready earlier first (stability: an equal newcomer never overtakes);
//! 9. name, then id (total order).

use std::cmp::{Ordering, Reverse};

use crate::model::{Service, ServiceId, ServiceState, TechnologyKind};

/// Inputs that rank services besides the services' own properties.
#[derive(Debug, Clone, Default)]
pub struct OrderPreferences {
    /// Technologies, most preferred first.
    pub technologies: Vec<TechnologyKind>,
    /// Service ids as arranged by MoveService, first = most preferred.
    pub user_order: Vec<ServiceId>,
}

fn state_group(state: ServiceState) -> u8 {
    if state.is_connected() {
        0
    } else if state.is_connecting() {
        1
    } else {
        2
    }
}

fn position<T: PartialEq>(list: &[T], item: &T) -> usize {
    list.iter().position(|x| x == item).unwrap_or(usize::MAX)
}

/// Compares two services: `Less` means `a` is preferred.
pub fn compare(a: &Service, b: &Service, prefs: &OrderPreferences) -> Ordering {
    let key = |s: &Service| {
        (
            state_group(s.state),
            s.state != ServiceState::Online,
            !s.favorite,
            position(&prefs.user_order, &s.id),
            s.metered,
            position(&prefs.technologies, &s.technology),
            Reverse(s.strength),
            s.ready_since.unwrap_or(u64::MAX),
        )
    };
    key(a)
        .cmp(&key(b))
        .then_with(|| a.name.cmp(&b.name))
        .then_with(|| a.id.cmp(&b.id))
}

/// Sorts services into service order, preferred first.
pub fn sort(services: &mut [Service], prefs: &OrderPreferences) {
    services.sort_by(|a, b| compare(a, b, prefs));
}

/// The user order after moving `id` directly before (`after == false`) or after `anchor`,
/// given the current service order. Services not yet in the user order keep their current
/// relative position: the new user order lists every service up to the move's end.
pub fn move_service(
    current: &[ServiceId],
    id: &ServiceId,
    anchor: &ServiceId,
    after: bool,
) -> Vec<ServiceId> {
    let mut order: Vec<ServiceId> = current.iter().filter(|s| *s != id).cloned().collect();
    let at = position(&order, anchor).min(order.len());
    let at = if after { (at + 1).min(order.len()) } else { at };
    order.insert(at, id.clone());
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ServiceState::*;
    use crate::model::TechnologyKind::*;
    use crate::policy::fixtures::service;

    fn ids(services: &[Service]) -> Vec<&str> {
        services.iter().map(|s| s.id.0.as_str()).collect()
    }

    #[test]
    fn ordering_rules_table() {
        let default_prefs = OrderPreferences {
            technologies: vec![Ethernet, Wifi, Bluetooth, Cellular],
            user_order: vec![],
        };
        struct Case {
            name: &'static str,
            services: Vec<Service>,
            prefs: OrderPreferences,
            want: Vec<&'static str>,
        }
        let fav = |mut s: Service| {
            s.favorite = true;
            s
        };
        let strength = |mut s: Service, v| {
            s.strength = v;
            s
        };
        let metered = |mut s: Service| {
            s.metered = true;
            s
        };
        let since = |mut s: Service, v| {
            s.ready_since = Some(v);
            s
        };
        let cases = vec![
            Case {
                name: "connected before connecting before idle",
                services: vec![
                    service("idle", Ethernet, Idle),
                    service("conf", Ethernet, Configuration),
                    service("ready", Cellular, Ready),
                    service("assoc", Ethernet, Association),
                    service("fail", Ethernet, Failure),
                ],
                prefs: default_prefs.clone(),
                want: vec!["ready", "assoc", "conf", "fail", "idle"],
            },
            Case {
                name: "online before ready regardless of technology",
                services: vec![
                    service("eth", Ethernet, Ready),
                    service("cell", Cellular, Online),
                ],
                prefs: default_prefs.clone(),
                want: vec!["cell", "eth"],
            },
            Case {
                name: "favorite before not",
                services: vec![
                    service("eth", Ethernet, Ready),
                    fav(service("wifi", Wifi, Ready)),
                ],
                prefs: default_prefs.clone(),
                want: vec!["wifi", "eth"],
            },
            Case {
                name: "technology preference from config",
                services: vec![
                    service("eth", Ethernet, Ready),
                    service("wifi", Wifi, Ready),
                ],
                prefs: OrderPreferences {
                    technologies: vec![Wifi, Ethernet],
                    user_order: vec![],
                },
                want: vec!["wifi", "eth"],
            },
            Case {
                name: "unlisted technology last",
                services: vec![
                    service("cell", Cellular, Ready),
                    service("eth", Ethernet, Ready),
                ],
                prefs: OrderPreferences {
                    technologies: vec![Ethernet],
                    user_order: vec![],
                },
                want: vec!["eth", "cell"],
            },
            Case {
                name: "user order beats technology preference",
                services: vec![
                    service("eth", Ethernet, Ready),
                    service("wifi", Wifi, Ready),
                ],
                prefs: OrderPreferences {
                    technologies: vec![Ethernet, Wifi],
                    user_order: vec![ServiceId("wifi".into())],
                },
                want: vec!["wifi", "eth"],
            },
            Case {
                name: "user order does not beat connected",
                services: vec![service("eth", Ethernet, Ready), service("wifi", Wifi, Idle)],
                prefs: OrderPreferences {
                    technologies: vec![Ethernet, Wifi],
                    user_order: vec![ServiceId("wifi".into())],
                },
                want: vec!["eth", "wifi"],
            },
            Case {
                name: "unmetered before metered, beating the technology preference",
                services: vec![
                    metered(service("cell", Cellular, Ready)),
                    metered(service("eth", Ethernet, Ready)),
                    service("wifi", Wifi, Ready),
                ],
                prefs: default_prefs.clone(),
                want: vec!["wifi", "eth", "cell"],
            },
            Case {
                name: "metered does not beat online",
                services: vec![
                    service("wifi", Wifi, Ready),
                    metered(service("cell", Cellular, Online)),
                ],
                prefs: default_prefs.clone(),
                want: vec!["cell", "wifi"],
            },
            Case {
                name: "user order beats metering",
                services: vec![
                    service("wifi", Wifi, Ready),
                    metered(service("cell", Cellular, Ready)),
                ],
                prefs: OrderPreferences {
                    technologies: vec![],
                    user_order: vec![ServiceId("cell".into())],
                },
                want: vec!["cell", "wifi"],
            },
            Case {
                name: "stronger signal first",
                services: vec![
                    strength(service("weak", Wifi, Idle), 20),
                    strength(service("strong", Wifi, Idle), 80),
                ],
                prefs: default_prefs.clone(),
                want: vec!["strong", "weak"],
            },
            Case {
                name: "earlier ready first among equals",
                services: vec![
                    since(service("a", Ethernet, Ready), 9),
                    since(service("b", Ethernet, Ready), 3),
                ],
                prefs: default_prefs.clone(),
                want: vec!["b", "a"],
            },
            Case {
                name: "name then id",
                services: vec![service("b", Ethernet, Idle), service("a", Ethernet, Idle)],
                prefs: default_prefs.clone(),
                want: vec!["a", "b"],
            },
        ];
        for mut case in cases {
            sort(&mut case.services, &case.prefs);
            assert_eq!(ids(&case.services), case.want, "{}", case.name);
        }
    }

    #[test]
    fn move_service_table() {
        let id = |s: &str| ServiceId(s.to_string());
        let current = vec![id("a"), id("b"), id("c")];
        let cases = [
            ("c", "a", false, vec!["c", "a", "b"]),
            ("a", "c", true, vec!["b", "c", "a"]),
            ("a", "b", true, vec!["b", "a", "c"]),
        ];
        for (moved, anchor, after, want) in cases {
            let got = move_service(&current, &id(moved), &id(anchor), after);
            let got: Vec<&str> = got.iter().map(|s| s.0.as_str()).collect();
            assert_eq!(
                got,
                want,
                "move {moved} {} {anchor}",
                if after { "after" } else { "before" }
            );
        }
    }
}
