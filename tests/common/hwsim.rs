//! The hwsim VM harness: real 802.11 radios (`mac80211_hwsim`) for integration tests, in a
//! QEMU guest (TCG) that boots Debian's generic kernel with this machine's root shared
//! read-only over 9p (tests/hwsim/README.md; facts in ../shared/notes/hwsim.md).
//!
//! A test binary declared with `harness = false` calls [`suite_main`] with a table of
//! [`Scenario`]s. On the host it boots one VM that runs the same binary in guest mode; the
//! guest runs each selected scenario in a child process of its own, one after another, each
//! on freshly loaded radios, and writes results and logs to a directory shared read-write
//! with the host, which prints libtest-like lines (`test NAME ... ok`, `test result: ...`).
//!
//! Guest-side helpers, all RAII guards that stop what they started (processes by PID):
//! [`Air`] (the radios), [`Hostapd`], [`Supplicant`], [`Dnsmasq`], [`HttpEndpoint`], plus
//! [`dhcp`], [`http_get`], [`dns_query_a`] and a control-socket client, [`WpaCtrl`] /
//! [`Monitor`], for hostapd and wpa_supplicant. Addresses: 198.18.0.0/15 only, inside
//! namespaces the scenario made. Nothing here touches a radio unless it runs in the guest.

