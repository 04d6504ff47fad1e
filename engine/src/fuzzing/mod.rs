//! Checks shared by the engine's fuzz targets (engine/fuzz) and their smoke tests (tests/fuzz_smoke.rs): each takes
//! arbitrary bytes and panics only when the engine breaks a rule, so libFuzzer reports any panic as a finding.
//!
//! - `engine_commands`: the bytes decode into a command sequence (`decode_commands`), applied to an engine with the
//!   fast book and to one with the reference book. After every command both must pass `validate()`, give the same
//!   events, and hold exactly what was deposited less what was withdrawn of every asset, fees included (the fee
//!   account is one of the accounts summed).
//! - `engine_snapshot`: the bytes go to the snapshot decoder. A refusal is fine; a loaded state must pass
//!   `validate()`, survive a snapshot round trip with the same hash, and take further commands without breaking.

use crate::book::{FastBook, NaiveBook};
use crate::command::*;
use crate::config::EngineConfig;
use crate::engine::Engine;
use crate::event::Event;
use crate::types::*;

pub use mutate::mutate;

mod mutate;

/// The capacities the fuzz targets use: small, so that full pools, full books and exhausted quote slots are reached.
pub fn config() -> EngineConfig {
    EngineConfig {
        max_orders: 48,
        max_levels_per_side: 12,
        max_instruments: 4,
        max_accounts: 8,
        max_assets: 4,
        max_fee_tiers: 4,
        max_quotes: 8,
        fee_account: 0,
    }
}

/// Instrument ids and assets the prelude sets up; commands also name ids and assets outside these.
const ACME: InstrumentId = 1;
const BOLT: InstrumentId = 2;
const BASE: AssetId = 1;
const QUOTE: AssetId = 2;
const BOLT_BASE: AssetId = 3;

fn prelude() -> Vec<CommandBody> {
    let mut out = vec![
        CommandBody::SetFeeTier {
            tier: 1,
            maker_fee_ppm: 100,
            taker_fee_ppm: 250,
        },
        CommandBody::SetFeeTier {
            tier: 2,
            maker_fee_ppm: 0,
            taker_fee_ppm: 3_000,
        },
        CommandBody::AddInstrument(InstrumentSpec {
            instrument: ACME,
            symbol: symbol("ACME"),
            tick: 1,
            lot_size: 1,
            quote_per_price_lot: 1,
            base_asset: BASE,
            quote_asset: QUOTE,
            reference_price: 10_000,
            band_bps: 1_000,
            breaker_move_bps: 0,
            breaker_window_ns: 0,
            breaker_halt_ns: 0,
        }),
        CommandBody::AddInstrument(InstrumentSpec {
            instrument: BOLT,
            symbol: symbol("BOLT"),
            tick: 5,
            lot_size: 100,
            quote_per_price_lot: 3,
            base_asset: BOLT_BASE,
            quote_asset: QUOTE,
            reference_price: 2_000,
            band_bps: 2_000,
            breaker_move_bps: 300,
            breaker_window_ns: 2_000,
            breaker_halt_ns: 1_500,
        }),
    ];
    for account in 0..6u32 {
        out.push(CommandBody::SetAccount(AccountSpec {
            account,
            fee_tier: 1 + account % 2,
            stp_group: if account >= 4 { 9 } else { 0 },
            stp_mode: [
                StpMode::CancelResting,
                StpMode::CancelIncoming,
                StpMode::CancelBoth,
            ][account as usize % 3],
            max_order_qty: 1_000_000,
            max_order_notional: u64::MAX,
            max_open_orders: if account == 3 { 6 } else { 40 },
            order_entry_enabled: true,
        }));
        if account > 0 {
            // Account 5 is kept poor so that funds checks reject some of its orders.
            let scale = if account == 5 { 1 } else { 1_000 };
            for (asset, amount) in [(QUOTE, 50_000_000), (BASE, 5_000), (BOLT_BASE, 500_000)] {
                out.push(CommandBody::Deposit {
                    account,
                    asset,
                    amount: amount * scale,
                });
            }
        }
    }
    out
}

