//! Conformance with a parser no one on this project wrote: the `itch5` crate (a zero-copy TotalView-ITCH 5.0
//! parser) reads the feed a real engine produced, and the book rebuilt from what it parsed equals the engine's.

mod common;

use crossline_engine::{self as engine, CommandBody, Engine, EngineConfig, Event, NewOrder};
use crossline_net::feed::FeedEncoder;
use crossline_net::translate::InstrumentTable;
use itch5::messages::{
    AddOrderNoMPIDAttribution, BuySellIndicator, OrderCancel, OrderDelete, OrderExecuted,
    OrderReplace, StockDirectory, StockTradingAction, SystemEvent,
};
use itch5::{MessageHandler, Parser};
use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;

const ACME: engine::InstrumentId = 1;
const INSTRUMENTS: [(engine::InstrumentId, engine::Symbol); 1] = [(ACME, *b"ACME    ")];
const TS_NS: u64 = 34_200_000_000_000;

/// The book as the third-party parser's messages describe it: order reference -> (buy, price, shares).
#[derive(Default)]
struct ParsedBook {
    orders: HashMap<u64, (bool, u32, u32)>,
    counts: BTreeMap<u8, usize>,
    symbols: Vec<String>,
}

impl MessageHandler for ParsedBook {
    fn on_system_event(&mut self, _msg: &SystemEvent) -> ControlFlow<()> {
        *self.counts.entry(b'S').or_default() += 1;
        ControlFlow::Continue(())
    }

    fn on_stock_directory(&mut self, msg: &StockDirectory) -> ControlFlow<()> {
        *self.counts.entry(b'R').or_default() += 1;
        self.symbols
            .push(msg.stock().as_str().trim_end().to_string());
        ControlFlow::Continue(())
    }

    fn on_stock_trading_action(&mut self, _msg: &StockTradingAction) -> ControlFlow<()> {
        *self.counts.entry(b'H').or_default() += 1;
        ControlFlow::Continue(())
    }

    fn on_add_order_no_mpid_attribution(
        &mut self,
        msg: &AddOrderNoMPIDAttribution,
    ) -> ControlFlow<()> {
        *self.counts.entry(b'A').or_default() += 1;
        let buy = matches!(msg.buy_sell_indicator(), BuySellIndicator::Buy);
        assert!(
            !matches!(msg.buy_sell_indicator(), BuySellIndicator::Unknown(_)),
            "side code"
        );
        assert_eq!(msg.stock().as_str(), "ACME    ");
        assert_eq!(msg.timestamp().to_u64(), TS_NS);
        self.orders.insert(
            msg.order_reference_number(),
            (buy, msg.price().into_u32(), msg.shares()),
        );
        ControlFlow::Continue(())
    }

    fn on_order_executed(&mut self, msg: &OrderExecuted) -> ControlFlow<()> {
        *self.counts.entry(b'E').or_default() += 1;
        self.take(msg.order_reference_number(), msg.executed_shares());
        ControlFlow::Continue(())
    }

    fn on_order_cancel(&mut self, msg: &OrderCancel) -> ControlFlow<()> {
        *self.counts.entry(b'X').or_default() += 1;
        self.take(msg.order_reference_number(), msg.cancelled_shares());
        ControlFlow::Continue(())
    }

    fn on_order_delete(&mut self, msg: &OrderDelete) -> ControlFlow<()> {
        *self.counts.entry(b'D').or_default() += 1;
        assert!(self.orders.remove(&msg.order_reference_number()).is_some());
        ControlFlow::Continue(())
    }

    fn on_order_replace(&mut self, msg: &OrderReplace) -> ControlFlow<()> {
        *self.counts.entry(b'U').or_default() += 1;
        let (buy, _, _) = self
            .orders
            .remove(&msg.original_order_reference_number())
            .expect("replaced order known");
        self.orders.insert(
            msg.new_order_reference_number(),
            (buy, msg.price().into_u32(), msg.shares()),
        );
        ControlFlow::Continue(())
    }
}

impl ParsedBook {
    fn take(&mut self, order_ref: u64, shares: u32) {
        let order = self.orders.get_mut(&order_ref).expect("order known");
        order.2 -= shares;
        if order.2 == 0 {
            self.orders.remove(&order_ref);
        }
    }

