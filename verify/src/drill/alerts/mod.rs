//! `monitoring.alerts-fire`: induce the faults the alert rules are about on
//! a launched Sentinel deployment with the monitoring stack running, and
//! show each alert firing in Prometheus' `/api/v1/alerts` within its `for:`
//! plus two evaluation intervals (plus the time the fault takes to show in
//! a scrape), and neither pending nor firing before its fault.
//!
//! Faults, overlapping so the drill lasts about the longest `for:` (the
//! memory alert's 5 m) rather than their sum:
//! - fill a scratch node (a separate standalone node the drill launches and
//!   the same Prometheus scrapes, see [`scratch`]) to its small `maxmemory`
//!   and keep writing to it → RedisMemoryHigh, RedisWritesRejectedOOM;
//! - meanwhile the coordinated manual failover of `failover.manual` →
//!   RedisPrimaryChanged on the promoted node;
//! - then stop a replica → RedisDown (that node), RedisSentinelReplicaDown;
//!   it is restarted once both fired (or their bounds passed);
//! - then cut the other replica's replication link while it stays up →
//!   RedisReplicationBroken. Sequential, not together with the stop: with
//!   `min-replicas-to-write 1` two replicas out at once would stop the
//!   primary's writes, a fault of its own the drill does not mean to cause.
//!
//! The link is cut by replacing `masterauth` on the replica (in memory;
//! the old value is kept in this process only, never printed) and killing
//! its link with `CLIENT KILL TYPE master`: the replica reconnects, fails
//! AUTH and stays down. Sentinel does not undo it (it reconfigures a
//! replica's primary address, never its `masterauth`), unlike a `REPLICAOF`
//! elsewhere, which Sentinel reverts within seconds. Stopping the primary's
//! side of the link instead would be a failover, not a broken link.
//!
//! Everything is put back at the end, also when a step fails: the replica
//! restarted, `masterauth` restored, the scratch node and the monitoring
//! stack stopped. The `for:` values come from the rules the launched
//! Prometheus loads (the embedded grafana/prometheus/rules/redis.yml, or
//! `PROMETHEUS_RULES_FILE`), never from here.
//!
//! On an existing target (`verify drill monitoring.alerts-fire --target …
//! --prometheus URL --allow-disruption --node-control stop=… start=…`) the
//! drill watches the user's Prometheus, with the `for:` and evaluation
//! interval it reports (`/api/v1/rules`) and its `instance` labels matched
//! to the nodes ([`target`]). It runs the failover, the stop and the link
//! cut; the memory alerts are reported as not provable there (no scratch
//! node: filling a deployment node would refuse the application's writes).

mod rules;
mod scratch;
mod target;
mod watch;

pub use rules::{parse_duration, parse_rules, RuleInfo};
pub use target::{instance_of, rules_from_api};
pub use watch::{active, judge, state_of, Active, Expect, Seen};

use super::commands::Action;
use super::{failover, replication_budget, Budget, Drill, DrillCtx, DrillError, DrillMeta};
use crate::check::{Applies, BoxFuture, Evidence};
use crate::prom::Prom;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use topology::launch::monitoring::SCRATCH;
use topology::{Deployment, Secret};
use watch::Watch;

/// Bound for a stopped replica to rejoin after its restart.
const REJOIN: Duration = Duration::from_secs(30);
/// Bound for the Sentinels to leave TILT (which lasts 30 s).
const TILT: Duration = Duration::from_secs(40);
/// Bound for the replication links a failover drops to come back (and
/// their alerts to clear) before the link fault.
const LINKS_BACK: Duration = Duration::from_secs(30);
/// Bound for the promoted node to report itself primary once the Sentinels
/// name it (seen in CI: every Sentinel named it while it still said
/// replica).
const PROMOTED: Duration = Duration::from_secs(15);

/// `monitoring.alerts-fire` with the project's rules.
pub struct AlertsFire;

/// `monitoring.alerts-fire` with another rules text loaded into the
/// launched Prometheus: the tests' broken rule file.
pub struct AlertsFireWithRules(pub String);

