//! Group commit: the state shared between the writer and whoever syncs (the flusher thread under
//! `FsyncPolicy::IntervalMs`, the writer itself under `EveryBatch` or an explicit `sync()`), and the flusher thread.
//!
//! The rule that makes the durable watermark honest: a sync reads the written watermark S first, then syncs every
//! byte the writer had published when it stored S, and only then publishes durable = S. The writer stores a
//! segment's `written_end` before it stores the written watermark, and hands a segment over (at rollover) under the
//! same lock a sync holds for its whole run, so "every byte" is: all sealed segments not yet synced, plus the current
//! segment up to its `written_end`.
//!
//! The durable checkpoint (segment.rs) rides on the same sync. Round k first stores into the current segment's
//! checkpoint block the target of round k-1 (W_{k-1}, already on stable storage), then syncs once from the header
//! page to `written_end`: that persists the records up to W_k and the checkpoint W_{k-1} together. It never stores
//! W_k before its own sync: the kernel may write the header page back at any moment, so a stored value must already
//! be true. The checkpoint therefore trails the durable watermark by one round; `close` and an idle flusher run one
//! more round that only catches the checkpoint up.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::fsio;
use crate::segment::{Segment, FIRST_FRAME_OFFSET_BYTES};
use crate::watermarks::Watermarks;

#[derive(Debug)]
struct SyncState {
    current: Arc<Segment>,
    /// How far the current segment is known to be synced.
    synced_end: usize,
    /// Segments sealed since the last sync; their mappings stay alive until they are synced.
    sealed: Vec<Arc<Segment>>,
    /// Sealed segments that are synced, waiting for their page cache to be released outside the lock.
    synced_sealed: Vec<Arc<Segment>>,
    /// Under `FsyncPolicy::None` sealed segments are unmapped at rollover; a later explicit sync must then flush
    /// the whole file system to cover them.
    dropped_unsynced: bool,
    /// Every record up to this seq is on stable storage: the target of the last completed round (at open, the last
    /// recovered record, which open synced). The next round stores it as the checkpoint.
    durable_seq: u64,
    /// What the current segment's checkpoint block claims, and the slot the next update overwrites.
    checkpoint_seq: u64,
    checkpoint_slot: usize,
}

#[derive(Debug)]
pub(crate) struct SyncShared {
    pub watermarks: Arc<Watermarks>,
    dir: PathBuf,
    state: Mutex<SyncState>,
    failed: AtomicBool,
    failure: Mutex<Option<String>>,
    stop: AtomicBool,
    /// `SyncState::checkpoint_seq`, readable without the lock: the flusher checks it when idle.
    checkpoint_seq: AtomicU64,
}

