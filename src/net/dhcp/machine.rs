//! The DHCPv4 client state machine (RFC 2131 §4.4, figure 5), without I/O.
//!
//! Inputs are a timer that ran out ([`Machine::on_timeout`]), a decoded reply
//! ([`Machine::on_reply`]) and an ARP conflict ([`Machine::on_conflict`]); each returns the
//! [`Action`]s to carry out, in order. Time is an input (`now`), timers are data
//! ([`Machine::deadline`]), randomness comes from a seeded generator: every transition is
//! a plain function call that a table test can drive.
//!
//! Choices where RFC 2131 leaves room, all in this file:
//! - retransmission (§4.1): 4 s doubling to 64 s, each ±1 s at random; DISCOVER is repeated
//!   for as long as the client runs (the engine owns the connect timeout), REQUEST in
//!   REQUESTING [`REQUEST_SENDS`] times, in INIT-REBOOT [`REBOOT_SENDS`] times, then INIT;
//! - RENEWING and REBINDING retransmit after half the time left to T2 or expiry, at least
//!   60 s (§4.4.5), never past the next state's deadline;
//! - after a DHCPNAK (any state that sent a REQUEST) the address is dropped and INIT
//!   starts again: at once after the first NAK, then after 2, 4, … 64 s (± up to 1 s) while
//!   NAKs keep coming, with a failure report at the [`NAK_FAILURE`]th in a row;
//! - after a DHCPDECLINE the client waits 10 s (§3.1 step 5); after a refused offer or ACK
//!   2, 4, … 64 s;
//! - an unusable ACK to a renewal is ignored: the current lease runs on until it expires.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::lease::{self, Checked, Previous};
use super::options::{Destination, OutKind, Outgoing, Reply, ReplyKind};
use crate::config::ClasslessRoutes;
use crate::model::Lease;

/// REQUESTs sent in REQUESTING before starting over with DISCOVER.
pub const REQUEST_SENDS: u32 = 4;
/// REQUESTs sent in INIT-REBOOT before falling back to DISCOVER.
pub const REBOOT_SENDS: u32 = 2;
/// NAKs in a row that are also reported as a failure.
pub const NAK_FAILURE: u32 = 3;
/// Wait after a DHCPDECLINE (RFC 2131 §3.1 step 5).
pub const DECLINE_WAIT: Duration = Duration::from_secs(10);
/// Longest retransmission and backoff delay (RFC 2131 §4.1).
const MAX_DELAY: Duration = Duration::from_secs(64);
/// Shortest retransmission delay in RENEWING and REBINDING (RFC 2131 §4.4.5).
const MIN_RENEW_RETRY: Duration = Duration::from_secs(60);
/// RFC 5227 §1.1: PROBE_WAIT, PROBE_NUM, PROBE_MIN/MAX, ANNOUNCE_WAIT.
const PROBE_WAIT_MS: u64 = 1000;
const PROBE_NUM: u32 = 3;
const PROBE_MIN_MS: u64 = 1000;
const PROBE_MAX_MS: u64 = 2000;
const ANNOUNCE_WAIT: Duration = Duration::from_secs(2);

/// The client's states (RFC 2131 figure 5). REBOOTING is folded into `InitReboot` and
/// SELECTING is entered as soon as INIT sends its DISCOVER; `Probing` is the RFC 5227
/// check between the ACK and BOUND.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Waiting (after a NAK, a decline or a refusal) before a new DISCOVER.
    Init,
    /// DISCOVER sent, waiting for an offer.
    Selecting,
    /// REQUEST for an offer sent, waiting for ACK/NAK.
    Requesting,
    /// REQUEST for the previous address sent (RFC 2131 §3.2), waiting for ACK/NAK.
    InitReboot,
    /// ARP probing the acknowledged address (RFC 5227).
    Probing,
    /// Lease in use, waiting for T1.
    Bound,
    /// T1 passed: REQUEST unicast to the server.
    Renewing,
    /// T2 passed: REQUEST broadcast to any server.
    Rebinding,
}

/// Sockets a state needs; the I/O side opens and closes them to match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// None open.
    None,
    /// A packet socket for DHCP (no address yet).
    Raw,
    /// A packet socket for ARP.
    Arp,
    /// A UDP socket on port 68, bound to the interface.
    Udp,
}

/// What the I/O side must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send a message.
    Send(Outgoing),
    /// Send an ARP probe for this address (RFC 5227 §2.1.1).
    Probe(Ipv4Addr),
    /// Send an ARP announcement for this address (RFC 5227 §2.3).
    Announce(Ipv4Addr),
    /// A lease was acquired, renewed or rebound: report it, then persist it.
    Bound(Box<Lease>),
    /// The reported lease is gone (expiry or NAK): report it.
    Expired,
    /// Something the user should see, already logged.
    Failed(String),
    /// Remove the lease file.
    Forget,
}

/// The client's settings that the machine needs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Interface name, for log lines.
    pub ifname: String,
    /// What to do with option 121.
    pub classless: ClasslessRoutes,
    /// Probe offered addresses with ARP first.
    pub arp_check: bool,
}

/// The lease in use.
#[derive(Debug, Clone)]
struct Held {
    lease: Lease,
    server_mac: Option<[u8; 6]>,
}

impl Held {
    fn at(&self, secs: u32) -> Option<Instant> {
        (secs != u32::MAX).then(|| self.lease.acquired + Duration::from_secs(u64::from(secs)))
    }
    fn t1(&self) -> Option<Instant> {
        self.at(self.lease.t1_secs)
    }
    fn t2(&self) -> Option<Instant> {
        self.at(self.lease.t2_secs)
    }
    fn expiry(&self) -> Option<Instant> {
        self.at(self.lease.lease_secs)
    }
}

