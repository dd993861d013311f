//! `netpilot agent`: registers as netpilotd's agent (AgentService.RegisterAgent, ConnMan's
//! doc/agent-api.txt) and answers its input requests at the terminal, like connmanctl's
//! `agent on`.
//!
//! Each request is shown with the service's name, security and signal, then its fields are
//! asked one by one. Secrets (every field whose type is not "string" or "ssid") are read
//! without echo when stdin is a terminal; from a pipe or file, lines are read plainly, one per
//! question and never ahead, so a script can feed the answers. An empty answer or the end of
//! input (Ctrl-D) declines the request (`canceled`); an empty answer to an optional field
//! skips it. Requests are answered in the order they came; a line typed for a request that
//! netpilotd canceled meanwhile is dropped, never given to the next one. Values are never
//! printed.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use netpilot::model::Secret;
use netpilot::pb;
use pb::agent_service_client::AgentServiceClient;
use pb::manager_service_client::ManagerServiceClient;
use pb::register_agent_request::Message as ToDaemon;
use pb::register_agent_response::Message as FromDaemon;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use crate::output::{printable, security, service_name};
use crate::terminal::{stdin_is_terminal, EchoOff, Line, LineAsker, LineReader};
use crate::Failure;

/// How long the agent waits for the service's name to show with a request.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// An input request being answered, or waiting its turn.
struct Pending {
    request: pb::InputRequest,
    /// The service as a person knows it.
    label: String,
    /// Whether its header was printed.
    shown: bool,
    /// Index in `request.fields` of the field asked now.
    next: usize,
    values: HashMap<String, Secret>,
}

struct Agent {
    replies: mpsc::Sender<pb::RegisterAgentRequest>,
    manager: ManagerServiceClient<Channel>,
    asker: LineAsker,
    terminal: bool,
    /// The request in front is the one being asked.
    queue: VecDeque<Pending>,
    /// The request the line being read answers; one read at a time.
    reading: Option<u64>,
    echo: Option<EchoOff>,
}

/// Whether a field is asked at all: informational ones are only shown.
fn asked(f: &pb::InputField) -> bool {
    f.requirement() != pb::InputRequirement::Informational
}

