//! Command-line interface.

use crate::config::Workload;
use crate::report::Format;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Checks a Redis deployment for production readiness, with evidence and a
/// fix for every finding. With no --target it launches the project's
/// hardened deployment (--topology standalone|sentinel|cluster) and
/// verifies that. On Sentinel and Cluster targets it discovers every node,
/// runs the node checks on each data node and adds repl.*, sentinel.* and
/// cluster.* checks.
///
/// Exit codes: 0 every check passed (warnings allowed); 1 a deny-level check
/// failed; 2 usage, configuration or connection error, or a check could not
/// be evaluated.
#[derive(Debug, Parser)]
#[command(name = "verify", version, about, long_about)]
pub struct Cli {
    /// What to do; runs the checks when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Target, credential, TLS and launch flags (shared with loadtest).
    #[command(flatten)]
    pub target: topology::args::TargetArgs,

    /// Settings file; `verify.toml` in the working directory is used when present.
    #[arg(long, value_name = "FILE", global = true)]
    pub config: Option<PathBuf>,

    /// Workload kind (overrides verify.toml): state forbids eviction.
    #[arg(long, value_enum, global = true)]
    pub workload: Option<Workload>,

    /// User whose permissions acl.* checks judge (overrides verify.toml).
    #[arg(long, value_name = "USER", global = true)]
    pub app_user: Option<String>,

    /// Output format.
    #[arg(long, value_enum, default_value = "human", global = true)]
    pub format: Format,

    /// Write the report to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE", global = true)]
    pub output: Option<PathBuf>,

    /// Prometheus that scrapes the deployment (http://host:port): enables
    /// the monitoring.* checks, which skip without it.
    #[arg(long, value_name = "URL", global = true)]
    pub prometheus: Option<String>,

    /// On a launched deployment: also start redis_exporter and Prometheus
    /// (local processes, scrape and evaluation every second) and run the
    /// monitoring.* checks against them.
    #[arg(long, global = true, conflicts_with = "prometheus")]
    pub monitoring: bool,

    /// Dashboards, rules and provisioning to check against Prometheus: a
    /// directory laid out like grafana/ (default: the built-in copy).
    #[arg(long, value_name = "DIR", global = true, requires = "prometheus")]
    pub grafana_dir: Option<PathBuf>,

    /// Seconds to wait for a connection.
    #[arg(long, default_value_t = 3.0, value_name = "SECONDS", global = true)]
    pub connect_timeout: f64,

    /// Seconds to wait for each reply.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS", global = true)]
    pub timeout: f64,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every check: id, area, severity and title.
    List {
        /// Print the Markdown check reference instead (docs/checks.md).
        #[arg(long)]
        markdown: bool,
    },
    /// Run drills (kill, fail over, partition under write load) and report
    /// what clients lost against each drill's budget; `drill list` lists
    /// them. With no --target, launches --topology from the policy.
    Drill(DrillArgs),
}

/// `verify drill [ID…]`.
#[derive(Debug, clap::Args)]
pub struct DrillArgs {
    /// Drill ids to run (default: every drill the topology supports), or
    /// `list` to print them.
    #[arg(value_name = "ID")]
    pub ids: Vec<String>,

    /// Allow drills against an existing --target (they kill and cut off nodes).
    #[arg(long)]
    pub allow_disruption: bool,

    /// Node-control command per action for an existing --target, run with
    /// `sh -c` (60 s bound, exit 0 required): ACTION='cmd {node}'
    /// (repeatable). Actions: kill, stop, pause, resume|cont, start|restart,
    /// isolate, heal, failover. Placeholders: {node} {host} {port} {addr}
    /// {pid} {executable} {config_file} {shard} {master}. A drill whose
    /// action has no command is skipped.
    #[arg(long, value_name = "ACTION=CMD")]
    pub node_control: Vec<String>,

    /// Also draw each drill's timeline (writes per 100 ms by outcome, phase
    /// events marked) into FILE as SVG.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,

    /// Count a write acked only after WAIT confirms N replicas (overrides verify.toml).
    #[arg(long, value_name = "N")]
    pub wait_replicas: Option<u32>,

    /// Concurrent writers (overrides verify.toml).
    #[arg(long, value_name = "N")]
    pub writers: Option<usize>,
}
