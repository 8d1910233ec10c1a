//! The lean connection: one owner, one socket, no driver task.
//!
//! For the load generator's per-user connections, where each user sends one
//! request at a time, [`LeanConnection`] replaces redis-rs's multiplexed
//! connection on plaintext standalone servers and Sentinel-named primaries
//! (see [`stream`] for why it is cheaper). It implements
//! `redis::aio::ConnectionLike`, so commands, pipelines, MULTI/EXEC and
//! `redis::Script` work on it unchanged. Cluster and TLS stay on redis-rs
//! ([`LeanConnection::supports`] says which services it takes), and so does
//! anything that shares one connection between tasks.
//!
//! - [`frame`] finds where a RESP reply ends.
//! - [`stream`] is the connection to one server.
//! - [`sentinel`] follows the Sentinel-named primary.

pub mod frame;
pub mod sentinel;
pub mod stream;

pub use sentinel::WireSentinel;
pub use stream::WireConnection;

use crate::client::{ClientError, Timeouts};
use crate::service::{Service, ServiceKind};
use redis::aio::ConnectionLike;
use redis::{Cmd, Pipeline, RedisFuture, Value};

/// A lean connection to a standalone server or a Sentinel-named primary.
pub enum LeanConnection {
    /// One server.
    Direct(WireConnection),
    /// The primary the Sentinels name.
    Sentinel(Box<WireSentinel>),
}

impl LeanConnection {
    /// Whether the lean connection can reach `service`: plaintext, and not
    /// a Cluster (slot routing stays with redis-rs).
    pub fn supports(service: &Service) -> bool {
        !service.node.tls && !matches!(service.kind, ServiceKind::Cluster { .. })
    }

    /// Opens one to `service`; `None` when [`Self::supports`] says no.
    pub async fn open(service: &Service, timeouts: &Timeouts) -> Option<Result<Self, ClientError>> {
        if !Self::supports(service) {
            return None;
        }
        Some(match &service.kind {
            ServiceKind::Sentinel { .. } => WireSentinel::open(service.clone(), *timeouts)
                .await
                .map(|s| Self::Sentinel(Box::new(s))),
            _ => WireConnection::open(&service.node, timeouts)
                .await
                .map(Self::Direct),
        })
    }
}

impl ConnectionLike for LeanConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Direct(c) => c.req_packed_command(cmd),
            Self::Sentinel(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Direct(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Sentinel(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Direct(c) => c.get_db(),
            Self::Sentinel(c) => c.get_db(),
        }
    }
}