/// Whether a field's value is a secret: all but names and identities (unknown types too).
fn secret(f: &pb::InputField) -> bool {
    !matches!(f.r#type.as_str(), "string" | "ssid")
}

/// Registers and answers requests until netpilotd releases the agent (Ok), the stream ends
/// or fails, or Ctrl-C / SIGTERM ([`Failure::Interrupted`], the terminal restored).
pub async fn run(channel: Channel) -> Result<(), Failure> {
    let mut sigint = signal(SignalKind::interrupt())
        .map_err(|e| Failure::Output(format!("install the SIGINT handler: {e}")))?;
    let mut sigterm = signal(SignalKind::terminate())
        .map_err(|e| Failure::Output(format!("install the SIGTERM handler: {e}")))?;
    let (replies, outgoing) = mpsc::channel(8);
    let registration = pb::RegisterAgentRequest {
        message: Some(ToDaemon::Registration(pb::AgentRegistration {
            name: format!("netpilot agent (pid {})", std::process::id()),
        })),
    };
    // The receiver is alive until the call below takes it.
    let _ = replies.send(registration).await;
    let mut stream = AgentServiceClient::new(channel.clone())
        .register_agent(ReceiverStream::new(outgoing))
        .await?
        .into_inner();
    match stream.message().await?.and_then(|m| m.message) {
        Some(FromDaemon::Registered(_)) => {}
        Some(FromDaemon::Release(r)) => {
            outln!("netpilotd released the agent ({})", printable(&r.reason));
            return Ok(());
        }
        _ => {
            return Err(Failure::Output(
                "netpilotd did not confirm the agent registration".into(),
            ))
        }
    }
    outln!(
        "Agent registered: answering netpilotd's input requests \
         (an empty answer or Ctrl-D declines one, Ctrl-C ends)"
    );
    let (mut lines, asker) = LineReader::spawn();
    let mut agent = Agent {
        replies,
        manager: ManagerServiceClient::new(channel),
        asker,
        terminal: stdin_is_terminal(),
        queue: VecDeque::new(),
        reading: None,
        echo: None,
    };
    loop {
        tokio::select! {
            message = stream.message() => match message? {
                Some(m) => {
                    if agent.on_message(m).await? {
                        return Ok(());
                    }
                }
                None => {
                    return Err(Failure::Output(
                        "netpilotd ended the agent stream without releasing the agent".into(),
                    ))
                }
            },
            line = lines.next() => agent.on_line(line).await?,
            _ = sigint.recv() => {
                agent.echo = None;
                outln!();
                return Err(Failure::Interrupted);
            }
            _ = sigterm.recv() => {
                agent.echo = None;
                return Err(Failure::Interrupted);
            }
        }
    }
}

impl Agent {
    /// Handles one message from netpilotd; true when the agent is released.
    async fn on_message(&mut self, m: pb::RegisterAgentResponse) -> Result<bool, Failure> {
        match m.message {
            Some(FromDaemon::Request(request)) => {
                let label = self.label(&request.service_id).await;
                if !self.queue.is_empty() {
                    outln!("(queued: netpilotd also asks for input for {label})");
                }
                self.queue.push_back(Pending {
                    request,
                    label,
                    shown: false,
                    next: 0,
                    values: HashMap::new(),
                });
                self.advance().await?;
            }
            Some(FromDaemon::Cancelled(c)) => self.on_cancelled(c.request_id).await?,
            Some(FromDaemon::Release(r)) => {
                self.echo = None;
                if self.reading.is_some() {
                    outln!();
                }
                outln!("netpilotd released the agent ({})", printable(&r.reason));
                return Ok(true);
            }
            Some(FromDaemon::Registered(_)) | None => {}
        }
        Ok(false)
    }

    /// "np-psk (psk, signal 72): wifi_…_managed_psk", or the id alone when the service
    /// cannot be looked up.
    async fn label(&mut self, id: &str) -> String {
        let call = self.manager.get_service(pb::GetServiceRequest {
            service_id: id.to_string(),
        });
        let service = match tokio::time::timeout(LOOKUP_TIMEOUT, call).await {
            Ok(Ok(r)) => r.into_inner().service,
            _ => None,
        };
        match service {
            Some(s) if s.r#type() == pb::TechnologyType::Wifi => format!(
                "{} ({}, signal {}): {id}",
                service_name(&s),
                security(&s),
                s.strength
            ),
            Some(s) => format!("{} ({}): {id}", service_name(&s), security(&s)),
            None => id.to_string(),
        }
    }

    /// Asks the next field of the request in front, or sends its answer once every field
    /// has one; nothing while a line is being read.
    async fn advance(&mut self) -> Result<(), Failure> {
        while self.reading.is_none() {
            let Some(p) = self.queue.front_mut() else {
                return Ok(());
            };
            if !p.shown {
                p.shown = true;
                outln!("netpilotd asks for input for {}", printable(&p.label));
                for f in p.request.fields.iter().filter(|f| !asked(f)) {
                    match f.name.as_str() {
                        "PreviousPassphrase" => {
                            outln!("  the passphrase given before was refused")
                        }
                        name => outln!("  {} (for information)", printable(name)),
                    }
                }
            }
            while p.request.fields.get(p.next).is_some_and(|f| !asked(f)) {
                p.next += 1;
            }
            let Some(field) = p.request.fields.get(p.next) else {
                if let Some(done) = self.queue.pop_front() {
                    self.send_answer(done).await?;
                }
                continue;
            };
            // Echo goes off before the prompt shows, so nothing typed after it is echoed.
            if secret(field) && self.terminal {
                match EchoOff::new() {
                    Ok(guard) => self.echo = Some(guard),
                    Err(e) => {
                        eprintln!("netpilot: cannot turn echo off ({e}): what you type shows")
                    }
                }
            }
            let optional = field.requirement() != pb::InputRequirement::Mandatory;
            out!(
                "{}{}? ",
                printable(&field.name),
                if optional { " (optional)" } else { "" }
            );
            flush();
            self.reading = Some(p.request.request_id);
            self.asker.ask();
        }
        Ok(())
    }

    /// A line (or the end of input) arrived for the field asked.
    async fn on_line(&mut self, line: Line) -> Result<(), Failure> {
        self.echo = None;
        if !self.terminal {
            // Nothing echoed the line: end the prompt's line.
            outln!();
        }
        let Some(for_request) = self.reading.take() else {
            return Ok(());
        };
        let Some(p) = self
            .queue
            .front_mut()
            .filter(|p| p.request.request_id == for_request)
        else {
            outln!("(input dropped: netpilotd canceled the request it was for)");
            return self.advance().await;
        };
        let value = match line {
            Ok(Some(v)) if !v.is_empty() => Some(v),
            Ok(_) => None,
            Err(e) => {
                eprintln!("netpilot: read stdin: {e}");
                None
            }
        };
        let Some(field) = p.request.fields.get(p.next).cloned() else {
            return self.advance().await;
        };
        match value {
            Some(v) => {
                p.values.insert(field.name.clone(), Secret::new(v));
                p.next += 1;
            }
            None if field.requirement() == pb::InputRequirement::Mandatory => {
                if let Some(declined) = self.queue.pop_front() {
                    outln!("declined the request for {}", printable(&declined.label));
                    self.reply(pb::InputReply {
                        request_id: declined.request.request_id,
                        values: HashMap::new(),
                        canceled: true,
                    })
                    .await?;
                }
            }
            None => p.next += 1,
        }
        self.advance().await
    }

    /// netpilotd no longer needs an answer (ConnMan Agent.Cancel).
    async fn on_cancelled(&mut self, request_id: u64) -> Result<(), Failure> {
        let Some(at) = self
            .queue
            .iter()
            .position(|p| p.request.request_id == request_id)
        else {
            return Ok(());
        };
        if let Some(p) = self.queue.remove(at) {
            if self.reading == Some(request_id) {
                outln!();
            }
            outln!(
                "netpilotd canceled its request for {} (no longer needed)",
                printable(&p.label)
            );
        }
        if self.reading == Some(request_id) && self.terminal {
            // The read goes on (a thread cannot be interrupted); its line will be dropped.
            outln!("(press Enter)");
        }
        self.advance().await
    }

    async fn send_answer(&mut self, p: Pending) -> Result<(), Failure> {
        let values = p
            .values
            .into_iter()
            .map(|(k, v)| (k, v.expose().to_string()))
            .collect();
        self.reply(pb::InputReply {
            request_id: p.request.request_id,
            values,
            canceled: false,
        })
        .await?;
        outln!("answered the request for {}", printable(&p.label));
        Ok(())
    }

    async fn reply(&mut self, reply: pb::InputReply) -> Result<(), Failure> {
        self.replies
            .send(pb::RegisterAgentRequest {
                message: Some(ToDaemon::Reply(reply)),
            })
            .await
            .map_err(|_| Failure::Output("the agent stream to netpilotd is closed".into()))
    }
}

fn flush() {
    use std::io::Write;
    let _ = std::io::stdout().flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, kind: &str, requirement: pb::InputRequirement) -> pb::InputField {
        pb::InputField {
            name: name.into(),
            r#type: kind.into(),
            requirement: requirement.into(),
            alternates: vec![],
        }
    }

    #[test]
    fn which_fields_are_asked_and_which_are_secret() {
        use pb::InputRequirement::*;
        let cases = [
            (field("Name", "string", Mandatory), true, false),
            (field("Identity", "string", Mandatory), true, false),
            (field("SSID", "ssid", Optional), true, false),
            (field("Passphrase", "psk", Mandatory), true, true),
            (field("Password", "passphrase", Mandatory), true, true),
            (field("WPS", "wpspin", Alternate), true, true),
            (field("Future", "something-new", Mandatory), true, true),
            (
                field("PreviousPassphrase", "psk", Informational),
                false,
                true,
            ),
        ];
        for (f, is_asked, is_secret) in cases {
            assert_eq!(asked(&f), is_asked, "{f:?}");
            assert_eq!(secret(&f), is_secret, "{f:?}");
        }
    }
}
