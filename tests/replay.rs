//! Restart from files: a seeded flow is journaled while an engine applies it; replaying the journal, or loading a
//! snapshot and replaying the journal after it, rebuilds the same state and the same events, byte for byte.

use crossline_engine::*;
use crossline_journal::{FsyncPolicy, JournalConfig, JournalReader, JournalWriter, SnapshotStore};
use std::path::Path;

/// A small deterministic generator (xorshift) of a realistic flow over two instruments and eight accounts.
struct Flow {
    state: u64,
    seq: u64,
    next_ref: [u32; 9],
}

impl Flow {
    fn new(seed: u64) -> Flow {
        Flow {
            state: seed.max(1),
            seq: 0,
            next_ref: [1; 9],
        }
    }

    fn next_random(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }

    fn command(&mut self, body: CommandBody) -> Command {
        self.seq += 1;
        Command {
            seq: self.seq,
            timestamp_ns: 1_000_000 + self.seq * 250,
            body,
        }
    }

    fn setup(&mut self) -> Vec<Command> {
        let mut bodies = vec![CommandBody::SetFeeTier {
            tier: 1,
            maker_fee_ppm: 50,
            taker_fee_ppm: 200,
        }];
        for (instrument, base, reference) in [(1u32, 1u32, 10_000i64), (2, 3, 2_500)] {
            bodies.push(CommandBody::AddInstrument(InstrumentSpec {
                instrument,
                symbol: symbol(if instrument == 1 { "ACME" } else { "BOLT" }),
                tick: 1,
                lot_size: 10,
                quote_per_price_lot: 1,
                base_asset: base,
                quote_asset: 2,
                reference_price: reference,
                band_bps: 1_500,
                breaker_move_bps: 400,
                breaker_window_ns: 50_000,
                breaker_halt_ns: 20_000,
            }));
        }
        for account in 0..=8 {
            bodies.push(CommandBody::SetAccount(AccountSpec {
                account,
                fee_tier: 1,
                stp_group: account % 3,
                stp_mode: StpMode::CancelResting,
                max_order_qty: 10_000,
                max_order_notional: u64::MAX,
                max_open_orders: 500,
                order_entry_enabled: true,
            }));
            for asset in 1..=3 {
                bodies.push(CommandBody::Deposit {
                    account,
                    asset,
                    amount: 1 << 40,
                });
            }
        }
        bodies.into_iter().map(|body| self.command(body)).collect()
    }

    fn step(&mut self) -> Command {
        let r = self.next_random();
        let account = 1 + (r % 8) as u32;
        let instrument = 1 + ((r >> 8) % 2) as u32;
        let centre = if instrument == 1 { 10_000 } else { 2_500 };
        let side = if (r >> 12) & 1 == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        let price = centre + ((r >> 16) % 31) as i64 - 15;
        let qty = 1 + (r >> 24) % 20;
        let kind = (r >> 32) % 20;
        let recent = self.next_ref[account as usize]
            .saturating_sub(1 + ((r >> 40) % 6) as u32)
            .max(1);
        let body = match kind {
            0..=10 => {
                let user_ref = self.next_ref[account as usize];
                self.next_ref[account as usize] += 1;
                CommandBody::NewOrder(NewOrder {
                    session: account,
                    account,
                    user_ref,
                    instrument,
                    side,
                    order_type: if kind == 0 {
                        OrderType::Market
                    } else {
                        OrderType::Limit
                    },
                    time_in_force: match kind {
                        1 => TimeInForce::Ioc,
                        2 => TimeInForce::Gtt,
                        3 => TimeInForce::Day,
                        _ => TimeInForce::Gtc,
                    },
                    price,
                    qty,
                    min_qty: 0,
                    display_qty: if kind == 4 { 1 + qty / 4 } else { 0 },
                    post_only: kind == 5,
                    expire_time_ns: 1_000_000 + self.seq * 250 + 30_000,
                    group: (r % 3) as u16,
                })
            }
            11..=13 => CommandBody::Cancel {
                session: account,
                account,
                user_ref: recent,
            },
            14 | 15 => {
                let new_user_ref = self.next_ref[account as usize];
                self.next_ref[account as usize] += 1;
                CommandBody::Replace(Replace {
                    session: account,
                    account,
                    user_ref: recent,
                    new_user_ref,
                    price,
                    qty,
                })
            }
            16 | 17 => CommandBody::Quote(Quote {
                session: 100 + account,
                account,
                user_ref: self.seq as u32,
                instrument,
                bid_price: price - 3,
                bid_qty: qty,
                ask_price: price + 3,
                ask_qty: qty,
            }),
            18 => CommandBody::MassCancel(MassCancel {
                session: account,
                user_ref: 0,
                reason: MassCancelReason::UserRequested,
                account: Some(account),
                only_session: None,
                instrument: Some(instrument),
                side: None,
                group: None,
            }),
            _ => CommandBody::EndOfDay,
        };
        self.command(body)
    }
}

fn config() -> EngineConfig {
    EngineConfig {
        max_orders: 20_000,
        max_levels_per_side: 512,
        max_instruments: 4,
        max_accounts: 16,
        max_assets: 4,
        ..EngineConfig::default()
    }
}

