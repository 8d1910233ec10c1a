//! Node specs: the plan rendered into the exact files each node starts with.
//!
//! Rendering happens once, here, for both launchers: a launcher only says
//! where each node lives ([`Placement`]) and starts what it is given. The
//! hardened profile renders `redis-conf/`; the weak profile writes stock
//! settings with the policy undone, so each check has something to catch.

use crate::address::Addr;
use crate::credentials::Credentials;
use crate::policy::{
    quote, render_cluster_conf, render_redis_conf, render_replication_conf, render_sentinel_conf,
    render_tls_conf, render_users_acl, PeerParams, RenderError, SentinelParams, ServerParams,
    TlsParams,
};
use crate::spec::{plan, InitialRole, NodePlan, Profile, Topology, MASTER_NAME};

/// `maxmemory` for launched hardened servers: small, because they are
/// ephemeral test deployments, and always below the host's memory.
pub const LAUNCHED_MAXMEMORY: &str = "256mb";

/// Where one node lives, decided by the launcher.
#[derive(Clone, Debug)]
pub struct Placement {
    /// `bind` value.
    pub bind: String,
    /// Client port (inside the node's network namespace).
    pub port: u16,
    /// Cluster bus port, for Cluster nodes.
    pub bus_port: u16,
    /// Data / working directory as the node sees it.
    pub dir: String,
    /// The name peers and clients reach the node at.
    pub announce_host: String,
}

/// Which program a node runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program {
    /// `redis-server`.
    Server,
    /// `redis-sentinel`.
    Sentinel,
}

/// Everything needed to start one node.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    /// Stable id (`n1`, `s1`, …).
    pub id: String,
    /// Starting role.
    pub role: InitialRole,
    /// Where it lives.
    pub placement: Placement,
    /// What it runs.
    pub program: Program,
    /// The main config file's name inside `placement.dir`.
    pub config_name: &'static str,
    /// Files to write into `placement.dir` before the first start: (name,
    /// text). They may hold password hashes and clear-text replication
    /// secrets, so launchers write them private to their owner.
    pub files: Vec<(&'static str, String)>,
}

impl NodeSpec {
    /// The address this node announces.
    pub fn announced(&self) -> Addr {
        Addr::new(self.placement.announce_host.clone(), self.placement.port)
    }
}

/// Renders every node of `topology`. `place` decides each node's placement;
/// it is called once per node, data nodes first.
pub fn render_nodes(
    topology: &Topology,
    profile: Profile,
    credentials: Option<&Credentials>,
    place: &mut dyn FnMut(&NodePlan) -> Placement,
) -> Result<Vec<NodeSpec>, RenderError> {
    let plans = plan(topology, profile);
    let placements: Vec<Placement> = plans.iter().map(&mut *place).collect();
    let primary = plans
        .iter()
        .zip(&placements)
        .find(|(p, _)| p.role == InitialRole::Primary)
        .map(|(_, pl)| (pl.announce_host.clone(), pl.port));
    let quorum = match topology {
        Topology::Sentinel { quorum, .. } => *quorum,
        _ => 0,
    };
    let mut specs = Vec::with_capacity(plans.len());
    for (i, (node, placement)) in plans.iter().zip(placements).enumerate() {
        let peer = PeerParams {
            announce_host: placement.announce_host.clone(),
            announce_port: placement.port,
            primary: matches!(node.role, InitialRole::Replica | InitialRole::Sentinel)
                .then(|| primary.clone())
                .flatten(),
        };
        let (program, config_name, files) = match (profile, credentials) {
            (Profile::Hardened, Some(c)) => hardened_files(node, &placement, &peer, c, quorum)?,
            _ => weak_files(node, i, &placement, &peer, quorum),
        };
        specs.push(NodeSpec {
            id: node.id.clone(),
            role: node.role,
            placement,
            program,
            config_name,
            files,
        });
    }
    Ok(specs)
}

type Files = (Program, &'static str, Vec<(&'static str, String)>);

