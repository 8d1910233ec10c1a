//! Live tests: every workload against a local hardened redis-server, every
//! invariant checker against its deliberately broken workload, and the
//! command line's exit codes. One test binary; each test launches its own
//! server (`REDIS_LAUNCHER=process`), so tests never share keys or ports.

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

use loadtest::cli::{parse, Parsed};
use loadtest::run::{execute, Outcome};
use loadtest::summary::Summary;
use std::time::{Duration, Instant};

/// Contention on purpose: few clients, locks and a small limit, so that a
/// wrong implementation has every chance to show.
const CONTENDED: &[&str] = &[
    "--clients",
    "2",
    "--limit",
    "5",
    "--window",
    "1s",
    "--locks",
    "2",
    "--no-progress",
];

/// A short lockout window, so failures leave it during the run.
const LOCKOUT: &[&str] = &["--window", "200ms", "--limit", "3"];

/// One lock whose 20 ms lease holders regularly outlive.
const SHORT_LEASES: &[&str] = &["--locks", "1", "--lock-ttl", "20ms", "--lock-hold", "20ms"];

fn use_local_processes() {
    // Tests run one per process under nextest; set before any launch.
    std::env::set_var("REDIS_LAUNCHER", "process");
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs loadtest in-process (embedded default unless `--target` is given).
fn run(args: &[&str]) -> Outcome {
    use_local_processes();
    let mut all = vec!["loadtest"];
    all.extend_from_slice(args);
    let Ok(Parsed::Run(cfg)) = parse(all.clone()) else {
        panic!("{all:?} does not parse")
    };
    runtime().block_on(execute(*cfg)).unwrap().unwrap()
}

fn workload(name: &str, users: &str, extra: &[&str]) -> Summary {
    let mut args = vec!["--workload", name, "-u", users, "-t", "2s"];
    args.extend_from_slice(CONTENDED);
    args.extend_from_slice(extra);
    let started = Instant::now();
    let outcome = run(&args);
    let s = outcome.summary;
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{name} overran"
    );
    let work = s.ops_total - s.operations.get("CONNECT").map_or(0, |c| c.count);
    assert!(work > 100, "{name} did almost nothing: {}", s.ops_total);
    s
}

fn assert_holds(name: &str, extra: &[&str]) {
    let s = workload(name, "6", extra);
    assert_eq!(s.errors_total, 0, "{name}: errors {:?}", s.operations);
    assert!(!s.invariants.is_empty() || ["getset", "cache"].contains(&name));
    assert!(
        s.invariants.values().all(|v| *v == 0),
        "{name}: {:?}",
        s.invariants
    );
    assert!(s.slo["invariants==0"].pass);
}

fn assert_caught(name: &str, invariant: &str, extra: &[&str]) {
    let s = workload(name, "8", extra);
    assert!(
        s.invariants[invariant] > 0,
        "{name}: {invariant} not caught: {:?} stats {:?}",
        s.invariants,
        s.stats
    );
    assert!(
        !s.slo["invariants==0"].pass,
        "a violation fails the default gate"
    );
}

/// One test per line, `test_name: helper(args…);`: each is its own process
/// under nextest, and so has its own server.
macro_rules! live_tests {
    ($($test:ident: $check:ident($($arg:expr),* $(,)?);)*) => {
        $(
            #[test]
            fn $test() {
                $check($($arg),*);
            }
        )*
    };
}

// Every workload holds its invariants under contention.
live_tests! {
    getset_holds: assert_holds("getset", &[]);
    ratelimit_fixed_holds: assert_holds("ratelimit-fixed", &[]);
    ratelimit_sliding_holds: assert_holds("ratelimit-sliding", &[]);
    ratelimit_token_bucket_holds: assert_holds("ratelimit-token-bucket", &[]);
    session_holds: assert_holds("session", &["--session-ttl", "2s"]);
    lockout_holds: assert_holds("lockout", LOCKOUT);
    idempotency_holds: assert_holds("idempotency", &[]);
    lock_holds: assert_holds("lock", &["--lock-hold", "2ms"]);
}

#[test]
fn lock_with_leases_shorter_than_holds_has_takeovers_but_no_double_hold() {
    // Holders regularly outlive their 20 ms lease; the next acquire is then
    // legitimate, and the checker must not call it a double hold.
    let s = workload("lock", "8", SHORT_LEASES);
    assert_eq!(s.invariants["double_holds"], 0, "{:?}", s.stats);
    assert_eq!(s.invariants["fence_regressions"], 0);
    assert!(
        s.stats["lock_takeovers_after_lease_expiry"] > 0.0,
        "{:?}",
        s.stats
    );
}

