//! The monitoring sources the checks compare a live Prometheus with: the
//! project's `grafana/` (dashboards, rules, datasource provisioning),
//! embedded at build time, or a directory of the same layout
//! (`--grafana-dir`, e.g. a fork's edited copy).

use std::path::Path;

/// Embedded `grafana/dashboards/*.json` (a unit test fails when a file is
/// added there and not here).
const DASHBOARDS: &[(&str, &str)] = &[
    (
        "redis-overview.json",
        include_str!("../../../../grafana/dashboards/redis-overview.json"),
    ),
    (
        "redis-ha.json",
        include_str!("../../../../grafana/dashboards/redis-ha.json"),
    ),
];
const RULES: &[(&str, &str)] = &[(
    "redis.yml",
    include_str!("../../../../grafana/prometheus/rules/redis.yml"),
)];
const DATASOURCES: &[(&str, &str)] = &[(
    "prometheus.yml",
    include_str!("../../../../grafana/provisioning/datasources/prometheus.yml"),
)];

/// Dashboards, rule files and datasource provisioning: (file name, text).
#[derive(Clone, Debug, Default)]
pub struct Sources {
    /// `dashboards/*.json`.
    pub dashboards: Vec<(String, String)>,
    /// `prometheus/rules/*.yml`.
    pub rules: Vec<(String, String)>,
    /// `provisioning/datasources/*.yml`.
    pub datasources: Vec<(String, String)>,
}

impl Sources {
    /// The copies built into this binary.
    pub fn embedded() -> Self {
        let own = |files: &[(&str, &str)]| {
            files
                .iter()
                .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
                .collect()
        };
        Self {
            dashboards: own(DASHBOARDS),
            rules: own(RULES),
            datasources: own(DATASOURCES),
        }
    }

    /// Reads a directory laid out like the project's `grafana/`.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let read = |sub: &str, ext: &[&str]| -> Result<Vec<(String, String)>, String> {
            let path = dir.join(sub);
            let entries = std::fs::read_dir(&path)
                .map_err(|e| format!("failed to read {}: {e}", path.display()))?;
            let mut files = Vec::new();
            for entry in entries.flatten() {
                let p = entry.path();
                let name = p
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("")
                    .to_owned();
                if ext.iter().any(|x| name.ends_with(x)) {
                    let text = std::fs::read_to_string(&p)
                        .map_err(|e| format!("failed to read {}: {e}", p.display()))?;
                    files.push((name, text));
                }
            }
            files.sort();
            Ok(files)
        };
        Ok(Self {
            dashboards: read("dashboards", &[".json"])?,
            rules: read("prometheus/rules", &[".yml", ".yaml"])?,
            datasources: read("provisioning/datasources", &[".yml", ".yaml"])?,
        })
    }

    /// Every alert name of the rule files (`- alert: Name` lines; the
    /// project's files use that form, tests/iac checks them with promtool).
    pub fn alert_names(&self) -> Vec<String> {
        self.rules
            .iter()
            .flat_map(|(_, text)| text.lines())
            .filter_map(|l| l.trim_start().strip_prefix("- alert:"))
            .map(|n| n.trim().trim_matches('"').to_owned())
            .collect()
    }

    /// Every `uid:` of the provisioned datasources.
    pub fn datasource_uids(&self) -> Vec<String> {
        self.datasources
            .iter()
            .flat_map(|(_, text)| text.lines())
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| {
                let l = l.trim_start();
                l.strip_prefix("- ")
                    .unwrap_or(l)
                    .trim_start()
                    .strip_prefix("uid:")
            })
            .map(|u| u.trim().trim_matches('"').trim_matches('\'').to_owned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_copies_are_every_file_of_grafana() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../grafana");
        let on_disk = Sources::load(&root).unwrap();
        let embedded = Sources::embedded();
        assert_eq!(
            on_disk.dashboards.len(),
            embedded.dashboards.len(),
            "embed every grafana/dashboards file"
        );
        assert_eq!(
            on_disk.rules.len(),
            embedded.rules.len(),
            "embed every rules file"
        );
        assert!(embedded.alert_names().len() >= 20);
        assert!(embedded.alert_names().contains(&"RedisDown".to_owned()));
        assert_eq!(embedded.datasource_uids(), ["redis-prometheus"]);
    }

    #[test]
    fn missing_directory_is_one_clear_error() {
        let e = Sources::load(Path::new("/nonexistent/grafana")).unwrap_err();
        assert!(
            e.starts_with("failed to read /nonexistent/grafana/dashboards"),
            "{e}"
        );
    }
}
