//! Who may do what, against the real daemon in a network namespace (issue 10): the
//! mutual-TLS listener, roles over the Unix socket for real uids, every RPC a viewer may not
//! call, session ownership and policy files, hostile input, limits, a client that never
//! reads, and secrets that never leave the daemon.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::access::{client_tls, tcp_in, unix_as, As, TestPki};
use common::{eventually, read_until, wait_for_log, Daemon, Testbed, DEADLINE};
use netpilot::pb;
use pb::manager_service_client::ManagerServiceClient;
use pb::session_service_client::SessionServiceClient;
use tonic::transport::Channel;
use tonic::Code;
use tonic_types::StatusExt;

const TLS_ADDR: &str = "127.0.0.1:50443";

/// Test uids and gids: no passwd entries needed.
const VIEWER_UID: u32 = 64001;
const USER_UID: u32 = 64002;
const OTHER_USER_UID: u32 = 64003;
const UNMAPPED_UID: u32 = 64009;
const SOCKET_GID: u32 = 64010;
const ROBOT_GID: u32 = 64020;

fn tls_addr() -> SocketAddr {
    TLS_ADDR.parse().expect("addr")
}

/// The [api] and [access] sections of the role tests.
fn access_config() -> String {
    format!(
        "[api]\nsocket_group = \"{SOCKET_GID}\"\n\
         [access]\nadmin = [\"cn:fleet-controller\"]\n\
         user = [\"uid:{USER_UID}\", \"uid:{OTHER_USER_UID}\", \"gid:{ROBOT_GID}\", \"dns:ops.fleet.test\"]\n\
         viewer = [\"uid:{VIEWER_UID}\", \"uri:spiffe://fleet/dashboard\"]\n"
    )
}

/// Lets the test users reach the socket inside the daemon's temp dir.
fn open_socket_dir(daemon: &Daemon) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(daemon.dir.path(), std::fs::Permissions::from_mode(0o711))
        .expect("chmod temp dir");
}

fn who(uid: u32) -> As {
    As {
        uid,
        gid: uid,
        groups: vec![SOCKET_GID],
    }
}

async fn as_user(daemon: &Daemon, uid: u32) -> Channel {
    unix_as(&daemon.socket, &who(uid))
        .await
        .unwrap_or_else(|e| panic!("connect as uid {uid}: {e}"))
}

fn code<T: std::fmt::Debug>(r: &Result<T, tonic::Status>) -> Code {
    match r {
        Ok(_) => Code::Ok,
        Err(s) => s.code(),
    }
}

fn local_session(bearers: &[&str]) -> pb::OpenSessionRequest {
    pb::OpenSessionRequest {
        settings: Some(pb::SessionSettings {
            allowed_bearers: Some(pb::BearerList {
                bearers: bearers.iter().map(|b| b.to_string()).collect(),
            }),
            connection_type: pb::ConnectionType::Local.into(),
            ..Default::default()
        }),
    }
}

/// The first message of a session stream: its id and the full update.
async fn first_update(
    stream: &mut tonic::Streaming<pb::OpenSessionResponse>,
) -> (String, pb::SessionUpdate) {
    let m = tokio::time::timeout(DEADLINE, stream.message())
        .await
        .expect("first message in time")
        .expect("stream")
        .expect("a message");
    match m.event {
        Some(pb::open_session_response::Event::Update(u)) => (m.session_id, u),
        other => panic!("expected an update, got {other:?}"),
    }
}

#[tokio::test]
async fn mutual_tls_requires_a_valid_client_certificate_and_maps_roles() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let pki_dir = tempfile::tempdir().expect("dir");
    let pki = TestPki::new(pki_dir.path());
    let config = format!(
        "managed_interfaces = [\"veth0\"]\n[online_check]\nmode = \"off\"\n{}{}",
        access_config(),
        pki.tls_section(TLS_ADDR)
    );
    let daemon = Daemon::start(&bed.host, &config, &[]).await;
    let ns = bed.host.name.clone();
    let connect = |client: Option<&netpilot::certs::Pem>, ca: &netpilot::certs::Pem| {
        let tls = client_tls(ca, client);
        let ns = ns.clone();
        async move { tcp_in(&ns, tls_addr(), Some(tls)).await }
    };

    // Refused: no client certificate, one from another CA, an expired one. With TLS 1.3 the
    // client may finish its handshake before the server refuses, so each makes a call.
    for (what, client) in [
        ("no client certificate", None),
        ("a certificate from another CA", Some(&pki.intruder)),
        ("an expired certificate", Some(&pki.expired)),
    ] {
        let outcome = match connect(client, &pki.ca).await {
            Err(e) => Err(e.to_string()),
            Ok(ch) => ManagerServiceClient::new(ch)
                .get_manager(pb::GetManagerRequest {})
                .await
                .map(|_| ())
                .map_err(|s| s.to_string()),
        };
        assert!(outcome.is_err(), "{what}: the daemon served it");
    }
    wait_for_log(&daemon, "TLS handshake failed").await;

    // Plaintext HTTP/2 to the TLS port.
    let plain = match tcp_in(&ns, tls_addr(), None).await {
        Err(e) => Err(e.to_string()),
        Ok(ch) => ManagerServiceClient::new(ch)
            .get_manager(pb::GetManagerRequest {})
            .await
            .map(|_| ())
            .map_err(|s| s.to_string()),
    };
    assert!(plain.is_err(), "plaintext to the TLS port was served");

    // A viewer reads, and is refused Connect naming the role.
    let viewer = connect(Some(&pki.viewer), &pki.ca).await.expect("viewer");
    let mut viewer = ManagerServiceClient::new(viewer);
    let services = viewer
        .list_services(pb::ListServicesRequest {})
        .await
        .expect("viewer reads")
        .into_inner()
        .services;
    let id = services
        .iter()
        .find(|s| s.ethernet.as_ref().map(|e| e.interface.as_str()) == Some("veth0"))
        .map(|s| s.id.clone())
        .expect("veth0 service");
    let denied = viewer
        .connect_service(pb::ConnectServiceRequest {
            service_id: id.clone(),
            ..Default::default()
        })
        .await
        .expect_err("viewer connect");
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    assert!(
        denied.message().contains("needs role user"),
        "{}",
        denied.message()
    );
    assert!(
        denied.message().contains("spiffe://fleet/dashboard"),
        "{}",
        denied.message()
    );

    // An unmapped certificate gets nothing but health.
    let stranger = connect(Some(&pki.stranger), &pki.ca)
        .await
        .expect("stranger");
    let read = ManagerServiceClient::new(stranger.clone())
        .get_manager(pb::GetManagerRequest {})
        .await;
    assert_eq!(code(&read), Code::PermissionDenied, "{read:?}");
    let health = tonic_health::pb::health_client::HealthClient::new(stranger)
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await;
    assert!(health.is_ok(), "health needs no role: {health:?}");

    // The admin configures a static address and connects.
    let admin = connect(Some(&pki.admin), &pki.ca).await.expect("admin");
    let mut admin = ManagerServiceClient::new(admin);
    admin
        .update_service(pb::UpdateServiceRequest {
            service: Some(pb::Service {
                id: id.clone(),
                ipv4_config: Some(pb::Ipv4Settings {
                    method: pb::Ipv4Method::Manual.into(),
                    address: "198.18.7.2".into(),
                    prefix_length: 24,
                    gateway: String::new(),
                }),
                ..Default::default()
            }),
            update_mask: Some(pbjson_types::FieldMask {
                paths: vec!["ipv4_config".into()],
            }),
        })
        .await
        .expect("admin configures");
    let connected = admin
        .connect_service(pb::ConnectServiceRequest {
            service_id: id.clone(),
            ..Default::default()
        })
        .await
        .expect("admin connects")
        .into_inner()
        .service
        .expect("service");
    assert_eq!(connected.state(), pb::ServiceState::Ready);

    // grpcurl as a remote controller: -cert/-key/-cacert.
    let grpcurl = common::tool("GRPCURL", "grpcurl");
    let grpcurl = grpcurl.to_str().expect("path");
    let call = |cert: &str, method: &str, data: &str| {
        std::process::Command::new("ip")
            .args(["netns", "exec", &bed.host.name, grpcurl, "-max-time", "10"])
            .args(["-cacert", &pki.path("ca.pem")])
            .args(["-cert", &pki.path(&format!("{cert}.pem"))])
            .args(["-key", &pki.path(&format!("{cert}.key"))])
            .args(["-d", data, TLS_ADDR, method])
            .output()
            .expect("grpcurl")
    };
    let out = call(
        "admin",
        "netpilot.v1.ManagerService/UpdateManager",
        r#"{"offline_mode": false}"#,
    );
    assert!(
        out.status.success(),
        "admin through grpcurl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = call(
        "viewer",
        "netpilot.v1.ManagerService/UpdateManager",
        r#"{"offline_mode": true}"#,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("PermissionDenied"),
        "viewer through grpcurl: {err}"
    );
    let out = call("viewer", "netpilot.v1.ManagerService/GetManager", "{}");
    assert!(out.status.success(), "viewer reads through grpcurl");
}

