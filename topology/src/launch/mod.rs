//! Ephemeral deployments built from the hardening policy, and control over
//! their nodes.
//!
//! Two launchers give the same [`Deployment`]: Docker (every node a
//! container on a network the launch creates; ports published on 127.0.0.1
//! only) and local processes (every node on its own 127.0.0.1 port in its
//! own temp dir). Both start the [`NodeSpec`]s rendered once by
//! [`crate::nodes`]; neither builds configuration itself. `REDIS_LAUNCHER`
//! (through [`LaunchOptions`]) picks one; `auto` prefers Docker.

mod cluster_init;
mod converge;
mod docker;
pub mod monitoring;
mod process;

use crate::address::{Addr, AddressMap};
use crate::client::{connect, ClientError};
use crate::credentials::Credentials;
use crate::nodes::{render_nodes, NodeSpec, Placement};
use crate::options::{LaunchOptions, LauncherChoice};
use crate::policy::RenderError;
use crate::service::{Service, ServiceKind};
use crate::spec::{InitialRole, NodePlan, Profile, Topology, MASTER_NAME};
use crate::target::{Target, TlsFiles};
use std::time::Duration;
use thiserror::Error;

pub use crate::options::DEFAULT_REDIS_IMAGE;

/// How nodes are run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Launcher {
    /// Containers through the Docker API.
    Docker,
    /// `redis-server` / `redis-sentinel` child processes.
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
    /// A launch setting is wrong.
    #[error(transparent)]
    Option(#[from] crate::options::OptionError),
    /// The topology spec cannot work.
    #[error("failed to launch: {0}")]
    Spec(String),
    /// A template could not be rendered.
    #[error(transparent)]
    Render(#[from] RenderError),
    /// Filesystem work in a temp dir failed.
    #[error("failed to prepare files for a node: {0}")]
    Io(#[from] std::io::Error),
    /// The Docker launcher failed.
    #[error("failed to run a Redis container: {0}")]
    Docker(String),
    /// A node process could not start or exited.
    #[error("failed to start a Redis process: {0}")]
    Process(String),
    /// The deployment did not reach its expected state in time.
    #[error("failed to see the deployment converge within {timeout:?}: {last}")]
    NotReady {
        /// The bound.
        timeout: Duration,
        /// What was last seen.
        last: String,
    },
    /// A node-control action is not possible in the current state.
    #[error("failed to {action}: {reason}")]
    Control {
        /// kill, stop, pause, resume, restart, isolate, heal.
        action: &'static str,
        /// Why not.
        reason: String,
    },
    /// The launcher cannot do this at all (e.g. isolation of processes).
    #[error("failed to {action}: the {launcher} launcher cannot do it ({reason})")]
    Unsupported {
        /// The action.
        action: &'static str,
        /// `docker` or `process`.
        launcher: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// No node has that id.
    #[error("failed to find node `{0}` in the deployment")]
    NoSuchNode(String),
}

/// Bound for a launched deployment to converge (nodes answer, replicas
/// linked, Sentinels agree, cluster slots covered).
pub const CONVERGE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a graceful stop may take before the node is killed: longer than
/// Redis's 10 s shutdown-timeout, so a stop is never a kill mid-shutdown.
pub const STOP_GRACE: Duration = Duration::from_secs(30);
/// Launch attempts when a node fails to start (a port taken meanwhile).
const START_ATTEMPTS: u32 = 3;
/// Bound for a restarted node to answer again.
const RESTART_TIMEOUT: Duration = Duration::from_secs(30);

enum Backend {
    Process(process::ProcessNode),
    Docker(Box<docker::ContainerNode>),
}

/// One node of a launched deployment.
pub struct Node {
    /// Stable id: `n1`, … for data nodes, `s1`, … for Sentinels.
    pub id: String,
    /// Role at launch (the current role may differ after a failover).
    pub role: InitialRole,
    /// The address peers know it by.
    pub announced: Addr,
    /// The address this host reaches it at.
    pub reachable: Addr,
    /// Cluster bus port (Cluster nodes).
    pub(crate) bus_port: u16,
    backend: Backend,
}

impl Node {
    /// Whether it runs Sentinel.
    pub fn is_sentinel(&self) -> bool {
        self.role == InitialRole::Sentinel
    }

    /// The container id (Docker) or the binary (processes), for reports.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Process(p) => p.binary(),
            Backend::Docker(c) => format!("container {} ({})", c.name(), c.short_id()),
        }
    }
}

/// A running deployment and control over its nodes.
pub struct Deployment {
    /// Its spec.
    pub topology: Topology,
    /// The profile it was launched with.
    pub profile: Profile,
    /// Admin access to the first data node (the primary at launch), kept for
    /// callers that address one server.
    pub target: Target,
    /// Role passwords, for the hardened profile.
    pub credentials: Option<Credentials>,
    launcher: Launcher,
    image: Option<String>,
    nodes: Vec<Node>,
    address_map: AddressMap,
    /// The client side of the TLS profile: the generated CA (and client
    /// certificate under `tls-auth-clients yes`), kept in `_tls_dir`.
    tls: Option<TlsFiles>,
    _tls_dir: Option<tempfile::TempDir>,
}

impl Deployment {
    /// Launches `topology` with `profile`, choosing the launcher from the
    /// options (`auto`: Docker when a daemon answers and the image is present
    /// or can be pulled, else local processes).
    pub async fn launch(
        topology: &Topology,
        profile: Profile,
        options: &LaunchOptions,
    ) -> Result<Self, LaunchError> {
        match options.launcher {
            LauncherChoice::Docker => {
                Self::launch_with(topology, profile, options, Launcher::Docker).await
            }
            LauncherChoice::Process => {
                Self::launch_with(topology, profile, options, Launcher::Process).await
            }
            LauncherChoice::Auto => {
                let docker_problem = match docker::usable(&options.redis_image, options.no_pull)
                    .await
                {
                    Ok(()) => match Self::launch_with(topology, profile, options, Launcher::Docker)
                        .await
                    {
                        Ok(d) => return Ok(d),
                        Err(e) => e.to_string(),
                    },
                    Err(reason) => reason,
                };
                if options.server_bin().is_some() {
                    Self::launch_with(topology, profile, options, Launcher::Process).await
                } else {
                    Err(LaunchError::NoLauncher {
                        docker: docker_problem,
                    })
                }
            }
        }
    }

    /// Launches with a given launcher and waits, bounded, until the
    /// deployment converges.
    pub async fn launch_with(
        topology: &Topology,
        profile: Profile,
        options: &LaunchOptions,
        launcher: Launcher,
    ) -> Result<Self, LaunchError> {
        topology.validate().map_err(LaunchError::Spec)?;
        if options.tls.is_some() && *topology != Topology::Standalone {
            return Err(LaunchError::Spec(format!(
                "the TLS profile (--tls) launches standalone deployments only for now, not {}; point --target at a rediss:// deployment to verify one",
                topology.kind()
            )));
        }
        // Free ports are found by binding and releasing them; another
        // process may take one before the node binds it. That shows up as a
        // start failure (never as a convergence failure) and is worth
        // another try with fresh ports.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match Self::launch_once(topology, profile, options, launcher).await {
                Err(e) if attempt < START_ATTEMPTS && lost_a_port(&e) => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                other => return other,
            }
        }
    }

    async fn launch_once(
        topology: &Topology,
        profile: Profile,
        options: &LaunchOptions,
        launcher: Launcher,
    ) -> Result<Self, LaunchError> {
        let credentials = (profile == Profile::Hardened).then(|| options.credentials.clone());
        let tls = options.tls.as_ref().map(TlsPlan::generate).transpose()?;
        let (nodes, address_map, image) = match launcher {
            Launcher::Process => (
                launch_processes(
                    topology,
                    profile,
                    credentials.as_ref(),
                    options,
                    tls.as_ref(),
                )
                .await?,
                AddressMap::new(),
                None,
            ),
            Launcher::Docker => {
                let map = AddressMap::new();
                let nodes = launch_containers(
                    topology,
                    profile,
                    credentials.as_ref(),
                    options,
                    &map,
                    tls.as_ref(),
                )
                .await?;
                (nodes, map, Some(options.redis_image.clone()))
            }
        };
        let (tls_files, tls_dir) = match tls {
            Some(plan) => (Some(plan.client), Some(plan.dir)),
            None => (None, None),
        };
        let first = &nodes[0];
        let target = admin_target(&first.reachable, credentials.as_ref(), tls_files.as_ref());
        let mut deployment = Self {
            topology: *topology,
            profile,
            target,
            credentials,
            launcher,
            image,
            nodes,
            address_map,
            tls: tls_files,
            _tls_dir: tls_dir,
        };
        if let Topology::Cluster { .. } = topology {
            cluster_init::create(&deployment, launcher).await?;
        }
        converge::wait(&deployment, CONVERGE_TIMEOUT).await?;
        // The cluster launcher's node addresses are final only now.
        deployment.target = admin_target(
            &deployment.nodes[0].reachable,
            deployment.credentials.as_ref(),
            deployment.tls.as_ref(),
        );
        Ok(deployment)
    }

    /// Which launcher runs it.
    pub fn launcher(&self) -> Launcher {
        self.launcher
    }

    /// A short description for reports: topology, launcher and image or binary.
    pub fn describe(&self) -> String {
        let how = match (&self.image, self.nodes.first()) {
            (Some(image), _) => format!("docker containers ({image})"),
            (None, Some(n)) => format!("local redis-server processes ({})", n.describe()),
            (None, None) => "nothing".into(),
        };
        format!(
            "{} {}{}, {how}",
            match self.profile {
                Profile::Hardened => "hardened",
                Profile::Weak => "weak",
            },
            self.topology,
            if self.tls.is_some() { " over TLS" } else { "" }
        )
    }

    /// Every node, data nodes first.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The data nodes.
    pub fn data_nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| !n.is_sentinel())
    }

    /// The Sentinels.
    pub fn sentinels(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().filter(|n| n.is_sentinel())
    }

    /// A node by id.
    pub fn node(&self, id: &str) -> Result<&Node, LaunchError> {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .ok_or_else(|| LaunchError::NoSuchNode(id.to_owned()))
    }

    fn node_mut(&mut self, id: &str) -> Result<&mut Node, LaunchError> {
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .ok_or_else(|| LaunchError::NoSuchNode(id.to_owned()))
    }

    /// The map from announced to reachable addresses (Docker: container
    /// names to 127.0.0.1).
    pub fn address_map(&self) -> &AddressMap {
        &self.address_map
    }

    /// Admin access to one node (data node or Sentinel: both have `admin`).
    pub fn node_target(&self, node: &Node) -> Target {
        admin_target(
            &node.reachable,
            self.credentials.as_ref(),
            self.tls.as_ref(),
        )
    }

    /// The CA (and client certificate) of a TLS launch, as `--tls-ca`,
    /// `--tls-cert` and `--tls-key` would name them; `None` without TLS.
    pub fn tls_files(&self) -> Option<&TlsFiles> {
        self.tls.as_ref()
    }

    /// The deployment as a client sees it, as admin: the server, the
    /// Sentinel-managed primary, or the cluster.
    pub fn service(&self) -> Service {
        let kind = match self.topology {
            Topology::Standalone => ServiceKind::Standalone,
            Topology::Sentinel { .. } => ServiceKind::Sentinel {
                sentinels: self.sentinels().map(|n| n.reachable.clone()).collect(),
                master: MASTER_NAME.to_owned(),
            },
            Topology::Cluster { .. } => ServiceKind::Cluster {
                seeds: self.data_nodes().map(|n| n.reachable.clone()).collect(),
            },
        };
        Service {
            kind,
            node: self.target.clone(),
            sentinel_user: None,
            sentinel_password: None,
            address_map: self.address_map.clone(),
        }
    }

    /// The application user's view (hardened profile only). Sentinels are
    /// asked as `app` too: sentinel.conf gives it discovery commands only.
    pub fn app_service(&self) -> Option<Service> {
        let c = self.credentials.as_ref()?;
        Some(
            self.service()
                .with_credentials(Some("app"), Some(c.app.clone())),
        )
    }

    /// The application user's target on the first data node (hardened only).
    pub fn app_target(&self) -> Option<Target> {
        self.credentials.as_ref().map(|c| {
            self.target
                .with_credentials(Some("app"), Some(c.app.clone()))
        })
    }

    /// The data node that is primary now (standalone: the node; Sentinel:
    /// the one a Sentinel names and whose ROLE agrees). Cluster deployments
    /// have one primary per shard: use [`Deployment::nodes`] and ROLE.
    pub async fn primary(&self) -> Result<&Node, LaunchError> {
        match self.topology {
            Topology::Standalone => Ok(&self.nodes[0]),
            Topology::Cluster { .. } => Err(LaunchError::Spec(
                "a cluster has one primary per shard; ask each node's ROLE".into(),
            )),
            Topology::Sentinel { .. } => {
                let timeouts = converge::probe_timeouts();
                let (addr, _) = crate::conn::resolve_primary(&self.service(), &timeouts)
                    .await
                    .map_err(|e| LaunchError::NotReady {
                        timeout: timeouts.connect + timeouts.response,
                        last: e.to_string(),
                    })?;
                self.nodes
                    .iter()
                    .find(|n| n.announced == addr)
                    .ok_or_else(|| {
                        LaunchError::Spec(format!(
                            "the sentinels name {addr}, which is not a node of this deployment"
                        ))
                    })
            }
        }
    }

    /// Waits, bounded, until the deployment is back in its launched shape
    /// (after a drill healed what it broke). Roles may have moved.
    pub async fn wait_converged(&self, bound: Duration) -> Result<(), LaunchError> {
        converge::wait(self, bound).await
    }

    /// Kills a node at once (SIGKILL / docker kill): a crash.
    pub async fn kill(&mut self, id: &str) -> Result<(), LaunchError> {
        match &mut self.node_mut(id)?.backend {
            Backend::Process(n) => n.kill(),
            Backend::Docker(n) => n.kill().await,
        }
    }

    /// Stops a node gracefully (SIGTERM: Redis saves and exits), killing it
    /// after [`STOP_GRACE`].
    pub async fn stop(&mut self, id: &str) -> Result<(), LaunchError> {
        match &mut self.node_mut(id)?.backend {
            Backend::Process(n) => n.stop().await,
            Backend::Docker(n) => n.stop().await,
        }
    }

    /// Freezes a node (SIGSTOP / docker pause): alive but silent.
    pub async fn pause(&mut self, id: &str) -> Result<(), LaunchError> {
        match &mut self.node_mut(id)?.backend {
            Backend::Process(n) => n.signal("STOP", "pause"),
            Backend::Docker(n) => n.pause().await,
        }
    }

    /// Thaws a paused node.
    pub async fn resume(&mut self, id: &str) -> Result<(), LaunchError> {
        match &mut self.node_mut(id)?.backend {
            Backend::Process(n) => n.signal("CONT", "resume"),
            Backend::Docker(n) => n.resume().await,
        }
    }

    /// Starts a stopped or killed node again with the same data directory
    /// and address, and waits until it answers.
    pub async fn restart(&mut self, id: &str) -> Result<(), LaunchError> {
        match &mut self.node_mut(id)?.backend {
            Backend::Process(n) => n.restart().await?,
            Backend::Docker(n) => n.restart().await?,
        }
        let target = self.node_target(self.node(id)?);
        converge::wait_ping(&target, RESTART_TIMEOUT).await
    }

    /// Cuts a node off from its peers (replicas, Sentinels, cluster bus)
    /// while clients on this host still reach it. Docker only.
    pub async fn isolate(&mut self, id: &str) -> Result<(), LaunchError> {
        match &mut self.node_mut(id)?.backend {
            Backend::Process(_) => Err(unsupported_isolation("isolate")),
            Backend::Docker(n) => n.isolate().await,
        }
    }

    /// Reconnects an isolated node to its peers. Docker only.
    pub async fn heal(&mut self, id: &str) -> Result<(), LaunchError> {
        match &mut self.node_mut(id)?.backend {
            Backend::Process(_) => Err(unsupported_isolation("heal")),
            Backend::Docker(n) => n.heal().await,
        }
    }
}

