//! When the setup access point opens, when it closes, what it leaves the radio for, and on
//! which channel it runs. Pure: the engine gathers the [`Facts`] (times included) and
//! carries out the [`Decision`].
//!
//! The rules answer the complaints users file against wifi-connect and comitup:
//! - it opens only when no service is ready, a grace period after start-up or the last loss
//!   has passed, and a radio is there (not "too early, while the known network is still
//!   associating"); on a radio that cannot run an AP beside its station it also waits while
//!   the station is joining a network;
//! - a ready Ethernet or cellular link keeps it closed and closes an open one (`mode =
//!   "always"` excepted): "the device ignores a working Ethernet link";
//! - it stays open until the new Wi-Fi link validates (online, or ready for
//!   `validate`), and a little longer while a phone is on the page, so the page can say
//!   "done";
//! - known networks are retried in the background, but not while a phone is on the page;
//! - on a radio with one channel for all its interfaces, the AP follows the station's
//!   channel, or the station could not join.

use std::time::Duration;

use crate::model::{ServiceError, ServiceState, SetupMode, SetupReason, TechnologyKind};

/// How long the AP stays open after the new link validated while a phone is on the page.
pub const LINGER: Duration = Duration::from_secs(8);

/// How long known networks get, on a radio without AP+STA, each time the AP closes for them.
pub const RETRY_WINDOW: Duration = Duration::from_secs(40);

/// What the user asked since the last loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Request {
    /// Nothing: follow the mode.
    #[default]
    None,
    /// StartSetup: open (until a link validates).
    Start,
    /// StopSetup: stay closed until the next loss.
    Stop,
}

/// The radio's station side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Station {
    /// Not connected, not connecting.
    #[default]
    Idle,
    /// Joining a network or getting an address.
    Connecting,
    /// Ready (an address) for this long, not online.
    Ready(Duration),
    /// Online for this long.
    Online(Duration),
}

/// Everything the decision depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// `[setup] mode`.
    pub mode: SetupMode,
    /// A managed radio is there and its wpa_supplicant answers.
    pub radio: bool,
    /// Tethering is on: its access point has the radio.
    pub tethering: bool,
    /// StartSetup / StopSetup.
    pub request: Request,
    /// An Ethernet, cellular or Bluetooth service is ready or online.
    pub other_ready: bool,
    /// The Wi-Fi station.
    pub station: Station,
    /// Time since start-up or since the last time a ready service was lost.
    pub since_loss: Duration,
    /// `[setup] grace`.
    pub grace: Duration,
    /// `[setup] validate_timeout`.
    pub validate: Duration,
    /// The setup access point is open or opening now.
    pub open: bool,
    /// The radio runs an access point beside its station.
    pub concurrent: bool,
    /// A connect submitted on the page is running.
    pub attempt: bool,
    /// A phone loaded the page recently (`[setup] page_idle`).
    pub phone: bool,
    /// A known network (a Wi-Fi favorite that may autoconnect) is in range.
    pub known_in_range: bool,
    /// Time since the AP last closed to let known networks be tried; `None`: never.
    pub since_retry: Option<Duration>,
    /// `[setup] retry_interval`.
    pub retry_interval: Duration,
}

/// What the engine carries out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The setup access point should run.
    pub open: bool,
    /// The deciding rule.
    pub reason: SetupReason,
    /// Wi-Fi favorites may connect by themselves now.
    pub autoconnect_wifi: bool,
    /// Close the AP now for a retry window (radios without AP+STA); the engine notes the
    /// time as the start of [`Facts::since_retry`].
    pub start_retry: bool,
    /// Decide again after this long even if nothing else changes.
    pub recheck: Option<Duration>,
}

fn closed(reason: SetupReason) -> Decision {
    Decision {
        open: false,
        reason,
        autoconnect_wifi: true,
        start_retry: false,
        recheck: None,
    }
}

