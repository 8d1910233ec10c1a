//! Workloads: what the Goose users do, one module per application pattern.
//!
//! [`REGISTRY`] is the one ordered list of workloads; `--workload` parsing,
//! `loadtest workloads` and the README's table come from it. Each workload
//! implements [`Workload`]: one application *action* (admit a request,
//! validate a session, take a lock, …) made of one or more timed Redis
//! round trips. A Goose transaction runs a batch of actions back to back
//! (`--actions-per-transaction`), which keeps Goose's per-transaction
//! bookkeeping off the hot path while every round trip is still recorded in
//! Goose's metrics individually.
//!
//! Workloads whose name ends in `-broken` are hidden: deliberately wrong
//! implementations that exist to prove each invariant checker catches the
//! bug it is there for.
//!
//! Every workload also declares the keys each of its operations sends
//! ([`Workload::step_keys`]), built by the code its actions use. On Redis
//! Cluster a step sending several keys in one command, script or
//! transaction must keep them in one slot (a shared hash tag, see
//! [`crate::keys`]); the registry test checks every workload's steps do,
//! and that different clients, accounts and locks still spread over slots.

pub mod cache;
pub mod getset;
pub mod idempotency;
pub mod lock;
pub mod lockout;
pub mod ratelimit_fixed;
pub mod ratelimit_sliding;
pub mod ratelimit_token_bucket;
pub mod session;

use crate::conn::{is_connection_error, NotReady};
use crate::invariants::{lock as lock_mutex, Registry};
use crate::metrics::{OpId, Recorder, CONNECT};
use crate::pacing::{is_late, lateness, Pace, Schedule};
use crate::run::RunShared;
use goose::goose::{GooseUser, Scenario, Transaction, TransactionFunction, TransactionResult};
use goose::GooseError;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use redis::FromRedisValue;
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};
use thiserror::Error;

/// Goose method label of every Redis operation.
pub const METHOD: &str = "REDIS";

/// Longest a batch of actions runs before handing control back to Goose
/// (which checks between transactions whether the run is over).
const TRANSACTION_BUDGET: Duration = Duration::from_millis(100);

/// Longest a user sleeps inside one transaction while backing off.
const BACKOFF_STEP: Duration = Duration::from_millis(200);

/// Longest an open-loop transaction lasts, waits for intended starts
/// included: long enough that a user with a 500 ms interval costs Goose
/// only a few transactions a second, short enough that the run ends on
/// time (Goose ends a user between transactions).
const OPEN_LOOP_BUDGET: Duration = Duration::from_millis(250);

/// Workload parameters, from the command line.
#[derive(Clone, Debug)]
pub struct Params {
    /// Key prefix of the run (`lt:<run id>:`), so runs never share keys.
    pub prefix: String,
    /// Distinct clients / accounts / senders.
    pub clients: u64,
    /// Limit per window (rate limits, failed logins).
    pub limit: u64,
    /// Window.
    pub window: Duration,
    /// getset and cache key space.
    pub keyspace: u64,
    /// Value size in bytes.
    pub value_size: usize,
    /// Fraction of GETs in getset.
    pub get_ratio: f64,
    /// Session TTL.
    pub session_ttl: Duration,
    /// Cache TTL.
    pub cache_ttl: Duration,
    /// Idempotency key TTL.
    pub idempotency_ttl: Duration,
    /// Lock names.
    pub locks: u64,
    /// Lock lease.
    pub lock_ttl: Duration,
    /// Mean lock hold time.
    pub lock_hold: Duration,
    /// Actions per Goose transaction.
    pub actions_per_transaction: u32,
}

impl Params {
    /// Parameters as JSON, for the summary's `settings`.
    pub fn settings(&self) -> Vec<(&'static str, serde_json::Value)> {
        use serde_json::json;
        let ms = |d: Duration| json!(d.as_secs_f64() * 1000.0);
        vec![
            ("clients", json!(self.clients)),
            ("limit", json!(self.limit)),
            ("window_ms", ms(self.window)),
            ("keyspace", json!(self.keyspace)),
            ("value_size", json!(self.value_size)),
            ("get_ratio", json!(self.get_ratio)),
            ("session_ttl_ms", ms(self.session_ttl)),
            ("cache_ttl_ms", ms(self.cache_ttl)),
            ("idempotency_ttl_ms", ms(self.idempotency_ttl)),
            ("locks", json!(self.locks)),
            ("lock_ttl_ms", ms(self.lock_ttl)),
            ("lock_hold_ms", ms(self.lock_hold)),
            (
                "actions_per_transaction",
                json!(self.actions_per_transaction),
            ),
        ]
    }
}

