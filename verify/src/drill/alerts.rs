//! `monitoring.alerts-fire`: induce faults on a launched Sentinel deployment
//! with the monitoring stack running and show each alert the rules define
//! for the fault firing in Prometheus' `/api/v1/alerts` within its `for:`
//! plus two evaluation intervals (plus the time the fault takes to show in
//! a scrape), and not pending or firing before the fault.
//!
//! One fault serves every alert it should raise, so the drill lasts about
//! the longest `for:`, not their sum: stopping a replica makes the exporter
//! report `redis_up == 0` for it (RedisDown) and Sentinel count one replica
//! fewer healthy (RedisSentinelReplicaDown). RedisReplicationBroken needs a
//! replica that is up with its link down, which a stopped replica is not.
//! RedisPrimaryChanged compares with `offset 10m`: on a stack younger than
//! that it cannot fire whatever happens, so it is reported as not provable
//! (with the reason) instead of failing over for nothing.
//!
//! The `for:` values and offsets come from the rules the launched Prometheus
//! loads (the embedded grafana/prometheus/rules/redis.yml), never from here.

use super::commands::Action;
use super::{Budget, Drill, DrillCtx, DrillError, DrillMeta};
use crate::check::{Applies, BoxFuture, Evidence};
use crate::prom::Prom;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How often `/api/v1/alerts` is polled while waiting.
const POLL: Duration = Duration::from_millis(250);
/// Bound for the stopped replica to rejoin after its restart.
const REJOIN: Duration = Duration::from_secs(30);

/// What the rules say about one alert.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleInfo {
    /// Its `for:` in ms (0 without one).
    pub for_ms: u64,
    /// The largest `offset` its expression looks back, in ms.
    pub history_ms: u64,
}

/// Every alert of a rules file by name. A line parser, enough for the
/// project's rule files (one `- alert:` per rule, `for:` and `expr:` in it).
pub fn parse_rules(text: &str) -> BTreeMap<String, RuleInfo> {
    let mut out = BTreeMap::new();
    let mut current: Option<(String, RuleInfo)> = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix("- alert:") {
            if let Some((n, r)) = current.take() {
                out.insert(n, r);
            }
            current = Some((name.trim().to_owned(), RuleInfo::default()));
        } else if t.starts_with("- record:") {
            if let Some((n, r)) = current.take() {
                out.insert(n, r);
            }
        } else if let Some((_, rule)) = current.as_mut() {
            if let Some(v) = t.strip_prefix("for:") {
                rule.for_ms = parse_duration(v.trim()).unwrap_or(0);
            }
            let mut rest = t;
            while let Some(i) = rest.find("offset ") {
                rest = &rest[i + "offset ".len()..];
                let word: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric())
                    .collect();
                if let Some(ms) = parse_duration(&word) {
                    rule.history_ms = rule.history_ms.max(ms);
                }
            }
        }
    }
    if let Some((n, r)) = current {
        out.insert(n, r);
    }
    out
}

/// A Prometheus duration (`500ms`, `30s`, `2m`, `1h`, `1d`) in ms.
pub fn parse_duration(s: &str) -> Option<u64> {
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let scale = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    Some(n * scale)
}

/// One alert the fault must raise.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expect {
    /// Alert name.
    pub alert: String,
    /// Its `instance` label, when it is about one node.
    pub instance: Option<String>,
    /// Its `for:` (ms).
    pub for_ms: u64,
    /// Fault → firing allowed: `for:` + two evaluation intervals + how
    /// long the fault takes to show in a scrape.
    pub bound_ms: u64,
}

impl Expect {
    /// `Name{instance="n3"}` or `Name`.
    pub fn name(&self) -> String {
        match &self.instance {
            Some(i) => format!("{}{{instance=\"{i}\"}}", self.alert),
            None => self.alert.clone(),
        }
    }
}

/// One alert's state in an `/api/v1/alerts` reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Active {
    /// `alertname`.
    pub alert: String,
    /// `instance`, "" when absent.
    pub instance: String,
    /// `pending` or `firing`.
    pub state: String,
}

