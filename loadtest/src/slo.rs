//! SLO gates: `--slo 'p99<2ms,errors<0.1%,over_admissions==0'`.
//!
//! A gate is `METRIC OP VALUE`, gates are separated by commas, and `none`
//! means no gate. Metrics:
//!
//! | metric | value | example |
//! | --- | --- | --- |
//! | `p50` `p90` `p99` `p999` `max` `mean`, optionally `[operation]` | latency over all operations, or one, in µs; the value takes `us`, `ms` or `s` (bare: µs) | `p99<2ms`, `p999[getset:GET]<5ms` |
//! | `errors` | with `%`: errors per operation in percent; without: a count | `errors<0.1%`, `errors==0` |
//! | `ops_per_sec` | throughput | `ops_per_sec>=50000` |
//! | `invariants` | the sum of every invariant's violations | `invariants==0` |
//! | an invariant name | its violations (see `loadtest workloads`) | `over_admissions==0` |
//!
//! Operators: `<`, `<=`, `>`, `>=`, `==`, `!=`. A latency gate with no
//! sample fails: nothing proves it holds.

use crate::duration::parse_micros;
use crate::invariants::Invariant;
use crate::summary::Summary;
use std::collections::BTreeMap;
use thiserror::Error;

/// A gate that does not parse.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SloError {
    /// No comparison operator.
    #[error("SLO gate `{0}` has no comparison: write it like p99<2ms or errors<0.1%")]
    NoOperator(String),
    /// Unknown metric.
    #[error("SLO gate `{gate}`: unknown metric `{metric}`; use p50, p90, p99, p999, max, mean, errors, ops_per_sec, invariants or one of: {known}")]
    UnknownMetric {
        /// The gate.
        gate: String,
        /// The metric name.
        metric: String,
        /// The invariant names.
        known: String,
    },
    /// The value does not parse.
    #[error("SLO gate `{gate}`: `{value}` is not a {expected}")]
    BadValue {
        /// The gate.
        gate: String,
        /// The value text.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
}

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl Cmp {
    fn holds(self, value: f64, limit: f64) -> bool {
        match self {
            Self::Lt => value < limit,
            Self::Le => value <= limit,
            Self::Gt => value > limit,
            Self::Ge => value >= limit,
            Self::Eq => value == limit,
            Self::Ne => value != limit,
        }
    }
}

/// Which latency statistic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stat {
    /// A quantile (0..=1).
    Quantile(u32),
    /// The largest sample.
    Max,
    /// The mean.
    Mean,
}

/// What a gate measures.
#[derive(Clone, Debug, PartialEq)]
pub enum Metric {
    /// A latency statistic, over all operations or one.
    Latency {
        /// Which statistic.
        stat: Stat,
        /// One operation, or all when `None`.
        op: Option<String>,
    },
    /// Errors in percent of operations.
    ErrorRate,
    /// Errors as a count.
    Errors,
    /// Operations per second.
    OpsPerSec,
    /// Sum of all invariant violations.
    Invariants,
    /// One invariant's violations.
    Invariant(Invariant),
}

/// One parsed gate.
#[derive(Clone, Debug, PartialEq)]
pub struct Gate {
    /// The gate as written (whitespace removed); the key in the summary.
    pub text: String,
    /// What it measures.
    pub metric: Metric,
    /// How it compares.
    pub cmp: Cmp,
    /// The limit, in the metric's unit (µs, %, count, ops/s).
    pub limit: f64,
}

pub use crate::summary::GateResult;

/// Parses a gate list.
pub fn parse(spec: &str) -> Result<Vec<Gate>, SloError> {
    let spec = spec.trim();
    if spec.is_empty() || spec.eq_ignore_ascii_case("none") {
        return Ok(Vec::new());
    }
    spec.split(',')
        .filter(|g| !g.trim().is_empty())
        .map(parse_gate)
        .collect()
}

