//! The kernel side: what the kernel says about links, addresses and routes, and what
//! netpilot asks of it (DHCP, addresses, routes, DNS, online check).

pub mod apply;
pub mod counters;
pub mod dhcp;
pub mod dns;
pub mod ndopt;
pub mod netlink;
pub mod online;
pub mod resolv;
pub mod resolved;
pub mod steer;
