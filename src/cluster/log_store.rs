//! Raft's log (`RaftLogStorage`) as a thin index over the journal: the journal holds the records, this store holds
//! which Raft entry carries which of them.
//!
//! `raft-index`: one record per entry, `[u32 LE body length][u32 LE crc32c(body)][body = bincode(IndexRecord)]`: the
//! log id and either a seq range of the journal (a batch of records), a membership or a blank, about 40 bytes an
//! entry whatever the batch's size. Opening reads records up to the first that is short or fails its checksum and
//! cuts the file there (a torn append; it was never acknowledged if `log_fsync` is on), then drops entries whose
//! records the journal does not hold (possible only if the journal lost records it had not synced, which were
//! never acknowledged either). Purged entries are dropped from the file when they make up most of it (rewritten to
//! a temporary name, synced, renamed).
//!
//! An append puts a follower's records into its journal (`JournalSlot::append_batch`; a leader's are there
//! already, its engine wrote them before they were proposed), then the index records into the file. A flusher
//! thread syncs the journal through the entries' last seq and the index file, once for every append waiting
//! (group commit), and then tells openraft the entries are flushed: an fsync never blocks openraft's core task,
//! which also drives heartbeats and elections. A truncation cuts the journal after the last record the log keeps.
//!
//! The entries after the purge point are also held in memory with their records (`Arc`-shared batches, read back
//! from the journal at start-up), so that replicating them to a follower costs no read.
//!
//! `raft-meta`: bincode of `Meta` + crc32c, written to a temporary file, synced and renamed, on every vote change
//! and purge; a committed-log-id change is written with it (and on its own, by the flusher thread, at most every
//! `COMMITTED_SYNC_EVERY`): a stale committed id is safe, it only makes a restart replay less and receive more.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use crossline_journal::JournalSync;
use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    BasicNode, EntryPayload, LogState, Membership, OptionalSend, RaftLogReader, StorageIOError,
};
use serde::{Deserialize, Serialize};

use super::journal_slot::JournalSlot;
use super::types::{Entry, LogId, NodeId, StorageError, TypeConfig, Vote};

const INDEX_FILE: &str = "raft-index";
const META_FILE: &str = "raft-meta";
const RECORD_HEADER_BYTES: u64 = 8;
const COMMITTED_SYNC_EVERY: Duration = Duration::from_millis(100);
/// Purged bytes at the head of the index file before it is rewritten.
const COMPACT_AFTER_BYTES: u64 = 4 << 20;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Meta {
    vote: Option<Vote>,
    committed: Option<LogId>,
    last_purged: Option<LogId>,
    /// Seq of the last journal record in an entry up to `last_purged`.
    last_purged_seq: u64,
}

/// What an index record says an entry carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
enum Carried {
    Blank,
    Membership(Membership<NodeId, BasicNode>),
    /// The journal records `first_seq ..= first_seq + count - 1`.
    Records {
        first_seq: u64,
        count: u64,
    },
}

/// One entry of the index file.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct IndexRecord {
    log_id: LogId,
    /// Seq of the last journal record carried by this entry or an earlier one.
    last_seq: u64,
    carried: Carried,
}

/// An entry held in memory.
#[derive(Debug, Clone)]
struct Held {
    entry: Entry,
    last_seq: u64,
    /// Offset of its record in the index file.
    offset: u64,
}

/// Work for the flusher thread, done in order.
enum Job {
    /// Sync the journal through `seq` and the index file, then report the appended entries flushed.
    Sync {
        file: Arc<File>,
        journal: JournalSync,
        seq: u64,
        callback: LogFlushed<TypeConfig>,
    },
    /// Persist the current metadata (the committed log id moved).
    Meta,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    file: Arc<File>,
    /// The flusher thread: syncs appended entries (group commit) and lazily persists the committed log id, so
    /// that neither blocks openraft's core task (which also sends the heartbeats).
    flusher: mpsc::Sender<Job>,
    file_len: u64,
    entries: BTreeMap<u64, Held>,
    meta: Meta,
    meta_written: Instant,
    fsync: bool,
}

/// Raft's log for one node. Clones share the same log (one is the `LogReader`).
#[derive(Debug, Clone)]
pub struct LogStore {
    inner: Arc<Mutex<Inner>>,
    journal: Arc<Mutex<JournalSlot>>,
    /// Held while the metadata file is written, so that writes land in the order of the states they carry.
    meta_lock: Arc<Mutex<()>>,
    /// Seq of the last record in the log (0: none), for the replicator of a new leader.
    last_seq: Arc<AtomicU64>,
    /// Bytes appended to the index file since start, for measurements.
    appended_bytes: Arc<AtomicU64>,
}

