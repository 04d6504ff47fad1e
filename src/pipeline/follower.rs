//! The journal follower: a second engine that tails the journal off the hot path. It serves every read-only
//! view (book depth, trades, candles, state hash) and takes the periodic snapshots, so the matcher never pauses
//! for either. Standbys and learners run the same loop on a replicated journal.

use super::idle::Idle;
use super::ledger::SessionLedger;
use super::state_snapshot;
use crate::metrics::{self, Metrics};
use crossline_engine::{Command, Engine, Event};
use crossline_journal::{JournalReader, SnapshotStore, Watermarks};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Something that wants every applied command and its events (market views, the query side).
pub trait ApplyObserver: Send {
    fn on_applied(&mut self, command: &Command, events: &[Event]);
}

impl ApplyObserver for () {
    fn on_applied(&mut self, _command: &Command, _events: &[Event]) {}
}

/// The follower's state, behind one mutex shared with the admin server's readers.
pub struct FollowerState<O> {
    pub engine: Engine,
    pub ledger: SessionLedger,
    pub observer: O,
    /// Sequence number of the last command applied.
    pub applied_seq: u64,
}

/// Records applied per lock of the state and per turn on the core, at most: readers wait no longer than one such
/// batch, and a follower with a backlog gives its core back after each (`background::end_turn`), about 20 us of
/// work at this size.
const APPLY_BATCH_MAX: usize = 64;

/// A follower this many records or more behind the journal keeps its core until it is closer: short turns must not
/// let the read-only views fall far behind on a box whose other threads never yield (at 100,000 orders/s, about
/// 80 ms of the journal).
const KEEP_CORE_BEHIND_RECORDS: u64 = 8_192;

pub struct Follower<O> {
    pub state: Arc<Mutex<FollowerState<O>>>,
    pub reader: JournalReader,
    pub watermarks: Arc<Watermarks>,
    /// Snapshots only cover records synced to disk, unless the journal never syncs.
    pub snapshot_needs_durable: bool,
    pub snapshots: Option<SnapshotStore>,
    pub snapshot_interval: Option<Duration>,
    pub snapshots_kept: usize,
    pub metrics: Arc<Metrics>,
    /// `engine_done` (the journal is closed) means: catch up, snapshot, stop.
    pub lifecycle: Arc<super::Lifecycle>,
    pub idle: Idle,
    /// Why the follower stopped early (a journal it cannot read).
    pub error: Option<String>,
}

impl<O: ApplyObserver> Follower<O> {
    pub fn run(mut self) -> Self {
        let mut events = Vec::with_capacity(4096);
        let mut last_snapshot = Instant::now();
        loop {
            let done = self.lifecycle.engine_done.load(Ordering::Acquire);
            let (applied, applied_seq) = match self.apply_some(&mut events) {
                Ok(progress) => progress,
                Err(error) => {
                    self.error = Some(error);
                    break;
                }
            };
            if let Some(interval) = self.snapshot_interval {
                // A failed write (a full disk) is tried again one interval later, not on every pass.
                if last_snapshot.elapsed() >= interval && self.snapshot_now() != SnapshotTry::NotYet
                {
                    last_snapshot = Instant::now();
                }
            }
            if applied == 0 {
                if done {
                    break;
                }
                self.idle.idle();
            } else {
                self.idle.reset();
                let behind = self.watermarks.written_seq().saturating_sub(applied_seq);
                if applied == APPLY_BATCH_MAX && behind < KEEP_CORE_BEHIND_RECORDS {
                    super::background::end_turn();
                }
            }
        }
        if self.error.is_none() && self.snapshots.is_some() {
            self.snapshot_now();
        }
        self
    }

    /// Applies up to `APPLY_BATCH_MAX` records: how many, and the sequence number of the last applied so far.
    fn apply_some(&mut self, events: &mut Vec<Event>) -> Result<(usize, u64), String> {
        let Ok(mut state) = self.state.lock() else {
            return Err(String::from("follower state lock poisoned"));
        };
        let mut applied = 0;
        while applied < APPLY_BATCH_MAX {
            let record = match self.reader.next_record() {
                Ok(Some(record)) => record,
                Ok(None) => break,
                Err(error) => return Err(format!("journal follower: {error}")),
            };
            let command = rkyv::deserialize::<Command, rkyv::rancor::Error>(record.command)
                .map_err(|error| format!("journal follower: record {}: {error}", record.seq))?;
            events.clear();
            state.ledger.on_command(&command.body);
            state.engine.apply(&command, events);
            for event in events.iter() {
                state.ledger.on_event(event);
            }
            state.observer.on_applied(&command, events);
            state.applied_seq = command.seq;
            applied += 1;
        }
        if applied > 0 {
            metrics::set(&self.metrics.follower.applied_seq, state.applied_seq);
        }
        Ok((applied, state.applied_seq))
    }

    /// Takes a snapshot if the applied state is covered by what is on disk.
    fn snapshot_now(&mut self) -> SnapshotTry {
        let Some(store) = self.snapshots.as_ref() else {
            return SnapshotTry::NotYet;
        };
        let started = Instant::now();
        let (seq, payload, hash) = {
            let Ok(state) = self.state.lock() else {
                return SnapshotTry::NotYet;
            };
            if state.applied_seq == 0 {
                return SnapshotTry::NotYet;
            }
            if self.snapshot_needs_durable && state.applied_seq > self.watermarks.durable_seq() {
                return SnapshotTry::NotYet;
            }
            (
                state.applied_seq,
                state_snapshot::encode(&state.engine, &state.ledger),
                state.engine.state_hash(),
            )
        };
        if let Err(error) = store.write(seq, &payload) {
            metrics::bump(&self.metrics.follower.snapshot_failures);
            // Once per interval at most; the journal still holds everything, so only the restart time grows.
            eprintln!("crossline: snapshot at seq {seq} not written: {error}");
            return SnapshotTry::Failed;
        }
        if let Ok(mut list) = store.list() {
            list.sort_by_key(|info| std::cmp::Reverse(info.seq));
            for old in list.iter().skip(self.snapshots_kept) {
                let _ = std::fs::remove_file(&old.path);
            }
        }
        let m = &self.metrics.follower;
        metrics::bump(&m.snapshots);
        metrics::set(&m.last_snapshot_seq, seq);
        metrics::set(&m.state_hash, hash);
        metrics::set(&m.last_snapshot_ms, started.elapsed().as_millis() as u64);
        SnapshotTry::Written
    }
}

/// What one attempt at a periodic snapshot came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SnapshotTry {
    Written,
    /// Nothing to take yet (no state, or not yet durable); try again on the next pass.
    NotYet,
    /// The write failed (a full disk, say); try again after the interval.
    Failed,
}
