//! Wi-Fi in the model: security classes, SSIDs, and the details a Wi-Fi service shows.

use std::fmt::Write;

use super::{FieldError, ServiceId};

/// Longest SSID, in bytes (IEEE 802.11-2020 §9.4.2.2).
pub const SSID_MAX: usize = 32;

/// What a network offers, as ConnMan's service "Security" values, plus SAE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Security {
    /// Open ("none").
    None,
    /// WEP ("wep"): listed, never joined.
    Wep,
    /// WPA/WPA2/WPA3 personal ("psk"), every network with a passphrase.
    Psk,
    /// WPA3-Personal SAE offered (with `Psk`; transition mode when the PSK AKM is there too).
    Sae,
    /// IEEE 802.1X / enterprise ("ieee8021x").
    Ieee8021x,
    /// Wi-Fi Protected Setup advertised ("wps").
    Wps,
}

/// The security class in a ConnMan service id: one service per SSID and class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SecurityClass {
    /// Open.
    None,
    /// WEP.
    Wep,
    /// Personal: PSK, SAE or both.
    Psk,
    /// Enterprise.
    Ieee8021x,
}

impl SecurityClass {
    /// ConnMan's word: "none", "wep", "psk", "ieee8021x".
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Wep => "wep",
            Self::Psk => "psk",
            Self::Ieee8021x => "ieee8021x",
        }
    }
}

/// What a Wi-Fi service shows besides the common fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WifiInfo {
    /// The SSID as bytes; empty for a hidden network whose name is not known.
    pub ssid: Vec<u8>,
    /// Frequency in MHz of the strongest BSS.
    pub frequency: u32,
    /// BSSes of this network in the last scan results.
    pub bss_count: u32,
    /// The network does not broadcast its SSID.
    pub hidden: bool,
}

/// Characters that reorder or hide text (Unicode bidirectional controls, zero-width marks):
/// an SSID with them could pass for another one.
fn deceptive(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// An SSID for people: UTF-8 as is, anything else (and UTF-8 with control, bidirectional or
/// zero-width characters) with bytes escaped as `\xNN` (and `\\` for a backslash), so that two
/// SSIDs never look the same.
pub fn ssid_display(ssid: &[u8]) -> String {
    match std::str::from_utf8(ssid) {
        Ok(s) if !s.chars().any(deceptive) => s.to_string(),
        _ => {
            let mut out = String::new();
            for &b in ssid {
                match b {
                    b'\\' => out.push_str("\\\\"),
                    0x20..=0x7e => out.push(b as char),
                    _ => {
                        let _ = write!(out, "\\x{b:02x}");
                    }
                }
            }
            out
        }
    }
}

/// Whether `code` is an ISO 3166-1 alpha-2 country code as wpa_supplicant's `country` takes
/// it: two upper-case ASCII letters.
pub fn is_country_code(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())
}

/// Checks an SSID given by a caller: 1..=32 bytes.
pub fn validate_ssid(field: &str, ssid: &[u8]) -> Result<(), FieldError> {
    if ssid.is_empty() || ssid.len() > SSID_MAX {
        return Err(FieldError {
            field: field.to_string(),
            message: format!(
                "an SSID has 1..{SSID_MAX} bytes (IEEE 802.11), this one has {}",
                ssid.len()
            ),
        });
    }
    Ok(())
}

impl ServiceId {
    /// The id of a Wi-Fi network seen by the radio with MAC `radio`, as ConnMan builds it:
    /// `wifi_<mac-hex>_<ssid-hex>_managed_<class>`, and `hidden` in place of the SSID for a
    /// hidden network whose name is not known.
    pub fn wifi(radio: [u8; 6], ssid: &[u8], class: SecurityClass) -> Self {
        let mac: String = radio.iter().map(|b| format!("{b:02x}")).collect();
        let name = if ssid.is_empty() {
            "hidden".to_string()
        } else {
            ssid.iter().map(|b| format!("{b:02x}")).collect()
        };
        Self(format!("wifi_{mac}_{name}_managed_{}", class.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names_of_wifi_networks() {
        let radio = [0x02, 0, 0, 0, 0x01, 0x00];
        assert_eq!(
            ServiceId::wifi(radio, b"home", SecurityClass::Psk).0,
            "wifi_020000000100_686f6d65_managed_psk"
        );
        assert_eq!(
            ServiceId::wifi(radio, b"", SecurityClass::None).0,
            "wifi_020000000100_hidden_managed_none"
        );
        assert_eq!(ssid_display("Café ☕".as_bytes()), "Café ☕");
        assert_eq!(ssid_display(b"a\xffb\\"), "a\\xffb\\\\");
        assert_eq!(ssid_display(b"tab\there"), "tab\\x09here");
        assert_eq!(
            ssid_display("home\u{202e}evil".as_bytes()),
            "home\\xe2\\x80\\xaeevil",
            "a direction override is shown, not obeyed"
        );
        assert!(validate_ssid("ssid", &[b'x'; 32]).is_ok());
        let e = validate_ssid("credentials.ssid", &[b'x'; 33]).expect_err("33 bytes");
        assert_eq!(e.field, "credentials.ssid");
        assert!(validate_ssid("ssid", b"").is_err());
    }
}
