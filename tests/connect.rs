//! Managed Ethernet end to end, on real peers in a second namespace: DHCP from dnsmasq (and a
//! small hostile server), routes with metrics, resolv.conf, the online check, failover,
//! lease expiry, static configuration, SLAAC from radvd, captive portals, connect timeouts.

mod common;

use std::time::{Duration, Instant};

use common::{peer_script, read_until, wait_service, watch, Daemon, Peer, Testbed};
use netpilot::pb;
use pb::manager_service_client::ManagerServiceClient;
use pb::watch_manager_response::Event;
use tonic::transport::Channel;
use tonic_types::StatusExt;

/// Longer than any DHCP/online-check path here needs; a deadline, not a measurement.
const SLOW: Duration = Duration::from_secs(45);

/// Managed `veth*`, online check (`mode`: off, one-shot, continuous) against the peer's
/// HTTP server, short backoffs.
fn config(mode: &str) -> String {
    format!(
        r#"managed_interfaces = ["veth*"]

[online_check]
mode = "{mode}"
ipv4_url = "http://198.18.1.1/generate_204"
ipv6_url = "http://198.18.1.1/generate_204"
interval_min = 1
interval_max = 2
timeout = 2

[connect]
timeout = 5
retry_min = 1
retry_max = 2
"#
    )
}

/// The peer end of a veth gets `<net>.1/24` and a dnsmasq serving `<net>.100-150`, router
/// `<net>.1`, DNS `<net>.53`, domain lab.example, MTU 1400.
fn dnsmasq(bed: &Testbed, peer_if: &str, net: &str, dir: &std::path::Path) -> Peer {
    dnsmasq_with(bed, peer_if, net, dir, &[])
}

/// [`dnsmasq`] with more `--dhcp-option`s.
fn dnsmasq_with(
    bed: &Testbed,
    peer_if: &str,
    net: &str,
    dir: &std::path::Path,
    options: &[String],
) -> Peer {
    bed.peer
        .ip(&["addr", "add", &format!("{net}.1/24"), "dev", peer_if]);
    let leases = dir.join(format!("{peer_if}.leases"));
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
        "--dhcp-option=option:domain-name,lab.example".into(),
        "--dhcp-option=option:mtu,1400".into(),
        format!("--dhcp-leasefile={}", leases.display()),
        "--pid-file=".into(),
        "--user=root".into(),
        "--group=root".into(),
        "--log-dhcp".into(),
        "--log-facility=-".into(),
    ];
    let args: Vec<&str> = args.iter().chain(options).map(String::as_str).collect();
    Peer::start(
        &bed.peer,
        "dnsmasq",
        "dnsmasq",
        &args,
        &dir.join(format!("dnsmasq-{peer_if}.log")),
    )
}

fn http_server(bed: &Testbed, addr: &str, dir: &std::path::Path) -> Peer {
    let script = peer_script("http_probe_server.py");
    Peer::start(
        &bed.peer,
        "http",
        "python3",
        &[&script, addr, "80"],
        &dir.join("http.log"),
    )
}

