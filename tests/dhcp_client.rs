//! netpilot's DHCPv4 client on its own, end to end against real servers in a second network
//! namespace: dnsmasq, and `tests/peers/dhcp_server.py` for what dnsmasq will not do (short
//! leases, NAKs, hostile values). The client runs in the test's namespace on a thread that
//! entered it (`setns`), with a current-thread runtime; on `Bound` the harness adds the
//! address as the engine's applier would, so renewals can go out over UDP.

mod common;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{peer_script, wait_service, Daemon, Netns, Peer, Testbed, DEADLINE};
use netpilot::model::{Lease, ReportKey, ServiceId};
use netpilot::net::dhcp::{ClasslessRoutes, ClientIdMode, DhcpClient, DhcpEvent, DhcpParams};
use netpilot::pb;

/// Longer than any exchange here needs, including RFC 5227 probing (≤ 7 s) and a renewal
/// of an 8 s lease; a deadline, not a measurement.
const SLOW: Duration = Duration::from_secs(30);

/// Log lines of one client, captured from its thread's tracing subscriber.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log lock")).into_owned()
    }
}

/// A client running inside a namespace. Stopped (without release) on drop.
struct Client {
    events: std::sync::mpsc::Receiver<DhcpEvent>,
    stop: Option<tokio::sync::oneshot::Sender<bool>>,
    thread: Option<std::thread::JoinHandle<()>>,
    logs: Logs,
}

