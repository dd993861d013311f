//! What the client accepts from a server, and the lease file that lets INIT-REBOOT work
//! across daemon restarts (RFC 2131 §3.2).
//!
//! [`check`] turns an OFFER or ACK into a [`Lease`] or a [`Refusal`]. Every decision about a
//! hostile or broken value is made here and named in a warning or in the refusal's reason;
//! the constants below are the documented caps and minimums.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::options::Reply;
use crate::config::ClasslessRoutes;
use crate::model::{validate_pac_url, Lease, ServiceConfig};

/// Shortest lease accepted, seconds. A shorter one leaves no room for a renewal at T1
/// (half the lease) and its retransmission, and would have the client send a packet every
/// few seconds for ever; such an offer is reported as a failure the user sees.
pub const MIN_LEASE_SECS: u32 = 8;
/// Nameservers kept: glibc's resolver reads only the first three (`MAXNS`).
pub const MAX_NAMESERVERS: usize = 3;
/// NTP servers kept (option 42).
pub const MAX_TIMESERVERS: usize = 4;
/// Search domains kept (glibc's historical `MAXDNSRCH`).
pub const MAX_DOMAINS: usize = 6;
/// Classless static routes kept (option 121).
pub const MAX_ROUTES: usize = 32;
/// Smallest MTU taken from option 26: RFC 2132 §5.1 says 68, but a DHCP client must be able
/// to receive 576-byte messages (RFC 2131 §2), so a link below 576 could not renew.
pub const MIN_MTU: u16 = 576;
/// With `no-default-override`, option-121 routes shorter than this prefix length are
/// dropped: they take a large share of the address space away from the default route
/// (TunnelVision, CVE-2024-3661, pushes 0.0.0.0/1 and 128.0.0.0/1).
pub const MIN_ROUTE_PREFIX: u8 = 8;

/// A usable lease and what was dropped or adjusted on the way, one warning each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The lease.
    pub lease: Lease,
    /// One line per dropped or adjusted value.
    pub warnings: Vec<String>,
}

/// Why a reply cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// For the user and the log.
    pub reason: String,
    /// The address itself is unusable: tell the server with DHCPDECLINE (RFC 2131 §4.4.1).
    pub decline: bool,
}

fn refuse(reason: String) -> Refusal {
    Refusal {
        reason,
        decline: false,
    }
}

