//! Recovery: find the valid prefix of the journal, tell a torn tail (cut it) from corruption (stop), and repair what
//! an interrupted rollover leaves behind.
//!
//! The scan reads every segment's durable checkpoint block and then every frame: length word, checksum, rkyv
//! bytecheck, and the sequence number, which must run on without a gap from record to record and from segment to
//! segment. The journal's checkpoint C is the highest claim among the blocks; every claim is true, because a value is
//! stored only once it is on stable storage (flusher.rs). Where the valid prefix ends, at the frame that should hold
//! seq s, with something other than zeros after it:
//! - s > C: the frame was never known durable, so this is a torn tail, whatever follows. A power loss can leave
//!   later pages written back and this one not, so valid-looking frames after the hole are expected; they were never
//!   acknowledged durable and keeping them would leave a gap. The cut zeroes the rest of that segment, deletes the
//!   later segments, and reports the bytes, frames and files it dropped;
//! - s <= C and a valid frame after it, in this segment or a later one: corruption of synced data, an error naming
//!   the file and offset; nothing is changed;
//! - s <= C and nothing valid after it: synced records are missing, also an error (a crash cannot cause it);
//! - C unknown (a checkpoint block with no valid slot): the rules without a checkpoint, a valid frame after the bad
//!   one is corruption and anything else is a torn tail.
//!
//! See docs/JOURNAL.md for the crash cases each rule answers.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{FrameDefect, OpenError, RecoveryError};
use crate::fsio::{self, DirLock, LockError};
use crate::record::{read_frame, Frame, FRAME_BYTES, SEAL_WORD};
use crate::segment::{
    ends_inside_a_checkpoint_slot, list_segments, Access, Segment, FIRST_FRAME_OFFSET_BYTES,
};

/// How a segment's frames end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentEnd {
    /// No room for another frame.
    Full,
    /// The writer moved on to the next segment.
    Sealed,
    /// Zeros after the last record: the newest segment, still being written (or left unsealed by a crash in the
    /// middle of a rollover, which recovery repairs).
    Open,
    /// Non-zero bytes after the last record with no valid record after them: the torn tail of a crash.
    Torn { bytes: u64, defect: FrameDefect },
    /// A bad frame followed by a valid one in the same segment: corruption, or the hole a power loss leaves when
    /// pages are written back out of order; the journal's durable checkpoint tells which.
    Corrupt {
        defect: FrameDefect,
        next_valid_offset: u64,
        /// From the bad frame to the last non-zero byte of the segment: what a cut zeroes.
        bytes: u64,
        /// Valid-looking frames from `next_valid_offset` on.
        valid_frames_after: u64,
    },
    /// A valid record whose sequence number breaks the sequence.
    Gap { expected: u64, found: u64 },
}

/// The result of reading one segment from its header to the end of its valid records.
#[derive(Debug, Clone)]
pub struct SegmentScan {
    pub path: PathBuf,
    pub first_seq: u64,
    pub segment_bytes: u64,
    pub file_bytes: u64,
    pub records: u64,
    /// Offset just past the last valid record: where the next record goes.
    pub valid_end: u64,
    pub end: SegmentEnd,
    /// What this segment's checkpoint block claims is durable: every record up to this seq (0: nothing). `None`
    /// when no slot of the block is valid.
    pub checkpoint_seq: Option<u64>,
}

impl SegmentScan {
    /// The sequence number the next record after this segment's valid ones must carry.
    pub fn next_seq(&self) -> u64 {
        self.first_seq + self.records
    }

    pub fn last_seq(&self) -> Option<u64> {
        (self.records > 0).then(|| self.first_seq + self.records - 1)
    }
}

