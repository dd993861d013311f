//! Human tables and protobuf-JSON output.
//!
//! Every string the daemon sends goes through [`printable`] before it reaches the terminal,
//! and tables measure cells in terminal columns, so wide (CJK) and escaped names line up.

use std::borrow::Cow;
use std::fmt::Write as _;

use netpilot::pb;
use netpilot::pb::watch_manager_response::Event;
use serde::Serialize;
use tonic_types::StatusExt;
use unicode_width::UnicodeWidthStr;

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
        "SECURITY_",
        "EAP_METHOD_",
        "EAP_PHASE2_",
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

/// Text from the daemon made safe for a terminal: control characters (C0, DEL, C1) and the
/// bidirectional overrides that reorder what a terminal shows (Unicode TR9 embeddings,
/// overrides and isolates) become `\xNN` / `\u{NNNN}`. Everything else, backslashes
/// included, stays as the daemon sent it: its names are already escaped (`\xNN` for an SSID
/// that is not UTF-8), and escaping again would make them unreadable.
pub fn printable(text: &str) -> Cow<'_, str> {
    let unsafe_char =
        |c: char| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !unsafe_char(c) => out.push(c),
            c if (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:04x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

/// One row of a table: its cells, and optionally a line printed under it, indented by two
/// spaces (the services table puts the long service id there).
pub struct Row {
    pub cells: Vec<String>,
    pub below: Option<String>,
}

impl From<Vec<String>> for Row {
    fn from(cells: Vec<String>) -> Self {
        Row { cells, below: None }
    }
}

/// Lays out a table: a header line, then the rows; each column as wide as its widest cell in
/// terminal columns, two spaces apart, no trailing spaces. Cells pass through [`printable`].
pub fn layout(headers: &[&str], rows: &[Row]) -> String {
    let rows: Vec<Row> = rows
        .iter()
        .map(|r| Row {
            cells: r.cells.iter().map(|c| printable(c).into_owned()).collect(),
            below: r.below.as_deref().map(|b| printable(b).into_owned()),
        })
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.width()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(&row.cells) {
            *w = (*w).max(cell.width());
        }
    }
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (cell, w) in cells.zip(&widths) {
            text.push_str(cell);
            text.push_str(&" ".repeat(w.saturating_sub(cell.width()) + 2));
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    let mut out = String::new();
    line(&mut out, &mut headers.iter().copied());
    for row in &rows {
        line(&mut out, &mut row.cells.iter().map(String::as_str));
        if let Some(below) = &row.below {
            out.push_str("  ");
            out.push_str(below);
            out.push('\n');
        }
    }
    out
}

fn table(headers: &[&str], rows: Vec<Vec<String>>) {
    let rows: Vec<Row> = rows.into_iter().map(Row::from).collect();
    out!("{}", layout(headers, &rows));
}

/// A service's security methods in ConnMan's words ("psk", "sae,psk", "ieee8021x"), "-"
/// when it has none (Ethernet without 802.1X).
pub fn security(s: &pb::Service) -> String {
    let words: Vec<String> = s
        .security
        .iter()
        .map(|v| {
            pb::Security::try_from(*v)
                .map(|x| word(x.as_str_name()))
                .unwrap_or_else(|_| v.to_string())
        })
        .collect();
    if words.is_empty() {
        "-".into()
    } else {
        words.join(",")
    }
}

/// The name a person sees: the daemon's `name` (the SSID, escaped when it is not UTF-8), or
/// `<hidden>` for a hidden network whose name is not known.
pub fn service_name(s: &pb::Service) -> String {
    if s.name.is_empty() && s.hidden {
        "<hidden>".into()
    } else if s.name.is_empty() {
        "-".into()
    } else {
        s.name.clone()
    }
}

/// Favorite `*`, autoconnect `A`, immutable `I` (connmanctl's letters), `-` when none.
fn service_flags(s: &pb::Service) -> String {
    let flags: String = [(s.favorite, '*'), (s.autoconnect, 'A'), (s.immutable, 'I')]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, c)| *c)
        .collect();
    if flags.is_empty() {
        "-".into()
    } else {
        flags
    }
}

