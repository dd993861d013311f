//! Persistent per-service state: one JSON file per service under `<state_dir>/services/`
//! (configuration, favorite) and, apart from it, `<state_dir>/secrets/` (credentials). Files
//! are written atomically (temp file, fsync, rename, fsync of the directory) with mode 0600
//! in directories of mode 0700.
//!
//! Writes run on a writer task, never on the caller's: [`Store`] methods only hand the new
//! content over and return at once. The writer keeps only the newest content per file, so
//! its backlog is bounded by the number of files; each hand-over returns a [`Written`] that
//! resolves once that content (or newer) is on disk. Temp files a crash left are removed
//! when the store opens.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use crate::model::{Credentials, ServiceConfig, ServiceId, TetheringSettings};

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

/// The service store: hands writes to its writer task (see the module documentation).
#[derive(Clone)]
pub struct Store {
    dir: PathBuf,
    secrets: PathBuf,
    power: PathBuf,
    tethering: PathBuf,
    shared: Arc<Shared>,
    wake: mpsc::Sender<()>,
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
    /// Tethering settings (its passphrase among them).
    pub tethering: TetheringSettings,
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
    let tmp = path.with_extension(TMP_EXTENSION);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io("create", &tmp))?;
    file.write_all(text).map_err(io("write", &tmp))?;
    file.sync_all().map_err(io("fsync", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io("rename into place", path))?;
    sync_dir(path)
}

/// Makes a rename or unlink in `path`'s directory durable.
fn sync_dir(path: &Path) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("fsync directory", dir))
}

fn remove_file(path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io("remove", path)(e)),
        Err(_) => Ok(()),
        Ok(()) => sync_dir(path),
    }
}

/// Extension of the temp file beside each file while it is written.
const TMP_EXTENSION: &str = "json.tmp";

/// Removes the temp files an interrupted write left in `dir`.
fn remove_temp_files(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for path in entries.flatten().map(|e| e.path()) {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.ends_with(".json.tmp") {
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    tracing::info!(file = %path.display(), "removed a temp file an interrupted write left")
                }
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "remove leftover temp file")
                }
            }
        }
    }
}

/// What the writer should make true for one file.
#[derive(Debug, Clone)]
enum Content {
    Bytes(Vec<u8>),
    Absent,
}

/// Who waits for a file's content to be written.
type Waiter = oneshot::Sender<Result<(), String>>;

/// The newest content per file, and who waits for it.
#[derive(Default)]
struct Pending {
    files: BTreeMap<PathBuf, (Content, Vec<Waiter>)>,
}

type Shared = Mutex<Pending>;

/// Resolves once a hand-over to the writer is on disk: `Err` carries the write error
/// ("create /var/lib/netpilot/services/x.json.tmp: No space left on device"), or says the
/// writer has stopped.
pub struct Written(oneshot::Receiver<Result<(), String>>);

impl Written {
    /// Waits until the content is on disk (or the write failed). Dropping a `Written`
    /// instead does not cancel the write.
    pub async fn done(self) -> Result<(), String> {
        self.0
            .await
            .unwrap_or_else(|_| Err("the store writer has stopped".to_string()))
    }

    /// A hand-over that never reached the writer.
    fn failed(message: String) -> Self {
        let (tx, rx) = oneshot::channel();
        let _ = tx.send(Err(message));
        Written(rx)
    }
}

