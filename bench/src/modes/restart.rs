//! `crossline-bench restart`: how long a cold start takes to reach a ready engine from a journal and its snapshots.
//!
//! What one run does, in order:
//! 1. Generates a realistic flow (`xc-single` by default) cut to `--commands`, before anything is timed.
//! 2. Journals it while applying it to an engine, as the appliance does: `append` every command, `apply` it,
//!    `commit_batch` every `--batch`; after every `--snapshot-every` commands (never after the last one, so there is
//!    always a journal suffix to replay) `commit_batch`, `engine.snapshot_bytes()` and `SnapshotStore::write`.
//!    Keeps the engine's state hash, closes the journal (a clean shutdown: everything synced) and drops the engine.
//! 3. Optionally (`--evict-page-cache`) asks the kernel to drop the journal's and snapshots' cached pages.
//! 4. The cold start, timed by phase: `recover` (scans every segment: crc32c, bytecheck, sequence; cuts a torn
//!    tail), `SnapshotStore::load_newest_valid` (reads the newest snapshot and checks its crc32c),
//!    `Engine::from_snapshot_bytes` (bytecheck, invariants, state hash of the snapshot), then the replay of the
//!    journal after the snapshot's seq: `JournalReader` + `seek`, each record deserialized with rkyv and applied
//!    into a `CountingSink`. The engine must then have the original's state hash.
//! 5. The baseline (unless `--no-full-replay`): the same cold start without a snapshot, `recover` + an empty engine +
//!    replay of every command, which must reach the same hash.

use crate::env::{filesystem_of, Environment};
use crate::modes::engine::BenchSink;
use crate::modes::journal::{sequenced_commands, FsyncSetting, DEFAULT_SEGMENT_BYTES};
use crate::report::{group_digits, Baseline, Headline, LatencySampling, Named, Report};
use crate::rundir::{evict_from_page_cache, files_with_suffix, RunDir};
use crate::timer::Timer;
use crate::workload::WorkloadKind;
use anyhow::{anyhow, bail, Context};
use crossline_engine::{Command, CountingSink, Engine, EngineConfig, FastBook};
use crossline_journal::{
    recover, FsyncPolicy, JournalConfig, JournalReader, JournalWriter, SnapshotStore,
};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The order pool the restart sizes for xc-single, which holds its book near 1,000 resting orders: 65 times that.
/// The generator's own engine is sized for the worst case (every order resting), which would make every cold start
/// allocate and initialise a pool hundreds of times larger than the state it restores.
pub const XC_SINGLE_MAX_ORDERS: u32 = 1 << 16;

/// What `crossline-bench restart` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartOptions {
    /// Commands journaled (set-up included).
    pub commands: u64,
    pub snapshot_every: u64,
    pub workload: WorkloadKind,
    pub seed: u64,
    pub fsync: FsyncPolicy,
    pub batch_records: u32,
    pub segment_bytes: u64,
    /// Order pool of the engine; None: the workload's size (see `XC_SINGLE_MAX_ORDERS`).
    pub max_orders: Option<u32>,
    /// Also time the cold start without a snapshot (the baseline).
    pub full_replay: bool,
    pub evict_page_cache: bool,
    /// Parent of the run's directory (default: the system temp dir).
    pub dir: Option<PathBuf>,
    pub keep: bool,
}

impl RestartOptions {
    /// The defaults of the command line for `commands` commands and a snapshot every `snapshot_every`.
    pub fn new(commands: u64, snapshot_every: u64) -> RestartOptions {
        RestartOptions {
            commands,
            snapshot_every,
            workload: WorkloadKind::XcSingle,
            seed: 1,
            fsync: FsyncPolicy::None,
            batch_records: 64,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            max_orders: None,
            full_replay: true,
            evict_page_cache: false,
            dir: None,
            keep: false,
        }
    }
}

/// The cold start's phases, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PhasesSeconds {
    /// `recover`: every segment scanned and checked.
    pub recover: f64,
    /// `SnapshotStore::load_newest_valid`: the newest snapshot read and its checksum checked.
    pub snapshot_load: f64,
    /// `Engine::from_snapshot_bytes`: the engine allocated and rebuilt from the snapshot, fully checked.
    pub snapshot_restore: f64,
    /// The journal after the snapshot: read, deserialized and applied.
    pub replay: f64,
    /// From the start of `recover` to a ready engine.
    pub total: f64,
}

