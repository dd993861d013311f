//! The setup page and the captive portal answers, served on the access point's address.
//! It is a client of the engine like the gRPC API: it reads the published snapshot and
//! asks through the same [`EngineHandle`] (scan, connect with credentials), never around it.
//!
//! - Captive detection: the probes of Android (`/generate_204`, `/gen_204`), Apple
//!   (`/hotspot-detect.html`, `/library/test/success.html`), Windows (`/connecttest.txt`,
//!   `/ncsi.txt`, `/redirect`) and Firefox (`/canonical.html`, `/success.txt`), and any
//!   request for another host name (the AP's DNS answers every name with the AP), get a
//!   `302 Found` to the page, so the phone opens its captive sheet. The RFC 8908 API is at
//!   `/api/captive` (DHCP option 114 names it).
//! - The page lists the networks the radio sees with security and strength, scans again
//!   (`POST /scan`), and connects (`POST /connect`: passphrase, or identity and password, and
//!   a hidden network's name). Progress and the backend's error word (`invalid-key`,
//!   `auth-failed`, …) show on the same page: with a meta refresh without JavaScript, or
//!   live from `/status.json` with it.

mod page;

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Form, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use crate::engine::{EngineError, EngineHandle, EventSender};
use crate::model::{
    validate_passphrase, validate_ssid, validate_text, Credentials, Secret, TechnologyKind,
};
use crate::setup::Event;

/// How long the page waits for a scan before showing what it has.
const SCAN_WAIT: Duration = Duration::from_secs(20);

/// Probe paths of phones and browsers that get the redirect.
pub const PROBES: &[&str] = &[
    "/generate_204",
    "/gen_204",
    "/hotspot-detect.html",
    "/library/test/success.html",
    "/connecttest.txt",
    "/ncsi.txt",
    "/redirect",
    "/canonical.html",
    "/success.txt",
];

/// What the page needs.
#[derive(Clone)]
pub struct Portal {
    /// The engine, as every API client reaches it.
    pub engine: EngineHandle,
    /// Where page views are reported (a phone on the page).
    pub reports: EventSender<Event>,
    /// The access point's address.
    pub address: Ipv4Addr,
    /// The page's port.
    pub port: u16,
    /// Setup (captive answers) or tethering (the page only).
    pub captive: bool,
    /// The device's name.
    pub hostname: String,
}

fn authority(address: Ipv4Addr, port: u16) -> String {
    if port == 80 {
        address.to_string()
    } else {
        format!("{address}:{port}")
    }
}

/// The page's URL, e.g. `http://192.168.42.1/`.
pub fn page_url(address: Ipv4Addr, port: u16) -> String {
    format!("http://{}/", authority(address, port))
}

/// The RFC 8908 captive portal API URI (DHCP option 114, RFC 8910).
pub fn api_url(address: Ipv4Addr, port: u16) -> String {
    format!("http://{}/api/captive", authority(address, port))
}

/// The largest request body (a connect form is a few hundred bytes): anyone in radio range
/// may send one.
pub const FORM_MAX: usize = 4096;

/// The page's routes.
pub fn router(portal: Portal) -> Router {
    let mut router = Router::new()
        .route("/", get(index))
        .route("/status.json", get(status_json))
        .route("/api/captive", get(captive_api))
        .route("/portal.css", get(css))
        .route("/portal.js", get(js))
        .route("/scan", post(scan))
        .route("/connect", post(connect));
    for probe in PROBES {
        router = router.route(probe, get(probe_redirect));
    }
    router
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(FORM_MAX))
        .with_state(Arc::new(portal))
}

/// Serves the page on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    portal: Portal,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let at = page_url(portal.address, portal.port);
    tracing::info!(url = %at, "setup page serving");
    if let Err(e) = axum::serve(listener, router(portal))
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::warn!(url = %at, error = %e, "the setup page stopped");
    }
}

type Shared = Arc<Portal>;

impl Portal {
    fn seen(&self) {
        // A full queue drops the report: the next request makes it again.
        let _ = self.reports.try_send(Event::PageSeen);
    }

