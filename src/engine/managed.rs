//! Managed links: what netpilot does on each link it configures, driven level-triggered
//! after every input (DESIGN §2: the engine decides, backends act).
//!
//! Zephyr conn_mgr semantics: a connect has a timeout; giving up puts the service in
//! `failure` with `connect-failed`, emits a timeout event and, if configured, sets the link
//! admin-down. `autoconnect` is persistence: after an unintended loss (carrier off, lease
//! lost, failure) the service reconnects with backoff; after an explicit Disconnect it does
//! not until the next Connect.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use super::{EngineError, Event};
use crate::config::{Config, OnlineCheckMode};
use crate::model::{Ipv4Config, Lease, ReportKey, Service, ServiceConfig, ServiceId};
use crate::net::dhcp::{DhcpClient, DhcpParams, DhcpReport};
use crate::net::online::{CheckParams, OnlineCheck, OnlineReport, ProbeResult};
use crate::tech::ethernet::Management;

/// What the user last asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Intent {
    /// Follow `autoconnect`.
    Auto,
    /// ConnectService: connect even without autoconnect.
    Connect,
    /// DisconnectService: stay disconnected until the next Connect.
    Disconnected,
}

/// Timers the engine sets for itself.
#[derive(Debug)]
pub(super) enum TimerKind {
    /// The connect timeout ran out.
    ConnectTimeout,
    /// Time to retry after a failure.
    Retry,
}

/// A timer that fired.
#[derive(Debug)]
pub(super) struct Timer {
    pub service: ServiceId,
    pub generation: u64,
    pub kind: TimerKind,
}

pub(super) type ConnectReply = oneshot::Sender<Result<Service, EngineError>>;

/// Senders backends and timers report on.
#[derive(Clone)]
pub(super) struct Reporters {
    pub dhcp: mpsc::Sender<DhcpReport>,
    pub online: mpsc::Sender<OnlineReport>,
    pub timers: mpsc::Sender<Timer>,
}

/// One managed link.
pub(super) struct Managed {
    pub id: ServiceId,
    pub ifindex: u32,
    pub ifname: String,
    pub mac: [u8; 6],
    /// The link's MTU when netpilot took it over; restored when no lease sets one.
    pub original_mtu: u32,
    pub config: ServiceConfig,
    pub intent: Intent,
    /// Policy lets this technology connect (single_connected_technology).
    pub allowed: bool,
    dhcp: Option<DhcpClient>,
    dhcp_generation: u64,
    pub lease: Option<Lease>,
    pub failure: Option<&'static str>,
    /// Set admin-down after a connect timeout (config `connect.admin_down_on_timeout`).
    pub admin_down: bool,
    pub online: bool,
    pub portal: Option<String>,
    pub warning: Option<&'static str>,
    check: Option<OnlineCheck>,
    check_generation: u64,
    check_failures: u32,
    /// Armed connect timeout: its generation and length.
    deadline: Option<(u64, Duration)>,
    /// Timeout asked by a pending ConnectService, used for the next arming.
    requested_timeout: Option<Duration>,
    pending: Vec<ConnectReply>,
    retry_delay: Duration,
    /// Generation of the armed retry timer.
    retry: Option<u64>,
    generation: u64,
}

/// Link facts `drive` needs.
#[derive(Debug, Clone, Copy)]
pub(super) struct LinkFacts {
    pub admin_up: bool,
    pub oper_up: bool,
}

fn spawn_timer(
    timers: &mpsc::Sender<Timer>,
    service: ServiceId,
    generation: u64,
    kind: TimerKind,
    after: Duration,
) {
    let timers = timers.clone();
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        let _ = timers
            .send(Timer {
                service,
                generation,
                kind,
            })
            .await;
    });
}

impl Managed {
    pub fn new(
        id: ServiceId,
        ifindex: u32,
        ifname: String,
        mac: [u8; 6],
        original_mtu: u32,
        config: ServiceConfig,
        retry_min: Duration,
    ) -> Self {
        Managed {
            id,
            ifindex,
            ifname,
            mac,
            original_mtu,
            config,
            intent: Intent::Auto,
            allowed: true,
            dhcp: None,
            dhcp_generation: 0,
            lease: None,
            failure: None,
            admin_down: false,
            online: false,
            portal: None,
            warning: None,
            check: None,
            check_generation: 0,
            check_failures: 0,
            deadline: None,
            requested_timeout: None,
            pending: Vec::new(),
            retry_delay: retry_min,
            retry: None,
            generation: 0,
        }
    }

    /// netpilot wants this service connected.
    pub fn wanted(&self) -> bool {
        match self.intent {
            Intent::Auto => self.config.autoconnect && self.allowed,
            Intent::Connect => true,
            Intent::Disconnected => false,
        }
    }

    /// Connecting or connected right now: wanted, not failed, link has carrier.
    pub fn active(&self, link: LinkFacts) -> bool {
        self.wanted() && self.failure.is_none() && !self.admin_down && link.oper_up
    }

