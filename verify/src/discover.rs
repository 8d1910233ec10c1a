//! Finds every node of the target and opens a context on each.
//!
//! A `redis://` target is one node. A Sentinel target is asked for its
//! primary, replicas and peer Sentinels; a Cluster seed for `CLUSTER NODES`.
//! Announced addresses go through the service's address map. A launched
//! deployment also contributes its own node list (a replica whose link
//! never came up is unknown to Sentinel, but still a node to check) and its
//! ids as labels. Only the entry point failing is fatal; any other node
//! that does not answer is reported as unreachable.

use crate::config::Settings;
use crate::ctx::{value_text, Ctx};
use crate::fleet::{Expected, Fleet, FleetKind, Member, Role};
use redis::Value;
use std::collections::BTreeMap;
use topology::{Addr, Service, ServiceKind, Target, Timeouts};

/// What a launched deployment knows about itself.
#[derive(Clone, Debug, Default)]
pub struct LaunchedView {
    /// (id, announced address, is a Sentinel) per node.
    pub nodes: Vec<(String, Addr, bool)>,
    /// The shape it was launched with.
    pub expected: Expected,
}

impl LaunchedView {
    /// The view of a launched deployment.
    pub fn of(d: &topology::Deployment) -> Self {
        let expected = match d.topology {
            topology::Topology::Standalone => Expected::default(),
            topology::Topology::Sentinel {
                replicas,
                sentinels,
                ..
            } => Expected {
                replicas_per_primary: Some(usize::from(replicas)),
                sentinels: Some(usize::from(sentinels)),
            },
            topology::Topology::Cluster {
                replicas_per_shard, ..
            } => Expected {
                replicas_per_primary: Some(usize::from(replicas_per_shard)),
                sentinels: None,
            },
        };
        Self {
            nodes: d
                .nodes()
                .iter()
                .map(|n| (n.id.clone(), n.announced.clone(), n.is_sentinel()))
                .collect(),
            expected,
        }
    }

    fn label(&self, announced: &Addr) -> String {
        self.nodes
            .iter()
            .find(|(_, a, _)| a == announced)
            .map(|(id, _, _)| id.clone())
            .unwrap_or_else(|| announced.to_string())
    }
}

struct Builder<'a> {
    service: &'a Service,
    timeouts: Timeouts,
    settings: &'a Settings,
    launched: LaunchedView,
    fleet: Fleet,
    seen: Known,
}

/// Nodes already added, by announced and by reached address: a compose
/// Sentinel given as `127.0.0.1:26381` is reported by its peers as
/// `sentinel-1:26381`, which reaches the same server and is not a second
/// Sentinel.
#[derive(Default)]
struct Known {
    announced: Vec<Addr>,
    reached: Vec<String>,
}

impl Known {
    /// Records a node; false when it is already known by either address.
    fn insert(&mut self, announced: &Addr, reached: &str) -> bool {
        if self.contains(announced) || self.reached.iter().any(|r| r == reached) {
            return false;
        }
        self.announced.push(announced.clone());
        self.reached.push(reached.to_owned());
        true
    }

    fn contains(&self, announced: &Addr) -> bool {
        self.announced.contains(announced)
    }
}

impl Builder<'_> {
    async fn add(&mut self, announced: Addr, target: Target, role: Role, sentinel: bool) {
        let reached = target.address();
        if !self.seen.insert(&announced, &reached) {
            return;
        }
        let label = self.launched.label(&announced);
        if reached != announced.to_string() {
            self.fleet.notes.push(format!(
                "{label}: announced as {announced}, reached at {reached}"
            ));
        }
        match topology::connect(&target, &self.timeouts).await {
            Ok(conn) => {
                let ctx = Ctx::live(target, conn, self.timeouts, self.settings.clone());
                let role = if sentinel {
                    Role::Sentinel
                } else {
                    refine_role(&ctx, role).await
                };
                let member = Member { label, role, ctx };
                if sentinel {
                    self.fleet.sentinels.push(member);
                } else {
                    self.fleet.data.push(member);
                }
            }
            Err(e) => self.fleet.unreachable.push((label, e.to_string())),
        }
    }

    /// Nodes of the launched deployment discovery did not find.
    async fn add_launched_rest(&mut self) {
        for (id, announced, sentinel) in self.launched.nodes.clone() {
            if self.seen.contains(&announced) {
                continue;
            }
            self.fleet.notes.push(format!(
                "{id}: not reported by the deployment; checked because it was launched"
            ));
            let target = if sentinel {
                self.service.sentinel_target(&announced)
            } else {
                self.service.data_target(&announced)
            };
            self.add(announced, target, Role::Unknown, sentinel).await;
        }
    }
}

