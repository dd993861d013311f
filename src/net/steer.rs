//! Routing per session: a routing table per service that carries sessions, `ip rule`s into
//! it, and nftables marks that steer the session owners' traffic (DESIGN §2, ConnMan's
//! session routing: `session_policy`'s per-session tables, fwmark rules and SNAT).
//!
//! What netpilot puts here is tagged, so that a restarted daemon finds and removes what an
//! earlier run left:
//! - routing tables `table_base + 1 ..= table_base + slots` (config `[sessions]`), every
//!   route in them netpilot's (with protocol [`super::apply::PROTOCOL`] too);
//! - `ip rule`s with protocol [`super::apply::PROTOCOL`] (`ip rule` shows `proto 211`), at
//!   priority `rule_priority` (a service's firewall mark → its table) and
//!   `rule_priority + 1` (a session's source address → its service's table). Marks go
//!   first: a steered owner's connection follows its own session even when the source
//!   address the main table picked belongs to another session's service;
//! - the nftables table `inet netpilot`, which netpilot owns whole: replaced atomically in
//!   one `nft -j` transaction when the steering changes, deleted when nothing is steered.
//!
//! Steering by owner: the first packet of every new connection a process of a session
//! owner's uid opens (`ct state new`, `meta skuid`) gets its service's mark on the
//! connection (`ct mark`); every packet of a marked connection carries that mark
//! (`meta mark set ct mark`) in a `route` chain, so the kernel routes it again through the
//! mark's `ip rule` into the service's table. The source address was picked before the mark
//! (through the main table), so connections that leave through another link than that
//! address's are masqueraded to the service's address (ConnMan does the same with SNAT).
//! Connections that were open before, and connections the owner accepts, keep their path.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use futures_util::TryStreamExt;
use rtnetlink::packet_route::route::{RouteMessage, RouteProtocol, RouteScope};
use rtnetlink::packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::{Handle, IpVersion, RouteMessageBuilder};
use serde_json::{json, Value};

use super::apply::{PlannedRoute, PROTOCOL};
use super::netlink::display_chain;

/// The nftables table netpilot owns (family `inet`).
pub const NFT_TABLE: &str = "netpilot";

/// How long one `nft` run may take.
const NFT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where netpilot's tables, rules and marks live (config `[sessions]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SteerConfig {
    /// Tables `table_base + 1 ..= table_base + slots()` are netpilot's.
    pub table_base: u32,
    /// Mark rules at this priority, source-address rules at the next.
    pub rule_priority: u32,
    /// The bits of the firewall mark netpilot uses (contiguous): a service's mark is its
    /// slot shifted into them.
    pub mark_mask: u32,
    /// The `nft` program.
    pub nft: &'static str,
}

impl Default for SteerConfig {
    fn default() -> Self {
        Self {
            table_base: 20_000,
            rule_priority: 10_000,
            mark_mask: 0x00ff_0000,
            nft: "nft",
        }
    }
}

impl SteerConfig {
    /// How many services may carry sessions at once.
    pub fn slots(&self) -> u32 {
        if self.mark_mask == 0 {
            return 0;
        }
        self.mark_mask >> self.mark_mask.trailing_zeros()
    }

    /// The table of slot `slot` (1-based).
    pub fn table(&self, slot: u32) -> u32 {
        self.table_base + slot
    }

    /// The firewall mark of slot `slot` (1-based).
    pub fn mark(&self, slot: u32) -> u32 {
        slot << self.mark_mask.trailing_zeros()
    }

    /// Whether `table` is one of netpilot's.
    pub fn owns_table(&self, table: u32) -> bool {
        table > self.table_base && table - self.table_base <= self.slots()
    }
}

