//! The state machine (`RaftStateMachine`): a committed batch goes into this node's journal with the same seqs, then
//! to the application (the standby's engine). Snapshots are the application's payload plus the seq it covers.
//!
//! Applying is idempotent, which is what lets the state machine keep no state of its own beyond the last snapshot:
//! a record whose seq the journal already holds (a leader's own records, written by its engine before they were
//! proposed; or, after a restart, records openraft applies again from the log) is read back and compared with the
//! committed one, and a difference stops the node loudly (`divergent journal`): that is a former leader's
//! unreplicated suffix, which must be cut before it may follow (see the module docs). A record beyond the journal's
//! end is appended, committed as one journal batch per Raft batch, and handed to `ClusterApp::on_replicated`. A
//! record before the journal's first (pruned, or covered by an installed snapshot) is skipped.

use std::fs::{self, File};
use std::io::{self, Cursor, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crossline_engine::Command;
use crossline_journal::{JournalConfig, JournalReader, JournalWriter, ReadError, Watermarks};
use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder, Snapshot, StorageIOError};
use serde::{Deserialize, Serialize};

use super::types::{Batch, Entry, LogId, SnapshotMeta, StorageError, StoredMembership, TypeConfig};

const SNAPSHOT_FILE: &str = "raft-snapshot";

/// What the appliance plugs into replication.
pub trait ClusterApp: Send + Sync + 'static {
    /// Records this node's journal just received through replication, in seq order (never records the journal
    /// already held: a leader's own, or a restarted node's). Called on the Raft runtime, after the journal batch
    /// is published; the standby's engine applies them here (or queues them to its thread).
    fn on_replicated(&self, commands: &[Command]);
    /// The appliance's snapshot payload for a Raft snapshot, and the seq it covers, which must be at least
    /// `applied_seq` (everything this state machine has applied; on a standby fed by `on_replicated` it is exactly
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

/// This node's journal as replication sees it: the directory, its config, the writer when replication owns it
/// (standby) or `None` while the engine holds it (leader), and its watermarks either way.
#[derive(Debug)]
pub struct JournalSlot {
    dir: PathBuf,
    config: JournalConfig,
    writer: Option<JournalWriter>,
    watermarks: Arc<Watermarks>,
    verifier: Option<JournalReader>,
    /// Where the state machine publishes the committed seq (`ClusterNode::committed_seq`); given by the
    /// appliance so that its gateway can read it from the start.
    committed_seq: Option<Arc<AtomicU64>>,
}

impl JournalSlot {
    /// Opens (recovering) the journal in `dir` with replication as its writer.
    pub fn open(dir: &Path, config: JournalConfig) -> Result<JournalSlot, String> {
        let (writer, _report) =
            JournalWriter::open(dir, config).map_err(|err| format!("journal: {err}"))?;
        Ok(JournalSlot::with_writer(dir, config, writer))
    }

    /// A journal already opened by the appliance.
    pub fn with_writer(dir: &Path, config: JournalConfig, writer: JournalWriter) -> JournalSlot {
        JournalSlot {
            dir: dir.to_path_buf(),
            config,
            watermarks: writer.watermarks(),
            writer: Some(writer),
            verifier: None,
            committed_seq: None,
        }
    }

    /// Publishes the committed seq into `committed_seq` (instead of a counter of its own).
    pub fn with_committed_seq(mut self, committed_seq: Arc<AtomicU64>) -> JournalSlot {
        self.committed_seq = Some(committed_seq);
        self
    }
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
    journal: Mutex<JournalSlot>,
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
    pub fn new(
        raft_dir: &Path,
        mut journal: JournalSlot,
        app: Arc<dyn ClusterApp>,
    ) -> io::Result<Arc<SmShared>> {
        let snapshot = read_snapshot(raft_dir)?;
        let mut applied = Applied::default();
        if let Some(snapshot) = &snapshot {
            applied.last = snapshot.meta.last_log_id;
            applied.membership = snapshot.meta.last_membership.clone();
        }
        // openraft re-applies the log after the snapshot at start-up; only what it applies counts as committed.
        let snapshot_seq = snapshot
            .as_ref()
            .and_then(|s| bincode::deserialize::<SnapshotBundle>(&s.data).ok())
            .map_or(0, |bundle| bundle.seq);
        let applied_seq = journal.committed_seq.take().unwrap_or_default();
        applied_seq.store(snapshot_seq, Ordering::Release);
        Ok(Arc::new(SmShared {
            raft_dir: raft_dir.to_path_buf(),
            journal: Mutex::new(journal),
            app,
            applied_seq,
            applied: Mutex::new(applied),
            snapshot: Mutex::new(snapshot),
        }))
    }

