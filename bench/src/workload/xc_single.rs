//! `xc-single`: exchange-core's single-symbol benchmark mix, rebuilt for Crossline's commands. The flow must
//! cancel and move orders that are still resting, and which ones are depends on what traded, so the generator
//! runs its own engine as it goes (as exchange-core's generator runs its naive book) and draws each command from
//! the state the previous ones left. The run then applies the same commands to a fresh engine and must reach the
//! generator's state hash.

use super::{
    engine_config, limit_order, market_setup, Flow, GenerateError, Round, Stamper, UserRefs,
    WorkloadKind,
};
use crate::rng::Rng;
use crossline_engine::{
    AccountId, Command, CommandBody, Engine, Event, Price, Qty, Replace, SessionId, Side,
    TimeInForce, UserRef,
};
use std::collections::HashMap;

pub const DEFINITION: &str = "\
xc-single: exchange-core's single-symbol mix. One instrument, centre 100,000 (tick 1, band ±25% of the last \
trade), 2,000 accounts (one session each), about 1,000 resting orders. Untimed set-up places passive GTC orders \
until 1,000 rest. Each measured command is, per mille: 90 GTC, 30 IOC, 60 cancel, 820 move. GTC: a uniform \
account; the side with fewer resting orders with probability 3/4; size 1 + a*b*c lots (a, b, c uniform 0..=5); \
priced d ticks away from the last trade on its own side when fewer than 1,000 orders rest, or d ticks through \
it (taking liquidity) when 1,000 or more do, where d = 1 + |2 * floor(m) - D|, m the mean of 4 draws uniform \
in 0..D, D = 1 + floor(u^2 * 5,000), u uniform in [0, 1) (exchange-core's shape). IOC: buy with probability 0.5 + (100,000 - last) / 20,000 clamped to 0.1..=0.9, \
limit 2,000 ticks through the last trade, size as GTC when 1,000 or more orders rest and 1 lot when fewer \
(the book is held near 1,000 by these two rules, with the mix unchanged). Cancel: a uniformly chosen resting order. Move: Replace \
of a uniformly chosen resting order at its open size, price moved toward the last trade by 1% of the distance \
rounded away from zero (at least one tick; a random tick either way when it is at the last trade). Resting \
orders are known from the generator's own engine, so no cancel or move misses. Risk checks on, no rejects.";

pub const ACCOUNTS: u32 = 2_000;
pub const TARGET_RESTING: usize = 1_000;
pub const CENTER_PRICE: Price = 100_000;
pub const BAND_BPS: u32 = 2_500;
pub const PRICE_DEVIATION_TICKS: i64 = 5_000;
pub const IOC_REACH_TICKS: Price = 2_000;
/// The last trade this far from the centre makes takers all but one-sided (0.9), pulling it back.
pub const REVERSION_TICKS: Price = 10_000;
pub const GTC_PER_MILLE: u64 = 90;
pub const IOC_PER_MILLE: u64 = 30;
pub const CANCEL_PER_MILLE: u64 = 60;
pub const MOVE_PER_MILLE: u64 = 820;

/// An order the generator knows to be resting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LiveOrder {
    session: SessionId,
    account: AccountId,
    user_ref: UserRef,
    side: Side,
    price: Price,
    leaves: Qty,
}

/// The resting orders, pickable uniformly: a dense vector plus a map from (session, user_ref) to position.
#[derive(Debug, Default)]
struct LiveOrders {
    orders: Vec<LiveOrder>,
    position: HashMap<(SessionId, UserRef), usize>,
    per_side: [usize; 2],
}

impl LiveOrders {
    fn insert(&mut self, order: LiveOrder) {
        let previous = self
            .position
            .insert((order.session, order.user_ref), self.orders.len());
        assert!(
            previous.is_none(),
            "user reference reused: the generator's own bookkeeping is wrong"
        );
        self.per_side[order.side.index()] += 1;
        self.orders.push(order);
    }

    fn remove(&mut self, session: SessionId, user_ref: UserRef) -> Option<LiveOrder> {
        let position = self.position.remove(&(session, user_ref))?;
        let order = self.orders.swap_remove(position);
        if let Some(moved) = self.orders.get(position) {
            self.position
                .insert((moved.session, moved.user_ref), position);
        }
        self.per_side[order.side.index()] -= 1;
        Some(order)
    }

    fn get_mut(&mut self, session: SessionId, user_ref: UserRef) -> Option<&mut LiveOrder> {
        let position = *self.position.get(&(session, user_ref))?;
        self.orders.get_mut(position)
    }