/// The routing table of one service that carries sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceTable {
    /// The service, for logs.
    pub service: String,
    /// The interface the service uses.
    pub index: u32,
    /// Its name (for nftables' `oifname` and logs).
    pub ifname: String,
    /// The firewall mark of the service's connections.
    pub mark: u32,
    /// Its routes (metric 0): the on-link subnet and the default route.
    pub routes: Vec<PlannedRoute>,
}

/// Everything routing per session needs from the kernel.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SteerPlan {
    /// Table range, priorities and mark bits.
    pub config: SteerConfig,
    /// Tables by table id.
    pub tables: BTreeMap<u32, ServiceTable>,
    /// Source addresses whose traffic goes through a table (`from ADDR lookup TABLE`).
    pub sources: BTreeSet<(IpAddr, u32)>,
    /// Uids whose new connections are steered, and the table (by id) they go through.
    pub owners: BTreeMap<u32, u32>,
}

/// One rule netpilot wants, as compared with the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rule {
    /// `from ADDR lookup TABLE`.
    Source { address: IpAddr, table: u32 },
    /// `fwmark MARK/MASK lookup TABLE`, one per family.
    Mark { v6: bool, mark: u32, table: u32 },
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rule::Source { address, table } => write!(f, "from {address} lookup {table}"),
            Rule::Mark { v6, mark, table } => write!(
                f,
                "{}fwmark {mark:#x} lookup {table}",
                if *v6 { "-6 " } else { "" }
            ),
        }
    }
}

/// One route in one of netpilot's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct TableRoute {
    table: u32,
    index: u32,
    route: PlannedRoute,
}

/// Why a steering step failed.
#[derive(Debug, thiserror::Error)]
pub enum SteerError {
    /// A netlink request failed.
    #[error("{action} {object}")]
    Netlink {
        /// What was being done.
        action: &'static str,
        /// To what.
        object: String,
        /// Why.
        #[source]
        source: rtnetlink::Error,
    },
    /// `nft` could not run.
    #[error("run {program} -j -f - for table inet {NFT_TABLE}")]
    NftSpawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `nft` refused the ruleset.
    #[error("nft refused the ruleset of table inet {NFT_TABLE}: {stderr}")]
    NftFailed {
        /// What nft said.
        stderr: String,
    },
    /// `nft` did not finish in time.
    #[error("nft did not finish within {NFT_TIMEOUT:?} for table inet {NFT_TABLE}")]
    NftTimeout,
}

/// The steering side of the applier: remembers the nftables ruleset it last applied.
#[derive(Default)]
pub(super) struct Steerer {
    /// The ruleset last applied successfully; `None` before the first (which also clears
    /// what an earlier run left).
    nft_applied: Option<Value>,
    /// Passes in a row, started by kernel changes alone, that had to change something: the
    /// kernel (or another program) keeps undoing netpilot's rules or routes.
    churn: u32,
}

/// Passes in a row started by kernel changes alone that may change something before the
/// steerer waits for the applier's backoff instead (no busy loop against another program).
const MAX_CHURN: u32 = 3;

impl Steerer {
    /// Makes the kernel's tables, rules and nftables match `plan`. Routes in netpilot's
    /// tables come from `table_routes` (read by the applier in the same pass). Returns
    /// whether everything succeeded; failures are logged and retried by the applier.
    pub async fn reconcile(
        &mut self,
        handle: &Handle,
        plan: &SteerPlan,
        table_routes: &BTreeMap<(u32, u32, PlannedRoute), RouteMessage>,
        kernel_only: bool,
    ) -> bool {
        if !kernel_only {
            self.churn = 0;
        } else if self.churn >= MAX_CHURN {
            tracing::warn!(
                "session routing keeps being undone outside netpilot; trying again later"
            );
            self.churn = 0;
            return false;
        }
        let (ok, changed) = self.apply(handle, plan, table_routes).await;
        if changed && kernel_only {
            self.churn += 1;
        } else if !changed {
            self.churn = 0;
        }
        ok
    }