/// One client's state machine.
#[derive(Debug)]
pub struct Machine {
    settings: Settings,
    state: State,
    rng: fastrand::Rng,
    xid: u32,
    /// Start of the current exchange (for `secs`) and of a lease asked for (REQUEST sent).
    exchange_start: Instant,
    requested_at: Instant,
    /// Messages sent in this state.
    sends: u32,
    deadline: Option<Instant>,
    /// The offer being requested: (address, server).
    offer: Option<(Ipv4Addr, Ipv4Addr)>,
    /// An acknowledged lease under ARP probing, and probes sent.
    probing: Option<(Checked, Option<[u8; 6]>)>,
    probes: u32,
    held: Option<Held>,
    /// Whether `Bound` was reported and not yet taken back with `Expired`.
    reported: bool,
    /// Address to ask for in DISCOVER (option 50).
    hint: Option<Ipv4Addr>,
    naks: u32,
    refusals: u32,
}

impl Machine {
    /// A client for `settings`; `previous` is the stored lease (INIT-REBOOT when still
    /// valid), `seed` seeds xids and jitter.
    pub fn new(settings: Settings, previous: Option<Previous>, seed: u64, now: Instant) -> Self {
        let mut m = Machine {
            settings,
            state: State::Init,
            rng: fastrand::Rng::with_seed(seed),
            xid: 0,
            exchange_start: now,
            requested_at: now,
            sends: 0,
            deadline: Some(now),
            offer: None,
            probing: None,
            probes: 0,
            held: None,
            reported: false,
            hint: previous.map(|p| p.address),
            naks: 0,
            refusals: 0,
        };
        if let Some(p) = previous.filter(|p| p.valid) {
            m.state = State::InitReboot;
            m.hint = Some(p.address);
        }
        m
    }

    /// The first messages: INIT-REBOOT's REQUEST or INIT's DISCOVER.
    pub fn start(&mut self, now: Instant) -> Vec<Action> {
        match (self.state, self.hint) {
            (State::InitReboot, Some(address)) => {
                tracing::info!(interface = %self.settings.ifname, %address, "DHCP INIT-REBOOT: asking for the previous address");
                self.new_exchange(now);
                self.requested_at = now;
                self.sends = 1;
                self.deadline = Some(now + self.retransmit_delay(1));
                vec![Action::Send(self.reboot_request(address, now))]
            }
            _ => self.select(now),
        }
    }

