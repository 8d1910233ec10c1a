//! `config.*`: server settings that limit damage and keep evidence.

use super::config_evidence;
use crate::check::{Applies, Area, CheckMeta, Evidence, Needs, Outcome, Scope, Severity};
use crate::ctx::Ctx;

/// Reads several CONFIG parameters, or returns the outcome to report when
/// CONFIG is not permitted (a skip naming who withheld it: the ACL, or a
/// provider such as ElastiCache).
async fn read_all(ctx: &Ctx, names: &[&str]) -> Result<Vec<(String, Option<String>)>, Outcome> {
    let mut out = Vec::new();
    for name in names {
        match ctx.config_get(name).await {
            Ok(v) => out.push(((*name).to_owned(), v)),
            Err(e) => return Err(ctx.withheld(&format!("CONFIG GET {name}"), &e).await),
        }
    }
    Ok(out)
}

fn evidence_of(values: &[(String, Option<String>)]) -> Vec<Evidence> {
    values
        .iter()
        .map(|(n, v)| config_evidence(n, v.as_deref().unwrap_or("<not supported>")))
        .collect()
}

/// `config.debug-module-commands`
pub struct DebugModuleCommands;

static DEBUG_MODULE: CheckMeta = CheckMeta {
    id: "config.debug-module-commands",
    area: Area::Config,
    title: "DEBUG and MODULE commands are disabled",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Node,
    applies: Applies::ALL,
    why: "DEBUG can crash or freeze the server and read memory; MODULE LOAD runs native code inside it. Since Redis 7.0 both are off by default and must stay off unless a specific need is documented. https://raw.githubusercontent.com/redis/redis/7.0/redis.conf (enable-debug-command)",
    remediation: "redis-conf/redis.conf: `enable-debug-command no` and `enable-module-command no`.",
};
check_type!(DebugModuleCommands, DEBUG_MODULE);

impl DebugModuleCommands {
    async fn evaluate(&self, ctx: &Ctx) -> Outcome {
        let values = match read_all(ctx, &["enable-debug-command", "enable-module-command"]).await {
            Ok(v) => v,
            Err(o) => return o,
        };
        let evidence = evidence_of(&values);
        let on: Vec<&str> = values
            .iter()
            .filter(|(_, v)| v.as_deref() == Some("yes"))
            .map(|(n, _)| n.as_str())
            .collect();
        let local: Vec<&str> = values
            .iter()
            .filter(|(_, v)| v.as_deref() == Some("local"))
            .map(|(n, _)| n.as_str())
            .collect();
        if values.iter().all(|(_, v)| v.is_none()) {
            return Outcome::skip("server predates enable-debug-command (Redis < 7.0): DEBUG cannot be disabled, deny it by ACL").with(evidence);
        }
        if !on.is_empty() {
            Outcome::fail(format!("enabled for every client: {}", on.join(", "))).with(evidence)
        } else if !local.is_empty() {
            Outcome::warn(format!(
                "enabled for local connections: {}",
                local.join(", ")
            ))
            .with(evidence)
        } else {
            Outcome::pass("DEBUG and MODULE are disabled").with(evidence)
        }
    }
}

/// `config.protected-configs`
pub struct ProtectedConfigs;

static PROTECTED_CONFIGS: CheckMeta = CheckMeta {
    id: "config.protected-configs",
    area: Area::Config,
    title: "Protected configs (dir, dbfilename, …) cannot be changed at run time",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Node,
    applies: Applies::ALL,
    why: "CONFIG SET dir + dbfilename + SAVE writes a file anywhere the server can write: the classic route from CONFIG access to code execution (authorized_keys, cron). Redis 7.0 blocks it with enable-protected-configs no.",
    remediation: "redis-conf/redis.conf: `enable-protected-configs no`.",
};
check_type!(ProtectedConfigs, PROTECTED_CONFIGS);

impl ProtectedConfigs {
    async fn evaluate(&self, ctx: &Ctx) -> Outcome {
        let values = match read_all(ctx, &["enable-protected-configs"]).await {
            Ok(v) => v,
            Err(o) => return o,
        };
        let evidence = evidence_of(&values);
        match values[0].1.as_deref() {
            Some("no") => {
                Outcome::pass("protected configs are immutable at run time").with(evidence)
            }
            Some("local") => {
                Outcome::warn("protected configs can be changed from local connections")
                    .with(evidence)
            }
            Some(v) => Outcome::fail(format!(
                "enable-protected-configs is `{v}`: CONFIG SET dir/dbfilename allowed"
            ))
            .with(evidence),
            None => Outcome::skip("server predates enable-protected-configs (Redis < 7.0)")
                .with(evidence),
        }
    }
}

