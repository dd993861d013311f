//! DHCP messages on the dhcproto codec: what the client sends (RFC 2131 §4.4.1 table 5,
//! options from RFC 2132) and what it takes from a server's reply.
//!
//! Replies are read option by option: our own walk over the options field (RFC 2131 §4.1
//! and RFC 2132 §2: code, length, data; RFC 3396 concatenation; RFC 2132 §9.3 overload)
//! checks every length first, and only options the client uses are handed to dhcproto,
//! one at a time. A truncated, oversized or undecodable option costs only itself and is
//! named in [`Reply::problems`]; dhcproto's own options loop would silently stop at the
//! first bad option and lose every option after it.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, Opcode, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable};

/// DHCP's fixed header up to and including the magic cookie (RFC 2131 §3).
pub const HEADER_LEN: usize = 240;
/// BOOTP's minimum message size (RFC 1542 §2.1): shorter requests are padded.
const MIN_MESSAGE: usize = 300;
/// The magic cookie that starts the options field (RFC 2131 §3).
const MAGIC: [u8; 4] = [99, 130, 83, 99];
/// Option 252: the proxy auto-configuration URL (Web Proxy Auto-Discovery).
const WPAD: u8 = 252;
/// Largest DHCP message we accept, sent as option 57 (RFC 2132 §9.10): an Ethernet MTU.
pub const MAX_MESSAGE: u16 = 1500;

/// What a client message is (RFC 2131 §3.1, §3.2, §4.4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutKind {
    /// DHCPDISCOVER.
    Discover,
    /// DHCPREQUEST (selecting, init-reboot, renewing, rebinding).
    Request,
    /// DHCPDECLINE: the address is unusable.
    Decline,
    /// DHCPRELEASE: the client gives the address back.
    Release,
}

/// Where and how a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// Packet socket, IP source `source` (0.0.0.0 before we have an address), to
    /// 255.255.255.255 and the Ethernet broadcast address.
    RawBroadcast,
    /// Packet socket, IP source `ciaddr`, to the server's IP; Ethernet destination the MAC
    /// its replies came from (a relay's or router's across a relay), else broadcast.
    RawUnicast {
        /// The server's address.
        server: Ipv4Addr,
        /// The MAC its last reply came from, if known.
        mac: Option<[u8; 6]>,
    },
    /// UDP socket bound to the interface, unicast to the server (RENEWING).
    UdpUnicast(Ipv4Addr),
    /// UDP socket bound to the interface, to 255.255.255.255 (REBINDING).
    UdpBroadcast,
}

/// A message the state machine wants sent. Encoded by [`encode`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// The message type.
    pub kind: OutKind,
    /// Transaction id.
    pub xid: u32,
    /// Seconds since the exchange began (RFC 2131 §2, `secs`).
    pub secs: u16,
    /// Our address while we have one (renew, rebind, release), else 0.0.0.0.
    pub ciaddr: Ipv4Addr,
    /// Option 50.
    pub requested: Option<Ipv4Addr>,
    /// Option 54.
    pub server_id: Option<Ipv4Addr>,
    /// Option 56, a reason (DHCPDECLINE).
    pub message: Option<String>,
    /// Where it goes.
    pub to: Destination,
}

/// Who the client says it is, in every message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The interface's MAC (chaddr).
    pub mac: [u8; 6],
    /// Option 61 as sent: `[1, mac…]` or `[255, iaid(4), duid…]` (RFC 4361 §6.1).
    pub client_id: Vec<u8>,
    /// Option 12; empty = not sent.
    pub hostname: String,
    /// Option 60; empty = not sent.
    pub vendor_class: Vec<u8>,
    /// Whether option 121 is in the parameter request list.
    pub classless_routes: bool,
}

