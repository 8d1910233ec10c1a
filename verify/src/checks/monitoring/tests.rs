//! The monitoring checks over captured Prometheus API replies (served by a
//! local fake on 127.0.0.1, so the real HTTP client path runs) and captured
//! Redis replies.

use super::*;
use crate::check::{Check, Status};
use crate::config::{MonitoringSettings, Settings};
use crate::ctx::Captured;
use crate::fleet::{Fleet, FleetKind, Role};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Replies by path (`/api/v1/rules`) or by `query:<expr>`; queries not
/// listed get an empty vector.
async fn fake_prometheus(replies: HashMap<String, String>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let replies = Arc::new(replies);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let replies = replies.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&buf)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned();
                let target = line.split_whitespace().nth(1).unwrap_or("");
                let (path, query) = target.split_once('?').unwrap_or((target, ""));
                let param = query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("query="))
                    .map(decode);
                let body = match param {
                    Some(q) if path == "/api/v1/query" => replies
                        .get(&format!("query:{q}"))
                        .cloned()
                        .unwrap_or_else(|| vector(&[])),
                    _ => replies.get(path).cloned().unwrap_or_else(|| {
                        r#"{"status":"error","errorType":"not_found","error":"no reply"}"#
                            .to_owned()
                    }),
                };
                let _ = s
                    .write_all(
                        format!("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{body}")
                            .as_bytes(),
                    )
                    .await;
            });
        }
    });
    url
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() + 1 {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

/// A vector reply: (labels as `k=v` pairs, value).
fn vector(samples: &[(&[(&str, &str)], &str)]) -> String {
    let result: Vec<serde_json::Value> = samples
        .iter()
        .map(|(labels, v)| {
            let metric: serde_json::Map<String, serde_json::Value> = labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
                .collect();
            serde_json::json!({"metric": metric, "value": [1.7e9, v]})
        })
        .collect();
    serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": result}})
        .to_string()
}

fn data(v: serde_json::Value) -> String {
    serde_json::json!({"status": "success", "data": v}).to_string()
}

fn settings(url: Option<String>, dir: Option<std::path::PathBuf>) -> Settings {
    Settings {
        monitoring: url.map(|prometheus| MonitoringSettings {
            prometheus,
            grafana_dir: dir,
        }),
        ..Settings::default()
    }
}

fn sentinel_fleet(node: Captured, sentinel: Captured, s: Settings) -> Fleet {
    Fleet::captured(
        FleetKind::Sentinel {
            master: "mymaster".into(),
        },
        vec![("redis-1:6381", Role::Primary, node)],
        vec![("127.0.0.1:26381", sentinel)],
        s,
    )
}

async fn run(check: &dyn Check, fleet: &Fleet) -> Outcome {
    check.run(fleet, &fleet.data[0].ctx).await
}

#[tokio::test]
async fn every_check_skips_without_prometheus() {
    let fleet = sentinel_fleet(
        Captured::default(),
        Captured::default(),
        settings(None, None),
    );
    for check in [
        &ExporterUp as &dyn Check,
        &ExporterLeastPrivilege,
        &MetricsMatch,
        &Dashboards,
        &Rules,
    ] {
        let o = run(check, &fleet).await;
        assert_eq!(o.status, Status::Skip, "{}", check.meta().id);
        assert!(o.message.contains("--prometheus"), "{}", o.message);
    }
}

fn targets(entries: &[(&str, &str, &str)]) -> String {
    let active: Vec<serde_json::Value> = entries
        .iter()
        .map(|(instance, health, err)| serde_json::json!({"labels": {"instance": instance, "job": "redis"}, "health": health, "lastError": err}))
        .collect();
    data(serde_json::json!({"activeTargets": active}))
}

#[tokio::test]
async fn exporter_up_passes_when_every_node_is_scraped_and_fails_naming_the_rest() {
    // The Sentinel is reported as 127.0.0.1:26381 but known to Prometheus by
    // its compose name: matched by its port.
    let up = vector(&[
        (&[("instance", "redis-1:6381")], "1"),
        (&[("instance", "sentinel-1:26381")], "1"),
    ]);
    let healthy = HashMap::from([
        ("query:redis_up".to_owned(), up),
        (
            "/api/v1/targets".to_owned(),
            targets(&[("redis-1:6381", "up", ""), ("sentinel-1:26381", "up", "")]),
        ),
    ]);
    let fleet = sentinel_fleet(
        Captured::default(),
        Captured::default(),
        settings(Some(fake_prometheus(healthy).await), None),
    );
    let o = run(&ExporterUp, &fleet).await;
    assert_eq!(o.status, Status::Pass, "{o:?}");

    let stopped = HashMap::from([
        (
            "query:redis_up".to_owned(),
            vector(&[(&[("instance", "redis-1:6381")], "0")]),
        ),
        (
            "/api/v1/targets".to_owned(),
            targets(&[("redis-1:6381", "down", "connection refused")]),
        ),
    ]);
    let fleet = sentinel_fleet(
        Captured::default(),
        Captured::default(),
        settings(Some(fake_prometheus(stopped).await), None),
    );
    let o = run(&ExporterUp, &fleet).await;
    assert_eq!(o.status, Status::Fail);
    assert!(
        o.message.contains("redis-1:6381: redis_up 0"),
        "{}",
        o.message
    );
    assert!(
        o.message.contains("127.0.0.1:26381: no redis_up series"),
        "{}",
        o.message
    );
    assert!(
        o.message.contains("scrape target down: connection refused"),
        "{}",
        o.message
    );
}

fn dryrun(sends: &[&[&str]], must_not: &[&[&str]], all_allowed: bool) -> Captured {
    let mut c = Captured::default();
    for cmd in sends {
        c = c.text(&format!("ACL DRYRUN exporter {}", cmd.join(" ")), "OK");
    }
    for cmd in must_not {
        let reply = if all_allowed {
            "OK".to_owned()
        } else {
            format!(
                "This user has no permissions to run the '{}' command",
                cmd[0].to_lowercase()
            )
        };
        c = c.text(&format!("ACL DRYRUN exporter {}", cmd.join(" ")), &reply);
    }
    c
}

#[tokio::test]
async fn least_privilege_passes_the_policy_role_and_fails_plus_all() {
    let url = fake_prometheus(HashMap::new()).await;
    let fleet = sentinel_fleet(
        dryrun(NODE_SENDS, NODE_MUST_NOT, false),
        dryrun(SENTINEL_SENDS, SENTINEL_MUST_NOT, false),
        settings(Some(url.clone()), None),
    );
    let o = run(&ExporterLeastPrivilege, &fleet).await;
    assert_eq!(o.status, Status::Pass, "{o:?}");

    let fleet = sentinel_fleet(
        dryrun(NODE_SENDS, NODE_MUST_NOT, true),
        dryrun(SENTINEL_SENDS, SENTINEL_MUST_NOT, false),
        settings(Some(url.clone()), None),
    );
    let o = run(&ExporterLeastPrivilege, &fleet).await;
    assert_eq!(o.status, Status::Fail);
    assert!(
        o.message
            .contains("redis-1:6381: exporter may run GET session:1")
            && o.message.contains("CONFIG GET masterauth"),
        "{}",
        o.message
    );

    let no_user = Captured::default().reply(
        "ACL DRYRUN exporter PING",
        Err("ERR User 'exporter' not found"),
    );
    let fleet = sentinel_fleet(
        no_user,
        dryrun(SENTINEL_SENDS, SENTINEL_MUST_NOT, false),
        settings(Some(url), None),
    );
    let o = run(&ExporterLeastPrivilege, &fleet).await;
    assert_eq!(
        (o.status, o.message.as_str()),
        (Status::Fail, "redis-1:6381: no `exporter` user")
    );
}

const NAMES: &str = "{__name__=~\"redis_instance_info|redis_connected_slaves|redis_memory_max_bytes|redis_memory_used_bytes|redis_connected_clients\"}";

fn exporter_series(role: &str, maxmemory: &str) -> String {
    let i = ("instance", "redis-1:6381");
    vector(&[
        (
            &[("__name__", "redis_instance_info"), i, ("role", role)],
            "1",
        ),
        (&[("__name__", "redis_connected_slaves"), i], "2"),
        (&[("__name__", "redis_memory_max_bytes"), i], maxmemory),
        (&[("__name__", "redis_memory_used_bytes"), i], "1100000"),
        (&[("__name__", "redis_connected_clients"), i], "7"),
    ])
}

const INFO_ALL: &str = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n# Memory\r\nused_memory:1000000\r\nmaxmemory:268435456\r\n# Clients\r\nconnected_clients:9\r\n";

#[tokio::test]
async fn metrics_match_compares_exactly_and_within_tolerance() {
    let node = || Captured::default().text("INFO all", INFO_ALL);
    let url = fake_prometheus(HashMap::from([(
        format!("query:{NAMES}"),
        exporter_series("master", "268435456"),
    )]))
    .await;
    let o = run(
        &MetricsMatch,
        &sentinel_fleet(node(), Captured::default(), settings(Some(url), None)),
    )
    .await;
    assert_eq!(o.status, Status::Pass, "{o:?}");

    let url = fake_prometheus(HashMap::from([(
        format!("query:{NAMES}"),
        exporter_series("slave", "0"),
    )]))
    .await;
    let o = run(
        &MetricsMatch,
        &sentinel_fleet(node(), Captured::default(), settings(Some(url), None)),
    )
    .await;
    assert_eq!(o.status, Status::Fail);
    assert!(
        o.message.contains("role slave vs INFO master")
            && o.message
                .contains("redis_memory_max_bytes Some(0.0) vs INFO maxmemory Some(268435456)"),
        "{}",
        o.message
    );
}

fn grafana_dir(dashboard: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for sub in ["dashboards", "prometheus/rules", "provisioning/datasources"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    std::fs::write(dir.path().join("dashboards/d.json"), dashboard).unwrap();
    std::fs::write(
        dir.path().join("prometheus/rules/r.yml"),
        "groups:\n  - name: r\n    rules:\n      - alert: RedisDown\n        expr: redis_up == 0\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("provisioning/datasources/p.yml"),
        "datasources:\n  - name: P\n    uid: redis-prometheus\n",
    )
    .unwrap();
    dir
}

const BOARD: &str = r#"{"uid":"d","title":"Redis test","templating":{"list":[
  {"name":"datasource","type":"datasource","query":"prometheus","current":{"value":"redis-prometheus"}},
  {"name":"instance","type":"query","query":{"query":"label_values(redis_up{job=\"redis\"}, instance)"}}]},
  "panels":[
  {"type":"stat","title":"Uptime","targets":[{"refId":"A","expr":"redis_uptime_in_seconds{instance=~\"$instance\"}"}]},
  {"type":"stat","title":"Memory","targets":[{"refId":"A","expr":"redis_memroy_used_bytes{instance=~\"$instance\"}"}]},
  {"type":"row","title":"Sentinel","panels":[]},
  {"type":"stat","title":"TILT","targets":[{"refId":"A","expr":"redis_sentinel_tilt"}]}]}"#;

