//! Builders for policy tests.
use crate::model::{Service, ServiceId, ServiceState, TechnologyKind};

pub fn service(id: &str, technology: TechnologyKind, state: ServiceState) -> Service {
    Service {
        id: ServiceId(id.to_string()),
        name: id.to_string(),
        technology,
        state,
        error: None,
        strength: 0,
        favorite: false,
        immutable: true,
        autoconnect: false,
        interface: format!("if-{id}"),
        mac: String::new(),
        mtu: 1500,
        ipv4: None,
        ipv6: None,
        ready_since: None,
        managed: false,
        config: None,
        nameservers: vec![],
        timeservers: vec![],
        domains: vec![],
        proxy: None,
        route_metric: None,
        captive_portal_url: None,
        security: vec![],
        wifi: None,
        credentials: Default::default(),
        metered: false,
    }
}