fn parse_gate(raw: &str) -> Result<Gate, SloError> {
    let text: String = raw.chars().filter(|c| !c.is_whitespace()).collect();
    let ops = [
        ("<=", Cmp::Le),
        (">=", Cmp::Ge),
        ("==", Cmp::Eq),
        ("!=", Cmp::Ne),
        ("<", Cmp::Lt),
        (">", Cmp::Gt),
    ];
    let (pos, len, cmp) = ops
        .iter()
        .filter_map(|(s, c)| text.find(s).map(|p| (p, s.len(), *c)))
        .min_by_key(|(p, l, _)| (*p, usize::MAX - l))
        .ok_or_else(|| SloError::NoOperator(text.clone()))?;
    let lhs = &text[..pos];
    let rhs = &text[pos + len..];
    if rhs.starts_with(['<', '>', '=', '!']) {
        return Err(SloError::NoOperator(text.clone()));
    }
    let bad = |expected| SloError::BadValue {
        gate: text.clone(),
        value: rhs.to_owned(),
        expected,
    };
    let number = |s: &str| s.parse::<f64>().ok().filter(|f| f.is_finite() && *f >= 0.0);
    let (name, op) = match lhs.split_once('[') {
        Some((n, rest)) if rest.ends_with(']') => (n, Some(rest.trim_end_matches(']').to_owned())),
        _ => (lhs, None),
    };
    let stat = match name {
        "p50" => Some(Stat::Quantile(500)),
        "p90" => Some(Stat::Quantile(900)),
        "p95" => Some(Stat::Quantile(950)),
        "p99" => Some(Stat::Quantile(990)),
        "p999" | "p99.9" => Some(Stat::Quantile(999)),
        "max" => Some(Stat::Max),
        "mean" => Some(Stat::Mean),
        _ => None,
    };
    let (metric, limit) = if let Some(stat) = stat {
        let limit = parse_micros(rhs, 1.0).map_err(|_| bad("duration such as 2ms or 500us"))?;
        (Metric::Latency { stat, op }, limit)
    } else if op.is_some() {
        return Err(unknown(&text, lhs));
    } else {
        match name {
            "errors" => match rhs.strip_suffix('%') {
                Some(p) => (
                    Metric::ErrorRate,
                    number(p).ok_or_else(|| bad("percentage such as 0.1%"))?,
                ),
                None => (
                    Metric::Errors,
                    number(rhs).ok_or_else(|| bad("count or a percentage"))?,
                ),
            },
            "ops_per_sec" | "throughput" => {
                (Metric::OpsPerSec, number(rhs).ok_or_else(|| bad("number"))?)
            }
            "invariants" => (Metric::Invariants, number(rhs).ok_or_else(|| bad("count"))?),
            n => match Invariant::from_name(n) {
                Some(inv) => (
                    Metric::Invariant(inv),
                    number(rhs).ok_or_else(|| bad("count"))?,
                ),
                None => return Err(unknown(&text, name)),
            },
        }
    };
    Ok(Gate {
        text,
        metric,
        cmp,
        limit,
    })
}

fn unknown(gate: &str, metric: &str) -> SloError {
    SloError::UnknownMetric {
        gate: gate.to_owned(),
        metric: metric.to_owned(),
        known: Invariant::names(),
    }
}

/// Evaluates every gate against a summary.
pub fn evaluate(gates: &[Gate], summary: &Summary) -> BTreeMap<String, GateResult> {
    gates
        .iter()
        .map(|g| {
            let (value, unit) = measure(&g.metric, summary);
            let pass = value.is_some_and(|v| g.cmp.holds(v, g.limit));
            (
                g.text.clone(),
                GateResult {
                    value,
                    limit: g.limit,
                    unit: unit.to_owned(),
                    pass,
                },
            )
        })
        .collect()
}

fn measure(metric: &Metric, s: &Summary) -> (Option<f64>, &'static str) {
    match metric {
        Metric::Latency { stat, op } => {
            let hist = match op {
                Some(op) => s.operations.get(op).and_then(|o| o.decode().ok()),
                None => s.combined_histogram().ok(),
            };
            let value = hist.filter(|h| !h.is_empty()).map(|h| match stat {
                Stat::Quantile(q) => h.value_at_quantile(f64::from(*q) / 1000.0) as f64,
                Stat::Max => h.max() as f64,
                Stat::Mean => h.mean(),
            });
            (value, "us")
        }
        Metric::ErrorRate => {
            let rate = if s.ops_total == 0 {
                0.0
            } else {
                s.errors_total as f64 * 100.0 / s.ops_total as f64
            };
            (Some(rate), "%")
        }
        Metric::Errors => (Some(s.errors_total as f64), "count"),
        Metric::OpsPerSec => (Some(s.ops_per_sec), "ops/s"),
        Metric::Invariants => (Some(s.invariants.values().sum::<u64>() as f64), "count"),
        Metric::Invariant(inv) => (
            Some(s.invariants.get(inv.name()).copied().unwrap_or(0) as f64),
            "count",
        ),
    }
}

