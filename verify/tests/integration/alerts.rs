//! Live `monitoring.alerts-fire`: on a launched hardened Sentinel
//! deployment (processes) the drill starts redis_exporter + Prometheus and
//! a scratch node, fills the scratch node, fails over, stops a replica and
//! cuts the other one's link; every alert the rules define for those faults
//! fires within its `for:` plus two evaluations. With a rule file whose
//! RedisReplicationBroken can never match, the drill fails naming it. The
//! judgement (absent, pending only, late) is unit-tested over captured
//! `/api/v1/alerts` replies in `verify/src/drill/alerts/watch.rs`.

use super::common::options;
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

/// The project's rules with every `for:` cut to 10 s (so the case takes
/// well under a minute) and RedisReplicationBroken's expression made
/// impossible: the drill must fail on that alert and pass the others.
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
    let broken: String = broken
        .lines()
        .map(|l| match l.trim_start().strip_prefix("for: ") {
            Some(_) => format!("{}for: 10s", &l[..l.len() - l.trim_start().len()]),
            None => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
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
