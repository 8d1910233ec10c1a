//! Passwords for the ACL roles of the hardening policy.
//!
//! They come from the environment when set (`REDIS_ADMIN_PASSWORD`,
//! `REDIS_APP_PASSWORD`, `REDIS_EXPORTER_PASSWORD`,
//! `REDIS_REPLICATION_PASSWORD`) and are generated otherwise; they are never
//! read from or written to the repository.

use crate::secret::Secret;
use rand::distr::{Alphanumeric, SampleString};

/// One password per role in `redis-conf/users.acl`.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// Operators and `verify`.
    pub admin: Secret,
    /// The application.
    pub app: Secret,
    /// redis_exporter.
    pub exporter: Secret,
    /// Replicas authenticating to their primary.
    pub replication: Secret,
}

impl Credentials {
    /// Fresh random passwords (32 alphanumeric characters, about 190 bits).
    pub fn generate() -> Self {
        Self {
            admin: random_secret(),
            app: random_secret(),
            exporter: random_secret(),
            replication: random_secret(),
        }
    }

    /// Passwords from the environment where set, random where not.
    pub fn from_env_or_generate() -> Self {
        let pick = |var: &str| {
            std::env::var(var)
                .ok()
                .filter(|v| !v.is_empty())
                .map(Secret::new)
                .unwrap_or_else(random_secret)
        };
        Self {
            admin: pick("REDIS_ADMIN_PASSWORD"),
            app: pick("REDIS_APP_PASSWORD"),
            exporter: pick("REDIS_EXPORTER_PASSWORD"),
            replication: pick("REDIS_REPLICATION_PASSWORD"),
        }
    }
}

fn random_secret() -> Secret {
    Secret::new(Alphanumeric.sample_string(&mut rand::rng(), 32))
}
