//! Bounds on what a request may carry, checked at the edge before anything else reads it:
//! nothing unbounded is stored or forwarded, and no error message echoes more than a few
//! hundred bytes of what a caller sent. Each failure is `INVALID_ARGUMENT` naming the field.

use tonic::Status;

use super::status::invalid;

/// Longest service id (ConnMan-style ids are under 100 bytes; a Wi-Fi id carries the SSID
/// as up to 64 hex digits).
pub const ID_MAX: usize = 256;
/// Longest interface name (IFNAMSIZ - 1).
pub const IFNAME_MAX: usize = 15;
/// Longest free text (an agent's name, an agent's answer).
pub const TEXT_MAX: usize = 1024;
/// Most entries of a list (bearers, nameservers, timeservers, domains, mask paths).
pub const LIST_MAX: usize = 32;
/// Longest text that is parsed as an address or a word.
pub const WORD_MAX: usize = 253;
/// Longest ConnectService timeout, seconds (a day).
pub const TIMEOUT_MAX_SECS: i64 = 86_400;

/// A printable id or name: at most `max` bytes, no control characters.
pub fn text(field: &str, value: &str, max: usize) -> Result<(), Status> {
    if value.len() > max {
        return Err(invalid(
            field,
            format!("{} bytes; at most {max} are allowed", value.len()),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(())
}

/// A service id.
pub fn service_id(field: &str, value: &str) -> Result<(), Status> {
    text(field, value, ID_MAX)
}

/// An interface name.
pub fn ifname(field: &str, value: &str) -> Result<(), Status> {
    text(field, value, IFNAME_MAX)
}

/// A list's length.
pub fn list(field: &str, len: usize) -> Result<(), Status> {
    if len > LIST_MAX {
        return Err(invalid(
            field,
            format!("{len} entries; at most {LIST_MAX} are allowed"),
        ));
    }
    Ok(())
}

/// A short word or address about to be parsed.
pub fn word(field: &str, value: &str) -> Result<(), Status> {
    text(field, value, WORD_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert!(service_id("service_id", "ethernet_02aa_cable").is_ok());
        let long = "x".repeat(ID_MAX + 1);
        let e = service_id("service_id", &long).expect_err("long");
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        assert!(e.message().len() < 200, "{}", e.message());
        assert!(ifname("name", "eth0").is_ok());
        assert!(ifname("name", "a-very-long-ifname").is_err());
        assert!(text("name", "a\nb", 10).is_err());
        assert!(list("l", LIST_MAX).is_ok());
        assert!(list("l", LIST_MAX + 1).is_err());
    }
}
