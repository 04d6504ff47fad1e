//! Segment files: naming, listing, creation (preallocated, header durable before the name appears) and the shared
//! mapping through which the writer, the flusher and readers touch the bytes.
//!
//! A segment (format version 2):
//!
//! ```text
//! offset size
//!      0   64 file header (header.rs); written once at creation, checksummed, never changed
//!     64   64 durable checkpoint block: two 16-byte slots at 64 and 80, then 32 reserved zero bytes
//!    128    . record frames (record.rs), contiguous, up to segment_bytes
//! ```
//!
//! Segment-specific header fields (see header.rs for the common ones):
//!
//! ```text
//! offset size field
//!     16    4 archived_record_bytes  size of an archived Command in this build; a schema change is refused
//!     20    4 first_frame_offset     128; anything else is refused
//!     24    8 first_seq              sequence number of the first record; also the file name
//!     32    8 segment_bytes          preallocated size of the file
//!     40   20 reserved (zero)
//! ```
//!
//! A checkpoint slot:
//!
//! ```text
//! offset size field
//!      0    8 checkpoint_seq  u64 LE: every record of the journal with seq <= checkpoint_seq is on stable storage
//!      8    4 crc32c          over the 8 bytes of checkpoint_seq
//!     12    4 reserved (zero)
//! ```
//!
//! A slot of all zeros is empty and claims nothing (checkpoint 0). The block claims the highest slot whose checksum
//! holds; an update overwrites the other slot, so an update torn by a crash leaves the previous claim readable. A
//! value is stored only once it is already durable (see flusher.rs), so the kernel may write the page back whenever
//! it likes. The block lives outside the header checksum because it changes while readers open the file.
//!
//! The writer and the flusher change a live segment only through the file (`write_at`, a `pwrite`), never through a
//! writable mapping: the kernel write-protects every writable mapping of a page it syncs, which costs a TLB
//! shootdown on every core the process runs on (docs/JOURNAL.md, "Writing through the file"). Their mapping is
//! read-only; only recovery and the cut (`truncate_after`) map a segment read-write, to repair it while no writer
//! runs.
//!
//! The mapping is a `MmapRaw`, not a slice, because several parties share the pages: the writer writes unpublished
//! frames through the file, the flusher msyncs ranges and writes checkpoints, and readers read published frames. No
//! one holds a `&[u8]` over the whole map; the accessors below hand out atomics for the length words and checkpoint
//! slots and short slices over frames whose contents no longer change.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use memmap2::{MmapOptions, MmapRaw};

use crate::error::{FormatError, SegmentFault};
use crate::fsio;
use crate::header::{self, FileKind, HEADER_BYTES, RECORD_ALIGN_BYTES};
use crate::record::{ARCHIVED_COMMAND_BYTES, FRAME_BYTES};

const SEGMENT_SUFFIX: &str = ".seg";
const TEMP_SUFFIX: &str = ".seg.tmp";
/// The smallest useful segment holds a header and one record; segments are whole pages so msync ranges and
/// preallocation line up with what the kernel writes.
pub(crate) const PAGE_BYTES: u64 = 4096;

/// Where a segment's first record frame starts: after the 64-byte header and the 64-byte checkpoint block.
pub const FIRST_FRAME_OFFSET_BYTES: usize = 128;

/// The largest first sequence number a segment header may carry: 2^62, which a journal appending ten million
/// records a second reaches after some fourteen thousand years. Bounding it keeps every sequence number derived from
/// a header (the segment's last record, the next segment's first) far from `u64::MAX`, so a forged header cannot
/// make them wrap.
pub const MAX_FIRST_SEQ: u64 = 1 << 62;
/// Where the durable checkpoint block starts: right after the header.
const CHECKPOINT_BLOCK_OFFSET_BYTES: usize = HEADER_BYTES;
const CHECKPOINT_SLOT_BYTES: usize = 16;
const CHECKPOINT_SLOT_COUNT: usize = 2;

const _: () = assert!(
    CHECKPOINT_BLOCK_OFFSET_BYTES + CHECKPOINT_SLOT_COUNT * CHECKPOINT_SLOT_BYTES
        <= FIRST_FRAME_OFFSET_BYTES
);
const _: () = assert!(FIRST_FRAME_OFFSET_BYTES & (RECORD_ALIGN_BYTES - 1) == 0);
const _: () = assert!(CHECKPOINT_BLOCK_OFFSET_BYTES & 7 == 0 && CHECKPOINT_SLOT_BYTES & 7 == 0);

