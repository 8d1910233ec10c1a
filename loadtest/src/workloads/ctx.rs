//! What a workload's action runs with: the user's state ([`UserCore`]),
//! the timed round trips ([`Ctx`]) and how each is recorded, in our
//! histograms and in Goose's metrics.

use crate::conn::is_connection_error;
use crate::metrics::{OpId, Recorder};
use crate::pacing::{lateness, Pace, Schedule};
use crate::shared::RunShared;
use goose::goose::GooseUser;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use redis::FromRedisValue;
use std::time::{Duration, Instant};

/// Goose method label of every Redis operation.
pub const METHOD: &str = "REDIS";

/// Per-user state every workload gets: connection, randomness, samples.
pub struct UserCore {
    /// The user's connection.
    pub conn: crate::conn::UserConn,
    /// Fast randomness.
    pub rng: SmallRng,
    /// Goose's index of this user.
    pub index: usize,
    seq: u64,
    pub(super) rec: Recorder,
    pub(super) goose_ns: u64,
    pub(super) goose_timed: u64,
    tick: u32,
    pub(super) schedule: Option<Schedule>,
}

impl UserCore {
    pub(super) fn new(index: usize, pace: Pace) -> Self {
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
    pub(super) user: &'a mut GooseUser,
    /// The user's state.
    pub core: &'a mut UserCore,
    /// Everything shared by the run.
    pub run: &'a RunShared,
    pub(super) base: OpId,
    /// The action's intended start (open loop), taken by its first round
    /// trip: later round trips of the action depend on earlier answers, so
    /// they are measured from their send.
    pub(super) intended: Option<Instant>,
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
pub(super) struct Took {
    pub(super) latency: Duration,
    pub(super) service: Duration,
}

impl Took {
    pub(super) fn same(d: Duration) -> Self {
        Self {
            latency: d,
            service: d,
        }
    }
}

/// Records one round trip in our histograms and in Goose's metrics (which
/// get the latency, what the application saw).
pub(super) async fn record(
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
