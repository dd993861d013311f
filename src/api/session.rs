//! SessionService. Each OpenSession stream follows its session's view in the engine and
//! sends only what changed since the last message (DESIGN §3); a slow client gets coalesced
//! updates, never a growing queue.

use std::pin::Pin;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use super::auth::caller;
use super::convert::{self, full_session_update};
use super::server::ConnHandle;
use crate::engine::{parse_session_id, EngineHandle};
use crate::model::{SessionId, SessionView};
use crate::pb;

/// Messages a session stream holds for its client: one. Everything newer is coalesced into
/// the next message (the session view is a state, not a log), so a client that does not
/// read costs one message here plus the HTTP/2 send buffer (`[api] stream_queue_bytes`).
const SESSION_BUFFER: usize = 1;

/// One queued message of a session stream, boxed: a tokio channel allocates its slots 32 at
/// a time whatever its bound, and unboxed slots of a message with its status made about
/// 16 KB per idle session.
type Queued = Box<Result<pb::OpenSessionResponse, Status>>;

/// The SessionService implementation.
pub struct SessionApi {
    engine: EngineHandle,
    stuck: Duration,
}

impl SessionApi {
    /// Serves the engine behind `engine`; a stream whose client takes no update for `stuck`
    /// is closed with its connection.
    pub fn new(engine: EngineHandle, stuck: Duration) -> Self {
        Self { engine, stuck }
    }
}

/// The fields of `new` that differ from `last`. Both must be full updates (every field
/// set); the result has only the changed fields set, and equals the default when nothing
/// changed.
pub fn diff(last: &pb::SessionUpdate, new: &pb::SessionUpdate) -> pb::SessionUpdate {
    let mut out = pb::SessionUpdate::default();
    macro_rules! changed {
        ($($field:ident),*) => {$(
            if last.$field != new.$field {
                out.$field = new.$field.clone();
            }
        )*};
    }
    changed!(
        state,
        name,
        bearer,
        interface,
        service_id,
        ipv4,
        ipv6,
        allowed_bearers,
        connection_type,
        allowed_interface,
        context_identifier,
        source_ip_rule,
        allow_metered,
        connect_requested
    );
    out
}

/// The handover notice to send before an update that moves the session from the service
/// the client was last told about to another one: the engine's reason for the move to
/// that service, with the previous service as the client knew it.
pub fn handover_notice(
    last: Option<&pb::SessionUpdate>,
    view: &SessionView,
) -> Option<pb::SessionHandover> {
    let previous = last?.service_id.as_deref().filter(|s| !s.is_empty())?;
    let next = view.service_id.as_ref()?;
    let handover = view.handover.as_ref().filter(|h| &h.next == next)?;
    (previous != next.0).then(|| pb::SessionHandover {
        previous_service_id: previous.to_string(),
        next_service_id: next.0.clone(),
        reason: handover.reason.as_str().to_string(),
    })
}

fn message(id: SessionId, event: pb::open_session_response::Event) -> pb::OpenSessionResponse {
    pb::OpenSessionResponse {
        session_id: id.to_string(),
        event: Some(event),
    }
}

/// Where a stream's messages go, and what to do with a client that does not take them.
pub(super) struct Outlet<M> {
    pub tx: mpsc::Sender<M>,
    /// How long a message may wait for the client.
    pub stuck: Duration,
    /// The stream's connection, closed when the client is stuck.
    pub conn: Option<ConnHandle>,
    /// The client, for the log line.
    pub client: String,
}

/// Why a stream stopped sending.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Gone {
    /// The client went away.
    Closed,
    /// The client took nothing for `stuck`: its connection was closed.
    Stuck,
}

impl<M> Outlet<M> {
    /// Waits for room for one message, at most `stuck`; a client that stays stuck loses its
    /// connection (logged, naming it). Everything that changes meanwhile is coalesced by
    /// the caller, which builds the message only once it has room.
    pub async fn reserve(&self, what: &str) -> Result<mpsc::Permit<'_, M>, Gone> {
        match tokio::time::timeout(self.stuck, self.tx.reserve()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) => Err(Gone::Closed),
            Err(_) => {
                tracing::warn!(
                    client = %self.client,
                    stream = what,
                    "stream stuck: the client took no message for {:?}; closing its connection",
                    self.stuck
                );
                if let Some(conn) = &self.conn {
                    conn.close();
                }
                Err(Gone::Stuck)
            }
        }
    }
}