/// Default routes in a namespace: (gateway, dev, metric).
fn default_routes(ns: &common::Netns, family: &str) -> Vec<(String, String, u64)> {
    let json = ns.ip(&[family, "-j", "route", "show", "default"]);
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

fn addresses(ns: &common::Netns, dev: &str) -> Vec<String> {
    let json = ns.ip(&["-j", "addr", "show", "dev", dev]);
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

fn link_mtu(ns: &common::Netns, dev: &str) -> u64 {
    let v: serde_json::Value =
        serde_json::from_str(&ns.ip(&["-j", "link", "show", dev])).expect("ip -j link");
    v[0]["mtu"].as_u64().unwrap_or(0)
}

fn ipv4_address(s: &pb::Service) -> &str {
    s.ipv4
        .as_ref()
        .map(|i| i.address.as_str())
        .unwrap_or_default()
}

async fn eventually_routes(ns: &common::Netns, want: &[(&str, &str, u64)]) {
    let want: Vec<(String, String, u64)> = want
        .iter()
        .map(|(g, d, m)| (g.to_string(), d.to_string(), *m))
        .collect();
    let start = Instant::now();
    loop {
        let got = default_routes(ns, "-4");
        if got == want {
            return;
        }
        assert!(
            start.elapsed() < common::DEADLINE,
            "default routes {got:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn dhcp_to_online_with_checksum_offload_on_and_off() {
    for offload in [true, false] {
        let bed = Testbed::new();
        bed.veth("veth0", "peer0");
        let peers = tempfile::tempdir().expect("tempdir");
        if !offload {
            bed.peer.exec("ethtool", &["-K", "peer0", "tx", "off"]);
        }
        let _dhcp = dnsmasq(&bed, "peer0", "198.18.1", peers.path());
        let _http = http_server(&bed, "198.18.1.1", peers.path());
        let daemon = Daemon::start(&bed.host, &config("one-shot"), &[]).await;
        let mut sessions = daemon.sessions().await;
        let request = pb::OpenSessionRequest {
            settings: Some(pb::SessionSettings {
                allowed_bearers: None,
                connection_type: pb::ConnectionType::Internet.into(),
                ..Default::default()
            }),
        };
        let mut session = common::within("OpenSession", sessions.open_session(request))
            .await
            .expect("open")
            .into_inner();
        let mut manager = daemon.manager().await;

        let service = wait_service(&mut manager, "online over DHCP", SLOW, |s| {
            s.state() == pb::ServiceState::Online
        })
        .await;
        let ipv4 = service.ipv4.clone().expect("ipv4");
        assert!(
            ipv4.address.starts_with("198.18.1.1"),
            "leased address {ipv4:?} (offload {offload})"
        );
        assert_eq!(
            (ipv4.prefix_length, ipv4.gateway.as_str(), ipv4.method()),
            (24, "198.18.1.1", pb::Ipv4Method::Dhcp)
        );
        assert!(
            service.managed && !service.immutable && service.favorite,
            "{service:?}"
        );
        assert_eq!(service.nameservers, vec!["198.18.1.53"]);
        assert_eq!(service.domains, vec!["lab.example"]);
        assert_eq!(
            service.proxy.as_ref().map(|p| p.method.as_str()),
            Some("direct"),
            "no PAC URL from DHCP"
        );
        assert_eq!(service.route_metric, 100);
        assert!(addresses(&bed.host, "veth0").contains(&format!("{}/24", ipv4.address)));
        eventually_routes(&bed.host, &[("198.18.1.1", "veth0", 100)]).await;
        assert_eq!(link_mtu(&bed.host, "veth0"), 1400, "DHCP option 26");
        let resolv = daemon.resolv_conf();
        assert!(
            resolv.contains("nameserver 198.18.1.53\n") && resolv.contains("search lab.example\n"),
            "{resolv}"
        );

        read_until(&mut session, "session online", |m| {
            matches!(&m.event, Some(pb::open_session_response::Event::Update(u)) if u.state == Some(pb::SessionState::Online.into()))
        })
        .await;
    }
}

#[tokio::test]
async fn failover_to_the_other_link_and_back() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    bed.veth("veth1", "peer1");
    let peers = tempfile::tempdir().expect("tempdir");
    let _dhcp0 = dnsmasq(&bed, "peer0", "198.18.1", peers.path());
    let _dhcp1 = dnsmasq(&bed, "peer1", "198.18.2", peers.path());
    let (svc0, svc1) = (bed.service_id("veth0"), bed.service_id("veth1"));
    let daemon = Daemon::start(&bed.host, &config("off"), &[]).await;
    let mut manager = daemon.manager().await;
    for id in [&svc0, &svc1] {
        wait_service(&mut manager, "both ready", SLOW, |s| {
            &s.id == id && s.state() == pb::ServiceState::Ready
        })
        .await;
    }
    // veth0 is the preferred link.
    manager
        .move_service(pb::MoveServiceRequest {
            service_id: svc0.clone(),
            target: Some(pb::move_service_request::Target::Before(svc1.clone())),
        })
        .await
        .expect("move");
    eventually_routes(
        &bed.host,
        &[("198.18.1.1", "veth0", 100), ("198.18.2.1", "veth1", 110)],
    )
    .await;

    let mut sessions = daemon.sessions().await;
    let mut session = common::within(
        "OpenSession",
        sessions.open_session(pb::OpenSessionRequest::default()),
    )
    .await
    .expect("open")
    .into_inner();
    let first = common::next(&mut session, "first session update").await;
    let update = |m: &pb::OpenSessionResponse| match &m.event {
        Some(pb::open_session_response::Event::Update(u)) => u.clone(),
        other => panic!("expected an update, got {other:?}"),
    };
    assert_eq!(update(&first).interface(), "veth0");

    // Carrier loss on the preferred link: a handover notice, then one update moves the
    // session to veth1.
    bed.carrier("peer0", false);
    let notice = common::next(&mut session, "handover").await;
    assert!(
        matches!(&notice.event, Some(pb::open_session_response::Event::Handover(h))
            if (h.previous_service_id.as_str(), h.next_service_id.as_str(), h.reason.as_str())
                == (svc0.as_str(), svc1.as_str(), "lost-carrier")),
        "{notice:?}"
    );
    let moved = update(&common::next(&mut session, "session update").await);
    assert_eq!(
        (moved.interface(), moved.service_id()),
        ("veth1", svc1.as_str()),
        "{moved:?}"
    );
    assert!(
        moved.state.is_none(),
        "still connected, so state is unchanged: {moved:?}"
    );
    eventually_routes(&bed.host, &[("198.18.2.1", "veth1", 100)]).await;

    // Carrier back: the preferred link reconnects by itself and takes over again.
    bed.carrier("peer0", true);
    let notice = common::next_within(&mut session, "handover", SLOW).await;
    assert!(
        matches!(&notice.event, Some(pb::open_session_response::Event::Handover(h))
            if h.reason == "better-service"),
        "{notice:?}"
    );
    let back = update(&common::next_within(&mut session, "session update", SLOW).await);
    assert_eq!(
        (back.interface(), back.service_id()),
        ("veth0", svc0.as_str()),
        "{back:?}"
    );
    eventually_routes(
        &bed.host,
        &[("198.18.1.1", "veth0", 100), ("198.18.2.1", "veth1", 110)],
    )
    .await;
}

#[tokio::test]
async fn lease_expiry_leaves_ready_and_the_service_reconnects_by_itself() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    bed.peer
        .ip(&["addr", "add", "198.18.4.1/24", "dev", "peer0"]);
    let peers = tempfile::tempdir().expect("tempdir");
    let server = Peer::start(
        &bed.peer,
        "dhcp_server",
        "python3",
        &[
            &peer_script("dhcp_server.py"),
            "peer0",
            "198.18.4.1",
            "198.18.4.20",
            "--lease",
            "8",
        ],
        &peers.path().join("dhcp.log"),
    );
    let daemon = Daemon::start(&bed.host, &config("off"), &[]).await;
    let mut manager = daemon.manager().await;
    let ready = wait_service(&mut manager, "ready", SLOW, |s| {
        s.state() == pb::ServiceState::Ready
    })
    .await;
    assert_eq!(ipv4_address(&ready), "198.18.4.20");
    let mut sessions = daemon.sessions().await;
    let mut session = common::within(
        "OpenSession",
        sessions.open_session(pb::OpenSessionRequest::default()),
    )
    .await
    .expect("open")
    .into_inner();
    common::next(&mut session, "first session update").await;

    // The server stops answering: renew (T1 4 s) and rebind (T2 7 s) fail, the lease
    // expires at 8 s and the service leaves ready; the session sees it.
    server.signal(libc::SIGUSR1);
    let lost = Instant::now();
    read_until(&mut session, "session disconnected", |m| {
        matches!(&m.event, Some(pb::open_session_response::Event::Update(u)) if u.state == Some(pb::SessionState::Disconnected.into()))
    })
    .await;
    assert!(
        lost.elapsed() >= Duration::from_secs(1),
        "the address must stay until the lease runs out"
    );
    assert!(
        !addresses(&bed.host, "veth0").contains(&"198.18.4.20/24".to_string()),
        "expired address removed"
    );

    // The server answers again: the service comes back without any call (persistence).
    server.signal(libc::SIGUSR1);
    let again = wait_service(&mut manager, "ready again", SLOW, |s| {
        s.state() == pb::ServiceState::Ready
    })
    .await;
    assert_eq!(ipv4_address(&again), "198.18.4.20");
}

#[tokio::test]
async fn hostile_or_broken_offers_give_a_working_config_or_a_clean_failure() {
    // (server flags, what must happen)
    let cases: [(&[&str], &str); 5] = [
        (&["--no-router"], "ready without default route"),
        (
            &["--mask", "255.255.255.255", "--router", "198.18.6.1"],
            "ready on a /32 with an on-link gateway",
        ),
        (&["--lease", "0"], "failure"),
        (&["--lease", "4294967295"], "ready"),
        (&["--garbage"], "ready or failure"),
    ];
    for (flags, want) in cases {
        let bed = Testbed::new();
        bed.veth("veth0", "peer0");
        bed.peer
            .ip(&["addr", "add", "198.18.6.1/24", "dev", "peer0"]);
        let peers = tempfile::tempdir().expect("tempdir");
        let mut args = vec![
            peer_script("dhcp_server.py"),
            "peer0".into(),
            "198.18.6.1".into(),
            "198.18.6.30".into(),
        ];
        args.extend(flags.iter().map(|f| f.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let _server = Peer::start(
            &bed.peer,
            "dhcp_server",
            "python3",
            &args,
            &peers.path().join("dhcp.log"),
        );
        let mut daemon = Daemon::start(&bed.host, &config("off"), &[]).await;
        let mut manager = daemon.manager().await;
        let what = format!("{flags:?}: {want}");
        let settled = |s: &pb::Service| {
            matches!(
                s.state(),
                pb::ServiceState::Ready | pb::ServiceState::Failure
            )
        };
        let s = wait_service(&mut manager, &what, SLOW, settled).await;
        let expected = match s.state() {
            pb::ServiceState::Failure => "failure",
            _ => "ready",
        };
        assert!(want.contains(expected), "{what}: got {s:?}");
        if s.state() == pb::ServiceState::Failure {
            assert!(
                ["dhcp-failed", "connect-failed"].contains(&s.error.as_str()),
                "{what}: {s:?}"
            );
            assert!(
                !addresses(&bed.host, "veth0")
                    .iter()
                    .any(|a| a.starts_with("198.18.6.")),
                "{what}: no half-configured link"
            );
        } else {
            assert_eq!(ipv4_address(&s), "198.18.6.30", "{what}");
            match flags[0] {
                "--no-router" => {
                    assert_eq!(
                        s.ipv4.as_ref().map(|i| i.gateway.as_str()),
                        Some(""),
                        "{what}"
                    );
                    assert!(default_routes(&bed.host, "-4").is_empty(), "{what}");
                }
                "--mask" => {
                    assert!(
                        addresses(&bed.host, "veth0").contains(&"198.18.6.30/32".to_string()),
                        "{what}"
                    );
                    eventually_routes(&bed.host, &[("198.18.6.1", "veth0", 100)]).await;
                }
                _ => eventually_routes(&bed.host, &[("198.18.6.1", "veth0", 100)]).await,
            }
        }
        assert!(
            daemon.alive(),
            "{what}: netpilotd must survive:\n{}",
            daemon.log()
        );
    }
}

fn manual_update() -> pb::UpdateServiceRequest {
    pb::UpdateServiceRequest {
        service: Some(pb::Service {
            ipv4_config: Some(pb::Ipv4Settings {
                method: pb::Ipv4Method::Manual.into(),
                address: "198.18.3.5".into(),
                prefix_length: 24,
                gateway: "198.18.3.1".into(),
            }),
            ipv6_config: Some(pb::Ipv6Settings {
                method: pb::Ipv6Method::Manual.into(),
                address: "2001:db8:3::5".into(),
                prefix_length: 64,
                gateway: "2001:db8:3::1".into(),
            }),
            nameservers_config: vec!["198.18.3.53".into()],
            domains_config: vec!["static.example".into()],
            ..Default::default()
        }),
        update_mask: Some(pbjson_types::FieldMask {
            paths: [
                "ipv4_config",
                "ipv6_config",
                "nameservers_config",
                "domains_config",
            ]
            .map(String::from)
            .to_vec(),
        }),
    }
}

#[tokio::test]
async fn static_configuration_is_validated_applied_and_survives_a_restart() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let id = bed.service_id("veth0");
    let mut daemon = Daemon::start(&bed.host, &config("off"), &[]).await;
    let mut manager = daemon.manager().await;
    wait_service(&mut manager, "managed service", SLOW, |s| {
        s.id == id && s.managed
    })
    .await;

    let mut request = manual_update();
    request.service.as_mut().expect("service").id = id.clone();
    let updated = manager
        .update_service(request.clone())
        .await
        .expect("valid static config")
        .into_inner();
    assert_eq!(
        updated
            .service
            .and_then(|s| s.ipv4_config)
            .map(|c| c.method()),
        Some(pb::Ipv4Method::Manual)
    );

    let check_applied = |daemon_resolv: String, addrs: Vec<String>| {
        assert!(
            addrs.contains(&"198.18.3.5/24".to_string())
                && addrs.contains(&"2001:db8:3::5/64".to_string()),
            "{addrs:?}"
        );
        assert!(
            daemon_resolv.contains("nameserver 198.18.3.53\n")
                && daemon_resolv.contains("search static.example\n"),
            "{daemon_resolv}"
        );
    };
    let s = wait_service(&mut manager, "ready on static IPv4", SLOW, |s| {
        ipv4_address(s) == "198.18.3.5"
    })
    .await;
    assert_eq!(
        s.ipv4.as_ref().map(|i| (i.method(), i.gateway.as_str())),
        Some((pb::Ipv4Method::Manual, "198.18.3.1"))
    );
    eventually_routes(&bed.host, &[("198.18.3.1", "veth0", 100)]).await;
    assert_eq!(
        default_routes(&bed.host, "-6"),
        vec![("2001:db8:3::1".to_string(), "veth0".to_string(), 100)]
    );
    common::eventually("resolv.conf written", || async {
        daemon.resolv_conf().contains("nameserver 198.18.3.53\n")
    })
    .await;
    check_applied(daemon.resolv_conf(), addresses(&bed.host, "veth0"));

    // Invalid configurations: rejected, naming the field, nothing changed.
    type Breaker = Box<dyn Fn(&mut pb::UpdateServiceRequest)>;
    let cases: Vec<(Breaker, &str)> = vec![
        (
            Box::new(|r| {
                r.service
                    .as_mut()
                    .unwrap()
                    .ipv4_config
                    .as_mut()
                    .unwrap()
                    .prefix_length = 33
            }),
            "service.ipv4_config.prefix_length",
        ),
        (
            Box::new(|r| {
                r.service
                    .as_mut()
                    .unwrap()
                    .ipv4_config
                    .as_mut()
                    .unwrap()
                    .gateway = "198.18.9.1".into()
            }),
            "service.ipv4_config.gateway",
        ),
        (
            Box::new(|r| {
                r.service
                    .as_mut()
                    .unwrap()
                    .ipv4_config
                    .as_mut()
                    .unwrap()
                    .address = "224.0.0.5".into()
            }),
            "service.ipv4_config.address",
        ),
        (
            Box::new(|r| {
                r.service
                    .as_mut()
                    .unwrap()
                    .ipv6_config
                    .as_mut()
                    .unwrap()
                    .gateway = "2001:db9::1".into()
            }),
            "service.ipv6_config.gateway",
        ),
        (
            Box::new(|r| r.service.as_mut().unwrap().nameservers_config = vec!["not-an-ip".into()]),
            "service.nameservers_config[0]",
        ),
        (
            Box::new(|r| r.update_mask.as_mut().unwrap().paths.push("name".into())),
            "update_mask.paths[4]",
        ),
    ];
    for (break_it, field) in cases {
        let mut bad = request.clone();
        break_it(&mut bad);
        let err = manager.update_service(bad).await.expect_err(field);
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{field}: {err:?}");
        let violations = err
            .get_details_bad_request()
            .expect("BadRequest")
            .field_violations;
        assert_eq!(violations[0].field, field);
    }
    let unchanged = manager
        .get_service(pb::GetServiceRequest {
            service_id: id.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(
        ipv4_address(unchanged.service.as_ref().expect("service")),
        "198.18.3.5",
        "a rejected update changes nothing"
    );

    // The configuration is stored: a restarted daemon applies it again.
    daemon.restart().await;
    let mut manager = daemon.manager().await;
    let s = wait_service(&mut manager, "static config after restart", SLOW, |s| {
        ipv4_address(s) == "198.18.3.5"
    })
    .await;
    assert_eq!(s.nameservers_config, vec!["198.18.3.53"]);
    common::eventually("resolv.conf written", || async {
        daemon.resolv_conf().contains("nameserver 198.18.3.53\n")
    })
    .await;
    check_applied(daemon.resolv_conf(), addresses(&bed.host, "veth0"));
}

#[tokio::test]
async fn ipv6_slaac_from_radvd() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    bed.peer
        .ip(&["addr", "add", "2001:db8:5::1/64", "dev", "peer0"]);
    bed.peer
        .exec("sysctl", &["-q", "-w", "net.ipv6.conf.all.forwarding=1"]);
    let peers = tempfile::tempdir().expect("tempdir");
    let conf = peers.path().join("radvd.conf");
    std::fs::write(
        &conf,
        "interface peer0 {\n AdvSendAdvert on;\n MinRtrAdvInterval 3;\n MaxRtrAdvInterval 4;\n prefix 2001:db8:5::/64 {\n  AdvOnLink on;\n  AdvAutonomous on;\n };\n RDNSS 2001:db8:5::53 {\n  AdvRDNSSLifetime 60;\n };\n DNSSL v6.lab.example {\n  AdvDNSSLLifetime 60;\n };\n};\n",
    )
    .expect("radvd.conf");
    let pid = peers.path().join("radvd.pid");
    let _radvd = Peer::start(
        &bed.peer,
        "radvd",
        "radvd",
        &[
            "--nodaemon",
            "-C",
            &conf.display().to_string(),
            "-p",
            &pid.display().to_string(),
            "-m",
            "stderr",
        ],
        &peers.path().join("radvd.log"),
    );
    let daemon = Daemon::start(&bed.host, &config("off"), &[]).await;
    let mut manager = daemon.manager().await;
    let s = wait_service(&mut manager, "ready over SLAAC", SLOW, |s| {
        s.ipv6
            .as_ref()
            .is_some_and(|v| v.address.starts_with("2001:db8:5:") && v.gateway.starts_with("fe80:"))
    })
    .await;
    assert_eq!(s.state(), pb::ServiceState::Ready);
    let ipv6 = s.ipv6.expect("ipv6");
    assert_eq!(
        (ipv6.prefix_length, ipv6.method()),
        (64, pb::Ipv6Method::Auto)
    );
    // RFC 8106: the RA's nameserver and search domain are the service's and reach resolv.conf.
    let s = wait_service(&mut manager, "RA nameserver", SLOW, |s| {
        s.nameservers.contains(&"2001:db8:5::53".to_string())
    })
    .await;
    assert!(s.domains.contains(&"v6.lab.example".to_string()), "{s:?}");
    common::eventually("resolv.conf has the RA's DNS", || async {
        let r = daemon.resolv_conf();
        r.contains("nameserver 2001:db8:5::53") && r.contains("v6.lab.example")
    })
    .await;
}

#[tokio::test]
async fn a_redirected_online_check_is_a_captive_portal() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let peers = tempfile::tempdir().expect("tempdir");
    let _dhcp = dnsmasq(&bed, "peer0", "198.18.1", peers.path());
    let _http = http_server(&bed, "198.18.1.1", peers.path());
    let daemon = Daemon::start(
        &bed.host,
        &config("one-shot").replace("/generate_204", "/portal"),
        &[],
    )
    .await;
    let mut manager = daemon.manager().await;
    let (_, mut events) = watch(&mut manager).await;
    let seen = read_until(&mut events, "captive portal event", |e| {
        matches!(&e.event, Some(Event::CaptivePortalDetected(_)))
    })
    .await;
    match &seen.last().and_then(|e| e.event.clone()) {
        Some(Event::CaptivePortalDetected(p)) => assert_eq!(p.url, "http://198.18.1.1/login"),
        other => panic!("{other:?}"),
    }
    let s = wait_service(&mut manager, "portal URL on the service", SLOW, |s| {
        !s.captive_portal_url.is_empty()
    })
    .await;
    assert_eq!(
        (s.state(), s.captive_portal_url.as_str()),
        (pb::ServiceState::Ready, "http://198.18.1.1/login")
    );
    assert!(
        !seen.iter().any(|e| matches!(&e.event, Some(Event::ServiceStateChanged(c)) if c.state() == pb::ServiceState::Online)),
        "a portal is not online"
    );
}

#[tokio::test]
async fn connect_with_a_timeout_fails_after_the_timeout_not_before() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let id = bed.service_id("veth0");
    // No DHCP server; autoconnect runs without a deadline so only ConnectService's counts.
    let cfg = config("off").replace("timeout = 5\n", "timeout = 0\n");
    let daemon = Daemon::start(&bed.host, &cfg, &[]).await;
    let mut manager = daemon.manager().await;
    wait_service(&mut manager, "configuring", SLOW, |s| {
        s.state() == pb::ServiceState::Configuration
    })
    .await;
    let (_, mut events) = watch(&mut manager).await;

    let started = Instant::now();
    let err = manager
        .connect_service(pb::ConnectServiceRequest {
            service_id: id.clone(),
            timeout: Some(pbjson_types::Duration {
                seconds: 2,
                nanos: 0,
            }),
            credentials: None,
        })
        .await
        .expect_err("no DHCP server: the connect must time out");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "gave up after {:?}",
        started.elapsed()
    );
    assert_eq!(err.code(), tonic::Code::DeadlineExceeded, "{err:?}");
    let seen = read_until(&mut events, "timeout event", |e| {
        matches!(&e.event, Some(Event::ConnectTimedOut(_)))
    })
    .await;
    match &seen.last().and_then(|e| e.event.clone()) {
        Some(Event::ConnectTimedOut(t)) => {
            assert_eq!(
                (t.service_id.as_str(), t.timeout.map(|d| d.seconds)),
                (id.as_str(), Some(2))
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(
        seen.iter()
            .any(|e| matches!(&e.event, Some(Event::ServiceStateChanged(c))
            if c.state() == pb::ServiceState::Failure && c.error == "connect-failed")),
        "{seen:?}"
    );
}

#[tokio::test]
async fn disconnect_stays_disconnected_connect_and_remove() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let id = bed.service_id("veth0");
    let peers = tempfile::tempdir().expect("tempdir");
    let _dhcp = dnsmasq(&bed, "peer0", "198.18.1", peers.path());
    let daemon = Daemon::start(&bed.host, &config("off"), &[]).await;
    let mut manager = daemon.manager().await;
    wait_service(&mut manager, "ready", SLOW, |s| {
        s.state() == pb::ServiceState::Ready
    })
    .await;
    common::eventually("MTU from the lease", || async {
        link_mtu(&bed.host, "veth0") == 1400
    })
    .await;

    manager
        .disconnect_service(pb::DisconnectServiceRequest {
            service_id: id.clone(),
        })
        .await
        .expect("disconnect");
    wait_service(&mut manager, "idle", SLOW, |s| {
        s.state() == pb::ServiceState::Idle
    })
    .await;
    common::eventually("MTU restored", || async {
        link_mtu(&bed.host, "veth0") == 1500
    })
    .await;
    let log = peers.path().join("dnsmasq-peer0.log");
    common::eventually("dnsmasq saw DHCPRELEASE", || {
        let log = log.clone();
        async move {
            std::fs::read_to_string(log)
                .unwrap_or_default()
                .contains("DHCPRELEASE")
        }
    })
    .await;
    // A carrier flap is no reason to reconnect after an explicit disconnect.
    bed.carrier("peer0", false);
    bed.carrier("peer0", true);
    let (_, mut events) = watch(&mut manager).await;
    let connected = manager
        .connect_service(pb::ConnectServiceRequest {
            service_id: id.clone(),
            ..Default::default()
        })
        .await
        .expect("connect")
        .into_inner();
    assert_eq!(
        connected.service.map(|s| s.state()),
        Some(pb::ServiceState::Ready)
    );
    let seen = read_until(&mut events, "ready", |e| {
        matches!(&e.event, Some(Event::ServiceStateChanged(c)) if c.state() == pb::ServiceState::Ready)
    })
    .await;
    assert!(
        !seen.iter().any(|e| matches!(&e.event, Some(Event::ServiceStateChanged(c)) if c.previous_state() == pb::ServiceState::Ready)),
        "it stayed disconnected until the connect: {seen:?}"
    );

    manager
        .remove_service(pb::RemoveServiceRequest {
            service_id: id.clone(),
        })
        .await
        .expect("remove");
    let s = wait_service(&mut manager, "forgotten", SLOW, |s| {
        s.state() == pb::ServiceState::Idle
    })
    .await;
    assert!(!s.favorite, "{s:?}");
}

#[tokio::test]
async fn cli_config_sets_a_static_address_and_services_json_shows_it() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let id = bed.service_id("veth0");
    let daemon = Daemon::start(&bed.host, &config("off"), &[]).await;
    let mut manager = daemon.manager().await;
    wait_service(&mut manager, "managed service", SLOW, |s| {
        s.id == id && s.managed
    })
    .await;
    let socket = daemon.socket.display().to_string();
    let cli = env!("CARGO_BIN_EXE_netpilot");
    let args = [
        "--socket",
        &socket,
        "config",
        &id,
        "--ipv4",
        "manual",
        "198.18.7.5/24",
        "--gateway",
        "198.18.7.1",
    ];
    common::run(
        cli,
        &[&args[..], &["--nameservers", "198.18.7.53"]].concat(),
    );
    wait_service(&mut manager, "ready on the CLI's address", SLOW, |s| {
        ipv4_address(s) == "198.18.7.5"
    })
    .await;

    let json: serde_json::Value = serde_json::from_str(&common::run(
        cli,
        &["--socket", &socket, "--json", "services"],
    ))
    .expect("JSON");
    let service = &json["services"][0];
    assert_eq!(service["state"], "SERVICE_STATE_READY", "{json}");
    assert_eq!(service["ipv4"]["address"], "198.18.7.5");
    assert_eq!(service["route_metric"], 100);
    assert_eq!(service["nameservers"][0], "198.18.7.53");

    // A bad value is refused with the field named, and the CLI exits non-zero.
    let out = std::process::Command::new(cli)
        .args([
            "--socket",
            &socket,
            "config",
            &id,
            "--ipv4",
            "manual",
            "198.18.7.5/40",
        ])
        .output()
        .expect("run netpilot");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("InvalidArgument") && stderr.contains("service.ipv4_config.prefix_length"),
        "{stderr}"
    );
}

#[tokio::test]
async fn continuous_check_demotes_online_after_repeated_failures() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let peers = tempfile::tempdir().expect("tempdir");
    let _dhcp = dnsmasq(&bed, "peer0", "198.18.1", peers.path());
    let http = http_server(&bed, "198.18.1.1", peers.path());
    let cfg =
        config("continuous").replace("interval_max = 2\n", "interval_max = 1\nfailures = 2\n");
    let daemon = Daemon::start(&bed.host, &cfg, &[]).await;
    let mut manager = daemon.manager().await;
    wait_service(&mut manager, "online", SLOW, |s| {
        s.state() == pb::ServiceState::Online
    })
    .await;

    // The endpoint goes away: after two failed probes in a row, online → ready.
    drop(http);
    let s = wait_service(&mut manager, "demoted", SLOW, |s| {
        s.state() == pb::ServiceState::Ready
    })
    .await;
    assert_eq!(s.error, "online-check-failed", "{s:?}");
}

