//! Which services netpilot wants connected: the user's intent, sessions' connects,
//! `autoconnect`, ConnMan's main.conf SingleConnectedTechnology and
//! AlwaysConnectedTechnologies, and one service per netdev (a Wi-Fi radio joins one network
//! at a time).

use std::collections::{BTreeSet, HashSet};

use crate::model::{Service, ServiceId, TechnologyKind};

/// What the user last asked of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Intent {
    /// Nothing: follow `autoconnect` and this policy.
    #[default]
    Auto,
    /// ConnectService (or a session's connect): connect even without autoconnect.
    Connect,
    /// DisconnectService: stay disconnected until the next connect.
    Disconnected,
}

/// One managed service, as [`wanted`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The service.
    pub id: ServiceId,
    /// Its technology.
    pub technology: TechnologyKind,
    /// The netdev it uses (the NIC, the radio); services that share one compete, and at
    /// most one of them is wanted.
    pub netdev: Option<u32>,
    /// The user's last request.
    pub intent: Intent,
    /// It may connect by itself: `autoconnect` is on and the service is known (a favorite,
    /// or an Ethernet link, which needs no credentials).
    pub autoconnect: bool,
    /// Only the user can get it connected: it failed in a way only they can fix (a wrong
    /// key), or it needs credentials that are not stored (an 802.1X port never connected).
    /// Autoconnect passes it over for the next candidate on the same netdev.
    pub needs_user: bool,
    /// A session that asked to connect (ConnectSession) wants this service.
    pub claimed: bool,
}

/// The services netpilot wants connected. `candidates` are in service order, preferred
/// first; `allowed` comes from [`allowed_technologies`].
///
/// An explicit connect counts and claims its netdev. Next, a service a session claims is
/// wanted (unless the user disconnected it: an explicit call supersedes a session's claim)
/// when no explicit connect took its netdev. Otherwise a service is wanted when it may
/// autoconnect, its technology is allowed, it does not need the user, and no service before
/// it (or an explicit connect or a session's claim) claimed its netdev.
pub fn wanted(candidates: &[Candidate], allowed: &[TechnologyKind]) -> BTreeSet<ServiceId> {
    let mut claimed: HashSet<u32> = HashSet::new();
    let mut wanted: BTreeSet<ServiceId> = BTreeSet::new();
    // Explicit connects first; of two on one netdev the first in service order keeps it
    // (the engine clears a superseded one, so this only guards against a slip).
    for c in candidates.iter().filter(|c| c.intent == Intent::Connect) {
        if c.netdev.is_none_or(|n| claimed.insert(n)) {
            wanted.insert(c.id.clone());
        }
    }
    for c in candidates
        .iter()
        .filter(|c| c.claimed && c.intent == Intent::Auto)
    {
        if c.netdev.is_none_or(|n| claimed.insert(n)) {
            wanted.insert(c.id.clone());
        }
    }
    for c in candidates {
        if c.intent != Intent::Auto
            || !c.autoconnect
            || c.needs_user
            || !allowed.contains(&c.technology)
        {
            continue;
        }
        if let Some(netdev) = c.netdev {
            if !claimed.insert(netdev) {
                continue;
            }
        }
        wanted.insert(c.id.clone());
    }
    wanted
}

