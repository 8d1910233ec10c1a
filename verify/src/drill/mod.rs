//! Drills: disrupt a launched deployment under write load and measure what
//! clients lost, against a budget derived from the configuration.
//!
//! Drills share the check model's vocabulary (stable id, [`Status`],
//! [`Evidence`], [`Applies`], the report and exit codes) but not its
//! context: a drill gets a [`DrillCtx`] with a [`Subject`] (node
//! control: the launched `Deployment` or the user's commands), the live writer counters and the event log, so read-only
//! checks never depend on node control.
//!
//! One harness ([`run_drill`]) does what every drill shares: start the
//! observers (Sentinel events, ROLE polls) and the [`writer`], let the drill
//! inject its fault and heal it, then stop writing, wait (bounded) for the
//! deployment to converge, read every list back from the final primary and
//! every node ([`checker`]), derive the [`timeline`] numbers and judge them
//! against the drill's [`Budget`].
//!
//! Timers: before drilling, every Sentinel of a launched deployment gets
//! `SENTINEL SET mymaster down-after-milliseconds 2000` and `failover-timeout
//! 10000` (`[drills]` in verify.toml changes them), so a failover takes
//! seconds, not the production 5 s + election. Sentinel refuses to start a
//! second automatic failover of a master within twice the failover-timeout,
//! so consecutive drills wait that long after the previous fault.
//!
//! On a Cluster, every data node gets `CONFIG SET cluster-node-timeout
//! 2000` instead (the policy's 5000 is for production), so a replica is
//! promoted a few seconds after its primary fails. The drilled primary is
//! the one serving writer 0's key, so at least one writer sees the fault;
//! loss, unavailability and "acked after" are counted per writer key.

pub mod alerts;
pub mod backup;
pub mod checker;
pub mod command;
pub mod commands;
pub mod control;
pub mod converge;
pub mod existing;
pub mod failover;
pub mod persistence;
pub mod plot;
pub mod progress;
pub mod timeline;
pub mod writer;

use crate::check::{Applies, BoxFuture, Evidence, Status};
use crate::config::DrillSettings;
use checker::{Accounting, Lists};
use commands::Action;
use control::Subject;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use timeline::{Event, EventLog, Observers, Seen};
use topology::{Deployment, LaunchError, Timeouts, Topology};
use writer::{ms, Clock, Live, WriteOutcome, Writer, WriterConfig};

/// Static description of a drill: `verify drill list` and the docs come
/// from it.
#[derive(Debug)]
pub struct DrillMeta {
    /// Stable id, `area.kebab-name`.
    pub id: &'static str,
    /// Short title.
    pub title: &'static str,
    /// Topologies it runs on.
    pub applies: Applies,
    /// What it does to the deployment.
    pub injects: &'static str,
    /// What it measures.
    pub measures: &'static str,
    /// How its budget is derived.
    pub budget: &'static str,
    /// Why it matters, with a reference.
    pub why: &'static str,
}

/// What a drill may cost, derived from the configuration it ran against.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Budget {
    /// Acked writes it may lose; `None` when the loss is bounded in time
    /// instead.
    pub max_lost_acked: Option<u64>,
    /// Every lost acked write must have completed within this many ms of
    /// the fault.
    pub max_loss_window_ms: Option<u64>,
    /// Largest acceptable write-unavailability.
    pub max_unavailability_ms: u64,
    /// Where the numbers come from.
    pub basis: String,
}

/// Why a drill could not run.
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    /// The launcher cannot do what the drill needs: reported as a skip.
    #[error("{0}")]
    Unsupported(String),
    /// Node control failed.
    #[error(transparent)]
    Launch(#[from] LaunchError),
    /// Anything else, said as a fragment after "failed to".
    #[error("failed to {0}")]
    Other(String),
}

impl From<writer::WriterError> for DrillError {
    fn from(e: writer::WriterError) -> Self {
        Self::Other(format!("start the writers: {e}"))
    }
}

/// What a drill gets: node control, the writers' live counters, the event
/// log and the observers' role samples.
pub struct DrillCtx<'a> {
    /// The deployment under drill and control over its nodes.
    pub deployment: Subject<'a>,
    /// Writers' counters (acks so far, last ack time).
    pub live: Arc<Live>,
    /// The timeline.
    pub log: EventLog,
    /// Role polls and Sentinel subscriptions.
    pub observers: &'a Observers,
    /// `[drills]`.
    pub settings: &'a DrillSettings,
    /// The primary when the drill started.
    pub old_primary: String,
    /// Configuration read from the primary before the fault.
    pub config: BTreeMap<String, String>,
    /// When the fault was injected (ms).
    pub fault_ms: Option<u64>,
    /// When it was healed (ms).
    pub heal_ms: Option<u64>,
    /// A node restarted at this time that must never serve writes again
    /// as a primary (kill-primary's rejoin proof).
    pub rejoined: Option<(String, u64)>,
    /// Evidence the drill collected.
    pub evidence: Vec<Evidence>,
    /// What the drill saw go wrong (each fails the drill).
    pub problems: Vec<String>,
    /// The writers' keys (writer index order).
    pub keys: Vec<String>,
    /// A node restored from a snapshot: when (drill clock) the snapshot was
    /// requested and what the restored node held. The harness checks every
    /// write acked before that instant against it.
    pub restored: Option<(Duration, Lists)>,
}