/// Per-user state every workload gets: connection, randomness, samples.
pub struct UserCore {
    /// The user's connection.
    pub conn: crate::conn::UserConn,
    /// Fast randomness.
    pub rng: SmallRng,
    /// Goose's index of this user.
    pub index: usize,
    seq: u64,
    rec: Recorder,
    goose_ns: u64,
    goose_timed: u64,
    tick: u32,
    schedule: Option<Schedule>,
}

impl UserCore {
    fn new(index: usize, pace: Pace) -> Self {
        let mut rng = SmallRng::from_rng(&mut rand::rng());
        let schedule = match pace {
            Pace::Closed => None,
            Pace::Open { interval } => {
                let phase = interval.mul_f64(rng.random_range(0.0..1.0));
                Some(Schedule::new(Instant::now(), interval, phase))
            }
        };
        Self {
            conn: crate::conn::UserConn::default(),
            rng,
            index,
            seq: 0,
            rec: Recorder::default(),
            goose_ns: 0,
            goose_timed: 0,
            tick: 0,
            schedule,
        }
    }

    /// A number unique within this user, for unique ids and members.
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    /// An id unique within the run: `<user>-<sequence>`.
    pub fn unique_id(&mut self) -> String {
        let seq = self.next_seq();
        format!("{}-{seq}", self.index)
    }
}

/// What a timed round trip returned, with when it was sent and answered.
pub struct Reply<T> {
    /// The value; `None` when the operation failed (already counted).
    pub value: Option<T>,
    /// Just before sending.
    pub sent: Instant,
    /// Just after the answer.
    pub received: Instant,
}

/// What one action runs with.
pub struct Ctx<'a> {
    user: &'a mut GooseUser,
    /// The user's state.
    pub core: &'a mut UserCore,
    /// Everything shared by the run.
    pub run: &'a RunShared,
    base: OpId,
    /// The action's intended start (open loop), taken by its first round
    /// trip: later round trips of the action depend on earlier answers, so
    /// they are measured from their send.
    intended: Option<Instant>,
}

/// Goose records one round trip in `record_overhead_sample` of this many.
const OVERHEAD_SAMPLE_EVERY: u32 = 16;

impl Ctx<'_> {
    /// Runs a command as operation `op` (index into the workload's `OPS`).
    pub async fn query<T: FromRedisValue>(&mut self, op: usize, cmd: &redis::Cmd) -> Reply<T> {
        let sent = Instant::now();
        let result = match self.core.conn.conn.as_mut() {
            Some(c) => cmd.query_async::<T>(c).await,
            None => Err(not_connected()),
        };
        self.finish(op, sent, result).await
    }

    /// Runs a pipeline (or MULTI/EXEC, with `.atomic()`) as one operation.
    pub async fn pipe<T: FromRedisValue>(&mut self, op: usize, pipe: &redis::Pipeline) -> Reply<T> {
        let sent = Instant::now();
        let result = match self.core.conn.conn.as_mut() {
            Some(c) => pipe.query_async::<T>(c).await,
            None => Err(not_connected()),
        };
        self.finish(op, sent, result).await
    }

    /// Runs a Lua script (EVALSHA, loading it on NOSCRIPT) as one operation.
    pub async fn script<T: FromRedisValue>(
        &mut self,
        op: usize,
        inv: &redis::ScriptInvocation<'_>,
    ) -> Reply<T> {
        let sent = Instant::now();
        let result = match self.core.conn.conn.as_mut() {
            Some(c) => inv.invoke_async::<T>(c).await,
            None => Err(not_connected()),
        };
        self.finish(op, sent, result).await
    }

    /// Reads the server clock (`TIME`) as operation `op`, in µs since the
    /// epoch: what the scripts stamp their events with, so that the client
    /// side steps of the broken variants are checked on the same clock.
    pub async fn server_time_us(&mut self, op: usize) -> Option<u64> {
        let (sec, usec) = self
            .query::<(u64, u64)>(op, &redis::cmd("TIME"))
            .await
            .value?;
        Some(sec * 1_000_000 + usec)
    }

    /// The user's randomness.
    pub fn rng(&mut self) -> &mut SmallRng {
        &mut self.core.rng
    }

    async fn finish<T>(
        &mut self,
        op: usize,
        sent: Instant,
        result: redis::RedisResult<T>,
    ) -> Reply<T> {
        let received = Instant::now();
        let service = received - sent;
        let latency = match self.intended.take() {
            Some(intended) => service + lateness(intended, sent),
            None => service,
        };
        let op = self.base + op as OpId;
        let (value, error) = match result {
            Ok(v) => (Some(v), None),
            Err(e) => {
                if is_connection_error(&e) {
                    self.run.conns.broken(&mut self.core.conn).await;
                }
                (None, Some(e))
            }
        };
        record(
            self.user,
            self.core,
            self.run,
            op,
            Took { latency, service },
            error.as_ref().map(|e| e.to_string()),
        )
        .await;
        Reply {
            value,
            sent,
            received,
        }
    }
}

