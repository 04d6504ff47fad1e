//! The two sequence numbers the rest of the appliance waits on: written (a reader can see every record up to it)
//! and durable (every record up to it has been synced to stable storage). Zero means "none yet": sequence numbers
//! start at 1.
//!
//! A visibility limit caps both as readers see them. A replica appends records as soon as it accepts them (so
//! that its journal is its replication log), but what it has accepted may still be cut if the cluster never
//! commits it; under the limit (raised as records are committed) readers, the recovery replay and the engine
//! that follows the journal see only committed records, while the writer and its syncs work on everything
//! appended. Without a limit (the default, and a leader's) readers see everything written.

use std::sync::atomic::{AtomicU64, Ordering};

/// Keeps each counter on its own cache line pair, so the flusher storing `durable` does not slow the writer
/// storing `written` (adjacent-line prefetch makes 128 bytes the unit that matters).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded(AtomicU64);

/// Shared by the writer, its flusher and any number of readers through an `Arc`.
#[derive(Debug)]
pub struct Watermarks {
    written: Padded,
    durable: Padded,
    /// Readers see no record past this seq (`u64::MAX`: no limit).
    visible: Padded,
}

impl Default for Watermarks {
    fn default() -> Self {
        Watermarks::new(0)
    }
}

impl Watermarks {
    pub(crate) fn new(last_seq: u64) -> Watermarks {
        Watermarks {
            written: Padded(AtomicU64::new(last_seq)),
            durable: Padded(AtomicU64::new(last_seq)),
            visible: Padded(AtomicU64::new(u64::MAX)),
        }
    }

    /// A writer reopened on the same watermarks (after a cut) starts them again at its last record. The
    /// visibility limit stays: the cut never goes below it.
    pub(crate) fn restart_at(&self, last_seq: u64) {
        self.written.0.store(last_seq, Ordering::Release);
        self.durable.0.store(last_seq, Ordering::Release);
    }

    /// The highest sequence number whose record is complete and visible to readers (never past the visibility
    /// limit).
    #[inline]
    pub fn written_seq(&self) -> u64 {
        self.written
            .0
            .load(Ordering::Acquire)
            .min(self.visible.0.load(Ordering::Acquire))
    }

    /// The highest sequence number whose record (and every one before it) is on stable storage, as readers see
    /// it (never past the visibility limit).
    #[inline]
    pub fn durable_seq(&self) -> u64 {
        self.durable
            .0
            .load(Ordering::Acquire)
            .min(self.visible.0.load(Ordering::Acquire))
    }

    /// The last record the writer has published, whatever the visibility limit.
    #[inline]
    pub fn appended_seq(&self) -> u64 {
        self.written.0.load(Ordering::Acquire)
    }

    /// The last record on stable storage, whatever the visibility limit.
    #[inline]
    pub fn synced_seq(&self) -> u64 {
        self.durable.0.load(Ordering::Acquire)
    }

    /// Readers see nothing past `seq` from now on (a replica's committed seq at start-up). It may only be set
    /// before any reader has seen past it.
    pub fn limit_visibility(&self, seq: u64) {
        self.visible.0.store(seq, Ordering::Release);
    }

    /// Raises the visibility limit to `seq` (a replica's committed seq); never lowers it.
    #[inline]
    pub fn raise_visibility(&self, seq: u64) {
        self.visible.0.fetch_max(seq, Ordering::AcqRel);
    }

    /// Readers see everything written (a replica promoted to leader).
    pub fn lift_visibility(&self) {
        self.visible.0.store(u64::MAX, Ordering::Release);
    }

    /// The visibility limit (`u64::MAX`: none).
    pub fn visibility_limit(&self) -> u64 {
        self.visible.0.load(Ordering::Acquire)
    }

    /// Release: a reader that loads `seq` with Acquire sees every byte of every record up to it.
    #[inline]
    pub(crate) fn publish_written(&self, seq: u64) {
        self.written.0.store(seq, Ordering::Release);
    }

    /// `fetch_max` because the flusher and an explicit `sync()` may finish out of order.
    #[inline]
    pub(crate) fn publish_durable(&self, seq: u64) {
        self.durable.0.fetch_max(seq, Ordering::Release);
    }
}
