//! DHCP and DNS for the access point's clients: a dnsmasq netpilotd starts with a generated
//! configuration. It listens only on the AP's address (DNS on `A:53`, DHCP on port 67 of
//! the AP's interface); for the setup AP every name resolves to the AP (captive DNS) and
//! DHCP option 114 (RFC 8910) carries the captive portal API URI (RFC 8908); for
//! tethering, names are resolved upstream through netpilot's resolv.conf.
//!
//! A DNS or DHCP server already bound where dnsmasq must bind (a resolver on `0.0.0.0:53`,
//! another DHCP server) is found before dnsmasq starts and reported as [`PortClash`], with
//! the process that holds the port when /proc tells.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};

use crate::model::ApRole;

/// Lease time of the access point's clients.
pub const LEASE: &str = "10m";

/// What the generated configuration needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The AP's netdev.
    pub interface: String,
    /// The AP's address.
    pub address: Ipv4Addr,
    /// Its prefix length (16..=29).
    pub prefix: u8,
    /// Setup (captive DNS, option 114) or tethering (upstream DNS).
    pub role: ApRole,
    /// RFC 8908 API URI for option 114 (setup).
    pub captive_api: Option<String>,
    /// Where dnsmasq keeps its leases.
    pub lease_file: PathBuf,
    /// Upstream nameservers for tethering (netpilot's resolv.conf).
    pub resolv_file: PathBuf,
}

/// The addresses handed out: from the tenth host of the subnet (the first when the subnet
/// is small) to the last before broadcast, skipping nothing else (the AP's own address is
/// never leased: dnsmasq knows it is its own).
pub fn dhcp_range(address: Ipv4Addr, prefix: u8) -> (Ipv4Addr, Ipv4Addr) {
    let mask = u32::MAX << (32 - u32::from(prefix));
    let network = u32::from(address) & mask;
    let broadcast = network | !mask;
    let hosts = broadcast - network - 1;
    let first = if hosts > 20 {
        network + 10
    } else {
        network + 1
    };
    (Ipv4Addr::from(first), Ipv4Addr::from(broadcast - 1))
}

/// The netmask of a prefix length.
pub fn netmask(prefix: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::MAX << (32 - u32::from(prefix)))
}

/// The configuration file's text.
pub fn config(plan: &Plan) -> String {
    let a = plan.address;
    let (first, last) = dhcp_range(a, plan.prefix);
    let mut lines = vec![
        format!(
            "# Written by netpilotd for the {} access point on {}; rewritten at every start.",
            plan.role.as_str(),
            plan.interface
        ),
        "log-facility=-".into(),
        "pid-file=".into(),
        "no-hosts".into(),
        format!("listen-address={a}"),
        "bind-interfaces".into(),
        format!("dhcp-range={first},{last},{},{LEASE}", netmask(plan.prefix)),
        "dhcp-authoritative".into(),
        format!("dhcp-option=option:router,{a}"),
        format!("dhcp-option=option:dns-server,{a}"),
        format!("dhcp-leasefile={}", plan.lease_file.display()),
    ];
    match plan.role {
        ApRole::Setup => {
            lines.push("no-resolv".into());
            lines.push(format!("address=/#/{a}"));
            if let Some(uri) = &plan.captive_api {
                lines.push(format!("dhcp-option=114,\"{uri}\""));
            }
        }
        ApRole::Tethering => {
            lines.push(format!("resolv-file={}", plan.resolv_file.display()));
        }
    }
    lines.join("\n") + "\n"
}

/// A port the access point needs is taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{proto} port {port} on {address} is taken{}: {what}",
    holder.as_ref().map(|h| format!(" by {h}")).unwrap_or_default()
)]
pub struct PortClash {
    /// "UDP" or "TCP".
    pub proto: &'static str,
    /// The port.
    pub port: u16,
    /// The address netpilot needs it on.
    pub address: Ipv4Addr,
    /// The process that holds it, e.g. `pid 812 (named)`, when /proc tells.
    pub holder: Option<String>,
    /// What to do.
    pub what: String,
}

/// The process holding a local `proto` (`udp`, `tcp`) socket on `port`, from /proc.
pub fn port_holder(proto: &str, port: u16) -> Option<String> {
    let inodes: Vec<String> = ["", "6"]
        .iter()
        .filter_map(|v| std::fs::read_to_string(format!("/proc/net/{proto}{v}")).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter_map(|line| {
                    let f: Vec<&str> = line.split_whitespace().collect();
                    let local_port = f.get(1)?.rsplit(':').next()?;
                    (u16::from_str_radix(local_port, 16).ok()? == port)
                        .then(|| f.get(9).map(|i| i.to_string()))
                        .flatten()
                })
                .collect::<Vec<_>>()
        })
        .filter(|i| i != "0")
        .collect();
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(link) = std::fs::read_link(fd.path()) else {
                continue;
            };
            if wanted.iter().any(|w| link.as_os_str() == w.as_str()) {
                let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
                return Some(format!("pid {pid} ({})", comm.trim()));
            }
        }
    }
    None
}

