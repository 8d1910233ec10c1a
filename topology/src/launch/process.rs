//! Local `redis-server` processes in a temp dir, on a free 127.0.0.1 port.

use super::{stock_weak_args, LaunchError, Profile, LAUNCHED_MAXMEMORY};
use crate::credentials::Credentials;
use crate::policy::{render_redis_conf, render_users_acl, ServerParams};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;

/// The `redis-server` binary: `REDIS_SERVER_BIN`, else the first on PATH.
pub(super) fn redis_server_bin() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("REDIS_SERVER_BIN").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("redis-server"))
        .find(|p| p.is_file())
}

/// Asks the kernel for a free loopback port. Another process could take it
/// before redis-server binds; `start` retries on that.
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub(super) struct ProcessNode {
    dir: TempDir,
    bin: PathBuf,
    port: u16,
    args: Vec<String>,
    child: Option<Child>,
}

impl ProcessNode {
    pub(super) async fn start(
        profile: Profile,
        credentials: Option<&Credentials>,
    ) -> Result<Self, LaunchError> {
        let bin = redis_server_bin()
            .ok_or_else(|| LaunchError::Process("redis-server is not on PATH".into()))?;
        let mut dir = tempfile::Builder::new().prefix("redis-node-").tempdir()?;
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port()?;
            let args = match (profile, credentials) {
                (Profile::Hardened, Some(c)) => hardened_args(&dir, port, c)?,
                _ => {
                    let mut a = vec![
                        "--port".to_owned(),
                        port.to_string(),
                        // Stock Redis binds every interface; tests here must
                        // stay on loopback, so only the bind differs.
                        "--bind".to_owned(),
                        "127.0.0.1".to_owned(),
                        "--dir".to_owned(),
                        dir.path().display().to_string(),
                    ];
                    a.extend(stock_weak_args());
                    a
                }
            };
            let mut node = Self {
                dir,
                bin: bin.clone(),
                port,
                args,
                child: None,
            };
            node.spawn()?;
            // A port race shows up as an early exit; anything else is fatal.
            tokio::time::sleep(Duration::from_millis(150)).await;
            match node.child.as_mut().map(Child::try_wait) {
                Some(Ok(Some(status))) => {
                    last = format!(
                        "redis-server exited at start ({status}); see {}",
                        node.log_path().display()
                    );
                    last.push_str(&format!(": {}", node.log_tail()));
                    node.child = None;
                    dir = std::mem::replace(&mut node.dir, tempfile::tempdir()?);
                    continue;
                }
                _ => return Ok(node),
            }
        }
        Err(LaunchError::Process(last))
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        text.lines().rev().take(3).collect::<Vec<_>>().join(" | ")
    }

    fn spawn(&mut self) -> Result<(), LaunchError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let child = Command::new(&self.bin)
            .args(&self.args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| LaunchError::Process(format!("{}: {e}", self.bin.display())))?;
        self.child = Some(child);
        Ok(())
    }

    pub(super) fn port(&self) -> u16 {
        self.port
    }

    pub(super) fn binary(&self) -> String {
        self.bin.display().to_string()
    }

    fn pid(&self, action: &'static str) -> Result<i32, LaunchError> {
        self.child
            .as_ref()
            .and_then(|c| i32::try_from(c.id()).ok())
            .ok_or(LaunchError::Control {
                action,
                reason: "the node is not running".into(),
            })
    }

    pub(super) fn signal(&mut self, signal: &str, action: &'static str) -> Result<(), LaunchError> {
        let pid = self.pid(action)?;
        // `unsafe` is forbidden in this workspace, so signals go through the
        // `kill` utility rather than libc::kill.
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .map_err(|e| LaunchError::Control {
                action,
                reason: e.to_string(),
            })?;
        if status.success() {
            Ok(())
        } else {
            Err(LaunchError::Control {
                action,
                reason: format!("kill -{signal} {pid} failed"),
            })
        }
    }

    pub(super) fn kill(&mut self) -> Result<(), LaunchError> {
        let mut child = self.child.take().ok_or(LaunchError::Control {
            action: "kill",
            reason: "the node is not running".into(),
        })?;
        // A stopped (paused) process still dies on SIGKILL.
        child.kill().map_err(|e| LaunchError::Control {
            action: "kill",
            reason: e.to_string(),
        })?;
        let _ = child.wait();
        Ok(())
    }

    pub(super) async fn stop(&mut self) -> Result<(), LaunchError> {
        self.signal("TERM", "stop")?;
        // Redis saves on SIGTERM; give it a bounded time, then kill.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::time::Instant::now() < deadline {
            if let Some(Ok(Some(_))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.kill()
    }

    pub(super) async fn restart(&mut self) -> Result<(), LaunchError> {
        if self.child.is_some() {
            self.stop().await?;
        }
        self.spawn()
    }
}

impl Drop for ProcessNode {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn hardened_args(
    dir: &TempDir,
    port: u16,
    credentials: &Credentials,
) -> Result<Vec<String>, LaunchError> {
    let acl_path = dir.path().join("users.acl");
    let conf_path = dir.path().join("redis.conf");
    let conf = render_redis_conf(&ServerParams {
        bind: "127.0.0.1 -::1".into(),
        port,
        dir: dir.path().display().to_string(),
        aclfile: acl_path.display().to_string(),
        maxmemory: LAUNCHED_MAXMEMORY.into(),
    })?;
    write_private(&acl_path, &render_users_acl(credentials)?)?;
    write_private(&conf_path, &conf)?;
    Ok(vec![conf_path.display().to_string()])
}

/// Writes a file readable by its owner only: it holds password hashes.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}
