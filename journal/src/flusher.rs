//! Group commit: the state shared between the writer and whoever syncs (the flusher thread under
//! `FsyncPolicy::IntervalMs`, the writer itself under `EveryBatch` or an explicit `sync()`), and the flusher thread.
//!
//! The rule that makes the durable watermark honest: a sync reads the written watermark S first, then syncs every
//! byte the writer had published when it stored S, and only then publishes durable = S. The writer stores a
//! segment's `written_end` before it stores the written watermark, and hands a segment over (at rollover) under the
//! same lock a sync holds for its whole run, so "every byte" is: all sealed segments not yet synced, plus the current
//! segment up to its `written_end`.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::fsio;
use crate::segment::Segment;
use crate::watermarks::Watermarks;

#[derive(Debug)]
struct SyncState {
    current: Arc<Segment>,
    /// How far the current segment is known to be synced.
    synced_end: usize,
    /// Segments sealed since the last sync; their mappings stay alive until they are synced.
    sealed: Vec<Arc<Segment>>,
    /// Under `FsyncPolicy::None` sealed segments are unmapped at rollover; a later explicit sync must then flush
    /// the whole file system to cover them.
    dropped_unsynced: bool,
}

#[derive(Debug)]
pub(crate) struct SyncShared {
    pub watermarks: Arc<Watermarks>,
    dir: PathBuf,
    state: Mutex<SyncState>,
    failed: AtomicBool,
    failure: Mutex<Option<String>>,
    stop: AtomicBool,
}

impl SyncShared {
    pub(crate) fn new(
        dir: PathBuf,
        watermarks: Arc<Watermarks>,
        current: Arc<Segment>,
        synced_end: usize,
    ) -> Self {
        SyncShared {
            watermarks,
            dir,
            state: Mutex::new(SyncState {
                current,
                synced_end,
                sealed: Vec::with_capacity(4),
                dropped_unsynced: false,
            }),
            failed: AtomicBool::new(false),
            failure: Mutex::new(None),
            stop: AtomicBool::new(false),
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
        let mut state = self.lock();
        let sealed = std::mem::replace(&mut state.current, next);
        if keep_sealed_for_sync {
            state.sealed.push(sealed);
        } else {
            state.dropped_unsynced = true;
        }
        state.synced_end = crate::header::HEADER_BYTES;
    }

    /// Syncs everything published so far and advances the durable watermark to match.
    pub(crate) fn sync_now(&self) -> Result<(), (PathBuf, std::io::Error)> {
        let mut state = self.lock();
        let target_seq = self.watermarks.written_seq();
        while let Some(segment) = state.sealed.pop() {
            segment
                .sync_all()
                .map_err(|err| (segment.path.clone(), err))?;
        }
        if state.dropped_unsynced {
            fsio::syncfs(&self.dir).map_err(|err| (self.dir.clone(), err))?;
            state.dropped_unsynced = false;
        }
        let end = state.current.written_end.load(Ordering::Acquire);
        if end > state.synced_end {
            state
                .current
                .sync_range(state.synced_end, end)
                .map_err(|err| (state.current.path.clone(), err))?;
            state.synced_end = end;
        }
        drop(state);
        self.watermarks.publish_durable(target_seq);
        Ok(())
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

/// The group-commit thread: every `interval_ms` it syncs what the writer has published, if anything is new.
#[derive(Debug)]
pub(crate) struct Flusher {
    shared: Arc<SyncShared>,
    thread: Option<JoinHandle<()>>,
}

impl Flusher {
    pub(crate) fn start(shared: Arc<SyncShared>, interval_ms: u32) -> std::io::Result<Flusher> {
        let interval = Duration::from_millis(u64::from(interval_ms.max(1)));
        let worker = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("journal-flusher".to_string())
            .spawn(move || {
                while !worker.stop.load(Ordering::Acquire) {
                    thread::park_timeout(interval);
                    let behind = worker.watermarks.durable_seq() < worker.watermarks.written_seq();
                    if behind {
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

    /// Stops the thread after its current sync; the caller decides whether a final sync is needed.
    pub(crate) fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
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
