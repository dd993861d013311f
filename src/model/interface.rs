use std::net::IpAddr;

/// What kind of netdev an interface is, from the kernel's own classification (see
/// [`InterfaceKind::classify`]). Only [`InterfaceKind::Ethernet`] gets an Ethernet service;
/// Wi-Fi radios belong to the Wi-Fi technology, Bluetooth PAN and cellular netdevs to theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterfaceKind {
    /// A wired Ethernet NIC (or a veth): ARPHRD_ETHER with no DEVTYPE and no virtual kind.
    Ethernet,
    /// An IEEE 802.11 station or AP netdev (DEVTYPE `wlan`, or a `phy80211` link in sysfs).
    Wireless,
    /// A Bluetooth PAN netdev such as `bnep0` (DEVTYPE `bluetooth`).
    Bluetooth,
    /// A cellular modem's data netdev such as a CDC `wwan0` (DEVTYPE `wwan`).
    Wwan,
    /// A Linux bridge (DEVTYPE `bridge`).
    Bridge,
    /// A bond (DEVTYPE `bond`).
    Bond,
    /// An 802.1Q VLAN (DEVTYPE `vlan`).
    Vlan,
    /// ARPHRD_LOOPBACK.
    Loopback,
    /// Anything else (tun, wireguard, dummy, macvlan, USB gadget, …).
    Other,
}

/// What the kernel says about a netdev, as [`InterfaceKind::classify`] needs it.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeviceFacts<'a> {
    /// Link-layer type is ARPHRD_ETHER.
    pub ether: bool,
    /// Link-layer type is ARPHRD_LOOPBACK.
    pub loopback: bool,
    /// `DEVTYPE=` from `/sys/class/net/<name>/uevent`, if any.
    pub devtype: Option<&'a str>,
    /// `IFLA_INFO_KIND` of a virtual device (`veth`, `bridge`, `dummy`, …), if any.
    pub info_kind: Option<&'a str>,
    /// `/sys/class/net/<name>/phy80211` or `wireless` exists (cfg80211 or wireless extensions).
    pub wireless: bool,
}

impl InterfaceKind {
    /// Classifies a netdev by the kernel's device type (`DEVTYPE` in its sysfs uevent), then by
    /// its virtual-device kind, as ConnMan and NetworkManager do: a name says nothing (`bnep0`
    /// and a CDC `wwan0` are ARPHRD_ETHER too). `veth` counts as Ethernet, so test links and
    /// containers' uplinks can be managed.
    pub fn classify(f: DeviceFacts<'_>) -> Self {
        if f.loopback {
            return Self::Loopback;
        }
        if f.wireless {
            return Self::Wireless;
        }
        match f.devtype {
            Some("wlan") => return Self::Wireless,
            Some("bluetooth") => return Self::Bluetooth,
            Some("wwan") => return Self::Wwan,
            Some("bridge") => return Self::Bridge,
            Some("bond") => return Self::Bond,
            Some("vlan") => return Self::Vlan,
            Some(_) => return Self::Other,
            None => {}
        }
        match f.info_kind {
            _ if !f.ether => Self::Other,
            None | Some("veth") => Self::Ethernet,
            Some("bridge") => Self::Bridge,
            Some("bond") => Self::Bond,
            Some("vlan") => Self::Vlan,
            Some(_) => Self::Other,
        }
    }

    /// Lower-case name as the API reports it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ethernet => "ethernet",
            Self::Wireless => "wireless",
            Self::Bluetooth => "bluetooth",
            Self::Wwan => "wwan",
            Self::Bridge => "bridge",
            Self::Bond => "bond",
            Self::Vlan => "vlan",
            Self::Loopback => "loopback",
            Self::Other => "other",
        }
    }
}

/// Address scope (rtnetlink `ifa_scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrScope {
    /// RT_SCOPE_UNIVERSE.
    Global,
    /// RT_SCOPE_SITE.
    Site,
    /// RT_SCOPE_LINK.
    Link,
    /// RT_SCOPE_HOST.
    Host,
}

impl AddrScope {
    /// Lower-case name as the API reports it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Global => "global",
            Self::Site => "site",
            Self::Link => "link",
            Self::Host => "host",
        }
    }
}