/// `config.timeouts`
pub struct Timeouts;

static TIMEOUTS: CheckMeta = CheckMeta {
    id: "config.timeouts",
    area: Area::Config,
    title: "Idle clients time out and dead peers are detected",
    severity: Severity::Warn,
    needs: Needs { disruptive: false },
    scope: Scope::Node,
    applies: Applies::ALL,
    why: "Without `timeout` leaked connections accumulate until maxclients refuses new ones; without `tcp-keepalive` half-open connections to crashed clients or lost networks are never noticed.",
    remediation: "redis-conf/redis.conf: `timeout 300` and `tcp-keepalive 60` (Terraform parameter group and Helm config carry the same values).",
};
check_type!(Timeouts, TIMEOUTS);

impl Timeouts {
    async fn evaluate(&self, ctx: &Ctx) -> Outcome {
        let values = match read_all(ctx, &["timeout", "tcp-keepalive"]).await {
            Ok(v) => v,
            Err(o) => return o,
        };
        let evidence = evidence_of(&values);
        let num = |i: usize| {
            values[i]
                .1
                .as_deref()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        match (num(0), num(1)) {
            (_, 0) => {
                Outcome::fail("tcp-keepalive is 0: dead peers are never detected").with(evidence)
            }
            (0, _) => {
                Outcome::fail("timeout is 0: idle clients are never disconnected").with(evidence)
            }
            (t, k) => Outcome::pass(format!("timeout {t}s, tcp-keepalive {k}s")).with(evidence),
        }
    }
}

/// `config.slowlog`
pub struct Slowlog;

static SLOWLOG: CheckMeta = CheckMeta {
    id: "config.slowlog",
    area: Area::Config,
    title: "Slow commands are logged",
    severity: Severity::Warn,
    needs: Needs { disruptive: false },
    scope: Scope::Node,
    applies: Applies::ALL,
    why: "The slow log is the first evidence when latency spikes: which command, which key pattern, which client. Disabled (-1) or too short it records nothing useful.",
    remediation: "redis-conf/redis.conf: `slowlog-log-slower-than 10000` and `slowlog-max-len 256`.",
};
check_type!(Slowlog, SLOWLOG);

impl Slowlog {
    async fn evaluate(&self, ctx: &Ctx) -> Outcome {
        let values = match read_all(ctx, &["slowlog-log-slower-than", "slowlog-max-len"]).await {
            Ok(v) => v,
            Err(o) => return o,
        };
        let evidence = evidence_of(&values);
        let slower: i64 = values[0]
            .1
            .as_deref()
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1);
        let len: i64 = values[1]
            .1
            .as_deref()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if slower < 0 {
            Outcome::fail("the slow log is disabled").with(evidence)
        } else if slower == 0 {
            Outcome::warn("every command is logged as slow: the log churns and hides real outliers")
                .with(evidence)
        } else if slower > 100_000 {
            Outcome::warn(format!(
                "only commands slower than {} ms are logged",
                slower / 1000
            ))
            .with(evidence)
        } else if len < 128 {
            Outcome::warn(format!("slowlog-max-len {len} keeps too little history")).with(evidence)
        } else {
            Outcome::pass(format!(
                "commands over {slower} µs are logged, last {len} kept"
            ))
            .with(evidence)
        }
    }
}

/// `config.latency-monitor`
pub struct LatencyMonitor;

static LATENCY: CheckMeta = CheckMeta {
    id: "config.latency-monitor",
    area: Area::Config,
    title: "The latency monitor records spikes",
    severity: Severity::Warn,
    needs: Needs { disruptive: false },
    scope: Scope::Node,
    applies: Applies::ALL,
    why: "LATENCY DOCTOR and LATENCY HISTORY only have data when latency-monitor-threshold is set; fork, fsync and eviction stalls are otherwise invisible after the fact. https://redis.io/docs/latest/operate/oss_and_stack/management/optimization/latency-monitor/",
    remediation: "redis-conf/redis.conf: `latency-monitor-threshold 100`.",
};
check_type!(LatencyMonitor, LATENCY);

