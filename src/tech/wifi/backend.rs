//! The backend task: one wpa_supplicant connection per device (a radio, or an Ethernet link
//! doing IEEE 802.1X), driven by the engine's [`Request`]s, reporting services and L2 state.
//!
//! For a radio (iwd's station): the BSS table becomes services ([`super::networks`]); a
//! connect writes one network block (or takes the one it wrote before, when the settings are
//! the same) and selects it, so wpa_supplicant joins one network at a time; L2 connected is
//! reported once wpa_supplicant has authorized the port; wrong keys and EAP failures are counted and, after `max_auth_attempts`, the network
//! is disabled (wpa_supplicant alone would retry forever) and the failure reported; a lost
//! connection is reported `out-of-range`.
//!
//! Scans: a network seen before is looked for on the channels it was seen on (a quick scan,
//! as iwd does), every [`REJOIN_INTERVAL`] for [`QUICK_WINDOW`], then on every channel. While
//! nothing is connected the radio scans with backoff (ConnMan: 3 s doubling to 5 min), the
//! 2.4 GHz band first and then every channel, so that networks there are listed (and known
//! ones joined) without waiting for the whole band plan; a connect aborts such a scan.
//!
//! wpa_supplicant is netpilot's: when a new one attaches (started, or restarted) its networks
//! are removed, so nothing joins behind netpilot's back.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{StreamExt, StreamMap};

use super::ctrl::{CtrlConfig, CtrlEvent};
use super::networks::{self, Network};
use super::process::Supervised;
use super::settings;
use super::supplicant::{Event as WpaEvent, NetworkId, NetworkSettings, SaePwe, Supplicant};
use super::{ConnectRequest, Radio, Request, ScanToken, WiredPort};
use crate::engine::EventSender;
use crate::model::{L2State, SecurityClass, ServiceError, ServiceId, TechnologyKind};
use crate::net::netlink::display_chain;
use crate::tech::{Event, ServiceInfo};

/// First background scan delay, and after every disconnect (ConnMan).
const SCAN_MIN: Duration = Duration::from_secs(3);
/// Longest background scan delay (ConnMan).
const SCAN_MAX: Duration = Duration::from_secs(300);
/// How often a port sends EAPOL-Start while no authenticator answers (the supplicant PAE's
/// startPeriod in IEEE 802.1X-2004, 30 s by default). An authenticator ignores them for a
/// while after a logoff or a failure (hostapd: 5 s); at 30 s the next one would come after
/// most connects' deadline.
const EAPOL_START_PERIOD: Duration = Duration::from_secs(5);
/// How long a network is looked for on its known channels before every channel is scanned.
const QUICK_WINDOW: Duration = Duration::from_secs(10);
/// Pause between two quick scans for a network not found (a one-channel active scan takes
/// well under 0.1 s, so the radio scans about a quarter of the time for [`QUICK_WINDOW`]).
const REJOIN_INTERVAL: Duration = Duration::from_millis(250);
/// 2.4 GHz channels 1 to 13 (IEEE 802.11-2020 §15.4.4.3), MHz: the first part of a
/// background scan. Every 2.4 GHz radio lists them; regulatory rules may disable some,
/// which the kernel then skips.
const BAND_2GHZ: [u32; 13] = [
    2412, 2417, 2422, 2427, 2432, 2437, 2442, 2447, 2452, 2457, 2462, 2467, 2472,
];

/// How the backend reaches wpa_supplicant.
#[derive(Debug, Clone)]
pub struct WifiConfig {
    /// wpa_supplicant's control directory.
    pub ctrl_dir: PathBuf,
    /// Where client sockets (and, when spawning, configuration files) go: netpilotd's run
    /// directory. Created if missing.
    pub client_dir: PathBuf,
    /// Start and supervise wpa_supplicant with this program, one per device.
    pub spawn: Option<PathBuf>,
    /// Regulatory country to set on every radio.
    pub country: Option<String>,
    /// Authentication failures before giving up with `invalid-key` / `auth-failed`.
    pub max_auth_attempts: u32,
}

/// What a device is connecting to.
#[derive(Debug)]
struct Target {
    id: ServiceId,
    net: NetworkId,
    connected: bool,
    /// wpa_supplicant was told to scan only the channels the network was seen on.
    quick: bool,
    /// Those channels, MHz.
    freqs: Vec<u32>,
    /// Until when quick scans go on while the network is not found.
    quick_until: Instant,
}

