//! SetupService: the setup access point's state from the published snapshot; StartSetup and
//! StopSetup through engine commands.

use tonic::{Request, Response, Status};

use crate::engine::EngineHandle;
use crate::model::{ApRole, ApState, AttemptPhase, SetupStatus};
use crate::pb;

/// The SetupService implementation.
pub struct SetupApi {
    engine: EngineHandle,
}

impl SetupApi {
    /// Serves the engine behind `engine`.
    pub fn new(engine: EngineHandle) -> Self {
        Self { engine }
    }
}

impl From<ApState> for pb::AccessPointState {
    fn from(s: ApState) -> Self {
        match s {
            ApState::Closed => Self::Closed,
            ApState::Opening => Self::Opening,
            ApState::Open => Self::Open,
        }
    }
}

impl From<ApRole> for pb::AccessPointRole {
    fn from(r: ApRole) -> Self {
        match r {
            ApRole::Setup => Self::Setup,
            ApRole::Tethering => Self::Tethering,
        }
    }
}

impl From<&SetupStatus> for pb::Setup {
    fn from(s: &SetupStatus) -> Self {
        pb::Setup {
            state: pb::AccessPointState::from(s.state).into(),
            role: pb::AccessPointRole::from(s.role).into(),
            reason: s.reason.as_str().to_string(),
            mode: s.mode.as_str().to_string(),
            ssid: s.ssid.clone().unwrap_or_default(),
            interface: s.interface.clone().unwrap_or_default(),
            address: s
                .address
                .map(|(a, p)| format!("{a}/{p}"))
                .unwrap_or_default(),
            frequency: s.frequency.unwrap_or_default(),
            portal_url: s.portal_url.clone().unwrap_or_default(),
            clients: s.clients.clone(),
            concurrent: s.concurrent,
            error: s.error.clone().unwrap_or_default(),
            attempt: s.attempt.as_ref().map(|a| {
                let (phase, error, message) = match &a.phase {
                    AttemptPhase::Connecting => ("connecting", "", ""),
                    AttemptPhase::Ready => ("ready", "", ""),
                    AttemptPhase::Online => ("online", "", ""),
                    AttemptPhase::Failed { reason, message } => {
                        ("failed", reason.as_str(), message.as_str())
                    }
                };
                pb::SetupAttempt {
                    service_id: a.service.0.clone(),
                    name: a.name.clone(),
                    phase: phase.into(),
                    error: error.into(),
                    message: message.into(),
                }
            }),
        }
    }
}

#[tonic::async_trait]
impl pb::setup_service_server::SetupService for SetupApi {
    async fn get_setup(
        &self,
        _: Request<pb::GetSetupRequest>,
    ) -> Result<Response<pb::GetSetupResponse>, Status> {
        Ok(Response::new(pb::GetSetupResponse {
            setup: Some((&self.engine.snapshot().setup).into()),
        }))
    }

    async fn start_setup(
        &self,
        _: Request<pb::StartSetupRequest>,
    ) -> Result<Response<pb::StartSetupResponse>, Status> {
        let status = self.engine.start_setup().await?;
        Ok(Response::new(pb::StartSetupResponse {
            setup: Some((&status).into()),
        }))
    }

    async fn stop_setup(
        &self,
        _: Request<pb::StopSetupRequest>,
    ) -> Result<Response<pb::StopSetupResponse>, Status> {
        let status = self.engine.stop_setup().await?;
        Ok(Response::new(pb::StopSetupResponse {
            setup: Some((&status).into()),
        }))
    }
}
