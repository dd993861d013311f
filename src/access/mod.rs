//! Who may do what (DESIGN §4): caller identities, the roles `viewer` < `user` < `admin`,
//! the `[access]` map from identities to roles, and session policies
//! ([`policy`], ConnMan's `session_policy_local`, stricter).
//!
//! An identity comes from the transport, never from the request: SO_PEERCRED (uid, gid)
//! plus SO_PEERGROUPS (supplementary groups) on the Unix socket; the client certificate's
//! subject CN and subjectAltName DNS names and URIs (SPIFFE IDs) on the TLS listener; the
//! peer address on the development-only plain-TCP loopback listener.

pub mod policy;
pub mod watch;

use std::fmt;
use std::net::SocketAddr;

/// A role, ordered: each includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads state: manager, technologies, services, interfaces, its own sessions.
    Viewer,
    /// Also uses connectivity: sessions, connect and disconnect, scans, the agent.
    User,
    /// Also changes configuration: offline mode, technologies, service settings, the
    /// service order, interfaces; acts on anyone's sessions.
    Admin,
}

impl Role {
    /// The word used in the configuration and in errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a TLS client certificate says about its holder.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct CertIdentity {
    /// The subject's common name, when it has one.
    pub cn: Option<String>,
    /// subjectAltName DNS names.
    pub dns: Vec<String>,
    /// subjectAltName URIs (e.g. `spiffe://fleet/dashboard`).
    pub uris: Vec<String>,
}

/// Who a caller is, as the transport proves it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Identity {
    /// A Unix-socket peer: SO_PEERCRED's uid and gid, and SO_PEERGROUPS.
    Local {
        /// User id.
        uid: u32,
        /// Primary group id.
        gid: u32,
        /// Supplementary group ids.
        groups: Vec<u32>,
    },
    /// A client of the mutual-TLS listener.
    Certificate(CertIdentity),
    /// A plain-TCP peer on loopback (development only): each connection is its own
    /// identity, since anything on the machine can open one.
    Loopback(SocketAddr),
}

impl Identity {
    /// Whether `self` and `other` are the same owner: the same uid over the Unix socket,
    /// the same certificate names over TLS, the same connection over loopback TCP.
    pub fn same_owner(&self, other: &Identity) -> bool {
        match (self, other) {
            (Identity::Local { uid: a, .. }, Identity::Local { uid: b, .. }) => a == b,
            (Identity::Certificate(a), Identity::Certificate(b)) => a == b,
            (Identity::Loopback(a), Identity::Loopback(b)) => a == b,
            _ => false,
        }
    }

    /// The key limits are counted under: the owner, as [`Identity::same_owner`] sees it.
    pub fn key(&self) -> IdentityKey {
        match self {
            Identity::Local { uid, .. } => IdentityKey::Uid(*uid),
            Identity::Certificate(c) => IdentityKey::Certificate(c.clone()),
            Identity::Loopback(a) => IdentityKey::Loopback(*a),
        }
    }
}

/// An owner, for counting sessions, streams and calls per identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IdentityKey {
    /// A local user.
    Uid(u32),
    /// A certificate's names.
    Certificate(CertIdentity),
    /// A loopback connection.
    Loopback(SocketAddr),
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Identity::Local { uid, gid, .. } => write!(f, "uid={uid} gid={gid}"),
            Identity::Certificate(c) => {
                let mut parts = Vec::new();
                if let Some(cn) = &c.cn {
                    parts.push(format!("cn={cn}"));
                }
                parts.extend(c.dns.iter().map(|d| format!("dns={d}")));
                parts.extend(c.uris.iter().map(|u| format!("uri={u}")));
                if parts.is_empty() {
                    parts.push("certificate without names".into());
                }
                f.write_str(&parts.join(" "))
            }
            Identity::Loopback(addr) => write!(f, "tcp {addr}"),
        }
    }
}

/// A caller: who it is, the role the `[access]` map gives it, and its process when the
/// kernel says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Who.
    pub identity: Identity,
    /// Its role; `None`: no access beyond health checks.
    pub role: Option<Role>,
    /// Process id, for Unix-socket callers when the kernel gave one.
    pub pid: Option<i32>,
}

