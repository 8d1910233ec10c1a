//! Persistence drills on a standalone server: a crash (SIGKILL) and a
//! graceful restart of the only node under write load, each restarted from
//! its own data directory. There is no failover on standalone, so the
//! write-unavailability is the fault → the first ack after the restart, and
//! every acked write the restarted server no longer holds was lost to
//! persistence, nothing else.
//!
//! On Sentinel or Cluster a killed primary is replaced by a replica, which
//! makes the drill a failover drill (`failover.kill-primary`); these apply
//! to standalone only so that what they measure is the AOF/RDB alone.

use super::commands::Action;
use super::{Budget, Drill, DrillCtx, DrillError, DrillMeta};
use crate::check::{Applies, BoxFuture, Evidence};
use crate::config::DrillSettings;
use std::collections::BTreeMap;
use std::time::Duration;

/// Bound for writes to be acknowledged again after the restart.
const RESUME: Duration = Duration::from_secs(20);
/// Unavailability a restart of a drill-sized dataset may cost by default:
/// process start, AOF/RDB load, first write (`[drills]` overrides it).
const RESTART_UNAVAILABILITY_MS: u64 = 10_000;
/// How far back (ms before a SIGKILL) `appendfsync everysec` may lose acked
/// writes: aof.c postpones the AOF `write()` up to 2 s while a background
/// fsync is still running (`aof_delayed_fsync`) and replies still go out;
/// otherwise the data is in the page cache, which survives a process kill.
pub const EVERYSEC_WINDOW_MS: u64 = 2000;

const STANDALONE: Applies = Applies {
    standalone: true,
    sentinel: false,
    cluster: false,
};

/// What the persistence configuration promises a crashed server keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// `appendonly yes`, `appendfsync always`: every acked write is on disk.
    Always,
    /// `appendonly yes`, `appendfsync everysec`: at most about a second of
    /// writes (two when fsync lags).
    EverySec,
    /// `appendonly yes`, `appendfsync no`: the kernel decides; a process
    /// kill keeps what reached the page cache.
    OsDecides,
    /// No AOF: everything since the last RDB snapshot.
    SnapshotOnly,
}

impl Durability {
    /// From `CONFIG GET appendonly` / `appendfsync` as the harness read them.
    pub fn from_config(config: &BTreeMap<String, String>) -> Self {
        let get = |k: &str| config.get(k).map(|v| v.to_ascii_lowercase());
        if get("appendonly").as_deref() != Some("yes") {
            return Self::SnapshotOnly;
        }
        match get("appendfsync").as_deref() {
            Some("always") => Self::Always,
            Some("everysec") => Self::EverySec,
            _ => Self::OsDecides,
        }
    }
}

fn unavailability(s: &DrillSettings) -> u64 {
    s.max_unavailability_ms.unwrap_or(RESTART_UNAVAILABILITY_MS)
}

/// The kill9 budget the configuration predicts.
pub fn kill9_budget(config: &BTreeMap<String, String>, s: &DrillSettings) -> Budget {
    let max_unavailability_ms = unavailability(s);
    let restart = format!("unavailability ≤ {max_unavailability_ms} ms (restart and load)");
    match Durability::from_config(config) {
        Durability::Always => Budget {
            max_lost_acked: Some(0),
            max_loss_window_ms: None,
            max_unavailability_ms,
            basis: format!("appendonly yes, appendfsync always: 0 lost acked writes; {restart}"),
        },
        Durability::EverySec => Budget {
            max_lost_acked: None,
            max_loss_window_ms: Some(EVERYSEC_WINDOW_MS),
            max_unavailability_ms,
            basis: format!(
                "appendonly yes, appendfsync everysec: lost acked writes only within {EVERYSEC_WINDOW_MS} ms before the kill (about a second; aof.c delays the write up to 2 s when fsync lags); {restart}"
            ),
        },
        Durability::OsDecides => Budget {
            max_lost_acked: Some(s.max_lost_acked),
            max_loss_window_ms: None,
            max_unavailability_ms,
            basis: format!(
                "appendonly yes, appendfsync no: a process kill keeps what reached the page cache; max_lost_acked {} ([drills]); {restart}",
                s.max_lost_acked
            ),
        },
        Durability::SnapshotOnly => Budget {
            max_lost_acked: Some(s.max_lost_acked),
            max_loss_window_ms: None,
            max_unavailability_ms,
            basis: format!(
                "appendonly no: everything since the last RDB snapshot may be lost; max_lost_acked {} ([drills]); {restart}",
                s.max_lost_acked
            ),
        },
    }
}

/// The graceful-restart budget: a SIGTERM makes Redis write and fsync its
/// AOF (or save the RDB) before it exits, whatever the fsync policy.
pub fn restart_budget(s: &DrillSettings) -> Budget {
    let max_unavailability_ms = unavailability(s);
    Budget {
        max_lost_acked: Some(0),
        max_loss_window_ms: None,
        max_unavailability_ms,
        basis: format!(
            "graceful shutdown persists everything acked before it: 0 lost acked writes; unavailability ≤ {max_unavailability_ms} ms (shutdown, restart and load)"
        ),
    }
}

/// `persistence.kill9`.
pub struct Kill9;

