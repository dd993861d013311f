//! The client's sockets: a packet socket while there is no address (RFC 2131 §4.1: source
//! 0.0.0.0, which a UDP socket cannot promise), a UDP socket bound to the interface for
//! renewing and rebinding, and a packet socket for RFC 5227 ARP probes.
//!
//! The DHCP packet socket is `AF_PACKET`/`SOCK_DGRAM` with a BPF filter for unfragmented
//! IPv4 UDP to port 68, so only DHCP replies wake the task. IP and UDP headers are built and
//! checked here. A UDP checksum is verified unless the kernel marks the packet
//! `TP_STATUS_CSUMNOTREADY` in its `PACKET_AUXDATA`: a veth peer or a NIC with TX checksum
//! offload hands over such packets with the checksum still to be filled in, and they are
//! fine (systemd-networkd does the same).
//!
//! Closing a packet socket costs 8–16 ms on the test VMs (the kernel waits for an RCU grace
//! period): [`close_in_background`] does it on a blocking thread, off the path from the ACK
//! to the address.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Instant;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// DHCP ports (RFC 2131 §4.1).
pub const CLIENT_PORT: u16 = 68;
/// DHCP ports (RFC 2131 §4.1).
pub const SERVER_PORT: u16 = 67;
/// The Ethernet broadcast address.
pub const BROADCAST_MAC: [u8; 6] = [0xff; 6];

