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
//! - `latency_us`: percentiles over every successful operation. In a
//!   closed-loop run (the default) each is measured from when the request
//!   was sent; in an open-loop run (`--rate`, `--think-time`) from when it
//!   was *meant* to be sent, so a stall also counts against the requests it
//!   held back (no coordinated omission).
//! - `service_time_us`: the same percentiles measured from the actual send
//!   (equal to `latency_us` in a closed-loop run); `late_ops`: open-loop
//!   actions that started more than [`crate::pacing::LATE_AFTER`] after
//!   their intended start (0 in a closed-loop run).
//! - `operations`: per operation count, errors, both sets of percentiles
//!   and both histograms (`service_histogram` is empty when it equals
//!   `histogram`, as in every closed-loop run).
//! - `invariants`: violations per invariant; `slo`: each gate's value, limit
//!   and outcome; `stats`: workload figures that are not gates (cache hit
//!   ratio, lock takeovers, …); `overhead`: what recording costs per
//!   operation and the client CPU (user + system, from `getrusage`) per
//!   operation; `settings`: the parameters of the run.
//!
//! Version 1 files written before the open-loop fields existed still read:
//! the new fields default to "same as latency" and 0, which is what they
//! were.

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
    /// Percentiles of the successful round trips (from the intended start
    /// in an open-loop run).
    pub latency_us: Percentiles,
    /// The full histogram: HDR V2 deflate, base64 (standard alphabet).
    pub histogram: String,
    /// Percentiles of the successful round trips from their actual send.
    #[serde(default)]
    pub service_time_us: Option<Percentiles>,
    /// The service-time histogram; empty when it equals `histogram`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_histogram: String,
}

impl OpSummary {
    /// Builds from a latency histogram of successes, the service-time one
    /// when it differs (open loop), and an error count.
    pub fn new(h: &Histogram<u64>, service: Option<&Histogram<u64>>, errors: u64) -> Self {
        Self {
            count: h.len() + errors,
            errors,
            latency_us: Percentiles::of(h),
            histogram: encode(h),
            service_time_us: Some(Percentiles::of(service.unwrap_or(h))),
            service_histogram: service.map(encode).unwrap_or_default(),
        }
    }

    /// The latency histogram back.
    pub fn decode(&self) -> Result<Histogram<u64>, SummaryError> {
        decode(&self.histogram).map_err(|detail| SummaryError::Decode {
            op: String::new(),
            detail,
        })
    }

    /// The service-time histogram back (the latency one when they are the
    /// same).
    pub fn decode_service(&self) -> Result<Histogram<u64>, SummaryError> {
        if self.service_histogram.is_empty() {
            return self.decode();
        }
        decode(&self.service_histogram).map_err(|detail| SummaryError::Decode {
            op: String::new(),
            detail,
        })
    }

    /// Whether a separate service-time histogram is carried.
    pub fn has_service(&self) -> bool {
        !self.service_histogram.is_empty()
    }

    /// Service-time percentiles (the latency ones in a closed-loop run).
    pub fn service(&self) -> &Percentiles {
        self.service_time_us.as_ref().unwrap_or(&self.latency_us)
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
    /// Client CPU in user mode per operation, µs (`getrusage` over the
    /// load, divided by `ops_total`): everything the process did, Goose
    /// and the runtime included.
    #[serde(default)]
    pub cpu_user_us_per_op: f64,
    /// Client CPU in kernel mode per operation, µs (socket reads, writes,
    /// wakeups).
    #[serde(default)]
    pub cpu_sys_us_per_op: f64,
}

impl Overhead {
    /// User plus system CPU per operation, µs.
    pub fn cpu_us_per_op(&self) -> f64 {
        self.cpu_user_us_per_op + self.cpu_sys_us_per_op
    }
}

/// A gate's outcome, as written to the summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GateResult {
    /// The measured value; `null` when there was nothing to measure.
    pub value: Option<f64>,
    /// The limit.
    pub limit: f64,
    /// `us`, `%`, `count` or `ops/s`.
    pub unit: String,
    /// Whether the gate holds.
    pub pass: bool,
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
    /// Percentiles over every successful operation (from the intended
    /// start in an open-loop run).
    pub latency_us: Percentiles,
    /// Percentiles over every successful operation from its actual send.
    #[serde(default)]
    pub service_time_us: Percentiles,
    /// Open-loop actions that started late (see the module docs).
    #[serde(default)]
    pub late_ops: u64,
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
    /// All operations' latency histograms added together.
    pub fn combined_histogram(&self) -> Result<Histogram<u64>, SummaryError> {
        self.combined(OpSummary::decode)
    }

