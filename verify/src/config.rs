//! `verify.toml`: settings validated into a typed struct before anything runs.
//!
//! ```toml
//! workload = "state"        # or "cache"
//! app_user = "app"          # the user whose permissions acl.* checks judge
//! persistence = "aof+rdb"   # or "aof-only", "rdb-only", "none"
//!
//! [severity]
//! "version.known-cves" = "deny"   # deny | warn | allow (allow = do not run)
//!
//! [topology]                # what a Sentinel or Cluster target should look like
//! replicas = 2              # replicas each primary should have
//! sentinels = 3             # Sentinels there should be (never fewer than 3)
//! min_replicas_to_write = 1 # the policy's value (default: 1 Sentinel, 0 Cluster)
//! max_replica_lag_seconds = 10
//!
//! [cves]
//! ignore_vendor_builds = false  # true: judge a known vendor build by its version alone
//!
//! [drills]                  # `verify drill`; every key optional
//! writers = 8               # concurrent writers
//! writes_per_second = 200   # per writer, at most
//! wait_replicas = 1         # count a write acked only after WAIT 1
//! down_after_ms = 2000      # Sentinel timers set on launched deployments
//! failover_timeout_ms = 10000
//! max_unavailability_ms = 8000  # default: down_after_ms + 6000
//! max_lost_acked = 0        # where the config promises no bound
//! [drills.budget."failover.manual"]
//! max_unavailability_ms = 5000
//! ```

use crate::model::Severity;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// What the deployment stores, which decides the right eviction policy.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// Sessions, rate limits, locks: nothing may be evicted.
    #[default]
    State,
    /// A pure cache: eviction is the point.
    Cache,
}

/// Declared persistence intent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum PersistenceIntent {
    /// AOF and RDB snapshots (the policy's default).
    #[default]
    #[serde(rename = "aof+rdb")]
    AofAndRdb,
    /// AOF without snapshots, on purpose.
    #[serde(rename = "aof-only")]
    AofOnly,
    /// Snapshots without AOF, on purpose.
    #[serde(rename = "rdb-only")]
    RdbOnly,
    /// No persistence, on purpose (a cache).
    #[serde(rename = "none")]
    None,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    workload: Option<Workload>,
    app_user: Option<String>,
    persistence: Option<PersistenceIntent>,
    #[serde(default)]
    severity: BTreeMap<String, Severity>,
    #[serde(default)]
    topology: TopologySettings,
    #[serde(default)]
    drills: DrillSettings,
    #[serde(default)]
    cves: CveSettings,
}

/// `[cves]`: how `version.known-cves` reads versions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct CveSettings {
    /// Judge by the version string alone, even for a vendor build whose
    /// changelog lists backported fixes (`cves::VENDOR_BUILDS`).
    #[serde(default)]
    pub ignore_vendor_builds: bool,
}

/// `[topology]`: the declared shape and replication policy of a Sentinel or
/// Cluster deployment. Unset values are taken from the launched spec, from
/// what the deployment reports, or from the policy's defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct TopologySettings {
    /// Replicas each primary should have.
    pub replicas: Option<usize>,
    /// Sentinels there should be.
    pub sentinels: Option<usize>,
    /// `min-replicas-to-write` the policy declares.
    pub min_replicas_to_write: Option<u32>,
    /// Largest acceptable replica lag (`master_last_io_seconds_ago`).
    pub max_replica_lag_seconds: Option<u64>,
}

/// Validated settings.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Settings {
    /// Workload kind.
    pub workload: Workload,
    /// User whose permissions the ACL checks judge; `None` = decide at run
    /// time (`app` when it exists, else the connected user).
    pub app_user: Option<String>,
    /// Persistence intent.
    pub persistence: PersistenceIntent,
    /// Severity overrides by check id.
    pub severity: BTreeMap<String, Severity>,
    /// Declared topology and replication policy.
    pub topology: TopologySettings,
    /// The config file used, if any.
    pub config_file: Option<PathBuf>,
    /// `[drills]`: writers, timers and budgets of `verify drill`.
    pub drills: DrillSettings,
    /// `[cves]`: how versions are judged.
    pub cves: CveSettings,
    /// `--prometheus` / `--grafana-dir`; `None` skips the monitoring.* checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monitoring: Option<MonitoringSettings>,
}

/// Where the monitoring.* checks look.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MonitoringSettings {
    /// Base URL of the Prometheus that scrapes the deployment.
    pub prometheus: String,
    /// A directory laid out like `grafana/`; `None` = the built-in copy.
    pub grafana_dir: Option<PathBuf>,
}

/// `[drills]`: how drills load the deployment and what they may cost.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DrillSettings {
    /// Concurrent writers.
    pub writers: usize,
    /// Upper bound on each writer's rate.
    pub writes_per_second: u32,
    /// Count a write acked only once `WAIT n` confirms n replicas.
    pub wait_replicas: Option<u32>,
    /// `down-after-milliseconds` set on every Sentinel of a launched
    /// deployment before drilling (the policy's 5000 is for production).
    pub down_after_ms: u64,
    /// `failover-timeout` set likewise.
    pub failover_timeout_ms: u64,
    /// Largest acceptable write-unavailability; default down_after_ms + 6000.
    pub max_unavailability_ms: Option<u64>,
    /// Acked writes a drill may lose where the configuration promises no
    /// tighter bound.
    pub max_lost_acked: u64,
    /// Per-drill overrides, by drill id.
    pub budget: BTreeMap<String, BudgetOverride>,
    /// `--prometheus` on an existing target: the Prometheus
    /// `monitoring.alerts-fire` watches (not a `verify.toml` key).
    #[serde(skip)]
    pub prometheus: Option<String>,
}

