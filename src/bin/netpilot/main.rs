//! netpilot: command-line client of netpilotd.

/// `print!` that stops quietly when stdout's reader has gone (`netpilot watch | head`)
/// instead of panicking on the broken pipe.
macro_rules! out {
    ($($arg:tt)*) => { $crate::write_stdout(format_args!($($arg)*)) };
}

/// `println!` that stops quietly when stdout's reader has gone; see [`out!`].
macro_rules! outln {
    () => { $crate::write_stdout(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::write_stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

mod agent;
mod certs;
mod output;
mod terminal;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use netpilot::config::DEFAULT_SOCKET;
use netpilot::model::Secret;
use netpilot::pb;
use netpilot::pb::manager_service_client::ManagerServiceClient;
use netpilot::pb::session_service_client::SessionServiceClient;
use netpilot::pb::setup_service_client::SetupServiceClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// Talk to netpilotd: show state, watch events, scan and connect Wi-Fi, answer credential
/// requests, open sessions, order services.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Unix socket of the daemon.
    #[arg(long, env = "NETPILOT_SOCKET", default_value = DEFAULT_SOCKET, global = true)]
    socket: PathBuf,
    /// Connect over TCP to HOST:PORT instead: the daemon's mutual-TLS listener with
    /// --tls-ca, --tls-cert and --tls-key, else its plain loopback `listen`.
    #[arg(long, env = "NETPILOT_ADDR", global = true)]
    addr: Option<String>,
    /// PEM CA that signed the daemon's certificate (mutual TLS).
    #[arg(long, env = "NETPILOT_TLS_CA", global = true, requires_all = ["tls_cert", "tls_key"])]
    tls_ca: Option<PathBuf>,
    /// This client's PEM certificate (mutual TLS).
    #[arg(long, env = "NETPILOT_TLS_CERT", global = true)]
    tls_cert: Option<PathBuf>,
    /// This client's PEM private key (mutual TLS).
    #[arg(long, env = "NETPILOT_TLS_KEY", global = true)]
    tls_key: Option<PathBuf>,
    /// Name the daemon's certificate must carry [default: the host of --addr].
    #[arg(long, global = true)]
    tls_domain: Option<String>,
    /// Print protobuf JSON (one object per line for streams) instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Manager state, offline mode and L4 connectivity.
    State,
    /// Technologies.
    Technologies,
    /// Show a technology, or change its power, Wi-Fi regulatory country or tethering.
    ///
    /// Example: netpilot technology wifi --powered on --country DE
    /// Example: netpilot technology wifi --tethering on --tethering-identifier robot-net
    ///          --tethering-passphrase-file ~/tether.pass
    Technology {
        /// Which technology.
        #[arg(value_enum)]
        technology: TechnologyArg,
        /// Turn it on or off.
        #[arg(long)]
        powered: Option<OnOff>,
        /// Wi-Fi regulatory country: ISO 3166-1 alpha-2, e.g. DE.
        #[arg(long, value_name = "CODE")]
        country: Option<String>,
        /// Share the uplink through a Wi-Fi access point (kept across restarts).
        #[arg(long)]
        tethering: Option<OnOff>,
        /// The tethering network's name (SSID).
        #[arg(long, value_name = "SSID")]
        tethering_identifier: Option<String>,
        /// The tethering network's WPA2 passphrase; "-" reads it from stdin (without echo at
        /// a terminal). Never shown again.
        #[arg(long, value_name = "PASSPHRASE", value_parser = secret_arg,
              conflicts_with = "tethering_passphrase_file")]
        tethering_passphrase: Option<Secret>,
        /// Read the tethering passphrase from FILE: its only line.
        #[arg(long, value_name = "FILE")]
        tethering_passphrase_file: Option<PathBuf>,
    },
    /// The setup access point: a Wi-Fi network whose page connects this device.
    #[command(subcommand)]
    Setup(SetupCommand),
    /// Scan for networks, then list the services (connmanctl scan wifi; services).
    Scan {
        /// Which technology.
        #[arg(value_enum, default_value_t = TechnologyArg::Wifi)]
        technology: TechnologyArg,
    },
    /// Services in service order, preferred first.
    ///
    /// Columns: state, name (the SSID; bytes that are not UTF-8 as \xNN), security, signal
    /// (0..100), frequency in MHz, IPv4 and flags (* favorite, A autoconnect, I immutable); the
    /// id is on the line below each service, with the error word of a failed one.
    Services,
    /// Every property of one service.
    Service {
        /// Service id.
        service: String,
    },
    /// Kernel interfaces.
    Interfaces,
    /// Print events as they happen (first a snapshot).
    Watch,
    /// Sessions.
    #[command(subcommand)]
    Session(SessionCommand),
    /// Move a service before or after another in the user order.
    Move {
        /// Service to move.
        service: String,
        /// Put it directly before this service.
        #[arg(long, conflicts_with = "after", required_unless_present = "after")]
        before: Option<String>,
        /// Put it directly after this service.
        #[arg(long)]
        after: Option<String>,
    },
    /// Ignore an interface: no service, never counted as ready.
    Ignore {
        /// Interface name.
        interface: String,
    },
    /// Stop ignoring an interface.
    Unignore {
        /// Interface name.
        interface: String,
    },
    /// Turn offline mode on or off.
    Offline {
        /// on or off.
        mode: OnOff,
    },
    /// Connect a service, with credentials or through the agent.
    ///
    /// Without credentials netpilotd uses the stored ones or asks the agent (`netpilot
    /// agent`). On failure it prints ConnMan's error word (invalid-key, passphrase-required,
    /// ...) and what to do, and exits 1.
    /// Example: netpilot connect wifi_..._managed_psk --passphrase-file ~/wifi.pass
    Connect(ConnectArgs),
    /// Answer netpilotd's credential requests here (register as its agent).
    ///
    /// Secrets are read without echo at a terminal; from a pipe, one line per question, read
    /// only when asked. An empty answer or Ctrl-D declines a request; Ctrl-C ends the agent
    /// (exit 130), and so does the daemon releasing it (exit 0). --json does not apply.
    Agent,
    /// Disconnect a service.
    Disconnect {
        /// Service id.
        service: String,
    },
    /// Forget a service.
    Remove {
        /// Service id.
        service: String,
    },
    /// Make certificates for a fleet (no daemon needed): a CA, then a server certificate
    /// per robot and client certificates per controller, as NAME.pem and NAME.key (0600).
    #[command(subcommand)]
    Certs(certs::CertsCommand),
    /// Change a managed service's configuration; only the options given change.
    /// Example: netpilot config SERVICE --ipv4 manual 198.18.0.5/24 --gateway 198.18.0.1
    Config(ConfigArgs),
}

