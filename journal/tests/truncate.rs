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

/// A replica's journal: records past the visibility limit are written but unseen by a reader that tails the
/// writer; a live cut above the limit drops them while the reader keeps following, and a cut below the limit is
/// refused.
#[test]
fn a_live_cut_drops_unseen_records_and_the_tailing_reader_follows_the_new_ones() {
    let per_segment = records_per_segment(SEGMENT_BYTES);
    let dir = scratch();
    let (mut writer, _) =
        JournalWriter::open(dir.path(), config(SEGMENT_BYTES, FsyncPolicy::None)).expect("open");
    let watermarks = writer.watermarks();
    let committed = per_segment + 3;
    watermarks.limit_visibility(committed);
    let accepted = 2 * per_segment + 7;
    for seq in 1..=accepted {
        writer.append(&command(seq)).expect("append");
    }
    writer.commit_batch().expect("commit");
    assert_eq!(watermarks.appended_seq(), accepted);
    assert_eq!(watermarks.written_seq(), committed);
    let mut reader = writer.tail_reader(1).expect("tail");
    let mut seen = Vec::new();
    while let Some(record) = reader.next_record().expect("read") {
        seen.push(record.seq);
    }
    assert_eq!(seen, (1..=committed).collect::<Vec<_>>());

    let writer = match writer.cut_after(committed - 1) {
        Err(crossline_journal::CutError::Visible {
            visible_seq,
            writer,
            ..
        }) => {
            assert_eq!(visible_seq, committed);
            *writer
        }
        other => panic!("a cut below what readers saw must be refused, got {other:?}"),
    };
    let kept = committed + 2;
    let (mut writer, report) = writer.cut_after(kept).expect("cut above the limit");
    assert_eq!(report.records_dropped, accepted - kept);
    assert_eq!(writer.next_seq(), kept + 1);
    assert_eq!(writer.first_seq(), 1);
    assert_eq!(watermarks.appended_seq(), kept);
    // Another history from there on; the reader sees it once the limit rises.
    let mut replaced = Vec::new();
    for seq in kept + 1..=kept + per_segment {
        let mut other = command(seq);
        other.timestamp_ns += 1_000_000;
        replaced.push(other);
        writer.append(&other).expect("append after the cut");
    }
    writer.commit_batch().expect("commit");
    watermarks.raise_visibility(kept + per_segment);
    while let Some(record) = reader.next_record().expect("read after the cut") {
        seen.push(record.seq);
        if record.seq > kept {
            let held =
                rkyv::deserialize::<crossline_engine::Command, rkyv::rancor::Error>(record.command)
                    .expect("decode");
            assert_eq!(held, replaced[(record.seq - kept - 1) as usize]);
        }
    }
    assert_eq!(seen, (1..=kept + per_segment).collect::<Vec<_>>());
    watermarks.lift_visibility();
    assert_eq!(watermarks.written_seq(), kept + per_segment);
    writer.close().expect("close");
    let read: Vec<u64> = read_all(dir.path()).iter().map(|c| c.seq).collect();
    assert_eq!(read, (1..=kept + per_segment).collect::<Vec<_>>());
}
