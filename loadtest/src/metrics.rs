//! Our own per-operation latency record: HDR histograms in microseconds.
//!
//! Recording must stay cheap next to a ~20 µs Redis round trip, so a user
//! appends `(operation, µs)` to a local buffer and, once per Goose
//! transaction (a batch of actions), adds the buffer to one of a few sharded
//! histogram sets under a single lock. At the end the shards are added
//! together: the result is the same as one histogram fed every sample.
//!
//! In an open-loop run every operation has two values: its latency from
//! the intended start and its service time from the actual send; both get
//! a histogram. In a closed-loop run they are the same, and only one is
//! kept.

use crate::invariants::lock;
use crate::summary::{new_histogram, OpSummary};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Global index of an operation in the run's [`OpTable`].
pub type OpId = u16;

/// The index of the connect operation, present in every run.
pub const CONNECT: OpId = 0;

/// The name of the connect operation (TCP, TLS, AUTH, PING).
pub const CONNECT_NAME: &str = "CONNECT";

/// Names of every operation of the run; a workload's operations occupy a
/// contiguous range starting at its base.
#[derive(Clone, Debug)]
pub struct OpTable {
    names: Vec<&'static str>,
}

impl Default for OpTable {
    fn default() -> Self {
        Self {
            names: vec![CONNECT_NAME],
        }
    }
}

impl OpTable {
    /// Appends a workload's operations and returns their base index.
    pub fn add(&mut self, ops: &[&'static str]) -> OpId {
        let base = self.names.len() as OpId;
        self.names.extend_from_slice(ops);
        base
    }

    /// The name of an operation.
    pub fn name(&self, op: OpId) -> &'static str {
        self.names.get(op as usize).copied().unwrap_or("unknown")
    }

    /// How many operations there are.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are none (never: CONNECT is always there).
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

struct OpHist {
    hist: Histogram<u64>,
    service: Histogram<u64>,
    errors: u64,
}

impl OpHist {
    fn new() -> Self {
        Self {
            hist: new_histogram(),
            service: new_histogram(),
            errors: 0,
        }
    }
}

fn record(h: &mut Histogram<u64>, us: u32) {
    // Auto-resizing: `record` grows the range as needed.
    if h.record(u64::from(us)).is_err() {
        h.saturating_record(u64::from(us));
    }
}

const HIST_SHARDS: usize = 8;

/// Sharded histogram sets, one histogram and error count per operation.
pub struct HistShards {
    shards: Vec<Mutex<Vec<OpHist>>>,
    ops: OpTable,
    /// Operations recorded so far (for progress; updated per batch).
    pub ops_done: AtomicU64,
    /// Errors so far.
    pub errors_done: AtomicU64,
    /// Open-loop actions that started late.
    pub late_ops: AtomicU64,
    flush_ns: AtomicU64,
    open_loop: bool,
}

impl HistShards {
    /// Empty histograms for every operation in `ops`; `open_loop` keeps a
    /// service-time histogram beside each latency one.
    pub fn new(ops: OpTable, open_loop: bool) -> Self {
        let shards = (0..HIST_SHARDS)
            .map(|_| Mutex::new((0..ops.len()).map(|_| OpHist::new()).collect()))
            .collect();
        Self {
            shards,
            ops,
            ops_done: AtomicU64::new(0),
            errors_done: AtomicU64::new(0),
            late_ops: AtomicU64::new(0),
            flush_ns: AtomicU64::new(0),
            open_loop,
        }
    }

    /// The operation names.
    pub fn ops(&self) -> &OpTable {
        &self.ops
    }

    /// Adds a user's buffered samples (and empties the buffer).
    pub fn flush(&self, rec: &mut Recorder, shard: usize) {
        if rec.late > 0 {
            self.late_ops.fetch_add(rec.late, Ordering::Relaxed);
            rec.late = 0;
        }
        if rec.samples.is_empty() && rec.errors.is_empty() {
            return;
        }
        let started = Instant::now();
        let (n_ok, n_err) = (rec.samples.len() as u64, rec.errors.len() as u64);
        {
            let mut hists = lock(&self.shards[shard % HIST_SHARDS]);
            for &(op, us, service) in &rec.samples {
                if let Some(h) = hists.get_mut(op as usize) {
                    record(&mut h.hist, us);
                    if self.open_loop {
                        record(&mut h.service, service);
                    }
                }
            }
            for &op in &rec.errors {
                if let Some(h) = hists.get_mut(op as usize) {
                    h.errors += 1;
                }
            }
        }
        rec.samples.clear();
        rec.errors.clear();
        self.ops_done.fetch_add(n_ok + n_err, Ordering::Relaxed);
        self.errors_done.fetch_add(n_err, Ordering::Relaxed);
        self.flush_ns
            .fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }

