//! The writer, readers and watermarks working together; simulated power loss; refusals of files this build cannot
//! read; and the errors for unusable directories.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use crossline_engine::Command;
use crossline_journal::{
    dump, inspect, recover, segment_file_name, verify, AppendError, FormatError, FsyncPolicy,
    JournalConfig, JournalReader, JournalWriter, OpenError, ReadError, RecoveryError, SegmentEnd,
    Verdict, ARCHIVED_COMMAND_BYTES, FIRST_FRAME_OFFSET_BYTES, FORMAT_VERSION, FRAME_BYTES,
    HEADER_BYTES,
};

const SMALL_SEGMENT_BYTES: u64 = 4096;

// ---------------------------------------------------------------------------------------------------------------
// Writing and reading back

#[test]
fn records_written_across_rollovers_and_reopens_read_back_in_order() {
    let dir = scratch();
    let per_segment = records_per_segment(SMALL_SEGMENT_BYTES);
    write_range(
        dir.path(),
        config(SMALL_SEGMENT_BYTES, FsyncPolicy::EveryBatch),
        1,
        3 * per_segment + 5,
        7,
    );
    write_range(
        dir.path(),
        config(SMALL_SEGMENT_BYTES, FsyncPolicy::IntervalMs(1)),
        3 * per_segment + 6,
        200,
        3,
    );
    assert_prefix(&read_all(dir.path()), 1, 200);

    let paths = segment_paths(dir.path());
    assert_eq!(paths.len() as u64, 200_u64.div_ceil(per_segment));
    for (i, path) in paths.iter().enumerate() {
        let expected = segment_file_name(1 + i as u64 * per_segment);
        assert_eq!(
            path.file_name().and_then(|n| n.to_str()),
            Some(expected.as_str())
        );
        assert_eq!(
            fs::metadata(path).expect("stat").len(),
            SMALL_SEGMENT_BYTES,
            "segments are preallocated"
        );
    }
    let report = inspect(dir.path()).expect("inspect");
    assert_eq!(
        (report.records, report.first_seq, report.last_seq),
        (200, Some(1), Some(200))
    );
    assert!(report.problems.is_empty() && report.torn_tail.is_none());
    assert!(report.segments[..paths.len() - 1]
        .iter()
        .all(|s| s.end == Some(SegmentEnd::Sealed)));
    assert_eq!(verify(dir.path()).expect("verify").verdict, Verdict::Clean);
}

#[test]
fn an_out_of_sequence_append_is_refused_and_changes_nothing() {
    let dir = scratch();
    let (mut writer, _) =
        JournalWriter::open(dir.path(), config(SMALL_SEGMENT_BYTES, FsyncPolicy::None))
            .expect("open");
    writer.append(&command(1)).expect("append 1");
    let err = writer.append(&command(3)).expect_err("seq 3 after 1");
    assert!(
        matches!(
            err,
            AppendError::OutOfSequence {
                expected: 2,
                found: 3
            }
        ),
        "{err}"
    );
    writer.append(&command(2)).expect("append 2");
    writer.close().expect("close");
    assert_prefix(&read_all(dir.path()), 1, 2);
}

#[test]
fn an_empty_journal_starts_at_the_configured_first_seq() {
    let dir = scratch();
    let start = JournalConfig {
        first_seq: 1_001,
        ..config(SMALL_SEGMENT_BYTES, FsyncPolicy::None)
    };
    write_range(dir.path(), start, 1_001, 1_050, 5);
    assert!(dir.path().join(segment_file_name(1_001)).exists());
    // Once segments exist, the configured first seq no longer matters.
    let (writer, report) =
        JournalWriter::open(dir.path(), config(SMALL_SEGMENT_BYTES, FsyncPolicy::None))
            .expect("open");
    assert_eq!(
        (writer.next_seq(), report.first_seq, report.last_seq),
        (1_051, Some(1_001), Some(1_050))
    );
}

#[test]
fn invalid_configurations_are_refused_before_touching_the_directory() {
    let dir = scratch();
    for bad in [
        config(4095, FsyncPolicy::None),
        config(0, FsyncPolicy::None),
        JournalConfig {
            first_seq: 0,
            ..config(4096, FsyncPolicy::None)
        },
        config(4096, FsyncPolicy::IntervalMs(0)),
    ] {
        let err = JournalWriter::open(dir.path(), bad).expect_err("invalid config");
        assert!(matches!(err, OpenError::InvalidConfig { .. }), "{err}");
    }
    assert_eq!(fs::read_dir(dir.path()).expect("read dir").count(), 0);
}

