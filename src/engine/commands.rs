//! API commands: each is carried out on the engine's state and answered on its reply channel.

use super::connect::ConnectArgs;
use super::handle::Command;
use super::manager::Manager;
use super::{EngineError, Service};
use crate::model::ServiceId;
use crate::policy;

impl Manager {
    pub(super) fn on_command(&mut self, command: Command) {
        match command {
            Command::SetOfflineMode(on, reply) => {
                self.offline_mode = on;
                self.step();
                let _ = reply.send(Ok(self.published.manager));
            }
            Command::Connect {
                id,
                timeout,
                credentials,
                name,
                reply,
            } => self.connect(
                &id,
                ConnectArgs {
                    timeout,
                    credentials,
                    name,
                },
                reply,
            ),
            Command::Disconnect { id, reply } => {
                let _ = reply.send(self.disconnect(&id));
            }
            Command::Remove { id, reply } => {
                let _ = reply.send(self.remove(&id));
            }
            Command::UpdateService { id, config, reply } => {
                let _ = reply.send(self.update_service(&id, config));
            }
            Command::ReportConnectivity { id, reply } => {
                let _ = reply.send(self.connection_mut(&id).map(|c| c.recheck()));
            }
            Command::MoveService {
                id,
                anchor,
                after,
                reply,
            } => {
                let _ = reply.send(self.move_service(&id, &anchor, after));
            }
            Command::SetInterfaceIgnored {
                name,
                ignored,
                reply,
            } => {
                let result = if self.has_link(&name) {
                    self.ignore_overrides.insert(name.clone(), ignored);
                    self.sync_links();
                    self.step();
                    self.published.interface(&name).cloned()
                } else {
                    None
                };
                let _ = reply.send(result.ok_or(EngineError::NotFound {
                    kind: "interface",
                    id: name,
                }));
            }
            Command::OpenSession {
                owner,
                settings,
                reply,
            } => {
                let opened = self
                    .sessions
                    .open(owner, settings, &self.published.services);
                let _ = reply.send(opened);
            }
            Command::ChangeSession {
                id,
                caller,
                allowed_bearers,
                connection_type,
                reply,
            } => {
                let result = self
                    .sessions
                    .change(id, &caller, allowed_bearers, connection_type);
                let _ = reply.send(result);
            }
            Command::CheckSession { id, caller, reply } => {
                let _ = reply.send(self.sessions.check(id, &caller));
            }
            Command::DestroySession { id, caller, reply } => {
                let _ = reply.send(self.sessions.destroy(id, &caller));
            }
            Command::CloseSession(id) => self.sessions.close(id),
            Command::ListSessions { caller, reply } => {
                let _ = reply.send(Ok(self.sessions.list(&caller)));
            }
            Command::SetSessionPolicies(policies, reply) => {
                self.sessions.set_policies(policies);
                self.sessions.update(&self.published.services);
                let _ = reply.send(Ok(()));
            }
            Command::RegisterAgent {
                name,
                caller,
                reply,
            } => {
                let _ = reply.send(self.agents.register(name, &caller));
            }
            Command::UnregisterAgent(id) => {
                let parked = self.agents.unregister(id);
                self.abandon_parked(parked, "the agent went away before it answered");
            }
            Command::AgentAnswer {
                agent,
                request_id,
                answer,
            } => self.on_agent_answer(agent, request_id, answer),
            Command::Scan { kind, reply } => self.scan(kind, reply),
            Command::UpdateTechnology {
                kind,
                powered,
                country,
                reply,
            } => {
                let _ = reply.send(self.update_technology(kind, powered, country));
            }
            Command::Shutdown(done) => {
                // The run loop ends on Shutdown before it gets here.
                let _ = done.send(());
            }
        }
    }

    fn move_service(
        &mut self,
        id: &str,
        anchor: &str,
        after: bool,
    ) -> Result<Vec<Service>, EngineError> {
        let services = &self.published.services;
        for value in [id, anchor] {
            if services.iter().all(|s| s.id.0 != value) {
                return Err(EngineError::NotFound {
                    kind: "service",
                    id: value.to_string(),
                });
            }
        }
        if id == anchor {
            return Err(EngineError::InvalidArgument {
                field: if after { "after" } else { "before" }.into(),
                message: "a service cannot move relative to itself".into(),
            });
        }
        let current: Vec<ServiceId> = services.iter().map(|s| s.id.clone()).collect();
        self.prefs.user_order = policy::order::move_service(
            &current,
            &ServiceId(id.to_string()),
            &ServiceId(anchor.to_string()),
            after,
        );
        self.step();
        Ok(self.published.services.clone())
    }
}
