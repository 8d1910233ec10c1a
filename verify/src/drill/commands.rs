//! Node control of an existing deployment through the user's commands:
//! `--node-control ACTION='cmd {node}'`, one per action, run with `sh -c`
//! after the placeholders are filled in.
//!
//! Actions: `kill`, `stop`, `pause`, `resume` (alias `cont`), `start`
//! (alias `restart`), `isolate`, `heal`, `failover`. Placeholders, filled
//! per node (values are shell-quoted):
//!
//! | placeholder | value |
//! |---|---|
//! | `{node}` | the node's id in the report: its announced host when every node has its own (a container or host name), else `host:port` |
//! | `{host}`, `{port}` | the address the node announces |
//! | `{addr}` | `host:port` this host reaches it at |
//! | `{pid}`, `{executable}`, `{config_file}` | from the node's `INFO server`, read before the drill and again after a start |
//! | `{shard}` | 1, 2, … by the shard's first slot (Cluster), else 1 |
//! | `{master}` | the Sentinel master name |
//!
//! Every command is bounded by [`COMMAND_TIMEOUT`] (then killed) and must
//! exit 0; its output is never echoed except the last line of stderr, with
//! the deployment's passwords masked.

use super::control::{probe, DrillNode};
use super::DrillError;
use std::collections::BTreeMap;
use std::time::Duration;
use topology::Secret;

/// Bound for one node-control command.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// A node-control action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// Crash the node.
    Kill,
    /// Stop it gracefully.
    Stop,
    /// Freeze it.
    Pause,
    /// Thaw it.
    Resume,
    /// Start it from its data (after a kill or stop).
    Start,
    /// Cut it off from its peers.
    Isolate,
    /// Reconnect it.
    Heal,
    /// Fail its shard over to a replica (a managed service's API).
    Failover,
}

impl Action {
    /// Every action with its accepted names (first is canonical).
    pub const NAMES: &'static [(Action, &'static [&'static str])] = &[
        (Action::Kill, &["kill"]),
        (Action::Stop, &["stop"]),
        (Action::Pause, &["pause"]),
        (Action::Resume, &["resume", "cont"]),
        (Action::Start, &["start", "restart"]),
        (Action::Isolate, &["isolate"]),
        (Action::Heal, &["heal"]),
        (Action::Failover, &["failover"]),
    ];

    /// Its canonical name.
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(a, _)| *a == self)
            .map_or("?", |(_, n)| n[0])
    }

    /// Parses a name or alias.
    pub fn parse(s: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .find(|(_, names)| names.contains(&s))
            .map(|(a, _)| *a)
    }
}

/// Why `--node-control` was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ParseError {
    /// No `=`, or an empty side.
    #[error("failed to read --node-control `{0}`: expected ACTION='command {{node}}'")]
    Malformed(String),
    /// Not an action.
    #[error("failed to read --node-control: unknown action `{0}` (actions: kill, stop, pause, resume|cont, start|restart, isolate, heal, failover)")]
    UnknownAction(String),
    /// Given twice.
    #[error("failed to read --node-control: action `{0}` given twice")]
    Duplicate(&'static str),
    /// An unknown `{placeholder}`.
    #[error("failed to read --node-control {action}: unknown placeholder `{{{name}}}` (known: node, host, port, addr, pid, executable, config_file, shard, master)")]
    Placeholder {
        /// The action.
        action: &'static str,
        /// The placeholder.
        name: String,
    },
}

const PLACEHOLDERS: &[&str] = &[
    "node",
    "host",
    "port",
    "addr",
    "pid",
    "executable",
    "config_file",
    "shard",
    "master",
];

