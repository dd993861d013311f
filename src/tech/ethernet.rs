//! Ethernet: one service per Ethernet netdev (classified by the kernel's device type, see
//! [`crate::model::InterfaceKind::classify`]), whose L2 state is the carrier.
//!
//! The backend runs inside the engine on the engine's own copy of the kernel's links: it
//! compares the links with what it announced before and reports the difference as
//! [`Event`]s, exactly as a backend task would.

use std::collections::BTreeMap;

use super::{Event, ServiceInfo};
use crate::model::{Interface, InterfaceKind, L2State, ServiceId, TechnologyKind};

/// ConnMan's name for every wired service.
pub const SERVICE_NAME: &str = "Wired";

/// The Ethernet backend's memory: what it announced, by ifindex.
#[derive(Debug, Default)]
pub struct Ethernet {
    announced: BTreeMap<u32, (ServiceInfo, L2State)>,
}

/// The service an interface carries: a non-ignored Ethernet link with a MAC.
pub fn service_info(iface: &Interface, managed: bool) -> Option<ServiceInfo> {
    if iface.kind != InterfaceKind::Ethernet || iface.ignored {
        return None;
    }
    Some(ServiceInfo {
        id: ServiceId::ethernet(iface.mac?),
        technology: TechnologyKind::Ethernet,
        name: SERVICE_NAME.to_string(),
        netdev: Some(iface.index),
        managed,
        strength: 0,
    })
}

/// Carrier (admin-up and oper-up) is L2 for Ethernet.
pub fn l2_state(iface: &Interface) -> L2State {
    if iface.admin_up && iface.oper_up {
        L2State::Associated {
            ifindex: iface.index,
        }
    } else {
        L2State::Idle
    }
}

impl Ethernet {
    /// The events that bring the engine from what was announced before to `interfaces`.
    /// `managed` says whether netpilot configures a link (config `managed_interfaces`).
    pub fn sync(
        &mut self,
        interfaces: &[Interface],
        managed: impl Fn(&Interface) -> bool,
    ) -> Vec<Event> {
        let mut events = Vec::new();
        let mut now = BTreeMap::new();
        for iface in interfaces {
            if let Some(info) = service_info(iface, managed(iface)) {
                now.insert(iface.index, (info, l2_state(iface)));
            }
        }
        for (index, (info, _)) in &self.announced {
            if now.get(index).is_none_or(|(new, _)| new.id != info.id) {
                events.push(Event::ServiceGone(info.id.clone()));
            }
        }
        for (index, (info, l2)) in &now {
            let before = self.announced.get(index).filter(|(b, _)| b.id == info.id);
            if before.map(|(b, _)| b) != Some(info) {
                events.push(Event::Service(info.clone()));
            }
            if before.map(|(_, l)| l) != Some(l2) {
                events.push(Event::L2 {
                    id: info.id.clone(),
                    state: *l2,
                });
            }
        }
        self.announced = now;
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(index: u32, kind: InterfaceKind, carrier: bool) -> Interface {
        Interface {
            index,
            name: format!("eth{index}"),
            mac: Some([0x02, 0, 0, 0, 0, index as u8]),
            kind,
            admin_up: true,
            oper_up: carrier,
            mtu: 1500,
            addresses: vec![],
            ignored: false,
        }
    }

    fn id(index: u8) -> ServiceId {
        ServiceId::ethernet([0x02, 0, 0, 0, 0, index])
    }

    #[test]
    fn services_appear_change_l2_and_go() {
        let mut eth = Ethernet::default();
        let events = eth.sync(
            &[
                iface(1, InterfaceKind::Ethernet, false),
                iface(2, InterfaceKind::Wireless, true),
                iface(3, InterfaceKind::Bluetooth, true),
            ],
            |_| true,
        );
        assert_eq!(
            events,
            vec![
                Event::Service(ServiceInfo {
                    id: id(1),
                    technology: TechnologyKind::Ethernet,
                    name: SERVICE_NAME.into(),
                    netdev: Some(1),
                    managed: true,
                    strength: 0,
                }),
                Event::L2 {
                    id: id(1),
                    state: L2State::Idle
                },
            ],
            "only real Ethernet gets a service"
        );
        assert_eq!(
            eth.sync(&[iface(1, InterfaceKind::Ethernet, false)], |_| true),
            vec![],
            "nothing changed, nothing reported"
        );
        assert_eq!(
            eth.sync(&[iface(1, InterfaceKind::Ethernet, true)], |_| true),
            vec![Event::L2 {
                id: id(1),
                state: L2State::Associated { ifindex: 1 }
            }],
            "carrier"
        );
        let unmanaged = eth.sync(&[iface(1, InterfaceKind::Ethernet, true)], |_| false);
        assert!(
            matches!(&unmanaged[..], [Event::Service(s)] if !s.managed),
            "{unmanaged:?}"
        );
        assert_eq!(
            eth.sync(&[], |_| true),
            vec![Event::ServiceGone(id(1))],
            "link removed"
        );
    }

    #[test]
    fn ignored_links_and_links_without_a_mac_have_no_service() {
        let mut ignored = iface(1, InterfaceKind::Ethernet, true);
        ignored.ignored = true;
        assert!(service_info(&ignored, true).is_none());
        let mut no_mac = iface(1, InterfaceKind::Ethernet, true);
        no_mac.mac = None;
        assert!(service_info(&no_mac, true).is_none());
    }
}