/// Whether a start failed because a port was taken between finding it free
/// and binding it (processes exit at start; Docker cannot publish).
fn lost_a_port(e: &LaunchError) -> bool {
    match e {
        LaunchError::Process(m) => m.contains("exited at start"),
        LaunchError::Docker(m) => {
            m.contains("port is already allocated") || m.contains("address already in use")
        }
        _ => false,
    }
}

fn unsupported_isolation(action: &'static str) -> LaunchError {
    LaunchError::Unsupported {
        action,
        launcher: "process",
        reason: "local processes share the loopback interface; cutting one off its peers needs the Docker launcher",
    }
}

fn admin_target(addr: &Addr, credentials: Option<&Credentials>, tls: Option<&TlsFiles>) -> Target {
    let mut target = match credentials {
        Some(c) => Target::new(
            addr.host.clone(),
            addr.port,
            Some("admin"),
            Some(c.admin.clone()),
        ),
        None => Target::new(addr.host.clone(), addr.port, None, None),
    };
    if let Some(files) = tls {
        target.tls = true;
        target.tls_files = files.clone();
    }
    target
}

/// The certificates of a TLS launch: generated into a temp dir of their
/// own (the client's copies), and handed to every data node as files.
struct TlsPlan {
    dir: tempfile::TempDir,
    client: TlsFiles,
    pem: crate::nodes::TlsPem,
    auth_clients: &'static str,
    plaintext_port: Option<u16>,
}

