//! netpilot's DHCPv4 client (RFC 2131), one task per managed link, on the dhcproto codec.
//!
//! - [`machine`]: the state machine (INIT, SELECTING, REQUESTING, INIT-REBOOT, BOUND,
//!   RENEWING, REBINDING, plus RFC 5227 probing), pure: time is an input, timers are data.
//! - [`options`]: messages on the dhcproto codec; replies are read option by option.
//! - [`lease`]: what is accepted from a server (the hostile-server rules) and the lease
//!   file that makes INIT-REBOOT work across restarts.
//! - [`socket`]: the packet socket (no address yet), the UDP socket (renewals), ARP.
//!
//! This module is the I/O around the machine: it opens the sockets the current state needs,
//! carries out the machine's actions in order, reports to the engine and keeps the lease
//! file. Between an ACK and its `Bound` report there is no socket close and no file write:
//! both happen after the report (the packet socket closes on a blocking thread).

pub mod lease;
pub mod machine;
pub mod options;
pub mod socket;

mod duid;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::oneshot;

use crate::engine::EventSender;
use tracing::Instrument;

pub use crate::config::{ClasslessRoutes, ClientIdMode};
use crate::model::{Lease, ReportKey};
use machine::{Action, Machine, Settings, Transport};
use options::{Destination, Identity, Outgoing};
use socket::{PacketSocket, UdpSocket, BROADCAST_MAC};

/// What a client needs to start.
#[derive(Debug, Clone)]
pub struct DhcpParams {
    /// Names this start of the client in its reports.
    pub key: ReportKey,
    /// The interface's index.
    pub ifindex: u32,
    /// The interface's name (SO_BINDTODEVICE, log lines).
    pub ifname: String,
    /// The interface's MAC (chaddr; the IAID and the MAC client id come from it).
    pub mac: [u8; 6],
    /// Host name to send (option 12, at most 255 bytes); empty = none.
    pub hostname: String,
    /// Vendor class identifier (option 60, at most 255 bytes); empty = none.
    pub vendor_class: String,
    /// Client identifier form (option 61): DUID-based (RFC 4361) or the MAC.
    pub client_id: ClientIdMode,
    /// The device's DUID file, read or created for [`ClientIdMode::Duid`]
    /// (`<state_dir>/dhcp/duid`).
    pub duid_file: PathBuf,
    /// The lease file for INIT-REBOOT across restarts (`<state_dir>/dhcp/<service>.lease`);
    /// `None` = nothing persisted.
    pub lease_file: Option<PathBuf>,
    /// What to do with classless static routes (option 121).
    pub classless_routes: ClasslessRoutes,
    /// Probe an acknowledged address with ARP before using it (RFC 5227).
    pub arp_check: bool,
}

/// What a client reports.
#[derive(Debug, Clone)]
pub enum DhcpEvent {
    /// A lease was acquired, renewed or rebound.
    Bound(Lease),
    /// The lease ran out or a DHCPNAK took it away; the client goes on trying.
    Expired,
    /// A human-readable reason for the user (also logged); the client goes on trying.
    Failed(String),
}

/// An event with the service and client start it came from.
#[derive(Debug)]
pub struct DhcpReport {
    /// The service and which start of its client (stale reports are ignored by the engine).
    pub key: ReportKey,
    /// What happened.
    pub event: DhcpEvent,
}

/// A running client. Stop it with [`DhcpClient::stop`]; dropping it aborts the task without
/// a DHCPRELEASE.
pub struct DhcpClient {
    stop: Option<oneshot::Sender<bool>>,
    task: tokio::task::JoinHandle<()>,
}

/// How long [`DhcpClient::stop`] waits for the task (and its DHCPRELEASE).
const STOP_WAIT: Duration = Duration::from_secs(2);
/// Receive buffer: a full Ethernet frame and then some (replies are at most 1500 bytes,
/// option 57).
const RECV_BUF: usize = 4096;
/// Waits between attempts to open a socket that failed to open or broke.
const SOCKET_RETRY_MIN: Duration = Duration::from_secs(1);
const SOCKET_RETRY_MAX: Duration = Duration::from_secs(30);

