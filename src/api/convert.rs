//! Model ⇄ protobuf. Outbound conversions are `From`; inbound ones validate and name the
//! offending field.

use crate::engine::{Event, EventBatch, InterfaceView, ManagerInfo, Snapshot};
use crate::model::{
    validate_ssid, Bearer, ConnectionType, Credentials, EapConfig, EapMethod, EapPhase2, Family,
    Interface, IpMethod, Ipv4Config, Ipv6Config, ManagerState, ProxyConfig, Secret, Security,
    Service, ServiceState, SessionChange, SessionInfo, SessionSettings, SessionState, SessionView,
    Technology, TechnologyKind, MAX_CONTEXT_IDENTIFIER,
};
use crate::pb;

use super::status;

impl From<TechnologyKind> for pb::TechnologyType {
    fn from(k: TechnologyKind) -> Self {
        match k {
            TechnologyKind::Ethernet => Self::Ethernet,
            TechnologyKind::Wifi => Self::Wifi,
            TechnologyKind::Bluetooth => Self::Bluetooth,
            TechnologyKind::Cellular => Self::Cellular,
        }
    }
}

/// The technology a request names in `field`.
pub fn technology_kind(field: &str, value: i32) -> Result<TechnologyKind, tonic::Status> {
    match pb::TechnologyType::try_from(value) {
        Ok(pb::TechnologyType::Ethernet) => Ok(TechnologyKind::Ethernet),
        Ok(pb::TechnologyType::Wifi) => Ok(TechnologyKind::Wifi),
        Ok(pb::TechnologyType::Bluetooth) => Ok(TechnologyKind::Bluetooth),
        Ok(pb::TechnologyType::Cellular) => Ok(TechnologyKind::Cellular),
        Ok(pb::TechnologyType::Unspecified) => {
            Err(status::invalid(field, "a technology type is required"))
        }
        Err(_) => Err(status::invalid(
            field,
            format!("unknown technology type {value}"),
        )),
    }
}

impl From<ManagerState> for pb::ManagerState {
    fn from(s: ManagerState) -> Self {
        match s {
            ManagerState::Offline => Self::Offline,
            ManagerState::Idle => Self::Idle,
            ManagerState::Ready => Self::Ready,
            ManagerState::Online => Self::Online,
        }
    }
}

impl From<ServiceState> for pb::ServiceState {
    fn from(s: ServiceState) -> Self {
        match s {
            ServiceState::Idle => Self::Idle,
            ServiceState::Association => Self::Association,
            ServiceState::Configuration => Self::Configuration,
            ServiceState::Ready => Self::Ready,
            ServiceState::Online => Self::Online,
            ServiceState::Disconnect => Self::Disconnect,
            ServiceState::Failure => Self::Failure,
        }
    }
}

fn ipv4_method(m: IpMethod) -> pb::Ipv4Method {
    match m {
        IpMethod::Dhcp => pb::Ipv4Method::Dhcp,
        IpMethod::Manual => pb::Ipv4Method::Manual,
        IpMethod::Off => pb::Ipv4Method::Off,
        IpMethod::Fixed | IpMethod::Auto => pb::Ipv4Method::Fixed,
    }
}

fn ipv6_method(m: IpMethod) -> pb::Ipv6Method {
    match m {
        IpMethod::Auto => pb::Ipv6Method::Auto,
        IpMethod::Manual => pb::Ipv6Method::Manual,
        IpMethod::Off => pb::Ipv6Method::Off,
        IpMethod::Fixed | IpMethod::Dhcp => pb::Ipv6Method::Fixed,
    }
}

fn ipv4(info: &Option<crate::model::Ipv4Info>) -> Option<pb::Ipv4Settings> {
    info.as_ref().map(|i| pb::Ipv4Settings {
        method: ipv4_method(i.method).into(),
        address: i.address.to_string(),
        prefix_length: i.prefix_len.into(),
        gateway: i.gateway.map(|g| g.to_string()).unwrap_or_default(),
    })
}

fn ipv6(info: &Option<crate::model::Ipv6Info>) -> Option<pb::Ipv6Settings> {
    info.as_ref().map(|i| pb::Ipv6Settings {
        method: ipv6_method(i.method).into(),
        address: i.address.to_string(),
        prefix_length: i.prefix_len.into(),
        gateway: i.gateway.map(|g| g.to_string()).unwrap_or_default(),
    })
}

