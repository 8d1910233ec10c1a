//! Runs the registry against a context and collects the report.

use crate::check::{Check, CheckMeta, Outcome, Scope, Severity, Status, Withheld};
use crate::exit;
use crate::fleet::{Fleet, FleetKind};
use std::time::{Duration, Instant};

/// Upper bound for one check; each command inside is bounded by the
/// response timeout, this bounds checks that send several.
const CHECK_TIMEOUT: Duration = Duration::from_secs(60);

/// One check's result with its effective severity.
#[derive(Debug)]
pub struct CheckResult {
    /// The check's description.
    pub meta: &'static CheckMeta,
    /// Severity after `verify.toml` overrides.
    pub severity: Severity,
    /// The node it concerns (node-scoped checks); `None` for
    /// deployment-wide checks.
    pub node: Option<String>,
    /// What it found.
    pub outcome: Outcome,
    /// How long it took.
    pub elapsed: Duration,
}

impl CheckResult {
    /// A failure that fails the run.
    pub fn is_blocking(&self) -> bool {
        self.outcome.status == Status::Fail && self.severity == Severity::Deny
    }
}

/// Everything a renderer needs.
#[derive(Debug)]
pub struct Report {
    /// Redacted target URL.
    pub target: String,
    /// How the deployment was obtained, when the verifier launched it.
    pub launched: Option<String>,
    /// `standalone`, `sentinel` or `cluster`.
    pub topology: &'static str,
    /// Every node the run looked at: (label, role).
    pub nodes: Vec<(String, crate::fleet::Role)>,
    /// What discovery noticed.
    pub notes: Vec<String>,
    /// Settings used.
    pub settings: crate::config::Settings,
    /// Results in registry order.
    pub results: Vec<CheckResult>,
    /// Drill results (`verify drill`), in run order.
    pub drills: Vec<crate::drill::DrillResult>,
}

/// Counts per status.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// Passed.
    pub pass: usize,
    /// Failed (any severity).
    pub fail: usize,
    /// Warnings.
    pub warn: usize,
    /// Skipped.
    pub skip: usize,
    /// Of the skips, those whose evidence the verifier's user may not read
    /// (`NOPERM`): a run with more privileges would judge them.
    pub skip_permission: usize,
    /// Of the skips, those whose commands a managed service blocks.
    pub skip_provider: usize,
    /// Could not evaluate.
    pub error: usize,
}

impl Report {
    /// Counts per status.
    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for r in &self.results {
            match r.outcome.withheld {
                Some(Withheld::Permission) => s.skip_permission += 1,
                Some(Withheld::Provider) => s.skip_provider += 1,
                None => {}
            }
            match r.outcome.status {
                Status::Pass => s.pass += 1,
                Status::Fail => s.fail += 1,
                Status::Warn => s.warn += 1,
                Status::Skip => s.skip += 1,
                Status::Error => s.error += 1,
            }
        }
        for d in &self.drills {
            match d.status {
                Status::Pass => s.pass += 1,
                Status::Fail => s.fail += 1,
                Status::Warn => s.warn += 1,
                Status::Skip => s.skip += 1,
                Status::Error => s.error += 1,
            }
        }
        s
    }

    /// `N pass, N fail, N warn, N skip (N for permissions, N blocked by
    /// the provider), N error; exit N`; the parenthesis only when non-empty.
    pub fn summary_line(&self) -> String {
        let s = self.summary();
        let mut why = Vec::new();
        if s.skip_permission > 0 {
            why.push(format!("{} for permissions", s.skip_permission));
        }
        if s.skip_provider > 0 {
            why.push(format!("{} blocked by the provider", s.skip_provider));
        }
        let why = if why.is_empty() {
            String::new()
        } else {
            format!(" ({})", why.join(", "))
        };
        format!(
            "{} pass, {} fail, {} warn, {} skip{why}, {} error; exit {}",
            s.pass,
            s.fail,
            s.warn,
            s.skip,
            s.error,
            self.exit_code()
        )
    }

    /// 1 when a deny-level check failed; else 2 when a check could not be
    /// evaluated (the run is not trustworthy); else 0.
    pub fn exit_code(&self) -> i32 {
        if self.results.iter().any(CheckResult::is_blocking)
            || self.drills.iter().any(|d| d.status == Status::Fail)
        {
            exit::FAIL
        } else if self
            .results
            .iter()
            .any(|r| r.outcome.status == Status::Error)
            || self.drills.iter().any(|d| d.status == Status::Error)
        {
            exit::ERROR
        } else {
            exit::PASS
        }
    }
}

