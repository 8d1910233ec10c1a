//! `repl.*`: replication between primaries and their replicas, judged
//! across the whole deployment (Sentinel and Cluster).
//!
//! Every check here is deployment-scoped: it asks each primary and replica
//! of the [`Fleet`] and folds what each node showed into one outcome with a
//! [`Tally`], which `sentinel.*` and `cluster.*` use as well.

use crate::check::{Applies, Area, CheckMeta, Evidence, Needs, Outcome, Scope, Severity};
use crate::ctx::{classify, code_of, value_text, Ctx, Unavailable};
use crate::fleet::{Fleet, FleetKind, Member, Role};
use crate::info::Info;
use crate::probe::Permission;
use topology::ErrorCode;

/// Offset distance above which a replica counts as far behind: 1 MiB is
/// far more than a second of writes on the deployments this policy targets,
/// and a failover at that moment loses all of it.
const FAR_BEHIND_BYTES: u64 = 1024 * 1024;

/// `max_replica_lag_seconds` when `verify.toml` does not declare it: the
/// policy's `min-replicas-max-lag 10`.
const DEFAULT_MAX_LAG_SECONDS: u64 = 10;

/// Redis' default `repl-ping-replica-period`: an idle primary sends a
/// replica something at least this often.
const DEFAULT_PING_PERIOD_SECONDS: u64 = 10;

/// Per-node findings folded into one deployment-wide outcome: any failure
/// fails it; else any error makes it an error; else warnings (and nodes that
/// could not be looked at while others could) make it a warning; a check
/// no node could be looked at for is skipped.
#[derive(Debug, Default)]
pub(super) struct Tally {
    fails: Vec<String>,
    errors: Vec<String>,
    warns: Vec<String>,
    skips: Vec<String>,
    passes: usize,
    evidence: Vec<Evidence>,
}

impl Tally {
    /// A node meets the policy.
    pub(super) fn pass(&mut self) {
        self.passes += 1;
    }
    /// A node violates the policy; `what` says how, naming the node.
    pub(super) fn fail(&mut self, what: impl Into<String>) {
        self.fails.push(what.into());
    }
    /// A node is acceptable but worth attention.
    pub(super) fn warn(&mut self, what: impl Into<String>) {
        self.warns.push(what.into());
    }
    /// A node could not be looked at (not permitted, not supported).
    pub(super) fn skip(&mut self, what: impl Into<String>) {
        self.skips.push(what.into());
    }
    /// A node could not be evaluated (the run has a problem).
    pub(super) fn error(&mut self, what: impl Into<String>) {
        self.errors.push(what.into());
    }
    /// Records what `node` answered to `command`.
    pub(super) fn saw(&mut self, node: &str, command: &str, observed: impl Into<String>) {
        self.evidence.push(Evidence::on(node, command, observed));
    }
    /// A command whose reply was not available on `node`: a skip when it is
    /// not permitted or not supported, an error otherwise.
    pub(super) fn unavailable(&mut self, node: &str, command: &str, why: &Unavailable) {
        self.saw(node, command, why.reason().to_owned());
        match why {
            Unavailable::Denied(r) => self.skip(format!("{node}: {command} not permitted ({r})")),
            Unavailable::Failed(r) => self.error(format!("{node}: {command} failed: {r}")),
        }
    }

    /// The outcome: `summary` is the message of a pass; `nothing` the reason
    /// of the skip when no node was looked at.
    pub(super) fn finish(self, summary: impl Into<String>, nothing: &str) -> Outcome {
        let Tally {
            fails,
            errors,
            warns,
            skips,
            passes,
            evidence,
        } = self;
        let outcome = if !fails.is_empty() {
            Outcome::fail(grouped(&fails))
        } else if !errors.is_empty() {
            Outcome::error(grouped(&errors))
        } else if !warns.is_empty() {
            Outcome::warn(grouped(&[warns, skips].concat()))
        } else if !skips.is_empty() && passes == 0 {
            Outcome::skip(grouped(&skips))
        } else if !skips.is_empty() {
            Outcome::warn(format!(
                "{} on the nodes that could be checked; not visible: {}",
                summary.into(),
                grouped(&skips)
            ))
        } else if passes == 0 {
            Outcome::skip(nothing)
        } else {
            Outcome::pass(summary)
        };
        outcome.with(evidence)
    }
}

