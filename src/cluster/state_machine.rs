//! The state machine (`RaftStateMachine`): the records of a committed entry are already in this node's journal (a
//! follower appended them when it accepted the entry, a leader's engine wrote them before proposing them), so
//! applying one raises the journal's visibility limit to its last seq, publishes the committed seq and tells the
//! application (`ClusterApp::on_committed`). Snapshots are the application's payload plus the seq it covers.
//!
//! The state machine keeps no state of its own beyond the last snapshot: after a restart openraft re-applies the
//! log after it, which only raises what is already raised.
use std::fs::{self, File};
use std::io::{self, Cursor, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crossline_journal::{JournalWriter, Watermarks};
use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder, Snapshot, StorageIOError};
use serde::{Deserialize, Serialize};

use super::journal_slot::JournalSlot;
use super::types::{Batch, Entry, LogId, SnapshotMeta, StorageError, StoredMembership, TypeConfig};

const SNAPSHOT_FILE: &str = "raft-snapshot";

/// What the appliance plugs into replication.
pub trait ClusterApp: Send + Sync + 'static {
    /// Records `first_seq ..= last_seq`, received through replication, are committed and visible to the journal's
    /// readers, in seq order. Not called for a leader's own records, nor for those a restarted node already had
    /// committed (its application recovered them). Called on the Raft runtime.
    fn on_committed(&self, _first_seq: u64, _last_seq: u64) {}
    /// The appliance's snapshot payload for a Raft snapshot, and the seq it covers, which must be at least
    /// `applied_seq` (everything this state machine has applied; on a standby that follows the journal it is exactly
    /// that).
    fn build_snapshot(&self, applied_seq: u64) -> Result<(u64, Vec<u8>), String>;
    /// Replace this node's state by a snapshot payload covering everything up to `seq`. The journal is restarted
    /// (emptied) at `seq + 1` right after this returns, so the payload must be kept durably first; it is not
    /// called when the journal already held `seq` (the engine, replayed from the journal, is then at or past the
    /// snapshot).
    fn install_snapshot(&self, seq: u64, payload: &[u8]) -> Result<(), String>;
    /// The snapshot `install_snapshot` was given is in place: the journal restarted after it and Raft's own
    /// snapshot is stored.
    fn snapshot_installed(&self, _seq: u64) {}
}

/// The snapshot as stored and shipped.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SnapshotBundle {
    seq: u64,
    payload: Vec<u8>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta,
    data: Vec<u8>,
}

#[derive(Debug, Default)]
struct Applied {
    last: Option<LogId>,
    membership: StoredMembership,
    snapshot_counter: u64,
}

/// Shared by the state machine (on the Raft task), its snapshot builder and the node's handle.
pub struct SmShared {
    raft_dir: PathBuf,
    journal: Arc<Mutex<JournalSlot>>,
    app: Arc<dyn ClusterApp>,
    /// Seq of the last record applied (committed by the cluster, and in this node's journal).
    applied_seq: Arc<AtomicU64>,
    applied: Mutex<Applied>,
    snapshot: Mutex<Option<StoredSnapshot>>,
}

impl std::fmt::Debug for SmShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmShared")
            .field("raft_dir", &self.raft_dir)
            .field("applied_seq", &self.applied_seq)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn apply_err(log_id: LogId, message: String) -> StorageError {
    StorageIOError::apply(log_id, &io::Error::other(message)).into()
}

impl SmShared {
    /// `committed_seq`: what this node knows committed at start (its application holds everything up to it).
    pub fn new(
        raft_dir: &Path,
        journal: Arc<Mutex<JournalSlot>>,
        committed_seq: u64,
        app: Arc<dyn ClusterApp>,
    ) -> io::Result<Arc<SmShared>> {
        let snapshot = read_snapshot(raft_dir)?;
        let mut applied = Applied::default();
        if let Some(snapshot) = &snapshot {
            applied.last = snapshot.meta.last_log_id;
            applied.membership = snapshot.meta.last_membership.clone();
        }
        let applied_seq = lock(&journal).committed_counter();
        applied_seq.store(committed_seq, Ordering::Release);
        Ok(Arc::new(SmShared {
            raft_dir: raft_dir.to_path_buf(),
            journal,
            app,
            applied_seq,
            applied: Mutex::new(applied),
            snapshot: Mutex::new(snapshot),
        }))
    }

