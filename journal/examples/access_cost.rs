//! Measures what the journal's read path costs per record, to justify checked rkyv access after the checksum:
//! appends N commands (fsync None), then replays them three ways: checksum + bytecheck (what `JournalReader`
//! does), checksum + unchecked access, and bytecheck alone.
//!
//! `cargo run --release -p crossline-journal --example access_cost -- [records] [dir]`

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use crossline_engine::{
    ArchivedCommand, Command, CommandBody, NewOrder, OrderType, Side, TimeInForce,
};
use crossline_journal::{
    FsyncPolicy, JournalConfig, JournalReader, JournalWriter, ARCHIVED_COMMAND_BYTES, FRAME_BYTES,
};

fn command(seq: u64) -> Command {
    Command {
        seq,
        timestamp_ns: seq * 1_000,
        body: CommandBody::NewOrder(NewOrder {
            session: (seq % 7) as u32,
            account: (seq % 101) as u32,
            user_ref: seq as u32,
            instrument: 1,
            side: if seq & 1 == 0 { Side::Buy } else { Side::Sell },
            order_type: OrderType::Limit,
            time_in_force: TimeInForce::Day,
            price: 100_0000 + (seq % 50) as i64,
            qty: 1 + seq % 10,
            min_qty: 0,
            display_qty: 0,
            post_only: false,
            expire_time_ns: 0,
            group: 0,
        }),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let records: u64 = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(2_000_000);
    let base: PathBuf = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("crossline-access-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    println!("archived command {ARCHIVED_COMMAND_BYTES} bytes, frame {FRAME_BYTES} bytes, {records} records");

    let config = JournalConfig {
        segment_bytes: 256 << 20,
        fsync: FsyncPolicy::None,
        first_seq: 1,
        ..JournalConfig::default()
    };
    let (mut writer, _) = JournalWriter::open(&dir, config)?;
    let started = Instant::now();
    for seq in 1..=records {
        writer.append(&command(seq))?;
        if seq & 63 == 0 {
            writer.commit_batch()?;
        }
    }
    writer.commit_batch()?;
    let append_s = started.elapsed().as_secs_f64();
    println!(
        "append (fsync none, batches of 64): {:.1} M records/s",
        records as f64 / append_s / 1e6
    );
    drop(writer);

    let mut reader = JournalReader::open(&dir)?;
    let started = Instant::now();
    let mut sum = 0u64;
    while let Some(record) = reader.next_record()? {
        sum = sum.wrapping_add(record.command.timestamp_ns.to_native());
    }
    let checked_s = started.elapsed().as_secs_f64();
    black_box(sum);
    println!(
        "replay, checksum + bytecheck (JournalReader): {:.1} M records/s",
        records as f64 / checked_s / 1e6
    );

    // The same loop over raw frames, to split the cost between the checksum and bytecheck.
    let frames = std::fs::read(dir.join(crossline_journal::segment_file_name(1)))?;
    let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(frames.len());
    aligned.extend_from_slice(&frames);
    let in_segment = ((aligned.len() - crossline_journal::FIRST_FRAME_OFFSET_BYTES) / FRAME_BYTES)
        .min(records as usize);
    let payload = |i: usize| {
        let at = crossline_journal::FIRST_FRAME_OFFSET_BYTES + i * FRAME_BYTES;
        &aligned[at..at + crossline_journal::FRAME_HEADER_BYTES + ARCHIVED_COMMAND_BYTES]
    };
    let started = Instant::now();
    let mut sum = 0u64;
    for i in 0..in_segment {
        let frame = payload(i);
        sum = sum.wrapping_add(u64::from(crc32c::crc32c(&frame[8..])));
        // SAFETY: these bytes were archived by the writer above from a valid Command in this same build.
        let command = unsafe { rkyv::access_unchecked::<ArchivedCommand>(&frame[16..]) };
        sum = sum.wrapping_add(command.timestamp_ns.to_native());
    }
    let crc_only_s = started.elapsed().as_secs_f64();
    black_box(sum);
    let started = Instant::now();
    let mut sum = 0u64;
    for i in 0..in_segment {
        let frame = payload(i);
        if let Ok(command) =
            rkyv::api::low::access::<ArchivedCommand, rkyv::rancor::Failure>(&frame[16..])
        {
            sum = sum.wrapping_add(command.timestamp_ns.to_native());
        }
    }
    let bytecheck_s = started.elapsed().as_secs_f64();
    black_box(sum);
    let per = |s: f64| s / in_segment as f64 * 1e9;
    println!(
        "first segment ({in_segment} records): checksum + unchecked {:.1} ns/record, bytecheck alone {:.1} ns/record",
        per(crc_only_s),
        per(bytecheck_s)
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
