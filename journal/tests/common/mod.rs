//! Shared by the integration tests: a deterministic command generator, scratch directories, and helpers that write
//! and read back whole journals.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};

use crossline_engine::{
    AccountSpec, Command, CommandBody, MassCancel, MassCancelReason, NewOrder, OrderType, Quote,
    Side, StpMode, TimeInForce,
};
use crossline_journal::{
    FsyncPolicy, JournalConfig, JournalReader, JournalWriter, FIRST_FRAME_OFFSET_BYTES, FRAME_BYTES,
};
use tempfile::TempDir;

/// A command whose body depends only on `seq`, covering several variants so that frames differ in content.
pub fn command(seq: u64) -> Command {
    let body = match seq % 5 {
        0 => CommandBody::Deposit {
            account: (seq % 13) as u32,
            asset: 1,
            amount: seq * 10,
        },
        1 | 2 => CommandBody::NewOrder(NewOrder {
            session: (seq % 7) as u32,
            account: (seq % 13) as u32,
            user_ref: seq as u32,
            instrument: 1,
            side: if seq & 1 == 0 { Side::Buy } else { Side::Sell },
            order_type: OrderType::Limit,
            time_in_force: TimeInForce::Gtc,
            price: 100_0000 + (seq % 97) as i64,
            qty: 1 + seq % 10,
            min_qty: 0,
            display_qty: 0,
            post_only: matches!(seq % 3, 0),
            expire_time_ns: 0,
            group: (seq % 4) as u16,
        }),
        3 => CommandBody::Quote(Quote {
            session: 3,
            account: 4,
            user_ref: seq as u32,
            instrument: 2,
            bid_price: 99_0000,
            bid_qty: seq % 17,
            ask_price: 101_0000,
            ask_qty: seq % 19,
        }),
        _ => {
            if seq & 1 == 0 {
                CommandBody::MassCancel(MassCancel {
                    session: 1,
                    user_ref: seq as u32,
                    reason: MassCancelReason::UserRequested,
                    account: Some(2),
                    only_session: None,
                    instrument: Some(1),
                    side: None,
                    group: Some(3),
                })
            } else {
                CommandBody::SetAccount(AccountSpec {
                    account: (seq % 13) as u32,
                    fee_tier: 1,
                    stp_group: 0,
                    stp_mode: StpMode::CancelResting,
                    max_order_qty: 1_000,
                    max_order_notional: 1 << 40,
                    max_open_orders: 100,
                    order_entry_enabled: true,
                })
            }
        }
    };
    Command {
        seq,
        timestamp_ns: 1_700_000_000_000_000_000 + seq * 1_000,
        body,
    }
}

/// A scratch directory; on tmpfs when there is one, because fsync there is free and these tests sync a lot.
pub fn scratch() -> TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(dir) = tempfile::Builder::new()
            .prefix("crossline-journal-")
            .tempdir_in(shm)
        {
            return dir;
        }
    }
    tempfile::Builder::new()
        .prefix("crossline-journal-")
        .tempdir()
        .expect("a temporary directory")
}

pub fn config(segment_bytes: u64, fsync: FsyncPolicy) -> JournalConfig {
    JournalConfig {
        segment_bytes,
        fsync,
        first_seq: 1,
        ..JournalConfig::default()
    }
}

/// Records per segment for a given segment size.
pub fn records_per_segment(segment_bytes: u64) -> u64 {
    (segment_bytes - FIRST_FRAME_OFFSET_BYTES as u64) / FRAME_BYTES as u64
}

/// Appends `first..=last` in batches of `batch` and closes the writer (which syncs).
pub fn write_range(dir: &Path, config: JournalConfig, first: u64, last: u64, batch: u64) {
    let (mut writer, _) = JournalWriter::open(dir, config).expect("open writer");
    assert_eq!(
        writer.next_seq(),
        first,
        "the journal must continue at {first}"
    );
    for seq in first..=last {
        writer.append(&command(seq)).expect("append");
        if matches!(seq % batch, 0) {
            writer.commit_batch().expect("commit");
        }
    }
    writer.close().expect("close");
}