    /// All operations' service-time histograms added together.
    pub fn combined_service_histogram(&self) -> Result<Histogram<u64>, SummaryError> {
        self.combined(OpSummary::decode_service)
    }

    fn combined(
        &self,
        which: fn(&OpSummary) -> Result<Histogram<u64>, SummaryError>,
    ) -> Result<Histogram<u64>, SummaryError> {
        let mut all = new_histogram();
        for (op, s) in &self.operations {
            let h = which(s).map_err(|e| match e {
                SummaryError::Decode { detail, .. } => SummaryError::Decode {
                    op: op.clone(),
                    detail,
                },
                other => other,
            })?;
            all.add(&h).map_err(|e| SummaryError::Add {
                op: op.clone(),
                detail: format!("{e:?}"),
            })?;
        }
        Ok(all)
    }

    /// Whether this is (or includes) an open-loop run: service time then
    /// differs from latency.
    pub fn is_open_loop(&self) -> bool {
        self.operations.values().any(OpSummary::has_service)
    }

    /// Recomputes the totals and overall percentiles from `operations`.
    pub fn refresh_totals(&mut self) -> Result<(), SummaryError> {
        self.ops_total = self.operations.values().map(|o| o.count).sum();
        self.errors_total = self.operations.values().map(|o| o.errors).sum();
        self.latency_us = Percentiles::of(&self.combined_histogram()?);
        self.service_time_us = Percentiles::of(&self.combined_service_histogram()?);
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
            service_time_us: Percentiles::default(),
            late_ops: 0,
            operations: BTreeMap::from([(
                "getset:GET".to_owned(),
                OpSummary::new(&h, None, errors),
            )]),
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
        assert_eq!(s.service_time_us, s.latency_us, "closed loop: the same");
        assert!(!json.contains("service_histogram"), "not repeated");
    }

    #[test]
    fn version_1_summary_without_open_loop_fields_still_reads() {
        let s = summary_with(&[5, 6, 7], 0, &[]);
        let mut v: serde_json::Value = serde_json::to_value(&s).unwrap();
        let obj = v.as_object_mut().unwrap();
        obj.remove("service_time_us");
        obj.remove("late_ops");
        for op in obj["operations"].as_object_mut().unwrap().values_mut() {
            op.as_object_mut().unwrap().remove("service_time_us");
        }
        let mut back: Summary = serde_json::from_value(v).unwrap();
        back.refresh_totals().unwrap();
        assert_eq!(back.service_time_us, s.latency_us);
        assert_eq!(back.operations["getset:GET"].service(), &s.latency_us);
        assert_eq!(back.late_ops, 0);
    }

    #[test]
    fn open_loop_service_time_is_kept_apart_from_latency() {
        let (mut lat, mut svc) = (new_histogram(), new_histogram());
        for v in [100, 200, 300_000] {
            lat.record(v).unwrap();
        }
        for v in [100, 200, 300] {
            svc.record(v).unwrap();
        }
        let op = OpSummary::new(&lat, Some(&svc), 0);
        assert!(op.has_service());
        assert_eq!(op.decode_service().unwrap(), svc);
        assert_eq!(op.service().max, 300);
        assert!(op.latency_us.max >= 300_000);
    }
}