impl Store {
    /// Opens the store, removes temp files an interrupted write left, loads everything in
    /// it and starts the writer task (on the current tokio runtime).
    pub fn open(state_dir: &Path) -> Result<(Self, Loaded), StoreError> {
        let dir = state_dir.join("services");
        let secrets = state_dir.join("secrets");
        open_dir(&dir)?;
        open_dir(&secrets)?;
        for d in [state_dir, &dir, &secrets] {
            remove_temp_files(d);
        }
        let power = state_dir.join("technologies.json");
        let technologies = match std::fs::read_to_string(&power) {
            Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
                tracing::error!(file = %power.display(), error = %e, "unreadable technology power; all on");
                BTreeMap::new()
            }),
            Err(_) => BTreeMap::new(),
        };
        let tethering_file = state_dir.join("tethering.json");
        let tethering = match std::fs::read_to_string(&tethering_file) {
            Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
                let aside = tethering_file.with_extension("json.corrupt");
                tracing::error!(file = %tethering_file.display(), error = %e, moved_to = %aside.display(), "unreadable tethering settings; tethering off");
                let _ = std::fs::rename(&tethering_file, &aside);
                TetheringSettings::default()
            }),
            Err(_) => TetheringSettings::default(),
        };
        let loaded = Loaded {
            services: load_all(&dir)?,
            credentials: load_all(&secrets)?,
            technologies,
            tethering,
        };
        let shared: Arc<Shared> = Arc::default();
        let (wake, woken) = mpsc::channel(1);
        tokio::spawn(writer(shared.clone(), woken));
        Ok((
            Store {
                dir,
                secrets,
                power,
                tethering: tethering_file,
                shared,
                wake,
            },
            loaded,
        ))
    }

    /// Hands `content` for `path` to the writer, replacing content not yet written.
    fn put(&self, path: PathBuf, content: Content) -> Written {
        let (tx, rx) = oneshot::channel();
        {
            let Ok(mut pending) = self.shared.lock() else {
                return Written::failed("the store writer failed".into());
            };
            let entry = pending
                .files
                .entry(path)
                .or_insert_with(|| (Content::Absent, Vec::new()));
            entry.0 = content;
            entry.1.push(tx);
        }
        // Full means a wake-up is pending already.
        let _ = self.wake.try_send(());
        Written(rx)
    }

    fn put_json<T: serde::Serialize>(&self, path: PathBuf, value: &T) -> Written {
        match serde_json::to_vec_pretty(value) {
            Ok(bytes) => self.put(path, Content::Bytes(bytes)),
            Err(e) => Written::failed(crate::net::netlink::display_chain(&StoreError::Encode(e))),
        }
    }

    /// Writes a service's configuration.
    pub fn save(&self, id: &ServiceId, config: &ServiceConfig) -> Written {
        match file_name(id) {
            Some(name) => self.put_json(self.dir.join(name), config),
            None => Written::failed(format!("{id} is not a storable service id")),
        }
    }

    /// Writes a service's credentials (mode 0600).
    pub fn save_credentials(&self, id: &ServiceId, c: &Credentials) -> Written {
        match file_name(id) {
            Some(name) => self.put_json(self.secrets.join(name), c),
            None => Written::failed(format!("{id} is not a storable service id")),
        }
    }

    /// Forgets a service: its configuration and its credentials.
    pub fn remove(&self, id: &ServiceId) -> Written {
        let Some(name) = file_name(id) else {
            return Written::failed(format!("{id} is not a storable service id"));
        };
        // Both go in one batch; waiting for the second is waiting for both.
        let _ = self.put(self.dir.join(&name), Content::Absent);
        self.put(self.secrets.join(name), Content::Absent)
    }

    /// Writes every technology's power state.
    pub fn save_power(&self, power: &BTreeMap<String, bool>) -> Written {
        self.put_json(self.power.clone(), power)
    }

    /// Writes the tethering settings (mode 0600: the passphrase is in them).
    pub fn save_tethering(&self, settings: &TetheringSettings) -> Written {
        self.put_json(self.tethering.clone(), settings)
    }

    /// Forgets a service's credentials only.
    pub fn remove_credentials(&self, id: &ServiceId) -> Written {
        match file_name(id) {
            Some(name) => self.put(self.secrets.join(name), Content::Absent),
            None => Written::failed(format!("{id} is not a storable service id")),
        }
    }
}