/// A network block netpilot wrote, and what it holds: a connect with the same settings
/// selects it again instead of writing a new one (wpa_supplicant keeps the PSK it derived,
/// 4096 PBKDF2-SHA1 rounds, and the round trips are saved).
#[derive(Debug)]
struct Configured {
    net: NetworkId,
    settings: NetworkSettings,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Radio(Radio),
    Port(WiredPort),
}

struct Device {
    kind: Kind,
    supplicant: Supplicant,
    _process: Option<Supervised>,
    available: bool,
    generation: u64,
    networks: Vec<Network>,
    announced: BTreeMap<ServiceId, ServiceInfo>,
    known_hidden: Vec<(Vec<u8>, SecurityClass)>,
    /// The network block netpilot wrote for each service.
    configured: BTreeMap<ServiceId, Configured>,
    target: Option<Target>,
    /// Authentication failures of the current attempt.
    failures: u32,
    /// A wired port's connect, kept until it is disconnected, forgotten or given up: made
    /// once its wpa_supplicant answers, and again whenever wpa_supplicant restarts.
    port_request: Option<ConnectRequest>,
    scan_delay: Duration,
    next_scan: Option<Instant>,
    /// A background scan netpilot asked for is running.
    own_scan: bool,
    /// The running background scan covers 2.4 GHz only: every channel follows.
    full_scan_next: bool,
}

impl Device {
    fn ifindex(&self) -> u32 {
        match &self.kind {
            Kind::Radio(r) => r.ifindex,
            Kind::Port(p) => p.ifindex,
        }
    }

    fn name(&self) -> &str {
        match &self.kind {
            Kind::Radio(r) => &r.name,
            Kind::Port(p) => &p.name,
        }
    }

    fn is_radio(&self) -> bool {
        matches!(self.kind, Kind::Radio(_))
    }
}

struct Backend {
    config: WifiConfig,
    events: EventSender<Event>,
    devices: BTreeMap<u32, Device>,
    ctrl: StreamMap<u32, ReceiverStream<CtrlEvent>>,
    powered: bool,
    country: Option<String>,
    /// Scans asked for, with the radios whose results are still awaited.
    scans: Vec<(ScanToken, BTreeSet<u32>)>,
    technology: (bool, bool),
}

/// Starts the backend. It ends when the engine drops its end of `requests`.
pub fn spawn(
    config: WifiConfig,
    requests: mpsc::Receiver<Request>,
    events: EventSender<Event>,
) -> tokio::task::JoinHandle<()> {
    let country = config.country.clone();
    let backend = Backend {
        config,
        events,
        devices: BTreeMap::new(),
        ctrl: StreamMap::new(),
        powered: true,
        country,
        scans: Vec::new(),
        technology: (false, false),
    };
    tokio::spawn(backend.run(requests))
}

impl Backend {
    async fn run(mut self, mut requests: mpsc::Receiver<Request>) {
        if let Err(e) = std::fs::create_dir_all(&self.config.client_dir) {
            tracing::error!(dir = %self.config.client_dir.display(), error = %e, "create the wpa_supplicant client directory");
        }
        loop {
            let next_scan = self.devices.values().filter_map(|d| d.next_scan).min();
            tokio::select! {
                request = requests.recv() => match request {
                    Some(request) => self.on_request(request).await,
                    None => return,
                },
                Some((ifindex, event)) = self.ctrl.next() => self.on_ctrl(ifindex, event).await,
                _ = sleep_until(next_scan) => self.background_scans().await,
            }
        }
    }

    async fn emit(&self, event: Event) {
        // The engine stopping ends this task through `requests`.
        let _ = self.events.send(event).await;
    }

    async fn on_request(&mut self, request: Request) {
        match request {
            Request::Devices { radios, ports } => self.set_devices(radios, ports).await,
            Request::Connect(req) => self.connect(*req).await,
            Request::Disconnect(id) => self.disconnect(&id).await,
            Request::Forget(id) => self.forget(&id).await,
            Request::Scan(token) => self.scan(token).await,
            Request::SetPowered(on) => self.set_powered(on).await,
            Request::SetCountry(country) => {
                self.country = Some(country.clone());
                for d in self
                    .devices
                    .values()
                    .filter(|d| d.is_radio() && d.available)
                {
                    if let Err(e) = d.supplicant.set_country(&country).await {
                        tracing::warn!(radio = %d.name(), error = %display_chain(&e), "set the regulatory country");
                    }
                }
            }
        }
    }

