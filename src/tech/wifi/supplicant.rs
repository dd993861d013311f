//! The wpa_supplicant control protocol, typed: commands, network settings, events and the
//! parsers of its replies (the role iwd's `netdev.h` plays for nl80211). No service or
//! engine logic lives here.
//!
//! Sources of the formats, all in hostap: `wpa_supplicant/ctrl_iface.c` (replies: `BSS`,
//! `STATUS`, `LIST_NETWORKS`; 4096-byte replies), `wpa_supplicant/config.c` (how each
//! network variable is parsed), `src/utils/common.c` (`printf_encode` / `printf_decode`,
//! `wpa_config_parse_string`), `src/common/wpa_ctrl.h` (event names),
//! `wpa_supplicant/events.c` and `wpa_supplicant.c` (event texts), `doc/ctrl_iface.doxygen`.
//!
//! Network values are written in forms no byte of user input can break: SSIDs, EAP
//! identities, passwords, paths and domain names as unquoted hex (`wpa_config_parse_string`
//! turns an unquoted even-length hex string into bytes), a WPA passphrase quoted (it is
//! 8–63 printable ASCII; the parser takes everything up to the *last* `"` and does not
//! unescape), enumerations as fixed words. Values that wpa_supplicant keeps as C strings
//! (paths, domains, the private key password) cannot hold a NUL byte: those are refused,
//! naming the field.

use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use tokio::sync::mpsc;

use super::ctrl::{self, CtrlConfig, CtrlError, CtrlEvent, CtrlHandle, MonitorMessage};

// ------------------------------------------------------------------ secrets

/// Secrets (passphrases, passwords, key passwords) are netpilot's one redacting type: it
/// prints `<redacted>`, is zeroed on drop, and only [`Value::Secret`] reaches the request
/// datagram.
pub use crate::model::Secret;

// ------------------------------------------------------------------ errors

/// Errors of the typed protocol. Messages name the command (never a value) or the field.
#[derive(Debug, thiserror::Error)]
pub enum SupplicantError {
    /// The transport failed (unavailable, timeout, …).
    #[error(transparent)]
    Ctrl(#[from] CtrlError),
    /// wpa_supplicant answered `FAIL` (or `FAIL-…`).
    #[error("{command}: wpa_supplicant answered {reply:?}")]
    Failed {
        /// Safe name of the command.
        command: String,
        /// The reply, e.g. `FAIL` or `FAIL-BUSY`.
        reply: String,
    },
    /// wpa_supplicant does not know the command (older version or build option).
    #[error("{command}: wpa_supplicant does not know this command")]
    UnknownCommand {
        /// Safe name of the command.
        command: String,
    },
    /// The reply could not be understood.
    #[error("{command}: unexpected reply {reply:?}")]
    Unexpected {
        /// Safe name of the command.
        command: String,
        /// The reply (commands whose replies are parsed never carry secrets).
        reply: String,
    },
    /// The network settings cannot be written.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Setting a network variable failed.
    #[error("set network {id} {field}")]
    SetNetwork {
        /// The network.
        id: NetworkId,
        /// The variable name.
        field: &'static str,
        /// The cause.
        #[source]
        source: Box<SupplicantError>,
    },
    /// A `BSS` reply could not be parsed.
    #[error("parse reply to {command}")]
    Parse {
        /// Safe name of the command.
        command: String,
        /// The cause.
        #[source]
        source: ParseError,
    },
}

/// Settings that cannot be expressed to wpa_supplicant. Each names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// SSID length outside 1–32 bytes (IEEE 802.11-2020 §9.4.2.2).
    #[error("ssid: {0} bytes, must be 1 to 32")]
    SsidLength(usize),
    /// A passphrase that is neither 8–63 printable ASCII nor 64 hex digits.
    #[error("psk: must be 8 to 63 printable ASCII characters or 64 hex digits")]
    Passphrase,
    /// SAE needs the passphrase itself, not a raw PSK.
    #[error("psk: SAE needs a passphrase, not a 64-hex raw PSK")]
    SaeNeedsPassphrase,
    /// WEP is broken and not offered.
    #[error("security: WEP is not supported (broken since 2001); use WPA2 or WPA3")]
    WepUnsupported,
    /// A value that wpa_supplicant stores as a C string contains a NUL byte.
    #[error("{0}: contains a NUL byte, which wpa_supplicant cannot store")]
    Nul(&'static str),
    /// A required EAP field is missing.
    #[error("{0}: required for this EAP method")]
    Missing(&'static str),
    /// A frequency outside 1–100000 MHz.
    #[error("scan_freq: {0} MHz is not a channel frequency")]
    Frequency(u32),
    /// Country codes are two ASCII capital letters (ISO 3166-1 alpha-2), or `00`.
    #[error("country: {0:?} is not an ISO 3166-1 alpha-2 code")]
    Country(String),
    /// An access point (`mode=2`) is open or WPA2-PSK here.
    #[error("security: an access point is open or WPA2-PSK")]
    ApSecurity,
}

/// A reply or event that does not have the documented shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A required field is missing.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A field has a value of the wrong form.
    #[error("bad {field}: {value:?}")]
    Bad {
        /// The field.
        field: &'static str,
        /// The value, cut to 64 characters.
        value: String,
    },
}

fn bad(field: &'static str, value: &str) -> ParseError {
    ParseError::Bad {
        field,
        value: value.chars().take(64).collect(),
    }
}

// ------------------------------------------------------------------ small types

/// A network block id (`ADD_NETWORK` reply).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NetworkId(pub u32);

impl fmt::Display for NetworkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A MAC address (BSSID).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// Parses `aa:bb:cc:dd:ee:ff`.
    pub fn parse(s: &str) -> Option<Mac> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for b in out.iter_mut() {
            let p = parts.next()?;
            if p.len() != 2 {
                return None;
            }
            *b = u8::from_str_radix(p, 16).ok()?;
        }
        parts.next().is_none().then_some(Mac(out))
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Signal strength 0–100 from a level in dBm, as ConnMan computes it
/// (`calculate_strength` in ConnMan `plugins/wifi.c`): `120 + dBm`, clamped to 0–100.
/// So −20 dBm and stronger is 100, −120 dBm and weaker is 0, −70 dBm is 50.
pub fn strength_from_dbm(level_dbm: i32) -> u8 {
    (120i64 + i64::from(level_dbm)).clamp(0, 100) as u8
}

/// Decodes wpa_supplicant's escaped text (`printf_decode` in hostap `src/utils/common.c`):
/// `\\`, `\"`, `\n`, `\r`, `\t`, `\e`, `\xHH` (or one hex digit) and octal `\NNN`; an
/// unknown escape is dropped, as hostap does. Used for SSIDs in `BSS`, `STATUS`,
/// `LIST_NETWORKS` and events, which wpa_supplicant prints with `printf_encode`.
pub fn decode_escaped(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        i += 1;
        let Some(&c) = b.get(i) else { break };
        match c {
            b'\\' | b'"' => {
                out.push(c);
                i += 1;
            }
            b'n' => {
                out.push(b'\n');
                i += 1;
            }
            b'r' => {
                out.push(b'\r');
                i += 1;
            }
            b't' => {
                out.push(b'\t');
                i += 1;
            }
            b'e' => {
                out.push(0x1b);
                i += 1;
            }
            b'x' => {
                i += 1;
                let hex = |j: usize| b.get(j).and_then(|c| (*c as char).to_digit(16));
                match (hex(i), hex(i + 1)) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    (Some(h), None) => {
                        out.push(h as u8);
                        i += 1;
                    }
                    _ => {}
                }
            }
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                i += 1;
                for _ in 0..2 {
                    match b.get(i) {
                        Some(d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(v as u8);
            }
            _ => i += 1,
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

// ------------------------------------------------------------------ network settings

/// A WPA pre-shared key as the user gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Psk {
    /// 8–63 printable ASCII characters (IEEE 802.11-2020 §J.4.1).
    Passphrase(Secret),
    /// The 256-bit PSK itself, as 64 hex digits.
    Raw(Secret),
}

impl Psk {
    /// Classifies a user-supplied key: 64 hex digits are a raw PSK, 8–63 printable ASCII
    /// (0x20–0x7e) a passphrase; anything else is [`ConfigError::Passphrase`].
    pub fn new(key: Secret) -> Result<Psk, ConfigError> {
        let b = key.expose_bytes();
        if b.len() == 64 && b.iter().all(u8::is_ascii_hexdigit) {
            Ok(Psk::Raw(key))
        } else if (8..=63).contains(&b.len()) && b.iter().all(|c| (0x20..=0x7e).contains(c)) {
            Ok(Psk::Passphrase(key))
        } else {
            Err(ConfigError::Passphrase)
        }
    }

    /// The `psk` value: `"passphrase"` or the 64 hex digits.
    fn value(&self) -> Secret {
        match self {
            Psk::Passphrase(p) => Secret::new(format!("\"{}\"", p.expose())),
            Psk::Raw(r) => Secret::new(r.expose().to_ascii_lowercase()),
        }
    }
}

/// SAE password element derivation (`sae_pwe`): hunting-and-pecking, hash-to-element, or
/// both. wpa_supplicant's default is hunting-and-pecking only, which cannot join an AP that
/// requires H2E (mandatory on 6 GHz); `Both` is what netpilot uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SaePwe {
    /// `0`.
    HuntingAndPecking,
    /// `1`.
    HashToElement,
    /// `2`.
    #[default]
    Both,
}

impl SaePwe {
    fn value(self) -> &'static str {
        match self {
            SaePwe::HuntingAndPecking => "0",
            SaePwe::HashToElement => "1",
            SaePwe::Both => "2",
        }
    }
}

/// The EAP method (outer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EapMethod {
    /// PEAP with an inner method.
    Peap(Phase2),
    /// EAP-TTLS with an inner method.
    Ttls(Phase2),
    /// EAP-TLS: client certificate and key, no password.
    Tls,
}

