//! `lockout`: login lockout — after `--limit` failed logins in `--window`,
//! an account refuses further attempts until old failures leave the window.
//!
//! Models: the login endpoint under a password-guessing attack, spread over
//! many app servers: users share `--clients` accounts and 70 % of attempts
//! use a wrong password.
//!
//! The app cannot check the password inside Redis, so "count failures, check
//! the password, record the failure" can never be one step. The safe order
//! is to *reserve* the attempt first: one Lua script (the sliding limiter's)
//! trims the account's sorted set of attempts to the window and, if fewer
//! than the limit remain, adds this attempt (scored by server time) and
//! allows it. Only then is the
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

use super::ratelimit_sliding::{WindowLog, SCRIPT};
use super::{Ctx, Params, StepKeys, UserCore, Variant, Workload};
use crate::invariants::{Invariant, Registry, SlidingWindowTracker};
use rand::Rng;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub(super) static CORRECT: Variant = crate::variant! {
    name: "lockout",
    models: "login lockout: failed attempts per account in a sorted-set window, locked after --limit",
    hidden: false,
    ops: ["EVALSHA(reserve)", "ZREM(success)"],
    invariants: [LockoutExcessAttempts],
    scripts: [&SCRIPT],
};
pub(super) static BROKEN: Variant = crate::variant! {
    name: "lockout-broken",
    models: "BROKEN lockout: count failures, check the password, then record the failure",
    hidden: true,
    ops: ["TIME", "ZREMRANGEBYSCORE+ZCARD", "ZADD+PEXPIRE"],
    invariants: [LockoutExcessAttempts],
    scripts: [],
};

/// Share of attempts with a wrong password.
const WRONG_PASSWORD: f64 = 0.7;

/// The lockout workload.
pub struct Lockout {
    prefix: String,
    accounts: u64,
    log: WindowLog,
    variant: &'static Variant,
    broken: bool,
    tracker: SlidingWindowTracker,
    locked: Arc<AtomicU64>,
    logins: Arc<AtomicU64>,
}

impl Lockout {
    /// Builds it; `broken` selects check-then-record.
    pub fn new(p: &Params, reg: &Registry, broken: bool) -> Self {
        let variant = if broken { &BROKEN } else { &CORRECT };
        Self {
            prefix: variant.prefix(p),
            variant,
            accounts: p.clients,
            log: WindowLog::new(p),
            broken,
            tracker: SlidingWindowTracker::new(
                p.limit,
                p.window,
                reg.counter(Invariant::LockoutExcessAttempts),
            ),
            locked: reg.stat("lockout_refused_attempts"),
            logins: reg.stat("lockout_successful_logins"),
        }
    }
}

impl Lockout {
    /// The sorted set of `account`'s attempts.
    fn key(&self, account: u64) -> String {
        format!("{}{account}", self.prefix)
    }
}

impl Workload for Lockout {
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
            vec![StepKeys::new(0, [key.clone()]), StepKeys::new(1, [key])]
        }
    }

    async fn action(&self, ctx: &mut Ctx<'_>, _: &mut ()) {
        let account = ctx.rng().random_range(0..self.accounts);
        let key = self.key(account);
        let member = ctx.core.unique_id();
        let wrong = ctx.rng().random_bool(WRONG_PASSWORD);
        if self.broken {
            let Some(now) = ctx.server_time_us(0).await else {
                return;
            };
            let Some(failures) = self.log.count(ctx, 1, &key, now).await else {
                return;
            };
            if failures >= self.log.limit {
                self.locked.fetch_add(1, Ordering::Relaxed);
                return;
            }
            // The password is checked here, between the count and the record.
            if !wrong {
                self.logins.fetch_add(1, Ordering::Relaxed);
                return;
            }
            if self.log.add(ctx, 2, &key, now, &member).await {
                self.tracker.admit(account, now);
            }
            return;
        }
        let Some((allowed, now)) = self.log.reserve(ctx, 0, &key, &member).await else {
            return;
        };
        if !allowed {
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
