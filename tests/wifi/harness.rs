//! Scenarios that prove the harness on real hostapd and wpa_supplicant (no netpilotd):
//! scanning two APs of different security and strength, WPA2-PSK with DHCP, DNS and HTTP
//! over the air, WPA3-SAE, and an AP leaving and re-entering the station's range.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use crate::common::hwsim::{
    dhcp, dns_query_a, http_get, note, Air, Dnsmasq, Hostapd, HttpEndpoint, Monitor, Radio,
    Supplicant,
};
use crate::common::Netns;

/// Long enough for anything here on a loaded 2-core machine; a deadline, not a measurement.
const SLOW: Duration = Duration::from_secs(40);
const PASSPHRASE: &str = "correct horse battery";

/// A WPA2-PSK AP (CCMP) on `radio`, 2.4 GHz `channel`.
pub fn psk_ap(radio: &Radio, ssid: &str, channel: u32) -> String {
    format!(
        "interface={}\ndriver=nl80211\nssid={ssid}\nhw_mode=g\nchannel={channel}\n\
         wpa=2\nwpa_key_mgmt=WPA-PSK\nrsn_pairwise=CCMP\nwpa_passphrase={PASSPHRASE}\n",
        radio.iface
    )
}

/// A WPA3-Personal (SAE only, PMF required) AP on `radio`, 2.4 GHz `channel`.
pub fn sae_ap(radio: &Radio, ssid: &str, channel: u32) -> String {
    format!(
        "interface={}\ndriver=nl80211\nssid={ssid}\nhw_mode=g\nchannel={channel}\n\
         wpa=2\nwpa_key_mgmt=SAE\nrsn_pairwise=CCMP\nieee80211w=2\nsae_password={PASSPHRASE}\n",
        radio.iface
    )
}

/// 2.4 GHz channel → centre frequency in MHz (IEEE 802.11-2020 §15.4.4.3).
pub fn freq(channel: u32) -> u32 {
    2407 + 5 * channel
}

/// One line of `SCAN_RESULTS`: `bssid / frequency / signal level / flags / ssid`.
#[derive(Debug, Clone)]
struct ScanLine {
    freq: u32,
    level: i32,
    flags: String,
    ssid: String,
}

fn scan_results(text: &str) -> Vec<ScanLine> {
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.splitn(5, '\t').collect();
            Some(ScanLine {
                freq: f.get(1)?.parse().ok()?,
                level: f.get(2)?.parse().ok()?,
                flags: f.get(3)?.to_string(),
                ssid: f.get(4)?.to_string(),
            })
        })
        .collect()
}

/// Two APs in namespace `ap` (PSK on channel 1, weak; SAE on channel 6, strong); the
/// station scans both channels and sees both with the right flags, the SAE one stronger.
pub fn scan_psk_and_sae() {
    let air = Air::new(3);
    let (ap_ns, sta_ns) = (Netns::new("ap"), Netns::new("sta"));
    let (psk, sae, sta) = (air.radio(0), air.radio(1), air.radio(2));
    psk.move_to(&ap_ns);
    sae.move_to(&ap_ns);
    sta.move_to(&sta_ns);
    psk.set_rx_rssi(-70);
    sae.set_rx_rssi(-40);
    let _psk_ap = Hostapd::start(&ap_ns, &psk_ap(psk, "np-psk", 1));
    let _sae_ap = Hostapd::start(&ap_ns, &sae_ap(sae, "np-sae", 6));
    // With tx power 0 dBm, rx_rssi alone sets what the station measures.
    psk.set_txpower(0);
    sae.set_txpower(0);
    let wpa = Supplicant::start(sta, "");
    let mut monitor = wpa.monitor();
    let ctrl = wpa.ctrl();
    let start = Instant::now();
    let results = loop {
        wpa.scan(&mut monitor, &format!("freq={},{}", freq(1), freq(6)), SLOW);
        let results = scan_results(&ctrl.request("SCAN_RESULTS"));
        note(format!("scan results: {results:?}"));
        if ["np-psk", "np-sae"]
            .iter()
            .all(|s| results.iter().any(|r| r.ssid == *s))
        {
            break results;
        }
        assert!(
            start.elapsed() < SLOW,
            "both APs not seen in {SLOW:?}: {results:?}"
        );
    };
    let find = |ssid: &str| {
        results
            .iter()
            .find(|r| r.ssid == ssid)
            .cloned()
            .expect("seen")
    };
    let (p, s) = (find("np-psk"), find("np-sae"));
    assert_eq!(p.freq, freq(1), "{p:?}");
    assert_eq!(s.freq, freq(6), "{s:?}");
    assert!(
        p.flags.contains("WPA2-PSK-CCMP") && !p.flags.contains("SAE"),
        "{p:?}"
    );
    assert!(s.flags.contains("SAE") && !s.flags.contains("PSK"), "{s:?}");
    assert!(
        s.level > p.level,
        "the SAE AP (rx_rssi -40) must be stronger: {s:?} vs {p:?}"
    );
}

/// An AP on radio 0 in namespace `ap` (`198.18.10.1/24` on its interface, hostapd from
/// `config`) and a station radio 1 in namespace `sta` with wpa_supplicant and an attached
/// monitor, not yet connected.
struct Cell {
    _hostapd: Hostapd,
    wpa: Supplicant,
    monitor: Monitor,
    sta_ns: Netns,
    ap_ns: Netns,
    // Last: unloads the radios after everything above has stopped.
    air: Air,
}

const AP_NET: &str = "198.18.10";

