//! Who is calling, from the transport: SO_PEERCRED on the Unix socket, the peer address on
//! loopback TCP.

use tonic::transport::server::UdsConnectInfo;
use tonic::Request;

use crate::engine::Caller;

/// The caller of a request.
pub fn caller<T>(req: &Request<T>) -> Caller {
    if let Some(cred) = req
        .extensions()
        .get::<UdsConnectInfo>()
        .and_then(|i| i.peer_cred)
    {
        return Caller::Local {
            uid: cred.uid(),
            gid: cred.gid(),
            pid: cred.pid(),
        };
    }
    match req.remote_addr() {
        Some(addr) => Caller::LoopbackTcp(addr),
        None => Caller::Unknown,
    }
}