impl DhcpClient {
    /// Starts a client on the current tokio runtime. It loads the lease file (INIT-REBOOT
    /// when it holds a lease still valid for this client identifier) and reports on
    /// `reports` until stopped.
    pub fn start(params: DhcpParams, reports: EventSender<DhcpReport>) -> DhcpClient {
        let (stop_tx, stop_rx) = oneshot::channel();
        let span = tracing::info_span!("dhcp", interface = %params.ifname);
        let task = tokio::spawn(run(params, reports, stop_rx).instrument(span));
        DhcpClient {
            stop: Some(stop_tx),
            task,
        }
    }

    /// Stops the client, sending DHCPRELEASE first (RFC 2131 §4.4.6) when `release` is true
    /// and a lease is in use; a released lease is also forgotten. Waits at most 2 s.
    pub async fn stop(mut self, release: bool) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(release);
        }
        if tokio::time::timeout(STOP_WAIT, &mut self.task)
            .await
            .is_err()
        {
            tracing::warn!("DHCP client did not stop within {STOP_WAIT:?}; aborted");
            self.task.abort();
        }
    }
}

impl Drop for DhcpClient {
    fn drop(&mut self) {
        if self.stop.is_some() {
            self.task.abort();
        }
    }
}

/// The sockets and what the task needs to act.
struct Io {
    params: DhcpParams,
    identity: Identity,
    reports: EventSender<DhcpReport>,
    raw: Option<PacketSocket>,
    udp: Option<UdpSocket>,
    arp: Option<PacketSocket>,
    /// No socket opens before this (after an open failure or a broken socket).
    open_after: Option<tokio::time::Instant>,
    open_retry: Duration,
    /// The last open failure reported, so it is reported once.
    open_failure: Option<String>,
}

async fn run(
    params: DhcpParams,
    reports: EventSender<DhcpReport>,
    mut stop: oneshot::Receiver<bool>,
) {
    let client_id = duid::client_id(params.client_id, &params.duid_file, params.mac);
    let previous = params
        .lease_file
        .as_deref()
        .and_then(|path| match lease::load(path) {
            Ok(stored) => stored.and_then(|s| s.previous(&client_id, SystemTime::now())),
            Err(e) => {
                tracing::warn!(error = %error_chain(&e), "ignoring the lease file");
                None
            }
        });
    let identity = Identity {
        mac: params.mac,
        client_id,
        hostname: params.hostname.clone(),
        vendor_class: params.vendor_class.as_bytes().to_vec(),
        classless_routes: params.classless_routes != ClasslessRoutes::Ignore,
    };
    let settings = Settings {
        ifname: params.ifname.clone(),
        classless: params.classless_routes,
        arp_check: params.arp_check,
    };
    let now = Instant::now();
    let mut machine = Machine::new(settings, previous, fastrand::u64(..), now);
    let mut io = Io {
        params,
        identity,
        reports,
        raw: None,
        udp: None,
        arp: None,
        open_after: None,
        open_retry: SOCKET_RETRY_MIN,
        open_failure: None,
    };
    let mut pending = Some(machine.start(now));
    let mut received: Option<Instant> = None;
    let (mut raw_buf, mut udp_buf, mut arp_buf) = (
        vec![0u8; RECV_BUF],
        vec![0u8; RECV_BUF],
        vec![0u8; RECV_BUF],
    );
    loop {
        io.open_sockets(machine.transport(), machine.probing())
            .await;
        if let Some(actions) = pending.take() {
            io.carry_out(actions, received.take()).await;
        }
        io.close_sockets(machine.transport());

        let deadline = machine.deadline().map(tokio::time::Instant::from_std);
        let input = tokio::select! {
            release = &mut stop => Input::Stop(release.unwrap_or(false)),
            _ = sleep_until(deadline) => Input::Timeout,
            _ = sleep_until(io.open_after) => Input::Reopen,
            r = recv_packet(io.raw.as_ref(), &mut raw_buf) => Input::Raw(r),
            r = recv_udp(io.udp.as_ref(), &mut udp_buf) => Input::Udp(r),
            r = recv_packet(io.arp.as_ref(), &mut arp_buf) => Input::Arp(r),
        };
        let now = Instant::now();
        pending = match input {
            Input::Stop(release) => {
                io.stop(&mut machine, release);
                return;
            }
            Input::Reopen => {
                io.open_after = None;
                None
            }
            Input::Timeout => Some(machine.on_timeout(now)),
            Input::Raw(Ok(frame)) => {
                received = Some(frame.at);
                match socket::udp_payload(&raw_buf[..frame.len], frame.csum_not_ready) {
                    Ok(payload) => io
                        .parse(payload, Some(frame.source_mac))
                        .map(|r| machine.on_reply(now, &r)),
                    Err(e) => {
                        tracing::info!(error = %e, "packet to port 68 dropped");
                        None
                    }
                }
            }
            Input::Udp(Ok(n)) => {
                received = Some(now);
                io.parse(&udp_buf[..n], None)
                    .map(|r| machine.on_reply(now, &r))
            }
            Input::Arp(Ok(frame)) => machine
                .probing()
                .and_then(|a| socket::arp_conflict(&arp_buf[..frame.len], a, io.params.mac))
                .map(|other| machine.on_conflict(now, other)),
            Input::Raw(Err(e)) | Input::Udp(Err(e)) | Input::Arp(Err(e)) => {
                tracing::warn!(error = %e, "DHCP socket receive failed; reopening it");
                io.drop_sockets();
                io.retry_later();
                None
            }
        };
    }
}

