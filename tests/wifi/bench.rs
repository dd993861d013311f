//! netpilotd's Wi-Fi connect times on mac80211_hwsim, for `make bench` (bench/wifi.sh), which
//! sets them beside ConnMan's from ../shared/bench/wifi/connman-wifi-baseline.sh, measured in
//! the same run. Not a test: `wifi --bench-wifi --out DIR [options]` boots one VM that runs
//! `wifi --hwsim-bench-wifi [options]`, and copies what it wrote to DIR.
//!
//! The guest layout is the baseline's (its README): netns `ap` holds hostapd (WPA2-PSK
//! `cm-psk` / `secretpass1`, channel 6) bridged to `br-ap` 198.18.202.1/24, dnsmasq (DHCP
//! .100–.150, 1 h leases, `--no-ping`) and an HTTP endpoint (`/generate_204` → 204); the
//! guest's root netns holds wpa_supplicant on `wlan1` (no networks, no `freq_list`: full-band
//! scans, as the baseline's) and netpilotd managing `wlan1` with the network provisioned in
//! its store (favorite, passphrase), as ConnMan gets it from a provisioning file.
//!
//! Phases and their timing follow the baseline, so that "scan needed" and "fresh results"
//! mean the same on both sides (wpa_supplicant reuses scan results under 5 s old; netpilot,
//! like ConnMan, scans 3 s after a disconnect):
//! - F: Wi-Fi off at start; UpdateTechnology(powered) → scan, autoconnect, DHCP, online;
//! - P: `hostapd_cli disable`, the service leaves ready, 2 s, `hostapd_cli enable` → ready;
//! - C: DisconnectService, idle, 2 s, ConnectService (last scan over 5 s old) → ready, online;
//! - D: as C, with ScanTechnology (timed) right before ConnectService: no scan needed.
//!
//! Times run from just before the request (the RPC on an open channel; the same
//! `ip netns exec ap hostapd_cli …` command line as the baseline for P) to the moment the
//! watcher receives the WatchManager event, all on the guest's CLOCK_REALTIME; wpa_supplicant
//! events are stamped by an attached control-socket monitor, addresses by `ip monitor`.
//! `cycles.csv` has the baseline's columns; `detail.txt` the extras.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use netpilot::model::{Credentials, Secret, SecurityClass, ServiceConfig, ServiceId};
use netpilot::pb;
use netpilot::store::Store;
use pb::manager_service_client::ManagerServiceClient;
use pb::watch_manager_response::Event as WatchEvent;
use tonic::transport::{Channel, Endpoint};

use crate::common::hwsim::{
    error_chain, event_text, note, Air, Hostapd, HttpEndpoint, Process, Supplicant, Vm, VmImage,
    VmOptions,
};
use crate::common::Netns;

pub const HOST_FLAG: &str = "--bench-wifi";
pub const GUEST_FLAG: &str = "--hwsim-bench-wifi";

const SSID: &str = "cm-psk";
const PASSPHRASE: &str = "secretpass1";
const AP_NET: &str = "198.18.202";
/// Deadline for anything a phase waits for; never a measurement.
const SLOW: Duration = Duration::from_secs(90);

/// The baseline's knobs, with its defaults.
#[derive(Debug, Clone)]
struct Options {
    /// C cycles (connect when wpa_supplicant must scan).
    reps: u32,
    /// D cycles (scan, then connect).
    fresh_reps: u32,
    /// P cycles (AP off and on).
    ap_reps: u32,
    /// Seconds idle before each connect: under 3 s, before the first background scan.
    settle: f64,
    /// Seconds connected before each disconnect: with `settle`, the last scan is over 5 s
    /// old at the connect.
    hold: f64,
    /// Seconds the AP stays disabled in P.
    ap_off: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            reps: 10,
            fresh_reps: 10,
            ap_reps: 5,
            settle: 2.0,
            hold: 4.0,
            ap_off: 2.0,
        }
    }
}

