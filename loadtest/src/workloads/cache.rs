//! `cache`: cache-aside with a TTL — read from Redis, and on a miss load the
//! value from the source of truth and write it back with `SET … EX`.
//!
//! Models: the read path of a service in front of a database. Keys are drawn
//! with a skew (80 % of reads go to 20 % of `--keyspace`), as real traffic
//! is; entries live `--cache-ttl`. The run reports `cache_hits`,
//! `cache_misses` and `cache_hit_ratio` in the summary's `stats`. The value
//! a miss "loads" carries its key, and every hit is checked to be the value
//! of its own key (`cache_wrong_values`, a statistic: it would reveal
//! mixed-up replies on a multiplexed or shared connection).
//!
//! Run it:
//!
//! ```text
//! cargo run -p loadtest -- --workload cache -u 100 -t 20s --keyspace 10000 --cache-ttl 10s --value-size 512
//! ```

use super::{Ctx, Params, StepKeys, UserCore, Variant, Workload};
use crate::invariants::Registry;
use rand::Rng;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub(super) static VARIANT: Variant = crate::variant! {
    name: "cache",
    models: "cache-aside: GET, on a miss load and SET EX; reports the hit ratio",
    hidden: false,
    ops: ["GET", "SET_EX"],
    invariants: [],
    scripts: [],
};
const GET: usize = 0;
const SET: usize = 1;

/// The cache-aside workload.
pub struct Cache {
    prefix: String,
    keyspace: u64,
    ttl_s: u64,
    value_size: usize,
    hits: Arc<AtomicU64>,
    misses: Arc<AtomicU64>,
    wrong: Arc<AtomicU64>,
}

impl Cache {
    /// Builds it.
    pub fn new(p: &Params, reg: &Registry) -> Self {
        Self {
            prefix: VARIANT.prefix(p),
            keyspace: p.keyspace,
            ttl_s: p.cache_ttl.as_secs_f64().round().max(1.0) as u64,
            value_size: p.value_size,
            hits: reg.stat("cache_hits"),
            misses: reg.stat("cache_misses"),
            wrong: reg.stat("cache_wrong_values"),
        }
    }

    /// The cache entry of item `k`.
    fn key(&self, k: u64) -> String {
        format!("{}{k}", self.prefix)
    }

    fn value_for(&self, k: u64) -> Vec<u8> {
        let mut v = format!("{k}:").into_bytes();
        v.resize(self.value_size.max(v.len()), b'v');
        v
    }
}

impl Workload for Cache {
    type State = ();

    fn variant(&self) -> &'static Variant {
        &VARIANT
    }

    fn new_state(&self, _: &mut UserCore) {}

    fn step_keys(&self, n: u64) -> Vec<StepKeys> {
        let key = self.key(n);
        vec![StepKeys::new(GET, [key.clone()]), StepKeys::new(SET, [key])]
    }

    async fn action(&self, ctx: &mut Ctx<'_>, _: &mut ()) {
        let hot = (self.keyspace / 5).max(1);
        let k = if ctx.rng().random_bool(0.8) {
            ctx.rng().random_range(0..hot)
        } else {
            ctx.rng().random_range(0..self.keyspace)
        };
        let key = self.key(k);
        let Some(cached) = ctx
            .query::<Option<Vec<u8>>>(GET, redis::cmd("GET").arg(&key))
            .await
            .value
        else {
            return;
        };
        match cached {
            Some(v) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                if !v.starts_with(format!("{k}:").as_bytes()) {
                    self.wrong.fetch_add(1, Ordering::Relaxed);
                }
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                let value = self.value_for(k);
                let _ = ctx
                    .query::<()>(
                        SET,
                        redis::cmd("SET")
                            .arg(&key)
                            .arg(value)
                            .arg("EX")
                            .arg(self.ttl_s),
                    )
                    .await;
            }
        }
    }
}