#[test]
fn cache_holds_and_reports_hit_ratio() {
    let s = workload("cache", "6", &["--keyspace", "200"]);
    assert_eq!(s.errors_total, 0);
    let ratio = s.stats["cache_hit_ratio"];
    assert!(ratio > 0.5 && ratio < 1.0, "hit ratio {ratio}");
    assert_eq!(s.stats["cache_wrong_values"], 0.0);
}

// Every invariant checker catches the bug its broken variant carries.
live_tests! {
    ratelimit_fixed_checker_catches_check_then_act:
        assert_caught("ratelimit-fixed-broken", "over_admissions", &[]);
    ratelimit_sliding_checker_catches_non_atomic_steps:
        assert_caught("ratelimit-sliding-broken", "over_admissions", &[]);
    ratelimit_token_bucket_checker_catches_read_modify_write:
        assert_caught("ratelimit-token-bucket-broken", "over_admissions", &[]);
    session_checker_catches_ttl_unit_bug:
        assert_caught("session-broken", "lost_sessions", &["--session-ttl", "2s"]);
    lockout_checker_catches_count_then_record:
        assert_caught("lockout-broken", "lockout_excess_attempts", LOCKOUT);
    idempotency_checker_catches_get_then_set:
        assert_caught("idempotency-broken", "duplicates_accepted", &[]);
    lock_checker_catches_acquire_without_nx:
        assert_caught("lock-broken-nx", "double_holds", &["--lock-hold", "2ms"]);
    lock_checker_catches_release_without_token_check:
        assert_caught("lock-broken-release", "double_holds", SHORT_LEASES);
}

#[test]
fn several_workloads_shared_connection_and_summary_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.json");
    let path_s = path.to_str().unwrap();
    let s = workload(
        "getset:2,idempotency,session",
        "6",
        &[
            "--connection",
            "shared",
            "--summary-json",
            path_s,
            "--slo",
            "errors<1%,invariants==0",
        ],
    );
    for op in ["getset:GET", "idempotency:SET_NX_EX", "session:validate"] {
        assert!(
            s.operations.contains_key(op),
            "{op} missing: {:?}",
            s.operations.keys()
        );
    }
    let written = loadtest::merge::read(&path).unwrap();
    assert_eq!(written, s);
    assert!(s.slo.values().all(|g| g.pass), "{:?}", s.slo);
    assert!(s.settings["connection"] == "shared");
}

#[test]
fn explicit_target_with_password_file_and_exit_codes() {
    use_local_processes();
    let rt = runtime();
    let deployment = rt
        .block_on(topology::Deployment::launch(
            &topology::Topology::Standalone,
            topology::Profile::Hardened,
            &topology::LaunchOptions::from_env().unwrap(),
        ))
        .unwrap();
    let app = deployment.app_target().unwrap();
    let url = format!("redis://{}", app.address());
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(
        &pw,
        format!("{}\n", app.password.as_ref().unwrap().expose()),
    )
    .unwrap();
    let pw = pw.to_str().unwrap();
    let base = [
        "loadtest",
        "--target",
        &url,
        "--user",
        "app",
        "--password-file",
        pw,
        "-u",
        "2",
        "-t",
        "1s",
        "--no-progress",
    ];

    let with = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        loadtest::main_with_args(a)
    };
    assert_eq!(with(&["--slo", "errors==0"]), loadtest::EXIT_PASS);
    assert_eq!(with(&["--slo", "p99<1us"]), loadtest::EXIT_SLO_FAILED);

    let wrong = dir.path().join("wrong");
    std::fs::write(&wrong, "not-the-password\n").unwrap();
    let started = Instant::now();
    let code = loadtest::main_with_args([
        "loadtest",
        "--target",
        &url,
        "--user",
        "app",
        "--password-file",
        wrong.to_str().unwrap(),
        "-t",
        "1s",
    ]);
    assert_eq!(code, loadtest::EXIT_ERROR);
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(deployment);
}

#[test]
fn unreachable_target_is_a_usage_error_before_any_user_starts() {
    let started = Instant::now();
    // Port 1 on loopback: nothing listens, the connect is refused at once.
    let code = loadtest::main_with_args([
        "loadtest",
        "--target",
        "redis://127.0.0.1:1",
        "-u",
        "5",
        "-t",
        "5s",
    ]);
    assert_eq!(code, loadtest::EXIT_ERROR);
    assert!(started.elapsed() < Duration::from_secs(5), "no user ran");
    assert_eq!(
        loadtest::main_with_args(["loadtest", "--target", "http://127.0.0.1:1"]),
        loadtest::EXIT_ERROR
    );
    assert_eq!(
        loadtest::main_with_args(["loadtest", "--bogus"]),
        loadtest::EXIT_ERROR
    );
}