    pub fn applied_seq(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.applied_seq)
    }

    /// The journal's written watermark (whoever writes it).
    pub fn journal_written_seq(&self) -> u64 {
        lock(&self.journal).watermarks.written_seq()
    }

    pub fn journal_watermarks(&self) -> Arc<Watermarks> {
        Arc::clone(&lock(&self.journal).watermarks)
    }

    pub fn journal_dir(&self) -> PathBuf {
        lock(&self.journal).dir.clone()
    }

    /// Hands the journal writer to the engine (promotion). `None` if the engine already holds it.
    pub fn take_writer(&self) -> Option<JournalWriter> {
        lock(&self.journal).writer.take()
    }

    /// Gives the journal writer back to replication (demotion, or shutdown of the engine).
    pub fn return_writer(&self, writer: JournalWriter) {
        let mut journal = lock(&self.journal);
        journal.watermarks = writer.watermarks();
        journal.writer = Some(writer);
    }

    /// Closes the writer if replication holds it (shutdown).
    pub fn close_writer(&self) -> Result<(), String> {
        match lock(&self.journal).writer.take() {
            Some(writer) => writer.close().map_err(|err| err.to_string()),
            None => Ok(()),
        }
    }

    /// Applies one committed batch; the error says why not (the caller wraps it for openraft).
    fn apply_batch(&self, batch: &Batch) -> Result<u64, String> {
        let commands = batch
            .commands()
            .map_err(|err| format!("{batch:?}: {err}"))?;
        let mut journal = lock(&self.journal);
        let journal = &mut *journal;
        let mut new_from = commands.len();
        let written = journal.watermarks.written_seq();
        for (index, command) in commands.iter().enumerate() {
            let seq = command.seq;
            if seq <= written {
                verify_record(journal, command)?;
                continue;
            }
            let Some(writer) = journal.writer.as_mut() else {
                return Err(format!(
                    "seq {seq} is committed but not in this node's journal (written up to {written}), \
                     and the engine holds the journal writer"
                ));
            };
            if writer.next_seq() != seq {
                return Err(format!(
                    "seq {seq} is committed but this node's journal continues at seq {}",
                    writer.next_seq()
                ));
            }
            writer
                .append(command)
                .map_err(|err| format!("journal append seq {seq}: {err}"))?;
            new_from = new_from.min(index);
        }
        if new_from < commands.len() {
            if let Some(writer) = journal.writer.as_mut() {
                writer
                    .commit_batch()
                    .map_err(|err| format!("journal commit: {err}"))?;
            }
            self.app.on_replicated(&commands[new_from..]);
        }
        let last = batch.last_seq();
        self.applied_seq.fetch_max(last, Ordering::AcqRel);
        Ok(last)
    }
}

/// Compares the journal's record at `command.seq` with the committed command.
fn verify_record(journal: &mut JournalSlot, command: &Command) -> Result<(), String> {
    let seq = command.seq;
    if journal
        .verifier
        .as_ref()
        .is_none_or(|reader| reader.next_seq() != seq)
    {
        match JournalReader::open_tailing(&journal.dir, Arc::clone(&journal.watermarks), seq) {
            Ok(reader) => journal.verifier = Some(reader),
            // Covered by a snapshot this journal restarted after.
            Err(ReadError::Pruned { .. }) => return Ok(()),
            Err(err) => return Err(format!("reading back seq {seq}: {err}")),
        }
    }
    let reader = journal.verifier.as_mut().expect("set above");
    let record = reader
        .next_record()
        .map_err(|err| format!("reading back seq {seq}: {err}"))?
        .ok_or_else(|| format!("reading back seq {seq}: not found below the written watermark"))?;
    let held = rkyv::deserialize::<Command, rkyv::rancor::Error>(record.command)
        .map_err(|err| format!("reading back seq {seq}: {err}"))?;
    if held != *command {
        journal.verifier = None;
        return Err(format!(
            "divergent journal at seq {seq}: this node holds {held:?}, the cluster committed {command:?}; \
             the suffix from seq {seq} must be cut before this node can follow"
        ));
    }
    Ok(())
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

/// Restarts the journal at `first_seq` (after installing a snapshot that covers everything before it): closes the
/// writer, deletes the segments and opens an empty journal.
fn restart_journal(journal: &mut JournalSlot, first_seq: u64) -> Result<(), String> {
    let Some(writer) = journal.writer.take() else {
        return Err("cannot install a snapshot while the engine holds the journal writer".into());
    };
    journal.verifier = None;
    writer
        .close()
        .map_err(|err| format!("journal close: {err}"))?;
    for entry in fs::read_dir(&journal.dir).map_err(|err| err.to_string())? {
        let path = entry.map_err(|err| err.to_string())?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".seg") || name.ends_with(".seg.tmp") {
            fs::remove_file(&path).map_err(|err| format!("{}: {err}", path.display()))?;
        }
    }
    let config = JournalConfig {
        first_seq,
        ..journal.config
    };
    let (writer, _report) =
        JournalWriter::open(&journal.dir, config).map_err(|err| format!("journal: {err}"))?;
    journal.watermarks = writer.watermarks();
    journal.writer = Some(writer);
    Ok(())
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
        // The journal (and the engine fed from it) already covers the snapshot: a repeated install, or a node
        // that is only missing log entries. Then nothing is replaced; openraft re-applies what follows it, which
        // verifies the journal's records.
        // The application keeps the payload first (durably), then the journal restarts after it: a crash in
        // between leaves a snapshot and the old journal, from which recovery still starts.
        let replaced = {
            let mut journal = lock(&shared.journal);
            if journal.watermarks.written_seq() < bundle.seq {
                shared
                    .app
                    .install_snapshot(bundle.seq, &bundle.payload)
                    .map_err(snapshot_err)?;
                restart_journal(&mut journal, bundle.seq + 1).map_err(snapshot_err)?;
                true
            } else {
                false
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
