//! Read-only views for operators (`crossline journal inspect|verify|dump`): what the journal holds and whether
//! recovery would accept it. Nothing here writes to the directory, so it works on a read-only copy and beside a live
//! writer (whose in-progress tail is then not called torn).

use std::path::{Path, PathBuf};

use crossline_engine::Command;

use rkyv::rancor::Infallible;

use crate::error::{JournalError, OpenError, ReadError, RecoveryError};
use crate::fsio::writer_is_live;
use crate::reader::JournalReader;
use crate::recovery::{check_dir, scan_journal, SegmentEnd, TornTail};
use crate::segment::list_segments;

/// One segment as inspected.
#[derive(Debug, Clone)]
pub struct SegmentReport {
    pub path: PathBuf,
    pub first_seq: u64,
    pub last_seq: Option<u64>,
    pub records: u64,
    /// Bytes up to the end of the last valid record, header included.
    pub used_bytes: u64,
    pub segment_bytes: u64,
    pub file_bytes: u64,
    /// `None` when the header could not be read (the problem is in `InspectReport::problems`).
    pub end: Option<SegmentEnd>,
    /// What the segment's checkpoint block claims is durable (0: nothing); `None` when the header could not be read
    /// or no slot of the block is valid.
    pub checkpoint_seq: Option<u64>,
}

/// What a journal directory holds.
#[derive(Debug)]
pub struct InspectReport {
    pub dir: PathBuf,
    /// A writer holds the directory lock; the newest segment's tail is then work in progress.
    pub writer_live: bool,
    pub segments: Vec<SegmentReport>,
    /// Records recovery would keep (segments it would discard after a torn tail are listed but not counted).
    pub records: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    pub torn_tail: Option<TornTail>,
    /// The journal's durable checkpoint: every record up to it is on stable storage. `None` when a checkpoint block
    /// has no valid slot (recovery then falls back to the rules without a checkpoint).
    pub durable_checkpoint_seq: Option<u64>,
    /// What would stop recovery: corruption, gaps, missing synced records, unreadable headers.
    pub problems: Vec<RecoveryError>,
    /// Files recovery would delete (interrupted creations, empty segments after a gap, segments after a torn
    /// tail), reseal, or whose checkpoint block it would rewrite.
    pub pending_repairs: Vec<PathBuf>,
}

/// The verdict of `verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every record checks out and nothing needs repair.
    Clean,
    /// Only what a crash leaves behind (torn tail, interrupted rollover); the writer's recovery repairs it at open.
    Recoverable,
    /// Corruption, a sequence gap or an unreadable header: recovery will refuse to start.
    Corrupt,
}

#[derive(Debug)]
pub struct VerifyReport {
    pub verdict: Verdict,
    pub report: InspectReport,
}

/// Scans every segment of `dir` (headers, checksums, bytecheck, sequence continuity) without changing anything.
pub fn inspect(dir: &Path) -> Result<InspectReport, OpenError> {
    check_dir(dir)?;
    let listing = list_segments(dir).map_err(|err| OpenError::io(dir, err))?;
    if listing.segments.is_empty() {
        return Err(OpenError::NoSegments {
            path: dir.to_path_buf(),
        });
    }
    let writer_live = writer_is_live(dir);
    let scan = scan_journal(dir, writer_live).map_err(|err| match err {
        RecoveryError::Io { path, source } => OpenError::io(&path, source),
        other => OpenError::Recovery(other),
    })?;
    let mut report = InspectReport {
        dir: dir.to_path_buf(),
        writer_live,
        segments: Vec::with_capacity(scan.entries.len()),
        records: 0,
        first_seq: None,
        last_seq: None,
        torn_tail: scan.plan.torn.clone(),
        durable_checkpoint_seq: scan.checkpoint.seq(),
        problems: scan.problems,
        pending_repairs: scan.plan.remove.clone(),
    };
    report
        .pending_repairs
        .extend(scan.plan.reseal.iter().map(|(path, _)| path.clone()));
    let kept = scan.last_kept.map_or(0, |i| i + 1);
    for (index, entry) in scan.entries.iter().enumerate() {
        let Some(seg) = &entry.scan else {
            report.segments.push(SegmentReport {
                path: entry.path.clone(),
                first_seq: 0,
                last_seq: None,
                records: 0,
                used_bytes: 0,
                segment_bytes: 0,
                file_bytes: 0,
                end: None,
                checkpoint_seq: None,
            });
            continue;
        };
        if index < kept {
            report.records += seg.records;
            if report.first_seq.is_none() && seg.records > 0 {
                report.first_seq = Some(seg.first_seq);
            }
            if let Some(last) = seg.last_seq() {
                report.last_seq = Some(last);
            }
        }
        report.segments.push(SegmentReport {
            path: seg.path.clone(),
            first_seq: seg.first_seq,
            last_seq: seg.last_seq(),
            records: seg.records,
            used_bytes: seg.valid_end,
            segment_bytes: seg.segment_bytes,
            file_bytes: seg.file_bytes,
            end: Some(seg.end),
            checkpoint_seq: seg.checkpoint_seq,
        });
    }
    report
        .pending_repairs
        .extend(scan.plan.rewrite_checkpoints.iter().cloned());
    Ok(report)
}

/// `inspect` plus a verdict.
pub fn verify(dir: &Path) -> Result<VerifyReport, OpenError> {
    let report = inspect(dir)?;
    let verdict = if !report.problems.is_empty() {
        Verdict::Corrupt
    } else if report.torn_tail.is_some() || !report.pending_repairs.is_empty() {
        Verdict::Recoverable
    } else {
        Verdict::Clean
    };
    Ok(VerifyReport { verdict, report })
}

/// Up to `count` commands from `from_seq` on, deserialized for display. Stops early at the end of the journal;
/// a bad record is yielded as an error and ends the iteration.
pub fn dump(dir: &Path, from_seq: u64, count: u64) -> Result<Dump, JournalError> {
    let mut reader = JournalReader::open(dir)?;
    reader.seek(from_seq)?;
    Ok(Dump {
        reader,
        remaining: count,
        failed: false,
    })
}

/// The iterator returned by `dump`.
#[derive(Debug)]
pub struct Dump {
    reader: JournalReader,
    remaining: u64,
    failed: bool,
}

impl Iterator for Dump {
    type Item = Result<Command, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 || self.failed {
            return None;
        }
        let item = match self.reader.next_record() {
            Ok(None) => return None,
            // Command has only fixed-size fields, so deserializing a checked archive cannot fail.
            Ok(Some(record)) => {
                match rkyv::api::low::deserialize::<Command, Infallible>(record.command) {
                    Ok(command) => Ok(command),
                    Err(never) => match never {},
                }
            }
            Err(err) => Err(err),
        };
        self.failed = item.is_err();
        self.remaining -= 1;
        Some(item)
    }
}
