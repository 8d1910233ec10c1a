//! State shared by every Goose user of a run: parameters, invariant
//! trackers, histograms, connections and pacing. Its own module so the
//! workloads and the run orchestration both use it without importing each
//! other.

use crate::conn::Connector;
use crate::invariants::Registry;
use crate::metrics::HistShards;
use crate::pacing::Pace;
use crate::params::Params;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use topology::Secret;

/// State shared by every Goose user of a run.
pub struct RunShared {
    /// Workload parameters.
    pub params: Params,
    /// Invariant counters and statistics.
    pub registry: Arc<Registry>,
    /// Latency histograms.
    pub hists: HistShards,
    /// Connections.
    pub conns: Connector,
    /// The password, only to scrub it from error texts.
    pub password: Option<Secret>,
    /// Closed loop, or each user's open-loop interval.
    pub pace: Pace,
    pub(crate) users_started: AtomicU64,
    pub(crate) first_start: OnceLock<Instant>,
    pub(crate) goose_ns: AtomicU64,
    pub(crate) goose_samples: AtomicU64,
}

impl RunShared {
    pub(crate) fn user_started(&self) {
        self.users_started.fetch_add(1, Ordering::Relaxed);
        self.first_start.get_or_init(Instant::now);
    }

    /// Goose users started so far.
    pub fn users_started(&self) -> u64 {
        self.users_started.load(Ordering::Relaxed)
    }
}

impl RunShared {
    pub(crate) fn add_goose_overhead(&self, ns: u64, samples: u64) {
        if samples > 0 {
            self.goose_ns.fetch_add(ns, Ordering::Relaxed);
            self.goose_samples.fetch_add(samples, Ordering::Relaxed);
        }
    }
}
