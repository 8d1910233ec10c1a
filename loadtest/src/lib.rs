//! Load tests that behave like the application patterns Redis serves.
//!
//! `loadtest` runs [Goose](https://book.goose.rs) users whose transactions
//! call Redis directly through redis-rs: rate limiters (fixed window, sliding
//! window, token bucket), sessions, login lockout, idempotency keys, a lock
//! with fencing, cache-aside, and raw GET/SET for comparison with
//! `redis-benchmark`. While the load runs it
//!
//! - times every Redis round trip in microseconds and records it both into
//!   Goose's metrics (so `--report-file` reports show Redis operations) and
//!   into our own HDR histograms ([`metrics`]);
//! - checks correctness invariants shared by all users ([`invariants`]): a
//!   rate limiter never admits more than its limit, a lock is never held
//!   twice, an idempotency key is accepted once, a live session never goes
//!   missing;
//! - gates the result on SLOs ([`slo`]) and writes a versioned, mergeable
//!   summary ([`summary`], [`merge`]);
//! - runs closed loop (each user back to back) or open loop at a fixed
//!   rate ([`pacing`]), where latency counts from each request's intended
//!   start and the service time is kept beside it;
//! - measures its own CPU per operation ([`cpu`]).
//!
//! Exit codes: [`EXIT_PASS`], [`EXIT_SLO_FAILED`], [`EXIT_ERROR`].

mod cleanup;
pub mod cli;
pub mod conn;
pub mod cpu;
pub mod duration;
pub mod goose_tuning;
pub mod invariants;
pub mod keys;
pub mod merge;
pub mod metrics;
pub mod pacing;
pub mod params;
pub mod plot;
pub mod progress;
pub mod report;
pub mod run;
pub mod shared;
pub mod slo;
pub mod summary;
pub mod workloads;

use std::ffi::OsString;

/// Every SLO gate held.
pub const EXIT_PASS: i32 = 0;
/// The run completed and at least one SLO gate failed.
pub const EXIT_SLO_FAILED: i32 = 1;
/// Usage, configuration, launch or connection error: nothing was measured.
pub const EXIT_ERROR: i32 = 2;

/// Runs the command line and returns the process exit code.
pub fn main_with_args<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let parsed = match cli::parse(args) {
        Ok(parsed) => parsed,
        Err(cli::ParseOutcome::Exit(code)) => return code,
        Err(cli::ParseOutcome::Usage(message)) => {
            eprintln!("loadtest: {message}");
            return EXIT_ERROR;
        }
    };
    match parsed {
        cli::Parsed::Merge(args) => merge::main(&args.inputs, &args.output, args.slo.as_deref()),
        cli::Parsed::Workloads => {
            print!("{}", workloads::listing(false));
            EXIT_PASS
        }
        cli::Parsed::Run(args) => run::main(*args),
    }
}
