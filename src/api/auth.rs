//! The one place that decides who may call what (DESIGN §4): a tower service in front of
//! every RPC. It takes the caller the connection proved (never anything from the request),
//! looks the method up in [`RPC_ROLES`], and answers before any handler runs:
//! `UNAUTHENTICATED` without an identity, `PERMISSION_DENIED` naming the role a method
//! needs, `RESOURCE_EXHAUSTED` past the per-identity stream limit or the rate of expensive
//! calls. A method missing from the table is refused (and a test fails on it).
//!
//! Calls that pass carry the [`Caller`] and the [`ConnHandle`] in their request extensions;
//! handlers read them with [`caller`].

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tonic::body::Body;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use super::server::ConnHandle;
use crate::access::{Caller, IdentityKey, Role};

/// What a method needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Any caller with an identity, even one the `[access]` map does not name (health
    /// checks, which reveal nothing).
    Anyone,
    /// At least this role.
    Role(Role),
}

const VIEWER: Need = Need::Role(Role::Viewer);
const USER: Need = Need::Role(Role::User);
const ADMIN: Need = Need::Role(Role::Admin);

/// Every method served, with what it needs. `viewer` reads; `user` uses connectivity
/// (sessions, connect and disconnect, scans, the agent); `admin` changes configuration.
pub const RPC_ROLES: &[(&str, Need)] = &[
    ("/netpilot.v1.ManagerService/GetManager", VIEWER),
    ("/netpilot.v1.ManagerService/UpdateManager", ADMIN),
    ("/netpilot.v1.ManagerService/WatchManager", VIEWER),
    ("/netpilot.v1.ManagerService/ListTechnologies", VIEWER),
    ("/netpilot.v1.ManagerService/GetTechnology", VIEWER),
    ("/netpilot.v1.ManagerService/UpdateTechnology", ADMIN),
    ("/netpilot.v1.ManagerService/ScanTechnology", USER),
    ("/netpilot.v1.ManagerService/ListServices", VIEWER),
    ("/netpilot.v1.ManagerService/GetService", VIEWER),
    ("/netpilot.v1.ManagerService/ConnectService", USER),
    ("/netpilot.v1.ManagerService/DisconnectService", USER),
    ("/netpilot.v1.ManagerService/ConnectAll", USER),
    ("/netpilot.v1.ManagerService/DisconnectAll", USER),
    ("/netpilot.v1.ManagerService/RemoveService", ADMIN),
    ("/netpilot.v1.ManagerService/MoveService", ADMIN),
    ("/netpilot.v1.ManagerService/UpdateService", ADMIN),
    ("/netpilot.v1.ManagerService/ReportConnectivity", USER),
    ("/netpilot.v1.ManagerService/ListInterfaces", VIEWER),
    ("/netpilot.v1.ManagerService/GetInterface", VIEWER),
    ("/netpilot.v1.ManagerService/UpdateInterface", ADMIN),
    ("/netpilot.v1.SessionService/OpenSession", USER),
    ("/netpilot.v1.SessionService/ConnectSession", USER),
    ("/netpilot.v1.SessionService/DisconnectSession", USER),
    ("/netpilot.v1.SessionService/ChangeSession", USER),
    ("/netpilot.v1.SessionService/DestroySession", USER),
    ("/netpilot.v1.SessionService/ListSessions", VIEWER),
    ("/netpilot.v1.AgentService/RegisterAgent", USER),
    ("/netpilot.v1.SetupService/GetSetup", VIEWER),
    // Opening the setup access point lets anyone in radio range add networks and their
    // credentials through its page, and it may take the radio from the station: a
    // configuration change. Closing it only takes that away again, like a disconnect.
    ("/netpilot.v1.SetupService/StartSetup", ADMIN),
    ("/netpilot.v1.SetupService/StopSetup", USER),
    ("/grpc.health.v1.Health/Check", Need::Anyone),
    ("/grpc.health.v1.Health/Watch", Need::Anyone),
    (
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        VIEWER,
    ),
    (
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        VIEWER,
    ),
];

