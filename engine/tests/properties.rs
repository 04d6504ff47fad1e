//! Properties over random flows: the fast book and the reference book produce the same events; every invariant
//! holds after every command; funds are conserved; any command at all, however nonsensical, is answered without a
//! panic.

mod common;

use common::*;
use crossline_engine::*;
use proptest::prelude::*;

const SECOND_SYMBOL: InstrumentId = BOLT;

fn setup_commands() -> Vec<CommandBody> {
    let mut out = vec![
        CommandBody::SetFeeTier {
            tier: 1,
            maker_fee_ppm: MAKER_FEE_PPM,
            taker_fee_ppm: TAKER_FEE_PPM,
        },
        CommandBody::SetFeeTier {
            tier: 2,
            maker_fee_ppm: 0,
            taker_fee_ppm: 3_000,
        },
        CommandBody::AddInstrument(acme_spec()),
        CommandBody::AddInstrument(InstrumentSpec {
            instrument: SECOND_SYMBOL,
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
    for account in 0..=5u32 {
        let mut spec = account_spec(account);
        spec.fee_tier = 1 + account % 2;
        spec.stp_group = if account >= 4 { 9 } else { 0 };
        spec.stp_mode = match account % 3 {
            0 => StpMode::CancelResting,
            1 => StpMode::CancelIncoming,
            _ => StpMode::CancelBoth,
        };
        spec.max_open_orders = if account == 3 { 10 } else { 40 };
        out.push(CommandBody::SetAccount(spec));
        if account > 0 {
            // Account 5 is kept poor so that funds checks reject some of its orders.
            let scale = if account == 5 { 1 } else { 1_000 };
            out.push(CommandBody::Deposit {
                account,
                asset: QUOTE,
                amount: 50_000_000 * scale,
            });
            out.push(CommandBody::Deposit {
                account,
                asset: BASE,
                amount: 5_000 * scale,
            });
            out.push(CommandBody::Deposit {
                account,
                asset: BOLT_BASE,
                amount: 500_000 * scale,
            });
        }
    }
    out
}

/// One step of a random flow, in small numbers that the interpreter turns into a plausible command.
type Step = (u8, u8, u8, u8, u16);

fn interpret(step: Step) -> (u64, CommandBody) {
    let (kind, a, b, c, d) = step;
    let account = 1 + (a % 5) as AccountId;
    // Two sessions per account, so that session-scoped rules are exercised.
    let session = account * 10 + (b % 2) as SessionId;
    let instrument = if c % 3 == 0 { SECOND_SYMBOL } else { ACME };
    let (centre, tick) = if instrument == ACME {
        (10_000, 1)
    } else {
        (2_000, 5)
    };
    let side = if b & 2 == 0 { Side::Buy } else { Side::Sell };
    let offset = (d % 41) as i64 - 20;
    let price = centre + offset * tick * if instrument == ACME { 3 } else { 1 };
    let qty = 1 + (d / 41 % 25) as Qty;
    let user_ref = 1 + (c % 24) as UserRef;
    let time_step = (kind / 16) as u64 * 97;
    let body = match kind % 16 {
        0..=5 => {
            let variant = d % 10;
            CommandBody::NewOrder(NewOrder {
                session,
                account,
                user_ref,
                instrument,
                side,
                order_type: if variant == 0 {
                    OrderType::Market
                } else {
                    OrderType::Limit
                },
                time_in_force: match variant {
                    1 | 2 => TimeInForce::Ioc,
                    3 => TimeInForce::Day,
                    4 => TimeInForce::Gtt,
                    _ => TimeInForce::Gtc,
                },
                price,
                qty,
                min_qty: if variant == 2 {
                    qty.min(1 + (a as u64 % 4))
                } else {
                    0
                },
                display_qty: if variant == 5 { 1 + qty / 3 } else { 0 },
                post_only: variant == 6,
                expire_time_ns: if variant == 4 {
                    1_000_000 + (a as u64) * 300
                } else {
                    0
                },
                group: (a % 3) as u16,
            })
        }
        6 | 7 => CommandBody::Cancel {
            session,
            account,
            user_ref,
        },
        8 => CommandBody::Replace(Replace {
            session,
            account,
            user_ref,
            new_user_ref: 1 + ((c as u32 + a as u32) % 24),
            price: price + tick * ((a % 3) as i64 - 1),
            qty,
        }),
        9 if a % 2 == 0 => CommandBody::Modify {
            session,
            account,
            user_ref,
            qty: qty / 2,
        },
        9 => CommandBody::CancelTo {
            session,
            account,
            user_ref,
            qty: qty / 2,
        },
        10 | 11 => CommandBody::Quote(Quote {
            session,
            account,
            user_ref,
            instrument,
            bid_price: centre + tick * ((d % 9) as i64 - 5),
            bid_qty: if a % 5 == 0 { 0 } else { qty },
            ask_price: centre + tick * ((d % 9) as i64 - 4 + (d / 9 % 4) as i64),
            ask_qty: if a % 7 == 0 { 0 } else { qty / 2 },
        }),
        12 if d % 4 == 0 => CommandBody::MassCancel(MassCancel {
            session,
            user_ref,
            reason: MassCancelReason::UserRequested,
            account: if d % 5 == 0 { None } else { Some(account) },
            only_session: if d % 2 == 0 { Some(session) } else { None },
            instrument: if d % 3 == 0 { None } else { Some(instrument) },
            side: if d % 4 == 0 { Some(side) } else { None },
            group: if d % 7 == 0 {
                Some((a % 3) as u16)
            } else {
                None
            },
        }),
        12 => CommandBody::NewOrder(NewOrder {
            session,
            account,
            user_ref,
            instrument,
            side,
            order_type: OrderType::Limit,
            time_in_force: TimeInForce::Gtc,
            price: price - offset.signum() * 25 * tick,
            qty,
            min_qty: 0,
            display_qty: 0,
            post_only: false,
            expire_time_ns: 0,
            group: 0,
        }),
        13 => match d % 16 {
            0 => CommandBody::SetInstrumentStatus {
                instrument,
                status: InstrumentStatus::Halted,
            },
            1 => CommandBody::SetInstrumentStatus {
                instrument,
                status: InstrumentStatus::CancelOnly,
            },
            2 => CommandBody::EndOfDay,
            3 => CommandBody::SetReferencePrice { instrument, price },
            _ => CommandBody::SetInstrumentStatus {
                instrument,
                status: InstrumentStatus::Trading,
            },
        },
        14 => CommandBody::Deposit {
            account,
            asset: [BASE, QUOTE, BOLT_BASE][(c % 3) as usize],
            amount: d as u64 * 10,
        },
        _ => CommandBody::Withdraw {
            account,
            asset: [BASE, QUOTE, BOLT_BASE][(c % 3) as usize],
            amount: d as u64 * 10,
        },
    };
    (time_step, body)
}

fn config() -> EngineConfig {
    EngineConfig {
        max_orders: 64,
        max_levels_per_side: 24,
        max_instruments: 4,
        max_accounts: 8,
        max_assets: 4,
        max_quotes: 16,
        ..EngineConfig::default()
    }
}

fn run_flow<B: OrderBook>(
    engine: &mut Engine<B>,
    steps: &[Step],
    mut on_command: impl FnMut(&Engine<B>, &Command, &[Event]),
) {
    let mut now_ns = 1_000;
    let setup = setup_commands().into_iter().map(|body| (0, body));
    let flow = steps.iter().map(|&step| interpret(step));
    for (index, (time_step, body)) in setup.chain(flow).enumerate() {
        now_ns += time_step;
        let command = Command {
            seq: index as u64 + 1,
            timestamp_ns: now_ns,
            body,
        };
        let mut events = Vec::new();
        engine.apply(&command, &mut events);
        on_command(engine, &command, &events);
    }
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(any::<Step>(), 1..400)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn the_fast_book_and_the_reference_book_give_the_same_events(steps in steps()) {
        let mut reference_events = Vec::new();
        let mut reference = Engine::<NaiveBook>::new(config()).unwrap();
        run_flow(&mut reference, &steps, |engine, command, events| {
            if let Err(e) = engine.validate() {
                panic!("reference invariant broken at {}: {e}", command.seq);
            }
            reference_events.push(events.to_vec());
        });
        let mut fast = Engine::<FastBook>::new(config()).unwrap();
        let mut index = 0;
        run_flow(&mut fast, &steps, |engine, command, events| {
            assert_eq!(events, &reference_events[index][..], "command {command:?}");
            if let Err(e) = engine.validate() {
                panic!("invariant broken at {}: {e}", command.seq);
            }
            index += 1;
        });
        prop_assert_eq!(fast.state_hash(), reference.state_hash());
    }

    #[test]
    fn funds_are_conserved_after_every_command(steps in steps()) {
        let mut engine = Engine::<FastBook>::new(config()).unwrap();
        let mut deposited = [0u64; 4];
        run_flow(&mut engine, &steps, |engine, command, events| {
            let accepted = !events
                .iter()
                .any(|e| matches!(e, Event::Rejected { .. } | Event::QuoteRejected { .. }));
            match command.body {
                CommandBody::Deposit { asset, amount, .. } if accepted => deposited[asset as usize] += amount,
                CommandBody::Withdraw { asset, amount, .. } if accepted => deposited[asset as usize] -= amount,
                _ => {}
            }
            for asset in 0..4u32 {
                let held: u64 = (0..8).map(|a| { let b = engine.balance(a, asset); b.available + b.reserved }).sum();
                assert_eq!(held, deposited[asset as usize], "asset {asset} after command {}", command.seq);
            }
        });
    }

    #[test]
    fn the_same_commands_give_the_same_events_and_state(steps in steps()) {
        let mut first_events = Vec::new();
        let mut first = Engine::<FastBook>::new(config()).unwrap();
        run_flow(&mut first, &steps, |_, _, events| first_events.extend_from_slice(events));
        let mut second_events = Vec::new();
        let mut second = Engine::<FastBook>::new(config()).unwrap();
        run_flow(&mut second, &steps, |_, _, events| second_events.extend_from_slice(events));
        prop_assert_eq!(first_events, second_events);
        prop_assert_eq!(first.state_hash(), second.state_hash());
    }

    #[test]
    fn any_command_is_answered_without_a_panic(
        bodies in prop::collection::vec(arbitrary_body(), 1..200),
        steps in prop::collection::vec(any::<Step>(), 0..100),
    ) {
        // A realistic state first, then anything at all.
        let mut engine = Engine::<FastBook>::new(config()).unwrap();
        run_flow(&mut engine, &steps, |_, _, _| {});
        let mut seq = 1_000_000;
        for body in bodies {
            seq += 1;
            let mut events = Vec::new();
            engine.apply(&Command { seq, timestamp_ns: seq * 7, body }, &mut events);
            // Every command is answered, except a tick: it only runs the timers that are due.
            prop_assert!(
                !events.is_empty() || body == CommandBody::Tick,
                "no answer to {:?}",
                body
            );
            if let Err(e) = engine.validate() {
                panic!("invariant broken by {body:?}: {e}");
            }
        }
    }
}

fn arbitrary_side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Buy), Just(Side::Sell)]
}

