//! What a running measurement shows while it runs (the progress bar) and logs per interval (`--hlog`), without
//! disturbing it.
//!
//! The measuring thread owns a `LiveRecorder`: one extra histogram record per sample and, per loop turn, one
//! comparison of the time it already read against the next hand-off. Every `CHUNK_NS` (100 ms) the recorder swaps
//! its histogram for an empty one from a small pool and hands the full one, with its start and end, to a consumer
//! thread over a bounded channel: no allocation, no lock, no percentile computed on the measuring thread. The
//! consumer thread (`spawn`) feeds each chunk to the sinks (progress bar, interval log), clears the histogram and
//! returns it to the pool. When the consumer falls behind and the pool is empty, the recorder keeps recording into
//! the histogram it has, so the next chunk covers a longer span: nothing is lost, a chunk is only coarser.
//!
//! When neither a progress bar nor an interval log is asked for, no recorder and no thread exist.

use crate::histogram::latency_histogram;
use crate::hlog::HlogWriter;
use crate::progress::LiveProgress;
use anyhow::Context;
use hdrhistogram::Histogram;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

/// How often the measuring thread hands its samples over.
pub const CHUNK_NS: u64 = 100_000_000;
/// Histograms in circulation: the one being recorded into and those the consumer may hold or have returned.
const POOL_HISTOGRAMS: usize = 4;

/// The samples of one stretch of the run.
#[derive(Debug)]
pub struct Chunk {
    /// Wall-clock time of the run's origin (the recorder's `begin`).
    pub run_start: SystemTime,
    /// Start and end of the stretch, in nanoseconds after the run's origin.
    pub start_ns: u64,
    pub end_ns: u64,
    pub histogram: Histogram<u64>,
}

/// What the consumer thread does with the chunks.
#[derive(Debug, Clone, Default)]
pub struct LiveOptions {
    /// Draw a progress bar of `total` operations on stderr.
    pub progress: Option<ProgressOptions>,
    /// Write an HdrHistogram interval log.
    pub hlog: Option<HlogOptions>,
}

impl LiveOptions {
    /// True when there is anything to do (otherwise no recorder should be made).
    pub fn is_active(&self) -> bool {
        self.progress.is_some() || self.hlog.is_some()
    }
}

#[derive(Debug, Clone)]
pub struct ProgressOptions {
    /// Operations expected in the run (the bar's length).
    pub total: u64,
    /// What is counted ("msg", "ops").
    pub unit: String,
}

#[derive(Debug, Clone)]
pub struct HlogOptions {
    pub path: PathBuf,
    /// Length of one logged interval (rounded to whole 100 ms chunks).
    pub interval: Duration,
    /// Comment lines for the log's header (the command line, what a value is).
    pub comments: Vec<String>,
}

/// The measuring thread's side. `record` every sample, `tick` with the current time once per loop turn, `finish`
/// at the end.
pub struct LiveRecorder {
    current: Histogram<u64>,
    run_start: SystemTime,
    origin_ns: u64,
    chunk_start_ns: u64,
    next_handoff_ns: u64,
    full: SyncSender<Chunk>,
    empty: Receiver<Histogram<u64>>,
    finished: bool,
}

impl LiveRecorder {
    /// Marks the run's origin on the caller's clock (nanoseconds); chunk times are measured from it.
    pub fn begin(&mut self, now_ns: u64) {
        self.run_start = SystemTime::now();
        self.origin_ns = now_ns;
        self.chunk_start_ns = now_ns;
        self.next_handoff_ns = now_ns + CHUNK_NS;
    }

    /// Records one latency sample in nanoseconds.
    #[inline]
    pub fn record(&mut self, value_ns: u64) {
        self.current.saturating_record(value_ns);
    }

    /// Hands the current chunk over when its time is up. `now_ns` is a time the caller has already read.
    #[inline]
    pub fn tick(&mut self, now_ns: u64) {
        if now_ns >= self.next_handoff_ns {
            self.hand_off(now_ns);
        }
    }

    #[cold]
    fn hand_off(&mut self, now_ns: u64) {
        self.next_handoff_ns = now_ns + CHUNK_NS;
        // An empty pool means the consumer is behind: keep recording into this chunk.
        if let Ok(fresh) = self.empty.try_recv() {
            let histogram = std::mem::replace(&mut self.current, fresh);
            let chunk = self.chunk(now_ns, histogram);
            // Cannot be full: the channel holds as many chunks as there are histograms. A consumer that has
            // gone away (it failed) reports its error from `LiveThread::join`.
            let _ = self.full.try_send(chunk);
        }
    }