static META: DrillMeta = DrillMeta {
    id: "monitoring.alerts-fire",
    title: "Each alert with an induced fault fires within its for: plus two evaluations",
    applies: Applies {
        standalone: false,
        sentinel: true,
        cluster: false,
    },
    injects: "starts redis_exporter + Prometheus next to the deployment (as --monitoring) and a scratch standalone node; fills the scratch node to a small maxmemory, runs the coordinated manual failover, stops a replica (restarted after its alerts fired), then cuts the other replica's link (wrong masterauth in memory + CLIENT KILL TYPE master, restored after)",
    measures: "fault → first /api/v1/alerts poll showing each alert firing: RedisMemoryHigh and RedisWritesRejectedOOM (scratch node), RedisPrimaryChanged (promoted node), RedisDown (stopped replica), RedisSentinelReplicaDown, RedisReplicationBroken (cut replica); that none was pending or firing before its fault",
    budget: "each alert within its for: (parsed from the loaded rules) + 2 evaluation intervals + one scrape (two for a counter's increase(), + down-after-milliseconds for Sentinel's view); writes as failover.manual: 0 lost acked, unavailability ≤ down-after + 6000 ms",
    why: "An alert rule that loads but never fires (a renamed metric, a label the exporter does not set, a for: longer than the outage) is found in production, during the outage; the runbooks' \"alerts trigger appropriately\" is checked here.",
};

impl Drill for AlertsFire {
    fn meta(&self) -> &'static DrillMeta {
        &META
    }

    fn run<'a, 'b: 'a>(
        &'a self,
        ctx: &'a mut DrillCtx<'b>,
    ) -> BoxFuture<'a, Result<Budget, DrillError>> {
        Box::pin(run(ctx, None))
    }

    fn needs(&self) -> &'static [Action] {
        &[Action::Stop, Action::Start]
    }
}

impl Drill for AlertsFireWithRules {
    fn meta(&self) -> &'static DrillMeta {
        &META
    }

    fn run<'a, 'b: 'a>(
        &'a self,
        ctx: &'a mut DrillCtx<'b>,
    ) -> BoxFuture<'a, Result<Budget, DrillError>> {
        Box::pin(run(ctx, Some(self.0.clone())))
    }

    fn needs(&self) -> &'static [Action] {
        &[Action::Stop, Action::Start]
    }
}

/// What the faults changed that the end must put back.
#[derive(Default)]
struct Undo {
    /// A stopped replica.
    stopped: Option<String>,
    /// A replica whose `masterauth` was replaced, and the value it had.
    masterauth: Option<(String, Secret)>,
    /// The task writing to the full scratch node.
    rejecting: Option<tokio::task::JoinHandle<()>>,
}

/// What the drill watches: the Prometheus, the rules it loaded, the
/// evaluation interval and the `instance` label of each node id.
struct Stack {
    prom: Prom,
    rules: BTreeMap<String, RuleInfo>,
    interval_ms: u64,
    instances: BTreeMap<String, String>,
    /// The launched monitoring stack and scratch node (launched targets).
    launched: Option<(topology::launch::monitoring::Monitoring, Deployment)>,
}

async fn run(ctx: &mut DrillCtx<'_>, rules: Option<String>) -> Result<Budget, DrillError> {
    let stack = match ctx.deployment.deployment() {
        Some(d) => launched_stack(d, rules).await?,
        None => existing_stack(ctx).await?,
    };
    let mut watch = Watch::new(stack.prom.clone());
    let mut undo = Undo::default();
    let scratch = stack.launched.as_ref().map(|(_, s)| s);
    let outcome = faults(ctx, scratch, &stack, &mut watch, &mut undo).await;
    let restored = restore(ctx, &mut undo).await;
    drop(stack);
    if let Some(e) = watch.last_error() {
        ctx.evidence.push(Evidence::on(
            "prometheus",
            "GET /api/v1/alerts",
            format!("a poll failed: {e}"),
        ));
    }
    for verdict in watch.verdicts() {
        match verdict {
            Ok(line) => ctx
                .evidence
                .push(Evidence::on("prometheus", "GET /api/v1/alerts", line)),
            Err(line) => {
                ctx.evidence.push(Evidence::on(
                    "prometheus",
                    "GET /api/v1/alerts",
                    line.clone(),
                ));
                ctx.problems.push(line);
            }
        }
    }
    outcome?;
    restored?;
    let mut b = replication_budget(&ctx.config, ctx.settings);
    b.max_lost_acked = Some(0);
    b.max_loss_window_ms = None;
    b.basis = format!(
        "coordinated failover and a stopped or cut-off replica lose no acked write; {}; each alert within its for: + 2 evaluation intervals + one scrape",
        b.basis
    );
    Ok(b)
}

