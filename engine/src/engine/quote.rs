//! Market-maker quotes: one command replaces a session's two-sided quote on an instrument as a whole.

use super::matching::{BookPlacement, MatchStop, Reservation};
use super::Engine;
use crate::book::OrderBook;
use crate::command::Quote;
use crate::event::{CancelReason, Event, EventSink, QuoteSide, RejectReason};
use crate::index::pair_key;
use crate::order::{Handle, Order, NIL};
use crate::types::*;

/// What a quote command does to one side.
#[derive(Debug, Clone, Copy)]
enum SidePlan {
    /// Nothing quoted before or now.
    Nothing,
    /// Same price and size: the resting order stays as it is.
    Keep,
    /// Same price, smaller size: reduced in place, keeping priority.
    Reduce { by: Qty },
    /// A new order, replacing the old one if there was one.
    New {
        price: Price,
        qty: Qty,
        reservation: Reservation,
    },
    /// Zero size: the old order is withdrawn.
    Withdraw,
}

impl<B: OrderBook> Engine<B> {
    pub(crate) fn quote(&mut self, cmd: &Quote, sink: &mut impl EventSink) {
        let reject = |sink: &mut _, reason| {
            EventSink::push(
                sink,
                Event::QuoteRejected {
                    session: cmd.session,
                    user_ref: cmd.user_ref,
                    instrument: cmd.instrument,
                    reason,
                },
            )
        };
        let Some(instrument) = self.instrument(cmd.instrument).copied() else {
            return reject(sink, RejectReason::UnknownInstrument);
        };
        let Some(account) = self.account(cmd.account).copied() else {
            return reject(sink, RejectReason::UnknownAccount);
        };
        let quoting = cmd.bid_qty > 0 || cmd.ask_qty > 0;
        if quoting {
            match instrument.status {
                InstrumentStatus::Trading => {}
                InstrumentStatus::Halted => return reject(sink, RejectReason::InstrumentHalted),
                InstrumentStatus::CancelOnly => return reject(sink, RejectReason::CancelOnly),
            }
            if !account.spec.order_entry_enabled {
                return reject(sink, RejectReason::OrderEntryDisabled);
            }
        }
        if cmd.bid_qty > 0 && cmd.ask_qty > 0 && cmd.bid_price >= cmd.ask_price {
            return reject(sink, RejectReason::QuoteCrossed);
        }
        let key = pair_key(cmd.session, cmd.instrument);
        let entry = self.quote_index.get(key);
        let old_sides = entry.map_or([NIL, NIL], |slot| self.quotes[slot as usize].sides);

        let mut plans = [SidePlan::Nothing; 2];
        let mut new_orders = 0usize;
        let mut removed_orders = 0usize;
        // The session's previous quote may have been entered for another account: replacing it frees that
        // account's funds and open-order count, not the quoting account's.
        let mut removed_own_orders = 0usize;
        for side in [Side::Buy, Side::Sell] {
            let (price, qty) = match side {
                Side::Buy => (cmd.bid_price, cmd.bid_qty),
                Side::Sell => (cmd.ask_price, cmd.ask_qty),
            };
            let old = old_sides[side.index()];
            let old_order = (old != NIL).then(|| *self.orders.get(old));
            let plan = if qty == 0 {
                if old_order.is_some() {
                    SidePlan::Withdraw
                } else {
                    SidePlan::Nothing
                }
            } else {
                if let Err(reason) = Self::check_price(&instrument, price) {
                    return reject(sink, reason);
                }
                match old_order {
                    Some(old) if old.price == price && qty == old.leaves => SidePlan::Keep,
                    Some(old) if old.price == price && qty < old.leaves => SidePlan::Reduce {
                        by: old.leaves - qty,
                    },
                    _ => match self.check_risk(&instrument, cmd.account, side, price, qty) {
                        Ok(reservation) => SidePlan::New {
                            price,
                            qty,
                            reservation,
                        },
                        Err(reason) => return reject(sink, reason),
                    },
                }
            };
            if matches!(plan, SidePlan::New { .. }) {
                new_orders += 1;
                if !self.books[cmd.instrument as usize].can_insert(&self.orders, side, price) {
                    return reject(sink, RejectReason::BookFull);
                }
            }
            let own_old_order = old_order.filter(|old| old.account == cmd.account);
            if old_order.is_some() && matches!(plan, SidePlan::New { .. } | SidePlan::Withdraw) {
                removed_orders += 1;
                removed_own_orders += usize::from(own_old_order.is_some());
            }
            // Funds: what the new side needs against what is available plus what the old side frees, if the old
            // side is this account's.
            if let SidePlan::New { reservation, .. } = plan {
                let asset = Self::reserved_asset(&instrument, side);
                let freed = own_old_order.map_or(0, |old| old.leaves * old.reserve_per_lot);
                let available = self.balances[self.balance_slot(cmd.account, asset)].available;
                if (available as u128 + freed as u128) < reservation.total as u128 {
                    return reject(sink, RejectReason::InsufficientFunds);
                }
            }
            plans[side.index()] = plan;
        }
        if new_orders > removed_own_orders {
            let added = (new_orders - removed_own_orders) as u32;
            if account.open_orders + added > account.spec.max_open_orders {
                return reject(sink, RejectReason::TooManyOpenOrders);
            }
        }
        if new_orders > removed_orders
            && self.orders.capacity() - self.orders.live_count() < new_orders - removed_orders
        {
            return reject(sink, RejectReason::BookFull);
        }
        if entry.is_none() && new_orders > 0 && self.free_quotes.is_empty() {
            return reject(sink, RejectReason::BookFull);
        }

        // Every check passed. Old sides that go are cancelled first, so that a new side can never meet them
        // (as a self-trade) or find them half-gone; kept sides cannot cross a new side because bid < ask.
        for side in [Side::Buy, Side::Sell] {
            let old = old_sides[side.index()];
            if old != NIL
                && matches!(
                    plans[side.index()],
                    SidePlan::New { .. } | SidePlan::Withdraw
                )
            {
                self.cancel_resting(old, CancelReason::QuoteReplaced, sink);
            }
        }
        let mut status = [QuoteSide {
            order_id: 0,
            price: 0,
            qty: 0,
        }; 2];
        for side in [Side::Buy, Side::Sell] {
            let old = old_sides[side.index()];
            let placed = match plans[side.index()] {
                SidePlan::Nothing | SidePlan::Withdraw => NIL,
                SidePlan::Keep => old,
                SidePlan::Reduce { by } => {
                    self.reduce_resting(old, by, sink);
                    old
                }
                SidePlan::New {
                    price,
                    qty,
                    reservation,
                } => self.place_quote_side(cmd, side, price, qty, reservation, sink),
            };
            if placed != NIL {
                let order = self.orders.get(placed);
                status[side.index()] = QuoteSide {
                    order_id: order.id,
                    price: order.price,
                    qty: order.leaves,
                };
                self.set_quote_side(cmd.session, cmd.instrument, side, placed);
            }
        }
        sink.push(Event::QuoteStatus {
            session: cmd.session,
            account: cmd.account,
            user_ref: cmd.user_ref,
            instrument: cmd.instrument,
            bid: status[0],
            ask: status[1],
        });
    }