fn not_connected() -> redis::RedisError {
    redis::RedisError::from(std::io::Error::new(
        std::io::ErrorKind::NotConnected,
        "not connected",
    ))
}

/// How long a round trip took: from its intended start and from its send.
#[derive(Clone, Copy)]
struct Took {
    latency: Duration,
    service: Duration,
}

impl Took {
    fn same(d: Duration) -> Self {
        Self {
            latency: d,
            service: d,
        }
    }
}

/// Records one round trip in our histograms and in Goose's metrics (which
/// get the latency, what the application saw).
async fn record(
    user: &mut GooseUser,
    core: &mut UserCore,
    run: &RunShared,
    op: OpId,
    took: Took,
    error: Option<String>,
) {
    match error {
        None => core.rec.ok(op, took.latency, took.service),
        Some(_) => core.rec.error(op),
    }
    let name = run.hists.ops().name(op);
    let error = error.map(|e| topology::client::scrub(&e, run.password.as_ref()));
    core.tick = core.tick.wrapping_add(1);
    let timed = core.tick.is_multiple_of(OVERHEAD_SAMPLE_EVERY);
    let started = timed.then(Instant::now);
    // An error here means Goose is shutting down its metrics channel at the
    // end of the run: nothing to do about it, and never a reason to panic.
    let _ = user
        .record_custom_request_duration(
            METHOD,
            name,
            took.latency,
            error.is_none(),
            None,
            error.as_deref(),
        )
        .await;
    if let Some(started) = started {
        core.goose_ns += started.elapsed().as_nanos() as u64;
        core.goose_timed += 1;
    }
}

/// One implementation of a workload, the correct one or a deliberately
/// broken one: its name and what it sends. Every workload picks its variant
/// when it is built, so names, key prefixes, operations and scripts of a
/// variant always go together.
pub struct Variant {
    /// `--workload` name.
    pub name: &'static str,
    /// Operation names (`workload:operation`), as Goose and the summary
    /// show them; indexes into this list name operations in [`Ctx`] calls.
    pub ops: &'static [&'static str],
    /// Lua scripts to load before users start (so ACL problems show at once).
    pub scripts: &'static [&'static LazyLock<redis::Script>],
}

impl Variant {
    /// Key prefix of this variant within the run (`lt:<run id>:<name>:`), so
    /// variants running side by side never share keys.
    pub fn prefix(&self, p: &Params) -> String {
        format!("{}{}:", p.prefix, self.name)
    }
}

/// An application pattern the users run.
pub trait Workload: Send + Sync + Sized + 'static {
    /// Per-user state.
    type State: Send + 'static;

    /// The implementation this is.
    fn variant(&self) -> &'static Variant;

    /// Fresh per-user state.
    fn new_state(&self, core: &mut UserCore) -> Self::State;

    /// Runs one application action.
    fn action<'a>(
        &'a self,
        ctx: &'a mut Ctx<'_>,
        state: &'a mut Self::State,
    ) -> impl Future<Output = ()> + Send + 'a;

    /// Called once after the load stopped, to settle late checks.
    fn finish(&self) {}

    /// The keys every operation of this variant sends in its one round trip,
    /// for the `n`-th entity the workload picks (client, account, user,
    /// lock), built by the same code as the action's. Every index of
    /// [`Variant::ops`] appears at least once (an operation with no key,
    /// like `TIME`, with an empty list), so an operation added without
    /// declaring its keys fails the registry test.
    fn step_keys(&self, n: u64) -> Vec<StepKeys>;
}

