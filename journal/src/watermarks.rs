//! The two sequence numbers the rest of the appliance waits on: written (a reader can see every record up to it)
//! and durable (every record up to it has been synced to stable storage). Zero means "none yet": sequence numbers
//! start at 1.

use std::sync::atomic::{AtomicU64, Ordering};

/// Keeps each counter on its own cache line pair, so the flusher storing `durable` does not slow the writer
/// storing `written` (adjacent-line prefetch makes 128 bytes the unit that matters).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded(AtomicU64);

/// Shared by the writer, its flusher and any number of readers through an `Arc`.
#[derive(Debug, Default)]
pub struct Watermarks {
    written: Padded,
    durable: Padded,
}

impl Watermarks {
    pub(crate) fn new(last_seq: u64) -> Watermarks {
        Watermarks {
            written: Padded(AtomicU64::new(last_seq)),
            durable: Padded(AtomicU64::new(last_seq)),
        }
    }

    /// The highest sequence number whose record is complete and visible to readers.
    #[inline]
    pub fn written_seq(&self) -> u64 {
        self.written.0.load(Ordering::Acquire)
    }

    /// The highest sequence number whose record (and every one before it) is on stable storage.
    #[inline]
    pub fn durable_seq(&self) -> u64 {
        self.durable.0.load(Ordering::Acquire)
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
