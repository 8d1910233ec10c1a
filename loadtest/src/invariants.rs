//! Correctness invariants, counted while the load runs.
//!
//! Every Goose user shares one [`Registry`] (behind an `Arc`) holding a
//! violation counter per invariant and the trackers that decide what is a
//! violation. The trackers only ever use what the application itself could
//! know (its requests, their send and receive times, and the server's own
//! answers, including the server time a Lua script read), so a violation is
//! never a guess: each tracker documents why a correct implementation can
//! not trip it. The deliberately broken workloads (`*-broken`) show that each
//! one does trip when the implementation is wrong.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// A correctness invariant the run counts violations of. Each one is
/// declared here once: its name (the key in the summary's `invariants` and
/// in `--slo`), what a violation means, and how it is decided (the
/// README's table is generated from [`Invariant::how`] and checked by a
/// test). Workloads name the invariants they check in their
/// [`crate::workloads::Variant`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invariant {
    /// Rate limiters: admitted beyond the limit.
    OverAdmissions,
    /// Lockout: failed logins evaluated beyond the limit.
    LockoutExcessAttempts,
    /// Lock: two holders with valid leases.
    DoubleHolds,
    /// Lock: a fencing token that did not grow.
    FenceRegressions,
    /// Idempotency: a request key accepted twice.
    DuplicatesAccepted,
    /// Session: a live session read as missing.
    LostSessions,
    /// Session: a revoked session read as valid.
    RevokedSessionsReadable,
}

impl Invariant {
    /// Every invariant, in the order tables list them.
    pub const ALL: [Self; 7] = [
        Self::OverAdmissions,
        Self::LockoutExcessAttempts,
        Self::DoubleHolds,
        Self::FenceRegressions,
        Self::DuplicatesAccepted,
        Self::LostSessions,
        Self::RevokedSessionsReadable,
    ];

    /// The key in the summary's `invariants` map and in `--slo` gates.
    /// Summaries written by other versions are merged by this name, so it
    /// never changes.
    pub const fn name(self) -> &'static str {
        match self {
            Self::OverAdmissions => "over_admissions",
            Self::LockoutExcessAttempts => "lockout_excess_attempts",
            Self::DoubleHolds => "double_holds",
            Self::FenceRegressions => "fence_regressions",
            Self::DuplicatesAccepted => "duplicates_accepted",
            Self::LostSessions => "lost_sessions",
            Self::RevokedSessionsReadable => "revoked_sessions_readable",
        }
    }

    /// What one violation means, in one line.
    pub const fn meaning(self) -> &'static str {
        match self {
            Self::OverAdmissions => {
                "rate limiters: requests admitted beyond the limit of their client and window"
            }
            Self::LockoutExcessAttempts => {
                "lockout: failed logins evaluated beyond the limit in a window (password guesses an attacker got for free)"
            }
            Self::DoubleHolds => {
                "lock: an acquire succeeded while another holder's lease was certainly still valid"
            }
            Self::FenceRegressions => {
                "lock: a holder with a valid lease got a fencing token not above one already released"
            }
            Self::DuplicatesAccepted => {
                "idempotency: a request key accepted more than once within its TTL"
            }
            Self::LostSessions => {
                "session: a live session read as missing before its TTL could have run out"
            }
            Self::RevokedSessionsReadable => "session: a revoked session still read as valid",
        }
    }

    /// How a violation is decided, and by what: the README's invariant table.
    pub const fn how(self) -> &'static str {
        match self {
            Self::OverAdmissions => {
                "fixed window ([`FixedWindowTracker`]): admissions per (client, window index), the window being part of the key. Sliding window ([`SlidingWindowTracker`]): the script returns the server time it admitted at; for every admission, admissions of its client in `(t - window, t]` must not exceed the limit (exact in any reply order). Token bucket ([`TokenBucketTracker`]): admissions replayed per client in server-time order through a reference bucket."
            }
            Self::LockoutExcessAttempts => {
                "failed logins evaluated per account in any window, by server time ([`SlidingWindowTracker`] over the lockout's attempts)."
            }
            Self::DoubleHolds => {
                "a shared \"current holder\" record per lock ([`LockTable`]), set on acquire and cleared before release; an acquire that finds another holder whose lease is certainly still valid (its acquire was sent less than the TTL before our reply) is a double hold; later, it is a lease takeover (a statistic)."
            }
            Self::FenceRegressions => {
                "a holder with a valid lease got a fencing token not above one already released ([`LockTable`])."
            }
            Self::DuplicatesAccepted => {
                "request ids accepted twice (`SET NX EX` said OK twice; [`OnceSet`])."
            }
            Self::LostSessions => {
                "a session read as missing before its last successful touch's *send* time + TTL (the session workload's own record of live sessions)."
            }
            Self::RevokedSessionsReadable => {
                "a session read as valid after its revoke (or its account's revoke-all) was acknowledged (the session workload's record of revoked sessions)."
            }
        }
    }

    /// The invariant called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|i| i.name() == name)
    }

    /// Every name, comma separated (for error messages).
    pub fn names() -> String {
        Self::ALL.map(Self::name).join(", ")
    }

    /// The README's invariant table (markdown rows), from [`Self::how`]
    /// with the rustdoc links turned into plain code spans.
    pub fn table() -> String {
        let mut out = String::from("| invariant | how it is decided |\n| --- | --- |\n");
        for i in Self::ALL {
            let how = i.how().replace("[`", "`").replace("`]", "`");
            out.push_str(&format!("| `{}` | {how} |\n", i.name()));
        }
        out
    }
}

