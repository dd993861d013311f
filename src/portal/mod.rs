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
//! - Only the setup access point serves it (tethering has no page). A `POST` is refused
//!   (403) unless its `Host`, and its `Origin` when present, name the portal's own address:
//!   a page on another site the phone visits cannot submit the forms (cross-site request
//!   forgery, DNS rebinding).
//! - Anyone in radio range can connect: at most [`Limits::connections`] connections are
//!   served at once, a request head must arrive within [`Limits::header_timeout`] (also the
//!   limit of an idle keep-alive connection), and a request is answered within
//!   [`Limits::request_timeout`].

mod page;

use std::convert::Infallible;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Form, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tower_service::Service;

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
        .with_state(Arc::new(Page {
            portal,
            seen: Every::new(SEEN_EVERY),
        }))
}

/// What one client may hold of the page server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; further ones wait in the listen backlog.
    pub connections: usize,
    /// Time to send a request head, from the connection's start or the previous answer.
    pub header_timeout: Duration,
    /// Time to send the body and get the answer (a scan waits up to 20 s for results).
    pub request_timeout: Duration,
}

impl Default for Limits {
    /// 32 connections, 10 s for a head, 30 s for a request.
    fn default() -> Self {
        Self {
            connections: 32,
            header_timeout: Duration::from_secs(10),
            request_timeout: SCAN_WAIT + Duration::from_secs(10),
        }
    }
}

/// Serves the page on `listener` with the default [`Limits`] until `shutdown` resolves;
/// then every open connection is closed.
pub async fn serve(
    listener: tokio::net::TcpListener,
    portal: Portal,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    serve_limited(listener, portal, Limits::default(), shutdown).await
}

/// How long to wait after a failed accept (out of file descriptors) before the next one.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(200);

/// [`serve`] with other limits.
pub async fn serve_limited(
    listener: tokio::net::TcpListener,
    portal: Portal,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let at = page_url(portal.address, portal.port);
    tracing::info!(url = %at, "setup page serving");
    let app = router(portal);
    let permits = Arc::new(Semaphore::new(limits.connections));
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(url = %at, error = %e, "setup page: accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |request| {
            answer(app.clone(), request, limits.request_timeout)
        });
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        connections.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "setup page connection ended");
            }
            drop(permit);
        });
    }
    // The access point closes: so do its connections.
    connections.shutdown().await;
    tracing::info!(url = %at, "setup page stopped");
}

/// One request through the router, answered within `limit` (else 503).
async fn answer(
    mut app: Router,
    request: http::Request<hyper::body::Incoming>,
    limit: Duration,
) -> Result<Response, Infallible> {
    let request = request.map(axum::body::Body::new);
    let routed = async {
        std::future::poll_fn(|cx| {
            <Router as Service<http::Request<axum::body::Body>>>::poll_ready(&mut app, cx)
        })
        .await?;
        app.call(request).await
    };
    match tokio::time::timeout(limit, routed).await {
        Ok(Ok(response)) => Ok(response),
        Ok(Err(never)) => match never {},
        Err(_) => Ok((StatusCode::SERVICE_UNAVAILABLE, "timed out\n").into_response()),
    }
}

/// Page views are reported to the engine at most this often: it keeps only the latest
/// (to hold off background retries while a phone is on the page), and a phone polls
/// `/status.json` every second or so.
const SEEN_EVERY: Duration = Duration::from_secs(1);

/// A rate limit shared by the request handlers: yes at most once per period.
#[derive(Debug)]
struct Every {
    epoch: std::time::Instant,
    period_ms: u64,
    /// `period_ms` + milliseconds since `epoch` at the last yes; 0: never.
    last: std::sync::atomic::AtomicU64,
}

