//! Connections for Goose users: one per user (default) or one shared by all,
//! with reconnects under a bounded, jittered exponential backoff.
//!
//! When Redis goes away mid-run, an operation fails (counted as an error of
//! that operation), the user drops its connection, and the next action tries
//! to reconnect no sooner than its backoff allows (50 ms doubling to 2 s).
//! Waiting happens in small steps inside a transaction, so the run still
//! ends on time and no user ever panics.
//!
//! A per-user connection is the lean one of `topology::wire` by default
//! (`--driver lean`): the user owns its socket, with no driver task or
//! channel between it and Redis. `--driver redis-rs` uses redis-rs's
//! multiplexed connection instead, and so does every TLS or Cluster target
//! and the shared mode, which the lean connection does not serve.

use rand::Rng;
use redis::aio::ConnectionLike;
use redis::{Cmd, Pipeline, RedisFuture, Value};
use std::time::{Duration, Instant};
use topology::wire::LeanConnection;
use topology::{ClientError, Connection, Service, Timeouts};

/// Which client carries per-user connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    /// redis-rs's multiplexed connection (a driver task per connection).
    RedisRs,
    /// `topology::wire`: one owner, one socket (plaintext standalone and
    /// Sentinel; others fall back to redis-rs).
    Lean,
}

impl Driver {
    /// The flag value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RedisRs => "redis-rs",
            Self::Lean => "lean",
        }
    }

    /// Parses the flag value.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "redis-rs" => Ok(Self::RedisRs),
            "lean" => Ok(Self::Lean),
            other => Err(format!("`{other}` is not a driver (redis-rs or lean)")),
        }
    }
}

/// A user's connection: the lean one, or a redis-rs one (possibly shared).
pub enum Link {
    /// `topology::wire`, owned by this user.
    Lean(LeanConnection),
    /// redis-rs, per user or shared.
    RedisRs(Connection),
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Lean(c) => c.req_packed_command(cmd),
            Self::RedisRs(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Lean(c) => c.req_packed_commands(pipeline, offset, count),
            Self::RedisRs(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Lean(c) => c.get_db(),
            Self::RedisRs(c) => c.get_db(),
        }
    }
}

/// How users reach Redis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionMode {
    /// One connection per Goose user (what an application pod pool looks like).
    PerUser,
    /// One multiplexed connection shared by every user (redis-rs pipelines them).
    Shared,
}

impl ConnectionMode {
    /// The flag value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PerUser => "per-user",
            Self::Shared => "shared",
        }
    }
}

/// First reconnect delay.
pub const BACKOFF_MIN: Duration = Duration::from_millis(50);
/// Largest reconnect delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(2);

/// Bounds for users' connections: shorter than topology's defaults so a
/// dead server costs a user at most a couple of seconds per attempt.
pub const USER_TIMEOUTS: Timeouts = Timeouts {
    connect: Duration::from_secs(2),
    response: Duration::from_secs(2),
};

/// A user's connection state.
pub struct UserConn {
    /// The connection, when there is a working one.
    pub conn: Option<Link>,
    generation: u64,
    next_try: Instant,
    backoff: Duration,
}

impl Default for UserConn {
    fn default() -> Self {
        Self {
            conn: None,
            generation: 0,
            next_try: Instant::now(),
            backoff: BACKOFF_MIN,
        }
    }
}

impl UserConn {
    fn failed(&mut self) {
        let jitter = rand::rng().random_range(0.75..1.25);
        self.next_try = Instant::now() + self.backoff.mul_f64(jitter);
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }

    fn succeeded(&mut self) {
        self.backoff = BACKOFF_MIN;
    }
}

/// The outcome of [`Connector::ensure`] when there is no connection.
pub enum NotReady {
    /// Still backing off for this long.
    Backoff(Duration),
    /// A connect attempt failed after this long.
    Failed(ClientError, Duration),
}

struct SharedState {
    generation: u64,
    conn: Option<Connection>,
    user: UserConn,
}

/// Makes connections for users.
pub struct Connector {
    service: Service,
    mode: ConnectionMode,
    driver: Driver,
    shared: tokio::sync::Mutex<SharedState>,
}

/// True for errors after which the connection cannot be trusted.
pub fn is_connection_error(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_unrecoverable_error()
}

impl Connector {
    /// A connector for `service` (a server, a Sentinel-managed primary or
    /// a Cluster); `initial` becomes the shared connection.
    pub fn new(service: Service, mode: ConnectionMode, initial: Option<Connection>) -> Self {
        Self {
            service,
            mode,
            driver: Driver::Lean,
            shared: tokio::sync::Mutex::new(SharedState {
                generation: u64::from(initial.is_some()),
                conn: initial,
                user: UserConn::default(),
            }),
        }
    }

    /// Per-user connections through `driver` (the default is lean).
    pub fn with_driver(mut self, driver: Driver) -> Self {
        self.driver = driver;
        self
    }

    /// What users connect to.
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// Makes sure `uc` has a connection, connecting if its backoff allows.
    /// On success returns how long a connect took, if one was made.
    pub async fn ensure(&self, uc: &mut UserConn) -> Result<Option<Duration>, NotReady> {
        if uc.conn.is_some() {
            return Ok(None);
        }
        match self.mode {
            ConnectionMode::PerUser => {
                let now = Instant::now();
                if now < uc.next_try {
                    return Err(NotReady::Backoff(uc.next_try - now));
                }
                let started = Instant::now();
                match self.open_own().await {
                    Ok(c) => {
                        uc.conn = Some(c);
                        uc.succeeded();
                        Ok(Some(started.elapsed()))
                    }
                    Err(e) => {
                        uc.failed();
                        Err(NotReady::Failed(e, started.elapsed()))
                    }
                }
            }
            ConnectionMode::Shared => {
                let mut s = self.shared.lock().await;
                if let Some(c) = &s.conn {
                    uc.conn = Some(Link::RedisRs(c.clone()));
                    uc.generation = s.generation;
                    return Ok(None);
                }
                let now = Instant::now();
                if now < s.user.next_try {
                    return Err(NotReady::Backoff(s.user.next_try - now));
                }
                let started = Instant::now();
                match Connection::open(&self.service, &USER_TIMEOUTS).await {
                    Ok(c) => {
                        s.generation += 1;
                        s.conn = Some(c.clone());
                        s.user.succeeded();
                        uc.conn = Some(Link::RedisRs(c));
                        uc.generation = s.generation;
                        Ok(Some(started.elapsed()))
                    }
                    Err(e) => {
                        s.user.failed();
                        Err(NotReady::Failed(e, started.elapsed()))
                    }
                }
            }
        }
    }

    /// A connection of the user's own, through the chosen driver.
    async fn open_own(&self) -> Result<Link, ClientError> {
        if self.driver == Driver::Lean {
            if let Some(opened) = LeanConnection::open(&self.service, &USER_TIMEOUTS).await {
                return opened.map(Link::Lean);
            }
        }
        Connection::open(&self.service, &USER_TIMEOUTS)
            .await
            .map(Link::RedisRs)
    }

    /// Drops a connection that failed; in shared mode every user then moves
    /// to the next shared connection.
    pub async fn broken(&self, uc: &mut UserConn) {
        uc.conn = None;
        if self.mode == ConnectionMode::Shared {
            let mut s = self.shared.lock().await;
            if s.generation == uc.generation {
                s.conn = None;
            }
        } else {
            uc.failed();
            // The first retry may come at once: a single dropped connection
            // (server restart, idle timeout) should cost nothing.
            uc.next_try = Instant::now();
        }
    }
}