impl From<&Service> for pb::Service {
    fn from(s: &Service) -> Self {
        pb::Service {
            id: s.id.0.clone(),
            name: s.name.clone(),
            r#type: pb::TechnologyType::from(s.technology).into(),
            state: pb::ServiceState::from(s.state).into(),
            error: s.error.map(|e| e.as_str().to_string()).unwrap_or_default(),
            strength: s.strength.into(),
            favorite: s.favorite,
            immutable: s.immutable,
            autoconnect: s.autoconnect,
            ipv4: ipv4(&s.ipv4),
            ipv6: ipv6(&s.ipv6),
            ipv4_config: s.config.as_ref().map(|c| ipv4_config(&c.ipv4)),
            ipv6_config: s.config.as_ref().map(|c| ipv6_config(&c.ipv6)),
            nameservers: s.nameservers.iter().map(|n| n.to_string()).collect(),
            nameservers_config: s
                .config
                .iter()
                .flat_map(|c| c.nameservers.iter().map(|n| n.to_string()))
                .collect(),
            timeservers: s.timeservers.clone(),
            timeservers_config: s
                .config
                .iter()
                .flat_map(|c| c.timeservers.clone())
                .collect(),
            domains: s.domains.clone(),
            domains_config: s.config.iter().flat_map(|c| c.domains.clone()).collect(),
            ethernet: Some(pb::Ethernet {
                interface: s.interface.clone(),
                address: s.mac.clone(),
                mtu: s.mtu,
            }),
            route_metric: s.route_metric.unwrap_or_default(),
            captive_portal_url: s.captive_portal_url.clone().unwrap_or_default(),
            managed: s.managed,
            roaming: false,
            security: s
                .security
                .iter()
                .map(|x| pb::Security::from(*x).into())
                .collect(),
            proxy: s.proxy.as_ref().map(proxy),
            proxy_config: s.config.as_ref().and_then(|c| c.proxy.as_ref()).map(proxy),
            ssid: s.wifi.as_ref().map(|w| w.ssid.clone()).unwrap_or_default(),
            frequency: s.wifi.as_ref().map_or(0, |w| w.frequency),
            bss_count: s.wifi.as_ref().map_or(0, |w| w.bss_count),
            hidden: s.wifi.as_ref().is_some_and(|w| w.hidden),
            passphrase_set: s.credentials.passphrase,
            identity_set: s.credentials.identity,
            password_set: s.credentials.password,
            eap_config: s
                .config
                .as_ref()
                .and_then(|c| c.eap.as_ref())
                .map(eap_settings),
            connect_timeout: s
                .config
                .as_ref()
                .and_then(|c| c.connect_timeout)
                .map(seconds),
            idle_timeout: s.config.as_ref().and_then(|c| c.idle_timeout).map(seconds),
            admin_down_on_timeout: s.config.as_ref().and_then(|c| c.admin_down_on_timeout),
            metered: s.metered,
        }
    }
}

impl From<Security> for pb::Security {
    fn from(s: Security) -> Self {
        match s {
            Security::None => Self::None,
            Security::Wep => Self::Wep,
            Security::Psk => Self::Psk,
            Security::Sae => Self::Sae,
            Security::Ieee8021x => Self::Ieee8021x,
            Security::Wps => Self::Wps,
        }
    }
}

fn seconds(s: u64) -> pbjson_types::Duration {
    pbjson_types::Duration {
        seconds: s as i64,
        nanos: 0,
    }
}

/// Whole seconds of a duration in UpdateService's `field`; `None` (unset) clears it.
pub fn seconds_from(
    field: &str,
    d: Option<&pbjson_types::Duration>,
) -> Result<Option<u64>, tonic::Status> {
    match d {
        None => Ok(None),
        Some(d) if d.seconds <= 0 || d.nanos != 0 => Err(status::invalid(
            field,
            "must be a positive whole number of seconds",
        )),
        Some(d) => Ok(Some(d.seconds as u64)),
    }
}

