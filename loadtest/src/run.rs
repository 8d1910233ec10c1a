//! One load test run: resolve the target (or launch the embedded default),
//! check it answers, start Goose with one scenario per workload, then gate,
//! report and write the summary. Goose's settings are in
//! [`crate::goose_tuning`], the progress display in [`crate::progress`],
//! key removal in [`crate::cleanup`].
//!
//! Everything that can fail because of the user's input or the target —
//! flags, TLS files, password file, connection, ACL rights for the Lua
//! scripts — fails here with one line and exit code 2 before any Goose user
//! starts.

use crate::cli::RunConfig;
use crate::conn::{ConnectionMode, Connector};
use crate::cpu::CpuTime;
use crate::invariants::Registry;
use crate::metrics::{HistShards, OpTable};
use crate::pacing::Pace;
use crate::params::Params;
use crate::shared::RunShared;
use crate::summary::{Overhead, Summary, SCHEMA_VERSION};
use crate::workloads::Runnable;
use crate::{
    cleanup, goose_tuning, merge, progress, report, slo, EXIT_ERROR, EXIT_PASS, EXIT_SLO_FAILED,
};
use goose::client::GooseClientBuilder;
use goose::prelude::{GooseAttack, GooseError};
use rand::Rng;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use thiserror::Error;
use topology::args::{FrontDoorError, Resolved as FrontDoor};
use topology::{
    ClientError, Connection, Deployment, LaunchError, LaunchOptions, Service, TargetError, Timeouts,
};