/// A scratch node and the monitoring stack next to a launched deployment.
async fn launched_stack(d: &Deployment, rules: Option<String>) -> Result<Stack, DrillError> {
    let scratch = scratch::launch(d).await?;
    // Missing binaries are a skip (said in one line), like a launcher
    // that cannot do what a drill needs; anything else is an error.
    let monitoring = crate::monitoring::launch_with(d, &[&scratch], rules)
        .await
        .map_err(|e| {
            if e.contains(" not found: ") {
                DrillError::Unsupported(e)
            } else {
                DrillError::Other(format!("start the monitoring stack: {e}"))
            }
        })?;
    let prom = Prom::new(monitoring.prometheus_url(), Duration::from_secs(2))
        .map_err(|e| DrillError::Other(format!("reach Prometheus: {e}")))?;
    Ok(Stack {
        prom,
        rules: parse_rules(monitoring.rules()),
        interval_ms: parse_duration(topology::launch::monitoring::INTERVAL).unwrap_or(1000),
        // The launched Prometheus labels every node by its launch id.
        instances: BTreeMap::new(),
        launched: Some((monitoring, scratch)),
    })
}

/// The user's Prometheus (`--prometheus`), its rules and labels.
async fn existing_stack(ctx: &DrillCtx<'_>) -> Result<Stack, DrillError> {
    let Some(url) = ctx.settings.prometheus.as_deref() else {
        return Err(DrillError::Unsupported(
            "monitoring.alerts-fire on an existing target watches the Prometheus that scrapes it: pass --prometheus URL".into(),
        ));
    };
    let prom = Prom::new(url, Duration::from_secs(5))
        .map_err(|e| DrillError::Other(format!("reach Prometheus {url}: {e}")))?;
    let data = prom
        .get("/api/v1/rules", &[("type", "alert")])
        .await
        .map_err(|e| DrillError::Other(format!("read /api/v1/rules: {e}")))?;
    let (rules, interval_ms) = rules_from_api(&data);
    let up = prom
        .query("redis_up")
        .await
        .map_err(|e| DrillError::Other(format!("query redis_up: {e}")))?;
    let known: Vec<(String, String)> = up
        .iter()
        .map(|s| (s.label("instance").to_owned(), s.label("addr").to_owned()))
        .collect();
    let mut instances = BTreeMap::new();
    for n in ctx.deployment.nodes() {
        let names = [
            n.id.clone(),
            n.announced.to_string(),
            n.reachable.to_string(),
        ];
        match instance_of(&names, n.announced.port, &known) {
            Some(i) => {
                instances.insert(n.id.clone(), i);
            }
            None => {
                return Err(DrillError::Other(format!(
                    "find {} among the instances of redis_up in {url} ({})",
                    n.id,
                    known
                        .iter()
                        .map(|(i, _)| i.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
        }
    }
    Ok(Stack {
        prom,
        rules,
        interval_ms: interval_ms.max(1000),
        instances,
        launched: None,
    })
}

/// The rule of `name` in the loaded rules.
fn rule(rules: &BTreeMap<String, RuleInfo>, name: &str) -> Result<RuleInfo, DrillError> {
    rules
        .get(name)
        .cloned()
        .ok_or_else(|| DrillError::Other(format!("find alert {name} in the rules")))
}

fn expect(
    rules: &BTreeMap<String, RuleInfo>,
    name: &str,
    instance: Option<&str>,
    extra_ms: u64,
) -> Result<Expect, DrillError> {
    let r = rule(rules, name)?;
    Ok(Expect {
        alert: name.to_owned(),
        instance: instance.map(str::to_owned),
        for_ms: r.for_ms,
        bound_ms: r.for_ms + extra_ms,
    })
}

/// Records a problem when `e` is pending or firing before its fault.
async fn clear_before(ctx: &mut DrillCtx<'_>, watch: &Watch, e: &Expect) -> Result<(), DrillError> {
    let alerts = watch.fetch().await.map_err(DrillError::Other)?;
    if let Some(s) = state_of(e, &alerts) {
        ctx.problems
            .push(format!("{} was already {s} before its fault", e.name()));
    }
    Ok(())
}

async fn faults(
    ctx: &mut DrillCtx<'_>,
    scratch: Option<&Deployment>,
    stack: &Stack,
    watch: &mut Watch,
    undo: &mut Undo,
) -> Result<(), DrillError> {
    let rules = &stack.rules;
    let i = stack.interval_ms;
    // Two evaluations and one scrape after the fault shows (the scrape
    // interval of a user's Prometheus is taken as at most its evaluation
    // interval, as in grafana/prometheus/prometheus.yml).
    let settle = 3 * i;
    let label = |id: &str| {
        stack
            .instances
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_owned())
    };

    // 1. The scratch node full.
    match scratch {
        Some(scratch) => fill_scratch(ctx, scratch, rules, i, watch, undo).await?,
        None => ctx.evidence.push(Evidence::on(
            "prometheus",
            "RedisMemoryHigh, RedisWritesRejectedOOM",
            "not provable on an existing target: no scratch node to fill (filling a deployment node would refuse the application's writes)",
        )),
    }

    // 2. A failover, while the memory alert's for: runs.
    let old = ctx.old_primary.clone();
    let changed = expect(rules, "RedisPrimaryChanged", None, settle)?;
    clear_before(ctx, watch, &changed).await?;
    out_of_tilt(ctx).await?;
    failover::sentinel_coordinated(ctx, &old).await?;
    let new = promoted_primary(ctx).await?;
    // From the promotion seen (the alert may fire before this instant,
    // which reads as t=0).
    watch.arm(
        Expect {
            instance: Some(label(&new)),
            ..changed
        },
        Instant::now(),
    );
    watch.wait(&["RedisPrimaryChanged"]).await;

    // 3. Stop one replica of the new primary.
    let replicas: Vec<String> = ctx
        .deployment
        .data_nodes()
        .map(|n| n.id.clone())
        .filter(|id| *id != new)
        .collect();
    let [stopped, cut] = replicas.as_slice() else {
        return Err(DrillError::Other(format!(
            "find two replicas of {new} (found {})",
            replicas.len()
        )));
    };
    // The failover dropped both replicas' links for a moment.
    for r in &replicas {
        let e = expect(rules, "RedisReplicationBroken", Some(&label(r)), 0)?;
        watch
            .until_clear(&e, LINKS_BACK)
            .await
            .map_err(DrillError::Other)?;
    }
    let down = expect(rules, "RedisDown", Some(&label(stopped)), settle)?;
    let replica_down = expect(
        rules,
        "RedisSentinelReplicaDown",
        None,
        settle + ctx.settings.down_after_ms,
    )?;
    for e in [&down, &replica_down] {
        clear_before(ctx, watch, e).await?;
    }
    ctx.log
        .record("fault", Some(stopped), Some("stop a replica".into()));
    ctx.deployment.stop(stopped).await?;
    undo.stopped = Some(stopped.clone());
    let at = Instant::now();
    watch.arm(down, at);
    watch.arm(replica_down, at);
    watch.wait(&["RedisDown", "RedisSentinelReplicaDown"]).await;
    ctx.deployment.restart(stopped).await?;
    undo.stopped = None;
    ctx.log
        .record("heal", Some(stopped), Some("restart the replica".into()));
    ctx.wait_replica(stopped, REJOIN).await?;

    // 4. Cut the other replica's link; it stays up. The replica retries
    // its link every second: one more second for the fault to show.
    let broken = expect(
        rules,
        "RedisReplicationBroken",
        Some(&label(cut)),
        settle + 1000,
    )?;
    clear_before(ctx, watch, &broken).await?;
    let reply = ctx.admin(cut, &["CONFIG", "GET", "masterauth"]).await?;
    let current = Secret::new(reply.split_once(' ').map(|(_, v)| v).unwrap_or(""));
    let wrong = Secret::new(format!("alerts-fire-{:016x}", rand::random::<u64>()));
    set_masterauth(ctx, cut, &wrong).await?;
    undo.masterauth = Some((cut.clone(), current));
    let killed = ctx
        .admin(cut, &["CLIENT", "KILL", "TYPE", "master"])
        .await?;
    ctx.log.record(
        "fault",
        Some(cut),
        Some("masterauth replaced (in memory), CLIENT KILL TYPE master".into()),
    );
    ctx.evidence.push(Evidence::on(
        cut,
        "CONFIG SET masterauth <not shown>; CLIENT KILL TYPE master",
        format!("{killed} link(s) killed"),
    ));
    watch.arm(broken, Instant::now());
    // Everything still open, the memory alert's for: included.
    watch.wait(&[]).await;
    Ok(())
}

/// Waits, bounded, until no Sentinel is in TILT: a Sentinel in TILT does
/// not act, so a failover asked of it never starts. Starting the scratch
/// node and Prometheus on a loaded machine can stall the Sentinels' timers
/// past TILT's 2 s (measured once on the shared CI machine); TILT lasts
/// 30 s.
async fn out_of_tilt(ctx: &mut DrillCtx<'_>) -> Result<(), DrillError> {
    let sentinels: Vec<String> = ctx.deployment.sentinels().map(|n| n.id.clone()).collect();
    let deadline = Instant::now() + TILT;
    let mut said = false;
    loop {
        let mut tilted = Vec::new();
        for s in &sentinels {
            let info = ctx
                .admin(s, &["INFO", "sentinel"])
                .await
                .unwrap_or_default();
            if crate::info::Info::parse(&info).get("sentinel_tilt") != Some("0") {
                tilted.push(s.clone());
            }
        }
        if tilted.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(DrillError::Other(format!(
                "see every Sentinel out of TILT within {TILT:?} (still: {})",
                tilted.join(", ")
            )));
        }
        if !said {
            said = true;
            ctx.log.record(
                "waiting",
                None,
                Some(format!("Sentinels in TILT: {}", tilted.join(", "))),
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Fills the scratch node and arms its memory alerts.
async fn fill_scratch(
    ctx: &mut DrillCtx<'_>,
    scratch: &Deployment,
    rules: &BTreeMap<String, RuleInfo>,
    i: u64,
    watch: &mut Watch,
    undo: &mut Undo,
) -> Result<(), DrillError> {
    let settle = 3 * i;
    let full = format!(
        "{SCRATCH}-{}",
        scratch
            .nodes()
            .first()
            .map(|n| n.id.as_str())
            .unwrap_or("n1")
    );
    let memory = expect(rules, "RedisMemoryHigh", Some(&full), settle)?;
    // increase() needs two samples of the grown counter: one scrape more.
    let oom = expect(rules, "RedisWritesRejectedOOM", Some(&full), settle + i)?;
    for e in [&memory, &oom] {
        clear_before(ctx, watch, e).await?;
    }
    ctx.log
        .record("fault", Some(&full), Some("fill to maxmemory".into()));
    let fill = scratch::fill(scratch).await?;
    let filled = Instant::now();
    ctx.evidence
        .push(Evidence::on(&full, "SET until OOM", fill));
    undo.rejecting = Some(scratch::keep_rejecting(scratch));
    watch.arm(memory, filled);
    watch.arm(oom, filled);

    Ok(())
}

/// `CONFIG SET masterauth` on `node`, with errors that never carry the
/// value (the drill's generic admin helper echoes its arguments).
async fn set_masterauth(ctx: &DrillCtx<'_>, node: &str, value: &Secret) -> Result<(), DrillError> {
    let target = ctx.deployment.node_target(ctx.deployment.node(node)?);
    let timeouts = topology::Timeouts {
        connect: Duration::from_secs(1),
        response: Duration::from_secs(2),
    };
    let mut c = topology::connect(&target, &timeouts)
        .await
        .map_err(|e| DrillError::Other(format!("reach {node}: {e}")))?;
    redis::cmd("CONFIG")
        .arg("SET")
        .arg("masterauth")
        .arg(value.expose())
        .query_async::<()>(&mut c)
        .await
        .map_err(|e| {
            let code = topology::ReplyError::from_redis(&e)
                .map(|r| format!("{:?}", r.code))
                .unwrap_or_else(|| "no reply".into());
            DrillError::Other(format!("set masterauth on {node} ({code})"))
        })
}

/// Puts back what [`faults`] changed, whatever it got to; the first
/// failure is returned after every step was tried.
async fn restore(ctx: &mut DrillCtx<'_>, undo: &mut Undo) -> Result<(), DrillError> {
    let mut first: Option<DrillError> = None;
    if let Some(h) = undo.rejecting.take() {
        h.abort();
    }
    if let Some(node) = undo.stopped.take() {
        let back = async {
            ctx.deployment.restart(&node).await?;
            ctx.wait_replica(&node, REJOIN).await
        }
        .await;
        ctx.log
            .record("heal", Some(&node), Some("restart the replica".into()));
        if let Err(e) = back {
            first.get_or_insert(e);
        }
    }
    if let Some((node, value)) = undo.masterauth.take() {
        // The replica's next reconnect (within a second) authenticates.
        match set_masterauth(ctx, &node, &value).await {
            Ok(()) => {
                ctx.log
                    .record("heal", Some(&node), Some("masterauth restored".into()));
            }
            Err(e) => {
                first.get_or_insert(e);
            }
        }
    }
    first.map_or(Ok(()), Err)
}

/// The primary after a failover. The Sentinels can name the promoted node a
/// moment before its own ROLE says master, which the lookup refuses as
/// "not a primary (yet)": ask again every 100 ms, bounded by [`PROMOTED`].
async fn promoted_primary(ctx: &DrillCtx<'_>) -> Result<String, DrillError> {
    let deadline = Instant::now() + PROMOTED;
    loop {
        match ctx.deployment.primary().await {
            Ok(node) => return Ok(node.id.clone()),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
