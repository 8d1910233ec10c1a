//! What a user points the toolkit at: one server, a Sentinel-managed
//! primary, or a Cluster.
//!
//! `redis://` and `rediss://` name one server; `redis+sentinel://h:p,h:p/<master>`
//! (or `rediss+sentinel://`) names the primary Sentinels know as `<master>`;
//! `redis+cluster://h:p,h:p` (or `rediss+cluster://`) names a Cluster through
//! seed nodes. Data-node credentials come from the URL, `--user`,
//! `--password-file` or `REDIS_PASSWORD`; Sentinel credentials may differ
//! (`--sentinel-user`, `--sentinel-password-file`, `REDIS_SENTINEL_PASSWORD`)
//! and default to the data nodes'.

use crate::address::{Addr, AddressMap};
use crate::secret::Secret;
use crate::target::{read_password_file, Target, TargetError, TargetOptions};

/// The shape of what is targeted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceKind {
    /// One server (standalone, or one node addressed directly).
    Standalone,
    /// The primary that Sentinels report for `master`.
    Sentinel {
        /// Sentinel addresses as given (reachable from here).
        sentinels: Vec<Addr>,
        /// Master name.
        master: String,
    },
    /// A Redis Cluster reached through seed nodes.
    Cluster {
        /// Seed addresses as given.
        seeds: Vec<Addr>,
    },
}

impl ServiceKind {
    /// `standalone`, `sentinel` or `cluster`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Standalone => "standalone",
            Self::Sentinel { .. } => "sentinel",
            Self::Cluster { .. } => "cluster",
        }
    }
}

