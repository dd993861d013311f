use std::net::Ipv4Addr;
use std::time::Instant;

/// A DHCPv4 lease as netpilot uses it (RFC 2131 §3, options from RFC 2132 and RFC 3442).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Our address (yiaddr).
    pub address: Ipv4Addr,
    /// Prefix length from the subnet mask (option 1), 1..=32.
    pub prefix_len: u8,
    /// Default gateway (option 3, or the 0.0.0.0/0 entry of option 121).
    pub gateway: Option<Ipv4Addr>,
    /// Classless static routes other than the default (option 121): destination, prefix
    /// length, next hop.
    pub routes: Vec<(Ipv4Addr, u8, Ipv4Addr)>,
    /// Nameservers (option 6).
    pub nameservers: Vec<Ipv4Addr>,
    /// Search domains: option 119, else the domain name (option 15).
    pub domains: Vec<String>,
    /// NTP servers (option 42).
    pub timeservers: Vec<Ipv4Addr>,
    /// Proxy auto-configuration URL (option 252), an http or https URL.
    pub proxy_url: Option<String>,
    /// Interface MTU (option 26).
    pub mtu: Option<u16>,
    /// Lease time in seconds (option 51); `u32::MAX` is infinite.
    pub lease_secs: u32,
    /// Renewal time T1 in seconds from `acquired` (option 58, default 0.5 × lease,
    /// RFC 2131 §4.4.5); `u32::MAX` with an infinite lease.
    pub t1_secs: u32,
    /// Rebinding time T2 in seconds from `acquired` (option 59, default 0.875 × lease);
    /// `u32::MAX` with an infinite lease.
    pub t2_secs: u32,
    /// When the lease started: the moment the DHCPREQUEST that got it was first sent
    /// (RFC 2131 §4.4.1), on the monotonic clock.
    pub acquired: Instant,
    /// Server identifier (option 54).
    pub server: Ipv4Addr,
}
