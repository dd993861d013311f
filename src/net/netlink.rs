//! rtnetlink monitor: links, IPv4/IPv6 addresses and default routes, as events.
//!
//! Subscribes to the multicast groups first, then dumps, so that nothing between the dump and
//! the subscription is lost. After an overrun (ENOBUFS: the kernel dropped messages) it
//! dumps again. No polling.

use std::net::IpAddr;
use std::path::Path;

use futures_util::{StreamExt, TryStreamExt};
use rtnetlink::packet_core::{NetlinkMessage, NetlinkPayload};
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use rtnetlink::packet_route::link::{
    LinkAttribute, LinkFlags, LinkInfo, LinkLayerType, LinkMessage, State,
};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteType,
};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::sys::AsyncSocket;
use rtnetlink::{Handle, MulticastGroup, RouteMessageBuilder};

use crate::engine::EventSender;
use crate::model::{AddrScope, DeviceFacts, InterfaceAddress, InterfaceKind};

/// Link-level facts about one netdev.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// ifindex.
    pub index: u32,
    /// Kernel name.
    pub name: String,
    /// 6-byte link-layer address, if any.
    pub mac: Option<[u8; 6]>,
    /// Kind of device.
    pub kind: InterfaceKind,
    /// IFF_UP.
    pub admin_up: bool,
    /// IFF_LOWER_UP with operstate up or unknown.
    pub oper_up: bool,
    /// MTU in bytes.
    pub mtu: u32,
}

/// A default route via a gateway (destination /0, main table, unicast). Device routes
/// without a gateway are not reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DefaultRoute {
    /// Output interface.
    pub index: u32,
    /// Route metric (RTA_PRIORITY); 0 when absent.
    pub metric: u32,
    /// Next hop.
    pub gateway: IpAddr,
}

/// What the monitor reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    /// The whole state: at start and after an overrun. Replaces everything known before.
    Dump {
        /// All links.
        links: Vec<Link>,
        /// All addresses with their ifindex.
        addresses: Vec<(u32, InterfaceAddress)>,
        /// All default routes.
        routes: Vec<DefaultRoute>,
    },
    /// A link appeared or changed.
    LinkChanged(Link),
    /// A link went away (ifindex).
    LinkRemoved(u32),
    /// An address appeared or changed.
    AddressAdded(u32, InterfaceAddress),
    /// An address went away.
    AddressRemoved(u32, InterfaceAddress),
    /// A default route appeared.
    RouteAdded(DefaultRoute),
    /// A default route went away.
    RouteRemoved(DefaultRoute),
}

/// Errors of the monitor.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// Opening a netlink socket failed.
    #[error("open rtnetlink socket")]
    Open(#[source] std::io::Error),
    /// A dump request failed.
    #[error("dump {what} over rtnetlink")]
    Dump {
        /// links, addresses or routes.
        what: &'static str,
        /// The cause.
        #[source]
        source: rtnetlink::Error,
    },
}

/// Starts the monitor. Events go to `events`; the task ends when that receiver is dropped.
/// Fails only when the sockets cannot be opened or the first dump fails.
pub async fn spawn(
    events: EventSender<NetEvent>,
) -> Result<tokio::task::JoinHandle<()>, NetlinkError> {
    let groups = [
        MulticastGroup::Link,
        MulticastGroup::Ipv4Ifaddr,
        MulticastGroup::Ipv6Ifaddr,
        MulticastGroup::Ipv4Route,
        MulticastGroup::Ipv6Route,
    ];
    let (mut monitor_conn, _, mut messages) =
        rtnetlink::new_multicast_connection(&groups).map_err(NetlinkError::Open)?;
    if let Err(e) = monitor_conn
        .socket_mut()
        .socket_mut()
        .set_rx_buf_sz(4 * 1024 * 1024)
    {
        tracing::warn!(error = %e, "cannot enlarge the netlink receive buffer; overruns are more likely");
    }
    tokio::spawn(monitor_conn);
    let (conn, handle, _) = rtnetlink::new_connection().map_err(NetlinkError::Open)?;
    tokio::spawn(conn);

    let first = dump(&handle).await?;
    Ok(tokio::spawn(async move {
        if events.send(first).await.is_err() {
            return;
        }
        while let Some((message, _)) = messages.next().await {
            let event = match translate(message) {
                Translated::Event(e) => e,
                Translated::Ignored => continue,
                Translated::Overrun => {
                    tracing::warn!("netlink overrun: events were lost, dumping again");
                    match dump(&handle).await {
                        Ok(d) => d,
                        Err(e) => {
                            tracing::error!(error = %display_chain(&e), "re-dump after overrun failed");
                            continue;
                        }
                    }
                }
            };
            if events.send(event).await.is_err() {
                return;
            }
        }
        tracing::error!("netlink monitor socket closed; interface changes are no longer seen");
    }))
}