impl Every {
    fn new(period: Duration) -> Self {
        Self {
            epoch: std::time::Instant::now(),
            period_ms: u64::try_from(period.as_millis()).unwrap_or(u64::MAX),
            last: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn due(&self) -> bool {
        let elapsed = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.due_at(elapsed.saturating_add(self.period_ms))
    }

    /// Whether `now` (`period_ms` + ms since the epoch) is a period after the last yes;
    /// one caller wins when several ask at once.
    fn due_at(&self, now: u64) -> bool {
        use std::sync::atomic::Ordering::Relaxed;
        let last = self.last.load(Relaxed);
        now.saturating_sub(last) >= self.period_ms
            && self
                .last
                .compare_exchange(last, now, Relaxed, Relaxed)
                .is_ok()
    }
}

/// What the handlers share.
struct Page {
    portal: Portal,
    /// When a page view is reported next.
    seen: Every,
}

impl std::ops::Deref for Page {
    type Target = Portal;
    fn deref(&self) -> &Portal {
        &self.portal
    }
}

type Shared = Arc<Page>;

impl Page {
    /// Reports a page view (a phone is on the page), at most once per [`SEEN_EVERY`].
    fn seen(&self) {
        if self.seen.due() {
            // A full queue drops the report: a later request makes it again.
            let _ = self.portal.reports.try_send(Event::PageSeen);
        }
    }
}

impl Portal {
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

    /// Whether `authority` (`A` or `A:port`) is the page's own.
    fn own_authority(&self, authority: &str) -> bool {
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().ok()),
            None => (authority, Some(80)),
        };
        host == self.address.to_string() && port == Some(self.port)
    }

    /// Why a form post is refused: its `Host`, or its `Origin` when it has one, is not the
    /// page's own (RFC 6454 §7 for `Origin`; `null` is not own).
    fn cross_site(&self, headers: &HeaderMap) -> Option<&'static str> {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        if !host.is_some_and(|h| self.own_authority(h)) {
            return Some("This form must be sent to the setup page's own address.");
        }
        if let Some(origin) = headers.get(header::ORIGIN) {
            let own = origin
                .to_str()
                .ok()
                .and_then(|o| o.strip_prefix("http://"))
                .is_some_and(|a| self.own_authority(a));
            if !own {
                return Some("This form must be sent from the setup page itself.");
            }
        }
        None
    }

    /// The page with `message`, as a 403.
    fn forbidden(&self, message: &str) -> Response {
        let snapshot = self.engine.snapshot();
        no_store(
            (
                StatusCode::FORBIDDEN,
                Html(page::html(self, &snapshot, Some(message))),
            )
                .into_response(),
        )
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
    if p.foreign(&headers) {
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
    let body = serde_json::json!({"captive": true, "user-portal-url": page_url(p.address, p.port)});
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
    p.redirect()
}

async fn fallback(State(p): State<Shared>) -> Response {
    p.redirect()
}

async fn scan(State(p): State<Shared>, headers: HeaderMap) -> Response {
    if let Some(why) = p.cross_site(&headers) {
        return p.forbidden(why);
    }
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

/// The connect form. Fields the network does not need are empty. Its `Debug` shows only
/// which secrets are filled in, never their values.
#[derive(Deserialize)]
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

impl std::fmt::Debug for ConnectForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |v: &String| if v.is_empty() { "" } else { "<redacted>" };
        f.debug_struct("ConnectForm")
            .field("service", &self.service)
            .field("passphrase", &set(&self.passphrase))
            .field("identity", &set(&self.identity))
            .field("password", &set(&self.password))
            .field("name", &self.name)
            .finish()
    }
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

async fn connect(
    State(p): State<Shared>,
    headers: HeaderMap,
    Form(form): Form<ConnectForm>,
) -> Response {
    if let Some(why) = p.cross_site(&headers) {
        return p.forbidden(why);
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_views_are_reported_once_a_period() {
        let every = Every::new(Duration::from_secs(1));
        assert!(every.due_at(1000), "the first");
        assert!(!every.due_at(1000), "the same moment");
        assert!(!every.due_at(1999), "within the period");
        assert!(every.due_at(2000), "a period later");
        assert!(!every.due_at(2500));
        assert!(every.due_at(5000));
    }

    #[test]
    fn the_form_does_not_show_its_secrets() {
        let form = ConnectForm {
            service: "wifi_x".into(),
            passphrase: "hunter2-passphrase".into(),
            identity: "alice-identity".into(),
            password: "hunter3-password".into(),
            name: String::new(),
        };
        let shown = format!("{form:?}");
        for secret in ["hunter2", "alice-identity", "hunter3"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(
            shown.contains("wifi_x") && shown.contains("<redacted>"),
            "{shown}"
        );
    }
}
