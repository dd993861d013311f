//! AgentService: the stream of the registered agent (ConnMan Manager.RegisterAgent). The
//! engine owns the registration; this stream only carries its messages both ways.

use std::pin::Pin;

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

use super::auth::caller;
use super::status::invalid;
use crate::engine::{EngineHandle, InputAnswer, ToAgent};
use crate::model::Secret;
use crate::pb;
use pb::register_agent_request::Message as FromAgent;
use pb::register_agent_response::Message as Outgoing;

/// The AgentService implementation.
pub struct AgentApi {
    engine: EngineHandle,
}

impl AgentApi {
    /// Serves the engine behind `engine`.
    pub fn new(engine: EngineHandle) -> Self {
        Self { engine }
    }
}

type AgentStream = Pin<Box<dyn Stream<Item = Result<pb::RegisterAgentResponse, Status>> + Send>>;

fn to_agent(m: Outgoing) -> Result<pb::RegisterAgentResponse, Status> {
    Ok(pb::RegisterAgentResponse { message: Some(m) })
}

impl From<ToAgent> for Outgoing {
    fn from(m: ToAgent) -> Self {
        match m {
            ToAgent::Request(r) => {
                let mut fields: Vec<pb::InputField> = r
                    .fields
                    .iter()
                    .map(|f| pb::InputField {
                        name: f.name().to_string(),
                        r#type: f.kind().to_string(),
                        requirement: pb::InputRequirement::Mandatory.into(),
                        alternates: vec![],
                    })
                    .collect();
                if r.previous_refused {
                    fields.push(pb::InputField {
                        name: "PreviousPassphrase".into(),
                        r#type: "psk".into(),
                        requirement: pb::InputRequirement::Informational.into(),
                        alternates: vec![],
                    });
                }
                Outgoing::Request(pb::InputRequest {
                    request_id: r.request_id,
                    service_id: r.service.0,
                    fields,
                })
            }
            ToAgent::Cancel(request_id) => {
                Outgoing::Cancelled(pb::InputRequestCancelled { request_id })
            }
            ToAgent::Release(reason) => Outgoing::Release(pb::AgentRelease {
                reason: reason.to_string(),
            }),
        }
    }
}

/// An answer has at most a few fields, each name a short word and each value bounded.
fn reply_in_bounds(reply: &pb::InputReply) -> bool {
    reply.values.len() <= 8
        && reply
            .values
            .iter()
            .all(|(k, v)| k.len() <= 64 && v.len() <= super::bounds::TEXT_MAX)
}

#[tonic::async_trait]
impl pb::agent_service_server::AgentService for AgentApi {
    type RegisterAgentStream = AgentStream;

    async fn register_agent(
        &self,
        req: Request<Streaming<pb::RegisterAgentRequest>>,
    ) -> Result<Response<AgentStream>, Status> {
        let who = caller(&req)?;
        let mut incoming = req.into_inner();
        let name = match incoming.message().await? {
            Some(pb::RegisterAgentRequest {
                message: Some(FromAgent::Registration(r)),
            }) => {
                super::bounds::text("registration.name", &r.name, super::bounds::ID_MAX)?;
                r.name
            }
            _ => {
                return Err(invalid(
                    "message",
                    "the first message must be a registration",
                ))
            }
        };
        let (id, mut from_engine) = self.engine.register_agent(name.clone(), who).await?;
        let (tx, rx) = mpsc::channel(4);
        let engine = self.engine.clone();
        tokio::spawn(async move {
            if tx
                .send(to_agent(Outgoing::Registered(pb::AgentRegistered {})))
                .await
                .is_ok()
            {
                loop {
                    tokio::select! {
                        _ = tx.closed() => break,
                        message = from_engine.recv() => match message {
                            Some(m) => {
                                let last = matches!(m, ToAgent::Release(_));
                                if tx.send(to_agent(m.into())).await.is_err() || last {
                                    break;
                                }
                            }
                            None => break,
                        },
                        message = incoming.next() => match message {
                            Some(Ok(pb::RegisterAgentRequest { message: Some(FromAgent::Reply(reply)) })) if !reply_in_bounds(&reply) => {
                                tracing::warn!(agent = %name, request = reply.request_id, "agent answer with too many or too long values; ignored");
                            }
                            Some(Ok(pb::RegisterAgentRequest { message: Some(FromAgent::Reply(reply)) })) => {
                                // Values may be secrets: they go to the engine, never to a log.
                                let answer = InputAnswer {
                                    values: reply
                                        .values
                                        .into_iter()
                                        .map(|(k, v)| (k, Secret::new(v)))
                                        .collect(),
                                    canceled: reply.canceled,
                                };
                                engine.agent_answer(id, reply.request_id, answer);
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
            }
            engine.unregister_agent(id);
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}
