//! One managed service's connection, as the engine carries it out: the state
//! ([`policy::connection::State`]), the user's intent, the IP configuration, and the tasks
//! running for it (DHCP client, online check, connect deadline, retry timer).
//!
//! The engine feeds events and facts in; [`policy::connection`] decides the next state and
//! what must run; [`Connection::reconcile`] starts and stops only the difference. Every task
//! reports with a [`ReportKey`] whose generation is counted per service, so a report from a
//! task that was replaced or stopped is dropped.
//!
//! Zephyr conn_mgr semantics: a connect has a timeout; giving up is `failure` with
//! `connect-failed`, a `ConnectTimedOut` event and, if configured, the link set admin-down.
//! `autoconnect` is persistence: after an unintended loss the service reconnects with backoff;
//! after DisconnectService it does not until the next connect.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use tokio::sync::oneshot;

use super::input::EventSender;
use super::{EngineError, Event};
use crate::config::{Config, OnlineCheckMode};
use crate::model::{
    Credentials, Interface, Ipv4Config, Ipv6Config, Lease, ReportKey, Service, ServiceConfig,
    ServiceId,
};
use crate::net::dhcp::{DhcpClient, DhcpEvent, DhcpParams, DhcpReport};
use crate::net::online::{CheckParams, OnlineCheck, OnlineReport, ProbeResult};
pub(super) use crate::policy::autoconnect::Intent;
use crate::policy::connection::{
    self as policy, Demotion, HoldFacts, State, TaskFacts, Tasks, Verdict,
};

/// Timers the engine sets for itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimerKind {
    /// The connect deadline ran out.
    ConnectTimeout,
    /// Time to retry after a failure.
    Retry,
    /// An agent input request ran out of time; the key's generation is the request id.
    InputTimeout,
    /// No traffic crossed the service's netdev for its idle timeout.
    IdleTimeout,
    /// A DHCP client stopped with DHCPRELEASE has finished: the address and routes may go.
    Released,
}

/// A timer that fired.
#[derive(Debug)]
pub(crate) struct Timer {
    pub key: ReportKey,
    pub kind: TimerKind,
}

/// A parked ConnectService, answered when the service is ready or the connect fails.
pub(super) type ConnectReply = oneshot::Sender<Result<Service, EngineError>>;

/// Daemon-wide rules a connection follows (from the configuration).
#[derive(Debug, Clone, Copy)]
pub(super) struct Rules {
    /// How continuous checking demotes an online service.
    pub demotion: Demotion,
    /// `[connect] admin_down_on_timeout`, for services that do not set their own.
    pub admin_down: bool,
}

/// Where the tasks a connection starts report.
#[derive(Clone)]
pub(super) struct Reporters {
    pub dhcp: EventSender<DhcpReport>,
    pub online: EventSender<OnlineReport>,
    pub timers: EventSender<Timer>,
}

/// What a connection needs from the rest of the engine to carry out its tasks.
pub(super) struct Context<'a> {
    pub config: &'a Config,
    pub hostname: &'a str,
    pub reporters: &'a Reporters,
    /// The netdev that carries the service now (L2 is up on it), if any.
    pub netdev: Option<&'a Interface>,
}

#[derive(Default)]
struct Running {
    /// The backend was asked to connect L2.
    l2: bool,
    dhcp: Option<(u64, DhcpClient)>,
    check: Option<(u64, OnlineCheck)>,
    /// The armed connect deadline: generation and length.
    deadline: Option<(u64, Duration)>,
    /// The armed retry timer's generation.
    retry: Option<u64>,
    /// The idle watch: its generation and task (aborted when dropped).
    idle: Option<(u64, IdleWatch)>,
}

/// A running idle watch; dropping it stops it.
struct IdleWatch(tokio::task::JoinHandle<()>);

