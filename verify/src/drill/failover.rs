//! Failover drills on Sentinel and Cluster deployments: a coordinated
//! failover, a crashed primary, a frozen primary that wakes up after it was
//! replaced, and a primary cut off from its peers (the Jepsen 2013
//! scenario, Sentinel on Docker).

use super::commands::Action;
use super::control::Subject;
use super::{admin_command, replication_budget, Budget, Drill, DrillCtx, DrillError, DrillMeta};
use crate::check::{Applies, BoxFuture, Evidence};
use std::time::Duration;
use topology::Topology;

/// Bound for Sentinel to promote a replica after a fault.
const PROMOTE: Duration = Duration::from_secs(30);
/// Bound for writes to be acknowledged again after a promotion.
const RESUME: Duration = Duration::from_secs(20);
/// Bound for a returning node to be turned into a replica (Sentinel waits
/// about 8 s before converting a node that still claims to be master).
const REJOIN: Duration = Duration::from_secs(40);

/// `failover.manual`: the coordinated procedure an operator should run.
///
/// Sentinel: `CLIENT PAUSE <ms> WRITE` on the primary (writes queue, reads
/// go on), wait until every replica's offset equals the primary's, `SENTINEL
/// FAILOVER`, wait for the promotion, `REPLICAOF <new primary>` on the old
/// one so it can never acknowledge again, then `CLIENT UNPAUSE`. Plain
/// `SENTINEL FAILOVER` is not coordinated (redis#6062): the old primary keeps
/// acknowledging until Sentinel converts it about 8 s later, and those
/// writes are lost ([`UncoordinatedManual`] measures that).
///
/// Cluster: `CLUSTER FAILOVER` (no FORCE) on the replica of the drilled
/// shard, which Redis coordinates itself (the primary pauses its clients
/// until the replica has caught up).
///
/// On an existing deployment a `--node-control failover='…'` command
/// (e.g. a managed service's test-failover) replaces both; its budget is
/// then the replication budget, as nothing here coordinates it.
pub struct Manual;

static MANUAL: DrillMeta = DrillMeta {
    id: "failover.manual",
    title: "Coordinated failover loses no acknowledged write",
    applies: Applies::REPLICATED,
    injects: "Sentinel: CLIENT PAUSE WRITE on the primary, replicas caught up, SENTINEL FAILOVER, REPLICAOF on the old primary, CLIENT UNPAUSE; Cluster: CLUSTER FAILOVER on the replica (as admin) under write load",
    measures: "lost/recovered acked writes, write-unavailability, time to promote",
    budget: "0 lost acked writes; unavailability ≤ down-after (Cluster: cluster-node-timeout) + 6000 ms",
    why: "A planned failover (maintenance, patching) should be invisible to clients; plain SENTINEL FAILOVER is not coordinated and loses acknowledged writes (redis#6062), CLUSTER FAILOVER is.",
};

/// How long `CLIENT PAUSE` holds writes at most, should the procedure
/// stop half-way (it is lifted explicitly as soon as the old primary is a
/// replica).
const CLIENT_PAUSE_MS: u64 = 20_000;
/// Bound for the replicas to reach the paused primary's offset.
const CATCH_UP: Duration = Duration::from_secs(5);
/// Bound for the coordinated promotion.
const MANUAL_PROMOTE: Duration = Duration::from_secs(15);