/// Encodes `out` as a BOOTREQUEST (RFC 2131 §4.4.1 table 5), padded to 300 bytes.
///
/// Errors: dhcproto's, for values it cannot encode.
pub fn encode(out: &Outgoing, id: &Identity) -> Result<Vec<u8>, dhcproto::error::EncodeError> {
    let unspecified = Ipv4Addr::UNSPECIFIED;
    let mut m = Message::new_with_id(
        out.xid,
        out.ciaddr,
        unspecified,
        unspecified,
        unspecified,
        &id.mac,
    );
    m.set_secs(out.secs);
    m.set_flags(Flags::default());
    let opts = m.opts_mut();
    opts.insert(DhcpOption::MessageType(match out.kind {
        OutKind::Discover => MessageType::Discover,
        OutKind::Request => MessageType::Request,
        OutKind::Decline => MessageType::Decline,
        OutKind::Release => MessageType::Release,
    }));
    opts.insert(DhcpOption::ClientIdentifier(id.client_id.clone()));
    if let Some(a) = out.requested {
        opts.insert(DhcpOption::RequestedIpAddress(a));
    }
    if let Some(s) = out.server_id {
        opts.insert(DhcpOption::ServerIdentifier(s));
    }
    if let Some(text) = &out.message {
        opts.insert(DhcpOption::Message(text.clone()));
    }
    if matches!(out.kind, OutKind::Discover | OutKind::Request) {
        let mut wanted = vec![
            OptionCode::SubnetMask,
            OptionCode::Router,
            OptionCode::DomainNameServer,
            OptionCode::DomainName,
            OptionCode::InterfaceMtu,
            OptionCode::NtpServers,
            OptionCode::AddressLeaseTime,
            OptionCode::Renewal,
            OptionCode::Rebinding,
            OptionCode::DomainSearch,
            OptionCode::Unknown(WPAD),
        ];
        if id.classless_routes {
            wanted.push(OptionCode::ClasslessStaticRoute);
        }
        opts.insert(DhcpOption::ParameterRequestList(wanted));
        opts.insert(DhcpOption::MaxMessageSize(MAX_MESSAGE));
        if !id.hostname.is_empty() {
            opts.insert(DhcpOption::Hostname(id.hostname.clone()));
        }
        if !id.vendor_class.is_empty() {
            opts.insert(DhcpOption::ClassIdentifier(id.vendor_class.clone()));
        }
    }
    let mut buf = m.to_vec()?;
    if buf.len() < MIN_MESSAGE {
        buf.resize(MIN_MESSAGE, 0);
    }
    Ok(buf)
}

/// What a server said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    /// DHCPOFFER.
    Offer,
    /// DHCPACK.
    Ack,
    /// DHCPNAK.
    Nak,
}

/// A server's reply with the options the client uses, each already checked for length and
/// decoded. Addresses are as sent; whether they are usable is [`super::lease`]'s call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Option 53.
    pub kind: ReplyKind,
    /// Transaction id.
    pub xid: u32,
    /// The offered or acknowledged address.
    pub yiaddr: Ipv4Addr,
    /// Ethernet source of the frame (packet socket only).
    pub source_mac: Option<[u8; 6]>,
    /// Option 54.
    pub server_id: Option<Ipv4Addr>,
    /// Option 1.
    pub mask: Option<Ipv4Addr>,
    /// Option 3.
    pub routers: Vec<Ipv4Addr>,
    /// Option 6.
    pub dns: Vec<Ipv4Addr>,
    /// Option 15.
    pub domain_name: Option<String>,
    /// Option 119, names without the trailing dot.
    pub search: Vec<String>,
    /// Option 42.
    pub ntp: Vec<Ipv4Addr>,
    /// Option 252, the proxy auto-configuration URL (WPAD draft, draft-ietf-wrec-wpad-01
    /// §4.4.1), without a trailing NUL; not yet checked to be a URL.
    pub wpad: Option<String>,
    /// Option 26.
    pub mtu: Option<u16>,
    /// Option 51, seconds; `u32::MAX` = infinite.
    pub lease_secs: Option<u32>,
    /// Option 58, seconds.
    pub t1: Option<u32>,
    /// Option 59, seconds.
    pub t2: Option<u32>,
    /// Option 121 (RFC 3442): destination, prefix length, next hop (0.0.0.0 = on-link).
    pub classless: Option<Vec<(Ipv4Addr, u8, Ipv4Addr)>>,
    /// Option 56, a server's message (e.g. why it NAKed), lossily decoded.
    pub message: Option<String>,
    /// Options that were dropped and why, for one log line.
    pub problems: Vec<String>,
}