/// The keys one operation sends in one round trip (a command, a Lua
/// script's `KEYS` and the keys it derives, a MULTI/EXEC, a pipeline).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepKeys {
    /// Index into [`Variant::ops`].
    pub op: usize,
    /// The keys.
    pub keys: Vec<String>,
}

impl StepKeys {
    /// Operation `op` sending `keys`.
    pub fn new(op: usize, keys: impl IntoIterator<Item = String>) -> Self {
        Self {
            op,
            keys: keys.into_iter().collect(),
        }
    }
}

/// A workload with its type erased, as the run holds it.
pub trait Runnable: Send + Sync {
    /// Operation names.
    fn ops(&self) -> &'static [&'static str];
    /// Scripts to preload.
    fn scripts(&self) -> Vec<&'static redis::Script>;
    /// Settles late checks.
    fn finish(&self);
    /// The keys of every operation for the `n`-th entity
    /// ([`Workload::step_keys`]).
    fn step_keys(&self, n: u64) -> Vec<StepKeys>;
    /// The Goose scenario running this workload.
    fn scenario(
        self: Arc<Self>,
        name: &str,
        weight: usize,
        base: OpId,
        run: Arc<RunShared>,
    ) -> Result<Scenario, GooseError>;
}

/// A user's state while it sits in Goose's session data between transactions.
type Parked<S> = Option<Box<(UserCore, S)>>;

struct Slot<S>(Arc<Mutex<Parked<S>>>);

impl<S> Clone for Slot<S> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<W: Workload> Runnable for W {
    fn ops(&self) -> &'static [&'static str] {
        self.variant().ops
    }

    fn scripts(&self) -> Vec<&'static redis::Script> {
        self.variant()
            .scripts
            .iter()
            .map(|s| LazyLock::force(s))
            .collect()
    }

    fn finish(&self) {
        Workload::finish(self);
    }

    fn step_keys(&self, n: u64) -> Vec<StepKeys> {
        Workload::step_keys(self, n)
    }

    fn scenario(
        self: Arc<Self>,
        name: &str,
        weight: usize,
        base: OpId,
        run: Arc<RunShared>,
    ) -> Result<Scenario, GooseError> {
        let (w, r) = (self.clone(), run.clone());
        let start: TransactionFunction = Arc::new(move |user| {
            let (w, r) = (w.clone(), r.clone());
            Box::pin(async move {
                on_start(user, &*w, &r).await;
                Ok(())
            })
        });
        let (w, r) = (self, run);
        let actions: TransactionFunction = Arc::new(move |user| {
            let (w, r) = (w.clone(), r.clone());
            Box::pin(async move { run_actions(user, &*w, &r, base).await })
        });
        Ok(Scenario::new(name)
            .set_weight(weight)?
            .register_transaction(Transaction::new(start).set_on_start().set_name("connect"))
            .register_transaction(Transaction::new(actions).set_name("actions")))
    }
}

async fn on_start<W: Workload>(user: &mut GooseUser, w: &W, run: &RunShared) {
    run.user_started();
    let mut core = UserCore::new(user.weighted_users_index, run.pace);
    let state = w.new_state(&mut core);
    connect_if_needed(user, &mut core, run).await;
    run.hists.flush(&mut core.rec, core.index);
    user.set_session_data(Slot(Arc::new(Mutex::new(Some(Box::new((core, state)))))));
}

/// Connects when the user has no connection; false when it must not run
/// actions now (backing off, or the attempt failed).
async fn connect_if_needed(user: &mut GooseUser, core: &mut UserCore, run: &RunShared) -> bool {
    match run.conns.ensure(&mut core.conn).await {
        Ok(None) => true,
        Ok(Some(took)) => {
            record(user, core, run, CONNECT, Took::same(took), None).await;
            true
        }
        Err(NotReady::Backoff(wait)) => {
            tokio::time::sleep(wait.min(BACKOFF_STEP)).await;
            false
        }
        Err(NotReady::Failed(e, took)) => {
            record(
                user,
                core,
                run,
                CONNECT,
                Took::same(took),
                Some(e.to_string()),
            )
            .await;
            false
        }
    }
}

