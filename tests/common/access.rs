//! Clients with real identities for the access tests: Unix-socket connections made by a
//! thread that switched to another uid, gid and groups (so SO_PEERCRED and SO_PEERGROUPS
//! see them), TCP connections made from inside a test namespace (TLS to a daemon there),
//! and a test PKI made with netpilot's own `certs` module.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use hyper_util::rt::TokioIo;
use netpilot::certs::{self, Pem, Request, Usage};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity, Uri};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Unix-socket credentials a client thread takes before it connects.
#[derive(Debug, Clone)]
pub struct As {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

impl As {
    pub fn user(uid: u32, gid: u32) -> Self {
        As {
            uid,
            gid,
            groups: vec![],
        }
    }
}

/// Connects to `socket` from a thread running with `who`'s credentials (raw per-thread
/// syscalls: the rest of the test keeps root).
pub fn connect_unix_as(socket: &Path, who: &As) -> std::io::Result<std::os::unix::net::UnixStream> {
    let socket = socket.to_path_buf();
    let who = who.clone();
    std::thread::spawn(move || {
        // SAFETY: raw syscalls that change only this thread's credentials; the buffers are
        // valid for the lengths given.
        unsafe {
            let groups: Vec<libc::gid_t> = who.groups.clone();
            if libc::syscall(libc::SYS_setgroups, groups.len(), groups.as_ptr()) != 0
                || libc::syscall(libc::SYS_setresgid, who.gid, who.gid, who.gid) != 0
                || libc::syscall(libc::SYS_setresuid, who.uid, who.uid, who.uid) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
        }
        std::os::unix::net::UnixStream::connect(&socket)
    })
    .join()
    .expect("connect thread")
}

/// Connects to `addr` from inside network namespace `ns` (a thread that entered it).
pub fn connect_tcp_in(ns: &str, addr: SocketAddr) -> std::io::Result<std::net::TcpStream> {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let f = std::fs::File::open(&path)?;
        use std::os::fd::AsRawFd;
        // SAFETY: setns with an open namespace file; it changes only this thread.
        if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5))
    })
    .join()
    .expect("connect thread")
}

/// Where a test client connects.
#[derive(Clone)]
pub enum Target {
    /// The Unix socket, as these credentials.
    Unix(PathBuf, As),
    /// TCP inside a namespace.
    Tcp(String, SocketAddr),
}

/// A tonic connector for a [`Target`].
#[derive(Clone)]
pub struct Connector(pub Target);

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<Box<dyn Io>>;
    type Error = std::io::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let target = self.0.clone();
        Box::pin(async move {
            let io: Box<dyn Io> = match target {
                Target::Unix(path, who) => {
                    let s = tokio::task::spawn_blocking(move || connect_unix_as(&path, &who))
                        .await
                        .expect("join")?;
                    s.set_nonblocking(true)?;
                    Box::new(tokio::net::UnixStream::from_std(s)?)
                }
                Target::Tcp(ns, addr) => {
                    let s = tokio::task::spawn_blocking(move || connect_tcp_in(&ns, addr))
                        .await
                        .expect("join")?;
                    s.set_nonblocking(true)?;
                    Box::new(tokio::net::TcpStream::from_std(s)?)
                }
            };
            Ok(TokioIo::new(io))
        })
    }
}

/// What a connection is.
pub trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Io for T {}

/// A channel to the Unix socket as `who`.
pub async fn unix_as(socket: &Path, who: &As) -> Result<Channel, tonic::transport::Error> {
    Endpoint::from_static("http://localhost")
        .connect_timeout(Duration::from_secs(5))
        .connect_with_connector(Connector(Target::Unix(socket.to_path_buf(), who.clone())))
        .await
}

/// A channel to `addr` inside `ns`: mutual TLS with `tls`, else plain HTTP/2.
pub async fn tcp_in(
    ns: &str,
    addr: SocketAddr,
    tls: Option<ClientTlsConfig>,
) -> Result<Channel, tonic::transport::Error> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut endpoint = Endpoint::from_shared(format!("{scheme}://localhost:{}", addr.port()))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10));
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls)?;
    }
    endpoint
        .connect_with_connector(Connector(Target::Tcp(ns.to_string(), addr)))
        .await
}