impl DrillCtx<'_> {
    /// Records the fault now.
    pub fn mark_fault(&mut self, what: &str, node: &str) -> u64 {
        let t = self.log.record("fault", Some(node), Some(what.to_owned()));
        self.fault_ms = Some(t);
        t
    }

    /// Records the heal now.
    pub fn mark_heal(&mut self, what: &str, node: &str) -> u64 {
        let t = self.log.record("heal", Some(node), Some(what.to_owned()));
        self.heal_ms = Some(t);
        t
    }

    /// Waits, bounded, until a node other than `old` reports master in the
    /// role polls; returns its id.
    pub async fn wait_new_master(&self, old: &str, bound: Duration) -> Result<String, DrillError> {
        let from = self.fault_ms.unwrap_or(0);
        wait_for(bound, "see a new primary promoted", || {
            let samples = self.observers.samples();
            timeline::first_new_master(&samples, old, from).map(|(_, n)| n)
        })
        .await
    }

    /// Waits, bounded, until a write is acked after `after_ms`.
    pub async fn wait_ack_after(&self, after_ms: u64, bound: Duration) -> Result<u64, DrillError> {
        wait_for(bound, "see a write acknowledged after the fault", || {
            self.live.last_ack().filter(|t| *t > after_ms)
        })
        .await
    }

    /// Waits, bounded, until `node`'s latest polled role is replica.
    pub async fn wait_replica(&self, node: &str, bound: Duration) -> Result<(), DrillError> {
        wait_for(bound, &format!("see {node} rejoin as a replica"), || {
            matches!(self.observers.latest().get(node), Some(Seen::Replica(_))).then_some(())
        })
        .await
    }

    /// Runs one command as admin on a node and returns the reply as text.
    pub async fn admin(&self, node: &str, args: &[&str]) -> Result<String, DrillError> {
        let n = self.deployment.node(node)?;
        admin_command(&self.deployment.node_target(n), args).await
    }
}

async fn wait_for<T>(
    bound: Duration,
    what: &str,
    mut probe: impl FnMut() -> Option<T>,
) -> Result<T, DrillError> {
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        if let Some(v) = probe() {
            return Ok(v);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(DrillError::Other(format!("{what} within {bound:?}")));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn admin_timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(1),
        response: Duration::from_secs(2),
    }
}

async fn admin_command(target: &topology::Target, args: &[&str]) -> Result<String, DrillError> {
    let mut c = topology::connect(target, &admin_timeouts())
        .await
        .map_err(|e| DrillError::Other(format!("reach {}: {e}", target.address())))?;
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    let v: redis::Value = cmd
        .query_async(&mut c)
        .await
        .map_err(|e| DrillError::Other(format!("run {}: {e}", args.join(" "))))?;
    Ok(render(&v))
}

fn render(v: &redis::Value) -> String {
    match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        redis::Value::SimpleString(s) => s.clone(),
        redis::Value::VerbatimString { text, .. } => text.clone(),
        redis::Value::Okay => "OK".into(),
        redis::Value::Int(i) => i.to_string(),
        redis::Value::Nil => "(nil)".into(),
        redis::Value::Array(items) => items.iter().map(render).collect::<Vec<_>>().join(" "),
        redis::Value::Map(pairs) => pairs
            .iter()
            .map(|(k, v)| format!("{} {}", render(k), render(v)))
            .collect::<Vec<_>>()
            .join(" "),
        other => format!("{other:?}"),
    }
}

/// A drill.
pub trait Drill: Sync {
    /// Its description.
    fn meta(&self) -> &'static DrillMeta;
    /// Injects the fault under load, waits (bounded) for the deployment to
    /// react, heals it, and returns the budget derived from `ctx.config`.
    /// The harness checks the writes and the invariants afterwards.
    fn run<'a, 'b: 'a>(
        &'a self,
        ctx: &'a mut DrillCtx<'b>,
    ) -> BoxFuture<'a, Result<Budget, DrillError>>;

    /// Puts the deployment back in its launched shape once the writers
    /// have stopped (outside the measurement), before the harness checks
    /// convergence; `old` is the primary the drill started with. Nothing by
    /// default.
    fn restore<'a>(
        &'a self,
        _d: &'a mut Subject<'_>,
        _old: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Evidence>, DrillError>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    /// Node-control actions it needs: on an existing deployment a drill
    /// whose action has no `--node-control` command is skipped before any
    /// write. None by default.
    fn needs(&self) -> &'static [Action] {
        &[]
    }

    /// Whether the subject gives the drill what it needs beyond node-control
    /// actions (e.g. the data files): an `Unsupported` error is reported as
    /// a skip before any write. Everything by default.
    fn available(&self, _d: &Subject<'_>) -> Result<(), DrillError> {
        Ok(())
    }
}

/// Every drill, in the order `verify drill` runs them: the coordinated
/// failover first, because Sentinel delays an automatic failover that
/// follows another.
pub static REGISTRY: &[&dyn Drill] = &[
    &persistence::Kill9,
    &persistence::Restart,
    &backup::BackupRestore { stale: false },
    &failover::Manual,
    &failover::KillPrimary,
    &failover::PausePrimary,
    &failover::PartitionPrimary { unguarded: false },
    &alerts::AlertsFire,
];

/// Drills `verify drill` runs only when named: `monitoring.alerts-fire`
/// needs redis_exporter and Prometheus and lasts as long as its longest
/// alert's `for:` (2 min), which would more than double the Sentinel suite.
pub const NAMED_ONLY: &[&str] = &["monitoring.alerts-fire"];

/// Every drill id.
pub fn ids() -> Vec<&'static str> {
    REGISTRY.iter().map(|d| d.meta().id).collect()
}

