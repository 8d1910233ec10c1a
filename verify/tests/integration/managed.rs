//! A managed-service fixture: a real redis-server built from the policy
//! that blocks CONFIG, DEBUG and MODULE the way ElastiCache does (the
//! commands are gone: `ERR unknown command`, here by rename-command) and
//! denies ACL GETUSER to the verifier's user by an ACL rule. The full suite
//! runs with no `error` and exits 0; what was blocked is a skip that says so.

use super::common::*;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use topology::policy::{render_redis_conf, render_users_acl, ServerParams};
use topology::Credentials;

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn managed_service_fixture_runs_the_full_suite_without_errors() {
    let dir = tempfile::tempdir().unwrap();
    let creds = Credentials::generate();
    let port = free_port();
    let acl = dir.path().join("users.acl");
    // The verifier's user may not read other users' rules, as on services
    // that manage users through their own API.
    let users = render_users_acl(&creds)
        .unwrap()
        .replace("user admin on", "user admin on -acl|getuser");
    std::fs::write(&acl, users).unwrap();
    let mut conf = render_redis_conf(&ServerParams {
        bind: "127.0.0.1".into(),
        port,
        dir: dir.path().display().to_string(),
        aclfile: acl.display().to_string(),
        maxmemory: "64mb".into(),
    })
    .unwrap();
    conf.push_str(
        "rename-command CONFIG \"\"\nrename-command DEBUG \"\"\nrename-command MODULE \"\"\n",
    );
    let conf_path = dir.path().join("redis.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let server = Server(
        Command::new("redis-server")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on PATH"),
    );
    assert!(
        wait_until(Duration::from_secs(10), || std::net::TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_ok()),
        "fixture did not start"
    );

    let pw = password_file(dir.path(), &creds.admin)
        .display()
        .to_string();
    let url = format!("redis://127.0.0.1:{port}");
    let (code, report, stderr) =
        run_json(&["--target", &url, "--user", "admin", "--password-file", &pw]);
    drop(server);
    let errors: Vec<String> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "error")
        .map(|c| format!("{}: {}", c["id"], c["message"]))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(code, 0, "{stderr} {report:#}");
    let blocked = report["summary"]["skip_provider"].as_u64().unwrap();
    assert!(blocked > 0, "{report:#}");
    let protected = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "config.protected-configs")
        .unwrap();
    assert_eq!(protected["status"], "skip");
    assert!(
        protected["message"]
            .as_str()
            .unwrap()
            .contains("CONFIG GET enable-protected-configs is not available here"),
        "{protected:#}"
    );
}