    /// The transaction id of the current exchange.
    pub fn xid(&self) -> u32 {
        self.xid
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// When [`Machine::on_timeout`] wants to be called next; `None` = never (an infinite
    /// lease).
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The sockets the current state needs.
    pub fn transport(&self) -> Transport {
        match self.state {
            State::Init | State::Bound => Transport::None,
            State::Selecting | State::Requesting | State::InitReboot => Transport::Raw,
            State::Probing => Transport::Arp,
            State::Renewing | State::Rebinding => Transport::Udp,
        }
    }

    /// The address being probed (ARP) while in `Probing`.
    pub fn probing(&self) -> Option<Ipv4Addr> {
        self.probing.as_ref().map(|(c, _)| c.lease.address)
    }

    /// The lease in use, if any.
    pub fn lease(&self) -> Option<&Lease> {
        self.held.as_ref().map(|h| &h.lease)
    }

    fn new_exchange(&mut self, now: Instant) {
        self.xid = self.rng.u32(..);
        self.exchange_start = now;
        self.sends = 0;
    }

    fn secs(&self, now: Instant) -> u16 {
        now.saturating_duration_since(self.exchange_start)
            .as_secs()
            .min(u64::from(u16::MAX)) as u16
    }

    /// RFC 2131 §4.1: 4 s before the first retransmission, doubling up to 64 s, ±1 s.
    fn retransmit_delay(&mut self, sends: u32) -> Duration {
        let base = Duration::from_secs(4 << sends.saturating_sub(1).min(4)).min(MAX_DELAY);
        let jitter = self.rng.i64(-1000..=1000);
        Duration::from_millis((base.as_millis() as i64 + jitter).max(0) as u64)
    }

    /// 2, 4, … 64 s, plus up to 1 s, for the `n`th backoff in a row (n ≥ 1).
    fn backoff(&mut self, n: u32) -> Duration {
        let base = Duration::from_secs(1 << n.clamp(1, 6));
        base.min(MAX_DELAY) + Duration::from_millis(self.rng.u64(0..1000))
    }

    fn message(&self, kind: OutKind, now: Instant) -> Outgoing {
        Outgoing {
            kind,
            xid: self.xid,
            secs: self.secs(now),
            ciaddr: Ipv4Addr::UNSPECIFIED,
            requested: None,
            server_id: None,
            message: None,
            to: Destination::RawBroadcast,
        }
    }

    fn discover(&self, now: Instant) -> Outgoing {
        Outgoing {
            requested: self.hint,
            ..self.message(OutKind::Discover, now)
        }
    }

    fn reboot_request(&self, address: Ipv4Addr, now: Instant) -> Outgoing {
        Outgoing {
            requested: Some(address),
            ..self.message(OutKind::Request, now)
        }
    }

    fn select_request(&self, address: Ipv4Addr, server: Ipv4Addr, now: Instant) -> Outgoing {
        Outgoing {
            requested: Some(address),
            server_id: Some(server),
            ..self.message(OutKind::Request, now)
        }
    }

    fn renew_request(&self, held: &Held, now: Instant) -> Outgoing {
        Outgoing {
            ciaddr: held.lease.address,
            to: if self.state == State::Renewing {
                Destination::UdpUnicast(held.lease.server)
            } else {
                Destination::UdpBroadcast
            },
            ..self.message(OutKind::Request, now)
        }
    }

    fn enter(&mut self, state: State) {
        if state != self.state {
            tracing::debug!(interface = %self.settings.ifname, from = ?self.state, to = ?state, "DHCP state");
            self.state = state;
        }
    }

    /// INIT → SELECTING: a new DISCOVER now.
    fn select(&mut self, now: Instant) -> Vec<Action> {
        self.enter(State::Selecting);
        self.new_exchange(now);
        self.offer = None;
        self.sends = 1;
        self.deadline = Some(now + self.retransmit_delay(1));
        vec![Action::Send(self.discover(now))]
    }

    /// Waits in INIT for `delay`, then selects.
    fn wait(&mut self, now: Instant, delay: Duration) -> Vec<Action> {
        if delay.is_zero() {
            return self.select(now);
        }
        self.enter(State::Init);
        self.offer = None;
        self.deadline = Some(now + delay);
        vec![]
    }

    /// Drops the lease in use: `Expired` when it was reported, and the file.
    fn drop_lease(&mut self) -> Vec<Action> {
        self.held = None;
        self.probing = None;
        let mut actions = Vec::new();
        if std::mem::take(&mut self.reported) {
            actions.push(Action::Expired);
        }
        actions.push(Action::Forget);
        actions
    }

    /// A timer ran out (or the I/O side woke up early: then nothing happens).
    pub fn on_timeout(&mut self, now: Instant) -> Vec<Action> {
        match self.deadline {
            Some(d) if now >= d => {}
            _ => return vec![],
        }
        let ifname = self.settings.ifname.clone();
        match self.state {
            State::Init => self.select(now),
            State::Selecting => {
                self.sends += 1;
                self.deadline = Some(now + self.retransmit_delay(self.sends));
                tracing::debug!(interface = %ifname, sends = self.sends, "no DHCPOFFER yet; DISCOVER again");
                vec![Action::Send(self.discover(now))]
            }
            State::Requesting | State::InitReboot => {
                let (limit, address, server) = match (self.state, self.offer) {
                    (State::Requesting, Some((a, s))) => (REQUEST_SENDS, a, Some(s)),
                    _ => (
                        REBOOT_SENDS,
                        self.hint.unwrap_or(Ipv4Addr::UNSPECIFIED),
                        None,
                    ),
                };
                if self.sends >= limit {
                    tracing::info!(interface = %ifname, %address, sends = self.sends, state = ?self.state, "no answer to DHCPREQUEST; starting over with DISCOVER");
                    return self.select(now);
                }
                self.sends += 1;
                self.deadline = Some(now + self.retransmit_delay(self.sends));
                let out = match server {
                    Some(s) => self.select_request(address, s, now),
                    None => self.reboot_request(address, now),
                };
                vec![Action::Send(out)]
            }
            State::Probing => {
                let Some((checked, _)) = &self.probing else {
                    return self.select(now);
                };
                let address = checked.lease.address;
                if self.probes < PROBE_NUM {
                    self.probes += 1;
                    self.deadline = Some(if self.probes == PROBE_NUM {
                        now + ANNOUNCE_WAIT
                    } else {
                        now + Duration::from_millis(self.rng.u64(PROBE_MIN_MS..=PROBE_MAX_MS))
                    });
                    return vec![Action::Probe(address)];
                }
                let Some((checked, mac)) = self.probing.take() else {
                    return vec![];
                };
                tracing::info!(interface = %ifname, %address, "ARP probe: no other host uses the address");
                let mut actions = self.bind(checked, mac);
                actions.insert(0, Action::Announce(address));
                actions
            }
            State::Bound | State::Renewing | State::Rebinding => self.lease_timer(now),
        }
    }

    fn lease_timer(&mut self, now: Instant) -> Vec<Action> {
        let Some(held) = self.held.clone() else {
            return self.select(now);
        };
        let ifname = self.settings.ifname.clone();
        let (t2, expiry) = (held.t2(), held.expiry());
        if expiry.is_some_and(|e| now >= e) {
            tracing::warn!(interface = %ifname, address = %held.lease.address, "DHCP lease expired: no ACK to renew or rebind");
            self.hint = Some(held.lease.address);
            let mut actions = self.drop_lease();
            actions.extend(self.select(now));
            return actions;
        }
        let (state, until) = if t2.is_some_and(|t| now >= t) {
            (State::Rebinding, expiry)
        } else {
            (State::Renewing, t2)
        };
        if state != self.state {
            tracing::info!(interface = %ifname, address = %held.lease.address, ?state, "DHCP lease: time to renew");
            self.enter(state);
            self.new_exchange(now);
        }
        self.sends += 1;
        self.requested_at = if self.sends == 1 {
            now
        } else {
            self.requested_at
        };
        let wait = until
            .map(|u| (u.saturating_duration_since(now) / 2).max(MIN_RENEW_RETRY))
            .unwrap_or(MIN_RENEW_RETRY);
        self.deadline = Some(match until {
            Some(u) => (now + wait).min(u),
            None => now + wait,
        });
        vec![Action::Send(self.renew_request(&held, now))]
    }

    /// A decoded reply arrived.
    pub fn on_reply(&mut self, now: Instant, reply: &Reply) -> Vec<Action> {
        if reply.xid != self.xid {
            return vec![];
        }
        let ifname = self.settings.ifname.clone();
        let expected = matches!(
            (self.state, reply.kind),
            (State::Selecting, ReplyKind::Offer)
                | (
                    State::Requesting | State::InitReboot | State::Renewing | State::Rebinding,
                    ReplyKind::Ack | ReplyKind::Nak,
                )
        );
        if !expected {
            tracing::debug!(interface = %ifname, state = ?self.state, kind = ?reply.kind, "DHCP reply not expected now; ignored");
            return vec![];
        }
        if !reply.problems.is_empty() {
            tracing::warn!(interface = %ifname, server = ?reply.server_id, problems = %reply.problems.join("; "), "DHCP reply had malformed options");
        }
        match reply.kind {
            ReplyKind::Offer => self.on_offer(now, reply),
            ReplyKind::Ack => self.on_ack(now, reply),
            ReplyKind::Nak => self.on_nak(now, reply),
        }
    }

    fn on_offer(&mut self, now: Instant, reply: &Reply) -> Vec<Action> {
        let ifname = self.settings.ifname.clone();
        match lease::check(reply, self.settings.classless, now, None) {
            Ok(checked) => {
                let (address, server) = (checked.lease.address, checked.lease.server);
                tracing::info!(interface = %ifname, %address, %server, "DHCPOFFER; requesting it");
                self.enter(State::Requesting);
                self.offer = Some((address, server));
                self.sends = 1;
                self.requested_at = now;
                self.deadline = Some(now + self.retransmit_delay(1));
                vec![Action::Send(self.select_request(address, server, now))]
            }
            Err(refusal) => {
                tracing::warn!(interface = %ifname, server = ?reply.server_id, reason = %refusal.reason, "DHCPOFFER refused");
                vec![Action::Failed(format!(
                    "DHCP offer refused: {}",
                    refusal.reason
                ))]
            }
        }
    }

    fn on_ack(&mut self, now: Instant, reply: &Reply) -> Vec<Action> {
        let ifname = self.settings.ifname.clone();
        let known_server = self.held.as_ref().map(|h| h.lease.server);
        let checked = match lease::check(
            reply,
            self.settings.classless,
            self.requested_at,
            known_server,
        ) {
            Ok(c) => c,
            Err(refusal) if matches!(self.state, State::Renewing | State::Rebinding) => {
                tracing::warn!(interface = %ifname, reason = %refusal.reason, "DHCPACK to a renewal refused; the current lease runs on until it expires");
                return vec![];
            }
            Err(refusal) => return self.refuse_ack(now, reply, refusal),
        };
        self.naks = 0;
        self.refusals = 0;
        for w in &checked.warnings {
            tracing::warn!(interface = %ifname, server = %checked.lease.server, "DHCP: {w}");
        }
        let mac = reply
            .source_mac
            .or(self.held.as_ref().and_then(|h| h.server_mac));
        if self.settings.arp_check && matches!(self.state, State::Requesting | State::InitReboot) {
            let address = checked.lease.address;
            tracing::info!(interface = %ifname, %address, "DHCPACK; ARP probing the address first (RFC 5227)");
            self.enter(State::Probing);
            self.probing = Some((checked, mac));
            self.probes = 0;
            self.deadline = Some(now + Duration::from_millis(self.rng.u64(0..=PROBE_WAIT_MS)));
            return vec![];
        }
        self.bind(checked, mac)
    }

    fn bind(&mut self, checked: Checked, server_mac: Option<[u8; 6]>) -> Vec<Action> {
        let lease = checked.lease;
        let renewed = self
            .held
            .as_ref()
            .is_some_and(|h| h.lease.address == lease.address);
        tracing::info!(
            interface = %self.settings.ifname,
            address = %lease.address,
            prefix = lease.prefix_len,
            gateway = ?lease.gateway,
            server = %lease.server,
            lease_secs = lease.lease_secs,
            t1 = lease.t1_secs,
            t2 = lease.t2_secs,
            renewed,
            "DHCP lease bound"
        );
        let held = Held {
            lease: lease.clone(),
            server_mac,
        };
        self.enter(State::Bound);
        self.deadline = held.t1();
        self.hint = Some(lease.address);
        self.held = Some(held);
        self.offer = None;
        self.reported = true;
        vec![Action::Bound(Box::new(lease))]
    }

    fn refuse_ack(&mut self, now: Instant, reply: &Reply, refusal: lease::Refusal) -> Vec<Action> {
        let ifname = self.settings.ifname.clone();
        let mut actions = Vec::new();
        if refusal.decline {
            tracing::warn!(interface = %ifname, address = %reply.yiaddr, reason = %refusal.reason, "DHCPACK refused; sending DHCPDECLINE");
            actions.push(Action::Send(self.decline(
                reply.yiaddr,
                reply.server_id,
                &refusal.reason,
                now,
            )));
            actions.extend(self.drop_lease());
            actions.push(Action::Failed(format!(
                "DHCP address declined: {}",
                refusal.reason
            )));
            self.hint = None;
            actions.extend(self.wait(now, DECLINE_WAIT));
        } else {
            self.refusals += 1;
            let delay = self.backoff(self.refusals);
            tracing::warn!(interface = %ifname, reason = %refusal.reason, retry_in = ?delay, "DHCPACK refused");
            actions.extend(self.drop_lease());
            actions.push(Action::Failed(format!(
                "DHCP lease refused: {}",
                refusal.reason
            )));
            actions.extend(self.wait(now, delay));
        }
        actions
    }

    fn decline(
        &self,
        address: Ipv4Addr,
        server: Option<Ipv4Addr>,
        why: &str,
        now: Instant,
    ) -> Outgoing {
        Outgoing {
            requested: Some(address),
            server_id: server,
            message: Some(why.chars().take(200).collect()),
            ..self.message(OutKind::Decline, now)
        }
    }

    fn on_nak(&mut self, now: Instant, reply: &Reply) -> Vec<Action> {
        let ifname = self.settings.ifname.clone();
        // Only the server we asked may take it back (RFC 2131 §4.4.1: option 54 names it);
        // a NAK without option 54 is taken as from it.
        let ours = match self.state {
            State::Requesting => self.offer.map(|(_, s)| s),
            State::Renewing => self.held.as_ref().map(|h| h.lease.server),
            _ => None,
        };
        if let (Some(ours), Some(from)) = (ours, reply.server_id) {
            if ours != from {
                tracing::info!(interface = %ifname, %from, server = %ours, "DHCPNAK from another server; ignored");
                return vec![];
            }
        }
        self.naks += 1;
        let delay = if self.naks == 1 {
            Duration::ZERO
        } else {
            self.backoff(self.naks - 1)
        };
        let text = reply.message.as_deref().unwrap_or("");
        tracing::warn!(
            interface = %ifname,
            server = ?reply.server_id,
            state = ?self.state,
            message = %text,
            in_a_row = self.naks,
            restart_in = ?delay,
            "DHCPNAK: dropping the address and starting over"
        );
        let mut actions = self.drop_lease();
        self.hint = None;
        if self.naks == NAK_FAILURE {
            actions.push(Action::Failed(format!(
                "DHCP server {} refused {} requests in a row (DHCPNAK{})",
                reply.server_id.map_or("?".into(), |s| s.to_string()),
                self.naks,
                if text.is_empty() {
                    String::new()
                } else {
                    format!(": {text}")
                }
            )));
        }
        actions.extend(self.wait(now, delay));
        actions
    }

    /// Another host answered for the address being probed (RFC 5227 §2.1.1): decline it.
    pub fn on_conflict(&mut self, now: Instant, other: [u8; 6]) -> Vec<Action> {
        let Some((checked, _)) = self.probing.take() else {
            return vec![];
        };
        let address = checked.lease.address;
        let mac = other
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        let reason = format!("address {address} is already in use by {mac} (ARP)");
        tracing::warn!(interface = %self.settings.ifname, %address, %mac, "ARP conflict; sending DHCPDECLINE");
        let mut actions = vec![Action::Send(self.decline(
            address,
            Some(checked.lease.server),
            &reason,
            now,
        ))];
        actions.extend(self.drop_lease());
        actions.push(Action::Failed(format!("DHCP address declined: {reason}")));
        self.hint = None;
        actions.extend(self.wait(now, DECLINE_WAIT));
        actions
    }

    /// Stopping with DHCPRELEASE (RFC 2131 §4.4.6): the message to send when a lease is in
    /// use. The lease is dropped (and must be forgotten) either way.
    pub fn release(&mut self, now: Instant) -> Option<Outgoing> {
        let held = self.held.take()?;
        self.reported = false;
        self.new_exchange(now);
        Some(Outgoing {
            ciaddr: held.lease.address,
            server_id: Some(held.lease.server),
            to: Destination::RawUnicast {
                server: held.lease.server,
                mac: held.server_mac,
            },
            ..self.message(OutKind::Release, now)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::dhcp::options::ReplyKind;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().expect("ip")
    }

    fn settings(arp_check: bool) -> Settings {
        Settings {
            ifname: "veth0".into(),
            classless: ClasslessRoutes::NoDefaultOverride,
            arp_check,
        }
    }

    fn reply(m: &Machine, kind: ReplyKind, lease: u32) -> Reply {
        Reply {
            kind,
            xid: m.xid,
            yiaddr: ip("198.18.6.30"),
            source_mac: Some([2, 0, 0, 0, 0, 9]),
            server_id: Some(ip("198.18.6.1")),
            mask: Some(ip("255.255.255.0")),
            routers: vec![ip("198.18.6.1")],
            dns: vec![],
            domain_name: None,
            search: vec![],
            ntp: vec![],
            wpad: None,
            mtu: None,
            lease_secs: Some(lease),
            t1: None,
            t2: None,
            classless: None,
            message: Some("wrong network".into()),
            problems: vec![],
        }
    }

    fn sent(actions: &[Action]) -> Vec<(OutKind, Destination)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send(o) => Some((o.kind, o.to)),
                _ => None,
            })
            .collect()
    }

