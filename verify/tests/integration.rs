//! Live tests of the `verify` binary and library against real Redis
//! servers: hardened and weak deployments, safety (MONITOR, keyspace), and
//! bad input. One test binary; modules group them by concern.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail loudly on any unexpected error"
)]

mod integration {
    pub mod alerts;
    pub mod bad_input;
    pub mod common;
    pub mod deployments;
    pub mod drill_target;
    pub mod drills;
    pub mod hostile;
    pub mod managed;
    pub mod safety;
    pub mod sarif;
    pub mod schema;
    pub mod security;
    pub mod tls;
    pub mod topologies;
}
