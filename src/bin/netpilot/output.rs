//! Human tables and protobuf-JSON output.

use netpilot::pb;
use netpilot::pb::watch_manager_response::Event;
use serde::Serialize;
use tonic_types::StatusExt;

use super::Failure;

/// Prints responses as tables (default) or protobuf JSON (`--json`).
pub struct Printer {
    pub json: bool,
}

/// "SERVICE_STATE_READY" → "ready".
fn word(name: &str) -> String {
    let known = [
        "SERVICE_STATE_",
        "MANAGER_STATE_",
        "TECHNOLOGY_TYPE_",
        "SESSION_STATE_",
        "CONNECTION_TYPE_",
        "ADDRESS_FAMILY_",
        "IPV4_METHOD_",
        "IPV6_METHOD_",
    ];
    let stripped = known
        .iter()
        .find_map(|p| name.strip_prefix(p))
        .unwrap_or(name);
    stripped.to_ascii_lowercase()
}

fn service_state(v: i32) -> String {
    pb::ServiceState::try_from(v)
        .map(|s| word(s.as_str_name()))
        .unwrap_or_else(|_| v.to_string())
}

fn technology(v: i32) -> String {
    pb::TechnologyType::try_from(v)
        .map(|s| word(s.as_str_name()))
        .unwrap_or_else(|_| v.to_string())
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn ipv4(s: &Option<pb::Ipv4Settings>) -> String {
    match s {
        Some(s) if !s.address.is_empty() => format!("{}/{}", s.address, s.prefix_length),
        _ => "-".into(),
    }
}

fn ipv6(s: &Option<pb::Ipv6Settings>) -> String {
    match s {
        Some(s) if !s.address.is_empty() => format!("{}/{}", s.address, s.prefix_length),
        _ => "-".into(),
    }
}

fn table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", text.join("  ").trim_end());
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row);
    }
}

/// A status as one readable line: code, message, and field violations.
pub fn status(s: &tonic::Status) -> String {
    let mut text = format!("{:?}: {}", s.code(), s.message());
    if let Some(bad) = s.get_details_bad_request() {
        for v in bad.field_violations {
            text.push_str(&format!("\n  field {}: {}", v.field, v.description));
        }
    }
    text
}

impl Printer {
    fn print_json<T: Serialize>(&self, value: &T) -> Result<(), Failure> {
        let text = serde_json::to_string(value)
            .map_err(|e| Failure::Output(format!("encode JSON: {e}")))?;
        println!("{text}");
        Ok(())
    }

    pub fn done(&self, message: &str) -> Result<(), Failure> {
        if !self.json {
            println!("{message}");
        }
        Ok(())
    }

    pub fn manager(&self, r: &pb::GetManagerResponse) -> Result<(), Failure> {
        if self.json {
            return self.print_json(r);
        }
        let m = r.manager.unwrap_or_default();
        let c = m.connectivity.unwrap_or_default();
        let state = pb::ManagerState::try_from(m.state)
            .map(|s| word(s.as_str_name()))
            .unwrap_or_default();
        println!("State:        {state}");
        println!("OfflineMode:  {}", m.offline_mode);
        println!(
            "Connectivity: any={} ipv4={} ipv6={}",
            yes(c.any),
            yes(c.ipv4),
            yes(c.ipv6)
        );
        Ok(())
    }

    pub fn technologies(&self, r: &pb::ListTechnologiesResponse) -> Result<(), Failure> {
        if self.json {
            return self.print_json(r);
        }
        let rows = r
            .technologies
            .iter()
            .map(|t| {
                vec![
                    technology(t.r#type),
                    t.name.clone(),
                    yes(t.powered).into(),
                    yes(t.connected).into(),
                    yes(t.tethering).into(),
                ]
            })
            .collect();
        table(&["TYPE", "NAME", "POWERED", "CONNECTED", "TETHERING"], rows);
        Ok(())
    }

    pub fn services(&self, r: &pb::ListServicesResponse) -> Result<(), Failure> {
        if self.json {
            return self.print_json(r);
        }
        let rows = r
            .services
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let eth = s.ethernet.clone().unwrap_or_default();
                let flags = format!(
                    "{}{}",
                    if s.favorite { "*" } else { "" },
                    if s.immutable { "I" } else { "" }
                );
                let gateway = s
                    .ipv4
                    .as_ref()
                    .map(|v| v.gateway.clone())
                    .filter(|g| !g.is_empty())
                    .unwrap_or_else(|| "-".into());
                vec![
                    (i + 1).to_string(),
                    service_state(s.state),
                    s.name.clone(),
                    technology(s.r#type),
                    eth.interface,
                    ipv4(&s.ipv4),
                    gateway,
                    ipv6(&s.ipv6),
                    flags,
                    s.id.clone(),
                ]
            })
            .collect();
        table(
            &[
                "#",
                "STATE",
                "NAME",
                "TYPE",
                "INTERFACE",
                "IPV4",
                "GATEWAY",
                "IPV6",
                "FLAGS",
                "ID",
            ],
            rows,
        );
        Ok(())
    }