    fn redirect(&self) -> Response {
        (
            StatusCode::FOUND,
            [
                (header::LOCATION, page_url(self.address, self.port)),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
        )
            .into_response()
    }

    /// Whether a request names another host than the AP (a captive probe, any site).
    fn foreign(&self, headers: &HeaderMap) -> bool {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
        !name.is_empty() && name != self.address.to_string()
    }
}

fn no_store(mut r: Response) -> Response {
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    r
}

async fn index(State(p): State<Shared>, headers: HeaderMap) -> Response {
    if p.captive && p.foreign(&headers) {
        return p.redirect();
    }
    p.seen();
    let snapshot = p.engine.snapshot();
    no_store(Html(page::html(&p, &snapshot, None)).into_response())
}

async fn status_json(State(p): State<Shared>) -> Response {
    p.seen();
    let snapshot = p.engine.snapshot();
    no_store(
        (
            [(header::CONTENT_TYPE, "application/json")],
            page::status_json(&snapshot).to_string(),
        )
            .into_response(),
    )
}

/// RFC 8908 §5: `{"captive": true, "user-portal-url": …}` as `application/captive+json`.
async fn captive_api(State(p): State<Shared>) -> Response {
    let body = if p.captive {
        serde_json::json!({"captive": true, "user-portal-url": page_url(p.address, p.port)})
    } else {
        serde_json::json!({"captive": false})
    };
    no_store(
        (
            [(header::CONTENT_TYPE, "application/captive+json")],
            body.to_string(),
        )
            .into_response(),
    )
}

async fn css() -> Response {
    ([(header::CONTENT_TYPE, "text/css")], page::CSS).into_response()
}

async fn js() -> Response {
    ([(header::CONTENT_TYPE, "application/javascript")], page::JS).into_response()
}

async fn probe_redirect(State(p): State<Shared>) -> Response {
    if p.captive {
        p.redirect()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

async fn fallback(State(p): State<Shared>, headers: HeaderMap) -> Response {
    if p.captive {
        return p.redirect();
    }
    let _ = headers;
    (StatusCode::NOT_FOUND, "not found\n").into_response()
}

async fn scan(State(p): State<Shared>) -> Response {
    p.seen();
    match tokio::time::timeout(SCAN_WAIT, p.engine.scan(TechnologyKind::Wifi)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::info!(error = %e, "scan from the setup page"),
        Err(_) => {
            tracing::info!("scan from the setup page: results not in yet; showing what is listed")
        }
    }
    Redirect::to("/").into_response()
}

/// The connect form. Fields the network does not need are empty.
#[derive(Debug, Deserialize)]
pub struct ConnectForm {
    /// The service id.
    pub service: String,
    /// WPA passphrase.
    #[serde(default)]
    pub passphrase: String,
    /// 802.1X identity.
    #[serde(default)]
    pub identity: String,
    /// 802.1X password.
    #[serde(default)]
    pub password: String,
    /// A hidden network's name.
    #[serde(default)]
    pub name: String,
}

impl std::fmt::Debug for Portal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Portal")
            .field("address", &self.address)
            .finish()
    }
}

/// The form's values as credentials, each checked as ConnectService checks them.
fn credentials(form: &ConnectForm) -> Result<(Credentials, Option<Vec<u8>>), String> {
    let mut c = Credentials::default();
    if !form.passphrase.is_empty() {
        validate_passphrase("password", &form.passphrase).map_err(|e| e.message)?;
        c.passphrase = Some(Secret::new(form.passphrase.clone()));
    }
    if !form.identity.is_empty() {
        validate_text("user name", &form.identity)
            .map_err(|e| format!("user name: {}", e.message))?;
        c.identity = Some(Secret::new(form.identity.clone()));
    }
    if !form.password.is_empty() {
        validate_text("password", &form.password)
            .map_err(|e| format!("password: {}", e.message))?;
        c.password = Some(Secret::new(form.password.clone()));
    }
    let name = if form.name.is_empty() {
        None
    } else {
        validate_ssid("name", form.name.as_bytes())
            .map_err(|e| format!("network name: {}", e.message))?;
        Some(form.name.as_bytes().to_vec())
    };
    Ok((c, name))
}

async fn connect(State(p): State<Shared>, Form(form): Form<ConnectForm>) -> Response {
    p.seen();
    let refused = |message: String| {
        let snapshot = p.engine.snapshot();
        no_store(
            (
                StatusCode::BAD_REQUEST,
                Html(page::html(&p, &snapshot, Some(&message))),
            )
                .into_response(),
        )
    };
    let (credentials, name) = match credentials(&form) {
        Ok(c) => c,
        Err(message) => return refused(message),
    };
    match p
        .engine
        .setup_connect(form.service.clone(), credentials, name)
        .await
    {
        Ok(()) => Redirect::to("/").into_response(),
        Err(EngineError::NotFound { .. }) => {
            refused("That network is gone; scan again.".to_string())
        }
        Err(e) => refused(e.to_string()),
    }
}
