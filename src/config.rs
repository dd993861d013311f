//! Daemon configuration: built-in defaults < TOML file (`--config`) < `NETPILOT_*`
//! environment < command-line flags, merged with figment.
//!
//! Unknown keys and wrong types in the file are errors that name the key, the file and the
//! line. Environment variables are read only for known keys (`NETPILOT_SOCKET`,
//! `NETPILOT_LOG_LEVEL`, …; lists as `[ethernet, wifi]`), so that variables meant for other
//! programs (the `netpilot` CLI reads `NETPILOT_ADDR`) do not break the daemon.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::model::TechnologyKind;

/// Default Unix socket of the API (DESIGN §4).
pub const DEFAULT_SOCKET: &str = "/run/netpilot/netpilot.sock";

/// Keys read from `NETPILOT_<KEY>` environment variables.
const ENV_KEYS: &[&str] = &[
    "socket",
    "listen",
    "state_dir",
    "run_dir",
    "log_level",
    "preferred_technologies",
    "ignored_interfaces",
    "managed_interfaces",
    "single_connected_technology",
    "always_connected_technologies",
];

/// Log verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// Normal operation (default).
    Info,
    /// Detailed.
    Debug,
    /// Everything.
    Trace,
}

impl From<LogLevel> for tracing::Level {
    fn from(l: LogLevel) -> Self {
        match l {
            LogLevel::Error => tracing::Level::ERROR,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Trace => tracing::Level::TRACE,
        }
    }
}

/// The daemon's configuration. Every field is a key of the TOML file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Unix socket path of the API (created mode 0660). Default `/run/netpilot/netpilot.sock`.
    pub socket: PathBuf,
    /// Plain-TCP listen address `IP:PORT` for development tools such as grpcurl. Loopback
    /// only (127.0.0.0/8 or ::1); unset (default) = no TCP listener.
    pub listen: Option<SocketAddr>,
    /// Persistent state (favorites, service configuration). Default `/var/lib/netpilot`.
    pub state_dir: PathBuf,
    /// Runtime files. Default `/run/netpilot`.
    pub run_dir: PathBuf,
    /// Log verbosity: error, warn, info (default), debug, trace.
    pub log_level: LogLevel,
    /// Technologies in order of preference (ConnMan main.conf PreferredTechnologies).
    /// Default: ethernet, wifi, bluetooth, cellular.
    #[serde(with = "technology_list")]
    pub preferred_technologies: Vec<TechnologyKind>,
    /// Interface name prefixes netpilot ignores (ConnMan main.conf
    /// NetworkInterfaceBlacklist). Default: vmnet, vboxnet, virbr, ifb, ve-, vb- — `veth`
    /// is not ignored.
    pub ignored_interfaces: Vec<String>,
    /// Interfaces netpilot configures (DHCP, static addresses, routes, DNS): name globs
    /// (`eth*`, `enp?s0`) or MAC addresses (`02:00:00:00:00:01`). Others stay visible,
    /// read-only. Built-in default: none, so a daemon started without a config changes
    /// nothing; the production config (`deploy/netpilot.toml`) sets `["*"]`, every Ethernet
    /// link not ignored.
    pub managed_interfaces: Vec<String>,
    /// Keep at most one technology connected: the preferred one (ConnMan main.conf
    /// SingleConnectedTechnology). Default false.
    pub single_connected_technology: bool,
    /// Technologies that stay connected even with `single_connected_technology` (ConnMan
    /// main.conf AlwaysConnectedTechnologies). Default empty.
    #[serde(with = "technology_list")]
    pub always_connected_technologies: Vec<TechnologyKind>,
    /// The HTTP online check.
    pub online_check: OnlineCheck,
    /// Where nameservers go.
    pub dns: Dns,
    /// DHCPv4 client settings.
    pub dhcp: Dhcp,
    /// Connecting services.
    pub connect: Connect,
    /// Wi-Fi through wpa_supplicant.
    pub wifi: Wifi,
    /// Wired IEEE 802.1X through wpa_supplicant's `wired` driver.
    pub ieee8021x: Ieee8021x,
    /// Routing per session: the tables, rule priorities and firewall mark bits netpilot
    /// uses.
    pub sessions: Sessions,
    /// The API's socket, plain-TCP switch and limits.
    pub api: Api,
    /// The mutual-TLS listener for remote controllers.
    pub tls: Tls,
    /// Who has which role, and session policies.
    pub access: Access,
    /// The setup access point and its page.
    pub setup: Setup,
    /// Wi-Fi tethering (on, name and passphrase come from UpdateTechnology).
    pub tethering: Tethering,
}

/// Whether the setup access point may run beside the radio's station.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Concurrency {
    /// When the radio's nl80211 interface combinations allow an AP beside a station: the AP
    /// gets a virtual interface of its own and stays up while the station connects.
    #[default]
    Auto,
    /// Never: the AP takes the radio's own interface, and a connect closes it first.
    Off,
}