/// The alerts of an `/api/v1/alerts` `data` object.
pub fn active(data: &Value) -> Vec<Active> {
    let Some(list) = data.get("alerts").and_then(Value::as_array) else {
        return Vec::new();
    };
    let text = |a: &Value, k: &str| a.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    list.iter()
        .map(|a| {
            let labels = a.get("labels").cloned().unwrap_or(Value::Null);
            Active {
                alert: text(&labels, "alertname"),
                instance: text(&labels, "instance"),
                state: text(a, "state"),
            }
        })
        .collect()
}

/// The state `e` is in according to `alerts`: `firing` wins over
/// `pending`; `None` when absent.
pub fn state_of<'a>(e: &Expect, alerts: &'a [Active]) -> Option<&'a str> {
    let mut best = None;
    for a in alerts
        .iter()
        .filter(|a| a.alert == e.alert && e.instance.as_deref().is_none_or(|i| a.instance == i))
    {
        if a.state == "firing" {
            return Some("firing");
        }
        best = Some(a.state.as_str());
    }
    best
}

/// What was seen of one expected alert after the fault.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// Fault → first poll that saw it pending (ms).
    pub pending_ms: Option<u64>,
    /// Fault → first poll that saw it firing (ms).
    pub fired_ms: Option<u64>,
}

impl Seen {
    /// Records one poll `t_ms` after the fault.
    pub fn observe(&mut self, state: Option<&str>, t_ms: u64) {
        match state {
            Some("firing") if self.fired_ms.is_none() => self.fired_ms = Some(t_ms),
            Some("pending") if self.pending_ms.is_none() => self.pending_ms = Some(t_ms),
            _ => {}
        }
    }
}

/// The verdict on one alert: `Ok(line)` when it fired within its bound,
/// `Err(line)` otherwise.
pub fn judge(e: &Expect, seen: &Seen) -> Result<String, String> {
    let head = format!("{}: for {} ms, bound {} ms", e.name(), e.for_ms, e.bound_ms);
    match (seen.fired_ms, seen.pending_ms) {
        (Some(t), _) if t <= e.bound_ms => Ok(format!("{head}, fired at t={t} ms: pass")),
        (Some(t), _) => Err(format!("{head}, fired at t={t} ms, late: fail")),
        (None, Some(p)) => Err(format!(
            "{head}, pending from t={p} ms but never firing: fail"
        )),
        (None, None) => Err(format!("{head}, never pending or firing: fail")),
    }
}

/// `monitoring.alerts-fire`.
pub struct AlertsFire;

static META: DrillMeta = DrillMeta {
    id: "monitoring.alerts-fire",
    title: "Each alert with an induced fault fires within its for: plus two evaluations",
    applies: Applies {
        standalone: false,
        sentinel: true,
        cluster: false,
    },
    injects: "starts redis_exporter + Prometheus next to the deployment (as --monitoring), then stops one replica for the longest for: of its alerts and restarts it",
    measures: "fault → first /api/v1/alerts poll showing RedisDown (the replica) and RedisSentinelReplicaDown firing; that neither was pending or firing before the fault",
    budget: "each alert within its for: (parsed from the rules) + 2 evaluation intervals + one scrape interval (+ down-after-milliseconds for Sentinel's view); writes as failover drills: [drills] max_lost_acked, max_unavailability_ms",
    why: "An alert rule that loads but never fires (a renamed metric, a label the exporter does not set, a for: longer than the outage) is found in production, during the outage; the runbooks' \"alerts trigger appropriately\" is checked here.",
};

impl Drill for AlertsFire {
    fn meta(&self) -> &'static DrillMeta {
        &META
    }

    fn run<'a, 'b: 'a>(
        &'a self,
        ctx: &'a mut DrillCtx<'b>,
    ) -> BoxFuture<'a, Result<Budget, DrillError>> {
        Box::pin(run(ctx))
    }

    fn needs(&self) -> &'static [Action] {
        &[Action::Stop, Action::Start]
    }
}