impl Caller {
    /// A caller with the given identity and role.
    pub fn new(identity: Identity, role: Option<Role>) -> Self {
        Self {
            identity,
            role,
            pid: None,
        }
    }

    /// Whether the caller has at least `role`.
    pub fn has(&self, role: Role) -> bool {
        self.role.is_some_and(|r| r >= role)
    }

    /// May act on anyone's sessions.
    pub fn is_admin(&self) -> bool {
        self.has(Role::Admin)
    }

    /// May act on something owned by `owner`: the same owner, or an administrator.
    pub fn may_act_for(&self, owner: &Identity) -> bool {
        self.is_admin() || self.identity.same_owner(owner)
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.identity)?;
        if let Some(pid) = self.pid {
            write!(f, " pid={pid}")?;
        }
        Ok(())
    }
}

/// One entry of an `[access]` list or a policy's `identity` list.
///
/// Forms: `uid:N` or `uid:NAME`, `gid:N` or `gid:NAME` (matches the primary group and the
/// supplementary groups), `cn:TEXT`, `dns:NAME`, `uri:URI`, and `loopback` (every
/// plain-TCP loopback caller). Names are resolved when the configuration is loaded.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Selector {
    /// A local user.
    Uid(u32),
    /// A local group.
    Gid(u32),
    /// A certificate's subject CN.
    Cn(String),
    /// A certificate's subjectAltName DNS name.
    Dns(String),
    /// A certificate's subjectAltName URI.
    Uri(String),
    /// Any plain-TCP loopback caller.
    Loopback,
}

/// Why a selector is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// Not one of the forms.
    #[error("{0:?} is not an identity: use uid:N|NAME, gid:N|NAME, cn:NAME, dns:NAME, uri:URI or loopback")]
    Form(String),
    /// A user or group name that this system does not know.
    #[error("{kind} {name:?} does not exist on this system")]
    Unknown {
        /// "user" or "group".
        kind: &'static str,
        /// The name.
        name: String,
    },
}

/// Longest value accepted after a selector's prefix (a CN, a DNS name, a URI).
const SELECTOR_MAX: usize = 1024;

impl Selector {
    /// Parses a selector; `resolve` turns a user (`"user"`) or group (`"group"`) name into
    /// its id, or `None` when the system has no such name.
    pub fn parse(
        text: &str,
        resolve: &dyn Fn(&'static str, &str) -> Option<u32>,
    ) -> Result<Selector, SelectorError> {
        let form = || SelectorError::Form(text.to_string());
        if text == "loopback" {
            return Ok(Selector::Loopback);
        }
        let (kind, value) = text.split_once(':').ok_or_else(form)?;
        if value.is_empty() || value.len() > SELECTOR_MAX || value.contains(['\0', '\n']) {
            return Err(form());
        }
        let id = |what: &'static str| -> Result<u32, SelectorError> {
            if value.bytes().all(|b| b.is_ascii_digit()) {
                return value.parse().map_err(|_| form());
            }
            resolve(what, value).ok_or_else(|| SelectorError::Unknown {
                kind: what,
                name: value.to_string(),
            })
        };
        Ok(match kind {
            "uid" => Selector::Uid(id("user")?),
            "gid" => Selector::Gid(id("group")?),
            "cn" => Selector::Cn(value.to_string()),
            "dns" => Selector::Dns(value.to_ascii_lowercase()),
            "uri" => Selector::Uri(value.to_string()),
            _ => return Err(form()),
        })
    }

    /// Whether the selector names this identity.
    pub fn matches(&self, identity: &Identity) -> bool {
        match (self, identity) {
            (Selector::Uid(u), Identity::Local { uid, .. }) => u == uid,
            (Selector::Gid(g), Identity::Local { gid, groups, .. }) => {
                g == gid || groups.contains(g)
            }
            (Selector::Cn(n), Identity::Certificate(c)) => c.cn.as_deref() == Some(n.as_str()),
            (Selector::Dns(n), Identity::Certificate(c)) => {
                c.dns.iter().any(|d| d.eq_ignore_ascii_case(n))
            }
            (Selector::Uri(n), Identity::Certificate(c)) => c.uris.iter().any(|u| u == n),
            (Selector::Loopback, Identity::Loopback(_)) => true,
            _ => false,
        }
    }