/// Writes counted by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Writes {
    /// Sent.
    pub attempted: u64,
    /// Confirmed.
    pub acked: u64,
    /// Definitely refused.
    pub failed: u64,
    /// Unknown outcome.
    pub unknown: u64,
}

/// One drill's result: the numbers, the timeline and the verdict.
#[derive(Clone, Debug, Serialize)]
pub struct DrillResult {
    /// Drill id.
    pub id: &'static str,
    /// Title.
    pub title: &'static str,
    /// `sentinel`, `cluster`, `standalone`.
    pub topology: &'static str,
    /// Verdict.
    pub status: Status,
    /// One line: why.
    pub message: String,
    /// Configuration read from the primary before the fault.
    pub config: BTreeMap<String, String>,
    /// Writes by outcome.
    pub writes: Writes,
    /// Acked, absent on the final primary.
    pub lost: u64,
    /// Unknown, present.
    pub recovered: u64,
    /// Present, never attempted.
    pub unexpected: u64,
    /// Present more than once.
    pub duplicated: u64,
    /// Failed, yet present.
    pub failed_present: u64,
    /// Last ack before the fault → first ack after (the longest gap).
    pub unavailability_ms: Option<u64>,
    /// Fault → first poll seeing a new primary.
    pub promote_ms: Option<u64>,
    /// Writes the old primary acknowledged after a new primary was
    /// promoted (a stale primary still serving clients).
    pub stale_acked: u64,
    /// Two nodes acknowledging writes at once.
    pub split_brain_ms: u64,
    /// More than one node reporting master in the role polls.
    pub dual_master_ms: u64,
    /// Furthest distance of a lost write's completion from the fault.
    pub loss_window_ms: Option<u64>,
    /// Lost writes per node that acknowledged them.
    pub lost_by_node: BTreeMap<String, u64>,
    /// Every node against the final primary.
    pub divergence: Vec<checker::Divergence>,
    /// A node restored from a backup against the writes acked before the
    /// backup (`persistence.backup-restore`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored: Option<checker::Restored>,
    /// What happened when.
    pub timeline: Vec<Event>,
    /// What it was allowed to cost.
    pub budget: Option<Budget>,
    /// Commands and observations behind the verdict.
    pub evidence: Vec<Evidence>,
    /// How long it took.
    pub elapsed_ms: u64,
    /// Writes per 100 ms by outcome, for `--plot` (not in the JSON: the
    /// counts and the timeline are).
    #[serde(skip)]
    pub buckets: Vec<plot::Bucket>,
}

impl DrillResult {
    pub(crate) fn bare(
        meta: &'static DrillMeta,
        topology: &'static str,
        status: Status,
        message: String,
    ) -> Self {
        Self {
            id: meta.id,
            title: meta.title,
            topology,
            status,
            message,
            config: BTreeMap::new(),
            writes: Writes::default(),
            lost: 0,
            recovered: 0,
            unexpected: 0,
            duplicated: 0,
            failed_present: 0,
            unavailability_ms: None,
            promote_ms: None,
            stale_acked: 0,
            split_brain_ms: 0,
            dual_master_ms: 0,
            loss_window_ms: None,
            lost_by_node: BTreeMap::new(),
            divergence: Vec::new(),
            restored: None,
            timeline: Vec::new(),
            budget: None,
            evidence: Vec::new(),
            elapsed_ms: 0,
            buckets: Vec::new(),
        }
    }
}

pub(crate) fn applies(meta: &DrillMeta, topology: &Topology) -> bool {
    match topology {
        Topology::Standalone => meta.applies.standalone,
        Topology::Sentinel { .. } => meta.applies.sentinel,
        Topology::Cluster { .. } => meta.applies.cluster,
    }
}

/// `cluster-node-timeout` set on every node of a launched Cluster before
/// drilling.
pub const CLUSTER_NODE_TIMEOUT_MS: u64 = 2000;

/// Sets the drill timers on every Sentinel, or on every Cluster node (as
/// admin).
pub async fn set_timers(d: &Subject<'_>, s: &DrillSettings) -> Result<Vec<Evidence>, DrillError> {
    let mut evidence = Vec::new();
    if let Topology::Cluster { .. } = d.topology {
        for n in d.data_nodes() {
            let v = CLUSTER_NODE_TIMEOUT_MS.to_string();
            let args = ["CONFIG", "SET", "cluster-node-timeout", v.as_str()];
            let reply = admin_command(&d.node_target(n), &args).await?;
            evidence.push(Evidence::on(&n.id, args.join(" "), reply));
        }
    }
    for sentinel in d.sentinels() {
        let target = d.node_target(sentinel);
        for (param, value) in [
            ("down-after-milliseconds", s.down_after_ms),
            ("failover-timeout", s.failover_timeout_ms),
        ] {
            let v = value.to_string();
            let master = d.master_name();
            let args = ["SENTINEL", "SET", master.as_str(), param, v.as_str()];
            let reply = admin_command(&target, &args).await?;
            evidence.push(Evidence::on(&sentinel.id, args.join(" "), reply));
        }
    }
    Ok(evidence)
}

/// Hard bound for one drill, beyond every bounded wait inside it.
/// monitoring.alerts-fire waits out RedisMemoryHigh's `for: 5m`: its live test
/// took 321 s end to end (stack + scratch start, 303 s bound, restore).
const DRILL_TIMEOUT: Duration = Duration::from_secs(420);
/// How long writes flow before the fault.
const WARMUP: Duration = Duration::from_secs(1);
/// How long writes keep flowing after the drill healed its fault.
const AFTERMATH: Duration = Duration::from_secs(1);
/// Bound for the deployment to converge after a drill.
const CONVERGE: Duration = Duration::from_secs(45);
/// Bound for every node to hold what the final primary holds.
const SETTLE: Duration = Duration::from_secs(15);

