//! The verifier is safe to point at production: MONITOR records every
//! command of a full run and only allow-listed commands may appear outside
//! a discarded transaction; the keyspace is left as it was found.

use super::common::*;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;
use topology::{Deployment, Launcher, Profile};

/// Commands a run may execute. Anything else outside MULTI…DISCARD fails.
pub(super) const ALLOWED: &[&str] = &[
    "AUTH",
    "HELLO",
    "PING",
    "INFO",
    "CONFIG GET",
    "ACL WHOAMI",
    "ACL GETUSER",
    "ACL DRYRUN",
    "ACL LIST",
    // COMMAND LIST / COMMAND INFO: the server's command table.
    "COMMAND",
    // Sent only by a user probing itself, after INFO showed no shutdown in
    // progress: it only cancels one (acl.dangerous-commands).
    "SHUTDOWN ABORT",
    "MULTI",
    "DISCARD",
    "SET",
    "GET",
    "DEL",
];

/// Parses a MONITOR line: `<ts> [<db> <client>] "CMD" "arg" …`.
pub(super) fn parse_monitor_line(line: &str) -> Option<(String, Vec<String>)> {
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

/// `redis-cli MONITOR` as `admin` on 127.0.0.1:`port` (password through
/// REDISCLI_AUTH, never argv), its stdout piped for the caller to read.
pub(super) fn spawn_admin_monitor(port: u16, admin_password: &str) -> std::process::Child {
    Command::new("redis-cli")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "--user",
            "admin",
        ])
        .env("REDISCLI_AUTH", admin_password)
        .arg("monitor")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-cli monitor")
}

