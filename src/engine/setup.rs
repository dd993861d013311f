//! The setup access point and tethering, carried out: after every step the engine gathers
//! the facts, asks [`crate::policy::setup`] whether the setup AP should run and on which
//! channel, and tells the access point backend ([`crate::setup`]) the difference. It also
//! runs connects submitted on the page (following them to `online` for the page), keeps
//! the tethering settings, and hides the AP's own address from readiness (the AP is not
//! connectivity).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::connect::ConnectArgs;
use super::handle::{Command, EngineHandle};
use super::manager::Manager;
use super::{EngineError, Event};
use crate::config::{ap_address, channel_frequency, Concurrency};
use crate::model::{
    ssid_display, validate_passphrase, validate_ssid, ApRole, ApState, Attempt, AttemptPhase,
    Credentials, Interface, Secret, ServiceId, ServiceState, SetupMode, SetupStatus, Technology,
    TechnologyKind, TetheringSettings,
};
use crate::policy::setup::{self as policy, Decision, Facts, Request as UserRequest, Station};
use crate::setup::radio::{self, Capabilities};
use crate::setup::{ApPlan, ApRadio, Event as SetupEvent, Request, SetupHandle};
use crate::store::Written;

type Reply<T> = oneshot::Sender<Result<T, EngineError>>;

/// First wait before an AP that failed to open is tried again; doubles up to
/// [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_secs(5);
const RETRY_MAX: Duration = Duration::from_secs(300);

/// What the setup and tethering API asks of the engine.
#[derive(Debug)]
pub(crate) enum SetupCommand {
    /// StartSetup.
    Start(Reply<SetupStatus>),
    /// StopSetup.
    Stop(Reply<SetupStatus>),
    /// A connect submitted on the setup page; answered once it started.
    Connect {
        id: String,
        credentials: Credentials,
        name: Option<Vec<u8>>,
        reply: Reply<()>,
    },
    /// UpdateTechnology's tethering fields; `None` keeps a setting.
    Tethering {
        kind: TechnologyKind,
        enabled: Option<bool>,
        identifier: Option<String>,
        passphrase: Option<Secret>,
        reply: Reply<Technology>,
    },
}

/// The radio the access point uses.
#[derive(Debug, Clone)]
struct RadioInfo {
    radio: ApRadio,
    /// From the backend's probe; `None` while it runs.
    caps: Option<Capabilities>,
}

/// The access point as the engine asked for it.
#[derive(Debug, Clone, Default)]
struct ApView {
    state: ApState,
    role: ApRole,
    generation: u64,
    plan: Option<ApPlan>,
    interface: Option<String>,
    frequency: Option<u32>,
    retuning: Option<u32>,
}

/// A connect from the page that waits for the AP to move to its channel first.
struct Pending {
    id: ServiceId,
    frequency: u32,
    args: ConnectArgs,
}

/// The engine's setup and tethering state.
pub(super) struct SetupState {
    handle: SetupHandle,
    reports: super::EventSender<SetupEvent>,
    started: Instant,
    last_loss: Option<Instant>,
    connected: usize,
    request: UserRequest,
    attempt: Option<Attempt>,
    pending: Option<Pending>,
    page_seen: Option<Instant>,
    retry_started: Option<Instant>,
    radio: Option<RadioInfo>,
    ap: ApView,
    clients: BTreeSet<String>,
    error: Option<String>,
    failures: u32,
    blocked_until: Option<Instant>,
    decision: Option<Decision>,
    tethering: TetheringSettings,
    tick_at: Option<Instant>,
    /// The Wi-Fi service the station uses, its state and since when.
    station: Option<(ServiceId, ServiceState, Instant)>,
    /// Wi-Fi favorites may connect by themselves (the last decision).
    pub autoconnect_wifi: bool,
}

impl SetupState {
    /// Nothing open; `tethering` as stored.
    pub fn new(
        handle: SetupHandle,
        reports: super::EventSender<SetupEvent>,
        tethering: TetheringSettings,
    ) -> Self {
        SetupState {
            handle,
            reports,
            started: Instant::now(),
            last_loss: None,
            connected: 0,
            request: UserRequest::None,
            attempt: None,
            pending: None,
            page_seen: None,
            retry_started: None,
            radio: None,
            ap: ApView::default(),
            clients: BTreeSet::new(),
            error: None,
            failures: 0,
            blocked_until: None,
            decision: None,
            tethering,
            tick_at: None,
            station: None,
            autoconnect_wifi: true,
        }
    }