#[tokio::test]
async fn dashboards_names_the_panel_that_came_back_empty() {
    let dir = grafana_dir(BOARD);
    let replies = HashMap::from([
        (
            "/api/v1/label/instance/values".to_owned(),
            data(serde_json::json!(["redis-1:6381"])),
        ),
        (
            "query:redis_uptime_in_seconds{instance=~\"(redis-1:6381)\"}".to_owned(),
            vector(&[(&[("instance", "redis-1:6381")], "42")]),
        ),
        (
            "query:redis_sentinel_tilt".to_owned(),
            vector(&[(&[("instance", "s1")], "NaN")]),
        ),
    ]);
    let url = fake_prometheus(replies).await;
    let standalone = Fleet::captured(
        FleetKind::Standalone,
        vec![("redis:6379", Role::Standalone, Captured::default())],
        vec![],
        settings(Some(url.clone()), Some(dir.path().to_owned())),
    );
    let o = run(&Dashboards, &standalone).await;
    assert_eq!(o.status, Status::Fail);
    // The misspelt metric is named with its dashboard, panel and query; the
    // Sentinel row does not apply to a standalone deployment.
    assert_eq!(o.message, "Redis test / Memory / A: no series");
    assert!(o.evidence.iter().any(|e| e.command
        == "Redis test / Memory / A: redis_memroy_used_bytes{instance=~\"(redis-1:6381)\"}"));

    let fleet = sentinel_fleet(
        Captured::default(),
        Captured::default(),
        settings(Some(url), Some(dir.path().to_owned())),
    );
    let o = run(&Dashboards, &fleet).await;
    assert!(
        o.message
            .contains("Redis test / TILT / A: non-finite values: 1"),
        "{}",
        o.message
    );
}

