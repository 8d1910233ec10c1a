//! `--driver`: both clients for per-user connections run a workload with
//! its invariants intact and say which one ran in the summary; an unknown
//! driver is a usage error; a one-thread run (the current-thread runtime)
//! works end to end through the binary's own entry point. Each test
//! launches its own local redis-server (`REDIS_LAUNCHER=process`).

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

use loadtest::cli::{parse, Parsed};
use loadtest::run::execute;
use loadtest::summary::Summary;

fn use_local_processes() {
    std::env::set_var("REDIS_LAUNCHER", "process");
}

fn run(args: &[&str]) -> Summary {
    use_local_processes();
    let mut all = vec!["loadtest", "--no-progress", "-t", "2s"];
    all.extend_from_slice(args);
    let Ok(Parsed::Run(cfg)) = parse(all.clone()) else {
        panic!("{all:?} does not parse")
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(execute(*cfg)).unwrap().unwrap().summary
}

fn assert_ran(s: &Summary, driver: &str) {
    assert_eq!(s.settings["driver"], driver);
    assert_eq!(s.errors_total, 0, "{:?}", s.operations);
    assert!(s.ops_total > 100, "did almost nothing: {}", s.ops_total);
    assert!(s.invariants.values().all(|v| *v == 0), "{:?}", s.invariants);
}

#[test]
fn wire_lean_driver_runs_scripts_and_transactions_with_invariants_intact() {
    // idempotency uses Lua scripts; session pipelines and MULTI/EXEC.
    let s = run(&[
        "--workload",
        "idempotency,session",
        "-u",
        "4",
        "--driver",
        "lean",
    ]);
    assert_ran(&s, "lean");
}

#[test]
fn wire_redis_rs_driver_still_runs() {
    let s = run(&["--workload", "getset", "-u", "4", "--driver", "redis-rs"]);
    assert_ran(&s, "redis-rs");
}

#[test]
fn wire_lean_is_the_default_driver() {
    let s = run(&["--workload", "getset", "-u", "2"]);
    assert_ran(&s, "lean");
}

#[test]
fn wire_an_unknown_driver_is_a_usage_error() {
    let code = loadtest::main_with_args(["loadtest", "--driver", "hyper"]);
    assert_eq!(code, 2);
}

#[test]
fn wire_a_one_thread_run_uses_the_current_thread_runtime_end_to_end() {
    use_local_processes();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s.json");
    let code = loadtest::main_with_args([
        "loadtest",
        "--workload",
        "getset",
        "-u",
        "4",
        "-t",
        "2s",
        "--threads",
        "1",
        "--no-progress",
        "--summary-json",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let s: Summary = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_ran(&s, "lean");
}
