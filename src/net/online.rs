//! The online check: an HTTP GET through one interface (SO_BINDTODEVICE), like Android's
//! generate_204 probe. The expected status means online; a redirect means a captive portal
//! (its Location is reported); anything else is a failure. Probes repeat with backoff until
//! online, and in continuous mode keep going at the longest interval.

use std::time::Duration;

use crate::engine::EventSender;
use crate::model::ReportKey;

/// One probe's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeResult {
    /// The expected status came back.
    Online,
    /// A redirect: the captive portal's URL (the Location header; empty if none).
    Portal(String),
    /// Anything else, with the reason.
    Failed(String),
}

/// A probe result with the service and check it belongs to.
#[derive(Debug)]
pub struct OnlineReport {
    /// The service checked and which start of the check (stale reports are ignored by the
    /// engine).
    pub key: ReportKey,
    /// The outcome.
    pub result: ProbeResult,
}

/// What one check needs.
#[derive(Debug, Clone)]
pub struct CheckParams {
    /// The service checked and which start of its check this is.
    pub key: ReportKey,
    /// Interface to bind the probe to.
    pub ifname: String,
    /// URL to GET (http only).
    pub url: String,
    /// Status that means online.
    pub expect_status: u16,
    /// Per-probe timeout.
    pub timeout: Duration,
    /// First retry delay; doubles up to `interval_max`.
    pub interval_min: Duration,
    /// Longest retry delay, and the period after success when `continuous`.
    pub interval_max: Duration,
    /// Keep probing after success.
    pub continuous: bool,
}

/// A running check; dropping it stops it.
pub struct OnlineCheck(tokio::task::JoinHandle<()>);

impl Drop for OnlineCheck {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl OnlineCheck {
    /// Starts probing now.
    pub fn start(params: CheckParams, reports: EventSender<OnlineReport>) -> Self {
        OnlineCheck(tokio::spawn(async move {
            let mut delay = params.interval_min;
            loop {
                let result = probe(&params).await;
                let online = result == ProbeResult::Online;
                tracing::debug!(service = %params.key.service, url = %params.url, ?result, "online probe");
                let report = OnlineReport {
                    key: params.key.clone(),
                    result,
                };
                if reports.send(report).await.is_err() || (online && !params.continuous) {
                    return;
                }
                if online {
                    delay = params.interval_min;
                    tokio::time::sleep(params.interval_max).await;
                } else {
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(params.interval_max);
                }
            }
        }))
    }
}

/// One GET through the interface.
pub async fn probe(params: &CheckParams) -> ProbeResult {
    let client = match reqwest::Client::builder()
        .interface(&params.ifname)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(params.timeout)
        .no_proxy()
        .build()
    {
        Ok(c) => c,
        Err(e) => return ProbeResult::Failed(format!("build HTTP client: {e}")),
    };
    match client.get(&params.url).send().await {
        Ok(r) if r.status().as_u16() == params.expect_status => ProbeResult::Online,
        Ok(r) if r.status().is_redirection() => ProbeResult::Portal(
            r.headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string(),
        ),
        Ok(r) => ProbeResult::Failed(format!(
            "{} answered {}, expected {}",
            params.url,
            r.status(),
            params.expect_status
        )),
        Err(e) => ProbeResult::Failed(format!("GET {}: {e}", params.url)),
    }
}