    /// One reconciliation; returns whether it succeeded and whether it changed anything.
    async fn apply(
        &mut self,
        handle: &Handle,
        plan: &SteerPlan,
        table_routes: &BTreeMap<(u32, u32, PlannedRoute), RouteMessage>,
    ) -> (bool, bool) {
        let mut ok = true;
        let mut changed = false;
        // Tables first, so a rule never points at an empty table; then rules; then marks.
        let want: BTreeSet<TableRoute> = plan
            .tables
            .iter()
            .flat_map(|(&table, t)| {
                t.routes.iter().map(move |r| TableRoute {
                    table,
                    index: t.index,
                    route: *r,
                })
            })
            .collect();
        for r in &want {
            if !table_routes.contains_key(&(r.table, r.index, r.route)) {
                changed = true;
                let ifname = &plan.tables[&r.table].ifname;
                tracing::info!(interface = %ifname, "add route {} table {}", r.route, r.table);
                let msg = table_route_message(r);
                if let Err(e) = handle.route().add(msg).replace().execute().await {
                    ok &= warn_unless_done(SteerError::Netlink {
                        action: "add route",
                        object: format!("{} dev {ifname} table {}", r.route, r.table),
                        source: e,
                    });
                }
            }
        }
        match self.rules(handle, plan).await {
            Ok((done, any)) => {
                ok &= done;
                changed |= any;
            }
            Err(e) => ok &= warn_unless_done(e),
        }
        for ((table, index, route), msg) in table_routes {
            let item = TableRoute {
                table: *table,
                index: *index,
                route: *route,
            };
            if !want.contains(&item) {
                changed = true;
                tracing::info!("delete route {route} table {table}");
                if let Err(e) = handle.route().del(msg.clone()).execute().await {
                    ok &= warn_unless_done(SteerError::Netlink {
                        action: "delete route",
                        object: format!("{route} table {table}"),
                        source: e,
                    });
                }
            }
        }
        let ruleset = nft_ruleset(plan);
        if self.nft_applied.as_ref() != Some(&ruleset) {
            match apply_nft(plan.config.nft, &ruleset).await {
                Ok(()) if plan.tables.is_empty() => {
                    tracing::debug!("nftables table inet {NFT_TABLE} absent");
                    self.nft_applied = Some(ruleset);
                }
                Ok(()) => {
                    tracing::info!(
                        owners = plan.owners.len(),
                        tables = plan.tables.len(),
                        "nftables table inet {NFT_TABLE} set"
                    );
                    self.nft_applied = Some(ruleset);
                }
                // Without nft there is no table of ours to remove: a device that never
                // steers a session does not need nftables.
                Err(SteerError::NftSpawn { source, .. })
                    if plan.tables.is_empty() && source.kind() == std::io::ErrorKind::NotFound =>
                {
                    tracing::debug!("no {} to run: nothing to clean up", plan.config.nft);
                    self.nft_applied = Some(ruleset);
                }
                Err(e) => {
                    tracing::warn!(error = %display_chain(&e), "steer session owners' traffic; will retry");
                    ok = false;
                }
            }
        }
        (ok, changed)
    }

