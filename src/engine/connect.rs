//! ConnectService with credentials: what the network needs comes from the request, from the
//! store, or from the registered agent (ConnMan agent-api.txt RequestInput); with none of
//! them the connect fails at once with `passphrase-required` and an `InputRequired` event.
//! A hidden network gets its name the same way and is connected as the service of that SSID.

use std::time::Duration;

use super::connection::{ConnectReply, Connection, TimerKind};
use super::manager::{Manager, ServiceEntry};
use super::{EngineError, Event, InputAnswer};
use crate::model::{
    ssid_display, validate_passphrase, validate_ssid, validate_text, Credentials, ReportKey,
    SecurityClass, ServiceError, ServiceId, WifiInfo,
};
use crate::policy::credentials::{self, Need};

/// How long the agent has to answer (ConnMan's agent timeout).
pub(super) const AGENT_TIMEOUT: Duration = Duration::from_secs(120);

/// A connect waiting for the agent.
pub(super) struct ParkedConnect {
    pub id: ServiceId,
    pub timeout: Option<Duration>,
    pub given: Credentials,
    pub name: Option<Vec<u8>>,
    pub reply: ConnectReply,
}

/// What a ConnectService brought besides the service id.
pub(super) struct ConnectArgs {
    pub timeout: Option<Duration>,
    pub credentials: Credentials,
    pub name: Option<Vec<u8>>,
}

/// The security class a service's id names.
pub(super) fn class_of(entry: &ServiceEntry) -> SecurityClass {
    use crate::model::Security;
    let s = &entry.info.security;
    if s.contains(&Security::Ieee8021x) {
        SecurityClass::Ieee8021x
    } else if s.contains(&Security::Psk) || s.contains(&Security::Sae) {
        SecurityClass::Psk
    } else if s.contains(&Security::Wep) {
        SecurityClass::Wep
    } else {
        SecurityClass::None
    }
}

impl Manager {
    /// ConnectService.
    pub(super) fn connect(&mut self, id: &str, args: ConnectArgs, reply: ConnectReply) {
        let sid = ServiceId(id.to_string());
        let entry = match self.connection_mut(id) {
            Ok(_) => &self.services[&sid],
            Err(e) => {
                let _ = reply.send(Err(e));
                return;
            }
        };
        if class_of(entry) == SecurityClass::Wep {
            let _ = reply.send(Err(EngineError::FailedPrecondition {
                reason: "NotSupported",
                message: format!(
                    "{} uses WEP, which is broken and not supported; ask for WPA2 or WPA3",
                    entry.info.name
                ),
            }));
            return;
        }
        let parked = ParkedConnect {
            id: sid,
            timeout: args.timeout,
            given: args.credentials,
            name: args.name,
            reply,
        };
        self.connect_or_ask(parked);
    }

    /// Connects when nothing is missing; otherwise asks the agent, or fails when there is
    /// none.
    fn connect_or_ask(&mut self, parked: ParkedConnect) {
        let Some(entry) = self.services.get(&parked.id) else {
            let _ = parked.reply.send(Err(EngineError::NotFound {
                kind: "service",
                id: parked.id.0.clone(),
            }));
            return;
        };
        let have = self
            .credentials
            .get(&parked.id)
            .cloned()
            .unwrap_or_default()
            .merged(&parked.given);
        let nameless =
            entry.info.wifi.as_ref().is_some_and(|w| w.ssid.is_empty()) && parked.name.is_none();
        let eap = entry.connection.as_ref().and_then(|c| c.config.eap.clone());
        let missing = credentials::missing(&Need {
            class: class_of(entry),
            nameless,
            eap: eap.as_ref(),
            have: &have,
        });
        if missing.is_empty() {
            self.start_connect(parked);
            return;
        }
        let refused = matches!(
            entry
                .connection
                .as_ref()
                .and_then(|c| c.state().service_state().1),
            Some(ServiceError::InvalidKey)
        );
        let id = parked.id.clone();
        match self
            .agents
            .request(id.clone(), missing.clone(), refused, parked)
        {
            Ok(request_id) => {
                let timers = self.reporters.timers.clone();
                let key = ReportKey {
                    service: id,
                    generation: request_id,
                };
                tokio::spawn(async move {
                    tokio::time::sleep(AGENT_TIMEOUT).await;
                    let _ = timers
                        .send(super::connection::Timer {
                            key,
                            kind: TimerKind::InputTimeout,
                        })
                        .await;
                });
            }
            Err(parked) => {
                let names: Vec<&str> = missing.iter().map(|f| f.name()).collect();
                self.extra_events.push(Event::InputRequired {
                    id: id.clone(),
                    fields: missing.clone(),
                });
                let _ = parked.reply.send(Err(EngineError::FailedPrecondition {
                    reason: credentials::reason(&missing),
                    message: format!(
                        "{id} needs {}: give it in the request's credentials, or register an agent",
                        names.join(" and ")
                    ),
                }));
            }
        }
    }

