//! netpilotd: the netpilot daemon. Startup order: configuration, logging, the instance lock
//! in the run directory, store, engine, Wi-Fi backend (wpa_supplicant), kernel applier, DNS
//! and monitor (rtnetlink), then, once the engine has published the first full kernel dump,
//! the session policies and the API listeners (Unix socket, loopback TCP, mutual TLS).
//!
//! Signals: SIGTERM and SIGINT stop cleanly; SIGHUP reloads the configuration, applies the
//! keys that may change at run time ([`config::RELOADABLE`]), and reloads the TLS files. If
//! the engine, the kernel monitor, the applier, the DNS task or the Wi-Fi backend ends,
//! netpilotd logs why and exits non-zero, so that its service manager restarts it.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use std::os::unix::fs::MetadataExt;

use clap::Parser;
use netpilot::config::{self, Config, LogLevel, Overrides};
use netpilot::net::netlink::display_chain;
use netpilot::{api, daemon, engine, net, setup, store, tech};
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, Registry};

/// How long in-flight calls get to finish after SIGTERM/SIGINT before the daemon exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(800);
/// The access point backend's name among the tasks.
const AP_BACKEND: &str = "access point backend";
/// How long the access point backend gets to close an access point (stop its programs by
/// PID, remove its interface and NAT) after the engine stopped.
const AP_CLOSE_GRACE: Duration = Duration::from_secs(5);

/// netpilot connection manager daemon. Every flag is also a config-file key and a
/// NETPILOT_<KEY> environment variable; flags win over both.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// TOML configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Unix socket of the API [default: /run/netpilot/netpilot.sock].
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Also serve plain TCP on this loopback address, e.g. 127.0.0.1:50051 (development).
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// Directory for persistent state [default: /var/lib/netpilot].
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Directory for runtime files [default: /run/netpilot].
    #[arg(long, value_name = "DIR")]
    run_dir: Option<PathBuf>,
    /// Log verbosity [default: info].
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<LogLevel>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let overrides = Overrides {
        socket: args.socket,
        listen: args.listen,
        state_dir: args.state_dir,
        run_dir: args.run_dir,
        log_level: args.log_level,
    };
    let config = match config::load(args.config.as_deref(), &overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("netpilotd: {}", display_chain(&e));
            return ExitCode::from(2);
        }
    };
    // The log level can change on SIGHUP, hence the reload layer around the filter.
    let (filter, log) = reload::Layer::new(log_filter(config.log_level));
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal()),
        )
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    let reloading = Reloading {
        file: args.config,
        overrides,
        log,
    };
    match runtime.block_on(run(config, reloading)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::FAILURE
        }
    }
}

/// The chosen level applies to netpilot itself; libraries (h2, tower) speak only at warn.
fn log_filter(level: LogLevel) -> Targets {
    let level = tracing::Level::from(level);
    Targets::new()
        .with_target("netpilot", level)
        .with_target("netpilotd", level)
        .with_default(tracing::Level::WARN)
}

/// What a SIGHUP needs to load the configuration again and apply it.
struct Reloading {
    file: Option<PathBuf>,
    overrides: Overrides,
    log: reload::Handle<Targets, Registry>,
}

impl Reloading {
    /// Loads the configuration again, applies its run-time keys ([`config::RELOADABLE`]) and
    /// logs what changed; a broken file changes nothing.
    async fn reload(&self, running: &mut Config, engine: &engine::EngineHandle) {
        let reloaded = match config::reload(running, self.file.as_deref(), &self.overrides) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %display_chain(&e), "SIGHUP: configuration not reloaded; the running one stays");
                return;
            }
        };
        for key in &reloaded.need_restart {
            tracing::warn!("SIGHUP: {key} changed; it takes effect only after a restart");
        }
        if reloaded.changed.is_empty() {
            tracing::info!("SIGHUP: configuration reloaded; nothing to change");
            return;
        }
        for change in &reloaded.changed {
            tracing::info!("SIGHUP: {change}");
        }
        if reloaded.config.log_level != running.log_level {
            let filter = log_filter(reloaded.config.log_level);
            if let Err(e) = self.log.modify(|f| *f = filter) {
                tracing::error!(error = %e, "SIGHUP: set the log level");
            }
        }
        if let Err(e) = engine.reload(reloaded.config.clone()).await {
            tracing::error!(error = %e, "SIGHUP: hand the configuration to the engine");
            return;
        }
        *running = reloaded.config;
        tracing::info!("SIGHUP: configuration reloaded");
    }
}

