//! API commands: each is carried out on the engine's state and answered on its reply channel.

use tokio::sync::oneshot;

use super::connect::ConnectArgs;
use super::handle::Command;
use super::manager::Manager;
use super::{EngineError, Service};
use crate::model::ServiceId;
use crate::policy;
use crate::store::Written;

/// Answers `reply` once the store has written what the command changed, on a task of its
/// own: the engine never waits for the disk.
pub(super) fn reply_when_written<T: Send + 'static>(
    reply: oneshot::Sender<Result<T, EngineError>>,
    result: Result<(T, Option<Written>), EngineError>,
) {
    match result {
        Ok((value, Some(written))) => {
            tokio::spawn(async move {
                let answer = written.done().await.map(|()| value).map_err(|e| {
                    EngineError::Store(format!(
                        "{e}; the change is in effect until the daemon restarts"
                    ))
                });
                let _ = reply.send(answer);
            });
        }
        Ok((value, None)) => {
            let _ = reply.send(Ok(value));
        }
        Err(e) => {
            let _ = reply.send(Err(e));
        }
    }
}

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
                reply_when_written(reply, self.remove(&id).map(|w| ((), Some(w))));
            }
            Command::UpdateService { id, update, reply } => {
                let result = self.update_service(&id, &update);
                reply_when_written(reply, result.map(|(s, w)| (s, Some(w))));
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
                change,
                reply,
            } => {
                let result = self
                    .sessions
                    .change(id, &caller, &change, &self.published.services);
                let _ = reply.send(result);
            }
            Command::ConnectSession { id, caller, reply } => {
                let result = self.connect_session(id, &caller);
                let _ = reply.send(result);
            }
            Command::DisconnectSession { id, caller, reply } => {
                let result = self.sessions.disconnect(id, &caller);
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
                self.sessions.update(&self.published.services, &|_| false);
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
                ignored,
                reply,
            } => {
                let result = self.update_technology(kind, powered, country, ignored);
                reply_when_written(reply, result);
            }
            Command::ConnectAll { kind, reply } => {
                let _ = reply.send(Ok(self.connect_all(kind)));
            }
            Command::DisconnectAll { kind, reply } => {
                let _ = reply.send(Ok(self.disconnect_all(kind)));
            }
            Command::Reload { config, reply } => {
                self.reload(*config);
                let _ = reply.send(Ok(()));
            }
            Command::Setup(command) => self.on_setup_command(command),
            Command::Shutdown(done) => {
                // The run loop ends on Shutdown before it gets here.
                let _ = done.send(());
            }
        }
    }

    /// SIGHUP: the new configuration replaces the old one. Interface lists and
    /// technology preferences apply at once, running online checks restart with new
    /// settings, and the connect and DHCP settings apply from the next connect.
    fn reload(&mut self, config: crate::config::Config) {
        let restart_checks = config.online_check != self.config.online_check;
        self.config = config;
        self.prefs.technologies = self.config.preferred_technologies.clone();
        if restart_checks {
            for c in self
                .services
                .values_mut()
                .filter_map(|e| e.connection.as_mut())
            {
                c.restart_check();
            }
        }
        self.sync_links();
        self.step();
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