/// A torn tail that recovery cut (or, from a read-only tool, would cut).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    pub path: PathBuf,
    /// Where the cut starts: the first bad frame.
    pub offset: u64,
    /// Bytes zeroed in `path` from `offset` (up to its last non-zero byte).
    pub bytes: u64,
    pub defect: FrameDefect,
    /// The sequence number that belonged at `offset`: the first record not kept.
    pub first_cut_seq: u64,
    /// The journal's durable checkpoint; the cut starts after it. `None`: unreadable (see `RecoveryReport`).
    pub durable_checkpoint_seq: Option<u64>,
    /// Valid-looking frames beyond the hole, in `path` and in `discarded_segments`, dropped with it. A power loss
    /// can write later pages back before earlier ones, but these records were never acknowledged durable, and
    /// keeping them would leave a gap in the sequence.
    pub discarded_frames: u64,
    /// Later segments deleted because everything in them came after the hole.
    pub discarded_segments: Vec<PathBuf>,
}

impl fmt::Display for TornTail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "torn tail at {} offset {} ({}): {} bytes cut, records from seq {} on dropped",
            self.path.display(),
            self.offset,
            self.defect,
            self.bytes,
            self.first_cut_seq
        )?;
        match self.durable_checkpoint_seq {
            Some(seq) => write!(f, " (durable checkpoint: seq {seq})")?,
            None => write!(f, " (durable checkpoint unreadable)")?,
        }
        if self.discarded_frames > 0 || !self.discarded_segments.is_empty() {
            write!(
                f,
                "; {} valid-looking frames beyond the hole and {} later segments discarded: they were never \
                 acknowledged durable",
                self.discarded_frames,
                self.discarded_segments.len()
            )?;
        }
        Ok(())
    }
}

/// What recovery found and changed.
#[derive(Debug, Clone, Default)]
pub struct RecoveryReport {
    pub segments: usize,
    pub records: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub torn_tail: Option<TornTail>,
    /// The journal's durable checkpoint as found: every record up to it was on stable storage. `None` when a
    /// checkpoint block had no valid slot, so recovery fell back to the rules without a checkpoint.
    pub durable_checkpoint_seq: Option<u64>,
    /// Interrupted segment creations, empty segments left after a gap by a crash during rollover, and segments
    /// discarded after a torn tail (also listed in `TornTail::discarded_segments`).
    pub removed_files: Vec<PathBuf>,
    /// Full segments whose seal word a crash during rollover lost.
    pub resealed_segments: Vec<PathBuf>,
    /// Newest segments that had been cut short and were extended back to their preallocated size.
    pub extended_segments: Vec<PathBuf>,
    /// Segments whose checkpoint block had no valid slot, or claimed more than was recovered (possible only after
    /// falling back to the rules without a checkpoint), or was cut short inside a slot and extended; rewritten with
    /// the last recovered seq once that was synced.
    pub rewritten_checkpoints: Vec<PathBuf>,
}

/// The durable checkpoint of the whole journal: the highest claim among its segments' checkpoint blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JournalCheckpoint {
    /// Every record up to `seq` is on stable storage, as `path`'s block claims (`None`: no block claims anything).
    Known { seq: u64, path: Option<PathBuf> },
    /// `path`'s block has no valid slot, so how far the journal was synced is not known.
    Unknown { path: PathBuf },
}

impl JournalCheckpoint {
    pub(crate) fn seq(&self) -> Option<u64> {
        match self {
            JournalCheckpoint::Known { seq, .. } => Some(*seq),
            JournalCheckpoint::Unknown { .. } => None,
        }
    }

    /// The record `seq` was on stable storage.
    fn covers(&self, seq: u64) -> bool {
        self.seq().is_some_and(|checkpoint| seq <= checkpoint)
    }

    /// The record `seq` was never known durable (and the checkpoint is readable).
    fn precedes(&self, seq: u64) -> bool {
        self.seq().is_some_and(|checkpoint| seq > checkpoint)
    }

    fn path(&self) -> Option<&Path> {
        match self {
            JournalCheckpoint::Known { path, .. } => path.as_deref(),
            JournalCheckpoint::Unknown { path } => Some(path),
        }
    }
}