/// Reads the fuzz input; past its end every read gives zero, so any byte string decodes.
struct Bytes<'a> {
    data: &'a [u8],
}

impl Bytes<'_> {
    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&byte, rest)) => {
                self.data = rest;
                byte
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }

    fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    /// Mostly ids the prelude made, sometimes any id at all.
    fn id(&mut self, range: u32) -> u32 {
        match self.u8() {
            255 => self.u32(),
            byte => u32::from(byte) % range,
        }
    }

    fn side(&mut self) -> Side {
        if self.bool() {
            Side::Sell
        } else {
            Side::Buy
        }
    }

    fn option<T>(&mut self, read: impl FnOnce(&mut Self) -> T) -> Option<T> {
        if self.bool() {
            Some(read(self))
        } else {
            None
        }
    }

    /// Mostly a price a few ticks around the instrument's centre, sometimes any price at all.
    fn price(&mut self, instrument: InstrumentId) -> Price {
        let (centre, tick) = match instrument {
            ACME => (10_000, 1),
            BOLT => (2_000, 5),
            _ => (1_000, 1),
        };
        match self.u8() {
            255 => self.u64() as i64,
            254 => centre + i64::from(self.u16() as i16) * tick,
            byte => centre + (i64::from(byte) - 127) * tick,
        }
    }

    /// Mostly a few lots, sometimes any quantity at all.
    fn qty(&mut self) -> Qty {
        match self.u8() {
            255 => self.u64(),
            254 => u64::from(self.u16()),
            byte => u64::from(byte % 64),
        }
    }

    /// Mostly a modest amount, sometimes any amount at all.
    fn amount(&mut self) -> u64 {
        match self.u8() {
            255 => self.u64(),
            byte => u64::from(byte) * 1_000 + u64::from(self.u16()),
        }
    }

    fn status(&mut self) -> InstrumentStatus {
        [
            InstrumentStatus::Trading,
            InstrumentStatus::Halted,
            InstrumentStatus::CancelOnly,
        ][usize::from(self.u8() % 3)]
    }
}

