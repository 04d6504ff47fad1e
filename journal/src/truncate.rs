//! Cutting the journal after a sequence number: how a replica drops records it wrote but the cluster never
//! committed (a former leader's suffix), before it replays and follows.
//!
//! The cut runs offline, under the directory lock, after a normal recovery (so torn tails are already gone).
//! Segments that start after the cut are deleted newest first, so a crash part-way leaves a journal that is a
//! prefix of the old one; in the segment that holds the cut, the frames after it (and a seal word) are zeroed and
//! the checkpoint block is lowered to the cut if it claimed more, then the file and the directory are synced. The
//! next open finds an open segment ending at the cut and appends after it.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{OpenError, RecoveryError};
use crate::record::FRAME_BYTES;
use crate::recovery::{lock_dir, recover_locked, scan_segment};
use crate::segment::{list_segments, Access, Segment, FIRST_FRAME_OFFSET_BYTES};

/// What `truncate_after` removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TruncateReport {
    /// The journal's last seq before the cut (`None`: it was empty).
    pub last_seq_before: Option<u64>,
    /// Records dropped (0 when the journal already ended at or before the cut).
    pub records_dropped: u64,
    pub removed_segments: Vec<PathBuf>,
    /// The segment whose tail was zeroed, if the cut fell inside one.
    pub cut_segment: Option<PathBuf>,
}

/// Why the journal could not be cut.
#[derive(Debug, thiserror::Error)]
pub enum TruncateError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Recovery(#[from] RecoveryError),
    #[error(
        "cannot keep the journal up to seq {last_kept_seq}: it starts at seq {first_seq} (older records were \
         pruned)"
    )]
    BeforeStart { last_kept_seq: u64, first_seq: u64 },
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Why a live journal could not be cut (`JournalWriter::cut_after`). After `Close`, `Truncate` or `Reopen` the
/// writer is gone; opening the journal again recovers it. A refused cut (`Visible`) gives the writer back.
#[derive(Debug, thiserror::Error)]
pub enum CutError {
    #[error(
        "cannot cut the journal after seq {last_kept_seq}: readers may already have seen records up to seq \
         {visible_seq}"
    )]
    Visible {
        last_kept_seq: u64,
        visible_seq: u64,
        /// The writer, untouched.
        writer: Box<crate::writer::JournalWriter>,
    },
    #[error("closing the journal for the cut: {0}")]
    Close(crate::error::AppendError),
    #[error("cutting the journal: {0}")]
    Truncate(TruncateError),
    #[error("reopening the journal after the cut: {0}")]
    Reopen(OpenError),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> TruncateError + '_ {
    move |source| TruncateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Drops every record after `last_kept_seq` from the journal in `dir` (no writer may hold it). A journal that ends
/// at or before `last_kept_seq` is left as recovery leaves it.
pub fn truncate_after(dir: &Path, last_kept_seq: u64) -> Result<TruncateReport, TruncateError> {
    let _lock = lock_dir(dir)?;
    let (recovered, _) = recover_locked(dir)?;
    let mut report = TruncateReport {
        last_seq_before: recovered.last_seq,
        ..TruncateReport::default()
    };
    let Some(last_seq) = recovered.last_seq else {
        return Ok(report);
    };
    if last_seq <= last_kept_seq {
        return Ok(report);
    }
    let first_seq = recovered.first_seq.unwrap_or(1);
    // A journal may start after seq 1 (pruned, or restarted after a snapshot install); keeping nothing of one
    // that starts at `last_kept_seq + 1` is fine, keeping less than its start is not.
    if last_kept_seq + 1 < first_seq {
        return Err(TruncateError::BeforeStart {
            last_kept_seq,
            first_seq,
        });
    }
    report.records_dropped = last_seq - last_kept_seq;
    let segments = list_segments(dir).map_err(io_error(dir))?.segments;
    let keeps_a_segment = segments
        .first()
        .is_some_and(|(first, _)| *first <= last_kept_seq);
    for (segment_first_seq, path) in segments.iter().rev() {
        // The first segment stays even when it is emptied, so the journal keeps its starting seq.
        let is_first = Some(path) == segments.first().map(|(_, p)| p);
        let may_go = keeps_a_segment || !is_first;
        if may_go && *segment_first_seq > last_kept_seq {
            fs::remove_file(path).map_err(io_error(path))?;
            report.removed_segments.push(path.clone());
            continue;
        }
        cut_segment(path, last_kept_seq)?;
        report.cut_segment = Some(path.clone());
        break;
    }
    crate::fsio::fsync_dir(dir).map_err(io_error(dir))?;
    Ok(report)
}

/// Zeroes the frames of one segment after `last_kept_seq` (and the seal word after its last frame), and lowers
/// its checkpoint claim to `last_kept_seq`.
fn cut_segment(path: &Path, last_kept_seq: u64) -> Result<(), TruncateError> {
    let segment = Segment::open(path, Access::ReadWrite, None)
        .map_err(|fault| TruncateError::Recovery(fault.into()))?;
    let claim = segment.load_checkpoint().seq();
    let scan = scan_segment(&segment, claim, false);
    let kept_records = (last_kept_seq + 1).saturating_sub(segment.header.first_seq);
    let kept_records = kept_records.min(scan.records);
    let cut_offset = FIRST_FRAME_OFFSET_BYTES as u64 + kept_records * FRAME_BYTES as u64;
    // The valid frames, plus the word after them (a seal, or the start of a torn frame recovery left zeroed).
    let end = (scan.valid_end + FRAME_BYTES as u64).min(segment.region_bytes as u64);
    if end > cut_offset {
        let (offset, len) = (cut_offset as usize, (end - cut_offset) as usize);
        // SAFETY: the directory lock is held, so no writer exists in any process, and no reader in this process
        // holds a slice of this freshly opened mapping. Readers of the same file through other mappings (a live
        // cut, `JournalWriter::cut_after`) read frames only up to the visible written watermark, which is at or
        // before the cut, so none of them reads these bytes while they change.
        unsafe { segment.bytes_mut(offset, len) }.fill(0);
    }
    if claim.is_some_and(|seq| seq > last_kept_seq) {
        segment
            .store_checkpoint(0, last_kept_seq)
            .and_then(|()| segment.store_checkpoint(1, last_kept_seq))
            .map_err(io_error(path))?;
    }
    segment.sync_all().map_err(io_error(path))?;
    Ok(())
}
