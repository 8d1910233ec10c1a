//! `lock`: a distributed lock with a lease and fencing tokens — the
//! single-instance pattern from the Redis documentation ("Distributed Locks
//! with Redis"), plus the fencing counter that makes a lease safe to use.
//!
//! Models: a job that must run on one worker at a time (a nightly billing
//! run, a cache rebuild, a leader's duty), contended by every user over
//! `--locks` lock names.
//!
//! - Acquire, one Lua step: `SET lock <random token> NX PX <ttl>` and, only
//!   when it succeeded, `INCR lock:fence`; the new fencing token comes back.
//!   Doing the two in one script makes fencing tokens increase in exactly the
//!   order the lock was granted.
//! - Hold for a random time around `--lock-hold`.
//! - Release, one Lua step: delete the key only if it still holds our token
//!   (compare-and-delete). A plain `DEL` would delete the lock of whoever
//!   took it after our lease ran out.
//!
//! The checker keeps a shared "current holder" record per lock, set when an
//! acquire succeeds and cleared before the release is sent; an acquire that
//! finds another holder whose lease is certainly still valid is a double
//! hold. It also checks that a valid holder's fencing token is above every
//! token already released. Hidden variants prove it catches both classic
//! bugs: `lock-broken-nx` (acquire without NX) and `lock-broken-release`
//! (release with a plain `DEL`; run it with a lease shorter than the hold,
//! e.g. `--lock-ttl 20ms --lock-hold 20ms`).
//!
//! Keys: a lock and its fencing counter are `…:lock:{<run>:<lock>}` and
//! `…:lock:{<run>:<lock>}:fence`. The acquire script sends both, so on
//! Redis Cluster they must share a slot: the hash tag is per lock name,
//! which keeps each lock's pair together and spreads the locks over the
//! cluster.
//!
//! Run it:
//!
//! ```text
//! cargo run -p loadtest -- --workload lock -u 50 -t 20s --locks 4 --lock-ttl 2s --lock-hold 1ms
//! ```

use super::{Ctx, Params, StepKeys, UserCore, Variant, Workload};
use crate::invariants::{LockTable, Registry};
use crate::keys::tag;
use rand::Rng;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

pub(super) static CORRECT: Variant = crate::variant! {
    name: "lock",
    models: "distributed lock: SET NX PX with a random token, fencing counter, compare-and-delete release",
    hidden: false,
    ops: ["EVALSHA(acquire)", "EVALSHA(release)"],
    invariants: [DoubleHolds, FenceRegressions],
    scripts: [&ACQUIRE, &RELEASE],
};
pub(super) static NO_NX: Variant = crate::variant! {
    name: "lock-broken-nx",
    models: "BROKEN lock: acquire with SET PX without NX",
    hidden: true,
    ops: ["EVALSHA(acquire)", "EVALSHA(release)"],
    invariants: [DoubleHolds, FenceRegressions],
    scripts: [&ACQUIRE_NO_NX, &RELEASE],
};
pub(super) static UNSAFE_RELEASE: Variant = crate::variant! {
    name: "lock-broken-release",
    models: "BROKEN lock: release with a plain DEL, without checking the token",
    hidden: true,
    ops: ["EVALSHA(acquire)", "DEL(release)"],
    invariants: [DoubleHolds, FenceRegressions],
    scripts: [&ACQUIRE, &RELEASE],
};

/// KEYS[1] lock, KEYS[2] fence counter; ARGV token, lease ms.
/// Returns the new fencing token, or 0 when the lock is taken.
static ACQUIRE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return redis.call('INCR', KEYS[2])
end
return 0
",
    )
});

/// The broken acquire: no NX, so it always "succeeds".
static ACQUIRE_NO_NX: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return redis.call('INCR', KEYS[2])
",
    )
});

/// KEYS[1] lock; ARGV token. Deletes only our own lock; 1 if it was ours.
static RELEASE: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
",
    )
});

const ACQUIRE_OP: usize = 0;
const RELEASE_OP: usize = 1;

