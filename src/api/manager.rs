//! ManagerService: reads come from the engine's published snapshot; changes go through
//! engine commands.

use std::pin::Pin;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::auth::caller;
use super::bounds;
use super::convert::{self, technology_kind};
use super::server::ConnHandle;
use super::session::Outlet;
use super::status::{invalid, not_supported};
use crate::engine::{EngineError, EngineHandle, Snapshot};
use crate::model::{ServiceUpdate, TechnologyKind};
use crate::pb;

/// Messages a WatchManager stream may queue before the client must read.
const WATCH_BUFFER: usize = 32;

/// Fields of a service UpdateService accepts in its mask.
const UPDATABLE_SERVICE_FIELDS: &[&str] = &[
    "autoconnect",
    "ipv4_config",
    "ipv6_config",
    "nameservers_config",
    "timeservers_config",
    "domains_config",
    "proxy_config",
    "eap_config",
    "connect_timeout",
    "idle_timeout",
    "admin_down_on_timeout",
    "metered",
];

/// The ManagerService implementation.
pub struct ManagerApi {
    engine: EngineHandle,
    stuck: Duration,
}

impl ManagerApi {
    /// Serves the engine behind `engine`; a WatchManager stream whose client takes no
    /// message for `stuck` is closed with its connection.
    pub fn new(engine: EngineHandle, stuck: Duration) -> Self {
        Self { engine, stuck }
    }

    fn service(&self, field: &str, id: &str) -> Result<pb::Service, Status> {
        bounds::service_id(field, id)?;
        if id.is_empty() {
            return Err(invalid(
                field,
                "a service id is required (see ListServices)",
            ));
        }
        self.engine
            .snapshot()
            .service(id)
            .map(Into::into)
            .ok_or_else(|| {
                EngineError::NotFound {
                    kind: "service",
                    id: id.to_string(),
                }
                .into()
            })
    }

    fn technology(
        &self,
        field: &str,
        value: i32,
    ) -> Result<(TechnologyKind, pb::Technology), Status> {
        let kind = technology_kind(field, value)?;
        match (self.engine.snapshot().technology(kind), kind) {
            (Some(t), _) => Ok((kind, t.into())),
            (None, TechnologyKind::Bluetooth | TechnologyKind::Cellular) => Err(not_supported(
                format!("the {kind} backend is not built yet"),
            )),
            (None, _) => Err(EngineError::FailedPrecondition {
                reason: "NotSupported",
                message: format!("no {kind} device is managed here: list it in managed_interfaces"),
            }
            .into()),
        }
    }
}

/// A technology filter: unspecified means every technology.
fn optional_technology(value: i32) -> Result<Option<TechnologyKind>, Status> {
    if value == pb::TechnologyType::Unspecified as i32 {
        return Ok(None);
    }
    technology_kind("type", value).map(Some)
}

fn snapshot_message(s: &Snapshot) -> pb::WatchManagerResponse {
    pb::WatchManagerResponse {
        event: Some(pb::watch_manager_response::Event::Snapshot(s.into())),
    }
}