impl Options {
    /// Parses `--reps N --fresh-reps N --ap-reps N --settle S --hold S --ap-off S`; also
    /// returns `--out DIR` when given.
    fn parse(args: &[String]) -> Result<(Options, Option<PathBuf>), String> {
        let mut o = Options::default();
        let mut out = None;
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let value = it.next().ok_or(format!("{flag} needs a value"))?;
            let count = || {
                value
                    .parse::<u32>()
                    .map_err(|e| format!("{flag} {value}: {e}"))
            };
            let secs = || match value.parse::<f64>() {
                Ok(s) if (0.0..=60.0).contains(&s) => Ok(s),
                _ => Err(format!("{flag} {value}: seconds from 0 to 60")),
            };
            match flag.as_str() {
                "--out" => out = Some(PathBuf::from(value)),
                "--reps" => o.reps = count()?,
                "--fresh-reps" => o.fresh_reps = count()?,
                "--ap-reps" => o.ap_reps = count()?,
                "--settle" => o.settle = secs()?,
                "--hold" => o.hold = secs()?,
                "--ap-off" => o.ap_off = secs()?,
                _ => return Err(format!("unknown option {flag}")),
            }
        }
        Ok((o, out))
    }

    fn args(&self) -> Vec<String> {
        [
            ("--reps", self.reps.to_string()),
            ("--fresh-reps", self.fresh_reps.to_string()),
            ("--ap-reps", self.ap_reps.to_string()),
            ("--settle", self.settle.to_string()),
            ("--hold", self.hold.to_string()),
            ("--ap-off", self.ap_off.to_string()),
        ]
        .into_iter()
        .flat_map(|(k, v)| [k.to_string(), v])
        .collect()
    }
}

// ===================================================================== host