/// The JSON of a restart run: the common report with the restart's own figures beside it at the top level.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RestartReport {
    #[serde(flatten)]
    pub report: Report,
    pub phases_seconds: PhasesSeconds,
    /// The goal: a ready engine from a 10M-command journal with a recent snapshot in under this.
    pub goal_seconds: f64,
    pub snapshot_seq: u64,
    pub snapshot_payload_bytes: u64,
    pub snapshots_written: u64,
    /// Commands replayed after the snapshot.
    pub suffix_commands: u64,
    pub suffix_replay_commands_per_sec: f64,
    /// Phases of the cold start without a snapshot (recover + empty engine + full replay), if run.
    pub full_replay_seconds: Option<f64>,
    /// Journaling the flow while applying it (append + apply + commits + snapshots), before the restart.
    pub journaling_seconds: f64,
    pub snapshot_write_seconds: f64,
    pub fsync: String,
    pub page_cache: String,
    pub max_orders: u32,
    pub filesystem: Option<String>,
    pub kept_dir: Option<String>,
}

impl RestartReport {
    pub fn render_table(&self) -> String {
        self.report.render_table()
    }

    pub fn checks_passed(&self) -> bool {
        self.report.checks_passed()
    }
}

/// Checks the options before anything is generated.
pub fn validate(options: &RestartOptions) -> anyhow::Result<()> {
    if options.commands < 2 || options.commands > 200_000_000 {
        bail!("--commands {}: must be 2..=200000000", options.commands);
    }
    if options.snapshot_every == 0 || options.snapshot_every >= options.commands {
        bail!(
            "--snapshot-every {}: must be 1..{} so that at least one snapshot is taken before the last command",
            options.snapshot_every,
            options.commands
        );
    }
    if options.batch_records == 0 {
        bail!("--batch must be at least 1");
    }
    Ok(())
}

/// The engine configuration of the run: the flow's, with the order pool sized for the workload.
fn engine_config(
    flow_config: EngineConfig,
    workload: WorkloadKind,
    max_orders: Option<u32>,
) -> anyhow::Result<EngineConfig> {
    let mut config = flow_config;
    config.max_orders = match (max_orders, workload) {
        (Some(max_orders), _) => max_orders,
        (None, WorkloadKind::XcSingle) => flow_config.max_orders.min(XC_SINGLE_MAX_ORDERS),
        (None, _) => flow_config.max_orders,
    };
    config
        .check()
        .map_err(|error| anyhow!("engine configuration: {}", error.0))?;
    Ok(config)
}

/// What journaling the flow left behind.
struct Journaled {
    state_hash: u64,
    last_seq: u64,
    sink: BenchSink,
    snapshots_written: u64,
    seconds: f64,
    snapshot_write_seconds: f64,
}

