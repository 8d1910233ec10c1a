//! The versioned summary a run writes with `--summary-json`.
//!
//! It carries every operation's full HDR histogram (V2 deflate, base64), so
//! summaries from several loadtest processes merge exactly: histograms are
//! added, never percentiles averaged. Field meanings:
//!
//! - `schema_version`: bumped on any incompatible change ([`SCHEMA_VERSION`]).
//! - `workload`: the `--workload` spec; `target`: the URL, password redacted.
//! - `users`: Goose users that ran; `duration_s`: wall time from the first
//!   user's start to the end of the run (for a merge: the longest part).
//! - `ops_total`: Redis round trips, failed ones included; `errors_total`:
//!   the failed ones; `ops_per_sec`: `ops_total / duration_s` (for a merge:
//!   the sum of the parts, which ran side by side).
//! - `latency_us`: percentiles over every successful operation;
//!   `operations`: per operation count, errors, percentiles and histogram.
//! - `invariants`: violations per invariant; `slo`: each gate's value, limit
//!   and outcome; `stats`: workload figures that are not gates (cache hit
//!   ratio, lock takeovers, …); `overhead`: what recording costs per
//!   operation; `settings`: the parameters of the run.

use crate::slo::GateResult;
use base64::Engine;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use thiserror::Error;

/// Version of the summary layout.
pub const SCHEMA_VERSION: u32 = 1;

/// Significant figures every histogram keeps (0.1 % resolution).
pub const SIGFIG: u8 = 3;

/// A new, auto-resizing latency histogram in µs.
#[expect(
    clippy::expect_used,
    reason = "3 significant figures is always a valid setting"
)]
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new(SIGFIG).expect("sigfig 3 is valid")
}

/// Errors reading or combining summaries.
#[derive(Debug, Error)]
pub enum SummaryError {
    /// The base64 text is not valid.
    #[error("failed to decode histogram of `{op}`: {detail}")]
    Decode {
        /// The operation.
        op: String,
        /// What went wrong.
        detail: String,
    },
    /// Two histograms could not be added.
    #[error("failed to add histograms of `{op}`: {detail}")]
    Add {
        /// The operation.
        op: String,
        /// What went wrong.
        detail: String,
    },
}

/// Latency percentiles in µs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest sample.
    pub max: u64,
    /// Mean.
    pub mean: f64,
}

impl Percentiles {
    /// Reads the percentiles of a histogram (all zero when empty).
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: (h.mean() * 10.0).round() / 10.0,
        }
    }
}

/// One operation's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpSummary {
    /// Round trips, failed ones included.
    pub count: u64,
    /// Failed round trips (not in the histogram).
    pub errors: u64,
    /// Percentiles of the successful round trips.
    pub latency_us: Percentiles,
    /// The full histogram: HDR V2 deflate, base64 (standard alphabet).
    pub histogram: String,
}

impl OpSummary {
    /// Builds from a histogram of successes and an error count.
    pub fn new(h: &Histogram<u64>, errors: u64) -> Self {
        Self {
            count: h.len() + errors,
            errors,
            latency_us: Percentiles::of(h),
            histogram: encode(h),
        }
    }

    /// The histogram back.
    pub fn decode(&self) -> Result<Histogram<u64>, SummaryError> {
        decode(&self.histogram).map_err(|detail| SummaryError::Decode {
            op: String::new(),
            detail,
        })
    }
}

/// What recording costs, measured during the run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Overhead {
    /// Mean nanoseconds per operation spent in Goose's
    /// `record_custom_request_duration`.
    pub goose_record_ns_per_op: f64,
    /// Mean nanoseconds per operation spent timing and buffering it for the
    /// HDR histograms.
    pub hdr_record_ns_per_op: f64,
}

/// Just the version, read before the rest so an old or future file fails
/// with a clear message instead of a missing-field error.
#[derive(Deserialize)]
pub struct SchemaCheck {
    /// [`SCHEMA_VERSION`] of the file.
    pub schema_version: u32,
}