/// Methods that cost the daemon (or the radio) real work: rate-limited per identity.
pub const EXPENSIVE: &[&str] = &[
    "/netpilot.v1.ManagerService/ScanTechnology",
    "/netpilot.v1.ManagerService/ConnectService",
    "/netpilot.v1.ManagerService/ConnectAll",
    "/netpilot.v1.SessionService/ConnectSession",
];

/// What a method needs; `None` for a path nobody declared.
pub fn need(path: &str) -> Option<Need> {
    RPC_ROLES
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, need)| *need)
}

/// The caller a request carries (the auth layer put it there).
pub fn caller<T>(req: &tonic::Request<T>) -> Result<Caller, Status> {
    req.extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("no caller identity on this request"))
}

/// Per-identity limits, shared by every connection.
#[derive(Debug, Clone, Copy)]
pub struct AuthLimits {
    /// Calls (streams) one identity may have open at once over all its connections.
    pub streams_per_identity: usize,
    /// Expensive calls per minute per identity (the bucket's refill rate).
    pub expensive_per_minute: u32,
    /// Expensive calls allowed back to back (the bucket's size).
    pub expensive_burst: u32,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Refused calls of one caller that get a log line each in a minute. A client looping on
/// a refused call would otherwise fill the log; the rest are counted and the count logged.
const REFUSALS_LOGGED_PER_MINUTE: u32 = 10;
const REFUSAL_WINDOW: Duration = Duration::from_secs(60);

/// One caller's refusals in the current window.
struct Refusals {
    since: Instant,
    count: u32,
}

/// Whether a refusal gets its own log line.
#[derive(Debug, PartialEq)]
enum RefusalLog {
    /// Yes; `unlogged` refusals of the previous window had none.
    Line { unlogged: u32 },
    /// Yes, and it is the last of this window: say that the rest are only counted.
    LastLine,
    /// No: counted.
    Counted,
}

/// Counters per identity: open calls, the expensive-call buckets and refusals logged.
pub struct Counters {
    limits: AuthLimits,
    streams: Mutex<HashMap<IdentityKey, usize>>,
    buckets: Mutex<HashMap<IdentityKey, Bucket>>,
    refusals: Mutex<HashMap<Option<IdentityKey>, Refusals>>,
}

/// Buckets kept before full (idle) ones are forgotten.
const BUCKETS_KEPT: usize = 1024;

impl Counters {
    /// Counters enforcing `limits`.
    pub fn new(limits: AuthLimits) -> Self {
        Self {
            limits,
            streams: Mutex::default(),
            buckets: Mutex::default(),
            refusals: Mutex::default(),
        }
    }

    /// Counts a refused call of `key` (`None`: a caller without identity) and says whether
    /// it gets a log line ([`REFUSALS_LOGGED_PER_MINUTE`] per caller and minute).
    fn refusal(&self, key: Option<&IdentityKey>, now: Instant) -> RefusalLog {
        let mut refusals = self.refusals.lock().unwrap_or_else(|e| e.into_inner());
        if refusals.len() > BUCKETS_KEPT {
            refusals.retain(|_, r| now.duration_since(r.since) < REFUSAL_WINDOW);
        }
        let r = refusals.entry(key.cloned()).or_insert(Refusals {
            since: now,
            count: 0,
        });
        let mut unlogged = 0;
        if now.duration_since(r.since) >= REFUSAL_WINDOW {
            unlogged = r.count.saturating_sub(REFUSALS_LOGGED_PER_MINUTE);
            *r = Refusals {
                since: now,
                count: 0,
            };
        }
        r.count = r.count.saturating_add(1);
        match r.count {
            n if n < REFUSALS_LOGGED_PER_MINUTE => RefusalLog::Line { unlogged },
            REFUSALS_LOGGED_PER_MINUTE => RefusalLog::LastLine,
            _ => RefusalLog::Counted,
        }
    }

