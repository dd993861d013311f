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
pub const AP_NET: &str = "198.18.10";

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

    // The regulatory country (ALConnectionManager's setCountry) reaches wpa_supplicant.
    let wifi = station
        .rt
        .block_on(manager.update_technology(pb::UpdateTechnologyRequest {
            r#type: pb::TechnologyType::Wifi.into(),
            country: Some("DE".into()),
            ..Default::default()
        }))
        .expect("set the country")
        .into_inner()
        .technology
        .expect("technology");
    assert_eq!(wifi.country, "DE");
    crate::common::hwsim::wait_until("wpa_supplicant's country is DE", SLOW, || {
        station.wpa.ctrl().request("GET country").trim() == "DE"
    });
    let err = station
        .rt
        .block_on(manager.update_technology(pb::UpdateTechnologyRequest {
            r#type: pb::TechnologyType::Wifi.into(),
            country: Some("Germany".into()),
            ..Default::default()
        }))
        .expect_err("not a country code");
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
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

/// The error word a failed call carries (ErrorInfo reason).
fn reason(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    status
        .get_details_error_info()
        .map(|i| i.reason)
        .unwrap_or_default()
}

/// wpa_supplicant's network list: `(id, ssid, flags)`.
fn wpa_networks(wpa: &Supplicant) -> Vec<(String, String, String)> {
    wpa.ctrl()
        .request("LIST_NETWORKS")
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (
                f.first().unwrap_or(&"").to_string(),
                f.get(1).unwrap_or(&"").to_string(),
                f.get(3).unwrap_or(&"").to_string(),
            )
        })
        .collect()
}

/// A wrong passphrase: after `max_auth_attempts` (2) the connect fails with `invalid-key`,
/// the service is in failure with that error, wpa_supplicant's network is disabled (so it
/// does not retry by itself) and nothing was stored.
pub fn wrong_passphrase_is_invalid_key() {
    let air = Air::new(2);
    let _ap = Ap::start(air.radio(0), &psk_ap(air.radio(0), "np-psk", 1));
    let station = Station::start(air.radio(1), "");
    let psk = station.service("np-psk", "np-psk listed", |_| true);
    let err = station
        .connect(&psk.id, Some("not the passphrase"))
        .expect_err("a wrong passphrase must fail");
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (tonic::Code::Unavailable, "invalid-key"),
        "{err:?}"
    );
    let failed = station.service("np-psk", "np-psk in failure", |s| {
        s.state() == pb::ServiceState::Failure
    });
    assert_eq!(failed.error, "invalid-key");
    assert!(!failed.passphrase_set && !failed.favorite, "{failed:?}");
    let networks = wpa_networks(&station.wpa);
    assert!(
        networks
            .iter()
            .all(|(_, _, flags)| flags.contains("DISABLED")),
        "wpa_supplicant must not retry by itself: {networks:?}"
    );
    let log = station.daemon.log();
    assert!(
        log.matches("authentication failed").count() >= 2,
        "the bounded attempts are logged:\n{log}"
    );
}

