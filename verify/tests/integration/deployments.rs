//! The hardened policy passes every check; the weak deployment fails each
//! check that guards against its weakness. Both launchers.

use super::common::*;
use topology::{Launcher, Profile};

/// Checks that may warn on a hardened deployment, and why.
const HARDENED_MAY_WARN: &[&str] = &[
    // Debian's 7.0.15 predates the 2024-2025 Lua fixes upstream (Debian
    // backports them; the version string cannot show it).
    "version.known-cves",
];

/// Ids the weak deployment must fail, whatever the launcher.
const WEAK_MUST_FAIL: &[&str] = &[
    "auth.required",
    "auth.default-user",
    "acl.dangerous-commands",
    "acl.least-privilege",
    "net.protected-mode",
    "config.debug-module-commands",
    "config.protected-configs",
    "config.timeouts",
    "config.slowlog",
    "config.latency-monitor",
    "persistence.aof",
    "persistence.rdb",
    "memory.maxmemory",
    "memory.eviction-policy",
];

fn assert_hardened(launcher: Launcher, also_may_warn: &[&str]) {
    let rt = runtime();
    let d = launch(&rt, Profile::Hardened, launcher);
    let dir = tempfile::tempdir().unwrap();
    let (code, report, stderr) = verify_deployment(&d, dir.path(), &[]);
    for (id, status) in statuses(&report) {
        let may_warn =
            HARDENED_MAY_WARN.contains(&id.as_str()) || also_may_warn.contains(&id.as_str());
        // tls.* have no TLS to judge on these redis:// targets (tls.rs
        // runs them over TLS); without --prometheus the monitoring checks
        // skip (tests/iac/test_monitoring.py runs them against a live
        // Prometheus).
        let may_skip = id.starts_with("tls.") || id.starts_with("monitoring.");
        assert!(
            status == "pass" || (may_warn && status == "warn") || (may_skip && status == "skip"),
            "{id} is {status} on the hardened deployment: {report:#}"
        );
    }
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["summary"]["fail"], 0);
}

fn assert_weak(launcher: Launcher, also_must_fail: &[&str]) {
    let rt = runtime();
    let d = launch(&rt, Profile::Weak, launcher);
    let dir = tempfile::tempdir().unwrap();
    let (code, report, _) = verify_deployment(&d, dir.path(), &[]);
    let st = statuses(&report);
    for id in WEAK_MUST_FAIL.iter().chain(also_must_fail) {
        let status = st.iter().find(|(i, _)| i == id).map(|(_, s)| s.as_str());
        assert_eq!(
            status,
            Some("fail"),
            "{id} should fail on the weak deployment: {report:#}"
        );
    }
    assert_eq!(code, 1);
}

#[test]
fn process_hardened_deployment_passes_every_check() {
    assert_hardened(Launcher::Process, &[]);
}

#[test]
fn process_weak_deployment_fails_each_corresponding_check() {
    assert_weak(Launcher::Process, &[]);
}

#[test]
fn docker_hardened_deployment_passes_every_check() {
    if !docker_available() {
        return;
    }
    // Inside a container the server binds every container interface; with
    // auth but no TLS net.bind warns (exposure is the published port's).
    assert_hardened(Launcher::Docker, &["net.bind"]);
}

#[test]
fn docker_weak_deployment_fails_each_corresponding_check() {
    if !docker_available() {
        return;
    }
    // The stock container binds every interface with no auth.
    assert_weak(Launcher::Docker, &["net.bind"]);
}

