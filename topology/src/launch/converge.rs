//! Bounded waits for a launched deployment to reach its shape: every node
//! answers; Sentinels agree on one primary that has its replicas linked and
//! knows its peers; every cluster node sees all 16384 slots served and each
//! shard its replicas. A wait that runs out says what it saw last.

use super::{probe, Deployment, LaunchError};
use crate::address::Addr;
use crate::client::Timeouts;
use crate::spec::{Profile, Topology, MASTER_NAME};
use crate::target::Target;
use redis::aio::MultiplexedConnection;
use std::collections::BTreeMap;
use std::time::Duration;

/// Short bounds for probes while waiting: a paused node must not stall the wait.
pub(super) fn probe_timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(1),
        response: Duration::from_secs(2),
    }
}

const POLL: Duration = Duration::from_millis(200);

/// Waits until `target` answers PING.
pub(super) async fn wait_ping(target: &Target, bound: Duration) -> Result<(), LaunchError> {
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        let last = match probe(target).await {
            Ok(_) => return Ok(()),
            Err(e) => e.to_string(),
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(LaunchError::NotReady {
                timeout: bound,
                last,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits until the deployment has converged.
pub(super) async fn wait(d: &Deployment, bound: Duration) -> Result<(), LaunchError> {
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        let last = match check(d).await {
            Ok(()) => return Ok(()),
            Err(seen) => seen,
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(LaunchError::NotReady {
                timeout: bound,
                last,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// One look: `Err` says what is not there yet.
async fn check(d: &Deployment) -> Result<(), String> {
    for node in d.nodes() {
        probe(&d.node_target(node))
            .await
            .map_err(|e| format!("{} does not answer: {e}", node.id))?;
    }
    match d.topology {
        Topology::Standalone => Ok(()),
        Topology::Sentinel {
            replicas,
            sentinels,
            ..
        } => check_sentinel(d, replicas, sentinels).await,
        Topology::Cluster { .. } => check_cluster(d).await,
    }
}

pub(super) async fn query(
    conn: &mut MultiplexedConnection,
    args: &[&str],
) -> Result<redis::Value, String> {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query_async(conn)
        .await
        .map_err(|e| format!("{}: {e}", args.join(" ")))
}

pub(super) async fn text(
    conn: &mut MultiplexedConnection,
    args: &[&str],
) -> Result<String, String> {
    match query(conn, args).await? {
        redis::Value::BulkString(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
        redis::Value::VerbatimString { text, .. } => Ok(text),
        redis::Value::SimpleString(s) => Ok(s),
        other => Err(format!("{}: unexpected reply {other:?}", args.join(" "))),
    }
}

/// `field:value` lines of INFO.
pub(super) fn info_fields(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.trim_end_matches('\r').split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

async fn connect_node(d: &Deployment, id: &str) -> Result<MultiplexedConnection, String> {
    let node = d.node(id).map_err(|e| e.to_string())?;
    probe(&d.node_target(node))
        .await
        .map_err(|e| format!("{id}: {e}"))
}

async fn check_sentinel(d: &Deployment, replicas: u8, sentinels: u8) -> Result<(), String> {
    // Every Sentinel names the same primary.
    let mut named: Option<Addr> = None;
    for s in d.sentinels() {
        let mut c = connect_node(d, &s.id).await?;
        let reply: Option<(String, u16)> = redis::cmd("SENTINEL")
            .arg("get-master-addr-by-name")
            .arg(MASTER_NAME)
            .query_async(&mut c)
            .await
            .map_err(|e| format!("{}: {e}", s.id))?;
        let addr = reply
            .map(|(h, p)| Addr::new(h, p))
            .ok_or_else(|| format!("{} knows no primary", s.id))?;
        match &named {
            Some(a) if *a != addr => {
                return Err(format!("sentinels disagree: {a} and {addr} ({})", s.id))
            }
            _ => named = Some(addr),
        }
        let master = info_fields(&sentinel_master(&mut c).await?);
        let others = master
            .get("num-other-sentinels")
            .cloned()
            .unwrap_or_default();
        if others != (sentinels - 1).to_string() {
            return Err(format!(
                "{} knows {others} other sentinels, not {}",
                s.id,
                sentinels - 1
            ));
        }
    }
    let primary_addr = named.ok_or("no sentinels")?;
    let primary = d
        .nodes()
        .iter()
        .find(|n| n.announced == primary_addr)
        .ok_or_else(|| format!("sentinels name {primary_addr}, not a node"))?;
    let mut c = connect_node(d, &primary.id).await?;
    let info = info_fields(&text(&mut c, &["INFO", "replication"]).await?);
    if info.get("role").map(String::as_str) != Some("master") {
        return Err(format!(
            "{} is named primary but is not one yet",
            primary.id
        ));
    }
    // The weak profile's third node cannot authenticate to its primary by
    // design; everything else must be linked.
    let expected = match d.profile {
        Profile::Hardened => replicas,
        Profile::Weak if replicas >= 2 => replicas - 1,
        Profile::Weak => replicas,
    };
    let linked = (0..usize::from(replicas) + 1)
        .filter_map(|i| info.get(&format!("slave{i}")))
        .filter(|v| v.contains("state=online"))
        .count();
    if linked < usize::from(expected) {
        return Err(format!(
            "primary {} has {linked} of {expected} replicas online",
            primary.id
        ));
    }
    Ok(())
}

async fn sentinel_master(c: &mut MultiplexedConnection) -> Result<String, String> {
    // SENTINEL MASTER replies with a flat field/value list; render it as INFO.
    let reply = query(c, &["SENTINEL", "MASTER", MASTER_NAME]).await?;
    let items = match reply {
        redis::Value::Array(items) => items,
        redis::Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        other => return Err(format!("SENTINEL MASTER: unexpected reply {other:?}")),
    };
    let words: Vec<String> = items
        .iter()
        .map(|v| match v {
            redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
            redis::Value::SimpleString(s) => s.clone(),
            redis::Value::Int(i) => i.to_string(),
            _ => String::new(),
        })
        .collect();
    Ok(words
        .chunks(2)
        .map(|kv| format!("{}:{}", kv[0], kv.get(1).cloned().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join("\n"))
}

async fn check_cluster(d: &Deployment) -> Result<(), String> {
    let data: Vec<_> = d.data_nodes().collect();
    for node in &data {
        let mut c = connect_node(d, &node.id).await?;
        let info = info_fields(&text(&mut c, &["CLUSTER", "INFO"]).await?);
        let field = |k: &str| info.get(k).cloned().unwrap_or_default();
        if field("cluster_state") != "ok" {
            return Err(format!(
                "{}: cluster_state:{}",
                node.id,
                field("cluster_state")
            ));
        }
        if field("cluster_slots_assigned") != "16384" || field("cluster_slots_ok") != "16384" {
            return Err(format!(
                "{}: {} slots assigned, {} ok",
                node.id,
                field("cluster_slots_assigned"),
                field("cluster_slots_ok")
            ));
        }
        if field("cluster_known_nodes") != data.len().to_string() {
            return Err(format!(
                "{} knows {} of {} nodes",
                node.id,
                field("cluster_known_nodes"),
                data.len()
            ));
        }
    }
    // Roles may have moved (a failover): whatever node is a replica now
    // must have its link up, and there must be one primary per shard.
    let mut primaries = 0;
    for node in &data {
        let mut c = connect_node(d, &node.id).await?;
        let info = info_fields(&text(&mut c, &["INFO", "replication"]).await?);
        match info.get("role").map(String::as_str) {
            Some("master") => primaries += 1,
            _ if info.get("master_link_status").map(String::as_str) != Some("up") => {
                return Err(format!("{}: replication link not up yet", node.id));
            }
            _ => {}
        }
    }
    let shards = match d.topology {
        Topology::Cluster { shards, .. } => usize::from(shards),
        _ => primaries,
    };
    if primaries != shards {
        return Err(format!("{primaries} nodes report primary, not {shards}"));
    }
    Ok(())
}
