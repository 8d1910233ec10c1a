//! Nodes as local `redis-server` / `redis-sentinel` processes, each on its
//! own 127.0.0.1 port (and cluster bus port) in its own temp dir.

use super::LaunchError;
use crate::nodes::{NodeSpec, Program};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;

/// Free loopback ports, all held open together so one call never returns
/// the same port twice. Another process could still take one before the
/// node binds it; the launch notices (the node exits) and says so.
pub(super) fn free_ports(n: usize) -> std::io::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect()
}

/// One temp dir per node, created before rendering (the config names it).
pub(super) fn node_dir(id: &str) -> std::io::Result<TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("redis-{id}-"))
        .tempdir()
}

pub(super) struct ProcessNode {
    dir: TempDir,
    bin: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

impl ProcessNode {
    /// Writes the node's files into `dir` and starts it.
    pub(super) async fn start(
        spec: &NodeSpec,
        dir: TempDir,
        server: &Path,
        sentinel: Option<&Path>,
    ) -> Result<Self, LaunchError> {
        for (name, text) in &spec.files {
            write_private(&dir.path().join(name), text)?;
        }
        let config = dir.path().join(spec.config_name).display().to_string();
        let (bin, args) = match (spec.program, sentinel) {
            (Program::Server, _) => (server.to_owned(), vec![config]),
            (Program::Sentinel, Some(s)) => (s.to_owned(), vec![config]),
            // redis-sentinel is redis-server under another name.
            (Program::Sentinel, None) => (server.to_owned(), vec![config, "--sentinel".into()]),
        };
        let mut node = Self {
            dir,
            bin,
            args,
            child: None,
        };
        node.spawn()?;
        // A port race or a config the binary rejects shows up as an exit.
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(Ok(Some(status))) = node.child.as_mut().map(Child::try_wait) {
            node.child = None;
            return Err(LaunchError::Process(format!(
                "{} exited at start ({status}): {}",
                spec.id,
                node.log_tail()
            )));
        }
        Ok(node)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    /// The last lines of the node's log, for errors.
    pub(super) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(3).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
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

    pub(super) fn binary(&self) -> String {
        self.bin.display().to_string()
    }

    fn pid(&self, action: &'static str) -> Result<u32, LaunchError> {
        self.child
            .as_ref()
            .map(Child::id)
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
        // Redis saves on SIGTERM and may take up to its shutdown-timeout
        // (10 s) waiting for replicas; give it longer, then kill.
        let deadline = tokio::time::Instant::now() + super::STOP_GRACE;
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

/// Writes a file readable by its owner only: it holds password hashes and,
/// for replicas and Sentinels, clear-text secrets.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
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
