//! `memory.*`: memory limits and what happens when they are reached.

use super::info_fields;
use crate::check::{Applies, Area, CheckMeta, Needs, Outcome, Scope, Severity};
use crate::config::Workload;
use crate::ctx::Ctx;

/// `memory.maxmemory`
pub struct Maxmemory;

static MAXMEMORY: CheckMeta = CheckMeta {
    id: "memory.maxmemory",
    area: Area::Memory,
    title: "maxmemory is set and below the host's memory",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Node,
    applies: Applies::ALL,
    why: "Without a limit Redis grows until the kernel's OOM killer ends it, losing everything since the last fsync and taking every feature built on it down at once. Leave room for fork copy-on-write during BGSAVE/AOF rewrite. https://redis.io/docs/latest/develop/reference/eviction/",
    remediation: "redis-conf/redis.conf: `maxmemory <about 60-75% of the memory available to Redis>` (Helm: `redis.maxmemory`, at most 80% of `redis.resources.limits.memory`; ElastiCache derives it from the Terraform `node_type`).",
};

check_type!(Maxmemory, MAXMEMORY);

impl Maxmemory {
    async fn evaluate(&self, ctx: &Ctx) -> Outcome {
        let (info, info_ev) = match info_fields(
            ctx,
            "memory",
            &["maxmemory", "total_system_memory", "used_memory"],
        )
        .await
        {
            Ok(found) => found,
            Err(outcome) => return outcome,
        };
        let evidence = vec![info_ev];
        let max = info.get_u64("maxmemory").unwrap_or(0);
        let total = info.get_u64("total_system_memory").unwrap_or(0);
        if max == 0 {
            return Outcome::fail(
                "maxmemory is 0 (unlimited): the OOM killer decides when Redis stops",
            )
            .with(evidence);
        }
        if total > 0 && max >= total {
            return Outcome::fail(format!(
                "maxmemory {} exceeds the host's {}",
                mib(max),
                mib(total)
            ))
            .with(evidence);
        }
        if total > 0 && max.saturating_mul(10) > total.saturating_mul(9) {
            return Outcome::warn(format!(
                "maxmemory {} leaves under 10% of the host's {} for forks and buffers",
                mib(max),
                mib(total)
            ))
            .with(evidence);
        }
        Outcome::pass(format!(
            "maxmemory {} of {} host memory",
            mib(max),
            if total > 0 {
                mib(total)
            } else {
                "unknown".into()
            }
        ))
        .with(evidence)
    }
}

fn mib(bytes: u64) -> String {
    format!("{} MiB", bytes / (1024 * 1024))
}

/// `memory.eviction-policy`
pub struct EvictionPolicy;

static EVICTION: CheckMeta = CheckMeta {
    id: "memory.eviction-policy",
    area: Area::Memory,
    title: "Eviction policy fits the declared workload",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Node,
    applies: Applies::ALL,
    why: "For state (sessions, rate limits, lockouts, locks) any eviction fails open: a counter resets, a lock is silently released, a revoked session is forgotten. These keys carry TTLs, so volatile-* policies evict them too; only noeviction turns a full server into visible errors. A cache is the opposite: allkeys-lru/lfu. https://redis.io/docs/latest/develop/reference/eviction/",
    remediation: "redis-conf/redis.conf: `maxmemory-policy noeviction` for state; run caches on a separate instance with `allkeys-lfu` and declare `workload = \"cache\"` in verify.toml.",
};

check_type!(EvictionPolicy, EVICTION);

impl EvictionPolicy {
    async fn evaluate(&self, ctx: &Ctx) -> Outcome {
        let (info, info_ev) = match info_fields(ctx, "memory", &["maxmemory_policy"]).await {
            Ok(found) => found,
            Err(outcome) => return outcome,
        };
        let evidence = vec![info_ev];
        let Some(policy) = info.get("maxmemory_policy") else {
            return Outcome::error("INFO memory has no maxmemory_policy field").with(evidence);
        };
        match (ctx.settings.workload, policy) {
            (Workload::State, "noeviction") => {
                Outcome::pass("noeviction: state is never evicted").with(evidence)
            }
            (Workload::State, p) => Outcome::fail(format!(
                "{p} evicts state keys (sessions, rate limits, locks) when memory is full"
            ))
            .with(evidence),
            (Workload::Cache, p) if p.starts_with("allkeys-") || p.starts_with("volatile-") => {
                Outcome::pass(format!("{p} suits a cache")).with(evidence)
            }
            (Workload::Cache, p) => Outcome::warn(format!(
                "{p}: a full cache rejects writes instead of evicting"
            ))
            .with(evidence),
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

    fn mem(max: u64, total: u64, policy: &str) -> Captured {
        Captured::default().text(
            "INFO memory",
            &format!("used_memory:1000000\r\nmaxmemory:{max}\r\ntotal_system_memory:{total}\r\nmaxmemory_policy:{policy}\r\n"),
        )
    }

    const GIB: u64 = 1 << 30;

    #[test]
    fn maxmemory() {
        assert_eq!(
            run(&Maxmemory, mem(GIB / 4, 24 * GIB, "noeviction")).status,
            Status::Pass
        );
        assert_eq!(
            run(&Maxmemory, mem(0, 24 * GIB, "noeviction")).status,
            Status::Fail
        );
        assert_eq!(
            run(&Maxmemory, mem(32 * GIB, 24 * GIB, "noeviction")).status,
            Status::Fail
        );
        assert_eq!(
            run(&Maxmemory, mem(23 * GIB, 24 * GIB, "noeviction")).status,
            Status::Warn
        );
    }

    #[test]
    fn eviction_policy_by_workload() {
        assert_eq!(
            run(&EvictionPolicy, mem(1, 2, "noeviction")).status,
            Status::Pass
        );
        assert_eq!(
            run(&EvictionPolicy, mem(1, 2, "allkeys-lru")).status,
            Status::Fail
        );
        assert_eq!(
            run(&EvictionPolicy, mem(1, 2, "volatile-ttl")).status,
            Status::Fail
        );
        let cache = || Settings {
            workload: Workload::Cache,
            ..Default::default()
        };
        assert_eq!(
            run_with(&EvictionPolicy, mem(1, 2, "allkeys-lfu"), cache()).status,
            Status::Pass
        );
        assert_eq!(
            run_with(&EvictionPolicy, mem(1, 2, "noeviction"), cache()).status,
            Status::Warn
        );
    }
}