fn cell(config: impl Fn(&Radio) -> String) -> Cell {
    let air = Air::new(2);
    let (ap_ns, sta_ns) = (Netns::new("ap"), Netns::new("sta"));
    let (ap, sta) = (air.radio(0), air.radio(1));
    ap.move_to(&ap_ns);
    sta.move_to(&sta_ns);
    ap_ns.ip(&["addr", "add", &format!("{AP_NET}.1/24"), "dev", &ap.iface]);
    let hostapd = Hostapd::start(&ap_ns, &config(ap));
    let wpa = Supplicant::start(sta, "");
    let monitor = wpa.monitor();
    Cell {
        _hostapd: hostapd,
        wpa,
        monitor,
        sta_ns,
        ap_ns,
        air,
    }
}

impl Cell {
    /// Adds the network (scan pinned to `channel`) and waits for `CTRL-EVENT-CONNECTED`
    /// and `wpa_state=COMPLETED`; returns how long that took.
    fn connect(&mut self, fields: &[(&str, &str)], channel: u32) -> Duration {
        let scan_freq = freq(channel).to_string();
        let mut all = fields.to_vec();
        all.push(("scan_freq", &scan_freq));
        let start = Instant::now();
        self.wpa.add_network(&all);
        self.monitor.wait_prefix("CTRL-EVENT-CONNECTED", SLOW);
        let took = start.elapsed();
        assert_eq!(
            self.wpa.status_of("wpa_state").as_deref(),
            Some("COMPLETED")
        );
        note(format!("connected in {:.2} s", took.as_secs_f64()));
        took
    }
}

fn psk_network(ssid: &str) -> Vec<(&str, String)> {
    vec![
        ("ssid", format!("\"{ssid}\"")),
        ("psk", format!("\"{PASSPHRASE}\"")),
        ("key_mgmt", "WPA-PSK".into()),
    ]
}

fn borrowed<'a>(fields: &'a [(&'a str, String)]) -> Vec<(&'a str, &'a str)> {
    fields.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// WPA2-PSK → COMPLETED; DHCP from dnsmasq behind the AP; DNS through it; an HTTP GET of
/// `/generate_204` from the AP side answers 204, all over the air.
pub fn psk_dhcp_http() {
    let mut cell = cell(|r| psk_ap(r, "np-psk", 1));
    let ap_iface = cell.air.radio(0).iface.clone();
    let sta_iface = cell.air.radio(1).iface.clone();
    let _dnsmasq = Dnsmasq::start(&cell.ap_ns, &ap_iface, AP_NET);
    let gateway: Ipv4Addr = format!("{AP_NET}.1").parse().expect("address");
    let http = HttpEndpoint::start(&cell.ap_ns, SocketAddr::from((gateway, 80)));
    cell.connect(&borrowed(&psk_network("np-psk")), 1);

    let lease = dhcp(&cell.sta_ns, &sta_iface);
    let octets = lease.address.octets();
    assert!(
        lease.address.to_string().starts_with(&format!("{AP_NET}."))
            && (100..=150).contains(&octets[3]),
        "{lease:?}"
    );
    assert_eq!(lease.prefix, 24, "{lease:?}");
    assert_eq!(lease.router, Some(gateway), "{lease:?}");
    assert_eq!(lease.dns, vec![gateway], "{lease:?}");
    assert_eq!(
        dns_query_a(&cell.sta_ns, gateway, "connectivity.netpilot.test"),
        vec![gateway]
    );
    assert_eq!(http_get(&cell.sta_ns, http.addr, "/generate_204"), 204);
    assert_eq!(http_get(&cell.sta_ns, http.addr, "/elsewhere"), 404);
    let seen = http.requests.lock().map(|r| r.clone()).unwrap_or_default();
    assert_eq!(seen, ["/generate_204", "/elsewhere"]);
}

/// WPA3-Personal: SAE with PMF required → COMPLETED with key_mgmt SAE.
pub fn sae_connect() {
    let mut cell = cell(|r| sae_ap(r, "np-sae", 6));
    let ssid = "\"np-sae\"".to_string();
    let pass = format!("\"{PASSPHRASE}\"");
    cell.connect(
        &[
            ("ssid", &ssid),
            ("sae_password", &pass),
            ("key_mgmt", "SAE"),
            ("ieee80211w", "2"),
        ],
        6,
    );
    assert_eq!(cell.wpa.status_of("key_mgmt").as_deref(), Some("SAE"));
    assert_eq!(cell.wpa.status_of("pmf").as_deref(), Some("2"));
}

/// The AP's radio leaves the station's group (silently out of range, no deauthentication):
/// the station reports the disconnect; back in the group, it reconnects by itself.
pub fn out_of_range_and_back() {
    let mut cell = cell(|r| psk_ap(r, "np-psk", 1));
    cell.connect(&borrowed(&psk_network("np-psk")), 1);
    let ap = cell.air.radio(0);
    ap.set_group(2);
    let gone = Instant::now();
    let event = cell.monitor.wait_prefix("CTRL-EVENT-DISCONNECTED", SLOW);
    note(format!(
        "disconnect noticed after {:.2} s: {event}",
        gone.elapsed().as_secs_f64()
    ));
    assert!(event.contains(&format!("bssid={}", ap.mac)), "{event}");
    ap.set_group(1);
    let back = Instant::now();
    cell.monitor.wait_prefix("CTRL-EVENT-CONNECTED", SLOW);
    note(format!(
        "reconnected after {:.2} s",
        back.elapsed().as_secs_f64()
    ));
    assert_eq!(
        cell.wpa.status_of("wpa_state").as_deref(),
        Some("COMPLETED")
    );
}
