//! `lockout`: login lockout — after `--limit` failed logins in `--window`,
//! an account refuses further attempts until old failures leave the window.
//!
//! Models: the login endpoint under a password-guessing attack, spread over
//! many app servers: users share `--clients` accounts and 70 % of attempts
//! use a wrong password.
//!
//! The app cannot check the password inside Redis, so "count failures, check
//! the password, record the failure" can never be one step. The safe order
//! is to *reserve* the attempt first: one Lua script trims the account's
//! sorted set of attempts to the window and, if fewer than the limit remain,
//! adds this attempt (scored by server time) and allows it. Only then is the
//! password checked; a correct one removes its reservation (`ZREM`), a wrong
//! one leaves it as a recorded failure. Concurrent attempts therefore count
//! each other while still in flight, and an attacker never gets more than
//! `--limit` guesses per window.
//!
//! The hidden `lockout-broken` does it the usual way — `ZCARD`, check the
//! password, `ZADD` the failure — and the checker, counting evaluated
//! failures per account in every window by server time, catches the extra
//! guesses that concurrent attempts get in.
//!
//! Run it:
//!
//! ```text
//! cargo run -p loadtest -- --workload lockout -u 100 -t 20s --clients 50 --limit 5 --window 10s
//! ```

use super::{Ctx, Params, UserCore, Workload};
use crate::invariants::{Registry, SlidingWindowTracker};
use rand::Rng;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

const OPS: &[&str] = &["lockout:EVALSHA(reserve)", "lockout:ZREM(success)"];
const OPS_BROKEN: &[&str] = &[
    "lockout-broken:TIME",
    "lockout-broken:ZREMRANGEBYSCORE+ZCARD",
    "lockout-broken:ZADD+PEXPIRE",
];

/// Share of attempts with a wrong password.
const WRONG_PASSWORD: f64 = 0.7;

/// KEYS[1] the account's attempts; ARGV window µs, limit, unique member.
/// Returns {allowed 0|1, server time µs}.
static RESERVE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - window))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return {0, now}
end
redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
return {1, now}
",
    )
});

/// The lockout workload.
pub struct Lockout {
    prefix: String,
    accounts: u64,
    limit: u64,
    window_us: u64,
    broken: bool,
    tracker: SlidingWindowTracker,
    locked: Arc<AtomicU64>,
    logins: Arc<AtomicU64>,
}

impl Lockout {
    /// Builds it; `broken` selects check-then-record.
    pub fn new(p: &Params, reg: &Registry, broken: bool) -> Self {
        let name = if broken { "lockout-broken" } else { "lockout" };
        Self {
            prefix: format!("{}{name}:", p.prefix),
            accounts: p.clients,
            limit: p.limit,
            window_us: (p.window.as_micros() as u64).max(1),
            broken,
            tracker: SlidingWindowTracker::new(
                p.limit,
                p.window,
                reg.counter("lockout_excess_attempts"),
            ),
            locked: reg.stat("lockout_refused_attempts"),
            logins: reg.stat("lockout_successful_logins"),
        }
    }
}

impl Workload for Lockout {
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
            vec![&*RESERVE]
        }
    }

    fn new_state(&self, _: &mut UserCore) {}

    async fn action(&self, ctx: &mut Ctx<'_>, _: &mut ()) {
        let account = ctx.rng().random_range(0..self.accounts);
        let key = format!("{}{account}", self.prefix);
        let member = ctx.core.unique_id();
        let wrong = ctx.rng().random_bool(WRONG_PASSWORD);
        if self.broken {
            let Some((sec, usec)) = ctx.query::<(u64, u64)>(0, &redis::cmd("TIME")).await.value
            else {
                return;
            };
            let now = sec * 1_000_000 + usec;
            let mut count = redis::pipe();
            count
                .cmd("ZREMRANGEBYSCORE")
                .arg(&key)
                .arg("-inf")
                .arg(now.saturating_sub(self.window_us))
                .ignore()
                .cmd("ZCARD")
                .arg(&key);
            let Some((failures,)) = ctx.pipe::<(u64,)>(1, &count).await.value else {
                return;
            };
            if failures >= self.limit {
                self.locked.fetch_add(1, Ordering::Relaxed);
                return;
            }
            // The password is checked here, between the count and the record.
            if !wrong {
                self.logins.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let mut record = redis::pipe();
            record
                .cmd("ZADD")
                .arg(&key)
                .arg(now)
                .arg(&member)
                .ignore()
                .cmd("PEXPIRE")
                .arg(&key)
                .arg(self.window_us.div_ceil(1000))
                .ignore();
            if ctx.pipe::<()>(2, &record).await.value.is_some() {
                self.tracker.admit(account, now);
            }
            return;
        }
        let mut inv = RESERVE.prepare_invoke();
        inv.key(&key)
            .arg(self.window_us)
            .arg(self.limit)
            .arg(&member);
        let Some((allowed, now)) = ctx.script::<(u8, u64)>(0, &inv).await.value else {
            return;
        };
        if allowed == 0 {
            self.locked.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if wrong {
            // The reservation stays as the recorded failure.
            self.tracker.admit(account, now);
        } else {
            let _ = ctx
                .query::<i64>(1, redis::cmd("ZREM").arg(&key).arg(&member))
                .await;
            self.logins.fetch_add(1, Ordering::Relaxed);
        }
    }
}
