//! Keeps DNS as the engine's plan says, on a task of its own: resolv.conf, or per-link
//! nameservers and search domains in systemd-resolved.
//!
//! - The file is compared with what is on disk, not with what was written last: when
//!   another program overwrites or deletes it (inotify on its directory), it is written
//!   again and that is logged.
//! - systemd-resolved gets each link's settings with a timeout per call
//!   ([`RESOLVED_CALL_TIMEOUT`]). When resolved restarts (a new owner of its bus name) it has
//!   forgotten them, so they are pushed again.
//!
//! Failures are retried with backoff ([`RETRY_MIN`] doubling to [`RETRY_MAX`]).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use tokio::io::unix::AsyncFd;
use tokio::sync::watch;

use super::apply::NetPlan;
use super::netlink::display_chain;
use super::resolv;
use super::resolved::Resolved;

/// Longest a call to systemd-resolved may take.
pub const RESOLVED_CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// First wait before a failed write or call is tried again.
pub const RETRY_MIN: Duration = Duration::from_millis(500);
/// Longest wait between attempts.
pub const RETRY_MAX: Duration = Duration::from_secs(10);

/// Where nameservers go.
pub enum DnsSink {
    /// resolv.conf at this path.
    File(PathBuf),
    /// systemd-resolved, per link.
    Resolved(Resolved),
}

impl DnsSink {
    /// systemd-resolved when `use_resolved` and it is on the system bus, else the file
    /// (logged), so a device without resolved still gets DNS.
    pub async fn open(use_resolved: bool, resolv_conf: PathBuf) -> Self {
        if use_resolved {
            match tokio::time::timeout(RESOLVED_CALL_TIMEOUT, Resolved::connect()).await {
                Ok(Ok(r)) => return DnsSink::Resolved(r),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, file = %resolv_conf.display(), "systemd-resolved not available; writing resolv.conf instead")
                }
                Err(_) => {
                    tracing::warn!(file = %resolv_conf.display(), "systemd-resolved not available (no answer in {RESOLVED_CALL_TIMEOUT:?}); writing resolv.conf instead")
                }
            }
        }
        DnsSink::File(resolv_conf)
    }
}

/// Starts the DNS task. It ends when the plan's sender is gone.
pub fn spawn(sink: DnsSink, plans: watch::Receiver<NetPlan>) -> tokio::task::JoinHandle<()> {
    match sink {
        DnsSink::File(path) => tokio::spawn(keep_file(path, plans)),
        DnsSink::Resolved(resolved) => tokio::spawn(keep_resolved(resolved, plans)),
    }
}

struct Backoff {
    next: Duration,
    at: Option<tokio::time::Instant>,
}

impl Backoff {
    fn new() -> Self {
        Backoff {
            next: RETRY_MIN,
            at: None,
        }
    }

    fn outcome(&mut self, ok: bool) {
        if ok {
            *self = Backoff::new();
        } else {
            self.at = Some(tokio::time::Instant::now() + self.next);
            self.next = (self.next * 2).min(RETRY_MAX);
        }
    }

    async fn wait(&self) {
        match self.at {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    }
}

/// An inotify instance tokio can poll.
struct Watch(Inotify);

impl AsRawFd for Watch {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

/// Watches `path`'s directory (which it creates) for changes to that file name.
fn watch_file(path: &Path) -> Result<AsyncFd<Watch>, String> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
        .map_err(|e| format!("inotify: {e}"))?;
    inotify
        .add_watch(
            dir,
            AddWatchFlags::IN_CLOSE_WRITE
                | AddWatchFlags::IN_MOVED_TO
                | AddWatchFlags::IN_MOVED_FROM
                | AddWatchFlags::IN_CREATE
                | AddWatchFlags::IN_DELETE
                | AddWatchFlags::IN_ATTRIB,
        )
        .map_err(|e| format!("watch {}: {e}", dir.display()))?;
    // SAFETY: the Inotify owns its descriptor, which stays open for as long as the AsyncFd
    // owns the Inotify, and as_raw_fd always returns that one descriptor.
    unsafe { AsyncFd::register_with_interest(Watch(inotify), tokio::io::Interest::READABLE) }
        .map_err(|e| format!("register inotify: {}", std::io::Error::from(e)))
}

/// Waits until an inotify event names `name`; never returns without a watch.
async fn file_touched(watch: Option<&AsyncFd<Watch>>, name: &std::ffi::OsStr) {
    let Some(fd) = watch else {
        return std::future::pending().await;
    };
    loop {
        let Ok(mut guard) = fd.readable().await else {
            return std::future::pending().await;
        };
        match guard.try_io(|inner| {
            inner
                .get_ref()
                .0
                .read_events()
                .map_err(std::io::Error::from)
        }) {
            Ok(Ok(events)) => {
                if events.iter().any(|e| e.name.as_deref() == Some(name)) {
                    return;
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "read inotify events");
                return std::future::pending().await;
            }
            Err(_would_block) => {}
        }
    }
}

async fn keep_file(path: PathBuf, mut plans: watch::Receiver<NetPlan>) {
    let watch = match watch_file(&path) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "cannot watch resolv.conf; changes by other programs are not undone");
            None
        }
    };
    let name = path.file_name().map(ToOwned::to_owned).unwrap_or_default();
    let mut backoff = Backoff::new();
    // What this task wrote last: a different file on disk was changed by someone else.
    let mut written: Option<String> = None;
    loop {
        let wanted = plans.borrow_and_update().resolv_conf.clone();
        if let Some(content) = wanted {
            let on_disk = std::fs::read_to_string(&path).ok();
            if on_disk.as_deref() != Some(content.as_str()) {
                // Not what this task wrote last: another program wrote or removed it.
                if written.is_some() && on_disk != written {
                    tracing::warn!(file = %path.display(), "resolv.conf was changed or removed by another program; restoring it");
                }
                match resolv::write(&path, &content) {
                    Ok(()) => {
                        tracing::info!(path = %path.display(), "resolv.conf updated");
                        written = Some(content);
                        backoff.outcome(true);
                    }
                    Err(e) => {
                        tracing::error!(path = %path.display(), error = %e, "write resolv.conf failed; will retry");
                        backoff.outcome(false);
                    }
                }
            } else {
                written = Some(content);
                backoff.outcome(true);
            }
        }
        tokio::select! {
            changed = plans.changed() => if changed.is_err() { return },
            _ = file_touched(watch.as_ref(), &name) => {}
            _ = backoff.wait() => {}
        }
    }
}

