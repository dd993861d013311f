//! The setup access point and tethering on real radios: netpilotd on radio A opens its
//! access point (wpa_supplicant AP mode on an interface of its own, dnsmasq, the page); a
//! phone is a wpa_supplicant station on radio B in its own namespace; the networks the robot
//! should join are hostapd access points on further radios (with dnsmasq and the online
//! check behind them, 198.18.10.0/24). The setup AP's network is 198.18.30.0/24, the
//! tethering AP's 198.18.31.0/24, an Ethernet uplink 198.18.20.0/24 (a veth in the VM).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use netpilot::pb;
use pb::setup_service_client::SetupServiceClient;

use crate::common::hwsim::{
    dhcp, dns_query_a, in_netns, note, parse_kv, scenario_dir, wait_until, Air, Dnsmasq, Process,
    Radio, Supplicant,
};
use crate::common::{wait_service, Netns};
use crate::harness::{freq, psk_ap};
use crate::netpilot::{Ap, Station, PASSPHRASE, SLOW};

/// The setup AP's address.
const SETUP_IP: &str = "198.18.30.1";
/// The setup AP's SSID in these scenarios.
const SETUP_SSID: &str = "np-setup";
/// The grace period in these scenarios, seconds.
const GRACE: u64 = 2;

/// netpilotd's `[setup]` (and `[tethering]`) for the robot, after its `[wifi]` section.
fn setup_config(extra: &str) -> String {
    setup_config_grace(GRACE, extra)
}

fn setup_config_grace(grace: u64, extra: &str) -> String {
    format!(
        "[setup]\ngrace = {grace}\naddress = \"{SETUP_IP}/24\"\nssid = \"{SETUP_SSID}\"\n\
         page_idle = 20\nvalidate_timeout = 20\n{extra}\n\
         [tethering]\naddress = \"198.18.31.1/24\"\n"
    )
}

fn get_setup(robot: &Station) -> pb::Setup {
    robot.rt.block_on(async {
        let mut client = SetupServiceClient::new(robot.daemon.channel().await);
        client
            .get_setup(pb::GetSetupRequest {})
            .await
            .expect("GetSetup")
            .into_inner()
            .setup
            .expect("setup")
    })
}