/// Sends the session's updates until the daemon releases it or the client goes away. A
/// handover notice goes just before the update that moves the session.
async fn follow(
    engine: EngineHandle,
    id: SessionId,
    mut views: watch::Receiver<SessionView>,
    out: Outlet<Queued>,
) {
    use pb::open_session_response::Event;
    let what = format!("session {id}");
    let mut last: Option<pb::SessionUpdate> = None;
    loop {
        let Ok(permit) = out.reserve(&what).await else {
            engine.close_session(id);
            return;
        };
        let view = views.borrow_and_update().clone();
        if let Some(reason) = view.released {
            permit.send(Box::new(Ok(message(
                id,
                Event::Release(pb::SessionRelease {
                    reason: reason.into(),
                }),
            ))));
            return;
        }
        let full = full_session_update(&view);
        let permit = match handover_notice(last.as_ref(), &view) {
            Some(notice) => {
                permit.send(Box::new(Ok(message(id, Event::Handover(notice)))));
                let Ok(permit) = out.reserve(&what).await else {
                    engine.close_session(id);
                    return;
                };
                permit
            }
            None => permit,
        };
        let update = match &last {
            None => full.clone(),
            Some(last) => diff(last, &full),
        };
        if update != pb::SessionUpdate::default() {
            permit.send(Box::new(Ok(message(id, Event::Update(update)))));
        }
        last = Some(full);
        tokio::select! {
            changed = views.changed() => if changed.is_err() {
                // The engine dropped the session without a release: it has stopped.
                if let Ok(permit) = out.reserve(&what).await {
                    let release = pb::SessionRelease { reason: "shutdown".into() };
                    permit.send(Box::new(Ok(message(id, Event::Release(release)))));
                }
                return;
            },
            _ = out.tx.closed() => {
                engine.close_session(id);
                return;
            }
        }
    }
}

type SessionStream = Pin<Box<dyn Stream<Item = Result<pb::OpenSessionResponse, Status>> + Send>>;

#[tonic::async_trait]
impl pb::session_service_server::SessionService for SessionApi {
    type OpenSessionStream = SessionStream;

