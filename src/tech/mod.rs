//! Technology backends: each turns one external system into services.

pub mod ethernet;
