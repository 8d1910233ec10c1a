//! The TLS profile, live: `verify --tls` launches a TLS-only deployment
//! (certificates generated at launch) and passes every check on both
//! launchers; weak variants (a plaintext port beside TLS, a certificate
//! about to expire) fail with the right id; a topology the profile does
//! not support yet is one clear line.

use super::common::*;
use serde_json::Value;
use std::time::Duration;
use topology::options::TlsLaunch;
use topology::{Deployment, Launcher, Profile, Topology};

/// Checks that may warn on a hardened TLS deployment, and why.
const MAY_WARN: &[&str] = &[
    // Debian's 7.0.15 predates upstream's Lua fixes (Debian backports them).
    "version.known-cves",
];

fn embedded_tls(launcher: &str) -> (i32, Value, String) {
    let out = verify_bin()
        .env("REDIS_LAUNCHER", launcher)
        .args(["--tls", "--format", "json"])
        .output()
        .expect("run verify");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stderr}"));
    super::schema::assert_valid(super::schema::Schema::Report, &report);
    (out.status.code().unwrap_or(-1), report, stderr)
}

fn assert_tls_default_passes(launcher: &str, also_may_warn: &[&str]) {
    let (code, report, stderr) = embedded_tls(launcher);
    assert!(report["target"].as_str().unwrap().starts_with("rediss://"));
    assert!(report["launched"].as_str().unwrap().contains("over TLS"));
    let st = statuses(&report);
    for (id, status) in &st {
        let may_warn = MAY_WARN.contains(&id.as_str()) || also_may_warn.contains(&id.as_str());
        assert!(
            status == "pass" || (may_warn && status == "warn"),
            "{id} is {status} on the {launcher} TLS deployment: {report:#}"
        );
    }
    // Every standalone tls.* check ran, and passed on the wire.
    for id in [
        "tls.plaintext-port",
        "tls.protocols",
        "tls.certificate",
        "tls.client-auth",
        "tls.unencrypted",
    ] {
        assert!(
            st.iter().any(|(i, s)| i == id && s == "pass"),
            "{id}: {st:?}"
        );
    }
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn process_tls_default_passes_every_check() {
    assert_tls_default_passes("process", &[]);
}

#[test]
fn docker_tls_default_passes_every_check() {
    if !docker_available() {
        return;
    }
    assert_tls_default_passes("docker", &["net.bind"]);
}

/// Launches a hardened standalone over TLS with `tls` on local processes.
fn launch_tls(rt: &tokio::runtime::Runtime, tls: TlsLaunch) -> Deployment {
    let options = options().with_tls(Some(tls));
    rt.block_on(Deployment::launch_with(
        &Topology::Standalone,
        Profile::Hardened,
        &options,
        Launcher::Process,
    ))
    .expect("launch TLS deployment")
}

/// Runs verify against a TLS deployment with its CA and client certificate.
fn verify_tls(d: &Deployment, dir: &std::path::Path) -> (i32, Value, String) {
    let files = d.tls_files().expect("a TLS deployment");
    let url = format!("rediss://{}", d.target.address());
    let pw = password_file(dir, d.target.password.as_ref().unwrap());
    let path = |p: &Option<std::path::PathBuf>| p.as_ref().unwrap().display().to_string();
    let args = [
        "--target".to_owned(),
        url,
        "--user".into(),
        "admin".into(),
        "--password-file".into(),
        pw.display().to_string(),
        "--tls-ca".into(),
        path(&files.ca),
        "--tls-cert".into(),
        path(&files.cert),
        "--tls-key".into(),
        path(&files.key),
    ];
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run_json(&refs)
}

fn status_of<'a>(report: &'a Value, id: &str) -> (&'a str, &'a str) {
    let c = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {report:#}"));
    (
        c["status"].as_str().unwrap(),
        c["message"].as_str().unwrap(),
    )
}

#[test]
fn a_plaintext_port_beside_tls_fails_tls_plaintext_port_with_its_number() {
    let rt = runtime();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = launch_tls(
        &rt,
        TlsLaunch {
            plaintext_port: Some(port),
            ..TlsLaunch::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let (code, report, _) = verify_tls(&d, dir.path());
    let (status, message) = status_of(&report, "tls.plaintext-port");
    assert_eq!(status, "fail", "{report:#}");
    assert!(message.contains(&port.to_string()), "{message}");
    assert_eq!(status_of(&report, "tls.certificate").0, "pass");
    assert_eq!(code, 1);
}

#[test]
fn a_certificate_about_to_expire_fails_tls_certificate() {
    let rt = runtime();
    let d = launch_tls(
        &rt,
        TlsLaunch {
            valid_for: Duration::from_secs(2 * 86_400),
            ..TlsLaunch::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let (code, report, _) = verify_tls(&d, dir.path());
    let (status, message) = status_of(&report, "tls.certificate");
    assert_eq!(status, "fail", "{report:#}");
    assert!(
        message.contains("expires in 1 day") || message.contains("expires in 2 day"),
        "{message}"
    );
    assert_eq!(
        status_of(&report, "tls.plaintext-port").0,
        "pass",
        "{report:#}"
    );
    assert_eq!(code, 1);
}

#[test]
fn tls_profile_on_an_unsupported_topology_or_with_a_target_is_one_line() {
    for args in [
        &["--tls", "--topology", "sentinel"][..],
        &["--tls", "--target", "redis://127.0.0.1:1"][..],
    ] {
        let out = verify_bin()
            .env("REDIS_LAUNCHER", "process")
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", all_output(&out));
        let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
        assert_eq!(errors.len(), 1, "{stderr}");
        assert!(errors[0].contains("--tls"), "{stderr}");
    }
}
