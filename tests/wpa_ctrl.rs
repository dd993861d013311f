//! The wpa_supplicant control client (`tech::wifi::{ctrl, supplicant}`) against real
//! peers: `wpa_supplicant -Dwired` on a veth inside a test namespace, and for IEEE 802.1X
//! a real `hostapd -Dwired` with its internal EAP server on the other end. Certificates are
//! made with openssl at test time. Needs root (network namespaces), like every netns test.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::eap::{hexs, Authenticator};
use common::pki::{make_pki, Pki};
use common::{require_root, Netns, Peer, Testbed, DEADLINE};
use netpilot::tech::wifi::ctrl::{
    self, CtrlConfig, CtrlError, CtrlEvent, CtrlSocket, Unavailable, MAX_REQUEST_LEN,
};
use netpilot::tech::wifi::supplicant::{
    EapMethod, EapSettings, Event, NetworkId, NetworkSettings, Phase2, Psk, Secret, Security,
    Supplicant, SupplicantError, WpaState,
};
use tokio::sync::mpsc;

/// wpa_supplicant on `wpa0` in the host namespace of a testbed, with its control
/// directory and our client directory under one temp dir. Restartable.
struct Wpa {
    // Dropped in this order: the process first, then its namespaces, then its files.
    process: Option<Peer>,
    tb: Testbed,
    dir: tempfile::TempDir,
    starts: u32,
}