fn path_text(p: &Option<std::path::PathBuf>) -> String {
    p.as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

fn eap_settings(e: &EapConfig) -> pb::EapSettings {
    pb::EapSettings {
        method: match e.method {
            EapMethod::Peap => pb::EapMethod::Peap,
            EapMethod::Ttls => pb::EapMethod::Ttls,
            EapMethod::Tls => pb::EapMethod::Tls,
        }
        .into(),
        phase2: match e.phase2 {
            EapPhase2::Mschapv2 => pb::EapPhase2::Mschapv2,
            EapPhase2::Pap => pb::EapPhase2::Pap,
            EapPhase2::Gtc => pb::EapPhase2::Gtc,
        }
        .into(),
        ca_cert: path_text(&e.ca_cert),
        client_cert: path_text(&e.client_cert),
        private_key: path_text(&e.private_key),
        anonymous_identity: e.anonymous_identity.clone().unwrap_or_default(),
        domain_match: e.domain_match.clone().unwrap_or_default(),
    }
}

/// Credentials and a hidden network's name from ConnectService's `credentials`, each checked
/// (a passphrase's length and alphabet, an SSID's 1..32 bytes); empty strings are unset.
pub fn credentials_from(
    c: Option<&pb::Credentials>,
) -> Result<(Credentials, Option<Vec<u8>>), tonic::Status> {
    let Some(c) = c else {
        return Ok((Credentials::default(), None));
    };
    let secret = |v: &str| (!v.is_empty()).then(|| Secret::new(v));
    let credentials = Credentials {
        passphrase: secret(&c.passphrase),
        identity: secret(&c.identity),
        password: secret(&c.password),
        private_key_passphrase: secret(&c.private_key_passphrase),
    };
    credentials
        .validate("credentials")
        .map_err(|e| status::invalid(e.field, e.message))?;
    let name = (!c.ssid.is_empty()).then(|| c.ssid.as_bytes().to_vec());
    if let Some(ssid) = &name {
        validate_ssid("credentials.ssid", ssid).map_err(|e| status::invalid(e.field, e.message))?;
    }
    Ok((credentials, name))
}

fn proxy(p: &ProxyConfig) -> pb::Proxy {
    match p {
        ProxyConfig::Direct => pb::Proxy {
            method: "direct".into(),
            ..Default::default()
        },
        ProxyConfig::Manual { servers, excludes } => pb::Proxy {
            method: "manual".into(),
            servers: servers.clone(),
            excludes: excludes.clone(),
            ..Default::default()
        },
        ProxyConfig::Auto { url } => pb::Proxy {
            method: "auto".into(),
            url: url.clone().unwrap_or_default(),
            ..Default::default()
        },
    }
}

/// Proxy settings from UpdateService's `service.proxy_config`; unset or an empty method
/// clears them. Values are checked by [`ProxyConfig::validate`] once merged.
pub fn proxy_config_from(p: Option<&pb::Proxy>) -> Result<Option<ProxyConfig>, tonic::Status> {
    const F: &str = "service.proxy_config";
    let Some(p) = p else { return Ok(None) };
    let only = |method: &str, field: &str, set: bool| {
        if set {
            Err(status::invalid(
                format!("{F}.{field}"),
                format!("is not used with method {method:?}"),
            ))
        } else {
            Ok(())
        }
    };
    match p.method.as_str() {
        "" if p.url.is_empty() && p.servers.is_empty() && p.excludes.is_empty() => Ok(None),
        "direct" => {
            only("direct", "url", !p.url.is_empty())?;
            only("direct", "servers", !p.servers.is_empty())?;
            only("direct", "excludes", !p.excludes.is_empty())?;
            Ok(Some(ProxyConfig::Direct))
        }
        "auto" => {
            only("auto", "servers", !p.servers.is_empty())?;
            only("auto", "excludes", !p.excludes.is_empty())?;
            Ok(Some(ProxyConfig::Auto {
                url: (!p.url.is_empty()).then(|| p.url.clone()),
            }))
        }
        "manual" => {
            only("manual", "url", !p.url.is_empty())?;
            Ok(Some(ProxyConfig::Manual {
                servers: p.servers.clone(),
                excludes: p.excludes.clone(),
            }))
        }
        other => Err(status::invalid(
            format!("{F}.method"),
            format!("{other:?} is not a method; use direct, auto or manual"),
        )),
    }
}

/// 802.1X settings from UpdateService's `service.eap_config`; unset clears them.
pub fn eap_config_from(s: Option<&pb::EapSettings>) -> Result<Option<EapConfig>, tonic::Status> {
    const F: &str = "service.eap_config";
    let Some(s) = s else { return Ok(None) };
    let method = match pb::EapMethod::try_from(s.method) {
        Ok(pb::EapMethod::Unspecified | pb::EapMethod::Peap) => EapMethod::Peap,
        Ok(pb::EapMethod::Ttls) => EapMethod::Ttls,
        Ok(pb::EapMethod::Tls) => EapMethod::Tls,
        Err(_) => {
            return Err(status::invalid(
                format!("{F}.method"),
                format!("unknown EAP method {}", s.method),
            ))
        }
    };
    let phase2 = match pb::EapPhase2::try_from(s.phase2) {
        Ok(pb::EapPhase2::Unspecified | pb::EapPhase2::Mschapv2) => EapPhase2::Mschapv2,
        Ok(pb::EapPhase2::Pap) => EapPhase2::Pap,
        Ok(pb::EapPhase2::Gtc) => EapPhase2::Gtc,
        Err(_) => {
            return Err(status::invalid(
                format!("{F}.phase2"),
                format!("unknown phase 2 {}", s.phase2),
            ))
        }
    };
    let text = |v: &str| (!v.is_empty()).then(|| v.to_string());
    let path = |v: &str| (!v.is_empty()).then(|| std::path::PathBuf::from(v));
    Ok(Some(EapConfig {
        method,
        phase2,
        ca_cert: path(&s.ca_cert),
        client_cert: path(&s.client_cert),
        private_key: path(&s.private_key),
        anonymous_identity: text(&s.anonymous_identity),
        domain_match: text(&s.domain_match),
    }))
}

fn ipv4_config(c: &Ipv4Config) -> pb::Ipv4Settings {
    match c {
        Ipv4Config::Dhcp => pb::Ipv4Settings {
            method: pb::Ipv4Method::Dhcp.into(),
            ..Default::default()
        },
        Ipv4Config::Off => pb::Ipv4Settings {
            method: pb::Ipv4Method::Off.into(),
            ..Default::default()
        },
        Ipv4Config::Manual {
            address,
            prefix_len,
            gateway,
        } => pb::Ipv4Settings {
            method: pb::Ipv4Method::Manual.into(),
            address: address.to_string(),
            prefix_length: (*prefix_len).into(),
            gateway: gateway.map(|g| g.to_string()).unwrap_or_default(),
        },
    }
}

fn ipv6_config(c: &Ipv6Config) -> pb::Ipv6Settings {
    match c {
        Ipv6Config::Auto => pb::Ipv6Settings {
            method: pb::Ipv6Method::Auto.into(),
            ..Default::default()
        },
        Ipv6Config::Off => pb::Ipv6Settings {
            method: pb::Ipv6Method::Off.into(),
            ..Default::default()
        },
        Ipv6Config::Manual {
            address,
            prefix_len,
            gateway,
        } => pb::Ipv6Settings {
            method: pb::Ipv6Method::Manual.into(),
            address: address.to_string(),
            prefix_length: (*prefix_len).into(),
            gateway: gateway.map(|g| g.to_string()).unwrap_or_default(),
        },
    }
}

fn parse<T: std::str::FromStr>(field: &str, what: &str, text: &str) -> Result<T, tonic::Status> {
    super::bounds::word(field, text)?;
    text.parse()
        .map_err(|_| status::invalid(field, format!("{text:?} is not {what}")))
}

fn optional<T: std::str::FromStr>(
    field: &str,
    what: &str,
    text: &str,
) -> Result<Option<T>, tonic::Status> {
    if text.is_empty() {
        Ok(None)
    } else {
        parse(field, what, text).map(Some)
    }
}

fn prefix(field: &str, value: u32, max: u32) -> Result<u8, tonic::Status> {
    if (1..=max).contains(&value) {
        Ok(value as u8)
    } else {
        Err(status::invalid(
            field,
            format!("{value} is out of range 1..{max}"),
        ))
    }
}

/// IPv4 configuration from UpdateService's `service.ipv4_config`.
pub fn ipv4_config_from(s: Option<&pb::Ipv4Settings>) -> Result<Ipv4Config, tonic::Status> {
    const F: &str = "service.ipv4_config";
    let s = s.ok_or_else(|| {
        status::invalid(
            F,
            "set method (and for manual: address, prefix_length, gateway)",
        )
    })?;
    match pb::Ipv4Method::try_from(s.method) {
        Ok(pb::Ipv4Method::Dhcp) => Ok(Ipv4Config::Dhcp),
        Ok(pb::Ipv4Method::Off) => Ok(Ipv4Config::Off),
        Ok(pb::Ipv4Method::Manual) => {
            let address = parse(&format!("{F}.address"), "an IPv4 address", &s.address)?;
            let prefix_len = prefix(&format!("{F}.prefix_length"), s.prefix_length, 32)?;
            let gateway = optional(&format!("{F}.gateway"), "an IPv4 address", &s.gateway)?;
            Ok(Ipv4Config::Manual {
                address,
                prefix_len,
                gateway,
            })
        }
        _ => Err(status::invalid(
            format!("{F}.method"),
            "must be dhcp, manual or off",
        )),
    }
}

/// IPv6 configuration from UpdateService's `service.ipv6_config`.
pub fn ipv6_config_from(s: Option<&pb::Ipv6Settings>) -> Result<Ipv6Config, tonic::Status> {
    const F: &str = "service.ipv6_config";
    let s = s.ok_or_else(|| {
        status::invalid(
            F,
            "set method (and for manual: address, prefix_length, gateway)",
        )
    })?;
    match pb::Ipv6Method::try_from(s.method) {
        Ok(pb::Ipv6Method::Auto) => Ok(Ipv6Config::Auto),
        Ok(pb::Ipv6Method::Off) => Ok(Ipv6Config::Off),
        Ok(pb::Ipv6Method::Manual) => {
            let address = parse(&format!("{F}.address"), "an IPv6 address", &s.address)?;
            let prefix_len = prefix(&format!("{F}.prefix_length"), s.prefix_length, 128)?;
            let gateway = optional(&format!("{F}.gateway"), "an IPv6 address", &s.gateway)?;
            Ok(Ipv6Config::Manual {
                address,
                prefix_len,
                gateway,
            })
        }
        _ => Err(status::invalid(
            format!("{F}.method"),
            "must be auto, manual or off",
        )),
    }
}

/// Nameservers from `service.nameservers_config`.
pub fn nameservers_from(list: &[String]) -> Result<Vec<std::net::IpAddr>, tonic::Status> {
    list.iter()
        .enumerate()
        .map(|(i, n)| {
            parse(
                &format!("service.nameservers_config[{i}]"),
                "an IP address",
                n,
            )
        })
        .collect()
}

impl From<&Technology> for pb::Technology {
    fn from(t: &Technology) -> Self {
        pb::Technology {
            r#type: pb::TechnologyType::from(t.kind).into(),
            name: t.name().to_string(),
            powered: t.powered,
            connected: t.connected,
            tethering: t.tethering,
            tethering_identifier: t.tethering_identifier.clone().unwrap_or_default(),
            country: t.country.clone().unwrap_or_default(),
            available: t.available,
            ignored: t.ignored,
        }
    }
}

fn addresses(i: &Interface) -> Vec<pb::InterfaceAddress> {
    i.addresses
        .iter()
        .map(|a| pb::InterfaceAddress {
            address: a.address.to_string(),
            prefix_length: a.prefix_len.into(),
            scope: a.scope.as_str().to_string(),
            tentative: a.tentative,
        })
        .collect()
}

impl From<&InterfaceView> for pb::Interface {
    fn from(v: &InterfaceView) -> Self {
        let i = &v.interface;
        pb::Interface {
            name: i.name.clone(),
            index: i.index,
            mac: i.mac_string(),
            kind: i.kind.as_str().to_string(),
            admin_up: i.admin_up,
            oper_up: i.oper_up,
            mtu: i.mtu,
            addresses: addresses(i),
            ready: v.readiness.any(),
            ready_ipv4: v.readiness.ipv4,
            ready_ipv6: v.readiness.ipv6,
            ignored: i.ignored,
            service_id: v
                .service_id
                .as_ref()
                .map(|s| s.0.clone())
                .unwrap_or_default(),
        }
    }
}

impl From<&ManagerInfo> for pb::Manager {
    fn from(m: &ManagerInfo) -> Self {
        pb::Manager {
            state: pb::ManagerState::from(m.state).into(),
            offline_mode: m.offline_mode,
            connectivity: Some(pb::Connectivity {
                any: m.connectivity.any,
                ipv4: m.connectivity.ipv4,
                ipv6: m.connectivity.ipv6,
            }),
        }
    }
}

impl From<&Snapshot> for pb::ManagerSnapshot {
    fn from(s: &Snapshot) -> Self {
        pb::ManagerSnapshot {
            manager: Some((&s.manager).into()),
            technologies: s.technologies.iter().map(Into::into).collect(),
            services: s.services.iter().map(Into::into).collect(),
            interfaces: s.interfaces.iter().map(Into::into).collect(),
            setup: Some((&s.setup).into()),
        }
    }
}

impl From<&Event> for pb::watch_manager_response::Event {
    fn from(e: &Event) -> Self {
        use pb::watch_manager_response::Event as E;
        match e {
            Event::ManagerChanged(m) => E::ManagerChanged(pb::ManagerChanged {
                manager: Some(m.into()),
            }),
            Event::SetupChanged(s) => E::SetupChanged(pb::SetupChanged {
                setup: Some(s.into()),
            }),
            Event::SetupClientJoined { mac } => {
                E::SetupClientJoined(pb::SetupClientJoined { mac: mac.clone() })
            }
            Event::SetupCredentialsSubmitted { id } => {
                E::SetupCredentialsSubmitted(pb::SetupCredentialsSubmitted {
                    service_id: id.0.clone(),
                })
            }
            Event::TechnologyAdded(t) => E::TechnologyAdded(pb::TechnologyAdded {
                technology: Some(t.into()),
            }),
            Event::TechnologyRemoved(k) => E::TechnologyRemoved(pb::TechnologyRemoved {
                r#type: pb::TechnologyType::from(*k).into(),
            }),
            Event::TechnologyChanged(t) => E::TechnologyChanged(pb::TechnologyChanged {
                technology: Some(t.into()),
            }),
            Event::ServicesChanged {
                order,
                changed,
                removed,
            } => E::ServicesChanged(pb::ServicesChanged {
                order: order.iter().map(|i| i.0.clone()).collect(),
                changed: changed.iter().map(Into::into).collect(),
                removed: removed.iter().map(|i| i.0.clone()).collect(),
            }),
            Event::ServiceStateChanged {
                id,
                state,
                previous,
                error,
            } => E::ServiceStateChanged(pb::ServiceStateChanged {
                service_id: id.0.clone(),
                state: pb::ServiceState::from(*state).into(),
                previous_state: pb::ServiceState::from(*previous).into(),
                error: error.map(|e| e.as_str().to_string()).unwrap_or_default(),
            }),
            Event::InterfaceChanged(i) => E::InterfaceChanged(pb::InterfaceChanged {
                interface: Some(i.into()),
            }),
            Event::InterfaceRemoved { name, index } => E::InterfaceRemoved(pb::InterfaceRemoved {
                name: name.clone(),
                index: *index,
            }),
            Event::Connectivity(l4) => E::ConnectivityChanged(pb::ConnectivityChanged {
                family: match l4.family {
                    Family::Any => pb::AddressFamily::Any,
                    Family::Ipv4 => pb::AddressFamily::Ipv4,
                    Family::Ipv6 => pb::AddressFamily::Ipv6,
                }
                .into(),
                connected: l4.connected,
                interface: l4.interface.clone(),
            }),
            Event::ConnectTimedOut { id, timeout } => E::ConnectTimedOut(pb::ConnectTimedOut {
                service_id: id.0.clone(),
                timeout: Some(pbjson_types::Duration {
                    seconds: timeout.as_secs() as i64,
                    nanos: timeout.subsec_nanos() as i32,
                }),
            }),
            Event::CaptivePortal { id, url } => {
                E::CaptivePortalDetected(pb::CaptivePortalDetected {
                    service_id: id.0.clone(),
                    url: url.clone(),
                })
            }
            Event::IdleTimedOut { id, idle } => E::IdleTimedOut(pb::IdleTimedOut {
                service_id: id.0.clone(),
                idle_timeout: Some(pbjson_types::Duration {
                    seconds: idle.as_secs() as i64,
                    nanos: idle.subsec_nanos() as i32,
                }),
            }),
            Event::InputRequired { id, fields } => E::InputRequired(pb::InputRequired {
                service_id: id.0.clone(),
                fields: fields.iter().map(|f| f.name().to_string()).collect(),
            }),
        }
    }
}

/// The WatchManager messages of one event batch.
pub fn watch_responses(batch: &EventBatch) -> impl Iterator<Item = pb::WatchManagerResponse> + '_ {
    batch.events.iter().map(|e| pb::WatchManagerResponse {
        event: Some(e.into()),
    })
}

