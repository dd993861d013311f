//! The page's HTML, rendered from the engine's snapshot: small, works without JavaScript
//! (forms and a meta refresh while a connect runs), with a few lines of JavaScript for
//! live progress.

use std::fmt::Write;

use super::Portal;
use crate::engine::Snapshot;
use crate::model::{AttemptPhase, Security, Service, ServiceState, SetupStatus, TechnologyKind};

/// The style sheet.
pub const CSS: &str = include_str!("assets/portal.css");
/// Live progress: polls `/status.json` while a connect runs.
pub const JS: &str = include_str!("assets/portal.js");

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What a failure means to the person with the phone.
fn explain(reason: &str) -> &'static str {
    match reason {
        "invalid-key" => "The password is wrong.",
        "auth-failed" => "The user name or password was refused.",
        "passphrase-required" | "identity-required" => "This network needs a password.",
        "name-required" => "This hidden network needs its name.",
        "out-of-range" | "connect-failed" => "The network did not answer.",
        "dhcp-failed" => "The network gave no address.",
        "Canceled" => "The connect was canceled.",
        _ => "It did not work.",
    }
}

/// Whether a connect from the page is still running.
pub fn in_progress(status: &SetupStatus) -> bool {
    matches!(
        status.attempt.as_ref().map(|a| &a.phase),
        Some(AttemptPhase::Connecting | AttemptPhase::Ready)
    )
}

/// The status box: the last connect from the page, or a hint.
pub fn status_box(status: &SetupStatus) -> String {
    let Some(a) = &status.attempt else {
        return "<div id=\"status\" class=\"status\">Pick your network and enter its password.</div>"
            .into();
    };
    let name = escape(&a.name);
    let (class, text) = match &a.phase {
        AttemptPhase::Connecting => ("busy", format!("Connecting to <b>{name}</b>…")),
        AttemptPhase::Ready => (
            "busy",
            format!("Connected to <b>{name}</b>. Checking the Internet…"),
        ),
        AttemptPhase::Online => (
            "done",
            format!(
                "Done: <b>{name}</b> works. This setup network closes now; join <b>{name}</b> again."
            ),
        ),
        AttemptPhase::Failed { reason, message } => (
            "error",
            format!(
                "Could not connect to <b>{name}</b>: {} (<code>{}</code>) Try again.<br><small>{}</small>",
                explain(reason),
                escape(reason),
                escape(message)
            ),
        ),
    };
    format!("<div id=\"status\" class=\"status {class}\" data-phase=\"{class}\">{text}</div>")
}

/// `/status.json`: the status box and where the connect stands.
pub fn status_json(snapshot: &Snapshot) -> serde_json::Value {
    let s = &snapshot.setup;
    let attempt = s.attempt.as_ref().map(|a| {
        let (phase, reason) = match &a.phase {
            AttemptPhase::Connecting => ("connecting", ""),
            AttemptPhase::Ready => ("ready", ""),
            AttemptPhase::Online => ("online", ""),
            AttemptPhase::Failed { reason, .. } => ("failed", reason.as_str()),
        };
        serde_json::json!({"service": a.service.0, "name": a.name, "phase": phase, "reason": reason})
    });
    serde_json::json!({
        "state": s.state.as_str(),
        "attempt": attempt,
        "busy": in_progress(s),
        "html": status_box(s),
    })
}

fn security_word(s: &Service) -> &'static str {
    if s.security.contains(&Security::Ieee8021x) {
        "enterprise"
    } else if s.security.contains(&Security::Sae) && !s.security.contains(&Security::Psk) {
        "WPA3"
    } else if s.security.contains(&Security::Psk) || s.security.contains(&Security::Sae) {
        "WPA2"
    } else if s.security.contains(&Security::Wep) {
        "WEP"
    } else {
        "open"
    }
}