impl std::fmt::Display for Invariant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How late (server time) a result may arrive and still be checked in order.
const LATENESS: Duration = Duration::from_secs(10);

/// Locks a mutex, recovering the data if a holder panicked: counters and
/// trackers stay usable (a panic is itself reported as a failed transaction).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

const SHARDS: usize = 16;

fn shard_of(key: u64) -> usize {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60) as usize % SHARDS
}

/// Violation counters by invariant, plus plain statistics.
#[derive(Default)]
pub struct Registry {
    counters: Mutex<BTreeMap<Invariant, Arc<AtomicU64>>>,
    stats: Mutex<BTreeMap<&'static str, Arc<AtomicU64>>>,
}

impl Registry {
    /// The counter of an invariant (created at zero on first use, so the
    /// summary lists every invariant the selected workloads check).
    /// Takes the invariant or a reference to it, as a workload's list
    /// yields it.
    pub fn counter(&self, invariant: impl Borrow<Invariant>) -> Arc<AtomicU64> {
        lock(&self.counters)
            .entry(*invariant.borrow())
            .or_default()
            .clone()
    }

    /// The invariants that have a counter.
    pub fn declared(&self) -> Vec<Invariant> {
        lock(&self.counters).keys().copied().collect()
    }

    /// A statistic counter (not an invariant), such as `cache_hits`.
    pub fn stat(&self, name: &'static str) -> Arc<AtomicU64> {
        lock(&self.stats).entry(name).or_default().clone()
    }

    /// Current violations per invariant name (the summary's keys).
    pub fn violations(&self) -> BTreeMap<String, u64> {
        lock(&self.counters)
            .iter()
            .map(|(k, v)| (k.name().to_owned(), v.load(Ordering::Relaxed)))
            .collect()
    }

    /// Sum of all violations.
    pub fn total(&self) -> u64 {
        lock(&self.counters)
            .values()
            .map(|v| v.load(Ordering::Relaxed))
            .sum()
    }

    /// Current statistics.
    pub fn stats(&self) -> BTreeMap<String, f64> {
        lock(&self.stats)
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.load(Ordering::Relaxed) as f64))
            .collect()
    }
}

/// Fixed-window limiter check: admissions per (client, window index) must
/// not exceed the limit. The window index is part of the Redis key, so a
/// correct limiter counts exactly what this tracker counts.
pub struct FixedWindowTracker {
    limit: u64,
    shards: Vec<Mutex<FixedShard>>,
    violations: Arc<AtomicU64>,
}

#[derive(Default)]
struct FixedShard {
    counts: HashMap<(u64, u64), u64>,
    newest: u64,
}

impl FixedWindowTracker {
    /// A tracker for `limit` admissions per window.
    pub fn new(limit: u64, violations: Arc<AtomicU64>) -> Self {
        Self {
            limit,
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            violations,
        }
    }

    /// Records an admission of `client` in window `window`.
    pub fn admit(&self, client: u64, window: u64) {
        let mut s = lock(&self.shards[shard_of(client)]);
        let c = s.counts.entry((client, window)).or_insert(0);
        *c += 1;
        if *c > self.limit {
            self.violations.fetch_add(1, Ordering::Relaxed);
        }
        if window > s.newest {
            s.newest = window;
            if s.counts.len() > 4096 {
                // Results for a window arrive within the response timeout;
                // three windows back is far beyond it.
                s.counts.retain(|(_, w), _| w + 3 >= window);
            }
        }
    }
}