fn applies(meta: &CheckMeta, kind: &FleetKind) -> bool {
    match kind {
        FleetKind::Standalone => meta.applies.standalone,
        FleetKind::Sentinel { .. } => meta.applies.sentinel,
        FleetKind::Cluster => meta.applies.cluster,
    }
}

/// Runs `checks` in registry order: node-scoped ones on every data node,
/// deployment-scoped ones once. Checks that do not apply to this kind of
/// deployment are left out of the report.
pub async fn run_checks(fleet: &Fleet, checks: &[&dyn Check]) -> Vec<CheckResult> {
    let mut results = Vec::new();
    for check in checks {
        let meta = check.meta();
        if !applies(meta, &fleet.kind) {
            continue;
        }
        let severity = fleet
            .settings
            .severity
            .get(meta.id)
            .copied()
            .unwrap_or(meta.severity);
        match meta.scope {
            Scope::Node => {
                for member in &fleet.data {
                    let started = Instant::now();
                    let outcome = run_one(*check, severity, fleet, &member.ctx).await;
                    results.push(CheckResult {
                        meta,
                        severity,
                        node: Some(member.label.clone()),
                        outcome,
                        elapsed: started.elapsed(),
                    });
                }
                if meta.id == "conn.reachable" {
                    for (label, why) in &fleet.unreachable {
                        results.push(CheckResult {
                            meta,
                            severity,
                            node: Some(label.clone()),
                            outcome: Outcome::fail(format!("discovered but not reachable: {why}")),
                            elapsed: Duration::ZERO,
                        });
                    }
                }
            }
            Scope::Deployment => {
                let Some(first) = fleet.data.first() else {
                    continue;
                };
                let started = Instant::now();
                let outcome = run_one(*check, severity, fleet, &first.ctx).await;
                results.push(CheckResult {
                    meta,
                    severity,
                    node: None,
                    outcome,
                    elapsed: started.elapsed(),
                });
            }
        }
    }
    results
}

async fn run_one(
    check: &dyn Check,
    severity: Severity,
    fleet: &Fleet,
    ctx: &crate::ctx::Ctx,
) -> Outcome {
    if severity == Severity::Allow {
        Outcome::skip("disabled in verify.toml (severity = \"allow\")")
    } else if check.meta().needs.disruptive {
        Outcome::skip("disruptive drill: not requested")
    } else {
        match tokio::time::timeout(CHECK_TIMEOUT, check.run(fleet, ctx)).await {
            Ok(o) => o,
            Err(_) => Outcome::error(format!("did not finish within {CHECK_TIMEOUT:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Withheld;

    fn report(outcomes: Vec<Outcome>) -> Report {
        let meta = crate::checks::REGISTRY[0].meta();
        Report {
            target: "redis://127.0.0.1:6379".into(),
            launched: None,
            topology: "standalone",
            nodes: Vec::new(),
            notes: Vec::new(),
            settings: crate::config::Settings::default(),
            results: outcomes
                .into_iter()
                .map(|outcome| CheckResult {
                    meta,
                    severity: Severity::Deny,
                    node: None,
                    outcome,
                    elapsed: Duration::ZERO,
                })
                .collect(),
            drills: Vec::new(),
        }
    }

    #[test]
    fn summary_counts_skips_for_permissions_and_providers_and_exits_0() {
        let r = report(vec![
            Outcome::pass("ok"),
            Outcome::withheld(Withheld::Permission, "INFO server denied to `app`"),
            Outcome::withheld(Withheld::Permission, "ACL LIST denied to `app`"),
            Outcome::withheld(Withheld::Provider, "CONFIG GET x blocked by ElastiCache"),
            Outcome::skip("not applicable"),
        ]);
        let s = r.summary();
        assert_eq!((s.skip, s.skip_permission, s.skip_provider), (4, 2, 1));
        assert_eq!(
            r.summary_line(),
            "1 pass, 0 fail, 0 warn, 4 skip (2 for permissions, 1 blocked by the provider), 0 error; exit 0"
        );
        let plain = report(vec![Outcome::pass("ok"), Outcome::error("no")]);
        assert_eq!(
            plain.summary_line(),
            "1 pass, 0 fail, 0 warn, 0 skip, 1 error; exit 2"
        );
    }
}
