//! Events to rows. One command's events become rows keyed by (seq, event_index), the command's sequence number and
//! the event's place in its output, so that a row's key says exactly which event it came from.
//!
//! Rejections, session replies and the ITCH book events are not stored: they change no order, balance or trade.

use super::balances::{BalanceChange, BalanceTracker};
use super::db::{Batch, Param, Stmt};
use crossline_engine::{
    symbol_text, CancelReason, Command, CommandBody, Engine, Event, InstrumentStatus, Liquidity,
    QuoteSide, Side, TimeInForce, TradingActionReason,
};
use std::collections::{BTreeMap, HashMap};

/// Candle intervals kept, in seconds: one minute, one hour, one day.
pub const CANDLE_INTERVALS_S: [u64; 3] = [60, 3_600, 86_400];

pub fn side_name(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

pub fn tif_name(tif: TimeInForce) -> &'static str {
    match tif {
        TimeInForce::Day => "day",
        TimeInForce::Gtc => "gtc",
        TimeInForce::Gtt => "gtt",
        TimeInForce::Ioc => "ioc",
    }
}

pub fn status_name(status: InstrumentStatus) -> &'static str {
    match status {
        InstrumentStatus::Trading => "trading",
        InstrumentStatus::Halted => "halted",
        InstrumentStatus::CancelOnly => "cancel_only",
    }
}

fn liquidity_name(liquidity: Liquidity) -> &'static str {
    match liquidity {
        Liquidity::Maker => "maker",
        Liquidity::Taker => "taker",
    }
}

fn cancel_reason_name(reason: CancelReason) -> &'static str {
    match reason {
        CancelReason::UserRequested => "user_requested",
        CancelReason::ImmediateOrCancel => "immediate_or_cancel",
        CancelReason::MinQtyNotMet => "min_qty_not_met",
        CancelReason::SelfTradePrevention => "self_trade_prevention",
        CancelReason::Expired => "expired",
        CancelReason::EndOfDay => "end_of_day",
        CancelReason::MassCancel => "mass_cancel",
        CancelReason::Disconnect => "disconnect",
        CancelReason::Admin => "admin",
        CancelReason::QuoteReplaced => "quote_replaced",
        CancelReason::CircuitBreaker => "circuit_breaker",
    }
}

fn action_reason_name(reason: TradingActionReason) -> &'static str {
    match reason {
        TradingActionReason::Operator => "operator",
        TradingActionReason::CircuitBreaker => "circuit_breaker",
        TradingActionReason::HaltEnded => "halt_ended",
    }
}

/// The kind of command that caused a balance change.
pub fn command_name(body: &CommandBody) -> &'static str {
    match body {
        CommandBody::AddInstrument(_) => "add_instrument",
        CommandBody::SetInstrumentStatus { .. } => "set_instrument_status",
        CommandBody::SetReferencePrice { .. } => "set_reference_price",
        CommandBody::SetFeeTier { .. } => "set_fee_tier",
        CommandBody::SetAccount(_) => "set_account",
        CommandBody::Deposit { .. } => "deposit",
        CommandBody::Withdraw { .. } => "withdraw",
        CommandBody::NewOrder(_) => "new_order",
        CommandBody::Cancel { .. } => "cancel",
        CommandBody::Replace(_) => "replace",
        CommandBody::Modify { .. } => "modify",
        CommandBody::CancelTo { .. } => "cancel_to",
        CommandBody::MassCancel(_) => "mass_cancel",
        CommandBody::Quote(_) => "quote",
        CommandBody::EndOfDay => "end_of_day",
        CommandBody::SetOrderEntry { .. } => "set_order_entry",
        CommandBody::Tick => "tick",
        CommandBody::SessionReply(_) => "session_reply",
        CommandBody::StateCheck { .. } => "state_check",
    }
}

#[derive(Debug, Clone, Copy)]
struct CandleDelta {
    open: i64,
    high: i64,
    low: i64,
    close: i64,
    volume: u64,
    trades: u64,
}

