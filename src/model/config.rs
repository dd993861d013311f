//! A service's stored configuration: what the user asked for through UpdateService
//! (ConnMan's "*.Configuration" properties), validated before anything is applied.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

/// How IPv4 is configured (ConnMan "IPv4.Configuration").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum Ipv4Config {
    /// DHCPv4 (RFC 2131).
    #[default]
    Dhcp,
    /// Static address.
    Manual {
        /// The address.
        address: Ipv4Addr,
        /// Prefix length, 1..=32.
        prefix_len: u8,
        /// Default gateway, inside the subnet.
        gateway: Option<Ipv4Addr>,
    },
    /// No IPv4.
    Off,
}

/// How IPv6 is configured (ConnMan "IPv6.Configuration").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum Ipv6Config {
    /// SLAAC by the kernel (accept_ra).
    #[default]
    Auto,
    /// Static address.
    Manual {
        /// The address.
        address: Ipv6Addr,
        /// Prefix length, 1..=128.
        prefix_len: u8,
        /// Default gateway: link-local or inside the prefix.
        gateway: Option<Ipv6Addr>,
    },
    /// No IPv6 (no RA, no SLAAC).
    Off,
}

/// An EAP method (IEEE 802.1X).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EapMethod {
    /// PEAP, tunnelled (the default, as most enterprise networks use it).
    #[default]
    Peap,
    /// TTLS, tunnelled.
    Ttls,
    /// TLS with a client certificate.
    Tls,
}

/// The inner authentication of PEAP and TTLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum EapPhase2 {
    /// MSCHAPv2 (the default).
    #[default]
    Mschapv2,
    /// PAP (TTLS only).
    Pap,
    /// GTC.
    Gtc,
}

/// IEEE 802.1X settings of a service (not secret: the identity and passwords are
/// [`super::Credentials`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct EapConfig {
    /// The method.
    pub method: EapMethod,
    /// Inner authentication for PEAP and TTLS.
    pub phase2: EapPhase2,
    /// PEM file of the CA that signs the server certificate; `None`: not verified.
    pub ca_cert: Option<std::path::PathBuf>,
    /// PEM file of the client certificate (TLS).
    pub client_cert: Option<std::path::PathBuf>,
    /// PEM file of the client's private key (TLS).
    pub private_key: Option<std::path::PathBuf>,
    /// Outer identity sent before the tunnel.
    pub anonymous_identity: Option<String>,
    /// The server certificate must name this domain (suffix match).
    pub domain_match: Option<String>,
}

impl EapConfig {
    /// Checks the settings; `prefix` is the API field path ("service.eap_config").
    pub fn validate(&self, prefix: &str) -> Result<(), FieldError> {
        if self.method == EapMethod::Tls
            && (self.client_cert.is_none() || self.private_key.is_none())
        {
            return Err(err(
                format!("{prefix}.client_cert"),
                "EAP-TLS needs client_cert and private_key",
            ));
        }
        if self.phase2 == EapPhase2::Pap && self.method != EapMethod::Ttls {
            return Err(err(
                format!("{prefix}.phase2"),
                "PAP is only allowed inside TTLS",
            ));
        }
        for (name, path) in [
            ("ca_cert", &self.ca_cert),
            ("client_cert", &self.client_cert),
            ("private_key", &self.private_key),
        ] {
            if let Some(p) = path {
                let text = p.to_string_lossy();
                if !p.is_absolute() || text.contains(['\n', '\0', '"']) || text.len() > 4096 {
                    return Err(err(
                        format!("{prefix}.{name}"),
                        format!("{text:?} must be an absolute path without quotes or newlines"),
                    ));
                }
            }
        }
        for (name, value) in [
            ("anonymous_identity", &self.anonymous_identity),
            ("domain_match", &self.domain_match),
        ] {
            if let Some(v) = value {
                if v.is_empty() || v.len() > 1024 || v.contains(['\n', '\0']) {
                    return Err(err(
                        format!("{prefix}.{name}"),
                        "must be 1..1024 bytes without NUL or newline",
                    ));
                }
            }
        }
        Ok(())
    }
}

