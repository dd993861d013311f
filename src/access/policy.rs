//! Session policies (ConnMan's `session_policy_local`, stricter): per identity, which
//! bearers and connection types its sessions may ask for, how many sessions it may hold,
//! and an optional interface pin.
//!
//! One policy per TOML file in the policy directory (`[access] session_policies`):
//!
//! ```toml
//! identity = ["uid:nav", "gid:robot"]     # who it is for (the [access] selector forms)
//! allowed_bearers = ["ethernet", "wifi"]  # absent or ["*"]: any
//! connection_types = ["local", "internet"] # absent: any
//! max_sessions = 4                         # absent: [api] max_sessions_per_identity
//! allowed_interface = "eth0"               # absent: any interface
//! ```
//!
//! Unlike ConnMan, a policy only removes bearers from the caller's list, never reorders it
//! (a `*` in the caller's list stands for the policy's bearers, in the policy's order);
//! asking only for forbidden bearers, or for a forbidden connection type, is refused. A
//! policy for one identity (`uid:`, `cn:`, `dns:`, `uri:`, `loopback`) wins over a policy
//! for its group (`gid:`); a selector may appear in one policy only.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::{Identity, Selector};
use crate::model::{Bearer, ConnectionType, SessionSettings, TechnologyKind};

/// Longest interface name (IFNAMSIZ - 1).
const IFNAME_MAX: usize = 15;
/// Largest policy file read, bytes.
pub const FILE_MAX: u64 = 64 * 1024;

/// One identity's session policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The file it came from (for log lines and errors).
    pub file: PathBuf,
    /// Who it is for.
    pub identity: Vec<Selector>,
    /// Bearers sessions may use, in the policy's order; `None`: any.
    pub allowed_bearers: Option<Vec<TechnologyKind>>,
    /// Connection types sessions may ask for; `None`: any.
    pub connection_types: Option<Vec<ConnectionType>>,
    /// Sessions the identity may hold at once; `None`: the daemon's default.
    pub max_sessions: Option<u32>,
    /// The only interface sessions may use; `None`: any.
    pub allowed_interface: Option<String>,
}

/// Why a policy file is invalid: the line and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct PolicyError {
    /// 1-based line of the offending value.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    identity: Spanned<Vec<Spanned<String>>>,
    allowed_bearers: Option<Vec<Spanned<String>>>,
    connection_types: Option<Vec<Spanned<String>>>,
    max_sessions: Option<Spanned<u32>>,
    allowed_interface: Option<Spanned<String>>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Parses one policy file's text; `resolve` as for [`Selector::parse`].
