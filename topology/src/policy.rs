//! The hardening policy in `redis-conf/`, rendered into server files.
//!
//! The templates are compiled into the binary from `redis-conf/` (they are
//! read from those files, never written as Rust strings), so `verify` and
//! `loadtest` can launch the hardened default from anywhere. Rendering fills
//! `{{NAME}}` placeholders and refuses to leave any unfilled.

use crate::credentials::Credentials;
use thiserror::Error;

/// `redis-conf/redis.conf`, the policy for a standalone server or primary.
pub const REDIS_CONF_TEMPLATE: &str = include_str!("../../redis-conf/redis.conf");
/// `redis-conf/users.acl`, the ACL roles.
pub const USERS_ACL_TEMPLATE: &str = include_str!("../../redis-conf/users.acl");
/// `redis-conf/sentinel.conf`, the Sentinel policy.
pub const SENTINEL_CONF_TEMPLATE: &str = include_str!("../../redis-conf/sentinel.conf");
/// `redis-conf/replication.conf`, appended on every data node of a Sentinel
/// deployment.
pub const REPLICATION_CONF_TEMPLATE: &str = include_str!("../../redis-conf/replication.conf");
/// `redis-conf/replica.conf`, the `replicaof` line of nodes starting as replicas.
pub const REPLICA_CONF_TEMPLATE: &str = include_str!("../../redis-conf/replica.conf");
/// `redis-conf/cluster.conf`, appended on every Cluster node.
pub const CLUSTER_CONF_TEMPLATE: &str = include_str!("../../redis-conf/cluster.conf");

/// `redis-conf/tls.conf`, appended to every data node of a TLS launch.
pub const TLS_CONF_TEMPLATE: &str = include_str!("../../redis-conf/tls.conf");

/// Every policy template with its file name, for drift tests and the
/// "every hardening line names a check" test.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("redis.conf", REDIS_CONF_TEMPLATE),
    ("users.acl", USERS_ACL_TEMPLATE),
    ("sentinel.conf", SENTINEL_CONF_TEMPLATE),
    ("replication.conf", REPLICATION_CONF_TEMPLATE),
    ("replica.conf", REPLICA_CONF_TEMPLATE),
    ("cluster.conf", CLUSTER_CONF_TEMPLATE),
    ("tls.conf", TLS_CONF_TEMPLATE),
];

/// A template placeholder left without a value.
#[derive(Debug, Error)]
#[error("failed to render {template}: placeholder {{{{{name}}}}} has no value")]
pub struct RenderError {
    /// Which template.
    pub template: &'static str,
    /// The placeholder's name.
    pub name: String,
}

/// Where and how a server built from the policy listens and stores data.
#[derive(Clone, Debug)]
pub struct ServerParams {
    /// `bind` line value, e.g. `127.0.0.1` or `* -::*` inside a container.
    pub bind: String,
    /// TCP port.
    pub port: u16,
    /// Data directory (AOF, RDB).
    pub dir: String,
    /// Path of the rendered ACL file as the server sees it.
    pub aclfile: String,
    /// `maxmemory` value, e.g. `256mb`.
    pub maxmemory: String,
}

/// Renders `redis.conf` for the given server.
pub fn render_redis_conf(p: &ServerParams) -> Result<String, RenderError> {
    render(
        "redis.conf",
        REDIS_CONF_TEMPLATE,
        &[
            ("BIND", p.bind.clone()),
            ("PORT", p.port.to_string()),
            ("DIR", quote(&p.dir)),
            ("ACLFILE", quote(&p.aclfile)),
            ("MAXMEMORY", p.maxmemory.clone()),
        ],
    )
}

/// Where a TLS node finds its files and how it treats clients.
#[derive(Clone, Debug)]
pub struct TlsParams {
    /// `port`: 0 (TLS only), or a plaintext port left open (weak variant).
    pub plaintext_port: u16,
    /// `tls-port`.
    pub tls_port: u16,
    /// Directory holding `ca.pem`, `server.pem` and `server.key`, as the
    /// node sees it.
    pub dir: String,
    /// `tls-auth-clients`: `yes`, `optional` or `no`.
    pub auth_clients: &'static str,
}

/// Renders `tls.conf` for one data node.
pub fn render_tls_conf(p: &TlsParams) -> Result<String, RenderError> {
    let dir = p.dir.trim_end_matches('/');
    render(
        "tls.conf",
        TLS_CONF_TEMPLATE,
        &[
            ("PLAINTEXT_PORT", p.plaintext_port.to_string()),
            ("TLS_PORT", p.tls_port.to_string()),
            ("TLS_CERT_FILE", quote(&format!("{dir}/server.pem"))),
            ("TLS_KEY_FILE", quote(&format!("{dir}/server.key"))),
            ("TLS_CA_FILE", quote(&format!("{dir}/ca.pem"))),
            ("TLS_AUTH_CLIENTS", p.auth_clients.to_owned()),
        ],
    )
}