    /// Takes one expensive call from the identity's bucket; `Err` says how long until one
    /// is back.
    fn take_expensive(&self, key: &IdentityKey, now: Instant) -> Result<(), Duration> {
        let rate = f64::from(self.limits.expensive_per_minute.max(1)) / 60.0;
        let burst = f64::from(self.limits.expensive_burst.max(1));
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > BUCKETS_KEPT {
            buckets.retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry(key.clone()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        bucket.tokens =
            (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate).min(burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }

    fn open_stream(self: &Arc<Self>, key: &IdentityKey) -> Option<StreamGuard> {
        let mut streams = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        let n = streams.entry(key.clone()).or_default();
        if *n >= self.limits.streams_per_identity {
            return None;
        }
        *n += 1;
        Some(StreamGuard {
            counters: self.clone(),
            key: key.clone(),
        })
    }
}

/// One open call of an identity; counted down when the response ends.
struct StreamGuard {
    counters: Arc<Counters>,
    key: IdentityKey,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let mut streams = self
            .counters
            .streams
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = streams.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                streams.remove(&self.key);
            }
        }
    }
}

fn with_reason(
    code: Code,
    message: String,
    reason: &str,
    detail: Option<(&str, String)>,
) -> Status {
    let mut meta = HashMap::new();
    if let Some((k, v)) = detail {
        meta.insert(k.to_string(), v);
    }
    Status::with_error_details(
        code,
        message,
        ErrorDetails::with_error_info(reason, "netpilot", meta),
    )
}

/// The decision for one call, before any handler runs.
pub fn check(path: &str, caller: Option<&Caller>) -> Result<(), Status> {
    let Some(caller) = caller else {
        return Err(with_reason(
            Code::Unauthenticated,
            format!("{path}: the connection carries no identity"),
            "Unauthenticated",
            None,
        ));
    };
    match need(path) {
        None => Err(with_reason(
            Code::PermissionDenied,
            format!("{path} declares no role; nobody may call it"),
            "PermissionDenied",
            None,
        )),
        Some(Need::Anyone) => Ok(()),
        Some(Need::Role(role)) if caller.has(role) => Ok(()),
        Some(Need::Role(role)) => Err(with_reason(
            Code::PermissionDenied,
            format!(
                "{path} needs role {role}; {} has {}",
                caller.identity,
                caller
                    .role
                    .map_or("no role (not in [access])".to_string(), |r| format!(
                        "role {r}"
                    ))
            ),
            "PermissionDenied",
            Some(("required_role", role.to_string())),
        )),
    }
}

/// The auth service in front of the routes of one connection.
#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    caller: Option<Caller>,
    conn: ConnHandle,
    counters: Arc<Counters>,
}

impl<S> Auth<S> {
    /// Guards `inner` for a connection whose peer is `caller`.
    pub fn new(
        inner: S,
        caller: Option<Caller>,
        conn: ConnHandle,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            inner,
            caller,
            conn,
            counters,
        }
    }

    /// Logs a refused call, unless its caller has had its lines for this minute.
    fn log_refusal(&self, method: &str, why: &str) {
        let caller = self
            .caller
            .as_ref()
            .map_or("unknown".to_string(), |c| c.to_string());
        let key = self.caller.as_ref().map(|c| c.identity.key());
        match self.counters.refusal(key.as_ref(), Instant::now()) {
            RefusalLog::Line { unlogged: 0 } => {
                tracing::info!(%caller, method, why, "call refused")
            }
            RefusalLog::Line { unlogged } => {
                tracing::info!(%caller, method, why, unlogged, "call refused (and {unlogged} more in the minute before, not logged)")
            }
            RefusalLog::LastLine => tracing::info!(
                %caller,
                method,
                why,
                "call refused; this caller's further refusals are counted, not logged, for the rest of the minute"
            ),
            RefusalLog::Counted => {}
        }
    }
}