/// Why a run could not produce a result (exit code 2).
#[derive(Debug, Error)]
pub enum RunError {
    /// `--target` and its options are invalid.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The embedded default could not be launched.
    #[error("failed to launch the embedded default from redis-conf/: {0}")]
    Launch(#[from] LaunchError),
    /// A launch setting in the environment is wrong.
    #[error(transparent)]
    Options(#[from] topology::options::OptionError),
    /// The launched deployment has no application user.
    #[error("failed to find the app user of the launched deployment")]
    NoAppUser,
    /// The target does not answer.
    #[error(transparent)]
    Connect(#[from] ClientError),
    /// A workload's Lua script could not be loaded.
    #[error("failed to load the Lua script of `{workload}` as `{user}` on {target}: {detail} (the user needs +@scripting)")]
    Script {
        /// The workload.
        workload: &'static str,
        /// The ACL user.
        user: String,
        /// The redacted target.
        target: String,
        /// The server's answer.
        detail: String,
    },
    /// Goose refused its configuration.
    #[error("failed to start the load test: {0}")]
    Goose(String),
    /// `--rate` without a known number of users.
    #[error(
        "failed to pace the run: --rate is split over the users, so it needs -u (not --test-plan)"
    )]
    RateNeedsUsers,
    /// The summary could not be written.
    #[error(transparent)]
    Write(#[from] merge::MergeError),
    /// The plot could not be drawn or written.
    #[error(transparent)]
    Plot(#[from] crate::plot::PlotError),
    /// The async runtime could not start.
    #[error("failed to start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

/// What a finished run produced.
pub struct Outcome {
    /// The summary (also written with `--summary-json`).
    pub summary: Summary,
    /// Every gate held (and Goose's own thresholds, if any).
    pub pass: bool,
}

/// Runs a parsed command line to an exit code.
pub fn main(cfg: RunConfig) -> i32 {
    // Thousands of users hold a connection each; the soft limit of 1,024
    // open files would fail them. A launched server inherits the limit too.
    crate::cpu::raise_open_files_limit();
    let threads = cfg
        .args
        .threads
        .map_or_else(|| default_threads(&cfg), |t| t as usize);
    // One thread: the current-thread scheduler. Users, Goose's metrics task
    // and the I/O driver then share one thread, and a reply wakes its user
    // without a futex; a one-worker multi-thread runtime parks and unparks
    // between its worker and the block_on thread instead.
    let built = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    };
    let runtime = match built {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("loadtest: {}", RunError::Runtime(e));
            return EXIT_ERROR;
        }
    };
    let result = runtime.block_on(execute(cfg));
    runtime.shutdown_timeout(Duration::from_secs(2));
    match result {
        Ok(Some(outcome)) if outcome.pass => EXIT_PASS,
        Ok(Some(_)) => EXIT_SLO_FAILED,
        Ok(None) => EXIT_PASS,
        Err(e) => {
            eprintln!("loadtest: {e}");
            EXIT_ERROR
        }
    }
}

/// Worker threads when `--threads` is not given: one per CPU, but one fewer
/// when the server runs on this machine (the embedded default or a loopback
/// target), so client and server do not fight over the same cores. On the
/// 2-core benchmark machine this alone moves getset from 0.86x to 0.97x of
/// redis-benchmark's throughput (see the README, Measured figures).
fn default_threads(cfg: &RunConfig) -> usize {
    let cpus = std::thread::available_parallelism().map_or(2, usize::from);
    let local = match &cfg.args.target.target {
        None => true,
        Some(url) => {
            Service::parse(url, &cfg.args.target.target_options()).is_ok_and(|s| s.is_loopback())
        }
    };
    if local {
        cpus.saturating_sub(1).max(1)
    } else {
        cpus
    }
}

/// Where the load goes, and the deployment to stop afterwards if we
/// launched it.
struct Resolved {
    service: Service,
    deployment: Option<Box<Deployment>>,
}

async fn resolve_target(cfg: &RunConfig) -> Result<Resolved, RunError> {
    let args = &cfg.args.target;
    let options = LaunchOptions::from_env()?;
    match args.resolve(&options).await.map_err(|e| match e {
        FrontDoorError::Target(t) => RunError::Target(t),
        FrontDoorError::Launch(l) => RunError::Launch(l),
    })? {
        FrontDoor::Existing(service) => Ok(Resolved {
            service,
            deployment: None,
        }),
        FrontDoor::Launched(deployment) => {
            let service = deployment.app_service().ok_or(RunError::NoAppUser)?;
            eprintln!(
                "loadtest: no --target: launched the {} at {}",
                deployment.describe(),
                service.redacted()
            );
            Ok(Resolved {
                service,
                deployment: Some(deployment),
            })
        }
    }
}

fn params(cfg: &RunConfig) -> Params {
    let a = &cfg.args;
    let run_id: u32 = rand::rng().random();
    Params {
        prefix: format!("lt:{run_id:08x}:"),
        clients: a.clients,
        limit: a.limit,
        window: a.window,
        keyspace: a.keyspace,
        value_size: a.value_size,
        get_ratio: a.get_ratio,
        session_ttl: a.session_ttl,
        cache_ttl: a.cache_ttl,
        idempotency_ttl: a.idempotency_ttl,
        locks: a.locks,
        lock_ttl: a.lock_ttl,
        lock_hold: a.lock_hold,
        actions_per_transaction: a.actions_per_transaction,
    }
}

fn goose_error_text(e: &GooseError) -> String {
    match e {
        GooseError::InvalidOption {
            option,
            value,
            detail,
        } => {
            format!("{detail} (option {option}, value `{value}`)")
        }
        other => other
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
    }
}

/// Runs the load test. `Ok(None)` when Goose only printed information
/// (`--list`, `-V`, `--scenarios-list`).
pub async fn execute(cfg: RunConfig) -> Result<Option<Outcome>, RunError> {
    let resolved = resolve_target(&cfg).await?;
    let service = resolved.service.clone();
    let target = service.node.clone();
    // One connection proves the target answers and the credentials work,
    // before any user starts; with --connection shared it is the connection.
    let mut first = Connection::open(&service, &Timeouts::default()).await?;

    let params = params(&cfg);
    let registry = Arc::new(Registry::default());
    let mut ops = OpTable::default();
    let mut built: Vec<(&'static str, usize, u16, Arc<dyn Runnable>)> = Vec::new();
    for sel in &cfg.workloads {
        let w = (sel.info.build)(&params, &registry);
        for inv in sel.info.invariants {
            registry.counter(inv);
        }
        let base = ops.add(w.ops());
        built.push((sel.info.name, sel.weight, base, w));
    }
    for (name, _, _, w) in &built {
        for script in w.scripts() {
            let loaded: redis::RedisResult<String> =
                script.prepare_invoke().load_async(&mut first).await;
            if let Err(e) = loaded {
                return Err(RunError::Script {
                    workload: name,
                    user: target.user_name().to_owned(),
                    target: service.redacted(),
                    detail: topology::client::scrub(&e.to_string(), target.password.as_ref()),
                });
            }
        }
    }

    let config = goose_tuning::configure(&cfg, target.tls, &target.address(), built.len());
    let pace = Pace::from_flags(
        cfg.args.rate,
        cfg.args.think_time,
        config.users.unwrap_or(0),
    );
    if cfg.args.rate.is_some() && config.users.is_none() {
        return Err(RunError::RateNeedsUsers);
    }
    let mode = ConnectionMode::from(cfg.args.connection);
    let shared_conn = (mode == ConnectionMode::Shared).then(|| first.clone());
    let run = Arc::new(RunShared {
        params: params.clone(),
        registry: registry.clone(),
        hists: HistShards::new(ops, pace.is_open()),
        conns: Connector::new(service.clone(), mode, shared_conn).with_driver(cfg.args.driver),
        password: target.password.clone(),
        pace,
        users_started: AtomicU64::new(0),
        first_start: OnceLock::new(),
        goose_ns: AtomicU64::new(0),
        goose_samples: AtomicU64::new(0),
    });
    let info_only = config.list || config.version || config.scenarios_list;

    let mut attack = GooseAttack::initialize_with_config(config)
        .map_err(|e| RunError::Goose(goose_error_text(&e)))?
        .set_client_builder_without_cookies(GooseClientBuilder::new().without_cookies())
        .map_err(|e| RunError::Goose(goose_error_text(&e)))?;
    for (name, weight, base, w) in &built {
        let scenario = w
            .clone()
            .scenario(name, *weight, *base, run.clone())
            .map_err(|e| RunError::Goose(goose_error_text(&e)))?;
        attack = attack.register_scenario(scenario);
    }

    let tty = progress::on_terminal();
    let progress = (!cfg.args.no_progress && !info_only)
        .then(|| tokio::spawn(progress::run(run.clone(), tty)));
    let timeline = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sampler = (cfg.args.plot.is_some() && !info_only)
        .then(|| tokio::spawn(progress::timeline(run.clone(), timeline.clone())));
    let cpu_before = CpuTime::now();
    let goose_result = attack.execute().await;
    let cpu = CpuTime::now().since(cpu_before);
    let ended = Instant::now();
    if let Some(p) = progress {
        p.abort();
        progress::finish(tty);
    }
    if let Some(s) = sampler {
        s.abort();
    }
    let goose_thresholds_failed = match goose_result {
        Ok(_) => false,
        Err(GooseError::ThresholdsFailed { .. }) => true,
        Err(e) => return Err(RunError::Goose(goose_error_text(&e))),
    };
    if info_only {
        return Ok(None);
    }
    for (_, _, _, w) in &built {
        w.finish();
    }

    let summary = summarize(&cfg, &run, &service, ended, cpu);
    print!("{}", report::render(&summary));
    if goose_thresholds_failed {
        println!("Goose's own --threshold failed (see above).");
    }
    if let Some(path) = &cfg.args.summary_json {
        merge::write(path, &summary)?;
        eprintln!("loadtest: summary written to {}", path.display());
    }
    if let Some(path) = &cfg.args.plot {
        let points = crate::invariants::lock(&timeline).clone();
        crate::plot::write(path, &summary, &points)?;
        eprintln!("loadtest: plot written to {}", path.display());
    }
    if resolved.deployment.is_none() && !cfg.args.keep_keys {
        cleanup::cleanup(&service, &params.prefix).await;
    }
    drop(resolved);
    let pass = slo::all_pass(&summary.slo) && !goose_thresholds_failed;
    Ok(Some(Outcome { summary, pass }))
}

fn summarize(
    cfg: &RunConfig,
    run: &RunShared,
    service: &Service,
    ended: Instant,
    cpu: CpuTime,
) -> Summary {
    let duration_s = run
        .first_start
        .get()
        .map_or(0.0, |s| ended.saturating_duration_since(*s).as_secs_f64());
    let operations = run.hists.snapshot();
    let mut stats = run.registry.stats();
    if stats.contains_key("cache_hits") {
        stats.insert("cache_hit_ratio".into(), 0.0);
        merge::recompute_ratios(&mut stats);
    }
    let goose_samples = run.goose_samples.load(Ordering::Relaxed);
    let overhead = Overhead {
        goose_record_ns_per_op: if goose_samples == 0 {
            0.0
        } else {
            (run.goose_ns.load(Ordering::Relaxed) as f64 / goose_samples as f64).round()
        },
        hdr_record_ns_per_op: run.hists.flush_ns_per_op().round(),
        cpu_user_us_per_op: 0.0,
        cpu_sys_us_per_op: 0.0,
    };
    let mut settings: BTreeMap<String, serde_json::Value> = run
        .params
        .settings()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    settings.insert(
        "connection".into(),
        ConnectionMode::from(cfg.args.connection).as_str().into(),
    );
    settings.insert("driver".into(), cfg.args.driver.as_str().into());
    settings.insert("run_time".into(), cfg.args.goose.run_time.clone().into());
    settings.insert(
        "embedded_default".into(),
        cfg.args.target.target.is_none().into(),
    );
    settings.insert("topology".into(), service.kind.name().into());
    match run.pace {
        Pace::Closed => {
            settings.insert("loop".into(), "closed".into());
        }
        Pace::Open { interval } => {
            settings.insert("loop".into(), "open".into());
            let users = run.users_started().max(1) as f64;
            let rate = cfg
                .args
                .rate
                .unwrap_or_else(|| users / interval.as_secs_f64());
            settings.insert("rate_actions_per_s".into(), rate.into());
            settings.insert(
                "interval_per_user_ms".into(),
                (interval.as_secs_f64() * 1000.0).into(),
            );
        }
    }
    let mut summary = Summary {
        schema_version: SCHEMA_VERSION,
        tool: format!("loadtest {}", env!("CARGO_PKG_VERSION")),
        workload: cfg
            .workloads
            .iter()
            .map(|s| format!("{}:{}", s.info.name, s.weight))
            .collect::<Vec<_>>()
            .join(","),
        target: service.redacted(),
        users: run.users_started.load(Ordering::Relaxed),
        duration_s: (duration_s * 1000.0).round() / 1000.0,
        ops_total: 0,
        ops_per_sec: 0.0,
        errors_total: 0,
        latency_us: Default::default(),
        service_time_us: Default::default(),
        late_ops: run.hists.late_ops.load(Ordering::Relaxed),
        operations,
        invariants: run.registry.violations(),
        slo: BTreeMap::new(),
        slo_spec: cfg.slo_spec.clone(),
        stats,
        overhead,
        settings,
        merged_from: 1,
    };
    // Decoding what we just encoded cannot fail; if it ever did, the totals
    // would stay zero and latency gates would fail rather than pass.
    let _ = summary.refresh_totals();
    let (user, sys) = cpu.per_op_us(summary.ops_total);
    summary.overhead.cpu_user_us_per_op = user;
    summary.overhead.cpu_sys_us_per_op = sys;
    summary.ops_per_sec = if duration_s > 0.0 {
        (summary.ops_total as f64 / duration_s).round()
    } else {
        0.0
    };
    summary.slo = slo::evaluate(&cfg.gates, &summary);
    summary
}
