use std::fmt;
use std::str::FromStr;

use super::{Ipv4Info, Ipv6Info, ServiceId, TechnologyKind};

/// Session identifier, unique for the daemon's lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub u64);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// One entry of a session's allowed bearers (ConnMan session "AllowedBearers").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bearer {
    /// Any technology ("*").
    Any,
    /// One technology.
    Technology(TechnologyKind),
}

impl Bearer {
    /// Whether a service of this technology may carry the session.
    pub fn allows(self, kind: TechnologyKind) -> bool {
        match self {
            Self::Any => true,
            Self::Technology(k) => k == kind,
        }
    }
}

impl fmt::Display for Bearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::Technology(k) => f.write_str(k.as_str()),
        }
    }
}

impl FromStr for Bearer {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "*" {
            return Ok(Self::Any);
        }
        s.parse::<TechnologyKind>()
            .map(Self::Technology)
            .map_err(|_| {
                format!("unknown bearer {s:?}: expected ethernet, wifi, bluetooth, cellular or *")
            })
    }
}

/// What connectivity a session asks for (ConnMan session "ConnectionType").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConnectionType {
    /// A ready service is enough.
    Local,
    /// Only an online service counts.
    Internet,
    /// Ready or online; ready → online is reported.
    #[default]
    Any,
}

impl ConnectionType {
    /// ConnMan's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Internet => "internet",
            Self::Any => "any",
        }
    }
}

/// What a session asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSettings {
    /// Allowed bearers, the caller's preference first. Empty: never connects.
    pub allowed_bearers: Vec<Bearer>,
    /// Connectivity asked for.
    pub connection_type: ConnectionType,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            allowed_bearers: vec![Bearer::Any],
            connection_type: ConnectionType::Any,
        }
    }
}

/// Session state (ConnMan session "State").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SessionState {
    /// No allowed service can carry the session.
    #[default]
    Disconnected,
    /// The chosen service is ready.
    Connected,
    /// The chosen service is online.
    Online,
}

impl SessionState {
    /// ConnMan's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disconnected => "disconnected",
            Self::Connected => "connected",
            Self::Online => "online",
        }
    }
}

/// Everything a session's client is told. The stream diffs successive views and sends
/// only what changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionView {
    /// State.
    pub state: SessionState,
    /// Chosen service's name; empty when none.
    pub name: String,
    /// Chosen service's technology.
    pub bearer: Option<TechnologyKind>,
    /// Chosen service's interface; empty when none.
    pub interface: String,
    /// Chosen service.
    pub service_id: Option<ServiceId>,
    /// Chosen service's IPv4.
    pub ipv4: Option<Ipv4Info>,
    /// Chosen service's IPv6.
    pub ipv6: Option<Ipv6Info>,
    /// Settings in effect.
    pub settings: SessionSettings,
    /// Set once the daemon ended the session: the reason ("shutdown", "destroyed").
    pub released: Option<&'static str>,
}

/// A session as ListSessions shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    /// Id.
    pub id: SessionId,
    /// Who opened it.
    pub owner: String,
    /// Settings in effect.
    pub settings: SessionSettings,
    /// State.
    pub state: SessionState,
    /// Chosen service.
    pub service_id: Option<ServiceId>,
}