    fn names(actions: &[Action]) -> Vec<&'static str> {
        actions
            .iter()
            .map(|a| match a {
                Action::Send(_) => "send",
                Action::Probe(_) => "probe",
                Action::Announce(_) => "announce",
                Action::Bound(_) => "bound",
                Action::Expired => "expired",
                Action::Failed(_) => "failed",
                Action::Forget => "forget",
            })
            .collect()
    }

    /// A machine brought to BOUND with a lease of `secs` at `t0`.
    fn bound(secs: u32) -> (Machine, Instant) {
        let t0 = Instant::now();
        let mut m = Machine::new(settings(false), None, 1, t0);
        m.start(t0);
        let offer = reply(&m, ReplyKind::Offer, secs);
        m.on_reply(t0, &offer);
        let ack = reply(&m, ReplyKind::Ack, secs);
        let a = m.on_reply(t0, &ack);
        assert_eq!(names(&a), vec!["bound"]);
        (m, t0)
    }

    /// A machine in `state` (leases of 1000 s: T1 500, T2 875) and the time it is at.
    fn at(state: State) -> (Machine, Instant) {
        let t0 = Instant::now();
        match state {
            State::Selecting | State::Requesting => {
                let mut m = Machine::new(settings(false), None, 21, t0);
                m.start(t0);
                if state == State::Requesting {
                    m.on_reply(t0, &reply(&m, ReplyKind::Offer, 1000));
                }
                (m, t0)
            }
            State::InitReboot => {
                let prev = Previous {
                    address: ip("198.18.6.30"),
                    valid: true,
                };
                let mut m = Machine::new(settings(false), Some(prev), 21, t0);
                m.start(t0);
                (m, t0)
            }
            State::Bound => bound(1000),
            State::Renewing => {
                let (mut m, b) = bound(1000);
                m.on_timeout(b + Duration::from_secs(500));
                (m, b + Duration::from_secs(500))
            }
            State::Rebinding => {
                let (mut m, b) = bound(1000);
                m.on_timeout(b + Duration::from_secs(500));
                m.on_timeout(b + Duration::from_secs(875));
                (m, b + Duration::from_secs(875))
            }
            State::Init | State::Probing => unreachable!("not in the table"),
        }
    }

    /// state × event → actions and next state.
    #[test]
    fn transition_table() {
        #[derive(Debug, Clone, Copy)]
        enum Ev {
            Offer,
            Ack,
            Nak,
            /// The machine's own deadline.
            Timer,
        }
        use State::*;
        let table: &[(State, Ev, &[&str], State)] = &[
            (Selecting, Ev::Offer, &["send"], Requesting),
            (Selecting, Ev::Ack, &[], Selecting),
            (Selecting, Ev::Nak, &[], Selecting),
            (Selecting, Ev::Timer, &["send"], Selecting),
            (Requesting, Ev::Offer, &[], Requesting),
            (Requesting, Ev::Ack, &["bound"], Bound),
            (Requesting, Ev::Nak, &["forget", "send"], Selecting),
            (Requesting, Ev::Timer, &["send"], Requesting),
            (InitReboot, Ev::Offer, &[], InitReboot),
            (InitReboot, Ev::Ack, &["bound"], Bound),
            (InitReboot, Ev::Nak, &["forget", "send"], Selecting),
            (InitReboot, Ev::Timer, &["send"], InitReboot),
            (Bound, Ev::Ack, &[], Bound),
            (Bound, Ev::Nak, &[], Bound),
            (Bound, Ev::Timer, &["send"], Renewing),
            (Renewing, Ev::Offer, &[], Renewing),
            (Renewing, Ev::Ack, &["bound"], Bound),
            (Renewing, Ev::Nak, &["expired", "forget", "send"], Selecting),
            (Renewing, Ev::Timer, &["send"], Renewing),
            (Rebinding, Ev::Ack, &["bound"], Bound),
            (
                Rebinding,
                Ev::Nak,
                &["expired", "forget", "send"],
                Selecting,
            ),
            (Rebinding, Ev::Timer, &["send"], Rebinding),
        ];
        for &(state, ev, want, next) in table {
            let (mut m, now) = at(state);
            assert_eq!(m.state(), state);
            let actions = match ev {
                Ev::Offer => m.on_reply(now, &reply(&m, ReplyKind::Offer, 1000)),
                Ev::Ack => m.on_reply(now, &reply(&m, ReplyKind::Ack, 1000)),
                Ev::Nak => m.on_reply(now, &reply(&m, ReplyKind::Nak, 0)),
                Ev::Timer => {
                    let d = m.deadline().expect("a deadline");
                    m.on_timeout(d)
                }
            };
            assert_eq!(
                (names(&actions).as_slice(), m.state()),
                (want, next),
                "{state:?} × {ev:?}"
            );
        }
    }

    #[test]
    fn init_selecting_requesting_bound() {
        let t0 = Instant::now();
        let mut m = Machine::new(settings(false), None, 7, t0);
        let a = m.start(t0);
        assert_eq!(
            sent(&a),
            vec![(OutKind::Discover, Destination::RawBroadcast)]
        );
        assert_eq!(
            (m.state(), m.transport()),
            (State::Selecting, Transport::Raw)
        );
        // An ACK or NAK while selecting, or a reply with another xid, changes nothing.
        let mut stray = reply(&m, ReplyKind::Ack, 3600);
        assert!(m.on_reply(t0, &stray).is_empty());
        stray.kind = ReplyKind::Offer;
        stray.xid ^= 1;
        assert!(m.on_reply(t0, &stray).is_empty());
        let a = m.on_reply(t0, &reply(&m, ReplyKind::Offer, 3600));
        match &a[..] {
            [Action::Send(o)] => {
                assert_eq!(
                    (o.kind, o.requested, o.server_id),
                    (
                        OutKind::Request,
                        Some(ip("198.18.6.30")),
                        Some(ip("198.18.6.1"))
                    )
                );
                assert_eq!(o.ciaddr, Ipv4Addr::UNSPECIFIED);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(m.state(), State::Requesting);
        let a = m.on_reply(t0, &reply(&m, ReplyKind::Ack, 3600));
        match &a[..] {
            [Action::Bound(l)] => assert_eq!(
                (l.address, l.t1_secs, l.t2_secs, l.acquired),
                (ip("198.18.6.30"), 1800, 3150, t0)
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!((m.state(), m.transport()), (State::Bound, Transport::None));
        assert_eq!(
            m.deadline(),
            Some(t0 + Duration::from_secs(1800)),
            "T1 as data"
        );
    }

    #[test]
    fn retransmissions_back_off_with_jitter_and_requesting_gives_up() {
        let t0 = Instant::now();
        let mut m = Machine::new(settings(false), None, 3, t0);
        m.start(t0);
        let mut now = t0;
        let mut delays = Vec::new();
        for _ in 0..7 {
            let d = m.deadline().expect("deadline");
            delays.push((d - now).as_millis() as u64);
            now = d;
            assert_eq!(
                sent(&m.on_timeout(now)),
                vec![(OutKind::Discover, Destination::RawBroadcast)]
            );
        }
        for (i, (d, base)) in delays.iter().zip([4u64, 8, 16, 32, 64, 64, 64]).enumerate() {
            assert!(
                (base * 1000 - 1000..=base * 1000 + 1000).contains(d),
                "retransmission {i}: {d} ms, want {base} s ± 1 s"
            );
        }
        // Early wake-ups do nothing.
        assert!(m.on_timeout(now).is_empty());
        m.on_reply(now, &reply(&m, ReplyKind::Offer, 3600));
        let mut requests = 1;
        loop {
            now = m.deadline().expect("deadline");
            let a = m.on_timeout(now);
            match sent(&a)[..] {
                [(OutKind::Request, _)] => requests += 1,
                [(OutKind::Discover, _)] => break,
                ref other => panic!("{other:?}"),
            }
        }
        assert_eq!((requests, m.state()), (REQUEST_SENDS, State::Selecting));
    }

    /// state × event → actions and next state, with timers as values.
    #[test]
    fn lease_timers_renew_rebind_expire() {
        let (mut m, t0) = bound(1000);
        let s = |n: u64| t0 + Duration::from_secs(n);
        // T1 = 500: RENEWING, unicast over UDP, retransmission at max(60, (875-500)/2).
        let a = m.on_timeout(s(500));
        assert_eq!(
            sent(&a),
            vec![(OutKind::Request, Destination::UdpUnicast(ip("198.18.6.1")))]
        );
        assert_eq!(
            (m.state(), m.transport()),
            (State::Renewing, Transport::Udp)
        );
        assert_eq!(m.deadline(), Some(s(500) + Duration::from_millis(187_500)));
        match &a[0] {
            Action::Send(o) => assert_eq!(
                (o.ciaddr, o.requested, o.server_id),
                (ip("198.18.6.30"), None, None)
            ),
            other => panic!("{other:?}"),
        }
        let a = m.on_timeout(s(820));
        assert_eq!(sent(&a).len(), 1);
        assert_eq!(m.deadline(), Some(s(875)), "never past T2");
        // T2 = 875: REBINDING, broadcast.
        let a = m.on_timeout(s(875));
        assert_eq!(
            sent(&a),
            vec![(OutKind::Request, Destination::UdpBroadcast)]
        );
        assert_eq!(m.state(), State::Rebinding);
        assert_eq!(m.deadline(), Some(s(875) + Duration::from_millis(62_500)));
        m.on_timeout(s(950));
        assert_eq!(m.deadline(), Some(s(1000)), "never past expiry");
        // Expiry: Expired, forget, DISCOVER for the same address.
        let a = m.on_timeout(s(1000));
        assert_eq!(names(&a), vec!["expired", "forget", "send"]);
        match &a[2] {
            Action::Send(o) => assert_eq!(
                (o.kind, o.requested),
                (OutKind::Discover, Some(ip("198.18.6.30")))
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(m.state(), State::Selecting);
    }

    #[test]
    fn a_renewal_ack_extends_the_lease() {
        let (mut m, t0) = bound(1000);
        let t1 = t0 + Duration::from_secs(500);
        m.on_timeout(t1);
        let a = m.on_reply(t1, &reply(&m, ReplyKind::Ack, 1000));
        match &a[..] {
            [Action::Bound(l)] => assert_eq!(
                l.acquired, t1,
                "the lease restarts when the REQUEST went out"
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(m.deadline(), Some(t1 + Duration::from_secs(500)));
        // An unusable ACK to a renewal is ignored: the lease runs on.
        let t2 = t1 + Duration::from_secs(500);
        m.on_timeout(t2);
        assert!(m.on_reply(t2, &reply(&m, ReplyKind::Ack, 1)).is_empty());
        assert_eq!(m.state(), State::Renewing);
    }

    #[test]
    fn a_nak_in_every_state_that_can_get_one_drops_the_address() {
        // Requesting, InitReboot, Renewing, Rebinding.
        for at in ["requesting", "init-reboot", "renewing", "rebinding"] {
            let t0 = Instant::now();
            let (mut m, bound_before) = match at {
                "requesting" => {
                    let mut m = Machine::new(settings(false), None, 5, t0);
                    m.start(t0);
                    m.on_reply(t0, &reply(&m, ReplyKind::Offer, 3600));
                    (m, false)
                }
                "init-reboot" => {
                    let prev = Previous {
                        address: ip("198.18.6.30"),
                        valid: true,
                    };
                    let mut m = Machine::new(settings(false), Some(prev), 5, t0);
                    let a = m.start(t0);
                    match &a[..] {
                        [Action::Send(o)] => assert_eq!(
                            (o.kind, o.requested, o.server_id, o.to),
                            (
                                OutKind::Request,
                                Some(ip("198.18.6.30")),
                                None,
                                Destination::RawBroadcast
                            )
                        ),
                        other => panic!("{other:?}"),
                    }
                    (m, false)
                }
                _ => {
                    let (mut m, t) = bound(1000);
                    m.on_timeout(t + Duration::from_secs(500));
                    if at == "rebinding" {
                        m.on_timeout(t + Duration::from_secs(875));
                    }
                    (m, true)
                }
            };
            let now = Instant::now() + Duration::from_secs(900);
            let a = m.on_reply(now, &reply(&m, ReplyKind::Nak, 0));
            let want = if bound_before {
                vec!["expired", "forget", "send"]
            } else {
                vec!["forget", "send"]
            };
            assert_eq!(names(&a), want, "{at}");
            assert_eq!(
                sent(&a),
                vec![(OutKind::Discover, Destination::RawBroadcast)],
                "{at}"
            );
            match &a[a.len() - 1] {
                Action::Send(o) => assert_eq!(
                    o.requested, None,
                    "{at}: a NAKed address is not asked for again"
                ),
                other => panic!("{other:?}"),
            }
            assert_eq!(m.lease(), None, "{at}");
        }
    }

    #[test]
    fn a_nak_loop_backs_off_and_reports_once() {
        let t0 = Instant::now();
        let mut m = Machine::new(settings(false), None, 11, t0);
        let mut now = t0;
        m.start(now);
        let mut waits = Vec::new();
        let mut failures = 0;
        for _ in 0..8 {
            m.on_reply(now, &reply(&m, ReplyKind::Offer, 3600));
            let a = m.on_reply(now, &reply(&m, ReplyKind::Nak, 0));
            failures += names(&a).iter().filter(|n| **n == "failed").count();
            if m.state() == State::Init {
                let d = m.deadline().expect("wait");
                waits.push((d - now).as_secs());
                now = d;
                assert_eq!(sent(&m.on_timeout(now)).len(), 1);
            }
            assert_eq!(m.state(), State::Selecting);
        }
        assert_eq!(
            waits,
            vec![2, 4, 8, 16, 32, 64, 64],
            "first NAK restarts at once"
        );
        assert_eq!(failures, 1, "reported at the third NAK in a row");
        // A NAK from a server we did not ask is ignored.
        m.on_reply(now, &reply(&m, ReplyKind::Offer, 3600));
        let mut other = reply(&m, ReplyKind::Nak, 0);
        other.server_id = Some(ip("198.18.6.99"));
        assert!(m.on_reply(now, &other).is_empty());
        assert_eq!(m.state(), State::Requesting);
        // An ACK resets the count.
        m.on_reply(now, &reply(&m, ReplyKind::Ack, 3600));
        assert_eq!(m.naks, 0);
    }

    #[test]
    fn refused_offers_and_acks_fail_visibly_and_bad_addresses_are_declined() {
        let t0 = Instant::now();
        let mut m = Machine::new(settings(false), None, 2, t0);
        m.start(t0);
        let a = m.on_reply(t0, &reply(&m, ReplyKind::Offer, 1));
        match &a[..] {
            [Action::Failed(why)] => assert!(
                why.contains("lease time 1 s is below the minimum of 8 s"),
                "{why}"
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(m.state(), State::Selecting, "keeps selecting");
        // An ACK for the subnet's broadcast address: DECLINE, failure, 10 s in INIT.
        m.on_reply(t0, &reply(&m, ReplyKind::Offer, 3600));
        let mut ack = reply(&m, ReplyKind::Ack, 3600);
        ack.yiaddr = ip("198.18.6.255");
        let a = m.on_reply(t0, &ack);
        assert_eq!(names(&a), vec!["send", "forget", "failed"]);
        assert_eq!(
            sent(&a),
            vec![(OutKind::Decline, Destination::RawBroadcast)]
        );
        assert_eq!(
            (m.state(), m.deadline()),
            (State::Init, Some(t0 + DECLINE_WAIT))
        );
        // An ACK with a 0 s lease: no decline, failure, backoff.
        let now = t0 + DECLINE_WAIT;
        m.on_timeout(now);
        m.on_reply(now, &reply(&m, ReplyKind::Offer, 3600));
        let a = m.on_reply(now, &reply(&m, ReplyKind::Ack, 0));
        assert_eq!(names(&a), vec!["forget", "failed"]);
        assert_eq!(m.state(), State::Init);
    }

    #[test]
    fn init_reboot_falls_back_to_discover_and_an_expired_lease_is_only_a_hint() {
        let t0 = Instant::now();
        let prev = Previous {
            address: ip("198.18.6.30"),
            valid: true,
        };
        let mut m = Machine::new(settings(false), Some(prev), 4, t0);
        m.start(t0);
        assert_eq!(m.state(), State::InitReboot);
        let mut now = m.deadline().expect("d");
        assert_eq!(
            sent(&m.on_timeout(now)),
            vec![(OutKind::Request, Destination::RawBroadcast)]
        );
        now = m.deadline().expect("d");
        let a = m.on_timeout(now);
        match &a[..] {
            [Action::Send(o)] => assert_eq!(
                (o.kind, o.requested),
                (OutKind::Discover, Some(ip("198.18.6.30")))
            ),
            other => panic!("{other:?}"),
        }
        let stale = Previous {
            valid: false,
            ..prev
        };
        let mut m = Machine::new(settings(false), Some(stale), 4, t0);
        let a = m.start(t0);
        assert_eq!(m.state(), State::Selecting);
        match &a[..] {
            [Action::Send(o)] => assert_eq!(
                (o.kind, o.requested),
                (OutKind::Discover, Some(ip("198.18.6.30")))
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn arp_check_probes_three_times_then_binds_or_declines() {
        let t0 = Instant::now();
        let mut m = Machine::new(settings(true), None, 9, t0);
        m.start(t0);
        m.on_reply(t0, &reply(&m, ReplyKind::Offer, 3600));
        assert!(m.on_reply(t0, &reply(&m, ReplyKind::Ack, 3600)).is_empty());
        assert_eq!((m.state(), m.transport()), (State::Probing, Transport::Arp));
        let mut now = t0;
        let mut seen = Vec::new();
        while m.state() == State::Probing {
            let d = m.deadline().expect("d");
            assert!(d - now <= Duration::from_secs(2));
            now = d;
            seen.extend(names(&m.on_timeout(now)));
        }
        assert_eq!(seen, vec!["probe", "probe", "probe", "announce", "bound"]);
        // A conflict while probing: DECLINE, no Bound.
        let mut m = Machine::new(settings(true), None, 9, t0);
        m.start(t0);
        m.on_reply(t0, &reply(&m, ReplyKind::Offer, 3600));
        m.on_reply(t0, &reply(&m, ReplyKind::Ack, 3600));
        let d = m.deadline().expect("d");
        m.on_timeout(d);
        let a = m.on_conflict(d, [2, 0, 0, 0, 0, 0x42]);
        assert_eq!(names(&a), vec!["send", "forget", "failed"]);
        assert_eq!(
            sent(&a),
            vec![(OutKind::Decline, Destination::RawBroadcast)]
        );
        assert_eq!(m.state(), State::Init);
    }

    #[test]
    fn release_only_with_a_lease() {
        let t0 = Instant::now();
        let mut m = Machine::new(settings(false), None, 1, t0);
        m.start(t0);
        assert_eq!(m.release(t0), None);
        let (mut m, t0) = bound(3600);
        let o = m.release(t0).expect("release");
        assert_eq!(
            (o.kind, o.ciaddr, o.server_id),
            (OutKind::Release, ip("198.18.6.30"), Some(ip("198.18.6.1")))
        );
        assert_eq!(
            o.to,
            Destination::RawUnicast {
                server: ip("198.18.6.1"),
                mac: Some([2, 0, 0, 0, 0, 9])
            }
        );
        assert_eq!(m.release(t0), None, "once");
    }

    #[test]
    fn an_infinite_lease_has_no_timer() {
        let (m, _) = bound(u32::MAX);
        assert_eq!((m.state(), m.deadline()), (State::Bound, None));
    }
}