/// Runs `drills` one after the other on a launched deployment, each within
/// its bound; drills that do not apply to the topology are left out.
pub async fn run_drills(
    d: &mut Deployment,
    drills: &[&dyn Drill],
    s: &DrillSettings,
) -> Vec<DrillResult> {
    run_on(&mut Subject::launched(d), drills, s).await
}

/// Runs `drills` on any subject. A launched deployment first gets the
/// drill timers; an existing one is drilled with the timers it has (the
/// caller reads them into `s`).
pub async fn run_on(
    d: &mut Subject<'_>,
    drills: &[&dyn Drill],
    s: &DrillSettings,
) -> Vec<DrillResult> {
    let mut results = Vec::new();
    let set = if d.is_launched() {
        set_timers(d, s).await
    } else {
        Ok(Vec::new())
    };
    let timers = match set {
        Ok(e) => e,
        Err(e) => {
            for drill in drills.iter().filter(|x| applies(x.meta(), &d.topology)) {
                results.push(DrillResult::bare(
                    drill.meta(),
                    d.topology.kind(),
                    Status::Error,
                    format!("failed to set the drill timers: {e}"),
                ));
            }
            return results;
        }
    };
    let mut last_fault: Option<Instant> = None;
    for drill in drills {
        if !applies(drill.meta(), &d.topology) {
            continue;
        }
        // A drill whose node-control action has no command is skipped
        // here, before any cool-down or write.
        if let Some(Err(e)) = drill
            .needs()
            .iter()
            .map(|a| d.supports(*a))
            .chain(std::iter::once(drill.available(d)))
            .find(Result::is_err)
        {
            let mut r =
                DrillResult::bare(drill.meta(), d.topology.kind(), Status::Skip, e.to_string());
            r.evidence.extend(timers.iter().cloned());
            results.push(r);
            continue;
        }
        // Sentinel will not start a failover within 2 × failover-timeout
        // of the previous one it took part in; nothing else needs a pause.
        if let (Some(at), Topology::Sentinel { .. }) = (last_fault, d.topology) {
            let cool = Duration::from_millis(s.failover_timeout_ms * 2 + 1000);
            if let Some(rest) = cool.checked_sub(at.elapsed()) {
                tokio::time::sleep(rest).await;
            }
        }
        // A node a drill restarted came back with the policy's timers:
        // set them again (cheap, and the next drill measures what it says).
        if d.is_launched() && last_fault.is_some() {
            if let Err(e) = set_timers(d, s).await {
                results.push(DrillResult::bare(
                    drill.meta(),
                    d.topology.kind(),
                    Status::Error,
                    format!("failed to set the drill timers: {e}"),
                ));
                continue;
            }
        }
        let started = Instant::now();
        let mut r = match tokio::time::timeout(DRILL_TIMEOUT, run_drill_on(d, *drill, s)).await {
            Ok(r) => r,
            Err(_) => DrillResult::bare(
                drill.meta(),
                d.topology.kind(),
                Status::Error,
                format!("did not finish within {DRILL_TIMEOUT:?}"),
            ),
        };
        if r.status != Status::Skip {
            last_fault = Some(started);
        }
        r.evidence.splice(0..0, timers.iter().cloned());
        results.push(r);
    }
    results
}

/// Runs one drill with the shared harness on a launched deployment.
pub async fn run_drill(d: &mut Deployment, drill: &dyn Drill, s: &DrillSettings) -> DrillResult {
    run_drill_on(&mut Subject::launched(d), drill, s).await
}

/// Runs one drill with the shared harness.
pub async fn run_drill_on(
    d: &mut Subject<'_>,
    drill: &dyn Drill,
    s: &DrillSettings,
) -> DrillResult {
    let meta = drill.meta();
    let kind = d.topology.kind();
    let started = Instant::now();
    let mut r = match harness(d, drill, s).await {
        Ok(r) => r,
        Err(DrillError::Unsupported(why)) => DrillResult::bare(meta, kind, Status::Skip, why),
        Err(e) => DrillResult::bare(meta, kind, Status::Error, e.to_string()),
    };
    r.elapsed_ms = ms(started.elapsed());
    r
}

