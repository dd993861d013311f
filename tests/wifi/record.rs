//! Records real wpa_supplicant control-interface output into `tests/fixtures/wpa/`, for
//! the parser tests of the Wi-Fi backend. Run by hand through
//! tests/hwsim/record-wpa-output.sh, never in CI: `wifi --record-wpa-fixtures DIR` boots a
//! VM that runs `wifi --hwsim-record`, which records into the VM's result dir, and copies
//! what it wrote to DIR. tests/fixtures/wpa/README.md says what each file holds.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use crate::common::hwsim::{
    error_chain, note, Air, Hostapd, Monitor, Radio, Supplicant, Vm, VmImage, VmOptions, WpaCtrl,
};
use crate::common::Netns;
use crate::harness::{freq, psk_ap, sae_ap};

pub const HOST_FLAG: &str = "--record-wpa-fixtures";
pub const GUEST_FLAG: &str = "--hwsim-record";

const SLOW: Duration = Duration::from_secs(40);
const PASSPHRASE: &str = "correct horse battery";

/// Host side: boots the VM, waits, copies `RESULTS/fixtures/*` to `args[0]`.
pub fn host(args: &[String]) -> ExitCode {
    let Some(dest) = args.first().map(PathBuf::from) else {
        eprintln!("usage: wifi {HOST_FLAG} DIR");
        return ExitCode::from(2);
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("recording needs root (the VM shares / over 9p as root)");
        return ExitCode::FAILURE;
    }
    let run = || -> Result<(), String> {
        let image = VmImage::load().map_err(|e| error_chain(&e))?;
        let exe = std::env::current_exe().map_err(|e| format!("find this binary: {e}"))?;
        let options = VmOptions {
            timeout: Duration::from_secs(900),
            ..VmOptions::default()
        };
        let command = [exe.display().to_string(), GUEST_FLAG.to_string()];
        let mut vm = Vm::start(&image, &command, &options).map_err(|e| error_chain(&e))?;
        let outcome = vm.wait(|| {});
        let console = vm.console();
        print!("{console}");
        match outcome {
            Ok(0) => {}
            Ok(code) => {
                let kept = vm.keep_results();
                return Err(format!(
                    "the recording failed (status {code}); logs in {}",
                    kept.display()
                ));
            }
            Err(e) => {
                let kept = vm.keep_results();
                return Err(format!("{}; logs in {}", error_chain(&e), kept.display()));
            }
        }
        let from = vm.results().join("fixtures");
        fs::create_dir_all(&dest).map_err(|e| format!("create {}: {e}", dest.display()))?;
        let mut names: Vec<_> = fs::read_dir(&from)
            .map_err(|e| format!("read {}: {e}", from.display()))?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for name in names {
            fs::copy(from.join(&name), dest.join(&name))
                .map_err(|e| format!("copy {name:?} to {}: {e}", dest.display()))?;
            println!("recorded {}", dest.join(&name).display());
        }
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Guest side: every recording, into `$hwsim_results/fixtures/`.
pub fn guest(_args: &[String]) -> ExitCode {
    let Some(results) = std::env::var_os("hwsim_results").map(PathBuf::from) else {
        eprintln!("{GUEST_FLAG} runs in the hwsim guest only");
        return ExitCode::from(2);
    };
    let out = results.join("fixtures");
    let logs = results.join("logs");
    // Before any thread starts: where the harness puts process logs.
    std::env::set_var("HWSIM_SCENARIO_DIR", &logs);
    if let Err(e) = fs::create_dir_all(&out) {
        eprintln!("create {}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    let recorded = std::panic::catch_unwind(|| {
        versions(&out);
        big_scan(&out);
        psk_lifecycle(&out);
        wrong_psk(&out);
        sae(&out);
        eap(&out);
        network_not_found(&out);
    });
    match recorded {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => {
            eprintln!("recording failed; process logs in {}", logs.display());
            ExitCode::FAILURE
        }
    }
}

fn save(out: &Path, name: &str, text: &str) {
    let path = out.join(name);
    fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    note(format!("saved {name} ({} bytes)", text.len()));
}

/// Events since the last call, one per line, as received (with the `<N>` level prefix).
struct Events {
    monitor: Monitor,
    mark: usize,
}

impl Events {
    fn new(monitor: Monitor) -> Events {
        Events { monitor, mark: 0 }
    }

    fn take(&mut self) -> String {
        let events = &self.monitor.events()[self.mark..];
        self.mark = self.monitor.events().len();
        events.iter().map(|e| format!("{e}\n")).collect()
    }

    /// Collects events for `period` (for what follows a step, e.g. the scans after a loss).
    fn drain(&mut self, period: Duration) {
        let deadline = Instant::now() + period;
        while self.monitor.next_event(deadline).is_some() {}
    }
}

fn versions(out: &Path) {
    let first_line = |program: &str| {
        let o = Command::new(program).arg("-v").output().expect("run -v");
        let text =
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        text.lines().next().unwrap_or_default().to_string()
    };
    let image = VmImage::load()
        .map(|i| i.kernel_package)
        .unwrap_or_default();
    let dpkg = |p: &str| {
        let o = Command::new("dpkg-query")
            .args(["-W", "-f", "${Version}", p])
            .output()
            .expect("dpkg-query");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    save(
        out,
        "recorded-with.txt",
        &format!(
            "kernel: {} (Debian {image}), mac80211_hwsim in QEMU TCG\n{} (Debian hostapd {})\n{} (Debian wpasupplicant {})\n",
            fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
            first_line("hostapd"),
            dpkg("hostapd"),
            first_line("wpa_supplicant"),
            dpkg("wpasupplicant"),
        ),
    );
}

/// hostapd `ssid2=` in hex: any bytes, exactly.
fn ssid2(bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("ssid2={hex}")
}

/// BSS `i` of `radio`: the radio's MAC with the last octet `i`.
fn bssid(radio: &Radio, i: usize) -> String {
    let (prefix, _) = radio.mac.rsplit_once(':').expect("a MAC");
    format!("{prefix}:{i:02x}")
}

/// The APs with unusual SSIDs and each kind of security, all on one radio (multi-BSS).
fn special_bsses(eap_users: &Path) -> Vec<String> {
    let psk =
        format!("wpa=2\nwpa_key_mgmt=WPA-PSK\nrsn_pairwise=CCMP\nwpa_passphrase={PASSPHRASE}");
    let thirty_two = b"np-32-byte-ssid-abcdefghijklmnop";
    assert_eq!(thirty_two.len(), 32);
    vec![
        format!("{}\nutf8_ssid=1\n{psk}", ssid2("Café ☕ Ñandú".as_bytes())),
        format!("{}\n", ssid2(b"\xff\xfe caf\xe9 latin-1")),
        format!(
            "{}\nwpa=2\nwpa_key_mgmt=SAE\nrsn_pairwise=CCMP\nieee80211w=2\nsae_password={PASSPHRASE}",
            ssid2(br#"say "hi" \ C:\path"#)
        ),
        format!(
            "{}\nwpa=2\nwpa_key_mgmt=WPA-PSK SAE\nrsn_pairwise=CCMP\nieee80211w=1\nwpa_passphrase={PASSPHRASE}",
            ssid2(thirty_two)
        ),
        format!("ssid=np-hidden\nignore_broadcast_ssid=1\n{psk}"),
        format!(
            "ssid=np-eap\nieee8021x=1\neap_server=1\neap_user_file={}\nwpa=2\nwpa_key_mgmt=WPA-EAP\nrsn_pairwise=CCMP",
            eap_users.display()
        ),
        format!("ssid=np-wpa1-wpa2\nwpa=3\nwpa_key_mgmt=WPA-PSK\nwpa_pairwise=TKIP\nrsn_pairwise=CCMP\nwpa_passphrase={PASSPHRASE}"),
        "ssid=np-owe\nwpa=2\nwpa_key_mgmt=OWE\nrsn_pairwise=CCMP\nieee80211w=2".to_string(),
    ]
}

/// A hostapd config for `radio` on `channel` with one BSS per entry of `bsses` (SSID and
/// security lines).
fn multi_bss(radio: &Radio, channel: u32, bsses: &[String]) -> String {
    let mut config = format!(
        "interface={}\ndriver=nl80211\nhw_mode=g\nchannel={channel}\n",
        radio.iface
    );
    for (i, bss) in bsses.iter().enumerate() {
        if i > 0 {
            config += &format!("bss={}_{i}\nbssid={}\n", radio.iface, bssid(radio, i));
        }
        config += bss;
        config += "\n";
    }
    config
}

fn eap_users() -> PathBuf {
    let path = crate::common::hwsim::scenario_dir().join("eap_users");
    fs::write(&path, "\"alice\" PWD \"alice-secret-1\"\n").expect("write the EAP user file");
    path
}

/// Three AP radios (channels 1, 6, 11; signal -35, -60, -85 dBm) with 211 BSSes between
/// them, the unusual SSIDs and securities first; a passive scan of the three channels.
fn big_scan(out: &Path) {
    const PER_RADIO: usize = 70;
    let air = Air::new(4);
    let sta_ns = Netns::new("sta");
    let sta = air.radio(3);
    sta.move_to(&sta_ns);
    let users = eap_users();
    let mut aps = Vec::new();
    let mut namespaces = Vec::new();
    for (r, (channel, rssi)) in [(1, -35), (6, -60), (11, -85)].into_iter().enumerate() {
        let radio = air.radio(r);
        let ns = Netns::new(&format!("ap{r}"));
        radio.move_to(&ns);
        radio.set_rx_rssi(rssi);
        let mut bsses = if r == 0 {
            special_bsses(&users)
        } else {
            Vec::new()
        };
        let open_or_psk = |i: usize| {
            if i.is_multiple_of(2) {
                format!("ssid=np-bulk-{r}-{i:03}")
            } else {
                format!("ssid=np-bulk-{r}-{i:03}\nwpa=2\nwpa_key_mgmt=WPA-PSK\nrsn_pairwise=CCMP\nwpa_passphrase={PASSPHRASE}")
            }
        };
        while bsses.len() < PER_RADIO + usize::from(r == 0) {
            bsses.push(open_or_psk(bsses.len()));
        }
        aps.push(Hostapd::start(&ns, &multi_bss(radio, channel, &bsses)));
        radio.set_txpower(0);
        namespaces.push(ns);
    }
    let wpa = Supplicant::start(sta, "bss_max_count=1000");
    let ctrl = wpa.ctrl();
    let mut events = Events::new(wpa.monitor());
    save(out, "status-idle.txt", &ctrl.request("STATUS"));
    // Passive: every BSS beacons within the 110 ms dwell, while 200 probe responses from
    // hostapd (user space, under TCG) would not all arrive in an active scan's dwell.
    let freqs = format!("{},{},{}", freq(1), freq(6), freq(11));
    let total = 3 * PER_RADIO + 1;
    let start = Instant::now();
    loop {
        wpa.scan(
            &mut events.monitor,
            &format!("freq={freqs} passive=1"),
            SLOW,
        );
        let seen = bss_list(&ctrl).len();
        note(format!("{seen} BSSes after a scan"));
        if seen >= total {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "only {seen} of {total} BSSes seen"
        );
    }
    save(out, "events-scan.txt", &events.take());
    save(out, "scan-results.txt", &ctrl.request("SCAN_RESULTS"));
    let blocks = bss_list(&ctrl);
    assert!(blocks.len() > 200, "{} BSSes", blocks.len());
    save(out, "bss.txt", &blocks.join("\n"));
}

/// `BSS FIRST`, then `BSS NEXT-<id>` until the reply is empty: each reply ends with a
/// newline, so blocks joined by "\n" are separated by one empty line.
fn bss_list(ctrl: &WpaCtrl) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut reply = ctrl.request("BSS FIRST");
    while !reply.is_empty() {
        let id = reply
            .lines()
            .find_map(|l| l.strip_prefix("id="))
            .unwrap_or_else(|| panic!("BSS reply without id: {reply:?}"))
            .to_string();
        blocks.push(reply);
        reply = ctrl.request(&format!("BSS NEXT-{id}"));
        assert!(blocks.len() < 5000, "BSS NEXT does not end");
    }
    blocks
}

/// An AP radio in namespace `ap` and a station radio in `sta`, with wpa_supplicant.
struct Pair {
    hostapd: Option<Hostapd>,
    wpa: Supplicant,
    events: Events,
    _sta_ns: Netns,
    _ap_ns: Netns,
    air: Air,
}

fn pair(config: impl Fn(&Radio) -> String) -> Pair {
    let air = Air::new(2);
    let (ap_ns, sta_ns) = (Netns::new("ap"), Netns::new("sta"));
    air.radio(0).move_to(&ap_ns);
    air.radio(1).move_to(&sta_ns);
    let hostapd = Hostapd::start(&ap_ns, &config(air.radio(0)));
    let wpa = Supplicant::start(air.radio(1), "");
    let events = Events::new(wpa.monitor());
    Pair {
        hostapd: Some(hostapd),
        wpa,
        events,
        _sta_ns: sta_ns,
        _ap_ns: ap_ns,
        air,
    }
}

fn quoted(s: &str) -> String {
    format!("\"{s}\"")
}

/// WPA2-PSK: connect; out of range (group bitmask) and back; AP stopped (deauthentication).
fn psk_lifecycle(out: &Path) {
    let mut p = pair(|r| psk_ap(r, "np-psk", 1));
    let f = freq(1).to_string();
    p.wpa.add_network(&[
        ("ssid", &quoted("np-psk")),
        ("psk", &quoted(PASSPHRASE)),
        ("key_mgmt", "WPA-PSK"),
        ("scan_freq", &f),
    ]);
    p.events.monitor.wait_prefix("CTRL-EVENT-CONNECTED", SLOW);
    p.events.drain(Duration::from_secs(1));
    save(out, "events-psk-connect.txt", &p.events.take());
    save(
        out,
        "status-psk-completed.txt",
        &p.wpa.ctrl().request("STATUS"),
    );

    let ap = p.air.radio(0);
    ap.set_group(2);
    p.events
        .monitor
        .wait_prefix("CTRL-EVENT-DISCONNECTED", SLOW);
    p.events
        .monitor
        .wait_prefix("CTRL-EVENT-NETWORK-NOT-FOUND", SLOW);
    save(
        out,
        "status-out-of-range.txt",
        &p.wpa.ctrl().request("STATUS"),
    );
    ap.set_group(1);
    p.events.monitor.wait_prefix("CTRL-EVENT-CONNECTED", SLOW);
    p.events.drain(Duration::from_secs(1));
    save(out, "events-out-of-range.txt", &p.events.take());

    if let Some(mut hostapd) = p.hostapd.take() {
        hostapd.process.stop();
    }
    p.events
        .monitor
        .wait_prefix("CTRL-EVENT-DISCONNECTED", SLOW);
    p.events
        .monitor
        .wait_prefix("CTRL-EVENT-NETWORK-NOT-FOUND", SLOW);
    save(out, "events-ap-stopped.txt", &p.events.take());
}

fn wrong_psk(out: &Path) {
    let mut p = pair(|r| psk_ap(r, "np-psk", 1));
    let f = freq(1).to_string();
    p.wpa.add_network(&[
        ("ssid", &quoted("np-psk")),
        ("psk", &quoted("not the passphrase")),
        ("key_mgmt", "WPA-PSK"),
        ("scan_freq", &f),
    ]);
    p.events
        .monitor
        .wait_for("TEMP-DISABLED reason=WRONG_KEY", SLOW, |e| {
            e.starts_with("CTRL-EVENT-SSID-TEMP-DISABLED") && e.contains("reason=WRONG_KEY")
        });
    save(out, "events-wrong-psk.txt", &p.events.take());
}

/// WPA3-Personal: SAE with PMF required, then a wrong password.
fn sae(out: &Path) {
    let mut p = pair(|r| sae_ap(r, "np-sae", 6));
    let f = freq(6).to_string();
    let id = p.wpa.add_network(&[
        ("ssid", &quoted("np-sae")),
        ("sae_password", &quoted(PASSPHRASE)),
        ("key_mgmt", "SAE"),
        ("ieee80211w", "2"),
        ("scan_freq", &f),
    ]);
    p.events.monitor.wait_prefix("CTRL-EVENT-CONNECTED", SLOW);
    p.events.drain(Duration::from_secs(1));
    save(out, "events-sae-connect.txt", &p.events.take());
    save(
        out,
        "status-sae-completed.txt",
        &p.wpa.ctrl().request("STATUS"),
    );

    p.wpa.ctrl().request_ok(&format!("REMOVE_NETWORK {id}"));
    p.events
        .monitor
        .wait_prefix("CTRL-EVENT-DISCONNECTED", SLOW);
    p.events.take();
    p.wpa.add_network(&[
        ("ssid", &quoted("np-sae")),
        ("sae_password", &quoted("not the password")),
        ("key_mgmt", "SAE"),
        ("ieee80211w", "2"),
        ("scan_freq", &f),
    ]);
    p.events
        .monitor
        .wait_prefix("CTRL-EVENT-SSID-TEMP-DISABLED", Duration::from_secs(60));
    save(out, "events-sae-wrong-password.txt", &p.events.take());
}

/// WPA2-Enterprise with hostapd's internal EAP server, EAP-pwd (RFC 5931, no
/// certificates): a success, then a wrong password.
fn eap(out: &Path) {
    let users = eap_users();
    let mut p = pair(|r| {
        format!(
            "interface={}\ndriver=nl80211\nssid=np-eap\nhw_mode=g\nchannel=11\nieee8021x=1\neap_server=1\n\
             eap_user_file={}\nwpa=2\nwpa_key_mgmt=WPA-EAP\nrsn_pairwise=CCMP\n",
            r.iface,
            users.display()
        )
    });
    let f = freq(11).to_string();
    let network = |password: &str| {
        vec![
            ("ssid", quoted("np-eap")),
            ("key_mgmt", "WPA-EAP".to_string()),
            ("eap", "PWD".to_string()),
            ("identity", quoted("alice")),
            ("password", quoted(password)),
            ("scan_freq", f.clone()),
        ]
    };
    let fields = network("alice-secret-1");
    let id = p.wpa.add_network(
        &fields
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect::<Vec<_>>(),
    );
    p.events.monitor.wait_prefix("CTRL-EVENT-CONNECTED", SLOW);
    p.events.drain(Duration::from_secs(1));
    save(out, "events-eap-connect.txt", &p.events.take());
    save(
        out,
        "status-eap-completed.txt",
        &p.wpa.ctrl().request("STATUS"),
    );

    p.wpa.ctrl().request_ok(&format!("REMOVE_NETWORK {id}"));
    p.events
        .monitor
        .wait_prefix("CTRL-EVENT-DISCONNECTED", SLOW);
    p.events.take();
    let fields = network("wrong-secret");
    p.wpa.add_network(
        &fields
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect::<Vec<_>>(),
    );
    p.events.monitor.wait_prefix("CTRL-EVENT-EAP-FAILURE", SLOW);
    p.events
        .monitor
        .wait_prefix("CTRL-EVENT-SSID-TEMP-DISABLED", SLOW);
    save(out, "events-eap-failure.txt", &p.events.take());
}

/// A configured network that no AP offers.
fn network_not_found(out: &Path) {
    let air = Air::new(1);
    let sta_ns = Netns::new("sta");
    air.radio(0).move_to(&sta_ns);
    let wpa = Supplicant::start(air.radio(0), "");
    let mut events = Events::new(wpa.monitor());
    let f = freq(1).to_string();
    wpa.add_network(&[
        ("ssid", &quoted("np-nowhere")),
        ("psk", &quoted(PASSPHRASE)),
        ("key_mgmt", "WPA-PSK"),
        ("scan_freq", &f),
    ]);
    events
        .monitor
        .wait_prefix("CTRL-EVENT-NETWORK-NOT-FOUND", SLOW);
    save(out, "events-network-not-found.txt", &events.take());
    save(out, "status-scanning.txt", &wpa.ctrl().request("STATUS"));
}