/// The writer task: takes everything pending, writes it on a blocking thread, answers
/// the waiters, and ends once the last [`Store`] is gone and everything is written.
async fn writer(shared: Arc<Shared>, mut woken: mpsc::Receiver<()>) {
    let mut open = true;
    loop {
        let batch = match shared.lock() {
            Ok(mut p) => std::mem::take(&mut p.files),
            Err(_) => {
                tracing::error!("store writer: state poisoned; stopping");
                return;
            }
        };
        if batch.is_empty() {
            if !open {
                return;
            }
            open = woken.recv().await.is_some();
            continue;
        }
        let written = tokio::task::spawn_blocking(move || {
            batch
                .into_iter()
                .map(|(path, (content, waiters))| {
                    let result = match &content {
                        Content::Bytes(b) => write_atomic(&path, b),
                        Content::Absent => remove_file(&path),
                    }
                    .map_err(|e| {
                        let text = crate::net::netlink::display_chain(&e);
                        tracing::error!(error = %text, "store write failed");
                        text
                    });
                    (result, waiters)
                })
                .collect::<Vec<_>>()
        })
        .await;
        match written {
            Ok(results) => {
                for (result, waiters) in results {
                    for w in waiters {
                        let _ = w.send(result.clone());
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "store writer thread failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Ipv4Config;

    #[tokio::test]
    async fn save_load_remove_and_corrupt_files() {
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
        store.save(&id, &config).done().await.expect("save");
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
            .done()
            .await
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
        store.remove(&id).done().await.expect("remove");
        store
            .remove(&id)
            .done()
            .await
            .expect("removing twice is fine");
        let (_, loaded) = Store::open(dir.path()).expect("open");
        assert!(loaded.services.is_empty() && loaded.credentials.is_empty());
        assert!(!secret_file.exists(), "forget removes the secret");
        assert!(store
            .save(&ServiceId("../evil".into()), &config)
            .done()
            .await
            .is_err());
        assert!(!dir.path().join("evil.json").exists());
    }

    #[tokio::test]
    async fn leftover_temp_files_go_and_the_newest_content_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("services")).expect("mkdir");
        let leftover = dir
            .path()
            .join("services/ethernet_020000000001_cable.json.tmp");
        std::fs::write(&leftover, "{half").expect("write");
        std::fs::write(dir.path().join("technologies.json.tmp"), "{").expect("write");
        let (store, loaded) = Store::open(dir.path()).expect("open");
        assert!(loaded.services.is_empty(), "a temp file is not a service");
        assert!(!leftover.exists(), "temp file removed at open");
        assert!(!dir.path().join("technologies.json.tmp").exists());

        // Many hand-overs without waiting: each resolves, and the file ends with the last.
        let id = ServiceId("ethernet_020000000001_cable".into());
        let waits: Vec<Written> = (0..50)
            .map(|i| {
                let config = ServiceConfig {
                    domains: vec![format!("d{i}.example")],
                    ..Default::default()
                };
                store.save(&id, &config)
            })
            .collect();
        for w in waits {
            w.done().await.expect("written");
        }
        let (_, loaded) = Store::open(dir.path()).expect("reopen");
        assert_eq!(
            loaded.services.get(&id).map(|c| c.domains.clone()),
            Some(vec!["d49.example".to_string()])
        );
        let names: Vec<String> = std::fs::read_dir(dir.path().join("services"))
            .expect("dir")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![format!("{}.json", id.0)], "no temp file left");
    }

    #[tokio::test]
    async fn a_failed_write_is_reported_to_the_waiter() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = Store::open(dir.path()).expect("open");
        // The directory goes away under the store: the write fails, naming the file.
        std::fs::remove_dir_all(dir.path().join("services")).expect("rm");
        let id = ServiceId("ethernet_020000000001_cable".into());
        let err = store
            .save(&id, &ServiceConfig::default())
            .done()
            .await
            .expect_err("no directory");
        assert!(
            err.contains("ethernet_020000000001_cable.json.tmp"),
            "{err}"
        );
    }
}
