//! `monitoring.*`: the deployment's monitoring, checked against the live
//! Prometheus that scrapes it (`--prometheus URL`). Without one every check
//! skips with that reason.
//!
//! - `exporter-up`: every node has `redis_up == 1` (matched by address) and
//!   its scrape target is healthy;
//! - `exporter-least-privilege`: the `exporter` ACL user can run what the
//!   exporter sends and nothing that writes, reads keys or reveals secrets;
//! - `metrics-match`: exporter values agree with `INFO` taken now;
//! - `dashboards`: every panel query, variables expanded, returns finite
//!   series; every variable resolves; datasource uid matches provisioning;
//! - `rules`: every alert of the rule files is loaded and healthy, and none
//!   fires.
//!
//! Sources (dashboards, rules, provisioning) are the project's `grafana/`,
//! built in, or `--grafana-dir`.

mod dashboards;
mod sources;

use crate::check::{Applies, Area, CheckMeta, Evidence, Needs, Outcome, Scope, Severity};
use crate::ctx::value_text;
use crate::fleet::{Fleet, FleetKind, Member, Role};
use crate::probe::Permission;
use crate::prom::{Prom, Sample};
use dashboards::Board;
use sources::Sources;
use std::collections::BTreeMap;
use std::time::Duration;

pub use sources::Sources as MonitoringSources;

/// Bound of each Prometheus request.
const PROM_TIMEOUT: Duration = Duration::from_secs(10);
/// The ACL user the exporter logs in as (redis-conf/users.acl, sentinel.conf).
const EXPORTER_USER: &str = "exporter";
/// Rows of a dashboard that only some topologies can fill; other rows apply
/// everywhere.
const TOPOLOGY_ROWS: &[(&str, &[&str])] = &[
    ("Replication", &["sentinel", "cluster"]),
    ("Sentinel", &["sentinel"]),
    ("Cluster", &["cluster"]),
];

/// What redis_exporter sends to a data node with its default flags (1.45
/// and upstream; tests/iac/test_monitoring.py derives and proves the list).
const NODE_SENDS: &[&[&str]] = &[
    &["PING"],
    &["CLIENT", "SETNAME", "redis_exporter"],
    &["INFO", "ALL"],
    &["SLOWLOG", "GET", "1"],
    &["SLOWLOG", "LEN"],
    &["LATENCY", "LATEST"],
    &["LATENCY", "HISTOGRAM"],
    &["CLUSTER", "INFO"],
    &["COMMAND", "INFO", "COMMANDLOG"],
];
/// What a leaked exporter password must not allow on a data node.
const NODE_MUST_NOT: &[&[&str]] = &[
    &["GET", "session:1"],
    &["SET", "session:1", "x"],
    &["DEL", "session:1"],
    &["SCAN", "0"],
    &["KEYS", "*"],
    &["EVAL", "return 1", "0"],
    &["CONFIG", "GET", "masterauth"],
    &["CONFIG", "SET", "maxmemory", "0"],
    &["ACL", "LIST"],
    &["CLIENT", "LIST"],
    &["MONITOR"],
    &["FLUSHALL"],
    &["DEBUG", "SLEEP", "0"],
    &["SHUTDOWN"],
    &["REPLICAOF", "NO", "ONE"],
    &["PSYNC", "?", "-1"],
    &["MODULE", "LOAD", "/tmp/x.so"],
];
/// What an exporter pointed at a Sentinel sends.
const SENTINEL_SENDS: &[&[&str]] = &[
    &["PING"],
    &["CLIENT", "SETNAME", "redis_exporter"],
    &["INFO"],
    &["SENTINEL", "MASTERS"],
    &["SENTINEL", "CKQUORUM", "mymaster"],
    &["SENTINEL", "SENTINELS", "mymaster"],
    &["SENTINEL", "SLAVES", "mymaster"],
];
/// What it must not do there (SENTINEL CONFIG GET returns sentinel-pass).
const SENTINEL_MUST_NOT: &[&[&str]] = &[
    &["SENTINEL", "CONFIG", "GET", "*"],
    &["SENTINEL", "SET", "mymaster", "quorum", "1"],
    &["SENTINEL", "FAILOVER", "mymaster"],
    &["SENTINEL", "RESET", "*"],
    &["SENTINEL", "REMOVE", "mymaster"],
    &["ACL", "LIST"],
    &["CLIENT", "KILL", "TYPE", "normal"],
    &["SHUTDOWN"],
];