    async fn set_devices(&mut self, radios: Vec<Radio>, ports: Vec<WiredPort>) {
        let wanted: BTreeMap<u32, Kind> = radios
            .into_iter()
            .map(|r| (r.ifindex, Kind::Radio(r)))
            .chain(ports.into_iter().map(|p| (p.ifindex, Kind::Port(p))))
            .collect();
        let gone: Vec<u32> = self
            .devices
            .iter()
            .filter(|(i, d)| wanted.get(i) != Some(&d.kind))
            .map(|(i, _)| *i)
            .collect();
        for ifindex in gone {
            if let Some(mut d) = self.devices.remove(&ifindex) {
                tracing::info!(device = %d.name(), "no longer driven");
                self.ctrl.remove(&ifindex);
                self.withdraw(&mut d).await;
            }
        }
        for (ifindex, kind) in wanted {
            if self.devices.contains_key(&ifindex) {
                continue;
            }
            let name = match &kind {
                Kind::Radio(r) => r.name.clone(),
                Kind::Port(p) => p.name.clone(),
            };
            let process = self.config.spawn.as_ref().map(|program| {
                let driver = if matches!(kind, Kind::Radio(_)) {
                    "nl80211"
                } else {
                    "wired"
                };
                Supervised::start(
                    program,
                    &name,
                    driver,
                    &self.config.ctrl_dir,
                    &self.config.client_dir,
                )
            });
            let (supplicant, events) = Supplicant::spawn(CtrlConfig::new(
                &self.config.ctrl_dir,
                &name,
                &self.config.client_dir,
            ));
            tracing::info!(device = %name, ctrl_dir = %self.config.ctrl_dir.display(), "driving through wpa_supplicant");
            self.ctrl.insert(ifindex, ReceiverStream::new(events));
            self.devices.insert(
                ifindex,
                Device {
                    kind,
                    supplicant,
                    _process: process,
                    available: false,
                    generation: 0,
                    networks: Vec::new(),
                    announced: BTreeMap::new(),
                    known_hidden: Vec::new(),
                    configured: BTreeMap::new(),
                    target: None,
                    failures: 0,
                    port_request: None,
                    scan_delay: SCAN_MIN,
                    next_scan: None,
                    own_scan: false,
                    full_scan_next: false,
                },
            );
        }
        self.report_technology().await;
    }

    async fn report_technology(&mut self) {
        let radios = self.devices.values().filter(|d| d.is_radio());
        let present = radios.clone().count() > 0;
        let available = radios.into_iter().any(|d| d.available);
        if self.technology != (present, available) {
            self.technology = (present, available);
            self.emit(Event::Technology {
                kind: TechnologyKind::Wifi,
                present,
                available,
            })
            .await;
        }
    }

    /// Takes back everything a device announced: its services go (a radio's) or its L2
    /// drops (a port's).
    async fn withdraw(&mut self, d: &mut Device) {
        let announced = std::mem::take(&mut d.announced);
        for id in announced.into_keys() {
            self.emit(Event::ServiceGone(id)).await;
        }
        if let (Kind::Port(_), Some(t)) = (&d.kind, d.target.take()) {
            self.emit(Event::L2 {
                id: t.id,
                state: L2State::Idle,
            })
            .await;
        }
        d.target = None;
        // The network blocks stay in wpa_supplicant (Wi-Fi off, or it went away for a
        // moment) and are reused; a restarted wpa_supplicant (new generation) has none, and
        // `configured` is cleared then.
        d.networks.clear();
        d.next_scan = None;
        d.own_scan = false;
        d.full_scan_next = false;
        self.finish_scans(d.ifindex(), Some("the radio went away".into()))
            .await;
    }

    fn device_for(&mut self, netdev: Option<u32>, id: &ServiceId) -> Option<&mut Device> {
        match netdev {
            Some(i) => self.devices.get_mut(&i),
            None => self.devices.values_mut().find(|d| {
                d.announced.contains_key(id)
                    || d.target.as_ref().is_some_and(|t| &t.id == id)
                    || d.port_request.as_ref().is_some_and(|r| &r.id == id)
            }),
        }
    }

    async fn l2(&self, id: &ServiceId, state: L2State) {
        self.emit(Event::L2 {
            id: id.clone(),
            state,
        })
        .await;
    }