impl Drill for Manual {
    fn meta(&self) -> &'static DrillMeta {
        &MANUAL
    }

    fn run<'a, 'b: 'a>(
        &'a self,
        ctx: &'a mut DrillCtx<'b>,
    ) -> BoxFuture<'a, Result<Budget, DrillError>> {
        Box::pin(async move {
            let old = ctx.old_primary.clone();
            if ctx.deployment.supports(Action::Failover).is_ok() && !ctx.deployment.is_launched() {
                let fault = ctx.mark_fault("failover command", &old);
                ctx.deployment.failover_command(&old).await?;
                let new = ctx.wait_new_master(&old, PROMOTE).await?;
                ctx.wait_ack_after(fault, RESUME).await?;
                ctx.wait_replica(&old, REJOIN).await?;
                ctx.mark_heal(&format!("{new} primary, {old} replica"), &old);
                return Ok(replication_budget(&ctx.config, ctx.settings));
            }
            if matches!(ctx.deployment.topology, Topology::Cluster { .. }) {
                cluster_manual(ctx, &old).await?;
            } else {
                sentinel_coordinated(ctx, &old).await?;
            }
            let mut b = replication_budget(&ctx.config, ctx.settings);
            b.max_lost_acked = Some(0);
            b.max_loss_window_ms = None;
            b.basis = format!("coordinated failover: 0 lost acked writes; {}", b.basis);
            Ok(b)
        })
    }

    fn restore<'a>(
        &'a self,
        d: &'a mut Subject<'_>,
        old: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Evidence>, DrillError>> {
        Box::pin(fail_back(d, old))
    }
}

pub(crate) async fn sentinel_coordinated(
    ctx: &mut DrillCtx<'_>,
    old: &str,
) -> Result<(), DrillError> {
    let sentinel = ctx
        .deployment
        .sentinels()
        .next()
        .map(|s| s.id.clone())
        .ok_or_else(|| DrillError::Other("find a sentinel".into()))?;
    let master = ctx.deployment.master_name();
    let pause = CLIENT_PAUSE_MS.to_string();
    let fault = ctx.mark_fault("CLIENT PAUSE WRITE, SENTINEL FAILOVER", old);
    let reply = ctx
        .admin(old, &["CLIENT", "PAUSE", pause.as_str(), "WRITE"])
        .await?;
    ctx.evidence.push(Evidence::on(
        old,
        format!("CLIENT PAUSE {pause} WRITE"),
        reply,
    ));
    let outcome = async {
        let offsets = caught_up(ctx, old).await?;
        ctx.log
            .record("replicas caught up", Some(old), Some(offsets.clone()));
        ctx.evidence
            .push(Evidence::on(old, "replication offsets (ROLE)", offsets));
        let reply = ctx
            .admin(&sentinel, &["SENTINEL", "FAILOVER", master.as_str()])
            .await?;
        ctx.evidence.push(Evidence::on(
            &sentinel,
            format!("SENTINEL FAILOVER {master}"),
            reply,
        ));
        let new = ctx.wait_new_master(old, MANUAL_PROMOTE).await?;
        let to = ctx.deployment.node(&new)?.announced.clone();
        let port = to.port.to_string();
        let reply = ctx
            .admin(old, &["REPLICAOF", to.host.as_str(), port.as_str()])
            .await?;
        ctx.evidence
            .push(Evidence::on(old, format!("REPLICAOF {to}"), reply));
        ctx.wait_replica(old, MANUAL_PROMOTE).await?;
        Ok::<String, DrillError>(new)
    }
    .await;
    // Lift the pause whatever happened (it also expires on its own).
    let unpaused = ctx.admin(old, &["CLIENT", "UNPAUSE"]).await;
    let new = outcome?;
    ctx.evidence
        .push(Evidence::on(old, "CLIENT UNPAUSE", unpaused?));
    ctx.mark_heal(
        &format!("{new} primary, {old} replica, writes unpaused"),
        old,
    );
    ctx.wait_ack_after(fault, RESUME).await?;
    Ok(())
}