/// What a node's Raft state says about its journal, read before the journal is opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogBounds {
    /// Seq of the last record the log carries (committed or not): the journal holds nothing of the cluster's
    /// after it.
    pub last_seq: u64,
    /// Seq of the last record this node knows committed (the persisted commit point lags the real one).
    pub committed_seq: u64,
}

fn io_err(context: &str, path: &Path, err: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("{context} {}: {err}", path.display()))
}

fn write_err(err: io::Error) -> StorageError {
    StorageIOError::write_logs(&err).into()
}

/// An index file as read: its valid records with their offsets, the length of the valid prefix, the file's length.
struct IndexFile {
    records: Vec<(IndexRecord, u64)>,
    valid_len: u64,
    file_len: u64,
}

/// Reads the index file up to its first torn or damaged record.
fn read_index(path: &Path) -> io::Result<IndexFile> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut file) => {
            file.read_to_end(&mut bytes)?;
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(err),
    }
    let mut records = Vec::new();
    let mut offset = 0u64;
    while let Some((record, next)) = decode_record(&bytes, offset as usize) {
        records.push((record, offset));
        offset = next as u64;
    }
    Ok(IndexFile {
        records,
        valid_len: offset,
        file_len: bytes.len() as u64,
    })
}

/// The entries after the purge point, in index order: a record appended after a truncation replaces the
/// truncated ones (the truncation cut the file, so this only matters for a file written by a crashed truncate).
fn live_records(
    records: Vec<(IndexRecord, u64)>,
    meta: &Meta,
) -> BTreeMap<u64, (IndexRecord, u64)> {
    let mut live = BTreeMap::new();
    for (record, offset) in records {
        let index = record.log_id.index;
        if meta.last_purged.is_none_or(|purged| index > purged.index) {
            live.split_off(&index);
            live.insert(index, (record, offset));
        }
    }
    live
}

/// Reads a node's log bounds from `raft_dir` (no journal needed). `snapshot_seq` is what its Raft snapshot covers.
pub fn log_bounds(raft_dir: &Path, snapshot_seq: u64) -> io::Result<LogBounds> {
    let meta = read_meta(raft_dir)?;
    let live = live_records(read_index(&raft_dir.join(INDEX_FILE))?.records, &meta);
    let last_seq = live
        .values()
        .next_back()
        .map_or(meta.last_purged_seq, |(record, _)| record.last_seq)
        .max(snapshot_seq);
    let committed_seq = match meta.committed {
        None => 0,
        Some(committed) => live
            .range(..=committed.index)
            .next_back()
            .map_or(meta.last_purged_seq, |(_, (record, _))| record.last_seq),
    }
    .max(snapshot_seq)
    .min(last_seq);
    Ok(LogBounds {
        last_seq,
        committed_seq,
    })
}