async fn harness(
    d: &mut Subject<'_>,
    drill: &dyn Drill,
    s: &DrillSettings,
) -> Result<DrillResult, DrillError> {
    let meta = drill.meta();
    if !applies(meta, &d.topology) {
        return Err(DrillError::Unsupported(format!(
            "applies to {} deployments, not {}",
            meta.applies.names(),
            d.topology.kind()
        )));
    }
    for action in drill.needs() {
        d.supports(*action)?;
    }
    drill.available(d)?;
    let run = format!(
        "{}-{:08x}",
        meta.id.replace('.', "-"),
        rand::random::<u32>()
    );
    let cluster = matches!(d.topology, Topology::Cluster { .. });
    let old_primary = if cluster {
        slot_owner(d, &writer::key(&run, 0, true)).await?
    } else {
        d.primary().await?.id.clone()
    };
    let mut config = BTreeMap::new();
    let primary_target = d.node_target(d.node(&old_primary)?);
    for param in [
        "min-replicas-to-write",
        "min-replicas-max-lag",
        "appendonly",
        "appendfsync",
    ] {
        let v = admin_command(&primary_target, &["CONFIG", "GET", param]).await?;
        config.insert(
            param.to_owned(),
            v.split_whitespace().nth(1).unwrap_or("").to_owned(),
        );
    }
    config.insert(
        "down-after-milliseconds".into(),
        s.down_after_ms.to_string(),
    );
    config.insert("failover-timeout".into(), s.failover_timeout_ms.to_string());
    if cluster {
        config.remove("down-after-milliseconds");
        config.remove("failover-timeout");
        config.insert(
            "cluster-node-timeout".into(),
            d.cluster_node_timeout_ms.to_string(),
        );
    }
    let clock = Clock::start();
    let log = EventLog::new(clock);
    let mut observers = Observers::start(d, &log);
    let wcfg = WriterConfig {
        writers: s.writers.max(1),
        writes_per_second: s.writes_per_second,
        wait_replicas: s.wait_replicas,
        ..WriterConfig::default()
    };
    let service = d.service();
    let writer = Writer::start(&service, &wcfg, clock, &run).await?;
    let keys = writer.keys();
    let live = writer.live.clone();
    let mut progress = progress::Progress::start(meta.id);
    progress.follow(live.clone(), log.clone());
    progress.phase("writing before the fault");
    tokio::time::sleep(WARMUP).await;
    progress.phase("fault injected");
    let mut ctx = DrillCtx {
        deployment: d.reborrow(),
        live: live.clone(),
        log: log.clone(),
        observers: &observers,
        settings: s,
        old_primary: old_primary.clone(),
        config,
        fault_ms: None,
        heal_ms: None,
        rejoined: None,
        evidence: Vec::new(),
        problems: Vec::new(),
        keys: keys.clone(),
        restored: None,
    };
    let outcome = drill.run(&mut ctx).await;
    let DrillCtx {
        fault_ms,
        heal_ms,
        rejoined,
        mut evidence,
        mut problems,
        config,
        restored,
        ..
    } = ctx;
    if let Err(e) = &outcome {
        if matches!(e, DrillError::Unsupported(_)) {
            writer.stop().await;
            observers.stop();
            return Err(DrillError::Unsupported(e.to_string()));
        }
        problems.push(e.to_string());
    }
    progress.phase("healed, writing on");
    tokio::time::sleep(AFTERMATH).await;
    let history = writer.stop().await;
    // Role changes the restore itself causes (a fail-back) are not the
    // drill's: the dual-master count stops where a restore starts.
    let mut restored_at: Option<u64> = None;
    if outcome.is_ok() {
        let at = log.clock().now_ms();
        match drill.restore(d, &old_primary).await {
            Ok(e) => {
                if !e.is_empty() {
                    restored_at = Some(at);
                }
                evidence.extend(e);
            }
            Err(e) => problems.push(format!("after the drill: {e}")),
        }
    }
    // Invariants: converged (one primary every Sentinel names, replicas
    // linked), and the role polls agree there is exactly one master.
    progress.phase("writers stopped, waiting for the deployment to converge");
    if let Err(e) = d.wait_converged(CONVERGE).await {
        problems.push(format!("after the drill: {e}"));
    }
    tokio::time::sleep(timeline::ROLE_POLL * 3).await;
    let masters: Vec<String> = observers
        .latest()
        .into_iter()
        .filter(|(_, s)| *s == Seen::Master)
        .map(|(n, _)| n)
        .collect();
    evidence.push(Evidence::new(
        "ROLE (every data node, polled)",
        format!("masters: {}", masters.join(", ")),
    ));
    let shards = match d.topology {
        Topology::Cluster { shards, .. } => usize::from(shards),
        _ => 1,
    };
    if masters.len() != shards {
        problems.push(format!(
            "after the drill {} nodes report master: {}",
            masters.len(),
            masters.join(", ")
        ));
    }
    progress.phase("reading every list back");
    let (primary_lists, node_lists) = settle(d, &keys, cluster).await;
    progress.finish();
    let samples = observers.samples();
    observers.stop();
    // Sentinel connections name nodes by their announced address, direct
    // ones by the address this host reaches them at.
    let names: BTreeMap<String, String> = d
        .data_nodes()
        .flat_map(|n| {
            [
                (n.reachable.to_string(), n.id.clone()),
                (n.announced.to_string(), n.id.clone()),
            ]
        })
        .collect();
    let name = |a: &topology::Addr| {
        names
            .get(&a.to_string())
            .cloned()
            .unwrap_or_else(|| a.to_string())
    };
    let acct = checker::check(&history, &primary_lists, &node_lists, &name);
    cleanup(d, &keys).await;

    let fault = fault_ms.unwrap_or(0);
    // On a Cluster the other shards keep acknowledging: the gap that
    // counts is each writer's (each key lives on one shard).
    let (gap_start, gap_end) = if cluster {
        per_writer_unavailability(&history, fault)
    } else {
        timeline::unavailability(&history, fault)
    };
    let mut events = log.snapshot();
    let mut mark = |t: Option<u64>, event: &str| {
        if let Some(t_ms) = t {
            events.push(Event {
                t_ms,
                event: event.into(),
                node: None,
                detail: None,
            });
        }
    };
    mark(gap_start, "last ack before");
    mark(gap_end, "first ack after");
    mark(
        history
            .iter()
            .filter(|w| w.outcome == WriteOutcome::Failed && ms(w.complete) >= fault)
            .map(|w| ms(w.complete))
            .min(),
        "first failed write",
    );
    events.sort_by_key(|e| e.t_ms);
    if let Some((node, since)) = &rejoined {
        let acks = history
            .iter()
            .filter(|w| w.outcome == WriteOutcome::Acked && ms(w.complete) > *since)
            .filter(|w| w.node.as_ref().is_some_and(|a| name(a) == *node))
            .count();
        if acks > 0 {
            problems.push(format!(
                "{node} acknowledged {acks} writes as a second primary after it came back"
            ));
        }
    }
    let budget = match &outcome {
        Ok(b) => Some(apply_overrides(b.clone(), meta.id, s)),
        Err(_) => None,
    };
    let restored = restored.map(|(cutoff, lists)| {
        let r = checker::check_restored(&history, cutoff, &lists);
        restored_problems(&r, budget.as_ref(), &mut problems, &mut evidence);
        r
    });
    let unavailability_ms = gap_start.zip(gap_end).map(|(a, b)| b - a);
    let loss_window_ms = acct
        .lost_span_ms
        .map(|(lo, hi)| fault.abs_diff(lo).max(fault.abs_diff(hi)));
    let _ = heal_ms;
    let promote_ms = timeline::promote_ms(&samples, &old_primary, fault);
    let stale_acked = promote_ms.map_or(0, |p| {
        timeline::acked_by_after(&history, &|a| name(a) == old_primary, fault + p)
    });
    if stale_acked > 0 {
        evidence.push(Evidence::new(
            "writes acked by the old primary after the promotion",
            format!(
                "{stale_acked} ({old_primary}, after {} ms)",
                fault + promote_ms.unwrap_or(0)
            ),
        ));
    }
    let verdict = judge(
        &acct,
        unavailability_ms,
        gap_end.is_some(),
        loss_window_ms,
        budget.as_ref(),
        &problems,
    );
    let status = if verdict.is_empty() {
        Status::Pass
    } else {
        Status::Fail
    };
    let message = if verdict.is_empty() {
        format!(
            "lost {} of {} acked writes; unavailable {} ms{}{}",
            acct.lost,
            acct.acked,
            unavailability_ms.unwrap_or(0),
            // Standalone has nothing to promote.
            promote_ms.map_or_else(String::new, |p| format!("; promoted in {p} ms")),
            restored.as_ref().map_or_else(String::new, |r| format!(
                "; restored node holds {} of {} writes acked before the backup",
                r.acked_before - r.lost,
                r.acked_before
            ))
        )
    } else {
        verdict.join("; ")
    };
    if !acct.lost_sample.is_empty() {
        evidence.push(Evidence::new(
            "lost writes (writer:seq)",
            acct.lost_sample.join(", "),
        ));
    }
    Ok(DrillResult {
        id: meta.id,
        title: meta.title,
        topology: d.topology.kind(),
        status,
        message,
        config,
        writes: Writes {
            attempted: acct.attempted,
            acked: acct.acked,
            failed: acct.failed,
            unknown: acct.unknown,
        },
        lost: acct.lost,
        recovered: acct.recovered,
        unexpected: acct.unexpected,
        duplicated: acct.duplicated,
        failed_present: acct.failed_present,
        unavailability_ms,
        promote_ms,
        stale_acked,
        split_brain_ms: timeline::split_brain_ms(&history),
        dual_master_ms: timeline::dual_master_ms(
            &samples
                .iter()
                .filter(|(t, _, _)| restored_at.is_none_or(|r| *t < r))
                .cloned()
                .collect::<Vec<_>>(),
            shards,
        ),
        loss_window_ms,
        lost_by_node: acct.lost_by_node.clone(),
        divergence: acct.divergence.clone(),
        restored,
        timeline: events,
        budget,
        evidence,
        elapsed_ms: 0,
        buckets: plot::buckets(&history),
    })
}

