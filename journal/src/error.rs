//! One error enum per operation family (open, append, read, recovery, snapshot), each naming the path it concerns,
//! and `JournalError` as the umbrella for callers who only report. I/O failures are sorted by errno into the cases an
//! operator acts on differently: a missing directory, a read-only file system, a full disk, missing permissions.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::header::LayoutFeatures;

/// What an errno means to an operator. Every error family maps I/O failures through this so that "disk full" reads
/// the same whether it came from creating a segment or writing a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IoClass {
    Missing,
    NotADirectory,
    ReadOnly,
    PermissionDenied,
    DiskFull,
    Other,
}

pub(crate) fn classify(err: &io::Error) -> IoClass {
    match err.raw_os_error() {
        Some(libc::ENOENT) => IoClass::Missing,
        Some(libc::ENOTDIR) => IoClass::NotADirectory,
        Some(libc::EROFS) => IoClass::ReadOnly,
        Some(libc::EACCES) | Some(libc::EPERM) => IoClass::PermissionDenied,
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => IoClass::DiskFull,
        _ => IoClass::Other,
    }
}

/// Why a file header (segment or snapshot) cannot be read by this build.
#[derive(Debug, Error)]
pub enum FormatError {
    #[error("{}: {len} bytes is too short for a {what} header ({needed} bytes)", .path.display())]
    TooShort {
        path: PathBuf,
        what: &'static str,
        len: u64,
        needed: u64,
    },
    #[error("{}: not a Crossline {what} file (magic {found:02x?})", .path.display())]
    BadMagic {
        path: PathBuf,
        what: &'static str,
        found: [u8; 8],
    },
    #[error(
        "{}: format version {found} is newer than this build reads (up to {supported}); \
         open it with a newer crossline",
        .path.display()
    )]
    NewerVersion {
        path: PathBuf,
        found: u16,
        supported: u16,
    },
    #[error("{}: format version {found} is not supported (this build reads {supported})", .path.display())]
    UnsupportedVersion {
        path: PathBuf,
        found: u16,
        supported: u16,
    },
    #[error("{}: header checksum mismatch (stored {stored:#010x}, computed {computed:#010x})", .path.display())]
    HeaderChecksum {
        path: PathBuf,
        stored: u32,
        computed: u32,
    },
    #[error("{}: written with rkyv layout [{found}] but this build uses [{expected}]", .path.display())]
    LayoutMismatch {
        path: PathBuf,
        found: LayoutFeatures,
        expected: LayoutFeatures,
    },
    #[error(
        "{}: records archive to {found} bytes but this build's Command archives to {expected} bytes \
         (the command type changed)",
        .path.display()
    )]
    RecordSizeMismatch {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("{}: file name says first sequence {named} but the header says {header}", .path.display())]
    NameMismatch {
        path: PathBuf,
        named: u64,
        header: u64,
    },
    #[error("{}: header field {field} holds an impossible value {value}", .path.display())]
    BadField {
        path: PathBuf,
        field: &'static str,
        value: u64,
    },
}

impl FormatError {
    /// The file whose header was refused.
    pub fn path(&self) -> &Path {
        match self {
            FormatError::TooShort { path, .. }
            | FormatError::BadMagic { path, .. }
            | FormatError::NewerVersion { path, .. }
            | FormatError::UnsupportedVersion { path, .. }
            | FormatError::HeaderChecksum { path, .. }
            | FormatError::LayoutMismatch { path, .. }
            | FormatError::RecordSizeMismatch { path, .. }
            | FormatError::NameMismatch { path, .. }
            | FormatError::BadField { path, .. } => path,
        }
    }
}

/// Why one frame of a segment is not a valid record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameDefect {
    /// The length word is zero where a record was expected.
    Empty,
    /// The length word is neither zero, the seal marker, nor the archived size of a command.
    UnexpectedLength {
        found: u32,
        expected: u32,
    },
    /// The frame runs past the end of the file.
    Truncated {
        needed: u64,
        available: u64,
    },
    Checksum {
        stored: u32,
        computed: u32,
    },
    /// The checksum holds but the bytes are not a valid archived command, or the command's seq is not the frame's.
    Undecodable,
}

impl fmt::Display for FrameDefect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameDefect::Empty => write!(f, "zero length word"),
            FrameDefect::UnexpectedLength { found, expected } => {
                write!(
                    f,
                    "length word {found} (a command record is {expected} bytes)"
                )
            }
            FrameDefect::Truncated { needed, available } => {
                write!(
                    f,
                    "frame needs {needed} bytes but only {available} remain in the file"
                )
            }
            FrameDefect::Checksum { stored, computed } => {
                write!(
                    f,
                    "checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
                )
            }
            FrameDefect::Undecodable => write!(
                f,
                "checksum holds but the payload is not a valid archived command"
            ),
        }
    }
}