/// How programs on the device reach the web through a service (ConnMan's
/// "Proxy.Configuration"). netpilot runs no proxy: it publishes this for those that do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum ProxyConfig {
    /// No proxy.
    Direct,
    /// Fixed proxy servers.
    Manual {
        /// Proxies, most preferred first: `host:port` or `scheme://host[:port]`
        /// (scheme http, https, socks4 or socks5; an IPv6 host in brackets), 1..=16.
        servers: Vec<String>,
        /// Hosts reached directly: a host name, a domain suffix (`.example.com`,
        /// `*.example.com`), an address or a prefix (`198.18.0.0/15`), at most 32.
        excludes: Vec<String>,
    },
    /// A proxy auto-configuration (PAC) file.
    Auto {
        /// Where the PAC file is, an http or https URL; `None`: the one DHCP gives
        /// (option 252), else the program's own WPAD lookup.
        url: Option<String>,
    },
}

/// Most proxy servers a manual configuration may list.
pub const MAX_PROXY_SERVERS: usize = 16;
/// Most exclusions a manual configuration may list.
pub const MAX_PROXY_EXCLUDES: usize = 32;

/// Checks a PAC URL: an absolute http or https URL with a host, at most 2048 bytes.
pub fn validate_pac_url(field: &str, url: &str) -> Result<(), FieldError> {
    let parsed = url::Url::parse(url).map_err(|e| err(field, format!("{url:?}: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(err(field, format!("{url:?} is not an http or https URL")));
    }
    if url.len() > 2048 {
        return Err(err(field, "is longer than 2048 bytes"));
    }
    Ok(())
}

/// Checks a manual proxy server: `host:port` or `scheme://host[:port]`.
fn validate_proxy_server(field: &str, server: &str) -> Result<(), FieldError> {
    let with_scheme = if server.contains("://") {
        server.to_string()
    } else {
        format!("http://{server}")
    };
    let bad = |why: &str| err(field, format!("{server:?} {why}"));
    let parsed = url::Url::parse(&with_scheme).map_err(|e| bad(&format!("is not a proxy: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https" | "socks4" | "socks5") {
        return Err(bad("has a scheme other than http, https, socks4 or socks5"));
    }
    if parsed.host().is_none() || !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("must be host:port without user or password"));
    }
    if !parsed.path().trim_start_matches('/').is_empty() || parsed.query().is_some() {
        return Err(bad("must be host:port without a path"));
    }
    if !server.contains("://") && parsed.port().is_none() {
        return Err(bad("needs a port (host:port)"));
    }
    Ok(())
}

/// Checks a proxy exclusion: a host name or domain suffix, an address, or a prefix.
fn validate_proxy_exclude(field: &str, exclude: &str) -> Result<(), FieldError> {
    let (addr, len) = exclude.split_once('/').unwrap_or((exclude, ""));
    if let Ok(a) = addr.parse::<IpAddr>() {
        let max = if a.is_ipv4() { 32 } else { 128 };
        if len.is_empty() || len.parse::<u8>().is_ok_and(|l| l <= max) {
            return Ok(());
        }
        return Err(err(field, format!("{exclude:?} has a bad prefix length")));
    }
    let name = exclude
        .strip_prefix("*.")
        .or_else(|| exclude.strip_prefix('.'))
        .unwrap_or(exclude);
    validate_domain(field, name)
}

impl ProxyConfig {
    /// Checks the configuration; `prefix` is the API field path ("service.proxy_config").
    pub fn validate(&self, prefix: &str) -> Result<(), FieldError> {
        match self {
            ProxyConfig::Direct => Ok(()),
            ProxyConfig::Auto { url } => url
                .as_deref()
                .map_or(Ok(()), |u| validate_pac_url(&format!("{prefix}.url"), u)),
            ProxyConfig::Manual { servers, excludes } => {
                if servers.is_empty() || servers.len() > MAX_PROXY_SERVERS {
                    return Err(err(
                        format!("{prefix}.servers"),
                        format!("method manual needs 1..{MAX_PROXY_SERVERS} servers"),
                    ));
                }
                if excludes.len() > MAX_PROXY_EXCLUDES {
                    return Err(err(
                        format!("{prefix}.excludes"),
                        format!("at most {MAX_PROXY_EXCLUDES} exclusions"),
                    ));
                }
                for (i, s) in servers.iter().enumerate() {
                    validate_proxy_server(&format!("{prefix}.servers[{i}]"), s)?;
                }
                for (i, e) in excludes.iter().enumerate() {
                    validate_proxy_exclude(&format!("{prefix}.excludes[{i}]"), e)?;
                }
                Ok(())
            }
        }
    }
}

/// Everything stored per service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceConfig {
    /// IPv4 method and static settings.
    pub ipv4: Ipv4Config,
    /// IPv6 method and static settings.
    pub ipv6: Ipv6Config,
    /// Nameservers that replace the ones DHCP/RA give, most preferred first.
    pub nameservers: Vec<IpAddr>,
    /// Timeservers (NTP) that replace the ones DHCP gives.
    pub timeservers: Vec<String>,
    /// Search domains that replace the ones DHCP gives.
    pub domains: Vec<String>,
    /// Proxy that replaces the one DHCP gives; `None`: DHCP's PAC URL, else direct.
    pub proxy: Option<ProxyConfig>,
    /// Connect on its own when possible (persistence).
    pub autoconnect: bool,
    /// Connected before: kept in the store, ranked first.
    pub favorite: bool,
    /// IEEE 802.1X settings (Wi-Fi enterprise networks, wired 802.1X).
    pub eap: Option<EapConfig>,
    /// Seconds a connect may take, instead of `[connect] timeout` (Zephyr conn_mgr's
    /// per-interface timeout), 1..=3600.
    pub connect_timeout: Option<u64>,
    /// Disconnect after this many seconds without traffic (the netdev's packet counters do
    /// not move), 1..=86400; `None`: never (Zephyr conn_mgr's idle timeout).
    pub idle_timeout: Option<u64>,
    /// Take the link admin-down after a disconnect, a connect timeout, a hard failure or a
    /// loss while not persistent, instead of `[connect] admin_down_on_timeout`.
    pub admin_down_on_timeout: Option<bool>,
    /// The service costs per byte; `None`: its technology's default (cellular metered,
    /// the others not).
    pub metered: Option<bool>,
}

impl ServiceConfig {
    /// Whether a service of `technology` with this configuration is metered.
    pub fn is_metered(&self, technology: crate::model::TechnologyKind) -> bool {
        self.metered
            .unwrap_or(technology == crate::model::TechnologyKind::Cellular)
    }
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            ipv4: Ipv4Config::Dhcp,
            ipv6: Ipv6Config::Auto,
            nameservers: vec![],
            timeservers: vec![],
            domains: vec![],
            proxy: None,
            autoconnect: true,
            favorite: false,
            eap: None,
            connect_timeout: None,
            idle_timeout: None,
            admin_down_on_timeout: None,
            metered: None,
        }
    }
}

