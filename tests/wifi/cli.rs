//! The `netpilot` command line on real radios: the real CLI binary runs in the station's
//! namespace against netpilotd driving a real wpa_supplicant, as a user would run it. Scan
//! and the services table (SSID, escaped when it is not UTF-8; security; signal; frequency),
//! technologies (available, country, power), connect with a passphrase from a file and from
//! stdin, a wrong passphrase, and `netpilot agent` answering the daemon's input requests, from
//! lines on a pipe and at a terminal (a pty, through script(1)) without echo.

use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use netpilot::pb;

use crate::common::hwsim::{note, scenario_dir, wait_until, Air, Hostapd};
use crate::common::Netns;
use crate::harness::{freq, psk_ap, sae_ap};
use crate::netpilot::{Ap, Station, AP_NET, PASSPHRASE, SLOW};

/// The CLI under test, built with this test binary (visible in the guest through 9p).
const CLI: &str = env!("CARGO_BIN_EXE_netpilot");

/// What a finished `netpilot` run left.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Panics unless it exited 0.
    fn ok(self, what: &str) -> Run {
        assert!(
            self.status.success(),
            "{what}: netpilot exited with {}:\n{}{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Panics if it exited 0.
    fn failed(self, what: &str) -> Run {
        assert!(
            !self.status.success(),
            "{what}: netpilot should have failed:\n{}{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// A fresh pair of output files in the scenario's directory.
fn output_files(tag: &str) -> (PathBuf, PathBuf) {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let dir = scenario_dir();
    (
        dir.join(format!("cli-{n}-{tag}.out")),
        dir.join(format!("cli-{n}-{tag}.err")),
    )
}

/// `ip netns exec <station> netpilot --socket <daemon's> ARGS…`.
fn command(station: &Station, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", &station.ns.name, CLI, "--socket"])
        .arg(&station.daemon.socket)
        .args(args);
    c
}

/// Runs `netpilot ARGS…` in the station's namespace with `input` on its stdin (none: an
/// empty stdin) and waits for it, at most [`SLOW`].
fn netpilot(station: &Station, args: &[&str], input: Option<&str>) -> Run {
    note(format!("$ netpilot {}", args.join(" ")));
    let (out, err) = output_files(args.first().copied().unwrap_or("none"));
    let mut child = command(station, args)
        .stdin(Stdio::piped())
        .stdout(File::create(&out).expect("stdout file"))
        .stderr(File::create(&err).expect("stderr file"))
        .spawn()
        .expect("run netpilot");
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.unwrap_or("").as_bytes())
            .expect("write netpilot's stdin");
    }
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for netpilot") {
            break status;
        }
        if start.elapsed() > SLOW {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "netpilot {} did not finish in {SLOW:?}:\n{}{}",
                args.join(" "),
                read(&out),
                read(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let run = Run {
        status,
        stdout: read(&out),
        stderr: read(&err),
    };
    note(format!("exit {}\n{}{}", run.status, run.stdout, run.stderr));
    run
}

fn read(path: &PathBuf) -> String {
    String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned()
}

/// One service in the services table: its row's cells (STATE NAME SECURITY SIGNAL MHZ IPV4
/// FLAGS) and the line under it (the id, then the error if any).
#[derive(Debug)]
struct Listed {
    state: String,
    name: String,
    security: String,
    signal: String,
    mhz: String,
    flags: String,
    below: String,
}

impl Listed {
    fn id(&self) -> &str {
        self.below.split_whitespace().next().unwrap_or("")
    }
}

/// Reads the services table out of `netpilot services`-style output: the header line, then
/// each row followed by its indented id line. Cells are separated by two or more spaces.
fn parse_services(text: &str) -> Vec<Listed> {
    let mut lines = text.lines().skip_while(|l| !l.starts_with("STATE")).skip(1);
    let mut listed = Vec::new();
    while let Some(row) = lines.next() {
        let below = lines
            .next()
            .unwrap_or_else(|| panic!("no id line under {row:?} in:\n{text}"));
        assert!(
            below.starts_with("  "),
            "{below:?} is not an id line:\n{text}"
        );
        let cells: Vec<String> = row
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect();
        assert_eq!(cells.len(), 7, "{row:?} does not have 7 cells:\n{text}");
        listed.push(Listed {
            state: cells[0].clone(),
            name: cells[1].clone(),
            security: cells[2].clone(),
            signal: cells[3].clone(),
            mhz: cells[4].clone(),
            flags: cells[6].clone(),
            below: below.trim().to_string(),
        });
    }
    listed
}

fn find<'a>(listed: &'a [Listed], name: &str, text: &str) -> &'a Listed {
    listed
        .iter()
        .find(|l| l.name == name)
        .unwrap_or_else(|| panic!("{name} is not in the table:\n{text}"))
}

/// The services the API lists.
fn api_services(station: &Station) -> Vec<pb::Service> {
    let mut manager = station.manager();
    station
        .rt
        .block_on(manager.list_services(pb::ListServicesRequest {}))
        .expect("list services")
        .into_inner()
        .services
}

/// WPA2-PSK (weak) and an open network whose SSID is not UTF-8 on channel 1 (two BSSes of
/// one hostapd), WPA3-SAE (strong) on channel 6: `netpilot scan` lists all three with their
/// security, signal and frequency, the ids the API gives under them, the non-UTF-8 SSID
/// escaped, in 80 columns. `technology wifi --country de` sets the country, which
/// `technologies` shows with Wi-Fi available; with Wi-Fi powered off `scan` fails saying how
/// to turn it on.
pub fn scan_lists_networks() {
    let air = Air::new(3);
    let (weak, strong, sta) = (air.radio(0), air.radio(1), air.radio(2));
    let ap_ns = Netns::new("ap");
    weak.move_to(&ap_ns);
    strong.move_to(&ap_ns);
    weak.set_rx_rssi(-75);
    strong.set_rx_rssi(-45);
    let (prefix, _) = weak.mac.rsplit_once(':').expect("a MAC");
    // The second BSS: "np" and the byte 0xff, open.
    let _weak = Hostapd::start(
        &ap_ns,
        &format!(
            "{}bss={}_1\nbssid={prefix}:01\nssid2=6e70ff\n",
            psk_ap(weak, "np-psk", 1),
            weak.iface
        ),
    );
    let _strong = Hostapd::start(&ap_ns, &sae_ap(strong, "np-sae", 6));
    for r in [weak, strong] {
        r.set_txpower(0);
    }
    let station = Station::start(sta, "");
    station.wifi_available();

    let scan = netpilot(&station, &["scan"], None).ok("scan");
    assert!(
        scan.stdout.starts_with("Scan completed for wifi\n"),
        "{}",
        scan.stdout
    );
    let listed = parse_services(&scan.stdout);
    let api = api_services(&station);
    let (p, s, o) = (
        find(&listed, "np-psk", &scan.stdout),
        find(&listed, "np-sae", &scan.stdout),
        find(&listed, "np\\xff", &scan.stdout),
    );
    for (row, security, channel) in [(p, "psk", 1), (s, "sae", 6), (o, "none", 1)] {
        assert_eq!(row.security, security, "{row:?}");
        assert_eq!(row.mhz, freq(channel).to_string(), "{row:?}");
        assert_eq!(row.state, "idle", "{row:?}");
        let from_api = api
            .iter()
            .find(|x| x.id == row.id())
            .unwrap_or_else(|| panic!("{row:?}: its id is not a service: {api:#?}"));
        assert_eq!(row.signal, from_api.strength.to_string(), "{row:?}");
        assert!((1..=100).contains(&from_api.strength), "{from_api:?}");
    }
    assert_eq!(
        api.iter().find(|x| x.id == o.id()).map(|x| x.ssid.clone()),
        Some(b"np\xff".to_vec())
    );
    assert!(
        s.signal.parse::<u32>().expect("signal") > p.signal.parse::<u32>().expect("signal"),
        "the stronger network shows the higher signal: {s:?} {p:?}"
    );
    for line in scan.stdout.lines() {
        assert!(
            line.chars().count() <= 80,
            "wider than 80 columns: {line:?}"
        );
    }

    let set =
        netpilot(&station, &["technology", "wifi", "--country", "de"], None).ok("set the country");
    assert!(set.stdout.contains(" DE "), "{}", set.stdout);
    let technologies = netpilot(&station, &["technologies"], None).ok("technologies");
    let wifi_row = technologies
        .stdout
        .lines()
        .find(|l| l.starts_with("wifi"))
        .unwrap_or_else(|| panic!("no wifi row:\n{}", technologies.stdout));
    let cells: Vec<&str> = wifi_row.split_whitespace().collect();
    // TYPE NAME POWERED CONNECTED AVAILABLE COUNTRY TETHERING
    assert_eq!(cells.len(), 7, "{wifi_row:?}");
    assert_eq!(
        (cells[2], cells[4], cells[5]),
        ("yes", "yes", "DE"),
        "{wifi_row:?}"
    );

    netpilot(&station, &["technology", "wifi", "--powered", "off"], None).ok("power off");
    let refused = netpilot(&station, &["scan", "wifi"], None).failed("scan while off");
    assert!(
        refused.stderr.contains("scan wifi failed")
            && refused
                .stderr
                .contains("netpilot technology wifi --powered on"),
        "{}",
        refused.stderr
    );
}

/// `netpilot connect ID --passphrase-file F` → ready, the table shows it favorite with its
/// address; `remove` forgets it; `connect ID --passphrase -` reads the passphrase from stdin
/// → ready again. The passphrase shows nowhere: not in the CLI's output, not in the log.
pub fn connect_with_passphrase_file_and_stdin() {
    let air = Air::new(2);
    let _ap = Ap::start(air.radio(0), &psk_ap(air.radio(0), "np-psk", 1));
    let station = Station::start(air.radio(1), "");
    let id = station.service("np-psk", "np-psk listed", |_| true).id;
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("np-psk.pass");
    std::fs::write(&file, format!("{PASSPHRASE}\n")).expect("write the passphrase file");

    let file_arg = file.display().to_string();
    let connected = netpilot(
        &station,
        &["connect", &id, "--passphrase-file", &file_arg],
        None,
    )
    .ok("connect with --passphrase-file");
    let row = parse_services(&connected.stdout);
    assert_eq!(row.len(), 1, "{}", connected.stdout);
    assert_eq!(
        (row[0].name.as_str(), row[0].state.as_str(), row[0].id()),
        ("np-psk", "ready", id.as_str()),
        "{}",
        connected.stdout
    );

    let services = netpilot(&station, &["services"], None).ok("services");
    let listed = parse_services(&services.stdout);
    let psk = find(&listed, "np-psk", &services.stdout);
    assert!(psk.state == "ready" || psk.state == "online", "{psk:?}");
    assert_eq!(psk.security, "psk", "{psk:?}");
    assert!(psk.flags.starts_with('*'), "a favorite now: {psk:?}");
    assert!(
        services.stdout.contains(&format!("{AP_NET}.")),
        "the DHCP address shows:\n{}",
        services.stdout
    );

    netpilot(&station, &["remove", &id], None).ok("remove");
    station.service("np-psk", "np-psk forgotten", |s| {
        !s.favorite && !s.passphrase_set && s.state() == pb::ServiceState::Idle
    });

    let typed = format!("{PASSPHRASE}\n");
    let again = netpilot(
        &station,
        &["connect", &id, "--passphrase", "-"],
        Some(&typed),
    )
    .ok("connect with --passphrase -");
    assert!(again.stdout.contains("ready"), "{}", again.stdout);

    for run in [&connected, &services, &again] {
        assert!(
            !run.stdout.contains(PASSPHRASE) && !run.stderr.contains(PASSPHRASE),
            "the CLI printed the passphrase"
        );
    }
    assert!(
        !station.daemon.log().contains(PASSPHRASE),
        "the passphrase reached the daemon's log"
    );
}

/// A wrong passphrase: `connect` exits non-zero naming `invalid-key` and what to do, and
/// the table shows the service failed with that error.
pub fn wrong_passphrase_names_invalid_key() {
    let air = Air::new(2);
    let _ap = Ap::start(air.radio(0), &psk_ap(air.radio(0), "np-psk", 1));
    // One refused handshake is enough to give up (the default 2 waits out wpa_supplicant's
    // 10 s temporary disabling).
    let station = Station::start(air.radio(1), "max_auth_attempts = 1");
    let id = station.service("np-psk", "np-psk listed", |_| true).id;
    let refused = netpilot(
        &station,
        &["connect", &id, "--passphrase", "not the passphrase"],
        None,
    )
    .failed("connect with a wrong passphrase");
    assert!(
        refused
            .stderr
            .starts_with(&format!("netpilot: connect {id} failed: invalid-key\n")),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("--passphrase-file"),
        "says what to do: {}",
        refused.stderr
    );
    let services = netpilot(&station, &["services"], None).ok("services");
    let listed = parse_services(&services.stdout);
    let psk = find(&listed, "np-psk", &services.stdout);
    assert_eq!(psk.state, "failure", "{psk:?}");
    assert!(psk.below.ends_with("error: invalid-key"), "{psk:?}");
}

/// `netpilot agent` with its stdin from the test, killed by PID on drop.
struct AgentProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    out: PathBuf,
}

