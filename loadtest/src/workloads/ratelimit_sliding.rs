//! `ratelimit-sliding`: a sliding-window rate limit per client — "at most
//! `--limit` requests in any `--window`", without the fixed window's burst
//! of up to twice the limit across a window boundary.
//!
//! Models: a login or API endpoint limiting each client over a rolling
//! window; users share `--clients` client ids and race on the same sets.
//!
//! Each client has a sorted set of admitted requests scored by server time in
//! microseconds. One Lua script reads the server clock, trims the set to the
//! window, counts, and adds the request only when the count is below the
//! limit. A script is needed: `MULTI { ZREMRANGEBYSCORE; ZADD; ZCARD; EXPIRE }`
//! is atomic too, but it adds the request before it knows the answer, so
//! rejected requests fill the window and a client that keeps retrying is
//! locked out forever. The script returns the server time it used, which the
//! invariant checker needs to check every window exactly.
//!
//! The hidden `ratelimit-sliding-broken` does the same steps as separate
//! round trips (TIME; ZREMRANGEBYSCORE + ZCARD; ZADD): concurrent requests
//! all count below the limit before any adds itself.
//!
//! Run it:
//!
//! ```text
//! cargo run -p loadtest -- --workload ratelimit-sliding -u 100 -t 20s --summary-json out.json
//! ```

use super::{Ctx, Params, UserCore, Workload};
use crate::invariants::{Registry, SlidingWindowTracker};
use rand::Rng;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

const OPS: &[&str] = &["ratelimit-sliding:EVALSHA"];
const OPS_BROKEN: &[&str] = &[
    "ratelimit-sliding-broken:TIME",
    "ratelimit-sliding-broken:ZREMRANGEBYSCORE+ZCARD",
    "ratelimit-sliding-broken:ZADD+PEXPIRE",
];

/// KEYS[1] the client's set; ARGV window µs, limit, unique member.
/// Returns {admitted 0|1, server time µs}. Scores are formatted with %.0f:
/// Lua would print a 16-digit number in exponent form and lose digits.
static SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - window))
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
  return {1, now}
end
return {0, now}
",
    )
});

/// The sliding-window limiter.
pub struct SlidingWindow {
    prefix: String,
    clients: u64,
    limit: u64,
    window_us: u64,
    broken: bool,
    tracker: SlidingWindowTracker,
    rejected: Arc<AtomicU64>,
}

impl SlidingWindow {
    /// Builds it; `broken` selects the non-atomic variant.
    pub fn new(p: &Params, reg: &Registry, broken: bool) -> Self {
        let name = if broken {
            "ratelimit-sliding-broken"
        } else {
            "ratelimit-sliding"
        };
        Self {
            prefix: format!("{}{name}:", p.prefix),
            clients: p.clients,
            limit: p.limit,
            window_us: (p.window.as_micros() as u64).max(1),
            broken,
            tracker: SlidingWindowTracker::new(p.limit, p.window, reg.counter("over_admissions")),
            rejected: reg.stat("ratelimit_rejected"),
        }
    }
}

impl Workload for SlidingWindow {
    type State = ();

    fn ops(&self) -> &'static [&'static str] {
        if self.broken {
            OPS_BROKEN
        } else {
            OPS
        }
    }

    fn scripts(&self) -> Vec<&'static redis::Script> {
        if self.broken {
            Vec::new()
        } else {
            vec![&*SCRIPT]
        }
    }

    fn new_state(&self, _: &mut UserCore) {}

    async fn action(&self, ctx: &mut Ctx<'_>, _: &mut ()) {
        let client = ctx.rng().random_range(0..self.clients);
        let key = format!("{}{client}", self.prefix);
        let member = ctx.core.unique_id();
        let (admitted, at) = if self.broken {
            let Some((sec, usec)) = ctx.query::<(u64, u64)>(0, &redis::cmd("TIME")).await.value
            else {
                return;
            };
            let now = sec * 1_000_000 + usec;
            let mut check = redis::pipe();
            check
                .cmd("ZREMRANGEBYSCORE")
                .arg(&key)
                .arg("-inf")
                .arg(now.saturating_sub(self.window_us))
                .ignore()
                .cmd("ZCARD")
                .arg(&key);
            let Some((count,)) = ctx.pipe::<(u64,)>(1, &check).await.value else {
                return;
            };
            if count >= self.limit {
                (false, now)
            } else {
                let mut add = redis::pipe();
                add.cmd("ZADD")
                    .arg(&key)
                    .arg(now)
                    .arg(&member)
                    .ignore()
                    .cmd("PEXPIRE")
                    .arg(&key)
                    .arg(self.window_us.div_ceil(1000))
                    .ignore();
                (ctx.pipe::<()>(2, &add).await.value.is_some(), now)
            }
        } else {
            let mut inv = SCRIPT.prepare_invoke();
            inv.key(&key)
                .arg(self.window_us)
                .arg(self.limit)
                .arg(&member);
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