/// Judges a restored node: the budget's `max_lost_acked` applies to the
/// writes acked before the backup, and nothing never written may appear.
fn restored_problems(
    r: &checker::Restored,
    budget: Option<&Budget>,
    problems: &mut Vec<String>,
    evidence: &mut Vec<Evidence>,
) {
    evidence.push(Evidence::new(
        "LRANGE every writer key on the restored node",
        format!(
            "{} values; {} of {} writes acked before the BGSAVE absent; {} never written",
            r.values, r.lost, r.acked_before, r.unexpected
        ),
    ));
    if !r.lost_sample.is_empty() {
        evidence.push(Evidence::new(
            "absent from the restored node (writer:seq)",
            r.lost_sample.join(", "),
        ));
    }
    let max = budget.and_then(|b| b.max_lost_acked).unwrap_or(0);
    if r.lost > max {
        problems.push(format!(
            "the restored node lacks {} of {} writes acked before the BGSAVE, budget {max}",
            r.lost, r.acked_before
        ));
    }
    if r.unexpected > 0 {
        problems.push(format!(
            "the restored node holds {} values that were never written",
            r.unexpected
        ));
    }
}

fn apply_overrides(mut b: Budget, id: &str, s: &DrillSettings) -> Budget {
    if let Some(u) = s.max_unavailability_ms {
        b.max_unavailability_ms = u;
    }
    if let Some(o) = s.budget.get(id) {
        if let Some(u) = o.max_unavailability_ms {
            b.max_unavailability_ms = u;
        }
        if let Some(l) = o.max_lost_acked {
            b.max_lost_acked = Some(l);
            b.basis
                .push_str(&format!("; max_lost_acked {l} from verify.toml"));
        }
    }
    b
}

/// The primary serving `key`'s slot: the one data node that answers a read
/// of it (the others redirect with MOVED; replicas too, without READONLY).
async fn slot_owner(d: &Subject<'_>, key: &str) -> Result<String, DrillError> {
    for n in d.data_nodes() {
        if let Ok(mut c) = topology::connect(&d.node_target(n), &admin_timeouts()).await {
            let r: redis::RedisResult<i64> = redis::cmd("LLEN").arg(key).query_async(&mut c).await;
            if r.is_ok() {
                return Ok(n.id.clone());
            }
        }
    }
    Err(DrillError::Other(format!("find the primary serving {key}")))
}

