//! Bad input: one clear line on stderr, exit 2, no panic, no password.

use super::common::*;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::Command;
use std::time::{Duration, Instant};
use topology::{Launcher, Profile};

const SECRET: &str = "Sup3r-Secret-Value-42";

/// Runs verify with `args` and asserts exit 2 with exactly one stderr line
/// containing `expect`, no stdout report, no panic and no password.
fn assert_bad(args: &[&str], expect: &str) -> String {
    let out = verify_bin().args(args).output().expect("run verify");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let text = all_output(&out);
    assert_eq!(out.status.code(), Some(2), "args {args:?}: {text}");
    assert!(!text.contains("panicked"), "{text}");
    assert!(!text.contains(SECRET), "password leaked: {text}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {stderr}");
    assert!(
        lines[0].to_lowercase().contains(&expect.to_lowercase()),
        "`{}` does not mention `{expect}`",
        lines[0]
    );
    lines[0].to_owned()
}

#[test]
fn malformed_url() {
    assert_bad(&["--target", "redis://[::1"], "failed to parse target url");
}

#[test]
fn unknown_scheme() {
    assert_bad(
        &["--target", "http://127.0.0.1:6379"],
        "unsupported url scheme `http`",
    );
}

#[test]
fn nothing_listening() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    assert_bad(
        &["--target", &format!("redis://127.0.0.1:{port}")],
        "failed to connect",
    );
}

#[test]
fn silent_host_is_bounded_by_the_timeouts() {
    // Accepts TCP but never answers: a firewalled or frozen server.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let started = Instant::now();
    assert_bad(
        &[
            "--target",
            &format!("redis://127.0.0.1:{port}"),
            "--connect-timeout",
            "1",
            "--timeout",
            "1",
        ],
        "within",
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    drop(listener);
}

#[test]
fn wrong_password_and_wrong_user() {
    let rt = runtime();
    let d = launch(&rt, Profile::Hardened, Launcher::Process);
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, SECRET).unwrap();
    let url = format!("redis://{}", d.target.address());
    let pw_s = pw.display().to_string();
    assert_bad(
        &[
            "--target",
            &url,
            "--user",
            "admin",
            "--password-file",
            &pw_s,
        ],
        "wrong user or password",
    );
    let right = password_file(dir.path(), &d.credentials.as_ref().unwrap().admin);
    assert_bad(
        &[
            "--target",
            &url,
            "--user",
            "nobody",
            "--password-file",
            &right.display().to_string(),
        ],
        "failed to authenticate as `nobody`",
    );
    // A password inside the URL is never echoed either.
    assert_bad(
        &[
            "--target",
            &format!("redis://admin:{SECRET}@{}", d.target.address()),
        ],
        "wrong user or password",
    );
    // Nor one from the environment.
    let out = verify_bin()
        .env("REDIS_PASSWORD", SECRET)
        .args(["--target", &url, "--user", "admin"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!all_output(&out).contains(SECRET));
}

#[test]
fn http_server_on_the_port() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        // Answer up to a few connections like a web server, then stop.
        listener.set_nonblocking(false).unwrap();
        for stream in listener.incoming().take(3) {
            let Ok(mut s) = stream else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf);
            let _ = s.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    assert_bad(
        &[
            "--target",
            &format!("redis://127.0.0.1:{port}"),
            "--connect-timeout",
            "2",
            "--timeout",
            "2",
        ],
        "redis protocol",
    );
    drop(server);
}

#[test]
fn tls_to_a_plaintext_port() {
    let rt = runtime();
    let d = launch(&rt, Profile::Weak, Launcher::Process);
    assert_bad(
        &[
            "--target",
            &format!("rediss://{}", d.target.address()),
            "--connect-timeout",
            "2",
            "--timeout",
            "2",
        ],
        "tls",
    );
}

#[test]
fn server_still_loading_its_dataset() {
    // A real redis-server that loads a snapshot slowly (key-load-delay is a
    // test hook of redis-server: microseconds per key while loading).
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let d = dir.path().display().to_string();
    let base = [
        "--port",
        &port,
        "--bind",
        "127.0.0.1",
        "--dir",
        &d,
        "--save",
        "",
        "--appendonly",
        "no",
    ];
    let mut writer = Command::new("redis-server")
        .args(base)
        .args(["--enable-debug-command", "yes"])
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(10), || Command::new(
        "redis-cli"
    )
    .args(["-p", &port, "PING"])
    .output()
    .is_ok_and(|o| o.stdout.starts_with(b"PONG"))));
    let cli = |args: &[&str]| {
        Command::new("redis-cli")
            .args(["-p", &port])
            .args(args)
            .output()
            .unwrap()
    };
    cli(&["DEBUG", "POPULATE", "100000"]);
    cli(&["SAVE"]);
    cli(&["SHUTDOWN", "NOSAVE"]);
    let _ = writer.wait();
    let mut loader = Command::new("redis-server")
        .args(base)
        .args([
            "--key-load-delay",
            "200",
            "--loading-process-events-interval-bytes",
            "1024",
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || cli(&["PING"])
            .stdout
            .starts_with(b"LOADING")),
        "server never reported LOADING"
    );
    let result = std::panic::catch_unwind(|| {
        assert_bad(
            &["--target", &format!("redis://127.0.0.1:{port}")],
            "still loading",
        )
    });
    let _ = loader.kill();
    let _ = loader.wait();
    result.unwrap();
}

#[test]
fn invalid_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("verify.toml");
    std::fs::write(&cfg, "[severity]\n\"memory.nope\" = \"warn\"\n").unwrap();
    assert_bad(
        &[
            "--config",
            &cfg.display().to_string(),
            "--target",
            "redis://127.0.0.1:1",
        ],
        "unknown check id `memory.nope`",
    );
    std::fs::write(&cfg, "workload = \"queue\"\n").unwrap();
    assert_bad(
        &[
            "--config",
            &cfg.display().to_string(),
            "--target",
            "redis://127.0.0.1:1",
        ],
        "failed to parse config",
    );
}

#[test]
fn missing_password_file() {
    assert_bad(
        &[
            "--target",
            "redis://127.0.0.1:1",
            "--password-file",
            "/nonexistent/pw",
        ],
        "failed to read password file",
    );
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let out = verify_bin().args(["--no-such-flag"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = verify_bin().args(["--format", "yaml"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn list_prints_every_check() {
    let out = verify_bin().arg("list").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for c in verify::checks::REGISTRY {
        assert!(text.contains(c.meta().id), "{}", c.meta().id);
    }
}

#[test]
fn docs_page_is_generated_from_the_registry() {
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/checks.md"))
            .unwrap_or_default();
    assert_eq!(
        committed,
        verify::docs::markdown(verify::checks::REGISTRY),
        "docs/checks.md is stale: run `cargo run -p verify -- list --markdown -o docs/checks.md`"
    );
}
