//! The drill writer: K concurrent clients appending unique values under
//! load, each write stamped on one monotonic clock.
//!
//! Writer `w` appends `1, 2, 3, …` to its own list with `RPUSH`, so every
//! value is unique and its origin is known; the checker reads the lists
//! back. Each writer has its own topology-aware [`Connection`] with short
//! timeouts: the connection never retries a command, so every failure a
//! client would see is recorded. A write's outcome is
//!
//! - **acked**: the server replied (with `--wait-replicas N`, only once
//!   `WAIT` confirmed N replicas);
//! - **failed**: a definite refusal: the server answered with an error
//!   (Redis applies `RPUSH` atomically, so an error reply means it was not
//!   applied: `READONLY`, `NOREPLICAS`, `MASTERDOWN`, `CLUSTERDOWN`,
//!   `LOADING`, `MISCONF`, …), or the command never left the client (no
//!   connection could be made);
//! - **unknown**: a timeout or a connection lost after sending; the write
//!   may or may not have been applied.
//!
//! A direct (standalone) connection does not reconnect by itself, so after
//! a lost or refused connection the writer opens a new one before its next
//! write (bounded by the connect timeout); a write that finds no server is
//! failed, refused before sending. Sentinel and Cluster connections find
//! their node again themselves.

use redis::{ErrorKind, RedisError, Value};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use topology::{Addr, Connection, ReplyError, Service, Timeouts};

/// One monotonic clock for a drill: writes, events and role polls are all
/// stamped as time since the drill started.
#[derive(Clone, Copy, Debug)]
pub struct Clock(Instant);

impl Clock {
    /// Starts the clock now.
    pub fn start() -> Self {
        Self(Instant::now())
    }

    /// Time since the start.
    pub fn now(&self) -> Duration {
        self.0.elapsed()
    }

    /// Milliseconds since the start.
    pub fn now_ms(&self) -> u64 {
        ms(self.now())
    }
}

/// Whole milliseconds of a duration.
pub fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// What a client learned about one write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteOutcome {
    /// The server confirmed it.
    Acked,
    /// Definitely not applied.
    Failed,
    /// May or may not have been applied.
    Unknown,
}

/// One write as the client saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteRecord {
    /// Writer index (which list).
    pub writer: usize,
    /// The value appended (unique within the writer).
    pub seq: u64,
    /// When the command was sent.
    pub invoke: Duration,
    /// When the reply (or the error) came back.
    pub complete: Duration,
    /// What the client learned.
    pub outcome: WriteOutcome,
    /// The node that served it, when the connection can tell (Sentinel:
    /// the primary it used for this command).
    pub node: Option<Addr>,
    /// The error code or client-side reason, for failed and unknown writes.
    pub reason: Option<String>,
}

/// How the writers run.
#[derive(Clone, Debug)]
pub struct WriterConfig {
    /// Number of concurrent writers.
    pub writers: usize,
    /// Upper bound on writes per second for each writer.
    pub writes_per_second: u32,
    /// Count a write as acked only after `WAIT n` confirms n replicas.
    pub wait_replicas: Option<u32>,
    /// Connect and response timeouts of each writer's connection.
    pub timeouts: Timeouts,
}

impl Default for WriterConfig {
    fn default() -> Self {
        Self {
            writers: 8,
            writes_per_second: 200,
            wait_replicas: None,
            timeouts: Timeouts {
                connect: Duration::from_millis(500),
                response: Duration::from_millis(500),
            },
        }
    }
}

/// The list key of writer `w` in run `run`. On a cluster each writer's key
/// carries its own hash tag so writers spread over shards; elsewhere one
/// tag per run.
pub fn key(run: &str, writer: usize, cluster: bool) -> String {
    if cluster {
        format!("drill:{{{run}:{writer}}}")
    } else {
        format!("drill:{{{run}}}:{writer}")
    }
}

/// Counters the drill can watch while the writers run.
#[derive(Debug, Default)]
pub struct Live {
    /// Acked so far.
    pub acked: AtomicU64,
    /// Failed so far.
    pub failed: AtomicU64,
    /// Unknown so far.
    pub unknown: AtomicU64,
    /// Completion time (ms on the drill clock) of the latest ack, +1 (0 =
    /// none yet).
    pub last_ack_ms: AtomicU64,
}

impl Live {
    /// The latest ack's completion time, if any.
    pub fn last_ack(&self) -> Option<u64> {
        match self.last_ack_ms.load(Ordering::SeqCst) {
            0 => None,
            v => Some(v - 1),
        }
    }
}