    /// Whether `name` is the access point's own interface (not a radio to drive).
    pub fn owns_interface(&self, name: &str) -> bool {
        radio::is_ap_interface(name)
    }

    /// Takes the AP's own address out of `interfaces`, so that it does not count as
    /// connectivity (readiness, L4 events).
    pub fn hide_ap_address(&self, interfaces: &mut [Interface]) {
        let (Some(name), Some(plan)) = (&self.ap.interface, &self.ap.plan) else {
            return;
        };
        if self.ap.state == ApState::Closed {
            return;
        }
        for i in interfaces.iter_mut().filter(|i| &i.name == name) {
            i.addresses
                .retain(|a| a.address != std::net::IpAddr::V4(plan.address));
        }
    }

    /// Tethering on, and its name.
    pub fn tethering(&self) -> (bool, Option<String>) {
        (self.tethering.enabled, self.tethering.identifier.clone())
    }
}

/// ConnMan's error word of a failed connect.
fn reason_of(e: &EngineError) -> String {
    match e {
        EngineError::ConnectFailed { reason, .. }
        | EngineError::FailedPrecondition { reason, .. } => (*reason).to_string(),
        EngineError::Timeout { .. } => "connect-failed".into(),
        EngineError::Canceled(_) => "Canceled".into(),
        EngineError::Aborted(_) => "Aborted".into(),
        EngineError::NotFound { .. } => "NotFound".into(),
        EngineError::InvalidArgument { .. } => "InvalidArguments".into(),
        EngineError::PermissionDenied(_) => "PermissionDenied".into(),
        EngineError::AlreadyExists(_) => "AlreadyExists".into(),
        EngineError::ResourceExhausted(_) => "ResourceExhausted".into(),
        EngineError::Store(_) | EngineError::Stopped => "Failed".into(),
    }
}

/// The SSID from `[setup] ssid`: `{hostname}` and `{mac}` replaced, cut to 32 bytes on a
/// character boundary.
pub fn render_ssid(template: &str, hostname: &str, mac: [u8; 6]) -> Vec<u8> {
    let host = if hostname.is_empty() {
        "netpilot"
    } else {
        hostname
    };
    let text = template
        .replace("{hostname}", host)
        .replace("{mac}", &format!("{:02X}{:02X}", mac[4], mac[5]));
    let mut end = text.len().min(crate::model::SSID_MAX);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.as_bytes()[..end].to_vec()
}

impl Manager {
    pub(super) fn on_setup_command(&mut self, command: SetupCommand) {
        match command {
            SetupCommand::Start(reply) => {
                let result = if self.config.setup.mode == SetupMode::Off {
                    Err(EngineError::FailedPrecondition {
                        reason: "NotSupported",
                        message: "the setup access point is off ([setup] mode = \"off\")".into(),
                    })
                } else {
                    tracing::info!("setup access point asked for (StartSetup)");
                    self.setup.request = UserRequest::Start;
                    self.step();
                    Ok(self.published.setup.clone())
                };
                let _ = reply.send(result);
            }
            SetupCommand::Stop(reply) => {
                tracing::info!(
                    "setup access point stopped (StopSetup): closed until the next loss"
                );
                self.setup.request = UserRequest::Stop;
                self.step();
                let _ = reply.send(Ok(self.published.setup.clone()));
            }
            SetupCommand::Connect {
                id,
                credentials,
                name,
                reply,
            } => {
                let _ = reply.send(self.setup_connect(&id, credentials, name));
                self.step();
            }
            SetupCommand::Tethering {
                kind,
                enabled,
                identifier,
                passphrase,
                reply,
            } => {
                let result = self.update_tethering(kind, enabled, identifier, passphrase);
                super::commands::reply_when_written(reply, result.map(|(t, w)| (t, Some(w))));
            }
        }
    }