/// `[setup]`: the setup access point (a Wi-Fi network with a page that connects the device)
/// and the programs it runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Setup {
    /// auto (default): when nothing is ready after `grace`, and on demand; on-demand: only
    /// on demand; always: whenever a radio is there, even beside Ethernet; off: never.
    pub mode: crate::model::SetupMode,
    /// Seconds after start-up or after the last loss before the AP opens by itself.
    /// Default 60.
    pub grace: u64,
    /// SSID template: `{hostname}` and `{mac}` (the radio's last two MAC bytes, hex) are
    /// replaced; cut to 32 bytes. Default `{hostname}-{mac}`.
    pub ssid: String,
    /// WPA2 passphrase (8..63 printable ASCII); unset (default): an open network.
    pub passphrase: Option<crate::model::Secret>,
    /// The AP's address and prefix, IPv4 `A.B.C.D/P` with P in 16..=29. Phones get
    /// addresses from this subnet. Default `192.168.42.1/24`.
    pub address: String,
    /// 2.4 GHz (1..14) or 5 GHz channel used when no station link decides it. Default 1.
    pub channel: u32,
    /// auto (default) or off: see [`Concurrency`].
    pub concurrency: Concurrency,
    /// Seconds a new Wi-Fi link may be ready without passing the online check before it
    /// counts as working and the AP closes anyway. Default 30.
    pub validate_timeout: u64,
    /// A phone counts as being on the page for this many seconds after its last request;
    /// meanwhile known networks are not retried in the background. Default 60.
    pub page_idle: u64,
    /// Without AP+STA: every this many seconds the AP closes for a while so that known
    /// networks can be tried. Default 300.
    pub retry_interval: u64,
    /// TCP port of the page on the AP address. Default 80.
    pub portal_port: u16,
    /// The DHCP and DNS server program. Default `dnsmasq`.
    pub dnsmasq: PathBuf,
    /// The nl80211 tool that reads interface combinations and adds the AP's interface.
    /// Default `iw`.
    pub iw: PathBuf,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            mode: crate::model::SetupMode::Auto,
            grace: 60,
            ssid: "{hostname}-{mac}".into(),
            passphrase: None,
            address: "192.168.42.1/24".into(),
            channel: 1,
            concurrency: Concurrency::Auto,
            validate_timeout: 30,
            page_idle: 60,
            retry_interval: 300,
            portal_port: 80,
            dnsmasq: PathBuf::from("dnsmasq"),
            iw: PathBuf::from("iw"),
        }
    }
}

/// `[tethering]`: the tethering access point's network. Whether it is on, its name and
/// passphrase are set with UpdateTechnology and kept in `state_dir`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tethering {
    /// The AP's address and prefix (`A.B.C.D/P`, P in 16..=29); clients are masqueraded
    /// behind the uplink. Default `192.168.43.1/24`.
    pub address: String,
    /// The nftables program (`nft -j`). Default `nft`.
    pub nft: PathBuf,
}

impl Default for Tethering {
    fn default() -> Self {
        Self {
            address: "192.168.43.1/24".into(),
            nft: PathBuf::from("nft"),
        }
    }
}

/// An access point address `A.B.C.D/P` (P in 16..=29): the address and the prefix length.
pub fn ap_address(text: &str) -> Result<(std::net::Ipv4Addr, u8), String> {
    let (addr, prefix) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?} is not A.B.C.D/PREFIX"))?;
    let addr: std::net::Ipv4Addr = addr
        .parse()
        .map_err(|_| format!("{addr:?} is not an IPv4 address"))?;
    let prefix: u8 = prefix
        .parse()
        .map_err(|_| format!("prefix {prefix:?} is not a number"))?;
    if !(16..=29).contains(&prefix) {
        return Err(format!(
            "prefix /{prefix}: use 16..=29 (room for phones, not the whole address space)"
        ));
    }
    let host = u32::from(addr) & (u32::MAX >> prefix);
    if host == 0 || host == u32::MAX >> prefix {
        return Err(format!(
            "{addr} is the network or broadcast address of /{prefix}"
        ));
    }
    Ok((addr, prefix))
}

/// The centre frequency in MHz of a 2.4 GHz (1..=14) or 5 GHz (32..=177) channel
/// (IEEE 802.11-2020 §15.4.4.3, §17.3.8.4.2).
pub fn channel_frequency(channel: u32) -> Option<u32> {
    match channel {
        1..=13 => Some(2407 + 5 * channel),
        14 => Some(2484),
        32..=177 => Some(5000 + 5 * channel),
        _ => None,
    }
}

/// `[sessions]`: where routing per session lives (`src/net/steer.rs`). netpilot owns routing
/// tables `table_base + 1 ..= table_base + N`, `ip rule`s at priorities `rule_priority`
/// (a service's firewall mark) and `rule_priority + 1` (a session's source address), the
/// bits `mark_mask` of the firewall mark, and the nftables table `inet netpilot`; what an
/// earlier run left there is removed at start. N, the most services that can carry
/// sessions at once, is `mark_mask` shifted down (255 by default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sessions {
    /// Tables after this one are netpilot's. Default 20000 (tables 20001..20255).
    pub table_base: u32,
    /// Priority of mark rules; source-address rules use the next. Default 10000 (between
    /// `local` at 0 and `main` at 32766).
    pub rule_priority: u32,
    /// Firewall mark bits netpilot uses, contiguous. Default 0x00ff0000.
    pub mark_mask: u32,
}

impl Default for Sessions {
    fn default() -> Self {
        let d = crate::net::steer::SteerConfig::default();
        Self {
            table_base: d.table_base,
            rule_priority: d.rule_priority,
            mark_mask: d.mark_mask,
        }
    }
}

/// `[api]`: the Unix socket's owner group and mode, the development-only plain-TCP switch,
/// and the limits every caller is held to (DESIGN §4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Api {
    /// Group owning the Unix socket (a name or a number), so that unprivileged subsystems
    /// in it can connect. Empty (default): the daemon's own group.
    pub socket_group: String,
    /// Mode of the Unix socket. Default 0o660 (owner and group).
    pub socket_mode: u32,
    /// Allow the plain-TCP `listen` address (loopback only, no identity: development).
    /// Default false: `listen` without it is a configuration error.
    pub insecure_loopback: bool,
    /// Largest request message, bytes. Default 1 MiB.
    pub max_message_bytes: usize,
    /// Calls (HTTP/2 streams) open at once per connection. Default 100.
    pub max_streams_per_connection: u32,
    /// Calls open at once per identity, over all its connections. Default 256.
    pub max_streams_per_identity: u32,
    /// Sessions one identity may hold (a session policy may say otherwise). Default 64.
    pub max_sessions_per_identity: u32,
    /// Expensive calls (ScanTechnology, ConnectService, ConnectSession) per minute per
    /// identity; more get RESOURCE_EXHAUSTED. Default 30.
    pub expensive_calls_per_minute: u32,
    /// Expensive calls one identity may make back to back. Default 10.
    pub expensive_calls_burst: u32,
    /// Seconds between HTTP/2 PINGs. Default 30.
    pub keepalive_interval: u64,
    /// Seconds a PING may go unanswered before the connection is closed. Default 20.
    pub keepalive_timeout: u64,
    /// Seconds a connection may stay without any call before it is closed; 0: never.
    /// Default 600.
    pub idle_timeout: u64,
    /// Bytes the HTTP/2 layer may queue per stream for a client that does not read.
    /// Default 16384.
    pub stream_queue_bytes: usize,
    /// Seconds a stream may hold an update its client does not take before the stream's
    /// connection is closed. Default 60.
    pub stuck_stream_timeout: u64,
}

