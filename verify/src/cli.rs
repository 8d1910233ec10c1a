//! Command-line interface.

use crate::config::Workload;
use crate::report::Format;
use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Checks a Redis deployment for production readiness, with evidence and a
/// fix for every finding. With no --target it launches the project's
/// hardened standalone deployment and verifies that.
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

    /// Deployment to verify: redis://host:port or rediss://host:port.
    #[arg(long, value_name = "URL", global = true)]
    pub target: Option<String>,

    /// ACL user to connect as (overrides the URL's user).
    #[arg(long, value_name = "USER", global = true)]
    pub user: Option<String>,

    /// File whose first line is the password; else REDIS_PASSWORD is read.
    #[arg(long, value_name = "FILE", global = true)]
    pub password_file: Option<PathBuf>,

    /// CA bundle for rediss:// targets (PEM).
    #[arg(long, value_name = "FILE", global = true)]
    pub tls_ca: Option<PathBuf>,

    /// Client certificate for mutual TLS (PEM).
    #[arg(long, value_name = "FILE", global = true)]
    pub tls_cert: Option<PathBuf>,

    /// Key of the client certificate (PEM).
    #[arg(long, value_name = "FILE", global = true)]
    pub tls_key: Option<PathBuf>,

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

    /// Seconds to wait for a connection.
    #[arg(long, default_value_t = 3.0, value_name = "SECONDS", global = true)]
    pub connect_timeout: f64,

    /// Seconds to wait for each reply.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS", global = true)]
    pub timeout: f64,

    /// Without --target: which deployment to launch. `stock` is Redis with
    /// its defaults made deliberately weak, to see every check fail.
    #[arg(long, value_enum, default_value = "hardened", global = true)]
    pub launch: LaunchProfile,
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
}

/// Which deployment to launch without --target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LaunchProfile {
    /// The project's hardening policy from redis-conf/.
    Hardened,
    /// Stock defaults made weak (no auth, no persistence, DEBUG on, allkeys-lru).
    Stock,
}
