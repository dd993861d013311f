//! The engine's one input: every backend, kernel monitor, task and API command reports
//! through [`Input`], each with a `From` conversion, over one bounded queue.

use std::marker::PhantomData;

use tokio::sync::mpsc;

use super::connection::Timer;
use super::handle::Command;
use crate::net::dhcp::DhcpReport;
use crate::net::ndopt::RaDns;
use crate::net::netlink::NetEvent;
use crate::net::online::OnlineReport;
use crate::tech;

/// Everything the engine reacts to.
#[derive(Debug)]
pub(crate) enum Input {
    /// An API command.
    Command(Command),
    /// The rtnetlink monitor: links, addresses, routes.
    Kernel(NetEvent),
    /// A technology backend.
    Backend(tech::Event),
    /// A DHCP client.
    Dhcp(DhcpReport),
    /// An online check.
    Online(OnlineReport),
    /// A timer the engine set for itself.
    Timer(Timer),
    /// IPv6 DNS from router advertisements.
    RaDns(RaDns),
    /// The access point backend, the setup page and the engine's setup timers.
    Setup(crate::setup::Event),
}

impl From<crate::setup::Event> for Input {
    fn from(e: crate::setup::Event) -> Self {
        Input::Setup(e)
    }
}

impl From<Command> for Input {
    fn from(c: Command) -> Self {
        Input::Command(c)
    }
}

impl From<NetEvent> for Input {
    fn from(e: NetEvent) -> Self {
        Input::Kernel(e)
    }
}

impl From<tech::Event> for Input {
    fn from(e: tech::Event) -> Self {
        Input::Backend(e)
    }
}

impl From<DhcpReport> for Input {
    fn from(r: DhcpReport) -> Self {
        Input::Dhcp(r)
    }
}

impl From<OnlineReport> for Input {
    fn from(r: OnlineReport) -> Self {
        Input::Online(r)
    }
}

impl From<RaDns> for Input {
    fn from(r: RaDns) -> Self {
        Input::RaDns(r)
    }
}

impl From<Timer> for Input {
    fn from(t: Timer) -> Self {
        Input::Timer(t)
    }
}

/// The engine has stopped; nothing more can be reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the engine has stopped")]
pub struct EngineStopped;

/// Where a backend or task reports events of type `E` (STYLE.md example 2). It carries only
/// `E`, so a backend cannot send anything else, and sending waits while the engine is busy
/// (the queue is bounded).
pub struct EventSender<E> {
    tx: mpsc::Sender<Input>,
    kind: PhantomData<fn(E)>,
}

impl<E> Clone for EventSender<E> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            kind: PhantomData,
        }
    }
}

impl<E> std::fmt::Debug for EventSender<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventSender")
    }
}

#[allow(private_bounds)]
impl<E: Into<Input>> EventSender<E> {
    pub(super) fn new(tx: mpsc::Sender<Input>) -> Self {
        Self {
            tx,
            kind: PhantomData,
        }
    }

    /// Reports `event`; waits while the engine's queue is full.
    pub async fn send(&self, event: E) -> Result<(), EngineStopped> {
        self.tx.send(event.into()).await.map_err(|_| EngineStopped)
    }

    /// A sender whose events arrive on the returned receiver instead of an engine, for tests
    /// of a backend or task on its own.
    pub fn detached(capacity: usize) -> (Self, DetachedReceiver<E>) {
        let (tx, rx) = mpsc::channel(capacity);
        (
            Self::new(tx),
            DetachedReceiver {
                rx,
                kind: PhantomData,
            },
        )
    }

    /// Whether the engine has stopped.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Reports `event` if the engine's queue has room now, never waiting; a full queue
    /// drops the event ([`Busy::Full`]), so the caller can resynchronise later.
    pub fn try_send(&self, event: E) -> Result<(), Busy> {
        self.tx.try_send(event.into()).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Busy::Full,
            mpsc::error::TrySendError::Closed(_) => Busy::Stopped,
        })
    }

    /// Waits for room in the engine's queue and holds it, so that what is sent with the
    /// permit can be made after the wait (a fresh dump rather than a stale one).
    pub async fn reserve(&self) -> Result<Permit<'_, E>, EngineStopped> {
        let permit = self.tx.reserve().await.map_err(|_| EngineStopped)?;
        Ok(Permit {
            permit,
            kind: PhantomData,
        })
    }
}

/// Why [`EventSender::try_send`] did not report an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Busy {
    /// The engine's queue is full; the event was dropped.
    #[error("the engine's queue is full")]
    Full,
    /// The engine has stopped.
    #[error("the engine has stopped")]
    Stopped,
}

/// Room held in the engine's queue for one event ([`EventSender::reserve`]).
pub struct Permit<'a, E> {
    permit: mpsc::Permit<'a, Input>,
    kind: PhantomData<fn(E)>,
}

#[allow(private_bounds)]
impl<E: Into<Input>> Permit<'_, E> {
    /// Reports `event` in the room held.
    pub fn send(self, event: E) {
        self.permit.send(event.into());
    }
}

/// The receiving end of [`EventSender::detached`].
pub struct DetachedReceiver<E> {
    rx: mpsc::Receiver<Input>,
    kind: PhantomData<fn() -> E>,
}

#[allow(private_bounds)]
impl<E: TryFrom<Input>> DetachedReceiver<E> {
    /// The next event; `None` once every sender is gone.
    pub async fn recv(&mut self) -> Option<E> {
        while let Some(input) = self.rx.recv().await {
            if let Ok(event) = E::try_from(input) {
                return Some(event);
            }
        }
        None
    }
}

macro_rules! detachable {
    ($($variant:ident($t:ty)),*) => {$(
        impl TryFrom<Input> for $t {
            type Error = ();
            fn try_from(input: Input) -> Result<Self, ()> {
                match input {
                    Input::$variant(e) => Ok(e),
                    _ => Err(()),
                }
            }
        }
    )*};
}
detachable!(
    Kernel(NetEvent),
    Backend(tech::Event),
    Dhcp(DhcpReport),
    Online(OnlineReport),
    RaDns(RaDns),
    Setup(crate::setup::Event)
);
