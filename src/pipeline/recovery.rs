//! Start-up: open the journal (its recovery truncates a torn tail), load the newest valid snapshot that the
//! journal covers, replay the journal after it, and hand every replayed event to the caller so that the
//! gateway's session stores hold what clients may ask to have replayed.

use super::ledger::SessionLedger;
use super::state_snapshot;
use crossline_engine::{Command, Engine, EngineConfig, Event};
use crossline_journal::{
    FsyncPolicy, JournalConfig, JournalReader, JournalWriter, RecoveryReport, SnapshotStore,
};
use std::path::Path;
use std::time::{Duration, Instant};

/// What start-up found and did.
#[derive(Debug)]
pub struct RecoverySummary {
    pub journal: RecoveryReport,
    /// The snapshot started from, if any.
    pub snapshot_seq: Option<u64>,
    /// Snapshots passed over, and why.
    pub skipped_snapshots: Vec<String>,
    pub replayed_commands: u64,
    pub elapsed: Duration,
}

pub struct Recovered {
    pub engine: Engine,
    pub ledger: SessionLedger,
    pub journal: JournalWriter,
    pub summary: RecoverySummary,
}

pub struct RecoveryInput<'a> {
    pub journal_dir: &'a Path,
    pub snapshot_dir: &'a Path,
    pub journal: JournalConfig,
    pub engine: EngineConfig,
    pub sessions: usize,
    /// Start from a snapshot at least this many commands before the journal's end when the journal allows it,
    /// so that the replay refills the sessions' replay stores (a restart then serves logins asking for old
    /// sequence numbers). Zero: the newest snapshot.
    pub replay_min_commands: u64,
    /// Replay no further than this seq, and keep the journal's readers from seeing past it until it is raised (a
    /// replica's journal holds records it accepted that the cluster may not have committed). `None`: the whole
    /// journal.
    pub replay_through: Option<u64>,
}

/// Who wants to hear about the recovery as it goes.
pub trait RecoveryObserver {
    /// The state the replay starts from: a snapshot's, or an empty engine's.
    fn on_start(&mut self, engine: &Engine, ledger: &SessionLedger);
    /// One event of a replayed command.
    fn on_event(&mut self, command: &Command, event: &Event);
}

/// Recovers the appliance's state, telling `observer` where the replay starts and every event it produces.
pub fn recover(
    input: &RecoveryInput<'_>,
    observer: &mut impl RecoveryObserver,
) -> anyhow::Result<Recovered> {
    use anyhow::Context;
    let started = Instant::now();
    std::fs::create_dir_all(input.journal_dir)
        .with_context(|| format!("creating {}", input.journal_dir.display()))?;
    std::fs::create_dir_all(input.snapshot_dir)
        .with_context(|| format!("creating {}", input.snapshot_dir.display()))?;
    let (journal, report) = JournalWriter::open(input.journal_dir, input.journal)
        .with_context(|| format!("opening the journal in {}", input.journal_dir.display()))?;
    // An empty journal may start after seq 1 (restarted after a replicated snapshot was installed).
    let mut last_seq = journal.next_seq() - 1;
    if let Some(through) = input.replay_through {
        last_seq = last_seq.min(through);
        journal.watermarks().limit_visibility(last_seq);
    }

    let store = SnapshotStore::open(input.snapshot_dir)
        .with_context(|| format!("opening snapshots in {}", input.snapshot_dir.display()))?;
    let mut candidates = store.list().context("listing snapshots")?;
    candidates.sort_by_key(|info| std::cmp::Reverse(info.seq));
    let first_in_journal = report.first_seq.unwrap_or(journal.next_seq());
    // A snapshot the journal continues from (its next seq is in the journal or just past its end).
    let continues = |seq: u64| seq + 1 >= first_in_journal && seq <= last_seq;
    let horizon = last_seq.saturating_sub(input.replay_min_commands);
    let full_replay_possible = first_in_journal <= 1;
    // Preferred: snapshots behind the horizon; when the journal starts at 1, an empty engine beats any newer
    // snapshot; otherwise the newest snapshot the journal continues from.
    let preferred: Vec<_> = candidates
        .iter()
        .filter(|info| continues(info.seq) && info.seq <= horizon)
        .cloned()
        .collect();
    let fallback: Vec<_> = if full_replay_possible {
        Vec::new()
    } else {
        candidates
            .iter()
            .filter(|info| continues(info.seq) && info.seq > horizon)
            .cloned()
            .collect()
    };
    let mut skipped = Vec::new();
    let mut start = None;
    for info in preferred.into_iter().chain(fallback) {
        if info.seq > last_seq {
            skipped.push(format!(
                "{}: seq {} is past the journal's last record {last_seq}",
                info.path.display(),
                info.seq
            ));
            continue;
        }
        match store.load(&info) {
            Ok(loaded) => {
                match state_snapshot::decode(loaded.payload(), input.engine, input.sessions) {
                    Ok((engine, ledger)) => {
                        start = Some((info.seq, engine, ledger));
                        break;
                    }
                    Err(error) => skipped.push(format!("{}: {error}", info.path.display())),
                }
            }
            Err(error) => skipped.push(format!("{}: {error}", info.path.display())),
        }
    }
    let (snapshot_seq, mut engine, mut ledger) = match start {
        Some((seq, engine, ledger)) => (Some(seq), engine, ledger),
        None => (
            None,
            Engine::new(input.engine).map_err(|error| anyhow::anyhow!("engine: {error}"))?,
            SessionLedger::new(input.sessions),
        ),
    };

    observer.on_start(&engine, &ledger);
    let from_seq = snapshot_seq.map_or(1, |seq| seq + 1);
    if from_seq < first_in_journal && last_seq > 0 {
        anyhow::bail!(
            "the journal starts at seq {first_in_journal} but no usable snapshot covers seq {}: \
             cannot rebuild the state (snapshots skipped: {})",
            from_seq,
            if skipped.is_empty() {
                String::from("none")
            } else {
                skipped.join("; ")
            }
        );
    }
    let mut replayed = 0u64;
    if last_seq >= from_seq {
        replayed = replay(
            input.journal_dir,
            &mut engine,
            &mut ledger,
            last_seq,
            &mut |command, event| observer.on_event(command, event),
        )?;
    }
    // The preparer has made the next segment during the replay; a short replay leaves it the rest to finish here,
    // before the first order, rather than beside the gateway's first seconds of trading.
    journal.wait_for_next_segment();
    Ok(Recovered {
        engine,
        ledger,
        journal,
        summary: RecoverySummary {
            journal: report,
            snapshot_seq,
            skipped_snapshots: skipped,
            replayed_commands: replayed,
            elapsed: started.elapsed(),
        },
    })
}

