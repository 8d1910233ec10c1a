//! `monitoring.alerts-fire` on an existing target: the rules and intervals
//! come from the user's Prometheus (`/api/v1/rules`), and its `instance`
//! labels are matched to the discovered nodes (compose names nodes by
//! service, the report by address), as the monitoring.* checks match them.

use super::RuleInfo;
use serde_json::Value;
use std::collections::BTreeMap;

/// The alerting rules of an `/api/v1/rules` `data` object (`for:` from
/// `duration`, in seconds) and the longest group evaluation interval (ms).
pub fn rules_from_api(data: &Value) -> (BTreeMap<String, RuleInfo>, u64) {
    let mut rules = BTreeMap::new();
    let mut interval_ms = 0u64;
    let groups = data.get("groups").and_then(Value::as_array);
    for g in groups.into_iter().flatten() {
        if let Some(i) = g.get("interval").and_then(Value::as_f64) {
            interval_ms = interval_ms.max(secs_to_ms(i));
        }
        for r in g
            .get("rules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if r.get("type").and_then(Value::as_str) != Some("alerting") {
                continue;
            }
            let Some(name) = r.get("name").and_then(Value::as_str) else {
                continue;
            };
            let for_ms = r
                .get("duration")
                .and_then(Value::as_f64)
                .map_or(0, secs_to_ms);
            rules.insert(
                name.to_owned(),
                RuleInfo {
                    for_ms,
                    history_ms: 0,
                },
            );
        }
    }
    (rules, interval_ms)
}

fn secs_to_ms(s: f64) -> u64 {
    if s.is_finite() && s > 0.0 {
        (s * 1000.0).round() as u64
    } else {
        0
    }
}

/// The `instance` Prometheus knows a node by, among `series` (`instance`,
/// `addr` label pairs): the one whose `instance` or `addr` (which the
/// `--monitoring` Prometheus sets) is one of `names` (the node's id,
/// announced and reachable address), else the only instance with its port;
/// `None` when neither matches exactly one.
pub fn instance_of(names: &[String], port: u16, series: &[(String, String)]) -> Option<String> {
    if let Some((i, _)) = series
        .iter()
        .find(|(i, a)| names.contains(i) || names.contains(a))
    {
        return Some(i.clone());
    }
    let port = port.to_string();
    let mut same = series
        .iter()
        .filter(|(i, _)| i.rsplit_once(':').map(|(_, p)| p) == Some(port.as_str()));
    match (same.next(), same.next()) {
        (Some((i, _)), None) => Some(i.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from the compose stack's `/api/v1/rules` (15 s evaluation).
    #[test]
    fn reads_for_and_interval_from_the_rules_api() {
        let data = serde_json::json!({"groups": [
            {"name": "redis", "file": "/etc/prometheus/rules/redis.yml", "interval": 15, "rules": [
                {"state": "inactive", "name": "RedisDown", "query": "redis_up == 0", "duration": 60, "type": "alerting", "health": "ok"},
                {"state": "inactive", "name": "RedisPrimaryChanged", "query": "x", "duration": 0, "type": "alerting", "health": "ok"},
                {"name": "redis:memory:ratio", "query": "y", "type": "recording", "health": "ok"}
            ]},
            {"name": "other", "interval": 30.5, "rules": []}
        ]});
        let (rules, interval) = rules_from_api(&data);
        assert_eq!(rules["RedisDown"].for_ms, 60_000);
        assert_eq!(rules["RedisPrimaryChanged"].for_ms, 0);
        assert!(!rules.contains_key("redis:memory:ratio"));
        assert_eq!(interval, 30_500);
        assert_eq!(rules_from_api(&serde_json::json!({})).1, 0);
    }

    #[test]
    fn nodes_are_matched_by_name_then_by_a_unique_port() {
        let instances: Vec<(String, String)> = [
            ("redis-1:6381", ""),
            ("redis-2:6382", ""),
            ("sentinel-1:26381", ""),
            ("n1", "127.0.0.1:7001"),
        ]
        .map(|(i, a)| (i.to_owned(), a.to_owned()))
        .to_vec();
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            instance_of(&names(&["127.0.0.1:7001"]), 7001, &instances).as_deref(),
            Some("n1")
        );
        assert_eq!(
            instance_of(&names(&["127.0.0.1:6382"]), 6382, &instances).as_deref(),
            Some("redis-2:6382")
        );
        assert_eq!(
            instance_of(&names(&["127.0.0.1:6390"]), 6390, &instances),
            None
        );
        let twice: Vec<(String, String)> = ["a:6381", "b:6381"]
            .map(|i| (i.to_owned(), String::new()))
            .to_vec();
        assert_eq!(instance_of(&names(&["127.0.0.1:6381"]), 6381, &twice), None);
    }
}
