//! Checks shared by the journal's fuzz targets (journal/fuzz) and their smoke tests (tests/fuzz_smoke.rs): each
//! takes arbitrary bytes, lays them out as files in a scratch directory, and panics only when the journal breaks a
//! rule, so libFuzzer reports any panic as a finding.
//!
//! - `journal_recovery`: the bytes become one to four segment files (`decode_segments`), optionally with their
//!   checksums fixed up so that the fuzzer reaches past them. The read-only `verify` and a refused `recover` must
//!   change no file; a successful `recover` must leave a journal that reads back, from its first to its last
//!   record, exactly as the report says, that a second recovery finds clean, and that a writer continues at the
//!   next seq.
//! - `snapshot_load`: the bytes become a snapshot file (optionally beside a valid older one). Loading gives a clear
//!   error or a snapshot whose header, length and checksum hold; `load_newest_valid` takes the newest loadable one
//!   and names every newer one it skipped; a loaded payload goes on to the engine's snapshot decoder.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crossline_engine::{Command, CommandBody};

use crate::header::{self, HEADER_BYTES};
use crate::reader::JournalReader;
use crate::record::{frame_checksum, ARCHIVED_COMMAND_BYTES, FRAME_BYTES};
use crate::recovery::recover;
use crate::report::{verify, Verdict};
use crate::segment::{segment_file_name, FIRST_FRAME_OFFSET_BYTES};
use crate::snapshot::{snapshot_file_name, SnapshotStore};
use crate::writer::{FsyncPolicy, JournalConfig, JournalWriter};

/// The largest segment a fuzz input may declare: bigger ones are cut down before the files are written, so that
/// recovery's re-extension of a short file stays small.
const MAX_FUZZ_SEGMENT_BYTES: u64 = 64 << 10;
/// Segment size of the writer opened after a recovery, and of the seed journals.
const WRITER_SEGMENT_BYTES: u64 = 4096;

/// A scratch directory, removed when dropped: in /dev/shm where there is one (no disk I/O per input), else in the
/// system's temporary directory.
struct Scratch {
    path: PathBuf,
}