/// A file that ends inside a checkpoint slot (some of the slot's bytes there, the rest cut off). While the file is
/// short the slot reads as empty; once recovery extends the file, the bytes left of it read as a damaged slot, so
/// recovery rewrites the block of a file it extends that ends there.
pub(crate) fn ends_inside_a_checkpoint_slot(file_bytes: u64) -> bool {
    let slots = CHECKPOINT_BLOCK_OFFSET_BYTES as u64
        ..(CHECKPOINT_BLOCK_OFFSET_BYTES + CHECKPOINT_SLOT_COUNT * CHECKPOINT_SLOT_BYTES) as u64;
    slots.contains(&file_bytes)
        && !(file_bytes - slots.start).is_multiple_of(CHECKPOINT_SLOT_BYTES as u64)
}

fn checkpoint_crc(seq: u64) -> u32 {
    crc32c::crc32c(&seq.to_le_bytes())
}

/// One slot of a checkpoint block, as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CheckpointSlot {
    /// All zero: never written.
    Empty,
    Valid(u64),
    /// Checksum or reserved bytes wrong: torn by a crash during an update, or damaged.
    Damaged,
}

impl CheckpointSlot {
    fn decode(seq: u64, crc: u32, reserved: u32) -> CheckpointSlot {
        if seq == 0 && crc == 0 && reserved == 0 {
            CheckpointSlot::Empty
        } else if reserved == 0 && crc == checkpoint_crc(seq) {
            CheckpointSlot::Valid(seq)
        } else {
            CheckpointSlot::Damaged
        }
    }
}

/// A segment's durable checkpoint block, as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CheckpointBlock {
    slots: [CheckpointSlot; CHECKPOINT_SLOT_COUNT],
}

impl CheckpointBlock {
    /// The checkpoint the block claims: the highest valid slot; 0 if both are empty; `None` if no slot is valid and
    /// one is damaged, so that what this segment knew is unknown.
    pub(crate) fn seq(&self) -> Option<u64> {
        let mut highest_valid = None;
        let mut damaged = false;
        for slot in self.slots {
            match slot {
                CheckpointSlot::Valid(seq) => highest_valid = highest_valid.max(Some(seq)),
                CheckpointSlot::Damaged => damaged = true,
                CheckpointSlot::Empty => {}
            }
        }
        match highest_valid {
            Some(seq) => Some(seq),
            None if damaged => None,
            None => Some(0),
        }
    }

