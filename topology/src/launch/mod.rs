//! Ephemeral deployments built from the hardening policy.
//!
//! Two launchers give the same [`Deployment`]: Docker through testcontainers
//! (primary; image configurable with `REDIS_IMAGE`) and local `redis-server`
//! processes in a temp dir (fallback when no Docker daemon answers, and for
//! machines without Docker). `REDIS_LAUNCHER=docker|process|auto` forces one.

mod docker;
mod process;

use crate::client::{connect, ClientError, Timeouts};
use crate::credentials::Credentials;
use crate::policy::RenderError;
use crate::target::Target;
use std::time::Duration;
use thiserror::Error;

/// Official image used when `REDIS_IMAGE` is not set.
pub const DEFAULT_REDIS_IMAGE: &str = "redis:7.4";

/// What to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Topology {
    /// One server.
    Standalone,
}

/// Which configuration the nodes get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// `redis-conf/` rendered with fresh credentials: the project's policy.
    Hardened,
    /// Stock defaults made deliberately weak (no auth, protected-mode off,
    /// no persistence, DEBUG/MODULE and protected configs on, `allkeys-lru`,
    /// no maxmemory, slow log and keepalive off): what every check must catch.
    Stock,
}

/// How nodes are run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Launcher {
    /// Containers through the Docker API.
    Docker,
    /// `redis-server` child processes.
    Process,
}

/// Errors while launching or controlling a deployment.
#[derive(Debug, Error)]
pub enum LaunchError {
    /// Neither launcher can run here.
    #[error("failed to find a way to launch Redis: no Docker daemon answered ({docker}) and `redis-server` is not on PATH; start Docker (the image is set by REDIS_IMAGE, default {DEFAULT_REDIS_IMAGE}) or install redis-server (e.g. `apt-get install redis-server`)")]
    NoLauncher {
        /// Why Docker was not usable.
        docker: String,
    },
    /// `REDIS_LAUNCHER` has an unknown value.
    #[error("failed to read REDIS_LAUNCHER: `{0}` is not docker, process or auto")]
    BadLauncherSetting(String),
    /// A template could not be rendered.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// Filesystem work in the temp dir failed.
    #[error("failed to prepare files for redis-server: {0}")]
    Io(#[from] std::io::Error),
    /// The Docker launcher failed.
    #[error("failed to run the Redis container: {0}")]
    Docker(String),
    /// The server process could not start or exited.
    #[error("failed to start redis-server: {0}")]
    Process(String),
    /// The server did not answer PING in time.
    #[error("failed to reach the launched server within {timeout:?}: {last}")]
    NotReady {
        /// The bound.
        timeout: Duration,
        /// The last connection error.
        last: String,
    },
    /// A node-control action is not possible in the current state.
    #[error("failed to {action}: {reason}")]
    Control {
        /// kill, stop, pause, resume, restart.
        action: &'static str,
        /// Why not.
        reason: String,
    },
}

enum Backend {
    Process(process::ProcessNode),
    Docker(Box<docker::ContainerNode>),
}

/// A running deployment and control over its node.
pub struct Deployment {
    /// Admin access to the deployment (or the default user for `Stock`).
    pub target: Target,
    /// Role passwords, for the hardened profile.
    pub credentials: Option<Credentials>,
    /// The profile it was launched with.
    pub profile: Profile,
    backend: Backend,
}

/// How long a launched server may take to answer PING.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

impl Deployment {
    /// Launches `topology` with `profile`, choosing the launcher from
    /// `REDIS_LAUNCHER` (default `auto`: Docker when a daemon answers and the
    /// image is present or can be pulled, else local processes).
    pub async fn launch(topology: &Topology, profile: Profile) -> Result<Self, LaunchError> {
        let choice = std::env::var("REDIS_LAUNCHER").unwrap_or_else(|_| "auto".to_owned());
        match choice.as_str() {
            "docker" => Self::launch_with(topology, profile, Launcher::Docker).await,
            "process" => Self::launch_with(topology, profile, Launcher::Process).await,
            "auto" | "" => {
                let docker_problem = match docker::usable(&redis_image()).await {
                    Ok(()) => match Self::launch_with(topology, profile, Launcher::Docker).await {
                        Ok(d) => return Ok(d),
                        Err(e) => e.to_string(),
                    },
                    Err(reason) => reason,
                };
                if process::redis_server_bin().is_some() {
                    Self::launch_with(topology, profile, Launcher::Process).await
                } else {
                    Err(LaunchError::NoLauncher {
                        docker: docker_problem,
                    })
                }
            }
            other => Err(LaunchError::BadLauncherSetting(other.to_owned())),
        }
    }

