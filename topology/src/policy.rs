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
        ],
    )
}

fn quote(path: &str) -> String {
    format!("\"{}\"", path.replace('\\', "\\\\").replace('"', "\\\""))
}

fn render(
    template: &'static str,
    text: &str,
    values: &[(&str, String)],
) -> Result<String, RenderError> {
    let mut out = text.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{{{name}}}}}"), value);
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
    }

    #[test]
    fn unfilled_placeholder_is_an_error() {
        let err = render("t", "a {{NOPE}} b", &[]).unwrap_err();
        assert_eq!(err.name, "NOPE");
    }
}
