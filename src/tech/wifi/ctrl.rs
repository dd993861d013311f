//! wpa_supplicant control interface: the transport.
//!
//! wpa_supplicant listens on one Unix datagram socket per interface, `<ctrl_interface
//! dir>/<ifname>` (hostap `wpa_supplicant/ctrl_iface_unix.c`, `doc/ctrl_iface.doxygen`). A
//! client binds its own datagram socket, sends a command as one datagram and gets the reply
//! as one datagram. A socket that sent `ATTACH` also receives unsolicited messages,
//! `<N>TEXT`, where N is the message's priority (0 excessive … 5 error; 3 is "info", the
//! level `ATTACH` subscribes to).
//!
//! Like `wpa_cli` this client uses two sockets: one for requests and one, attached, for
//! events, so a reply is never mistaken for an event. Facts from hostap that shape it:
//! - a request longer than `CTRL_IFACE_MAX_LEN` (8192 bytes) is dropped without a reply,
//!   and the request is a C string (a NUL ends it): [`CtrlSocket::request`] refuses both;
//! - replies are built in a 4096-byte buffer (`reply_size` in `ctrl_iface.c`), but this
//!   client sizes its receive buffer from the datagram itself (`MSG_PEEK | MSG_TRUNC`), so
//!   no reply is ever cut, whatever a future wpa_supplicant sends;
//! - replies carry no request id; after a timeout a late reply would be taken for the next
//!   request's, so a socket whose request timed out is closed and a new one is bound;
//! - nothing tells a client that wpa_supplicant died: `send` fails (`ECONNREFUSED`) only
//!   once the old socket is gone, and after `SIGKILL` the socket file stays. The
//!   [`spawn`]ed supervisor therefore PINGs, and also reacts to `CTRL-EVENT-TERMINATING`.
//!
//! Client sockets are bound in a directory the caller gives (netpilotd's run dir, which
//! wpa_supplicant — root, in the same mount namespace — can reach; not a private `/tmp`),
//! named `wpa_ctrl_<pid>-<n>` like hostap's own `wpa_ctrl.c`, and removed on drop. A name
//! that exists is reused only when no one is bound to it (`connect` is refused).

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::Interest;
use tokio::net::UnixDatagram;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{sleep_until, Instant};

/// Longest request wpa_supplicant accepts, in bytes (`CTRL_IFACE_MAX_LEN` in hostap
/// `wpa_supplicant/ctrl_iface.h`). Longer ones it drops without answering.
pub const MAX_REQUEST_LEN: usize = 8192;

/// Longest `sun_path` Linux takes, without the terminating NUL.
const MAX_SOCKET_PATH: usize = 107;