/// Writes `1..=last` with `FsyncPolicy::None` so that the persisted durable checkpoint is exactly `checkpoint`:
/// records up to it are appended and synced twice (the second round persists the first round's watermark), the rest
/// are appended and committed (visible, in the page cache) but never synced. The writer is then dropped without
/// `close`, as a crash would leave it.
pub fn write_with_checkpoint(dir: &Path, segment_bytes: u64, checkpoint: u64, last: u64) {
    let (mut writer, _) =
        JournalWriter::open(dir, config(segment_bytes, FsyncPolicy::None)).expect("open writer");
    assert_eq!(
        writer.next_seq(),
        1,
        "write_with_checkpoint starts a journal"
    );
    for seq in 1..=checkpoint {
        writer.append(&command(seq)).expect("append");
    }
    writer.sync().expect("sync");
    writer.sync().expect("sync");
    for seq in checkpoint + 1..=last {
        writer.append(&command(seq)).expect("append");
        if seq % 7 == 0 {
            writer.commit_batch().expect("commit");
        }
    }
    writer.commit_batch().expect("commit");
    drop(writer);
    assert_eq!(journal_checkpoint(dir), checkpoint);
}

/// The durable checkpoint a segment file's checkpoint block claims, decoded from the bytes as docs/JOURNAL.md lays
/// them out (two 16-byte slots at offset 64: seq u64 LE, crc32c of those 8 bytes, 4 zero bytes; all-zero = empty):
/// the highest valid slot, 0 if both are empty, `None` if none is valid and one is damaged.
pub fn persisted_checkpoint(path: &Path) -> Option<u64> {
    let bytes = fs::read(path).expect("read segment");
    let mut highest = None;
    let mut damaged = false;
    for at in [64usize, 80] {
        let slot = &bytes[at..at + 16];
        let seq = u64::from_le_bytes(slot[..8].try_into().expect("8 bytes"));
        let crc = u32::from_le_bytes(slot[8..12].try_into().expect("4 bytes"));
        if slot.iter().all(|&b| b == 0) {
            continue;
        }
        if crc == crc32c::crc32c(&slot[..8]) && slot[12..].iter().all(|&b| b == 0) {
            highest = highest.max(Some(seq));
        } else {
            damaged = true;
        }
    }
    match highest {
        Some(seq) => Some(seq),
        None if damaged => None,
        None => Some(0),
    }
}

/// The journal's durable checkpoint: the highest claim among its segments' blocks.
pub fn journal_checkpoint(dir: &Path) -> u64 {
    segment_paths(dir)
        .iter()
        .map(|path| persisted_checkpoint(path).expect("a readable checkpoint block"))
        .max()
        .unwrap_or(0)
}

/// Every command in the journal, deserialized, read offline; panics on a read error.
pub fn read_all(dir: &Path) -> Vec<Command> {
    try_read_all(dir).expect("journal reads cleanly")
}

pub fn try_read_all(dir: &Path) -> Result<Vec<Command>, crossline_journal::ReadError> {
    let mut reader = JournalReader::open(dir).expect("open reader");
    let mut out = Vec::new();
    while let Some(record) = reader.next_record()? {
        out.push(
            rkyv::deserialize::<Command, rkyv::rancor::Error>(record.command).expect("deserialize"),
        );
    }
    Ok(out)
}

/// Asserts that `commands` are exactly `command(first..=last)`.
pub fn assert_prefix(commands: &[Command], first: u64, last: u64) {
    let expected: Vec<Command> = (first..=last).map(command).collect();
    assert_eq!(
        commands.len(),
        expected.len(),
        "expected seqs {first}..={last}"
    );
    assert!(
        commands == expected.as_slice(),
        "records differ from the generator"
    );
}

/// Copies the regular files of `from` into `to` (created), skipping the writer's lock file.
pub fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create copy dir");
    for entry in fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        if entry.file_name() == "LOCK" {
            continue;
        }
        // The writer's preparer may rename or remove a file it is preparing while we copy: a file that
        // vanished was not part of the journal a crash would have left.
        match fs::copy(entry.path(), to.join(entry.file_name())) {
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => panic!("copy {}: {error}", entry.path().display()),
        }
    }
}

pub fn segment_paths(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    paths.sort();
    paths
}

/// Byte offset of the frame holding `seq` inside a segment that starts at `first_seq`.
pub fn frame_offset(first_seq: u64, seq: u64) -> u64 {
    FIRST_FRAME_OFFSET_BYTES as u64 + (seq - first_seq) * FRAME_BYTES as u64
}

/// A small deterministic generator (splitmix64), so the crash test's kill moments are reproducible from a seed.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound.max(1)
    }
}
