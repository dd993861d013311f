//! The access point backend: it runs the setup access point (and the tethering access
//! point, which shares its machinery) on a Wi-Fi radio when the engine asks, and reports
//! what happens. The engine decides ([`crate::policy::setup`]); this task carries out, like
//! the Wi-Fi backend does for stations.
//!
//! An access point is:
//! - a wpa_supplicant network block with `mode=2` (wpa_supplicant's AP mode, open or
//!   WPA2-PSK). Where the radio's nl80211 interface combinations allow an AP beside a
//!   station ([`radio`]), the AP gets an interface of its own (`np-ap<ifindex>`, added with
//!   `iw`) and a wpa_supplicant netpilotd starts for it, so the station keeps working;
//!   otherwise the block goes to the radio's own wpa_supplicant and takes the radio;
//! - the AP's address on that interface;
//! - dnsmasq for DHCP and DNS ([`dnsmasq`]);
//! - the page ([`crate::portal`]) on the AP's address;
//! - for tethering, NAT through nftables ([`nat`]).
//!
//! Opening validates and starts each part in turn and takes back what it started when a
//! later part fails; closing stops everything, going on past failures. Programs it starts
//! end with netpilotd ([`process`]).

pub mod dnsmasq;
pub mod nat;
pub mod process;
pub mod radio;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use futures_util::TryStreamExt;
use tokio::sync::mpsc;

use crate::engine::{EngineHandle, EventSender};
use crate::model::{ApRole, Secret, ServiceId};
use crate::net::netlink::display_chain;
use crate::tech::wifi::ctrl::{CtrlConfig, CtrlEvent};
use crate::tech::wifi::supplicant::{
    Event as WpaEvent, NetworkId, NetworkSettings, Psk, Security, Supplicant,
};

/// Requests the backend's queue may hold; beyond that, senders wait on a task.
const QUEUE: usize = 16;
/// How long wpa_supplicant gets to answer and to start beaconing.
const AP_DEADLINE: Duration = Duration::from_secs(15);
/// How long dnsmasq gets to start serving.
const DNSMASQ_DEADLINE: Duration = Duration::from_secs(10);

/// How the backend runs its programs.
#[derive(Debug, Clone)]
pub struct BackendConfig {
    /// Where its files and sockets go (`<run_dir>/setup`). Created if missing.
    pub dir: PathBuf,
    /// The wpa_supplicant program started for an AP interface of its own.
    pub supplicant: PathBuf,
    /// The radios' own wpa_supplicant control directory (`[wifi] ctrl_dir`).
    pub radio_ctrl_dir: PathBuf,
    /// `iw`.
    pub iw: PathBuf,
    /// `dnsmasq`.
    pub dnsmasq: PathBuf,
    /// `nft`.
    pub nft: PathBuf,
    /// The page's TCP port.
    pub portal_port: u16,
    /// netpilot's resolv.conf: tethering's upstream nameservers.
    pub resolv_conf: PathBuf,
    /// The device's name, for the page.
    pub hostname: String,
}

/// The radio an access point runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApRadio {
    /// ifindex of its netdev.
    pub ifindex: u32,
    /// Its netdev, e.g. `wlan0`.
    pub name: String,
    /// Its MAC.
    pub mac: [u8; 6],
}

/// An access point to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApPlan {
    /// Setup or tethering.
    pub role: ApRole,
    /// The radio.
    pub radio: ApRadio,
    /// Beside the station, on an interface of its own.
    pub concurrent: bool,
    /// The SSID, 1..=32 bytes.
    pub ssid: Vec<u8>,
    /// WPA2-PSK passphrase; `None`: open.
    pub passphrase: Option<Secret>,
    /// Its address.
    pub address: Ipv4Addr,
    /// Its prefix length.
    pub prefix: u8,
    /// Its channel in MHz.
    pub frequency: u32,
    /// Counts the engine's opens; events about this access point carry it, so that the
    /// engine can tell them from a previous one's.
    pub generation: u64,
}

/// What the engine asks of the backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Read what a radio can do ([`Event::Probed`]).
    Probe(ApRadio),
    /// Open an access point (closing one that runs).
    Open(Box<ApPlan>),
    /// Close the access point.
    Close,
    /// Move the access point to this channel (MHz).
    Retune(u32),
}