    fn setup_connect(
        &mut self,
        id: &str,
        credentials: Credentials,
        name: Option<Vec<u8>>,
    ) -> Result<(), EngineError> {
        self.connection_mut(id)?;
        let sid = ServiceId(id.to_string());
        let entry = &self.services[&sid];
        if entry.info.technology != TechnologyKind::Wifi {
            return Err(EngineError::InvalidArgument {
                field: "service".into(),
                message: format!("{id} is not a Wi-Fi network"),
            });
        }
        let shown = match (&name, &entry.info.wifi) {
            (Some(n), _) => ssid_display(n),
            (None, Some(w)) if !w.ssid.is_empty() => ssid_display(&w.ssid),
            _ => entry.info.name.clone(),
        };
        let frequency = entry.info.wifi.as_ref().map_or(0, |w| w.frequency);
        tracing::info!(service = %sid, "credentials submitted on the setup page");
        self.extra_events
            .push(Event::SetupCredentialsSubmitted { id: sid.clone() });
        self.setup.attempt = Some(Attempt {
            service: sid.clone(),
            name: shown,
            phase: AttemptPhase::Connecting,
        });
        let args = ConnectArgs {
            timeout: None,
            credentials,
            name,
        };
        let single_channel = self
            .setup
            .radio
            .as_ref()
            .and_then(|r| r.caps.as_ref())
            .is_some_and(|c| c.concurrent && c.channels <= 1);
        let ap_on = self.setup.ap.state == ApState::Open && self.setup_concurrent();
        if single_channel && ap_on && frequency > 0 && self.setup.ap.frequency != Some(frequency) {
            // The station can join only on the AP's channel: move the AP first.
            tracing::info!(service = %sid, frequency, "moving the access point to the network's channel first");
            self.setup.ap.retuning = Some(frequency);
            self.setup.handle.send(Request::Retune(frequency));
            self.setup.pending = Some(Pending {
                id: sid,
                frequency,
                args,
            });
        } else {
            self.start_attempt(sid, args);
        }
        Ok(())
    }

    fn start_attempt(&mut self, id: ServiceId, args: ConnectArgs) {
        let (tx, rx) = oneshot::channel();
        self.connect(&id.0, args, tx);
        let reports = self.setup.reports.clone();
        tokio::spawn(async move {
            let result = match rx.await {
                Ok(Ok(service)) => Ok(service.id),
                Ok(Err(e)) => Err((reason_of(&e), e.to_string())),
                Err(_) => Err(("Failed".to_string(), "the connect was dropped".to_string())),
            };
            let _ = reports
                .send(SetupEvent::AttemptDone {
                    service: id,
                    result: result.map(|_| ()),
                })
                .await;
        });
    }

    fn update_tethering(
        &mut self,
        kind: TechnologyKind,
        enabled: Option<bool>,
        identifier: Option<String>,
        passphrase: Option<Secret>,
    ) -> Result<(Technology, Written), EngineError> {
        if kind != TechnologyKind::Wifi {
            return Err(EngineError::FailedPrecondition {
                reason: "NotSupported",
                message: format!("tethering over {kind} is not built; Wi-Fi tethering is"),
            });
        }
        if let Some(id) = &identifier {
            validate_ssid("tethering_identifier", id.as_bytes()).map_err(|e| {
                EngineError::InvalidArgument {
                    field: e.field,
                    message: e.message,
                }
            })?;
        }
        if let Some(p) = &passphrase {
            validate_passphrase("tethering_passphrase", p.expose()).map_err(|e| {
                EngineError::InvalidArgument {
                    field: e.field,
                    message: e.message,
                }
            })?;
        }
        let mut settings = self.setup.tethering.clone();
        if let Some(on) = enabled {
            settings.enabled = on;
        }
        if identifier.is_some() {
            settings.identifier = identifier;
        }
        if passphrase.is_some() {
            settings.passphrase = passphrase;
        }
        if settings.enabled && settings.passphrase.is_none() {
            return Err(EngineError::FailedPrecondition {
                reason: "passphrase-required",
                message: "Wi-Fi tethering needs a passphrase: set tethering_passphrase (8..63 \
                          characters)"
                    .into(),
            });
        }
        let written = self.store.save_tethering(&settings);
        if settings.enabled != self.setup.tethering.enabled {
            tracing::info!(enabled = settings.enabled, "tethering");
        }
        self.setup.tethering = settings;
        self.step();
        let technology = self.published.technology(kind).cloned().ok_or_else(|| {
            EngineError::FailedPrecondition {
                reason: "NotSupported",
                message: format!("{kind} has no device netpilot manages"),
            }
        })?;
        Ok((technology, written))
    }