    /// Mean nanoseconds per operation spent adding samples to histograms.
    pub fn flush_ns_per_op(&self) -> f64 {
        let ops = self.ops_done.load(Ordering::Relaxed);
        if ops == 0 {
            0.0
        } else {
            self.flush_ns.load(Ordering::Relaxed) as f64 / ops as f64
        }
    }

    fn totals(&self) -> Vec<OpHist> {
        let mut total: Vec<OpHist> = (0..self.ops.len()).map(|_| OpHist::new()).collect();
        for shard in &self.shards {
            let hists = lock(shard);
            for (sum, part) in total.iter_mut().zip(hists.iter()) {
                // All auto-resize, so adding cannot fail on range.
                let _ = sum.hist.add(&part.hist);
                let _ = sum.service.add(&part.service);
                sum.errors += part.errors;
            }
        }
        total
    }

    /// Every operation that saw traffic, shards added together.
    pub fn snapshot(&self) -> BTreeMap<String, OpSummary> {
        self.totals()
            .iter()
            .enumerate()
            .filter(|(_, h)| h.hist.len() + h.errors > 0)
            .map(|(i, h)| {
                let service = self.open_loop.then_some(&h.service);
                (
                    self.ops.name(i as OpId).to_owned(),
                    OpSummary::new(&h.hist, service, h.errors),
                )
            })
            .collect()
    }

    /// The 99th percentile latency over every operation so far, µs (for the
    /// progress line; samples still in users' buffers are not in it).
    pub fn p99_so_far(&self) -> u64 {
        let mut all = new_histogram();
        for h in self.totals() {
            let _ = all.add(&h.hist);
        }
        if all.is_empty() {
            0
        } else {
            all.value_at_quantile(0.99)
        }
    }
}

/// A user's local sample buffer.
#[derive(Default)]
pub struct Recorder {
    /// (operation, latency µs, service time µs)
    samples: Vec<(OpId, u32, u32)>,
    errors: Vec<OpId>,
    late: u64,
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

impl Recorder {
    /// Buffers one successful operation: its latency (from the intended
    /// start in an open-loop run) and its service time (from the send).
    pub fn ok(&mut self, op: OpId, latency: Duration, service: Duration) {
        self.samples.push((op, micros(latency), micros(service)));
    }

    /// Counts one open-loop action that started late.
    pub fn late(&mut self) {
        self.late += 1;
    }

    /// Buffers one failed operation.
    pub fn error(&mut self, op: OpId) {
        self.errors.push(op);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_add_up_to_one_histogram() {
        let mut table = OpTable::default();
        let base = table.add(&["w:GET", "w:SET"]);
        assert_eq!(base, 1);
        let shards = HistShards::new(table, false);
        let mut rec = Recorder::default();
        let mut expected = new_histogram();
        for i in 0..1000u64 {
            rec.ok(base, Duration::from_micros(i), Duration::from_micros(i));
            expected.record(i).unwrap();
            if i % 100 == 99 {
                shards.flush(&mut rec, i as usize);
            }
        }
        rec.error(base + 1);
        // Far above the histogram's initial range: it must grow, not clamp.
        rec.ok(base + 1, Duration::from_secs(7), Duration::from_secs(7));
        shards.flush(&mut rec, 3);
        let snap = shards.snapshot();
        assert_eq!(snap["w:GET"].decode().unwrap(), expected);
        assert_eq!((snap["w:SET"].count, snap["w:SET"].errors), (2, 1));
        assert!(
            snap["w:SET"].latency_us.max >= 7_000_000,
            "{:?}",
            snap["w:SET"].latency_us
        );
        assert!(!snap.contains_key(CONNECT_NAME), "no traffic, no entry");
        assert_eq!(shards.ops_done.load(Ordering::Relaxed), 1002);
        assert!(!snap["w:GET"].has_service(), "closed loop keeps one");
    }

    #[test]
    fn open_loop_keeps_service_time_and_late_count_apart() {
        let mut table = OpTable::default();
        let base = table.add(&["w:GET"]);
        let shards = HistShards::new(table, true);
        let mut rec = Recorder::default();
        for i in 1..=100u64 {
            // A stalled schedule: latency grows, service time does not.
            rec.ok(base, Duration::from_millis(i), Duration::from_micros(50));
            rec.late();
        }
        shards.flush(&mut rec, 0);
        let op = &shards.snapshot()["w:GET"];
        assert!(op.latency_us.p99 >= 99_000, "{:?}", op.latency_us);
        assert_eq!(op.service().max, 50);
        assert_eq!(shards.late_ops.load(Ordering::Relaxed), 100);
        assert!(shards.p99_so_far() >= 99_000);
    }
}