/// Checks an OFFER or ACK. `acquired` is when the REQUEST was first sent; `known_server`
/// stands in for a missing option 54 in an ACK to a renewal.
///
/// Errors: a [`Refusal`] naming the value and the rule, for an address that is not a host
/// address of its subnet, a missing or unusable mask, a missing server identifier or lease
/// time, or a lease shorter than [`MIN_LEASE_SECS`].
pub fn check(
    reply: &Reply,
    classless: ClasslessRoutes,
    acquired: Instant,
    known_server: Option<Ipv4Addr>,
) -> Result<Checked, Refusal> {
    let mut warnings = Vec::new();
    let address = reply.yiaddr;
    if let Some(why) = not_unicast(address) {
        return Err(refuse(format!("offered address {address} is {why}")));
    }
    let server = reply
        .server_id
        .or(known_server)
        .ok_or_else(|| refuse("reply has no server identifier (option 54)".into()))?;

    let prefix_len = match reply.mask {
        None => {
            let p = classful_prefix(address);
            warnings.push(format!(
                "no subnet mask (option 1): using the classful /{p} for {address}"
            ));
            p
        }
        Some(mask) => {
            let m = u32::from(mask);
            if m.leading_ones() + m.trailing_zeros() != 32 {
                return Err(refuse(format!("subnet mask {mask} is not contiguous")));
            }
            if m == 0 {
                return Err(refuse(
                    "subnet mask 0.0.0.0 (/0) would put every IPv4 address on-link".into(),
                ));
            }
            m.leading_ones() as u8
        }
    };
    let net = Subnet::new(address, prefix_len);
    if let Some(why) = net.special(address) {
        return Err(Refusal {
            reason: format!("offered address {address} is {why}"),
            decline: true,
        });
    }
    if address == server {
        return Err(Refusal {
            reason: format!("offered address {address} is the DHCP server's own address"),
            decline: true,
        });
    }

    let lease_secs = reply
        .lease_secs
        .ok_or_else(|| refuse("reply has no lease time (option 51)".into()))?;
    if lease_secs < MIN_LEASE_SECS {
        return Err(refuse(format!(
            "lease time {lease_secs} s is below the minimum of {MIN_LEASE_SECS} s"
        )));
    }
    let (t1_secs, t2_secs) = timers(lease_secs, reply.t1, reply.t2, &mut warnings);

    let unusable = |a: Ipv4Addr| -> Option<String> {
        if let Some(why) = not_unicast(a) {
            return Some(why.to_string());
        }
        if a == address {
            return Some("our own address".into());
        }
        net.special(a).map(str::to_string)
    };

    let mut gateway = None;
    let mut routes = Vec::new();
    let use_classless = match (&reply.classless, classless) {
        (Some(_), ClasslessRoutes::Ignore) => {
            warnings.push(
                "classless static routes (option 121) ignored: [dhcp] classless_routes = \"ignore\""
                    .into(),
            );
            false
        }
        (Some(_), _) => true,
        (None, _) => false,
    };
    if use_classless {
        // RFC 3442 §3: with option 121 the router option is ignored.
        for &(dst, plen, via) in reply.classless.iter().flatten() {
            let route = format!("route {dst}/{plen} via {via}");
            if !via.is_unspecified() {
                if let Some(why) = unusable(via) {
                    warnings.push(format!("{route} dropped: the next hop is {why}"));
                    continue;
                }
            }
            if plen == 0 {
                if via.is_unspecified() {
                    warnings.push(format!("{route} dropped: a default route needs a router"));
                } else if gateway.is_none() {
                    gateway = Some(via);
                }
                continue;
            }
            if classless == ClasslessRoutes::NoDefaultOverride && plen < MIN_ROUTE_PREFIX {
                warnings.push(format!(
                    "{route} dropped: it would override the default route for a large part of the \
                     address space (TunnelVision); [dhcp] classless_routes = \"accept\" allows it"
                ));
                continue;
            }
            routes.push((dst, plen, via));
        }
    } else {
        for &r in &reply.routers {
            match unusable(r) {
                Some(why) => warnings.push(format!("router {r} refused: it is {why}")),
                None if gateway.is_none() => gateway = Some(r),
                None => {}
            }
        }
    }
    if let (Some(g), ClasslessRoutes::NoDefaultOverride) = (gateway, classless) {
        routes.retain(|&(dst, plen, via)| {
            let covers = Subnet::new(dst, plen).contains(g) && !via.is_unspecified();
            if covers {
                warnings.push(format!(
                    "route {dst}/{plen} via {via} dropped: it covers the gateway {g}"
                ));
            }
            !covers
        });
    }
    if routes.len() > MAX_ROUTES {
        warnings.push(format!(
            "{} classless routes offered; using the first {MAX_ROUTES}",
            routes.len()
        ));
        routes.truncate(MAX_ROUTES);
    }
    if let Some(g) = gateway {
        if !net.contains(g) {
            warnings.push(format!(
                "router {g} is outside {}/{prefix_len}; it is reached on-link through a host route",
                net.network
            ));
        }
    }

    let nameservers = servers(
        &reply.dns,
        "nameserver",
        MAX_NAMESERVERS,
        &unusable,
        &mut warnings,
    );
    if reply.dns.len() > MAX_NAMESERVERS {
        warnings.push(format!(
            "{} nameservers offered; using the first {MAX_NAMESERVERS} (glibc reads {MAX_NAMESERVERS})",
            reply.dns.len()
        ));
    }
    let timeservers = servers(
        &reply.ntp,
        "NTP server",
        MAX_TIMESERVERS,
        &unusable,
        &mut warnings,
    );

    let offered: Vec<String> = if !reply.search.is_empty() {
        reply.search.clone()
    } else {
        reply.domain_name.iter().cloned().collect()
    };
    let mut domains = Vec::new();
    for d in offered {
        let valid = ServiceConfig {
            domains: vec![d.clone()],
            ..Default::default()
        }
        .validate()
        .is_ok();
        if !valid {
            warnings.push(format!("domain {d:?} refused: not a domain name"));
        } else if domains.len() == MAX_DOMAINS {
            warnings.push(format!(
                "domain {d:?} dropped: at most {MAX_DOMAINS} are kept"
            ));
        } else {
            domains.push(d);
        }
    }

    let proxy_url = reply
        .wpad
        .as_ref()
        .and_then(|url| match validate_pac_url("option 252", url) {
            Ok(()) => Some(url.clone()),
            Err(e) => {
                warnings.push(format!("proxy URL refused: {}", e.message));
                None
            }
        });

    let mtu = match reply.mtu {
        Some(m) if m < MIN_MTU => {
            warnings.push(format!(
                "MTU {m} (option 26) ignored: below the minimum of {MIN_MTU} (RFC 2132 §5.1, RFC 2131 §2)"
            ));
            None
        }
        other => other,
    };

    Ok(Checked {
        lease: Lease {
            address,
            prefix_len,
            gateway,
            routes,
            nameservers,
            domains,
            timeservers,
            proxy_url,
            mtu,
            lease_secs,
            t1_secs,
            t2_secs,
            acquired,
            server,
        },
        warnings,
    })
}

