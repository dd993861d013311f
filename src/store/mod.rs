//! Persistent per-service state: one JSON file per service under `<state_dir>/services/`
//! (configuration, favorite) and, apart from it, `<state_dir>/secrets/` (credentials). Files
//! are written atomically (temp file, fsync, rename) with mode 0600 in directories of mode
//! 0700.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::model::{Credentials, ServiceConfig, ServiceId};

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
    secrets: PathBuf,
    power: PathBuf,
}

/// What the store held at start.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Service configurations.
    pub services: BTreeMap<ServiceId, ServiceConfig>,
    /// Credentials.
    pub credentials: BTreeMap<ServiceId, Credentials>,
    /// Technology power (ConnMan's per-technology "Enable"), by name.
    pub technologies: BTreeMap<String, bool>,
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

fn open_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir).map_err(io("create", dir))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io("chmod", dir))
}

/// Loads every `<id>.json` in `dir`. A file that cannot be read or parsed is logged and
/// renamed to `*.corrupt`, never silently dropped.
fn load_all<T: serde::de::DeserializeOwned>(
    dir: &Path,
) -> Result<BTreeMap<ServiceId, T>, StoreError> {
    let mut loaded = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(io("read directory", dir))? {
        let path = entry.map_err(io("read directory", dir))?.path();
        let Some(id) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".json"))
        else {
            continue;
        };
        let parsed = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str::<T>(&text).map_err(|e| e.to_string()));
        match parsed {
            Ok(value) => {
                loaded.insert(ServiceId(id.to_string()), value);
            }
            Err(e) => {
                let aside = path.with_extension("json.corrupt");
                tracing::error!(file = %path.display(), error = %e, moved_to = %aside.display(), "unreadable stored file");
                let _ = std::fs::rename(&path, &aside);
            }
        }
    }
    Ok(loaded)
}

fn write_atomic(path: &Path, text: &[u8]) -> Result<(), StoreError> {
    let tmp = path.with_extension("json.tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io("create", &tmp))?;
    file.write_all(text).map_err(io("write", &tmp))?;
    file.sync_all().map_err(io("fsync", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io("rename into place", path))
}

fn remove_file(path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("remove", path)(e)),
        _ => Ok(()),
    }
}

impl Store {
    /// Opens the store and loads everything in it.
    pub fn open(state_dir: &Path) -> Result<(Self, Loaded), StoreError> {
        let dir = state_dir.join("services");
        let secrets = state_dir.join("secrets");
        open_dir(&dir)?;
        open_dir(&secrets)?;
        let power = state_dir.join("technologies.json");
        let technologies = match std::fs::read_to_string(&power) {
            Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
                tracing::error!(file = %power.display(), error = %e, "unreadable technology power; all on");
                BTreeMap::new()
            }),
            Err(_) => BTreeMap::new(),
        };
        let loaded = Loaded {
            services: load_all(&dir)?,
            credentials: load_all(&secrets)?,
            technologies,
        };
        Ok((
            Store {
                dir,
                secrets,
                power,
            },
            loaded,
        ))
    }

    /// Writes a service's configuration atomically.
    pub fn save(&self, id: &ServiceId, config: &ServiceConfig) -> Result<(), StoreError> {
        let Some(name) = file_name(id) else {
            return Ok(());
        };
        let text = serde_json::to_vec_pretty(config).map_err(StoreError::Encode)?;
        write_atomic(&self.dir.join(name), &text)
    }

    /// Writes a service's credentials atomically (mode 0600).
    pub fn save_credentials(&self, id: &ServiceId, c: &Credentials) -> Result<(), StoreError> {
        let Some(name) = file_name(id) else {
            return Ok(());
        };
        let text = serde_json::to_vec_pretty(c).map_err(StoreError::Encode)?;
        write_atomic(&self.secrets.join(name), &text)
    }

    /// Forgets a service: its configuration and its credentials.
    pub fn remove(&self, id: &ServiceId) -> Result<(), StoreError> {
        let Some(name) = file_name(id) else {
            return Ok(());
        };
        remove_file(&self.dir.join(&name))?;
        remove_file(&self.secrets.join(name))
    }

    /// Writes every technology's power state.
    pub fn save_power(&self, power: &BTreeMap<String, bool>) -> Result<(), StoreError> {
        let text = serde_json::to_vec_pretty(power).map_err(StoreError::Encode)?;
        write_atomic(&self.power, &text)
    }

    /// Forgets a service's credentials only.
    pub fn remove_credentials(&self, id: &ServiceId) -> Result<(), StoreError> {
        match file_name(id) {
            Some(name) => remove_file(&self.secrets.join(name)),
            None => Ok(()),
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
        assert!(loaded.services.is_empty());
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
        let secret = Credentials {
            passphrase: Some(crate::model::Secret::new("correct horse")),
            ..Credentials::default()
        };
        store
            .save_credentials(&id, &secret)
            .expect("save credentials");
        let secret_file = dir.path().join("secrets/ethernet_020000000001_cable.json");
        assert_eq!(
            std::fs::metadata(&secret_file)
                .expect("file")
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(dir.path().join("secrets"))
                .expect("dir")
                .permissions()
                .mode()
                & 0o777,
            0o700
        );
        let (store, loaded) = Store::open(dir.path()).expect("reopen");
        assert_eq!(loaded.services.get(&id), Some(&config));
        assert_eq!(loaded.services.len(), 1);
        assert_eq!(loaded.credentials.get(&id), Some(&secret));
        assert!(
            dir.path().join("services/broken.json.corrupt").exists(),
            "kept aside, not lost"
        );
        store.remove(&id).expect("remove");
        store.remove(&id).expect("removing twice is fine");
        let (_, loaded) = Store::open(dir.path()).expect("open");
        assert!(loaded.services.is_empty() && loaded.credentials.is_empty());
        assert!(!secret_file.exists(), "forget removes the secret");
        assert!(store.save(&ServiceId("../evil".into()), &config).is_ok());
        assert!(!dir.path().join("evil.json").exists());
    }
}