impl LogStore {
    /// Opens (or creates) the index in `dir` over `journal`, cutting a torn tail and any entry whose records the
    /// journal does not hold.
    pub fn open(dir: &Path, fsync: bool, journal: Arc<Mutex<JournalSlot>>) -> io::Result<LogStore> {
        fs::create_dir_all(dir)?;
        let meta = read_meta(dir)?;
        let path = dir.join(INDEX_FILE);
        let IndexFile {
            records,
            mut valid_len,
            file_len,
        } = read_index(&path)?;
        let live = live_records(records, &meta);
        let mut entries = BTreeMap::new();
        {
            let slot = journal.lock().unwrap_or_else(|p| p.into_inner());
            let journal_last = slot.last_seq();
            let mut reader = None;
            for (index, (record, offset)) in live {
                let payload = match record.carried {
                    Carried::Blank => EntryPayload::Blank,
                    Carried::Membership(membership) => EntryPayload::Membership(membership),
                    Carried::Records { first_seq, count } => {
                        let last = first_seq + count - 1;
                        if last > journal_last {
                            // The journal lost records it had not synced; nor was this entry acknowledged.
                            valid_len = offset;
                            break;
                        }
                        if first_seq < slot.first_seq {
                            // Covered by a snapshot the journal restarted after: as good as purged.
                            continue;
                        }
                        EntryPayload::Normal(
                            slot.read_batch(&mut reader, first_seq, last)
                                .map_err(|err| {
                                    io_err("index entry", &path, format!("{index}: {err}"))
                                })?,
                        )
                    }
                };
                entries.insert(
                    index,
                    Held {
                        entry: Entry {
                            log_id: record.log_id,
                            payload,
                        },
                        last_seq: record.last_seq,
                        offset,
                    },
                );
            }
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        if valid_len < file_len {
            file.set_len(valid_len)?;
            file.sync_all()?;
        }
        file.seek(SeekFrom::Start(valid_len))?;
        let (flusher, jobs) = mpsc::channel();
        let store = LogStore {
            meta_lock: Arc::new(Mutex::new(())),
            inner: Arc::new(Mutex::new(Inner {
                dir: dir.to_path_buf(),
                file: Arc::new(file),
                flusher,
                file_len: valid_len,
                entries,
                meta,
                meta_written: Instant::now(),
                fsync,
            })),
            journal,
            last_seq: Arc::new(AtomicU64::new(0)),
            appended_bytes: Arc::new(AtomicU64::new(0)),
        };
        {
            let inner = store.lock();
            store.refresh_last_seq(&inner);
        }
        let weak = Arc::downgrade(&store.inner);
        let meta_lock = Arc::clone(&store.meta_lock);
        std::thread::Builder::new()
            .name("raft-log-flusher".into())
            .spawn(move || run_flusher(jobs, weak, meta_lock))?;
        Ok(store)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn journal(&self) -> MutexGuard<'_, JournalSlot> {
        self.journal
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Seq of the last journal record carried by the log (the purge point's, or 0, if no entry carries one).
    pub fn last_seq(&self) -> u64 {
        self.last_seq.load(Ordering::Acquire)
    }

    /// Bytes appended to the index file since start.
    pub fn appended_bytes(&self) -> u64 {
        self.appended_bytes.load(Ordering::Relaxed)
    }

    /// Puts `entries`' records into the journal where they are not yet, then their index records into the file
    /// (not synced). Returns the seq the journal must be synced through.
    pub fn write_entries(&self, entries: impl IntoIterator<Item = Entry>) -> io::Result<u64> {
        let mut inner = self.lock();
        let mut bytes = Vec::new();
        let mut placed = Vec::new();
        let mut last_seq = inner.last_seq();
        {
            let mut journal = self.journal();
            for entry in entries {
                let carried = match &entry.payload {
                    EntryPayload::Blank => Carried::Blank,
                    EntryPayload::Membership(membership) => Carried::Membership(membership.clone()),
                    EntryPayload::Normal(batch) => {
                        journal.append_batch(batch).map_err(io::Error::other)?;
                        if !batch.is_empty() {
                            last_seq = batch.last_seq();
                        }
                        Carried::Records {
                            first_seq: batch.first_seq,
                            count: batch.len() as u64,
                        }
                    }
                };
                let offset = inner.file_len + bytes.len() as u64;
                encode_record(
                    &IndexRecord {
                        log_id: entry.log_id,
                        last_seq,
                        carried,
                    },
                    &mut bytes,
                )?;
                placed.push(Held {
                    entry,
                    last_seq,
                    offset,
                });
            }
        }
        (&*inner.file).write_all(&bytes)?;
        inner.file_len += bytes.len() as u64;
        self.appended_bytes
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        for held in placed {
            inner.entries.insert(held.entry.log_id.index, held);
        }
        self.refresh_last_seq(&inner);
        Ok(last_seq)
    }

    /// `write_entries`, then syncs the journal and the index (whatever `log_fsync` says).
    pub fn write_entries_synced(&self, entries: impl IntoIterator<Item = Entry>) -> io::Result<()> {
        let seq = self.write_entries(entries)?;
        let sync = self.journal().sync.clone();
        JournalSlot::sync_through(&sync, seq).map_err(io::Error::other)?;
        self.lock().file.sync_data()
    }

    fn refresh_last_seq(&self, inner: &Inner) {
        self.last_seq.store(inner.last_seq(), Ordering::Release);
    }
}

fn decode_record(bytes: &[u8], offset: usize) -> Option<(IndexRecord, usize)> {
    let header = bytes.get(offset..offset + RECORD_HEADER_BYTES as usize)?;
    let len = u32::from_le_bytes(header[0..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..8].try_into().ok()?);
    let start = offset + RECORD_HEADER_BYTES as usize;
    let body = bytes.get(start..start.checked_add(len)?)?;
    if crc32c::crc32c(body) != crc {
        return None;
    }
    let record: IndexRecord = bincode::deserialize(body).ok()?;
    Some((record, start + len))
}

fn encode_record(record: &IndexRecord, out: &mut Vec<u8>) -> io::Result<()> {
    let start = out.len();
    out.extend_from_slice(&[0; RECORD_HEADER_BYTES as usize]);
    bincode::serialize_into(&mut *out, record).map_err(io::Error::other)?;
    let body = &out[start + RECORD_HEADER_BYTES as usize..];
    let len = u32::try_from(body.len()).map_err(io::Error::other)?;
    let crc = crc32c::crc32c(body);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

fn read_meta(dir: &Path) -> io::Result<Meta> {
    let path = dir.join(META_FILE);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Meta::default()),
        Err(err) => return Err(err),
    };
    if bytes.len() < 4 {
        return Err(io_err("short", &path, bytes.len()));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if crc32c::crc32c(body).to_le_bytes() != crc {
        return Err(io_err(
            "checksum mismatch in",
            &path,
            "refusing to guess the vote",
        ));
    }
    bincode::deserialize(body).map_err(|err| io_err("undecodable", &path, err))
}

/// Writes `meta` to a temporary file, syncs it, renames it over the old one and syncs the directory.
fn write_meta(dir: &Path, meta: &Meta) -> io::Result<()> {
    let mut body = bincode::serialize(meta).map_err(io::Error::other)?;
    let crc = crc32c::crc32c(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    let tmp = dir.join(format!("{META_FILE}.tmp"));
    let mut file = File::create(&tmp)?;
    file.write_all(&body)?;
    file.sync_all()?;
    fs::rename(&tmp, dir.join(META_FILE))?;
    File::open(dir)?.sync_all()
}

/// Writes the metadata as it is now. The state is read under `meta_lock`, so a later write never carries an
/// older state than an earlier one (a vote never goes back).
fn persist_meta(inner: &Mutex<Inner>, meta_lock: &Mutex<()>) -> io::Result<()> {
    let _writing = meta_lock.lock().unwrap_or_else(|p| p.into_inner());
    let (dir, meta) = {
        let inner = inner.lock().unwrap_or_else(|p| p.into_inner());
        (inner.dir.clone(), inner.meta.clone())
    };
    write_meta(&dir, &meta)
}

/// The flusher thread: takes every job waiting, syncs the journal through the highest seq they need and each
/// index file once for all of them (group commit), reports the appends flushed in order, and persists the metadata
/// if asked. Ends when the log store is dropped.
fn run_flusher(jobs: mpsc::Receiver<Job>, inner: Weak<Mutex<Inner>>, meta_lock: Arc<Mutex<()>>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        batch.extend(jobs.try_iter());
        let mut synced: Vec<(Arc<File>, Result<(), String>)> = Vec::new();
        let mut journal_synced: Option<Result<(), String>> = None;
        let mut meta = false;
        let need = batch
            .iter()
            .filter_map(|job| match job {
                Job::Sync { journal, seq, .. } => Some((journal, *seq)),
                Job::Meta => None,
            })
            .max_by_key(|(_, seq)| *seq);
        // The journal and the index files are synced side by side: the file system may fold the two flushes into
        // one commit of its own journal, and neither waits for the other.
        std::thread::scope(|scope| {
            let journal_sync = need
                .map(|(journal, seq)| scope.spawn(move || JournalSlot::sync_through(journal, seq)));
            for job in &batch {
                match job {
                    Job::Sync { file, .. } => {
                        if !synced.iter().any(|(done, _)| Arc::ptr_eq(done, file)) {
                            let result = file.sync_data().map_err(|err| err.to_string());
                            synced.push((Arc::clone(file), result));
                        }
                    }
                    Job::Meta => meta = true,
                }
            }
            journal_synced = journal_sync.map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err("the journal sync panicked".into()))
            });
        });
        for job in batch {
            if let Job::Sync { file, callback, .. } = job {
                let result = synced
                    .iter()
                    .find(|(done, _)| Arc::ptr_eq(done, &file))
                    .map_or(Ok(()), |(_, result)| result.clone())
                    .and(journal_synced.clone().unwrap_or(Ok(())));
                callback.log_io_completed(result.map_err(io::Error::other));
            }
        }
        if meta {
            if let Some(inner) = inner.upgrade() {
                // A failure here only leaves an older committed id on disk, which is safe.
                let _ = persist_meta(&inner, &meta_lock);
            }
        }
    }
}