    pub fn interfaces(&self, r: &pb::ListInterfacesResponse) -> Result<(), Failure> {
        if self.json {
            return self.print_json(r);
        }
        let rows = r
            .interfaces
            .iter()
            .map(|i| {
                let ready = match (i.ready_ipv4, i.ready_ipv6) {
                    (true, true) => "ipv4+ipv6",
                    (true, false) => "ipv4",
                    (false, true) => "ipv6",
                    (false, false) => "no",
                };
                let addresses: Vec<String> = i
                    .addresses
                    .iter()
                    .map(|a| {
                        format!(
                            "{}/{}{}",
                            a.address,
                            a.prefix_length,
                            if a.tentative { " (tentative)" } else { "" }
                        )
                    })
                    .collect();
                vec![
                    i.index.to_string(),
                    i.name.clone(),
                    i.kind.clone(),
                    if i.admin_up { "up" } else { "down" }.into(),
                    yes(i.oper_up).into(),
                    ready.into(),
                    yes(i.ignored).into(),
                    if addresses.is_empty() {
                        "-".into()
                    } else {
                        addresses.join(",")
                    },
                    if i.service_id.is_empty() {
                        "-".into()
                    } else {
                        i.service_id.clone()
                    },
                ]
            })
            .collect();
        table(
            &[
                "INDEX",
                "NAME",
                "KIND",
                "ADMIN",
                "CARRIER",
                "READY",
                "IGNORED",
                "ADDRESSES",
                "SERVICE",
            ],
            rows,
        );
        Ok(())
    }

    pub fn sessions(&self, r: &pb::ListSessionsResponse) -> Result<(), Failure> {
        if self.json {
            return self.print_json(r);
        }
        let rows = r
            .sessions
            .iter()
            .map(|s| {
                let state = pb::SessionState::try_from(s.state)
                    .map(|v| word(v.as_str_name()))
                    .unwrap_or_default();
                let ct = pb::ConnectionType::try_from(s.connection_type)
                    .map(|v| word(v.as_str_name()))
                    .unwrap_or_default();
                let bearers = s
                    .allowed_bearers
                    .clone()
                    .unwrap_or_default()
                    .bearers
                    .join(",");
                vec![
                    s.session_id.clone(),
                    state,
                    ct,
                    bearers,
                    s.service_id.clone(),
                    s.owner.clone(),
                ]
            })
            .collect();
        table(
            &["ID", "STATE", "TYPE", "BEARERS", "SERVICE", "OWNER"],
            rows,
        );
        Ok(())
    }

