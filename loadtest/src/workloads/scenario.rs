//! The Goose side of a workload: one scenario per workload, an `on_start`
//! transaction that connects, and an `actions` transaction that runs a
//! batch of actions back to back (closed loop) or on the user's schedule
//! (open loop), then hands the batch's samples to the histograms.

use super::ctx::{record, Took};
use super::{Ctx, Runnable, StepKeys, UserCore, Workload};
use crate::conn::NotReady;
use crate::invariants::lock as lock_mutex;
use crate::metrics::{OpId, CONNECT};
use crate::pacing::{is_late, Schedule};
use crate::shared::RunShared;
use goose::goose::{GooseUser, Scenario, Transaction, TransactionFunction, TransactionResult};
use goose::GooseError;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

/// Longest a batch of actions runs before handing control back to Goose
/// (which checks between transactions whether the run is over).
const TRANSACTION_BUDGET: Duration = Duration::from_millis(100);

/// Longest a user sleeps inside one transaction while backing off.
const BACKOFF_STEP: Duration = Duration::from_millis(200);

/// How long an open-loop transaction lasts, waits for intended starts
/// included: `--actions-per-transaction` user intervals, within these
/// bounds. Every return to Goose costs a transaction's bookkeeping (about
/// 13 µs measured with 5,000 users): a user with one action every 1.7 s
/// that came back every 250 ms spent 86 µs of client CPU per operation, and
/// a budget of one interval still meant one Goose transaction (and one
/// extra timer wake-up) per action. Goose ends a user only between
/// transactions, so the upper bound is how late a run may end.
const OPEN_LOOP_BUDGET_MIN: Duration = Duration::from_millis(250);
const OPEN_LOOP_BUDGET_MAX: Duration = Duration::from_secs(2);

/// A user's state while it sits in Goose's session data between transactions.
type Parked<S> = Option<Box<(UserCore, S)>>;

struct Slot<S>(Arc<Mutex<Parked<S>>>);

impl<S> Clone for Slot<S> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<W: Workload> Runnable for W {
    fn variant(&self) -> &'static super::Variant {
        Workload::variant(self)
    }

    fn ops(&self) -> &'static [&'static str] {
        self.variant().ops
    }

    fn scripts(&self) -> Vec<&'static redis::Script> {
        self.variant()
            .scripts
            .iter()
            .map(|s| LazyLock::force(s))
            .collect()
    }

    fn finish(&self) {
        Workload::finish(self);
    }

    fn step_keys(&self, n: u64) -> Vec<StepKeys> {
        Workload::step_keys(self, n)
    }

    fn scenario(
        self: Arc<Self>,
        name: &str,
        weight: usize,
        base: OpId,
        run: Arc<RunShared>,
    ) -> Result<Scenario, GooseError> {
        let (w, r) = (self.clone(), run.clone());
        let start: TransactionFunction = Arc::new(move |user| {
            let (w, r) = (w.clone(), r.clone());
            Box::pin(async move {
                on_start(user, &*w, &r).await;
                Ok(())
            })
        });
        let (w, r) = (self, run);
        let actions: TransactionFunction = Arc::new(move |user| {
            let (w, r) = (w.clone(), r.clone());
            Box::pin(async move { run_actions(user, &*w, &r, base).await })
        });
        Ok(Scenario::new(name)
            .set_weight(weight)?
            .register_transaction(Transaction::new(start).set_on_start().set_name("connect"))
            .register_transaction(Transaction::new(actions).set_name("actions")))
    }
}

async fn on_start<W: Workload>(user: &mut GooseUser, w: &W, run: &RunShared) {
    run.user_started();
    let started = Instant::now();
    let mut core = UserCore::new(user.weighted_users_index, run.pace);
    let state = w.new_state(&mut core);
    connect_if_needed(user, &mut core, run).await;
    // The schedule starts once the user is connected (see
    // `Schedule::restart`), at the same random phase it was given.
    if let Some(s) = core.schedule.as_mut() {
        let phase = s.next().saturating_duration_since(started);
        s.restart(Instant::now(), phase);
    }
    run.hists.flush(&mut core.rec, core.index);
    user.set_session_data(Slot(Arc::new(Mutex::new(Some(Box::new((core, state)))))));
}

/// Connects when the user has no connection; false when it must not run
/// actions now (backing off, or the attempt failed).
async fn connect_if_needed(user: &mut GooseUser, core: &mut UserCore, run: &RunShared) -> bool {
    match run.conns.ensure(&mut core.conn).await {
        Ok(None) => true,
        Ok(Some(took)) => {
            record(user, core, run, CONNECT, Took::same(took), None).await;
            true
        }
        Err(NotReady::Backoff(wait)) => {
            tokio::time::sleep(wait.min(BACKOFF_STEP)).await;
            false
        }
        Err(NotReady::Failed(e, took)) => {
            record(
                user,
                core,
                run,
                CONNECT,
                Took::same(took),
                Some(e.to_string()),
            )
            .await;
            false
        }
    }
}