    /// Adds the rules the plan lists and removes netpilot's others. Returns whether every
    /// change succeeded, and whether there was any.
    async fn rules(&self, handle: &Handle, plan: &SteerPlan) -> Result<(bool, bool), SteerError> {
        let mut present: BTreeMap<Rule, RuleMessage> = BTreeMap::new();
        let mut changed = false;
        for version in [IpVersion::V4, IpVersion::V6] {
            let msgs: Vec<RuleMessage> = handle
                .rule()
                .get(version)
                .execute()
                .try_collect()
                .await
                .map_err(|source| SteerError::Netlink {
                action: "list",
                object: "ip rules".into(),
                source,
            })?;
            for msg in msgs {
                if msg
                    .attributes
                    .contains(&RuleAttribute::Protocol(RouteProtocol::Other(PROTOCOL)))
                {
                    match rule_of(&msg, &plan.config) {
                        Some(rule) => {
                            present.insert(rule, msg);
                        }
                        None => {
                            // Ours by its tag but of no shape netpilot makes now: remove it.
                            tracing::info!("delete ip rule {:?}", msg.attributes);
                            changed = true;
                            let _ = handle.rule().del(msg).execute().await;
                        }
                    }
                }
            }
        }
        let want = wanted_rules(plan);
        let mut ok = true;
        for rule in &want {
            if present.contains_key(rule) {
                continue;
            }
            changed = true;
            tracing::info!("add ip rule {rule}");
            let mut request = handle.rule().add();
            *request.message_mut() = rule_message(rule, &plan.config);
            if let Err(e) = request.execute().await {
                ok &= warn_unless_done(SteerError::Netlink {
                    action: "add ip rule",
                    object: rule.to_string(),
                    source: e,
                });
            }
        }
        for (rule, msg) in present {
            if !want.contains(&rule) {
                changed = true;
                tracing::info!("delete ip rule {rule}");
                if let Err(e) = handle.rule().del(msg).execute().await {
                    ok &= warn_unless_done(SteerError::Netlink {
                        action: "delete ip rule",
                        object: rule.to_string(),
                        source: e,
                    });
                }
            }
        }
        Ok((ok, changed))
    }
}

/// Logs a failed step; EEXIST on add and ENOENT/ESRCH on delete mean "already as wanted"
/// and count as success. Returns whether it counts as success.
fn warn_unless_done(e: SteerError) -> bool {
    if let SteerError::Netlink {
        source: rtnetlink::Error::NetlinkError(ref m),
        ..
    } = e
    {
        if matches!(m.raw_code(), -17 | -2 | -3) {
            return true;
        }
    }
    tracing::warn!(error = %display_chain(&e), "session routing: will retry");
    false
}

/// The rules `plan` asks for.
fn wanted_rules(plan: &SteerPlan) -> BTreeSet<Rule> {
    let mut rules: BTreeSet<Rule> = plan
        .sources
        .iter()
        .map(|&(address, table)| Rule::Source { address, table })
        .collect();
    for (&table, t) in &plan.tables {
        for v6 in [false, true] {
            rules.insert(Rule::Mark {
                v6,
                mark: t.mark,
                table,
            });
        }
    }
    rules
}

fn rule_message(rule: &Rule, config: &SteerConfig) -> RuleMessage {
    let mut msg = RuleMessage::default();
    msg.header.action = RuleAction::ToTable;
    msg.attributes
        .push(RuleAttribute::Protocol(RouteProtocol::Other(PROTOCOL)));
    match *rule {
        Rule::Source { address, table } => {
            msg.header.family = family(address);
            msg.header.src_len = if address.is_ipv4() { 32 } else { 128 };
            msg.attributes.push(RuleAttribute::Source(address));
            msg.attributes
                .push(RuleAttribute::Priority(config.rule_priority + 1));
            msg.attributes.push(RuleAttribute::Table(table));
        }
        Rule::Mark { v6, mark, table } => {
            msg.header.family = if v6 {
                AddressFamily::Inet6
            } else {
                AddressFamily::Inet
            };
            msg.attributes.push(RuleAttribute::FwMark(mark));
            msg.attributes.push(RuleAttribute::FwMask(config.mark_mask));
            msg.attributes
                .push(RuleAttribute::Priority(config.rule_priority));
            msg.attributes.push(RuleAttribute::Table(table));
        }
    }
    msg
}