use std::ffi::OsStr;
use std::fmt::Display;
use std::fs::{self, File};
use std::io::{self, BufRead, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{mpsc, Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{run, Netns};

/// How long a scenario may run in the guest before it is killed and counted failed.
pub const SCENARIO_TIMEOUT: Duration = Duration::from_secs(90);
/// How long a helper waits for a peer (a socket to answer, an AP to come up). A deadline,
/// not a measurement.
pub const PEER_DEADLINE: Duration = Duration::from_secs(20);
/// Environment variable set to `1` in the guest (by tests/hwsim/guest-init.sh).
const GUEST_ENV: &str = "HWSIM_GUEST";
/// The scenario's log directory in the guest (set by the runner for each scenario).
const SCENARIO_DIR_ENV: &str = "HWSIM_SCENARIO_DIR";
/// Host variables handed to the guest command.
const PASSED_ENV: &[&str] = &[
    "RUST_BACKTRACE",
    "RUST_LOG",
    "HWSIM_DEBUG",
    "HWSIM_SCENARIO_TIMEOUT",
];

// ===================================================================== host: the VM

/// What tests/hwsim/setup.sh prepared: `CACHE/vm.conf`, where CACHE is `$HWSIM_CACHE` or
/// `target/hwsim` in this package.
#[derive(Debug, Clone)]
pub struct VmImage {
    /// Uncompressed kernel (ELF with a PVH entry), booted without BIOS.
    pub kernel: PathBuf,
    /// The busybox initramfs (gzip'd newc cpio).
    pub initramfs: PathBuf,
    /// `uname -r` of the guest, e.g. `6.1.0-57-amd64`.
    pub kernel_version: String,
    /// Debian package and version the kernel came from, e.g. `linux-image-6.1.0-57-amd64 6.1.192-3`.
    pub kernel_package: String,
}

/// Why a VM could not run, or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    #[error("read the hwsim VM set-up {path} (run `tests/hwsim/setup.sh target/hwsim`; `make test` does)")]
    NoImage {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the hwsim VM set-up {path} has no `{key}=` line (run tests/hwsim/setup.sh again)")]
    BadImage { path: PathBuf, key: &'static str },
    #[error("prepare the VM's shared result dir {path}")]
    ResultDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the VM command must be UTF-8 without NUL: {0:?}")]
    BadCommand(String),
    #[error("start qemu-system-x86_64 (tests/hwsim/setup.sh installs it)")]
    Spawn(#[source] io::Error),
    #[error("wait for qemu (pid {pid})")]
    Wait {
        pid: u32,
        #[source]
        source: io::Error,
    },
    #[error("the VM ran past its {0:?} limit and was killed")]
    TimedOut(Duration),
    #[error("the VM stopped (qemu {status}) without the guest command's exit status: it crashed or never booted")]
    Died { status: ExitStatus },
}

impl VmImage {
    /// Reads `vm.conf` from `$HWSIM_CACHE` or `<package>/target/hwsim`.
    pub fn load() -> Result<VmImage, VmError> {
        let dir = std::env::var_os("HWSIM_CACHE")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/hwsim"));
        let path = dir.join("vm.conf");
        let text = fs::read_to_string(&path).map_err(|source| VmError::NoImage {
            path: path.clone(),
            source,
        })?;
        let get = |key: &'static str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .map(str::to_string)
                .ok_or(VmError::BadImage {
                    path: path.clone(),
                    key,
                })
        };
        Ok(VmImage {
            kernel: get("kernel")?.into(),
            initramfs: get("initramfs")?.into(),
            kernel_version: get("kernel_version")?,
            kernel_package: get("kernel_package")?,
        })
    }
}

/// How a VM runs.
#[derive(Debug, Clone)]
pub struct VmOptions {
    /// Guest RAM in MiB.
    pub memory_mib: u32,
    /// Guest vCPUs; under TCG each is a host thread.
    pub cpus: u32,
    /// Hard limit for the whole VM, boot included; QEMU is killed past it.
    pub timeout: Duration,
    /// Environment of the guest command, on top of PATH, HOME and `HWSIM_GUEST=1`.
    pub env: Vec<(String, String)>,
}

impl Default for VmOptions {
    fn default() -> Self {
        VmOptions {
            memory_mib: 1024,
            cpus: 1,
            timeout: Duration::from_secs(600),
            env: PASSED_ENV
                .iter()
                .filter_map(|k| Some((k.to_string(), std::env::var(k).ok()?)))
                .collect(),
        }
    }
}

/// A running QEMU guest that runs one command and powers off. QEMU is killed by its PID on
/// drop. The result dir (a temp dir, at the same path in the guest, read-write) is removed
/// on drop unless [`Vm::keep_results`] was called.
pub struct Vm {
    qemu: Option<Child>,
    results: Option<tempfile::TempDir>,
    results_path: PathBuf,
    started: Instant,
    timeout: Duration,
}

impl Vm {
    /// Boots a VM whose guest runs `command` (program and arguments, host paths: the host
    /// root is the guest's) in the current directory and then powers off. Returns at once;
    /// see [`Vm::wait`].
    pub fn start(image: &VmImage, command: &[String], options: &VmOptions) -> Result<Vm, VmError> {
        let results = tempfile::Builder::new()
            .prefix("hwsim-")
            .tempdir()
            .map_err(|source| VmError::ResultDir {
                path: std::env::temp_dir(),
                source,
            })?;
        let path = results.path().to_path_buf();
        let text = path.to_str().unwrap_or_default();
        // The path goes on the kernel command line and into QEMU's comma-separated options.
        if text.is_empty() || text.contains([' ', ',', '"', '\'', '\n']) {
            return Err(VmError::BadCommand(path.display().to_string()));
        }
        let ctl = path.join(".hwsim");
        let cwd = std::env::current_dir().map_err(|source| VmError::ResultDir {
            path: path.clone(),
            source,
        })?;
        let mut script = format!("cd {}\n", sh_quote(&cwd.display().to_string())?);
        for (k, v) in &options.env {
            script += &format!("export {k}={}\n", sh_quote(v)?);
        }
        script += "set --";
        for arg in command {
            script += " ";
            script += &sh_quote(arg)?;
        }
        script += "\n";
        fs::create_dir_all(&ctl)
            .and_then(|()| fs::write(ctl.join("command"), script))
            .map_err(|source| VmError::ResultDir {
                path: ctl.clone(),
                source,
            })?;
        let qemu_log = File::create(ctl.join("qemu.log")).map_err(|source| VmError::ResultDir {
            path: ctl.clone(),
            source,
        })?;
        let accel = match std::env::var("HWSIM_ACCEL").as_deref() {
            // KVM here is PVM-only and hangs a normal guest (notes/hwsim.md): TCG unless told.
            Ok("kvm") => vec!["-accel", "kvm", "-cpu", "host"],
            _ => vec!["-accel", "tcg,thread=multi", "-cpu", "max"],
        };
        let append = format!(
            "console=ttyS0 quiet loglevel=4 panic=-1 oops=panic rdinit=/init \
             mitigations=off tsc=reliable no_timer_check hwsim_results={text}"
        );
        let qemu = Command::new("qemu-system-x86_64")
            .args(accel)
            .args(["-m", &options.memory_mib.to_string()])
            .args(["-smp", &options.cpus.to_string()])
            .args([
                "-M",
                "pc",
                "-nodefaults",
                "-no-user-config",
                "-display",
                "none",
            ])
            .arg("-no-reboot")
            .arg("-kernel")
            .arg(&image.kernel)
            .arg("-initrd")
            .arg(&image.initramfs)
            .args(["-append", &append])
            .arg("-chardev")
            .arg(format!(
                "file,id=console,path={}/console.log",
                ctl.display()
            ))
            .args(["-serial", "chardev:console"])
            .args(["-device", "virtio-rng-pci"])
            .arg("-virtfs")
            .arg("local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap")
            .arg("-virtfs")
            .arg(format!(
                "local,path={text},mount_tag=results,security_model=none,multidevs=remap"
            ))
            .stdin(Stdio::null())
            .stdout(qemu_log.try_clone().map_err(VmError::Spawn)?)
            .stderr(qemu_log)
            .spawn()
            .map_err(VmError::Spawn)?;
        Ok(Vm {
            qemu: Some(qemu),
            results: Some(results),
            results_path: path,
            started: Instant::now(),
            timeout: options.timeout,
        })
    }

    /// The result dir, shared read-write with the guest at the same path.
    pub fn results(&self) -> &Path {
        &self.results_path
    }

    /// Keeps the result dir after the VM is dropped (for a failure's logs).
    pub fn keep_results(&mut self) -> PathBuf {
        if let Some(dir) = self.results.take() {
            let _ = dir.keep();
        }
        self.results_path.clone()
    }

    /// Waits for the guest to power off, calling `tick` about every 100 ms meanwhile (to
    /// show progress from the result dir). Returns the guest command's exit status. Kills
    /// QEMU past the time limit.
    pub fn wait(&mut self, mut tick: impl FnMut()) -> Result<i32, VmError> {
        let Some(qemu) = self.qemu.as_mut() else {
            return Err(VmError::TimedOut(self.timeout));
        };
        let pid = qemu.id();
        let status = loop {
            tick();
            match qemu.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(source) => return Err(VmError::Wait { pid, source }),
            }
            if self.started.elapsed() > self.timeout {
                let _ = qemu.kill();
                let _ = qemu.wait();
                self.qemu = None;
                return Err(VmError::TimedOut(self.timeout));
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        self.qemu = None;
        tick();
        fs::read_to_string(self.results_path.join(".hwsim/exit"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or(VmError::Died { status })
    }

    /// Time since QEMU started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The guest console (kernel messages and the guest command's output) so far.
    pub fn console(&self) -> String {
        let raw = fs::read(self.results_path.join(".hwsim/console.log")).unwrap_or_default();
        let qemu =
            fs::read_to_string(self.results_path.join(".hwsim/qemu.log")).unwrap_or_default();
        String::from_utf8_lossy(&raw).replace('\r', "") + &qemu
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        if let Some(mut qemu) = self.qemu.take() {
            let _ = qemu.kill();
            let _ = qemu.wait();
        }
    }
}

/// `'…'` for a POSIX shell.
fn sh_quote(s: &str) -> Result<String, VmError> {
    if s.contains('\0') {
        return Err(VmError::BadCommand(s.to_string()));
    }
    Ok(format!("'{}'", s.replace('\'', r"'\''")))
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

// ================================================================ the scenario suite

/// One scenario: a plain function that panics on failure, run in the guest in a process of
/// its own, with a time limit. Build the table with [`Scenario::new`].
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    /// libtest-style name (`module::case`), what the command-line filter matches.
    pub name: &'static str,
    /// The scenario itself.
    pub run: fn(),
    /// Past this the guest kills the scenario and counts it failed.
    pub timeout: Duration,
}

impl Scenario {
    /// A scenario with the default [`SCENARIO_TIMEOUT`].
    pub const fn new(name: &'static str, run: fn()) -> Scenario {
        Scenario {
            name,
            run,
            timeout: SCENARIO_TIMEOUT,
        }
    }

    /// Its time limit: `HWSIM_SCENARIO_TIMEOUT` (seconds) if set, else [`Scenario::timeout`].
    fn limit(&self) -> Duration {
        std::env::var("HWSIM_SCENARIO_TIMEOUT")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or(self.timeout)
    }

    /// The same scenario with another time limit.
    pub const fn with_timeout(self, timeout: Duration) -> Scenario {
        Scenario {
            name: self.name,
            run: self.run,
            timeout,
        }
    }
}

/// The `main` of a hwsim test binary (`harness = false`). On the host: parses libtest's
/// arguments (name filters, `--exact`, `--skip NAME`, `--list`, `--nocapture`,
/// `--ignored`), needs root (fails, never skips, without it), boots the VM(s), prints
/// `test NAME ... ok|FAILED` and the `test result:` line, and exits non-zero when a
/// scenario failed or a VM died or timed out. In the guest: runs the scenarios it is told.
/// `HWSIM_VMS=N` spreads the scenarios over N VMs booted in parallel (default 1, or 2 when
/// `CI` is set).
pub fn suite_main(scenarios: &[Scenario]) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--hwsim-guest") => guest_runner(scenarios, &args[1..]),
        Some("--hwsim-scenario") => scenario_child(scenarios, args.get(1)),
        _ => host_main(scenarios, &args),
    }
}

/// What the host was asked on its command line.
#[derive(Default)]
struct HostArgs {
    filters: Vec<String>,
    skip: Vec<String>,
    exact: bool,
    list: bool,
    terse: bool,
    nocapture: bool,
    ignored: bool,
}

fn parse_host_args(args: &[String]) -> Result<HostArgs, String> {
    let mut parsed = HostArgs::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or(format!("{flag} needs a value"))
        };
        match flag {
            "--list" => parsed.list = true,
            "--exact" => parsed.exact = true,
            "--nocapture" | "--show-output" => parsed.nocapture = true,
            "--ignored" => parsed.ignored = true,
            "--include-ignored" | "-q" | "--quiet" => {}
            "--skip" => parsed.skip.push(value()?),
            "--format" => parsed.terse = value()? == "terse",
            // Accepted for libtest compatibility; scenarios run one at a time per VM.
            "--test-threads" | "--color" | "-Z" | "--logfile" => {
                value()?;
            }
            f if f.starts_with('-') => return Err(format!("unrecognized option {f}")),
            _ => parsed.filters.push(arg.clone()),
        }
    }
    Ok(parsed)
}

fn host_main(scenarios: &[Scenario], args: &[String]) -> ExitCode {
    let args = match parse_host_args(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(101);
        }
    };
    let matches = |name: &str, pattern: &str| {
        if args.exact {
            name == pattern
        } else {
            name.contains(pattern)
        }
    };
    // No scenario is #[ignore]d: `--ignored` selects none.
    let selected: Vec<&Scenario> = scenarios
        .iter()
        .filter(|_| !args.ignored)
        .filter(|s| args.filters.is_empty() || args.filters.iter().any(|f| matches(s.name, f)))
        .filter(|s| !args.skip.iter().any(|f| matches(s.name, f)))
        .collect();
    let filtered_out = scenarios.len() - selected.len();
    if args.list {
        for s in &selected {
            println!("{}: test", s.name);
        }
        if !args.terse {
            println!("\n{} tests, 0 benchmarks", selected.len());
        }
        return ExitCode::SUCCESS;
    }
    let start = Instant::now();
    println!("\nrunning {} tests", selected.len());
    let names: Vec<&str> = selected.iter().map(|s| s.name).collect();
    let mut report = Report::default();
    if !selected.is_empty() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            for name in &names {
                println!("test {name} ... FAILED");
                report.failed(name, "the hwsim VM tests need root (9p shares as root, netns and modules in the guest): run them as root, as `make test` in CI does".into());
            }
        } else {
            run_vms(&selected, &args, &mut report);
        }
    }
    report.finish(filtered_out, start.elapsed())
}

