//! Hostile and broken servers: each a small fake server on 127.0.0.1 that
//! answers the verifier's commands badly (a 1 GiB bulk string, one byte a
//! second, an INFO that never ends, a connection closed mid-reply, RESP3
//! where RESP2 was asked for). The verifier must end within its timeouts,
//! with exit 2 and one line, without a panic and without growing without
//! bound (the 1 GiB case runs under a 512 MiB data-segment limit).

use super::common::*;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The verifier's bounds in these tests: 1 s to connect, 2 s per reply.
const ARGS: &[&str] = &["--connect-timeout", "1", "--timeout", "2"];

/// Data-segment limit for the verifier (KiB, `ulimit -d`): a client that
/// buffered the 1 GiB reply would abort on allocation instead of exiting 2.
const DATA_LIMIT_KIB: u64 = 512 * 1024;

/// How a fake server misbehaves.
#[derive(Clone, Copy, Debug)]
enum Hostile {
    /// Every reply announces 1 GiB and streams zeros as fast as it can.
    HugeBulk,
    /// Every reply arrives one byte a second.
    Drip,
    /// PING is answered; every other command gets an INFO-like bulk string
    /// of 10 GB that keeps coming.
    EndlessInfo,
    /// Every reply stops half way and the connection is closed.
    CloseMidReply,
    /// Every reply is a RESP3 map, on a RESP2 connection.
    Resp3,
}

/// Complete commands at the front of `buf` (RESP arrays of bulk strings),
/// removed from it.
fn take_commands(buf: &mut Vec<u8>) -> Vec<Vec<String>> {
    fn line(b: &[u8], at: usize) -> Option<(&[u8], usize)> {
        let end = b[at..].windows(2).position(|w| w == b"\r\n")? + at;
        Some((&b[at..end], end + 2))
    }
    let mut out = Vec::new();
    loop {
        let parsed = (|| {
            let (head, mut at) = line(buf, 0)?;
            let n: usize = std::str::from_utf8(head.strip_prefix(b"*")?)
                .ok()?
                .parse()
                .ok()?;
            let mut args = Vec::new();
            for _ in 0..n {
                let (len, next) = line(buf, at)?;
                let len: usize = std::str::from_utf8(len.strip_prefix(b"$")?)
                    .ok()?
                    .parse()
                    .ok()?;
                if buf.len() < next + len + 2 {
                    return None;
                }
                args.push(String::from_utf8_lossy(&buf[next..next + len]).into_owned());
                at = next + len + 2;
            }
            Some((args, at))
        })();
        match parsed {
            Some((args, used)) => {
                buf.drain(..used);
                out.push(args);
            }
            None => return out,
        }
    }
}

async fn reply(
    kind: Hostile,
    command: &str,
    authed: bool,
    sock: &mut TcpStream,
) -> std::io::Result<()> {
    match kind {
        Hostile::HugeBulk => {
            sock.write_all(b"$1073741824\r\n").await?;
            let chunk = vec![0u8; 64 * 1024];
            for _ in 0..(1 << 14) {
                sock.write_all(&chunk).await?;
            }
            Ok(())
        }
        Hostile::Drip => {
            for b in b"+PONG\r\n" {
                sock.write_all(&[*b]).await?;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Ok(())
        }
        // Like a real server with a password: strangers are refused, so
        // the run's verdict rests on the replies that never end.
        Hostile::EndlessInfo if command.eq_ignore_ascii_case("AUTH") => {
            sock.write_all(b"+OK\r\n").await
        }
        Hostile::EndlessInfo if !authed => {
            sock.write_all(b"-NOAUTH Authentication required.\r\n")
                .await
        }
        Hostile::EndlessInfo if command.eq_ignore_ascii_case("PING") => {
            sock.write_all(b"+PONG\r\n").await
        }
        Hostile::EndlessInfo => {
            sock.write_all(b"$10000000000\r\n").await?;
            let section =
                b"# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n".repeat(1024);
            loop {
                sock.write_all(&section).await?;
            }
        }
        Hostile::CloseMidReply => {
            sock.write_all(b"$100\r\nredis_version:7.0").await?;
            sock.shutdown().await
        }
        Hostile::Resp3 => sock.write_all(b"%1\r\n+server\r\n+redis\r\n").await,
    }
}

async fn serve(listener: TcpListener, kind: Hostile) {
    while let Ok((mut sock, _)) = listener.accept().await {
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let mut authed = false;
            loop {
                let n = match sock.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                for cmd in take_commands(&mut buf) {
                    let name = cmd.first().cloned().unwrap_or_default();
                    authed |= name.eq_ignore_ascii_case("AUTH");
                    if reply(kind, &name, authed, &mut sock).await.is_err() {
                        return;
                    }
                }
            }
        });
    }
}