impl Default for Api {
    fn default() -> Self {
        Self {
            socket_group: String::new(),
            socket_mode: 0o660,
            insecure_loopback: false,
            max_message_bytes: 1 << 20,
            max_streams_per_connection: 100,
            max_streams_per_identity: 256,
            max_sessions_per_identity: 64,
            expensive_calls_per_minute: 30,
            expensive_calls_burst: 10,
            keepalive_interval: 30,
            keepalive_timeout: 20,
            idle_timeout: 600,
            stream_queue_bytes: 16 * 1024,
            stuck_stream_timeout: 60,
        }
    }
}

impl Sessions {
    /// As the applier takes it.
    pub fn steer_config(&self) -> crate::net::steer::SteerConfig {
        crate::net::steer::SteerConfig {
            table_base: self.table_base,
            rule_priority: self.rule_priority,
            mark_mask: self.mark_mask,
            ..crate::net::steer::SteerConfig::default()
        }
    }
}

/// `[tls]`: the mutual-TLS listener. A client certificate chaining to `client_ca` is
/// required; TLS 1.2 or later. SIGHUP reloads the three files.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Tls {
    /// Address to listen on, e.g. `0.0.0.0:50443`. Unset (default): no TLS listener.
    pub listen: Option<SocketAddr>,
    /// PEM certificate chain of the daemon, leaf first.
    pub cert: PathBuf,
    /// PEM private key of the daemon.
    pub key: PathBuf,
    /// PEM CA certificates client certificates must chain to.
    pub client_ca: PathBuf,
}

/// A role as the configuration spells it, or `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RoleSetting {
    /// No access (health checks only).
    #[default]
    None,
    /// viewer.
    Viewer,
    /// user.
    User,
    /// admin.
    Admin,
}

impl From<RoleSetting> for Option<crate::access::Role> {
    fn from(r: RoleSetting) -> Self {
        use crate::access::Role;
        match r {
            RoleSetting::None => None,
            RoleSetting::Viewer => Some(Role::Viewer),
            RoleSetting::User => Some(Role::User),
            RoleSetting::Admin => Some(Role::Admin),
        }
    }
}

/// `[access]`: identities per role (`uid:N|NAME`, `gid:N|NAME`, `cn:NAME`, `dns:NAME`,
/// `uri:URI`, `loopback`). Root and the daemon's own user over the Unix socket are always
/// admin; anyone else no list names gets `unmapped_local` or `unmapped_tls`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Access {
    /// Identities with role admin.
    pub admin: Vec<String>,
    /// Identities with role user.
    pub user: Vec<String>,
    /// Identities with role viewer.
    pub viewer: Vec<String>,
    /// Role of a Unix-socket caller no list names: none (default), viewer, user, admin.
    pub unmapped_local: RoleSetting,
    /// Role of a TLS client no list names: none (default), viewer, user, admin.
    pub unmapped_tls: RoleSetting,
    /// Directory of session policy files (`*.toml`), watched. Unset (default): none.
    pub session_policies: Option<PathBuf>,
}

