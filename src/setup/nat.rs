//! Tethering's NAT: clients of the tethering access point are masqueraded behind whichever
//! link carries their traffic out, through an nftables table of netpilot's own
//! ([`TABLE`], family `ip`), written as one `nft -j -f FILE` transaction in the libnftables
//! JSON schema (libnftables-json(5)); IPv4 forwarding is turned on while tethering runs and
//! put back as it was after. The ruleset goes through a file in netpilot's run directory,
//! not stdin: `nft -f -` opens `/dev/stdin`, which minimal systems lack.
//!
//! The forward chain lets the clients' traffic out and only what belongs to it back in:
//! new connections towards the access point's interface (from the uplink or anywhere else)
//! are dropped, so tethering does not expose its clients.
//!
//! The forwarding value from before is also kept in a file next to the ruleset file
//! ([`Nft::saved_forwarding`]), so that a start after a crash puts it back
//! ([`restore_forwarding`]).
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
        rule("forward", json!([oif.clone(), established, {"accept": null}])),
        // Anything else towards the clients is a new connection from outside: dropped. (Not
        // `ct state != established,related`: nft 1.0 compiles that to `state != 6`, true
        // for every packet.) The chain's policy stays accept: other forwarding on the
        // host is not ours to stop.
        rule("forward", json!([oif.clone(), {"drop": null}])),
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

impl Nft {
    /// Where IPv4 forwarding's value from before tethering is kept while it runs: beside
    /// [`Nft::file`], `ip_forward.before`.
    pub fn saved_forwarding(&self) -> std::path::PathBuf {
        self.file.with_file_name("ip_forward.before")
    }
}

/// Saves `switch`'s value in `saved` (unless a value is saved already: that one is from
/// before netpilot changed it) and returns it.
fn save_forwarding(
    switch: &std::path::Path,
    saved: &std::path::Path,
) -> Result<Option<String>, NatError> {
    if let Ok(before) = std::fs::read_to_string(saved) {
        return Ok(Some(before));
    }
    let Ok(before) = std::fs::read_to_string(switch) else {
        return Ok(None);
    };
    std::fs::write(saved, &before).map_err(NatError::Forwarding)?;
    Ok(Some(before))
}

/// Writes the value saved in `saved` back to `switch` and removes `saved`; nothing when
/// nothing is saved. Failures are logged.
fn put_back_forwarding(switch: &std::path::Path, saved: &std::path::Path) {
    let Ok(before) = std::fs::read_to_string(saved) else {
        return;
    };
    match std::fs::write(switch, before) {
        Ok(()) => {
            let _ = std::fs::remove_file(saved);
        }
        Err(e) => tracing::warn!(error = %e, "put IPv4 forwarding back"),
    }
}

/// Puts IPv4 forwarding back to the value a run that crashed while tethering saved.
pub fn restore_forwarding(program: &Nft) {
    let saved = program.saved_forwarding();
    if saved.exists() {
        tracing::info!("putting IPv4 forwarding back as it was before an earlier run's tethering");
        put_back_forwarding(std::path::Path::new(FORWARDING), &saved);
    }
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
pub struct Nat {}

impl Nat {
    /// Turns IPv4 forwarding on and writes [`TABLE`].
    pub async fn apply(
        program: &Nft,
        interface: &str,
        address: Ipv4Addr,
        prefix: u8,
    ) -> Result<Nat, NatError> {
        save_forwarding(
            std::path::Path::new(FORWARDING),
            &program.saved_forwarding(),
        )?;
        let nat = Nat {};
        if let Err(e) = std::fs::write(FORWARDING, "1\n") {
            nat.remove(program).await;
            return Err(NatError::Forwarding(e));
        }
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
        put_back_forwarding(
            std::path::Path::new(FORWARDING),
            &program.saved_forwarding(),
        );
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
    fn forwarding_is_put_back_from_the_saved_value() {
        let dir = tempfile::tempdir().expect("dir");
        let switch = dir.path().join("ip_forward");
        let saved = dir.path().join("ip_forward.before");
        std::fs::write(&switch, "0\n").expect("write");
        assert_eq!(
            save_forwarding(&switch, &saved).expect("save").as_deref(),
            Some("0\n")
        );
        std::fs::write(&switch, "1\n").expect("write");
        // A second save (a start after a crash) keeps the first value.
        assert_eq!(
            save_forwarding(&switch, &saved).expect("save").as_deref(),
            Some("0\n")
        );
        put_back_forwarding(&switch, &saved);
        assert_eq!(std::fs::read_to_string(&switch).expect("read"), "0\n");
        assert!(!saved.exists(), "the saved value is removed once put back");
        std::fs::write(&switch, "1\n").expect("write");
        put_back_forwarding(&switch, &saved);
        assert_eq!(
            std::fs::read_to_string(&switch).expect("read"),
            "1\n",
            "nothing saved, nothing changed"
        );
    }

    #[test]
    fn new_connections_towards_the_clients_are_dropped() {
        let r = ruleset("np-ap3", "198.18.31.1".parse().expect("ip"), 24);
        let rules: Vec<&Value> = r["nftables"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|i| i["add"].get("rule"))
            .filter(|r| r["chain"] == "forward")
            .collect();
        let oif = json!({"match": {"op": "==",
            "left": {"meta": {"key": "oifname"}}, "right": "np-ap3"}});
        let expr: Vec<Value> = rules.iter().map(|r| r["expr"].clone()).collect();
        assert_eq!(rules.len(), 3, "{expr:?}");
        assert_eq!(expr[1][0], oif);
        assert_eq!(expr[1][1]["match"]["left"]["ct"]["key"], "state");
        assert_eq!(expr[1][2], json!({"accept": null}), "replies first");
        assert_eq!(
            expr[2],
            json!([oif, {"drop": null}]),
            "then the rest towards the clients"
        );
    }

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
