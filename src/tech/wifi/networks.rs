//! Networks from the BSS table: one per SSID and security class (ConnMan's services, iwd's
//! networks), with the strongest BSS's strength and frequency. BSSes without an SSID form
//! one nameless hidden network per class; a hidden network whose name the user gave is
//! listed under that name while a hidden BSS of its class is seen.

use std::collections::BTreeMap;

use super::supplicant::{self, Bss};
use super::Radio;
use crate::model::{ssid_display, Security, SecurityClass, ServiceId, TechnologyKind, WifiInfo};
use crate::tech::ServiceInfo;

/// One network a radio sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// The SSID; empty for a nameless hidden network.
    pub ssid: Vec<u8>,
    /// Its class.
    pub class: SecurityClass,
    /// What it offers: PSK and SAE are the AKMs seen (both: WPA2/WPA3 transition).
    pub security: Vec<Security>,
    /// Strength of the strongest BSS, 0..=100.
    pub strength: u8,
    /// Frequency of the strongest BSS, MHz.
    pub frequency: u32,
    /// Every frequency it was seen on, for a quick scan.
    pub frequencies: Vec<u32>,
    /// BSSes seen.
    pub bss_count: u32,
    /// It does not broadcast its SSID.
    pub hidden: bool,
}

fn class(c: supplicant::SecurityClass) -> SecurityClass {
    match c {
        supplicant::SecurityClass::Open => SecurityClass::None,
        supplicant::SecurityClass::Wep => SecurityClass::Wep,
        supplicant::SecurityClass::Psk => SecurityClass::Psk,
        supplicant::SecurityClass::Ieee8021x => SecurityClass::Ieee8021x,
    }
}

fn security(bss: &Bss) -> Vec<Security> {
    let s = &bss.security;
    let mut out = match class(s.class) {
        SecurityClass::None => vec![Security::None],
        SecurityClass::Wep => vec![Security::Wep],
        SecurityClass::Ieee8021x => vec![Security::Ieee8021x],
        SecurityClass::Psk => {
            let mut v = Vec::new();
            if s.psk {
                v.push(Security::Psk);
            }
            if s.sae {
                v.push(Security::Sae);
            }
            v
        }
    };
    if s.wps {
        out.push(Security::Wps);
    }
    out
}

/// Groups a BSS table into networks. `known_hidden` are hidden networks whose names the
/// user gave (SSID and class).
pub fn group(bsses: &[Bss], known_hidden: &[(Vec<u8>, SecurityClass)]) -> Vec<Network> {
    let mut networks: BTreeMap<(Vec<u8>, SecurityClass), Network> = BTreeMap::new();
    let mut add = |ssid: Vec<u8>, hidden: bool, bss: &Bss| {
        let class = class(bss.security.class);
        let strength = bss.strength();
        let n = networks
            .entry((ssid.clone(), class))
            .or_insert_with(|| Network {
                ssid,
                class,
                security: Vec::new(),
                strength: 0,
                frequency: bss.freq,
                frequencies: Vec::new(),
                bss_count: 0,
                hidden,
            });
        n.bss_count += 1;
        n.hidden |= hidden;
        if strength > n.strength || n.bss_count == 1 {
            n.strength = strength;
            n.frequency = bss.freq;
        }
        if !n.frequencies.contains(&bss.freq) {
            n.frequencies.push(bss.freq);
        }
        for s in security(bss) {
            if !n.security.contains(&s) {
                n.security.push(s);
            }
        }
    };
    for bss in bsses {
        if bss.is_hidden() {
            add(Vec::new(), true, bss);
            for (ssid, c) in known_hidden {
                if *c == class(bss.security.class) {
                    add(ssid.clone(), true, bss);
                }
            }
        } else {
            let named_hidden = known_hidden
                .iter()
                .any(|(ssid, c)| *ssid == bss.ssid && *c == class(bss.security.class));
            add(bss.ssid.clone(), named_hidden, bss);
        }
    }
    let mut out: Vec<Network> = networks.into_values().collect();
    for n in &mut out {
        n.security.sort();
        n.frequencies.sort();
    }
    out
}

