//! Sessions against the real daemon: first full update, changed-fields-only updates,
//! carrier loss, stickiness, invalid settings, dropped streams, release at shutdown;
//! ConnectSession and DisconnectSession on a managed link with dnsmasq; a pinned interface;
//! metered links; the handover notice; and routing per session: connections of the
//! session owner's uid (setpriv) and from its source address leave through its link, checked
//! by which peer namespace sees them.

mod common;

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{
    eventually, next, peer_script, read_until, wait_for_log, wait_service, watch, within, Daemon,
    Netns, Peer, Testbed,
};
use netpilot::pb;
use pb::open_session_response::Event as SessionEvent;
use tonic_types::StatusExt;

fn local_ethernet() -> pb::OpenSessionRequest {
    pb::OpenSessionRequest {
        settings: Some(pb::SessionSettings {
            allowed_bearers: Some(pb::BearerList {
                bearers: vec!["ethernet".into()],
            }),
            connection_type: pb::ConnectionType::Local.into(),
            ..Default::default()
        }),
    }
}

fn update(m: &pb::OpenSessionResponse) -> &pb::SessionUpdate {
    match &m.event {
        Some(SessionEvent::Update(u)) => u,
        other => panic!("expected an update, got {other:?}"),
    }
}

/// A handover notice's previous service, next service and reason.
fn handover(m: &pb::OpenSessionResponse) -> (&str, &str, &str) {
    match &m.event {
        Some(SessionEvent::Handover(h)) => (
            h.previous_service_id.as_str(),
            h.next_service_id.as_str(),
            h.reason.as_str(),
        ),
        other => panic!("expected a handover notice, got {other:?}"),
    }
}

/// Names of the fields an update sets.
fn fields(u: &pb::SessionUpdate) -> Vec<&'static str> {
    let mut f = vec![];
    let mut add = |set: bool, name| {
        if set {
            f.push(name)
        }
    };
    add(u.state.is_some(), "state");
    add(u.name.is_some(), "name");
    add(u.bearer.is_some(), "bearer");
    add(u.interface.is_some(), "interface");
    add(u.service_id.is_some(), "service_id");
    add(u.ipv4.is_some(), "ipv4");
    add(u.ipv6.is_some(), "ipv6");
    add(u.allowed_bearers.is_some(), "allowed_bearers");
    add(u.connection_type.is_some(), "connection_type");
    add(u.allowed_interface.is_some(), "allowed_interface");
    add(u.context_identifier.is_some(), "context_identifier");
    add(u.source_ip_rule.is_some(), "source_ip_rule");
    add(u.allow_metered.is_some(), "allow_metered");
    add(u.connect_requested.is_some(), "connect_requested");
    f
}

