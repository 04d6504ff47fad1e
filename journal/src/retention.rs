//! Retention: keep the newest N valid snapshots, and the journal from the oldest of them on. Everything older goes.
//!
//! Segments are deleted oldest first, so a crash part-way leaves a journal that still starts at a segment boundary
//! and runs on without a gap. The newest segment is never deleted: the writer appends to it.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::SnapshotError;
use crate::fsio;
use crate::segment::list_segments;
use crate::snapshot::{SkippedSnapshot, SnapshotStore};

/// What `prune` kept and deleted.
#[derive(Debug, Default)]
pub struct PruneReport {
    /// Sequence numbers of the snapshots kept, newest first.
    pub kept_snapshots: Vec<u64>,
    pub removed_snapshots: Vec<PathBuf>,
    pub removed_segments: Vec<PathBuf>,
    /// Snapshots that failed their checks; those older than the oldest kept one were removed with the rest.
    pub invalid_snapshots: Vec<SkippedSnapshot>,
}

/// Keeps the newest `keep_snapshots` (at least one) valid snapshots, deletes older snapshot files, and deletes the
/// journal segments in `journal_dir` whose records all precede the oldest kept snapshot. With no valid snapshot
/// nothing is deleted: the journal is then the only copy of the state.
pub fn prune(
    journal_dir: &Path,
    snapshots: &SnapshotStore,
    keep_snapshots: usize,
) -> Result<PruneReport, SnapshotError> {
    let keep = keep_snapshots.max(1);
    let mut report = PruneReport::default();
    let listed = snapshots.list()?;
    let mut oldest_kept = None;
    for info in listed.iter().rev() {
        if report.kept_snapshots.len() == keep {
            break;
        }
        // Validity is checked by reading the payload: keeping a snapshot that cannot be loaded would let the
        // journal it depends on be pruned away.
        match snapshots.load(info) {
            Ok(_) => {
                report.kept_snapshots.push(info.seq);
                oldest_kept = Some(info.seq);
            }
            Err(reason) => report.invalid_snapshots.push(SkippedSnapshot {
                path: info.path.clone(),
                reason,
            }),
        }
    }
    let Some(oldest_kept) = oldest_kept else {
        return Ok(report);
    };

    snapshots.remove_temporaries()?;
    for info in listed.iter().filter(|info| info.seq < oldest_kept) {
        fs::remove_file(&info.path).map_err(|err| SnapshotError::io(&info.path, err))?;
        report.removed_snapshots.push(info.path.clone());
    }
    if !report.removed_snapshots.is_empty() {
        fsio::fsync_dir(snapshots.dir()).map_err(|err| SnapshotError::io(snapshots.dir(), err))?;
    }

    let segments = list_segments(journal_dir)
        .map_err(|err| SnapshotError::io(journal_dir, err))?
        .segments;
    for pair in segments.windows(2) {
        let (_, path) = &pair[0];
        let (next_first_seq, _) = pair[1];
        // The segment's records end just before the next segment's first; replay after the snapshot starts at
        // `oldest_kept + 1`, so a segment that ends at or before `oldest_kept` is no longer needed.
        if next_first_seq.saturating_sub(1) > oldest_kept {
            break;
        }
        fs::remove_file(path).map_err(|err| SnapshotError::io(path, err))?;
        report.removed_segments.push(path.clone());
    }
    if !report.removed_segments.is_empty() {
        fsio::fsync_dir(journal_dir).map_err(|err| SnapshotError::io(journal_dir, err))?;
    }
    Ok(report)
}
