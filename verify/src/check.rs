//! The `Check` trait and what a check reports.

use serde::Serialize;
use std::future::Future;
use std::pin::Pin;

use crate::ctx::Ctx;

/// A boxed future, so checks can live in one `&dyn Check` registry.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

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
    /// Server settings.
    Config,
    /// Durability.
    Persistence,
    /// Memory limits and eviction.
    Memory,
    /// Server version.
    Version,
}

impl Area {
    /// Lowercase name, as in ids.
    pub fn as_str(self) -> &'static str {
        match self {
            Area::Conn => "conn",
            Area::Auth => "auth",
            Area::Acl => "acl",
            Area::Net => "net",
            Area::Config => "config",
            Area::Persistence => "persistence",
            Area::Memory => "memory",
            Area::Version => "version",
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
    /// The command as sent (secrets never appear: the verifier sends none
    /// in checks).
    pub command: String,
    /// The relevant part of the reply.
    pub observed: String,
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
}

impl Outcome {
    fn new(status: Status, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            evidence: Vec::new(),
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
    /// Why it matters, with a reference.
    pub why: &'static str,
    /// How to fix a failure: the `redis-conf/` line, Helm value or Terraform
    /// variable.
    pub remediation: &'static str,
}

/// A production-readiness check.
pub trait Check: Sync {
    /// Its description.
    fn meta(&self) -> &'static CheckMeta;
    /// Evaluates the check against the context. Must never execute a
    /// destructive command and must bound every wait (the context does).
    fn run<'a>(&'a self, ctx: &'a Ctx) -> BoxFuture<'a, Outcome>;
}
