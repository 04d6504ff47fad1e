//! The two sequence numbers the rest of the appliance waits on: written (a reader can see every record up to it)
//! and durable (every record up to it has been synced to stable storage). Zero means "none yet": sequence numbers
//! start at 1.
//!
//! A visibility limit caps both as readers see them. A replica appends records as soon as it accepts them (so
//! that its journal is its replication log), but what it has accepted may still be cut if the cluster never
//! commits it; under the limit (raised as records are committed) readers, the recovery replay and the engine
//! that follows the journal see only committed records, while the writer and its syncs work on everything
//! appended. Without a limit (the default, and a leader's) readers see everything written.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// Keeps each counter on its own cache line pair, so the flusher storing `durable` does not slow the writer
/// storing `written` (adjacent-line prefetch makes 128 bytes the unit that matters).
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded(AtomicU64);

/// The flusher's futex word, on its own cache lines as the counters are.
#[derive(Debug, Default)]
#[repr(align(128))]
struct PaddedWord(AtomicU32);

/// Shared by the writer, its flusher and any number of readers through an `Arc`.
#[derive(Debug)]
pub struct Watermarks {
    written: Padded,
    durable: Padded,
    /// Readers see no record past this seq (`u64::MAX`: no limit).
    visible: Padded,
    /// 1 from a request (`request_sync`) until the flusher takes it, just before the round that answers it (after
    /// the gap that paces requested rounds, during which further requests find it pending and make no system
    /// call); also set to end the flusher's wait when it stops. The flusher sleeps on this word between rounds (a
    /// futex), so whichever flusher the writer runs (a cut reopens the journal with a new one) is woken through the
    /// same shared word.
    sync_wanted: PaddedWord,
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
            sync_wanted: PaddedWord::default(),
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

    /// Someone waits for the durable watermark (a reply under `ack = durable`): the flusher starts a round soon,
    /// instead of at the end of its interval: once the previous round started long enough ago, a gap that grows
    /// with the journal's rate up to `JournalConfig::requested_round_max_gap_us` (group commit: every record
    /// written by the time the round starts is synced by it, and requests made during a round start the next one
    /// after the gap). A system call only for the request that finds none pending: a waiter may call this on
    /// every turn of its loop. Without a flusher (`FsyncPolicy::EveryBatch` syncs in the writer, `None` never) it
    /// changes nothing.
    #[inline]
    pub fn request_sync(&self) {
        let word = &self.sync_wanted.0;
        if word.load(Ordering::Relaxed) != 0 || word.swap(1, Ordering::AcqRel) != 0 {
            return;
        }
        futex_wake(word);
    }

    /// The flusher, between rounds: sleeps until a sync is requested or `timeout` passes (or a spurious wake-up),
    /// and returns whether one is pending, leaving it pending (`take_sync_request` takes it).
    pub(crate) fn sleep_until_requested(&self, timeout: Duration) -> bool {
        let word = &self.sync_wanted.0;
        if word.load(Ordering::Acquire) == 0 {
            futex_wait_while_zero(word, timeout);
        }
        word.load(Ordering::Acquire) != 0
    }

    /// The flusher, just before a round: takes the pending request, if any. Every record a waiter asked for
    /// before this was published before its request, so the round that follows (it reads the written
    /// watermark after this) covers it; a request after this starts the next round.
    pub(crate) fn take_sync_request(&self) -> bool {
        self.sync_wanted.0.swap(0, Ordering::AcqRel) != 0
    }

    /// Ends the flusher's current wait (it is stopping): as a request, so the word's one meaning holds.
    pub(crate) fn wake_flusher(&self) {
        self.sync_wanted.0.store(1, Ordering::Release);
        futex_wake(&self.sync_wanted.0);
    }
}

/// Wakes every thread sleeping on `word` in `futex_wait_while_zero`.
fn futex_wake(word: &AtomicU32) {
    // SAFETY: FUTEX_WAKE reads no memory: the kernel uses the word's address only as the key of its wait queue.
    // The word lives as long as `&self` of the caller.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            i32::MAX,
        );
    }
}

/// Sleeps while `word` is 0, at most `timeout`: the kernel checks the word and queues the thread atomically, so a
/// `futex_wake` after a store of 1 is never lost. Returns early on a wake-up, a signal, or a word already non-zero.
fn futex_wait_while_zero(word: &AtomicU32, timeout: Duration) {
    let timeout = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(timeout.subsec_nanos()),
    };
    // SAFETY: FUTEX_WAIT reads the aligned u32 behind `word` (alive for the call) and the timespec on this
    // stack frame; it writes nothing.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            0u32,
            &timeout as *const libc::timespec,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::Watermarks;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    #[test]
    fn a_sync_request_wakes_the_waiting_flusher_and_is_taken_once() {
        let marks = Arc::new(Watermarks::new(0));
        // What the flusher does between rounds, without its gap.
        let wait_for_sync_request = |marks: &Watermarks, timeout: Duration| {
            marks.sleep_until_requested(timeout);
            marks.take_sync_request()
        };
        assert!(
            !wait_for_sync_request(&marks, Duration::from_millis(1)),
            "nothing requested"
        );
        let waiter = {
            let marks = Arc::clone(&marks);
            std::thread::spawn(move || {
                let started = Instant::now();
                let requested = wait_for_sync_request(&marks, Duration::from_secs(60));
                (requested, started.elapsed())
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        marks.request_sync();
        marks.request_sync();
        let (requested, waited) = waiter.join().expect("waiter");
        assert!(requested);
        assert!(
            waited < Duration::from_secs(30),
            "woken by the request, not the timeout: {waited:?}"
        );
        assert!(
            !wait_for_sync_request(&marks, Duration::from_millis(1)),
            "taken once"
        );
        marks.request_sync();
        assert!(
            wait_for_sync_request(&marks, Duration::from_secs(60)),
            "a request made before the wait is kept"
        );
    }
}
