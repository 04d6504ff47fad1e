//! Reading records in place. A reader maps segments read-only and hands out `&ArchivedCommand` pointing into the
//! mapping: no copy, no allocation (except a path when it moves to the next segment).
//!
//! Two ways to know a record is complete:
//! - tailing (same process as the writer): the written watermark, loaded with Acquire, bounds what is read;
//! - offline or from another process: the frame's length word is non-zero and its checksum holds.
//!
//! Both also check the frame's checksum, rkyv's bytecheck and that sequence numbers run on without a gap.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossline_engine::ArchivedCommand;

use crate::error::{FrameDefect, OpenError, ReadError};
use crate::fsio::writer_is_live;
use crate::record::{read_frame, Frame, FRAME_BYTES, SEAL_WORD};
use crate::recovery::check_dir;
use crate::segment::{list_segments, segment_file_name, Access, Segment, FIRST_FRAME_OFFSET_BYTES};
use crate::watermarks::Watermarks;

/// One record, borrowed from the reader's mapping.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    pub seq: u64,
    pub command: &'a ArchivedCommand,
}

/// A cursor over the journal in sequence order.
#[derive(Debug)]
pub struct JournalReader {
    dir: PathBuf,
    segment: Option<Segment>,
    offset: usize,
    next_seq: u64,
    bound: Option<Arc<Watermarks>>,
}

impl JournalReader {
    /// A reader positioned at the oldest record in `dir`. Without a watermark it trusts length words and checksums,
    /// so it works from any process, on a live journal or a crashed one.
    pub fn open(dir: &Path) -> Result<JournalReader, OpenError> {
        check_dir(dir)?;
        let listing = list_segments(dir).map_err(|err| OpenError::io(dir, err))?;
        let Some((first_seq, path)) = listing.segments.into_iter().next() else {
            return Err(OpenError::NoSegments {
                path: dir.to_path_buf(),
            });
        };
        let segment = Segment::open(&path, Access::ReadOnly, Some(first_seq))?;
        Ok(JournalReader {
            dir: dir.to_path_buf(),
            segment: Some(segment),
            offset: FIRST_FRAME_OFFSET_BYTES,
            next_seq: first_seq,
            bound: None,
        })
    }

    /// A reader that follows a writer in this process from `from_seq`, never reading past its written watermark.
    pub fn open_tailing(
        dir: &Path,
        watermarks: Arc<Watermarks>,
        from_seq: u64,
    ) -> Result<JournalReader, ReadError> {
        let mut reader = JournalReader {
            dir: dir.to_path_buf(),
            segment: None,
            offset: FIRST_FRAME_OFFSET_BYTES,
            next_seq: from_seq,
            bound: None,
        };
        reader.seek(from_seq)?;
        reader.bound = Some(watermarks);
        Ok(reader)
    }

    /// Positions the reader so that the next record returned is `seq`. Seeking past the end is allowed: the reader
    /// then waits there for the journal to grow.
    pub fn seek(&mut self, seq: u64) -> Result<(), ReadError> {
        let listing = list_segments(&self.dir).map_err(|source| ReadError::Io {
            path: self.dir.clone(),
            source,
        })?;
        let first_available = listing.segments.first().map_or(seq, |(first, _)| *first);
        let Some((first_seq, path)) = listing
            .segments
            .into_iter()
            .rev()
            .find(|(first, _)| *first <= seq)
        else {
            return Err(ReadError::Pruned {
                requested: seq,
                first_available,
            });
        };
        let segment = Segment::open(&path, Access::ReadOnly, Some(first_seq))?;
        // Every frame of a segment has the same size (the header pins the archived record size), so a record's
        // place follows from its sequence number; `next` still checks the seq it finds there.
        let index = usize::try_from(seq - first_seq).unwrap_or(usize::MAX);
        let offset = index
            .checked_mul(FRAME_BYTES)
            .and_then(|bytes| bytes.checked_add(FIRST_FRAME_OFFSET_BYTES));
        self.offset = offset
            .filter(|&o| o <= segment.region_bytes)
            .unwrap_or(segment.region_bytes);
        self.segment = Some(segment);
        self.next_seq = seq;
        Ok(())
    }