#[tokio::test]
async fn report_connectivity_rechecks_at_once() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let id = bed.service_id("veth0");
    let peers = tempfile::tempdir().expect("tempdir");
    let _dhcp = dnsmasq(&bed, "peer0", "198.18.1", peers.path());
    // No endpoint yet, and the next scheduled probe is five minutes away.
    let cfg = config("one-shot")
        .replace("interval_min = 1\n", "interval_min = 300\n")
        .replace("interval_max = 2\n", "interval_max = 600\n");
    let daemon = Daemon::start(&bed.host, &cfg, &[]).await;
    let mut manager = daemon.manager().await;
    wait_service(&mut manager, "ready, not online", SLOW, |s| {
        s.state() == pb::ServiceState::Ready
    })
    .await;

    let _http = http_server(&bed, "198.18.1.1", peers.path());
    common::eventually("the endpoint listens", || async {
        std::fs::read_to_string("/proc/net/tcp").is_ok()
            && bed
                .peer
                .exec("ss", &["-Htln", "sport = :80"])
                .contains(":80")
    })
    .await;
    manager
        .report_connectivity(pb::ReportConnectivityRequest {
            service_id: id.clone(),
        })
        .await
        .expect("report connectivity");
    wait_service(
        &mut manager,
        "online after the re-check",
        common::DEADLINE,
        |s| s.state() == pb::ServiceState::Online,
    )
    .await;
}