#[test]
fn users_reconnect_when_redis_goes_away_and_the_run_ends_on_time() {
    use_local_processes();
    let rt = runtime();
    let mut deployment = rt
        .block_on(topology::Deployment::launch(
            &topology::Topology::Standalone,
            topology::Profile::Hardened,
            &topology::LaunchOptions::from_env().unwrap(),
        ))
        .unwrap();
    let app = deployment.app_target().unwrap();
    std::env::set_var("REDIS_PASSWORD", app.password.as_ref().unwrap().expose());
    let url = format!("redis://app@{}", app.address());
    let args = [
        "loadtest",
        "--target",
        url.as_str(),
        "--workload",
        "getset",
        "-u",
        "4",
        "-t",
        "5s",
        "--no-progress",
    ];
    let Ok(Parsed::Run(cfg)) = parse(args) else {
        panic!("parse")
    };
    let started = Instant::now();
    let outcome = rt.block_on(async {
        let load = tokio::spawn(execute(*cfg));
        tokio::time::sleep(Duration::from_millis(1500)).await;
        deployment.kill("n1").await.unwrap();
        tokio::time::sleep(Duration::from_millis(1000)).await;
        deployment.restart("n1").await.unwrap();
        load.await.unwrap().unwrap().unwrap()
    });
    let s = outcome.summary;
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "ended late: {:?}",
        started.elapsed()
    );
    assert!(s.errors_total > 0, "the outage shows as errors");
    let connects = &s.operations["CONNECT"];
    assert!(connects.count > 4, "users reconnected: {connects:?}");
    assert!(
        connects.count - connects.errors > 4,
        "and got back in: {connects:?}"
    );
    let gets = &s.operations["getset:GET"];
    assert!(gets.count > gets.errors + 100);
}

/// Every (visible) workload at once on a launched deployment of `topology`:
/// no invariant violation and no error at all (so no CROSSSLOT either).
fn every_workload_holds_on(topology: &str) {
    let names: Vec<&str> = loadtest::workloads::REGISTRY
        .iter()
        .filter(|w| !w.hidden)
        .map(|w| w.name)
        .collect();
    let spec = names.join(",");
    let mut args = vec![
        "--topology",
        topology,
        "--workload",
        &spec,
        "-u",
        "16",
        "-t",
        "4s",
    ];
    args.extend_from_slice(CONTENDED);
    let s = run(&args).summary;
    assert_eq!(s.settings["topology"], topology);
    for name in &names {
        let ran = s
            .operations
            .iter()
            .filter(|(op, _)| op.starts_with(&format!("{name}:")))
            .map(|(_, o)| o.count)
            .sum::<u64>();
        assert!(ran > 10, "{name} barely ran on {topology}: {ran}");
    }
    assert_eq!(s.errors_total, 0, "{topology}: errors {:?}", s.operations);
    assert!(
        s.invariants.values().all(|v| *v == 0),
        "{topology}: {:?}",
        s.invariants
    );
}

#[test]
fn every_workload_holds_on_a_launched_cluster() {
    every_workload_holds_on("cluster");
}

#[test]
fn every_workload_holds_on_a_launched_sentinel_deployment() {
    every_workload_holds_on("sentinel");
}

/// A standalone hardened server of our own and a URL to it as `app` (the
/// password through `REDIS_PASSWORD`, as a user would pass it).
fn own_server(rt: &tokio::runtime::Runtime) -> (topology::Deployment, String, String) {
    use_local_processes();
    let deployment = rt
        .block_on(topology::Deployment::launch(
            &topology::Topology::Standalone,
            topology::Profile::Hardened,
            &topology::LaunchOptions::from_env().unwrap(),
        ))
        .unwrap();
    let app = deployment.app_target().unwrap();
    let password = app.password.as_ref().unwrap().expose().to_owned();
    let url = format!("redis://app@{}", app.address());
    (deployment, url, password)
}