/// Outcomes, in the order they are printed.
#[derive(Default)]
struct Report {
    passed: usize,
    failures: Vec<(String, String)>,
}

impl Report {
    fn failed(&mut self, name: &str, details: String) {
        self.failures.push((name.to_string(), details));
    }

    fn finish(self, filtered_out: usize, took: Duration) -> ExitCode {
        if !self.failures.is_empty() {
            println!("\nfailures:\n");
            for (name, details) in &self.failures {
                println!("---- {name} ----\n{details}\n");
            }
            println!("failures:");
            for (name, _) in &self.failures {
                println!("    {name}");
            }
        }
        let ok = self.failures.is_empty();
        println!(
            "\ntest result: {}. {} passed; {} failed; 0 ignored; 0 measured; {filtered_out} filtered out; finished in {:.2}s\n",
            if ok { "ok" } else { "FAILED" },
            self.passed,
            self.failures.len(),
            took.as_secs_f64()
        );
        if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(101)
        }
    }
}

/// One VM's share of the scenarios, and how far it got.
struct Shard<'a> {
    vm: Vm,
    progress: Progress<'a>,
    outcome: Option<Result<i32, VmError>>,
}

/// What a VM's result dir has shown so far.
struct Progress<'a> {
    results: PathBuf,
    started: Instant,
    scenarios: Vec<&'a Scenario>,
    reported: usize,
    booted: bool,
}

fn run_vms(selected: &[&Scenario], args: &HostArgs, report: &mut Report) {
    let fail_all = |report: &mut Report, why: String| {
        for s in selected {
            println!("test {} ... FAILED", s.name);
            report.failed(s.name, why.clone());
        }
    };
    let image = match VmImage::load() {
        Ok(i) => i,
        Err(e) => return fail_all(report, error_chain(&e)),
    };
    let exe = match std::env::current_exe() {
        Ok(p) => p.display().to_string(),
        Err(e) => return fail_all(report, format!("find this test binary: {e}")),
    };
    // Two VMs finish the suite about a fifth sooner but keep both cores busy: only where
    // nothing else runs, in CI (.ci/run sets CI), unless told.
    let default_vms = if std::env::var_os("CI").is_some() {
        2
    } else {
        1
    };
    let vms: usize = std::env::var("HWSIM_VMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_vms)
        .clamp(1, selected.len());
    let mut shards = Vec::new();
    for i in 0..vms {
        let part: Vec<&Scenario> = selected.iter().skip(i).step_by(vms).copied().collect();
        let mut command = vec![exe.clone(), "--hwsim-guest".to_string()];
        command.extend(part.iter().map(|s| s.name.to_string()));
        let limit = std::env::var("HWSIM_VM_TIMEOUT")
            .ok()
            .and_then(|v| v.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or_else(|| {
                Duration::from_secs(60) + part.iter().map(|s| s.limit()).sum::<Duration>()
            });
        let options = VmOptions {
            timeout: limit,
            ..VmOptions::default()
        };
        match Vm::start(&image, &command, &options) {
            Ok(vm) => shards.push(Shard {
                progress: Progress {
                    results: vm.results().to_path_buf(),
                    started: Instant::now(),
                    scenarios: part,
                    reported: 0,
                    booted: false,
                },
                vm,
                outcome: None,
            }),
            Err(e) => {
                for s in part {
                    println!("test {} ... FAILED", s.name);
                    report.failed(s.name, error_chain(&e));
                }
            }
        }
    }
    eprintln!(
        "hwsim: {} VM(s), guest kernel {} ({}), {} scenario(s)",
        shards.len(),
        image.kernel_version,
        image.kernel_package,
        selected.len()
    );
    // The VMs are waited for in turn; every tick prints what any of them finished.
    for i in 0..shards.len() {
        let (before, rest) = shards.split_at_mut(i);
        let (current, after) = rest.split_first_mut().expect("index in range");
        let progress = &mut current.progress;
        let outcome = current.vm.wait(|| {
            progress.update(args, report);
            for shard in before.iter_mut().chain(after.iter_mut()) {
                shard.progress.update(args, report);
            }
        });
        current.outcome = Some(outcome);
    }
    for shard in &mut shards {
        shard.progress.update(args, report);
        shard.conclude(report);
    }
}

impl Progress<'_> {
    /// Prints the lines of scenarios that finished since the last call.
    fn update(&mut self, args: &HostArgs, report: &mut Report) {
        let runner = self.results.join(".hwsim/runner");
        if !self.booted && runner.exists() {
            self.booted = true;
            eprintln!(
                "hwsim: guest runner started {:.1} s after QEMU (guest uptime {} s)",
                self.started.elapsed().as_secs_f64(),
                fs::read_to_string(runner).unwrap_or_default().trim()
            );
        }
        while let Some(s) = self.scenarios.get(self.reported) {
            let dir = self.results.join(s.name);
            let Ok(result) = fs::read_to_string(dir.join("result")) else {
                return;
            };
            self.reported += 1;
            let log = fs::read_to_string(dir.join("log")).unwrap_or_default();
            let ok = result.starts_with("ok");
            println!("test {} ... {}", s.name, if ok { "ok" } else { "FAILED" });
            eprintln!("hwsim: {} {}", s.name, result.trim());
            if ok {
                report.passed += 1;
                if args.nocapture {
                    println!("---- {} log ----\n{log}", s.name);
                }
            } else {
                report.failed(
                    s.name,
                    format!(
                        "{}\n{log}\n(logs of its processes: {})",
                        result.trim(),
                        dir.display()
                    ),
                );
            }
        }
    }
}

impl Shard<'_> {
    /// After the VM ended: scenarios without a result fail; on any failure the console's
    /// tail is printed and the result dir kept. A VM that died after its scenarios passed
    /// still fails the suite (as one more failure named `hwsim-vm`).
    fn conclude(&mut self, report: &mut Report) {
        let vm_problem = match &self.outcome {
            Some(Ok(0)) => None,
            Some(Ok(code)) => Some(format!("the guest runner exited with status {code}")),
            Some(Err(e)) => Some(error_chain(e)),
            None => Some("the VM was not waited for".to_string()),
        };
        let progress = &mut self.progress;
        let scenario_failed = report
            .failures
            .iter()
            .any(|(n, _)| progress.scenarios.iter().any(|s| s.name == n));
        let missing = progress.reported < progress.scenarios.len();
        if !scenario_failed && !missing && vm_problem.is_none() {
            return;
        }
        let why = vm_problem
            .clone()
            .unwrap_or_else(|| "the guest wrote none".to_string());
        for s in &progress.scenarios[progress.reported..] {
            println!("test {} ... FAILED", s.name);
            let dir = progress.results.join(s.name);
            let log = match fs::read_to_string(dir.join("log")) {
                Ok(log) => format!("\n{log}\n(logs of its processes: {})", dir.display()),
                Err(_) => " (not started)".to_string(),
            };
            report.failed(s.name, format!("no result: {why}{log}"));
        }
        progress.reported = progress.scenarios.len();
        if let (Some(problem), false, false) = (vm_problem, scenario_failed, missing) {
            report.failed("hwsim-vm", problem);
        }
        let kept = self.vm.keep_results();
        println!(
            "\n---- hwsim guest console (last 60 lines; results kept in {}) ----\n{}\n",
            kept.display(),
            tail(&self.vm.console(), 60)
        );
    }
}