/// The inner (phase 2) authentication of PEAP or TTLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase2 {
    /// MSCHAPv2 (`auth=MSCHAPV2`): PEAP's usual inner method.
    MsChapV2,
    /// PAP (`auth=PAP`): TTLS only; the password goes inside the tunnel in clear.
    Pap,
    /// GTC (`auth=GTC`).
    Gtc,
}

/// IEEE 802.1X settings (wpa_supplicant's `eap`, `identity`, … network variables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EapSettings {
    /// Method.
    pub method: EapMethod,
    /// The identity (inner identity for PEAP/TTLS). Any bytes.
    pub identity: Vec<u8>,
    /// Outer identity for PEAP/TTLS, e.g. `anonymous@example.com`. Any bytes.
    pub anonymous_identity: Option<Vec<u8>>,
    /// Password for PEAP/TTLS. Any bytes.
    pub password: Option<Secret>,
    /// CA certificate file (PEM or DER). Without it the server is not verified.
    pub ca_cert: Option<PathBuf>,
    /// Client certificate file (EAP-TLS).
    pub client_cert: Option<PathBuf>,
    /// Client private key file (EAP-TLS).
    pub private_key: Option<PathBuf>,
    /// Password of the private key file, if it is encrypted.
    pub private_key_password: Option<Secret>,
    /// Server certificate must match this FQDN exactly (`domain_match`).
    pub domain_match: Option<String>,
    /// Server certificate must be in this domain (`domain_suffix_match`).
    pub domain_suffix_match: Option<String>,
}

impl EapSettings {
    /// Settings with the given method and identity, everything else unset.
    pub fn new(method: EapMethod, identity: impl Into<Vec<u8>>) -> Self {
        EapSettings {
            method,
            identity: identity.into(),
            anonymous_identity: None,
            password: None,
            ca_cert: None,
            client_cert: None,
            private_key: None,
            private_key_password: None,
            domain_match: None,
            domain_suffix_match: None,
        }
    }
}

/// The security of a network block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Security {
    /// No encryption (`key_mgmt=NONE`).
    Open,
    /// WEP: always refused with [`ConfigError::WepUnsupported`].
    Wep,
    /// WPA2-Personal (`key_mgmt=WPA-PSK WPA-PSK-SHA256`, `ieee80211w=1`: PMF used when the
    /// AP offers it, so APs that require PMF or only offer PSK-SHA256 match too).
    Psk(Psk),
    /// WPA3-Personal only (`key_mgmt=SAE`, `ieee80211w=2`).
    Sae {
        /// Must be a passphrase.
        psk: Psk,
        /// Password element method.
        pwe: SaePwe,
    },
    /// WPA2/WPA3 transition (`key_mgmt=WPA-PSK WPA-PSK-SHA256 SAE`, `ieee80211w=1`).
    PskSae {
        /// Must be a passphrase.
        psk: Psk,
        /// Password element method.
        pwe: SaePwe,
    },
    /// WPA2/WPA3-Enterprise (`key_mgmt=WPA-EAP WPA-EAP-SHA256`, `ieee80211w=1`).
    Eap(Box<EapSettings>),
    /// Wired IEEE 802.1X (`key_mgmt=IEEE8021X`, `eapol_flags=0`), for `-Dwired`.
    WiredEap(Box<EapSettings>),
}

/// One network variable's value: plain, or secret (redacted everywhere but the datagram).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Safe to log.
    Plain(String),
    /// Never logged.
    Secret(Secret),
}

impl Value {
    fn bytes(&self) -> &[u8] {
        match self {
            Value::Plain(s) => s.as_bytes(),
            Value::Secret(s) => s.expose_bytes(),
        }
    }
}

/// What to put in one network block (`ADD_NETWORK` + `SET_NETWORK`s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkSettings {
    ssid: Vec<u8>,
    /// Security and credentials.
    pub security: Security,
    /// Hidden network: probe for it by name (`scan_ssid=1`).
    pub hidden: bool,
    /// Only scan these frequencies (MHz) for it (`scan_freq`); empty = all.
    pub scan_freqs: Vec<u32>,
    /// Only this BSS (`bssid`).
    pub bssid: Option<Mac>,
    /// Priority group (`priority`); higher is preferred. `None` leaves wpa_supplicant's 0.
    pub priority: Option<i32>,
    /// Run this network as an access point (`mode=2`) on this frequency (MHz) instead of
    /// joining it; security must be open or WPA2-PSK (CCMP, no PMF).
    pub ap_frequency: Option<u32>,
}

impl NetworkSettings {
    /// Settings for `ssid` (1–32 bytes, any values) with `security`.
    pub fn new(ssid: impl Into<Vec<u8>>, security: Security) -> Result<Self, ConfigError> {
        let ssid = ssid.into();
        if !(1..=32).contains(&ssid.len()) {
            return Err(ConfigError::SsidLength(ssid.len()));
        }
        Ok(NetworkSettings {
            ssid,
            security,
            hidden: false,
            scan_freqs: Vec::new(),
            bssid: None,
            priority: None,
            ap_frequency: None,
        })
    }

    /// The SSID bytes.
    pub fn ssid(&self) -> &[u8] {
        &self.ssid
    }