#[tokio::test]
async fn local_ethernet_session_follows_the_link() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    bed.veth("veth1", "peer1");
    let (svc0, svc1) = (bed.service_id("veth0"), bed.service_id("veth1"));
    let daemon = Daemon::start(&bed.host, "", &[]).await;
    let mut sessions = daemon.sessions().await;
    let mut stream = within("OpenSession", sessions.open_session(local_ethernet()))
        .await
        .expect("open")
        .into_inner();

    let first = next(&mut stream, "first update").await;
    assert!(!first.session_id.is_empty());
    let u = update(&first);
    assert_eq!(
        fields(u).len(),
        14,
        "the first update carries every field: {u:?}"
    );
    assert_eq!(u.state(), pb::SessionState::Disconnected);
    assert_eq!(
        u.allowed_bearers.as_ref().map(|b| b.bearers.clone()),
        Some(vec!["ethernet".to_string()])
    );
    assert_eq!(u.connection_type(), pb::ConnectionType::Local);

    // The link gets an address: only the changed fields.
    bed.host
        .ip(&["addr", "add", "198.18.1.2/24", "dev", "veth0"]);
    let m = next(&mut stream, "update").await;
    let u = update(&m);
    assert_eq!(
        fields(u),
        vec!["state", "name", "bearer", "interface", "service_id", "ipv4"]
    );
    assert_eq!(u.state(), pb::SessionState::Connected);
    assert_eq!(
        (u.bearer(), u.interface(), u.service_id(), u.name()),
        ("ethernet", "veth0", svc0.as_str(), "Wired")
    );
    assert_eq!(
        u.ipv4.as_ref().map(|i| i.address.as_str()),
        Some("198.18.1.2")
    );

    // Carrier loss: disconnected.
    bed.carrier("peer0", false);
    let m = next(&mut stream, "update").await;
    let u = update(&m);
    assert_eq!(u.state(), pb::SessionState::Disconnected);
    assert_eq!(u.interface(), "", "the interface went away");
    bed.carrier("peer0", true);
    let m = next(&mut stream, "update").await;
    assert_eq!(update(&m).state(), pb::SessionState::Connected);

    // A second link becoming ready does not move the session…
    let mut manager = daemon.manager().await;
    let (_, mut events) = watch(&mut manager).await;
    bed.host
        .ip(&["addr", "add", "198.18.2.2/24", "dev", "veth1"]);
    read_until(&mut events, "veth1 ready", |e| {
        matches!(&e.event, Some(pb::watch_manager_response::Event::ServiceStateChanged(c))
            if c.service_id == svc1 && c.state() == pb::ServiceState::Ready)
    })
    .await;
    // …unless it becomes preferred. The next session messages must be the move: the
    // handover notice, then the update.
    manager
        .move_service(pb::MoveServiceRequest {
            service_id: svc1.clone(),
            target: Some(pb::move_service_request::Target::Before(svc0.clone())),
        })
        .await
        .expect("move");
    let m = next(&mut stream, "handover").await;
    assert_eq!(
        handover(&m),
        (svc0.as_str(), svc1.as_str(), "better-service"),
        "{m:?}"
    );
    let m = next(&mut stream, "update").await;
    let u = update(&m);
    assert_eq!(
        fields(u),
        vec!["interface", "service_id", "ipv4"],
        "same bearer, same state: {u:?}"
    );
    assert_eq!((u.interface(), u.service_id()), ("veth1", svc1.as_str()));

    // ChangeSession: allowed bearers to wifi only → disconnected, and the new settings.
    sessions
        .change_session(pb::ChangeSessionRequest {
            session_id: first.session_id.clone(),
            settings: Some(pb::SessionSettings {
                allowed_bearers: Some(pb::BearerList {
                    bearers: vec!["wifi".into()],
                }),
                connection_type: 0,
                ..Default::default()
            }),
        })
        .await
        .expect("change");
    let m = next(&mut stream, "update").await;
    let u = update(&m);
    assert_eq!(u.state(), pb::SessionState::Disconnected);
    assert!(
        fields(u).contains(&"allowed_bearers") && !fields(u).contains(&"connection_type"),
        "{u:?}"
    );
}

#[tokio::test]
async fn invalid_settings_are_rejected_naming_the_field() {
    let bed = Testbed::new();
    let daemon = Daemon::start(&bed.host, "", &[]).await;
    let mut sessions = daemon.sessions().await;
    let cases = [
        (
            pb::SessionSettings {
                allowed_bearers: Some(pb::BearerList {
                    bearers: vec!["ethernet".into(), "wimax".into()],
                }),
                connection_type: 0,
                ..Default::default()
            },
            "settings.allowed_bearers.bearers[1]",
        ),
        (
            pb::SessionSettings {
                allowed_bearers: None,
                connection_type: 42,
                ..Default::default()
            },
            "settings.connection_type",
        ),
        (
            pb::SessionSettings {
                allowed_interface: Some("not/a/name".into()),
                ..Default::default()
            },
            "settings.allowed_interface",
        ),
    ];
    for (settings, field) in cases {
        let err = within(
            "OpenSession",
            sessions.open_session(pb::OpenSessionRequest {
                settings: Some(settings),
            }),
        )
        .await
        .expect_err("invalid settings must fail");
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
        let violations = err
            .get_details_bad_request()
            .expect("BadRequest details")
            .field_violations;
        assert_eq!(violations[0].field, field);
        assert!(err.message().contains(field), "{}", err.message());
    }
    let err = sessions
        .destroy_session(pb::DestroySessionRequest {
            session_id: "abc".into(),
        })
        .await
        .expect_err("bad id");
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let err = sessions
        .destroy_session(pb::DestroySessionRequest {
            session_id: "999".into(),
        })
        .await
        .expect_err("unknown id");
    assert_eq!(err.code(), tonic::Code::NotFound);
    let list = sessions
        .list_sessions(pb::ListSessionsRequest {})
        .await
        .expect("list")
        .into_inner();
    assert!(
        list.sessions.is_empty(),
        "a rejected session must not exist: {list:?}"
    );
}