impl From<SessionState> for pb::SessionState {
    fn from(s: SessionState) -> Self {
        match s {
            SessionState::Disconnected => Self::Disconnected,
            SessionState::Connected => Self::Connected,
            SessionState::Online => Self::Online,
        }
    }
}

impl From<ConnectionType> for pb::ConnectionType {
    fn from(c: ConnectionType) -> Self {
        match c {
            ConnectionType::Local => Self::Local,
            ConnectionType::Internet => Self::Internet,
            ConnectionType::Any => Self::Any,
        }
    }
}

fn bearer_list(bearers: &[Bearer]) -> pb::BearerList {
    pb::BearerList {
        bearers: bearers.iter().map(|b| b.to_string()).collect(),
    }
}

/// A session view as a full update: every field set.
pub fn full_session_update(v: &SessionView) -> pb::SessionUpdate {
    pb::SessionUpdate {
        state: Some(pb::SessionState::from(v.state).into()),
        name: Some(v.name.clone()),
        bearer: Some(v.bearer.map(|b| b.as_str().to_string()).unwrap_or_default()),
        interface: Some(v.interface.clone()),
        service_id: Some(
            v.service_id
                .as_ref()
                .map(|s| s.0.clone())
                .unwrap_or_default(),
        ),
        ipv4: Some(ipv4(&v.ipv4).unwrap_or_default()),
        ipv6: Some(ipv6(&v.ipv6).unwrap_or_default()),
        allowed_bearers: Some(bearer_list(&v.settings.allowed_bearers)),
        connection_type: Some(pb::ConnectionType::from(v.settings.connection_type).into()),
        allowed_interface: Some(v.settings.allowed_interface.clone().unwrap_or_default()),
        context_identifier: Some(v.settings.context_identifier.clone()),
        source_ip_rule: Some(v.settings.source_ip_rule),
        allow_metered: Some(v.settings.allow_metered),
        connect_requested: Some(v.connect_requested),
    }
}

