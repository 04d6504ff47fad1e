//! A small market for tests: one or two instruments, funded accounts, and helpers that build commands and return
//! the events each produced.
#![allow(dead_code)]

use crossline_engine::*;

pub const ACME: InstrumentId = 1;
pub const BOLT: InstrumentId = 2;
pub const BASE: AssetId = 1;
pub const QUOTE: AssetId = 2;
pub const BOLT_BASE: AssetId = 3;
pub const FEE_ACCOUNT: AccountId = 0;
pub const FUNDED_QUOTE: u64 = 1_000_000_000_000;
pub const FUNDED_BASE: u64 = 1_000_000_000;
pub const MAKER_FEE_PPM: u32 = 100;
pub const TAKER_FEE_PPM: u32 = 250;

pub fn acme_spec() -> InstrumentSpec {
    InstrumentSpec {
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
    }
}

pub fn account_spec(account: AccountId) -> AccountSpec {
    AccountSpec {
        account,
        fee_tier: 1,
        stp_group: 0,
        stp_mode: StpMode::CancelResting,
        max_order_qty: 1_000_000,
        max_order_notional: u64::MAX,
        max_open_orders: 1_000,
        order_entry_enabled: true,
    }
}

/// Session of an account in these tests: one per account, numbered like it.
pub fn session(account: AccountId) -> SessionId {
    account
}

pub struct Market<B: OrderBook> {
    pub engine: Engine<B>,
    pub seq: u64,
    pub now_ns: u64,
    pub next_ref: [UserRef; 16],
}

impl<B: OrderBook> Market<B> {
    pub fn with_config(config: EngineConfig, instrument_spec: InstrumentSpec) -> Self {
        let mut market = Market {
            engine: Engine::new(config).expect("config"),
            seq: 0,
            now_ns: 1_000,
            next_ref: [1; 16],
        };
        market.ok(CommandBody::SetFeeTier {
            tier: 1,
            maker_fee_ppm: MAKER_FEE_PPM,
            taker_fee_ppm: TAKER_FEE_PPM,
        });
        market.ok(CommandBody::AddInstrument(instrument_spec));
        for account in 0..=4 {
            market.ok(CommandBody::SetAccount(account_spec(account)));
            if account > 0 {
                market.ok(CommandBody::Deposit {
                    account,
                    asset: QUOTE,
                    amount: FUNDED_QUOTE,
                });
                market.ok(CommandBody::Deposit {
                    account,
                    asset: BASE,
                    amount: FUNDED_BASE,
                });
            }
        }
        market
    }

    pub fn new() -> Self {
        Self::with_config(
            EngineConfig {
                max_orders: 4096,
                max_levels_per_side: 256,
                ..EngineConfig::default()
            },
            acme_spec(),
        )
    }

    pub fn run(&mut self, body: CommandBody) -> Vec<Event> {
        self.seq += 1;
        self.now_ns += 1;
        let mut events = Vec::new();
        self.engine.apply(
            &Command {
                seq: self.seq,
                timestamp_ns: self.now_ns,
                body,
            },
            &mut events,
        );
        if let Err(e) = self.engine.validate() {
            panic!("invariant broken after command {}: {e}", self.seq);
        }
        events
    }

    /// Runs a command that must not be rejected.
    pub fn ok(&mut self, body: CommandBody) -> Vec<Event> {
        let events = self.run(body);
        assert!(
            !events.iter().any(|e| matches!(e, Event::Rejected { .. })),
            "unexpected reject: {events:?}"
        );
        events
    }

    pub fn advance_ns(&mut self, ns: u64) {
        self.now_ns += ns;
    }

    pub fn next_ref(&mut self, account: AccountId) -> UserRef {
        let r = self.next_ref[account as usize];
        self.next_ref[account as usize] += 1;
        r
    }

    pub fn order(&mut self, account: AccountId, side: Side, price: Price, qty: Qty) -> NewOrder {
        NewOrder {
            session: session(account),
            account,
            user_ref: self.next_ref(account),
            instrument: ACME,
            side,
            order_type: OrderType::Limit,
            time_in_force: TimeInForce::Gtc,
            price,
            qty,
            min_qty: 0,
            display_qty: 0,
            post_only: false,
            expire_time_ns: 0,
            group: 0,
        }
    }

    pub fn submit(&mut self, order: NewOrder) -> Vec<Event> {
        self.run(CommandBody::NewOrder(order))
    }

    pub fn buy(&mut self, account: AccountId, price: Price, qty: Qty) -> Vec<Event> {
        let order = self.order(account, Side::Buy, price, qty);
        self.submit(order)
    }

    pub fn sell(&mut self, account: AccountId, price: Price, qty: Qty) -> Vec<Event> {
        let order = self.order(account, Side::Sell, price, qty);
        self.submit(order)
    }

    pub fn book(&self, side: Side) -> Vec<(Price, Qty)> {
        self.engine
            .depth(ACME, side, usize::MAX)
            .iter()
            .map(|l| (l.price, l.qty))
            .collect()
    }

    pub fn resting(&self, side: Side) -> Vec<RestingOrder> {
        self.engine.resting_orders(ACME, side)
    }

    pub fn balance(&self, account: AccountId, asset: AssetId) -> Balance {
        self.engine.balance(account, asset)
    }
}

pub fn rejects(events: &[Event]) -> Vec<RejectReason> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Rejected { reason, .. } | Event::QuoteRejected { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

pub fn fills(events: &[Event]) -> Vec<(AccountId, Side, Price, Qty, Liquidity)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Executed {
                account,
                side,
                price,
                qty,
                liquidity,
                ..
            } => Some((*account, *side, *price, *qty, *liquidity)),
            _ => None,
        })
        .collect()
}

pub fn cancels(events: &[Event]) -> Vec<(AccountId, Qty, CancelReason)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Canceled {
                account,
                qty,
                reason,
                ..
            } => Some((*account, *qty, *reason)),
            _ => None,
        })
        .collect()
}

pub fn book_events(events: &[Event]) -> Vec<BookEvent> {
    events
        .iter()
        .filter_map(|e| {
            if let Event::Book(b) = e {
                Some(*b)
            } else {
                None
            }
        })
        .collect()
}

pub fn accepted_id(events: &[Event]) -> OrderId {
    events
        .iter()
        .find_map(|e| {
            if let Event::Accepted { order_id, .. } = e {
                Some(*order_id)
            } else {
                None
            }
        })
        .expect("an Accepted event")
}