#[tokio::test]
async fn a_timed_out_connect_can_take_the_link_down() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let cfg = config("off")
        .replace(
            "timeout = 5\n",
            "timeout = 1\nadmin_down_on_timeout = true\n",
        )
        .replace(
            "retry_min = 1\nretry_max = 2",
            "retry_min = 60\nretry_max = 60",
        );
    let daemon = Daemon::start(&bed.host, &cfg, &[]).await;
    let mut manager = daemon.manager().await;
    let s = wait_service(&mut manager, "failed", SLOW, |s| {
        s.state() == pb::ServiceState::Failure
    })
    .await;
    assert_eq!(s.error, "connect-failed");
    common::eventually("veth0 admin-down", || async {
        !admin_up(&bed.host, "veth0")
    })
    .await;
}

/// Whether a link is administratively up.
fn admin_up(ns: &common::Netns, dev: &str) -> bool {
    let json = ns.ip(&["-j", "link", "show", dev]);
    let v: serde_json::Value = serde_json::from_str(&json).expect("ip -j link");
    v[0]["flags"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|f| f == "UP")
}

/// `dbus-send` on the test bus; returns its output.
fn dbus_send(address: &str, args: &[&str]) -> String {
    let bus = format!("--bus={address}");
    common::run(
        "dbus-send",
        &[&[bus.as_str(), "--print-reply"][..], args].concat(),
    )
}

