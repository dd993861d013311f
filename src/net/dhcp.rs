//! DHCPv4 client per managed link, on mozim (nmstate's client): lease acquisition, renew
//! (T1), rebind (T2), expiry, DHCPRELEASE on stop, INIT-REBOOT with the previous lease on
//! reconnect (RFC 2131 §3.2, §4.4). mozim's raw socket parses frames without checking the
//! UDP checksum, so replies with an unfinished checksum from a veth peer (offload) are
//! accepted.

use std::net::Ipv4Addr;
use std::time::Duration;

use mozim::{DhcpV4Client, DhcpV4Config, DhcpV4Lease, DhcpV4State};
use tokio::sync::oneshot;

use crate::engine::EventSender;
use crate::model::{Lease, ReportKey};

/// What a client reports.
#[derive(Debug, Clone)]
pub enum DhcpEvent {
    /// A lease was acquired or renewed; the second part is kept for INIT-REBOOT.
    Bound(Lease, SavedLease),
    /// The lease ran out (renew and rebind failed); the client keeps trying.
    Expired,
    /// The exchange failed or the server's answer was unusable; the client retries.
    Failed(String),
}

/// An event with the service and client start it came from.
#[derive(Debug)]
pub struct DhcpReport {
    /// The service and which start of its client (stale reports are ignored by the engine).
    pub key: ReportKey,
    /// What happened.
    pub event: DhcpEvent,
}

/// The previous lease, kept for INIT-REBOOT on the next start.
#[derive(Debug, Clone)]
pub struct SavedLease(Box<DhcpV4Lease>);

/// A running client. Stop it with [`DhcpClient::stop`]; dropping it aborts without a
/// DHCPRELEASE.
pub struct DhcpClient {
    stop: Option<oneshot::Sender<bool>>,
    task: tokio::task::JoinHandle<Option<SavedLease>>,
}

/// What a client needs to start.
#[derive(Debug, Clone)]
pub struct DhcpParams {
    /// ifindex.
    pub ifindex: u32,
    /// Interface name.
    pub ifname: String,
    /// MAC (also the client identifier, RFC 2132 §9.14).
    pub mac: [u8; 6],
    /// Host name to send (option 12); empty = none.
    pub hostname: String,
    /// Names this start of the client in its reports.
    pub key: ReportKey,
}

const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

impl DhcpClient {
    /// Starts a client; `saved` enables INIT-REBOOT.
    pub fn start(
        params: DhcpParams,
        saved: Option<SavedLease>,
        reports: EventSender<DhcpReport>,
    ) -> Self {
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(run(params, saved, reports, stop_rx));
        DhcpClient {
            stop: Some(stop_tx),
            task,
        }
    }

    /// Stops the client, sending DHCPRELEASE first when `release` is true. Returns the last
    /// lease for a later INIT-REBOOT.
    pub async fn stop(mut self, release: bool) -> Option<SavedLease> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(release);
        }
        match tokio::time::timeout(Duration::from_secs(2), &mut self.task).await {
            Ok(Ok(saved)) => saved,
            _ => {
                self.task.abort();
                None
            }
        }
    }
}

impl Drop for DhcpClient {
    fn drop(&mut self) {
        if self.stop.is_some() {
            self.task.abort();
        }
    }
}