pub fn parse(
    file: PathBuf,
    text: &str,
    resolve: &dyn Fn(&'static str, &str) -> Option<u32>,
) -> Result<Policy, PolicyError> {
    let raw: File = toml::from_str(text).map_err(|e| PolicyError {
        line: e.span().map_or(1, |s| line_of(text, s.start)),
        message: e.message().trim_end().to_string(),
    })?;
    let at = |span: std::ops::Range<usize>, message: String| PolicyError {
        line: line_of(text, span.start),
        message,
    };
    if raw.identity.get_ref().is_empty() {
        return Err(at(
            raw.identity.span(),
            "identity: name at least one identity".into(),
        ));
    }
    let mut identity = Vec::new();
    for s in raw.identity.get_ref() {
        let selector = Selector::parse(s.get_ref(), resolve)
            .map_err(|e| at(s.span(), format!("identity: {e}")))?;
        if !identity.contains(&selector) {
            identity.push(selector);
        }
    }
    let allowed_bearers = match raw.allowed_bearers {
        None => None,
        Some(list) => {
            let mut kinds = Vec::new();
            let mut any = false;
            for b in &list {
                match b.get_ref().parse::<Bearer>() {
                    Ok(Bearer::Any) => any = true,
                    Ok(Bearer::Technology(k)) if !kinds.contains(&k) => kinds.push(k),
                    Ok(Bearer::Technology(_)) => {}
                    Err(e) => return Err(at(b.span(), format!("allowed_bearers: {e}"))),
                }
            }
            (!any).then_some(kinds)
        }
    };
    let connection_types = match raw.connection_types {
        None => None,
        Some(list) => {
            let mut types = Vec::new();
            for t in &list {
                let c = match t.get_ref().as_str() {
                    "local" => ConnectionType::Local,
                    "internet" => ConnectionType::Internet,
                    "any" => ConnectionType::Any,
                    other => {
                        return Err(at(
                            t.span(),
                            format!(
                                "connection_types: unknown type {other:?}: expected local, internet or any"
                            ),
                        ))
                    }
                };
                if !types.contains(&c) {
                    types.push(c);
                }
            }
            Some(types)
        }
    };
    let allowed_interface = match raw.allowed_interface {
        None => None,
        Some(name) => {
            let n = name.get_ref();
            let valid = !n.is_empty()
                && n.len() <= IFNAME_MAX
                && n.bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'/' && b != b':');
            if !valid {
                return Err(at(
                    name.span(),
                    format!("allowed_interface: {n:?} is not an interface name (1..15 characters, no '/' or ':')"),
                ));
            }
            Some(n.clone())
        }
    };
    Ok(Policy {
        file,
        identity,
        allowed_bearers,
        connection_types,
        max_sessions: raw.max_sessions.map(|m| m.into_inner()),
        allowed_interface,
    })
}

/// What a session gets under a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// The settings in effect: the caller's, with forbidden bearers removed.
    pub settings: SessionSettings,
    /// The interface the session is pinned to.
    pub interface: Option<String>,
}

impl Policy {
    /// The settings a session asking for `requested` gets, or why it may not have them.
    pub fn apply(&self, requested: &SessionSettings) -> Result<Effective, String> {
        let file = self.file.display();
        if let Some(types) = &self.connection_types {
            if !types.contains(&requested.connection_type) {
                let allowed: Vec<&str> = types.iter().map(|t| t.as_str()).collect();
                return Err(format!(
                    "session policy {file} allows connection types [{}], not {}",
                    allowed.join(", "),
                    requested.connection_type.as_str()
                ));
            }
        }
        let settings = match &self.allowed_bearers {
            None => requested.clone(),
            Some(allowed) => {
                let mut bearers: Vec<Bearer> = Vec::new();
                for b in &requested.allowed_bearers {
                    let add: Vec<Bearer> = match b {
                        Bearer::Any => allowed.iter().map(|k| Bearer::Technology(*k)).collect(),
                        Bearer::Technology(k) if allowed.contains(k) => vec![*b],
                        Bearer::Technology(_) => vec![],
                    };
                    for a in add {
                        if !bearers.contains(&a) {
                            bearers.push(a);
                        }
                    }
                }
                if bearers.is_empty() && !requested.allowed_bearers.is_empty() {
                    let names: Vec<&str> = allowed.iter().map(|k| k.as_str()).collect();
                    return Err(format!(
                        "session policy {file} allows bearers [{}] only",
                        names.join(", ")
                    ));
                }
                SessionSettings {
                    allowed_bearers: bearers,
                    ..requested.clone()
                }
            }
        };
        Ok(Effective {
            settings,
            interface: self.allowed_interface.clone(),
        })
    }
}

/// Every policy in force.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicySet {
    policies: Vec<Policy>,
}

impl PolicySet {
    /// A set from policies that name disjoint identities (see [`PolicySet::add`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a policy; refused (naming the file that has it) when one of its selectors is
    /// already in another policy.
    pub fn add(&mut self, policy: Policy) -> Result<(), String> {
        for p in &self.policies {
            if let Some(s) = policy.identity.iter().find(|s| p.identity.contains(s)) {
                return Err(format!(
                    "identity {s} already has the policy in {}",
                    p.file.display()
                ));
            }
        }
        self.policies.push(policy);
        Ok(())
    }