/// A field that failed validation: its path in the API (`ipv4_config.gateway`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Field path.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

fn mask(prefix_len: u8) -> u32 {
    if prefix_len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix_len))
    }
}

/// Checks a static IPv4 configuration: unicast address, prefix 1..=32, gateway inside the
/// subnet and not the address itself; network and broadcast addresses are refused for
/// prefixes up to /30.
pub fn validate_ipv4(
    field: &str,
    address: Ipv4Addr,
    prefix_len: u8,
    gateway: Option<Ipv4Addr>,
) -> Result<(), FieldError> {
    if !(1..=32).contains(&prefix_len) {
        return Err(err(
            format!("{field}.prefix_length"),
            format!("{prefix_len} is out of range 1..32"),
        ));
    }
    let bad =
        |a: Ipv4Addr| a.is_unspecified() || a.is_multicast() || a.is_broadcast() || a.is_loopback();
    if bad(address) {
        return Err(err(
            format!("{field}.address"),
            format!("{address} is not a unicast host address"),
        ));
    }
    let m = mask(prefix_len);
    let host = u32::from(address) & !m;
    if prefix_len <= 30 && (host == 0 || host == !m) {
        return Err(err(
            format!("{field}.address"),
            format!("{address} is the network or broadcast address of its /{prefix_len}"),
        ));
    }
    if let Some(gw) = gateway {
        if bad(gw) {
            return Err(err(
                format!("{field}.gateway"),
                format!("{gw} is not a unicast address"),
            ));
        }
        if gw == address {
            return Err(err(
                format!("{field}.gateway"),
                "must differ from the address",
            ));
        }
        if prefix_len < 32 && u32::from(gw) & m != u32::from(address) & m {
            return Err(err(
                format!("{field}.gateway"),
                format!(
                    "{gw} is outside {}/{prefix_len}",
                    Ipv4Addr::from(u32::from(address) & m)
                ),
            ));
        }
    }
    Ok(())
}