/// An agent on the daemon's AgentService (ended when dropped) and the requests it saw.
pub struct Agent {
    pub seen: std::sync::Arc<std::sync::Mutex<Vec<pb::InputRequest>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Agent {
    pub fn requests(&self) -> Vec<pb::InputRequest> {
        self.seen.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How a test agent answers a request: the field values, or `None` to cancel.
pub type Answer = fn(&pb::InputRequest) -> Option<Vec<(&'static str, String)>>;

/// Registers an agent that answers each request with `answer` (`None` cancels). A previous
/// agent's stream may take a moment to end: ALREADY_EXISTS is retried until [`SLOW`].
pub fn spawn_agent(station: &Station, answer: Answer) -> Agent {
    use pb::register_agent_request::Message as Out;
    use pb::register_agent_response::Message as In;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let start = std::time::Instant::now();
    let (tx, mut incoming) = loop {
        let channel = station.rt.block_on(station.daemon.channel());
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        let mut client = pb::agent_service_client::AgentServiceClient::new(channel);
        let registration = pb::RegisterAgentRequest {
            message: Some(Out::Registration(pb::AgentRegistration {
                name: "test-agent".into(),
            })),
        };
        tx.try_send(registration).expect("queue the registration");
        match station
            .rt
            .block_on(client.register_agent(tokio_stream::wrappers::ReceiverStream::new(rx)))
        {
            Ok(r) => break (tx, r.into_inner()),
            Err(e) if e.code() == tonic::Code::AlreadyExists && start.elapsed() < SLOW => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => panic!("register the agent: {e:?}"),
        }
    };
    let first = station
        .rt
        .block_on(async { tokio::time::timeout(SLOW, incoming.message()).await })
        .expect("the agent's first message in time")
        .expect("first message");
    assert!(
        matches!(first.and_then(|m| m.message), Some(In::Registered(_))),
        "registered"
    );
    let log = seen.clone();
    let task = station.rt.spawn(async move {
        while let Ok(Some(message)) = incoming.message().await {
            let Some(In::Request(request)) = message.message else {
                continue;
            };
            let reply = match answer(&request) {
                Some(values) => pb::InputReply {
                    request_id: request.request_id,
                    values: values
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect(),
                    canceled: false,
                },
                None => pb::InputReply {
                    request_id: request.request_id,
                    values: Default::default(),
                    canceled: true,
                },
            };
            if let Ok(mut l) = log.lock() {
                l.push(request);
            }
            let _ = tx
                .send(pb::RegisterAgentRequest {
                    message: Some(Out::Reply(reply)),
                })
                .await;
        }
    });
    Agent { seen, task }
}

/// Field names of an input request.
fn fields(request: &pb::InputRequest) -> Vec<String> {
    request.fields.iter().map(|f| f.name.clone()).collect()
}

/// A hidden network (ignore_broadcast_ssid): its nameless service is listed; connecting it
/// asks the agent for Name and Passphrase, and the connect returns the network's own
/// service, ready and hidden.
pub fn hidden_network_named_by_the_agent() {
    let air = Air::new(2);
    let config = format!(
        "{}ignore_broadcast_ssid=1\n",
        psk_ap(air.radio(0), "np-secret", 1)
    );
    let _ap = Ap::start(air.radio(0), &config);
    let station = Station::start(air.radio(1), "");
    let mut manager = station.manager();
    let hidden = station.rt.block_on(wait_service(
        &mut manager,
        "a nameless hidden PSK network",
        SLOW,
        |s| s.hidden && s.ssid.is_empty() && s.id.ends_with("_hidden_managed_psk"),
    ));
    let seen = spawn_agent(&station, |_| {
        Some(vec![
            ("Name", "np-secret".to_string()),
            ("Passphrase", PASSPHRASE.to_string()),
        ])
    });
    let ready = station
        .connect(&hidden.id, None)
        .expect("connect through the agent");
    assert_eq!(ready.state(), pb::ServiceState::Ready, "{ready:?}");
    assert_eq!((ready.name.as_str(), ready.hidden), ("np-secret", true));
    assert_ne!(ready.id, hidden.id, "the network's own service");
    let requests = seen.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(fields(&requests[0]), vec!["Name", "Passphrase"]);
    assert_eq!(requests[0].service_id, hidden.id);
}

/// Without credentials: with no agent the connect fails at once with `passphrase-required`
/// and an InputRequired event; an agent that answers gets the service ready; one that
/// cancels ends the connect with CANCELLED.
pub fn agent_answers_cancels_or_is_missing() {
    let air = Air::new(2);
    let _ap = Ap::start(air.radio(0), &psk_ap(air.radio(0), "np-psk", 1));
    let station = Station::start(air.radio(1), "");
    let psk = station.service("np-psk", "np-psk listed", |_| true);
    let mut manager = station.manager();
    let (_, mut events) = station.rt.block_on(crate::common::watch(&mut manager));

    let err = station.connect(&psk.id, None).expect_err("no agent");
    assert_eq!(
        (err.code(), reason(&err).as_str()),
        (tonic::Code::FailedPrecondition, "passphrase-required"),
        "{err:?}"
    );
    let seen = station.rt.block_on(crate::common::read_until(
        &mut events,
        "InputRequired",
        |e| {
            matches!(
                &e.event,
                Some(pb::watch_manager_response::Event::InputRequired(_))
            )
        },
    ));
    match seen.last().and_then(|e| e.event.clone()) {
        Some(pb::watch_manager_response::Event::InputRequired(i)) => {
            assert_eq!(
                (i.service_id.as_str(), i.fields.clone()),
                (psk.id.as_str(), vec!["Passphrase".to_string()])
            )
        }
        other => panic!("{other:?}"),
    }

    // An agent that cancels every request.
    let canceled = spawn_agent(&station, |_| None);
    let err = station
        .connect(&psk.id, None)
        .expect_err("the agent cancels");
    assert_eq!(err.code(), tonic::Code::Cancelled, "{err:?}");
    assert_eq!(canceled.requests().len(), 1);
    drop(canceled);

    let answered = spawn_agent(&station, |r| {
        (fields(r) == ["Passphrase"]).then(|| vec![("Passphrase", PASSPHRASE.to_string())])
    });
    let ready = station
        .connect(&psk.id, None)
        .expect("the agent gives the passphrase");
    assert_eq!(ready.state(), pb::ServiceState::Ready);
    assert_eq!(answered.requests().len(), 1);
    let stored = station.service("np-psk", "passphrase stored", |s| s.passphrase_set);
    assert!(stored.favorite);
}

/// Opens a session and returns its update stream after the first message.
fn open_session(
    station: &Station,
    bearers: &[&str],
) -> (pb::SessionUpdate, tonic::Streaming<pb::OpenSessionResponse>) {
    let mut sessions = station.rt.block_on(station.daemon.sessions());
    let request = pb::OpenSessionRequest {
        settings: Some(pb::SessionSettings {
            allowed_bearers: Some(pb::BearerList {
                bearers: bearers.iter().map(|b| b.to_string()).collect(),
            }),
            connection_type: pb::ConnectionType::Local.into(),
            ..Default::default()
        }),
    };
    let mut stream = station
        .rt
        .block_on(sessions.open_session(request))
        .expect("open session")
        .into_inner();
    let first = station
        .rt
        .block_on(async { tokio::time::timeout(SLOW, stream.message()).await })
        .expect("first session update in time")
        .expect("session stream")
        .and_then(|m| match m.event {
            Some(pb::open_session_response::Event::Update(u)) => Some(u),
            _ => None,
        })
        .expect("first update");
    (first, stream)
}

/// Reads session updates until one names `service` (and returns it).
fn session_moves_to(
    station: &Station,
    stream: &mut tonic::Streaming<pb::OpenSessionResponse>,
    service: &str,
) -> pb::SessionUpdate {
    let deadline = std::time::Instant::now() + SLOW;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let message = station
            .rt
            .block_on(async { tokio::time::timeout(left, stream.message()).await })
            .unwrap_or_else(|_| panic!("the session did not move to {service} in {SLOW:?}"))
            .expect("session stream")
            .expect("session not ended");
        if let Some(pb::open_session_response::Event::Update(u)) = message.event {
            note(format!("session update: {u:?}"));
            if u.service_id.as_deref() == Some(service) {
                return u;
            }
        }
    }
}

/// An Ethernet link for the station: a veth to a namespace with dnsmasq (198.18.20.0/24).
struct Wire {
    _dnsmasq: Dnsmasq,
    _ns: Netns,
}

fn wire(station: &Station) -> Wire {
    let ns = Netns::new("eth");
    crate::common::run(
        "ip",
        &[
            "link",
            "add",
            "veth0",
            "netns",
            &station.ns.name,
            "type",
            "veth",
            "peer",
            "name",
            "veth-peer",
            "netns",
            &ns.name,
        ],
    );
    ns.ip(&["addr", "add", "198.18.20.1/24", "dev", "veth-peer"]);
    ns.ip(&["link", "set", "veth-peer", "up"]);
    station.ns.ip(&["link", "set", "veth0", "up"]);
    let _dnsmasq = Dnsmasq::start(&ns, "veth-peer", "198.18.20");
    Wire { _dnsmasq, _ns: ns }
}

/// A session with `allowed_bearers = ["wifi", "ethernet"]` follows Wi-Fi; the AP stops
/// (hostapd deauthenticates): the service fails with `out-of-range` and the session moves to
/// a veth Ethernet link made in the VM; the AP comes back and is rejoined without any call,
/// and the session follows Wi-Fi again.
pub fn ap_gone_fails_over_and_is_rejoined() {
    let air = Air::new(2);
    let radio = air.radio(0);
    let mut ap = Ap::start(radio, &psk_ap(radio, "np-psk", 1));
    let station = Station::start(air.radio(1), "");
    let wire = wire(&station);
    let eth = station.rt.block_on(async {
        let mut manager = station.daemon.manager().await;
        wait_service(&mut manager, "ethernet ready", SLOW, |s| {
            s.r#type() == pb::TechnologyType::Ethernet && s.state() == pb::ServiceState::Ready
        })
        .await
    });
    let psk = station.service("np-psk", "np-psk listed", |_| true);
    station
        .connect(&psk.id, Some(PASSPHRASE))
        .expect("connect Wi-Fi");
    let (first, mut updates) = open_session(&station, &["wifi", "ethernet"]);
    note(format!("first session update: {first:?}"));
    if first.service_id.as_deref() != Some(psk.id.as_str()) {
        session_moves_to(&station, &mut updates, &psk.id);
    }

    ap.hostapd.process.stop();
    let moved = session_moves_to(&station, &mut updates, &eth.id);
    assert_eq!(moved.bearer.as_deref(), Some("ethernet"), "{moved:?}");
    let gone = station.rt.block_on(async {
        let mut manager = station.daemon.manager().await;
        let listed = manager
            .list_services(pb::ListServicesRequest {})
            .await
            .expect("list")
            .into_inner()
            .services;
        listed.into_iter().find(|s| s.id == psk.id)
    });
    if let Some(s) = &gone {
        assert_ne!(s.state(), pb::ServiceState::Ready, "{s:?}");
    }
    let log = station.daemon.log();
    assert!(
        log.contains("error=out-of-range"),
        "the loss is out-of-range:\n{log}"
    );

    ap.hostapd = Hostapd::start(&ap.ns, &psk_ap(radio, "np-psk", 1));
    let back = session_moves_to(&station, &mut updates, &psk.id);
    assert_eq!(back.bearer.as_deref(), Some("wifi"), "{back:?}");
    drop(wire);
}

/// Two known networks: after the user moves the weaker one first, a power cycle of Wi-Fi
/// rejoins the preferred one, not the stronger one.
pub fn preferred_known_network_wins() {
    let air = Air::new(3);
    let (home_radio, office_radio) = (air.radio(0), air.radio(1));
    home_radio.set_rx_rssi(-40);
    office_radio.set_rx_rssi(-70);
    let _home = Ap::start(home_radio, &psk_ap(home_radio, "np-home", 1));
    let _office = Ap::start(office_radio, &psk_ap(office_radio, "np-office", 6));
    home_radio.set_txpower(0);
    office_radio.set_txpower(0);
    let station = Station::start(air.radio(2), "");
    let home = station.service("np-home", "np-home listed", |_| true);
    let office = station.service("np-office", "np-office listed", |_| true);
    station
        .connect(&office.id, Some(PASSPHRASE))
        .expect("office");
    station.connect(&home.id, Some(PASSPHRASE)).expect("home");
    let mut manager = station.manager();
    station
        .rt
        .block_on(manager.move_service(pb::MoveServiceRequest {
            service_id: office.id.clone(),
            target: Some(pb::move_service_request::Target::Before(home.id.clone())),
        }))
        .expect("move office before home");
    // The first Wi-Fi service to reach ready (or online at once) after the power cycle, from
    // the event stream: a poll could miss a short ready, or see np-home still online from
    // before the cycle.
    let (_, mut events) = station.rt.block_on(crate::common::watch(&mut manager));
    for on in [false, true] {
        station
            .rt
            .block_on(manager.update_technology(pb::UpdateTechnologyRequest {
                r#type: pb::TechnologyType::Wifi.into(),
                powered: Some(on),
                ..Default::default()
            }))
            .expect("power");
    }
    let seen = station.rt.block_on(crate::common::read_until(
        &mut events,
        "a known network rejoined",
        |e| joined_wifi(e, &[&home.id, &office.id]).is_some(),
    ));
    let joined = seen
        .last()
        .and_then(|e| joined_wifi(e, &[&home.id, &office.id]));
    assert_eq!(
        joined,
        Some(office.id.as_str()),
        "the user's preference, not the stronger signal"
    );
}

/// The service of `ids` that an event shows reaching ready or online.
fn joined_wifi<'a>(e: &'a pb::WatchManagerResponse, ids: &[&str]) -> Option<&'a str> {
    match &e.event {
        Some(pb::watch_manager_response::Event::ServiceStateChanged(c))
            if ids.contains(&c.service_id.as_str())
                && matches!(
                    c.state(),
                    pb::ServiceState::Ready | pb::ServiceState::Online
                ) =>
        {
            Some(c.service_id.as_str())
        }
        _ => None,
    }
}

/// RemoveService (forget) deletes the stored passphrase and wpa_supplicant's network.
pub fn forget_removes_secret_and_network() {
    let air = Air::new(2);
    let _ap = Ap::start(air.radio(0), &psk_ap(air.radio(0), "np-psk", 1));
    let station = Station::start(air.radio(1), "");
    let psk = station.service("np-psk", "np-psk listed", |_| true);
    station.connect(&psk.id, Some(PASSPHRASE)).expect("connect");
    let secret = station
        .daemon
        .dir
        .path()
        .join("state/secrets")
        .join(format!("{}.json", psk.id));
    assert!(secret.exists());
    assert_eq!(wpa_networks(&station.wpa).len(), 1);
    let mut manager = station.manager();
    station
        .rt
        .block_on(manager.remove_service(pb::RemoveServiceRequest {
            service_id: psk.id.clone(),
        }))
        .expect("forget");
    let forgotten = station.service("np-psk", "np-psk forgotten", |s| {
        !s.favorite && !s.passphrase_set && s.state() == pb::ServiceState::Idle
    });
    assert_eq!(forgotten.id, psk.id);
    assert!(!secret.exists(), "the secret file is gone");
    crate::common::hwsim::wait_until("wpa_supplicant's network removed", SLOW, || {
        wpa_networks(&station.wpa).is_empty()
    });
}

/// wpa_supplicant killed while connected: netpilotd keeps running, Wi-Fi shows unavailable;
/// a new wpa_supplicant is attached again and the known network is rejoined by itself.
pub fn supplicant_killed_and_back() {
    let air = Air::new(2);
    let _ap = Ap::start(air.radio(0), &psk_ap(air.radio(0), "np-psk", 1));
    let mut station = Station::start(air.radio(1), "");
    let psk = station.service("np-psk", "np-psk listed", |_| true);
    station.connect(&psk.id, Some(PASSPHRASE)).expect("connect");
    let pid = station.wpa.process.pid();
    // SAFETY: the PID of a wpa_supplicant this scenario started and has not reaped.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
    let mut manager = station.manager();
    crate::common::hwsim::wait_until("Wi-Fi unavailable", SLOW, || {
        station
            .rt
            .block_on(manager.list_technologies(pb::ListTechnologiesRequest {}))
            .map(|r| {
                r.into_inner()
                    .technologies
                    .iter()
                    .any(|t| t.r#type() == pb::TechnologyType::Wifi && !t.available)
            })
            .unwrap_or(false)
    });
    assert!(station.daemon.alive(), "netpilotd survived");
    station.wpa.restart(air.radio(1));
    station.wifi_available();
    let back = station.service("np-psk", "np-psk rejoined", |s| {
        s.state() == pb::ServiceState::Ready || s.state() == pb::ServiceState::Online
    });
    assert_eq!(back.id, psk.id);
}

/// WPA2-Enterprise against hostapd's internal EAP server: a wrong password ends in
/// `auth-failed` after the bounded attempts; PEAP/MSCHAPv2 with the CA and domain checked →
/// ready; then EAP-TLS with a client certificate and key → ready.
pub fn enterprise_peap_and_tls() {
    let air = Air::new(2);
    let radio = air.radio(0);
    let dir = crate::common::hwsim::scenario_dir();
    let pki = crate::common::pki::make_pki(&dir);
    let users = dir.join("eap_user");
    std::fs::write(
        &users,
        "\"np-tls-client\" TLS\n* PEAP,TTLS\n\"np-user\" MSCHAPV2 \"np-password\" [2]\n",
    )
    .expect("eap_user");
    let config = format!(
        "interface={}\ndriver=nl80211\nssid=np-eap\nhw_mode=g\nchannel=6\n\
         wpa=2\nwpa_key_mgmt=WPA-EAP\nrsn_pairwise=CCMP\nieee8021x=1\neap_server=1\n\
         eap_user_file={}\nca_cert={}\nserver_cert={}\nprivate_key={}\n",
        radio.iface,
        users.display(),
        pki.ca,
        pki.server_cert,
        pki.server_key
    );
    let _ap = Ap::start(radio, &config);
    let station = Station::start(air.radio(1), "");
    let eap = station.service("np-eap", "np-eap listed", |_| true);
    assert_eq!(
        eap.security().collect::<Vec<_>>(),
        vec![pb::Security::Ieee8021x]
    );
    assert!(eap.id.ends_with("_managed_ieee8021x"), "{}", eap.id);
    let mut manager = station.manager();
    let set_eap = |manager: &mut ManagerServiceClient<Channel>, settings: pb::EapSettings| {
        let request = pb::UpdateServiceRequest {
            service: Some(pb::Service {
                id: eap.id.clone(),
                eap_config: Some(settings),
                ..Default::default()
            }),
            update_mask: Some(pbjson_types::FieldMask {
                paths: vec!["eap_config".into()],
            }),
        };
        station
            .rt
            .block_on(manager.update_service(request))
            .expect("update eap_config")
    };
    set_eap(
        &mut manager,
        pb::EapSettings {
            method: pb::EapMethod::Peap.into(),
            ca_cert: pki.ca.clone(),
            domain_match: "radius.np.test".into(),
            ..Default::default()
        },
    );
    let connect = |identity: &str, password: &str| {
        let request = pb::ConnectServiceRequest {
            service_id: eap.id.clone(),
            timeout: None,
            credentials: Some(pb::Credentials {
                identity: identity.into(),
                password: password.into(),
                ..Default::default()
            }),
        };
        let mut manager = station.manager();
        station
            .rt
            .block_on(manager.connect_service(request))
            .map(|r| r.into_inner().service.expect("service"))
    };
    let err = connect("np-user", "wrong-password").expect_err("a wrong password fails");
    assert_eq!(reason(&err), "auth-failed", "{err:?}");
    let peap = connect("np-user", "np-password").expect("PEAP/MSCHAPv2");
    assert_eq!(peap.state(), pb::ServiceState::Ready, "{peap:?}");
    assert!(peap.identity_set && peap.password_set, "{peap:?}");
    assert_eq!(
        station.wpa.status_of("EAP state").as_deref(),
        Some("SUCCESS")
    );

    station
        .rt
        .block_on(manager.disconnect_service(pb::DisconnectServiceRequest {
            service_id: eap.id.clone(),
        }))
        .expect("disconnect");
    set_eap(
        &mut manager,
        pb::EapSettings {
            method: pb::EapMethod::Tls.into(),
            ca_cert: pki.ca.clone(),
            client_cert: pki.client_cert.clone(),
            private_key: pki.client_key.clone(),
            ..Default::default()
        },
    );
    let tls = connect("np-tls-client", "").expect("EAP-TLS");
    assert_eq!(tls.state(), pb::ServiceState::Ready, "{tls:?}");
    assert_eq!(
        station.wpa.status_of("selectedMethod").as_deref(),
        Some("13 (EAP-TLS)")
    );
    let log = station.daemon.log();
    assert!(!log.contains("np-password"), "a password reached the log");
}