/// The command sequence a fuzz input stands for: (time step in ns, command body). The first byte chooses whether
/// the prelude (fee tiers, two instruments, six funded accounts) comes first; each later command takes an opcode
/// byte, a time step byte and its fields.
pub fn decode_commands(data: &[u8]) -> Vec<(u64, CommandBody)> {
    let mut bytes = Bytes { data };
    let mut out = Vec::new();
    if bytes.u8() & 0x80 == 0 {
        out.extend(prelude().into_iter().map(|body| (0, body)));
    }
    while !bytes.is_empty() && out.len() < 4_096 {
        let opcode = bytes.u8();
        let time_step = match bytes.u8() {
            255 => bytes.u32().into(),
            byte => u64::from(byte) * 50,
        };
        let session = bytes.id(24);
        let account = bytes.id(10);
        let user_ref = bytes.id(16);
        let body = match opcode % 24 {
            0..=5 => {
                let instrument = bytes.id(5);
                let flags = bytes.u8();
                let qty = bytes.qty();
                CommandBody::NewOrder(NewOrder {
                    session,
                    account,
                    user_ref,
                    instrument,
                    side: bytes.side(),
                    order_type: if flags & 7 == 0 {
                        OrderType::Market
                    } else {
                        OrderType::Limit
                    },
                    time_in_force: [
                        TimeInForce::Gtc,
                        TimeInForce::Day,
                        TimeInForce::Ioc,
                        TimeInForce::Gtt,
                    ][usize::from(flags >> 3 & 3)],
                    price: bytes.price(instrument),
                    qty,
                    // FOK when both bits are set: the whole quantity or nothing.
                    min_qty: match flags >> 5 & 3 {
                        0 => 0,
                        3 => qty,
                        _ => bytes.qty(),
                    },
                    display_qty: if flags & 0x80 != 0 { bytes.qty() } else { 0 },
                    post_only: flags & 6 == 6,
                    expire_time_ns: if flags >> 3 & 3 == 3 {
                        u64::from(bytes.u16()) * 20
                    } else {
                        0
                    },
                    group: u16::from(bytes.u8() % 4),
                })
            }
            6 | 7 => CommandBody::Cancel {
                session,
                account,
                user_ref,
            },
            8 | 9 => {
                let instrument = bytes.id(5);
                CommandBody::Replace(Replace {
                    session,
                    account,
                    user_ref,
                    new_user_ref: bytes.id(16),
                    price: bytes.price(instrument),
                    qty: bytes.qty(),
                })
            }
            10 => CommandBody::Modify {
                session,
                account,
                user_ref,
                qty: bytes.qty(),
            },
            11 => CommandBody::CancelTo {
                session,
                account,
                user_ref,
                qty: bytes.qty(),
            },
            12 => CommandBody::MassCancel(MassCancel {
                session,
                user_ref,
                reason: [
                    MassCancelReason::UserRequested,
                    MassCancelReason::Disconnect,
                    MassCancelReason::Admin,
                ][usize::from(bytes.u8() % 3)],
                account: bytes.option(|_| account),
                only_session: bytes.option(|_| session),
                instrument: bytes.option(|b| b.id(5)),
                side: bytes.option(Bytes::side),
                group: bytes.option(|b| u16::from(b.u8() % 4)),
            }),
            13 | 14 => {
                let instrument = bytes.id(5);
                CommandBody::Quote(Quote {
                    session,
                    account,
                    user_ref,
                    instrument,
                    bid_price: bytes.price(instrument),
                    bid_qty: bytes.qty(),
                    ask_price: bytes.price(instrument),
                    ask_qty: bytes.qty(),
                })
            }
            15 => CommandBody::Deposit {
                account,
                asset: bytes.id(5),
                amount: bytes.amount(),
            },
            16 => CommandBody::Withdraw {
                account,
                asset: bytes.id(5),
                amount: bytes.amount(),
            },
            17 => CommandBody::SetInstrumentStatus {
                instrument: bytes.id(5),
                status: bytes.status(),
            },
            18 => {
                let instrument = bytes.id(5);
                CommandBody::SetReferencePrice {
                    instrument,
                    price: bytes.price(instrument),
                }
            }
            19 => match bytes.u8() % 4 {
                0 => CommandBody::EndOfDay,
                1 => CommandBody::StateCheck {
                    state_hash: bytes.u64(),
                },
                2 => CommandBody::SessionReply(SessionReply {
                    session,
                    user_ref,
                    kind: SessionReplyKind::OrderRejected,
                    code: bytes.u16(),
                    symbol: symbol("ACME"),
                }),
                _ => CommandBody::SetOrderEntry {
                    session,
                    account,
                    user_ref,
                    firm: *b"FIRM",
                    enabled: bytes.bool(),
                },
            },
            20 => CommandBody::SetAccount(AccountSpec {
                account,
                fee_tier: bytes.id(5),
                stp_group: u32::from(bytes.u8() % 3),
                stp_mode: [
                    StpMode::CancelResting,
                    StpMode::CancelIncoming,
                    StpMode::CancelBoth,
                ][usize::from(bytes.u8() % 3)],
                max_order_qty: bytes.qty(),
                max_order_notional: match bytes.u8() {
                    0 => u64::MAX,
                    _ => bytes.amount(),
                },
                max_open_orders: u32::from(bytes.u8() % 48),
                order_entry_enabled: bytes.u8() != 0,
            }),
            21 => CommandBody::SetFeeTier {
                tier: bytes.id(5),
                maker_fee_ppm: u32::from(bytes.u16()),
                taker_fee_ppm: u32::from(bytes.u16()),
            },
            22 => {
                let wide = bytes.u8();
                let small = |b: &mut Bytes, n: u8| u64::from(b.u8() % n) + 1;
                CommandBody::AddInstrument(InstrumentSpec {
                    instrument: bytes.id(5),
                    symbol: symbol("FUZZ"),
                    tick: if wide & 1 != 0 {
                        bytes.u64() as i64
                    } else {
                        small(&mut bytes, 10) as i64
                    },
                    lot_size: if wide & 2 != 0 {
                        bytes.u64()
                    } else {
                        small(&mut bytes, 100)
                    },
                    quote_per_price_lot: if wide & 4 != 0 {
                        bytes.u64()
                    } else {
                        small(&mut bytes, 10)
                    },
                    base_asset: bytes.id(5),
                    quote_asset: bytes.id(5),
                    reference_price: if wide & 8 != 0 {
                        bytes.u64() as i64
                    } else {
                        1_000
                    },
                    band_bps: if wide & 16 != 0 {
                        bytes.u32()
                    } else {
                        u32::from(bytes.u16() % 12_000)
                    },
                    breaker_move_bps: u32::from(bytes.u16() % 1_000),
                    breaker_window_ns: u64::from(bytes.u16()),
                    breaker_halt_ns: u64::from(bytes.u16()),
                })
            }
            _ => CommandBody::Tick,
        };
        out.push((time_step, body));
    }
    out
}

