//! New orders: validation, pre-trade risk, reservation, matching against the book, and what happens to the rest.

use super::Engine;
use crate::book::OrderBook;
use crate::command::NewOrder;
use crate::event::{BookEvent, CancelReason, Event, EventSink, RejectReason, TradingActionReason};
use crate::index::pair_key;
use crate::instrument::{fee_per_lot, Instrument};
use crate::order::{Handle, Order, NIL};
use crate::types::*;

/// Why matching an incoming order stopped before it ran out of quantity or crossing prices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MatchStop {
    /// Nothing more to trade at the limit, or the order is filled.
    Exhausted,
    /// Self-trade prevention cancelled the incoming order's rest.
    SelfTrade,
    /// A trade would have tripped the circuit breaker; the instrument is now halted.
    Breaker,
}

/// What settlement needs to know about the instrument, read once per incoming order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SettleTerms {
    pub base_asset: AssetId,
    pub quote_asset: AssetId,
    pub lot_size: u64,
    pub quote_per_price_lot: u64,
}

/// The reservation an order needs and the fee rates it will pay.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reservation {
    pub reserve_per_lot: u64,
    pub total: u64,
    pub maker_fee_ppm: u32,
    pub taker_fee_ppm: u32,
}

impl<B: OrderBook> Engine<B> {
    /// Checks a limit price against the instrument's tick and band.
    pub(crate) fn check_price(instrument: &Instrument, price: Price) -> Result<(), RejectReason> {
        if price <= 0 {
            return Err(RejectReason::InvalidPrice);
        }
        let tick = instrument.spec.tick;
        if tick != 1 && price % tick != 0 {
            return Err(RejectReason::PriceNotOnTick);
        }
        if price < instrument.band_low || price > instrument.band_high {
            return Err(RejectReason::PriceOutsideBand);
        }
        Ok(())
    }

    /// Pre-trade risk on one order of `qty` lots at `price` and the reservation it needs.
    pub(crate) fn check_risk(
        &self,
        instrument: &Instrument,
        account: AccountId,
        side: Side,
        price: Price,
        qty: Qty,
    ) -> Result<Reservation, RejectReason> {
        let Some(account) = self.account(account) else {
            return Err(RejectReason::UnknownAccount);
        };
        let spec = &account.spec;
        if qty == 0 {
            return Err(RejectReason::InvalidQty);
        }
        if qty > spec.max_order_qty {
            return Err(RejectReason::QtyAboveMax);
        }
        // Every order that can be reserved has a notional below 2^62, so 64-bit products checked for overflow
        // decide every case: an overflowing notional is above any limit, an overflowing reservation unpayable.
        if price <= 0 {
            return Err(RejectReason::InvalidPrice);
        }
        let lot_value = (price as u64).checked_mul(instrument.spec.quote_per_price_lot);
        let Some(notional) = lot_value.and_then(|value| value.checked_mul(qty)) else {
            return Err(RejectReason::NotionalAboveMax);
        };
        if notional > spec.max_order_notional {
            return Err(RejectReason::NotionalAboveMax);
        }
        let lot_value = lot_value.unwrap_or(0);
        let tier = self
            .fee_tiers
            .get(spec.fee_tier as usize)
            .copied()
            .unwrap_or_default();
        let reserve_per_lot = match side {
            Side::Buy => {
                let fee = fee_per_lot(
                    lot_value as u128,
                    tier.maker_fee_ppm.max(tier.taker_fee_ppm),
                );
                u64::try_from(fee)
                    .ok()
                    .and_then(|fee| lot_value.checked_add(fee))
            }
            Side::Sell => Some(instrument.spec.lot_size),
        };
        let Some((reserve_per_lot, total)) =
            reserve_per_lot.and_then(|per_lot| Some((per_lot, per_lot.checked_mul(qty)?)))
        else {
            return Err(RejectReason::NotionalOverflow);
        };
        // Keeping every reservation below 2^62 leaves room for settlement sums without overflow.
        if total >= 1 << 62 {
            return Err(RejectReason::NotionalOverflow);
        }
        Ok(Reservation {
            reserve_per_lot,
            total,
            maker_fee_ppm: tier.maker_fee_ppm,
            taker_fee_ppm: tier.taker_fee_ppm,
        })
    }