    /// The sequence number of the next record to be returned.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The next record, or `None` if it is not written yet. A bad frame is an error, never skipped.
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>, ReadError> {
        loop {
            if let Some(bound) = &self.bound {
                if self.next_seq > bound.written_seq() {
                    return Ok(None);
                }
            }
            let Some(segment) = &self.segment else {
                if self.advance_segment()? {
                    continue;
                }
                return Ok(None);
            };
            let word = (self.offset + 4 <= segment.region_bytes)
                .then(|| segment.load_u32_acquire(self.offset));
            match word {
                None | Some(SEAL_WORD) => {
                    if !self.advance_segment()? {
                        return Ok(None);
                    }
                }
                Some(0) if self.bound.is_some() => {
                    // The watermark covers this record, so its length word must be set.
                    return Err(ReadError::BadRecord {
                        path: segment.path.clone(),
                        offset: self.offset as u64,
                        defect: FrameDefect::Empty,
                    });
                }
                Some(0) => {
                    // Offline, a zero word is the end so far, unless a crash during rollover left this segment
                    // unsealed and the journal continues in the next one.
                    let moved_on = segment.header.first_seq != self.next_seq
                        && self.dir.join(segment_file_name(self.next_seq)).exists();
                    if !moved_on || !self.advance_segment()? {
                        return Ok(None);
                    }
                }
                Some(_) => break,
            }
        }
        let Some(segment) = &self.segment else {
            return Ok(None);
        };
        // SAFETY: the length word at `offset` was loaded non-zero with Acquire above; tailing, the watermark
        // (Acquire) also covers it. A published frame is never written again.
        match unsafe { read_frame(segment, self.offset) } {
            Frame::Valid { seq, command } if seq == self.next_seq => {
                self.offset += FRAME_BYTES;
                self.next_seq += 1;
                Ok(Some(Record { seq, command }))
            }
            Frame::Valid { seq, .. } => Err(ReadError::SequenceGap {
                path: segment.path.clone(),
                offset: self.offset as u64,
                expected: self.next_seq,
                found: seq,
            }),
            // A writer in another process writes a batch's frames with one `pwrite`, and the kernel's copy does not
            // order the bytes it stores: beside a live writer, a frame whose length word is already there but whose
            // checksum does not hold yet is still being written.
            Frame::Invalid(_) if self.bound.is_none() && writer_is_live(&self.dir) => Ok(None),
            Frame::Invalid(defect) => Err(ReadError::BadRecord {
                path: segment.path.clone(),
                offset: self.offset as u64,
                defect,
            }),
            // The word was checked non-zero and not a seal; it cannot change back.
            Frame::End | Frame::Empty | Frame::Sealed => Ok(None),
        }
    }

    /// Moves to the segment that starts at `next_seq`. Returns false if it does not exist (yet).
    #[cold]
    fn advance_segment(&mut self) -> Result<bool, ReadError> {
        // A segment sealed or cut short before its first record would name itself as the next one: reopening it
        // would loop for ever, so the journal ends there for a reader (recovery judges such a segment).
        if self
            .segment
            .as_ref()
            .is_some_and(|segment| segment.header.first_seq == self.next_seq)
        {
            return Ok(false);
        }
        let path = self.dir.join(segment_file_name(self.next_seq));
        let segment = match Segment::open(&path, Access::ReadOnly, Some(self.next_seq)) {
            Ok(segment) => segment,
            Err(crate::error::SegmentFault::Io(_, err))
                if err.kind() == std::io::ErrorKind::NotFound =>
            {
                if self
                    .bound
                    .as_ref()
                    .is_some_and(|bound| self.next_seq <= bound.written_seq())
                {
                    return Err(ReadError::MissingSegment { path });
                }
                return Ok(false);
            }
            Err(fault) => return Err(fault.into()),
        };
        self.segment = Some(segment);
        self.offset = FIRST_FRAME_OFFSET_BYTES;
        Ok(true)
    }
}