/// Client TLS settings: trust `ca`, present `client` (if any).
pub fn client_tls(ca: &Pem, client: Option<&Pem>) -> ClientTlsConfig {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&ca.cert))
        .domain_name("localhost");
    if let Some(c) = client {
        tls = tls.identity(Identity::from_pem(&c.cert, &c.key));
    }
    tls
}

/// A fleet PKI for tests, made with `netpilot::certs` (as `netpilot certs` does).
pub struct TestPki {
    pub dir: PathBuf,
    pub ca: Pem,
    pub server: Pem,
    pub admin: Pem,
    pub user: Pem,
    pub viewer: Pem,
    pub stranger: Pem,
    pub expired: Pem,
    pub other_ca: Pem,
    pub intruder: Pem,
}

impl TestPki {
    pub fn new(dir: &Path) -> Self {
        let ca = certs::new_ca("netpilot test CA", 2).expect("ca");
        let issue = |ca: &Pem, cn: &str, usage: Usage, f: &dyn Fn(&mut Request)| {
            let mut req = Request::new(cn, usage, 2);
            f(&mut req);
            certs::issue(ca, &req).expect("issue")
        };
        let none = |_: &mut Request| {};
        let server = issue(&ca, "netpilotd", Usage::Server, &|r| {
            r.dns.push("localhost".into());
            r.ips.push("127.0.0.1".parse().expect("ip"));
        });
        let other_ca = certs::new_ca("another CA", 2).expect("ca");
        let pki = TestPki {
            dir: dir.to_path_buf(),
            admin: issue(&ca, "fleet-controller", Usage::Client, &none),
            user: issue(&ca, "robot-ops", Usage::Client, &|r| {
                r.dns.push("ops.fleet.test".into())
            }),
            viewer: issue(&ca, "dashboard", Usage::Client, &|r| {
                r.uris.push("spiffe://fleet/dashboard".into())
            }),
            stranger: issue(&ca, "stranger", Usage::Client, &none),
            expired: issue(&ca, "fleet-controller", Usage::Client, &|r| {
                let now = SystemTime::now();
                r.not_before = now - Duration::from_secs(10 * 86_400);
                r.not_after = now - Duration::from_secs(86_400);
            }),
            intruder: issue(&other_ca, "fleet-controller", Usage::Client, &none),
            ca,
            server,
            other_ca,
        };
        certs::write(dir, "ca", &pki.ca).expect("write");
        certs::write(dir, "server", &pki.server).expect("write");
        for (name, pem) in [
            ("admin", &pki.admin),
            ("user", &pki.user),
            ("viewer", &pki.viewer),
            ("stranger", &pki.stranger),
        ] {
            certs::write(dir, name, pem).expect("write");
        }
        pki
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// The `[tls]` section for a daemon listening on `addr`.
    pub fn tls_section(&self, addr: &str) -> String {
        format!(
            "[tls]\nlisten = \"{addr}\"\ncert = \"{}\"\nkey = \"{}\"\nclient_ca = \"{}\"\n",
            self.path("server.pem"),
            self.path("server.key"),
            self.path("ca.pem")
        )
    }
}

/// A connection whose reads stop for good once told: a client that never reads.
pub struct StopReading<T> {
    inner: T,
    stopped: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// Stops the reads of a [`StopReading`].
pub struct ReadSwitch(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl ReadSwitch {
    pub fn stop(&self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl<T> StopReading<T> {
    pub fn new(inner: T) -> (ReadSwitch, Self) {
        let stopped = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        (ReadSwitch(stopped.clone()), StopReading { inner, stopped })
    }
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for StopReading<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.stopped.load(std::sync::atomic::Ordering::SeqCst) {
            return Poll::Pending;
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for StopReading<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
