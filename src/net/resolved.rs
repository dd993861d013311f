//! systemd-resolved as the DNS backend: per-link nameservers and search domains through
//! org.freedesktop.resolve1.Manager (SetLinkDNS, SetLinkDomains, SetLinkDefaultRoute,
//! RevertLink), on the system bus (`DBUS_SYSTEM_BUS_ADDRESS` is honoured).

use std::net::IpAddr;

use zbus::Connection;

const SERVICE: &str = "org.freedesktop.resolve1";
const PATH: &str = "/org/freedesktop/resolve1";
const MANAGER: &str = "org.freedesktop.resolve1.Manager";
const AF_INET: i32 = 2;
const AF_INET6: i32 = 10;

/// A connection to resolved.
pub struct Resolved(Connection);

/// The new owners of resolved's bus name, as they change: empty when it left the bus.
pub type OwnerChanges = std::pin::Pin<Box<dyn futures_util::Stream<Item = String> + Send>>;

impl Resolved {
    /// Connects to the system bus; fails when resolved is not running there.
    pub async fn connect() -> zbus::Result<Self> {
        let conn = Connection::system().await?;
        let reply = conn
            .call_method(
                Some("org.freedesktop.DBus"),
                "/org/freedesktop/DBus",
                Some("org.freedesktop.DBus"),
                "NameHasOwner",
                &(SERVICE,),
            )
            .await?;
        if reply.body().deserialize::<bool>()? {
            Ok(Resolved(conn))
        } else {
            Err(zbus::Error::Failure(format!(
                "{SERVICE} is not on the system bus"
            )))
        }
    }

    async fn call<B>(&self, method: &str, body: &B) -> zbus::Result<()>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        self.0
            .call_method(Some(SERVICE), PATH, Some(MANAGER), method, body)
            .await
            .map(|_| ())
    }

    /// Sets a link's nameservers and search domains, and lets it answer any domain.
    pub async fn set_link(
        &self,
        ifindex: u32,
        nameservers: &[IpAddr],
        domains: &[String],
    ) -> zbus::Result<()> {
        let index = ifindex as i32;
        let servers: Vec<(i32, Vec<u8>)> = nameservers
            .iter()
            .map(|a| match a {
                IpAddr::V4(v4) => (AF_INET, v4.octets().to_vec()),
                IpAddr::V6(v6) => (AF_INET6, v6.octets().to_vec()),
            })
            .collect();
        let search: Vec<(&str, bool)> = domains.iter().map(|d| (d.as_str(), false)).collect();
        self.call("SetLinkDNS", &(index, servers)).await?;
        self.call("SetLinkDomains", &(index, search)).await?;
        self.call("SetLinkDefaultRoute", &(index, true)).await
    }

    /// Follows `NameOwnerChanged` for resolved's name: a new owner is a restarted resolved,
    /// which has forgotten every link's settings.
    pub async fn owner_changes(&self) -> zbus::Result<OwnerChanges> {
        use futures_util::StreamExt;
        let rule = zbus::MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .sender("org.freedesktop.DBus")?
            .interface("org.freedesktop.DBus")?
            .member("NameOwnerChanged")?
            .arg(0, SERVICE)?
            .build();
        let stream = zbus::MessageStream::for_match_rule(rule, &self.0, Some(16)).await?;
        Ok(Box::pin(stream.filter_map(|message| async move {
            let message = message.ok()?;
            let (_, _, new_owner): (String, String, String) = message.body().deserialize().ok()?;
            Some(new_owner)
        })))
    }

    /// Drops everything netpilot set on a link.
    pub async fn revert(&self, ifindex: u32) -> zbus::Result<()> {
        self.call("RevertLink", &(ifindex as i32,)).await
    }
}
