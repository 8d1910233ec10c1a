//! End-of-run cleanup: removes the run's keys from a target loadtest did
//! not launch (most have TTLs anyway; getset and cache values would
//! otherwise linger).

use std::time::{Duration, Instant};
use topology::{Service, ServiceKind, Timeouts};

/// Longest the end-of-run key cleanup may take.
const CLEANUP_BUDGET: Duration = Duration::from_secs(15);

/// Removes the run's keys from a target we did not launch (most have TTLs
/// anyway; getset and cache values would otherwise linger). SCAN walks one
/// node, so on a Cluster every primary is scanned. Bounded in time and
/// rounds; a failure only leaves keys behind.
pub(crate) async fn cleanup(service: &Service, prefix: &str) {
    let deadline = Instant::now() + CLEANUP_BUDGET;
    let timeouts = Timeouts::default();
    let nodes = match &service.kind {
        ServiceKind::Cluster { .. } => cluster_primaries(service, &timeouts).await,
        ServiceKind::Sentinel { .. } => {
            match topology::conn::resolve_primary(service, &timeouts).await {
                Ok((_, c)) => vec![c],
                Err(_) => Vec::new(),
            }
        }
        ServiceKind::Standalone => topology::connect(&service.node, &timeouts)
            .await
            .into_iter()
            .collect(),
    };
    for mut conn in nodes {
        scan_unlink(&mut conn, prefix, deadline).await;
    }
}

/// Connections to every primary of a cluster (from `CLUSTER NODES`).
async fn cluster_primaries(
    service: &Service,
    timeouts: &Timeouts,
) -> Vec<redis::aio::MultiplexedConnection> {
    let mut out = Vec::new();
    for seed in service.seeds() {
        let Ok(mut c) = topology::connect(&service.data_target(&seed), timeouts).await else {
            continue;
        };
        let Ok(text) = redis::cmd("CLUSTER")
            .arg("NODES")
            .query_async::<String>(&mut c)
            .await
        else {
            continue;
        };
        for node in topology::cluster_nodes::parse(&text) {
            if !node.has("master") {
                continue;
            }
            if let Ok(n) = topology::connect(&service.data_target(&node.announced), timeouts).await
            {
                out.push(n);
            }
        }
        break;
    }
    out
}

async fn scan_unlink(
    conn: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
    deadline: Instant,
) {
    let pattern = format!("{prefix}*");
    let mut cursor: u64 = 0;
    for _ in 0..100_000 {
        let page: redis::RedisResult<(u64, Vec<String>)> = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await;
        let Ok((next, keys)) = page else { return };
        // One UNLINK per key: on a cluster node the keys of one page can
        // sit in different slots (CROSSSLOT for a multi-key UNLINK).
        for key in &keys {
            let _: redis::RedisResult<i64> = redis::cmd("UNLINK").arg(key).query_async(conn).await;
        }
        cursor = next;
        if cursor == 0 || Instant::now() >= deadline {
            return;
        }
    }
}
