//! crossline-journal: the durable record of every sequenced input command, from which a restart, a standby and an
//! audit rebuild the exact engine state.
//!
//! Its one job is to append `crossline_engine::Command`s in sequence order to preallocated, memory-mapped segment
//! files, make them visible to readers and durable according to an fsync policy, and give them back, checked, after
//! any crash. It must never acknowledge a record it has not fully written, never hide corruption by truncating
//! valid records after a bad one, never let a full disk surface as a signal instead of an error, and never allocate
//! or make a system call per appended record. It knows nothing of the engine beyond the command type: snapshots are
//! opaque payloads tagged with the sequence number they cover.
//!
//! Main types: `JournalWriter` (append, `commit_batch`, `sync`) configured by `JournalConfig` and `FsyncPolicy`;
//! `Watermarks` (written and durable sequence numbers shared with other threads); `JournalReader` (in-place
//! `&ArchivedCommand` records, tailing a live writer or reading offline); `recover` and `RecoveryReport`;
//! `SnapshotStore` and `prune` for snapshots and retention; `inspect`, `verify` and `dump` for operators.
//!
//! Each segment carries a durable checkpoint (every record up to it is on stable storage), persisted by the same
//! sync that makes the next records durable. It lets recovery cut the hole an out-of-order write-back leaves after
//! a power loss, beyond the checkpoint, while still refusing any damage at or before it.
//! The byte layouts and the crash analysis are in docs/JOURNAL.md.

#![deny(unsafe_op_in_unsafe_fn)]

mod error;
mod flusher;
mod fsio;
#[doc(hidden)]
pub mod fuzzing;
mod header;
mod preparer;
mod reader;
mod record;
mod recovery;
mod report;
mod retention;
mod segment;
mod snapshot;
mod truncate;
mod watermarks;
mod writer;

pub use error::{
    AppendError, FormatError, FrameDefect, JournalError, OpenError, ReadError, RecoveryError,
    SnapshotError,
};
pub use flusher::{DEFAULT_REQUESTED_ROUND_MAX_GAP_US, REQUESTED_ROUND_MAX_GAP_LIMIT_US};
pub use header::{LayoutFeatures, FORMAT_VERSION, HEADER_BYTES};
pub use preparer::records_per_segment;
pub use reader::{JournalReader, Record};
pub use record::{ARCHIVED_COMMAND_BYTES, FRAME_BYTES, FRAME_HEADER_BYTES};
pub use recovery::{recover, RecoveryReport, SegmentEnd, SegmentScan, TornTail};
pub use report::{
    dump, inspect, verify, Dump, InspectReport, SegmentReport, Verdict, VerifyReport,
};
pub use retention::{prune, PruneReport};
pub use segment::{segment_file_name, FIRST_FRAME_OFFSET_BYTES, MAX_FIRST_SEQ};
pub use snapshot::{
    snapshot_file_name, LoadedSnapshot, SkippedSnapshot, SnapshotInfo, SnapshotLoad, SnapshotStore,
    SNAPSHOT_ALIGN_BYTES,
};
pub use truncate::{truncate_after, CutError, TruncateError, TruncateReport};
pub use watermarks::Watermarks;
pub use writer::{
    FsyncPolicy, JournalConfig, JournalSync, JournalThread, JournalWriter, STAGED_FRAMES_MAX,
};