    async fn connect(&mut self, req: ConnectRequest) {
        let powered = self.powered;
        let Some(d) = self.device_for(req.netdev, &req.id) else {
            tracing::warn!(service = %req.id, "connect: no device drives this service");
            self.l2(&req.id, L2State::Failed(ServiceError::ConnectFailed))
                .await;
            return;
        };
        if !d.is_radio() {
            d.port_request = Some(req.clone());
            if !d.available {
                tracing::info!(service = %req.id, device = %d.name(), "connect: waiting for wpa_supplicant");
                self.l2(&req.id, L2State::Associating).await;
                return;
            }
        }
        if !d.available || (d.is_radio() && !powered) {
            tracing::warn!(service = %req.id, device = %d.name(), "connect: wpa_supplicant is not available");
            let id = req.id.clone();
            self.l2(&id, L2State::Failed(ServiceError::ConnectFailed))
                .await;
            return;
        }
        if let Some(t) = d.target.as_ref().filter(|t| t.id == req.id) {
            // Already joining or joined: a repeated request changes nothing.
            let state = if t.connected {
                L2State::Associated {
                    ifindex: d.ifindex(),
                }
            } else {
                L2State::Associating
            };
            tracing::debug!(service = %req.id, "connect: already the device's network");
            let id = req.id.clone();
            self.l2(&id, state).await;
            return;
        }
        // A connect takes the radio: it does not wait for a background scan of every band.
        d.full_scan_next = false;
        if std::mem::take(&mut d.own_scan) {
            if let Err(e) = d.supplicant.abort_scan().await {
                tracing::debug!(device = %d.name(), error = %display_chain(&e), "abort the background scan");
            }
        }
        let frequencies = d
            .networks
            .iter()
            .find(|n| n.ssid == req.ssid && n.class == req.class)
            .map(|n| n.frequencies.clone())
            .unwrap_or_default();
        let wired = !d.is_radio();
        let settings = match settings::network_settings(&req, &frequencies, wired) {
            Ok(s) => s,
            Err(e) => {
                d.port_request = None;
                tracing::warn!(service = %req.id, error = %e, "connect: cannot describe the network to wpa_supplicant");
                self.l2(&req.id, L2State::Failed(ServiceError::ConnectFailed))
                    .await;
                return;
            }
        };
        if req.hidden && !req.ssid.is_empty() {
            let known = (req.ssid.clone(), req.class);
            if !d.known_hidden.contains(&known) {
                d.known_hidden.push(known);
            }
        }
        let previous = d.target.take().filter(|t| t.id != req.id).map(|t| t.id);
        let reuse = d
            .configured
            .get(&req.id)
            .filter(|c| c.settings == settings)
            .map(|c| c.net);
        if reuse.is_none() {
            if let Some(old) = d.configured.remove(&req.id) {
                if let Err(e) = d.supplicant.remove_network(old.net).await {
                    tracing::debug!(service = %req.id, error = %display_chain(&e), "remove the old network block");
                }
            }
        }
        let supplicant = d.supplicant.clone();
        let result = async {
            if let Some(net) = reuse {
                match supplicant.select_network(net).await {
                    Ok(()) => return Ok((net, true)),
                    Err(e) => {
                        tracing::debug!(service = %req.id, %net, error = %display_chain(&e), "select the network block again; writing a new one")
                    }
                }
            }
            let net = supplicant.create_network(&settings).await?;
            supplicant.select_network(net).await?;
            Ok::<_, super::supplicant::SupplicantError>((net, false))
        }
        .await;
        let d = self.device_for(req.netdev, &req.id);
        let Some(d) = d else { return };
        match result {
            Ok((net, reused)) => {
                tracing::info!(service = %req.id, device = %d.name(), %net, reused, quick_scan = ?settings.scan_freqs, "connecting");
                d.configured.insert(
                    req.id.clone(),
                    Configured {
                        net,
                        settings: settings.clone(),
                    },
                );
                d.target = Some(Target {
                    id: req.id.clone(),
                    net,
                    connected: false,
                    quick: !settings.scan_freqs.is_empty(),
                    freqs: settings.scan_freqs.clone(),
                    quick_until: Instant::now() + QUICK_WINDOW,
                });
                d.failures = 0;
                d.next_scan = None;
                if let Some(old) = previous {
                    self.l2(&old, L2State::Idle).await;
                }
                self.l2(&req.id, L2State::Associating).await;
            }
            Err(e) => {
                d.port_request = None;
                // A block that cannot be selected is not reused.
                d.configured.remove(&req.id);
                tracing::warn!(service = %req.id, error = %display_chain(&e), "connect: wpa_supplicant refused the network");
                self.l2(&req.id, L2State::Failed(ServiceError::ConnectFailed))
                    .await;
            }
        }
    }