#[derive(Debug, clap::Args)]
struct ConnectArgs {
    /// Service id.
    service: String,
    /// WPA passphrase or SAE password; "-" reads it from stdin (without echo at a terminal).
    /// Given here it shows in `ps` to every user: prefer --passphrase-file or "-".
    #[arg(long, value_name = "PASSPHRASE", value_parser = secret_arg,
          conflicts_with_all = ["passphrase_file", "identity", "password", "password_file"])]
    passphrase: Option<Secret>,
    /// Read the passphrase from FILE: its only line.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["identity", "password", "password_file"])]
    passphrase_file: Option<PathBuf>,
    /// IEEE 802.1X identity (user name).
    #[arg(long)]
    identity: Option<String>,
    /// IEEE 802.1X password (PEAP, TTLS); "-" reads it from stdin. Prefer --password-file
    /// or "-" to keeping it on the command line.
    #[arg(long, value_name = "PASSWORD", value_parser = secret_arg, conflicts_with = "password_file")]
    password: Option<Secret>,
    /// Read the 802.1X password from FILE: its only line.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// A hidden network's name (SSID).
    #[arg(long, value_name = "SSID")]
    name: Option<String>,
    /// Give up after this many seconds (default: the daemon's [connect] timeout).
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,
}

/// Keeps a secret given on the command line out of `Debug` output.
fn secret_arg(value: &str) -> Result<Secret, String> {
    Ok(Secret::new(value))
}

/// A secret from a file: its one line, without the line ending.
fn secret_file(path: &Path, what: &str) -> Result<Secret, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::Output(format!("read the {what} from {}: {e}", path.display())))?;
    let value = terminal::without_line_ending(text);
    if value.is_empty() || value.contains('\n') {
        return Err(Failure::Output(format!(
            "{}: the file must hold the {what} alone, on one line",
            path.display()
        )));
    }
    Ok(Secret::new(value))
}

/// A secret typed at the terminal without echo (prompt on stderr), or the first line of a
/// piped stdin.
async fn secret_stdin(what: &str, prompt: &str) -> Result<Secret, Failure> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut sigint = signal(SignalKind::interrupt())
        .map_err(|e| Failure::Output(format!("install the SIGINT handler: {e}")))?;
    let mut sigterm = signal(SignalKind::terminate())
        .map_err(|e| Failure::Output(format!("install the SIGTERM handler: {e}")))?;
    let (mut lines, asker) = terminal::LineReader::spawn();
    let echo = if terminal::stdin_is_terminal() {
        let guard = terminal::EchoOff::new().map_err(|e| {
            Failure::Output(format!("turn terminal echo off to read the {what}: {e}"))
        })?;
        eprint!("{prompt}: ");
        Some(guard)
    } else {
        None
    };
    asker.ask();
    let line = tokio::select! {
        line = lines.next() => line,
        _ = sigint.recv() => {
            drop(echo);
            eprintln!();
            return Err(Failure::Interrupted);
        }
        _ = sigterm.recv() => {
            drop(echo);
            return Err(Failure::Interrupted);
        }
    };
    drop(echo);
    match line {
        Ok(Some(v)) if !v.is_empty() => Ok(Secret::new(v)),
        Ok(_) => Err(Failure::Output(format!("no {what} on stdin"))),
        Err(e) => Err(Failure::Output(format!("read the {what} from stdin: {e}"))),
    }
}

