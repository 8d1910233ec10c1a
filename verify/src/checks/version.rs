//! `version.*`: the server version against known vulnerabilities, judged
//! with exposure (who may reach the vulnerable code), and its branch's
//! support status.

use super::info_fields;
use crate::check::{Applies, Area, CheckMeta, Evidence, Needs, Outcome, Scope, Severity};
use crate::ctx::Ctx;
use crate::cves::{self, Branch};
use crate::info::{parse_version, Info};

/// `version.known-cves`
pub struct KnownCves;

static KNOWN_CVES: CheckMeta = CheckMeta {
    id: "version.known-cves",
    area: Area::Version,
    title: "No known CVE is reachable: vulnerable Lua is not open to non-admin users",
    severity: Severity::Deny,
    needs: Needs { disruptive: false },
    scope: Scope::Node,
    applies: Applies::ALL,
    why: "Several Redis CVEs allow remote code execution by any authenticated client through Lua (the 2025 RediShell family CVE-2025-49844, -46817, -46818, -46819; CVE-2024-46981; CVE-2022-24834): ACLs do not help when the application user may run EVAL. A vulnerable Lua reachable by a non-admin user fails; reachable by admins only, or a non-Lua CVE, warns. Distributions backport fixes without changing the version: a vendor build whose changelog was read is recognised by its redis_build_id, any other build is judged by its version and the evidence says so. Forks are identified from INFO (valkey_version, server_name): Valkey 8.1 is judged by its own rows (a partial table, so never a pass), other forks and branches are unknown, as is a Redis branch newer than the table. Table and sources: verify/src/cves.rs; https://github.com/redis/redis/security/advisories",
    remediation: "Upgrade to a fixed release of your branch (7.2.15, 7.4.11, 8.2.9 or later; Helm: image.tag; Terraform: engine_version), or take scripting away from the application (redis-conf/users.acl: `-@scripting` on `app`, if it uses no scripts); for a vendor build with backports, confirm the vendor's changelog.",
};

check_type!(KnownCves, KNOWN_CVES);

/// A fork's name and version when INFO identifies one.
fn fork(info: &Info) -> Option<(String, String)> {
    if let Some(v) = info.get("valkey_version") {
        return Some(("valkey".into(), v.to_owned()));
    }
    match info.get("server_name") {
        Some(n) if !n.eq_ignore_ascii_case("redis") => Some((
            n.to_owned(),
            info.get(&format!("{n}_version")).unwrap_or("?").to_owned(),
        )),
        _ => None,
    }
}

/// The INFO server fields both version checks judge: the version, the
/// build (vendor builds), and the fork's name and version (Valkey).
const SERVER_FIELDS: [&str; 4] = [
    "redis_version",
    "redis_build_id",
    "server_name",
    "valkey_version",
];

impl KnownCves {
    async fn evaluate(&self, ctx: &Ctx) -> Outcome {
        let (info, info_ev) = match info_fields(ctx, "server", &SERVER_FIELDS).await {
            Ok(found) => found,
            Err(outcome) => return outcome,
        };
        let mut evidence = vec![info_ev];
        if let Some((name, version)) = fork(&info) {
            let parsed = parse_version(&version)
                .filter(|v| name == "valkey" && cves::VALKEY_BRANCHES.contains(&(v.0, v.1)));
            let Some(parsed) = parsed else {
                return Outcome::warn(format!(
                    "{name} {version}: a fork with its own releases and no table here for this branch; its CVE state is unknown (not a pass)"
                ))
                .with(evidence);
            };
            let found = cves::affecting_in(cves::VALKEY_CVES, parsed);
            for c in &found {
                evidence.push(Evidence::new(format!("{} ({})", c.id, c.source), c.summary));
            }
            if found.is_empty() {
                return Outcome::warn(format!(
                    "Valkey {version}: no CVE of the Valkey rows known here (a partial table, not a full audit)"
                ))
                .with(evidence);
            }
            return judge(ctx, &format!("Valkey {version}"), &found, evidence).await;
        }

        let Some(version) = info.get("redis_version") else {
            return Outcome::error("INFO server has no redis_version").with(evidence);
        };
        let Some(parsed) = parse_version(version) else {
            return Outcome::error(format!("cannot parse version `{version}`")).with(evidence);
        };
        if cves::branch(parsed) == Branch::Unknown {
            return Outcome::warn(format!(
                "Redis {version}: branch {}.{} is newer than the CVE table (last branch {}.{}); unknown, not a pass",
                parsed.0, parsed.1, cves::NEWEST_BRANCH.0, cves::NEWEST_BRANCH.1
            ))
            .with(evidence);
        }
        let build = info.get("redis_build_id").unwrap_or("");
        let vendor =
            cves::vendor_build(version, build).filter(|_| !ctx.settings.cves.ignore_vendor_builds);
        let found: Vec<&'static cves::Cve> = cves::affecting(version)
            .unwrap_or_default()
            .into_iter()
            .filter(|c| !vendor.is_some_and(|b| b.fixed.contains(&c.id)))
            .collect();
        let provenance = match vendor {
            Some(b) => format!("vendor build recognised by redis_build_id: {}, fixes from its changelog subtracted", b.package),
            None => "judged by the version string: a distribution backport is invisible in it".to_owned(),
        };
        evidence.push(Evidence::new("CVE table (verify/src/cves.rs)", provenance));
        for c in &found {
            evidence.push(Evidence::new(format!("{} ({})", c.id, c.source), c.summary));
        }
        if found.is_empty() {
            return Outcome::pass(format!("Redis {version}: no known CVEs in the table"))
                .with(evidence);
        }
        judge(ctx, &format!("Redis {version}"), &found, evidence).await
    }
}