#[tokio::test]
async fn sighup_reloads_the_certificates_and_keeps_streams_and_the_socket() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let pki_dir = tempfile::tempdir().expect("dir");
    let pki = TestPki::new(pki_dir.path());
    let config = format!("{}{}", access_config(), pki.tls_section(TLS_ADDR));
    let daemon = Daemon::start(&bed.host, &config, &[]).await;
    let ns = bed.host.name.clone();

    let admin = tcp_in(&ns, tls_addr(), Some(client_tls(&pki.ca, Some(&pki.admin))))
        .await
        .expect("admin");
    let (_, mut events) = common::watch(&mut ManagerServiceClient::new(admin)).await;

    // A new server certificate from a new CA; the same client certificate.
    let new_ca = netpilot::certs::new_ca("rotated CA", 2).expect("ca");
    let mut req = netpilot::certs::Request::new("netpilotd", netpilot::certs::Usage::Server, 2);
    req.dns.push("localhost".into());
    let new_server = netpilot::certs::issue(&new_ca, &req).expect("server");
    let trusts_new = || client_tls(&new_ca, Some(&pki.admin));
    let before = tcp_in(&ns, tls_addr(), Some(trusts_new())).await;
    let before = match before {
        Err(e) => Err(e.to_string()),
        Ok(ch) => ManagerServiceClient::new(ch)
            .get_manager(pb::GetManagerRequest {})
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
    };
    assert!(
        before.is_err(),
        "the new certificate is served before the reload"
    );

    // A broken key first: the old certificate stays.
    std::fs::write(pki.dir.join("server.key"), "not a key").expect("write");
    signal(daemon.pid(), libc::SIGHUP);
    wait_for_log(&daemon, "the previous certificates stay in use").await;
    let still = tcp_in(&ns, tls_addr(), Some(client_tls(&pki.ca, Some(&pki.admin))))
        .await
        .expect("old certificate still served");
    ManagerServiceClient::new(still)
        .get_manager(pb::GetManagerRequest {})
        .await
        .expect("old certificate still served");

    netpilot::certs::write(&pki.dir, "server", &new_server).expect("write");
    signal(daemon.pid(), libc::SIGHUP);
    wait_for_log(&daemon, "TLS certificates reloaded").await;
    let after = tcp_in(&ns, tls_addr(), Some(trusts_new()))
        .await
        .expect("connect after reload");
    ManagerServiceClient::new(after)
        .get_manager(pb::GetManagerRequest {})
        .await
        .expect("the reloaded certificate is served");

    // The stream opened before the reload still gets events, and the socket still serves.
    bed.host
        .ip(&["addr", "add", "198.18.8.2/24", "dev", "veth0"]);
    read_until(&mut events, "an event after the reload", |e| {
        matches!(
            &e.event,
            Some(pb::watch_manager_response::Event::InterfaceChanged(_))
        )
    })
    .await;
    daemon
        .manager()
        .await
        .get_manager(pb::GetManagerRequest {})
        .await
        .expect("the Unix socket still serves");
}