    pub(crate) fn has_funds(&self, account: AccountId, asset: AssetId, amount: u64) -> bool {
        self.balances[self.balance_slot(account, asset)].available >= amount
    }

    pub(crate) fn new_order(&mut self, cmd: &NewOrder, sink: &mut impl EventSink) {
        let reject = |sink: &mut _, reason| Self::reject(sink, cmd.session, cmd.user_ref, reason);
        let Some(instrument) = self.instrument(cmd.instrument) else {
            return reject(sink, RejectReason::UnknownInstrument);
        };
        match instrument.status {
            InstrumentStatus::Trading => {}
            InstrumentStatus::Halted => return reject(sink, RejectReason::InstrumentHalted),
            InstrumentStatus::CancelOnly => return reject(sink, RejectReason::CancelOnly),
        }
        let Some(account) = self.account(cmd.account) else {
            return reject(sink, RejectReason::UnknownAccount);
        };
        if !account.spec.order_entry_enabled {
            return reject(sink, RejectReason::OrderEntryDisabled);
        }
        // A market order is an IOC limited at the band's protection price.
        let (price, time_in_force) = match cmd.order_type {
            OrderType::Market => (instrument.protection_price(cmd.side), TimeInForce::Ioc),
            OrderType::Limit => (cmd.price, cmd.time_in_force),
        };
        if let Err(reason) = Self::check_price(instrument, price) {
            return reject(sink, reason);
        }
        let immediate = time_in_force == TimeInForce::Ioc;
        if cmd.min_qty > 0 && (!immediate || cmd.min_qty > cmd.qty) {
            return reject(sink, RejectReason::InvalidMinQty);
        }
        if cmd.display_qty > 0 && (immediate || cmd.display_qty > cmd.qty) {
            return reject(sink, RejectReason::InvalidDisplayQty);
        }
        if cmd.post_only && immediate {
            return reject(sink, RejectReason::InvalidTimeInForce);
        }
        if time_in_force == TimeInForce::Gtt && cmd.expire_time_ns <= self.now_ns {
            return reject(sink, RejectReason::InvalidExpireTime);
        }
        let reservation = match self.check_risk(instrument, cmd.account, cmd.side, price, cmd.qty) {
            Ok(reservation) => reservation,
            Err(reason) => return reject(sink, reason),
        };
        let book = &self.books[cmd.instrument as usize];
        let opposite_best = book.best_price(&self.orders, cmd.side.opposite());
        if cmd.post_only && opposite_best.is_some_and(|best| cmd.side.crosses(price, best)) {
            return reject(sink, RejectReason::PostOnlyWouldTrade);
        }
        if !immediate {
            // Everything a resting order needs is checked before anything happens, so no order is accepted and
            // then found to have nowhere to rest.
            if account.open_orders >= account.spec.max_open_orders {
                return reject(sink, RejectReason::TooManyOpenOrders);
            }
            if self.orders.is_full() || !book.can_insert(&self.orders, cmd.side, price) {
                return reject(sink, RejectReason::BookFull);
            }
            if self
                .by_user_ref
                .get(pair_key(cmd.session, cmd.user_ref))
                .is_some()
            {
                return reject(sink, RejectReason::DuplicateUserRef);
            }
        }
        let asset = Self::reserved_asset(instrument, cmd.side);
        if !self.has_funds(cmd.account, asset, reservation.total) {
            return reject(sink, RejectReason::InsufficientFunds);
        }

        self.reserve(cmd.account, asset, reservation.total);
        let id = self.next_order_id;
        self.next_order_id += 1;
        let mut order = Order {
            id,
            feed_ref: id,
            session: cmd.session,
            account: cmd.account,
            user_ref: cmd.user_ref,
            instrument: cmd.instrument,
            side: cmd.side,
            time_in_force,
            group: cmd.group,
            price,
            leaves: cmd.qty,
            display: cmd.qty,
            max_floor: cmd.display_qty,
            expire_time_ns: if time_in_force == TimeInForce::Gtt {
                cmd.expire_time_ns
            } else {
                0
            },
            reserve_per_lot: reservation.reserve_per_lot,
            maker_fee_ppm: reservation.maker_fee_ppm,
            taker_fee_ppm: reservation.taker_fee_ppm,
            ..Order::EMPTY
        };
        sink.push(Event::Accepted {
            session: cmd.session,
            account: cmd.account,
            user_ref: cmd.user_ref,
            order_id: id,
            instrument: cmd.instrument,
            side: cmd.side,
            price,
            qty: cmd.qty,
            time_in_force,
        });

        if cmd.min_qty > 0 && self.tradeable_qty(&order, cmd.min_qty) < cmd.min_qty {
            return self.cancel_incoming(&order, CancelReason::MinQtyNotMet, sink);
        }
        let stop = if opposite_best.is_some_and(|best| cmd.side.crosses(price, best)) {
            self.match_incoming(&mut order, sink)
        } else {
            MatchStop::Exhausted
        };
        self.finish_incoming(&mut order, stop, BookPlacement::Add, sink);
    }

