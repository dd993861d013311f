//! The agent registry (ConnMan Manager.RegisterAgent, doc/agent-api.txt): at most one agent
//! at a time, owned by the engine like every other piece of state. The engine sends input
//! requests through the registered agent's queue; the API's agent stream hands the answers
//! back as commands. A request waits with its parked connect until the agent answers,
//! cancels, goes away, or the request times out.

use std::collections::BTreeMap;

use tokio::sync::mpsc;

use super::{Caller, EngineError};
use crate::model::{InputField, Secret, ServiceId};

/// Messages an agent's queue may hold before the agent must read.
const AGENT_QUEUE: usize = 8;

/// Identifies one registration, so a late message from an agent that has gone cannot be
/// taken for its successor's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AgentId(pub u64);

/// An input request as the agent sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRequest {
    /// Identifies the request in the answer.
    pub request_id: u64,
    /// The service that needs the input.
    pub service: ServiceId,
    /// The fields asked for, all mandatory.
    pub fields: Vec<InputField>,
    /// A passphrase was stored before and refused (ConnMan's PreviousPassphrase, shown as
    /// informational without its value).
    pub previous_refused: bool,
}

/// What the engine tells the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToAgent {
    /// Input is needed (ConnMan Agent.RequestInput).
    Request(InputRequest),
    /// An earlier request is no longer needed (ConnMan Agent.Cancel).
    Cancel(u64),
    /// The registration ends (ConnMan Agent.Release), e.g. at shutdown.
    Release(&'static str),
}

/// The agent's answer to one request. Values are secrets: never logged.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InputAnswer {
    /// Field name ("Passphrase", …) → value.
    pub values: BTreeMap<String, Secret>,
    /// The user declined (net.connman.Agent.Error.Canceled).
    pub canceled: bool,
}

struct Registered {
    id: AgentId,
    name: String,
    tx: mpsc::Sender<ToAgent>,
}

/// The registry, with the requests waiting for answers. `P` is what waits with a request
/// (the engine parks a connect there).
pub(super) struct Agents<P> {
    next_id: u64,
    next_request: u64,
    current: Option<Registered>,
    waiting: BTreeMap<u64, (AgentId, P)>,
}

impl<P> Default for Agents<P> {
    fn default() -> Self {
        Self {
            next_id: 0,
            next_request: 0,
            current: None,
            waiting: BTreeMap::new(),
        }
    }
}

impl<P> Agents<P> {
    /// Registers an agent; ALREADY_EXISTS while another one is registered.
    pub fn register(
        &mut self,
        name: String,
        caller: &Caller,
    ) -> Result<(AgentId, mpsc::Receiver<ToAgent>), EngineError> {
        if let Some(current) = &self.current {
            if !current.tx.is_closed() {
                return Err(EngineError::AlreadyExists(format!(
                    "agent {:?} is already registered; one agent at a time",
                    current.name
                )));
            }
        }
        self.next_id += 1;
        let id = AgentId(self.next_id);
        let (tx, rx) = mpsc::channel(AGENT_QUEUE);
        tracing::info!(agent = %name, %caller, "agent registered");
        self.current = Some(Registered { id, name, tx });
        Ok((id, rx))
    }

    /// Sends an input request to the agent; `parked` waits with it. Returns the request id,
    /// or `parked` back when no agent can take it (none registered, or its queue is full
    /// because it does not read).
    pub fn request(
        &mut self,
        service: ServiceId,
        fields: Vec<InputField>,
        previous_refused: bool,
        parked: P,
    ) -> Result<u64, P> {
        let Some(agent) = self.current.as_ref().filter(|a| !a.tx.is_closed()) else {
            return Err(parked);
        };
        self.next_request += 1;
        let request_id = self.next_request;
        let request = InputRequest {
            request_id,
            service: service.clone(),
            fields: fields.clone(),
            previous_refused,
        };
        if agent.tx.try_send(ToAgent::Request(request)).is_err() {
            tracing::warn!(agent = %agent.name, service = %service, "the agent does not read its requests");
            return Err(parked);
        }
        let names: Vec<&str> = fields.iter().map(|f| f.name()).collect();
        tracing::info!(agent = %agent.name, %service, request_id, fields = ?names, "input requested");
        self.waiting.insert(request_id, (agent.id, parked));
        Ok(request_id)
    }

    /// The agent answered; returns what waited with the request. Answers from an agent that
    /// did not get the request are ignored.
    pub fn answer(&mut self, from: AgentId, request_id: u64) -> Option<P> {
        match self.waiting.get(&request_id) {
            Some((to, _)) if *to == from => self.waiting.remove(&request_id).map(|(_, p)| p),
            _ => {
                tracing::warn!(
                    request_id,
                    "answer to an input request that is not waiting; ignored"
                );
                None
            }
        }
    }