/// Findings joined with `; `, those that say the same of several nodes
/// (`n1: x`, `n2: x`) said once (`n1, n2: x`).
fn grouped(findings: &[String]) -> String {
    let mut groups: Vec<(Vec<&str>, &str)> = Vec::new();
    for f in findings {
        let (node, what) = match f.split_once(": ") {
            Some((node, what)) if !node.contains(char::is_whitespace) => (Some(node), what),
            _ => (None, f.as_str()),
        };
        match (node, groups.iter_mut().find(|(_, w)| *w == what)) {
            (Some(node), Some((nodes, _))) if !nodes.is_empty() => nodes.push(node),
            (node, _) => groups.push((node.into_iter().collect(), what)),
        }
    }
    groups
        .iter()
        .map(|(nodes, what)| {
            if nodes.is_empty() {
                (*what).to_owned()
            } else {
                format!("{}: {what}", nodes.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Replicas each primary should have: the launched spec, else
/// `[topology] replicas`, else 1.
pub(super) fn expected_replicas(fleet: &Fleet) -> usize {
    fleet
        .expected
        .replicas_per_primary
        .or(fleet.settings.topology.replicas)
        .unwrap_or(1)
}

/// How reports name the data node that announced `addr` (`host:port`): its
/// fleet label when the address is the one the verifier reached it at or
/// its label, else the address itself.
pub(super) fn name_of(fleet: &Fleet, addr: &str) -> String {
    fleet
        .data
        .iter()
        .find(|m| m.label == addr || m.ctx.target.address() == addr)
        .map_or_else(|| addr.to_owned(), |m| m.label.clone())
}

/// The outcome when no reachable data node is a primary.
fn no_primary(fleet: &Fleet) -> Outcome {
    let unreachable: Vec<&str> = fleet.unreachable.iter().map(|(l, _)| l.as_str()).collect();
    Outcome::fail(if unreachable.is_empty() {
        "no reachable data node is a primary".to_owned()
    } else {
        format!(
            "no reachable data node is a primary (unreachable: {})",
            unreachable.join(", ")
        )
    })
}

/// One `slaveN:` line of a primary's `INFO replication`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ReplicaLine {
    /// `ip:port` the replica announced.
    pub(super) addr: String,
    /// `online`, `wait_bgsave`, `send_bulk`, …
    pub(super) state: String,
    /// Replication offset the replica acknowledged.
    pub(super) offset: Option<u64>,
    /// Seconds since its last acknowledgement.
    pub(super) lag: Option<u64>,
}

/// Every `slaveN:` line, in order.
pub(super) fn replica_lines(info: &Info) -> Vec<ReplicaLine> {
    (0..)
        .map_while(|i| info.get(&format!("slave{i}")))
        .map(|line| {
            let field = |name: &str| {
                line.split(',')
                    .filter_map(|kv| kv.split_once('='))
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_owned())
            };
            ReplicaLine {
                addr: format!(
                    "{}:{}",
                    field("ip").unwrap_or_default(),
                    field("port").unwrap_or_default()
                ),
                state: field("state").unwrap_or_default(),
                offset: field("offset").and_then(|v| v.parse().ok()),
                lag: field("lag").and_then(|v| v.parse().ok()),
            }
        })
        .collect()
}

/// The evidence line of a primary's replica list.
fn replica_list_evidence(info: &Info) -> String {
    let mut shown = vec![info.show("connected_slaves")];
    shown.extend((0..).map_while(|i| {
        info.get(&format!("slave{i}"))
            .map(|l| format!("slave{i}:{l}"))
    }));
    shown.join(" ")
}

/// `INFO replication` of a member, recorded as evidence with `fields`.
async fn replication_info(m: &Member, t: &mut Tally, fields: &[&str]) -> Option<Info> {
    match m.ctx.info("replication").await {
        Ok(info) => {
            let shown: Vec<String> = fields.iter().map(|f| info.show(f)).collect();
            t.saw(&m.label, "INFO replication", shown.join(" "));
            Some(info)
        }
        Err(e) => {
            t.unavailable(&m.label, "INFO replication", &e);
            None
        }
    }
}

/// `repl.replicas`
pub struct Replicas;

static REPLICAS: CheckMeta = CheckMeta {
    id: "repl.replicas",
    area: Area::Repl,
    title: "Every primary has its replicas connected and online",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Deployment,
    applies: Applies::REPLICATED,
    why: "A primary without an online replica has nothing to fail over to: its crash is an outage, and with no replica holding the data the writes since the last snapshot are gone. A replica listed but not `online` (still syncing, or its link broken) does not count. Expected: the launched spec, `[topology] replicas` in verify.toml, else 1. https://redis.io/docs/latest/operate/oss_and_stack/management/replication/",
    remediation: "redis-conf/replica.conf: `replicaof <primary> <port>` on each replica and a working masteruser/masterauth (see repl.auth); Helm: `sentinel.dataNodes` (mode sentinel) or `cluster.replicasPerPrimary` (mode cluster); Terraform: `num_cache_clusters` (cluster mode off) or `replicas_per_node_group` (cluster mode on).",
};

check_type!(Replicas, REPLICAS, fleet);

impl Replicas {
    async fn evaluate(&self, fleet: &Fleet) -> Outcome {
        let expected = expected_replicas(fleet);
        let primaries: Vec<&Member> = fleet.data_in(Role::Primary).collect();
        if primaries.is_empty() {
            return no_primary(fleet);
        }
        let mut t = Tally::default();
        for p in primaries {
            let info = match p.ctx.info("replication").await {
                Ok(i) => i,
                Err(e) => {
                    t.unavailable(&p.label, "INFO replication", &e);
                    continue;
                }
            };
            t.saw(&p.label, "INFO replication", replica_list_evidence(&info));
            let lines = replica_lines(&info);
            let online = lines.iter().filter(|l| l.state == "online").count();
            if online >= expected {
                t.pass();
                continue;
            }
            let not_online: Vec<String> = lines
                .iter()
                .filter(|l| l.state != "online")
                .map(|l| format!("{} {}", name_of(fleet, &l.addr), l.state))
                .collect();
            t.fail(format!(
                "{}: {online} of {expected} replica(s) online{}",
                p.label,
                if not_online.is_empty() {
                    String::new()
                } else {
                    format!(" (not online: {})", not_online.join(", "))
                }
            ));
        }
        t.finish(
            format!("every primary has at least {expected} replica(s) online"),
            "no primary could be asked",
        )
    }
}

/// `repl.link`
pub struct Link;

static LINK: CheckMeta = CheckMeta {
    id: "repl.link",
    area: Area::Repl,
    title: "Every replica's link to its primary is up and current",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Deployment,
    applies: Applies::REPLICATED,
    why: "A replica whose link is down (wrong masterauth, network, a full sync that keeps failing) serves stale reads and, if promoted, brings back an old copy of the data: every write it missed is lost. A replica that has heard nothing from its primary for longer than the lag bound (`[topology] max_replica_lag_seconds`, default 10 s, the policy's min-replicas-max-lag; never less than one repl-ping-replica-period, the longest an idle primary stays silent) or that acknowledged nothing for that long is as good as disconnected. The offset distance is what a failover now would lose; over 1 MiB is reported. https://redis.io/docs/latest/operate/oss_and_stack/management/replication/",
    remediation: "Fix the link the failure names: redis-conf/replication.conf `masteruser replication` and `masterauth` with the `replication` user's password (Helm: `auth.existingSecret` key replication-password), reachable `replica-announce-ip`/`replicaof` addresses; on ElastiCache watch the Terraform module's replication-lag alarm (`alarm_thresholds`).",
};

check_type!(Link, LINK, fleet);

impl Link {
    async fn evaluate(&self, fleet: &Fleet) -> Outcome {
        let bound = fleet
            .settings
            .topology
            .max_replica_lag_seconds
            .unwrap_or(DEFAULT_MAX_LAG_SECONDS);
        let mut t = Tally::default();
        // Each primary's offset by replication id, to measure how far each
        // replica is behind without having to map announced addresses.
        let mut offsets: Vec<(String, String, u64)> = Vec::new();
        for p in fleet.data_in(Role::Primary) {
            let Some(info) = replication_info(p, &mut t, &["master_repl_offset"]).await else {
                continue;
            };
            if let (Some(id), Some(off)) = (
                info.get("master_replid"),
                info.get_u64("master_repl_offset"),
            ) {
                offsets.push((id.to_owned(), p.label.clone(), off));
            }
            for line in replica_lines(&info) {
                if let Some(lag) = line.lag.filter(|l| *l > bound && line.state == "online") {
                    t.fail(format!(
                        "{}: replica {} last acknowledged {lag} s ago (bound {bound} s)",
                        p.label,
                        name_of(fleet, &line.addr)
                    ));
                }
            }
        }
        let replicas: Vec<&Member> = fleet.data_in(Role::Replica).collect();
        for r in &replicas {
            let Some(info) = replication_info(
                r,
                &mut t,
                &[
                    "master_host",
                    "master_port",
                    "master_link_status",
                    "master_last_io_seconds_ago",
                    "master_sync_in_progress",
                    "slave_repl_offset",
                ],
            )
            .await
            else {
                continue;
            };
            judge_link(r, &info, bound, &offsets, &mut t).await;
        }
        if replicas.is_empty() {
            t.skip("no replica among the reachable data nodes (repl.replicas reports the count)");
        }
        t.finish(
            format!("every replica's link is up, within {bound} s and under 1 MiB behind"),
            "no replica to check",
        )
    }
}

async fn judge_link(
    r: &Member,
    info: &Info,
    bound: u64,
    offsets: &[(String, String, u64)],
    t: &mut Tally,
) {
    let primary = format!(
        "{}:{}",
        info.get("master_host").unwrap_or("?"),
        info.get("master_port").unwrap_or("?")
    );
    let status = info.get("master_link_status").unwrap_or("<absent>");
    if status != "up" {
        let since = info
            .get("master_link_down_since_seconds")
            .filter(|s| *s != "-1")
            .map(|s| format!(" for {s} s"))
            .unwrap_or_default();
        let syncing = if info.get("master_sync_in_progress") == Some("1") {
            ", full sync in progress"
        } else {
            ""
        };
        t.fail(format!(
            "{}: link to {primary} is {status}{since}{syncing}",
            r.label
        ));
        return;
    }
    // An idle primary only pings every repl-ping-replica-period seconds;
    // silence up to that (plus a second of rounding) is healthy.
    let ping_period = match r.ctx.config_get("repl-ping-replica-period").await {
        Ok(Some(v)) => v.parse().unwrap_or(DEFAULT_PING_PERIOD_SECONDS),
        _ => DEFAULT_PING_PERIOD_SECONDS,
    };
    let allowed = bound.max(ping_period + 1);
    let last_io = info
        .get("master_last_io_seconds_ago")
        .and_then(|v| v.parse::<i64>().ok());
    if let Some(s) = last_io.filter(|s| *s < 0 || s.unsigned_abs() > allowed) {
        t.fail(format!(
            "{}: nothing from {primary} for {s} s (bound {allowed} s)",
            r.label
        ));
        return;
    }
    let own = info.get_u64("slave_repl_offset");
    let theirs = info
        .get("master_replid")
        .and_then(|id| offsets.iter().find(|(pid, _, _)| pid == id));
    match (own, theirs) {
        (Some(own), Some((_, plabel, off))) => {
            let behind = off.saturating_sub(own);
            t.saw(
                &r.label,
                "offset distance",
                format!("{behind} bytes behind {plabel} (master_repl_offset {off}, slave_repl_offset {own})"),
            );
            if behind > FAR_BEHIND_BYTES {
                t.warn(format!(
                    "{}: {behind} bytes behind {plabel}: a failover now loses them",
                    r.label
                ));
            } else {
                t.pass();
            }
        }
        _ => {
            t.saw(
                &r.label,
                "offset distance",
                "unknown: its primary is not among the nodes checked",
            );
            t.pass();
        }
    }
}

/// `repl.read-only`
pub struct ReadOnly;

static READ_ONLY: CheckMeta = CheckMeta {
    id: "repl.read-only",
    area: Area::Repl,
    title: "Replicas refuse writes (replica-read-only yes)",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Deployment,
    applies: Applies::REPLICATED,
    why: "A writable replica accepts writes its primary never sees: they diverge silently and are thrown away at the next full resync, and a client that was pointed at the replica (stale discovery, a failover in flight) loses every write it made there. Primaries are looked at too: after a failover they become replicas with the same setting. https://redis.io/docs/latest/operate/oss_and_stack/management/replication/#read-only-replica",
    remediation: "redis-conf/replication.conf and cluster.conf: `replica-read-only yes` (the Helm chart renders the same files; ElastiCache replicas are always read-only).",
};

check_type!(ReadOnly, READ_ONLY, fleet);

impl ReadOnly {
    async fn evaluate(&self, fleet: &Fleet) -> Outcome {
        let mut t = Tally::default();
        for m in fleet.data.iter() {
            let replica = m.role == Role::Replica;
            if !replica && m.role != Role::Primary {
                continue;
            }
            let value = match m.ctx.config_get("replica-read-only").await {
                Ok(v) => {
                    t.saw(
                        &m.label,
                        "CONFIG GET replica-read-only",
                        v.clone().unwrap_or_else(|| "<not supported>".into()),
                    );
                    v
                }
                // INFO is allowed where CONFIG is not (managed services);
                // replicas report the same setting there.
                Err(Unavailable::Denied(r)) if replica => match m.ctx.info("replication").await {
                    Ok(info) if info.get("slave_read_only").is_some() => {
                        t.saw(&m.label, "INFO replication", info.show("slave_read_only"));
                        info.get("slave_read_only")
                            .map(|v| if v == "1" { "yes" } else { "no" }.to_owned())
                    }
                    _ => {
                        t.unavailable(
                            &m.label,
                            "CONFIG GET replica-read-only",
                            &Unavailable::Denied(r),
                        );
                        continue;
                    }
                },
                Err(e) => {
                    if replica {
                        t.unavailable(&m.label, "CONFIG GET replica-read-only", &e);
                    }
                    continue;
                }
            };
            match (value.as_deref(), replica) {
                (Some("yes"), _) => t.pass(),
                (Some(v), true) => t.fail(format!(
                    "{}: replica-read-only is `{v}`: it accepts writes its primary never sees",
                    m.label
                )),
                (Some(v), false) => t.warn(format!(
                    "{} (primary): replica-read-only is `{v}`: once demoted by a failover it accepts writes",
                    m.label
                )),
                (None, _) => t.skip(format!("{}: no replica-read-only parameter", m.label)),
            }
        }
        t.finish(
            "every replica (and primary, for after a failover) has replica-read-only yes",
            "no replica or primary among the reachable data nodes",
        )
    }
}

/// `repl.auth`
pub struct Auth;

static AUTH: CheckMeta = CheckMeta {
    id: "repl.auth",
    area: Area::Repl,
    title: "Replication is authenticated, as a least-privileged user",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Deployment,
    applies: Applies::REPLICATED,
    why: "Anyone who can connect to an unauthenticated primary can run PSYNC and receive the whole dataset, or pose as a replica. Replicas that authenticate without `masteruser` use the default user (requirepass): the one full-power password then sits in every replica's config, and whoever reads it owns the deployment. The replication user needs PSYNC and REPLCONF only; one that may run FLUSHALL, CONFIG or ACL turns a leaked replication secret into full control. Judged with ACL DRYRUN on each primary, which executes nothing. https://redis.io/docs/latest/operate/oss_and_stack/management/replication/#authentication and https://redis.io/docs/latest/operate/oss_and_stack/management/security/acl/",
    remediation: "redis-conf/replication.conf and cluster.conf: `masteruser replication` and `masterauth <its password>`; redis-conf/users.acl: `user replication on #<sha256> resetkeys resetchannels -@all +ping +auth +hello +psync +replconf` (Helm renders both, the password from `auth.existingSecret` key replication-password; ElastiCache manages replication auth itself).",
};

check_type!(Auth, AUTH, fleet);

/// What the replication user must not be able to run (the same probes as
/// `acl.dangerous-commands`), plus a key write, which it does not need.
const KEY_WRITE_PROBE: &[&str] = &["SET", "__verify-probe-none", "x"];

impl Auth {
    async fn evaluate(&self, fleet: &Fleet) -> Outcome {
        let mut t = Tally::default();
        let primaries: Vec<&Member> = fleet.data_in(Role::Primary).collect();
        if primaries.is_empty() {
            return no_primary(fleet);
        }
        let mut open_primary = false;
        for p in &primaries {
            let reply = p.ctx.anonymous_ping().await;
            t.saw(
                &p.label,
                "PING (new connection, no credentials)",
                match &reply {
                    Ok(s) => s.clone(),
                    Err(e) => e.clone(),
                },
            );
            match reply {
                Ok(_) => {
                    open_primary = true;
                    t.fail(format!(
                        "{}: answers without credentials: anyone who reaches it can PSYNC the whole dataset",
                        p.label
                    ));
                }
                Err(e) if refused(&e) => t.pass(),
                Err(e) => t.error(format!(
                    "{}: could not test an unauthenticated connection: {e}",
                    p.label
                )),
            }
        }
        let mut users: Vec<String> = Vec::new();
        for r in fleet.data_in(Role::Replica) {
            match r.ctx.config_get("masteruser").await {
                Ok(user) => {
                    let user = user.unwrap_or_default();
                    t.saw(
                        &r.label,
                        "CONFIG GET masteruser",
                        if user.is_empty() { "<empty>" } else { &user },
                    );
                    if user.is_empty() {
                        if !open_primary {
                            t.fail(format!(
                                "{}: no masteruser: it authenticates as the default user (requirepass), the full-power password",
                                r.label
                            ));
                        }
                    } else if !users.contains(&user) {
                        users.push(user);
                    }
                }
                Err(e) => t.unavailable(&r.label, "CONFIG GET masteruser", &e),
            }
        }
        for user in &users {
            for p in &primaries {
                judge_replication_user(p, user, &mut t).await;
            }
        }
        t.finish(
            match users.as_slice() {
                [] => "every primary requires authentication".to_owned(),
                us => format!(
                    "primaries require authentication; replicas use {} (no admin, dangerous or key access)",
                    us.iter().map(|u| format!("`{u}`")).collect::<Vec<_>>().join(", ")
                ),
            },
            "nothing to check",
        )
    }
}

/// A reply that refuses an unauthenticated client (`NOAUTH`, or `DENIED`
/// from protected mode).
pub(super) fn refused(e: &str) -> bool {
    let code = code_of(e);
    code == ErrorCode::NoAuth || code == ErrorCode::Other("DENIED".into())
}

async fn judge_replication_user(p: &Member, user: &str, t: &mut Tally) {
    let getuser = format!("ACL GETUSER {user}");
    let rules = match p.ctx.cached(&["ACL", "GETUSER", user]).await {
        Ok(redis::Value::Nil) => {
            t.saw(&p.label, &getuser, "(nil)");
            t.fail(format!(
                "{}: masteruser `{user}` does not exist here: replicas cannot authenticate",
                p.label
            ));
            return;
        }
        Ok(v) => {
            let rules = getuser_field(&v, "commands").unwrap_or_default();
            t.saw(&p.label, &getuser, format!("commands: {rules}"));
            rules
        }
        Err(e) => {
            t.unavailable(&p.label, &getuser, &classify(e));
            return;
        }
    };
    let mut allowed = Vec::new();
    let mut unknown = false;
    let probes = super::acl::PROBES.iter().copied().chain([KEY_WRITE_PROBE]);
    for argv in probes {
        let mut full = vec!["ACL", "DRYRUN", user];
        full.extend_from_slice(argv);
        let reply = p.ctx.cached(&full).await.map(|v| value_text(&v));
        match Permission::from_dryrun_reply(reply) {
            Permission::Allowed(_) => allowed.push(argv[0]),
            Permission::Denied(_) => {}
            Permission::Unknown(_) => unknown = true,
        }
    }
    t.saw(
        &p.label,
        &format!(
            "ACL DRYRUN {user} <{} probes>",
            super::acl::PROBES.len() + 1
        ),
        if allowed.is_empty() {
            "all denied".to_owned()
        } else {
            format!("allowed: {}", allowed.join(", "))
        },
    );
    let powerful: Vec<&str> = allowed.iter().copied().filter(|c| *c != "SET").collect();
    if !powerful.is_empty() {
        t.fail(format!(
            "{}: replication user `{user}` may run {}: a leaked replication secret is full control",
            p.label,
            powerful.join(", ")
        ));
    } else if unknown {
        // ACL DRYRUN unavailable: judge the rules as written.
        if has_full_power(&rules) {
            t.fail(format!(
                "{}: replication user `{user}` has `{rules}`: a leaked replication secret is full control",
                p.label
            ));
        } else {
            t.pass();
        }
    } else if allowed.contains(&"SET") {
        t.warn(format!(
            "{}: replication user `{user}` can write keys; PSYNC and REPLCONF are all it needs",
            p.label
        ));
    } else {
        t.pass();
    }
}

/// Whether ACL rules grant every command, or the admin or dangerous
/// categories, without taking them away again.
fn has_full_power(rules: &str) -> bool {
    let mut power = false;
    for rule in rules.split_whitespace() {
        match rule {
            "+@all" | "allcommands" | "+@admin" | "+@dangerous" => power = true,
            "-@all" | "nocommands" => power = false,
            _ => {}
        }
    }
    power && !(rules.contains("-@admin") && rules.contains("-@dangerous"))
}

/// A field of an `ACL GETUSER` reply (RESP2 flat array or RESP3 map).
fn getuser_field(v: &redis::Value, name: &str) -> Option<String> {
    crate::discover::row(v).remove(name)
}

/// `repl.min-replicas`
pub struct MinReplicas;

static MIN_REPLICAS: CheckMeta = CheckMeta {
    id: "repl.min-replicas",
    area: Area::Repl,
    title: "Primaries refuse writes without enough current replicas, as declared",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Deployment,
    applies: Applies::REPLICATED,
    why: "Replication is asynchronous: a primary cut off from its replicas keeps acknowledging writes until Sentinel demotes it, and the resync then discards all of them (Jepsen 2013 showed this for Sentinel: https://aphyr.com/posts/283-jepsen-redis). min-replicas-to-write N with min-replicas-max-lag S makes the isolated primary stop taking writes after S seconds, which bounds the loss. Declared value: `[topology] min_replicas_to_write` in verify.toml, else the policy's (1 for Sentinel, 0 for Cluster, where cluster-node-timeout bounds the minority side); the lag at most `max_replica_lag_seconds` (default 10). Replicas are looked at too: they enforce it once promoted. https://redis.io/docs/latest/operate/oss_and_stack/management/replication/#allow-writes-only-with-n-attached-replicas",
    remediation: "redis-conf/replication.conf: `min-replicas-to-write 1` and `min-replicas-max-lag 10` (cluster.conf: `min-replicas-to-write 0`); Helm: `sentinel.minReplicasToWrite`; or declare the intended value in verify.toml `[topology] min_replicas_to_write`.",
};

check_type!(MinReplicas, MIN_REPLICAS, fleet);

impl MinReplicas {
    async fn evaluate(&self, fleet: &Fleet) -> Outcome {
        let declared = u64::from(fleet.settings.topology.min_replicas_to_write.unwrap_or(
            match fleet.kind {
                FleetKind::Sentinel { .. } => 1,
                FleetKind::Cluster | FleetKind::Standalone => 0,
            },
        ));
        let lag_bound = fleet
            .settings
            .topology
            .max_replica_lag_seconds
            .unwrap_or(DEFAULT_MAX_LAG_SECONDS);
        let replicas = expected_replicas(fleet);
        let mut t = Tally::default();
        if fleet.data_in(Role::Primary).next().is_none() {
            return no_primary(fleet);
        }
        for m in &fleet.data {
            let primary = match m.role {
                Role::Primary => true,
                Role::Replica => false,
                _ => continue,
            };
            let Some((to_write, max_lag)) = read_min_replicas(&m.ctx, &m.label, &mut t).await
            else {
                continue;
            };
            let mut problems = Vec::new();
            if to_write < declared {
                problems.push(format!(
                    "min-replicas-to-write {to_write} is below the declared {declared}"
                ));
            }
            if to_write > 0 && max_lag == 0 {
                problems.push("min-replicas-max-lag 0 turns the limit off".to_owned());
            } else if to_write > 0 && max_lag > lag_bound {
                problems.push(format!(
                    "min-replicas-max-lag {max_lag} s exceeds {lag_bound} s"
                ));
            }
            if usize::try_from(to_write).is_ok_and(|n| n > replicas) {
                problems.push(format!(
                    "min-replicas-to-write {to_write} can never be met with {replicas} replica(s): every write is refused"
                ));
            }
            if problems.is_empty() {
                t.pass();
            } else if primary {
                t.fail(format!("{}: {}", m.label, problems.join(", ")));
            } else {
                t.warn(format!(
                    "{} (replica, applies once promoted): {}",
                    m.label,
                    problems.join(", ")
                ));
            }
        }
        t.finish(
            format!("min-replicas-to-write at least {declared}, lag at most {lag_bound} s, on every primary and replica"),
            "no primary or replica to check",
        )
    }
}

/// `min-replicas-to-write` and `min-replicas-max-lag` of one node.
async fn read_min_replicas(ctx: &Ctx, label: &str, t: &mut Tally) -> Option<(u64, u64)> {
    let mut values = [0_u64; 2];
    for (slot, name) in values
        .iter_mut()
        .zip(["min-replicas-to-write", "min-replicas-max-lag"])
    {
        let command = format!("CONFIG GET {name}");
        match ctx.config_get(name).await {
            Ok(Some(v)) => {
                t.saw(label, &command, v.clone());
                match v.parse() {
                    Ok(n) => *slot = n,
                    Err(_) => {
                        t.error(format!("{label}: {name} is not a number: `{v}`"));
                        return None;
                    }
                }
            }
            Ok(None) => {
                t.saw(label, &command, "<not supported>");
                t.skip(format!("{label}: no {name} parameter"));
                return None;
            }
            Err(e) => {
                t.unavailable(label, &command, &e);
                return None;
            }
        }
    }
    Some((values[0], values[1]))
}

#[cfg(test)]
pub(super) mod testing {
    //! Captured fleets and a live harness shared by the `repl`, `sentinel`
    //! and `cluster` tests.
    use crate::check::Check;
    use crate::check::Status;
    use crate::config::Settings;
    use crate::ctx::Captured;
    use crate::fleet::{Fleet, FleetKind, Role};
    use std::time::Duration;
    use topology::{Deployment, LaunchOptions, Launcher, Profile, Timeouts, Topology};

    /// A captured Sentinel fleet: data nodes and Sentinels.
    pub fn sentinel_fleet(
        data: Vec<(&str, Role, Captured)>,
        sentinels: Vec<(&str, Captured)>,
        settings: Settings,
    ) -> Fleet {
        Fleet::captured(
            FleetKind::Sentinel {
                master: "mymaster".into(),
            },
            data,
            sentinels,
            settings,
        )
    }

    /// A captured Cluster fleet.
    pub fn cluster_fleet(data: Vec<(&str, Role, Captured)>) -> Fleet {
        Fleet::captured(FleetKind::Cluster, data, vec![], Settings::default())
    }

    /// Each check's id, status and message, on a deployment launched
    /// locally with `profile`; bounded at 60 s.
    pub async fn run_live(
        topology: Topology,
        profile: Profile,
        checks: &[&dyn Check],
    ) -> Vec<(&'static str, Status, String)> {
        let work = async {
            let options = LaunchOptions::from_env().expect("launch options");
            let d = Deployment::launch_with(&topology, profile, &options, Launcher::Process)
                .await
                .expect("launch");
            let timeouts = Timeouts {
                connect: Duration::from_secs(2),
                response: Duration::from_secs(2),
            };
            let settings = Settings::default();
            let fleet = crate::discover::discover(
                &d.service(),
                &timeouts,
                &settings,
                Some(crate::discover::LaunchedView::of(&d)),
            )
            .await
            .expect("discover");
            let results = crate::runner::run_checks(&fleet, checks).await;
            results
                .into_iter()
                .map(|r| {
                    let detail = format!(
                        "{}: {:?} {} {:?}",
                        r.meta.id, r.outcome.status, r.outcome.message, r.outcome.evidence
                    );
                    (r.meta.id, r.outcome.status, detail)
                })
                .inspect(|(_, _, detail)| eprintln!("{detail}"))
                .collect::<Vec<_>>()
        };
        tokio::time::timeout(Duration::from_secs(60), work)
            .await
            .expect("live test bounded at 60 s")
    }

    /// Asserts every result passes or warns.
    pub fn assert_never_fails(results: &[(&'static str, Status, String)], checks: usize) {
        assert_eq!(results.len(), checks, "{results:#?}");
        for (id, status, detail) in results {
            assert!(
                matches!(status, Status::Pass | Status::Warn),
                "{id} must pass or warn on the hardened deployment: {detail}"
            );
        }
    }

    /// The status of `id` in live results.
    pub fn status_of(results: &[(&'static str, Status, String)], id: &str) -> (Status, String) {
        results
            .iter()
            .find(|(i, _, _)| *i == id)
            .map(|(_, s, d)| (*s, d.clone()))
            .unwrap_or_else(|| panic!("{id} not in {results:#?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{cluster_fleet, sentinel_fleet};
    use super::*;
    use crate::check::Status;
    use crate::checks::testing::run_fleet;
    use crate::config::{Settings, TopologySettings};
    use crate::ctx::Captured;
    use redis::Value;

    /// `INFO replication` of a primary with these `slaveN` lines.
    fn primary_info(replid: &str, offset: u64, slaves: &[&str]) -> String {
        let mut s = format!(
            "# Replication\r\nrole:master\r\nconnected_slaves:{}\r\n",
            slaves.len()
        );
        for (i, l) in slaves.iter().enumerate() {
            s.push_str(&format!("slave{i}:{l}\r\n"));
        }
        s.push_str(&format!(
            "master_failover_state:no-failover\r\nmaster_replid:{replid}\r\nmaster_repl_offset:{offset}\r\n"
        ));
        s
    }

    /// `INFO replication` of a replica (captured from redis-server 7.0.15).
    fn replica_info(status: &str, last_io: i64, replid: &str, offset: u64) -> String {
        format!(
            "# Replication\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:7001\r\nmaster_link_status:{status}\r\nmaster_last_io_seconds_ago:{last_io}\r\nmaster_sync_in_progress:0\r\nslave_read_repl_offset:{offset}\r\nslave_repl_offset:{offset}\r\nmaster_link_down_since_seconds:-1\r\nslave_priority:100\r\nslave_read_only:1\r\nreplica_announced:1\r\nconnected_slaves:0\r\nmaster_replid:{replid}\r\nmaster_repl_offset:{offset}\r\n"
        )
    }

    const ONLINE_2: &str = "ip=127.0.0.1,port=7002,state=online,offset=596,lag=0";
    const ONLINE_3: &str = "ip=127.0.0.1,port=7003,state=online,offset=596,lag=1";

    fn two_replicas() -> Settings {
        Settings {
            topology: TopologySettings {
                replicas: Some(2),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn parses_replica_lines() {
        let info = Info::parse(&primary_info(
            "r1",
            596,
            &[
                ONLINE_2,
                "ip=10.0.0.3,port=6379,state=wait_bgsave,offset=0,lag=0",
            ],
        ));
        let lines = replica_lines(&info);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].addr, "127.0.0.1:7002");
        assert_eq!((lines[0].offset, lines[0].lag), (Some(596), Some(0)));
        assert_eq!(lines[1].state, "wait_bgsave");
    }

    #[test]
    fn replicas_pass_when_all_expected_are_online_and_fail_naming_the_primary() {
        let ok = sentinel_fleet(
            vec![(
                "n1",
                Role::Primary,
                Captured::default().text(
                    "INFO replication",
                    &primary_info("r1", 596, &[ONLINE_2, ONLINE_3]),
                ),
            )],
            vec![],
            two_replicas(),
        );
        let o = run_fleet(&Replicas, &ok);
        assert_eq!(o.status, Status::Pass, "{o:?}");
        assert!(o.evidence[0].observed.contains("state=online"));

        let short = sentinel_fleet(
            vec![(
                "n1",
                Role::Primary,
                Captured::default().text(
                    "INFO replication",
                    &primary_info(
                        "r1",
                        596,
                        &[
                            ONLINE_2,
                            "ip=127.0.0.1,port=7003,state=wait_bgsave,offset=0,lag=0",
                        ],
                    ),
                ),
            )],
            vec![],
            two_replicas(),
        );
        let o = run_fleet(&Replicas, &short);
        assert_eq!(o.status, Status::Fail);
        assert_eq!(
            o.message,
            "n1: 1 of 2 replica(s) online (not online: 127.0.0.1:7003 wait_bgsave)"
        );

        // Without a declaration, one replica is the floor.
        let alone = cluster_fleet(vec![(
            "n3",
            Role::Primary,
            Captured::default().text("INFO replication", &primary_info("r3", 0, &[])),
        )]);
        let o = run_fleet(&Replicas, &alone);
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.starts_with("n3: 0 of 1"), "{}", o.message);
    }

    #[test]
    fn replicas_skip_when_info_is_denied_and_fail_without_a_primary() {
        let denied = sentinel_fleet(
            vec![(
                "n1",
                Role::Primary,
                Captured::default().reply(
                    "INFO replication",
                    Err("NOPERM this user has no permissions to run the 'info' command"),
                ),
            )],
            vec![],
            Settings::default(),
        );
        assert_eq!(run_fleet(&Replicas, &denied).status, Status::Skip);
        let none = sentinel_fleet(
            vec![("n2", Role::Replica, Captured::default())],
            vec![],
            Settings::default(),
        );
        assert_eq!(run_fleet(&Replicas, &none).status, Status::Fail);
    }

    fn link_fleet(replica: Captured) -> Fleet {
        sentinel_fleet(
            vec![
                (
                    "n1",
                    Role::Primary,
                    Captured::default()
                        .text("INFO replication", &primary_info("r1", 5000, &[ONLINE_2])),
                ),
                ("n2", Role::Replica, replica),
            ],
            vec![],
            Settings::default(),
        )
    }

    #[test]
    fn link_passes_when_up_and_current() {
        let o = run_fleet(
            &Link,
            &link_fleet(
                Captured::default().text("INFO replication", &replica_info("up", 1, "r1", 4990)),
            ),
        );
        assert_eq!(o.status, Status::Pass, "{o:?}");
        assert!(o
            .evidence
            .iter()
            .any(|e| e.observed.starts_with("10 bytes behind n1")));
    }

    #[test]
    fn link_fails_naming_the_replica_when_down_or_silent() {
        let down = Captured::default().text("INFO replication", &replica_info("down", -1, "x", 0));
        let o = run_fleet(&Link, &link_fleet(down));
        assert_eq!(o.status, Status::Fail);
        assert_eq!(o.message, "n2: link to 127.0.0.1:7001 is down");

        let silent = Captured::default()
            .text("INFO replication", &replica_info("up", 30, "r1", 5000))
            .config("repl-ping-replica-period", "10");
        let o = run_fleet(&Link, &link_fleet(silent));
        assert_eq!(o.status, Status::Fail);
        assert_eq!(
            o.message,
            "n2: nothing from 127.0.0.1:7001 for 30 s (bound 11 s)"
        );

        // A primary that has not had an acknowledgement for too long.
        let lagging = sentinel_fleet(
            vec![(
                "n1",
                Role::Primary,
                Captured::default().text(
                    "INFO replication",
                    &primary_info(
                        "r1",
                        10,
                        &["ip=127.0.0.1,port=7002,state=online,offset=10,lag=25"],
                    ),
                ),
            )],
            vec![],
            Settings::default(),
        );
        let o = run_fleet(&Link, &lagging);
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.message.contains("last acknowledged 25 s ago"),
            "{}",
            o.message
        );
    }

    #[test]
    fn link_warns_when_far_behind_and_skips_when_denied() {
        let far = 3 * 1024 * 1024;
        let fleet = sentinel_fleet(
            vec![
                (
                    "n1",
                    Role::Primary,
                    Captured::default()
                        .text("INFO replication", &primary_info("r1", far, &[ONLINE_2])),
                ),
                (
                    "n2",
                    Role::Replica,
                    Captured::default()
                        .text("INFO replication", &replica_info("up", 0, "r1", 1000)),
                ),
            ],
            vec![],
            Settings::default(),
        );
        let o = run_fleet(&Link, &fleet);
        assert_eq!(o.status, Status::Warn, "{o:?}");
        assert!(o.message.starts_with("n2: 3144728 bytes behind n1"));

        let denied = Captured::default().reply("INFO replication", Err("NOPERM no permissions"));
        let fleet = sentinel_fleet(
            vec![("n2", Role::Replica, denied)],
            vec![],
            Settings::default(),
        );
        assert_eq!(run_fleet(&Link, &fleet).status, Status::Skip);
    }

    #[test]
    fn read_only_pass_fail_warn_and_skip() {
        let fleet = |n1: &str, n2: Captured| {
            sentinel_fleet(
                vec![
                    (
                        "n1",
                        Role::Primary,
                        Captured::default().config("replica-read-only", n1),
                    ),
                    ("n2", Role::Replica, n2),
                ],
                vec![],
                Settings::default(),
            )
        };
        let yes = || Captured::default().config("replica-read-only", "yes");
        assert_eq!(
            run_fleet(&ReadOnly, &fleet("yes", yes())).status,
            Status::Pass
        );
        let o = run_fleet(
            &ReadOnly,
            &fleet("yes", Captured::default().config("replica-read-only", "no")),
        );
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.starts_with("n2: replica-read-only is `no`"));
        assert_eq!(
            run_fleet(&ReadOnly, &fleet("no", yes())).status,
            Status::Warn
        );

        // CONFIG denied: INFO's slave_read_only answers instead.
        let managed = |ro: Option<&str>| {
            let c = Captured::default()
                .reply("CONFIG GET replica-read-only", Err("NOPERM no permissions"));
            match ro {
                Some(v) => c.text(
                    "INFO replication",
                    &format!("role:slave\r\nslave_read_only:{v}\r\n"),
                ),
                None => c.reply("INFO replication", Err("NOPERM no permissions")),
            }
        };
        let only_replica = |c: Captured| {
            sentinel_fleet(vec![("n2", Role::Replica, c)], vec![], Settings::default())
        };
        assert_eq!(
            run_fleet(&ReadOnly, &only_replica(managed(Some("1")))).status,
            Status::Pass
        );
        assert_eq!(
            run_fleet(&ReadOnly, &only_replica(managed(Some("0")))).status,
            Status::Fail
        );
        let o = run_fleet(&ReadOnly, &only_replica(managed(None)));
        assert_eq!(o.status, Status::Skip, "{o:?}");
        assert!(o.message.contains("not permitted"));
    }

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn getuser(commands: &str) -> Value {
        Value::Array(vec![
            bulk("flags"),
            Value::Array(vec![bulk("on")]),
            bulk("commands"),
            bulk(commands),
            bulk("keys"),
            bulk(""),
        ])
    }

    /// A primary whose `replication` user answers every DRYRUN probe with
    /// `allowed` (OK) or a denial.
    fn primary_with_user(anon: Result<Value, &str>, commands: &str, allowed: &[&str]) -> Captured {
        let mut c = Captured::default()
            .reply("ANON PING", anon)
            .reply("ACL GETUSER replication", Ok(getuser(commands)));
        for argv in crate::checks::acl::PROBES
            .iter()
            .copied()
            .chain([KEY_WRITE_PROBE])
        {
            let reply = if allowed.contains(&argv[0]) {
                Value::Okay
            } else {
                bulk(&format!(
                    "User replication has no permissions to run the '{}' command",
                    argv[0].to_lowercase()
                ))
            };
            c = c.reply(
                &format!("ACL DRYRUN replication {}", argv.join(" ")),
                Ok(reply),
            );
        }
        c
    }

    fn auth_fleet(primary: Captured, masteruser: &str) -> Fleet {
        sentinel_fleet(
            vec![
                ("n1", Role::Primary, primary),
                (
                    "n2",
                    Role::Replica,
                    Captured::default().config("masteruser", masteruser),
                ),
            ],
            vec![],
            Settings::default(),
        )
    }

    const NOAUTH: Result<Value, &str> = Err("NOAUTH Authentication required.");
    const LEAST: &str = "-@all +ping +auth +hello +psync +replconf";

    #[test]
    fn auth_passes_with_a_least_privileged_replication_user() {
        let o = run_fleet(
            &Auth,
            &auth_fleet(primary_with_user(NOAUTH, LEAST, &[]), "replication"),
        );
        assert_eq!(o.status, Status::Pass, "{o:?}");
        assert!(o.message.contains("`replication`"));
    }

    #[test]
    fn auth_fails_on_an_open_primary_a_missing_masteruser_or_a_full_power_user() {
        let open = Captured::default().text("ANON PING", "PONG");
        let o = run_fleet(&Auth, &auth_fleet(open, ""));
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.starts_with("n1: answers without credentials"));

        let o = run_fleet(
            &Auth,
            &auth_fleet(primary_with_user(NOAUTH, LEAST, &[]), ""),
        );
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.starts_with("n2: no masteruser"), "{}", o.message);

        let admin = primary_with_user(NOAUTH, "+@all", &["FLUSHALL", "CONFIG", "SET"]);
        let o = run_fleet(&Auth, &auth_fleet(admin, "replication"));
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.message.contains("may run FLUSHALL, CONFIG"),
            "{}",
            o.message
        );

        let missing = Captured::default()
            .reply("ANON PING", NOAUTH)
            .reply("ACL GETUSER replication", Ok(Value::Nil));
        let o = run_fleet(&Auth, &auth_fleet(missing, "replication"));
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.contains("does not exist"));
    }

    #[test]
    fn auth_warns_on_key_access_and_skips_what_it_may_not_read() {
        let writer = primary_with_user(NOAUTH, "-@all +psync +replconf +set", &["SET"]);
        let o = run_fleet(&Auth, &auth_fleet(writer, "replication"));
        assert_eq!(o.status, Status::Warn, "{o:?}");

        // Neither CONFIG on the replica nor ACL on the primary is
        // permitted: only the primary's refusal is known.
        let fleet = sentinel_fleet(
            vec![
                (
                    "n1",
                    Role::Primary,
                    Captured::default().reply("ANON PING", NOAUTH),
                ),
                (
                    "n2",
                    Role::Replica,
                    Captured::default()
                        .reply("CONFIG GET masteruser", Err("NOPERM no permissions")),
                ),
            ],
            vec![],
            Settings::default(),
        );
        let o = run_fleet(&Auth, &fleet);
        assert_eq!(o.status, Status::Warn, "{o:?}");
        assert!(o
            .message
            .contains("not visible: n2: CONFIG GET masteruser not permitted"));
    }

    #[test]
    fn full_power_rules() {
        assert!(has_full_power("+@all"));
        assert!(has_full_power("-@all +@admin"));
        assert!(!has_full_power(LEAST));
        assert!(!has_full_power("+@all -@dangerous -@admin +role"));
    }

    fn min_fleet(kind: FleetKind, primary: (&str, &str), settings: Settings) -> Fleet {
        Fleet::captured(
            kind,
            vec![
                (
                    "n1",
                    Role::Primary,
                    Captured::default()
                        .config("min-replicas-to-write", primary.0)
                        .config("min-replicas-max-lag", primary.1),
                ),
                (
                    "n2",
                    Role::Replica,
                    Captured::default()
                        .config("min-replicas-to-write", "1")
                        .config("min-replicas-max-lag", "10"),
                ),
            ],
            vec![],
            settings,
        )
    }

    fn sentinel_kind() -> FleetKind {
        FleetKind::Sentinel {
            master: "mymaster".into(),
        }
    }

    #[test]
    fn min_replicas_as_declared() {
        let o = run_fleet(
            &MinReplicas,
            &min_fleet(sentinel_kind(), ("1", "10"), Settings::default()),
        );
        assert_eq!(o.status, Status::Pass, "{o:?}");
        let o = run_fleet(
            &MinReplicas,
            &min_fleet(sentinel_kind(), ("0", "10"), Settings::default()),
        );
        assert_eq!(o.status, Status::Fail);
        assert_eq!(
            o.message,
            "n1: min-replicas-to-write 0 is below the declared 1"
        );
        let o = run_fleet(
            &MinReplicas,
            &min_fleet(sentinel_kind(), ("1", "60"), Settings::default()),
        );
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.contains("min-replicas-max-lag 60 s exceeds 10 s"));
        // Two required of one replica: every write refused.
        let o = run_fleet(
            &MinReplicas,
            &min_fleet(sentinel_kind(), ("2", "10"), Settings::default()),
        );
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.contains("can never be met"));
        // Cluster: the policy declares 0.
        let o = run_fleet(
            &MinReplicas,
            &min_fleet(FleetKind::Cluster, ("0", "10"), Settings::default()),
        );
        assert_eq!(o.status, Status::Pass, "{o:?}");
        // A declaration overrides the policy's default.
        let declared = Settings {
            topology: TopologySettings {
                min_replicas_to_write: Some(1),
                ..Default::default()
            },
            ..Default::default()
        };
        let o = run_fleet(
            &MinReplicas,
            &min_fleet(FleetKind::Cluster, ("0", "10"), declared),
        );
        assert_eq!(o.status, Status::Fail);
    }

    #[test]
    fn min_replicas_warns_for_replicas_and_skips_when_denied() {
        let fleet = Fleet::captured(
            sentinel_kind(),
            vec![
                (
                    "n1",
                    Role::Primary,
                    Captured::default()
                        .config("min-replicas-to-write", "1")
                        .config("min-replicas-max-lag", "10"),
                ),
                (
                    "n2",
                    Role::Replica,
                    Captured::default()
                        .config("min-replicas-to-write", "0")
                        .config("min-replicas-max-lag", "10"),
                ),
            ],
            vec![],
            Settings::default(),
        );
        let o = run_fleet(&MinReplicas, &fleet);
        assert_eq!(o.status, Status::Warn);
        assert!(o.message.starts_with("n2 (replica, applies once promoted)"));

        let denied = Fleet::captured(
            sentinel_kind(),
            vec![(
                "n1",
                Role::Primary,
                Captured::default().reply(
                    "CONFIG GET min-replicas-to-write",
                    Err("NOPERM no permissions"),
                ),
            )],
            vec![],
            Settings::default(),
        );
        let o = run_fleet(&MinReplicas, &denied);
        assert_eq!(o.status, Status::Skip);
        assert!(o.message.contains("not permitted"));
    }

    #[test]
    fn findings_about_several_nodes_are_said_once() {
        let f = |v: &[&str]| grouped(&v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>());
        assert_eq!(
            f(&[
                "n1: off",
                "n2: on",
                "n3: off",
                "the Sentinels disagree: a",
                "n4 (primary): off"
            ]),
            "n1, n3: off; n2: on; the Sentinels disagree: a; n4 (primary): off"
        );
    }

    #[test]
    fn reads_reply_errors_by_code() {
        assert!(matches!(
            classify("NOPERM User x has no permissions".into()),
            Unavailable::Denied(_)
        ));
        assert!(matches!(
            classify("ERR unknown command 'CLUSTER', with args beginning with: 'INFO'".into()),
            Unavailable::Denied(_)
        ));
        assert!(matches!(
            classify("ERR This instance has cluster support disabled".into()),
            Unavailable::Failed(_)
        ));
        assert!(refused("NOAUTH Authentication required."));
        assert!(!refused("connection refused"));
    }
}
