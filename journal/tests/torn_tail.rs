//! Torn-tail sweep: for every byte offset across the last K records, cut the file there, zero it from there, and
//! flip one bit there. Recovery must never panic; it keeps exactly the records whose bytes are intact, cuts what
//! follows, and refuses (changing nothing) when a damaged record is followed by intact ones.

mod common;

use std::fs;
use std::path::Path;

use common::*;
use crossline_journal::{
    recover, verify, FsyncPolicy, OpenError, RecoveryError, Verdict, FRAME_BYTES, HEADER_BYTES,
};
use proptest::prelude::*;

const RECORDS: u64 = 40;
const SWEPT_RECORDS: u64 = 8;
const SEGMENT_BYTES: u64 = 16 * 1024;

/// A single-segment journal of `RECORDS` records; returns the segment's file name and bytes.
fn original() -> (tempfile::TempDir, String, Vec<u8>) {
    let dir = scratch();
    write_range(
        dir.path(),
        config(SEGMENT_BYTES, FsyncPolicy::None),
        1,
        RECORDS,
        4,
    );
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
    let later_record_intact = (intact + 2..=RECORDS).any(|seq| {
        let start = frame_offset(1, seq) as usize;
        mutated.len() >= start + FRAME_BYTES
            && mutated[start..start + FRAME_BYTES] == original[start..start + FRAME_BYTES]
    });

    let verdict = verify(case_dir)
        .unwrap_or_else(|err| panic!("{what}: verify failed to run: {err}"))
        .verdict;
    match recover(case_dir) {
        Ok(report) => {
            assert!(
                !later_record_intact,
                "{what}: recovery accepted a damaged record followed by intact ones"
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
            if let Some(torn) = &report.torn_tail {
                assert_eq!(
                    torn.offset, intact_end as u64,
                    "{what}: torn tail starts at the wrong offset"
                );
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
        Err(OpenError::Recovery(RecoveryError::MidJournalCorruption {
            path: bad_path,
            offset,
            ..
        })) => {
            assert!(
                later_record_intact,
                "{what}: refused a journal whose damage was only at the tail"
            );
            assert_eq!(bad_path, path, "{what}: error names the wrong file");
            assert_eq!(
                offset, intact_end as u64,
                "{what}: error names the wrong offset"
            );
            assert_eq!(verdict, Verdict::Corrupt, "{what}");
            assert_eq!(
                fs::read(&path).expect("reread"),
                mutated,
                "{what}: a refused recovery changed the file"
            );
        }
        Err(err) => panic!("{what}: unexpected error {err}"),
    }
    let _ = fs::remove_file(path);
}

#[test]
fn every_offset_of_the_last_records_cut_zeroed_or_flipped_recovers_exactly_the_valid_prefix() {
    let (_original_dir, name, bytes) = original();
    let case = scratch();
    let first = frame_offset(1, RECORDS - SWEPT_RECORDS + 1) as usize;
    let last = frame_offset(1, RECORDS) as usize + FRAME_BYTES;
    for offset in first..last {
        let reopen = matches!(offset % 53, 0);
        let cut = bytes[..offset].to_vec();
        check_case(
            case.path(),
            &name,
            &bytes,
            &cut,
            &format!("cut at {offset}"),
            reopen,
        );

        let mut zeroed = bytes.clone();
        zeroed[offset..].fill(0);
        check_case(
            case.path(),
            &name,
            &bytes,
            &zeroed,
            &format!("zeroed from {offset}"),
            reopen,
        );

        let mut flipped = bytes.clone();
        flipped[offset] ^= 1 << (offset % 8);
        check_case(
            case.path(),
            &name,
            &bytes,
            &flipped,
            &format!("bit {} flipped at {offset}", offset % 8),
            reopen,
        );
    }
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
    // A rollover created segment B (durably), but the last records of segment A never reached the disk.
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
    let mut second = fs::read(&paths[1]).expect("read");
    second[HEADER_BYTES..].fill(0);
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
    let (_dir, name, bytes) = original();
    let case = scratch();
    fs::write(case.path().join(&name), &bytes[..HEADER_BYTES - 1]).expect("write");
    let err = recover(case.path()).expect_err("a header cannot be torn by a crash");
    assert!(err.to_string().contains(&name), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// Arbitrary bytes written anywhere after the header never make recovery panic, and whatever it accepts reads
    /// back as a prefix of what was written.
    #[test]
    fn arbitrary_damage_never_panics(at in HEADER_BYTES..(frame_offset(1, RECORDS + 2) as usize), junk in proptest::collection::vec(any::<u8>(), 1..300)) {
        let (_dir, name, bytes) = original();
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
