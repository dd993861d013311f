//! The client identifier (option 61).
//!
//! RFC 4361 §6.1: `0xff`, a 4-byte IAID, then a DUID (RFC 8415 §11). The IAID is the last
//! four bytes of the MAC (as dhcpcd does), so each interface has its own. The DUID is one
//! per device, kept in a file under the state dir; the first one is derived from
//! /etc/machine-id exactly as systemd-networkd does (DUID-EN with systemd's enterprise
//! number 43793 and the SipHash-2-4 of the machine id under systemd's fixed key), so a
//! device moving between the two clients keeps its leases. Without a machine id, a random
//! DUID-UUID (RFC 6355) is made and kept.
//!
//! [`ClientIdMode::Mac`] sends RFC 2132 §9.14's hardware type 1 and the MAC instead.

use std::hash::Hasher;
use std::path::Path;

use crate::config::ClientIdMode;

/// systemd's private enterprise number (IANA), used in its DUID-EN.
const SYSTEMD_PEN: u32 = 43793;
/// systemd's key for hashing the machine id into the DUID (`dhcp-identifier.c` HASH_KEY).
const HASH_KEY: [u8; 16] = [
    0x80, 0x11, 0x8c, 0xc2, 0xfe, 0x4a, 0x03, 0xee, 0x3e, 0xd6, 0x0c, 0x6f, 0x36, 0x39, 0x14, 0x09,
];
/// Where the machine id lives (machine-id(5)).
const MACHINE_ID: &str = "/etc/machine-id";

/// Option 61's bytes for `mode`. DUID problems (unreadable or unwritable file) are logged
/// and leave a DUID that is correct for this run.
pub fn client_id(mode: ClientIdMode, duid_file: &Path, mac: [u8; 6]) -> Vec<u8> {
    match mode {
        ClientIdMode::Mac => {
            let mut id = vec![1];
            id.extend_from_slice(&mac);
            id
        }
        ClientIdMode::Duid => {
            let mut id = vec![255];
            id.extend_from_slice(&mac[2..6]);
            id.extend_from_slice(&duid(duid_file));
            id
        }
    }
}

/// The device's DUID: from `file`, else made (machine id or random) and written there.
fn duid(file: &Path) -> Vec<u8> {
    if let Ok(text) = std::fs::read_to_string(file) {
        match parse_hex(text.trim()) {
            Some(d) if (3..=130).contains(&d.len()) => return d,
            _ => {
                tracing::warn!(file = %file.display(), "DUID file is not 3 to 130 bytes of hex; making a new DUID")
            }
        }
    }
    let made = std::fs::read_to_string(MACHINE_ID)
        .ok()
        .and_then(|t| from_machine_id(&t))
        .unwrap_or_else(random_uuid_duid);
    let write = || -> std::io::Result<()> {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = file.with_extension("tmp");
        std::fs::write(&tmp, format!("{}\n", super::lease::hex(&made)))?;
        std::fs::rename(&tmp, file)
    };
    if let Err(e) = write() {
        tracing::warn!(file = %file.display(), error = %e, "cannot store the DHCP DUID; it is derived again next time");
    }
    made
}

/// systemd's DUID-EN from the text of /etc/machine-id (32 hex digits).
fn from_machine_id(text: &str) -> Option<Vec<u8>> {
    let id = parse_hex(text.trim()).filter(|b| b.len() == 16)?;
    let mut h = siphasher::sip::SipHasher24::new_with_key(&HASH_KEY);
    h.write(&id);
    let mut duid = vec![0, 2];
    duid.extend_from_slice(&SYSTEMD_PEN.to_be_bytes());
    duid.extend_from_slice(&h.finish().to_le_bytes());
    Some(duid)
}

/// DUID-UUID (RFC 6355, type 4) with a random version-4 UUID.
fn random_uuid_duid() -> Vec<u8> {
    let mut duid = vec![0, 4];
    let mut uuid: Vec<u8> = (0..16).map(|_| fastrand::u8(..)).collect();
    uuid[6] = (uuid[6] & 0x0f) | 0x40;
    uuid[8] = (uuid[8] & 0x3f) | 0x80;
    duid.extend_from_slice(&uuid);
    duid
}

fn parse_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [2, 0, 0xaa, 0xbb, 0xcc, 0xdd];

    #[test]
    fn mac_mode_is_hardware_type_and_mac() {
        let id = client_id(ClientIdMode::Mac, Path::new("/nonexistent/duid"), MAC);
        assert_eq!(id, vec![1, 2, 0, 0xaa, 0xbb, 0xcc, 0xdd]);
    }

    #[test]
    fn the_duid_is_made_once_and_kept() {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("dhcp").join("duid");
        let first = client_id(ClientIdMode::Duid, &file, MAC);
        assert_eq!(
            &first[..5],
            &[255, 0xaa, 0xbb, 0xcc, 0xdd],
            "RFC 4361: 0xff and the IAID"
        );
        assert!(file.exists());
        let other_link = client_id(ClientIdMode::Duid, &file, [2, 0, 1, 2, 3, 4]);
        assert_eq!(first[5..], other_link[5..], "one DUID per device");
        std::fs::write(&file, "00040102\n").expect("write");
        assert_eq!(
            &client_id(ClientIdMode::Duid, &file, MAC)[5..],
            &[0, 4, 1, 2]
        );
    }

    #[test]
    fn machine_id_gives_a_systemd_style_duid_en() {
        let d = from_machine_id("0123456789abcdef0123456789abcdef\n").expect("duid");
        assert_eq!(d.len(), 14);
        assert_eq!(
            &d[..6],
            &[0, 2, 0, 0, 0xab, 0x11],
            "DUID-EN, enterprise 43793"
        );
        assert_eq!(
            d,
            from_machine_id("0123456789abcdef0123456789abcdef").expect("same")
        );
        assert_ne!(
            d,
            from_machine_id("f123456789abcdef0123456789abcdef").expect("other")
        );
        assert_eq!(from_machine_id("not hex"), None);
        assert_eq!(random_uuid_duid().len(), 18);
    }
}