/// Step 2: journals `commands` while applying them, with snapshots; closes the journal.
fn journal_flow(
    options: &RestartOptions,
    config: EngineConfig,
    commands: &[Command],
    journal_dir: &Path,
    store: &SnapshotStore,
) -> anyhow::Result<Journaled> {
    let mut engine: Engine =
        Engine::new(config).map_err(|error| anyhow!("engine configuration: {error}"))?;
    let journal_config = JournalConfig {
        segment_bytes: options.segment_bytes,
        fsync: options.fsync,
        first_seq: 1,
        ..JournalConfig::default()
    };
    let (mut writer, _) = JournalWriter::open(journal_dir, journal_config)
        .with_context(|| format!("opening a journal in {}", journal_dir.display()))?;
    let mut sink = BenchSink::default();
    let mut snapshots_written = 0u64;
    let mut snapshot_time = Duration::ZERO;
    // Countdowns to the next commit and the next snapshot.
    let mut batch_left = options.batch_records;
    let mut snapshot_left = options.snapshot_every;
    let last_index = commands.len().saturating_sub(1);
    let started = Instant::now();
    for (index, command) in commands.iter().enumerate() {
        writer
            .append(command)
            .with_context(|| format!("appending seq {}", command.seq))?;
        engine.apply(command, &mut sink);
        batch_left -= 1;
        if batch_left == 0 {
            writer.commit_batch().context("committing a batch")?;
            batch_left = options.batch_records;
        }
        snapshot_left -= 1;
        if snapshot_left == 0 && index < last_index {
            snapshot_left = options.snapshot_every;
            let snapshot_started = Instant::now();
            writer.commit_batch().context("committing a batch")?;
            let payload = engine.snapshot_bytes();
            store
                .write(engine.last_seq(), &payload)
                .with_context(|| format!("writing the snapshot of seq {}", engine.last_seq()))?;
            snapshot_time += snapshot_started.elapsed();
            snapshots_written += 1;
        }
    }
    writer.commit_batch().context("committing the last batch")?;
    let seconds = started.elapsed().as_secs_f64();
    writer.close().context("closing the journal")?;
    Ok(Journaled {
        state_hash: engine.state_hash(),
        last_seq: engine.last_seq(),
        sink,
        snapshots_written,
        seconds,
        snapshot_write_seconds: snapshot_time.as_secs_f64(),
    })
}

/// A ready engine and how it was reached.
struct ColdStart {
    engine: Engine,
    phases: PhasesSeconds,
    recovered_records: u64,
    recovered_last_seq: Option<u64>,
    torn_tail: bool,
    snapshot_seq: u64,
    snapshot_payload_bytes: u64,
    snapshots_skipped: usize,
    replayed: u64,
    sink: CountingSink,
}

/// Reads the journal from `from_seq` to its end, deserializing each record and applying it. Returns the count.
#[inline(never)]
pub fn replay_into(
    engine: &mut Engine,
    journal_dir: &Path,
    from_seq: u64,
    sink: &mut CountingSink,
) -> anyhow::Result<u64> {
    let mut reader = JournalReader::open(journal_dir)
        .with_context(|| format!("opening a reader on {}", journal_dir.display()))?;
    reader
        .seek(from_seq)
        .with_context(|| format!("seeking to seq {from_seq}"))?;
    let mut replayed = 0u64;
    while let Some(record) = reader
        .next_record()
        .with_context(|| format!("replaying {}", journal_dir.display()))?
    {
        let command = rkyv::deserialize::<Command, rkyv::rancor::Error>(record.command)
            .with_context(|| format!("deserializing the record of seq {}", record.seq))?;
        engine.apply(&command, sink);
        replayed += 1;
    }
    Ok(replayed)
}

/// Step 4, timed: recover, load the newest valid snapshot, rebuild the engine, replay the suffix.
fn cold_start(
    config: EngineConfig,
    journal_dir: &Path,
    snapshot_dir: &Path,
) -> anyhow::Result<ColdStart> {
    let started = Instant::now();
    let recovery =
        recover(journal_dir).with_context(|| format!("recovering {}", journal_dir.display()))?;
    let recovered = started.elapsed();

    let store = SnapshotStore::open(snapshot_dir)
        .with_context(|| format!("opening the snapshots in {}", snapshot_dir.display()))?;
    let load = store
        .load_newest_valid()
        .context("loading the newest valid snapshot")?;
    let snapshot = load
        .snapshot
        .ok_or_else(|| anyhow!("no valid snapshot in {}", snapshot_dir.display()))?;
    let loaded = started.elapsed();

    let mut engine =
        Engine::<FastBook>::from_snapshot_bytes(config, snapshot.payload()).map_err(|error| {
            anyhow!(
                "restoring the engine from {}: {error}",
                snapshot.path.display()
            )
        })?;
    let restored = started.elapsed();

    let mut sink = CountingSink::default();
    let replayed = replay_into(&mut engine, journal_dir, snapshot.seq + 1, &mut sink)?;
    let ready = started.elapsed();

    let phases = PhasesSeconds {
        recover: recovered.as_secs_f64(),
        snapshot_load: (loaded - recovered).as_secs_f64(),
        snapshot_restore: (restored - loaded).as_secs_f64(),
        replay: (ready - restored).as_secs_f64(),
        total: ready.as_secs_f64(),
    };
    Ok(ColdStart {
        engine,
        phases,
        recovered_records: recovery.records,
        recovered_last_seq: recovery.last_seq,
        torn_tail: recovery.torn_tail.is_some(),
        snapshot_seq: snapshot.seq,
        snapshot_payload_bytes: snapshot.payload().len() as u64,
        snapshots_skipped: load.skipped.len(),
        replayed,
        sink,
    })
}

