//! AgentService: one registered agent at a time (ConnMan Manager.RegisterAgent). No backend
//! asks for input yet, so a registered agent only receives `registered` and, at shutdown,
//! `release`.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::caller::caller;
use super::status::invalid;
use crate::engine::{EngineError, EngineHandle};
use crate::pb;
use pb::register_agent_request::Message as FromAgent;
use pb::register_agent_response::Message as ToAgent;

/// The AgentService implementation.
pub struct AgentApi {
    engine: EngineHandle,
    registered: Arc<AtomicBool>,
}

impl AgentApi {
    /// Serves the engine behind `engine`.
    pub fn new(engine: EngineHandle) -> Self {
        Self {
            engine,
            registered: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// Clears the registration when the agent's stream ends, however it ends.
struct Registration(Arc<AtomicBool>);

impl Drop for Registration {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

type AgentStream = Pin<Box<dyn Stream<Item = Result<pb::RegisterAgentResponse, Status>> + Send>>;

fn to_agent(m: ToAgent) -> Result<pb::RegisterAgentResponse, Status> {
    Ok(pb::RegisterAgentResponse { message: Some(m) })
}

#[tonic::async_trait]
impl pb::agent_service_server::AgentService for AgentApi {
    type RegisterAgentStream = AgentStream;

    async fn register_agent(
        &self,
        req: Request<Streaming<pb::RegisterAgentRequest>>,
    ) -> Result<Response<AgentStream>, Status> {
        let who = caller(&req);
        let mut incoming = req.into_inner();
        let name = match incoming.message().await? {
            Some(pb::RegisterAgentRequest {
                message: Some(FromAgent::Registration(r)),
            }) => r.name,
            _ => {
                return Err(invalid(
                    "message",
                    "the first message must be a registration",
                ))
            }
        };
        if self.registered.swap(true, Ordering::SeqCst) {
            return Err(EngineError::AlreadyExists("an agent is already registered".into()).into());
        }
        let registration = Registration(self.registered.clone());
        tracing::info!(agent = %name, caller = %who, "agent registered");
        let (tx, rx) = mpsc::channel(4);
        let engine = self.engine.clone();
        tokio::spawn(async move {
            let _registration = registration;
            if tx
                .send(to_agent(ToAgent::Registered(pb::AgentRegistered {})))
                .await
                .is_err()
            {
                return;
            }
            loop {
                tokio::select! {
                    _ = engine.stopping() => {
                        let _ = tx.send(to_agent(ToAgent::Release(pb::AgentRelease { reason: "shutdown".into() }))).await;
                        break;
                    }
                    _ = tx.closed() => break,
                    message = incoming.next() => match message {
                        Some(Ok(pb::RegisterAgentRequest { message: Some(FromAgent::Reply(reply)) })) => {
                            // Values may be secrets: log only the id.
                            tracing::warn!(agent = %name, request_id = reply.request_id, "reply to an input request that was never sent; ignored");
                        }
                        Some(Ok(_)) => tracing::warn!(agent = %name, "unexpected message from agent; ignored"),
                        Some(Err(e)) => {
                            tracing::info!(agent = %name, error = %e, "agent stream failed");
                            break;
                        }
                        None => break,
                    },
                }
            }
            tracing::info!(agent = %name, "agent unregistered");
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