/// Renders `users.acl` with SHA-256 password hashes. Comment lines are
/// dropped: Redis rejects an ACL file with anything but `user` lines.
pub fn render_users_acl(c: &Credentials) -> Result<String, RenderError> {
    let body: String = USERS_ACL_TEMPLATE
        .lines()
        .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    render(
        "users.acl",
        &body,
        &[
            ("ADMIN_PASSWORD", c.admin.acl_hash()),
            ("APP_PASSWORD", c.app.acl_hash()),
            ("EXPORTER_PASSWORD", c.exporter.acl_hash()),
            ("REPLICATION_PASSWORD", c.replication.acl_hash()),
            ("SENTINEL_PASSWORD", c.sentinel.acl_hash()),
        ],
    )
}

/// Where a node announces itself and, for replicas and Sentinels, where the
/// primary is.
#[derive(Clone, Debug)]
pub struct PeerParams {
    /// The name (or IP) peers and clients reach this node at.
    pub announce_host: String,
    /// The port peers and clients reach this node at.
    pub announce_port: u16,
    /// The primary's announced host and port (replicas, Sentinels).
    pub primary: Option<(String, u16)>,
}

/// Renders `replication.conf` (and `replica.conf` when `peer.primary` is
/// set) for a data node of a Sentinel deployment.
pub fn render_replication_conf(c: &Credentials, peer: &PeerParams) -> Result<String, RenderError> {
    let mut out = render(
        "replication.conf",
        REPLICATION_CONF_TEMPLATE,
        &[
            ("REPLICATION_SECRET", quote(c.replication.expose())),
            ("ANNOUNCE_HOST", peer.announce_host.clone()),
            ("ANNOUNCE_PORT", peer.announce_port.to_string()),
        ],
    )?;
    if let Some((host, port)) = &peer.primary {
        out.push_str(&render(
            "replica.conf",
            REPLICA_CONF_TEMPLATE,
            &[
                ("PRIMARY_HOST", host.clone()),
                ("PRIMARY_PORT", port.to_string()),
            ],
        )?);
    }
    Ok(out)
}

/// Renders `cluster.conf` for a Cluster node.
pub fn render_cluster_conf(c: &Credentials, peer: &PeerParams) -> Result<String, RenderError> {
    render(
        "cluster.conf",
        CLUSTER_CONF_TEMPLATE,
        &[
            ("REPLICATION_SECRET", quote(c.replication.expose())),
            ("ANNOUNCE_HOST", peer.announce_host.clone()),
        ],
    )
}

/// Where a Sentinel listens and what it monitors.
#[derive(Clone, Debug)]
pub struct SentinelParams {
    /// `bind` value.
    pub bind: String,
    /// Port.
    pub port: u16,
    /// Working directory (Sentinel rewrites its config file there).
    pub dir: String,
    /// Announce settings and the primary.
    pub peer: PeerParams,
    /// Master name.
    pub master_name: String,
    /// Quorum.
    pub quorum: u8,
}

/// Renders `sentinel.conf`.
pub fn render_sentinel_conf(c: &Credentials, p: &SentinelParams) -> Result<String, RenderError> {
    let (master_host, master_port) = p.peer.primary.clone().unwrap_or_default();
    render(
        "sentinel.conf",
        SENTINEL_CONF_TEMPLATE,
        &[
            ("BIND", p.bind.clone()),
            ("PORT", p.port.to_string()),
            ("DIR", quote(&p.dir)),
            ("ANNOUNCE_HOST", p.peer.announce_host.clone()),
            ("ANNOUNCE_PORT", p.peer.announce_port.to_string()),
            ("ADMIN_PASSWORD", c.admin.acl_hash()),
            ("APP_PASSWORD", c.app.acl_hash()),
            ("EXPORTER_PASSWORD", c.exporter.acl_hash()),
            ("SENTINEL_PASSWORD", c.sentinel.acl_hash()),
            ("SENTINEL_SECRET", quote(c.sentinel.expose())),
            ("MASTER_NAME", p.master_name.clone()),
            ("MASTER_HOST", master_host),
            ("MASTER_PORT", master_port.to_string()),
            ("QUORUM", p.quorum.to_string()),
        ],
    )
}

/// A redis.conf string: double-quoted with `\\` and `"` escaped.
pub fn quote(path: &str) -> String {
    format!("\"{}\"", path.replace('\\', "\\\\").replace('"', "\\\""))
}