    /// The policies, in the order added.
    pub fn policies(&self) -> &[Policy] {
        &self.policies
    }

    /// The policy for `identity`: one naming it individually, else one naming one of its
    /// groups (the first added).
    pub fn for_identity(&self, identity: &Identity) -> Option<&Policy> {
        let named = |individual: bool| {
            self.policies.iter().find(|p| {
                p.identity
                    .iter()
                    .any(|s| s.is_individual() == individual && s.matches(identity))
            })
        };
        named(true).or_else(|| named(false))
    }
}

/// Builds a set from parsed files (sorted by path); a file whose selectors clash with an
/// earlier file's is left out, with why.
pub fn assemble(files: &BTreeMap<PathBuf, Policy>) -> (PolicySet, Vec<(PathBuf, String)>) {
    let mut set = PolicySet::new();
    let mut refused = Vec::new();
    for (path, policy) in files {
        if let Err(e) = set.add(policy.clone()) {
            refused.push((path.clone(), e));
        }
    }
    (set, refused)
}

/// Fuzzing entry: parses arbitrary text as a policy file and, when it parses, applies it to
/// a few requests. Must never panic.
pub fn fuzz_one(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let resolve = |_: &'static str, name: &str| (name == "robot").then_some(1000);
    if let Ok(p) = parse(PathBuf::from("fuzz.toml"), text, &resolve) {
        for requested in [
            SessionSettings::default(),
            SessionSettings {
                allowed_bearers: vec![
                    Bearer::Technology(TechnologyKind::Wifi),
                    Bearer::Any,
                    Bearer::Technology(TechnologyKind::Ethernet),
                ],
                connection_type: ConnectionType::Internet,
                ..SessionSettings::default()
            },
        ] {
            if let Ok(e) = p.apply(&requested) {
                assert!(e.settings.allowed_bearers.len() <= 4 + requested.allowed_bearers.len());
            }
        }
        let mut set = PolicySet::new();
        let _ = set.add(p.clone());
        let _ = set.add(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TechnologyKind::{Ethernet, Wifi};

    fn resolve(kind: &'static str, name: &str) -> Option<u32> {
        (kind == "group" && name == "robot").then_some(2000)
    }

    fn policy(text: &str) -> Result<Policy, PolicyError> {
        parse(PathBuf::from("p.toml"), text, &resolve)
    }

    fn settings(bearers: &[Bearer], t: ConnectionType) -> SessionSettings {
        SessionSettings {
            allowed_bearers: bearers.to_vec(),
            connection_type: t,
            ..SessionSettings::default()
        }
    }

    #[test]
    fn parses_a_policy() {
        let p = policy(
            "identity = [\"uid:1001\", \"gid:robot\"]\nallowed_bearers = [\"wifi\", \"ethernet\"]\nconnection_types = [\"local\"]\nmax_sessions = 3\nallowed_interface = \"eth0\"\n",
        )
        .expect("valid");
        assert_eq!(p.identity, vec![Selector::Uid(1001), Selector::Gid(2000)]);
        assert_eq!(p.allowed_bearers, Some(vec![Wifi, Ethernet]));
        assert_eq!(p.connection_types, Some(vec![ConnectionType::Local]));
        assert_eq!(p.max_sessions, Some(3));
        assert_eq!(p.allowed_interface.as_deref(), Some("eth0"));
        let any = policy("identity = [\"uid:1\"]\nallowed_bearers = [\"*\"]\n").expect("any");
        assert_eq!(any.allowed_bearers, None);
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            (
                "identity = [\"uid:1\"]\nallowed_bearers = [\"wimax\"]\n",
                2,
                "wimax",
            ),
            (
                "identity = [\"uid:1\"]\n\nconnection_types = [\"always\"]\n",
                3,
                "always",
            ),
            (
                "identity = [\"uid:1\"]\nmax_sessions = -1\n",
                2,
                "expected u32",
            ),
            (
                "identity = [\"uid:1\"]\nallowed_interface = \"a/b\"\n",
                2,
                "a/b",
            ),
            (
                "identity = [\"uid:1\"]\nbearers = [\"wifi\"]\n",
                2,
                "bearers",
            ),
            ("\nidentity = [\"gid:nosuchgroup\"]\n", 2, "nosuchgroup"),
            ("identity = []\n", 1, "at least one"),
            ("allowed_bearers = [\"wifi\"]\n", 1, "identity"),
            ("identity = [\"uid:1\"\n", 1, "unclosed array"),
        ];
        for (text, line, word) in cases {
            let e = policy(text).expect_err(text);
            assert_eq!(e.line, line, "{text:?}: {e}");
            assert!(e.to_string().contains(word), "{text:?}: {e}");
        }
    }

    #[test]
    fn removes_bearers_never_reorders() {
        use ConnectionType::*;
        let wifi = Bearer::Technology(Wifi);
        let eth = Bearer::Technology(Ethernet);
        let cell = Bearer::Technology(TechnologyKind::Cellular);
        let p = policy(
            "identity = [\"uid:1\"]\nallowed_bearers = [\"ethernet\", \"wifi\"]\nconnection_types = [\"local\", \"any\"]\n",
        )
        .expect("valid");
        type Case = (
            Vec<Bearer>,
            ConnectionType,
            Result<Vec<Bearer>, &'static str>,
        );
        let cases: Vec<Case> = vec![
            (vec![wifi, eth], Local, Ok(vec![wifi, eth])),
            (vec![cell, wifi], Local, Ok(vec![wifi])),
            (vec![wifi, Bearer::Any], Any, Ok(vec![wifi, eth])),
            (vec![Bearer::Any], Local, Ok(vec![eth, wifi])),
            (vec![], Local, Ok(vec![])),
            (vec![cell], Local, Err("allows bearers [ethernet, wifi]")),
            (
                vec![wifi],
                Internet,
                Err("allows connection types [local, any]"),
            ),
        ];
        for (asked, t, want) in cases {
            let got = p.apply(&settings(&asked, t));
            match (got, want) {
                (Ok(e), Ok(w)) => assert_eq!(e.settings.allowed_bearers, w, "{asked:?}"),
                (Err(e), Err(w)) => assert!(e.contains(w) && e.contains("p.toml"), "{e}"),
                (got, want) => panic!("{asked:?} {t:?}: {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn individual_wins_over_group_and_selectors_are_unique() {
        let group = parse(
            "group.toml".into(),
            "identity = [\"gid:robot\"]\nmax_sessions = 1\n",
            &resolve,
        )
        .expect("group");
        let user = parse(
            "user.toml".into(),
            "identity = [\"uid:1001\"]\nmax_sessions = 9\n",
            &resolve,
        )
        .expect("user");
        let clash = parse("z.toml".into(), "identity = [\"uid:1001\"]\n", &resolve).expect("z");
        let mut files = BTreeMap::new();
        files.insert(PathBuf::from("a-group.toml"), group);
        files.insert(PathBuf::from("b-user.toml"), user);
        files.insert(PathBuf::from("c-clash.toml"), clash);
        let (set, refused) = assemble(&files);
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].0, PathBuf::from("c-clash.toml"));
        assert!(refused[0].1.contains("uid:1001"), "{}", refused[0].1);
        let robot_user = Identity::Local {
            uid: 1001,
            gid: 1001,
            groups: vec![2000],
        };
        let other_robot = Identity::Local {
            uid: 1002,
            gid: 2000,
            groups: vec![],
        };
        assert_eq!(
            set.for_identity(&robot_user).and_then(|p| p.max_sessions),
            Some(9)
        );
        assert_eq!(
            set.for_identity(&other_robot).and_then(|p| p.max_sessions),
            Some(1)
        );
        let stranger = Identity::Local {
            uid: 5,
            gid: 5,
            groups: vec![],
        };
        assert!(set.for_identity(&stranger).is_none());
    }
}
