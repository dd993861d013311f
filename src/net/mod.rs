//! The kernel side: what the kernel says about links, addresses and routes.

pub mod netlink;