/// A deployment to connect to, with the credentials for its data nodes and
/// Sentinels and the map from announced to reachable addresses.
#[derive(Clone)]
pub struct Service {
    /// Its shape.
    pub kind: ServiceKind,
    /// Data-node connection settings (user, password, TLS, db). Its address
    /// is the server (standalone) or the first seed.
    pub node: Target,
    /// Sentinel user; `None` means the data nodes' user.
    pub sentinel_user: Option<String>,
    /// Sentinel password; `None` means the data nodes' password.
    pub sentinel_password: Option<Secret>,
    /// Announced → reachable addresses.
    pub address_map: AddressMap,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Service {
    /// One server.
    pub fn standalone(node: Target) -> Self {
        Self {
            kind: ServiceKind::Standalone,
            node,
            sentinel_user: None,
            sentinel_password: None,
            address_map: AddressMap::new(),
        }
    }

    /// Parses any of the target forms and applies the options; the
    /// environment is read through `lookup`.
    pub fn parse_with(
        input: &str,
        options: &TargetOptions,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, TargetError> {
        let input = input.trim();
        let (scheme, rest) = input
            .split_once("://")
            .ok_or_else(|| TargetError::Malformed(format!("`{input}` has no scheme")))?;
        let (tls, topology) = match scheme.to_ascii_lowercase().as_str() {
            "redis" | "rediss" => {
                let node = Target::parse_with(input, options, lookup)?;
                let mut s = Self::standalone(node);
                s.apply_sentinel_options(options, lookup)?;
                s.apply_map(options)?;
                return Ok(s);
            }
            "redis+sentinel" => (false, "sentinel"),
            "rediss+sentinel" => (true, "sentinel"),
            "redis+cluster" => (false, "cluster"),
            "rediss+cluster" => (true, "cluster"),
            other => return Err(TargetError::UnknownScheme(other.to_owned())),
        };
        // user:pass@h:p,h:p/path — the url crate does not take host lists.
        let (authority, path) = match rest.split_once('/') {
            Some((a, p)) => (a, p),
            None => (rest, ""),
        };
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let default_port = if topology == "sentinel" { 26379 } else { 6379 };
        let addrs = hosts
            .split(',')
            .map(|h| parse_host_port(h, default_port))
            .collect::<Result<Vec<_>, _>>()?;
        let first = addrs.first().cloned().ok_or(TargetError::MissingHost)?;
        // Reuse the single-node parser for credentials, TLS files and checks.
        let single = format!(
            "{}://{}{}",
            if tls { "rediss" } else { "redis" },
            userinfo.map(|u| format!("{u}@")).unwrap_or_default(),
            first
        );
        let mut node = Target::parse_with(&single, options, lookup)?;
        let kind = if topology == "sentinel" {
            let master = path.trim_matches('/');
            if master.is_empty() {
                return Err(TargetError::Malformed(
                    "a sentinel target needs the master name: redis+sentinel://host:port,…/<master>".into(),
                ));
            }
            ServiceKind::Sentinel {
                sentinels: addrs,
                master: master.to_owned(),
            }
        } else {
            if !path.trim_matches('/').is_empty() && path.trim_matches('/') != "0" {
                return Err(TargetError::Malformed(
                    "a cluster has only database 0: drop the path".into(),
                ));
            }
            ServiceKind::Cluster { seeds: addrs }
        };
        node.db = 0;
        let mut s = Self {
            kind,
            node,
            sentinel_user: None,
            sentinel_password: None,
            address_map: AddressMap::new(),
        };
        s.apply_sentinel_options(options, lookup)?;
        s.apply_map(options)?;
        Ok(s)
    }

    /// [`Service::parse_with`] over the process environment.
    pub fn parse(input: &str, options: &TargetOptions) -> Result<Self, TargetError> {
        Self::parse_with(input, options, &|k| std::env::var(k).ok())
    }

    fn apply_sentinel_options(
        &mut self,
        options: &TargetOptions,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), TargetError> {
        self.sentinel_user = options.sentinel_user.clone();
        self.sentinel_password = match &options.sentinel_password_file {
            Some(p) => Some(read_password_file(p)?),
            None if options.password_from_env => lookup("REDIS_SENTINEL_PASSWORD")
                .filter(|p| !p.is_empty())
                .map(Secret::new),
            None => None,
        };
        Ok(())
    }

    fn apply_map(&mut self, options: &TargetOptions) -> Result<(), TargetError> {
        for rule in &options.map_hosts {
            self.address_map
                .add_rule(rule)
                .map_err(TargetError::Malformed)?;
        }
        Ok(())
    }

    /// The same deployment reached with other data-node credentials.
    pub fn with_credentials(&self, user: Option<&str>, password: Option<Secret>) -> Self {
        Self {
            node: self.node.with_credentials(user, password),
            ..self.clone()
        }
    }

    /// The addresses given by the user (Sentinels or seeds, or the server).
    pub fn seeds(&self) -> Vec<Addr> {
        match &self.kind {
            ServiceKind::Standalone => vec![Addr::new(self.node.host.clone(), self.node.port)],
            ServiceKind::Sentinel { sentinels, .. } => sentinels.clone(),
            ServiceKind::Cluster { seeds } => seeds.clone(),
        }
    }

    /// Whether every address the user gave is on this machine.
    pub fn is_loopback(&self) -> bool {
        self.seeds()
            .iter()
            .all(|a| Target::new(a.host.clone(), a.port, None, None).is_loopback())
    }

    /// Where to connect for an address the deployment announced. A name
    /// that is not mapped and does not resolve here, while every seed is on
    /// this machine, is taken to be published on 127.0.0.1 under the same
    /// port (Docker Compose with identical inside and outside ports).
    pub fn reachable(&self, announced: &Addr) -> Addr {
        let mapped = self.address_map.resolve(announced);
        if mapped != *announced || !self.is_loopback() {
            return mapped;
        }
        let resolvable =
            std::net::ToSocketAddrs::to_socket_addrs(&(announced.host.as_str(), announced.port))
                .map(|mut it| it.next().is_some())
                .unwrap_or(false);
        if resolvable {
            mapped
        } else {
            Addr::new("127.0.0.1", announced.port)
        }
    }

    /// A data node, by the address it announced, with the data credentials.
    pub fn data_target(&self, announced: &Addr) -> Target {
        let to = self.reachable(announced);
        let mut t = self.node.clone();
        t.host = to.host;
        t.port = to.port;
        t
    }

    /// A Sentinel, by a reachable address, with the Sentinel credentials.
    pub fn sentinel_target(&self, addr: &Addr) -> Target {
        let mut t = self.node.with_credentials(
            self.sentinel_user.as_deref().or(self.node.user.as_deref()),
            self.sentinel_password
                .clone()
                .or_else(|| self.node.password.clone()),
        );
        let to = self.reachable(addr);
        t.host = to.host;
        t.port = to.port;
        t.db = 0;
        t
    }

    /// The URL with the password replaced, for reports.
    pub fn redacted(&self) -> String {
        match &self.kind {
            ServiceKind::Standalone => self.node.redacted(),
            ServiceKind::Sentinel { sentinels, master } => {
                format!("{}/{master}", self.multi_url("sentinel", sentinels))
            }
            ServiceKind::Cluster { seeds } => self.multi_url("cluster", seeds),
        }
    }

    fn multi_url(&self, kind: &str, addrs: &[Addr]) -> String {
        let single = self.node.redacted();
        let (scheme, rest) = single.split_once("://").unwrap_or(("redis", &single));
        let creds = rest
            .rsplit_once('@')
            .map(|(c, _)| format!("{c}@"))
            .unwrap_or_default();
        let list: Vec<String> = addrs.iter().map(Addr::to_string).collect();
        format!("{scheme}+{kind}://{creds}{}", list.join(","))
    }
}

fn parse_host_port(s: &str, default_port: u16) -> Result<Addr, TargetError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(TargetError::MissingHost);
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| TargetError::Malformed(format!("`{s}` has an unclosed `[`")))?;
        let port = match after.strip_prefix(':') {
            Some(p) => parse_port(p, s)?,
            None => default_port,
        };
        return Ok(Addr::new(host, port));
    }
    match s.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() => Ok(Addr::new(host, parse_port(port, s)?)),
        Some(_) => Err(TargetError::MissingHost),
        None => Ok(Addr::new(s, default_port)),
    }
}

