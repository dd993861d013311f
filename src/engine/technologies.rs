//! Technologies (ConnMan doc/technology-api.txt): which exist, their power and regulatory
//! country, the devices the Wi-Fi backend drives, and scans.

use std::collections::BTreeMap;

use tokio::sync::oneshot;

use super::manager::Manager;
use super::EngineError;
use crate::config::Config;
use crate::model::{Interface, InterfaceKind, Service, Technology, TechnologyKind};
use crate::policy;
use crate::store::Written;
use crate::tech::wifi::{Radio, Request, ScanToken, WiredPort};

/// What the engine knows of a technology besides its services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TechState {
    /// It has devices netpilot manages (Ethernet always counts).
    pub present: bool,
    /// They can be used now.
    pub available: bool,
    /// ConnMan's "Powered".
    pub powered: bool,
    /// Wi-Fi regulatory country.
    pub country: Option<String>,
    /// Zephyr IgnoreL2: its netdevs are ignored.
    pub ignored: bool,
}

impl TechState {
    /// Ethernet present, Wi-Fi until its backend reports radios; power as stored.
    pub fn initial(
        config: &Config,
        stored_power: &BTreeMap<String, bool>,
    ) -> BTreeMap<TechnologyKind, TechState> {
        TechnologyKind::ALL
            .into_iter()
            .map(|kind| {
                let state = TechState {
                    present: kind == TechnologyKind::Ethernet,
                    available: kind == TechnologyKind::Ethernet,
                    powered: stored_power.get(kind.as_str()).copied().unwrap_or(true),
                    country: (kind == TechnologyKind::Wifi && !config.wifi.country.is_empty())
                        .then(|| config.wifi.country.clone()),
                    ignored: false,
                };
                (kind, state)
            })
            .collect()
    }
}

impl Manager {
    /// Whether a technology is powered.
    pub(super) fn powered(&self, kind: TechnologyKind) -> bool {
        self.technologies.get(&kind).is_none_or(|t| t.powered)
    }

    /// The technologies the API shows: those present, in ConnMan's order.
    pub(super) fn technology_list(&self, services: &[Service]) -> Vec<Technology> {
        self.technologies
            .iter()
            .filter(|(_, t)| t.present)
            .map(|(kind, t)| Technology {
                kind: *kind,
                powered: t.powered,
                connected: policy::state::technology_connected(*kind, services),
                tethering: *kind == TechnologyKind::Wifi && self.setup.tethering().0,
                tethering_identifier: (*kind == TechnologyKind::Wifi)
                    .then(|| self.setup.tethering().1)
                    .flatten(),
                available: t.available,
                country: t.country.clone(),
                ignored: t.ignored,
            })
            .collect()
    }

    /// Tells the Wi-Fi backend the managed radios and 802.1X ports when they changed.
    pub(super) fn sync_devices(&mut self, interfaces: &[Interface]) {
        let managed =
            |i: &Interface| !i.ignored && self.config.is_managed(&i.name, &i.mac_string());
        let radios: Vec<Radio> = interfaces
            .iter()
            .filter(|i| i.kind == InterfaceKind::Wireless && managed(i))
            .filter(|i| !self.setup.owns_interface(&i.name))
            .filter_map(|i| {
                Some(Radio {
                    ifindex: i.index,
                    name: i.name.clone(),
                    mac: i.mac?,
                })
            })
            .collect();
        let ports: Vec<WiredPort> = interfaces
            .iter()
            .filter(|i| i.kind == InterfaceKind::Ethernet && managed(i))
            .filter(|i| self.config.is_ieee8021x(&i.name))
            .filter_map(|i| {
                Some(WiredPort {
                    ifindex: i.index,
                    name: i.name.clone(),
                    service: crate::model::ServiceId::ethernet(i.mac?),
                })
            })
            .collect();
        if self.devices != (radios.clone(), ports.clone()) {
            tracing::info!(radios = ?radios.iter().map(|r| &r.name).collect::<Vec<_>>(), ports = ?ports.iter().map(|p| &p.name).collect::<Vec<_>>(), "Wi-Fi and 802.1X devices");
            self.devices = (radios.clone(), ports.clone());
            self.wifi.send(Request::Devices { radios, ports });
        }
    }

    /// A backend reports its technology's devices.
    pub(super) fn on_technology(&mut self, kind: TechnologyKind, present: bool, available: bool) {
        if let Some(t) = self.technologies.get_mut(&kind) {
            if (t.present, t.available) != (present, available) {
                tracing::info!(technology = %kind, present, available, "technology changed");
            }
            t.present = present;
            t.available = available;
        }
    }

