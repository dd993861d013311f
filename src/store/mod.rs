//! Persistent per-service configuration: one JSON file per service under
//! `<state_dir>/services/`, written atomically (temp file, fsync, rename) with mode 0600.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::model::{ServiceConfig, ServiceId};

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("{action} {path}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// Which file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Serialising failed (a bug).
    #[error("encode service configuration")]
    Encode(#[source] serde_json::Error),
}

/// The service store.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

fn io<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// Service ids are built by netpilot from MACs and SSID hex; anything else is not a file name.
fn file_name(id: &ServiceId) -> Option<String> {
    let ok = !id.0.is_empty() && id.0.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok.then(|| format!("{}.json", id.0))
}

impl Store {
    /// Opens the store and loads every stored service. A file that cannot be read or
    /// parsed is logged and renamed to `*.corrupt`, never silently dropped.
    pub fn open(
        state_dir: &Path,
    ) -> Result<(Self, BTreeMap<ServiceId, ServiceConfig>), StoreError> {
        let dir = state_dir.join("services");
        std::fs::create_dir_all(&dir).map_err(io("create", &dir))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(io("chmod", &dir))?;
        let mut loaded = BTreeMap::new();
        for entry in std::fs::read_dir(&dir).map_err(io("read directory", &dir))? {
            let path = entry.map_err(io("read directory", &dir))?.path();
            let Some(id) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".json"))
            else {
                continue;
            };
            let parsed = std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|text| {
                    serde_json::from_str::<ServiceConfig>(&text).map_err(|e| e.to_string())
                });
            match parsed {
                Ok(config) => {
                    loaded.insert(ServiceId(id.to_string()), config);
                }
                Err(e) => {
                    let aside = path.with_extension("json.corrupt");
                    tracing::error!(file = %path.display(), error = %e, moved_to = %aside.display(), "unreadable service configuration");
                    let _ = std::fs::rename(&path, &aside);
                }
            }
        }
        Ok((Store { dir }, loaded))
    }

    /// Writes a service's configuration atomically.
    pub fn save(&self, id: &ServiceId, config: &ServiceConfig) -> Result<(), StoreError> {
        let Some(name) = file_name(id) else {
            return Ok(());
        };
        let path = self.dir.join(name);
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(config).map_err(StoreError::Encode)?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io("create", &tmp))?;
        file.write_all(&text).map_err(io("write", &tmp))?;
        file.sync_all().map_err(io("fsync", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io("rename into place", &path))
    }

    /// Forgets a service.
    pub fn remove(&self, id: &ServiceId) -> Result<(), StoreError> {
        let Some(name) = file_name(id) else {
            return Ok(());
        };
        let path = self.dir.join(name);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("remove", &path)(e)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Ipv4Config;

    #[test]
    fn save_load_remove_and_corrupt_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, loaded) = Store::open(dir.path()).expect("open");
        assert!(loaded.is_empty());
        let id = ServiceId("ethernet_020000000001_cable".into());
        let config = ServiceConfig {
            ipv4: Ipv4Config::Manual {
                address: "198.18.0.5".parse().expect("ip"),
                prefix_len: 24,
                gateway: None,
            },
            favorite: true,
            ..Default::default()
        };
        store.save(&id, &config).expect("save");
        let file = dir.path().join("services/ethernet_020000000001_cable.json");
        assert_eq!(
            std::fs::metadata(&file).expect("file").permissions().mode() & 0o777,
            0o600
        );
        std::fs::write(dir.path().join("services/broken.json"), "{not json").expect("write");
        let (store, loaded) = Store::open(dir.path()).expect("reopen");
        assert_eq!(loaded.get(&id), Some(&config));
        assert_eq!(loaded.len(), 1);
        assert!(
            dir.path().join("services/broken.json.corrupt").exists(),
            "kept aside, not lost"
        );
        store.remove(&id).expect("remove");
        store.remove(&id).expect("removing twice is fine");
        assert!(Store::open(dir.path()).expect("open").1.is_empty());
        assert!(store.save(&ServiceId("../evil".into()), &config).is_ok());
        assert!(!dir.path().join("evil.json").exists());
    }
}