fn rejected(events: &[Event]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, Event::Rejected { .. } | Event::QuoteRejected { .. }))
}

/// Applies the decoded commands to a fast-book and a reference-book engine and checks the invariants, the agreement
/// of the two books and funds conservation after every command. Panics on a broken rule.
pub fn engine_commands(data: &[u8]) {
    let config = config();
    let mut fast = Engine::<FastBook>::new(config).expect("the fuzzing configuration is valid");
    let mut reference =
        Engine::<NaiveBook>::new(config).expect("the fuzzing configuration is valid");
    let assets = config.max_assets as usize;
    // Deposits less withdrawals per asset; wide enough that no sum the engine could accept overflows it.
    let mut deposited = vec![0i128; assets];
    let mut now_ns = 1_000u64;
    let (mut fast_events, mut reference_events) = (Vec::new(), Vec::new());
    for (index, (time_step, body)) in decode_commands(data).into_iter().enumerate() {
        now_ns = now_ns.saturating_add(time_step);
        let command = Command {
            seq: index as u64 + 1,
            timestamp_ns: now_ns,
            body,
        };
        fast_events.clear();
        reference_events.clear();
        fast.apply(&command, &mut fast_events);
        reference.apply(&command, &mut reference_events);
        if let Err(e) = fast.validate() {
            panic!("invariant broken after {command:?}: {e}");
        }
        if let Err(e) = reference.validate() {
            panic!("reference invariant broken after {command:?}: {e}");
        }
        assert_eq!(
            fast_events, reference_events,
            "the fast and reference books disagree on {command:?}"
        );
        let accepted = !rejected(&fast_events);
        match body {
            CommandBody::Deposit { asset, amount, .. } if accepted => {
                deposited[asset as usize] += i128::from(amount);
            }
            CommandBody::Withdraw { asset, amount, .. } if accepted => {
                deposited[asset as usize] -= i128::from(amount);
            }
            _ => {}
        }
        for (asset, &expected) in deposited.iter().enumerate() {
            let held: i128 = (0..config.max_accounts)
                .map(|account| {
                    let b = fast.balance(account, asset as AssetId);
                    i128::from(b.available) + i128::from(b.reserved)
                })
                .sum();
            assert_eq!(
                held, expected,
                "asset {asset} not conserved after {command:?}: held {held}, deposited less withdrawn {expected}"
            );
            assert_eq!(
                i128::from(fast.asset_total(asset as AssetId)),
                expected,
                "asset {asset} total disagrees after {command:?}"
            );
        }
    }
    assert_eq!(
        fast.state_hash(),
        reference.state_hash(),
        "the fast and reference books end in different states"
    );
}

