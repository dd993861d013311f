//! The agent registry (ConnMan Manager.RegisterAgent, doc/agent-api.txt): at most one agent
//! at a time, owned by the engine like every other piece of state. The API's agent stream
//! only carries messages: the engine sends requests through the registered agent's queue and
//! the stream hands the answers back as commands.

use tokio::sync::mpsc;

use super::{Caller, EngineError};

/// Messages an agent's queue may hold before the agent must read.
const AGENT_QUEUE: usize = 8;

/// Identifies one registration, so a late message from an agent that has gone cannot be
/// taken for its successor's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AgentId(pub u64);

/// What the engine tells the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToAgent {
    /// The registration ends (ConnMan Agent.Release), e.g. at shutdown.
    Release(&'static str),
}

struct Registered {
    id: AgentId,
    name: String,
    tx: mpsc::Sender<ToAgent>,
}

/// The registry.
#[derive(Default)]
pub(super) struct Agents {
    next_id: u64,
    current: Option<Registered>,
}

impl Agents {
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

    /// The agent's stream ended.
    pub fn unregister(&mut self, id: AgentId) {
        if self.current.as_ref().is_some_and(|a| a.id == id) {
            if let Some(agent) = self.current.take() {
                tracing::info!(agent = %agent.name, "agent unregistered");
            }
        }
    }

    /// Ends the registration with a release message.
    pub fn release(&mut self, reason: &'static str) {
        if let Some(agent) = self.current.take() {
            tracing::info!(agent = %agent.name, reason, "agent released");
            let _ = agent.tx.try_send(ToAgent::Release(reason));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_agent_at_a_time_and_a_gone_agent_frees_the_place() {
        let caller = Caller::Unknown;
        let mut agents = Agents::default();
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
}