/// The verdict on the CVEs `found` for `server` ("Redis 7.0.15"): Lua
/// CVEs are judged by who may run scripts, others warn.
async fn judge(
    ctx: &Ctx,
    server: &str,
    found: &[&cves::Cve],
    mut evidence: Vec<Evidence>,
) -> Outcome {
    let ids = |lua: bool| -> Vec<&str> {
        found
            .iter()
            .filter(|c| c.lua == lua)
            .map(|c| c.id)
            .collect()
    };
    let (lua, other) = (ids(true), ids(false));
    if lua.is_empty() {
        return Outcome::warn(format!("{server} is affected by {}", other.join(", ")))
            .with(evidence);
    }
    // Lua CVEs: exposure decides.
    let whoami = ctx
        .whoami()
        .await
        .unwrap_or_else(|_| ctx.login_user().to_owned());
    match super::acl::scripting_users(ctx).await {
        Ok((reach, ev)) => {
            evidence.extend(ev);
            let open: Vec<String> = reach
                .iter()
                .filter(|(u, _)| u != "admin" && *u != whoami)
                .map(|(u, _)| format!("`{u}`"))
                .collect();
            if open.is_empty() {
                Outcome::warn(format!(
                    "{server} has vulnerable Lua ({}) but only the admin role may run scripts",
                    lua.join(", ")
                ))
                .with(evidence)
            } else {
                Outcome::fail(format!(
                    "{server} has vulnerable Lua ({}) and {} may run scripts",
                    lua.join(", "),
                    open.join(", ")
                ))
                .with(evidence)
            }
        }
        Err(withheld) => {
            evidence.push(Evidence::new("ACL LIST", withheld.message.clone()));
            Outcome::warn(format!(
                    "{server} has vulnerable Lua ({}); who may run scripts is not visible to `{whoami}`",
                    lua.join(", ")
                ))
                .with(evidence)
        }
    }
}

/// `version.supported-branch`
pub struct SupportedBranch;

static SUPPORTED_BRANCH: CheckMeta = CheckMeta {
    id: "version.supported-branch",
    area: Area::Version,
    title: "The release branch still receives security fixes",
    severity: Severity::Warn,
    needs: Needs { disruptive: false },
    scope: Scope::Node,
    applies: Applies::ALL,
    why: "An end-of-life branch gets no fixes for the next CVE: 7.0 had no release after 7.0.15 and 8.0 ended with 8.0.6, while 6.2, 7.2, 7.4 and 8.2 received 2026 releases. A vendor that maintains the branch (a distribution's security updates) is named when its build is recognised. https://github.com/redis/redis/releases",
    remediation: "Plan an upgrade to a maintained branch (7.4 or 8.2; Helm: image.tag; Terraform: engine_version), or run a vendor build that maintains yours.",
};

check_type!(SupportedBranch, SUPPORTED_BRANCH);

