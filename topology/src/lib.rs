//! Describe, launch and reach Redis deployments.
//!
//! `topology` is the layer every other crate stands on:
//!
//! - [`Target`] says how to reach a deployment that already exists (URL,
//!   user, password from a file or the environment, TLS files), and
//!   [`client`] turns it into a connection with bounded timeouts.
//! - [`policy`] renders the hardening policy in `redis-conf/` into the files a
//!   server is started with.
//! - [`launch`] starts an ephemeral deployment from that policy, in Docker or
//!   as local processes, and controls its nodes (kill, stop, pause, restart).

pub mod client;
pub mod credentials;
pub mod launch;
pub mod policy;
pub mod secret;
pub mod target;

pub use client::{connect, connect_anonymous, ClientError, Timeouts};
pub use credentials::Credentials;
pub use launch::{Deployment, LaunchError, Launcher, Profile, Topology};
pub use secret::Secret;
pub use target::{Target, TargetError, TargetOptions, TlsFiles};
