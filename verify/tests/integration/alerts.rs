//! Live `monitoring.alerts-fire`: on a launched hardened Sentinel
//! deployment (processes) the drill starts redis_exporter + Prometheus,
//! stops a replica, and every alert the rules define for that fault fires
//! within its `for:` plus two evaluations. The judgement (absent, pending
//! only, late) is unit-tested over captured `/api/v1/alerts` replies in
//! `verify/src/drill/alerts.rs`.

use super::common::options;
use std::time::{Duration, Instant};
use topology::{Deployment, Launcher, Profile, Topology};
use verify::check::Status;
use verify::config::DrillSettings;
use verify::drill::{self, alerts};

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_alerts_fire_within_their_for_when_a_replica_stops() {
    let have = |var: &str, names: &[&str]| {
        std::env::var_os(var).is_some() || names.iter().any(|n| on_path(n))
    };
    if !have("PROMETHEUS_BIN", &["prometheus"])
        || !have(
            "REDIS_EXPORTER_BIN",
            &["prometheus-redis-exporter", "redis_exporter"],
        )
    {
        eprintln!("SKIPPED: monitoring.alerts-fire needs prometheus and redis_exporter (PROMETHEUS_BIN, REDIS_EXPORTER_BIN)");
        return;
    }
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
    let results = drill::run_drills(&mut d, &[&alerts::AlertsFire], &settings).await;
    let r = &results[0];
    let show = serde_json::to_string_pretty(r).unwrap_or_default();
    assert_eq!(r.status, Status::Pass, "{show}");
    for alert in ["RedisDown{instance=", "RedisSentinelReplicaDown:"] {
        assert!(
            r.evidence
                .iter()
                .any(|e| e.observed.starts_with(alert) && e.observed.ends_with(": pass")),
            "{alert} not shown firing in time: {show}"
        );
    }
    d.wait_converged(Duration::from_secs(30))
        .await
        .expect("converged after the drill");
    eprintln!(
        "alerts-fire: {} ms wall, {show}",
        started.elapsed().as_millis()
    );
}