impl SyncShared {
    /// `durable_seq`: every record up to it is already on stable storage (open synced what recovery kept).
    pub(crate) fn new(
        dir: PathBuf,
        watermarks: Arc<Watermarks>,
        current: Arc<Segment>,
        synced_end: usize,
        durable_seq: u64,
    ) -> Self {
        let block = current.load_checkpoint();
        // A damaged block claims nothing; the first round overwrites the damaged slot.
        let checkpoint_seq = block.seq().unwrap_or(0);
        SyncShared {
            watermarks,
            dir,
            state: Mutex::new(SyncState {
                current,
                synced_end,
                sealed: Vec::with_capacity(SEALED_CAPACITY),
                synced_sealed: Vec::with_capacity(SEALED_CAPACITY),
                dropped_unsynced: false,
                durable_seq,
                checkpoint_seq,
                checkpoint_slot: block.next_slot(),
            }),
            failed: AtomicBool::new(false),
            failure: Mutex::new(None),
            stop: AtomicBool::new(false),
            checkpoint_seq: AtomicU64::new(checkpoint_seq),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SyncState> {
        // A panic while holding the lock leaves plain data behind, still consistent enough to sync from.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Called by the writer at rollover, after the new segment exists and the old one is sealed.
    pub(crate) fn hand_over(&self, next: Arc<Segment>, keep_sealed_for_sync: bool) {
        // The new segment's block holds the seed it was created with (a durable watermark, so at most
        // `durable_seq`); the next round brings it up to date.
        let block = next.load_checkpoint();
        let mut state = self.lock();
        let sealed = std::mem::replace(&mut state.current, next);
        if keep_sealed_for_sync {
            state.sealed.push(sealed);
        } else {
            state.dropped_unsynced = true;
        }
        state.synced_end = FIRST_FRAME_OFFSET_BYTES;
        state.checkpoint_seq = block.seq().unwrap_or(0);
        state.checkpoint_slot = block.next_slot();
        self.checkpoint_seq
            .store(state.checkpoint_seq, Ordering::Relaxed);
    }

    /// True when the persisted checkpoint trails the durable watermark: one more round (which syncs only the header
    /// page if nothing new was written) would bring it level.
    pub(crate) fn checkpoint_behind(&self) -> bool {
        self.checkpoint_seq.load(Ordering::Relaxed) < self.watermarks.synced_seq()
    }

    /// Syncs everything published so far and advances the durable watermark to match.
    pub(crate) fn sync_now(&self) -> Result<(), (PathBuf, std::io::Error)> {
        let mut state = self.lock();
        let target_seq = self.watermarks.appended_seq();
        while let Some(segment) = state.sealed.pop() {
            segment
                .sync_all()
                .map_err(|err| (segment.path.clone(), err))?;
            state.synced_sealed.push(segment);
        }
        if state.dropped_unsynced {
            fsio::syncfs(&self.dir).map_err(|err| (self.dir.clone(), err))?;
            state.dropped_unsynced = false;
        }
        // The checkpoint this round persists is what the previous round made durable (W_{k-1}). It is already on
        // stable storage, so the kernel may write the page back whenever it likes, and the one sync below carries it
        // together with the new records. The new records' own target is stored only by the next round.
        let mut sync_from = state.synced_end;
        if state.durable_seq > state.checkpoint_seq {
            let (slot, seq) = (state.checkpoint_slot, state.durable_seq);
            state
                .current
                .store_checkpoint(slot, seq)
                .map_err(|err| (state.current.path.clone(), err))?;
            state.checkpoint_slot = slot ^ 1;
            state.checkpoint_seq = seq;
            self.checkpoint_seq.store(seq, Ordering::Relaxed);
            sync_from = 0;
        }
        let end = state.current.written_end.load(Ordering::Acquire);
        if end > sync_from {
            // One msync from the header page (when the checkpoint changed) to the end of the published frames: a
            // single ranged fdatasync; pages already clean cost nothing.
            state
                .current
                .sync_range(sync_from, end)
                .map_err(|err| (state.current.path.clone(), err))?;
            state.synced_end = state.synced_end.max(end);
        }
        state.durable_seq = state.durable_seq.max(target_seq);
        let released_any = !state.synced_sealed.is_empty();
        drop(state);
        self.watermarks.publish_durable(target_seq);
        if released_any {
            self.release_synced_sealed();
        }
        Ok(())
    }

    /// Gives the page cache of synced sealed segments back to the kernel, one segment at a time and outside the
    /// lock (a 256 MiB segment takes milliseconds). The writer never returns to a sealed segment, so its pages are
    /// only a cache of what is on disk; a reader that still maps it keeps those pages, and anyone reading it later
    /// reads the disk. Freed at once, they are what the writer's next pages are taken from: on a virtual machine
    /// whose host backs guest memory lazily, zeroing memory the guest has just freed costs a fraction of zeroing
    /// memory it has not touched for a while (docs/JOURNAL.md, "Page cache").
    fn release_synced_sealed(&self) {
        loop {
            let Some(segment) = self.lock().synced_sealed.pop() else {
                return;
            };
            // Another holder (none today: the writer hands its only other reference over at rollover) keeps the
            // mapping, and the kernel keeps the pages it maps.
            if let Ok(segment) = Arc::try_unwrap(segment) {
                segment.release_page_cache();
            }
        }
    }

    pub(crate) fn poison(&self, reason: String) {
        let mut failure = self
            .failure
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        failure.get_or_insert(reason);
        self.failed.store(true, Ordering::Release);
    }

    #[inline]
    pub(crate) fn is_poisoned(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    pub(crate) fn failure_reason(&self) -> String {
        let failure = self
            .failure
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        failure
            .clone()
            .unwrap_or_else(|| "unknown sync failure".to_string())
    }
}

/// Room for the segments sealed between two sync rounds without growing: one at a time in practice (a segment holds
/// millions of records, a round comes every few milliseconds).
const SEALED_CAPACITY: usize = 4;

/// How long the journal must be idle before the flusher runs a round that only brings the checkpoint level with the
/// durable watermark. Under load every round moves the checkpoint anyway; the delay keeps this extra header-page sync
/// from doubling the sync rate under light load, where it could hold the sync lock when the next batch arrives.
const CHECKPOINT_CATCH_UP_IDLE_MS: u64 = 50;

/// How long a round a waiter asks for (`Watermarks::request_sync`) waits after the previous round started: in
/// proportion to the journal's rate, `REQUESTED_ROUND_GAP_NS_PER_RECORD_PER_S` per record a second (20 us at 1,000
/// records/s, 1 ms at 50,000/s), and at most `max_gap`. The rate is `records` appended over `window`.
///
/// A round costs the box tens of microseconds of CPU whatever it syncs. Under light load a waiter then gets its
/// round at once: the disk's round trip is most of its wait. Under heavy load the rounds space out and each
/// carries more records, so that their CPU does not starve the threads that produce the records (the appliance's
/// gateway, which runs the journal's writer by default): on the reference 2-vCPU box, rounds 250 us apart at
/// 50,000 durable orders/s doubled the p90 that 1 ms gave, while at 2,000/s a fixed 1 ms gap tripled the p50
/// (BENCHMARKS.md). On a host where the flusher has a core of its own, `max_gap` 0 runs requested rounds back to
/// back.
fn requested_round_gap(records: u64, window: Duration, max_gap: Duration) -> Duration {
    let window_ns = window.as_nanos().max(1);
    let gap_ns = u128::from(records)
        .saturating_mul(REQUESTED_ROUND_GAP_NS_PER_RECORD_PER_S * 1_000_000_000)
        / window_ns;
    let max_ns = max_gap.as_nanos();
    Duration::from_nanos(u64::try_from(gap_ns.min(max_ns)).unwrap_or(u64::MAX))
}

/// The gap's slope: nanoseconds of gap per record a second of the journal's rate.
const REQUESTED_ROUND_GAP_NS_PER_RECORD_PER_S: u128 = 20;

/// The default most a requested round waits after the previous one (`JournalConfig::requested_round_max_gap_us`).
pub const DEFAULT_REQUESTED_ROUND_MAX_GAP_US: u32 = 1_000;

/// The largest `JournalConfig::requested_round_max_gap_us` accepted: past it a durable reply waits for the pacing
/// more than for any disk, and stopping the flusher waits out the gap.
pub const REQUESTED_ROUND_MAX_GAP_LIMIT_US: u32 = 10_000;

/// Rounds over which the flusher measures the journal's rate.
const RATE_WINDOW_ROUNDS: usize = 8;

/// The starts of the last `RATE_WINDOW_ROUNDS` rounds: when, and the last record appended by then. The rate is
/// measured from the oldest, so that a record arriving just after a short round does not read as a burst.
#[derive(Debug)]
struct RoundStarts {
    starts: [(Instant, u64); RATE_WINDOW_ROUNDS],
    len: usize,
    /// Where the next start goes; once full, the oldest.
    next: usize,
}

impl RoundStarts {
    fn new(now: Instant) -> RoundStarts {
        RoundStarts {
            starts: [(now, 0); RATE_WINDOW_ROUNDS],
            len: 0,
            next: 0,
        }
    }

    fn push(&mut self, at: Instant, appended: u64) {
        self.starts[self.next] = (at, appended);
        self.next = (self.next + 1) % RATE_WINDOW_ROUNDS;
        self.len = (self.len + 1).min(RATE_WINDOW_ROUNDS);
    }

    /// How long a requested round still waits at `now`, `appended` being the last record appended by then.
    fn wait_before_requested_round(
        &self,
        now: Instant,
        appended: u64,
        max_gap: Duration,
    ) -> Duration {
        if self.len == 0 {
            return Duration::ZERO;
        }
        let latest = self.starts[(self.next + RATE_WINDOW_ROUNDS - 1) % RATE_WINDOW_ROUNDS];
        let oldest = if self.len < RATE_WINDOW_ROUNDS {
            self.starts[0]
        } else {
            self.starts[self.next]
        };
        let records = appended.saturating_sub(oldest.1);
        let gap = requested_round_gap(records, now.saturating_duration_since(oldest.0), max_gap);
        gap.saturating_sub(now.saturating_duration_since(latest.0))
    }
}

/// The group-commit thread: every `interval_ms`, or when a waiter asks (after `requested_round_gap`), it syncs what
/// the writer has published, if anything is new.
#[derive(Debug)]
pub(crate) struct Flusher {
    shared: Arc<SyncShared>,
    thread: Option<JoinHandle<()>>,
}

impl Flusher {
    pub(crate) fn start(
        shared: Arc<SyncShared>,
        interval_ms: u32,
        requested_round_max_gap: Duration,
    ) -> std::io::Result<Flusher> {
        let interval_ms = u64::from(interval_ms.max(1));
        let interval = Duration::from_millis(interval_ms);
        let catch_up_idle_ticks = CHECKPOINT_CATCH_UP_IDLE_MS.div_ceil(interval_ms);
        // Never past the interval, when a round would come anyway. (`JournalWriter::open` refused a maximum over
        // `REQUESTED_ROUND_MAX_GAP_LIMIT_US`, so stopping waits out at most that.)
        let max_gap = requested_round_max_gap.min(interval);
        let worker = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("journal-flusher".to_string())
            .spawn(move || {
                let mut idle_ticks = 0u64;
                let mut round_starts = RoundStarts::new(Instant::now());
                while !worker.stop.load(Ordering::Acquire) {
                    // Woken early by a waiter for the durable watermark (`Watermarks::request_sync`).
                    if worker.watermarks.sleep_until_requested(interval) {
                        let wait = round_starts.wait_before_requested_round(
                            Instant::now(),
                            worker.watermarks.appended_seq(),
                            max_gap,
                        );
                        if !wait.is_zero() {
                            thread::sleep(wait);
                        }
                    }
                    if worker.stop.load(Ordering::Acquire) {
                        break;
                    }
                    // Taken only now, so that waiters asking again during the gap find it pending.
                    let requested = worker.watermarks.take_sync_request();
                    let behind = worker.watermarks.synced_seq() < worker.watermarks.appended_seq();
                    // Only a full interval counts towards the idle time; a requested wake-up is not one.
                    let catch_up = !behind && worker.checkpoint_behind() && {
                        idle_ticks += u64::from(!requested);
                        idle_ticks >= catch_up_idle_ticks
                    };
                    if behind || catch_up {
                        idle_ticks = 0;
                        round_starts.push(Instant::now(), worker.watermarks.appended_seq());
                        if let Err((path, err)) = worker.sync_now() {
                            worker.poison(format!("{}: {err}", path.display()));
                            return;
                        }
                    }
                }
            })?;
        Ok(Flusher {
            shared,
            thread: Some(thread),
        })
    }

    /// The flusher's thread, while it runs.
    pub(crate) fn pthread(&self) -> Option<libc::pthread_t> {
        use std::os::unix::thread::JoinHandleExt;
        self.thread.as_ref().map(|thread| thread.as_pthread_t())
    }

    /// Stops the thread after its current sync; the caller decides whether a final sync is needed.
    pub(crate) fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            self.shared.watermarks.wake_flusher();
            // A panic in the flusher has already been reported by the panic hook; the writer carries on stopping.
            let _ = thread.join();
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: Duration = Duration::from_millis(1);

    #[test]
    fn a_requested_round_waits_in_proportion_to_the_rate_up_to_the_maximum() {
        // 2 records in 1 ms: 2,000 records/s, 40 us.
        assert_eq!(
            requested_round_gap(2, Duration::from_millis(1), MAX),
            Duration::from_micros(40)
        );
        // 20,000 records/s: 400 us.
        assert_eq!(
            requested_round_gap(20, Duration::from_millis(1), MAX),
            Duration::from_micros(400)
        );
        // 50,000 records/s and over: the maximum.
        assert_eq!(requested_round_gap(50, Duration::from_millis(1), MAX), MAX);
        assert_eq!(
            requested_round_gap(1_000_000, Duration::from_millis(1), MAX),
            MAX
        );
        // The maximum is the operator's: 0 never waits, whatever the rate.
        assert_eq!(
            requested_round_gap(1_000, Duration::from_millis(1), Duration::ZERO),
            Duration::ZERO
        );
    }

    /// Round starts `period` apart, the last one `last_ago` before `now`, `per_round` records appended between.
    fn steady_rounds(
        now: Instant,
        rounds: usize,
        period: Duration,
        last_ago: Duration,
        per_round: u64,
    ) -> RoundStarts {
        let mut starts = RoundStarts::new(now);
        for k in 0..rounds {
            let before_last = period * u32::try_from(rounds - 1 - k).expect("few rounds");
            starts.push(now - last_ago - before_last, per_round * k as u64);
        }
        starts
    }

    #[test]
    fn the_first_requested_round_does_not_wait() {
        let now = Instant::now();
        let starts = RoundStarts::new(now);
        assert_eq!(
            starts.wait_before_requested_round(now, 1_000, MAX),
            Duration::ZERO
        );
    }

    #[test]
    fn the_rate_is_measured_over_the_last_rounds_and_the_gap_counts_from_the_latest() {
        let now = Instant::now() + Duration::from_secs(1);
        // 20 records a round, a round every 1 ms: 20,000 records/s, a gap of 400 us. Eight rounds kept, the latest
        // started 100 us ago, 20 more records since: 160 records over 7.1 ms, 22,535 records/s, a gap of 450 us.
        let starts = steady_rounds(
            now,
            12,
            Duration::from_millis(1),
            Duration::from_micros(100),
            20,
        );
        let appended = 20 * 12;
        let wait = starts.wait_before_requested_round(now, appended, MAX);
        assert_eq!(wait, Duration::from_nanos(450_704 - 100_000));
        // Later than the gap: no wait.
        let later = now + Duration::from_micros(400);
        assert_eq!(
            starts.wait_before_requested_round(later, appended, MAX),
            Duration::ZERO
        );
    }

    #[test]
    fn one_record_just_after_a_short_round_does_not_read_as_a_burst() {
        let now = Instant::now() + Duration::from_secs(1);
        // Light load: a round for each record, every 500 us (2,000 records/s), the latest 30 us ago, and one more
        // record since. Measured from the latest round alone that would be 33,000 records/s and a 660 us gap.
        let starts = steady_rounds(
            now,
            8,
            Duration::from_micros(500),
            Duration::from_micros(30),
            1,
        );
        let wait = starts.wait_before_requested_round(now, 8, MAX);
        assert!(wait <= Duration::from_micros(20), "{wait:?}");
    }

    #[test]
    fn after_a_quiet_spell_a_requested_round_does_not_wait() {
        assert_eq!(
            requested_round_gap(0, Duration::from_millis(3), MAX),
            Duration::ZERO
        );
        // One record after a second of silence: 20 ns, far below a round's own cost.
        assert!(requested_round_gap(1, Duration::from_secs(1), MAX) < Duration::from_micros(1));
        // No time at all since the previous round (a clock that did not move) is no division by zero.
        assert_eq!(requested_round_gap(5, Duration::ZERO, MAX), MAX);
        assert_eq!(
            requested_round_gap(u64::MAX, Duration::from_nanos(1), MAX),
            MAX
        );
    }
}
