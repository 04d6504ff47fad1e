//! `QueryStage`: the learner's sink. It tails a journal directory (bounded by the writer's watermarks when the
//! writer is in this process), replays every command into its own engine, and writes the events' rows in batches,
//! each batch in one transaction that also moves `progress.applied_seq` to the batch's last command.
//!
//! Exactly-once follows from that transaction: a crash before the commit loses the whole batch and the
//! database's seq still names the last command whose rows are in it; on start the stage rebuilds its engine to
//! that seq (from the journal's start or a snapshot at or before it), writing nothing, and writes from the next
//! command on. A failed transaction keeps the batch in memory and retries it before reading further.

use super::audit;
use super::db::{progress, Batch, Cell, QueryDb, QueryError};
use super::lag::QueryLag;
use super::translate::Translator;
use crate::pipeline::messages::wall_clock_ns;
use crate::pipeline::state_snapshot;
use crossline_engine::{Command, Engine, EngineConfig, Event};
use crossline_journal::{JournalReader, SnapshotStore, Watermarks};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where the stage's engine starts before replaying the journal.
#[derive(Debug, Clone)]
pub enum StartFrom {
    /// An empty engine: the journal must start at sequence number 1.
    Genesis,
    /// The newest valid snapshot in `dir` at or before the database's seq, else an empty engine. `sessions` is the
    /// session ledger's size the snapshots were written with.
    Snapshots { dir: PathBuf, sessions: usize },
}

#[derive(Debug, Clone)]
pub struct QueryStageOptions {
    /// A batch is written once it holds this many commands...
    pub batch_max_commands: usize,
    /// ...or once its first command has waited this long.
    pub batch_max_delay_ms: u64,
    /// An audit snapshot this often; 0: only when asked (`audit_now`).
    pub audit_interval_s: u64,
    pub engine: EngineConfig,
    pub start: StartFrom,
}

/// What `run_to_end` did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplySummary {
    pub commands_read: u64,
    pub commands_written: u64,
    pub rows: u64,
    pub batches: u64,
    pub db_seq: u64,
}

pub struct QueryStage {
    db: Box<dyn QueryDb>,
    engine: Engine,
    reader: JournalReader,
    watermarks: Option<Arc<Watermarks>>,
    translator: Translator,
    batch: Batch,
    /// A batch whose transaction failed, to be written again before anything else is read.
    retry_pending: bool,
    events: Vec<Event>,
    db_seq: u64,
    /// The seq the engine started from (a snapshot's, or 0).
    #[cfg_attr(not(test), allow(dead_code))]
    start_seq: u64,
    batch_opened: Instant,
    last_audit: Instant,
    options: QueryStageOptions,
    lag: Arc<QueryLag>,
    summary: ApplySummary,
}

impl QueryStage {
    /// Opens the stage on a journal directory and a migrated database. With `watermarks` the reader never reads
    /// past the writer's written watermark; without, it trusts checksums (a journal at rest, or another process's).
    pub fn open(
        journal_dir: &Path,
        watermarks: Option<Arc<Watermarks>>,
        mut db: Box<dyn QueryDb>,
        options: QueryStageOptions,
        lag: Arc<QueryLag>,
    ) -> Result<QueryStage, QueryError> {
        if options.batch_max_commands == 0 {
            return Err(QueryError::Invalid(String::from(
                "batch_max_commands must be at least 1",
            )));
        }
        let (db_seq, db_timestamp_ns) = progress(db.as_mut())?;
        let engine = start_engine(&options, db_seq)?;
        let start_seq = engine.last_seq();
        let reader = match &watermarks {
            Some(watermarks) => {
                JournalReader::open_tailing(journal_dir, Arc::clone(watermarks), start_seq + 1)
                    .map_err(|e| e.to_string())
            }
            None => JournalReader::open(journal_dir)
                .map_err(|e| e.to_string())
                .and_then(|mut reader| {
                    reader.seek(start_seq + 1).map_err(|e| e.to_string())?;
                    Ok(reader)
                }),
        }
        .map_err(|error| {
            QueryError::Journal(format!(
                "{}: reading from seq {} (the database is at {db_seq}): {error}",
                journal_dir.display(),
                start_seq + 1
            ))
        })?;
        let mut translator = Translator::new(&engine);
        let accounts = db.select("SELECT account_id, fee_tier FROM accounts", &[])?;
        for row in &accounts.rows {
            if let (Some(account), Some(tier)) = (
                row.first().and_then(Cell::int),
                row.get(1).and_then(Cell::int),
            ) {
                translator
                    .account_fee_tier
                    .insert(account as u32, tier as u32);
            }
        }
        lag.db_seq.store(db_seq, Ordering::Release);
        if let Some(watermarks) = &watermarks {
            lag.journal_written_seq
                .store(watermarks.written_seq(), Ordering::Release);
        }
        let batch = Batch {
            last_seq: db_seq,
            last_timestamp_ns: db_timestamp_ns,
            ..Batch::default()
        };
        Ok(QueryStage {
            db,
            engine,
            reader,
            watermarks,
            translator,
            batch,
            retry_pending: false,
            events: Vec::with_capacity(4096),
            db_seq,
            start_seq,
            batch_opened: Instant::now(),
            last_audit: Instant::now(),
            options,
            lag,
            summary: ApplySummary {
                db_seq,
                ..ApplySummary::default()
            },
        })
    }

