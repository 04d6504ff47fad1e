//! The durable checkpoint: what a power loss with out-of-order write-back leaves after the checkpoint is cut (and the
//! valid-looking records beyond the hole discarded), the same damage inside the checkpoint is refused, and the
//! persisted checkpoint is never ahead of what was synced.
//!
//! A power loss is simulated on a copy of the journal taken while the writer is live: the copy holds what the page
//! cache held, and damage is then applied to the copy the way a disk that wrote some dirty pages back and not others
//! would leave it. The checkpoint is read from the copied bytes with the layout docs/JOURNAL.md gives.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use crossline_journal::{
    recover, verify, FormatError, FsyncPolicy, JournalWriter, OpenError, RecoveryError, Verdict,
    FRAME_BYTES, STAGED_FRAMES_MAX,
};
use tempfile::TempDir;

const PAGE_BYTES: usize = 4096;
/// Holds 545 records: everything the single-segment cases write.
const ONE_SEGMENT_BYTES: u64 = 128 * 1024;
const SMALL_SEGMENT_BYTES: u64 = 4096;

fn wait_for(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// Snapshot of every file of a directory, to show a refused recovery changed nothing.
fn files_of(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .expect("read dir")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.file_name().is_some_and(|name| name != "LOCK"))
        .map(|path| {
            let bytes = fs::read(&path).expect("read");
            (path, bytes)
        })
        .collect();
    files.sort();
    files
}

/// The "disk" after a power loss, before damage: a copy of a journal written with `IntervalMs`, whose records
/// `1..=CHECKPOINTED` were synced and checkpointed while `CHECKPOINTED+1..=APPENDED` were still only in the page cache.
struct PowerLoss {
    disk: TempDir,
    segment: PathBuf,
    checkpoint: u64,
}

const CHECKPOINTED: u64 = 100;
/// Two staging buffers' worth: the writer writes its staged frames to the file each time the buffer is full.
const APPENDED: u64 = CHECKPOINTED + 2 * STAGED_FRAMES_MAX as u64;

fn power_loss_copy() -> PowerLoss {
    let dir = scratch();
    let (mut writer, _) = JournalWriter::open(
        dir.path(),
        config(ONE_SEGMENT_BYTES, FsyncPolicy::IntervalMs(1)),
    )
    .expect("open");
    let marks = writer.watermarks();
    for seq in 1..=CHECKPOINTED {
        writer.append(&command(seq)).expect("append");
        if seq % 10 == 0 {
            writer.commit_batch().expect("commit");
        }
    }
    let segment = segment_paths(dir.path())[0].clone();
    // The flusher syncs the batches, then, once the journal is idle, brings the checkpoint level with them.
    wait_for(
        "the checkpoint to reach the durable watermark",
        Duration::from_secs(10),
        || {
            marks.durable_seq() == CHECKPOINTED
                && persisted_checkpoint(&segment) == Some(CHECKPOINTED)
        },
    );
    // Appended but not yet published, so not synced either: in the page cache, on the disk only if the kernel
    // happened to write their pages back. The writer stages frames and writes them to the file when its buffer is
    // full, so the append after the last of them sends the second buffer to the file (and stays staged itself).
    for seq in CHECKPOINTED + 1..=APPENDED + 1 {
        writer.append(&command(seq)).expect("append");
    }
    let disk = scratch();
    copy_dir(dir.path(), disk.path());
    drop(writer);
    let segment = disk.path().join(segment.file_name().expect("file name"));
    let checkpoint = persisted_checkpoint(&segment).expect("a valid checkpoint block");
    assert_eq!(
        checkpoint, CHECKPOINTED,
        "the copy carries the persisted checkpoint"
    );
    PowerLoss {
        disk,
        segment,
        checkpoint,
    }
}

/// Zeroes page `page` of `path` (a dirty page the disk never got) and returns the first and last records whose
/// bytes changed (a record's zero bytes inside the page are not damage).
fn lose_page(path: &Path, page: usize) -> (u64, u64) {
    let original = fs::read(path).expect("read");
    let mut bytes = original.clone();
    bytes[page * PAGE_BYTES..(page + 1) * PAGE_BYTES].fill(0);
    fs::write(path, &bytes).expect("write");
    let frame = |seq: u64| {
        let start = frame_offset(1, seq) as usize;
        start..start + FRAME_BYTES
    };
    let damaged: Vec<u64> = (1..=APPENDED)
        .filter(|&seq| original[frame(seq)] != bytes[frame(seq)])
        .collect();
    match (damaged.first(), damaged.last()) {
        (Some(&first), Some(&last)) => {
            assert_eq!(
                damaged.len() as u64,
                last - first + 1,
                "one contiguous hole"
            );
            (first, last)
        }
        _ => panic!("page {page} held no record bytes"),
    }
}

