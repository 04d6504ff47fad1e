//! Torn-tail sweep: for every byte offset across the last K records, cut the file there, zero it from there, and
//! flip one bit there. Recovery must never panic and keeps exactly the records whose bytes are intact. What it does
//! with the damage depends on the durable checkpoint, so the sweep runs over two journals:
//! - the last K records were never synced (the checkpoint is just before them), as a crash leaves them: every
//!   damage is a torn tail, cut from the first damaged record, with any intact records after it discarded and
//!   counted;
//! - the journal was closed, so its checkpoint covers every record: any damage is refused, changing nothing, as
//!   corruption when intact records follow it and as missing synced records when none do.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use crossline_journal::{
    recover, verify, FsyncPolicy, OpenError, RecoveryError, Verdict, FIRST_FRAME_OFFSET_BYTES,
    FRAME_BYTES, HEADER_BYTES,
};
use proptest::prelude::*;

const RECORDS: u64 = 40;
const SWEPT_RECORDS: u64 = 8;
const SEGMENT_BYTES: u64 = 16 * 1024;

/// Whether the swept records are inside the durable checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Swept {
    /// Checkpoint `RECORDS - SWEPT_RECORDS`: the swept records were visible but never synced.
    Unsynced,
    /// Closed journal, checkpoint `RECORDS`.
    Durable,
}

impl Swept {
    fn checkpoint(self) -> u64 {
        match self {
            Swept::Unsynced => RECORDS - SWEPT_RECORDS,
            Swept::Durable => RECORDS,
        }
    }
}

/// A single-segment journal of `RECORDS` records; returns the segment's file name and bytes.
fn original(swept: Swept) -> (tempfile::TempDir, String, Vec<u8>) {
    let dir = scratch();
    match swept {
        Swept::Unsynced => {
            write_with_checkpoint(dir.path(), SEGMENT_BYTES, swept.checkpoint(), RECORDS)
        }
        Swept::Durable => write_range(
            dir.path(),
            config(SEGMENT_BYTES, FsyncPolicy::None),
            1,
            RECORDS,
            4,
        ),
    }
    assert_eq!(journal_checkpoint(dir.path()), swept.checkpoint());
    let paths = segment_paths(dir.path());
    assert_eq!(paths.len(), 1);
    let name = paths[0]
        .file_name()
        .and_then(|n| n.to_str())
        .expect("utf-8 name")
        .to_string();
    let bytes = fs::read(&paths[0]).expect("read segment");
    (dir, name, bytes)
}

/// Records 1..=n whose frames are byte-for-byte intact in `mutated` (a frame past the end of a cut file is not).
fn intact_prefix(original: &[u8], mutated: &[u8]) -> u64 {
    let mut seq = 0;
    while seq < RECORDS {
        let start = frame_offset(1, seq + 1) as usize;
        let end = start + FRAME_BYTES;
        if mutated.len() < end || mutated[start..end] != original[start..end] {
            break;
        }
        seq += 1;
    }
    seq
}