    /// ScanTechnology: answered when the backend reports the scan done (after the services
    /// it found, which come through the same queue).
    pub(super) fn scan(
        &mut self,
        kind: TechnologyKind,
        reply: oneshot::Sender<Result<(), EngineError>>,
    ) {
        let state = self.technologies.get(&kind);
        let refusal = match state {
            _ if kind != TechnologyKind::Wifi => Some(format!("{kind} has nothing to scan")),
            Some(t) if !t.present => Some("there is no managed Wi-Fi radio".to_string()),
            Some(t) if !t.powered => Some("Wi-Fi is powered off".to_string()),
            Some(t) if !t.available => Some("wpa_supplicant does not answer".to_string()),
            _ => None,
        };
        if let Some(message) = refusal {
            let _ = reply.send(Err(EngineError::FailedPrecondition {
                reason: "NotSupported",
                message: format!("cannot scan: {message}"),
            }));
            return;
        }
        self.next_scan += 1;
        let token = ScanToken(self.next_scan);
        self.scans.insert(token, reply);
        self.wifi.send(Request::Scan(token));
    }

    /// The backend finished a scan.
    pub(super) fn on_scan_done(&mut self, token: ScanToken, error: Option<String>) {
        if let Some(reply) = self.scans.remove(&token) {
            let _ = reply.send(match error {
                None => Ok(()),
                Some(message) => Err(EngineError::FailedPrecondition {
                    reason: "Failed",
                    message: format!("scan failed: {message}"),
                }),
            });
        }
    }

    /// Whether the technology whose netdevs are of this kind is ignored (Zephyr IgnoreL2).
    pub(super) fn technology_ignored(&self, kind: crate::model::InterfaceKind) -> bool {
        TechnologyKind::of_interface(kind)
            .and_then(|t| self.technologies.get(&t))
            .is_some_and(|t| t.ignored)
    }

    /// UpdateTechnology: power, country, and IgnoreL2/WatchL2.
    pub(super) fn update_technology(
        &mut self,
        kind: TechnologyKind,
        powered: Option<bool>,
        country: Option<String>,
        ignored: Option<bool>,
    ) -> Result<(Technology, Option<Written>), EngineError> {
        let not_present = || EngineError::FailedPrecondition {
            reason: "NotSupported",
            message: format!("{kind} has no device netpilot manages"),
        };
        let present = self.technologies.get(&kind).is_some_and(|t| t.present);
        if !present {
            return Err(not_present());
        }
        if let Some(country) = &country {
            if kind != TechnologyKind::Wifi {
                return Err(EngineError::InvalidArgument {
                    field: "country".into(),
                    message: "only Wi-Fi has a regulatory country".into(),
                });
            }
            if !crate::model::is_country_code(country) {
                return Err(EngineError::InvalidArgument {
                    field: "country".into(),
                    message: format!(
                        "{country:?} is not an ISO 3166-1 alpha-2 code such as \"DE\""
                    ),
                });
            }
        }
        let mut written = None;
        if let Some(on) = powered {
            if self.powered(kind) != on {
                let mut power: BTreeMap<String, bool> = self
                    .technologies
                    .iter()
                    .map(|(k, t)| (k.as_str().to_string(), t.powered))
                    .collect();
                power.insert(kind.as_str().to_string(), on);
                written = Some(self.store.save_power(&power));
                tracing::info!(technology = %kind, powered = on, "technology power");
                if let Some(t) = self.technologies.get_mut(&kind) {
                    t.powered = on;
                }
                if kind == TechnologyKind::Wifi {
                    self.wifi.send(Request::SetPowered(on));
                }
            }
        }
        if let Some(ignored) = ignored {
            tracing::info!(technology = %kind, ignored, "technology ignored (IgnoreL2/WatchL2)");
            if let Some(t) = self.technologies.get_mut(&kind) {
                t.ignored = ignored;
            }
            self.sync_links();
        }
        if let Some(country) = country {
            tracing::info!(%country, "Wi-Fi regulatory country");
            if let Some(t) = self.technologies.get_mut(&kind) {
                t.country = Some(country.clone());
            }
            self.wifi.send(Request::SetCountry(country));
        }
        self.step();
        let technology = self
            .published
            .technology(kind)
            .cloned()
            .ok_or_else(not_present)?;
        Ok((technology, written))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::store::Store;
    use crate::tech::wifi::Request;

    /// The backend starts powered; Wi-Fi stored as off must be the first thing it hears.
    #[tokio::test]
    async fn stored_wifi_power_reaches_the_backend_at_start() {
        let cases = [
            (Some(false), Some(Request::SetPowered(false))),
            (Some(true), None),
            (None, None),
        ];
        for (stored, told) in cases {
            let dir = tempfile::tempdir().expect("temp dir");
            if let Some(on) = stored {
                let (store, _) = Store::open(dir.path()).expect("open the store");
                store
                    .save_power(&[("wifi".to_string(), on)].into_iter().collect())
                    .done()
                    .await
                    .expect("save the power");
            }
            let (store, loaded) = Store::open(dir.path()).expect("open the store");
            let mut engine = super::super::spawn(&Config::default(), store, loaded);
            assert_eq!(engine.wifi.try_recv().ok(), told, "stored {stored:?}");
            engine.task.abort();
        }
    }
}