#[tokio::test]
async fn dns_goes_to_systemd_resolved_when_it_is_on_the_bus() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let peers = tempfile::tempdir().expect("tempdir");
    let socket = peers.path().join("system_bus");
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
        &peers.path().join("dbus.log"),
    );
    common::eventually("the test bus is up", || async { socket.exists() }).await;
    // systemd-resolved cannot run here (no systemd); python-dbusmock stands in for it and
    // logs every call it gets.
    let calls = peers.path().join("resolved-calls.log");
    let _resolved = Peer::start(
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
        &peers.path().join("dbusmock.log"),
    );
    common::eventually("resolve1 on the bus", || async {
        dbus_send(
            &address,
            &[
                "--dest=org.freedesktop.DBus",
                "/",
                "org.freedesktop.DBus.NameHasOwner",
                "string:org.freedesktop.resolve1",
            ],
        )
        .contains("boolean true")
    })
    .await;
    for (method, signature) in [
        ("SetLinkDNS", "ia(iay)"),
        ("SetLinkDomains", "ia(sb)"),
        ("SetLinkDefaultRoute", "ib"),
        ("RevertLink", "i"),
    ] {
        dbus_send(
            &address,
            &[
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
    let _dhcp = dnsmasq(&bed, "peer0", "198.18.1", peers.path());
    let env = [("DBUS_SYSTEM_BUS_ADDRESS", address.clone())];
    let daemon = Daemon::start_with(&bed.host, &config("off"), "resolved", &env, &[]).await;
    let mut manager = daemon.manager().await;
    wait_service(&mut manager, "ready", SLOW, |s| {
        s.state() == pb::ServiceState::Ready
    })
    .await;
    let log = || std::fs::read_to_string(&calls).unwrap_or_default();
    let ifindex = bed.host.ip(&["-j", "link", "show", "veth0"]);
    let ifindex: serde_json::Value = serde_json::from_str(&ifindex).expect("ip -j link");
    let ifindex = ifindex[0]["ifindex"].as_u64().expect("ifindex");
    // dbusmock logs "<time> <method> <args as dbus-python reprs>".
    let dns = format!("SetLinkDNS {ifindex} [dbus.Struct((dbus.Int32(2), dbus.Array([dbus.Byte(198), dbus.Byte(18), dbus.Byte(1), dbus.Byte(53)]");
    let domains = format!(
        "SetLinkDomains {ifindex} [dbus.Struct((dbus.String('lab.example'), dbus.Boolean(False))"
    );
    common::eventually("SetLinkDNS and SetLinkDomains for veth0", || async {
        let log = log();
        log.contains(&dns) && log.contains(&domains)
    })
    .await;
    assert_eq!(
        daemon.resolv_conf(),
        "",
        "with resolved on the bus, no resolv.conf is written"
    );

    bed.carrier("peer0", false);
    common::eventually("RevertLink when the link goes down", || async {
        log().contains("RevertLink")
    })
    .await;
}

#[tokio::test]
async fn without_resolved_on_the_bus_dns_falls_back_to_the_file() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let peers = tempfile::tempdir().expect("tempdir");
    let _dhcp = dnsmasq(&bed, "peer0", "198.18.1", peers.path());
    let nowhere = format!("unix:path={}", peers.path().join("no-bus").display());
    let env = [("DBUS_SYSTEM_BUS_ADDRESS", nowhere)];
    let daemon = Daemon::start_with(&bed.host, &config("off"), "resolved", &env, &[]).await;
    let mut manager = daemon.manager().await;
    wait_service(&mut manager, "ready", SLOW, |s| {
        s.state() == pb::ServiceState::Ready
    })
    .await;
    common::eventually("resolv.conf written instead", || async {
        daemon.resolv_conf().contains("nameserver 198.18.1.53")
    })
    .await;
    assert!(
        daemon.log().contains("systemd-resolved not available"),
        "the fallback is logged"
    );
}

#[tokio::test]
async fn what_a_crashed_run_left_is_removed_and_nothing_else() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let id = bed.service_id("veth0");
    let mut daemon = Daemon::start(&bed.host, &config("off"), &[]).await;
    let mut manager = daemon.manager().await;
    wait_service(&mut manager, "managed service", SLOW, |s| {
        s.id == id && s.managed
    })
    .await;
    let mut request = manual_update();
    request.service.as_mut().expect("service").id = id.clone();
    manager
        .update_service(request)
        .await
        .expect("static config");
    wait_service(&mut manager, "static address", SLOW, |s| {
        ipv4_address(s) == "198.18.3.5"
    })
    .await;
    eventually_routes(&bed.host, &[("198.18.3.1", "veth0", 100)]).await;

    // A crash, an address somebody else added, and a new stored address while stopped.
    daemon.kill().await;
    bed.host
        .ip(&["addr", "add", "198.18.9.9/24", "dev", "veth0"]);
    let stored = daemon.dir.path().join(format!("state/services/{id}.json"));
    let text = std::fs::read_to_string(&stored).expect("stored config");
    std::fs::write(&stored, text.replace("198.18.3.5", "198.18.3.6")).expect("edit stored config");

    daemon.start_again().await;
    let mut manager = daemon.manager().await;
    wait_service(&mut manager, "new static address", SLOW, |s| {
        ipv4_address(s) == "198.18.3.6"
    })
    .await;
    common::eventually("the old address is gone, the foreign one stays", || async {
        let addrs = addresses(&bed.host, "veth0");
        !addrs.contains(&"198.18.3.5/24".to_string())
            && addrs.contains(&"198.18.9.9/24".to_string())
    })
    .await;
    eventually_routes(&bed.host, &[("198.18.3.1", "veth0", 100)]).await;
}

