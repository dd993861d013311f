//! Sessions against the real daemon: first full update, changed-fields-only updates,
//! carrier loss, stickiness, invalid settings, dropped streams, and release at shutdown.

mod common;

use common::{eventually, next, read_until, watch, within, Daemon, Testbed};
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
        }),
    }
}

fn update(m: &pb::OpenSessionResponse) -> &pb::SessionUpdate {
    match &m.event {
        Some(SessionEvent::Update(u)) => u,
        other => panic!("expected an update, got {other:?}"),
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
        9,
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
    // …unless it becomes preferred. The next session message must be the move.
    manager
        .move_service(pb::MoveServiceRequest {
            service_id: svc1.clone(),
            target: Some(pb::move_service_request::Target::Before(svc0.clone())),
        })
        .await
        .expect("move");
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
            },
            "settings.allowed_bearers.bearers[1]",
        ),
        (
            pb::SessionSettings {
                allowed_bearers: None,
                connection_type: 42,
            },
            "settings.connection_type",
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
