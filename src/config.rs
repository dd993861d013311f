//! Daemon configuration: built-in defaults < TOML file (`--config`) < `NETPILOT_*`
//! environment < command-line flags, merged with figment.
//!
//! Unknown keys and wrong types in the file are errors that name the key, the file and the
//! line. Environment variables are read only for known keys (`NETPILOT_SOCKET`,
//! `NETPILOT_LOG_LEVEL`, …; lists as `[ethernet, wifi]`), so that variables meant for other
//! programs (the `netpilot` CLI reads `NETPILOT_ADDR`) do not break the daemon.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::model::TechnologyKind;

/// Default Unix socket of the API (DESIGN §4).
pub const DEFAULT_SOCKET: &str = "/run/netpilot/netpilot.sock";

/// Keys read from `NETPILOT_<KEY>` environment variables.
const ENV_KEYS: &[&str] = &[
    "socket",
    "listen",
    "state_dir",
    "run_dir",
    "log_level",
    "preferred_technologies",
    "ignored_interfaces",
];

/// Log verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// Normal operation (default).
    Info,
    /// Detailed.
    Debug,
    /// Everything.
    Trace,
}

impl From<LogLevel> for tracing::Level {
    fn from(l: LogLevel) -> Self {
        match l {
            LogLevel::Error => tracing::Level::ERROR,
            LogLevel::Warn => tracing::Level::WARN,
            LogLevel::Info => tracing::Level::INFO,
            LogLevel::Debug => tracing::Level::DEBUG,
            LogLevel::Trace => tracing::Level::TRACE,
        }
    }
}

/// The daemon's configuration. Every field is a key of the TOML file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Unix socket path of the API (created mode 0660). Default `/run/netpilot/netpilot.sock`.
    pub socket: PathBuf,
    /// Plain-TCP listen address `IP:PORT` for development tools such as grpcurl. Loopback
    /// only (127.0.0.0/8 or ::1); unset (default) = no TCP listener.
    pub listen: Option<SocketAddr>,
    /// Persistent state (favorites, service configuration). Default `/var/lib/netpilot`.
    pub state_dir: PathBuf,
    /// Runtime files. Default `/run/netpilot`.
    pub run_dir: PathBuf,
    /// Log verbosity: error, warn, info (default), debug, trace.
    pub log_level: LogLevel,
    /// Technologies in order of preference (ConnMan main.conf PreferredTechnologies).
    /// Default: ethernet, wifi, bluetooth, cellular.
    #[serde(with = "technology_list")]
    pub preferred_technologies: Vec<TechnologyKind>,
    /// Interface name prefixes netpilot ignores (ConnMan main.conf
    /// NetworkInterfaceBlacklist). Default: vmnet, vboxnet, virbr, ifb, ve-, vb- — `veth`
    /// is not ignored.
    pub ignored_interfaces: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            socket: PathBuf::from(DEFAULT_SOCKET),
            listen: None,
            state_dir: PathBuf::from("/var/lib/netpilot"),
            run_dir: PathBuf::from("/run/netpilot"),
            log_level: LogLevel::Info,
            preferred_technologies: TechnologyKind::ALL.to_vec(),
            ignored_interfaces: ["vmnet", "vboxnet", "virbr", "ifb", "ve-", "vb-"]
                .map(String::from)
                .to_vec(),
        }
    }
}

impl Config {
    /// Whether an interface name matches the ignore list.
    pub fn is_ignored(&self, ifname: &str) -> bool {
        self.ignored_interfaces
            .iter()
            .any(|p| !p.is_empty() && ifname.starts_with(p.as_str()))
    }
}

/// Values given on the command line; unset ones do not override.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    /// `--socket`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket: Option<PathBuf>,
    /// `--listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// `--state-dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<PathBuf>,
    /// `--run-dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_dir: Option<PathBuf>,
    /// `--log-level`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_level: Option<LogLevel>,
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("read config file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys or wrong types.
    #[error("config file {path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// toml's message, with line, column and key.
        message: String,
    },
    /// The merged configuration is invalid (environment or flags).
    #[error("configuration: {0}")]
    Merge(String),
    /// A value is out of its allowed range.
    #[error("configuration key {key}: {message}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// What is wrong and what to do.
        message: String,
    },
}

