//! Every node of the deployment under test, each with its own context.
//!
//! Node-scoped checks run once per data node (`data`); deployment-scoped
//! checks (`repl.*`, `sentinel.*`, `cluster.*`) look across `data` and
//! `sentinels`. A fleet is built live by [`crate::discover`] or from
//! captured replies in unit tests.

use crate::config::Settings;
use crate::ctx::{Captured, Ctx};

/// What kind of deployment it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FleetKind {
    /// One server.
    Standalone,
    /// Sentinel-managed primary and replicas.
    Sentinel {
        /// The master name Sentinels know it by.
        master: String,
    },
    /// A Redis Cluster.
    Cluster,
}

impl FleetKind {
    /// `standalone`, `sentinel` or `cluster`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Standalone => "standalone",
            Self::Sentinel { .. } => "sentinel",
            Self::Cluster => "cluster",
        }
    }
}

/// The role a node was found in when discovered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The only server.
    Standalone,
    /// A primary.
    Primary,
    /// A replica.
    Replica,
    /// A Sentinel.
    Sentinel,
    /// Could not be told (e.g. the node did not answer ROLE).
    Unknown,
}

/// One node and the context to talk to it.
pub struct Member {
    /// How reports name it: the launcher's id (`n2`) or the address it
    /// announces (`redis-2:6382`).
    pub label: String,
    /// Its role when discovered.
    pub role: Role,
    /// A context on a connection to it (data nodes as the data user,
    /// Sentinels as the Sentinel user).
    pub ctx: Ctx,
}

/// What the deployment should look like, where it can be known: from the
/// launched spec, or from `verify.toml` for a target.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expected {
    /// Replicas each primary should have.
    pub replicas_per_primary: Option<usize>,
    /// Sentinels there should be.
    pub sentinels: Option<usize>,
}

/// The deployment under test.
pub struct Fleet {
    /// Its kind.
    pub kind: FleetKind,
    /// Data nodes; the first is the one the user targeted (standalone) or
    /// the primary (Sentinel), or the first seed (Cluster).
    pub data: Vec<Member>,
    /// Sentinels (Sentinel deployments).
    pub sentinels: Vec<Member>,
    /// The expected shape.
    pub expected: Expected,
    /// What discovery noticed on the way (mapped addresses, nodes added
    /// from the launch), for the report.
    pub notes: Vec<String>,
    /// Nodes discovery found but could not connect to: (label, why). Each
    /// is reported as a `conn.reachable` failure on that node.
    pub unreachable: Vec<(String, String)>,
    /// Validated settings (the same as every member's context has).
    pub settings: Settings,
}

impl Fleet {
    /// The data nodes in a role.
    pub fn data_in(&self, role: Role) -> impl Iterator<Item = &Member> {
        self.data.iter().filter(move |m| m.role == role)
    }

    /// A fleet of one captured standalone node (unit tests of node checks).
    pub fn captured_standalone(captured: Captured, settings: Settings) -> Self {
        Self::captured(
            FleetKind::Standalone,
            vec![("n1", Role::Standalone, captured)],
            vec![],
            settings,
        )
    }

    /// A fleet over captured replies: `(label, role, replies)` per data node
    /// and `(label, replies)` per Sentinel.
    pub fn captured(
        kind: FleetKind,
        data: Vec<(&str, Role, Captured)>,
        sentinels: Vec<(&str, Captured)>,
        settings: Settings,
    ) -> Self {
        let target = || topology::Target::new("127.0.0.1", 6379, Some("admin"), None);
        Self {
            kind,
            data: data
                .into_iter()
                .map(|(label, role, c)| Member {
                    label: label.to_owned(),
                    role,
                    ctx: Ctx::captured(target(), c, settings.clone()),
                })
                .collect(),
            sentinels: sentinels
                .into_iter()
                .map(|(label, c)| Member {
                    label: label.to_owned(),
                    role: Role::Sentinel,
                    ctx: Ctx::captured(target(), c, settings.clone()),
                })
                .collect(),
            expected: Expected::default(),
            notes: Vec::new(),
            unreachable: Vec::new(),
            settings,
        }
    }
}