    /// Enters one new side of a quote: it trades like any incoming order, and what is left rests.
    fn place_quote_side(
        &mut self,
        cmd: &Quote,
        side: Side,
        price: Price,
        qty: Qty,
        reservation: Reservation,
        sink: &mut impl EventSink,
    ) -> Handle {
        let Some(instrument) = self.instrument(cmd.instrument).copied() else {
            return NIL;
        };
        self.reserve(
            cmd.account,
            Self::reserved_asset(&instrument, side),
            reservation.total,
        );
        let id = self.next_order_id;
        self.next_order_id += 1;
        let mut order = Order {
            id,
            feed_ref: id,
            session: cmd.session,
            account: cmd.account,
            user_ref: cmd.user_ref,
            instrument: cmd.instrument,
            side,
            time_in_force: TimeInForce::Day,
            is_quote: true,
            price,
            leaves: qty,
            display: qty,
            reserve_per_lot: reservation.reserve_per_lot,
            maker_fee_ppm: reservation.maker_fee_ppm,
            taker_fee_ppm: reservation.taker_fee_ppm,
            ..Order::EMPTY
        };
        let book = &self.books[cmd.instrument as usize];
        let crosses = book
            .best_price(&self.orders, side.opposite())
            .is_some_and(|best| side.crosses(price, best));
        let stop = if crosses {
            self.match_incoming(&mut order, sink)
        } else {
            MatchStop::Exhausted
        };
        self.finish_incoming(&mut order, stop, BookPlacement::Add, sink)
    }

    pub(crate) fn restore_quote_side(
        &mut self,
        session: SessionId,
        instrument: InstrumentId,
        side: Side,
        handle: Handle,
    ) {
        self.set_quote_side(session, instrument, side, handle);
    }

    fn set_quote_side(
        &mut self,
        session: SessionId,
        instrument: InstrumentId,
        side: Side,
        handle: Handle,
    ) {
        let key = pair_key(session, instrument);
        let slot = match self.quote_index.get(key) {
            Some(slot) => slot,
            None => {
                // Room was checked before anything changed.
                let Some(slot) = self.free_quotes.pop() else {
                    return;
                };
                self.quotes[slot as usize].sides = [NIL, NIL];
                self.quote_index.insert(key, slot);
                slot
            }
        };
        self.quotes[slot as usize].sides[side.index()] = handle;
    }

    /// Forgets a quote side that left the book; the quote entry goes when both sides are gone.
    pub(crate) fn clear_quote_side(
        &mut self,
        session: SessionId,
        instrument: InstrumentId,
        side: Side,
        handle: Handle,
    ) {
        let key = pair_key(session, instrument);
        let Some(slot) = self.quote_index.get(key) else {
            return;
        };
        let entry = &mut self.quotes[slot as usize];
        if entry.sides[side.index()] == handle {
            entry.sides[side.index()] = NIL;
        }
        if entry.sides == [NIL, NIL] {
            self.quote_index.remove(key);
            self.free_quotes.push(slot);
        }
    }
}