/// What translation needs to remember across commands: each account's fee tier (stamped on executions), each
/// instrument's quote asset (the asset fees are charged in), and every balance (to find what a command changed).
/// The first two are rebuilt by replaying the settings commands, and loaded from the engine and the database when
/// the replay starts from a snapshot.
#[derive(Debug)]
pub struct Translator {
    pub account_fee_tier: HashMap<u32, u32>,
    pub instrument_quote_asset: HashMap<u32, u32>,
    balances: BalanceTracker,
    changes: Vec<BalanceChange>,
    /// (instrument, interval_s, start_ns) -> this batch's part of the candle.
    candles: BTreeMap<(u32, u64, u64), CandleDelta>,
}

impl Translator {
    /// Starts from the engine's state as it is.
    pub fn new(engine: &Engine) -> Translator {
        Translator {
            account_fee_tier: HashMap::new(),
            instrument_quote_asset: engine
                .instrument_specs()
                .iter()
                .map(|spec| (spec.instrument, spec.quote_asset))
                .collect(),
            balances: BalanceTracker::new(engine),
            changes: Vec::with_capacity(64),
            candles: BTreeMap::new(),
        }
    }

    /// Remembers what later commands' rows need, without writing anything (a replay before the database's seq).
    pub fn observe(&mut self, engine: &Engine, command: &Command, events: &[Event]) {
        self.balances
            .changes(engine, command, events, &mut self.changes);
        self.observe_settings(command, events);
    }

    fn observe_settings(&mut self, command: &Command, events: &[Event]) {
        let accepted = events
            .iter()
            .any(|e| matches!(e, Event::SettingsApplied | Event::InstrumentAdded { .. }));
        if !accepted {
            return;
        }
        match command.body {
            CommandBody::SetAccount(spec) => {
                self.account_fee_tier.insert(spec.account, spec.fee_tier);
            }
            CommandBody::AddInstrument(spec) => {
                self.instrument_quote_asset
                    .insert(spec.instrument, spec.quote_asset);
            }
            _ => {}
        }
    }

