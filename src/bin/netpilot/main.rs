//! netpilot: command-line client of netpilotd.

mod certs;
mod output;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use netpilot::config::DEFAULT_SOCKET;
use netpilot::pb;
use netpilot::pb::manager_service_client::ManagerServiceClient;
use netpilot::pb::session_service_client::SessionServiceClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// Talk to netpilotd: show state, watch events, open sessions, order services.
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
    /// Services in service order, preferred first.
    Services,
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
    /// Connect a service.
    Connect {
        /// Service id.
        service: String,
        /// Give up after this many seconds.
        #[arg(long)]
        timeout: Option<u64>,
    },
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
    /// Connect on its own when possible.
    #[arg(long)]
    autoconnect: Option<OnOff>,
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
    if let Some(on) = args.autoconnect {
        service.autoconnect = matches!(on, OnOff::On);
        paths.push("autoconnect");
    }
    if paths.is_empty() {
        return Err(Failure::Output("nothing to change: give --ipv4, --ipv6, --nameservers, --timeservers, --domains or --autoconnect".into()));
    }
    let paths = paths.into_iter().map(String::from).collect();
    Ok(pb::UpdateServiceRequest {
        service: Some(service),
        update_mask: Some(pbjson_types::FieldMask { paths }),
    })
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OnOff {
    On,
    Off,
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
    Connect(String),
    Rpc(tonic::Status),
    Output(String),
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
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: &Cli) -> Result<(), Failure> {
    if let Command::Certs(c) = &cli.command {
        return certs::run(c).map_err(Failure::Output);
    }
    let channel = channel(cli).await?;
    let mut manager = ManagerServiceClient::new(channel.clone());
    let mut sessions = SessionServiceClient::new(channel);
    let out = output::Printer { json: cli.json };
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
        Command::Services => out.services(
            &manager
                .list_services(pb::ListServicesRequest {})
                .await?
                .into_inner(),
        ),
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
        }) => {
            let settings = pb::SessionSettings {
                allowed_bearers: bearers.clone().map(|bearers| pb::BearerList { bearers }),
                connection_type: connection_type
                    .map(|c| pb::ConnectionType::from(c).into())
                    .unwrap_or_default(),
            };
            let request = pb::OpenSessionRequest {
                settings: Some(settings),
            };
            let mut stream = sessions.open_session(request).await?.into_inner();
            while let Some(message) = stream.message().await? {
                out.session_message(&message)?;
            }
            Ok(())
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
        Command::Connect { service, timeout } => {
            let request = pb::ConnectServiceRequest {
                service_id: service.clone(),
                timeout: timeout.map(|s| pbjson_types::Duration {
                    seconds: s as i64,
                    nanos: 0,
                }),
                credentials: None,
            };
            let response = manager.connect_service(request).await?.into_inner();
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
        Command::Config(args) => {
            let response = manager
                .update_service(update_request(args)?)
                .await?
                .into_inner();
            out.services(&pb::ListServicesResponse {
                services: response.service.into_iter().collect(),
            })
        }
        Command::Remove { service } => {
            manager
                .remove_service(pb::RemoveServiceRequest {
                    service_id: service.clone(),
                })
                .await?;
            out.done(&format!("{service} removed"))
        }
        Command::Certs(_) => unreachable!("handled before connecting"),
    }
}
