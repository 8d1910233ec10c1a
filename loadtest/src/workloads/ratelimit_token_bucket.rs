//! `ratelimit-token-bucket`: a token bucket per client — bursts of up to
//! `--limit` requests, refilled at `--limit` tokens per `--window`.
//!
//! Models: an API that allows short bursts but holds a long-run rate, shared
//! by users racing on `--clients` client buckets.
//!
//! The bucket is a hash `{tokens, ts}`. One Lua script reads the server
//! clock, refills by the elapsed time, takes a token if there is one, writes
//! the bucket back and sets its TTL (two windows, longer than a full refill,
//! so an expired bucket is indistinguishable from a full one), in one atomic
//! step. It returns the server time it used: the invariant checker replays
//! the admissions of each client through a reference bucket in server-time
//! order and counts any it would have refused.
//!
//! The hidden `ratelimit-token-bucket-broken` reads the bucket, computes in
//! the client and writes it back: two users read the same last token and
//! both spend it.
//!
//! Run it:
//!
//! ```text
//! cargo run -p loadtest -- --workload ratelimit-token-bucket -u 100 -t 20s --limit 10 --window 1s
//! ```

use super::{Ctx, Params, StepKeys, UserCore, Variant, Workload};
use crate::invariants::{Invariant, Registry, TokenBucketTracker};
use rand::Rng;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

pub(super) static CORRECT: Variant = crate::variant! {
    name: "ratelimit-token-bucket",
    models: "token bucket per client (burst = limit, refill = limit per window) in one Lua step",
    hidden: false,
    ops: ["EVALSHA"],
    invariants: [OverAdmissions],
    scripts: [&SCRIPT],
};
pub(super) static BROKEN: Variant = crate::variant! {
    name: "ratelimit-token-bucket-broken",
    models: "BROKEN token bucket: read state, compute in the client, write back",
    hidden: true,
    ops: ["TIME", "HMGET", "HSET+PEXPIRE"],
    invariants: [OverAdmissions],
    scripts: [],
};

/// KEYS[1] the bucket; ARGV capacity, tokens per µs, TTL ms.
/// Returns {admitted 0|1, server time µs}.
static SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local cap = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local s = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(s[1])
local ts = tonumber(s[2])
if tokens == nil or ts == nil then
  tokens = cap
else
  local elapsed = now - ts
  if elapsed < 0 then elapsed = 0 end
  tokens = math.min(cap, tokens + elapsed * rate)
end
local ok = 0
if tokens >= 1 then
  tokens = tokens - 1
  ok = 1
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%.0f', now))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {ok, now}
",
    )
});

/// The token bucket.
pub struct TokenBucket {
    prefix: String,
    clients: u64,
    capacity: f64,
    per_us: f64,
    ttl_ms: u64,
    variant: &'static Variant,
    broken: bool,
    tracker: TokenBucketTracker,
    rejected: Arc<AtomicU64>,
}

impl TokenBucket {
    /// Builds it; `broken` selects the read-modify-write variant.
    pub fn new(p: &Params, reg: &Registry, broken: bool) -> Self {
        let variant = if broken { &BROKEN } else { &CORRECT };
        let window_us = (p.window.as_micros() as f64).max(1.0);
        let capacity = p.limit as f64;
        let per_us = capacity / window_us;
        Self {
            prefix: variant.prefix(p),
            variant,
            clients: p.clients,
            capacity,
            per_us,
            ttl_ms: (p.window.as_millis() as u64).max(1) * 2,
            broken,
            tracker: TokenBucketTracker::new(
                capacity,
                per_us,
                reg.counter(Invariant::OverAdmissions),
            ),
            rejected: reg.stat("ratelimit_rejected"),
        }
    }
}

impl TokenBucket {
    /// The bucket of `client`.
    fn key(&self, client: u64) -> String {
        format!("{}{client}", self.prefix)
    }
}

impl Workload for TokenBucket {
    type State = ();

    fn variant(&self) -> &'static Variant {
        self.variant
    }

    fn finish(&self) {
        self.tracker.finish();
    }

    fn new_state(&self, _: &mut UserCore) {}

    fn step_keys(&self, n: u64) -> Vec<StepKeys> {
        let key = self.key(n);
        if self.broken {
            vec![
                StepKeys::new(0, []),
                StepKeys::new(1, [key.clone()]),
                StepKeys::new(2, [key]),
            ]
        } else {
            vec![StepKeys::new(0, [key])]
        }
    }

    async fn action(&self, ctx: &mut Ctx<'_>, _: &mut ()) {
        let client = ctx.rng().random_range(0..self.clients);
        let key = self.key(client);
        let (admitted, at) = if self.broken {
            let Some(now) = ctx.server_time_us(0).await else {
                return;
            };
            let state = ctx
                .query::<(Option<f64>, Option<u64>)>(
                    1,
                    redis::cmd("HMGET").arg(&key).arg("tokens").arg("ts"),
                )
                .await;
            let Some((tokens, ts)) = state.value else {
                return;
            };
            let mut tokens = match (tokens, ts) {
                (Some(t), Some(ts)) => {
                    (t + now.saturating_sub(ts) as f64 * self.per_us).min(self.capacity)
                }
                _ => self.capacity,
            };
            let ok = tokens >= 1.0;
            if ok {
                tokens -= 1.0;
            }
            let mut write = redis::pipe();
            write
                .cmd("HSET")
                .arg(&key)
                .arg("tokens")
                .arg(tokens)
                .arg("ts")
                .arg(now)
                .ignore()
                .cmd("PEXPIRE")
                .arg(&key)
                .arg(self.ttl_ms)
                .ignore();
            if ctx.pipe::<()>(2, &write).await.value.is_none() {
                return;
            }
            (ok, now)
        } else {
            let mut inv = SCRIPT.prepare_invoke();
            inv.key(&key)
                .arg(self.capacity)
                .arg(self.per_us)
                .arg(self.ttl_ms);
            match ctx.script::<(u8, u64)>(0, &inv).await.value {
                Some((ok, now)) => (ok == 1, now),
                None => return,
            }
        };
        if admitted {
            self.tracker.admit(client, at);
        } else {
            self.rejected.fetch_add(1, Ordering::Relaxed);
        }
    }
}
