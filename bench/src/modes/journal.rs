//! `crossline-bench journal`: the journal's write and read paths, against the memory-bandwidth floor.
//!
//! What one run does, in order:
//! 1. Generates the commands (a workload's flow, set-up first, cut to `--records`) before anything is timed.
//! 2. Opens a `JournalWriter` in a fresh directory with the `--fsync` policy and times `append` of every command
//!    with `commit_batch` after every `--batch` records (`append_measured`, the only code in the append figure).
//!    About one append in `--sample-every` is timed alone for the latency percentiles. At the end of each batch the
//!    writer's thread also reads the durable watermark; from those readings each sampled record gets its
//!    durable-watermark lag: the time from its `append` returning to the first reading whose durable watermark
//!    covers it (so the lag is exact to within one batch's duration, which the report gives).
//! 3. Under `interval_ms=N` waits (untimed for the append rate) until the durable watermark covers every record,
//!    then closes the writer; under `none` drops it without syncing, as the policy says.
//! 4. Replays the journal with a `JournalReader` (length word, crc32c, rkyv bytecheck, sequence), timed; then,
//!    untimed, deserializes every record and compares it with the command appended.
//! 5. The baseline: the same number of records of `--record-bytes` each, then of the journal's own frame size,
//!    copied one record at a time with no header and no checksum into a preallocated, mapped file of exactly that
//!    total size (`copy_measured`): what storing the bytes alone costs on this box.

use crate::env::{faults_between, filesystem_of, thread_page_faults, Environment};
use crate::histogram::{latency_histogram, LatencyNs};
use crate::report::{
    group_digits, latency_rows, Baseline, Headline, LatencySampling, Named, Report,
};
use crate::rng::Rng;
use crate::rundir::{files_with_suffix, preallocate, RunDir};
use crate::sampling::{describe_sampling, SamplePlan};
use crate::timer::Timer;
use crate::workload::{Mix, WorkloadKind};
use anyhow::{anyhow, bail, Context};
use crossline_engine::{Command, EngineConfig};
use crossline_journal::{
    AppendError, FsyncPolicy, JournalConfig, JournalReader, JournalWriter, ARCHIVED_COMMAND_BYTES,
    FRAME_BYTES, FRAME_HEADER_BYTES,
};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::fmt;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// The journal's default segment size.
pub const DEFAULT_SEGMENT_BYTES: u64 = 256 << 20;
/// How long the run waits for the flusher to make everything durable before calling it stuck.
const DURABLE_WAIT_LIMIT: Duration = Duration::from_secs(60);
/// Separates the sampling positions' random stream from the flow's.
const SAMPLING_STREAM: u64 = 0x5A3B_11E5_0000_0002;
/// Separates the baseline's source bytes from everything else.
const BASELINE_STREAM: u64 = 0x5A3B_11E5_0000_0003;

/// `--fsync`: `none`, `interval_ms=N` or `every_batch`, as `FsyncPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsyncSetting(pub FsyncPolicy);

impl FromStr for FsyncSetting {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        match text {
            "none" => return Ok(FsyncSetting(FsyncPolicy::None)),
            "every_batch" => return Ok(FsyncSetting(FsyncPolicy::EveryBatch)),
            _ => {}
        }
        let interval = text
            .strip_prefix("interval_ms=")
            .ok_or_else(|| format!("`{text}`: expected none, interval_ms=N or every_batch"))?;
        match interval.trim().parse::<u32>() {
            Ok(interval_ms) if interval_ms > 0 => {
                Ok(FsyncSetting(FsyncPolicy::IntervalMs(interval_ms)))
            }
            _ => Err(format!(
                "`{text}`: the interval must be a whole number of milliseconds from 1 to {}",
                u32::MAX
            )),
        }
    }
}

impl fmt::Display for FsyncSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            FsyncPolicy::None => write!(f, "none"),
            FsyncPolicy::IntervalMs(interval_ms) => write!(f, "interval_ms={interval_ms}"),
            FsyncPolicy::EveryBatch => write!(f, "every_batch"),
        }
    }
}

/// What `crossline-bench journal` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalOptions {
    pub records: u64,
    /// Bytes per record of the baseline copy, and the record size the report is about.
    pub record_bytes: usize,
    pub fsync: FsyncPolicy,
    /// Records per `commit_batch`.
    pub batch_records: u32,
    pub segment_bytes: u64,
    /// Where the commands come from.
    pub workload: WorkloadKind,
    pub seed: u64,
    /// Time about one append in N (random gaps); 0 none.
    pub sample_every: u32,
    /// Parent of the run's directory (default: the system temp dir).
    pub dir: Option<PathBuf>,
    pub keep: bool,
}

impl JournalOptions {
    /// The defaults of the command line for `records` records.
    pub fn new(records: u64) -> JournalOptions {
        JournalOptions {
            records,
            record_bytes: 64,
            fsync: FsyncPolicy::None,
            batch_records: 64,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            workload: WorkloadKind::Liquibook,
            seed: 1,
            sample_every: 64,
            dir: None,
            keep: false,
        }
    }
}