    /// What to tell the feed when an incoming order rests.
    pub(crate) fn finish_incoming(
        &mut self,
        order: &mut Order,
        stop: MatchStop,
        placement: BookPlacement,
        sink: &mut impl EventSink,
    ) -> Handle {
        if order.leaves == 0 || stop == MatchStop::SelfTrade {
            return NIL;
        }
        match stop {
            MatchStop::Breaker => {
                self.cancel_incoming(order, CancelReason::CircuitBreaker, sink);
                NIL
            }
            _ if order.time_in_force == TimeInForce::Ioc => {
                self.cancel_incoming(order, CancelReason::ImmediateOrCancel, sink);
                NIL
            }
            _ => {
                order.display = if order.max_floor > 0 {
                    order.max_floor.min(order.leaves)
                } else {
                    order.leaves
                };
                let handle = self.rest(order);
                let event = match placement {
                    BookPlacement::Add => BookEvent::Add {
                        instrument: order.instrument,
                        order_ref: order.feed_ref,
                        side: order.side,
                        price: order.price,
                        qty: order.display,
                    },
                    BookPlacement::ReplaceOf(old_ref) => BookEvent::Replace {
                        instrument: order.instrument,
                        old_ref,
                        new_ref: order.feed_ref,
                        price: order.price,
                        qty: order.display,
                    },
                };
                sink.push(Event::Book(event));
                handle
            }
        }
    }

    /// Cancels what is left of an order that is not on the book.
    pub(crate) fn cancel_incoming(
        &mut self,
        order: &Order,
        reason: CancelReason,
        sink: &mut impl EventSink,
    ) {
        self.release_lots(order, order.leaves);
        sink.push(Event::Canceled {
            session: order.session,
            account: order.account,
            user_ref: order.user_ref,
            order_id: order.id,
            instrument: order.instrument,
            qty: order.leaves,
            reason,
        });
    }

    #[inline]
    fn prevents_self_trade(
        taker_account: AccountId,
        taker_group: u32,
        maker: &Order,
        maker_group: u32,
    ) -> bool {
        taker_account == maker.account || (taker_group != 0 && taker_group == maker_group)
    }

    /// How much the order could trade right now, up to `enough`, following the same rules as matching: it stops
    /// where self-trade prevention would stop the order or the circuit breaker would trip.
    fn tradeable_qty(&self, order: &Order, enough: Qty) -> Qty {
        let Some(instrument) = self.instrument(order.instrument) else {
            return 0;
        };
        let taker_spec = self.accounts[order.account as usize].spec;
        let mut range = instrument.breaker.range(self.now_ns);
        let mut total: Qty = 0;
        self.books[order.instrument as usize].visit(
            &self.orders,
            order.side.opposite(),
            |handle| {
                let maker = self.orders.get(handle);
                if !order.side.crosses(order.price, maker.price) {
                    return false;
                }
                let maker_group = self.accounts[maker.account as usize].spec.stp_group;
                if Self::prevents_self_trade(
                    order.account,
                    taker_spec.stp_group,
                    maker,
                    maker_group,
                ) {
                    // Cancelling the resting order lets matching go on; the other modes end it.
                    return taker_spec.stp_mode == StpMode::CancelResting;
                }
                if instrument.breaker.trips(range, maker.price) {
                    return false;
                }
                range = Some(match range {
                    None => (maker.price, maker.price),
                    Some((low, high)) => (low.min(maker.price), high.max(maker.price)),
                });
                total += maker.leaves;
                total < enough
            },
        );
        total
    }