/// A secret from `--X VALUE`, `--X -` (stdin, prompted with `prompt` at a terminal) or
/// `--X-file FILE`.
async fn secret_from(
    value: Option<&Secret>,
    file: Option<&Path>,
    what: &str,
    prompt: &str,
) -> Result<Option<Secret>, Failure> {
    match (value, file) {
        (Some(v), _) if v.expose() == "-" => secret_stdin(what, prompt).await.map(Some),
        (Some(v), _) => Ok(Some(v.clone())),
        (None, Some(path)) => secret_file(path, what).map(Some),
        (None, None) => Ok(None),
    }
}

/// The credentials of a ConnectService; None when the command gives none.
async fn credentials(args: &ConnectArgs) -> Result<Option<pb::Credentials>, Failure> {
    let passphrase = secret_from(
        args.passphrase.as_ref(),
        args.passphrase_file.as_deref(),
        "passphrase",
        &format!("Passphrase for {}", args.service),
    )
    .await?;
    let password = secret_from(
        args.password.as_ref(),
        args.password_file.as_deref(),
        "password",
        &format!("802.1X password for {}", args.service),
    )
    .await?;
    let expose = |s: Option<Secret>| s.map(|s| s.expose().to_string()).unwrap_or_default();
    let credentials = pb::Credentials {
        passphrase: expose(passphrase),
        identity: args.identity.clone().unwrap_or_default(),
        ssid: args.name.clone().unwrap_or_default(),
        password: expose(password),
        private_key_passphrase: String::new(),
    };
    Ok((credentials != pb::Credentials::default()).then_some(credentials))
}

#[derive(Debug, clap::Args)]
struct ConfigArgs {
    /// Service id.
    service: String,
    /// IPv4 method: dhcp, off, or manual ADDRESS/PREFIX.
    #[arg(long, num_args = 1..=2, value_names = ["METHOD", "ADDRESS/PREFIX"])]
    ipv4: Option<Vec<String>>,
    /// IPv4 gateway for --ipv4 manual.
    #[arg(long, requires = "ipv4")]
    gateway: Option<String>,
    /// IPv6 method: auto, off, or manual ADDRESS/PREFIX.
    #[arg(long, num_args = 1..=2, value_names = ["METHOD", "ADDRESS/PREFIX"])]
    ipv6: Option<Vec<String>>,
    /// IPv6 gateway for --ipv6 manual.
    #[arg(long, requires = "ipv6")]
    ipv6_gateway: Option<String>,
    /// Nameservers, comma-separated; an empty value clears them.
    #[arg(long, value_delimiter = ',', num_args = 0..)]
    nameservers: Option<Vec<String>>,
    /// Timeservers, comma-separated.
    #[arg(long, value_delimiter = ',', num_args = 0..)]
    timeservers: Option<Vec<String>>,
    /// Search domains, comma-separated.
    #[arg(long, value_delimiter = ',', num_args = 0..)]
    domains: Option<Vec<String>>,
    /// Proxy: direct, auto [PAC-URL], manual SERVER… (host:port), or clear (DHCP's PAC
    /// URL, else direct).
    #[arg(long, num_args = 1.., value_names = ["METHOD", "URL|SERVER"])]
    proxy: Option<Vec<String>>,
    /// Hosts that bypass a manual proxy, comma-separated.
    #[arg(long, requires = "proxy", value_delimiter = ',')]
    excludes: Option<Vec<String>>,
    /// Connect on its own when possible.
    #[arg(long)]
    autoconnect: Option<OnOff>,
    /// IEEE 802.1X method (the options below go with it and replace every 802.1X
    /// setting); clear removes them. Identity and password are credentials: give them to
    /// `connect` or an agent.
    #[arg(long)]
    eap: Option<EapArg>,
    /// Inner authentication of peap (mschapv2, gtc) or ttls (also pap); default mschapv2.
    #[arg(long, requires = "eap")]
    phase2: Option<Phase2Arg>,
    /// PEM file of the CA that signs the authentication server's certificate.
    #[arg(long, requires = "eap")]
    ca_cert: Option<String>,
    /// The server certificate must name this domain (or a subdomain of it).
    #[arg(long, requires = "eap")]
    domain_match: Option<String>,
    /// Outer identity sent before the tunnel, e.g. anonymous@example.org.
    #[arg(long, requires = "eap")]
    anonymous_identity: Option<String>,
    /// PEM file of the client certificate (--eap tls).
    #[arg(long, requires = "eap")]
    client_cert: Option<String>,
    /// PEM file of the client's private key (--eap tls).
    #[arg(long, requires = "eap")]
    private_key: Option<String>,
}