async fn run_actions<W: Workload>(
    user: &mut GooseUser,
    w: &W,
    run: &RunShared,
    base: OpId,
) -> TransactionResult {
    let taken = user
        .get_session_data::<Slot<W::State>>()
        .and_then(|slot| lock_mutex(&slot.0).take());
    let mut boxed = match taken {
        Some(b) => b,
        None => {
            let mut core = UserCore::new(user.weighted_users_index, run.pace);
            let state = w.new_state(&mut core);
            Box::new((core, state))
        }
    };
    let (core, state) = &mut *boxed;
    if core.schedule.is_some() {
        run_paced(user, w, run, base, core, state).await;
    } else {
        let deadline = Instant::now() + TRANSACTION_BUDGET;
        for _ in 0..run.params.actions_per_transaction {
            if core.conn.conn.is_none() && !connect_if_needed(user, core, run).await {
                break;
            }
            let mut ctx = Ctx {
                user: &mut *user,
                core: &mut *core,
                run,
                base,
                intended: None,
            };
            w.action(&mut ctx, state).await;
            if Instant::now() >= deadline {
                break;
            }
        }
    }
    run.hists.flush(&mut core.rec, core.index);
    run.add_goose_overhead(
        std::mem::take(&mut core.goose_ns),
        std::mem::take(&mut core.goose_timed),
    );
    match user.get_session_data::<Slot<W::State>>() {
        Some(slot) => *lock_mutex(&slot.0) = Some(boxed),
        None => user.set_session_data(Slot(Arc::new(Mutex::new(Some(boxed))))),
    }
    Ok(())
}

/// Open loop: runs the actions whose intended start falls within this
/// transaction's budget, each at its intended start (or at once when the
/// user is behind, counted late), and sleeps in between.
async fn run_paced<W: Workload>(
    user: &mut GooseUser,
    w: &W,
    run: &RunShared,
    base: OpId,
    core: &mut UserCore,
    state: &mut W::State,
) {
    let budget = core.schedule.as_ref().map_or(OPEN_LOOP_BUDGET_MIN, |s| {
        open_loop_budget(s.interval(), run.params.actions_per_transaction)
    });
    let deadline = Instant::now() + budget;
    // `ran`: actions this transaction has run so far.
    for ran in 0..run.params.actions_per_transaction {
        let Some(wake) = core.schedule.as_ref().map(Schedule::wake_at) else {
            return;
        };
        if wake > Instant::now() {
            if wake > deadline {
                // Back to Goose, which ends the user here if the run is
                // over. After an action, at once: the next transaction
                // sleeps until `wake`, within its budget when the budget is
                // at least one interval, so sleeping to the deadline first
                // would only cost a wake-up. With no action run yet (an
                // interval longer than the longest budget), sleep to the
                // deadline, or Goose would call straight back in a loop.
                if ran == 0 {
                    tokio::time::sleep_until(deadline.into()).await;
                }
                return;
            }
            tokio::time::sleep_until(wake.into()).await;
        }
        if core.conn.conn.is_none() && !connect_if_needed(user, core, run).await {
            // The schedule goes on: actions missed while disconnected run
            // late once the user is back, and count as late.
            return;
        }
        let Some(intended) = core.schedule.as_mut().map(Schedule::take) else {
            return;
        };
        if is_late(intended, Instant::now()) {
            core.rec.late();
        }
        let mut ctx = Ctx {
            user: &mut *user,
            core: &mut *core,
            run,
            base,
            intended: Some(intended),
        };
        w.action(&mut ctx, state).await;
        if Instant::now() >= deadline {
            return;
        }
    }
}

/// The budget of an open-loop transaction for a user `interval` apart with
/// `actions` per transaction (see [`OPEN_LOOP_BUDGET_MIN`]).
fn open_loop_budget(interval: Duration, actions: u32) -> Duration {
    interval
        .saturating_mul(actions.max(1))
        .clamp(OPEN_LOOP_BUDGET_MIN, OPEN_LOOP_BUDGET_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_loop_transaction_spans_several_actions_within_bounds() {
        let ms = Duration::from_millis;
        // 5,000 users at 10,000 actions/s: 500 ms apart, four actions per
        // Goose transaction instead of one.
        assert_eq!(open_loop_budget(ms(500), 32), ms(2000));
        assert_eq!(open_loop_budget(ms(1), 32), ms(250));
        assert_eq!(open_loop_budget(ms(100), 1), ms(250));
        assert_eq!(open_loop_budget(ms(5000), 32), ms(2000));
        assert_eq!(open_loop_budget(ms(100), 0), ms(250));
        // Never less than one interval, so an intended start always falls
        // within the next transaction and returning early never spins.
        for i in [1, 50, 250, 700, 1900] {
            assert!(open_loop_budget(ms(i), 1) >= ms(i).min(OPEN_LOOP_BUDGET_MAX));
        }
    }
}