/// Writes `mutated` as the only segment of `case_dir`, runs verify and recovery, and checks the outcome.
fn check_case(
    case_dir: &Path,
    name: &str,
    swept: Swept,
    original: &[u8],
    mutated: &[u8],
    what: &str,
    reopen: bool,
) {
    let path = case_dir.join(name);
    fs::write(&path, mutated).expect("write case");
    let intact = intact_prefix(original, mutated);
    let intact_end = frame_offset(1, intact + 1) as usize;
    let damage_after_prefix = mutated
        .get(intact_end..)
        .is_some_and(|rest| rest.iter().any(|&b| b != 0));
    let later_intact_records = (intact + 2..=RECORDS)
        .filter(|&seq| {
            let start = frame_offset(1, seq) as usize;
            mutated.len() >= start + FRAME_BYTES
                && mutated[start..start + FRAME_BYTES] == original[start..start + FRAME_BYTES]
        })
        .count() as u64;
    // The first record not intact lies within what was synced: recovery must refuse, whatever follows it.
    let synced_record_damaged = intact < RECORDS && intact < swept.checkpoint();

    let verdict = verify(case_dir)
        .unwrap_or_else(|err| panic!("{what}: verify failed to run: {err}"))
        .verdict;
    match recover(case_dir) {
        Ok(report) => {
            assert!(
                !synced_record_damaged,
                "{what}: recovery accepted damage to a synced record"
            );
            assert_eq!(
                report.last_seq,
                (intact > 0).then_some(intact),
                "{what}: wrong valid prefix"
            );
            assert_eq!(
                report.torn_tail.is_some(),
                damage_after_prefix,
                "{what}: torn tail misreported"
            );
            assert_eq!(report.durable_checkpoint_seq, Some(swept.checkpoint()));
            if let Some(torn) = &report.torn_tail {
                assert_eq!(
                    torn.offset, intact_end as u64,
                    "{what}: torn tail starts at the wrong offset"
                );
                assert_eq!(torn.first_cut_seq, intact + 1, "{what}");
                assert!(torn.first_cut_seq > swept.checkpoint(), "{what}");
                assert_eq!(
                    torn.discarded_frames, later_intact_records,
                    "{what}: intact records beyond the hole must be discarded and counted"
                );
                assert!(torn.discarded_segments.is_empty(), "{what}");
                assert_eq!(verdict, Verdict::Recoverable, "{what}");
            }
            assert_prefix(&read_all(case_dir), 1, intact);
            // The cut part is zero now, so a second recovery finds nothing to do.
            let again = recover(case_dir).expect("second recovery");
            assert!(
                again.torn_tail.is_none() && again.extended_segments.is_empty(),
                "{what}: recovery not idempotent"
            );
            if reopen {
                write_range(
                    case_dir,
                    config(SEGMENT_BYTES, FsyncPolicy::None),
                    intact + 1,
                    RECORDS + 3,
                    2,
                );
                assert_prefix(&read_all(case_dir), 1, RECORDS + 3);
            }
        }
        Err(err) => {
            assert!(
                synced_record_damaged,
                "{what}: refused damage that lies after the durable checkpoint: {err}"
            );
            match err {
                OpenError::Recovery(RecoveryError::MidJournalCorruption {
                    path: bad_path,
                    offset,
                    ..
                }) => {
                    assert!(
                        later_intact_records > 0,
                        "{what}: corruption reported with no intact record after it"
                    );
                    assert_eq!(bad_path, path, "{what}: error names the wrong file");
                    assert_eq!(
                        offset, intact_end as u64,
                        "{what}: error names the wrong offset"
                    );
                }
                OpenError::Recovery(RecoveryError::DurableRecordsLost {
                    path: bad_path,
                    offset,
                    first_lost_seq,
                    checkpoint_seq,
                    ..
                }) => {
                    assert_eq!(
                        later_intact_records, 0,
                        "{what}: intact records after the damage must be reported as corruption"
                    );
                    assert_eq!(bad_path, path, "{what}: error names the wrong file");
                    assert_eq!(
                        offset, intact_end as u64,
                        "{what}: error names the wrong offset"
                    );
                    assert_eq!(
                        (first_lost_seq, checkpoint_seq),
                        (intact + 1, swept.checkpoint())
                    );
                }
                other => panic!("{what}: unexpected error {other}"),
            }
            assert_eq!(verdict, Verdict::Corrupt, "{what}");
            assert_eq!(
                fs::read(&path).expect("reread"),
                mutated,
                "{what}: a refused recovery changed the file"
            );
        }
    }
    let _ = fs::remove_file(path);
}

fn sweep(swept: Swept) {
    let (_original_dir, name, bytes) = original(swept);
    let case = scratch();
    let first = frame_offset(1, RECORDS - SWEPT_RECORDS + 1) as usize;
    let last = frame_offset(1, RECORDS) as usize + FRAME_BYTES;
    for offset in first..last {
        let reopen = matches!(offset % 53, 0);
        let cut = bytes[..offset].to_vec();
        check_case(
            case.path(),
            &name,
            swept,
            &bytes,
            &cut,
            &format!("{swept:?}: cut at {offset}"),
            reopen,
        );

        let mut zeroed = bytes.clone();
        zeroed[offset..].fill(0);
        check_case(
            case.path(),
            &name,
            swept,
            &bytes,
            &zeroed,
            &format!("{swept:?}: zeroed from {offset}"),
            reopen,
        );

        let mut flipped = bytes.clone();
        flipped[offset] ^= 1 << (offset % 8);
        check_case(
            case.path(),
            &name,
            swept,
            &bytes,
            &flipped,
            &format!("{swept:?}: bit {} flipped at {offset}", offset % 8),
            reopen,
        );
    }
}