    /// The `SET_NETWORK` variables, in order, or the first field that cannot be written.
    /// `sae_pwe` is listed last: wpa_supplicant 2.10 has it only as a global setting (see
    /// [`Supplicant::configure_network`]).
    pub fn variables(&self) -> Result<Vec<(&'static str, Value)>, ConfigError> {
        let plain = |s: &str| Value::Plain(s.to_string());
        let mut v: Vec<(&'static str, Value)> = vec![("ssid", Value::Plain(hex(&self.ssid)))];
        if self.hidden {
            v.push(("scan_ssid", plain("1")));
        }
        if let Some(b) = self.bssid {
            v.push(("bssid", Value::Plain(b.to_string())));
        }
        if !self.scan_freqs.is_empty() {
            if let Some(&f) = self.scan_freqs.iter().find(|f| !(1..=100_000).contains(*f)) {
                return Err(ConfigError::Frequency(f));
            }
            let list: Vec<String> = self.scan_freqs.iter().map(u32::to_string).collect();
            v.push(("scan_freq", Value::Plain(list.join(" "))));
        }
        if let Some(p) = self.priority {
            v.push(("priority", Value::Plain(p.to_string())));
        }
        if let Some(f) = self.ap_frequency {
            if !(1..=100_000).contains(&f) {
                return Err(ConfigError::Frequency(f));
            }
            v.push(("mode", plain("2")));
            v.push(("frequency", Value::Plain(f.to_string())));
            match &self.security {
                Security::Open => v.push(("key_mgmt", plain("NONE"))),
                Security::Psk(psk) => {
                    v.push(("key_mgmt", plain("WPA-PSK")));
                    v.push(("proto", plain("RSN")));
                    v.push(("pairwise", plain("CCMP")));
                    v.push(("group", plain("CCMP")));
                    v.push(("psk", Value::Secret(psk.value())));
                }
                _ => return Err(ConfigError::ApSecurity),
            }
            return Ok(v);
        }
        let mut pwe = None;
        match &self.security {
            Security::Open => v.push(("key_mgmt", plain("NONE"))),
            Security::Wep => return Err(ConfigError::WepUnsupported),
            Security::Psk(psk) => {
                v.push(("key_mgmt", plain("WPA-PSK WPA-PSK-SHA256")));
                v.push(("ieee80211w", plain("1")));
                v.push(("psk", Value::Secret(psk.value())));
            }
            Security::Sae { psk, pwe: p } | Security::PskSae { psk, pwe: p } => {
                if matches!(psk, Psk::Raw(_)) {
                    return Err(ConfigError::SaeNeedsPassphrase);
                }
                let only_sae = matches!(self.security, Security::Sae { .. });
                let (km, pmf) = if only_sae {
                    ("SAE", "2")
                } else {
                    ("WPA-PSK WPA-PSK-SHA256 SAE", "1")
                };
                v.push(("key_mgmt", plain(km)));
                v.push(("ieee80211w", plain(pmf)));
                v.push(("psk", Value::Secret(psk.value())));
                pwe = Some(*p);
            }
            Security::Eap(eap) => {
                v.push(("key_mgmt", plain("WPA-EAP WPA-EAP-SHA256")));
                v.push(("ieee80211w", plain("1")));
                eap_variables(eap, &mut v)?;
            }
            Security::WiredEap(eap) => {
                v.push(("key_mgmt", plain("IEEE8021X")));
                v.push(("eapol_flags", plain("0")));
                eap_variables(eap, &mut v)?;
            }
        }
        if let Some(p) = pwe {
            v.push(("sae_pwe", plain(p.value())));
        }
        Ok(v)
    }
}

fn eap_variables(eap: &EapSettings, v: &mut Vec<(&'static str, Value)>) -> Result<(), ConfigError> {
    // C-string fields: hex keeps every byte but NUL safe.
    fn c_string(field: &'static str, bytes: &[u8]) -> Result<Value, ConfigError> {
        if bytes.contains(&0) {
            return Err(ConfigError::Nul(field));
        }
        Ok(Value::Plain(hex(bytes)))
    }
    let (eap_word, phase2) = match eap.method {
        EapMethod::Peap(p) => ("PEAP", Some(p)),
        EapMethod::Ttls(p) => ("TTLS", Some(p)),
        EapMethod::Tls => ("TLS", None),
    };
    v.push(("eap", Value::Plain(eap_word.into())));
    v.push(("identity", Value::Plain(hex(&eap.identity))));
    if let Some(a) = &eap.anonymous_identity {
        v.push(("anonymous_identity", Value::Plain(hex(a))));
    }
    match phase2 {
        Some(p) => {
            let auth = match p {
                Phase2::MsChapV2 => "\"auth=MSCHAPV2\"",
                Phase2::Pap => "\"auth=PAP\"",
                Phase2::Gtc => "\"auth=GTC\"",
            };
            v.push(("phase2", Value::Plain(auth.into())));
            let pw = eap
                .password
                .as_ref()
                .ok_or(ConfigError::Missing("password"))?;
            // `password` keeps its length, so any byte (NUL too) survives hex.
            v.push((
                "password",
                Value::Secret(Secret::new(hex(pw.expose_bytes()))),
            ));
        }
        None => {
            if eap.client_cert.is_none() {
                return Err(ConfigError::Missing("client_cert"));
            }
            if eap.private_key.is_none() {
                return Err(ConfigError::Missing("private_key"));
            }
        }
    }
    let paths = [
        ("ca_cert", &eap.ca_cert),
        ("client_cert", &eap.client_cert),
        ("private_key", &eap.private_key),
    ];
    for (field, path) in paths {
        if let Some(p) = path {
            v.push((field, c_string(field, p.as_os_str().as_bytes())?));
        }
    }
    if let Some(pw) = &eap.private_key_password {
        let Value::Plain(h) = c_string("private_key_passwd", pw.expose_bytes())? else {
            unreachable!("c_string returns Plain")
        };
        v.push(("private_key_passwd", Value::Secret(Secret::new(h))));
    }
    if let Some(d) = &eap.domain_match {
        v.push(("domain_match", c_string("domain_match", d.as_bytes())?));
    }
    if let Some(d) = &eap.domain_suffix_match {
        v.push((
            "domain_suffix_match",
            c_string("domain_suffix_match", d.as_bytes())?,
        ));
    }
    Ok(())
}

// ------------------------------------------------------------------ BSS and security

/// ConnMan's security classes (`none`, `wep`, `psk`, `ieee8021x`), which name services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecurityClass {
    /// No encryption (OWE transition's open side included).
    Open,
    /// WEP.
    Wep,
    /// WPA/WPA2/WPA3-Personal (PSK and/or SAE).
    Psk,
    /// WPA/WPA2/WPA3-Enterprise.
    Ieee8021x,
}

impl SecurityClass {
    /// ConnMan's word: `none`, `wep`, `psk`, `ieee8021x`.
    pub fn connman_word(self) -> &'static str {
        match self {
            SecurityClass::Open => "none",
            SecurityClass::Wep => "wep",
            SecurityClass::Psk => "psk",
            SecurityClass::Ieee8021x => "ieee8021x",
        }
    }
}

/// Management frame protection an AP advertises (RSN capabilities, IEEE 802.11-2020
/// §9.4.2.24.4: bit 6 MFPR, bit 7 MFPC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pmf {
    /// No RSN element, or neither bit.
    #[default]
    Disabled,
    /// MFPC: usable.
    Capable,
    /// MFPR: required.
    Required,
}

/// What a BSS offers, from its `flags=` and its RSN element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BssSecurity {
    /// ConnMan class.
    pub class: SecurityClass,
    /// Offers WPA-PSK (any variant: PSK, PSK-SHA256, FT/PSK).
    pub psk: bool,
    /// Offers SAE (SAE, SAE-EXT-KEY, FT/SAE).
    pub sae: bool,
    /// Offers 802.1X (EAP in any variant).
    pub eap: bool,
    /// Legacy WPA (version 1) element present.
    pub wpa1: bool,
    /// OWE (any form).
    pub owe: bool,
    /// Advertises WPS (`[WPS…]`).
    pub wps: bool,
    /// PMF, from the RSN element when the reply had `ie=`; `Disabled` otherwise.
    pub pmf: Pmf,
}

impl BssSecurity {
    /// WPA2/WPA3 transition: both PSK and SAE offered.
    pub fn transition(&self) -> bool {
        self.psk && self.sae
    }

