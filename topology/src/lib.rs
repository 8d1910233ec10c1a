//! Describe, launch and reach Redis deployments.
//!
//! `topology` is the layer every other crate stands on:
//!
//! - [`spec`] says what to run (standalone, Sentinel, Cluster) and
//!   [`nodes`] renders the hardening policy in `redis-conf/` ([`policy`])
//!   into the exact files of each node, once, for every launcher.
//! - [`launch`] starts those nodes in Docker or as local processes, waits
//!   for the deployment to converge, and controls each node (kill, stop,
//!   pause, restart, and on Docker isolate/heal).
//! - [`Target`] is one server and [`Service`] what a user points at (a
//!   server, a Sentinel-managed primary, a Cluster); [`client`] connects to
//!   one server with bounded timeouts and [`conn::Connection`] to any
//!   [`Service`], through the [`address`] map from announced to reachable
//!   addresses. Server errors are typed once in [`reply`]. [`wire`] is a
//!   lean single-owner connection for load generators.
//! - [`args`] is the flag set both binaries share; [`options`] reads the
//!   environment once, at the edge.

pub mod address;
pub mod args;
pub mod capped;
pub mod client;
pub mod cluster_nodes;
pub mod conn;
pub mod credentials;
pub mod launch;
pub mod nodes;
pub mod options;
pub mod policy;
pub mod reply;
pub mod secret;
pub mod service;
pub mod spec;
pub mod target;
pub mod tls;
pub mod wire;

pub use address::{Addr, AddressMap};
pub use client::{connect, connect_anonymous, ClientError, Timeouts};
pub use conn::Connection;
pub use credentials::Credentials;
pub use launch::{Deployment, LaunchError, Launcher, Node};
pub use options::{LaunchOptions, LauncherChoice};
pub use reply::{ErrorCode, ReplyError};
pub use secret::Secret;
pub use service::{Service, ServiceKind};
pub use spec::{InitialRole, Profile, Topology};
pub use target::{Target, TargetError, TargetOptions, TlsFiles};
