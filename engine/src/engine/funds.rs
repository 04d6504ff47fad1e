//! Reservations, settlement, and the bookkeeping of an order entering and leaving the book.

use super::matching::SettleTerms;
use super::Engine;
use crate::book::OrderBook;
use crate::event::{BookEvent, CancelReason, Event, EventSink};
use crate::index::pair_key;
use crate::instrument::Instrument;
use crate::order::{Handle, Order, NIL};
use crate::types::*;

impl<B: OrderBook> Engine<B> {
    /// The asset an order on `side` reserves.
    #[inline]
    pub(crate) fn reserved_asset(instrument: &Instrument, side: Side) -> AssetId {
        match side {
            Side::Buy => instrument.spec.quote_asset,
            Side::Sell => instrument.spec.base_asset,
        }
    }

    /// Moves `amount` from available to reserved. The caller has checked that it is available.
    #[inline]
    pub(crate) fn reserve(&mut self, account: AccountId, asset: AssetId, amount: u64) {
        let slot = self.balance_slot(account, asset);
        let balance = &mut self.balances[slot];
        balance.available -= amount;
        balance.reserved += amount;
    }

    /// Moves `amount` from reserved back to available.
    #[inline]
    pub(crate) fn release(&mut self, account: AccountId, asset: AssetId, amount: u64) {
        let slot = self.balance_slot(account, asset);
        let balance = &mut self.balances[slot];
        balance.reserved -= amount;
        balance.available += amount;
    }

    /// Releases what `qty` open lots of the order hold.
    #[inline]
    pub(crate) fn release_lots(&mut self, order: &Order, qty: Qty) {
        let Some(instrument) = self.instruments[order.instrument as usize].as_ref() else {
            return;
        };
        let asset = Self::reserved_asset(instrument, order.side);
        self.release(order.account, asset, qty * order.reserve_per_lot);
    }

    /// Settles one fill of `qty` lots at `price`: the buyer is (account, reservation per lot, fee), the seller
    /// (account, fee); both pay their fee in quote units to the fee account. The buyer's reservation per lot covers
    /// the price and the fee at its limit, and the fill price is never above that limit, so the reservation always
    /// covers what is paid; the seller's fee never exceeds its proceeds.
    #[inline]
    pub(crate) fn settle(
        &mut self,
        terms: &SettleTerms,
        (buyer, buyer_reserve_per_lot, buyer_fee): (AccountId, u64, u64),
        (seller, seller_fee): (AccountId, u64),
        price: Price,
        qty: Qty,
    ) {
        let notional = (price as u128 * qty as u128 * terms.quote_per_price_lot as u128) as u64;
        let buyer_reserved = qty * buyer_reserve_per_lot;
        let base_amount = qty * terms.lot_size;

        let slot = self.balance_slot(buyer, terms.quote_asset);
        let quote = &mut self.balances[slot];
        quote.reserved -= buyer_reserved;
        quote.available += buyer_reserved - notional - buyer_fee;
        let slot = self.balance_slot(buyer, terms.base_asset);
        self.balances[slot].available += base_amount;

        let slot = self.balance_slot(seller, terms.base_asset);
        self.balances[slot].reserved -= base_amount;
        let slot = self.balance_slot(seller, terms.quote_asset);
        self.balances[slot].available += notional - seller_fee;

        let slot = self.balance_slot(self.config.fee_account, terms.quote_asset);
        self.balances[slot].available += buyer_fee + seller_fee;
    }

    /// Puts an accepted order on the book and into every index: the pool, the user reference index (or its
    /// quote), the account's list and the expiry heap. Returns its handle. The caller checked that the pool, the
    /// index and the book have room.
    pub(crate) fn rest(&mut self, order: &Order) -> Handle {
        let Some(handle) = self.orders.alloc(order) else {
            return NIL;
        };
        if !order.is_quote {
            self.by_user_ref
                .insert(pair_key(order.session, order.user_ref), handle);
        }
        self.link_account(handle);
        if order.time_in_force == TimeInForce::Gtt {
            self.expiry.push(&mut self.orders, handle);
            self.next_timer_ns = self.next_timer_ns.min(order.expire_time_ns);
        }
        self.books[order.instrument as usize].insert(&mut self.orders, handle);
        handle
    }

    /// Takes a resting order out of the book and every index and frees its slot. Its reservation must already be
    /// settled or released.
    pub(crate) fn unrest(&mut self, handle: Handle) {
        let order = *self.orders.get(handle);
        self.books[order.instrument as usize].remove(&mut self.orders, handle);
        if order.is_quote {
            self.clear_quote_side(order.session, order.instrument, order.side, handle);
        } else {
            self.by_user_ref
                .remove(pair_key(order.session, order.user_ref));
        }
        self.unlink_account(handle);
        if order.heap_pos != NIL {
            self.expiry.remove(&mut self.orders, handle);
        }
        self.orders.release(handle);
    }

    fn link_account(&mut self, handle: Handle) {
        let account_id = self.orders.get(handle).account as usize;
        let account = &mut self.accounts[account_id];
        let tail = account.orders_tail;
        account.orders_tail = handle;
        if tail == NIL {
            account.orders_head = handle;
        } else {
            self.orders.get_mut(tail).account_next = handle;
        }
        account.open_orders += 1;
        let order = self.orders.get_mut(handle);
        order.account_prev = tail;
        order.account_next = NIL;
    }

    fn unlink_account(&mut self, handle: Handle) {
        let (account_id, prev, next) = {
            let order = self.orders.get(handle);
            (
                order.account as usize,
                order.account_prev,
                order.account_next,
            )
        };
        if prev != NIL {
            self.orders.get_mut(prev).account_next = next;
        }
        if next != NIL {
            self.orders.get_mut(next).account_prev = prev;
        }
        let account = &mut self.accounts[account_id];
        if account.orders_head == handle {
            account.orders_head = next;
        }
        if account.orders_tail == handle {
            account.orders_tail = prev;
        }
        account.open_orders -= 1;
    }

    /// Cancels a resting order entirely: releases its reservation, tells the owner and the feed, frees it.
    pub(crate) fn cancel_resting(
        &mut self,
        handle: Handle,
        reason: CancelReason,
        sink: &mut impl EventSink,
    ) {
        let order = *self.orders.get(handle);
        self.release_lots(&order, order.leaves);
        sink.push(Event::Canceled {
            session: order.session,
            account: order.account,
            user_ref: order.user_ref,
            order_id: order.id,
            instrument: order.instrument,
            qty: order.leaves,
            reason,
        });
        sink.push(Event::Book(BookEvent::Delete {
            instrument: order.instrument,
            order_ref: order.feed_ref,
        }));
        self.unrest(handle);
    }

    /// Takes `qty` off a resting order's open quantity, hidden part first, keeping its priority; releases what the
    /// lots held and tells the feed how much of the displayed part went. `qty` is below the order's open quantity.
    pub(crate) fn reduce_resting(&mut self, handle: Handle, qty: Qty, sink: &mut impl EventSink) {
        let order = *self.orders.get(handle);
        let from_hidden = qty.min(order.hidden());
        let from_display = qty - from_hidden;
        self.books[order.instrument as usize].reduce_display(
            &mut self.orders,
            handle,
            from_display,
        );
        self.orders.get_mut(handle).leaves -= qty;
        self.release_lots(&order, qty);
        if from_display > 0 {
            sink.push(Event::Book(BookEvent::Cancel {
                instrument: order.instrument,
                order_ref: order.feed_ref,
                qty: from_display,
            }));
        }
    }
}