/// Why a packet is not a reply for us.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Shorter than the fixed header.
    #[error("DHCP message of {0} bytes is shorter than the {HEADER_LEN}-byte header")]
    TooShort(usize),
    /// Not a BOOTREPLY, or not Ethernet.
    #[error("not a BOOTREPLY for Ethernet (op {op}, htype {htype}, hlen {hlen})")]
    NotAReply {
        /// op field.
        op: u8,
        /// htype field.
        htype: u8,
        /// hlen field.
        hlen: u8,
    },
    /// The magic cookie is wrong.
    #[error("DHCP magic cookie missing")]
    NoMagic,
    /// chaddr is another client's.
    #[error("reply for another client")]
    NotForUs,
    /// dhcproto could not decode the header.
    #[error("decode DHCP header")]
    Header(#[source] dhcproto::error::DecodeError),
    /// No usable option 53.
    #[error("DHCP message without a usable message type (option 53)")]
    NoMessageType,
    /// A message type a client does not handle (DISCOVER, INFORM, …).
    #[error("DHCP message type {0} is not a reply a client handles")]
    NotHandled(u8),
}

/// Parses a DHCP payload (the UDP data) sent to the client with MAC `mac`.
///
/// Errors: [`ParseError`] when the packet cannot be a reply for us; a bad option does not
/// fail the parse, it lands in [`Reply::problems`].
pub fn parse(payload: &[u8], mac: &[u8; 6]) -> Result<Reply, ParseError> {
    if payload.len() < HEADER_LEN {
        return Err(ParseError::TooShort(payload.len()));
    }
    let (op, htype, hlen) = (payload[0], payload[1], payload[2]);
    if op != 2 || htype != 1 || hlen != 6 {
        return Err(ParseError::NotAReply { op, htype, hlen });
    }
    if payload[236..240] != MAGIC {
        return Err(ParseError::NoMagic);
    }
    if payload[28..34] != mac[..] {
        return Err(ParseError::NotForUs);
    }
    // The header through dhcproto, with an empty options field: its options loop never
    // sees the server's bytes.
    let mut header = payload[..HEADER_LEN].to_vec();
    header.push(255);
    let message = Message::decode(&mut Decoder::new(&header)).map_err(ParseError::Header)?;
    if message.opcode() != Opcode::BootReply {
        return Err(ParseError::NotAReply { op, htype, hlen });
    }

    let mut problems = Vec::new();
    let mut raw = BTreeMap::<u8, Vec<u8>>::new();
    let overload = walk(&payload[HEADER_LEN..], "options", &mut raw, &mut problems);
    // RFC 2132 §9.3: option 52 moves more options into `file` (1), `sname` (2) or both (3).
    match overload {
        Some(1) => {
            walk(&payload[108..236], "file", &mut raw, &mut problems);
        }
        Some(2) => {
            walk(&payload[44..108], "sname", &mut raw, &mut problems);
        }
        Some(3) => {
            walk(&payload[108..236], "file", &mut raw, &mut problems);
            walk(&payload[44..108], "sname", &mut raw, &mut problems);
        }
        Some(v) => problems.push(format!(
            "option 52 (overload) has invalid value {v}; ignored"
        )),
        None => {}
    }

    let kind = match raw.get(&53).map(Vec::as_slice) {
        Some([2]) => ReplyKind::Offer,
        Some([5]) => ReplyKind::Ack,
        Some([6]) => ReplyKind::Nak,
        Some([t]) => return Err(ParseError::NotHandled(*t)),
        _ => return Err(ParseError::NoMessageType),
    };
    let mut reply = Reply {
        kind,
        xid: message.xid(),
        yiaddr: message.yiaddr(),
        source_mac: None,
        server_id: None,
        mask: None,
        routers: vec![],
        dns: vec![],
        domain_name: None,
        search: vec![],
        ntp: vec![],
        wpad: None,
        mtu: None,
        lease_secs: None,
        t1: None,
        t2: None,
        classless: None,
        message: raw
            .get(&56)
            .map(|m| String::from_utf8_lossy(m).into_owned()),
        problems: vec![],
    };
    for (code, data) in &raw {
        if let Err(why) = take(&mut reply, *code, data) {
            problems.push(format!(
                "option {code} ({} bytes) {why}; ignored",
                data.len()
            ));
        }
    }
    reply.problems = problems;
    Ok(reply)
}