    /// Hands a connect with everything it needs to the service's connection. A hidden
    /// network's name turns it into the service of that SSID.
    fn start_connect(&mut self, parked: ParkedConnect) {
        let ParkedConnect {
            id,
            timeout,
            given,
            name,
            reply,
        } = parked;
        let id = match name {
            Some(ssid) => self.named_hidden_service(&id, ssid),
            None => id,
        };
        self.supersede_on_netdev(&id);
        let rules = self.rules();
        match self
            .services
            .get_mut(&id)
            .and_then(|e| e.connection.as_mut())
        {
            Some(c) => {
                c.given = given;
                c.connect(timeout, reply, rules);
            }
            None => {
                let _ = reply.send(Err(EngineError::NotFound {
                    kind: "service",
                    id: id.0,
                }));
            }
        }
    }

    /// A radio joins one network at a time: connecting `id` takes back an earlier explicit
    /// connect of another service on its netdev (ConnMan disconnects it too); that one goes
    /// back to following autoconnect.
    fn supersede_on_netdev(&mut self, id: &ServiceId) {
        let Some(netdev) = self.services.get(id).and_then(|e| e.info.netdev) else {
            return;
        };
        for entry in self.services.values_mut() {
            if entry.info.id == *id || entry.info.netdev != Some(netdev) {
                continue;
            }
            if let Some(c) = entry.connection.as_mut() {
                if c.intent == super::connection::Intent::Connect {
                    tracing::info!(service = %c.id, by = %id, "superseded by another connect on the same radio");
                    c.intent = super::connection::Intent::Auto;
                }
            }
        }
    }

    /// The service of a hidden network once its name is known: the SSID's own service id,
    /// created from the nameless one if the radio has not reported it yet.
    fn named_hidden_service(&mut self, nameless: &ServiceId, ssid: Vec<u8>) -> ServiceId {
        let Some(entry) = self.services.get(nameless) else {
            return nameless.clone();
        };
        let Some(radio) = self.radio_mac(entry.info.netdev) else {
            return nameless.clone();
        };
        let id = ServiceId::wifi(radio, &ssid, class_of(entry));
        if !self.services.contains_key(&id) {
            let mut info = entry.info.clone();
            info.id = id.clone();
            info.name = ssid_display(&ssid);
            info.wifi = Some(WifiInfo {
                ssid,
                hidden: true,
                ..info.wifi.clone().unwrap_or_default()
            });
            tracing::info!(service = %id, hidden = %nameless, "hidden network named");
            self.on_backend(crate::tech::Event::Service(info));
        }
        id
    }

    /// The agent answered an input request.
    pub(super) fn on_agent_answer(
        &mut self,
        agent: super::AgentId,
        request_id: u64,
        answer: InputAnswer,
    ) {
        let Some(mut parked) = self.agents.answer(agent, request_id) else {
            return;
        };
        if answer.canceled {
            tracing::info!(service = %parked.id, "the agent canceled the input request");
            let _ = parked.reply.send(Err(EngineError::Canceled(format!(
                "connect {}: the agent canceled the input request",
                parked.id
            ))));
            return;
        }
        match apply_answer(&mut parked, &answer) {
            Ok(()) => self.connect_or_ask(parked),
            Err(e) => {
                let _ = parked.reply.send(Err(e));
            }
        }
    }

