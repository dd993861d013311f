//! Wired IEEE 802.1X end to end: netpilotd in a test namespace drives a real
//! `wpa_supplicant -Dwired` on its side of a veth; the peer side has a real `hostapd -Dwired`
//! with its internal EAP server (a test PKI made with openssl) and dnsmasq. wpa_supplicant is
//! started by the test (`[wifi] ctrl_dir`) or by netpilotd (`spawn_supplicant`). Needs root.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::eap::Authenticator;
use common::pki::{make_pki, Pki};
use common::{read_until, wait_service, watch, Daemon, Peer, Testbed, DEADLINE};
use netpilot::pb;
use pb::watch_manager_response::Event;
use tonic_types::StatusExt;

/// A deadline for 802.1X, DHCP and restarts on a loaded machine; never a measurement.
const SLOW: Duration = Duration::from_secs(45);
/// The peer's network: hostapd and dnsmasq at .1, leases from .100.
const NET: &str = "198.18.4";
/// hostapd's users: EAP-TLS for the test client certificate, PEAP/MSCHAPv2 for np-user.
const USERS: &str = "\"np-tls-client\" TLS\n* PEAP\n\"np-user\" MSCHAPV2 \"np-password\" [2]\n";
/// np-user's password; it must never show in netpilotd's log.
const PASSWORD: &str = "np-password";

/// The daemon's port `veth0` and its peer `auth0` with hostapd and dnsmasq. Fields drop in
/// order: netpilotd (and what it started) first, the namespaces and files last.
struct Port {
    daemon: Daemon,
    /// wpa_supplicant when the test runs it; `None` when netpilotd does.
    wpa: Option<Peer>,
    _dnsmasq: Peer,
    hostapd: Authenticator,
    pki: Pki,
    bed: Testbed,
    dir: tempfile::TempDir,
    /// The port's service id.
    id: String,
}

impl Port {
    /// Everything up; `spawn` lets netpilotd start wpa_supplicant itself.
    async fn start(spawn: bool) -> Port {
        let bed = Testbed::new();
        bed.veth("veth0", "auth0");
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = make_pki(dir.path());
        bed.peer
            .ip(&["addr", "add", &format!("{NET}.1/24"), "dev", "auth0"]);
        let hostapd = Authenticator::start(&bed.peer, "auth0", dir.path(), &pki, USERS);
        let _dnsmasq = dnsmasq(&bed, dir.path());
        let ctrl = dir.path().join("ctrl");
        let wpa = (!spawn).then(|| {
            let conf = dir.path().join("wpa.conf");
            std::fs::write(
                &conf,
                format!(
                    "ctrl_interface={}\nap_scan=0\neapol_version=2\n",
                    ctrl.display()
                ),
            )
            .expect("wpa.conf");
            Peer::start(
                &bed.host,
                "wpa_supplicant",
                "wpa_supplicant",
                &[
                    "-Dwired",
                    "-i",
                    "veth0",
                    "-c",
                    &conf.display().to_string(),
                    "-dd",
                    "-t",
                    "-f",
                    &dir.path().join("wpa_supplicant.log").display().to_string(),
                ],
                &dir.path().join("wpa_supplicant.stderr"),
            )
        });
        let config = format!(
            "managed_interfaces = [\"veth0\"]\n\
             [online_check]\nmode = \"off\"\n\
             [connect]\ntimeout = 40\nretry_min = 1\nretry_max = 2\n\
             [wifi]\nctrl_dir = {:?}\nmax_auth_attempts = 2\nspawn_supplicant = {spawn}\n\
             [ieee8021x]\ninterfaces = [\"veth0\"]\n",
            ctrl.display().to_string()
        );
        let daemon = Daemon::start(&bed.host, &config, &[]).await;
        let id = bed.service_id("veth0");
        Port {
            daemon,
            wpa,
            _dnsmasq,
            hostapd,
            pki,
            bed,
            dir,
            id,
        }
    }

    fn ctrl_dir(&self) -> PathBuf {
        self.dir.path().join("ctrl")
    }

