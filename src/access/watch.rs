//! The session-policy directory, watched with inotify. Every `*.toml` file is one policy
//! ([`super::policy`]). After a change (debounced) every file is read again: a file that is
//! invalid is rejected whole, with a log line naming the file and line, and that file's
//! previous policy stays in force; a removed file's policy goes. The engine gets the new set
//! and re-evaluates the sessions it affects.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::StreamExt;
use inotify::{Inotify, WatchMask};

use super::policy::{self, Policy, PolicySet};
use super::resolve_system_name;
use crate::engine::EngineHandle;

/// Quiet time after a change before the directory is read (editors write in steps).
const DEBOUNCE: Duration = Duration::from_millis(200);

/// Why the policy directory cannot be watched.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// The directory cannot be read.
    #[error("read session policy directory {path}")]
    Read {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// inotify refused.
    #[error("watch session policy directory {path} with inotify")]
    Inotify {
        /// The directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The policies read from a directory: the last valid version of each file.
#[derive(Debug, Default)]
pub struct PolicyDir {
    dir: PathBuf,
    files: BTreeMap<PathBuf, Policy>,
}

fn read_file(path: &Path) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.len() > policy::FILE_MAX {
        return Err(format!(
            "{} bytes; a policy file has at most {}",
            meta.len(),
            policy::FILE_MAX
        ));
    }
    std::fs::read_to_string(path).map_err(|e| e.to_string())
}

impl PolicyDir {
    /// Reads `dir`. Fails only when the directory itself cannot be read; invalid files are
    /// logged and left out.
    pub fn load(dir: &Path) -> Result<Self, WatchError> {
        let mut me = Self {
            dir: dir.to_path_buf(),
            files: BTreeMap::new(),
        };
        me.rescan()?;
        Ok(me)
    }

    /// Reads every file again; returns whether the set of valid policies changed.
    pub fn rescan(&mut self) -> Result<bool, WatchError> {
        let entries = std::fs::read_dir(&self.dir).map_err(|source| WatchError::Read {
            path: self.dir.clone(),
            source,
        })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml") && p.is_file())
            .collect();
        paths.sort();
        let mut next = BTreeMap::new();
        for path in paths {
            let parsed = read_file(&path).and_then(|text| {
                policy::parse(path.clone(), &text, &resolve_system_name).map_err(|e| e.to_string())
            });
            match parsed {
                Ok(p) => {
                    next.insert(path, p);
                }
                Err(e) => match self.files.get(&path) {
                    Some(previous) => {
                        tracing::error!(file = %path.display(), "session policy {}: {e}; the file is ignored and its previous policy stays", path.display());
                        next.insert(path, previous.clone());
                    }
                    None => {
                        tracing::error!(file = %path.display(), "session policy {}: {e}; the file is ignored", path.display());
                    }
                },
            }
        }
        let changed = next != self.files;
        if changed {
            for gone in self.files.keys().filter(|p| !next.contains_key(*p)) {
                tracing::info!(file = %gone.display(), "session policy removed");
            }
        }
        self.files = next;
        Ok(changed)
    }

    /// The set in force; files whose identities clash with an earlier file's are left out
    /// and logged.
    pub fn set(&self) -> PolicySet {
        let (set, refused) = policy::assemble(&self.files);
        for (file, why) in refused {
            tracing::error!(file = %file.display(), "session policy {}: {why}; the file is ignored", file.display());
        }
        set
    }
}

/// Watches the directory and hands every changed set to the engine, until the engine stops.
pub fn spawn(mut dir: PolicyDir, engine: EngineHandle) -> Result<(), WatchError> {
    let inotify_err = |source| WatchError::Inotify {
        path: dir.dir.clone(),
        source,
    };
    let inotify = Inotify::init().map_err(inotify_err)?;
    inotify
        .watches()
        .add(
            &dir.dir,
            WatchMask::CLOSE_WRITE
                | WatchMask::MOVED_TO
                | WatchMask::MOVED_FROM
                | WatchMask::DELETE
                | WatchMask::CREATE
                | WatchMask::MODIFY
                | WatchMask::DELETE_SELF
                | WatchMask::MOVE_SELF,
        )
        .map_err(inotify_err)?;
    let mut events = inotify
        .into_event_stream(vec![0u8; 4096])
        .map_err(inotify_err)?;
    tokio::spawn(async move {
        loop {
            let event = tokio::select! {
                _ = engine.stopping() => return,
                e = events.next() => e,
            };
            match event {
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "session policy watch failed; policies stay as they are");
                    return;
                }
                None => return,
            }
            // Take the rest of the burst.
            while let Ok(Some(_)) = tokio::time::timeout(DEBOUNCE, events.next()).await {}
            match dir.rescan() {
                Ok(true) => {
                    let set = dir.set();
                    tracing::info!(policies = set.policies().len(), "session policies changed");
                    if engine.set_session_policies(set).await.is_err() {
                        return;
                    }
                }
                Ok(false) => {}
                Err(e) => tracing::error!(
                    "{}; session policies stay as they are",
                    crate::net::netlink::display_chain(&e)
                ),
            }
        }
    });
    Ok(())
}