    /// Trades the incoming order against the opposite side in price-time priority.
    pub(crate) fn match_incoming(
        &mut self,
        taker: &mut Order,
        sink: &mut impl EventSink,
    ) -> MatchStop {
        let instrument_id = taker.instrument;
        let Some(instrument) = self.instruments[instrument_id as usize].as_ref() else {
            return MatchStop::Exhausted;
        };
        let terms = SettleTerms {
            base_asset: instrument.spec.base_asset,
            quote_asset: instrument.spec.quote_asset,
            lot_size: instrument.spec.lot_size,
            quote_per_price_lot: instrument.spec.quote_per_price_lot,
        };
        let breaker_on = instrument.breaker.is_on();
        let (taker_group, taker_mode) = {
            let spec = &self.accounts[taker.account as usize].spec;
            (spec.stp_group, spec.stp_mode)
        };
        let maker_side = taker.side.opposite();
        let mut last_price: Option<Price> = None;
        let mut stop = MatchStop::Exhausted;
        while taker.leaves > 0 {
            let Some(maker_handle) =
                self.books[instrument_id as usize].best(&self.orders, maker_side)
            else {
                break;
            };
            let maker = self.orders.get(maker_handle);
            let price = maker.price;
            if !taker.side.crosses(taker.price, price) {
                break;
            }
            let maker_group = self.accounts[maker.account as usize].spec.stp_group;
            if Self::prevents_self_trade(taker.account, taker_group, maker, maker_group) {
                let maker = *maker;
                let prevented_qty = taker.leaves.min(maker.display);
                if taker_mode != StpMode::CancelIncoming {
                    self.self_trade_cancel(
                        &maker,
                        maker.leaves,
                        prevented_qty,
                        price,
                        Liquidity::Maker,
                        sink,
                    );
                    sink.push(Event::Book(BookEvent::Delete {
                        instrument: instrument_id,
                        order_ref: maker.feed_ref,
                    }));
                    self.release_lots(&maker, maker.leaves);
                    self.unrest(maker_handle);
                }
                if taker_mode != StpMode::CancelResting {
                    self.self_trade_cancel(
                        taker,
                        taker.leaves,
                        prevented_qty,
                        price,
                        Liquidity::Taker,
                        sink,
                    );
                    self.release_lots(taker, taker.leaves);
                    taker.leaves = 0;
                    stop = MatchStop::SelfTrade;
                    break;
                }
                continue;
            }
            let qty = taker.leaves.min(maker.display);
            let maker_leaves = maker.leaves - qty;
            let maker_display_gone = maker.display == qty;
            let maker_fee_ppm = maker.maker_fee_ppm;
            let (
                maker_session,
                maker_account,
                maker_user_ref,
                maker_id,
                maker_feed_ref,
                maker_reserve_per_lot,
            ) = (
                maker.session,
                maker.account,
                maker.user_ref,
                maker.id,
                maker.feed_ref,
                maker.reserve_per_lot,
            );
            if breaker_on && self.breaker_trips(instrument_id, price, sink) {
                stop = MatchStop::Breaker;
                break;
            }
            let lot_value = price as u128 * terms.quote_per_price_lot as u128;
            let maker_fee = (fee_per_lot(lot_value, maker_fee_ppm) * qty as u128) as u64;
            let taker_fee = (fee_per_lot(lot_value, taker.taker_fee_ppm) * qty as u128) as u64;
            match taker.side {
                Side::Buy => self.settle(
                    &terms,
                    (taker.account, taker.reserve_per_lot, taker_fee),
                    (maker_account, maker_fee),
                    price,
                    qty,
                ),
                Side::Sell => self.settle(
                    &terms,
                    (maker_account, maker_reserve_per_lot, maker_fee),
                    (taker.account, taker_fee),
                    price,
                    qty,
                ),
            }
            let match_number = self.next_match_number;
            self.next_match_number += 1;
            taker.leaves -= qty;
            sink.push(Event::Executed {
                session: maker_session,
                account: maker_account,
                user_ref: maker_user_ref,
                order_id: maker_id,
                instrument: instrument_id,
                side: maker_side,
                price,
                qty,
                leaves: maker_leaves,
                match_number,
                liquidity: Liquidity::Maker,
                fee: maker_fee,
            });
            sink.push(Event::Executed {
                session: taker.session,
                account: taker.account,
                user_ref: taker.user_ref,
                order_id: taker.id,
                instrument: instrument_id,
                side: taker.side,
                price,
                qty,
                leaves: taker.leaves,
                match_number,
                liquidity: Liquidity::Taker,
                fee: taker_fee,
            });
            sink.push(Event::Book(BookEvent::Execute {
                instrument: instrument_id,
                order_ref: maker_feed_ref,
                qty,
                price,
                match_number,
            }));
            last_price = Some(price);

            if maker_display_gone {
                if maker_leaves == 0 {
                    self.unrest(maker_handle);
                } else {
                    self.orders.get_mut(maker_handle).leaves = maker_leaves;
                    self.refill_iceberg(maker_handle, sink);
                }
            } else {
                self.books[instrument_id as usize].reduce_display(
                    &mut self.orders,
                    maker_handle,
                    qty,
                );
                self.orders.get_mut(maker_handle).leaves = maker_leaves;
            }
        }
        if let Some(price) = last_price {
            if let Some(instrument) = self.instruments[instrument_id as usize].as_mut() {
                instrument.last_trade_price = price;
                instrument.recentre(price);
            }
        }
        stop
    }