#[tokio::test]
async fn dashboards_pass_when_every_query_has_data_and_check_the_datasource_uid() {
    let good = BOARD
        .replace("redis_memroy_used_bytes", "redis_uptime_in_seconds")
        .replace("Memory", "Uptime 2");
    let dir = grafana_dir(&good);
    let replies = HashMap::from([
        (
            "/api/v1/label/instance/values".to_owned(),
            data(serde_json::json!(["redis-1:6381"])),
        ),
        (
            "query:redis_uptime_in_seconds{instance=~\"(redis-1:6381)\"}".to_owned(),
            vector(&[(&[("instance", "redis-1:6381")], "42")]),
        ),
    ]);
    let url = fake_prometheus(replies).await;
    let standalone = || {
        Fleet::captured(
            FleetKind::Standalone,
            vec![("redis:6379", Role::Standalone, Captured::default())],
            vec![],
            settings(Some(url.clone()), Some(dir.path().to_owned())),
        )
    };
    let o = run(&Dashboards, &standalone()).await;
    assert_eq!(o.status, Status::Pass, "{o:?}");
    std::fs::write(
        dir.path().join("provisioning/datasources/p.yml"),
        "datasources:\n  - uid: other\n",
    )
    .unwrap();
    let o = run(&Dashboards, &standalone()).await;
    assert!(o.message.contains("datasource variable defaults to Some(\"redis-prometheus\"), provisioning has [\"other\"]"), "{}", o.message);
}

