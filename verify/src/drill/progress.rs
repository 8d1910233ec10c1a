//! Terminal progress while a drill runs: its id, the phase (the harness's
//! own, or the latest event in the timeline) and the writes acked, failed
//! and unknown so far, redrawn on stderr five times a second. Drawn only
//! when stderr is a terminal; otherwise nothing at all (reports, pipes and
//! CI logs stay clean).

use super::timeline::EventLog;
use super::writer::Live;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// A drill's progress line; inert when stderr is not a terminal.
pub struct Progress {
    bar: Option<ProgressBar>,
    phase: Arc<Mutex<String>>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// Starts the line for drill `id` (or does nothing off a terminal).
    pub fn start(id: &str) -> Self {
        let phase = Arc::new(Mutex::new("starting".to_owned()));
        if !std::io::stderr().is_terminal() {
            return Self {
                bar: None,
                phase,
                ticker: None,
            };
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{spinner} {prefix} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.set_prefix(id.to_owned());
        bar.set_message("starting");
        Self {
            bar: Some(bar),
            phase,
            ticker: None,
        }
    }

    /// Sets the harness phase (warm-up, fault, settle, read-back).
    pub fn phase(&self, what: &str) {
        *self.phase.lock().unwrap_or_else(PoisonError::into_inner) = what.to_owned();
    }

    /// Redraws with the writers' counters and the latest event until
    /// [`Progress::finish`].
    pub fn follow(&mut self, live: Arc<Live>, log: EventLog) {
        let Some(bar) = self.bar.clone() else {
            return;
        };
        let phase = self.phase.clone();
        self.ticker = Some(tokio::spawn(async move {
            loop {
                let p = phase.lock().unwrap_or_else(PoisonError::into_inner).clone();
                let last = log
                    .snapshot()
                    .last()
                    .map(|e| {
                        format!(
                            ", last event {} {}",
                            e.event,
                            e.node.as_deref().unwrap_or("")
                        )
                    })
                    .unwrap_or_default();
                bar.set_message(format!(
                    "{p}: writes ok {} failed {} unknown {}{last}",
                    live.acked.load(Ordering::Relaxed),
                    live.failed.load(Ordering::Relaxed),
                    live.unknown.load(Ordering::Relaxed),
                ));
                bar.tick();
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }));
    }

    /// Removes the line.
    pub fn finish(&mut self) {
        if let Some(t) = self.ticker.take() {
            t.abort();
        }
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}
