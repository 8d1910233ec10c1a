//! Security in depth, live: the full suite run with less than admin (the
//! policy's `app` and `exporter` users) reports no `error` and exits 0, and
//! each weakness the security checks guard against, applied to a launched
//! hardened deployment, fails the run with the right id. One deployment is
//! shared by every run to keep the wall time small.

use super::common::*;
use serde_json::Value;
use topology::{Deployment, Launcher, Profile, Secret};

/// Runs the suite against `d` as `user` with `password`.
fn verify_as(
    d: &Deployment,
    user: &str,
    password: &Secret,
    extra: &[&str],
) -> (i32, Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let pw = password_file(dir.path(), password).display().to_string();
    let url = format!("redis://{}", d.target.address());
    let mut args = vec!["--target", &url, "--user", user, "--password-file", &pw];
    args.extend_from_slice(extra);
    run_json(&args)
}

/// Sends one command as admin (test set-up only: the verifier never does).
fn admin_cmd(d: &Deployment, args: &[&str]) -> String {
    let admin = d.credentials.as_ref().unwrap().admin.expose().to_owned();
    let out = std::process::Command::new("redis-cli")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &d.target.port.to_string(),
            "--user",
            "admin",
        ])
        .env("REDISCLI_AUTH", admin)
        .args(args)
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn status_of<'a>(report: &'a Value, id: &str) -> Vec<&'a str> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["id"] == id)
        .map(|c| c["status"].as_str().unwrap_or(""))
        .collect()
}

fn no_errors(who: &str, code: i32, report: &Value, stderr: &str) {
    let errors: Vec<_> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "error")
        .map(|c| format!("{}: {}", c["id"], c["message"]))
        .collect();
    assert!(errors.is_empty(), "as {who}: {errors:#?}");
    assert_eq!(code, 0, "as {who}: {stderr} {report:#}");
}

#[test]
fn least_privilege_runs_report_and_weak_variants_fail() {
    let rt = runtime();
    let d = launch(&rt, Profile::Hardened, Launcher::Process);
    let creds = d.credentials.as_ref().unwrap();

    // As the application: INFO, CONFIG and ACL are denied to it, so those
    // checks are permission skips, never errors.
    let (code, report, stderr) = verify_as(&d, "app", &creds.app, &[]);
    no_errors("app", code, &report, &stderr);
    assert_eq!(status_of(&report, "conn.reachable"), ["pass"], "{report:#}");
    let skipped = report["summary"]["skip_permission"].as_u64().unwrap();
    assert!(skipped > 0, "{report:#}");
    assert!(
        stderr.contains(&format!("{skipped} for permissions")),
        "summary line: {stderr}"
    );

    // As the exporter: it may read INFO and CONFIG GET but not write keys.
    let (code, report, stderr) = verify_as(&d, "exporter", &creds.exporter, &[]);
    no_errors("exporter", code, &report, &stderr);
    assert_eq!(status_of(&report, "conn.reachable"), ["pass"], "{report:#}");
}

/// (what, command that applies it, command that undoes it, ids that fail).
type Variant<'a> = (&'a str, &'a [&'a str], &'a [&'a str], &'a [&'a str]);

fn failing_ids(report: &Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail")
        .map(|c| c["id"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn weak_acl_variants_fail_with_the_right_id() {
    let rt = runtime();
    let d = launch(&rt, Profile::Hardened, Launcher::Process);
    let dir = tempfile::tempdir().unwrap();

    // The server's own @dangerous table has no command outside a group.
    let listed = admin_cmd(&d, &["COMMAND", "LIST", "FILTERBY", "ACLCAT", "dangerous"]);
    let orphans: Vec<&str> = listed
        .lines()
        .filter(|n| verify::caps::groups_of(n)[0].id == "unclassified")
        .collect();
    assert!(listed.lines().count() > 50, "{listed}");
    assert!(
        orphans.is_empty(),
        "@dangerous commands in no capability: {orphans:?}"
    );

    let (code, report, stderr) = verify_deployment(&d, dir.path(), &[]);
    for id in [
        "acl.dangerous-commands",
        "acl.least-privilege",
        "acl.scripting",
    ] {
        assert_eq!(status_of(&report, id), ["pass"], "{id}: {report:#}");
    }
    assert!(code == 0, "{stderr}");

    // Each weakness alone, then undone, on the same deployment.
    let variants: &[Variant] = &[
        (
            "an alias left allowed",
            &["ACL", "SETUSER", "app", "+slaveof"],
            &["ACL", "SETUSER", "app", "-slaveof"],
            &["acl.dangerous-commands"],
        ),
        (
            "a nopass user",
            &[
                "ACL",
                "SETUSER",
                "guest",
                "on",
                "nopass",
                "~cache:*",
                "resetchannels",
                "-@all",
                "+get",
            ],
            &["ACL", "DELUSER", "guest"],
            &["acl.least-privilege"],
        ),
        (
            "a second admin-power user",
            &[
                "ACL",
                "SETUSER",
                "ops",
                "on",
                ">ops-password-for-test",
                "~*",
                "&*",
                "+@all",
            ],
            &["ACL", "DELUSER", "ops"],
            &["acl.least-privilege", "acl.scripting"],
        ),
    ];
    for (what, apply, undo, ids) in variants {
        assert_eq!(admin_cmd(&d, apply), "OK", "{what}");
        let (code, report, stderr) = verify_deployment(&d, dir.path(), &[]);
        admin_cmd(&d, undo);
        let failing = failing_ids(&report);
        assert_eq!(code, 1, "{what}: {stderr}");
        for id in *ids {
            assert!(
                failing.iter().any(|f| f == id),
                "{what}: {id} should fail, failing: {failing:?}"
            );
        }
        assert!(
            !stderr.contains("ops-password-for-test")
                && !report.to_string().contains("ops-password-for-test")
        );
    }

    // Scripting open on a vulnerable version: the app may run EVAL (the
    // policy lets it, its workloads use scripts). The Debian build CI runs
    // carries the 2025 Lua fixes (its changelog), recognised by build id;
    // judged by the version string alone it is vulnerable, and the run fails.
    let cfg = dir.path().join("verify.toml");
    std::fs::write(&cfg, "[cves]\nignore_vendor_builds = true\n").unwrap();
    let cfg_s = cfg.display().to_string();
    let (code, report, stderr) = verify_deployment(&d, dir.path(), &["--config", &cfg_s]);
    let cve = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "version.known-cves")
        .unwrap()
        .clone();
    assert_eq!(
        (code, cve["status"].as_str()),
        (1, Some("fail")),
        "{stderr} {cve:#}"
    );
    assert!(
        cve["message"]
            .as_str()
            .unwrap()
            .contains("`app` may run scripts"),
        "{cve:#}"
    );
}
