//! Ethernet: one service per Ethernet netdev (classified by the kernel's device type, see
//! [`crate::model::InterfaceKind::classify`]), whose L2 state is the carrier.
//!
//! The backend runs inside the engine on the engine's own copy of the kernel's links: it
//! compares the links with what it announced before and reports the difference as
//! [`Event`]s, exactly as a backend task would.

use std::collections::BTreeMap;

use super::{Event, ServiceInfo};
use crate::model::{Interface, InterfaceKind, L2State, Security, ServiceId, TechnologyKind};

/// ConnMan's name for every wired service.
pub const SERVICE_NAME: &str = "Wired";

/// The Ethernet backend's memory: what it announced, by ifindex.
#[derive(Debug, Default)]
pub struct Ethernet {
    announced: BTreeMap<u32, (ServiceInfo, L2State)>,
}

/// The service an interface carries: a non-ignored Ethernet link with a MAC. `ieee8021x`
/// marks a link that authenticates with IEEE 802.1X (security `ieee8021x`).
pub fn service_info(iface: &Interface, managed: bool, ieee8021x: bool) -> Option<ServiceInfo> {
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
        security: if ieee8021x {
            vec![Security::Ieee8021x]
        } else {
            vec![]
        },
        wifi: None,
    })
}

/// Carrier (admin-up and oper-up) is L2 for Ethernet. On an 802.1X link carrier only starts
/// authentication: wpa_supplicant's report that it succeeded completes L2.
pub fn l2_state(iface: &Interface, ieee8021x: bool) -> L2State {
    match (iface.admin_up && iface.oper_up, ieee8021x) {
        (false, _) => L2State::Idle,
        (true, true) => L2State::Associating,
        (true, false) => L2State::Associated {
            ifindex: iface.index,
        },
    }
}

impl Ethernet {
    /// The events that bring the engine from what was announced before to `interfaces`.
    /// `managed` says whether netpilot configures a link (config `managed_interfaces`),
    /// `ieee8021x` whether a managed link authenticates first (`[ieee8021x] interfaces`).
    pub fn sync(
        &mut self,
        interfaces: &[Interface],
        managed: impl Fn(&Interface) -> bool,
        ieee8021x: impl Fn(&Interface) -> bool,
    ) -> Vec<Event> {
        let mut events = Vec::new();
        let mut now = BTreeMap::new();
        for iface in interfaces {
            let managed = managed(iface);
            let ieee8021x = managed && ieee8021x(iface);
            if let Some(info) = service_info(iface, managed, ieee8021x) {
                now.insert(iface.index, (info, l2_state(iface, ieee8021x)));
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
            |_| false,
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
                    security: vec![],
                    wifi: None,
                }),
                Event::L2 {
                    id: id(1),
                    state: L2State::Idle
                },
            ],
            "only real Ethernet gets a service"
        );
        assert_eq!(
            eth.sync(
                &[iface(1, InterfaceKind::Ethernet, false)],
                |_| true,
                |_| false
            ),
            vec![],
            "nothing changed, nothing reported"
        );
        assert_eq!(
            eth.sync(
                &[iface(1, InterfaceKind::Ethernet, true)],
                |_| true,
                |_| false
            ),
            vec![Event::L2 {
                id: id(1),
                state: L2State::Associated { ifindex: 1 }
            }],
            "carrier"
        );
        let unmanaged = eth.sync(
            &[iface(1, InterfaceKind::Ethernet, true)],
            |_| false,
            |_| true,
        );
        assert!(
            matches!(&unmanaged[..], [Event::Service(s)] if !s.managed),
            "{unmanaged:?}"
        );
        assert_eq!(
            eth.sync(&[], |_| true, |_| false),
            vec![Event::ServiceGone(id(1))],
            "link removed"
        );
    }

    #[test]
    fn ignored_links_and_links_without_a_mac_have_no_service() {
        let mut ignored = iface(1, InterfaceKind::Ethernet, true);
        ignored.ignored = true;
        assert!(service_info(&ignored, true, false).is_none());
        let mut no_mac = iface(1, InterfaceKind::Ethernet, true);
        no_mac.mac = None;
        assert!(service_info(&no_mac, true, false).is_none());
    }

    #[test]
    fn an_8021x_link_is_only_associating_until_authenticated() {
        let mut eth = Ethernet::default();
        let events = eth.sync(
            &[iface(1, InterfaceKind::Ethernet, true)],
            |_| true,
            |_| true,
        );
        assert!(
            matches!(&events[..], [Event::Service(s), Event::L2 { state: L2State::Associating, .. }]
                if s.security == vec![Security::Ieee8021x]),
            "{events:?}"
        );
        assert_eq!(
            eth.sync(
                &[iface(1, InterfaceKind::Ethernet, false)],
                |_| true,
                |_| true
            ),
            vec![Event::L2 {
                id: id(1),
                state: L2State::Idle
            }]
        );
    }
}