/// `error: cause: cause…`
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        s += &format!(": {cause}");
        source = cause.source();
    }
    s
}

// ------------------------------------------------------------- guest: the runner

/// Runs the named scenarios one by one, each in a child process (its own process group)
/// with a time limit, and writes `RESULTS/NAME/{log,result}`. After each scenario it kills
/// what the scenario left running (which fails it), deletes its namespaces and unloads
/// mac80211_hwsim, so the next one starts clean.
fn guest_runner(scenarios: &[Scenario], names: &[String]) -> ExitCode {
    let Some(results) = std::env::var_os("hwsim_results").map(PathBuf::from) else {
        eprintln!(
            "hwsim guest: no hwsim_results in the environment (not started by guest-init.sh?)"
        );
        return ExitCode::from(2);
    };
    let uptime = fs::read_to_string("/proc/uptime").unwrap_or_default();
    let _ = fs::write(
        results.join(".hwsim/runner"),
        uptime.split_whitespace().next().unwrap_or("?"),
    );
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("hwsim guest: find this binary: {e}");
            return ExitCode::from(2);
        }
    };
    for name in names {
        println!("hwsim guest: {name} ...");
        let dir = results.join(name);
        let verdict = match scenarios.iter().find(|s| s.name == name) {
            Some(scenario) => run_one(&exe, scenario, &dir),
            None => Err(format!("no scenario named {name}")),
        };
        let line = match &verdict {
            Ok(took) => format!("ok in {:.1} s", took.as_secs_f64()),
            Err(why) => format!("FAILED: {why}"),
        };
        println!("hwsim guest: {name} {line}");
        let _ = fs::create_dir_all(&dir)
            .and_then(|()| fs::write(dir.join("result.tmp"), &line))
            .and_then(|()| fs::rename(dir.join("result.tmp"), dir.join("result")));
    }
    ExitCode::SUCCESS
}

fn run_one(exe: &Path, scenario: &Scenario, dir: &Path) -> Result<Duration, String> {
    fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let log = File::create(dir.join("log")).map_err(|e| format!("create the log: {e}"))?;
    let timeout = scenario.limit();
    let start = Instant::now();
    let mut child = Command::new(exe)
        .args(["--hwsim-scenario", scenario.name])
        .env(SCENARIO_DIR_ENV, dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("start the scenario process: {e}"))?;
    let pgid = child.id() as i32;
    let status = wait_child(&mut child, timeout);
    let took = start.elapsed();
    // SAFETY: signalling the process group this runner created for the scenario.
    let leftovers = unsafe { libc::kill(-pgid, 0) } == 0;
    if leftovers {
        // SAFETY: as above.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
    }
    cleanup_after(pgid);
    match status {
        None => Err(format!("timed out after {timeout:?} and was killed")),
        Some(s) if !s.success() => Err(match (s.code(), s.signal()) {
            (Some(101), _) => "panicked (see the log)".to_string(),
            (Some(c), _) => format!("exited with status {c}"),
            (_, Some(sig)) => format!("killed by signal {sig}"),
            _ => format!("ended with {s}"),
        }),
        Some(_) if leftovers => {
            Err("passed but left processes running (killed now): a guard was leaked".to_string())
        }
        Some(_) => Ok(took),
    }
}

/// Waits for `child` at most `timeout`; kills its process group past it and returns None.
fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                // SAFETY: signalling the process group this runner created.
                unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// Deletes the namespaces a scenario process made (named `np-<pid>-…` by [`Netns::new`])
/// and unloads mac80211_hwsim.
fn cleanup_after(pid: i32) {
    let prefix = format!("np-{pid}-");
    for entry in fs::read_dir("/run/netns").into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) {
            let _ = Command::new("ip").args(["netns", "del", &name]).status();
        }
    }
    unload_hwsim();
}

fn scenario_child(scenarios: &[Scenario], name: Option<&String>) -> ExitCode {
    if !in_guest() {
        eprintln!("--hwsim-scenario runs only in the hwsim guest");
        return ExitCode::from(2);
    }
    let Some(scenario) = name.and_then(|n| scenarios.iter().find(|s| s.name == n)) else {
        eprintln!("hwsim guest: no scenario named {name:?}");
        return ExitCode::from(2);
    };
    note(format!(
        "scenario {} (kernel {})",
        scenario.name,
        fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    ));
    (scenario.run)();
    note("passed");
    ExitCode::SUCCESS
}

// ============================================================= guest: shared helpers

/// Whether this process runs in the hwsim guest (not on the host).
pub fn in_guest() -> bool {
    std::env::var(GUEST_ENV).as_deref() == Ok("1")
}

fn require_guest(what: &str) {
    assert!(
        in_guest(),
        "{what} runs only in the hwsim guest: the host must never get a radio or a test interface"
    );
}

/// Prints a step to the scenario's log, with the seconds since the process started.
pub fn note(msg: impl Display) {
    static START: OnceLock<Instant> = OnceLock::new();
    let t = START.get_or_init(Instant::now).elapsed();
    eprintln!("[{:7.3}] {msg}", t.as_secs_f64());
}

/// The directory for this scenario's logs and configs (kept on the host after a failure).
pub fn scenario_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::var_os(SCENARIO_DIR_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join(format!("hwsim-{}", std::process::id())));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        dir
    })
    .clone()
}

