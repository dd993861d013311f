//! One managed service's connection: its state machine, and what must run in each state.
//!
//! The states are ConnMan's service states (doc/service-api.txt) and run in the same order
//! for every technology:
//!
//! ```text
//! idle → association → configuration → ready → online
//!   ↑        │               │            │        │
//!   └────────┴──── failure ◀─┴────────────┴────────┘
//! ```
//!
//! - **association** is L2, reported by the backend: carrier for Ethernet, association and
//!   authentication for Wi-Fi. Ethernet goes straight to configuration when carrier comes.
//! - **configuration** is IP: DHCP, SLAAC or static, the same for every technology.
//! - **ready** means the address is on the link; **online** that the online check passed
//!   through this service's interface.
//!
//! Events move the state ([`on_event`]); level facts — is the service wanted, is L2 up, is
//! the address there — settle it ([`settle`]); and [`tasks`] says what must be running in a
//! state (backend connection, DHCP client, online check, connect deadline, retry timer). The
//! engine keeps the state, feeds events and facts in, and only starts and stops the
//! difference between what runs and what [`tasks`] asks for. Everything here is pure.

use crate::config::OnlineCheckMode;
use crate::model::{L2State, ServiceError, ServiceState};

/// Where a connection is. Only the engine changes it, through [`on_event`] and [`settle`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum State {
    /// Not connected, not connecting.
    #[default]
    Idle,
    /// Waiting for L2 (Wi-Fi association and authentication).
    Association,
    /// L2 is up; waiting for the IP configuration.
    Configuration,
    /// IP configured; the online check has not passed.
    Ready {
        /// Where the online check was redirected to: a captive portal.
        portal: Option<String>,
        /// What degrades the service: `online-check-failed` after it was online.
        warning: Option<ServiceError>,
    },
    /// The online check passed.
    Online {
        /// Probes failed in a row since (continuous checking).
        misses: u32,
    },
    /// Failed; a new attempt needs a Connect, the retry timer, or (for soft errors) L2
    /// coming back by itself.
    Failure {
        /// Why.
        error: ServiceError,
    },
}

impl State {
    /// The service state the API shows, with its error word.
    pub fn service_state(&self) -> (ServiceState, Option<ServiceError>) {
        match self {
            State::Idle => (ServiceState::Idle, None),
            State::Association => (ServiceState::Association, None),
            State::Configuration => (ServiceState::Configuration, None),
            State::Ready { warning, .. } => (ServiceState::Ready, *warning),
            State::Online { .. } => (ServiceState::Online, None),
            State::Failure { error, .. } => (ServiceState::Failure, Some(*error)),
        }
    }

    /// Association or configuration: a connect is under way.
    pub fn is_connecting(&self) -> bool {
        matches!(self, State::Association | State::Configuration)
    }

    /// Configuration, ready or online: L2 is up and IP is (being) configured on the netdev.
    pub fn has_link(&self) -> bool {
        matches!(
            self,
            State::Configuration | State::Ready { .. } | State::Online { .. }
        )
    }

    /// Ready or online.
    pub fn is_connected(&self) -> bool {
        matches!(self, State::Ready { .. } | State::Online { .. })
    }
}

/// What an online-check probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The expected answer: the service is online.
    Online,
    /// A redirect to this captive portal URL.
    Portal(String),
    /// No answer, or the wrong one.
    Failed,
}

/// Something that happened to a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The backend reports a new L2 state.
    L2(L2State),
    /// ConnectService, or a session asked for the service: start over from a failure.
    Connect,
    /// DisconnectService: go idle and stay there.
    Disconnect,
    /// IP configuration failed: DHCP gave no usable lease.
    IpFailed,
    /// The connect deadline ran out before the service was ready.
    Timeout,
    /// The retry delay after a failure is over.
    RetryDue,
    /// An online-check probe answered.
    Probe(Verdict),
}

/// Level facts about a connection, true at this moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts {
    /// netpilot wants the service connected (see [`super::autoconnect`]).
    pub wanted: bool,
    /// The backend's last L2 report.
    pub l2: L2State,
    /// The configured address (DHCP lease or static) is on the netdev, or a global IPv6
    /// address from SLAAC is: the service can carry traffic.
    pub ip_configured: bool,
}

/// Continuous checking demotes `online` to `ready` after this many failed probes in a row
/// (config `online_check.failures`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Demotion {
    /// Failed probes in a row that demote; 0 never demotes.
    pub after_misses: u32,
}