/// Failures opening a journal writer or reader, or pointing a tool at a directory.
#[derive(Debug, Error)]
pub enum OpenError {
    #[error("journal directory {} does not exist", .path.display())]
    DirectoryMissing { path: PathBuf },
    #[error("{} is not a directory", .path.display())]
    NotADirectory { path: PathBuf },
    #[error("{}: read-only file system; the journal writer needs write access", .path.display())]
    ReadOnly { path: PathBuf },
    #[error("{}: permission denied", .path.display())]
    PermissionDenied { path: PathBuf },
    #[error("{}: no space left on device while preallocating a segment", .path.display())]
    DiskFull { path: PathBuf },
    #[error("{}: another journal writer holds the lock on this directory", .path.display())]
    Locked { path: PathBuf },
    #[error("{}: no journal segments (*.seg) in this directory", .path.display())]
    NoSegments { path: PathBuf },
    #[error("invalid journal configuration: {reason}")]
    InvalidConfig { reason: String },
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error(transparent)]
    Recovery(#[from] RecoveryError),
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: io::Error },
}

impl OpenError {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        let path = path.to_path_buf();
        match classify(&source) {
            IoClass::Missing => OpenError::DirectoryMissing { path },
            IoClass::NotADirectory => OpenError::NotADirectory { path },
            IoClass::ReadOnly => OpenError::ReadOnly { path },
            IoClass::PermissionDenied => OpenError::PermissionDenied { path },
            IoClass::DiskFull => OpenError::DiskFull { path },
            IoClass::Other => OpenError::Io { path, source },
        }
    }
}

/// Failures appending, committing or syncing. When `append` returns an error the record was not written: the next
/// `append` must carry the same sequence number.
#[derive(Debug, Error)]
pub enum AppendError {
    #[error("out of sequence: the journal expects seq {expected}, the command carries {found}")]
    OutOfSequence { expected: u64, found: u64 },
    #[error("{}: no space left on device while preallocating the next segment", .path.display())]
    DiskFull { path: PathBuf },
    #[error("{}: read-only file system", .path.display())]
    ReadOnly { path: PathBuf },
    #[error("{}: permission denied", .path.display())]
    PermissionDenied { path: PathBuf },
    #[error("{}: journal directory vanished", .path.display())]
    DirectoryMissing { path: PathBuf },
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("seq {seq}: rkyv could not archive the command into its frame")]
    Serialize { seq: u64 },
    /// A sync failed earlier. After a failed fsync the kernel may have dropped the dirty pages, so retrying could
    /// report durability that does not exist; the writer refuses all further work instead.
    #[error("the journal writer stopped after a failed sync: {reason}")]
    Poisoned { reason: String },
}

impl AppendError {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        let path = path.to_path_buf();
        match classify(&source) {
            IoClass::Missing | IoClass::NotADirectory => AppendError::DirectoryMissing { path },
            IoClass::ReadOnly => AppendError::ReadOnly { path },
            IoClass::PermissionDenied => AppendError::PermissionDenied { path },
            IoClass::DiskFull => AppendError::DiskFull { path },
            IoClass::Other => AppendError::Io { path, source },
        }
    }
}

/// Failures reading records in place.
#[derive(Debug, Error)]
pub enum ReadError {
    #[error("{} at offset {offset}: bad record: {defect}", .path.display())]
    BadRecord {
        path: PathBuf,
        offset: u64,
        defect: FrameDefect,
    },
    #[error("{} at offset {offset}: sequence gap: expected seq {expected}, found {found}", .path.display())]
    SequenceGap {
        path: PathBuf,
        offset: u64,
        expected: u64,
        found: u64,
    },
    #[error("seq {requested} was pruned; the journal starts at seq {first_available}")]
    Pruned {
        requested: u64,
        first_available: u64,
    },
    #[error("{}: segment missing although the written watermark covers it", .path.display())]
    MissingSegment { path: PathBuf },
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: io::Error },
}