/// Walks one options area, concatenating repeated codes (RFC 3396). Returns option 52's
/// value when it is in this area.
fn walk(
    area: &[u8],
    name: &str,
    raw: &mut BTreeMap<u8, Vec<u8>>,
    problems: &mut Vec<String>,
) -> Option<u8> {
    let mut overload = None;
    let mut i = 0;
    while i < area.len() {
        let code = area[i];
        match code {
            0 => {
                i += 1;
                continue;
            }
            255 => return overload,
            _ => {}
        }
        let Some(&len) = area.get(i + 1) else {
            problems.push(format!(
                "{name}: option {code} has no length byte; the rest is ignored"
            ));
            break;
        };
        let start = i + 2;
        let end = start + usize::from(len);
        let Some(data) = area.get(start..end) else {
            problems.push(format!(
                "{name}: option {code} declares {len} bytes but {} remain; the rest is ignored",
                area.len() - start.min(area.len())
            ));
            break;
        };
        if code == 52 && len == 1 {
            overload = Some(data[0]);
        } else {
            raw.entry(code).or_default().extend_from_slice(data);
        }
        i = end;
    }
    overload
}

/// Checks one option's length and decodes it with dhcproto into `reply`. Options the
/// client does not use are skipped.
fn take(reply: &mut Reply, code: u8, data: &[u8]) -> Result<(), String> {
    let exact = |n: usize| {
        if data.len() == n {
            Ok(())
        } else {
            Err(format!("must be {n} bytes"))
        }
    };
    let addresses = || {
        if !data.is_empty() && data.len().is_multiple_of(4) {
            Ok(())
        } else {
            Err("must be a non-empty multiple of 4 bytes".to_string())
        }
    };
    match code {
        1 | 54 => exact(4)?,
        3 | 6 | 42 => addresses()?,
        26 => exact(2)?,
        51 | 58 | 59 => exact(4)?,
        15 if data.is_empty() => return Err("is empty".into()),
        15 => {
            std::str::from_utf8(data).map_err(|_| "is not UTF-8".to_string())?;
        }
        119 if data.is_empty() => return Err("is empty".into()),
        119 => {}
        121 => check_classless(data)?,
        WPAD => {
            // A string that servers often end with a NUL; dhcproto knows no option 252.
            let text = data.strip_suffix(&[0]).unwrap_or(data);
            let text = std::str::from_utf8(text).map_err(|_| "is not UTF-8".to_string())?;
            if text.is_empty() || text.contains(char::is_control) {
                return Err("is not a URL".into());
            }
            reply.wpad = Some(text.to_string());
            return Ok(());
        }
        _ => return Ok(()),
    }
    let option = decode_one(code, data).map_err(|e| format!("could not be decoded: {e}"))?;
    match option {
        DhcpOption::SubnetMask(m) => reply.mask = Some(m),
        DhcpOption::ServerIdentifier(s) => reply.server_id = Some(s),
        DhcpOption::Router(r) => reply.routers = r,
        DhcpOption::DomainNameServer(d) => reply.dns = d,
        DhcpOption::NtpServers(n) => reply.ntp = n,
        DhcpOption::InterfaceMtu(m) => reply.mtu = Some(m),
        DhcpOption::AddressLeaseTime(t) => reply.lease_secs = Some(t),
        DhcpOption::Renewal(t) => reply.t1 = Some(t),
        DhcpOption::Rebinding(t) => reply.t2 = Some(t),
        DhcpOption::DomainName(d) => reply.domain_name = Some(d),
        DhcpOption::DomainSearch(names) => {
            reply.search = names
                .iter()
                .map(|n| n.to_string().trim_end_matches('.').to_string())
                .collect();
        }
        DhcpOption::ClasslessStaticRoute(routes) => {
            reply.classless = Some(
                routes
                    .iter()
                    .map(|(net, via)| (net.network(), net.prefix_len(), *via))
                    .collect(),
            );
        }
        other => {
            return Err(format!(
                "decoded as unexpected {:?}",
                OptionCode::from(&other)
            ))
        }
    }
    Ok(())
}