enum Input {
    Stop(bool),
    Reopen,
    Timeout,
    Raw(std::io::Result<socket::Frame>),
    Udp(std::io::Result<usize>),
    Arp(std::io::Result<socket::Frame>),
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn recv_packet(s: Option<&PacketSocket>, buf: &mut [u8]) -> std::io::Result<socket::Frame> {
    match s {
        Some(s) => s.recv(buf).await,
        None => std::future::pending().await,
    }
}

async fn recv_udp(s: Option<&UdpSocket>, buf: &mut [u8]) -> std::io::Result<usize> {
    match s {
        Some(s) => s.recv(buf).await,
        None => std::future::pending().await,
    }
}

/// "a: b: c" from an error and its sources.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cause = c.source();
    }
    s
}

impl Io {
    async fn report(&self, event: DhcpEvent) {
        let report = DhcpReport {
            key: self.params.key.clone(),
            event,
        };
        // The engine going away ends the client soon (stop or drop); nothing to do here.
        let _ = self.reports.send(report).await;
    }

    fn parse(&self, payload: &[u8], source_mac: Option<[u8; 6]>) -> Option<options::Reply> {
        match options::parse(payload, &self.params.mac) {
            Ok(mut r) => {
                r.source_mac = source_mac;
                Some(r)
            }
            Err(options::ParseError::NotForUs) => None,
            Err(e) => {
                tracing::warn!(error = %error_chain(&e), "DHCP packet dropped");
                None
            }
        }
    }

    fn retry_later(&mut self) {
        self.open_after = Some(tokio::time::Instant::now() + self.open_retry);
        self.open_retry = (self.open_retry * 2).min(SOCKET_RETRY_MAX);
    }