    fn chunk(&mut self, now_ns: u64, histogram: Histogram<u64>) -> Chunk {
        let chunk = Chunk {
            run_start: self.run_start,
            start_ns: self.chunk_start_ns.saturating_sub(self.origin_ns),
            end_ns: now_ns.saturating_sub(self.origin_ns),
            histogram,
        };
        self.chunk_start_ns = now_ns;
        chunk
    }

    /// Hands over the last chunk (ending at `end_ns`). Dropping the recorder afterwards closes the channel, so
    /// the consumer finishes.
    pub fn finish(&mut self, end_ns: u64) {
        if self.finished {
            return;
        }
        self.finished = true;
        let spare = Histogram::new(1).expect("a one-digit histogram is valid");
        let histogram = std::mem::replace(&mut self.current, spare);
        let chunk = self.chunk(end_ns.max(self.chunk_start_ns), histogram);
        let _ = self.full.send(chunk);
    }
}

/// The consumer thread; `join` waits for it to drain the chunks and returns the first error of its sinks.
pub struct LiveThread {
    thread: JoinHandle<anyhow::Result<()>>,
}

impl LiveThread {
    pub fn join(self) -> anyhow::Result<()> {
        match self.thread.join() {
            Ok(result) => result,
            Err(_) => anyhow::bail!("the live-view thread panicked"),
        }
    }
}

/// Starts the consumer thread for `options` and returns the recorder the measuring thread uses. Allocates the
/// pool's histograms here, before the run.
pub fn spawn(options: LiveOptions) -> anyhow::Result<(LiveRecorder, LiveThread)> {
    let (full_tx, full_rx) = mpsc::sync_channel::<Chunk>(POOL_HISTOGRAMS);
    let (empty_tx, empty_rx) = mpsc::sync_channel::<Histogram<u64>>(POOL_HISTOGRAMS);
    for _ in 1..POOL_HISTOGRAMS {
        empty_tx
            .send(latency_histogram())
            .expect("the receiver is alive");
    }
    // The interval log is created here, so a bad path fails before the run.
    let hlog = match &options.hlog {
        Some(hlog) => Some(
            std::fs::File::create(&hlog.path)
                .with_context(|| format!("creating {}", hlog.path.display()))?,
        ),
        None => None,
    };
    let thread = std::thread::Builder::new()
        .name("bench-live".to_string())
        .spawn(move || consume(options, hlog, full_rx, empty_tx))
        .context("spawning the live-view thread")?;
    let recorder = LiveRecorder {
        current: latency_histogram(),
        run_start: SystemTime::now(),
        origin_ns: 0,
        chunk_start_ns: 0,
        next_handoff_ns: u64::MAX,
        full: full_tx,
        empty: empty_rx,
        finished: false,
    };
    Ok((recorder, LiveThread { thread }))
}

fn consume(
    options: LiveOptions,
    hlog_file: Option<std::fs::File>,
    full: Receiver<Chunk>,
    empty: SyncSender<Histogram<u64>>,
) -> anyhow::Result<()> {
    let mut progress = options.progress.as_ref().map(LiveProgress::new);
    // The first chunk carries the run's wall-clock start, which the interval log's header needs.
    let Ok(first) = full.recv() else {
        return Ok(());
    };
    let mut hlog_out = hlog_file.map(std::io::BufWriter::new);
    let mut serializer = hdrhistogram::serialization::V2DeflateSerializer::new();
    let mut hlog = match (&mut hlog_out, &options.hlog) {
        (Some(out), Some(settings)) => Some(HlogWriter::begin(
            out,
            &mut serializer,
            first.run_start,
            settings,
        )?),
        _ => None,
    };
    let mut outcome = Ok(());
    for mut chunk in std::iter::once(first).chain(full.iter()) {
        if let Some(progress) = &mut progress {
            progress.chunk(&chunk);
        }
        if let (Some(writer), true) = (&mut hlog, outcome.is_ok()) {
            outcome = writer.chunk(&chunk);
        }
        chunk.histogram.reset();
        // The recorder may have finished and gone: then the histogram is simply dropped.
        let _ = empty.send(chunk.histogram);
    }
    if let Some(progress) = progress {
        progress.finish();
    }
    match hlog {
        Some(writer) => outcome.and_then(|()| writer.finish()),
        None => outcome,
    }
}