/// Failures that stop recovery. A torn tail is not among them: it is cut and reported in `RecoveryReport`.
#[derive(Debug, Error)]
pub enum RecoveryError {
    #[error(
        "{} at offset {offset}: bad record ({defect}) followed by valid records at {} offset {next_offset}; {}",
        .path.display(), .next_path.display(), corruption_reason(*.seq, *.checkpoint_seq)
    )]
    MidJournalCorruption {
        path: PathBuf,
        offset: u64,
        defect: FrameDefect,
        next_path: PathBuf,
        next_offset: u64,
        /// The sequence number that belongs at `offset`.
        seq: u64,
        /// The journal's durable checkpoint (`None`: no checkpoint block was readable).
        checkpoint_seq: Option<u64>,
    },
    /// The valid prefix ends before the durable checkpoint, with nothing valid after it: records that were synced
    /// are gone. A crash cannot do that (it only loses what was not synced), so it is not cut as a torn tail.
    #[error(
        "{} at offset {offset}: bad record ({defect}) where seq {first_lost_seq} belongs and no valid record after \
         it, but the durable checkpoint in {} says every record up to seq {checkpoint_seq} was synced; records \
         acknowledged durable are missing, which a crash cannot cause, so recovery will not cut them",
        .path.display(), .checkpoint_path.display()
    )]
    DurableRecordsLost {
        path: PathBuf,
        offset: u64,
        defect: FrameDefect,
        first_lost_seq: u64,
        checkpoint_seq: u64,
        checkpoint_path: PathBuf,
    },
    #[error("{} at offset {offset}: sequence gap: expected seq {expected}, found {found}", .path.display())]
    SequenceGap {
        path: PathBuf,
        offset: u64,
        expected: u64,
        found: u64,
    },
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: io::Error },
}

/// Why a bad record followed by valid ones is corruption rather than a torn tail.
fn corruption_reason(seq: u64, checkpoint_seq: Option<u64>) -> String {
    match checkpoint_seq {
        Some(checkpoint) => format!(
            "seq {seq} is within the durable checkpoint (seq {checkpoint}), so it was synced and a crash cannot have \
             torn it: this is corruption inside the journal, and recovery will not drop the records after it"
        ),
        None => format!(
            "the durable checkpoint is unreadable, so seq {seq} may have been synced: this is treated as corruption \
             inside the journal, and recovery will not drop the records after it"
        ),
    }
}

/// Failures writing, listing, loading or pruning snapshots.
#[derive(Debug, Error)]
pub enum SnapshotError {
    #[error("snapshot directory {} does not exist", .path.display())]
    DirectoryMissing { path: PathBuf },
    #[error("{}: read-only file system", .path.display())]
    ReadOnly { path: PathBuf },
    #[error("{}: permission denied", .path.display())]
    PermissionDenied { path: PathBuf },
    #[error("{}: no space left on device while writing a snapshot", .path.display())]
    DiskFull { path: PathBuf },
    #[error("{}: payload is {found} bytes, the header says {expected}", .path.display())]
    PayloadLength {
        path: PathBuf,
        found: u64,
        expected: u64,
    },
    #[error("{}: payload checksum mismatch (stored {stored:#010x}, computed {computed:#010x})", .path.display())]
    PayloadChecksum {
        path: PathBuf,
        stored: u32,
        computed: u32,
    },
    #[error("snapshot seq must be at least 1")]
    ZeroSeq,
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: io::Error },
}

impl SnapshotError {
    pub(crate) fn io(path: &Path, source: io::Error) -> Self {
        let path = path.to_path_buf();
        match classify(&source) {
            IoClass::Missing | IoClass::NotADirectory => SnapshotError::DirectoryMissing { path },
            IoClass::ReadOnly => SnapshotError::ReadOnly { path },
            IoClass::PermissionDenied => SnapshotError::PermissionDenied { path },
            IoClass::DiskFull => SnapshotError::DiskFull { path },
            IoClass::Other => SnapshotError::Io { path, source },
        }
    }
}

/// Umbrella for callers that only report.
#[derive(Debug, Error)]
pub enum JournalError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Append(#[from] AppendError),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Recovery(#[from] RecoveryError),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
}

/// A failure inside segment handling, before it is placed in the caller's error family.
#[derive(Debug)]
pub(crate) enum SegmentFault {
    Io(PathBuf, io::Error),
    Format(FormatError),
}

impl From<SegmentFault> for OpenError {
    fn from(fault: SegmentFault) -> Self {
        match fault {
            SegmentFault::Io(path, source) => OpenError::io(&path, source),
            SegmentFault::Format(err) => OpenError::Format(err),
        }
    }
}

impl From<SegmentFault> for AppendError {
    fn from(fault: SegmentFault) -> Self {
        match fault {
            SegmentFault::Io(path, source) => AppendError::io(&path, source),
            // A segment this writer just created cannot fail its own header check; report it as I/O anyway.
            SegmentFault::Format(err) => {
                let path = err.path().to_path_buf();
                AppendError::Io {
                    path,
                    source: io::Error::new(io::ErrorKind::InvalidData, err),
                }
            }
        }
    }
}

impl From<SegmentFault> for ReadError {
    fn from(fault: SegmentFault) -> Self {
        match fault {
            SegmentFault::Io(path, source) => ReadError::Io { path, source },
            SegmentFault::Format(err) => ReadError::Format(err),
        }
    }
}

impl From<SegmentFault> for RecoveryError {
    fn from(fault: SegmentFault) -> Self {
        match fault {
            SegmentFault::Io(path, source) => RecoveryError::Io { path, source },
            SegmentFault::Format(err) => RecoveryError::Format(err),
        }
    }
}