fn create_dir(key: &str, dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("create {key} {}: {e}", dir.display()))
}

/// The API limits of `[api]`.
fn limits(config: &Config) -> api::ServeLimits {
    let api = &config.api;
    let secs = Duration::from_secs;
    api::ServeLimits {
        max_message_bytes: api.max_message_bytes,
        streams_per_connection: api.max_streams_per_connection,
        send_buffer_bytes: api.stream_queue_bytes,
        keepalive_interval: secs(api.keepalive_interval),
        keepalive_timeout: secs(api.keepalive_timeout),
        idle_timeout: (api.idle_timeout > 0).then(|| secs(api.idle_timeout)),
        stuck_timeout: secs(api.stuck_stream_timeout),
        auth: api::auth::AuthLimits {
            streams_per_identity: api.max_streams_per_identity as usize,
            expensive_per_minute: api.expensive_calls_per_minute,
            expensive_burst: api.expensive_calls_burst,
        },
    }
}

/// Why the daemon exits when a task it needs ends.
fn task_ended(ended: daemon::TaskEnded) -> String {
    format!("{ended}; exiting so that the service manager restarts netpilotd")
}

async fn run(mut config: Config, reloading: Reloading) -> Result<(), String> {
    create_dir("state_dir", &config.state_dir)?;
    create_dir("run_dir", &config.run_dir)?;
    // Before anything touches the kernel: one netpilotd per run directory.
    let _lock = daemon::InstanceLock::acquire(&config.run_dir).map_err(|e| display_chain(&e))?;
    let mut sigterm =
        signal(SignalKind::terminate()).map_err(|e| format!("install SIGTERM handler: {e}"))?;
    let mut sigint =
        signal(SignalKind::interrupt()).map_err(|e| format!("install SIGINT handler: {e}"))?;
    let mut sighup =
        signal(SignalKind::hangup()).map_err(|e| format!("install SIGHUP handler: {e}"))?;

    let use_resolved = config.dns.backend == config::DnsBackend::Resolved;
    let dns = net::dns::DnsSink::open(use_resolved, config.dns.resolv_conf.clone()).await;
    let (store, loaded) = store::Store::open(&config.state_dir).map_err(|e| display_chain(&e))?;
    let engine::Engine {
        handle: engine,
        kernel,
        backends,
        ra_dns,
        plans,
        wifi,
        setup: setup_requests,
        setup_events,
        task: engine_task,
    } = engine::spawn(&config, store, loaded);
    let wifi_task = tech::wifi::spawn(
        tech::wifi::WifiConfig {
            ctrl_dir: config.wifi.ctrl_dir.clone(),
            client_dir: config.run_dir.join("wpa"),
            spawn: config
                .wifi
                .spawn_supplicant
                .then(|| config.wifi.supplicant.clone()),
            country: (!config.wifi.country.is_empty()).then(|| config.wifi.country.clone()),
            max_auth_attempts: config.wifi.max_auth_attempts,
        },
        wifi,
        backends,
    );
    let setup_task = setup::spawn(
        setup::BackendConfig {
            dir: config.run_dir.join("setup"),
            supplicant: config.wifi.supplicant.clone(),
            radio_ctrl_dir: config.wifi.ctrl_dir.clone(),
            iw: config.setup.iw.clone(),
            dnsmasq: config.setup.dnsmasq.clone(),
            nft: config.tethering.nft.clone(),
            portal_port: config.setup.portal_port,
            resolv_conf: config.dns.resolv_conf.clone(),
            hostname: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .unwrap_or_default(),
        },
        setup_requests,
        setup_events,
        engine.clone(),
    );
    let applier = net::apply::spawn(plans.clone()).map_err(|e| display_chain(&e))?;
    let dns_task = net::dns::spawn(dns, plans);
    let ra_dns_task = net::ndopt::spawn(ra_dns)
        .map_err(|e| format!("open the netlink socket for router advertisement DNS: {e}"))?;
    let monitor = net::netlink::spawn(kernel)
        .await
        .map_err(|e| display_chain(&e))?;
    // If one of these ends, netpilotd cannot do its job: it exits non-zero.
    let mut tasks = vec![
        ("engine", engine_task),
        ("kernel monitor", monitor),
        ("applier", applier),
        ("DNS", dns_task),
        ("router advertisement DNS", ra_dns_task),
        ("Wi-Fi backend", wifi_task),
        (AP_BACKEND, setup_task),
    ];

    // Early callers must never see an empty world: serve once the first dump is published.
    tokio::select! {
        known = engine.kernel_known() => known.map_err(|e| e.to_string())?,
        ended = daemon::first_to_end(&mut tasks) => return Err(task_ended(ended)),
    }
    let resolve = netpilot::access::resolve_system_name;
    // SAFETY: geteuid has no preconditions.
    let daemon_uid = unsafe { libc::geteuid() };
    let access = config
        .access
        .map(&resolve, daemon_uid)
        .map_err(|e| display_chain(&e))?;
    if let Some(dir) = &config.access.session_policies {
        let policies =
            netpilot::access::watch::PolicyDir::load(dir).map_err(|e| display_chain(&e))?;
        engine
            .set_session_policies(policies.set())
            .await
            .map_err(|e| format!("session policies: {e}"))?;
        netpilot::access::watch::spawn(policies, engine.clone()).map_err(|e| display_chain(&e))?;
    }
    let group = config
        .api
        .socket_gid(&resolve)
        .map_err(|e| display_chain(&e))?;
    let unix = api::bind_unix(&config.socket, config.api.socket_mode, group)
        .map_err(|e| display_chain(&e))?;
    let socket_inode = std::fs::metadata(&config.socket).map(|m| m.ino()).ok();
    let loopback = match config.listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("listen on {addr} (config key listen): {e}"))?,
        ),
        None => None,
    };
    let tls = match config.tls.listen {
        Some(addr) => {
            let state = api::tls::TlsState::load(api::tls::TlsFiles {
                cert: config.tls.cert.clone(),
                key: config.tls.key.clone(),
                client_ca: config.tls.client_ca.clone(),
            })
            .map_err(|e| display_chain(&e))?;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("listen on {addr} (config key tls.listen): {e}"))?;
            Some((listener, std::sync::Arc::new(state)))
        }
        None => None,
    };
    let tls_state = tls.as_ref().map(|(_, s)| s.clone());
    tracing::info!(
        socket = %config.socket.display(),
        tcp = %config.listen.map(|a| a.to_string()).unwrap_or_else(|| "off".into()),
        tls = %config.tls.listen.map(|a| a.to_string()).unwrap_or_else(|| "off".into()),
        "netpilotd serving"
    );

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let listeners = api::Listeners {
        unix,
        loopback,
        tls,
    };
    let server = api::serve(engine.clone(), listeners, access, limits(&config), async {
        let _ = stop_rx.await;
    });
    tokio::pin!(server);
    let socket = config.socket.clone();
    let result = loop {
        tokio::select! {
            result = &mut server => break result.map_err(|e| display_chain(&e)),
            _ = sighup.recv() => {
                reloading.reload(&mut config, &engine).await;
                if let Some(tls) = &tls_state {
                    match tls.reload() {
                        Ok(()) => tracing::info!("SIGHUP: TLS certificates reloaded; new connections get them"),
                        Err(e) => tracing::error!("SIGHUP: {}; the previous certificates stay in use", display_chain(&e)),
                    }
                }
            }
            signal = async { tokio::select! { _ = sigterm.recv() => "SIGTERM", _ = sigint.recv() => "SIGINT" } } => {
                tracing::info!("{signal}: releasing sessions and stopping");
                engine.shutdown().await;
                let _ = stop_tx.send(());
                break match tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await {
                    Ok(result) => result.map_err(|e| display_chain(&e)),
                    Err(_) => {
                        tracing::warn!("calls still open after {SHUTDOWN_GRACE:?}; exiting anyway");
                        Ok(())
                    }
                };
            }
            ended = daemon::first_to_end(&mut tasks) => {
                let _ = stop_tx.send(());
                let _ = tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await;
                break Err(task_ended(ended));
            }
        }
    };
    // The engine has stopped (or a task died): the access point backend sees its request
    // queue close and takes its access point down; give it that time before aborting.
    if let Some((_, task)) = tasks
        .iter_mut()
        .find(|(name, task)| *name == AP_BACKEND && !task.is_finished())
    {
        if tokio::time::timeout(AP_CLOSE_GRACE, task).await.is_err() {
            tracing::warn!("the access point was not closed within {AP_CLOSE_GRACE:?}");
        }
    }
    for (_, task) in &tasks {
        task.abort();
    }
    // Only our own socket: a file someone else put there since stays.
    if std::fs::metadata(&socket).map(|m| m.ino()).ok() == socket_inode {
        if let Err(e) = std::fs::remove_file(&socket) {
            tracing::debug!(error = %e, "remove socket");
        }
    }
    tracing::info!("netpilotd stopped");
    result
}
