//! Manager state and technology "connected", from the services (ConnMan manager "State").

use crate::model::{ManagerState, Service, ServiceState, TechnologyKind};

/// Offline when offline mode is on; otherwise the best state of any service: online, then
/// ready, else idle.
pub fn manager_state(offline_mode: bool, services: &[Service]) -> ManagerState {
    if offline_mode {
        ManagerState::Offline
    } else if services.iter().any(|s| s.state == ServiceState::Online) {
        ManagerState::Online
    } else if services.iter().any(|s| s.state == ServiceState::Ready) {
        ManagerState::Ready
    } else {
        ManagerState::Idle
    }
}

/// A technology is connected when one of its services is ready or online.
pub fn technology_connected(kind: TechnologyKind, services: &[Service]) -> bool {
    services
        .iter()
        .any(|s| s.technology == kind && s.state.is_connected())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ServiceState::*;
    use crate::model::TechnologyKind::*;
    use crate::policy::fixtures::service;

    #[test]
    fn manager_state_table() {
        let cases: Vec<(&str, bool, Vec<ServiceState>, ManagerState)> = vec![
            ("no services", false, vec![], ManagerState::Idle),
            (
                "only idle and failure",
                false,
                vec![Idle, Failure],
                ManagerState::Idle,
            ),
            (
                "connecting is still idle",
                false,
                vec![Association, Configuration],
                ManagerState::Idle,
            ),
            ("one ready", false, vec![Idle, Ready], ManagerState::Ready),
            (
                "online beats ready",
                false,
                vec![Ready, Online],
                ManagerState::Online,
            ),
            (
                "offline mode wins",
                true,
                vec![Online],
                ManagerState::Offline,
            ),
            (
                "offline mode without services",
                true,
                vec![],
                ManagerState::Offline,
            ),
        ];
        for (name, offline, states, want) in cases {
            let services: Vec<_> = states
                .iter()
                .enumerate()
                .map(|(i, st)| service(&format!("s{i}"), Ethernet, *st))
                .collect();
            assert_eq!(manager_state(offline, &services), want, "{name}");
        }
    }

    #[test]
    fn technology_connected_table() {
        let services = vec![
            service("e", Ethernet, Configuration),
            service("w", Wifi, Online),
        ];
        assert!(!technology_connected(Ethernet, &services));
        assert!(technology_connected(Wifi, &services));
        assert!(!technology_connected(Cellular, &services));
    }
}
