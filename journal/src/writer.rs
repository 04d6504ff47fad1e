//! The journal writer: appends sequenced commands to the newest segment, rolls over to a new preallocated segment
//! when one is full, publishes the written watermark at the end of each batch and, by policy, syncs.
//!
//! Per record it archives the command into a staging buffer (stamping seq, checksum and length word); nothing is
//! allocated and no system call is made. At the end of a batch (or when the buffer is full) the staged frames go to
//! the segment's file in one `pwrite`, then the written watermark is published. The writer never stores through a
//! writable mapping: syncing a page mapped writable costs a TLB shootdown on every core of the process, a stream of
//! interrupts into the gateway's core with a sync every millisecond (docs/JOURNAL.md, "Writing through the file").
//! The next segment is prepared (created, preallocated, synced) on a helper thread, so rollover only swaps
//! segments.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crossline_engine::Command;

use crate::error::{AppendError, OpenError};
use crate::flusher::{
    Flusher, SyncShared, DEFAULT_REQUESTED_ROUND_MAX_GAP_US, REQUESTED_ROUND_MAX_GAP_LIMIT_US,
};
use crate::fsio::{self, DirLock};
use crate::preparer::{next_first_seq, Preparer, Request};
use crate::reader::JournalReader;
use crate::record::{encode_frame, FRAME_BYTES, SEAL_WORD};
use crate::recovery::{lock_dir, recover_locked, RecoveryReport};
use crate::segment::{segment_bytes_valid, Access, Segment, FIRST_FRAME_OFFSET_BYTES, PAGE_BYTES};
use crate::truncate::{CutError, TruncateReport};
use crate::watermarks::Watermarks;

/// When the writer's records reach stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Never sync on its own: the kernel writes pages back when it likes. The durable watermark, and the durable
    /// checkpoint recovery trusts, move only on an explicit `sync()` or `close()`. For benchmarks and for
    /// deployments that rely on replication.
    None,
    /// Group commit: a flusher thread syncs whatever was published every `interval_ms` milliseconds. The writer's
    /// thread never waits for the disk.
    IntervalMs(u32),
    /// `commit_batch` syncs before it returns, on the writer's thread.
    EveryBatch,
}

/// How a journal writer lays out and syncs its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalConfig {
    /// Size of each segment file, preallocated at creation; whole pages.
    pub segment_bytes: u64,
    pub fsync: FsyncPolicy,
    /// Sequence number of the first record of an empty journal (after a snapshot-only restore, the snapshot's seq
    /// plus one). Ignored when the directory already holds segments.
    pub first_seq: u64,
    /// Under `FsyncPolicy::IntervalMs`, the most a round asked for by a waiter (`Watermarks::request_sync`) waits
    /// after the previous round started; the wait grows with the journal's rate up to this (the flusher's
    /// `requested_round_gap`), and never past the interval. 0: requested rounds back to back. At most
    /// `REQUESTED_ROUND_MAX_GAP_LIMIT_US`.
    pub requested_round_max_gap_us: u32,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            segment_bytes: 256 << 20,
            fsync: FsyncPolicy::IntervalMs(1),
            first_seq: 1,
            requested_round_max_gap_us: DEFAULT_REQUESTED_ROUND_MAX_GAP_US,
        }
    }
}

/// The journal's helper threads, named for a caller that sets how they are scheduled (`JournalWriter::threads`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalThread {
    /// Syncs on the interval of `FsyncPolicy::IntervalMs`; a `durable` acknowledgement waits for its rounds.
    Flusher,
    /// Creates the next segment ahead of the writer; nothing waits for it while it keeps ahead.
    Preparer,
}

/// Frames staged before they are written out, at most: a batch of the engine (256 commands) fits in one write.
pub const STAGED_FRAMES_MAX: usize = 256;

/// Frames archived in memory and not yet written to the segment's file.
#[derive(Debug)]
struct Staging {
    /// Room for `STAGED_FRAMES_MAX` frames after `start`, plus up to 7 bytes to align `start`.
    buffer: Box<[u8]>,
    /// Where the frames start in `buffer`: 8-byte aligned, as the archived command inside each frame must be.
    start: usize,
    /// Bytes staged after `start`.
    staged_bytes: usize,
}