    /// Reads a `flags=` value such as `[WPA2-PSK+SAE-CCMP][WPS][ESS]` (format of
    /// `wpa_supplicant_ie_txt` in hostap `ctrl_iface.c`), plus the RSN PMF bits from the
    /// information elements when known. Unknown brackets are ignored.
    pub fn from_flags(flags: &str, ies: Option<&[u8]>) -> BssSecurity {
        let mut s = BssSecurity {
            class: SecurityClass::Open,
            psk: false,
            sae: false,
            eap: false,
            wpa1: false,
            owe: false,
            wps: false,
            pmf: ies.map(rsn_pmf).unwrap_or_default(),
        };
        let mut wep = false;
        let mut rsn_or_wpa = false;
        for bracket in flags.split('[').filter_map(|b| b.strip_suffix(']')) {
            let (proto, rest) = bracket.split_once('-').unwrap_or((bracket, ""));
            match proto {
                "WPA" | "WPA2" | "RSN" => {
                    rsn_or_wpa = true;
                    s.wpa1 |= proto == "WPA";
                    // <akm>+<akm>-<ciphers>[-preauth]: the AKM list ends at the last '-'
                    // before the cipher list; AKM names contain '-' themselves.
                    for akm in rest.split('+') {
                        let akm = akm.trim_end_matches("-preauth");
                        if akm.contains("EAP") {
                            s.eap = true;
                        }
                        if akm.contains("PSK") {
                            s.psk = true;
                        }
                        if akm.contains("SAE") {
                            s.sae = true;
                        }
                        if akm.contains("OWE") {
                            s.owe = true;
                        }
                    }
                }
                "WEP" => wep = true,
                "WPS" => s.wps = true,
                "OWE" => s.owe = true,
                _ => {}
            }
        }
        s.class = if s.eap {
            SecurityClass::Ieee8021x
        } else if s.psk || s.sae {
            SecurityClass::Psk
        } else if wep && !rsn_or_wpa {
            SecurityClass::Wep
        } else {
            SecurityClass::Open
        };
        s
    }
}

/// PMF bits of the RSN element (id 48) in a list of information elements.
fn rsn_pmf(ies: &[u8]) -> Pmf {
    let mut i = 0;
    while i + 2 <= ies.len() {
        let (id, len) = (ies[i], usize::from(ies[i + 1]));
        let Some(body) = ies.get(i + 2..i + 2 + len) else {
            return Pmf::Disabled;
        };
        if id == 48 {
            return rsn_caps(body)
                .map(|caps| {
                    if caps & 0x40 != 0 {
                        Pmf::Required
                    } else if caps & 0x80 != 0 {
                        Pmf::Capable
                    } else {
                        Pmf::Disabled
                    }
                })
                .unwrap_or_default();
        }
        i += 2 + len;
    }
    Pmf::Disabled
}

/// RSN capabilities field: version(2) group(4) pairwise count(2)+n*4 akm count(2)+m*4 caps(2).
fn rsn_caps(body: &[u8]) -> Option<u16> {
    let mut p = 2 + 4;
    let n = usize::from(u16::from_le_bytes([*body.get(p)?, *body.get(p + 1)?]));
    p += 2 + n * 4;
    let m = usize::from(u16::from_le_bytes([*body.get(p)?, *body.get(p + 1)?]));
    p += 2 + m * 4;
    Some(u16::from_le_bytes([*body.get(p)?, *body.get(p + 1)?]))
}

/// One entry of wpa_supplicant's BSS table (`BSS` reply, `print_bss_info` in hostap
/// `ctrl_iface.c`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bss {
    /// BSS table id (increases as entries are added).
    pub id: u32,
    /// BSSID.
    pub bssid: Mac,
    /// Frequency in MHz.
    pub freq: u32,
    /// Signal level in dBm (`level`).
    pub level: i32,
    /// Noise in dBm, if reported.
    pub noise: Option<i32>,
    /// Seconds since last seen.
    pub age: Option<u32>,
    /// Beacon interval in TU.
    pub beacon_int: Option<u16>,
    /// Capability information field.
    pub capabilities: Option<u16>,
    /// Raw `flags=`, e.g. `[WPA2-PSK-CCMP][ESS]`.
    pub flags: String,
    /// SSID bytes, decoded from wpa_supplicant's escaped form; empty or all-zero for a
    /// hidden SSID. Not necessarily UTF-8.
    pub ssid: Vec<u8>,
    /// Estimated throughput in kbit/s.
    pub est_throughput: Option<u32>,
    /// Signal to noise ratio in dB.
    pub snr: Option<i32>,
    /// Information elements, when the reply had `ie=`.
    pub ies: Option<Vec<u8>>,
    /// Security, from `flags` and the RSN element.
    pub security: BssSecurity,
}

impl Bss {
    /// A hidden network's beacon: empty SSID or only zero bytes.
    pub fn is_hidden(&self) -> bool {
        self.ssid.iter().all(|&b| b == 0)
    }

    /// 0–100 as ConnMan computes it ([`strength_from_dbm`]).
    pub fn strength(&self) -> u8 {
        strength_from_dbm(self.level)
    }

    /// Parses one `BSS` reply (`key=value` lines). Needs `id`, `bssid`, `freq`, `level`;
    /// unknown keys are ignored, lines without `=` skipped.
    pub fn parse(reply: &str) -> Result<Bss, ParseError> {
        let mut id = None;
        let mut bssid = None;
        let mut freq = None;
        let mut level = None;
        let mut noise = None;
        let mut age = None;
        let mut beacon_int = None;
        let mut capabilities = None;
        let mut flags = String::new();
        let mut ssid = Vec::new();
        let mut est_throughput = None;
        let mut snr = None;
        let mut ies = None;
        for line in reply.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            match key {
                "id" => id = Some(value.parse().map_err(|_| bad("id", value))?),
                "bssid" => bssid = Some(Mac::parse(value).ok_or_else(|| bad("bssid", value))?),
                "freq" => freq = Some(value.parse().map_err(|_| bad("freq", value))?),
                "level" => level = Some(value.parse().map_err(|_| bad("level", value))?),
                "noise" => noise = value.parse().ok(),
                "age" => age = value.parse().ok(),
                "beacon_int" => beacon_int = value.parse().ok(),
                "capabilities" => {
                    capabilities = value
                        .strip_prefix("0x")
                        .and_then(|h| u16::from_str_radix(h, 16).ok())
                }
                "flags" => flags = value.to_string(),
                "ssid" => ssid = decode_escaped(value),
                "est_throughput" => est_throughput = value.parse().ok(),
                "snr" => snr = value.parse().ok(),
                "ie" => ies = unhex(value),
                _ => {}
            }
        }
        let security = BssSecurity::from_flags(&flags, ies.as_deref());
        Ok(Bss {
            id: id.ok_or(ParseError::Missing("id"))?,
            bssid: bssid.ok_or(ParseError::Missing("bssid"))?,
            freq: freq.ok_or(ParseError::Missing("freq"))?,
            level: level.ok_or(ParseError::Missing("level"))?,
            noise,
            age,
            beacon_int,
            capabilities,
            flags,
            ssid,
            est_throughput,
            snr,
            ies,
            security,
        })
    }
}

// ------------------------------------------------------------------ STATUS, LIST_NETWORKS

/// `wpa_state` (`wpa_supplicant_state_txt` in hostap `wpa_supplicant.c`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WpaState {
    /// `DISCONNECTED`.
    Disconnected,
    /// `INTERFACE_DISABLED`.
    InterfaceDisabled,
    /// `INACTIVE`: no enabled network.
    Inactive,
    /// `SCANNING`.
    Scanning,
    /// `AUTHENTICATING`.
    Authenticating,
    /// `ASSOCIATING`.
    Associating,
    /// `ASSOCIATED`.
    Associated,
    /// `4WAY_HANDSHAKE`.
    FourWayHandshake,
    /// `GROUP_HANDSHAKE`.
    GroupHandshake,
    /// `COMPLETED`: connected (and, with 802.1X, authorized).
    Completed,
    /// Anything else, as printed.
    Other(String),
}

impl WpaState {
    fn parse(s: &str) -> WpaState {
        match s {
            "DISCONNECTED" => WpaState::Disconnected,
            "INTERFACE_DISABLED" => WpaState::InterfaceDisabled,
            "INACTIVE" => WpaState::Inactive,
            "SCANNING" => WpaState::Scanning,
            "AUTHENTICATING" => WpaState::Authenticating,
            "ASSOCIATING" => WpaState::Associating,
            "ASSOCIATED" => WpaState::Associated,
            "4WAY_HANDSHAKE" => WpaState::FourWayHandshake,
            "GROUP_HANDSHAKE" => WpaState::GroupHandshake,
            "COMPLETED" => WpaState::Completed,
            other => WpaState::Other(other.to_string()),
        }
    }
}