    /// Adds the rows of one command that `engine` has just applied to `batch`.
    pub fn translate(
        &mut self,
        engine: &Engine,
        command: &Command,
        events: &[Event],
        batch: &mut Batch,
    ) {
        self.observe_settings(command, events);
        let seq = Param::U64(command.seq);
        let ts = Param::U64(command.timestamp_ns);
        let int = |v: u64| Param::U64(v);
        let signed = Param::Int;
        for (index, event) in events.iter().enumerate() {
            let ix = Param::U64(index as u64);
            match *event {
                Event::Accepted {
                    session,
                    account,
                    user_ref,
                    order_id,
                    instrument,
                    side,
                    price,
                    qty,
                    time_in_force,
                } => {
                    batch.push(
                        Stmt::InsertOrderEvent,
                        [
                            seq.clone(),
                            ix,
                            ts.clone(),
                            int(order_id),
                            int(0),
                            int(account.into()),
                            int(session.into()),
                            int(user_ref.into()),
                            int(instrument.into()),
                            Param::Str("accepted"),
                            Param::Str(side_name(side)),
                            signed(price),
                            int(qty),
                            int(qty),
                            Param::Str(""),
                        ],
                    );
                    batch.push(
                        Stmt::UpsertOrder,
                        [
                            int(order_id),
                            int(account.into()),
                            int(session.into()),
                            int(user_ref.into()),
                            int(instrument.into()),
                            Param::Str(side_name(side)),
                            signed(price),
                            int(qty),
                            int(qty),
                            Param::Str(tif_name(time_in_force)),
                            seq.clone(),
                            ts.clone(),
                        ],
                    );
                }
                Event::Executed {
                    session,
                    account,
                    user_ref,
                    order_id,
                    instrument,
                    side,
                    price,
                    qty,
                    leaves,
                    match_number,
                    liquidity,
                    fee,
                } => {
                    let fee_asset = self
                        .instrument_quote_asset
                        .get(&instrument)
                        .copied()
                        .unwrap_or(0);
                    let tier = self.account_fee_tier.get(&account).copied().unwrap_or(0);
                    batch.push(
                        Stmt::InsertExecution,
                        [
                            seq.clone(),
                            ix.clone(),
                            ts.clone(),
                            int(match_number),
                            int(order_id),
                            int(account.into()),
                            int(session.into()),
                            int(user_ref.into()),
                            int(instrument.into()),
                            Param::Str(side_name(side)),
                            signed(price),
                            int(qty),
                            int(leaves),
                            Param::Str(liquidity_name(liquidity)),
                            int(fee),
                            int(fee_asset.into()),
                            int(tier.into()),
                        ],
                    );
                    batch.push(
                        Stmt::InsertOrderEvent,
                        [
                            seq.clone(),
                            ix,
                            ts.clone(),
                            int(order_id),
                            int(match_number),
                            int(account.into()),
                            int(session.into()),
                            int(user_ref.into()),
                            int(instrument.into()),
                            Param::Str("executed"),
                            Param::Str(side_name(side)),
                            signed(price),
                            int(qty),
                            int(leaves),
                            Param::Str(liquidity_name(liquidity)),
                        ],
                    );
                    batch.push(
                        Stmt::UpdateOrderExecuted,
                        [
                            int(order_id),
                            int(leaves),
                            Param::Str(if leaves == 0 { "filled" } else { "open" }),
                            seq.clone(),
                            ts.clone(),
                        ],
                    );
                    if liquidity == Liquidity::Taker {
                        self.add_trade(instrument, command.timestamp_ns, price, qty);
                    }
                }
                Event::Canceled {
                    session,
                    account,
                    user_ref,
                    order_id,
                    instrument,
                    qty,
                    reason,
                } => {
                    self.reduced(
                        batch,
                        command,
                        index,
                        "canceled",
                        (order_id, account, session, user_ref, instrument),
                        qty,
                        cancel_reason_name(reason),
                    );
                }
                Event::SelfTradeCanceled {
                    session,
                    account,
                    user_ref,
                    order_id,
                    instrument,
                    qty,
                    ..
                } => {
                    self.reduced(
                        batch,
                        command,
                        index,
                        "self_trade_canceled",
                        (order_id, account, session, user_ref, instrument),
                        qty,
                        "self_trade_prevention",
                    );
                }
                Event::Replaced {
                    session,
                    account,
                    user_ref,
                    old_order_id,
                    order_id,
                    instrument,
                    side,
                    price,
                    qty,
                    ..
                } => {
                    batch.push(
                        Stmt::InsertOrderEvent,
                        [
                            seq.clone(),
                            ix,
                            ts.clone(),
                            int(order_id),
                            int(old_order_id),
                            int(account.into()),
                            int(session.into()),
                            int(user_ref.into()),
                            int(instrument.into()),
                            Param::Str("replaced"),
                            Param::Str(side_name(side)),
                            signed(price),
                            int(qty),
                            int(qty),
                            Param::Str(""),
                        ],
                    );
                    if old_order_id == order_id {
                        batch.push(
                            Stmt::UpdateOrderAmended,
                            [
                                int(order_id),
                                int(user_ref.into()),
                                signed(price),
                                int(qty),
                                seq.clone(),
                                ts.clone(),
                            ],
                        );
                    } else {
                        batch.push(
                            Stmt::UpdateOrderReplaced,
                            [int(old_order_id), seq.clone(), ts.clone()],
                        );
                        let tif = match command.body {
                            CommandBody::Replace(_) => "replace",
                            _ => "gtc",
                        };
                        batch.push(
                            Stmt::UpsertOrder,
                            [
                                int(order_id),
                                int(account.into()),
                                int(session.into()),
                                int(user_ref.into()),
                                int(instrument.into()),
                                Param::Str(side_name(side)),
                                signed(price),
                                int(qty),
                                int(qty),
                                Param::Str(tif),
                                seq.clone(),
                                ts.clone(),
                            ],
                        );
                    }
                }
                Event::Modified {
                    session,
                    account,
                    user_ref,
                    order_id,
                    side,
                    qty,
                } => {
                    batch.push(
                        Stmt::InsertOrderEvent,
                        [
                            seq.clone(),
                            ix,
                            ts.clone(),
                            int(order_id),
                            int(0),
                            int(account.into()),
                            int(session.into()),
                            int(user_ref.into()),
                            int(0),
                            Param::Str("modified"),
                            Param::Str(side_name(side)),
                            signed(0),
                            int(qty),
                            int(qty),
                            Param::Str(""),
                        ],
                    );
                    batch.push(
                        Stmt::UpdateOrderLeaves,
                        [
                            int(order_id),
                            int(qty),
                            Param::Str(if qty == 0 { "canceled" } else { "open" }),
                            seq.clone(),
                            ts.clone(),
                        ],
                    );
                }
                Event::QuoteStatus {
                    session,
                    account,
                    user_ref,
                    instrument,
                    bid,
                    ask,
                } => {
                    for (side, quote) in [(Side::Buy, bid), (Side::Sell, ask)] {
                        self.quote_side(
                            batch,
                            command,
                            index,
                            (account, session, user_ref, instrument),
                            side,
                            quote,
                        );
                    }
                }
                Event::TradingAction {
                    instrument,
                    status,
                    reason,
                } => {
                    batch.push(
                        Stmt::InsertTradingAction,
                        [
                            seq.clone(),
                            ix,
                            ts.clone(),
                            int(instrument.into()),
                            Param::Str(status_name(status)),
                            Param::Str(action_reason_name(reason)),
                        ],
                    );
                    batch.push(
                        Stmt::UpdateInstrumentStatus,
                        [
                            int(instrument.into()),
                            Param::Str(status_name(status)),
                            seq.clone(),
                        ],
                    );
                }
                Event::InstrumentAdded { .. } => {
                    if let CommandBody::AddInstrument(spec) = command.body {
                        batch.push(
                            Stmt::InsertInstrument,
                            [
                                int(spec.instrument.into()),
                                Param::Text(symbol_text(&spec.symbol).to_string()),
                                int(spec.base_asset.into()),
                                int(spec.quote_asset.into()),
                                signed(spec.tick),
                                int(spec.lot_size),
                                int(spec.quote_per_price_lot),
                                signed(spec.reference_price),
                                int(spec.band_bps.into()),
                                seq.clone(),
                            ],
                        );
                    }
                }
                Event::SettingsApplied => match command.body {
                    CommandBody::SetFeeTier {
                        tier,
                        maker_fee_ppm,
                        taker_fee_ppm,
                    } => batch.push(
                        Stmt::UpsertFeeTier,
                        [
                            int(tier.into()),
                            int(maker_fee_ppm.into()),
                            int(taker_fee_ppm.into()),
                            seq.clone(),
                        ],
                    ),
                    CommandBody::SetAccount(spec) => batch.push(
                        Stmt::UpsertAccount,
                        [
                            int(spec.account.into()),
                            int(spec.fee_tier.into()),
                            int(spec.stp_group.into()),
                            int(spec.order_entry_enabled.into()),
                            seq.clone(),
                        ],
                    ),
                    CommandBody::SetReferencePrice { instrument, price } => batch.push(
                        Stmt::UpdateInstrumentReference,
                        [int(instrument.into()), signed(price), seq.clone()],
                    ),
                    _ => {}
                },
                // Balances: from the tracker below, which also sees the changes no event reports.
                Event::BalanceChanged { .. }
                | Event::Rejected { .. }
                | Event::QuoteRejected { .. }
                | Event::MassCanceled { .. }
                | Event::OrderEntrySet { .. }
                | Event::SessionReply(_)
                | Event::StateChecked { .. }
                | Event::Book(_) => {}
            }
        }
        self.balances
            .changes(engine, command, events, &mut self.changes);
        let cause = command_name(&command.body);
        for change in &self.changes {
            batch.push(
                Stmt::InsertBalanceChange,
                [
                    seq.clone(),
                    int(change.account.into()),
                    int(change.asset.into()),
                    ts.clone(),
                    int(change.balance.available),
                    int(change.balance.reserved),
                    Param::Str(cause),
                ],
            );
            batch.push(
                Stmt::UpsertBalance,
                [
                    int(change.account.into()),
                    int(change.asset.into()),
                    int(change.balance.available),
                    int(change.balance.reserved),
                    seq.clone(),
                ],
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn reduced(
        &mut self,
        batch: &mut Batch,
        command: &Command,
        index: usize,
        kind: &'static str,
        (order_id, account, session, user_ref, instrument): (u64, u32, u32, u32, u32),
        qty: u64,
        reason: &'static str,
    ) {
        let int = Param::U64;
        batch.push(
            Stmt::InsertOrderEvent,
            [
                int(command.seq),
                int(index as u64),
                int(command.timestamp_ns),
                int(order_id),
                int(0),
                int(account.into()),
                int(session.into()),
                int(user_ref.into()),
                int(instrument.into()),
                Param::Str(kind),
                Param::Str(""),
                Param::Int(0),
                int(qty),
                int(0),
                Param::Str(reason),
            ],
        );
        batch.push(
            Stmt::UpdateOrderReduced,
            [
                int(order_id),
                int(qty),
                int(command.seq),
                int(command.timestamp_ns),
            ],
        );
    }

    fn quote_side(
        &mut self,
        batch: &mut Batch,
        command: &Command,
        index: usize,
        (account, session, user_ref, instrument): (u32, u32, u32, u32),
        side: Side,
        quote: QuoteSide,
    ) {
        if quote.order_id == 0 {
            return;
        }
        let int = Param::U64;
        batch.push(
            Stmt::InsertOrderEvent,
            [
                int(command.seq),
                int(index as u64),
                int(command.timestamp_ns),
                int(quote.order_id),
                int(0),
                int(account.into()),
                int(session.into()),
                int(user_ref.into()),
                int(instrument.into()),
                Param::Str(if side == Side::Buy {
                    "quoted_bid"
                } else {
                    "quoted_ask"
                }),
                Param::Str(side_name(side)),
                Param::Int(quote.price),
                int(quote.qty),
                int(quote.qty),
                Param::Str(""),
            ],
        );
        batch.push(
            Stmt::UpsertOrder,
            [
                int(quote.order_id),
                int(account.into()),
                int(session.into()),
                int(user_ref.into()),
                int(instrument.into()),
                Param::Str(side_name(side)),
                Param::Int(quote.price),
                int(quote.qty),
                int(quote.qty),
                Param::Str("quote"),
                int(command.seq),
                int(command.timestamp_ns),
            ],
        );
    }

    fn add_trade(&mut self, instrument: u32, timestamp_ns: u64, price: i64, qty: u64) {
        for interval_s in CANDLE_INTERVALS_S {
            let length_ns = interval_s * 1_000_000_000;
            let start_ns = timestamp_ns - timestamp_ns % length_ns;
            self.candles
                .entry((instrument, interval_s, start_ns))
                .and_modify(|c| {
                    c.high = c.high.max(price);
                    c.low = c.low.min(price);
                    c.close = price;
                    c.volume += qty;
                    c.trades += 1;
                })
                .or_insert(CandleDelta {
                    open: price,
                    high: price,
                    low: price,
                    close: price,
                    volume: qty,
                    trades: 1,
                });
        }
    }

    /// Adds the batch's candle upserts (one per touched candle) and forgets them.
    pub fn flush_candles(&mut self, batch: &mut Batch) {
        let int = Param::U64;
        for ((instrument, interval_s, start_ns), c) in std::mem::take(&mut self.candles) {
            batch.push(
                Stmt::UpsertCandle,
                [
                    int(instrument.into()),
                    int(interval_s),
                    int(start_ns),
                    Param::Int(c.open),
                    Param::Int(c.high),
                    Param::Int(c.low),
                    Param::Int(c.close),
                    int(c.volume),
                    int(c.trades),
                    int(batch.last_seq),
                ],
            );
        }
    }
}