/// Checks a static IPv6 configuration: unicast address, prefix 1..=128, gateway link-local
/// or inside the prefix.
pub fn validate_ipv6(
    field: &str,
    address: Ipv6Addr,
    prefix_len: u8,
    gateway: Option<Ipv6Addr>,
) -> Result<(), FieldError> {
    if !(1..=128).contains(&prefix_len) {
        return Err(err(
            format!("{field}.prefix_length"),
            format!("{prefix_len} is out of range 1..128"),
        ));
    }
    let bad = |a: Ipv6Addr| a.is_unspecified() || a.is_multicast() || a.is_loopback();
    if bad(address) {
        return Err(err(
            format!("{field}.address"),
            format!("{address} is not a unicast address"),
        ));
    }
    if let Some(gw) = gateway {
        if bad(gw) || gw == address {
            return Err(err(
                format!("{field}.gateway"),
                format!("{gw} cannot be the gateway"),
            ));
        }
        let link_local = gw.segments()[0] & 0xffc0 == 0xfe80;
        let prefix = |a: Ipv6Addr| u128::from(a) >> (128 - u32::from(prefix_len));
        if !link_local && prefix_len < 128 && prefix(gw) != prefix(address) {
            return Err(err(
                format!("{field}.gateway"),
                format!("{gw} is neither link-local nor inside the prefix"),
            ));
        }
    }
    Ok(())
}

/// Checks a search domain: 1..=253 characters, labels of 1..=63 letters, digits and '-'.
pub fn validate_domain(field: &str, domain: &str) -> Result<(), FieldError> {
    let ok = !domain.is_empty()
        && domain.len() <= 253
        && domain.trim_end_matches('.').split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
        });
    if ok {
        Ok(())
    } else {
        Err(err(field, format!("{domain:?} is not a domain name")))
    }
}

/// Checks a nameserver address.
pub fn validate_nameserver(field: &str, addr: IpAddr) -> Result<(), FieldError> {
    if addr.is_unspecified()
        || addr.is_multicast()
        || matches!(addr, IpAddr::V4(a) if a.is_broadcast())
    {
        return Err(err(field, format!("{addr} cannot be a nameserver")));
    }
    Ok(())
}

/// Checks a timeserver: a host name or an address.
pub fn validate_timeserver(field: &str, server: &str) -> Result<(), FieldError> {
    match server.parse::<IpAddr>() {
        Ok(a) => validate_nameserver(field, a),
        Err(_) => validate_domain(field, server),
    }
}

/// Most nameservers, timeservers or domains a service's configuration holds.
pub const LIST_MAX: usize = 32;

impl ServiceConfig {
    /// Checks every field; the first problem names its field as the API spells it.
    pub fn validate(&self) -> Result<(), FieldError> {
        if let Ipv4Config::Manual {
            address,
            prefix_len,
            gateway,
        } = self.ipv4
        {
            validate_ipv4("service.ipv4_config", address, prefix_len, gateway)?;
        }
        if let Ipv6Config::Manual {
            address,
            prefix_len,
            gateway,
        } = self.ipv6
        {
            validate_ipv6("service.ipv6_config", address, prefix_len, gateway)?;
        }
        for (field, len) in [
            ("service.nameservers_config", self.nameservers.len()),
            ("service.timeservers_config", self.timeservers.len()),
            ("service.domains_config", self.domains.len()),
        ] {
            if len > LIST_MAX {
                return Err(err(
                    field,
                    format!("{len} entries; at most {LIST_MAX} are allowed"),
                ));
            }
        }
        for (i, n) in self.nameservers.iter().enumerate() {
            validate_nameserver(&format!("service.nameservers_config[{i}]"), *n)?;
        }
        for (i, t) in self.timeservers.iter().enumerate() {
            validate_timeserver(&format!("service.timeservers_config[{i}]"), t)?;
        }
        for (i, d) in self.domains.iter().enumerate() {
            validate_domain(&format!("service.domains_config[{i}]"), d)?;
        }
        if let Some(proxy) = &self.proxy {
            proxy.validate("service.proxy_config")?;
        }
        if let Some(eap) = &self.eap {
            eap.validate("service.eap_config")?;
        }
        for (field, value, max) in [
            ("service.connect_timeout", self.connect_timeout, 3600),
            ("service.idle_timeout", self.idle_timeout, 86_400),
        ] {
            if value.is_some_and(|v| !(1..=max).contains(&v)) {
                return Err(err(field, format!("must be 1..{max} seconds")));
            }
        }
        Ok(())
    }
}