    /// A request timed out: tells the agent to stop asking and returns what waited.
    pub fn time_out(&mut self, request_id: u64) -> Option<P> {
        let (_, parked) = self.waiting.remove(&request_id)?;
        if let Some(agent) = &self.current {
            let _ = agent.tx.try_send(ToAgent::Cancel(request_id));
        }
        Some(parked)
    }

    /// Takes back every request waiting for `service` (it went away), telling the agent.
    pub fn cancel_for(&mut self, service: &ServiceId, is_for: impl Fn(&P) -> &ServiceId) -> Vec<P> {
        let ids: Vec<u64> = self
            .waiting
            .iter()
            .filter(|(_, (_, p))| is_for(p) == service)
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter().filter_map(|id| self.time_out(id)).collect()
    }

    /// The agent's stream ended; returns what waited with its requests.
    pub fn unregister(&mut self, id: AgentId) -> Vec<P> {
        if self.current.as_ref().is_some_and(|a| a.id == id) {
            if let Some(agent) = self.current.take() {
                tracing::info!(agent = %agent.name, "agent unregistered");
            }
        }
        self.take_waiting(id)
    }

    fn take_waiting(&mut self, agent: AgentId) -> Vec<P> {
        let ids: Vec<u64> = self
            .waiting
            .iter()
            .filter(|(_, (to, _))| *to == agent)
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter()
            .filter_map(|id| self.waiting.remove(&id).map(|(_, p)| p))
            .collect()
    }

    /// Ends the registration with a release message; returns what waited.
    pub fn release(&mut self, reason: &'static str) -> Vec<P> {
        let Some(agent) = self.current.take() else {
            return Vec::new();
        };
        tracing::info!(agent = %agent.name, reason, "agent released");
        let _ = agent.tx.try_send(ToAgent::Release(reason));
        self.take_waiting(agent.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_caller() -> Caller {
        let identity = crate::access::Identity::Local {
            uid: 1000,
            gid: 1000,
            groups: vec![],
        };
        Caller::new(identity, Some(crate::access::Role::User))
    }

    fn id(s: &str) -> ServiceId {
        ServiceId(s.into())
    }

    #[test]
    fn one_agent_at_a_time_and_a_gone_agent_frees_the_place() {
        let caller = test_caller();
        let mut agents = Agents::<()>::default();
        let (first, rx) = agents.register("ui".into(), &caller).expect("first");
        assert!(matches!(
            agents.register("other".into(), &caller),
            Err(EngineError::AlreadyExists(_))
        ));
        agents.unregister(AgentId(first.0 + 100));
        assert!(
            agents.register("other".into(), &caller).is_err(),
            "a stranger's id does not unregister the agent"
        );
        drop(rx);
        let (second, mut rx) = agents
            .register("other".into(), &caller)
            .expect("the first agent's stream is gone");
        assert_ne!(first, second);
        agents.release("shutdown");
        assert_eq!(rx.try_recv().ok(), Some(ToAgent::Release("shutdown")));
    }

    #[test]
    fn requests_wait_for_their_agent() {
        let caller = test_caller();
        let mut agents = Agents::<&'static str>::default();
        assert_eq!(
            agents.request(id("s"), vec![InputField::Passphrase], false, "connect"),
            Err("connect"),
            "no agent: nothing waits"
        );
        let (agent, mut rx) = agents.register("ui".into(), &caller).expect("agent");
        let request = agents
            .request(id("s"), vec![InputField::Passphrase], true, "connect")
            .expect("sent");
        assert_eq!(
            rx.try_recv().ok(),
            Some(ToAgent::Request(InputRequest {
                request_id: request,
                service: id("s"),
                fields: vec![InputField::Passphrase],
                previous_refused: true,
            }))
        );
        assert_eq!(
            agents.answer(AgentId(agent.0 + 1), request),
            None,
            "wrong agent"
        );
        assert_eq!(agents.answer(agent, request), Some("connect"));
        assert_eq!(agents.answer(agent, request), None, "answered once");

        let request = agents
            .request(id("s"), vec![InputField::Name], false, "hidden")
            .expect("sent");
        assert_eq!(agents.time_out(request), Some("hidden"));
        assert!(matches!(rx.try_recv(), Ok(ToAgent::Request(_))));
        assert_eq!(rx.try_recv().ok(), Some(ToAgent::Cancel(request)));

        agents
            .request(id("t"), vec![InputField::Identity], false, "enterprise")
            .expect("sent");
        assert_eq!(agents.unregister(agent), vec!["enterprise"]);
    }

    #[test]
    fn an_agent_that_does_not_read_gets_no_more_requests() {
        let mut agents = Agents::<u32>::default();
        let (_agent, _rx) = agents
            .register("stuck".into(), &test_caller())
            .expect("agent");
        let sent = (0..AGENT_QUEUE as u32 + 3)
            .filter(|n| {
                agents
                    .request(id("s"), vec![InputField::Passphrase], false, *n)
                    .is_ok()
            })
            .count();
        assert_eq!(sent, AGENT_QUEUE, "bounded");
    }
}