/// Loads the bytes as an engine snapshot. A refusal is fine; a loaded state must be valid, round-trip through a
/// snapshot with the same hash, and take a few more commands without breaking an invariant. Panics on a broken rule.
pub fn engine_snapshot(data: &[u8]) {
    let Ok(mut engine) = Engine::<FastBook>::from_snapshot_bytes(config(), data) else {
        return;
    };
    if let Err(e) = engine.validate() {
        panic!("a loaded snapshot breaks an invariant: {e}");
    }
    let hash = engine.state_hash();
    let again = Engine::<FastBook>::from_snapshot_bytes(config(), &engine.snapshot_bytes())
        .expect("a snapshot of a loaded state loads again");
    assert_eq!(
        again.state_hash(),
        hash,
        "a snapshot round trip changes the state"
    );
    let reference = Engine::<NaiveBook>::from_snapshot_bytes(config(), data)
        .expect("what loads with the fast book loads with the reference book");
    assert_eq!(
        reference.state_hash(),
        hash,
        "the two books load different states"
    );
    // A few commands on the loaded state: cancel everything, time passes, end of day.
    let mut now_ns = engine.snapshot().now_ns;
    let mut seq = engine.last_seq();
    let mut events = Vec::new();
    for body in [
        CommandBody::Tick,
        CommandBody::EndOfDay,
        CommandBody::MassCancel(MassCancel {
            session: 0,
            user_ref: 0,
            reason: MassCancelReason::Admin,
            account: None,
            only_session: None,
            instrument: Some(ACME),
            side: None,
            group: None,
        }),
        CommandBody::Tick,
    ] {
        seq = seq.wrapping_add(1);
        now_ns = now_ns.saturating_add(1_000_000_000);
        events.clear();
        engine.apply(
            &Command {
                seq,
                timestamp_ns: now_ns,
                body,
            },
            &mut events,
        );
        if let Err(e) = engine.validate() {
            panic!("a loaded snapshot breaks an invariant after {body:?}: {e}");
        }
    }
}

/// Seed inputs: command streams and snapshots of states those streams reach, so that a campaign starts from
/// inputs that exercise matching rather than from nothing.
pub fn seed_command_streams() -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for length in [8usize, 32, 96, 200] {
        for variant in 0..4 {
            let mut bytes = vec![0u8];
            for _ in 0..length {
                let r = next().to_le_bytes();
                // Opcode biased towards orders, then a small time step, session, account, user ref, instrument 1
                // or 2, and the rest random.
                let opcode = if r[0] % 3 != 0 { r[1] % 6 } else { r[1] % 24 };
                let instrument = 1 + r[6] % 2;
                bytes.extend_from_slice(&[
                    opcode,
                    r[2] % 8,
                    r[3] % 12,
                    1 + r[4] % 5,
                    r[5] % 8,
                    instrument,
                ]);
                let rest = next().to_le_bytes();
                bytes.extend_from_slice(&rest[..2 + variant]);
                // Prices near the centre.
                bytes.push(120 + r[7] % 16);
                bytes.extend_from_slice(&next().to_le_bytes()[..4]);
            }
            seeds.push(bytes);
        }
    }
    seeds
}

/// Snapshots of the states the seed command streams reach.
pub fn seed_snapshots() -> Vec<Vec<u8>> {
    let mut seeds = vec![Engine::<FastBook>::new(config())
        .expect("the fuzzing configuration is valid")
        .snapshot_bytes()];
    for stream in seed_command_streams().iter().step_by(3) {
        let mut engine =
            Engine::<FastBook>::new(config()).expect("the fuzzing configuration is valid");
        let mut events = Vec::new();
        let mut now_ns = 1_000u64;
        for (index, (time_step, body)) in decode_commands(stream).into_iter().enumerate() {
            now_ns = now_ns.saturating_add(time_step);
            events.clear();
            engine.apply(
                &Command {
                    seq: index as u64 + 1,
                    timestamp_ns: now_ns,
                    body,
                },
                &mut events,
            );
        }
        seeds.push(engine.snapshot_bytes());
    }
    seeds
}