    /// Whether it names one identity (a user, a certificate name) rather than a group: a
    /// policy for the individual wins over one for its group.
    pub fn is_individual(&self) -> bool {
        !matches!(self, Selector::Gid(_))
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Uid(u) => write!(f, "uid:{u}"),
            Selector::Gid(g) => write!(f, "gid:{g}"),
            Selector::Cn(n) => write!(f, "cn:{n}"),
            Selector::Dns(n) => write!(f, "dns:{n}"),
            Selector::Uri(n) => write!(f, "uri:{n}"),
            Selector::Loopback => f.write_str("loopback"),
        }
    }
}

/// Resolves user and group names with the system's databases (getpwnam_r, getgrnam_r).
pub fn resolve_system_name(kind: &'static str, name: &str) -> Option<u32> {
    match kind {
        "user" => nix::unistd::User::from_name(name)
            .ok()
            .flatten()
            .map(|u| u.uid.as_raw()),
        _ => nix::unistd::Group::from_name(name)
            .ok()
            .flatten()
            .map(|g| g.gid.as_raw()),
    }
}

/// The `[access]` map: which identities have which role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessMap {
    /// Identities with `admin`.
    pub admin: Vec<Selector>,
    /// Identities with `user`.
    pub user: Vec<Selector>,
    /// Identities with `viewer`.
    pub viewer: Vec<Selector>,
    /// Role of a Unix-socket caller no list names (besides root and the daemon's own user,
    /// who are always admin).
    pub unmapped_local: Option<Role>,
    /// Role of a TLS client no list names.
    pub unmapped_tls: Option<Role>,
    /// The daemon's own uid: admin over the Unix socket, like root (it could change the
    /// daemon's files and memory anyway).
    pub daemon_uid: u32,
}

impl AccessMap {
    /// The role of `identity`: the highest role whose list names it; root and the daemon's
    /// own user over the Unix socket are admin; otherwise the `unmapped_*` default (none for
    /// loopback TCP).
    pub fn role_of(&self, identity: &Identity) -> Option<Role> {
        if let Identity::Local { uid, .. } = identity {
            if *uid == 0 || *uid == self.daemon_uid {
                return Some(Role::Admin);
            }
        }
        for (role, list) in [
            (Role::Admin, &self.admin),
            (Role::User, &self.user),
            (Role::Viewer, &self.viewer),
        ] {
            if list.iter().any(|s| s.matches(identity)) {
                return Some(role);
            }
        }
        match identity {
            Identity::Local { .. } => self.unmapped_local,
            Identity::Certificate(_) => self.unmapped_tls,
            Identity::Loopback(_) => None,
        }
    }