/// `STATUS` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// `wpa_state`.
    pub wpa_state: WpaState,
    /// Current BSSID.
    pub bssid: Option<Mac>,
    /// Current SSID bytes.
    pub ssid: Option<Vec<u8>>,
    /// Current network id.
    pub id: Option<NetworkId>,
    /// Frequency in MHz.
    pub freq: Option<u32>,
    /// Key management in use, e.g. `WPA2-PSK`, `SAE`, `WPA2/IEEE 802.1X/EAP`.
    pub key_mgmt: Option<String>,
    /// Pairwise cipher, e.g. `CCMP`.
    pub pairwise_cipher: Option<String>,
    /// IPv4 address wpa_supplicant sees on the interface.
    pub ip_address: Option<String>,
    /// Own MAC address.
    pub address: Option<Mac>,
    /// `Supplicant PAE state` (802.1X), e.g. `AUTHENTICATED`.
    pub pae_state: Option<String>,
    /// `suppPortStatus`, `Authorized` or `Unauthorized`.
    pub port_status: Option<String>,
    /// `EAP state`, e.g. `SUCCESS`.
    pub eap_state: Option<String>,
    /// `selectedMethod`, e.g. `25 (EAP-PEAP)`.
    pub eap_method: Option<String>,
}

impl Status {
    /// Parses a `STATUS` reply. Needs `wpa_state`.
    pub fn parse(reply: &str) -> Result<Status, ParseError> {
        let mut st = Status {
            wpa_state: WpaState::Other(String::new()),
            bssid: None,
            ssid: None,
            id: None,
            freq: None,
            key_mgmt: None,
            pairwise_cipher: None,
            ip_address: None,
            address: None,
            pae_state: None,
            port_status: None,
            eap_state: None,
            eap_method: None,
        };
        let mut have_state = false;
        for line in reply.lines() {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            match key {
                "wpa_state" => {
                    st.wpa_state = WpaState::parse(value);
                    have_state = true;
                }
                "bssid" => st.bssid = Some(Mac::parse(value).ok_or_else(|| bad("bssid", value))?),
                "ssid" => st.ssid = Some(decode_escaped(value)),
                "id" => st.id = Some(NetworkId(value.parse().map_err(|_| bad("id", value))?)),
                "freq" => st.freq = value.parse().ok(),
                "key_mgmt" => st.key_mgmt = Some(value.to_string()),
                "pairwise_cipher" => st.pairwise_cipher = Some(value.to_string()),
                "ip_address" => st.ip_address = Some(value.to_string()),
                "address" => st.address = Mac::parse(value),
                "Supplicant PAE state" => st.pae_state = Some(value.to_string()),
                "suppPortStatus" => st.port_status = Some(value.to_string()),
                "EAP state" => st.eap_state = Some(value.to_string()),
                "selectedMethod" => st.eap_method = Some(value.to_string()),
                _ => {}
            }
        }
        if !have_state {
            return Err(ParseError::Missing("wpa_state"));
        }
        Ok(st)
    }
}

/// One `LIST_NETWORKS` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkEntry {
    /// Id.
    pub id: NetworkId,
    /// SSID bytes.
    pub ssid: Vec<u8>,
    /// Pinned BSSID, if any.
    pub bssid: Option<Mac>,
    /// `[CURRENT]`.
    pub current: bool,
    /// `[DISABLED]`.
    pub disabled: bool,
    /// `[TEMP-DISABLED]`.
    pub temp_disabled: bool,
}

/// Parses a `LIST_NETWORKS` reply (header line, then `id\tssid\tbssid\tflags` rows; the
/// SSID is escaped, so tabs in it are `\t`). Malformed rows are skipped with a warning.
pub fn parse_list_networks(reply: &str) -> Vec<NetworkEntry> {
    let mut out = Vec::new();
    for line in reply.lines().skip(1) {
        let mut cols = line.split('\t');
        let (Some(id), Some(ssid), Some(bssid)) = (cols.next(), cols.next(), cols.next()) else {
            tracing::warn!(row = %line, "LIST_NETWORKS: malformed row skipped");
            continue;
        };
        let flags = cols.next().unwrap_or_default();
        let Ok(id) = id.parse() else {
            tracing::warn!(row = %line, "LIST_NETWORKS: malformed id skipped");
            continue;
        };
        out.push(NetworkEntry {
            id: NetworkId(id),
            ssid: decode_escaped(ssid),
            bssid: Mac::parse(bssid),
            current: flags.contains("[CURRENT]"),
            disabled: flags.contains("[DISABLED]"),
            temp_disabled: flags.contains("[TEMP-DISABLED]"),
        });
    }
    out
}

// ------------------------------------------------------------------ events

/// Typed unsolicited messages (`src/common/wpa_ctrl.h`; texts from hostap `events.c`,
/// `wpa_supplicant.c`, `src/eap_peer/eap.c`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `CTRL-EVENT-CONNECTED - Connection to <bssid> completed [id=N id_str=…]`.
    Connected {
        /// BSSID.
        bssid: Mac,
        /// Network id.
        id: Option<NetworkId>,
    },
    /// `CTRL-EVENT-DISCONNECTED bssid=… reason=N [locally_generated=1]`.
    Disconnected {
        /// BSSID.
        bssid: Mac,
        /// IEEE 802.11 reason code (§9.4.1.7).
        reason: u16,
        /// We (wpa_supplicant) disconnected, not the AP.
        locally_generated: bool,
    },
    /// `CTRL-EVENT-SCAN-STARTED`.
    ScanStarted,
    /// `CTRL-EVENT-SCAN-RESULTS`: the BSS table was updated.
    ScanResults,
    /// `CTRL-EVENT-SCAN-FAILED ret=N [retry=1]`.
    ScanFailed {
        /// Driver error code.
        ret: Option<i32>,
        /// wpa_supplicant retries by itself.
        retry: bool,
    },
    /// `CTRL-EVENT-NETWORK-NOT-FOUND`: no enabled network in the scan results.
    NetworkNotFound,
    /// `CTRL-EVENT-SSID-TEMP-DISABLED id=N ssid="…" auth_failures=N duration=S reason=R`.
    TempDisabled {
        /// Network id.
        id: NetworkId,
        /// SSID bytes.
        ssid: Vec<u8>,
        /// Failures so far.
        auth_failures: u32,
        /// Seconds until wpa_supplicant retries.
        duration: u32,
        /// `WRONG_KEY`, `AUTH_FAILED`, `CONN_FAILED`, …
        reason: String,
    },
    /// `CTRL-EVENT-SSID-REENABLED id=N ssid="…"`.
    ReEnabled {
        /// Network id.
        id: NetworkId,
        /// SSID bytes.
        ssid: Vec<u8>,
    },
    /// `CTRL-EVENT-ASSOC-REJECT [bssid=…] status_code=N [timeout]`.
    AssocReject {
        /// BSSID, when known.
        bssid: Option<Mac>,
        /// IEEE 802.11 status code (§9.4.1.9).
        status_code: u16,
        /// No answer rather than a rejection.
        timeout: bool,
    },
    /// `CTRL-EVENT-AUTH-REJECT <bssid> auth_type=N auth_transaction=N status_code=N`.
    AuthReject {
        /// BSSID.
        bssid: Mac,
        /// IEEE 802.11 status code.
        status_code: u16,
    },
    /// `CTRL-EVENT-EAP-STARTED`.
    EapStarted,
    /// `CTRL-EVENT-EAP-METHOD EAP vendor V method M (NAME) selected`.
    EapMethod {
        /// EAP type number (25 PEAP, 21 TTLS, 13 TLS).
        method: u32,
        /// Its name.
        name: String,
    },
    /// `CTRL-EVENT-EAP-STATUS status='…' parameter='…'`.
    EapStatus {
        /// e.g. `started`, `completion`, `remote certificate verification`.
        status: String,
        /// e.g. `success`, `failure`.
        parameter: String,
    },
    /// `CTRL-EVENT-EAP-SUCCESS`.
    EapSuccess,
    /// `CTRL-EVENT-EAP-FAILURE`.
    EapFailure,
    /// `CTRL-EVENT-TERMINATING`: wpa_supplicant (or this interface) is going away.
    Terminating,
    /// `CTRL-EVENT-REGDOM-CHANGE init=… type=… [alpha2=XX]`.
    RegdomChange {
        /// Initiator: `CORE`, `USER`, `DRIVER`, `COUNTRY_IE`, `BEACON_HINT`.
        initiator: String,
        /// `WORLD`, `COUNTRY`, `CUSTOM_WORLD`, `INTERSECTION`.
        kind: String,
        /// Country code, when given.
        alpha2: Option<String>,
    },
    /// `AP-ENABLED`: an access point network (`mode=2`) is beaconing.
    ApEnabled,
    /// `AP-DISABLED`: the access point stopped.
    ApDisabled,
    /// `AP-STA-CONNECTED <mac>`: a station joined the access point.
    ApStaConnected {
        /// The station.
        mac: Mac,
    },
    /// `AP-STA-DISCONNECTED <mac>`: a station left the access point.
    ApStaDisconnected {
        /// The station.
        mac: Mac,
    },
    /// Anything else, text as received.
    Other(String),
}