#[test]
fn a_hole_after_the_checkpoint_is_a_torn_tail_and_the_records_beyond_it_are_discarded() {
    let loss = power_loss_copy();
    // A page strictly after the last checkpointed record, with later pages written back intact.
    let checkpointed_end = frame_offset(1, loss.checkpoint) as usize + FRAME_BYTES;
    let page = checkpointed_end.div_ceil(PAGE_BYTES) + 2;
    assert!(page * PAGE_BYTES > checkpointed_end);
    let (first_bad, last_bad) = lose_page(&loss.segment, page);
    let first_intact_after = last_bad + 1;
    assert!(first_bad > loss.checkpoint && first_intact_after < APPENDED);

    let inspected = verify(loss.disk.path()).expect("verify");
    assert_eq!(inspected.verdict, Verdict::Recoverable);
    assert_eq!(
        inspected.report.durable_checkpoint_seq,
        Some(loss.checkpoint)
    );
    assert_eq!(inspected.report.last_seq, Some(first_bad - 1));

    let report = recover(loss.disk.path()).expect("a power loss must not stop the restart");
    assert_eq!(
        report.last_seq,
        Some(first_bad - 1),
        "exactly the records before the hole"
    );
    assert_eq!(report.durable_checkpoint_seq, Some(loss.checkpoint));
    let torn = report.torn_tail.as_ref().expect("the cut is reported");
    assert_eq!(torn.path, loss.segment);
    assert_eq!(torn.offset, frame_offset(1, first_bad));
    assert_eq!(torn.first_cut_seq, first_bad);
    assert_eq!(
        torn.discarded_frames,
        APPENDED - first_intact_after + 1,
        "every valid-looking record beyond the hole is counted as discarded"
    );
    assert!(torn.discarded_segments.is_empty());
    let appended_end = frame_offset(1, APPENDED) + FRAME_BYTES as u64;
    assert!(torn.bytes > 0 && torn.offset + torn.bytes <= appended_end);
    let message = torn.to_string();
    assert!(
        message.contains("never acknowledged durable")
            && message.contains(&torn.offset.to_string()),
        "{message}"
    );
    assert_prefix(&read_all(loss.disk.path()), 1, first_bad - 1);
    // Nothing beyond the cut survives on disk, so the records after the hole cannot come back.
    let bytes = fs::read(&loss.segment).expect("read");
    assert!(bytes[torn.offset as usize..].iter().all(|&b| b == 0));

    // The writer continues at the first cut record, and the journal is clean afterwards.
    write_range(
        loss.disk.path(),
        config(ONE_SEGMENT_BYTES, FsyncPolicy::IntervalMs(1)),
        first_bad,
        APPENDED + 10,
        4,
    );
    assert_prefix(&read_all(loss.disk.path()), 1, APPENDED + 10);
    assert_eq!(
        verify(loss.disk.path()).expect("verify").verdict,
        Verdict::Clean
    );
}

#[test]
fn the_same_hole_inside_the_checkpoint_is_corruption_naming_file_and_offset_and_changes_nothing() {
    let loss = power_loss_copy();
    // Page 1 holds only records at or before the checkpoint: they were synced, so a crash cannot have lost them.
    let (first_bad, last_bad) = lose_page(&loss.segment, 1);
    assert!(last_bad <= loss.checkpoint);
    let before = files_of(loss.disk.path());

    assert_eq!(
        verify(loss.disk.path()).expect("verify").verdict,
        Verdict::Corrupt
    );
    let err = recover(loss.disk.path()).expect_err("damage to synced records is refused");
    match &err {
        OpenError::Recovery(RecoveryError::MidJournalCorruption {
            path,
            offset,
            seq,
            checkpoint_seq,
            ..
        }) => {
            assert_eq!(path, &loss.segment);
            assert_eq!(*offset, frame_offset(1, first_bad));
            assert_eq!((*seq, *checkpoint_seq), (first_bad, Some(loss.checkpoint)));
        }
        other => panic!("expected mid-journal corruption, got {other}"),
    }
    let message = err.to_string();
    assert!(
        message.contains(&loss.segment.display().to_string())
            && message.contains(&frame_offset(1, first_bad).to_string()),
        "{message}"
    );
    assert_eq!(
        files_of(loss.disk.path()),
        before,
        "a refused recovery must not change any file"
    );
    assert!(JournalWriter::open(
        loss.disk.path(),
        config(ONE_SEGMENT_BYTES, FsyncPolicy::IntervalMs(1))
    )
    .is_err());
    assert_eq!(files_of(loss.disk.path()), before);
}

