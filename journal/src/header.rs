//! The 64-byte file header shared by segments and snapshots: magic, format version, the rkyv layout this build
//! archives with, kind-specific fields, and a checksum. Header integers are always little-endian, whatever rkyv
//! uses for the payload, so that any build can read far enough to say why it refuses a file.
//!
//! ```text
//! offset size field
//!      0    8 magic                 "XLJRNSEG" (segment) or "XLSNAPSH" (snapshot)
//!      8    2 format_version        u16; a reader refuses a newer one before trusting anything else
//!     10    2 header_bytes          u16 = 64
//!     12    1 rkyv_endianness       0 little, 1 big
//!     13    1 rkyv_alignment        0 aligned, 1 unaligned
//!     14    1 rkyv_pointer_bytes    2, 4 or 8 (archived usize)
//!     15    1 record_align_bytes    8
//!     16   44 kind-specific fields  (see segment.rs and snapshot.rs), unused bytes zero
//!     60    4 header_crc32c         over bytes 0..60
//! ```

use std::fmt;
use std::mem::{align_of, size_of};
use std::path::Path;

use rkyv::rancor::Failure;
use rkyv::ser::allocator::SubAllocator;
use rkyv::ser::writer::Buffer;

use crate::error::FormatError;

pub const HEADER_BYTES: usize = 64;
/// The format this build writes and reads, for segments and snapshots alike (they share this header). Version 2
/// added the segment's durable checkpoint block and moved the first frame to offset 128 (see segment.rs); a file of
/// any other version is refused with its path and both versions.
pub const FORMAT_VERSION: u16 = 2;
pub(crate) const RECORD_ALIGN_BYTES: usize = 8;
const HEADER_CRC_OFFSET: usize = 60;

/// The rkyv layout features that change archived bytes. A file written with different ones is unreadable in place,
/// so the header records them and a reader compares before touching a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayoutFeatures {
    pub big_endian: bool,
    pub unaligned: bool,
    pub pointer_width_bytes: u8,
}

impl LayoutFeatures {
    /// The layout rkyv uses in this build; rkyv features are unified across the workspace, so this is measured
    /// rather than assumed from this crate's own feature list.
    pub fn of_this_build() -> LayoutFeatures {
        let mut probe = [0u8; 8];
        let big_endian = match rkyv::api::low::to_bytes_in_with_alloc::<_, _, Failure>(
            &0x0102_0304u32,
            Buffer::from(&mut probe[..]),
            SubAllocator::new(&mut []),
        ) {
            Ok(written) => written.first() == Some(&0x01),
            // Archiving a u32 into 8 bytes cannot fail; fall back to the target's order if it ever does.
            Err(_) => cfg!(target_endian = "big"),
        };
        LayoutFeatures {
            big_endian,
            unaligned: align_of::<rkyv::Archived<u32>>() == 1,
            pointer_width_bytes: size_of::<rkyv::Archived<usize>>() as u8,
        }
    }
}

impl fmt::Display for LayoutFeatures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-endian, {}, {}-bit archived usize",
            if self.big_endian { "big" } else { "little" },
            if self.unaligned {
                "unaligned"
            } else {
                "aligned"
            },
            u32::from(self.pointer_width_bytes) * 8
        )
    }
}

/// Which kind of file a header introduces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    Segment,
    Snapshot,
}

impl FileKind {
    fn magic(self) -> [u8; 8] {
        match self {
            FileKind::Segment => *b"XLJRNSEG",
            FileKind::Snapshot => *b"XLSNAPSH",
        }
    }

    fn name(self) -> &'static str {
        match self {
            FileKind::Segment => "journal segment",
            FileKind::Snapshot => "snapshot",
        }
    }
}