/// Step 5, timed: recover, an empty engine, every command replayed. Returns the seconds and the state hash.
fn full_replay(config: EngineConfig, journal_dir: &Path) -> anyhow::Result<(f64, u64)> {
    let started = Instant::now();
    recover(journal_dir).with_context(|| format!("recovering {}", journal_dir.display()))?;
    let mut engine: Engine =
        Engine::new(config).map_err(|error| anyhow!("engine configuration: {error}"))?;
    let mut sink = CountingSink::default();
    replay_into(&mut engine, journal_dir, 1, &mut sink)?;
    let seconds = started.elapsed().as_secs_f64();
    Ok((seconds, engine.state_hash()))
}

/// Generates, journals, restarts and builds the report.
pub fn run(options: &RestartOptions, timer: &Timer) -> anyhow::Result<RestartReport> {
    validate(options)?;
    let env = Environment::capture(options.seed);
    let generation_started = Instant::now();
    let (commands, flow_config) =
        sequenced_commands(options.workload, options.commands, options.seed)?;
    let config = engine_config(flow_config, options.workload, options.max_orders)?;
    let generation_s = generation_started.elapsed().as_secs_f64();

    let run_dir = RunDir::create(options.dir.as_deref(), "restart", options.keep)?;
    let journal_dir = run_dir.subdir("journal")?;
    let snapshot_dir = run_dir.subdir("snapshots")?;
    let filesystem = filesystem_of(&journal_dir);
    let store = SnapshotStore::open(&snapshot_dir)
        .with_context(|| format!("opening {}", snapshot_dir.display()))?;

    let journaled = journal_flow(options, config, &commands, &journal_dir, &store)?;
    let commands_journaled = commands.len() as u64;
    drop(commands);
    let (segments, segment_file_bytes) = files_with_suffix(&journal_dir, ".seg")?;

    let evict = |what: &mut Vec<String>| -> anyhow::Result<()> {
        if options.evict_page_cache {
            let (journal_files, journal_bytes) = evict_from_page_cache(&journal_dir)?;
            let (snapshot_files, snapshot_bytes) = evict_from_page_cache(&snapshot_dir)?;
            what.push(format!(
                "{} files, {} bytes",
                journal_files + snapshot_files,
                group_digits(journal_bytes + snapshot_bytes)
            ));
        }
        Ok(())
    };
    let mut evicted = Vec::new();
    evict(&mut evicted)?;
    let cold = cold_start(config, &journal_dir, &snapshot_dir)?;
    let full = if options.full_replay {
        evict(&mut evicted)?;
        Some(full_replay(config, &journal_dir)?)
    } else {
        None
    };
    let kept_dir = run_dir.finish()?;

    let inputs = ReportInputs {
        env,
        timer,
        commands: commands_journaled,
        config,
        journaled: &journaled,
        cold: &cold,
        full,
        segments,
        segment_file_bytes,
        evicted,
        filesystem,
        kept_dir,
        generation_s,
    };
    Ok(build_report(options, inputs))
}

struct ReportInputs<'a> {
    env: Environment,
    timer: &'a Timer,
    commands: u64,
    config: EngineConfig,
    journaled: &'a Journaled,
    cold: &'a ColdStart,
    full: Option<(f64, u64)>,
    segments: u64,
    segment_file_bytes: u64,
    evicted: Vec<String>,
    filesystem: Option<String>,
    kept_dir: Option<PathBuf>,
    generation_s: f64,
}

