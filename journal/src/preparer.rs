//! Prepares the writer's next segment on a helper thread: create under a temporary name, preallocate, write and
//! sync the header, rename, sync the directory, map. Rollover then only swaps segments, instead of stopping the
//! writer for the file-system calls and syncs of creating a file.
//!
//! The next segment's name is known in advance because every frame has the same size: a segment that starts at seq
//! `s` with `segment_bytes` holds exactly `(segment_bytes - FIRST_FRAME_OFFSET_BYTES) / FRAME_BYTES` records. A prepared segment
//! that a crash leaves unused is empty and starts after a gap, which recovery removes (and reports).

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};

use crate::error::SegmentFault;
use crate::record::FRAME_BYTES;
use crate::segment::{Segment, FIRST_FRAME_OFFSET_BYTES};

/// How many records a segment of `segment_bytes` holds: every frame has the same size, after the header and the
/// checkpoint block.
pub fn records_per_segment(segment_bytes: u64) -> u64 {
    segment_bytes.saturating_sub(FIRST_FRAME_OFFSET_BYTES as u64) / FRAME_BYTES as u64
}

/// First sequence number of the segment after one that starts at `first_seq` with `segment_bytes`. Headers carry
/// at most `MAX_FIRST_SEQ`, so this never saturates on a journal that opened.
pub(crate) fn next_first_seq(first_seq: u64, segment_bytes: u64) -> u64 {
    first_seq.saturating_add(records_per_segment(segment_bytes))
}

/// A segment to create: where it starts, its size, and the durable watermark to seed its checkpoint block with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Request {
    pub first_seq: u64,
    pub segment_bytes: u64,
    pub checkpoint_seq: u64,
}

#[derive(Debug, Default)]
struct State {
    /// Requested and not started.
    wanted: Option<Request>,
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

    /// Waits for the next change of the state (a request, a segment made, a stop).
    fn wait<'a>(&self, state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.changed
            .wait(state)
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
                let request = {
                    let mut state = worker.lock();
                    loop {
                        if state.stop {
                            return;
                        }
                        if let Some(wanted) = state.wanted.take() {
                            state.in_progress = Some(wanted.first_seq);
                            break wanted;
                        }
                        state = worker.wait(state);
                    }
                };
                let result = Segment::create(
                    &dir,
                    request.first_seq,
                    request.segment_bytes,
                    request.checkpoint_seq,
                );
                let mut state = worker.lock();
                state.in_progress = None;
                state.ready = Some((request.first_seq, result));
                worker.changed.notify_all();
            })?;
        Ok(Preparer {
            shared,
            thread: Some(thread),
        })
    }

    /// The preparer's thread, while it runs.
    pub(crate) fn pthread(&self) -> Option<libc::pthread_t> {
        use std::os::unix::thread::JoinHandleExt;
        self.thread.as_ref().map(|thread| thread.as_pthread_t())
    }

    /// Asks for a segment to be prepared.
    pub(crate) fn request(&self, request: Request) {
        let mut state = self.shared.lock();
        state.wanted = Some(request);
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
            let pending = state
                .wanted
                .is_some_and(|wanted| wanted.first_seq == first_seq)
                || state.in_progress == Some(first_seq);
            if !pending {
                return None;
            }
            state = self.shared.wait(state);
        }
    }

    /// Waits until no requested segment is still being made: the next one is ready, or its creation failed (the
    /// writer then retries it at rollover).
    pub(crate) fn wait_until_prepared(&self) {
        let mut state = self.shared.lock();
        while state.wanted.is_some() || state.in_progress.is_some() {
            state = self.shared.wait(state);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::segment_file_name;

    #[test]
    fn waiting_for_the_requested_segment_returns_once_it_exists() {
        let dir = tempfile::tempdir().unwrap();
        let mut preparer = Preparer::start(dir.path().to_path_buf()).unwrap();
        // Nothing requested: nothing to wait for.
        preparer.wait_until_prepared();
        let segment_bytes = 8 << 20;
        let first_seq = 1 + records_per_segment(segment_bytes);
        preparer.request(Request {
            first_seq,
            segment_bytes,
            checkpoint_seq: 0,
        });
        preparer.wait_until_prepared();
        assert!(dir.path().join(segment_file_name(first_seq)).is_file());
        let state = preparer.shared.lock();
        assert!(matches!(state.ready, Some((seq, Ok(_))) if seq == first_seq));
        drop(state);
        preparer.stop();
        assert!(
            !dir.path().join(segment_file_name(first_seq)).exists(),
            "an unused segment is deleted"
        );
    }
}