/// The longest per-writer gap after the fault (see
/// [`timeline::unavailability`]); no end when some writer never had a write
/// acked after the fault.
fn per_writer_unavailability(
    history: &[writer::WriteRecord],
    fault: u64,
) -> (Option<u64>, Option<u64>) {
    let writers: std::collections::BTreeSet<usize> = history.iter().map(|w| w.writer).collect();
    let mut best: (Option<u64>, Option<u64>) = (None, None);
    for w in writers {
        let mine: Vec<writer::WriteRecord> =
            history.iter().filter(|r| r.writer == w).cloned().collect();
        let (s, e) = timeline::unavailability(&mine, fault);
        match e {
            None => return (s, None),
            Some(end) => {
                let start = s.unwrap_or(fault);
                let len = end - start;
                if best.0.zip(best.1).is_none_or(|(a, b)| len > b - a) {
                    best = (Some(start), Some(end));
                }
            }
        }
    }
    best
}

/// Every reason the drill exceeded its budget or broke an invariant.
fn judge(
    a: &Accounting,
    unavailability_ms: Option<u64>,
    acked_after: bool,
    loss_window_ms: Option<u64>,
    budget: Option<&Budget>,
    problems: &[String],
) -> Vec<String> {
    let mut v: Vec<String> = problems.to_vec();
    if let Some(b) = budget {
        if let Some(max) = b.max_lost_acked {
            if a.lost > max {
                v.push(format!("lost {} acked writes, budget {max}", a.lost));
            }
        }
        if let (Some(max), Some(w)) = (b.max_loss_window_ms, loss_window_ms) {
            if w > max {
                v.push(format!(
                    "lost acked writes {w} ms from the fault, budget {max} ms"
                ));
            }
        }
        if let Some(u) = unavailability_ms {
            if u > b.max_unavailability_ms {
                v.push(format!(
                    "writes unavailable for {u} ms, budget {} ms",
                    b.max_unavailability_ms
                ));
            }
        }
    }
    if !acked_after {
        v.push("no write was acknowledged after the fault".into());
    }
    if a.unexpected > 0 {
        v.push(format!(
            "{} values present that were never written",
            a.unexpected
        ));
    }
    if a.duplicated > 0 {
        v.push(format!("{} values present more than once", a.duplicated));
    }
    for div in &a.divergence {
        match &div.error {
            Some(e) => v.push(format!("{} could not be read back: {e}", div.node)),
            None if div.missing + div.extra > 0 => v.push(format!(
                "{} diverges from the primary: {} missing, {} extra",
                div.node, div.missing, div.extra
            )),
            None => {}
        }
    }
    v
}

/// Reads every writer's list. `own_slots_only` (one Cluster node): read as
/// a replica may (READONLY) and leave out keys whose slot another shard
/// serves (MOVED).
async fn read_lists(
    conn: &mut impl redis::aio::ConnectionLike,
    keys: &[String],
    own_slots_only: bool,
) -> Result<Lists, String> {
    let mut out = Lists::new();
    if own_slots_only {
        let _: () = redis::cmd("READONLY")
            .query_async(conn)
            .await
            .map_err(|e| topology::client::one_line(&e.to_string()))?;
    }
    for (w, key) in keys.iter().enumerate() {
        let values: redis::RedisResult<Vec<String>> = redis::cmd("LRANGE")
            .arg(key)
            .arg(0)
            .arg(-1)
            .query_async(conn)
            .await;
        match values {
            Ok(v) => {
                out.insert(w, v);
            }
            Err(e)
                if own_slots_only
                    && topology::client::reply_code(&e)
                        .is_some_and(|c| c == topology::ErrorCode::Moved) => {}
            Err(e) => return Err(topology::client::one_line(&e.to_string())),
        }
    }
    Ok(out)
}