#[test]
fn synced_records_missing_at_the_end_are_refused_not_cut() {
    let loss = power_loss_copy();
    // Everything from a checkpointed record on is gone: no valid frame follows, but the records were synced.
    let lost_seq = loss.checkpoint - 20;
    let mut bytes = fs::read(&loss.segment).expect("read");
    bytes[frame_offset(1, lost_seq) as usize..].fill(0);
    fs::write(&loss.segment, &bytes).expect("write");
    let before = files_of(loss.disk.path());
    match recover(loss.disk.path()).expect_err("lost synced records are refused") {
        OpenError::Recovery(err @ RecoveryError::DurableRecordsLost { .. }) => {
            let RecoveryError::DurableRecordsLost {
                path,
                offset,
                first_lost_seq,
                checkpoint_seq,
                checkpoint_path,
                ..
            } = &err
            else {
                unreachable!()
            };
            assert_eq!((path, *offset), (&loss.segment, frame_offset(1, lost_seq)));
            assert_eq!(
                (*first_lost_seq, *checkpoint_seq),
                (lost_seq, loss.checkpoint)
            );
            assert_eq!(checkpoint_path, &loss.segment);
            assert!(
                err.to_string()
                    .contains(&loss.segment.display().to_string()),
                "{err}"
            );
        }
        other => panic!("expected missing durable records, got {other}"),
    }
    assert_eq!(files_of(loss.disk.path()), before);
    assert_eq!(
        verify(loss.disk.path()).expect("verify").verdict,
        Verdict::Corrupt
    );
}

#[test]
fn a_hole_in_an_unsynced_sealed_segment_discards_the_later_segments() {
    // Rollover does not sync the sealed segment (the next group commit does), so after a power loss a sealed
    // segment can have a hole while later segments were written back.
    let per_segment = records_per_segment(SMALL_SEGMENT_BYTES);
    let checkpoint = 20;
    let last = 3 * per_segment + 5;

    // A hole inside the first segment, after the checkpoint.
    let dir = scratch();
    write_with_checkpoint(dir.path(), SMALL_SEGMENT_BYTES, checkpoint, last);
    let paths = segment_paths(dir.path());
    assert_eq!(paths.len(), 4);
    let mut first = fs::read(&paths[0]).expect("read");
    let (hole_from, hole_to) = (checkpoint + 5, checkpoint + 7);
    first[frame_offset(1, hole_from) as usize..frame_offset(1, hole_to + 1) as usize].fill(0);
    fs::write(&paths[0], &first).expect("write");
    let report = recover(dir.path()).expect("recover");
    assert_eq!(report.last_seq, Some(hole_from - 1));
    let torn = report.torn_tail.expect("cut");
    assert_eq!(
        (torn.path.clone(), torn.first_cut_seq),
        (paths[0].clone(), hole_from)
    );
    assert_eq!(torn.discarded_segments, paths[1..].to_vec());
    assert_eq!(torn.discarded_frames, last - hole_to);
    for path in &paths[1..] {
        assert!(report.removed_files.contains(path) && !path.exists());
    }
    assert_prefix(&read_all(dir.path()), 1, hole_from - 1);
    write_range(
        dir.path(),
        config(SMALL_SEGMENT_BYTES, FsyncPolicy::None),
        hole_from,
        last + 3,
        5,
    );
    assert_prefix(&read_all(dir.path()), 1, last + 3);

    // A whole unsynced segment lost (all zeros), the segments after it written back.
    let dir = scratch();
    write_with_checkpoint(dir.path(), SMALL_SEGMENT_BYTES, checkpoint, last);
    let paths = segment_paths(dir.path());
    let mut second = fs::read(&paths[1]).expect("read");
    second[frame_offset(1, 1) as usize..].fill(0);
    fs::write(&paths[1], &second).expect("write");
    let report = recover(dir.path()).expect("recover");
    assert_eq!(report.last_seq, Some(per_segment));
    let torn = report.torn_tail.expect("cut");
    assert_eq!((torn.path.clone(), torn.bytes), (paths[1].clone(), 0));
    assert_eq!(torn.discarded_segments, paths[2..].to_vec());
    assert_eq!(torn.discarded_frames, last - 2 * per_segment);
    assert_prefix(&read_all(dir.path()), 1, per_segment);

    // The same loss with the checkpoint covering it is refused.
    let dir = scratch();
    write_with_checkpoint(dir.path(), SMALL_SEGMENT_BYTES, 2 * per_segment, last);
    let paths = segment_paths(dir.path());
    let mut second = fs::read(&paths[1]).expect("read");
    second[frame_offset(1, 1) as usize..].fill(0);
    fs::write(&paths[1], &second).expect("write");
    let before = files_of(dir.path());
    let err = recover(dir.path()).expect_err("synced segment lost");
    assert!(
        matches!(&err, OpenError::Recovery(RecoveryError::SequenceGap { .. })),
        "{err}"
    );
    assert_eq!(files_of(dir.path()), before);
}

