//! netpilotd driving real radios: scan, connect (PSK, SAE, Enterprise, hidden), the agent,
//! failures users complain about (wrong key, access point gone, wpa_supplicant killed),
//! forgetting, preference between known networks, and sessions failing over to Ethernet.
//!
//! Every scenario runs netpilotd in the station's namespace against a real wpa_supplicant
//! (nl80211) on a mac80211_hwsim radio, with hostapd access points in namespaces of their own
//! and dnsmasq plus an online-check endpoint behind each (198.18.10.0/24).

use std::net::SocketAddr;
use std::time::Duration;

use netpilot::pb;
use pb::manager_service_client::ManagerServiceClient;
use tonic::transport::Channel;

use crate::common::hwsim::{note, Air, Dnsmasq, Hostapd, HttpEndpoint, Radio, Supplicant};
use crate::common::{wait_service, Daemon, Netns};
use crate::harness::{freq, psk_ap, sae_ap};

/// A deadline for anything here on a loaded 2-core machine; never a measurement.
pub const SLOW: Duration = Duration::from_secs(45);
/// The passphrase of the harness's access points.
pub const PASSPHRASE: &str = "correct horse battery";
/// Every access point's network: the AP is .1, with DHCP and the online-check endpoint.
const AP_NET: &str = "198.18.10";

/// An access point in a namespace of its own, with DHCP, DNS and the online check behind it.
#[allow(dead_code)] // scenarios use what they need
pub struct Ap {
    pub hostapd: Hostapd,
    _http: HttpEndpoint,
    _dnsmasq: Dnsmasq,
    pub ns: Netns,
}

impl Ap {
    /// Starts hostapd with `config(radio)` on `radio`, moved into a fresh namespace.
    pub fn start(radio: &Radio, config: &str) -> Ap {
        let ns = Netns::new("ap");
        radio.move_to(&ns);
        ns.ip(&[
            "addr",
            "add",
            &format!("{AP_NET}.1/24"),
            "dev",
            &radio.iface,
        ]);
        let hostapd = Hostapd::start(&ns, config);
        let _dnsmasq = Dnsmasq::start(&ns, &radio.iface, AP_NET);
        let addr: SocketAddr = format!("{AP_NET}.1:80").parse().expect("address");
        let _http = HttpEndpoint::start(&ns, addr);
        Ap {
            hostapd,
            _http,
            _dnsmasq,
            ns,
        }
    }
}

/// The station: its namespace, wpa_supplicant on its radio, netpilotd managing it, and a
/// runtime for the API calls. Fields drop in order: the daemon first, the radios last.
#[allow(dead_code)] // scenarios use what they need
pub struct Station {
    pub rt: tokio::runtime::Runtime,
    pub daemon: Daemon,
    pub wpa: Supplicant,
    pub ns: Netns,
}

/// netpilotd's configuration for the station: the radio (and veth links) managed, the online
/// check against the AP side, short retries.
pub fn config(ctrl_dir: &std::path::Path, extra: &str) -> String {
    format!(
        "managed_interfaces = [\"wlan*\", \"veth*\"]\n\
         [online_check]\nipv4_url = \"http://{AP_NET}.1/generate_204\"\ninterval_min = 1\n\
         interval_max = 4\ntimeout = 3\n\
         [connect]\ntimeout = 40\nretry_max = 4\n\
         [wifi]\nctrl_dir = {:?}\n{extra}",
        ctrl_dir.display().to_string()
    )
}

