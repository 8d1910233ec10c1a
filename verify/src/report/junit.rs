//! JUnit XML: one test case per check, grouped by area, for CI test tabs.
//! Deny-level and warn-level failures are both `<failure>`; the severity is
//! in the message so a CI can tell them apart.

use crate::check::Status;
use crate::runner::Report;
use std::fmt::Write;

/// Escapes text for XML attributes and content.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// Renders the report as JUnit XML.
pub fn render(report: &Report) -> String {
    let s = report.summary();
    let total = report.results.len() + report.drills.len();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"verify\" tests=\"{total}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">",
        s.fail, s.error, s.skip
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{total}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">",
        escape(&report.target),
        s.fail,
        s.error,
        s.skip
    );
    for r in &report.results {
        let details: String = r
            .outcome
            .evidence
            .iter()
            .map(|e| match &e.node {
                Some(n) => format!("[{n}] {} => {}\n", e.command, e.observed),
                None => format!("{} => {}\n", e.command, e.observed),
            })
            .collect();
        // One test case per check and node: `id@node` keeps names unique
        // on multi-node deployments.
        let name = match &r.node {
            Some(n) if report.nodes.len() > 1 => format!("{}@{n}", r.meta.id),
            _ => r.meta.id.to_owned(),
        };
        let _ = write!(
            out,
            "    <testcase classname=\"verify.{}\" name=\"{}\" time=\"{:.3}\">",
            r.meta.area.as_str(),
            escape(&name),
            r.elapsed.as_secs_f64()
        );
        let msg = escape(&format!("[{}] {}", r.severity.as_str(), r.outcome.message));
        match r.outcome.status {
            Status::Pass => {}
            Status::Warn => {
                let _ = write!(
                    out,
                    "<system-out>{}</system-out>",
                    escape(&format!("warning: {}\n{details}", r.outcome.message))
                );
            }
            Status::Fail => {
                let _ = write!(
                    out,
                    "<failure message=\"{msg}\" type=\"{}\">{}</failure>",
                    r.severity.as_str(),
                    escape(&format!("{details}fix: {}", r.meta.remediation))
                );
            }
            Status::Skip => {
                let _ = write!(out, "<skipped message=\"{}\"/>", escape(&r.outcome.message));
            }
            Status::Error => {
                let _ = write!(out, "<error message=\"{msg}\">{}</error>", escape(&details));
            }
        }
        out.push_str("</testcase>\n");
    }
    for d in &report.drills {
        let _ = write!(
            out,
            "    <testcase classname=\"verify.drill\" name=\"{}\" time=\"{:.3}\">",
            escape(d.id),
            d.elapsed_ms as f64 / 1000.0
        );
        let numbers = format!(
            "writes {} attempted, {} acked, {} failed, {} unknown; lost {}, recovered {}; unavailability_ms {:?}, promote_ms {:?}, split_brain_ms {}",
            d.writes.attempted, d.writes.acked, d.writes.failed, d.writes.unknown,
            d.lost, d.recovered, d.unavailability_ms, d.promote_ms, d.split_brain_ms
        );
        match d.status {
            Status::Pass | Status::Warn => {
                let _ = write!(out, "<system-out>{}</system-out>", escape(&numbers));
            }
            Status::Fail => {
                let _ = write!(
                    out,
                    "<failure message=\"{}\" type=\"drill\">{}</failure>",
                    escape(&d.message),
                    escape(&numbers)
                );
            }
            Status::Skip => {
                let _ = write!(out, "<skipped message=\"{}\"/>", escape(&d.message));
            }
            Status::Error => {
                let _ = write!(out, "<error message=\"{}\"/>", escape(&d.message));
            }
        }
        out.push_str("</testcase>\n");
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
