//! Live drills: a crashed primary on processes stays within its budget and
//! comes back as a replica; the unguarded partition (Docker) loses acked
//! writes and fails; the Sentinel manual failover is measured. The checker
//! itself is unit-tested over constructed histories in
//! `verify/src/drill/checker.rs`.

use super::common::{docker_available, options};
use std::time::Duration;
use topology::{Deployment, Launcher, Profile, Topology};
use verify::check::Status;
use verify::config::DrillSettings;
use verify::drill::{self, failover, Drill, DrillResult};

fn settings() -> DrillSettings {
    DrillSettings {
        writers: 4,
        writes_per_second: 100,
        ..DrillSettings::default()
    }
}

async fn drill_on(launcher: Launcher, drills: &[&dyn Drill]) -> Vec<DrillResult> {
    let mut d =
        Deployment::launch_with(&Topology::SENTINEL, Profile::Hardened, &options(), launcher)
            .await
            .expect("launch sentinel deployment");
    let results = drill::run_drills(&mut d, drills, &settings()).await;
    d.wait_converged(Duration::from_secs(30))
        .await
        .expect("converged after the drills");
    results
}

fn show(r: &DrillResult) -> String {
    serde_json::to_string_pretty(r).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_kill_primary_stays_within_budget_and_the_old_primary_rejoins() {
    let r = drill_on(Launcher::Process, &[&failover::KillPrimary]).await;
    let r = &r[0];
    assert_eq!(r.status, Status::Pass, "{}", show(r));
    assert!(
        r.writes.acked > 100 && r.promote_ms.is_some(),
        "{}",
        show(r)
    );
    assert!(r.unavailability_ms.is_some_and(|u| u < 8000), "{}", show(r));
    assert!(
        r.timeline.iter().any(|e| e.event == "+switch-master"),
        "{}",
        show(r)
    );
    assert_eq!((r.unexpected, r.duplicated), (0, 0));
}

/// redis#6062: Sentinel's manual failover is not coordinated: the old
/// primary keeps acknowledging writes between the replica's promotion and
/// the clients' switch, and those writes are lost. The drill's budget is 0
/// lost, so it must fail here, and every lost write must have been acked
/// by the old primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_manual_failover_is_measured_against_zero_loss() {
    let r = drill_on(Launcher::Process, &[&failover::Manual]).await;
    let r = &r[0];
    eprintln!(
        "manual failover: lost {} of {} acked, unavailability {:?} ms, promote {:?} ms",
        r.lost, r.writes.acked, r.unavailability_ms, r.promote_ms
    );
    assert_eq!(r.budget.as_ref().and_then(|b| b.max_lost_acked), Some(0));
    if r.lost == 0 {
        assert_eq!(r.status, Status::Pass, "{}", show(r));
    } else {
        assert_eq!(r.status, Status::Fail, "{}", show(r));
        assert_eq!(
            r.lost_by_node.keys().collect::<Vec<_>>(),
            vec!["n1"],
            "{}",
            show(r)
        );
    }
    assert!(r.promote_ms.is_some(), "{}", show(r));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_partition_is_skipped_with_the_launchers_reason() {
    let r = drill_on(
        Launcher::Process,
        &[&failover::PartitionPrimary { unguarded: false }],
    )
    .await;
    assert_eq!(r[0].status, Status::Skip);
    assert!(r[0].message.contains("Docker launcher"), "{}", r[0].message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_unguarded_partition_loses_acked_writes_and_fails() {
    if !docker_available() {
        return;
    }
    let r = drill_on(
        Launcher::Docker,
        &[&failover::PartitionPrimary { unguarded: true }],
    )
    .await;
    let r = &r[0];
    eprintln!("unguarded partition: lost {} of {} acked, unavailability {:?} ms, promote {:?} ms, split brain {} ms", r.lost, r.writes.acked, r.unavailability_ms, r.promote_ms, r.split_brain_ms);
    assert!(r.lost > 0, "{}", show(r));
    assert_eq!(r.status, Status::Fail, "{}", show(r));
    assert_eq!(
        r.config.get("min-replicas-to-write").map(String::as_str),
        Some("0")
    );
}
