//! The progress bar of a running measurement: done / planned operations, and over the last second the rate and
//! the p99. It is drawn on stderr by the live-view thread (`crate::live`), never by the measuring thread, at most
//! ten times a second; it is not drawn when stderr is not a terminal, with `--quiet`, or for runs planned to take a
//! second or less. It is cleared when the run ends, so the table printed after it stands alone.

use crate::histogram::latency_histogram;
use crate::live::{Chunk, ProgressOptions};
use crate::report::group_digits;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::VecDeque;
use std::io::IsTerminal;
use std::time::Duration;

/// The span the live rate and p99 are computed over.
const WINDOW_NS: u64 = 1_000_000_000;
/// Redraws per second at most.
const DRAW_HZ: u8 = 10;

/// True when a run planned to take `planned` should show a bar: not quiet, longer than a second, stderr a terminal.
pub fn wanted(quiet: bool, planned: Duration) -> bool {
    !quiet && planned > Duration::from_secs(1) && std::io::stderr().is_terminal()
}

/// The bar and the last second of samples.
pub struct LiveProgress {
    bar: ProgressBar,
    unit: String,
    done: u64,
    window: VecDeque<(u64, u64, Histogram<u64>)>,
    window_histogram: Histogram<u64>,
}

impl LiveProgress {
    pub fn new(options: &ProgressOptions) -> LiveProgress {
        let bar = ProgressBar::with_draw_target(
            Some(options.total),
            ProgressDrawTarget::stderr_with_hz(DRAW_HZ),
        );
        if let Ok(style) = ProgressStyle::with_template(
            "{elapsed_precise} [{bar:32}] {percent:>3}% {human_pos}/{human_len} · {msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message("starting");
        LiveProgress {
            bar,
            unit: options.unit.clone(),
            done: 0,
            window: VecDeque::new(),
            window_histogram: latency_histogram(),
        }
    }

    /// Takes in one chunk of samples and redraws (indicatif limits the actual redraws to `DRAW_HZ`).
    pub fn chunk(&mut self, chunk: &Chunk) {
        self.done += chunk.histogram.len();
        // Same bounds on both sides: adding and subtracting cannot fail.
        let _ = self.window_histogram.add(&chunk.histogram);
        self.window
            .push_back((chunk.start_ns, chunk.end_ns, chunk.histogram.clone()));
        while self.window.len() > 1 && chunk.end_ns.saturating_sub(self.window[1].0) >= WINDOW_NS {
            if let Some((_, _, old)) = self.window.pop_front() {
                let _ = self.window_histogram.subtract(&old);
            }
        }
        let span_ns = chunk.end_ns.saturating_sub(self.window[0].0).max(1);
        let rate = self.window_histogram.len() as f64 * 1e9 / span_ns as f64;
        let p99 = if self.window_histogram.is_empty() {
            "-".to_string()
        } else {
            crate::histogram::human_ns(self.window_histogram.value_at_quantile(0.99) as f64)
        };
        self.bar.set_position(self.done);
        self.bar.set_message(format!(
            "{} {}/s · p99 {p99} (last {:.1} s)",
            group_digits(rate.round() as u64),
            self.unit,
            span_ns as f64 / 1e9
        ));
    }

    /// Removes the bar from the terminal.
    pub fn finish(self) {
        self.bar.finish_and_clear();
    }
}