impl Inner {
    /// Seq of the last journal record carried by the entries held, or by those purged before them.
    fn last_seq(&self) -> u64 {
        self.entries
            .values()
            .next_back()
            .map_or(self.meta.last_purged_seq, |held| held.last_seq)
    }

    /// Rewrites the index file with only the entries still held, once purged records dominate it.
    fn maybe_compact(&mut self) -> io::Result<()> {
        let first_offset = self
            .entries
            .values()
            .next()
            .map_or(self.file_len, |held| held.offset);
        if first_offset < COMPACT_AFTER_BYTES || first_offset < self.file_len / 2 {
            return Ok(());
        }
        let tmp = self.dir.join(format!("{INDEX_FILE}.tmp"));
        let mut bytes = Vec::new();
        let mut offsets = Vec::with_capacity(self.entries.len());
        for held in self.entries.values() {
            offsets.push(bytes.len() as u64);
            encode_record(&index_record(held), &mut bytes)?;
        }
        let mut file = File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, self.dir.join(INDEX_FILE))?;
        File::open(&self.dir)?.sync_all()?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.dir.join(INDEX_FILE))?;
        file.seek(SeekFrom::End(0))?;
        self.file = Arc::new(file);
        self.file_len = bytes.len() as u64;
        for (held, new) in self.entries.values_mut().zip(offsets) {
            held.offset = new;
        }
        Ok(())
    }
}