    pub(super) fn on_setup_event(&mut self, event: SetupEvent) {
        let now = Instant::now();
        match event {
            SetupEvent::Probed { ifindex, result } => {
                if let Some(r) = self
                    .setup
                    .radio
                    .as_mut()
                    .filter(|r| r.radio.ifindex == ifindex)
                {
                    r.caps = Some(result.unwrap_or_else(|e| {
                        tracing::warn!(error = %e, "the radio's capabilities are unknown; assuming no AP beside the station");
                        Capabilities {
                            phy: String::new(),
                            concurrent: false,
                            channels: 1,
                        }
                    }));
                }
            }
            SetupEvent::Opened { generation, .. }
            | SetupEvent::Closed { generation }
            | SetupEvent::Lost { generation, .. }
            | SetupEvent::Retuned { generation, .. }
                if generation != self.setup.ap.generation =>
            {
                tracing::debug!(
                    generation,
                    current = self.setup.ap.generation,
                    "report about an earlier access point"
                );
                if let Some(p) = self.setup.pending.take() {
                    self.start_attempt(p.id, p.args);
                }
            }
            SetupEvent::Opened {
                interface,
                frequency,
                ..
            } => {
                self.setup.ap.state = ApState::Open;
                self.setup.ap.interface = Some(interface);
                self.setup.ap.frequency = Some(frequency);
                self.setup.error = None;
                self.setup.failures = 0;
                self.setup.blocked_until = None;
            }
            SetupEvent::Closed { .. } => {}
            SetupEvent::Lost { error, .. } => {
                let was = self.setup.ap.state;
                self.setup.ap = ApView {
                    generation: self.setup.ap.generation,
                    ..ApView::default()
                };
                self.setup.clients.clear();
                if was != ApState::Closed {
                    let delay = RETRY_MIN
                        .saturating_mul(1 << self.setup.failures.min(6))
                        .min(RETRY_MAX);
                    self.setup.failures += 1;
                    self.setup.blocked_until = Some(now + delay);
                    tracing::warn!(%error, retry_in = ?delay, "access point lost");
                    self.setup.error = Some(error);
                    self.schedule_tick(delay);
                }
                if let Some(p) = self.setup.pending.take() {
                    self.start_attempt(p.id, p.args);
                }
            }
            SetupEvent::Retuned { frequency, .. } => {
                self.setup.ap.frequency = Some(frequency);
                self.setup.ap.retuning = None;
                if let Some(p) = self.setup.pending.take() {
                    if p.frequency != frequency {
                        tracing::debug!(
                            wanted = p.frequency,
                            frequency,
                            "access point moved elsewhere"
                        );
                    }
                    self.start_attempt(p.id, p.args);
                }
            }
            SetupEvent::ClientJoined(mac) => {
                self.setup.clients.insert(mac.clone());
                self.extra_events.push(Event::SetupClientJoined { mac });
            }
            SetupEvent::ClientLeft(mac) => {
                self.setup.clients.remove(&mac);
            }
            SetupEvent::PageSeen => self.setup.page_seen = Some(now),
            SetupEvent::Tick => {
                self.setup.tick_at = None;
            }
            SetupEvent::AttemptDone { service, result } => {
                if let Some(a) = self.setup.attempt.as_mut().filter(|a| a.service == service) {
                    a.phase = match result {
                        Ok(()) => AttemptPhase::Ready,
                        Err((reason, message)) => {
                            tracing::info!(%service, %reason, "connect from the setup page failed");
                            AttemptPhase::Failed { reason, message }
                        }
                    };
                }
            }
        }
    }