/// The services table: one line per service (state, name, security, signal 0..100,
/// frequency in MHz, IPv4, flags) and its id on the line below, so that it stays readable
/// at 80 columns with ConnMan's long Wi-Fi ids. A failed service shows its error word there.
pub fn services_table(services: &[pb::Service]) -> String {
    let rows: Vec<Row> = services
        .iter()
        .map(|s| {
            let wifi = s.r#type() == pb::TechnologyType::Wifi;
            let dash = || "-".to_string();
            let below = if s.error.is_empty() {
                s.id.clone()
            } else {
                format!("{}  error: {}", s.id, s.error)
            };
            Row {
                cells: vec![
                    service_state(s.state),
                    service_name(s),
                    security(s),
                    if wifi { s.strength.to_string() } else { dash() },
                    if wifi && s.frequency > 0 {
                        s.frequency.to_string()
                    } else {
                        dash()
                    },
                    ipv4(&s.ipv4),
                    service_flags(s),
                ],
                below: Some(below),
            }
        })
        .collect();
    layout(
        &[
            "STATE", "NAME", "SECURITY", "SIGNAL", "MHZ", "IPV4", "FLAGS",
        ],
        &rows,
    )
}

/// The technologies table.
fn ap_state(v: i32) -> String {
    pb::AccessPointState::try_from(v)
        .map(|s| word(s.as_str_name()))
        .unwrap_or_default()
}

fn ap_role(v: i32) -> String {
    pb::AccessPointRole::try_from(v)
        .map(|s| word(s.as_str_name()))
        .unwrap_or_default()
}

/// `netpilot setup status`: one `key: value` line each.
pub fn setup_detail(s: &pb::Setup) -> String {
    let mut lines = vec![
        ("State", ap_state(s.state)),
        ("Role", ap_role(s.role)),
        ("Reason", s.reason.clone()),
        ("Mode", s.mode.clone()),
    ];
    let mut opt = |k: &'static str, v: &str| {
        if !v.is_empty() {
            lines.push((k, printable(v).into_owned()));
        }
    };
    opt("SSID", &s.ssid);
    opt("Interface", &s.interface);
    opt("Address", &s.address);
    opt("Page", &s.portal_url);
    if s.frequency > 0 {
        lines.push(("Frequency", format!("{} MHz", s.frequency)));
    }
    if let Some(c) = s.concurrent {
        lines.push((
            "AP+STA",
            if c {
                "yes (own interface)"
            } else {
                "no (takes the radio)"
            }
            .to_string(),
        ));
    }
    if !s.clients.is_empty() {
        lines.push(("Clients", s.clients.join(" ")));
    }
    if !s.error.is_empty() {
        lines.push(("Error", printable(&s.error).into_owned()));
    }
    if let Some(a) = &s.attempt {
        let how = if a.error.is_empty() {
            a.phase.clone()
        } else {
            format!("{} ({})", a.phase, a.error)
        };
        lines.push(("Last connect", format!("{} {how}", printable(&a.name))));
    }
    lines
        .into_iter()
        .map(|(k, v)| format!("{k:<13}{v}\n"))
        .collect()
}