/// Sliding-window check: for every admission at server time `u`, the
/// admissions of its client in `(u - window, u]` must not exceed the limit.
///
/// The limiter's script reads the server clock (`TIME`), trims the sorted set
/// to `(now - window, now]` and admits only while fewer than `limit` remain,
/// all in one atomic step; it returns `now`. Scripts run one at a time, so a
/// correct limiter never has more than `limit` admissions in any such window,
/// whatever order the replies reach us in. Results arrive out of order across
/// users, so each insert re-checks the windows it falls into and counts an
/// admission once, when its window first goes over the limit.
pub struct SlidingWindowTracker {
    limit: u64,
    window_us: u64,
    shards: Vec<Mutex<HashMap<u64, SlidingLog>>>,
    violations: Arc<AtomicU64>,
}

#[derive(Default)]
struct SlidingLog {
    at: BTreeMap<u64, u64>,
    newest: u64,
    inserts: u64,
}

impl SlidingWindowTracker {
    /// A tracker for `limit` admissions per `window`.
    pub fn new(limit: u64, window: Duration, violations: Arc<AtomicU64>) -> Self {
        Self {
            limit,
            window_us: (window.as_micros() as u64).max(1),
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            violations,
        }
    }

    /// Records an admission of `client` at server time `t_us`.
    pub fn admit(&self, client: u64, t_us: u64) {
        let w = self.window_us;
        let mut shard = lock(&self.shards[shard_of(client)]);
        let log = shard.entry(client).or_default();
        *log.at.entry(t_us).or_insert(0) += 1;
        log.newest = log.newest.max(t_us);
        log.inserts += 1;

        // Every window that contains t ends at some u in [t, t + w).
        let lo = (t_us + 1).saturating_sub(w);
        let hi = t_us.saturating_add(w - 1);
        let entries: Vec<(u64, u64)> = log.at.range(lo..=hi).map(|(k, v)| (*k, *v)).collect();
        let mut newly = 0;
        let (mut left, mut sum) = (0, 0u64);
        for (j, &(u, n)) in entries.iter().enumerate() {
            sum += n;
            while entries[left].0 + w <= u {
                sum -= entries[left].1;
                left += 1;
            }
            if u < t_us {
                continue;
            }
            // `sum` is the count in (u - w, u] after this insert; before it,
            // one less. Admissions at u other than the new one cross the
            // limit now if the count was exactly `limit` before.
            let others = if u == t_us { n - 1 } else { n };
            if sum - 1 == self.limit {
                newly += others;
            }
            if u == t_us && sum > self.limit {
                newly += 1;
            }
            let _ = j;
        }
        if newly > 0 {
            self.violations.fetch_add(newly, Ordering::Relaxed);
        }
        if log.inserts.is_multiple_of(256) {
            let keep_after = log.newest.saturating_sub(w + LATENESS.as_micros() as u64);
            log.at = log.at.split_off(&keep_after);
        }
    }
}

/// Token-bucket check: replays the admissions of each client, in server-time
/// order, through a reference bucket with the same capacity and refill rate
/// and counts the admissions it would have refused.
///
/// The bucket's script reads the server clock and updates the bucket in one
/// atomic step, so the server's sequence of admissions is exactly a replay in
/// time order. Replies arrive out of order, so admissions are held until the
/// newest server time seen is [`LATENESS`] past them (and all at the end).
/// Refusals refill the bucket the same way and are left out; the tolerance
/// absorbs floating-point differences between the two refill paths.
pub struct TokenBucketTracker {
    capacity: f64,
    per_us: f64,
    shards: Vec<Mutex<HashMap<u64, BucketLog>>>,
    violations: Arc<AtomicU64>,
}

struct BucketLog {
    pending: BTreeMap<u64, u64>,
    tokens: f64,
    last: Option<u64>,
    newest: u64,
}

const TOKEN_EPSILON: f64 = 1e-6;

impl TokenBucketTracker {
    /// A tracker for a bucket of `capacity` tokens refilled at `per_us`
    /// tokens per microsecond.
    pub fn new(capacity: f64, per_us: f64, violations: Arc<AtomicU64>) -> Self {
        Self {
            capacity,
            per_us,
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            violations,
        }
    }