impl TlsPlan {
    fn generate(t: &crate::options::TlsLaunch) -> Result<Self, LaunchError> {
        let dir = tempfile::Builder::new().prefix("redis-tls-").tempdir()?;
        let spec = crate::tls::certs::CertSpec {
            valid_for: t.valid_for,
            ..Default::default()
        };
        let m = crate::tls::certs::generate(dir.path(), &spec)
            .map_err(|e| LaunchError::Spec(e.to_string()))?;
        let read = |p: &std::path::Path| std::fs::read_to_string(p);
        let pem = crate::nodes::TlsPem {
            ca: read(&m.ca)?,
            cert: read(&m.server_cert)?,
            key: read(&m.server_key)?,
        };
        let with_cert = t.auth_clients != "no";
        Ok(Self {
            client: TlsFiles {
                ca: Some(m.ca),
                cert: with_cert.then_some(m.client_cert),
                key: with_cert.then_some(m.client_key),
            },
            dir,
            pem,
            auth_clients: t.auth_clients,
            plaintext_port: t.plaintext_port,
        })
    }

    fn apply(&self, specs: &mut [NodeSpec]) -> Result<(), RenderError> {
        crate::nodes::add_tls(specs, &self.pem, self.auth_clients, self.plaintext_port)
    }
}