async fn run_actions<W: Workload>(
    user: &mut GooseUser,
    w: &W,
    run: &RunShared,
    base: OpId,
) -> TransactionResult {
    let taken = user
        .get_session_data::<Slot<W::State>>()
        .and_then(|slot| lock_mutex(&slot.0).take());
    let mut boxed = match taken {
        Some(b) => b,
        None => {
            let mut core = UserCore::new(user.weighted_users_index, run.pace);
            let state = w.new_state(&mut core);
            Box::new((core, state))
        }
    };
    let (core, state) = &mut *boxed;
    if core.schedule.is_some() {
        run_paced(user, w, run, base, core, state).await;
    } else {
        let deadline = Instant::now() + TRANSACTION_BUDGET;
        for _ in 0..run.params.actions_per_transaction {
            if core.conn.conn.is_none() && !connect_if_needed(user, core, run).await {
                break;
            }
            let mut ctx = Ctx {
                user: &mut *user,
                core: &mut *core,
                run,
                base,
                intended: None,
            };
            w.action(&mut ctx, state).await;
            if Instant::now() >= deadline {
                break;
            }
        }
    }
    run.hists.flush(&mut core.rec, core.index);
    run.add_goose_overhead(
        std::mem::take(&mut core.goose_ns),
        std::mem::take(&mut core.goose_timed),
    );
    match user.get_session_data::<Slot<W::State>>() {
        Some(slot) => *lock_mutex(&slot.0) = Some(boxed),
        None => user.set_session_data(Slot(Arc::new(Mutex::new(Some(boxed))))),
    }
    Ok(())
}

/// Open loop: runs the actions whose intended start falls within this
/// transaction's budget, each at its intended start (or at once when the
/// user is behind, counted late), and sleeps in between.
async fn run_paced<W: Workload>(
    user: &mut GooseUser,
    w: &W,
    run: &RunShared,
    base: OpId,
    core: &mut UserCore,
    state: &mut W::State,
) {
    let deadline = Instant::now() + OPEN_LOOP_BUDGET;
    for _ in 0..run.params.actions_per_transaction {
        let Some(wake) = core.schedule.as_ref().map(Schedule::wake_at) else {
            return;
        };
        if wake > Instant::now() {
            if wake > deadline {
                // Back to Goose, which ends the user here if the run is over.
                tokio::time::sleep_until(deadline.into()).await;
                return;
            }
            tokio::time::sleep_until(wake.into()).await;
        }
        if core.conn.conn.is_none() && !connect_if_needed(user, core, run).await {
            // The schedule goes on: actions missed while disconnected run
            // late once the user is back, and count as late.
            return;
        }
        let Some(intended) = core.schedule.as_mut().map(Schedule::take) else {
            return;
        };
        if is_late(intended, Instant::now()) {
            core.rec.late();
        }
        let mut ctx = Ctx {
            user: &mut *user,
            core: &mut *core,
            run,
            base,
            intended: Some(intended),
        };
        w.action(&mut ctx, state).await;
        if Instant::now() >= deadline {
            return;
        }
    }
}

/// One entry of [`REGISTRY`].
pub struct WorkloadInfo {
    /// `--workload` name.
    pub name: &'static str,
    /// What application behaviour it models (one line).
    pub models: &'static str,
    /// Deliberately broken variant, hidden from listings.
    pub hidden: bool,
    /// Invariants it is checked against.
    pub invariants: &'static [&'static str],
    /// Builds it.
    pub build: fn(&Params, &Registry) -> Arc<dyn Runnable>,
}