/// `--eap` and its options → `eap_config`; `None` clears it. The daemon validates the
/// combination (a TLS method without a certificate, PAP outside TTLS, ...).
fn eap_settings(args: &ConfigArgs, eap: EapArg) -> Result<Option<pb::EapSettings>, Failure> {
    let method = match eap {
        EapArg::Clear => {
            let extra = args.phase2.is_some()
                || [
                    &args.ca_cert,
                    &args.domain_match,
                    &args.anonymous_identity,
                    &args.client_cert,
                    &args.private_key,
                ]
                .iter()
                .any(|o| o.is_some());
            if extra {
                return Err(Failure::Output(
                    "--eap clear takes no other 802.1X option".into(),
                ));
            }
            return Ok(None);
        }
        EapArg::Peap => pb::EapMethod::Peap,
        EapArg::Ttls => pb::EapMethod::Ttls,
        EapArg::Tls => pb::EapMethod::Tls,
    };
    let phase2 = match args.phase2 {
        None => pb::EapPhase2::Unspecified,
        Some(Phase2Arg::Mschapv2) => pb::EapPhase2::Mschapv2,
        Some(Phase2Arg::Pap) => pb::EapPhase2::Pap,
        Some(Phase2Arg::Gtc) => pb::EapPhase2::Gtc,
    };
    let text = |o: &Option<String>| o.clone().unwrap_or_default();
    Ok(Some(pb::EapSettings {
        method: method.into(),
        phase2: phase2.into(),
        ca_cert: text(&args.ca_cert),
        client_cert: text(&args.client_cert),
        private_key: text(&args.private_key),
        anonymous_identity: text(&args.anonymous_identity),
        domain_match: text(&args.domain_match),
    }))
}

/// "198.18.0.5/24" → ("198.18.0.5", 24); the daemon validates the rest.
fn address_prefix(flag: &str, method: &[String]) -> Result<(String, u32), Failure> {
    let text = method
        .get(1)
        .ok_or_else(|| Failure::Output(format!("{flag} manual needs ADDRESS/PREFIX")))?;
    let (address, prefix) = text
        .split_once('/')
        .ok_or_else(|| Failure::Output(format!("{flag}: {text:?} is not ADDRESS/PREFIX")))?;
    let prefix = prefix
        .parse()
        .map_err(|_| Failure::Output(format!("{flag}: prefix {prefix:?} is not a number")))?;
    Ok((address.to_string(), prefix))
}

/// `--proxy METHOD …` and `--excludes` → `proxy_config`; `None` clears it. The daemon
/// validates the values.
fn proxy_settings(
    proxy: &[String],
    excludes: Option<&[String]>,
) -> Result<Option<pb::Proxy>, Failure> {
    let rest = proxy[1..].to_vec();
    let excludes = excludes.unwrap_or_default().to_vec();
    let (method, url, servers) = match proxy[0].as_str() {
        "clear" | "direct" if !rest.is_empty() => {
            return Err(Failure::Output(format!(
                "--proxy {} takes no value",
                proxy[0]
            )))
        }
        "clear" => return Ok(None),
        "direct" => ("direct", String::new(), vec![]),
        "auto" if rest.len() > 1 => {
            return Err(Failure::Output("--proxy auto takes at most one URL".into()))
        }
        "auto" => ("auto", rest.concat(), vec![]),
        "manual" if rest.is_empty() => {
            return Err(Failure::Output(
                "--proxy manual needs at least one SERVER (host:port)".into(),
            ))
        }
        "manual" => ("manual", String::new(), rest),
        other => {
            return Err(Failure::Output(format!(
                "--proxy: {other:?} is not direct, auto, manual or clear"
            )))
        }
    };
    if method != "manual" && !excludes.is_empty() {
        return Err(Failure::Output("--excludes needs --proxy manual".into()));
    }
    Ok(Some(pb::Proxy {
        method: method.into(),
        url,
        servers,
        excludes,
    }))
}

