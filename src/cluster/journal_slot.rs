//! This node's journal as replication sees it. The journal is Raft's log (`log_store.rs` only indexes it): a
//! follower appends the records of each entry it accepts, cuts them again if Raft truncates the entry, and raises
//! the journal's visibility limit as entries are committed; a leader's engine writes the journal itself and the
//! index only points at what it wrote.
//!
//! The writer is replication's on a standby (`writer` is `Some`) and the engine's on a leader (`None`, after
//! `take_writer`); the watermarks and the sync handle stay here either way.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use crossline_engine::Command;
use crossline_journal::{
    CutError, JournalConfig, JournalReader, JournalSync, JournalWriter, Watermarks,
};

use super::types::{Batch, BatchBuilder};

#[derive(Debug)]
pub struct JournalSlot {
    pub(super) dir: PathBuf,
    pub(super) config: JournalConfig,
    pub(super) writer: Option<JournalWriter>,
    pub(super) watermarks: Arc<Watermarks>,
    pub(super) sync: JournalSync,
    /// Seq of the journal's first record (or of the next, in an empty journal).
    pub(super) first_seq: u64,
    /// Where the state machine publishes the committed seq (`ClusterNode::committed_seq`); given by the
    /// appliance so that its gateway can read it from the start.
    pub(super) committed_seq: Option<Arc<AtomicU64>>,
}

impl JournalSlot {
    /// Opens (recovering) the journal in `dir` with replication as its writer. Readers see nothing yet: the
    /// visibility limit rises as Raft commits (a leader's is lifted at promotion).
    pub fn open(dir: &Path, config: JournalConfig) -> Result<JournalSlot, String> {
        let (writer, _report) =
            JournalWriter::open(dir, config).map_err(|err| format!("journal: {err}"))?;
        writer.watermarks().limit_visibility(0);
        Ok(JournalSlot::with_writer(dir, config, writer))
    }

    /// A journal already opened by the appliance (which has set its visibility limit to what it replayed).
    pub fn with_writer(dir: &Path, config: JournalConfig, writer: JournalWriter) -> JournalSlot {
        JournalSlot {
            dir: dir.to_path_buf(),
            config,
            watermarks: writer.watermarks(),
            sync: writer.sync_handle(),
            first_seq: writer.first_seq(),
            writer: Some(writer),
            committed_seq: None,
        }
    }

    /// Publishes the committed seq into `committed_seq` (instead of a counter of its own).
    pub fn with_committed_seq(mut self, committed_seq: Arc<AtomicU64>) -> JournalSlot {
        self.committed_seq = Some(committed_seq);
        self
    }

    /// Seq of the last record appended (committed or not).
    pub(super) fn last_seq(&self) -> u64 {
        match &self.writer {
            Some(writer) => writer.next_seq() - 1,
            None => self.watermarks.appended_seq(),
        }
    }

    /// Puts `batch`'s records into the journal unless it holds them already (a leader's own records, which its
    /// engine wrote before proposing them). Returns the seq the journal must be synced to before the entry counts
    /// as persisted.
    pub(super) fn append_batch(&mut self, batch: &Batch) -> Result<u64, String> {
        let last = self.last_seq();
        if batch.is_empty() || batch.last_seq() <= last {
            return Ok(batch.last_seq());
        }
        if batch.first_seq > last + 1 {
            return Err(format!(
                "{batch:?} does not follow the journal, which ends at seq {last}"
            ));
        }
        let Some(writer) = self.writer.as_mut() else {
            return Err(format!(
                "{batch:?} is not in this node's journal (written up to seq {last}) and the engine holds the \
                 journal writer"
            ));
        };
        let skip = (last + 1 - batch.first_seq) as usize;
        for index in skip..batch.len() {
            let command = batch
                .command(index)
                .map_err(|err| format!("{batch:?}: {err}"))?;
            writer
                .append(&command)
                .map_err(|err| format!("journal append seq {}: {err}", command.seq))?;
        }
        writer
            .commit_batch()
            .map_err(|err| format!("journal commit: {err}"))?;
        Ok(batch.last_seq())
    }