/// A rule netpilot made, read back; `None` for a shape it does not make.
fn rule_of(msg: &RuleMessage, config: &SteerConfig) -> Option<Rule> {
    let mut table = u32::from(msg.header.table);
    let (mut priority, mut source, mut mark, mut mask) = (None, None, None, None);
    for attr in &msg.attributes {
        match attr {
            RuleAttribute::Table(t) => table = *t,
            RuleAttribute::Priority(p) => priority = Some(*p),
            RuleAttribute::Source(a) => source = Some(*a),
            RuleAttribute::FwMark(m) => mark = Some(*m),
            RuleAttribute::FwMask(m) => mask = Some(*m),
            _ => {}
        }
    }
    let v6 = msg.header.family == AddressFamily::Inet6;
    match (priority?, source, mark) {
        (p, Some(address), None) if p == config.rule_priority + 1 => {
            Some(Rule::Source { address, table })
        }
        (p, None, Some(mark)) if p == config.rule_priority && mask == Some(config.mark_mask) => {
            Some(Rule::Mark { v6, mark, table })
        }
        _ => None,
    }
}

fn family(a: IpAddr) -> AddressFamily {
    if a.is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    }
}

fn table_route_message(r: &TableRoute) -> RouteMessage {
    let route = &r.route;
    let scope = if route.gateway.is_some() {
        RouteScope::Universe
    } else {
        RouteScope::Link
    };
    match route.destination {
        IpAddr::V4(dst) => {
            let mut b = RouteMessageBuilder::<Ipv4Addr>::new()
                .destination_prefix(dst, route.prefix_len)
                .output_interface(r.index)
                .table_id(r.table)
                .protocol(RouteProtocol::Other(PROTOCOL))
                .scope(scope);
            if let Some(IpAddr::V4(g)) = route.gateway {
                b = b.gateway(g);
            }
            b.build()
        }
        IpAddr::V6(dst) => {
            let mut b = RouteMessageBuilder::<Ipv6Addr>::new()
                .destination_prefix(dst, route.prefix_len)
                .output_interface(r.index)
                .table_id(r.table)
                .protocol(RouteProtocol::Other(PROTOCOL))
                .scope(scope);
            if let Some(IpAddr::V6(g)) = route.gateway {
                b = b.gateway(g);
            }
            b.build()
        }
    }
}

/// The nftables JSON transaction (libnftables-json(5)) that makes table `inet netpilot`
/// what `plan` says. When something is steered, the table and its two chains are kept (so
/// their hooks stay registered, and connections already translated keep their NAT) and
/// their rules replaced: the table is flushed and filled again, in one transaction. When
/// nothing is, the table is created and deleted, so that it is gone whatever it held.
pub fn nft_ruleset(plan: &SteerPlan) -> Value {
    let table = json!({"family": "inet", "name": NFT_TABLE});
    let mut cmds = vec![json!({"add": {"table": table}})];
    if plan.tables.is_empty() {
        cmds.push(json!({"delete": {"table": table}}));
    } else {
        cmds.push(json!({"flush": {"table": table}}));
        let chain = |name: &str, kind: &str, hook: &str, prio: i32| {
            json!({"add": {"chain": {
                "family": "inet", "table": NFT_TABLE, "name": name,
                "type": kind, "hook": hook, "prio": prio, "policy": "accept"
            }}})
        };
        let rule = |chain: &str, expr: Vec<Value>| {
            json!({"add": {"rule": {
                "family": "inet", "table": NFT_TABLE, "chain": chain, "expr": expr
            }}})
        };
        let mask = plan.config.mark_mask;
        // Mangle priority (-150): a route chain, so that a new mark routes the packet again.
        cmds.push(chain("output", "route", "output", -150));
        // srcnat priority (100).
        cmds.push(chain("postrouting", "nat", "postrouting", 100));
        for (uid, table_id) in &plan.owners {
            let Some(t) = plan.tables.get(table_id) else {
                continue;
            };
            cmds.push(rule(
                "output",
                vec![
                    json!({"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": "new"}}),
                    json!({"match": {"op": "==", "left": {"meta": {"key": "skuid"}}, "right": uid}}),
                    json!({"mangle": {"key": {"ct": {"key": "mark"}}, "value": t.mark}}),
                ],
            ));
        }
        cmds.push(rule(
            "output",
            vec![
                json!({"match": {"op": "!=", "left": {"&": [{"ct": {"key": "mark"}}, mask]}, "right": 0}}),
                json!({"mangle": {"key": {"meta": {"key": "mark"}}, "value": {"ct": {"key": "mark"}}}}),
            ],
        ));
        for t in plan.tables.values() {
            cmds.push(rule(
                "postrouting",
                vec![
                    json!({"match": {"op": "==", "left": {"&": [{"meta": {"key": "mark"}}, mask]}, "right": t.mark}}),
                    json!({"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": t.ifname}}),
                    json!({"masquerade": null}),
                ],
            ));
        }
    }
    json!({ "nftables": cmds })
}