#[tokio::test]
async fn a_dropped_stream_ends_its_session_and_destroy_releases() {
    let bed = Testbed::new();
    let daemon = Daemon::start(&bed.host, "", &[]).await;
    let mut sessions = daemon.sessions().await;
    let mut kept = within("OpenSession", sessions.open_session(local_ethernet()))
        .await
        .expect("open")
        .into_inner();
    let kept_id = next(&mut kept, "first update").await.session_id;
    let mut dropped = within(
        "OpenSession",
        sessions.open_session(pb::OpenSessionRequest::default()),
    )
    .await
    .expect("open")
    .into_inner();
    let dropped_id = next(&mut dropped, "first update").await.session_id;
    let ids = |list: pb::ListSessionsResponse| {
        list.sessions
            .into_iter()
            .map(|s| s.session_id)
            .collect::<Vec<_>>()
    };
    let listed = ids(sessions
        .list_sessions(pb::ListSessionsRequest {})
        .await
        .expect("list")
        .into_inner());
    assert_eq!(listed, vec![kept_id.clone(), dropped_id.clone()]);

    drop(dropped);
    eventually("the dropped session is gone", || {
        let mut sessions = sessions.clone();
        let kept_id = kept_id.clone();
        async move {
            ids(sessions
                .list_sessions(pb::ListSessionsRequest {})
                .await
                .expect("list")
                .into_inner())
                == vec![kept_id]
        }
    })
    .await;

    sessions
        .destroy_session(pb::DestroySessionRequest {
            session_id: kept_id.clone(),
        })
        .await
        .expect("destroy");
    let m = next(&mut kept, "release").await;
    assert!(
        matches!(&m.event, Some(SessionEvent::Release(r)) if r.reason == "destroyed"),
        "{m:?}"
    );
    assert!(
        within("end of stream", kept.message())
            .await
            .expect("end")
            .is_none(),
        "nothing after release"
    );
}

#[tokio::test]
async fn sigterm_releases_every_session_and_exits_zero() {
    let bed = Testbed::new();
    let mut daemon = Daemon::start(&bed.host, "", &[]).await;
    let mut sessions = daemon.sessions().await;
    let mut streams = Vec::new();
    for _ in 0..3 {
        let mut s = within("OpenSession", sessions.open_session(local_ethernet()))
            .await
            .expect("open")
            .into_inner();
        next(&mut s, "first update").await;
        streams.push(s);
    }
    let mut manager = daemon.manager().await;
    let (_, mut events) = watch(&mut manager).await;

    daemon.sigterm();
    for mut s in streams {
        let m = next(&mut s, "release").await;
        assert!(
            matches!(&m.event, Some(SessionEvent::Release(r)) if r.reason == "shutdown"),
            "{m:?}"
        );
        assert!(
            within("end of stream", s.message())
                .await
                .expect("clean end")
                .is_none(),
            "nothing after release"
        );
    }
    assert!(within("end of WatchManager", events.message())
        .await
        .expect("clean end of WatchManager")
        .is_none());
    let status = daemon.wait_exit().await;
    assert!(
        status.success(),
        "netpilotd exit status {status}:\n{}",
        daemon.log()
    );
}