/// The keys of one lock name: the lock and its fencing counter.
struct LockKeys {
    lock: String,
    fence: String,
}

/// Which implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// NX acquire, compare-and-delete release.
    Correct,
    /// Acquire without NX.
    NoNx,
    /// Release with a plain DEL.
    UnsafeRelease,
}

/// The lock workload.
pub struct Lock {
    prefix: String,
    run_prefix: String,
    locks: u64,
    ttl: Duration,
    hold: Duration,
    kind: Kind,
    variant: &'static Variant,
    table: LockTable,
    busy: Arc<AtomicU64>,
    lease_lost: Arc<AtomicU64>,
    next_holder: AtomicU64,
}

impl Lock {
    /// Builds it.
    pub fn new(p: &Params, reg: &Registry, kind: Kind) -> Self {
        let variant = match kind {
            Kind::Correct => &CORRECT,
            Kind::NoNx => &NO_NX,
            Kind::UnsafeRelease => &UNSAFE_RELEASE,
        };
        Self {
            prefix: variant.prefix(p),
            run_prefix: p.prefix.clone(),
            locks: p.locks,
            ttl: p.lock_ttl,
            hold: p.lock_hold,
            kind,
            variant,
            table: LockTable::new(p.locks, p.lock_ttl, reg),
            busy: reg.stat("lock_busy"),
            lease_lost: reg.stat("lock_released_after_lease_expiry"),
            next_holder: AtomicU64::new(1),
        }
    }

    /// The keys of lock `lock_id`, tagged by it.
    fn keys(&self, lock_id: u64) -> LockKeys {
        let lock = format!("{}{}", self.prefix, tag(&self.run_prefix, lock_id));
        LockKeys {
            fence: format!("{lock}:fence"),
            lock,
        }
    }
}

impl Workload for Lock {
    type State = ();

    fn variant(&self) -> &'static Variant {
        self.variant
    }

    fn new_state(&self, _: &mut UserCore) {}

    fn step_keys(&self, n: u64) -> Vec<StepKeys> {
        let LockKeys { lock, fence } = self.keys(n);
        vec![
            StepKeys::new(ACQUIRE_OP, [lock.clone(), fence]),
            StepKeys::new(RELEASE_OP, [lock]),
        ]
    }

    async fn action(&self, ctx: &mut Ctx<'_>, _: &mut ()) {
        let lock_id = ctx.rng().random_range(0..self.locks);
        let LockKeys {
            lock: key,
            fence: fence_key,
        } = self.keys(lock_id);
        let holder = self.next_holder.fetch_add(1, Ordering::Relaxed);
        let token = format!("{holder}-{:016x}", ctx.rng().random::<u64>());
        let acquire = if self.kind == Kind::NoNx {
            &*ACQUIRE_NO_NX
        } else {
            &*ACQUIRE
        };
        let mut inv = acquire.prepare_invoke();
        inv.key(&key)
            .key(&fence_key)
            .arg(&token)
            .arg(self.ttl.as_millis().max(1) as u64);
        let reply = ctx.script::<i64>(ACQUIRE_OP, &inv).await;
        let fence = match reply.value {
            Some(0) => {
                self.busy.fetch_add(1, Ordering::Relaxed);
                return;
            }
            Some(f) => f,
            None => return,
        };
        self.table
            .acquired(lock_id, holder, fence, reply.sent, reply.received);

        let hold_us = self.hold.as_micros() as u64 * 2;
        if hold_us > 0 {
            let us = ctx.rng().random_range(0..=hold_us);
            tokio::time::sleep(Duration::from_micros(us)).await;
        }

        self.table.releasing(lock_id, holder, fence);
        if self.kind == Kind::UnsafeRelease {
            let _ = ctx
                .query::<i64>(RELEASE_OP, redis::cmd("DEL").arg(&key))
                .await;
        } else {
            let mut inv = RELEASE.prepare_invoke();
            inv.key(&key).arg(&token);
            if ctx.script::<i64>(RELEASE_OP, &inv).await.value == Some(0) {
                self.lease_lost.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