impl LatencyMonitor {
    async fn evaluate(&self, ctx: &Ctx) -> Outcome {
        let values = match read_all(ctx, &["latency-monitor-threshold"]).await {
            Ok(v) => v,
            Err(o) => return o,
        };
        let evidence = evidence_of(&values);
        match values[0].1.as_deref().and_then(|v| v.parse::<u64>().ok()) {
            Some(0) | None => Outcome::fail("latency monitor is off").with(evidence),
            Some(ms) => Outcome::pass(format!("events over {ms} ms are recorded")).with(evidence),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Status;
    use crate::checks::testing::run;
    use crate::ctx::Captured;

    #[test]
    fn config_blocked_by_elasticache_is_a_provider_skip_naming_its_control() {
        let c = Captured::default()
            .text("INFO server", "redis_version:7.1.0\r\nos:Amazon ElastiCache\r\n")
            .reply(
                "CONFIG GET enable-protected-configs",
                Err("ERR unknown command 'CONFIG', with args beginning with: 'GET' 'enable-protected-configs' "),
            );
        let o = run(&ProtectedConfigs, c);
        assert_eq!(o.status, Status::Skip);
        assert_eq!(o.withheld, Some(crate::check::Withheld::Provider));
        assert!(
            o.message.contains("blocked by ElastiCache"),
            "{}",
            o.message
        );
        assert!(
            o.message.contains("create_parameter_group"),
            "{}",
            o.message
        );
    }

    #[test]
    fn config_denied_by_the_acl_is_a_permission_skip_saying_what_to_grant() {
        let c = Captured::default().reply(
            "CONFIG GET enable-protected-configs",
            Err("NOPERM User app has no permissions to run the 'config|get' command"),
        );
        let o = run(&ProtectedConfigs, c);
        assert_eq!(o.status, Status::Skip);
        assert_eq!(
            o.message,
            "CONFIG GET enable-protected-configs denied to `admin`: grant `+config|get`"
        );
    }

    #[test]
    fn debug_module_pass_fail_warn_skip() {
        let hardened = Captured::default()
            .config("enable-debug-command", "no")
            .config("enable-module-command", "no");
        assert_eq!(run(&DebugModuleCommands, hardened).status, Status::Pass);
        let weak = Captured::default()
            .config("enable-debug-command", "yes")
            .config("enable-module-command", "no");
        let o = run(&DebugModuleCommands, weak);
        assert_eq!(o.status, Status::Fail);
        assert!(o.message.contains("enable-debug-command"));
        let local = Captured::default()
            .config("enable-debug-command", "local")
            .config("enable-module-command", "no");
        assert_eq!(run(&DebugModuleCommands, local).status, Status::Warn);
        let denied = Captured::default().reply(
            "CONFIG GET enable-debug-command",
            Err("NOPERM no permissions"),
        );
        assert_eq!(run(&DebugModuleCommands, denied).status, Status::Skip);
    }

    #[test]
    fn protected_configs() {
        assert_eq!(
            run(
                &ProtectedConfigs,
                Captured::default().config("enable-protected-configs", "no")
            )
            .status,
            Status::Pass
        );
        assert_eq!(
            run(
                &ProtectedConfigs,
                Captured::default().config("enable-protected-configs", "yes")
            )
            .status,
            Status::Fail
        );
    }

    #[test]
    fn timeouts() {
        let good = Captured::default()
            .config("timeout", "300")
            .config("tcp-keepalive", "60");
        assert_eq!(run(&Timeouts, good).status, Status::Pass);
        let stock = Captured::default()
            .config("timeout", "0")
            .config("tcp-keepalive", "300");
        assert_eq!(run(&Timeouts, stock).status, Status::Fail);
    }

    #[test]
    fn slowlog_and_latency() {
        let good = Captured::default()
            .config("slowlog-log-slower-than", "10000")
            .config("slowlog-max-len", "256");
        assert_eq!(run(&Slowlog, good).status, Status::Pass);
        let off = Captured::default()
            .config("slowlog-log-slower-than", "-1")
            .config("slowlog-max-len", "128");
        assert_eq!(run(&Slowlog, off).status, Status::Fail);
        assert_eq!(
            run(
                &LatencyMonitor,
                Captured::default().config("latency-monitor-threshold", "100")
            )
            .status,
            Status::Pass
        );
        assert_eq!(
            run(
                &LatencyMonitor,
                Captured::default().config("latency-monitor-threshold", "0")
            )
            .status,
            Status::Fail
        );
    }
}