/// The Prometheus client and sources, or the skip outcome without them.
fn setup(fleet: &Fleet) -> Result<(Prom, Sources), Outcome> {
    let Some(m) = &fleet.settings.monitoring else {
        return Err(Outcome::skip(
            "no --prometheus URL given: monitoring.* checks need the Prometheus that scrapes this deployment",
        ));
    };
    let prom = Prom::new(&m.prometheus, PROM_TIMEOUT).map_err(|e| Outcome::error(e.to_string()))?;
    let sources = match &m.grafana_dir {
        Some(dir) => Sources::load(dir).map_err(Outcome::error)?,
        None => Sources::embedded(),
    };
    Ok((prom, sources))
}

/// Problems and evidence collected over several nodes or queries.
#[derive(Default)]
struct Findings {
    problems: Vec<String>,
    evidence: Vec<Evidence>,
}

impl Findings {
    fn finish(self, pass: String) -> Outcome {
        if self.problems.is_empty() {
            Outcome::pass(pass).with(self.evidence)
        } else {
            let n = self.problems.len();
            let mut msg = self
                .problems
                .into_iter()
                .take(3)
                .collect::<Vec<_>>()
                .join("; ");
            if n > 3 {
                msg.push_str(&format!(" (+{} more in the evidence)", n - 3));
            }
            Outcome::fail(msg).with(self.evidence)
        }
    }
}

/// The sample of `member` among `samples`: `instance` (or `addr`, which the
/// `--monitoring` Prometheus sets) equal to the name the report uses, else
/// the only series whose `instance` has the same port (compose and launched
/// deployments give every node its own port; Prometheus may know it by its
/// network-internal name).
fn sample_of<'a>(member: &Member, samples: &'a [Sample]) -> Option<&'a Sample> {
    for label in ["instance", "addr"] {
        if let Some(s) = samples.iter().find(|s| s.label(label) == member.label) {
            return Some(s);
        }
    }
    let port = member.label.rsplit_once(':').map(|(_, p)| p)?;
    let mut same_port = samples
        .iter()
        .filter(|s| s.label("instance").rsplit_once(':').map(|(_, p)| p) == Some(port));
    match (same_port.next(), same_port.next()) {
        (Some(s), None) => Some(s),
        _ => None,
    }
}

fn members(fleet: &Fleet) -> impl Iterator<Item = &Member> {
    fleet.data.iter().chain(&fleet.sentinels)
}

fn show(samples: &[Sample], label: &str) -> String {
    let mut shown: Vec<String> = samples
        .iter()
        .map(|s| format!("{}={}", s.label(label), s.value))
        .collect();
    shown.sort();
    if shown.is_empty() {
        "no series".to_owned()
    } else {
        shown.join(" ")
    }
}

// ------------------------------------------------------------------ exporter-up

/// `monitoring.exporter-up`
pub struct ExporterUp;

static EXPORTER_UP: CheckMeta = CheckMeta {
    id: "monitoring.exporter-up",
    area: Area::Monitoring,
    title: "Every node is scraped: redis_up is 1 and its target is healthy",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Deployment,
    applies: Applies::ALL,
    why: "Alerts can only fire for nodes Prometheus scrapes. A node without an exporter, an exporter that cannot log in (redis_up 0) or a failing scrape target is a node whose outage, full memory or broken replication nobody is told about. https://github.com/oliver006/redis_exporter",
    remediation: "Run redis_exporter for every node (compose: `--profile monitoring`; Helm: `metrics.enabled`), logging in as the `exporter` user of redis-conf/users.acl, and let Prometheus scrape it (grafana/prometheus/prometheus.yml, Helm `metrics.serviceMonitor`). /api/v1/targets shows the failing target's lastError.",
};

check_type!(ExporterUp, EXPORTER_UP, fleet);

