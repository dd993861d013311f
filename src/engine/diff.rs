//! What changed between two snapshots, as WatchManager events.

use super::{Event, Snapshot};
use crate::policy::readiness::{l4_events, Readiness};
use std::collections::BTreeMap;

/// Events that turn `old` into `new`, in the order: manager, technologies, services
/// (ServicesChanged, then state changes), interfaces, L4 connectivity, the access point.
pub(super) fn events(old: &Snapshot, new: &Snapshot) -> Vec<Event> {
    let mut events = Vec::new();
    if old.manager != new.manager {
        events.push(Event::ManagerChanged(new.manager));
    }

    for t in &new.technologies {
        match old.technology(t.kind) {
            None => events.push(Event::TechnologyAdded(t.clone())),
            Some(before) if before != t => events.push(Event::TechnologyChanged(t.clone())),
            Some(_) => {}
        }
    }
    for t in &old.technologies {
        if new.technology(t.kind).is_none() {
            events.push(Event::TechnologyRemoved(t.kind));
        }
    }

    let changed: Vec<_> = new
        .services
        .iter()
        .filter(|s| old.service(&s.id.0) != Some(*s))
        .cloned()
        .collect();
    let removed: Vec<_> = old
        .services
        .iter()
        .filter(|s| new.service(&s.id.0).is_none())
        .map(|s| s.id.clone())
        .collect();
    let order: Vec<_> = new.services.iter().map(|s| s.id.clone()).collect();
    let order_changed = old.services.iter().map(|s| &s.id).ne(order.iter());
    if order_changed || !changed.is_empty() || !removed.is_empty() {
        let state_changes: Vec<Event> = changed
            .iter()
            .filter_map(|s| {
                let previous = old.service(&s.id.0)?.state;
                (previous != s.state).then(|| Event::ServiceStateChanged {
                    id: s.id.clone(),
                    state: s.state,
                    previous,
                    error: s.error,
                })
            })
            .collect();
        events.push(Event::ServicesChanged {
            order,
            changed,
            removed,
        });
        events.extend(state_changes);
    }

    for i in &new.interfaces {
        if old.interface(&i.interface.name) != Some(i) {
            events.push(Event::InterfaceChanged(i.clone()));
        }
    }
    for i in &old.interfaces {
        if !new
            .interfaces
            .iter()
            .any(|n| n.interface.index == i.interface.index)
        {
            events.push(Event::InterfaceRemoved {
                name: i.interface.name.clone(),
                index: i.interface.index,
            });
        }
    }

    let readiness = |s: &Snapshot| -> BTreeMap<String, Readiness> {
        s.interfaces
            .iter()
            .map(|i| (i.interface.name.clone(), i.readiness))
            .collect()
    };
    events.extend(
        l4_events(&readiness(old), &readiness(new))
            .into_iter()
            .map(Event::Connectivity),
    );
    if old.setup != new.setup {
        events.push(Event::SetupChanged(new.setup.clone()));
    }
    events
}

/// Logs the events a person wants to see at info level: state changes and connectivity.
pub(super) fn log(event: &Event) {
    match event {
        Event::ServiceStateChanged {
            id,
            state,
            previous,
            ..
        } => {
            tracing::info!(service = %id, "{} -> {}", previous.as_str(), state.as_str());
        }
        Event::Connectivity(e) => {
            let what = if e.connected {
                "connected"
            } else {
                "disconnected"
            };
            tracing::info!(interface = %e.interface, family = ?e.family, "L4 {what}");
        }
        Event::ManagerChanged(m) => {
            tracing::info!(state = ?m.state, offline_mode = m.offline_mode, "manager changed")
        }
        Event::SetupChanged(s) => {
            tracing::info!(state = s.state.as_str(), role = s.role.as_str(), reason = s.reason.as_str(), ssid = ?s.ssid, "access point")
        }
        Event::SetupClientJoined { mac } => {
            tracing::info!(%mac, "a client joined the access point")
        }
        other => tracing::debug!(event = ?other, "engine event"),
    }
}
