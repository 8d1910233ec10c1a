//! The lean connection against a real redis-server process: the handshake
//! (ACL user and password, a wrong password, the database), MULTI/EXEC, a
//! Lua script through EVALSHA, a paused server (a timeout, never a hang),
//! and a restart (the old connection fails, a new one works). Each test
//! starts its own server on a free 127.0.0.1 port and stops it by PID.

#![expect(
    clippy::expect_used,
    reason = "tests fail loudly on any unexpected error"
)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use topology::wire::WireConnection;
use topology::{ClientError, Secret, Target, Timeouts};

const PASSWORD: &str = "wire-test-s3cret";

/// A redis-server on 127.0.0.1 with an ACL user `alice` and the default
/// user off; killed by PID on drop.
struct Server {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Self {
        let port = free_port();
        Self::start_on(port)
    }

    fn start_on(port: u16) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .args(["--user", "default", "off"])
            .args([
                "--user",
                "alice",
                "on",
                &format!(">{PASSWORD}"),
                "~*",
                "&*",
                "+@all",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on PATH");
        let server = Self {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    fn target(&self) -> Target {
        Target::new(
            "127.0.0.1",
            self.port,
            Some("alice"),
            Some(Secret::new(PASSWORD.to_owned())),
        )
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill {sig}");
    }

    fn stop(mut self) -> u16 {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.port
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn quick() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(1),
        response: Duration::from_millis(300),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn wire_handshake_authenticates_the_acl_user_and_selects_the_database() {
    let server = Server::start();
    runtime().block_on(async {
        let mut target = server.target();
        target.db = 3;
        let mut c = WireConnection::open(&target, &quick())
            .await
            .expect("alice connects");
        let who: String = redis::cmd("ACL")
            .arg("WHOAMI")
            .query_async(&mut c)
            .await
            .expect("whoami");
        assert_eq!(who, "alice");
        let info: String = redis::cmd("CLIENT")
            .arg("INFO")
            .query_async(&mut c)
            .await
            .expect("client info");
        assert!(info.contains(" db=3 "), "{info}");
        use redis::aio::ConnectionLike;
        assert_eq!(c.get_db(), 3);

        let mut wrong = server.target();
        wrong.password = Some(Secret::new("not-the-password".to_owned()));
        let e = WireConnection::open(&wrong, &quick())
            .await
            .err()
            .expect("a wrong password fails");
        assert!(matches!(e, ClientError::Auth { .. }), "{e}");
        assert!(!e.to_string().contains("not-the-password"), "{e}");

        // No credentials on a server whose default user is off: the
        // connection opens (strangers are tested this way) but commands fail.
        let mut anon = WireConnection::open(&server.target().anonymous(), &quick())
            .await
            .expect("anonymous connection opens");
        let e = redis::cmd("GET")
            .arg("k")
            .query_async::<Option<String>>(&mut anon)
            .await
            .expect_err("NOAUTH");
        assert_eq!(e.code(), Some("NOAUTH"), "{e}");
    });
}

#[test]
fn wire_multi_exec_pipelines_and_scripts_work_unchanged() {
    let server = Server::start();
    runtime().block_on(async {
        let mut c = WireConnection::open(&server.target(), &quick())
            .await
            .expect("connect");
        let (a, b): (i64, i64) = redis::pipe()
            .atomic()
            .cmd("INCR")
            .arg("wire:n")
            .cmd("INCRBY")
            .arg("wire:n")
            .arg(10)
            .query_async(&mut c)
            .await
            .expect("MULTI/EXEC");
        assert_eq!((a, b), (1, 11));

        // A command refused while queueing aborts the transaction.
        let e = redis::pipe()
            .atomic()
            .cmd("INCR")
            .arg("wire:n")
            .cmd("INCR")
            .query_async::<Vec<i64>>(&mut c)
            .await
            .expect_err("EXECABORT");
        assert!(e.to_string().to_lowercase().contains("wrong number"), "{e}");
        let n: i64 = redis::cmd("GET")
            .arg("wire:n")
            .query_async(&mut c)
            .await
            .expect("the connection still works");
        assert_eq!(n, 11, "the aborted transaction changed nothing");

        // A plain pipeline reads every reply and reports the failed one.
        let e = redis::pipe()
            .cmd("SET")
            .arg("wire:s")
            .arg("v")
            .cmd("INCR")
            .arg("wire:s")
            .cmd("GET")
            .arg("wire:s")
            .query_async::<redis::Value>(&mut c)
            .await
            .expect_err("INCR of a string fails");
        assert!(e.to_string().contains("not an integer"), "{e}");
        let v: String = redis::cmd("GET")
            .arg("wire:s")
            .query_async(&mut c)
            .await
            .expect("every pipeline reply was read: the next one lines up");
        assert_eq!(v, "v");

        // EVALSHA first (NOSCRIPT on a fresh server), then loaded.
        let script = redis::Script::new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
        for want in [16, 21] {
            let got: i64 = script
                .key("wire:n")
                .arg(5)
                .invoke_async(&mut c)
                .await
                .expect("script");
            assert_eq!(got, want);
        }
    });
}

#[test]
fn wire_a_paused_server_times_out_instead_of_hanging() {
    let server = Server::start();
    runtime().block_on(async {
        let mut c = WireConnection::open(&server.target(), &quick())
            .await
            .expect("connect");
        server.signal("-STOP");
        let started = Instant::now();
        let e = redis::cmd("PING")
            .query_async::<String>(&mut c)
            .await
            .expect_err("a paused server does not answer");
        let took = started.elapsed();
        server.signal("-CONT");
        assert!(e.is_timeout(), "{e}");
        assert!(took < Duration::from_secs(2), "took {took:?}");
        // The late PONG must never be taken for the next command's reply.
        let e = redis::cmd("GET")
            .arg("k")
            .query_async::<Option<String>>(&mut c)
            .await
            .expect_err("the timed-out connection is not reused");
        assert!(e.is_connection_dropped(), "{e}");
    });
}

#[test]
fn wire_a_restarted_server_fails_the_old_connection_and_takes_a_new_one() {
    let server = Server::start();
    let rt = runtime();
    let mut c = rt.block_on(async {
        WireConnection::open(&server.target(), &quick())
            .await
            .expect("connect")
    });
    let target = server.target();
    let port = server.stop();
    let server = Server::start_on(port);
    rt.block_on(async {
        let e = redis::cmd("PING")
            .query_async::<String>(&mut c)
            .await
            .expect_err("the old connection is gone");
        assert!(e.is_io_error() || e.is_connection_dropped(), "{e}");
        let mut fresh = WireConnection::open(&target, &quick())
            .await
            .expect("a new connection to the restarted server");
        let pong: String = redis::cmd("PING")
            .query_async(&mut fresh)
            .await
            .expect("ping");
        assert_eq!(pong, "PONG");
    });
    drop(server);
}