/// One address on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceAddress {
    /// The address.
    pub address: IpAddr,
    /// Prefix length (0..=32 or 0..=128).
    pub prefix_len: u8,
    /// Scope.
    pub scope: AddrScope,
    /// IPv6 DAD not finished (IFA_F_TENTATIVE).
    pub tentative: bool,
    /// IPv6 preferred lifetime over (IFA_F_DEPRECATED): still valid, not for new
    /// connections.
    pub deprecated: bool,
}

impl InterfaceAddress {
    /// Counts toward readiness for its family: any IPv4 address; an IPv6 address only when
    /// global, not tentative and not deprecated (DESIGN §1: new connections cannot use it).
    pub fn counts_for_readiness(&self) -> bool {
        match self.address {
            IpAddr::V4(_) => true,
            IpAddr::V6(_) => self.scope == AddrScope::Global && !self.tentative && !self.deprecated,
        }
    }
}

/// A kernel netdev as netpilot sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// ifindex.
    pub index: u32,
    /// Kernel name.
    pub name: String,
    /// Link-layer address, when the link has a 6-byte one.
    pub mac: Option<[u8; 6]>,
    /// Kind of device.
    pub kind: InterfaceKind,
    /// IFF_UP.
    pub admin_up: bool,
    /// IFF_LOWER_UP (carrier).
    pub oper_up: bool,
    /// MTU in bytes.
    pub mtu: u32,
    /// Addresses, in the order the kernel reported them.
    pub addresses: Vec<InterfaceAddress>,
    /// netpilot leaves the interface alone (config ignore list or UpdateInterface).
    pub ignored: bool,
}

impl Interface {
    /// `aa:bb:cc:dd:ee:ff`, or empty.
    pub fn mac_string(&self) -> String {
        self.mac
            .map(|m| {
                m.iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<Vec<_>>()
                    .join(":")
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_the_kernel_device_type_not_the_name() {
        let ether = DeviceFacts {
            ether: true,
            ..DeviceFacts::default()
        };
        let cases = [
            ("NIC", ether, InterfaceKind::Ethernet),
            (
                "veth",
                DeviceFacts {
                    info_kind: Some("veth"),
                    ..ether
                },
                InterfaceKind::Ethernet,
            ),
            (
                "wlan by DEVTYPE",
                DeviceFacts {
                    devtype: Some("wlan"),
                    ..ether
                },
                InterfaceKind::Wireless,
            ),
            (
                "wireless by sysfs",
                DeviceFacts {
                    wireless: true,
                    ..ether
                },
                InterfaceKind::Wireless,
            ),
            (
                "bnep0",
                DeviceFacts {
                    devtype: Some("bluetooth"),
                    ..ether
                },
                InterfaceKind::Bluetooth,
            ),
            (
                "CDC wwan0",
                DeviceFacts {
                    devtype: Some("wwan"),
                    ..ether
                },
                InterfaceKind::Wwan,
            ),
            (
                "bridge",
                DeviceFacts {
                    devtype: Some("bridge"),
                    info_kind: Some("bridge"),
                    ..ether
                },
                InterfaceKind::Bridge,
            ),
            (
                "bond",
                DeviceFacts {
                    devtype: Some("bond"),
                    ..ether
                },
                InterfaceKind::Bond,
            ),
            (
                "vlan",
                DeviceFacts {
                    devtype: Some("vlan"),
                    ..ether
                },
                InterfaceKind::Vlan,
            ),
            (
                "USB gadget",
                DeviceFacts {
                    devtype: Some("gadget"),
                    ..ether
                },
                InterfaceKind::Other,
            ),
            (
                "dummy",
                DeviceFacts {
                    info_kind: Some("dummy"),
                    ..ether
                },
                InterfaceKind::Other,
            ),
            (
                "ifb",
                DeviceFacts {
                    info_kind: Some("ifb"),
                    ..ether
                },
                InterfaceKind::Other,
            ),
            (
                "macvlan",
                DeviceFacts {
                    info_kind: Some("macvlan"),
                    ..ether
                },
                InterfaceKind::Other,
            ),
            (
                "wireguard (not ARPHRD_ETHER)",
                DeviceFacts::default(),
                InterfaceKind::Other,
            ),
            (
                "loopback",
                DeviceFacts {
                    loopback: true,
                    ..DeviceFacts::default()
                },
                InterfaceKind::Loopback,
            ),
        ];
        for (name, facts, want) in cases {
            assert_eq!(InterfaceKind::classify(facts), want, "{name}");
        }
    }
}