pub fn technologies_table(technologies: &[pb::Technology]) -> String {
    let rows: Vec<Row> = technologies
        .iter()
        .map(|t| {
            Row::from(vec![
                technology(t.r#type),
                t.name.clone(),
                yes(t.powered).into(),
                yes(t.connected).into(),
                yes(t.available).into(),
                if t.country.is_empty() {
                    "-".into()
                } else {
                    t.country.clone()
                },
                yes(t.tethering).into(),
            ])
        })
        .collect();
    layout(
        &[
            "TYPE",
            "NAME",
            "POWERED",
            "CONNECTED",
            "AVAILABLE",
            "COUNTRY",
            "TETHERING",
        ],
        &rows,
    )
}

/// One service, every property on its own line (like `connmanctl services ID`).
pub fn service_detail(s: &pb::Service) -> String {
    let mut lines: Vec<(&str, String)> = vec![
        ("Id", s.id.clone()),
        ("Name", service_name(s)),
        ("Type", technology(s.r#type)),
        ("State", service_state(s.state)),
    ];
    if !s.error.is_empty() {
        lines.push(("Error", s.error.clone()));
    }
    lines.push(("Security", security(s)));
    if s.r#type() == pb::TechnologyType::Wifi {
        lines.push(("Strength", s.strength.to_string()));
        lines.push(("Frequency", format!("{} MHz", s.frequency)));
        lines.push(("BSSes", s.bss_count.to_string()));
        lines.push(("Hidden", yes(s.hidden).into()));
        lines.push(("SSID (hex)", hex(&s.ssid)));
    }
    let stored: Vec<&str> = [
        (s.passphrase_set, "passphrase"),
        (s.identity_set, "identity"),
        (s.password_set, "password"),
    ]
    .iter()
    .filter(|(set, _)| *set)
    .map(|(_, name)| *name)
    .collect();
    lines.extend([
        ("Favorite", yes(s.favorite).to_string()),
        ("AutoConnect", yes(s.autoconnect).to_string()),
        ("Immutable", yes(s.immutable).to_string()),
        ("Managed", yes(s.managed).to_string()),
        (
            "Stored",
            if stored.is_empty() {
                "-".into()
            } else {
                stored.join(", ")
            },
        ),
    ]);
    if let Some(e) = &s.ethernet {
        lines.push((
            "Interface",
            format!(
                "{} {} mtu {}",
                or_dash(&e.interface),
                or_dash(&e.address),
                e.mtu
            ),
        ));
    }
    let gateway = |g: &str| {
        if g.is_empty() {
            String::new()
        } else {
            format!(" via {g}")
        }
    };
    lines.push((
        "IPv4",
        format!(
            "{}{}",
            ipv4(&s.ipv4),
            gateway(s.ipv4.as_ref().map_or("", |v| v.gateway.as_str()))
        ),
    ));
    lines.push((
        "IPv6",
        format!(
            "{}{}",
            ipv6(&s.ipv6),
            gateway(s.ipv6.as_ref().map_or("", |v| v.gateway.as_str()))
        ),
    ));
    let list = |v: &[String]| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(" ")
        }
    };
    lines.push(("Nameservers", list(&s.nameservers)));
    lines.push(("Domains", list(&s.domains)));
    lines.push(("Timeservers", list(&s.timeservers)));
    if let Some(p) = &s.proxy {
        let detail = match p.method.as_str() {
            "manual" if p.excludes.is_empty() => list(&p.servers),
            "manual" => format!("{} (except {})", list(&p.servers), list(&p.excludes)),
            _ => p.url.clone(),
        };
        lines.push((
            "Proxy",
            format!("{} {detail}", p.method).trim_end().to_string(),
        ));
    }
    if s.route_metric > 0 {
        lines.push(("Route metric", s.route_metric.to_string()));
    }
    if !s.captive_portal_url.is_empty() {
        lines.push(("Captive portal", s.captive_portal_url.clone()));
    }
    if let Some(eap) = &s.eap_config {
        let method = pb::EapMethod::try_from(eap.method)
            .map(|m| word(m.as_str_name()))
            .unwrap_or_default();
        let phase2 = pb::EapPhase2::try_from(eap.phase2)
            .map(|m| word(m.as_str_name()))
            .unwrap_or_default();
        lines.push(("EAP", format!("{method} {phase2}")));
        if !eap.ca_cert.is_empty() {
            lines.push(("EAP CA", eap.ca_cert.clone()));
        }
    }
    let mut out = String::new();
    for (key, value) in lines {
        let _ = writeln!(out, "{:<15}{}", format!("{key}:"), printable(&value));
    }
    out
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "-".into();
    }
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// Breaks `text` into lines of at most `width` columns (a longer word gets a line of its own),
/// each starting with `indent`.
pub fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent.width() + line.width() + 1 + word.width() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines.iter().map(|l| format!("{indent}{l}\n")).collect()
}