/// The state after `event`. Events that do not apply in a state leave it as it is.
pub fn on_event(state: State, event: &Event, demotion: Demotion) -> State {
    use State::*;
    match (state, event) {
        (Failure { .. }, Event::Connect | Event::RetryDue) => Idle,
        (_, Event::Disconnect) => Idle,

        // L2 coming up moves an idle connection only when netpilot wants it connected, which
        // `settle` knows: a service the user disconnected stays idle when its cable is
        // plugged in, also in the snapshot published before the connections settle.
        (Association, Event::L2(L2State::Associated { .. })) => Configuration,
        // L2 came back by itself (a cable plugged in again): try again at once.
        (Failure { error, .. }, Event::L2(L2State::Associated { .. })) if error.retryable() => {
            Configuration
        }
        (s, Event::L2(L2State::Idle)) if !matches!(s, Failure { .. }) => Idle,
        (_, Event::L2(L2State::Failed(error))) => Failure { error: *error },

        (Configuration, Event::IpFailed) => Failure {
            error: ServiceError::DhcpFailed,
        },
        // Idle too: a connect on a link without carrier gives up when its time is up.
        (Idle | Association | Configuration, Event::Timeout) => Failure {
            error: ServiceError::ConnectFailed,
        },

        (Ready { .. } | Online { .. }, Event::Probe(Verdict::Online)) => Online { misses: 0 },
        (Ready { .. } | Online { .. }, Event::Probe(Verdict::Portal(url))) => Ready {
            portal: Some(url.clone()),
            warning: None,
        },
        (Online { misses }, Event::Probe(Verdict::Failed)) => {
            let misses = misses + 1;
            if demotion.after_misses > 0 && misses >= demotion.after_misses {
                Ready {
                    portal: None,
                    warning: Some(ServiceError::OnlineCheckFailed),
                }
            } else {
                Online { misses }
            }
        }

        (state, _) => state,
    }
}

/// The state the level facts lead to from `state`: a wanted idle service whose L2 is up goes
/// to configuration, an unwanted one to idle, and configuration and ready follow the address.
pub fn settle(state: State, facts: &Facts) -> State {
    use State::*;
    let mut state = state;
    // Each rule moves one step along the chain; three passes reach any end.
    for _ in 0..3 {
        let next = match (&state, facts.l2) {
            (Failure { .. }, _) => state.clone(),
            (_, _) if !facts.wanted => Idle,
            (Idle, L2State::Associating) => Association,
            (Idle | Association, L2State::Associated { .. }) => Configuration,
            (Configuration, _) if facts.ip_configured => Ready {
                portal: None,
                warning: None,
            },
            (Ready { .. } | Online { .. }, _) if !facts.ip_configured => Configuration,
            _ => state.clone(),
        };
        if next == state {
            break;
        }
        state = next;
    }
    state
}

/// Facts that decide what runs, besides the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskFacts {
    /// netpilot wants the service connected.
    pub wanted: bool,
    /// IPv4 comes from DHCP.
    pub dhcp: bool,
    /// Config `online_check.mode`.
    pub check: OnlineCheckMode,
    /// ReportConnectivity asked for a new probe of an online service.
    pub recheck: bool,
    /// Persistence: the service reconnects by itself after an unintended loss (autoconnect,
    /// and no DisconnectService since the last connect).
    pub persistent: bool,
    /// A connect timeout is configured or was asked for.
    pub timeout: bool,
    /// A ConnectService waits for this service: its deadline runs even before L2 is up (a
    /// connect on a link without carrier).
    pub connect_pending: bool,
    /// netpilot holds the link admin-down ([`hold`]).
    pub held_down: bool,
    /// The backend can work on L2 now: always for Wi-Fi; for a wired IEEE 802.1X port only
    /// while it has carrier, so that authentication starts again every time carrier
    /// returns (wpa_supplicant's `wired` driver does not watch the carrier).
    pub l2_possible: bool,
}

/// What must be running for a connection. The engine starts what is missing and stops what
/// is not asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tasks {
    /// The backend should connect L2 (associate, authenticate). Ethernet has nothing to do:
    /// its L2 is the carrier.
    pub l2: bool,
    /// A DHCPv4 client on the netdev.
    pub dhcp: bool,
    /// The online check.
    pub check: bool,
    /// The connect deadline.
    pub deadline: bool,
    /// The retry timer.
    pub retry: bool,
}