/// Every workload, in the order listings show them.
pub static REGISTRY: &[WorkloadInfo] = &[
    WorkloadInfo {
        name: "getset",
        models: "plain GET/SET over a key space, to compare with redis-benchmark",
        hidden: false,
        invariants: &[],
        build: |p, r| Arc::new(getset::GetSet::new(p, r)),
    },
    WorkloadInfo {
        name: "ratelimit-fixed",
        models: "fixed-window rate limit per client: MULTI { SET key 0 PX 2w NX; INCR key }",
        hidden: false,
        invariants: &["over_admissions"],
        build: |p, r| Arc::new(ratelimit_fixed::FixedWindow::new(p, r, false)),
    },
    WorkloadInfo {
        name: "ratelimit-sliding",
        models: "sliding-window rate limit per client: sorted set trimmed, counted and added in one Lua step",
        hidden: false,
        invariants: &["over_admissions"],
        build: |p, r| Arc::new(ratelimit_sliding::SlidingWindow::new(p, r, false)),
    },
    WorkloadInfo {
        name: "ratelimit-token-bucket",
        models: "token bucket per client (burst = limit, refill = limit per window) in one Lua step",
        hidden: false,
        invariants: &["over_admissions"],
        build: |p, r| Arc::new(ratelimit_token_bucket::TokenBucket::new(p, r, false)),
    },
    WorkloadInfo {
        name: "session",
        models: "login sessions: create (SET EX), validate + touch (GET, EXPIRE), revoke, revoke all of a user",
        hidden: false,
        invariants: &["lost_sessions", "revoked_sessions_readable"],
        build: |p, r| Arc::new(session::Sessions::new(p, r, false)),
    },
    WorkloadInfo {
        name: "lockout",
        models: "login lockout: failed attempts per account in a sorted-set window, locked after --limit",
        hidden: false,
        invariants: &["lockout_excess_attempts"],
        build: |p, r| Arc::new(lockout::Lockout::new(p, r, false)),
    },
    WorkloadInfo {
        name: "idempotency",
        models: "idempotency keys: SET NX EX per request id, retries and duplicates rejected",
        hidden: false,
        invariants: &["duplicates_accepted"],
        build: |p, r| Arc::new(idempotency::Idempotency::new(p, r, false)),
    },
    WorkloadInfo {
        name: "lock",
        models: "distributed lock: SET NX PX with a random token, fencing counter, compare-and-delete release",
        hidden: false,
        invariants: &["double_holds", "fence_regressions"],
        build: |p, r| Arc::new(lock::Lock::new(p, r, lock::Kind::Correct)),
    },
    WorkloadInfo {
        name: "cache",
        models: "cache-aside: GET, on a miss load and SET EX; reports the hit ratio",
        hidden: false,
        invariants: &[],
        build: |p, r| Arc::new(cache::Cache::new(p, r)),
    },
    WorkloadInfo {
        name: "ratelimit-fixed-broken",
        models: "BROKEN fixed window: GET, compare, then INCR (check-then-act race)",
        hidden: true,
        invariants: &["over_admissions"],
        build: |p, r| Arc::new(ratelimit_fixed::FixedWindow::new(p, r, true)),
    },
    WorkloadInfo {
        name: "ratelimit-sliding-broken",
        models: "BROKEN sliding window: ZREMRANGEBYSCORE, ZCARD and ZADD as separate round trips",
        hidden: true,
        invariants: &["over_admissions"],
        build: |p, r| Arc::new(ratelimit_sliding::SlidingWindow::new(p, r, true)),
    },
    WorkloadInfo {
        name: "ratelimit-token-bucket-broken",
        models: "BROKEN token bucket: read state, compute in the client, write back",
        hidden: true,
        invariants: &["over_admissions"],
        build: |p, r| Arc::new(ratelimit_token_bucket::TokenBucket::new(p, r, true)),
    },
    WorkloadInfo {
        name: "session-broken",
        models: "BROKEN session touch: PEXPIRE given seconds (sessions die a thousand times early)",
        hidden: true,
        invariants: &["lost_sessions", "revoked_sessions_readable"],
        build: |p, r| Arc::new(session::Sessions::new(p, r, true)),
    },
    WorkloadInfo {
        name: "lockout-broken",
        models: "BROKEN lockout: count failures, check the password, then record the failure",
        hidden: true,
        invariants: &["lockout_excess_attempts"],
        build: |p, r| Arc::new(lockout::Lockout::new(p, r, true)),
    },
    WorkloadInfo {
        name: "idempotency-broken",
        models: "BROKEN idempotency: GET then SET (check-then-act race)",
        hidden: true,
        invariants: &["duplicates_accepted"],
        build: |p, r| Arc::new(idempotency::Idempotency::new(p, r, true)),
    },
    WorkloadInfo {
        name: "lock-broken-nx",
        models: "BROKEN lock: acquire with SET PX without NX",
        hidden: true,
        invariants: &["double_holds", "fence_regressions"],
        build: |p, r| Arc::new(lock::Lock::new(p, r, lock::Kind::NoNx)),
    },
    WorkloadInfo {
        name: "lock-broken-release",
        models: "BROKEN lock: release with a plain DEL, without checking the token",
        hidden: true,
        invariants: &["double_holds", "fence_regressions"],
        build: |p, r| Arc::new(lock::Lock::new(p, r, lock::Kind::UnsafeRelease)),
    },
];

