//! Workloads: what the Goose users do, one module per application pattern.
//!
//! [`REGISTRY`] (in [`registry`]) is the one ordered list of workloads;
//! `--workload` parsing, `loadtest workloads` and the README's table come
//! from it. The shared machinery is split by concern: [`ctx`] (what an
//! action runs with and how a round trip is recorded), `scenario` (the
//! Goose scenario, closed-loop batches and open-loop pacing). Each workload
//! implements [`Workload`]: one application *action* (admit a request,
//! validate a session, take a lock, …) made of one or more timed Redis
//! round trips. A Goose transaction runs a batch of actions back to back
//! (`--actions-per-transaction`), which keeps Goose's per-transaction
//! bookkeeping off the hot path while every round trip is still recorded in
//! Goose's metrics individually.
//!
//! Workloads whose name ends in `-broken` are hidden: deliberately wrong
//! implementations that exist to prove each invariant checker catches the
//! bug it is there for.
//!
//! Every workload also declares the keys each of its operations sends
//! ([`Workload::step_keys`]), built by the code its actions use. On Redis
//! Cluster a step sending several keys in one command, script or
//! transaction must keep them in one slot (a shared hash tag, see
//! [`crate::keys`]); the registry test checks every workload's steps do,
//! and that different clients, accounts and locks still spread over slots.

pub mod cache;
pub mod getset;
pub mod idempotency;
pub mod lock;
pub mod lockout;
pub mod ratelimit_fixed;
pub mod ratelimit_sliding;
pub mod ratelimit_token_bucket;
pub mod session;

pub mod ctx;
pub mod registry;
mod scenario;

pub use crate::params::Params;
pub use ctx::{Ctx, Reply, UserCore, METHOD};
pub use registry::{listing, parse_spec, Selected, SpecError, WorkloadInfo, REGISTRY};

use crate::invariants::Invariant;
use crate::metrics::OpId;
use crate::shared::RunShared;
use goose::goose::Scenario;
use goose::GooseError;
use std::future::Future;
use std::sync::{Arc, LazyLock};

/// One implementation of a workload, the correct one or a deliberately
/// broken one, declared once beside the code that runs it: its name, what
/// it models, its operations, the invariants it is checked against and its
/// scripts. The registry lists it with one line ([`registry`]); listings,
/// `--workload`, the README table and the counters a run reports come from
/// this declaration. Every workload picks its variant when it is built, so
/// names, key prefixes, operations and scripts of a variant always go
/// together. Write it with [`variant!`](crate::variant), which prefixes the
/// operation names with the workload's name.
pub struct Variant {
    /// `--workload` name.
    pub name: &'static str,
    /// What application behaviour it models (one line, for listings).
    pub models: &'static str,
    /// A deliberately broken implementation, hidden from listings.
    pub hidden: bool,
    /// Operation names (`workload:operation`), as Goose and the summary
    /// show them; indexes into this list name operations in [`Ctx`] calls.
    pub ops: &'static [&'static str],
    /// Invariants it is checked against; building it creates exactly these
    /// counters (the registry test holds the two together).
    pub invariants: &'static [Invariant],
    /// Lua scripts to load before users start (so ACL problems show at once).
    pub scripts: &'static [&'static LazyLock<redis::Script>],
}

/// Declares a [`Variant`]: `ops` are given without the workload's name,
/// which is prepended (`"GET"` in `getset` is `getset:GET`), so an
/// operation's name can not disagree with its workload's.
#[macro_export]
#[doc(hidden)]
macro_rules! variant {
    (
        name: $name:literal,
        models: $models:literal,
        hidden: $hidden:expr,
        ops: [$($op:literal),* $(,)?],
        invariants: [$($inv:ident),* $(,)?],
        scripts: [$($script:expr),* $(,)?] $(,)?
    ) => {
        $crate::workloads::Variant {
            name: $name,
            models: $models,
            hidden: $hidden,
            ops: &[$(concat!($name, ":", $op)),*],
            invariants: &[$($crate::invariants::Invariant::$inv),*],
            scripts: &[$($script),*],
        }
    };
}

impl Variant {
    /// Key prefix of this variant within the run (`lt:<run id>:<name>:`), so
    /// variants running side by side never share keys.
    pub fn prefix(&self, p: &Params) -> String {
        format!("{}{}:", p.prefix, self.name)
    }
}

/// An application pattern the users run.
pub trait Workload: Send + Sync + Sized + 'static {
    /// Per-user state.
    type State: Send + 'static;

    /// The implementation this is.
    fn variant(&self) -> &'static Variant;

    /// Fresh per-user state.
    fn new_state(&self, core: &mut UserCore) -> Self::State;

    /// Runs one application action.
    fn action<'a>(
        &'a self,
        ctx: &'a mut Ctx<'_>,
        state: &'a mut Self::State,
    ) -> impl Future<Output = ()> + Send + 'a;

    /// Called once after the load stopped, to settle late checks.
    fn finish(&self) {}

    /// The keys every operation of this variant sends in its one round trip,
    /// for the `n`-th entity the workload picks (client, account, user,
    /// lock), built by the same code as the action's. Every index of
    /// [`Variant::ops`] appears at least once (an operation with no key,
    /// like `TIME`, with an empty list), so an operation added without
    /// declaring its keys fails the registry test.
    fn step_keys(&self, n: u64) -> Vec<StepKeys>;
}

/// The keys one operation sends in one round trip (a command, a Lua
/// script's `KEYS` and the keys it derives, a MULTI/EXEC, a pipeline).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepKeys {
    /// Index into [`Variant::ops`].
    pub op: usize,
    /// The keys.
    pub keys: Vec<String>,
}

impl StepKeys {
    /// Operation `op` sending `keys`.
    pub fn new(op: usize, keys: impl IntoIterator<Item = String>) -> Self {
        Self {
            op,
            keys: keys.into_iter().collect(),
        }
    }
}

/// A workload with its type erased, as the run holds it.
pub trait Runnable: Send + Sync {
    /// Its declaration.
    fn variant(&self) -> &'static Variant;
    /// Operation names.
    fn ops(&self) -> &'static [&'static str];
    /// Scripts to preload.
    fn scripts(&self) -> Vec<&'static redis::Script>;
    /// Settles late checks.
    fn finish(&self);
    /// The keys of every operation for the `n`-th entity
    /// ([`Workload::step_keys`]).
    fn step_keys(&self, n: u64) -> Vec<StepKeys>;
    /// The Goose scenario running this workload.
    fn scenario(
        self: Arc<Self>,
        name: &str,
        weight: usize,
        base: OpId,
        run: Arc<RunShared>,
    ) -> Result<Scenario, GooseError>;
}
