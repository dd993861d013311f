//! netpilot: a connection manager for robots and other Linux devices.
//!
//! Data flows one way through the modules: kernel and technology backends ([`net`],
//! [`tech`]) send events to the [`engine`], which owns all state and asks [`policy`] (pure
//! functions over [`model`] types) what the world should look like; the [`api`] serves the
//! engine's snapshots and commands over gRPC.

pub mod access;
pub mod api;
pub mod certs;
pub mod config;
pub mod daemon;
pub mod engine;
pub mod model;
pub mod net;
pub mod policy;
pub mod portal;
pub mod setup;
pub mod store;
pub mod tech;

/// Generated protobuf and gRPC code for package `netpilot.v1`.
pub mod pb {
    #![allow(missing_docs, clippy::all)]
    tonic::include_proto!("netpilot.v1");
    include!(concat!(env!("OUT_DIR"), "/netpilot.v1.serde.rs"));

    /// Encoded `FileDescriptorSet` of the netpilot protos, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/netpilot_descriptor.bin"));
}