    async fn disconnect(&mut self, id: &ServiceId) {
        let Some(d) = self.device_for(None, id) else {
            return;
        };
        if d.port_request.as_ref().is_some_and(|r| &r.id == id) {
            d.port_request = None;
            if d.target.is_none() {
                // It was waiting for wpa_supplicant.
                self.l2(id, L2State::Idle).await;
                return;
            }
        }
        if d.target.as_ref().is_none_or(|t| &t.id != id) {
            return;
        }
        let Some(t) = d.target.take() else { return };
        let authorized_port = t.connected && !d.is_radio();
        if authorized_port {
            if let Err(e) = d.supplicant.logoff().await {
                tracing::warn!(service = %id, error = %display_chain(&e), "802.1X logoff");
            }
        }
        if let Err(e) = d.supplicant.disable_network(t.net).await {
            tracing::warn!(service = %id, error = %display_chain(&e), "disable the network");
        }
        if authorized_port {
            if let Err(e) = d.supplicant.logon().await {
                tracing::warn!(service = %id, error = %display_chain(&e), "802.1X logon after the logoff");
            }
        }
        tracing::info!(service = %id, device = %d.name(), "disconnected");
        d.scan_delay = SCAN_MIN;
        d.next_scan = d.is_radio().then(|| Instant::now() + SCAN_MIN);
        self.l2(id, L2State::Idle).await;
    }

    async fn forget(&mut self, id: &ServiceId) {
        let Some(d) = self.device_for(None, id) else {
            return;
        };
        let was_target = d.target.as_ref().is_some_and(|t| &t.id == id);
        if was_target {
            d.target = None;
        }
        if d.port_request.as_ref().is_some_and(|r| &r.id == id) {
            d.port_request = None;
        }
        if let Some(Configured { net, .. }) = d.configured.remove(id) {
            if let Err(e) = d.supplicant.remove_network(net).await {
                tracing::warn!(service = %id, error = %display_chain(&e), "remove the network from wpa_supplicant");
            } else {
                tracing::info!(service = %id, %net, "network removed from wpa_supplicant");
            }
        }
        let ssid_of = d
            .announced
            .get(id)
            .and_then(|i| i.wifi.as_ref().map(|w| w.ssid.clone()));
        if let Some(ssid) = ssid_of {
            d.known_hidden.retain(|(s, _)| *s != ssid);
        }
        if was_target {
            self.l2(id, L2State::Idle).await;
        }
    }

    async fn scan(&mut self, token: ScanToken) {
        let mut waiting = BTreeSet::new();
        for d in self
            .devices
            .values()
            .filter(|d| d.is_radio() && d.available)
        {
            match d.supplicant.scan(&[]).await {
                Ok(()) => {
                    waiting.insert(d.ifindex());
                }
                // A scan is running already: its results answer this one too.
                Err(e) if e.to_string().contains("FAIL-BUSY") => {
                    waiting.insert(d.ifindex());
                }
                Err(e) => {
                    tracing::warn!(radio = %d.name(), error = %display_chain(&e), "scan");
                }
            }
        }
        if waiting.is_empty() || !self.powered {
            self.emit(Event::ScanDone {
                token,
                error: Some("no radio could scan".into()),
            })
            .await;
        } else {
            self.scans.push((token, waiting));
        }
    }

    async fn finish_scans(&mut self, radio: u32, error: Option<String>) {
        let mut done = Vec::new();
        self.scans.retain_mut(|(token, waiting)| {
            waiting.remove(&radio);
            let finished = waiting.is_empty();
            if finished {
                done.push(*token);
            }
            !finished
        });
        for token in done {
            self.emit(Event::ScanDone {
                token,
                error: error.clone(),
            })
            .await;
        }
    }

    async fn set_powered(&mut self, on: bool) {
        self.powered = on;
        let radios: Vec<u32> = self
            .devices
            .values()
            .filter(|d| d.is_radio())
            .map(Device::ifindex)
            .collect();
        for ifindex in radios {
            let Some(mut d) = self.devices.remove(&ifindex) else {
                continue;
            };
            if on {
                d.scan_delay = SCAN_MIN;
                d.next_scan = d.available.then(Instant::now);
                self.devices.insert(ifindex, d);
                // What is still in the BSS table is listed at once, before any connect the
                // engine decided meanwhile reports on it.
                self.refresh(ifindex).await;
                continue;
            } else {
                if let Some(t) = d.target.take() {
                    if let Err(e) = d.supplicant.disable_network(t.net).await {
                        tracing::warn!(radio = %d.name(), error = %display_chain(&e), "disable the network");
                    }
                    self.l2(&t.id, L2State::Idle).await;
                }
                self.withdraw(&mut d).await;
            }
            self.devices.insert(ifindex, d);
        }
    }