/// What must run in `state`.
pub fn tasks(state: &State, f: &TaskFacts) -> Tasks {
    let failure = match state {
        State::Failure { error, .. } => Some(*error),
        _ => None,
    };
    Tasks {
        l2: f.wanted && f.l2_possible && failure.is_none(),
        dhcp: f.dhcp && state.has_link(),
        check: match state {
            _ if f.check == OnlineCheckMode::Off => false,
            State::Ready { .. } => true,
            State::Online { .. } => f.check == OnlineCheckMode::Continuous || f.recheck,
            _ => false,
        },
        deadline: f.timeout
            && (state.is_connecting() || (f.connect_pending && *state == State::Idle)),
        retry: f.persistent && !f.held_down && failure.is_some_and(|e| e.retryable()),
    }
}

/// What decides the auto admin-down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldFacts {
    /// `admin_down_on_timeout`, for this service or from `[connect]`.
    pub enabled: bool,
    /// The service is persistent (autoconnect).
    pub persistent: bool,
}

/// Zephyr conn_mgr's auto admin-down: whether netpilot takes the link admin-down after
/// `event` moved the connection from `before`. `Some(true)` takes it down, `Some(false)`
/// releases a hold (only a Connect does; the engine treats a user's own admin-up as one),
/// `None` leaves things as they are. With the option on, the link goes down after an explicit
/// Disconnect, a connect timeout, a hard failure (a refused key or credential), and a loss of
/// carrier or association while the service is not persistent. A held link is never
/// retried by the timer.
pub fn hold(event: &Event, before: &State, f: HoldFacts) -> Option<bool> {
    match event {
        Event::Connect => Some(false),
        _ if !f.enabled => None,
        Event::Disconnect | Event::Timeout => Some(true),
        Event::L2(L2State::Failed(error)) if !error.retryable() => Some(true),
        Event::L2(L2State::Idle | L2State::Failed(_)) if before.has_link() && !f.persistent => {
            Some(true)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ServiceError::*;
    use State::*;

    const DEMOTE_AFTER_3: Demotion = Demotion { after_misses: 3 };
    const UP: L2State = L2State::Associated { ifindex: 7 };

    fn ready() -> State {
        Ready {
            portal: None,
            warning: None,
        }
    }

    fn failure(error: ServiceError) -> State {
        Failure { error }
    }

    #[test]
    fn events_table() {
        let cases: Vec<(&str, State, Event, State)> = vec![
            (
                "associated: configure IP",
                Association,
                Event::L2(UP),
                Configuration,
            ),
            (
                "carrier appears on an idle link: settle decides",
                Idle,
                Event::L2(UP),
                Idle,
            ),
            (
                "an idle port starts authenticating: settle decides",
                Idle,
                Event::L2(L2State::Associating),
                Idle,
            ),
            (
                "wrong key",
                Association,
                Event::L2(L2State::Failed(InvalidKey)),
                failure(InvalidKey),
            ),
            (
                "access point gone while online",
                Online { misses: 0 },
                Event::L2(L2State::Failed(OutOfRange)),
                failure(OutOfRange),
            ),
            (
                "carrier lost while ready",
                ready(),
                Event::L2(L2State::Idle),
                Idle,
            ),
            (
                "L2 idle after a failure keeps the failure",
                failure(ConnectFailed),
                Event::L2(L2State::Idle),
                failure(ConnectFailed),
            ),
            (
                "cable back after a soft failure: try at once",
                failure(DhcpFailed),
                Event::L2(UP),
                Configuration,
            ),
            (
                "re-association after a wrong key does not clear it",
                failure(InvalidKey),
                Event::L2(UP),
                failure(InvalidKey),
            ),
            (
                "DHCP gives up",
                Configuration,
                Event::IpFailed,
                failure(DhcpFailed),
            ),
            (
                "a DHCP failure does not undo a ready service",
                ready(),
                Event::IpFailed,
                ready(),
            ),
            (
                "deadline during association",
                Association,
                Event::Timeout,
                failure(ConnectFailed),
            ),
            (
                "deadline of a connect on a link without carrier",
                Idle,
                Event::Timeout,
                failure(ConnectFailed),
            ),
            (
                "a stale deadline does not fail a ready service",
                ready(),
                Event::Timeout,
                ready(),
            ),
            (
                "retry after a failure",
                failure(ConnectFailed),
                Event::RetryDue,
                Idle,
            ),
            (
                "connect clears a failure",
                failure(InvalidKey),
                Event::Connect,
                Idle,
            ),
            (
                "connect while connecting changes nothing",
                Configuration,
                Event::Connect,
                Configuration,
            ),
            (
                "disconnect from online",
                Online { misses: 0 },
                Event::Disconnect,
                Idle,
            ),
            (
                "disconnect clears a failure",
                failure(InvalidKey),
                Event::Disconnect,
                Idle,
            ),
            (
                "probe passes",
                ready(),
                Event::Probe(Verdict::Online),
                Online { misses: 0 },
            ),
            (
                "captive portal keeps it ready",
                ready(),
                Event::Probe(Verdict::Portal("http://portal.test/".into())),
                Ready {
                    portal: Some("http://portal.test/".into()),
                    warning: None,
                },
            ),
            (
                "one miss while online is counted",
                Online { misses: 0 },
                Event::Probe(Verdict::Failed),
                Online { misses: 1 },
            ),
            (
                "the third miss in a row demotes",
                Online { misses: 2 },
                Event::Probe(Verdict::Failed),
                Ready {
                    portal: None,
                    warning: Some(OnlineCheckFailed),
                },
            ),
            (
                "a pass resets the count",
                Online { misses: 2 },
                Event::Probe(Verdict::Online),
                Online { misses: 0 },
            ),
            (
                "a demoted service that passes is online again",
                Ready {
                    portal: None,
                    warning: Some(OnlineCheckFailed),
                },
                Event::Probe(Verdict::Online),
                Online { misses: 0 },
            ),
            (
                "a probe of a connecting service is stale",
                Configuration,
                Event::Probe(Verdict::Online),
                Configuration,
            ),
        ];
        for (name, from, event, want) in cases {
            assert_eq!(on_event(from, &event, DEMOTE_AFTER_3), want, "{name}");
        }
    }

    #[test]
    fn hold_table() {
        let on = HoldFacts {
            enabled: true,
            persistent: true,
        };
        let transient = HoldFacts {
            persistent: false,
            ..on
        };
        let off = HoldFacts {
            enabled: false,
            ..on
        };
        let cases: Vec<(&str, Event, State, HoldFacts, Option<bool>)> = vec![
            ("disconnect", Event::Disconnect, ready(), on, Some(true)),
            (
                "connect timeout",
                Event::Timeout,
                Configuration,
                on,
                Some(true),
            ),
            (
                "hard failure",
                Event::L2(L2State::Failed(InvalidKey)),
                Association,
                on,
                Some(true),
            ),
            (
                "a soft failure keeps the link up",
                Event::L2(L2State::Failed(OutOfRange)),
                Online { misses: 0 },
                on,
                None,
            ),
            (
                "carrier lost, not persistent",
                Event::L2(L2State::Idle),
                ready(),
                transient,
                Some(true),
            ),
            (
                "carrier lost, persistent: keep trying",
                Event::L2(L2State::Idle),
                ready(),
                on,
                None,
            ),
            (
                "carrier lost while idle means nothing",
                Event::L2(L2State::Idle),
                Idle,
                transient,
                None,
            ),
            (
                "connect releases",
                Event::Connect,
                failure(ConnectFailed),
                on,
                Some(false),
            ),
            (
                "connect releases with the option off",
                Event::Connect,
                Idle,
                off,
                Some(false),
            ),
            ("option off", Event::Disconnect, ready(), off, None),
        ];
        for (name, event, before, facts, want) in cases {
            assert_eq!(hold(&event, &before, facts), want, "{name}");
        }
    }

    #[test]
    fn misses_never_demote_when_demotion_is_off() {
        let state = on_event(
            Online { misses: 99 },
            &Event::Probe(Verdict::Failed),
            Demotion { after_misses: 0 },
        );
        assert_eq!(state, Online { misses: 100 });
    }

    #[test]
    fn settle_table() {
        let facts = |wanted, l2, ip_configured| Facts {
            wanted,
            l2,
            ip_configured,
        };
        let cases: Vec<(&str, State, Facts, State)> = vec![
            (
                "wanted, carrier already there: straight to ready",
                Idle,
                facts(true, UP, true),
                ready(),
            ),
            (
                "wanted, carrier, no address yet",
                Idle,
                facts(true, UP, false),
                Configuration,
            ),
            (
                "wanted, no carrier: idle",
                Idle,
                facts(true, L2State::Idle, false),
                Idle,
            ),
            (
                "wanted while the backend associates",
                Idle,
                facts(true, L2State::Associating, false),
                Association,
            ),
            (
                "not wanted any more",
                Online { misses: 0 },
                facts(false, UP, true),
                Idle,
            ),
            (
                "an unwanted idle link with carrier stays idle",
                Idle,
                facts(false, UP, true),
                Idle,
            ),
            (
                "address lost",
                Online { misses: 0 },
                facts(true, UP, false),
                Configuration,
            ),
            (
                "a failure is left only by an event",
                failure(DhcpFailed),
                facts(true, UP, true),
                failure(DhcpFailed),
            ),
            (
                "a ready service keeps its portal",
                Ready {
                    portal: Some("http://p/".into()),
                    warning: None,
                },
                facts(true, UP, true),
                Ready {
                    portal: Some("http://p/".into()),
                    warning: None,
                },
            ),
        ];
        for (name, from, f, want) in cases {
            assert_eq!(settle(from, &f), want, "{name}");
        }
    }

    #[test]
    fn tasks_table() {
        let base = TaskFacts {
            wanted: true,
            dhcp: true,
            check: OnlineCheckMode::OneShot,
            recheck: false,
            persistent: true,
            timeout: true,
            connect_pending: false,
            held_down: false,
            l2_possible: true,
        };
        let none = Tasks::default();
        let cases: Vec<(&str, State, TaskFacts, Tasks)> = vec![
            (
                "idle and wanted: ask the backend to connect",
                Idle,
                base,
                Tasks { l2: true, ..none },
            ),
            (
                "an 802.1X port without carrier: nothing to authenticate",
                Idle,
                TaskFacts {
                    l2_possible: false,
                    ..base
                },
                none,
            ),
            (
                "carrier gone from a ready 802.1X port: stop authenticating, keep DHCP",
                ready(),
                TaskFacts {
                    l2_possible: false,
                    check: OnlineCheckMode::Off,
                    ..base
                },
                Tasks { dhcp: true, ..none },
            ),
            (
                "idle, not wanted: nothing",
                Idle,
                TaskFacts {
                    wanted: false,
                    ..base
                },
                none,
            ),
            (
                "association: L2 and the deadline",
                Association,
                base,
                Tasks {
                    l2: true,
                    deadline: true,
                    ..none
                },
            ),
            (
                "configuration: DHCP too",
                Configuration,
                base,
                Tasks {
                    l2: true,
                    dhcp: true,
                    deadline: true,
                    ..none
                },
            ),
            (
                "configuration with a static address: no DHCP",
                Configuration,
                TaskFacts {
                    dhcp: false,
                    ..base
                },
                Tasks {
                    l2: true,
                    deadline: true,
                    ..none
                },
            ),
            (
                "no timeout configured: no deadline",
                Configuration,
                TaskFacts {
                    timeout: false,
                    ..base
                },
                Tasks {
                    l2: true,
                    dhcp: true,
                    ..none
                },
            ),
            (
                "ready: keep DHCP, run the check",
                ready(),
                base,
                Tasks {
                    l2: true,
                    dhcp: true,
                    check: true,
                    ..none
                },
            ),
            (
                "ready, check off",
                ready(),
                TaskFacts {
                    check: OnlineCheckMode::Off,
                    ..base
                },
                Tasks {
                    l2: true,
                    dhcp: true,
                    ..none
                },
            ),
            (
                "online, one-shot: the check is done",
                Online { misses: 0 },
                base,
                Tasks {
                    l2: true,
                    dhcp: true,
                    ..none
                },
            ),
            (
                "online, continuous: keep checking",
                Online { misses: 0 },
                TaskFacts {
                    check: OnlineCheckMode::Continuous,
                    ..base
                },
                Tasks {
                    l2: true,
                    dhcp: true,
                    check: true,
                    ..none
                },
            ),
            (
                "online, ReportConnectivity: check again",
                Online { misses: 0 },
                TaskFacts {
                    recheck: true,
                    ..base
                },
                Tasks {
                    l2: true,
                    dhcp: true,
                    check: true,
                    ..none
                },
            ),
            (
                "soft failure, persistent: retry",
                failure(DhcpFailed),
                base,
                Tasks {
                    retry: true,
                    ..none
                },
            ),
            (
                "soft failure, not persistent: wait",
                failure(DhcpFailed),
                TaskFacts {
                    persistent: false,
                    ..base
                },
                none,
            ),
            (
                "wrong key: never retried by itself",
                failure(InvalidKey),
                base,
                none,
            ),
            (
                "a held-down link is never retried",
                failure(ConnectFailed),
                TaskFacts {
                    held_down: true,
                    ..base
                },
                none,
            ),
            (
                "a connect waits on a link without carrier: its deadline runs",
                Idle,
                TaskFacts {
                    connect_pending: true,
                    ..base
                },
                Tasks {
                    l2: true,
                    deadline: true,
                    ..none
                },
            ),
        ];
        for (name, state, facts, want) in cases {
            assert_eq!(tasks(&state, &facts), want, "{name}");
        }
    }
}