impl Wpa {
    fn new() -> Self {
        require_root();
        let tb = Testbed::new();
        tb.veth("wpa0", "auth0");
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("run")).expect("run dir");
        std::fs::write(
            dir.path().join("wpa.conf"),
            format!(
                "ctrl_interface={}\nap_scan=0\neapol_version=2\n",
                dir.path().join("ctrl").display()
            ),
        )
        .expect("wpa.conf");
        let mut me = Wpa {
            process: None,
            tb,
            dir,
            starts: 0,
        };
        me.start();
        me
    }

    fn start(&mut self) {
        assert!(self.process.is_none(), "already running");
        self.starts += 1;
        let conf = self.path("wpa.conf");
        // The debug log goes to stdout unless -f names a file.
        let log = self.path(&format!("wpa_supplicant-{}.log", self.starts));
        let stderr = self.path(&format!("wpa_supplicant-{}.stderr", self.starts));
        self.process = Some(Peer::start(
            &self.tb.host,
            "wpa_supplicant",
            "wpa_supplicant",
            &[
                "-Dwired", "-i", "wpa0", "-c", &conf, "-dd", "-t", "-f", &log,
            ],
            Path::new(&stderr),
        ));
    }

    /// Kills wpa_supplicant by its PID (SIGKILL: no TERMINATING, socket file left behind)
    /// and reaps it.
    fn kill(&mut self) {
        let p = self.process.take().expect("running");
        p.signal(libc::SIGKILL);
        drop(p);
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn config(&self) -> CtrlConfig {
        let mut cfg = CtrlConfig::new(
            self.dir.path().join("ctrl"),
            "wpa0",
            self.dir.path().join("run"),
        );
        cfg.ping_interval = Duration::from_millis(300);
        cfg.request_timeout = Duration::from_secs(2);
        cfg.retry_max = Duration::from_millis(500);
        cfg
    }

    fn log(&self) -> String {
        (1..=self.starts)
            .map(|n| {
                std::fs::read_to_string(self.path(&format!("wpa_supplicant-{n}.log")))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("\n----\n")
    }
}

/// Reads events until `pred` matches one, failing after `DEADLINE`. Returns all read.
async fn until(
    rx: &mut mpsc::Receiver<CtrlEvent>,
    what: &str,
    mut pred: impl FnMut(&CtrlEvent) -> bool,
) -> Vec<CtrlEvent> {
    let mut seen = Vec::new();
    let r = tokio::time::timeout(DEADLINE, async {
        while let Some(ev) = rx.recv().await {
            let done = pred(&ev);
            seen.push(ev);
            if done {
                return true;
            }
        }
        false
    })
    .await;
    let short: Vec<String> = seen.iter().map(|e| format!("{e:?}")).collect();
    assert!(
        matches!(r, Ok(true)),
        "waiting for {what}: not seen within {DEADLINE:?}; got {short:#?}"
    );
    seen
}

fn typed(ev: &CtrlEvent) -> Option<Event> {
    match ev {
        CtrlEvent::Message(m) => Event::from_message(m),
        _ => None,
    }
}

async fn until_event(
    rx: &mut mpsc::Receiver<CtrlEvent>,
    what: &str,
    mut pred: impl FnMut(&Event) -> bool,
) -> Vec<CtrlEvent> {
    until(rx, what, |ev| typed(ev).is_some_and(|e| pred(&e))).await
}

async fn available(rx: &mut mpsc::Receiver<CtrlEvent>) -> u64 {
    let seen = until(rx, "Available", |e| {
        matches!(e, CtrlEvent::Available { .. })
    })
    .await;
    match seen.last() {
        Some(CtrlEvent::Available { generation }) => *generation,
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn requests_long_and_large_replies_and_events() {
    let wpa = Wpa::new();
    let (sup, mut events) = Supplicant::spawn(wpa.config());
    assert_eq!(available(&mut events).await, 1);
    sup.ping().await.expect("PING");

    // A request over 127 bytes: 64-hex raw PSK, a 200-byte identity, a 200-byte path.
    let id = sup.add_network().await.expect("ADD_NETWORK");
    let psk = "0123456789abcdef".repeat(4);
    let psk_settings = NetworkSettings::new(
        b"np-raw-psk".to_vec(),
        Security::Psk(Psk::new(Secret::from(psk.as_str())).expect("raw psk")),
    )
    .expect("settings");
    sup.configure_network(id, &psk_settings)
        .await
        .expect("raw PSK");
    let identity: Vec<u8> = "user-ß\\\"x".bytes().cycle().take(200).collect();
    let path = format!("/nonexistent/{}", "d/".repeat(93));
    assert!(path.len() > 190);
    let mut eap = EapSettings::new(EapMethod::Peap(Phase2::MsChapV2), identity.clone());
    eap.password = Some(Secret::from("pw"));
    eap.ca_cert = Some(PathBuf::from(&path));
    let eap_settings = NetworkSettings::new(b"np-eap".to_vec(), Security::WiredEap(Box::new(eap)))
        .expect("settings");
    let id2 = sup
        .create_network(&eap_settings)
        .await
        .expect("create EAP network");
    let got = sup
        .get_network(id2, "identity")
        .await
        .expect("GET_NETWORK identity");
    assert_eq!(readback(&got), identity, "identity round trip: {got:?}");
    let got = sup
        .get_network(id2, "ca_cert")
        .await
        .expect("GET_NETWORK ca_cert");
    assert_eq!(readback(&got), path.as_bytes(), "ca_cert round trip");
    let got = sup.get_network(id, "ssid").await.expect("GET_NETWORK ssid");
    assert_eq!(readback(&got), b"np-raw-psk");

    // Longer than wpa_supplicant takes: refused here, not sent to be dropped silently.
    let huge = format!("SET_NETWORK {id} identity {}", "41".repeat(MAX_REQUEST_LEN));
    assert!(matches!(
        sup.ctrl().request(&huge).await,
        Err(CtrlError::TooLong { .. })
    ));

    // Each ADD_NETWORK shows up on the attached socket.
    until(&mut events, "NETWORK-ADDED", |e| {
        matches!(e, CtrlEvent::Message(m) if m.text == format!("CTRL-EVENT-NETWORK-ADDED {id2}"))
    })
    .await;

    // Many networks: LIST_NETWORKS replies stop near 4096 bytes; paging gets them all.
    for n in 0..160 {
        let s = NetworkSettings::new(
            format!("np-many-network-{n:03}").into_bytes(),
            Security::Open,
        )
        .expect("settings");
        sup.create_network(&s).await.expect("create");
    }
    let raw = sup.raw("LIST_NETWORKS").await.expect("LIST_NETWORKS");
    assert!(
        raw.len() > 3800 && raw.len() <= 4096,
        "one reply: {} bytes",
        raw.len()
    );
    assert!(raw.ends_with('\n'));
    let all = sup.list_networks().await.expect("list_networks");
    assert_eq!(all.len(), 162);
    let total: usize = all.iter().map(|e| e.ssid.len() + 10).sum();
    assert!(
        total > 4096,
        "listing spans several replies ({total} bytes)"
    );
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(
        all.last().map(|e| e.ssid.clone()),
        Some(b"np-many-network-159".to_vec())
    );

    // Typed errors.
    assert!(matches!(
        sup.select_network(NetworkId(99_999)).await,
        Err(SupplicantError::Failed { .. })
    ));
    assert!(matches!(
        sup.raw("NO_SUCH_COMMAND").await.as_deref(),
        Ok("UNKNOWN COMMAND\n")
    ));
    let st = sup.status().await.expect("STATUS");
    assert_ne!(st.wpa_state, WpaState::Completed);
    // A wired interface has an empty BSS table: BSS FIRST answers with an empty reply.
    assert_eq!(sup.bss_list().await.expect("bss_list"), Vec::new());
    drop(wpa);
}

/// wpa_supplicant's text for a variable (`"quoted"` or hex) as bytes.
fn readback(s: &str) -> Vec<u8> {
    let s = s.trim_end_matches('\n');
    match s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(q) => q.as_bytes().to_vec(),
        None => (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect(),
    }
}

#[tokio::test]
async fn timeout_against_a_peer_that_never_answers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let silent_path = dir.path().join("wlan9");
    let silent = std::os::unix::net::UnixDatagram::bind(&silent_path).expect("bind silent peer");
    // It reads (so nothing piles up), reports what it read, and never answers.
    let (seen_tx, mut seen) = mpsc::unbounded_channel::<Vec<u8>>();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 9000];
        while let Ok(len) = silent.recv(&mut buf) {
            if &buf[..len] == b"STOP" || seen_tx.send(buf[..len].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut sock = CtrlSocket::connect(&silent_path, dir.path()).expect("connect");
    let r = sock.request("PING", Duration::from_millis(300)).await;
    assert!(matches!(r, Err(CtrlError::Timeout { .. })), "{r:?}");
    let first = tokio::time::timeout(DEADLINE, seen.recv()).await;
    assert_eq!(
        first,
        Ok(Some(b"PING".to_vec())),
        "the silent peer read PING"
    );

    // The supervisor never calls it available (ATTACH unanswered, retried with backoff),
    // and requests fail at once.
    let mut cfg = CtrlConfig::new(dir.path(), "wlan9", dir.path());
    cfg.request_timeout = Duration::from_millis(200);
    cfg.retry_max = Duration::from_millis(200);
    let (handle, mut events) = ctrl::spawn(cfg);
    let attaches = tokio::time::timeout(DEADLINE, async {
        let mut n = 0;
        while let Some(d) = seen.recv().await {
            if d == b"ATTACH" {
                n += 1;
                if n == 3 {
                    break;
                }
            }
        }
        n
    })
    .await;
    assert_eq!(attaches, Ok(3), "the supervisor retries ATTACH");
    let r = tokio::time::timeout(Duration::from_secs(2), handle.request("PING")).await;
    assert!(matches!(r, Ok(Err(CtrlError::Unavailable { .. }))), "{r:?}");
    assert!(!handle.is_available());
    assert!(
        events.try_recv().is_err(),
        "no Available from a silent peer"
    );
    drop(handle);
    let stop = std::os::unix::net::UnixDatagram::unbound().expect("socket");
    stop.send_to(b"STOP", &silent_path).expect("stop reader");
    reader.join().expect("reader");
}

#[tokio::test]
async fn killed_and_restarted_wpa_supplicant() {
    let mut wpa = Wpa::new();
    let (sup, mut events) = Supplicant::spawn(wpa.config());
    assert_eq!(available(&mut events).await, 1);
    sup.ping().await.expect("PING");

    wpa.kill();
    until(&mut events, "Unavailable after SIGKILL", |e| {
        matches!(
            e,
            CtrlEvent::Unavailable(Unavailable::Gone | Unavailable::NoReply)
        )
    })
    .await;
    assert!(!sup.ctrl().is_available());
    let r = tokio::time::timeout(Duration::from_millis(500), sup.ping()).await;
    assert!(
        matches!(
            r,
            Ok(Err(SupplicantError::Ctrl(CtrlError::Unavailable { .. })))
        ),
        "requests fail at once while unavailable: {r:?}"
    );

    wpa.start();
    assert_eq!(available(&mut events).await, 2, "{}", wpa.log());
    sup.ping().await.expect("PING after restart");
    let id = sup.add_network().await.expect("ADD_NETWORK after restart");
    assert_eq!(
        id,
        NetworkId(0),
        "a new wpa_supplicant starts with no networks"
    );

    // A clean stop says TERMINATING, which the supervisor reports right away.
    wpa.process.as_ref().expect("running").signal(libc::SIGTERM);
    let seen = until(&mut events, "Unavailable after SIGTERM", |e| {
        matches!(e, CtrlEvent::Unavailable(_))
    })
    .await;
    assert!(
        seen.iter().any(|e| typed(e) == Some(Event::Terminating)),
        "{seen:?}"
    );
    assert_eq!(
        seen.last(),
        Some(&CtrlEvent::Unavailable(Unavailable::Terminating))
    );
    // No client socket is left behind once everything is dropped.
    drop(sup);
    let run = wpa.dir.path().join("run");
    common::eventually("client sockets removed", || {
        let run = run.clone();
        async move {
            std::fs::read_dir(&run)
                .map(|d| d.count() == 0)
                .unwrap_or(false)
        }
    })
    .await;
}

// ------------------------------------------------------------------ 802.1X end to end

/// An identity with a backslash, non-ASCII bytes and more than 200 characters (no `"`:
/// hostapd's eap_user file cannot hold one in an exact identity).
fn long_identity() -> Vec<u8> {
    let mut id = "np-long\\user-äöü-€".as_bytes().to_vec();
    while id.len() < 210 {
        id.extend_from_slice("-ßx\\".as_bytes());
    }
    id
}

/// A password with quotes, backslashes, a newline, non-ASCII and a 0xff byte.
fn odd_password() -> Vec<u8> {
    let mut pw = b"p\"w\\d 'q' \n".to_vec();
    pw.extend_from_slice("ünï€".as_bytes());
    pw.push(0xff);
    pw
}

/// hostapd on the peer end with users for PEAP, TLS and TTLS, including odd identities and
/// passwords.
fn start_hostapd(ns: &Netns, dir: &Path, pki: &Pki) -> Authenticator {
    let users = format!(
        "\"np-tls-client\" TLS\n* PEAP,TTLS\n\
         \"np-user\" MSCHAPV2 \"np-password\" [2]\n\
         \"{long}\" TTLS-PAP,MSCHAPV2 {pw} [2]\n\
         \"np-quote\"* TTLS-PAP {pw} [2]\n",
        long = String::from_utf8(long_identity()).expect("utf-8"),
        pw = hexs(&odd_password()),
    );
    Authenticator::start(ns, "auth0", dir, pki, &users)
}

async fn connect_wired(
    sup: &Supplicant,
    events: &mut mpsc::Receiver<CtrlEvent>,
    eap: EapSettings,
) -> (NetworkId, Vec<CtrlEvent>) {
    let settings = NetworkSettings::new(b"wired".to_vec(), Security::WiredEap(Box::new(eap)))
        .expect("settings");
    let id = sup.create_network(&settings).await.expect("create network");
    sup.select_network(id).await.expect("select");
    let seen = until_event(events, "EAP success or failure", |e| {
        matches!(e, Event::EapSuccess | Event::EapFailure)
    })
    .await;
    (id, seen)
}

async fn wait_completed(sup: &Supplicant) {
    common::eventually("wpa_state COMPLETED and port authorized", || async {
        sup.status().await.is_ok_and(|s| {
            s.wpa_state == WpaState::Completed && s.port_status.as_deref() == Some("Authorized")
        })
    })
    .await;
}

#[tokio::test]
async fn wired_8021x_peap_tls_ttls_end_to_end() {
    let wpa = Wpa::new();
    let pki = make_pki(wpa.dir.path());
    let _hostapd = start_hostapd(&wpa.tb.peer, wpa.dir.path(), &pki);
    let (sup, mut events) = Supplicant::spawn(wpa.config());
    available(&mut events).await;

    // PEAP/MSCHAPv2, right password.
    let mut peap = EapSettings::new(EapMethod::Peap(Phase2::MsChapV2), "np-user");
    peap.anonymous_identity = Some(b"anonymous".to_vec());
    peap.password = Some(Secret::from("np-password"));
    peap.ca_cert = Some(pki.ca.clone().into());
    peap.domain_match = Some("radius.np.test".into());
    let (id, seen) = connect_wired(&sup, &mut events, peap).await;
    let typed_seen: Vec<Event> = seen.iter().filter_map(typed).collect();
    assert_eq!(
        typed_seen.last(),
        Some(&Event::EapSuccess),
        "{typed_seen:#?}\n{}",
        wpa.log()
    );
    assert!(typed_seen.contains(&Event::EapStarted));
    assert!(typed_seen
        .iter()
        .any(|e| matches!(e, Event::EapMethod { method: 25, name } if name == "PEAP")));
    until_event(
        &mut events,
        "CONNECTED",
        |e| matches!(e, Event::Connected { id: Some(i), .. } if *i == id),
    )
    .await;
    wait_completed(&sup).await;
    let st = sup.status().await.expect("STATUS");
    assert_eq!(st.eap_state.as_deref(), Some("SUCCESS"));
    sup.remove_network(id).await.expect("remove");

    // EAP-TLS with CA, client certificate and key.
    let mut tls = EapSettings::new(EapMethod::Tls, "np-tls-client");
    tls.ca_cert = Some(pki.ca.clone().into());
    tls.client_cert = Some(pki.client_cert.clone().into());
    tls.private_key = Some(pki.client_key.clone().into());
    tls.domain_suffix_match = Some("np.test".into());
    let (id, seen) = connect_wired(&sup, &mut events, tls).await;
    assert_eq!(
        seen.iter().filter_map(typed).next_back(),
        Some(Event::EapSuccess),
        "{}",
        wpa.log()
    );
    wait_completed(&sup).await;
    sup.remove_network(id).await.expect("remove");

    // TTLS/PAP: a 210-byte identity with a backslash and non-ASCII, matched exactly by
    // hostapd, and a password with quotes, backslashes, a newline and non-UTF-8 bytes.
    let mut ttls = EapSettings::new(EapMethod::Ttls(Phase2::Pap), long_identity());
    ttls.anonymous_identity = Some("anon-\"q\"-ü".as_bytes().to_vec());
    ttls.password = Some(Secret::from_bytes(odd_password()));
    ttls.ca_cert = Some(pki.ca.clone().into());
    let (id, seen) = connect_wired(&sup, &mut events, ttls).await;
    assert_eq!(
        seen.iter().filter_map(typed).next_back(),
        Some(Event::EapSuccess),
        "{}",
        wpa.log()
    );
    wait_completed(&sup).await;
    sup.remove_network(id).await.expect("remove");

    // An identity with a double quote (hostapd matches it by prefix) and a tab.
    let mut quoted: Vec<u8> = b"np-quote\"d\\ \t".to_vec();
    quoted.extend("x".repeat(200).bytes());
    let mut ttls = EapSettings::new(EapMethod::Ttls(Phase2::Pap), quoted.clone());
    ttls.password = Some(Secret::from_bytes(odd_password()));
    ttls.ca_cert = Some(pki.ca.clone().into());
    let (id, seen) = connect_wired(&sup, &mut events, ttls).await;
    assert_eq!(
        seen.iter().filter_map(typed).next_back(),
        Some(Event::EapSuccess),
        "{}",
        wpa.log()
    );
    let got = sup.get_network(id, "identity").await.expect("identity");
    assert_eq!(readback(&got), quoted);
    // The password never shows in wpa_supplicant's debug log (it runs without -K) …
    let log = wpa.log();
    assert!(
        log.contains("CTRL-EVENT-EAP-SUCCESS"),
        "the debug log is there to look at"
    );
    assert!(
        !log.contains(&hexs(&odd_password())),
        "password hex in the debug log"
    );
    sup.remove_network(id).await.expect("remove");
    drop(wpa);
}

#[tokio::test]
async fn wired_8021x_wrong_password_stops_once_disabled() {
    let wpa = Wpa::new();
    let pki = make_pki(wpa.dir.path());
    let _hostapd = start_hostapd(&wpa.tb.peer, wpa.dir.path(), &pki);
    let (sup, mut events) = Supplicant::spawn(wpa.config());
    available(&mut events).await;
    // Short EAPOL timers, so that wpa_supplicant's own retry loop shows quickly.
    for (k, v) in [("EAPOL::heldPeriod", "1"), ("EAPOL::startPeriod", "1")] {
        let r = sup.raw(&format!("SET {k} {v}")).await.expect("SET");
        assert_eq!(r, "OK\n", "SET {k}");
    }

    let mut peap = EapSettings::new(EapMethod::Peap(Phase2::MsChapV2), "np-user");
    peap.password = Some(Secret::from("not-the-password"));
    peap.ca_cert = Some(pki.ca.clone().into());
    let (id, seen) = connect_wired(&sup, &mut events, peap).await;
    assert_eq!(
        seen.iter().filter_map(typed).next_back(),
        Some(Event::EapFailure),
        "{}",
        wpa.log()
    );

    // Left alone, wpa_supplicant tries again (this is the loop the backend must stop) …
    until_event(&mut events, "a second EAP attempt", |e| {
        matches!(e, Event::EapStarted)
    })
    .await;
    until_event(&mut events, "a second EAP failure", |e| {
        matches!(e, Event::EapFailure)
    })
    .await;

    // … and once the network is disabled it does not.
    sup.disable_network(id).await.expect("disable");
    let quiet = tokio::time::timeout(Duration::from_secs(6), async {
        loop {
            match events.recv().await {
                Some(ev) if matches!(typed(&ev), Some(Event::EapStarted)) => return ev,
                Some(_) => {}
                None => std::future::pending::<()>().await,
            }
        }
    })
    .await;
    assert!(
        quiet.is_err(),
        "EAP started again after DISABLE_NETWORK: {quiet:?}"
    );
    let st = sup.status().await.expect("STATUS");
    assert_ne!(st.wpa_state, WpaState::Completed);
    let listed = sup.list_networks().await.expect("list");
    assert!(listed.iter().any(|n| n.id == id && n.disabled));
}
