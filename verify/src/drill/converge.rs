//! Convergence of an existing deployment after a drill, judged over the
//! Redis protocol only (a launched one uses its launcher's check): exactly
//! one data node per shard reports master, every replica's link to its
//! primary is up, and every Sentinel names that primary.

use super::control::{probe, DrillNode, Subject};
use super::{admin_command, DrillError};
use std::time::Duration;
use topology::{Target, Topology};

/// Waits, bounded, until `target` answers PING.
pub async fn wait_ping(target: &Target, bound: Duration) -> Result<(), DrillError> {
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        let last = match admin_command(target, &["PING"]).await {
            Ok(_) => return Ok(()),
            Err(e) => e.to_string(),
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(DrillError::Other(format!(
                "see {} answer within {bound:?}: {last}",
                target.address()
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits, bounded, until [`shape`] finds nothing wrong.
pub async fn wait(s: &Subject<'_>, bound: Duration) -> Result<(), DrillError> {
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        let problem = match shape(s).await {
            Ok(()) => return Ok(()),
            Err(p) => p,
        };
        if tokio::time::Instant::now() >= deadline {
            return Err(DrillError::Other(format!(
                "see the deployment converge within {bound:?}: {problem}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// What is wrong with the deployment's shape now, if anything.
async fn shape(s: &Subject<'_>) -> Result<(), String> {
    let mut masters = Vec::new();
    for n in s.data_nodes() {
        let info = info_replication(n).await?;
        match info.get("role").map(String::as_str) {
            Some("master") => masters.push(n.id.clone()),
            Some("slave") => {
                if info.get("master_link_status").map(String::as_str) != Some("up") {
                    return Err(format!("{}: replication link not up", n.id));
                }
            }
            other => return Err(format!("{}: role {other:?}", n.id)),
        }
    }
    let shards = match s.topology {
        Topology::Cluster { shards, .. } => usize::from(shards),
        _ => 1,
    };
    if masters.len() != shards {
        return Err(format!(
            "{} nodes report master ({}), expected {shards}",
            masters.len(),
            masters.join(", ")
        ));
    }
    if let Topology::Sentinel { .. } = s.topology {
        let master = s.master_name();
        let primary = s.data_nodes().find(|n| n.id == masters[0]).cloned();
        for sentinel in s.sentinels() {
            let reply = admin_command(
                &sentinel.target,
                &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", &master],
            )
            .await
            .map_err(|e| e.to_string())?;
            let named = reply.split_whitespace().collect::<Vec<_>>().join(":");
            if primary
                .as_ref()
                .is_none_or(|p| p.announced.to_string() != named)
            {
                return Err(format!(
                    "{} names {named}, the nodes say {}",
                    sentinel.id, masters[0]
                ));
            }
        }
    }
    Ok(())
}

async fn info_replication(
    n: &DrillNode,
) -> Result<std::collections::BTreeMap<String, String>, String> {
    let mut c = topology::connect(&n.target, &probe())
        .await
        .map_err(|e| format!("{}: {e}", n.id))?;
    let text: String = redis::cmd("INFO")
        .arg("replication")
        .query_async(&mut c)
        .await
        .map_err(|e| format!("{}: {}", n.id, topology::client::one_line(&e.to_string())))?;
    Ok(text
        .lines()
        .filter_map(|l| l.trim().split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}
