//! netpilotd observing real links in a network namespace: snapshot, service order, state
//! changes, L4 events, ignore, link removal.

mod common;

use common::{read_until, watch, Daemon, Testbed};
use netpilot::pb;
use pb::watch_manager_response::Event;

fn state_change(e: &pb::WatchManagerResponse) -> Option<(&str, pb::ServiceState)> {
    match &e.event {
        Some(Event::ServiceStateChanged(c)) => Some((c.service_id.as_str(), c.state())),
        _ => None,
    }
}

fn l4_events(events: &[pb::WatchManagerResponse]) -> Vec<(pb::AddressFamily, bool, String)> {
    events
        .iter()
        .filter_map(|e| match &e.event {
            Some(Event::ConnectivityChanged(c)) => {
                Some((c.family(), c.connected, c.interface.clone()))
            }
            _ => None,
        })
        .collect()
}

fn last_order(events: &[pb::WatchManagerResponse]) -> Vec<String> {
    events
        .iter()
        .rev()
        .find_map(|e| match &e.event {
            Some(Event::ServicesChanged(c)) => Some(c.order.clone()),
            _ => None,
        })
        .expect("a ServicesChanged event")
}

/// Reads events up to the next IPv4 L4 event (the last of an L4 batch: any, then IPv4).
async fn until_ipv4_l4(
    events: &mut tonic::Streaming<pb::WatchManagerResponse>,
    what: &str,
) -> Vec<pb::WatchManagerResponse> {
    read_until(events, what, |e| {
        matches!(&e.event, Some(Event::ConnectivityChanged(c)) if c.family() == pb::AddressFamily::Ipv4)
    })
    .await
}

fn l4(
    family: pb::AddressFamily,
    connected: bool,
    ifname: &str,
) -> (pb::AddressFamily, bool, String) {
    (family, connected, ifname.to_string())
}