impl AgentProcess {
    /// `netpilot agent` with its stdin a pipe.
    fn start(station: &Station) -> AgentProcess {
        note("$ netpilot agent");
        Self::spawn(command(station, &["agent"]))
    }

    /// `netpilot agent` on a pseudo-terminal: script(1) runs it on a pty and copies the
    /// test's pipe to the pty's input and everything the pty shows (echo included) to the
    /// output file.
    fn start_at_terminal(station: &Station) -> AgentProcess {
        note("$ script -c 'netpilot agent'");
        let agent = format!(
            "'{CLI}' --socket '{}' agent",
            station.daemon.socket.display()
        );
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &station.ns.name, "script", "-qfec"])
            .arg(agent)
            .arg("/dev/null");
        Self::spawn(c)
    }

    fn spawn(mut command: Command) -> AgentProcess {
        let (out, _) = output_files("agent");
        let file = File::create(&out).expect("agent output file");
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(file.try_clone().expect("clone a file handle"))
            .stderr(file)
            .spawn()
            .expect("start netpilot agent");
        let stdin = child.stdin.take();
        AgentProcess { child, stdin, out }
    }

    fn output(&self) -> String {
        read(&self.out)
    }

    /// Waits until the agent has printed `text`.
    fn wait_for(&self, text: &str) {
        self.wait_for_count(text, 1);
    }

    /// Waits until the agent has printed `text` `n` times.
    fn wait_for_count(&self, text: &str, n: usize) {
        wait_until(
            &format!("the agent prints {text:?} {n} times"),
            SLOW,
            || self.output().matches(text).count() >= n,
        );
    }

    /// Writes one line to the agent's stdin.
    fn answer(&mut self, line: &str) {
        self.type_in(&format!("{line}\n"));
    }

    /// Writes `text` as it is to the agent's stdin.
    fn type_in(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("the agent's stdin");
        stdin
            .write_all(text.as_bytes())
            .expect("write to the agent");
        stdin.flush().expect("flush the agent's stdin");
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for the agent") {
                return status;
            }
            assert!(
                start.elapsed() < SLOW,
                "the agent did not exit:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- netpilot agent ----\n{}", self.output());
        }
    }
}