/// Why a socket could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// A system call failed.
    #[error("{action} on interface {ifname}")]
    Io {
        /// What was being done, e.g. "open DHCP packet socket".
        action: &'static str,
        /// The interface.
        ifname: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

fn io_err<'a>(action: &'static str, ifname: &'a str) -> impl FnOnce(io::Error) -> SocketError + 'a {
    move |source| SocketError::Io {
        action,
        ifname: ifname.to_string(),
        source,
    }
}

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn setsockopt<T>(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` points to a live T of the size passed.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

fn link_addr(ifindex: u32, protocol: u16, mac: [u8; 6]) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sa.sll_family = libc::AF_PACKET as u16;
    sa.sll_protocol = protocol.to_be();
    sa.sll_ifindex = ifindex as i32;
    sa.sll_halen = 6;
    sa.sll_addr[..6].copy_from_slice(&mac);
    sa
}

/// A received frame's network-layer bytes and what the kernel said about it.
#[derive(Debug)]
pub struct Frame {
    /// Bytes received (IP header onwards, or the ARP packet).
    pub len: usize,
    /// The kernel left the transport checksum to be filled in (TP_STATUS_CSUMNOTREADY).
    pub csum_not_ready: bool,
    /// Ethernet source address.
    pub source_mac: [u8; 6],
    /// When the frame was read.
    pub at: Instant,
}

/// An `AF_PACKET`/`SOCK_DGRAM` socket bound to one interface and one EtherType.
#[derive(Debug)]
pub struct PacketSocket {
    fd: AsyncFd<OwnedFd>,
    ifindex: u32,
    protocol: u16,
}

impl PacketSocket {
    /// The DHCP socket: IPv4 UDP to port 68 only (BPF), with `PACKET_AUXDATA`.
    ///
    /// Errors: [`SocketError`] naming the step (needs CAP_NET_RAW).
    pub fn dhcp(ifname: &str, ifindex: u32) -> Result<Self, SocketError> {
        Self::open(ifname, ifindex, libc::ETH_P_IP as u16, Some(&DHCP_FILTER))
    }

    /// The ARP socket (RFC 5227 probes and announcements).
    ///
    /// Errors: [`SocketError`] naming the step (needs CAP_NET_RAW).
    pub fn arp(ifname: &str, ifindex: u32) -> Result<Self, SocketError> {
        Self::open(ifname, ifindex, libc::ETH_P_ARP as u16, None)
    }

    fn open(
        ifname: &str,
        ifindex: u32,
        protocol: u16,
        filter: Option<&[libc::sock_filter]>,
    ) -> Result<Self, SocketError> {
        // Protocol 0 until bound: the socket sees no traffic before its filter is in place.
        // SAFETY: plain socket(2).
        let raw = cvt(unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
                0,
            )
        })
        .map_err(io_err("open packet socket", ifname))?;
        // SAFETY: `raw` is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        if let Some(filter) = filter {
            let prog = libc::sock_fprog {
                len: filter.len() as u16,
                filter: filter.as_ptr() as *mut libc::sock_filter,
            };
            setsockopt(&fd, libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &prog)
                .map_err(io_err("attach BPF filter", ifname))?;
        }
        let one: libc::c_int = 1;
        setsockopt(&fd, libc::SOL_PACKET, libc::PACKET_AUXDATA, &one)
            .map_err(io_err("enable PACKET_AUXDATA", ifname))?;
        let sa = link_addr(ifindex, protocol, [0; 6]);
        // SAFETY: `sa` is a valid sockaddr_ll of the size passed.
        cvt(unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        })
        .map_err(io_err("bind packet socket", ifname))?;
        // SAFETY: the OwnedFd is open and moves into the AsyncFd, which alone owns it.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(|e| io_err("register packet socket", ifname)(e.into()))?;
        Ok(PacketSocket {
            fd,
            ifindex,
            protocol,
        })
    }

    /// Sends `packet` (an IP datagram or an ARP packet) to Ethernet address `dst`.
    ///
    /// Errors: sendto(2)'s.
    pub fn send(&self, packet: &[u8], dst: [u8; 6]) -> io::Result<()> {
        let sa = link_addr(self.ifindex, self.protocol, dst);
        // SAFETY: buffer and address are valid for the lengths passed.
        let n = unsafe {
            libc::sendto(
                self.fd.get_ref().as_raw_fd(),
                packet.as_ptr().cast(),
                packet.len(),
                0,
                (&sa as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Receives one frame into `buf`.
    ///
    /// Errors: recvmsg(2)'s.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<Frame> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| recv_frame(fd.get_ref(), buf)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }
}

fn recv_frame(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<Frame> {
    // SAFETY: zeroed sockaddr_ll and msghdr are valid; every pointer set below stays valid
    // for the duration of recvmsg.
    let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    let mut control = [0u64; 8];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = (&mut from as *mut libc::sockaddr_ll).cast();
    msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&control) as _;
    // SAFETY: msg describes valid buffers.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, libc::MSG_TRUNC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let at = Instant::now();
    let mut csum_not_ready = false;
    // SAFETY: walking the control messages the kernel wrote into `control`.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_PACKET && (*cmsg).cmsg_type == libc::PACKET_AUXDATA {
                let aux: libc::tpacket_auxdata =
                    std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast());
                csum_not_ready = aux.tp_status & libc::TP_STATUS_CSUMNOTREADY != 0;
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    let mut source_mac = [0; 6];
    source_mac.copy_from_slice(&from.sll_addr[..6]);
    Ok(Frame {
        // MSG_TRUNC returns the real length; never more than we hold.
        len: (n as usize).min(buf.len()),
        csum_not_ready,
        source_mac,
        at,
    })
}

/// Closes a packet socket on a blocking thread, off the critical path; logs how long the
/// close took.
pub fn close_in_background(socket: PacketSocket) {
    let fd = socket.fd.into_inner();
    // The blocking thread logs through the caller's subscriber and span.
    let dispatch = tracing::dispatcher::get_default(|d| d.clone());
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        tracing::dispatcher::with_default(&dispatch, || {
            let _in = span.enter();
            let start = Instant::now();
            drop(fd);
            tracing::debug!(
                close_us = start.elapsed().as_micros() as u64,
                "packet socket closed"
            );
        })
    });
}

/// Classic BPF on the IP header (SOCK_DGRAM): UDP, not a fragment, destination port 68.
const DHCP_FILTER: [libc::sock_filter; 9] = [
    bpf(0x30, 0, 0, 9),                  // ldb [9]            protocol
    bpf(0x15, 0, 6, 17),                 // jeq #17, else drop
    bpf(0x28, 0, 0, 6),                  // ldh [6]            flags + fragment offset
    bpf(0x45, 4, 0, 0x1fff),             // jset #0x1fff: a later fragment -> drop
    bpf(0xb1, 0, 0, 0),                  // ldxb 4*([0]&0xf)   IP header length
    bpf(0x48, 0, 0, 2),                  // ldh [x+2]          UDP destination port
    bpf(0x15, 0, 1, CLIENT_PORT as u32), // jeq #68, else drop
    bpf(0x06, 0, 0, u32::MAX),           // accept
    bpf(0x06, 0, 0, 0),                  // drop
];

const fn bpf(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// A UDP socket on 0.0.0.0:68 bound to the interface (SO_BINDTODEVICE), for RENEWING and
/// REBINDING.
#[derive(Debug)]
pub struct UdpSocket(tokio::net::UdpSocket);

impl UdpSocket {
    /// Opens it (needs CAP_NET_BIND_SERVICE for port 68 and CAP_NET_RAW for the device).
    ///
    /// Errors: [`SocketError`] naming the step.
    pub fn open(ifname: &str) -> Result<Self, SocketError> {
        use socket2::{Domain, Protocol, Socket, Type};
        let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
            .map_err(io_err("open UDP socket", ifname))?;
        s.set_reuse_address(true)
            .map_err(io_err("set SO_REUSEADDR", ifname))?;
        s.bind_device(Some(ifname.as_bytes()))
            .map_err(io_err("bind UDP socket to the device", ifname))?;
        s.set_broadcast(true)
            .map_err(io_err("set SO_BROADCAST", ifname))?;
        s.set_nonblocking(true)
            .map_err(io_err("make UDP socket non-blocking", ifname))?;
        s.bind(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT).into())
            .map_err(io_err("bind UDP port 68", ifname))?;
        tokio::net::UdpSocket::from_std(s.into())
            .map(UdpSocket)
            .map_err(io_err("register UDP socket", ifname))
    }

    /// Sends a DHCP payload to `dst`:67.
    ///
    /// Errors: sendto(2)'s.
    pub fn send(&self, payload: &[u8], dst: Ipv4Addr) -> io::Result<()> {
        // sendto(2) itself: tokio's try_send_to answers WouldBlock without trying until its
        // reactor has seen the new socket writable, so the first REQUEST of every renewal
        // was lost and the lease was renewed only at T2, by rebinding.
        socket2::SockRef::from(&self.0)
            .send_to(payload, &SocketAddrV4::new(dst, SERVER_PORT).into())
            .map(|_| ())
    }

    /// Receives one datagram's payload into `buf`; returns its length.
    ///
    /// Errors: recvfrom(2)'s.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.recv_from(buf).await.map(|(n, _)| n)
    }
}

/// Why an IP datagram on the packet socket is not a DHCP reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Too short or lengths that do not add up.
    #[error("malformed IPv4/UDP packet: {0}")]
    Malformed(&'static str),
    /// The IP header checksum is wrong.
    #[error("bad IPv4 header checksum")]
    IpChecksum,
    /// The UDP checksum is wrong (and the kernel did not say it was left unfinished).
    #[error("bad UDP checksum")]
    UdpChecksum,
}

/// Checks an IPv4 datagram with UDP to port 68 and returns the UDP payload.
/// `csum_not_ready`: the kernel's TP_STATUS_CSUMNOTREADY; the UDP checksum is then not
/// checked (it holds only the pseudo-header sum).
///
/// Errors: [`FrameError`].
pub fn udp_payload(packet: &[u8], csum_not_ready: bool) -> Result<&[u8], FrameError> {
    if packet.len() < 20 || packet[0] >> 4 != 4 {
        return Err(FrameError::Malformed("not IPv4"));
    }
    let ihl = usize::from(packet[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    if ihl < 20 || total < ihl + 8 || total > packet.len() {
        return Err(FrameError::Malformed("IP lengths"));
    }
    if checksum(&[&packet[..ihl]]) != 0 {
        return Err(FrameError::IpChecksum);
    }
    if packet[9] != 17 || u16::from_be_bytes([packet[6], packet[7]]) & 0x3fff != 0 {
        return Err(FrameError::Malformed("not unfragmented UDP"));
    }
    let udp = &packet[ihl..total];
    let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    if udp_len < 8 || udp_len > udp.len() {
        return Err(FrameError::Malformed("UDP length"));
    }
    if u16::from_be_bytes([udp[2], udp[3]]) != CLIENT_PORT {
        return Err(FrameError::Malformed("not to port 68"));
    }
    let udp = &udp[..udp_len];
    let sum = u16::from_be_bytes([udp[6], udp[7]]);
    if sum != 0 && !csum_not_ready {
        let pseudo = pseudo_header(&packet[12..16], &packet[16..20], udp_len);
        if checksum(&[&pseudo, udp]) != 0 {
            return Err(FrameError::UdpChecksum);
        }
    }
    Ok(&udp[8..])
}

/// An IPv4 datagram carrying UDP 68 → 67 with `payload`, checksums filled in.
pub fn udp_packet(source: Ipv4Addr, dest: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    let udp_len = 8 + payload.len();
    let total = 20 + udp_len;
    let mut p = Vec::with_capacity(total);
    p.extend_from_slice(&[0x45, 0x10]);
    p.extend_from_slice(&(total as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0]);
    p.extend_from_slice(&source.octets());
    p.extend_from_slice(&dest.octets());
    let ip_sum = checksum(&[&p[..20]]);
    p[10..12].copy_from_slice(&ip_sum.to_be_bytes());
    p.extend_from_slice(&CLIENT_PORT.to_be_bytes());
    p.extend_from_slice(&SERVER_PORT.to_be_bytes());
    p.extend_from_slice(&(udp_len as u16).to_be_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(payload);
    let pseudo = pseudo_header(&source.octets(), &dest.octets(), udp_len);
    let sum = match checksum(&[&pseudo, &p[20..]]) {
        0 => 0xffff,
        s => s,
    };
    p[26..28].copy_from_slice(&sum.to_be_bytes());
    p
}

fn pseudo_header(src: &[u8], dst: &[u8], udp_len: usize) -> [u8; 12] {
    let mut h = [0u8; 12];
    h[..4].copy_from_slice(src);
    h[4..8].copy_from_slice(dst);
    h[9] = 17;
    h[10..12].copy_from_slice(&(udp_len as u16).to_be_bytes());
    h
}

/// The Internet checksum (RFC 1071) over the concatenation of `parts` (each even-length
/// except the last).
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for part in parts {
        let mut chunks = part.chunks_exact(2);
        for c in &mut chunks {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            sum += u32::from(*last) << 8;
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An ARP request (RFC 826) from `mac`: a probe (`sender` 0.0.0.0) or an announcement
/// (`sender` = `target`), RFC 5227 §2.1.1 and §2.3.
pub fn arp_request(mac: [u8; 6], sender: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut p = vec![0, 1, 8, 0, 6, 4, 0, 1];
    p.extend_from_slice(&mac);
    p.extend_from_slice(&sender.octets());
    p.extend_from_slice(&[0; 6]);
    p.extend_from_slice(&target.octets());
    p
}

/// Whether an ARP packet shows another host using or probing for `address` (RFC 5227
/// §2.1.1); returns that host's MAC.
pub fn arp_conflict(packet: &[u8], address: Ipv4Addr, ours: [u8; 6]) -> Option<[u8; 6]> {
    if packet.len() < 28 || packet[..6] != [0, 1, 8, 0, 6, 4] {
        return None;
    }
    let mut sha = [0u8; 6];
    sha.copy_from_slice(&packet[8..14]);
    let spa = Ipv4Addr::new(packet[14], packet[15], packet[16], packet[17]);
    let tpa = Ipv4Addr::new(packet[24], packet[25], packet[26], packet[27]);
    let op = u16::from_be_bytes([packet[6], packet[7]]);
    if sha == ours {
        return None;
    }
    let uses = spa == address;
    let probes = op == 1 && spa.is_unspecified() && tpa == address;
    (uses || probes).then_some(sha)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_packets_pass_our_own_checks() {
        // Our packets go 68 -> 67; swapping the ports (a reply) keeps the one's-complement
        // sum, so the packet reads back as a reply with a valid checksum.
        let mut r = udp_packet(
            Ipv4Addr::new(198, 18, 1, 1),
            Ipv4Addr::BROADCAST,
            b"hello dhcp",
        );
        assert_eq!(
            udp_payload(&r, false),
            Err(FrameError::Malformed("not to port 68"))
        );
        r[20..24].copy_from_slice(&[0, 67, 0, 68]);
        assert_eq!(udp_payload(&r, false), Ok(&b"hello dhcp"[..]));
        // Ethernet padding after the datagram is ignored.
        r.extend_from_slice(&[0; 6]);
        assert_eq!(udp_payload(&r, false), Ok(&b"hello dhcp"[..]));
    }

    #[test]
    fn checksum_not_ready_is_accepted_and_bad_ones_are_not() {
        let mut r = udp_packet(Ipv4Addr::new(198, 18, 1, 1), Ipv4Addr::BROADCAST, b"offer");
        r[20..24].copy_from_slice(&[0, 67, 0, 68]);
        r[26] ^= 0x55; // what a veth peer with TX offload leaves: a partial sum
        assert_eq!(udp_payload(&r, false), Err(FrameError::UdpChecksum));
        assert_eq!(udp_payload(&r, true), Ok(&b"offer"[..]));
        r[26..28].copy_from_slice(&[0, 0]); // no checksum at all is allowed in IPv4
        assert_eq!(udp_payload(&r, false), Ok(&b"offer"[..]));
        let mut bad_ip = r.clone();
        bad_ip[8] = 1; // TTL changed without fixing the header checksum
        assert_eq!(udp_payload(&bad_ip, true), Err(FrameError::IpChecksum));
        assert!(udp_payload(&r[..30], true).is_err(), "truncated");
        let mut frag = r.clone();
        frag[6] = 0x20; // more fragments
        let sum = checksum(&[&{
            let mut h = frag[..20].to_vec();
            h[10] = 0;
            h[11] = 0;
            h
        }]);
        frag[10..12].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(
            udp_payload(&frag, true),
            Err(FrameError::Malformed("not unfragmented UDP"))
        );
    }

    #[test]
    fn arp_conflicts_are_other_hosts_using_or_probing_the_address() {
        let ours = [2, 0, 0, 0, 0, 1];
        let other = [2, 0, 0, 0, 0, 2];
        let a = Ipv4Addr::new(198, 18, 1, 100);
        let mut reply = arp_request(other, a, Ipv4Addr::new(198, 18, 1, 1));
        reply[7] = 2;
        assert_eq!(arp_conflict(&reply, a, ours), Some(other));
        assert_eq!(
            arp_conflict(&arp_request(other, Ipv4Addr::UNSPECIFIED, a), a, ours),
            Some(other)
        );
        assert_eq!(
            arp_conflict(&arp_request(ours, Ipv4Addr::UNSPECIFIED, a), a, ours),
            None,
            "our own probe"
        );
        assert_eq!(
            arp_conflict(
                &arp_request(
                    other,
                    Ipv4Addr::new(198, 18, 1, 7),
                    Ipv4Addr::new(198, 18, 1, 1)
                ),
                a,
                ours
            ),
            None
        );
        assert_eq!(arp_conflict(&reply[..20], a, ours), None);
    }
}
