//! The one front door: target, credential, TLS and launch flags shared by
//! `verify` and `loadtest`, flattened into each CLI, with the one method
//! that turns them into the deployment to work on (the target, or one
//! launched from the policy when there is none).

use crate::launch::{Deployment, LaunchError};
use crate::options::LaunchOptions;
use crate::service::Service;
use crate::spec::{Profile, Topology};
use crate::target::{TargetError, TargetOptions, TlsFiles};
use clap::ValueEnum;
use std::path::PathBuf;

/// Which topology to launch when there is no target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TopologyKind {
    /// One server.
    Standalone,
    /// 1 primary, 2 replicas, 3 Sentinels (quorum 2).
    Sentinel,
    /// 3 shards, 1 replica each.
    Cluster,
}

impl TopologyKind {
    /// The default spec of this kind.
    pub fn spec(self) -> Topology {
        match self {
            Self::Standalone => Topology::Standalone,
            Self::Sentinel => Topology::SENTINEL,
            Self::Cluster => Topology::CLUSTER,
        }
    }
}

/// Which configuration a launch uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LaunchProfile {
    /// The project's hardening policy from redis-conf/.
    Hardened,
    /// Deliberately weak (no auth, no persistence, DEBUG on, replication,
    /// Sentinel and Cluster weaknesses): what every check must catch.
    #[value(alias = "stock")]
    Weak,
}

impl From<LaunchProfile> for Profile {
    fn from(p: LaunchProfile) -> Self {
        match p {
            LaunchProfile::Hardened => Profile::Hardened,
            LaunchProfile::Weak => Profile::Weak,
        }
    }
}

/// Target and launch flags.
#[derive(Clone, Debug, clap::Args)]
pub struct TargetArgs {
    /// Deployment to use: redis://host:port[/db], rediss://…,
    /// redis+sentinel://host:port,…/<master>, redis+cluster://host:port,…
    /// [default: launch --topology from the policy]
    #[arg(long, value_name = "URL", global = true, help_heading = "Target")]
    pub target: Option<String>,

    /// ACL user for the data nodes (overrides the URL's user)
    #[arg(long, value_name = "USER", global = true, help_heading = "Target")]
    pub user: Option<String>,

    /// File whose first line is the data nodes' password (else REDIS_PASSWORD)
    #[arg(long, value_name = "FILE", global = true, help_heading = "Target")]
    pub password_file: Option<PathBuf>,

    /// ACL user for Sentinels [default: the data nodes' user]
    #[arg(long, value_name = "USER", global = true, help_heading = "Target")]
    pub sentinel_user: Option<String>,

    /// File with the Sentinel password (else REDIS_SENTINEL_PASSWORD, else the data nodes')
    #[arg(long, value_name = "FILE", global = true, help_heading = "Target")]
    pub sentinel_password_file: Option<PathBuf>,

    /// Map an announced host name to one reachable from here, keeping the
    /// port: NAME=HOST, `*` for any (repeatable)
    #[arg(long, value_name = "NAME=HOST", global = true, help_heading = "Target")]
    pub map_host: Vec<String>,

    /// CA bundle for rediss:// targets (PEM)
    #[arg(long, value_name = "FILE", global = true, help_heading = "Target")]
    pub tls_ca: Option<PathBuf>,

    /// Client certificate for mutual TLS (PEM)
    #[arg(long, value_name = "FILE", global = true, help_heading = "Target")]
    pub tls_cert: Option<PathBuf>,

    /// Key of the client certificate (PEM)
    #[arg(long, value_name = "FILE", global = true, help_heading = "Target")]
    pub tls_key: Option<PathBuf>,

    /// Without --target: the topology to launch from the policy
    #[arg(
        long,
        value_enum,
        default_value = "standalone",
        global = true,
        help_heading = "Launch"
    )]
    pub topology: TopologyKind,

    /// Without --target: the configuration to launch (`weak` shows every
    /// check failing; `stock` is accepted for it)
    #[arg(
        long,
        value_enum,
        default_value = "hardened",
        global = true,
        help_heading = "Launch"
    )]
    pub launch: LaunchProfile,

    /// Without --target: launch with the TLS profile (a CA and certificates
    /// generated at launch, `tls-port` only, mutual TLS); standalone only
    #[arg(long, global = true, help_heading = "Launch")]
    pub tls: bool,
}

/// What the flags name: an existing deployment or a launched one.
#[expect(
    clippy::large_enum_variant,
    reason = "built once per run and moved out at once"
)]
pub enum Resolved {
    /// `--target` was given.
    Existing(Service),
    /// Launched from the policy; dropping it removes every node.
    Launched(Box<Deployment>),
}

/// Why the front door could not produce a deployment.
#[derive(Debug, thiserror::Error)]
pub enum FrontDoorError {
    /// The target flags are wrong.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// Launching failed.
    #[error(transparent)]
    Launch(#[from] LaunchError),
}

impl TargetArgs {
    /// The options that complete `--target` (passwords from files, else the
    /// environment).
    pub fn target_options(&self) -> TargetOptions {
        TargetOptions {
            user: self.user.clone(),
            password_file: self.password_file.clone(),
            password_from_env: true,
            tls: TlsFiles {
                ca: self.tls_ca.clone(),
                cert: self.tls_cert.clone(),
                key: self.tls_key.clone(),
            },
            sentinel_user: self.sentinel_user.clone(),
            sentinel_password_file: self.sentinel_password_file.clone(),
            map_hosts: self.map_host.clone(),
        }
    }

    /// The target if one was given, else a deployment launched from the
    /// policy with `--topology` and `--launch`.
    pub async fn resolve(&self, options: &LaunchOptions) -> Result<Resolved, FrontDoorError> {
        match &self.target {
            Some(_) if self.tls => Err(TargetError::TlsLaunchFlagWithTarget.into()),
            Some(url) => Ok(Resolved::Existing(Service::parse(
                url,
                &self.target_options(),
            )?)),
            None => {
                let options = options
                    .clone()
                    .with_tls(self.tls.then(crate::options::TlsLaunch::default));
                let d =
                    Deployment::launch(&self.topology.spec(), self.launch.into(), &options).await?;
                Ok(Resolved::Launched(Box::new(d)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: TargetArgs,
    }

    #[test]
    fn stock_is_an_alias_of_weak_and_topologies_parse() {
        let c = Cli::try_parse_from(["x", "--launch", "stock", "--topology", "cluster"]).unwrap();
        assert_eq!(c.args.launch, LaunchProfile::Weak);
        assert_eq!(c.args.topology.spec(), Topology::CLUSTER);
        let c = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!(
            (c.args.launch, c.args.topology),
            (LaunchProfile::Hardened, TopologyKind::Standalone)
        );
        assert!(Cli::try_parse_from(["x", "--topology", "mesh"]).is_err());
    }

    #[test]
    fn target_options_carry_every_flag() {
        let c = Cli::try_parse_from([
            "x",
            "--target",
            "redis+sentinel://h:1/m",
            "--sentinel-user",
            "s",
            "--map-host",
            "*=127.0.0.1",
        ])
        .unwrap();
        let o = c.args.target_options();
        assert_eq!(o.sentinel_user.as_deref(), Some("s"));
        assert_eq!(o.map_hosts, vec!["*=127.0.0.1".to_owned()]);
        assert!(o.password_from_env);
    }
}
