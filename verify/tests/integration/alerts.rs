//! Live `monitoring.alerts-fire`: on a launched hardened Sentinel
//! deployment (processes) the drill starts redis_exporter + Prometheus and
//! a scratch node, fills the scratch node, fails over, stops a replica and
//! cuts the other one's link; every alert the rules define for those faults
//! fires within its `for:` plus two evaluations. With a rule file whose
//! RedisReplicationBroken can never match, the drill fails naming it. The
//! judgement (absent, pending only, late) is unit-tested over captured
//! `/api/v1/alerts` replies in `verify/src/drill/alerts/watch.rs`.

use super::common::{
    launch_topology, options, password_file, run_json, runtime, sentinel_target_url, verify_bin,
};
use std::time::{Duration, Instant};
use topology::{Deployment, Launcher, Profile, Topology};
use verify::check::Status;
use verify::config::DrillSettings;
use verify::drill::{self, alerts, Drill, DrillResult};

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
}

fn have_monitoring() -> bool {
    let have = |var: &str, names: &[&str]| {
        std::env::var_os(var).is_some() || names.iter().any(|n| on_path(n))
    };
    let ok = have("PROMETHEUS_BIN", &["prometheus"])
        && have(
            "REDIS_EXPORTER_BIN",
            &["prometheus-redis-exporter", "redis_exporter"],
        );
    if !ok {
        eprintln!("SKIPPED: monitoring.alerts-fire needs prometheus and redis_exporter (PROMETHEUS_BIN, REDIS_EXPORTER_BIN)");
    }
    ok
}

/// Launches a hardened Sentinel deployment on processes, runs `drill` on
/// it and checks it converges afterwards (everything was put back).
async fn drill_on_sentinel(drill: &dyn Drill) -> DrillResult {
    let started = Instant::now();
    let mut d = Deployment::launch_with(
        &Topology::SENTINEL,
        Profile::Hardened,
        &options(),
        Launcher::Process,
    )
    .await
    .expect("launch deployment");
    let settings = DrillSettings {
        writers: 2,
        writes_per_second: 50,
        ..DrillSettings::default()
    };
    let mut results = drill::run_drills(&mut d, &[drill], &settings).await;
    d.wait_converged(Duration::from_secs(30))
        .await
        .expect("converged after the drill");
    let r = results.remove(0);
    eprintln!(
        "alerts-fire: {} ms wall, {}",
        started.elapsed().as_millis(),
        serde_json::to_string_pretty(&r).unwrap_or_default()
    );
    r
}

