//! The human report: checks grouped by area, evidence and fix under each
//! finding, colour only on a terminal (and never with `NO_COLOR`).

use crate::check::{Severity, Status};
use crate::runner::Report;
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
    let mut area = None;
    for r in &report.results {
        if area != Some(r.meta.area) {
            area = Some(r.meta.area);
            let _ = writeln!(out, "\n{}", paint("1", r.meta.area.as_str()));
        }
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
                let _ = writeln!(
                    out,
                    "          {} {} => {}",
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
    let blocking: Vec<&str> = report
        .results
        .iter()
        .filter(|r| r.is_blocking())
        .map(|r| r.meta.id)
        .collect();
    let _ = writeln!(out, "\n{}", report.summary_line());
    if !blocking.is_empty() {
        let _ = writeln!(out, "deny-level failures: {}", blocking.join(", "));
    }
    out
}