impl Staging {
    fn new() -> Staging {
        let capacity_bytes = STAGED_FRAMES_MAX * FRAME_BYTES;
        let buffer = vec![0u8; capacity_bytes + 7].into_boxed_slice();
        let start = buffer.as_ptr().align_offset(8);
        Staging {
            buffer,
            start,
            staged_bytes: 0,
        }
    }

    fn is_full(&self) -> bool {
        self.staged_bytes + FRAME_BYTES > STAGED_FRAMES_MAX * FRAME_BYTES
    }

    /// The next frame's bytes; the caller checked `is_full`.
    fn next_frame(&mut self) -> &mut [u8] {
        let at = self.start + self.staged_bytes;
        &mut self.buffer[at..at + FRAME_BYTES]
    }

    fn staged(&self) -> &[u8] {
        &self.buffer[self.start..self.start + self.staged_bytes]
    }
}

/// The single writer of a journal directory.
#[derive(Debug)]
pub struct JournalWriter {
    dir: PathBuf,
    config: JournalConfig,
    current: Arc<Segment>,
    /// Where the next frame goes in `current` (staged frames included).
    write_offset: usize,
    /// Frames appended but not yet written to `current`'s file; they end at `write_offset`.
    staging: Staging,
    next_seq: u64,
    /// Sequence number of the journal's first record (or of the first to come, in an empty journal).
    first_seq: u64,
    /// Highest appended sequence number not yet published by `commit_batch` (0: nothing pending).
    pending_seq: u64,
    shared: Arc<SyncShared>,
    flusher: Option<Flusher>,
    preparer: Preparer,
    /// Dropped last: the preparer may still delete an unused segment on the way out.
    _lock: DirLock,
}

impl JournalWriter {
    /// Opens (recovering first) or creates the journal in `dir`, which must exist.
    pub fn open(
        dir: &Path,
        config: JournalConfig,
    ) -> Result<(JournalWriter, RecoveryReport), OpenError> {
        Self::open_on(dir, config, None)
    }

    /// `open`, publishing into `watermarks` (a writer reopened after a cut keeps its readers) or into new ones.
    fn open_on(
        dir: &Path,
        config: JournalConfig,
        watermarks: Option<Arc<Watermarks>>,
    ) -> Result<(JournalWriter, RecoveryReport), OpenError> {
        validate(&config)?;
        let lock = lock_dir(dir)?;
        let (report, tail) = recover_locked(dir)?;
        let dir = dir.to_path_buf();
        // Whatever recovery kept may still be only in the page cache (the previous writer may have died without
        // syncing); sync it all once, before anything new is created. From here on every recovered record is
        // durable: the durable watermark starts at the last of them, and a segment created now may carry it as its
        // checkpoint.
        fsio::syncfs(&dir).map_err(|err| OpenError::io(&dir, err))?;
        let last_seq = tail
            .as_ref()
            .map_or(config.first_seq - 1, |tail| tail.next_seq - 1);

        let (current, write_offset, next_seq) = match tail {
            None => (
                Segment::create(&dir, config.first_seq, config.segment_bytes, last_seq)?,
                FIRST_FRAME_OFFSET_BYTES,
                config.first_seq,
            ),
            Some(tail) if tail.needs_new_segment => (
                Segment::create(&dir, tail.next_seq, config.segment_bytes, last_seq)?,
                FIRST_FRAME_OFFSET_BYTES,
                tail.next_seq,
            ),
            Some(tail) => {
                let segment = Segment::open(&tail.path, Access::Append, None)?;
                (segment, tail.append_offset as usize, tail.next_seq)
            }
        };
        current.written_end.store(write_offset, Ordering::Release);
        let current = Arc::new(current);
        let first_seq = report.first_seq.unwrap_or(next_seq);
        let watermarks = match watermarks {
            Some(watermarks) => {
                watermarks.restart_at(last_seq);
                watermarks
            }
            None => Arc::new(Watermarks::new(last_seq)),
        };
        let shared = Arc::new(SyncShared::new(
            dir.clone(),
            watermarks,
            Arc::clone(&current),
            write_offset,
            last_seq,
        ));
        let flusher = match config.fsync {
            FsyncPolicy::IntervalMs(interval_ms) => Some(
                Flusher::start(
                    Arc::clone(&shared),
                    interval_ms,
                    Duration::from_micros(u64::from(config.requested_round_max_gap_us)),
                )
                .map_err(|err| OpenError::io(&dir, err))?,
            ),
            FsyncPolicy::None | FsyncPolicy::EveryBatch => None,
        };
        let preparer = Preparer::start(dir.clone()).map_err(|err| OpenError::io(&dir, err))?;
        preparer.request(Request {
            first_seq: next_first_seq(current.header.first_seq, current.header.segment_bytes),
            segment_bytes: config.segment_bytes,
            checkpoint_seq: last_seq,
        });
        let writer = JournalWriter {
            dir,
            config,
            current,
            write_offset,
            staging: Staging::new(),
            next_seq,
            first_seq,
            pending_seq: 0,
            shared,
            flusher,
            preparer,
            _lock: lock,
        };
        Ok((writer, report))
    }