#[tokio::test]
async fn bad_credentials_are_refused_naming_the_field_and_nothing_is_stored() {
    use tonic_types::StatusExt;
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let id = bed.service_id("veth0");
    let daemon = Daemon::start(&bed.host, &config("off"), &[]).await;
    let mut manager = daemon.manager().await;
    wait_service(&mut manager, "listed", SLOW, |s| s.id == id).await;
    let cases = [
        (
            pb::Credentials {
                passphrase: "1234567".into(),
                ..Default::default()
            },
            "credentials.passphrase",
        ),
        (
            pb::Credentials {
                passphrase: "g".repeat(64),
                ..Default::default()
            },
            "credentials.passphrase",
        ),
        (
            pb::Credentials {
                passphrase: "x".repeat(65),
                ..Default::default()
            },
            "credentials.passphrase",
        ),
        (
            pb::Credentials {
                ssid: "s".repeat(33),
                passphrase: "long enough".into(),
                ..Default::default()
            },
            "credentials.ssid",
        ),
        (
            pb::Credentials {
                identity: "a\nb".into(),
                ..Default::default()
            },
            "credentials.identity",
        ),
    ];
    for (credentials, field) in cases {
        let err = manager
            .connect_service(pb::ConnectServiceRequest {
                service_id: id.clone(),
                timeout: None,
                credentials: Some(credentials),
            })
            .await
            .expect_err(field);
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{field}: {err:?}");
        let violations = err
            .get_details_bad_request()
            .map(|b| b.field_violations)
            .unwrap_or_default();
        assert_eq!(
            violations.first().map(|v| v.field.as_str()),
            Some(field),
            "{err:?}"
        );
        assert!(!err.message().contains("1234567"), "no secret in the error");
    }
    let secrets = daemon.dir.path().join("state/secrets");
    let stored: Vec<_> = std::fs::read_dir(&secrets)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(stored.is_empty(), "nothing stored: {stored:?}");
}

/// Waits until there are `count` services, all in `state`.
async fn all_services_in(
    manager: &ManagerServiceClient<Channel>,
    count: usize,
    state: pb::ServiceState,
) {
    common::eventually(&format!("{count} services {state:?}"), || {
        let mut m = manager.clone();
        async move {
            let s = m
                .list_services(pb::ListServicesRequest {})
                .await
                .map(|r| r.into_inner().services)
                .unwrap_or_default();
            s.len() == count && s.iter().all(|s| s.state() == state)
        }
    })
    .await;
}

/// UpdateService of one field with a value; the service as it comes back.
async fn update_one(
    manager: &mut ManagerServiceClient<Channel>,
    id: &str,
    field: &str,
    value: pb::Service,
) -> Result<pb::Service, tonic::Status> {
    manager
        .update_service(pb::UpdateServiceRequest {
            service: Some(pb::Service {
                id: id.to_string(),
                ..value
            }),
            update_mask: Some(pbjson_types::FieldMask {
                paths: vec![field.to_string()],
            }),
        })
        .await
        .map(|r| r.into_inner().service.expect("service"))
}