/// The JSON of a journal run: the common report (mode, workload, ops, seconds, ops_per_sec, latency_ns, baseline,
/// env, ...) with the journal's own figures beside it at the top level.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JournalReport {
    #[serde(flatten)]
    pub report: Report,
    /// `--record-bytes`: the baseline's record size.
    pub record_bytes_requested: usize,
    /// What the journal actually writes per record: frame header + archived command + padding.
    pub frame_bytes_actual: usize,
    pub frame_header_bytes: usize,
    pub archived_command_bytes: usize,
    pub fsync: String,
    pub batch_records: u32,
    pub segment_bytes: u64,
    /// The file system the journal was written to.
    pub filesystem: Option<String>,
    /// Records replayed per second by `JournalReader` (checksum + bytecheck), the second headline.
    pub replay_records_per_sec: f64,
    pub replay_seconds: f64,
    /// Append rate over the `--record-bytes` baseline's rate.
    pub journal_to_baseline_ratio: f64,
    /// The same copy with records of the journal's frame size: the same bytes the journal stores.
    pub baseline_frame_bytes: Baseline,
    pub journal_to_frame_baseline_ratio: f64,
    /// From each sampled append returning to the durable watermark covering it. None under `none`.
    pub durable_lag_ns: Option<LatencyNs>,
    pub durable_lag_samples: u64,
    /// The lag is observed at batch ends: it is exact to within about this (the mean batch duration).
    pub durable_lag_resolution_ns: Option<u64>,
    /// From the first append to the durable watermark covering the last record (None under `none`).
    pub all_durable_seconds: Option<f64>,
    /// `close` (stop the flusher, final sync), or dropping the writer under `none`.
    pub shutdown_seconds: f64,
    /// Appends that rolled over to a new segment, and the time they took (included in `seconds`).
    pub rollovers: u64,
    pub rollover_seconds_total: f64,
    pub rollover_ns_max: u64,
    /// Page faults the writer's thread took while appending (None where getrusage is unavailable).
    pub append_page_faults: Option<u64>,
    /// Set with `--keep`.
    pub kept_dir: Option<String>,
}

impl JournalReport {
    pub fn render_table(&self) -> String {
        self.report.render_table()
    }

    pub fn checks_passed(&self) -> bool {
        self.report.checks_passed()
    }
}

/// A finished run: the report and the histograms behind it (for `--hgrm` and `--lag-hgrm`).
#[derive(Debug)]
pub struct JournalRun {
    pub report: JournalReport,
    pub append_histogram: Histogram<u64>,
    pub durable_lag_histogram: Histogram<u64>,
}

/// The commands of `workload`'s flow for `seed` in order (set-up first), cut to exactly `count`, and the engine
/// configuration the generator sized for them. Sequence numbers run from 1 without a gap, as the journal requires.
pub fn sequenced_commands(
    workload: WorkloadKind,
    count: u64,
    seed: u64,
) -> anyhow::Result<(Vec<Command>, EngineConfig)> {
    let flow = workload
        .generate(count, seed)
        .with_context(|| format!("generating the {} flow", workload.name()))?;
    let config = flow.config;
    let mut commands = flow.setup;
    for round in flow.rounds {
        commands.extend(round.prepare);
        commands.extend(round.measured);
    }
    let count_usize =
        usize::try_from(count).map_err(|_| anyhow!("{count} commands do not fit in memory"))?;
    if commands.len() < count_usize {
        bail!(
            "the {} flow has {} commands, fewer than the {count} asked for",
            workload.name(),
            commands.len()
        );
    }
    commands.truncate(count_usize);
    if let Some((index, command)) = commands
        .iter()
        .enumerate()
        .find(|(index, command)| command.seq != *index as u64 + 1)
    {
        bail!(
            "the {} flow is not numbered 1, 2, 3, ...: command {index} carries seq {}",
            workload.name(),
            command.seq
        );
    }
    Ok((commands, config))
}