fn build_report(options: &RestartOptions, inputs: ReportInputs<'_>) -> RestartReport {
    const GOAL_SECONDS: f64 = 2.0;
    let ReportInputs {
        env,
        timer,
        commands,
        config,
        journaled,
        cold,
        full,
        segments,
        segment_file_bytes,
        evicted,
        filesystem,
        kept_dir,
        generation_s,
    } = inputs;
    let phases = cold.phases;
    let per_second = |count: u64, seconds: f64| {
        if seconds > 0.0 {
            count as f64 / seconds
        } else {
            0.0
        }
    };
    let restored_hash = cold.engine.state_hash();
    let suffix_expected = journaled.last_seq - cold.snapshot_seq;

    let mut counters = Named::new();
    counters.push("commands_journaled", commands);
    counters.push("snapshots_written", journaled.snapshots_written);
    counters.push("snapshot_seq", cold.snapshot_seq);
    counters.push("snapshot_payload_bytes", cold.snapshot_payload_bytes);
    counters.push("suffix_replayed", cold.replayed);
    counters.push("suffix_events", cold.sink.events);
    counters.push("segments", segments);
    counters.push("segment_file_bytes", segment_file_bytes);
    counters.push("journaling_events", journaled.sink.events);
    counters.push("journaling_rejects", journaled.sink.rejects);

    let ok_or = |ok: bool, failure: String| if ok { "ok".to_string() } else { failure };
    let mut checks = Named::new();
    checks.push(
        "state_hash_restored",
        ok_or(
            restored_hash == journaled.state_hash,
            format!(
                "FAILED: restored {restored_hash:#018x}, the journaling engine reached {:#018x}",
                journaled.state_hash
            ),
        ),
    );
    checks.push(
        "recovered_every_record",
        ok_or(
            cold.recovered_records == commands
                && cold.recovered_last_seq == Some(journaled.last_seq)
                && !cold.torn_tail,
            format!(
                "FAILED: recovery found {} records up to {:?} (torn tail: {}), {commands} journaled",
                cold.recovered_records, cold.recovered_last_seq, cold.torn_tail
            ),
        ),
    );
    checks.push(
        "suffix_replayed",
        ok_or(
            cold.replayed == suffix_expected && cold.engine.last_seq() == journaled.last_seq,
            format!(
                "FAILED: {} commands replayed after seq {}, expected {suffix_expected}",
                cold.replayed, cold.snapshot_seq
            ),
        ),
    );
    checks.push(
        "newest_snapshot_valid",
        ok_or(
            cold.snapshots_skipped == 0,
            format!("FAILED: {} newer snapshots skipped", cold.snapshots_skipped),
        ),
    );
    checks.push(
        "validate",
        match cold.engine.validate() {
            Ok(()) => "ok".to_string(),
            Err(message) => format!("FAILED: {message}"),
        },
    );
    checks.push(
        "rejects",
        ok_or(
            journaled.sink.rejects == 0,
            format!(
                "FAILED: the journaling engine rejected {} (is --max-orders {} too small?)",
                journaled.sink.reject_summary(),
                config.max_orders
            ),
        ),
    );
    if let Some((_, full_hash)) = full {
        checks.push(
            "state_hash_full_replay",
            ok_or(
                full_hash == journaled.state_hash,
                format!("FAILED: the full replay reached {full_hash:#018x}"),
            ),
        );
    }

    let page_cache = if options.evict_page_cache {
        format!(
            "evicted before each cold start (posix_fadvise DONTNEED after sync: {})",
            evicted.first().map_or("nothing", String::as_str)
        )
    } else {
        "warm: the journal and snapshots were just written".to_string()
    };
    let fsync = FsyncSetting(options.fsync).to_string();
    let suffix_rate = per_second(cold.replayed, phases.replay);

    let mut notes = vec![
        "ops = commands in the journal; duration = the cold start, from recover to a ready engine; throughput = \
         ops / duration"
            .to_string(),
        format!(
            "snapshots after every {} commands, never after the last: the newest (seq {}) leaves {} commands to \
             replay, the most a snapshot interval can leave",
            group_digits(options.snapshot_every),
            group_digits(cold.snapshot_seq),
            group_digits(cold.replayed)
        ),
        format!(
            "engine sized for {}: max_orders {} (--max-orders to change); the same configuration journals and \
             restores",
            options.workload.name(),
            group_digits(u64::from(config.max_orders))
        ),
        format!("page cache: {page_cache}"),
        format!(
            "{} commands generated in {generation_s:.2} s, then journaled with fsync {fsync} while applied, in \
             {:.2} s ({:.2} s of it writing snapshots)",
            group_digits(commands),
            journaled.seconds,
            journaled.snapshot_write_seconds
        ),
    ];
    if phases.total > GOAL_SECONDS {
        notes.push(format!(
            "the cold start took {:.3} s, over the {GOAL_SECONDS} s goal",
            phases.total
        ));
    }

    let ms = |seconds: f64| format!("{:.1} ms", seconds * 1e3);
    let mut extra_rows = vec![
        (
            "cold start".to_string(),
            format!(
                "{} total: recover {} · snapshot load {} · snapshot restore {} · replay {}",
                ms(phases.total),
                ms(phases.recover),
                ms(phases.snapshot_load),
                ms(phases.snapshot_restore),
                ms(phases.replay)
            ),
        ),
        (
            "suffix replay".to_string(),
            format!(
                "{} commands at {} commands/s (read, deserialize, apply)",
                group_digits(cold.replayed),
                group_digits(suffix_rate.round() as u64)
            ),
        ),
        (
            "journal".to_string(),
            format!(
                "{} segments of {} bytes · {} snapshots · fsync {fsync} · {}",
                segments,
                group_digits(options.segment_bytes),
                journaled.snapshots_written,
                filesystem.as_deref().unwrap_or("file system unknown")
            ),
        ),
    ];
    if let Some((seconds, _)) = full {
        extra_rows.push((
            "without a snapshot".to_string(),
            format!(
                "{} (recover + empty engine + replay of all {} commands)",
                ms(seconds),
                group_digits(commands)
            ),
        ));
    }
    if let Some(dir) = &kept_dir {
        extra_rows.push(("kept".to_string(), dir.display().to_string()));
    }

    let report = Report {
        mode: "restart".to_string(),
        workload: options.workload.name().to_string(),
        ops: commands,
        seconds: phases.total,
        ops_per_sec: per_second(commands, phases.total),
        latency_ns: None,
        latency_sampling: LatencySampling {
            method: "not sampled: the cold start is timed by phase".to_string(),
            every: 0,
            samples: 0,
            timer: timer.describe(),
            timer_overhead_ns: (timer.overhead_ns() * 10.0).round() / 10.0,
            unit: "one cold start to a ready engine".to_string(),
        },
        headline: Some(Headline {
            name: "suffix_replay_per_sec".to_string(),
            value: suffix_rate,
            unit: "commands/s replayed after the snapshot".to_string(),
        }),
        baseline: full.map(|(seconds, _)| Baseline {
            name: "cold start without a snapshot (recover + replay of every command); ops/s = commands \
                   journaled per second of cold start"
                .to_string(),
            ops_per_sec: per_second(commands, seconds),
            latency_ns: None,
        }),
        counters,
        mix: Named::new(),
        checks,
        state_hash: Some(format!("{restored_hash:#018x}")),
        env,
        notes,
        extra_rows,
    };
    RestartReport {
        report,
        phases_seconds: phases,
        goal_seconds: GOAL_SECONDS,
        snapshot_seq: cold.snapshot_seq,
        snapshot_payload_bytes: cold.snapshot_payload_bytes,
        snapshots_written: journaled.snapshots_written,
        suffix_commands: cold.replayed,
        suffix_replay_commands_per_sec: suffix_rate,
        full_replay_seconds: full.map(|(seconds, _)| seconds),
        journaling_seconds: journaled.seconds,
        snapshot_write_seconds: journaled.snapshot_write_seconds,
        fsync,
        page_cache,
        max_orders: config.max_orders,
        filesystem,
        kept_dir: kept_dir.map(|dir| dir.display().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_that_would_take_no_snapshot_are_refused() {
        assert!(validate(&RestartOptions::new(1_000, 1_000)).is_err());
        assert!(validate(&RestartOptions::new(1_000, 0)).is_err());
        assert!(validate(&RestartOptions::new(1_000, 999)).is_ok());
    }
}