/// A device that never steers a session needs no nftables: without `nft` the start-up
/// clean-up of the session routing table has nothing to remove and is not retried.
#[tokio::test]
async fn without_nft_and_sessions_the_daemon_needs_no_nftables() {
    let bed = Testbed::new();
    // A PATH with `ip` (the harness runs `ip netns exec`) and nothing else.
    let bin = tempfile::tempdir().expect("tempdir");
    let ip = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("ip(8)");
    std::os::unix::fs::symlink(ip, bin.path().join("ip")).expect("symlink ip");
    let path = ("PATH", bin.path().display().to_string());
    let daemon = Daemon::start_with(&bed.host, "", "file", &[path], &[]).await;
    let log = wait_for_log(&daemon, "no nft to run: nothing to clean up").await;
    assert!(
        !log.contains("steer session owners' traffic"),
        "a missing nft must not be retried while nothing is steered:\n{log}"
    );
}

/// Managed `veth*` with short retries; no online check.
const MANAGED: &str = r#"managed_interfaces = ["veth*"]

[connect]
timeout = 10
retry_min = 1
retry_max = 2
"#;

/// Longer than any DHCP path here needs; a deadline, not a measurement.
const SLOW: Duration = Duration::from_secs(45);

/// `<net>.1/24` on the peer end `peer_if` in `ns`, and a dnsmasq there serving
/// `<net>.100-150` with router `<net>.1`.
fn dhcp(ns: &Netns, peer_if: &str, net: &str, dir: &std::path::Path) -> Peer {
    ns.ip(&["addr", "add", &format!("{net}.1/24"), "dev", peer_if]);
    let range = format!("--dhcp-range={net}.100,{net}.150,255.255.255.0,2m");
    let router = format!("--dhcp-option=option:router,{net}.1");
    let interface = format!("--interface={peer_if}");
    let leases = format!(
        "--dhcp-leasefile={}",
        dir.join(format!("{peer_if}.leases")).display()
    );
    Peer::start(
        ns,
        "dnsmasq",
        "dnsmasq",
        &[
            "--no-daemon",
            "--conf-file=/dev/null",
            "--no-ping",
            "--no-resolv",
            "--no-hosts",
            "--port=0",
            &interface,
            "--bind-interfaces",
            "--dhcp-authoritative",
            &range,
            &router,
            &leases,
            "--pid-file=",
            "--user=root",
            "--group=root",
        ],
        &dir.join(format!("dnsmasq-{peer_if}.log")),
    )
}

/// Opens a session and returns its id and stream, after the first update.
async fn open(
    sessions: &mut pb::session_service_client::SessionServiceClient<tonic::transport::Channel>,
    settings: pb::SessionSettings,
) -> (
    String,
    tonic::Streaming<pb::OpenSessionResponse>,
    pb::SessionUpdate,
) {
    let mut stream = within(
        "OpenSession",
        sessions.open_session(pb::OpenSessionRequest {
            settings: Some(settings),
        }),
    )
    .await
    .expect("open")
    .into_inner();
    let first = next(&mut stream, "first update").await;
    let u = update(&first).clone();
    (first.session_id, stream, u)
}

fn bearers(list: &[&str]) -> Option<pb::BearerList> {
    Some(pb::BearerList {
        bearers: list.iter().map(|b| b.to_string()).collect(),
    })
}

/// Reads session messages until an update's state is `state`; returns that update.
async fn until_state(
    stream: &mut tonic::Streaming<pb::OpenSessionResponse>,
    state: pb::SessionState,
) -> pb::SessionUpdate {
    let seen = read_until(
        stream,
        &format!("session {state:?}"),
        |m| matches!(&m.event, Some(SessionEvent::Update(u)) if u.state == Some(state.into())),
    )
    .await;
    update(seen.last().expect("a message")).clone()
}