fn update_request(args: &ConfigArgs) -> Result<pb::UpdateServiceRequest, Failure> {
    let mut service = pb::Service {
        id: args.service.clone(),
        ..Default::default()
    };
    let mut paths = Vec::new();
    if let Some(method) = &args.ipv4 {
        let mut settings = pb::Ipv4Settings::default();
        match method[0].as_str() {
            "dhcp" => settings.method = pb::Ipv4Method::Dhcp.into(),
            "off" => settings.method = pb::Ipv4Method::Off.into(),
            "manual" => {
                let (address, prefix) = address_prefix("--ipv4", method)?;
                settings = pb::Ipv4Settings {
                    method: pb::Ipv4Method::Manual.into(),
                    address,
                    prefix_length: prefix,
                    gateway: args.gateway.clone().unwrap_or_default(),
                };
            }
            other => {
                return Err(Failure::Output(format!(
                    "--ipv4: {other:?} is not dhcp, manual or off"
                )))
            }
        }
        service.ipv4_config = Some(settings);
        paths.push("ipv4_config");
    }
    if let Some(method) = &args.ipv6 {
        let mut settings = pb::Ipv6Settings::default();
        match method[0].as_str() {
            "auto" => settings.method = pb::Ipv6Method::Auto.into(),
            "off" => settings.method = pb::Ipv6Method::Off.into(),
            "manual" => {
                let (address, prefix) = address_prefix("--ipv6", method)?;
                settings = pb::Ipv6Settings {
                    method: pb::Ipv6Method::Manual.into(),
                    address,
                    prefix_length: prefix,
                    gateway: args.ipv6_gateway.clone().unwrap_or_default(),
                };
            }
            other => {
                return Err(Failure::Output(format!(
                    "--ipv6: {other:?} is not auto, manual or off"
                )))
            }
        }
        service.ipv6_config = Some(settings);
        paths.push("ipv6_config");
    }
    let list = |v: &Vec<String>| {
        v.iter()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect::<Vec<_>>()
    };
    if let Some(v) = &args.nameservers {
        service.nameservers_config = list(v);
        paths.push("nameservers_config");
    }
    if let Some(v) = &args.timeservers {
        service.timeservers_config = list(v);
        paths.push("timeservers_config");
    }
    if let Some(v) = &args.domains {
        service.domains_config = list(v);
        paths.push("domains_config");
    }
    if let Some(proxy) = &args.proxy {
        service.proxy_config = proxy_settings(proxy, args.excludes.as_deref())?;
        paths.push("proxy_config");
    }
    if let Some(on) = args.autoconnect {
        service.autoconnect = matches!(on, OnOff::On);
        paths.push("autoconnect");
    }
    if let Some(eap) = args.eap {
        service.eap_config = eap_settings(args, eap)?;
        paths.push("eap_config");
    }
    if paths.is_empty() {
        return Err(Failure::Output("nothing to change: give --ipv4, --ipv6, --nameservers, --timeservers, --domains, --proxy, --autoconnect or --eap".into()));
    }
    let paths = paths.into_iter().map(String::from).collect();
    Ok(pb::UpdateServiceRequest {
        service: Some(service),
        update_mask: Some(pbjson_types::FieldMask { paths }),
    })
}

/// `--eap`: the EAP methods of `EapSettings`, or clear.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum EapArg {
    Peap,
    Ttls,
    Tls,
    Clear,
}

/// `--phase2`: `EapPhase2`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Phase2Arg {
    Mschapv2,
    Pap,
    Gtc,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OnOff {
    On,
    Off,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum TechnologyArg {
    Ethernet,
    Wifi,
    Bluetooth,
    Cellular,
}

impl From<TechnologyArg> for pb::TechnologyType {
    fn from(t: TechnologyArg) -> Self {
        match t {
            TechnologyArg::Ethernet => Self::Ethernet,
            TechnologyArg::Wifi => Self::Wifi,
            TechnologyArg::Bluetooth => Self::Bluetooth,
            TechnologyArg::Cellular => Self::Cellular,
        }
    }
}

impl std::fmt::Display for TechnologyArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TechnologyArg::Ethernet => "ethernet",
            TechnologyArg::Wifi => "wifi",
            TechnologyArg::Bluetooth => "bluetooth",
            TechnologyArg::Cellular => "cellular",
        })
    }
}

#[derive(Debug, Subcommand)]
enum SetupCommand {
    /// Open the setup access point now (it closes when a new link validates).
    Start,
    /// Close it until the next loss of a ready service.
    Stop,
    /// Its state, SSID, page, clients and the last connect made from the page.
    Status,
}