/// UpdateService's change to a service's configuration: the fields its `update_mask` names,
/// with their new values; `None` leaves a field as it is. The engine merges it into the
/// configuration it holds, so two updates of different fields never undo each other.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceUpdate {
    /// `autoconnect`.
    pub autoconnect: Option<bool>,
    /// `ipv4_config`.
    pub ipv4: Option<Ipv4Config>,
    /// `ipv6_config`.
    pub ipv6: Option<Ipv6Config>,
    /// `nameservers_config`.
    pub nameservers: Option<Vec<IpAddr>>,
    /// `timeservers_config`.
    pub timeservers: Option<Vec<String>>,
    /// `domains_config`.
    pub domains: Option<Vec<String>>,
    /// `proxy_config`; `Some(None)` clears it.
    pub proxy: Option<Option<ProxyConfig>>,
    /// `eap_config`; `Some(None)` clears it.
    pub eap: Option<Option<EapConfig>>,
    /// `connect_timeout` in seconds; `Some(None)` clears it.
    pub connect_timeout: Option<Option<u64>>,
    /// `idle_timeout` in seconds; `Some(None)` clears it.
    pub idle_timeout: Option<Option<u64>>,
    /// `admin_down_on_timeout`; `Some(None)` clears it.
    pub admin_down_on_timeout: Option<Option<bool>>,
    /// `metered`.
    pub metered: Option<bool>,
}