prop_compose! {
    fn arbitrary_order()(
        ids in any::<(u32, u32, u32, u32)>(),
        side in arbitrary_side(),
        kind in 0u8..6,
        price in any::<i64>(),
        qty in any::<(u64, u64, u64)>(),
        flags in any::<(bool, u64, u16)>(),
    ) -> NewOrder {
        NewOrder {
            session: ids.0 % 64,
            account: ids.1 % 10,
            user_ref: ids.2,
            instrument: ids.3 % 5,
            side,
            order_type: if kind == 0 { OrderType::Market } else { OrderType::Limit },
            time_in_force: [TimeInForce::Day, TimeInForce::Gtc, TimeInForce::Gtt, TimeInForce::Ioc][(kind % 4) as usize],
            price: if kind % 2 == 0 { price } else { 9_000 + price.rem_euclid(3_000) },
            qty: if kind % 3 == 0 { qty.0 } else { qty.0 % 50 },
            min_qty: qty.1 % 60,
            display_qty: qty.2 % 60,
            post_only: flags.0,
            expire_time_ns: flags.1,
            group: flags.2,
        }
    }
}

fn arbitrary_body() -> impl Strategy<Value = CommandBody> {
    prop_oneof![
        arbitrary_order().prop_map(CommandBody::NewOrder),
        any::<(u32, u32, u32)>().prop_map(|(s, a, r)| CommandBody::Cancel {
            session: s % 64,
            account: a % 10,
            user_ref: r % 30
        }),
        any::<(u32, u32, u32, u32, i64, u64)>().prop_map(|(s, a, r, n, price, qty)| {
            CommandBody::Replace(Replace {
                session: s % 64,
                account: a % 10,
                user_ref: r % 30,
                new_user_ref: n % 30,
                price,
                qty,
            })
        }),
        any::<(u32, u32, u32, u64)>().prop_map(|(s, a, r, qty)| CommandBody::Modify {
            session: s % 64,
            account: a % 10,
            user_ref: r % 30,
            qty
        }),
        any::<(u32, u32, u32, u64)>().prop_map(|(s, a, r, qty)| CommandBody::CancelTo {
            session: s % 64,
            account: a % 10,
            user_ref: r % 30,
            qty
        }),
        any::<(u32, u32, u32, bool)>().prop_map(|(s, a, r, enabled)| {
            CommandBody::SetOrderEntry {
                session: s % 64,
                account: a % 12,
                user_ref: r,
                firm: *b"FIRM",
                enabled,
            }
        }),
        Just(CommandBody::Tick),
        any::<(u32, u32, u32, u32, i64, u64, i64, u64)>().prop_map(
            |(s, a, r, i, bp, bq, ap, aq)| CommandBody::Quote(Quote {
                session: s % 64,
                account: a % 10,
                user_ref: r,
                instrument: i % 5,
                bid_price: bp,
                bid_qty: bq,
                ask_price: ap,
                ask_qty: aq,
            })
        ),
        any::<(
            u32,
            Option<u32>,
            Option<u32>,
            Option<u32>,
            bool,
            Option<u16>
        )>()
        .prop_map(|(s, a, o, i, buy, g)| {
            CommandBody::MassCancel(MassCancel {
                session: s,
                user_ref: 0,
                reason: MassCancelReason::Admin,
                account: a.map(|a| a % 12),
                only_session: o,
                instrument: i.map(|i| i % 6),
                side: if buy { Some(Side::Buy) } else { None },
                group: g,
            })
        }),
        any::<(u32, i64, u64, u64, u32, u32, i64, u32)>().prop_map(
            |(id, tick, lot, mult, base, quote, reference, bps)| {
                CommandBody::AddInstrument(InstrumentSpec {
                    instrument: id % 6,
                    symbol: symbol("ANY"),
                    tick,
                    lot_size: lot,
                    quote_per_price_lot: mult,
                    base_asset: base % 5,
                    quote_asset: quote % 5,
                    reference_price: reference,
                    band_bps: bps % 12_000,
                    breaker_move_bps: bps % 500,
                    breaker_window_ns: lot,
                    breaker_halt_ns: mult,
                })
            }
        ),
        any::<(u32, u8)>().prop_map(|(i, s)| CommandBody::SetInstrumentStatus {
            instrument: i % 6,
            status: [
                InstrumentStatus::Trading,
                InstrumentStatus::Halted,
                InstrumentStatus::CancelOnly
            ][(s % 3) as usize],
        }),
        any::<(u32, i64)>().prop_map(|(i, price)| CommandBody::SetReferencePrice {
            instrument: i % 6,
            price
        }),
        any::<(u32, u32, u32)>().prop_map(|(t, m, k)| CommandBody::SetFeeTier {
            tier: t % 12,
            maker_fee_ppm: m,
            taker_fee_ppm: k
        }),
        any::<(u32, u32, u32, u64, u64, u32, bool)>().prop_map(|(a, t, g, q, n, o, e)| {
            CommandBody::SetAccount(AccountSpec {
                account: a % 12,
                fee_tier: t % 10,
                stp_group: g % 3,
                stp_mode: StpMode::CancelBoth,
                max_order_qty: q,
                max_order_notional: n,
                max_open_orders: o % 50,
                order_entry_enabled: e,
            })
        }),
        any::<(u32, u32, u64)>().prop_map(|(a, s, amount)| CommandBody::Deposit {
            account: a % 12,
            asset: s % 6,
            amount
        }),
        any::<(u32, u32, u64)>().prop_map(|(a, s, amount)| CommandBody::Withdraw {
            account: a % 12,
            asset: s % 6,
            amount
        }),
        Just(CommandBody::EndOfDay),
    ]
}