type BoxFuture<T> = Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S> tower_service::Service<http::Request<Body>> for Auth<S>
where
    S: tower_service::Service<
            http::Request<Body>,
            Response = http::Response<Body>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: http::Request<Body>) -> Self::Future {
        let path = req.uri().path().to_string();
        let denied =
            |status: Status| -> Self::Future { Box::pin(async move { Ok(status.into_http()) }) };
        if let Err(status) = check(&path, self.caller.as_ref()) {
            self.log_refusal(&path, &format!("{:?}", status.code()));
            return denied(status);
        }
        let Some(caller) = self.caller.clone() else {
            return denied(Status::unauthenticated("no identity"));
        };
        let key = caller.identity.key();
        if EXPENSIVE.contains(&path.as_str()) {
            if let Err(wait) = self.counters.take_expensive(&key, Instant::now()) {
                self.log_refusal(&path, "rate limit");
                let mut details = ErrorDetails::with_retry_info(Some(wait));
                details.set_error_info("RateLimited", "netpilot", HashMap::new());
                return denied(Status::with_error_details(
                    Code::ResourceExhausted,
                    format!(
                        "{path}: {caller} calls expensive methods too often (at most {} a minute, {} at once); retry in {:.1} s",
                        self.counters.limits.expensive_per_minute,
                        self.counters.limits.expensive_burst,
                        wait.as_secs_f64()
                    ),
                    details,
                ));
            }
        }
        let Some(guard) = self.counters.open_stream(&key) else {
            self.log_refusal(&path, "stream limit");
            return denied(with_reason(
                Code::ResourceExhausted,
                format!(
                    "{caller} has {} calls open, the most one identity may have",
                    self.counters.limits.streams_per_identity
                ),
                "TooManyStreams",
                None,
            ));
        };
        req.extensions_mut().insert(caller);
        req.extensions_mut().insert(self.conn.clone());
        let active = self.conn.call_started();
        // The clone that was made ready is the one that must be called.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let response = inner.call(req).await?;
            Ok(response.map(|body| {
                Body::new(Guarded {
                    inner: body,
                    _guards: (guard, active),
                })
            }))
        })
    }
}

/// A response body that keeps the call counted until it ends.
struct Guarded<G> {
    inner: Body,
    _guards: G,
}