fn hardened_files(
    node: &NodePlan,
    placement: &Placement,
    peer: &PeerParams,
    c: &Credentials,
    quorum: u8,
) -> Result<Files, RenderError> {
    if node.role == InitialRole::Sentinel {
        let conf = render_sentinel_conf(
            c,
            &SentinelParams {
                bind: placement.bind.clone(),
                port: placement.port,
                dir: placement.dir.clone(),
                peer: peer.clone(),
                master_name: MASTER_NAME.to_owned(),
                quorum,
            },
        )?;
        return Ok((
            Program::Sentinel,
            "sentinel.conf",
            vec![("sentinel.conf", conf)],
        ));
    }
    let mut conf = render_redis_conf(&ServerParams {
        bind: placement.bind.clone(),
        port: placement.port,
        dir: placement.dir.clone(),
        aclfile: format!("{}/users.acl", placement.dir.trim_end_matches('/')),
        maxmemory: LAUNCHED_MAXMEMORY.into(),
    })?;
    match node.role {
        InitialRole::Primary | InitialRole::Replica => {
            conf.push_str("\n# ---- redis-conf/replication.conf ----\n");
            conf.push_str(&render_replication_conf(c, peer)?);
        }
        InitialRole::ClusterPrimary { .. } | InitialRole::ClusterReplica { .. } => {
            conf.push_str("\n# ---- redis-conf/cluster.conf ----\n");
            conf.push_str(&render_cluster_conf(c, peer)?);
            conf.push_str(&placement_lines(placement));
        }
        InitialRole::Standalone | InitialRole::Sentinel => {}
    }
    Ok((
        Program::Server,
        "redis.conf",
        vec![("redis.conf", conf), ("users.acl", render_users_acl(c)?)],
    ))
}

/// Lines that depend on where the node runs, not on the policy.
fn placement_lines(placement: &Placement) -> String {
    format!(
        "\n# ---- placement (launcher) ----\ncluster-port {}\n",
        placement.bus_port
    )
}

/// The weak profile: Redis defaults with the policy undone, plus the
/// multi-node weaknesses. Index `i` picks which replica gets which flaw.
fn weak_files(
    node: &NodePlan,
    i: usize,
    placement: &Placement,
    peer: &PeerParams,
    quorum: u8,
) -> Files {
    let mut lines = vec![
        format!("bind {}", placement.bind),
        format!("port {}", placement.port),
        format!("dir {}", quote(&placement.dir)),
        "protected-mode no".to_owned(),
    ];
    if node.role == InitialRole::Sentinel {
        // No users, no auth, scripts reconfigurable, default timers (30 s
        // down-after, 180 s failover-timeout).
        let (host, port) = peer.primary.clone().unwrap_or_default();
        lines.extend([
            "sentinel resolve-hostnames yes".to_owned(),
            "sentinel announce-hostnames yes".to_owned(),
            format!("sentinel announce-ip {}", peer.announce_host),
            format!("sentinel announce-port {}", peer.announce_port),
            "sentinel deny-scripts-reconfig no".to_owned(),
            format!("sentinel monitor {MASTER_NAME} {host} {port} {quorum}"),
        ]);
        return (
            Program::Sentinel,
            "sentinel.conf",
            vec![("sentinel.conf", lines.join("\n") + "\n")],
        );
    }
    lines.extend(
        [
            "appendonly no",
            "save \"\"",
            "enable-debug-command yes",
            "enable-module-command yes",
            "enable-protected-configs yes",
            "maxmemory-policy allkeys-lru",
            "slowlog-log-slower-than -1",
            "tcp-keepalive 0",
            "latency-monitor-threshold 0",
        ]
        .map(str::to_owned),
    );
    match node.role {
        InitialRole::Primary | InitialRole::Replica => {
            lines.push(format!("replica-announce-ip {}", peer.announce_host));
            lines.push(format!("replica-announce-port {}", peer.announce_port));
            if let Some((host, port)) = &peer.primary {
                lines.push(format!("replicaof {host} {port}"));
            }
            // n2 takes writes of its own; n3 cannot authenticate to its
            // primary, so its link never comes up.
            if i == 1 {
                lines.push("replica-read-only no".to_owned());
            }
            if i == 2 {
                lines.push("masterauth \"not-the-primary-password\"".to_owned());
            }
        }
        InitialRole::ClusterPrimary { .. } | InitialRole::ClusterReplica { .. } => {
            lines.extend([
                "cluster-enabled yes".to_owned(),
                "cluster-config-file nodes.conf".to_owned(),
                format!("cluster-announce-hostname {}", peer.announce_host),
                "cluster-preferred-endpoint-type hostname".to_owned(),
                "cluster-require-full-coverage no".to_owned(),
                format!("cluster-port {}", placement.bus_port),
            ]);
        }
        InitialRole::Standalone | InitialRole::Sentinel => {}
    }
    (
        Program::Server,
        "redis.conf",
        vec![("redis.conf", lines.join("\n") + "\n")],
    )
}

/// The generated certificate files of a TLS launch, as PEM text.
#[derive(Clone, Debug)]
pub struct TlsPem {
    /// The CA certificate.
    pub ca: String,
    /// The server certificate.
    pub cert: String,
    /// The server key.
    pub key: String,
}