/// Reads frames from the header to the end of the valid prefix. `live` means a writer holds the lock, so zeros
/// after the prefix are work in progress and the tail is not examined. `checkpoint_seq` is the segment's block,
/// read by the caller before the frames.
pub(crate) fn scan_segment(
    segment: &Segment,
    checkpoint_seq: Option<u64>,
    live: bool,
) -> SegmentScan {
    let mut offset = FIRST_FRAME_OFFSET_BYTES;
    let mut expected = segment.header.first_seq;
    let end = loop {
        // SAFETY: recovery holds the directory lock, or the caller saw no live writer, or (live) frames are only
        // read once their length word is non-zero, after which the writer never changes them.
        match unsafe { read_frame(segment, offset) } {
            // A file cut short ends before its preallocated size: that is the end of what was written, not a full
            // segment.
            Frame::End if (segment.region_bytes as u64) < segment.header.segment_bytes => {
                break examine_tail(
                    segment,
                    offset,
                    FrameDefect::Truncated {
                        needed: FRAME_BYTES as u64,
                        available: (segment.region_bytes - offset.min(segment.region_bytes)) as u64,
                    },
                )
            }
            Frame::End => break SegmentEnd::Full,
            Frame::Sealed => break SegmentEnd::Sealed,
            Frame::Valid { seq, .. } if seq == expected => {
                offset += FRAME_BYTES;
                expected += 1;
            }
            Frame::Valid { seq, .. } => {
                break SegmentEnd::Gap {
                    expected,
                    found: seq,
                }
            }
            Frame::Empty if live => break SegmentEnd::Open,
            Frame::Empty => break examine_tail(segment, offset, FrameDefect::Empty),
            // Beside a live writer a frame at the tail may be read while the kernel copies it in (reader.rs): only
            // valid frames after it make it damage.
            Frame::Invalid(defect) if live => match examine_tail(segment, offset, defect) {
                corrupt @ SegmentEnd::Corrupt { .. } => break corrupt,
                _ => break SegmentEnd::Open,
            },
            Frame::Invalid(defect) => break examine_tail(segment, offset, defect),
        }
    };
    SegmentScan {
        path: segment.path.clone(),
        first_seq: segment.header.first_seq,
        segment_bytes: segment.header.segment_bytes,
        file_bytes: segment.file_bytes,
        records: expected - segment.header.first_seq,
        valid_end: offset as u64,
        end,
        checkpoint_seq,
    }
}

/// Classifies what follows the valid prefix that ends at `offset`.
fn examine_tail(segment: &Segment, offset: usize, defect: FrameDefect) -> SegmentEnd {
    let nonzero_end = last_nonzero_end(segment, offset);
    if let Some(next_valid_offset) = find_valid_frame(segment, offset + 8) {
        return SegmentEnd::Corrupt {
            defect,
            next_valid_offset: next_valid_offset as u64,
            bytes: (nonzero_end - offset) as u64,
            valid_frames_after: count_valid_frames(segment, next_valid_offset),
        };
    }
    if nonzero_end == offset {
        SegmentEnd::Open
    } else {
        SegmentEnd::Torn {
            bytes: (nonzero_end - offset) as u64,
            defect,
        }
    }
}

/// The first 8-aligned offset from `from` holding a frame whose length, checksum and archive all hold. Frames do
/// not move, but a damaged length word hides where the next one starts, so every aligned offset is tried.
fn find_valid_frame(segment: &Segment, from: usize) -> Option<usize> {
    let mut offset = from;
    while offset + FRAME_BYTES <= segment.region_bytes {
        // SAFETY: as in `scan_segment`; this only runs without a live writer.
        if let Frame::Valid { .. } = unsafe { read_frame(segment, offset) } {
            return Some(offset);
        }
        offset += 8;
    }
    None
}

/// How many valid-looking frames lie at or after `from` (searched like `find_valid_frame`).
fn count_valid_frames(segment: &Segment, from: usize) -> u64 {
    let mut offset = from;
    let mut frames = 0;
    while offset + FRAME_BYTES <= segment.region_bytes {
        // SAFETY: as in `scan_segment`.
        if let Frame::Valid { .. } = unsafe { read_frame(segment, offset) } {
            frames += 1;
            offset += FRAME_BYTES;
        } else {
            offset += 8;
        }
    }
    frames
}