impl Access {
    /// The map of roles, with user and group names resolved by `resolve` (see
    /// [`crate::access::Selector::parse`]). Errors name the key and the entry.
    pub fn map(
        &self,
        resolve: &dyn Fn(&'static str, &str) -> Option<u32>,
        daemon_uid: u32,
    ) -> Result<crate::access::AccessMap, ConfigError> {
        let list = |key: &'static str, entries: &[String]| {
            entries
                .iter()
                .enumerate()
                .map(|(i, e)| {
                    crate::access::Selector::parse(e, resolve).map_err(|err| ConfigError::Invalid {
                        key,
                        message: format!("entry {i}: {err}"),
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(crate::access::AccessMap {
            admin: list("access.admin", &self.admin)?,
            user: list("access.user", &self.user)?,
            viewer: list("access.viewer", &self.viewer)?,
            unmapped_local: self.unmapped_local.into(),
            unmapped_tls: self.unmapped_tls.into(),
            daemon_uid,
        })
    }
}

impl Api {
    /// The socket's group id: `socket_group` resolved, `None` when empty.
    pub fn socket_gid(
        &self,
        resolve: &dyn Fn(&'static str, &str) -> Option<u32>,
    ) -> Result<Option<u32>, ConfigError> {
        let g = self.socket_group.as_str();
        if g.is_empty() {
            return Ok(None);
        }
        let gid = if g.bytes().all(|b| b.is_ascii_digit()) {
            g.parse().ok()
        } else {
            resolve("group", g)
        };
        gid.map(Some).ok_or_else(|| ConfigError::Invalid {
            key: "api.socket_group",
            message: format!("group {g:?} does not exist on this system"),
        })
    }
}

/// `[wifi]`: radios listed in `managed_interfaces` are driven through wpa_supplicant's control
/// interface (one socket per radio in `ctrl_dir`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Wifi {
    /// wpa_supplicant's control directory (its `ctrl_interface`). Default
    /// `/run/wpa_supplicant`.
    pub ctrl_dir: PathBuf,
    /// Start and supervise one wpa_supplicant per radio (nl80211) and per 802.1X port
    /// (wired) instead of using one that runs already. Default false.
    pub spawn_supplicant: bool,
    /// The wpa_supplicant program started when `spawn_supplicant` is on. Default
    /// `wpa_supplicant` (looked up in PATH).
    pub supplicant: PathBuf,
    /// Regulatory country, ISO 3166-1 alpha-2 (e.g. "DE"); empty (default) leaves the world
    /// domain. ALConnectionManager's setCountry.
    pub country: String,
    /// Failed authentications (wrong key, EAP failure) before a connect gives up with
    /// `invalid-key` or `auth-failed`. Default 2.
    pub max_auth_attempts: u32,
    /// Keep a stored passphrase after `invalid-key` (true), or forget it so that the next
    /// connect asks again (false, default, as ConnMan does).
    pub keep_secret_on_invalid_key: bool,
}

impl Default for Wifi {
    fn default() -> Self {
        Self {
            ctrl_dir: PathBuf::from("/run/wpa_supplicant"),
            spawn_supplicant: false,
            supplicant: PathBuf::from("wpa_supplicant"),
            country: String::new(),
            max_auth_attempts: 2,
            keep_secret_on_invalid_key: false,
        }
    }
}

/// `[ieee8021x]`: Ethernet links that authenticate with IEEE 802.1X before IP (as
/// NetworkManager's 802-1x setting for Ethernet). They use wpa_supplicant's `wired` driver
/// and control directory `[wifi] ctrl_dir`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ieee8021x {
    /// Interface name globs; must also be managed (`managed_interfaces`). Default none.
    pub interfaces: Vec<String>,
}

/// When the online check runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnlineCheckMode {
    /// Never: services stop at `ready`.
    Off,
    /// Once per connection, retried with backoff until it passes (ConnMan's default).
    OneShot,
    /// Also after passing, every `interval_max`; `failures` failures in a row demote the
    /// service to `ready` with error `online-check-failed`.
    Continuous,
}

/// `[online_check]`: an HTTP GET through each connected managed service's interface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OnlineCheck {
    /// off, one-shot (default), continuous.
    pub mode: OnlineCheckMode,
    /// URL probed over IPv4 (http only). Default Android's generate_204.
    pub ipv4_url: String,
    /// URL probed over IPv6 (http only).
    pub ipv6_url: String,
    /// HTTP status that means online. Default 204. A redirect means a captive portal.
    pub expect_status: u16,
    /// First retry delay, seconds (ConnMan: 1). Doubles up to `interval_max`.
    pub interval_min: u64,
    /// Longest retry delay and the re-check period in continuous mode, seconds (ConnMan: 720).
    pub interval_max: u64,
    /// Continuous mode: failures in a row that demote an online service. Default 3.
    pub failures: u32,
    /// Per-probe timeout, seconds. Default 5.
    pub timeout: u64,
}

impl Default for OnlineCheck {
    fn default() -> Self {
        Self {
            mode: OnlineCheckMode::OneShot,
            ipv4_url: "http://connectivitycheck.gstatic.com/generate_204".into(),
            ipv6_url: "http://connectivitycheck.gstatic.com/generate_204".into(),
            expect_status: 204,
            interval_min: 1,
            interval_max: 720,
            failures: 3,
            timeout: 5,
        }
    }
}

/// Where nameservers go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DnsBackend {
    /// A resolv.conf file at `resolv_conf`.
    File,
    /// systemd-resolved over D-Bus, per link; falls back to the file when resolved is not
    /// on the system bus.
    Resolved,
}

/// `[dns]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dns {
    /// file (default) or resolved (systemd-resolved, when it is running).
    pub backend: DnsBackend,
    /// The resolv.conf netpilot writes, atomically. Default `/run/netpilot/resolv.conf`.
    pub resolv_conf: PathBuf,
}

impl Default for Dns {
    fn default() -> Self {
        Self {
            backend: DnsBackend::File,
            resolv_conf: PathBuf::from("/run/netpilot/resolv.conf"),
        }
    }
}

/// What the DHCP client does with classless static routes (option 121, RFC 3442).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ClasslessRoutes {
    /// Install every route the server sends.
    Accept,
    /// Ignore option 121 (and use the router option, 3).
    Ignore,
    /// Default: install them, except a route shorter than /8 (it would override the
    /// default route for a large part of the address space, as the TunnelVision attack,
    /// CVE-2024-3661, does with 0.0.0.0/1 and 128.0.0.0/1) and a route that covers the
    /// gateway through another router; each dropped route is logged as a warning.
    #[default]
    NoDefaultOverride,
}

/// Which client identifier (option 61) the DHCP client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ClientIdMode {
    /// Default: RFC 4361's `0xff`, IAID (last four bytes of the MAC, as dhcpcd), DUID. The
    /// DUID is kept in `<state_dir>/dhcp/duid`; the first one is derived from
    /// /etc/machine-id as systemd-networkd does (DUID-EN, enterprise 43793), so both
    /// clients get the same leases.
    #[default]
    Duid,
    /// Hardware type 1 and the interface's MAC (RFC 2132 §9.14), as most older clients.
    Mac,
}

/// `[dhcp]`: the DHCPv4 client (RFC 2131).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dhcp {
    /// Host name sent in DHCP (option 12), at most 255 bytes. Empty (default): the
    /// system's host name.
    pub hostname: String,
    /// Vendor class identifier (option 60), at most 255 bytes, e.g. a product name the
    /// server matches on. Empty (default): not sent.
    pub vendor_class: String,
    /// Client identifier (option 61): "duid" (default) or "mac".
    pub client_id: ClientIdMode,
    /// Classless static routes (option 121): "accept", "ignore" or "no-default-override"
    /// (default).
    pub classless_routes: ClasslessRoutes,
    /// Probe an offered address with ARP before using it (RFC 5227: about 4 to 7 s) and
    /// DHCPDECLINE it when another host answers. Default false.
    pub arp_check: bool,
}

/// `[connect]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Connect {
    /// Seconds a connect may take before the service fails with `connect-failed`
    /// (Zephyr conn_mgr connect timeout). 0: no limit. Default 30.
    pub timeout: u64,
    /// Set the link admin-down when a connect times out. Default false.
    pub admin_down_on_timeout: bool,
    /// First reconnect delay after an unintended loss, seconds. Default 1.
    pub retry_min: u64,
    /// Longest reconnect delay, seconds. Default 60.
    pub retry_max: u64,
}