/// What the backend (and the page, and the engine's own timers) report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A radio was probed.
    Probed {
        /// Which.
        ifindex: u32,
        /// What it can do, or why that is unknown.
        result: Result<radio::Capabilities, String>,
    },
    /// The access point serves.
    Opened {
        /// Its [`ApPlan::generation`].
        generation: u64,
        /// Its netdev.
        interface: String,
        /// Its channel in MHz.
        frequency: u32,
    },
    /// The access point was closed as asked.
    Closed {
        /// Its [`ApPlan::generation`].
        generation: u64,
    },
    /// Opening failed, or the access point stopped by itself; everything is torn down.
    Lost {
        /// Its [`ApPlan::generation`].
        generation: u64,
        /// What happened.
        error: String,
    },
    /// The access point moved.
    Retuned {
        /// Its [`ApPlan::generation`].
        generation: u64,
        /// Its channel in MHz now.
        frequency: u32,
    },
    /// A station joined (its MAC).
    ClientJoined(String),
    /// A station left.
    ClientLeft(String),
    /// A phone loaded the page.
    PageSeen,
    /// A time the engine asked to be woken at.
    Tick,
    /// A connect submitted on the page ended: ready, or the error word and message.
    AttemptDone {
        /// The service.
        service: ServiceId,
        /// How it ended.
        result: Result<(), (String, String)>,
    },
}

/// The engine's end of the backend. Sending never waits.
#[derive(Debug, Clone)]
pub struct SetupHandle {
    tx: mpsc::Sender<Request>,
}

impl SetupHandle {
    /// A handle and the queue the backend reads.
    pub fn channel() -> (Self, mpsc::Receiver<Request>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        (Self { tx }, rx)
    }

    /// Queues a request without waiting (a task sends it when the queue is full).
    pub fn send(&self, request: Request) {
        match self.tx.try_send(request) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(request)) => {
                let tx = self.tx.clone();
                tokio::spawn(async move {
                    let _ = tx.send(request).await;
                });
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                tracing::error!("the access point backend has stopped; request dropped");
            }
        }
    }
}

