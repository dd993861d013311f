//! Which technologies may have connected services (ConnMan main.conf
//! SingleConnectedTechnology and AlwaysConnectedTechnologies).

use crate::model::{Service, TechnologyKind};

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