#[tokio::test]
async fn a_connect_on_a_link_without_carrier_times_out_with_an_event() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    bed.carrier("peer0", false);
    let id = bed.service_id("veth0");
    let daemon = Daemon::start(&bed.host, &config("off"), &[]).await;
    let mut manager = daemon.manager().await;
    wait_service(&mut manager, "idle without carrier", SLOW, |s| {
        s.id == id && s.state() == pb::ServiceState::Idle
    })
    .await;
    let (_, mut events) = common::watch(&mut manager).await;
    let err = manager
        .connect_service(pb::ConnectServiceRequest {
            service_id: id.clone(),
            timeout: Some(pbjson_types::Duration {
                seconds: 1,
                nanos: 0,
            }),
            credentials: None,
        })
        .await
        .expect_err("no carrier: the connect gives up");
    assert_eq!(err.code(), tonic::Code::DeadlineExceeded, "{err:?}");
    common::read_until(&mut events, "ConnectTimedOut", |e| {
        matches!(&e.event, Some(pb::watch_manager_response::Event::ConnectTimedOut(t)) if t.service_id == id)
    })
    .await;
}

#[tokio::test]
async fn a_connect_sets_an_admin_down_link_up() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let id = bed.service_id("veth0");
    let peers = tempfile::tempdir().expect("tempdir");
    let _dhcp = dnsmasq(&bed, "peer0", "198.18.1", peers.path());
    bed.host.ip(&["link", "set", "veth0", "down"]);
    let daemon = Daemon::start(&bed.host, &config("off"), &[]).await;
    let mut manager = daemon.manager().await;
    wait_service(&mut manager, "listed", SLOW, |s| s.id == id).await;
    assert!(
        !admin_up(&bed.host, "veth0"),
        "autoconnect leaves a link the user set down alone"
    );
    let ready = manager
        .connect_service(pb::ConnectServiceRequest {
            service_id: id.clone(),
            ..Default::default()
        })
        .await
        .expect("connect brings the link up")
        .into_inner()
        .service
        .expect("service");
    assert_eq!(ready.state(), pb::ServiceState::Ready);
    assert!(admin_up(&bed.host, "veth0"));
}

#[tokio::test]
async fn auto_admin_down_after_disconnect_and_the_users_admin_up_reconnects() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let id = bed.service_id("veth0");
    let peers = tempfile::tempdir().expect("tempdir");
    let _dhcp = dnsmasq(&bed, "peer0", "198.18.1", peers.path());
    let cfg = config("off").replace(
        "timeout = 5\n",
        "timeout = 5\nadmin_down_on_timeout = true\n",
    );
    let daemon = Daemon::start(&bed.host, &cfg, &[]).await;
    let mut manager = daemon.manager().await;
    wait_service(&mut manager, "ready", SLOW, |s| {
        s.id == id && s.state() == pb::ServiceState::Ready
    })
    .await;
    manager
        .disconnect_service(pb::DisconnectServiceRequest {
            service_id: id.clone(),
        })
        .await
        .expect("disconnect");
    common::eventually("veth0 taken admin-down", || async {
        !admin_up(&bed.host, "veth0")
    })
    .await;
    bed.host.ip(&["link", "set", "veth0", "up"]);
    wait_service(
        &mut manager,
        "ready again after the user's admin-up",
        SLOW,
        |s| s.id == id && s.state() == pb::ServiceState::Ready,
    )
    .await;
}

#[tokio::test]
async fn a_service_that_is_not_persistent_stays_down_after_a_loss() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let id = bed.service_id("veth0");
    let peers = tempfile::tempdir().expect("tempdir");
    let _dhcp = dnsmasq(&bed, "peer0", "198.18.1", peers.path());
    let daemon = Daemon::start(&bed.host, &config("off"), &[]).await;
    let mut manager = daemon.manager().await;
    wait_service(&mut manager, "ready", SLOW, |s| {
        s.id == id && s.state() == pb::ServiceState::Ready
    })
    .await;
    update_one(
        &mut manager,
        &id,
        "autoconnect",
        pb::Service {
            autoconnect: false,
            ..Default::default()
        },
    )
    .await
    .expect("autoconnect off");
    manager
        .connect_service(pb::ConnectServiceRequest {
            service_id: id.clone(),
            ..Default::default()
        })
        .await
        .expect("an explicit connect");
    bed.carrier("peer0", false);
    wait_service(&mut manager, "idle without carrier", SLOW, |s| {
        s.id == id && s.state() == pb::ServiceState::Idle
    })
    .await;
    bed.carrier("peer0", true);
    // Once the daemon shows the carrier, it has taken the event in.
    common::eventually("the daemon sees the carrier again", || {
        let mut m = manager.clone();
        async move {
            m.get_interface(pb::GetInterfaceRequest {
                name: "veth0".into(),
            })
            .await
            .ok()
            .and_then(|r| r.into_inner().interface)
            .is_some_and(|i| i.oper_up)
        }
    })
    .await;
    let service = manager
        .get_service(pb::GetServiceRequest {
            service_id: id.clone(),
        })
        .await
        .expect("service")
        .into_inner()
        .service
        .expect("service");
    assert_eq!(
        service.state(),
        pb::ServiceState::Idle,
        "not persistent: no reconnect after the loss"
    );
    let log = daemon.log();
    assert_eq!(
        log.matches("starting DHCP").count(),
        1,
        "DHCP ran once, before the loss:\n{log}"
    );
}

#[tokio::test]
async fn per_service_timeouts_are_validated_and_shown() {
    use tonic_types::StatusExt;
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let id = bed.service_id("veth0");
    let daemon = Daemon::start(&bed.host, &config("off"), &[]).await;
    let mut manager = daemon.manager().await;
    wait_service(&mut manager, "listed", SLOW, |s| s.id == id).await;
    let secs = |seconds| pbjson_types::Duration { seconds, nanos: 0 };
    let err = update_one(
        &mut manager,
        &id,
        "connect_timeout",
        pb::Service {
            connect_timeout: Some(secs(4000)),
            ..Default::default()
        },
    )
    .await
    .expect_err("over an hour");
    assert_eq!(
        err.get_details_bad_request()
            .and_then(|b| b.field_violations.first().map(|v| v.field.clone())),
        Some("service.connect_timeout".to_string())
    );
    let s = update_one(
        &mut manager,
        &id,
        "connect_timeout",
        pb::Service {
            connect_timeout: Some(secs(7)),
            ..Default::default()
        },
    )
    .await
    .expect("7 s");
    assert_eq!(s.connect_timeout, Some(secs(7)));
    let s = update_one(
        &mut manager,
        &id,
        "admin_down_on_timeout",
        pb::Service {
            admin_down_on_timeout: Some(true),
            ..Default::default()
        },
    )
    .await
    .expect("admin-down");
    assert_eq!(
        (s.admin_down_on_timeout, s.connect_timeout),
        (Some(true), Some(secs(7))),
        "one field changed, the other kept"
    );
}

#[tokio::test]
async fn an_idle_timeout_disconnects_a_quiet_link() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let id = bed.service_id("veth0");
    let peers = tempfile::tempdir().expect("tempdir");
    let _dhcp = dnsmasq(&bed, "peer0", "198.18.1", peers.path());
    let daemon = Daemon::start(&bed.host, &config("off"), &[]).await;
    let mut manager = daemon.manager().await;
    wait_service(&mut manager, "ready", SLOW, |s| {
        s.id == id && s.state() == pb::ServiceState::Ready
    })
    .await;
    let (_, mut events) = common::watch(&mut manager).await;
    update_one(
        &mut manager,
        &id,
        "idle_timeout",
        pb::Service {
            idle_timeout: Some(pbjson_types::Duration {
                seconds: 2,
                nanos: 0,
            }),
            ..Default::default()
        },
    )
    .await
    .expect("idle timeout");
    common::read_until(&mut events, "IdleTimedOut", |e| {
        matches!(&e.event, Some(pb::watch_manager_response::Event::IdleTimedOut(t)) if t.service_id == id)
    })
    .await;
    wait_service(&mut manager, "idle after the idle timeout", SLOW, |s| {
        s.id == id && s.state() == pb::ServiceState::Idle
    })
    .await;
}