/// Errors of the control-interface transport. Messages never contain request values:
/// requests are named by [`request_label`].
#[derive(Debug, thiserror::Error)]
pub enum CtrlError {
    /// The client socket path does not fit `sun_path`.
    #[error("control client socket path {path} is longer than {MAX_SOCKET_PATH} bytes")]
    PathTooLong {
        /// The path.
        path: PathBuf,
    },
    /// Binding the client socket failed.
    #[error("bind control client socket {path}")]
    Bind {
        /// The client socket path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Connecting to wpa_supplicant's socket failed (missing, or nobody bound to it).
    #[error("connect to wpa_supplicant control socket {path}")]
    Connect {
        /// wpa_supplicant's socket path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The request is longer than [`MAX_REQUEST_LEN`].
    #[error(
        "{label}: request of {len} bytes is longer than wpa_supplicant accepts ({MAX_REQUEST_LEN})"
    )]
    TooLong {
        /// Safe name of the request.
        label: String,
        /// Its length in bytes.
        len: usize,
    },
    /// The request contains a NUL byte, which would cut it short.
    #[error("{label}: request contains a NUL byte")]
    Nul {
        /// Safe name of the request.
        label: String,
    },
    /// Sending the request failed.
    #[error("send {label} to wpa_supplicant ({path})")]
    Send {
        /// Safe name of the request.
        label: String,
        /// wpa_supplicant's socket path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Receiving failed.
    #[error("receive from wpa_supplicant ({path})")]
    Recv {
        /// wpa_supplicant's socket path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// No reply came in time.
    #[error("{label}: no reply from wpa_supplicant ({path}) within {timeout:?}")]
    Timeout {
        /// Safe name of the request.
        label: String,
        /// wpa_supplicant's socket path.
        path: PathBuf,
        /// The timeout.
        timeout: Duration,
    },
    /// `ATTACH` was answered with something other than `OK`.
    #[error("ATTACH to wpa_supplicant ({path}) refused: {reply:?}")]
    AttachRefused {
        /// wpa_supplicant's socket path.
        path: PathBuf,
        /// The reply.
        reply: String,
    },
    /// wpa_supplicant is not reachable now; the supervisor reconnects by itself.
    #[error("{label}: wpa_supplicant on {ifname} is not available")]
    Unavailable {
        /// Safe name of the request.
        label: String,
        /// The interface.
        ifname: String,
    },
    /// The supervisor task has ended.
    #[error("{label}: control task for {ifname} has stopped")]
    Stopped {
        /// Safe name of the request.
        label: String,
        /// The interface.
        ifname: String,
    },
}

impl CtrlError {
    /// Whether the error says that wpa_supplicant's socket is gone (it exited or
    /// restarted), as opposed to a problem with one request.
    fn peer_gone(&self) -> bool {
        let io = match self {
            CtrlError::Send { source, .. } | CtrlError::Recv { source, .. } => source,
            _ => return false,
        };
        matches!(
            io.raw_os_error(),
            Some(libc::ECONNREFUSED | libc::ENOTCONN | libc::ENOENT | libc::ECONNRESET)
        )
    }
}

/// A name for a request that is safe to log and to put in errors: the command word, and
/// for `SET_NETWORK` / `SET` / `SET_CRED` the id and variable name but never the value;
/// `CTRL-RSP-*` (answers to credential prompts) only by its command word. Others are
/// shown up to 64 bytes.
pub fn request_label(request: &str) -> String {
    let mut words = request.split(' ');
    let first = words.next().unwrap_or_default();
    let keep = match first {
        "SET_NETWORK" | "SET_CRED" => 3,
        "SET" => 2,
        w if w.starts_with("CTRL-RSP-") => {
            // CTRL-RSP-<field>-<id>:<value>
            return w.split(':').next().unwrap_or_default().to_string();
        }
        _ => {
            let mut s: String = request.chars().take(64).collect();
            if s.len() < request.len() {
                s.push('…');
            }
            return s;
        }
    };
    let mut label: Vec<&str> = vec![first];
    label.extend(words.take(keep - 1));
    label.join(" ")
}

/// One message from an attached socket: `<priority>text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorMessage {
    /// wpa_debug level: 0 excessive, 1 msgdump, 2 debug, 3 info, 4 warning, 5 error.
    pub priority: u8,
    /// The text after the `<N>` prefix, e.g. `CTRL-EVENT-SCAN-RESULTS `.
    pub text: String,
}

impl MonitorMessage {
    /// Parses `<N>text`. `None` when the prefix is missing or not a number.
    pub fn parse(datagram: &[u8]) -> Option<Self> {
        let rest = datagram.strip_prefix(b"<")?;
        let close = rest.iter().position(|&b| b == b'>')?;
        let priority = std::str::from_utf8(&rest[..close]).ok()?.parse().ok()?;
        let text = String::from_utf8_lossy(&rest[close + 1..]);
        Some(MonitorMessage {
            priority,
            text: text.trim_end_matches('\n').to_string(),
        })
    }
}

/// One client socket connected to wpa_supplicant's socket for one interface. Removes its
/// socket file on drop.
#[derive(Debug)]
pub struct CtrlSocket {
    sock: UnixDatagram,
    local: PathBuf,
    peer: PathBuf,
    buf: Vec<u8>,
}

static SOCKET_COUNTER: AtomicU64 = AtomicU64::new(0);

impl CtrlSocket {
    /// Binds a new client socket in `client_dir` (which must exist) and connects it to
    /// `ctrl_path` (e.g. `/run/wpa_supplicant/wlan0`). Must be called inside a tokio
    /// runtime.
    ///
    /// Errors: [`CtrlError::PathTooLong`], [`CtrlError::Bind`], [`CtrlError::Connect`].
    pub fn connect(ctrl_path: &Path, client_dir: &Path) -> Result<Self, CtrlError> {
        let (sock, local) = bind_unique(client_dir)?;
        let me = CtrlSocket {
            sock,
            local,
            peer: ctrl_path.to_path_buf(),
            buf: vec![0; 8192],
        };
        me.sock
            .connect(ctrl_path)
            .map_err(|source| CtrlError::Connect {
                path: ctrl_path.to_path_buf(),
                source,
            })?;
        // Keep the socket file reachable for a wpa_supplicant that is not root.
        if let Err(e) = std::fs::set_permissions(
            &me.local,
            std::os::unix::fs::PermissionsExt::from_mode(0o660),
        ) {
            tracing::debug!(path = %me.local.display(), error = %e, "chmod control client socket");
        }
        Ok(me)
    }

    /// wpa_supplicant's socket this one is connected to.
    pub fn peer(&self) -> &Path {
        &self.peer
    }

    /// This client's socket path.
    pub fn local(&self) -> &Path {
        &self.local
    }

    /// Sends one request and returns the reply: the first datagram that does not start
    /// with `<` (unsolicited messages on this socket are skipped). The reply is returned
    /// whole, decoded as UTF-8 with invalid bytes replaced (wpa_supplicant escapes SSIDs and
    /// other raw bytes in what it prints).
    ///
    /// After a [`CtrlError::Timeout`] the socket must not be used again: a late reply
    /// would be taken for the next request's. The supervisor replaces it.
    pub async fn request(&mut self, request: &str, timeout: Duration) -> Result<String, CtrlError> {
        let label = request_label(request);
        check_request(request, &label)?;
        tracing::trace!(request = %label, peer = %self.peer.display(), "wpa_supplicant request");
        self.sock
            .send(request.as_bytes())
            .await
            .map_err(|source| CtrlError::Send {
                label: label.clone(),
                path: self.peer.clone(),
                source,
            })?;
        let deadline = Instant::now() + timeout;
        loop {
            let datagram = match tokio::time::timeout_at(deadline, self.recv()).await {
                Err(_) => {
                    return Err(CtrlError::Timeout {
                        label,
                        path: self.peer.clone(),
                        timeout,
                    })
                }
                Ok(r) => r?,
            };
            if datagram.first() == Some(&b'<') {
                continue;
            }
            return Ok(String::from_utf8_lossy(datagram).into_owned());
        }
    }