/// The index record of an entry held in memory.
fn index_record(held: &Held) -> IndexRecord {
    IndexRecord {
        log_id: held.entry.log_id,
        last_seq: held.last_seq,
        carried: match &held.entry.payload {
            EntryPayload::Blank => Carried::Blank,
            EntryPayload::Membership(membership) => Carried::Membership(membership.clone()),
            EntryPayload::Normal(batch) => Carried::Records {
                first_seq: batch.first_seq,
                count: batch.len() as u64,
            },
        },
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let inner = self.lock();
        Ok(inner
            .entries
            .range(range)
            .map(|(_, held)| held.entry.clone())
            .collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let inner = self.lock();
        let last_purged_log_id = inner.meta.last_purged;
        let last_log_id = inner
            .entries
            .values()
            .next_back()
            .map(|held| held.entry.log_id)
            .or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        self.lock().meta.vote = Some(*vote);
        // Synchronous: the vote must be on disk before this node answers for it.
        persist_meta(&self.inner, &self.meta_lock)
            .map_err(|err| StorageIOError::write_vote(&err).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.lock().meta.vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let mut inner = self.lock();
        inner.meta.committed = committed;
        if inner.meta_written.elapsed() >= COMMITTED_SYNC_EVERY {
            inner.meta_written = Instant::now();
            // The flusher has gone only if the store is being dropped; nothing is lost but a lower bound.
            let _ = inner.flusher.send(Job::Meta);
        }
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.lock().meta.committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        match self.write_entries(entries) {
            Ok(seq) => {
                let inner = self.lock();
                if inner.fsync {
                    let job = Job::Sync {
                        file: Arc::clone(&inner.file),
                        journal: self.journal().sync.clone(),
                        seq,
                        callback,
                    };
                    if let Err(mpsc::SendError(Job::Sync { callback, .. })) =
                        inner.flusher.send(job)
                    {
                        callback.log_io_completed(Err(io::Error::other("log flusher stopped")));
                    }
                } else {
                    callback.log_io_completed(Ok(()));
                }
                Ok(())
            }
            Err(err) => {
                let message = err.to_string();
                callback.log_io_completed(Err(err));
                Err(write_err(io::Error::other(message)))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut inner = self.lock();
        let removed = inner.entries.split_off(&log_id.index);
        let Some(first) = removed.values().next() else {
            return Ok(());
        };
        let offset = first.offset;
        // The last seq the log keeps: the entry before the first removed one carries it.
        let kept_seq = inner.last_seq();
        self.journal()
            .cut_after(kept_seq)
            .map_err(|err| write_err(io::Error::other(err)))?;
        inner.file.set_len(offset).map_err(write_err)?;
        (&*inner.file)
            .seek(SeekFrom::Start(offset))
            .map_err(write_err)?;
        if inner.fsync {
            inner.file.sync_data().map_err(write_err)?;
        }
        inner.file_len = offset;
        self.refresh_last_seq(&inner);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        {
            let mut inner = self.lock();
            let purged_seq = inner
                .entries
                .range(..=log_id.index)
                .next_back()
                .map_or(inner.meta.last_purged_seq, |(_, held)| held.last_seq);
            inner.meta.last_purged = Some(log_id);
            inner.meta.last_purged_seq = inner.meta.last_purged_seq.max(purged_seq);
        }
        persist_meta(&self.inner, &self.meta_lock).map_err(write_err)?;
        let mut inner = self.lock();
        let kept = inner.entries.split_off(&(log_id.index + 1));
        inner.entries = kept;
        inner.maybe_compact().map_err(write_err)?;
        Ok(())
    }
}