#[test]
fn dump_yields_count_commands_from_a_seq_and_seek_refuses_pruned_seqs() {
    let dir = scratch();
    write_range(
        dir.path(),
        config(SMALL_SEGMENT_BYTES, FsyncPolicy::None),
        1,
        120,
        10,
    );
    let got: Vec<Command> = dump(dir.path(), 50, 40)
        .expect("dump")
        .map(|c| c.expect("command"))
        .collect();
    assert_prefix(&got, 50, 89);
    let tail: Vec<Command> = dump(dir.path(), 115, 40)
        .expect("dump")
        .map(|c| c.expect("command"))
        .collect();
    assert_prefix(&tail, 115, 120);
    assert_eq!(
        dump(dir.path(), 500, 3).expect("dump past the end").count(),
        0
    );

    fs::remove_file(dir.path().join(segment_file_name(1))).expect("prune first segment by hand");
    let mut reader = JournalReader::open(dir.path()).expect("reader");
    let err = reader.seek(1).expect_err("seq 1 is gone");
    assert!(
        matches!(err, ReadError::Pruned { requested: 1, first_available } if first_available > 1),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Watermarks and fsync policies

fn wait_for(what: &str, deadline: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn records_become_visible_at_commit_and_durable_by_policy() {
    // EveryBatch: durable as soon as commit_batch returns.
    let dir = scratch();
    let (mut writer, _) = JournalWriter::open(
        dir.path(),
        config(SMALL_SEGMENT_BYTES, FsyncPolicy::EveryBatch),
    )
    .expect("open");
    let marks = writer.watermarks();
    writer.append(&command(1)).expect("append");
    assert_eq!(
        (marks.written_seq(), marks.durable_seq()),
        (0, 0),
        "nothing is published before the batch ends"
    );
    writer.append(&command(2)).expect("append");
    writer.commit_batch().expect("commit");
    assert_eq!((marks.written_seq(), marks.durable_seq()), (2, 2));
    drop(writer);

    // IntervalMs: the flusher thread catches up on its own.
    let dir = scratch();
    let (mut writer, _) = JournalWriter::open(
        dir.path(),
        config(SMALL_SEGMENT_BYTES, FsyncPolicy::IntervalMs(2)),
    )
    .expect("open");
    let marks = writer.watermarks();
    for seq in 1..=100 {
        writer.append(&command(seq)).expect("append");
        writer.commit_batch().expect("commit");
        assert!(marks.durable_seq() <= marks.written_seq());
    }
    assert_eq!(marks.written_seq(), 100);
    wait_for("the flusher", Duration::from_secs(5), || {
        marks.durable_seq() == 100
    });
    drop(writer);

    // None: durable moves only on an explicit sync, even across rollovers whose segments were already unmapped.
    let dir = scratch();
    let (mut writer, _) =
        JournalWriter::open(dir.path(), config(SMALL_SEGMENT_BYTES, FsyncPolicy::None))
            .expect("open");
    let marks = writer.watermarks();
    for seq in 1..=100 {
        writer.append(&command(seq)).expect("append");
    }
    writer.commit_batch().expect("commit");
    thread::sleep(Duration::from_millis(5));
    assert_eq!((marks.written_seq(), marks.durable_seq()), (100, 0));
    writer.sync().expect("sync");
    assert_eq!(marks.durable_seq(), 100);
}

/// Pages of `path` in the page cache, and pages in the file (mincore over a fresh read-only mapping, which maps
/// nothing by itself).
fn resident_pages(path: &Path) -> (usize, usize) {
    use std::os::fd::AsRawFd;
    let file = fs::File::open(path).expect("open segment");
    let len = file.metadata().expect("stat").len() as usize;
    let page = 4096;
    let pages = len.div_ceil(page);
    // SAFETY: a fresh shared read-only mapping of a file this test opened; nothing reads through it.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    assert_ne!(addr, libc::MAP_FAILED, "map {}", path.display());
    let mut residency = vec![0u8; pages];
    // SAFETY: `addr..addr + len` is the mapping made above and `residency` has one byte per page of it.
    let rc = unsafe { libc::mincore(addr, len, residency.as_mut_ptr()) };
    // SAFETY: unmaps exactly the mapping made above.
    unsafe { libc::munmap(addr, len) };
    assert_eq!(rc, 0, "mincore {}", path.display());
    (residency.iter().filter(|b| **b & 1 == 1).count(), pages)
}

#[test]
fn a_sealed_segment_leaves_the_page_cache_once_it_is_synced() {
    // On a disk file system: tmpfs pages are the file itself and stay.
    let dir = tempfile::Builder::new()
        .prefix("crossline-journal-cache-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("a temporary directory");
    // SAFETY: statfs writes one `statfs` into the zeroed value it is given; the path is NUL-terminated.
    let on_tmpfs = unsafe {
        let path = std::ffi::CString::new(dir.path().as_os_str().as_encoded_bytes()).expect("path");
        let mut stat: libc::statfs = std::mem::zeroed();
        libc::statfs(path.as_ptr(), &mut stat) == 0 && stat.f_type == libc::TMPFS_MAGIC
    };
    if on_tmpfs {
        eprintln!("skipped: the target directory is on tmpfs, whose pages are not a cache");
        return;
    }
    let segment_bytes = 1 << 20;
    let per_segment = records_per_segment(segment_bytes);
    let last = 2 * per_segment + 10;
    let (mut writer, _) =
        JournalWriter::open(dir.path(), config(segment_bytes, FsyncPolicy::EveryBatch))
            .expect("open");
    for seq in 1..=last {
        writer.append(&command(seq)).expect("append");
        if seq % 64 == 0 {
            writer.commit_batch().expect("commit");
        }
    }
    writer.commit_batch().expect("commit");
    let paths = segment_paths(dir.path());
    assert!(paths.len() >= 3, "three segments, found {paths:?}");
    for sealed in &paths[..2] {
        let (resident, pages) = resident_pages(sealed);
        assert_eq!(
            resident,
            0,
            "{} is sealed and synced: {resident} of {pages} pages still cached",
            sealed.display()
        );
    }
    // The segment being written keeps the pages the writer has written (the writer brings pages in as it reaches
    // them: it does not populate the segment ahead of itself).
    let (resident, _) = resident_pages(&paths[2]);
    let written_bytes =
        FIRST_FRAME_OFFSET_BYTES as u64 + (last - 2 * per_segment) * FRAME_BYTES as u64;
    assert!(
        resident as u64 >= written_bytes.div_ceil(4096),
        "the pages written to the current segment stay cached: {resident} resident"
    );
    drop(writer);
    assert_prefix(&read_all(dir.path()), 1, last);
}

/// The permissions of every mapping of `path` in this process, as `/proc/self/maps` lists them ("r--s", ...).
fn mapping_permissions(path: &Path) -> Vec<String> {
    let maps = fs::read_to_string("/proc/self/maps").expect("/proc/self/maps");
    let name = path.to_str().expect("a UTF-8 path");
    maps.lines()
        .filter(|line| line.ends_with(name))
        .filter_map(|line| line.split_whitespace().nth(1).map(str::to_string))
        .collect()
}

#[test]
fn the_writer_never_maps_its_segments_writable() {
    // A page mapped writable would be write-protected by every sync, with a TLB shootdown on every core this process
    // runs on: the writer writes through the file instead, and its mapping is read-only.
    let dir = scratch();
    let per_segment = records_per_segment(SMALL_SEGMENT_BYTES);
    let (mut writer, _) = JournalWriter::open(
        dir.path(),
        config(SMALL_SEGMENT_BYTES, FsyncPolicy::IntervalMs(1)),
    )
    .expect("open");
    let last = per_segment + 3;
    for seq in 1..=last {
        writer.append(&command(seq)).expect("append");
        writer.commit_batch().expect("commit");
    }
    writer.sync().expect("sync");
    let paths = segment_paths(dir.path());
    // The segment holding the last record (the newest file may be the next one, which the preparer may not have
    // mapped yet).
    let current = dir.path().join(segment_file_name(per_segment + 1));
    let permissions = mapping_permissions(&current);
    assert!(!permissions.is_empty(), "the current segment is mapped");
    for path in &paths {
        for permission in mapping_permissions(path) {
            assert!(
                !permission.contains('w'),
                "{} is mapped {permission}",
                path.display()
            );
        }
    }
    // A reader in this process sees every committed record through its own mapping of the same pages.
    let mut reader = writer.tail_reader(1).expect("tail reader");
    let mut seen = 0;
    while let Some(record) = reader.next_record().expect("read") {
        seen += 1;
        assert_eq!(record.seq, seen);
    }
    assert_eq!(seen, last);
    drop(reader);
    writer.close().expect("close");
    assert_prefix(&read_all(dir.path()), 1, last);
}

#[test]
fn a_frame_still_being_written_by_a_live_writer_is_not_yet_a_bad_record() {
    // Another process's writer copies a batch in with one pwrite, and the kernel's copy does not order its stores: a
    // reader may find a length word whose frame's checksum does not hold yet. Simulated here by writing such a frame
    // behind the live writer's back.
    let dir = scratch();
    let (mut writer, _) =
        JournalWriter::open(dir.path(), config(SMALL_SEGMENT_BYTES, FsyncPolicy::None))
            .expect("open");
    for seq in 1..=5 {
        writer.append(&command(seq)).expect("append");
    }
    writer.commit_batch().expect("commit");
    let segment = segment_paths(dir.path())[0].clone();
    let mut half_copied = vec![0u8; FRAME_BYTES];
    half_copied[0..4].copy_from_slice(&(ARCHIVED_COMMAND_BYTES as u32).to_le_bytes());
    half_copied[8..16].copy_from_slice(&6u64.to_le_bytes());
    {
        use std::os::unix::fs::FileExt;
        let file = fs::OpenOptions::new()
            .write(true)
            .open(&segment)
            .expect("open the segment");
        file.write_all_at(&half_copied, frame_offset(1, 6))
            .expect("write the torn frame");
    }

    let mut reader = JournalReader::open(dir.path()).expect("reader");
    for seq in 1..=5 {
        let record = reader.next_record().expect("read").expect("a record");
        assert_eq!(record.seq, seq);
    }
    assert!(
        reader
            .next_record()
            .expect("not an error beside a live writer")
            .is_none(),
        "the frame being written is not there yet"
    );
    let verified = verify(dir.path()).expect("verify");
    assert!(verified.report.writer_live);
    assert_eq!(verified.verdict, Verdict::Clean, "{verified:?}");

    // Without a live writer, the same bytes are a bad record, and recovery cuts them as a torn tail.
    drop(reader);
    drop(writer);
    let mut reader = JournalReader::open(dir.path()).expect("reader");
    for _ in 1..=5 {
        reader.next_record().expect("read").expect("a record");
    }
    assert!(matches!(
        reader.next_record(),
        Err(ReadError::BadRecord { .. })
    ));
    drop(reader);
    let report = recover(dir.path()).expect("recover");
    assert_eq!(report.last_seq, Some(5));
    assert!(report.torn_tail.is_some());
}

#[test]
fn a_reopened_journal_starts_with_both_watermarks_at_its_last_record() {
    let dir = scratch();
    write_range(
        dir.path(),
        config(SMALL_SEGMENT_BYTES, FsyncPolicy::None),
        1,
        77,
        10,
    );
    let (writer, _) =
        JournalWriter::open(dir.path(), config(SMALL_SEGMENT_BYTES, FsyncPolicy::None))
            .expect("open");
    let marks = writer.watermarks();
    assert_eq!(
        (marks.written_seq(), marks.durable_seq(), writer.next_seq()),
        (77, 77, 78)
    );
}

#[test]
fn tailing_readers_see_only_complete_records_while_the_writer_appends() {
    const RECORDS: u64 = 30_000;
    let dir = scratch();
    let (mut writer, _) = JournalWriter::open(
        dir.path(),
        config(SMALL_SEGMENT_BYTES, FsyncPolicy::IntervalMs(1)),
    )
    .expect("open");
    let marks = writer.watermarks();
    let mut tail = writer.tail_reader(1).expect("tail reader");
    let path = dir.path().to_path_buf();
    let stop = Arc::new(AtomicBool::new(false));

    // In-process reader bounded by the written watermark.
    let tailing = {
        let marks = Arc::clone(&marks);
        thread::spawn(move || {
            let mut expected = 1;
            while expected <= RECORDS {
                match tail.next_record().expect("tailing read") {
                    Some(record) => {
                        assert_eq!(record.seq, expected);
                        assert!(
                            record.seq <= marks.written_seq(),
                            "read past the written watermark"
                        );
                        let got: Command =
                            rkyv::deserialize::<Command, rkyv::rancor::Error>(record.command)
                                .expect("deserialize");
                        assert_eq!(got, command(expected));
                        expected += 1;
                    }
                    None => thread::yield_now(),
                }
            }
        })
    };
    // Reader as another process would run it: no watermark, only length words and checksums.
    let offline = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let mut reader = JournalReader::open(&path).expect("offline reader");
            let mut expected = 1;
            while expected <= RECORDS && !stop.load(Ordering::Acquire) {
                match reader.next_record().expect("offline read") {
                    Some(record) => {
                        assert_eq!(record.seq, expected);
                        let got: Command =
                            rkyv::deserialize::<Command, rkyv::rancor::Error>(record.command)
                                .expect("deserialize");
                        assert_eq!(got, command(expected));
                        expected += 1;
                    }
                    None => thread::yield_now(),
                }
            }
            expected - 1
        })
    };

    let mut rng = SplitMix(7);
    let mut seq = 1;
    while seq <= RECORDS {
        let batch = 1 + rng.below(16);
        for _ in 0..batch.min(RECORDS - seq + 1) {
            writer.append(&command(seq)).expect("append");
            seq += 1;
        }
        writer.commit_batch().expect("commit");
        if rng.below(64) == 0 {
            thread::yield_now();
        }
    }
    tailing.join().expect("tailing reader");
    // The offline reader needs every rollover sealed; give it a moment, then stop it.
    let started = Instant::now();
    while !offline.is_finished() && started.elapsed() < Duration::from_secs(10) {
        thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::Release);
    assert_eq!(offline.join().expect("offline reader"), RECORDS);
    writer.close().expect("close");
}

// ---------------------------------------------------------------------------------------------------------------
// Simulated power loss

#[test]
fn a_power_loss_that_drops_everything_unsynced_keeps_every_durable_record() {
    let dir = scratch();
    let per_segment = records_per_segment(SMALL_SEGMENT_BYTES);
    let (mut writer, _) =
        JournalWriter::open(dir.path(), config(SMALL_SEGMENT_BYTES, FsyncPolicy::None))
            .expect("open");
    let marks = writer.watermarks();
    let durable_last = 2 * per_segment + 10;
    for seq in 1..=durable_last {
        writer.append(&command(seq)).expect("append");
    }
    writer.sync().expect("sync");
    assert_eq!(marks.durable_seq(), durable_last);
    let visible_last = 5 * per_segment + 3;
    for seq in durable_last + 1..=visible_last {
        writer.append(&command(seq)).expect("append");
        writer.commit_batch().expect("commit");
    }
    assert_eq!(
        (marks.written_seq(), marks.durable_seq()),
        (visible_last, durable_last)
    );

    // The "disk" after the power cut: a copy in which nothing after the durable watermark survived, except the
    // first bytes of the next record (a partly written page) and the headers of segments created since (segment
    // creation is synced on its own).
    let disk = scratch();
    copy_dir(dir.path(), disk.path());
    drop(writer);
    for path in segment_paths(disk.path()) {
        let mut bytes = fs::read(&path).expect("read");
        let first_seq = first_seq_of(&path);
        let keep_to = if first_seq + per_segment <= durable_last + 1 {
            bytes.len()
        } else if first_seq <= durable_last + 1 {
            frame_offset(first_seq, durable_last + 1) as usize + 40
        } else {
            FIRST_FRAME_OFFSET_BYTES
        };
        bytes[keep_to..].fill(0);
        fs::write(&path, &bytes).expect("write");
    }
    let report = recover(disk.path()).expect("recover after power loss");
    assert_eq!(report.last_seq, Some(durable_last));
    assert!(
        report.torn_tail.is_some(),
        "the partly written record is cut"
    );
    // Segments created after the durable point (and the one the writer had prepared ahead) held nothing and go.
    assert!(
        report.removed_files.len() >= 3,
        "{:?}",
        report.removed_files
    );
    assert_prefix(&read_all(disk.path()), 1, durable_last);
    write_range(
        disk.path(),
        config(SMALL_SEGMENT_BYTES, FsyncPolicy::None),
        durable_last + 1,
        visible_last,
        5,
    );
    assert_prefix(&read_all(disk.path()), 1, visible_last);
}

fn first_seq_of(path: &Path) -> u64 {
    path.file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse().ok())
        .expect("segment name")
}