/// The measured append loop: appends `commands` in order, `commit_batch` after every `batch_records` and at the
/// end, timing the appends at `sample_positions` (sorted) into `sample_ticks` (start, end) and, after each commit,
/// noting every rise of the durable watermark as (durable seq, ticks) in `durable_marks`, whose capacity must
/// cover one entry per batch (it never reallocates here). Returns the wall time of the whole loop.
/// Never inlined, so profilers see exactly this.
#[inline(never)]
pub fn append_measured(
    writer: &mut JournalWriter,
    commands: &[Command],
    batch_records: usize,
    sample_positions: &[u32],
    sample_ticks: &mut [(u64, u64)],
    durable_marks: &mut Vec<(u64, u64)>,
    timer: &Timer,
) -> Result<Duration, AppendError> {
    assert_eq!(sample_positions.len(), sample_ticks.len());
    assert!(batch_records > 0);
    assert!(durable_marks.capacity() - durable_marks.len() > commands.len() / batch_records);
    let watermarks = writer.watermarks();
    let mut last_durable = watermarks.durable_seq();
    let mut next_sample = 0usize;
    let mut next_position = sample_positions
        .first()
        .map_or(usize::MAX, |&position| position as usize);
    let started = Instant::now();
    for (batch_index, batch) in commands.chunks(batch_records).enumerate() {
        let batch_start = batch_index * batch_records;
        for (offset, command) in batch.iter().enumerate() {
            if batch_start + offset == next_position {
                let start = timer.start();
                writer.append(command)?;
                let end = timer.end();
                sample_ticks[next_sample] = (start, end);
                next_sample += 1;
                next_position = sample_positions
                    .get(next_sample)
                    .map_or(usize::MAX, |&position| position as usize);
            } else {
                writer.append(command)?;
            }
        }
        writer.commit_batch()?;
        let durable = watermarks.durable_seq();
        if durable > last_durable {
            durable_marks.push((durable, timer.end()));
            last_durable = durable;
        }
    }
    Ok(started.elapsed())
}

/// The measured baseline loop: copies `source` into `destination` one `record_bytes` record at a time, timing the
/// copies at `sample_positions` like `append_measured`. Returns the wall time of the loop.
#[inline(never)]
pub fn copy_measured(
    destination: &mut [u8],
    source: &[u8],
    record_bytes: usize,
    sample_positions: &[u32],
    sample_ticks: &mut [(u64, u64)],
    timer: &Timer,
) -> Duration {
    assert_eq!(destination.len(), source.len());
    assert_eq!(sample_positions.len(), sample_ticks.len());
    let mut next_sample = 0usize;
    let mut next_position = sample_positions
        .first()
        .map_or(usize::MAX, |&position| position as usize);
    let started = Instant::now();
    for (index, (to, from)) in destination
        .chunks_exact_mut(record_bytes)
        .zip(source.chunks_exact(record_bytes))
        .enumerate()
    {
        if index == next_position {
            let start = timer.start();
            to.copy_from_slice(from);
            let end = timer.end();
            sample_ticks[next_sample] = (start, end);
            next_sample += 1;
            next_position = sample_positions
                .get(next_sample)
                .map_or(usize::MAX, |&position| position as usize);
        } else {
            to.copy_from_slice(from);
        }
    }
    started.elapsed()
}

/// The measured replay: opens a reader on `dir` and reads every record (checksum, bytecheck, sequence), touching
/// each record's seq and timestamp. Returns the records read, the last seq and the wall time.
#[inline(never)]
pub fn replay_measured(dir: &Path) -> anyhow::Result<(u64, u64, Duration)> {
    let started = Instant::now();
    let mut reader = JournalReader::open(dir)
        .with_context(|| format!("opening a reader on {}", dir.display()))?;
    let mut records = 0u64;
    let mut last_seq = 0u64;
    let mut touched = 0u64;
    while let Some(record) = reader
        .next_record()
        .with_context(|| format!("replaying {}", dir.display()))?
    {
        records += 1;
        last_seq = record.seq;
        touched = touched.wrapping_add(record.command.timestamp_ns.to_native());
    }
    let elapsed = started.elapsed();
    black_box(touched);
    Ok((records, last_seq, elapsed))
}

/// Untimed: every record in `dir` deserialized and compared with the command appended. "ok" or what differs.
fn verify_round_trip(dir: &Path, commands: &[Command]) -> anyhow::Result<String> {
    let mut reader = JournalReader::open(dir)
        .with_context(|| format!("opening a reader on {}", dir.display()))?;
    let mut index = 0usize;
    while let Some(record) = reader
        .next_record()
        .with_context(|| format!("reading {}", dir.display()))?
    {
        let decoded = rkyv::deserialize::<Command, rkyv::rancor::Error>(record.command)
            .with_context(|| format!("deserializing the record of seq {}", record.seq))?;
        match commands.get(index) {
            Some(expected) if *expected == decoded => {}
            Some(_) => {
                return Ok(format!(
                    "FAILED: record seq {} differs from the command appended",
                    record.seq
                ))
            }
            None => {
                return Ok(format!(
                    "FAILED: record seq {} was never appended",
                    record.seq
                ))
            }
        }
        index += 1;
    }
    Ok(if index == commands.len() {
        "ok".to_string()
    } else {
        format!(
            "FAILED: {index} records read back, {} appended",
            commands.len()
        )
    })
}

/// One baseline copy's figures.
struct CopyFigures {
    ops_per_sec: f64,
    histogram: Histogram<u64>,
    content_check: String,
    page_faults: Option<u64>,
}

/// Bytes between the stores that make a mapping writable page by page (the smallest page size Linux uses).
const TOUCH_STRIDE_BYTES: usize = 4096;

