//! `persistence.*`: what survives a restart.

use super::{config_evidence, info_fields};
use crate::check::{Applies, Area, CheckMeta, Needs, Outcome, Scope, Severity};
use crate::config::{PersistenceIntent, Workload};
use crate::ctx::Ctx;

/// `persistence.aof`
pub struct Aof;

static AOF: CheckMeta = CheckMeta {
    id: "persistence.aof",
    area: Area::Persistence,
    title: "Append-only file on, fsync every second or always, last write ok",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Node,
    applies: Applies::ALL,
    why: "Without AOF a crash loses every write since the last snapshot, minutes of rate-limit counters, lockouts and idempotency keys: a restart silently re-opens what they closed. `appendfsync no` leaves it to the kernel (up to ~30 s). https://redis.io/docs/latest/operate/oss_and_stack/management/persistence/",
    remediation: "redis-conf/redis.conf: `appendonly yes` and `appendfsync everysec`.",
};

check_type!(Aof, AOF);

impl Aof {
    async fn evaluate(&self, ctx: &Ctx) -> Outcome {
        let (info, info_ev) = match info_fields(
            ctx,
            "persistence",
            &[
                "aof_enabled",
                "aof_last_write_status",
                "aof_last_bgrewrite_status",
            ],
        )
        .await
        {
            Ok(found) => found,
            Err(outcome) => return outcome,
        };
        let mut evidence = vec![info_ev];
        let intent_without_aof = matches!(
            ctx.settings.persistence,
            PersistenceIntent::RdbOnly | PersistenceIntent::None
        );
        if info.get("aof_enabled") != Some("1") {
            return if intent_without_aof {
                Outcome::pass("AOF is off, as declared in verify.toml (persistence)").with(evidence)
            } else if ctx.settings.workload == Workload::Cache {
                Outcome::warn("AOF is off (acceptable for a cache, whose contents can be rebuilt)")
                    .with(evidence)
            } else {
                Outcome::fail("AOF is off: a crash loses every write since the last snapshot")
                    .with(evidence)
            };
        }
        if info.get("aof_last_write_status") != Some("ok") {
            return Outcome::fail(format!(
                "the last AOF write failed ({})",
                info.show("aof_last_write_status")
            ))
            .with(evidence);
        }
        match ctx.config_get("appendfsync").await {
            Ok(Some(policy)) => {
                evidence.push(config_evidence("appendfsync", &policy));
                match policy.as_str() {
                    "everysec" | "always" => {
                        Outcome::pass(format!("AOF on, appendfsync {policy}, last write ok"))
                            .with(evidence)
                    }
                    other => Outcome::fail(format!(
                        "AOF on but appendfsync {other}: the kernel decides when data reaches disk"
                    ))
                    .with(evidence),
                }
            }
            _ => Outcome::pass("AOF on and last write ok (appendfsync not visible to this user)")
                .with(evidence),
        }
    }
}

/// `persistence.rdb`
pub struct Rdb;

static RDB: CheckMeta = CheckMeta {
    id: "persistence.rdb",
    area: Area::Persistence,
    title: "Snapshots configured (or AOF-only by intent), last BGSAVE ok",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Node,
    applies: Applies::ALL,
    why: "RDB snapshots are the compact backups to ship off the host and the fastest restart. A failing BGSAVE (disk full, fork denied) also stops writes when stop-writes-on-bgsave-error is on. https://redis.io/docs/latest/operate/oss_and_stack/management/persistence/",
    remediation: "redis-conf/redis.conf: `save 3600 1 300 100 60 10000`; or declare `persistence = \"aof-only\"` in verify.toml.",
};

check_type!(Rdb, RDB);

impl Rdb {
    async fn evaluate(&self, ctx: &Ctx) -> Outcome {
        let (info, info_ev) = match info_fields(
            ctx,
            "persistence",
            &["rdb_last_bgsave_status", "aof_enabled"],
        )
        .await
        {
            Ok(found) => found,
            Err(outcome) => return outcome,
        };
        let mut evidence = vec![info_ev];
        if info.get("rdb_last_bgsave_status") == Some("err") {
            return Outcome::fail("the last BGSAVE failed (disk full or fork refused?)")
                .with(evidence);
        }
        let save = match ctx.config_get("save").await {
            Ok(v) => v,
            Err(_) => {
                return Outcome::pass("last BGSAVE ok (snapshot schedule not visible to this user)")
                    .with(evidence)
            }
        };
        let save = save.unwrap_or_default();
        evidence.push(config_evidence("save", &save));
        let aof = info.get("aof_enabled") == Some("1");
        let intent = ctx.settings.persistence;
        if !save.trim().is_empty() {
            return Outcome::pass(format!("snapshots scheduled ({save}), last BGSAVE ok"))
                .with(evidence);
        }
        match (aof, intent) {
            (_, PersistenceIntent::None) | (true, PersistenceIntent::AofOnly) => {
                Outcome::pass("no snapshots, as declared in verify.toml (persistence)")
                    .with(evidence)
            }
            (true, _) => Outcome::warn(
                "no snapshots: AOF only; declare persistence = \"aof-only\" if intended",
            )
            .with(evidence),
            (false, _) if ctx.settings.workload == Workload::Cache => {
                Outcome::warn("no persistence at all (acceptable for a cache)").with(evidence)
            }
            (false, _) => {
                Outcome::fail("no snapshots and no AOF: a restart loses everything").with(evidence)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Status;
    use crate::checks::testing::{run, run_with};
    use crate::config::Settings;
    use crate::ctx::Captured;

    fn info(aof: &str, write: &str, bgsave: &str) -> Captured {
        Captured::default().text(
            "INFO persistence",
            &format!("aof_enabled:{aof}\r\naof_last_write_status:{write}\r\naof_last_bgrewrite_status:ok\r\nrdb_last_bgsave_status:{bgsave}\r\n"),
        )
    }

    #[test]
    fn aof_pass_and_fails() {
        assert_eq!(
            run(
                &Aof,
                info("1", "ok", "ok").config("appendfsync", "everysec")
            )
            .status,
            Status::Pass
        );
        assert_eq!(
            run(&Aof, info("1", "ok", "ok").config("appendfsync", "no")).status,
            Status::Fail
        );
        assert_eq!(run(&Aof, info("0", "ok", "ok")).status, Status::Fail);
        assert_eq!(
            run(
                &Aof,
                info("1", "err", "ok").config("appendfsync", "everysec")
            )
            .status,
            Status::Fail
        );
        let cache = Settings {
            workload: Workload::Cache,
            ..Default::default()
        };
        assert_eq!(
            run_with(&Aof, info("0", "ok", "ok"), cache).status,
            Status::Warn
        );
    }

    #[test]
    fn rdb_pass_and_fails() {
        assert_eq!(
            run(
                &Rdb,
                info("1", "ok", "ok").config("save", "3600 1 300 100 60 10000")
            )
            .status,
            Status::Pass
        );
        assert_eq!(
            run(&Rdb, info("0", "ok", "ok").config("save", "")).status,
            Status::Fail
        );
        assert_eq!(
            run(&Rdb, info("1", "ok", "err").config("save", "3600 1")).status,
            Status::Fail
        );
        assert_eq!(
            run(&Rdb, info("1", "ok", "ok").config("save", "")).status,
            Status::Warn
        );
        let aof_only = Settings {
            persistence: PersistenceIntent::AofOnly,
            ..Default::default()
        };
        assert_eq!(
            run_with(&Rdb, info("1", "ok", "ok").config("save", ""), aof_only).status,
            Status::Pass
        );
    }
}
