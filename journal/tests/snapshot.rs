//! Snapshots and retention: durable writes, fallback past corrupt snapshots, pruning of old snapshots and of the
//! journal segments they make unnecessary, and restart from snapshot plus journal suffix.

mod common;

use std::fs;

use common::*;
use crossline_engine::Command;
use crossline_journal::{
    prune, recover, snapshot_file_name, FormatError, FsyncPolicy, JournalReader, JournalWriter,
    ReadError, SnapshotError, SnapshotStore, SNAPSHOT_ALIGN_BYTES,
};

const SEGMENT_BYTES: u64 = 4096;

/// A stand-in for the engine: a state folded from every command, serialized as 8 bytes.
fn fold(state: u64, command: &Command) -> u64 {
    (state ^ command.seq).wrapping_mul(0x100_0000_01B3) ^ command.timestamp_ns
}

fn state_after(seq: u64) -> u64 {
    (1..=seq)
        .map(command)
        .fold(0xCBF2_9CE4_8422_2325, |state, c| fold(state, &c))
}

#[test]
fn a_written_snapshot_loads_back_aligned_with_its_seq() {
    let dir = scratch();
    let store = SnapshotStore::open(dir.path()).expect("store");
    let payload: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
    let info = store.write(1_234, &payload).expect("write");
    assert_eq!(info.path, dir.path().join(snapshot_file_name(1_234)));
    let loaded = store.load_newest_valid().expect("load");
    let snapshot = loaded.snapshot.expect("a valid snapshot");
    assert!(loaded.skipped.is_empty());
    assert_eq!(snapshot.seq, 1_234);
    assert_eq!(snapshot.payload(), payload.as_slice());
    assert_eq!(
        snapshot.payload().as_ptr() as usize % SNAPSHOT_ALIGN_BYTES,
        0
    );
    assert!(matches!(store.write(0, b"x"), Err(SnapshotError::ZeroSeq)));
}

#[test]
fn a_corrupt_newest_snapshot_falls_back_to_the_previous_and_says_why() {
    let dir = scratch();
    let store = SnapshotStore::open(dir.path()).expect("store");
    store.write(100, b"state at 100").expect("write");
    store.write(200, b"state at 200").expect("write");
    let newest = store.write(300, b"state at 300").expect("write");
    let mut bytes = fs::read(&newest.path).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    fs::write(&newest.path, &bytes).expect("write");

    let loaded = store.load_newest_valid().expect("load");
    assert_eq!(
        loaded.snapshot.as_ref().map(|s| (s.seq, s.payload())),
        Some((200, &b"state at 200"[..]))
    );
    assert_eq!(loaded.skipped.len(), 1);
    assert_eq!(loaded.skipped[0].path, newest.path);
    assert!(matches!(
        loaded.skipped[0].reason,
        SnapshotError::PayloadChecksum { .. }
    ));

    // A torn write of the next newest (cut short) and a header from a newer format are skipped the same way.
    fs::write(dir.path().join(snapshot_file_name(400)), &bytes[..40]).expect("write");
    let newer = store.write(500, b"state at 500").expect("write");
    let mut header = fs::read(&newer.path).expect("read");
    header[8] = 0xFF;
    fs::write(&newer.path, &header).expect("write");
    let loaded = store.load_newest_valid().expect("load");
    assert_eq!(loaded.snapshot.map(|s| s.seq), Some(200));
    let reasons: Vec<_> = loaded
        .skipped
        .iter()
        .map(|s| s.reason.to_string())
        .collect();
    assert!(
        matches!(
            loaded.skipped[0].reason,
            SnapshotError::Format(FormatError::NewerVersion { .. })
        ),
        "{reasons:?}"
    );
    assert!(
        matches!(
            loaded.skipped[1].reason,
            SnapshotError::Format(FormatError::TooShort { .. })
        ),
        "{reasons:?}"
    );
    assert!(reasons[1].contains(&snapshot_file_name(400)), "{reasons:?}");
}

#[test]
fn no_valid_snapshot_is_none_with_every_file_reported() {
    let dir = scratch();
    let store = SnapshotStore::open(dir.path()).expect("store");
    assert!(store.load_newest_valid().expect("load").snapshot.is_none());
    fs::write(dir.path().join(snapshot_file_name(5)), b"garbage").expect("write");
    let loaded = store.load_newest_valid().expect("load");
    assert!(loaded.snapshot.is_none());
    assert_eq!(loaded.skipped.len(), 1);
}

#[test]
fn an_interrupted_snapshot_write_leaves_only_a_temporary_that_is_ignored_then_removed() {
    let dir = scratch();
    let store = SnapshotStore::open(dir.path()).expect("store");
    store.write(10, b"ten").expect("write");
    let temp = dir.path().join(format!("{}.tmp", snapshot_file_name(20)));
    fs::write(&temp, b"half a snapshot").expect("write");
    assert_eq!(store.list().expect("list").len(), 1);
    assert_eq!(
        store
            .load_newest_valid()
            .expect("load")
            .snapshot
            .map(|s| s.seq),
        Some(10)
    );
    store.write(30, b"thirty").expect("write");
    assert!(!temp.exists());
}

