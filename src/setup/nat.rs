//! Tethering's NAT: clients of the tethering access point are masqueraded behind whichever
//! link carries their traffic out, through an nftables table of netpilot's own
//! ([`TABLE`], family `ip`), written as one `nft -j -f FILE` transaction in the libnftables
//! JSON schema (libnftables-json(5)); IPv4 forwarding is turned on while tethering runs and
//! put back as it was after. The ruleset goes through a file in netpilot's run directory,
//! not stdin: `nft -f -` opens `/dev/stdin`, which minimal systems lack.
//!
//! The table is replaced as a whole (add, delete, add), so a table an earlier run left is
//! never merged into. Other tables are not touched: a `drop` policy in another table's
//! forward chain still drops tethered traffic (nftables evaluates every base chain).

use serde_json::{json, Value};
use std::net::Ipv4Addr;

/// netpilot's nftables table for tethering.
pub const TABLE: &str = "netpilot_tether";
/// Comment on every rule, so `nft list ruleset` says whose they are.
const COMMENT: &str = "netpilot tethering";
/// IPv4 forwarding switch.
const FORWARDING: &str = "/proc/sys/net/ipv4/ip_forward";

/// Why NAT could not be set up or removed.
#[derive(Debug, thiserror::Error)]
pub enum NatError {
    /// `nft` could not run or refused the ruleset.
    #[error("nft -j -f ({action} table ip {TABLE}): {message}")]
    Nft {
        /// "replace" or "delete".
        action: &'static str,
        /// Its error output, or why it did not run.
        message: String,
    },
    /// IPv4 forwarding could not be switched.
    #[error("write {FORWARDING}")]
    Forwarding(#[source] std::io::Error),
}

fn table() -> Value {
    json!({"table": {"family": "ip", "name": TABLE}})
}

fn chain(name: &str, kind: &str, hook: &str, prio: i32) -> Value {
    json!({"add": {"chain": {
        "family": "ip", "table": TABLE, "name": name,
        "type": kind, "hook": hook, "prio": prio, "policy": "accept"
    }}})
}

fn rule(chain: &str, expr: Value) -> Value {
    json!({"add": {"rule": {
        "family": "ip", "table": TABLE, "chain": chain, "comment": COMMENT, "expr": expr
    }}})
}

/// The ruleset: masquerade what comes from the clients' subnet and leaves through another
/// interface; forward the clients' traffic out, and what belongs to it back in.
pub fn ruleset(interface: &str, address: Ipv4Addr, prefix: u8) -> Value {
    let network = Ipv4Addr::from(u32::from(address) & (u32::MAX << (32 - u32::from(prefix))));
    let from_clients = json!({"match": {"op": "==",
        "left": {"payload": {"protocol": "ip", "field": "saddr"}},
        "right": {"prefix": {"addr": network.to_string(), "len": prefix}}}});
    let iif =
        json!({"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": interface}});
    let oif =
        json!({"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": interface}});
    let not_oif =
        json!({"match": {"op": "!=", "left": {"meta": {"key": "oifname"}}, "right": interface}});
    let established = json!({"match": {"op": "in",
        "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}});
    json!({"nftables": [
        {"add": table()},
        {"delete": table()},
        {"add": table()},
        chain("postrouting", "nat", "postrouting", 100),
        rule("postrouting", json!([from_clients, not_oif, {"masquerade": null}])),
        chain("forward", "filter", "forward", 0),
        rule("forward", json!([iif, {"accept": null}])),
        rule("forward", json!([oif, established, {"accept": null}])),
    ]})
}

/// How `nft` is run: the program and the file the ruleset goes through.
#[derive(Debug, Clone)]
pub struct Nft {
    /// `nft`.
    pub program: std::path::PathBuf,
    /// The ruleset file (in netpilot's run directory).
    pub file: std::path::PathBuf,
}

async fn nft(nft: &Nft, action: &'static str, ruleset: &Value) -> Result<(), NatError> {
    let fail = |message: String| NatError::Nft { action, message };
    std::fs::write(&nft.file, ruleset.to_string())
        .map_err(|e| fail(format!("write {}: {e}", nft.file.display())))?;
    let child = tokio::process::Command::new(&nft.program)
        .arg("-j")
        .arg("-f")
        .arg(&nft.file)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| fail(format!("start {}: {e}", nft.program.display())))?;
    let out = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait_with_output())
        .await
        .map_err(|_| fail("no answer in 10 s".into()))?
        .map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        return Err(fail(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// NAT for one tethering access point; [`Nat::remove`] takes it away again.
#[derive(Debug)]
pub struct Nat {
    /// IPv4 forwarding before netpilot turned it on.
    forwarding_before: Option<String>,
}

impl Nat {
    /// Turns IPv4 forwarding on and writes [`TABLE`].
    pub async fn apply(
        program: &Nft,
        interface: &str,
        address: Ipv4Addr,
        prefix: u8,
    ) -> Result<Nat, NatError> {
        let forwarding_before = std::fs::read_to_string(FORWARDING).ok();
        std::fs::write(FORWARDING, "1\n").map_err(NatError::Forwarding)?;
        let nat = Nat { forwarding_before };
        if let Err(e) = nft(program, "replace", &ruleset(interface, address, prefix)).await {
            nat.remove(program).await;
            return Err(e);
        }
        tracing::info!(table = TABLE, %interface, "tethering NAT on");
        Ok(nat)
    }

    /// Deletes [`TABLE`] and puts IPv4 forwarding back; failures are logged.
    pub async fn remove(self, program: &Nft) {
        remove_table(program).await;
        if let Some(before) = self.forwarding_before {
            if let Err(e) = std::fs::write(FORWARDING, before) {
                tracing::warn!(error = %e, "put IPv4 forwarding back");
            }
        }
    }
}

/// Deletes [`TABLE`] if it is there (an earlier run's too), then the ruleset file.
pub async fn remove_table(program: &Nft) {
    let delete = json!({"nftables": [{"add": table()}, {"delete": table()}]});
    match nft(program, "delete", &delete).await {
        Ok(()) => {
            tracing::debug!(table = TABLE, "removed");
            // Its absence tells the next start that no table is left to remove.
            let _ = std::fs::remove_file(&program.file);
        }
        Err(e) => {
            tracing::warn!(error = %crate::net::netlink::display_chain(&e), "remove the tethering table")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_transaction_of_our_own_table() {
        let r = ruleset("np-ap3", "198.18.31.1".parse().expect("ip"), 24);
        let list = r["nftables"].as_array().expect("list");
        assert_eq!(list[0]["add"]["table"]["name"], TABLE);
        assert_eq!(
            list[1]["delete"]["table"]["name"], TABLE,
            "replaced, not merged"
        );
        let text = r.to_string();
        assert!(text.contains("\"masquerade\":null"), "{text}");
        assert!(
            text.contains("\"addr\":\"198.18.31.0\",\"len\":24"),
            "{text}"
        );
        for item in &list[3..] {
            let (_, obj) = item["add"]
                .as_object()
                .and_then(|o| o.iter().next())
                .expect("add");
            assert_eq!(obj["table"], TABLE, "{item}");
            if obj.get("expr").is_some() {
                assert_eq!(obj["comment"], COMMENT, "tagged: {item}");
            }
        }
    }
}
