//! `getset`: plain GET and SET over a uniform key space — no application
//! logic, so the numbers compare directly with `redis-benchmark -t set,get`.
//!
//! Models: the raw key-value traffic under every other pattern; the baseline
//! that says how much of a latency budget is Redis and the network.
//!
//! Run it:
//!
//! ```text
//! cargo run -p loadtest --release -- --workload getset -u 50 -t 10s \
//!     --keyspace 10000 --value-size 3 --get-ratio 0.5
//! ```

use super::{Ctx, Params, StepKeys, UserCore, Variant, Workload};
use crate::invariants::Registry;
use rand::Rng;
use std::fmt::Write;
use std::sync::Arc;

pub(super) static VARIANT: Variant = crate::variant! {
    name: "getset",
    models: "plain GET/SET over a key space, to compare with redis-benchmark",
    hidden: false,
    ops: ["GET", "SET"],
    invariants: [],
    scripts: [],
};
const GET: usize = 0;
const SET: usize = 1;

/// The getset workload.
pub struct GetSet {
    prefix: String,
    keyspace: u64,
    get_ratio: f64,
    value: Arc<[u8]>,
}

/// Per-user: a reusable key buffer.
pub struct State {
    key: String,
}

impl GetSet {
    /// Builds it from the parameters.
    pub fn new(p: &Params, _: &Registry) -> Self {
        Self {
            prefix: VARIANT.prefix(p),
            keyspace: p.keyspace,
            get_ratio: p.get_ratio,
            value: vec![b'x'; p.value_size].into(),
        }
    }
}

impl GetSet {
    /// Writes the key of item `k` into the user's reusable buffer (no
    /// allocation on the hot path).
    fn key(&self, st: &mut State, k: u64) {
        st.key.clear();
        let _ = write!(st.key, "{}{k}", self.prefix);
    }
}

impl Workload for GetSet {
    type State = State;

    fn variant(&self) -> &'static Variant {
        &VARIANT
    }

    fn new_state(&self, _: &mut UserCore) -> State {
        State { key: String::new() }
    }

    fn step_keys(&self, n: u64) -> Vec<StepKeys> {
        let mut st = State { key: String::new() };
        self.key(&mut st, n);
        vec![
            StepKeys::new(GET, [st.key.clone()]),
            StepKeys::new(SET, [st.key]),
        ]
    }

    async fn action(&self, ctx: &mut Ctx<'_>, st: &mut State) {
        let k = ctx.rng().random_range(0..self.keyspace);
        self.key(st, k);
        if ctx.rng().random_bool(self.get_ratio) {
            let _ = ctx
                .query::<Option<Vec<u8>>>(GET, redis::cmd("GET").arg(&st.key))
                .await;
        } else {
            let _ = ctx
                .query::<()>(SET, redis::cmd("SET").arg(&st.key).arg(&*self.value))
                .await;
        }
    }
}
