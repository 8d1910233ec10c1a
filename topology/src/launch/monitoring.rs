//! `--monitoring`: redis_exporter and Prometheus next to a launched
//! deployment, so the `monitoring.*` checks have something to look at.
//!
//! Both run as local processes (binaries from `REDIS_EXPORTER_BIN` /
//! `PROMETHEUS_BIN`, else `prometheus-redis-exporter` or `redis_exporter`,
//! and `prometheus` on PATH) on 127.0.0.1, for either launcher: the nodes'
//! ports are reachable from this host in both. One exporter serves every
//! node through `/scrape?target=…` as the `exporter` ACL user (password from
//! a private file, `-config-command=-`); Prometheus loads the project's rules
//! (grafana/prometheus/rules/redis.yml, embedded) and scrapes and evaluates
//! every second, so rules with a `for:` can be seen firing quickly. Each
//! node's `instance` label is its launch id (`n1`, `s1`), `addr` the
//! address this host reaches it at: reports name nodes by one or the other.
//! Dropping the stack kills both processes and removes their files.
//!
//! [`Monitoring::start_with`] also scrapes extra deployments (the
//! `monitoring.alerts-fire` drill's scratch node, labelled `deployment:
//! scratch` so the deployment-wide rules do not count it) and loads another
//! rules text (`PROMETHEUS_RULES_FILE`, or a test's broken copy).

use super::{Deployment, LaunchError};
use std::fmt::Write as _;
use std::path::Path;
use std::process::Stdio;

/// The project's alert rules (the one source, grafana/).
pub const RULES: &str = include_str!("../../../grafana/prometheus/rules/redis.yml");
/// Scrape and evaluation interval of the launched Prometheus.
pub const INTERVAL: &str = "1s";

/// `deployment` label of the launched deployment's nodes.
pub const LAUNCHED: &str = "launched";
/// `deployment` label (and `instance` prefix) of extra, scratch nodes.
pub const SCRATCH: &str = "scratch";

/// One scrape target: a node and its labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scrape {
    /// `instance` label: the launch id (`n1`), `scratch-n1` for extras.
    pub id: String,
    /// The address this host reaches it at (`addr` label, the target).
    pub addr: String,
    /// Job `redis-sentinel` rather than `redis`.
    pub sentinel: bool,
    /// `deployment` label.
    pub deployment: &'static str,
}

/// A running exporter and Prometheus; dropping it stops them.
pub struct Monitoring {
    prometheus_url: String,
    rules: String,
    _children: Vec<tokio::process::Child>,
    _dir: tempfile::TempDir,
}

impl Monitoring {
    /// Base URL of the Prometheus API.
    pub fn prometheus_url(&self) -> &str {
        &self.prometheus_url
    }

    /// The rules text this Prometheus loaded.
    pub fn rules(&self) -> &str {
        &self.rules
    }