/// A workload chosen on the command line.
#[derive(Clone, Copy)]
pub struct Selected {
    /// Its registry entry.
    pub info: &'static WorkloadInfo,
    /// Goose weight.
    pub weight: usize,
}

/// A `--workload` spec that does not parse.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum SpecError {
    /// Unknown name.
    #[error("unknown workload `{name}`; known: {known}")]
    Unknown {
        /// The name.
        name: String,
        /// The visible names.
        known: String,
    },
    /// Bad weight.
    #[error("workload `{0}`: the weight must be a whole number of at least 1")]
    Weight(String),
    /// Listed twice.
    #[error("workload `{0}` is listed twice")]
    Duplicate(String),
    /// Nothing listed.
    #[error("--workload lists no workload")]
    Empty,
}

/// Parses `NAME[:WEIGHT],…`.
pub fn parse_spec(spec: &str) -> Result<Vec<Selected>, SpecError> {
    let mut out: Vec<Selected> = Vec::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, weight) = match item.split_once(':') {
            Some((n, w)) => (
                n.trim(),
                w.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|w| *w > 0)
                    .ok_or_else(|| SpecError::Weight(item.to_owned()))?,
            ),
            None => (item, 1),
        };
        let info = REGISTRY
            .iter()
            .find(|w| w.name == name)
            .ok_or_else(|| SpecError::Unknown {
                name: name.to_owned(),
                known: REGISTRY
                    .iter()
                    .filter(|w| !w.hidden)
                    .map(|w| w.name)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        if out.iter().any(|s| s.info.name == name) {
            return Err(SpecError::Duplicate(name.to_owned()));
        }
        out.push(Selected { info, weight });
    }
    if out.is_empty() {
        return Err(SpecError::Empty);
    }
    Ok(out)
}

