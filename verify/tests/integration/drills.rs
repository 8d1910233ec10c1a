//! Live drills: a killed and a gracefully restarted standalone server keep
//! what their persistence promises, and a fresh server restored from a
//! BGSAVE holds every write acked before it while one restored from an
//! earlier snapshot fails (one deployment for all four); a crashed
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
use verify::drill::{self, backup, failover, persistence, Drill, DrillResult};

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
    unavailability_matches_the_sentinels_switch_and_the_role_poll(r);
}

/// Clients reach the new primary only once a Sentinel names it: the
/// measured end of unavailability (first ack after) must lie within 100 ms
/// plus the role-poll interval of the first `+switch-master`, and the role
/// poll must have seen the promotion no later than that first ack plus the
/// same slack (the replica is master before anyone can write to it).
fn unavailability_matches_the_sentinels_switch_and_the_role_poll(r: &DrillResult) {
    let slack = 100 + u64::try_from(drill::timeline::ROLE_POLL.as_millis()).unwrap_or(0);
    let at = |event: &str| r.timeline.iter().find(|e| e.event == event).map(|e| e.t_ms);
    let (fault, switch, first_ack, start) = (
        at("fault").expect("fault"),
        at("+switch-master").expect("+switch-master"),
        at("first ack after").expect("first ack after"),
        at("last ack before").expect("last ack before"),
    );
    let promoted = fault + r.promote_ms.expect("promoted");
    eprintln!(
        "after the fault: +switch-master {} ms, role poll saw the promotion {} ms, first ack {} ms",
        switch - fault,
        promoted - fault,
        first_ack - fault
    );
    assert!(
        first_ack.abs_diff(switch) <= slack,
        "first ack {first_ack} vs +switch-master {switch}: more than {slack} ms apart: {}",
        show(r)
    );
    assert!(
        promoted <= first_ack + slack,
        "role poll saw the promotion at {promoted}, after the first ack {first_ack} + {slack}: {}",
        show(r)
    );
    assert_eq!(r.unavailability_ms, Some(first_ack - start), "{}", show(r));
}