impl From<&crate::model::Handover> for pb::SessionHandover {
    fn from(h: &crate::model::Handover) -> Self {
        pb::SessionHandover {
            previous_service_id: h.previous.0.clone(),
            next_service_id: h.next.0.clone(),
            reason: h.reason.as_str().to_string(),
        }
    }
}

impl From<&SessionInfo> for pb::SessionInfo {
    fn from(s: &SessionInfo) -> Self {
        pb::SessionInfo {
            session_id: s.id.to_string(),
            owner: s.owner.clone(),
            allowed_bearers: Some(bearer_list(&s.settings.allowed_bearers)),
            connection_type: pb::ConnectionType::from(s.settings.connection_type).into(),
            state: pb::SessionState::from(s.state).into(),
            service_id: s
                .service_id
                .as_ref()
                .map(|i| i.0.clone())
                .unwrap_or_default(),
            context_identifier: s.settings.context_identifier.clone(),
            allowed_interface: s.settings.allowed_interface.clone().unwrap_or_default(),
            source_ip_rule: s.settings.source_ip_rule,
            allow_metered: s.settings.allow_metered,
            connect_requested: s.connect_requested,
        }
    }
}

/// Allowed bearers from the wire; `field` is the path of the list.
pub fn bearers(field: &str, list: &pb::BearerList) -> Result<Vec<Bearer>, tonic::Status> {
    super::bounds::list(&format!("{field}.bearers"), list.bearers.len())?;
    list.bearers
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let f = format!("{field}.bearers[{i}]");
            super::bounds::word(&f, b)?;
            b.parse().map_err(|e: String| status::invalid(f, e))
        })
        .collect()
}

