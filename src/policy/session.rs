//! Which service a session gets, what state it is in, which service its connect brings up,
//! and why it moves (DESIGN §3, ConnMan doc/session-api.txt).
//!
//! The choice is deterministic: the first allowed bearer (in the caller's order) that has a
//! usable service wins, and among that bearer's services the first in service order. A
//! service is allowed when its technology is an allowed bearer, it is on the session's
//! `allowed_interface` (when set), and it is not metered unless the session allows metered
//! services.

use crate::model::{
    ConnectionType, HandoverReason, Service, ServiceState, SessionSettings, SessionState,
    SessionView,
};

/// Whether a service in this state can carry a session of this connection type.
pub fn usable(state: ServiceState, connection_type: ConnectionType) -> bool {
    match connection_type {
        ConnectionType::Local | ConnectionType::Any => state.is_connected(),
        ConnectionType::Internet => state == ServiceState::Online,
    }
}

/// Whether the session's settings and its policy's interface pin (`policy_interface`) let
/// `service` carry it, whatever its state: interface and metering (the bearer is checked
/// by the callers, in the caller's order).
fn fits(settings: &SessionSettings, policy_interface: Option<&str>, service: &Service) -> bool {
    settings
        .allowed_interface
        .as_deref()
        .is_none_or(|i| service.interface == i)
        && policy_interface.is_none_or(|i| service.interface == i)
        && (settings.allow_metered || !service.metered)
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
                && fits(settings, interface, s)
                && usable(s.state, settings.connection_type)
        })
    })
}

/// The service a session's connect (ConnectSession) wants connected; `services` in
/// service order. The first allowed bearer that has a service already connected or
/// connecting, or one `connectable` says netpilot can bring up, wins; within a bearer the
/// first in service order (connected services come first there). `None`: no allowed
/// service can connect (the API's `no-service`).
pub fn claim<'a>(
    settings: &SessionSettings,
    services: &'a [Service],
    connectable: impl Fn(&Service) -> bool,
) -> Option<&'a Service> {
    claim_on(settings, None, services, connectable)
}