fn earliest(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Decides whether the setup access point runs. The rules, first match wins:
/// 1. closed when the mode is off, there is no radio, or tethering has the radio;
/// 2. closed when another technology is ready (unless mode is always), or after StopSetup;
/// 3. closed once the Wi-Fi link validated: online, or ready for `validate`; while a phone
///    is on the page the AP lingers [`LINGER`] after that (not beside Ethernet);
/// 4. without AP+STA: closed while a connect from the page runs, while the station joins a
///    network, and for [`RETRY_WINDOW`] every `retry_interval` when a known network is in
///    range and no phone is on the page;
/// 5. open on StartSetup, in mode always, and in mode auto when nothing is ready and the
///    grace period has passed; an open AP stays open while a new Wi-Fi link validates.
pub fn decide(f: &Facts) -> Decision {
    if f.mode == SetupMode::Off {
        return closed(SetupReason::Off);
    }
    if !f.radio {
        return closed(SetupReason::NoRadio);
    }
    if f.tethering {
        return closed(SetupReason::Tethering);
    }
    let always = f.mode == SetupMode::Always;
    if f.other_ready && !always {
        return closed(SetupReason::OtherReady);
    }
    if f.request == Request::Stop {
        return closed(SetupReason::Stopped);
    }
    let mut recheck = None;
    let validated_for = match f.station {
        Station::Online(d) => Some(d),
        Station::Ready(d) if d >= f.validate => Some(d - f.validate),
        Station::Ready(d) => {
            recheck = Some(f.validate - d);
            None
        }
        _ => None,
    };
    if let Some(d) = validated_for {
        let linger = f.open && f.phone && d < LINGER;
        let beside = always && f.concurrent;
        if !beside && !linger {
            return closed(SetupReason::WifiValidated);
        }
        if linger {
            recheck = Some(LINGER - d);
        }
    }
    if !f.concurrent {
        if f.attempt {
            return closed(SetupReason::Attempt);
        }
        if f.station == Station::Connecting {
            return closed(SetupReason::StationBusy);
        }
        if let Some(since) = f.since_retry.filter(|d| *d < RETRY_WINDOW) {
            let mut d = closed(SetupReason::Retrying);
            d.recheck = Some(RETRY_WINDOW - since);
            return d;
        }
    }
    let wifi_ready = matches!(f.station, Station::Ready(_) | Station::Online(_));
    let (open, reason) = if f.request == Request::Start {
        (true, SetupReason::Requested)
    } else if always {
        (true, SetupReason::Always)
    } else if wifi_ready && f.open {
        (true, SetupReason::Validating)
    } else if wifi_ready {
        (false, SetupReason::WifiReady)
    } else if f.mode == SetupMode::OnDemand {
        (false, SetupReason::NotRequested)
    } else if f.since_loss < f.grace {
        recheck = earliest(recheck, Some(f.grace - f.since_loss));
        (false, SetupReason::Grace)
    } else {
        (true, SetupReason::NothingReady)
    };
    if !open {
        let mut d = closed(reason);
        d.recheck = recheck;
        return d;
    }
    let mut decision = Decision {
        open,
        reason,
        autoconnect_wifi: f.concurrent && !f.phone,
        start_retry: false,
        recheck,
    };
    if !f.concurrent && f.known_in_range && !f.phone && !f.attempt {
        let due = f
            .since_retry
            .map_or(Duration::ZERO, |d| f.retry_interval.saturating_sub(d));
        if due.is_zero() {
            decision = closed(SetupReason::Retrying);
            decision.start_retry = true;
            decision.recheck = Some(RETRY_WINDOW);
        } else {
            decision.recheck = earliest(decision.recheck, Some(due));
        }
    }
    decision
}

/// One Wi-Fi service as [`ap_frequency`] sees it, in service order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WifiNetwork {
    /// Its channel in MHz (strongest BSS).
    pub frequency: u32,
    /// Its state.
    pub state: ServiceState,
    /// Its error when in failure.
    pub error: Option<ServiceError>,
    /// Known and may connect by itself.
    pub known: bool,
    /// The network a connect from the page targets.
    pub attempt: bool,
}

/// The channel (MHz) the AP should run on. A radio whose interface combinations allow one
/// channel only (`channels <= 1`) can run its AP only on the station's channel, so the AP
/// follows, in this order: the network a connect from the page targets; a network the
/// station is joining or joined; when favorites may connect (`autoconnect`), the first
/// known network in range that would be tried. Otherwise the AP stays where it is (the
/// `current` channel) or starts on `default`.
pub fn ap_frequency(
    networks: &[WifiNetwork],
    autoconnect: bool,
    channels: u32,
    current: Option<u32>,
    default: u32,
) -> u32 {
    let stay = current.unwrap_or(default);
    if channels > 1 {
        return stay;
    }
    let usable = |n: &&WifiNetwork| n.frequency > 0;
    let target = networks
        .iter()
        .filter(usable)
        .find(|n| n.attempt)
        .or_else(|| {
            networks
                .iter()
                .filter(usable)
                .find(|n| n.state.is_connected() || n.state.is_connecting())
        })
        .or_else(|| {
            networks
                .iter()
                .filter(usable)
                .find(|n| autoconnect && n.known && n.error.is_none_or(ServiceError::retryable))
        });
    target.map_or(stay, |n| n.frequency)
}

/// Whether a technology's ready service keeps the setup AP closed (all but Wi-Fi).
pub fn other_technology(kind: TechnologyKind) -> bool {
    kind != TechnologyKind::Wifi
}