/// After every sync round the persisted checkpoint is the durable watermark of the round before: never ahead of
/// what was synced, and one round behind it.
#[test]
fn the_persisted_checkpoint_trails_each_sync_round_by_exactly_one() {
    let mut rng = SplitMix(0xC0FF_EE11);
    for fsync in [FsyncPolicy::None, FsyncPolicy::EveryBatch] {
        let dir = scratch();
        let mut next = 1;
        for reopen in 0..3 {
            let (mut writer, _) =
                JournalWriter::open(dir.path(), config(SMALL_SEGMENT_BYTES, fsync)).expect("open");
            let marks = writer.watermarks();
            // Open synced everything recovered; that is the first round's checkpoint.
            let mut previous_durable = marks.durable_seq();
            assert_eq!(previous_durable, next - 1);
            let mut checkpoint = journal_checkpoint(dir.path());
            assert!(checkpoint <= previous_durable);
            for round in 0..25 {
                let batch = rng.below(45);
                for _ in 0..batch {
                    writer.append(&command(next)).expect("append");
                    next += 1;
                }
                match fsync {
                    FsyncPolicy::EveryBatch => writer.commit_batch().expect("commit"),
                    _ => writer.sync().expect("sync"),
                }
                let durable = marks.durable_seq();
                checkpoint = journal_checkpoint(dir.path());
                assert_eq!(durable, next - 1, "{fsync:?} round {round}");
                assert!(checkpoint <= durable, "{fsync:?} round {round}: ahead");
                assert_eq!(
                    checkpoint, previous_durable,
                    "{fsync:?} reopen {reopen} round {round}: the checkpoint is the previous round's watermark"
                );
                previous_durable = durable;
            }
            if reopen < 2 {
                writer.close().expect("close");
                assert_eq!(
                    journal_checkpoint(dir.path()),
                    next - 1,
                    "{fsync:?}: a closed journal is checkpointed to its last record"
                );
            } else {
                // Dropped without close, as a crash would: the checkpoint stays where the last round left it.
                drop(writer);
                assert_eq!(journal_checkpoint(dir.path()), checkpoint);
            }
        }
        let report = recover(dir.path()).expect("recover");
        assert_eq!(report.last_seq, Some(next - 1));
        assert!(report.torn_tail.is_none());
    }
}

#[test]
fn under_group_commit_the_checkpoint_is_never_ahead_of_the_durable_watermark() {
    let dir = scratch();
    let (mut writer, _) = JournalWriter::open(
        dir.path(),
        config(4 * SMALL_SEGMENT_BYTES, FsyncPolicy::IntervalMs(1)),
    )
    .expect("open");
    let marks = writer.watermarks();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (dir, marks, stop) = (
            dir.path().to_path_buf(),
            Arc::clone(&marks),
            Arc::clone(&stop),
        );
        thread::spawn(move || {
            let mut samples = 0u64;
            let mut highest = 0;
            while !stop.load(Ordering::Acquire) {
                // Read the claim first, then the watermark: a claim is only ever stored once it is durable.
                for path in segment_paths(&dir) {
                    let Ok(bytes) = fs::read(&path) else { continue };
                    if bytes.len() < 128 {
                        continue;
                    }
                    let claim = persisted_checkpoint(&path).unwrap_or(0);
                    let durable = marks.durable_seq();
                    assert!(
                        claim <= durable,
                        "checkpoint {claim} ahead of durable {durable}"
                    );
                    highest = highest.max(claim);
                    samples += 1;
                }
            }
            (samples, highest)
        })
    };
    let started = Instant::now();
    let mut seq = 1;
    while started.elapsed() < Duration::from_millis(300) {
        for _ in 0..16 {
            writer.append(&command(seq)).expect("append");
            seq += 1;
        }
        writer.commit_batch().expect("commit");
    }
    stop.store(true, Ordering::Release);
    let (samples, highest) = sampler.join().expect("sampler");
    assert!(
        samples > 10 && highest > 0,
        "{samples} samples, highest {highest}"
    );
    writer.close().expect("close");
    assert_eq!(journal_checkpoint(dir.path()), seq - 1);
}