    /// The slot the next update overwrites: never the one holding the highest valid claim.
    pub(crate) fn next_slot(&self) -> usize {
        match self.slots {
            [CheckpointSlot::Valid(a), CheckpointSlot::Valid(b)] => usize::from(a >= b),
            [CheckpointSlot::Valid(_), _] => 1,
            _ => 0,
        }
    }
}

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
        bytes[20..24].copy_from_slice(&(FIRST_FRAME_OFFSET_BYTES as u32).to_le_bytes());
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
        let first_frame_offset = header::read_u32(&header, 20);
        if first_frame_offset as usize != FIRST_FRAME_OFFSET_BYTES {
            return Err(FormatError::BadField {
                path: path.to_path_buf(),
                field: "first_frame_offset",
                value: u64::from(first_frame_offset),
            });
        }
        let first_seq = header::read_u64(&header, 24);
        let segment_bytes = header::read_u64(&header, 32);
        if first_seq == 0 || first_seq > MAX_FIRST_SEQ {
            return Err(FormatError::BadField {
                path: path.to_path_buf(),
                field: "first_seq",
                value: first_seq,
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
        && segment_bytes >= (FIRST_FRAME_OFFSET_BYTES + FRAME_BYTES) as u64
        && usize::try_from(segment_bytes).is_ok()
        && segment_bytes <= u64::from(u32::MAX) * 16
}

/// How a segment is mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    ReadOnly,
    /// Mapped read-write: the repairs of recovery and of the cut (`truncate_after`), while no writer runs.
    ReadWrite,
    /// The writer's segments: the file open for writing (`write_at`), the mapping read-only and not populated. The
    /// writer's `pwrite` brings each page into the page cache as it reaches it, as a small folio sized to the write;
    /// populating the segment ahead of it (by read-ahead) would give the page cache large folios instead, and every
    /// small write into a large folio walks all of its blocks (docs/JOURNAL.md, "Writing through the file").
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
    /// Creates `first_seq`'s segment: preallocated, header and checkpoint block written and synced under a temporary
    /// name, then renamed and the directory synced. A crash leaves either no segment or a complete, empty one; never
    /// a visible file without a durable header.
    ///
    /// `checkpoint_seq` seeds the checkpoint block; it must already be durable (the caller passes the durable
    /// watermark), so the new file never claims more than was synced.
    pub(crate) fn create(
        dir: &Path,
        first_seq: u64,
        segment_bytes: u64,
        checkpoint_seq: u64,
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
            let mut head = [0u8; FIRST_FRAME_OFFSET_BYTES];
            head[..HEADER_BYTES].copy_from_slice(
                &SegmentHeader {
                    first_seq,
                    segment_bytes,
                }
                .encode(),
            );
            if checkpoint_seq > 0 {
                let slot = &mut head[CHECKPOINT_BLOCK_OFFSET_BYTES..];
                slot[0..8].copy_from_slice(&checkpoint_seq.to_le_bytes());
                slot[8..12].copy_from_slice(&checkpoint_crc(checkpoint_seq).to_le_bytes());
            }
            file.write_all_at(&head, 0)?;
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
        let map = match access {
            Access::ReadOnly | Access::Append => options.map_raw_read_only(&file),
            Access::ReadWrite => options.map_raw(&file),
        }
        .map_err(|err| SegmentFault::Io(path.clone(), err))?;
        Ok(Segment {
            path,
            header,
            region_bytes,
            map_bytes,
            file_bytes,
            written_end: AtomicUsize::new(FIRST_FRAME_OFFSET_BYTES),
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
        // SAFETY: as in `load_u32_acquire`; only recovery and the cut (`truncate_after`), which hold the directory
        // lock while no writer runs, store words, and the mapping is writable because only they open segments
        // ReadWrite.
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

    /// Reads the durable checkpoint block. Slots beyond the end of a file cut short (by a copy) read as empty. A
    /// slot being updated concurrently (a tool reading a live writer's segment) may read as damaged; the other slot
    /// then still holds the previous claim.
    pub(crate) fn load_checkpoint(&self) -> CheckpointBlock {
        let mut slots = [CheckpointSlot::Empty; CHECKPOINT_SLOT_COUNT];
        for (index, slot) in slots.iter_mut().enumerate() {
            let at = CHECKPOINT_BLOCK_OFFSET_BYTES + index * CHECKPOINT_SLOT_BYTES;
            if at + CHECKPOINT_SLOT_BYTES > self.region_bytes {
                continue;
            }
            let seq = u64::from_le(self.load_u64_relaxed(at));
            let crc = self.load_u32_acquire(at + 8);
            let reserved = self.load_u32_acquire(at + 12);
            *slot = CheckpointSlot::decode(seq, crc, reserved);
        }
        CheckpointBlock { slots }
    }

    /// Writes `seq` into checkpoint slot `slot` (0 or 1) through the file; a later sync of the header page makes it
    /// durable. Callers write only a value that is already on stable storage, and only into a segment whose file they
    /// opened for writing while holding the directory lock (the sync state, under its own lock; recovery). A reader
    /// that reads the slot while it is being written may see it torn, which reads as damaged: the other slot still
    /// holds the previous claim.
    pub(crate) fn store_checkpoint(&self, slot: usize, seq: u64) -> io::Result<()> {
        let at =
            CHECKPOINT_BLOCK_OFFSET_BYTES + (slot % CHECKPOINT_SLOT_COUNT) * CHECKPOINT_SLOT_BYTES;
        if at + CHECKPOINT_SLOT_BYTES > self.region_bytes {
            // Only a file cut short inside its block: recovery extends those before anyone stores into them.
            return Ok(());
        }
        let mut bytes = [0u8; CHECKPOINT_SLOT_BYTES];
        bytes[0..8].copy_from_slice(&seq.to_le_bytes());
        bytes[8..12].copy_from_slice(&checkpoint_crc(seq).to_le_bytes());
        self.write_at(at, &bytes)
    }

    /// Writes `bytes` at `offset` through the file (`pwrite`, repeated until all are written). Readers mapping the
    /// file see them through the shared page cache once this returns; publication (the length word loaded with
    /// Acquire, or the written watermark) is ordered after it by the caller.
    #[inline]
    pub(crate) fn write_at(&self, offset: usize, bytes: &[u8]) -> io::Result<()> {
        if offset > self.region_bytes || bytes.len() > self.region_bytes - offset {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "write outside the segment's region",
            ));
        }
        self.file.write_all_at(bytes, offset as u64)
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
    /// The caller is recovery or the cut (it holds the directory lock, no writer runs, and the mapping is
    /// ReadWrite), and no other reference to the range exists while the slice lives.
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

    /// Unmaps the segment and asks the kernel to drop its cached pages (`POSIX_FADV_DONTNEED`), which it does for
    /// every clean page no other mapping holds. Call only once every byte is synced: dirty pages are not dropped,
    /// only written back sooner. Advice: a failure changes nothing but memory use, so it is not reported.
    pub(crate) fn release_page_cache(self) {
        let Segment { file, map, .. } = self;
        drop(map);
        // SAFETY: posix_fadvise only reads its integer arguments; the descriptor is open and owned by `file` for
        // the duration of the call. Length 0 means to the end of the file.
        let _ = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    }

    /// msyncs the header page, which holds the checkpoint block.
    pub(crate) fn sync_header_page(&self) -> io::Result<()> {
        self.sync_range(0, FIRST_FRAME_OFFSET_BYTES.min(self.region_bytes))
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
    fn a_header_whose_first_seq_is_zero_or_past_the_bound_is_refused() {
        let segment_bytes = 1 << 16;
        let decode = |first_seq| {
            let bytes = SegmentHeader {
                first_seq,
                segment_bytes,
            }
            .encode();
            SegmentHeader::decode(Path::new("x.seg"), &bytes, segment_bytes)
        };
        assert_eq!(
            decode(MAX_FIRST_SEQ).map(|header| header.first_seq).ok(),
            Some(MAX_FIRST_SEQ)
        );
        for refused in [0, MAX_FIRST_SEQ + 1, u64::MAX - 1, u64::MAX] {
            assert!(
                matches!(
                    decode(refused),
                    Err(FormatError::BadField { field: "first_seq", value, .. }) if value == refused
                ),
                "first_seq {refused}"
            );
        }
        // What a header can carry leaves the next segment's first seq far from wrapping.
        assert!(crate::preparer::next_first_seq(MAX_FIRST_SEQ, 1 << 36) < u64::MAX / 2);
    }

    #[test]
    fn a_checkpoint_block_claims_its_highest_valid_slot_and_updates_the_other_one() {
        use CheckpointSlot::{Damaged, Empty, Valid};
        let valid = |seq| CheckpointSlot::decode(seq, checkpoint_crc(seq), 0);
        assert_eq!(valid(7), Valid(7));
        assert_eq!(CheckpointSlot::decode(0, 0, 0), Empty);
        assert_eq!(CheckpointSlot::decode(7, checkpoint_crc(7) ^ 1, 0), Damaged);
        assert_eq!(CheckpointSlot::decode(7, checkpoint_crc(7), 1), Damaged);
        let block = |a, b| CheckpointBlock { slots: [a, b] };
        let cases = [
            (block(Empty, Empty), Some(0), 0),
            (block(Valid(5), Empty), Some(5), 1),
            (block(Empty, Valid(5)), Some(5), 0),
            (block(Valid(5), Valid(9)), Some(9), 0),
            (block(Valid(9), Valid(5)), Some(9), 1),
            // An update torn by a crash leaves the previous claim.
            (block(Damaged, Valid(5)), Some(5), 0),
            (block(Valid(5), Damaged), Some(5), 1),
            (block(Damaged, Empty), None, 0),
            (block(Damaged, Damaged), None, 0),
        ];
        for (block, seq, next_slot) in cases {
            assert_eq!(block.seq(), seq, "{block:?}");
            assert_eq!(block.next_slot(), next_slot, "{block:?}");
        }
    }

    #[test]
    fn a_file_ends_inside_a_checkpoint_slot_only_between_the_ends_of_a_slot() {
        let inside: Vec<u64> = (0..200)
            .filter(|&bytes| ends_inside_a_checkpoint_slot(bytes))
            .collect();
        let expected: Vec<u64> = (65..80).chain(81..96).collect();
        assert_eq!(inside, expected);
    }

    #[test]
    fn segment_sizes_must_be_whole_pages_with_room_for_a_record() {
        assert!(segment_bytes_valid(PAGE_BYTES));
        assert!(!segment_bytes_valid(PAGE_BYTES + 8));
        assert!(!segment_bytes_valid(0));
    }
}
