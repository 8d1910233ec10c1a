//! SARIF 2.1.0 for code-scanning dashboards.
//!
//! One rule per check id in the registry (title, why it matters, the fix,
//! a link to its section of docs/checks.md, the default severity as the
//! rule's level), and one result per check run and per drill. SARIF has no
//! notion of "could not evaluate" or "skipped", so the status maps onto
//! `kind` and only failures and warnings carry a level:
//!
//! | status | kind            | level                                   |
//! |--------|-----------------|-----------------------------------------|
//! | fail   | `fail`          | `error` (deny), `warning` (warn), `note` |
//! | warn   | `fail`          | `warning`                               |
//! | pass   | `pass`          | `none`                                  |
//! | skip   | `notApplicable` | `none`                                  |
//! | error  | `open`          | `none`, plus a tool notification        |
//!
//! A deployment has no source file, so each result's location is logical:
//! the node it concerns (or the deployment) under the redacted target.

use crate::check::{Check, Severity, Status};
use crate::runner::Report;
use serde_json::{json, Value};

/// The schema URI written into every log (the OASIS errata01 schema the
/// test validates against).
pub const SCHEMA_URI: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

fn rule_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Deny => "error",
        Severity::Warn => "warning",
        Severity::Allow => "note",
    }
}

/// SARIF `kind` and `level` of one result.
fn kind_and_level(status: Status, severity: Severity) -> (&'static str, &'static str) {
    match status {
        Status::Fail => ("fail", rule_level(severity)),
        Status::Warn => ("fail", "warning"),
        Status::Pass => ("pass", "none"),
        Status::Skip => ("notApplicable", "none"),
        Status::Error => ("open", "none"),
    }
}

/// The docs anchor of a check id, as docs/checks.md writes it.
fn help_uri(id: &str) -> String {
    format!(
        "{}/blob/main/docs/checks.md#{}",
        env!("CARGO_PKG_REPOSITORY"),
        id.replace('.', "")
    )
}

fn rule(check: &dyn Check) -> Value {
    let m = check.meta();
    json!({
        "id": m.id,
        "name": m.id,
        "shortDescription": { "text": m.title },
        "fullDescription": { "text": m.why },
        "help": {
            "text": format!("Fix: {}", m.remediation),
            "markdown": format!("**Why it matters.** {}\n\n**Fix.** {}", m.why, m.remediation),
        },
        "helpUri": help_uri(m.id),
        "defaultConfiguration": {
            "level": rule_level(m.severity),
            "enabled": m.severity != Severity::Allow,
        },
        "properties": {
            "area": m.area.as_str(),
            "scope": match m.scope {
                crate::check::Scope::Node => "node",
                crate::check::Scope::Deployment => "deployment",
            },
            "applies": m.applies.names(),
            "tags": ["redis", m.area.as_str()],
        },
    })
}

fn location(target: &str, node: Option<&str>) -> Value {
    let (name, kind) = match node {
        Some(n) => (n, "resource"),
        None => ("deployment", "module"),
    };
    json!([{
        "logicalLocations": [{
            "name": name,
            "fullyQualifiedName": format!("{target}#{name}"),
            "kind": kind,
        }],
    }])
}

fn evidence_text(evidence: &[crate::check::Evidence]) -> Vec<Value> {
    evidence
        .iter()
        .map(|e| {
            json!(match &e.node {
                Some(n) => format!("[{n}] {} => {}", e.command, e.observed),
                None => format!("{} => {}", e.command, e.observed),
            })
        })
        .collect()
}

/// Renders the report as a SARIF 2.1.0 log.
pub fn render(report: &Report) -> String {
    render_with(report, crate::checks::REGISTRY)
}