/// Waits, bounded, until every replica's own offset equals the paused
/// primary's; returns the offsets seen. Replicas are asked directly: the
/// primary learns their offsets only from their once-a-second ACKs.
async fn caught_up(ctx: &DrillCtx<'_>, old: &str) -> Result<String, DrillError> {
    let replicas: Vec<String> = ctx
        .deployment
        .data_nodes()
        .filter(|n| n.id != old)
        .map(|n| n.id.clone())
        .collect();
    let deadline = tokio::time::Instant::now() + CATCH_UP;
    loop {
        let role = ctx.admin(old, &["ROLE"]).await?;
        let primary = role.split_whitespace().nth(1).unwrap_or("").to_owned();
        let mut seen = vec![format!("{old} {primary}")];
        for r in &replicas {
            let role = ctx.admin(r, &["ROLE"]).await.unwrap_or_default();
            seen.push(format!(
                "{r} {}",
                role.split_whitespace().last().unwrap_or("?")
            ));
        }
        if seen.iter().all(|s| s.ends_with(&format!(" {primary}"))) {
            return Ok(seen.join(", "));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(DrillError::Other(format!(
                "see the replicas catch up with the paused primary within {CATCH_UP:?}: {}",
                seen.join(", ")
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn cluster_manual(ctx: &mut DrillCtx<'_>, old: &str) -> Result<(), DrillError> {
    let replica = replica_of(ctx, old).await?;
    let fault = ctx.mark_fault("CLUSTER FAILOVER", &replica);
    let reply = ctx.admin(&replica, &["CLUSTER", "FAILOVER"]).await?;
    ctx.evidence
        .push(Evidence::on(&replica, "CLUSTER FAILOVER", reply));
    let new = ctx.wait_new_master(old, MANUAL_PROMOTE).await?;
    ctx.wait_replica(old, REJOIN).await?;
    ctx.mark_heal(&format!("{new} primary, {old} replica"), old);
    ctx.wait_ack_after(fault, RESUME).await?;
    Ok(())
}

/// A replica of `old`: the data node whose own `CLUSTER NODES` line
/// (`myself`) names `old`'s node id as its primary. Ids, not addresses:
/// ROLE reports the IP a replica replicates from, which on Docker is
/// neither the announced host name nor the published address.
async fn replica_of(ctx: &DrillCtx<'_>, old: &str) -> Result<String, DrillError> {
    let id = ctx.admin(old, &["CLUSTER", "MYID"]).await?;
    let others: Vec<String> = ctx
        .deployment
        .data_nodes()
        .filter(|n| n.id != old)
        .map(|n| n.id.clone())
        .collect();
    for n in others {
        let Ok(text) = ctx.admin(&n, &["CLUSTER", "NODES"]).await else {
            continue;
        };
        let me = topology::cluster_nodes::parse(&text)
            .into_iter()
            .find(|c| c.has("myself"));
        if me.is_some_and(|c| c.primary.as_deref() == Some(id.trim())) {
            return Ok(n);
        }
    }
    Err(DrillError::Other(format!(
        "find a replica of {old} (node id {}) in CLUSTER NODES",
        id.trim()
    )))
}

/// Plain `SENTINEL FAILOVER` under load, without pausing writes: the
/// finding behind [`Manual`]'s procedure (redis#6062). Not in the registry
/// (it fails on every Sentinel deployment by design); the tests run it to
/// keep the finding measured.
pub struct UncoordinatedManual;

static UNCOORDINATED: DrillMeta = DrillMeta {
    id: "failover.manual-uncoordinated",
    title: "Plain SENTINEL FAILOVER (not coordinated) under write load",
    applies: Applies::SENTINEL,
    injects: "SENTINEL FAILOVER mymaster (as admin) under write load, nothing paused",
    measures: "lost/recovered acked writes, write-unavailability, time to promote",
    budget: "0 lost acked writes (which it does not meet: the old primary acknowledges until Sentinel converts it)",
    why: "redis#6062: SENTINEL FAILOVER rolls writes back; the old primary serves clients until it is converted to a replica about 8 s after the switch.",
};

impl Drill for UncoordinatedManual {
    fn meta(&self) -> &'static DrillMeta {
        &UNCOORDINATED
    }

    fn run<'a, 'b: 'a>(
        &'a self,
        ctx: &'a mut DrillCtx<'b>,
    ) -> BoxFuture<'a, Result<Budget, DrillError>> {
        Box::pin(async move {
            let old = ctx.old_primary.clone();
            let sentinel = ctx
                .deployment
                .sentinels()
                .next()
                .map(|s| s.id.clone())
                .ok_or_else(|| DrillError::Other("find a sentinel".into()))?;
            let master = ctx.deployment.master_name();
            let fault = ctx.mark_fault("SENTINEL FAILOVER", &old);
            let reply = ctx
                .admin(&sentinel, &["SENTINEL", "FAILOVER", master.as_str()])
                .await?;
            ctx.evidence.push(Evidence::on(
                &sentinel,
                format!("SENTINEL FAILOVER {master}"),
                reply,
            ));
            let new = ctx.wait_new_master(&old, PROMOTE).await?;
            ctx.wait_ack_after(fault, RESUME).await?;
            ctx.wait_replica(&old, REJOIN).await?;
            ctx.mark_heal(&format!("{new} primary, {old} replica"), &old);
            let mut b = replication_budget(&ctx.config, ctx.settings);
            b.max_lost_acked = Some(0);
            b.max_loss_window_ms = None;
            b.basis = format!("manual failover: 0 lost acked writes; {}", b.basis);
            Ok(b)
        })
    }
}

/// `failover.kill-primary`.
pub struct KillPrimary;

static KILL: DrillMeta = DrillMeta {
    id: "failover.kill-primary",
    title: "A crashed primary is replaced and comes back as a replica",
    applies: Applies::REPLICATED,
    injects: "SIGKILL of the primary (Cluster: the shard primary serving writer 0's key) under write load; restart of the old primary after the failover",
    measures: "write-unavailability, time to promote, lost acked writes and their window; the old primary rejoins as a replica (never a second primary)",
    budget: "lost acked writes within min-replicas-max-lag + 1 s of the fault (with min-replicas-to-write ≥ 1, else [drills] max_lost_acked); unavailability ≤ down-after (Cluster: cluster-node-timeout 2000) + 6000 ms",
    why: "Replication is asynchronous: a crash loses what had not reached a replica, and a restarted old primary must never serve writes as a second master (bitnami #5418, redis#13658).",
};

impl Drill for KillPrimary {
    fn meta(&self) -> &'static DrillMeta {
        &KILL
    }

    fn run<'a, 'b: 'a>(
        &'a self,
        ctx: &'a mut DrillCtx<'b>,
    ) -> BoxFuture<'a, Result<Budget, DrillError>> {
        Box::pin(async move {
            let old = ctx.old_primary.clone();
            let fault = ctx.mark_fault("SIGKILL", &old);
            ctx.deployment.kill(&old).await?;
            let new = ctx.wait_new_master(&old, PROMOTE).await?;
            ctx.wait_ack_after(fault, RESUME).await?;
            ctx.deployment.restart(&old).await?;
            let back = ctx.mark_heal("restart", &old);
            ctx.rejoined = Some((old.clone(), back));
            ctx.wait_replica(&old, REJOIN).await?;
            ctx.evidence.push(Evidence::on(
                &old,
                "ROLE (polled after restart)",
                format!("replica; {new} primary"),
            ));
            Ok(replication_budget(&ctx.config, ctx.settings))
        })
    }

    fn restore<'a>(
        &'a self,
        d: &'a mut Subject<'_>,
        old: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Evidence>, DrillError>> {
        Box::pin(fail_back(d, old))
    }

    fn needs(&self) -> &'static [Action] {
        &[Action::Kill, Action::Start]
    }
}