/// True when every gate passed.
pub fn all_pass(results: &BTreeMap<String, GateResult>) -> bool {
    results.values().all(|r| r.pass)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::tests::summary_with;

    #[test]
    fn parses_the_documented_example() {
        let gates = parse("p99<2ms, errors<0.1%, over_admissions==0").unwrap();
        assert_eq!(gates.len(), 3);
        assert_eq!(
            gates[0].metric,
            Metric::Latency {
                stat: Stat::Quantile(990),
                op: None
            }
        );
        assert_eq!((gates[0].cmp, gates[0].limit), (Cmp::Lt, 2000.0));
        assert_eq!(
            (gates[1].metric.clone(), gates[1].limit),
            (Metric::ErrorRate, 0.1)
        );
        assert_eq!(
            gates[2].metric,
            Metric::Invariant(Invariant::OverAdmissions)
        );
        assert_eq!(gates[2].cmp, Cmp::Eq);
        assert_eq!(gates[0].text, "p99<2ms");
    }

    #[test]
    fn parses_operators_units_and_operations() {
        let g = parse("p999[getset:GET]<=500us,max>=1s,errors!=3,ops_per_sec>1000,invariants==0")
            .unwrap();
        assert_eq!(
            g[0].metric,
            Metric::Latency {
                stat: Stat::Quantile(999),
                op: Some("getset:GET".into())
            }
        );
        assert_eq!((g[0].cmp, g[0].limit), (Cmp::Le, 500.0));
        assert_eq!((g[1].cmp, g[1].limit), (Cmp::Ge, 1_000_000.0));
        assert_eq!((g[2].metric.clone(), g[2].cmp), (Metric::Errors, Cmp::Ne));
        assert_eq!(g[3].metric, Metric::OpsPerSec);
        assert_eq!(g[4].metric, Metric::Invariants);
        assert!(parse("none").unwrap().is_empty());
    }

    #[test]
    fn rejects_bad_gates() {
        assert!(matches!(parse("p99 2ms"), Err(SloError::NoOperator(_))));
        assert!(matches!(parse("p99<<2ms"), Err(SloError::NoOperator(_))));
        assert!(matches!(
            parse("p42<2ms"),
            Err(SloError::UnknownMetric { .. })
        ));
        assert!(matches!(parse("p99<soon"), Err(SloError::BadValue { .. })));
        assert!(matches!(
            parse("errors<lots%"),
            Err(SloError::BadValue { .. })
        ));
        assert!(matches!(
            parse("double_holds<-1"),
            Err(SloError::BadValue { .. })
        ));
        assert!(matches!(
            parse("errors[x]<1"),
            Err(SloError::UnknownMetric { .. })
        ));
    }

    #[test]
    fn gates_pass_and_fail() {
        // 1000 samples of 100 µs and 10 of 5000 µs: p99 is 100 µs, p999 5 ms.
        let mut samples = vec![100u64; 1000];
        samples.extend([5000; 10]);
        let s = summary_with(&samples, 1, &[("over_admissions", 0), ("double_holds", 2)]);
        let r = evaluate(&parse("p99<2ms,p999<2ms,errors<0.1%,errors<=1,over_admissions==0,double_holds==0,invariants<5").unwrap(), &s);
        let pass = |k: &str| r[k].pass;
        assert!(pass("p99<2ms"));
        assert!(!pass("p999<2ms"));
        assert_eq!(
            r["p999<2ms"].value,
            Some(5000.0)
                .map(|v: f64| s.combined_histogram().unwrap().highest_equivalent(v as u64) as f64)
        );
        assert!(pass("errors<0.1%"), "1 error in 1011 ops is 0.099%");
        assert!(pass("errors<=1"));
        assert!(pass("over_admissions==0"));
        assert!(!pass("double_holds==0"));
        assert!(pass("invariants<5"));
        assert!(!all_pass(&r));
    }

    #[test]
    fn latency_gate_without_samples_fails() {
        let s = summary_with(&[], 0, &[]);
        let r = evaluate(&parse("p99<2ms,errors<1%").unwrap(), &s);
        assert_eq!(r["p99<2ms"].value, None);
        assert!(!r["p99<2ms"].pass);
        assert!(r["errors<1%"].pass);
    }
}
