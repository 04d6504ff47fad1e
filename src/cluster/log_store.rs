//! Raft's log (`RaftLogStorage`): the entries not yet covered by a snapshot, in one append-only file, plus the
//! vote, the committed log id and the purge point in a small metadata file.
//!
//! `raft-log`: records `[u32 LE body length][u32 LE crc32c(body)][body = bincode(Entry)]`. Opening reads records up
//! to the first that is short or fails its checksum and cuts the file there (a torn append; it was never
//! acknowledged if `log_fsync` is on). All entries after the purge point are also kept in memory (their batches
//! are `Arc`-shared, so replication clones cost nothing); the file is only read at start-up. Purged entries are
//! dropped from memory at once and from the file when they make up most of it (rewritten to a temporary name,
//! synced, renamed). An append is written (page cache) on openraft's core task and synced by a flusher thread,
//! which syncs once for every append waiting (group commit) and then tells openraft the entries are flushed: an
//! fsync never blocks the core task, which also drives heartbeats and elections.
//!
//! `raft-meta`: bincode of `Meta` + crc32c, written to a temporary file, synced and renamed, on every vote change
//! and purge; a committed-log-id change is written with it (and on its own, by the flusher thread, at most every
//! `COMMITTED_SYNC_EVERY`):
//! a stale committed id is safe, it only makes a restart re-apply more entries, which the state machine verifies
//! and skips.

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

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{EntryPayload, LogState, OptionalSend, RaftLogReader, StorageIOError};
use serde::{Deserialize, Serialize};

use super::types::{Entry, LogId, StorageError, TypeConfig, Vote};

const LOG_FILE: &str = "raft-log";
const META_FILE: &str = "raft-meta";
const RECORD_HEADER_BYTES: u64 = 8;
const COMMITTED_SYNC_EVERY: Duration = Duration::from_millis(100);
/// Purged bytes at the head of the file before it is rewritten.
const COMPACT_AFTER_BYTES: u64 = 64 << 20;

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
struct Meta {
    vote: Option<Vote>,
    committed: Option<LogId>,
    last_purged: Option<LogId>,
}

/// Work for the flusher thread, done in order.
enum Job {
    /// fdatasync `file`, then report the appended entries flushed.
    Sync {
        file: Arc<File>,
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
    /// index -> (entry, offset of its record in the file).
    entries: BTreeMap<u64, (Entry, u64)>,
    meta: Meta,
    meta_written: Instant,
    fsync: bool,
}

/// Raft's log for one node. Clones share the same log (one is the `LogReader`).
#[derive(Debug, Clone)]
pub struct LogStore {
    inner: Arc<Mutex<Inner>>,
    /// Held while the metadata file is written, so that writes land in the order of the states they carry.
    meta_lock: Arc<Mutex<()>>,
    /// Seq of the last record in the log (0: none), for the replicator of a new leader.
    last_seq: Arc<AtomicU64>,
    /// Bytes appended to the log file since start, for measurements.
    appended_bytes: Arc<AtomicU64>,
}

fn io_err(context: &str, path: &Path, err: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("{context} {}: {err}", path.display()))
}

fn write_err(err: io::Error) -> StorageError {
    StorageIOError::write_logs(&err).into()
}