#[tokio::test]
async fn connect_session_brings_a_link_up_and_disconnect_lets_it_go() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let peers = tempfile::tempdir().expect("tempdir");
    let _dhcp = dhcp(&bed.peer, "peer0", "198.18.1", peers.path());
    let svc = bed.service_id("veth0");
    let daemon = Daemon::start(&bed.host, MANAGED, &[]).await;
    let mut manager = daemon.manager().await;
    // A managed link nothing keeps up: autoconnect off, disconnected.
    manager
        .update_service(pb::UpdateServiceRequest {
            service: Some(pb::Service {
                id: svc.clone(),
                autoconnect: false,
                ..Default::default()
            }),
            update_mask: Some(pbjson_types::FieldMask {
                paths: vec!["autoconnect".into()],
            }),
        })
        .await
        .expect("autoconnect off");
    manager
        .disconnect_service(pb::DisconnectServiceRequest {
            service_id: svc.clone(),
        })
        .await
        .expect("disconnect");
    wait_service(&mut manager, "veth0 idle", SLOW, |s| {
        s.id == svc && s.state() == pb::ServiceState::Idle
    })
    .await;

    let mut sessions = daemon.sessions().await;
    // Nothing allowed: no-service, and no claim is recorded.
    let (wifi_id, _wifi, _) = open(
        &mut sessions,
        pb::SessionSettings {
            allowed_bearers: bearers(&["wifi"]),
            ..Default::default()
        },
    )
    .await;
    let err = sessions
        .connect_session(pb::ConnectSessionRequest {
            session_id: wifi_id,
        })
        .await
        .expect_err("nothing allowed can connect");
    assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err:?}");
    assert_eq!(
        err.get_details_error_info().map(|i| i.reason),
        Some("no-service".to_string()),
        "{err:?}"
    );

    let (id, mut stream, first) = open(
        &mut sessions,
        pb::SessionSettings {
            allowed_bearers: bearers(&["ethernet"]),
            context_identifier: Some("telemetry".into()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(first.state(), pb::SessionState::Disconnected);
    assert_eq!(first.context_identifier(), "telemetry");
    assert!(!first.connect_requested());
    // Returns at once; the progress comes through the stream.
    sessions
        .connect_session(pb::ConnectSessionRequest {
            session_id: id.clone(),
        })
        .await
        .expect("connect");
    let up = until_state(&mut stream, pb::SessionState::Connected).await;
    assert_eq!((up.interface(), up.service_id()), ("veth0", svc.as_str()));
    assert!(
        up.ipv4
            .as_ref()
            .is_some_and(|i| i.address.starts_with("198.18.1.")),
        "a DHCP lease: {up:?}"
    );
    let listed = sessions
        .list_sessions(pb::ListSessionsRequest {})
        .await
        .expect("list")
        .into_inner();
    let me = listed
        .sessions
        .iter()
        .find(|s| s.session_id == id)
        .expect("listed");
    assert!(
        me.connect_requested && me.context_identifier == "telemetry",
        "{me:?}"
    );

    // Withdrawn: nothing else keeps the link, so it goes down.
    sessions
        .disconnect_session(pb::DisconnectSessionRequest {
            session_id: id.clone(),
        })
        .await
        .expect("disconnect session");
    until_state(&mut stream, pb::SessionState::Disconnected).await;
    wait_service(&mut manager, "veth0 idle again", SLOW, |s| {
        s.id == svc && s.state() == pb::ServiceState::Idle && s.ipv4.is_none()
    })
    .await;
}

#[tokio::test]
async fn metered_links_are_refused_and_a_pinned_session_follows_its_link_alone() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    bed.veth("veth1", "peer1");
    let peers = tempfile::tempdir().expect("tempdir");
    let _d0 = dhcp(&bed.peer, "peer0", "198.18.1", peers.path());
    let _d1 = dhcp(&bed.peer, "peer1", "198.18.2", peers.path());
    let (svc0, svc1) = (bed.service_id("veth0"), bed.service_id("veth1"));
    let daemon = Daemon::start(&bed.host, MANAGED, &[]).await;
    let mut manager = daemon.manager().await;
    for id in [&svc0, &svc1] {
        wait_service(&mut manager, "both ready", SLOW, |s| {
            &s.id == id && s.state() == pb::ServiceState::Ready
        })
        .await;
    }
    // veth1 is a paid uplink.
    let metered = manager
        .update_service(pb::UpdateServiceRequest {
            service: Some(pb::Service {
                id: svc1.clone(),
                metered: true,
                ..Default::default()
            }),
            update_mask: Some(pbjson_types::FieldMask {
                paths: vec!["metered".into()],
            }),
        })
        .await
        .expect("metered")
        .into_inner();
    assert!(metered.service.expect("service").metered);
    let order: Vec<String> = manager
        .list_services(pb::ListServicesRequest {})
        .await
        .expect("list")
        .into_inner()
        .services
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(order, vec![svc0.clone(), svc1.clone()], "unmetered first");

    let mut sessions = daemon.sessions().await;
    let (_, mut free, first) = open(
        &mut sessions,
        pb::SessionSettings {
            allowed_bearers: bearers(&["ethernet"]),
            allow_metered: Some(false),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(first.service_id(), svc0, "{first:?}");
    assert!(!first.allow_metered());
    let (_, mut pinned, first) = open(
        &mut sessions,
        pb::SessionSettings {
            allowed_interface: Some("veth1".into()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        (first.service_id(), first.allowed_interface()),
        (svc1.as_str(), "veth1"),
        "pinned to veth1 although veth0 ranks first: {first:?}"
    );

    // veth0 loses carrier: the metered link is the only one ready, and the unmetered
    // session does not take it.
    bed.carrier("peer0", false);
    let u = until_state(&mut free, pb::SessionState::Disconnected).await;
    assert_eq!(u.service_id(), "", "{u:?}");
    bed.carrier("peer0", true);
    let u = until_state(&mut free, pb::SessionState::Connected).await;
    assert_eq!(u.service_id(), svc0);
    // The pinned session heard nothing of veth0; its own link going is its next message,
    // and it does not move to veth0.
    bed.carrier("peer1", false);
    let m = next(&mut pinned, "update").await;
    let u = update(&m);
    assert_eq!(
        (u.state(), u.service_id()),
        (pb::SessionState::Disconnected, ""),
        "pinned: never moved to veth0: {u:?}"
    );
}

/// The address every peer namespace answers on, reachable through either link.
const FAR: &str = "198.18.9.1";

/// A `netpilot session open …` run as `uid` in the daemon's namespace (setpriv), whose
/// output lines come through a channel. Killed by its PID on drop, which ends the session.
struct CliSession {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl CliSession {
    fn start(ns: &Netns, daemon: &Daemon, uid: u32, args: &[&str]) -> Self {
        let uid = uid.to_string();
        let mut child = Command::new("ip")
            .args([
                "netns", "exec", &ns.name, "setpriv", "--reuid", &uid, "--regid", &uid,
            ])
            .args([
                "--clear-groups",
                "--",
                env!("CARGO_BIN_EXE_netpilot"),
                "--socket",
            ])
            .arg(&daemon.socket)
            .args(["session", "open"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start netpilot session open");
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        CliSession { child, lines }
    }

    /// Waits for an output line containing `needle`, and returns it.
    fn wait_line(&self, needle: &str) -> String {
        let end = std::time::Instant::now() + SLOW;
        loop {
            let left = end.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(e) => panic!("netpilot session open: no line with {needle:?}: {e}"),
            }
        }
    }
}

impl Drop for CliSession {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens a TCP connection to [`FAR`] from the daemon's namespace as `uid` (setpriv),
/// optionally bound to `bind`, and sends `tag`.
fn connect_as(ns: &Netns, uid: u32, tag: &str, bind: Option<&str>) {
    let code = "import socket, sys\n\
s = socket.socket()\n\
s.settimeout(5)\n\
if len(sys.argv) > 3: s.bind((sys.argv[3], 0))\n\
s.connect((sys.argv[2], 7000))\n\
s.sendall(sys.argv[1].encode())\n\
s.close()\n";
    let uid = uid.to_string();
    let mut args = vec![
        "netns", "exec", &ns.name, "setpriv", "--reuid", &uid, "--regid", &uid,
    ];
    // The system python: a per-user one (pyenv) may not be readable by uid.
    args.extend([
        "--clear-groups",
        "--",
        "/usr/bin/python3",
        "-c",
        code,
        tag,
        FAR,
    ]);
    args.extend(bind);
    common::run("ip", &args);
}

/// Waits until `log` (a tcp_who.py log) has a line for `tag`; returns the client address.
async fn seen_in(log: &std::path::Path, tag: &str) -> String {
    let mut from = String::new();
    eventually(&format!("{tag} logged in {}", log.display()), || {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let hit = text
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{tag} from ")).map(str::to_string));
        if let Some(h) = hit {
            from = h;
        }
        let found = !from.is_empty();
        async move { found }
    })
    .await;
    from
}

fn steering_state(ns: &Netns) -> (String, String) {
    (
        ns.ip(&["rule", "show"]),
        ns.ip(&["route", "show", "table", "all"]),
    )
}

#[tokio::test]
async fn a_session_owners_traffic_leaves_through_its_link() {
    let bed = Testbed::new();
    // Two peers, each in its own namespace, each answering on FAR.
    let other = Netns::new("q");
    bed.veth("veth0", "peer0");
    common::run(
        "ip",
        &[
            "link",
            "add",
            "veth1",
            "netns",
            &bed.host.name,
            "type",
            "veth",
            "peer",
            "name",
            "peer1",
            "netns",
            &other.name,
        ],
    );
    other.ip(&["link", "set", "peer1", "up"]);
    bed.host.ip(&["link", "set", "veth1", "up"]);
    let peers = tempfile::tempdir().expect("tempdir");
    let _d0 = dhcp(&bed.peer, "peer0", "198.18.1", peers.path());
    let _d1 = dhcp(&other, "peer1", "198.18.2", peers.path());
    let (log_a, log_b) = (
        peers.path().join("far-a.log"),
        peers.path().join("far-b.log"),
    );
    let script = peer_script("tcp_who.py");
    let mut far = Vec::new();
    for (ns, log) in [(&bed.peer, &log_a), (&other, &log_b)] {
        ns.ip(&["addr", "add", &format!("{FAR}/32"), "dev", "lo"]);
        far.push(Peer::start(
            ns,
            "tcp_who",
            "python3",
            &[&script, FAR, "7000"],
            log,
        ));
    }
    for ns in [&bed.peer, &other] {
        eventually("the far end listens", || {
            let listening = ns.exec("ss", &["-ltnH"]);
            async move { listening.contains(&format!("{FAR}:7000")) }
        })
        .await;
    }
    let (svc0, svc1) = (bed.service_id("veth0"), bed.service_id("veth1"));
    // uids 1000 and 1001 are users (they may open sessions), and reach the socket.
    let config = format!(
        "{MANAGED}\n[api]\nsocket_mode = 0o666\n[access]\nuser = [\"uid:1000\", \"uid:1001\"]\n"
    );
    let daemon = Daemon::start(&bed.host, &config, &[]).await;
    let mut manager = daemon.manager().await;
    for id in [&svc0, &svc1] {
        wait_service(&mut manager, "both ready", SLOW, |s| {
            &s.id == id && s.state() == pb::ServiceState::Ready
        })
        .await;
    }
    let prefer = |first: &str, then: &str| pb::MoveServiceRequest {
        service_id: first.to_string(),
        target: Some(pb::move_service_request::Target::Before(then.to_string())),
    };
    manager
        .move_service(prefer(&svc0, &svc1))
        .await
        .expect("move");
    eventually("the default route through veth0", || {
        let routes = bed.host.ip(&["route", "show", "default"]);
        async move {
            routes
                .lines()
                .next()
                .is_some_and(|l| l.contains("dev veth0"))
        }
    })
    .await;
    // Unprivileged users reach the socket (the daemon's temp dir is root's).
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(daemon.dir.path(), std::fs::Permissions::from_mode(0o711))
        .expect("chmod");

    // As a new user would: uid 1000 pins a session to veth1 and asks to connect.
    let s1000 = CliSession::start(
        &bed.host,
        &daemon,
        1000,
        &[
            "--bearers",
            "ethernet",
            "--interface",
            "veth1",
            "--connect",
            "--source-ip-rule",
        ],
    );
    let line = s1000.wait_line("ipv4=198.18.2.");
    let addr1 = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("ipv4="))
        .and_then(|a| a.split('/').next())
        .expect("the session's address")
        .to_string();
    let s1001 = CliSession::start(
        &bed.host,
        &daemon,
        1001,
        &["--bearers", "ethernet", "--interface", "veth0"],
    );
    s1001.wait_line("ipv4=198.18.1.");
    eventually(
        "a mark rule per steered service, and both owners marked",
        || {
            let rules = bed.host.ip(&["rule", "show"]);
            let nft = bed.host.exec("nft", &["list", "ruleset"]);
            async move {
                rules.matches("fwmark").count() == 2
                    && nft.contains("skuid 1000")
                    && nft.contains("skuid 1001")
            }
        },
    )
    .await;

    // The owner's connection leaves through veth1 (masqueraded to its address there); the
    // other owner's through veth0; root's, not steered, follows the default route.
    connect_as(&bed.host, 1000, "u1000-a", None);
    assert_eq!(seen_in(&log_b, "u1000-a").await, addr1);
    connect_as(&bed.host, 1001, "u1001-a", None);
    assert!(seen_in(&log_a, "u1001-a").await.starts_with("198.18.1."));
    connect_as(&bed.host, 0, "root-a", None);
    assert!(seen_in(&log_a, "root-a").await.starts_with("198.18.1."));
    // With source_ip_rule, a socket bound to the session's address leaves through veth1,
    // whoever owns it.
    connect_as(&bed.host, 0, "root-bound", Some(&addr1));
    assert_eq!(seen_in(&log_b, "root-bound").await, addr1);

    // The default moves to veth1: uid 1001 still leaves through its veth0.
    manager
        .move_service(prefer(&svc1, &svc0))
        .await
        .expect("move");
    eventually("the default route through veth1", || {
        let routes = bed.host.ip(&["route", "show", "default"]);
        async move {
            routes
                .lines()
                .next()
                .is_some_and(|l| l.contains("dev veth1"))
        }
    })
    .await;
    connect_as(&bed.host, 1001, "u1001-b", None);
    assert!(seen_in(&log_a, "u1001-b").await.starts_with("198.18.1."));
    connect_as(&bed.host, 1000, "u1000-b", None);
    assert_eq!(seen_in(&log_b, "u1000-b").await, addr1);
    for (tag, log) in [("u1000-a", &log_a), ("u1001-a", &log_b), ("root-a", &log_b)] {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        assert!(!text.contains(tag), "{tag} reached the wrong peer: {text}");
    }

    // The sessions end: their rules, tables and marks go.
    drop(s1000);
    drop(s1001);
    eventually("netpilot's rules and tables are gone", || {
        let (rules, routes) = steering_state(&bed.host);
        async move {
            !rules.contains("fwmark")
                && !rules.contains("lookup 200")
                && !routes.contains("table 200")
        }
    })
    .await;
    eventually("the nftables table is gone", || {
        let tables = bed.host.exec("nft", &["list", "tables"]);
        async move { !tables.contains("netpilot") }
    })
    .await;
    drop(far);
}