    async fn open_session(
        &self,
        req: Request<pb::OpenSessionRequest>,
    ) -> Result<Response<SessionStream>, Status> {
        let owner = caller(&req)?;
        let conn = req.extensions().get::<ConnHandle>().cloned();
        let settings = convert::new_session_settings(req.get_ref().settings.as_ref())?;
        let client = conn
            .as_ref()
            .map_or_else(|| owner.to_string(), |c| c.peer().to_string());
        let (id, views) = self.engine.open_session(owner, settings).await?;
        let (tx, rx) = mpsc::channel(SESSION_BUFFER);
        let out = Outlet {
            tx,
            stuck: self.stuck,
            conn,
            client,
        };
        tokio::spawn(follow(self.engine.clone(), id, views, out));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx).map(|m| *m))))
    }

    async fn connect_session(
        &self,
        req: Request<pb::ConnectSessionRequest>,
    ) -> Result<Response<pb::ConnectSessionResponse>, Status> {
        let id = parse_session_id("session_id", &req.get_ref().session_id)?;
        self.engine.connect_session(id, caller(&req)?).await?;
        Ok(Response::new(pb::ConnectSessionResponse {}))
    }

    async fn disconnect_session(
        &self,
        req: Request<pb::DisconnectSessionRequest>,
    ) -> Result<Response<pb::DisconnectSessionResponse>, Status> {
        let id = parse_session_id("session_id", &req.get_ref().session_id)?;
        self.engine.disconnect_session(id, caller(&req)?).await?;
        Ok(Response::new(pb::DisconnectSessionResponse {}))
    }

    async fn change_session(
        &self,
        req: Request<pb::ChangeSessionRequest>,
    ) -> Result<Response<pb::ChangeSessionResponse>, Status> {
        let who = caller(&req)?;
        let req = req.into_inner();
        let id = parse_session_id("session_id", &req.session_id)?;
        let change = convert::session_change(&req.settings.unwrap_or_default())?;
        self.engine.change_session(id, who, change).await?;
        Ok(Response::new(pb::ChangeSessionResponse {}))
    }

    async fn destroy_session(
        &self,
        req: Request<pb::DestroySessionRequest>,
    ) -> Result<Response<pb::DestroySessionResponse>, Status> {
        let id = parse_session_id("session_id", &req.get_ref().session_id)?;
        self.engine.destroy_session(id, caller(&req)?).await?;
        Ok(Response::new(pb::DestroySessionResponse {}))
    }

    async fn list_sessions(
        &self,
        req: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsResponse>, Status> {
        let sessions = self
            .engine
            .list_sessions(caller(&req)?)
            .await?
            .iter()
            .map(Into::into)
            .collect();
        Ok(Response::new(pb::ListSessionsResponse { sessions }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        ConnectionType, IpMethod, Ipv4Info, ServiceId, SessionSettings, SessionState,
        TechnologyKind,
    };

    fn view(state: SessionState, service: Option<(&str, &str, &str)>) -> SessionView {
        SessionView {
            state,
            name: service.map(|_| "Wired".to_string()).unwrap_or_default(),
            bearer: service.map(|_| TechnologyKind::Ethernet),
            interface: service.map(|s| s.1.to_string()).unwrap_or_default(),
            service_id: service.map(|s| ServiceId(s.0.to_string())),
            ipv4: service.map(|s| Ipv4Info {
                method: IpMethod::Fixed,
                address: s.2.parse().expect("ip"),
                prefix_len: 24,
                gateway: None,
            }),
            ipv6: None,
            settings: SessionSettings {
                allowed_bearers: vec![],
                connection_type: ConnectionType::Local,
                ..SessionSettings::default()
            },
            connect_requested: false,
            handover: None,
            released: None,
        }
    }

    #[test]
    fn diff_table() {
        let none = view(SessionState::Disconnected, None);
        let a = view(
            SessionState::Connected,
            Some(("eth_a", "veth0", "198.18.0.2")),
        );
        let a_new_ip = view(
            SessionState::Connected,
            Some(("eth_a", "veth0", "198.18.0.3")),
        );
        let b = view(
            SessionState::Connected,
            Some(("eth_b", "veth1", "198.18.1.2")),
        );
        let full = |v: &SessionView| full_session_update(v);
        let set = |u: &pb::SessionUpdate| -> Vec<&'static str> {
            let mut v = vec![];
            if u.state.is_some() {
                v.push("state")
            }
            if u.name.is_some() {
                v.push("name")
            }
            if u.bearer.is_some() {
                v.push("bearer")
            }
            if u.interface.is_some() {
                v.push("interface")
            }
            if u.service_id.is_some() {
                v.push("service_id")
            }
            if u.ipv4.is_some() {
                v.push("ipv4")
            }
            if u.ipv6.is_some() {
                v.push("ipv6")
            }
            if u.allowed_bearers.is_some() {
                v.push("allowed_bearers")
            }
            if u.connection_type.is_some() {
                v.push("connection_type")
            }
            for (set, name) in [
                (u.allowed_interface.is_some(), "allowed_interface"),
                (u.context_identifier.is_some(), "context_identifier"),
                (u.source_ip_rule.is_some(), "source_ip_rule"),
                (u.allow_metered.is_some(), "allow_metered"),
                (u.connect_requested.is_some(), "connect_requested"),
            ] {
                if set {
                    v.push(name)
                }
            }
            v
        };
        let cases = [
            ("no change", &a, &a, vec![]),
            (
                "connect",
                &none,
                &a,
                vec!["state", "name", "bearer", "interface", "service_id", "ipv4"],
            ),
            (
                "disconnect",
                &a,
                &none,
                vec!["state", "name", "bearer", "interface", "service_id", "ipv4"],
            ),
            ("address change only", &a, &a_new_ip, vec!["ipv4"]),
            (
                "move to another link of the same bearer",
                &a,
                &b,
                vec!["interface", "service_id", "ipv4"],
            ),
        ];
        for (name, from, to, want) in cases {
            assert_eq!(set(&diff(&full(from), &full(to))), want, "{name}");
        }
        let gone = diff(&full(&a), &full(&none));
        assert_eq!(
            gone.interface.as_deref(),
            Some(""),
            "a value that went away is sent empty"
        );
        assert_eq!(gone.ipv4, Some(pb::Ipv4Settings::default()));
        assert_eq!(
            set(&full(&none)).len(),
            14,
            "a full update sets every field"
        );
    }

    #[test]
    fn handover_notice_only_between_two_services() {
        use crate::model::{Handover, HandoverReason};
        let a = view(
            SessionState::Connected,
            Some(("eth_a", "veth0", "198.18.0.2")),
        );
        let mut b = view(
            SessionState::Connected,
            Some(("eth_b", "veth1", "198.18.1.2")),
        );
        b.handover = Some(Handover {
            previous: ServiceId("eth_a".into()),
            next: ServiceId("eth_b".into()),
            reason: HandoverReason::LostCarrier,
        });
        let none = view(SessionState::Disconnected, None);
        let full = |v: &SessionView| full_session_update(v);
        let notice = handover_notice(Some(&full(&a)), &b).expect("a to b");
        assert_eq!(
            (
                notice.previous_service_id.as_str(),
                notice.next_service_id.as_str(),
                notice.reason.as_str()
            ),
            ("eth_a", "eth_b", "lost-carrier")
        );
        assert_eq!(
            handover_notice(None, &b),
            None,
            "the first update is no move"
        );
        assert_eq!(
            handover_notice(Some(&full(&none)), &b),
            None,
            "a connect is no move"
        );
        assert_eq!(handover_notice(Some(&full(&b)), &b), None, "no change");
        assert_eq!(
            handover_notice(Some(&full(&b)), &none),
            None,
            "a loss is no move"
        );
    }
}