    /// Takes `qty` off an order; an order with nothing left is gone.
    fn reduce(&mut self, session: SessionId, user_ref: UserRef, qty: Qty) {
        if let Some(order) = self.get_mut(session, user_ref) {
            order.leaves = order.leaves.saturating_sub(qty);
            if order.leaves == 0 {
                self.remove(session, user_ref);
            }
        }
    }

    fn len(&self) -> usize {
        self.orders.len()
    }
}

/// The generator: its random stream, its own engine, and what it learned from that engine's events.
struct Generator {
    rng: Rng,
    stamper: Stamper,
    user_refs: UserRefs,
    engine: Engine,
    events: Vec<Event>,
    live: LiveOrders,
    last_trade: Price,
    rejects: u64,
    first_reject: Option<String>,
}

impl Generator {
    /// Stamps the command, applies it to the generator's engine, and learns from the events.
    fn apply(&mut self, body: CommandBody) -> Command {
        let command = self.stamper.stamp(body);
        if let CommandBody::NewOrder(order) = &command.body {
            if order.time_in_force == TimeInForce::Gtc {
                // Provisional: fills, cancels or a reject below take it back out.
                self.live.insert(LiveOrder {
                    session: order.session,
                    account: order.account,
                    user_ref: order.user_ref,
                    side: order.side,
                    price: order.price,
                    leaves: order.qty,
                });
            }
        }
        self.events.clear();
        self.engine.apply(&command, &mut self.events);
        for event in &self.events {
            match *event {
                Event::Executed {
                    session,
                    user_ref,
                    price,
                    leaves,
                    ..
                } => {
                    self.last_trade = price;
                    if leaves == 0 {
                        self.live.remove(session, user_ref);
                    } else if let Some(order) = self.live.get_mut(session, user_ref) {
                        order.leaves = leaves;
                    }
                }
                Event::Canceled {
                    session,
                    user_ref,
                    qty,
                    ..
                } => self.live.reduce(session, user_ref, qty),
                Event::SelfTradeCanceled {
                    session,
                    user_ref,
                    qty,
                    ..
                } => self.live.reduce(session, user_ref, qty),
                Event::Replaced {
                    session,
                    old_user_ref,
                    user_ref,
                    price,
                    qty,
                    ..
                } => {
                    if let Some(mut order) = self.live.remove(session, old_user_ref) {
                        order.user_ref = user_ref;
                        order.price = price;
                        order.leaves = qty;
                        self.live.insert(order);
                    }
                }
                Event::Rejected {
                    session,
                    user_ref,
                    reason,
                } => {
                    self.rejects += 1;
                    if self.first_reject.is_none() {
                        self.first_reject = Some(format!("seq {}: {reason:?}", command.seq));
                    }
                    self.live.remove(session, user_ref);
                }
                _ => {}
            }
        }
        command
    }

    /// exchange-core's distance shape: mostly a few ticks, sometimes thousands.
    fn distance_ticks(&mut self) -> Price {
        let spread = 1 + (self.rng.unit_f64().powi(2) * PRICE_DEVIATION_TICKS as f64) as i64;
        let sum: i64 = (0..4).map(|_| self.rng.below(spread as u64) as i64).sum();
        1 + (sum / 4 * 2 - spread).abs()
    }

    fn size_lots(&mut self) -> Qty {
        1 + (0..3).map(|_| self.rng.below(6)).product::<u64>()
    }

    fn gtc(&mut self) -> CommandBody {
        let account = 1 + self.rng.below(u64::from(ACCOUNTS)) as u32;
        let thinner = if self.live.per_side[0] <= self.live.per_side[1] {
            Side::Buy
        } else {
            Side::Sell
        };
        let side = if self.rng.chance_ppm(750_000) {
            thinner
        } else {
            thinner.opposite()
        };
        let distance = self.distance_ticks();
        let passive = self.live.len() < TARGET_RESTING;
        // Passive: away from the last trade on the order's own side. Aggressive: through it.
        let away = if passive { distance } else { -distance };
        let price = match side {
            Side::Buy => self.last_trade - away,
            Side::Sell => self.last_trade + away,
        };
        let qty = self.size_lots();
        let user_ref = self.user_refs.next(account);
        limit_order(account, user_ref, side, price.max(1), qty, TimeInForce::Gtc)
    }

    fn ioc(&mut self) -> CommandBody {
        let account = 1 + self.rng.below(u64::from(ACCOUNTS)) as u32;
        let buy_ppm = (500_000 + (CENTER_PRICE - self.last_trade) * 500_000 / REVERSION_TICKS)
            .clamp(100_000, 900_000);
        let (side, price) = if self.rng.chance_ppm(buy_ppm as u32) {
            (Side::Buy, self.last_trade + IOC_REACH_TICKS)
        } else {
            (Side::Sell, self.last_trade - IOC_REACH_TICKS)
        };
        // Below the target an IOC takes one lot, so it rarely removes a whole order and the book refills.
        let qty = if self.live.len() < TARGET_RESTING {
            1
        } else {
            self.size_lots()
        };
        let user_ref = self.user_refs.next(account);
        limit_order(account, user_ref, side, price, qty, TimeInForce::Ioc)
    }