    /// Receives the next datagram, whole, into the socket's buffer (grown as needed).
    pub async fn recv(&mut self) -> Result<&[u8], CtrlError> {
        let err = |source| CtrlError::Recv {
            path: self.peer.clone(),
            source,
        };
        loop {
            self.sock.readable().await.map_err(err)?;
            let len = match self.sock.try_io(Interest::READABLE, || {
                // MSG_TRUNC makes recv return the datagram's real length (Linux).
                let mut none: [MaybeUninit<u8>; 0] = [];
                socket2::SockRef::from(&self.sock).recv_with_flags(
                    &mut none,
                    libc::MSG_PEEK | libc::MSG_TRUNC | libc::MSG_DONTWAIT,
                )
            }) {
                Ok(len) => len,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(err(e)),
            };
            if self.buf.len() < len {
                self.buf.resize(len, 0);
            }
            match self.sock.try_recv(&mut self.buf) {
                Ok(n) => return Ok(&self.buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(err(e)),
            }
        }
    }
}

impl Drop for CtrlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.local);
    }
}

fn check_request(request: &str, label: &str) -> Result<(), CtrlError> {
    if request.len() > MAX_REQUEST_LEN {
        return Err(CtrlError::TooLong {
            label: label.to_string(),
            len: request.len(),
        });
    }
    if request.as_bytes().contains(&0) {
        return Err(CtrlError::Nul {
            label: label.to_string(),
        });
    }
    Ok(())
}

/// Binds `client_dir/wpa_ctrl_<pid>-<n>`. An existing file of that name is removed only
/// when it is a dead socket (connecting to it is refused); a live one is skipped.
fn bind_unique(client_dir: &Path) -> Result<(UnixDatagram, PathBuf), CtrlError> {
    let pid = std::process::id();
    let mut last_err = None;
    for _ in 0..16 {
        let n = SOCKET_COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = client_dir.join(format!("wpa_ctrl_{pid}-{n}"));
        if path.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(CtrlError::PathTooLong { path });
        }
        match UnixDatagram::bind(&path) {
            Ok(sock) => return Ok((sock, path)),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                if is_dead_socket(&path) {
                    tracing::debug!(path = %path.display(), "removing stale control client socket");
                    let _ = std::fs::remove_file(&path);
                    match UnixDatagram::bind(&path) {
                        Ok(sock) => return Ok((sock, path)),
                        Err(source) => last_err = Some(CtrlError::Bind { path, source }),
                    }
                } else {
                    last_err = Some(CtrlError::Bind { path, source: e });
                }
            }
            Err(source) => return Err(CtrlError::Bind { path, source }),
        }
    }
    Err(last_err.unwrap_or_else(|| CtrlError::Bind {
        path: client_dir.to_path_buf(),
        source: io::Error::from(io::ErrorKind::AddrInUse),
    }))
}

/// A path whose socket nobody is bound to (connect refused). Anything else (a live socket,
/// a regular file, no permission) counts as not dead, so it is left alone.
fn is_dead_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    let is_socket = std::fs::symlink_metadata(path)
        .map(|m| m.file_type().is_socket())
        .unwrap_or(false);
    if !is_socket {
        return false;
    }
    match std::os::unix::net::UnixDatagram::unbound().and_then(|s| s.connect(path)) {
        Ok(()) => false,
        Err(e) => e.raw_os_error() == Some(libc::ECONNREFUSED),
    }
}

// ------------------------------------------------------------------ supervision

/// Settings of one supervised control connection.
#[derive(Debug, Clone)]
pub struct CtrlConfig {
    /// wpa_supplicant's `ctrl_interface` directory, e.g. `/run/wpa_supplicant`.
    pub ctrl_dir: PathBuf,
    /// The interface; the socket is `ctrl_dir/ifname`.
    pub ifname: String,
    /// Where client sockets are bound (netpilotd's run dir). Must exist.
    pub client_dir: PathBuf,
    /// How long a request waits for its reply. Default 5 s.
    pub request_timeout: Duration,
    /// How often an idle connection is checked with `PING`. Default 5 s; this bounds how
    /// long a killed wpa_supplicant goes unnoticed.
    pub ping_interval: Duration,
    /// First delay between connection attempts while unavailable; doubles up to
    /// `retry_max`. Default 100 ms.
    pub retry_min: Duration,
    /// Longest delay between connection attempts. Default 5 s.
    pub retry_max: Duration,
    /// Capacity of the event channel. Default 256. See [`CtrlEvent::Overflow`].
    pub event_capacity: usize,
}

impl CtrlConfig {
    /// Settings with the defaults above.
    pub fn new(
        ctrl_dir: impl Into<PathBuf>,
        ifname: impl Into<String>,
        client_dir: impl Into<PathBuf>,
    ) -> Self {
        CtrlConfig {
            ctrl_dir: ctrl_dir.into(),
            ifname: ifname.into(),
            client_dir: client_dir.into(),
            request_timeout: Duration::from_secs(5),
            ping_interval: Duration::from_secs(5),
            retry_min: Duration::from_millis(100),
            retry_max: Duration::from_secs(5),
            event_capacity: 256,
        }
    }