/// The coordinated manual failover (writes paused, replicas caught up,
/// SENTINEL FAILOVER, old primary demoted, unpaused) must lose nothing:
/// budget 0, lost 0, pass. On the same deployment, plain SENTINEL FAILOVER
/// (redis#6062) is measured next to it: the old primary keeps
/// acknowledging until Sentinel converts it, and every write it loses must
/// have been acked there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_manual_failover_coordinated_loses_nothing_and_plain_sentinel_failover_is_measured()
{
    let r = drill_on(
        Launcher::Process,
        &[&failover::Manual, &failover::UncoordinatedManual],
    )
    .await;
    let (coordinated, plain) = (&r[0], &r[1]);
    for x in &r {
        eprintln!("{}", numbers(x));
    }
    assert_eq!(coordinated.id, "failover.manual");
    assert_eq!(
        coordinated.budget.as_ref().and_then(|b| b.max_lost_acked),
        Some(0)
    );
    assert_eq!(coordinated.status, Status::Pass, "{}", show(coordinated));
    assert_eq!(coordinated.lost, 0, "{}", show(coordinated));
    assert!(coordinated.writes.acked > 100, "{}", show(coordinated));
    assert!(coordinated.promote_ms.is_some(), "{}", show(coordinated));
    assert!(
        coordinated
            .evidence
            .iter()
            .any(|e| e.command.starts_with("CLIENT PAUSE")),
        "{}",
        show(coordinated)
    );
    assert_eq!(plain.id, "failover.manual-uncoordinated");
    assert!(plain.promote_ms.is_some(), "{}", show(plain));
    if plain.lost == 0 {
        assert_eq!(plain.status, Status::Pass, "{}", show(plain));
    } else {
        assert_eq!(plain.status, Status::Fail, "{}", show(plain));
        let old = plain
            .timeline
            .iter()
            .find(|e| e.event == "fault")
            .and_then(|e| e.node.clone());
        assert_eq!(
            plain.lost_by_node.keys().cloned().collect::<Vec<_>>(),
            old.into_iter().collect::<Vec<_>>(),
            "{}",
            show(plain)
        );
    }
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
/// restart none. A restore from the BGSAVE holds every write acked before
/// it; a restore from the snapshot before (a stale backup) lacks the writes
/// acked in between and fails. All run on one standalone deployment; the
/// Docker launcher skips the restores (no file access).
async fn persistence_drills(launcher: Launcher) {
    let r = drill_topology(
        Topology::Standalone,
        launcher,
        &[
            &persistence::Kill9,
            &persistence::Restart,
            &backup::BackupRestore { stale: false },
            &backup::BackupRestore { stale: true },
        ],
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
    // The writers felt the kill: refused writes, or writes in flight whose
    // answer never came (a restart within ~30 ms can leave no refusal).
    assert!(
        kill.writes.acked > 100 && kill.writes.failed + kill.writes.unknown > 0,
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
    for x in &r[..2] {
        assert_eq!((x.unexpected, x.duplicated), (0, 0), "{}", show(x));
        assert_eq!(x.promote_ms, None, "no failover on standalone");
    }
    let (backup, stale) = (&r[2], &r[3]);
    assert_eq!(backup.id, "persistence.backup-restore");
    if launcher == Launcher::Docker {
        for x in [backup, stale] {
            assert_eq!(x.status, Status::Skip, "{}", show(x));
            assert!(x.message.contains("docker cp"), "{}", x.message);
        }
        return;
    }
    assert_eq!(backup.status, Status::Pass, "{}", show(backup));
    let restored = backup.restored.as_ref().expect("restored counts");
    eprintln!("backup-restore ({} ms): {restored:?}", backup.elapsed_ms);
    assert!(restored.acked_before > 50, "{}", show(backup));
    assert_eq!(
        (restored.lost, restored.unexpected),
        (0, 0),
        "{}",
        show(backup)
    );
    assert!(restored.values >= restored.acked_before, "{}", show(backup));
    for what in ["rdb_last_bgsave_status:ok", "before BGSAVE", "bytes from"] {
        assert!(
            backup.evidence.iter().any(|e| e.observed.contains(what)),
            "no evidence {what:?}: {}",
            show(backup)
        );
    }
    assert_eq!(stale.status, Status::Fail, "{}", show(stale));
    let old = stale.restored.as_ref().expect("restored counts");
    eprintln!(
        "backup-restore, stale copy ({} ms): {old:?}",
        stale.elapsed_ms
    );
    assert!(old.lost > 0 && old.unexpected == 0, "{}", show(stale));
    assert!(
        stale.message.contains("restored node lacks"),
        "{}",
        stale.message
    );
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

/// Cluster, one deployment for three drills: the coordinated `CLUSTER
/// FAILOVER` loses nothing; the killed shard primary (serving writer 0's
/// key) is replaced (cluster-node-timeout 2000 set by the harness) and,
/// restarted, rejoins as a replica; the paused one likewise once thawed.
/// Cluster replication is asynchronous and the policy sets no
/// `min-replicas-to-write`: the kill budget is 0 lost (passes only if
/// nothing was lost, fails with the loss counted per writer key otherwise);
/// the pause budget bounds the loss in time (cluster-node-timeout + 1 s +
/// the pause), because the thawed primary acknowledges the writes queued on
/// its sockets before the cluster bus demotes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_cluster_manual_kill_and_pause_promote_the_replica_and_the_old_primary_rejoins() {
    cluster_manual_kill_and_pause(Launcher::Process).await;
}

/// The same three drills on containers: the Cluster suite's run on Docker
/// (the CI runs each topology's drill suite once there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_cluster_manual_kill_and_pause_promote_the_replica_and_the_old_primary_rejoins() {
    if !docker_available() {
        return;
    }
    cluster_manual_kill_and_pause(Launcher::Docker).await;
}

async fn cluster_manual_kill_and_pause(launcher: Launcher) {
    let r = drill_topology(
        Topology::CLUSTER,
        launcher,
        &[
            &failover::Manual,
            &failover::KillPrimary,
            &failover::PausePrimary,
        ],
    )
    .await;
    for x in &r {
        eprintln!("cluster {}", numbers(x));
    }
    assert_eq!(r.len(), 3);
    let manual = &r[0];
    assert_eq!(manual.id, "failover.manual");
    assert_eq!(manual.status, Status::Pass, "{}", show(manual));
    assert_eq!(manual.lost, 0, "{}", show(manual));
    assert!(
        manual
            .evidence
            .iter()
            .any(|e| e.command == "CLUSTER FAILOVER"),
        "{}",
        show(manual)
    );
    for x in &r {
        assert_eq!(x.topology, "cluster");
        assert_eq!(
            x.config.get("cluster-node-timeout").map(String::as_str),
            Some("2000")
        );
        assert!(x.promote_ms.is_some_and(|p| p < 8000), "{}", show(x));
        assert!(x.unavailability_ms.is_some(), "{}", show(x));
        assert!(x.writes.acked > 100, "{}", show(x));
        assert_eq!((x.unexpected, x.duplicated), (0, 0), "{}", show(x));
        if x.id == "failover.pause-primary" {
            let pause = u64::try_from(failover::PAUSE.as_millis()).unwrap_or(u64::MAX);
            let window = x.budget.as_ref().and_then(|b| b.max_loss_window_ms);
            assert_eq!(window, Some(2000 + 1000 + pause), "{}", show(x));
            assert_eq!(x.status, Status::Pass, "{}", show(x));
        } else if x.lost == 0 {
            assert_eq!(x.status, Status::Pass, "{}", show(x));
        } else {
            assert_eq!(x.status, Status::Fail, "{}", show(x));
            assert!(x.message.contains("lost"), "{}", show(x));
        }
    }
    assert_eq!(r[1].dual_master_ms, 0, "{}", show(&r[1]));
}