/// Host side: boots the VM, waits, copies `RESULTS/bench/` to `--out DIR`.
pub fn host(args: &[String]) -> ExitCode {
    let (options, out) = match Options::parse(args) {
        Ok((o, Some(out))) => (o, out),
        Ok((_, None)) => {
            eprintln!("usage: wifi {HOST_FLAG} --out DIR [--reps N] [--fresh-reps N] [--ap-reps N] [--settle S] [--hold S] [--ap-off S]");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("the Wi-Fi bench needs root (the VM shares / over 9p as root)");
        return ExitCode::FAILURE;
    }
    let run = || -> Result<(), String> {
        let image = VmImage::load().map_err(|e| error_chain(&e))?;
        let exe = std::env::current_exe().map_err(|e| format!("find this binary: {e}"))?;
        let mut vm_options = VmOptions {
            timeout: Duration::from_secs(1800),
            ..VmOptions::default()
        };
        // netpilotd's log level in the guest (default info).
        if let Ok(level) = std::env::var("NETPILOT_BENCH_LOG") {
            vm_options.env.push(("NETPILOT_BENCH_LOG".into(), level));
        }
        let mut command = vec![exe.display().to_string(), GUEST_FLAG.to_string()];
        command.extend(options.args());
        let mut vm = Vm::start(&image, &command, &vm_options).map_err(|e| error_chain(&e))?;
        let progress = vm.results().join("bench/progress.log");
        let mut shown = 0;
        let outcome = vm.wait(|| {
            // Progress lines as the guest writes them.
            let text = fs::read_to_string(&progress).unwrap_or_default();
            if let Some(new) = text.get(shown..) {
                if let Some(end) = new.rfind('\n') {
                    print!("{}", &new[..=end]);
                    shown += end + 1;
                }
            }
        });
        let from = vm.results().join("bench");
        copy_dir(&from, &out)
            .map_err(|e| format!("copy {} to {}: {e}", from.display(), out.display()))?;
        match outcome {
            Ok(0) => Ok(()),
            Ok(code) => {
                let kept = vm.keep_results();
                Err(format!(
                    "the guest side failed (status {code}); logs in {} and {}",
                    out.display(),
                    kept.display()
                ))
            }
            Err(e) => {
                let console = vm.console();
                let kept = vm.keep_results();
                Err(format!(
                    "{}; console tail:\n{}\nlogs in {}",
                    error_chain(&e),
                    crate::common::hwsim::tail(&console, 40),
                    kept.display()
                ))
            }
        }
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

// ===================================================================== guest

/// Guest side: the layout, the phases, `cycles.csv`, into `$hwsim_results/bench/`.
pub fn guest(args: &[String]) -> ExitCode {
    let Some(results) = std::env::var_os("hwsim_results").map(PathBuf::from) else {
        eprintln!("{GUEST_FLAG} runs in the hwsim guest only");
        return ExitCode::from(2);
    };
    let options = match Options::parse(args) {
        Ok((o, _)) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let out = results.join("bench");
    // Logs go to the guest's tmpfs while it runs (as the baseline's do), not over 9p; set
    // before any thread starts.
    let logs = PathBuf::from("/tmp/netpilot-bench/logs");
    std::env::set_var("HWSIM_SCENARIO_DIR", &logs);
    if let Err(e) = fs::create_dir_all(&out).and_then(|()| fs::create_dir_all(&logs)) {
        eprintln!("create {} and {}: {e}", out.display(), logs.display());
        return ExitCode::FAILURE;
    }
    let outcome = std::panic::catch_unwind(|| run(&options, &out));
    if let Err(e) = copy_dir(&logs, &out.join("logs")) {
        eprintln!("copy the logs: {e}");
    }
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => {
            progress(&out, "FAILED: see logs/ and the console");
            ExitCode::FAILURE
        }
    }
}

/// Seconds since the epoch, CLOCK_REALTIME (the baseline's clock).
fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

fn sleep_secs(s: f64) {
    std::thread::sleep(Duration::from_secs_f64(s));
}

fn progress(out: &Path, line: &str) {
    note(line);
    let path = out.join("progress.log");
    let mut text = fs::read_to_string(&path).unwrap_or_default();
    let _ = writeln!(text, "{line}");
    let _ = fs::write(&path, text);
}

/// Stamped lines from one source, in arrival order; waiters wake on each new line.
#[derive(Default)]
struct Timeline {
    lines: Mutex<Vec<(f64, String)>>,
    added: Condvar,
}

impl Timeline {
    fn push(&self, line: String) {
        let t = now();
        if let Ok(mut lines) = self.lines.lock() {
            lines.push((t, line));
        }
        self.added.notify_all();
    }

    /// The time of the first line at or after `since` that `matches`, waiting at most
    /// `timeout` for it.
    fn wait(&self, since: f64, timeout: Duration, matches: impl Fn(&str) -> bool) -> Option<f64> {
        let deadline = Instant::now() + timeout;
        let mut lines = self.lines.lock().ok()?;
        let mut seen = 0;
        loop {
            if let Some((t, _)) = lines[seen..]
                .iter()
                .find(|(t, l)| *t >= since && matches(l))
            {
                return Some(*t);
            }
            seen = lines.len();
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            lines = self.added.wait_timeout(lines, left).ok()?.0;
        }
    }

    /// The first matching line in `[since, until]`, without waiting.
    fn first(&self, since: f64, until: f64, matches: impl Fn(&str) -> bool) -> Option<f64> {
        let lines = self.lines.lock().ok()?;
        lines
            .iter()
            .find(|(t, l)| *t >= since && *t <= until && matches(l))
            .map(|(t, _)| *t)
    }

    fn count(&self, since: f64, until: f64, matches: impl Fn(&str) -> bool) -> usize {
        self.lines.lock().map_or(0, |lines| {
            lines
                .iter()
                .filter(|(t, l)| *t >= since && *t <= until && matches(l))
                .count()
        })
    }

    fn dump(&self, path: &Path) {
        let text = self.lines.lock().map_or(String::new(), |lines| {
            lines.iter().map(|(t, l)| format!("{t:.6} {l}\n")).collect()
        });
        let _ = fs::write(path, text);
    }
}

/// `ip monitor address` in the root netns, each line stamped on arrival. Killed on drop.
struct IpMonitor(Child);

impl IpMonitor {
    fn start(into: Arc<Timeline>) -> IpMonitor {
        let mut child = Command::new("ip")
            .args(["-o", "monitor", "address"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ip monitor");
        let stdout = child.stdout.take().expect("ip monitor's stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                into.push(line);
            }
        });
        IpMonitor(child)
    }
}

impl Drop for IpMonitor {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The WatchManager stream on a thread of its own: service states as `SVC <state> <id>`,
/// technology changes as `TECH <type> powered=<bool> available=<bool>`. Ends with the daemon.
fn watch(socket: PathBuf, into: Arc<Timeline>) {
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let mut manager = ManagerServiceClient::new(channel(&socket).await);
            let mut stream = manager
                .watch_manager(pb::WatchManagerRequest {})
                .await
                .expect("WatchManager")
                .into_inner();
            while let Ok(Some(message)) = stream.message().await {
                match message.event {
                    Some(WatchEvent::ServiceStateChanged(s)) => into.push(format!(
                        "SVC {} {}{}",
                        state_word(s.state()),
                        s.service_id,
                        if s.error.is_empty() {
                            String::new()
                        } else {
                            format!(" {}", s.error)
                        }
                    )),
                    Some(WatchEvent::TechnologyChanged(t)) => {
                        if let Some(t) = t.technology {
                            into.push(format!(
                                "TECH {} powered={} available={}",
                                t.r#type().as_str_name(),
                                t.powered,
                                t.available
                            ))
                        }
                    }
                    Some(WatchEvent::Snapshot(_)) => into.push("SNAPSHOT".into()),
                    _ => {}
                }
            }
        });
    });
}