    async fn background_scans(&mut self) {
        let now = Instant::now();
        for d in self.devices.values_mut() {
            if d.next_scan.is_none_or(|at| at > now) {
                continue;
            }
            d.next_scan = None;
            if !d.available || !self.powered || d.target.as_ref().is_some_and(|t| t.connected) {
                continue;
            }
            match &d.target {
                // Looking for a network on its known channels (see NetworkNotFound).
                Some(t) if t.quick => match d.supplicant.scan(&t.freqs).await {
                    Ok(()) => d.own_scan = true,
                    Err(e) => {
                        tracing::debug!(radio = %d.name(), error = %display_chain(&e), "quick scan")
                    }
                },
                // Joining a network whose channels are unknown: every channel.
                Some(_) => {
                    match d.supplicant.scan(&[]).await {
                        Ok(()) => d.own_scan = true,
                        Err(e) => {
                            tracing::debug!(radio = %d.name(), error = %display_chain(&e), "background scan")
                        }
                    }
                    d.scan_delay = (d.scan_delay * 2).min(SCAN_MAX);
                }
                None => {
                    let first = match d.supplicant.scan(&BAND_2GHZ).await {
                        Ok(()) => Ok(true),
                        // Someone else's scan: its results bring the next background scan.
                        Err(e) if e.to_string().contains("FAIL-BUSY") => Err(e),
                        // No 2.4 GHz band: every channel at once.
                        Err(_) => d.supplicant.scan(&[]).await.map(|()| false),
                    };
                    match first {
                        Ok(split) => {
                            tracing::debug!(radio = %d.name(), next_in = ?d.scan_delay, split, "background scan");
                            d.own_scan = true;
                            d.full_scan_next = split;
                        }
                        Err(e) => {
                            tracing::debug!(radio = %d.name(), error = %display_chain(&e), "background scan")
                        }
                    }
                    d.scan_delay = (d.scan_delay * 2).min(SCAN_MAX);
                }
            }
        }
    }

    async fn on_ctrl(&mut self, ifindex: u32, event: CtrlEvent) {
        match event {
            CtrlEvent::Available { generation } => self.on_available(ifindex, generation).await,
            CtrlEvent::Unavailable(why) => {
                let Some(mut d) = self.devices.remove(&ifindex) else {
                    return;
                };
                tracing::warn!(device = %d.name(), reason = ?why, "wpa_supplicant unavailable");
                d.available = false;
                // A port stays authorized at the switch; it authenticates again as soon as
                // wpa_supplicant is back.
                if let Some(t) = d.target.take_if(|_| d.port_request.is_some()) {
                    self.l2(&t.id, L2State::Associating).await;
                }
                self.withdraw(&mut d).await;
                self.devices.insert(ifindex, d);
                self.report_technology().await;
            }
            CtrlEvent::Overflow { lost } => {
                tracing::warn!(
                    ifindex,
                    lost,
                    "wpa_supplicant events were lost; reading its state again"
                );
                self.refresh(ifindex).await;
            }
            CtrlEvent::Message(message) => {
                if let Some(event) = WpaEvent::from_message(&message) {
                    self.on_wpa(ifindex, event).await;
                }
            }
        }
    }

    async fn on_available(&mut self, ifindex: u32, generation: u64) {
        let country = self.country.clone();
        let powered = self.powered;
        let Some(d) = self.devices.get_mut(&ifindex) else {
            return;
        };
        tracing::info!(device = %d.name(), generation, "wpa_supplicant available");
        d.available = true;
        // A port's only network is the one netpilot writes again below.
        if generation != d.generation || !d.is_radio() {
            d.generation = generation;
            d.configured.clear();
            d.target = None;
            if let Err(e) = d.supplicant.remove_all_networks().await {
                tracing::warn!(device = %d.name(), error = %display_chain(&e), "remove the networks wpa_supplicant had");
            }
        }
        if d.is_radio() {
            if let Some(c) = &country {
                if let Err(e) = d.supplicant.set_country(c).await {
                    tracing::warn!(radio = %d.name(), error = %display_chain(&e), "set the regulatory country");
                }
            }
            if let Err(e) = d.supplicant.set_sae_pwe(SaePwe::Both).await {
                tracing::debug!(radio = %d.name(), error = %display_chain(&e), "set sae_pwe");
            }
            d.scan_delay = SCAN_MIN;
            d.next_scan = powered.then(Instant::now);
        } else if let Err(e) = d
            .supplicant
            .set_eapol_start_period(EAPOL_START_PERIOD)
            .await
        {
            tracing::warn!(device = %d.name(), error = %display_chain(&e), "set the EAPOL-Start period");
        }
        let port_request = d.port_request.clone();
        self.refresh(ifindex).await;
        self.report_technology().await;
        if let Some(req) = port_request {
            tracing::info!(service = %req.id, device = %self.devices.get(&ifindex).map_or("", |d| d.name()), "authenticating the port");
            self.connect(req).await;
        }
    }