    pub fn watch_event(&self, m: &pb::WatchManagerResponse) -> Result<(), Failure> {
        if self.json {
            return self.print_json(m);
        }
        match &m.event {
            Some(Event::Snapshot(s)) => {
                println!("--- snapshot");
                self.manager(&pb::GetManagerResponse { manager: s.manager })?;
                self.services(&pb::ListServicesResponse {
                    services: s.services.clone(),
                })?;
                println!("---");
            }
            Some(Event::ManagerChanged(c)) => {
                let m = c.manager.unwrap_or_default();
                let state = pb::ManagerState::try_from(m.state)
                    .map(|s| word(s.as_str_name()))
                    .unwrap_or_default();
                println!("manager: state={state} offline_mode={}", m.offline_mode);
            }
            Some(Event::TechnologyAdded(t)) => println!(
                "technology added: {}",
                technology(t.technology.as_ref().map_or(0, |t| t.r#type))
            ),
            Some(Event::TechnologyRemoved(t)) => {
                println!("technology removed: {}", technology(t.r#type))
            }
            Some(Event::TechnologyChanged(t)) => {
                let t = t.technology.clone().unwrap_or_default();
                println!(
                    "technology {}: powered={} connected={}",
                    technology(t.r#type),
                    t.powered,
                    t.connected
                );
            }
            Some(Event::ServicesChanged(c)) => {
                let changed: Vec<String> = c
                    .changed
                    .iter()
                    .map(|s| format!("{}({})", s.id, service_state(s.state)))
                    .collect();
                println!(
                    "services: order=[{}] changed=[{}] removed=[{}]",
                    c.order.join(" "),
                    changed.join(" "),
                    c.removed.join(" ")
                );
            }
            Some(Event::ServiceStateChanged(c)) => {
                let error = if c.error.is_empty() {
                    String::new()
                } else {
                    format!(" error={}", c.error)
                };
                println!(
                    "service {}: {} -> {}{error}",
                    c.service_id,
                    service_state(c.previous_state),
                    service_state(c.state)
                );
            }
            Some(Event::InterfaceChanged(c)) => {
                let i = c.interface.clone().unwrap_or_default();
                println!(
                    "interface {}: admin={} carrier={} ready={} ignored={}",
                    i.name,
                    yes(i.admin_up),
                    yes(i.oper_up),
                    yes(i.ready),
                    yes(i.ignored)
                );
            }
            Some(Event::InterfaceRemoved(r)) => println!("interface {} removed", r.name),
            Some(Event::ConnectivityChanged(c)) => {
                let family = pb::AddressFamily::try_from(c.family)
                    .map(|f| word(f.as_str_name()))
                    .unwrap_or_default();
                let what = if c.connected {
                    "connected"
                } else {
                    "disconnected"
                };
                println!("L4 {what} ({family}) via {}", c.interface);
            }
            Some(Event::ConnectTimedOut(t)) => {
                let secs = t.timeout.map_or(0, |d| d.seconds);
                println!("service {}: connect timed out after {secs}s", t.service_id);
            }
            Some(Event::CaptivePortalDetected(p)) => {
                println!("service {}: captive portal at {}", p.service_id, p.url)
            }
            Some(Event::InputRequired(i)) => {
                println!("service {} needs input from an agent", i.service_id)
            }
            None => {}
        }
        Ok(())
    }

    pub fn session_message(&self, m: &pb::OpenSessionResponse) -> Result<(), Failure> {
        use pb::open_session_response::Event as S;
        if self.json {
            return self.print_json(m);
        }
        match &m.event {
            Some(S::Update(u)) => {
                let mut fields = Vec::new();
                if let Some(s) = u.state {
                    fields.push(format!(
                        "state={}",
                        pb::SessionState::try_from(s)
                            .map(|v| word(v.as_str_name()))
                            .unwrap_or_default()
                    ));
                }
                let text = |name: &str, v: &Option<String>, fields: &mut Vec<String>| {
                    if let Some(v) = v {
                        fields.push(format!("{name}={}", if v.is_empty() { "-" } else { v }));
                    }
                };
                text("service", &u.service_id, &mut fields);
                text("name", &u.name, &mut fields);
                text("bearer", &u.bearer, &mut fields);
                text("interface", &u.interface, &mut fields);
                if u.ipv4.is_some() {
                    fields.push(format!("ipv4={}", ipv4(&u.ipv4)));
                }
                if u.ipv6.is_some() {
                    fields.push(format!("ipv6={}", ipv6(&u.ipv6)));
                }
                if let Some(b) = &u.allowed_bearers {
                    fields.push(format!("allowed_bearers=[{}]", b.bearers.join(",")));
                }
                if let Some(c) = u.connection_type {
                    fields.push(format!(
                        "type={}",
                        pb::ConnectionType::try_from(c)
                            .map(|v| word(v.as_str_name()))
                            .unwrap_or_default()
                    ));
                }
                println!("session {}: {}", m.session_id, fields.join(" "));
            }
            Some(S::Release(r)) => println!("session {}: released ({})", m.session_id, r.reason),
            None => {}
        }
        Ok(())
    }
}