/// A fresh directory on the guest's tmpfs for Unix sockets (not on the 9p result dir).
fn socket_dir(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = PathBuf::from(format!(
        "/run/hwsim-{}-{}-{tag}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

/// Polls `check` every 50 ms until it returns true; panics naming `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < timeout,
            "{what}: not true after {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Moves the calling thread into `ns` (its network namespace only).
fn enter_netns(ns: &str) -> io::Result<()> {
    let file = File::open(format!("/run/netns/{ns}"))?;
    // SAFETY: setns with an open namespace fd; affects only this thread.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Runs `f` on a thread that entered `ns`, so the sockets it opens live there.
pub fn in_netns<T: Send>(ns: &Netns, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        s.spawn(|| {
            enter_netns(&ns.name).unwrap_or_else(|e| panic!("enter netns {}: {e}", ns.name));
            f()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

// ----------------------------------------------------------------- radios

/// `mac80211_hwsim` loaded with fresh radios (all in group 1, `rx_rssi` -50 dBm, in the
/// guest's initial namespace, down). Unloaded on drop, so the next scenario gets new air.
pub struct Air {
    radios: Vec<Radio>,
}

/// One simulated radio: a wiphy (`phyN`) and its station interface (`wlanN`).
#[derive(Debug)]
pub struct Radio {
    /// Position in [`Air::radios`], from 0.
    pub index: usize,
    /// Wiphy name, e.g. `phy3` (numbers keep growing across reloads).
    pub phy: String,
    /// Its first interface, e.g. `wlan0`.
    pub iface: String,
    /// The interface's MAC address, lower-case hex with colons (`02:00:00:00:00:00`).
    pub mac: String,
    netns: std::sync::Mutex<Option<String>>,
}

fn unload_hwsim() {
    if !Path::new("/sys/module/mac80211_hwsim").exists() {
        return;
    }
    let start = Instant::now();
    while Path::new("/sys/module/mac80211_hwsim").exists()
        && start.elapsed() < Duration::from_secs(10)
    {
        let _ = Command::new("rmmod").arg("mac80211_hwsim").status();
        if Path::new("/sys/module/mac80211_hwsim").exists() {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Air {
    /// Loads `mac80211_hwsim radios=COUNT`, unloading it first if a previous user left it.
    pub fn new(count: usize) -> Air {
        require_guest("Air::new");
        unload_hwsim();
        run("modprobe", &["mac80211_hwsim", &format!("radios={count}")]);
        let mut radios = Vec::new();
        for entry in fs::read_dir("/sys/class/net")
            .expect("read /sys/class/net")
            .flatten()
        {
            let Ok(phy) = fs::read_link(entry.path().join("phy80211")) else {
                continue;
            };
            let phy = phy
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let iface = entry.file_name().to_string_lossy().into_owned();
            let mac = fs::read_to_string(entry.path().join("address")).unwrap_or_default();
            radios.push((phy, iface, mac.trim().to_string()));
        }
        let number = |phy: &str| {
            phy.trim_start_matches("phy")
                .parse::<u32>()
                .unwrap_or(u32::MAX)
        };
        radios.sort_by_key(|(phy, _, _)| number(phy));
        assert_eq!(radios.len(), count, "radios after modprobe: {radios:?}");
        let radios: Vec<Radio> = radios
            .into_iter()
            .enumerate()
            .map(|(index, (phy, iface, mac))| Radio {
                index,
                phy,
                iface,
                mac,
                netns: std::sync::Mutex::new(None),
            })
            .collect();
        note(format!(
            "mac80211_hwsim: {}",
            radios
                .iter()
                .map(|r| format!("{}/{} {}", r.phy, r.iface, r.mac))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        Air { radios }
    }

    /// Radio `i` (panics when there is none).
    pub fn radio(&self, i: usize) -> &Radio {
        &self.radios[i]
    }

    pub fn radios(&self) -> &[Radio] {
        &self.radios
    }
}

impl Drop for Air {
    fn drop(&mut self) {
        unload_hwsim();
    }
}

impl Radio {
    fn debugfs(&self, file: &str, value: &str) {
        let path = format!("/sys/kernel/debug/ieee80211/{}/hwsim/{file}", self.phy);
        fs::write(&path, value).unwrap_or_else(|e| panic!("write {value} to {path}: {e}"));
    }

    /// The namespace the radio is in (None: the guest's initial one).
    pub fn netns(&self) -> Option<String> {
        self.netns.lock().map(|n| n.clone()).unwrap_or(None)
    }

    /// Moves the wiphy and its interface into `ns` (`iw phy PHY set netns name NS`).
    pub fn move_to(&self, ns: &Netns) {
        run("iw", &["phy", &self.phy, "set", "netns", "name", &ns.name]);
        if let Ok(mut n) = self.netns.lock() {
            *n = Some(ns.name.clone());
        }
    }

    /// The signal, in dBm (-100..=-1), that receivers report for frames from this radio
    /// (debugfs `hwsim/rx_rssi`, kernel ≥ 5.18; the default is -50). Receivers report it
    /// plus this radio's transmit power (20 dBm by default, so -50 reads as -30): call
    /// [`Radio::set_txpower`]`(0)` so that `rx_rssi` alone decides.
    pub fn set_rx_rssi(&self, dbm: i32) {
        assert!(
            (-100..=-1).contains(&dbm),
            "rx_rssi {dbm} dBm is out of -100..=-1"
        );
        // The 6.1 debugfs attribute parses an unsigned 64-bit number (kstrtoull) and casts it
        // to int: a negative value goes in as its two's complement.
        self.debugfs("rx_rssi", &(i64::from(dbm) as u64).to_string());
    }

    /// Radios hear each other only when their group bitmasks overlap (all start in 1):
    /// `set_group(2)` takes this one silently out of range of group-1 radios, `set_group(1)`
    /// brings it back.
    pub fn set_group(&self, mask: u32) {
        self.debugfs("group", &mask.to_string());
    }

    /// Fixed transmit power in dBm for every interface of the radio (`iw phy PHY set
    /// txpower fixed`; per interface it would not do: mac80211 transmits at the highest
    /// power of the radio's interfaces, so one extra BSS at 20 dBm would decide).
    pub fn set_txpower(&self, dbm: i32) {
        self.cmd(
            "iw",
            &[
                "phy",
                &self.phy,
                "set",
                "txpower",
                "fixed",
                &(dbm * 100).to_string(),
            ],
        );
    }

    /// Runs `program args…` in the radio's namespace and returns its stdout; panics on failure.
    pub fn cmd(&self, program: &str, args: &[&str]) -> String {
        match self.netns() {
            Some(ns) => {
                let mut all = vec!["netns", "exec", ns.as_str(), program];
                all.extend_from_slice(args);
                run("ip", &all)
            }
            None => run(program, args),
        }
    }
}

// ----------------------------------------------------------------- processes

/// A process started by a scenario, with its output in `<scenario dir>/<name>.log`. Killed
/// by PID on drop; when the scenario is failing, the log's tail is printed first.
pub struct Process {
    child: Option<Child>,
    /// Unique within the scenario, e.g. `hostapd-1`.
    pub name: String,
    log: PathBuf,
}

impl Process {
    /// Starts `program args…`, in `ns` when given (`ip netns exec`, which execs, so the PID
    /// is the program's).
    pub fn start<S: AsRef<OsStr>>(
        name: &str,
        ns: Option<&Netns>,
        program: &str,
        args: &[S],
    ) -> Process {
        Self::start_in(name, ns.map(|n| n.name.as_str()), program, args)
    }

    /// Like [`Process::start`], with the namespace by name.
    pub fn start_in<S: AsRef<OsStr>>(
        name: &str,
        ns: Option<&str>,
        program: &str,
        args: &[S],
    ) -> Process {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!("{name}-{}", N.fetch_add(1, Ordering::SeqCst));
        let log = scenario_dir().join(format!("{name}.log"));
        let file = File::create(&log).unwrap_or_else(|e| panic!("create {}: {e}", log.display()));
        let mut cmd = match ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, program]);
                c
            }
            None => Command::new(program),
        };
        let child = cmd
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("clone a log handle"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name} ({program}): {e}"));
        note(format!("started {name} (pid {})", child.id()));
        Process {
            child: Some(child),
            name,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    /// The exit status if it has ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Panics with the log if the process has ended.
    pub fn assert_running(&mut self) {
        if let Some(status) = self.exited() {
            panic!(
                "{} exited ({status}):\n{}",
                self.name,
                tail(&self.log(), 40)
            );
        }
    }

    /// Waits at most `timeout` for the process to end by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        wait_for_exit(child, timeout)
    }

    pub fn log(&self) -> String {
        String::from_utf8_lossy(&fs::read(&self.log).unwrap_or_default()).into_owned()
    }

    /// SIGTERM (so hostapd deauthenticates its stations), then SIGKILL after 5 s.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill with the PID of our child, not yet reaped.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            if wait_for_exit(&mut child, Duration::from_secs(5)).is_none() {
                let _ = child.kill();
                let _ = child.wait();
            }
            note(format!("stopped {}", self.name));
        }
    }
}

fn wait_for_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if start.elapsed() > timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "---- {} (last 30 lines of {}) ----\n{}",
                self.name,
                self.log.display(),
                tail(&self.log(), 30)
            );
        }
    }
}

/// Extra debug output from hostapd and wpa_supplicant when `HWSIM_DEBUG=1`.
fn debug_flag() -> Option<&'static str> {
    (std::env::var("HWSIM_DEBUG").as_deref() == Ok("1")).then_some("-d")
}

// ----------------------------------------------------------------- hostapd

/// A hostapd (nl80211) in a namespace, for one radio and any number of BSSes on it.
pub struct Hostapd {
    /// The process (stop it with [`Process::stop`] to deauthenticate stations).
    pub process: Process,
    ctrl_dir: PathBuf,
    /// The BSS interfaces: `interface=` then each `bss=`.
    pub ifaces: Vec<String>,
}

impl Hostapd {
    /// Starts hostapd in `ns` with `config` (hostapd.conf syntax, `interface=` first, no
    /// `ctrl_interface=`: the harness adds its own directory to the first BSS and to each
    /// `bss=` section). Extra BSSes need their own `bssid=` (hostapd.conf, "Multiple BSSID
    /// support"). Returns when every BSS answers `STATUS` with `state=ENABLED`.
    pub fn start(ns: &Netns, config: &str) -> Hostapd {
        require_guest("Hostapd::start");
        let ctrl_dir = socket_dir("hostapd");
        let ctrl = format!("ctrl_interface={}", ctrl_dir.display());
        let mut text = format!("{ctrl}\n");
        let mut ifaces = Vec::new();
        for line in config.lines() {
            let line = line.trim();
            assert!(
                !line.starts_with("ctrl_interface="),
                "the harness sets ctrl_interface"
            );
            text += line;
            text += "\n";
            if let Some(i) = line
                .strip_prefix("interface=")
                .or(line.strip_prefix("bss="))
            {
                ifaces.push(i.to_string());
            }
            if line.starts_with("bss=") {
                text += &ctrl;
                text += "\n";
            }
        }
        assert!(!ifaces.is_empty(), "hostapd config without interface=");
        static N: AtomicU32 = AtomicU32::new(0);
        let path =
            scenario_dir().join(format!("hostapd-{}.conf", N.fetch_add(1, Ordering::SeqCst)));
        fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        let mut args = vec!["-t".to_string()];
        args.extend(debug_flag().map(str::to_string));
        args.push(path.display().to_string());
        let mut hostapd = Hostapd {
            process: Process::start("hostapd", Some(ns), "hostapd", &args),
            ctrl_dir,
            ifaces,
        };
        for iface in hostapd.ifaces.clone() {
            let what = format!("hostapd BSS {iface} enabled");
            wait_until(&what, PEER_DEADLINE, || {
                hostapd.process.assert_running();
                WpaCtrl::try_open(&hostapd.ctrl_dir.join(&iface))
                    .and_then(|c| c.try_request("STATUS"))
                    .is_ok_and(|s| s.lines().any(|l| l == "state=ENABLED"))
            });
        }
        note(format!("hostapd up: {}", hostapd.ifaces.join(", ")));
        hostapd
    }

    /// A control connection to the first BSS.
    pub fn ctrl(&self) -> WpaCtrl {
        self.ctrl_of(&self.ifaces[0])
    }

    /// A control connection to BSS `iface`.
    pub fn ctrl_of(&self, iface: &str) -> WpaCtrl {
        WpaCtrl::open(&self.ctrl_dir.join(iface))
    }

    /// Its control directory (`hostapd_cli -p DIR`).
    pub fn ctrl_dir(&self) -> &Path {
        &self.ctrl_dir
    }
}

// ----------------------------------------------------------------- wpa_supplicant

/// A wpa_supplicant (nl80211) on one radio's interface, in that radio's namespace.
pub struct Supplicant {
    pub process: Process,
    ctrl_dir: PathBuf,
    config: PathBuf,
    /// The interface it runs on.
    pub iface: String,
}

impl Supplicant {
    /// Starts wpa_supplicant on `radio` with `config` (wpa_supplicant.conf syntax without
    /// `ctrl_interface=`, which the harness sets; may be empty and networks added over the
    /// control socket). Returns when the control socket answers `PING`.
    pub fn start(radio: &Radio, config: &str) -> Supplicant {
        require_guest("Supplicant::start");
        assert!(
            !config.contains("ctrl_interface="),
            "the harness sets ctrl_interface"
        );
        let ctrl_dir = socket_dir("wpa");
        static N: AtomicU32 = AtomicU32::new(0);
        let path = scenario_dir().join(format!(
            "wpa_supplicant-{}.conf",
            N.fetch_add(1, Ordering::SeqCst)
        ));
        fs::write(
            &path,
            format!("ctrl_interface={}\n{config}\n", ctrl_dir.display()),
        )
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        let process = Self::spawn(radio, &path);
        let mut supplicant = Supplicant {
            process,
            ctrl_dir,
            config: path,
            iface: radio.iface.clone(),
        };
        supplicant.wait_ping();
        supplicant
    }

    /// Starts a new wpa_supplicant with the same configuration and control directory (after
    /// the old one died or was stopped), as a service manager would restart it.
    pub fn restart(&mut self, radio: &Radio) {
        self.process.stop();
        self.process = Self::spawn(radio, &self.config);
        self.wait_ping();
    }

    fn spawn(radio: &Radio, config: &Path) -> Process {
        let mut args = vec![
            "-t".to_string(),
            "-D".into(),
            "nl80211".into(),
            "-i".into(),
            radio.iface.clone(),
            "-c".into(),
            config.display().to_string(),
        ];
        args.extend(debug_flag().map(str::to_string));
        Process::start_in(
            "wpa_supplicant",
            radio.netns().as_deref(),
            "wpa_supplicant",
            &args,
        )
    }

    fn wait_ping(&mut self) {
        let socket = self.ctrl_dir.join(&self.iface);
        wait_until("wpa_supplicant answers PING", PEER_DEADLINE, || {
            self.process.assert_running();
            WpaCtrl::try_open(&socket)
                .and_then(|c| c.try_request("PING"))
                .is_ok_and(|r| r == "PONG\n")
        });
    }

    /// A control connection (requests only).
    pub fn ctrl(&self) -> WpaCtrl {
        WpaCtrl::open(&self.ctrl_dir.join(&self.iface))
    }

    /// An attached control connection that receives events.
    pub fn monitor(&self) -> Monitor {
        self.ctrl().attach()
    }

    /// The control socket's path (for `wpa_cli -p DIR` or the backend under test).
    pub fn ctrl_path(&self) -> PathBuf {
        self.ctrl_dir.join(&self.iface)
    }

    /// `ADD_NETWORK`, then `SET_NETWORK id KEY VALUE` for each field (values as in
    /// wpa_supplicant.conf: strings quoted), then `ENABLE_NETWORK id`. Returns the id.
    pub fn add_network(&self, fields: &[(&str, &str)]) -> u32 {
        let ctrl = self.ctrl();
        let reply = ctrl.request("ADD_NETWORK");
        let id: u32 = reply
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("ADD_NETWORK answered {reply:?}"));
        for (key, value) in fields {
            ctrl.request_ok(&format!("SET_NETWORK {id} {key} {value}"));
        }
        ctrl.request_ok(&format!("ENABLE_NETWORK {id}"));
        id
    }

    /// `SCAN PARAMS` (e.g. `freq=2412,2437 passive=1`), then waits on `monitor` (attached
    /// to this supplicant) for `CTRL-EVENT-SCAN-RESULTS`. While another scan runs
    /// (`FAIL-BUSY`) it waits for that one's results and asks again. Panics after `timeout`.
    pub fn scan(&self, monitor: &mut Monitor, params: &str, timeout: Duration) {
        let start = Instant::now();
        let ctrl = self.ctrl();
        loop {
            let reply = ctrl.request(format!("SCAN {params}").trim_end());
            let left = timeout.saturating_sub(start.elapsed());
            match reply.trim_end() {
                "OK" => {
                    monitor.wait_prefix("CTRL-EVENT-SCAN-RESULTS", left);
                    return;
                }
                "FAIL-BUSY" => {
                    monitor.wait_prefix("CTRL-EVENT-SCAN-RESULTS", left);
                }
                other => panic!("SCAN {params}: {other}"),
            }
        }
    }

    /// `STATUS` as key/value pairs.
    pub fn status(&self) -> Vec<(String, String)> {
        parse_kv(&self.ctrl().request("STATUS"))
    }

    /// The value of `key` in `STATUS`.
    pub fn status_of(&self, key: &str) -> Option<String> {
        self.status()
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}

/// `key=value` lines into pairs (lines without `=` are skipped).
pub fn parse_kv(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

// ----------------------------------------------------------------- control socket

/// A client of the hostapd / wpa_supplicant control interface (Unix datagram socket, one
/// request per datagram; wpa_supplicant `doc/ctrl_iface` / hostapd `ctrl_iface.c`). The
/// client socket lives in /run and is removed on drop.
pub struct WpaCtrl {
    socket: UnixDatagram,
    local: PathBuf,
    remote: PathBuf,
}

/// How long a request waits for its reply.
const CTRL_TIMEOUT: Duration = Duration::from_secs(10);
/// Larger than any reply (SCAN_RESULTS and BSS are capped at 4 KiB by wpa_supplicant 2.10).
const CTRL_BUFFER: usize = 64 * 1024;

impl WpaCtrl {
    /// Connects to the server socket at `path`; panics when it cannot.
    pub fn open(path: &Path) -> WpaCtrl {
        Self::try_open(path).unwrap_or_else(|e| panic!("connect to {}: {e}", path.display()))
    }

    pub fn try_open(path: &Path) -> io::Result<WpaCtrl> {
        static N: AtomicU32 = AtomicU32::new(0);
        let local = PathBuf::from(format!(
            "/run/hwsim-ctrl-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_file(&local);
        let socket = UnixDatagram::bind(&local)?;
        let ctrl = WpaCtrl {
            socket,
            local,
            remote: path.to_path_buf(),
        };
        ctrl.socket.connect(path)?;
        Ok(ctrl)
    }

    /// Sends `cmd` and returns the reply; skips unsolicited event messages (`<N>…`).
    pub fn try_request(&self, cmd: &str) -> io::Result<String> {
        self.socket.send(cmd.as_bytes())?;
        let deadline = Instant::now() + CTRL_TIMEOUT;
        let mut buf = vec![0u8; CTRL_BUFFER];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no reply"));
            }
            self.socket.set_read_timeout(Some(left))?;
            let n = self.socket.recv(&mut buf)?;
            if buf.first() == Some(&b'<') {
                continue;
            }
            return Ok(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }

    /// Like [`WpaCtrl::try_request`]; panics naming the command and the socket on failure.
    pub fn request(&self, cmd: &str) -> String {
        self.try_request(cmd)
            .unwrap_or_else(|e| panic!("{cmd} to {}: {e}", self.remote.display()))
    }

    /// Sends `cmd` and panics unless the reply is `OK`.
    pub fn request_ok(&self, cmd: &str) {
        let reply = self.request(cmd);
        assert_eq!(reply.trim_end(), "OK", "{cmd} to {}", self.remote.display());
    }

    /// `ATTACH`: this connection then receives events.
    pub fn attach(self) -> Monitor {
        self.request_ok("ATTACH");
        Monitor {
            ctrl: self,
            seen: Vec::new(),
        }
    }
}

impl Drop for WpaCtrl {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.local);
    }
}

/// An attached control connection: events (`<level>TEXT`) in arrival order.
pub struct Monitor {
    ctrl: WpaCtrl,
    seen: Vec<String>,
}

impl Monitor {
    /// The next event before `deadline`, as received (with its `<N>` level prefix), or None.
    pub fn next_event(&mut self, deadline: Instant) -> Option<String> {
        let mut buf = vec![0u8; CTRL_BUFFER];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.ctrl.socket.set_read_timeout(Some(left)).ok()?;
            match self.ctrl.socket.recv(&mut buf) {
                Ok(n) if buf.first() == Some(&b'<') => {
                    let event = String::from_utf8_lossy(&buf[..n]).into_owned();
                    self.seen.push(event.clone());
                    return Some(event);
                }
                Ok(_) => continue, // a stray reply
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return None
                }
                Err(e) => panic!("read events from {}: {e}", self.ctrl.remote.display()),
            }
        }
    }

    /// Waits for an event whose text (without the `<N>` prefix) satisfies `matches`;
    /// returns that text. Panics after `timeout`, listing the events seen meanwhile.
    pub fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        matches: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        let first = self.seen.len();
        while let Some(event) = self.next_event(deadline) {
            let text = event_text(&event);
            if matches(text) {
                note(format!("event: {text}"));
                return text.to_string();
            }
        }
        panic!(
            "no event {what} within {timeout:?} on {}; seen:\n{}",
            self.ctrl.remote.display(),
            self.seen[first..].join("\n")
        );
    }

    /// Waits for an event starting with `prefix` (e.g. `CTRL-EVENT-CONNECTED`).
    pub fn wait_prefix(&mut self, prefix: &str, timeout: Duration) -> String {
        self.wait_for(prefix, timeout, |e| e.starts_with(prefix))
    }

    /// Every event received so far, with prefixes.
    pub fn events(&self) -> &[String] {
        &self.seen
    }

    /// Requests over the attached connection (replies are told apart from events).
    pub fn ctrl(&self) -> &WpaCtrl {
        &self.ctrl
    }
}