/// Formats an error with its causes: "a: b: c".
pub fn display_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

async fn dump(handle: &Handle) -> Result<NetEvent, NetlinkError> {
    let err = |what| move |source| NetlinkError::Dump { what, source };
    let links: Vec<LinkMessage> = handle
        .link()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(err("links"))?;
    let addresses: Vec<AddressMessage> = handle
        .address()
        .get()
        .execute()
        .try_collect()
        .await
        .map_err(err("addresses"))?;
    let mut routes: Vec<RouteMessage> = handle
        .route()
        .get(RouteMessageBuilder::<std::net::Ipv4Addr>::new().build())
        .execute()
        .try_collect()
        .await
        .map_err(err("IPv4 routes"))?;
    let v6: Vec<RouteMessage> = handle
        .route()
        .get(RouteMessageBuilder::<std::net::Ipv6Addr>::new().build())
        .execute()
        .try_collect()
        .await
        .map_err(err("IPv6 routes"))?;
    routes.extend(v6);
    Ok(NetEvent::Dump {
        links: links.iter().filter_map(parse_link).collect(),
        addresses: addresses.iter().filter_map(parse_address).collect(),
        routes: routes.iter().filter_map(parse_default_route).collect(),
    })
}

enum Translated {
    Event(NetEvent),
    Ignored,
    Overrun,
}

fn translate(message: NetlinkMessage<RouteNetlinkMessage>) -> Translated {
    use RouteNetlinkMessage as M;
    let event = match message.payload {
        NetlinkPayload::Overrun(_) => return Translated::Overrun,
        NetlinkPayload::InnerMessage(inner) => match inner {
            M::NewLink(l) => parse_link(&l).map(NetEvent::LinkChanged),
            M::DelLink(l) => Some(NetEvent::LinkRemoved(l.header.index)),
            M::NewAddress(a) => parse_address(&a).map(|(i, a)| NetEvent::AddressAdded(i, a)),
            M::DelAddress(a) => parse_address(&a).map(|(i, a)| NetEvent::AddressRemoved(i, a)),
            M::NewRoute(r) => parse_default_route(&r).map(NetEvent::RouteAdded),
            M::DelRoute(r) => parse_default_route(&r).map(NetEvent::RouteRemoved),
            _ => None,
        },
        _ => None,
    };
    event.map_or(Translated::Ignored, Translated::Event)
}

fn parse_link(msg: &LinkMessage) -> Option<Link> {
    let mut name = None;
    let mut mac = None;
    let mut mtu = 0;
    let mut operstate = None;
    let mut info_kind = None;
    let mut has_mtu = false;
    for attr in &msg.attributes {
        match attr {
            // A wireless-extensions event rides on RTM_NEWLINK with only a few attributes:
            // it is not a link change, and reading it as one would wipe the MAC and MTU.
            LinkAttribute::Wireless(_) => return None,
            LinkAttribute::IfName(n) => name = Some(n.clone()),
            LinkAttribute::Address(a) => mac = <[u8; 6]>::try_from(a.as_slice()).ok(),
            LinkAttribute::Mtu(m) => {
                mtu = *m;
                has_mtu = true;
            }
            LinkAttribute::OperState(s) => operstate = Some(*s),
            LinkAttribute::LinkInfo(infos) => {
                info_kind = infos.iter().find_map(|i| match i {
                    LinkInfo::Kind(k) => Some(k.clone()),
                    _ => None,
                })
            }
            _ => {}
        }
    }
    let name = name?;
    if !has_mtu {
        tracing::debug!(interface = %name, "partial link message without IFLA_MTU ignored");
        return None;
    }
    let flags = msg.header.flags;
    let info_kind = info_kind.map(|k| k.to_string());
    let sysfs = Sysfs::read(&name);
    let kind = InterfaceKind::classify(DeviceFacts {
        ether: msg.header.link_layer_type == LinkLayerType::Ether,
        loopback: msg.header.link_layer_type == LinkLayerType::Loopback,
        devtype: sysfs.devtype.as_deref(),
        info_kind: info_kind.as_deref(),
        wireless: sysfs.wireless,
    });
    Some(Link {
        index: msg.header.index,
        name,
        mac: mac.filter(|m| *m != [0; 6]),
        kind,
        admin_up: flags.contains(LinkFlags::Up),
        oper_up: flags.contains(LinkFlags::LowerUp)
            && matches!(operstate, None | Some(State::Up) | Some(State::Unknown)),
        mtu,
    })
}