/// `key=value` tokens of an event's tail; values may be `"…"` (with `\` escapes, decoded)
/// or `'…'` (verbatim).
fn tokens(s: &str) -> Vec<(&str, Vec<u8>)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i] != b'=' && b[i] != b' ' {
            i += 1;
        }
        let key = &s[start..i];
        if i >= b.len() || b[i] == b' ' {
            if !key.is_empty() {
                out.push((key, Vec::new()));
            }
            continue;
        }
        i += 1; // '='
        let value = match b.get(i) {
            Some(&q @ (b'"' | b'\'')) => {
                i += 1;
                let vstart = i;
                while i < b.len() && b[i] != q {
                    if q == b'"' && b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                let raw = &s.as_bytes()[vstart..i.min(b.len())];
                i += 1;
                let raw = String::from_utf8_lossy(raw);
                if q == b'"' {
                    decode_escaped(&raw)
                } else {
                    raw.as_bytes().to_vec()
                }
            }
            _ => {
                let vstart = i;
                while i < b.len() && b[i] != b' ' {
                    i += 1;
                }
                b[vstart..i].to_vec()
            }
        };
        out.push((key, value));
    }
    out
}

fn get<'a>(t: &'a [(&str, Vec<u8>)], key: &str) -> Option<&'a [u8]> {
    t.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_slice())
}

fn get_str(t: &[(&str, Vec<u8>)], key: &str) -> Option<String> {
    get(t, key).map(|v| String::from_utf8_lossy(v).into_owned())
}

fn get_num<T: std::str::FromStr>(
    t: &[(&str, Vec<u8>)],
    key: &'static str,
) -> Result<T, ParseError> {
    let v = get_str(t, key).ok_or(ParseError::Missing(key))?;
    v.parse().map_err(|_| bad(key, &v))
}

impl Event {
    /// Parses an event text (without the `<N>` prefix). Unknown events are
    /// [`Event::Other`]; a known event with a malformed body is an error.
    pub fn parse(text: &str) -> Result<Event, ParseError> {
        let text = text.trim_end_matches(['\n', ' ']);
        let (name, rest) = text.split_once(' ').unwrap_or((text, ""));
        let t = || tokens(rest);
        Ok(match name {
            "CTRL-EVENT-CONNECTED" => {
                let after = rest
                    .split_once("onnection to ")
                    .map(|(_, a)| a)
                    .ok_or(ParseError::Missing("bssid"))?;
                let mac = after.get(..17).ok_or(ParseError::Missing("bssid"))?;
                let bssid = Mac::parse(mac).ok_or_else(|| bad("bssid", mac))?;
                let id = after
                    .split_once("[id=")
                    .and_then(|(_, a)| a.split([' ', ']']).next())
                    .and_then(|n| n.parse::<i64>().ok())
                    .and_then(|n| u32::try_from(n).ok())
                    .map(NetworkId);
                Event::Connected { bssid, id }
            }
            "CTRL-EVENT-DISCONNECTED" => {
                let t = t();
                let mac = get_str(&t, "bssid").ok_or(ParseError::Missing("bssid"))?;
                Event::Disconnected {
                    bssid: Mac::parse(&mac).ok_or_else(|| bad("bssid", &mac))?,
                    reason: get_num(&t, "reason")?,
                    locally_generated: get(&t, "locally_generated") == Some(b"1"),
                }
            }
            "CTRL-EVENT-SCAN-STARTED" => Event::ScanStarted,
            "CTRL-EVENT-SCAN-RESULTS" => Event::ScanResults,
            "CTRL-EVENT-SCAN-FAILED" => {
                let t = t();
                Event::ScanFailed {
                    ret: get_str(&t, "ret").and_then(|r| r.parse().ok()),
                    retry: get(&t, "retry") == Some(b"1"),
                }
            }
            "CTRL-EVENT-NETWORK-NOT-FOUND" => Event::NetworkNotFound,
            "CTRL-EVENT-SSID-TEMP-DISABLED" => {
                let t = t();
                Event::TempDisabled {
                    id: NetworkId(get_num(&t, "id")?),
                    ssid: get(&t, "ssid").ok_or(ParseError::Missing("ssid"))?.to_vec(),
                    auth_failures: get_num(&t, "auth_failures")?,
                    duration: get_num(&t, "duration")?,
                    reason: get_str(&t, "reason").ok_or(ParseError::Missing("reason"))?,
                }
            }
            "CTRL-EVENT-SSID-REENABLED" => {
                let t = t();
                Event::ReEnabled {
                    id: NetworkId(get_num(&t, "id")?),
                    ssid: get(&t, "ssid").ok_or(ParseError::Missing("ssid"))?.to_vec(),
                }
            }
            "CTRL-EVENT-ASSOC-REJECT" => {
                let t = t();
                let bssid = match get_str(&t, "bssid") {
                    Some(m) => Some(Mac::parse(&m).ok_or_else(|| bad("bssid", &m))?),
                    None => None,
                };
                Event::AssocReject {
                    bssid,
                    status_code: get_num(&t, "status_code")?,
                    timeout: t.iter().any(|(k, _)| *k == "timeout"),
                }
            }
            "CTRL-EVENT-AUTH-REJECT" => {
                let (mac, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let t = tokens(tail);
                Event::AuthReject {
                    bssid: Mac::parse(mac).ok_or_else(|| bad("bssid", mac))?,
                    status_code: get_num(&t, "status_code")?,
                }
            }
            "CTRL-EVENT-EAP-STARTED" => Event::EapStarted,
            "CTRL-EVENT-EAP-METHOD" => {
                // EAP vendor 0 method 25 (PEAP) selected
                let words: Vec<&str> = rest.split(' ').collect();
                let pos = words
                    .iter()
                    .position(|w| *w == "method")
                    .ok_or(ParseError::Missing("method"))?;
                let num = words.get(pos + 1).ok_or(ParseError::Missing("method"))?;
                let name = words
                    .get(pos + 2)
                    .map(|n| n.trim_start_matches('(').trim_end_matches(')').to_string())
                    .unwrap_or_default();
                Event::EapMethod {
                    method: num.parse().map_err(|_| bad("method", num))?,
                    name,
                }
            }
            "CTRL-EVENT-EAP-STATUS" => {
                let t = t();
                Event::EapStatus {
                    status: get_str(&t, "status").ok_or(ParseError::Missing("status"))?,
                    parameter: get_str(&t, "parameter").unwrap_or_default(),
                }
            }
            "CTRL-EVENT-EAP-SUCCESS" => Event::EapSuccess,
            "CTRL-EVENT-EAP-FAILURE" => Event::EapFailure,
            "CTRL-EVENT-TERMINATING" => Event::Terminating,
            "AP-ENABLED" => Event::ApEnabled,
            "AP-DISABLED" => Event::ApDisabled,
            "AP-STA-CONNECTED" | "AP-STA-DISCONNECTED" => {
                let mac = rest.split(' ').next().unwrap_or_default();
                let mac = Mac::parse(mac).ok_or_else(|| bad("mac", mac))?;
                if name == "AP-STA-CONNECTED" {
                    Event::ApStaConnected { mac }
                } else {
                    Event::ApStaDisconnected { mac }
                }
            }
            "CTRL-EVENT-REGDOM-CHANGE" => {
                let t = t();
                Event::RegdomChange {
                    initiator: get_str(&t, "init").ok_or(ParseError::Missing("init"))?,
                    kind: get_str(&t, "type").ok_or(ParseError::Missing("type"))?,
                    alpha2: get_str(&t, "alpha2"),
                }
            }
            _ => Event::Other(text.to_string()),
        })
    }

    /// The typed event of a monitor message; a malformed one is logged and skipped
    /// (`None`).
    pub fn from_message(msg: &MonitorMessage) -> Option<Event> {
        match Event::parse(&msg.text) {
            Ok(ev) => Some(ev),
            Err(e) => {
                let name = msg.text.split(' ').next().unwrap_or_default();
                tracing::warn!(event = %name, error = %e, "malformed wpa_supplicant event skipped");
                None
            }
        }
    }
}

// ------------------------------------------------------------------ commands

/// What `GET_CAPABILITY` can be asked about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// `eap`: EAP methods built in.
    Eap,
    /// `key_mgmt`.
    KeyMgmt,
    /// `pairwise` ciphers.
    Pairwise,
    /// `freq`: channels.
    Freq,
}

