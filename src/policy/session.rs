//! Which service a session gets and what state it is in (DESIGN §3, ConnMan
//! doc/session-api.txt).
//!
//! The choice is deterministic: the first allowed bearer (in the caller's order) that has a
//! usable service wins, and among that bearer's services the first in service order.

use crate::model::{
    ConnectionType, Service, ServiceState, SessionSettings, SessionState, SessionView,
};

/// Whether a service in this state can carry a session of this connection type.
pub fn usable(state: ServiceState, connection_type: ConnectionType) -> bool {
    match connection_type {
        ConnectionType::Local | ConnectionType::Any => state.is_connected(),
        ConnectionType::Internet => state == ServiceState::Online,
    }
}

/// The service a session gets; `services` must be in service order.
pub fn choose_service<'a>(
    settings: &SessionSettings,
    services: &'a [Service],
) -> Option<&'a Service> {
    choose_service_on(settings, None, services)
}

/// The service a session gets when a session policy pins it to `interface` (`None`: any).
pub fn choose_service_on<'a>(
    settings: &SessionSettings,
    interface: Option<&str>,
    services: &'a [Service],
) -> Option<&'a Service> {
    settings.allowed_bearers.iter().find_map(|bearer| {
        services.iter().find(|s| {
            bearer.allows(s.technology)
                && usable(s.state, settings.connection_type)
                && interface.is_none_or(|i| s.interface == i)
        })
    })
}

/// The session state for a chosen service: `local` reports connected for ready and online,
/// `internet` reports online, `any` reports connected or online.
pub fn session_state(connection_type: ConnectionType, service: Option<&Service>) -> SessionState {
    match (connection_type, service.map(|s| s.state)) {
        (_, None) => SessionState::Disconnected,
        (ConnectionType::Local, Some(_)) => SessionState::Connected,
        (_, Some(ServiceState::Online)) => SessionState::Online,
        (ConnectionType::Internet, Some(_)) => SessionState::Disconnected,
        (ConnectionType::Any, Some(_)) => SessionState::Connected,
    }
}

/// Everything the session's client is told, for these settings and services.
pub fn session_view(settings: &SessionSettings, services: &[Service]) -> SessionView {
    session_view_on(settings, None, services)
}

/// [`session_view`] for a session pinned to `interface` by its policy (`None`: any).
pub fn session_view_on(
    settings: &SessionSettings,
    interface: Option<&str>,
    services: &[Service],
) -> SessionView {
    let chosen = choose_service_on(settings, interface, services);
    SessionView {
        state: session_state(settings.connection_type, chosen),
        name: chosen.map(|s| s.name.clone()).unwrap_or_default(),
        bearer: chosen.map(|s| s.technology),
        interface: chosen.map(|s| s.interface.clone()).unwrap_or_default(),
        service_id: chosen.map(|s| s.id.clone()),
        ipv4: chosen.and_then(|s| s.ipv4.clone()),
        ipv6: chosen.and_then(|s| s.ipv6.clone()),
        settings: settings.clone(),
        released: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Bearer::{self, Any};
    use crate::model::ConnectionType::{Any as AnyType, Internet, Local};
    use crate::model::ServiceState::*;
    use crate::model::TechnologyKind::*;
    use crate::policy::fixtures::service;

    fn tech(k: crate::model::TechnologyKind) -> Bearer {
        Bearer::Technology(k)
    }

    #[test]
    fn choice_and_state_table() {
        // Service order as policy::order would produce it.
        let services = vec![
            service("wifi-online", Wifi, Online),
            service("eth-ready", Ethernet, Ready),
            service("eth2-ready", Ethernet, Ready),
            service("cell-conf", Cellular, Configuration),
        ];
        type Case = (
            &'static str,
            Vec<Bearer>,
            ConnectionType,
            Option<&'static str>,
            SessionState,
        );
        let cases: Vec<Case> = vec![
            (
                "any bearer, local: first connected",
                vec![Any],
                Local,
                Some("wifi-online"),
                SessionState::Connected,
            ),
            (
                "any bearer, any: online reported",
                vec![Any],
                AnyType,
                Some("wifi-online"),
                SessionState::Online,
            ),
            (
                "any bearer, internet: online only",
                vec![Any],
                Internet,
                Some("wifi-online"),
                SessionState::Online,
            ),
            (
                "caller's bearer order wins over service order",
                vec![tech(Ethernet), tech(Wifi)],
                Local,
                Some("eth-ready"),
                SessionState::Connected,
            ),
            (
                "ties broken by service order",
                vec![tech(Ethernet)],
                AnyType,
                Some("eth-ready"),
                SessionState::Connected,
            ),
            (
                "internet skips ready-only bearers",
                vec![tech(Ethernet), tech(Wifi)],
                Internet,
                Some("wifi-online"),
                SessionState::Online,
            ),
            (
                "internet with ethernet only: nothing online",
                vec![tech(Ethernet)],
                Internet,
                None,
                SessionState::Disconnected,
            ),
            (
                "connecting services are not usable",
                vec![tech(Cellular)],
                AnyType,
                None,
                SessionState::Disconnected,
            ),
            (
                "bearer without services falls through",
                vec![tech(Bluetooth), tech(Ethernet)],
                Local,
                Some("eth-ready"),
                SessionState::Connected,
            ),
            (
                "empty bearer list never connects",
                vec![],
                AnyType,
                None,
                SessionState::Disconnected,
            ),
        ];
        for (name, bearers, ct, want_service, want_state) in cases {
            let settings = SessionSettings {
                allowed_bearers: bearers,
                connection_type: ct,
            };
            let view = session_view(&settings, &services);
            assert_eq!(
                view.service_id.as_ref().map(|s| s.0.as_str()),
                want_service,
                "{name}"
            );
            assert_eq!(view.state, want_state, "{name}");
            assert_eq!(view.settings, settings, "{name}");
        }
    }

    #[test]
    fn session_state_table() {
        let ready = service("r", Ethernet, Ready);
        let online = service("o", Ethernet, Online);
        let cases = [
            (Local, None, SessionState::Disconnected),
            (Local, Some(&ready), SessionState::Connected),
            (Local, Some(&online), SessionState::Connected),
            (AnyType, Some(&ready), SessionState::Connected),
            (AnyType, Some(&online), SessionState::Online),
            (Internet, Some(&ready), SessionState::Disconnected),
            (Internet, Some(&online), SessionState::Online),
        ];
        for (ct, svc, want) in cases {
            assert_eq!(
                session_state(ct, svc),
                want,
                "{ct:?} {:?}",
                svc.map(|s| s.state)
            );
        }
    }

    #[test]
    fn view_carries_the_chosen_services_details() {
        let mut eth = service("eth", Ethernet, Ready);
        eth.interface = "veth0".into();
        let view = session_view(&SessionSettings::default(), &[eth]);
        assert_eq!(view.interface, "veth0");
        assert_eq!(view.bearer, Some(Ethernet));
        assert_eq!(view.name, "eth");
    }
}