/// The `ErrorInfo.reason` of a status: ConnMan's error word ("invalid-key", …).
pub fn reason(s: &tonic::Status) -> Option<String> {
    s.get_details_error_info().map(|i| i.reason)
}

/// What to do about a failure, by its ConnMan error word; `service` names the service in
/// the advice. None where the daemon's message says it all.
pub fn hint(reason: &str, service: &str) -> Option<String> {
    let text = match reason {
        "invalid-key" => format!(
            "the network refused the passphrase; connect again with the right one: \
             netpilot connect {service} --passphrase-file FILE"
        ),
        "passphrase-required" => format!(
            "give the passphrase: netpilot connect {service} --passphrase-file FILE \
             (or --passphrase - to type it), or run `netpilot agent` in another terminal \
             and connect again"
        ),
        "identity-required" => format!(
            "give the 802.1X credentials: netpilot connect {service} --identity NAME \
             --password -, or run `netpilot agent` in another terminal and connect again"
        ),
        "name-required" => {
            format!("a hidden network: give its name, netpilot connect {service} --name SSID")
        }
        "auth-failed" => format!(
            "IEEE 802.1X authentication failed: check the identity and password, and the \
             EAP settings in `netpilot service {service}`"
        ),
        "Canceled" => "the agent declined to give the credentials".to_string(),
        "connect-failed" => format!(
            "not ready in time: see `netpilot service {service}`; --timeout SECS waits longer"
        ),
        "out-of-range" => "the network is out of range: move closer, or `netpilot scan` and \
             check that it is still listed"
            .to_string(),
        "dhcp-failed" => format!(
            "no usable DHCP lease: check the network's DHCP server, or set a static address \
             with netpilot config {service} --ipv4 manual ADDRESS/PREFIX"
        ),
        "NotFound" => "`netpilot services` lists the service ids; Wi-Fi networks appear \
             after `netpilot scan`"
            .to_string(),
        "PermissionDenied" => "this needs netpilotd's admin role (root, or a user the \
             config maps to admin)"
            .to_string(),
        _ => return None,
    };
    Some(text)
}

/// A status as one readable line: code, message, and field violations.
pub fn status(s: &tonic::Status) -> String {
    let mut text = format!("{:?}: {}", s.code(), printable(s.message()));
    if let Some(bad) = s.get_details_bad_request() {
        for v in bad.field_violations {
            text.push_str(&format!(
                "\n  field {}: {}",
                printable(&v.field),
                printable(&v.description)
            ));
        }
    }
    text
}

impl Printer {
    fn print_json<T: Serialize>(&self, value: &T) -> Result<(), Failure> {
        let text = serde_json::to_string(value)
            .map_err(|e| Failure::Output(format!("encode JSON: {e}")))?;
        outln!("{text}");
        Ok(())
    }