/// The engine and ledger exactly as of `seq`: the newest valid snapshot at or before it, then the journal up to
/// it. Reads a live journal safely (length words and checksums), so it runs beside the writer.
pub fn state_at(
    journal_dir: &Path,
    snapshot_dir: &Path,
    engine_config: EngineConfig,
    sessions: usize,
    seq: u64,
) -> anyhow::Result<(Engine, SessionLedger)> {
    use anyhow::Context;
    let store = SnapshotStore::open(snapshot_dir)
        .with_context(|| format!("opening snapshots in {}", snapshot_dir.display()))?;
    let mut candidates = store.list().context("listing snapshots")?;
    candidates.retain(|info| info.seq <= seq);
    candidates.sort_by_key(|info| std::cmp::Reverse(info.seq));
    let mut start = None;
    for info in candidates {
        let Ok(loaded) = store.load(&info) else {
            continue;
        };
        if let Ok(state) = state_snapshot::decode(loaded.payload(), engine_config, sessions) {
            start = Some(state);
            break;
        }
    }
    let (mut engine, mut ledger) = match start {
        Some(state) => state,
        None => (
            Engine::new(engine_config).map_err(|error| anyhow::anyhow!("engine: {error}"))?,
            SessionLedger::new(sessions),
        ),
    };
    if engine.last_seq() < seq {
        replay(journal_dir, &mut engine, &mut ledger, seq, &mut |_, _| {})?;
        if engine.last_seq() < seq {
            anyhow::bail!(
                "the journal ends at seq {} before seq {seq}",
                engine.last_seq()
            );
        }
    }
    Ok((engine, ledger))
}

/// Applies the journal's records after the engine's last seq, up to `until` (or the end), to the engine and the
/// ledger, handing each event to `on_event`. Returns the number of records applied.
fn replay(
    journal_dir: &Path,
    engine: &mut Engine,
    ledger: &mut SessionLedger,
    until: u64,
    on_event: &mut dyn FnMut(&Command, &Event),
) -> anyhow::Result<u64> {
    use anyhow::Context;
    let mut reader = JournalReader::open(journal_dir).context("reading the journal")?;
    reader
        .seek(engine.last_seq() + 1)
        .context("seeking the journal")?;
    let mut events = Vec::with_capacity(1024);
    let mut replayed = 0;
    while engine.last_seq() < until {
        let Some(record) = reader.next_record().context("replaying the journal")? else {
            break;
        };
        let command = rkyv::deserialize::<Command, rkyv::rancor::Error>(record.command)
            .with_context(|| format!("journal record {}", record.seq))?;
        events.clear();
        ledger.on_command(&command.body);
        engine.apply(&command, &mut events);
        for event in &events {
            ledger.on_event(event);
            on_event(&command, event);
        }
        replayed += 1;
    }
    Ok(replayed)
}

/// The journal configuration for a fsync choice.
pub fn fsync_policy(choice: crate::config::FsyncChoice, interval_ms: u32) -> FsyncPolicy {
    match choice {
        crate::config::FsyncChoice::None => FsyncPolicy::None,
        crate::config::FsyncChoice::Interval => FsyncPolicy::IntervalMs(interval_ms),
        crate::config::FsyncChoice::Batch => FsyncPolicy::EveryBatch,
    }
}