#[derive(Debug, Subcommand)]
enum SessionCommand {
    /// Open a session and print each update until the daemon releases it (Ctrl-C ends it).
    Open {
        /// Allowed bearers in order of preference, comma-separated: ethernet, wifi,
        /// bluetooth, cellular or * [default: *].
        #[arg(long, value_delimiter = ',')]
        bearers: Option<Vec<String>>,
        /// Connection type.
        #[arg(long = "type", value_enum)]
        connection_type: Option<ConnectionTypeArg>,
        /// Pin the session to this interface, e.g. eth1 (ConnMan AllowedInterface).
        #[arg(long)]
        interface: Option<String>,
        /// What the session is for, shown in `session list` (ConnMan ContextIdentifier).
        #[arg(long)]
        context: Option<String>,
        /// Route traffic from the session's address through its service (SourceIPRule).
        #[arg(long)]
        source_ip_rule: bool,
        /// Never use a metered service (e.g. cellular).
        #[arg(long)]
        no_metered: bool,
        /// Ask the daemon to bring a service up for the session (ConnMan Session.Connect);
        /// it stays up while the session lasts, unless autoconnect keeps it anyway.
        #[arg(long)]
        connect: bool,
    },
    /// Ask the daemon to connect a service for an open session.
    Connect {
        /// Session id.
        id: String,
    },
    /// Withdraw a session's connect request.
    Disconnect {
        /// Session id.
        id: String,
    },
    /// List open sessions and their owners.
    List,
    /// End a session.
    Destroy {
        /// Session id.
        id: String,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ConnectionTypeArg {
    Local,
    Internet,
    Any,
}

impl From<ConnectionTypeArg> for pb::ConnectionType {
    fn from(c: ConnectionTypeArg) -> Self {
        match c {
            ConnectionTypeArg::Local => Self::Local,
            ConnectionTypeArg::Internet => Self::Internet,
            ConnectionTypeArg::Any => Self::Any,
        }
    }
}

/// A failure to report: where it came from and what to do.
enum Failure {
    /// The daemon cannot be reached.
    Connect(String),
    /// A call failed.
    Rpc(tonic::Status),
    /// A call failed: what was being done, and advice beyond the error word's.
    Call {
        action: String,
        status: tonic::Status,
        hint: Option<String>,
    },
    /// Anything else, said in full.
    Output(String),
    /// Ctrl-C or SIGTERM ended a prompt; the terminal is restored.
    Interrupted,
}

impl From<tonic::Status> for Failure {
    fn from(s: tonic::Status) -> Self {
        Failure::Rpc(s)
    }
}

/// Mutual-TLS settings from --tls-ca, --tls-cert, --tls-key.
fn tls_config(cli: &Cli, addr: &str) -> Result<Option<ClientTlsConfig>, Failure> {
    let (Some(ca), Some(cert), Some(key)) = (&cli.tls_ca, &cli.tls_cert, &cli.tls_key) else {
        return Ok(None);
    };
    let read = |p: &PathBuf| {
        std::fs::read(p).map_err(|e| Failure::Output(format!("read {}: {e}", p.display())))
    };
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let domain = cli
        .tls_domain
        .clone()
        .unwrap_or_else(|| host.trim_matches(['[', ']']).to_string());
    Ok(Some(
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read(ca)?))
            .identity(Identity::from_pem(read(cert)?, read(key)?))
            .domain_name(domain),
    ))
}

async fn channel(cli: &Cli) -> Result<Channel, Failure> {
    let tls = match &cli.addr {
        Some(addr) => tls_config(cli, addr)?,
        None => None,
    };
    let (uri, what) = match &cli.addr {
        Some(addr) if tls.is_some() => (format!("https://{addr}"), addr.clone()),
        Some(addr) => (format!("http://{addr}"), addr.clone()),
        None => (
            format!("unix://{}", cli.socket.display()),
            cli.socket.display().to_string(),
        ),
    };
    let mut endpoint =
        Endpoint::from_shared(uri).map_err(|e| Failure::Connect(format!("{what}: {e}")))?;
    if let Some(tls) = tls {
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|e| Failure::Connect(format!("{what}: {e}")))?;
    }
    endpoint
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| {
            Failure::Connect(format!(
                "{what}: {e}; is netpilotd running? (--socket / --addr pick another daemon)"
            ))
        })
}

/// Writes to stdout. A closed pipe ends the program with status 141, what a shell reports
/// for a command killed by SIGPIPE; any other write error ends it with status 1.
fn write_stdout(args: std::fmt::Arguments) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(141);
        }
        eprintln!("netpilot: write to stdout: {e}");
        std::process::exit(1);
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Connect(m)) => {
            eprintln!("netpilot: cannot connect to {m}");
            ExitCode::from(2)
        }
        Err(Failure::Output(m)) => {
            eprintln!("netpilot: {m}");
            ExitCode::FAILURE
        }
        Err(Failure::Rpc(status)) => {
            eprintln!("netpilot: {}", output::status(&status));
            let hint = output::reason(&status).and_then(|r| output::hint(&r, "SERVICE"));
            if let Some(hint) = hint {
                eprint!("{}", output::wrap(&hint, 80, "  "));
            }
            ExitCode::FAILURE
        }
        Err(Failure::Call {
            action,
            status,
            hint,
        }) => {
            let reason = output::reason(&status);
            let word = reason
                .clone()
                .unwrap_or_else(|| format!("{:?}", status.code()));
            eprintln!("netpilot: {action} failed: {}", output::printable(&word));
            eprintln!("  {}", output::status(&status).replace('\n', "\n  "));
            if let Some(hint) = hint {
                eprint!("{}", output::wrap(&hint, 80, "  "));
            }
            ExitCode::FAILURE
        }
        Err(Failure::Interrupted) => ExitCode::from(130),
    }
}

/// Why a scan could not run, from the technology's state, with what to do.
async fn scan_hint(
    manager: &mut ManagerServiceClient<Channel>,
    technology: TechnologyArg,
) -> Option<String> {
    if !matches!(technology, TechnologyArg::Wifi) {
        return Some("only wifi scans".into());
    }
    let request = pb::GetTechnologyRequest {
        r#type: pb::TechnologyType::Wifi.into(),
    };
    match manager.get_technology(request).await {
        Err(_) => Some(
            "netpilotd drives no Wi-Fi radio: put the wireless interface (`netpilot \
             interfaces`, KIND wireless) in managed_interfaces, with wpa_supplicant running on it"
                .into(),
        ),
        Ok(r) => match r.into_inner().technology {
            Some(t) if !t.powered => {
                Some("Wi-Fi is off: netpilot technology wifi --powered on".into())
            }
            Some(t) if !t.available => Some(
                "Wi-Fi is unavailable: wpa_supplicant does not answer on the radio; is it \
                 running, with its ctrl_interface in [wifi] ctrl_dir (or spawn_supplicant = true)?"
                    .into(),
            ),
            _ => None,
        },
    }
}

