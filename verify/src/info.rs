//! Parsing `INFO` replies and `ACL GETUSER` flags.

use std::collections::BTreeMap;

/// The `field:value` pairs of an INFO reply (all sections merged).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Info(BTreeMap<String, String>);

impl Info {
    /// Parses INFO text; section headers and blank lines are ignored.
    pub fn parse(text: &str) -> Self {
        Self(
            text.lines()
                .map(|l| l.trim_end_matches('\r'))
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    /// A field's value.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0.get(field).map(String::as_str)
    }

    /// A numeric field.
    pub fn get_u64(&self, field: &str) -> Option<u64> {
        self.get(field).and_then(|v| v.parse().ok())
    }

    /// `field:value` for evidence, or `field:<absent>`.
    pub fn show(&self, field: &str) -> String {
        format!("{field}:{}", self.get(field).unwrap_or("<absent>"))
    }
}

/// Parses a version like `7.0.15` into comparable numbers.
pub fn parse_version(v: &str) -> Option<(u32, u32, u32)> {
    let mut parts = v.trim().split('.').map(|p| p.parse::<u32>().ok());
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPTURED: &str = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n\r\n# Memory\r\nmaxmemory:268435456\r\nmaxmemory_policy:noeviction\r\n";

    #[test]
    fn parses_captured_info() {
        let i = Info::parse(CAPTURED);
        assert_eq!(i.get("redis_version"), Some("7.0.15"));
        assert_eq!(i.get_u64("maxmemory"), Some(268_435_456));
        assert_eq!(i.get("maxmemory_policy"), Some("noeviction"));
        assert_eq!(i.get("nope"), None);
    }

    #[test]
    fn parses_versions() {
        assert_eq!(parse_version("7.0.15"), Some((7, 0, 15)));
        assert_eq!(parse_version("8.2"), Some((8, 2, 0)));
        assert_eq!(parse_version("x"), None);
    }
}
