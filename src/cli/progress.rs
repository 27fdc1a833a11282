//! Progress of a long transfer on stderr: an `indicatif` bar (bytes, rate, ETA) when stderr
//! is a terminal, otherwise a plain line at most once a second and one at the end, so logs
//! of CI jobs stay readable. Bytes of a failed attempt are taken back when it is retried.
use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::output::bytes;

#[derive(Clone)]
pub struct Progress {
    inner: Arc<Inner>,
}

struct Inner {
    label: String,
    total: u64,
    done: AtomicU64,
    started: Instant,
    bar: Option<ProgressBar>,
    last_line: Mutex<Instant>,
}

const LINE_EVERY: Duration = Duration::from_secs(1);

impl Progress {
    /// A bar on a terminal (`terminal`), lines otherwise.
    pub fn new(label: &str, total: u64, terminal: bool) -> Progress {
        let bar = terminal.then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{msg:<8} [{bar:30}] {bytes}/{total_bytes}  {binary_bytes_per_sec}  ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_message(label.to_owned());
            bar
        });
        let started = Instant::now();
        Progress {
            inner: Arc::new(Inner {
                label: label.to_owned(),
                total,
                done: AtomicU64::new(0),
                started,
                bar,
                last_line: Mutex::new(started),
            }),
        }
    }

    pub fn add(&self, n: u64) {
        let done = self.inner.done.fetch_add(n, Ordering::Relaxed) + n;
        match &self.inner.bar {
            Some(bar) => bar.set_position(done),
            None => {
                let mut last = self.inner.last_line.lock().unwrap_or_else(|e| e.into_inner());
                if last.elapsed() >= LINE_EVERY {
                    *last = Instant::now();
                    eprintln!("{}", self.line(done));
                }
            }
        }
    }

    /// Takes back bytes counted for an attempt that failed.
    pub fn sub(&self, n: u64) {
        let done = self.inner.done.fetch_sub(n, Ordering::Relaxed).saturating_sub(n);
        if let Some(bar) = &self.inner.bar {
            bar.set_position(done);
        }
    }

    /// A message that does not break the bar.
    pub fn note(&self, message: &str) {
        match &self.inner.bar {
            Some(bar) => bar.println(message),
            None => eprintln!("{message}"),
        }
    }

    /// Ends the bar (or prints the last line).
    pub fn finish(&self) {
        let done = self.inner.done.load(Ordering::Relaxed);
        let secs = self.inner.started.elapsed().as_secs_f64().max(1e-3);
        let summary = format!(
            "{}: {} in {:.1} s ({}/s)",
            self.inner.label,
            bytes(done),
            secs,
            bytes((done as f64 / secs) as u64)
        );
        match &self.inner.bar {
            Some(bar) => {
                bar.finish_and_clear();
                eprintln!("{summary}");
            }
            None => eprintln!("{summary}"),
        }
    }

    /// Ends the bar without a summary (the transfer failed).
    pub fn abandon(&self) {
        if let Some(bar) = &self.inner.bar {
            bar.abandon();
        }
    }

    fn line(&self, done: u64) -> String {
        let total = self.inner.total.max(1);
        let secs = self.inner.started.elapsed().as_secs_f64().max(1e-3);
        let rate = done as f64 / secs;
        let eta = if rate > 0.0 { format!("{:.0} s", (total.saturating_sub(done)) as f64 / rate) } else { "?".into() };
        format!(
            "{}: {} of {} ({}%), {}/s, ETA {eta}",
            self.inner.label,
            bytes(done),
            bytes(self.inner.total),
            done * 100 / total,
            bytes(rate as u64)
        )
    }
}