async fn run(cli: &Cli) -> Result<(), Failure> {
    if let Command::Certs(c) = &cli.command {
        return certs::run(c).map_err(Failure::Output);
    }
    let out = output::Printer { json: cli.json };
    if let Command::Config(args) = &cli.command {
        // A mistake in the options is named before any daemon is needed.
        let update = update_request(args)?;
        let mut manager = ManagerServiceClient::new(channel(cli).await?);
        let response = manager.update_service(update).await?.into_inner();
        return out.services(&pb::ListServicesResponse {
            services: response.service.into_iter().collect(),
        });
    }
    let channel = channel(cli).await?;
    let mut manager = ManagerServiceClient::new(channel.clone());
    let mut sessions = SessionServiceClient::new(channel.clone());
    match &cli.command {
        Command::State => out.manager(
            &manager
                .get_manager(pb::GetManagerRequest {})
                .await?
                .into_inner(),
        ),
        Command::Technologies => out.technologies(
            &manager
                .list_technologies(pb::ListTechnologiesRequest {})
                .await?
                .into_inner(),
        ),
        Command::Technology {
            technology,
            powered,
            country,
            tethering,
            tethering_identifier,
            tethering_passphrase,
            tethering_passphrase_file,
        } => {
            let kind: i32 = pb::TechnologyType::from(*technology).into();
            let passphrase = secret_from(
                tethering_passphrase.as_ref(),
                tethering_passphrase_file.as_deref(),
                "tethering passphrase",
                &format!("Tethering passphrase for {technology}"),
            )
            .await?;
            let unchanged = powered.is_none()
                && country.is_none()
                && tethering.is_none()
                && tethering_identifier.is_none()
                && passphrase.is_none();
            let shown = if unchanged {
                manager
                    .get_technology(pb::GetTechnologyRequest { r#type: kind })
                    .await?
                    .into_inner()
                    .technology
            } else {
                let request = pb::UpdateTechnologyRequest {
                    r#type: kind,
                    powered: powered.map(|p| matches!(p, OnOff::On)),
                    country: country.as_ref().map(|c| c.to_ascii_uppercase()),
                    tethering: tethering.map(|t| matches!(t, OnOff::On)),
                    tethering_identifier: tethering_identifier.clone(),
                    tethering_passphrase: passphrase.map(|p| p.expose().to_string()),
                    ..Default::default()
                };
                manager
                    .update_technology(request)
                    .await?
                    .into_inner()
                    .technology
            };
            out.technology(&shown.unwrap_or_default())
        }
        Command::Setup(command) => {
            let mut setup = SetupServiceClient::new(channel.clone());
            let status = match command {
                SetupCommand::Start => setup
                    .start_setup(pb::StartSetupRequest {})
                    .await
                    .map(|r| r.into_inner().setup),
                SetupCommand::Stop => setup
                    .stop_setup(pb::StopSetupRequest {})
                    .await
                    .map(|r| r.into_inner().setup),
                SetupCommand::Status => setup
                    .get_setup(pb::GetSetupRequest {})
                    .await
                    .map(|r| r.into_inner().setup),
            };
            match status {
                Ok(s) => out.setup(&s.unwrap_or_default()),
                Err(status) => Err(Failure::Call {
                    action: "setup".into(),
                    status,
                    hint: None,
                }),
            }
        }
        Command::Scan { technology } => {
            let request = pb::ScanTechnologyRequest {
                r#type: pb::TechnologyType::from(*technology).into(),
            };
            if let Err(status) = manager.scan_technology(request).await {
                return Err(Failure::Call {
                    action: format!("scan {technology}"),
                    hint: scan_hint(&mut manager, *technology).await,
                    status,
                });
            }
            if !cli.json {
                outln!("Scan completed for {technology}");
            }
            out.services(
                &manager
                    .list_services(pb::ListServicesRequest {})
                    .await?
                    .into_inner(),
            )
        }
        Command::Services => out.services(
            &manager
                .list_services(pb::ListServicesRequest {})
                .await?
                .into_inner(),
        ),
        Command::Service { service } => out.service(
            &manager
                .get_service(pb::GetServiceRequest {
                    service_id: service.clone(),
                })
                .await?
                .into_inner(),
        ),
        Command::Agent => agent::run(channel).await,
        Command::Interfaces => out.interfaces(
            &manager
                .list_interfaces(pb::ListInterfacesRequest {})
                .await?
                .into_inner(),
        ),
        Command::Watch => {
            let mut stream = manager
                .watch_manager(pb::WatchManagerRequest {})
                .await?
                .into_inner();
            while let Some(message) = stream.message().await? {
                out.watch_event(&message)?;
            }
            Ok(())
        }
        Command::Session(SessionCommand::Open {
            bearers,
            connection_type,
            interface,
            context,
            source_ip_rule,
            no_metered,
            connect,
        }) => {
            let settings = pb::SessionSettings {
                allowed_bearers: bearers.clone().map(|bearers| pb::BearerList { bearers }),
                connection_type: connection_type
                    .map(|c| pb::ConnectionType::from(c).into())
                    .unwrap_or_default(),
                allowed_interface: interface.clone(),
                context_identifier: context.clone(),
                source_ip_rule: source_ip_rule.then_some(true),
                allow_metered: no_metered.then_some(false),
            };
            let request = pb::OpenSessionRequest {
                settings: Some(settings),
            };
            let mut stream = sessions.open_session(request).await?.into_inner();
            let mut first = true;
            while let Some(message) = stream.message().await? {
                out.session_message(&message)?;
                if std::mem::take(&mut first) && *connect {
                    sessions
                        .connect_session(pb::ConnectSessionRequest {
                            session_id: message.session_id.clone(),
                        })
                        .await?;
                }
            }
            Ok(())
        }
        Command::Session(SessionCommand::Connect { id }) => {
            sessions
                .connect_session(pb::ConnectSessionRequest {
                    session_id: id.clone(),
                })
                .await?;
            out.done(&format!("session {id}: connect requested"))
        }
        Command::Session(SessionCommand::Disconnect { id }) => {
            sessions
                .disconnect_session(pb::DisconnectSessionRequest {
                    session_id: id.clone(),
                })
                .await?;
            out.done(&format!("session {id}: connect request withdrawn"))
        }
        Command::Session(SessionCommand::List) => out.sessions(
            &sessions
                .list_sessions(pb::ListSessionsRequest {})
                .await?
                .into_inner(),
        ),
        Command::Session(SessionCommand::Destroy { id }) => {
            sessions
                .destroy_session(pb::DestroySessionRequest {
                    session_id: id.clone(),
                })
                .await?;
            out.done(&format!("session {id} destroyed"))
        }
        Command::Move {
            service,
            before,
            after,
        } => {
            use pb::move_service_request::Target;
            let target = match (before, after) {
                (Some(b), _) => Target::Before(b.clone()),
                (None, Some(a)) => Target::After(a.clone()),
                (None, None) => return Err(Failure::Output("give --before or --after".into())),
            };
            let request = pb::MoveServiceRequest {
                service_id: service.clone(),
                target: Some(target),
            };
            let moved = manager.move_service(request).await?.into_inner();
            out.services(&pb::ListServicesResponse {
                services: moved.services,
            })
        }
        Command::Ignore { interface } | Command::Unignore { interface } => {
            let ignored = matches!(cli.command, Command::Ignore { .. });
            let request = pb::UpdateInterfaceRequest {
                name: interface.clone(),
                ignored: Some(ignored),
            };
            let response = manager.update_interface(request).await?.into_inner();
            out.interfaces(&pb::ListInterfacesResponse {
                interfaces: response.interface.into_iter().collect(),
            })
        }
        Command::Offline { mode } => {
            let request = pb::UpdateManagerRequest {
                offline_mode: Some(matches!(mode, OnOff::On)),
            };
            let response = manager.update_manager(request).await?.into_inner();
            out.manager(&pb::GetManagerResponse {
                manager: response.manager,
            })
        }
        Command::Connect(args) => {
            let request = pb::ConnectServiceRequest {
                service_id: args.service.clone(),
                timeout: args.timeout.map(|s| pbjson_types::Duration {
                    seconds: i64::try_from(s).unwrap_or(i64::MAX),
                    nanos: 0,
                }),
                credentials: credentials(args).await?,
            };
            let response = match manager.connect_service(request).await {
                Ok(r) => r.into_inner(),
                Err(status) => {
                    return Err(Failure::Call {
                        action: format!("connect {}", args.service),
                        hint: output::reason(&status).and_then(|r| output::hint(&r, &args.service)),
                        status,
                    })
                }
            };
            out.services(&pb::ListServicesResponse {
                services: response.service.into_iter().collect(),
            })
        }
        Command::Disconnect { service } => {
            manager
                .disconnect_service(pb::DisconnectServiceRequest {
                    service_id: service.clone(),
                })
                .await?;
            out.done(&format!("{service} disconnected"))
        }
        Command::Remove { service } => {
            manager
                .remove_service(pb::RemoveServiceRequest {
                    service_id: service.clone(),
                })
                .await?;
            out.done(&format!("{service} removed"))
        }
        Command::Certs(_) | Command::Config(_) => unreachable!("handled before connecting"),
    }
}