/// Loads the configuration: defaults < `file` < environment < `overrides`.
pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
    let mut figment = Figment::from(Serialized::defaults(Config::default()));
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        // figment names the key but not the line; toml names both, so check the file with it.
        toml::from_str::<Config>(&text).map_err(|e| ConfigError::File {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        figment = figment.merge(Toml::string(&text));
    }
    let config: Config = figment
        .merge(Env::prefixed("NETPILOT_").only(ENV_KEYS))
        .merge(Serialized::defaults(overrides))
        .extract()
        .map_err(|e| ConfigError::Merge(e.to_string()))?;
    validate(&config)?;
    Ok(config)
}

fn validate(config: &Config) -> Result<(), ConfigError> {
    if let Some(addr) = config.listen {
        if !addr.ip().is_loopback() {
            return Err(ConfigError::Invalid {
                key: "listen",
                message: format!(
                    "{addr} is not a loopback address; plain TCP is allowed only on 127.0.0.0/8 or ::1"
                ),
            });
        }
    }
    let mut seen = Vec::new();
    for t in &config.preferred_technologies {
        if seen.contains(t) {
            return Err(ConfigError::Invalid {
                key: "preferred_technologies",
                message: format!("{t} is listed twice"),
            });
        }
        seen.push(*t);
    }
    if config.socket.as_os_str().is_empty() {
        return Err(ConfigError::Invalid {
            key: "socket",
            message: "must not be empty".into(),
        });
    }
    Ok(())
}

mod technology_list {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    use crate::model::TechnologyKind;

    pub fn serialize<S: Serializer>(list: &[TechnologyKind], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(list.iter().map(|t| t.as_str()))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<TechnologyKind>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|s| s.parse().map_err(D::Error::custom))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(text.as_bytes()).expect("write");
        f
    }

    #[test]
    fn defaults_then_file_then_flags() {
        let f = file("socket = \"/tmp/a.sock\"\nlog_level = \"debug\"\npreferred_technologies = [\"wifi\", \"ethernet\"]\n");
        let overrides = Overrides {
            log_level: Some(LogLevel::Warn),
            ..Default::default()
        };
        let c = load(Some(f.path()), &overrides).expect("config");
        assert_eq!(c.socket, PathBuf::from("/tmp/a.sock"));
        assert_eq!(c.log_level, LogLevel::Warn, "flag beats file");
        assert_eq!(
            c.preferred_technologies,
            vec![TechnologyKind::Wifi, TechnologyKind::Ethernet]
        );
        assert_eq!(
            c.state_dir,
            PathBuf::from("/var/lib/netpilot"),
            "default kept"
        );
    }

    #[test]
    fn errors_name_key_file_and_line() {
        let cases = [
            (
                "log_level = \"info\"\nsokcet = \"/x\"\n",
                &["sokcet", "line 2"][..],
            ),
            ("log_level = 3\n", &["log_level", "line 1"][..]),
            (
                "preferred_technologies = [\"ethernet\", \"wimax\"]\n",
                &["wimax", "line 1"][..],
            ),
            ("listen = \"not-an-address\"\n", &["listen", "line 1"][..]),
        ];
        for (text, wants) in cases {
            let f = file(text);
            let err = load(Some(f.path()), &Overrides::default())
                .expect_err(text)
                .to_string();
            assert!(err.contains(&f.path().display().to_string()), "{err}");
            for want in wants {
                assert!(err.contains(want), "{text:?}: {err:?} lacks {want:?}");
            }
        }
    }

    #[test]
    fn non_loopback_listen_is_rejected() {
        let overrides = Overrides {
            listen: Some("0.0.0.0:50051".parse().expect("addr")),
            ..Default::default()
        };
        let err = load(None, &overrides).expect_err("must fail").to_string();
        assert!(err.contains("listen") && err.contains("loopback"), "{err}");
    }

    #[test]
    fn ignore_list_is_prefixes_and_keeps_veth() {
        let c = Config::default();
        assert!(c.is_ignored("virbr0"));
        assert!(c.is_ignored("ve-container"));
        assert!(!c.is_ignored("veth0"));
        assert!(!c.is_ignored("eth0"));
    }
}