/// The workload table, generated from [`REGISTRY`].
pub fn listing(include_hidden: bool) -> String {
    let shown = || REGISTRY.iter().filter(move |w| include_hidden || !w.hidden);
    let width = shown().map(|w| w.name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for w in shown() {
        let inv = if w.invariants.is_empty() {
            String::new()
        } else {
            format!(" [checks: {}]", w.invariants.join(", "))
        };
        out.push_str(&format!("  {:width$}  {}{inv}\n", w.name, w.models));
    }
    out
}

/// Adds the goose-overhead sample counters of a user to the run.
impl RunShared {
    fn add_goose_overhead(&self, ns: u64, samples: u64) {
        if samples > 0 {
            self.goose_ns.fetch_add(ns, Ordering::Relaxed);
            self.goose_samples.fetch_add(samples, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_parsing() {
        let s = parse_spec("getset:3, lock").unwrap();
        assert_eq!(
            (s[0].info.name, s[0].weight, s[1].info.name, s[1].weight),
            ("getset", 3, "lock", 1)
        );
        assert!(matches!(parse_spec("nope"), Err(SpecError::Unknown { .. })));
        assert!(matches!(parse_spec("lock:x"), Err(SpecError::Weight(_))));
        assert!(matches!(
            parse_spec("lock,lock"),
            Err(SpecError::Duplicate(_))
        ));
        assert!(matches!(parse_spec(" , "), Err(SpecError::Empty)));
        assert!(
            parse_spec("lock-broken-nx").is_ok(),
            "hidden workloads are selectable"
        );
    }

    #[test]
    fn registry_names_are_unique_and_ops_are_prefixed() {
        let reg = Registry::default();
        let p = test_params();
        for (i, w) in REGISTRY.iter().enumerate() {
            assert!(
                REGISTRY[..i].iter().all(|o| o.name != w.name),
                "{} twice",
                w.name
            );
            let built = (w.build)(&p, &reg);
            for op in built.ops() {
                assert!(
                    op.starts_with(&format!("{}:", w.name)),
                    "{op} of {}",
                    w.name
                );
            }
            for inv in w.invariants {
                assert!(
                    crate::invariants::ALL_INVARIANTS
                        .iter()
                        .any(|(n, _)| n == inv),
                    "{inv}"
                );
            }
        }
        assert!(!listing(false).contains("broken"));
        assert!(listing(true).contains("lock-broken-nx"));
    }

    /// Entities each workload's keys are built for: enough that a tag
    /// shared by a whole run would show as one slot.
    const ENTITIES: u64 = 16;

    #[test]
    fn every_step_keeps_its_keys_in_one_slot_and_entities_spread() {
        use crate::keys::{hash_tag, slot};
        use std::collections::{BTreeMap, BTreeSet};
        let reg = Registry::default();
        let p = test_params();
        for w in REGISTRY {
            let built = (w.build)(&p, &reg);
            let ops = built.ops();
            // Slots each operation's keys landed in, over all entities.
            let mut slots: BTreeMap<usize, BTreeSet<u16>> = BTreeMap::new();
            for n in 0..ENTITIES {
                for step in built.step_keys(n) {
                    let name = ops.get(step.op).unwrap_or_else(|| {
                        panic!("{}: step {} is not an operation", w.name, step.op)
                    });
                    let seen = slots.entry(step.op).or_default();
                    for key in &step.keys {
                        assert!(
                            key.starts_with(&p.prefix),
                            "{name}: {key} not under the run prefix"
                        );
                        seen.insert(slot(key.as_bytes()));
                    }
                    let distinct: BTreeSet<&String> = step.keys.iter().collect();
                    if distinct.len() < 2 {
                        continue;
                    }
                    let tags: BTreeSet<_> =
                        step.keys.iter().map(|k| hash_tag(k.as_bytes())).collect();
                    assert!(
                        tags.len() == 1 && !tags.contains(&None),
                        "{name} sends {:?}: keys of one step must share one hash tag",
                        step.keys
                    );
                    let one: BTreeSet<u16> = step.keys.iter().map(|k| slot(k.as_bytes())).collect();
                    assert_eq!(
                        one.len(),
                        1,
                        "{name} sends {:?} over slots {one:?}",
                        step.keys
                    );
                }
            }
            for (op, name) in ops.iter().enumerate() {
                let seen = slots
                    .get(&op)
                    .unwrap_or_else(|| panic!("{}: {name} declares no keys in step_keys", w.name));
                // A step with no key (TIME) has no slot to spread.
                assert!(
                    seen.is_empty() || seen.len() > 1,
                    "{name}: {ENTITIES} entities all in slot {seen:?}"
                );
            }
        }
    }

    #[test]
    fn multi_key_steps_are_the_audited_ones() {
        // The audit's result: the steps that send several keys at once.
        // A workload gaining or losing one shows up here.
        let reg = Registry::default();
        let p = test_params();
        let multi: Vec<&str> = REGISTRY
            .iter()
            .flat_map(|w| {
                let built = (w.build)(&p, &reg);
                let ops = built.ops();
                let mut names: Vec<&str> = Vec::new();
                for step in built.step_keys(0) {
                    if step.keys.len() > 1 && !names.contains(&ops[step.op]) {
                        names.push(ops[step.op]);
                    }
                }
                names
            })
            .collect();
        assert_eq!(
            multi,
            [
                "session:create",
                "session:validate",
                "session:revoke",
                "session:revoke-all",
                "lock:EVALSHA(acquire)",
                "session-broken:create",
                "session-broken:validate",
                "session-broken:revoke",
                "session-broken:revoke-all",
                "lock-broken-nx:EVALSHA(acquire)",
                "lock-broken-release:EVALSHA(acquire)",
            ]
        );
    }

    #[test]
    fn readme_lists_every_workload_as_the_registry_does() {
        let readme = include_str!("../../../README.md");
        for line in listing(false).lines() {
            assert!(
                readme.contains(line),
                "README.md (loadtest section) is missing or has an old line:\n{line}"
            );
        }
    }

    pub(crate) fn test_params() -> Params {
        Params {
            prefix: "lt:test:".into(),
            clients: 4,
            limit: 5,
            window: Duration::from_secs(1),
            keyspace: 100,
            value_size: 8,
            get_ratio: 0.5,
            session_ttl: Duration::from_secs(5),
            cache_ttl: Duration::from_secs(5),
            idempotency_ttl: Duration::from_secs(5),
            locks: 2,
            lock_ttl: Duration::from_secs(1),
            lock_hold: Duration::from_millis(1),
            actions_per_transaction: 4,
        }
    }
}
