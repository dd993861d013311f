//! IPv6 nameservers and search domains from router advertisements: the RDNSS and DNSSL
//! options of RFC 8106. The kernel hands them to user space as `RTM_NEWNDUSEROPT` messages on
//! the `RTNLGRP_ND_USEROPT` multicast group, which netlink-packet-route does not decode, so
//! this module reads that one message type on a netlink socket of its own.
//!
//! Each option carries a lifetime. The task keeps every server and domain with its expiry
//! and reports the current lists of an interface whenever they change: when an RA adds,
//! refreshes (no report if nothing changed) or withdraws one (lifetime 0), and when one
//! expires.

use std::collections::BTreeMap;
use std::net::Ipv6Addr;
use std::time::Duration;

use rtnetlink::sys::{AsyncSocket, AsyncSocketExt, SocketAddr, TokioSocket};
use tokio::time::Instant;

use crate::engine::EventSender;

/// `RTM_NEWNDUSEROPT` (linux/rtnetlink.h).
const RTM_NEWNDUSEROPT: u16 = 68;
/// `RTNLGRP_ND_USEROPT` (linux/rtnetlink.h).
const RTNLGRP_ND_USEROPT: u32 = 20;
/// `NETLINK_ROUTE`.
const NETLINK_ROUTE: isize = 0;
/// ND option types (RFC 8106 §5).
const RDNSS: u8 = 25;
const DNSSL: u8 = 31;
/// More than glibc reads, and bounded: a hostile RA cannot grow the lists without end.
const MAX_ENTRIES: usize = 8;

/// The RA-provided DNS of one interface, as it stands now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaDns {
    /// The interface.
    pub ifindex: u32,
    /// Nameservers, in the order routers announced them.
    pub servers: Vec<Ipv6Addr>,
    /// Search domains.
    pub domains: Vec<String>,
}

/// What one message carries: servers and domains with their lifetimes in seconds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Options {
    /// The interface.
    pub ifindex: u32,
    /// RDNSS addresses with lifetimes (0 withdraws, `u32::MAX` is infinite).
    pub servers: Vec<(Ipv6Addr, u32)>,
    /// DNSSL domains with lifetimes.
    pub domains: Vec<(String, u32)>,
}

/// Why a message was not read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Shorter than its headers say.
    #[error("truncated {0}")]
    Truncated(&'static str),
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_ne_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

fn u32_at(b: &[u8], i: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(i..i + 4)?.try_into().ok()?))
}

/// Reads the RDNSS and DNSSL options of one `RTM_NEWNDUSEROPT` payload (struct
/// `nduseroptmsg`, then the ND options, RFC 4861 §4.6). Other options are skipped; a
/// malformed option ends the reading of that message with what was read before it.
pub fn parse(payload: &[u8]) -> Result<Options, ParseError> {
    // nduseroptmsg: family u8, pad u8, opts_len u16, ifindex i32, icmp type u8, code u8,
    // pad u16, pad u32.
    let opts_len = usize::from(u16_at(payload, 2).ok_or(ParseError::Truncated("header"))?);
    let ifindex = u32_at(payload, 4).ok_or(ParseError::Truncated("header"))?;
    let opts = payload
        .get(16..16 + opts_len)
        .ok_or(ParseError::Truncated("options"))?;
    let mut out = Options {
        ifindex,
        ..Options::default()
    };
    let mut i = 0;
    while i + 2 <= opts.len() {
        let kind = opts[i];
        let len = usize::from(opts[i + 1]) * 8;
        if len == 0 || i + len > opts.len() {
            break;
        }
        let option = &opts[i..i + len];
        let lifetime = u32::from_be_bytes([option[4], option[5], option[6], option[7]]);
        match kind {
            RDNSS if len >= 24 => {
                for a in option[8..].chunks_exact(16) {
                    let bytes: [u8; 16] = a.try_into().unwrap_or([0; 16]);
                    out.servers.push((Ipv6Addr::from(bytes), lifetime));
                }
            }
            DNSSL if len >= 16 => {
                out.domains
                    .extend(dns_names(&option[8..]).into_iter().map(|d| (d, lifetime)));
            }
            _ => {}
        }
        i += len;
    }
    Ok(out)
}

/// Names in DNS wire format (RFC 1035 §3.1, no compression), as RFC 8106 §5.2 puts them:
/// one after another, the rest padded with zeros. A malformed name ends the list.
fn dns_names(mut b: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    'names: while b.first().is_some_and(|&l| l != 0) {
        let mut labels = Vec::new();
        loop {
            let Some(&len) = b.first() else {
                break 'names;
            };
            let len = usize::from(len);
            if len == 0 {
                b = &b[1..];
                break;
            }
            if len > 63 || b.len() < 1 + len {
                break 'names;
            }
            let label = &b[1..1 + len];
            if !label
                .iter()
                .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_')
            {
                break 'names;
            }
            labels.push(String::from_utf8_lossy(label).into_owned());
            b = &b[1 + len..];
        }
        names.push(labels.join("."));
    }
    names
}