    /// Drops every record after `last_kept_seq` (Raft truncated the entries that carried them).
    pub(super) fn cut_after(&mut self, last_kept_seq: u64) -> Result<(), String> {
        if last_kept_seq >= self.last_seq() {
            return Ok(());
        }
        if last_kept_seq + 1 < self.first_seq {
            // The records went with a snapshot this journal restarted after; what it holds follows the snapshot.
            return Ok(());
        }
        let Some(writer) = self.writer.take() else {
            return Err(format!(
                "cannot cut the journal after seq {last_kept_seq}: the engine holds its writer (a leader's log is \
                 never truncated)"
            ));
        };
        match writer.cut_after(last_kept_seq) {
            Ok((writer, _report)) => {
                self.sync = writer.sync_handle();
                self.writer = Some(writer);
                Ok(())
            }
            Err(CutError::Visible {
                writer,
                last_kept_seq,
                visible_seq,
            }) => {
                self.writer = Some(*writer);
                Err(format!(
                    "Raft truncated committed records: cutting after seq {last_kept_seq}, committed up to \
                     {visible_seq}"
                ))
            }
            Err(err) => Err(format!(
                "cutting the journal after seq {last_kept_seq}: {err}"
            )),
        }
    }

    /// Makes every record up to `seq` durable.
    pub(super) fn sync_through(sync: &JournalSync, seq: u64) -> Result<(), String> {
        if sync.synced_seq() >= seq {
            return Ok(());
        }
        let synced = sync.sync().map_err(|err| format!("journal sync: {err}"))?;
        if synced < seq {
            return Err(format!(
                "journal sync reached seq {synced}, short of the accepted seq {seq}"
            ));
        }
        Ok(())
    }

    /// Readers may see every record up to `seq`: it is committed.
    pub(super) fn commit_through(&self, seq: u64) {
        self.watermarks.raise_visibility(seq);
    }

    /// Reads the records `first_seq ..= last_seq` back into a batch (opening the log after a restart). `reader`
    /// carries one reader from call to call, so that consecutive batches read on without reopening the journal.
    pub(super) fn read_batch(
        &self,
        reader: &mut Option<JournalReader>,
        first_seq: u64,
        last_seq: u64,
    ) -> Result<Batch, String> {
        if reader
            .as_ref()
            .is_none_or(|open| open.next_seq() != first_seq)
        {
            let mut opened =
                JournalReader::open(&self.dir).map_err(|err| format!("journal: {err}"))?;
            opened
                .seek(first_seq)
                .map_err(|err| format!("journal seek to seq {first_seq}: {err}"))?;
            *reader = Some(opened);
        }
        let reader = reader.as_mut().expect("opened above");
        let mut builder = BatchBuilder::with_capacity((last_seq + 1 - first_seq) as usize);
        for seq in first_seq..=last_seq {
            let record = reader
                .next_record()
                .map_err(|err| format!("journal read at seq {seq}: {err}"))?
                .ok_or_else(|| format!("the journal ends before seq {seq}"))?;
            let command = rkyv::deserialize::<Command, rkyv::rancor::Error>(record.command)
                .map_err(|err| format!("journal seq {seq}: {err}"))?;
            builder
                .push(&command)
                .map_err(|err| format!("journal seq {seq}: {err}"))?;
        }
        Ok(builder.take())
    }

    /// Hands the writer to the engine (promotion): readers see everything from now on.
    pub(super) fn take_writer(&mut self) -> Option<JournalWriter> {
        let writer = self.writer.take()?;
        self.watermarks.lift_visibility();
        Some(writer)
    }

    /// Restarts the journal at `first_seq` (after installing a snapshot that covers everything before it): closes
    /// the writer, deletes the segments and opens an empty journal on the same watermarks' readers' view.
    pub(super) fn restart_at(&mut self, first_seq: u64) -> Result<(), String> {
        let Some(writer) = self.writer.take() else {
            return Err(
                "cannot install a snapshot while the engine holds the journal writer".into(),
            );
        };
        writer
            .close()
            .map_err(|err| format!("journal close: {err}"))?;
        for entry in fs::read_dir(&self.dir).map_err(|err| err.to_string())? {
            let path = entry.map_err(|err| err.to_string())?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(".seg") || name.ends_with(".seg.tmp") {
                fs::remove_file(&path).map_err(|err| format!("{}: {err}", path.display()))?;
            }
        }
        let config = JournalConfig {
            first_seq,
            ..self.config
        };
        let (writer, _report) =
            JournalWriter::open(&self.dir, config).map_err(|err| format!("journal: {err}"))?;
        // The snapshot is committed: readers of the new journal see up to it, then what is committed after it.
        writer.watermarks().limit_visibility(first_seq - 1);
        self.watermarks = writer.watermarks();
        self.sync = writer.sync_handle();
        self.first_seq = first_seq;
        self.writer = Some(writer);
        Ok(())
    }

    pub(super) fn committed_counter(&mut self) -> Arc<AtomicU64> {
        self.committed_seq.take().unwrap_or_default()
    }
}