    /// Records an admission of `client` at server time `t_us`.
    pub fn admit(&self, client: u64, t_us: u64) {
        let mut shard = lock(&self.shards[shard_of(client)]);
        let log = shard.entry(client).or_insert_with(|| BucketLog {
            pending: BTreeMap::new(),
            tokens: self.capacity,
            last: None,
            newest: 0,
        });
        *log.pending.entry(t_us).or_insert(0) += 1;
        log.newest = log.newest.max(t_us);
        let watermark = log.newest.saturating_sub(LATENESS.as_micros() as u64);
        let refused = self.settle(log, watermark);
        if refused > 0 {
            self.violations.fetch_add(refused, Ordering::Relaxed);
        }
    }

    /// Replays everything still held; call once the load has stopped.
    pub fn finish(&self) {
        for shard in &self.shards {
            let mut shard = lock(shard);
            for log in shard.values_mut() {
                let refused = self.settle(log, u64::MAX);
                if refused > 0 {
                    self.violations.fetch_add(refused, Ordering::Relaxed);
                }
            }
        }
    }

    fn settle(&self, log: &mut BucketLog, up_to: u64) -> u64 {
        let mut refused = 0;
        let later = match up_to.checked_add(1) {
            Some(next) => log.pending.split_off(&next),
            None => BTreeMap::new(),
        };
        let ready = std::mem::replace(&mut log.pending, later);
        for (t, n) in ready {
            let elapsed = log.last.map_or(0, |l| t.saturating_sub(l));
            log.tokens = match log.last {
                None => self.capacity,
                Some(_) => (log.tokens + elapsed as f64 * self.per_us).min(self.capacity),
            };
            log.last = Some(log.last.map_or(t, |l| l.max(t)));
            for _ in 0..n {
                if log.tokens >= 1.0 - TOKEN_EPSILON {
                    log.tokens -= 1.0;
                } else {
                    refused += 1;
                }
            }
        }
        refused
    }
}

/// Lock check: a shared record of who holds each lock, set when an acquire
/// reply arrives and cleared before the release is sent.
///
/// With a correct lock, between a holder's acquire reply and its release the
/// key is its own, so no other acquire can succeed and the record is always
/// clear when one does. An acquire that finds the record set is a double
/// hold if the other holder's lease was certainly still valid: the lease
/// runs at least until the other's acquire was *sent* plus the TTL, and the
/// new acquire happened at the latest when its reply was *received*. Later
/// than that, the other holder merely outlived its lease (a takeover, counted
/// as a statistic): exactly the case fencing tokens exist for.
///
/// Records are made after the reply, and a user may be held up between its
/// reply and its record (it yields to Goose's metrics channel there), so the
/// record found may belong to an acquire that happened *after* ours on the
/// server. Only what the round trips prove counts: an acquire received
/// before the other was sent certainly came first, and a double hold is
/// called only if the later acquire certainly fell in the earlier one's
/// lease, in every order the two round trips allow.
pub struct LockTable {
    ttl: Duration,
    slots: Vec<Mutex<LockSlot>>,
    double_holds: Arc<AtomicU64>,
    fence_regressions: Arc<AtomicU64>,
    takeovers: Arc<AtomicU64>,
}

#[derive(Default)]
struct LockSlot {
    holder: Option<Acquire>,
    last_released_fence: i64,
    /// When the release of `last_released_fence` was recorded (after that
    /// holder's acquire reply, before its release was sent).
    last_released_at: Option<Instant>,
}

/// One successful acquire as the client saw it.
#[derive(Clone, Copy)]
struct Acquire {
    id: u64,
    sent: Instant,
    received: Instant,
}

impl Acquire {
    /// Whether this acquire and `later` certainly both held the lock at
    /// once: `later` succeeded before this one's lease could have run out
    /// (the lease lasts at least from `sent` for `ttl`).
    fn overlapped_by(&self, later: &Acquire, ttl: Duration) -> bool {
        later.received < self.sent + ttl
    }

    /// Whether this acquire may have run on the server before `other`.
    fn may_precede(&self, other: &Acquire) -> bool {
        self.sent < other.received
    }
}

impl LockTable {
    /// A table for `locks` locks with lease `ttl`.
    pub fn new(locks: u64, ttl: Duration, registry: &Registry) -> Self {
        Self {
            ttl,
            slots: (0..locks).map(|_| Mutex::default()).collect(),
            double_holds: registry.counter(Invariant::DoubleHolds),
            fence_regressions: registry.counter(Invariant::FenceRegressions),
            takeovers: registry.stat("lock_takeovers_after_lease_expiry"),
        }
    }