fn passed(r: &DrillResult, alert: &str) -> bool {
    r.evidence
        .iter()
        .any(|e| e.observed.starts_with(alert) && e.observed.ends_with(": pass"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_alerts_fire_within_their_for_for_every_induced_fault() {
    if !have_monitoring() {
        return;
    }
    let r = drill_on_sentinel(&alerts::AlertsFire).await;
    let show = serde_json::to_string_pretty(&r).unwrap_or_default();
    assert_eq!(r.status, Status::Pass, "{show}");
    for alert in [
        "RedisMemoryHigh{instance=\"scratch-",
        "RedisWritesRejectedOOM{instance=\"scratch-",
        "RedisPrimaryChanged{instance=",
        "RedisDown{instance=",
        "RedisSentinelReplicaDown:",
        "RedisReplicationBroken{instance=",
    ] {
        assert!(
            passed(&r, alert),
            "{alert} not shown firing in time: {show}"
        );
    }
    // The replaced masterauth is never shown.
    assert!(!show.contains("alerts-fire-"), "{show}");
}

/// `rules` with every `for:` cut to 10 s, so a case takes about a minute.
fn short_for(rules: &str) -> String {
    rules
        .lines()
        .map(|l| match l.trim_start().strip_prefix("for: ") {
            Some(_) => format!("{}for: 10s", &l[..l.len() - l.trim_start().len()]),
            None => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The project's rules with every `for:` cut to 10 s and
/// RedisReplicationBroken's expression made impossible: the drill must
/// fail on that alert and pass the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_alerts_fire_fails_on_a_rule_that_can_never_match() {
    if !have_monitoring() {
        return;
    }
    let rules = topology::launch::monitoring::RULES;
    let broken = rules.replace(
        "expr: redis_master_link_up{job=\"redis\"} == 0",
        "expr: redis_master_link_up{job=\"redis\"} == 2",
    );
    assert_ne!(broken, rules, "the RedisReplicationBroken expression moved");
    let broken = short_for(&broken);
    let r = drill_on_sentinel(&alerts::AlertsFireWithRules(broken)).await;
    let show = serde_json::to_string_pretty(&r).unwrap_or_default();
    assert_eq!(r.status, Status::Fail, "{show}");
    assert!(
        r.evidence.iter().any(
            |e| e.observed.starts_with("RedisReplicationBroken{instance=")
                && e.observed.ends_with("never pending or firing: fail")
        ),
        "{show}"
    );
    assert!(passed(&r, "RedisMemoryHigh{instance=\"scratch-"), "{show}");
    assert!(passed(&r, "RedisDown{instance="), "{show}");
}

#[test]
fn alerts_fire_on_an_existing_target_needs_allow_disruption() {
    let out = verify_bin()
        .args([
            "--target",
            "redis+sentinel://127.0.0.1:9/mymaster",
            "--prometheus",
            "http://127.0.0.1:9",
            "drill",
            "monitoring.alerts-fire",
        ])
        .output()
        .expect("run verify");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--allow-disruption"), "{stderr}");
}

/// Existing-target mode through the CLI: a Sentinel deployment and a
/// Prometheus (the launched stack, rules with 10 s `for:`) started apart,
/// drilled with `--prometheus`, `--allow-disruption` and stop/start
/// commands (SIGSTOP/SIGCONT: the scrape times out, Sentinel sees the
/// replica down). Every alert the target allows is shown firing; the
/// memory alerts are reported not provable (no scratch node).
#[test]
fn process_alerts_fire_on_an_existing_target_with_its_prometheus() {
    if !have_monitoring() {
        return;
    }
    let rt = runtime();
    let d = launch_topology(
        &rt,
        Topology::SENTINEL,
        Profile::Hardened,
        Launcher::Process,
    );
    let rules = short_for(topology::launch::monitoring::RULES);
    let monitoring = rt
        .block_on(topology::launch::monitoring::Monitoring::start_with(
            &d,
            &[],
            Some(rules),
            |k| std::env::var(k).ok(),
        ))
        .expect("start exporter + Prometheus");
    let prom = verify::prom::Prom::new(monitoring.prometheus_url(), Duration::from_secs(2))
        .expect("prometheus client");
    let nodes = d.nodes().len() as f64;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = rt.block_on(prom.query("count(count_over_time(redis_up[1m]) >= 3)"));
        if up.ok().and_then(|s| s.first().map(|s| s.value)) == Some(nodes) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus never scraped every node"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let dir = tempfile::tempdir().unwrap();
    let pw = password_file(dir.path(), &d.credentials.as_ref().unwrap().admin);
    let url = sentinel_target_url(&d);
    let pw_s = pw.display().to_string();
    let (code, report, stderr) = run_json(&[
        "--target",
        &url,
        "--user",
        "admin",
        "--password-file",
        &pw_s,
        "--prometheus",
        monitoring.prometheus_url(),
        "drill",
        "monitoring.alerts-fire",
        "--allow-disruption",
        "--node-control",
        "stop=kill -STOP {pid}",
        "--node-control",
        "start=kill -CONT {pid}",
    ]);
    let r = &report["drills"][0];
    let show = format!("{r:#}");
    eprintln!("existing-target alerts-fire: {show}");
    let observed: Vec<&str> = r["evidence"]
        .as_array()
        .expect("evidence")
        .iter()
        .filter_map(|e| e["observed"].as_str())
        .collect();
    for alert in [
        "RedisPrimaryChanged{instance=",
        "RedisDown{instance=",
        "RedisSentinelReplicaDown:",
        "RedisReplicationBroken{instance=",
    ] {
        assert!(
            observed
                .iter()
                .any(|o| o.starts_with(alert) && o.ends_with(": pass")),
            "{alert} not shown firing in time: {show}"
        );
    }
    assert!(
        observed
            .iter()
            .any(|o| o.starts_with("not provable on an existing target")),
        "{show}"
    );
    assert_eq!(r["status"], "pass", "{stderr}\n{show}");
    assert_eq!(code, 0, "{stderr}");
    rt.block_on(d.wait_converged(Duration::from_secs(30)))
        .expect("converged after the drill");
}