/// The service of a network seen by `radio`.
pub fn service_info(radio: &Radio, n: &Network) -> ServiceInfo {
    ServiceInfo {
        id: ServiceId::wifi(radio.mac, &n.ssid, n.class),
        technology: TechnologyKind::Wifi,
        name: ssid_display(&n.ssid),
        netdev: Some(radio.ifindex),
        managed: true,
        strength: n.strength,
        security: n.security.clone(),
        wifi: Some(WifiInfo {
            ssid: n.ssid.clone(),
            frequency: n.frequency,
            bss_count: n.bss_count,
            hidden: n.hidden,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The BSS replies recorded on mac80211_hwsim (see `testdata/README.md`).
    fn recorded() -> Vec<Bss> {
        include_str!("testdata/bss.txt")
            .split(">>> ")
            .filter(|r| r.starts_with("BSS FIRST") || r.starts_with("BSS NEXT-"))
            .filter_map(|r| r.split_once('\n').map(|(_, reply)| reply))
            .filter(|reply| !reply.trim().is_empty())
            .map(|reply| Bss::parse(reply).expect("recorded BSS parses"))
            .collect()
    }

    fn find<'a>(networks: &'a [Network], ssid: &[u8], class: SecurityClass) -> &'a Network {
        networks
            .iter()
            .find(|n| n.ssid == ssid && n.class == class)
            .unwrap_or_else(|| panic!("{} {class:?} not found", ssid_display(ssid)))
    }

    #[test]
    fn recorded_scan_groups_into_networks() {
        let bsses = recorded();
        assert!(bsses.len() > 200, "{}", bsses.len());
        let networks = group(&bsses, &[]);
        let transition = find(&networks, b"np-transition", SecurityClass::Psk);
        assert_eq!(transition.security, vec![Security::Psk, Security::Sae]);
        let sae = find(
            &networks,
            b"0123456789abcdef0123456789ABCDEF",
            SecurityClass::Psk,
        );
        assert_eq!(sae.security, vec![Security::Sae], "SAE only");
        assert_eq!(sae.ssid.len(), 32);
        assert_eq!(
            find(&networks, b"np-wep", SecurityClass::Wep).security,
            vec![Security::Wep]
        );
        let wps = find(&networks, b"np-wps", SecurityClass::Psk);
        assert!(wps.security.contains(&Security::Wps), "{:?}", wps.security);
        let hidden: Vec<&Network> = networks.iter().filter(|n| n.ssid.is_empty()).collect();
        assert!(!hidden.is_empty() && hidden.iter().all(|n| n.hidden));
        let utf8 = "café-ネット-📶".as_bytes();
        assert_eq!(find(&networks, utf8, SecurityClass::Psk).bss_count, 1);
        let ids: std::collections::BTreeSet<_> = networks
            .iter()
            .map(|n| {
                let radio = Radio {
                    ifindex: 3,
                    name: "wlan0".into(),
                    mac: [2, 0, 0, 0, 1, 0],
                };
                service_info(&radio, n).id
            })
            .collect();
        assert_eq!(ids.len(), networks.len(), "one service id per network");
    }

    #[test]
    fn a_named_hidden_network_is_listed_under_its_name() {
        let bsses = recorded();
        let hidden_psk = bsses
            .iter()
            .find(|b| b.is_hidden() && class(b.security.class) == SecurityClass::Psk)
            .cloned()
            .expect("a hidden PSK BSS was recorded");
        let networks = group(&[hidden_psk], &[(b"secret".to_vec(), SecurityClass::Psk)]);
        let named = find(&networks, b"secret", SecurityClass::Psk);
        assert!(named.hidden);
        assert!(
            networks.iter().any(|n| n.ssid.is_empty()),
            "the nameless one stays"
        );
        let radio = Radio {
            ifindex: 3,
            name: "wlan0".into(),
            mac: [2, 0, 0, 0, 1, 0],
        };
        let info = service_info(&radio, named);
        assert_eq!(info.id.0, "wifi_020000000100_736563726574_managed_psk");
        assert_eq!(info.name, "secret");
    }

    #[test]
    fn two_bsses_of_one_network_give_the_strongest_strength_and_frequency() {
        let recorded = recorded();
        let first = recorded
            .iter()
            .find(|b| b.ssid == b"np-psk")
            .cloned()
            .expect("np-psk recorded");
        let mut second = first.clone();
        second.bssid = supplicant::Mac([2, 1, 0, 0, 0, 0x99]);
        let mut first = first;
        (first.level, first.freq) = (-80, 2412);
        (second.level, second.freq) = (-40, 2437);
        let n = group(&[first, second], &[]);
        assert_eq!(n.len(), 1, "one network");
        assert_eq!(
            (n[0].bss_count, n[0].strength, n[0].frequency),
            (2, 80, 2437)
        );
        assert_eq!(n[0].frequencies, vec![2412, 2437]);
    }
}