    pub fn db_seq(&self) -> u64 {
        self.db_seq
    }

    #[cfg(test)]
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The seq the replay started from: a snapshot's, or 0.
    #[cfg(test)]
    pub fn start_seq(&self) -> u64 {
        self.start_seq
    }

    pub fn db(&mut self) -> &mut dyn QueryDb {
        self.db.as_mut()
    }

    /// Reads and applies up to one batch of commands, writing the batch when it is full or old enough and taking
    /// an audit snapshot when one is due. Returns the commands read (0: nothing new in the journal).
    pub fn poll(&mut self) -> Result<usize, QueryError> {
        if self.retry_pending {
            self.write_batch()?;
        }
        if let Some(watermarks) = &self.watermarks {
            self.lag
                .journal_written_seq
                .store(watermarks.written_seq(), Ordering::Release);
        }
        let mut read = 0;
        while read < self.options.batch_max_commands {
            let command = match self.reader.next_record() {
                Ok(Some(record)) => rkyv::deserialize::<Command, rkyv::rancor::Error>(
                    record.command,
                )
                .map_err(|error| QueryError::Journal(format!("record {}: {error}", record.seq)))?,
                Ok(None) => break,
                Err(error) => return Err(QueryError::Journal(error.to_string())),
            };
            let expected = self.engine.last_seq() + 1;
            if command.seq != expected {
                return Err(QueryError::Journal(format!(
                    "expected seq {expected}, the journal gave {}",
                    command.seq
                )));
            }
            self.events.clear();
            self.engine.apply(&command, &mut self.events);
            read += 1;
            self.summary.commands_read += 1;
            if command.seq <= self.db_seq {
                self.translator
                    .observe(&self.engine, &command, &self.events);
                continue;
            }
            if self.batch.commands == 0 {
                self.batch_opened = Instant::now();
                self.lag
                    .oldest_pending_timestamp_ns
                    .store(command.timestamp_ns.max(1), Ordering::Release);
            }
            self.translator
                .translate(&self.engine, &command, &self.events, &mut self.batch);
            self.batch.commands += 1;
            self.batch.last_seq = command.seq;
            self.batch.last_timestamp_ns = command.timestamp_ns;
            if self.batch.commands as usize >= self.options.batch_max_commands {
                self.flush(false)?;
                break;
            }
        }
        if self.watermarks.is_none() {
            let seen = self.engine.last_seq();
            self.lag
                .journal_written_seq
                .fetch_max(seen, Ordering::AcqRel);
        }
        if self.batch.commands > 0
            && self.batch_opened.elapsed() >= Duration::from_millis(self.options.batch_max_delay_ms)
        {
            self.flush(false)?;
        }
        if self.options.audit_interval_s > 0
            && self.last_audit.elapsed() >= Duration::from_secs(self.options.audit_interval_s)
            && self.engine.last_seq() >= self.db_seq
        {
            self.audit_now()?;
        }
        Ok(read)
    }

    /// Writes the pending batch, if any, with an audit snapshot of the engine's state at its last seq when
    /// `audit` is set.
    fn flush(&mut self, audit: bool) -> Result<(), QueryError> {
        self.translator.flush_candles(&mut self.batch);
        if audit {
            audit::append_snapshot(&self.engine, &mut self.batch, wall_clock_ns());
        }
        self.write_batch()
    }