    pub fn applied_seq(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.applied_seq)
    }

    /// The last record in this node's journal (committed or not).
    pub fn journal_written_seq(&self) -> u64 {
        lock(&self.journal).last_seq()
    }

    pub fn journal_watermarks(&self) -> Arc<Watermarks> {
        Arc::clone(&lock(&self.journal).watermarks)
    }

    pub fn journal_dir(&self) -> PathBuf {
        lock(&self.journal).dir.clone()
    }

    /// Hands the journal writer to the engine (promotion). `None` if the engine already holds it.
    pub fn take_writer(&self) -> Option<JournalWriter> {
        lock(&self.journal).take_writer()
    }

    /// Gives the journal writer back to replication (demotion, or shutdown of the engine).
    pub fn return_writer(&self, writer: JournalWriter) {
        let mut journal = lock(&self.journal);
        journal.watermarks = writer.watermarks();
        journal.sync = writer.sync_handle();
        journal.writer = Some(writer);
    }

    /// Closes the writer if replication holds it (shutdown).
    pub fn close_writer(&self) -> Result<(), String> {
        match lock(&self.journal).writer.take() {
            Some(writer) => writer.close().map_err(|err| err.to_string()),
            None => Ok(()),
        }
    }

    /// Applies one committed batch: its records become visible; the error says why not (the caller wraps it for
    /// openraft).
    fn apply_batch(&self, batch: &Batch) -> Result<u64, String> {
        if batch.is_empty() {
            return Ok(self.applied_seq.load(Ordering::Acquire));
        }
        let last = batch.last_seq();
        let follower = {
            let journal = lock(&self.journal);
            let held = journal.last_seq();
            if held < last {
                return Err(format!(
                    "{batch:?} is committed but this node's journal ends at seq {held}"
                ));
            }
            journal.commit_through(last);
            journal.writer.is_some()
        };
        let before = self.applied_seq.fetch_max(last, Ordering::AcqRel);
        if follower && before < last {
            self.app
                .on_committed(before.max(batch.first_seq - 1) + 1, last);
        }
        Ok(last)
    }
}

/// Seq covered by the Raft snapshot stored in `dir` (0: none).
pub fn snapshot_seq_on_disk(dir: &Path) -> io::Result<u64> {
    Ok(read_snapshot(dir)?
        .and_then(|s| bincode::deserialize::<SnapshotBundle>(&s.data).ok())
        .map_or(0, |bundle| bundle.seq))
}

fn read_snapshot(dir: &Path) -> io::Result<Option<StoredSnapshot>> {
    let path = dir.join(SNAPSHOT_FILE);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err),
    };
    if bytes.len() < 4 {
        return Err(io::Error::other(format!("{}: short", path.display())));
    }
    let (body, crc) = bytes.split_at(bytes.len() - 4);
    if crc32c::crc32c(body).to_le_bytes() != crc {
        return Err(io::Error::other(format!(
            "{}: checksum mismatch",
            path.display()
        )));
    }
    bincode::deserialize(body)
        .map(Some)
        .map_err(io::Error::other)
}