#[test]
fn open_loop_latency_counts_a_stall_that_service_time_hides() {
    // 4 users at 4,000 actions/s for 3 s: ~12,000 operations, so the 4
    // requests in flight when the server freezes are fewer than 0.1 % and
    // do not reach the service-time p99.9.
    const STALL: Duration = Duration::from_millis(300);
    const RUN: Duration = Duration::from_secs(3);
    let rt = runtime();
    let (mut deployment, url, password) = own_server(&rt);
    std::env::set_var("REDIS_PASSWORD", password);
    let args = [
        "loadtest",
        "--target",
        url.as_str(),
        "--workload",
        "getset",
        "-u",
        "4",
        "--rate",
        "4000",
        "-t",
        "3s",
        "--no-progress",
        "--slo",
        "none",
    ];
    let Ok(Parsed::Run(cfg)) = parse(args) else {
        panic!("parse")
    };
    let (outcome, stalled) = rt.block_on(async {
        let load = tokio::spawn(execute(*cfg));
        tokio::time::sleep(Duration::from_millis(1200)).await;
        deployment.pause("n1").await.unwrap();
        // Measured from after SIGSTOP was sent to before SIGCONT is: never
        // longer than the real freeze.
        let frozen = Instant::now();
        tokio::time::sleep(STALL).await;
        let stalled = frozen.elapsed();
        deployment.resume("n1").await.unwrap();
        (load.await.unwrap().unwrap().unwrap(), stalled)
    });
    let s = outcome.summary;
    assert_eq!(s.settings["loop"], "open");
    assert_eq!(s.errors_total, 0, "{:?}", s.operations);
    let (corrected, service) = (s.latency_us.p999, s.service_time_us.p999);
    // An exact open-loop measure gives the requests due during the stall
    // latencies spread evenly from the stall down to nothing: the one due
    // k-th after the freeze waited about k / rate less. The 0.1 % of
    // operations above p99.9 are the first 0.1 % of the run's operations
    // due after the freeze, so p99.9 sits 0.1 % of the run time below the
    // stall; 2 ms more for timer resolution.
    let slack = RUN / 1000 + Duration::from_millis(2);
    eprintln!(
        "stall {stalled:?}: corrected p99.9 {corrected} µs, service p99.9 {service} µs, late {}, ops {}",
        s.late_ops, s.ops_total
    );
    let floor = (stalled - slack).as_micros() as u64;
    assert!(
        corrected >= floor,
        "corrected p99.9 {corrected} µs < stall {stalled:?} - {slack:?}"
    );
    assert!(
        service < (STALL / 3).as_micros() as u64,
        "service p99.9 {service} µs should not see the stall"
    );
    // Every action due during the stall ran late rather than being dropped.
    let due = 4000.0 * stalled.as_secs_f64();
    assert!(
        s.late_ops as f64 >= 0.8 * due,
        "late {} of {due}",
        s.late_ops
    );
    let rate = s.ops_per_sec;
    assert!(
        (3000.0..5000.0).contains(&rate),
        "open loop holds its rate: {rate}"
    );
    drop(deployment);
}

#[test]
fn processes_side_by_side_merge_exactly() {
    // What the chart's Job does with parallelism 3, as local processes.
    const PARTS: usize = 3;
    let rt = runtime();
    let (deployment, url, password) = own_server(&rt);
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_loadtest");
    let paths: Vec<_> = (0..PARTS)
        .map(|i| dir.path().join(format!("part-{i}.json")))
        .collect();
    let children: Vec<_> = paths
        .iter()
        .map(|p| {
            std::process::Command::new(bin)
                .args([
                    "--target",
                    url.as_str(),
                    "--workload",
                    "getset,idempotency",
                    "-u",
                    "4",
                    "--rate",
                    "1000",
                    "-t",
                    "2s",
                    "--no-progress",
                    "--threads",
                    "1",
                    "--summary-json",
                ])
                .arg(p)
                .env("REDIS_PASSWORD", &password)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let parts: Vec<Summary> = paths
        .iter()
        .map(|p| loadtest::merge::read(p).unwrap())
        .collect();
    // A gate no part passes alone and their sum does: it must be judged
    // again on the merged figures, not copied from a part.
    let fastest = parts.iter().map(|p| p.ops_per_sec).fold(0.0, f64::max);
    let gate = format!("ops_per_sec>={:.0},invariants==0", fastest * 1.5);
    assert!(parts
        .iter()
        .all(|p| !loadtest::slo::all_pass(&loadtest::slo::evaluate(
            &loadtest::slo::parse(&gate).unwrap(),
            p
        ))));
    let out = dir.path().join("all.json");
    let status = std::process::Command::new(bin)
        .arg("merge")
        .args(&paths)
        .arg("-o")
        .arg(&out)
        .args(["--slo", &gate])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "merged gate passes: {status}");
    let merged = loadtest::merge::read(&out).unwrap();
    assert_eq!(merged.merged_from, PARTS as u32);
    assert_eq!(
        merged.ops_total,
        parts.iter().map(|p| p.ops_total).sum::<u64>()
    );
    assert_eq!(
        merged.late_ops,
        parts.iter().map(|p| p.late_ops).sum::<u64>()
    );
    for (op, m) in &merged.operations {
        let mut latency = loadtest::summary::new_histogram();
        let mut service = loadtest::summary::new_histogram();
        for p in &parts {
            if let Some(o) = p.operations.get(op) {
                latency.add(o.decode().unwrap()).unwrap();
                service.add(o.decode_service().unwrap()).unwrap();
            }
        }
        assert_eq!(m.decode().unwrap(), latency, "{op}: histograms added");
        assert_eq!(m.decode_service().unwrap(), service, "{op}: service too");
    }
    assert!(merged.slo.values().all(|g| g.pass), "{:?}", merged.slo);
    drop(deployment);
}