impl ExporterUp {
    async fn evaluate(&self, fleet: &Fleet) -> Outcome {
        let (prom, _) = match setup(fleet) {
            Ok(s) => s,
            Err(o) => return o,
        };
        let up = match prom.query("redis_up").await {
            Ok(s) => s,
            Err(e) => return Outcome::error(e.to_string()),
        };
        let mut f = Findings::default();
        f.evidence
            .push(Evidence::new("query redis_up", show(&up, "instance")));
        for m in members(fleet) {
            match sample_of(m, &up) {
                None => f.problems.push(format!(
                    "{}: no redis_up series (no exporter scrapes it)",
                    m.label
                )),
                Some(s) if s.value != 1.0 => f.problems.push(format!(
                    "{}: redis_up {} (the exporter cannot reach or log in to it)",
                    m.label, s.value
                )),
                Some(_) => {}
            }
        }
        let targets = match prom.get("/api/v1/targets", &[("state", "active")]).await {
            Ok(t) => t,
            Err(e) => return Outcome::error(e.to_string()),
        };
        let active = targets["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let target_samples: Vec<Sample> = active
            .iter()
            .map(|t| Sample {
                labels: t["labels"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_owned()))
                            .collect()
                    })
                    .unwrap_or_default(),
                value: 0.0,
            })
            .collect();
        for m in members(fleet) {
            let Some(t) = sample_of(m, &target_samples) else {
                continue; // reported above when redis_up is missing too
            };
            let i = target_samples
                .iter()
                .position(|x| std::ptr::eq(x, t))
                .unwrap_or(0);
            let health = active[i]["health"].as_str().unwrap_or("unknown");
            let error = active[i]["lastError"].as_str().unwrap_or("");
            f.evidence.push(Evidence::on(
                &m.label,
                format!("GET /api/v1/targets job={}", t.label("job")),
                format!("health={health} lastError={error:?}"),
            ));
            if health != "up" || !error.is_empty() {
                f.problems
                    .push(format!("{}: scrape target {health}: {error}", m.label));
            }
        }
        f.finish(format!(
            "{} nodes scraped with redis_up 1 and healthy targets",
            members(fleet).count()
        ))
    }
}

// ------------------------------------------------------------------ least privilege

/// `monitoring.exporter-least-privilege`
pub struct ExporterLeastPrivilege;

static LEAST_PRIVILEGE: CheckMeta = CheckMeta {
    id: "monitoring.exporter-least-privilege",
    area: Area::Monitoring,
    title: "The exporter user can run what the exporter sends, and nothing more",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Deployment,
    applies: Applies::ALL,
    why: "The exporter's password sits in a file on every monitoring host. With more than the exporter needs it reads or wipes data; CONFIG GET alone returns masterauth (the replication password: a full copy of the data through PSYNC), SENTINEL CONFIG GET returns sentinel-pass. With less, scrapes fail and every refused command counts as an ACL denial. redis_exporter's README ACL line does not even load on Redis 7.0 (+arcount). Judged with ACL DRYRUN, which runs nothing.",
    remediation: "Use the `exporter` roles of redis-conf/users.acl and redis-conf/sentinel.conf (Terraform: the module's RBAC `exporter` user) and run the exporter with `--config-command=-`.",
};

check_type!(ExporterLeastPrivilege, LEAST_PRIVILEGE, fleet);

impl ExporterLeastPrivilege {
    async fn evaluate(&self, fleet: &Fleet) -> Outcome {
        if let Err(o) = setup(fleet) {
            return o;
        }
        let master = match &fleet.kind {
            FleetKind::Sentinel { master } => master.clone(),
            _ => "mymaster".to_owned(),
        };
        let mut f = Findings::default();
        let mut judged = 0;
        for m in members(fleet) {
            let (sends, must_not) = if m.role == Role::Sentinel {
                (SENTINEL_SENDS, SENTINEL_MUST_NOT)
            } else {
                (NODE_SENDS, NODE_MUST_NOT)
            };
            let mut allowed_bad = Vec::new();
            let mut refused = Vec::new();
            let mut unknown = None;
            for (cmd, want_allowed) in sends
                .iter()
                .map(|c| (c, true))
                .chain(must_not.iter().map(|c| (c, false)))
            {
                let argv: Vec<&str> = cmd
                    .iter()
                    .map(|a| if *a == "mymaster" { master.as_str() } else { a })
                    .collect();
                let mut full = vec!["ACL", "DRYRUN", EXPORTER_USER];
                full.extend(&argv);
                let reply = m.ctx.cmd(&full).await.map(|v| value_text(&v));
                match (Permission::from_dryrun_reply(reply), want_allowed) {
                    (Permission::Allowed(_), false) => allowed_bad.push(argv.join(" ")),
                    (Permission::Denied(why), true) => {
                        refused.push(format!("{} ({why})", argv.join(" ")))
                    }
                    (Permission::Unknown(e), _) => {
                        unknown = Some(e);
                        break;
                    }
                    _ => {}
                }
            }
            if let Some(e) = unknown {
                if e.contains("not found") {
                    f.problems
                        .push(format!("{}: no `{EXPORTER_USER}` user", m.label));
                } else {
                    f.evidence
                        .push(Evidence::on(&m.label, "ACL DRYRUN exporter …", e.clone()));
                    f.problems
                        .push(format!("{}: ACL DRYRUN failed: {e}", m.label));
                }
                continue;
            }
            judged += 1;
            f.evidence.push(Evidence::on(
                &m.label,
                format!(
                    "ACL DRYRUN {EXPORTER_USER} <{} commands>",
                    sends.len() + must_not.len()
                ),
                format!(
                    "allowed beyond the role: [{}]; refused of what it sends: [{}]",
                    allowed_bad.join(", "),
                    refused.join(", ")
                ),
            ));
            if !allowed_bad.is_empty() {
                f.problems.push(format!(
                    "{}: exporter may run {}",
                    m.label,
                    allowed_bad.join(", ")
                ));
            }
            if !refused.is_empty() {
                f.problems.push(format!(
                    "{}: exporter is refused {}",
                    m.label,
                    refused.join(", ")
                ));
            }
        }
        f.finish(format!(
            "`{EXPORTER_USER}` allowed exactly the exporter's commands on {judged} nodes"
        ))
    }
}

