//! What the daemon needs around its modules: one instance per system (a lock in the run
//! directory), and supervision of the tasks it cannot run without.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use tokio::task::JoinHandle;

/// Name of the lock file in the run directory.
pub const LOCK_FILE: &str = "netpilotd.lock";

/// Why the daemon may not start.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another netpilotd holds the lock.
    #[error("another netpilotd{} is running: it holds {path}; stop it first", pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Held {
        /// The lock file.
        path: PathBuf,
        /// The holder's process id, as it wrote it.
        pid: Option<u32>,
    },
    /// The lock file could not be opened or locked.
    #[error("lock {path}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The lock that makes this process the one netpilotd using its run directory: an
/// exclusive `flock` on `<run_dir>/netpilotd.lock` holding our pid. The kernel drops it
/// when the process ends, however it ends; the file itself stays.
pub struct InstanceLock {
    _lock: Flock<std::fs::File>,
}

impl InstanceLock {
    /// Takes the lock, or fails at once with [`LockError::Held`] naming the holder.
    pub fn acquire(run_dir: &Path) -> Result<Self, LockError> {
        let path = run_dir.join(LOCK_FILE);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(LockError::Held {
                    path,
                    pid: text.trim().parse().ok(),
                });
            }
            Err((_, errno)) => return Err(io(std::io::Error::from(errno))),
        };
        lock.set_len(0).map_err(io)?;
        lock.rewind().map_err(io)?;
        writeln!(lock, "{}", std::process::id()).map_err(io)?;
        Ok(InstanceLock { _lock: lock })
    }
}

/// A task that ended while the daemon still needed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskEnded {
    /// Which task ("engine", "kernel monitor", …).
    pub name: &'static str,
    /// Why: "returned", "panicked: <message>" or "was cancelled".
    pub why: String,
}

impl std::fmt::Display for TaskEnded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the {} task {}", self.name, self.why)
    }
}

/// Waits until the first of `tasks` ends, and says which and why. Never resolves for an
/// empty list.
pub async fn first_to_end(tasks: &mut [(&'static str, JoinHandle<()>)]) -> TaskEnded {
    if tasks.is_empty() {
        return std::future::pending().await;
    }
    let (result, index, _) =
        futures_util::future::select_all(tasks.iter_mut().map(|(_, handle)| handle)).await;
    let why = match result {
        Ok(()) => "returned".to_string(),
        Err(e) if e.is_panic() => {
            let payload = e.into_panic();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            format!("panicked: {message}")
        }
        Err(_) => "was cancelled".to_string(),
    };
    TaskEnded {
        name: tasks[index].0,
        why,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_instance_is_refused_naming_the_first() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = InstanceLock::acquire(dir.path()).expect("first");
        let text = std::fs::read_to_string(dir.path().join(LOCK_FILE)).expect("lock file");
        assert_eq!(text.trim(), std::process::id().to_string());
        match InstanceLock::acquire(dir.path()) {
            Err(e @ LockError::Held { .. }) => {
                let message = e.to_string();
                assert!(
                    message.contains(&format!("pid {}", std::process::id()))
                        && message.contains(LOCK_FILE),
                    "{message}"
                );
            }
            Err(e) => panic!("unexpected error: {e}"),
            Ok(_) => panic!("two instances hold the lock"),
        }
        drop(first);
        InstanceLock::acquire(dir.path()).expect("free again once the first is gone");
    }

    #[tokio::test]
    async fn the_first_task_to_end_is_named_with_why() {
        let mut tasks = vec![
            ("forever", tokio::spawn(std::future::pending::<()>())),
            (
                "engine",
                tokio::spawn(async {
                    tokio::task::yield_now().await;
                    panic!("state machine bug");
                }),
            ),
        ];
        let ended = first_to_end(&mut tasks).await;
        assert_eq!(
            ended,
            TaskEnded {
                name: "engine",
                why: "panicked: state machine bug".into()
            }
        );
        assert_eq!(
            ended.to_string(),
            "the engine task panicked: state machine bug"
        );
        let mut done = vec![("monitor", tokio::spawn(async {}))];
        assert_eq!(first_to_end(&mut done).await.why, "returned");
    }
}