    /// Records a successful acquire of `lock` by holder `id` with `fence`;
    /// `sent` and `received` bracket the acquire round trip.
    pub fn acquired(&self, lock_id: u64, id: u64, fence: i64, sent: Instant, received: Instant) {
        let Some(slot) = self.slots.get(lock_id as usize) else {
            return;
        };
        let mut slot = lock(slot);
        let ours = Acquire { id, sent, received };
        let mut holder = ours;
        if let Some(other) = slot.holder {
            // In each order the round trips allow, the second acquire must
            // have landed in the first one's lease for a certain double hold.
            let other_first = !other.may_precede(&ours) || other.overlapped_by(&ours, self.ttl);
            let ours_first = !ours.may_precede(&other) || ours.overlapped_by(&other, self.ttl);
            if other_first && ours_first {
                self.double_holds.fetch_add(1, Ordering::Relaxed);
            } else {
                self.takeovers.fetch_add(1, Ordering::Relaxed);
            }
            if !other.may_precede(&ours) {
                // Ours certainly ran first and was recorded late: `other`
                // holds the lock now.
                holder = other;
            }
        }
        // A lower fence than one released is a regression only if our
        // acquire was sent after that release was recorded, hence after the
        // acquire that took the higher fence.
        let after_release = slot.last_released_at.is_some_and(|at| sent >= at);
        if fence <= slot.last_released_fence && after_release && received < sent + self.ttl {
            self.fence_regressions.fetch_add(1, Ordering::Relaxed);
        }
        slot.holder = Some(holder);
    }

    /// Clears the record of `lock` if `id` still holds it; call before
    /// sending the release.
    pub fn releasing(&self, lock_id: u64, id: u64, fence: i64) {
        let Some(slot) = self.slots.get(lock_id as usize) else {
            return;
        };
        let mut slot = lock(slot);
        if slot.holder.is_some_and(|h| h.id == id) {
            slot.holder = None;
        }
        if fence >= slot.last_released_fence {
            slot.last_released_fence = fence;
            slot.last_released_at = Some(Instant::now());
        }
    }
}

/// A set of request ids, to find ids accepted twice (idempotency).
pub struct OnceSet {
    shards: Vec<Mutex<Vec<u64>>>,
}

impl Default for OnceSet {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
        }
    }
}