    /// Launches with a given launcher.
    pub async fn launch_with(
        topology: &Topology,
        profile: Profile,
        launcher: Launcher,
    ) -> Result<Self, LaunchError> {
        let Topology::Standalone = topology;
        let credentials = (profile == Profile::Hardened).then(Credentials::from_env_or_generate);
        let (backend, target) = match launcher {
            Launcher::Process => {
                let node = process::ProcessNode::start(profile, credentials.as_ref()).await?;
                let t = admin_target("127.0.0.1", node.port(), credentials.as_ref());
                (Backend::Process(node), t)
            }
            Launcher::Docker => {
                let node =
                    docker::ContainerNode::start(&redis_image(), profile, credentials.as_ref())
                        .await?;
                let t = admin_target("127.0.0.1", node.port(), credentials.as_ref());
                (Backend::Docker(Box::new(node)), t)
            }
        };
        let deployment = Self {
            target,
            credentials,
            profile,
            backend,
        };
        deployment.wait_ready(READY_TIMEOUT).await?;
        Ok(deployment)
    }

    /// Which launcher runs it.
    pub fn launcher(&self) -> Launcher {
        match self.backend {
            Backend::Process(_) => Launcher::Process,
            Backend::Docker(_) => Launcher::Docker,
        }
    }

    /// A short description for reports: launcher and image or binary.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Process(n) => format!("local redis-server process ({})", n.binary()),
            Backend::Docker(n) => format!("docker container {} ({})", n.short_id(), n.image()),
        }
    }

    /// The application user's target (hardened profile only).
    pub fn app_target(&self) -> Option<Target> {
        self.credentials.as_ref().map(|c| {
            self.target
                .with_credentials(Some("app"), Some(c.app.clone()))
        })
    }

    /// Waits, bounded, until the server answers PING as admin.
    pub async fn wait_ready(&self, bound: Duration) -> Result<(), LaunchError> {
        let deadline = tokio::time::Instant::now() + bound;
        let timeouts = Timeouts {
            connect: Duration::from_secs(1),
            response: Duration::from_secs(2),
        };
        loop {
            let last: ClientError = match connect(&self.target, &timeouts).await {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(LaunchError::NotReady {
                    timeout: bound,
                    last: last.to_string(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Kills the node at once (SIGKILL / docker kill): a crash.
    pub async fn kill(&mut self) -> Result<(), LaunchError> {
        match &mut self.backend {
            Backend::Process(n) => n.kill(),
            Backend::Docker(n) => n.kill().await,
        }
    }

    /// Stops the node gracefully (SIGTERM: Redis saves and exits).
    pub async fn stop(&mut self) -> Result<(), LaunchError> {
        match &mut self.backend {
            Backend::Process(n) => n.stop().await,
            Backend::Docker(n) => n.stop().await,
        }
    }

    /// Freezes the node (SIGSTOP / docker pause): alive but silent.
    pub async fn pause(&mut self) -> Result<(), LaunchError> {
        match &mut self.backend {
            Backend::Process(n) => n.signal("STOP", "pause"),
            Backend::Docker(n) => n.pause().await,
        }
    }

    /// Thaws a paused node.
    pub async fn resume(&mut self) -> Result<(), LaunchError> {
        match &mut self.backend {
            Backend::Process(n) => n.signal("CONT", "resume"),
            Backend::Docker(n) => n.resume().await,
        }
    }

    /// Starts a stopped or killed node again with the same data directory
    /// and waits until it answers.
    pub async fn restart(&mut self) -> Result<(), LaunchError> {
        let port = match &mut self.backend {
            Backend::Process(n) => {
                n.restart().await?;
                n.port()
            }
            Backend::Docker(n) => {
                n.restart().await?;
                n.port()
            }
        };
        self.target.port = port;
        self.wait_ready(READY_TIMEOUT).await
    }
}

/// The image the Docker launcher runs (`REDIS_IMAGE`, else the official one).
pub fn redis_image() -> String {
    std::env::var("REDIS_IMAGE")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_REDIS_IMAGE.to_owned())
}

fn admin_target(host: &str, port: u16, credentials: Option<&Credentials>) -> Target {
    match credentials {
        Some(c) => Target::new(host, port, Some("admin"), Some(c.admin.clone())),
        None => Target::new(host, port, None, None),
    }
}

/// Arguments that turn stock defaults into the deliberately weak server.
/// Kept in one place so both launchers run the same weak configuration.
fn stock_weak_args() -> Vec<String> {
    [
        "--protected-mode",
        "no",
        "--appendonly",
        "no",
        "--save",
        "",
        "--enable-debug-command",
        "yes",
        "--enable-module-command",
        "yes",
        "--enable-protected-configs",
        "yes",
        "--maxmemory-policy",
        "allkeys-lru",
        "--slowlog-log-slower-than",
        "-1",
        "--tcp-keepalive",
        "0",
        "--latency-monitor-threshold",
        "0",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// `maxmemory` for launched hardened servers: small, because they are
/// ephemeral test deployments, and always below the host's memory.
const LAUNCHED_MAXMEMORY: &str = "256mb";