    /// Writes `command` as the next record. It becomes visible to readers at the next `commit_batch`. On error
    /// nothing was written and the same sequence number is expected again.
    #[inline]
    pub fn append(&mut self, command: &Command) -> Result<(), AppendError> {
        if self.shared.is_poisoned() {
            return Err(AppendError::Poisoned {
                reason: self.shared.failure_reason(),
            });
        }
        if command.seq != self.next_seq {
            return Err(AppendError::OutOfSequence {
                expected: self.next_seq,
                found: command.seq,
            });
        }
        if self.write_offset + FRAME_BYTES > self.current.region_bytes {
            self.roll_over()?;
        }
        if self.staging.is_full() {
            self.write_staged()?;
        }
        let frame = self.staging.next_frame();
        let payload_bytes = encode_frame(frame, command)
            .map_err(|()| AppendError::Serialize { seq: command.seq })?;
        frame[0..4].copy_from_slice(&payload_bytes.to_le_bytes());
        self.staging.staged_bytes += FRAME_BYTES;
        self.write_offset += FRAME_BYTES;
        self.pending_seq = command.seq;
        self.next_seq += 1;
        Ok(())
    }

    /// Writes the staged frames to the current segment's file, where they lie just before `write_offset`. A failed
    /// write poisons the writer: how much of it reached the page cache is unknown, so nothing after it may be
    /// published.
    #[inline]
    fn write_staged(&mut self) -> Result<(), AppendError> {
        let staged_bytes = self.staging.staged_bytes;
        if staged_bytes == 0 {
            return Ok(());
        }
        let offset = self.write_offset - staged_bytes;
        if let Err(err) = self.current.write_at(offset, self.staging.staged()) {
            return Err(self.poison_on_write(err));
        }
        self.staging.staged_bytes = 0;
        Ok(())
    }

    #[cold]
    fn poison_on_write(&self, err: std::io::Error) -> AppendError {
        let path = self.current.path.clone();
        self.shared
            .poison(format!("writing records to {}: {err}", path.display()));
        AppendError::io(&path, err)
    }

    /// Ends a batch: publishes the written watermark (Release) and, under `EveryBatch`, syncs and publishes the
    /// durable watermark before returning.
    pub fn commit_batch(&mut self) -> Result<(), AppendError> {
        if self.shared.is_poisoned() {
            return Err(AppendError::Poisoned {
                reason: self.shared.failure_reason(),
            });
        }
        self.publish_pending()?;
        match self.config.fsync {
            FsyncPolicy::EveryBatch => self.sync_inner(),
            FsyncPolicy::IntervalMs(_) | FsyncPolicy::None => Ok(()),
        }
    }

    /// Publishes anything pending and syncs it now, whatever the policy; returns once the durable watermark covers
    /// every appended record.
    pub fn sync(&mut self) -> Result<(), AppendError> {
        self.publish_pending()?;
        self.sync_inner()
    }

    /// Writes the staged frames out and publishes everything appended since the last publication: the frames reach
    /// the page cache before anything says they exist, and the segment's end is stored before the written watermark
    /// so that a sync which reads the watermark also finds the bytes behind it (see flusher.rs).
    #[inline]
    fn publish_pending(&mut self) -> Result<(), AppendError> {
        if self.pending_seq != 0 {
            self.write_staged()?;
            self.current
                .written_end
                .store(self.write_offset, Ordering::Release);
            self.shared.watermarks.publish_written(self.pending_seq);
            self.pending_seq = 0;
        }
        Ok(())
    }