impl Scratch {
    fn new(what: &str) -> Scratch {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let shm = Path::new("/dev/shm");
        let base = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let path = base.join(format!(
            "crossline-fuzz-{what}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("creating a scratch directory");
        Scratch { path }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// Every file of `dir` but the lock, by name, with its contents.
fn contents(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs::read_dir(dir)
        .expect("listing the scratch directory")
        .map(|entry| entry.expect("scratch directory entry"))
        .filter(|entry| entry.file_name() != "LOCK")
        .map(|entry| {
            let bytes = fs::read(entry.path()).expect("reading a scratch file");
            (entry.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect()
}

fn u64_at(bytes: &[u8], offset: usize) -> Option<u64> {
    let slice = bytes.get(offset..offset + 8)?;
    Some(u64::from_le_bytes(slice.try_into().ok()?))
}

fn reseal(bytes: &mut [u8]) {
    if let Some(head) = bytes.get_mut(..HEADER_BYTES) {
        let mut header = [0u8; HEADER_BYTES];
        header.copy_from_slice(head);
        header::seal_header(&mut header);
        head.copy_from_slice(&header);
    }
}

/// What the flags byte of a `journal_recovery` input asks for.
const FIX_HEADERS: u8 = 1;
const FIX_FRAMES: u8 = 2;
const FIX_CHECKPOINTS: u8 = 4;
const PAD_TO_SEGMENT_BYTES: u8 = 8;
const OPEN_WRITER: u8 = 16;
const NAME_BY_POSITION: u8 = 32;
const LAST_IS_TEMPORARY: u8 = 64;

/// The files a `journal_recovery` input stands for, by name. Layout: a flags byte, then up to four files, each a
/// u16 LE length and that many bytes (the last one may be cut short by the end of the input). A file is named after
/// the first_seq its header holds (or after its position), its declared segment size is cut down to 64 KiB, and
/// the flags may fix up header, frame and checkpoint checksums and pad the file with zeros to its declared size.
pub fn decode_segments(data: &[u8]) -> (u8, Vec<(String, Vec<u8>)>) {
    let Some((&flags, mut rest)) = data.split_first() else {
        return (0, Vec::new());
    };
    let mut files = Vec::new();
    while files.len() < 4 && rest.len() >= 2 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
        let take = len.min(rest.len() - 2);
        let mut bytes = rest[2..2 + take].to_vec();
        rest = &rest[2 + take..];
        let mut segment_bytes = u64_at(&bytes, 32);
        if let Some(declared) = segment_bytes.filter(|&d| d > MAX_FUZZ_SEGMENT_BYTES) {
            let cut = declared % MAX_FUZZ_SEGMENT_BYTES;
            bytes[32..40].copy_from_slice(&cut.to_le_bytes());
            segment_bytes = Some(cut);
        }
        if flags & FIX_CHECKPOINTS != 0 {
            for slot in [64usize, 80] {
                let whole_slot = bytes.len() >= slot + 16;
                if let Some(seq) = u64_at(&bytes, slot).filter(|&seq| seq != 0 && whole_slot) {
                    let crc = crc32c::crc32c(&seq.to_le_bytes());
                    bytes[slot + 8..slot + 12].copy_from_slice(&crc.to_le_bytes());
                    bytes[slot + 12..slot + 16].fill(0);
                }
            }
        }
        if flags & FIX_FRAMES != 0 {
            let mut offset = FIRST_FRAME_OFFSET_BYTES;
            while offset + FRAME_BYTES <= bytes.len() {
                let word =
                    u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap_or([0; 4]));
                if word as usize == ARCHIVED_COMMAND_BYTES {
                    let crc = frame_checksum(
                        word,
                        &bytes[offset + 8..offset + 16 + ARCHIVED_COMMAND_BYTES],
                    );
                    bytes[offset + 4..offset + 8].copy_from_slice(&crc.to_le_bytes());
                }
                offset += FRAME_BYTES;
            }
        }
        if flags & FIX_HEADERS != 0 {
            reseal(&mut bytes);
        }
        if flags & PAD_TO_SEGMENT_BYTES != 0 {
            if let Some(size) = segment_bytes {
                if size as usize > bytes.len() {
                    bytes.resize(size as usize, 0);
                }
            }
        }
        let first_seq = match u64_at(&bytes, 24) {
            Some(seq) if flags & NAME_BY_POSITION == 0 => seq,
            _ => files.len() as u64 + 1,
        };
        files.push((segment_file_name(first_seq), bytes));
    }
    if flags & LAST_IS_TEMPORARY != 0 {
        if let Some((name, _)) = files.last_mut() {
            name.push_str(".tmp");
        }
    }
    (flags, files)
}

/// Reads every record from the oldest on; an error is returned with the seqs read before it.
fn read_seqs(dir: &Path) -> (Vec<u64>, Option<String>) {
    let mut seqs = Vec::new();
    let mut reader = match JournalReader::open(dir) {
        Ok(reader) => reader,
        Err(e) => return (seqs, Some(e.to_string())),
    };
    loop {
        match reader.next_record() {
            Ok(Some(record)) => {
                // The command inside carries its own copy of the frame's seq; a frame where they differ is refused
                // as undecodable, so a record read back always agrees.
                assert_eq!(
                    record.command.seq.to_native(),
                    record.seq,
                    "a record whose command seq is not its frame's was read back"
                );
                seqs.push(record.seq);
            }
            Ok(None) => return (seqs, None),
            Err(e) => return (seqs, Some(e.to_string())),
        }
        // A journal of 4 segments of 64 KiB holds far fewer records than this.
        assert!(seqs.len() < 100_000, "the reader does not stop");
    }
}

fn assert_contiguous(seqs: &[u64]) {
    for pair in seqs.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "records out of sequence: {seqs:?}");
    }
}

/// Lays the input out as segment files and recovers them; panics on a broken rule (see the module docs).
pub fn journal_recovery(data: &[u8]) {
    let (flags, files) = decode_segments(data);
    let scratch = Scratch::new("journal");
    let dir = scratch.path.as_path();
    for (name, bytes) in &files {
        fs::write(dir.join(name), bytes).expect("writing a segment file");
    }
    let before = contents(dir);

    // Read-only tools and a reader on the journal as found: no panic, no change.
    let verdict = verify(dir).map(|report| report.verdict);
    let (found_seqs, _) = read_seqs(dir);
    assert_contiguous(&found_seqs);
    assert_eq!(
        contents(dir),
        before,
        "verify or a reader changed the files"
    );

    let report = match recover(dir) {
        Ok(report) => report,
        Err(error) => {
            assert_eq!(
                contents(dir),
                before,
                "a refused recovery changed the files"
            );
            assert!(
                !matches!(verdict, Ok(Verdict::Clean | Verdict::Recoverable)),
                "verify calls the journal {verdict:?} but recovery refuses it: {error}"
            );
            return;
        }
    };
    match verdict {
        Ok(Verdict::Corrupt) => {
            panic!("verify calls the journal corrupt but recovery accepts it: {report:?}")
        }
        Ok(Verdict::Clean) => assert!(
            report.torn_tail.is_none() && report.removed_files.is_empty(),
            "verify calls the journal clean but recovery repairs it: {report:?}"
        ),
        _ => {}
    }

    // What recovery kept reads back, first to last, and matches the report.
    let (seqs, error) = read_seqs(dir);
    if report.records > 0 {
        assert!(
            error.is_none(),
            "a recovered journal does not read back: {error:?} after {seqs:?}; {report:?}"
        );
    }
    assert_contiguous(&seqs);
    assert_eq!(
        seqs.len() as u64,
        report.records,
        "records read back vs {report:?}"
    );
    assert_eq!(
        seqs.first().copied(),
        report.first_seq,
        "first seq vs {report:?}"
    );
    assert_eq!(
        seqs.last().copied(),
        report.last_seq,
        "last seq vs {report:?}"
    );
    // What was readable before recovery and at or before the durable checkpoint is kept.
    if let Some(checkpoint) = report.durable_checkpoint_seq {
        for seq in found_seqs.iter().filter(|&&seq| seq <= checkpoint) {
            assert!(
                seqs.contains(seq),
                "recovery dropped record {seq}, covered by the durable checkpoint {checkpoint}; {report:?}"
            );
        }
    }

    // Recovery is idempotent: a second one finds nothing to repair, keeps the same records and changes no file.
    let after_first = contents(dir);
    let again = recover(dir).expect("a recovered journal recovers again");
    assert!(
        again.torn_tail.is_none()
            && again.removed_files.is_empty()
            && again.resealed_segments.is_empty()
            && again.extended_segments.is_empty()
            && again.rewritten_checkpoints.is_empty(),
        "a second recovery repaired something: {again:?} after {report:?}"
    );
    assert_eq!(
        (again.records, again.first_seq, again.last_seq),
        (report.records, report.first_seq, report.last_seq),
        "second recovery: {again:?} vs {report:?}"
    );
    assert_eq!(
        contents(dir),
        after_first,
        "a second recovery changed the files"
    );

    if flags & OPEN_WRITER == 0 {
        return;
    }
    // A writer continues right after the last recovered record.
    let config = JournalConfig {
        segment_bytes: WRITER_SEGMENT_BYTES,
        fsync: FsyncPolicy::None,
        first_seq: 1,
        ..JournalConfig::default()
    };
    let (mut writer, opened) =
        JournalWriter::open(dir, config).expect("a writer opens a recovered journal");
    assert_eq!(
        opened.last_seq, report.last_seq,
        "writer's recovery: {opened:?} vs {report:?}"
    );
    let next = writer.next_seq();
    if let Some(last) = report.last_seq {
        assert_eq!(next, last + 1, "the writer does not continue after {last}");
    }
    let appended = Command {
        seq: next,
        timestamp_ns: next,
        body: CommandBody::Tick,
    };
    if writer.append(&appended).is_ok() {
        writer.commit_batch().expect("committing one record");
        writer.close().expect("closing the writer");
        let (seqs, error) = read_seqs(dir);
        assert!(
            error.is_none(),
            "the continued journal does not read back: {error:?}"
        );
        assert_contiguous(&seqs);
        assert_eq!(
            seqs.last(),
            Some(&next),
            "the appended record is not the last"
        );
    }
}

/// What the flags byte of a `snapshot_load` input asks for.
const NAME_FROM_HEADER: u8 = 1;
const FIX_SNAPSHOT_HEADER: u8 = 2;
const FIX_PAYLOAD: u8 = 4;
const WITH_OLDER_VALID: u8 = 8;

/// Seq of the valid older snapshot some inputs put beside the fuzzed one.
const OLDER_SEQ: u64 = 1;

/// The snapshot file a `snapshot_load` input stands for: a flags byte then the file. The file is named after the
/// seq in its header or after the flags byte; the flags may fix up the payload length and checksum and the header
/// checksum.
pub fn decode_snapshot(data: &[u8]) -> (u8, u64, Vec<u8>) {
    let Some((&flags, rest)) = data.split_first() else {
        return (0, 2, Vec::new());
    };
    let mut bytes = rest.to_vec();
    if flags & FIX_PAYLOAD != 0 && bytes.len() >= HEADER_BYTES {
        let payload = &bytes[HEADER_BYTES..];
        let len = (payload.len() as u64).to_le_bytes();
        let crc = crc32c::crc32c(payload).to_le_bytes();
        bytes[24..32].copy_from_slice(&len);
        bytes[32..36].copy_from_slice(&crc);
    }
    if flags & FIX_SNAPSHOT_HEADER != 0 {
        reseal(&mut bytes);
    }
    let seq = match u64_at(&bytes, 16) {
        Some(seq) if flags & NAME_FROM_HEADER != 0 => seq,
        _ => u64::from(flags >> 4) + 2,
    };
    (flags, seq, bytes)
}

/// Lays the input out as a snapshot file and loads it; panics on a broken rule (see the module docs).
pub fn snapshot_load(data: &[u8]) {
    let (flags, seq, bytes) = decode_snapshot(data);
    let scratch = Scratch::new("snapshot");
    let dir = scratch.path.as_path();
    let store = SnapshotStore::open(dir).expect("opening the scratch snapshot store");
    let with_older = flags & WITH_OLDER_VALID != 0 && seq != OLDER_SEQ;
    if with_older {
        store
            .write(OLDER_SEQ, b"an older snapshot")
            .expect("writing the older snapshot");
    }
    let path = dir.join(snapshot_file_name(seq));
    fs::write(&path, &bytes).expect("writing the snapshot file");

    let listed = store.list().expect("listing snapshots");
    let info = listed
        .iter()
        .find(|info| info.seq == seq)
        .expect("the snapshot file is listed")
        .clone();
    assert_eq!(info.path, path);
    let loaded = store.load(&info);
    if let Ok(snapshot) = &loaded {
        assert_eq!(snapshot.seq, seq);
        let payload = snapshot.payload();
        assert_eq!(payload.len() + HEADER_BYTES, bytes.len(), "payload length");
        assert_eq!(&bytes[HEADER_BYTES..], payload, "payload bytes");
        assert_eq!(
            &bytes[32..36],
            &crc32c::crc32c(payload).to_le_bytes(),
            "a loaded payload's checksum does not hold"
        );
        assert_eq!(
            u64_at(&bytes, 16),
            Some(seq),
            "the header's seq is not the name's"
        );
        // An empty payload has no address to align.
        assert!(
            payload.is_empty()
                || payload
                    .as_ptr()
                    .align_offset(crate::snapshot::SNAPSHOT_ALIGN_BYTES)
                    == 0,
            "the payload is not aligned"
        );
        crossline_engine::fuzzing::engine_snapshot(payload);
    }

    let newest = store
        .load_newest_valid()
        .expect("loading the newest valid snapshot");
    let newest_seq = newest.snapshot.as_ref().map(|s| s.seq);
    match (&loaded, with_older) {
        (Ok(_), _) if !with_older || seq > OLDER_SEQ => {
            assert_eq!(
                newest_seq,
                Some(seq),
                "the newest valid snapshot is passed over"
            );
            assert!(newest.skipped.is_empty());
        }
        (Ok(_), _) => assert_eq!(newest_seq, Some(OLDER_SEQ)),
        (Err(_), true) => {
            assert_eq!(
                newest_seq,
                Some(OLDER_SEQ),
                "the older valid snapshot is not the fallback"
            );
            if seq > OLDER_SEQ {
                assert_eq!(
                    newest.skipped.len(),
                    1,
                    "the refused snapshot is not reported"
                );
                assert_eq!(newest.skipped[0].path, path);
            }
        }
        (Err(_), false) => {
            assert!(
                newest.snapshot.is_none(),
                "a refused snapshot is loaded after all"
            );
            assert_eq!(
                newest.skipped.len(),
                1,
                "the refused snapshot is not reported"
            );
        }
    }
}

/// Seed inputs for `journal_recovery`: real journals (one segment, several segments, a sealed rollover, a torn
/// tail, a cut-short file, a hole beyond the durable checkpoint), written by the writer and encoded as inputs
/// with trailing zeros trimmed (the pad flag restores them).
pub fn seed_journals() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for (records, sync_at, damage) in [
        (3u64, 0u64, 0u8),
        (20, 20, 0),
        (40, 30, 0),
        (80, 80, 0),
        (80, 40, 1),
        (40, 40, 2),
        (80, 10, 3),
        (0, 0, 0),
    ] {
        let scratch = Scratch::new("seed");
        let dir = scratch.path.as_path();
        let config = JournalConfig {
            segment_bytes: WRITER_SEGMENT_BYTES,
            fsync: FsyncPolicy::None,
            first_seq: 1,
            ..JournalConfig::default()
        };
        let (mut writer, _) = JournalWriter::open(dir, config).expect("a seed journal");
        for seq in 1..=records {
            let body = if seq % 3 == 0 {
                CommandBody::Tick
            } else {
                CommandBody::Deposit {
                    account: seq as u32 % 5,
                    asset: 1,
                    amount: seq * 100,
                }
            };
            writer
                .append(&Command {
                    seq,
                    timestamp_ns: seq * 1_000,
                    body,
                })
                .expect("appending a seed record");
            writer.commit_batch().expect("committing a seed record");
            if seq == sync_at {
                writer.sync().expect("syncing a seed journal");
            }
        }
        drop(writer);
        let mut files: Vec<(String, Vec<u8>)> = contents(dir)
            .into_iter()
            .filter(|(name, _)| name.ends_with(".seg"))
            .collect();
        match damage {
            // A torn tail: garbage where the next frame goes.
            1 => {
                if let Some((_, last)) = files
                    .iter_mut()
                    .rev()
                    .find(|(_, b)| b.iter().skip(128).any(|&x| x != 0))
                {
                    let end = last.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                    let end = (end + 7) & !7;
                    let stop = (end + 40).min(last.len());
                    for (i, byte) in last[end..stop].iter_mut().enumerate() {
                        *byte = 0xA5 ^ i as u8;
                    }
                }
            }
            // A file cut short in the middle of a frame.
            2 => {
                if let Some((_, last)) = files.last_mut() {
                    let end = last.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                    last.truncate(end.saturating_sub(FRAME_BYTES / 2).max(HEADER_BYTES));
                }
            }
            // A hole: one frame zeroed after the durable checkpoint, valid frames after it.
            3 => {
                if let Some((_, first)) = files.first_mut() {
                    let at = FIRST_FRAME_OFFSET_BYTES + 15 * FRAME_BYTES;
                    if at + FRAME_BYTES <= first.len() {
                        first[at..at + FRAME_BYTES].fill(0);
                    }
                }
            }
            _ => {}
        }
        let flags = PAD_TO_SEGMENT_BYTES | if records % 2 == 0 { OPEN_WRITER } else { 0 };
        let mut input = vec![flags];
        for (_, bytes) in files.iter().take(4) {
            let mut bytes = bytes.clone();
            if damage != 2 {
                let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                bytes.truncate(end.max(HEADER_BYTES));
            }
            input.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
            input.extend_from_slice(&bytes);
        }
        seeds.push(input);
    }
    seeds
}

/// Seed inputs for `snapshot_load`: snapshot files written by the store, with engine states as payloads.
pub fn seed_snapshots() -> Vec<Vec<u8>> {
    let scratch = Scratch::new("seed-snapshots");
    let store = SnapshotStore::open(&scratch.path).expect("a seed snapshot store");
    let mut seeds = Vec::new();
    for (index, payload) in crossline_engine::fuzzing::seed_snapshots()
        .into_iter()
        .take(4)
        .chain([Vec::new(), b"not an engine".to_vec()])
        .enumerate()
    {
        let seq = index as u64 + 5;
        let info = store.write(seq, &payload).expect("writing a seed snapshot");
        let file = fs::read(&info.path).expect("reading a seed snapshot");
        for flags in [NAME_FROM_HEADER, NAME_FROM_HEADER | WITH_OLDER_VALID] {
            let mut input = vec![flags];
            input.extend_from_slice(&file);
            seeds.push(input);
        }
    }
    seeds
}