impl Default for Connect {
    fn default() -> Self {
        Self {
            timeout: 30,
            admin_down_on_timeout: false,
            retry_min: 1,
            retry_max: 60,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            socket: PathBuf::from(DEFAULT_SOCKET),
            listen: None,
            state_dir: PathBuf::from("/var/lib/netpilot"),
            run_dir: PathBuf::from("/run/netpilot"),
            log_level: LogLevel::Info,
            preferred_technologies: TechnologyKind::ALL.to_vec(),
            ignored_interfaces: ["vmnet", "vboxnet", "virbr", "ifb", "ve-", "vb-"]
                .map(String::from)
                .to_vec(),
            managed_interfaces: vec![],
            single_connected_technology: false,
            always_connected_technologies: vec![],
            online_check: OnlineCheck::default(),
            dns: Dns::default(),
            dhcp: Dhcp::default(),
            connect: Connect::default(),
            wifi: Wifi::default(),
            ieee8021x: Ieee8021x::default(),
            sessions: Sessions::default(),
            api: Api::default(),
            tls: Tls::default(),
            access: Access::default(),
            setup: Setup::default(),
            tethering: Tethering::default(),
        }
    }
}

impl Config {
    /// Whether netpilot configures this interface: its name matches a glob of
    /// `managed_interfaces` or its MAC (`aa:bb:…`, any case) is listed.
    pub fn is_managed(&self, ifname: &str, mac: &str) -> bool {
        self.managed_interfaces.iter().any(|m| {
            m.eq_ignore_ascii_case(mac) || glob::Pattern::new(m).is_ok_and(|p| p.matches(ifname))
        })
    }

    /// Whether a managed Ethernet link authenticates with IEEE 802.1X (`[ieee8021x]
    /// interfaces`).
    pub fn is_ieee8021x(&self, ifname: &str) -> bool {
        self.ieee8021x
            .interfaces
            .iter()
            .any(|m| glob::Pattern::new(m).is_ok_and(|p| p.matches(ifname)))
    }

    /// Whether an interface name matches the ignore list.
    pub fn is_ignored(&self, ifname: &str) -> bool {
        self.ignored_interfaces
            .iter()
            .any(|p| !p.is_empty() && ifname.starts_with(p.as_str()))
    }
}

/// Values given on the command line; unset ones do not override.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    /// `--socket`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket: Option<PathBuf>,
    /// `--listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// `--state-dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<PathBuf>,
    /// `--run-dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_dir: Option<PathBuf>,
    /// `--log-level`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<LogLevel>,
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("read config file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys or wrong types.
    #[error("config file {path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// toml's message, with line, column and key.
        message: String,
    },
    /// The merged configuration is invalid (environment or flags).
    #[error("configuration: {0}")]
    Merge(String),
    /// A value is out of its allowed range.
    #[error("configuration key {key}: {message}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// What is wrong and what to do.
        message: String,
    },
}

/// Loads the configuration: defaults < `file` < environment < `overrides`.
pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        // figment names the key but not the line; toml names both, so check the file with it.
        toml::from_str::<Config>(&text).map_err(|e| ConfigError::File {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        figment = figment.merge(Toml::string(&text));
    }
    let config: Config = figment
        .merge(Env::prefixed("NETPILOT_").only(ENV_KEYS))
        .merge(Serialized::defaults(overrides))
        .extract()
        .map_err(|e| ConfigError::Merge(e.to_string()))?;
    validate(&config)?;
    Ok(config)
}

/// A configuration file's text, checked as [`load`] checks a file (no environment, no
/// flags). Used by the fuzz target for the config parser.
pub fn parse_text(text: &str) -> Result<Config, ConfigError> {
    let config: Config = toml::from_str(text).map_err(|e| ConfigError::File {
        path: PathBuf::from("<text>"),
        message: e.to_string().trim_end().to_string(),
    })?;
    validate(&config)?;
    Ok(config)
}