    fn sync_inner(&mut self) -> Result<(), AppendError> {
        if self.shared.is_poisoned() {
            return Err(AppendError::Poisoned {
                reason: self.shared.failure_reason(),
            });
        }
        self.shared.sync_now().map_err(|(path, err)| {
            self.shared.poison(format!("{}: {err}", path.display()));
            AppendError::io(&path, err)
        })
    }

    /// Stops the flusher, syncs everything and releases the directory. A closed journal's durable checkpoint
    /// covers its last record.
    pub fn close(mut self) -> Result<(), AppendError> {
        if let Some(mut flusher) = self.flusher.take() {
            flusher.stop();
        }
        self.preparer.stop();
        self.sync()?;
        // The round above persisted the checkpoint of the round before it; one more, with nothing new to sync but
        // the header page, brings it level with the durable watermark.
        if self.shared.checkpoint_behind() {
            self.sync_inner()?;
        }
        Ok(())
    }

    /// Takes the next segment (prepared in the background, or created here if it was not), then seals the current
    /// one. The new file exists (durably) before the seal is stored, so a reader that sees the seal can always open
    /// the next segment; and if creation failed, nothing has changed and the append that needed the room reports
    /// the error (a later append retries the creation).
    #[cold]
    fn roll_over(&mut self) -> Result<(), AppendError> {
        let next = match self.preparer.take(self.next_seq) {
            Some(prepared) => prepared?,
            None => Segment::create(
                &self.dir,
                self.next_seq,
                self.config.segment_bytes,
                self.shared.watermarks.synced_seq(),
            )?,
        };
        let next = Arc::new(next);
        // The old segment's last frames go out before its seal, which a reader takes as the end of its records.
        self.write_staged()?;
        if self.write_offset + 4 <= self.current.region_bytes {
            if let Err(err) = self
                .current
                .write_at(self.write_offset, &SEAL_WORD.to_le_bytes())
            {
                return Err(self.poison_on_write(err));
            }
            self.write_offset += 8;
        }
        self.current
            .written_end
            .store(self.write_offset, Ordering::Release);
        // Under `None` nobody would sync a sealed segment, so its mapping is not kept alive for it.
        let keep_for_sync = self.config.fsync != FsyncPolicy::None;
        self.shared.hand_over(Arc::clone(&next), keep_for_sync);
        self.current = next;
        self.write_offset = FIRST_FRAME_OFFSET_BYTES;
        self.preparer.request(Request {
            first_seq: next_first_seq(self.next_seq, self.config.segment_bytes),
            segment_bytes: self.config.segment_bytes,
            checkpoint_seq: self.shared.watermarks.synced_seq(),
        });
        Ok(())
    }

    /// Waits until the segment after the current one is prepared (or its creation has failed, which the append that
    /// needs it reports). Start-up calls it before taking orders, so that creating, preallocating and syncing that
    /// file is not done beside a gateway already trading on a box with few cores.
    pub fn wait_for_next_segment(&self) {
        self.preparer.wait_until_prepared();
    }

    /// The sequence number the next appended command must carry.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The sequence number of the journal's first record (of the first to come, in an empty journal).
    pub fn first_seq(&self) -> u64 {
        self.first_seq
    }

