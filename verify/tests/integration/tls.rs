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
        // Without --prometheus the monitoring checks skip.
        let may_skip = id.starts_with("monitoring.");
        assert!(
            status == "pass" || (may_warn && status == "warn") || (may_skip && status == "skip"),
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
    // The open plaintext port doubles as a MONITOR tap: every command of
    // the TLS run (the tls.* probes included) must be allow-listed.
    let admin = d.credentials.as_ref().unwrap().admin.expose().to_owned();
    let mut monitor = super::safety::spawn_admin_monitor(port, &admin);
    let stdout = monitor.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), "OK");
    let dir = tempfile::tempdir().unwrap();
    let (code, report, _) = verify_tls(&d, dir.path());
    std::process::Command::new("redis-cli")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "--user",
            "admin",
        ])
        .env("REDISCLI_AUTH", &admin)
        .args(["ECHO", "end-of-verify-run"])
        .output()
        .unwrap();
    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(10)) {
        if line.contains("end-of-verify-run") {
            break;
        }
        lines.push(line);
    }
    let _ = monitor.kill();
    let _ = monitor.wait();
    let _ = reader.join();
    let mut in_multi = std::collections::HashSet::new();
    let mut violations = Vec::new();
    for line in &lines {
        let Some((client, args)) = super::safety::parse_monitor_line(line) else {
            continue;
        };
        let name = super::safety::command_name(&args);
        if in_multi.contains(&client) {
            match name.as_str() {
                "DISCARD" => {
                    in_multi.remove(&client);
                }
                "EXEC" => violations.push(line.clone()),
                _ => {}
            }
        } else if name == "MULTI" {
            in_multi.insert(client);
        } else if !super::safety::ALLOWED.contains(&name.as_str()) {
            violations.push(line.clone());
        }
    }
    assert!(
        lines.len() > 10,
        "MONITOR saw only {} commands",
        lines.len()
    );
    assert!(violations.is_empty(), "{violations:#?}");
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

#[test]
fn a_server_that_still_accepts_tls_1_1_fails_tls_protocols() {
    // OpenSSL 3 refuses TLS 1.1 at its default security level, so the weak
    // server lowers it as an old deployment would have to.
    let dir = tempfile::tempdir().unwrap();
    let m = topology::tls::certs::generate(dir.path(), &Default::default()).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let p = |p: &std::path::Path| p.display().to_string();
    let mut server = std::process::Command::new("redis-server")
        .args(["--port", "0", "--tls-port", &port, "--bind", "127.0.0.1"])
        .args(["--save", "", "--dir", &p(dir.path())])
        .args(["--tls-cert-file", &p(&m.server_cert)])
        .args(["--tls-key-file", &p(&m.server_key)])
        .args(["--tls-ca-cert-file", &p(&m.ca), "--tls-auth-clients", "no"])
        .args(["--tls-protocols", "TLSv1.1 TLSv1.2"])
        .args(["--tls-ciphers", "DEFAULT@SECLEVEL=0"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let addr = format!("127.0.0.1:{port}");
    let up = wait_until(Duration::from_secs(10), || {
        std::net::TcpStream::connect(&addr).is_ok()
    });
    let result = std::panic::catch_unwind(|| {
        assert!(up, "TLS server did not start");
        let url = format!("rediss://{addr}");
        let (code, report, _) = run_json(&["--target", &url, "--tls-ca", &p(&m.ca)]);
        let (status, message) = status_of(&report, "tls.protocols");
        assert_eq!(status, "fail", "{report:#}");
        assert!(message.contains("TLSv1.1"), "{message}");
        assert!(
            !message.contains("TLSv1 "),
            "TLS 1.0 stays refused: {message}"
        );
        assert_eq!(code, 1);
    });
    let _ = server.kill();
    let _ = server.wait();
    result.unwrap();
}