/// T1 and T2 from the reply, or RFC 2131 §4.4.5's defaults (0.5 and 0.875 of the lease)
/// when missing or not `0 < T1 < T2 < lease`.
fn timers(lease: u32, t1: Option<u32>, t2: Option<u32>, warnings: &mut Vec<String>) -> (u32, u32) {
    if lease == u32::MAX {
        return (u32::MAX, u32::MAX);
    }
    let d1 = lease / 2;
    let d2 = (u64::from(lease) * 7 / 8) as u32;
    let (t1v, t2v) = (t1.unwrap_or(d1), t2.unwrap_or(d2));
    if 0 < t1v && t1v < t2v && t2v < lease {
        (t1v, t2v)
    } else {
        warnings.push(format!(
            "T1 {t1v} s and T2 {t2v} s do not fit a {lease} s lease; using {d1} s and {d2} s"
        ));
        (d1, d2)
    }
}

fn servers(
    offered: &[Ipv4Addr],
    what: &str,
    cap: usize,
    unusable: &impl Fn(Ipv4Addr) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Vec<Ipv4Addr> {
    let mut kept = Vec::new();
    for &a in offered {
        if let Some(why) = unusable(a) {
            warnings.push(format!("{what} {a} refused: it is {why}"));
        } else if kept.len() < cap && !kept.contains(&a) {
            kept.push(a);
        }
    }
    kept
}

/// Why an address cannot be a host's or a router's, if it cannot.
fn not_unicast(a: Ipv4Addr) -> Option<&'static str> {
    if a.is_unspecified() || a.octets()[0] == 0 {
        Some("in 0.0.0.0/8, not a host address")
    } else if a.is_loopback() {
        Some("a loopback address")
    } else if a.is_broadcast() {
        Some("the limited broadcast address")
    } else if a.is_multicast() {
        Some("a multicast address")
    } else if a.octets()[0] >= 240 {
        Some("in the reserved 240.0.0.0/4")
    } else {
        None
    }
}

/// RFC 791's classes, for a reply without a mask (RFC 2131 §2 leaves that to the client).
fn classful_prefix(a: Ipv4Addr) -> u8 {
    match a.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    }
}

/// An IPv4 subnet.
#[derive(Debug, Clone, Copy)]
struct Subnet {
    network: Ipv4Addr,
    mask: u32,
    prefix_len: u8,
}

impl Subnet {
    fn new(address: Ipv4Addr, prefix_len: u8) -> Self {
        let mask = u32::MAX
            .checked_shl(32 - u32::from(prefix_len.min(32)))
            .unwrap_or(0);
        Subnet {
            network: Ipv4Addr::from(u32::from(address) & mask),
            mask,
            prefix_len,
        }
    }

    fn contains(&self, a: Ipv4Addr) -> bool {
        u32::from(a) & self.mask == u32::from(self.network)
    }

    /// The subnet's own network or broadcast address (on /0../30; /31 and /32 have none).
    fn special(&self, a: Ipv4Addr) -> Option<&'static str> {
        if self.prefix_len > 30 || !self.contains(a) {
            return None;
        }
        let network = u32::from(self.network);
        if u32::from(a) == network {
            Some("the subnet's network address")
        } else if u32::from(a) == network | !self.mask {
            Some("the subnet's broadcast address")
        } else {
            None
        }
    }
}