impl LogStore {
    /// Opens (or creates) the log in `dir`, cutting a torn tail.
    pub fn open(dir: &Path, fsync: bool) -> io::Result<LogStore> {
        fs::create_dir_all(dir)?;
        let meta = read_meta(dir)?;
        let path = dir.join(LOG_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let mut entries = BTreeMap::new();
        let mut offset = 0u64;
        while let Some((entry, next)) = decode_record(&bytes, offset as usize) {
            let index = entry.log_id.index;
            if meta.last_purged.is_none_or(|purged| index > purged.index) {
                // A record appended after a truncation replaces the truncated one (the truncation cut the file, so
                // this only matters for a file written by a crashed truncate).
                entries.split_off(&index);
                entries.insert(index, (entry, offset));
            }
            offset = next as u64;
        }
        if offset < bytes.len() as u64 {
            file.set_len(offset)?;
            file.sync_all()?;
        }
        file.seek(SeekFrom::Start(offset))?;
        let (flusher, jobs) = mpsc::channel();
        let store = LogStore {
            meta_lock: Arc::new(Mutex::new(())),
            inner: Arc::new(Mutex::new(Inner {
                dir: dir.to_path_buf(),
                file: Arc::new(file),
                flusher,
                file_len: offset,
                entries,
                meta,
                meta_written: Instant::now(),
                fsync,
            })),
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

    /// Seq of the last journal record carried by the log (0 if none is, e.g. right after a snapshot).
    pub fn last_seq(&self) -> u64 {
        self.last_seq.load(Ordering::Acquire)
    }

    /// Seq of the last journal record in an entry the persisted committed log id covers (0: none in the log).
    /// The persisted id lags the real one (it is written lazily), so this never claims too much.
    pub fn committed_last_seq(&self) -> u64 {
        let inner = self.lock();
        let Some(committed) = inner.meta.committed else {
            return 0;
        };
        inner
            .entries
            .range(..=committed.index)
            .rev()
            .find_map(|(_, (entry, _))| match &entry.payload {
                EntryPayload::Normal(batch) => Some(batch.last_seq()),
                _ => None,
            })
            .unwrap_or(0)
    }

    /// Every journal batch the log holds, in index order (committed or not).
    pub fn batches(&self) -> Vec<super::types::Batch> {
        self.lock()
            .entries
            .values()
            .filter_map(|(entry, _)| match &entry.payload {
                EntryPayload::Normal(batch) => Some(batch.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn appended_bytes(&self) -> u64 {
        self.appended_bytes.load(Ordering::Relaxed)
    }

    /// Appends `entries` to the file and syncs it (under `log_fsync`) before returning; then to memory.
    pub fn write_entries(&self, entries: impl IntoIterator<Item = Entry>) -> io::Result<()> {
        self.write_entries_inner(entries, true)
    }

    fn write_entries_inner(
        &self,
        entries: impl IntoIterator<Item = Entry>,
        sync: bool,
    ) -> io::Result<()> {
        let mut inner = self.lock();
        let mut bytes = Vec::new();
        let mut placed = Vec::new();
        for entry in entries {
            let offset = inner.file_len + bytes.len() as u64;
            encode_record(&entry, &mut bytes)?;
            placed.push((entry, offset));
        }
        (&*inner.file).write_all(&bytes)?;
        if sync && inner.fsync {
            inner.file.sync_data()?;
        }
        inner.file_len += bytes.len() as u64;
        self.appended_bytes
            .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        for (entry, offset) in placed {
            inner.entries.insert(entry.log_id.index, (entry, offset));
        }
        self.refresh_last_seq(&inner);
        Ok(())
    }

    fn refresh_last_seq(&self, inner: &Inner) {
        let last = inner
            .entries
            .values()
            .rev()
            .find_map(|(entry, _)| match &entry.payload {
                EntryPayload::Normal(batch) => Some(batch.last_seq()),
                _ => None,
            })
            .unwrap_or(0);
        self.last_seq.store(last, Ordering::Release);
    }
}

fn decode_record(bytes: &[u8], offset: usize) -> Option<(Entry, usize)> {
    let header = bytes.get(offset..offset + RECORD_HEADER_BYTES as usize)?;
    let len = u32::from_le_bytes(header[0..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..8].try_into().ok()?);
    let start = offset + RECORD_HEADER_BYTES as usize;
    let body = bytes.get(start..start.checked_add(len)?)?;
    if crc32c::crc32c(body) != crc {
        return None;
    }
    let entry: Entry = bincode::deserialize(body).ok()?;
    Some((entry, start + len))
}

fn encode_record(entry: &Entry, out: &mut Vec<u8>) -> io::Result<()> {
    let start = out.len();
    out.extend_from_slice(&[0; RECORD_HEADER_BYTES as usize]);
    bincode::serialize_into(&mut *out, entry).map_err(io::Error::other)?;
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

/// The flusher thread: takes every job waiting, syncs each file once for all of them (group commit), reports the
/// appends flushed in order, and persists the metadata if asked. Ends when the log store is dropped.
fn run_flusher(jobs: mpsc::Receiver<Job>, inner: Weak<Mutex<Inner>>, meta_lock: Arc<Mutex<()>>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        batch.extend(jobs.try_iter());
        let mut synced: Vec<(Arc<File>, Result<(), String>)> = Vec::new();
        let mut meta = false;
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
        for job in batch {
            if let Job::Sync { file, callback } = job {
                let result = synced
                    .iter()
                    .find(|(done, _)| Arc::ptr_eq(done, &file))
                    .map_or(Ok(()), |(_, result)| result.clone());
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
    /// Rewrites the file with only the entries still held, once purged records dominate it.
    fn maybe_compact(&mut self) -> io::Result<()> {
        let first_offset = self
            .entries
            .values()
            .next()
            .map_or(self.file_len, |(_, offset)| *offset);
        if first_offset < COMPACT_AFTER_BYTES || first_offset < self.file_len / 2 {
            return Ok(());
        }
        let tmp = self.dir.join(format!("{LOG_FILE}.tmp"));
        let mut bytes = Vec::new();
        let mut offsets = Vec::with_capacity(self.entries.len());
        for (entry, _) in self.entries.values() {
            offsets.push(bytes.len() as u64);
            encode_record(entry, &mut bytes)?;
        }
        let mut file = File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, self.dir.join(LOG_FILE))?;
        File::open(&self.dir)?.sync_all()?;
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(self.dir.join(LOG_FILE))?;
        file.seek(SeekFrom::End(0))?;
        self.file = Arc::new(file);
        self.file_len = bytes.len() as u64;
        for ((_, (_, offset)), new) in self.entries.iter_mut().zip(offsets) {
            *offset = new;
        }
        Ok(())
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
            .map(|(_, (entry, _))| entry.clone())
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
            .map(|(entry, _)| entry.log_id)
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
        match self.write_entries_inner(entries, false) {
            Ok(()) => {
                let inner = self.lock();
                if inner.fsync {
                    let file = Arc::clone(&inner.file);
                    if let Err(mpsc::SendError(Job::Sync { callback, .. })) =
                        inner.flusher.send(Job::Sync { file, callback })
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
        if let Some((_, offset)) = removed.values().next() {
            let offset = *offset;
            inner.file.set_len(offset).map_err(write_err)?;
            (&*inner.file)
                .seek(SeekFrom::Start(offset))
                .map_err(write_err)?;
            if inner.fsync {
                inner.file.sync_data().map_err(write_err)?;
            }
            inner.file_len = offset;
        }
        self.refresh_last_seq(&inner);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.lock().meta.last_purged = Some(log_id);
        persist_meta(&self.inner, &self.meta_lock).map_err(write_err)?;
        let mut inner = self.lock();
        let kept = inner.entries.split_off(&(log_id.index + 1));
        inner.entries = kept;
        inner.maybe_compact().map_err(write_err)?;
        Ok(())
    }
}