#[test]
fn embedded_default_launches_and_passes() {
    // No --target: the binary launches the hardened standalone itself.
    let out = verify_bin()
        .env("REDIS_LAUNCHER", "process")
        .args(["--format", "json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    super::schema::assert_valid(super::schema::Schema::Report, &report);
    assert_eq!(out.status.code(), Some(0), "{}", all_output(&out));
    assert!(report["launched"]
        .as_str()
        .unwrap()
        .contains("redis-server"));
    assert_eq!(report["schema_version"], 1);
    assert!(report["target"].as_str().unwrap().contains(":***@"));
}

#[test]
fn severity_override_turns_a_warning_check_into_a_blocking_one() {
    let rt = runtime();
    let d = launch(&rt, Profile::Weak, Launcher::Process);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("verify.toml");
    // Allow every deny-level check the weak server fails, deny config.slowlog.
    let mut text = String::from("[severity]\n\"config.slowlog\" = \"deny\"\n");
    for id in WEAK_MUST_FAIL.iter().filter(|i| !i.starts_with("config.")) {
        text.push_str(&format!("\"{id}\" = \"allow\"\n"));
    }
    for id in ["config.debug-module-commands", "config.protected-configs"] {
        text.push_str(&format!("\"{id}\" = \"allow\"\n"));
    }
    std::fs::write(&cfg, text).unwrap();
    let cfg_s = cfg.display().to_string();
    let (code, report, _) = verify_deployment(&d, dir.path(), &["--config", &cfg_s]);
    let blocking: Vec<_> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "fail" && c["severity"] == "deny")
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(blocking, vec!["config.slowlog".to_owned()]);
    assert_eq!(code, 1);
    // Without the override, config.slowlog alone would not fail the run.
    std::fs::write(
        &cfg,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("\"config.slowlog\" = \"deny\"", ""),
    )
    .unwrap();
    let (code, _, _) = verify_deployment(&d, dir.path(), &["--config", &cfg_s]);
    assert_eq!(code, 0);
}

#[test]
fn junit_report_lists_every_check_with_failures() {
    let rt = runtime();
    let d = launch(&rt, Profile::Weak, Launcher::Process);
    let out = verify_bin()
        .args([
            "--target",
            &format!("redis://{}", d.target.address()),
            "--format",
            "junit",
        ])
        .output()
        .unwrap();
    let xml = String::from_utf8(out.stdout).unwrap();
    assert!(xml.starts_with("<?xml"));
    // One test case per check that applies to a standalone server.
    let standalone = verify::checks::REGISTRY
        .iter()
        .filter(|c| c.meta().applies.standalone)
        .count();
    assert_eq!(xml.matches("<testcase ").count(), standalone);
    assert!(standalone < verify::checks::REGISTRY.len());
    assert!(xml.contains("name=\"auth.required\""));
    assert!(xml.matches("<failure ").count() >= WEAK_MUST_FAIL.len());
}

/// Generates a CA and a server certificate for 127.0.0.1 with openssl.
fn make_tls_files(dir: &std::path::Path) {
    let sh = |script: &str| {
        let ok = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            ok.status.success(),
            "{}",
            String::from_utf8_lossy(&ok.stderr)
        );
    };
    sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=verify-test-ca");
    sh("openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost");
    sh("printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > ext && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext");
}

#[test]
fn tls_target_verifies_with_its_ca_and_refuses_an_unknown_one() {
    let dir = tempfile::tempdir().unwrap();
    make_tls_files(dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let d = dir.path().display().to_string();
    let mut server = std::process::Command::new("redis-server")
        .args([
            "--port",
            "0",
            "--tls-port",
            &port,
            "--bind",
            "127.0.0.1",
            "--dir",
            &d,
            "--save",
            "",
        ])
        .args([
            "--tls-cert-file",
            "server.pem",
            "--tls-key-file",
            "server.key",
            "--tls-ca-cert-file",
            "ca.pem",
            "--tls-auth-clients",
            "no",
        ])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("rediss://127.0.0.1:{port}");
    let ca = dir.path().join("ca.pem").display().to_string();
    let ready = wait_until(std::time::Duration::from_secs(10), || {
        std::process::Command::new("redis-cli")
            .args(["--tls", "--cacert", &ca, "-p", &port, "PING"])
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"PONG"))
    });
    let result = std::panic::catch_unwind(|| {
        assert!(ready, "TLS server did not start");
        let (code, report, _) = run_json(&["--target", &url, "--tls-ca", &ca]);
        assert_eq!(code, 1, "stock TLS server has no auth: {report:#}");
        assert_eq!(report["checks"][0]["status"], "pass");
        assert!(report["target"].as_str().unwrap().starts_with("rediss://"));
        // Without the CA the system roots do not trust it: one clear line.
        let out = verify_bin().args(["--target", &url]).output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&out.stderr).contains("failed to establish TLS"));
    });
    let _ = server.kill();
    let _ = server.wait();
    result.unwrap();
}