/// One past the last non-zero byte at or after `from` (8-byte granularity, clamped to the region), or `from` if all
/// are zero.
fn last_nonzero_end(segment: &Segment, from: usize) -> usize {
    let mut end = segment.map_bytes;
    while end > from {
        if segment.load_u64_relaxed(end - 8) != 0 {
            return end.min(segment.region_bytes).max(from);
        }
        end -= 8;
    }
    from
}

/// One listed segment file and, if its header could be read, its scan.
#[derive(Debug)]
pub(crate) struct Entry {
    pub path: PathBuf,
    pub scan: Option<SegmentScan>,
}

/// Changes recovery makes once the scan found no fatal problem.
#[derive(Debug, Default)]
pub(crate) struct RepairPlan {
    pub remove: Vec<PathBuf>,
    pub reseal: Vec<(PathBuf, u64)>,
    pub torn: Option<TornTail>,
    pub extend: Option<PathBuf>,
    /// Kept segments whose checkpoint block has no valid slot or claims more than recovery keeps (possible only
    /// when it fell back to the rules without a checkpoint): rewritten with the last kept seq once that is synced,
    /// so that a writer never appends under a claim covering records it has not written yet. Also the segment
    /// extended when its file ends inside a checkpoint slot: the part of the slot left would read as damaged once
    /// the file is extended, and rewriting it in the same pass keeps recovery idempotent.
    pub rewrite_checkpoints: Vec<PathBuf>,
}

/// The whole journal directory, scanned.
#[derive(Debug)]
pub(crate) struct JournalScan {
    pub entries: Vec<Entry>,
    /// Index of the newest segment that is kept (after empty trailing segments planned for removal, and segments
    /// discarded after a torn tail).
    pub last_kept: Option<usize>,
    pub checkpoint: JournalCheckpoint,
    pub problems: Vec<RecoveryError>,
    pub plan: RepairPlan,
}

/// Where a torn tail after the checkpoint is cut: segment `index`, from its valid end.
struct Cut {
    index: usize,
    bytes: u64,
    defect: FrameDefect,
    valid_frames_after: u64,
}