pub(super) fn command_name(args: &[String]) -> String {
    let first = args.first().map(|s| s.to_uppercase()).unwrap_or_default();
    match (first.as_str(), args.get(1)) {
        ("CONFIG" | "ACL" | "CLIENT" | "SHUTDOWN", Some(sub)) => {
            format!("{first} {}", sub.to_uppercase())
        }
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
    monitored_run_as(d, admin_password, user, None)
}

/// As [`monitored_run`], with verify logging in as `run_as` (user and
/// password) instead of the deployment's admin target.
fn monitored_run_as(
    d: &Deployment,
    admin_password: Option<&str>,
    user: Option<&str>,
    run_as: Option<(&str, &topology::Secret)>,
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
    let (code, report, stderr) = match run_as {
        None => verify_deployment(d, dir.path(), &[]),
        Some((u, secret)) => {
            let pw = password_file(dir.path(), secret).display().to_string();
            let url = format!("redis://{}", d.target.address());
            run_json(&["--target", &url, "--user", u, "--password-file", &pw])
        }
    };
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
fn monitor_shows_only_allowed_commands_when_run_as_the_app_user() {
    // The least-privilege path: the app probes itself with MULTI/DISCARD
    // over the server's whole dangerous table; nothing runs.
    let rt = runtime();
    let d = launch(&rt, Profile::Hardened, Launcher::Process);
    let creds = d.credentials.as_ref().unwrap();
    let admin = creds.admin.expose().to_owned();
    let (violations, seen) =
        monitored_run_as(&d, Some(&admin), Some("admin"), Some(("app", &creds.app)));
    assert!(seen > 50, "MONITOR recorded only {seen} commands");
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
    // SHUTDOWN ABORT is allowed; SHUTDOWN itself, in any other form, is not.
    let (_, args) = parse_monitor_line(r#"1.0 [0 127.0.0.1:1] "SHUTDOWN" "NOSAVE""#).unwrap();
    assert!(!ALLOWED.contains(&command_name(&args).as_str()));
    let (_, args) = parse_monitor_line(r#"1.0 [0 127.0.0.1:1] "SHUTDOWN""#).unwrap();
    assert!(!ALLOWED.contains(&command_name(&args).as_str()));
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

/// Commands a run may send to a Sentinel (from `INFO commandstats`, which
/// names subcommands). Peers' own traffic (PING, hello PUBLISH) is in the
/// list too; nothing that changes a Sentinel's state is.
const SENTINEL_ALLOWED: &[&str] = &[
    "auth",
    "hello",
    "ping",
    "info",
    "role",
    "publish",
    "subscribe",
    "client|setname",
    "acl|whoami",
    "command",
    "command|docs",
    "sentinel|get-master-addr-by-name",
    "sentinel|master",
    "sentinel|masters",
    "sentinel|replicas",
    "sentinel|slaves",
    "sentinel|sentinels",
    "sentinel|ckquorum",
    "sentinel|myid",
    "sentinel|info-cache",
    "sentinel|pending-scripts",
];

fn cli(port: u16, admin: &str, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "--user",
            "admin",
        ])
        .env("REDISCLI_AUTH", admin)
        .args(args)
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `cmdstat_<name>:calls=N,…` lines as a map.
fn command_calls(port: u16, admin: &str) -> std::collections::BTreeMap<String, u64> {
    cli(port, admin, &["INFO", "commandstats"])
        .lines()
        .filter_map(|l| {
            let (name, rest) = l.trim().strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest
                .split(',')
                .next()?
                .strip_prefix("calls=")?
                .parse()
                .ok()?;
            Some((name.to_owned(), calls))
        })
        .collect()
}

/// Every data node of a Sentinel deployment is MONITORed during a full run
/// and shows only allow-listed commands from the verifier (the Sentinels'
/// and replicas' own connections, open before the run, are told apart by
/// address); every Sentinel's command statistics show only read commands.
#[test]
fn every_node_of_a_sentinel_deployment_sees_only_allowed_commands() {
    let rt = runtime();
    let d = launch_topology(
        &rt,
        topology::Topology::SENTINEL,
        Profile::Hardened,
        Launcher::Process,
    );
    let admin = d.credentials.as_ref().unwrap().admin.expose().to_owned();
    let mut monitors = Vec::new();
    for node in d.data_nodes() {
        let port = node.reachable.port;
        // Connections that exist before the run are not the verifier's.
        let before: std::collections::HashSet<String> = cli(port, &admin, &["CLIENT", "LIST"])
            .lines()
            .filter_map(|l| {
                l.split_whitespace()
                    .find_map(|f| f.strip_prefix("addr="))
                    .map(str::to_owned)
            })
            .collect();
        let mut child = spawn_admin_monitor(port, &admin);
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10))
                .expect("MONITOR started"),
            "OK"
        );
        monitors.push((node.id.clone(), port, before, child, rx));
    }
    let sentinel_ports: Vec<u16> = d.sentinels().map(|s| s.reachable.port).collect();
    let stats_before: Vec<_> = sentinel_ports
        .iter()
        .map(|p| command_calls(*p, &admin))
        .collect();

    let dir = tempfile::tempdir().unwrap();
    let pw = password_file(dir.path(), &d.credentials.as_ref().unwrap().admin);
    let url = format!(
        "redis+sentinel://{}/mymaster",
        sentinel_ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let pw_s = pw.display().to_string();
    let (code, report, stderr) = run_json(&[
        "--target",
        &url,
        "--user",
        "admin",
        "--password-file",
        &pw_s,
    ]);
    assert_eq!(report["summary"]["error"], 0, "{report:#}");
    assert!(code == 0, "verify exit {code}: {stderr}");
    assert_eq!(report["topology"], "sentinel");

    let mut violations = Vec::new();
    let mut seen = 0;
    for (id, port, before, mut child, rx) in monitors {
        cli(port, &admin, &["ECHO", "end-of-verify-run"]);
        let mut in_multi = std::collections::HashSet::new();
        while let Ok(line) = rx.recv_timeout(Duration::from_secs(10)) {
            if line.contains("end-of-verify-run") {
                break;
            }
            let Some((client, args)) = parse_monitor_line(&line) else {
                continue;
            };
            if before.contains(&client) || client == "lua" {
                continue;
            }
            seen += 1;
            let name = command_name(&args);
            if in_multi.contains(&client) {
                match name.as_str() {
                    "DISCARD" => {
                        in_multi.remove(&client);
                    }
                    "EXEC" => violations.push(format!("{id}: EXEC after a probe: {line}")),
                    _ => {}
                }
                continue;
            }
            if name == "MULTI" {
                in_multi.insert(client);
            } else if !ALLOWED.contains(&name.as_str()) && name != "ROLE" && name != "CLUSTER NODES"
            {
                violations.push(format!("{id}: not allow-listed: {line}"));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    for (port, before) in sentinel_ports.iter().zip(stats_before) {
        for (name, calls) in command_calls(*port, &admin) {
            let new = calls - before.get(&name).copied().unwrap_or(0);
            if new > 0 && !SENTINEL_ALLOWED.contains(&name.as_str()) {
                violations.push(format!("sentinel {port}: {name} called {new} times"));
            }
        }
    }
    assert!(seen > 30, "MONITOR recorded only {seen} verifier commands");
    assert!(violations.is_empty(), "{violations:#?}");
}