/// The summary of one run, or of several merged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// `loadtest <version>`.
    pub tool: String,
    /// The `--workload` spec.
    pub workload: String,
    /// Where the load went, password redacted.
    pub target: String,
    /// Goose users that ran.
    pub users: u64,
    /// Seconds from the first user's start to the end.
    pub duration_s: f64,
    /// Redis round trips, failed ones included.
    pub ops_total: u64,
    /// Round trips per second.
    pub ops_per_sec: f64,
    /// Failed round trips.
    pub errors_total: u64,
    /// Percentiles over every successful operation.
    pub latency_us: Percentiles,
    /// Per operation.
    pub operations: BTreeMap<String, OpSummary>,
    /// Violations per invariant.
    pub invariants: BTreeMap<String, u64>,
    /// Each gate's outcome.
    pub slo: BTreeMap<String, GateResult>,
    /// The gate spec the run was judged by.
    pub slo_spec: String,
    /// Workload figures that are not gates.
    pub stats: BTreeMap<String, f64>,
    /// Measured recording cost.
    pub overhead: Overhead,
    /// Parameters of the run.
    pub settings: BTreeMap<String, serde_json::Value>,
    /// How many runs this summary combines.
    pub merged_from: u32,
}

impl Summary {
    /// All operations' histograms added together.
    pub fn combined_histogram(&self) -> Result<Histogram<u64>, SummaryError> {
        let mut all = new_histogram();
        for (op, s) in &self.operations {
            let h = decode(&s.histogram).map_err(|detail| SummaryError::Decode {
                op: op.clone(),
                detail,
            })?;
            all.add(&h).map_err(|e| SummaryError::Add {
                op: op.clone(),
                detail: format!("{e:?}"),
            })?;
        }
        Ok(all)
    }

    /// Recomputes the totals and overall percentiles from `operations`.
    pub fn refresh_totals(&mut self) -> Result<(), SummaryError> {
        self.ops_total = self.operations.values().map(|o| o.count).sum();
        self.errors_total = self.operations.values().map(|o| o.errors).sum();
        self.latency_us = Percentiles::of(&self.combined_histogram()?);
        Ok(())
    }
}

/// Serializes a histogram as V2 deflate, base64.
pub fn encode(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    match V2DeflateSerializer::new().serialize(h, &mut bytes) {
        Ok(_) => base64::engine::general_purpose::STANDARD.encode(bytes),
        // Serializing into a Vec only fails on an internal bug; an empty
        // string then fails loudly at decode time instead of panicking here.
        Err(_) => String::new(),
    }
}

/// Reads a histogram written by [`encode`] (auto-resizing, so any two add).
pub fn decode(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| e.to_string())?;
    let mut h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("{e:?}"))?;
    h.auto(true);
    Ok(h)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A one-operation summary over `samples` with `errors` failures.
    pub(crate) fn summary_with(
        samples: &[u64],
        errors: u64,
        invariants: &[(&str, u64)],
    ) -> Summary {
        let mut h = new_histogram();
        for s in samples {
            h.record(*s).unwrap();
        }
        let mut s = Summary {
            schema_version: SCHEMA_VERSION,
            tool: "loadtest test".into(),
            workload: "getset".into(),
            target: "redis://127.0.0.1:6379".into(),
            users: 1,
            duration_s: 1.0,
            ops_total: 0,
            ops_per_sec: 0.0,
            errors_total: 0,
            latency_us: Percentiles::default(),
            operations: BTreeMap::from([("getset:GET".to_owned(), OpSummary::new(&h, errors))]),
            invariants: invariants
                .iter()
                .map(|(n, v)| ((*n).to_owned(), *v))
                .collect(),
            slo: BTreeMap::new(),
            slo_spec: String::new(),
            stats: BTreeMap::new(),
            overhead: Overhead::default(),
            settings: BTreeMap::new(),
            merged_from: 1,
        };
        s.refresh_totals().unwrap();
        s.ops_per_sec = s.ops_total as f64;
        s
    }

    #[test]
    fn histogram_round_trips_through_base64() {
        let mut h = new_histogram();
        for v in [1, 2, 3, 250, 251, 10_000, 3_000_000] {
            h.record(v).unwrap();
        }
        let back = decode(&encode(&h)).unwrap();
        assert_eq!(back, h);
        assert_eq!(back.len(), 7);
    }

    #[test]
    fn summary_round_trips_through_json() {
        let s = summary_with(&[5, 6, 7], 2, &[("double_holds", 0)]);
        let json = serde_json::to_string_pretty(&s).unwrap();
        for field in [
            "schema_version",
            "workload",
            "target",
            "users",
            "duration_s",
            "ops_total",
            "ops_per_sec",
            "errors_total",
            "latency_us",
            "p999",
            "invariants",
            "slo",
            "histogram",
        ] {
            assert!(json.contains(&format!("\"{field}\"")), "{field} missing");
        }
        let back: Summary = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        assert_eq!((s.ops_total, s.errors_total), (5, 2));
    }
}