/// A connection type from the wire; `None` for UNSPECIFIED.
pub fn connection_type(field: &str, value: i32) -> Result<Option<ConnectionType>, tonic::Status> {
    match pb::ConnectionType::try_from(value) {
        Ok(pb::ConnectionType::Unspecified) => Ok(None),
        Ok(pb::ConnectionType::Local) => Ok(Some(ConnectionType::Local)),
        Ok(pb::ConnectionType::Internet) => Ok(Some(ConnectionType::Internet)),
        Ok(pb::ConnectionType::Any) => Ok(Some(ConnectionType::Any)),
        Err(_) => Err(status::invalid(
            field,
            format!("unknown connection type {value}: expected local, internet or any"),
        )),
    }
}

/// An interface name from the wire: "" or "*" is any (`None`); otherwise 1..15 bytes
/// (IFNAMSIZ - 1) without '/', ':' or white space, as the kernel's dev_valid_name wants.
fn allowed_interface(field: &str, name: &str) -> Result<Option<String>, tonic::Status> {
    if name.is_empty() || name == "*" {
        return Ok(None);
    }
    let valid = name.len() <= super::bounds::IFNAME_MAX
        && name != "."
        && name != ".."
        && !name
            .chars()
            .any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control());
    if !valid {
        return Err(status::invalid(
            field,
            format!(
                "{name:?} is not an interface name: 1 to 15 bytes, no '/', ':' or spaces (\"\" or \"*\" for any)"
            ),
        ));
    }
    Ok(Some(name.to_string()))
}