/// BSS fields requested by [`Supplicant::bss_list`] (`WPA_BSS_MASK_*` in
/// `src/common/wpa_ctrl.h`): id, bssid, freq, beacon_int, capabilities, noise, level, age,
/// ie, flags, ssid, snr, est_throughput. Without `tsf`, `qual`, WPS/P2P/ANQP extras.
const BSS_MASK: u32 = 1
    | 1 << 1
    | 1 << 2
    | 1 << 3
    | 1 << 4
    | 1 << 6
    | 1 << 7
    | 1 << 9
    | 1 << 10
    | 1 << 11
    | 1 << 12
    | 1 << 19
    | 1 << 20;

/// The typed client of one interface's wpa_supplicant. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Supplicant {
    ctrl: CtrlHandle,
}

impl Supplicant {
    /// Wraps a control handle.
    pub fn new(ctrl: CtrlHandle) -> Self {
        Supplicant { ctrl }
    }

    /// Starts the supervised connection ([`ctrl::spawn`]) and wraps its handle. Turn the
    /// [`CtrlEvent::Message`]s into [`Event`]s with [`Event::from_message`].
    pub fn spawn(cfg: CtrlConfig) -> (Self, mpsc::Receiver<CtrlEvent>) {
        let (ctrl, events) = ctrl::spawn(cfg);
        (Supplicant { ctrl }, events)
    }

    /// The transport handle.
    pub fn ctrl(&self) -> &CtrlHandle {
        &self.ctrl
    }

    /// Sends a raw request and returns the raw reply. Prefer the typed methods.
    pub async fn raw(&self, request: &str) -> Result<String, SupplicantError> {
        Ok(self.ctrl.request(request).await?)
    }

    /// A request whose reply must be `OK`.
    async fn ok(&self, request: &str) -> Result<(), SupplicantError> {
        let reply = self.ctrl.request(request).await?;
        check_ok(request, &reply)
    }

    /// `PING` → `PONG`.
    pub async fn ping(&self) -> Result<(), SupplicantError> {
        let r = self.ctrl.request("PING").await?;
        if r.trim_end() == "PONG" {
            Ok(())
        } else {
            Err(unexpected("PING", &r))
        }
    }

    /// `SCAN`, or `SCAN freq=<list>` for a quick scan of known channels (MHz). A scan
    /// already running is [`SupplicantError::Failed`] with reply `FAIL-BUSY`.
    pub async fn scan(&self, freqs: &[u32]) -> Result<(), SupplicantError> {
        if freqs.is_empty() {
            return self.ok("SCAN").await;
        }
        if let Some(&f) = freqs.iter().find(|f| !(1..=100_000).contains(*f)) {
            return Err(ConfigError::Frequency(f).into());
        }
        let list: Vec<String> = freqs.iter().map(u32::to_string).collect();
        self.ok(&format!("SCAN freq={}", list.join(","))).await
    }

    /// `ABORT_SCAN`.
    pub async fn abort_scan(&self) -> Result<(), SupplicantError> {
        self.ok("ABORT_SCAN").await
    }

    /// The whole BSS table, by `BSS FIRST` and `BSS NEXT-<id>` (one entry per reply, so
    /// no 4096-byte limit as with `SCAN_RESULTS`). Entries that fail to parse are skipped
    /// with a warning. Stops when the table ends, or when it changed under the iteration
    /// (an id that does not increase): the next `ScanResults` event brings a fresh pass.
    pub async fn bss_list(&self) -> Result<Vec<Bss>, SupplicantError> {
        let mut out: Vec<Bss> = Vec::new();
        let mut request = format!("BSS FIRST MASK=0x{BSS_MASK:x}");
        let mut last_id: Option<u32> = None;
        loop {
            let reply = self.ctrl.request(&request).await?;
            if reply.is_empty() || reply.starts_with("FAIL") {
                break;
            }
            let id = reply
                .lines()
                .find_map(|l| l.strip_prefix("id="))
                .and_then(|v| v.parse::<u32>().ok());
            let Some(id) = id else {
                tracing::warn!(request = %request, "BSS reply without id; BSS iteration stopped");
                break;
            };
            if last_id.is_some_and(|l| id <= l) {
                tracing::debug!(
                    id,
                    "BSS ids went backwards; BSS table changed, iteration stopped"
                );
                break;
            }
            match Bss::parse(&reply) {
                Ok(bss) => out.push(bss),
                Err(e) => tracing::warn!(id, error = %e, "malformed BSS entry skipped"),
            }
            last_id = Some(id);
            request = format!("BSS NEXT-{id} MASK=0x{BSS_MASK:x}");
        }
        Ok(out)
    }

    /// `STATUS`.
    pub async fn status(&self) -> Result<Status, SupplicantError> {
        let r = self.ctrl.request("STATUS").await?;
        Status::parse(&r).map_err(|source| SupplicantError::Parse {
            command: "STATUS".into(),
            source,
        })
    }

    /// `ADD_NETWORK`: a new, disabled, empty network block.
    pub async fn add_network(&self) -> Result<NetworkId, SupplicantError> {
        let r = self.ctrl.request("ADD_NETWORK").await?;
        match r.trim_end().parse() {
            Ok(id) => Ok(NetworkId(id)),
            Err(_) => Err(fail_or_unexpected("ADD_NETWORK", &r)),
        }
    }

    /// Writes `settings` into network `id` (`SET_NETWORK` per variable). Errors name the
    /// variable, never its value. `sae_pwe`: when the per-network variable is unknown (as
    /// in wpa_supplicant 2.10), the global `SET sae_pwe` is used instead, which applies to
    /// every network.
    pub async fn configure_network(
        &self,
        id: NetworkId,
        settings: &NetworkSettings,
    ) -> Result<(), SupplicantError> {
        for (field, value) in settings.variables()? {
            let request = set_network_request(id, field, &value);
            let result = self.ok(&request).await;
            match result {
                Err(SupplicantError::Failed { .. }) if field == "sae_pwe" => {
                    tracing::debug!(%id, "per-network sae_pwe refused; setting it globally");
                    let Value::Plain(v) = &value else { continue };
                    self.ok(&format!("SET sae_pwe {v}")).await.map_err(|e| {
                        SupplicantError::SetNetwork {
                            id,
                            field,
                            source: Box::new(e),
                        }
                    })?;
                }
                Err(e) => {
                    return Err(SupplicantError::SetNetwork {
                        id,
                        field,
                        source: Box::new(e),
                    })
                }
                Ok(()) => {}
            }
        }
        Ok(())
    }