    /// Starts the exporter and Prometheus for every node of `d`. `lookup`
    /// reads the environment (binary paths, `PROMETHEUS_RULES_FILE`).
    pub async fn start(
        d: &Deployment,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, LaunchError> {
        Self::start_with(d, &[], None, lookup).await
    }

    /// As [`Monitoring::start`], also scraping the nodes of `extra`
    /// (labelled `deployment: scratch`), with `rules` instead of the
    /// project's rules when given. Every deployment must share `d`'s
    /// credentials (one exporter password).
    pub async fn start_with(
        d: &Deployment,
        extra: &[&Deployment],
        rules: Option<String>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, LaunchError> {
        let fail = |m: String| LaunchError::Process(format!("--monitoring: {m}"));
        if d.target.tls || extra.iter().any(|x| x.target.tls) {
            return Err(fail("TLS deployments are not supported yet".into()));
        }
        let rules = match (
            rules,
            lookup("PROMETHEUS_RULES_FILE").filter(|p| !p.is_empty()),
        ) {
            (Some(r), _) => r,
            (None, Some(path)) => std::fs::read_to_string(&path)
                .map_err(|e| fail(format!("failed to read PROMETHEUS_RULES_FILE {path}: {e}")))?,
            (None, None) => RULES.to_owned(),
        };
        let exporter_bin = binary(&lookup, "REDIS_EXPORTER_BIN", &["prometheus-redis-exporter", "redis_exporter"])
            .ok_or_else(|| fail("redis_exporter not found: set REDIS_EXPORTER_BIN or install prometheus-redis-exporter".into()))?;
        let prometheus_bin =
            binary(&lookup, "PROMETHEUS_BIN", &["prometheus"]).ok_or_else(|| {
                fail("prometheus not found: set PROMETHEUS_BIN or install prometheus".into())
            })?;
        let dir = tempfile::Builder::new()
            .prefix("redis-monitoring-")
            .tempdir()?;
        let scrape = |d: &Deployment, deployment: &'static str| {
            d.nodes()
                .iter()
                .map(|n| Scrape {
                    id: if deployment == LAUNCHED {
                        n.id.clone()
                    } else {
                        format!("{deployment}-{}", n.id)
                    },
                    addr: format!("{}:{}", n.reachable.host, n.reachable.port),
                    sentinel: n.is_sentinel(),
                    deployment,
                })
                .collect::<Vec<_>>()
        };
        let mut nodes = scrape(d, LAUNCHED);
        for x in extra {
            nodes.extend(scrape(x, SCRATCH));
        }

        let exporter_port = free_port()?;
        let mut exporter = tokio::process::Command::new(&exporter_bin);
        exporter.args([
            "-redis.addr=",
            "-config-command=-",
            &format!("-web.listen-address=127.0.0.1:{exporter_port}"),
        ]);
        if let Some(c) = &d.credentials {
            let mut map = String::from("{");
            for (i, n) in nodes.iter().enumerate() {
                let sep = if i == 0 { "" } else { "," };
                let _ = write!(
                    map,
                    "{sep}\"redis://{}\":{}",
                    n.addr,
                    json_string(c.exporter.expose())
                );
            }
            map.push('}');
            let file = dir.path().join("exporter-passwords.json");
            write_private(&file, &map)?;
            exporter
                .args(["-redis.user", "exporter", "-redis.password-file"])
                .arg(&file);
        }
        let exporter = spawn(exporter, &dir.path().join("exporter.log"))
            .map_err(|e| fail(format!("failed to start {exporter_bin}: {e}")))?;

        let rules_file = dir.path().join("redis.yml");
        std::fs::write(&rules_file, &rules)?;
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            prometheus_config(&nodes, exporter_port, &rules_file),
        )?;
        let prometheus_port = free_port()?;
        let mut prometheus = tokio::process::Command::new(&prometheus_bin);
        prometheus
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prometheus_port}"));
        let prometheus = spawn(prometheus, &dir.path().join("prometheus.log"))
            .map_err(|e| fail(format!("failed to start {prometheus_bin}: {e}")))?;
        Ok(Self {
            prometheus_url: format!("http://127.0.0.1:{prometheus_port}"),
            rules,
            _children: vec![exporter, prometheus],
            _dir: dir,
        })
    }
}

/// Prometheus configuration: jobs `redis` and `redis-sentinel` through the
/// exporter's multi-target endpoint, labels as grafana/prometheus/prometheus.yml
/// sets them (`deployment` = `launched`).
pub fn prometheus_config(nodes: &[Scrape], exporter_port: u16, rules: &Path) -> String {
    let mut out = format!(
        "global:\n  scrape_interval: {INTERVAL}\n  scrape_timeout: 900ms\n  evaluation_interval: {INTERVAL}\nrule_files:\n  - \"{}\"\nscrape_configs:\n",
        rules.display()
    );
    for (job, sentinel) in [("redis", false), ("redis-sentinel", true)] {
        let _ = write!(
            out,
            "  - job_name: {job}\n    metrics_path: /scrape\n    static_configs:\n"
        );
        let mut any = false;
        for n in nodes.iter().filter(|n| n.sentinel == sentinel) {
            any = true;
            let _ = writeln!(
                out,
                "      - {{targets: [\"{a}\"], labels: {{instance: \"{}\", addr: \"{a}\", deployment: {}}}}}",
                n.id,
                n.deployment,
                a = n.addr,
            );
        }
        if !any {
            out.push_str("      []\n");
        }
        let _ = write!(
            out,
            "    relabel_configs:\n      - {{source_labels: [__address__], target_label: __param_target, replacement: \"redis://$1\"}}\n      - {{target_label: __address__, replacement: \"127.0.0.1:{exporter_port}\"}}\n"
        );
    }
    out
}