fn validate(config: &Config) -> Result<(), ConfigError> {
    let sessions = &config.sessions;
    let mask = sessions.mark_mask;
    if mask == 0
        || (mask >> mask.trailing_zeros()).wrapping_add(1) & (mask >> mask.trailing_zeros()) != 0
    {
        return Err(ConfigError::Invalid {
            key: "sessions.mark_mask",
            message: format!("{mask:#x} is not one contiguous run of bits"),
        });
    }
    let slots = mask >> mask.trailing_zeros();
    let reserved = [0u32, 253, 254, 255];
    if sessions.table_base.checked_add(slots).is_none()
        || reserved
            .iter()
            .any(|t| *t > sessions.table_base && *t <= sessions.table_base + slots)
    {
        return Err(ConfigError::Invalid {
            key: "sessions.table_base",
            message: format!(
                "tables {}..={} must fit in 32 bits and leave out 253 (default), 254 (main) and 255 (local)",
                u64::from(sessions.table_base) + 1,
                u64::from(sessions.table_base) + u64::from(slots)
            ),
        });
    }
    if sessions.rule_priority == 0 || sessions.rule_priority >= 32765 {
        return Err(ConfigError::Invalid {
            key: "sessions.rule_priority",
            message: format!(
                "{} must be between 1 and 32764, after `local` (0) and before `main` (32766)",
                sessions.rule_priority
            ),
        });
    }
    if let Some(addr) = config.listen {
        if !addr.ip().is_loopback() {
            return Err(ConfigError::Invalid {
                key: "listen",
                message: format!(
                    "{addr} is not a loopback address; plain TCP is allowed only on 127.0.0.0/8 or ::1"
                ),
            });
        }
        if !config.api.insecure_loopback {
            return Err(ConfigError::Invalid {
                key: "listen",
                message: format!(
                    "plain TCP on {addr} has no caller identity; set [api] insecure_loopback = true to allow it (development), or use [tls]"
                ),
            });
        }
    }
    validate_api(config)?;
    let mut seen = Vec::new();
    for t in &config.preferred_technologies {
        if seen.contains(t) {
            return Err(ConfigError::Invalid {
                key: "preferred_technologies",
                message: format!("{t} is listed twice"),
            });
        }
        seen.push(*t);
    }
    for (key, list) in [
        ("managed_interfaces", &config.managed_interfaces),
        ("ieee8021x.interfaces", &config.ieee8021x.interfaces),
    ] {
        for (i, m) in list.iter().enumerate() {
            if let Err(e) = glob::Pattern::new(m) {
                return Err(ConfigError::Invalid {
                    key,
                    message: format!("entry {i} {m:?} is not a valid glob: {e}"),
                });
            }
        }
    }
    let country = &config.wifi.country;
    if !country.is_empty() && !crate::model::is_country_code(country) {
        return Err(ConfigError::Invalid {
            key: "wifi.country",
            message: format!("{country:?} is not an ISO 3166-1 alpha-2 code such as \"DE\""),
        });
    }
    if config.wifi.max_auth_attempts == 0 {
        return Err(ConfigError::Invalid {
            key: "wifi.max_auth_attempts",
            message: "must be at least 1".into(),
        });
    }
    let check = &config.online_check;
    for (key, url) in [
        ("online_check.ipv4_url", &check.ipv4_url),
        ("online_check.ipv6_url", &check.ipv6_url),
    ] {
        if !url.starts_with("http://") {
            return Err(ConfigError::Invalid {
                key,
                message: format!(
                    "{url:?} must be an http:// URL (the check reads a status code, not content)"
                ),
            });
        }
    }
    if !(100..=599).contains(&check.expect_status) {
        return Err(ConfigError::Invalid {
            key: "online_check.expect_status",
            message: format!("{} is not an HTTP status (100..599)", check.expect_status),
        });
    }
    if check.interval_min == 0 || check.interval_min > check.interval_max {
        return Err(ConfigError::Invalid {
            key: "online_check.interval_min",
            message: format!(
                "must be at least 1 and at most interval_max ({})",
                check.interval_max
            ),
        });
    }
    if check.timeout == 0 || check.failures == 0 {
        return Err(ConfigError::Invalid {
            key: if check.timeout == 0 {
                "online_check.timeout"
            } else {
                "online_check.failures"
            },
            message: "must be at least 1".into(),
        });
    }
    if config.connect.retry_min == 0 || config.connect.retry_min > config.connect.retry_max {
        return Err(ConfigError::Invalid {
            key: "connect.retry_min",
            message: format!(
                "must be at least 1 and at most retry_max ({})",
                config.connect.retry_max
            ),
        });
    }
    for (key, value) in [
        ("dhcp.vendor_class", &config.dhcp.vendor_class),
        ("dhcp.hostname", &config.dhcp.hostname),
    ] {
        if value.len() > 255 {
            return Err(ConfigError::Invalid {
                key,
                message: format!("{} bytes; a DHCP option holds at most 255", value.len()),
            });
        }
    }
    validate_setup(config)?;
    if config.socket.as_os_str().is_empty() {
        return Err(ConfigError::Invalid {
            key: "socket",
            message: "must not be empty".into(),
        });
    }
    Ok(())
}

fn validate_setup(config: &Config) -> Result<(), ConfigError> {
    let setup = &config.setup;
    let invalid = |key, message| Err(ConfigError::Invalid { key, message });
    for (key, text) in [
        ("setup.address", &setup.address),
        ("tethering.address", &config.tethering.address),
    ] {
        if let Err(message) = ap_address(text) {
            return invalid(key, message);
        }
    }
    if channel_frequency(setup.channel).is_none() {
        return invalid(
            "setup.channel",
            format!(
                "{} is not a 2.4 GHz (1..14) or 5 GHz channel",
                setup.channel
            ),
        );
    }
    if let Some(p) = &setup.passphrase {
        let n = p.expose().len();
        if !(8..=63).contains(&n) || !p.expose().bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return invalid(
                "setup.passphrase",
                format!("a WPA2 passphrase has 8..63 printable ASCII characters, not {n}"),
            );
        }
    }
    if setup.ssid.trim().is_empty() {
        return invalid("setup.ssid", "must not be empty".into());
    }
    for (key, value) in [
        ("setup.grace", setup.grace),
        ("setup.validate_timeout", setup.validate_timeout),
        ("setup.page_idle", setup.page_idle),
        ("setup.retry_interval", setup.retry_interval),
    ] {
        if value > 86_400 {
            return invalid(key, format!("{value} s is more than a day"));
        }
    }
    if setup.portal_port == 0 {
        return invalid("setup.portal_port", "must be a TCP port (1..65535)".into());
    }
    Ok(())
}

/// Keys (and tables) a SIGHUP applies while running. Every other key (`socket`, `listen`,
/// `state_dir`, `run_dir`, `[dns]`, `[api]`, `[tls]`, `[access]`, and `[wifi]` except
/// `keep_secret_on_invalid_key`) needs a restart: a reload that changes one logs that and
/// keeps the running value. (SIGHUP also re-reads the files `[tls]` names, and the session
/// policy directory is watched.)
pub const RELOADABLE: &[&str] = &[
    "log_level",
    "preferred_technologies",
    "ignored_interfaces",
    "managed_interfaces",
    "single_connected_technology",
    "always_connected_technologies",
    "online_check",
    "dhcp",
    "connect",
    "ieee8021x",
    "wifi.keep_secret_on_invalid_key",
];

/// A configuration reloaded while running.
#[derive(Debug, Clone, PartialEq)]
pub struct Reloaded {
    /// The running configuration with the reloadable keys taken from the new one.
    pub config: Config,
    /// What changes, one line per key: `connect.timeout: 30 -> 5`.
    pub changed: Vec<String>,
    /// Keys changed in the new configuration that only a restart applies.
    pub need_restart: Vec<String>,
}