    /// Records a trade at `price` in the circuit breaker, or, if the trade would move the price too far, halts the
    /// instrument instead and says so.
    #[cold]
    fn breaker_trips(
        &mut self,
        instrument_id: InstrumentId,
        price: Price,
        sink: &mut impl EventSink,
    ) -> bool {
        let now_ns = self.now_ns;
        let Some(instrument) = self.instruments[instrument_id as usize].as_mut() else {
            return false;
        };
        let range = instrument.breaker.range(now_ns);
        if !instrument.breaker.trips(range, price) {
            instrument.breaker.record(now_ns, price);
            return false;
        }
        instrument.status = InstrumentStatus::Halted;
        instrument.halt_until_ns = now_ns.saturating_add(instrument.spec.breaker_halt_ns);
        self.next_timer_ns = self.next_timer_ns.min(instrument.halt_until_ns);
        sink.push(Event::TradingAction {
            instrument: instrument_id,
            status: InstrumentStatus::Halted,
            reason: TradingActionReason::CircuitBreaker,
        });
        true
    }

    /// An iceberg whose displayed part traded shows a new part, under a new reference, at the back of its level.
    fn refill_iceberg(&mut self, handle: Handle, sink: &mut impl EventSink) {
        let book = &mut self.books[self.orders.get(handle).instrument as usize];
        book.remove(&mut self.orders, handle);
        let feed_ref = self.next_order_id;
        self.next_order_id += 1;
        let order = self.orders.get_mut(handle);
        order.display = order.max_floor.min(order.leaves);
        order.feed_ref = feed_ref;
        let event = BookEvent::Add {
            instrument: order.instrument,
            order_ref: feed_ref,
            side: order.side,
            price: order.price,
            qty: order.display,
        };
        book.insert(&mut self.orders, handle);
        sink.push(Event::Book(event));
    }

    fn self_trade_cancel(
        &self,
        order: &Order,
        qty: Qty,
        prevented_qty: Qty,
        price: Price,
        liquidity: Liquidity,
        sink: &mut impl EventSink,
    ) {
        sink.push(Event::SelfTradeCanceled {
            session: order.session,
            account: order.account,
            user_ref: order.user_ref,
            order_id: order.id,
            instrument: order.instrument,
            qty,
            prevented_qty,
            price,
            liquidity,
        });
    }
}

/// How a resting order appears on the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BookPlacement {
    Add,
    /// It replaces the displayed order with this reference, which left the book without trading.
    ReplaceOf(OrderId),
}