/// Parses every `ACTION=CMD`.
pub fn parse(specs: &[String]) -> Result<BTreeMap<Action, String>, ParseError> {
    let mut out = BTreeMap::new();
    for spec in specs {
        let (name, cmd) = spec
            .split_once('=')
            .map(|(a, c)| (a.trim(), c.trim()))
            .filter(|(a, c)| !a.is_empty() && !c.is_empty())
            .ok_or_else(|| ParseError::Malformed(spec.clone()))?;
        let action =
            Action::parse(name).ok_or_else(|| ParseError::UnknownAction(name.to_owned()))?;
        for p in placeholders(cmd) {
            if !PLACEHOLDERS.contains(&p.as_str()) {
                return Err(ParseError::Placeholder {
                    action: action.name(),
                    name: p,
                });
            }
        }
        if out.insert(action, cmd.to_owned()).is_some() {
            return Err(ParseError::Duplicate(action.name()));
        }
    }
    Ok(out)
}

fn placeholders(cmd: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = cmd;
    while let Some(i) = rest.find('{') {
        let after = &rest[i + 1..];
        match after.find('}') {
            Some(j)
                if after[..j]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_') =>
            {
                out.push(after[..j].to_owned());
                rest = &after[j + 1..];
            }
            _ => rest = after,
        }
    }
    out
}

/// Fills the placeholders, each value shell-quoted.
pub fn fill(cmd: &str, values: &BTreeMap<&'static str, String>) -> String {
    let mut out = cmd.to_owned();
    for (k, v) in values {
        out = out.replace(&format!("{{{k}}}"), &quote(v));
    }
    out
}

fn quote(v: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_.:/@%+,=".contains(c);
    if !v.is_empty() && v.chars().all(safe) {
        v.to_owned()
    } else {
        format!("'{}'", v.replace('\'', r"'\''"))
    }
}

/// The user's commands and what fills their placeholders.
pub struct Commands {
    actions: BTreeMap<Action, String>,
    /// Per node id: placeholder values.
    values: BTreeMap<String, BTreeMap<&'static str, String>>,
    secrets: Vec<Secret>,
    /// What ran, for the report (template, node, exit): appended per run.
    pub ran: Vec<(String, String)>,
}

impl Commands {
    /// The parsed actions; `secrets` are masked in anything reported.
    pub fn new(actions: BTreeMap<Action, String>, secrets: Vec<Secret>) -> Self {
        Self {
            actions,
            values: BTreeMap::new(),
            secrets,
            ran: Vec::new(),
        }
    }

    /// Reads every node's placeholder values (`INFO server`; a node that
    /// does not answer keeps `{pid}` and friends empty).
    pub async fn learn(
        &mut self,
        nodes: &[DrillNode],
        shards: &BTreeMap<String, usize>,
        master: &str,
    ) {
        for n in nodes {
            let mut v = BTreeMap::new();
            v.insert("node", n.id.clone());
            v.insert("host", n.announced.host.clone());
            v.insert("port", n.announced.port.to_string());
            v.insert("addr", n.reachable.to_string());
            v.insert("shard", shards.get(&n.id).copied().unwrap_or(1).to_string());
            v.insert("master", master.to_owned());
            self.values.insert(n.id.clone(), v);
            self.refresh(n).await;
        }
    }

    /// Re-reads `{pid}`, `{executable}`, `{config_file}` of one node.
    pub async fn refresh(&mut self, n: &DrillNode) {
        let info = server_info(n).await;
        let v = self.values.entry(n.id.clone()).or_default();
        for (k, field) in [
            ("pid", "process_id"),
            ("executable", "executable"),
            ("config_file", "config_file"),
        ] {
            v.insert(k, info.get(field).cloned().unwrap_or_default());
        }
    }

    /// Whether `action` has a command; the skip reason if not.
    pub fn supports(&self, action: Action) -> Result<(), DrillError> {
        if self.actions.contains_key(&action) {
            Ok(())
        } else {
            Err(DrillError::Unsupported(format!(
                "no --node-control {}='…' command was given for this drill",
                action.name()
            )))
        }
    }