/// Runs `nft -j -f -` with `ruleset` on stdin (one atomic transaction).
async fn apply_nft(program: &str, ruleset: &Value) -> Result<(), SteerError> {
    use tokio::io::AsyncWriteExt;
    let spawn_err = |source| SteerError::NftSpawn {
        program: program.to_string(),
        source,
    };
    let mut child = tokio::process::Command::new(program)
        .args(["-j", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(spawn_err)?;
    let input = ruleset.to_string();
    let run = async {
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input.as_bytes()).await.map_err(spawn_err)?;
        }
        child.wait_with_output().await.map_err(spawn_err)
    };
    let out = tokio::time::timeout(NFT_TIMEOUT, run)
        .await
        .map_err(|_| SteerError::NftTimeout)??;
    if out.status.success() {
        Ok(())
    } else {
        Err(SteerError::NftFailed {
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> SteerPlan {
        let config = SteerConfig::default();
        let mut tables = BTreeMap::new();
        tables.insert(
            config.table(1),
            ServiceTable {
                service: "ethernet_02_cable".into(),
                index: 7,
                ifname: "eth1".into(),
                mark: config.mark(1),
                routes: vec![],
            },
        );
        SteerPlan {
            config,
            tables,
            sources: [("198.18.2.5".parse().expect("ip"), config.table(1))]
                .into_iter()
                .collect(),
            owners: [(1000, config.table(1))].into_iter().collect(),
        }
    }

    #[test]
    fn slots_tables_and_marks() {
        let c = SteerConfig::default();
        assert_eq!(c.slots(), 255);
        assert_eq!(c.mark(1), 0x0001_0000);
        assert_eq!(c.mark(255), 0x00ff_0000);
        assert!(c.owns_table(c.table(1)) && c.owns_table(c.table(255)));
        assert!(!c.owns_table(c.table_base) && !c.owns_table(c.table(256)));
        assert!(!c.owns_table(254), "main is never netpilot's");
    }

    #[test]
    fn rules_read_back_as_themselves() {
        let p = plan();
        let rules = wanted_rules(&p);
        assert_eq!(rules.len(), 3, "a source rule and a mark rule per family");
        for rule in rules {
            assert_eq!(
                rule_of(&rule_message(&rule, &p.config), &p.config),
                Some(rule)
            );
        }
    }

    #[test]
    fn nft_ruleset_replaces_the_table_and_steers_owners() {
        let doc = nft_ruleset(&plan());
        let cmds = doc["nftables"].as_array().expect("commands");
        assert!(cmds[0]["add"]["table"].is_object());
        assert!(cmds[1]["flush"]["table"].is_object(), "old rules go first");
        let text = doc.to_string();
        assert!(
            text.contains(r#""skuid""#) && text.contains("65536"),
            "{text}"
        );
        assert!(text.contains(r#""masquerade":null"#) && text.contains(r#""eth1""#));
        let empty = nft_ruleset(&SteerPlan::default());
        assert_eq!(
            empty["nftables"].as_array().map(Vec::len),
            Some(2),
            "nothing steered: the table is only removed"
        );
    }
}