    fn write_batch(&mut self) -> Result<(), QueryError> {
        if let Err(error) = self.db.write_batch(&self.batch) {
            self.retry_pending = true;
            self.lag.write_errors.fetch_add(1, Ordering::AcqRel);
            return Err(error);
        }
        self.retry_pending = false;
        self.db_seq = self.batch.last_seq;
        self.summary.db_seq = self.db_seq;
        self.summary.batches += 1;
        self.summary.rows += self.batch.rows() as u64;
        self.summary.commands_written += self.batch.commands;
        let lag = &self.lag;
        lag.db_seq.store(self.db_seq, Ordering::Release);
        lag.oldest_pending_timestamp_ns.store(0, Ordering::Release);
        lag.last_commit_wall_ns
            .store(wall_clock_ns(), Ordering::Release);
        lag.batches.fetch_add(1, Ordering::AcqRel);
        lag.rows
            .fetch_add(self.batch.rows() as u64, Ordering::AcqRel);
        lag.commands
            .fetch_add(self.batch.commands, Ordering::AcqRel);
        self.batch.clear();
        Ok(())
    }

    /// Writes what is pending together with a consistent snapshot of every balance and open order at the engine's
    /// seq, in one transaction, then checks the database's balances at that seq against the engine's. Returns the
    /// seq of the snapshot. Refused while the engine is still replaying up to the database's seq.
    pub fn audit_now(&mut self) -> Result<audit::AuditCheck, QueryError> {
        if self.retry_pending {
            self.write_batch()?;
        }
        let seq = self.engine.last_seq();
        if seq < self.db_seq {
            return Err(QueryError::Invalid(format!(
                "the engine is at seq {seq}, still replaying up to the database's {}",
                self.db_seq
            )));
        }
        self.last_audit = Instant::now();
        if !audit::exists(self.db.as_mut(), seq)? {
            self.flush(true)?;
            self.lag.audits.fetch_add(1, Ordering::AcqRel);
        } else if self.batch.commands > 0 {
            self.flush(false)?;
        }
        let check = audit::check(self.db.as_mut(), seq, &self.engine)?;
        if !check.mismatches.is_empty() {
            self.lag
                .audit_mismatches
                .fetch_add(check.mismatches.len() as u64, Ordering::AcqRel);
        }
        Ok(check)
    }

    /// Reads the journal to its end and writes everything: for a journal at rest (`crossline query apply`, tests,
    /// the benchmark). `after_batch` hears the database's seq after each poll.
    pub fn run_to_end(
        &mut self,
        mut after_batch: impl FnMut(u64),
    ) -> Result<ApplySummary, QueryError> {
        loop {
            let read = self.poll()?;
            after_batch(self.db_seq);
            if read == 0 {
                break;
            }
        }
        if self.batch.commands > 0 {
            self.flush(false)?;
            after_batch(self.db_seq);
        }
        if self.engine.last_seq() < self.db_seq {
            return Err(QueryError::Journal(format!(
                "the journal ends at seq {} but the database is at {}: it belongs to another journal",
                self.engine.last_seq(),
                self.db_seq
            )));
        }
        Ok(self.summary)
    }

    /// The learner's loop: follows the journal until `stop`, then writes what is pending and returns. A failed
    /// transaction is retried after a pause; any other error ends the loop.
    pub fn run(mut self, stop: &AtomicBool) -> Result<ApplySummary, QueryError> {
        let idle = Duration::from_millis(self.options.batch_max_delay_ms.clamp(1, 10));
        loop {
            match self.poll() {
                Ok(0) => {
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    std::thread::sleep(idle);
                }
                Ok(_) => {}
                Err(error) if self.retry_pending => {
                    if stop.load(Ordering::Acquire) {
                        return Err(error);
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(error) => return Err(error),
            }
        }
        if self.batch.commands > 0 || self.retry_pending {
            if self.retry_pending {
                self.write_batch()?;
            } else {
                self.flush(false)?;
            }
        }
        Ok(self.summary)
    }
}

/// The engine the replay starts from: the newest valid snapshot at or before `db_seq`, else an empty engine.
fn start_engine(options: &QueryStageOptions, db_seq: u64) -> Result<Engine, QueryError> {
    let empty = || {
        Engine::new(options.engine)
            .map_err(|error| QueryError::Invalid(format!("engine configuration: {error}")))
    };
    let StartFrom::Snapshots { dir, sessions } = &options.start else {
        return empty();
    };
    if !dir.is_dir() {
        return empty();
    }
    let store = SnapshotStore::open(dir).map_err(|e| QueryError::Journal(e.to_string()))?;
    let mut candidates = store
        .list()
        .map_err(|e| QueryError::Journal(e.to_string()))?;
    candidates.sort_by_key(|info| std::cmp::Reverse(info.seq));
    for info in candidates.iter().filter(|info| info.seq <= db_seq) {
        let Ok(loaded) = store.load(info) else {
            continue;
        };
        if let Ok((engine, _ledger)) =
            state_snapshot::decode(loaded.payload(), options.engine, *sessions)
        {
            return Ok(engine);
        }
    }
    empty()
}