    /// `ctrl_dir/ifname`.
    pub fn ctrl_path(&self) -> PathBuf {
        self.ctrl_dir.join(&self.ifname)
    }
}

/// Why wpa_supplicant counts as unavailable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    /// It said `CTRL-EVENT-TERMINATING`.
    Terminating,
    /// Its socket refused a request (it exited or was restarted).
    Gone,
    /// It did not answer `PING` in time.
    NoReply,
    /// Reading the event socket failed (the error text).
    EventSocket(String),
}

/// What the supervisor reports, in order.
///
/// The channel is bounded ([`CtrlConfig::event_capacity`]) and the supervisor never waits
/// for the consumer: wpa_supplicant drops a monitor that does not read. When the channel
/// is full, messages are counted instead of queued, and the consumer gets
/// [`CtrlEvent::Overflow`] as soon as there is room, followed by the current availability
/// if it changed meanwhile. After `Overflow` the consumer must re-read what it relies on
/// (`STATUS`, the BSS table, `LIST_NETWORKS`). Availability changes are never lost but
/// may be merged: each new connection has a higher `generation`, so a consumer that sees
/// a new generation knows wpa_supplicant may have restarted (and forgotten its networks)
/// even if the `Unavailable` before it was merged away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CtrlEvent {
    /// Attached to wpa_supplicant; requests work. `generation` counts connections, from 1.
    Available {
        /// Connection count.
        generation: u64,
    },
    /// wpa_supplicant went away; requests fail with [`CtrlError::Unavailable`] until the
    /// next `Available`.
    Unavailable(Unavailable),
    /// An unsolicited message (at priority ≥ 3, info).
    Message(MonitorMessage),
    /// `lost` messages were dropped because the consumer was too slow.
    Overflow {
        /// How many.
        lost: u64,
    },
}

/// Handle to a supervised control connection. Cheap to clone; the task ends when every
/// handle is dropped.
#[derive(Debug, Clone)]
pub struct CtrlHandle {
    tx: mpsc::Sender<Command>,
    ifname: Arc<str>,
    available: watch::Receiver<bool>,
}

#[derive(Debug)]
struct Command {
    request: String,
    reply: oneshot::Sender<Result<String, CtrlError>>,
}

impl CtrlHandle {
    /// The interface this handle talks to.
    pub fn ifname(&self) -> &str {
        &self.ifname
    }

    /// Whether wpa_supplicant is attached now.
    pub fn is_available(&self) -> bool {
        *self.available.borrow()
    }

    /// Availability as a `watch` channel (`true` = attached), for waiting on changes
    /// without reading the event channel.
    pub fn watch_available(&self) -> watch::Receiver<bool> {
        self.available.clone()
    }

