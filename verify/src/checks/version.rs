//! `version.*`: the server version against known vulnerabilities.

use super::info_fields;
use crate::check::{Applies, Area, CheckMeta, Needs, Outcome, Scope, Severity};
use crate::ctx::Ctx;
use crate::cves;

/// `version.known-cves`
pub struct KnownCves;

static KNOWN_CVES: CheckMeta = CheckMeta {
    id: "version.known-cves",
    area: Area::Version,
    title: "Server version has no known CVEs",
    severity: Severity::Warn,
    needs: Needs { disruptive: false },
    scope: Scope::Node,
    applies: Applies::ALL,
    why: "Several Redis CVEs allow remote code execution by any authenticated client through Lua (CVE-2025-49844 \"RediShell\", CVE-2024-46981, CVE-2022-24834); ACLs do not help when the application user may run EVAL. Distributions backport fixes without changing the version, so a match is reported as a warning to confirm against the vendor's advisory. https://github.com/redis/redis/security/advisories",
    remediation: "Upgrade to a fixed release (7.2.11, 7.4.6, 8.0.4, 8.2.2 or later; Helm: image.tag; Terraform: engine_version) or confirm the distribution's backport, then set this check to `allow` in verify.toml.",
};

check_type!(KnownCves, KNOWN_CVES);

impl KnownCves {
    async fn evaluate(&self, ctx: &Ctx) -> Outcome {
        let (info, info_ev) =
            match info_fields(ctx, "server", &["redis_version", "server_name"]).await {
                Ok(found) => found,
                Err(outcome) => return outcome,
            };
        let evidence = vec![info_ev];
        if info.get("server_name").is_some_and(|n| n != "redis") {
            return Outcome::skip(format!(
                "not Redis ({}): its versions follow another table",
                info.show("server_name")
            ))
            .with(evidence);
        }
        let Some(version) = info.get("redis_version") else {
            return Outcome::error("INFO server has no redis_version").with(evidence);
        };
        match cves::affecting(version) {
            None => Outcome::error(format!("cannot parse version `{version}`")).with(evidence),
            Some(found) if found.is_empty() => {
                Outcome::pass(format!("Redis {version}: no known CVEs in the table")).with(evidence)
            }
            Some(found) => {
                let ids: Vec<&str> = found.iter().map(|c| c.id).collect();
                let message = format!(
                    "Redis {version} is affected by {} unless the vendor backported fixes: {}",
                    found.len(),
                    ids.join(", ")
                );
                Outcome::warn(message).with(evidence)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Status;
    use crate::checks::testing::run;
    use crate::ctx::Captured;

    #[test]
    fn old_version_warns_patched_passes() {
        let old = Captured::default().text("INFO server", "redis_version:7.0.15\r\n");
        let o = run(&KnownCves, old);
        assert_eq!(o.status, Status::Warn);
        assert!(o.message.contains("CVE-2025-49844"));
        let new = Captured::default().text("INFO server", "redis_version:7.4.6\r\n");
        assert_eq!(run(&KnownCves, new).status, Status::Pass);
    }
}
