//! Kernel state kept true (issue 8 §2), on real kernel state in namespaces: drift undone
//! (a default route or address deleted by hand, resolv.conf overwritten, systemd-resolved
//! restarted), addresses with the lease's lifetimes, a restart that keeps the address, the
//! DHCPRELEASE before the address goes, a disconnected service through a carrier flap, one
//! daemon per system, SIGHUP, concurrent UpdateService calls, and the netlink monitor when
//! the engine falls behind.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{eventually, peer_script, wait_for_log, wait_service, Daemon, Netns, Peer, Testbed};
use netpilot::pb;

/// Longer than any DHCP path here needs; a deadline, not a measurement.
const SLOW: Duration = Duration::from_secs(45);

/// Managed `veth*` (or `managed`), no online check, short backoffs.
fn config(managed: &str) -> String {
    format!(
        r#"managed_interfaces = ["{managed}"]

[online_check]
mode = "off"

[connect]
timeout = 5
retry_min = 1
retry_max = 2
"#
    )
}

/// `<net>.1/24` on the peer end and dnsmasq serving `<net>.100-150` for 2 minutes, router
/// `<net>.1`, DNS `<net>.53`.
fn dnsmasq(bed: &Testbed, peer_if: &str, net: &str, dir: &Path) -> Peer {
    bed.peer
        .ip(&["addr", "add", &format!("{net}.1/24"), "dev", peer_if]);
    let args = [
        "--no-daemon".to_string(),
        "--conf-file=/dev/null".into(),
        "--no-ping".into(),
        "--no-resolv".into(),
        "--no-hosts".into(),
        "--port=0".into(),
        format!("--interface={peer_if}"),
        "--bind-interfaces".into(),
        "--dhcp-authoritative".into(),
        format!("--dhcp-range={net}.100,{net}.150,255.255.255.0,2m"),
        format!("--dhcp-option=option:router,{net}.1"),
        format!("--dhcp-option=option:dns-server,{net}.53"),
        format!(
            "--dhcp-leasefile={}",
            dir.join(format!("{peer_if}.leases")).display()
        ),
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

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// `ip -j addr show dev` as (address/prefix, valid_life_time, preferred_life_time).
fn addresses(ns: &Netns, dev: &str) -> Vec<(String, u64, u64)> {
    let json = ns.ip(&["-4", "-j", "addr", "show", "dev", dev]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("ip -j addr");
    v[0]["addr_info"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            (
                format!(
                    "{}/{}",
                    a["local"].as_str().unwrap_or_default(),
                    a["prefixlen"]
                ),
                a["valid_life_time"].as_u64().unwrap_or(0),
                a["preferred_life_time"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

fn has_address(ns: &Netns, dev: &str, address: &str) -> bool {
    addresses(ns, dev).iter().any(|(a, _, _)| a == address)
}

/// IPv4 default routes: (gateway, dev, metric).
fn default_routes(ns: &Netns) -> Vec<(String, String, u64)> {
    let json = ns.ip(&["-4", "-j", "route", "show", "default"]);
    let routes: serde_json::Value = serde_json::from_str(&json).expect("ip -j route");
    routes
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r["gateway"].as_str().unwrap_or_default().to_string(),
                r["dev"].as_str().unwrap_or_default().to_string(),
                r["metric"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

fn ready(s: &pb::Service) -> bool {
    s.state() == pb::ServiceState::Ready
}

fn ipv4(s: &pb::Service) -> String {
    s.ipv4
        .as_ref()
        .map(|i| format!("{}/{}", i.address, i.prefix_length))
        .unwrap_or_default()
}

fn count(log: &str, what: &str) -> usize {
    log.lines().filter(|l| l.contains(what)).count()
}

/// A daemon on veth0 with dnsmasq, ready; returns it with the service and its address.
async fn ready_daemon(bed: &Testbed, dir: &Path) -> (Peer, Daemon, pb::Service) {
    bed.veth("veth0", "peer0");
    let dhcp = dnsmasq(bed, "peer0", "198.18.1", dir);
    let daemon = Daemon::start(&bed.host, &config("veth*"), &[]).await;
    let mut manager = daemon.manager().await;
    let service = wait_service(&mut manager, "ready", SLOW, ready).await;
    (dhcp, daemon, service)
}

#[tokio::test]
async fn drift_is_undone_at_once_and_logged() {
    let bed = Testbed::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let (_dhcp, daemon, service) = ready_daemon(&bed, dir.path()).await;
    let address = ipv4(&service);
    let mut manager = daemon.manager().await;

    // The lease's lifetimes are on the kernel address (2 min lease), not "forever".
    let (_, valid, preferred) = addresses(&bed.host, "veth0")
        .into_iter()
        .find(|(a, _, _)| *a == address)
        .expect("leased address on veth0");
    assert!(
        (1..=120).contains(&valid) && (1..=120).contains(&preferred),
        "lifetimes {valid}/{preferred} s"
    );

    // resolv.conf overwritten by another program is written again.
    let resolv = daemon.dir.path().join("resolv.conf");
    eventually("resolv.conf written", || async {
        daemon.resolv_conf().contains("nameserver 198.18.1.53")
    })
    .await;
    std::fs::write(&resolv, "nameserver 127.0.0.53\n").expect("overwrite");
    eventually("resolv.conf restored", || async {
        daemon.resolv_conf().contains("nameserver 198.18.1.53")
    })
    .await;
    wait_for_log(
        &daemon,
        "resolv.conf was changed or removed by another program",
    )
    .await;

    // A default route deleted by hand comes back.
    let route = ("198.18.1.1".to_string(), "veth0".to_string(), 100);
    eventually("default route", || async {
        default_routes(&bed.host) == vec![route.clone()]
    })
    .await;
    bed.host.ip(&["route", "del", "default", "dev", "veth0"]);
    eventually("default route restored", || async {
        default_routes(&bed.host) == vec![route.clone()]
    })
    .await;
    wait_for_log(&daemon, "restoring route default via 198.18.1.1 metric 100").await;

    // The leased address deleted by hand comes back, and the service is ready again well
    // before the connect timeout could fire.
    bed.host.ip(&["addr", "del", &address, "dev", "veth0"]);
    eventually("address restored", || async {
        has_address(&bed.host, "veth0", &address)
    })
    .await;
    wait_for_log(&daemon, &format!("restoring address {address}")).await;
    eventually("default route back with the address", || async {
        default_routes(&bed.host) == vec![route.clone()]
    })
    .await;
    wait_service(&mut manager, "ready again", SLOW, ready).await;
    assert!(
        !daemon.log().contains("connect timed out"),
        "restored, not timed out:\n{}",
        daemon.log()
    );
}

/// A restarted daemon keeps the still-valid address and its route in place: nothing is
/// deleted (watched with `ip monitor`), no new lease (one INIT-REBOOT REQUEST, no
/// DISCOVER), and the lifetimes are renewed.
#[tokio::test]
async fn a_restart_keeps_the_address() {
    let bed = Testbed::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let (_dhcp, mut daemon, service) = ready_daemon(&bed, dir.path()).await;
    let address = ipv4(&service);
    eventually("default route", || async {
        !default_routes(&bed.host).is_empty()
    })
    .await;
    let monitor_log = dir.path().join("ip-monitor.log");
    let _monitor = Peer::start(
        &bed.host,
        "ip monitor",
        "sh",
        &[
            "-c",
            &format!(
                "echo started; exec ip monitor address route > {}",
                monitor_log.display()
            ),
        ],
        &dir.path().join("ip-monitor.err"),
    );
    eventually("ip monitor started", || async {
        read(&dir.path().join("ip-monitor.err")).contains("started") || monitor_log.exists()
    })
    .await;
    // The monitor's own start-up is not observable; a change made now must show up in it.
    bed.host.ip(&["addr", "add", "198.18.9.9/32", "dev", "lo"]);
    eventually("ip monitor sees changes", || async {
        read(&monitor_log).contains("198.18.9.9")
    })
    .await;
    let dhcp_log = dir.path().join("dnsmasq.log");
    let before = read(&dhcp_log).len();

    daemon.restart().await;
    let mut manager = daemon.manager().await;
    let again = wait_service(&mut manager, "ready after the restart", SLOW, ready).await;
    assert_eq!(ipv4(&again), address);
    let server = read(&dhcp_log)[before..].to_string();
    assert_eq!(
        (
            count(&server, "DHCPDISCOVER"),
            count(&server, "DHCPREQUEST"),
            count(&server, "DHCPACK")
        ),
        (0, 1, 1),
        "INIT-REBOOT, no new lease:\n{server}"
    );
    // The ACK renewed the lifetimes on the address already there.
    eventually("lifetimes renewed", || async {
        addresses(&bed.host, "veth0")
            .iter()
            .any(|(a, valid, _)| *a == address && *valid > 110)
    })
    .await;
    let seen = read(&monitor_log);
    let ip = address.split('/').next().unwrap_or_default();
    assert!(
        !seen
            .lines()
            .any(|l| l.starts_with("Deleted") && (l.contains(ip) || l.contains("default"))),
        "nothing was removed across the restart:\n{seen}\n---- netpilotd ----\n{}",
        daemon.log()
    );
    assert!(has_address(&bed.host, "veth0", &address));
    assert_eq!(
        default_routes(&bed.host),
        vec![("198.18.1.1".to_string(), "veth0".to_string(), 100)]
    );
}

/// DisconnectService sends DHCPRELEASE before the address goes: a sniffer in the daemon's
/// namespace sees the release leave veth0 before the kernel reports the address deleted.
#[tokio::test]
async fn dhcprelease_goes_out_before_the_address_goes() {
    let bed = Testbed::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let (_dhcp, daemon, service) = ready_daemon(&bed, dir.path()).await;
    let address = ipv4(&service);
    let ip = address.split('/').next().unwrap_or_default().to_string();
    let order = dir.path().join("order.log");
    let _sniffer = Peer::start(
        &bed.host,
        "release sniffer",
        "python3",
        &[
            &peer_script("release_order.py"),
            "veth0",
            &ip,
            &order.display().to_string(),
        ],
        &dir.path().join("sniffer.log"),
    );
    eventually("sniffer listening", || async {
        read(&order).contains("ready")
    })
    .await;
    let mut manager = daemon.manager().await;
    manager
        .disconnect_service(pb::DisconnectServiceRequest {
            service_id: service.id.clone(),
        })
        .await
        .expect("disconnect");
    eventually("address deleted", || async {
        read(&order).contains("deleted")
    })
    .await;
    assert_eq!(
        read(&order).lines().collect::<Vec<_>>(),
        vec!["ready", "release", "deleted"],
        "DHCPRELEASE, then the address:\n{}",
        daemon.log()
    );
    eventually("dnsmasq got the release", || async {
        read(&dir.path().join("dnsmasq.log")).contains("DHCPRELEASE")
    })
    .await;
}

/// A service the user disconnected stays disconnected when its cable is pulled and put
/// back: no state change, no DHCP.
#[tokio::test]
async fn a_carrier_flap_leaves_a_disconnected_service_disconnected() {
    let bed = Testbed::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let (_dhcp, daemon, service) = ready_daemon(&bed, dir.path()).await;
    let address = ipv4(&service);
    let mut manager = daemon.manager().await;
    manager
        .disconnect_service(pb::DisconnectServiceRequest {
            service_id: service.id.clone(),
        })
        .await
        .expect("disconnect");
    wait_service(&mut manager, "idle", SLOW, |s| {
        s.id == service.id && s.state() == pb::ServiceState::Idle
    })
    .await;
    eventually("address removed", || async {
        !has_address(&bed.host, "veth0", &address)
    })
    .await;
    let dhcp_log = dir.path().join("dnsmasq.log");
    let before = read(&dhcp_log).len();

    let (_, mut events) = common::watch(&mut manager).await;
    let oper_up = |up: bool| {
        let mut manager = manager.clone();
        async move {
            manager
                .list_interfaces(pb::ListInterfacesRequest {})
                .await
                .expect("list interfaces")
                .into_inner()
                .interfaces
                .iter()
                .any(|i| i.name == "veth0" && i.oper_up == up)
        }
    };
    bed.carrier("peer0", false);
    eventually("carrier gone", || oper_up(false)).await;
    bed.carrier("peer0", true);
    eventually("carrier back", || oper_up(true)).await;
    // A marker after the flap: a new link comes after the carrier changes on the one netlink
    // socket and the engine's one queue, so its InterfaceChanged follows every state the
    // engine published for the flap. None may be a state change of the service.
    bed.host.ip(&[
        "link", "add", "marker0", "type", "veth", "peer", "name", "marker1",
    ]);
    let seen = common::read_until(&mut events, "the marker link", |e| {
        matches!(&e.event, Some(pb::watch_manager_response::Event::InterfaceChanged(c))
            if c.interface.as_ref().is_some_and(|i| i.name == "marker0"))
    })
    .await;
    let moved: Vec<_> = seen
        .iter()
        .filter(|e| {
            matches!(&e.event, Some(pb::watch_manager_response::Event::ServiceStateChanged(c))
                if c.service_id == service.id)
        })
        .collect();
    assert!(
        moved.is_empty(),
        "the flap changed the service's state: {moved:?}"
    );
    // A call through the engine's queue: everything it decided on the carrier is published.
    manager
        .report_connectivity(pb::ReportConnectivityRequest {
            service_id: service.id.clone(),
        })
        .await
        .expect("a round trip through the engine");
    let now = wait_service(&mut manager, "the service", SLOW, |s| s.id == service.id).await;
    assert_eq!(now.state(), pb::ServiceState::Idle, "{now:?}");
    assert!(!has_address(&bed.host, "veth0", &address));
    let server = read(&dhcp_log)[before..].to_string();
    assert_eq!(
        count(&server, "DHCPDISCOVER") + count(&server, "DHCPREQUEST"),
        0,
        "no DHCP after the flap:\n{server}"
    );
}

/// A second netpilotd on the same run directory or socket refuses to start, names the
/// first, and leaves its socket, addresses and lease alone.
#[tokio::test]
async fn a_second_daemon_is_refused_and_the_first_keeps_everything() {
    let bed = Testbed::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let (_dhcp, daemon, service) = ready_daemon(&bed, dir.path()).await;
    let address = ipv4(&service);
    let dhcp_log = dir.path().join("dnsmasq.log");
    let before = read(&dhcp_log).len();
    let args = daemon.command_line();

    let second = std::process::Command::new("ip")
        .args(&args)
        .output()
        .expect("run a second netpilotd");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "second instance ran:\n{stderr}");
    assert!(
        stderr.contains(&format!("another netpilotd (pid {})", daemon.pid()))
            && stderr.contains("netpilotd.lock"),
        "{stderr}"
    );

    // Another run directory, the same socket: the socket answers, so it stays.
    let mut other = args.clone();
    let run = other
        .iter()
        .position(|a| a == "--run-dir")
        .expect("--run-dir");
    other[run + 1] = dir.path().join("other-run").display().to_string();
    let third = std::process::Command::new("ip")
        .args(&other)
        .output()
        .expect("run a third netpilotd");
    let stderr = String::from_utf8_lossy(&third.stderr);
    assert!(!third.status.success(), "third instance ran:\n{stderr}");
    assert!(
        stderr.contains("answers: another daemon serves on it"),
        "{stderr}"
    );

    let mut manager = daemon.manager().await;
    let still = wait_service(&mut manager, "still ready", SLOW, ready).await;
    assert_eq!(ipv4(&still), address);
    assert!(has_address(&bed.host, "veth0", &address));
    let server = read(&dhcp_log)[before..].to_string();
    assert_eq!(
        count(&server, "DHCPDISCOVER") + count(&server, "DHCPRELEASE"),
        0,
        "{server}"
    );
}

/// SIGHUP reloads the file, applies the run-time keys, logs what changed and what needs a
/// restart; a broken file changes nothing. The API served the interfaces from the first
/// call on.
#[tokio::test]
async fn sighup_reloads_the_configuration_and_logs_what_changed() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    bed.veth("veth1", "peer1");
    let daemon = Daemon::start(&bed.host, &config("veth0"), &[]).await;
    let mut manager = daemon.manager().await;
    // The first call already sees the kernel's interfaces: served after the first dump.
    let interfaces = manager
        .list_interfaces(pb::ListInterfacesRequest {})
        .await
        .expect("list interfaces")
        .into_inner()
        .interfaces;
    let names: Vec<&str> = interfaces.iter().map(|i| i.name.as_str()).collect();
    assert!(
        names.contains(&"lo") && names.contains(&"veth0") && names.contains(&"veth1"),
        "{names:?}"
    );
    let veth1 = bed.service_id("veth1");
    wait_service(&mut manager, "veth1 observed", SLOW, |s| {
        s.id == veth1 && !s.managed
    })
    .await;

    let path = daemon.config_path();
    let text = read(&path);
    std::fs::write(
        &path,
        format!(
            "listen = \"127.0.0.1:1\"\n{}\n[api]\ninsecure_loopback = true\n",
            text.replace("[\"veth0\"]", "[\"veth*\"]")
                .replace("timeout = 5", "timeout = 7")
        ),
    )
    .expect("rewrite config");
    let hup = |pid: i32| {
        // SAFETY: kill with the PID of a child the harness spawned and has not reaped.
        let rc = unsafe { libc::kill(pid, libc::SIGHUP) };
        assert_eq!(rc, 0, "kill -HUP {pid}");
    };
    hup(daemon.pid());
    wait_service(&mut manager, "veth1 managed after the reload", SLOW, |s| {
        s.id == veth1 && s.managed
    })
    .await;
    let log = wait_for_log(&daemon, "SIGHUP: configuration reloaded").await;
    for line in [
        "SIGHUP: managed_interfaces: [\"veth0\"] -> [\"veth*\"]",
        "SIGHUP: connect.timeout: 5 -> 7",
        "SIGHUP: listen changed; it takes effect only after a restart",
    ] {
        assert!(log.contains(line), "{line:?} not logged:\n{log}");
    }

    std::fs::write(&path, "log_level = 3\n").expect("break config");
    hup(daemon.pid());
    wait_for_log(&daemon, "SIGHUP: configuration not reloaded").await;
    let mut daemon = daemon;
    assert!(daemon.alive(), "SIGHUP must not stop the daemon");
    manager
        .list_services(pb::ListServicesRequest {})
        .await
        .expect("still serving");
}

/// Concurrent UpdateService calls on different fields: each keeps the other's change.
#[tokio::test]
async fn concurrent_updates_of_different_fields_both_stay() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    bed.carrier("peer0", false);
    let daemon = Daemon::start(&bed.host, &config("veth*"), &[]).await;
    let id = bed.service_id("veth0");
    let mut manager = daemon.manager().await;
    wait_service(&mut manager, "managed", SLOW, |s| s.id == id && s.managed).await;
    let update = |service: pb::Service, field: &str| pb::UpdateServiceRequest {
        service: Some(service),
        update_mask: Some(pbjson_types::FieldMask {
            paths: vec![field.to_string()],
        }),
    };
    for round in 0..10 {
        let autoconnect = round % 2 == 1;
        let domain = format!("round{round}.example");
        let (mut a, mut b) = (manager.clone(), manager.clone());
        let first = update(
            pb::Service {
                id: id.clone(),
                autoconnect,
                ..Default::default()
            },
            "autoconnect",
        );
        let second = update(
            pb::Service {
                id: id.clone(),
                domains_config: vec![domain.clone()],
                ..Default::default()
            },
            "domains_config",
        );
        let (r1, r2) = tokio::join!(a.update_service(first), b.update_service(second));
        r1.expect("autoconnect");
        r2.expect("domains");
        let now = wait_service(&mut manager, "updated", SLOW, |s| s.id == id).await;
        assert_eq!(
            (now.autoconnect, now.domains_config.clone()),
            (autoconnect, vec![domain.clone()]),
            "round {round}: both updates kept"
        );
        let stored = read(&daemon.dir.path().join(format!("state/services/{id}.json")));
        assert!(
            stored.contains(&domain) && stored.contains(&format!("\"autoconnect\": {autoconnect}")),
            "round {round}: both stored:\n{stored}"
        );
    }
}

/// systemd-resolved forgets per-link DNS when it restarts: netpilotd notices the new owner
/// of its bus name and pushes the settings again. python-dbusmock stands in for resolved.
#[tokio::test]
async fn dns_is_pushed_again_when_systemd_resolved_restarts() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("system_bus");
    let address = format!("unix:path={}", socket.display());
    let _bus = Peer::start(
        &bed.peer,
        "dbus-daemon",
        "dbus-daemon",
        &[
            "--session",
            &format!("--address={address}"),
            "--nofork",
            "--nopidfile",
        ],
        &dir.path().join("dbus.log"),
    );
    eventually("the test bus is up", || async { socket.exists() }).await;
    let first_calls = dir.path().join("resolved-1.log");
    let first = resolved_mock(&bed, &address, &first_calls, dir.path()).await;
    let _dhcp = dnsmasq(&bed, "peer0", "198.18.1", dir.path());
    let env = [("DBUS_SYSTEM_BUS_ADDRESS", address.clone())];
    let daemon = Daemon::start_with(&bed.host, &config("veth*"), "resolved", &env, &[]).await;
    let mut manager = daemon.manager().await;
    wait_service(&mut manager, "ready", SLOW, ready).await;
    eventually("SetLinkDNS on the first resolved", || async {
        read(&first_calls).contains("SetLinkDNS")
    })
    .await;

    drop(first);
    let second_calls = dir.path().join("resolved-2.log");
    let _second = resolved_mock(&bed, &address, &second_calls, dir.path()).await;
    common::eventually("SetLinkDNS on the restarted resolved", || async {
        let log = read(&second_calls);
        log.contains("SetLinkDNS") && log.contains("dbus.Byte(53)")
    })
    .await;
    wait_for_log(
        &daemon,
        "systemd-resolved restarted; pushing DNS settings again",
    )
    .await;
}

/// A python-dbusmock `org.freedesktop.resolve1` with resolved's link methods, logging calls.
async fn resolved_mock(bed: &Testbed, address: &str, calls: &Path, dir: &Path) -> Peer {
    let mock = Peer::start(
        &bed.peer,
        "resolved mock",
        "env",
        &[
            &format!("DBUS_SYSTEM_BUS_ADDRESS={address}"),
            "/usr/bin/python3",
            "-m",
            "dbusmock",
            "--system",
            "-l",
            &calls.display().to_string(),
            "org.freedesktop.resolve1",
            "/org/freedesktop/resolve1",
            "org.freedesktop.resolve1.Manager",
        ],
        &dir.join(format!(
            "dbusmock-{}.log",
            calls.file_name().and_then(|n| n.to_str()).unwrap_or("x")
        )),
    );
    let send = |args: &[&str]| {
        let bus = format!("--bus={address}");
        std::process::Command::new("dbus-send")
            .args([bus.as_str(), "--print-reply"])
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    };
    eventually("resolve1 on the bus", || async {
        send(&[
            "--dest=org.freedesktop.DBus",
            "/",
            "org.freedesktop.DBus.NameHasOwner",
            "string:org.freedesktop.resolve1",
        ])
        .contains("boolean true")
    })
    .await;
    for (method, signature) in [
        ("SetLinkDNS", "ia(iay)"),
        ("SetLinkDomains", "ia(sb)"),
        ("SetLinkDefaultRoute", "ib"),
        ("RevertLink", "i"),
    ] {
        common::run(
            "dbus-send",
            &[
                &format!("--bus={address}"),
                "--print-reply",
                "--dest=org.freedesktop.resolve1",
                "/org/freedesktop/resolve1",
                "org.freedesktop.DBus.Mock.AddMethod",
                "string:org.freedesktop.resolve1.Manager",
                &format!("string:{method}"),
                &format!("string:{signature}"),
                "string:",
                "string:",
            ],
        );
    }
    mock
}

/// The rtnetlink monitor when the engine does not read: it marks itself dirty instead of
/// queueing, and sends one fresh dump with everything once the engine has room.
#[test]
fn the_monitor_dumps_again_instead_of_queueing_when_the_engine_is_behind() {
    use netpilot::engine::EventSender;
    use netpilot::net::netlink::{self, NetEvent};

    common::require_root();
    let ns = Netns::new("mon");
    ns.ip(&["link", "add", "d0", "type", "veth", "peer", "name", "d1"]);
    ns.ip(&["link", "set", "d0", "up"]);
    const ADDRESSES: usize = 300;
    let batch = (0..ADDRESSES)
        .map(|i| {
            format!(
                "addr add 198.18.{}.{}/32 dev d0\n",
                100 + i / 200,
                1 + i % 200
            )
        })
        .collect::<String>();
    let dir = tempfile::tempdir().expect("tempdir");
    let batch_file = dir.path().join("batch");
    std::fs::write(&batch_file, batch).expect("batch file");

    let path = format!("/run/netns/{}", ns.name);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let ns_name = ns.name.clone();
    let thread = std::thread::spawn(move || {
        let f = std::fs::File::open(&path).expect("open netns");
        // SAFETY: setns on this thread only, with a descriptor we own.
        let rc = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let (events, mut received) = EventSender::<NetEvent>::detached(2);
            let _monitor = netlink::spawn(events).await.expect("monitor");
            // The engine is "busy": nothing is read while the kernel changes 300 times.
            common::run(
                "ip",
                &["-n", &ns_name, "-batch", &batch_file.display().to_string()],
            );
            let mut before = 0;
            let deadline = tokio::time::Instant::now() + common::DEADLINE;
            loop {
                let event = tokio::time::timeout_at(deadline, received.recv())
                    .await
                    .expect("a fresh dump in time")
                    .expect("monitor running");
                if let NetEvent::Dump { addresses, .. } = &event {
                    let ours = addresses
                        .iter()
                        .filter(|(_, a)| a.address.to_string().starts_with("198.18.10"))
                        .count();
                    if ours == ADDRESSES {
                        break;
                    }
                }
                before += 1;
            }
            done_tx.send(before).expect("report");
        });
    });
    let before = done_rx
        .recv_timeout(common::DEADLINE * 2)
        .expect("monitor test finished");
    thread.join().expect("monitor thread");
    assert!(
        before <= 3,
        "{before} events queued before the fresh dump; the queue holds 2"
    );
}