    /// An input request timed out.
    pub(super) fn on_input_timeout(&mut self, request_id: u64) {
        if let Some(parked) = self.agents.time_out(request_id) {
            tracing::warn!(service = %parked.id, after = ?AGENT_TIMEOUT, "the agent did not answer");
            let _ = parked.reply.send(Err(EngineError::FailedPrecondition {
                reason: "passphrase-required",
                message: format!(
                    "connect {}: the agent did not answer within {AGENT_TIMEOUT:?}",
                    parked.id
                ),
            }));
        }
    }

    /// Answers connects that waited for an agent that went away.
    pub(super) fn abandon_parked(&mut self, parked: Vec<ParkedConnect>, why: &str) {
        for p in parked {
            let _ = p.reply.send(Err(EngineError::Aborted(format!(
                "connect {}: {why}",
                p.id
            ))));
        }
    }

    /// The MAC of the radio with this ifindex.
    fn radio_mac(&self, netdev: Option<u32>) -> Option<[u8; 6]> {
        self.interfaces()
            .into_iter()
            .find(|i| Some(i.index) == netdev)
            .and_then(|i| i.mac)
    }

    /// Stores the credentials a connect brought, once the service is connected.
    pub(super) fn keep_credentials(&mut self, id: &ServiceId, given: Credentials) {
        if given.is_empty() {
            return;
        }
        let merged = self
            .credentials
            .get(id)
            .cloned()
            .unwrap_or_default()
            .merged(&given);
        // The writer logs a failure.
        let _ = self.store.save_credentials(id, &merged);
        self.credentials.insert(id.clone(), merged);
    }

    /// A refused passphrase is forgotten unless `[wifi] keep_secret_on_invalid_key`.
    pub(super) fn refused_key(&mut self, id: &ServiceId) {
        if self.config.wifi.keep_secret_on_invalid_key {
            return;
        }
        let Some(stored) = self.credentials.get_mut(id) else {
            return;
        };
        if stored.passphrase.take().is_none() {
            return;
        }
        tracing::info!(service = %id, "forgetting the refused passphrase");
        // The writer logs a failure.
        let _ = if stored.is_empty() {
            self.credentials.remove(id);
            self.store.remove_credentials(id)
        } else {
            self.store.save_credentials(id, stored)
        };
    }
}

/// Takes the agent's values into the parked connect, checking each; the field names are
/// the agent's ("Passphrase", …).
fn apply_answer(parked: &mut ParkedConnect, answer: &InputAnswer) -> Result<(), EngineError> {
    let invalid = |field: &str, message: String| EngineError::InvalidArgument {
        field: field.to_string(),
        message,
    };
    for (field, value) in &answer.values {
        let v = value.expose();
        match field.as_str() {
            "Name" | "SSID" => {
                validate_ssid(field, v.as_bytes()).map_err(|e| invalid(field, e.message))?;
                parked.name = Some(v.as_bytes().to_vec());
            }
            "Passphrase" => {
                validate_passphrase(field, v).map_err(|e| invalid(field, e.message))?;
                parked.given.passphrase = Some(value.clone());
            }
            "Identity" | "Password" => {
                validate_text(field, v).map_err(|e| invalid(field, e.message))?;
                if field == "Identity" {
                    parked.given.identity = Some(value.clone());
                } else {
                    parked.given.password = Some(value.clone());
                }
            }
            other => {
                tracing::warn!(field = %other, "the agent answered a field that was not asked for; ignored")
            }
        }
    }
    Ok(())
}

impl Connection {
    /// Whether the connect in progress brought credentials to keep once connected.
    pub fn take_given(&mut self) -> Credentials {
        std::mem::take(&mut self.given)
    }
}