pub(crate) fn scan_journal(dir: &Path, live: bool) -> Result<JournalScan, RecoveryError> {
    let listing = list_segments(dir).map_err(|source| RecoveryError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut problems = Vec::new();

    // Every checkpoint block is read before any frame: beside a live writer, a checkpoint read first is at most the
    // written watermark of that moment, which the frames read afterwards reach, so synced records never look missing.
    let mut segments = Vec::with_capacity(listing.segments.len());
    let mut checkpoint = JournalCheckpoint::Known { seq: 0, path: None };
    for (first_seq, path) in listing.segments {
        match Segment::open(&path, Access::ReadOnly, Some(first_seq)) {
            Ok(segment) => {
                let claim = segment.load_checkpoint().seq();
                match (&checkpoint, claim) {
                    (JournalCheckpoint::Unknown { .. }, _) => {}
                    (_, None) => checkpoint = JournalCheckpoint::Unknown { path: path.clone() },
                    (JournalCheckpoint::Known { seq, .. }, Some(claim)) if claim > *seq => {
                        checkpoint = JournalCheckpoint::Known {
                            seq: claim,
                            path: Some(path.clone()),
                        }
                    }
                    (JournalCheckpoint::Known { .. }, Some(_)) => {}
                }
                segments.push((path, Some((segment, claim))));
            }
            Err(fault) => {
                problems.push(RecoveryError::from(fault));
                segments.push((path, None));
            }
        }
    }
    let entries: Vec<Entry> = segments
        .iter()
        .map(|(path, opened)| Entry {
            path: path.clone(),
            scan: opened
                .as_ref()
                .map(|(segment, claim)| scan_segment(segment, *claim, live)),
        })
        .collect();
    // A live writer's preparer creates the next segment under a temporary name on purpose: work in progress, like
    // the prepared segment below, not a leftover to remove.
    let mut plan = RepairPlan {
        remove: if live {
            Vec::new()
        } else {
            listing.temporaries
        },
        ..RepairPlan::default()
    };

    // An empty newest segment after a gap is what a crash leaves when a rollover created the next segment but the
    // end of the previous one never reached the disk. It holds nothing, so it goes, and its predecessor's tail is
    // judged as the journal's tail. A live writer keeps its next segment prepared (empty, after a gap) on purpose:
    // that one is left alone and not judged.
    let mut last_kept = entries.len().checked_sub(1);
    while let Some(i) = last_kept.filter(|&i| i > 0) {
        let (Some(prev), Some(cur)) = (&entries[i - 1].scan, &entries[i].scan) else {
            break;
        };
        if cur.records == 0 && cur.end == SegmentEnd::Open && prev.next_seq() != cur.first_seq {
            if !live {
                plan.remove.push(cur.path.clone());
            }
            last_kept = Some(i - 1);
        } else {
            break;
        }
    }

    let kept = last_kept.map_or(0, |i| i + 1);
    let mut cut = None;
    for i in 0..kept {
        let Some(scan) = &entries[i].scan else {
            continue;
        };
        if let Some(prev) = i.checked_sub(1).and_then(|p| entries[p].scan.as_ref()) {
            if prev.next_seq() != scan.first_seq {
                problems.push(RecoveryError::SequenceGap {
                    path: scan.path.clone(),
                    offset: FIRST_FRAME_OFFSET_BYTES as u64,
                    expected: prev.next_seq(),
                    found: scan.first_seq,
                });
            }
        }
        let is_last = i + 1 == kept;
        // The record that belongs where the valid prefix ends.
        let lost_seq = scan.next_seq();
        let corruption =
            |defect, next_path: &Path, next_offset| RecoveryError::MidJournalCorruption {
                path: scan.path.clone(),
                offset: scan.valid_end,
                defect,
                next_path: next_path.to_path_buf(),
                next_offset,
                seq: lost_seq,
                checkpoint_seq: checkpoint.seq(),
            };
        match scan.end {
            SegmentEnd::Full | SegmentEnd::Sealed => {}
            SegmentEnd::Open if is_last => {
                if checkpoint.covers(lost_seq) {
                    problems.push(durable_records_lost(
                        scan,
                        missing_defect(scan),
                        &checkpoint,
                    ));
                }
            }
            SegmentEnd::Open if live => {}
            SegmentEnd::Open => {
                let continues = entries[i + 1]
                    .scan
                    .as_ref()
                    .is_some_and(|next| next.first_seq == lost_seq);
                if continues {
                    plan.reseal.push((scan.path.clone(), scan.valid_end));
                } else if checkpoint.precedes(lost_seq) {
                    // The end of this segment never reached the disk but later segments did: nothing to zero here.
                    cut = Some(Cut {
                        index: i,
                        bytes: 0,
                        defect: missing_defect(scan),
                        valid_frames_after: 0,
                    });
                    break;
                }
                // Otherwise the next segment's first seq does not continue this one: reported there as a gap.
            }
            SegmentEnd::Torn { bytes, defect } => {
                if checkpoint.precedes(lost_seq) || (is_last && !checkpoint.covers(lost_seq)) {
                    cut = Some(Cut {
                        index: i,
                        bytes,
                        defect,
                        valid_frames_after: 0,
                    });
                    break;
                } else if is_last {
                    problems.push(durable_records_lost(scan, defect, &checkpoint));
                } else {
                    // The journal continues in the next segment, so these bytes are not the tail of anything.
                    problems.push(corruption(
                        defect,
                        &entries[i + 1].path,
                        FIRST_FRAME_OFFSET_BYTES as u64,
                    ));
                }
            }
            SegmentEnd::Corrupt {
                defect,
                next_valid_offset,
                bytes,
                valid_frames_after,
            } => {
                if checkpoint.precedes(lost_seq) {
                    cut = Some(Cut {
                        index: i,
                        bytes,
                        defect,
                        valid_frames_after,
                    });
                    break;
                }
                problems.push(corruption(defect, &scan.path, next_valid_offset));
            }
            SegmentEnd::Gap { expected, found } => problems.push(RecoveryError::SequenceGap {
                path: scan.path.clone(),
                offset: scan.valid_end,
                expected,
                found,
            }),
        }
        if is_last && scan.file_bytes < scan.segment_bytes {
            plan.extend = Some(scan.path.clone());
        }
    }

    if let Some(cut) = cut {
        if let Some(scan) = &entries[cut.index].scan {
            let discarded_segments: Vec<PathBuf> = entries[cut.index + 1..kept]
                .iter()
                .map(|entry| entry.path.clone())
                .collect();
            let discarded_frames = cut.valid_frames_after
                + segments[cut.index + 1..kept]
                    .iter()
                    .filter_map(|(_, opened)| opened.as_ref())
                    .map(|(segment, _)| count_valid_frames(segment, FIRST_FRAME_OFFSET_BYTES))
                    .sum::<u64>();
            plan.remove.extend(discarded_segments.iter().cloned());
            plan.torn = Some(TornTail {
                path: scan.path.clone(),
                offset: scan.valid_end,
                bytes: cut.bytes,
                defect: cut.defect,
                first_cut_seq: scan.next_seq(),
                durable_checkpoint_seq: checkpoint.seq(),
                discarded_frames,
                discarded_segments,
            });
            if scan.file_bytes < scan.segment_bytes {
                plan.extend = Some(scan.path.clone());
            }
            last_kept = Some(cut.index);
        }
    }

    let kept = last_kept.map_or(0, |i| i + 1);
    let last_kept_seq = entries[..kept]
        .iter()
        .rev()
        .find_map(|entry| entry.scan.as_ref())
        .map(|seg| seg.next_seq() - 1);
    if let (Some(last_seq), false) = (last_kept_seq, live) {
        plan.rewrite_checkpoints = entries[..kept]
            .iter()
            .filter_map(|entry| entry.scan.as_ref())
            .filter(|seg| {
                !matches!(seg.checkpoint_seq, Some(claim) if claim <= last_seq)
                    || (plan.extend.as_ref() == Some(&seg.path)
                        && ends_inside_a_checkpoint_slot(seg.file_bytes))
            })
            .map(|seg| seg.path.clone())
            .collect();
    }
    Ok(JournalScan {
        entries,
        last_kept,
        checkpoint,
        problems,
        plan,
    })
}

/// Why the record after a valid prefix that ends in zeros is missing: a zero length word, or the end of a file cut
/// short.
fn missing_defect(scan: &SegmentScan) -> FrameDefect {
    let needed = scan.valid_end + FRAME_BYTES as u64;
    if scan.file_bytes < needed.min(scan.segment_bytes) {
        FrameDefect::Truncated {
            needed: FRAME_BYTES as u64,
            available: scan.file_bytes.saturating_sub(scan.valid_end),
        }
    } else {
        FrameDefect::Empty
    }
}

fn durable_records_lost(
    scan: &SegmentScan,
    defect: FrameDefect,
    checkpoint: &JournalCheckpoint,
) -> RecoveryError {
    RecoveryError::DurableRecordsLost {
        path: scan.path.clone(),
        offset: scan.valid_end,
        defect,
        first_lost_seq: scan.next_seq(),
        checkpoint_seq: checkpoint.seq().unwrap_or(0),
        checkpoint_path: checkpoint
            .path()
            .map_or_else(|| scan.path.clone(), Path::to_path_buf),
    }
}

/// Where the writer continues after recovery.
#[derive(Debug, Clone)]
pub(crate) struct Tail {
    pub path: PathBuf,
    pub next_seq: u64,
    pub append_offset: u64,
    /// The newest segment is full or sealed: the first append goes to a new segment.
    pub needs_new_segment: bool,
}

/// Recovers `dir`, which the caller has locked: refuses on any problem, otherwise applies the repair plan.
pub(crate) fn recover_locked(dir: &Path) -> Result<(RecoveryReport, Option<Tail>), RecoveryError> {
    let scan = scan_journal(dir, false)?;
    if let Some(problem) = scan.problems.into_iter().next() {
        return Err(problem);
    }
    let plan = scan.plan;
    let mut report = RecoveryReport {
        durable_checkpoint_seq: scan.checkpoint.seq(),
        ..RecoveryReport::default()
    };

    for path in &plan.remove {
        fs::remove_file(path).map_err(|source| RecoveryError::Io {
            path: path.clone(),
            source,
        })?;
        report.removed_files.push(path.clone());
    }
    if !plan.remove.is_empty() {
        fsio::fsync_dir(dir).map_err(|source| RecoveryError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    for (path, offset) in &plan.reseal {
        let segment = Segment::open(path, Access::ReadWrite, None)?;
        segment.store_u32_release(*offset as usize, SEAL_WORD);
        segment.sync_all().map_err(|source| RecoveryError::Io {
            path: path.clone(),
            source,
        })?;
        report.resealed_segments.push(path.clone());
    }
    if let Some(torn) = &plan.torn {
        if torn.bytes > 0 {
            let segment = Segment::open(&torn.path, Access::ReadWrite, None)?;
            let (offset, bytes) = (torn.offset as usize, torn.bytes as usize);
            // SAFETY: the directory lock is held, so no writer exists, and readers never form references past the
            // valid prefix, which ends at `offset`.
            unsafe { segment.bytes_mut(offset, bytes) }.fill(0);
            segment
                .sync_range(offset, offset + bytes)
                .map_err(|source| RecoveryError::Io {
                    path: torn.path.clone(),
                    source,
                })?;
        }
        report.torn_tail = Some(torn.clone());
    }
    if let Some(path) = &plan.extend {
        let segment = Segment::open(path, Access::ReadWrite, None)?;
        let io_err = |source| RecoveryError::Io {
            path: path.clone(),
            source,
        };
        segment.extend_to_full_size().map_err(io_err)?;
        segment.sync_all().map_err(io_err)?;
        report.extended_segments.push(path.clone());
    }

    let kept = scan.last_kept.map_or(0, |i| i + 1);
    let mut tail = None;
    for entry in &scan.entries[..kept] {
        let Some(seg) = &entry.scan else { continue };
        report.segments += 1;
        report.records += seg.records;
        if report.first_seq.is_none() && seg.records > 0 {
            report.first_seq = Some(seg.first_seq);
        }
        if let Some(last) = seg.last_seq() {
            report.last_seq = Some(last);
        }
        tail = Some(Tail {
            path: seg.path.clone(),
            next_seq: seg.next_seq(),
            append_offset: seg.valid_end,
            needs_new_segment: matches!(seg.end, SegmentEnd::Full | SegmentEnd::Sealed),
        });
    }

    if let (Some(tail), false) = (&tail, plan.rewrite_checkpoints.is_empty()) {
        // The claim written is the last kept record, which must be on stable storage first.
        let last_seq = tail.next_seq - 1;
        fsio::syncfs(dir).map_err(|source| RecoveryError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        for path in &plan.rewrite_checkpoints {
            let segment = Segment::open(path, Access::ReadWrite, None)?;
            segment
                .store_checkpoint(0, last_seq)
                .and_then(|()| segment.store_checkpoint(1, last_seq))
                .and_then(|()| segment.sync_header_page())
                .map_err(|source| RecoveryError::Io {
                    path: path.clone(),
                    source,
                })?;
            report.rewritten_checkpoints.push(path.clone());
        }
    }
    Ok((report, tail))
}

/// Recovers the journal in `dir` without opening a writer: takes the writer's lock, cuts a torn tail, repairs an
/// interrupted rollover, and refuses (changing nothing) on corruption, a sequence gap or an unreadable header.
pub fn recover(dir: &Path) -> Result<RecoveryReport, OpenError> {
    let _lock = lock_dir(dir)?;
    let (report, _) = recover_locked(dir)?;
    Ok(report)
}

pub(crate) fn lock_dir(dir: &Path) -> Result<DirLock, OpenError> {
    check_dir(dir)?;
    DirLock::acquire(dir).map_err(|err| match err {
        LockError::Held(path) => OpenError::Locked { path },
        LockError::Io(path, source) => OpenError::io(&path, source),
    })
}

/// Turns a bad path into the error an operator understands before anything else is tried.
pub(crate) fn check_dir(dir: &Path) -> Result<(), OpenError> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(OpenError::NotADirectory {
            path: dir.to_path_buf(),
        }),
        Err(err) => Err(OpenError::io(dir, err)),
    }
}