// ------------------------------------------------------------------ metrics match

/// `monitoring.metrics-match`
pub struct MetricsMatch;

static METRICS_MATCH: CheckMeta = CheckMeta {
    id: "monitoring.metrics-match",
    area: Area::Monitoring,
    title: "Exporter values agree with INFO",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Deployment,
    applies: Applies::ALL,
    why: "A dashboard that shows the wrong node's role, a stale replica count or a different maxmemory is worse than none: decisions are taken on it. Role, connected replicas and maxmemory must be exactly what INFO says; used memory within 10% (or 4 MiB) and clients within 25% (or 10), because the last scrape is up to a scrape interval old and the verifier's own connections count.",
    remediation: "Point each exporter at its own node (the `instance` label must name the node, grafana/prometheus/prometheus.yml relabels it), and scrape often enough (15 s).",
};

check_type!(MetricsMatch, METRICS_MATCH, fleet);

impl MetricsMatch {
    async fn evaluate(&self, fleet: &Fleet) -> Outcome {
        let (prom, _) = match setup(fleet) {
            Ok(s) => s,
            Err(o) => return o,
        };
        let names = "redis_instance_info|redis_connected_slaves|redis_memory_max_bytes|redis_memory_used_bytes|redis_connected_clients";
        let series = match prom.query(&format!("{{__name__=~\"{names}\"}}")).await {
            Ok(s) => s,
            Err(e) => return Outcome::error(e.to_string()),
        };
        let mut f = Findings::default();
        for m in &fleet.data {
            let info = match m.ctx.cmd(&["INFO", "all"]).await {
                Ok(v) => crate::info::Info::parse(&value_text(&v)),
                Err(e) => {
                    f.problems.push(format!("{}: INFO failed: {e}", m.label));
                    continue;
                }
            };
            let of = |name: &str| -> Vec<Sample> {
                series
                    .iter()
                    .filter(|s| s.label("__name__") == name)
                    .cloned()
                    .collect()
            };
            let infos = of("redis_instance_info");
            let Some(role) = sample_of(m, &infos) else {
                f.problems.push(format!("{}: no exporter series", m.label));
                continue;
            };
            let instance = role.label("instance").to_owned();
            let value = |name: &str| sample_of(m, &of(name)).map(|s| s.value);
            let mut mismatch = Vec::new();
            let info_role = info.get("role").unwrap_or("?");
            if role.label("role") != info_role {
                mismatch.push(format!("role {} vs INFO {info_role}", role.label("role")));
            }
            let exact = [
                ("redis_memory_max_bytes", "maxmemory"),
                ("redis_connected_slaves", "connected_slaves"),
            ];
            for (metric, field) in exact {
                let (got, want) = (value(metric), info.get_u64(field));
                if want.is_some() && got != want.map(|w| w as f64) {
                    mismatch.push(format!("{metric} {got:?} vs INFO {field} {want:?}"));
                }
            }
            let near = [
                (
                    "redis_memory_used_bytes",
                    "used_memory",
                    0.10,
                    4.0 * 1024.0 * 1024.0,
                ),
                ("redis_connected_clients", "connected_clients", 0.25, 10.0),
            ];
            for (metric, field, ratio, floor) in near {
                if let (Some(got), Some(want)) = (value(metric), info.get_u64(field)) {
                    let want = want as f64;
                    if (got - want).abs() > (want * ratio).max(floor) {
                        mismatch.push(format!("{metric} {got} vs INFO {field} {want}"));
                    }
                }
            }
            f.evidence.push(Evidence::on(
                &m.label,
                format!("INFO all vs query {{instance=\"{instance}\"}}"),
                format!(
                    "role {}/{} maxmemory {:?}/{} used_memory {:?}/{} clients {:?}/{} replicas {:?}/{}",
                    role.label("role"), info_role,
                    value("redis_memory_max_bytes"), info.show("maxmemory"),
                    value("redis_memory_used_bytes"), info.show("used_memory"),
                    value("redis_connected_clients"), info.show("connected_clients"),
                    value("redis_connected_slaves"), info.show("connected_slaves"),
                ),
            ));
            if !mismatch.is_empty() {
                f.problems
                    .push(format!("{}: {}", m.label, mismatch.join(", ")));
            }
        }
        f.finish(format!(
            "exporter values match INFO on {} data nodes",
            fleet.data.len()
        ))
    }
}