async fn run(
    params: DhcpParams,
    mut saved: Option<SavedLease>,
    reports: EventSender<DhcpReport>,
    mut stop: oneshot::Receiver<bool>,
) -> Option<SavedLease> {
    let report = |event| {
        let reports = reports.clone();
        let report = DhcpReport {
            key: params.key.clone(),
            event,
        };
        async move {
            let _ = reports.send(report).await;
        }
    };
    let mut retry = RETRY_MIN;
    loop {
        let mut client = match new_client(&params, saved.clone()).await {
            Ok(c) => c,
            Err(e) => {
                report(DhcpEvent::Failed(e)).await;
                tokio::select! {
                    release = &mut stop => { let _ = release; return saved; }
                    _ = tokio::time::sleep(retry) => { retry = (retry * 2).min(RETRY_MAX); continue; }
                }
            }
        };
        let mut bound = false;
        loop {
            tokio::select! {
                release = &mut stop => {
                    if release.unwrap_or(false) {
                        if let Some(SavedLease(lease)) = saved.as_ref().filter(|_| bound) {
                            if let Err(e) = client.release(lease).await {
                                tracing::warn!(interface = %params.ifname, error = %e, "DHCPRELEASE failed");
                            }
                        }
                    }
                    return saved;
                }
                state = client.run() => match state {
                    Ok(DhcpV4State::Done(lease)) => {
                        retry = RETRY_MIN;
                        match to_lease(&lease) {
                            Ok(l) => {
                                tracing::info!(interface = %params.ifname, address = %l.address, prefix = l.prefix_len, lease_secs = l.lease_secs, "DHCP lease bound");
                                bound = true;
                                let kept = SavedLease(lease);
                                saved = Some(kept.clone());
                                report(DhcpEvent::Bound(l, kept)).await;
                            }
                            Err(e) => {
                                tracing::warn!(interface = %params.ifname, error = %e, "unusable DHCP lease");
                                report(DhcpEvent::Failed(e)).await;
                                break;
                            }
                        }
                    }
                    Ok(DhcpV4State::InitReboot) if bound => {
                        tracing::warn!(interface = %params.ifname, "DHCP lease expired");
                        bound = false;
                        saved = None;
                        report(DhcpEvent::Expired).await;
                    }
                    Ok(state) => tracing::debug!(interface = %params.ifname, %state, "DHCP state"),
                    Err(e) => {
                        tracing::info!(interface = %params.ifname, error = %e, "DHCP exchange failed");
                        if bound {
                            report(DhcpEvent::Expired).await;
                        }
                        report(DhcpEvent::Failed(e.to_string())).await;
                        saved = None;
                        break;
                    }
                },
            }
        }
        tokio::select! {
            _ = &mut stop => return saved,
            _ = tokio::time::sleep(retry) => retry = (retry * 2).min(RETRY_MAX),
        }
    }
}

async fn new_client(
    params: &DhcpParams,
    saved: Option<SavedLease>,
) -> Result<DhcpV4Client, String> {
    let mut config = DhcpV4Config::new(&params.ifname);
    config.set_iface_index(params.ifindex);
    config
        .set_iface_mac_raw(&params.mac)
        .map_err(|e| e.to_string())?;
    if !params.hostname.is_empty() {
        config.set_host_name(&params.hostname);
    }
    config.use_mac_as_client_id();
    // No mozim timeout: the engine owns connect timeouts.
    config.set_timeout_sec(0);
    // Domain search (119), NTP (42), MTU (26), classless routes (121) besides the defaults.
    config.request_extra_dhcp_opts(&[119, 42, 26, 121]);
    DhcpV4Client::init(config, saved.map(|s| *s.0))
        .await
        .map_err(|e| e.to_string())
}

/// Our view of a mozim lease; refuses what cannot be configured.
fn to_lease(l: &DhcpV4Lease) -> Result<Lease, String> {
    let address = l.yiaddr;
    if address.is_unspecified()
        || address.is_multicast()
        || address.is_broadcast()
        || address.is_loopback()
    {
        return Err(format!(
            "offered address {address} is not a unicast host address"
        ));
    }
    let mask = u32::from(l.subnet_mask);
    if mask.leading_ones() + mask.trailing_zeros() != 32 || mask == 0 {
        return Err(format!(
            "subnet mask {} is not a valid netmask",
            l.subnet_mask
        ));
    }
    let prefix_len = mask.leading_ones() as u8;
    let usable = |a: &&Ipv4Addr| {
        !a.is_unspecified() && !a.is_multicast() && !a.is_broadcast() && **a != address
    };
    let mut gateway = None;
    let mut routes = Vec::new();
    // RFC 3442: with option 121 present, the router option is ignored.
    if let Some(classless) = &l.classless_routes {
        for r in classless {
            if r.prefix_length == 0 {
                gateway = gateway.or(Some(r.router).filter(|g| usable(&g)));
            } else if r.prefix_length <= 32 {
                routes.push((r.destination, r.prefix_length, r.router));
            }
        }
    } else {
        gateway = l.gateways.iter().flatten().find(usable).copied();
    }
    let domains = match (&l.domain_search, &l.domain_name) {
        (Some(search), _) if !search.is_empty() => search.clone(),
        (_, Some(domain)) if !domain.is_empty() => vec![domain.clone()],
        _ => vec![],
    };
    let domains = domains
        .into_iter()
        .filter(|d| {
            crate::model::ServiceConfig {
                domains: vec![d.clone()],
                ..Default::default()
            }
            .validate()
            .is_ok()
        })
        .collect();
    Ok(Lease {
        address,
        prefix_len,
        gateway,
        routes,
        nameservers: l
            .dns_srvs
            .iter()
            .flatten()
            .filter(usable)
            .copied()
            .collect(),
        domains,
        timeservers: l
            .ntp_srvs
            .iter()
            .flatten()
            .filter(usable)
            .copied()
            .collect(),
        mtu: l.mtu.filter(|m| *m >= 576),
        lease_secs: l.lease_time_sec,
        server: l.srv_id,
    })
}