    /// Reads the BSS table again and announces what changed.
    async fn refresh(&mut self, ifindex: u32) {
        let powered = self.powered;
        let Some(d) = self.devices.get_mut(&ifindex) else {
            return;
        };
        let Kind::Radio(radio) = d.kind.clone() else {
            return;
        };
        if !d.available || !powered {
            return;
        }
        let bsses = match d.supplicant.bss_list().await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(radio = %radio.name, error = %display_chain(&e), "read the BSS table");
                return;
            }
        };
        d.networks = networks::group(&bsses, &d.known_hidden);
        let mut now: BTreeMap<ServiceId, ServiceInfo> = d
            .networks
            .iter()
            .map(|n| {
                let info = networks::service_info(&radio, n);
                (info.id.clone(), info)
            })
            .collect();
        // The network being joined or in use stays listed even when its BSS ages out of
        // the table (while it is briefly out of range, or before a rejoin finds it), so
        // that the engine keeps its connection.
        if let Some(t) = d.target.as_ref() {
            if let Some(info) = d.announced.get(&t.id) {
                now.entry(t.id.clone()).or_insert_with(|| info.clone());
            }
        }
        let before = std::mem::replace(&mut d.announced, now.clone());
        let mut changes: Vec<Event> = before
            .keys()
            .filter(|id| !now.contains_key(*id))
            .map(|id| Event::ServiceGone(id.clone()))
            .collect();
        changes.extend(
            now.into_iter()
                .filter(|(id, info)| before.get(id) != Some(info))
                .map(|(_, info)| Event::Service(info)),
        );
        if !changes.is_empty() {
            self.emit(Event::Batch(changes)).await;
        }
    }

    async fn on_wpa(&mut self, ifindex: u32, event: WpaEvent) {
        let max = self.config.max_auth_attempts;
        let Some(d) = self.devices.get_mut(&ifindex) else {
            return;
        };
        match event {
            WpaEvent::ScanResults => {
                d.own_scan = false;
                let full = std::mem::take(&mut d.full_scan_next);
                let idle = d.target.is_none() && d.is_radio() && self.powered;
                self.refresh(ifindex).await;
                self.finish_scans(ifindex, None).await;
                if idle {
                    self.next_background_scan(ifindex, full).await;
                }
            }
            WpaEvent::ScanFailed { retry: false, ret } => {
                d.own_scan = false;
                d.full_scan_next = false;
                if d.target.is_none() && d.is_radio() && self.powered && d.next_scan.is_none() {
                    d.next_scan = Some(Instant::now() + d.scan_delay);
                }
                self.finish_scans(
                    ifindex,
                    Some(format!("the driver refused the scan ({ret:?})")),
                )
                .await;
            }
            WpaEvent::Connected { id, .. } => {
                let Some(t) = d.target.as_mut().filter(|t| id.is_none_or(|i| i == t.net)) else {
                    return;
                };
                t.connected = true;
                d.failures = 0;
                d.next_scan = None;
                let target = t.id.clone();
                // wpa_supplicant authorizes the port (nl80211) right after it sends
                // CTRL-EVENT-CONNECTED, in the same event-loop callback; until then the
                // kernel drops our data frames, and a DHCP message sent at once is lost
                // (its retransmission comes 4 s later). A request answered means that
                // callback is over.
                if let Err(e) = d.supplicant.ping().await {
                    tracing::debug!(device = %d.name(), error = %display_chain(&e), "ping after CTRL-EVENT-CONNECTED");
                }
                tracing::info!(service = %target, device = %d.name(), "L2 connected");
                self.l2(&target, L2State::Associated { ifindex }).await;
            }
            WpaEvent::Disconnected {
                reason,
                locally_generated,
                ..
            } => {
                let Some(t) = d.target.as_mut().filter(|t| t.connected) else {
                    return;
                };
                t.connected = false;
                t.quick_until = Instant::now() + QUICK_WINDOW;
                let target = t.id.clone();
                let radio = d.is_radio();
                tracing::info!(service = %target, reason, locally_generated, "L2 lost");
                // wpa_supplicant keeps looking for the network and rejoins it when it is
                // back; until then the service is out of range.
                let state = if radio {
                    L2State::Failed(ServiceError::OutOfRange)
                } else {
                    L2State::Associating
                };
                self.l2(&target, state).await;
            }
            WpaEvent::TempDisabled { id, reason, .. } => {
                let failure = match reason.as_str() {
                    "WRONG_KEY" => ServiceError::InvalidKey,
                    "AUTH_FAILED" => ServiceError::AuthFailed,
                    _ => return,
                };
                // A port counts its EAP failures instead (its retry disables the network,
                // which wpa_supplicant reports as this too).
                let Some(t) = d.target.as_ref().filter(|t| t.net == id && d.is_radio()) else {
                    return;
                };
                // Counted here: re-selecting the network resets wpa_supplicant's count.
                d.failures += 1;
                let (target, net) = (t.id.clone(), t.net);
                tracing::info!(service = %target, %reason, attempt = d.failures, of = max, "authentication failed");
                if d.failures >= max {
                    self.give_up(ifindex, failure).await;
                } else if let Err(e) = d.supplicant.select_network(net).await {
                    // Selecting clears wpa_supplicant's temporary disable (10 s and more), so
                    // the next attempt follows at once.
                    tracing::debug!(service = %target, error = %display_chain(&e), "retry");
                }
            }
            WpaEvent::EapFailure => {
                let Some(t) = d.target.as_ref() else { return };
                let target = t.id.clone();
                if d.is_radio() {
                    // SSID-TEMP-DISABLED reason=AUTH_FAILED follows and is counted.
                    tracing::info!(service = %target, "EAP failed");
                    return;
                }
                d.failures += 1;
                let net = t.net;
                tracing::info!(service = %target, attempt = d.failures, of = max, "802.1X authentication failed");
                if d.failures >= max {
                    self.give_up(ifindex, ServiceError::AuthFailed).await;
                } else {
                    // Left alone, wpa_supplicant holds the port for heldPeriod (60 s in IEEE
                    // 802.1X-2004), past any connect's deadline; selecting the network again
                    // alone does not leave HELD, disabling it first does.
                    let retry = match d.supplicant.disable_network(net).await {
                        Ok(()) => d.supplicant.select_network(net).await,
                        Err(e) => Err(e),
                    };
                    if let Err(e) = retry {
                        tracing::warn!(service = %target, error = %display_chain(&e), "802.1X: start the next attempt");
                    }
                }
            }
            WpaEvent::NetworkNotFound => {
                let Some(t) = d.target.as_mut().filter(|t| t.quick && !t.connected) else {
                    return;
                };
                // Not on its known channels: look again soon there (it may be back in a
                // moment: an access point restarting, a dead spot) ...
                if Instant::now() < t.quick_until {
                    d.next_scan = Some(Instant::now() + REJOIN_INTERVAL);
                    return;
                }
                // ... then let wpa_supplicant scan every channel from now on.
                t.quick = false;
                if let Some(c) = d.configured.get_mut(&t.id) {
                    c.settings.scan_freqs.clear();
                }
                let request = format!("SET_NETWORK {} scan_freq \"\"", t.net);
                if let Err(e) = d.supplicant.raw(&request).await {
                    tracing::debug!(error = %display_chain(&e), "widen the scan");
                }
            }
            WpaEvent::Terminating => {
                tracing::info!(device = %d.name(), "wpa_supplicant is terminating")
            }
            _ => {}
        }
    }

    /// After an idle radio's scan results: every channel after the 2.4 GHz part, else the
    /// next background scan after the backoff delay.
    async fn next_background_scan(&mut self, ifindex: u32, full: bool) {
        let Some(d) = self.devices.get_mut(&ifindex) else {
            return;
        };
        // A connect may have come in meanwhile.
        if d.target.is_some() {
            return;
        }
        if full {
            match d.supplicant.scan(&[]).await {
                Ok(()) => {
                    d.own_scan = true;
                    return;
                }
                Err(e) => {
                    tracing::debug!(radio = %d.name(), error = %display_chain(&e), "background scan of every channel")
                }
            }
        }
        d.next_scan = Some(Instant::now() + d.scan_delay);
    }

    /// Stops trying the current network after too many authentication failures.
    async fn give_up(&mut self, ifindex: u32, failure: ServiceError) {
        let Some(d) = self.devices.get_mut(&ifindex) else {
            return;
        };
        let Some(t) = d.target.take() else { return };
        d.port_request = None;
        if let Err(e) = d.supplicant.disable_network(t.net).await {
            tracing::warn!(service = %t.id, error = %display_chain(&e), "disable the network");
        }
        tracing::warn!(service = %t.id, error = %failure, attempts = d.failures, "giving up");
        d.failures = 0;
        if d.is_radio() {
            d.scan_delay = SCAN_MIN;
            d.next_scan = Some(Instant::now() + SCAN_MIN);
        }
        self.l2(&t.id, L2State::Failed(failure)).await;
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