/// ROLE, when the user may run it; else what discovery believed.
async fn refine_role(ctx: &Ctx, believed: Role) -> Role {
    match ctx.cmd(&["ROLE"]).await {
        Ok(Value::Array(items)) => match items.first().map(value_text).as_deref() {
            Some("master") if believed == Role::Standalone => Role::Standalone,
            Some("master") => Role::Primary,
            Some("slave") => Role::Replica,
            _ => believed,
        },
        _ => believed,
    }
}

/// Discovers the deployment behind `service`.
pub async fn discover(
    service: &Service,
    timeouts: &Timeouts,
    settings: &Settings,
    launched: Option<LaunchedView>,
) -> Result<Fleet, String> {
    let launched = launched.unwrap_or_default();
    let kind = match &service.kind {
        ServiceKind::Standalone => FleetKind::Standalone,
        ServiceKind::Sentinel { master, .. } => FleetKind::Sentinel {
            master: master.clone(),
        },
        ServiceKind::Cluster { .. } => FleetKind::Cluster,
    };
    let mut b = Builder {
        service,
        timeouts: *timeouts,
        settings,
        fleet: Fleet {
            kind,
            data: Vec::new(),
            sentinels: Vec::new(),
            expected: launched.expected.clone(),
            notes: Vec::new(),
            unreachable: Vec::new(),
            settings: settings.clone(),
        },
        launched,
        seen: Known::default(),
    };
    if b.fleet.expected == Expected::default() {
        b.fleet.expected = Expected {
            replicas_per_primary: settings.topology.replicas,
            sentinels: settings.topology.sentinels,
        };
    }
    match &service.kind {
        ServiceKind::Standalone => {
            // The entry point must answer: its error is the run's error.
            let conn = topology::connect(&service.node, timeouts)
                .await
                .map_err(|e| e.to_string())?;
            let addr = Addr::new(service.node.host.clone(), service.node.port);
            let label = b.launched.label(&addr);
            let ctx = Ctx::live(service.node.clone(), conn, *timeouts, settings.clone());
            b.fleet.data.push(Member {
                label,
                role: Role::Standalone,
                ctx,
            });
        }
        ServiceKind::Sentinel { sentinels, master } => {
            discover_sentinel(&mut b, sentinels, master).await?;
            b.add_launched_rest().await;
        }
        ServiceKind::Cluster { seeds } => {
            discover_cluster(&mut b, seeds).await?;
            b.add_launched_rest().await;
        }
    }
    if b.fleet.data.is_empty() {
        return Err("failed to reach any data node of the deployment".into());
    }
    // Reports list the entry node (standalone target, primary, first seed)
    // first and the rest by label, whatever order the deployment replied in.
    match b.fleet.kind {
        FleetKind::Cluster => b.fleet.data.sort_by(|a, c| a.label.cmp(&c.label)),
        _ => {
            if let Some((_, rest)) = b.fleet.data.split_first_mut() {
                rest.sort_by(|a, c| a.label.cmp(&c.label));
            }
        }
    }
    b.fleet.sentinels.sort_by(|a, c| a.label.cmp(&c.label));
    Ok(b.fleet)
}