// ------------------------------------------------------------------ dashboards

/// `monitoring.dashboards`
pub struct Dashboards;

static DASHBOARDS: CheckMeta = CheckMeta {
    id: "monitoring.dashboards",
    area: Area::Monitoring,
    title: "Every dashboard panel has data",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Deployment,
    applies: Applies::ALL,
    why: "A panel with a misspelt metric, a label the exporter does not set or a division by an unset maxmemory shows \"No data\" or N/A: the popular dashboard 763 does for memory whenever maxmemory is unset. Found only when someone needs the panel during an incident. Every query is run with its variables expanded to real values and must return at least one finite series; rows for a topology the deployment lacks (Sentinel, Cluster, Replication) are skipped.",
    remediation: "Fix the query in grafana/dashboards/<uid>.json (the evidence names dashboard, panel and query), copy it to helm/redis-hardened/files/dashboards/, and re-run. Make panels that can be legitimately empty return 0 (`… or 0 * redis_up`).",
};

check_type!(Dashboards, DASHBOARDS, fleet);

impl Dashboards {
    async fn evaluate(&self, fleet: &Fleet) -> Outcome {
        let (prom, sources) = match setup(fleet) {
            Ok(s) => s,
            Err(o) => return o,
        };
        let uids = sources.datasource_uids();
        let kind = fleet.kind.name();
        let mut f = Findings::default();
        let mut ran = 0;
        for (file, text) in &sources.dashboards {
            let board = match Board::parse(text) {
                Ok(b) => b,
                Err(e) => {
                    f.problems.push(format!("{file}: {e}"));
                    continue;
                }
            };
            let name = if board.title.is_empty() {
                file.clone()
            } else {
                board.title.clone()
            };
            match &board.datasource {
                Some(uid) if uids.contains(uid) => {}
                other => f.problems.push(format!(
                    "{name}: datasource variable defaults to {other:?}, provisioning has {uids:?}"
                )),
            }
            for u in &board.unsupported {
                f.problems.push(format!(
                    "{name}: variable {u} is not label_values(…) and cannot be resolved"
                ));
            }
            let mut values = BTreeMap::new();
            for v in &board.variables {
                match prom.label_values(&v.label, &v.selector).await {
                    Ok(vals) if !vals.is_empty() => {
                        f.evidence.push(Evidence::new(
                            format!(
                                "{name}: ${} = label_values({}, {})",
                                v.name, v.selector, v.label
                            ),
                            vals.join(" "),
                        ));
                        values.insert(v.name.clone(), dashboards::alternation(&vals));
                    }
                    Ok(_) => {
                        f.problems
                            .push(format!("{name}: variable ${} resolves to nothing", v.name));
                        values.insert(v.name.clone(), ".+".to_owned());
                    }
                    Err(e) => return Outcome::error(e.to_string()),
                }
            }
            for q in &board.queries {
                if let Some((_, kinds)) = TOPOLOGY_ROWS.iter().find(|(row, _)| *row == q.row) {
                    if !kinds.contains(&kind) {
                        continue;
                    }
                }
                let expr = dashboards::expand(&q.expr, &values);
                let place = format!("{name} / {} / {}", q.panel, q.ref_id);
                ran += 1;
                let problem = if let Some(var) = dashboards::leftover_variable(&expr) {
                    Some(format!("unknown variable {var}"))
                } else {
                    match prom.query(&expr).await {
                        Err(e) => Some(e.to_string()),
                        Ok(s) if s.is_empty() => Some("no series".to_owned()),
                        Ok(s) if s.iter().any(|x| !x.value.is_finite()) => Some(format!(
                            "non-finite values: {}",
                            s.iter().filter(|x| !x.value.is_finite()).count()
                        )),
                        Ok(_) => None,
                    }
                };
                if let Some(p) = problem {
                    f.evidence
                        .push(Evidence::new(format!("{place}: {expr}"), p.clone()));
                    f.problems.push(format!("{place}: {p}"));
                }
            }
        }
        f.finish(format!(
            "{ran} panel queries of {} dashboards return finite series ({kind} rows)",
            sources.dashboards.len()
        ))
    }
}