// ---------------------------------------------------------------------------------------------------------------
// Corruption and files this build cannot read

/// Three full segments and part of a fourth.
fn journal_of_segments() -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = scratch();
    let per_segment = records_per_segment(SMALL_SEGMENT_BYTES);
    write_range(
        dir.path(),
        config(SMALL_SEGMENT_BYTES, FsyncPolicy::None),
        1,
        3 * per_segment + 4,
        5,
    );
    let paths = segment_paths(dir.path());
    assert_eq!(paths.len(), 4);
    (dir, paths)
}

#[test]
fn a_bad_record_followed_by_good_ones_stops_recovery_naming_file_and_offset() {
    let (dir, paths) = journal_of_segments();
    let per_segment = records_per_segment(SMALL_SEGMENT_BYTES);
    let victim = &paths[1];
    let offset = frame_offset(per_segment + 1, per_segment + 6);
    let mut bytes = fs::read(victim).expect("read");
    bytes[offset as usize + 30] ^= 0x10;
    fs::write(victim, &bytes).expect("write");

    let err = JournalWriter::open(dir.path(), config(SMALL_SEGMENT_BYTES, FsyncPolicy::None))
        .expect_err("corrupt");
    match &err {
        OpenError::Recovery(RecoveryError::MidJournalCorruption {
            path, offset: at, ..
        }) => {
            assert_eq!((path, *at), (victim, offset));
        }
        other => panic!("expected mid-journal corruption, got {other}"),
    }
    let message = err.to_string();
    assert!(
        message.contains(&victim.display().to_string()) && message.contains(&offset.to_string()),
        "{message}"
    );
    assert_eq!(
        fs::read(victim).expect("reread"),
        bytes,
        "a refused recovery must not change the file"
    );
    assert_eq!(
        verify(dir.path()).expect("verify").verdict,
        Verdict::Corrupt
    );
    // A reader stops at the bad record with the same location rather than skipping it.
    let read_err = try_read_all(dir.path()).expect_err("reader hits the bad record");
    assert!(
        matches!(read_err, ReadError::BadRecord { offset: at, .. } if at == offset),
        "{read_err}"
    );
}