async fn run(ctx: &mut DrillCtx<'_>) -> Result<Budget, DrillError> {
    let stack_started = Instant::now();
    let monitoring = match ctx.deployment.deployment() {
        // Missing binaries are a skip (said in one line), like a launcher
        // that cannot do what a drill needs; anything else is an error.
        Some(d) => crate::monitoring::launch(d).await.map_err(|e| {
            if e.contains(" not found: ") {
                DrillError::Unsupported(e)
            } else {
                DrillError::Other(format!("start the monitoring stack: {e}"))
            }
        })?,
        None => {
            return Err(DrillError::Unsupported(
                "monitoring.alerts-fire runs on deployments this run launches (verify drill --topology sentinel); on an existing one it is not supported yet".into(),
            ))
        }
    };
    let prom = Prom::new(monitoring.prometheus_url(), Duration::from_secs(2))
        .map_err(|e| DrillError::Other(format!("reach Prometheus: {e}")))?;
    let rules = parse_rules(topology::launch::monitoring::RULES);
    let interval_ms = parse_duration(topology::launch::monitoring::INTERVAL).unwrap_or(1000);
    let replica = ctx
        .deployment
        .data_nodes()
        .map(|n| n.id.clone())
        .find(|id| *id != ctx.old_primary)
        .ok_or_else(|| DrillError::Other("find a replica to stop".into()))?;

    let rule = |name: &str| {
        rules
            .get(name)
            .cloned()
            .ok_or_else(|| DrillError::Other(format!("find alert {name} in the rules")))
    };
    let down = rule("RedisDown")?;
    let replica_down = rule("RedisSentinelReplicaDown")?;
    let changed = rule("RedisPrimaryChanged")?;
    let expects = vec![
        Expect {
            alert: "RedisDown".into(),
            instance: Some(replica.clone()),
            for_ms: down.for_ms,
            bound_ms: down.for_ms + 3 * interval_ms,
        },
        Expect {
            alert: "RedisSentinelReplicaDown".into(),
            instance: None,
            for_ms: replica_down.for_ms,
            bound_ms: replica_down.for_ms + 3 * interval_ms + ctx.settings.down_after_ms,
        },
    ];
    let age_ms = ms_since(stack_started);
    ctx.evidence.push(Evidence::on(
        "prometheus",
        "rules: RedisPrimaryChanged",
        format!(
            "not provable here: its expression looks back {} ms (offset) and this Prometheus has {} ms of data, so it cannot fire after a failover yet",
            changed.history_ms, age_ms
        ),
    ));

    let alerts = fetch(&prom).await?;
    for e in &expects {
        if let Some(s) = state_of(e, &alerts) {
            ctx.problems
                .push(format!("{} was already {s} before the fault", e.name()));
        }
    }

    let fault = Instant::now();
    ctx.mark_fault("stop a replica (monitoring.alerts-fire)", &replica);
    ctx.deployment.stop(&replica).await?;
    let mut seen = vec![Seen::default(); expects.len()];
    let longest = expects.iter().map(|e| e.bound_ms).max().unwrap_or(0);
    let mut last_error = None;
    while ms_since(fault) <= longest && seen.iter().any(|s| s.fired_ms.is_none()) {
        let t = ms_since(fault);
        match fetch(&prom).await {
            Ok(alerts) => {
                for (e, s) in expects.iter().zip(seen.iter_mut()) {
                    s.observe(state_of(e, &alerts), t);
                }
            }
            Err(e) => last_error = Some(e.to_string()),
        }
        tokio::time::sleep(POLL).await;
    }
    ctx.deployment.restart(&replica).await?;
    ctx.mark_heal("restart the replica", &replica);
    drop(monitoring);
    if let Some(e) = last_error {
        ctx.evidence.push(Evidence::on(
            "prometheus",
            "GET /api/v1/alerts",
            format!("a poll failed: {e}"),
        ));
    }
    for (e, s) in expects.iter().zip(&seen) {
        match judge(e, s) {
            Ok(line) => ctx
                .evidence
                .push(Evidence::on(&replica, "GET /api/v1/alerts", line)),
            Err(line) => {
                ctx.evidence
                    .push(Evidence::on(&replica, "GET /api/v1/alerts", line.clone()));
                ctx.problems.push(line);
            }
        }
    }
    ctx.wait_replica(&replica, REJOIN).await?;
    let max_unavailability_ms = ctx
        .settings
        .max_unavailability_ms
        .unwrap_or(ctx.settings.down_after_ms + 6000);
    Ok(Budget {
        max_lost_acked: Some(ctx.settings.max_lost_acked),
        max_loss_window_ms: None,
        max_unavailability_ms,
        basis: format!(
            "a stopped replica costs the primary no writes: max_lost_acked {} ([drills]), unavailability ≤ {max_unavailability_ms} ms; each alert within its for: + 2 evaluation intervals + one scrape",
            ctx.settings.max_lost_acked
        ),
    })
}

