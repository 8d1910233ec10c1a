//! Open-loop pacing: when each user's next action is *meant* to start.
//!
//! A closed-loop user sends its next request when the previous answer
//! arrives, so a server that stalls for 300 ms also stops the requests that
//! would have arrived meanwhile, and their waiting is never measured
//! (coordinated omission). In an open-loop run every user has a fixed
//! schedule instead: action `i` is intended to start at `start + i ×
//! interval`, whatever happened before. A user held up by a slow reply
//! does not skip or stretch its schedule; it runs the overdue actions at
//! once, each measured from its intended start, and counts them as late.
//!
//! `--rate R` with `U` users gives every user the interval `U / R`;
//! `--think-time T` gives every user the interval `T` (a rate of `U / T`).
//! A user's first action is at a random phase within its first interval,
//! so users do not fire in lockstep.
//!
//! The runtime's timer rounds a deadline up to its millisecond tick and the
//! worker's `epoll_wait` rounds its timeout up again, so a sleep ends up to
//! about 2 ms after its deadline on an idle machine; a user therefore wakes
//! [`EARLY_WAKE`] before its intended start and sends at once. A send
//! that comes before the intended start is measured from the send (its
//! lateness is zero): the generator's jitter is not the server's latency.

use std::time::{Duration, Instant};

/// How early a user wakes before an intended start (the timer's
/// resolution, twice), so timer rounding does not count as lateness.
/// Measured with 1 ms: 100 users at 200 actions/s on a nearly idle machine
/// (load 1.3) had 1.04 % of actions late and a p90 lateness of ~0.5 ms,
/// all of it the timer's.
pub const EARLY_WAKE: Duration = Duration::from_millis(2);

/// An action that starts more than this after its intended start counts as
/// late: beyond timer resolution, the user was held up.
pub const LATE_AFTER: Duration = Duration::from_millis(1);

/// How users pace their actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// Back to back: the next action when the previous one is done.
    Closed,
    /// On a fixed schedule, one action per `interval` per user.
    Open {
        /// Time between a user's intended starts.
        interval: Duration,
    },
}

impl Pace {
    /// The pace for `--rate` (total actions per second over `users`) or
    /// `--think-time` (per user); closed when neither is given.
    pub fn from_flags(rate: Option<f64>, think_time: Option<Duration>, users: usize) -> Self {
        match (rate, think_time) {
            (Some(rate), _) if rate > 0.0 => Self::Open {
                interval: Duration::from_secs_f64(users.max(1) as f64 / rate),
            },
            (_, Some(think)) if !think.is_zero() => Self::Open { interval: think },
            _ => Self::Closed,
        }
    }

    /// Whether the run is open loop.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Open { .. })
    }
}

/// One user's schedule of intended starts.
#[derive(Clone, Debug)]
pub struct Schedule {
    next: Instant,
    interval: Duration,
}

impl Schedule {
    /// A schedule whose first intended start is `phase` after `start`.
    pub fn new(start: Instant, interval: Duration, phase: Duration) -> Self {
        Self {
            next: start + phase,
            interval,
        }
    }

    /// The next intended start.
    pub fn next(&self) -> Instant {
        self.next
    }

    /// Time between intended starts.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Moves the whole schedule so that it starts at `start`, keeping the
    /// user's phase within its interval. A user's schedule is made before it
    /// connects; connecting 5,000 users takes seconds on a busy machine, and
    /// a schedule left running meanwhile made every user start with a burst
    /// of overdue actions, all counted late, that were the connection
    /// set-up's and not the server's. Only used before the first action.
    pub fn restart(&mut self, start: Instant, phase: Duration) {
        self.next = start + phase.min(self.interval);
    }

    /// When to wake for the next intended start.
    pub fn wake_at(&self) -> Instant {
        self.next.checked_sub(EARLY_WAKE).unwrap_or(self.next)
    }

    /// Takes the next intended start and moves the schedule on by one
    /// interval (never by less, however late the user is).
    pub fn take(&mut self) -> Instant {
        let intended = self.next;
        self.next += self.interval;
        intended
    }
}

/// How long after its intended start a request went out (zero when it went
/// out early).
pub fn lateness(intended: Instant, sent: Instant) -> Duration {
    sent.saturating_duration_since(intended)
}

/// Whether an action starting at `started` for `intended` is late.
pub fn is_late(intended: Instant, started: Instant) -> bool {
    lateness(intended, started) > LATE_AFTER
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_is_split_across_users_and_think_time_is_per_user() {
        assert_eq!(
            Pace::from_flags(Some(10_000.0), None, 5000),
            Pace::Open {
                interval: Duration::from_millis(500)
            }
        );
        assert_eq!(
            Pace::from_flags(None, Some(Duration::from_millis(40)), 7),
            Pace::Open {
                interval: Duration::from_millis(40)
            }
        );
        assert_eq!(Pace::from_flags(None, None, 7), Pace::Closed);
        assert!(!Pace::from_flags(None, Some(Duration::ZERO), 7).is_open());
    }

    #[test]
    fn a_schedule_restarted_after_connecting_owes_no_actions() {
        let t0 = Instant::now();
        let interval = Duration::from_millis(500);
        let mut s = Schedule::new(t0, interval, Duration::from_millis(100));
        // Connecting took 2 s: left alone, four actions would be overdue.
        let connected = t0 + Duration::from_secs(2);
        let overdue = |s: &Schedule| {
            let mut s = s.clone();
            (0..10).take_while(|_| is_late(s.take(), connected)).count()
        };
        assert_eq!(overdue(&s), 4);
        s.restart(connected, Duration::from_millis(100));
        assert_eq!(overdue(&s), 0);
        assert_eq!(s.next(), connected + Duration::from_millis(100));
        // A phase is never more than one interval.
        s.restart(connected, Duration::from_secs(9));
        assert_eq!(s.next(), connected + interval);
    }

    #[test]
    fn schedule_never_stretches_and_lateness_counts_from_intended_start() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0, Duration::from_millis(10), Duration::from_millis(3));
        assert_eq!(s.take(), t0 + Duration::from_millis(3));
        // However late the user is, the next start is one interval on: the
        // overdue actions are run (late), not dropped.
        assert_eq!(s.take(), t0 + Duration::from_millis(13));
        assert_eq!(s.next(), t0 + Duration::from_millis(23));
        assert_eq!(s.wake_at(), t0 + Duration::from_millis(21));
        let intended = t0 + Duration::from_millis(13);
        assert_eq!(lateness(intended, t0), Duration::ZERO, "early is not late");
        assert_eq!(
            lateness(intended, intended + Duration::from_millis(300)),
            Duration::from_millis(300)
        );
        assert!(!is_late(intended, intended + Duration::from_micros(900)));
        assert!(is_late(intended, intended + Duration::from_millis(2)));
    }
}