impl ServiceUpdate {
    /// Sets the named fields of `config`.
    pub fn apply_to(&self, config: &mut ServiceConfig) {
        let ServiceUpdate {
            autoconnect,
            ipv4,
            ipv6,
            nameservers,
            timeservers,
            domains,
            proxy,
            eap,
            connect_timeout,
            idle_timeout,
            admin_down_on_timeout,
            metered,
        } = self;
        if let Some(v) = autoconnect {
            config.autoconnect = *v;
        }
        if let Some(v) = ipv4 {
            config.ipv4 = v.clone();
        }
        if let Some(v) = ipv6 {
            config.ipv6 = v.clone();
        }
        if let Some(v) = nameservers {
            config.nameservers = v.clone();
        }
        if let Some(v) = timeservers {
            config.timeservers = v.clone();
        }
        if let Some(v) = domains {
            config.domains = v.clone();
        }
        if let Some(v) = proxy {
            config.proxy = v.clone();
        }
        if let Some(v) = eap {
            config.eap = v.clone();
        }
        if let Some(v) = connect_timeout {
            config.connect_timeout = *v;
        }
        if let Some(v) = idle_timeout {
            config.idle_timeout = *v;
        }
        if let Some(v) = admin_down_on_timeout {
            config.admin_down_on_timeout = *v;
        }
        if let Some(v) = metered {
            config.metered = Some(*v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_changes_only_the_fields_it_names() {
        let base = ServiceConfig {
            domains: vec!["a.example".into()],
            ..ServiceConfig::default()
        };
        let mut config = base.clone();
        ServiceUpdate {
            autoconnect: Some(false),
            ..Default::default()
        }
        .apply_to(&mut config);
        ServiceUpdate {
            domains: Some(vec!["b.example".into()]),
            ..Default::default()
        }
        .apply_to(&mut config);
        assert_eq!(
            config,
            ServiceConfig {
                autoconnect: false,
                domains: vec!["b.example".into()],
                ..base.clone()
            },
            "two updates of different fields both stay"
        );
        let mut cleared = ServiceConfig {
            eap: Some(EapConfig::default()),
            ..base
        };
        ServiceUpdate {
            eap: Some(None),
            ..Default::default()
        }
        .apply_to(&mut cleared);
        assert_eq!(cleared.eap, None);
        let before = cleared.clone();
        ServiceUpdate::default().apply_to(&mut cleared);
        assert_eq!(cleared, before, "an empty update changes nothing");
    }

    #[test]
    fn proxy_validation_table() {
        let manual = |servers: &[&str], excludes: &[&str]| ProxyConfig::Manual {
            servers: servers.iter().map(|s| s.to_string()).collect(),
            excludes: excludes.iter().map(|s| s.to_string()).collect(),
        };
        let auto = |url: &str| ProxyConfig::Auto {
            url: Some(url.into()),
        };
        let cases = [
            (ProxyConfig::Direct, None),
            (ProxyConfig::Auto { url: None }, None),
            (auto("http://wpad.robots.example/wpad.dat"), None),
            (auto("https://198.18.0.1:8443/proxy.pac"), None),
            (auto("ftp://198.18.0.1/proxy.pac"), Some("url")),
            (auto("wpad.dat"), Some("url")),
            (manual(&["proxy.example:3128"], &[]), None),
            (manual(&["socks5://[2001:db8::1]:1080"], &[]), None),
            (manual(&["http://198.18.0.1"], &[]), None),
            (
                manual(
                    &["198.18.0.1:3128"],
                    &[
                        "localhost",
                        ".robots.example",
                        "*.lab.example",
                        "198.18.0.0/15",
                        "::1",
                    ],
                ),
                None,
            ),
            (manual(&[], &[]), Some("servers")),
            (manual(&["proxy.example"], &[]), Some("servers[0]")),
            (
                manual(&["gopher://proxy.example:70"], &[]),
                Some("servers[0]"),
            ),
            (
                manual(&["user:pw@proxy.example:3128"], &[]),
                Some("servers[0]"),
            ),
            (
                manual(&["proxy.example:3128/path"], &[]),
                Some("servers[0]"),
            ),
            (
                manual(&["proxy.example:3128"], &["not a host"]),
                Some("excludes[0]"),
            ),
            (
                manual(&["proxy.example:3128"], &["198.18.0.0/40"]),
                Some("excludes[0]"),
            ),
        ];
        for (config, want) in cases {
            let got = config.validate("p").map_err(|e| e.field);
            match want {
                None => assert!(got.is_ok(), "{config:?}: {got:?}"),
                Some(field) => assert_eq!(got, Err(format!("p.{field}")), "{config:?}"),
            }
        }
    }

    fn v4(a: &str) -> Ipv4Addr {
        a.parse().expect("ipv4")
    }

    #[test]
    fn ipv4_validation_table() {
        let cases: [(&str, u8, Option<&str>, Option<&str>); 10] = [
            ("198.18.0.5", 24, Some("198.18.0.1"), None),
            ("198.18.0.5", 32, None, None),
            ("198.18.0.5", 32, Some("198.18.0.1"), None),
            ("198.18.0.5", 0, None, Some("prefix_length")),
            ("198.18.0.5", 33, None, Some("prefix_length")),
            ("224.0.0.1", 24, None, Some("address")),
            ("255.255.255.255", 24, None, Some("address")),
            ("198.18.0.255", 24, None, Some("address")),
            ("198.18.0.5", 24, Some("198.18.1.1"), Some("gateway")),
            ("198.18.0.5", 24, Some("198.18.0.5"), Some("gateway")),
        ];
        for (addr, prefix, gw, want) in cases {
            let got = validate_ipv4("ipv4_config", v4(addr), prefix, gw.map(v4));
            match want {
                None => assert!(got.is_ok(), "{addr}/{prefix} via {gw:?}: {got:?}"),
                Some(field) => assert_eq!(
                    got.map_err(|e| e.field),
                    Err(format!("ipv4_config.{field}")),
                    "{addr}/{prefix} via {gw:?}"
                ),
            }
        }
    }

    #[test]
    fn ipv6_and_names() {
        let a: Ipv6Addr = "2001:db8::5".parse().expect("ipv6");
        assert!(validate_ipv6("x", a, 64, Some("fe80::1".parse().expect("ll"))).is_ok());
        assert!(validate_ipv6("x", a, 64, Some("2001:db8::1".parse().expect("gw"))).is_ok());
        assert_eq!(
            validate_ipv6("x", a, 64, Some("2001:db9::1".parse().expect("gw")))
                .map_err(|e| e.field),
            Err("x.gateway".into())
        );
        assert_eq!(
            validate_ipv6("x", a, 129, None).map_err(|e| e.field),
            Err("x.prefix_length".into())
        );
        assert_eq!(
            validate_ipv6("x", "ff02::1".parse().expect("mc"), 64, None).map_err(|e| e.field),
            Err("x.address".into())
        );
        assert!(validate_domain("d", "robots.example").is_ok());
        assert!(validate_domain("d", "bad domain").is_err());
        assert!(validate_domain("d", "").is_err());
        assert!(validate_timeserver("t", "198.18.0.1").is_ok());
        assert!(validate_timeserver("t", "pool.ntp.org").is_ok());
        let cfg = ServiceConfig {
            domains: vec!["ok.example".into(), "not ok".into()],
            ..Default::default()
        };
        assert_eq!(
            cfg.validate().map_err(|e| e.field),
            Err("service.domains_config[1]".into())
        );
    }
}
