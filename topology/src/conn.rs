//! One connection type for every topology.
//!
//! [`Connection`] is a direct multiplexed connection, a Sentinel-aware one
//! (finds the primary through the Sentinels, and finds it again on
//! `READONLY`, a lost connection or a `+switch-master` event), or a
//! redis-rs cluster connection (slot routing, `MOVED`/`ASK`). All of them
//! carry the connect and response timeouts of [`Timeouts`] and implement
//! `redis::aio::ConnectionLike`, so callers send commands the same way.
//!
//! A failed command is never retried here: a caller that measures what
//! clients lose (drills, loadtest) must see every failure. Only the *next*
//! command goes to the newly found primary.

use crate::address::Addr;
use crate::client::{classify, connect, ClientError, Timeouts};
use crate::reply::ReplyError;
use crate::service::{Service, ServiceKind};
use crate::target::Target;
use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A connection to a standalone server, a Sentinel-managed primary or a
/// Cluster. Cheap to clone; clones share the underlying connections.
#[derive(Clone)]
pub enum Connection {
    /// One server.
    Direct(MultiplexedConnection),
    /// The primary Sentinels name.
    Sentinel(SentinelConnection),
    /// A Cluster.
    Cluster(ClusterConnection),
}

impl Connection {
    /// Opens a connection to `service` and proves it answers (PING).
    pub async fn open(service: &Service, timeouts: &Timeouts) -> Result<Self, ClientError> {
        match &service.kind {
            ServiceKind::Standalone => Ok(Self::Direct(connect(&service.node, timeouts).await?)),
            ServiceKind::Sentinel { .. } => Ok(Self::Sentinel(
                SentinelConnection::open(service.clone(), *timeouts).await?,
            )),
            ServiceKind::Cluster { .. } => {
                Ok(Self::Cluster(open_cluster(service, timeouts).await?))
            }
        }
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Direct(c) => c.req_packed_command(cmd),
            Self::Sentinel(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
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
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Direct(c) => c.get_db(),
            Self::Sentinel(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

/// Asks the Sentinels, in order, where the primary is and connects to it,
/// confirming with ROLE that it is a primary (a Sentinel may be stale).
/// Returns the primary's announced address and the connection.
pub async fn resolve_primary(
    service: &Service,
    timeouts: &Timeouts,
) -> Result<(Addr, MultiplexedConnection), ClientError> {
    let t = *timeouts;
    resolve_primary_with(service, timeouts, move |node| async move {
        connect(&node, &t).await
    })
    .await
}

/// [`resolve_primary`] with the connection to the primary made by
/// `connect_to` (the lean connection uses its own), so both kinds follow
/// the same Sentinels the same way.
pub(crate) async fn resolve_primary_with<C, F, Fut>(
    service: &Service,
    timeouts: &Timeouts,
    connect_to: F,
) -> Result<(Addr, C), ClientError>
where
    C: ConnectionLike + Send,
    F: Fn(Target) -> Fut,
    Fut: std::future::Future<Output = Result<C, ClientError>>,
{
    let ServiceKind::Sentinel { sentinels, master } = &service.kind else {
        return Err(ClientError::Other {
            address: service.node.address(),
            detail: "not a sentinel target".into(),
        });
    };
    let mut problems = Vec::new();
    for sentinel in sentinels {
        let target = service.sentinel_target(sentinel);
        let reply = match ask_master_addr(&target, master, timeouts).await {
            Ok(Some(addr)) => addr,
            Ok(None) => {
                problems.push(format!("{sentinel}: does not know master `{master}`"));
                continue;
            }
            Err(e) => {
                problems.push(e.to_string());
                continue;
            }
        };
        let node = service.data_target(&reply);
        match connect_to(node.clone()).await {
            Ok(mut conn) => {
                let role: redis::RedisResult<Value> =
                    redis::cmd("ROLE").query_async(&mut conn).await;
                match role {
                    Ok(Value::Array(items))
                        if items.first().is_some_and(|v| is_text(v, "master")) =>
                    {
                        return Ok((reply, conn));
                    }
                    Ok(_) => problems.push(format!(
                        "{sentinel} names {reply}, which is not a primary (yet)"
                    )),
                    // A user without ROLE must trust the Sentinel's answer.
                    Err(e) if crate::client::is_noperm(&e) => return Ok((reply, conn)),
                    Err(e) => problems.push(classify(&node, &e, timeouts.response).to_string()),
                }
            }
            Err(e) => problems.push(format!("{sentinel} names {reply}: {e}")),
        }
    }
    Err(ClientError::Other {
        address: sentinels
            .iter()
            .map(Addr::to_string)
            .collect::<Vec<_>>()
            .join(","),
        detail: format!(
            "failed to find the primary of `{master}`: {}",
            problems.join("; ")
        ),
    })
}

/// `SENTINEL get-master-addr-by-name` on one Sentinel.
pub async fn ask_master_addr(
    sentinel: &Target,
    master: &str,
    timeouts: &Timeouts,
) -> Result<Option<Addr>, ClientError> {
    let mut conn = connect(sentinel, timeouts).await?;
    let reply: redis::RedisResult<Option<(String, u16)>> = redis::cmd("SENTINEL")
        .arg("get-master-addr-by-name")
        .arg(master)
        .query_async(&mut conn)
        .await;
    match reply {
        Ok(v) => Ok(v.map(|(h, p)| Addr::new(h, p))),
        Err(e) => Err(classify(sentinel, &e, timeouts.response)),
    }
}

/// The error a Sentinel connection returns when no Sentinel names a
/// reachable primary: the command was never sent (callers may count it as
/// refused, not as unknown). Recognise it with [`is_no_primary`].
pub fn no_primary(detail: String) -> RedisError {
    RedisError::from((
        redis::ErrorKind::MasterNameNotFoundBySentinel,
        "no primary reachable through the sentinels",
        detail,
    ))
}

/// Whether `e` is [`no_primary`]'s error.
pub fn is_no_primary(e: &RedisError) -> bool {
    e.kind() == redis::ErrorKind::MasterNameNotFoundBySentinel
}

/// Whether a command's outcome says the primary may have moved (a lost
/// connection, a timeout, `READONLY` and the like): the next command then
/// asks the Sentinels again.
pub(crate) fn may_mean_failover(result: &Result<Value, RedisError>) -> bool {
    match result {
        Ok(Value::ServerError(e)) => ReplyError::from_server_error(e).code.means_wrong_node(),
        Ok(_) => false,
        Err(e) => {
            e.is_io_error()
                || e.is_timeout()
                || e.is_connection_dropped()
                || ReplyError::from_redis(e).is_some_and(|r| r.code.means_wrong_node())
        }
    }
}

fn is_text(v: &Value, want: &str) -> bool {
    match v {
        Value::BulkString(b) => b.eq_ignore_ascii_case(want.as_bytes()),
        Value::SimpleString(s) => s.eq_ignore_ascii_case(want),
        _ => false,
    }
}

struct SentinelState {
    service: Service,
    timeouts: Timeouts,
    current: tokio::sync::Mutex<Option<(Addr, MultiplexedConnection)>>,
    /// Set by a `+switch-master` event or a failed command: the next command
    /// resolves the primary again.
    stale: Arc<AtomicBool>,
    watcher: std::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Drop for SentinelState {
    fn drop(&mut self) {
        if let Some(h) = self
            .watcher
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            h.abort();
        }
    }
}

/// A connection to whatever node the Sentinels currently name primary.
#[derive(Clone)]
pub struct SentinelConnection {
    state: Arc<SentinelState>,
    db: i64,
}

impl SentinelConnection {
    /// Resolves the primary and starts watching for `+switch-master`.
    pub async fn open(service: Service, timeouts: Timeouts) -> Result<Self, ClientError> {
        let current = resolve_primary(&service, &timeouts).await?;
        let db = service.node.db;
        let state = Arc::new(SentinelState {
            service,
            timeouts,
            current: tokio::sync::Mutex::new(Some(current)),
            stale: Arc::new(AtomicBool::new(false)),
            watcher: std::sync::Mutex::new(None),
        });
        let handle = tokio::spawn(watch_switch_master(
            state.service.clone(),
            timeouts,
            Arc::downgrade(&state.stale),
        ));
        *state
            .watcher
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(handle);
        Ok(Self { state, db })
    }

    /// The primary's announced address, as last resolved.
    pub async fn primary(&self) -> Option<Addr> {
        self.state
            .current
            .lock()
            .await
            .as_ref()
            .map(|(a, _)| a.clone())
    }

    async fn conn(&self) -> Result<MultiplexedConnection, RedisError> {
        let mut current = self.state.current.lock().await;
        if self.state.stale.swap(false, Ordering::SeqCst) {
            *current = None;
        }
        if let Some((_, c)) = current.as_ref() {
            return Ok(c.clone());
        }
        match resolve_primary(&self.state.service, &self.state.timeouts).await {
            Ok((addr, c)) => {
                *current = Some((addr, c.clone()));
                Ok(c)
            }
            Err(e) => Err(no_primary(e.to_string())),
        }
    }

    fn observe(&self, result: &Result<Value, RedisError>) {
        if may_mean_failover(result) {
            self.state.stale.store(true, Ordering::SeqCst);
        }
    }
}

impl ConnectionLike for SentinelConnection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            let result = conn.req_packed_command(cmd).await;
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
            let mut conn = self.conn().await?;
            let result = conn.req_packed_commands(pipeline, offset, count).await;
            match &result {
                Ok(values) => {
                    for v in values {
                        self.observe(&Ok(v.clone()));
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

/// Subscribes to `+switch-master` on the first Sentinel that answers and
/// sets `stale` on every event; reconnects (to the next Sentinel) when the
/// subscription drops. Ends once `stale`'s connection is gone.
pub(crate) async fn watch_switch_master(
    service: Service,
    timeouts: Timeouts,
    stale: std::sync::Weak<AtomicBool>,
) {
    use futures_util::StreamExt;
    let mut index = 0usize;
    let sentinels = service.seeds();
    loop {
        if stale.strong_count() == 0 {
            return;
        }
        let target = service.sentinel_target(&sentinels[index % sentinels.len()]);
        index += 1;
        let subscribed = async {
            let client = crate::client::client_for(&target).ok()?;
            let mut pubsub = tokio::time::timeout(
                timeouts.connect + timeouts.response,
                client.get_async_pubsub(),
            )
            .await
            .ok()?
            .ok()?;
            pubsub.subscribe("+switch-master").await.ok()?;
            Some(pubsub)
        }
        .await;
        let Some(pubsub) = subscribed else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        let mut messages = pubsub.into_on_message();
        while messages.next().await.is_some() {
            match stale.upgrade() {
                Some(s) => s.store(true, Ordering::SeqCst),
                None => return,
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Opens a redis-rs cluster connection whose every node address passes
/// through the service's address map.
async fn open_cluster(
    service: &Service,
    timeouts: &Timeouts,
) -> Result<ClusterConnection, ClientError> {
    crate::client::install_crypto_provider();
    let seeds: Vec<redis::ConnectionInfo> = service
        .seeds()
        .iter()
        .map(|a| crate::client::connection_info(&service.data_target(a)))
        .collect::<Result<_, _>>()?;
    let node = &service.node;
    let mut builder = redis::cluster::ClusterClientBuilder::new(seeds)
        .connection_timeout(timeouts.connect)
        .response_timeout(timeouts.response)
        .retries(1)
        .async_dns_resolver(MappedResolver {
            service: service.clone(),
        });
    if let Some(user) = &node.user {
        builder = builder.username(user);
    }
    if let Some(pw) = &node.password {
        builder = builder.password(pw.expose());
    }
    if node.tls {
        builder = builder.tls(redis::TlsMode::Secure);
        if let Some(certs) = crate::client::tls_certificates(node)? {
            builder = builder.certs(certs);
        }
    }
    let client = builder
        .build()
        .map_err(|e| classify(node, &e, timeouts.connect))?;
    let connecting = client.get_async_connection();
    let mut conn =
        match tokio::time::timeout(timeouts.connect + timeouts.response * 2, connecting).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => return Err(classify(node, &e, timeouts.connect)),
            Err(_) => {
                return Err(ClientError::Timeout {
                    address: node.address(),
                    timeout: timeouts.connect,
                })
            }
        };
    let ping: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut conn).await;
    ping.map_err(|e| classify(node, &e, timeouts.response))?;
    Ok(conn)
}

/// DNS for the cluster client: announced name and port → reachable
/// address → socket addresses.
struct MappedResolver {
    service: Service,
}

impl redis::io::AsyncDNSResolver for MappedResolver {
    fn resolve<'a, 'b: 'a>(
        &'a self,
        host: &'b str,
        port: u16,
    ) -> RedisFuture<'a, Box<dyn Iterator<Item = std::net::SocketAddr> + Send + 'a>> {
        Box::pin(async move {
            let to = self.service.reachable(&Addr::new(host, port));
            let addrs: Vec<std::net::SocketAddr> =
                tokio::net::lookup_host((to.host.as_str(), to.port))
                    .await
                    .map_err(|e| {
                        RedisError::from((redis::ErrorKind::Io, "failed to resolve", e.to_string()))
                    })?
                    .collect();
            Ok(Box::new(addrs.into_iter()) as Box<dyn Iterator<Item = _> + Send>)
        })
    }
}