    pub fn done(&self, message: &str) -> Result<(), Failure> {
        if !self.json {
            outln!("{message}");
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
        outln!("State:        {state}");
        outln!("OfflineMode:  {}", m.offline_mode);
        outln!(
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
        out!("{}", technologies_table(&r.technologies));
        Ok(())
    }

    pub fn setup(&self, s: &pb::Setup) -> Result<(), Failure> {
        if self.json {
            return self.print_json(s);
        }
        print!("{}", setup_detail(s));
        Ok(())
    }

    pub fn technology(&self, t: &pb::Technology) -> Result<(), Failure> {
        if self.json {
            return self.print_json(t);
        }
        out!("{}", technologies_table(std::slice::from_ref(t)));
        Ok(())
    }

    pub fn services(&self, r: &pb::ListServicesResponse) -> Result<(), Failure> {
        if self.json {
            return self.print_json(r);
        }
        out!("{}", services_table(&r.services));
        Ok(())
    }

    pub fn service(&self, r: &pb::GetServiceResponse) -> Result<(), Failure> {
        if self.json {
            return self.print_json(r);
        }
        out!("{}", service_detail(&r.service.clone().unwrap_or_default()));
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
                let or_dash = |v: &str| {
                    if v.is_empty() {
                        "-".to_string()
                    } else {
                        v.to_string()
                    }
                };
                vec![
                    s.session_id.clone(),
                    state,
                    ct,
                    bearers,
                    or_dash(&s.allowed_interface),
                    s.service_id.clone(),
                    s.owner.clone(),
                    or_dash(&s.context_identifier),
                ]
            })
            .collect();
        table(
            &[
                "ID", "STATE", "TYPE", "BEARERS", "IFACE", "SERVICE", "OWNER", "CONTEXT",
            ],
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
                outln!("--- snapshot");
                self.manager(&pb::GetManagerResponse { manager: s.manager })?;
                self.services(&pb::ListServicesResponse {
                    services: s.services.clone(),
                })?;
                outln!("---");
            }
            Some(Event::ManagerChanged(c)) => {
                let m = c.manager.unwrap_or_default();
                let state = pb::ManagerState::try_from(m.state)
                    .map(|s| word(s.as_str_name()))
                    .unwrap_or_default();
                outln!("manager: state={state} offline_mode={}", m.offline_mode);
            }
            Some(Event::TechnologyAdded(t)) => outln!(
                "technology added: {}",
                technology(t.technology.as_ref().map_or(0, |t| t.r#type))
            ),
            Some(Event::TechnologyRemoved(t)) => {
                outln!("technology removed: {}", technology(t.r#type))
            }
            Some(Event::TechnologyChanged(t)) => {
                let t = t.technology.clone().unwrap_or_default();
                outln!(
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
                outln!(
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
                outln!(
                    "service {}: {} -> {}{error}",
                    c.service_id,
                    service_state(c.previous_state),
                    service_state(c.state)
                );
            }
            Some(Event::InterfaceChanged(c)) => {
                let i = c.interface.clone().unwrap_or_default();
                outln!(
                    "interface {}: admin={} carrier={} ready={} ignored={}",
                    i.name,
                    yes(i.admin_up),
                    yes(i.oper_up),
                    yes(i.ready),
                    yes(i.ignored)
                );
            }
            Some(Event::InterfaceRemoved(r)) => outln!("interface {} removed", r.name),
            Some(Event::ConnectivityChanged(c)) => {
                let family = pb::AddressFamily::try_from(c.family)
                    .map(|f| word(f.as_str_name()))
                    .unwrap_or_default();
                let what = if c.connected {
                    "connected"
                } else {
                    "disconnected"
                };
                outln!("L4 {what} ({family}) via {}", c.interface);
            }
            Some(Event::ConnectTimedOut(t)) => {
                let secs = t.timeout.map_or(0, |d| d.seconds);
                outln!("service {}: connect timed out after {secs}s", t.service_id);
            }
            Some(Event::IdleTimedOut(t)) => {
                let secs = t.idle_timeout.map_or(0, |d| d.seconds);
                outln!(
                    "service {}: disconnected after {secs}s without traffic",
                    t.service_id
                );
            }
            Some(Event::CaptivePortalDetected(p)) => {
                outln!(
                    "service {}: captive portal at {}",
                    p.service_id,
                    printable(&p.url)
                )
            }
            Some(Event::InputRequired(i)) => {
                outln!(
                    "service {} needs input from an agent: {}",
                    i.service_id,
                    i.fields.join(", ")
                )
            }
            Some(Event::SetupChanged(c)) => {
                let s = c.setup.clone().unwrap_or_default();
                println!(
                    "access point: {} {} ({}){}",
                    ap_role(s.role),
                    ap_state(s.state),
                    s.reason,
                    if s.ssid.is_empty() {
                        String::new()
                    } else {
                        format!(" ssid={}", printable(&s.ssid))
                    }
                );
            }
            Some(Event::SetupClientJoined(j)) => println!("access point: {} joined", j.mac),
            Some(Event::SetupCredentialsSubmitted(c)) => {
                println!("setup page: credentials submitted for {}", c.service_id)
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
                text("allowed_interface", &u.allowed_interface, &mut fields);
                text("context", &u.context_identifier, &mut fields);
                for (name, v) in [
                    ("source_ip_rule", u.source_ip_rule),
                    ("allow_metered", u.allow_metered),
                    ("connect", u.connect_requested),
                ] {
                    if let Some(v) = v {
                        fields.push(format!("{name}={}", if v { "yes" } else { "no" }));
                    }
                }
                outln!("session {}: {}", m.session_id, fields.join(" "));
            }
            Some(S::Release(r)) => outln!("session {}: released ({})", m.session_id, r.reason),
            Some(S::Handover(h)) => outln!(
                "session {}: handover {} -> {} ({})",
                m.session_id,
                h.previous_service_id,
                h.next_service_id,
                h.reason
            ),
            None => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wifi(name: &str, state: pb::ServiceState, security: &[pb::Security]) -> pb::Service {
        pb::Service {
            id: format!("wifi_020000000100_{}_managed_psk", hex(name.as_bytes())),
            name: name.into(),
            r#type: pb::TechnologyType::Wifi.into(),
            state: state.into(),
            security: security.iter().map(|s| (*s).into()).collect(),
            strength: 72,
            frequency: 2412,
            ssid: name.as_bytes().to_vec(),
            bss_count: 1,
            autoconnect: true,
            managed: true,
            ..Default::default()
        }
    }

    #[test]
    fn printable_escapes_what_a_terminal_would_obey() {
        let cases = [
            ("np-psk", "np-psk"),
            // The daemon's escape of a byte that is not UTF-8 stays as it is.
            ("np\\xff", "np\\xff"),
            ("Café 🛜 カフェ", "Café 🛜 カフェ"),
            ("evil\x1b]0;owned\x07", "evil\\x1b]0;owned\\x07"),
            ("tab\there\nline", "tab\\x09here\\x0aline"),
            ("del\x7f c1\u{85}", "del\\x7f c1\\x85"),
            ("\u{202e}kcah", "\\u{202e}kcah"),
            ("iso\u{2066}late\u{2069}", "iso\\u{2066}late\\u{2069}"),
        ];
        for (text, shown) in cases {
            assert_eq!(printable(text), shown, "{text:?}");
        }
        assert!(matches!(printable("plain"), Cow::Borrowed(_)));
    }

    #[test]
    fn layout_aligns_by_terminal_columns() {
        let rows = vec![
            Row {
                cells: vec!["カフェ".into(), "psk".into()],
                below: Some("id-1".into()),
            },
            Row::from(vec!["abc".into(), "none".into()]),
            Row::from(vec!["bad\x1b".into(), String::new()]),
        ];
        assert_eq!(
            layout(&["NAME", "SECURITY"], &rows),
            "NAME     SECURITY\n\
             カフェ   psk\n\
             \x20 id-1\n\
             abc      none\n\
             bad\\x1b\n"
        );
    }

    #[test]
    fn services_table_fits_80_columns_with_ids_below() {
        let mut psk = wifi("np-psk", pb::ServiceState::Ready, &[pb::Security::Psk]);
        psk.favorite = true;
        psk.ipv4 = Some(pb::Ipv4Settings {
            address: "198.18.10.101".into(),
            prefix_length: 24,
            gateway: "198.18.10.1".into(),
            ..Default::default()
        });
        let mut mixed = wifi(
            "Guest Café",
            pb::ServiceState::Idle,
            &[pb::Security::Sae, pb::Security::Psk],
        );
        mixed.strength = 5;
        mixed.frequency = 5180;
        let mut hidden = wifi("", pb::ServiceState::Idle, &[pb::Security::Psk]);
        hidden.hidden = true;
        hidden.id = "wifi_020000000100__hidden_managed_psk".into();
        let mut failed = wifi("np\\xff", pb::ServiceState::Failure, &[pb::Security::Psk]);
        failed.error = "invalid-key".into();
        let wired = pb::Service {
            id: "ethernet_02fc00000001_cable".into(),
            name: "Wired".into(),
            r#type: pb::TechnologyType::Ethernet.into(),
            state: pb::ServiceState::Online.into(),
            immutable: true,
            ipv4: Some(pb::Ipv4Settings {
                address: "198.18.1.5".into(),
                prefix_length: 24,
                ..Default::default()
            }),
            ..Default::default()
        };
        let text = services_table(&[psk, mixed, hidden, failed, wired]);
        assert_eq!(
            text,
            "\
STATE    NAME        SECURITY  SIGNAL  MHZ   IPV4              FLAGS
ready    np-psk      psk       72      2412  198.18.10.101/24  *A
  wifi_020000000100_6e702d70736b_managed_psk
idle     Guest Café  sae,psk   5       5180  -                 A
  wifi_020000000100_477565737420436166c3a9_managed_psk
idle     <hidden>    psk       72      2412  -                 A
  wifi_020000000100__hidden_managed_psk
failure  np\\xff      psk       72      2412  -                 A
  wifi_020000000100_6e705c786666_managed_psk  error: invalid-key
online   Wired       -         -       -     198.18.1.5/24     I
  ethernet_02fc00000001_cable
"
        );
        for line in text.lines() {
            assert!(line.width() <= 80, "{line:?}");
        }
    }

    #[test]
    fn technologies_table_shows_available_and_country() {
        let wifi = pb::Technology {
            r#type: pb::TechnologyType::Wifi.into(),
            name: "WiFi".into(),
            powered: true,
            available: false,
            country: "DE".into(),
            ..Default::default()
        };
        let wired = pb::Technology {
            r#type: pb::TechnologyType::Ethernet.into(),
            name: "Wired".into(),
            powered: true,
            connected: true,
            available: true,
            ..Default::default()
        };
        assert_eq!(
            technologies_table(&[wired, wifi]),
            "\
TYPE      NAME   POWERED  CONNECTED  AVAILABLE  COUNTRY  TETHERING
ethernet  Wired  yes      yes        yes        -        no
wifi      WiFi   yes      no         no         DE       no
"
        );
    }

    #[test]
    fn service_detail_shows_wifi_facts_and_which_secrets_are_stored() {
        let mut s = wifi("np\\xff", pb::ServiceState::Ready, &[pb::Security::Psk]);
        s.ssid = b"np\xff".to_vec();
        s.passphrase_set = true;
        s.favorite = true;
        let text = service_detail(&s);
        for line in [
            "Name:          np\\xff",
            "State:         ready",
            "Security:      psk",
            "Strength:      72",
            "Frequency:     2412 MHz",
            "SSID (hex):    6e70ff",
            "Favorite:      yes",
            "Stored:        passphrase",
            "IPv4:          -",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} not in:\n{text}");
        }
    }

    #[test]
    fn every_connect_error_word_says_what_to_do() {
        let id = "wifi_x_managed_psk";
        for word in [
            "invalid-key",
            "passphrase-required",
            "identity-required",
            "name-required",
            "auth-failed",
            "Canceled",
            "connect-failed",
            "out-of-range",
            "dhcp-failed",
            "NotFound",
            "PermissionDenied",
        ] {
            assert!(hint(word, id).is_some(), "{word}");
        }
        let invalid = hint("invalid-key", id).unwrap_or_default();
        assert!(
            invalid.contains(&format!("netpilot connect {id} --passphrase-file")),
            "{invalid}"
        );
        let missing = hint("passphrase-required", id).unwrap_or_default();
        assert!(missing.contains("netpilot agent"), "{missing}");
        assert_eq!(hint("InvalidArguments", id), None);
    }

    #[test]
    fn wrap_keeps_words_and_width() {
        let text = "give the passphrase: netpilot connect \
                    wifi_020000000100_6e702d70736b_managed_psk --passphrase-file FILE";
        let wrapped = wrap(text, 40, "  ");
        assert_eq!(
            wrapped,
            "  give the passphrase: netpilot connect\n\
             \x20 wifi_020000000100_6e702d70736b_managed_psk\n\
             \x20 --passphrase-file FILE\n"
        );
        assert_eq!(wrap("", 40, "  "), "");
    }
}