#[test]
fn every_offset_of_the_unsynced_last_records_cut_zeroed_or_flipped_recovers_exactly_the_valid_prefix(
) {
    sweep(Swept::Unsynced);
}

#[test]
fn every_offset_of_the_synced_last_records_cut_zeroed_or_flipped_is_refused_unchanged() {
    sweep(Swept::Durable);
}

#[test]
fn an_interrupted_rollover_is_repaired_not_refused() {
    // The writer creates the next segment before it seals the current one: a crash between the two leaves a full,
    // unsealed segment followed by an empty one. Simulate it by clearing the seal word.
    let dir = scratch();
    let segment_bytes = 4096;
    let per_segment = records_per_segment(segment_bytes);
    write_range(
        dir.path(),
        config(segment_bytes, FsyncPolicy::None),
        1,
        per_segment + 1,
        1,
    );
    let paths = segment_paths(dir.path());
    assert_eq!(paths.len(), 2);
    let mut first = fs::read(&paths[0]).expect("read");
    let seal_at = frame_offset(1, per_segment + 1) as usize;
    assert_eq!(
        &first[seal_at..seal_at + 4],
        &[0xFF; 4],
        "seal word after the last record"
    );
    first[seal_at..seal_at + 4].fill(0);
    fs::write(&paths[0], &first).expect("write");
    assert_eq!(
        verify(dir.path()).expect("verify").verdict,
        Verdict::Recoverable
    );
    let report = recover(dir.path()).expect("recover");
    assert_eq!(report.resealed_segments, vec![paths[0].clone()]);
    assert_prefix(&read_all(dir.path()), 1, per_segment + 1);
}

#[test]
fn an_empty_segment_after_a_lost_tail_is_removed_and_the_tail_cut() {
    // A rollover created segment B (durably), but the last records of segment A, never synced, did not reach the
    // disk.
    let dir = scratch();
    let segment_bytes = 4096;
    let per_segment = records_per_segment(segment_bytes);
    write_with_checkpoint(dir.path(), segment_bytes, per_segment - 10, per_segment + 1);
    let paths = segment_paths(dir.path());
    assert_eq!(paths.len(), 2);
    let mut second = fs::read(&paths[1]).expect("read");
    second[FIRST_FRAME_OFFSET_BYTES..].fill(0);
    fs::write(&paths[1], &second).expect("write");
    let mut first = fs::read(&paths[0]).expect("read");
    let lost_from = frame_offset(1, per_segment - 2) as usize + 5;
    first[lost_from..].fill(0);
    fs::write(&paths[0], &first).expect("write");
    let report = recover(dir.path()).expect("recover");
    assert_eq!(report.removed_files, vec![paths[1].clone()]);
    assert_eq!(report.last_seq, Some(per_segment - 3));
    assert!(report.torn_tail.is_some());
    write_range(
        dir.path(),
        config(segment_bytes, FsyncPolicy::None),
        per_segment - 2,
        per_segment + 5,
        3,
    );
    assert_prefix(&read_all(dir.path()), 1, per_segment + 5);
}

#[test]
fn a_segment_cut_before_its_header_is_refused_with_its_path() {
    let (_dir, name, bytes) = original(Swept::Durable);
    let case = scratch();
    fs::write(case.path().join(&name), &bytes[..HEADER_BYTES - 1]).expect("write");
    let err = recover(case.path()).expect_err("a header cannot be torn by a crash");
    assert!(err.to_string().contains(&name), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// Arbitrary bytes written anywhere after the header (the checkpoint block included) never make recovery
    /// panic, and whatever it accepts reads back as a prefix of what was written.
    #[test]
    fn arbitrary_damage_never_panics(
        at in HEADER_BYTES..(frame_offset(1, RECORDS + 2) as usize),
        junk in proptest::collection::vec(any::<u8>(), 1..300),
        synced in any::<bool>(),
    ) {
        let (_dir, name, bytes) = original(if synced { Swept::Durable } else { Swept::Unsynced });
        let case = scratch();
        let mut mutated = bytes.clone();
        let end = (at + junk.len()).min(mutated.len());
        mutated[at..end].copy_from_slice(&junk[..end - at]);
        fs::write(case.path().join(&name), &mutated).expect("write");
        let _ = verify(case.path());
        if let Ok(report) = recover(case.path()) {
            let last = report.last_seq.unwrap_or(0);
            prop_assert!(last <= RECORDS);
            assert_prefix(&read_all(case.path()), 1, last);
        }
    }
}
