//! What the loaded rules say about each alert: its `for:` and how far its
//! expression looks back. The drill's bounds come from here, never from
//! constants of its own, so a rule whose `for:` changes is judged by it.

use std::collections::BTreeMap;

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
            if t.starts_with('#') {
                continue;
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn for_and_offsets_come_from_the_rules() {
        let rules = parse_rules(topology::launch::monitoring::RULES);
        assert_eq!(rules["RedisDown"].for_ms, 60_000);
        assert_eq!(rules["RedisSentinelReplicaDown"].for_ms, 120_000);
        assert_eq!(rules["RedisReplicationBroken"].for_ms, 120_000);
        assert_eq!(rules["RedisMemoryHigh"].for_ms, 300_000);
        assert_eq!(rules["RedisWritesRejectedOOM"].for_ms, 0);
        // No offset any more: it fires on a young Prometheus (the comment
        // that mentions `offset 10m` is not read as the expression).
        assert_eq!(rules["RedisPrimaryChanged"], RuleInfo::default());
        assert_eq!(parse_duration("500ms"), Some(500));
        assert_eq!(parse_duration("1s"), Some(1000));
        assert_eq!(parse_duration("2x"), None);
    }

    #[test]
    fn an_offset_in_an_expression_is_history() {
        let text = "      - alert: A\n        expr: |\n          x unless x offset 10m\n        for: 30s\n      - alert: B\n        expr: y\n";
        let r = parse_rules(text);
        assert_eq!(
            r["A"],
            RuleInfo {
                for_ms: 30_000,
                history_ms: 600_000
            }
        );
        assert_eq!(r["B"], RuleInfo::default());
    }
}