async fn launch_processes(
    topology: &Topology,
    profile: Profile,
    credentials: Option<&Credentials>,
    options: &LaunchOptions,
    tls: Option<&TlsPlan>,
) -> Result<Vec<Node>, LaunchError> {
    let server = options.server_bin().ok_or_else(|| {
        LaunchError::Process("redis-server is not on PATH (set REDIS_SERVER_BIN)".into())
    })?;
    let sentinel = options.sentinel_bin();
    let count = crate::spec::plan(topology, profile).len();
    let ports = process::free_ports(count * 2)?;
    let mut dirs = Vec::with_capacity(count);
    let mut index = 0;
    let specs = {
        let mut place = |plan: &NodePlan| -> Placement {
            let i = index;
            index += 1;
            let dir = process::node_dir(&plan.id);
            let path = dir
                .as_ref()
                .map(|d| d.path().display().to_string())
                .unwrap_or_default();
            dirs.push(dir);
            Placement {
                bind: "127.0.0.1".into(),
                port: ports[i],
                bus_port: ports[count + i],
                dir: path,
                announce_host: "127.0.0.1".into(),
            }
        };
        render_nodes(topology, profile, credentials, &mut place)?
    };
    let mut specs = specs;
    if let Some(t) = tls {
        t.apply(&mut specs)?;
    }
    let mut nodes = Vec::with_capacity(specs.len());
    for (spec, dir) in specs.iter().zip(dirs) {
        let node = process::ProcessNode::start(spec, dir?, &server, sentinel.as_deref()).await?;
        nodes.push(Node {
            id: spec.id.clone(),
            role: spec.role,
            announced: spec.announced(),
            reachable: spec.announced(),
            bus_port: spec.placement.bus_port,
            backend: Backend::Process(node),
        });
    }
    Ok(nodes)
}