/// Loads the configuration again (as [`load`]) and splits the changes from `running`
/// into those applied now ([`RELOADABLE`]) and those that need a restart.
pub fn reload(
    running: &Config,
    file: Option<&Path>,
    overrides: &Overrides,
) -> Result<Reloaded, ConfigError> {
    let new = load(file, overrides)?;
    let mut config = running.clone();
    config.log_level = new.log_level;
    config.preferred_technologies = new.preferred_technologies.clone();
    config.ignored_interfaces = new.ignored_interfaces.clone();
    config.managed_interfaces = new.managed_interfaces.clone();
    config.single_connected_technology = new.single_connected_technology;
    config.always_connected_technologies = new.always_connected_technologies.clone();
    config.online_check = new.online_check.clone();
    config.dhcp = new.dhcp.clone();
    config.connect = new.connect.clone();
    config.ieee8021x = new.ieee8021x.clone();
    config.wifi.keep_secret_on_invalid_key = new.wifi.keep_secret_on_invalid_key;
    let before = leaves(running);
    let after = leaves(&config);
    let changed = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .map(|(k, v)| {
            let old = before.get(k).map(String::as_str).unwrap_or("(unset)");
            format!("{k}: {old} -> {v}")
        })
        .collect();
    let need_restart = leaves(&new)
        .into_iter()
        .filter(|(k, v)| after.get(k) != Some(v))
        .map(|(k, _)| k)
        .collect();
    Ok(Reloaded {
        config,
        changed,
        need_restart,
    })
}