    /// Opens what `transport` needs and is not open. A failure is reported once and retried
    /// with backoff.
    async fn open_sockets(&mut self, transport: Transport, probing: Option<Ipv4Addr>) {
        if self.open_after.is_some() {
            return;
        }
        let (ifname, ifindex) = (self.params.ifname.clone(), self.params.ifindex);
        let result = match transport {
            Transport::Raw if self.raw.is_none() => {
                PacketSocket::dhcp(&ifname, ifindex).map(|s| self.raw = Some(s))
            }
            Transport::Udp if self.udp.is_none() => {
                UdpSocket::open(&ifname).map(|s| self.udp = Some(s))
            }
            Transport::Arp if self.arp.is_none() && probing.is_some() => {
                PacketSocket::arp(&ifname, ifindex).map(|s| self.arp = Some(s))
            }
            _ => Ok(()),
        };
        match result {
            Ok(()) => {
                self.open_retry = SOCKET_RETRY_MIN;
                self.open_failure = None;
            }
            Err(e) => {
                let text = error_chain(&e);
                tracing::warn!(error = %text, retry_in = ?self.open_retry, "DHCP socket");
                if self.open_failure.as_deref() != Some(text.as_str()) {
                    self.open_failure = Some(text.clone());
                    self.report(DhcpEvent::Failed(text)).await;
                }
                self.retry_later();
            }
        }
    }

    /// Closes what `transport` does not need; packet sockets close on a blocking thread.
    fn close_sockets(&mut self, transport: Transport) {
        if transport != Transport::Raw {
            if let Some(s) = self.raw.take() {
                socket::close_in_background(s);
            }
        }
        if transport != Transport::Arp {
            if let Some(s) = self.arp.take() {
                socket::close_in_background(s);
            }
        }
        if transport != Transport::Udp {
            self.udp = None;
        }
    }

    fn drop_sockets(&mut self) {
        self.close_sockets(Transport::None);
    }

    async fn carry_out(&mut self, actions: Vec<Action>, received: Option<Instant>) {
        for action in actions {
            match action {
                Action::Send(out) => self.send(&out),
                Action::Probe(address) => self.arp(Ipv4Addr::UNSPECIFIED, address),
                Action::Announce(address) => self.arp(address, address),
                Action::Bound(lease) => {
                    let stored = lease::StoredLease::new(
                        &lease,
                        &self.identity.client_id,
                        SystemTime::now() - lease.acquired.elapsed(),
                    );
                    self.report(DhcpEvent::Bound(*lease)).await;
                    if let Some(at) = received {
                        tracing::info!(
                            ack_to_report_us = at.elapsed().as_micros() as u64,
                            "DHCP lease reported"
                        );
                    }
                    if let Some(path) = &self.params.lease_file {
                        if let Err(e) = lease::save(path, &stored) {
                            tracing::warn!(error = %error_chain(&e), "lease not stored; INIT-REBOOT after a restart will not be possible");
                        }
                    }
                }
                Action::Expired => self.report(DhcpEvent::Expired).await,
                Action::Failed(reason) => self.report(DhcpEvent::Failed(reason)).await,
                Action::Forget => self.forget(),
            }
        }
    }

    fn forget(&self) {
        if let Some(path) = &self.params.lease_file {
            if let Err(e) = lease::forget(path) {
                tracing::warn!(error = %error_chain(&e), "lease file");
            }
        }
    }

