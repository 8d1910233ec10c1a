//! The progress display while a run goes: on a terminal one line that
//! updates in place every second (ops/s, errors, p99 so far, late
//! operations); otherwise, for logs, a line every five seconds. Also the
//! throughput timeline `--plot` draws.

use crate::shared::RunShared;
use std::io::{IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the line is printed to a log.
const LOG_EVERY: Duration = Duration::from_secs(5);
/// How often the terminal line updates.
const TTY_EVERY: Duration = Duration::from_secs(1);

/// Whether the in-place line is used (stdout and stderr both terminals:
/// the line goes to stderr, and must not garble a redirected stdout's
/// neighbour).
pub fn on_terminal() -> bool {
    std::io::stdout().is_terminal() && std::io::stderr().is_terminal()
}

/// Prints progress until aborted.
pub async fn run(shared: Arc<RunShared>, tty: bool) {
    let every = if tty { TTY_EVERY } else { LOG_EVERY };
    let started = Instant::now();
    let mut last_ops = 0;
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let ops = shared.hists.ops_done.load(Ordering::Relaxed);
        let errors = shared.hists.errors_done.load(Ordering::Relaxed);
        let rate = (ops - last_ops) as f64 / every.as_secs_f64();
        last_ops = ops;
        let late = shared.hists.late_ops.load(Ordering::Relaxed);
        let late = if shared.pace.is_open() {
            format!("  late {late}")
        } else {
            String::new()
        };
        let line = format!(
            "[loadtest] {:>4}s  users {}  {:.0} ops/s  errors {}  p99 {} µs{late}  invariant violations {}",
            started.elapsed().as_secs(),
            shared.users_started(),
            rate,
            errors,
            shared.hists.p99_so_far(),
            shared.registry.total()
        );
        let mut err = std::io::stderr().lock();
        if tty {
            // \r and "erase to end of line": one line, rewritten.
            let _ = write!(err, "\r{line}\x1b[K");
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
    }
}

/// Clears the in-place line once the run is over.
pub fn finish(tty: bool) {
    if tty {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[K");
        let _ = err.flush();
    }
}

/// Samples throughput once a second into `out` until aborted.
pub async fn timeline(shared: Arc<RunShared>, out: Arc<std::sync::Mutex<crate::plot::Timeline>>) {
    let started = Instant::now();
    let mut last = 0;
    let mut ticker = tokio::time::interval(TTY_EVERY);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        let ops = shared.hists.ops_done.load(Ordering::Relaxed);
        let rate = (ops - last) as f64 / TTY_EVERY.as_secs_f64();
        last = ops;
        crate::invariants::lock(&out).push((started.elapsed().as_secs_f64(), rate));
    }
}