/// The lease file: the last lease, kept so that the next start can ask for the same
/// address with INIT-REBOOT (RFC 2131 §3.2), also after a daemon restart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredLease {
    /// Format version, 1.
    pub version: u32,
    /// The address.
    pub address: Ipv4Addr,
    /// The server that granted it.
    pub server: Ipv4Addr,
    /// Lease time, seconds (`u32::MAX` infinite).
    pub lease_secs: u32,
    /// Wall-clock start of the lease, milliseconds since the Unix epoch.
    pub acquired_unix_ms: u64,
    /// Option 61 it was granted to, hex: another identity must not reuse it.
    pub client_id: String,
}

/// The previous lease as the next start uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Previous {
    /// The address to ask for.
    pub address: Ipv4Addr,
    /// Still within its lease time: INIT-REBOOT; else only a hint in DISCOVER (option 50).
    pub valid: bool,
}

/// Hex of a byte string.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl StoredLease {
    /// The file's record of `lease`, granted to `client_id`, started at wall clock `started`.
    pub fn new(lease: &Lease, client_id: &[u8], started: SystemTime) -> Self {
        StoredLease {
            version: 1,
            address: lease.address,
            server: lease.server,
            lease_secs: lease.lease_secs,
            acquired_unix_ms: started
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            client_id: hex(client_id),
        }
    }

    /// What a start at wall clock `now` with identity `client_id` may do with it; `None`
    /// when it belongs to another identity or another format.
    pub fn previous(&self, client_id: &[u8], now: SystemTime) -> Option<Previous> {
        if self.version != 1
            || self.client_id != hex(client_id)
            || not_unicast(self.address).is_some()
        {
            return None;
        }
        let started = SystemTime::UNIX_EPOCH + Duration::from_millis(self.acquired_unix_ms);
        let valid = self.lease_secs == u32::MAX
            || now
                .duration_since(started)
                .is_ok_and(|age| age < Duration::from_secs(u64::from(self.lease_secs)));
        Some(Previous {
            address: self.address,
            valid,
        })
    }
}

/// Why the lease file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LeaseFileError {
    /// Reading or writing failed.
    #[error("{action} lease file {path}")]
    Io {
        /// read, write, remove.
        action: &'static str,
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The content is not a lease file.
    #[error("parse lease file {path}")]
    Parse {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

/// Reads the lease file; `Ok(None)` when there is none.
///
/// Errors: [`LeaseFileError`] when it exists but cannot be read or parsed.
pub fn load(path: &Path) -> Result<Option<StoredLease>, LeaseFileError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(LeaseFileError::Io {
                action: "read",
                path: path.display().to_string(),
                source,
            })
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| LeaseFileError::Parse {
            path: path.display().to_string(),
            source,
        })
}