fn journal_config() -> JournalConfig {
    // Small segments so that the flow spans several and rollover is part of every replay.
    JournalConfig {
        segment_bytes: 256 << 10,
        fsync: FsyncPolicy::None,
        first_seq: 1,
        ..JournalConfig::default()
    }
}

/// Everything a run produced: per command, its events; and the final state hash.
struct Run {
    events: Vec<Vec<Event>>,
    state_hash: u64,
}

/// Applies the flow while journaling it; takes a snapshot every `snapshot_every` commands.
fn journal_and_apply(dir: &Path, commands: &[Command], snapshot_every: usize) -> Run {
    let (mut writer, _) = JournalWriter::open(dir, journal_config()).expect("open journal");
    let snapshots = SnapshotStore::open(dir).expect("snapshot store");
    let mut engine = Engine::<FastBook>::new(config()).unwrap();
    let mut events = Vec::new();
    for (index, command) in commands.iter().enumerate() {
        writer.append(command).expect("append");
        let mut out = Vec::new();
        engine.apply(command, &mut out);
        events.push(out);
        if (index + 1) % 64 == 0 {
            writer.commit_batch().expect("commit");
        }
        if snapshot_every > 0 && (index + 1) % snapshot_every == 0 {
            writer.sync().expect("sync");
            snapshots
                .write(command.seq, &engine.snapshot_bytes())
                .expect("snapshot");
        }
    }
    writer.close().expect("close");
    engine.validate().unwrap();
    Run {
        events,
        state_hash: engine.state_hash(),
    }
}

/// Replays the journal from `from_seq` into `engine`, returning each command's events.
fn replay(dir: &Path, engine: &mut Engine, from_seq: u64) -> Vec<Vec<Event>> {
    let mut reader = JournalReader::open(dir).expect("open reader");
    reader.seek(from_seq).expect("seek");
    let mut events = Vec::new();
    while let Some(record) = reader.next_record().expect("read") {
        let command: Command =
            rkyv::deserialize::<Command, rkyv::rancor::Error>(record.command).expect("command");
        assert_eq!(command.seq, record.seq);
        let mut out = Vec::new();
        engine.apply(&command, &mut out);
        events.push(out);
    }
    events
}

fn flow(seed: u64, steps: usize) -> Vec<Command> {
    let mut flow = Flow::new(seed);
    let mut commands = flow.setup();
    commands.extend((0..steps).map(|_| flow.step()));
    commands
}

#[test]
fn replaying_the_journal_reproduces_every_event_and_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let commands = flow(7, 6_000);
    let original = journal_and_apply(dir.path(), &commands, 0);
    assert!(
        original
            .events
            .iter()
            .flatten()
            .filter(|e| matches!(e, Event::Executed { .. }))
            .count()
            > 500
    );

    let mut engine = Engine::<FastBook>::new(config()).unwrap();
    let replayed = replay(dir.path(), &mut engine, 1);
    assert_eq!(replayed.len(), commands.len());
    assert!(replayed == original.events, "replayed events differ");
    assert_eq!(engine.state_hash(), original.state_hash);
}

#[test]
fn a_snapshot_plus_the_journal_after_it_equals_a_full_replay() {
    let dir = tempfile::tempdir().unwrap();
    let commands = flow(11, 5_000);
    let original = journal_and_apply(dir.path(), &commands, 1_500);

    let store = SnapshotStore::open(dir.path()).unwrap();
    let loaded = store.load_newest_valid().unwrap();
    let snapshot = loaded.snapshot.expect("a snapshot");
    assert_eq!(
        snapshot.seq, commands[4_499].seq,
        "the newest of the three snapshots"
    );
    let mut engine = Engine::<FastBook>::from_snapshot_bytes(config(), snapshot.payload()).unwrap();
    let suffix = replay(dir.path(), &mut engine, snapshot.seq + 1);
    assert_eq!(engine.state_hash(), original.state_hash);
    let start = snapshot.seq as usize;
    assert!(
        suffix == original.events[start..],
        "events after the snapshot differ"
    );
}

#[test]
fn a_corrupt_newest_snapshot_falls_back_to_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let commands = flow(13, 4_000);
    let original = journal_and_apply(dir.path(), &commands, 1_000);

    let store = SnapshotStore::open(dir.path()).unwrap();
    let newest = store
        .list()
        .unwrap()
        .into_iter()
        .max_by_key(|info| info.seq)
        .unwrap();
    let mut bytes = std::fs::read(&newest.path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&newest.path, bytes).unwrap();

    let loaded = store.load_newest_valid().unwrap();
    assert_eq!(loaded.skipped.len(), 1, "the damaged snapshot is reported");
    let snapshot = loaded.snapshot.expect("the previous snapshot");
    assert!(snapshot.seq < newest.seq);
    let mut engine = Engine::<FastBook>::from_snapshot_bytes(config(), snapshot.payload()).unwrap();
    replay(dir.path(), &mut engine, snapshot.seq + 1);
    assert_eq!(engine.state_hash(), original.state_hash);
}