/// What sysfs says about a netdev: the kernel's device type and whether it is a radio.
struct Sysfs {
    devtype: Option<String>,
    wireless: bool,
}

impl Sysfs {
    /// Reads `/sys/class/net/<name>/uevent` (`DEVTYPE=`) and looks for `phy80211` or
    /// `wireless` beside it (as ConnMan checks). A netdev that vanished meanwhile reads as
    /// having neither; its removal event follows.
    fn read(name: &str) -> Self {
        let dir = Path::new("/sys/class/net").join(name);
        let devtype = std::fs::read_to_string(dir.join("uevent"))
            .ok()
            .and_then(|uevent| {
                uevent
                    .lines()
                    .find_map(|l| l.strip_prefix("DEVTYPE=").map(str::to_string))
            });
        let wireless = dir.join("wireless").exists() || dir.join("phy80211").exists();
        Sysfs { devtype, wireless }
    }
}

fn parse_address(msg: &AddressMessage) -> Option<(u32, InterfaceAddress)> {
    let mut local = None;
    let mut address = None;
    let mut tentative = msg.header.flags.contains(AddressHeaderFlags::Tentative);
    let mut deprecated = msg.header.flags.contains(AddressHeaderFlags::Deprecated);
    for attr in &msg.attributes {
        match attr {
            AddressAttribute::Local(a) => local = Some(*a),
            AddressAttribute::Address(a) => address = Some(*a),
            AddressAttribute::Flags(f) => {
                tentative |= f.contains(AddressFlags::Tentative);
                deprecated |= f.contains(AddressFlags::Deprecated);
            }
            _ => {}
        }
    }
    // For IPv4, IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer on
    // point-to-point links); IPv6 only sends IFA_ADDRESS.
    let address = local.or(address)?;
    let scope = match msg.header.scope {
        AddressScope::Universe => AddrScope::Global,
        AddressScope::Site => AddrScope::Site,
        AddressScope::Link => AddrScope::Link,
        _ => AddrScope::Host,
    };
    Some((
        msg.header.index,
        InterfaceAddress {
            address,
            prefix_len: msg.header.prefix_len,
            scope,
            tentative,
            deprecated,
        },
    ))
}

fn parse_default_route(msg: &RouteMessage) -> Option<DefaultRoute> {
    let header = &msg.header;
    if header.destination_prefix_length != 0 || header.kind != RouteType::Unicast {
        return None;
    }
    let mut table = u32::from(header.table);
    let mut index = None;
    let mut metric = 0;
    let mut gateway = None;
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Oif(i) => index = Some(*i),
            RouteAttribute::Priority(p) => metric = *p,
            RouteAttribute::Gateway(RouteAddress::Inet(a)) => gateway = Some(IpAddr::V4(*a)),
            RouteAttribute::Gateway(RouteAddress::Inet6(a)) => gateway = Some(IpAddr::V6(*a)),
            _ => {}
        }
    }
    if table != u32::from(RouteHeader::RT_TABLE_MAIN) {
        return None;
    }
    Some(DefaultRoute {
        index: index?,
        metric,
        gateway: gateway?,
    })
}