/// Turns rendered data nodes into TLS nodes: appends `redis-conf/tls.conf`
/// (TLS on the node's client port; the plaintext port closed, or left open
/// at `plaintext_port` for the weak variant) and adds the CA, certificate
/// and key to the node's files. Sentinels are left as they are.
pub fn add_tls(
    specs: &mut [NodeSpec],
    pem: &TlsPem,
    auth_clients: &'static str,
    plaintext_port: Option<u16>,
) -> Result<(), RenderError> {
    for spec in specs.iter_mut().filter(|s| s.program == Program::Server) {
        let conf = render_tls_conf(&TlsParams {
            plaintext_port: plaintext_port.unwrap_or(0),
            tls_port: spec.placement.port,
            dir: spec.placement.dir.clone(),
            auth_clients,
        })?;
        let name = spec.config_name;
        if let Some((_, text)) = spec.files.iter_mut().find(|(n, _)| *n == name) {
            text.push_str("\n# ---- redis-conf/tls.conf ----\n");
            text.push_str(&conf);
        }
        spec.files.push(("ca.pem", pem.ca.clone()));
        spec.files.push(("server.pem", pem.cert.clone()));
        spec.files.push(("server.key", pem.key.clone()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_nodes_close_the_plaintext_port_and_carry_their_files() {
        let c = Credentials::generate();
        let mut specs = render_nodes(
            &Topology::Standalone,
            Profile::Hardened,
            Some(&c),
            &mut local,
        )
        .unwrap();
        let pem = TlsPem {
            ca: "CA".into(),
            cert: "CERT".into(),
            key: "KEY".into(),
        };
        add_tls(&mut specs, &pem, "yes", None).unwrap();
        let conf = &specs[0].files[0].1;
        // The policy's `port 7001` comes first; tls.conf's `port 0` wins.
        let tls_part = conf.split("redis-conf/tls.conf").nth(1).unwrap();
        assert!(tls_part.contains("\nport 0\n"), "{tls_part}");
        assert!(tls_part.contains("\ntls-port 7001\n"));
        assert!(tls_part.contains("tls-cert-file \"/tmp/n1/server.pem\""));
        assert!(tls_part.contains("tls-auth-clients yes"));
        assert!(tls_part.contains("tls-protocols \"TLSv1.2 TLSv1.3\""));
        let names: Vec<&str> = specs[0].files.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "redis.conf",
                "users.acl",
                "ca.pem",
                "server.pem",
                "server.key"
            ]
        );
        let mut weak =
            render_nodes(&Topology::Standalone, Profile::Weak, None, &mut local).unwrap();
        add_tls(&mut weak, &pem, "no", Some(7100)).unwrap();
        assert!(weak[0].files[0].1.contains("\nport 7100\n"));
    }

    fn local(plan: &NodePlan) -> Placement {
        let n: u16 = plan.id[1..].parse().unwrap();
        let base = if plan.role == InitialRole::Sentinel {
            26000
        } else {
            7000
        };
        Placement {
            bind: "127.0.0.1".into(),
            port: base + n,
            bus_port: 17000 + n,
            dir: format!("/tmp/{}", plan.id),
            announce_host: "127.0.0.1".into(),
        }
    }

    #[test]
    fn sentinel_nodes_point_at_the_primary() {
        let c = Credentials::generate();
        let specs =
            render_nodes(&Topology::SENTINEL, Profile::Hardened, Some(&c), &mut local).unwrap();
        assert_eq!(specs.len(), 6);
        let text = |id: &str| {
            specs.iter().find(|s| s.id == id).unwrap().files[0]
                .1
                .clone()
        };
        assert!(!text("n1").contains("\nreplicaof"));
        assert!(text("n2").contains("\nreplicaof 127.0.0.1 7001"));
        assert!(text("n2").contains("masteruser replication"));
        assert!(text("s1").contains("sentinel monitor mymaster 127.0.0.1 7001 2"));
        assert_eq!(specs[3].program, Program::Sentinel);
        // Secrets appear only in the files that need them, hashes elsewhere.
        for s in &specs {
            for (_, t) in &s.files {
                assert!(!t.contains(c.admin.expose()), "{}", s.id);
            }
        }
    }

    #[test]
    fn cluster_nodes_get_their_bus_port_and_weak_nodes_no_auth() {
        let c = Credentials::generate();
        let specs =
            render_nodes(&Topology::CLUSTER, Profile::Hardened, Some(&c), &mut local).unwrap();
        assert!(specs[0].files[0].1.contains("cluster-port 17001"));
        assert!(specs[0].files[0].1.contains("cluster-enabled yes"));
        let weak = render_nodes(&Topology::SENTINEL, Profile::Weak, None, &mut local).unwrap();
        assert!(weak[1].files[0].1.contains("replica-read-only no"));
        assert!(weak[3].files[0].1.contains("deny-scripts-reconfig no"));
        assert!(
            weak.iter().all(|s| s.files.len() == 1),
            "weak nodes have no ACL file"
        );
    }
}