fn binary(lookup: &impl Fn(&str) -> Option<String>, var: &str, names: &[&str]) -> Option<String> {
    if let Some(p) = lookup(var).filter(|p| !p.is_empty()) {
        return Some(p);
    }
    let path = lookup("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
            .map(|p| p.display().to_string())
    })
}

fn spawn(mut cmd: tokio::process::Command, log: &Path) -> std::io::Result<tokio::process::Child> {
    let out = std::fs::File::create(log)?;
    let err = out.try_clone()?;
    cmd.stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .kill_on_drop(true)
        .spawn()
}

fn free_port() -> Result<u16, LaunchError> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_labels_every_node_by_its_id_and_loads_the_rules() {
        let node = |id: &str, addr: &str, sentinel, deployment| Scrape {
            id: id.into(),
            addr: addr.into(),
            sentinel,
            deployment,
        };
        let nodes = vec![
            node("n1", "127.0.0.1:7001", false, LAUNCHED),
            node("s1", "127.0.0.1:27001", true, LAUNCHED),
            node("scratch-n1", "127.0.0.1:7009", false, SCRATCH),
        ];
        let c = prometheus_config(&nodes, 9121, Path::new("/tmp/r/redis.yml"));
        assert!(c.contains("rule_files:\n  - \"/tmp/r/redis.yml\""), "{c}");
        assert!(c.contains("- job_name: redis\n    metrics_path: /scrape\n    static_configs:\n      - {targets: [\"127.0.0.1:7001\"], labels: {instance: \"n1\", addr: \"127.0.0.1:7001\", deployment: launched}}"), "{c}");
        assert!(c.contains("- job_name: redis-sentinel\n    metrics_path: /scrape\n    static_configs:\n      - {targets: [\"127.0.0.1:27001\"], labels: {instance: \"s1\""), "{c}");
        assert!(c.contains("{targets: [\"127.0.0.1:7009\"], labels: {instance: \"scratch-n1\", addr: \"127.0.0.1:7009\", deployment: scratch}}"), "{c}");
        assert!(c.contains("replacement: \"127.0.0.1:9121\""));
        assert!(RULES.contains("- alert: RedisDown"));
    }

    #[test]
    fn standalone_has_an_empty_sentinel_job() {
        let c = prometheus_config(
            &[Scrape {
                id: "n1".into(),
                addr: "127.0.0.1:6379".into(),
                sentinel: false,
                deployment: LAUNCHED,
            }],
            1,
            Path::new("r.yml"),
        );
        assert!(c.contains("- job_name: redis-sentinel\n    metrics_path: /scrape\n    static_configs:\n      []\n"), "{c}");
    }

    #[test]
    fn passwords_are_json_escaped() {
        assert_eq!(json_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\u000a\"");
    }

    #[test]
    fn binaries_come_from_the_variable_then_path() {
        let env = |k: &str| match k {
            "PROMETHEUS_BIN" => Some("/opt/p".to_owned()),
            "PATH" => Some("/nonexistent".to_owned()),
            _ => None,
        };
        assert_eq!(
            binary(&env, "PROMETHEUS_BIN", &["prometheus"]).as_deref(),
            Some("/opt/p")
        );
        assert_eq!(
            binary(&env, "REDIS_EXPORTER_BIN", &["redis_exporter"]),
            None
        );
    }
}
