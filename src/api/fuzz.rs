//! Fuzzing entry points for every parser of outside input (the `cargo fuzz` targets in
//! `fuzz/`, run by `scripts/fuzz.sh`): API requests through validation and the model
//! conversions, the configuration file, session policy files. Each must never panic; the
//! stable test below runs them over the seed corpus plus random mutations.

use prost::Message;

use super::{bounds, convert, manager};
use crate::model::{Service, ServiceId, ServiceState, TechnologyKind};
use crate::pb;

/// Request kinds a fuzz input's first byte selects.
const KINDS: u8 = 8;

/// An API request: the first byte picks the message, the rest is its protobuf encoding. It
/// is decoded, validated and converted as the handlers do; what converts is converted back
/// (model → protobuf) and encoded.
#[doc(hidden)]
pub fn request(data: &[u8]) {
    let Some((&kind, bytes)) = data.split_first() else {
        return;
    };
    match kind % KINDS {
        0 => {
            if let Ok(r) = pb::OpenSessionRequest::decode(bytes) {
                if let Ok(s) = convert::new_session_settings(r.settings.as_ref()) {
                    let view = crate::policy::session::session_view(&s, &[service()]);
                    convert::full_session_update(&view).encode_to_vec();
                }
            }
        }
        1 => {
            if let Ok(r) = pb::ChangeSessionRequest::decode(bytes) {
                let _ = crate::engine::parse_session_id("session_id", &r.session_id);
                let s = r.settings.unwrap_or_default();
                if let Some(list) = &s.allowed_bearers {
                    let _ = convert::bearers("settings.allowed_bearers", list);
                }
                let _ = convert::connection_type("settings.connection_type", s.connection_type);
            }
        }
        2 => {
            if let Ok(r) = pb::ConnectServiceRequest::decode(bytes) {
                let _ = bounds::service_id("service_id", &r.service_id);
                let _ = convert::credentials_from(r.credentials.as_ref());
                let _ = manager::connect_timeout(r.timeout);
            }
        }
        3 => {
            if let Ok(r) = pb::UpdateServiceRequest::decode(bytes) {
                if let Ok((wanted, paths)) = manager::update_request(r) {
                    if let Ok(update) = manager::service_update(&wanted, &paths) {
                        let mut config = crate::model::ServiceConfig::default();
                        update.apply_to(&mut config);
                        if config.validate().is_ok() {
                            let mut s = service();
                            s.proxy = config.proxy.clone();
                            s.config = Some(config);
                            pb::Service::from(&s).encode_to_vec();
                        }
                    }
                }
            }
        }
        4 => {
            if let Ok(r) = pb::UpdateTechnologyRequest::decode(bytes) {
                let _ = convert::technology_kind("type", r.r#type);
                if let Some(c) = &r.country {
                    let _ = bounds::word("country", c);
                    let _ = crate::model::is_country_code(c);
                }
            }
        }
        5 => {
            if let Ok(r) = pb::MoveServiceRequest::decode(bytes) {
                let _ = bounds::service_id("service_id", &r.service_id);
            }
        }
        6 => {
            if let Ok(r) = pb::UpdateInterfaceRequest::decode(bytes) {
                let _ = bounds::ifname("name", &r.name);
            }
        }
        _ => {
            if let Ok(r) = pb::RegisterAgentRequest::decode(bytes) {
                if let Some(pb::register_agent_request::Message::Registration(reg)) = r.message {
                    let _ = bounds::text("registration.name", &reg.name, bounds::ID_MAX);
                }
            }
        }
    }
}

fn service() -> Service {
    Service {
        id: ServiceId("ethernet_020000000001_cable".into()),
        name: "Wired".into(),
        technology: TechnologyKind::Ethernet,
        state: ServiceState::Ready,
        error: None,
        strength: 0,
        favorite: false,
        immutable: false,
        autoconnect: true,
        interface: "eth0".into(),
        mac: "02:00:00:00:00:01".into(),
        mtu: 1500,
        ipv4: None,
        ipv6: None,
        ready_since: None,
        metered: false,
        managed: true,
        config: None,
        nameservers: vec![],
        timeservers: vec![],
        proxy: None,
        domains: vec![],
        route_metric: None,
        captive_portal_url: None,
        security: vec![],
        wifi: None,
        credentials: Default::default(),
    }
}

/// A configuration file's text.
#[doc(hidden)]
pub fn config(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = crate::config::parse_text(text);
    }
}