/// Reads every list from the final primary and from every data node, again
/// (bounded) until every node holds what the primary holds.
async fn settle(
    d: &Subject<'_>,
    keys: &[String],
    cluster: bool,
) -> (Lists, Vec<(String, Result<Lists, String>)>) {
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let primary = read_primary(d, keys).await.unwrap_or_default();
        let mut nodes = Vec::new();
        for n in d.data_nodes() {
            let read = match topology::connect(&d.node_target(n), &admin_timeouts()).await {
                Ok(mut c) => read_lists(&mut c, keys, cluster).await,
                Err(e) => Err(e.to_string()),
            };
            nodes.push((n.id.clone(), read));
        }
        let same = nodes
            .iter()
            .all(|(_, r)| r.as_ref().is_ok_and(|l| same_sets(l, &primary)));
        if same || tokio::time::Instant::now() >= deadline {
            return (primary, nodes);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn same_sets(a: &Lists, b: &Lists) -> bool {
    let norm = |l: &Lists| -> BTreeMap<usize, std::collections::BTreeSet<String>> {
        l.iter()
            .map(|(w, v)| (*w, v.iter().cloned().collect()))
            .collect()
    };
    let (x, y) = (norm(a), norm(b));
    // `a` is one node's read: on a Cluster only the keys of its own shard.
    let keys: std::collections::BTreeSet<usize> = x.keys().copied().collect();
    keys.iter().all(|k| {
        x.get(k).is_none_or(|s| s.is_empty()) && y.get(k).is_none_or(|s| s.is_empty())
            || x.get(k) == y.get(k)
    })
}

async fn read_primary(d: &Subject<'_>, keys: &[String]) -> Result<Lists, String> {
    match d.topology {
        Topology::Cluster { .. } => {
            let mut c = topology::Connection::open(&d.service(), &admin_timeouts())
                .await
                .map_err(|e| e.to_string())?;
            read_lists(&mut c, keys, false).await
        }
        _ => {
            let p = d.primary().await.map_err(|e| e.to_string())?;
            let mut c = topology::connect(&d.node_target(p), &admin_timeouts())
                .await
                .map_err(|e| e.to_string())?;
            read_lists(&mut c, keys, false).await
        }
    }
}

async fn cleanup(d: &Subject<'_>, keys: &[String]) {
    if let Ok(mut c) = topology::Connection::open(&d.service(), &admin_timeouts()).await {
        for k in keys {
            let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(k).query_async(&mut c).await;
        }
    }
}

/// Budget shared by the failover drills, from the primary's replication
/// guard: with `min-replicas-to-write` ≥ 1 a primary that lost its replicas
/// stops acknowledging within `min-replicas-max-lag` seconds, so every
/// acked write lost must lie within that window of the fault (plus one
/// second of replica-ack period); without it nothing bounds the loss and the
/// drill may lose only `[drills] max_lost_acked` (default 0).
pub fn replication_budget(config: &BTreeMap<String, String>, s: &DrillSettings) -> Budget {
    let mrw: u64 = config
        .get("min-replicas-to-write")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let lag: u64 = config
        .get("min-replicas-max-lag")
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    // Detection: Sentinel's down-after, or a Cluster's node timeout.
    let (detect, detect_ms) = match config
        .get("cluster-node-timeout")
        .and_then(|v| v.parse().ok())
    {
        Some(t) => ("cluster-node-timeout", t),
        None => ("down-after", s.down_after_ms),
    };
    let max_unavailability_ms = detect_ms + 6000;
    if mrw >= 1 {
        Budget {
            max_lost_acked: None,
            max_loss_window_ms: Some(lag * 1000 + 1000),
            max_unavailability_ms,
            basis: format!(
                "min-replicas-to-write {mrw}, min-replicas-max-lag {lag}: loss within {lag} s + 1 s of the fault; unavailability {detect} {detect_ms} ms + 6000 ms"
            ),
        }
    } else if detect == "cluster-node-timeout" {
        // redis-conf/cluster.conf's stated bound: a primary cut off from the
        // majority answers CLUSTERDOWN once cluster-node-timeout passes, so
        // without min-replicas-to-write the loss is bounded in time by it.
        Budget {
            max_lost_acked: None,
            max_loss_window_ms: Some(detect_ms + 1000),
            max_unavailability_ms,
            basis: format!(
                "Cluster, min-replicas-to-write 0: a cut-off primary stops after cluster-node-timeout; loss within {detect_ms} ms + 1 s of the fault; unavailability {detect} {detect_ms} ms + 6000 ms"
            ),
        }
    } else {
        Budget {
            max_lost_acked: Some(s.max_lost_acked),
            max_loss_window_ms: None,
            max_unavailability_ms,
            basis: format!(
                "min-replicas-to-write 0: nothing bounds the loss; max_lost_acked {} ([drills]); unavailability {detect} {detect_ms} ms + 6000 ms",
                s.max_lost_acked
            ),
        }
    }
}

/// `verify drill list`: id, topologies, what it injects, measures, budget.
pub fn list(drills: &[&dyn Drill]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for d in drills {
        let m = d.meta();
        let _ = writeln!(out, "{:<28} {}", m.id, m.title);
        let _ = writeln!(out, "  topologies: {}", m.applies.names());
        let _ = writeln!(out, "  injects:    {}", m.injects);
        let _ = writeln!(out, "  measures:   {}", m.measures);
        let _ = writeln!(out, "  budget:     {}", m.budget);
        if NAMED_ONLY.contains(&m.id) {
            let _ = writeln!(out, "  runs only when named: verify drill {}", m.id);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let ids = ids();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), ids.len());
        assert!(ids.iter().all(|i| i
            .split_once('.')
            .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())));
        let text = list(REGISTRY);
        for id in ids {
            assert!(text.contains(id));
        }
    }

    #[test]
    fn the_budget_follows_the_replication_guard() {
        let s = DrillSettings::default();
        let guarded: BTreeMap<String, String> = [
            ("min-replicas-to-write".into(), "1".into()),
            ("min-replicas-max-lag".into(), "10".into()),
        ]
        .into();
        let b = replication_budget(&guarded, &s);
        assert_eq!(
            (
                b.max_lost_acked,
                b.max_loss_window_ms,
                b.max_unavailability_ms
            ),
            (None, Some(11_000), 8000)
        );
        let open: BTreeMap<String, String> = [("min-replicas-to-write".into(), "0".into())].into();
        assert_eq!(replication_budget(&open, &s).max_lost_acked, Some(0));
    }

    #[test]
    fn judge_fails_over_budget_and_on_anomalies() {
        let b = Budget {
            max_lost_acked: Some(0),
            max_loss_window_ms: None,
            max_unavailability_ms: 100,
            basis: String::new(),
        };
        let mut a = Accounting::default();
        assert!(judge(&a, Some(50), true, None, Some(&b), &[]).is_empty());
        a.lost = 2;
        a.unexpected = 1;
        let v = judge(&a, Some(150), false, Some(10), Some(&b), &["x".into()]);
        assert_eq!(v.len(), 5, "{v:?}");
    }
}