/// The technologies whose services may connect. Without `single`, all of them. With it:
/// the technology of the first service in service order that is connected or connecting,
/// plus the `always` ones; when nothing is connected or connecting, all of them, so the
/// first to get there wins and the others are then let go.
pub fn allowed_technologies(
    single: bool,
    always: &[TechnologyKind],
    services_in_order: &[Service],
) -> Vec<TechnologyKind> {
    if !single {
        return TechnologyKind::ALL.to_vec();
    }
    let Some(leader) = services_in_order
        .iter()
        .find(|s| s.state.is_connected() || s.state.is_connecting())
        .map(|s| s.technology)
    else {
        return TechnologyKind::ALL.to_vec();
    };
    let mut allowed = vec![leader];
    allowed.extend(always.iter().copied().filter(|t| *t != leader));
    allowed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ServiceState::*;
    use crate::model::TechnologyKind::*;
    use crate::policy::fixtures::service;

    fn candidate(id: &str, technology: TechnologyKind, netdev: u32) -> Candidate {
        Candidate {
            id: ServiceId(id.into()),
            technology,
            netdev: Some(netdev),
            intent: Intent::Auto,
            autoconnect: true,
            needs_user: false,
            claimed: false,
        }
    }

    #[test]
    fn wanted_table() {
        let eth = candidate("eth", Ethernet, 1);
        let home = candidate("home", Wifi, 2);
        let office = candidate("office", Wifi, 2);
        let with = |c: &Candidate, f: &dyn Fn(&mut Candidate)| {
            let mut c = c.clone();
            f(&mut c);
            c
        };
        let all = TechnologyKind::ALL.to_vec();
        type Case = (
            &'static str,
            Vec<Candidate>,
            Vec<TechnologyKind>,
            Vec<&'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                "one network per radio: the first in service order",
                vec![eth.clone(), home.clone(), office.clone()],
                all.clone(),
                vec!["eth", "home"],
            ),
            (
                "a wrong key passes autoconnect on to the next network",
                vec![with(&home, &|c| c.needs_user = true), office.clone()],
                all.clone(),
                vec!["office"],
            ),
            (
                "an explicit connect wins its radio",
                vec![home.clone(), with(&office, &|c| c.intent = Intent::Connect)],
                all.clone(),
                vec!["office"],
            ),
            (
                "two explicit connects on one radio: only the first",
                vec![
                    with(&home, &|c| c.intent = Intent::Connect),
                    with(&office, &|c| c.intent = Intent::Connect),
                ],
                all.clone(),
                vec!["home"],
            ),
            (
                "disconnected stays down",
                vec![with(&eth, &|c| c.intent = Intent::Disconnected)],
                all.clone(),
                vec![],
            ),
            (
                "autoconnect off",
                vec![with(&eth, &|c| c.autoconnect = false)],
                all.clone(),
                vec![],
            ),
            (
                "technology not allowed",
                vec![eth.clone(), home.clone()],
                vec![Ethernet],
                vec!["eth"],
            ),
            (
                "an explicit connect ignores the technology rule",
                vec![eth.clone(), with(&home, &|c| c.intent = Intent::Connect)],
                vec![Ethernet],
                vec!["eth", "home"],
            ),
            (
                "a session's claim connects a service autoconnect would not",
                vec![with(&eth, &|c| {
                    c.autoconnect = false;
                    c.claimed = true
                })],
                all.clone(),
                vec!["eth"],
            ),
            (
                "no claim left and no autoconnect: let go",
                vec![with(&eth, &|c| c.autoconnect = false)],
                all.clone(),
                vec![],
            ),
            (
                "a claim takes the radio from autoconnect",
                vec![home.clone(), with(&office, &|c| c.claimed = true)],
                all.clone(),
                vec!["office"],
            ),
            (
                "an explicit connect supersedes a claim on the same radio",
                vec![
                    with(&home, &|c| c.claimed = true),
                    with(&office, &|c| c.intent = Intent::Connect),
                ],
                all.clone(),
                vec!["office"],
            ),
            (
                "a user's disconnect supersedes a claim",
                vec![with(&eth, &|c| {
                    c.claimed = true;
                    c.intent = Intent::Disconnected
                })],
                all.clone(),
                vec![],
            ),
            (
                "a claim ignores the technology rule",
                vec![eth.clone(), with(&home, &|c| c.claimed = true)],
                vec![Ethernet],
                vec!["eth", "home"],
            ),
            (
                "services without a netdev do not compete",
                vec![
                    with(&eth, &|c| c.netdev = None),
                    with(&home, &|c| c.netdev = None),
                ],
                all.clone(),
                vec!["eth", "home"],
            ),
        ];
        for (name, candidates, allowed, want) in cases {
            let got = wanted(&candidates, &allowed);
            let got: Vec<&str> = got.iter().map(|id| id.0.as_str()).collect();
            let mut want = want;
            want.sort();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn allowed_technologies_table() {
        let eth_ready = service("e", Ethernet, Ready);
        let wifi_conf = service("w", Wifi, Configuration);
        let cell_idle = service("c", Cellular, Idle);
        type Case = (
            &'static str,
            bool,
            &'static [TechnologyKind],
            Vec<Service>,
            Vec<TechnologyKind>,
        );
        let cases: [Case; 5] = [
            (
                "off: everything",
                false,
                &[],
                vec![eth_ready.clone(), wifi_conf.clone()],
                TechnologyKind::ALL.to_vec(),
            ),
            (
                "single: the leader only",
                true,
                &[],
                vec![eth_ready.clone(), wifi_conf.clone()],
                vec![Ethernet],
            ),
            (
                "single + always",
                true,
                &[Cellular],
                vec![eth_ready.clone(), cell_idle.clone()],
                vec![Ethernet, Cellular],
            ),
            (
                "connecting leads when nothing is connected",
                true,
                &[],
                vec![wifi_conf.clone(), cell_idle.clone()],
                vec![Wifi],
            ),
            (
                "nothing under way: everything",
                true,
                &[],
                vec![cell_idle.clone()],
                TechnologyKind::ALL.to_vec(),
            ),
        ];
        for (name, single, always, services, want) in cases {
            assert_eq!(
                allowed_technologies(single, always, &services),
                want,
                "{name}"
            );
        }
    }
}