/// Servers and domains with their expiry, per interface.
#[derive(Default)]
struct Table {
    entries: BTreeMap<u32, Entries>,
}

#[derive(Default, Clone, PartialEq)]
struct Entries {
    servers: Vec<(Ipv6Addr, Option<Instant>)>,
    domains: Vec<(String, Option<Instant>)>,
}

fn expiry(now: Instant, lifetime: u32) -> Option<Instant> {
    (lifetime != u32::MAX).then(|| now + Duration::from_secs(u64::from(lifetime)))
}

fn upsert<T: PartialEq>(
    list: &mut Vec<(T, Option<Instant>)>,
    item: T,
    lifetime: u32,
    now: Instant,
) {
    list.retain(|(x, _)| *x != item);
    if lifetime > 0 && list.len() < MAX_ENTRIES {
        list.push((item, expiry(now, lifetime)));
    }
}

impl Table {
    /// Takes in a message; returns the interface's lists when they changed.
    fn apply(&mut self, o: Options, now: Instant) -> Option<RaDns> {
        let entry = self.entries.entry(o.ifindex).or_default();
        let before = entry.view(o.ifindex);
        for (a, life) in o.servers {
            upsert(&mut entry.servers, a, life, now);
        }
        for (d, life) in o.domains {
            upsert(&mut entry.domains, d, life, now);
        }
        let after = entry.view(o.ifindex);
        (after != before).then_some(after)
    }

    /// Drops what expired by `now`; returns the lists that changed.
    fn expire(&mut self, now: Instant) -> Vec<RaDns> {
        let mut changed = Vec::new();
        for (ifindex, e) in &mut self.entries {
            let (s, d) = (e.servers.len(), e.domains.len());
            e.servers.retain(|(_, at)| at.is_none_or(|t| t > now));
            e.domains.retain(|(_, at)| at.is_none_or(|t| t > now));
            if (s, d) != (e.servers.len(), e.domains.len()) {
                changed.push(e.view(*ifindex));
            }
        }
        self.entries
            .retain(|_, e| !e.servers.is_empty() || !e.domains.is_empty());
        changed
    }

    fn next_expiry(&self) -> Option<Instant> {
        self.entries
            .values()
            .flat_map(|e| {
                e.servers
                    .iter()
                    .map(|(_, t)| *t)
                    .chain(e.domains.iter().map(|(_, t)| *t))
            })
            .flatten()
            .min()
    }
}

impl Entries {
    fn view(&self, ifindex: u32) -> RaDns {
        RaDns {
            ifindex,
            servers: self.servers.iter().map(|(a, _)| *a).collect(),
            domains: self.domains.iter().map(|(d, _)| d.clone()).collect(),
        }
    }
}