fn in_use(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::AddrInUse
}

/// Checks that DNS (UDP and TCP `address:53`) and DHCP (UDP port 67 on `interface`) are
/// free for dnsmasq, binding them for a moment as dnsmasq will.
pub fn check_ports(address: Ipv4Addr, interface: &str) -> Result<(), PortClash> {
    let dns = SocketAddr::V4(SocketAddrV4::new(address, 53));
    let resolver = |proto: &'static str, what: &str| PortClash {
        proto,
        port: 53,
        address,
        holder: port_holder(&proto.to_ascii_lowercase(), 53),
        what: format!(
            "another DNS server listens there ({what}); make it listen only on the addresses it \
             serves (dnsmasq: --bind-interfaces; named: listen-on), or change [setup] address"
        ),
    };
    if let Err(e) = std::net::UdpSocket::bind(dns) {
        if in_use(&e) {
            return Err(resolver("UDP", "for example on 0.0.0.0:53"));
        }
    }
    if let Err(e) = std::net::TcpListener::bind(dns) {
        if in_use(&e) {
            return Err(resolver("TCP", "for example on 0.0.0.0:53"));
        }
    }
    let dhcp =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).and_then(|s| {
            s.set_reuse_address(true)?;
            s.bind_device(Some(interface.as_bytes()))?;
            s.bind(&SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 67)).into())
        });
    match dhcp {
        Err(e) if in_use(&e) => Err(PortClash {
            proto: "UDP",
            port: 67,
            address: Ipv4Addr::UNSPECIFIED,
            holder: port_holder("udp", 67),
            what: "another DHCP server listens on every interface; limit it to its own \
                   interfaces (dnsmasq: --bind-interfaces or --except-interface)"
                .into(),
        }),
        _ => Ok(()),
    }
}

/// dnsmasq's command line for `config_file`.
pub fn args(config_file: &Path) -> Vec<std::ffi::OsString> {
    vec![
        "--keep-in-foreground".into(),
        format!("--conf-file={}", config_file.display()).into(),
    ]
}

/// The line dnsmasq prints once it serves DHCP.
pub const READY: &str = "DHCP, IP range";
/// What dnsmasq prints when a port is taken after all (a race with another server).
pub const FAILED: &str = "failed to";

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(role: ApRole) -> Plan {
        Plan {
            interface: "np-ap3".into(),
            address: "198.18.30.1".parse().expect("address"),
            prefix: 24,
            role,
            captive_api: Some("http://198.18.30.1/api/captive".into()),
            lease_file: "/run/netpilot/setup/leases".into(),
            resolv_file: "/run/netpilot/resolv.conf".into(),
        }
    }

    #[test]
    fn setup_answers_every_name_and_gives_the_portal() {
        let text = config(&plan(ApRole::Setup));
        for line in [
            "listen-address=198.18.30.1",
            "bind-interfaces",
            "dhcp-range=198.18.30.10,198.18.30.254,255.255.255.0,10m",
            "dhcp-option=option:router,198.18.30.1",
            "dhcp-option=option:dns-server,198.18.30.1",
            "no-resolv",
            "address=/#/198.18.30.1",
            "dhcp-option=114,\"http://198.18.30.1/api/captive\"",
            "dhcp-leasefile=/run/netpilot/setup/leases",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing:\n{text}");
        }
        assert!(
            !text.contains("interface="),
            "no interface= (it would add lo)"
        );
    }

    #[test]
    fn tethering_resolves_upstream() {
        let text = config(&plan(ApRole::Tethering));
        assert!(
            text.contains("resolv-file=/run/netpilot/resolv.conf\n"),
            "{text}"
        );
        assert!(
            !text.contains("address=/#/") && !text.contains("114"),
            "{text}"
        );
    }

    #[test]
    fn ranges() {
        let ip = |s: &str| s.parse::<Ipv4Addr>().expect("ip");
        assert_eq!(
            dhcp_range(ip("192.168.42.1"), 24),
            (ip("192.168.42.10"), ip("192.168.42.254"))
        );
        assert_eq!(
            dhcp_range(ip("10.0.0.1"), 29),
            (ip("10.0.0.1"), ip("10.0.0.6"))
        );
        assert_eq!(netmask(20), ip("255.255.240.0"));
    }

    #[test]
    fn a_taken_port_names_its_holder() {
        // A socket of this test process on a loopback port: /proc names us.
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = socket.local_addr().expect("addr").port();
        let holder = port_holder("udp", port).expect("found");
        assert!(holder.contains(&std::process::id().to_string()), "{holder}");
        let clash = PortClash {
            proto: "UDP",
            port: 53,
            address: "198.18.30.1".parse().expect("ip"),
            holder: Some("pid 1 (named)".into()),
            what: "do this".into(),
        };
        assert_eq!(
            clash.to_string(),
            "UDP port 53 on 198.18.30.1 is taken by pid 1 (named): do this"
        );
    }
}