/// Builds a header with the common fields filled in; the caller adds its kind-specific fields at 16..60 and then
/// calls `seal_header`.
pub(crate) fn new_header(kind: FileKind) -> [u8; HEADER_BYTES] {
    let layout = LayoutFeatures::of_this_build();
    let mut header = [0u8; HEADER_BYTES];
    header[0..8].copy_from_slice(&kind.magic());
    header[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    header[10..12].copy_from_slice(&(HEADER_BYTES as u16).to_le_bytes());
    header[12] = u8::from(layout.big_endian);
    header[13] = u8::from(layout.unaligned);
    header[14] = layout.pointer_width_bytes;
    header[15] = RECORD_ALIGN_BYTES as u8;
    header
}

/// Stamps the header checksum; the last step before the header is written.
pub(crate) fn seal_header(header: &mut [u8; HEADER_BYTES]) {
    let crc = crc32c::crc32c(&header[..HEADER_CRC_OFFSET]);
    header[HEADER_CRC_OFFSET..].copy_from_slice(&crc.to_le_bytes());
}

/// Checks everything common to both kinds, in the order that gives the most useful refusal: a newer version is
/// reported before the checksum, because a newer format may lay out (and checksum) its header differently.
pub(crate) fn check_common(
    path: &Path,
    kind: FileKind,
    bytes: &[u8],
    file_bytes: u64,
) -> Result<[u8; HEADER_BYTES], FormatError> {
    let Some(header) = bytes
        .get(..HEADER_BYTES)
        .and_then(|h| <[u8; HEADER_BYTES]>::try_from(h).ok())
    else {
        return Err(FormatError::TooShort {
            path: path.to_path_buf(),
            what: kind.name(),
            len: file_bytes,
            needed: HEADER_BYTES as u64,
        });
    };
    let magic = read_array::<8>(&header, 0);
    if magic != kind.magic() {
        return Err(FormatError::BadMagic {
            path: path.to_path_buf(),
            what: kind.name(),
            found: magic,
        });
    }
    let version = u16::from_le_bytes(read_array(&header, 8));
    if version > FORMAT_VERSION {
        return Err(FormatError::NewerVersion {
            path: path.to_path_buf(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if version < FORMAT_VERSION {
        return Err(FormatError::UnsupportedVersion {
            path: path.to_path_buf(),
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let stored = u32::from_le_bytes(read_array(&header, HEADER_CRC_OFFSET));
    let computed = crc32c::crc32c(&header[..HEADER_CRC_OFFSET]);
    if stored != computed {
        return Err(FormatError::HeaderChecksum {
            path: path.to_path_buf(),
            stored,
            computed,
        });
    }
    let header_bytes = u16::from_le_bytes(read_array(&header, 10));
    if usize::from(header_bytes) != HEADER_BYTES {
        return Err(FormatError::BadField {
            path: path.to_path_buf(),
            field: "header_bytes",
            value: u64::from(header_bytes),
        });
    }
    let found = LayoutFeatures {
        big_endian: header[12] != 0,
        unaligned: header[13] != 0,
        pointer_width_bytes: header[14],
    };
    let expected = LayoutFeatures::of_this_build();
    if found != expected || header[12] > 1 || header[13] > 1 {
        return Err(FormatError::LayoutMismatch {
            path: path.to_path_buf(),
            found,
            expected,
        });
    }
    if usize::from(header[15]) != RECORD_ALIGN_BYTES {
        return Err(FormatError::BadField {
            path: path.to_path_buf(),
            field: "record_align_bytes",
            value: u64::from(header[15]),
        });
    }
    Ok(header)
}

/// Copies `N` bytes at `offset`; callers index a fixed-size header, so the range is always in bounds.
pub(crate) fn read_array<const N: usize>(bytes: &[u8; HEADER_BYTES], offset: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[offset..offset + N]);
    out
}

pub(crate) fn read_u32(bytes: &[u8; HEADER_BYTES], offset: usize) -> u32 {
    u32::from_le_bytes(read_array(bytes, offset))
}

pub(crate) fn read_u64(bytes: &[u8; HEADER_BYTES], offset: usize) -> u64 {
    u64::from_le_bytes(read_array(bytes, offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_build_archives_little_endian_aligned_32_bit() {
        // The workspace does not enable any rkyv layout feature, so rkyv's documented defaults apply.
        let layout = LayoutFeatures::of_this_build();
        assert_eq!(
            layout,
            LayoutFeatures {
                big_endian: false,
                unaligned: false,
                pointer_width_bytes: 4
            }
        );
    }

    #[test]
    fn a_sealed_header_passes_and_any_flipped_bit_fails() {
        let mut header = new_header(FileKind::Segment);
        seal_header(&mut header);
        let path = Path::new("x.seg");
        assert!(check_common(path, FileKind::Segment, &header, 64).is_ok());
        assert!(matches!(
            check_common(path, FileKind::Snapshot, &header, 64),
            Err(FormatError::BadMagic { .. })
        ));
        for bit in 0..HEADER_BYTES * 8 {
            let mut damaged = header;
            damaged[bit / 8] ^= 1 << (bit % 8);
            assert!(
                check_common(path, FileKind::Segment, &damaged, 64).is_err(),
                "bit {bit} went unnoticed"
            );
        }
    }

    #[test]
    fn a_newer_version_is_refused_before_the_checksum_is_read() {
        let mut header = new_header(FileKind::Segment);
        header[8..10].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        let err = check_common(Path::new("/j/1.seg"), FileKind::Segment, &header, 64).unwrap_err();
        assert!(
            matches!(err, FormatError::NewerVersion { found, .. } if found == FORMAT_VERSION + 1)
        );
        assert!(err.to_string().contains("/j/1.seg"));
    }
}
