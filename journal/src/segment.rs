//! Segment files: naming, listing, creation (preallocated, header durable before the name appears) and the shared
//! mapping through which the writer, the flusher and readers touch the bytes.
//!
//! Segment-specific header fields (see header.rs for the common ones):
//!
//! ```text
//! offset size field
//!     16    4 archived_record_bytes  size of an archived Command in this build; a schema change is refused
//!     20    4 reserved (zero)
//!     24    8 first_seq              sequence number of the first record; also the file name
//!     32    8 segment_bytes          preallocated size of the file
//!     40   20 reserved (zero)
//! ```
//!
//! The mapping is a `MmapRaw`, not a slice, because three parties share it: the writer stores into unpublished
//! frames, the flusher msyncs ranges, and readers read published frames. No one holds a `&[u8]` over the whole map;
//! the accessors below hand out atomics for the length words and short slices over frames whose contents no longer
//! change.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use memmap2::{MmapOptions, MmapRaw};

use crate::error::{FormatError, SegmentFault};
use crate::fsio;
use crate::header::{self, FileKind, HEADER_BYTES};
use crate::record::{ARCHIVED_COMMAND_BYTES, FRAME_BYTES};

const SEGMENT_SUFFIX: &str = ".seg";
const TEMP_SUFFIX: &str = ".seg.tmp";
/// The smallest useful segment holds a header and one record; segments are whole pages so msync ranges and
/// preallocation line up with what the kernel writes.
pub(crate) const PAGE_BYTES: u64 = 4096;

/// `00000000000000000001.seg`: twenty digits so that names sort in sequence order.
pub fn segment_file_name(first_seq: u64) -> String {
    format!("{first_seq:020}{SEGMENT_SUFFIX}")
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segment files of a directory in sequence order, and leftovers of interrupted segment creation.
#[derive(Debug, Default)]
pub(crate) struct Listing {
    pub segments: Vec<(u64, PathBuf)>,
    pub temporaries: Vec<PathBuf>,
}

pub(crate) fn list_segments(dir: &Path) -> io::Result<Listing> {
    let mut listing = Listing::default();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(first_seq) = parse_segment_name(name) {
            listing.segments.push((first_seq, entry.path()));
        } else if name.ends_with(TEMP_SUFFIX) {
            listing.temporaries.push(entry.path());
        }
    }
    listing
        .segments
        .sort_unstable_by_key(|(first_seq, _)| *first_seq);
    Ok(listing)
}

/// The fields a segment header carries beyond the common ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    pub first_seq: u64,
    pub segment_bytes: u64,
}

impl SegmentHeader {
    fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut bytes = header::new_header(FileKind::Segment);
        bytes[16..20].copy_from_slice(&(ARCHIVED_COMMAND_BYTES as u32).to_le_bytes());
        bytes[24..32].copy_from_slice(&self.first_seq.to_le_bytes());
        bytes[32..40].copy_from_slice(&self.segment_bytes.to_le_bytes());
        header::seal_header(&mut bytes);
        bytes
    }

    fn decode(path: &Path, bytes: &[u8], file_bytes: u64) -> Result<SegmentHeader, FormatError> {
        let header = header::check_common(path, FileKind::Segment, bytes, file_bytes)?;
        let record_bytes = header::read_u32(&header, 16);
        if record_bytes as usize != ARCHIVED_COMMAND_BYTES {
            return Err(FormatError::RecordSizeMismatch {
                path: path.to_path_buf(),
                found: record_bytes,
                expected: ARCHIVED_COMMAND_BYTES as u32,
            });
        }
        let first_seq = header::read_u64(&header, 24);
        let segment_bytes = header::read_u64(&header, 32);
        if first_seq == 0 {
            return Err(FormatError::BadField {
                path: path.to_path_buf(),
                field: "first_seq",
                value: 0,
            });
        }
        if !segment_bytes_valid(segment_bytes) {
            return Err(FormatError::BadField {
                path: path.to_path_buf(),
                field: "segment_bytes",
                value: segment_bytes,
            });
        }
        Ok(SegmentHeader {
            first_seq,
            segment_bytes,
        })
    }
}

/// Whole pages, room for the header and at least one record, and addressable on this machine.
pub(crate) fn segment_bytes_valid(segment_bytes: u64) -> bool {
    segment_bytes & (PAGE_BYTES - 1) == 0
        && segment_bytes >= (HEADER_BYTES + FRAME_BYTES) as u64
        && usize::try_from(segment_bytes).is_ok()
        && segment_bytes <= u64::from(u32::MAX) * 16
}

/// How a segment is mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    ReadOnly,
    ReadWrite,
    /// Read-write and prefaulted (MAP_POPULATE): the writer's segments, so that appends do not stop for a page
    /// fault every 4 KiB.
    Append,
}

