//! Pure decisions: no I/O, no clocks. The engine feeds state in and applies what comes out.

pub mod autoconnect;
pub mod connection;
pub mod credentials;
pub mod order;
pub mod readiness;
pub mod session;
pub mod setup;
pub mod state;

#[cfg(test)]
pub(crate) mod fixtures;
