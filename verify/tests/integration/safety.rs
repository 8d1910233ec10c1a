//! The verifier is safe to point at production: MONITOR records every
//! command of a full run and only allow-listed commands may appear outside
//! a discarded transaction; the keyspace is left as it was found.

use super::common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;
use topology::{Deployment, Launcher, Profile};

/// Commands a run may execute. Anything else outside MULTI…DISCARD fails.
const ALLOWED: &[&str] = &[
    "AUTH",
    "HELLO",
    "PING",
    "INFO",
    "CONFIG GET",
    "ACL WHOAMI",
    "ACL GETUSER",
    "ACL DRYRUN",
    "MULTI",
    "DISCARD",
    "SET",
    "GET",
    "DEL",
];

/// Parses a MONITOR line: `<ts> [<db> <client>] "CMD" "arg" …`.
fn parse_monitor_line(line: &str) -> Option<(String, Vec<String>)> {
    let open = line.find('[')?;
    let close = line[open..].find(']')? + open;
    let client = line[open + 1..close].split_whitespace().nth(1)?.to_owned();
    let mut args = Vec::new();
    let mut rest = &line[close + 1..];
    while let Some(start) = rest.find('"') {
        let mut end = start + 1;
        let bytes = rest.as_bytes();
        while end < bytes.len() && bytes[end] != b'"' {
            if bytes[end] == b'\\' {
                end += 1;
            }
            end += 1;
        }
        args.push(rest[start + 1..end.min(rest.len())].to_owned());
        rest = &rest[(end + 1).min(rest.len())..];
    }
    Some((client, args))
}

fn command_name(args: &[String]) -> String {
    let first = args.first().map(|s| s.to_uppercase()).unwrap_or_default();
    match (first.as_str(), args.get(1)) {
        ("CONFIG" | "ACL" | "CLIENT", Some(sub)) => format!("{first} {}", sub.to_uppercase()),
        _ => first,
    }
}

/// Runs verify against `d` while redis-cli MONITORs it as admin; returns
/// the violations found.
fn monitored_run(
    d: &Deployment,
    admin_password: Option<&str>,
    user: Option<&str>,
) -> (Vec<String>, usize) {
    let port = d.target.port.to_string();
    let mut monitor = Command::new("redis-cli");
    monitor.args(["-h", "127.0.0.1", "-p", &port]);
    if let (Some(u), Some(p)) = (user, admin_password) {
        // REDISCLI_AUTH keeps the password out of argv.
        monitor.args(["--user", u]).env("REDISCLI_AUTH", p);
    }
    let mut child = monitor
        .arg("monitor")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-cli monitor");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // MONITOR answers OK first; wait for it (bounded) so no command is missed.
    let first = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("MONITOR started");
    assert_eq!(first, "OK", "monitor said {first}");

    let dir = tempfile::tempdir().unwrap();
    let (code, report, stderr) = verify_deployment(d, dir.path(), &[]);
    assert!(code == 0 || code == 1, "verify exit {code}: {stderr}");
    assert!(report["summary"]["error"] == 0, "{report:#}");
    // A marker command from the test itself ends the recording.
    let mut marker = Command::new("redis-cli");
    marker.args(["-h", "127.0.0.1", "-p", &port]);
    if let (Some(u), Some(p)) = (user, admin_password) {
        marker.args(["--user", u]).env("REDISCLI_AUTH", p);
    }
    marker.args(["ECHO", "end-of-verify-run"]).output().unwrap();

    let mut lines = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(10)) {
        if line.contains("end-of-verify-run") {
            break;
        }
        lines.push(line);
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = reader.join();

    let mut violations = Vec::new();
    let mut in_multi = std::collections::HashSet::new();
    for line in &lines {
        let Some((client, args)) = parse_monitor_line(line) else {
            continue;
        };
        let name = command_name(&args);
        if in_multi.contains(&client) {
            match name.as_str() {
                "DISCARD" => {
                    in_multi.remove(&client);
                }
                "EXEC" => violations.push(format!("EXEC after a probe: {line}")),
                // Queued probes may be shown; they never run.
                _ => {}
            }
            continue;
        }
        if name == "MULTI" {
            in_multi.insert(client);
            continue;
        }
        if !ALLOWED.contains(&name.as_str()) {
            violations.push(format!("not allow-listed: {line}"));
        }
        if matches!(name.as_str(), "SET" | "GET" | "DEL")
            && !args.get(1).is_some_and(|k| k.starts_with("__verify:"))
        {
            violations.push(format!("key outside the run prefix: {line}"));
        }
    }
    (violations, lines.len())
}

#[test]
fn monitor_shows_only_allowed_commands_on_hardened_deployment() {
    let rt = runtime();
    let d = launch(&rt, Profile::Hardened, Launcher::Process);
    let admin = d.credentials.as_ref().unwrap().admin.expose().to_owned();
    let (violations, seen) = monitored_run(&d, Some(&admin), Some("admin"));
    assert!(seen > 10, "MONITOR recorded only {seen} commands");
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn monitor_shows_only_allowed_commands_on_weak_deployment() {
    // The weak server is probed with MULTI/DISCARD (its default user is the
    // application user): the dangerous commands are queued, never executed.
    let rt = runtime();
    let d = launch(&rt, Profile::Weak, Launcher::Process);
    let (violations, seen) = monitored_run(&d, None, None);
    assert!(seen > 10, "MONITOR recorded only {seen} commands");
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn monitor_parser_flags_a_destructive_command() {
    // The safety test itself must be able to fail.
    let (client, args) =
        parse_monitor_line(r#"1700000000.1 [0 127.0.0.1:5555] "FLUSHALL""#).unwrap();
    assert_eq!(client, "127.0.0.1:5555");
    assert!(!ALLOWED.contains(&command_name(&args).as_str()));
    let (_, args) =
        parse_monitor_line(r#"1.0 [0 127.0.0.1:1] "ACL" "DRYRUN" "app" "FLUSHALL""#).unwrap();
    assert_eq!(command_name(&args), "ACL DRYRUN");
}

fn keyspace(port: u16) -> Vec<String> {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "--scan"])
        .output()
        .unwrap();
    let mut keys: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    keys.sort();
    keys
}

#[test]
fn keyspace_is_left_as_found() {
    let rt = runtime();
    let d = launch(&rt, Profile::Weak, Launcher::Process);
    let port = d.target.port;
    for i in 0..50 {
        Command::new("redis-cli")
            .args(["-p", &port.to_string(), "SET", &format!("app:key:{i}"), "v"])
            .output()
            .unwrap();
    }
    let before = keyspace(port);
    assert_eq!(before.len(), 50);
    let dir = tempfile::tempdir().unwrap();
    let (code, report, _) = verify_deployment(&d, dir.path(), &[]);
    assert_eq!(code, 1);
    // The run wrote a probe key (conn.reachable's round-trip) and removed it.
    let reachable = &report["checks"][0];
    assert_eq!(reachable["id"], "conn.reachable");
    assert!(reachable["message"]
        .as_str()
        .unwrap()
        .contains("write round-trip ok"));
    assert_eq!(keyspace(port), before);
}