    /// A caller with the role this map gives `identity`.
    pub fn caller(&self, identity: Identity, pid: Option<i32>) -> Caller {
        let role = self.role_of(&identity);
        Caller {
            identity,
            role,
            pid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(kind: &'static str, name: &str) -> Option<u32> {
        match (kind, name) {
            ("user", "robot") => Some(1001),
            ("group", "robot") => Some(2001),
            _ => None,
        }
    }

    fn sel(text: &str) -> Selector {
        Selector::parse(text, &resolve).expect(text)
    }

    fn local(uid: u32, gid: u32, groups: &[u32]) -> Identity {
        Identity::Local {
            uid,
            gid,
            groups: groups.to_vec(),
        }
    }

    fn cert(cn: &str, dns: &[&str], uris: &[&str]) -> Identity {
        Identity::Certificate(CertIdentity {
            cn: Some(cn.into()),
            dns: dns.iter().map(|s| s.to_string()).collect(),
            uris: uris.iter().map(|s| s.to_string()).collect(),
        })
    }

    #[test]
    fn selectors_parse_and_match() {
        assert_eq!(sel("uid:0"), Selector::Uid(0));
        assert_eq!(sel("uid:robot"), Selector::Uid(1001));
        assert_eq!(sel("gid:robot"), Selector::Gid(2001));
        assert_eq!(sel("dns:Robot.Fleet"), Selector::Dns("robot.fleet".into()));
        assert_eq!(sel("loopback"), Selector::Loopback);
        for bad in ["", "uid:", "uid", "user:1", "cn", "uid:99999999999"] {
            assert!(
                matches!(Selector::parse(bad, &resolve), Err(SelectorError::Form(_))),
                "{bad:?}"
            );
        }
        assert!(Selector::parse("uid:-1", &resolve).is_err());
        assert_eq!(
            Selector::parse("gid:nobody-here", &resolve),
            Err(SelectorError::Unknown {
                kind: "group",
                name: "nobody-here".into()
            })
        );

        let robot = local(1001, 100, &[2001]);
        assert!(sel("uid:1001").matches(&robot));
        assert!(sel("gid:2001").matches(&robot), "supplementary group");
        assert!(sel("gid:100").matches(&robot), "primary group");
        assert!(!sel("gid:3").matches(&robot));
        let c = cert("fleet-controller", &["ctl.fleet"], &["spiffe://fleet/ctl"]);
        assert!(sel("cn:fleet-controller").matches(&c));
        assert!(sel("dns:CTL.fleet").matches(&c));
        assert!(sel("uri:spiffe://fleet/ctl").matches(&c));
        assert!(!sel("uri:spiffe://fleet/other").matches(&c));
        assert!(!sel("cn:fleet-controller").matches(&robot));
        assert!(!sel("uid:1001").matches(&c));
        assert!(sel("loopback").matches(&Identity::Loopback("127.0.0.1:5".parse().expect("addr"))));
    }

    #[test]
    fn roles_from_the_map() {
        let map = AccessMap {
            admin: vec![sel("cn:fleet-controller")],
            user: vec![sel("gid:robot")],
            viewer: vec![sel("uri:spiffe://fleet/dashboard"), sel("uid:1001")],
            unmapped_local: None,
            unmapped_tls: None,
            daemon_uid: 0,
        };
        let cases = [
            ("root", local(0, 0, &[]), Some(Role::Admin)),
            ("robot group", local(1500, 1500, &[2001]), Some(Role::User)),
            ("highest wins", local(1001, 1001, &[2001]), Some(Role::User)),
            ("viewer uid", local(1001, 1001, &[]), Some(Role::Viewer)),
            ("unmapped local", local(1600, 1600, &[]), None),
            (
                "admin cert",
                cert("fleet-controller", &[], &[]),
                Some(Role::Admin),
            ),
            (
                "viewer cert",
                cert("dash", &[], &["spiffe://fleet/dashboard"]),
                Some(Role::Viewer),
            ),
            ("unmapped cert", cert("stranger", &[], &[]), None),
            (
                "loopback unmapped",
                Identity::Loopback("127.0.0.1:9".parse().expect("addr")),
                None,
            ),
        ];
        for (name, identity, want) in cases {
            assert_eq!(map.role_of(&identity), want, "{name}");
        }
        let open = AccessMap {
            unmapped_tls: Some(Role::Viewer),
            unmapped_local: Some(Role::User),
            daemon_uid: 1234,
            ..AccessMap::default()
        };
        assert_eq!(open.role_of(&cert("x", &[], &[])), Some(Role::Viewer));
        assert_eq!(open.role_of(&local(7, 7, &[])), Some(Role::User));
        assert_eq!(
            open.role_of(&local(1234, 7, &[])),
            Some(Role::Admin),
            "the daemon's own user"
        );
    }

    #[test]
    fn ownership() {
        let a = Caller::new(local(1000, 1000, &[]), Some(Role::User));
        let a_other_process = local(1000, 5, &[9]);
        let b = local(1001, 1000, &[]);
        assert!(a.may_act_for(&a_other_process), "same uid");
        assert!(!a.may_act_for(&b));
        let admin = Caller::new(cert("ctl", &[], &[]), Some(Role::Admin));
        assert!(admin.may_act_for(&b));
        let c1 = Caller::new(cert("robot", &["r.fleet"], &[]), Some(Role::User));
        assert!(c1.may_act_for(&cert("robot", &["r.fleet"], &[])));
        assert!(!c1.may_act_for(&cert("robot", &["other.fleet"], &[])));
        assert!(!c1.may_act_for(&local(0, 0, &[])));
    }
}