#[test]
fn a_missing_snapshot_directory_is_named() {
    let dir = scratch();
    let missing = dir.path().join("snaps");
    let err = SnapshotStore::open(&missing).expect_err("missing");
    assert!(
        matches!(&err, SnapshotError::DirectoryMissing { path } if path == &missing),
        "{err}"
    );
}

#[test]
fn retention_keeps_n_snapshots_and_the_journal_from_the_oldest_kept_one() {
    let dir = scratch();
    let per_segment = records_per_segment(SEGMENT_BYTES);
    let last = 6 * per_segment + 3;
    let (mut writer, _) =
        JournalWriter::open(dir.path(), config(SEGMENT_BYTES, FsyncPolicy::EveryBatch))
            .expect("open");
    let store = SnapshotStore::open(dir.path()).expect("store");
    for seq in 1..=last {
        writer.append(&command(seq)).expect("append");
        writer.commit_batch().expect("commit");
        if seq % per_segment == 10 {
            store
                .write(seq, &state_after(seq).to_le_bytes())
                .expect("snapshot");
        }
    }
    let snapshots: Vec<u64> = store.list().expect("list").iter().map(|s| s.seq).collect();
    assert_eq!(snapshots.len(), 6);
    let segments_before = segment_paths(dir.path());

    // Prune while the writer is live: it must keep appending afterwards.
    let report = prune(dir.path(), &store, 3).expect("prune");
    let oldest_kept = snapshots[snapshots.len() - 3];
    assert_eq!(
        report.kept_snapshots,
        snapshots[snapshots.len() - 3..]
            .iter()
            .rev()
            .copied()
            .collect::<Vec<_>>()
    );
    assert_eq!(report.removed_snapshots.len(), 3);
    let kept_segments = segment_paths(dir.path());
    // The writer's helper may prepare the next segment at any moment, so the removed ones are named by position:
    // every segment that existed before the prune and starts before the first one kept.
    let first_kept_seq = first_seq_of(&kept_segments[0]);
    let expected_removed: Vec<_> = segments_before
        .iter()
        .filter(|path| first_seq_of(path) < first_kept_seq)
        .cloned()
        .collect();
    assert_eq!(report.removed_segments, expected_removed);
    // Replay from any kept snapshot is still possible; every removed segment ended at or before the oldest one.
    let first_kept: u64 = first_seq_of(&kept_segments[0]);
    assert!(
        first_kept <= oldest_kept + 1 && oldest_kept + 1 < first_kept + per_segment,
        "pruned too much or too little"
    );

    for seq in last + 1..=last + 20 {
        writer.append(&command(seq)).expect("append after prune");
    }
    writer.close().expect("close");
    assert_eq!(
        recover(dir.path()).expect("recover").last_seq,
        Some(last + 20)
    );
    let mut reader = JournalReader::open(dir.path()).expect("reader");
    assert!(matches!(reader.seek(1), Err(ReadError::Pruned { .. })));
}

#[test]
fn retention_never_counts_a_corrupt_snapshot_as_kept() {
    let dir = scratch();
    write_range(
        dir.path(),
        config(SEGMENT_BYTES, FsyncPolicy::None),
        1,
        200,
        10,
    );
    let store = SnapshotStore::open(dir.path()).expect("store");
    for seq in [50, 100, 150] {
        store
            .write(seq, &state_after(seq).to_le_bytes())
            .expect("snapshot");
    }
    fs::write(dir.path().join(snapshot_file_name(150)), b"broken").expect("corrupt newest");
    let report = prune(dir.path(), &store, 1).expect("prune");
    assert_eq!(report.kept_snapshots, vec![100]);
    assert_eq!(report.invalid_snapshots.len(), 1);
    assert!(
        dir.path().join(snapshot_file_name(150)).exists(),
        "newer than the kept one: left for inspection"
    );
    assert!(!dir.path().join(snapshot_file_name(50)).exists());
    let mut reader = JournalReader::open(dir.path()).expect("reader");
    reader
        .seek(101)
        .expect("the journal after the kept snapshot is still there");
}

#[test]
fn restart_from_the_newest_valid_snapshot_plus_the_journal_suffix_matches_a_full_replay() {
    let dir = scratch();
    let last = 500;
    write_range(
        dir.path(),
        config(SEGMENT_BYTES, FsyncPolicy::None),
        1,
        last,
        8,
    );
    let store = SnapshotStore::open(dir.path()).expect("store");
    store
        .write(300, &state_after(300).to_le_bytes())
        .expect("snapshot");
    store.write(450, b"torn").expect("snapshot");
    fs::write(dir.path().join(snapshot_file_name(450)), b"torn").expect("corrupt newest");

    let loaded = store
        .load_newest_valid()
        .expect("load")
        .snapshot
        .expect("snapshot at 300");
    let mut state = u64::from_le_bytes(loaded.payload().try_into().expect("8 bytes"));
    let mut reader = JournalReader::open(dir.path()).expect("reader");
    reader.seek(loaded.seq + 1).expect("seek");
    while let Some(record) = reader.next_record().expect("read") {
        let command: Command =
            rkyv::deserialize::<Command, rkyv::rancor::Error>(record.command).expect("deserialize");
        state = fold(state, &command);
    }
    assert_eq!(reader.next_seq(), last + 1);
    assert_eq!(state, state_after(last));
}

fn first_seq_of(path: &std::path::Path) -> u64 {
    path.file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse().ok())
        .expect("segment name")
}
