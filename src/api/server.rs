//! The listeners and the HTTP/2 connections, on hyper directly (not tonic's `Server`) so
//! that every limit is ours to set: streams per connection, the per-stream send buffer
//! (what a client that never reads can make the daemon hold), keepalive, an idle timeout,
//! and closing a connection whose stream is stuck.
//!
//! Each accepted connection gets its identity once, from the transport: SO_PEERCRED and
//! SO_PEERGROUPS on the Unix socket, the verified client certificate on the TLS listener,
//! the peer address on the development-only plain-TCP listener. The `[access]` map turns it
//! into a [`Caller`], and [`super::auth::Auth`] checks every call against it.

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener, UnixStream};
use tokio::sync::{watch, Notify, Semaphore};
use tonic::body::Body;
use tonic::service::Routes;

use super::auth::{Auth, AuthLimits, Counters};
use super::tls::{cert_identity, TlsState};
use crate::access::{AccessMap, Caller, Identity};

/// Limits of the API server (config `[api]`).
#[derive(Debug, Clone)]
pub struct ServeLimits {
    /// Largest request message, bytes (decoded protobuf); larger ones are refused.
    pub max_message_bytes: usize,
    /// Concurrent calls (HTTP/2 streams) per connection.
    pub streams_per_connection: u32,
    /// Bytes the HTTP/2 layer may queue per stream for a client that does not read.
    pub send_buffer_bytes: usize,
    /// HTTP/2 PING interval on idle connections.
    pub keepalive_interval: Duration,
    /// A connection whose PING is not answered within this is closed.
    pub keepalive_timeout: Duration,
    /// A connection with no call open for this long is closed (GOAWAY); `None`: never.
    pub idle_timeout: Option<Duration>,
    /// A stream whose client takes no message for this long is closed with its connection.
    pub stuck_timeout: Duration,
    /// Per-identity limits.
    pub auth: AuthLimits,
}

/// How long a TLS client may take for its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// TLS handshakes in progress at once; more connections wait in the kernel's backlog.
const MAX_HANDSHAKES: usize = 64;
/// Largest HTTP/2 header list a client may send, bytes.
const MAX_HEADER_LIST: u32 = 16 * 1024;

/// The state of one connection that calls can reach: to close it (a stuck stream), and to
/// know whether it is idle.
#[derive(Clone)]
pub struct ConnHandle(Arc<ConnState>);

struct ConnState {
    peer: String,
    close: Notify,
    active: AtomicUsize,
    idle_since: Mutex<Instant>,
}

impl ConnHandle {
    fn new(peer: String) -> Self {
        Self(Arc::new(ConnState {
            peer,
            close: Notify::new(),
            active: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
        }))
    }

    /// Who is on the other end, for log lines.
    pub fn peer(&self) -> &str {
        &self.0.peer
    }

    /// Closes the connection at once (every stream on it ends).
    pub fn close(&self) {
        self.0.close.notify_one();
    }

    /// Counts a call until the returned guard drops.
    pub(super) fn call_started(&self) -> ActiveCall {
        self.0.active.fetch_add(1, Ordering::SeqCst);
        ActiveCall(self.0.clone())
    }

    fn idle_for(&self, now: Instant) -> Option<Duration> {
        if self.0.active.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let since = *self.0.idle_since.lock().unwrap_or_else(|e| e.into_inner());
        Some(now.saturating_duration_since(since))
    }
}

/// One open call on a connection.
pub(super) struct ActiveCall(Arc<ConnState>);

impl Drop for ActiveCall {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            *self.0.idle_since.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        }
    }
}

/// What every connection shares.
pub(super) struct Shared {
    pub routes: Routes,
    pub access: AccessMap,
    pub counters: Arc<Counters>,
    pub limits: ServeLimits,
    pub stop: watch::Receiver<bool>,
}

fn unix_caller(stream: &UnixStream, access: &AccessMap) -> Option<Caller> {
    let cred = match stream.peer_cred() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "SO_PEERCRED failed: the caller has no identity");
            return None;
        }
    };
    let identity = Identity::Local {
        uid: cred.uid(),
        gid: cred.gid(),
        groups: peer_groups(stream),
    };
    Some(access.caller(identity, cred.pid()))
}

/// The peer's supplementary groups (SO_PEERGROUPS, Linux 4.13); empty when the kernel does
/// not say.
fn peer_groups(stream: &UnixStream) -> Vec<u32> {
    let fd = stream.as_raw_fd();
    let mut groups: Vec<libc::gid_t> = vec![0; 64];
    for _ in 0..2 {
        let mut len = (groups.len() * std::mem::size_of::<libc::gid_t>()) as libc::socklen_t;
        // SAFETY: the buffer is valid for `len` bytes and the kernel writes at most that.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_PEERGROUPS,
                groups.as_mut_ptr().cast(),
                &mut len,
            )
        };
        let n = len as usize / std::mem::size_of::<libc::gid_t>();
        if rc == 0 {
            groups.truncate(n);
            return groups;
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::ERANGE) || n <= groups.len()
        {
            break;
        }
        groups.resize(n, 0);
    }
    Vec::new()
}

