//! Cutting the journal after a seq: every cut point across several segments (inside one, at a segment's end, at a
//! segment's start, before everything), then the journal reads back to the cut and a writer appends after it.

mod common;

use common::*;
use crossline_journal::{truncate_after, FsyncPolicy, JournalWriter, TruncateError};

const SEGMENT_BYTES: u64 = 16 * 1024;

#[test]
fn every_cut_point_leaves_a_prefix_that_a_writer_continues() {
    let per_segment = records_per_segment(SEGMENT_BYTES);
    let last = per_segment * 3 + 5;
    let cuts: Vec<u64> = [
        0,
        1,
        per_segment - 1,
        per_segment,
        per_segment + 1,
        2 * per_segment,
        last - 1,
        last,
        last + 10,
    ]
    .into_iter()
    .collect();
    for cut in cuts {
        let dir = scratch();
        write_range(
            dir.path(),
            config(SEGMENT_BYTES, FsyncPolicy::EveryBatch),
            1,
            last,
            7,
        );
        let report = truncate_after(dir.path(), cut).expect("cut");
        let kept = cut.min(last);
        assert_eq!(report.records_dropped, last - kept, "cut {cut}");
        let read: Vec<u64> = read_all(dir.path()).iter().map(|c| c.seq).collect();
        assert_eq!(read, (1..=kept).collect::<Vec<_>>(), "cut {cut}");
        // A writer opens after the cut and appends the next seqs; everything reads back.
        let (mut writer, opened) =
            JournalWriter::open(dir.path(), config(SEGMENT_BYTES, FsyncPolicy::EveryBatch))
                .expect("reopen");
        assert!(opened.torn_tail.is_none(), "cut {cut}: {opened:?}");
        assert_eq!(writer.next_seq(), kept + 1, "cut {cut}");
        for seq in kept + 1..=kept + per_segment + 3 {
            writer.append(&command(seq)).expect("append");
            writer.commit_batch().expect("commit");
        }
        writer.close().expect("close");
        let read: Vec<u64> = read_all(dir.path()).iter().map(|c| c.seq).collect();
        assert_eq!(
            read,
            (1..=kept + per_segment + 3).collect::<Vec<_>>(),
            "cut {cut}"
        );
        assert_eq!(read_all(dir.path())[..kept as usize], {
            let fresh = scratch();
            write_range(
                fresh.path(),
                config(SEGMENT_BYTES, FsyncPolicy::None),
                1,
                last,
                7,
            );
            read_all(fresh.path())[..kept as usize].to_vec()
        });
    }
}

#[test]
fn a_cut_before_the_journal_start_is_refused() {
    let dir = scratch();
    let mut cfg = config(SEGMENT_BYTES, FsyncPolicy::EveryBatch);
    cfg.first_seq = 100;
    write_range(dir.path(), cfg, 100, 150, 5);
    match truncate_after(dir.path(), 50) {
        Err(TruncateError::BeforeStart {
            last_kept_seq: 50,
            first_seq: 100,
        }) => {}
        other => panic!("expected a refusal, got {other:?}"),
    }
    // Keeping nothing of a journal that starts right after the cut is allowed; it keeps its start.
    let report = truncate_after(dir.path(), 99).expect("cut at the start");
    assert_eq!(report.records_dropped, 51);
    let (writer, _) = JournalWriter::open(dir.path(), cfg).expect("reopen");
    assert_eq!(writer.next_seq(), 100);
}
