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

use super::{Ctx, Params, StepKeys, UserCore, Variant, Workload};
use crate::invariants::{Invariant, Registry, SlidingWindowTracker};
use rand::Rng;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

pub(super) static CORRECT: Variant = crate::variant! {
    name: "ratelimit-sliding",
    models: "sliding-window rate limit per client: sorted set trimmed, counted and added in one Lua step",
    hidden: false,
    ops: ["EVALSHA"],
    invariants: [OverAdmissions],
    scripts: [&SCRIPT],
};
pub(super) static BROKEN: Variant = crate::variant! {
    name: "ratelimit-sliding-broken",
    models: "BROKEN sliding window: ZREMRANGEBYSCORE, ZCARD and ZADD as separate round trips",
    hidden: true,
    ops: ["TIME", "ZREMRANGEBYSCORE+ZCARD", "ZADD+PEXPIRE"],
    invariants: [OverAdmissions],
    scripts: [],
};

/// KEYS[1] the client's set; ARGV window µs, limit, unique member.
/// Returns {admitted 0|1, server time µs}. `lockout` reserves attempts with
/// it too. Scores are formatted with %.0f:
/// Lua would print a 16-digit number in exponent form and lose digits.
pub(super) static SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| {
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
    log: WindowLog,
    variant: &'static Variant,
    broken: bool,
    tracker: SlidingWindowTracker,
    rejected: Arc<AtomicU64>,
}

impl SlidingWindow {
    /// Builds it; `broken` selects the non-atomic variant.
    pub fn new(p: &Params, reg: &Registry, broken: bool) -> Self {
        let variant = if broken { &BROKEN } else { &CORRECT };
        Self {
            prefix: variant.prefix(p),
            variant,
            clients: p.clients,
            log: WindowLog::new(p),
            broken,
            tracker: SlidingWindowTracker::new(
                p.limit,
                p.window,
                reg.counter(Invariant::OverAdmissions),
            ),
            rejected: reg.stat("ratelimit_rejected"),
        }
    }
}

impl SlidingWindow {
    /// The sorted set of `client`'s admitted requests.
    fn key(&self, client: u64) -> String {
        format!("{}{client}", self.prefix)
    }
}

impl Workload for SlidingWindow {
    type State = ();

    fn variant(&self) -> &'static Variant {
        self.variant
    }

    fn new_state(&self, _: &mut UserCore) {}

    fn step_keys(&self, n: u64) -> Vec<StepKeys> {
        let key = self.key(n);
        if self.broken {
            WindowLog::broken_steps(&key)
        } else {
            vec![StepKeys::new(0, [key])]
        }
    }

    async fn action(&self, ctx: &mut Ctx<'_>, _: &mut ()) {
        let client = ctx.rng().random_range(0..self.clients);
        let key = self.key(client);
        let member = ctx.core.unique_id();
        let (admitted, at) = if self.broken {
            let Some(now) = ctx.server_time_us(0).await else {
                return;
            };
            let Some(count) = self.log.count(ctx, 1, &key, now).await else {
                return;
            };
            if count >= self.log.limit {
                (false, now)
            } else {
                (self.log.add(ctx, 2, &key, now, &member).await, now)
            }
        } else {
            match self.log.reserve(ctx, 0, &key, &member).await {
                Some(reply) => reply,
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

/// A sorted set per key of events scored by server time in µs, trimmed to a
/// sliding window: the steps the sliding limiter and the lockout share, so
/// their correct and broken variants differ only where the pattern does.
pub(super) struct WindowLog {
    /// Events allowed in any window.
    pub(super) limit: u64,
    window_us: u64,
}

impl WindowLog {
    pub(super) fn new(p: &Params) -> Self {
        Self {
            limit: p.limit,
            window_us: (p.window.as_micros() as u64).max(1),
        }
    }

    /// The atomic step ([`SCRIPT`]) as operation `op`: adds `member` when
    /// the window has room. Returns (added, server time µs).
    pub(super) async fn reserve(
        &self,
        ctx: &mut Ctx<'_>,
        op: usize,
        key: &str,
        member: &str,
    ) -> Option<(bool, u64)> {
        let mut inv = SCRIPT.prepare_invoke();
        inv.key(key).arg(self.window_us).arg(self.limit).arg(member);
        let (added, now) = ctx.script::<(u8, u64)>(op, &inv).await.value?;
        Some((added == 1, now))
    }

    /// The keys of a broken variant's steps as its actions send them:
    /// `TIME` (op 0), [`Self::count`] (op 1) and [`Self::add`] (op 2).
    pub(super) fn broken_steps(key: &str) -> Vec<StepKeys> {
        vec![
            StepKeys::new(0, []),
            StepKeys::new(1, [key.to_owned()]),
            StepKeys::new(2, [key.to_owned()]),
        ]
    }

    /// A broken variant's first round trip as operation `op`: trims the
    /// window ending at `now` and counts what is left.
    pub(super) async fn count(
        &self,
        ctx: &mut Ctx<'_>,
        op: usize,
        key: &str,
        now: u64,
    ) -> Option<u64> {
        let mut count = redis::pipe();
        count
            .cmd("ZREMRANGEBYSCORE")
            .arg(key)
            .arg("-inf")
            .arg(now.saturating_sub(self.window_us))
            .ignore()
            .cmd("ZCARD")
            .arg(key);
        ctx.pipe::<(u64,)>(op, &count).await.value.map(|(n,)| n)
    }

    /// A broken variant's second round trip as operation `op`: adds
    /// `member` at `now`, whatever the count is by then. True when it was
    /// written.
    pub(super) async fn add(
        &self,
        ctx: &mut Ctx<'_>,
        op: usize,
        key: &str,
        now: u64,
        member: &str,
    ) -> bool {
        let mut add = redis::pipe();
        add.cmd("ZADD")
            .arg(key)
            .arg(now)
            .arg(member)
            .ignore()
            .cmd("PEXPIRE")
            .arg(key)
            .arg(self.window_us.div_ceil(1000))
            .ignore();
        ctx.pipe::<()>(op, &add).await.value.is_some()
    }
}