/// Renders against an explicit registry (tests).
pub fn render_with(report: &Report, registry: &[&dyn Check]) -> String {
    let mut rules: Vec<Value> = registry.iter().map(|c| rule(*c)).collect();
    let mut ids: Vec<&str> = registry.iter().map(|c| c.meta().id).collect();
    let mut notifications = Vec::new();
    let mut results = Vec::new();
    for r in &report.results {
        let index = ids.iter().position(|id| *id == r.meta.id);
        let index = match index {
            Some(i) => i,
            // A check outside the registry (only in tests) still gets a rule.
            None => {
                ids.push(r.meta.id);
                rules.push(json!({"id": r.meta.id, "shortDescription": {"text": r.meta.title}}));
                ids.len() - 1
            }
        };
        let (kind, level) = kind_and_level(r.outcome.status, r.severity);
        if r.outcome.status == Status::Error {
            notifications.push(json!({
                "level": "error",
                "message": { "text": format!("{}: {}", r.meta.id, r.outcome.message) },
                "associatedRule": { "id": r.meta.id, "index": index },
            }));
        }
        results.push(json!({
            "ruleId": r.meta.id,
            "ruleIndex": index,
            "kind": kind,
            "level": level,
            "message": { "text": r.outcome.message },
            "locations": location(&report.target, r.node.as_deref()),
            "properties": {
                "status": r.outcome.status.as_str(),
                "severity": r.severity.as_str(),
                "evidence": evidence_text(&r.outcome.evidence),
                "elapsedMs": r.elapsed.as_millis() as u64,
            },
        }));
    }
    for d in &report.drills {
        let index = match ids.iter().position(|id| *id == d.id) {
            Some(i) => i,
            None => {
                ids.push(d.id);
                rules.push(json!({
                    "id": d.id,
                    "name": d.id,
                    "shortDescription": { "text": d.title },
                    "helpUri": format!("{}/blob/main/README.md#drills", env!("CARGO_PKG_REPOSITORY")),
                    "defaultConfiguration": { "level": "error" },
                    "properties": { "area": "drill", "tags": ["redis", "drill"] },
                }));
                ids.len() - 1
            }
        };
        // A drill has no severity: a failure means the budget was broken.
        let (kind, level) = kind_and_level(d.status, Severity::Deny);
        results.push(json!({
            "ruleId": d.id,
            "ruleIndex": index,
            "kind": kind,
            "level": level,
            "message": { "text": d.message },
            "locations": location(&report.target, None),
            "properties": {
                "status": d.status.as_str(),
                "lost": d.lost,
                "writes": {
                    "attempted": d.writes.attempted,
                    "acked": d.writes.acked,
                    "failed": d.writes.failed,
                    "unknown": d.writes.unknown,
                },
                "unavailabilityMs": d.unavailability_ms,
                "elapsedMs": d.elapsed_ms,
            },
        }));
    }
    let exit_code = report.exit_code();
    let log = json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "verify",
                    "fullName": "redis-readiness verify",
                    "version": env!("CARGO_PKG_VERSION"),
                    "semanticVersion": env!("CARGO_PKG_VERSION"),
                    "informationUri": env!("CARGO_PKG_REPOSITORY"),
                    "rules": rules,
                },
            },
            "invocations": [{
                "executionSuccessful": exit_code != crate::exit::ERROR,
                "exitCode": exit_code,
                "toolExecutionNotifications": notifications,
            }],
            "properties": {
                "target": report.target,
                "topology": report.topology,
                "summary": report.summary_line(),
            },
            "results": results,
        }],
    });
    // Serializing a `Value` cannot fail.
    serde_json::to_string_pretty(&log).unwrap_or_default() + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{Evidence, Outcome};
    use crate::runner::CheckResult;
    use std::time::Duration;

    fn meta(id: &str) -> &'static crate::check::CheckMeta {
        crate::checks::REGISTRY
            .iter()
            .map(|c| c.meta())
            .find(|m| m.id == id)
            .unwrap()
    }

    fn result(status: Status, severity: Severity, node: Option<&str>) -> CheckResult {
        let message = format!("{} here", status.as_str());
        let outcome = match status {
            Status::Pass => Outcome::pass(message),
            Status::Fail => Outcome::fail(message),
            Status::Warn => Outcome::warn(message),
            Status::Skip => Outcome::skip(message),
            Status::Error => Outcome::error(message),
        };
        CheckResult {
            meta: meta("auth.required"),
            severity,
            node: node.map(str::to_owned),
            outcome: outcome.with(vec![Evidence::new("CONFIG GET requirepass", "\"\"")]),
            elapsed: Duration::from_millis(3),
        }
    }

    fn report(results: Vec<CheckResult>) -> Report {
        Report {
            target: "redis://app:***@10.0.0.1:6379".into(),
            launched: None,
            topology: "standalone",
            nodes: vec![],
            notes: vec![],
            settings: Default::default(),
            results,
            drills: vec![],
        }
    }

    #[test]
    fn every_registry_check_is_a_rule_with_its_docs_text() {
        let log: Value = serde_json::from_str(&render(&report(vec![]))).unwrap();
        let rules = log["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap();
        assert_eq!(rules.len(), crate::checks::REGISTRY.len());
        for (rule, check) in rules.iter().zip(crate::checks::REGISTRY) {
            let m = check.meta();
            assert_eq!(rule["id"], m.id);
            assert_eq!(rule["fullDescription"]["text"], m.why);
            assert!(rule["help"]["text"]
                .as_str()
                .unwrap()
                .contains(m.remediation));
            assert_eq!(
                rule["defaultConfiguration"]["level"],
                rule_level(m.severity)
            );
        }
        assert_eq!(log["version"], "2.1.0");
    }

    #[test]
    fn levels_follow_status_and_effective_severity() {
        let log: Value = serde_json::from_str(&render(&report(vec![
            result(Status::Fail, Severity::Deny, Some("n1")),
            result(Status::Fail, Severity::Warn, Some("n2")),
            result(Status::Warn, Severity::Deny, None),
            result(Status::Pass, Severity::Deny, None),
            result(Status::Skip, Severity::Deny, None),
            result(Status::Error, Severity::Deny, None),
        ])))
        .unwrap();
        let run = &log["runs"][0];
        let got: Vec<(String, String)> = run["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["kind"].as_str().unwrap().to_owned(),
                    r["level"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let want = [
            ("fail", "error"),
            ("fail", "warning"),
            ("fail", "warning"),
            ("pass", "none"),
            ("notApplicable", "none"),
            ("open", "none"),
        ];
        assert_eq!(
            got,
            want.iter()
                .map(|(k, l)| ((*k).to_owned(), (*l).to_owned()))
                .collect::<Vec<_>>()
        );
        let first = &run["results"][0];
        let index = first["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(run["tool"]["driver"]["rules"][index]["id"], "auth.required");
        assert_eq!(first["locations"][0]["logicalLocations"][0]["name"], "n1");
        assert_eq!(
            first["properties"]["evidence"][0],
            "CONFIG GET requirepass => \"\""
        );
        // The error is also a tool notification, and the run is unsuccessful
        // only when the exit code says so (here a deny failure wins: exit 1).
        let inv = &run["invocations"][0];
        assert_eq!(
            inv["toolExecutionNotifications"].as_array().unwrap().len(),
            1
        );
        assert_eq!(inv["exitCode"], 1);
        assert_eq!(inv["executionSuccessful"], true);
    }
}