/// `ready` for `SERVICE_STATE_READY`: the baseline's words.
fn state_word(state: pb::ServiceState) -> String {
    state
        .as_str_name()
        .trim_start_matches("SERVICE_STATE_")
        .to_ascii_lowercase()
}

async fn channel(socket: &Path) -> Channel {
    let uri = format!("unix://{}", socket.display());
    Endpoint::from_shared(uri)
        .expect("endpoint")
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connect to {}: {e}", socket.display()))
}

/// wpa_supplicant's events through an attached control socket, stamped on arrival.
fn monitor_wpa(wpa: &Supplicant, into: Arc<Timeline>, stop: Arc<AtomicBool>) {
    let mut monitor = wpa.monitor();
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            if let Some(event) = monitor.next_event(Instant::now() + Duration::from_millis(250)) {
                into.push(event_text(&event).to_string());
            }
        }
    });
}

/// The netpilotd side of one run.
struct Bench<'a> {
    out: &'a Path,
    rt: tokio::runtime::Runtime,
    manager: ManagerServiceClient<Channel>,
    id: String,
    np: Arc<Timeline>,
    wpa: Arc<Timeline>,
    addr: Arc<Timeline>,
    hostapd_cli: Vec<String>,
    csv: String,
    detail: String,
}

/// `to - from` in ms, or NA.
fn ms(from: Option<f64>, to: Option<f64>) -> String {
    match (from, to) {
        (Some(a), Some(b)) => format!("{:.0} ms", (b - a) * 1000.0),
        _ => "NA".into(),
    }
}

fn cell(t: Option<f64>) -> String {
    t.map_or("NA".into(), |t| format!("{t:.6}"))
}