/// With no agent, `connect` without credentials fails with `passphrase-required` and points
/// at `netpilot agent`. With `netpilot agent` running (fed by lines on its stdin): an empty
/// answer declines (`connect` fails naming `Canceled`); the passphrase answers, and the
/// connect made without credentials becomes ready. The agent shows the SSID, security and
/// the field asked, never the passphrase, and exits 0 when the daemon stops (Release).
pub fn agent_answers_passphrase_request() {
    let air = Air::new(2);
    let _ap = Ap::start(air.radio(0), &psk_ap(air.radio(0), "np-psk", 1));
    let mut station = Station::start(air.radio(1), "");
    let id = station.service("np-psk", "np-psk listed", |_| true).id;

    let alone = netpilot(&station, &["connect", &id], None).failed("connect with no agent");
    assert!(
        alone.stderr.starts_with(&format!(
            "netpilot: connect {id} failed: passphrase-required\n"
        )) && alone.stderr.contains("netpilot agent"),
        "{}",
        alone.stderr
    );

    let mut agent = AgentProcess::start(&station);
    agent.wait_for("Agent registered");
    agent.answer("");
    let declined = netpilot(&station, &["connect", &id], None).failed("connect, declined");
    assert!(
        declined
            .stderr
            .starts_with(&format!("netpilot: connect {id} failed: Canceled\n")),
        "{}",
        declined.stderr
    );
    agent.wait_for("declined the request for np-psk");

    agent.answer(PASSPHRASE);
    let ready = netpilot(&station, &["connect", &id], None).ok("connect through the agent");
    assert!(ready.stdout.contains("ready"), "{}", ready.stdout);
    agent.wait_for("answered the request for np-psk");
    let shown = agent.output();
    note(format!("the agent's output:\n{shown}"));
    assert!(
        shown.contains("netpilotd asks for input for np-psk (psk, signal "),
        "{shown}"
    );
    assert!(
        shown.contains(&id) && shown.contains("Passphrase? "),
        "{shown}"
    );
    assert!(
        !shown.contains(PASSPHRASE),
        "the agent printed the passphrase"
    );

    station.daemon.sigterm();
    let status = agent.wait_exit();
    assert!(status.success(), "agent exit {status}:\n{}", agent.output());
    agent.wait_for("netpilotd released the agent (shutdown)");
    let daemon = station.rt.block_on(station.daemon.wait_exit());
    assert!(daemon.success(), "netpilotd exit {daemon}");
    let log = station.daemon.log();
    assert!(!log.contains(PASSPHRASE), "the passphrase reached the log");
}