    /// A handle another thread can sync this journal with (a replica makes the records it accepted durable
    /// before it acknowledges them), sharing the writer's group commit.
    pub fn sync_handle(&self) -> JournalSync {
        JournalSync {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Cuts every record after `last_kept_seq` from the live journal: a replica dropping records it accepted that
    /// the cluster did not commit. The writer closes, the journal is cut (`truncate_after`) and reopened on the same
    /// watermarks, so readers that follow it keep following. Records readers may have seen (up to the visible
    /// written watermark) cannot be cut.
    pub fn cut_after(
        self,
        last_kept_seq: u64,
    ) -> Result<(JournalWriter, TruncateReport), CutError> {
        let watermarks = self.watermarks();
        let visible_seq = watermarks.written_seq();
        if last_kept_seq < visible_seq {
            return Err(CutError::Visible {
                last_kept_seq,
                visible_seq,
                writer: Box::new(self),
            });
        }
        let dir = self.dir.clone();
        let config = self.config;
        if last_kept_seq + 1 >= self.next_seq {
            return Ok((self, TruncateReport::default()));
        }
        self.close().map_err(CutError::Close)?;
        let report =
            crate::truncate::truncate_after(&dir, last_kept_seq).map_err(CutError::Truncate)?;
        let (writer, _) =
            JournalWriter::open_on(&dir, config, Some(watermarks)).map_err(CutError::Reopen)?;
        Ok((writer, report))
    }

    /// The helper threads running for this writer (the flusher only under `FsyncPolicy::IntervalMs`), as
    /// `pthread_t`s a caller may give a scheduling policy (`pthread_setschedparam`). The journal leaves them as it
    /// started them.
    pub fn threads(&self) -> Vec<(JournalThread, libc::pthread_t)> {
        let flusher = self.flusher.as_ref().and_then(Flusher::pthread);
        let preparer = self.preparer.pthread();
        flusher
            .map(|thread| (JournalThread::Flusher, thread))
            .into_iter()
            .chain(preparer.map(|thread| (JournalThread::Preparer, thread)))
            .collect()
    }

    /// The watermarks, for readers, the replicator and the gateway's ack policy.
    pub fn watermarks(&self) -> Arc<Watermarks> {
        Arc::clone(&self.shared.watermarks)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn config(&self) -> &JournalConfig {
        &self.config
    }

    /// A reader positioned at `from_seq` that follows this writer, seeing records up to the written watermark.
    pub fn tail_reader(&self, from_seq: u64) -> Result<JournalReader, crate::error::ReadError> {
        JournalReader::open_tailing(&self.dir, self.watermarks(), from_seq)
    }
}

/// Syncs a journal from another thread than its writer's (`JournalWriter::sync_handle`).
#[derive(Debug, Clone)]
pub struct JournalSync {
    shared: Arc<SyncShared>,
}

impl JournalSync {
    /// Syncs everything the writer has published; returns the seq every record up to which is on stable
    /// storage.
    pub fn sync(&self) -> Result<u64, AppendError> {
        if self.shared.is_poisoned() {
            return Err(AppendError::Poisoned {
                reason: self.shared.failure_reason(),
            });
        }
        self.shared.sync_now().map_err(|(path, err)| {
            self.shared.poison(format!("{}: {err}", path.display()));
            AppendError::io(&path, err)
        })?;
        Ok(self.shared.watermarks.synced_seq())
    }

    /// The last record on stable storage.
    pub fn synced_seq(&self) -> u64 {
        self.shared.watermarks.synced_seq()
    }
}

impl Drop for JournalWriter {
    fn drop(&mut self) {
        // Without `close` nothing is synced here: a drop cannot report a failure, and the records are as safe as a
        // crash would leave them, which recovery handles.
        if let Some(mut flusher) = self.flusher.take() {
            flusher.stop();
        }
    }
}

fn validate(config: &JournalConfig) -> Result<(), OpenError> {
    if !segment_bytes_valid(config.segment_bytes) {
        return Err(OpenError::InvalidConfig {
            reason: format!(
                "segment_bytes = {} must be a multiple of {PAGE_BYTES} and hold the header, the checkpoint block and \
                 one {FRAME_BYTES}-byte record",
                config.segment_bytes
            ),
        });
    }
    if config.first_seq == 0 {
        return Err(OpenError::InvalidConfig {
            reason: "first_seq must be at least 1".to_string(),
        });
    }
    if let FsyncPolicy::IntervalMs(0) = config.fsync {
        return Err(OpenError::InvalidConfig {
            reason: "fsync interval_ms must be at least 1".to_string(),
        });
    }
    if config.requested_round_max_gap_us > REQUESTED_ROUND_MAX_GAP_LIMIT_US {
        return Err(OpenError::InvalidConfig {
            reason: format!(
                "requested_round_max_gap_us = {} must be at most {REQUESTED_ROUND_MAX_GAP_LIMIT_US}",
                config.requested_round_max_gap_us
            ),
        });
    }
    Ok(())
}