    /// The view `tech::ethernet` derives the service from.
    pub fn management(&self) -> Management<'_> {
        Management {
            config: &self.config,
            lease: self.lease.as_ref(),
            wanted: self.wanted() && !self.admin_down,
            failure: self.failure,
            online: self.online,
            warning: self.warning,
            portal: self.portal.as_deref(),
        }
    }

    fn next_generation(&mut self) -> u64 {
        self.generation += 1;
        self.generation
    }

    fn stop_dhcp(&mut self, release: bool) {
        self.lease = None;
        if let Some(client) = self.dhcp.take() {
            tokio::spawn(async move {
                client.stop(release).await;
            });
        }
    }

    fn stop_check(&mut self) {
        self.check = None;
        self.online = false;
        self.portal = None;
        self.warning = None;
        self.check_failures = 0;
    }

    fn answer_pending(&mut self, result: Result<Service, EngineError>) {
        for reply in self.pending.drain(..) {
            let _ = reply.send(result.clone());
        }
    }

    /// Brings the backends in line with the wanted state. `service` is the service as just
    /// published. Returns true when something visible changed (publish again).
    pub fn drive(
        &mut self,
        link: LinkFacts,
        service: &Service,
        config: &Config,
        hostname: &str,
        reporters: &Reporters,
    ) -> bool {
        let mut changed = false;
        // Carrier lost while admin-up: an unintended loss; a failure from before is moot.
        if link.admin_up && !link.oper_up && self.failure.is_some() {
            self.failure = None;
            changed = true;
        }
        let active = self.active(link);
        let wants_dhcp = active && self.config.ipv4 == Ipv4Config::Dhcp;
        if wants_dhcp && self.dhcp.is_none() {
            let generation = self.next_generation();
            self.dhcp_generation = generation;
            let dhcp_dir = config.state_dir.join("dhcp");
            let params = DhcpParams {
                ifindex: self.ifindex,
                ifname: self.ifname.clone(),
                mac: self.mac,
                hostname: hostname.to_string(),
                key: ReportKey {
                    service: self.id.clone(),
                    generation,
                },
                vendor_class: config.dhcp.vendor_class.clone(),
                client_id: config.dhcp.client_id,
                duid_file: dhcp_dir.join("duid"),
                lease_file: Some(dhcp_dir.join(format!("{}.lease", self.id))),
                classless_routes: config.dhcp.classless_routes,
                arp_check: config.dhcp.arp_check,
            };
            tracing::info!(service = %self.id, interface = %self.ifname, "starting DHCP");
            self.dhcp = Some(DhcpClient::start(params, reporters.dhcp.clone()));
        } else if !wants_dhcp && self.dhcp.is_some() {
            let release = self.intent == Intent::Disconnected;
            self.stop_dhcp(release);
            changed = true;
        }
        if !active && self.lease.is_some() {
            self.lease = None;
            changed = true;
        }

        let connected = service.state.is_connected();
        if connected {
            if self.deadline.take().is_some() || !self.pending.is_empty() {
                self.answer_pending(Ok(service.clone()));
            }
            self.requested_timeout = None;
            self.retry_delay = Duration::from_secs(config.connect.retry_min);
            if !self.config.favorite {
                self.config.favorite = true;
                changed = true;
            }
            if self.check.is_none() && config.online_check.mode != OnlineCheckMode::Off {
                self.start_check(service, config, reporters);
            }
        } else {
            if self.check.is_some()
                || self.online
                || self.portal.is_some()
                || self.warning.is_some()
            {
                self.stop_check();
                changed = true;
            }
            let timeout = self.requested_timeout.or_else(|| {
                (config.connect.timeout > 0).then(|| Duration::from_secs(config.connect.timeout))
            });
            if active && self.deadline.is_none() {
                if let Some(timeout) = timeout {
                    let generation = self.next_generation();
                    self.deadline = Some((generation, timeout));
                    spawn_timer(
                        &reporters.timers,
                        self.id.clone(),
                        generation,
                        TimerKind::ConnectTimeout,
                        timeout,
                    );
                }
            } else if !active {
                self.deadline = None;
            }
        }
        if self.failure.is_some()
            && self.config.autoconnect
            && self.intent != Intent::Disconnected
            && self.retry.is_none()
        {
            let generation = self.next_generation();
            self.retry = Some(generation);
            tracing::info!(service = %self.id, after = ?self.retry_delay, "will retry");
            spawn_timer(
                &reporters.timers,
                self.id.clone(),
                generation,
                TimerKind::Retry,
                self.retry_delay,
            );
            self.retry_delay =
                (self.retry_delay * 2).min(Duration::from_secs(config.connect.retry_max));
        }
        changed
    }

    fn start_check(&mut self, service: &Service, config: &Config, reporters: &Reporters) {
        let check = &config.online_check;
        let url = if service.ipv4.is_some() {
            &check.ipv4_url
        } else {
            &check.ipv6_url
        };
        self.check_generation = self.next_generation();
        let params = CheckParams {
            key: ReportKey {
                service: self.id.clone(),
                generation: self.check_generation,
            },
            ifname: self.ifname.clone(),
            url: url.clone(),
            expect_status: check.expect_status,
            timeout: Duration::from_secs(check.timeout),
            interval_min: Duration::from_secs(check.interval_min),
            interval_max: Duration::from_secs(check.interval_max),
            continuous: check.mode == OnlineCheckMode::Continuous,
        };
        self.check = Some(OnlineCheck::start(params, reporters.online.clone()));
    }

    /// A DHCP report for this link. Stale reports (an older client) are dropped.
    pub fn on_dhcp(&mut self, generation: u64, event: crate::net::dhcp::DhcpEvent) {
        use crate::net::dhcp::DhcpEvent;
        if self.dhcp.is_none() || generation != self.dhcp_generation {
            return;
        }
        match event {
            DhcpEvent::Bound(lease) => {
                self.lease = Some(lease);
            }
            DhcpEvent::Expired => {
                self.lease = None;
            }
            DhcpEvent::Failed(reason) => {
                tracing::warn!(service = %self.id, %reason, "DHCP failed");
                self.failure = Some("dhcp-failed");
                self.retry = None;
                self.answer_pending(Err(EngineError::ConnectFailed {
                    id: self.id.0.clone(),
                    reason: "dhcp-failed",
                    message: reason,
                }));
            }
        }
    }

    /// An online probe result.
    pub fn on_online(
        &mut self,
        generation: u64,
        result: ProbeResult,
        config: &Config,
    ) -> Option<Event> {
        if self.check.is_none() || generation != self.check_generation {
            return None;
        }
        match result {
            ProbeResult::Online => {
                self.online = true;
                self.portal = None;
                self.warning = None;
                self.check_failures = 0;
                None
            }
            ProbeResult::Portal(url) => {
                self.online = false;
                let new = self.portal.as_deref() != Some(url.as_str());
                self.portal = Some(url.clone());
                new.then(|| Event::CaptivePortal {
                    id: self.id.clone(),
                    url,
                })
            }
            ProbeResult::Failed(reason) => {
                tracing::info!(service = %self.id, %reason, "online check failed");
                if self.online {
                    self.check_failures += 1;
                    if self.check_failures >= config.online_check.failures {
                        tracing::warn!(service = %self.id, failures = self.check_failures, "online -> ready: online check keeps failing");
                        self.online = false;
                        self.warning = Some("online-check-failed");
                    }
                }
                None
            }
        }
    }

    /// A timer fired. Returns an event to publish.
    pub fn on_timer(
        &mut self,
        generation: u64,
        kind: TimerKind,
        config: &Config,
        connected: bool,
    ) -> Option<Event> {
        match kind {
            TimerKind::ConnectTimeout => {
                let (armed, timeout) = self.deadline?;
                if armed != generation || connected {
                    return None;
                }
                self.deadline = None;
                self.requested_timeout = None;
                tracing::warn!(service = %self.id, ?timeout, "connect timed out");
                self.failure = Some("connect-failed");
                self.retry = None;
                self.admin_down = config.connect.admin_down_on_timeout;
                self.stop_dhcp(false);
                self.answer_pending(Err(EngineError::Timeout {
                    id: self.id.0.clone(),
                    after: timeout,
                }));
                Some(Event::ConnectTimedOut {
                    id: self.id.clone(),
                    timeout,
                })
            }
            TimerKind::Retry => {
                if self.retry != Some(generation) {
                    return None;
                }
                self.retry = None;
                self.failure = None;
                self.admin_down = false;
                None
            }
        }
    }

    /// ConnectService: connect now, answer when ready or failed.
    pub fn connect(&mut self, timeout: Option<Duration>, reply: ConnectReply) {
        self.intent = Intent::Connect;
        self.failure = None;
        self.admin_down = false;
        self.retry = None;
        if timeout.is_some() {
            self.requested_timeout = timeout;
            self.deadline = None;
        }
        self.pending.push(reply);
    }

    /// DisconnectService: release and stay disconnected.
    pub fn disconnect(&mut self) {
        self.intent = Intent::Disconnected;
        self.failure = None;
        self.retry = None;
        self.deadline = None;
        self.requested_timeout = None;
        self.stop_dhcp(true);
        self.stop_check();
        self.answer_pending(Err(EngineError::Aborted(format!(
            "service {} was disconnected",
            self.id
        ))));
    }

    /// ReportConnectivity: probe again now.
    pub fn recheck(&mut self) {
        self.check = None;
    }

    /// Re-applies after a configuration change: a new IPv4 method or address restarts the
    /// connection.
    pub fn reconfigure(&mut self, config: ServiceConfig) {
        let restart = config.ipv4 != self.config.ipv4;
        self.config = config;
        if restart {
            self.stop_dhcp(false);
            self.stop_check();
        }
    }
}