    /// Wakes the engine after `delay` (the earliest of the pending wake-ups wins).
    fn schedule_tick(&mut self, delay: Duration) {
        let at = Instant::now() + delay;
        if self.setup.tick_at.is_some_and(|t| t <= at) {
            return;
        }
        self.setup.tick_at = Some(at);
        let reports = self.setup.reports.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = reports.send(SetupEvent::Tick).await;
        });
    }

    fn setup_concurrent(&self) -> bool {
        self.config.setup.concurrency == Concurrency::Auto
            && self
                .setup
                .radio
                .as_ref()
                .and_then(|r| r.caps.as_ref())
                .is_some_and(|c| c.concurrent)
    }

    /// Keeps the radio the AP would use current and probed.
    fn setup_radio(&mut self) -> Option<RadioInfo> {
        let wifi_usable = self
            .technologies
            .get(&TechnologyKind::Wifi)
            .is_some_and(|t| t.present && t.available && t.powered);
        let first = self.devices.0.first().cloned().filter(|_| wifi_usable);
        match (first, &self.setup.radio) {
            (None, _) => {
                self.setup.radio = None;
                None
            }
            (Some(r), Some(known)) if known.radio.ifindex == r.ifindex => Some(known.clone()),
            (Some(r), _) => {
                let radio = ApRadio {
                    ifindex: r.ifindex,
                    name: r.name.clone(),
                    mac: r.mac,
                };
                self.setup.handle.send(Request::Probe(radio.clone()));
                let info = RadioInfo { radio, caps: None };
                self.setup.radio = Some(info.clone());
                Some(info)
            }
        }
    }

    /// Decides and carries out; returns whether the published setup status changes.
    pub(super) fn setup_step(&mut self) -> bool {
        let now = Instant::now();
        let before = self.setup_status();
        let services = self.published.services.clone();
        let connected = services.iter().filter(|s| s.state.is_connected()).count();
        if connected < self.setup.connected {
            self.setup.last_loss = Some(now);
            if self.setup.request == UserRequest::Stop {
                self.setup.request = UserRequest::None;
            }
        }
        self.setup.connected = connected;
        let radio = self.setup_radio();
        let caps = radio.as_ref().and_then(|r| r.caps.clone());
        let concurrent = self.setup_concurrent();
        let on_radio = |s: &&crate::model::Service| {
            s.technology == TechnologyKind::Wifi
                && radio
                    .as_ref()
                    .is_some_and(|r| r.radio.name == s.interface || s.interface.is_empty())
        };
        // The station: the Wi-Fi service connected or connecting, the first in order.
        let station_service = services
            .iter()
            .filter(on_radio)
            .find(|s| s.state.is_connected() || s.state.is_connecting());
        let key = station_service.map(|s| (s.id.clone(), s.state));
        if key.as_ref()
            != self
                .setup
                .station
                .as_ref()
                .map(|(i, s, _)| (i.clone(), *s))
                .as_ref()
        {
            self.setup.station = key.map(|(i, s)| (i, s, now));
        }
        let station = match &self.setup.station {
            Some((_, ServiceState::Online, since)) => Station::Online(now - *since),
            Some((_, ServiceState::Ready, since)) => Station::Ready(now - *since),
            Some(_) => Station::Connecting,
            None => Station::Idle,
        };
        if let Some(a) = self.setup.attempt.as_mut() {
            let state = services.iter().find(|s| s.id == a.service).map(|s| s.state);
            if a.phase == AttemptPhase::Ready && state == Some(ServiceState::Online) {
                a.phase = AttemptPhase::Online;
            }
        }
        let attempt_running = self.setup.pending.is_some()
            || matches!(
                self.setup.attempt.as_ref().map(|a| &a.phase),
                Some(AttemptPhase::Connecting)
            );
        let page_idle = Duration::from_secs(self.config.setup.page_idle);
        let phone = self
            .setup
            .page_seen
            .is_some_and(|t| now.duration_since(t) < page_idle);
        let known_in_range = services.iter().filter(on_radio).any(|s| {
            s.favorite && s.autoconnect && s.error.is_none_or(crate::model::ServiceError::retryable)
        });
        let facts = Facts {
            mode: self.config.setup.mode,
            radio: caps.is_some(),
            tethering: self.setup.tethering.enabled,
            request: self.setup.request,
            other_ready: services
                .iter()
                .any(|s| s.state.is_connected() && policy::other_technology(s.technology)),
            station,
            since_loss: now.duration_since(self.setup.last_loss.unwrap_or(self.setup.started)),
            grace: Duration::from_secs(self.config.setup.grace),
            validate: Duration::from_secs(self.config.setup.validate_timeout),
            open: self.setup.ap.state != ApState::Closed && self.setup.ap.role == ApRole::Setup,
            concurrent,
            attempt: attempt_running,
            phone,
            known_in_range,
            since_retry: self.setup.retry_started.map(|t| now.duration_since(t)),
            retry_interval: Duration::from_secs(self.config.setup.retry_interval),
        };
        let decision = policy::decide(&facts);
        if self.setup.decision.map(|d| (d.open, d.reason)) != Some((decision.open, decision.reason))
        {
            tracing::info!(
                open = decision.open,
                reason = decision.reason.as_str(),
                "setup access point decision"
            );
        }
        if decision.start_retry {
            self.setup.retry_started = Some(now);
            tracing::info!("closing the setup access point for a while to try known networks");
        }
        if matches!(
            decision.reason,
            crate::model::SetupReason::WifiValidated | crate::model::SetupReason::OtherReady
        ) && self.setup.request == UserRequest::Start
        {
            self.setup.request = UserRequest::None;
        }
        self.setup.decision = Some(decision);
        self.setup.autoconnect_wifi = decision.autoconnect_wifi;
        if let Some(d) = decision.recheck {
            self.schedule_tick(d + Duration::from_millis(20));
        }
        let wanted = if self.setup.tethering.enabled && caps.is_some() {
            Some(ApRole::Tethering)
        } else if decision.open {
            Some(ApRole::Setup)
        } else {
            None
        };
        self.carry_out(wanted, radio, caps, &services, decision.autoconnect_wifi);
        self.setup_status() != before
    }

    fn carry_out(
        &mut self,
        wanted: Option<ApRole>,
        radio: Option<RadioInfo>,
        caps: Option<Capabilities>,
        services: &[crate::model::Service],
        autoconnect: bool,
    ) {
        let now = Instant::now();
        let ap = self.setup.ap.clone();
        let (Some(role), Some(radio), Some(caps)) = (wanted, radio, caps) else {
            if ap.state != ApState::Closed {
                tracing::info!(role = ap.role.as_str(), "closing the access point");
                self.setup.handle.send(Request::Close);
                self.setup.ap = ApView {
                    generation: ap.generation,
                    ..ApView::default()
                };
                self.setup.clients.clear();
            }
            return;
        };
        let concurrent = self.setup_concurrent();
        let networks: Vec<policy::WifiNetwork> = services
            .iter()
            .filter(|s| s.technology == TechnologyKind::Wifi)
            .map(|s| policy::WifiNetwork {
                frequency: s.wifi.as_ref().map_or(0, |w| w.frequency),
                state: s.state,
                error: s.error,
                known: s.favorite && s.autoconnect,
                attempt: self.setup.pending.as_ref().is_some_and(|p| p.id == s.id),
            })
            .collect();
        let default = channel_frequency(self.config.setup.channel).unwrap_or(2412);
        let channels = if concurrent { caps.channels } else { 2 };
        let frequency = policy::ap_frequency(
            &networks,
            autoconnect,
            channels,
            ap.frequency.or(ap.plan.as_ref().map(|p| p.frequency)),
            default,
        );
        let same = ap.state != ApState::Closed && ap.role == role;
        if same {
            if ap.state == ApState::Open
                && ap.frequency != Some(frequency)
                && ap.retuning.is_none()
                && self.setup.pending.is_none()
            {
                tracing::info!(from = ?ap.frequency, to = frequency, "moving the access point to the station's channel");
                self.setup.ap.retuning = Some(frequency);
                self.setup.handle.send(Request::Retune(frequency));
            }
            return;
        }
        if self.setup.blocked_until.is_some_and(|t| t > now) {
            return;
        }
        let Some(plan) = self.ap_plan(role, &radio.radio, concurrent, frequency) else {
            return;
        };
        tracing::info!(role = role.as_str(), interface = %radio.radio.name, concurrent, frequency, "opening the access point");
        self.setup
            .handle
            .send(Request::Open(Box::new(plan.clone())));
        self.setup.clients.clear();
        self.setup.ap = ApView {
            state: ApState::Opening,
            role,
            generation: self.setup.ap.generation + 1,
            interface: Some(if concurrent {
                radio::ap_interface_name(radio.radio.ifindex)
            } else {
                radio.radio.name.clone()
            }),
            frequency: None,
            plan: Some(plan),
            retuning: None,
        };
    }

    fn ap_plan(
        &self,
        role: ApRole,
        radio: &ApRadio,
        concurrent: bool,
        frequency: u32,
    ) -> Option<ApPlan> {
        let (ssid, passphrase, address) = match role {
            ApRole::Setup => (
                render_ssid(&self.config.setup.ssid, &self.hostname, radio.mac),
                self.config.setup.passphrase.clone(),
                &self.config.setup.address,
            ),
            ApRole::Tethering => (
                self.setup
                    .tethering
                    .identifier
                    .clone()
                    .map(String::into_bytes)
                    .unwrap_or_else(|| render_ssid("{hostname}", &self.hostname, radio.mac)),
                self.setup.tethering.passphrase.clone(),
                &self.config.tethering.address,
            ),
        };
        let (address, prefix) = match ap_address(address) {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(error = %e, "access point address");
                return None;
            }
        };
        Some(ApPlan {
            role,
            radio: radio.clone(),
            concurrent,
            ssid,
            passphrase,
            address,
            prefix,
            frequency,
            generation: self.setup.ap.generation + 1,
        })
    }

    /// The setup status the API shows.
    pub(super) fn setup_status(&self) -> SetupStatus {
        let s = &self.setup;
        let plan = s.ap.plan.as_ref().filter(|_| s.ap.state != ApState::Closed);
        SetupStatus {
            state: s.ap.state,
            role: s.ap.role,
            reason: s.decision.map(|d| d.reason).unwrap_or_default(),
            mode: self.config.setup.mode,
            ssid: plan.map(|p| ssid_display(&p.ssid)),
            interface: plan.and(s.ap.interface.clone()),
            address: plan.map(|p| (p.address, p.prefix)),
            frequency: plan.and(s.ap.frequency),
            portal_url: plan
                .map(|p| crate::portal::page_url(p.address, self.config.setup.portal_port)),
            clients: s.clients.iter().cloned().collect(),
            concurrent: s
                .radio
                .as_ref()
                .and_then(|r| r.caps.as_ref())
                .map(|c| c.concurrent && self.config.setup.concurrency == Concurrency::Auto),
            error: s.error.clone(),
            attempt: s.attempt.clone(),
        }
    }
}