static KILL9: DrillMeta = DrillMeta {
    id: "persistence.kill9",
    title: "A crashed server keeps what its fsync policy promises",
    applies: STANDALONE,
    injects: "SIGKILL of the server under write load; restart from its data directory",
    measures: "acked writes lost and the loss window (how long before the kill the earliest lost write was acked), next to what appendonly/appendfsync predict; unavailability (kill → first ack after the restart)",
    budget: "appendfsync always: 0 lost; everysec: lost writes only within 2000 ms before the kill; no AOF or appendfsync no: [drills] max_lost_acked; unavailability ≤ 10000 ms ([drills] max_unavailability_ms)",
    why: "The Redis persistence docs promise `everysec` loses about a second of writes and `always` none; a crash is how that promise is tested (aof.c `aof_delayed_fsync` may postpone the write up to 2 s).",
};

impl Drill for Kill9 {
    fn meta(&self) -> &'static DrillMeta {
        &KILL9
    }

    fn run<'a, 'b: 'a>(
        &'a self,
        ctx: &'a mut DrillCtx<'b>,
    ) -> BoxFuture<'a, Result<Budget, DrillError>> {
        Box::pin(async move {
            let node = ctx.old_primary.clone();
            let budget = kill9_budget(&ctx.config, ctx.settings);
            ctx.evidence.push(Evidence::on(
                &node,
                "CONFIG GET appendonly appendfsync",
                format!(
                    "appendonly {}, appendfsync {}: {:?}",
                    ctx.config.get("appendonly").map_or("?", String::as_str),
                    ctx.config.get("appendfsync").map_or("?", String::as_str),
                    Durability::from_config(&ctx.config)
                ),
            ));
            let fault = ctx.mark_fault("SIGKILL", &node);
            ctx.deployment.kill(&node).await?;
            ctx.deployment.restart(&node).await?;
            ctx.mark_heal("restart from the data directory", &node);
            ctx.wait_ack_after(fault, RESUME).await?;
            Ok(budget)
        })
    }

    fn needs(&self) -> &'static [Action] {
        &[Action::Kill, Action::Start]
    }
}

/// `persistence.restart`.
pub struct Restart;

static RESTART: DrillMeta = DrillMeta {
    id: "persistence.restart",
    title: "A graceful restart keeps every acknowledged write",
    applies: STANDALONE,
    injects: "graceful stop (SIGTERM / docker stop with a 30 s grace) of the server under write load; restart from its data directory",
    measures: "acked writes lost; unavailability (stop → first ack after the restart)",
    budget: "0 lost acked writes; unavailability ≤ 10000 ms ([drills] max_unavailability_ms)",
    why: "On SIGTERM Redis flushes and fsyncs its AOF or saves its RDB before exiting; a restart that loses acked writes means persistence is off or the stop was a kill mid-shutdown (`docker stop`'s 10 s default equals shutdown-timeout).",
};

impl Drill for Restart {
    fn meta(&self) -> &'static DrillMeta {
        &RESTART
    }

    fn run<'a, 'b: 'a>(
        &'a self,
        ctx: &'a mut DrillCtx<'b>,
    ) -> BoxFuture<'a, Result<Budget, DrillError>> {
        Box::pin(async move {
            let node = ctx.old_primary.clone();
            let fault = ctx.mark_fault("graceful stop", &node);
            ctx.deployment.stop(&node).await?;
            ctx.log.record("stopped", Some(&node), None);
            ctx.deployment.restart(&node).await?;
            ctx.mark_heal("restart from the data directory", &node);
            ctx.wait_ack_after(fault, RESUME).await?;
            Ok(restart_budget(ctx.settings))
        })
    }

    fn needs(&self) -> &'static [Action] {
        &[Action::Stop, Action::Start]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(aof: &str, fsync: &str) -> BTreeMap<String, String> {
        [
            ("appendonly".to_owned(), aof.to_owned()),
            ("appendfsync".to_owned(), fsync.to_owned()),
        ]
        .into()
    }

    #[test]
    fn the_fsync_policy_sets_the_kill9_budget() {
        let s = DrillSettings::default();
        let always = kill9_budget(&config("yes", "always"), &s);
        assert_eq!(
            (always.max_lost_acked, always.max_loss_window_ms),
            (Some(0), None)
        );
        let everysec = kill9_budget(&config("yes", "everysec"), &s);
        assert_eq!(
            (everysec.max_lost_acked, everysec.max_loss_window_ms),
            (None, Some(EVERYSEC_WINDOW_MS))
        );
        assert!(everysec.basis.contains("everysec"), "{}", everysec.basis);
        let lenient = DrillSettings {
            max_lost_acked: 50,
            max_unavailability_ms: Some(3000),
            ..DrillSettings::default()
        };
        let rdb = kill9_budget(&config("no", "everysec"), &lenient);
        assert_eq!(
            (
                rdb.max_lost_acked,
                rdb.max_loss_window_ms,
                rdb.max_unavailability_ms
            ),
            (Some(50), None, 3000)
        );
        assert!(rdb.basis.contains("snapshot"), "{}", rdb.basis);
        assert_eq!(
            Durability::from_config(&config("yes", "no")),
            Durability::OsDecides
        );
        assert_eq!(
            Durability::from_config(&BTreeMap::new()),
            Durability::SnapshotOnly
        );
    }

    #[test]
    fn a_graceful_restart_may_lose_nothing() {
        let b = restart_budget(&DrillSettings::default());
        assert_eq!(
            (
                b.max_lost_acked,
                b.max_loss_window_ms,
                b.max_unavailability_ms
            ),
            (Some(0), None, RESTART_UNAVAILABILITY_MS)
        );
    }
}
