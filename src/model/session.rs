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

/// Longest `context_identifier`, bytes.
pub const MAX_CONTEXT_IDENTIFIER: usize = 256;

/// What a session asks for (ConnMan doc/session-api.txt settings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSettings {
    /// Allowed bearers, the caller's preference first. Empty: never connects.
    pub allowed_bearers: Vec<Bearer>,
    /// Connectivity asked for.
    pub connection_type: ConnectionType,
    /// Only a service on this kernel interface may carry the session ("AllowedInterface");
    /// `None`: any.
    pub allowed_interface: Option<String>,
    /// Free text naming what the session is for ("ContextIdentifier"), at most
    /// [`MAX_CONTEXT_IDENTIFIER`] bytes.
    pub context_identifier: String,
    /// Route traffic from the session's source address through its service
    /// ("SourceIPRule").
    pub source_ip_rule: bool,
    /// A metered service may carry the session.
    pub allow_metered: bool,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            allowed_bearers: vec![Bearer::Any],
            connection_type: ConnectionType::Any,
            allowed_interface: None,
            context_identifier: String::new(),
            source_ip_rule: false,
            allow_metered: true,
        }
    }
}

/// A change of a session's settings (ChangeSession): `None` keeps a setting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionChange {
    /// New allowed bearers.
    pub allowed_bearers: Option<Vec<Bearer>>,
    /// New connection type.
    pub connection_type: Option<ConnectionType>,
    /// New pinned interface; `Some(None)`: any.
    pub allowed_interface: Option<Option<String>>,
    /// New context identifier.
    pub context_identifier: Option<String>,
    /// New source-address rule switch.
    pub source_ip_rule: Option<bool>,
    /// New metered switch.
    pub allow_metered: Option<bool>,
}

impl SessionChange {
    /// Sets the fields this change names.
    pub fn apply_to(&self, settings: &mut SessionSettings) {
        let SessionChange {
            allowed_bearers,
            connection_type,
            allowed_interface,
            context_identifier,
            source_ip_rule,
            allow_metered,
        } = self;
        if let Some(v) = allowed_bearers {
            settings.allowed_bearers = v.clone();
        }
        if let Some(v) = connection_type {
            settings.connection_type = *v;
        }
        if let Some(v) = allowed_interface {
            settings.allowed_interface = v.clone();
        }
        if let Some(v) = context_identifier {
            settings.context_identifier = v.clone();
        }
        if let Some(v) = source_ip_rule {
            settings.source_ip_rule = *v;
        }
        if let Some(v) = allow_metered {
            settings.allow_metered = *v;
        }
    }
}

/// Why a session moves from one service to another (its handover notice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandoverReason {
    /// The next service ranks higher now (it became online, the user moved it up).
    BetterService,
    /// The previous service lost its link (carrier, access point).
    LostCarrier,
    /// The previous service failed.
    Failed,
    /// The previous service is no longer online, which an internet session needs.
    Demoted,
    /// The previous service was disconnected or went away.
    Disconnected,
    /// The session's own settings changed.
    Settings,
}

impl HandoverReason {
    /// The word the API sends.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BetterService => "better-service",
            Self::LostCarrier => "lost-carrier",
            Self::Failed => "failed",
            Self::Demoted => "demoted",
            Self::Disconnected => "disconnected",
            Self::Settings => "settings",
        }
    }
}

/// A move of a session from one service to another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handover {
    /// The service left.
    pub previous: ServiceId,
    /// The service moved to.
    pub next: ServiceId,
    /// Why.
    pub reason: HandoverReason,
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
    /// The session asked the daemon to connect (ConnectSession) and has not withdrawn.
    pub connect_requested: bool,
    /// The last move between two services, kept until the next one: the stream sends it
    /// before the update naming `next` (the handover notice).
    pub handover: Option<Handover>,
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
    /// The session asked the daemon to connect.
    pub connect_requested: bool,
}
