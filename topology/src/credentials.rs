//! Passwords for the ACL roles of the hardening policy.
//!
//! Launched deployments take them from [`crate::LaunchOptions`] (which reads
//! `REDIS_ADMIN_PASSWORD`, … once at the edge) where set and generate them
//! otherwise; they are never read from or written to the repository.

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
    /// Sentinels authenticating to data nodes and to each other.
    pub sentinel: Secret,
}

/// The environment variable that may fix each role's password, in the order
/// of [`Credentials`]' fields.
pub const PASSWORD_VARIABLES: [&str; 5] = [
    "REDIS_ADMIN_PASSWORD",
    "REDIS_APP_PASSWORD",
    "REDIS_EXPORTER_PASSWORD",
    "REDIS_REPLICATION_PASSWORD",
    "REDIS_SENTINEL_ROLE_PASSWORD",
];

impl Credentials {
    /// Fresh random passwords (32 alphanumeric characters, about 190 bits).
    pub fn generate() -> Self {
        Self::from_lookup(|_| None)
    }

    /// Passwords from `lookup(variable)` where it gives a non-empty value,
    /// random where not (variables in [`PASSWORD_VARIABLES`]).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let pick = |var: &str| {
            lookup(var)
                .filter(|v| !v.is_empty())
                .map(Secret::new)
                .unwrap_or_else(random_secret)
        };
        let [admin, app, exporter, replication, sentinel] = PASSWORD_VARIABLES;
        Self {
            admin: pick(admin),
            app: pick(app),
            exporter: pick(exporter),
            replication: pick(replication),
            sentinel: pick(sentinel),
        }
    }
}

fn random_secret() -> Secret {
    Secret::new(Alphanumeric.sample_string(&mut rand::rng(), 32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_fixes_some_passwords_and_generates_the_rest() {
        let c = Credentials::from_lookup(|k| (k == "REDIS_APP_PASSWORD").then(|| "fixed".into()));
        assert_eq!(c.app.expose(), "fixed");
        assert_eq!(c.admin.expose().len(), 32);
        assert_ne!(c.admin, c.sentinel);
    }
}
