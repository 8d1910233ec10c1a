//! Client CPU accounting: user and system time of this process from
//! `getrusage`, so the summary can say what each operation cost the
//! machine. On a box the server shares, every client microsecond is taken
//! from Redis; comparing per-operation CPU with redis-benchmark and
//! memtier_benchmark is how the harness proves it is not the bottleneck.

use nix::sys::resource::{getrusage, UsageWho};
use std::time::Duration;

/// CPU time used by the process so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuTime {
    /// In user mode.
    pub user: Duration,
    /// In the kernel on the process's behalf.
    pub system: Duration,
}

impl CpuTime {
    /// The process's CPU time now (zero where `getrusage` fails, which on
    /// Linux it does not for the calling process).
    pub fn now() -> Self {
        match getrusage(UsageWho::RUSAGE_SELF) {
            Ok(u) => Self {
                user: timeval(u.user_time()),
                system: timeval(u.system_time()),
            },
            Err(_) => Self::default(),
        }
    }

    /// The CPU time spent since `earlier`.
    pub fn since(self, earlier: Self) -> Self {
        Self {
            user: self.user.saturating_sub(earlier.user),
            system: self.system.saturating_sub(earlier.system),
        }
    }

    /// (user, system) µs per operation, 0 when there was none.
    pub fn per_op_us(self, ops: u64) -> (f64, f64) {
        if ops == 0 {
            return (0.0, 0.0);
        }
        let per = |d: Duration| (d.as_secs_f64() * 1e6 / ops as f64 * 100.0).round() / 100.0;
        (per(self.user), per(self.system))
    }
}

fn timeval(t: nix::sys::time::TimeVal) -> Duration {
    let secs = u64::try_from(t.tv_sec()).unwrap_or(0);
    let micros = u64::try_from(t.tv_usec()).unwrap_or(0);
    Duration::from_secs(secs) + Duration::from_micros(micros)
}

/// Raises the soft open-files limit to the hard limit, so that thousands of
/// users with a connection each do not fail on `EMFILE` at 1,024; returns
/// the soft limit in effect afterwards.
pub fn raise_open_files_limit() -> Option<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        return Some(hard);
    }
    Some(soft)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_work_shows_as_user_time_per_operation() {
        // Spin until getrusage reports 20 ms of user time; bounded in wall
        // time, since on a busy machine the process gets only part of a core.
        // A getrusage that never grew would hit the bound and fail.
        let before = CpuTime::now();
        let mut x: u64 = 1;
        let started = std::time::Instant::now();
        let spent = loop {
            for _ in 0..100_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
            let spent = CpuTime::now().since(before);
            if spent.user >= Duration::from_millis(20) {
                break spent;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "user time never grew: {spent:?}"
            );
        };
        std::hint::black_box(x);
        let (user, _) = spent.per_op_us(1000);
        assert!(user >= 20.0, "{user}");
        assert_eq!(spent.per_op_us(0), (0.0, 0.0));
    }
}