impl Drop for IdleWatch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One managed service's connection.
pub(super) struct Connection {
    pub id: ServiceId,
    state: State,
    pub intent: Intent,
    /// A session's connect request (ConnectSession) wants this service now.
    pub claimed: bool,
    pub config: ServiceConfig,
    /// The current DHCP lease.
    pub lease: Option<Lease>,
    /// ReportConnectivity asked for a new probe.
    recheck: bool,
    running: Running,
    /// The next retry delay (backoff between `connect.retry_min` and `retry_max`).
    retry_delay: Duration,
    /// The timeout a pending ConnectService asked for, used for the next deadline.
    requested_timeout: Option<Duration>,
    pending: Vec<ConnectReply>,
    /// netpilot holds the link admin-down (Zephyr's auto admin-down, [`policy::hold`]).
    held_down: bool,
    /// Credentials the connect in progress brought; stored once the service is connected.
    pub given: Credentials,
    /// Why the last failure happened, for the pending ConnectService replies.
    failure_detail: Option<String>,
    generation: u64,
    /// A DHCP client stopped with DHCPRELEASE has not finished yet (the generation its
    /// [`TimerKind::Released`] report carries): the link's address and routes stay until
    /// it has, so the release goes out before they go.
    releasing: Option<u64>,
    /// No DHCP client of this connection has reported anything since the daemon started:
    /// what an earlier run left on the link may be its lease (INIT-REBOOT).
    fresh: bool,
}

/// A request for the backend that owns the service's L2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum L2Request {
    /// Connect (associate, authenticate).
    Connect,
    /// Disconnect.
    Disconnect,
}

/// Watches a netdev's packet counters; reports [`TimerKind::IdleTimeout`] once they have not
/// moved for `idle`. Ends when dropped (aborted) or after reporting.
fn spawn_idle_watch(
    timers: &EventSender<Timer>,
    key: ReportKey,
    ifname: String,
    idle: Duration,
) -> tokio::task::JoinHandle<()> {
    let timers = timers.clone();
    let period = (idle / 4).max(Duration::from_secs(1));
    tokio::spawn(async move {
        let mut last = None;
        let mut since = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(period).await;
            let now = match crate::net::counters::packets(&ifname) {
                Ok(n) => Some(n),
                Err(e) => {
                    tracing::debug!(interface = %ifname, error = %e, "read traffic counters");
                    None
                }
            };
            if now != last || now.is_none() {
                last = now;
                since = tokio::time::Instant::now();
            } else if since.elapsed() >= idle {
                let _ = timers
                    .send(Timer {
                        key,
                        kind: TimerKind::IdleTimeout,
                    })
                    .await;
                return;
            }
        }
    })
}

fn spawn_timer(timers: &EventSender<Timer>, key: ReportKey, kind: TimerKind, after: Duration) {
    let timers = timers.clone();
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        let _ = timers.send(Timer { key, kind }).await;
    });
}