/// An event without its `<N>` level prefix.
pub fn event_text(event: &str) -> &str {
    match event.strip_prefix('<').and_then(|e| e.split_once('>')) {
        Some((_, text)) => text,
        None => event,
    }
}

// ----------------------------------------------------------------- behind the AP

/// dnsmasq in a namespace: DHCP and DNS for one interface.
pub struct Dnsmasq {
    pub process: Process,
}

impl Dnsmasq {
    /// Starts dnsmasq in `ns` on `iface`, which must have `<net>.1/24` (`net` like
    /// `198.18.10`): DHCP leases `<net>.100`–`<net>.150` for 2 minutes with router and DNS
    /// server `<net>.1`, and DNS answering `*.netpilot.test` with `<net>.1` (no upstream).
    /// Returns once it serves.
    pub fn start(ns: &Netns, iface: &str, net: &str) -> Dnsmasq {
        require_guest("Dnsmasq::start");
        assert!(
            net.starts_with("198.18.") || net.starts_with("198.19."),
            "test addresses only"
        );
        let leases = socket_dir("dnsmasq").join("leases");
        let args = vec![
            "--keep-in-foreground".to_string(),
            "--log-facility=-".into(),
            "--conf-file=/dev/null".into(),
            "--no-resolv".into(),
            "--no-hosts".into(),
            "--no-ping".into(),
            format!("--pid-file={}", leases.with_file_name("pid").display()),
            format!("--interface={iface}"),
            "--bind-interfaces".into(),
            "--dhcp-authoritative".into(),
            format!("--dhcp-range={net}.100,{net}.150,255.255.255.0,2m"),
            format!("--dhcp-option=option:router,{net}.1"),
            format!("--dhcp-option=option:dns-server,{net}.1"),
            format!("--address=/netpilot.test/{net}.1"),
            format!("--dhcp-leasefile={}", leases.display()),
        ];
        let mut process = Process::start("dnsmasq", Some(ns), "dnsmasq", &args);
        wait_until("dnsmasq started", PEER_DEADLINE, || {
            process.assert_running();
            process.log().contains("DHCP, IP range")
        });
        Dnsmasq { process }
    }
}

