//! Testbed for integration tests (DESIGN §5): every test gets its own network namespaces,
//! veth pairs with addresses from 198.18.0.0/15, a netpilotd started inside the daemon
//! namespace with its socket and state under a temp dir, and RAII guards that remove all of
//! it even when the test fails.
#![allow(dead_code)]

pub mod access;
pub mod eap;
pub mod hwsim;
pub mod pki;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use netpilot::pb;
use netpilot::pb::manager_service_client::ManagerServiceClient;
use netpilot::pb::session_service_client::SessionServiceClient;
use tonic::transport::{Channel, Endpoint};

/// How long a test waits for a condition before it fails. A deadline, not a measurement.
pub const DEADLINE: Duration = Duration::from_secs(15);

/// Fails the test unless it runs as root: namespace tests must run, not skip.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "netns integration tests need root (CAP_NET_ADMIN); run them with `sudo make test`"
    );
}

/// Runs a command and fails the test with its output when it fails.
pub fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace, deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Creates `np-<pid>-<n>-<tag>` with loopback up.
    pub fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "np-{}-{}-{tag}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        run("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n <ns> ARGS…`.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// `ip netns exec <ns> PROGRAM ARGS…`.
    pub fn exec(&self, program: &str, args: &[&str]) -> String {
        let mut all = vec!["netns", "exec", self.name.as_str(), program];
        all.extend_from_slice(args);
        run("ip", &all)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// The daemon's namespace and a peer namespace, joined by veth pairs. On drop it checks
/// that the machine's own addresses, routes and /etc/resolv.conf did not change.
pub struct Testbed {
    pub host: Netns,
    pub peer: Netns,
    machine: String,
}

/// The machine's (not a test namespace's) addresses, routes and resolv.conf, without
/// lifetimes or counters.
fn machine_state() -> String {
    let addrs: serde_json::Value =
        serde_json::from_str(&run("ip", &["-j", "addr"])).expect("ip -j addr");
    let mut lines: Vec<String> = Vec::new();
    for link in addrs.as_array().into_iter().flatten() {
        for a in link["addr_info"].as_array().into_iter().flatten() {
            lines.push(format!(
                "addr {} {}/{}",
                link["ifname"], a["local"], a["prefixlen"]
            ));
        }
    }
    for family in ["-4", "-6"] {
        let routes: serde_json::Value =
            serde_json::from_str(&run("ip", &[family, "-j", "route"])).expect("ip -j route");
        for r in routes.as_array().into_iter().flatten() {
            lines.push(format!(
                "route {} via {} dev {} metric {}",
                r["dst"], r["gateway"], r["dev"], r["metric"]
            ));
        }
    }
    lines.sort();
    lines.push(std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default());
    lines.join("\n")
}

impl Testbed {
    pub fn new() -> Self {
        require_root();
        Testbed {
            host: Netns::new("d"),
            peer: Netns::new("p"),
            machine: machine_state(),
        }
    }

    /// A veth pair `name` (daemon side, admin-up) ⇄ `peer_name` (peer side, admin-up, so
    /// the daemon side has carrier).
    pub fn veth(&self, name: &str, peer_name: &str) {
        run(
            "ip",
            &[
                "link",
                "add",
                name,
                "netns",
                &self.host.name,
                "type",
                "veth",
                "peer",
                "name",
                peer_name,
                "netns",
                &self.peer.name,
            ],
        );
        self.peer.ip(&["link", "set", peer_name, "up"]);
        self.host.ip(&["link", "set", name, "up"]);
    }

    /// Carrier on the daemon side, by setting the peer end up or down.
    pub fn carrier(&self, peer_name: &str, on: bool) {
        self.peer
            .ip(&["link", "set", peer_name, if on { "up" } else { "down" }]);
    }

    /// The MAC of a daemon-side link, as in service ids: `ethernet_<hex>_cable`.
    pub fn service_id(&self, name: &str) -> String {
        let json = self.host.ip(&["-j", "link", "show", name]);
        let v: serde_json::Value = serde_json::from_str(&json).expect("ip -j output");
        let mac = v[0]["address"].as_str().expect("address").replace(':', "");
        format!("ethernet_{mac}_cable")
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert_eq!(
                machine_state(),
                self.machine,
                "the test changed the machine outside its namespaces"
            );
        }
    }
}

/// A process started in a test namespace (a DHCP server, an HTTP endpoint); killed by its
/// PID on drop.
pub struct Peer {
    child: Child,
    pub name: String,
}

impl Peer {
    /// Starts `program args…` in `ns`; its stderr goes to `log`.
    pub fn start(ns: &Netns, name: &str, program: &str, args: &[&str], log: &Path) -> Self {
        let log = std::fs::File::create(log).expect("peer log");
        let child = Command::new("ip")
            .args(["netns", "exec", &ns.name, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Peer {
            child,
            name: name.to_string(),
        }
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill with the PID of a child we spawned and have not reaped.
        let rc = unsafe { libc::kill(self.child.id() as i32, signal) };
        assert_eq!(rc, 0, "signal {} to {}", signal, self.name);
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Path of a file under tests/peers/.
pub fn peer_script(name: &str) -> String {
    format!("{}/tests/peers/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A running netpilotd, inside a test namespace. Killed (by its PID) on drop.
pub struct Daemon {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Daemon {
    /// Starts netpilotd in `ns` with the TOML `config` (which must not have a `[dns]`
    /// table: the harness puts resolv.conf in the temp dir) and waits until its socket
    /// answers.
    pub async fn start(ns: &Netns, config: &str, extra: &[&str]) -> Self {
        Self::start_with(ns, config, "file", &[], extra).await
    }

    /// Like [`Daemon::start`], with a DNS backend ("file" or "resolved") and extra
    /// environment variables for the daemon.
    pub async fn start_with(
        ns: &Netns,
        config: &str,
        dns_backend: &str,
        env: &[(&str, String)],
        extra: &[&str],
    ) -> Self {
        assert!(!config.contains("[dns]"), "the harness owns [dns]");
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = dir.path().join("netpilot.sock");
        let config_path = dir.path().join("netpilot.toml");
        let resolv = dir.path().join("resolv.conf");
        std::fs::write(
            &config_path,
            format!(
                "{config}\n[dns]\nbackend = {dns_backend:?}\nresolv_conf = {:?}\n",
                resolv.display().to_string()
            ),
        )
        .expect("write config");
        let (state, runtime) = (dir.path().join("state"), dir.path().join("run"));
        let mut args: Vec<String> = vec![
            "netns".into(),
            "exec".into(),
            ns.name.clone(),
            env!("CARGO_BIN_EXE_netpilotd").into(),
            "--config".into(),
            config_path.display().to_string(),
            "--socket".into(),
            socket.display().to_string(),
            "--state-dir".into(),
            state.display().to_string(),
            "--run-dir".into(),
            runtime.display().to_string(),
        ];
        // Debug unless the test asks for another level.
        if !extra.contains(&"--log-level") {
            args.extend(["--log-level".into(), "debug".into()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let mut daemon = Daemon {
            child: None,
            dir,
            socket,
            args,
            env,
        };
        daemon.spawn().await;
        daemon
    }

    async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("netpilotd.log"))
            .expect("log file");
        // `ip netns exec` execs the program, so the child's PID is netpilotd's.
        let child = Command::new("ip")
            .args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn netpilotd");
        self.child = Some(child);
        let start = Instant::now();
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "netpilotd exited with {status} before serving:\n{}",
                    self.log()
                );
            }
            if self.socket.exists() && self.try_channel().await.is_some() {
                return;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "netpilotd did not serve in time:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the daemon with SIGTERM and starts it again with the same config and state.
    pub async fn restart(&mut self) {
        self.sigterm();
        let status = self.wait_exit().await;
        assert!(status.success(), "netpilotd exit status {status}");
        self.spawn().await;
    }

    /// Kills the daemon with SIGKILL (no cleanup, as in a crash) and waits for it.
    pub async fn kill(&mut self) {
        // SAFETY: kill with the PID of a child we spawned and have not reaped.
        let rc = unsafe { libc::kill(self.pid(), libc::SIGKILL) };
        assert_eq!(rc, 0, "kill -KILL {}", self.pid());
        self.wait_exit().await;
    }

    /// Starts a stopped daemon again with the same config and state.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "still running");
        self.spawn().await;
    }

    /// The command line that started the daemon (`ip netns exec NS netpilotd …`), to start
    /// another instance on the same paths.
    pub fn command_line(&self) -> Vec<String> {
        self.args.clone()
    }

    /// The daemon's config file (with the harness's `[dns]` table at its end).
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("netpilot.toml")
    }

    /// The resolv.conf the daemon writes.
    pub fn resolv_conf(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("resolv.conf")).unwrap_or_default()
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("netpilotd.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> i32 {
        self.child
            .as_ref()
            .map(|c| c.id() as i32)
            .expect("daemon running")
    }

    async fn try_channel(&self) -> Option<Channel> {
        let uri = format!("unix://{}", self.socket.display());
        let endpoint = Endpoint::from_shared(uri).ok()?;
        tokio::time::timeout(DEADLINE, endpoint.connect())
            .await
            .ok()?
            .ok()
    }

    pub async fn channel(&self) -> Channel {
        self.try_channel()
            .await
            .unwrap_or_else(|| panic!("connect to {}", self.socket.display()))
    }

    pub async fn manager(&self) -> ManagerServiceClient<Channel> {
        ManagerServiceClient::new(self.channel().await)
    }

    pub async fn sessions(&self) -> SessionServiceClient<Channel> {
        SessionServiceClient::new(self.channel().await)
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        // SAFETY: kill with a PID of a child we spawned and have not reaped.
        let rc = unsafe { libc::kill(self.pid(), libc::SIGTERM) };
        assert_eq!(rc, 0, "kill -TERM {}", self.pid());
    }

    /// Waits for the process to exit, at most `DEADLINE`.
    pub async fn wait_exit(&mut self) -> ExitStatus {
        let start = Instant::now();
        let child = self.child.as_mut().expect("daemon running");
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                self.child = None;
                return status;
            }
            assert!(start.elapsed() < DEADLINE, "netpilotd did not exit");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "---- netpilotd log ({}) ----\n{}",
                self.dir.path().display(),
                self.log()
            );
        }
    }
}

/// Awaits `fut`, failing the test when it takes longer than `DEADLINE`: for stream reads
/// and calls that could wait forever, so that a missing answer fails in seconds instead of
/// hanging the run.
pub async fn within<F: std::future::Future>(what: &str, fut: F) -> F::Output {
    tokio::time::timeout(DEADLINE, fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing within {DEADLINE:?}"))
}

/// The next message of a stream; fails the test after `DEADLINE`, or when the stream fails
/// or ends.
pub async fn next<T>(stream: &mut tonic::Streaming<T>, what: &str) -> T {
    next_within(stream, what, DEADLINE).await
}

/// [`next`] with another deadline, for a message that waits on a slow peer (a DHCP server).
pub async fn next_within<T>(stream: &mut tonic::Streaming<T>, what: &str, limit: Duration) -> T {
    match tokio::time::timeout(limit, stream.message()).await {
        Ok(Ok(Some(m))) => m,
        Ok(Ok(None)) => panic!("{what}: the stream ended"),
        Ok(Err(e)) => panic!("{what}: the stream failed: {e}"),
        Err(_) => panic!("{what}: nothing within {limit:?}"),
    }
}

/// Reads messages until one matches, failing after `DEADLINE`. Returns every message read,
/// the matching one last.
pub async fn read_until<T>(
    stream: &mut tonic::Streaming<T>,
    what: &str,
    mut matches: impl FnMut(&T) -> bool,
) -> Vec<T> {
    let mut seen = Vec::new();
    let outcome = tokio::time::timeout(DEADLINE, async {
        loop {
            match stream.message().await {
                Ok(Some(m)) => {
                    let done = matches(&m);
                    seen.push(m);
                    if done {
                        return Ok(());
                    }
                }
                Ok(None) => return Err("stream ended".to_string()),
                Err(e) => return Err(format!("stream failed: {e}")),
            }
        }
    })
    .await;
    match outcome {
        Ok(Ok(())) => seen,
        Ok(Err(e)) => panic!("waiting for {what}: {e}"),
        Err(_) => panic!("waiting for {what}: nothing matched within {DEADLINE:?}"),
    }
}

/// Polls `check` until it returns true, failing after `DEADLINE` (also when a check itself
/// never returns).
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let polled = tokio::time::timeout(DEADLINE, async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(polled.is_ok(), "{what}: still not true after {DEADLINE:?}");
}

/// Opens WatchManager and returns the snapshot and the stream.
pub async fn watch(
    manager: &mut ManagerServiceClient<Channel>,
) -> (
    pb::ManagerSnapshot,
    tonic::Streaming<pb::WatchManagerResponse>,
) {
    let mut stream = within(
        "WatchManager",
        manager.watch_manager(pb::WatchManagerRequest {}),
    )
    .await
    .expect("watch")
    .into_inner();
    let first = next(&mut stream, "the first WatchManager message").await;
    match first.event {
        Some(pb::watch_manager_response::Event::Snapshot(s)) => (s, stream),
        other => panic!("first WatchManager message is not a snapshot: {other:?}"),
    }
}

/// Path of a tool the Makefile installs, from the environment or PATH.
pub fn tool(env: &str, name: &str) -> PathBuf {
    if let Ok(p) = std::env::var(env) {
        return PathBuf::from(p);
    }
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|d| d.join(name)).find(|p| Path::new(p).exists()))
        .unwrap_or_else(|| panic!("{name} not found: set {env} or run the tests through `make test`, which installs it"))
}

/// Waits until `ListServices` has a service matching `check`, and returns it.
pub async fn wait_service(
    manager: &mut ManagerServiceClient<Channel>,
    what: &str,
    deadline: Duration,
    check: impl Fn(&pb::Service) -> bool,
) -> pb::Service {
    let mut last = Vec::new();
    let found = tokio::time::timeout(deadline, async {
        loop {
            last = manager
                .list_services(pb::ListServicesRequest {})
                .await
                .expect("list services")
                .into_inner()
                .services;
            if let Some(s) = last.iter().find(|s| check(s)) {
                return s.clone();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    found.unwrap_or_else(|_| panic!("{what}: no such service after {deadline:?}: {last:#?}"))
}

/// Waits until the daemon's log contains `needle` and returns the log.
pub async fn wait_for_log(daemon: &Daemon, needle: &str) -> String {
    let start = Instant::now();
    loop {
        let log = daemon.log();
        if log.contains(needle) {
            return log;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{needle:?} not logged in time:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
