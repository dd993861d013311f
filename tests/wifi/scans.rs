//! How netpilotd finds networks again: an access point that restarts is rejoined by itself
//! (quick scans of its channel while it is away, the service kept meanwhile), and enabling
//! Wi-Fi joins a known network from the first scan after power-on (2.4 GHz first, the
//! scan of every channel aborted by the connect). Correctness only: times are measured by
//! `make bench` (tests/wifi/bench.rs), never asserted here.

use crate::common::hwsim::{note, Air};
use crate::harness::psk_ap;
use crate::netpilot::{Ap, Station, PASSPHRASE};
use netpilot::pb;

fn state_is(s: &pb::Service, state: pb::ServiceState) -> bool {
    s.state() == state
}

/// The network blocks in wpa_supplicant (`LIST_NETWORKS` without its header line).
fn network_blocks(station: &Station) -> Vec<String> {
    let list = station.wpa.ctrl().request("LIST_NETWORKS");
    list.lines().skip(1).map(str::to_string).collect()
}

/// WPA2-PSK, connected; the access point is disabled (stations get a deauthentication) and
/// enabled again: the service fails with out-of-range, then is ready again without a
/// ConnectService, through the network block written for the first connect.
pub fn rejoins_after_the_ap_restarts() {
    let air = Air::new(2);
    let ap = Ap::start(air.radio(0), &psk_ap(air.radio(0), "np-psk", 6));
    let station = Station::start(air.radio(1), "");
    let psk = station.service("np-psk", "np-psk listed", |_| true);
    let ready = station
        .connect(&psk.id, Some(PASSPHRASE))
        .expect("connect with the passphrase");
    assert_eq!(ready.state(), pb::ServiceState::Ready, "{ready:?}");
    ap.hostapd.ctrl().request_ok("DISABLE");
    let gone = station.service("np-psk", "np-psk out of range", |s| {
        state_is(s, pb::ServiceState::Failure) || state_is(s, pb::ServiceState::Idle)
    });
    note(format!("after DISABLE: {gone:?}"));
    ap.hostapd.ctrl().request_ok("ENABLE");
    let back = station.service("np-psk", "np-psk ready again", |s| {
        state_is(s, pb::ServiceState::Ready) || state_is(s, pb::ServiceState::Online)
    });
    assert_eq!(back.id, psk.id, "the same service");
    assert!(back.favorite, "{back:?}");
    let blocks = network_blocks(&station);
    assert_eq!(blocks.len(), 1, "one network block, reused: {blocks:?}");
}

/// A known network (connected once, passphrase stored); Wi-Fi turned off takes its
/// services away; turned on again, the network is joined by itself, with the network
/// block written the first time.
pub fn enabling_wifi_joins_a_known_network() {
    let air = Air::new(2);
    let _ap = Ap::start(air.radio(0), &psk_ap(air.radio(0), "np-psk", 6));
    let station = Station::start(air.radio(1), "");
    let psk = station.service("np-psk", "np-psk listed", |_| true);
    station
        .connect(&psk.id, Some(PASSPHRASE))
        .expect("connect with the passphrase");
    let mut manager = station.manager();
    let power = |on: bool| pb::UpdateTechnologyRequest {
        r#type: pb::TechnologyType::Wifi.into(),
        powered: Some(on),
        ..Default::default()
    };
    let off = station
        .rt
        .block_on(manager.update_technology(power(false)))
        .expect("Wi-Fi off")
        .into_inner();
    note(format!("off: {off:?}"));
    let listed = station.manager();
    station.rt.block_on(crate::common::eventually(
        "no Wi-Fi service while Wi-Fi is off",
        || {
            let mut m = listed.clone();
            async move {
                m.list_services(pb::ListServicesRequest {})
                    .await
                    .expect("list services")
                    .into_inner()
                    .services
                    .iter()
                    .all(|s| s.r#type() != pb::TechnologyType::Wifi)
            }
        },
    ));
    station
        .rt
        .block_on(manager.update_technology(power(true)))
        .expect("Wi-Fi on");
    let back = station.service("np-psk", "np-psk joined after power-on", |s| {
        state_is(s, pb::ServiceState::Ready) || state_is(s, pb::ServiceState::Online)
    });
    assert_eq!(back.id, psk.id, "the same service");
    let blocks = network_blocks(&station);
    assert_eq!(blocks.len(), 1, "one network block, reused: {blocks:?}");
}
