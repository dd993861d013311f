//! grpcurl against the running daemon, through server reflection (v1 and v1alpha), over
//! loopback TCP inside the test namespace and over the Unix socket.

mod common;

use common::{tool, Daemon, Testbed};

const SERVICES: &[&str] = &[
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
    "netpilot.v1.AgentService",
    "netpilot.v1.ManagerService",
    "netpilot.v1.SessionService",
    "netpilot.v1.SetupService",
];

#[tokio::test]
async fn grpcurl_lists_describes_and_calls_through_reflection() {
    let grpcurl = tool("GRPCURL", "grpcurl");
    let grpcurl = grpcurl.to_str().expect("utf-8 path");
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    bed.host
        .ip(&["addr", "add", "198.18.1.2/24", "dev", "veth0"]);
    let daemon = Daemon::start(
        &bed.host,
        "[api]\ninsecure_loopback = true\n[access]\nviewer = [\"loopback\"]\n",
        &["--listen", "127.0.0.1:50051"],
    )
    .await;
    // grpcurl [FLAGS] ADDRESS [METHOD], run inside the daemon's namespace.
    let tcp = |flags: &[&str], method: &[&str]| {
        let mut args = vec!["-plaintext", "-max-time", "10"];
        args.extend_from_slice(flags);
        args.push("127.0.0.1:50051");
        args.extend_from_slice(method);
        bed.host.exec(grpcurl, &args)
    };

    let listed: Vec<String> = tcp(&[], &["list"]).lines().map(str::to_string).collect();
    assert_eq!(listed, SERVICES, "grpcurl list over TCP");

    let described = tcp(&[], &["describe", "netpilot.v1.ManagerService"]);
    for rpc in [
        "GetManager",
        "WatchManager",
        "ListServices",
        "MoveService",
        "UpdateInterface",
    ] {
        assert!(
            described.contains(&format!("rpc {rpc}")),
            "describe lacks {rpc}:\n{described}"
        );
    }

    let manager: serde_json::Value =
        serde_json::from_str(&tcp(&[], &["netpilot.v1.ManagerService/GetManager"])).expect("JSON");
    assert_eq!(
        manager["manager"]["state"], "MANAGER_STATE_READY",
        "{manager}"
    );

    // The v1alpha reflection service answers too (evans and Postman speak only v1alpha).
    let reply = tcp(
        &["-d", r#"{"list_services": ""}"#],
        &["grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"],
    );
    assert!(
        reply.contains("netpilot.v1.SessionService"),
        "v1alpha reflection:\n{reply}"
    );

    // Health over the Unix socket, from outside the namespace.
    let socket = daemon.socket.display().to_string();
    let health = common::run(
        grpcurl,
        &[
            "-plaintext",
            "-unix",
            &socket,
            "grpc.health.v1.Health/Check",
        ],
    );
    assert!(health.contains("SERVING"), "{health}");
    let listed = common::run(grpcurl, &["-plaintext", "-unix", &socket, "list"]);
    assert_eq!(
        listed.lines().collect::<Vec<_>>(),
        SERVICES,
        "grpcurl list over the Unix socket"
    );
}
