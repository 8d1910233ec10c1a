//! The human report: results grouped per node (then by area), the
//! deployment-wide checks after them, evidence and fix under each finding,
//! colour only on a terminal (and never with `NO_COLOR`).

use crate::check::{Severity, Status};
use crate::runner::{CheckResult, Report};
use std::fmt::Write;

/// Renders the report; `colour` adds ANSI colours.
pub fn render(report: &Report, colour: bool) -> String {
    let paint = |code: &str, text: &str| {
        if colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "verify {} against {}",
        env!("CARGO_PKG_VERSION"),
        report.target
    );
    if let Some(l) = &report.launched {
        let _ = writeln!(out, "launched: {l}");
    }
    let multi = report.nodes.len() > 1;
    if multi {
        let nodes: Vec<String> = report
            .nodes
            .iter()
            .map(|(n, role)| format!("{n} ({})", role_name(*role)))
            .collect();
        let _ = writeln!(out, "{} deployment: {}", report.topology, nodes.join(", "));
    }
    for note in &report.notes {
        let _ = writeln!(out, "{} {note}", paint("2", "note:"));
    }
    let mut groups: Vec<(Option<&str>, Vec<&CheckResult>)> = Vec::new();
    for r in &report.results {
        let key = r.node.as_deref();
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push(r),
            None => groups.push((key, vec![r])),
        }
    }
    // Nodes first, in the order they were found; deployment-wide last.
    groups.sort_by_key(|(k, _)| k.is_none());
    for (node, results) in groups {
        if multi {
            let heading = match node {
                Some(n) => {
                    let role = report
                        .nodes
                        .iter()
                        .find(|(l, _)| l == n)
                        .map(|(_, r)| role_name(*r))
                        .unwrap_or("node");
                    format!("node {n} ({role})")
                }
                None => "deployment".to_owned(),
            };
            let _ = writeln!(out, "\n{}", paint("1;4", &heading));
        }
        let mut area = None;
        for r in results {
            if area != Some(r.meta.area) {
                area = Some(r.meta.area);
                let _ = writeln!(out, "\n{}", paint("1", r.meta.area.as_str()));
            }
            render_result(&mut out, r, &paint);
        }
    }
    for d in &report.drills {
        render_drill(&mut out, d, &paint);
    }
    let mut blocking: Vec<String> = report
        .results
        .iter()
        .filter(|r| r.is_blocking())
        .map(|r| match (&r.node, multi) {
            (Some(n), true) => format!("{}@{n}", r.meta.id),
            _ => r.meta.id.to_owned(),
        })
        .collect();
    blocking.dedup();
    let _ = writeln!(out, "\n{}", report.summary_line());
    if !blocking.is_empty() {
        let _ = writeln!(out, "deny-level failures: {}", blocking.join(", "));
    }
    out
}

fn render_result(out: &mut String, r: &CheckResult, paint: &dyn Fn(&str, &str) -> String) {
    let label = match (r.outcome.status, r.severity) {
        (Status::Pass, _) => paint("32", "pass "),
        (Status::Fail, Severity::Deny) => paint("1;31", "FAIL "),
        (Status::Fail, _) => paint("33", "fail "),
        (Status::Warn, _) => paint("33", "warn "),
        (Status::Skip, _) => paint("2", "skip "),
        (Status::Error, _) => paint("1;35", "ERROR"),
    };
    let _ = writeln!(out, "  {label} {:<30} {}", r.meta.id, r.outcome.message);
    if r.outcome.status != Status::Pass && r.outcome.status != Status::Skip {
        for e in &r.outcome.evidence {
            let node = e
                .node
                .as_deref()
                .map(|n| format!("[{n}] "))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "          {} {node}{} => {}",
                paint("2", "evidence:"),
                e.command,
                e.observed
            );
        }
        let _ = writeln!(
            out,
            "          {} {}",
            paint("2", "fix:"),
            r.meta.remediation
        );
    }
}

fn render_drill(
    out: &mut String,
    d: &crate::drill::DrillResult,
    paint: &dyn Fn(&str, &str) -> String,
) {
    let label = match d.status {
        Status::Pass => paint("32", "pass "),
        Status::Fail => paint("1;31", "FAIL "),
        Status::Warn => paint("33", "warn "),
        Status::Skip => paint("2", "skip "),
        Status::Error => paint("1;35", "ERROR"),
    };
    let _ = writeln!(out, "\n{label} drill {:<28} {}", d.id, d.message);
    if matches!(d.status, Status::Skip | Status::Error) && d.writes.attempted == 0 {
        return;
    }
    let opt = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v} ms"));
    let _ = writeln!(
        out,
        "        writes: {} attempted, {} acked, {} failed, {} unknown",
        d.writes.attempted, d.writes.acked, d.writes.failed, d.writes.unknown
    );
    let _ = writeln!(
        out,
        "        lost {}, recovered {}, unexpected {}, duplicated {}, failed-but-present {}",
        d.lost, d.recovered, d.unexpected, d.duplicated, d.failed_present
    );
    let _ = writeln!(
        out,
        "        unavailable {}, promoted in {}, split brain {} ms, stale acks {}, loss window {}",
        opt(d.unavailability_ms),
        opt(d.promote_ms),
        d.split_brain_ms,
        d.stale_acked,
        opt(d.loss_window_ms)
    );
    if let Some(b) = &d.budget {
        let _ = writeln!(out, "        {} {}", paint("2", "budget:"), b.basis);
    }
    for e in d
        .timeline
        .iter()
        .filter(|e| e.event != "role" || e.detail.as_deref() == Some("master"))
    {
        if e.event.starts_with("+")
            && !matches!(
                e.event.as_str(),
                "+sdown"
                    | "+odown"
                    | "+try-failover"
                    | "+elected-leader"
                    | "+promoted-slave"
                    | "+switch-master"
                    | "+failover-end"
            )
        {
            continue;
        }
        let _ = writeln!(
            out,
            "        {} {:>7} ms {:<18} {} {}",
            paint("2", "t"),
            e.t_ms,
            e.event,
            e.node.as_deref().unwrap_or(""),
            e.detail.as_deref().unwrap_or("")
        );
    }
}

fn role_name(role: crate::fleet::Role) -> &'static str {
    match role {
        crate::fleet::Role::Standalone => "standalone",
        crate::fleet::Role::Primary => "primary",
        crate::fleet::Role::Replica => "replica",
        crate::fleet::Role::Sentinel => "sentinel",
        crate::fleet::Role::Unknown => "role unknown",
    }
}