/// Running writers.
pub struct Writer {
    /// The run id in every key.
    pub run: String,
    /// Whether keys are tagged per writer (cluster).
    pub cluster: bool,
    /// Live counters.
    pub live: Arc<Live>,
    stop: Arc<AtomicBool>,
    handles: Vec<tokio::task::JoinHandle<Vec<WriteRecord>>>,
}

/// Why the writers could not start.
#[derive(Debug, thiserror::Error)]
#[error("failed to open writer {writer}'s connection: {source}")]
pub struct WriterError {
    /// Which writer.
    pub writer: usize,
    /// Why.
    #[source]
    pub source: topology::ClientError,
}

impl Writer {
    /// Opens one connection per writer and starts writing.
    pub async fn start(
        service: &Service,
        config: &WriterConfig,
        clock: Clock,
        run: &str,
    ) -> Result<Self, WriterError> {
        let cluster = matches!(service.kind, topology::ServiceKind::Cluster { .. });
        let mut conns = Vec::with_capacity(config.writers);
        for writer in 0..config.writers {
            let conn = Connection::open(service, &config.timeouts)
                .await
                .map_err(|source| WriterError { writer, source })?;
            conns.push(conn);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let live = Arc::new(Live::default());
        let period = Duration::from_secs(1) / config.writes_per_second.max(1);
        let handles = conns
            .into_iter()
            .enumerate()
            .map(|(writer, conn)| {
                tokio::spawn(write_loop(WriteLoop {
                    service: service.clone(),
                    timeouts: config.timeouts,
                    writer,
                    key: key(run, writer, cluster),
                    conn,
                    clock,
                    period,
                    wait: config.wait_replicas,
                    wait_timeout_ms: ms(config.timeouts.response),
                    stop: stop.clone(),
                    live: live.clone(),
                }))
            })
            .collect();
        Ok(Self {
            run: run.to_owned(),
            cluster,
            live,
            stop,
            handles,
        })
    }

    /// Every writer's key.
    pub fn keys(&self) -> Vec<String> {
        (0..self.handles.len())
            .map(|w| key(&self.run, w, self.cluster))
            .collect()
    }

    /// Stops the writers (each finishes its write in flight, bounded by its
    /// response timeout) and returns every write, ordered by invocation.
    pub async fn stop(self) -> Vec<WriteRecord> {
        self.stop.store(true, Ordering::SeqCst);
        let mut all = Vec::new();
        for h in self.handles {
            // A writer task that panicked loses its history; the checker
            // then sees its values as unexpected, which fails the drill.
            if let Ok(records) = h.await {
                all.extend(records);
            }
        }
        all.sort_by_key(|r| (r.invoke, r.writer));
        all
    }
}

struct WriteLoop {
    service: Service,
    timeouts: Timeouts,
    writer: usize,
    key: String,
    conn: Connection,
    clock: Clock,
    period: Duration,
    wait: Option<u32>,
    wait_timeout_ms: u64,
    stop: Arc<AtomicBool>,
    live: Arc<Live>,
}

async fn write_loop(mut w: WriteLoop) -> Vec<WriteRecord> {
    let mut records = Vec::new();
    let mut tick = tokio::time::interval(w.period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq = 0u64;
    let direct_node = Addr::parse(&w.service.node.address());
    let mut reopen = false;
    while !w.stop.load(Ordering::SeqCst) {
        tick.tick().await;
        seq += 1;
        let invoke = w.clock.now();
        let reply: redis::RedisResult<Value> = if reopen {
            match Connection::open(&w.service, &w.timeouts).await {
                Ok(c) => {
                    w.conn = c;
                    reopen = false;
                    rpush(&mut w.conn, &w.key, seq).await
                }
                Err(e) => Err(RedisError::from(std::io::Error::new(
                    std::io::ErrorKind::ConnectionRefused,
                    e.to_string(),
                ))),
            }
        } else {
            rpush(&mut w.conn, &w.key, seq).await
        };
        let node = match &w.conn {
            Connection::Sentinel(s) => s.primary().await,
            Connection::Direct(_) => direct_node.clone(),
            Connection::Cluster(_) => None,
        };
        if let (Connection::Direct(_), Err(e)) = (&w.conn, &reply) {
            reopen = e.is_io_error() || e.is_connection_dropped() || e.is_connection_refusal();
        }
        let (mut outcome, mut reason) = classify(&reply);
        if let (WriteOutcome::Acked, Some(n)) = (outcome, w.wait) {
            let confirmed: redis::RedisResult<i64> = redis::cmd("WAIT")
                .arg(n)
                .arg(w.wait_timeout_ms)
                .query_async(&mut w.conn)
                .await;
            // Applied on the primary but not confirmed on n replicas: it may
            // not survive a failover, so the client cannot count on it.
            match confirmed {
                Ok(c) if c >= i64::from(n) => {}
                Ok(c) => {
                    outcome = WriteOutcome::Unknown;
                    reason = Some(format!("WAIT {n}: {c} replicas"));
                }
                Err(e) => {
                    outcome = WriteOutcome::Unknown;
                    reason = Some(format!(
                        "WAIT {n}: {}",
                        topology::client::one_line(&e.to_string())
                    ));
                }
            }
        }
        let complete = w.clock.now();
        match outcome {
            WriteOutcome::Acked => {
                w.live.acked.fetch_add(1, Ordering::SeqCst);
                w.live
                    .last_ack_ms
                    .fetch_max(ms(complete) + 1, Ordering::SeqCst);
            }
            WriteOutcome::Failed => {
                w.live.failed.fetch_add(1, Ordering::SeqCst);
            }
            WriteOutcome::Unknown => {
                w.live.unknown.fetch_add(1, Ordering::SeqCst);
            }
        }
        records.push(WriteRecord {
            writer: w.writer,
            seq,
            invoke,
            complete,
            outcome,
            node,
            reason,
        });
    }
    records
}

async fn rpush(conn: &mut Connection, key: &str, seq: u64) -> redis::RedisResult<Value> {
    redis::cmd("RPUSH")
        .arg(key)
        .arg(seq)
        .query_async(conn)
        .await
}

/// Classifies one reply: acked, failed (with the code) or unknown (with
/// the client-side reason).
pub fn classify(reply: &redis::RedisResult<Value>) -> (WriteOutcome, Option<String>) {
    match reply {
        Ok(Value::ServerError(e)) => (
            WriteOutcome::Failed,
            Some(ReplyError::from_server_error(e).code.as_str().to_owned()),
        ),
        Ok(_) => (WriteOutcome::Acked, None),
        Err(e) => classify_error(e),
    }
}

fn classify_error(e: &RedisError) -> (WriteOutcome, Option<String>) {
    if let Some(r) = ReplyError::from_redis(e) {
        // A server error reply: RPUSH was not applied.
        return (WriteOutcome::Failed, Some(r.code.as_str().to_owned()));
    }
    if e.is_connection_refusal() {
        return (WriteOutcome::Failed, Some("connection refused".into()));
    }
    if e.kind() == ErrorKind::ClusterConnectionNotFound {
        return (
            WriteOutcome::Failed,
            Some("no connection to the slot's node".into()),
        );
    }
    // topology's Sentinel connection fails before sending when it cannot
    // resolve a primary.
    if topology::conn::is_no_primary(e) {
        return (WriteOutcome::Failed, Some("no primary reachable".into()));
    }
    let why = if e.is_timeout() {
        "timeout".to_owned()
    } else if e.is_connection_dropped() {
        "connection lost".to_owned()
    } else {
        topology::client::one_line(&e.to_string())
    };
    (WriteOutcome::Unknown, Some(why))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(code: &str) -> redis::RedisResult<Value> {
        redis::parse_redis_value(format!("-{code} detail\r\n").as_bytes())
    }

    #[test]
    fn error_replies_are_failed_with_their_code() {
        for code in [
            "READONLY",
            "NOREPLICAS",
            "MASTERDOWN",
            "CLUSTERDOWN",
            "LOADING",
            "MISCONF",
        ] {
            let (o, r) = classify(&server(code));
            assert_eq!(o, WriteOutcome::Failed, "{code}");
            assert_eq!(r.as_deref(), Some(code));
        }
        assert_eq!(classify(&Ok(Value::Int(3))).0, WriteOutcome::Acked);
    }

    #[test]
    fn refused_before_sending_is_failed_and_lost_connections_are_unknown() {
        let refused = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(classify(&Err(refused)).0, WriteOutcome::Failed);
        let none = topology::conn::no_primary("s1: down".to_owned());
        assert_eq!(classify(&Err(none)).0, WriteOutcome::Failed);
        let reset = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(
            classify(&Err(reset)),
            (WriteOutcome::Unknown, Some("connection lost".into()))
        );
        let timeout = RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert_eq!(
            classify(&Err(timeout)),
            (WriteOutcome::Unknown, Some("timeout".into()))
        );
    }

    #[test]
    fn keys_share_a_tag_per_run_or_per_writer_on_cluster() {
        assert_eq!(key("r1", 3, false), "drill:{r1}:3");
        assert_eq!(key("r1", 3, true), "drill:{r1:3}");
    }
}