impl OnceSet {
    /// Marks `id`; false when it was already marked.
    pub fn insert(&self, id: u64) -> bool {
        // Ids are dense from 0, so a bitmap per shard stays small.
        let (shard, index) = ((id % SHARDS as u64) as usize, id / SHARDS as u64);
        let (word, bit) = ((index / 64) as usize, 1u64 << (index % 64));
        let mut bits = lock(&self.shards[shard]);
        if bits.len() <= word {
            bits.resize(word + 1, 0);
        }
        let fresh = bits[word] & bit == 0;
        bits[word] |= bit;
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter() -> Arc<AtomicU64> {
        Arc::new(AtomicU64::new(0))
    }

    fn n(c: &Arc<AtomicU64>) -> u64 {
        c.load(Ordering::Relaxed)
    }

    #[test]
    fn fixed_window_counts_admissions_over_the_limit() {
        let v = counter();
        let t = FixedWindowTracker::new(2, v.clone());
        for _ in 0..2 {
            t.admit(1, 10);
            t.admit(2, 10);
            t.admit(1, 11);
        }
        assert_eq!(n(&v), 0);
        t.admit(1, 10);
        t.admit(1, 10);
        assert_eq!(n(&v), 2);
    }

    #[test]
    fn sliding_window_is_exact_in_any_arrival_order() {
        // limit 2 per 10 µs. Admissions at 0, 5, 9 put three in (−1, 9]:
        // exactly one admission (at 9) sees its window over the limit.
        for order in [[0u64, 5, 9], [9, 5, 0], [5, 9, 0], [9, 0, 5]] {
            let v = counter();
            let t = SlidingWindowTracker::new(2, Duration::from_micros(10), v.clone());
            for at in order {
                t.admit(7, at);
            }
            assert_eq!(n(&v), 1, "order {order:?}");
        }
        // 0, 10, 20 never share a window (the window is half-open).
        let v = counter();
        let t = SlidingWindowTracker::new(1, Duration::from_micros(10), v.clone());
        for at in [20, 0, 10] {
            t.admit(1, at);
        }
        assert_eq!(n(&v), 0);
        // Two admissions in the same microsecond with limit 1: both over.
        t.admit(1, 30);
        t.admit(1, 30);
        assert_eq!(n(&v), 2);
    }

    #[test]
    fn token_bucket_replays_in_server_order() {
        // Capacity 2, one token per 10 µs.
        let v = counter();
        let t = TokenBucketTracker::new(2.0, 0.1, v.clone());
        for at in [20, 0, 1, 10] {
            t.admit(3, at);
        }
        t.finish();
        assert_eq!(n(&v), 0, "0,1 use the burst, 10 and 20 the refill");
        t.admit(3, 21);
        t.finish();
        assert_eq!(n(&v), 1, "21 comes before the next token");
    }

    #[test]
    fn lock_table_tells_double_holds_from_takeovers() {
        let reg = Registry::default();
        let table = LockTable::new(1, Duration::from_millis(100), &reg);
        let t0 = Instant::now();
        table.acquired(0, 1, 1, t0, t0);
        table.releasing(0, 1, 1);
        table.acquired(0, 2, 2, t0, t0);
        assert_eq!(reg.total(), 0);
        table.acquired(0, 3, 3, t0, t0 + Duration::from_millis(10));
        assert_eq!(reg.violations()["double_holds"], 1);
        table.acquired(0, 4, 4, t0, t0 + Duration::from_millis(500));
        assert_eq!(
            reg.violations()["double_holds"],
            1,
            "holder 3's lease had run out"
        );
        assert_eq!(reg.stats()["lock_takeovers_after_lease_expiry"], 1.0);
        table.releasing(0, 4, 4);
        let t1 = Instant::now();
        table.acquired(0, 5, 4, t1, t1);
        assert_eq!(reg.violations()["fence_regressions"], 1);
    }

    #[test]
    fn lock_table_judges_a_late_record_by_the_round_trips_not_the_record_order() {
        let ttl = Duration::from_millis(20);
        let ms = Duration::from_millis;
        let reg = Registry::default();
        let table = LockTable::new(1, ttl, &reg);
        let t0 = Instant::now();
        // Holder 1's acquire ran at ~0 ms, but its user was held up before
        // recording; its lease ran out and holder 2 took the lock at ~30 ms
        // and recorded first. Holder 1's late record is not a double hold,
        // and its lower fence is not a regression: 2's release came later.
        table.acquired(0, 2, 2, t0 + ms(30), t0 + ms(31));
        table.acquired(0, 1, 1, t0, t0 + ms(1));
        assert_eq!(reg.total(), 0, "{:?}", reg.violations());
        assert_eq!(reg.stats()["lock_takeovers_after_lease_expiry"], 1.0);
        table.releasing(0, 1, 1);
        // Holder 2 still holds (the late record did not replace it): a third
        // acquire inside 2's lease is a double hold.
        table.acquired(0, 3, 3, t0 + ms(32), t0 + ms(33));
        assert_eq!(reg.violations()["double_holds"], 1);
        // Recorded late the other way round but inside the lease: still one.
        let reg = Registry::default();
        let table = LockTable::new(1, ttl, &reg);
        table.acquired(0, 2, 2, t0 + ms(5), t0 + ms(6));
        table.acquired(0, 1, 1, t0, t0 + ms(1));
        assert_eq!(reg.violations()["double_holds"], 1);
    }

    #[test]
    fn invariant_names_round_trip_and_are_unique() {
        for (k, i) in Invariant::ALL.iter().enumerate() {
            assert_eq!(Invariant::from_name(i.name()), Some(*i));
            assert!(Invariant::ALL[..k].iter().all(|o| o.name() != i.name()));
        }
        assert_eq!(Invariant::from_name("over_admission"), None);
    }

    #[test]
    fn readme_has_the_invariant_table_as_declared() {
        let readme = include_str!("../../README.md");
        for row in Invariant::table().lines() {
            assert!(
                readme.contains(row),
                "README.md (loadtest, Invariants) is missing or has an old row:\n{row}"
            );
        }
    }

    #[test]
    fn once_set_finds_repeats() {
        let s = OnceSet::default();
        assert!(s.insert(0));
        assert!(s.insert(1_000_003));
        assert!(!s.insert(0));
        assert!(!s.insert(1_000_003));
        assert!(s.insert(17));
    }
}
