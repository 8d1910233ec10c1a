//! The `Check` trait. The vocabulary a check reports in lives in
//! [`crate::model`] and is re-exported here, so `crate::check::Outcome` and
//! `crate::model::Outcome` name the same type.

use std::future::Future;
use std::pin::Pin;

use crate::ctx::Ctx;
use crate::fleet::Fleet;

pub use crate::model::{
    Applies, Area, CheckMeta, Evidence, Needs, Outcome, Scope, Severity, Status, Withheld,
};

/// A boxed future, so checks can live in one `&dyn Check` registry.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A production-readiness check.
pub trait Check: Sync {
    /// Its description.
    fn meta(&self) -> &'static CheckMeta;
    /// Evaluates the check. Node-scoped checks look at `node` (one data
    /// node); deployment-scoped checks at `fleet` (every node). Must never
    /// execute a destructive command and must bound every wait (the
    /// contexts do).
    fn run<'a>(&'a self, fleet: &'a Fleet, node: &'a Ctx) -> BoxFuture<'a, Outcome>;
}
