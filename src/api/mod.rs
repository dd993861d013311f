//! The gRPC API (DESIGN §3): ManagerService, SessionService, AgentService, plus
//! grpc.health.v1 and server reflection v1 and v1alpha, on a Unix socket and optionally on
//! loopback TCP.

mod agent;
pub mod auth;
pub mod bounds;
pub mod codec;
pub mod convert;
pub mod fuzz;
mod manager;
pub mod server;
mod session;
mod setup;
pub mod status;
pub mod tls;

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use tokio::net::{TcpListener, UnixListener};
use tonic::service::Routes;

use crate::access::AccessMap;
use crate::engine::EngineHandle;
use crate::pb;
use pb::agent_service_server::AgentServiceServer;
use pb::manager_service_server::ManagerServiceServer;
use pb::session_service_server::SessionServiceServer;
use pb::setup_service_server::SetupServiceServer;
pub use server::ServeLimits;

/// Why the API could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Binding or preparing a listener failed.
    #[error("listen on {what}")]
    Listen {
        /// The socket path or address.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Another process answers on the socket path: it is not stale, so it stays.
    #[error("{path} answers: another daemon serves on it; refusing to take it over")]
    InUse {
        /// The socket path.
        path: String,
    },
    /// Reflection could not load the descriptors.
    #[error("build server reflection")]
    Reflection(#[source] tonic_reflection::server::Error),
}

/// Binds the Unix socket: creates the directory, removes a stale socket file (one nobody
/// answers on: connecting is refused), and sets the mode and the group (`[api]
/// socket_mode`, `socket_group`; DESIGN §4). A socket that still answers is never removed:
/// [`ServeError::InUse`].
pub fn bind_unix(path: &Path, mode: u32, group: Option<u32>) -> Result<UnixListener, ServeError> {
    let err = |source| ServeError::Listen {
        what: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => {
            return Err(ServeError::InUse {
                path: path.display().to_string(),
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            std::fs::remove_file(path).map_err(err)?;
            tracing::info!(path = %path.display(), "removed a stale socket");
        }
        Err(e) => return Err(err(e)),
    }
    let listener = UnixListener::bind(path).map_err(err)?;
    if group.is_some() {
        std::os::unix::fs::chown(path, None, group).map_err(err)?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(err)?;
    Ok(listener)
}

async fn routes(engine: &EngineHandle, limits: &ServeLimits) -> Result<Routes, ServeError> {
    // Both reflection versions list both, so `grpcurl list` shows everything served.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .include_reflection_service(false)
            .register_encoded_file_descriptor_set(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(
                tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
            )
            .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection().build_v1().map_err(ServeError::Reflection)?;
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .map_err(ServeError::Reflection)?;
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<ManagerServiceServer<manager::ManagerApi>>()
        .await;
    health
        .set_serving::<SessionServiceServer<session::SessionApi>>()
        .await;
    health
        .set_serving::<AgentServiceServer<agent::AgentApi>>()
        .await;
    health
        .set_serving::<SetupServiceServer<setup::SetupApi>>()
        .await;

    let max = limits.max_message_bytes;
    let mut builder = Routes::builder();
    builder
        .add_service(
            ManagerServiceServer::new(manager::ManagerApi::new(
                engine.clone(),
                limits.stuck_timeout,
            ))
            .max_decoding_message_size(max),
        )
        .add_service(
            SessionServiceServer::new(session::SessionApi::new(
                engine.clone(),
                limits.stuck_timeout,
            ))
            .max_decoding_message_size(max),
        )
        .add_service(
            AgentServiceServer::new(agent::AgentApi::new(engine.clone()))
                .max_decoding_message_size(max),
        )
        .add_service(
            SetupServiceServer::new(setup::SetupApi::new(engine.clone()))
                .max_decoding_message_size(max),
        )
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    Ok(builder.routes())
}

/// The listeners to serve.
pub struct Listeners {
    /// The Unix socket.
    pub unix: UnixListener,
    /// Plain TCP on loopback (development, `[api] insecure_loopback`).
    pub loopback: Option<TcpListener>,
    /// The mutual-TLS listener and its certificates.
    pub tls: Option<(TcpListener, Arc<tls::TlsState>)>,
}

/// Serves the API on every listener until `shutdown` resolves; then sends every
/// connection a GOAWAY and returns once they have closed (the caller bounds the wait).
/// Every call passes [`auth::Auth`]: the caller's role from `access`, and `limits`.
pub async fn serve(
    engine: EngineHandle,
    listeners: Listeners,
    access: AccessMap,
    limits: ServeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let routes = routes(&engine, &limits).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let shared = Arc::new(server::Shared {
        routes,
        access,
        counters: Arc::new(auth::Counters::new(limits.auth)),
        limits,
        stop: stop_rx,
    });
    let mut accepts = vec![tokio::spawn(server::accept_unix(
        listeners.unix,
        shared.clone(),
    ))];
    if let Some(l) = listeners.loopback {
        accepts.push(tokio::spawn(server::accept_loopback(l, shared.clone())));
    }
    if let Some((l, tls)) = listeners.tls {
        accepts.push(tokio::spawn(server::accept_tls(l, tls, shared.clone())));
    }
    drop(shared);
    shutdown.await;
    let _ = stop_tx.send(true);
    for a in accepts {
        let _ = a.await;
    }
    // Every connection holds a receiver; they close after their GOAWAY.
    stop_tx.closed().await;
    Ok(())
}
