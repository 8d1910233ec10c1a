//! The human summary printed at the end of a run (and of a merge): one
//! table in µs, then the invariant and SLO lines. In an open-loop run the
//! table's latencies count from each request's intended start, and a
//! second block gives the service times (from the actual send) beside
//! them, so a stall shows as the gap between the two.

use crate::summary::{Percentiles, Summary};
use std::fmt::Write;

/// Renders a summary as a table.
pub fn render(s: &Summary) -> String {
    let mut out = String::new();
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "loadtest: {} | {} users | {:.1} s | {}{}",
        s.workload,
        s.users,
        s.duration_s,
        s.target,
        if s.merged_from > 1 {
            format!(" | {} runs merged", s.merged_from)
        } else {
            String::new()
        }
    );
    let width = s
        .operations
        .keys()
        .map(String::len)
        .max()
        .unwrap_or(0)
        .max(9);
    let _ = writeln!(
        out,
        "{:width$}  {:>10}  {:>7}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8}",
        "operation", "count", "errors", "ops/s", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "max µs"
    );
    let rate = |count: u64| {
        if s.duration_s > 0.0 {
            count as f64 / s.duration_s
        } else {
            0.0
        }
    };
    let row = |out: &mut String,
               name: &str,
               count: u64,
               errors: u64,
               p: &Percentiles,
               ops_s: f64| {
        let _ = writeln!(
            out,
            "{name:width$}  {count:>10}  {errors:>7}  {ops_s:>8.0}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8}",
            p.p50, p.p90, p.p99, p.p999, p.max
        );
    };
    let open = s.is_open_loop();
    if open {
        let _ = writeln!(out, "latency from the intended start (open loop):");
    }
    for (name, op) in &s.operations {
        row(
            &mut out,
            name,
            op.count,
            op.errors,
            &op.latency_us,
            rate(op.count),
        );
    }
    row(
        &mut out,
        "all",
        s.ops_total,
        s.errors_total,
        &s.latency_us,
        s.ops_per_sec,
    );
    if open {
        let _ = writeln!(out, "service time from the actual send:");
        for (name, op) in &s.operations {
            row(
                &mut out,
                name,
                op.count,
                op.errors,
                op.service(),
                rate(op.count),
            );
        }
        row(
            &mut out,
            "all",
            s.ops_total,
            s.errors_total,
            &s.service_time_us,
            s.ops_per_sec,
        );
        let share = if s.ops_total > 0 {
            100.0 * s.late_ops as f64 / s.ops_total as f64
        } else {
            0.0
        };
        let _ = writeln!(
            out,
            "late operations (started > 1 ms after their intended start): {} ({share:.2} % of operations)",
            s.late_ops
        );
    }
    if !s.invariants.is_empty() {
        let list: Vec<String> = s
            .invariants
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(out, "invariant violations: {}", list.join(", "));
    }
    if !s.stats.is_empty() {
        let list: Vec<String> = s
            .stats
            .iter()
            .map(|(k, v)| {
                if k.ends_with("_ratio") {
                    format!("{k} {v:.3}")
                } else {
                    format!("{k} {v:.0}")
                }
            })
            .collect();
        let _ = writeln!(out, "stats: {}", list.join(", "));
    }
    let o = &s.overhead;
    let _ = writeln!(
        out,
        "client CPU per operation: {:.1} µs (user {:.1}, system {:.1}); recording: Goose {:.0} ns, HDR {:.0} ns",
        o.cpu_us_per_op(),
        o.cpu_user_us_per_op,
        o.cpu_sys_us_per_op,
        o.goose_record_ns_per_op,
        o.hdr_record_ns_per_op
    );
    if s.slo.is_empty() {
        let _ = writeln!(out, "SLO: no gate");
    }
    for (gate, r) in &s.slo {
        let value = r
            .value
            .map_or_else(|| "no data".to_owned(), |v| format!("{v:.3} {}", r.unit));
        let _ = writeln!(
            out,
            "SLO {gate}: {value} -> {}",
            if r.pass { "PASS" } else { "FAIL" }
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::tests::summary_with;

    #[test]
    fn renders_operations_invariants_and_gates() {
        let mut s = summary_with(&[100, 200, 300], 1, &[("over_admissions", 0)]);
        s.slo = crate::slo::evaluate(&crate::slo::parse("p99<2ms").unwrap(), &s);
        let text = render(&s);
        assert!(text.contains("getset:GET"));
        assert!(text.contains("over_admissions 0"));
        assert!(text.contains("SLO p99<2ms: 300.000 us -> PASS"), "{text}");
        assert!(!text.contains("service time"), "closed loop: one block");
        assert_eq!(text.matches("operation ").count(), 1, "one table: {text}");
    }

    #[test]
    fn open_loop_shows_service_time_and_late_operations() {
        use crate::summary::{new_histogram, OpSummary};
        let mut s = summary_with(&[1], 0, &[]);
        let (mut lat, mut svc) = (new_histogram(), new_histogram());
        for v in [100, 300_000] {
            lat.record(v).unwrap();
        }
        for v in [100, 120] {
            svc.record(v).unwrap();
        }
        s.operations
            .insert("getset:GET".into(), OpSummary::new(&lat, Some(&svc), 0));
        s.late_ops = 1;
        s.refresh_totals().unwrap();
        let text = render(&s);
        assert!(text.contains("latency from the intended start"), "{text}");
        assert!(text.contains("service time from the actual send"), "{text}");
        assert!(text.contains("late operations"), "{text}");
        assert!(text.contains("(50.00 % of operations)"), "{text}");
    }
}