    /// wpa_supplicant's debug log (only when the test runs it).
    fn wpa_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("wpa_supplicant.log")).unwrap_or_default()
    }

    async fn connect(
        &self,
        credentials: Option<pb::Credentials>,
    ) -> Result<pb::Service, tonic::Status> {
        let mut manager = self.daemon.manager().await;
        manager
            .connect_service(pb::ConnectServiceRequest {
                service_id: self.id.clone(),
                timeout: None,
                credentials,
            })
            .await
            .map(|r| r.into_inner().service.expect("service"))
    }

    async fn service(&self) -> pb::Service {
        let mut manager = self.daemon.manager().await;
        manager
            .get_service(pb::GetServiceRequest {
                service_id: self.id.clone(),
            })
            .await
            .expect("get service")
            .into_inner()
            .service
            .expect("service")
    }

    /// Waits until the port's service matches `check`.
    async fn wait(&self, what: &str, check: impl Fn(&pb::Service) -> bool) -> pb::Service {
        let mut manager = self.daemon.manager().await;
        wait_service(&mut manager, what, SLOW, |s| s.id == self.id && check(s)).await
    }

    /// EAP authentications hostapd started.
    fn eap_starts(&self) -> usize {
        self.hostapd.count("CTRL-EVENT-EAP-STARTED")
    }

    /// EAP authentications hostapd completed with success.
    fn successes(&self) -> usize {
        self.hostapd.count("CTRL-EVENT-EAP-SUCCESS")
    }

    /// Waits until hostapd has completed more than `before` authentications.
    async fn wait_success_after(&self, before: usize, what: &str) {
        let start = Instant::now();
        while self.successes() <= before {
            assert!(
                start.elapsed() < SLOW,
                "{what}: no new EAP success in {SLOW:?}:\n{}",
                self.hostapd.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Port {
    /// netpilotd's own wpa_supplicant outlives a netpilotd killed with SIGKILL: find it now,
    /// kill netpilotd, then it (only a process whose command line names this test's control
    /// directory, so never a reused PID).
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("---- hostapd log ----\n{}", self.hostapd.log());
            eprintln!("---- wpa_supplicant log ----\n{}", self.wpa_log());
        }
        if self.wpa.is_some() || !self.daemon.alive() {
            return;
        }
        let ours = children(self.daemon.pid(), "wpa_supplicant");
        // SAFETY: kill with the PID of netpilotd, our child, not reaped yet.
        unsafe { libc::kill(self.daemon.pid(), libc::SIGKILL) };
        let ctrl = self.ctrl_dir().display().to_string();
        for pid in ours {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&ctrl) {
                // SAFETY: a process netpilotd started for this test, checked just now.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

/// dnsmasq on `auth0` serving `NET.100-150` for 2 minutes, its log in `dir`.
fn dnsmasq(bed: &Testbed, dir: &Path) -> Peer {
    let args = [
        "--no-daemon".to_string(),
        "--conf-file=/dev/null".into(),
        "--no-ping".into(),
        "--no-resolv".into(),
        "--no-hosts".into(),
        "--port=0".into(),
        "--interface=auth0".into(),
        "--bind-interfaces".into(),
        "--dhcp-authoritative".into(),
        format!("--dhcp-range={NET}.100,{NET}.150,255.255.255.0,2m"),
        format!("--dhcp-option=option:router,{NET}.1"),
        format!("--dhcp-leasefile={}", dir.join("leases").display()),
        "--pid-file=".into(),
        "--user=root".into(),
        "--group=root".into(),
        "--log-dhcp".into(),
        "--log-facility=-".into(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Peer::start(
        &bed.peer,
        "dnsmasq",
        "dnsmasq",
        &args,
        &dir.join("dnsmasq.log"),
    )
}

/// PIDs of the processes named `comm` whose parent is `parent`.
fn children(parent: i32, comm: &str) -> Vec<i32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // "pid (comm) state ppid …"; comm may hold spaces and parentheses.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let ppid = stat[close + 1..]
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<i32>().ok());
        if &stat[open + 1..close] == comm && ppid == Some(parent) {
            found.push(pid);
        }
    }
    found
}

/// Whether a process runs (exists and is not a zombie).
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rfind(')')
            .and_then(|close| stat[close + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z")
    })
}

/// One request on wpa_supplicant's control socket, retried until it answers.
fn ctrl_request(ctrl_dir: &Path, ifname: &str, client: &Path, request: &str) -> String {
    let _ = std::fs::remove_file(client);
    let sock = UnixDatagram::bind(client).expect("bind a control client socket");
    sock.set_read_timeout(Some(Duration::from_secs(1)))
        .expect("read timeout");
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        if sock.connect(ctrl_dir.join(ifname)).is_ok() && sock.send(request.as_bytes()).is_ok() {
            if let Ok(n) = sock.recv(&mut buf) {
                let _ = std::fs::remove_file(client);
                return String::from_utf8_lossy(&buf[..n]).into_owned();
            }
        }
        assert!(
            start.elapsed() < DEADLINE,
            "wpa_supplicant did not answer {request:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn peap(password: &str) -> pb::Credentials {
    pb::Credentials {
        identity: "np-user".into(),
        password: password.into(),
        ..Default::default()
    }
}

fn ipv4(s: &pb::Service) -> &str {
    s.ipv4
        .as_ref()
        .map(|i| i.address.as_str())
        .unwrap_or_default()
}

fn is_8021x(s: &pb::Service) -> bool {
    s.security.contains(&(pb::Security::Ieee8021x as i32))
}

fn ready(s: &pb::Service) -> bool {
    s.state() == pb::ServiceState::Ready && ipv4(s).starts_with(&format!("{NET}."))
}

/// The port's address in the kernel, as `a.b.c.d/len`.
fn kernel_ipv4(bed: &Testbed) -> Vec<String> {
    let json = bed.host.ip(&["-4", "-j", "addr", "show", "dev", "veth0"]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("ip -j addr");
    v[0]["addr_info"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            format!(
                "{}/{}",
                a["local"].as_str().unwrap_or_default(),
                a["prefixlen"]
            )
        })
        .collect()
}

/// The states the port's service went through, from WatchManager events.
fn states(seen: &[pb::WatchManagerResponse], id: &str) -> Vec<pb::ServiceState> {
    seen.iter()
        .filter_map(|m| match &m.event {
            Some(Event::ServiceStateChanged(c)) if c.service_id == id => Some(c.state()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn peap_password_to_ready_and_stored() {
    let mut port = Port::start(false).await;
    let mut manager = port.daemon.manager().await;
    let (_, mut events) = watch(&mut manager).await;
    port.wait("the port's 802.1X service", is_8021x).await;

    let service = port
        .connect(Some(peap(PASSWORD)))
        .await
        .unwrap_or_else(|e| panic!("connect: {e:?}\n{}", port.wpa_log()));
    assert!(ready(&service), "{service:#?}");
    let seen = read_until(&mut events, "ready", |m| {
        matches!(&m.event, Some(Event::ServiceStateChanged(c))
            if c.service_id == port.id && c.state() == pb::ServiceState::Ready)
    })
    .await;
    use pb::ServiceState::{Association, Configuration, Ready};
    assert!(
        states(&seen, &port.id).ends_with(&[Association, Configuration, Ready]),
        "{:?}",
        states(&seen, &port.id)
    );
    assert!(port.successes() >= 1, "{}", port.hostapd.log());

    let service = port
        .wait("credentials stored", |s| s.identity_set && s.password_set)
        .await;
    assert!(
        is_8021x(&service) && service.security.len() == 1,
        "{service:#?}"
    );
    assert_eq!(service.r#type(), pb::TechnologyType::Ethernet);
    let address = format!(
        "{}/{}",
        ipv4(&service),
        service
            .ipv4
            .as_ref()
            .map(|i| i.prefix_length)
            .unwrap_or_default()
    );
    assert_eq!(kernel_ipv4(&port.bed), vec![address]);

    let secrets = port.daemon.dir.path().join("state/secrets");
    let file = secrets.join(format!("{}.json", port.id));
    let mode = |p: &Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&file), 0o600, "{}", file.display());
    assert_eq!(mode(&secrets), 0o700);
    let stored = std::fs::read_to_string(&file).expect("stored credentials");
    assert!(stored.contains(PASSWORD) && stored.contains("np-user"));

    // With its credentials stored the port connects by itself, after a restart too.
    let before = port.successes();
    port.daemon.restart().await;
    port.wait_success_after(before, "authentication after a restart")
        .await;
    port.wait("ready after a restart", ready).await;

    let log = port.daemon.log();
    assert!(log.contains(&port.id), "the log is the daemon's");
    assert!(
        !log.contains(PASSWORD),
        "the password is in netpilotd's log"
    );
}

#[tokio::test]
async fn wrong_password_fails_auth_failed_and_stops() {
    let port = Port::start(false).await;
    // wpa_supplicant retries a failed authentication after heldPeriod (60 s by default);
    // 1 s makes the retry loop netpilot has to stop show at once.
    let client = port.dir.path().join("test-client");
    for (k, v) in [("EAPOL::heldPeriod", "1"), ("EAPOL::startPeriod", "1")] {
        let reply = ctrl_request(&port.ctrl_dir(), "veth0", &client, &format!("SET {k} {v}"));
        assert_eq!(reply, "OK\n", "SET {k}");
    }
    port.wait("the port's 802.1X service", is_8021x).await;

    let err = port
        .connect(Some(peap("not-the-password")))
        .await
        .expect_err("a wrong password must not connect");
    assert_eq!(err.code(), tonic::Code::Unavailable, "{err:?}");
    let info = err.get_details_error_info().expect("ErrorInfo");
    assert_eq!(info.reason, "auth-failed", "{err:?}");
    let service = port.service().await;
    assert_eq!(service.state(), pb::ServiceState::Failure);
    assert_eq!(service.error, "auth-failed");
    assert!(!service.password_set, "a refused password is not stored");

    // Both attempts ([wifi] max_auth_attempts = 2) reached the server: the second one was
    // wpa_supplicant's own retry, the loop that must now have stopped.
    let starts = port.eap_starts();
    assert_eq!(starts, 2, "{}", port.hostapd.log());
    assert_eq!(port.hostapd.count("CTRL-EVENT-EAP-FAILURE"), 2);
    // Left alone, wpa_supplicant sends EAPOL-Start every second (held and start periods of
    // 1 s), and hostapd starts EAP again once it has dropped the station (5 s after a
    // failure). Once netpilot gave up, wpa_supplicant sends none: at most one that was on
    // its way when the network was disabled.
    let eapol_starts = || port.hostapd.count("received EAPOL-Start from STA");
    let (starts_before, quiet) = (eapol_starts(), Instant::now());
    while quiet.elapsed() < Duration::from_secs(5) {
        assert!(
            eapol_starts() <= starts_before + 1,
            "wpa_supplicant kept trying after auth-failed:\n{}",
            port.hostapd.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        port.eap_starts(),
        starts,
        "EAP started again after auth-failed"
    );
    let service = port.service().await;
    assert_eq!(
        (service.state(), service.error.as_str()),
        (pb::ServiceState::Failure, "auth-failed"),
        "autoconnect does not retry a refused password"
    );

    // The right password connects from the failure.
    let service = port.connect(Some(peap(PASSWORD))).await.expect("connect");
    assert!(ready(&service), "{service:#?}");
    assert!(!port.daemon.log().contains("not-the-password"));
}

/// A port that was authorized keeps nothing of it past a disconnect: connecting again with a
/// wrong password fails `auth-failed`, and never reads ready on the old authorization.
#[tokio::test]
async fn wrong_password_after_a_disconnect_fails() {
    let port = Port::start(false).await;
    port.wait("the port's 802.1X service", is_8021x).await;
    let service = port.connect(Some(peap(PASSWORD))).await.expect("connect");
    assert!(ready(&service), "{service:#?}");

    let mut manager = port.daemon.manager().await;
    manager
        .disconnect_service(pb::DisconnectServiceRequest {
            service_id: port.id.clone(),
        })
        .await
        .expect("disconnect");
    port.wait("idle after the disconnect", |s| {
        s.state() == pb::ServiceState::Idle
    })
    .await;
    // The authenticator was told (EAPOL-Logoff): it does not keep the port open for a
    // device that left it.
    let logoff = Instant::now();
    while !port.hostapd.log().contains("received EAPOL-Logoff") {
        assert!(
            logoff.elapsed() < SLOW,
            "no EAPOL-Logoff after the disconnect:\n{}",
            port.hostapd.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let starts = port.eap_starts();
    let err = port
        .connect(Some(peap("not-the-password")))
        .await
        .expect_err("a wrong password must not connect, also on a port authorized before");
    let info = err.get_details_error_info().expect("ErrorInfo");
    assert_eq!(info.reason, "auth-failed", "{err:?}");
    assert!(port.eap_starts() > starts, "{}", port.hostapd.log());
    let service = port.service().await;
    assert_eq!(
        (service.state(), service.error.as_str()),
        (pb::ServiceState::Failure, "auth-failed")
    );
}

#[tokio::test]
async fn eap_tls_from_eap_config() {
    let port = Port::start(false).await;
    port.wait("the port's 802.1X service", is_8021x).await;
    let eap = pb::EapSettings {
        method: pb::EapMethod::Tls.into(),
        ca_cert: port.pki.ca.clone(),
        client_cert: port.pki.client_cert.clone(),
        private_key: port.pki.client_key.clone(),
        domain_match: "np.test".into(),
        ..Default::default()
    };
    // Set as a user would, with the CLI (UpdateService with the eap_config mask).
    let socket = port.daemon.socket.display().to_string();
    let cli = env!("CARGO_BIN_EXE_netpilot");
    #[rustfmt::skip]
    common::run(cli, &[
        "--socket", &socket, "config", &port.id, "--eap", "tls",
        "--ca-cert", &eap.ca_cert, "--client-cert", &eap.client_cert,
        "--private-key", &eap.private_key, "--domain-match", &eap.domain_match,
    ]);
    // An unset phase 2 reads back as MSCHAPv2 (the proto's default); TLS has none.
    let eap = pb::EapSettings {
        phase2: pb::EapPhase2::Mschapv2.into(),
        ..eap
    };
    assert_eq!(port.service().await.eap_config.as_ref(), Some(&eap));

    let service = port
        .connect(Some(pb::Credentials {
            identity: "np-tls-client".into(),
            ..Default::default()
        }))
        .await
        .unwrap_or_else(|e| panic!("connect: {e:?}"));
    assert!(ready(&service), "{service:#?}");
    let log = port.hostapd.log();
    // EAP type 13 is EAP-TLS (RFC 5216).
    assert!(
        log.contains("CTRL-EVENT-EAP-SUCCESS")
            && log.contains("CTRL-EVENT-EAP-PROPOSED-METHOD vendor=0 method=13"),
        "{log}"
    );
    let service = port.wait("identity stored", |s| s.identity_set).await;
    assert!(!service.password_set);
    assert_eq!(service.eap_config.as_ref(), Some(&eap));

    common::run(
        cli,
        &["--socket", &socket, "config", &port.id, "--eap", "clear"],
    );
    assert_eq!(port.service().await.eap_config, None, "--eap clear");
}

#[tokio::test]
async fn missing_credentials_without_agent() {
    let port = Port::start(false).await;
    let mut manager = port.daemon.manager().await;
    let (_, mut events) = watch(&mut manager).await;
    port.wait("the port's 802.1X service", is_8021x).await;

    let err = port
        .connect(None)
        .await
        .expect_err("nothing to authenticate with");
    assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err:?}");
    let info = err.get_details_error_info().expect("ErrorInfo");
    assert_eq!(info.reason, "identity-required", "{err:?}");
    let seen = read_until(
        &mut events,
        "InputRequired",
        |m| matches!(&m.event, Some(Event::InputRequired(r)) if r.service_id == port.id),
    )
    .await;
    match seen.last().and_then(|m| m.event.as_ref()) {
        Some(Event::InputRequired(r)) => assert_eq!(r.fields, ["Identity", "Password"]),
        other => panic!("{other:?}"),
    }
    // Nothing was sent to the authenticator, and nothing will be: without credentials the
    // port is not connected by itself.
    assert_eq!(port.eap_starts(), 0, "{}", port.hostapd.log());
    let service = port.service().await;
    assert_eq!(service.state(), pb::ServiceState::Idle, "{service:#?}");
    assert!(!service.identity_set && !service.password_set);
}

#[tokio::test]
async fn carrier_flap_reauthenticates() {
    let port = Port::start(false).await;
    port.wait("the port's 802.1X service", is_8021x).await;
    port.connect(Some(peap(PASSWORD))).await.expect("connect");
    let before = port.successes();
    let mut manager = port.daemon.manager().await;
    let (_, mut events) = watch(&mut manager).await;

    port.bed.carrier("auth0", false);
    port.wait("carrier lost", |s| s.state() == pb::ServiceState::Idle)
        .await;
    port.bed.carrier("auth0", true);
    port.wait_success_after(before, "authentication after carrier returned")
        .await;
    let service = port.wait("ready again", ready).await;
    assert!(is_8021x(&service));
    let wpa = port.wpa_log();
    assert!(
        wpa.matches("CTRL-EVENT-EAP-SUCCESS").count() >= 2,
        "wpa_supplicant authenticated twice:\n{wpa}"
    );
    // Straight back, not after the connect deadline failed it and a retry connected it.
    let seen = read_until(&mut events, "ready after the flap", |m| {
        matches!(&m.event, Some(Event::ServiceStateChanged(c))
            if c.service_id == port.id && c.state() == pb::ServiceState::Ready)
    })
    .await;
    use pb::ServiceState::{Association, Configuration, Idle, Ready};
    assert_eq!(
        states(&seen, &port.id),
        [Idle, Association, Configuration, Ready]
    );
}

#[tokio::test]
async fn spawned_supplicant_restarts_and_reauthenticates() {
    let mut port = Port::start(true).await;
    port.wait("the port's 802.1X service", is_8021x).await;
    let service = port
        .connect(Some(peap(PASSWORD)))
        .await
        .unwrap_or_else(|e| panic!("connect: {e:?}"));
    assert!(ready(&service), "{service:#?}");
    let daemon_pid = port.daemon.pid();
    let first = children(daemon_pid, "wpa_supplicant");
    assert_eq!(first.len(), 1, "one wpa_supplicant, started by netpilotd");
    let before = port.successes();

    // SAFETY: a wpa_supplicant netpilotd started for this test, found as its child.
    assert_eq!(unsafe { libc::kill(first[0], libc::SIGKILL) }, 0);
    let start = Instant::now();
    let second = loop {
        let now = children(daemon_pid, "wpa_supplicant");
        if let [pid] = now[..] {
            if pid != first[0] {
                break pid;
            }
        }
        assert!(
            start.elapsed() < SLOW,
            "netpilotd did not restart wpa_supplicant"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    port.wait_success_after(before, "authentication by the new wpa_supplicant")
        .await;
    port.wait("ready after the restart", ready).await;

    // A clean stop takes netpilotd's wpa_supplicant with it.
    port.daemon.sigterm();
    let status = port.daemon.wait_exit().await;
    assert!(status.success(), "{status}");
    common::eventually("wpa_supplicant stopped with netpilotd", || async {
        !running(second)
    })
    .await;

    // A crash (SIGKILL) takes it too, so a restarted netpilotd does not find a stale one.
    port.daemon.start_again().await;
    let start = Instant::now();
    let third = loop {
        if let [pid] = children(port.daemon.pid(), "wpa_supplicant")[..] {
            break pid;
        }
        assert!(
            start.elapsed() < SLOW,
            "netpilotd did not start wpa_supplicant"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    port.daemon.kill().await;
    common::eventually("wpa_supplicant ended with the killed netpilotd", || async {
        !running(third)
    })
    .await;
}