fn rules_reply(rules: &[(&str, &str, &str)]) -> String {
    let rules: Vec<serde_json::Value> = rules
        .iter()
        .map(|(name, health, err)| serde_json::json!({"name": name, "type": "alerting", "health": health, "lastError": err}))
        .collect();
    data(serde_json::json!({"groups": [{"name": "redis", "rules": rules}]}))
}

#[tokio::test]
async fn rules_pass_when_loaded_healthy_and_silent_and_fail_otherwise() {
    let names = Sources::embedded().alert_names();
    let all: Vec<(&str, &str, &str)> = names.iter().map(|n| (n.as_str(), "ok", "")).collect();
    let quiet = data(
        serde_json::json!({"alerts": [{"labels": {"alertname": "RedisDown"}, "state": "pending"}]}),
    );
    let url = fake_prometheus(HashMap::from([
        ("/api/v1/rules".to_owned(), rules_reply(&all)),
        ("/api/v1/alerts".to_owned(), quiet),
    ]))
    .await;
    let o = run(
        &Rules,
        &sentinel_fleet(
            Captured::default(),
            Captured::default(),
            settings(Some(url), None),
        ),
    )
    .await;
    assert_eq!(o.status, Status::Pass, "{o:?}");

    let mut broken: Vec<(&str, &str, &str)> = all
        .iter()
        .copied()
        .filter(|(n, _, _)| *n != "RedisEvictions")
        .collect();
    broken[0] = ("RedisDown", "err", "many-to-many matching not allowed");
    let firing = data(
        serde_json::json!({"alerts": [{"labels": {"alertname": "RedisMemoryHigh", "instance": "redis-1:6381"}, "state": "firing"}]}),
    );
    let url = fake_prometheus(HashMap::from([
        ("/api/v1/rules".to_owned(), rules_reply(&broken)),
        ("/api/v1/alerts".to_owned(), firing),
    ]))
    .await;
    let o = run(
        &Rules,
        &sentinel_fleet(
            Captured::default(),
            Captured::default(),
            settings(Some(url), None),
        ),
    )
    .await;
    assert_eq!(o.status, Status::Fail);
    for part in [
        "RedisDown: health err: many-to-many matching not allowed",
        "RedisEvictions: not loaded",
        "firing on this deployment: RedisMemoryHigh{instance=\"redis-1:6381\"}",
    ] {
        assert!(
            o.message.contains(part) || o.evidence.iter().any(|e| e.observed.contains(part)),
            "{part} in {}",
            o.message
        );
    }
}

#[tokio::test]
async fn an_unreachable_prometheus_is_an_error_not_a_failure() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let fleet = sentinel_fleet(
        Captured::default(),
        Captured::default(),
        settings(Some(url), None),
    );
    let o = run(&ExporterUp, &fleet).await;
    assert_eq!(o.status, Status::Error);
    assert!(
        o.message
            .starts_with("failed to reach Prometheus at 127.0.0.1:"),
        "{}",
        o.message
    );
    let fleet = sentinel_fleet(
        Captured::default(),
        Captured::default(),
        settings(Some("https://p:9090".into()), None),
    );
    assert!(run(&Rules, &fleet)
        .await
        .message
        .contains("https is not supported"));
}