#[tokio::test]
async fn connect_all_disconnect_all_and_an_ignored_technology() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    bed.veth("veth1", "peer1");
    let peers = tempfile::tempdir().expect("tempdir");
    let _dhcp0 = dnsmasq(&bed, "peer0", "198.18.1", peers.path());
    let _dhcp1 = dnsmasq(&bed, "peer1", "198.18.2", peers.path());
    let daemon = Daemon::start(&bed.host, &config("off"), &[]).await;
    let mut manager = daemon.manager().await;
    all_services_in(&manager, 2, pb::ServiceState::Ready).await;
    let off = manager
        .disconnect_all(pb::DisconnectAllRequest {
            r#type: pb::TechnologyType::Ethernet.into(),
        })
        .await
        .expect("disconnect all")
        .into_inner();
    assert_eq!(off.service_ids.len(), 2);
    all_services_in(&manager, 2, pb::ServiceState::Idle).await;
    let on = manager
        .connect_all(pb::ConnectAllRequest::default())
        .await
        .expect("connect all")
        .into_inner();
    assert_eq!(on.service_ids.len(), 2);
    all_services_in(&manager, 2, pb::ServiceState::Ready).await;

    let ignored = manager
        .update_technology(pb::UpdateTechnologyRequest {
            r#type: pb::TechnologyType::Ethernet.into(),
            ignored: Some(true),
            ..Default::default()
        })
        .await
        .expect("ignore ethernet")
        .into_inner()
        .technology
        .expect("technology");
    assert!(ignored.ignored);
    common::eventually("no Ethernet services", || {
        let mut m = manager.clone();
        async move {
            m.list_services(pb::ListServicesRequest {})
                .await
                .map(|r| r.into_inner().services.is_empty())
                .unwrap_or(false)
        }
    })
    .await;
    manager
        .update_technology(pb::UpdateTechnologyRequest {
            r#type: pb::TechnologyType::Ethernet.into(),
            ignored: Some(false),
            ..Default::default()
        })
        .await
        .expect("watch ethernet");
    all_services_in(&manager, 2, pb::ServiceState::Ready).await;
}

#[tokio::test]
async fn proxy_and_timeservers_come_from_dhcp_or_the_user_and_survive_a_restart() {
    use tonic_types::StatusExt;
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let id = bed.service_id("veth0");
    let peers = tempfile::tempdir().expect("tempdir");
    let pac = "http://198.18.1.1/wpad.dat";
    let _dhcp = dnsmasq_with(
        &bed,
        "peer0",
        "198.18.1",
        peers.path(),
        &[
            "--dhcp-option=option:ntp-server,198.18.1.123".into(),
            format!("--dhcp-option=252,{pac}"),
        ],
    );
    let mut daemon = Daemon::start(&bed.host, &config("off"), &[]).await;
    let mut manager = daemon.manager().await;
    let proxy = |method: &str, url: &str, servers: &[&str], excludes: &[&str]| pb::Proxy {
        method: method.into(),
        url: url.into(),
        servers: servers.iter().map(|s| s.to_string()).collect(),
        excludes: excludes.iter().map(|s| s.to_string()).collect(),
    };
    let dhcp_pac = proxy("auto", pac, &[], &[]);

    let s = wait_service(&mut manager, "ready over DHCP", SLOW, |s| {
        s.id == id && s.state() == pb::ServiceState::Ready
    })
    .await;
    assert_eq!(s.timeservers, vec!["198.18.1.123"], "DHCP option 42");
    assert_eq!(s.proxy.as_ref(), Some(&dhcp_pac), "DHCP option 252");
    assert_eq!(s.proxy_config, None);

    let err = update_one(
        &mut manager,
        &id,
        "proxy_config",
        pb::Service {
            proxy_config: Some(proxy("manual", "", &["198.18.1.1:3128", "proxy"], &[])),
            ..Default::default()
        },
    )
    .await
    .expect_err("a server without a port");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        err.get_details_bad_request()
            .and_then(|b| b.field_violations.first().map(|v| v.field.clone())),
        Some("service.proxy_config.servers[1]".to_string()),
        "{err:?}"
    );
    let err = update_one(
        &mut manager,
        &id,
        "proxy_config",
        pb::Service {
            proxy_config: Some(proxy("pac", "", &[], &[])),
            ..Default::default()
        },
    )
    .await
    .expect_err("an unknown method");
    assert_eq!(
        err.get_details_bad_request()
            .and_then(|b| b.field_violations.first().map(|v| v.field.clone())),
        Some("service.proxy_config.method".to_string())
    );

    let manual = proxy("manual", "", &["198.18.1.1:3128"], &[".lab.example"]);
    let s = update_one(
        &mut manager,
        &id,
        "proxy_config",
        pb::Service {
            proxy_config: Some(manual.clone()),
            timeservers_config: vec!["ntp.lab.example".into()],
            ..Default::default()
        },
    )
    .await
    .expect("manual proxy");
    assert_eq!(
        (s.proxy.as_ref(), s.proxy_config.as_ref()),
        (Some(&manual), Some(&manual))
    );
    assert_eq!(
        s.timeservers,
        vec!["198.18.1.123"],
        "only the masked field changes"
    );

    // The CLI sets the same field; auto without a URL takes DHCP's.
    let socket = daemon.socket.display().to_string();
    let cli = env!("CARGO_BIN_EXE_netpilot");
    common::run(
        cli,
        &[
            "--socket",
            &socket,
            "config",
            &id,
            "--proxy",
            "auto",
            "--timeservers",
            "ntp.lab.example",
        ],
    );
    let s = wait_service(&mut manager, "auto proxy from the CLI", SLOW, |s| {
        s.id == id && s.proxy_config == Some(proxy("auto", "", &[], &[]))
    })
    .await;
    assert_eq!(s.proxy.as_ref(), Some(&dhcp_pac));
    assert_eq!(s.timeservers, vec!["ntp.lab.example"]);
    let shown = common::run(cli, &["--socket", &socket, "service", &id]);
    assert!(
        shown.contains(&format!("auto {pac}")) && shown.contains("ntp.lab.example"),
        "{shown}"
    );

    let s = update_one(
        &mut manager,
        &id,
        "proxy_config",
        pb::Service {
            proxy_config: Some(manual.clone()),
            ..Default::default()
        },
    )
    .await
    .expect("manual again");
    assert_eq!(s.proxy_config.as_ref(), Some(&manual));
    daemon.restart().await;
    let mut manager = daemon.manager().await;
    let s = wait_service(&mut manager, "ready after the restart", SLOW, |s| {
        s.id == id && s.state() == pb::ServiceState::Ready
    })
    .await;
    assert_eq!(
        (s.proxy.as_ref(), s.proxy_config.as_ref()),
        (Some(&manual), Some(&manual)),
        "kept in the store"
    );

    let s = update_one(&mut manager, &id, "proxy_config", pb::Service::default())
        .await
        .expect("cleared");
    assert_eq!((s.proxy.as_ref(), s.proxy_config), (Some(&dhcp_pac), None));
}