fn parse_port(p: &str, whole: &str) -> Result<u16, TargetError> {
    p.parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| TargetError::Malformed(format!("`{whole}` has no valid port")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str, options: &TargetOptions) -> Result<Service, TargetError> {
        Service::parse_with(url, options, &|k| match k {
            "REDIS_SENTINEL_PASSWORD" => Some("from-env".into()),
            _ => None,
        })
    }

    #[test]
    fn parses_sentinel_and_cluster_targets() {
        let s = parse(
            "redis+sentinel://admin:pw@127.0.0.1:26381,127.0.0.1:26382,[::1]/mymaster",
            &TargetOptions::default(),
        )
        .unwrap();
        assert_eq!(
            s.kind,
            ServiceKind::Sentinel {
                sentinels: vec![
                    Addr::new("127.0.0.1", 26381),
                    Addr::new("127.0.0.1", 26382),
                    Addr::new("::1", 26379)
                ],
                master: "mymaster".into()
            }
        );
        assert_eq!(s.node.user.as_deref(), Some("admin"));
        assert!(!s.redacted().contains("pw"));
        assert_eq!(
            s.redacted(),
            "redis+sentinel://admin:***@127.0.0.1:26381,127.0.0.1:26382,[::1]:26379/mymaster"
        );
        let c = parse("rediss+cluster://h1:7001,h2", &TargetOptions::default()).unwrap();
        assert_eq!(
            c.seeds(),
            vec![Addr::new("h1", 7001), Addr::new("h2", 6379)]
        );
        assert!(c.node.tls);
    }

    #[test]
    fn sentinel_credentials_default_to_the_data_nodes() {
        let s = parse("redis+sentinel://u:pw@h:1/m", &TargetOptions::default()).unwrap();
        let t = s.sentinel_target(&Addr::new("h", 1));
        assert_eq!(
            (t.user.as_deref(), t.password.as_ref().map(Secret::expose)),
            (Some("u"), Some("pw"))
        );
        let opts = TargetOptions {
            sentinel_user: Some("sentinel-reader".into()),
            password_from_env: true,
            ..Default::default()
        };
        let s = parse("redis+sentinel://u:pw@h:1/m", &opts).unwrap();
        let t = s.sentinel_target(&Addr::new("h", 1));
        assert_eq!(t.user.as_deref(), Some("sentinel-reader"));
        assert_eq!(t.password.as_ref().map(Secret::expose), Some("from-env"));
    }

    #[test]
    fn rejects_bad_multi_node_targets() {
        let o = TargetOptions::default();
        assert!(
            matches!(parse("redis+sentinel://h:1", &o), Err(TargetError::Malformed(m)) if m.contains("master name"))
        );
        assert!(matches!(
            parse("redis+cluster://h:1/3", &o),
            Err(TargetError::Malformed(_))
        ));
        assert!(matches!(
            parse("redis+cluster://h:x", &o),
            Err(TargetError::Malformed(_))
        ));
        assert!(matches!(
            parse("redis+cluster://,", &o),
            Err(TargetError::MissingHost)
        ));
        assert!(matches!(
            parse("redis+mesh://h", &o),
            Err(TargetError::UnknownScheme(_))
        ));
    }

    #[test]
    fn unresolvable_names_behind_loopback_seeds_map_to_loopback() {
        let s = parse("redis+cluster://127.0.0.1:7001", &TargetOptions::default()).unwrap();
        let a = s.reachable(&Addr::new("cluster-2.invalid", 7002));
        assert_eq!(a, Addr::new("127.0.0.1", 7002));
        let opts = TargetOptions {
            map_hosts: vec!["cluster-2.invalid=10.1.1.1".into()],
            ..Default::default()
        };
        let s = parse("redis+cluster://127.0.0.1:7001", &opts).unwrap();
        assert_eq!(
            s.reachable(&Addr::new("cluster-2.invalid", 7002)),
            Addr::new("10.1.1.1", 7002)
        );
        // Remote seeds: names are used as announced.
        let s = parse("redis+cluster://10.0.0.1:7001", &TargetOptions::default()).unwrap();
        assert_eq!(
            s.reachable(&Addr::new("x.invalid", 1)),
            Addr::new("x.invalid", 1)
        );
    }
}