#[tokio::test]
async fn unix_socket_callers_get_the_role_the_config_maps() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    bed.host
        .ip(&["addr", "add", "198.18.9.2/24", "dev", "veth0"]);
    let daemon = Daemon::start(&bed.host, &access_config(), &[]).await;
    open_socket_dir(&daemon);
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&daemon.socket).expect("socket");
    assert_eq!(
        (meta.gid(), meta.mode() & 0o777),
        (SOCKET_GID, 0o660),
        "socket group and mode"
    );

    // Outside the socket's group the kernel refuses the connection.
    let outside = unix_as(&daemon.socket, &As::user(VIEWER_UID, VIEWER_UID)).await;
    assert!(outside.is_err(), "connected without the socket's group");

    let mut viewer = ManagerServiceClient::new(as_user(&daemon, VIEWER_UID).await);
    viewer
        .list_services(pb::ListServicesRequest {})
        .await
        .expect("viewer reads");
    let denied = viewer
        .update_manager(pb::UpdateManagerRequest {
            offline_mode: Some(true),
        })
        .await
        .expect_err("viewer changes");
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert!(
        denied.message().contains("needs role admin"),
        "{}",
        denied.message()
    );
    assert!(
        denied.message().contains(&format!("uid={VIEWER_UID}")),
        "{}",
        denied.message()
    );

    let unmapped = ManagerServiceClient::new(as_user(&daemon, UNMAPPED_UID).await)
        .list_services(pb::ListServicesRequest {})
        .await;
    assert_eq!(code(&unmapped), Code::PermissionDenied, "{unmapped:?}");

    // A supplementary group maps too (SO_PEERGROUPS).
    let robot = As {
        uid: UNMAPPED_UID,
        gid: UNMAPPED_UID,
        groups: vec![SOCKET_GID, ROBOT_GID],
    };
    let mut robot =
        SessionServiceClient::new(unix_as(&daemon.socket, &robot).await.expect("robot"));
    let mut robot_stream = robot
        .open_session(local_session(&["ethernet"]))
        .await
        .expect("a member of the robot group opens a session")
        .into_inner();
    first_update(&mut robot_stream).await;

    // Ownership: another user can neither see nor destroy a session; its owner and root can.
    let mut alice = SessionServiceClient::new(as_user(&daemon, USER_UID).await);
    let mut bob = SessionServiceClient::new(as_user(&daemon, OTHER_USER_UID).await);
    let mut stream = alice
        .open_session(local_session(&["ethernet"]))
        .await
        .expect("open")
        .into_inner();
    let (sid, _) = first_update(&mut stream).await;
    let (other_sid, _) = {
        let mut s = alice
            .open_session(local_session(&["*"]))
            .await
            .expect("open")
            .into_inner();
        let first = first_update(&mut s).await;
        std::mem::forget(s);
        first
    };
    let destroyed = bob
        .destroy_session(pb::DestroySessionRequest {
            session_id: sid.clone(),
        })
        .await;
    assert_eq!(code(&destroyed), Code::PermissionDenied, "{destroyed:?}");
    let changed = bob
        .change_session(pb::ChangeSessionRequest {
            session_id: sid.clone(),
            settings: Some(pb::SessionSettings {
                allowed_bearers: None,
                connection_type: pb::ConnectionType::Internet.into(),
                ..Default::default()
            }),
        })
        .await;
    assert_eq!(code(&changed), Code::PermissionDenied, "{changed:?}");
    let listed = |r: tonic::Response<pb::ListSessionsResponse>| {
        let mut ids: Vec<String> = r
            .into_inner()
            .sessions
            .into_iter()
            .map(|s| s.session_id)
            .collect();
        ids.sort();
        ids
    };
    assert!(
        listed(
            bob.list_sessions(pb::ListSessionsRequest {})
                .await
                .expect("bob lists")
        )
        .is_empty(),
        "bob sees none of alice's sessions"
    );
    let mut alices = vec![sid.clone(), other_sid.clone()];
    alices.sort();
    assert_eq!(
        listed(
            alice
                .list_sessions(pb::ListSessionsRequest {})
                .await
                .expect("alice lists")
        ),
        alices
    );
    let all = listed(
        daemon
            .sessions()
            .await
            .list_sessions(pb::ListSessionsRequest {})
            .await
            .expect("root lists"),
    );
    assert_eq!(all.len(), 3, "root sees every session: {all:?}");
    alice
        .destroy_session(pb::DestroySessionRequest {
            session_id: sid.clone(),
        })
        .await
        .expect("the owner destroys");
    read_until(&mut stream, "release", |m| {
        matches!(m.event, Some(pb::open_session_response::Event::Release(_)))
    })
    .await;
    daemon
        .sessions()
        .await
        .destroy_session(pb::DestroySessionRequest {
            session_id: other_sid,
        })
        .await
        .expect("root destroys anyone's");

    // The same through real programs run as the test users: setpriv + grpcurl, and the CLI.
    let grpcurl = common::tool("GRPCURL", "grpcurl");
    let socket = daemon.socket.display().to_string();
    let setpriv = |uid: u32, program: &str, args: &[&str]| {
        let uid_arg = format!("--reuid={uid}");
        let gid_arg = format!("--regid={uid}");
        let groups = format!("--groups={SOCKET_GID}");
        std::process::Command::new("setpriv")
            .args([uid_arg.as_str(), gid_arg.as_str(), groups.as_str(), program])
            .args(args)
            .output()
            .expect("setpriv")
    };
    let grpcurl_path = grpcurl.to_str().expect("path");
    let out = setpriv(
        VIEWER_UID,
        grpcurl_path,
        &[
            "-plaintext",
            "-unix",
            "-d",
            r#"{"offline_mode": true}"#,
            &socket,
            "netpilot.v1.ManagerService/UpdateManager",
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("PermissionDenied")
            && err.contains("needs role admin"),
        "viewer's grpcurl: {err}"
    );
    let out = setpriv(
        VIEWER_UID,
        grpcurl_path,
        &[
            "-plaintext",
            "-unix",
            &socket,
            "netpilot.v1.ManagerService/ListServices",
        ],
    );
    assert!(
        out.status.success(),
        "viewer's grpcurl reads: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli = env!("CARGO_BIN_EXE_netpilot");
    let out = setpriv(VIEWER_UID, cli, &["--socket", &socket, "offline", "on"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("admin"),
        "viewer's CLI: {err}"
    );
    let out = setpriv(USER_UID, cli, &["--socket", &socket, "services"]);
    assert!(
        out.status.success(),
        "user's CLI reads: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The setup access point: anyone with a role reads it, user may close it, only admin
    // opens it (its page lets anyone in radio range add a network).
    let out = setpriv(VIEWER_UID, cli, &["--socket", &socket, "setup", "status"]);
    assert!(
        out.status.success(),
        "viewer's setup status: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = setpriv(USER_UID, cli, &["--socket", &socket, "setup", "start"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("admin"),
        "user's setup start: {err}"
    );
    let out = setpriv(USER_UID, cli, &["--socket", &socket, "setup", "stop"]);
    assert!(
        out.status.success(),
        "user's setup stop: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manager = daemon
        .manager()
        .await
        .get_manager(pb::GetManagerRequest {})
        .await
        .expect("manager")
        .into_inner()
        .manager
        .expect("manager");
    assert!(
        !manager.offline_mode,
        "nothing the viewer tried took effect"
    );
}

/// Every RPC of the netpilot services, from the served descriptors: (path, client
/// streaming, server streaming).
fn netpilot_methods() -> Vec<String> {
    use prost::Message;
    let set = prost_types::FileDescriptorSet::decode(pb::FILE_DESCRIPTOR_SET).expect("descriptors");
    let mut out = Vec::new();
    for file in set.file {
        if file.package() != "netpilot.v1" {
            continue;
        }
        for service in &file.service {
            for method in &service.method {
                out.push(format!(
                    "/{}.{}/{}",
                    file.package(),
                    service.name(),
                    method.name()
                ));
            }
        }
    }
    out
}

/// Calls `path` with an empty message and returns the status (OK when a response came).
async fn raw_call(channel: Channel, path: &str) -> tonic::Status {
    let mut grpc = tonic::client::Grpc::new(channel);
    if let Err(e) = grpc.ready().await {
        return tonic::Status::unavailable(e.to_string());
    }
    let path = http::uri::PathAndQuery::try_from(path.to_string()).expect("path");
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    let call = grpc.unary(tonic::Request::new(()), path, codec);
    match tokio::time::timeout(Duration::from_secs(5), call).await {
        Ok(Ok(_)) => tonic::Status::ok(""),
        Ok(Err(s)) => s,
        Err(_) => tonic::Status::deadline_exceeded("no answer in 5 s"),
    }
}

#[tokio::test]
async fn a_viewer_is_refused_every_rpc_that_needs_more_than_viewer() {
    use netpilot::access::Role;
    use netpilot::api::auth::{need, Need};
    let bed = Testbed::new();
    let daemon = Daemon::start(&bed.host, &access_config(), &[]).await;
    open_socket_dir(&daemon);
    let viewer = as_user(&daemon, VIEWER_UID).await;
    let methods = netpilot_methods();
    assert!(
        methods.len() >= 25,
        "descriptors list the RPCs: {methods:?}"
    );
    let mut failures = Vec::new();
    let mut refused = 0;
    for path in &methods {
        let needs = need(path);
        let status = raw_call(viewer.clone(), path).await;
        match needs {
            None => failures.push(format!("{path}: no role declared")),
            Some(Need::Role(Role::User | Role::Admin)) => {
                let want = match needs {
                    Some(Need::Role(r)) => r.to_string(),
                    _ => unreachable!(),
                };
                if status.code() != Code::PermissionDenied
                    || !status.message().contains(&format!("needs role {want}"))
                {
                    failures.push(format!(
                        "{path}: {:?} {:?}",
                        status.code(),
                        status.message()
                    ));
                } else {
                    refused += 1;
                }
            }
            Some(_) => {
                if status.code() == Code::PermissionDenied {
                    failures.push(format!("{path}: a viewer method refused: {status:?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        refused >= 14,
        "only {refused} methods were checked as refused"
    );
}

/// The daemon's resident memory, kB.
fn rss_kb(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS")
}

fn p99(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[(samples.len() * 99 / 100).min(samples.len() - 1)]
}

/// Measures GetManager latency over `channel` until `stop` says so.
fn latency_probe(
    channel: Channel,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<Vec<Duration>> {
    tokio::spawn(async move {
        let mut client = ManagerServiceClient::new(channel);
        let mut samples = Vec::new();
        while !*stop.borrow() && samples.len() < 100_000 {
            let t = Instant::now();
            let r = client.get_manager(pb::GetManagerRequest {}).await;
            assert!(r.is_ok(), "a well-behaved client was refused: {r:?}");
            samples.push(t.elapsed());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        samples
    })
}

#[tokio::test]
async fn session_policy_files_filter_release_and_survive_a_broken_file() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    bed.veth("veth1", "peer1");
    for (addr, dev) in [("198.18.10.2/24", "veth0"), ("198.18.11.2/24", "veth1")] {
        bed.host.ip(&["addr", "add", addr, "dev", dev]);
    }
    let policy_dir = tempfile::tempdir().expect("dir");
    let policy = policy_dir.path().join("alice.toml");
    let write = |text: &str| {
        // As an editor would: a temp file renamed over the old one.
        let tmp = policy_dir.path().join(".alice.tmp");
        std::fs::write(&tmp, text).expect("write");
        std::fs::rename(&tmp, &policy).expect("rename");
    };
    write(&format!(
        "identity = [\"uid:{USER_UID}\"]\nallowed_bearers = [\"ethernet\"]\nconnection_types = [\"local\", \"any\"]\nmax_sessions = 3\n"
    ));
    let config = format!(
        "{}session_policies = \"{}\"\n",
        access_config(),
        policy_dir.path().display()
    );
    let daemon = Daemon::start(&bed.host, &config, &[]).await;
    open_socket_dir(&daemon);
    let mut alice = SessionServiceClient::new(as_user(&daemon, USER_UID).await);

    // Forbidden bearers only: refused. Mixed: the forbidden ones removed, order kept.
    let wifi_only = alice.open_session(local_session(&["wifi"])).await;
    let e = wifi_only.expect_err("wifi only");
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(e.message().contains("alice.toml"), "{}", e.message());
    let internet = alice
        .open_session(pb::OpenSessionRequest {
            settings: Some(pb::SessionSettings {
                allowed_bearers: None,
                connection_type: pb::ConnectionType::Internet.into(),
                ..Default::default()
            }),
        })
        .await;
    assert_eq!(code(&internet), Code::PermissionDenied, "{internet:?}");
    let mut mixed = alice
        .open_session(local_session(&["wifi", "ethernet", "cellular"]))
        .await
        .expect("mixed")
        .into_inner();
    let (_, u) = first_update(&mut mixed).await;
    assert_eq!(
        u.allowed_bearers.clone().map(|b| b.bearers),
        Some(vec!["ethernet".to_string()])
    );
    assert_eq!(u.state(), pb::SessionState::Connected);
    let mut eth = alice
        .open_session(local_session(&["ethernet"]))
        .await
        .expect("ethernet")
        .into_inner();
    let (_, first) = first_update(&mut eth).await;
    // The pin below names the link the session is not on now.
    let pin = if first.interface() == "veth0" {
        "veth1"
    } else {
        "veth0"
    };
    let mut any = alice
        .open_session(local_session(&["*"]))
        .await
        .expect("any")
        .into_inner();
    first_update(&mut any).await;
    let fourth = alice.open_session(local_session(&["ethernet"])).await;
    assert_eq!(code(&fourth), Code::ResourceExhausted, "max_sessions = 3");

    // The policy pins sessions to the other link: they move there.
    write(&format!(
        "identity = [\"uid:{USER_UID}\"]\nallowed_bearers = [\"wifi\", \"ethernet\"]\nallowed_interface = \"{pin}\"\nmax_sessions = 3\n"
    ));
    read_until(&mut eth, "the pin moves the session", |m| {
        matches!(&m.event, Some(pb::open_session_response::Event::Update(u)) if u.interface.as_deref() == Some(pin))
    })
    .await;
    // Ethernet goes: the ethernet-only session is released, the others narrow to wifi.
    write(&format!(
        "identity = [\"uid:{USER_UID}\"]\nallowed_bearers = [\"wifi\"]\n"
    ));
    let released = read_until(&mut eth, "release by policy", |m| {
        matches!(&m.event, Some(pb::open_session_response::Event::Release(_)))
    })
    .await;
    match &released.last().expect("release").event {
        Some(pb::open_session_response::Event::Release(r)) => assert_eq!(r.reason, "policy"),
        other => panic!("{other:?}"),
    }
    read_until(&mut any, "the * session narrows to wifi", |m| {
        matches!(&m.event, Some(pb::open_session_response::Event::Update(u))
            if u.allowed_bearers.as_ref().map(|b| b.bearers.clone()) == Some(vec!["wifi".to_string()]))
    })
    .await;

    // A broken file: rejected whole, logged with file and line, the previous policy kept.
    write(&format!(
        "identity = [\"uid:{USER_UID}\"]\n\nallowed_bearers = [\"ethernet\", \"wimax\"]\n"
    ));
    let log = wait_for_log(&daemon, "line 3").await;
    assert!(log.contains("alice.toml"), "the log names the file");
    let still = alice.open_session(local_session(&["ethernet"])).await;
    assert_eq!(
        code(&still),
        Code::PermissionDenied,
        "the previous policy (wifi only) is still in force"
    );
}

#[tokio::test]
async fn hostile_requests_get_invalid_argument_and_store_nothing() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let daemon = Daemon::start(
        &bed.host,
        "managed_interfaces = [\"veth0\"]\n[online_check]\nmode = \"off\"\n",
        &[],
    )
    .await;
    let mut manager = daemon.manager().await;
    let service = common::wait_service(&mut manager, "veth0", DEADLINE, |s| {
        s.ethernet.as_ref().map(|e| e.interface.as_str()) == Some("veth0")
    })
    .await;
    let state_before = state_files(daemon.dir.path());
    let big = "x".repeat(200_000);
    let mut sessions = daemon.sessions().await;

    let mut results: Vec<(&str, Result<(), tonic::Status>)> = Vec::new();
    results.push((
        "oversized service id",
        manager
            .get_service(pb::GetServiceRequest {
                service_id: big.clone(),
            })
            .await
            .map(|_| ()),
    ));
    results.push((
        "oversized interface name",
        manager
            .update_interface(pb::UpdateInterfaceRequest {
                name: big.clone(),
                ignored: Some(true),
            })
            .await
            .map(|_| ()),
    ));
    results.push((
        "oversized bearer",
        sessions
            .open_session(local_session(&[&big]))
            .await
            .map(|_| ()),
    ));
    results.push((
        "10,000 bearers",
        sessions
            .open_session(local_session(&vec!["ethernet"; 10_000]))
            .await
            .map(|_| ()),
    ));
    results.push((
        "10,000 nameservers",
        manager
            .update_service(pb::UpdateServiceRequest {
                service: Some(pb::Service {
                    id: service.id.clone(),
                    nameservers_config: vec!["198.18.0.53".into(); 10_000],
                    ..Default::default()
                }),
                update_mask: Some(pbjson_types::FieldMask {
                    paths: vec!["nameservers_config".into()],
                }),
            })
            .await
            .map(|_| ()),
    ));
    results.push((
        "oversized domain",
        manager
            .update_service(pb::UpdateServiceRequest {
                service: Some(pb::Service {
                    id: service.id.clone(),
                    domains_config: vec![big.clone()],
                    ..Default::default()
                }),
                update_mask: Some(pbjson_types::FieldMask {
                    paths: vec!["domains_config".into()],
                }),
            })
            .await
            .map(|_| ()),
    ));
    results.push((
        "unknown technology type",
        manager
            .scan_technology(pb::ScanTechnologyRequest { r#type: 99 })
            .await
            .map(|_| ()),
    ));
    results.push((
        "unknown connection type",
        sessions
            .open_session(pb::OpenSessionRequest {
                settings: Some(pb::SessionSettings {
                    allowed_bearers: None,
                    connection_type: 42,
                    ..Default::default()
                }),
            })
            .await
            .map(|_| ()),
    ));
    results.push((
        "unknown IPv4 method",
        manager
            .update_service(pb::UpdateServiceRequest {
                service: Some(pb::Service {
                    id: service.id.clone(),
                    ipv4_config: Some(pb::Ipv4Settings {
                        method: 77,
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                update_mask: Some(pbjson_types::FieldMask {
                    paths: vec!["ipv4_config".into()],
                }),
            })
            .await
            .map(|_| ()),
    ));
    results.push((
        "a connect timeout of 290 billion years",
        manager
            .connect_service(pb::ConnectServiceRequest {
                service_id: service.id.clone(),
                timeout: Some(pbjson_types::Duration {
                    seconds: i64::MAX,
                    nanos: 999_999_999,
                }),
                ..Default::default()
            })
            .await
            .map(|_| ()),
    ));
    // Raw bytes: invalid UTF-8 in a string field, a wrong wire type, a truncated field.
    let channel = daemon.channel().await;
    for (what, path, bytes) in [
        (
            "invalid UTF-8 in service_id",
            "/netpilot.v1.ManagerService/GetService",
            vec![0x0a, 0x03, 0xff, 0xfe, 0xfd],
        ),
        (
            "invalid UTF-8 in a bearer",
            "/netpilot.v1.SessionService/OpenSession",
            vec![0x0a, 0x07, 0x0a, 0x05, 0x0a, 0x03, 0xc3, 0x28, 0xa0],
        ),
        (
            "a varint where a string goes",
            "/netpilot.v1.ManagerService/GetService",
            vec![0x08, 0x01],
        ),
        (
            "a truncated field",
            "/netpilot.v1.ManagerService/UpdateManager",
            vec![0x0a, 0x40, 0x01],
        ),
    ] {
        results.push((what, raw_bytes_call(channel.clone(), path, bytes).await));
    }
    let mut failures = Vec::new();
    for (what, r) in &results {
        match r {
            Err(s) if s.code() == Code::InvalidArgument => {
                if s.message().len() > 600 {
                    failures.push(format!("{what}: a {} byte message", s.message().len()));
                }
            }
            other => failures.push(format!(
                "{what}: {:?}",
                other
                    .as_ref()
                    .map_err(|s| (s.code(), s.message().chars().take(200).collect::<String>()))
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "not INVALID_ARGUMENT:\n{}",
        failures.join("\n")
    );

    // A message past the size limit: refused, not INTERNAL, and the daemon goes on.
    let huge = manager
        .get_service(pb::GetServiceRequest {
            service_id: "y".repeat(2 << 20),
        })
        .await;
    let c = code(&huge);
    assert!(
        matches!(
            c,
            Code::ResourceExhausted | Code::OutOfRange | Code::InvalidArgument
        ),
        "2 MiB message: {c:?}"
    );

    // Nothing stored, nothing changed, still serving.
    let after = manager
        .get_service(pb::GetServiceRequest {
            service_id: service.id.clone(),
        })
        .await
        .expect("still serving")
        .into_inner()
        .service
        .expect("service");
    assert!(after.nameservers_config.is_empty() && after.domains_config.is_empty());
    assert_eq!(
        state_files(daemon.dir.path()),
        state_before,
        "the state dir changed"
    );
    let mut daemon = daemon;
    assert!(daemon.alive());
}

/// Files under the state dir with their contents.
fn state_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push((
                    p.display().to_string(),
                    std::fs::read(&p).unwrap_or_default(),
                ));
            }
        }
    }
    let mut out = Vec::new();
    walk(&dir.join("state"), &mut out);
    out.sort();
    out
}

/// A codec that sends bytes as they are.
#[derive(Default, Clone)]
struct RawCodec;

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }
    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl tonic::codec::Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = tonic::Status;
    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        use bytes::Buf;
        let mut v = vec![0; src.remaining()];
        src.copy_to_slice(&mut v);
        Ok(Some(v))
    }
}

async fn raw_bytes_call(channel: Channel, path: &str, bytes: Vec<u8>) -> Result<(), tonic::Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let path = http::uri::PathAndQuery::try_from(path.to_string()).expect("path");
    // A server-streaming method answers its error in the trailers of the stream.
    if path.path().ends_with("OpenSession") {
        let mut stream = grpc
            .server_streaming(tonic::Request::new(bytes), path, RawCodec)
            .await?
            .into_inner();
        stream.message().await?;
        return Ok(());
    }
    grpc.unary(tonic::Request::new(bytes), path, RawCodec)
        .await
        .map(|_| ())
}

#[tokio::test]
async fn ten_thousand_sessions_from_one_identity_are_capped_and_others_are_served() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let config = format!(
        "[api]\nsocket_group = \"{SOCKET_GID}\"\nmax_sessions_per_identity = 50\n[access]\nuser = [\"uid:{USER_UID}\"]\n"
    );
    let daemon = Daemon::start(&bed.host, &config, &[]).await;
    open_socket_dir(&daemon);
    let rss_before = rss_kb(daemon.pid());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let probe = latency_probe(daemon.channel().await, stop_rx);

    let channels: Vec<Channel> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(as_user(&daemon, USER_UID).await);
        }
        v
    };
    let started = Instant::now();
    let mut open_streams = Vec::new();
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..10_000usize {
        if tasks.len() >= 64 {
            let (c, s) = tasks.join_next().await.expect("task").expect("join");
            *counts.entry(c).or_default() += 1;
            open_streams.extend(s);
        }
        let mut client = SessionServiceClient::new(channels[i % channels.len()].clone());
        tasks.spawn(async move {
            match client.open_session(local_session(&["ethernet"])).await {
                Ok(s) => ("Ok".to_string(), Some(s.into_inner())),
                Err(e) => (format!("{:?}", e.code()), None),
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        let (c, s) = r.expect("join");
        *counts.entry(c).or_default() += 1;
        open_streams.extend(s);
    }
    let took = started.elapsed();
    let _ = stop_tx.send(true);
    let samples = probe.await.expect("probe");
    let rss_after = rss_kb(daemon.pid());
    eprintln!(
        "10,000 OpenSession from one identity in {took:?}: {counts:?}; another client's GetManager p99 {:?} over {} calls; RSS {rss_before} kB -> {rss_after} kB",
        p99(samples.clone()),
        samples.len()
    );
    assert_eq!(counts.get("Ok"), Some(&50), "{counts:?}");
    assert_eq!(counts.get("ResourceExhausted"), Some(&9_950), "{counts:?}");
    assert!(
        rss_after < rss_before + 100 * 1024,
        "RSS grew from {rss_before} kB to {rss_after} kB"
    );
    let listed = daemon
        .sessions()
        .await
        .list_sessions(pb::ListSessionsRequest {})
        .await
        .expect("list")
        .into_inner()
        .sessions;
    assert_eq!(listed.len(), 50);
    drop(open_streams);
    let mut sessions = daemon.sessions().await;
    eventually("the dropped streams' sessions close", || {
        let mut s = sessions.clone();
        async move {
            s.list_sessions(pb::ListSessionsRequest {})
                .await
                .map(|r| r.into_inner().sessions.is_empty())
                .unwrap_or(false)
        }
    })
    .await;
    let _ = &mut sessions;
}

#[tokio::test]
async fn expensive_calls_are_rate_limited_per_identity() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let config = format!(
        "[api]\nsocket_group = \"{SOCKET_GID}\"\nexpensive_calls_per_minute = 6\nexpensive_calls_burst = 3\n[access]\nuser = [\"uid:{USER_UID}\"]\n"
    );
    let daemon = Daemon::start(&bed.host, &config, &[]).await;
    open_socket_dir(&daemon);
    let mut user = ManagerServiceClient::new(as_user(&daemon, USER_UID).await);
    let mut codes = Vec::new();
    for _ in 0..6 {
        let r = user
            .scan_technology(pb::ScanTechnologyRequest {
                r#type: pb::TechnologyType::Ethernet.into(),
            })
            .await;
        if let Err(s) = &r {
            if s.code() == Code::ResourceExhausted {
                let retry = s.get_details_retry_info().and_then(|r| r.retry_delay);
                assert!(retry.is_some(), "RetryInfo says when: {s:?}");
            }
        }
        codes.push(code(&r));
    }
    let limited = codes
        .iter()
        .filter(|c| **c == Code::ResourceExhausted)
        .count();
    assert_eq!(limited, 3, "a burst of 3, then refused: {codes:?}");
    // Root is another identity with its own bucket.
    let root = daemon
        .manager()
        .await
        .scan_technology(pb::ScanTechnologyRequest {
            r#type: pb::TechnologyType::Ethernet.into(),
        })
        .await;
    assert_ne!(code(&root), Code::ResourceExhausted);
}

#[tokio::test]
async fn a_client_that_never_reads_costs_bounded_memory_and_is_closed() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    bed.host
        .ip(&["addr", "add", "198.18.12.2/24", "dev", "veth0"]);
    let config = format!(
        "[api]\nsocket_group = \"{SOCKET_GID}\"\nstuck_stream_timeout = 3\nmax_sessions_per_identity = 300\nmax_streams_per_connection = 300\n[access]\nuser = [\"uid:{USER_UID}\"]\n"
    );
    let daemon = Daemon::start(&bed.host, &config, &[]).await;
    open_socket_dir(&daemon);
    let streams = 200;
    let rss_before = rss_kb(daemon.pid());

    // A raw HTTP/2 client: huge windows, opens 200 session streams, then never reads.
    let sock = common::access::connect_unix_as(&daemon.socket, &who(USER_UID)).expect("connect");
    sock.set_nonblocking(true).expect("nonblocking");
    let sock = tokio::net::UnixStream::from_std(sock).expect("tokio");
    let (reading, io) = common::access::StopReading::new(sock);
    let (mut h2, conn) = h2::client::Builder::new()
        .initial_window_size(i32::MAX as u32)
        .initial_connection_window_size(i32::MAX as u32)
        .max_concurrent_streams(1000)
        .handshake::<_, bytes::Bytes>(io)
        .await
        .expect("h2 handshake");
    let conn_task = tokio::spawn(conn);
    let mut responses = Vec::new();
    for _ in 0..streams {
        h2 = h2.ready().await.expect("ready");
        let req = http::Request::post("http://localhost/netpilot.v1.SessionService/OpenSession")
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(())
            .expect("request");
        let (response, mut send) = h2.send_request(req, false).expect("send");
        // OpenSessionRequest{} framed: no compression, length 0.
        send.send_data(bytes::Bytes::from_static(&[0, 0, 0, 0, 0]), true)
            .expect("data");
        responses.push(response);
    }
    let mut root = daemon.sessions().await;
    let ids: Vec<String> = {
        let start = Instant::now();
        loop {
            let listed = root
                .list_sessions(pb::ListSessionsRequest {})
                .await
                .expect("list")
                .into_inner()
                .sessions;
            if listed.len() == streams {
                break listed.into_iter().map(|s| s.session_id).collect();
            }
            assert!(start.elapsed() < DEADLINE, "{} sessions open", listed.len());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    reading.stop();

    // Another client changes the sessions over and over: every change is an update of
    // about 300 bytes (a long bearer list) for the client that does not read. Meanwhile a
    // third client measures its latency.
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let probe = latency_probe(daemon.channel().await, stop_rx);
    let mut peak = rss_before;
    let mut changes = 0u32;
    let lists = [
        vec!["ethernet".to_string(); 32],
        vec!["wifi".to_string(); 32],
    ];
    'rounds: for round in 0..150 {
        let mut calls = tokio::task::JoinSet::new();
        for id in &ids {
            let mut root = root.clone();
            let request = pb::ChangeSessionRequest {
                session_id: id.clone(),
                settings: Some(pb::SessionSettings {
                    allowed_bearers: Some(pb::BearerList {
                        bearers: lists[round % 2].clone(),
                    }),
                    connection_type: 0,
                    ..Default::default()
                }),
            };
            calls.spawn(async move { root.change_session(request).await });
        }
        let mut gone = false;
        while let Some(r) = calls.join_next().await {
            match r.expect("join") {
                Ok(_) => changes += 1,
                Err(s) if s.code() == Code::NotFound => gone = true,
                Err(s) => panic!("change session: {s:?}"),
            }
        }
        peak = peak.max(rss_kb(daemon.pid()));
        if gone {
            break 'rounds;
        }
    }
    let log = wait_for_log(&daemon, "stream stuck").await;
    let _ = stop_tx.send(true);
    let samples = probe.await.expect("probe");
    peak = peak.max(rss_kb(daemon.pid()));
    eprintln!(
        "{streams} never-read session streams, {changes} updates for them: daemon RSS {rss_before} kB -> peak {peak} kB; another client's GetManager p99 {:?} over {} calls",
        p99(samples.clone()),
        samples.len()
    );
    let line = log
        .lines()
        .find(|l| l.contains("stream stuck"))
        .expect("log line");
    assert!(
        line.contains(&format!("uid={USER_UID}")),
        "the log line names the client: {line}"
    );
    // About 2.8 MB per stream before (560 MB for 200); now the HTTP/2 buffer per stream is
    // 16 KiB plus one message.
    assert!(
        peak < rss_before + 64 * 1024,
        "daemon RSS grew from {rss_before} kB to {peak} kB for {streams} stuck streams"
    );
    eventually("the stuck client's sessions are gone", || {
        let mut root = root.clone();
        async move {
            root.list_sessions(pb::ListSessionsRequest {})
                .await
                .map(|r| r.into_inner().sessions.is_empty())
                .unwrap_or(false)
        }
    })
    .await;
    // The client's reads are stopped for good: its connection task never ends by itself.
    conn_task.abort();
    drop(responses);
}

/// Sends a signal to the daemon.
fn signal(pid: i32, sig: i32) {
    // SAFETY: kill with the PID of a child the harness spawned.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
}

/// The secrets of the scenario below, as the test knows them.
const SECRETS: &[&str] = &[
    "Wrong-S3cret-Password!",
    "S3cret-Password-n8q2",
    "np-secret-identity",
    "S3cret-Passphrase-z1",
    "S3cret-Key-Passphrase",
];

/// Wired IEEE 802.1X (PEAP/MSCHAPv2) end to end: hostapd -Dwired with its EAP server on the
/// peer, netpilotd driving its own wpa_supplicant, the identity and password from the agent,
/// then a wrong password (and every other secret field) in ConnectService. The daemon runs at trace level; neither its log nor any API
/// response (lists, streams, errors, the agent's requests) carries a secret.
#[tokio::test]
async fn secrets_never_reach_a_log_or_an_api_response() {
    let [wrong, right, identity, passphrase, key_passphrase] = [0, 1, 2, 3, 4].map(|i| SECRETS[i]);
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let dir = tempfile::tempdir().expect("dir");
    let pki = common::pki::make_pki(dir.path());
    let users = dir.path().join("eap_user");
    std::fs::write(
        &users,
        format!("* PEAP\n\"{identity}\" MSCHAPV2 \"{right}\" [2]\n"),
    )
    .expect("eap_user");
    let hostapd_conf = dir.path().join("hostapd.conf");
    std::fs::write(
        &hostapd_conf,
        format!(
            "interface=peer0\ndriver=wired\nieee8021x=1\neap_server=1\nuse_pae_group_addr=1\n\
             eap_user_file={}\nca_cert={}\nserver_cert={}\nprivate_key={}\n",
            users.display(),
            pki.ca,
            pki.server_cert,
            pki.server_key
        ),
    )
    .expect("hostapd.conf");
    let _hostapd = common::Peer::start(
        &bed.peer,
        "hostapd",
        "hostapd",
        &[&hostapd_conf.display().to_string()],
        &dir.path().join("hostapd.log"),
    );
    let ctrl = dir.path().join("wpa");
    let config = format!(
        "managed_interfaces = [\"veth0\"]\n[online_check]\nmode = \"off\"\n\
         [ieee8021x]\ninterfaces = [\"veth0\"]\n\
         [wifi]\nspawn_supplicant = true\nctrl_dir = \"{}\"\nmax_auth_attempts = 1\n",
        ctrl.display()
    );
    let daemon = Daemon::start(&bed.host, &config, &["--log-level", "trace"]).await;
    let mut seen: Vec<String> = Vec::new();
    let mut manager = daemon.manager().await;
    let (snapshot, mut events) = common::watch(&mut manager).await;
    seen.push(format!("{snapshot:?}"));
    let service = common::wait_service(&mut manager, "the 802.1X port", DEADLINE, |s| {
        s.ethernet.as_ref().map(|e| e.interface.as_str()) == Some("veth0")
            && s.security.contains(&(pb::Security::Ieee8021x as i32))
    })
    .await;
    let id = service.id.clone();
    // A connect before netpilotd's wpa_supplicant answers fails at once (connect-failed).
    wait_for_log(&daemon, "wpa_supplicant available device=veth0").await;
    let updated = manager
        .update_service(pb::UpdateServiceRequest {
            service: Some(pb::Service {
                id: id.clone(),
                ipv4_config: Some(pb::Ipv4Settings {
                    method: pb::Ipv4Method::Manual.into(),
                    address: "198.18.14.2".into(),
                    prefix_length: 24,
                    gateway: String::new(),
                }),
                eap_config: Some(pb::EapSettings {
                    method: pb::EapMethod::Peap.into(),
                    phase2: pb::EapPhase2::Mschapv2.into(),
                    ca_cert: pki.ca.clone(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            update_mask: Some(pbjson_types::FieldMask {
                paths: vec!["ipv4_config".into(), "eap_config".into()],
            }),
        })
        .await
        .expect("802.1X settings");
    seen.push(format!("{updated:?}"));

    // The agent gives the right password when asked.
    let (agent_tx, agent_rx) = tokio::sync::mpsc::channel(4);
    agent_tx
        .send(pb::RegisterAgentRequest {
            message: Some(pb::register_agent_request::Message::Registration(
                pb::AgentRegistration {
                    name: "secrets-test".into(),
                },
            )),
        })
        .await
        .expect("register");
    let mut agent = pb::agent_service_client::AgentServiceClient::new(daemon.channel().await)
        .register_agent(tokio_stream::wrappers::ReceiverStream::new(agent_rx))
        .await
        .expect("agent")
        .into_inner();
    let registered = agent.message().await.expect("agent").expect("registered");
    seen.push(format!("{registered:?}"));
    let connect = {
        let mut manager = manager.clone();
        let id = id.clone();
        tokio::spawn(async move {
            manager
                .connect_service(pb::ConnectServiceRequest {
                    service_id: id,
                    timeout: Some(pbjson_types::Duration {
                        seconds: 20,
                        nanos: 0,
                    }),
                    credentials: None,
                })
                .await
        })
    };
    let request = read_until(&mut agent, "an input request", |m| {
        matches!(
            m.message,
            Some(pb::register_agent_response::Message::Request(_))
        )
    })
    .await;
    seen.extend(request.iter().map(|m| format!("{m:?}")));
    let Some(pb::register_agent_response::Message::Request(r)) =
        &request.last().expect("request").message
    else {
        unreachable!()
    };
    let mut values = std::collections::HashMap::new();
    values.insert("Password".to_string(), right.to_string());
    values.insert("Identity".to_string(), identity.to_string());
    agent_tx
        .send(pb::RegisterAgentRequest {
            message: Some(pb::register_agent_request::Message::Reply(pb::InputReply {
                request_id: r.request_id,
                values,
                canceled: false,
            })),
        })
        .await
        .expect("answer");
    let connected = connect
        .await
        .expect("join")
        .expect("connected with the agent's password");
    seen.push(format!("{connected:?}"));
    let connected = connected.into_inner().service.expect("service");
    assert_eq!(connected.state(), pb::ServiceState::Ready);
    assert!(connected.identity_set && connected.password_set);

    // Everything the API shows now.
    seen.push(format!(
        "{:?}",
        manager
            .list_services(pb::ListServicesRequest {})
            .await
            .expect("list")
    ));
    seen.push(format!(
        "{:?}",
        manager
            .get_service(pb::GetServiceRequest {
                service_id: id.clone()
            })
            .await
            .expect("get")
    ));
    seen.push(format!(
        "{:?}",
        daemon
            .sessions()
            .await
            .list_sessions(pb::ListSessionsRequest {})
            .await
            .expect("sessions")
    ));
    drop(agent_tx);
    manager
        .disconnect_service(pb::DisconnectServiceRequest {
            service_id: id.clone(),
        })
        .await
        .expect("disconnect");
    // They are stored, for the next connect, in files only root may read. The store writes
    // on its own task after the service is ready, so the file may come a little later.
    use std::os::unix::fs::PermissionsExt;
    let holding_password = || {
        state_files(daemon.dir.path())
            .into_iter()
            .filter(|(_, contents)| String::from_utf8_lossy(contents).contains(right))
            .map(|(path, _)| path)
            .collect::<Vec<_>>()
    };
    eventually(
        "the agent's password is stored for the next connect",
        || {
            let stored = !holding_password().is_empty();
            async move { stored }
        },
    )
    .await;
    for path in holding_password() {
        let mode = std::fs::metadata(&path).expect("file").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{path}");
    }

    // Then a wrong password with every other secret field set too. (How it fails is
    // tests/ieee8021x.rs's business; what matters here is where the values go.)
    let outcome = manager
        .connect_service(pb::ConnectServiceRequest {
            service_id: id.clone(),
            timeout: Some(pbjson_types::Duration {
                seconds: 10,
                nanos: 0,
            }),
            credentials: Some(pb::Credentials {
                identity: identity.into(),
                password: wrong.into(),
                passphrase: passphrase.into(),
                private_key_passphrase: key_passphrase.into(),
                ssid: String::new(),
            }),
        })
        .await;
    match outcome {
        Ok(r) => seen.push(format!("{r:?}")),
        Err(e) => seen.push(format!("{e:?} {:?}", e.get_error_details())),
    }
    let mut watched = Vec::new();
    while let Ok(Ok(Some(m))) =
        tokio::time::timeout(Duration::from_millis(500), events.message()).await
    {
        watched.push(format!("{m:?}"));
    }
    assert!(!watched.is_empty(), "WatchManager saw the scenario");
    seen.extend(watched);
    while let Ok(Ok(Some(m))) =
        tokio::time::timeout(Duration::from_millis(100), agent.message()).await
    {
        seen.push(format!("{m:?}"));
    }

    let log = daemon.log();
    assert!(log.contains("TRACE"), "the daemon logged at trace level");
    let hex = |s: &str| s.bytes().map(|b| format!("{b:02x}")).collect::<String>();
    let responses = seen.join("\n");
    for secret in SECRETS {
        for (form, text) in [("as is", secret.to_string()), ("hex", hex(secret))] {
            assert!(
                !log.contains(&text),
                "the log has a secret ({form}): {secret}"
            );
            assert!(
                !responses.contains(&text),
                "an API response has a secret ({form}): {secret}"
            );
        }
    }
}
