//! The lean connection to whatever node the Sentinels name primary.
//!
//! It follows a failover the way [`crate::conn::SentinelConnection`] does,
//! with the same resolution and the same `+switch-master` watcher: a failed
//! command, a `READONLY` reply or an event marks it stale, and the *next*
//! command asks the Sentinels again and connects to the node they name. A
//! failed command is never retried.

use super::stream::WireConnection;
use crate::address::Addr;
use crate::client::{ClientError, Timeouts};
use crate::conn::{may_mean_failover, no_primary, resolve_primary_with, watch_switch_master};
use crate::service::Service;
use redis::aio::ConnectionLike;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A lean connection that follows the Sentinel-named primary.
pub struct WireSentinel {
    service: Service,
    timeouts: Timeouts,
    current: Option<(Addr, WireConnection)>,
    stale: Arc<AtomicBool>,
    watcher: tokio::task::JoinHandle<()>,
    db: i64,
}

impl Drop for WireSentinel {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

async fn resolve(
    service: &Service,
    timeouts: &Timeouts,
) -> Result<(Addr, WireConnection), ClientError> {
    let t = *timeouts;
    resolve_primary_with(service, timeouts, move |node| async move {
        WireConnection::open(&node, &t).await
    })
    .await
}

impl WireSentinel {
    /// Resolves the primary, connects, and starts watching for failovers.
    pub async fn open(service: Service, timeouts: Timeouts) -> Result<Self, ClientError> {
        let current = resolve(&service, &timeouts).await?;
        let stale = Arc::new(AtomicBool::new(false));
        let watcher = tokio::spawn(watch_switch_master(
            service.clone(),
            timeouts,
            Arc::downgrade(&stale),
        ));
        Ok(Self {
            db: service.node.db,
            service,
            timeouts,
            current: Some(current),
            stale,
            watcher,
        })
    }

    /// The primary's announced address, as last resolved.
    pub fn primary(&self) -> Option<&Addr> {
        self.current.as_ref().map(|(a, _)| a)
    }

    async fn conn(&mut self) -> Result<&mut WireConnection, RedisError> {
        if self.stale.swap(false, Ordering::SeqCst) {
            self.current = None;
        }
        if self.current.is_none() {
            match resolve(&self.service, &self.timeouts).await {
                Ok(c) => self.current = Some(c),
                Err(e) => return Err(no_primary(e.to_string())),
            }
        }
        match self.current.as_mut() {
            Some((_, c)) => Ok(c),
            None => Err(no_primary("no primary resolved".into())),
        }
    }

    fn observe(&mut self, result: &Result<Value, RedisError>) {
        if may_mean_failover(result) {
            self.stale.store(true, Ordering::SeqCst);
        }
    }
}

impl ConnectionLike for WireSentinel {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let result = self.conn().await?.req_packed_command(cmd).await;
            self.observe(&result);
            result
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let result = self
                .conn()
                .await?
                .req_packed_commands(pipeline, offset, count)
                .await;
            match &result {
                Ok(values) => {
                    if values.iter().any(|v| may_mean_failover(&Ok(v.clone()))) {
                        self.stale.store(true, Ordering::SeqCst);
                    }
                }
                Err(e) => self.observe(&Err(e.clone())),
            }
            result
        })
    }

    fn get_db(&self) -> i64 {
        self.db
    }
}