/// RFC 3442 §3: each route is a prefix length (0..=32), the significant octets of the
/// destination and a 4-byte router; anything else makes the whole option malformed.
fn check_classless(data: &[u8]) -> Result<(), String> {
    let mut i = 0;
    while i < data.len() {
        let prefix = data[i];
        if prefix > 32 {
            return Err(format!("has a route with prefix length {prefix}"));
        }
        let need = 1 + usize::from(prefix).div_ceil(8) + 4;
        if i + need > data.len() {
            return Err("ends inside a route".into());
        }
        i += need;
    }
    Ok(())
}

/// Frames one option (split into 255-byte pieces, which dhcproto joins again) and decodes it.
fn decode_one(code: u8, data: &[u8]) -> Result<DhcpOption, dhcproto::error::DecodeError> {
    let mut framed = Vec::with_capacity(data.len() + 2 * (data.len() / 255 + 1) + 1);
    for chunk in data.chunks(255) {
        framed.push(code);
        framed.push(chunk.len() as u8);
        framed.extend_from_slice(chunk);
    }
    framed.push(255);
    DhcpOption::decode(&mut Decoder::new(&framed))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];

    /// A reply as a server writes it: header, cookie, then `options` bytes verbatim.
    pub(crate) fn reply_bytes(kind: u8, yiaddr: [u8; 4], options: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; HEADER_LEN];
        p[0] = 2;
        p[1] = 1;
        p[2] = 6;
        p[4..8].copy_from_slice(&0x1234_5678u32.to_be_bytes());
        p[16..20].copy_from_slice(&yiaddr);
        p[28..34].copy_from_slice(&MAC);
        p[236..240].copy_from_slice(&MAGIC);
        p.extend_from_slice(&[53, 1, kind]);
        p.extend_from_slice(options);
        p
    }

    #[test]
    fn a_well_formed_ack_decodes_every_option() {
        let mut o = vec![
            54, 4, 198, 18, 1, 1, 51, 4, 0, 0, 14, 16, 1, 4, 255, 255, 255, 0,
        ];
        o.extend_from_slice(&[3, 4, 198, 18, 1, 1, 6, 8, 198, 18, 1, 53, 198, 18, 1, 54]);
        o.extend_from_slice(&[26, 2, 5, 120, 15, 11]);
        o.extend_from_slice(b"lab.example");
        o.extend_from_slice(&[121, 7, 16, 10, 1, 198, 18, 1, 9]);
        o.extend_from_slice(&[0, 0, 0, 0, 255]);
        let r = parse(&reply_bytes(5, [198, 18, 1, 100], &o), &MAC).expect("parse");
        assert_eq!(r.kind, ReplyKind::Ack);
        assert_eq!(r.xid, 0x1234_5678);
        assert_eq!(r.yiaddr, Ipv4Addr::new(198, 18, 1, 100));
        assert_eq!(r.server_id, Some(Ipv4Addr::new(198, 18, 1, 1)));
        assert_eq!(r.lease_secs, Some(3600));
        assert_eq!(r.mask, Some(Ipv4Addr::new(255, 255, 255, 0)));
        assert_eq!(r.routers, vec![Ipv4Addr::new(198, 18, 1, 1)]);
        assert_eq!(r.dns.len(), 2);
        assert_eq!(r.mtu, Some(1400));
        assert_eq!(r.domain_name.as_deref(), Some("lab.example"));
        assert_eq!(
            r.classless,
            Some(vec![(
                Ipv4Addr::new(10, 1, 0, 0),
                16,
                Ipv4Addr::new(198, 18, 1, 9)
            )])
        );
        assert!(r.problems.is_empty(), "{:?}", r.problems);
    }

    #[test]
    fn the_pac_url_is_a_string_with_or_without_a_trailing_nul() {
        let url = b"http://198.18.1.1/wpad.dat";
        for tail in [&b""[..], &[0]] {
            let mut o = vec![252, (url.len() + tail.len()) as u8];
            o.extend_from_slice(url);
            o.extend_from_slice(tail);
            o.push(255);
            let r = parse(&reply_bytes(5, [198, 18, 1, 100], &o), &MAC).expect("parse");
            assert_eq!(r.wpad.as_deref(), Some("http://198.18.1.1/wpad.dat"));
        }
        for bad in [
            &[252, 2, 0xff, 0xfe, 255][..],
            &[252, 3, b'a', b'\n', b'b', 255],
        ] {
            let r = parse(&reply_bytes(5, [198, 18, 1, 100], bad), &MAC).expect("parse");
            assert_eq!((r.wpad, r.problems.len()), (None, 1), "{bad:?}");
        }
    }

    #[test]
    fn a_bad_option_costs_only_itself() {
        // Option 15 is not UTF-8, option 26 has the wrong length, option 3 is 5 bytes; the
        // router list after them still arrives (dhcproto alone would stop at the first).
        let mut o = vec![15, 2, 0xff, 0xfe, 26, 1, 9, 3, 5, 1, 2, 3, 4, 5];
        o.extend_from_slice(&[6, 4, 198, 18, 1, 53, 54, 4, 198, 18, 1, 1, 255]);
        let r = parse(&reply_bytes(2, [198, 18, 1, 100], &o), &MAC).expect("parse");
        assert_eq!(r.dns, vec![Ipv4Addr::new(198, 18, 1, 53)]);
        assert_eq!(r.server_id, Some(Ipv4Addr::new(198, 18, 1, 1)));
        assert_eq!(
            (r.domain_name.clone(), r.mtu, r.routers.len()),
            (None, None, 0)
        );
        assert_eq!(r.problems.len(), 3, "{:?}", r.problems);
    }

    #[test]
    fn truncation_and_oversize_are_named() {
        // dhcp_server.py --garbage: a 255-byte vendor option, then option 15 claiming 200
        // bytes with 3 left.
        let mut o = vec![54, 4, 198, 18, 1, 1, 43, 255];
        o.extend_from_slice(&[0xff; 255]);
        o.extend_from_slice(&[15, 200]);
        o.extend_from_slice(b"lab");
        let r = parse(&reply_bytes(2, [198, 18, 1, 100], &o), &MAC).expect("parse");
        assert_eq!(r.server_id, Some(Ipv4Addr::new(198, 18, 1, 1)));
        assert!(
            r.problems
                .iter()
                .any(|p| p.contains("option 15 declares 200 bytes but 3 remain")),
            "{:?}",
            r.problems
        );
    }

    #[test]
    fn concatenated_and_overloaded_options_are_joined() {
        // RFC 3396: option 6 split in two; RFC 2132 §9.3: option 3 in the file field.
        let o = [6, 4, 1, 1, 1, 1, 52, 1, 1, 6, 4, 2, 2, 2, 2, 255];
        let mut p = reply_bytes(2, [198, 18, 1, 100], &o);
        p[108..115].copy_from_slice(&[3, 4, 198, 18, 1, 1, 255]);
        let r = parse(&p, &MAC).expect("parse");
        assert_eq!(
            r.dns,
            vec![Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(2, 2, 2, 2)]
        );
        assert_eq!(r.routers, vec![Ipv4Addr::new(198, 18, 1, 1)]);
    }

    #[test]
    fn packets_that_are_not_replies_for_us_are_errors() {
        let ok = reply_bytes(2, [198, 18, 1, 100], &[255]);
        assert!(matches!(
            parse(&ok[..100], &MAC),
            Err(ParseError::TooShort(100))
        ));
        let mut other = ok.clone();
        other[29] = 9;
        assert!(matches!(parse(&other, &MAC), Err(ParseError::NotForUs)));
        let mut request = ok.clone();
        request[0] = 1;
        assert!(matches!(
            parse(&request, &MAC),
            Err(ParseError::NotAReply { .. })
        ));
        let mut magic = ok.clone();
        magic[236] = 0;
        assert!(matches!(parse(&magic, &MAC), Err(ParseError::NoMagic)));
        let inform = reply_bytes(8, [0; 4], &[255]);
        assert!(matches!(
            parse(&inform, &MAC),
            Err(ParseError::NotHandled(8))
        ));
        let mut none = ok.clone();
        none.truncate(HEADER_LEN);
        assert!(matches!(parse(&none, &MAC), Err(ParseError::NoMessageType)));
    }

    #[test]
    fn options_dhcproto_would_stop_at_or_assert_on_are_read_safely() {
        // Option 81 (client FQDN) with length 0 trips a debug_assert in dhcproto 0.15's own
        // options loop, and an invalid option 12 ends that loop early; we never hand it the
        // server's option bytes, so the router after them still arrives.
        let o = [
            81, 0, 12, 1, 0xff, 3, 4, 198, 18, 1, 1, 54, 4, 198, 18, 1, 1, 255,
        ];
        let bytes = reply_bytes(2, [198, 18, 1, 100], &o);
        let r = parse(&bytes, &MAC).expect("parse");
        assert_eq!(r.routers, vec![Ipv4Addr::new(198, 18, 1, 1)]);
        if cfg!(debug_assertions) {
            let whole = std::panic::catch_unwind(|| Message::decode(&mut Decoder::new(&bytes)));
            assert!(
                whole.is_err(),
                "dhcproto alone panics on this packet in debug builds"
            );
        }
    }

    #[test]
    fn malformed_classless_routes_are_dropped_whole() {
        for bad in [&[33u8, 0, 0, 0, 0][..], &[24, 10, 0, 0, 1, 2][..]] {
            let mut o = vec![121, bad.len() as u8];
            o.extend_from_slice(bad);
            let r = parse(&reply_bytes(5, [198, 18, 1, 100], &o), &MAC).expect("parse");
            assert_eq!(r.classless, None);
            assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
        }
    }

    #[test]
    fn requests_carry_identity_and_round_trip_through_dhcproto() {
        let id = Identity {
            mac: MAC,
            client_id: vec![255, 0, 0, 0, 1, 0, 2],
            hostname: "robot".into(),
            vendor_class: b"netpilot-test".to_vec(),
            classless_routes: true,
        };
        let out = Outgoing {
            kind: OutKind::Request,
            xid: 7,
            secs: 3,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            requested: Some(Ipv4Addr::new(198, 18, 1, 100)),
            server_id: Some(Ipv4Addr::new(198, 18, 1, 1)),
            message: None,
            to: Destination::RawBroadcast,
        };
        let bytes = encode(&out, &id).expect("encode");
        assert!(bytes.len() >= MIN_MESSAGE);
        let m = Message::decode(&mut Decoder::new(&bytes)).expect("decode");
        assert_eq!((m.xid(), m.secs(), m.chaddr()), (7, 3, &MAC[..]));
        let o = m.opts();
        assert_eq!(o.msg_type(), Some(MessageType::Request));
        assert_eq!(
            o.get(OptionCode::ClassIdentifier),
            Some(&DhcpOption::ClassIdentifier(b"netpilot-test".to_vec()))
        );
        assert_eq!(
            o.get(OptionCode::ClientIdentifier),
            Some(&DhcpOption::ClientIdentifier(vec![255, 0, 0, 0, 1, 0, 2]))
        );
        assert_eq!(
            o.get(OptionCode::Hostname),
            Some(&DhcpOption::Hostname("robot".into()))
        );
        assert!(o.get(OptionCode::RequestedIpAddress).is_some());
        let release = Outgoing {
            kind: OutKind::Release,
            ..out
        };
        let m = Message::decode(&mut Decoder::new(&encode(&release, &id).expect("encode")))
            .expect("decode");
        assert!(
            m.opts().get(OptionCode::Hostname).is_none(),
            "RFC 2131 table 5"
        );
    }
}