#[test]
fn a_missing_segment_is_a_sequence_gap_naming_the_next_file() {
    let (dir, paths) = journal_of_segments();
    fs::remove_file(&paths[1]).expect("remove middle segment");
    let err = recover(dir.path()).expect_err("gap");
    match err {
        OpenError::Recovery(RecoveryError::SequenceGap {
            path,
            expected,
            found,
            ..
        }) => {
            assert_eq!(path, paths[2]);
            assert_eq!(found, expected + records_per_segment(SMALL_SEGMENT_BYTES));
        }
        other => panic!("expected a sequence gap, got {other}"),
    }
}

/// Rewrites bytes of a segment header and restamps its checksum.
fn patch_header(path: &Path, patch: impl FnOnce(&mut [u8])) {
    let mut bytes = fs::read(path).expect("read");
    patch(&mut bytes[..HEADER_BYTES]);
    let crc = crc32c::crc32c(&bytes[..60]);
    bytes[60..64].copy_from_slice(&crc.to_le_bytes());
    fs::write(path, &bytes).expect("write");
}

#[test]
fn a_segment_from_a_newer_format_is_refused_by_every_entry_point_with_its_path() {
    let (dir, paths) = journal_of_segments();
    patch_header(&paths[3], |h| {
        h[8..10].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes())
    });
    let newer = |err: &FormatError| matches!(err, FormatError::NewerVersion { path, found, .. } if path == &paths[3] && *found == FORMAT_VERSION + 1);

    let err = JournalWriter::open(dir.path(), config(SMALL_SEGMENT_BYTES, FsyncPolicy::None))
        .expect_err("newer");
    assert!(
        matches!(&err, OpenError::Recovery(RecoveryError::Format(f)) if newer(f)),
        "{err}"
    );
    assert!(
        err.to_string().contains("newer")
            && err.to_string().contains(&paths[3].display().to_string())
    );
    let report = inspect(dir.path()).expect("inspect still runs");
    assert!(report
        .problems
        .iter()
        .any(|p| matches!(p, RecoveryError::Format(f) if newer(f))));
    let mut reader = JournalReader::open(dir.path()).expect("reader opens the first segment");
    let read_err = loop {
        match reader.next_record() {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("reader passed the newer segment silently"),
            Err(err) => break err,
        }
    };
    assert!(
        matches!(&read_err, ReadError::Format(f) if newer(f)),
        "{read_err}"
    );
}