/// Serves one connection until it ends, the daemon stops (GOAWAY, then calls finish), it
/// stays idle past the limit, or a stuck stream closes it.
fn spawn_connection<IO>(io: IO, caller: Option<Caller>, peer: String, shared: Arc<Shared>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut stop = shared.stop.clone();
    tokio::spawn(async move {
        let handle = ConnHandle::new(peer);
        let auth = Auth::new(
            shared.routes.clone(),
            caller,
            handle.clone(),
            shared.counters.clone(),
        );
        let service =
            hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let mut auth = auth.clone();
                async move { tower_service::Service::call(&mut auth, req.map(Body::new)).await }
            });
        let limits = &shared.limits;
        let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .max_concurrent_streams(limits.streams_per_connection)
            .max_send_buf_size(limits.send_buffer_bytes)
            .max_header_list_size(MAX_HEADER_LIST)
            .keep_alive_interval(limits.keepalive_interval)
            .keep_alive_timeout(limits.keepalive_timeout);
        let conn = builder.serve_connection(TokioIo::new(io), service);
        tokio::pin!(conn);
        let idle_limit = limits.idle_timeout;
        let mut tick = tokio::time::interval(idle_limit.map_or(Duration::from_secs(3600), |d| {
            (d / 4).max(Duration::from_millis(50))
        }));
        let mut stopping = false;
        loop {
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(peer = %handle.peer(), error = %e, "connection ended");
                    }
                    break;
                }
                _ = stop.wait_for(|s| *s), if !stopping => {
                    stopping = true;
                    conn.as_mut().graceful_shutdown();
                }
                _ = handle.0.close.notified() => break,
                now = tick.tick(), if idle_limit.is_some() && !stopping => {
                    if let (Some(limit), Some(idle)) = (idle_limit, handle.idle_for(now.into_std())) {
                        if idle >= limit {
                            tracing::debug!(peer = %handle.peer(), "idle connection closed");
                            stopping = true;
                            conn.as_mut().graceful_shutdown();
                        }
                    }
                }
            }
        }
    });
}

/// Accepts on the Unix socket until the daemon stops.
pub(super) async fn accept_unix(listener: UnixListener, shared: Arc<Shared>) {
    let mut stop = shared.stop.clone();
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                let caller = unix_caller(&stream, &shared.access);
                let peer = caller
                    .as_ref()
                    .map_or_else(|| "unix socket peer".to_string(), |c| c.to_string());
                spawn_connection(stream, caller, peer, shared.clone());
            }
            Err(e) => accept_failed("unix socket", e).await,
        }
    }
}

/// Accepts plain TCP on loopback (development only, `[api] insecure_loopback`).
pub(super) async fn accept_loopback(listener: TcpListener, shared: Arc<Shared>) {
    let mut stop = shared.stop.clone();
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, addr)) => {
                let _ = stream.set_nodelay(true);
                let caller = shared.access.caller(Identity::Loopback(addr), None);
                spawn_connection(stream, Some(caller), format!("tcp {addr}"), shared.clone());
            }
            Err(e) => accept_failed("loopback TCP", e).await,
        }
    }
}

/// Accepts mutual-TLS connections: the handshake (client certificate required, checked
/// against the client CA) runs in its own task with a deadline.
pub(super) async fn accept_tls(listener: TcpListener, tls: Arc<TlsState>, shared: Arc<Shared>) {
    let mut stop = shared.stop.clone();
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                accept_failed("TLS", e).await;
                continue;
            }
        };
        let Ok(permit) = handshakes.clone().try_acquire_owned() else {
            tracing::warn!(peer = %addr, "{MAX_HANDSHAKES} TLS handshakes in progress; connection dropped");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
        let shared = shared.clone();
        tokio::spawn(async move {
            let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await;
            drop(permit);
            let stream = match handshake {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    tracing::info!(peer = %addr, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::info!(peer = %addr, "TLS handshake timed out after {HANDSHAKE_TIMEOUT:?}");
                    return;
                }
            };
            let identity = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|certs| certs.first())
                .map(|leaf| cert_identity(leaf.as_ref()));
            let caller = match identity {
                Some(Ok(c)) => Some(shared.access.caller(Identity::Certificate(c), None)),
                Some(Err(e)) => {
                    tracing::warn!(peer = %addr, error = %e, "client certificate unreadable: no identity");
                    None
                }
                None => None,
            };
            let peer = match &caller {
                Some(c) => format!("{c} (tls {addr})"),
                None => format!("tls {addr}"),
            };
            tracing::debug!(%peer, role = ?caller.as_ref().and_then(|c| c.role), "TLS client connected");
            spawn_connection(stream, caller, peer, shared);
        });
    }
}

/// A failed accept (out of file descriptors, …): logged, then a short pause so that the
/// loop does not spin.
async fn accept_failed(what: &str, e: std::io::Error) {
    tracing::warn!(listener = what, error = %e, "accept failed");
    tokio::time::sleep(Duration::from_millis(100)).await;
}