fn write_snapshot(dir: &Path, snapshot: &StoredSnapshot) -> io::Result<()> {
    let mut body = bincode::serialize(snapshot).map_err(io::Error::other)?;
    let crc = crc32c::crc32c(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    let tmp = dir.join(format!("{SNAPSHOT_FILE}.tmp"));
    let mut file = File::create(&tmp)?;
    file.write_all(&body)?;
    file.sync_all()?;
    fs::rename(&tmp, dir.join(SNAPSHOT_FILE))?;
    File::open(dir)?.sync_all()
}

/// The Raft-facing state machine.
#[derive(Debug, Clone)]
pub struct StateMachine {
    shared: Arc<SmShared>,
}

impl StateMachine {
    pub fn new(shared: Arc<SmShared>) -> StateMachine {
        StateMachine { shared }
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let shared = &self.shared;
        let (last, membership, counter) = {
            let mut applied = lock(&shared.applied);
            applied.snapshot_counter += 1;
            (
                applied.last,
                applied.membership.clone(),
                applied.snapshot_counter,
            )
        };
        let applied_seq = shared.applied_seq.load(Ordering::Acquire);
        let (seq, payload) = shared
            .app
            .build_snapshot(applied_seq)
            .map_err(|err| StorageIOError::read_state_machine(&io::Error::other(err)))?;
        if seq < applied_seq {
            return Err(
                StorageIOError::read_state_machine(&io::Error::other(format!(
                "the application's snapshot covers seq {seq}, behind the applied seq {applied_seq}"
            )))
                .into(),
            );
        }
        let data = bincode::serialize(&SnapshotBundle { seq, payload })
            .map_err(|err| StorageIOError::write_snapshot(None, &err))?;
        let meta = SnapshotMeta {
            last_log_id: last,
            last_membership: membership,
            snapshot_id: format!(
                "{}-{}-{counter}",
                last.map_or(0, |id| id.leader_id.term),
                last.map_or(0, |id| id.index)
            ),
        };
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data: data.clone(),
        };
        write_snapshot(&shared.raft_dir, &stored)
            .map_err(|err| StorageIOError::write_snapshot(Some(meta.signature()), &err))?;
        *lock(&shared.snapshot) = Some(stored);
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let applied = lock(&self.shared.applied);
        Ok((applied.last, applied.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<u64>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut replies = Vec::new();
        for entry in entries {
            let reply = match &entry.payload {
                EntryPayload::Blank => self.shared.applied_seq.load(Ordering::Acquire),
                EntryPayload::Normal(batch) => self
                    .shared
                    .apply_batch(batch)
                    .map_err(|message| apply_err(entry.log_id, message))?,
                EntryPayload::Membership(membership) => {
                    lock(&self.shared.applied).membership =
                        StoredMembership::new(Some(entry.log_id), membership.clone());
                    self.shared.applied_seq.load(Ordering::Acquire)
                }
            };
            lock(&self.shared.applied).last = Some(entry.log_id);
            replies.push(reply);
        }
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let shared = &self.shared;
        let data = snapshot.into_inner();
        let signature = Some(meta.signature());
        let bundle: SnapshotBundle = bincode::deserialize(&data)
            .map_err(|err| StorageIOError::read_snapshot(signature.clone(), &err))?;
        let snapshot_err = |message: String| -> StorageError {
            StorageIOError::write_snapshot(signature.clone(), &io::Error::other(message)).into()
        };
        // Three cases. The application already has everything the snapshot covers (a repeated install): nothing
        // changes. The journal holds the snapshot's records (openraft kept this node's log up to the snapshot's
        // last entry, which matched): they become committed and the application follows them from the journal.
        // Otherwise the application keeps the payload first (durably), then the journal restarts after it: a
        // crash in between leaves a snapshot and the old journal, from which recovery still starts.
        let replaced = {
            let mut journal = lock(&shared.journal);
            let applied_seq = shared.applied_seq.load(Ordering::Acquire);
            if applied_seq >= bundle.seq {
                false
            } else if journal.last_seq() >= bundle.seq {
                journal.commit_through(bundle.seq);
                if journal.writer.is_some() {
                    shared.app.on_committed(applied_seq + 1, bundle.seq);
                }
                false
            } else {
                shared
                    .app
                    .install_snapshot(bundle.seq, &bundle.payload)
                    .map_err(snapshot_err)?;
                journal.restart_at(bundle.seq + 1).map_err(snapshot_err)?;
                true
            }
        };
        let stored = StoredSnapshot {
            meta: meta.clone(),
            data,
        };
        write_snapshot(&shared.raft_dir, &stored)
            .map_err(|err| StorageIOError::write_snapshot(signature.clone(), &err))?;
        {
            let mut applied = lock(&shared.applied);
            applied.last = meta.last_log_id;
            applied.membership = meta.last_membership.clone();
        }
        shared.applied_seq.fetch_max(bundle.seq, Ordering::AcqRel);
        *lock(&shared.snapshot) = Some(stored);
        if replaced {
            shared.app.snapshot_installed(bundle.seq);
        }
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        Ok(lock(&self.shared.snapshot).as_ref().map(|stored| Snapshot {
            meta: stored.meta.clone(),
            snapshot: Box::new(Cursor::new(stored.data.clone())),
        }))
    }
}