/// The settings a request names, as a change (ChangeSession; OpenSession applies it to the
/// defaults). Errors name the field under `settings.`.
pub fn session_change(s: &pb::SessionSettings) -> Result<SessionChange, tonic::Status> {
    let allowed_bearers = match &s.allowed_bearers {
        Some(list) => Some(bearers("settings.allowed_bearers", list)?),
        None => None,
    };
    let allowed_interface = match &s.allowed_interface {
        Some(name) => Some(allowed_interface("settings.allowed_interface", name)?),
        None => None,
    };
    if let Some(c) = &s.context_identifier {
        super::bounds::text("settings.context_identifier", c, MAX_CONTEXT_IDENTIFIER)?;
    }
    Ok(SessionChange {
        allowed_bearers,
        connection_type: connection_type("settings.connection_type", s.connection_type)?,
        allowed_interface,
        context_identifier: s.context_identifier.clone(),
        source_ip_rule: s.source_ip_rule,
        allow_metered: s.allow_metered,
    })
}

/// Settings for a new session: unset fields take ConnMan's defaults.
pub fn new_session_settings(
    s: Option<&pb::SessionSettings>,
) -> Result<SessionSettings, tonic::Status> {
    let mut settings = SessionSettings::default();
    if let Some(s) = s {
        session_change(s)?.apply_to(&mut settings);
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::StatusExt;

    #[test]
    fn session_settings_from_the_wire() {
        let ok = |s: pb::SessionSettings| new_session_settings(Some(&s)).expect("valid");
        assert_eq!(
            new_session_settings(None).expect("defaults"),
            SessionSettings::default()
        );
        let s = ok(pb::SessionSettings {
            allowed_bearers: Some(pb::BearerList {
                bearers: vec!["wifi".into(), "*".into()],
            }),
            connection_type: pb::ConnectionType::Local.into(),
            ..Default::default()
        });
        assert_eq!(
            s.allowed_bearers,
            vec![Bearer::Technology(TechnologyKind::Wifi), Bearer::Any]
        );
        assert_eq!(s.connection_type, ConnectionType::Local);
        let empty = ok(pb::SessionSettings {
            allowed_bearers: Some(pb::BearerList::default()),
            connection_type: 0,
            ..Default::default()
        });
        assert!(
            empty.allowed_bearers.is_empty(),
            "set but empty stays empty: never connects"
        );
        let defaults = SessionSettings::default();
        assert!(defaults.allow_metered && !defaults.source_ip_rule);
        assert_eq!(defaults.allowed_interface, None);
        let pinned = ok(pb::SessionSettings {
            allowed_interface: Some("eth1".into()),
            context_identifier: Some("telemetry".into()),
            source_ip_rule: Some(true),
            allow_metered: Some(false),
            ..Default::default()
        });
        assert_eq!(pinned.allowed_interface.as_deref(), Some("eth1"));
        assert_eq!(pinned.context_identifier, "telemetry");
        assert!(pinned.source_ip_rule && !pinned.allow_metered);
        for any in ["", "*"] {
            let s = ok(pb::SessionSettings {
                allowed_interface: Some(any.into()),
                ..Default::default()
            });
            assert_eq!(s.allowed_interface, None, "{any:?} means any interface");
        }

        let cases = [
            (
                pb::SessionSettings {
                    allowed_bearers: Some(pb::BearerList {
                        bearers: vec!["ethernet".into(), "wimax".into()],
                    }),
                    connection_type: 0,
                    ..Default::default()
                },
                "settings.allowed_bearers.bearers[1]",
            ),
            (
                pb::SessionSettings {
                    allowed_interface: Some("eth/1".into()),
                    ..Default::default()
                },
                "settings.allowed_interface",
            ),
            (
                pb::SessionSettings {
                    allowed_interface: Some("a-very-long-name0".into()),
                    ..Default::default()
                },
                "settings.allowed_interface",
            ),
            (
                pb::SessionSettings {
                    context_identifier: Some("x".repeat(MAX_CONTEXT_IDENTIFIER + 1)),
                    ..Default::default()
                },
                "settings.context_identifier",
            ),
            (
                pb::SessionSettings {
                    allowed_bearers: None,
                    connection_type: 42,
                    ..Default::default()
                },
                "settings.connection_type",
            ),
        ];
        for (bad, field) in cases {
            let err = new_session_settings(Some(&bad)).expect_err("invalid");
            assert_eq!(err.code(), tonic::Code::InvalidArgument);
            let violations = err
                .get_details_bad_request()
                .expect("details")
                .field_violations;
            assert_eq!(violations[0].field, field);
        }
    }
}
