//! Managed services, recognised from what their `INFO` reveals, and the
//! control each offers in place of the commands it blocks.
//!
//! Facts relied on (from published `INFO` output of each service):
//! - Amazon ElastiCache reports `os:Amazon ElastiCache` (and `executable:-`,
//!   `config_file:-`) in `INFO server`, and answers the commands it
//!   restricts (CONFIG, DEBUG, MODULE, ACL SETUSER/GETUSER on some engine
//!   versions, …) with `ERR unknown command`.
//! - Upstash adds an `upstash_version` field to `INFO server`.
//! - Google Memorystore, Azure Cache for Redis and Redis Cloud report a
//!   plain upstream-looking `INFO server` as far as we found; a blocked
//!   command there is reported as removed by the server or its provider,
//!   without naming one.

use crate::info::Info;

/// A managed Redis service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    /// Amazon ElastiCache (Redis OSS or Valkey engine).
    ElastiCache,
    /// Upstash Redis.
    Upstash,
}

impl Provider {
    /// Recognises the provider from `INFO server`.
    pub fn detect(server: &Info) -> Option<Self> {
        if server
            .get("os")
            .is_some_and(|os| os.trim().eq_ignore_ascii_case("Amazon ElastiCache"))
        {
            Some(Provider::ElastiCache)
        } else if server.get("upstash_version").is_some() {
            Some(Provider::Upstash)
        } else {
            None
        }
    }

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Provider::ElastiCache => "ElastiCache",
            Provider::Upstash => "Upstash",
        }
    }

    /// Where the provider lets you control what a blocked command would
    /// have shown or changed.
    pub fn control(self, command: &str) -> &'static str {
        let first = command
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match (self, first.as_str()) {
            (Provider::ElastiCache, "CONFIG") => {
                "its parameter group (Terraform: `create_parameter_group`)"
            }
            (Provider::ElastiCache, "ACL") => {
                "its RBAC users and user groups (Terraform: `create_users`)"
            }
            (Provider::ElastiCache, _) => "the ElastiCache API (Terraform: the ElastiCache module)",
            (Provider::Upstash, _) => "the Upstash console",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_elasticache_and_upstash_and_nothing_else() {
        let ec = Info::parse("redis_version:7.1.0\r\nos:Amazon ElastiCache\r\nexecutable:-\r\n");
        assert_eq!(Provider::detect(&ec), Some(Provider::ElastiCache));
        let up = Info::parse("redis_version:6.2.6\r\nupstash_version:1.10.5\r\n");
        assert_eq!(Provider::detect(&up), Some(Provider::Upstash));
        let plain = Info::parse("redis_version:7.0.15\r\nos:Linux 6.1.0 x86_64\r\n");
        assert_eq!(Provider::detect(&plain), None);
        assert!(Provider::ElastiCache
            .control("CONFIG GET maxmemory")
            .contains("parameter group"));
    }
}