/// Streams a snapshot, then events; a client that falls behind gets a fresh snapshot, and
/// one that takes nothing for `stuck` loses its connection.
fn watch(
    engine: EngineHandle,
    stuck: Duration,
    conn: Option<ConnHandle>,
    client: String,
) -> ReceiverStream<Result<pb::WatchManagerResponse, Status>> {
    let (tx, rx) = mpsc::channel(WATCH_BUFFER);
    let out = Outlet {
        tx,
        stuck,
        conn,
        client,
    };
    tokio::spawn(async move {
        let what = "WatchManager";
        let mut sub = engine.subscribe();
        'resync: loop {
            let mut seq = sub.snapshot.seq;
            match out.reserve(what).await {
                Ok(permit) => permit.send(Ok(snapshot_message(&sub.snapshot))),
                Err(_) => return,
            }
            loop {
                let batch = tokio::select! {
                    _ = out.tx.closed() => return,
                    _ = engine.stopping() => return,
                    batch = sub.events.recv() => batch,
                };
                match batch {
                    Ok(batch) if batch.seq <= seq => continue,
                    Ok(batch) => {
                        seq = batch.seq;
                        for message in convert::watch_responses(&batch) {
                            match out.reserve(what).await {
                                Ok(permit) => permit.send(Ok(message)),
                                Err(_) => return,
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::info!(missed = n, "watcher fell behind; sending a fresh snapshot");
                        sub = engine.subscribe();
                        continue 'resync;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        }
    });
    ReceiverStream::new(rx)
}

/// UpdateService's service and mask paths, bounded and present.
pub fn update_request(req: pb::UpdateServiceRequest) -> Result<(pb::Service, Vec<String>), Status> {
    let wanted = req
        .service
        .ok_or_else(|| invalid("service", "the service with its new values is required"))?;
    let paths = req.update_mask.map(|m| m.paths).unwrap_or_default();
    bounds::list("update_mask.paths", paths.len())?;
    for (i, p) in paths.iter().enumerate() {
        bounds::word(&format!("update_mask.paths[{i}]"), p)?;
    }
    bounds::service_id("service.id", &wanted.id)?;
    let proxy = wanted.proxy_config.clone().unwrap_or_default();
    bounds::text("service.proxy_config.url", &proxy.url, 2048)?;
    for (field, list) in [
        ("service.nameservers_config", &wanted.nameservers_config),
        ("service.timeservers_config", &wanted.timeservers_config),
        ("service.domains_config", &wanted.domains_config),
        ("service.proxy_config.servers", &proxy.servers),
        ("service.proxy_config.excludes", &proxy.excludes),
    ] {
        bounds::list(field, list.len())?;
        for (i, v) in list.iter().enumerate() {
            bounds::word(&format!("{field}[{i}]"), v)?;
        }
    }
    if paths.is_empty() {
        return Err(invalid(
            "update_mask",
            format!(
                "name the fields to change: {}",
                UPDATABLE_SERVICE_FIELDS.join(", ")
            ),
        ));
    }
    if wanted.id.is_empty() {
        return Err(invalid(
            "service.id",
            "a service id is required (see ListServices)",
        ));
    }
    Ok((wanted, paths))
}

/// The change UpdateService asks for: the fields `paths` name, taken from `wanted` and
/// converted. The engine merges it into the configuration it holds and checks the result
/// ([`crate::model::ServiceConfig::validate`]), so two updates of different fields never
/// undo each other and nothing is applied unless everything is valid.
pub fn service_update(wanted: &pb::Service, paths: &[String]) -> Result<ServiceUpdate, Status> {
    let mut update = ServiceUpdate::default();
    for (i, path) in paths.iter().enumerate() {
        match path.as_str() {
            "autoconnect" => update.autoconnect = Some(wanted.autoconnect),
            "metered" => update.metered = Some(wanted.metered),
            "ipv4_config" => {
                update.ipv4 = Some(convert::ipv4_config_from(wanted.ipv4_config.as_ref())?)
            }
            "ipv6_config" => {
                update.ipv6 = Some(convert::ipv6_config_from(wanted.ipv6_config.as_ref())?)
            }
            "nameservers_config" => {
                update.nameservers = Some(convert::nameservers_from(&wanted.nameservers_config)?)
            }
            "timeservers_config" => update.timeservers = Some(wanted.timeservers_config.clone()),
            "domains_config" => update.domains = Some(wanted.domains_config.clone()),
            "proxy_config" => {
                update.proxy = Some(convert::proxy_config_from(wanted.proxy_config.as_ref())?)
            }
            "eap_config" => {
                update.eap = Some(convert::eap_config_from(wanted.eap_config.as_ref())?)
            }
            "connect_timeout" => {
                update.connect_timeout = Some(convert::seconds_from(
                    "service.connect_timeout",
                    wanted.connect_timeout.as_ref(),
                )?)
            }
            "idle_timeout" => {
                update.idle_timeout = Some(convert::seconds_from(
                    "service.idle_timeout",
                    wanted.idle_timeout.as_ref(),
                )?)
            }
            "admin_down_on_timeout" => {
                update.admin_down_on_timeout = Some(wanted.admin_down_on_timeout)
            }
            other => {
                return Err(invalid(
                    format!("update_mask.paths[{i}]"),
                    format!(
                        "{other:?} cannot be changed; allowed: {}",
                        UPDATABLE_SERVICE_FIELDS.join(", ")
                    ),
                ))
            }
        }
    }
    Ok(update)
}

/// ConnectService's timeout: positive and below a day.
pub fn connect_timeout(t: Option<pbjson_types::Duration>) -> Result<Option<Duration>, Status> {
    match t {
        None => Ok(None),
        Some(d) if d.seconds < 0 || d.nanos < 0 || (d.seconds == 0 && d.nanos == 0) => {
            Err(invalid("timeout", "must be positive"))
        }
        Some(d) if d.seconds >= bounds::TIMEOUT_MAX_SECS || d.nanos >= 1_000_000_000 => {
            Err(invalid(
                "timeout",
                format!("must be below {} s", bounds::TIMEOUT_MAX_SECS),
            ))
        }
        Some(d) => Ok(Some(Duration::new(d.seconds as u64, d.nanos as u32))),
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchManagerResponse, Status>> + Send>>;

#[tonic::async_trait]
impl pb::manager_service_server::ManagerService for ManagerApi {
    async fn get_manager(
        &self,
        _: Request<pb::GetManagerRequest>,
    ) -> Result<Response<pb::GetManagerResponse>, Status> {
        let manager = Some((&self.engine.snapshot().manager).into());
        Ok(Response::new(pb::GetManagerResponse { manager }))
    }

    async fn update_manager(
        &self,
        req: Request<pb::UpdateManagerRequest>,
    ) -> Result<Response<pb::UpdateManagerResponse>, Status> {
        let manager = match req.into_inner().offline_mode {
            Some(on) => self.engine.set_offline_mode(on).await?,
            None => self.engine.snapshot().manager,
        };
        Ok(Response::new(pb::UpdateManagerResponse {
            manager: Some((&manager).into()),
        }))
    }

    type WatchManagerStream = WatchStream;

    async fn watch_manager(
        &self,
        req: Request<pb::WatchManagerRequest>,
    ) -> Result<Response<WatchStream>, Status> {
        let conn = req.extensions().get::<ConnHandle>().cloned();
        let client = match &conn {
            Some(c) => c.peer().to_string(),
            None => caller(&req)?.to_string(),
        };
        let stream = watch(self.engine.clone(), self.stuck, conn, client);
        Ok(Response::new(Box::pin(stream)))
    }

    async fn list_technologies(
        &self,
        _: Request<pb::ListTechnologiesRequest>,
    ) -> Result<Response<pb::ListTechnologiesResponse>, Status> {
        let technologies = self
            .engine
            .snapshot()
            .technologies
            .iter()
            .map(Into::into)
            .collect();
        Ok(Response::new(pb::ListTechnologiesResponse { technologies }))
    }

    async fn get_technology(
        &self,
        req: Request<pb::GetTechnologyRequest>,
    ) -> Result<Response<pb::GetTechnologyResponse>, Status> {
        let (_, technology) = self.technology("type", req.into_inner().r#type)?;
        Ok(Response::new(pb::GetTechnologyResponse {
            technology: Some(technology),
        }))
    }

    async fn update_technology(
        &self,
        req: Request<pb::UpdateTechnologyRequest>,
    ) -> Result<Response<pb::UpdateTechnologyResponse>, Status> {
        let req = req.into_inner();
        let (kind, mut technology) = self.technology("type", req.r#type)?;
        if let Some(c) = &req.country {
            bounds::word("country", c)?;
        }
        if req.tethering.is_some()
            || req.tethering_identifier.is_some()
            || req.tethering_passphrase.is_some()
        {
            let passphrase = req.tethering_passphrase.map(crate::model::Secret::new);
            let t = self
                .engine
                .update_tethering(kind, req.tethering, req.tethering_identifier, passphrase)
                .await?;
            technology = (&t).into();
        }
        if req.powered.is_none() && req.country.is_none() && req.ignored.is_none() {
            return Ok(Response::new(pb::UpdateTechnologyResponse {
                technology: Some(technology),
            }));
        }
        let technology = self
            .engine
            .update_technology(kind, req.powered, req.country, req.ignored)
            .await?;
        Ok(Response::new(pb::UpdateTechnologyResponse {
            technology: Some((&technology).into()),
        }))
    }

    async fn scan_technology(
        &self,
        req: Request<pb::ScanTechnologyRequest>,
    ) -> Result<Response<pb::ScanTechnologyResponse>, Status> {
        let kind = technology_kind("type", req.into_inner().r#type)?;
        self.engine.scan(kind).await?;
        Ok(Response::new(pb::ScanTechnologyResponse {}))
    }

    async fn list_services(
        &self,
        _: Request<pb::ListServicesRequest>,
    ) -> Result<Response<pb::ListServicesResponse>, Status> {
        let services = self
            .engine
            .snapshot()
            .services
            .iter()
            .map(Into::into)
            .collect();
        Ok(Response::new(pb::ListServicesResponse { services }))
    }

    async fn get_service(
        &self,
        req: Request<pb::GetServiceRequest>,
    ) -> Result<Response<pb::GetServiceResponse>, Status> {
        let service = self.service("service_id", &req.into_inner().service_id)?;
        Ok(Response::new(pb::GetServiceResponse {
            service: Some(service),
        }))
    }

    async fn connect_service(
        &self,
        req: Request<pb::ConnectServiceRequest>,
    ) -> Result<Response<pb::ConnectServiceResponse>, Status> {
        let req = req.into_inner();
        self.service("service_id", &req.service_id)?;
        let (credentials, name) = convert::credentials_from(req.credentials.as_ref())?;
        let timeout = connect_timeout(req.timeout)?;
        let service = self
            .engine
            .connect(req.service_id, timeout, credentials, name)
            .await?;
        Ok(Response::new(pb::ConnectServiceResponse {
            service: Some((&service).into()),
        }))
    }

    async fn disconnect_service(
        &self,
        req: Request<pb::DisconnectServiceRequest>,
    ) -> Result<Response<pb::DisconnectServiceResponse>, Status> {
        let id = req.into_inner().service_id;
        self.service("service_id", &id)?;
        self.engine.disconnect(id).await?;
        Ok(Response::new(pb::DisconnectServiceResponse {}))
    }

    async fn remove_service(
        &self,
        req: Request<pb::RemoveServiceRequest>,
    ) -> Result<Response<pb::RemoveServiceResponse>, Status> {
        let id = req.into_inner().service_id;
        self.service("service_id", &id)?;
        self.engine.remove(id).await?;
        Ok(Response::new(pb::RemoveServiceResponse {}))
    }

    async fn move_service(
        &self,
        req: Request<pb::MoveServiceRequest>,
    ) -> Result<Response<pb::MoveServiceResponse>, Status> {
        use pb::move_service_request::Target;
        let req = req.into_inner();
        bounds::service_id("service_id", &req.service_id)?;
        if req.service_id.is_empty() {
            return Err(invalid("service_id", "a service id is required"));
        }
        let (anchor, after) = match req.target {
            Some(Target::Before(id)) => (id, false),
            Some(Target::After(id)) => (id, true),
            None => return Err(invalid("target", "set before or after to a service id")),
        };
        bounds::service_id(if after { "after" } else { "before" }, &anchor)?;
        let services = self
            .engine
            .move_service(req.service_id, anchor, after)
            .await?;
        Ok(Response::new(pb::MoveServiceResponse {
            services: services.iter().map(Into::into).collect(),
        }))
    }

    async fn update_service(
        &self,
        req: Request<pb::UpdateServiceRequest>,
    ) -> Result<Response<pb::UpdateServiceResponse>, Status> {
        let req = req.into_inner();
        let (wanted, paths) = update_request(req)?;
        let update = service_update(&wanted, &paths)?;
        let service = self.engine.update_service(wanted.id, update).await?;
        Ok(Response::new(pb::UpdateServiceResponse {
            service: Some((&service).into()),
        }))
    }

    async fn report_connectivity(
        &self,
        req: Request<pb::ReportConnectivityRequest>,
    ) -> Result<Response<pb::ReportConnectivityResponse>, Status> {
        let id = req.into_inner().service_id;
        self.service("service_id", &id)?;
        self.engine.report_connectivity(id).await?;
        Ok(Response::new(pb::ReportConnectivityResponse {}))
    }

    async fn connect_all(
        &self,
        req: Request<pb::ConnectAllRequest>,
    ) -> Result<Response<pb::ConnectAllResponse>, Status> {
        let kind = optional_technology(req.into_inner().r#type)?;
        let ids = self.engine.connect_all(kind).await?;
        Ok(Response::new(pb::ConnectAllResponse {
            service_ids: ids.into_iter().map(|id| id.0).collect(),
        }))
    }

    async fn disconnect_all(
        &self,
        req: Request<pb::DisconnectAllRequest>,
    ) -> Result<Response<pb::DisconnectAllResponse>, Status> {
        let kind = optional_technology(req.into_inner().r#type)?;
        let ids = self.engine.disconnect_all(kind).await?;
        Ok(Response::new(pb::DisconnectAllResponse {
            service_ids: ids.into_iter().map(|id| id.0).collect(),
        }))
    }

    async fn list_interfaces(
        &self,
        _: Request<pb::ListInterfacesRequest>,
    ) -> Result<Response<pb::ListInterfacesResponse>, Status> {
        let interfaces = self
            .engine
            .snapshot()
            .interfaces
            .iter()
            .map(Into::into)
            .collect();
        Ok(Response::new(pb::ListInterfacesResponse { interfaces }))
    }

    async fn get_interface(
        &self,
        req: Request<pb::GetInterfaceRequest>,
    ) -> Result<Response<pb::GetInterfaceResponse>, Status> {
        let name = req.into_inner().name;
        bounds::ifname("name", &name)?;
        let interface = self
            .engine
            .snapshot()
            .interface(&name)
            .map(Into::into)
            .ok_or(EngineError::NotFound {
                kind: "interface",
                id: name,
            })?;
        Ok(Response::new(pb::GetInterfaceResponse {
            interface: Some(interface),
        }))
    }

    async fn update_interface(
        &self,
        req: Request<pb::UpdateInterfaceRequest>,
    ) -> Result<Response<pb::UpdateInterfaceResponse>, Status> {
        let req = req.into_inner();
        bounds::ifname("name", &req.name)?;
        let view = match req.ignored {
            Some(ignored) => self.engine.set_interface_ignored(req.name, ignored).await?,
            None => self.engine.snapshot().interface(&req.name).cloned().ok_or(
                EngineError::NotFound {
                    kind: "interface",
                    id: req.name,
                },
            )?,
        };
        Ok(Response::new(pb::UpdateInterfaceResponse {
            interface: Some((&view).into()),
        }))
    }
}