impl Client {
    /// Starts a client on `ifname` in `ns`; `Bound` adds the address (and `Expired` removes
    /// it) as the engine would.
    fn start(ns: &Netns, params: DhcpParams) -> Self {
        let (events_tx, events) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<bool>();
        let logs = Logs::default();
        let writer = logs.clone();
        let path = format!("/run/netns/{}", ns.name);
        let nsname = ns.name.clone();
        let thread = std::thread::spawn(move || {
            let f = std::fs::File::open(&path).expect("open netns");
            // SAFETY: setns on this thread only, with a descriptor we own.
            let rc =
                unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::DEBUG)
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .finish();
            let _guard = tracing::subscriber::set_default(subscriber);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            let ifname = params.ifname.clone();
            rt.block_on(async move {
                let (tx, mut rx) = netpilot::engine::EventSender::detached(16);
                let client = DhcpClient::start(params, tx);
                let mut stop_rx = stop_rx;
                let mut current: Option<Lease> = None;
                loop {
                    tokio::select! {
                        release = &mut stop_rx => {
                            client.stop(release.unwrap_or(false)).await;
                            return;
                        }
                        Some(report) = rx.recv() => {
                            match &report.event {
                                DhcpEvent::Bound(l) => {
                                    let cidr = format!("{}/{}", l.address, l.prefix_len);
                                    common::run("ip", &["-n", &nsname, "addr", "replace", &cidr, "dev", &ifname]);
                                    current = Some(l.clone());
                                }
                                DhcpEvent::Expired => {
                                    if let Some(l) = current.take() {
                                        let cidr = format!("{}/{}", l.address, l.prefix_len);
                                        common::run("ip", &["-n", &nsname, "addr", "del", &cidr, "dev", &ifname]);
                                    }
                                }
                                DhcpEvent::Failed(_) => {}
                            }
                            if events_tx.send(report.event).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        });
        Client {
            events,
            stop: Some(stop_tx),
            thread: Some(thread),
            logs,
        }
    }

    /// The next event, failing after `within`.
    fn next(&self, what: &str, within: Duration) -> DhcpEvent {
        self.events.recv_timeout(within).unwrap_or_else(|e| {
            panic!(
                "waiting for {what}: {e}\n---- client log ----\n{}",
                self.logs.text()
            )
        })
    }

    /// Events until one matches; returns all of them, the match last.
    fn until(&self, what: &str, matches: impl Fn(&DhcpEvent) -> bool) -> Vec<DhcpEvent> {
        let start = Instant::now();
        let mut seen = Vec::new();
        loop {
            let left = SLOW.checked_sub(start.elapsed()).unwrap_or_default();
            let e = self.next(&format!("{what} (so far {seen:?})"), left);
            let done = matches(&e);
            seen.push(e);
            if done {
                return seen;
            }
        }
    }

    fn bound(&self, what: &str) -> Lease {
        match self.until(what, |e| matches!(e, DhcpEvent::Bound(_))).pop() {
            Some(DhcpEvent::Bound(l)) => l,
            other => panic!("{what}: {other:?}"),
        }
    }

    fn failed(&self, what: &str) -> String {
        match self
            .until(what, |e| matches!(e, DhcpEvent::Failed(_)))
            .pop()
        {
            Some(DhcpEvent::Failed(why)) => why,
            other => panic!("{what}: {other:?}"),
        }
    }

    fn stop(mut self, release: bool) -> String {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(release);
        }
        if let Some(t) = self.thread.take() {
            t.join().expect("client thread");
        }
        self.logs.text()
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(false);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if std::thread::panicking() {
            eprintln!("---- client log ----\n{}", self.logs.text());
        }
    }
}

fn ifindex_and_mac(ns: &Netns, ifname: &str) -> (u32, [u8; 6]) {
    let v: serde_json::Value =
        serde_json::from_str(&ns.ip(&["-j", "link", "show", ifname])).expect("ip -j");
    let index = v[0]["ifindex"].as_u64().expect("ifindex") as u32;
    let mut mac = [0u8; 6];
    for (i, part) in v[0]["address"]
        .as_str()
        .expect("mac")
        .split(':')
        .enumerate()
    {
        mac[i] = u8::from_str_radix(part, 16).expect("hex");
    }
    (index, mac)
}

fn params(bed: &Testbed, state: &Path) -> DhcpParams {
    let (ifindex, mac) = ifindex_and_mac(&bed.host, "veth0");
    DhcpParams {
        key: ReportKey {
            service: ServiceId("ethernet_test_cable".into()),
            generation: 1,
        },
        ifindex,
        ifname: "veth0".into(),
        mac,
        hostname: "robot-7".into(),
        vendor_class: "netpilot-test".into(),
        client_id: ClientIdMode::Duid,
        duid_file: state.join("duid"),
        lease_file: Some(state.join("veth0.lease")),
        classless_routes: ClasslessRoutes::NoDefaultOverride,
        arp_check: false,
    }
}

/// dnsmasq on peer0 serving 198.18.1.100-150 (router .1, DNS .53, MTU 1400, 2 min
/// leases), logging every exchange (`--log-dhcp`) to `dnsmasq.log` in `dir`.
fn dnsmasq(bed: &Testbed, dir: &Path) -> Peer {
    bed.peer
        .ip(&["addr", "add", "198.18.1.1/24", "dev", "peer0"]);
    let leases = dir.join("dnsmasq.leases");
    let args = [
        "--no-daemon".to_string(),
        "--conf-file=/dev/null".into(),
        "--no-ping".into(),
        "--no-resolv".into(),
        "--no-hosts".into(),
        "--port=0".into(),
        "--interface=peer0".into(),
        "--bind-interfaces".into(),
        "--dhcp-authoritative".into(),
        "--dhcp-range=198.18.1.100,198.18.1.150,255.255.255.0,2m".into(),
        "--dhcp-option=option:router,198.18.1.1".into(),
        "--dhcp-option=option:dns-server,198.18.1.53".into(),
        "--dhcp-option=option:domain-name,lab.example".into(),
        "--dhcp-option=option:mtu,1400".into(),
        format!("--dhcp-leasefile={}", leases.display()),
        "--pid-file=".into(),
        "--user=root".into(),
        "--group=root".into(),
        "--log-dhcp".into(),
        "--log-facility=-".into(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let peer = Peer::start(
        &bed.peer,
        "dnsmasq",
        "dnsmasq",
        &args,
        &dir.join("dnsmasq.log"),
    );
    wait_for_log(&dir.join("dnsmasq.log"), "DHCP, IP range");
    peer
}

/// The small Python server on peer0 (198.18.6.1), offering `address` with `flags`.
fn small_server(bed: &Testbed, dir: &Path, address: &str, flags: &[&str]) -> Peer {
    bed.peer
        .ip(&["addr", "add", "198.18.6.1/24", "dev", "peer0"]);
    let mut args = vec![
        peer_script("dhcp_server.py"),
        "peer0".into(),
        "198.18.6.1".into(),
        address.into(),
    ];
    args.extend(flags.iter().map(|f| f.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let log = dir.join("server.log");
    let peer = Peer::start(&bed.peer, "dhcp_server", "python3", &args, &log);
    wait_for_log(&log, "ready on");
    peer
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Waits until `path` contains `text`.
fn wait_for_log(path: &Path, text: &str) {
    let start = Instant::now();
    while !read(path).contains(text) {
        assert!(
            start.elapsed() < DEADLINE,
            "{} never said {text:?}:\n{}",
            path.display(),
            read(path)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("ip")
}

/// `ack_to_report_us=N` values from a client log.
fn ack_to_report(log: &str) -> Vec<u64> {
    log.lines()
        .filter_map(|l| l.split("ack_to_report_us=").nth(1))
        .filter_map(|v| v.split_whitespace().next()?.parse().ok())
        .collect()
}

#[test]
fn first_lease_from_dnsmasq_with_checksum_offload_on_and_off() {
    for offload in [true, false] {
        let bed = Testbed::new();
        bed.veth("veth0", "peer0");
        let dir = tempfile::tempdir().expect("tmp");
        if !offload {
            bed.peer.exec("ethtool", &["-K", "peer0", "tx", "off"]);
        }
        let _dnsmasq = dnsmasq(&bed, dir.path());
        // Another address in the client's namespace: a UDP socket would send DISCOVER from
        // it (../shared/notes/crates.md §8); the packet socket sends from 0.0.0.0.
        bed.host.ip(&[
            "link", "add", "other0", "type", "veth", "peer", "name", "other1",
        ]);
        bed.host
            .ip(&["addr", "add", "198.18.99.1/24", "dev", "other0"]);
        bed.host.ip(&["link", "set", "other0", "up"]);
        let p = params(&bed, dir.path());
        let client = Client::start(&bed.host, p);
        let lease = client.bound(&format!("first lease (offload {offload})"));
        assert!(
            (u32::from(ip("198.18.1.100"))..=u32::from(ip("198.18.1.150")))
                .contains(&u32::from(lease.address)),
            "{lease:?}"
        );
        assert_eq!(
            (lease.prefix_len, lease.gateway, lease.server),
            (24, Some(ip("198.18.1.1")), ip("198.18.1.1"))
        );
        assert_eq!(lease.nameservers, vec![ip("198.18.1.53")]);
        assert_eq!(lease.domains, vec!["lab.example"]);
        assert_eq!(
            (lease.mtu, lease.lease_secs, lease.t1_secs, lease.t2_secs),
            (Some(1400), 120, 60, 105)
        );
        let log = client.stop(false);
        let server = read(&dir.path().join("dnsmasq.log"));
        assert!(
            server.contains("vendor class: netpilot-test"),
            "option 60 seen by dnsmasq:\n{server}"
        );
        assert!(
            server.contains("client provides name: robot-7"),
            "option 12:\n{server}"
        );
        // dnsmasq's lease file ends each line with the client id (option 61): ff, the IAID
        // (last four MAC bytes), then the DUID: DUID-EN 00:02:00:00:ab:11:… from the
        // machine id, or a DUID-UUID 00:04:… where there is none.
        let leases = dir.path().join("dnsmasq.leases");
        wait_for_log(&leases, &lease.address.to_string());
        let (_, mac) = ifindex_and_mac(&bed.host, "veth0");
        let iaid = mac[2..]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":");
        let leases = read(&leases);
        assert!(
            leases.contains(&format!("ff:{iaid}:00:02:00:00:ab:11:"))
                || leases.contains(&format!("ff:{iaid}:00:04:")),
            "RFC 4361 client id in dnsmasq's lease file:\n{leases}"
        );
        assert!(
            server.contains(&format!("DHCPACK(peer0) {}", lease.address)),
            "{server}"
        );
        let closes: Vec<&str> = log
            .lines()
            .filter_map(|l| l.split("close_us=").nth(1))
            .collect();
        eprintln!(
            "offload {offload}: ACK -> Bound report: {:?} us; packet socket closes (after the report): {closes:?} us",
            ack_to_report(&log)
        );
        assert_eq!(ack_to_report(&log).len(), 1, "{log}");
    }
}

#[test]
fn init_reboot_from_the_lease_file_is_one_request_and_ack_and_release_is_seen() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let dir = tempfile::tempdir().expect("tmp");
    let _dnsmasq = dnsmasq(&bed, dir.path());
    let first = Client::start(&bed.host, params(&bed, dir.path()));
    let lease = first.bound("first lease");
    first.stop(false);
    assert!(
        dir.path().join("veth0.lease").exists(),
        "lease file written"
    );
    let log_path = dir.path().join("dnsmasq.log");
    let before = read(&log_path).len();

    // A new client (a daemon restart) with the same lease file: INIT-REBOOT.
    let second = Client::start(&bed.host, params(&bed, dir.path()));
    let again = second.bound("INIT-REBOOT lease");
    assert_eq!(again.address, lease.address);
    let after = read(&log_path)[before..].to_string();
    let count = |what: &str| after.lines().filter(|l| l.contains(what)).count();
    assert_eq!(
        (
            count("DHCPDISCOVER"),
            count("DHCPREQUEST"),
            count("DHCPACK")
        ),
        (0, 1, 1),
        "one REQUEST and one ACK:\n{after}"
    );
    assert!(
        second.logs.text().contains("INIT-REBOOT"),
        "{}",
        second.logs.text()
    );

    // stop(true): DHCPRELEASE reaches the server and the lease file is gone.
    second.stop(true);
    wait_for_log(&log_path, &format!("DHCPRELEASE(peer0) {}", lease.address));
    assert!(
        !dir.path().join("veth0.lease").exists(),
        "a released lease is forgotten"
    );
}

#[test]
fn a_renewal_succeeds_over_udp_unicast() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let dir = tempfile::tempdir().expect("tmp");
    let _server = small_server(&bed, dir.path(), "198.18.6.30", &["--lease", "8"]);
    let client = Client::start(&bed.host, params(&bed, dir.path()));
    let first = client.bound("lease");
    assert_eq!(
        (
            first.address,
            first.lease_secs,
            first.t1_secs,
            first.t2_secs
        ),
        (ip("198.18.6.30"), 8, 4, 7)
    );
    // Nothing but the renewed lease: no Expired (the address stays), no Failed.
    let events = client.until("renewed lease at T1", |e| matches!(e, DhcpEvent::Bound(_)));
    let renewed = match &events[..] {
        [DhcpEvent::Bound(l)] => l.clone(),
        other => panic!("a renewal keeps the lease: {other:?}"),
    };
    assert_eq!(renewed.address, first.address);
    assert!(
        renewed.acquired > first.acquired,
        "a renewal starts a new lease period"
    );
    let server = read(&dir.path().join("server.log"));
    assert!(
        server.contains("got 1 from 0.0.0.0 ciaddr=0.0.0.0"),
        "DISCOVER from 0.0.0.0 (packet socket):\n{server}"
    );
    assert!(
        server.contains("got 3 from 198.18.6.30 ciaddr=198.18.6.30"),
        "the renewal is a unicast REQUEST from our address (UDP socket):\n{server}"
    );
    let log = client.stop(false);
    assert!(
        log.lines()
            .any(|l| l.contains("time to renew") && l.contains("state=Renewing")),
        "{log}"
    );
    assert!(
        !log.contains("state=Rebinding"),
        "renewed at T1, before T2:\n{log}"
    );
}

#[test]
fn a_nak_during_renewal_expires_the_lease_and_a_new_one_follows() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let dir = tempfile::tempdir().expect("tmp");
    let _server = small_server(
        &bed,
        dir.path(),
        "198.18.6.30",
        &["--lease", "8", "--nak", "renewing"],
    );
    let client = Client::start(&bed.host, params(&bed, dir.path()));
    client.bound("lease");
    let events = client.until("lease again after a NAK", |e| {
        matches!(e, DhcpEvent::Bound(_))
    });
    assert!(
        matches!(&events[..], [DhcpEvent::Expired, DhcpEvent::Bound(_)]),
        "Expired, then a new lease: {events:?}"
    );
    let log = client.stop(false);
    assert!(
        log.lines().any(
            |l| l.contains("DHCPNAK: dropping the address and starting over")
                && l.contains("state=Renewing")
        ),
        "the NAK that answered the renewal (before T2) took the address:\n{log}"
    );
    assert!(
        log.contains("netpilot test NAK"),
        "the server's message is logged:\n{log}"
    );
}

#[test]
fn a_server_that_naks_every_request_gets_bounded_retries_with_backoff() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let dir = tempfile::tempdir().expect("tmp");
    let _server = small_server(&bed, dir.path(), "198.18.6.30", &["--nak", "all"]);
    let client = Client::start(&bed.host, params(&bed, dir.path()));
    let why = client.failed("a failure after NAKs in a row");
    assert!(
        why.contains("DHCP server 198.18.6.1 refused 3 requests in a row"),
        "{why}"
    );
    assert!(why.contains("netpilot test NAK"), "{why}");
    let log = client.stop(false);
    // The restart delays are the machine's decisions, logged: 0, then 2 s, then 4 s (each
    // plus up to 1 s of jitter).
    let waits: Vec<String> = log
        .lines()
        .filter(|l| l.contains("DHCPNAK: dropping"))
        .filter_map(|l| {
            l.split("restart_in=")
                .nth(1)?
                .split_whitespace()
                .next()
                .map(String::from)
        })
        .collect();
    assert!(waits.len() >= 3, "{log}");
    assert_eq!(waits[0], "0ns", "{waits:?}");
    assert!(waits[1].starts_with("2.") || waits[1] == "2s", "{waits:?}");
    assert!(waits[2].starts_with("4.") || waits[2] == "4s", "{waits:?}");
}

/// One hostile or broken server per case: what the client must report.
#[test]
fn hostile_offers_are_refused_with_a_reason_or_used_with_a_warning() {
    enum Want {
        /// `Failed` containing this.
        Fails(&'static str),
        /// `Bound`, passing this check, and a log line containing this.
        Binds(fn(&Lease) -> bool, &'static str),
    }
    use Want::*;
    let cases: Vec<(&str, Vec<&str>, Want)> = vec![
        ("198.18.6.30", vec!["--lease", "1"], Fails("lease time 1 s is below the minimum of 8 s")),
        ("198.18.6.30", vec!["--lease", "0"], Fails("lease time 0 s is below the minimum of 8 s")),
        ("198.18.6.255", vec![], Fails("offered address 198.18.6.255 is the subnet's broadcast address")),
        ("198.18.6.1", vec![], Fails("offered address 198.18.6.1 is the DHCP server's own address")),
        ("198.18.6.30", vec!["--mask", "0.0.0.0"], Fails("subnet mask 0.0.0.0 (/0)")),
        (
            "198.18.6.30",
            vec!["--router", "127.0.0.1"],
            Binds(|l| l.gateway.is_none(), "router 127.0.0.1 refused: it is a loopback address"),
        ),
        (
            "198.18.6.30",
            vec!["--dns-count", "63"],
            Binds(|l| l.nameservers.len() == 3, "63 nameservers offered; using the first 3"),
        ),
        ("198.18.6.30", vec!["--mtu", "68"], Binds(|l| l.mtu.is_none(), "MTU 68 (option 26) ignored")),
        (
            "198.18.6.30",
            vec!["--router", "198.18.9.1"],
            Binds(|l| l.gateway == Some(ip("198.18.9.1")), "router 198.18.9.1 is outside 198.18.6.0/24"),
        ),
        (
            "198.18.6.30",
            vec!["--mask", "255.255.255.255"],
            Binds(|l| l.prefix_len == 32 && l.gateway == Some(ip("198.18.6.1")), "outside 198.18.6.30/32"),
        ),
        (
            "198.18.6.30",
            vec!["--lease", "4294967295"],
            Binds(|l| l.lease_secs == u32::MAX && l.t1_secs == u32::MAX, "lease_secs=4294967295"),
        ),
        (
            "198.18.6.30",
            vec!["--garbage"],
            Binds(|l| l.domains.is_empty(), "option 15 declares 200 bytes but 3 remain"),
        ),
        (
            "198.18.6.30",
            vec!["--classless", "0.0.0.0/0:198.18.6.1,0.0.0.0/1:198.18.6.66,128.0.0.0/1:198.18.6.66,10.0.0.0/8:198.18.6.2"],
            Binds(
                |l| l.gateway == Some(ip("198.18.6.1")) && l.routes == vec![(ip("10.0.0.0"), 8, ip("198.18.6.2"))],
                "TunnelVision",
            ),
        ),
    ];
    for (address, flags, want) in cases {
        let what = format!("{address} {flags:?}");
        let bed = Testbed::new();
        bed.veth("veth0", "peer0");
        let dir = tempfile::tempdir().expect("tmp");
        let _server = small_server(&bed, dir.path(), address, &flags);
        let client = Client::start(&bed.host, params(&bed, dir.path()));
        match want {
            Fails(reason) => {
                let why = client.failed(&what);
                assert!(why.contains(reason), "{what}: {why}");
                let log = client.stop(false);
                assert!(
                    log.contains(reason),
                    "{what}: the reason is logged too:\n{log}"
                );
            }
            Binds(check, line) => {
                let lease = client.bound(&what);
                assert!(check(&lease), "{what}: {lease:?}");
                let log = client.stop(false);
                assert!(
                    log.contains(line),
                    "{what}: log line {line:?} missing:\n{log}"
                );
            }
        }
    }
}

#[test]
fn arp_check_binds_a_free_address_and_declines_a_taken_one() {
    for taken in [false, true] {
        let bed = Testbed::new();
        bed.veth("veth0", "peer0");
        let dir = tempfile::tempdir().expect("tmp");
        let _server = small_server(&bed, dir.path(), "198.18.6.30", &[]);
        if taken {
            // Another host on the link already has the address: the peer answers ARP for it.
            bed.peer
                .ip(&["addr", "add", "198.18.6.30/32", "dev", "peer0"]);
        }
        let mut p = params(&bed, dir.path());
        p.arp_check = true;
        let client = Client::start(&bed.host, p);
        if taken {
            let why = client.failed("declined after an ARP conflict");
            assert!(
                why.contains("address 198.18.6.30 is already in use by"),
                "{why}"
            );
            wait_for_log(
                &dir.path().join("server.log"),
                "dhcp_server: got 4 from 0.0.0.0",
            );
        } else {
            let lease = client.bound("bound after the probes");
            assert_eq!(lease.address, ip("198.18.6.30"));
            let log = client.stop(false);
            assert!(
                log.contains("ARP probe: no other host uses the address"),
                "{log}"
            );
        }
    }
}

#[test]
fn mac_client_id_and_no_lease_file_work_too() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let dir = tempfile::tempdir().expect("tmp");
    let _dnsmasq = dnsmasq(&bed, dir.path());
    let mut p = params(&bed, dir.path());
    p.client_id = ClientIdMode::Mac;
    p.lease_file = None;
    p.vendor_class = String::new();
    let client = Client::start(&bed.host, p);
    client.bound("lease with a MAC client id");
    client.stop(true);
    let server = read(&dir.path().join("dnsmasq.log"));
    assert!(
        !server.contains("vendor class"),
        "no option 60 when empty:\n{server}"
    );
    assert!(!PathBuf::from(dir.path()).join("veth0.lease").exists());
}

/// The daemon with the client wired in: after a restart it asks for its address with
/// INIT-REBOOT from the lease file under its state dir, and the service is ready again.
#[tokio::test]
async fn the_daemon_reboots_into_its_lease_after_a_restart() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let dir = tempfile::tempdir().expect("tmp");
    let _dnsmasq = dnsmasq(&bed, dir.path());
    let config = "managed_interfaces = [\"veth*\"]\n[online_check]\nmode = \"off\"\n[dhcp]\nvendor_class = \"netpilot-daemon\"\n";
    let mut daemon = Daemon::start(&bed.host, config, &[]).await;
    let ready = |s: &pb::Service| s.state() == pb::ServiceState::Ready;
    let mut manager = daemon.manager().await;
    let first = wait_service(&mut manager, "ready", SLOW, ready).await;
    let address = first.ipv4.clone().expect("ipv4").address;
    let lease_file = daemon
        .dir
        .path()
        .join("state/dhcp")
        .join(format!("{}.lease", first.id));
    assert!(
        lease_file.exists(),
        "lease file under the state dir:\n{}",
        daemon.log()
    );
    assert!(daemon.dir.path().join("state/dhcp/duid").exists());
    let log_path = dir.path().join("dnsmasq.log");
    assert!(read(&log_path).contains("vendor class: netpilot-daemon"));
    let before = read(&log_path).len();

    daemon.restart().await;
    let mut manager = daemon.manager().await;
    let again = wait_service(&mut manager, "ready after the restart", SLOW, ready).await;
    assert_eq!(again.ipv4.expect("ipv4").address, address);
    let after = read(&log_path)[before..].to_string();
    let count = |what: &str| after.lines().filter(|l| l.contains(what)).count();
    assert_eq!(
        (
            count("DHCPDISCOVER"),
            count("DHCPREQUEST"),
            count("DHCPACK")
        ),
        (0, 1, 1),
        "INIT-REBOOT after the restart:\n{after}\n---- netpilotd ----\n{}",
        daemon.log()
    );
}
