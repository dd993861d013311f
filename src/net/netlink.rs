//! rtnetlink monitor: links, IPv4/IPv6 addresses and default routes, as events.
//!
//! Subscribes to the multicast groups first, then dumps, so that nothing between the dump and
//! the subscription is lost. No polling.
//!
//! The monitor drains the socket promptly and never waits for the engine with messages
//! piling up behind it: when the engine's queue is full it drops what it reads, marks the
//! state dirty, and once the engine has room again sends a fresh dump instead. After an
//! overrun (ENOBUFS: the kernel dropped messages) it does the same. A failed re-dump is
//! retried with backoff ([`REDUMP_RETRY_MIN`] doubling to [`REDUMP_RETRY_MAX`]).

use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

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

use crate::engine::{Busy, EventSender};
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
        let mut dirty = false;
        let mut retry = REDUMP_RETRY_MIN;
        let mut retry_at: Option<tokio::time::Instant> = None;
        loop {
            tokio::select! {
                message = messages.next() => {
                    let Some((message, _)) = message else {
                        tracing::error!("netlink monitor socket closed; interface changes are no longer seen");
                        return;
                    };
                    match translate(message) {
                        Translated::Event(event) if !dirty => match events.try_send(event) {
                            Ok(()) => {}
                            Err(Busy::Full) => {
                                tracing::warn!("the engine is behind: dropping kernel events until it catches up, then dumping again");
                                dirty = true;
                            }
                            Err(Busy::Stopped) => return,
                        },
                        Translated::Event(_) | Translated::Ignored => {}
                        Translated::Overrun => {
                            tracing::warn!("netlink overrun: events were lost, dumping again");
                            dirty = true;
                        }
                    }
                }
                permit = events.reserve(), if dirty && retry_at.is_none() => {
                    let Ok(permit) = permit else { return };
                    match dump(&handle).await {
                        Ok(fresh) => {
                            permit.send(fresh);
                            dirty = false;
                            retry = REDUMP_RETRY_MIN;
                            tracing::info!("kernel state dumped again");
                        }
                        Err(e) => {
                            tracing::error!(error = %display_chain(&e), retry_in = ?retry, "re-dump failed");
                            retry_at = Some(tokio::time::Instant::now() + retry);
                            retry = (retry * 2).min(REDUMP_RETRY_MAX);
                        }
                    }
                }
                _ = sleep_until(retry_at), if retry_at.is_some() => retry_at = None,
            }
        }
    }))
}

/// First wait before a failed re-dump is tried again.
pub const REDUMP_RETRY_MIN: Duration = Duration::from_millis(100);
/// Longest wait between re-dump attempts.
pub const REDUMP_RETRY_MAX: Duration = Duration::from_secs(10);

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
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
