//! Translating the addresses a deployment announces into ones this host can
//! reach.
//!
//! Sentinel replies, `MOVED`/`ASK` redirects and `CLUSTER SLOTS` carry the
//! names nodes announce to each other (a container alias, a pod DNS name).
//! From the host those are reachable only through ports published on
//! 127.0.0.1, so every address a client learns from the deployment passes
//! through one [`AddressMap`]: exact entries first (the Docker launcher
//! records one per node), then host rules (`--map-host NAME=HOST`, keeping
//! the port; `*` matches any host).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, RwLock};

/// A host and port.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Addr {
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl Addr {
    /// Builds one.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
        }
    }

    /// Parses `host:port` or `[v6]:port`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let (host, port) = s.rsplit_once(':')?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return None;
        }
        Some(Self::new(host, port.parse().ok()?))
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[derive(Debug, Default)]
struct Rules {
    exact: BTreeMap<Addr, Addr>,
    hosts: BTreeMap<String, String>,
}

/// Announced address → reachable address. Cheap to clone (shared), and
/// updatable while connections use it (a restarted container keeps its
/// published port, but an isolated-and-healed one is re-recorded).
#[derive(Clone, Debug, Default)]
pub struct AddressMap(Arc<RwLock<Rules>>);

impl AddressMap {
    /// An empty map: every address is used as announced.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Rules> {
        self.0
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Rules> {
        self.0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Maps one announced address to one reachable address.
    pub fn insert(&self, announced: Addr, reachable: Addr) {
        self.write().exact.insert(announced, reachable);
    }

    /// Maps every address whose host is `announced_host` (`*`: any host not
    /// matched otherwise) to `reachable_host`, keeping the port.
    pub fn insert_host(&self, announced_host: &str, reachable_host: &str) {
        self.write().hosts.insert(
            announced_host.to_ascii_lowercase(),
            reachable_host.to_owned(),
        );
    }

    /// Parses a `NAME=HOST` rule (`--map-host`).
    pub fn add_rule(&self, rule: &str) -> Result<(), String> {
        let (from, to) = rule
            .split_once('=')
            .ok_or_else(|| format!("`{rule}` is not NAME=HOST"))?;
        let (from, to) = (from.trim(), to.trim());
        if from.is_empty() || to.is_empty() || to.contains(char::is_whitespace) {
            return Err(format!("`{rule}` is not NAME=HOST"));
        }
        self.insert_host(from, to);
        Ok(())
    }

    /// Where to connect for an announced address.
    pub fn resolve(&self, announced: &Addr) -> Addr {
        let rules = self.read();
        if let Some(a) = rules.exact.get(announced) {
            return a.clone();
        }
        let host = announced.host.to_ascii_lowercase();
        match rules.hosts.get(&host).or_else(|| rules.hosts.get("*")) {
            Some(to) => Addr::new(to.clone(), announced.port),
            None => announced.clone(),
        }
    }

    /// The exact entries, for clients that take a static map (redis-rs
    /// cluster) and for reports.
    pub fn exact_entries(&self) -> Vec<(Addr, Addr)> {
        self.read()
            .exact
            .iter()
            .map(|(a, b)| (a.clone(), b.clone()))
            .collect()
    }

    /// Whether the map has no rule at all.
    pub fn is_empty(&self) -> bool {
        let r = self.read();
        r.exact.is_empty() && r.hosts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_entries_win_over_host_rules() {
        let m = AddressMap::new();
        m.insert(Addr::new("n1", 6379), Addr::new("127.0.0.1", 40001));
        m.add_rule("*=127.0.0.1").unwrap();
        assert_eq!(
            m.resolve(&Addr::new("n1", 6379)),
            Addr::new("127.0.0.1", 40001)
        );
        assert_eq!(
            m.resolve(&Addr::new("redis-2", 6382)),
            Addr::new("127.0.0.1", 6382)
        );
    }

    #[test]
    fn empty_map_is_identity_and_rules_are_validated() {
        let m = AddressMap::new();
        assert!(m.is_empty());
        assert_eq!(m.resolve(&Addr::new("h", 1)), Addr::new("h", 1));
        assert!(m.add_rule("nope").is_err());
        assert!(m.add_rule("a=").is_err());
        m.add_rule("Redis-1=10.0.0.1").unwrap();
        assert_eq!(
            m.resolve(&Addr::new("redis-1", 5)),
            Addr::new("10.0.0.1", 5)
        );
    }

    #[test]
    fn parses_addresses() {
        assert_eq!(Addr::parse("a:1"), Some(Addr::new("a", 1)));
        assert_eq!(Addr::parse("[::1]:7"), Some(Addr::new("::1", 7)));
        assert_eq!(Addr::parse("x"), None);
        assert_eq!(Addr::new("::1", 7).to_string(), "[::1]:7");
    }
}