/// Each link's nameservers and search domains.
type LinkDns = BTreeMap<u32, (Vec<IpAddr>, Vec<String>)>;

fn link_dns(plan: &NetPlan) -> LinkDns {
    plan.links
        .iter()
        .filter(|(_, l)| !l.nameservers.is_empty() || !l.domains.is_empty())
        .map(|(i, l)| (*i, (l.nameservers.clone(), l.domains.clone())))
        .collect()
}

async fn keep_resolved(resolved: Resolved, mut plans: watch::Receiver<NetPlan>) {
    let mut owners = match resolved.owner_changes().await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot follow systemd-resolved restarts; its DNS settings are not pushed again after one");
            None
        }
    };
    let mut backoff = Backoff::new();
    // What resolved holds, as far as netpilot knows.
    let mut pushed = LinkDns::new();
    loop {
        let wanted = link_dns(&plans.borrow_and_update());
        let indexes: std::collections::BTreeSet<u32> =
            pushed.keys().chain(wanted.keys()).copied().collect();
        let mut ok = true;
        for index in indexes {
            let (was, is) = (pushed.get(&index), wanted.get(&index));
            if was == is {
                continue;
            }
            let call = async {
                match is {
                    Some((servers, domains)) => resolved.set_link(index, servers, domains).await,
                    None => resolved.revert(index).await,
                }
            };
            match tokio::time::timeout(RESOLVED_CALL_TIMEOUT, call).await {
                Ok(Ok(())) => match is {
                    Some((servers, domains)) => {
                        tracing::info!(ifindex = index, nameservers = ?servers, ?domains, "DNS pushed to systemd-resolved");
                        pushed.insert(index, (servers.clone(), domains.clone()));
                    }
                    None => {
                        tracing::info!(
                            ifindex = index,
                            "DNS settings reverted in systemd-resolved"
                        );
                        pushed.remove(&index);
                    }
                },
                Ok(Err(e)) => {
                    tracing::warn!(ifindex = index, error = %display_chain(&e), "push DNS to systemd-resolved failed; will retry");
                    ok = false;
                }
                Err(_) => {
                    tracing::warn!(ifindex = index, "systemd-resolved did not answer within {RESOLVED_CALL_TIMEOUT:?}; will retry");
                    ok = false;
                }
            }
        }
        backoff.outcome(ok);
        tokio::select! {
            changed = plans.changed() => if changed.is_err() { return },
            owner = next_owner(owners.as_mut()) => match owner {
                Some(owner) if owner.is_empty() => {
                    tracing::warn!("systemd-resolved left the bus; its DNS settings are gone");
                    pushed.clear();
                }
                Some(_) => {
                    tracing::warn!(links = wanted.len(), "systemd-resolved restarted; pushing DNS settings again");
                    pushed.clear();
                    backoff = Backoff::new();
                }
                None => owners = None,
            },
            _ = backoff.wait() => {}
        }
    }
}

async fn next_owner(stream: Option<&mut super::resolved::OwnerChanges>) -> Option<String> {
    match stream {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real file on a real file system: another program's write is undone and logged.
    #[tokio::test]
    async fn an_overwritten_resolv_conf_is_restored() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("run/resolv.conf");
        let plan = |text: &str| NetPlan {
            resolv_conf: Some(text.to_string()),
            complete: true,
            ..NetPlan::default()
        };
        let (tx, rx) = watch::channel(plan("nameserver 198.18.1.53\n"));
        let task = spawn(DnsSink::File(path.clone()), rx);
        let read = || std::fs::read_to_string(&path).unwrap_or_default();
        let until = |want: &'static str| {
            let read = &read;
            async move {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                while read() != want {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "resolv.conf is {:?}, want {want:?}",
                        read()
                    );
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        };
        until("nameserver 198.18.1.53\n").await;
        std::fs::write(&path, "nameserver 127.0.0.53\n").expect("overwrite");
        until("nameserver 198.18.1.53\n").await;
        std::fs::remove_file(&path).expect("remove");
        until("nameserver 198.18.1.53\n").await;
        tx.send(plan("nameserver 198.18.2.53\n")).expect("send");
        until("nameserver 198.18.2.53\n").await;
        drop(tx);
        tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the task ends with the plan's sender")
            .expect("no panic");
    }
}