/// Every key of a configuration as `table.key` with its value in JSON.
fn leaves(config: &Config) -> std::collections::BTreeMap<String, String> {
    fn walk(
        prefix: &str,
        value: &serde_json::Value,
        out: &mut std::collections::BTreeMap<String, String>,
    ) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            other => {
                out.insert(prefix.to_string(), other.to_string());
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    // A Config always serialises (plain data, string keys).
    if let Ok(value) = serde_json::to_value(config) {
        walk("", &value, &mut out);
    }
    out
}

fn validate_api(config: &Config) -> Result<(), ConfigError> {
    let api = &config.api;
    if api.socket_mode & !0o777 != 0 || api.socket_mode & 0o600 != 0o600 {
        return Err(ConfigError::Invalid {
            key: "api.socket_mode",
            message: format!(
                "{:#o}: permission bits only (at most 0o777), with read and write for the owner",
                api.socket_mode
            ),
        });
    }
    for (key, value, min) in [
        ("api.max_message_bytes", api.max_message_bytes as u64, 4096),
        (
            "api.max_streams_per_connection",
            api.max_streams_per_connection.into(),
            1,
        ),
        (
            "api.max_streams_per_identity",
            api.max_streams_per_identity.into(),
            1,
        ),
        (
            "api.expensive_calls_per_minute",
            api.expensive_calls_per_minute.into(),
            1,
        ),
        (
            "api.expensive_calls_burst",
            api.expensive_calls_burst.into(),
            1,
        ),
        ("api.keepalive_interval", api.keepalive_interval, 1),
        ("api.keepalive_timeout", api.keepalive_timeout, 1),
        (
            "api.stream_queue_bytes",
            api.stream_queue_bytes as u64,
            1024,
        ),
        ("api.stuck_stream_timeout", api.stuck_stream_timeout, 1),
    ] {
        if value < min {
            return Err(ConfigError::Invalid {
                key,
                message: format!("{value} is below the minimum {min}"),
            });
        }
    }
    let resolve = crate::access::resolve_system_name;
    config.access.map(&resolve, 0)?;
    config.api.socket_gid(&resolve)?;
    let tls = &config.tls;
    if tls.listen.is_some() {
        for (key, path) in [
            ("tls.cert", &tls.cert),
            ("tls.key", &tls.key),
            ("tls.client_ca", &tls.client_ca),
        ] {
            if path.as_os_str().is_empty() {
                return Err(ConfigError::Invalid {
                    key,
                    message: "required when tls.listen is set".into(),
                });
            }
        }
    }
    Ok(())
}

mod technology_list {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    use crate::model::TechnologyKind;

    pub fn serialize<S: Serializer>(list: &[TechnologyKind], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(list.iter().map(|t| t.as_str()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<TechnologyKind>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| s.parse().map_err(D::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(text.as_bytes()).expect("write");
        f
    }

    #[test]
    fn defaults_then_file_then_flags() {
        let f = file("socket = \"/tmp/a.sock\"\nlog_level = \"debug\"\npreferred_technologies = [\"wifi\", \"ethernet\"]\n");
        let overrides = Overrides {
            log_level: Some(LogLevel::Warn),
            ..Default::default()
        };
        let c = load(Some(f.path()), &overrides).expect("config");
        assert_eq!(c.socket, PathBuf::from("/tmp/a.sock"));
        assert_eq!(c.log_level, LogLevel::Warn, "flag beats file");
        assert_eq!(
            c.preferred_technologies,
            vec![TechnologyKind::Wifi, TechnologyKind::Ethernet]
        );
        assert_eq!(
            c.state_dir,
            PathBuf::from("/var/lib/netpilot"),
            "default kept"
        );
    }

    #[test]
    fn errors_name_key_file_and_line() {
        let cases = [
            (
                "log_level = \"info\"\nsokcet = \"/x\"\n",
                &["sokcet", "line 2"][..],
            ),
            ("log_level = 3\n", &["log_level", "line 1"][..]),
            (
                "preferred_technologies = [\"ethernet\", \"wimax\"]\n",
                &["wimax", "line 1"][..],
            ),
            ("listen = \"not-an-address\"\n", &["listen", "line 1"][..]),
        ];
        for (text, wants) in cases {
            let f = file(text);
            let err = load(Some(f.path()), &Overrides::default())
                .expect_err(text)
                .to_string();
            assert!(err.contains(&f.path().display().to_string()), "{err}");
            for want in wants {
                assert!(err.contains(want), "{text:?}: {err:?} lacks {want:?}");
            }
        }
    }

    #[test]
    fn a_reload_applies_run_time_keys_and_names_the_others() {
        let running = load(None, &Overrides::default()).expect("defaults");
        let f = file("log_level = \"debug\"\nmanaged_interfaces = [\"veth*\"]\nstate_dir = \"/elsewhere\"\n[connect]\ntimeout = 5\n[dns]\nresolv_conf = \"/tmp/r\"\n");
        let r = reload(&running, Some(f.path()), &Overrides::default()).expect("reload");
        assert_eq!(r.config.log_level, LogLevel::Debug);
        assert_eq!(r.config.connect.timeout, 5);
        assert_eq!(r.config.managed_interfaces, vec!["veth*".to_string()]);
        assert_eq!(
            r.config.state_dir, running.state_dir,
            "kept until a restart"
        );
        assert_eq!(r.config.dns, running.dns, "kept until a restart");
        assert_eq!(
            r.changed,
            vec![
                "connect.timeout: 30 -> 5".to_string(),
                "log_level: \"info\" -> \"debug\"".into(),
                "managed_interfaces: [] -> [\"veth*\"]".into(),
            ]
        );
        assert_eq!(
            r.need_restart,
            vec!["dns.resolv_conf".to_string(), "state_dir".into()]
        );
        let bad = file("log_level = 3\n");
        assert!(reload(&running, Some(bad.path()), &Overrides::default()).is_err());
    }

    #[test]
    fn non_loopback_listen_is_rejected() {
        let overrides = Overrides {
            listen: Some("0.0.0.0:50051".parse().expect("addr")),
            ..Default::default()
        };
        let err = load(None, &overrides).expect_err("must fail").to_string();
        assert!(err.contains("listen") && err.contains("loopback"), "{err}");
    }

    #[test]
    fn ignore_list_is_prefixes_and_keeps_veth() {
        let c = Config::default();
        assert!(c.is_ignored("virbr0"));
        assert!(c.is_ignored("ve-container"));
        assert!(!c.is_ignored("veth0"));
        assert!(!c.is_ignored("eth0"));
    }

    #[test]
    fn managed_interfaces_by_glob_or_mac() {
        let c = Config {
            managed_interfaces: vec!["veth*".into(), "02:00:00:00:00:AA".into()],
            ..Config::default()
        };
        assert!(c.is_managed("veth0", "02:00:00:00:00:01"));
        assert!(
            c.is_managed("eth3", "02:00:00:00:00:aa"),
            "MAC match ignores case"
        );
        assert!(!c.is_managed("eth0", "02:00:00:00:00:01"));
        let none = Config {
            managed_interfaces: vec![],
            ..Config::default()
        };
        assert!(!none.is_managed("eth0", ""));
        assert!(
            !Config::default().is_managed("eth0", ""),
            "built-in default manages nothing"
        );
    }

    #[test]
    fn nested_sections_are_checked() {
        let cases = [
            (
                "[online_check]\nipv4_url = \"https://x\"\n",
                "online_check.ipv4_url",
            ),
            (
                "[online_check]\nexpect_status = 42\n",
                "online_check.expect_status",
            ),
            ("[online_check]\nmode = \"sometimes\"\n", "mode"),
            ("[dns]\nbackend = \"bind\"\n", "backend"),
            ("[dhcp]\nclassless_routes = \"all\"\n", "classless_routes"),
            ("[dhcp]\nclient_id = \"uuid\"\n", "client_id"),
            ("[dhcp]\nhostnam = \"x\"\n", "hostnam"),
            ("managed_interfaces = [\"[\"]\n", "managed_interfaces"),
            ("[wifi]\ncountry = \"Germany\"\n", "wifi.country"),
            ("[wifi]\nmax_auth_attempts = 0\n", "wifi.max_auth_attempts"),
            ("[wifi]\nctrl_directory = \"/x\"\n", "ctrl_directory"),
            (
                "[ieee8021x]\ninterfaces = [\"[\"]\n",
                "ieee8021x.interfaces",
            ),
        ];
        for (text, want) in cases {
            let f = file(text);
            let err = load(Some(f.path()), &Overrides::default())
                .expect_err(text)
                .to_string();
            assert!(err.contains(want), "{text:?}: {err}");
        }
        let long = file(&format!("[dhcp]\nvendor_class = \"{}\"\n", "x".repeat(256)));
        let err = load(Some(long.path()), &Overrides::default()).expect_err("256 bytes");
        assert!(err.to_string().contains("dhcp.vendor_class"), "{err}");
        let f = file("[dhcp]\nvendor_class = \"robot\"\nclient_id = \"mac\"\nclassless_routes = \"ignore\"\narp_check = true\n");
        let c = load(Some(f.path()), &Overrides::default()).expect("valid [dhcp]");
        assert_eq!(
            (
                c.dhcp.vendor_class.as_str(),
                c.dhcp.client_id,
                c.dhcp.classless_routes,
                c.dhcp.arp_check
            ),
            ("robot", ClientIdMode::Mac, ClasslessRoutes::Ignore, true)
        );
        let f = file("[online_check]\nmode = \"continuous\"\nipv4_url = \"http://198.18.0.1/generate_204\"\n");
        let c = load(Some(f.path()), &Overrides::default()).expect("valid");
        assert_eq!(c.online_check.mode, OnlineCheckMode::Continuous);
        assert_eq!(
            c.online_check.expect_status, 204,
            "defaults fill the rest of the section"
        );
    }
}

#[cfg(test)]
mod deploy_tests {
    #[test]
    fn the_deploy_configs_and_the_policy_example_load() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for file in ["deploy/netpilot.toml", "deploy/dev.toml"] {
            let text = std::fs::read_to_string(root.join(file)).expect(file);
            super::parse_text(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        }
        let file = root.join("deploy/session-policies/navigation.toml");
        let text = std::fs::read_to_string(&file).expect("policy");
        crate::access::policy::parse(file, &text, &|_, _| None).expect("the policy example");
    }
}