async fn discover_sentinel(
    b: &mut Builder<'_>,
    seeds: &[Addr],
    master: &str,
) -> Result<(), String> {
    // Sentinels first: every one the user named, then peers they report.
    let mut first_error = None;
    for seed in seeds {
        // A seed is reachable as given; label it by its announced name when
        // it belongs to a launched deployment.
        let announced = b
            .launched
            .nodes
            .iter()
            .find(|(_, a, s)| *s && b.service.reachable(a) == *seed)
            .map(|(_, a, _)| a.clone())
            .unwrap_or_else(|| seed.clone());
        let target = b.service.sentinel_target(seed);
        if let Err(e) = topology::connect(&target, &b.timeouts).await {
            first_error.get_or_insert_with(|| e.to_string());
        }
        b.add(announced, target, Role::Sentinel, true).await;
    }
    let Some(entry) = b.fleet.sentinels.first() else {
        return Err(first_error.unwrap_or_else(|| "no sentinel given".into()));
    };
    let primary = match entry
        .ctx
        .cmd(&["SENTINEL", "GET-MASTER-ADDR-BY-NAME", master])
        .await
    {
        Ok(Value::Array(v)) if v.len() == 2 => {
            let port = value_text(&v[1])
                .parse::<u16>()
                .map_err(|_| "sentinel replied with a bad port".to_owned())?;
            Addr::new(value_text(&v[0]), port)
        }
        Ok(_) => {
            return Err(format!(
                "failed to find master `{master}`: the sentinels do not monitor it"
            ))
        }
        Err(e) => return Err(format!("failed to ask the sentinels for `{master}`: {e}")),
    };
    let peers = table(entry.ctx.cmd(&["SENTINEL", "SENTINELS", master]).await);
    let replicas = table(entry.ctx.cmd(&["SENTINEL", "REPLICAS", master]).await);
    for peer in peers {
        if let Some(addr) = addr_of(&peer) {
            let target = b.service.sentinel_target(&addr);
            b.add(addr, target, Role::Sentinel, true).await;
        }
    }
    let target = b.service.data_target(&primary);
    b.add(primary, target, Role::Primary, false).await;
    for replica in replicas {
        if let Some(addr) = addr_of(&replica) {
            let target = b.service.data_target(&addr);
            b.add(addr, target, Role::Replica, false).await;
        }
    }
    Ok(())
}

async fn discover_cluster(b: &mut Builder<'_>, seeds: &[Addr]) -> Result<(), String> {
    let mut last = String::from("no seed given");
    for seed in seeds {
        let target = b.service.data_target(seed);
        let conn = match topology::connect(&target, &b.timeouts).await {
            Ok(c) => c,
            Err(e) => {
                last = e.to_string();
                continue;
            }
        };
        let ctx = Ctx::live(target, conn, b.timeouts, b.settings.clone());
        let text = match ctx.cmd(&["CLUSTER", "NODES"]).await {
            Ok(v) => value_text(&v),
            Err(e) => {
                last = format!("CLUSTER NODES on {seed}: {e}");
                continue;
            }
        };
        for node in topology::cluster_nodes::parse(&text) {
            let role = if node.has("master") {
                Role::Primary
            } else if node.has("slave") {
                Role::Replica
            } else {
                Role::Unknown
            };
            let target = b.service.data_target(&node.announced);
            b.add(node.announced, target, role, false).await;
        }
        return Ok(());
    }
    Err(last)
}

/// A Sentinel table reply (array of flat field/value arrays, or maps).
pub fn table(reply: Result<Value, String>) -> Vec<BTreeMap<String, String>> {
    let Ok(Value::Array(rows)) = reply else {
        return Vec::new();
    };
    rows.iter().map(row).collect()
}

/// One field/value row of a Sentinel reply.
pub fn row(v: &Value) -> BTreeMap<String, String> {
    match v {
        Value::Array(items) => items
            .chunks(2)
            .filter_map(|kv| match kv {
                [k, v] => Some((value_text(k), value_text(v))),
                _ => None,
            })
            .collect(),
        Value::Map(pairs) => pairs
            .iter()
            .map(|(k, v)| (value_text(k), value_text(v)))
            .collect(),
        _ => BTreeMap::new(),
    }
}

fn addr_of(row: &BTreeMap<String, String>) -> Option<Addr> {
    Some(Addr::new(
        row.get("ip")?.clone(),
        row.get("port")?.parse().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sentinel_tables() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("ip"),
            bulk("redis-2"),
            bulk("port"),
            bulk("6382"),
        ])]);
        let rows = table(Ok(reply));
        assert_eq!(addr_of(&rows[0]), Some(Addr::new("redis-2", 6382)));
        assert!(table(Err("NOPERM".into())).is_empty());
    }

    /// Regression: compose Sentinels were listed twice, once as the seed
    /// (`127.0.0.1:26381`) and once as a peer's report (`sentinel-1:26381`).
    #[test]
    fn compose_sentinel_reported_by_name_is_not_listed_twice() {
        let mut k = Known::default();
        assert!(k.insert(&Addr::new("127.0.0.1", 26381), "127.0.0.1:26381"));
        assert!(!k.insert(&Addr::new("sentinel-1", 26381), "127.0.0.1:26381"));
        assert!(!k.insert(&Addr::new("127.0.0.1", 26381), "127.0.0.1:26381"));
        assert!(k.insert(&Addr::new("sentinel-2", 26382), "127.0.0.1:26382"));
        assert!(k.contains(&Addr::new("sentinel-2", 26382)));
        assert!(!k.contains(&Addr::new("sentinel-1", 26381)));
    }
}
