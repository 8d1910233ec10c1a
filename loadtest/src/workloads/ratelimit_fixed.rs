//! `ratelimit-fixed`: a fixed-window rate limit per client — "at most
//! `--limit` requests per `--window`", the counter every API gateway starts
//! with.
//!
//! Models: an API admitting or rejecting a client's request. Many users share
//! `--clients` client ids, so they race on the same counters, as app servers
//! behind a load balancer do.
//!
//! The counter key names its window (`…:<client>:<window index>`). One
//! atomic round trip creates it with a TTL and counts:
//!
//! ```text
//! MULTI
//! SET key 0 PX <2 × window> NX   -- creates the counter with its TTL, once
//! INCR key                      -- admitted when the result is <= limit
//! EXEC
//! ```
//!
//! Why not the common `INCR key` then `if result == 1: EXPIRE key window`?
//! Those are two commands. A client that dies, times out or is deployed away
//! between them leaves a counter with no TTL: that client is then limited
//! forever (its counter never resets) and the key leaks. Inside MULTI the
//! TTL and the count are applied together or not at all. The TTL is two
//! windows, not one: the key is created at some point *inside* its window,
//! and a request sent at the very end of the window may arrive after a
//! one-window TTL ran out, find no key and be admitted into a fresh counter.
//!
//! The hidden `ratelimit-fixed-broken` does the other classic mistake: `GET`,
//! compare with the limit in the client, then `INCR` — concurrent requests
//! all see room and all get in. The invariant checker counts admissions per
//! (client, window) and catches it.
//!
//! Run it:
//!
//! ```text
//! cargo run -p loadtest -- --workload ratelimit-fixed -u 100 -t 20s --clients 20 --limit 10 --window 1s
//! ```

use super::{Ctx, Params, StepKeys, UserCore, Variant, Workload};
use crate::invariants::{FixedWindowTracker, Invariant, Registry};
use rand::Rng;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

pub(super) static CORRECT: Variant = crate::variant! {
    name: "ratelimit-fixed",
    models: "fixed-window rate limit per client: MULTI { SET key 0 PX 2w NX; INCR key }",
    hidden: false,
    ops: ["MULTI"],
    invariants: [OverAdmissions],
    scripts: [],
};
pub(super) static BROKEN: Variant = crate::variant! {
    name: "ratelimit-fixed-broken",
    models: "BROKEN fixed window: GET, compare, then INCR (check-then-act race)",
    hidden: true,
    ops: ["GET", "INCR+PEXPIRE"],
    invariants: [OverAdmissions],
    scripts: [],
};

/// The fixed-window limiter.
pub struct FixedWindow {
    prefix: String,
    clients: u64,
    limit: u64,
    window_ms: u64,
    variant: &'static Variant,
    broken: bool,
    tracker: FixedWindowTracker,
    rejected: Arc<AtomicU64>,
}

impl FixedWindow {
    /// Builds it; `broken` selects the check-then-act variant.
    pub fn new(p: &Params, reg: &Registry, broken: bool) -> Self {
        let variant = if broken { &BROKEN } else { &CORRECT };
        Self {
            prefix: variant.prefix(p),
            variant,
            clients: p.clients,
            limit: p.limit,
            window_ms: (p.window.as_millis() as u64).max(1),
            broken,
            tracker: FixedWindowTracker::new(p.limit, reg.counter(Invariant::OverAdmissions)),
            rejected: reg.stat("ratelimit_rejected"),
        }
    }
}

impl FixedWindow {
    /// The counter of `client` in window number `window`.
    fn key(&self, client: u64, window: u64) -> String {
        format!("{}{client}:{window}", self.prefix)
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Workload for FixedWindow {
    type State = ();

    fn variant(&self) -> &'static Variant {
        self.variant
    }

    fn new_state(&self, _: &mut UserCore) {}

    fn step_keys(&self, n: u64) -> Vec<StepKeys> {
        let key = self.key(n, now_ms() / self.window_ms);
        if self.broken {
            vec![StepKeys::new(0, [key.clone()]), StepKeys::new(1, [key])]
        } else {
            vec![StepKeys::new(0, [key])]
        }
    }

    async fn action(&self, ctx: &mut Ctx<'_>, _: &mut ()) {
        let client = ctx.rng().random_range(0..self.clients);
        let window = now_ms() / self.window_ms;
        let key = self.key(client, window);
        let ttl_ms = self.window_ms * 2;
        let admitted = if self.broken {
            let seen = ctx
                .query::<Option<u64>>(0, redis::cmd("GET").arg(&key))
                .await;
            let Some(count) = seen.value else { return };
            if count.unwrap_or(0) >= self.limit {
                false
            } else {
                let mut p = redis::pipe();
                p.cmd("INCR")
                    .arg(&key)
                    .ignore()
                    .cmd("PEXPIRE")
                    .arg(&key)
                    .arg(ttl_ms)
                    .ignore();
                ctx.pipe::<()>(1, &p).await.value.is_some()
            }
        } else {
            let mut p = redis::pipe();
            p.atomic()
                .cmd("SET")
                .arg(&key)
                .arg(0)
                .arg("PX")
                .arg(ttl_ms)
                .arg("NX")
                .ignore()
                .cmd("INCR")
                .arg(&key);
            match ctx.pipe::<(u64,)>(0, &p).await.value {
                Some((count,)) => count <= self.limit,
                None => return,
            }
        };
        if admitted {
            self.tracker.admit(client, window);
        } else {
            self.rejected.fetch_add(1, Ordering::Relaxed);
        }
    }
}