impl<G: Unpin + Send + 'static> http_body::Body for Guarded<G> {
    type Data = bytes::Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::{CertIdentity, Identity};
    use prost::Message;

    #[test]
    fn refusals_are_logged_ten_a_minute_per_caller_then_counted() {
        let counters = Counters::new(AuthLimits {
            streams_per_identity: 1,
            expensive_per_minute: 1,
            expensive_burst: 1,
        });
        let (alice, bob) = (IdentityKey::Uid(1000), IdentityKey::Uid(1001));
        let t0 = Instant::now();
        let logs: Vec<RefusalLog> = (0..25)
            .map(|_| counters.refusal(Some(&alice), t0))
            .collect();
        assert!(logs[..9]
            .iter()
            .all(|l| *l == RefusalLog::Line { unlogged: 0 }));
        assert_eq!(logs[9], RefusalLog::LastLine);
        assert!(logs[10..].iter().all(|l| *l == RefusalLog::Counted));
        // Another caller, and a caller without identity, have lines of their own.
        assert_eq!(
            counters.refusal(Some(&bob), t0),
            RefusalLog::Line { unlogged: 0 }
        );
        assert_eq!(counters.refusal(None, t0), RefusalLog::Line { unlogged: 0 });
        // The next minute's first line tells how many were only counted.
        assert_eq!(
            counters.refusal(Some(&alice), t0 + REFUSAL_WINDOW),
            RefusalLog::Line { unlogged: 15 }
        );
        assert_eq!(
            counters.refusal(Some(&alice), t0 + REFUSAL_WINDOW),
            RefusalLog::Line { unlogged: 0 }
        );
    }

    /// Every method of every service served, from the descriptor sets the daemon serves.
    fn served_methods() -> Vec<String> {
        let sets = [
            crate::pb::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
        ];
        let mut methods = Vec::new();
        for set in sets {
            let set = prost_types::FileDescriptorSet::decode(set).expect("descriptor set");
            for file in set.file {
                for service in &file.service {
                    for method in &service.method {
                        methods.push(format!(
                            "/{}.{}/{}",
                            file.package(),
                            service.name(),
                            method.name()
                        ));
                    }
                }
            }
        }
        methods.sort();
        methods.dedup();
        methods
    }

    #[test]
    fn every_served_method_declares_a_role_and_nothing_else_does() {
        let served = served_methods();
        let missing: Vec<&String> = served.iter().filter(|m| need(m).is_none()).collect();
        assert!(
            missing.is_empty(),
            "methods without a role in RPC_ROLES: {missing:?}"
        );
        let extra: Vec<&str> = RPC_ROLES
            .iter()
            .map(|(p, _)| *p)
            .filter(|p| !served.iter().any(|m| m == p))
            .collect();
        assert!(
            extra.is_empty(),
            "RPC_ROLES names methods nobody serves: {extra:?}"
        );
        let mut paths: Vec<&str> = RPC_ROLES.iter().map(|(p, _)| *p).collect();
        paths.sort();
        let n = paths.len();
        paths.dedup();
        assert_eq!(paths.len(), n, "a method is listed twice");
        for e in EXPENSIVE {
            assert!(need(e).is_some(), "{e}");
        }
    }

    #[test]
    fn decisions() {
        let viewer = Caller::new(
            Identity::Certificate(CertIdentity {
                cn: Some("dash".into()),
                ..CertIdentity::default()
            }),
            Some(Role::Viewer),
        );
        let nobody = Caller::new(Identity::Certificate(CertIdentity::default()), None);
        let admin = Caller::new(
            Identity::Local {
                uid: 0,
                gid: 0,
                groups: vec![],
            },
            Some(Role::Admin),
        );
        let connect = "/netpilot.v1.ManagerService/ConnectService";
        let list = "/netpilot.v1.ManagerService/ListServices";
        let health = "/grpc.health.v1.Health/Check";
        assert!(check(list, Some(&viewer)).is_ok());
        let denied = check(connect, Some(&viewer)).expect_err("viewer connect");
        assert_eq!(denied.code(), Code::PermissionDenied);
        assert!(
            denied.message().contains("needs role user"),
            "{}",
            denied.message()
        );
        assert_eq!(
            denied
                .get_details_error_info()
                .and_then(|i| i.metadata.get("required_role").cloned()),
            Some("user".to_string())
        );
        assert!(check(connect, Some(&admin)).is_ok());
        assert_eq!(
            check(list, Some(&nobody)).expect_err("no role").code(),
            Code::PermissionDenied
        );
        assert!(check(health, Some(&nobody)).is_ok(), "health needs no role");
        assert_eq!(
            check(list, None).expect_err("no identity").code(),
            Code::Unauthenticated
        );
        assert_eq!(
            check("/netpilot.v1.ManagerService/NewThing", Some(&admin))
                .expect_err("undeclared")
                .code(),
            Code::PermissionDenied
        );
    }

    #[test]
    fn expensive_calls_are_rate_limited_per_identity() {
        let counters = Counters::new(AuthLimits {
            streams_per_identity: 2,
            expensive_per_minute: 60,
            expensive_burst: 3,
        });
        let a = IdentityKey::Uid(1);
        let b = IdentityKey::Uid(2);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(counters.take_expensive(&a, t0).is_ok());
        }
        let wait = counters.take_expensive(&a, t0).expect_err("burst used");
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert!(counters.take_expensive(&b, t0).is_ok(), "another identity");
        assert!(
            counters
                .take_expensive(&a, t0 + Duration::from_millis(1100))
                .is_ok(),
            "refilled at one a second"
        );
    }

    #[test]
    fn streams_are_counted_per_identity() {
        let counters = Arc::new(Counters::new(AuthLimits {
            streams_per_identity: 2,
            expensive_per_minute: 1,
            expensive_burst: 1,
        }));
        let a = IdentityKey::Uid(1);
        let g1 = counters.open_stream(&a).expect("1");
        let _g2 = counters.open_stream(&a).expect("2");
        assert!(counters.open_stream(&a).is_none(), "third refused");
        assert!(counters.open_stream(&IdentityKey::Uid(2)).is_some());
        drop(g1);
        assert!(
            counters.open_stream(&a).is_some(),
            "counted down when a call ends"
        );
    }
}
