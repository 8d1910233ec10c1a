//! Node control for drills: one [`Subject`] that every drill acts through,
//! whether the deployment was launched by this run ([`Deployment`]: the
//! launcher signals processes or drives containers) or already exists (the
//! user's `--node-control ACTION='cmd {node}'` commands, see
//! [`commands`](super::commands)).
//!
//! The subject also carries what the harness needs to know about the nodes
//! (ids, addresses, admin targets) and the convergence check that ends every
//! drill, so the drills never depend on how the deployment came to be.

use super::commands::{Action, Commands};
use super::DrillError;
use std::time::Duration;
use topology::{Addr, Deployment, LaunchError, Service, ServiceKind, Target, Timeouts, Topology};

/// One node as a drill sees it.
#[derive(Clone, Debug)]
pub struct DrillNode {
    /// Stable id: the launcher's (`n1`, `s1`) or the announced address.
    pub id: String,
    /// Whether it runs Sentinel.
    pub sentinel: bool,
    /// The address peers know it by.
    pub announced: Addr,
    /// The address this host reaches it at.
    pub reachable: Addr,
    /// Admin (or the user's) access to it.
    pub target: Target,
}

impl DrillNode {
    /// Whether it runs Sentinel (the [`topology::Node`] name).
    pub fn is_sentinel(&self) -> bool {
        self.sentinel
    }
}

/// How the nodes are controlled.
pub enum Control<'d> {
    /// A deployment this run launched.
    Launched(&'d mut Deployment),
    /// An existing deployment, through the user's commands.
    Commands(&'d mut Commands),
}

/// The deployment under drill and control over its nodes. Its methods are
/// named as [`Deployment`]'s, so a drill reads the same either way.
pub struct Subject<'d> {
    /// Its shape.
    pub topology: Topology,
    /// `cluster-node-timeout` in force while drilling (Cluster).
    pub cluster_node_timeout_ms: u64,
    nodes: Vec<DrillNode>,
    service: Service,
    control: Control<'d>,
}

impl<'d> Subject<'d> {
    /// A launched deployment.
    pub fn launched(d: &'d mut Deployment) -> Self {
        let nodes = launched_nodes(d);
        Self {
            topology: d.topology,
            cluster_node_timeout_ms: super::CLUSTER_NODE_TIMEOUT_MS,
            service: d.service(),
            nodes,
            control: Control::Launched(d),
        }
    }

    /// An existing deployment: its discovered nodes, the user's service and
    /// commands.
    pub fn existing(
        topology: Topology,
        service: Service,
        nodes: Vec<DrillNode>,
        cluster_node_timeout_ms: u64,
        commands: &'d mut Commands,
    ) -> Self {
        Self {
            topology,
            cluster_node_timeout_ms,
            nodes,
            service,
            control: Control::Commands(commands),
        }
    }

