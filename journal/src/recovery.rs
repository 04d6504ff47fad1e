//! Recovery: find the valid prefix of the journal, tell a torn tail (cut it) from corruption (stop), and repair what
//! an interrupted rollover leaves behind.
//!
//! The scan reads every frame of every segment: length word, checksum, rkyv bytecheck, and the sequence number,
//! which must run on without a gap from record to record and from segment to segment. Where the valid prefix of a
//! segment ends, what follows decides:
//! - nothing but zeros: the segment is open (the writer continues here);
//! - non-zero bytes and no valid frame after them: a torn tail, zeroed and reported with its size;
//! - a valid frame after them, in this segment or a later one: corruption, an error naming the file and offset.
//!
//! See docs/JOURNAL.md for the crash cases each rule answers.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{FrameDefect, OpenError, RecoveryError};
use crate::fsio::{self, DirLock, LockError};
use crate::header::HEADER_BYTES;
use crate::record::{read_frame, Frame, FRAME_BYTES, SEAL_WORD};
use crate::segment::{list_segments, Access, Segment};

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
    /// A bad frame followed by a valid one in the same segment.
    Corrupt {
        defect: FrameDefect,
        next_valid_offset: u64,
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
    pub offset: u64,
    pub bytes: u64,
    pub defect: FrameDefect,
}

/// What recovery found and changed.
#[derive(Debug, Clone, Default)]
pub struct RecoveryReport {
    pub segments: usize,
    pub records: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub torn_tail: Option<TornTail>,
    /// Interrupted segment creations and empty segments left after a gap by a crash during rollover.
    pub removed_files: Vec<PathBuf>,
    /// Full segments whose seal word a crash during rollover lost.
    pub resealed_segments: Vec<PathBuf>,
    /// Newest segments that had been cut short and were extended back to their preallocated size.
    pub extended_segments: Vec<PathBuf>,
}

/// Reads frames from the header to the end of the valid prefix. `live` means a writer holds the lock, so zeros
/// after the prefix are work in progress and the tail is not examined.
pub(crate) fn scan_segment(segment: &Segment, live: bool) -> SegmentScan {
    let mut offset = HEADER_BYTES;
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
    }
}

/// Classifies what follows the valid prefix that ends at `offset`.
fn examine_tail(segment: &Segment, offset: usize, defect: FrameDefect) -> SegmentEnd {
    if let Some(next_valid_offset) = find_valid_frame(segment, offset + 8) {
        return SegmentEnd::Corrupt {
            defect,
            next_valid_offset: next_valid_offset as u64,
        };
    }
    let nonzero_end = last_nonzero_end(segment, offset);
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
}

/// The whole journal directory, scanned.
#[derive(Debug)]
pub(crate) struct JournalScan {
    pub entries: Vec<Entry>,
    /// Index of the newest segment that is kept (after empty trailing segments planned for removal).
    pub last_kept: Option<usize>,
    pub problems: Vec<RecoveryError>,
    pub plan: RepairPlan,
}

pub(crate) fn scan_journal(dir: &Path, live: bool) -> Result<JournalScan, RecoveryError> {
    let listing = list_segments(dir).map_err(|source| RecoveryError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut problems = Vec::new();
    let mut entries = Vec::with_capacity(listing.segments.len());
    for (first_seq, path) in listing.segments {
        let scan = match Segment::open(&path, Access::ReadOnly, Some(first_seq)) {
            Ok(segment) => Some(scan_segment(&segment, live)),
            Err(fault) => {
                problems.push(RecoveryError::from(fault));
                None
            }
        };
        entries.push(Entry { path, scan });
    }
    let mut plan = RepairPlan {
        remove: listing.temporaries,
        ..RepairPlan::default()
    };

    // An empty newest segment after a gap is what a crash leaves when a rollover created the next segment but the
    // end of the previous one never reached the disk. It holds nothing, so it goes, and its predecessor's tail is
    // judged as the journal's tail.
    // A live writer keeps its next segment prepared (empty, after a gap) on purpose; only a dead one's is removed.
    let mut last_kept = entries.len().checked_sub(1);
    while let Some(i) = last_kept.filter(|&i| i > 0 && !live) {
        let (Some(prev), Some(cur)) = (&entries[i - 1].scan, &entries[i].scan) else {
            break;
        };
        if cur.records == 0 && cur.end == SegmentEnd::Open && prev.next_seq() != cur.first_seq {
            plan.remove.push(cur.path.clone());
            last_kept = Some(i - 1);
        } else {
            break;
        }
    }

    let kept = last_kept.map_or(0, |i| i + 1);
    for i in 0..kept {
        let Some(scan) = &entries[i].scan else {
            continue;
        };
        if let Some(prev) = i.checked_sub(1).and_then(|p| entries[p].scan.as_ref()) {
            if prev.next_seq() != scan.first_seq {
                problems.push(RecoveryError::SequenceGap {
                    path: scan.path.clone(),
                    offset: HEADER_BYTES as u64,
                    expected: prev.next_seq(),
                    found: scan.first_seq,
                });
            }
        }
        let is_last = i + 1 == kept;
        match scan.end {
            SegmentEnd::Full | SegmentEnd::Sealed => {}
            SegmentEnd::Open if !is_last && !live => {
                plan.reseal.push((scan.path.clone(), scan.valid_end))
            }
            SegmentEnd::Open => {}
            SegmentEnd::Torn { bytes, defect } if is_last => {
                plan.torn = Some(TornTail {
                    path: scan.path.clone(),
                    offset: scan.valid_end,
                    bytes,
                    defect,
                });
            }
            SegmentEnd::Torn { defect, .. } => {
                // The journal continues in the next segment, so these bytes are not the tail of anything.
                let next = &entries[i + 1];
                problems.push(RecoveryError::MidJournalCorruption {
                    path: scan.path.clone(),
                    offset: scan.valid_end,
                    defect,
                    next_path: next.path.clone(),
                    next_offset: HEADER_BYTES as u64,
                });
            }
            SegmentEnd::Corrupt {
                defect,
                next_valid_offset,
            } => problems.push(RecoveryError::MidJournalCorruption {
                path: scan.path.clone(),
                offset: scan.valid_end,
                defect,
                next_path: scan.path.clone(),
                next_offset: next_valid_offset,
            }),
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
    Ok(JournalScan {
        entries,
        last_kept,
        problems,
        plan,
    })
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
    let mut report = RecoveryReport::default();

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