/// `netpilot agent` at a terminal (a pty through script(1)): the passphrase typed after
/// the prompt is not echoed, the connect made without credentials becomes ready; at the next
/// prompt Ctrl-C ends the agent (exit 130) and the connect waiting for it fails.
pub fn agent_at_a_terminal_reads_without_echo() {
    let air = Air::new(2);
    let _ap = Ap::start(air.radio(0), &psk_ap(air.radio(0), "np-psk", 1));
    let station = Station::start(air.radio(1), "");
    let id = station.service("np-psk", "np-psk listed", |_| true).id;
    let mut agent = AgentProcess::start_at_terminal(&station);
    agent.wait_for("Agent registered");

    let ready = std::thread::scope(|s| {
        let connect = s.spawn(|| netpilot(&station, &["connect", &id], None));
        agent.wait_for("Passphrase? ");
        agent.answer(PASSPHRASE);
        connect.join().expect("the connect thread")
    })
    .ok("connect through the agent at a terminal");
    assert!(ready.stdout.contains("ready"), "{}", ready.stdout);
    agent.wait_for("answered the request for np-psk");
    let shown = agent.output();
    note(format!("the terminal showed:\n{shown}"));
    assert!(
        !shown.contains(PASSPHRASE),
        "the terminal echoed the passphrase:\n{shown}"
    );

    netpilot(&station, &["remove", &id], None).ok("remove");
    station.service("np-psk", "np-psk forgotten", |s| !s.passphrase_set);
    let aborted = std::thread::scope(|s| {
        let connect = s.spawn(|| netpilot(&station, &["connect", &id], None));
        agent.wait_for_count("Passphrase? ", 2);
        agent.type_in("\x03");
        let status = agent.wait_exit();
        assert_eq!(
            status.code(),
            Some(130),
            "Ctrl-C ends the agent:\n{}",
            agent.output()
        );
        connect.join().expect("the connect thread")
    });
    aborted.failed("connect whose agent went away");
}