fn render(
    template: &'static str,
    text: &str,
    values: &[(&str, String)],
) -> Result<String, RenderError> {
    // Only directives are filled: a comment that names a placeholder (the
    // templates explain theirs) must never receive a secret.
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with('#') {
            out.push_str(line);
            continue;
        }
        let mut line = line.to_owned();
        for (name, value) in values {
            line = line.replace(&format!("{{{{{name}}}}}"), value);
        }
        out.push_str(&line);
    }
    // Comments may mention the placeholder syntax; directives may not keep it.
    let unfilled = out
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .find_map(|l| {
            l.find("{{")
                .map(|i| l[i + 2..].split("}}").next().unwrap_or("").to_owned())
        });
    if let Some(name) = unfilled {
        return Err(RenderError { template, name });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses `redis.conf` text into (directive, arguments) pairs, skipping
    /// comments.
    fn parse_conf(text: &str) -> Vec<(String, String)> {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| match l.split_once(char::is_whitespace) {
                Some((k, v)) => (k.to_lowercase(), v.trim().to_owned()),
                None => (l.to_lowercase(), String::new()),
            })
            .collect()
    }

    fn params() -> ServerParams {
        ServerParams {
            bind: "127.0.0.1".into(),
            port: 7001,
            dir: "/tmp/x".into(),
            aclfile: "/tmp/x/users.acl".into(),
            maxmemory: "64mb".into(),
        }
    }

    #[test]
    fn renders_every_placeholder() {
        let conf = render_redis_conf(&params()).unwrap();
        assert!(conf
            .lines()
            .filter(|l| !l.starts_with('#'))
            .all(|l| !l.contains("{{")));
        let kv = parse_conf(&conf);
        let get = |k: &str| kv.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("port"), Some("7001"));
        assert_eq!(get("maxmemory-policy"), Some("noeviction"));
        assert_eq!(get("appendfsync"), Some("everysec"));
        assert_eq!(get("enable-debug-command"), Some("no"));
    }

    #[test]
    fn acl_has_hashes_and_no_comments_or_clear_passwords() {
        let c = Credentials::generate();
        let acl = render_users_acl(&c).unwrap();
        assert!(acl.lines().all(|l| l.starts_with("user ")), "{acl}");
        assert!(!acl.contains(c.admin.expose()));
        assert!(acl.contains(&c.admin.acl_hash()));
        assert!(acl.contains("user default off"));
    }

    #[test]
    fn every_hardening_line_names_a_check() {
        // Each directive block that says why it is there ends with `check: id`.
        assert!(REDIS_CONF_TEMPLATE.matches("check: ").count() >= 12);
        for (name, text) in &TEMPLATES[2..] {
            assert!(text.contains("check: "), "{name} names no check");
        }
    }

    fn peer(primary: Option<(&str, u16)>) -> PeerParams {
        PeerParams {
            announce_host: "n2".into(),
            announce_port: 6380,
            primary: primary.map(|(h, p)| (h.to_owned(), p)),
        }
    }

    #[test]
    fn renders_replication_sentinel_and_cluster_fragments() {
        let c = Credentials::generate();
        let repl = render_replication_conf(&c, &peer(Some(("n1", 6379)))).unwrap();
        let kv = parse_conf(&repl);
        let get = |k: &str| kv.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("masteruser").as_deref(), Some("replication"));
        assert_eq!(
            get("masterauth"),
            Some(format!("\"{}\"", c.replication.expose()))
        );
        assert_eq!(get("replicaof").as_deref(), Some("n1 6379"));
        assert_eq!(get("replica-announce-ip").as_deref(), Some("n2"));
        assert!(!render_replication_conf(&c, &peer(None))
            .unwrap()
            .contains("\nreplicaof"));

        let sentinel = render_sentinel_conf(
            &c,
            &SentinelParams {
                bind: "127.0.0.1".into(),
                port: 26379,
                dir: "/tmp/s".into(),
                peer: peer(Some(("n1", 6379))),
                master_name: "mymaster".into(),
                quorum: 2,
            },
        )
        .unwrap();
        assert!(sentinel.contains("sentinel monitor mymaster n1 6379 2"));
        assert!(sentinel.contains(&c.sentinel.acl_hash()));
        assert!(!sentinel.contains(c.admin.expose()));
        assert!(sentinel.contains("sentinel deny-scripts-reconfig yes"));

        let cluster = render_cluster_conf(&c, &peer(None)).unwrap();
        assert!(cluster.contains("cluster-enabled yes"));
        assert!(cluster.contains("cluster-announce-hostname n2"));
    }

    #[test]
    fn unfilled_placeholder_is_an_error() {
        let err = render("t", "a {{NOPE}} b", &[]).unwrap_err();
        assert_eq!(err.name, "NOPE");
    }
}