    fn send(&mut self, out: &Outgoing) {
        let payload = match options::encode(out, &self.identity) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, kind = ?out.kind, "encode DHCP message");
                return;
            }
        };
        let result = match out.to {
            Destination::RawBroadcast | Destination::RawUnicast { .. } => {
                let (dst_ip, dst_mac) = match out.to {
                    Destination::RawUnicast { server, mac } => {
                        (server, mac.unwrap_or(BROADCAST_MAC))
                    }
                    _ => (Ipv4Addr::BROADCAST, BROADCAST_MAC),
                };
                let packet = socket::udp_packet(out.ciaddr, dst_ip, &payload);
                match &self.raw {
                    Some(s) => s.send(&packet, dst_mac),
                    None => PacketSocket::dhcp(&self.params.ifname, self.params.ifindex)
                        .map_err(|e| std::io::Error::other(error_chain(&e)))
                        .and_then(|s| {
                            let r = s.send(&packet, dst_mac);
                            socket::close_in_background(s);
                            r
                        }),
                }
            }
            Destination::UdpUnicast(server) => self.udp_send(&payload, server),
            Destination::UdpBroadcast => self.udp_send(&payload, Ipv4Addr::BROADCAST),
        };
        match result {
            Ok(()) => {
                tracing::debug!(kind = ?out.kind, xid = out.xid, to = ?out.to, "DHCP message sent")
            }
            Err(e) => {
                tracing::warn!(kind = ?out.kind, error = %e, "DHCP message not sent; retransmission will retry")
            }
        }
    }

    fn udp_send(&self, payload: &[u8], to: Ipv4Addr) -> std::io::Result<()> {
        match &self.udp {
            Some(s) => s.send(payload, to),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "UDP socket not open",
            )),
        }
    }

    fn arp(&self, sender: Ipv4Addr, target: Ipv4Addr) {
        let Some(s) = &self.arp else {
            tracing::warn!("ARP socket not open; probe not sent");
            return;
        };
        let packet = socket::arp_request(self.params.mac, sender, target);
        if let Err(e) = s.send(&packet, BROADCAST_MAC) {
            tracing::warn!(error = %e, "ARP probe not sent");
        }
    }

    fn stop(&mut self, machine: &mut Machine, release: bool) {
        if release {
            if let Some(out) = machine.release(Instant::now()) {
                tracing::info!(address = %out.ciaddr, server = ?out.server_id, "sending DHCPRELEASE");
                self.send(&out);
            }
            self.forget();
        }
        self.drop_sockets();
    }
}