/// A session policy file's text.
#[doc(hidden)]
pub fn policy(data: &[u8]) {
    crate::access::policy::fuzz_one(data);
}

/// A fuzz target: takes any bytes, must not panic.
pub type Target = fn(&[u8]);

/// The fuzz targets by name (the directory names under `fuzz/corpus/`).
#[doc(hidden)]
pub const TARGETS: &[(&str, Target)] = &[
    ("api_request", request),
    ("config_file", config),
    ("session_policy", policy),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn corpus(name: &str) -> Vec<Vec<u8>> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus")
            .join(name);
        std::fs::read_dir(&dir)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("seed-"))
                    .filter_map(|e| std::fs::read(e.path()).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The targets over their seeds and random mutations: 5,000 inputs each, or
    /// `NETPILOT_FUZZ_SECS` seconds each (scripts/fuzz.sh's fallback without cargo-fuzz).
    #[test]
    fn fuzz_targets_over_the_corpus_and_mutations() {
        let secs: Option<u64> = std::env::var("NETPILOT_FUZZ_SECS")
            .ok()
            .and_then(|s| s.parse().ok());
        let mut rng = fastrand::Rng::with_seed(0x6e70_6675);
        for (name, target) in TARGETS {
            let corpus = corpus(name);
            assert!(corpus.len() >= 3, "seed corpus of {name} missing");
            let until = secs.map(|s| Instant::now() + Duration::from_secs(s));
            let mut runs = 0u64;
            for seed in &corpus {
                target(seed);
            }
            while until.map_or(runs < 5_000, |u| Instant::now() < u) {
                let mut input = corpus[rng.usize(..corpus.len())].clone();
                for _ in 0..rng.usize(1..6) {
                    match rng.u8(0..4) {
                        0 if !input.is_empty() => {
                            let i = rng.usize(..input.len());
                            input[i] ^= 1 << rng.u8(0..8);
                        }
                        1 if !input.is_empty() => input.truncate(rng.usize(..input.len())),
                        2 => {
                            let at = rng.usize(..=input.len());
                            input.insert(at, rng.u8(..));
                        }
                        _ => {
                            let other = &corpus[rng.usize(..corpus.len())];
                            let at = rng.usize(..=input.len());
                            let from = rng.usize(..=other.len());
                            input.splice(at.., other[from..].iter().copied());
                        }
                    }
                }
                target(&input);
                runs += 1;
            }
            eprintln!("fuzz {name}: {runs} mutated inputs");
        }
    }

    /// The request seeds (`fuzz/corpus/api_request/seed-*`) are these messages, encoded with
    /// the current protos. After a proto change, rewrite them with
    /// `NETPILOT_WRITE_SEEDS=1 cargo test --lib api::fuzz::tests::request_seeds_match_the_protos`.
    #[test]
    fn request_seeds_match_the_protos() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/api_request");
        let write = std::env::var_os("NETPILOT_WRITE_SEEDS").is_some();
        let seeds: Vec<(&str, u8, Vec<u8>)> = vec![
            (
                "open-session",
                0,
                pb::OpenSessionRequest {
                    settings: Some(pb::SessionSettings {
                        allowed_bearers: Some(pb::BearerList {
                            bearers: vec!["wifi".into(), "*".into()],
                        }),
                        connection_type: pb::ConnectionType::Internet.into(),
                        allowed_interface: Some("eth1".into()),
                        context_identifier: Some("telemetry".into()),
                        source_ip_rule: Some(true),
                        allow_metered: Some(false),
                    }),
                }
                .encode_to_vec(),
            ),
            (
                "change-session",
                1,
                pb::ChangeSessionRequest {
                    session_id: "17".into(),
                    settings: Some(pb::SessionSettings {
                        allowed_bearers: Some(pb::BearerList {
                            bearers: vec!["ethernet".into()],
                        }),
                        connection_type: pb::ConnectionType::Local.into(),
                        ..Default::default()
                    }),
                }
                .encode_to_vec(),
            ),
            (
                "connect",
                2,
                pb::ConnectServiceRequest {
                    service_id: "wifi_020000000001_6e70_managed_psk".into(),
                    timeout: Some(pbjson_types::Duration {
                        seconds: 30,
                        nanos: 0,
                    }),
                    credentials: Some(pb::Credentials {
                        passphrase: "correct horse".into(),
                        identity: "alice".into(),
                        password: "pw".into(),
                        ssid: "hidden".into(),
                        private_key_passphrase: "kp".into(),
                    }),
                }
                .encode_to_vec(),
            ),
            (
                "update-service",
                3,
                pb::UpdateServiceRequest {
                    service: Some(pb::Service {
                        id: "ethernet_020000000001_cable".into(),
                        ipv4_config: Some(pb::Ipv4Settings {
                            method: pb::Ipv4Method::Manual.into(),
                            address: "198.18.0.5".into(),
                            prefix_length: 24,
                            gateway: "198.18.0.1".into(),
                        }),
                        ipv6_config: Some(pb::Ipv6Settings {
                            method: pb::Ipv6Method::Manual.into(),
                            address: "2001:db8::5".into(),
                            prefix_length: 64,
                            gateway: "2001:db8::1".into(),
                        }),
                        nameservers_config: vec!["198.18.0.53".into(), "2001:db8::53".into()],
                        timeservers_config: vec!["ntp.example".into()],
                        domains_config: vec!["fleet.example".into()],
                        eap_config: Some(pb::EapSettings {
                            method: pb::EapMethod::Tls.into(),
                            ca_cert: "/etc/ca.pem".into(),
                            client_cert: "/etc/c.pem".into(),
                            private_key: "/etc/c.key".into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    update_mask: Some(pbjson_types::FieldMask {
                        paths: [
                            "ipv4_config",
                            "ipv6_config",
                            "nameservers_config",
                            "timeservers_config",
                            "domains_config",
                            "eap_config",
                            "autoconnect",
                        ]
                        .map(String::from)
                        .to_vec(),
                    }),
                }
                .encode_to_vec(),
            ),
            (
                "update-technology",
                4,
                pb::UpdateTechnologyRequest {
                    r#type: pb::TechnologyType::Wifi.into(),
                    powered: Some(true),
                    country: Some("DE".into()),
                    ..Default::default()
                }
                .encode_to_vec(),
            ),
            (
                "move",
                5,
                pb::MoveServiceRequest {
                    service_id: "a".into(),
                    target: Some(pb::move_service_request::Target::After("b".into())),
                }
                .encode_to_vec(),
            ),
            (
                "update-interface",
                6,
                pb::UpdateInterfaceRequest {
                    name: "eth0".into(),
                    ignored: Some(true),
                }
                .encode_to_vec(),
            ),
            (
                "register-agent",
                7,
                pb::RegisterAgentRequest {
                    message: Some(pb::register_agent_request::Message::Registration(
                        pb::AgentRegistration { name: "ui".into() },
                    )),
                }
                .encode_to_vec(),
            ),
        ];
        let mut stale = Vec::new();
        for (name, kind, bytes) in seeds {
            let path = dir.join(format!("seed-{name}"));
            let mut data = vec![kind];
            data.extend(bytes);
            if write {
                std::fs::write(&path, data).expect("write seed");
            } else if std::fs::read(&path).ok().as_deref() != Some(data.as_slice()) {
                stale.push(path.display().to_string());
            }
        }
        assert!(
            stale.is_empty(),
            "request seeds differ from the protos: {stale:?}; rewrite them with NETPILOT_WRITE_SEEDS=1"
        );
    }
}