#[tokio::test]
async fn watch_reports_snapshot_order_states_and_l4_events() {
    use pb::AddressFamily::{Any, Ipv4};
    use pb::ServiceState::{Configuration, Idle, Ready};
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    bed.veth("veth1", "peer1");
    let (svc0, svc1) = (bed.service_id("veth0"), bed.service_id("veth1"));
    let daemon = Daemon::start(&bed.host, "", &[]).await;
    let mut manager = daemon.manager().await;

    let (snapshot, mut events) = watch(&mut manager).await;
    let mut ids: Vec<_> = snapshot.services.iter().map(|s| s.id.clone()).collect();
    ids.sort();
    let mut want = vec![svc0.clone(), svc1.clone()];
    want.sort();
    assert_eq!(
        ids, want,
        "one ethernet service per veth, loopback excluded"
    );
    assert!(
        snapshot.services.iter().all(|s| s.state() == Configuration),
        "carrier, no address: {snapshot:?}"
    );
    assert_eq!(
        snapshot.manager.as_ref().map(|m| m.state()),
        Some(pb::ManagerState::Idle)
    );
    assert_eq!(snapshot.technologies.len(), 1);
    let veth0 = snapshot
        .interfaces
        .iter()
        .find(|i| i.name == "veth0")
        .expect("veth0 listed");
    assert!(veth0.admin_up && veth0.oper_up && !veth0.ready && veth0.service_id == svc0);

    // First address: veth0 ready, first in order, L4 connected naming veth0.
    bed.host
        .ip(&["addr", "add", "198.18.1.2/24", "dev", "veth0"]);
    let seen = read_until(&mut events, "veth0 ready", |e| {
        state_change(e) == Some((&svc0, Ready))
    })
    .await;
    let seen = [seen, until_ipv4_l4(&mut events, "L4 ipv4 connected").await].concat();
    assert_eq!(
        l4_events(&seen),
        vec![l4(Any, true, "veth0"), l4(Ipv4, true, "veth0")]
    );
    assert_eq!(last_order(&seen), vec![svc0.clone(), svc1.clone()]);
    let service = manager
        .get_service(pb::GetServiceRequest {
            service_id: svc0.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    let ipv4 = service.service.and_then(|s| s.ipv4).expect("ipv4");
    assert_eq!(
        (ipv4.address.as_str(), ipv4.prefix_length),
        ("198.18.1.2", 24)
    );

    // Second interface ready: silent for L4; connected-first keeps veth0 first.
    bed.host
        .ip(&["addr", "add", "198.18.2.2/24", "dev", "veth1"]);
    let seen = read_until(&mut events, "veth1 ready", |e| {
        state_change(e) == Some((&svc1, Ready))
    })
    .await;
    // Carrier loss on veth0: veth1 moves first, still silent for L4 (veth1 stays ready).
    bed.carrier("peer0", false);
    let seen = [
        seen,
        read_until(&mut events, "veth0 idle", |e| {
            state_change(e) == Some((&svc0, Idle))
        })
        .await,
    ]
    .concat();
    assert_eq!(
        l4_events(&seen),
        vec![],
        "one of two ready interfaces changing is silent"
    );
    assert_eq!(last_order(&seen), vec![svc1.clone(), svc0.clone()]);

    // Last ready interface loses its address: L4 disconnected naming veth1.
    bed.host
        .ip(&["addr", "del", "198.18.2.2/24", "dev", "veth1"]);
    let seen = read_until(&mut events, "veth1 configuration", |e| {
        state_change(e) == Some((&svc1, Configuration))
    })
    .await;
    let seen = [
        seen,
        until_ipv4_l4(&mut events, "L4 ipv4 disconnected").await,
    ]
    .concat();
    assert_eq!(
        l4_events(&seen),
        vec![l4(Any, false, "veth1"), l4(Ipv4, false, "veth1")]
    );

    // Carrier back on veth0 (its address stayed): ready again, L4 connected naming veth0.
    bed.carrier("peer0", true);
    let seen = read_until(&mut events, "veth0 ready again", |e| {
        state_change(e) == Some((&svc0, Ready))
    })
    .await;
    let seen = [seen, until_ipv4_l4(&mut events, "L4 ipv4 connected").await].concat();
    assert_eq!(
        l4_events(&seen),
        vec![l4(Any, true, "veth0"), l4(Ipv4, true, "veth0")]
    );

    // Ignoring the only ready interface: service gone, L4 disconnected naming it.
    let updated = manager
        .update_interface(pb::UpdateInterfaceRequest {
            name: "veth0".into(),
            ignored: Some(true),
        })
        .await
        .expect("ignore")
        .into_inner();
    assert!(updated.interface.expect("interface").ignored);
    let seen = until_ipv4_l4(&mut events, "L4 ipv4 disconnected").await;
    assert_eq!(
        l4_events(&seen),
        vec![l4(Any, false, "veth0"), l4(Ipv4, false, "veth0")]
    );
    let removed: Vec<_> = seen
        .iter()
        .filter_map(|e| match &e.event {
            Some(Event::ServicesChanged(c)) => Some(c.removed.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(removed, vec![svc0.clone()]);

    // Link removed: its service and interface go away.
    bed.host.ip(&["link", "del", "veth1"]);
    let seen = read_until(
        &mut events,
        "veth1 removed",
        |e| matches!(&e.event, Some(Event::InterfaceRemoved(r)) if r.name == "veth1"),
    )
    .await;
    assert!(seen.iter().any(|e| matches!(&e.event, Some(Event::ServicesChanged(c)) if c.removed == vec![svc1.clone()])), "{seen:?}");
    let services = manager
        .list_services(pb::ListServicesRequest {})
        .await
        .expect("list")
        .into_inner()
        .services;
    assert!(services.is_empty(), "{services:?}");
}

#[tokio::test]
async fn move_service_reorders_and_unknown_ids_are_not_found() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    bed.veth("veth1", "peer1");
    bed.host
        .ip(&["addr", "add", "198.18.1.2/24", "dev", "veth0"]);
    bed.host
        .ip(&["addr", "add", "198.18.2.2/24", "dev", "veth1"]);
    let (svc0, svc1) = (bed.service_id("veth0"), bed.service_id("veth1"));
    let daemon = Daemon::start(&bed.host, "", &[]).await;
    let mut manager = daemon.manager().await;
    let order = |services: Vec<pb::Service>| services.into_iter().map(|s| s.id).collect::<Vec<_>>();
    let first = order(
        manager
            .list_services(pb::ListServicesRequest {})
            .await
            .expect("list")
            .into_inner()
            .services,
    );
    let (a, b) = (first[0].clone(), first[1].clone());
    assert!(first.contains(&svc0) && first.contains(&svc1));

    let moved = manager
        .move_service(pb::MoveServiceRequest {
            service_id: b.clone(),
            target: Some(pb::move_service_request::Target::Before(a.clone())),
        })
        .await
        .expect("move")
        .into_inner();
    assert_eq!(order(moved.services), vec![b.clone(), a.clone()]);
    let listed = order(
        manager
            .list_services(pb::ListServicesRequest {})
            .await
            .expect("list")
            .into_inner()
            .services,
    );
    assert_eq!(listed, vec![b.clone(), a.clone()]);

    let err = manager
        .move_service(pb::MoveServiceRequest {
            service_id: "ethernet_000000000000_cable".into(),
            target: Some(pb::move_service_request::Target::After(a.clone())),
        })
        .await
        .expect_err("unknown service");
    assert_eq!(err.code(), tonic::Code::NotFound);

    // Unmanaged (observed) links cannot be connected: a clean FAILED_PRECONDITION that says
    // what to change.
    let err = manager
        .connect_service(pb::ConnectServiceRequest {
            service_id: a.clone(),
            ..Default::default()
        })
        .await
        .expect_err("observed links are immutable");
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert!(
        err.message().contains("managed_interfaces"),
        "{}",
        err.message()
    );
    let err = manager
        .get_technology(pb::GetTechnologyRequest {
            r#type: pb::TechnologyType::Wifi.into(),
        })
        .await
        .expect_err("no radio is managed");
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert!(
        err.message().contains("managed_interfaces"),
        "{}",
        err.message()
    );
    let err = manager
        .get_technology(pb::GetTechnologyRequest {
            r#type: pb::TechnologyType::Bluetooth.into(),
        })
        .await
        .expect_err("no bluetooth backend");
    assert_eq!(err.code(), tonic::Code::Unimplemented);
}

#[tokio::test]
async fn only_real_ethernet_links_get_a_service_even_when_all_are_managed() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    // Virtual netdevs that are ARPHRD_ETHER like a NIC: the kernel's device type (a bridge's
    // DEVTYPE) or the virtual kind (macvlan, tap) says what they are. This kernel has no
    // dummy, VLAN or bond support; the classification table test covers DEVTYPE vlan, bond,
    // bluetooth (bnep) and wwan.
    bed.host.ip(&["link", "add", "br0", "type", "bridge"]);
    bed.host.ip(&[
        "link", "add", "mv0", "link", "veth0", "type", "macvlan", "mode", "bridge",
    ]);
    bed.host.ip(&["tuntap", "add", "tap0", "mode", "tap"]);
    for link in ["br0", "mv0", "tap0"] {
        bed.host.ip(&["link", "set", link, "up"]);
    }
    let daemon = Daemon::start(&bed.host, "managed_interfaces = [\"*\"]", &[]).await;
    let mut manager = daemon.manager().await;
    let (snapshot, _) = watch(&mut manager).await;
    let mut kinds: Vec<(String, String, bool)> = snapshot
        .interfaces
        .iter()
        .map(|i| (i.name.clone(), i.kind.clone(), !i.service_id.is_empty()))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        vec![
            ("br0".into(), "bridge".into(), false),
            ("lo".into(), "loopback".into(), false),
            ("mv0".into(), "other".into(), false),
            ("tap0".into(), "other".into(), false),
            ("veth0".into(), "ethernet".into(), true),
        ]
    );
    let ids: Vec<_> = snapshot.services.iter().map(|s| s.id.clone()).collect();
    assert_eq!(ids, vec![bed.service_id("veth0")]);
    let log = common::wait_for_log(&daemon, "interface=veth0").await;
    for link in ["br0", "mv0", "tap0"] {
        assert!(
            !log.contains(&format!("interface={link}")),
            "nothing is started on {link}:\n{log}"
        );
    }
}

#[tokio::test]
async fn a_deprecated_ipv6_address_does_not_make_an_interface_ready() {
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    bed.host.ip(&[
        "-6",
        "addr",
        "add",
        "2001:db8:7::5/64",
        "dev",
        "veth0",
        "nodad",
        "preferred_lft",
        "0",
    ]);
    let daemon = Daemon::start(&bed.host, "", &[]).await;
    let mut manager = daemon.manager().await;
    let (snapshot, mut events) = watch(&mut manager).await;
    let veth0 = snapshot
        .interfaces
        .iter()
        .find(|i| i.name == "veth0")
        .expect("veth0");
    assert!(
        veth0.addresses.iter().any(|a| a.address == "2001:db8:7::5"),
        "{veth0:?}"
    );
    assert!(!veth0.ready_ipv6, "deprecated: not ready");
    // A usable address next to it makes it ready: the rule, not the link, kept it out.
    bed.host.ip(&[
        "-6",
        "addr",
        "add",
        "2001:db8:7::6/64",
        "dev",
        "veth0",
        "nodad",
    ]);
    read_until(&mut events, "IPv6 L4 connected", |e| {
        matches!(&e.event, Some(Event::ConnectivityChanged(c))
            if c.family() == pb::AddressFamily::Ipv6 && c.connected)
    })
    .await;
}

/// `netpilot watch | head -1`: when the reader of its output has gone, the CLI ends at its
/// next write with status 141 (a shell's SIGPIPE status), not with a panic.
#[tokio::test]
async fn the_cli_ends_quietly_when_its_reader_has_gone() {
    use std::io::BufRead;
    use std::os::unix::process::ExitStatusExt;
    let bed = Testbed::new();
    bed.veth("veth0", "peer0");
    let daemon = Daemon::start(&bed.host, "", &[]).await;
    let socket = daemon.socket.display().to_string();
    let mut cli = std::process::Command::new(env!("CARGO_BIN_EXE_netpilot"))
        .args(["--socket", &socket, "--json", "watch"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn netpilot watch");
    let stdout = cli.stdout.take().expect("stdout");
    let first = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        std::io::BufReader::new(stdout)
            .read_line(&mut line)
            .map(|_| line)
        // The reader, and with it the pipe's only read end, is dropped here.
    });
    let first = common::within("the snapshot line", first)
        .await
        .expect("reader task")
        .expect("read the snapshot");
    assert!(first.contains("snapshot"), "{first}");
    // An event makes the CLI write again, into a pipe nobody reads.
    bed.host
        .ip(&["addr", "add", "198.18.9.2/24", "dev", "veth0"]);
    let out = common::within(
        "netpilot watch to end",
        tokio::task::spawn_blocking(move || cli.wait_with_output()),
    )
    .await
    .expect("wait task")
    .expect("wait for netpilot");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(141),
        "{:?} {stderr}",
        out.status.signal()
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