// ------------------------------------------------------------------ rules

/// `monitoring.rules`
pub struct Rules;

static RULES: CheckMeta = CheckMeta {
    id: "monitoring.rules",
    area: Area::Monitoring,
    title: "Every alert rule is loaded, healthy and silent",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Deployment,
    applies: Applies::ALL,
    why: "An alert that is not loaded, or whose expression errors at evaluation (health err), never fires: the outage it exists for goes unnoticed. An alert firing on a healthy deployment is noise that teaches people to ignore it. https://prometheus.io/docs/prometheus/latest/querying/api/#rules",
    remediation: "Load grafana/prometheus/rules/*.yml (compose and `verify --monitoring` do; Helm: `metrics.prometheusRule.enabled`), fix the expression /api/v1/rules reports in lastError (and its promtool case in tests/iac/test_monitoring.py), and resolve what a firing alert's runbook section says (docs/runbook.md).",
};

check_type!(Rules, RULES, fleet);

impl Rules {
    async fn evaluate(&self, fleet: &Fleet) -> Outcome {
        let (prom, sources) = match setup(fleet) {
            Ok(s) => s,
            Err(o) => return o,
        };
        let wanted = sources.alert_names();
        let (rules, alerts) = match (
            prom.get("/api/v1/rules", &[]).await,
            prom.get("/api/v1/alerts", &[]).await,
        ) {
            (Ok(r), Ok(a)) => (r, a),
            (Err(e), _) | (_, Err(e)) => return Outcome::error(e.to_string()),
        };
        let loaded: BTreeMap<String, (String, String)> = rules["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
            .map(|r| {
                let s = |k: &str| r[k].as_str().unwrap_or("").to_owned();
                (s("name"), (s("health"), s("lastError")))
            })
            .collect();
        let mut f = Findings::default();
        for name in &wanted {
            match loaded.get(name) {
                None => f.problems.push(format!("{name}: not loaded")),
                Some((health, error)) if health != "ok" => {
                    f.problems.push(format!("{name}: health {health}: {error}"))
                }
                _ => {}
            }
        }
        f.evidence.push(Evidence::new(
            "GET /api/v1/rules",
            format!(
                "{} of {} alerts loaded",
                wanted.iter().filter(|n| loaded.contains_key(*n)).count(),
                wanted.len()
            ),
        ));
        let firing: Vec<String> = alerts["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["state"] == "firing")
            .filter_map(|a| {
                let name = a["labels"]["alertname"].as_str()?;
                wanted.iter().any(|w| w == name).then(|| {
                    format!(
                        "{name}{{instance={:?}}}",
                        a["labels"]["instance"].as_str().unwrap_or("")
                    )
                })
            })
            .collect();
        f.evidence.push(Evidence::new(
            "GET /api/v1/alerts (firing)",
            if firing.is_empty() {
                "none".to_owned()
            } else {
                firing.join(" ")
            },
        ));
        if !firing.is_empty() {
            f.problems
                .push(format!("firing on this deployment: {}", firing.join(", ")));
        }
        f.finish(format!(
            "{} alerts loaded and healthy, none firing",
            wanted.len()
        ))
    }
}

#[cfg(test)]
mod tests;