async fn launch_containers(
    topology: &Topology,
    profile: Profile,
    credentials: Option<&Credentials>,
    options: &LaunchOptions,
    map: &AddressMap,
    tls: Option<&TlsPlan>,
) -> Result<Vec<Node>, LaunchError> {
    let name = docker::deployment_name();
    let count = crate::spec::plan(topology, profile).len();
    // The same number inside and outside, so name:port maps to 127.0.0.1:port.
    let ports = process::free_ports(count)?;
    let mut index = 0;
    let mut specs: Vec<NodeSpec> = render_nodes(topology, profile, credentials, &mut |plan| {
        let i = index;
        index += 1;
        Placement {
            // Inside its own network namespace the node listens on every
            // container interface; exposure is the published port's
            // (host loopback only) and the deployment network's.
            bind: "* -::*".into(),
            port: ports[i],
            bus_port: docker::BUS_PORT,
            dir: docker::DATA_DIR.into(),
            announce_host: format!("{name}-{}", plan.id),
        }
    })?;
    if let Some(t) = tls {
        t.apply(&mut specs)?;
    }
    let network = format!("{name}-net");
    // Containers start in parallel, data nodes before Sentinels: a Sentinel
    // resolves the primary's name when it reads its config.
    let mut started: Vec<(usize, docker::ContainerNode)> = Vec::with_capacity(specs.len());
    for sentinels in [false, true] {
        let batch = specs
            .iter()
            .enumerate()
            .filter(|(_, s)| (s.role == InitialRole::Sentinel) == sentinels)
            .map(|(i, spec)| {
                let image = options.redis_image.clone();
                let network = network.clone();
                async move {
                    let name = spec.placement.announce_host.clone();
                    docker::ContainerNode::start(&image, spec, &name, &network)
                        .await
                        .map(|n| (i, n))
                }
            });
        // Every start is awaited, so a failure leaves no container behind
        // unowned (the successful ones drop, and are removed, with the error).
        for result in futures_util::future::join_all(batch).await {
            started.push(result?);
        }
    }
    started.sort_by_key(|(i, _)| *i);
    let mut nodes = Vec::with_capacity(specs.len());
    for ((_, node), spec) in started.into_iter().zip(&specs) {
        map.insert_host(&spec.placement.announce_host, "127.0.0.1");
        nodes.push(Node {
            id: spec.id.clone(),
            role: spec.role,
            announced: spec.announced(),
            reachable: Addr::new("127.0.0.1", spec.placement.port),
            bus_port: spec.placement.bus_port,
            backend: Backend::Docker(Box::new(node)),
        });
    }
    Ok(nodes)
}

/// A node's IP on the deployment network (cluster creation needs IPs).
async fn peer_ip(node: &Node) -> Result<String, LaunchError> {
    match &node.backend {
        Backend::Process(_) => Ok(node.announced.host.clone()),
        Backend::Docker(c) => c.peer_ip().await,
    }
}

/// A bounded connection for launch-time probes.
async fn probe(target: &Target) -> Result<redis::aio::MultiplexedConnection, ClientError> {
    connect(target, &converge::probe_timeouts()).await
}
