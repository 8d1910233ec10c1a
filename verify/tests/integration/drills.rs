//! Live drills: a killed and a gracefully restarted standalone server keep
//! what their persistence promises (one deployment for both); a crashed
//! primary on processes stays within its budget and comes back as a
//! replica; a paused primary is replaced and rejoins as a replica; the
//! unguarded partition (Docker) loses acked writes and fails; the Sentinel
//! manual failover is measured. The checker itself is unit-tested over
//! constructed histories in `verify/src/drill/checker.rs`.

use super::common::{docker_available, options};
use std::time::Duration;
use topology::{Deployment, Launcher, Profile, Topology};
use verify::check::Status;
use verify::config::DrillSettings;
use verify::drill::{self, failover, persistence, Drill, DrillResult};

fn settings() -> DrillSettings {
    DrillSettings {
        writers: 4,
        writes_per_second: 100,
        ..DrillSettings::default()
    }
}

async fn drill_on(launcher: Launcher, drills: &[&dyn Drill]) -> Vec<DrillResult> {
    drill_topology(Topology::SENTINEL, launcher, drills).await
}

async fn drill_topology(
    topology: Topology,
    launcher: Launcher,
    drills: &[&dyn Drill],
) -> Vec<DrillResult> {
    let mut d = Deployment::launch_with(&topology, Profile::Hardened, &options(), launcher)
        .await
        .expect("launch deployment");
    let results = drill::run_drills(&mut d, drills, &settings()).await;
    if let Err(e) = d.wait_converged(Duration::from_secs(30)).await {
        for r in &results {
            eprintln!("{}", show(r));
        }
        panic!("not converged after the drills: {e}");
    }
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

fn numbers(r: &DrillResult) -> String {
    format!(
        "{}: {:?}, lost {} of {} acked, loss window {:?} ms, unavailability {:?} ms, promote {:?} ms, split brain {} ms, stale acks {}",
        r.id,
        r.status,
        r.lost,
        r.writes.acked,
        r.loss_window_ms,
        r.unavailability_ms,
        r.promote_ms,
        r.split_brain_ms,
        r.stale_acked
    )
}

/// The hardened policy runs `appendonly yes`, `appendfsync everysec`: a
/// SIGKILL may lose only writes acked within 2 s before it, and a graceful
/// restart none. Both drills run on one standalone deployment.
async fn persistence_drills(launcher: Launcher) {
    let r = drill_topology(
        Topology::Standalone,
        launcher,
        &[&persistence::Kill9, &persistence::Restart],
    )
    .await;
    for x in &r {
        eprintln!("{}", numbers(x));
    }
    let (kill, restart) = (&r[0], &r[1]);
    assert_eq!(kill.id, "persistence.kill9");
    assert_eq!(kill.status, Status::Pass, "{}", show(kill));
    assert_eq!(
        kill.config.get("appendfsync").map(String::as_str),
        Some("everysec")
    );
    assert_eq!(
        kill.budget.as_ref().and_then(|b| b.max_loss_window_ms),
        Some(persistence::EVERYSEC_WINDOW_MS),
        "{}",
        show(kill)
    );
    assert!(
        kill.writes.acked > 100 && kill.writes.failed > 0,
        "{}",
        show(kill)
    );
    assert!(kill.unavailability_ms.is_some(), "{}", show(kill));
    assert!(
        kill.loss_window_ms
            .is_none_or(|w| w <= persistence::EVERYSEC_WINDOW_MS),
        "{}",
        show(kill)
    );
    assert_eq!(restart.id, "persistence.restart");
    assert_eq!(restart.status, Status::Pass, "{}", show(restart));
    assert_eq!(restart.lost, 0, "{}", show(restart));
    assert!(restart.writes.acked > 100, "{}", show(restart));
    for x in &r {
        assert_eq!((x.unexpected, x.duplicated), (0, 0), "{}", show(x));
        assert_eq!(x.promote_ms, None, "no failover on standalone");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_kill9_and_graceful_restart_keep_what_the_fsync_policy_promises() {
    persistence_drills(Launcher::Process).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_kill9_and_graceful_restart_keep_what_the_fsync_policy_promises() {
    if !docker_available() {
        return;
    }
    persistence_drills(Launcher::Docker).await;
}

/// The paused primary is replaced while frozen; once thawed it must become
/// a replica, and whatever it acknowledged after the promotion is reported.
async fn paused_primary(launcher: Launcher) {
    let r = drill_on(launcher, &[&failover::PausePrimary]).await;
    let r = &r[0];
    eprintln!("{}", numbers(r));
    assert_eq!(r.status, Status::Pass, "{}", show(r));
    assert!(r.promote_ms.is_some(), "{}", show(r));
    let pause = u64::try_from(failover::PAUSE.as_millis()).unwrap_or(u64::MAX);
    let resumed = r
        .timeline
        .iter()
        .find(|e| e.event == "heal")
        .map(|e| e.t_ms);
    let fault = r
        .timeline
        .iter()
        .find(|e| e.event == "fault")
        .map(|e| e.t_ms);
    assert!(
        resumed.zip(fault).is_some_and(|(h, f)| h - f >= pause),
        "{}",
        show(r)
    );
    assert!(
        r.promote_ms.is_some_and(|p| p < pause),
        "promoted while frozen: {}",
        show(r)
    );
    assert!(
        r.timeline.iter().any(|e| e.event == "+switch-master"),
        "{}",
        show(r)
    );
    assert_eq!((r.unexpected, r.duplicated), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_paused_primary_is_replaced_and_rejoins_as_a_replica() {
    paused_primary(Launcher::Process).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_paused_primary_is_replaced_and_rejoins_as_a_replica() {
    if !docker_available() {
        return;
    }
    paused_primary(Launcher::Docker).await;
}

/// Cluster: the shard primary serving writer 0's key is killed; its replica
/// must be promoted (cluster-node-timeout 2000 set by the harness) and the
/// old primary, restarted, must rejoin as a replica. Cluster replication is
/// asynchronous and the policy sets no `min-replicas-to-write`, so the
/// budget is 0 lost: the drill passes only if nothing was lost, and fails
/// (with the loss counted per writer key) otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_cluster_kill_primary_promotes_the_replica_and_the_old_primary_rejoins() {
    let r = drill_topology(
        Topology::CLUSTER,
        Launcher::Process,
        &[&failover::KillPrimary],
    )
    .await;
    let r = &r[0];
    eprintln!("cluster {}", numbers(r));
    assert_eq!(r.topology, "cluster");
    assert_eq!(
        r.config.get("cluster-node-timeout").map(String::as_str),
        Some("2000")
    );
    assert!(r.promote_ms.is_some_and(|p| p < 8000), "{}", show(r));
    assert!(r.unavailability_ms.is_some(), "{}", show(r));
    assert!(r.writes.acked > 100, "{}", show(r));
    assert_eq!(r.dual_master_ms, 0, "{}", show(r));
    assert_eq!((r.unexpected, r.duplicated), (0, 0), "{}", show(r));
    if r.lost == 0 {
        assert_eq!(r.status, Status::Pass, "{}", show(r));
    } else {
        assert_eq!(r.status, Status::Fail, "{}", show(r));
        assert!(r.message.contains("lost"), "{}", show(r));
    }
}