    /// Runs `action` on `node`, bounded, and checks its exit code.
    pub async fn run(&mut self, action: Action, node: &DrillNode) -> Result<(), DrillError> {
        self.supports(action)?;
        let template = self.actions.get(&action).cloned().unwrap_or_default();
        let values = self.values.get(&node.id).cloned().unwrap_or_default();
        if template.contains("{pid}") && values.get("pid").is_none_or(String::is_empty) {
            return Err(DrillError::Other(format!(
                "run --node-control {}: {{pid}} of {} is unknown (INFO server did not answer)",
                action.name(),
                node.id
            )));
        }
        let cmd = fill(&template, &values);
        let shown = self.mask(&template);
        let mut child = tokio::process::Command::new("sh");
        child
            .arg("-c")
            .arg(&cmd)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let what = format!("run --node-control {} on {}", action.name(), node.id);
        let out = match tokio::time::timeout(COMMAND_TIMEOUT, child.output()).await {
            Err(_) => {
                return Err(DrillError::Other(format!(
                    "{what} within {COMMAND_TIMEOUT:?} (`{shown}` was killed)"
                )))
            }
            Ok(Err(e)) => return Err(DrillError::Other(format!("{what}: {e}"))),
            Ok(Ok(o)) => o,
        };
        let status = out
            .status
            .code()
            .map_or_else(|| "a signal".to_owned(), |c| format!("exit {c}"));
        self.ran.push((
            format!("{} {}: {shown}", action.name(), node.id),
            status.clone(),
        ));
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = self.mask(
            stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or(""),
        );
        Err(DrillError::Other(format!(
            "{what}: `{shown}` ended with {status}: {last}"
        )))
    }

    fn mask(&self, text: &str) -> String {
        self.secrets
            .iter()
            .fold(text.to_owned(), |t, s| topology::client::scrub(&t, Some(s)))
    }
}

/// Whether every data node announces its own host (containers, machines).
pub fn distinct_hosts(nodes: &[DrillNode]) -> bool {
    let hosts: std::collections::BTreeSet<&str> =
        nodes.iter().map(|n| n.announced.host.as_str()).collect();
    hosts.len() == nodes.len()
}

async fn server_info(n: &DrillNode) -> BTreeMap<String, String> {
    let Ok(mut c) = topology::connect(&n.target, &probe()).await else {
        return BTreeMap::new();
    };
    let text: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut c)
        .await
        .unwrap_or_default();
    text.lines()
        .filter_map(|l| l.trim().split_once(':'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn actions_parse_with_aliases_and_placeholders() {
        let a = parse(&specs(&[
            "kill=kill -9 {pid}",
            "cont=kill -CONT {pid}",
            "restart = docker start {node}",
            "failover=aws elasticache test-failover --replication-group-id rg --node-group-id {shard}",
        ]))
        .unwrap();
        assert_eq!(a.len(), 4);
        assert_eq!(a[&Action::Resume], "kill -CONT {pid}");
        assert_eq!(a[&Action::Start], "docker start {node}");
    }

    #[test]
    fn bad_specs_are_refused_with_what_to_do() {
        assert!(matches!(
            parse(&specs(&["kill"])),
            Err(ParseError::Malformed(_))
        ));
        assert!(matches!(
            parse(&specs(&["=x"])),
            Err(ParseError::Malformed(_))
        ));
        assert!(matches!(
            parse(&specs(&["kill="])),
            Err(ParseError::Malformed(_))
        ));
        assert_eq!(
            parse(&specs(&["explode=rm -rf /"])),
            Err(ParseError::UnknownAction("explode".into()))
        );
        assert_eq!(
            parse(&specs(&["kill=a", "kill=b"])),
            Err(ParseError::Duplicate("kill"))
        );
        assert!(matches!(
            parse(&specs(&["kill=docker kill {container}"])),
            Err(ParseError::Placeholder { .. })
        ));
        // Shell braces that are not placeholders pass through.
        assert!(parse(&specs(&["kill=sh -c 'f() { kill $1; }; f {pid}'"])).is_ok());
    }

    #[test]
    fn values_are_filled_shell_quoted() {
        let v: BTreeMap<&'static str, String> = [
            ("node", "redis-1".to_owned()),
            ("host", "a b".to_owned()),
            ("pid", "42".to_owned()),
        ]
        .into();
        assert_eq!(
            fill("docker kill {node}; echo {host}; kill {pid}", &v),
            "docker kill redis-1; echo 'a b'; kill 42"
        );
        assert_eq!(quote("it's"), r"'it'\''s'");
    }
}