impl Default for DrillSettings {
    fn default() -> Self {
        Self {
            writers: 8,
            writes_per_second: 200,
            wait_replicas: None,
            down_after_ms: 2000,
            failover_timeout_ms: 10_000,
            max_unavailability_ms: None,
            max_lost_acked: 0,
            budget: BTreeMap::new(),
            prometheus: None,
        }
    }
}

/// `[drills.budget."<id>"]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetOverride {
    /// Largest acceptable write-unavailability for this drill.
    pub max_unavailability_ms: Option<u64>,
    /// Acked writes this drill may lose.
    pub max_lost_acked: Option<u64>,
}

/// Why a config file was rejected.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// Unreadable file.
    #[error("failed to read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Invalid TOML or unknown keys/values.
    #[error("failed to parse config {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A severity override names no check.
    #[error("failed to validate config {path}: unknown check id `{id}` in [severity] (see `verify list`)")]
    UnknownCheck {
        /// The file.
        path: PathBuf,
        /// The id.
        id: String,
    },
}

impl Settings {
    /// Reads and validates a config file against the known check ids.
    pub fn load(path: &Path, known_ids: &[&str]) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path, known_ids)
    }

    /// Validates config text.
    pub fn parse(text: &str, path: &Path, known_ids: &[&str]) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.message().to_owned(),
        })?;
        if let Some(id) = raw
            .severity
            .keys()
            .find(|id| !known_ids.contains(&id.as_str()))
        {
            return Err(ConfigError::UnknownCheck {
                path: path.to_owned(),
                id: id.clone(),
            });
        }
        Ok(Self {
            workload: raw.workload.unwrap_or_default(),
            app_user: raw.app_user,
            persistence: raw.persistence.unwrap_or_default(),
            severity: raw.severity,
            topology: raw.topology,
            config_file: Some(path.to_owned()),
            drills: raw.drills,
            monitoring: None,
            cves: raw.cves,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IDS: &[&str] = &["memory.maxmemory", "version.known-cves"];

    fn parse(text: &str) -> Result<Settings, ConfigError> {
        Settings::parse(text, Path::new("verify.toml"), IDS)
    }

    #[test]
    fn accepts_a_full_config() {
        let s = parse("workload = \"cache\"\napp_user = \"web\"\npersistence = \"aof-only\"\n[severity]\n\"version.known-cves\" = \"deny\"\n").unwrap();
        assert_eq!(s.workload, Workload::Cache);
        assert_eq!(s.app_user.as_deref(), Some("web"));
        assert_eq!(s.persistence, PersistenceIntent::AofOnly);
        assert_eq!(s.severity["version.known-cves"], Severity::Deny);
        let t = parse("[topology]\nreplicas = 2\nmin_replicas_to_write = 1\n").unwrap();
        assert_eq!(t.topology.replicas, Some(2));
        assert_eq!(t.topology.min_replicas_to_write, Some(1));
        assert!(matches!(
            parse("[topology]\nreplica = 2"),
            Err(ConfigError::Parse { .. })
        ));
    }

    #[test]
    fn rejects_unknown_keys_values_and_ids() {
        assert!(matches!(
            parse("workloda = \"state\""),
            Err(ConfigError::Parse { .. })
        ));
        assert!(matches!(
            parse("workload = \"queue\""),
            Err(ConfigError::Parse { .. })
        ));
        assert!(matches!(
            parse("[severity]\n\"memory.maxmemory\" = \"fatal\""),
            Err(ConfigError::Parse { .. })
        ));
        assert!(matches!(
            parse("[severity]\n\"memory.nope\" = \"warn\""),
            Err(ConfigError::UnknownCheck { id, .. }) if id == "memory.nope"
        ));
    }

    #[test]
    fn drills_table_parses_and_rejects_unknown_keys() {
        let s = parse("[drills]\nwriters = 4\nmax_lost_acked = 2\n[drills.budget.\"failover.manual\"]\nmax_unavailability_ms = 5000\n").unwrap();
        assert_eq!((s.drills.writers, s.drills.max_lost_acked), (4, 2));
        assert_eq!(s.drills.writes_per_second, 200);
        assert_eq!(
            s.drills.budget["failover.manual"].max_unavailability_ms,
            Some(5000)
        );
        assert!(matches!(
            parse("[drills]\nwriter = 4"),
            Err(ConfigError::Parse { .. })
        ));
        assert_eq!(parse("").unwrap().drills, DrillSettings::default());
        assert!(
            parse("[cves]\nignore_vendor_builds = true")
                .unwrap()
                .cves
                .ignore_vendor_builds
        );
        assert!(matches!(
            parse("[cves]\nignore = true"),
            Err(ConfigError::Parse { .. })
        ));
    }

    #[test]
    fn empty_config_means_defaults() {
        let s = parse("").unwrap();
        assert_eq!(s.workload, Workload::State);
        assert_eq!(s.persistence, PersistenceIntent::AofAndRdb);
    }
}
