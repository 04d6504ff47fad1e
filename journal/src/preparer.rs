//! Prepares the writer's next segment on a helper thread: create under a temporary name, preallocate, write and
//! sync the header, rename, sync the directory, map and prefault. Rollover then only swaps mappings, instead of
//! stopping the writer for file-system calls and tens of thousands of page faults.
//!
//! The next segment's name is known in advance because every frame has the same size: a segment that starts at seq
//! `s` with `segment_bytes` holds exactly `(segment_bytes - HEADER_BYTES) / FRAME_BYTES` records. A prepared segment
//! that a crash leaves unused is empty and starts after a gap, which recovery removes (and reports).

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};

use crate::error::SegmentFault;
use crate::header::HEADER_BYTES;
use crate::record::FRAME_BYTES;
use crate::segment::Segment;

/// First sequence number of the segment after one that starts at `first_seq` with `segment_bytes`.
pub(crate) fn next_first_seq(first_seq: u64, segment_bytes: u64) -> u64 {
    first_seq + (segment_bytes - HEADER_BYTES as u64) / FRAME_BYTES as u64
}

#[derive(Debug, Default)]
struct State {
    /// Requested and not started: (first_seq, segment_bytes).
    wanted: Option<(u64, u64)>,
    /// Being created right now.
    in_progress: Option<u64>,
    ready: Option<(u64, Result<Segment, SegmentFault>)>,
    stop: bool,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[derive(Debug)]
pub(crate) struct Preparer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Preparer {
    pub(crate) fn start(dir: PathBuf) -> std::io::Result<Preparer> {
        let shared = Arc::new(Shared::default());
        let worker = Arc::clone(&shared);
        let thread = thread::Builder::new()
            .name("journal-preparer".to_string())
            .spawn(move || loop {
                let (first_seq, segment_bytes) = {
                    let mut state = worker.lock();
                    loop {
                        if state.stop {
                            return;
                        }
                        if let Some(wanted) = state.wanted.take() {
                            state.in_progress = Some(wanted.0);
                            break wanted;
                        }
                        state = worker
                            .changed
                            .wait(state)
                            .unwrap_or_else(|poisoned| poisoned.into_inner());
                    }
                };
                let result = Segment::create(&dir, first_seq, segment_bytes);
                let mut state = worker.lock();
                state.in_progress = None;
                state.ready = Some((first_seq, result));
                worker.changed.notify_all();
            })?;
        Ok(Preparer {
            shared,
            thread: Some(thread),
        })
    }

    /// Asks for the segment starting at `first_seq` to be prepared.
    pub(crate) fn request(&self, first_seq: u64, segment_bytes: u64) {
        let mut state = self.shared.lock();
        state.wanted = Some((first_seq, segment_bytes));
        self.shared.changed.notify_all();
    }

    /// The prepared segment starting at `first_seq`, waiting if it is still being made. `None` if it was never
    /// requested (or its creation failed earlier and was reported): the caller then creates it itself.
    pub(crate) fn take(&self, first_seq: u64) -> Option<Result<Segment, SegmentFault>> {
        let mut state = self.shared.lock();
        loop {
            match state.ready.take() {
                Some((seq, result)) if seq == first_seq => return Some(result),
                Some((_, Ok(unused))) => discard(unused),
                Some((_, Err(_))) | None => {}
            }
            let pending = state.wanted.is_some_and(|(seq, _)| seq == first_seq)
                || state.in_progress == Some(first_seq);
            if !pending {
                return None;
            }
            state = self
                .shared
                .changed
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// Stops the thread and deletes a prepared segment that was never used, so a clean shutdown leaves no empty
    /// segment behind for recovery to remove.
    pub(crate) fn stop(&mut self) {
        {
            let mut state = self.shared.lock();
            state.stop = true;
            state.wanted = None;
            self.shared.changed.notify_all();
        }
        if let Some(thread) = self.thread.take() {
            // A panic in the preparer has already been reported by the panic hook; nothing more to do with it.
            let _ = thread.join();
        }
        if let Some((_, Ok(unused))) = self.shared.lock().ready.take() {
            discard(unused);
        }
    }
}

impl Drop for Preparer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Removes an unused, empty prepared segment. Failure is harmless: recovery removes an empty segment after a gap.
fn discard(segment: Segment) {
    let path = segment.path.clone();
    drop(segment);
    if std::fs::remove_file(&path).is_ok() {
        if let Some(dir) = path.parent() {
            let _ = crate::fsio::fsync_dir(dir);
        }
    }
}