    /// `ADD_NETWORK` and [`Supplicant::configure_network`]; on failure the half-made block
    /// is removed again. The network starts disabled: enable or select it.
    pub async fn create_network(
        &self,
        settings: &NetworkSettings,
    ) -> Result<NetworkId, SupplicantError> {
        settings.variables()?;
        let id = self.add_network().await?;
        if let Err(e) = self.configure_network(id, settings).await {
            if let Err(e2) = self.remove_network(id).await {
                tracing::warn!(%id, error = %ctrl::chain(&e2), "remove half-configured network");
            }
            return Err(e);
        }
        Ok(id)
    }

    /// `GET_NETWORK <id> <name>`: wpa_supplicant's text for a variable (keys are never
    /// returned: it answers `*` or `FAIL` for them).
    pub async fn get_network(&self, id: NetworkId, name: &str) -> Result<String, SupplicantError> {
        let request = format!("GET_NETWORK {id} {name}");
        let r = self.ctrl.request(&request).await?;
        if r.starts_with("FAIL") {
            return Err(fail_or_unexpected(&request, &r));
        }
        Ok(r)
    }

    /// `SELECT_NETWORK <id>`: enable it, disable all others, connect.
    pub async fn select_network(&self, id: NetworkId) -> Result<(), SupplicantError> {
        self.ok(&format!("SELECT_NETWORK {id}")).await
    }

    /// `ENABLE_NETWORK <id>`.
    pub async fn enable_network(&self, id: NetworkId) -> Result<(), SupplicantError> {
        self.ok(&format!("ENABLE_NETWORK {id}")).await
    }

    /// `DISABLE_NETWORK <id>`: also stops wpa_supplicant's own retries of it.
    pub async fn disable_network(&self, id: NetworkId) -> Result<(), SupplicantError> {
        self.ok(&format!("DISABLE_NETWORK {id}")).await
    }

    /// `REMOVE_NETWORK <id>`.
    pub async fn remove_network(&self, id: NetworkId) -> Result<(), SupplicantError> {
        self.ok(&format!("REMOVE_NETWORK {id}")).await
    }

    /// `REMOVE_NETWORK all`.
    pub async fn remove_all_networks(&self) -> Result<(), SupplicantError> {
        self.ok("REMOVE_NETWORK all").await
    }

    /// Every network block. `LIST_NETWORKS` replies stop at 4096 bytes, at a row boundary,
    /// so this pages with `LIST_NETWORKS LAST_ID=<id>` until a page brings nothing new.
    pub async fn list_networks(&self) -> Result<Vec<NetworkEntry>, SupplicantError> {
        let mut all: Vec<NetworkEntry> = Vec::new();
        let mut request = "LIST_NETWORKS".to_string();
        loop {
            let reply = self.ctrl.request(&request).await?;
            if reply.starts_with("FAIL") || reply.starts_with("UNKNOWN COMMAND") {
                return Err(fail_or_unexpected(&request, &reply));
            }
            let page = parse_list_networks(&reply);
            let last = all.last().map(|e| e.id);
            let new: Vec<NetworkEntry> = page
                .into_iter()
                .filter(|e| last.is_none_or(|l| e.id > l))
                .collect();
            let Some(tail) = new.last().map(|e| e.id) else {
                break;
            };
            all.extend(new);
            // A page that was not cut short is the last one.
            if reply.len() < 4096 - 256 {
                break;
            }
            request = format!("LIST_NETWORKS LAST_ID={tail}");
        }
        Ok(all)
    }

    /// `DISCONNECT`: disconnect and stay disconnected until `RECONNECT` or a select.
    pub async fn disconnect(&self) -> Result<(), SupplicantError> {
        self.ok("DISCONNECT").await
    }

    /// `LOGOFF`: on a wired port, sends EAPOL-Logoff (the supplicant PAE's userLogoff in IEEE
    /// 802.1X-2004) so that the authenticator closes the port now; wpa_supplicant
    /// authenticates nothing until [`Self::logon`].
    pub async fn logoff(&self) -> Result<(), SupplicantError> {
        self.ok("LOGOFF").await
    }

    /// `LOGON`: ends a [`Self::logoff`].
    pub async fn logon(&self) -> Result<(), SupplicantError> {
        self.ok("LOGON").await
    }

    /// `SET EAPOL::startPeriod <s>`: seconds between EAPOL-Starts while no authenticator
    /// answers (IEEE 802.1X-2004's startPeriod; 30 by default).
    pub async fn set_eapol_start_period(
        &self,
        period: std::time::Duration,
    ) -> Result<(), SupplicantError> {
        self.ok(&format!(
            "SET EAPOL::startPeriod {}",
            period.as_secs().max(1)
        ))
        .await
    }

    /// `RECONNECT`.
    pub async fn reconnect(&self) -> Result<(), SupplicantError> {
        self.ok("RECONNECT").await
    }

    /// `SET country XX` (ISO 3166-1 alpha-2, or `00` for the world domain). The kernel
    /// answers with `CTRL-EVENT-REGDOM-CHANGE` (nl80211 drivers).
    pub async fn set_country(&self, alpha2: &str) -> Result<(), SupplicantError> {
        let ok =
            alpha2.len() == 2 && (alpha2 == "00" || alpha2.bytes().all(|b| b.is_ascii_uppercase()));
        if !ok {
            return Err(ConfigError::Country(alpha2.chars().take(8).collect()).into());
        }
        self.ok(&format!("SET country {alpha2}")).await
    }

    /// `SET sae_pwe N` (global).
    pub async fn set_sae_pwe(&self, pwe: SaePwe) -> Result<(), SupplicantError> {
        self.ok(&format!("SET sae_pwe {}", pwe.value())).await
    }

    /// `GET_CAPABILITY <what>`: the words of the reply.
    pub async fn get_capability(&self, what: Capability) -> Result<Vec<String>, SupplicantError> {
        let word = match what {
            Capability::Eap => "eap",
            Capability::KeyMgmt => "key_mgmt",
            Capability::Pairwise => "pairwise",
            Capability::Freq => "freq",
        };
        let request = format!("GET_CAPABILITY {word}");
        let r = self.ctrl.request(&request).await?;
        if r.starts_with("FAIL") || r.starts_with("UNKNOWN COMMAND") {
            return Err(fail_or_unexpected(&request, &r));
        }
        Ok(r.split_whitespace().map(str::to_string).collect())
    }

    /// `FLUSH`: forget networks, BSS table and settings made at run time.
    pub async fn flush(&self) -> Result<(), SupplicantError> {
        self.ok("FLUSH").await
    }
}

fn set_network_request(id: NetworkId, field: &str, value: &Value) -> String {
    format!(
        "SET_NETWORK {id} {field} {}",
        String::from_utf8_lossy(value.bytes())
    )
}

fn check_ok(request: &str, reply: &str) -> Result<(), SupplicantError> {
    if reply.trim_end() == "OK" {
        Ok(())
    } else {
        Err(fail_or_unexpected(request, reply))
    }
}

fn fail_or_unexpected(request: &str, reply: &str) -> SupplicantError {
    let command = ctrl::request_label(request);
    let r = reply.trim_end();
    if r.starts_with("FAIL") {
        SupplicantError::Failed {
            command,
            reply: r.to_string(),
        }
    } else if r == "UNKNOWN COMMAND" {
        SupplicantError::UnknownCommand { command }
    } else {
        unexpected(request, reply)
    }
}

fn unexpected(request: &str, reply: &str) -> SupplicantError {
    SupplicantError::Unexpected {
        command: ctrl::request_label(request),
        reply: reply.chars().take(200).collect(),
    }
}

#[cfg(test)]
#[path = "supplicant_tests.rs"]
mod tests;