impl Connection {
    pub fn new(id: ServiceId, config: ServiceConfig, retry_min: Duration) -> Self {
        Connection {
            id,
            state: State::Idle,
            intent: Intent::Auto,
            claimed: false,
            config,
            lease: None,
            recheck: false,
            running: Running::default(),
            retry_delay: retry_min,
            requested_timeout: None,
            pending: Vec::new(),
            held_down: false,
            given: Credentials::default(),
            failure_detail: None,
            generation: 0,
            releasing: None,
            fresh: true,
        }
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// A connection already in `state`, for tests of what is derived from it.
    #[cfg(test)]
    pub fn in_state(id: &str, config: ServiceConfig, lease: Option<Lease>, state: State) -> Self {
        let mut c = Self::new(ServiceId(id.to_string()), config, Duration::from_secs(1));
        c.lease = lease;
        c.state = state;
        c
    }

    fn key(&mut self) -> ReportKey {
        self.generation += 1;
        ReportKey {
            service: self.id.clone(),
            generation: self.generation,
        }
    }

    /// Moves to `next`, logging the transition. Leaving the connected states drops the lease;
    /// entering a failure answers the parked connects.
    fn enter(&mut self, next: State) -> bool {
        if next == self.state {
            return false;
        }
        let (from, _) = self.state.service_state();
        let (to, error) = next.service_state();
        if from != to {
            match error {
                Some(e) => {
                    tracing::info!(service = %self.id, error = %e, "connection {} -> {}", from.as_str(), to.as_str())
                }
                None => {
                    tracing::debug!(service = %self.id, "connection {} -> {}", from.as_str(), to.as_str())
                }
            }
        }
        if !next.has_link() {
            self.lease = None;
        }
        if let State::Failure { error, .. } = &next {
            let message = self
                .failure_detail
                .take()
                .unwrap_or_else(|| error.describe().to_string());
            self.answer_pending(Err(EngineError::ConnectFailed {
                id: self.id.0.clone(),
                reason: error.as_str(),
                message,
            }));
        }
        self.state = next;
        true
    }

    /// The backend reports L2 idle: whatever was asked of it no longer stands (it moved to
    /// another network, or its wpa_supplicant restarted), so a service still wanted is asked
    /// for again.
    pub fn l2_dropped(&mut self) {
        self.running.l2 = false;
    }

    /// Applies an event through the policy: the next state, the auto admin-down, and the
    /// intent after an unintended loss. Returns whether the state changed.
    pub fn handle(&mut self, event: &policy::Event, rules: Rules) -> bool {
        let before = self.state.clone();
        let next = policy::on_event(before.clone(), event, rules.demotion);
        let changed = self.enter(next);
        let facts = HoldFacts {
            enabled: self
                .config
                .admin_down_on_timeout
                .unwrap_or(rules.admin_down),
            persistent: self.config.autoconnect,
        };
        if let Some(hold) = policy::hold(event, &before, facts) {
            if hold != self.held_down {
                tracing::info!(service = %self.id, admin_down = hold, "link held admin-down: {hold}");
            }
            self.held_down = hold;
        }
        // Zephyr's persistence: after an unintended loss a service that is not persistent
        // stays down, even if its last call was a Connect.
        let lost = (before.is_connecting() || before.has_link())
            && matches!(self.state, State::Idle | State::Failure { .. })
            && *event != policy::Event::Disconnect;
        if lost && !self.config.autoconnect && self.intent == Intent::Connect {
            self.intent = Intent::Auto;
        }
        changed
    }

    /// The user set a link netpilot held admin-down up again: that starts a new attempt.
    pub fn user_admin_up(&mut self, rules: Rules) {
        if self.held_down {
            tracing::info!(service = %self.id, "link set up by hand: connecting");
            self.intent = Intent::Connect;
            self.handle(&policy::Event::Connect, rules);
        }
    }

    /// What the link's admin state should be: down while held, up while a connect (or a
    /// session's claim) was asked for (Zephyr: a connect on a down link sets it up), else
    /// left as the user set it.
    pub fn link_admin(&self) -> Option<bool> {
        if self.held_down {
            Some(false)
        } else if self.intent == Intent::Connect || (self.claimed && self.intent == Intent::Auto) {
            Some(true)
        } else {
            None
        }
    }

    /// Applies the level facts through the policy. Returns whether the state changed.
    pub fn settle(&mut self, facts: &policy::Facts) -> bool {
        let next = policy::settle(self.state.clone(), facts);
        self.enter(next)
    }

    /// The facts [`policy::tasks`] decides from; `l2_possible` as in [`TaskFacts`].
    pub fn task_facts(&self, wanted: bool, l2_possible: bool, config: &Config) -> TaskFacts {
        TaskFacts {
            l2_possible,
            wanted,
            dhcp: self.config.ipv4 == Ipv4Config::Dhcp,
            check: config.online_check.mode,
            recheck: self.recheck,
            persistent: self.config.autoconnect && self.intent != Intent::Disconnected,
            timeout: self.timeout(config).is_some(),
            connect_pending: !self.pending.is_empty(),
            held_down: self.held_down,
        }
    }

    /// The connect deadline: the one a ConnectService asked for, the service's own, or the
    /// daemon's; `None` when there is none.
    fn timeout(&self, config: &Config) -> Option<Duration> {
        self.requested_timeout
            .or(self.config.connect_timeout.map(Duration::from_secs))
            .or((config.connect.timeout > 0).then(|| Duration::from_secs(config.connect.timeout)))
    }

    /// Starts and stops tasks so that what runs is `want`. Returns an L2 request for the
    /// backend when its part changed.
    pub fn reconcile(&mut self, want: Tasks, cx: &Context<'_>) -> Option<L2Request> {
        let l2 = (want.l2 != self.running.l2).then_some(if want.l2 {
            L2Request::Connect
        } else {
            L2Request::Disconnect
        });
        self.running.l2 = want.l2;

        match (want.dhcp, cx.netdev, self.running.dhcp.is_some()) {
            (true, Some(netdev), false) => self.start_dhcp(netdev, cx),
            (false, _, true) => self.stop_dhcp(
                self.intent == Intent::Disconnected,
                Some(&cx.reporters.timers),
            ),
            _ => {}
        }
        match (want.check, cx.netdev, self.running.check.is_some()) {
            (true, Some(netdev), false) => self.start_check(netdev, cx),
            (false, _, true) => self.running.check = None,
            _ => {}
        }
        if let (true, None, Some(timeout)) = (
            want.deadline,
            self.running.deadline,
            self.timeout(cx.config),
        ) {
            let key = self.key();
            self.running.deadline = Some((key.generation, timeout));
            spawn_timer(
                &cx.reporters.timers,
                key,
                TimerKind::ConnectTimeout,
                timeout,
            );
        } else if !want.deadline {
            self.running.deadline = None;
        }
        let idle = self
            .config
            .idle_timeout
            .filter(|_| self.state.is_connected())
            .map(Duration::from_secs);
        match (idle, cx.netdev, self.running.idle.is_some()) {
            (Some(idle), Some(netdev), false) => {
                let key = self.key();
                let generation = key.generation;
                let task = spawn_idle_watch(&cx.reporters.timers, key, netdev.name.clone(), idle);
                self.running.idle = Some((generation, IdleWatch(task)));
            }
            (None, _, true) => self.running.idle = None,
            _ => {}
        }
        if want.retry && self.running.retry.is_none() {
            let key = self.key();
            self.running.retry = Some(key.generation);
            tracing::info!(service = %self.id, after = ?self.retry_delay, "will retry");
            spawn_timer(
                &cx.reporters.timers,
                key,
                TimerKind::Retry,
                self.retry_delay,
            );
            self.retry_delay = (self.retry_delay * 2)
                .min(Duration::from_secs(cx.config.connect.retry_max))
                .max(Duration::from_secs(cx.config.connect.retry_min));
        } else if !want.retry {
            self.running.retry = None;
        }
        l2
    }

    fn start_dhcp(&mut self, netdev: &Interface, cx: &Context<'_>) {
        let Some(mac) = netdev.mac else {
            tracing::warn!(service = %self.id, interface = %netdev.name, "no MAC address: cannot run DHCP");
            return;
        };
        let key = self.key();
        let generation = key.generation;
        let dhcp = &cx.config.dhcp;
        let dir = cx.config.state_dir.join("dhcp");
        let params = DhcpParams {
            ifindex: netdev.index,
            ifname: netdev.name.clone(),
            mac,
            hostname: cx.hostname.to_string(),
            key,
            vendor_class: dhcp.vendor_class.clone(),
            client_id: dhcp.client_id,
            duid_file: dir.join("duid"),
            lease_file: Some(dir.join(format!("{}.lease", self.id))),
            classless_routes: dhcp.classless_routes,
            arp_check: dhcp.arp_check,
        };
        tracing::info!(service = %self.id, interface = %netdev.name, "starting DHCP");
        let client = DhcpClient::start(params, cx.reporters.dhcp.clone());
        self.running.dhcp = Some((generation, client));
    }

    /// Stops the DHCP client. With `release` (and `timers` to report to), the link keeps
    /// its address and routes until the DHCPRELEASE is out ([`Connection::releasing`]).
    fn stop_dhcp(&mut self, release: bool, timers: Option<&EventSender<Timer>>) {
        self.lease = None;
        self.fresh = false;
        if let Some((_, client)) = self.running.dhcp.take() {
            let done = match (release, timers) {
                (true, Some(timers)) => {
                    let key = self.key();
                    self.releasing = Some(key.generation);
                    Some((timers.clone(), key))
                }
                _ => None,
            };
            tokio::spawn(async move {
                client.stop(release).await;
                if let Some((timers, key)) = done {
                    let _ = timers
                        .send(Timer {
                            key,
                            kind: TimerKind::Released,
                        })
                        .await;
                }
            });
        }
    }

    /// A DHCPRELEASE is on its way: the link's address and routes must stay until it is.
    pub fn releasing(&self) -> bool {
        self.releasing.is_some()
    }

    /// The DHCP client runs and has not reported anything since the daemon started: an
    /// address an earlier run left may be confirmed by its INIT-REBOOT, so it stays.
    pub fn awaiting_first_lease(&self) -> bool {
        self.fresh && self.running.dhcp.is_some() && self.lease.is_none()
    }

    /// When the current lease ends (its valid and preferred lifetime on the kernel
    /// address); `None` for an infinite lease, a static address or none.
    pub fn lease_end(&self) -> Option<std::time::Instant> {
        let lease = self
            .lease
            .as_ref()
            .filter(|_| self.config.ipv4 == Ipv4Config::Dhcp)?;
        (lease.lease_secs != u32::MAX)
            .then(|| lease.acquired + Duration::from_secs(u64::from(lease.lease_secs)))
    }

    fn start_check(&mut self, netdev: &Interface, cx: &Context<'_>) {
        let check = &cx.config.online_check;
        let url = if self.ipv4_target().is_some() {
            &check.ipv4_url
        } else {
            &check.ipv6_url
        };
        let key = self.key();
        let generation = key.generation;
        let params = CheckParams {
            key,
            ifname: netdev.name.clone(),
            url: url.clone(),
            expect_status: check.expect_status,
            timeout: Duration::from_secs(check.timeout),
            interval_min: Duration::from_secs(check.interval_min),
            interval_max: Duration::from_secs(check.interval_max),
            continuous: check.mode == OnlineCheckMode::Continuous,
        };
        self.running.check = Some((
            generation,
            OnlineCheck::start(params, cx.reporters.online.clone()),
        ));
    }

    /// A DHCP report. Stale reports (an older client) are dropped.
    pub fn on_dhcp(&mut self, generation: u64, event: DhcpEvent, rules: Rules) {
        if self.running.dhcp.as_ref().map(|(g, _)| *g) != Some(generation) {
            return;
        }
        self.fresh = false;
        match event {
            DhcpEvent::Bound(lease) => self.lease = Some(lease),
            DhcpEvent::Expired => self.lease = None,
            DhcpEvent::Failed(reason) => {
                tracing::warn!(service = %self.id, %reason, "DHCP failed");
                self.failure_detail = Some(reason);
                self.handle(&policy::Event::IpFailed, rules);
            }
        }
    }

    /// An online probe result. Returns an event to publish (a new captive portal).
    pub fn on_online(
        &mut self,
        generation: u64,
        result: ProbeResult,
        rules: Rules,
    ) -> Option<Event> {
        if self.running.check.as_ref().map(|(g, _)| *g) != Some(generation) {
            return None;
        }
        self.recheck = false;
        let verdict = match result {
            ProbeResult::Online => Verdict::Online,
            ProbeResult::Portal(url) => Verdict::Portal(url),
            ProbeResult::Failed(reason) => {
                tracing::info!(service = %self.id, %reason, "online check failed");
                Verdict::Failed
            }
        };
        let portal_before = self.portal().map(str::to_string);
        self.handle(&policy::Event::Probe(verdict), rules);
        match self.portal() {
            Some(url) if portal_before.as_deref() != Some(url) => Some(Event::CaptivePortal {
                id: self.id.clone(),
                url: url.to_string(),
            }),
            _ => None,
        }
    }

    /// A timer fired. Returns an event to publish.
    pub fn on_timer(&mut self, generation: u64, kind: TimerKind, rules: Rules) -> Option<Event> {
        match kind {
            TimerKind::ConnectTimeout => {
                let (armed, timeout) = self.running.deadline?;
                if armed != generation || !(self.state.is_connecting() || self.state == State::Idle)
                {
                    return None;
                }
                self.running.deadline = None;
                self.requested_timeout = None;
                tracing::warn!(service = %self.id, ?timeout, "connect timed out");
                self.answer_pending(Err(EngineError::Timeout {
                    id: self.id.0.clone(),
                    after: timeout,
                }));
                self.handle(&policy::Event::Timeout, rules);
                Some(Event::ConnectTimedOut {
                    id: self.id.clone(),
                    timeout,
                })
            }
            TimerKind::Retry => {
                if self.running.retry != Some(generation) {
                    return None;
                }
                self.running.retry = None;
                self.handle(&policy::Event::RetryDue, rules);
                None
            }
            TimerKind::IdleTimeout => {
                if self.running.idle.as_ref().map(|(g, _)| *g) != Some(generation) {
                    return None;
                }
                self.running.idle = None;
                let idle = Duration::from_secs(self.config.idle_timeout?);
                tracing::info!(service = %self.id, ?idle, "no traffic: disconnecting (idle timeout)");
                self.disconnect(rules);
                Some(Event::IdleTimedOut {
                    id: self.id.clone(),
                    idle,
                })
            }
            TimerKind::Released => {
                if self.releasing == Some(generation) {
                    self.releasing = None;
                }
                None
            }
            TimerKind::InputTimeout => None,
        }
    }

    fn answer_pending(&mut self, result: Result<Service, EngineError>) {
        for reply in self.pending.drain(..) {
            let _ = reply.send(result.clone());
        }
    }

    /// Answers parked connects once the service is ready, and resets the retry backoff.
    pub fn answer_connects(&mut self, service: &Service, retry_min: Duration) {
        if !self.state.is_connected() {
            return;
        }
        self.answer_pending(Ok(service.clone()));
        self.requested_timeout = None;
        self.retry_delay = retry_min;
    }

    /// The service went away or is no longer managed: answer parked connects with why.
    pub fn abort(&mut self, why: String) {
        self.answer_pending(Err(EngineError::Aborted(why)));
    }

    /// ConnectService: connect now, answer when ready or failed. An already connected
    /// service is answered after the next publish by [`Connection::answer_connects`].
    pub fn connect(&mut self, timeout: Option<Duration>, reply: ConnectReply, rules: Rules) {
        self.intent = Intent::Connect;
        if timeout.is_some() {
            self.requested_timeout = timeout;
            self.running.deadline = None;
        }
        // A caller that has gone (its ConnectService was cancelled) waits for nothing.
        self.pending.retain(|r| !r.is_closed());
        self.pending.push(reply);
        self.handle(&policy::Event::Connect, rules);
    }

    /// DisconnectService: release the lease and stay disconnected.
    pub fn disconnect(&mut self, rules: Rules) {
        self.intent = Intent::Disconnected;
        self.requested_timeout = None;
        self.answer_pending(Err(EngineError::Aborted(format!(
            "service {} was disconnected",
            self.id
        ))));
        self.handle(&policy::Event::Disconnect, rules);
    }

    /// Stops the online check, so that the next reconcile starts it again if it is still
    /// wanted (with new settings after a reload).
    pub fn restart_check(&mut self) {
        self.running.check = None;
    }

    /// ReportConnectivity: probe again now.
    pub fn recheck(&mut self) {
        self.recheck = true;
        self.running.check = None;
    }

    /// A new configuration: a new IPv4 method or address restarts IP configuration.
    pub fn reconfigure(&mut self, config: ServiceConfig) {
        // As ConnMan: AutoConnect governs automatic connects only; a service connected or
        // connecting stays so, as if connected by hand.
        if self.config.autoconnect
            && !config.autoconnect
            && self.intent == Intent::Auto
            && (self.state.is_connecting() || self.state.is_connected())
        {
            self.intent = Intent::Connect;
        }
        let restart = config.ipv4 != self.config.ipv4;
        self.config = config;
        if restart {
            self.stop_dhcp(false, None);
            self.running.check = None;
        }
    }

    /// The IPv4 address netpilot puts on the link, with its prefix length.
    pub fn ipv4_target(&self) -> Option<(Ipv4Addr, u8)> {
        match self.config.ipv4 {
            Ipv4Config::Dhcp => self.lease.as_ref().map(|l| (l.address, l.prefix_len)),
            Ipv4Config::Manual {
                address,
                prefix_len,
                ..
            } => Some((address, prefix_len)),
            Ipv4Config::Off => None,
        }
    }

    /// The IPv4 default gateway netpilot routes through.
    pub fn ipv4_gateway(&self) -> Option<Ipv4Addr> {
        match self.config.ipv4 {
            Ipv4Config::Dhcp => self.lease.as_ref().and_then(|l| l.gateway),
            Ipv4Config::Manual { gateway, .. } => gateway,
            Ipv4Config::Off => None,
        }
    }

    /// Whether the IP configuration is in place on `netdev`: the configured IPv4 address, or
    /// a global non-tentative IPv6 address while IPv6 is on.
    pub fn ip_configured(&self, netdev: Option<&Interface>) -> bool {
        let Some(netdev) = netdev else {
            return false;
        };
        let v4 = self
            .ipv4_target()
            .is_some_and(|(a, _)| netdev.addresses.iter().any(|x| x.address == IpAddr::V4(a)));
        let v6 = self.config.ipv6 != Ipv6Config::Off
            && netdev
                .addresses
                .iter()
                .any(|a| a.address.is_ipv6() && a.counts_for_readiness());
        v4 || v6
    }

    /// The captive portal the online check found.
    pub fn portal(&self) -> Option<&str> {
        match &self.state {
            State::Ready { portal, .. } => portal.as_deref(),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connect_whose_caller_has_gone_leaves_the_pending_list() {
        let mut c = Connection::new(
            ServiceId("ethernet_02_cable".into()),
            ServiceConfig::default(),
            Duration::from_secs(1),
        );
        let rules = Rules {
            demotion: Demotion { after_misses: 0 },
            admin_down: false,
        };
        for _ in 0..100 {
            let (tx, rx) = oneshot::channel();
            c.connect(None, tx, rules);
            drop(rx);
        }
        let (tx, _waiting) = oneshot::channel();
        c.connect(None, tx, rules);
        assert_eq!(c.pending.len(), 1, "only the caller still waiting");
    }
}
