//! Credentials: what a connect needs besides the network (a passphrase, an 802.1X identity
//! and password). They live in the daemon only: stored with mode 0600, never returned by the
//! API (only whether each is set) and never logged — [`Secret`] prints as `<redacted>`.

use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize};

use super::FieldError;

/// A secret: a passphrase, a password, an identity, a key's passphrase. The one redacting
/// type of netpilot (the wpa_supplicant client uses it too): `Debug` and `Display` print
/// `<redacted>`, the memory is zeroed on drop (`secrecy`), and the value is reached only
/// through [`Secret::expose`] / [`Secret::expose_bytes`], which the few places that must
/// hand it on call (the wpa_supplicant request, validation, the 0600 store).
#[derive(Clone)]
pub struct Secret(SecretSlice<u8>);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretSlice::from(value.into().into_bytes()))
    }

    /// Wraps raw bytes (the wpa_supplicant protocol carries any byte; the API only text).
    pub fn from_bytes(value: impl Into<Vec<u8>>) -> Self {
        Self(SecretSlice::from(value.into()))
    }

    /// The value as text; empty for a secret made from bytes that are not UTF-8.
    pub fn expose(&self) -> &str {
        std::str::from_utf8(self.expose_bytes()).unwrap_or_default()
    }

    /// The value's bytes.
    pub fn expose_bytes(&self) -> &[u8] {
        self.0.expose_secret()
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl PartialEq for Secret {
    /// Compares without stopping at the first differing byte.
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.expose_bytes(), other.expose_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl Eq for Secret {}

impl Serialize for Secret {
    /// As the plain string: only the 0600 credential store serializes secrets.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = std::str::from_utf8(self.expose_bytes())
            .map_err(|_| serde::ser::Error::custom("a secret that is not UTF-8 is not stored"))?;
        s.serialize_str(text)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A field the daemon asks for (ConnMan agent-api.txt RequestInput).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum InputField {
    /// A hidden network's SSID ("Name", type "string").
    Name,
    /// A WPA passphrase or SAE password ("Passphrase", type "psk").
    Passphrase,
    /// An 802.1X identity ("Identity", type "string").
    Identity,
    /// An 802.1X password ("Password", type "passphrase").
    Password,
}

impl InputField {
    /// ConnMan's field name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Name => "Name",
            Self::Passphrase => "Passphrase",
            Self::Identity => "Identity",
            Self::Password => "Password",
        }
    }

    /// ConnMan's value type.
    pub fn kind(self) -> &'static str {
        match self {
            Self::Name | Self::Identity => "string",
            Self::Passphrase => "psk",
            Self::Password => "passphrase",
        }
    }
}

/// Credentials of one service. Every field is optional; a connect takes what the network
/// needs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Credentials {
    /// WPA passphrase (8..63 printable ASCII) or raw PSK (64 hex digits); SAE password.
    pub passphrase: Option<Secret>,
    /// 802.1X identity.
    pub identity: Option<Secret>,
    /// 802.1X password (PEAP, TTLS).
    pub password: Option<Secret>,
    /// Passphrase of the EAP-TLS private key file.
    pub private_key_passphrase: Option<Secret>,
}

/// Which credentials are set, as the API may show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CredentialFlags {
    /// A passphrase is stored.
    pub passphrase: bool,
    /// An identity is stored.
    pub identity: bool,
    /// A password is stored.
    pub password: bool,
}

impl Credentials {
    /// Nothing set.
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }

    /// Which are set.
    pub fn flags(&self) -> CredentialFlags {
        CredentialFlags {
            passphrase: self.passphrase.is_some(),
            identity: self.identity.is_some(),
            password: self.password.is_some(),
        }
    }

    /// These credentials, with each field `newer` sets replacing this one's.
    pub fn merged(&self, newer: &Credentials) -> Credentials {
        Credentials {
            passphrase: newer.passphrase.clone().or(self.passphrase.clone()),
            identity: newer.identity.clone().or(self.identity.clone()),
            password: newer.password.clone().or(self.password.clone()),
            private_key_passphrase: newer
                .private_key_passphrase
                .clone()
                .or(self.private_key_passphrase.clone()),
        }
    }

    /// Checks the values a caller gave; `prefix` is the field path of this message
    /// ("credentials"). Strings are bounded so that nothing unbounded reaches a request.
    pub fn validate(&self, prefix: &str) -> Result<(), FieldError> {
        if let Some(p) = &self.passphrase {
            validate_passphrase(&format!("{prefix}.passphrase"), p.expose())?;
        }
        for (name, value) in [
            ("identity", &self.identity),
            ("password", &self.password),
            ("private_key_passphrase", &self.private_key_passphrase),
        ] {
            if let Some(v) = value {
                validate_text(&format!("{prefix}.{name}"), v.expose())?;
            }
        }
        Ok(())
    }
}

/// An identity or password: 1..1024 bytes without NUL or newline, so that nothing unbounded
/// or able to break a request line reaches wpa_supplicant.
pub fn validate_text(field: &str, value: &str) -> Result<(), FieldError> {
    if value.is_empty() || value.len() > 1024 || value.contains(['\0', '\n']) {
        return Err(FieldError {
            field: field.to_string(),
            message: "must be 1..1024 bytes without NUL or newline".into(),
        });
    }
    Ok(())
}

/// A WPA passphrase: 8..63 printable ASCII characters, or a raw PSK of 64 hex digits
/// (IEEE 802.11-2020 Annex J.4.1).
pub fn validate_passphrase(field: &str, value: &str) -> Result<(), FieldError> {
    let printable = value.bytes().all(|b| (0x20..=0x7e).contains(&b));
    let ok = match value.len() {
        8..=63 => printable,
        64 => value.bytes().all(|b| b.is_ascii_hexdigit()),
        _ => false,
    };
    if ok {
        return Ok(());
    }
    let message = match value.len() {
        64 => "64 characters must all be hex digits (a raw PSK)".to_string(),
        8..=63 => "only printable ASCII characters are allowed".to_string(),
        n => format!(
            "a WPA passphrase has 8..63 printable ASCII characters or 64 hex digits, not {n}"
        ),
    };
    Err(FieldError {
        field: field.to_string(),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let c = Credentials {
            passphrase: Some(Secret::new("hunter2hunter2")),
            ..Credentials::default()
        };
        let shown = format!("{c:?} {}", Secret::new("hunter2hunter2"));
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn passphrase_rules() {
        let field = "credentials.passphrase";
        for ok in [
            "12345678",
            &"x".repeat(63),
            &"aB3".repeat(21),
            &"0a".repeat(32),
        ] {
            assert!(validate_passphrase(field, ok).is_ok(), "{ok:?}");
        }
        for bad in [
            "1234567",
            &"x".repeat(65),
            &"g".repeat(64),
            "tab\there1",
            "naïve-pass",
        ] {
            let e = validate_passphrase(field, bad).expect_err(bad);
            assert_eq!(e.field, field);
        }
    }

    #[test]
    fn newer_fields_win_when_merged() {
        let stored = Credentials {
            identity: Some(Secret::new("alice")),
            password: Some(Secret::new("old")),
            ..Credentials::default()
        };
        let given = Credentials {
            password: Some(Secret::new("new")),
            ..Credentials::default()
        };
        let merged = stored.merged(&given);
        assert_eq!(merged.identity, Some(Secret::new("alice")));
        assert_eq!(merged.password, Some(Secret::new("new")));
    }
}