#[test]
fn a_damaged_checkpoint_block_falls_back_to_the_rules_without_one_and_is_rewritten() {
    let dir = scratch();
    write_range(
        dir.path(),
        config(SMALL_SEGMENT_BYTES, FsyncPolicy::None),
        1,
        10,
        3,
    );
    let path = segment_paths(dir.path())[0].clone();
    let mut bytes = fs::read(&path).expect("read");
    bytes[64..96].fill(0xA5);
    fs::write(&path, &bytes).expect("write");
    assert_eq!(persisted_checkpoint(&path), None);
    let inspected = verify(dir.path()).expect("verify");
    assert_eq!(inspected.verdict, Verdict::Recoverable);
    assert_eq!(inspected.report.durable_checkpoint_seq, None);
    let report = recover(dir.path()).expect("recover");
    assert_eq!(report.durable_checkpoint_seq, None);
    assert_eq!(report.rewritten_checkpoints, vec![path.clone()]);
    assert_eq!(persisted_checkpoint(&path), Some(10));
    assert_eq!(verify(dir.path()).expect("verify").verdict, Verdict::Clean);
}

#[test]
fn segments_of_format_1_or_with_another_first_frame_offset_are_refused_with_the_reason() {
    let patch = |path: &Path, patch: &dyn Fn(&mut [u8])| {
        let mut bytes = fs::read(path).expect("read");
        patch(&mut bytes[..64]);
        let crc = crc32c::crc32c(&bytes[..60]);
        bytes[60..64].copy_from_slice(&crc.to_le_bytes());
        fs::write(path, &bytes).expect("write");
    };
    let dir = scratch();
    write_range(
        dir.path(),
        config(SMALL_SEGMENT_BYTES, FsyncPolicy::None),
        1,
        10,
        3,
    );
    let path = segment_paths(dir.path())[0].clone();
    patch(&path, &|h| h[8..10].copy_from_slice(&1u16.to_le_bytes()));
    let err = recover(dir.path()).expect_err("version 1");
    assert!(
        matches!(
            &err,
            OpenError::Recovery(RecoveryError::Format(FormatError::UnsupportedVersion {
                found: 1,
                supported: 2,
                ..
            }))
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );

    patch(&path, &|h| {
        h[8..10].copy_from_slice(&2u16.to_le_bytes());
        h[20..24].copy_from_slice(&64u32.to_le_bytes());
    });
    let err = recover(dir.path()).expect_err("frames at 64");
    assert!(
        matches!(
            &err,
            OpenError::Recovery(RecoveryError::Format(FormatError::BadField {
                field: "first_frame_offset",
                value: 64,
                ..
            }))
        ),
        "{err}"
    );
}

#[test]
fn inspect_beside_a_live_writer_reports_the_checkpoint_and_no_problems() {
    let dir = scratch();
    let (mut writer, _) = JournalWriter::open(
        dir.path(),
        config(SMALL_SEGMENT_BYTES, FsyncPolicy::EveryBatch),
    )
    .expect("open");
    let per_segment = records_per_segment(SMALL_SEGMENT_BYTES);
    for seq in 1..=per_segment + 5 {
        writer.append(&command(seq)).expect("append");
        writer.commit_batch().expect("commit");
    }
    // The writer keeps its next segment prepared: work in progress, not a gap.
    wait_for("the prepared segment", Duration::from_secs(10), || {
        segment_paths(dir.path()).len() == 3
    });
    let verified = verify(dir.path()).expect("verify");
    assert!(verified.report.writer_live);
    assert!(
        verified.report.problems.is_empty(),
        "{:?}",
        verified.report.problems
    );
    assert_eq!(verified.verdict, Verdict::Clean);
    assert_eq!(verified.report.last_seq, Some(per_segment + 5));
    assert_eq!(
        verified.report.durable_checkpoint_seq,
        Some(per_segment + 4)
    );
    writer.close().expect("close");
}

#[test]
fn a_segment_cut_short_inside_its_checkpoint_block_never_panics() {
    for cut_at in [64usize, 70, 80, 96, 100, 127, 128, 130] {
        // Nothing synced: the cut loses only unsynced records, so recovery extends the file and starts empty.
        let dir = scratch();
        write_with_checkpoint(dir.path(), SMALL_SEGMENT_BYTES, 0, 5);
        let path = segment_paths(dir.path())[0].clone();
        let bytes = fs::read(&path).expect("read");
        fs::write(&path, &bytes[..cut_at]).expect("write");
        let report = recover(dir.path()).unwrap_or_else(|err| panic!("cut at {cut_at}: {err}"));
        assert_eq!(report.last_seq, None, "cut at {cut_at}");
        assert_eq!(report.extended_segments, vec![path.clone()]);
        write_range(
            dir.path(),
            config(SMALL_SEGMENT_BYTES, FsyncPolicy::None),
            1,
            3,
            1,
        );
        assert_prefix(&read_all(dir.path()), 1, 3);

        // Closed (checkpoint 5): the synced records are gone, which is refused unless the cut also took the slots.
        let dir = scratch();
        write_range(
            dir.path(),
            config(SMALL_SEGMENT_BYTES, FsyncPolicy::None),
            1,
            5,
            1,
        );
        let path = segment_paths(dir.path())[0].clone();
        let bytes = fs::read(&path).expect("read");
        fs::write(&path, &bytes[..cut_at]).expect("write");
        match recover(dir.path()) {
            Ok(report) => assert_eq!(report.last_seq, None, "cut at {cut_at}"),
            Err(OpenError::Recovery(RecoveryError::DurableRecordsLost {
                first_lost_seq: 1,
                checkpoint_seq: 5,
                ..
            })) => {}
            Err(err) => panic!("cut at {cut_at}: {err}"),
        }
    }
}

#[test]
fn recovery_of_a_segment_cut_short_inside_its_checkpoint_block_settles_in_one_pass() {
    let per_segment = records_per_segment(SMALL_SEGMENT_BYTES);
    let mut rewritten = 0;
    for cut_at in 64usize..=130 {
        // One segment, then two with the newest cut short; closed (every slot holds a claim) or with nothing synced.
        for last in [5, per_segment + 5] {
            for synced in [true, false] {
                let dir = scratch();
                if synced {
                    write_range(
                        dir.path(),
                        config(SMALL_SEGMENT_BYTES, FsyncPolicy::None),
                        1,
                        last,
                        1,
                    );
                } else {
                    write_with_checkpoint(dir.path(), SMALL_SEGMENT_BYTES, 0, last);
                }
                let path = segment_paths(dir.path()).last().expect("a segment").clone();
                let bytes = fs::read(&path).expect("read");
                fs::write(&path, &bytes[..cut_at]).expect("write");
                let case = format!("cut at {cut_at}, {last} records, synced: {synced}");
                let Ok(first) = recover(dir.path()) else {
                    continue;
                };
                assert_eq!(first.extended_segments, vec![path.clone()], "{case}");
                rewritten += first.rewritten_checkpoints.len();
                let after_first = files_of(dir.path());
                let second = recover(dir.path()).unwrap_or_else(|err| panic!("{case}: {err}"));
                assert!(
                    second.torn_tail.is_none()
                        && second.removed_files.is_empty()
                        && second.extended_segments.is_empty()
                        && second.rewritten_checkpoints.is_empty(),
                    "{case}: the second recovery repaired {second:?}"
                );
                assert_eq!(second.last_seq, first.last_seq, "{case}");
                assert_eq!(
                    second.durable_checkpoint_seq,
                    Some(journal_checkpoint(dir.path())),
                    "{case}"
                );
                assert!(
                    files_of(dir.path()) == after_first,
                    "{case}: the second recovery changed the files"
                );
                assert_eq!(
                    verify(dir.path()).expect("verify").verdict,
                    Verdict::Clean,
                    "{case}"
                );
            }
        }
    }
    // Cuts inside a slot holding a claim leave bytes that read as a damaged slot once the file is extended.
    assert!(
        rewritten > 0,
        "no cut needed its checkpoint block rewritten"
    );
}
