//! Creates the cluster of a launched deployment once: every node meets the
//! first, the primaries take equal slot ranges, each replica follows its
//! shard's primary. What `redis-cli --cluster create` does, done through the
//! same bounded connections as everything else (and without its prompts).

use super::converge::{query, text};
use super::{peer_ip, probe, Deployment, LaunchError, Launcher};
use crate::spec::InitialRole;
use std::time::Duration;

const SLOTS: u32 = 16384;
const MEET_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) async fn create(d: &Deployment, launcher: Launcher) -> Result<(), LaunchError> {
    let failed = |last: String| LaunchError::NotReady {
        timeout: MEET_TIMEOUT,
        last,
    };
    let data: Vec<_> = d.data_nodes().collect();
    let mut conns = Vec::with_capacity(data.len());
    let mut ids = Vec::with_capacity(data.len());
    for node in &data {
        super::converge::wait_ping(&d.node_target(node), MEET_TIMEOUT).await?;
        let mut c = probe(&d.node_target(node))
            .await
            .map_err(|e| failed(e.to_string()))?;
        ids.push(text(&mut c, &["CLUSTER", "MYID"]).await.map_err(failed)?);
        conns.push(c);
    }
    let bus = |i: usize| match launcher {
        Launcher::Docker => super::docker::BUS_PORT,
        Launcher::Process => d.nodes()[i].bus_port,
    };
    for (i, node) in data.iter().enumerate().skip(1) {
        let ip = peer_ip(node).await?;
        let port = node.announced.port.to_string();
        query(
            &mut conns[0],
            &["CLUSTER", "MEET", &ip, &port, &bus(i).to_string()],
        )
        .await
        .map_err(failed)?;
    }
    let primaries: Vec<usize> = (0..data.len())
        .filter(|&i| matches!(data[i].role, InitialRole::ClusterPrimary { .. }))
        .collect();
    let n = u32::try_from(primaries.len()).unwrap_or(1);
    for (k, &i) in primaries.iter().enumerate() {
        let k = u32::try_from(k).unwrap_or(0);
        let (start, end) = (k * SLOTS / n, (k + 1) * SLOTS / n - 1);
        query(
            &mut conns[i],
            &[
                "CLUSTER",
                "ADDSLOTSRANGE",
                &start.to_string(),
                &end.to_string(),
            ],
        )
        .await
        .map_err(failed)?;
    }
    // A replica can follow its primary only once it knows that node.
    let deadline = tokio::time::Instant::now() + MEET_TIMEOUT;
    for i in 0..data.len() {
        let InitialRole::ClusterReplica { shard } = data[i].role else {
            continue;
        };
        let primary = primaries
            .iter()
            .copied()
            .find(|&p| data[p].role == InitialRole::ClusterPrimary { shard })
            .ok_or_else(|| failed(format!("shard {shard} has no primary")))?;
        loop {
            match query(&mut conns[i], &["CLUSTER", "REPLICATE", &ids[primary]]).await {
                Ok(_) => break,
                Err(e) if tokio::time::Instant::now() >= deadline => return Err(failed(e)),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
    Ok(())
}