/// Copies `records` records of `record_bytes` into a preallocated mapped file of exactly that size in `dir`, timed,
/// checks the file holds the source, and removes it. Before the clock starts every page of the mapping is stored
/// to once, so the copy takes no page faults: the loop is the copy alone, the memory-bandwidth floor.
fn baseline_copy(
    dir: &Path,
    records: usize,
    record_bytes: usize,
    plan: &SamplePlan,
    timer: &Timer,
    seed: u64,
) -> anyhow::Result<CopyFigures> {
    let total_bytes = records
        .checked_mul(record_bytes)
        .ok_or_else(|| anyhow!("{records} records of {record_bytes} bytes overflow"))?;
    // Seeded bytes, generated before timing, so the copy cannot be a memset in disguise.
    let mut rng = Rng::new(seed ^ BASELINE_STREAM);
    let mut source = vec![0u8; total_bytes];
    for chunk in source.chunks_mut(8) {
        let word = rng.next_u64().to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
    let path = dir.join(format!("baseline-{record_bytes}-byte-records.bin"));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    preallocate(&file, total_bytes as u64, &path)?;
    // SAFETY: the file was just created in this run's private directory and nothing else maps, truncates or writes
    // it while the mapping lives (it is removed right after).
    let mut map = unsafe { memmap2::MmapOptions::new().populate().map_mut(&file) }
        .with_context(|| format!("mapping {}", path.display()))?;
    for page in map.chunks_mut(TOUCH_STRIDE_BYTES) {
        // SAFETY: `page` is a live, non-empty slice of the mapping; a volatile store so it is not optimised out.
        unsafe { std::ptr::write_volatile(page.as_mut_ptr(), 0) };
    }
    let mut sample_ticks = vec![(u64::MAX, u64::MAX); plan.len()];
    let faults_before = thread_page_faults();
    let elapsed = copy_measured(
        &mut map,
        &source,
        record_bytes,
        &plan.positions,
        &mut sample_ticks,
        timer,
    );
    let page_faults = faults_between(faults_before, thread_page_faults());
    let content_check = if map[..] == source[..] {
        "ok".to_string()
    } else {
        format!("FAILED: the {record_bytes}-byte copy does not match its source")
    };
    drop(map);
    drop(file);
    std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
    let mut histogram = latency_histogram();
    for &(start, end) in &sample_ticks {
        histogram.saturating_record(timer.ticks_to_ns(end.wrapping_sub(start)).max(1));
    }
    Ok(CopyFigures {
        ops_per_sec: per_second(records as u64, elapsed),
        histogram,
        content_check,
        page_faults,
    })
}

fn per_second(count: u64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

/// Checks the options before anything is generated.
pub fn validate(options: &JournalOptions) -> anyhow::Result<()> {
    if options.records == 0 || options.records > u64::from(u32::MAX) {
        bail!("--records {}: must be 1..={}", options.records, u32::MAX);
    }
    if options.record_bytes == 0 || options.record_bytes > 1 << 20 {
        bail!(
            "--record-bytes {}: must be 1..=1048576",
            options.record_bytes
        );
    }
    if options.batch_records == 0 {
        bail!("--batch must be at least 1");
    }
    Ok(())
}

/// Generates the commands, runs the journal, the replay and the baselines, and builds the report.
pub fn run(options: &JournalOptions, timer: &Timer) -> anyhow::Result<JournalRun> {
    validate(options)?;
    let env = Environment::capture(options.seed);
    let generation_started = Instant::now();
    let (commands, _) = sequenced_commands(options.workload, options.records, options.seed)?;
    let mut mix = Mix::default();
    for command in &commands {
        mix.add(command);
    }
    let mut sample_rng = Rng::new(options.seed ^ SAMPLING_STREAM);
    let plan = SamplePlan::new(commands.len(), options.sample_every, &mut sample_rng);
    let generation_s = generation_started.elapsed().as_secs_f64();

    let run_dir = RunDir::create(options.dir.as_deref(), "journal", options.keep)?;
    let journal_dir = run_dir.subdir("journal")?;
    let filesystem = filesystem_of(&journal_dir);

    // The journal.
    let config = JournalConfig {
        segment_bytes: options.segment_bytes,
        fsync: options.fsync,
        first_seq: 1,
        ..JournalConfig::default()
    };
    let (mut writer, _) = JournalWriter::open(&journal_dir, config)
        .with_context(|| format!("opening a journal in {}", journal_dir.display()))?;
    let batch_records = options.batch_records as usize;
    let batches = commands.len().div_ceil(batch_records);
    // The sampled appends, and every append that rolls over to the next segment (few, and the ones that may
    // wait for the preparer), timed in the same pass.
    let rollovers = rollover_positions(commands.len(), options.segment_bytes);
    let mut timed_positions: Vec<u32> = plan.positions.iter().chain(&rollovers).copied().collect();
    timed_positions.sort_unstable();
    timed_positions.dedup();
    let mut timed_ticks = vec![(u64::MAX, u64::MAX); timed_positions.len()];
    let mut durable_marks: Vec<(u64, u64)> = Vec::with_capacity(batches + 2);
    let durable_started = Instant::now();
    let faults_before = thread_page_faults();
    let append_elapsed = append_measured(
        &mut writer,
        &commands,
        batch_records,
        &timed_positions,
        &mut timed_ticks,
        &mut durable_marks,
        timer,
    )
    .context("appending")?;
    let append_page_faults = faults_between(faults_before, thread_page_faults());
    let last_seq = commands.len() as u64;
    let all_durable_seconds = match options.fsync {
        FsyncPolicy::None => None,
        FsyncPolicy::IntervalMs(_) | FsyncPolicy::EveryBatch => {
            wait_until_durable(&mut writer, last_seq, &mut durable_marks, timer)?;
            Some(durable_started.elapsed().as_secs_f64())
        }
    };
    let shutdown_started = Instant::now();
    match options.fsync {
        // The policy is not to sync: the records stay in the page cache, as a crash would leave them.
        FsyncPolicy::None => drop(writer),
        FsyncPolicy::IntervalMs(_) | FsyncPolicy::EveryBatch => {
            writer.close().context("closing the journal")?
        }
    }
    let shutdown_seconds = shutdown_started.elapsed().as_secs_f64();
    let (segments, segment_file_bytes) = files_with_suffix(&journal_dir, ".seg")?;

    let mut append_histogram = latency_histogram();
    let mut durable_lag_histogram = latency_histogram();
    let mut lag_unmatched = 0u64;
    let mut rollover_stats = RolloverStats::default();
    for (&position, &(start, end)) in timed_positions.iter().zip(&timed_ticks) {
        let append_ns = timer.ticks_to_ns(end.wrapping_sub(start)).max(1);
        if rollovers.binary_search(&position).is_ok() {
            rollover_stats.count += 1;
            rollover_stats.total_ns += append_ns;
            rollover_stats.max_ns = rollover_stats.max_ns.max(append_ns);
        }
        if plan.positions.binary_search(&position).is_err() {
            continue;
        }
        append_histogram.saturating_record(append_ns);
        if options.fsync == FsyncPolicy::None {
            continue;
        }
        let seq = commands[position as usize].seq;
        let first_covering = durable_marks.partition_point(|&(durable, _)| durable < seq);
        match durable_marks.get(first_covering) {
            Some(&(_, covered_at)) => durable_lag_histogram
                .saturating_record(timer.ticks_to_ns(covered_at.wrapping_sub(end)).max(1)),
            None => lag_unmatched += 1,
        }
    }

    // Replay, then (untimed) the round trip.
    let (replayed, replay_last_seq, replay_elapsed) = replay_measured(&journal_dir)?;
    let round_trip = verify_round_trip(&journal_dir, &commands)?;

    // The baselines.
    let baseline = baseline_copy(
        run_dir.path(),
        commands.len(),
        options.record_bytes,
        &plan,
        timer,
        options.seed,
    )?;
    let frame_baseline = baseline_copy(
        run_dir.path(),
        commands.len(),
        FRAME_BYTES,
        &plan,
        timer,
        options.seed,
    )?;
    drop(commands);
    let kept_dir = run_dir.finish()?;

    let measured = Measured {
        append_elapsed,
        append_page_faults,
        rollover_stats,
        batches: batches as u64,
        segments,
        segment_file_bytes,
        durable_marks: durable_marks.len() as u64,
        lag_unmatched,
        all_durable_seconds,
        shutdown_seconds,
        replayed,
        replay_last_seq,
        replay_elapsed,
        round_trip,
        generation_s,
    };
    let report = build_report(
        options,
        env,
        timer,
        &mix,
        &measured,
        (&append_histogram, &durable_lag_histogram),
        (&baseline, &frame_baseline),
        filesystem,
        kept_dir,
    );
    Ok(JournalRun {
        report,
        append_histogram,
        durable_lag_histogram,
    })
}

/// Index (0-based) of the first record of every segment after the first, for `records` records: its append is
/// the one that rolls over. Frames are fixed-size, so every segment holds the same number of records.
pub fn rollover_positions(records: usize, segment_bytes: u64) -> Vec<u32> {
    let per_segment = crossline_journal::records_per_segment(segment_bytes);
    if per_segment == 0 {
        return Vec::new();
    }
    (1..)
        .map(|segment: u64| segment * per_segment)
        .take_while(|&index| index < records as u64)
        .filter_map(|index| u32::try_from(index).ok())
        .collect()
}

/// The appends that rolled over to a new segment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct RolloverStats {
    count: u64,
    total_ns: u64,
    max_ns: u64,
}

/// After the last append under `interval_ms` (or `every_batch`, where it returns at once): waits for the durable
/// watermark to cover `last_seq`, noting its rises like the measured loop does.
fn wait_until_durable(
    writer: &mut JournalWriter,
    last_seq: u64,
    durable_marks: &mut Vec<(u64, u64)>,
    timer: &Timer,
) -> anyhow::Result<()> {
    let watermarks = writer.watermarks();
    let mut last_durable = durable_marks.last().map_or(0, |&(durable, _)| durable);
    let started = Instant::now();
    loop {
        let durable = watermarks.durable_seq();
        if durable > last_durable {
            durable_marks.push((durable, timer.end()));
            last_durable = durable;
        }
        if durable >= last_seq {
            return Ok(());
        }
        // Nothing is pending, so this only reports a flusher that failed (the writer is then poisoned).
        writer
            .commit_batch()
            .context("waiting for the durable watermark")?;
        if started.elapsed() > DURABLE_WAIT_LIMIT {
            bail!(
                "the durable watermark stayed at {durable} of {last_seq} for {} s",
                DURABLE_WAIT_LIMIT.as_secs()
            );
        }
        std::thread::yield_now();
    }
}

/// What the run measured, for the report.
struct Measured {
    append_elapsed: Duration,
    append_page_faults: Option<u64>,
    rollover_stats: RolloverStats,
    batches: u64,
    segments: u64,
    segment_file_bytes: u64,
    durable_marks: u64,
    lag_unmatched: u64,
    all_durable_seconds: Option<f64>,
    shutdown_seconds: f64,
    replayed: u64,
    replay_last_seq: u64,
    replay_elapsed: Duration,
    round_trip: String,
    generation_s: f64,
}

#[allow(clippy::too_many_arguments)]
fn build_report(
    options: &JournalOptions,
    env: Environment,
    timer: &Timer,
    mix: &Mix,
    measured: &Measured,
    (append_histogram, lag_histogram): (&Histogram<u64>, &Histogram<u64>),
    (baseline, frame_baseline): (&CopyFigures, &CopyFigures),
    filesystem: Option<String>,
    kept_dir: Option<PathBuf>,
) -> JournalReport {
    let records = options.records;
    let seconds = measured.append_elapsed.as_secs_f64();
    let ops_per_sec = per_second(records, measured.append_elapsed);
    let replay_records_per_sec = per_second(measured.replayed, measured.replay_elapsed);
    let ratio = |floor: f64| {
        if floor > 0.0 {
            ops_per_sec / floor
        } else {
            0.0
        }
    };
    let fsync = FsyncSetting(options.fsync).to_string();
    let lag_measured = options.fsync != FsyncPolicy::None;
    let lag_resolution_ns = (lag_measured && measured.batches > 0)
        .then(|| (seconds * 1e9 / measured.batches as f64).round() as u64);

    let mut counters = Named::new();
    counters.push("records", records);
    counters.push("batches", measured.batches);
    counters.push("bytes_appended", records * FRAME_BYTES as u64);
    counters.push("segments", measured.segments);
    counters.push("segment_file_bytes", measured.segment_file_bytes);
    counters.push("durable_watermark_rises_seen", measured.durable_marks);
    if let Some(faults) = measured.append_page_faults {
        counters.push("append_page_faults", faults);
    }
    if let Some(faults) = baseline.page_faults {
        counters.push("baseline_page_faults", faults);
    }
    counters.push("replayed", measured.replayed);

    let mut mix_named = Named::new();
    for (name, count) in mix.named() {
        mix_named.push(name, count);
    }

    let mut checks = Named::new();
    checks.push(
        "replayed_all",
        if measured.replayed == records && measured.replay_last_seq == records {
            "ok".to_string()
        } else {
            format!(
                "FAILED: {} records replayed up to seq {}, {records} appended",
                measured.replayed, measured.replay_last_seq
            )
        },
    );
    checks.push("round_trip", measured.round_trip.clone());
    if lag_measured {
        checks.push(
            "durable_covers_every_sample",
            if measured.lag_unmatched == 0 {
                "ok".to_string()
            } else {
                format!(
                    "FAILED: {} sampled records never seen durable",
                    measured.lag_unmatched
                )
            },
        );
    }
    checks.push("baseline_copy", baseline.content_check.clone());
    checks.push("baseline_frame_copy", frame_baseline.content_check.clone());

    let mut notes = Vec::new();
    if options.record_bytes != FRAME_BYTES {
        notes.push(format!(
            "--record-bytes {} is the baseline's record size, not the journal's: every journal frame is {FRAME_BYTES} \
             bytes ({FRAME_HEADER_BYTES}-byte header + {ARCHIVED_COMMAND_BYTES}-byte archived Command, fixed by the \
             Command type), so the journal stores {:.2}x the bytes of the {}-byte baseline; the {FRAME_BYTES}-byte \
             baseline copies the same bytes as the journal",
            options.record_bytes,
            FRAME_BYTES as f64 / options.record_bytes as f64,
            options.record_bytes
        ));
    }
    notes.push(
        "baselines: the destination file is preallocated (posix_fallocate), mapped, and every page stored to once \
         before the clock starts, so the timed loop is the copy alone: the memory-bandwidth floor"
            .to_string(),
    );
    if let Some(faults) = measured.append_page_faults.filter(|&faults| faults > 0) {
        let bytes_per_fault = records * FRAME_BYTES as u64 / faults;
        notes.push(format!(
            "the writer's thread took {} page faults while appending, one per {} bytes written: the writer stages \
             frames in memory of its own and writes them with pwrite (no store into the segment's mapping), so these \
             are first touches of its own memory; the baselines take none",
            group_digits(faults),
            group_digits(bytes_per_fault)
        ));
    }
    if options.sample_every > 0 {
        notes.push(format!(
            "the append rate includes the sampling's own cost (~{:.0} ns per timed append); --sample-every 0 \
             measures the rate alone",
            timer.overhead_ns()
        ));
    }
    match options.fsync {
        FsyncPolicy::None => notes.push(
            "fsync none: nothing is synced, so there is no durable-watermark lag; the writer was dropped without \
             close (no final sync), leaving the records in the page cache as a crash would"
                .to_string(),
        ),
        FsyncPolicy::IntervalMs(_) | FsyncPolicy::EveryBatch => notes.push(format!(
            "durable lag: the writer's thread reads the durable watermark after each commit_batch, so each lag is \
             exact to within one batch (~{} ns here)",
            group_digits(lag_resolution_ns.unwrap_or(0))
        )),
    }
    notes.push(
        "replay reads the journal just written, from the page cache; a replay after a reboot also waits for the \
         device"
            .to_string(),
    );
    notes.push(format!(
        "{} commands generated in {:.2} s before measuring (set-up then flow, cut to --records); the segment after \
         the first is prepared in the background while the run appends, as in service",
        options.workload.name(),
        measured.generation_s
    ));

    let mut extra_rows = Vec::new();
    extra_rows.push((
        "frame".to_string(),
        if options.record_bytes == FRAME_BYTES {
            format!("{FRAME_BYTES} bytes per record, as --record-bytes asked")
        } else {
            format!(
                "{FRAME_BYTES} bytes per record actually written ({FRAME_HEADER_BYTES} header + \
                 {ARCHIVED_COMMAND_BYTES} archived Command); --record-bytes {} applies to the baseline only",
                options.record_bytes
            )
        },
    ));
    extra_rows.push((
        "journal".to_string(),
        format!(
            "fsync {fsync} · commit every {} records · {} segments of {} bytes · {}",
            options.batch_records,
            measured.segments,
            group_digits(options.segment_bytes),
            filesystem.as_deref().unwrap_or("file system unknown")
        ),
    ));
    let rollover = measured.rollover_stats;
    if rollover.count > 0 {
        extra_rows.push((
            "rollovers".to_string(),
            format!(
                "{} appends switched segments: {:.1} ms in all, {:.1} ms at most ({:.0}% of the append time; they \
                 wait for the background preparer if the next segment is not ready)",
                rollover.count,
                rollover.total_ns as f64 / 1e6,
                rollover.max_ns as f64 / 1e6,
                rollover.total_ns as f64 / 1e9 / seconds.max(f64::MIN_POSITIVE) * 100.0
            ),
        ));
    }
    extra_rows.push((
        "journal / baseline".to_string(),
        format!(
            "{:.2}x the {}-byte copy · {:.2}x the {FRAME_BYTES}-byte copy ({} records/s, the same bytes as the \
             journal)",
            ratio(baseline.ops_per_sec),
            options.record_bytes,
            ratio(frame_baseline.ops_per_sec),
            group_digits(frame_baseline.ops_per_sec.round() as u64)
        ),
    ));
    extra_rows.push((
        "replay".to_string(),
        format!(
            "{} records/s (JournalReader: crc32c + bytecheck + sequence), {:.3} s",
            group_digits(replay_records_per_sec.round() as u64),
            measured.replay_elapsed.as_secs_f64()
        ),
    ));
    let durable_lag_ns = LatencyNs::from_histogram(lag_histogram);
    if lag_measured {
        let mut text = format!(
            "{} samples, append returned -> durable watermark covers it (±{} ns)",
            group_digits(lag_histogram.len()),
            group_digits(lag_resolution_ns.unwrap_or(0))
        );
        if let Some(lag) = &durable_lag_ns {
            let (header, values) = latency_rows(lag);
            text.push('\n');
            text.push_str(&header);
            text.push('\n');
            text.push_str(&values);
        }
        extra_rows.push(("durable lag, ns".to_string(), text));
    }
    extra_rows.push((
        "all durable after".to_string(),
        match measured.all_durable_seconds {
            Some(seconds) => format!(
                "{seconds:.3} s from the first append; shutdown (close) {:.3} s",
                measured.shutdown_seconds
            ),
            None => format!(
                "never (fsync none); writer dropped without sync in {:.3} s",
                measured.shutdown_seconds
            ),
        },
    ));
    if let Some(dir) = &kept_dir {
        extra_rows.push(("kept".to_string(), dir.display().to_string()));
    }

    let report = Report {
        mode: "journal".to_string(),
        workload: options.workload.name().to_string(),
        ops: records,
        seconds,
        ops_per_sec,
        latency_ns: LatencyNs::from_histogram(append_histogram),
        latency_sampling: LatencySampling {
            method: describe_sampling(options.sample_every),
            every: options.sample_every,
            samples: append_histogram.len(),
            timer: timer.describe(),
            timer_overhead_ns: (timer.overhead_ns() * 10.0).round() / 10.0,
            unit: "one JournalWriter::append (commit_batch not included)".to_string(),
        },
        headline: Some(Headline {
            name: "replay_records_per_sec".to_string(),
            value: replay_records_per_sec,
            unit: "records/s replayed".to_string(),
        }),
        baseline: Some(Baseline {
            name: format!(
                "{}-byte records copied into a preallocated mapped file, no header or checksum",
                options.record_bytes
            ),
            ops_per_sec: baseline.ops_per_sec,
            latency_ns: LatencyNs::from_histogram(&baseline.histogram),
        }),
        counters,
        mix: mix_named,
        checks,
        state_hash: None,
        env,
        notes,
        extra_rows,
    };
    JournalReport {
        report,
        record_bytes_requested: options.record_bytes,
        frame_bytes_actual: FRAME_BYTES,
        frame_header_bytes: FRAME_HEADER_BYTES,
        archived_command_bytes: ARCHIVED_COMMAND_BYTES,
        fsync,
        batch_records: options.batch_records,
        segment_bytes: options.segment_bytes,
        filesystem,
        replay_records_per_sec,
        replay_seconds: measured.replay_elapsed.as_secs_f64(),
        journal_to_baseline_ratio: ratio(baseline.ops_per_sec),
        baseline_frame_bytes: Baseline {
            name: format!(
                "{FRAME_BYTES}-byte records (the journal's frame) copied into a preallocated mapped file, no \
                 header or checksum"
            ),
            ops_per_sec: frame_baseline.ops_per_sec,
            latency_ns: LatencyNs::from_histogram(&frame_baseline.histogram),
        },
        journal_to_frame_baseline_ratio: ratio(frame_baseline.ops_per_sec),
        durable_lag_ns,
        durable_lag_samples: lag_histogram.len(),
        durable_lag_resolution_ns: lag_resolution_ns,
        all_durable_seconds: measured.all_durable_seconds,
        shutdown_seconds: measured.shutdown_seconds,
        rollovers: rollover.count,
        rollover_seconds_total: rollover.total_ns as f64 / 1e9,
        rollover_ns_max: rollover.max_ns,
        append_page_faults: measured.append_page_faults,
        kept_dir: kept_dir.map(|dir| dir.display().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fsync_settings_parse_and_print_back() {
        for text in ["none", "every_batch", "interval_ms=1", "interval_ms=250"] {
            let setting: FsyncSetting = text.parse().expect("parses");
            assert_eq!(setting.to_string(), text);
        }
        assert_eq!(
            "interval_ms=5".parse::<FsyncSetting>(),
            Ok(FsyncSetting(FsyncPolicy::IntervalMs(5)))
        );
        for bad in [
            "",
            "always",
            "interval_ms=0",
            "interval_ms=",
            "interval_ms=-1",
            "interval_ms=x",
        ] {
            assert!(bad.parse::<FsyncSetting>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn commands_are_cut_to_the_count_and_numbered_from_one() {
        let (commands, _) =
            sequenced_commands(WorkloadKind::Liquibook, 1_000, 1).expect("generated");
        assert_eq!(commands.len(), 1_000);
        assert!(commands
            .iter()
            .enumerate()
            .all(|(index, command)| command.seq == index as u64 + 1));
    }

    #[test]
    fn rollovers_are_at_the_first_record_of_each_later_segment() {
        let per_segment = crossline_journal::records_per_segment(4096) as usize;
        assert_eq!(
            rollover_positions(3 * per_segment + 1, 4096),
            [
                per_segment as u32,
                2 * per_segment as u32,
                3 * per_segment as u32
            ]
        );
        assert_eq!(rollover_positions(3 * per_segment, 4096).len(), 2);
        assert!(rollover_positions(10, DEFAULT_SEGMENT_BYTES).is_empty());
        assert!(rollover_positions(10, 0).is_empty());
    }

    #[test]
    fn options_out_of_range_are_refused() {
        let mut options = JournalOptions::new(0);
        assert!(validate(&options).is_err());
        options.records = 10;
        options.batch_records = 0;
        assert!(validate(&options).is_err());
        options.batch_records = 1;
        options.record_bytes = 0;
        assert!(validate(&options).is_err());
        options.record_bytes = 64;
        assert!(validate(&options).is_ok());
    }
}