    /// The same subject, borrowed for one drill.
    pub fn reborrow(&mut self) -> Subject<'_> {
        Subject {
            topology: self.topology,
            cluster_node_timeout_ms: self.cluster_node_timeout_ms,
            nodes: self.nodes.clone(),
            service: self.service.clone(),
            control: match &mut self.control {
                Control::Launched(d) => Control::Launched(d),
                Control::Commands(c) => Control::Commands(c),
            },
        }
    }

    /// The launched deployment, if this run launched it.
    pub fn deployment(&self) -> Option<&Deployment> {
        match &self.control {
            Control::Launched(d) => Some(d),
            Control::Commands(_) => None,
        }
    }

    /// Whether this run launched it.
    pub fn is_launched(&self) -> bool {
        matches!(self.control, Control::Launched(_))
    }

    /// How a launched deployment runs its nodes; `None` for an existing one.
    pub fn launcher(&self) -> Option<topology::Launcher> {
        match &self.control {
            Control::Launched(d) => Some(d.launcher()),
            Control::Commands(_) => None,
        }
    }

    /// Whether `action` can be done: always on a launched deployment
    /// (isolation only with Docker, which the launcher itself reports),
    /// with a command for it on an existing one.
    pub fn supports(&self, action: Action) -> Result<(), DrillError> {
        match &self.control {
            Control::Launched(_) => Ok(()),
            Control::Commands(c) => c.supports(action),
        }
    }

    /// Every node, data nodes first.
    pub fn nodes(&self) -> &[DrillNode] {
        &self.nodes
    }

    /// The data nodes.
    pub fn data_nodes(&self) -> impl Iterator<Item = &DrillNode> {
        self.nodes.iter().filter(|n| !n.sentinel)
    }

    /// The Sentinels.
    pub fn sentinels(&self) -> impl Iterator<Item = &DrillNode> {
        self.nodes.iter().filter(|n| n.sentinel)
    }

    /// A node by id.
    pub fn node(&self, id: &str) -> Result<&DrillNode, DrillError> {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .ok_or_else(|| DrillError::Launch(LaunchError::NoSuchNode(id.to_owned())))
    }

    /// Access to one node (data node or Sentinel).
    pub fn node_target(&self, node: &DrillNode) -> Target {
        node.target.clone()
    }

    /// The deployment as a client sees it.
    pub fn service(&self) -> Service {
        self.service.clone()
    }

    /// The name the Sentinels monitor the primary by.
    pub fn master_name(&self) -> String {
        match &self.service.kind {
            ServiceKind::Sentinel { master, .. } => master.clone(),
            _ => topology::spec::MASTER_NAME.to_owned(),
        }
    }

    /// The data node that is primary now (not on a Cluster: one per shard).
    pub async fn primary(&self) -> Result<&DrillNode, DrillError> {
        match self.topology {
            Topology::Standalone => self
                .data_nodes()
                .next()
                .ok_or_else(|| DrillError::Other("find the server".into())),
            Topology::Cluster { .. } => Err(DrillError::Other(
                "name one primary of a cluster: it has one per shard".into(),
            )),
            Topology::Sentinel { .. } => {
                let (addr, _) = topology::conn::resolve_primary(&self.service, &probe())
                    .await
                    .map_err(|e| DrillError::Other(format!("find the primary: {e}")))?;
                self.data_nodes()
                    .find(|n| n.announced == addr)
                    .ok_or_else(|| {
                        DrillError::Other(format!(
                            "find the primary: the sentinels name {addr}, which discovery did not find"
                        ))
                    })
            }
        }
    }

    /// Waits, bounded, until the deployment is whole again: one primary
    /// per shard, every replica linked, every Sentinel naming the primary.
    pub async fn wait_converged(&self, bound: Duration) -> Result<(), DrillError> {
        match &self.control {
            Control::Launched(d) => Ok(d.wait_converged(bound).await?),
            Control::Commands(_) => super::converge::wait(self, bound).await,
        }
    }

    /// Crashes a node (SIGKILL / docker kill / `kill` command).
    pub async fn kill(&mut self, id: &str) -> Result<(), DrillError> {
        self.act(Action::Kill, id).await
    }

    /// Stops a node gracefully.
    pub async fn stop(&mut self, id: &str) -> Result<(), DrillError> {
        self.act(Action::Stop, id).await
    }

    /// Freezes a node.
    pub async fn pause(&mut self, id: &str) -> Result<(), DrillError> {
        self.act(Action::Pause, id).await
    }

    /// Thaws a paused node.
    pub async fn resume(&mut self, id: &str) -> Result<(), DrillError> {
        self.act(Action::Resume, id).await
    }

    /// Starts a stopped or killed node from its data and waits until it
    /// answers.
    pub async fn restart(&mut self, id: &str) -> Result<(), DrillError> {
        self.act(Action::Start, id).await?;
        let target = self.node(id)?.target.clone();
        super::converge::wait_ping(&target, RESTART).await?;
        if let Control::Commands(c) = &mut self.control {
            // A new process: {pid} and friends changed.
            let node = self.nodes.iter().find(|n| n.id == id).cloned();
            if let Some(n) = node {
                c.refresh(&n).await;
            }
        }
        Ok(())
    }

    /// Cuts a node off from its peers while clients still reach it.
    pub async fn isolate(&mut self, id: &str) -> Result<(), DrillError> {
        self.act(Action::Isolate, id).await
    }

    /// Reconnects an isolated node.
    pub async fn heal(&mut self, id: &str) -> Result<(), DrillError> {
        self.act(Action::Heal, id).await
    }

    /// Runs the user's `failover` command for the shard `id` serves, when
    /// one was given; `Ok(false)` otherwise (the drill then fails over
    /// through Redis itself).
    pub async fn failover_command(&mut self, id: &str) -> Result<bool, DrillError> {
        match &self.control {
            Control::Commands(c) if c.supports(Action::Failover).is_ok() => {
                self.act(Action::Failover, id).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn act(&mut self, action: Action, id: &str) -> Result<(), DrillError> {
        let node = self.node(id)?.clone();
        match &mut self.control {
            Control::Launched(d) => {
                let r = match action {
                    Action::Kill => d.kill(id).await,
                    Action::Stop => d.stop(id).await,
                    Action::Pause => d.pause(id).await,
                    Action::Resume => d.resume(id).await,
                    Action::Start => d.restart(id).await,
                    Action::Isolate => d.isolate(id).await,
                    Action::Heal => d.heal(id).await,
                    Action::Failover => {
                        return Err(DrillError::Unsupported(
                            "a launched deployment fails over through Redis".into(),
                        ))
                    }
                };
                match r {
                    Ok(()) => Ok(()),
                    Err(e @ LaunchError::Unsupported { .. }) => {
                        Err(DrillError::Unsupported(e.to_string()))
                    }
                    Err(e) => Err(e.into()),
                }
            }
            Control::Commands(c) => c.run(action, &node).await,
        }
    }
}

/// Bound for a started node to answer.
const RESTART: Duration = Duration::from_secs(30);

/// Timeouts of the subject's own probes.
pub fn probe() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(1),
        response: Duration::from_secs(2),
    }
}

fn launched_nodes(d: &Deployment) -> Vec<DrillNode> {
    d.nodes()
        .iter()
        .map(|n| DrillNode {
            id: n.id.clone(),
            sentinel: n.is_sentinel(),
            announced: n.announced.clone(),
            reachable: n.reachable.clone(),
            target: d.node_target(n),
        })
        .collect()
}