    /// Sends `request` and returns the raw reply (see [`CtrlSocket::request`]). Fails at
    /// once with [`CtrlError::Unavailable`] while wpa_supplicant is not attached, and with
    /// [`CtrlError::TooLong`] / [`CtrlError::Nul`] for requests it could not take.
    /// Requests are sent one at a time, in the order they arrive.
    pub async fn request(&self, request: &str) -> Result<String, CtrlError> {
        let label = request_label(request);
        check_request(request, &label)?;
        let stopped = || CtrlError::Stopped {
            label: label.clone(),
            ifname: self.ifname.to_string(),
        };
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command {
                request: request.to_string(),
                reply,
            })
            .await
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

/// Starts the supervisor of one interface's control socket. It connects when
/// `ctrl_dir/ifname` appears (retrying with backoff from `retry_min` to `retry_max`),
/// attaches an event socket, PINGs every `ping_interval`, and reports
/// [`CtrlEvent::Available`] / [`CtrlEvent::Unavailable`] when wpa_supplicant comes and
/// goes (`CTRL-EVENT-TERMINATING`, a refused socket, a PING without answer), reconnecting
/// by itself. A request that times out gets its socket replaced and triggers a PING.
/// It starts unavailable, so the first event is `Available { generation: 1 }` once attached.
/// Must be called inside a tokio runtime.
pub fn spawn(cfg: CtrlConfig) -> (CtrlHandle, mpsc::Receiver<CtrlEvent>) {
    let (tx, commands) = mpsc::channel(32);
    let (events_tx, events) = mpsc::channel(cfg.event_capacity.max(1));
    let (available_tx, available) = watch::channel(false);
    let handle = CtrlHandle {
        tx,
        ifname: Arc::from(cfg.ifname.as_str()),
        available,
    };
    let task = Supervisor {
        retry_delay: cfg.retry_min,
        cfg,
        commands,
        events: events_tx,
        available: available_tx,
        conn: None,
        connecting: None,
        in_flight: None,
        queue: VecDeque::new(),
        next_retry: Instant::now(),
        next_ping: Instant::now(),
        ping_due: false,
        generation: 0,
        lost: 0,
        pending_availability: None,
        delivered_availability: None,
    };
    let span = tracing::debug_span!("wpa_ctrl", ifname = %handle.ifname);
    tokio::spawn(tracing::Instrument::instrument(task.run(), span));
    (handle, events)
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Who waits for the request in flight.
enum Waiter {
    Caller(oneshot::Sender<Result<String, CtrlError>>),
    Ping,
}

struct Flight {
    socket: CtrlSocket,
    result: Result<String, CtrlError>,
}

struct Conn {
    /// `None` while its request is in flight (the flight owns it).
    request: Option<CtrlSocket>,
    monitor: CtrlSocket,
}

/// What woke the loop.
enum Wake {
    Command(Option<Command>),
    Flight(Flight),
    Connected(Result<Conn, CtrlError>),
    Monitor(Result<Vec<u8>, CtrlError>),
    Retry,
    Ping,
    Deliver(mpsc::OwnedPermit<CtrlEvent>),
    ConsumerGone,
}

struct Supervisor {
    cfg: CtrlConfig,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<CtrlEvent>,
    available: watch::Sender<bool>,
    conn: Option<Conn>,
    connecting: Option<BoxFuture<Result<Conn, CtrlError>>>,
    /// The request in flight, who waits for it, and its label.
    in_flight: Option<(BoxFuture<Flight>, Waiter, String)>,
    queue: VecDeque<(String, Waiter)>,
    retry_delay: Duration,
    next_retry: Instant,
    next_ping: Instant,
    /// A PING is queued or in flight.
    ping_due: bool,
    generation: u64,
    /// Messages dropped since the channel was last writable.
    lost: u64,
    /// Availability that could not be delivered yet (`Some(true)` with the generation).
    pending_availability: Option<CtrlEvent>,
    delivered_availability: Option<CtrlEvent>,
}

/// Awaits the future in `slot`, or never when there is none.
async fn maybe<T>(slot: &mut Option<BoxFuture<T>>) -> T {
    match slot {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

impl Supervisor {
    async fn run(mut self) {
        tracing::debug!(path = %self.cfg.ctrl_path().display(), "wpa_supplicant supervisor started");
        loop {
            let backlog = self.lost > 0 || self.pending_availability.is_some();
            let idle = self.conn.is_none() && self.connecting.is_none();
            let can_ping = self.conn.is_some() && !self.ping_due;
            let (next_retry, next_ping) = (self.next_retry, self.next_ping);
            let events = self.events.clone();
            let (in_flight, conn) = (&mut self.in_flight, &mut self.conn);
            let flight = async move {
                match in_flight {
                    Some((f, _, _)) => f.await,
                    None => std::future::pending().await,
                }
            };
            let monitor = async move {
                match conn {
                    Some(c) => c.monitor.recv().await.map(|d| d.to_vec()),
                    None => std::future::pending().await,
                }
            };
            let wake = tokio::select! {
                c = self.commands.recv() => Wake::Command(c),
                f = flight => Wake::Flight(f),
                c = maybe(&mut self.connecting) => Wake::Connected(c),
                m = monitor => Wake::Monitor(m),
                _ = sleep_until(next_retry), if idle => Wake::Retry,
                _ = sleep_until(next_ping), if can_ping => Wake::Ping,
                p = events.reserve_owned(), if backlog => match p {
                    Ok(p) => Wake::Deliver(p),
                    // The consumer is gone: nothing to deliver any more.
                    Err(_) => Wake::ConsumerGone,
                },
            };
            match wake {
                Wake::Command(None) => break,
                Wake::Command(Some(c)) => self.on_command(c),
                Wake::Flight(f) => self.on_flight(f),
                Wake::Connected(r) => self.on_connected(r),
                Wake::Monitor(r) => self.on_monitor(r),
                Wake::Retry => self.start_connect(),
                Wake::Ping => {
                    self.ping_due = true;
                    self.queue.push_back(("PING".to_string(), Waiter::Ping));
                    self.start_next();
                }
                Wake::Deliver(permit) => self.deliver_backlog(permit),
                Wake::ConsumerGone => {
                    self.lost = 0;
                    self.pending_availability = None;
                }
            }
        }
        tracing::debug!("wpa_supplicant supervisor stopped");
    }

    fn unavailable_error(&self, request: &str) -> CtrlError {
        CtrlError::Unavailable {
            label: request_label(request),
            ifname: self.cfg.ifname.clone(),
        }
    }

    fn on_command(&mut self, c: Command) {
        if self.conn.is_none() {
            let _ = c.reply.send(Err(self.unavailable_error(&c.request)));
            return;
        }
        self.queue.push_back((c.request, Waiter::Caller(c.reply)));
        self.start_next();
    }

    /// Sends the next queued request when none is in flight.
    fn start_next(&mut self) {
        if self.in_flight.is_some() {
            return;
        }
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let Some(mut socket) = conn.request.take() else {
            return;
        };
        let Some((request, waiter)) = self.queue.pop_front() else {
            conn.request = Some(socket);
            return;
        };
        let timeout = self.cfg.request_timeout;
        let label = request_label(&request);
        let fut = Box::pin(async move {
            let result = socket.request(&request, timeout).await;
            Flight { socket, result }
        });
        self.in_flight = Some((fut, waiter, label));
    }

    fn on_flight(&mut self, flight: Flight) {
        let Some((_, waiter, _)) = self.in_flight.take() else {
            return;
        };
        let Flight { socket, result } = flight;
        let gone = result.as_ref().err().is_some_and(CtrlError::peer_gone);
        let timed_out = matches!(result, Err(CtrlError::Timeout { .. }));
        let is_ping = matches!(waiter, Waiter::Ping);
        match waiter {
            Waiter::Caller(reply) => {
                let _ = reply.send(result);
            }
            Waiter::Ping => {
                self.ping_due = false;
                self.next_ping = Instant::now() + self.cfg.ping_interval;
                match &result {
                    Ok(r) if r.trim_end() == "PONG" => {}
                    Ok(r) => tracing::warn!(reply = %r.trim_end(), "unexpected PING reply"),
                    Err(e) => tracing::debug!(error = %chain(e), "PING failed"),
                }
            }
        }
        if gone {
            self.go_unavailable(Unavailable::Gone);
            return;
        }
        if timed_out {
            if is_ping {
                self.go_unavailable(Unavailable::NoReply);
                return;
            }
            // A late reply must not reach the next request: new socket, and check the peer.
            drop(socket);
            match CtrlSocket::connect(&self.cfg.ctrl_path(), &self.cfg.client_dir) {
                Ok(s) => {
                    if let Some(conn) = self.conn.as_mut() {
                        conn.request = Some(s);
                    }
                    self.next_ping = Instant::now();
                }
                Err(e) => {
                    tracing::debug!(error = %chain(&e), "replace request socket");
                    self.go_unavailable(Unavailable::Gone);
                    return;
                }
            }
        } else if let Some(conn) = self.conn.as_mut() {
            conn.request = Some(socket);
        }
        self.start_next();
    }

    fn on_monitor(&mut self, r: Result<Vec<u8>, CtrlError>) {
        let datagram = match r {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %chain(&e), "event socket failed");
                self.go_unavailable(Unavailable::EventSocket(e.to_string()));
                return;
            }
        };
        let Some(msg) = MonitorMessage::parse(&datagram) else {
            tracing::debug!(
                len = datagram.len(),
                "event socket: not a <N> message, ignored"
            );
            return;
        };
        let terminating = msg.text.starts_with("CTRL-EVENT-TERMINATING");
        self.emit(CtrlEvent::Message(msg));
        if terminating {
            self.go_unavailable(Unavailable::Terminating);
        }
    }

    fn start_connect(&mut self) {
        let path = self.cfg.ctrl_path();
        let client_dir = self.cfg.client_dir.clone();
        let timeout = self.cfg.request_timeout;
        self.connecting = Some(Box::pin(async move {
            if !path.exists() {
                return Err(CtrlError::Connect {
                    path,
                    source: io::Error::from(io::ErrorKind::NotFound),
                });
            }
            let mut monitor = CtrlSocket::connect(&path, &client_dir)?;
            let reply = monitor.request("ATTACH", timeout).await?;
            if reply.trim_end() != "OK" {
                return Err(CtrlError::AttachRefused {
                    path,
                    reply: reply.trim_end().to_string(),
                });
            }
            let mut request = CtrlSocket::connect(&path, &client_dir)?;
            let pong = request.request("PING", timeout).await?;
            if pong.trim_end() != "PONG" {
                return Err(CtrlError::AttachRefused {
                    path,
                    reply: pong.trim_end().to_string(),
                });
            }
            Ok(Conn {
                request: Some(request),
                monitor,
            })
        }));
    }

    fn on_connected(&mut self, r: Result<Conn, CtrlError>) {
        self.connecting = None;
        match r {
            Ok(conn) => {
                self.conn = Some(conn);
                self.generation += 1;
                self.retry_delay = self.cfg.retry_min;
                self.next_ping = Instant::now() + self.cfg.ping_interval;
                self.ping_due = false;
                let _ = self.available.send(true);
                tracing::info!(generation = self.generation, "wpa_supplicant available");
                self.emit(CtrlEvent::Available {
                    generation: self.generation,
                });
            }
            Err(e) => {
                tracing::debug!(error = %chain(&e), retry_in = ?self.retry_delay, "wpa_supplicant not reachable");
                self.next_retry = Instant::now() + self.retry_delay;
                self.retry_delay = (self.retry_delay * 2).min(self.cfg.retry_max);
            }
        }
    }

    fn go_unavailable(&mut self, why: Unavailable) {
        if let Some(conn) = self.conn.take() {
            // Best effort: a live wpa_supplicant stops sending to the old monitor.
            let _ = conn.monitor.sock.try_send(b"DETACH");
            drop(conn);
        }
        if let Some((_, Waiter::Caller(reply), label)) = self.in_flight.take() {
            let _ = reply.send(Err(CtrlError::Unavailable {
                label,
                ifname: self.cfg.ifname.clone(),
            }));
        }
        for (request, waiter) in std::mem::take(&mut self.queue) {
            if let Waiter::Caller(reply) = waiter {
                let _ = reply.send(Err(self.unavailable_error(&request)));
            }
        }
        self.ping_due = false;
        let _ = self.available.send(false);
        tracing::warn!(reason = ?why, "wpa_supplicant unavailable");
        self.emit(CtrlEvent::Unavailable(why));
        self.retry_delay = self.cfg.retry_min;
        self.next_retry = Instant::now() + self.retry_delay;
    }

    /// Queues an event without waiting (see [`CtrlEvent`] for the overflow rule).
    fn emit(&mut self, ev: CtrlEvent) {
        let is_availability = !matches!(ev, CtrlEvent::Message(_) | CtrlEvent::Overflow { .. });
        let backlog = self.lost > 0 || self.pending_availability.is_some();
        if !backlog {
            let copy = is_availability.then(|| ev.clone());
            match self.events.try_send(ev) {
                Ok(()) => {
                    if copy.is_some() {
                        self.delivered_availability = copy;
                    }
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => return,
                Err(mpsc::error::TrySendError::Full(ev)) => {
                    if is_availability {
                        self.pending_availability = Some(ev);
                    } else {
                        self.lost += 1;
                    }
                    tracing::warn!("wpa_supplicant event channel full: dropping events until the consumer catches up");
                    return;
                }
            }
        }
        if is_availability {
            self.pending_availability = Some(ev);
        } else {
            self.lost += 1;
        }
    }

    fn deliver_backlog(&mut self, permit: mpsc::OwnedPermit<CtrlEvent>) {
        if self.lost > 0 {
            let lost = std::mem::take(&mut self.lost);
            tracing::warn!(
                lost,
                "wpa_supplicant events dropped; consumer told to re-read"
            );
            permit.send(CtrlEvent::Overflow { lost });
            return;
        }
        if let Some(ev) = self.pending_availability.take() {
            if self.delivered_availability.as_ref() != Some(&ev) {
                self.delivered_availability = Some(ev.clone());
                permit.send(ev);
            }
        }
    }
}

/// `error: cause: cause…`, for logs.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_never_show_values() {
        assert_eq!(
            request_label("SET_NETWORK 3 psk \"secretpass1\""),
            "SET_NETWORK 3 psk"
        );
        assert_eq!(
            request_label("SET_NETWORK 3 password 414243"),
            "SET_NETWORK 3 password"
        );
        assert_eq!(request_label("SET country DE"), "SET country");
        assert_eq!(
            request_label("CTRL-RSP-PASSWORD-1:hunter2"),
            "CTRL-RSP-PASSWORD-1"
        );
        assert_eq!(request_label("BSS NEXT-4 MASK=0x1"), "BSS NEXT-4 MASK=0x1");
        assert_eq!(request_label("SET_NETWORK"), "SET_NETWORK");
        let long = "X".repeat(100);
        assert_eq!(request_label(&long).chars().count(), 65);
    }

    #[test]
    fn monitor_prefix() {
        assert_eq!(
            MonitorMessage::parse(b"<3>CTRL-EVENT-SCAN-RESULTS "),
            Some(MonitorMessage {
                priority: 3,
                text: "CTRL-EVENT-SCAN-RESULTS ".into()
            })
        );
        assert_eq!(
            MonitorMessage::parse(b"<4>x\n").map(|m| m.text),
            Some("x".into())
        );
        for bad in [&b"OK\n"[..], b"<", b"<>x", b"<3", b"<a>x", b"<999>x", b""] {
            assert_eq!(MonitorMessage::parse(bad), None, "{bad:?}");
        }
    }

    /// A scripted datagram peer on a real socket: answers `ATTACH`/`DETACH` with `OK`,
    /// `PING` with `PONG`, `BIG` with a 100000-byte reply, `SLOW` never; everything it
    /// receives goes to `seen`. `flood` makes it send that many events to the attached
    /// client, then `CTRL-EVENT-TERMINATING`.
    struct FakePeer {
        path: PathBuf,
        seen: mpsc::UnboundedReceiver<String>,
        flood: mpsc::UnboundedSender<usize>,
        _task: tokio::task::JoinHandle<()>,
    }

    fn fake_peer(dir: &Path, ifname: &str) -> FakePeer {
        let path = dir.join(ifname);
        let sock = UnixDatagram::bind(&path).expect("bind fake peer");
        let (seen_tx, seen) = mpsc::unbounded_channel();
        let (flood, mut flood_rx) = mpsc::unbounded_channel::<usize>();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 9000];
            let mut attached = None;
            loop {
                tokio::select! {
                    r = sock.recv_from(&mut buf) => {
                        let Ok((n, from)) = r else { return };
                        let Some(from) = from.as_pathname().map(Path::to_path_buf) else { continue };
                        let req = String::from_utf8_lossy(&buf[..n]).into_owned();
                        let _ = seen_tx.send(req.clone());
                        let reply: Vec<u8> = match req.as_str() {
                            "ATTACH" => { attached = Some(from.clone()); b"OK\n".to_vec() }
                            "DETACH" => b"OK\n".to_vec(),
                            "PING" => {
                                // An unsolicited message first: it is not the reply.
                                let _ = sock.send_to(b"<3>CTRL-EVENT-SCAN-STARTED ", &from).await;
                                b"PONG\n".to_vec()
                            }
                            "BIG" => (0..100_000).map(|i| b'a' + (i % 26) as u8).collect(),
                            _ => continue,
                        };
                        let _ = sock.send_to(&reply, &from).await;
                    }
                    n = flood_rx.recv() => {
                        let Some(n) = n else { return };
                        if let Some(to) = &attached {
                            for i in 0..n {
                                let ev = format!("<3>CTRL-EVENT-BSS-ADDED {i} 02:00:00:00:00:01");
                                let _ = sock.send_to(ev.as_bytes(), to).await;
                            }
                            let _ = sock.send_to(b"<3>CTRL-EVENT-TERMINATING ", to).await;
                        }
                    }
                }
            }
        });
        FakePeer {
            path,
            seen,
            flood,
            _task: task,
        }
    }

    #[tokio::test]
    async fn whole_replies_skipping_unsolicited_messages() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut peer = fake_peer(dir.path(), "wlan0");
        let mut sock = CtrlSocket::connect(&peer.path, dir.path()).expect("connect");
        let local = sock.local().to_path_buf();
        assert!(local.starts_with(dir.path()));
        let pong = sock
            .request("PING", Duration::from_secs(5))
            .await
            .expect("PING");
        assert_eq!(pong, "PONG\n");
        assert_eq!(peer.seen.recv().await.as_deref(), Some("PING"));
        let big = sock
            .request("BIG", Duration::from_secs(5))
            .await
            .expect("BIG");
        assert_eq!(big.len(), 100_000, "not cut");
        let want: String = (0..100_000)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        assert_eq!(big, want);
        let r = sock.request("SLOW", Duration::from_millis(100)).await;
        assert!(matches!(r, Err(CtrlError::Timeout { .. })), "{r:?}");
        drop(sock);
        assert!(!local.exists(), "client socket removed on drop");
    }

    #[tokio::test]
    async fn client_names_never_clobber_live_sockets() {
        let dir = tempfile::tempdir().expect("temp dir");
        let peer = fake_peer(dir.path(), "wlan0");
        // Whatever name comes next: put a live socket there and a dead one after it.
        let n = SOCKET_COUNTER.load(Ordering::Relaxed);
        let pid = std::process::id();
        let live_path = dir.path().join(format!("wpa_ctrl_{pid}-{n}"));
        let live = std::os::unix::net::UnixDatagram::bind(&live_path).expect("live");
        let dead_path = dir.path().join(format!("wpa_ctrl_{pid}-{}", n + 1));
        drop(std::os::unix::net::UnixDatagram::bind(&dead_path).expect("dead"));
        assert!(dead_path.exists());
        let sock = CtrlSocket::connect(&peer.path, dir.path()).expect("connect");
        // Other tests may take numbers in between; ours is never the live one.
        assert_ne!(sock.local(), live_path.as_path());
        let probe = std::os::unix::net::UnixDatagram::unbound().expect("probe");
        probe
            .send_to(b"still mine", &live_path)
            .expect("live socket still bound");
        let mut buf = [0u8; 16];
        assert_eq!(live.recv(&mut buf).ok(), Some(10));
        if sock.local() == dead_path.as_path() {
            assert!(dead_path.exists());
        }
        // A path that does not fit sun_path is refused with a clear error.
        let deep = dir.path().join("d".repeat(120));
        assert!(matches!(
            CtrlSocket::connect(&peer.path, &deep),
            Err(CtrlError::PathTooLong { .. })
        ));
        let missing = CtrlSocket::connect(&dir.path().join("nope"), dir.path());
        assert!(
            matches!(missing, Err(CtrlError::Connect { .. })),
            "{missing:?}"
        );
    }

    #[tokio::test]
    async fn slow_consumer_gets_overflow_and_nothing_is_lost_silently() {
        let dir = tempfile::tempdir().expect("temp dir");
        let peer = fake_peer(dir.path(), "wlan0");
        let mut cfg = CtrlConfig::new(dir.path(), "wlan0", dir.path());
        cfg.event_capacity = 4;
        cfg.ping_interval = Duration::from_secs(3600);
        cfg.retry_min = Duration::from_secs(3600);
        let (handle, mut events) = spawn(cfg);
        assert_eq!(
            events.recv().await,
            Some(CtrlEvent::Available { generation: 1 })
        );
        let mut available = handle.watch_available();
        assert!(*available.borrow_and_update());
        // 50 events and TERMINATING into a channel of 4 while nobody reads. The monitor
        // socket is read in order, so once TERMINATING made it unavailable, all 51 were read.
        peer.flood.send(50).expect("flood");
        tokio::time::timeout(Duration::from_secs(10), available.wait_for(|a| !a))
            .await
            .expect("TERMINATING read in time")
            .expect("supervisor alive");
        assert!(matches!(
            handle.request("PING").await,
            Err(CtrlError::Unavailable { .. })
        ));
        let mut got = Vec::new();
        while let Ok(Some(ev)) = tokio::time::timeout(Duration::from_secs(2), events.recv()).await {
            let last = matches!(ev, CtrlEvent::Unavailable(_));
            got.push(ev);
            if last {
                break;
            }
        }
        assert_eq!(got.len(), 6, "{got:?}");
        for (i, ev) in got[..4].iter().enumerate() {
            assert!(
                matches!(ev, CtrlEvent::Message(m) if m.text.starts_with(&format!("CTRL-EVENT-BSS-ADDED {i} "))),
                "{ev:?}"
            );
        }
        // 46 BSS-ADDED and TERMINATING itself were counted, then the state change came.
        assert_eq!(got[4], CtrlEvent::Overflow { lost: 47 });
        assert_eq!(got[5], CtrlEvent::Unavailable(Unavailable::Terminating));
    }

    #[test]
    fn requests_wpa_supplicant_would_drop_are_refused() {
        let label = "X";
        assert!(check_request(&"A".repeat(MAX_REQUEST_LEN), label).is_ok());
        assert!(matches!(
            check_request(&"A".repeat(MAX_REQUEST_LEN + 1), label),
            Err(CtrlError::TooLong { len, .. }) if len == MAX_REQUEST_LEN + 1
        ));
        assert!(matches!(
            check_request("PI\0NG", label),
            Err(CtrlError::Nul { .. })
        ));
    }
}