    fn pick(&mut self) -> Option<LiveOrder> {
        if self.live.len() == 0 {
            return None;
        }
        let position = self.rng.index(self.live.len());
        Some(self.live.orders[position])
    }

    fn cancel(&mut self) -> Option<CommandBody> {
        let order = self.pick()?;
        Some(CommandBody::Cancel {
            session: order.session,
            account: order.account,
            user_ref: order.user_ref,
        })
    }

    fn move_order(&mut self) -> Option<CommandBody> {
        let order = self.pick()?;
        let distance = self.last_trade - order.price;
        let step = match distance.signum() {
            0 => {
                if self.rng.chance_ppm(500_000) {
                    1
                } else {
                    -1
                }
            }
            sign => sign * ((distance.abs() + 99) / 100),
        };
        let new_user_ref = self.user_refs.next(order.session);
        Some(CommandBody::Replace(Replace {
            session: order.session,
            account: order.account,
            user_ref: order.user_ref,
            new_user_ref,
            price: (order.price + step).max(1),
            qty: order.leaves,
        }))
    }
}

pub fn generate(ops: u64, seed: u64) -> Result<Flow, GenerateError> {
    if ops == 0 || ops > 200_000_000 {
        return Err(GenerateError::OpsOutOfRange {
            workload: "xc-single",
            ops,
            why: "must be 1..=200,000,000",
        });
    }
    // New orders are under 15% of the flow and the book is held near 1,000, but size the pool for the worst case
    // so a regulation failure would show as a deep book, never as a reject.
    let config = engine_config("xc-single", ops + TARGET_RESTING as u64, ACCOUNTS, 0)?;
    let engine = Engine::new(config).map_err(|error| GenerateError::Config {
        workload: "xc-single",
        message: error.0,
    })?;
    let mut stamper = Stamper::new();
    let market = market_setup(&mut stamper, "XCSINGLE", CENTER_PRICE, BAND_BPS, ACCOUNTS);
    let mut generator = Generator {
        rng: Rng::new(seed),
        stamper,
        user_refs: UserRefs::new(ACCOUNTS),
        engine,
        events: Vec::with_capacity(64),
        live: LiveOrders::default(),
        last_trade: CENTER_PRICE,
        rejects: 0,
        first_reject: None,
    };
    for command in &market {
        generator.events.clear();
        generator.engine.apply(command, &mut generator.events);
        if let Some(Event::Rejected { reason, .. }) = generator
            .events
            .iter()
            .find(|event| matches!(event, Event::Rejected { .. }))
        {
            return Err(GenerateError::SetupRejected {
                workload: "xc-single",
                seq: command.seq,
                reason: format!("{reason:?}"),
            });
        }
    }
    let mut setup = market;
    while generator.live.len() < TARGET_RESTING {
        let body = generator.gtc();
        setup.push(generator.apply(body));
    }

    let mut measured = Vec::with_capacity(ops as usize);
    for _ in 0..ops {
        let draw = generator.rng.below(1000);
        let body = if draw < GTC_PER_MILLE {
            generator.gtc()
        } else if draw < GTC_PER_MILLE + IOC_PER_MILLE {
            generator.ioc()
        } else if draw < GTC_PER_MILLE + IOC_PER_MILLE + CANCEL_PER_MILLE {
            // An empty book (never seen with 1,000 resting) turns a cancel or move into a GTC order.
            match generator.cancel() {
                Some(body) => body,
                None => generator.gtc(),
            }
        } else {
            match generator.move_order() {
                Some(body) => body,
                None => generator.gtc(),
            }
        };
        measured.push(generator.apply(body));
    }

    let mut notes = vec![format!(
        "{} orders resting at the end; last trade {}",
        generator.live.len(),
        generator.last_trade
    )];
    if let Some(first) = &generator.first_reject {
        notes.push(format!(
            "the generator's own engine rejected {} commands, first {first}",
            generator.rejects
        ));
    }
    Ok(Flow {
        kind: WorkloadKind::XcSingle,
        seed,
        config,
        setup,
        rounds: vec![Round {
            prepare: Vec::new(),
            measured,
        }],
        sample_every_default: 16,
        sample_unit: "one engine command",
        expected_state_hash: Some(generator.engine.state_hash()),
        generation_rejects: generator.rejects,
        generation_resting_orders: Some(generator.live.len() as u64),
        notes,
    })
}