/// Waits until GetSetup matches `check`.
fn wait_setup(robot: &Station, what: &str, check: impl Fn(&pb::Setup) -> bool) -> pb::Setup {
    let start = Instant::now();
    loop {
        let s = get_setup(robot);
        if check(&s) {
            note(format!("setup: {what}: {s:?}"));
            return s;
        }
        assert!(
            start.elapsed() < SLOW,
            "setup access point not {what} in {SLOW:?}: {s:?}\n{}",
            robot.daemon.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Stops netpilotd with SIGTERM, so that it closes its access point (its wpa_supplicant and
/// dnsmasq stopped, its interface removed) before the scenario ends.
fn stop(robot: &mut Station) {
    robot.daemon.sigterm();
    let status = robot.rt.block_on(robot.daemon.wait_exit());
    assert!(status.success(), "netpilotd exit status {status}");
    let links = robot.ns.ip(&["-br", "link"]);
    assert!(
        !links.contains("np-ap"),
        "the AP interface is gone: {links}"
    );
}

fn is_open(s: &pb::Setup) -> bool {
    s.state == pb::AccessPointState::Open as i32
}

fn is_closed(s: &pb::Setup) -> bool {
    s.state == pb::AccessPointState::Closed as i32
}

/// A phone: wpa_supplicant on its own radio, in its own namespace.
struct Phone {
    wpa: Supplicant,
    ns: Netns,
}

impl Phone {
    fn start(radio: &Radio) -> Phone {
        let ns = Netns::new("phone");
        radio.move_to(&ns);
        let wpa = Supplicant::start(radio, "");
        Phone { wpa, ns }
    }

    /// Joins `ssid` (open, or WPA2 with `psk`); channels 1, 6 and 11 (the AP may move).
    fn join(&self, ssid: &str, psk: Option<&str>) {
        let ssid_value = format!("\"{ssid}\"");
        let psk_value = psk.map(|p| format!("\"{p}\""));
        let scan = format!("\"{} {} {}\"", freq(1), freq(6), freq(11));
        let mut fields = vec![("ssid", ssid_value.as_str()), ("scan_freq", scan.as_str())];
        match &psk_value {
            Some(p) => fields.push(("psk", p.as_str())),
            None => fields.push(("key_mgmt", "NONE")),
        }
        self.wpa.add_network(&fields);
        wait_until(&format!("the phone joins {ssid}"), SLOW, || {
            self.wpa.status_of("wpa_state").as_deref() == Some("COMPLETED")
        });
        note(format!(
            "phone joined {ssid}: {:?}",
            self.wpa.status_of("freq")
        ));
    }

    fn associated(&self) -> bool {
        self.wpa.status_of("wpa_state").as_deref() == Some("COMPLETED")
    }
}

/// A DHCP lease taken with busybox udhcpc asking for option 114 too: the lease (address,
/// router, DNS) applied, and option 114's text.
fn dhcp_with_portal(ns: &Netns, iface: &str) -> (crate::common::hwsim::Lease, String) {
    let lease = dhcp(ns, iface);
    let out = scenario_dir().join("opt114.env");
    let script = scenario_dir().join("opt114.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n[ \"$1\" = bound ] && echo \"opt114=$opt114\" > {}\nexit 0\n",
            out.display()
        ),
    )
    .expect("write the udhcpc script");
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let script = script.display().to_string();
    let mut p = Process::start(
        "udhcpc-114",
        Some(ns),
        "busybox",
        &[
            "udhcpc", "-f", "-q", "-n", "-t", "5", "-T", "2", "-i", iface, "-O", "114", "-s",
            &script,
        ],
    );
    let status = p.wait_exit(Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| s.success()),
        "udhcpc -O 114: {}",
        p.log()
    );
    let text = std::fs::read_to_string(&out).expect("udhcpc wrote option 114");
    let hex = parse_kv(&text)
        .into_iter()
        .find(|(k, _)| k == "opt114")
        .map(|(_, v)| v)
        .unwrap_or_default();
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect();
    (lease, String::from_utf8_lossy(&bytes).into_owned())
}

/// An HTTP answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: String,
    body: String,
}

/// An HTTP/1.1 request from inside `ns` to `SETUP_IP:80` with the given Host header.
fn http(ns: &Netns, host: &str, method: &str, path: &str, form: &str) -> std::io::Result<Answer> {
    let addr: SocketAddr = format!("{SETUP_IP}:80").parse().expect("address");
    in_netns(ns, || {
        let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        conn.set_read_timeout(Some(Duration::from_secs(25)))?;
        write!(
            conn,
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
            form.len()
        )?;
        let mut reply = String::new();
        conn.read_to_string(&mut reply)?;
        let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Ok(Answer {
            status,
            headers: head.to_string(),
            body: body.to_string(),
        })
    })
}

/// Retries `http` until it answers (the AP may move channel and the phone rejoin).
fn http_retry(ns: &Netns, host: &str, method: &str, path: &str, form: &str) -> Answer {
    let start = Instant::now();
    loop {
        match http(ns, host, method, path, form) {
            Ok(a) => return a,
            Err(e) => {
                assert!(
                    start.elapsed() < SLOW,
                    "{method} {path} from the phone: {e}"
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

fn form_encode(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| {
            let enc: String = v
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                        (b as char).to_string()
                    }
                    b' ' => "+".into(),
                    _ => format!("%{b:02X}"),
                })
                .collect();
            format!("{k}={enc}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Waits until the page's status.json says the connect from the page ended in `phase`.
fn wait_attempt(phone: &Phone, phase: &str) -> serde_json::Value {
    let start = Instant::now();
    loop {
        if let Ok(a) = http(&phone.ns, SETUP_IP, "GET", "/status.json", "") {
            let v: serde_json::Value = serde_json::from_str(&a.body).unwrap_or_default();
            if v["attempt"]["phase"] == phase {
                note(format!("page status: {v}"));
                return v;
            }
        }
        assert!(start.elapsed() < SLOW * 2, "the page never said {phase}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// No setup page answers on its own start: the robot with a known-nothing radio opens its
/// AP after the grace period; a phone joins it, gets an address by DHCP (with option 114,
/// the RFC 8908 API), every name resolves to the AP, Android's probe gets a redirect and the
/// page lists radio C's WPA2 network. A wrong passphrase shows `invalid-key` on the page with
/// the AP still up; the right one joins the robot to C's network (`online`, the AP first moved
/// to C's channel: hwsim allows AP and station on one channel at a time), and then the setup
/// AP closes.
pub fn phone_connects_the_robot() {
    let air = Air::new(3);
    let home_radio = air.radio(2);
    let _home = Ap::start(home_radio, &psk_ap(home_radio, "np-home", 6));
    let robot = Station::start(air.radio(0), &setup_config(""));
    let setup = wait_setup(&robot, "open", is_open);
    assert_eq!(setup.ssid, SETUP_SSID);
    assert_eq!(setup.address, format!("{SETUP_IP}/24"));
    assert_eq!(
        setup.concurrent,
        Some(true),
        "hwsim allows AP+STA: {setup:?}"
    );
    assert!(setup.interface.starts_with("np-ap"), "{setup:?}");
    assert_eq!(setup.reason, "nothing-ready");

    let phone = Phone::start(air.radio(1));
    phone.join(SETUP_SSID, None);
    let (lease, portal_api) = dhcp_with_portal(&phone.ns, &phone.wpa.iface);
    assert!(
        lease.address.to_string().starts_with("198.18.30."),
        "{lease:?}"
    );
    let ap: Ipv4Addr = SETUP_IP.parse().expect("ip");
    assert_eq!((lease.router, lease.dns.clone()), (Some(ap), vec![ap]));
    assert_eq!(
        portal_api,
        format!("http://{SETUP_IP}/api/captive"),
        "DHCP option 114"
    );
    for name in [
        "connectivitycheck.gstatic.com",
        "captive.apple.com",
        "example.org",
    ] {
        assert_eq!(dns_query_a(&phone.ns, ap, name), vec![ap], "{name}");
    }
    let probe = http_retry(
        &phone.ns,
        "connectivitycheck.gstatic.com",
        "GET",
        "/generate_204",
        "",
    );
    assert_eq!(probe.status, 302, "a redirect, not 204: {probe:?}");
    assert!(
        probe
            .headers
            .contains(&format!("location: http://{SETUP_IP}/"))
            || probe
                .headers
                .contains(&format!("Location: http://{SETUP_IP}/")),
        "{probe:?}"
    );
    let apple = http_retry(
        &phone.ns,
        "captive.apple.com",
        "GET",
        "/hotspot-detect.html",
        "",
    );
    assert_eq!(apple.status, 302, "{apple:?}");
    let api = http_retry(&phone.ns, SETUP_IP, "GET", "/api/captive", "");
    assert!(api.body.contains("\"captive\":true"), "{api:?}");

    // The page lists C's network, with its security; "scan again" works with the AP up.
    let scan = http_retry(&phone.ns, SETUP_IP, "POST", "/scan", "");
    assert_eq!(scan.status, 303, "{scan:?}");
    let start = Instant::now();
    let page = loop {
        let page = http_retry(&phone.ns, SETUP_IP, "GET", "/", "");
        if page.body.contains("np-home") {
            break page;
        }
        assert!(
            start.elapsed() < SLOW,
            "np-home never listed:\n{}",
            page.body
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(page.status, 200);
    assert!(page.body.contains("WPA2"), "{}", page.body);
    let home = robot.service("np-home", "np-home listed", |_| true);
    assert!(page.body.contains(&home.id), "the form names the service");

    // A wrong passphrase: the error on the page, the AP still up.
    let wrong = form_encode(&[("service", &home.id), ("passphrase", "not the passphrase")]);
    let sent = http_retry(&phone.ns, SETUP_IP, "POST", "/connect", &wrong);
    assert_eq!(sent.status, 303, "{sent:?}");
    let failed = wait_attempt(&phone, "failed");
    assert_eq!(failed["attempt"]["reason"], "invalid-key", "{failed}");
    let page = http_retry(&phone.ns, SETUP_IP, "GET", "/", "");
    assert!(page.body.contains("invalid-key"), "{}", page.body);
    let s = get_setup(&robot);
    assert!(is_open(&s), "the AP stays up after a wrong password: {s:?}");
    assert_eq!(
        s.frequency,
        freq(6),
        "the AP moved to np-home's channel: {s:?}"
    );
    assert!(phone.associated(), "the phone is still on the AP");

    // The right one: the robot joins np-home and goes online; then the AP closes.
    let right = form_encode(&[("service", &home.id), ("passphrase", PASSPHRASE)]);
    let sent = http_retry(&phone.ns, SETUP_IP, "POST", "/connect", &right);
    assert_eq!(sent.status, 303, "{sent:?}");
    let online = robot.service("np-home", "np-home online", |s| {
        s.state() == pb::ServiceState::Online
    });
    assert!(online.favorite && online.passphrase_set, "{online:?}");
    let closed = wait_setup(&robot, "closed after the new link validated", is_closed);
    assert_eq!(closed.reason, "wifi-validated", "{closed:?}");
    wait_until("the phone is off the closed AP", SLOW, || {
        !phone.associated()
    });
    let log = robot.daemon.log();
    assert!(
        log.contains("credentials submitted on the setup page"),
        "{log}"
    );
    assert!(!log.contains(PASSPHRASE), "the passphrase reached the log");
    assert!(
        !log.contains("not the passphrase"),
        "the wrong passphrase reached the log"
    );
}

/// An Ethernet link for the robot: a veth to a namespace with dnsmasq (198.18.20.0/24).
struct Wire {
    ns: Netns,
    _dnsmasq: Dnsmasq,
}

fn wire(robot: &Station) -> Wire {
    let ns = Netns::new("eth");
    crate::common::run(
        "ip",
        &[
            "link",
            "add",
            "veth0",
            "netns",
            &robot.ns.name,
            "type",
            "veth",
            "peer",
            "name",
            "veth-peer",
            "netns",
            &ns.name,
        ],
    );
    ns.ip(&["addr", "add", "198.18.20.1/24", "dev", "veth-peer"]);
    ns.ip(&["link", "set", "veth-peer", "up"]);
    robot.ns.ip(&["link", "set", "veth0", "up"]);
    let _dnsmasq = Dnsmasq::start(&ns, "veth-peer", "198.18.20");
    Wire { ns, _dnsmasq }
}

fn ethernet_ready(robot: &Station) -> pb::Service {
    robot.rt.block_on(async {
        let mut manager = robot.daemon.manager().await;
        wait_service(&mut manager, "ethernet ready", SLOW, |s| {
            s.r#type() == pb::TechnologyType::Ethernet
                && matches!(
                    s.state(),
                    pb::ServiceState::Ready | pb::ServiceState::Online
                )
        })
        .await
    })
}

/// A working Ethernet link keeps the setup AP closed past the grace period ("the device
/// ignores a working Ethernet link"); when Ethernet is lost, the AP opens after the grace
/// period.
pub fn ethernet_keeps_it_closed() {
    // Far longer than the veth's DHCP takes (3-5 s here), so Ethernet is ready before the
    // grace period ends, as on a robot whose cable is in at boot.
    const ETH_GRACE: u64 = 15;
    let air = Air::new(1);
    let started = Instant::now();
    let mut robot = Station::start(air.radio(0), &setup_config_grace(ETH_GRACE, ""));
    let wire = wire(&robot);
    ethernet_ready(&robot);
    note(format!(
        "Ethernet ready {:?} after start",
        started.elapsed()
    ));
    wait_until("the grace period has passed", SLOW, || {
        started.elapsed() > Duration::from_secs(ETH_GRACE + 1)
    });
    let s = wait_setup(&robot, "closed for Ethernet", |s| s.reason == "other-ready");
    assert!(is_closed(&s), "{s:?}");
    assert!(
        !robot.ns.ip(&["-br", "link"]).contains("np-ap"),
        "no AP interface beside a working Ethernet link"
    );
    let log = robot.daemon.log();
    assert!(
        !log.contains("opening the access point"),
        "it never opened:\n{log}"
    );

    let lost = Instant::now();
    wire.ns.ip(&["link", "set", "veth-peer", "down"]);
    let s = wait_setup(&robot, "open after Ethernet was lost", is_open);
    assert_eq!(s.reason, "nothing-ready", "{s:?}");
    note(format!("opened {:?} after the loss", lost.elapsed()));
    stop(&mut robot);
}

/// A known network that goes away opens the setup AP (after the grace period); when it comes
/// back it is rejoined by itself, and the AP closes.
pub fn known_network_back_closes_it() {
    let air = Air::new(2);
    let home_radio = air.radio(1);
    let mut home = Ap::start(home_radio, &psk_ap(home_radio, "np-home", 6));
    let robot = Station::start(air.radio(0), &setup_config(""));
    let known = robot.service("np-home", "np-home listed", |_| true);
    robot
        .connect(&known.id, Some(PASSPHRASE))
        .expect("connect np-home");
    robot.service("np-home", "np-home online", |s| {
        s.state() == pb::ServiceState::Online
    });
    let s = wait_setup(&robot, "closed beside the online link", is_closed);
    assert_ne!(s.reason, "nothing-ready", "{s:?}");

    home.hostapd.process.stop();
    let s = wait_setup(&robot, "open after the loss", is_open);
    assert_eq!(s.reason, "nothing-ready", "{s:?}");

    home.hostapd =
        crate::common::hwsim::Hostapd::start(&home.ns, &psk_ap(home_radio, "np-home", 6));
    robot.service("np-home", "np-home rejoined", |s| {
        s.state() == pb::ServiceState::Online
    });
    let s = wait_setup(&robot, "closed after the rejoin", is_closed);
    assert_eq!(s.reason, "wifi-validated", "{s:?}");
}

/// Tethering: UpdateTechnology turns it on with a name and passphrase; a phone joins the
/// tethering AP (WPA2), gets an address by DHCP and reaches a host behind the robot's
/// Ethernet uplink, which sees the robot's address (NAT). The passphrase is never returned
/// or logged, and tethering is on again after a restart.
pub fn tethering_shares_the_uplink() {
    let air = Air::new(2);
    let mut robot = Station::start(air.radio(0), &setup_config(""));
    let wire = wire(&robot);
    let eth = ethernet_ready(&robot);
    let uplink = eth
        .ipv4
        .as_ref()
        .map(|i| i.address.clone())
        .expect("an uplink address");
    // A host behind the uplink that records who talks to it.
    let server: SocketAddr = "198.18.20.1:8080".parse().expect("address");
    let (tx, peers) = std::sync::mpsc::channel::<String>();
    let ns_name = wire.ns.name.clone();
    let listener = std::thread::spawn(move || {
        let file = std::fs::File::open(format!("/run/netns/{ns_name}")).expect("netns");
        // SAFETY: setns on this thread only, with an open namespace fd.
        let rc = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&file), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "enter the uplink namespace");
        let l = std::net::TcpListener::bind(server).expect("listen behind the uplink");
        let _ = tx.send("listening".into());
        if let Ok((mut c, peer)) = l.accept() {
            let _ = c.write_all(b"hello from behind the uplink\n");
            let _ = tx.send(peer.ip().to_string());
        }
    });
    assert_eq!(
        peers.recv_timeout(SLOW).expect("the host listens"),
        "listening"
    );

    let mut manager = robot.manager();
    let t = robot
        .rt
        .block_on(manager.update_technology(pb::UpdateTechnologyRequest {
            r#type: pb::TechnologyType::Wifi.into(),
            tethering: Some(true),
            tethering_identifier: Some("np-tether".into()),
            tethering_passphrase: Some(PASSPHRASE.into()),
            ..Default::default()
        }))
        .expect("tethering on")
        .into_inner()
        .technology
        .expect("technology");
    assert!(
        t.tethering && t.tethering_identifier == "np-tether",
        "{t:?}"
    );
    let s = wait_setup(&robot, "tethering open", |s| {
        is_open(s) && s.role == pb::AccessPointRole::Tethering as i32
    });
    assert_eq!(s.ssid, "np-tether");

    let phone = Phone::start(air.radio(1));
    phone.join("np-tether", Some(PASSPHRASE));
    let lease = dhcp(&phone.ns, &phone.wpa.iface);
    assert!(
        lease.address.to_string().starts_with("198.18.31."),
        "{lease:?}"
    );
    let hello = in_netns(&phone.ns, || {
        let mut c = TcpStream::connect_timeout(&server, Duration::from_secs(10))
            .expect("reach the host behind the uplink");
        c.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut text = String::new();
        let _ = c.read_to_string(&mut text);
        text
    });
    assert!(hello.contains("hello"), "{hello:?}");
    let seen = peers.recv_timeout(SLOW).expect("the host saw a peer");
    assert_eq!(
        seen, uplink,
        "the host sees the robot's uplink address (NAT)"
    );
    let _ = listener.join();
    let ruleset = robot
        .ns
        .exec("nft", &["list", "table", "ip", "netpilot_tether"]);
    assert!(ruleset.contains("masquerade"), "{ruleset}");

    robot.rt.block_on(robot.daemon.restart());
    let mut manager = robot.manager();
    let t = robot
        .rt
        .block_on(manager.get_technology(pb::GetTechnologyRequest {
            r#type: pb::TechnologyType::Wifi.into(),
        }))
        .expect("get technology")
        .into_inner()
        .technology
        .expect("technology");
    assert!(t.tethering, "tethering is kept across restarts: {t:?}");
    wait_setup(&robot, "tethering open again", |s| {
        is_open(s) && s.role == pb::AccessPointRole::Tethering as i32
    });
    let log = robot.daemon.log();
    assert!(!log.contains(PASSPHRASE), "the passphrase reached the log");
    assert!(!format!("{t:?}").contains(PASSPHRASE));
    stop(&mut robot);
    let tables = robot.ns.exec("nft", &["list", "tables"]);
    assert!(!tables.contains("netpilot_tether"), "NAT removed: {tables}");
    drop(wire);
}

/// A radio without AP+STA (`concurrency = "off"`: the access point takes the radio's own
/// wpa_supplicant): a connect from the page closes the access point for the attempt; a
/// wrong passphrase opens it again, and the phone, back on it, finds `invalid-key` on the
/// page.
pub fn without_ap_sta_the_radio_switches() {
    let air = Air::new(3);
    let home_radio = air.radio(2);
    let _home = Ap::start(home_radio, &psk_ap(home_radio, "np-home", 6));
    let mut robot = Station::start(air.radio(0), &setup_config("concurrency = \"off\"\n"));
    let setup = wait_setup(&robot, "open", is_open);
    assert_eq!(setup.concurrent, Some(false), "{setup:?}");
    assert_eq!(
        setup.interface,
        air.radio(0).iface,
        "the radio's own interface"
    );
    let home = robot.service("np-home", "np-home listed", |_| true);

    let phone = Phone::start(air.radio(1));
    phone.join(SETUP_SSID, None);
    dhcp(&phone.ns, &phone.wpa.iface);
    let wrong = form_encode(&[("service", &home.id), ("passphrase", "not the passphrase")]);
    let sent = http_retry(&phone.ns, SETUP_IP, "POST", "/connect", &wrong);
    assert_eq!(sent.status, 303, "{sent:?}");
    let closed = wait_setup(&robot, "closed for the attempt", |s| s.reason == "attempt");
    assert!(is_closed(&closed), "{closed:?}");
    let reopened = wait_setup(&robot, "open again after the failure", is_open);
    let attempt = reopened.attempt.expect("the attempt");
    assert_eq!(
        (attempt.phase.as_str(), attempt.error.as_str()),
        ("failed", "invalid-key")
    );
    wait_until("the phone is back on the access point", SLOW, || {
        phone.associated()
    });
    let page = http_retry(&phone.ns, SETUP_IP, "GET", "/", "");
    assert!(page.body.contains("invalid-key"), "{}", page.body);
    stop(&mut robot);
}