    /// (price, shares, orders) per level, best first.
    fn depth(&self, buy: bool) -> Vec<(i64, u64, u32)> {
        let mut levels: BTreeMap<u32, (u64, u32)> = BTreeMap::new();
        for &(side, price, shares) in self.orders.values() {
            if side == buy {
                let level = levels.entry(price).or_default();
                level.0 += u64::from(shares);
                level.1 += 1;
            }
        }
        let mut out: Vec<_> = levels
            .into_iter()
            .map(|(price, (shares, orders))| (i64::from(price), shares, orders))
            .collect();
        if buy {
            out.reverse();
        }
        out
    }
}

fn order(session: u32, user_ref: u32, side: engine::Side, price: i64, qty: u64) -> CommandBody {
    CommandBody::NewOrder(NewOrder {
        session,
        account: session,
        user_ref,
        instrument: ACME,
        side,
        order_type: engine::OrderType::Limit,
        time_in_force: engine::TimeInForce::Day,
        price,
        qty,
        min_qty: 0,
        display_qty: if user_ref.is_multiple_of(7) {
            qty / 3 + 1
        } else {
            0
        },
        post_only: false,
        expire_time_ns: 0,
        group: 0,
    })
}

#[test]
fn a_third_party_parser_rebuilds_the_engines_book_from_the_feed() {
    let mut engine = Engine::<engine::FastBook>::new(EngineConfig::default()).expect("engine");
    let encoder = FeedEncoder::new(InstrumentTable {
        instruments: &INSTRUMENTS,
    });
    let mut stream = Vec::new();
    let mut seq = 0;
    let mut run = |engine: &mut Engine, body: CommandBody, stream: &mut Vec<u8>| {
        seq += 1;
        let mut events: Vec<Event> = Vec::new();
        engine.apply(
            &engine::Command {
                seq,
                timestamp_ns: TS_NS,
                body,
            },
            &mut events,
        );
        for event in &events {
            if let Some(message) = encoder.encode_event(event, TS_NS).expect("encodes") {
                let mut bytes = [0u8; 64];
                let len = message.encode(&mut bytes).expect("fits");
                stream.extend_from_slice(&(len as u16).to_be_bytes());
                stream.extend_from_slice(&bytes[..len]);
            }
        }
    };
    for body in common::market::setup_commands(ACME) {
        run(&mut engine, body, &mut stream);
    }
    // A seeded flow: resting orders both sides, crossing orders, cancels, reductions, replaces, icebergs, halts.
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let mut refs = [0u32; 3];
    for step in 0..3_000u32 {
        let session = 1 + next(2) as u32;
        let roll = next(100);
        let body = if roll < 60 || refs[session as usize] == 0 {
            refs[session as usize] += 1;
            let side = if next(2) == 0 {
                engine::Side::Buy
            } else {
                engine::Side::Sell
            };
            order(
                session,
                refs[session as usize],
                side,
                9_980 + next(41) as i64,
                1 + next(300),
            )
        } else if roll < 78 {
            CommandBody::Cancel {
                session,
                account: session,
                user_ref: 1 + next(u64::from(refs[session as usize])) as u32,
            }
        } else if roll < 88 {
            CommandBody::CancelTo {
                session,
                account: session,
                user_ref: 1 + next(u64::from(refs[session as usize])) as u32,
                qty: 1 + next(50),
            }
        } else if roll < 98 {
            refs[session as usize] += 1;
            CommandBody::Replace(engine::Replace {
                session,
                account: session,
                user_ref: 1 + next(u64::from(refs[session as usize] - 1).max(1)) as u32,
                new_user_ref: refs[session as usize],
                price: 9_980 + next(41) as i64,
                qty: 1 + next(300),
            })
        } else {
            CommandBody::SetInstrumentStatus {
                instrument: ACME,
                status: if step % 2 == 0 {
                    engine::InstrumentStatus::Halted
                } else {
                    engine::InstrumentStatus::Trading
                },
            }
        };
        run(&mut engine, body, &mut stream);
    }

    let mut parsed = ParsedBook::default();
    Parser::new(&stream)
        .parse_stream(&mut parsed)
        .expect("the third-party parser reads every message");
    assert_eq!(parsed.symbols, vec!["ACME".to_string()]);
    for letter in b"RAEXDUH" {
        assert!(
            parsed.counts.get(letter).copied().unwrap_or(0) > 0,
            "the flow produced no {:?} message: {:?}",
            *letter as char,
            parsed.counts
        );
    }
    for (buy, side) in [(true, engine::Side::Buy), (false, engine::Side::Sell)] {
        let expected: Vec<_> = engine
            .depth(ACME, side, 10_000)
            .iter()
            .map(|l| (l.price, l.qty, l.orders))
            .collect();
        assert!(!expected.is_empty());
        assert_eq!(parsed.depth(buy), expected, "{side:?}");
    }
}