impl EngineHandle {
    async fn setup_call<T>(
        &self,
        make: impl FnOnce(Reply<T>) -> SetupCommand,
    ) -> Result<T, EngineError> {
        self.call(|reply| Command::Setup(make(reply))).await
    }

    /// StartSetup: opens the setup access point (until a link validates, or StopSetup);
    /// returns the status after the decision. FAILED_PRECONDITION when `[setup] mode` is
    /// off.
    pub async fn start_setup(&self) -> Result<SetupStatus, EngineError> {
        self.setup_call(SetupCommand::Start).await
    }

    /// StopSetup: closes the setup access point until the next loss of a ready service.
    pub async fn stop_setup(&self) -> Result<SetupStatus, EngineError> {
        self.setup_call(SetupCommand::Stop).await
    }

    /// A connect submitted on the setup page: checked and started, then followed in the
    /// setup status's `attempt`. NOT_FOUND for an unknown service.
    pub async fn setup_connect(
        &self,
        id: String,
        credentials: Credentials,
        name: Option<Vec<u8>>,
    ) -> Result<(), EngineError> {
        self.setup_call(|reply| SetupCommand::Connect {
            id,
            credentials,
            name,
            reply,
        })
        .await
    }

    /// Tethering on or off, its name (SSID, 1..=32 bytes) and passphrase (8..63 printable
    /// ASCII or 64 hex digits; write-only), kept across restarts; resolves once stored.
    /// `passphrase-required` when turned on without a passphrase.
    pub async fn update_tethering(
        &self,
        kind: TechnologyKind,
        enabled: Option<bool>,
        identifier: Option<String>,
        passphrase: Option<Secret>,
    ) -> Result<Technology, EngineError> {
        self.setup_call(|reply| SetupCommand::Tethering {
            kind,
            enabled,
            identifier,
            passphrase,
            reply,
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssid_template() {
        let mac = [2, 0, 0, 0, 0x1a, 0x2b];
        assert_eq!(render_ssid("{hostname}-{mac}", "robot", mac), b"robot-1A2B");
        assert_eq!(render_ssid("{hostname}-{mac}", "", mac), b"netpilot-1A2B");
        let long = render_ssid("{hostname}", &"é".repeat(20), mac);
        assert!(
            long.len() <= 32 && std::str::from_utf8(&long).is_ok(),
            "cut on a boundary"
        );
    }
}