#[cfg(test)]
mod tests {
    use super::*;
    use SetupReason as R;

    const S: Duration = Duration::from_secs(1);

    fn base() -> Facts {
        Facts {
            mode: SetupMode::Auto,
            radio: true,
            tethering: false,
            request: Request::None,
            other_ready: false,
            station: Station::Idle,
            since_loss: 120 * S,
            grace: 60 * S,
            validate: 30 * S,
            open: false,
            concurrent: true,
            attempt: false,
            phone: false,
            known_in_range: false,
            since_retry: None,
            retry_interval: 300 * S,
        }
    }

    #[test]
    fn decision_table() {
        type Case = (&'static str, fn(&mut Facts), bool, SetupReason);
        let cases: &[Case] = &[
            (
                "nothing ready after the grace period: open",
                |_| {},
                true,
                R::NothingReady,
            ),
            (
                "before the grace period: closed",
                |f| f.since_loss = 10 * S,
                false,
                R::Grace,
            ),
            ("no radio", |f| f.radio = false, false, R::NoRadio),
            (
                "mode off, even when asked",
                |f| {
                    f.mode = SetupMode::Off;
                    f.request = Request::Start;
                },
                false,
                R::Off,
            ),
            (
                "tethering has the radio",
                |f| f.tethering = true,
                false,
                R::Tethering,
            ),
            (
                "a ready Ethernet link keeps it closed",
                |f| f.other_ready = true,
                false,
                R::OtherReady,
            ),
            (
                "and closes an open one",
                |f| {
                    f.other_ready = true;
                    f.open = true;
                },
                false,
                R::OtherReady,
            ),
            (
                "even one opened on demand",
                |f| {
                    f.other_ready = true;
                    f.request = Request::Start;
                },
                false,
                R::OtherReady,
            ),
            (
                "mode always opens beside Ethernet",
                |f| {
                    f.other_ready = true;
                    f.mode = SetupMode::Always;
                },
                true,
                R::Always,
            ),
            (
                "mode always ignores the grace period",
                |f| {
                    f.mode = SetupMode::Always;
                    f.since_loss = S;
                },
                true,
                R::Always,
            ),
            (
                "on demand before the grace period",
                |f| {
                    f.request = Request::Start;
                    f.since_loss = S;
                },
                true,
                R::Requested,
            ),
            (
                "mode on-demand, nobody asked",
                |f| f.mode = SetupMode::OnDemand,
                false,
                R::NotRequested,
            ),
            (
                "mode on-demand, asked",
                |f| {
                    f.mode = SetupMode::OnDemand;
                    f.request = Request::Start;
                },
                true,
                R::Requested,
            ),
            (
                "stopped by the user",
                |f| f.request = Request::Stop,
                false,
                R::Stopped,
            ),
            (
                "a ready Wi-Fi link: not opened",
                |f| f.station = Station::Ready(S),
                false,
                R::WifiReady,
            ),
            (
                "an open AP waits for the new link to validate",
                |f| {
                    f.open = true;
                    f.station = Station::Ready(S);
                },
                true,
                R::Validating,
            ),
            (
                "ready long enough counts as validated",
                |f| {
                    f.open = true;
                    f.station = Station::Ready(31 * S);
                },
                false,
                R::WifiValidated,
            ),
            (
                "online closes it",
                |f| {
                    f.open = true;
                    f.station = Station::Online(S);
                },
                false,
                R::WifiValidated,
            ),
            (
                "online closes one opened on demand too",
                |f| {
                    f.open = true;
                    f.request = Request::Start;
                    f.station = Station::Online(S);
                },
                false,
                R::WifiValidated,
            ),
            (
                "a phone on the page: it lingers to say done",
                |f| {
                    f.open = true;
                    f.phone = true;
                    f.station = Station::Online(S);
                },
                true,
                R::Validating,
            ),
            (
                "then it closes",
                |f| {
                    f.open = true;
                    f.phone = true;
                    f.station = Station::Online(LINGER);
                },
                false,
                R::WifiValidated,
            ),
            (
                "mode always with AP+STA stays open beside an online link",
                |f| {
                    f.mode = SetupMode::Always;
                    f.station = Station::Online(S);
                },
                true,
                R::Always,
            ),
            (
                "mode always without AP+STA closes for the online link",
                |f| {
                    f.mode = SetupMode::Always;
                    f.concurrent = false;
                    f.station = Station::Online(S);
                },
                false,
                R::WifiValidated,
            ),
            (
                "a station joining beside the AP (AP+STA): open",
                |f| {
                    f.station = Station::Connecting;
                },
                true,
                R::NothingReady,
            ),
            (
                "without AP+STA, not while the station is joining",
                |f| {
                    f.concurrent = false;
                    f.station = Station::Connecting;
                },
                false,
                R::StationBusy,
            ),
            (
                "without AP+STA a connect from the page takes the radio",
                |f| {
                    f.concurrent = false;
                    f.open = true;
                    f.attempt = true;
                },
                false,
                R::Attempt,
            ),
            (
                "with AP+STA the AP stays up during the connect",
                |f| {
                    f.open = true;
                    f.attempt = true;
                    f.station = Station::Connecting;
                },
                true,
                R::NothingReady,
            ),
        ];
        for (what, change, open, reason) in cases {
            let mut f = base();
            change(&mut f);
            let d = decide(&f);
            assert_eq!((d.open, d.reason), (*open, *reason), "{what}: {f:?}");
        }
    }

    #[test]
    fn rechecks_at_the_next_deadline() {
        let mut f = base();
        f.since_loss = 45 * S;
        assert_eq!(decide(&f).recheck, Some(15 * S), "end of the grace period");
        let mut f = base();
        f.open = true;
        f.station = Station::Ready(20 * S);
        assert_eq!(decide(&f).recheck, Some(10 * S), "validate timeout");
        let mut f = base();
        f.open = true;
        f.phone = true;
        f.station = Station::Online(3 * S);
        assert_eq!(
            decide(&f).recheck,
            Some(LINGER - 3 * S),
            "end of the linger"
        );
        assert_eq!(decide(&base()).recheck, None, "nothing pending");
    }

    #[test]
    fn background_retries_are_polite() {
        let mut f = base();
        f.known_in_range = true;
        assert!(decide(&f).autoconnect_wifi, "AP+STA: favorites may connect");
        f.phone = true;
        assert!(
            !decide(&f).autoconnect_wifi,
            "not while a phone is on the page"
        );
        f.phone = false;
        f.open = true;
        f.station = Station::Online(S);
        assert!(decide(&f).autoconnect_wifi, "closed: normal life");

        let mut f = base();
        f.concurrent = false;
        f.open = true;
        let d = decide(&f);
        assert!(d.open && !d.autoconnect_wifi, "the AP has the radio");
        f.known_in_range = true;
        let d = decide(&f);
        assert!(!d.open && d.start_retry && d.autoconnect_wifi, "{d:?}");
        assert_eq!(d.reason, R::Retrying);
        f.since_retry = Some(10 * S);
        let d = decide(&f);
        assert!(!d.open && !d.start_retry, "within the window: {d:?}");
        assert_eq!(d.recheck, Some(RETRY_WINDOW - 10 * S));
        f.since_retry = Some(100 * S);
        let d = decide(&f);
        assert!(d.open && !d.start_retry, "between windows: {d:?}");
        assert_eq!(d.recheck, Some(200 * S), "next window");
        f.since_retry = Some(400 * S);
        f.phone = true;
        let d = decide(&f);
        assert!(
            d.open && !d.start_retry,
            "no retry while a phone is on the page"
        );
    }

    #[test]
    fn the_ap_follows_the_station_on_one_channel() {
        let net = |frequency, state, known| WifiNetwork {
            frequency,
            state,
            error: None,
            known,
            attempt: false,
        };
        let idle_known = net(2437, ServiceState::Idle, true);
        let joining = net(2462, ServiceState::Association, false);
        let mut target = net(5180, ServiceState::Idle, false);
        target.attempt = true;
        assert_eq!(ap_frequency(&[], true, 1, None, 2412), 2412, "default");
        assert_eq!(ap_frequency(&[], true, 1, Some(2437), 2412), 2437, "stays");
        assert_eq!(
            ap_frequency(&[idle_known, joining], true, 1, Some(2412), 2412),
            2462,
            "the network being joined beats a known one"
        );
        assert_eq!(
            ap_frequency(&[idle_known], true, 1, Some(2412), 2412),
            2437,
            "a known network in range"
        );
        assert_eq!(
            ap_frequency(&[idle_known], false, 1, Some(2412), 2412),
            2412,
            "not while favorites may not connect (a phone on the page)"
        );
        assert_eq!(
            ap_frequency(&[idle_known, joining, target], true, 1, Some(2412), 2412),
            5180,
            "the page's connect first"
        );
        assert_eq!(
            ap_frequency(&[joining], true, 2, Some(2412), 2412),
            2412,
            "two channels: no need to move"
        );
        let mut refused = idle_known;
        refused.state = ServiceState::Failure;
        refused.error = Some(ServiceError::InvalidKey);
        assert_eq!(
            ap_frequency(&[refused], true, 1, Some(2412), 2412),
            2412,
            "a known network with a refused key is not tried"
        );
    }
}
