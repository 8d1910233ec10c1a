//! `idempotency`: idempotency keys — a request id is processed at most once
//! within `--idempotency-ttl`, however often clients retry it.
//!
//! Models: a payment or order API receiving retries and duplicate deliveries
//! (a timed-out client retrying, an at-least-once queue redelivering). Half
//! of the requests are new ids, the other half repeat one of the last few
//! ids issued, so duplicates arrive concurrently on different users — the
//! case that matters.
//!
//! One command decides: `SET idem:<id> <owner> NX EX <ttl>`. `OK` means this
//! request owns the id and is processed; nil means a duplicate, rejected.
//! The checker keeps a set of ids accepted so far (shared by all users) and
//! counts an id accepted twice.
//!
//! The hidden `idempotency-broken` checks with `GET` and then writes with a
//! plain `SET`: two concurrent duplicates both see nothing and both run.
//!
//! Run it:
//!
//! ```text
//! cargo run -p loadtest -- --workload idempotency -u 100 -t 20s --idempotency-ttl 60s
//! ```

use super::{Ctx, Params, StepKeys, UserCore, Variant, Workload};
use crate::invariants::{Invariant, OnceSet, Registry};
use rand::Rng;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub(super) static CORRECT: Variant = crate::variant! {
    name: "idempotency",
    models: "idempotency keys: SET NX EX per request id, retries and duplicates rejected",
    hidden: false,
    ops: ["SET_NX_EX"],
    invariants: [DuplicatesAccepted],
    scripts: [],
};
pub(super) static BROKEN: Variant = crate::variant! {
    name: "idempotency-broken",
    models: "BROKEN idempotency: GET then SET (check-then-act race)",
    hidden: true,
    ops: ["GET", "SET_EX"],
    invariants: [DuplicatesAccepted],
    scripts: [],
};

/// Duplicates repeat one of this many most recent ids.
const RECENT: u64 = 4;

/// The idempotency workload.
pub struct Idempotency {
    prefix: String,
    ttl_s: u64,
    variant: &'static Variant,
    broken: bool,
    next_id: AtomicU64,
    accepted: OnceSet,
    duplicates_accepted: Arc<AtomicU64>,
    duplicates_rejected: Arc<AtomicU64>,
}

impl Idempotency {
    /// Builds it; `broken` selects GET-then-SET.
    pub fn new(p: &Params, reg: &Registry, broken: bool) -> Self {
        let variant = if broken { &BROKEN } else { &CORRECT };
        Self {
            prefix: variant.prefix(p),
            variant,
            ttl_s: p.idempotency_ttl.as_secs().max(1),
            broken,
            next_id: AtomicU64::new(0),
            accepted: OnceSet::default(),
            duplicates_accepted: reg.counter(Invariant::DuplicatesAccepted),
            duplicates_rejected: reg.stat("idempotency_duplicates_rejected"),
        }
    }
}

impl Idempotency {
    /// The key of request id `id`.
    fn key(&self, id: u64) -> String {
        format!("{}{id}", self.prefix)
    }
}

impl Workload for Idempotency {
    type State = ();

    fn variant(&self) -> &'static Variant {
        self.variant
    }

    fn new_state(&self, _: &mut UserCore) {}

    fn step_keys(&self, n: u64) -> Vec<StepKeys> {
        let key = self.key(n);
        if self.broken {
            vec![StepKeys::new(0, [key.clone()]), StepKeys::new(1, [key])]
        } else {
            vec![StepKeys::new(0, [key])]
        }
    }

    async fn action(&self, ctx: &mut Ctx<'_>, _: &mut ()) {
        let issued = self.next_id.load(Ordering::Relaxed);
        let id = if issued == 0 || ctx.rng().random_bool(0.5) {
            self.next_id.fetch_add(1, Ordering::Relaxed)
        } else {
            issued - 1 - ctx.rng().random_range(0..RECENT.min(issued))
        };
        let key = self.key(id);
        let owner = ctx.core.index;
        let accepted = if self.broken {
            let Some(seen) = ctx
                .query::<Option<String>>(0, redis::cmd("GET").arg(&key))
                .await
                .value
            else {
                return;
            };
            if seen.is_some() {
                false
            } else {
                let set = ctx
                    .query::<()>(
                        1,
                        redis::cmd("SET")
                            .arg(&key)
                            .arg(owner)
                            .arg("EX")
                            .arg(self.ttl_s),
                    )
                    .await;
                set.value.is_some()
            }
        } else {
            let reply = ctx
                .query::<Option<String>>(
                    0,
                    redis::cmd("SET")
                        .arg(&key)
                        .arg(owner)
                        .arg("NX")
                        .arg("EX")
                        .arg(self.ttl_s),
                )
                .await;
            match reply.value {
                Some(ok) => ok.is_some(),
                None => return,
            }
        };
        if accepted {
            if !self.accepted.insert(id) {
                self.duplicates_accepted.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            self.duplicates_rejected.fetch_add(1, Ordering::Relaxed);
        }
    }
}