/// [`claim`] for a session pinned to `interface` by its policy (`None`: any).
pub fn claim_on<'a>(
    settings: &SessionSettings,
    interface: Option<&str>,
    services: &'a [Service],
    connectable: impl Fn(&Service) -> bool,
) -> Option<&'a Service> {
    settings.allowed_bearers.iter().find_map(|bearer| {
        services.iter().find(|s| {
            bearer.allows(s.technology)
                && fits(settings, interface, s)
                && (s.state.is_connected() || s.state.is_connecting() || connectable(s))
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

/// Everything the session's client is told, for these settings and services. The
/// handover and the connect request are the engine's to fill in.
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
        connect_requested: false,
        handover: None,
        released: None,
    }
}

/// Why a session leaves `previous` for another service. `previous` is the service as it is
/// now (`None`: it went away); `link_lost` says whether its link (carrier, access point)
/// is gone; `settings_changed` whether the session's settings changed in the same step.
pub fn handover_reason(
    connection_type: ConnectionType,
    previous: Option<&Service>,
    link_lost: bool,
    settings_changed: bool,
) -> HandoverReason {
    if settings_changed {
        return HandoverReason::Settings;
    }
    let Some(previous) = previous else {
        return HandoverReason::Disconnected;
    };
    match previous.state {
        ServiceState::Failure => HandoverReason::Failed,
        ServiceState::Ready if connection_type == ConnectionType::Internet => {
            HandoverReason::Demoted
        }
        state if state.is_connected() => HandoverReason::BetterService,
        _ if link_lost => HandoverReason::LostCarrier,
        _ => HandoverReason::Disconnected,
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
                ..SessionSettings::default()
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

    fn settings(bearers: Vec<Bearer>) -> SessionSettings {
        SessionSettings {
            allowed_bearers: bearers,
            ..SessionSettings::default()
        }
    }

    #[test]
    fn interface_and_metering_narrow_the_choice() {
        let mut cell = service("cell", Cellular, Online);
        cell.metered = true;
        let mut eth0 = service("eth0", Ethernet, Ready);
        eth0.interface = "eth0".into();
        let mut eth1 = service("eth1", Ethernet, Ready);
        eth1.interface = "eth1".into();
        let services = vec![cell.clone(), eth0.clone(), eth1.clone()];
        type Case = (
            &'static str,
            SessionSettings,
            &'static [ServiceState],
            Option<&'static str>,
        );
        let pinned = |name: &str| SessionSettings {
            allowed_interface: Some(name.into()),
            ..settings(vec![Any])
        };
        let unmetered = SessionSettings {
            allow_metered: false,
            ..settings(vec![Any])
        };
        let cases: Vec<Case> = vec![
            (
                "metered allowed: the first in order",
                settings(vec![Any]),
                &[],
                Some("cell"),
            ),
            (
                "metered refused: the next one",
                unmetered.clone(),
                &[],
                Some("eth0"),
            ),
            ("pinned to eth1", pinned("eth1"), &[], Some("eth1")),
            ("pinned to a missing interface", pinned("wlan0"), &[], None),
        ];
        for (name, settings, _, want) in cases {
            let got = choose_service(&settings, &services).map(|s| s.id.0.as_str());
            assert_eq!(got, want, "{name}");
        }
        // The metered link is the only one ready: an unmetered session stays disconnected.
        let only_cell = vec![cell, service("eth", Ethernet, Idle)];
        let view = session_view(&unmetered, &only_cell);
        assert_eq!(view.state, SessionState::Disconnected);
        assert_eq!(view.service_id, None);
    }

    #[test]
    fn claim_table() {
        let mut eth0 = service("eth0", Ethernet, Idle);
        eth0.interface = "eth0".into();
        let mut eth1 = service("eth1", Ethernet, Idle);
        eth1.interface = "eth1".into();
        let mut wifi = service("wifi", Wifi, Ready);
        wifi.interface = "wlan0".into();
        let mut cell = service("cell", Cellular, Idle);
        cell.metered = true;
        // Service order: connected first.
        let services = vec![wifi.clone(), eth0.clone(), eth1.clone(), cell.clone()];
        let all = |_: &Service| true;
        let none = |_: &Service| false;
        let only = |id: &'static str| move |s: &Service| s.id.0 == id;
        type Case = (
            &'static str,
            SessionSettings,
            Box<dyn Fn(&Service) -> bool>,
            Option<&'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                "the caller's first bearer with something connectable",
                settings(vec![tech(Ethernet), tech(Wifi)]),
                Box::new(all),
                Some("eth0"),
            ),
            (
                "nothing connectable on the first bearer: a connected one on the next",
                settings(vec![tech(Ethernet), tech(Wifi)]),
                Box::new(none),
                Some("wifi"),
            ),
            (
                "any bearer: the connected service first in order",
                settings(vec![Any]),
                Box::new(all),
                Some("wifi"),
            ),
            (
                "ties by service order, skipping what cannot connect",
                settings(vec![tech(Ethernet)]),
                Box::new(only("eth1")),
                Some("eth1"),
            ),
            (
                "pinned interface",
                SessionSettings {
                    allowed_interface: Some("eth1".into()),
                    ..settings(vec![tech(Ethernet)])
                },
                Box::new(all),
                Some("eth1"),
            ),
            (
                "metered refused",
                SessionSettings {
                    allow_metered: false,
                    ..settings(vec![tech(Cellular)])
                },
                Box::new(all),
                None,
            ),
            ("nothing allowed", settings(vec![]), Box::new(all), None),
            (
                "allowed bearer without services",
                settings(vec![tech(Bluetooth)]),
                Box::new(all),
                None,
            ),
        ];
        for (name, settings, connectable, want) in cases {
            let got = claim(&settings, &services, |s| connectable(s)).map(|s| s.id.0.as_str());
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn handover_reason_table() {
        let ready = service("r", Ethernet, Ready);
        let online = service("o", Ethernet, Online);
        let failed = service("f", Ethernet, Failure);
        let idle = service("i", Ethernet, Idle);
        use HandoverReason::*;
        let cases = [
            (
                "still online: something better",
                AnyType,
                Some(&online),
                false,
                false,
                BetterService,
            ),
            (
                "still ready, local",
                Local,
                Some(&ready),
                false,
                false,
                BetterService,
            ),
            (
                "ready for an internet session: demoted",
                Internet,
                Some(&ready),
                false,
                false,
                Demoted,
            ),
            ("failed", AnyType, Some(&failed), false, false, Failed),
            (
                "idle after losing carrier",
                AnyType,
                Some(&idle),
                true,
                false,
                LostCarrier,
            ),
            (
                "idle with carrier: disconnected",
                AnyType,
                Some(&idle),
                false,
                false,
                Disconnected,
            ),
            ("gone", AnyType, None, true, false, Disconnected),
            (
                "the session's own settings",
                AnyType,
                Some(&online),
                false,
                true,
                Settings,
            ),
        ];
        for (name, ct, previous, lost, changed, want) in cases {
            assert_eq!(handover_reason(ct, previous, lost, changed), want, "{name}");
        }
    }
}