/// Writes the lease file atomically (temp file, fsync, rename), creating its directory.
///
/// Errors: [`LeaseFileError::Io`].
pub fn save(path: &Path, stored: &StoredLease) -> Result<(), LeaseFileError> {
    let io = |source| LeaseFileError::Io {
        action: "write",
        path: path.display().to_string(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("tmp");
    let text = serde_json::to_vec_pretty(stored).map_err(|e| io(std::io::Error::other(e)))?;
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(&text).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Removes the lease file (after a NAK, an expiry or a release); no file is fine.
///
/// Errors: [`LeaseFileError::Io`].
pub fn forget(path: &Path) -> Result<(), LeaseFileError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(LeaseFileError::Io {
            action: "remove",
            path: path.display().to_string(),
            source: e,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::dhcp::options::ReplyKind;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().expect("ip")
    }

    /// A sane ACK: 198.18.6.30/24, router and DNS .1, one hour.
    pub(crate) fn ack() -> Reply {
        Reply {
            kind: ReplyKind::Ack,
            xid: 1,
            yiaddr: ip("198.18.6.30"),
            source_mac: None,
            server_id: Some(ip("198.18.6.1")),
            mask: Some(ip("255.255.255.0")),
            routers: vec![ip("198.18.6.1")],
            dns: vec![ip("198.18.6.53")],
            domain_name: Some("lab.example".into()),
            search: vec![],
            ntp: vec![],
            wpad: None,
            mtu: None,
            lease_secs: Some(3600),
            t1: None,
            t2: None,
            classless: None,
            message: None,
            problems: vec![],
        }
    }

    fn run(reply: &Reply, policy: ClasslessRoutes) -> Result<Checked, Refusal> {
        check(reply, policy, Instant::now(), None)
    }

    #[test]
    fn a_sane_ack_gives_its_lease_with_default_timers() {
        let c = run(&ack(), ClasslessRoutes::NoDefaultOverride).expect("usable");
        let l = &c.lease;
        assert_eq!(
            (l.address, l.prefix_len, l.gateway),
            (ip("198.18.6.30"), 24, Some(ip("198.18.6.1")))
        );
        assert_eq!((l.lease_secs, l.t1_secs, l.t2_secs), (3600, 1800, 3150));
        assert_eq!(l.domains, vec!["lab.example"]);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    /// (what the server does, refusal reason or the warning it must produce)
    #[test]
    fn hostile_values_are_refused_or_dropped_with_a_reason() {
        type Case = (
            &'static str,
            fn(&mut Reply),
            Result<&'static str, &'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                "lease 0",
                |r| r.lease_secs = Some(0),
                Err("lease time 0 s is below the minimum of 8 s"),
            ),
            (
                "lease 1",
                |r| r.lease_secs = Some(1),
                Err("lease time 1 s is below the minimum of 8 s"),
            ),
            (
                "no lease time",
                |r| r.lease_secs = None,
                Err("no lease time (option 51)"),
            ),
            (
                "broadcast",
                |r| r.yiaddr = ip("198.18.6.255"),
                Err("the subnet's broadcast address"),
            ),
            (
                "network",
                |r| r.yiaddr = ip("198.18.6.0"),
                Err("the subnet's network address"),
            ),
            (
                "server's own",
                |r| r.yiaddr = ip("198.18.6.1"),
                Err("the DHCP server's own address"),
            ),
            (
                "loopback",
                |r| r.yiaddr = ip("127.0.0.5"),
                Err("a loopback address"),
            ),
            ("/0", |r| r.mask = Some(ip("0.0.0.0")), Err("/0")),
            (
                "holes",
                |r| r.mask = Some(ip("255.0.255.0")),
                Err("not contiguous"),
            ),
            ("no server id", |r| r.server_id = None, Err("option 54")),
            (
                "router 127.0.0.1",
                |r| r.routers = vec![ip("127.0.0.1")],
                Ok("router 127.0.0.1 refused: it is a loopback address"),
            ),
            (
                "router = our address",
                |r| r.routers = vec![ip("198.18.6.30")],
                Ok("our own address"),
            ),
            (
                "router outside",
                |r| r.routers = vec![ip("198.18.7.1")],
                Ok("outside 198.18.6.0/24"),
            ),
            (
                "63 nameservers",
                |r| {
                    r.dns = (1..=63)
                        .map(|i| Ipv4Addr::new(198, 18, 6, i + 100))
                        .collect()
                },
                Ok("63 nameservers offered; using the first 3"),
            ),
            (
                "MTU 68",
                |r| r.mtu = Some(68),
                Ok("MTU 68 (option 26) ignored"),
            ),
            (
                "T1 > T2",
                |r| {
                    r.t1 = Some(3000);
                    r.t2 = Some(2000)
                },
                Ok("do not fit"),
            ),
            ("no mask", |r| r.mask = None, Ok("classful /24")),
            (
                "PAC URL not http",
                |r| r.wpad = Some("file:///etc/shadow".into()),
                Ok("proxy URL refused"),
            ),
            (
                "PAC URL relative",
                |r| r.wpad = Some("wpad.dat".into()),
                Ok("proxy URL refused"),
            ),
            (
                "bad domain",
                |r| r.domain_name = Some("no way".into()),
                Ok("not a domain name"),
            ),
        ];
        for (name, change, want) in cases {
            let mut r = ack();
            change(&mut r);
            match (run(&r, ClasslessRoutes::NoDefaultOverride), want) {
                (Err(refusal), Err(reason)) => {
                    assert!(refusal.reason.contains(reason), "{name}: {refusal:?}")
                }
                (Ok(c), Ok(warning)) => assert!(
                    c.warnings.iter().any(|w| w.contains(warning)),
                    "{name}: {:?}",
                    c.warnings
                ),
                (got, _) => panic!("{name}: {got:?}"),
            }
        }
        let mut r = ack();
        r.dns = (1..=63)
            .map(|i| Ipv4Addr::new(198, 18, 6, i + 100))
            .collect();
        assert_eq!(
            run(&r, ClasslessRoutes::Accept)
                .expect("ok")
                .lease
                .nameservers
                .len(),
            3
        );
        r.routers = vec![ip("127.0.0.1")];
        assert_eq!(
            run(&r, ClasslessRoutes::Accept).expect("ok").lease.gateway,
            None
        );
        let decline = |r: &Reply| {
            run(r, ClasslessRoutes::Accept)
                .expect_err("refused")
                .decline
        };
        let mut b = ack();
        b.yiaddr = ip("198.18.6.255");
        assert!(decline(&b));
        let mut z = ack();
        z.lease_secs = Some(1);
        assert!(!decline(&z));
    }

    #[test]
    fn infinite_leases_and_slash_32_are_fine() {
        let mut r = ack();
        r.lease_secs = Some(u32::MAX);
        r.mask = Some(ip("255.255.255.255"));
        let c = run(&r, ClasslessRoutes::NoDefaultOverride).expect("usable");
        assert_eq!(
            (c.lease.t1_secs, c.lease.t2_secs, c.lease.prefix_len),
            (u32::MAX, u32::MAX, 32)
        );
    }

    #[test]
    fn classless_routes_follow_the_policy() {
        let mut r = ack();
        r.routers = vec![ip("198.18.6.254")];
        r.classless = Some(vec![
            (ip("0.0.0.0"), 0, ip("198.18.6.1")),
            (ip("0.0.0.0"), 1, ip("198.18.6.66")),
            (ip("128.0.0.0"), 1, ip("198.18.6.66")),
            (ip("10.0.0.0"), 8, ip("198.18.6.2")),
            (ip("198.18.6.1"), 32, ip("198.18.6.66")),
            (ip("198.18.6.0"), 24, ip("0.0.0.0")),
        ]);
        let kept = |p| {
            let c = run(&r, p).expect("usable");
            (
                c.lease.gateway,
                c.lease
                    .routes
                    .iter()
                    .map(|(d, l, _)| format!("{d}/{l}"))
                    .collect::<Vec<_>>(),
                c.warnings,
            )
        };
        let (gw, routes, warnings) = kept(ClasslessRoutes::NoDefaultOverride);
        assert_eq!(
            gw,
            Some(ip("198.18.6.1")),
            "the 121 default beats option 3 (RFC 3442)"
        );
        assert_eq!(routes, vec!["10.0.0.0/8", "198.18.6.0/24"]);
        assert_eq!(
            warnings
                .iter()
                .filter(|w| w.contains("TunnelVision"))
                .count(),
            2,
            "{warnings:?}"
        );
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("covers the gateway 198.18.6.1")),
            "{warnings:?}"
        );
        let (_, routes, _) = kept(ClasslessRoutes::Accept);
        assert_eq!(routes.len(), 5);
        let (gw, routes, warnings) = kept(ClasslessRoutes::Ignore);
        assert_eq!((gw, routes.len()), (Some(ip("198.18.6.254")), 0));
        assert!(warnings[0].contains("ignored"));
    }

    #[test]
    fn the_lease_file_round_trips_and_knows_its_owner() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("dhcp").join("x.lease");
        assert!(load(&path).expect("no file").is_none());
        let lease = run(&ack(), ClasslessRoutes::Accept).expect("ok").lease;
        let now = SystemTime::now();
        let stored = StoredLease::new(&lease, &[1, 2], now);
        save(&path, &stored).expect("save");
        let back = load(&path).expect("read").expect("some");
        assert_eq!(back, stored);
        assert_eq!(
            back.previous(&[1, 2], now),
            Some(Previous {
                address: lease.address,
                valid: true
            })
        );
        assert_eq!(back.previous(&[9], now), None, "another identity");
        let later = now + Duration::from_secs(3601);
        assert_eq!(back.previous(&[1, 2], later).map(|p| p.valid), Some(false));
        forget(&path).expect("forget");
        forget(&path).expect("twice is fine");
        std::fs::write(&path, "{").expect("write");
        assert!(matches!(load(&path), Err(LeaseFileError::Parse { .. })));
    }
}