/// On a Cluster, fails back to the old primary once the writers have
/// stopped: `CLUSTER FAILOVER` (coordinated) on it, retried until its link
/// is up, then wait for its ROLE to say master. The launched shape is what
/// the convergence check (and the next drill) expects. Nothing elsewhere.
async fn fail_back(d: &mut Subject<'_>, old: &str) -> Result<Vec<Evidence>, DrillError> {
    if !matches!(d.topology, Topology::Cluster { .. }) {
        return Ok(Vec::new());
    }
    let target = d.node_target(d.node(old)?);
    let deadline = tokio::time::Instant::now() + FAILBACK;
    let mut evidence = Vec::new();
    // A manual failover that does not complete is abandoned by Redis after
    // a while: ask again every few seconds.
    let mut asked: Option<tokio::time::Instant> = None;
    loop {
        let role = admin_command(&target, &["ROLE"]).await.unwrap_or_default();
        if role.starts_with("master") {
            evidence.push(Evidence::on(old, "ROLE (after CLUSTER FAILOVER)", role));
            return Ok(evidence);
        }
        if asked.is_none_or(|t| t.elapsed() > Duration::from_secs(5)) {
            if let Ok(r) = admin_command(&target, &["CLUSTER", "FAILOVER"]).await {
                evidence.push(Evidence::on(old, "CLUSTER FAILOVER (fail back)", r));
                asked = Some(tokio::time::Instant::now());
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(DrillError::Other(format!(
                "fail back to {old} with CLUSTER FAILOVER within {FAILBACK:?} (ROLE: {role})"
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Bound for a Cluster fail-back after `failover.kill-primary`.
const FAILBACK: Duration = Duration::from_secs(30);

/// How long `failover.pause-primary` keeps the primary frozen: longer than
/// the drill's down-after (2000 ms) plus Sentinel's election, failover
/// start jitter (up to 1 s) and promotion, so it wakes up replaced.
pub const PAUSE: Duration = Duration::from_secs(6);

/// `failover.pause-primary`.
pub struct PausePrimary;

static PAUSE_PRIMARY: DrillMeta = DrillMeta {
    id: "failover.pause-primary",
    title: "A frozen primary is replaced and, once thawed, rejoins as a replica",
    applies: Applies::REPLICATED,
    injects: "SIGSTOP / docker pause of the primary (Cluster: the shard primary serving writer 0's key) under write load for 6 s (longer than down-after + failover), then SIGCONT / unpause",
    measures: "write-unavailability, time to promote, split-brain ms, writes the stale primary acknowledged after the promotion, lost acked writes; the old primary rejoins as a replica",
    budget: "lost acked writes within the 6 s pause + min-replicas-max-lag + 1 s of the freeze with min-replicas-to-write ≥ 1 (Cluster without it: + cluster-node-timeout + 1 s), else [drills] max_lost_acked; unavailability ≤ down-after (Cluster: cluster-node-timeout) + 6000 ms",
    why: "A stop-the-world pause (GC of a co-located process, VM steal, SIGSTOP) wakes a primary that still believes it is master; clients that reach it before Sentinel demotes it write into a dead branch (redis tests 07-down-conditions; ioredis #1314).",
};

impl Drill for PausePrimary {
    fn meta(&self) -> &'static DrillMeta {
        &PAUSE_PRIMARY
    }

    fn run<'a, 'b: 'a>(
        &'a self,
        ctx: &'a mut DrillCtx<'b>,
    ) -> BoxFuture<'a, Result<Budget, DrillError>> {
        Box::pin(async move {
            let old = ctx.old_primary.clone();
            ctx.deployment.pause(&old).await?;
            let fault = ctx.mark_fault("SIGSTOP", &old);
            let outcome = async {
                let new = ctx.wait_new_master(&old, PROMOTE).await?;
                ctx.wait_ack_after(fault, RESUME).await?;
                Ok::<String, DrillError>(new)
            }
            .await;
            // Stay frozen for the whole pause, then thaw whatever happened,
            // so the deployment is left whole.
            let frozen = Duration::from_millis(ctx.log.clock().now_ms().saturating_sub(fault));
            if let Some(rest) = PAUSE.checked_sub(frozen) {
                tokio::time::sleep(rest).await;
            }
            ctx.deployment.resume(&old).await?;
            ctx.mark_heal("SIGCONT", &old);
            let new = outcome?;
            ctx.wait_replica(&old, REJOIN).await?;
            ctx.evidence.push(Evidence::on(
                &old,
                "ROLE (polled after SIGCONT)",
                format!("replica; {new} primary"),
            ));
            Ok(pause_budget(replication_budget(&ctx.config, ctx.settings)))
        })
    }

    fn restore<'a>(
        &'a self,
        d: &'a mut Subject<'_>,
        old: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Evidence>, DrillError>> {
        Box::pin(fail_back(d, old))
    }

    fn needs(&self) -> &'static [Action] {
        &[Action::Pause, Action::Resume]
    }
}

/// A time-bounded replication budget stretched by the pause: writes queued
/// on the frozen primary's sockets are executed and acknowledged the moment
/// it wakes, before Sentinel or the cluster bus tells it it was replaced
/// (redis-rs's cluster client keeps its connection to the frozen node, so on
/// Cluster some always are). Those acks land `PAUSE` after the fault; the
/// configuration bounds the loss from the wake-up, not from the freeze.
fn pause_budget(mut b: Budget) -> Budget {
    if let Some(w) = b.max_loss_window_ms {
        let pause = u64::try_from(PAUSE.as_millis()).unwrap_or(u64::MAX);
        b.max_loss_window_ms = Some(w.saturating_add(pause));
        b.basis.push_str(&format!(
            "; + the {pause} ms pause (queued writes are acknowledged on wake-up)"
        ));
    }
    b
}

/// `failover.partition-primary`. `unguarded` first sets
/// `min-replicas-to-write 0` on the primary: the lossy configuration the
/// tests use to prove the drill can fail.
pub struct PartitionPrimary {
    /// Drop the primary's replication guard before the partition.
    pub unguarded: bool,
}

static PARTITION: DrillMeta = DrillMeta {
    id: "failover.partition-primary",
    title: "A primary cut off from its peers stops acknowledging within the lag bound",
    applies: Applies::SENTINEL,
    injects: "network isolation of the primary from replicas and Sentinels (clients still reach it); heal after the failover (Docker only)",
    measures: "acked writes lost on the isolated primary and when, split-brain ms, unavailability, time to promote",
    budget: "with min-replicas-to-write ≥ 1: lost acked writes within min-replicas-max-lag + 1 s of the partition; without: [drills] max_lost_acked (default 0)",
    why: "Jepsen (2013) lost 56% of acknowledged writes to a partitioned Sentinel primary; min-replicas-to-write/max-lag is what bounds it.",
};

impl Drill for PartitionPrimary {
    fn meta(&self) -> &'static DrillMeta {
        &PARTITION
    }

    fn run<'a, 'b: 'a>(
        &'a self,
        ctx: &'a mut DrillCtx<'b>,
    ) -> BoxFuture<'a, Result<Budget, DrillError>> {
        Box::pin(async move {
            let old = ctx.old_primary.clone();
            let restore = ctx.config.get("min-replicas-to-write").cloned();
            if self.unguarded {
                let r = ctx
                    .admin(&old, &["CONFIG", "SET", "min-replicas-to-write", "0"])
                    .await?;
                ctx.evidence
                    .push(Evidence::on(&old, "CONFIG SET min-replicas-to-write 0", r));
                ctx.config
                    .insert("min-replicas-to-write".into(), "0".into());
            }
            let budget = replication_budget(&ctx.config, ctx.settings);
            let result = partition(ctx, &old).await;
            if self.unguarded {
                if let Some(v) = restore {
                    let _ = ctx
                        .admin(&old, &["CONFIG", "SET", "min-replicas-to-write", &v])
                        .await;
                }
            }
            result.map(|()| budget)
        })
    }

    fn needs(&self) -> &'static [Action] {
        &[Action::Isolate, Action::Heal]
    }
}

async fn partition(ctx: &mut DrillCtx<'_>, old: &str) -> Result<(), DrillError> {
    ctx.deployment.isolate(old).await?;
    let fault = ctx.mark_fault("isolate from peers", old);
    let outcome = async {
        let new = ctx.wait_new_master(old, PROMOTE).await?;
        ctx.wait_ack_after(fault, RESUME).await?;
        Ok::<String, DrillError>(new)
    }
    .await;
    // Heal whatever happened, so the deployment is left whole.
    ctx.deployment.heal(old).await?;
    ctx.mark_heal("reconnect to peers", old);
    let new = outcome?;
    ctx.wait_replica(old, REJOIN).await?;
    ctx.evidence.push(Evidence::on(
        old,
        "ROLE (polled after heal)",
        format!("replica; {new} primary"),
    ));
    Ok(())
}