#[test]
fn headers_with_another_layout_record_size_magic_or_name_are_refused_with_the_reason() {
    type Case = (&'static str, fn(&mut [u8]), fn(&FormatError) -> bool);
    let cases: [Case; 4] = [
        (
            "pointer width",
            |h| h[14] = 8,
            |e| matches!(e, FormatError::LayoutMismatch { .. }),
        ),
        (
            "endianness",
            |h| h[12] = 1,
            |e| matches!(e, FormatError::LayoutMismatch { .. }),
        ),
        (
            "record size",
            |h| h[16..20].copy_from_slice(&7u32.to_le_bytes()),
            |e| matches!(e, FormatError::RecordSizeMismatch { found: 7, .. }),
        ),
        (
            "first seq",
            |h| h[24..32].copy_from_slice(&9u64.to_le_bytes()),
            |e| matches!(e, FormatError::NameMismatch { header: 9, .. }),
        ),
    ];
    for (what, patch, expected) in cases {
        let (dir, paths) = journal_of_segments();
        patch_header(&paths[0], patch);
        let err = recover(dir.path()).expect_err(what);
        assert!(
            matches!(&err, OpenError::Recovery(RecoveryError::Format(f)) if expected(f) && f.path() == paths[0]),
            "{what}: {err}"
        );
    }
    let (dir, paths) = journal_of_segments();
    let mut bytes = fs::read(&paths[0]).expect("read");
    bytes[..8].copy_from_slice(b"NOTAJRNL");
    fs::write(&paths[0], &bytes).expect("write");
    let err = recover(dir.path()).expect_err("bad magic");
    assert!(
        matches!(
            err,
            OpenError::Recovery(RecoveryError::Format(FormatError::BadMagic { .. }))
        ),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Unusable directories

#[test]
fn a_missing_directory_or_a_file_is_named_in_the_error() {
    let dir = scratch();
    let missing = dir.path().join("nope");
    let err = JournalWriter::open(&missing, JournalConfig::default()).expect_err("missing");
    assert!(
        matches!(&err, OpenError::DirectoryMissing { path } if path == &missing),
        "{err}"
    );
    assert!(err.to_string().contains("does not exist") && err.to_string().contains("nope"));
    assert!(matches!(
        JournalReader::open(&missing),
        Err(OpenError::DirectoryMissing { .. })
    ));
    assert!(matches!(
        inspect(&missing),
        Err(OpenError::DirectoryMissing { .. })
    ));

    let file = dir.path().join("file");
    fs::write(&file, b"x").expect("write");
    assert!(matches!(
        JournalWriter::open(&file, JournalConfig::default()),
        Err(OpenError::NotADirectory { .. })
    ));
    assert!(matches!(
        inspect(dir.path()),
        Err(OpenError::NoSegments { .. })
    ));
}

#[test]
fn a_second_writer_on_the_same_directory_is_refused() {
    let dir = scratch();
    let (_first, _) =
        JournalWriter::open(dir.path(), config(SMALL_SEGMENT_BYTES, FsyncPolicy::None))
            .expect("open");
    let err = JournalWriter::open(dir.path(), config(SMALL_SEGMENT_BYTES, FsyncPolicy::None))
        .expect_err("locked");
    assert!(matches!(err, OpenError::Locked { .. }), "{err}");
    assert!(inspect(dir.path()).expect("inspect").writer_live);
}

/// A tmpfs mounted for one test and unmounted when dropped. Needs root (CI and the dev boxes run as root); where
/// mounting is not allowed the tests that need it say so and pass vacuously.
struct Mount {
    point: tempfile::TempDir,
}

impl Mount {
    fn tmpfs(size_bytes: u64) -> Option<Mount> {
        let point = tempfile::Builder::new()
            .prefix("crossline-mnt-")
            .tempdir()
            .ok()?;
        let status = Process::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_bytes}"), "tmpfs"])
            .arg(point.path())
            .status()
            .ok()?;
        if !status.success() {
            eprintln!("skipping: cannot mount a tmpfs here (needs root)");
            return None;
        }
        Some(Mount { point })
    }

    /// Tests run in parallel threads, and a process another test starts briefly inherits this test's open files
    /// until it execs; a remount in that moment fails as busy, so it is tried a few times.
    fn remount_read_only(&self) -> bool {
        (0..20).any(|attempt| {
            if attempt > 0 {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Process::new("mount")
                .args(["-o", "remount,ro"])
                .arg(self.point.path())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Process::new("umount").arg(self.point.path()).status();
    }
}

#[test]
fn a_read_only_file_system_refuses_the_writer_but_not_the_tools() {
    let Some(mount) = Mount::tmpfs(1 << 20) else {
        return;
    };
    let dir = mount.point.path();
    write_range(
        dir,
        config(SMALL_SEGMENT_BYTES, FsyncPolicy::None),
        1,
        50,
        5,
    );
    assert!(mount.remount_read_only(), "remount read-only");
    let err = JournalWriter::open(dir, config(SMALL_SEGMENT_BYTES, FsyncPolicy::None))
        .expect_err("read-only");
    assert!(
        matches!(&err, OpenError::ReadOnly { path } if path.starts_with(dir)),
        "{err}"
    );
    assert!(err.to_string().contains("read-only file system"), "{err}");
    assert_eq!(verify(dir).expect("verify").verdict, Verdict::Clean);
    assert_prefix(&read_all(dir), 1, 50);
}

/// Writes `path` until the file system is full.
fn fill_disk(path: &Path) {
    use std::io::Write;
    let mut file = fs::File::create(path).expect("filler");
    let chunk = [1u8; 4096];
    while file.write_all(&chunk).is_ok() {}
    let _ = file.sync_all();
}

#[test]
fn a_full_disk_fails_segment_creation_cleanly_and_the_same_seq_succeeds_once_space_is_back() {
    let segment_bytes = 64 * 1024;
    let Some(mount) = Mount::tmpfs(3 * segment_bytes) else {
        return;
    };
    let dir = mount.point.path();

    let tiny = Mount::tmpfs(32 * 1024);
    if let Some(tiny) = &tiny {
        let err = JournalWriter::open(tiny.point.path(), config(segment_bytes, FsyncPolicy::None))
            .expect_err("full");
        assert!(matches!(&err, OpenError::DiskFull { .. }), "{err}");
        assert!(err.to_string().contains("no space left"), "{err}");
        assert_eq!(
            segment_paths(tiny.point.path()).len(),
            0,
            "no segment file is left behind"
        );
    }

    let (mut writer, _) =
        JournalWriter::open(dir, config(segment_bytes, FsyncPolicy::EveryBatch)).expect("open");
    let filler = dir.join("filler");
    fill_disk(&filler);
    let marks = writer.watermarks();
    let mut seq = 1;
    let err = loop {
        match writer.append(&command(seq)) {
            Ok(()) => {
                writer.commit_batch().expect("commit");
                seq += 1;
            }
            Err(err) => break err,
        }
        assert!(seq < 10_000, "the disk never filled");
    };
    assert!(
        matches!(&err, AppendError::DiskFull { path } if path.starts_with(dir)),
        "{err}"
    );
    assert_eq!(
        (marks.written_seq(), marks.durable_seq()),
        (seq - 1, seq - 1),
        "nothing half-acknowledged"
    );
    assert!(fs::read_dir(dir).expect("list").all(|e| !e
        .expect("entry")
        .path()
        .to_string_lossy()
        .ends_with(".tmp")));

    fs::remove_file(&filler).expect("free space");
    writer
        .append(&command(seq))
        .expect("the same seq succeeds once there is room");
    writer.close().expect("close");
    assert_prefix(&read_all(dir), 1, seq);
}