/// Starts the reader. Fails only when the socket cannot be opened or joined to the group.
pub fn spawn(events: EventSender<RaDns>) -> std::io::Result<tokio::task::JoinHandle<()>> {
    let mut socket = TokioSocket::new(NETLINK_ROUTE)?;
    socket.socket_mut().bind(&SocketAddr::new(0, 0))?;
    socket.socket_mut().add_membership(RTNLGRP_ND_USEROPT)?;
    Ok(tokio::spawn(async move {
        let mut table = Table::default();
        loop {
            let wake = table.next_expiry();
            let received = tokio::select! {
                r = socket.recv_from_full() => Some(r),
                _ = async {
                    match wake {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => None,
            };
            let mut reports = Vec::new();
            match received {
                Some(Ok((buf, _))) => {
                    for payload in messages(&buf) {
                        match parse(payload) {
                            Ok(o) => reports.extend(table.apply(o, Instant::now())),
                            Err(e) => {
                                tracing::warn!(error = %e, "router advertisement DNS options skipped")
                            }
                        }
                    }
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "read router advertisement DNS options");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                None => reports = table.expire(Instant::now()),
            }
            for r in reports {
                tracing::info!(ifindex = r.ifindex, servers = ?r.servers, domains = ?r.domains, "IPv6 DNS from router advertisements");
                if events.send(r).await.is_err() {
                    return;
                }
            }
        }
    }))
}

/// The `RTM_NEWNDUSEROPT` payloads in a datagram of netlink messages.
fn messages(buf: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut i = 0;
    while let (Some(len), Some(kind)) = (u32_at(buf, i), u16_at(buf, i + 4)) {
        let len = len as usize;
        if len < 16 || i + len > buf.len() {
            break;
        }
        if kind == RTM_NEWNDUSEROPT {
            out.push(&buf[i + 16..i + len]);
        }
        i += (len + 3) & !3;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(ifindex: u32, options: &[u8]) -> Vec<u8> {
        let mut m = vec![10, 0];
        m.extend_from_slice(&(options.len() as u16).to_ne_bytes());
        m.extend_from_slice(&ifindex.to_ne_bytes());
        m.extend_from_slice(&[134, 0, 0, 0, 0, 0, 0, 0]);
        m.extend_from_slice(options);
        m
    }

    fn rdnss(lifetime: u32, addrs: &[&str]) -> Vec<u8> {
        let mut o = vec![RDNSS, (1 + 2 * addrs.len()) as u8, 0, 0];
        o.extend_from_slice(&lifetime.to_be_bytes());
        for a in addrs {
            o.extend_from_slice(&a.parse::<Ipv6Addr>().expect("ip").octets());
        }
        o
    }

    fn dnssl(lifetime: u32, names: &[&str]) -> Vec<u8> {
        let mut body = Vec::new();
        for n in names {
            for label in n.split('.') {
                body.push(label.len() as u8);
                body.extend_from_slice(label.as_bytes());
            }
            body.push(0);
        }
        while (body.len() + 8) % 8 != 0 {
            body.push(0);
        }
        let mut o = vec![DNSSL, ((body.len() + 8) / 8) as u8, 0, 0];
        o.extend_from_slice(&lifetime.to_be_bytes());
        o.extend_from_slice(&body);
        o
    }

    #[test]
    fn rdnss_and_dnssl_are_read_other_options_skipped() {
        let mut opts = vec![1, 1, 2, 0, 0, 0, 0, 1]; // source link-layer address
        opts.extend(rdnss(600, &["2001:db8::53", "2001:db8::54"]));
        opts.extend(dnssl(300, &["lab.example", "example.org"]));
        let o = parse(&message(7, &opts)).expect("parse");
        assert_eq!(o.ifindex, 7);
        assert_eq!(
            o.servers,
            vec![
                ("2001:db8::53".parse().expect("ip"), 600),
                ("2001:db8::54".parse().expect("ip"), 600)
            ]
        );
        assert_eq!(
            o.domains,
            vec![("lab.example".into(), 300), ("example.org".into(), 300)]
        );
    }

    #[test]
    fn malformed_messages_never_panic() {
        assert!(parse(&[1, 2, 3]).is_err());
        let mut opts = rdnss(600, &["2001:db8::53"]);
        opts[1] = 200; // longer than the message
        assert_eq!(
            parse(&message(1, &opts)).expect("header ok").servers,
            vec![]
        );
        let bad_name = vec![DNSSL, 2, 0, 0, 0, 0, 0, 9, 70, b'a', 0, 0, 0, 0, 0, 0];
        assert_eq!(parse(&message(1, &bad_name)).expect("ok").domains, vec![]);
        let mut seed = 0x1234_5678u64;
        for _ in 0..5000 {
            let mut b = message(3, &[]);
            for _ in 0..(seed % 64) {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                b.push((seed >> 33) as u8);
            }
            let len = (b.len() - 16) as u16;
            b[2..4].copy_from_slice(&len.to_ne_bytes());
            let _ = parse(&b);
            let _ = messages(&b);
        }
    }

    #[test]
    fn lifetimes_add_refresh_withdraw_and_expire() {
        let mut t = Table::default();
        let now = Instant::now();
        let a: Ipv6Addr = "2001:db8::53".parse().expect("ip");
        let o = |life| Options {
            ifindex: 2,
            servers: vec![(a, life)],
            domains: vec![],
        };
        assert_eq!(
            t.apply(o(10), now).map(|r| r.servers),
            Some(vec![a]),
            "added"
        );
        assert_eq!(t.apply(o(10), now), None, "refreshed: nothing to report");
        assert_eq!(t.expire(now + Duration::from_secs(5)), vec![], "not yet");
        let gone = t.expire(now + Duration::from_secs(11));
        assert_eq!(gone.len(), 1);
        assert!(gone[0].servers.is_empty(), "expired");
        t.apply(o(10), now);
        assert_eq!(
            t.apply(o(0), now).map(|r| r.servers),
            Some(vec![]),
            "lifetime 0 withdraws"
        );
        let many = Options {
            ifindex: 3,
            servers: (0..20u16)
                .map(|i| (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i), 60))
                .collect(),
            domains: vec![],
        };
        assert_eq!(
            t.apply(many, now).map(|r| r.servers.len()),
            Some(MAX_ENTRIES)
        );
    }
}