/// One fuzz input through everything a server controls: the IP/UDP checks, the reply
/// parser, the lease checks under each classless-route policy, the state machine in every
/// state that takes replies, and the encoding of whatever it answers. Used by
/// `fuzz/fuzz_targets/dhcp_reply.rs` (cargo fuzz) and by a stable test over the corpus.
/// Returns whether the input parsed as a reply and reached the state machine.
#[doc(hidden)]
pub fn fuzz_one(data: &[u8]) -> bool {
    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
    let not_ready = data.first().is_some_and(|b| b & 1 == 1);
    // Seeds are recorded IP datagrams, some with an offloaded (unfinished) UDP checksum.
    let payload = socket::udp_payload(data, not_ready)
        .or_else(|_| socket::udp_payload(data, true))
        .unwrap_or(data);
    let _ = socket::arp_conflict(data, Ipv4Addr::new(198, 18, 1, 100), MAC);
    // The reply's own chaddr, so that mutations get past the "for us" check.
    let mac: [u8; 6] = payload
        .get(28..34)
        .and_then(|m| m.try_into().ok())
        .unwrap_or(MAC);
    let _ = options::parse(payload, &MAC);
    let Ok(reply) = options::parse(payload, &mac) else {
        return false;
    };
    for policy in [
        ClasslessRoutes::Accept,
        ClasslessRoutes::Ignore,
        ClasslessRoutes::NoDefaultOverride,
    ] {
        let _ = lease::check(
            &reply,
            policy,
            Instant::now(),
            Some(Ipv4Addr::new(198, 18, 1, 1)),
        );
    }
    let identity = Identity {
        mac: MAC,
        client_id: vec![1, 2, 0, 0, 0, 0, 1],
        hostname: "fuzz".into(),
        vendor_class: b"fuzz".to_vec(),
        classless_routes: true,
    };
    let t0 = Instant::now();
    let settings = Settings {
        ifname: "fuzz0".into(),
        classless: ClasslessRoutes::NoDefaultOverride,
        arp_check: data.len().is_multiple_of(2),
    };
    let good = |m: &Machine, kind| options::Reply {
        kind,
        xid: m.xid(),
        yiaddr: Ipv4Addr::new(198, 18, 1, 100),
        source_mac: None,
        server_id: Some(Ipv4Addr::new(198, 18, 1, 1)),
        mask: Some(Ipv4Addr::new(255, 255, 255, 0)),
        routers: vec![],
        dns: vec![],
        domain_name: None,
        search: vec![],
        ntp: vec![],
        wpad: None,
        mtu: None,
        lease_secs: Some(600),
        t1: None,
        t2: None,
        classless: None,
        message: None,
        problems: vec![],
    };
    let encode_all = |actions: &[Action]| {
        for a in actions {
            if let Action::Send(out) = a {
                let _ = options::encode(out, &identity);
            }
        }
    };
    // Selecting, Requesting, Renewing, Rebinding, InitReboot.
    for stage in 0..5u64 {
        let previous = (stage == 4).then_some(lease::Previous {
            address: Ipv4Addr::new(198, 18, 1, 100),
            valid: true,
        });
        let mut m = Machine::new(settings.clone(), previous, stage, t0);
        m.start(t0);
        let mut now = t0;
        if (1..=3).contains(&stage) {
            m.on_reply(now, &good(&m, options::ReplyKind::Offer));
        }
        if (2..=3).contains(&stage) {
            m.on_reply(now, &good(&m, options::ReplyKind::Ack));
            while m.state() == machine::State::Probing {
                now = m.deadline().unwrap_or(now);
                m.on_timeout(now);
            }
            now += Duration::from_secs(if stage == 2 { 300 } else { 530 });
            m.on_timeout(now);
        }
        let mut r = reply.clone();
        r.xid = m.xid();
        encode_all(&m.on_reply(now, &r));
        if let Some(d) = m.deadline() {
            encode_all(&m.on_timeout(d));
        }
        if let Some(out) = m.release(now) {
            let _ = options::encode(&out, &identity);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fuzz target on stable Rust: every recorded seed of the cargo-fuzz corpus, then mutations
    /// of them (bit flips, truncation, splices, random bytes). `NETPILOT_FUZZ_SECS` runs
    /// mutations for that long instead of a fixed count (scripts/fuzz-dhcp.sh without a
    /// nightly toolchain).
    #[test]
    fn fuzz_target_over_the_corpus_and_mutations() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/dhcp_reply");
        let mut corpus: Vec<Vec<u8>> = std::fs::read_dir(&dir)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("seed-"))
                    .filter_map(|e| std::fs::read(e.path()).ok())
                    .collect()
            })
            .unwrap_or_default();
        assert!(
            corpus.len() >= 3,
            "seed corpus missing in {}",
            dir.display()
        );
        let reached = corpus.iter().filter(|seed| fuzz_one(seed)).count();
        assert_eq!(
            reached,
            corpus.len(),
            "every seed is a reply that reaches the machine"
        );
        let secs: Option<u64> = std::env::var("NETPILOT_FUZZ_SECS")
            .ok()
            .and_then(|s| s.parse().ok());
        let until = secs.map(|s| Instant::now() + Duration::from_secs(s));
        let mut rng = fastrand::Rng::with_seed(0x6e70_6468);
        let mut runs = 0u64;
        while until.map_or(runs < 20_000, |u| Instant::now() < u) {
            let mut input = corpus[rng.usize(..corpus.len())].clone();
            for _ in 0..rng.usize(1..8) {
                match rng.u8(0..5) {
                    0 if !input.is_empty() => {
                        let i = rng.usize(..input.len());
                        input[i] ^= 1 << rng.u8(0..8);
                    }
                    1 if !input.is_empty() => input.truncate(rng.usize(..input.len())),
                    2 => {
                        let other = &corpus[rng.usize(..corpus.len())];
                        let at = rng.usize(..=input.len());
                        let from = rng.usize(..=other.len());
                        input.splice(at.., other[from..].iter().copied());
                    }
                    3 if !input.is_empty() => {
                        let i = rng.usize(..input.len());
                        input[i] = rng.u8(..);
                    }
                    _ => input.extend((0..rng.usize(1..16)).map(|_| rng.u8(..))),
                }
            }
            let _ = fuzz_one(&input);
            runs += 1;
            if runs.is_multiple_of(64) && corpus.len() < 256 {
                corpus.push(input);
            }
        }
        eprintln!("fuzz_one: {runs} mutated inputs");
    }
}
