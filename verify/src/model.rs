//! The shared vocabulary of checks and drills: area, severity, status,
//! evidence, outcome and the static description of a check.
//!
//! It imports nothing of its own crate, so every other module (checks,
//! contexts, settings, renderers, drills) can depend on it without cycles.

use serde::Serialize;

/// Family of a check; the first part of its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Area {
    /// Can the verifier reach the server at all.
    Conn,
    /// Authentication.
    Auth,
    /// Access control lists.
    Acl,
    /// Network exposure.
    Net,
    /// Encryption in transit.
    Tls,
    /// Server settings.
    Config,
    /// Durability.
    Persistence,
    /// Memory limits and eviction.
    Memory,
    /// Server version.
    Version,
    /// Replication between primaries and replicas.
    Repl,
    /// Sentinel.
    Sentinel,
    /// Redis Cluster.
    Cluster,
    /// Exporter, Prometheus rules and dashboards (`--prometheus`).
    Monitoring,
}

impl Area {
    /// Lowercase name, as in ids.
    pub fn as_str(self) -> &'static str {
        match self {
            Area::Conn => "conn",
            Area::Auth => "auth",
            Area::Acl => "acl",
            Area::Net => "net",
            Area::Tls => "tls",
            Area::Config => "config",
            Area::Persistence => "persistence",
            Area::Memory => "memory",
            Area::Version => "version",
            Area::Repl => "repl",
            Area::Sentinel => "sentinel",
            Area::Cluster => "cluster",
            Area::Monitoring => "monitoring",
        }
    }
}

/// What a failed check means for the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A failure fails the run (exit 1).
    Deny,
    /// A failure is reported but does not fail the run.
    Warn,
    /// The check is not run.
    Allow,
}

impl Severity {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Deny => "deny",
            Severity::Warn => "warn",
            Severity::Allow => "allow",
        }
    }
}

/// What a check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Meets the policy.
    Pass,
    /// Violates the policy.
    Fail,
    /// Acceptable but worth attention.
    Warn,
    /// Not applicable or not permitted to look; the reason says which.
    Skip,
    /// Could not be evaluated (the run, not the deployment, has a problem).
    Error,
}

impl Status {
    /// Lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Warn => "warn",
            Status::Skip => "skip",
            Status::Error => "error",
        }
    }
}

/// One command sent and what came back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// The node that answered, when the check looked at several.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The command as sent (secrets never appear: the verifier sends none
    /// in checks).
    pub command: String,
    /// The relevant part of the reply.
    pub observed: String,
}

impl Evidence {
    /// Evidence from the node the check runs on.
    pub fn new(command: impl Into<String>, observed: impl Into<String>) -> Self {
        Self {
            node: None,
            command: command.into(),
            observed: observed.into(),
        }
    }

    /// Evidence from a named node (deployment-wide checks).
    pub fn on(node: &str, command: impl Into<String>, observed: impl Into<String>) -> Self {
        Self {
            node: Some(node.to_owned()),
            command: command.into(),
            observed: observed.into(),
        }
    }
}

/// The result of one check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Verdict.
    pub status: Status,
    /// One line saying what was found.
    pub message: String,
    /// Commands and replies behind the verdict.
    pub evidence: Vec<Evidence>,
    /// Why a skip happened, when the evidence was withheld rather than the
    /// check not applying; the summary counts these apart.
    pub withheld: Option<Withheld>,
}

/// Who withheld the evidence a skipped check needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Withheld {
    /// The ACL of the user the verifier runs as (`NOPERM`).
    Permission,
    /// A managed service that blocks or renames the command.
    Provider,
}

impl Outcome {
    fn new(status: Status, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            evidence: Vec::new(),
            withheld: None,
        }
    }
    /// A pass.
    pub fn pass(message: impl Into<String>) -> Self {
        Self::new(Status::Pass, message)
    }
    /// A failure.
    pub fn fail(message: impl Into<String>) -> Self {
        Self::new(Status::Fail, message)
    }
    /// A warning.
    pub fn warn(message: impl Into<String>) -> Self {
        Self::new(Status::Warn, message)
    }
    /// A skip with its reason.
    pub fn skip(reason: impl Into<String>) -> Self {
        Self::new(Status::Skip, reason)
    }
    /// A skip because the evidence was withheld; the reason says what was
    /// denied and what would allow it.
    pub fn withheld(by: Withheld, reason: impl Into<String>) -> Self {
        Self {
            withheld: Some(by),
            ..Self::new(Status::Skip, reason)
        }
    }
    /// Could not evaluate.
    pub fn error(message: impl Into<String>) -> Self {
        Self::new(Status::Error, message)
    }
    /// Adds evidence.
    pub fn with(mut self, evidence: Vec<Evidence>) -> Self {
        self.evidence.extend(evidence);
        self
    }
}

/// Conditions a check needs to run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needs {
    /// Disrupts nodes (drills); only on launched deployments or with an
    /// explicit flag.
    pub disruptive: bool,
}

/// Where a check runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// On every data node; each result names its node.
    Node,
    /// Once per deployment, over every node (`repl.*`, `sentinel.*`,
    /// `cluster.*`).
    Deployment,
}

/// The kinds of deployment a check applies to; on others it is not run
/// and not reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Applies {
    /// One server.
    pub standalone: bool,
    /// Primary, replicas and Sentinels.
    pub sentinel: bool,
    /// Redis Cluster.
    pub cluster: bool,
}

impl Applies {
    /// Every kind.
    pub const ALL: Self = Self {
        standalone: true,
        sentinel: true,
        cluster: true,
    };
    /// Deployments with replicas (Sentinel and Cluster).
    pub const REPLICATED: Self = Self {
        standalone: false,
        sentinel: true,
        cluster: true,
    };
    /// Sentinel deployments.
    pub const SENTINEL: Self = Self {
        standalone: false,
        sentinel: true,
        cluster: false,
    };
    /// Cluster deployments.
    pub const CLUSTER: Self = Self {
        standalone: false,
        sentinel: false,
        cluster: true,
    };

    /// Names for docs: `standalone, sentinel, cluster`.
    pub fn names(&self) -> String {
        [
            (self.standalone, "standalone"),
            (self.sentinel, "sentinel"),
            (self.cluster, "cluster"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(", ")
    }
}

/// Static description of a check: the docs page and `verify list` come from it.
#[derive(Debug)]
pub struct CheckMeta {
    /// Stable id, `area.kebab-name`; never reused.
    pub id: &'static str,
    /// Family.
    pub area: Area,
    /// Short title.
    pub title: &'static str,
    /// Default severity, overridable in `verify.toml`.
    pub severity: Severity,
    /// What it needs.
    pub needs: Needs,
    /// Per data node or once per deployment.
    pub scope: Scope,
    /// Which deployments it applies to.
    pub applies: Applies,
    /// Why it matters, with a reference.
    pub why: &'static str,
    /// How to fix a failure: the `redis-conf/` line, Helm value or Terraform
    /// variable.
    pub remediation: &'static str,
}