/// What one run against a fake server showed.
struct Run {
    code: Option<i32>,
    elapsed: Duration,
    stdout: String,
    stderr: String,
    /// Peak resident memory of the verifier (VmHWM), KiB, as last read.
    peak_rss_kib: u64,
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn against(kind: Hostile, extra: &[&str]) -> Run {
    let rt = runtime();
    let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).expect("bind");
    let port = listener.local_addr().unwrap().port();
    rt.spawn(serve(listener, kind));
    let target = format!("redis://127.0.0.1:{port}");
    let verify = env!("CARGO_BIN_EXE_verify");
    let mut args: Vec<&str> = vec!["--target", &target];
    args.extend(ARGS);
    args.extend(extra);
    // `ulimit -d` bounds the heap: a verifier that buffered 1 GiB would
    // die on allocation instead of exiting 2.
    let script = format!("ulimit -d {DATA_LIMIT_KIB} && exec \"$0\" \"$@\"");
    let started = Instant::now();
    let child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(verify)
        .args(&args)
        .env_remove("REDIS_PASSWORD")
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run verify");
    let pid = child.id();
    let mut peak = 0;
    let watcher = std::thread::spawn(move || {
        while let Some(kib) = vm_hwm_kib(pid) {
            peak = peak.max(kib);
            std::thread::sleep(Duration::from_millis(5));
        }
        peak
    });
    let out = child.wait_with_output().expect("wait for verify");
    let elapsed = started.elapsed();
    let peak_rss_kib = watcher.join().unwrap_or(0);
    rt.shutdown_background();
    Run {
        code: out.status.code(),
        elapsed,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        peak_rss_kib,
    }
}

/// Exit 2, one line on stderr, no panic, within `bound`.
fn assert_one_line_exit_2(kind: Hostile, run: &Run, bound: Duration, says: &str) {
    eprintln!(
        "{kind:?}: exit {:?} in {:?}, peak RSS {} KiB: {}",
        run.code,
        run.elapsed,
        run.peak_rss_kib,
        run.stderr.trim()
    );
    assert_eq!(run.code, Some(2), "{kind:?}: {}{}", run.stdout, run.stderr);
    assert!(run.elapsed < bound, "{kind:?} took {:?}", run.elapsed);
    assert_eq!(
        run.stderr.trim().lines().count(),
        1,
        "{kind:?}: {}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(
        run.stderr.contains(says),
        "{kind:?}: expected `{says}` in {}",
        run.stderr
    );
}

#[test]
fn a_1_gib_bulk_string_is_refused_at_the_reply_cap_in_bounded_memory() {
    let run = against(Hostile::HugeBulk, &[]);
    assert_one_line_exit_2(
        Hostile::HugeBulk,
        &run,
        Duration::from_secs(4),
        "larger than 64 MiB",
    );
    // The cap is 64 MiB; a growing buffer may hold twice that at worst.
    assert!(
        run.peak_rss_kib < 256 * 1024,
        "peak RSS {} KiB",
        run.peak_rss_kib
    );
}

#[test]
fn a_server_dripping_a_byte_a_second_is_cut_off_by_the_response_timeout() {
    let run = against(Hostile::Drip, &[]);
    assert_one_line_exit_2(Hostile::Drip, &run, Duration::from_secs(5), "within");
}

#[test]
fn an_endless_info_ends_the_run_with_errors_not_a_hang() {
    // PING works, so the checks run; each INFO hits the cap, the
    // connection ends, and every check that needs it is an error.
    let dir = tempfile::tempdir().unwrap();
    let pw = password_file(dir.path(), &topology::Secret::new("not-checked"));
    let pw = pw.display().to_string();
    let run = against(
        Hostile::EndlessInfo,
        &[
            "--user",
            "admin",
            "--password-file",
            &pw,
            "--format",
            "json",
        ],
    );
    eprintln!(
        "EndlessInfo: exit {:?} in {:?}, peak RSS {} KiB: {}",
        run.code,
        run.elapsed,
        run.peak_rss_kib,
        run.stderr.trim()
    );
    let failed: Vec<String> = serde_json::from_str::<serde_json::Value>(&run.stdout)
        .map(|r| {
            statuses(&r)
                .into_iter()
                .filter(|(_, s)| s == "fail")
                .map(|(id, _)| id)
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(run.code, Some(2), "failed: {failed:?}; {}", run.stderr);
    assert!(
        run.elapsed < Duration::from_secs(20),
        "took {:?}",
        run.elapsed
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    super::schema::assert_valid(super::schema::Schema::Report, &report);
    assert!(
        report["summary"]["error"].as_u64().unwrap() > 0,
        "{report:#}"
    );
    assert!(
        run.peak_rss_kib < 256 * 1024,
        "peak RSS {} KiB",
        run.peak_rss_kib
    );
}

#[test]
fn a_connection_closed_mid_reply_is_one_line() {
    let run = against(Hostile::CloseMidReply, &[]);
    assert_one_line_exit_2(
        Hostile::CloseMidReply,
        &run,
        Duration::from_secs(4),
        "failed to",
    );
}

#[test]
fn a_resp3_map_where_resp2_was_asked_is_one_line() {
    let run = against(Hostile::Resp3, &[]);
    assert_one_line_exit_2(Hostile::Resp3, &run, Duration::from_secs(4), "failed to");
}

#[test]
fn the_fake_server_parses_pipelined_commands() {
    let mut buf =
        b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n*1\r\n$3\r\nRO".to_vec();
    let cmds = take_commands(&mut buf);
    assert_eq!(
        cmds,
        vec![
            vec!["PING".to_owned()],
            vec!["INFO".into(), "server".into()]
        ]
    );
    assert_eq!(buf, b"*1\r\n$3\r\nRO");
}