impl Bench<'_> {
    fn svc(&self, state: &'static str) -> impl Fn(&str) -> bool + '_ {
        move |l: &str| {
            l.strip_prefix("SVC ")
                .and_then(|l| l.strip_prefix(state))
                .and_then(|l| l.strip_prefix(' '))
                .is_some_and(|l| l.split(' ').next() == Some(self.id.as_str()))
        }
    }

    fn hostapd(&self, command: &str) {
        let out = Command::new(&self.hostapd_cli[0])
            .args(&self.hostapd_cli[1..])
            .arg(command)
            .output()
            .expect("run hostapd_cli");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("OK"),
            "hostapd_cli {command}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn connect(&mut self) {
        let request = pb::ConnectServiceRequest {
            service_id: self.id.clone(),
            timeout: None,
            credentials: None,
        };
        let reply = self.rt.block_on(self.manager.connect_service(request));
        if let Err(e) = reply {
            note(format!("ConnectService: {e}"));
        }
    }

    fn disconnect(&mut self) {
        let request = pb::DisconnectServiceRequest {
            service_id: self.id.clone(),
        };
        self.rt
            .block_on(self.manager.disconnect_service(request))
            .expect("DisconnectService");
    }

    fn power(&mut self, on: bool) {
        let request = pb::UpdateTechnologyRequest {
            r#type: pb::TechnologyType::Wifi.into(),
            powered: Some(on),
            ..Default::default()
        };
        self.rt
            .block_on(self.manager.update_technology(request))
            .expect("UpdateTechnology");
    }

    fn scan(&mut self) {
        let request = pb::ScanTechnologyRequest {
            r#type: pb::TechnologyType::Wifi.into(),
        };
        self.rt
            .block_on(self.manager.scan_technology(request))
            .expect("ScanTechnology");
    }

    /// Waits for ready and online after `tc`, then writes the cycle's row.
    fn finish_cycle(&mut self, phase: &str, rep: u32, tc: f64, tx: f64) {
        let tr = self.np.wait(tc, SLOW, self.svc("ready"));
        let to = self
            .np
            .wait(tc, Duration::from_secs(30), self.svc("online"));
        // Let late events (wpa_supplicant's, addresses) arrive, as the baseline does.
        sleep_secs(0.3);
        let end = now();
        let wpa = |prefixes: &[&str]| {
            self.wpa
                .first(tc, end, |l| prefixes.iter().any(|p| l.starts_with(p)))
        };
        let ts = wpa(&["CTRL-EVENT-SCAN-STARTED"]);
        let ta = wpa(&["SME: Trying to authenticate", "Trying to associate"]);
        let tcomp = wpa(&["CTRL-EVENT-CONNECTED"]);
        let taddr = self.addr.first(tc, end, |l| {
            l.contains(" inet ") && l.contains(&format!(" {AP_NET}.")) && !l.starts_with("Deleted")
        });
        let scans = self.wpa.count(tc, tcomp.unwrap_or(end), |l| {
            l.starts_with("CTRL-EVENT-SCAN-RESULTS")
        });
        let _ = writeln!(
            self.csv,
            "{phase},{rep},{tc:.6},{},{},{},{},{},{},NA,{tx:.6},{scans}",
            cell(ts),
            cell(ta),
            cell(tcomp),
            cell(taddr),
            cell(tr),
            cell(to)
        );
        let line = format!(
            "{phase} rep {rep}: ready +{}, online +{}, wpa completed +{}, scans {scans}",
            ms(Some(tc), tr),
            ms(Some(tc), to),
            ms(Some(tc), tcomp)
        );
        progress(self.out, &line);
        self.save();
    }

    fn save(&self) {
        let _ = fs::write(self.out.join("cycles.csv"), &self.csv);
        let _ = fs::write(self.out.join("detail.txt"), &self.detail);
    }

    fn wifi_available(&mut self) {
        let start = Instant::now();
        loop {
            let listed = self
                .rt
                .block_on(
                    self.manager
                        .list_technologies(pb::ListTechnologiesRequest {}),
                )
                .expect("ListTechnologies")
                .into_inner()
                .technologies;
            if listed
                .iter()
                .any(|t| t.r#type() == pb::TechnologyType::Wifi && t.available)
            {
                return;
            }
            assert!(start.elapsed() < SLOW, "no Wi-Fi technology in {SLOW:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// F: Wi-Fi off → UpdateTechnology(powered) → ready, online.
    fn first_connect(&mut self) {
        let tc = now();
        self.power(true);
        let tx = now();
        self.finish_cycle("F", 0, tc, tx);
    }

    /// P: the AP off for `ap_off` s, then on → ready.
    fn ap_cycle(&mut self, rep: u32, ap_off: f64) {
        sleep_secs(3.0);
        let t0 = now();
        self.hostapd("disable");
        let gone = |l: &str| {
            ["idle", "failure", "disconnect", "association"]
                .iter()
                .any(|s| self.svc(s)(l))
        };
        if self.np.wait(t0, Duration::from_secs(30), gone).is_none() {
            progress(
                self.out,
                &format!("P rep {rep}: the service did not leave ready after the AP went"),
            );
        }
        sleep_secs(ap_off);
        let tc = now();
        self.hostapd("enable");
        let tx = now();
        self.finish_cycle("P", rep, tc, tx);
    }

    /// C and D: disconnect, idle for `settle` s, (D: scan,) connect → ready, online.
    fn connect_cycle(&mut self, phase: &str, rep: u32, o: &Options) {
        let t0 = now();
        self.disconnect();
        if self
            .np
            .wait(t0, Duration::from_secs(30), self.svc("idle"))
            .is_none()
        {
            progress(
                self.out,
                &format!("{phase} rep {rep}: no idle after DisconnectService"),
            );
        }
        let t1 = now();
        sleep_secs(o.settle);
        if phase == "D" {
            let a = now();
            self.scan();
            let _ = writeln!(
                self.detail,
                "scan_wifi_ms,{rep},{:.0}",
                (now() - a) * 1000.0
            );
        }
        let t2 = now();
        if self.np.first(t1, t2, self.svc("association")).is_some() {
            progress(
                self.out,
                &format!("{phase} rep {rep}: WARNING service reconnected by itself during settle"),
            );
        }
        let idle_scans = self
            .wpa
            .count(t1, t2, |l| l.starts_with("CTRL-EVENT-SCAN-STARTED"));
        let _ = writeln!(self.detail, "scans_while_idle,{phase},{rep},{idle_scans}");
        let tc = now();
        self.connect();
        let tx = now();
        self.finish_cycle(phase, rep, tc, tx);
        sleep_secs(o.hold);
    }

    /// What starting a client costs in the guest, for scale: the baseline's times start
    /// just before `connmanctl …`, ours just before an RPC on an open channel. Measures the
    /// `netpilot` CLI (start, connect, GetManager) and, when installed, `connmanctl state`
    /// against a private bus without connmand (start, bus connect, one call the bus
    /// refuses).
    fn client_costs(&mut self, socket: &Path) {
        let mut time = |name: &str, cmd: &mut Command| {
            let mut times = Vec::new();
            for _ in 0..5 {
                let a = now();
                // The exit status does not matter: connmanctl fails without connmand.
                cmd.stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .unwrap_or_else(|e| panic!("run {name}: {e}"));
                times.push(format!("{:.0}", (now() - a) * 1000.0));
            }
            let _ = writeln!(self.detail, "{name}_ms,{}", times.join(","));
        };
        time(
            "cli_state",
            Command::new(env!("CARGO_BIN_EXE_netpilot"))
                .arg("--socket")
                .arg(socket)
                .arg("state"),
        );
        let connmanctl = Path::new("/usr/bin/connmanctl");
        if !connmanctl.exists() {
            return;
        }
        let mut bus = Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--nopidfile", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dbus-daemon");
        let mut address = String::new();
        if let Some(out) = bus.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut address);
        }
        if !address.trim().is_empty() {
            time(
                "connmanctl_state",
                Command::new(connmanctl)
                    .arg("state")
                    .env("DBUS_SYSTEM_BUS_ADDRESS", address.trim()),
            );
        }
        let _ = bus.kill();
        let _ = bus.wait();
    }
}

fn run(o: &Options, out: &Path) {
    let work = PathBuf::from("/tmp/netpilot-bench");
    let air = Air::new(2);
    let (ap_radio, sta) = (air.radio(0), air.radio(1));
    let ap_ns = Netns::new("ap");
    ap_radio.move_to(&ap_ns);
    ap_ns.ip(&["link", "add", "br-ap", "type", "bridge"]);
    ap_ns.ip(&["link", "set", "br-ap", "up"]);
    ap_ns.ip(&["addr", "add", &format!("{AP_NET}.1/24"), "dev", "br-ap"]);
    let hostapd = Hostapd::start(
        &ap_ns,
        &format!(
            "interface={}\ndriver=nl80211\nbridge=br-ap\nssid={SSID}\nhw_mode=g\nchannel=6\n\
             wpa=2\nwpa_key_mgmt=WPA-PSK\nrsn_pairwise=CCMP\nwpa_passphrase={PASSPHRASE}\n",
            ap_radio.iface
        ),
    );
    let mut dnsmasq = Process::start(
        "dnsmasq",
        Some(&ap_ns),
        "dnsmasq",
        &[
            "-k",
            "--log-facility=-",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--no-poll",
            "--interface=br-ap",
            "--bind-interfaces",
            "--except-interface=lo",
            &format!("--dhcp-range={AP_NET}.100,{AP_NET}.150,255.255.255.0,1h"),
            "--no-ping",
            "--dhcp-authoritative",
            &format!("--dhcp-leasefile={}", work.join("dnsmasq.leases").display()),
            "--user=root",
            "--log-dhcp",
        ],
    );
    crate::common::hwsim::wait_until("dnsmasq serves", SLOW, || {
        dnsmasq.assert_running();
        dnsmasq.log().contains("DHCP, IP range")
    });
    let addr: SocketAddr = format!("{AP_NET}.1:80").parse().expect("address");
    let _http = HttpEndpoint::start(&ap_ns, addr);
    let wpa = Supplicant::start(sta, "");

    let mac: Vec<u8> = sta
        .mac
        .split(':')
        .map(|h| u8::from_str_radix(h, 16).expect("a MAC"))
        .collect();
    let mac: [u8; 6] = mac.try_into().expect("6 octets");
    let id = ServiceId::wifi(mac, SSID.as_bytes(), SecurityClass::Psk);
    // Provisioned as ConnMan's cm-psk.config is: known, autoconnect, passphrase; Wi-Fi off.
    let np = work.join("netpilot");
    let state = np.join("state");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (store, _) = Store::open(&state).expect("open the store");
        let config = ServiceConfig {
            favorite: true,
            autoconnect: true,
            ..ServiceConfig::default()
        };
        let credentials = Credentials {
            passphrase: Some(Secret::new(PASSPHRASE)),
            ..Credentials::default()
        };
        let power = [("wifi".to_string(), false)].into_iter().collect();
        for (what, written) in [
            ("the service", store.save(&id, &config)),
            ("the passphrase", store.save_credentials(&id, &credentials)),
            ("Wi-Fi off", store.save_power(&power)),
        ] {
            written
                .done()
                .await
                .unwrap_or_else(|e| panic!("provision {what}: {e}"));
        }
    });
    let socket = np.join("netpilot.sock");
    let config_path = np.join("netpilot.toml");
    let level = std::env::var("NETPILOT_BENCH_LOG").unwrap_or_else(|_| "info".into());
    let ctrl_dir = wpa.ctrl_path().parent().expect("ctrl dir").to_path_buf();
    fs::write(
        &config_path,
        format!(
            "managed_interfaces = [{iface:?}]\nsocket = {socket:?}\nstate_dir = {state:?}\n\
             run_dir = {run:?}\nlog_level = {level:?}\n\
             [online_check]\nipv4_url = \"http://{AP_NET}.1/generate_204\"\n\
             [dns]\nresolv_conf = {resolv:?}\n\
             [wifi]\nctrl_dir = {ctrl:?}\n",
            iface = sta.iface,
            socket = socket.display().to_string(),
            state = state.display().to_string(),
            run = np.join("run").display().to_string(),
            resolv = np.join("resolv.conf").display().to_string(),
            ctrl = ctrl_dir.display().to_string(),
        ),
    )
    .expect("write the netpilotd config");
    let _ = fs::copy(&config_path, out.join("netpilot.toml"));
    let (np_events, wpa_events, addr_events) = (
        Arc::new(Timeline::default()),
        Arc::new(Timeline::default()),
        Arc::new(Timeline::default()),
    );
    let stop = Arc::new(AtomicBool::new(false));
    monitor_wpa(&wpa, wpa_events.clone(), stop.clone());
    let _ipmon = IpMonitor::start(addr_events.clone());
    let mut daemon = Process::start(
        "netpilotd",
        None,
        env!("CARGO_BIN_EXE_netpilotd"),
        &["--config".to_string(), config_path.display().to_string()],
    );
    let started = Instant::now();
    let manager = loop {
        daemon.assert_running();
        if socket.exists() {
            let uri = format!("unix://{}", socket.display());
            let endpoint = Endpoint::from_shared(uri).expect("endpoint");
            if let Ok(c) = rt.block_on(endpoint.connect()) {
                break ManagerServiceClient::new(c);
            }
        }
        assert!(started.elapsed() < SLOW, "netpilotd does not serve");
        std::thread::sleep(Duration::from_millis(20));
    };
    watch(socket.clone(), np_events.clone());
    np_events
        .wait(0.0, SLOW, |l| l == "SNAPSHOT")
        .expect("WatchManager snapshot");
    let hostapd_cli = vec![
        "ip".to_string(),
        "netns".into(),
        "exec".into(),
        ap_ns.name.clone(),
        "hostapd_cli".into(),
        "-p".into(),
        hostapd.ctrl_dir().display().to_string(),
        "-i".into(),
        ap_radio.iface.clone(),
    ];
    let mut bench = Bench {
        out,
        rt,
        manager,
        id: id.0.clone(),
        np: np_events.clone(),
        wpa: wpa_events.clone(),
        addr: addr_events.clone(),
        hostapd_cli,
        csv: "phase,rep,t_cmd,t_wpa_scanning,t_wpa_assoc,t_wpa_completed,t_addr,t_ready,t_online,t_http,t_cmd_exit,n_scandone\n".into(),
        detail: String::new(),
    };
    machine(out, o);
    progress(out, &format!("netpilotd up; service {}", bench.id));
    // The Wi-Fi technology is listed and its wpa_supplicant answers, then 1 s, as the
    // baseline waits for ConnMan's.
    bench.wifi_available();
    sleep_secs(1.0);

    bench.first_connect();
    sleep_secs(3.0);
    for rep in 1..=o.ap_reps {
        bench.ap_cycle(rep, o.ap_off);
    }
    sleep_secs(o.hold);
    for rep in 1..=o.reps {
        bench.connect_cycle("C", rep, o);
    }
    for rep in 1..=o.fresh_reps {
        bench.connect_cycle("D", rep, o);
    }
    bench.client_costs(&socket);
    bench.save();
    stop.store(true, Ordering::SeqCst);
    np_events.dump(&out.join("netpilot-events.log"));
    wpa_events.dump(&out.join("wpa-events.log"));
    addr_events.dump(&out.join("addresses.log"));
    daemon.stop();
    let _ = fs::copy(
        np.join("state/services").join(format!("{}.json", bench.id)),
        out.join("service-final.json"),
    );
    progress(out, "done");
}

/// What ran: kernel and peers' versions and the options, as the baseline's machine.txt.
fn machine(out: &Path, o: &Options) {
    let first_line = |program: &str, arg: &str| {
        Command::new(program)
            .arg(arg)
            .output()
            .map(|o| {
                let text = String::from_utf8_lossy(&o.stdout).into_owned()
                    + &String::from_utf8_lossy(&o.stderr);
                text.lines().next().unwrap_or_default().to_string()
            })
            .unwrap_or_default()
    };
    let text = format!(
        "guest kernel: {}; vCPUs: {}\nnetpilotd: {}\nwpa_supplicant: {}\nhostapd: {}\ndnsmasq: {}\noptions: {o:?}\n",
        fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        first_line(env!("CARGO_BIN_EXE_netpilotd"), "--version"),
        first_line("wpa_supplicant", "-v"),
        first_line("hostapd", "-v"),
        first_line("dnsmasq", "--version"),
    );
    let _ = fs::write(out.join("machine.txt"), text);
}