/// The random flows reach every kind of outcome; otherwise the properties above would prove little.
#[test]
fn random_flows_reach_every_kind_of_outcome() {
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let steps: Vec<Step> = (0..20_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let b = state.to_le_bytes();
            (b[0], b[1], b[2], b[3], u16::from_le_bytes([b[4], b[5]]))
        })
        .collect();
    let mut engine = Engine::<FastBook>::new(config()).unwrap();
    let mut seen = std::collections::HashMap::<String, u64>::new();
    run_flow(&mut engine, &steps, |engine, _, events| {
        engine.validate().unwrap();
        for event in events {
            let name = match event {
                Event::Rejected { reason, .. } => format!("Rejected::{reason:?}"),
                Event::QuoteRejected { reason, .. } => format!("QuoteRejected::{reason:?}"),
                Event::Canceled { reason, .. } => format!("Canceled::{reason:?}"),
                Event::TradingAction { reason, .. } => format!("TradingAction::{reason:?}"),
                Event::Book(book) => format!("{book:?}")
                    .split(' ')
                    .next()
                    .unwrap_or("")
                    .to_string(),
                other => format!("{other:?}")
                    .split(' ')
                    .next()
                    .unwrap_or("")
                    .to_string(),
            };
            *seen.entry(name).or_default() += 1;
        }
    });
    for expected in [
        "Accepted",
        "Executed",
        "Replaced",
        "Modified",
        "QuoteStatus",
        "MassCanceled",
        "SelfTradeCanceled",
        "Canceled::ImmediateOrCancel",
        "Canceled::MinQtyNotMet",
        "Canceled::Expired",
        "Canceled::EndOfDay",
        "Canceled::UserRequested",
        "Canceled::QuoteReplaced",
        "Canceled::CircuitBreaker",
        "TradingAction::CircuitBreaker",
        "TradingAction::HaltEnded",
        "Rejected::InsufficientFunds",
        "Rejected::PostOnlyWouldTrade",
        "Rejected::BookFull",
        "Rejected::UnknownOrder",
        "Rejected::TooManyOpenOrders",
        "Add",
        "Execute",
        "Cancel",
        "Delete",
        "Replace",
    ] {
        assert!(seen.contains_key(expected), "no {expected} in {seen:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// A snapshot taken anywhere in a flow, loaded into a fresh engine, continues exactly like the original.
    #[test]
    fn a_loaded_snapshot_continues_like_the_original(steps in steps(), split in any::<prop::sample::Index>()) {
        let cut = split.index(steps.len());
        let mut original = Engine::<FastBook>::new(config()).unwrap();
        run_flow(&mut original, &steps[..cut], |_, _, _| {});
        let bytes = original.snapshot_bytes();
        let mut loaded = Engine::<FastBook>::from_snapshot_bytes(config(), &bytes).unwrap();
        prop_assert_eq!(loaded.state_hash(), original.state_hash());
        let mut now_ns = original.snapshot().now_ns;
        for (seq, &step) in (original.last_seq() + 1..).zip(&steps[cut..]) {
            let (time_step, body) = interpret(step);
            now_ns += time_step;
            let command = Command { seq, timestamp_ns: now_ns, body };
            let (mut a, mut b) = (Vec::new(), Vec::new());
            original.apply(&command, &mut a);
            loaded.apply(&command, &mut b);
            prop_assert_eq!(a, b);
        }
        prop_assert_eq!(loaded.state_hash(), original.state_hash());
    }

    #[test]
    fn damaged_snapshot_bytes_are_refused_without_a_panic(steps in steps(), flips in prop::collection::vec(any::<(prop::sample::Index, u8)>(), 1..8)) {
        let mut engine = Engine::<FastBook>::new(config()).unwrap();
        run_flow(&mut engine, &steps, |_, _, _| {});
        let mut bytes = engine.snapshot_bytes();
        for (at, mask) in flips {
            let i = at.index(bytes.len());
            bytes[i] ^= mask.max(1);
        }
        // Either the damage is caught, or it hit bytes that do not matter and the state is the same.
        if let Ok(loaded) = Engine::<FastBook>::from_snapshot_bytes(config(), &bytes) {
            prop_assert_eq!(loaded.state_hash(), engine.state_hash());
        }
        let truncated = &bytes[..bytes.len() / 2];
        prop_assert!(Engine::<FastBook>::from_snapshot_bytes(config(), truncated).is_err());
    }
}