impl Station {
    /// wpa_supplicant on `radio` (scans limited to channels 1, 6 and 11) and netpilotd, in a
    /// new namespace; `extra` goes at the end of netpilotd's `[wifi]` section and after.
    pub fn start(radio: &Radio, extra: &str) -> Station {
        let ns = Netns::new("sta");
        radio.move_to(&ns);
        let wpa = Supplicant::start(
            radio,
            &format!(
                "freq_list={} {} {}\nbss_expiration_age=10\n",
                freq(1),
                freq(6),
                freq(11)
            ),
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let ctrl_dir = wpa.ctrl_path().parent().expect("ctrl dir").to_path_buf();
        let daemon = rt.block_on(Daemon::start(&ns, &config(&ctrl_dir, extra), &[]));
        Station {
            rt,
            daemon,
            wpa,
            ns,
        }
    }

    pub fn manager(&self) -> ManagerServiceClient<Channel> {
        self.rt.block_on(self.daemon.manager())
    }

    /// Waits until the Wi-Fi technology is listed and its wpa_supplicant answers.
    pub fn wifi_available(&self) -> pb::Technology {
        let mut manager = self.manager();
        let start = std::time::Instant::now();
        loop {
            let listed = self
                .rt
                .block_on(manager.list_technologies(pb::ListTechnologiesRequest {}))
                .expect("list technologies")
                .into_inner()
                .technologies;
            if let Some(t) = listed
                .into_iter()
                .find(|t| t.r#type() == pb::TechnologyType::Wifi && t.available)
            {
                return t;
            }
            assert!(start.elapsed() < SLOW, "Wi-Fi not available in {SLOW:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until a Wi-Fi service named `ssid` is listed and matches `check`.
    pub fn service(
        &self,
        ssid: &str,
        what: &str,
        check: impl Fn(&pb::Service) -> bool,
    ) -> pb::Service {
        let mut manager = self.manager();
        self.rt
            .block_on(wait_service(&mut manager, what, SLOW, |s| {
                s.r#type() == pb::TechnologyType::Wifi && s.name == ssid && check(s)
            }))
    }

    /// ConnectService with a passphrase.
    pub fn connect(
        &self,
        id: &str,
        passphrase: Option<&str>,
    ) -> Result<pb::Service, tonic::Status> {
        let mut manager = self.manager();
        let request = pb::ConnectServiceRequest {
            service_id: id.to_string(),
            timeout: None,
            credentials: passphrase.map(|p| pb::Credentials {
                passphrase: p.to_string(),
                ..Default::default()
            }),
        };
        self.rt
            .block_on(manager.connect_service(request))
            .map(|r| r.into_inner().service.expect("service"))
    }
}

fn services(station: &Station) -> Vec<pb::Service> {
    let mut manager = station.manager();
    station
        .rt
        .block_on(manager.list_services(pb::ListServicesRequest {}))
        .expect("list services")
        .into_inner()
        .services
}

/// Two access points (WPA2-PSK weak on channel 1, WPA3-SAE strong on channel 6) and an open
/// one: ScanTechnology returns with all three listed, with their security and frequency,
/// the stronger first.
pub fn scan_lists_networks() {
    let air = Air::new(4);
    let (psk, sae, open, sta) = (air.radio(0), air.radio(1), air.radio(2), air.radio(3));
    psk.set_rx_rssi(-75);
    sae.set_rx_rssi(-45);
    open.set_rx_rssi(-60);
    let _psk = Ap::start(psk, &psk_ap(psk, "np-psk", 1));
    let _sae = Ap::start(sae, &sae_ap(sae, "np-sae", 6));
    let _open = Ap::start(
        open,
        &format!(
            "interface={}\ndriver=nl80211\nssid=np-open\nhw_mode=g\nchannel=11\n",
            open.iface
        ),
    );
    for r in [psk, sae, open] {
        r.set_txpower(0);
    }
    let station = Station::start(sta, "");
    station.wifi_available();
    let mut manager = station.manager();
    station
        .rt
        .block_on(manager.scan_technology(pb::ScanTechnologyRequest {
            r#type: pb::TechnologyType::Wifi.into(),
        }))
        .expect("scan");
    let listed = services(&station);
    note(format!("services after the scan: {listed:#?}"));
    let find = |ssid: &str| {
        listed
            .iter()
            .find(|s| s.name == ssid)
            .cloned()
            .unwrap_or_else(|| panic!("{ssid} not listed after ScanTechnology: {listed:#?}"))
    };
    let (p, s, o) = (find("np-psk"), find("np-sae"), find("np-open"));
    use pb::Security;
    assert_eq!(p.security().collect::<Vec<_>>(), vec![Security::Psk]);
    assert_eq!(s.security().collect::<Vec<_>>(), vec![Security::Sae]);
    assert_eq!(o.security().collect::<Vec<_>>(), vec![Security::None]);
    assert_eq!(p.frequency, freq(1));
    assert_eq!(s.frequency, freq(6));
    assert_eq!(o.frequency, freq(11));
    assert_eq!(p.ssid, b"np-psk");
    assert!(
        p.id.ends_with("_managed_psk") && o.id.ends_with("_managed_none"),
        "{p:?} {o:?}"
    );
    assert!(
        s.strength > o.strength && o.strength > p.strength,
        "{s:?} {o:?} {p:?}"
    );
    let order: Vec<&str> = listed
        .iter()
        .filter(|x| x.r#type() == pb::TechnologyType::Wifi)
        .map(|x| x.name.as_str())
        .collect();
    assert_eq!(order, vec!["np-sae", "np-open", "np-psk"], "stronger first");
    assert_eq!(p.state(), pb::ServiceState::Idle);
}

/// WPA2-PSK: ConnectService with the passphrase returns the service ready (DHCP), it goes
/// online through the radio, the passphrase is stored with mode 0600 and never returned or
/// logged, and the service becomes a favorite.
pub fn psk_connect_ready_online() {
    let air = Air::new(2);
    let _ap = Ap::start(air.radio(0), &psk_ap(air.radio(0), "np-psk", 1));
    let station = Station::start(air.radio(1), "");
    let psk = station.service("np-psk", "np-psk listed", |_| true);
    let ready = station
        .connect(&psk.id, Some(PASSPHRASE))
        .expect("connect with the passphrase");
    assert_eq!(ready.state(), pb::ServiceState::Ready, "{ready:?}");
    let ipv4 = ready.ipv4.clone().expect("an address from DHCP");
    assert!(ipv4.address.starts_with(AP_NET), "{ipv4:?}");
    let online = station.service("np-psk", "np-psk online", |s| {
        s.state() == pb::ServiceState::Online
    });
    assert!(online.favorite && online.passphrase_set, "{online:?}");
    let stored = station
        .daemon
        .dir
        .path()
        .join("state/secrets")
        .join(format!("{}.json", psk.id));
    let meta = std::fs::metadata(&stored).expect("the secret is stored");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let log = station.daemon.log();
    assert!(!log.contains(PASSPHRASE), "the passphrase reached the log");
    let shown = format!("{online:?}");
    assert!(
        !shown.contains(PASSPHRASE),
        "the passphrase left the daemon"
    );
}

/// WPA3-SAE (PMF required): ConnectService → ready.
pub fn sae_connect_ready() {
    let air = Air::new(2);
    let _ap = Ap::start(air.radio(0), &sae_ap(air.radio(0), "np-sae", 6));
    let station = Station::start(air.radio(1), "");
    let sae = station.service("np-sae", "np-sae listed", |_| true);
    let ready = station
        .connect(&sae.id, Some(PASSPHRASE))
        .expect("connect over SAE");
    assert_eq!(ready.state(), pb::ServiceState::Ready, "{ready:?}");
    assert_eq!(
        station.wpa.status_of("key_mgmt").as_deref(),
        Some("SAE"),
        "joined with SAE"
    );
}