/// One mapped segment file.
#[derive(Debug)]
pub(crate) struct Segment {
    pub path: PathBuf,
    pub header: SegmentHeader,
    /// Bytes of the file that hold frames: the header's size, or less if the file was cut short.
    pub region_bytes: usize,
    /// `region_bytes` rounded up to a whole 8-byte word: what is mapped.
    pub map_bytes: usize,
    pub file_bytes: u64,
    /// End of the frames the writer has committed; the flusher syncs up to here. Only the writer stores it.
    pub written_end: AtomicUsize,
    file: File,
    map: MmapRaw,
}

impl Segment {
    /// Creates `first_seq`'s segment: preallocated, header written and synced under a temporary name, then renamed
    /// and the directory synced. A crash leaves either no segment or a complete, empty one; never a visible file
    /// without a durable header.
    pub(crate) fn create(
        dir: &Path,
        first_seq: u64,
        segment_bytes: u64,
    ) -> Result<Segment, SegmentFault> {
        let path = dir.join(segment_file_name(first_seq));
        let temp = dir.join(format!("{first_seq:020}{TEMP_SUFFIX}"));
        let fault = |err: io::Error| SegmentFault::Io(path.clone(), err);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)
            .map_err(fault)?;
        let prepared = (|| {
            fsio::preallocate(&file, segment_bytes)?;
            file.write_all_at(
                &SegmentHeader {
                    first_seq,
                    segment_bytes,
                }
                .encode(),
                0,
            )?;
            file.sync_data()
        })();
        if let Err(err) = prepared {
            // The temporary is not a segment yet; removing it gives the disk space back for the retry.
            let _ = fs::remove_file(&temp);
            return Err(fault(err));
        }
        fs::rename(&temp, &path).map_err(fault)?;
        fsio::fsync_dir(dir).map_err(fault)?;
        Segment::map_file(path, file, Access::Append, Some(first_seq))
    }

    /// Opens an existing segment, checking its header against the name it was listed under.
    pub(crate) fn open(
        path: &Path,
        access: Access,
        expected_first_seq: Option<u64>,
    ) -> Result<Segment, SegmentFault> {
        let file = OpenOptions::new()
            .read(true)
            .write(access != Access::ReadOnly)
            .open(path)
            .map_err(|err| SegmentFault::Io(path.to_path_buf(), err))?;
        Segment::map_file(path.to_path_buf(), file, access, expected_first_seq)
    }

    fn map_file(
        path: PathBuf,
        file: File,
        access: Access,
        expected_first_seq: Option<u64>,
    ) -> Result<Segment, SegmentFault> {
        let file_bytes = file
            .metadata()
            .map_err(|err| SegmentFault::Io(path.clone(), err))?
            .len();
        let mut head = [0u8; HEADER_BYTES];
        let head_len =
            usize::try_from(file_bytes).map_or(HEADER_BYTES, |len| len.min(HEADER_BYTES));
        file.read_exact_at(&mut head[..head_len], 0)
            .map_err(|err| SegmentFault::Io(path.clone(), err))?;
        let header = SegmentHeader::decode(&path, &head[..head_len], file_bytes)
            .map_err(SegmentFault::Format)?;
        if let Some(named) = expected_first_seq {
            if named != header.first_seq {
                return Err(SegmentFault::Format(FormatError::NameMismatch {
                    path,
                    named,
                    header: header.first_seq,
                }));
            }
        }
        // A file cut short (by a copy, or by hand) holds frames only up to its end, but is mapped up to the next
        // whole word so that word-sized scans of its tail see its last bytes (past the end of a file, its last page
        // reads as zero). Recovery re-extends it.
        let region = file_bytes.min(header.segment_bytes);
        let too_big = |value| {
            SegmentFault::Format(FormatError::BadField {
                path: path.clone(),
                field: "segment_bytes",
                value,
            })
        };
        let region_bytes = usize::try_from(region).map_err(|_| too_big(region))?;
        let map_bytes = region_bytes.checked_add(7).ok_or_else(|| too_big(region))? & !7;
        let mut options = MmapOptions::new();
        options.len(map_bytes);
        if access == Access::Append {
            options.populate();
        }
        let map = match access {
            Access::ReadOnly => options.map_raw_read_only(&file),
            Access::ReadWrite | Access::Append => options.map_raw(&file),
        }
        .map_err(|err| SegmentFault::Io(path.clone(), err))?;
        Ok(Segment {
            path,
            header,
            region_bytes,
            map_bytes,
            file_bytes,
            written_end: AtomicUsize::new(HEADER_BYTES),
            file,
            map,
        })
    }

    /// Loads the 4-byte word at `offset` with Acquire ordering: the length word of a frame is its commit word, so
    /// everything the writer stored before publishing it is visible once it reads non-zero.
    #[inline]
    pub(crate) fn load_u32_acquire(&self, offset: usize) -> u32 {
        assert!(
            offset & 3 == 0 && offset + 4 <= self.region_bytes,
            "word {offset} outside the mapped region"
        );
        // SAFETY: the assert keeps the word inside the mapping and 4-byte aligned (the mapping is page-aligned), and
        // the mapping lives as long as `self`. Concurrent access to this word is only through atomics.
        let word = unsafe { AtomicU32::from_ptr(self.map.as_mut_ptr().add(offset).cast::<u32>()) };
        u32::from_le(word.load(Ordering::Acquire))
    }

    /// Publishes a frame's length word (or the seal marker) after its other bytes are written.
    #[inline]
    pub(crate) fn store_u32_release(&self, offset: usize, value: u32) {
        assert!(
            offset & 3 == 0 && offset + 4 <= self.region_bytes,
            "word {offset} outside the mapped region"
        );
        // SAFETY: as in `load_u32_acquire`; only the writer, which holds the directory lock, stores words, and the
        // mapping is writable because only a writer's segments are opened ReadWrite.
        let word = unsafe { AtomicU32::from_ptr(self.map.as_mut_ptr().add(offset).cast::<u32>()) };
        word.store(value.to_le(), Ordering::Release);
    }

    /// Reads an 8-byte word without claiming anything about ordering; used to find the last non-zero byte of a tail.
    #[inline]
    pub(crate) fn load_u64_relaxed(&self, offset: usize) -> u64 {
        assert!(
            offset & 7 == 0 && offset + 8 <= self.map_bytes,
            "word {offset} outside the mapping"
        );
        // SAFETY: in bounds and 8-byte aligned by the assert (the mapping is page-aligned); atomic, so a concurrent
        // writer in this process is not a data race.
        let word = unsafe { AtomicU64::from_ptr(self.map.as_mut_ptr().add(offset).cast::<u64>()) };
        word.load(Ordering::Relaxed)
    }

    /// The bytes `[offset, offset + len)`.
    ///
    /// # Safety
    /// No one may write the range while the slice lives. That holds for a frame whose length word was loaded
    /// non-zero with Acquire (frames never change once published), and for any range while the caller holds the
    /// directory lock (recovery) or no writer is live (read-only tools).
    #[inline]
    pub(crate) unsafe fn bytes(&self, offset: usize, len: usize) -> &[u8] {
        assert!(
            offset <= self.region_bytes && len <= self.region_bytes - offset,
            "range outside the mapped region"
        );
        // SAFETY: in bounds by the assert, the mapping outlives `&self`, and the caller guarantees no concurrent
        // writes to the range.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(offset), len) }
    }

    /// The bytes `[offset, offset + len)` for writing.
    ///
    /// # Safety
    /// The caller is the writer (it holds the directory lock and the mapping is ReadWrite), the range lies beyond
    /// every published frame, and no other reference to the range exists while the slice lives.
    #[inline]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn bytes_mut(&self, offset: usize, len: usize) -> &mut [u8] {
        assert!(
            offset <= self.region_bytes && len <= self.region_bytes - offset,
            "range outside the mapped region"
        );
        // SAFETY: in bounds by the assert; exclusivity and writability are the caller's contract above.
        unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().add(offset), len) }
    }

    /// msyncs `[start, end)` (widened to pages by memmap2): the data and, because the kernel implements msync as a
    /// ranged fdatasync, the metadata needed to read it back (preallocated extents turning "written").
    pub(crate) fn sync_range(&self, start: usize, end: usize) -> io::Result<()> {
        if end > start {
            self.map.flush_range(start, end - start)?;
        }
        Ok(())
    }

    /// Makes the whole file durable; used for sealed segments and after recovery repairs.
    pub(crate) fn sync_all(&self) -> io::Result<()> {
        self.map.flush()?;
        self.file.sync_data()
    }

    /// Grows a file that was cut short back to its preallocated size.
    pub(crate) fn extend_to_full_size(&self) -> io::Result<()> {
        fsio::preallocate(&self.file, self.header.segment_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_in_sequence_order_and_round_trip() {
        assert_eq!(segment_file_name(1), "00000000000000000001.seg");
        assert_eq!(
            parse_segment_name(&segment_file_name(u64::MAX)),
            Some(u64::MAX)
        );
        assert_eq!(parse_segment_name("1.seg"), None);
        assert_eq!(parse_segment_name("0000000000000000000a.seg"), None);
        assert_eq!(parse_segment_name("00000000000000000001.seg.tmp"), None);
    }

    #[test]
    fn segment_sizes_must_be_whole_pages_with_room_for_a_record() {
        assert!(segment_bytes_valid(PAGE_BYTES));
        assert!(!segment_bytes_valid(PAGE_BYTES + 8));
        assert!(!segment_bytes_valid(0));
    }
}
