//! The gRPC API (DESIGN §3): ManagerService, SessionService, AgentService, plus
//! grpc.health.v1 and server reflection v1 and v1alpha, on a Unix socket and optionally on
//! loopback TCP.

mod agent;
mod caller;
pub mod convert;
mod manager;
mod session;
mod setup;
pub mod status;

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use tokio::net::{TcpListener, UnixListener};
use tokio_stream::wrappers::{TcpListenerStream, UnixListenerStream};
use tonic::service::Routes;
use tonic::transport::Server;

use crate::engine::EngineHandle;
use crate::pb;
use pb::agent_service_server::AgentServiceServer;
use pb::manager_service_server::ManagerServiceServer;
use pb::session_service_server::SessionServiceServer;
use pb::setup_service_server::SetupServiceServer;

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
    /// The server failed.
    #[error("serve gRPC on {what}")]
    Serve {
        /// The socket path or address.
        what: String,
        /// The cause.
        #[source]
        source: tonic::transport::Error,
    },
}

/// Binds the Unix socket: creates the directory, removes a stale socket file (one nobody
/// answers on: connecting is refused), and sets mode 0660 (DESIGN §4). A socket that still
/// answers is never removed: [`ServeError::InUse`].
pub fn bind_unix(path: &Path) -> Result<UnixListener, ServeError> {
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
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(err)?;
    Ok(listener)
}

async fn routes(engine: &EngineHandle) -> Result<Routes, ServeError> {
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

    let mut builder = Routes::builder();
    builder
        .add_service(ManagerServiceServer::new(manager::ManagerApi::new(
            engine.clone(),
        )))
        .add_service(SessionServiceServer::new(session::SessionApi::new(
            engine.clone(),
        )))
        .add_service(AgentServiceServer::new(agent::AgentApi::new(
            engine.clone(),
        )))
        .add_service(SetupServiceServer::new(setup::SetupApi::new(
            engine.clone(),
        )))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    Ok(builder.routes())
}

/// Serves the API on `unix` and, if given, `tcp` until `shutdown` resolves; then lets
/// in-flight calls finish.
pub async fn serve(
    engine: EngineHandle,
    unix: UnixListener,
    tcp: Option<TcpListener>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let routes = routes(&engine).await?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let unix_what = unix
        .local_addr()
        .ok()
        .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
        .unwrap_or_else(|| "unix socket".into());
    let unix_server = Server::builder()
        .add_routes(routes.clone())
        .serve_with_incoming_shutdown(UnixListenerStream::new(unix), stopped(stop_rx.clone()));
    let tcp_server = tcp.map(|l| {
        let what = l.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let server = Server::builder()
            .add_routes(routes)
            .serve_with_incoming_shutdown(TcpListenerStream::new(l), stopped(stop_rx));
        (what, server)
    });
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    match tcp_server {
        Some((tcp_what, tcp_server)) => {
            let (u, t) = tokio::join!(unix_server, tcp_server);
            u.map_err(|source| ServeError::Serve {
                what: unix_what,
                source,
            })?;
            t.map_err(|source| ServeError::Serve {
                what: tcp_what,
                source,
            })
        }
        None => unix_server.await.map_err(|source| ServeError::Serve {
            what: unix_what,
            source,
        }),
    }
}