/// An HTTP endpoint on a thread of the scenario process that entered a namespace:
/// `GET /generate_204` → `204 No Content`, anything else → `404`. Stopped on drop.
pub struct HttpEndpoint {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    listener_fd: i32,
    thread: Option<JoinHandle<()>>,
    /// Paths requested so far.
    pub requests: Arc<std::sync::Mutex<Vec<String>>>,
}

impl HttpEndpoint {
    /// Listens on `addr` in `ns` (the address must be configured there).
    pub fn start(ns: &Netns, addr: SocketAddr) -> HttpEndpoint {
        let (tx, rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (stop2, requests2, name) = (stop.clone(), requests.clone(), ns.name.clone());
        let thread = std::thread::spawn(move || {
            let listener = enter_netns(&name).and_then(|()| TcpListener::bind(addr));
            let listener = match listener {
                Ok(l) => {
                    let _ = tx.send(Ok(l.as_raw_fd()));
                    l
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                if conn.ok().and_then(|c| serve_http(c, &requests2)).is_none() {
                    // A failed accept or request: pause, so a persistent error cannot spin.
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        });
        let fd = rx
            .recv_timeout(PEER_DEADLINE)
            .unwrap_or_else(|e| panic!("HTTP endpoint on {addr}: {e}"))
            .unwrap_or_else(|e| panic!("HTTP endpoint: bind {addr} in {}: {e}", ns.name));
        note(format!("HTTP endpoint on {addr} in {}", ns.name));
        HttpEndpoint {
            addr,
            stop,
            listener_fd: fd,
            thread: Some(thread),
            requests,
        }
    }
}

/// Answers one request, after adding its path to `requests` (so a client that has the
/// answer finds its request there).
fn serve_http(mut conn: TcpStream, requests: &std::sync::Mutex<Vec<String>>) -> Option<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = io::BufReader::new(conn.try_clone().ok()?);
    let mut request = String::new();
    reader.read_line(&mut request).ok()?;
    let path = request.split_whitespace().nth(1)?.to_string();
    let mut line = String::new();
    while reader.read_line(&mut line).ok()? > 2 {
        line.clear();
    }
    let status = if path == "/generate_204" {
        "204 No Content"
    } else {
        "404 Not Found"
    };
    if let Ok(mut r) = requests.lock() {
        r.push(path);
    }
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .ok()
}

impl Drop for HttpEndpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // SAFETY: shutdown on the listener's fd, still open (the thread owns it until it
        // returns, and it returns only after accept fails); wakes the blocked accept.
        unsafe { libc::shutdown(self.listener_fd, libc::SHUT_RDWR) };
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An HTTP/1.1 GET of `path` from `addr`, from inside `ns`; returns the status code. Panics
/// when there is no answer within 10 s.
pub fn http_get(ns: &Netns, addr: SocketAddr, path: &str) -> u16 {
    in_netns(ns, || {
        let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("connect to {addr} from {}: {e}", ns.name));
        conn.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("set a timeout");
        write!(
            conn,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap_or_else(|e| panic!("send GET to {addr}: {e}"));
        let _ = conn.shutdown(Shutdown::Write);
        let mut reply = String::new();
        conn.read_to_string(&mut reply)
            .unwrap_or_else(|e| panic!("read the reply from {addr}: {e}"));
        reply
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP reply from {addr}: {reply:?}"))
    })
}

/// An A query for `name` to `server`:53 over UDP from inside `ns` (RFC 1035 §4); returns
/// the addresses in the answer. Panics without an answer within 3 tries of 2 s.
pub fn dns_query_a(ns: &Netns, server: Ipv4Addr, name: &str) -> Vec<Ipv4Addr> {
    let mut query = vec![0x4e, 0x50, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.extend_from_slice(&[0, 0, 1, 0, 1]);
    let reply = in_netns(ns, || {
        let socket = UdpSocket::bind("0.0.0.0:0").expect("bind a UDP socket");
        socket
            .set_read_timeout(Some(Duration::from_secs(2)))
            .expect("set a timeout");
        socket
            .connect((server, 53))
            .expect("connect the UDP socket");
        let mut buf = [0u8; 1500];
        for _ in 0..3 {
            socket
                .send(&query)
                .unwrap_or_else(|e| panic!("send a DNS query to {server}: {e}"));
            if let Ok(n) = socket.recv(&mut buf) {
                return buf[..n].to_vec();
            }
        }
        panic!("no DNS answer from {server} for {name}");
    });
    parse_dns_a(&reply).unwrap_or_else(|| panic!("malformed DNS reply: {reply:?}"))
}

fn parse_dns_a(msg: &[u8]) -> Option<Vec<Ipv4Addr>> {
    fn skip_name(msg: &[u8], mut i: usize) -> Option<usize> {
        loop {
            let len = *msg.get(i)? as usize;
            if len == 0 {
                return Some(i + 1);
            }
            if len & 0xc0 == 0xc0 {
                return Some(i + 2);
            }
            i += 1 + len;
        }
    }
    let answers = u16::from_be_bytes([*msg.get(6)?, *msg.get(7)?]);
    let mut i = skip_name(msg, 12)? + 4;
    let mut out = Vec::new();
    for _ in 0..answers {
        i = skip_name(msg, i)?;
        let rtype = u16::from_be_bytes([*msg.get(i)?, *msg.get(i + 1)?]);
        let len = u16::from_be_bytes([*msg.get(i + 8)?, *msg.get(i + 9)?]) as usize;
        let data = msg.get(i + 10..i + 10 + len)?;
        if rtype == 1 && len == 4 {
            out.push(Ipv4Addr::new(data[0], data[1], data[2], data[3]));
        }
        i += 10 + len;
    }
    Some(out)
}

/// A DHCPv4 lease as busybox udhcpc reported it.
#[derive(Debug, Clone)]
pub struct Lease {
    pub address: Ipv4Addr,
    /// Prefix length from the subnet mask.
    pub prefix: u8,
    pub router: Option<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    /// Lease time in seconds.
    pub lease_secs: u32,
}

/// Runs busybox `udhcpc` once on `iface` in `ns`: DISCOVER → ACK (RFC 2131 §3.1), then its
/// script adds the address and a default route. Panics when no lease comes within ~15 s.
pub fn dhcp(ns: &Netns, iface: &str) -> Lease {
    require_guest("dhcp");
    let dir = socket_dir("udhcpc");
    let out = dir.join("lease");
    let script = dir.join("script");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             case \"$1\" in bound|renew)\n\
             ip addr flush dev \"$interface\"\n\
             ip addr add \"$ip/$mask\" dev \"$interface\"\n\
             [ -n \"$router\" ] && ip route replace default via \"${{router%% *}}\" dev \"$interface\"\n\
             printf 'ip=%s\\nmask=%s\\nrouter=%s\\ndns=%s\\nlease=%s\\n' \"$ip\" \"$mask\" \"$router\" \"$dns\" \"$lease\" > {}.tmp\n\
             mv {0}.tmp {0}\n;;\nesac\n",
            out.display()
        ),
    )
    .expect("write the udhcpc script");
    fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod the udhcpc script");
    let script = script.display().to_string();
    let mut p = Process::start(
        "udhcpc",
        Some(ns),
        "busybox",
        &[
            "udhcpc", "-f", "-q", "-n", "-t", "5", "-T", "2", "-i", iface, "-s", &script,
        ],
    );
    let status = p.wait_exit(Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| s.success()),
        "udhcpc on {iface} in {}: {status:?}\n{}",
        ns.name,
        p.log()
    );
    let text = fs::read_to_string(&out)
        .unwrap_or_else(|e| panic!("udhcpc wrote no lease ({e}):\n{}", p.log()));
    let kv = parse_kv(&text);
    let get = |k: &str| {
        kv.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let lease = Lease {
        address: get("ip")
            .parse()
            .unwrap_or_else(|_| panic!("lease without ip: {text}")),
        prefix: get("mask").parse().unwrap_or(0),
        router: get("router")
            .split_whitespace()
            .next()
            .and_then(|r| r.parse().ok()),
        dns: get("dns")
            .split_whitespace()
            .filter_map(|d| d.parse().ok())
            .collect(),
        lease_secs: get("lease").parse().unwrap_or(0),
    };
    note(format!("DHCP lease on {iface}: {lease:?}"));
    lease
}