impl SupportedBranch {
    async fn evaluate(&self, ctx: &Ctx) -> Outcome {
        let (info, info_ev) = match info_fields(ctx, "server", &SERVER_FIELDS).await {
            Ok(found) => found,
            Err(outcome) => return outcome,
        };
        let evidence = vec![info_ev];
        if let Some((name, version)) = fork(&info) {
            return Outcome::warn(format!(
                "{name} {version}: a fork; its support status is not in this table"
            ))
            .with(evidence);
        }
        let version = info.get("redis_version").unwrap_or("?");
        let Some(parsed) = parse_version(version) else {
            return Outcome::error(format!("cannot parse version `{version}`")).with(evidence);
        };
        let line = format!("{}.{}", parsed.0, parsed.1);
        match cves::branch(parsed) {
            Branch::Maintained => Outcome::pass(format!("Redis {version}: branch {line} is maintained")).with(evidence),
            Branch::Unknown => Outcome::warn(format!("Redis {version}: branch {line} is newer than this table; unknown")).with(evidence),
            Branch::EndOfLife => match cves::vendor_build(version, info.get("redis_build_id").unwrap_or("")) {
                Some(b) => Outcome::pass(format!(
                    "Redis {version}: branch {line} is end of life upstream, maintained by the vendor ({})",
                    b.package
                ))
                .with(evidence),
                None => Outcome::warn(format!("Redis {version}: branch {line} is end of life upstream")).with(evidence),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Status;
    use crate::checks::testing::{run, run_with};
    use crate::ctx::Captured;
    use redis::Value;

    const DENIED: &str = "This user has no permissions to run the command";

    /// A 7.0.15 server (not a known build) whose ACL LIST shows admin and
    /// app, app allowed scripts when `app_scripts`.
    fn server(build: &str, app_scripts: bool) -> Captured {
        let mut c = Captured::default()
            .text(
                "INFO server",
                &format!("redis_version:7.0.15\r\nredis_build_id:{build}\r\n"),
            )
            .text("ACL WHOAMI", "admin")
            .reply(
                "ACL LIST",
                Ok(Value::Array(vec![
                    Value::BulkString(b"user admin on #ab ~* &* +@all".to_vec()),
                    Value::BulkString(b"user app on #cd ~* &* +@all -@dangerous".to_vec()),
                ])),
            );
        for argv in crate::checks::acl::SCRIPTING {
            c = c.reply(
                &format!("ACL DRYRUN admin {}", argv.join(" ")),
                Ok(Value::Okay),
            );
            let app = if app_scripts {
                Ok(Value::Okay)
            } else {
                Ok(Value::BulkString(DENIED.as_bytes().to_vec()))
            };
            c = c.reply(&format!("ACL DRYRUN app {}", argv.join(" ")), app);
        }
        c
    }

    #[test]
    fn vulnerable_lua_open_to_the_app_fails_naming_cves_and_users() {
        let o = run(&KnownCves, server("1234", true));
        assert_eq!(o.status, Status::Fail, "{o:?}");
        assert!(
            o.message.contains("CVE-2025-49844") && o.message.contains("`app`"),
            "{}",
            o.message
        );
        assert!(o
            .evidence
            .iter()
            .any(|e| e.observed.contains("backport is invisible")));
    }

    #[test]
    fn vulnerable_lua_for_admins_only_warns() {
        let o = run(&KnownCves, server("1234", false));
        assert_eq!(o.status, Status::Warn, "{o:?}");
        assert!(o.message.contains("only the admin role"));
    }

    #[test]
    fn the_recognised_debian_build_subtracts_its_backports() {
        let o = run(&KnownCves, server("ae4d7c971a948f0", true));
        assert_eq!(o.status, Status::Warn, "{o:?}");
        assert!(!o.message.contains("CVE-2025-49844"), "{}", o.message);
        let mut settings = crate::config::Settings::default();
        settings.cves.ignore_vendor_builds = true;
        let o = run_with(&KnownCves, server("ae4d7c971a948f0", true), settings);
        assert_eq!(o.status, Status::Fail, "{o:?}");
    }

    #[test]
    fn patched_passes_forks_and_new_branches_are_unknown() {
        let new = Captured::default().text("INFO server", "redis_version:8.2.9\r\n");
        assert_eq!(run(&KnownCves, new).status, Status::Pass);
        let valkey = Captured::default().text(
            "INFO server",
            "redis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:8.0.1\r\n",
        );
        let o = run(&KnownCves, valkey);
        assert_eq!(o.status, Status::Warn);
        assert!(o.message.starts_with("valkey 8.0.1"), "{}", o.message);
        let future = Captured::default().text("INFO server", "redis_version:9.0.0\r\n");
        assert_eq!(run(&KnownCves, future).status, Status::Warn);
    }

    #[test]
    fn valkey_is_judged_by_its_own_rows() {
        let info = |v: &str| {
            format!("redis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:{v}\r\n")
        };
        let old = server("x", true).text("INFO server", &info("8.1.3"));
        let o = run(&KnownCves, old);
        assert_eq!(o.status, Status::Fail, "{o:?}");
        assert!(
            o.message
                .starts_with("Valkey 8.1.3 has vulnerable Lua (CVE-2026-23631, CVE-2025-49844)"),
            "{}",
            o.message
        );
        let patched = server("x", true).text("INFO server", &info("8.1.7"));
        let o = run(&KnownCves, patched);
        assert_eq!(
            o.status,
            Status::Warn,
            "a partial table never passes: {o:?}"
        );
    }

    #[test]
    fn supported_branch_warns_on_end_of_life() {
        let eol = Captured::default().text(
            "INFO server",
            "redis_version:7.0.15\r\nredis_build_id:1\r\n",
        );
        assert_eq!(run(&SupportedBranch, eol).status, Status::Warn);
        let debian = Captured::default().text(
            "INFO server",
            "redis_version:7.0.15\r\nredis_build_id:ae4d7c971a948f0\r\n",
        );
        let o = run(&SupportedBranch, debian);
        assert_eq!(o.status, Status::Pass);
        assert!(o.message.contains("Debian"));
        let ok = Captured::default().text("INFO server", "redis_version:7.4.11\r\n");
        assert_eq!(run(&SupportedBranch, ok).status, Status::Pass);
    }
}