fn network(out: &mut String, s: &Service) {
    let id = escape(&s.id.0);
    let nameless = s.wifi.as_ref().is_some_and(|w| w.ssid.is_empty());
    let shown = if nameless {
        "Hidden network".to_string()
    } else {
        escape(&s.name)
    };
    let state = match s.state {
        ServiceState::Online => " · online",
        ServiceState::Ready => " · connected",
        ServiceState::Association | ServiceState::Configuration => " · connecting",
        _ => "",
    };
    let saved = if s.favorite { " · saved" } else { "" };
    let word = security_word(s);
    let _ = write!(
        out,
        "<details class=\"net\" data-service=\"{id}\"><summary><span class=\"name\">{shown}</span> \
         <span class=\"meta\"><span class=\"security\">{word}</span> · <span class=\"signal\">{}%</span>{state}{saved}</span></summary>\
         <form method=\"post\" action=\"/connect\" data-service=\"{id}\">\
         <input type=\"hidden\" name=\"service\" value=\"{id}\">",
        s.strength
    );
    if nameless {
        out.push_str(
            "<label>Network name <input name=\"name\" required maxlength=\"32\" autocomplete=\"off\"></label>",
        );
    }
    match word {
        "enterprise" => out.push_str(
            "<label>User name <input name=\"identity\" required autocomplete=\"username\"></label>\
             <label>Password <input name=\"password\" type=\"password\" required autocomplete=\"current-password\"></label>",
        ),
        "WPA2" | "WPA3" => {
            let hint = if s.credentials.passphrase {
                " placeholder=\"saved; enter to change\""
            } else {
                " required"
            };
            let _ = write!(
                out,
                "<label>Password <input name=\"passphrase\" type=\"password\" minlength=\"8\" maxlength=\"64\"{hint} autocomplete=\"current-password\"></label>"
            );
        }
        _ => {}
    }
    out.push_str("<button type=\"submit\">Connect</button></form></details>");
}

/// The page. `error` is a problem with the form just sent.
pub fn html(p: &Portal, snapshot: &Snapshot, error: Option<&str>) -> String {
    let status = &snapshot.setup;
    let mut out = String::with_capacity(4096);
    out.push_str("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">");
    if in_progress(status) {
        out.push_str("<noscript><meta http-equiv=\"refresh\" content=\"2\"></noscript>");
    }
    let host = escape(&p.hostname);
    let _ = write!(
        out,
        "<title>Set up {host}</title><link rel=\"stylesheet\" href=\"/portal.css\"></head><body>\
         <h1>Connect <b>{host}</b> to Wi-Fi</h1>"
    );
    if let Some(e) = error {
        let _ = write!(
            out,
            "<div class=\"status error\" id=\"form-error\">{}</div>",
            escape(e)
        );
    }
    out.push_str(&status_box(status));
    out.push_str(
        "<form method=\"post\" action=\"/scan\" class=\"scan\"><button type=\"submit\">Scan again</button></form>",
    );
    let networks: Vec<&Service> = snapshot
        .services
        .iter()
        .filter(|s| s.technology == TechnologyKind::Wifi && s.managed)
        .collect();
    if networks.is_empty() {
        out.push_str("<p class=\"empty\">No networks found yet. Scan again in a moment.</p>");
    }
    out.push_str("<div id=\"networks\">");
    for s in networks {
        network(&mut out, s);
    }
    out.push_str("</div><script src=\"/portal.js\" defer></script></body></html>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Attempt, ServiceId};

    #[test]
    fn escapes_names() {
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn the_status_box_names_the_error_word() {
        let mut s = SetupStatus::default();
        assert!(status_box(&s).contains("Pick your network"));
        s.attempt = Some(Attempt {
            service: ServiceId("wifi_x".into()),
            name: "home<1>".into(),
            phase: AttemptPhase::Failed {
                reason: "invalid-key".into(),
                message: "the passphrase was refused".into(),
            },
        });
        let b = status_box(&s);
        assert!(
            b.contains("<code>invalid-key</code>") && b.contains("The password is wrong."),
            "{b}"
        );
        assert!(b.contains("home&lt;1&gt;"), "escaped: {b}");
        assert!(!in_progress(&s));
        s.attempt = Some(Attempt {
            service: ServiceId("wifi_x".into()),
            name: "home".into(),
            phase: AttemptPhase::Connecting,
        });
        assert!(in_progress(&s) && status_box(&s).contains("Connecting to"));
        let json = status_json(&Snapshot {
            setup: s,
            ..Default::default()
        });
        assert_eq!(json["attempt"]["phase"], "connecting");
        assert_eq!(json["busy"], true);
    }
}