async fn fetch(prom: &Prom) -> Result<Vec<Active>, DrillError> {
    let data = prom
        .get("/api/v1/alerts", &[])
        .await
        .map_err(|e| DrillError::Other(format!("read /api/v1/alerts: {e}")))?;
    Ok(active(&data))
}

fn ms_since(t: Instant) -> u64 {
    u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect() -> Expect {
        Expect {
            alert: "RedisDown".into(),
            instance: Some("n3".into()),
            for_ms: 60_000,
            bound_ms: 63_000,
        }
    }

    fn reply(state: &str, instance: &str) -> Value {
        serde_json::json!({"alerts": [
            {"labels": {"alertname": "RedisDown", "instance": instance, "severity": "critical"},
             "state": state, "activeAt": "2026-12-01T23:00:00Z", "value": "0e+00"}
        ]})
    }

    #[test]
    fn for_and_offsets_come_from_the_rules() {
        let rules = parse_rules(topology::launch::monitoring::RULES);
        assert_eq!(rules["RedisDown"].for_ms, 60_000);
        assert_eq!(rules["RedisSentinelReplicaDown"].for_ms, 120_000);
        assert_eq!(rules["RedisPrimaryChanged"].for_ms, 0);
        assert_eq!(rules["RedisPrimaryChanged"].history_ms, 600_000);
        assert_eq!(rules["RedisDown"].history_ms, 0);
        assert_eq!(parse_duration("500ms"), Some(500));
        assert_eq!(parse_duration("1s"), Some(1000));
        assert_eq!(parse_duration("2x"), None);
    }

    #[test]
    fn firing_within_the_bound_passes() {
        let e = expect();
        let mut s = Seen::default();
        s.observe(state_of(&e, &active(&reply("pending", "n3"))), 1_000);
        s.observe(state_of(&e, &active(&reply("firing", "n3"))), 61_500);
        assert_eq!(s.pending_ms, Some(1_000));
        assert!(judge(&e, &s).unwrap().contains("fired at t=61500 ms: pass"));
    }

    #[test]
    fn absent_pending_only_or_late_fails() {
        let e = expect();
        let mut absent = Seen::default();
        absent.observe(state_of(&e, &active(&serde_json::json!({"alerts": []}))), 5);
        // Another node's alert is not this one's.
        absent.observe(state_of(&e, &active(&reply("firing", "n2"))), 10);
        assert!(judge(&e, &absent)
            .unwrap_err()
            .contains("never pending or firing"));

        let mut pending = Seen::default();
        pending.observe(state_of(&e, &active(&reply("pending", "n3"))), 2_000);
        pending.observe(state_of(&e, &active(&reply("pending", "n3"))), 63_000);
        assert!(judge(&e, &pending).unwrap_err().contains("never firing"));

        let mut late = Seen::default();
        late.observe(state_of(&e, &active(&reply("firing", "n3"))), 70_000);
        assert!(judge(&e, &late).unwrap_err().contains("late"));
    }
}