/// Why an access point could not open.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The radio could not be read or changed.
    #[error(transparent)]
    Radio(#[from] radio::RadioError),
    /// A program would not start.
    #[error(transparent)]
    Spawn(#[from] process::SpawnError),
    /// wpa_supplicant did not answer, refused the network, or did not start beaconing.
    #[error("access point on {interface}: {message}")]
    Supplicant {
        /// The AP's netdev.
        interface: String,
        /// What happened.
        message: String,
    },
    /// The address could not be added.
    #[error("add {address}/{prefix} to {interface}: {message}")]
    Address {
        /// The address.
        address: Ipv4Addr,
        /// Its prefix length.
        prefix: u8,
        /// The netdev.
        interface: String,
        /// The netlink error.
        message: String,
    },
    /// A port dnsmasq needs is taken.
    #[error(transparent)]
    Port(#[from] dnsmasq::PortClash),
    /// dnsmasq did not start serving.
    #[error("dnsmasq for {interface}: {message}")]
    Dnsmasq {
        /// The AP's netdev.
        interface: String,
        /// Its last output.
        message: String,
    },
    /// The page could not listen.
    #[error("the setup page on {address}: {source}")]
    Portal {
        /// `A:port`.
        address: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// NAT could not be set up.
    #[error(transparent)]
    Nat(#[from] nat::NatError),
    /// A file could not be written.
    #[error("write {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// A running access point, as far as it got.
#[derive(Default)]
struct Running {
    plan: Option<ApPlan>,
    interface: String,
    /// The AP interface netpilot added (concurrent).
    added: bool,
    supplicant_process: Option<process::Program>,
    supplicant: Option<Supplicant>,
    events: Option<mpsc::Receiver<CtrlEvent>>,
    network: Option<NetworkId>,
    address: Option<(u32, Ipv4Addr, u8)>,
    dnsmasq: Option<process::Program>,
    portal: Option<(
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<()>,
    )>,
    nat: Option<nat::Nat>,
    frequency: u32,
    /// The AP is being restarted on another channel: its AP-DISABLED is expected.
    restarting: bool,
}

struct Backend {
    config: BackendConfig,
    engine: EngineHandle,
    events: EventSender<Event>,
    netlink: Option<rtnetlink::Handle>,
    ap: Option<Running>,
}

/// Starts the backend. It ends (closing any access point) when the engine drops its end of
/// `requests`.
pub fn spawn(
    config: BackendConfig,
    requests: mpsc::Receiver<Request>,
    events: EventSender<Event>,
    engine: EngineHandle,
) -> tokio::task::JoinHandle<()> {
    let netlink = match rtnetlink::new_connection() {
        Ok((connection, handle, _)) => {
            tokio::spawn(connection);
            Some(handle)
        }
        Err(e) => {
            tracing::error!(error = %e, "open a netlink socket for the access point's address");
            None
        }
    };
    let backend = Backend {
        config,
        engine,
        events,
        netlink,
        ap: None,
    };
    tokio::spawn(backend.run(requests))
}

/// What a running access point reports.
enum ApReport {
    /// Its wpa_supplicant's control connection (`None`: ended).
    Ctrl(Option<CtrlEvent>),
    /// dnsmasq exited: why.
    DnsmasqExited(String),
}

async fn next_report(ap: &mut Option<Running>) -> ApReport {
    let Some(Running {
        events, dnsmasq, ..
    }) = ap.as_mut()
    else {
        return std::future::pending().await;
    };
    let ctrl = async {
        match events.as_mut() {
            Some(rx) => rx.recv().await,
            None => std::future::pending().await,
        }
    };
    let dnsmasq = async {
        match dnsmasq.as_mut() {
            Some(p) => {
                let status = p.wait().await;
                format!(
                    "dnsmasq exited ({}): {}",
                    status.map(|s| s.to_string()).unwrap_or_default(),
                    p.output().join(" | ")
                )
            }
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        e = ctrl => ApReport::Ctrl(e),
        why = dnsmasq => ApReport::DnsmasqExited(why),
    }
}

impl Backend {
    async fn run(mut self, mut requests: mpsc::Receiver<Request>) {
        for dir in [self.dir("wpa"), self.dir("client")] {
            if let Err(e) = std::fs::create_dir_all(&dir) {
                tracing::error!(dir = %dir.display(), error = %e, "create the access point's directory");
            }
        }
        self.remove_leftovers().await;
        loop {
            tokio::select! {
                request = requests.recv() => match request {
                    Some(r) => self.on_request(r).await,
                    None => {
                        self.close().await;
                        return;
                    }
                },
                report = next_report(&mut self.ap) => match report {
                    ApReport::Ctrl(event) => self.on_ctrl(event).await,
                    ApReport::DnsmasqExited(why) => self.lost(why).await,
                },
            }
        }
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.config.dir.join(name)
    }

    fn nft(&self) -> nat::Nft {
        nat::Nft {
            program: self.config.nft.clone(),
            file: self.config.dir.join("nftables.json"),
        }
    }

    async fn emit(&self, event: Event) {
        let _ = self.events.send(event).await;
    }

    /// What a crashed earlier run left: AP interfaces and the tethering table.
    async fn remove_leftovers(&self) {
        // The ruleset file outlives a run that crashed while tethering (it is removed with
        // the table), so nft runs at start only when a table may be left.
        let nft = self.nft();
        if nft.file.exists() {
            tracing::info!(
                table = nat::TABLE,
                "removing the tethering table an earlier run left"
            );
            nat::remove_table(&nft).await;
        }
        let Ok(entries) = std::fs::read_dir("/sys/class/net") else {
            return;
        };
        for name in entries
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
        {
            if radio::is_ap_interface(&name) {
                tracing::info!(interface = %name, "removing an access point interface an earlier run left");
                if let Err(e) = radio::delete_interface(&self.config.iw, &name).await {
                    tracing::warn!(error = %display_chain(&e), "remove a leftover access point interface");
                }
            }
        }
    }

    async fn on_request(&mut self, request: Request) {
        match request {
            Request::Probe(r) => {
                let result = radio::probe(&self.config.iw, &r.name)
                    .await
                    .map_err(|e| display_chain(&e));
                match &result {
                    Ok(c) => {
                        tracing::info!(radio = %r.name, phy = %c.phy, concurrent = c.concurrent, channels = c.channels, "radio capabilities")
                    }
                    Err(e) => {
                        tracing::warn!(radio = %r.name, error = %e, "read the radio's interface combinations")
                    }
                }
                self.emit(Event::Probed {
                    ifindex: r.ifindex,
                    result,
                })
                .await;
            }
            Request::Open(plan) => {
                if self.ap.is_some() {
                    self.teardown().await;
                }
                let mut running = Running::default();
                match self.open(&plan, &mut running).await {
                    Ok(()) => {
                        let (interface, frequency) = (running.interface.clone(), running.frequency);
                        tracing::info!(role = plan.role.as_str(), %interface, frequency, ssid = %crate::model::ssid_display(&plan.ssid), "access point open");
                        self.ap = Some(running);
                        self.emit(Event::Opened {
                            generation: plan.generation,
                            interface,
                            frequency,
                        })
                        .await;
                    }
                    Err(e) => {
                        let error = display_chain(&e);
                        tracing::warn!(role = plan.role.as_str(), %error, "the access point did not open");
                        self.take_down(running).await;
                        self.emit(Event::Lost {
                            generation: plan.generation,
                            error,
                        })
                        .await;
                    }
                }
            }
            Request::Close => {
                self.close().await;
            }
            Request::Retune(frequency) => self.retune(frequency).await,
        }
    }

    fn generation(&self) -> u64 {
        self.ap
            .as_ref()
            .and_then(|r| r.plan.as_ref())
            .map_or(0, |p| p.generation)
    }

    async fn close(&mut self) {
        if self.ap.is_some() {
            let generation = self.generation();
            self.teardown().await;
            tracing::info!("access point closed");
            self.emit(Event::Closed { generation }).await;
        }
    }

    async fn teardown(&mut self) {
        if let Some(running) = self.ap.take() {
            self.take_down(running).await;
        }
    }

    async fn lost(&mut self, error: String) {
        tracing::warn!(%error, "the access point stopped");
        let generation = self.generation();
        self.teardown().await;
        self.emit(Event::Lost { generation, error }).await;
    }

    async fn open(&mut self, plan: &ApPlan, r: &mut Running) -> Result<(), OpenError> {
        r.plan = Some(plan.clone());
        r.frequency = plan.frequency;
        let supplicant_dir = if plan.concurrent {
            r.interface = radio::ap_interface_name(plan.radio.ifindex);
            let phy = radio::phy_of(&plan.radio.name)?;
            radio::add_ap_interface(
                &self.config.iw,
                &phy,
                &r.interface,
                radio::ap_mac(plan.radio.mac),
            )
            .await?;
            r.added = true;
            let conf = self
                .config
                .dir
                .join(format!("wpa_supplicant-{}.conf", r.interface));
            // ap_scan=2: no scan before the access point starts (about 9 s less under
            // hwsim); this wpa_supplicant runs the access point only.
            let text = format!(
                "ctrl_interface={}\nupdate_config=0\np2p_disabled=1\nap_scan=2\n",
                self.dir("wpa").display()
            );
            std::fs::write(&conf, text).map_err(|source| OpenError::File {
                path: conf.clone(),
                source,
            })?;
            let args: Vec<std::ffi::OsString> = vec![
                "-i".into(),
                r.interface.clone().into(),
                "-D".into(),
                "nl80211".into(),
                "-c".into(),
                conf.into(),
            ];
            r.supplicant_process = Some(process::Program::start(
                "wpa_supplicant (access point)",
                &self.config.supplicant,
                &args,
            )?);
            self.dir("wpa")
        } else {
            r.interface = plan.radio.name.clone();
            self.config.radio_ctrl_dir.clone()
        };
        let fail = |message: String| OpenError::Supplicant {
            interface: r.interface.clone(),
            message,
        };
        let (supplicant, mut events) = Supplicant::spawn(CtrlConfig::new(
            supplicant_dir,
            r.interface.clone(),
            self.dir("client"),
        ));
        let answered = tokio::time::timeout(AP_DEADLINE, async {
            while let Some(e) = events.recv().await {
                if matches!(e, CtrlEvent::Available { .. }) {
                    return true;
                }
            }
            false
        })
        .await;
        if answered != Ok(true) {
            let why = r
                .supplicant_process
                .as_ref()
                .map(|p| p.output().join(" | "))
                .unwrap_or_default();
            return Err(fail(format!(
                "wpa_supplicant does not answer within {AP_DEADLINE:?} {why}"
            )));
        }
        let security = match &plan.passphrase {
            None => Security::Open,
            Some(p) => Security::Psk(Psk::new(p.clone()).map_err(|e| fail(e.to_string()))?),
        };
        let mut settings =
            NetworkSettings::new(plan.ssid.clone(), security).map_err(|e| fail(e.to_string()))?;
        settings.ap_frequency = Some(plan.frequency);
        let network = supplicant
            .create_network(&settings)
            .await
            .map_err(|e| fail(display_chain(&e)))?;
        r.network = Some(network);
        r.supplicant = Some(supplicant.clone());
        supplicant
            .select_network(network)
            .await
            .map_err(|e| fail(display_chain(&e)))?;
        let enabled = tokio::time::timeout(AP_DEADLINE, async {
            while let Some(e) = events.recv().await {
                if let CtrlEvent::Message(m) = e {
                    match WpaEvent::from_message(&m) {
                        Some(WpaEvent::ApEnabled) => return Ok(()),
                        Some(WpaEvent::Connected { id, .. }) if id == Some(network) => {
                            return Ok(())
                        }
                        Some(WpaEvent::ApDisabled) => return Err("AP-DISABLED".to_string()),
                        _ => {}
                    }
                }
            }
            Err("wpa_supplicant went away".to_string())
        })
        .await;
        match enabled {
            Ok(Ok(())) => {}
            Ok(Err(why)) => return Err(fail(format!("it did not start beaconing: {why}"))),
            Err(_) => {
                return Err(fail(format!(
                "it did not start beaconing within {AP_DEADLINE:?} (channel {} MHz allowed here?)",
                plan.frequency
            )))
            }
        }
        r.events = Some(events);
        self.add_address(plan, r).await?;
        dnsmasq::check_ports(plan.address, &r.interface)?;
        let config = dnsmasq::config(&dnsmasq::Plan {
            interface: r.interface.clone(),
            address: plan.address,
            prefix: plan.prefix,
            role: plan.role,
            captive_api: Some(crate::portal::api_url(
                plan.address,
                self.config.portal_port,
            )),
            lease_file: self
                .config
                .dir
                .join(format!("dnsmasq-{}.leases", r.interface)),
            resolv_file: self.config.resolv_conf.clone(),
        });
        let conf = self
            .config
            .dir
            .join(format!("dnsmasq-{}.conf", r.interface));
        std::fs::write(&conf, config).map_err(|source| OpenError::File {
            path: conf.clone(),
            source,
        })?;
        let mut dns =
            process::Program::start("dnsmasq", &self.config.dnsmasq, &dnsmasq::args(&conf))?;
        let started = dns
            .wait_for_line(&[dnsmasq::READY, dnsmasq::FAILED], DNSMASQ_DEADLINE)
            .await;
        let failed = match &started {
            Ok(line) if line.contains(dnsmasq::FAILED) => Some(line.clone()),
            Ok(_) => None,
            Err(why) => Some(why.clone()),
        };
        r.dnsmasq = Some(dns);
        if let Some(message) = failed {
            return Err(OpenError::Dnsmasq {
                interface: r.interface.clone(),
                message,
            });
        }
        let listen = std::net::SocketAddr::from((plan.address, self.config.portal_port));
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| OpenError::Portal {
                address: listen.to_string(),
                source,
            })?;
        let portal = crate::portal::Portal {
            engine: self.engine.clone(),
            reports: self.events.clone(),
            address: plan.address,
            port: self.config.portal_port,
            captive: plan.role == ApRole::Setup,
            hostname: self.config.hostname.clone(),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(crate::portal::serve(listener, portal, async {
            let _ = stopped.await;
        }));
        r.portal = Some((stop, task));
        if plan.role == ApRole::Tethering {
            r.nat =
                Some(nat::Nat::apply(&self.nft(), &r.interface, plan.address, plan.prefix).await?);
        }
        Ok(())
    }

    async fn add_address(&self, plan: &ApPlan, r: &mut Running) -> Result<(), OpenError> {
        let fail = |message: String| OpenError::Address {
            address: plan.address,
            prefix: plan.prefix,
            interface: r.interface.clone(),
            message,
        };
        let Some(handle) = &self.netlink else {
            return Err(fail("no netlink socket".into()));
        };
        let link = handle
            .link()
            .get()
            .match_name(r.interface.clone())
            .execute()
            .try_next()
            .await
            .map_err(|e| fail(e.to_string()))?
            .ok_or_else(|| fail("no such interface".into()))?;
        let index = link.header.index;
        match handle
            .address()
            .add(index, plan.address.into(), plan.prefix)
            .execute()
            .await
        {
            Ok(()) => {}
            // Already there (a restart of the AP on the same interface): keep it.
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -libc::EEXIST => {}
            Err(e) => return Err(fail(e.to_string())),
        }
        r.address = Some((index, plan.address, plan.prefix));
        Ok(())
    }

    /// Takes down what `r` started, in reverse order, going on past failures.
    async fn take_down(&self, mut r: Running) {
        if let Some(nat) = r.nat.take() {
            nat.remove(&self.nft()).await;
        }
        if let Some((stop, mut task)) = r.portal.take() {
            let _ = stop.send(());
            // Open keep-alive connections would hold a graceful stop up.
            if tokio::time::timeout(Duration::from_secs(1), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
        if let Some(p) = r.dnsmasq.take() {
            p.stop().await;
        }
        if let (Some((index, address, prefix)), Some(handle)) = (r.address.take(), &self.netlink) {
            let mut list = handle
                .address()
                .get()
                .set_link_index_filter(index)
                .execute();
            while let Ok(Some(msg)) = list.try_next().await {
                let ours = msg.attributes.iter().any(|a| {
                    matches!(a, rtnetlink::packet_route::address::AddressAttribute::Address(ip) if *ip == std::net::IpAddr::V4(address))
                });
                if ours && msg.header.prefix_len == prefix {
                    if let Err(e) = handle.address().del(msg).execute().await {
                        tracing::warn!(%address, error = %e, "remove the access point's address");
                    }
                    break;
                }
            }
        }
        if let (Some(s), Some(net)) = (r.supplicant.take(), r.network.take()) {
            if r.supplicant_process.is_none() {
                // The radio's own wpa_supplicant: take the AP network back out of it.
                if let Err(e) = s.remove_network(net).await {
                    tracing::warn!(error = %display_chain(&e), "remove the access point network");
                }
            }
        }
        r.events = None;
        if let Some(p) = r.supplicant_process.take() {
            p.stop().await;
        }
        if r.added {
            if let Err(e) = radio::delete_interface(&self.config.iw, &r.interface).await {
                tracing::warn!(error = %display_chain(&e), "remove the access point interface");
            }
        }
    }

    async fn on_ctrl(&mut self, event: Option<CtrlEvent>) {
        let message = match event {
            Some(CtrlEvent::Message(m)) => m,
            Some(CtrlEvent::Unavailable(why)) => {
                return self
                    .lost(format!(
                        "the access point's wpa_supplicant went away ({why:?})"
                    ))
                    .await;
            }
            None => {
                return self
                    .lost("the access point's wpa_supplicant connection ended".into())
                    .await
            }
            Some(_) => return,
        };
        match WpaEvent::from_message(&message) {
            Some(WpaEvent::ApStaConnected { mac }) => {
                tracing::info!(station = %mac, "a client joined the access point");
                self.emit(Event::ClientJoined(mac.to_string())).await;
            }
            Some(WpaEvent::ApStaDisconnected { mac }) => {
                tracing::info!(station = %mac, "a client left the access point");
                self.emit(Event::ClientLeft(mac.to_string())).await;
            }
            Some(WpaEvent::ApDisabled) if self.ap.as_ref().is_some_and(|r| r.restarting) => {}
            Some(WpaEvent::ApDisabled) => {
                self.lost("the access point stopped (AP-DISABLED)".into())
                    .await
            }
            Some(WpaEvent::ApEnabled) => {
                if let Some(r) = self.ap.as_mut() {
                    r.restarting = false;
                }
            }
            _ => {}
        }
    }

    /// Moves the AP: a channel switch announcement (clients follow it), or, when the driver
    /// refuses one, the network again on the new channel (clients join it again).
    async fn retune(&mut self, frequency: u32) {
        let Some(r) = self.ap.as_mut() else { return };
        let (Some(s), Some(net)) = (r.supplicant.clone(), r.network) else {
            return;
        };
        if r.frequency == frequency {
            return;
        }
        let csa = s.raw(&format!("CHAN_SWITCH 5 {frequency}")).await;
        let moved = match csa {
            Ok(reply) if reply.trim() == "OK" => {
                tracing::info!(
                    from = r.frequency,
                    to = frequency,
                    "access point announced a channel switch"
                );
                true
            }
            other => {
                tracing::info!(from = r.frequency, to = frequency, reply = ?other.map(|r| r.trim().to_string()).map_err(|e| display_chain(&e)), "no channel switch; restarting the access point on the new channel");
                r.restarting = true;
                let restarted = async {
                    s.disable_network(net).await?;
                    s.raw(&format!("SET_NETWORK {net} frequency {frequency}"))
                        .await?;
                    s.select_network(net).await
                }
                .await;
                match restarted {
                    Ok(()) => true,
                    Err(e) => {
                        let error = format!(
                            "move the access point to {frequency} MHz: {}",
                            display_chain(&e)
                        );
                        return self.lost(error).await;
                    }
                }
            }
        };
        if moved {
            let generation = self.generation();
            if let Some(r) = self.ap.as_mut() {
                r.frequency = frequency;
            }
            self.emit(Event::Retuned {
                generation,
                frequency,
            })
            .await;
        }
    }
}
