//! Changes to resting orders: cancel, modify (reduce), replace, mass cancel and the end of the trading day.

use super::matching::{BookPlacement, MatchStop};
use super::Engine;
use crate::book::OrderBook;
use crate::command::{MassCancel, MassCancelReason, Replace};
use crate::event::{BookEvent, CancelReason, Event, EventSink, RejectReason};
use crate::index::pair_key;
use crate::order::{Handle, Order, NIL};
use crate::types::*;

impl<B: OrderBook> Engine<B> {
    /// The resting order a session refers to by its user reference; only the session's own orders are found.
    fn own_order(
        &self,
        session: SessionId,
        account: AccountId,
        user_ref: UserRef,
    ) -> Option<Handle> {
        let handle = self.by_user_ref.get(pair_key(session, user_ref))?;
        (self.orders.get(handle).account == account).then_some(handle)
    }

    pub(crate) fn cancel(
        &mut self,
        session: SessionId,
        account: AccountId,
        user_ref: UserRef,
        sink: &mut impl EventSink,
    ) {
        match self.own_order(session, account, user_ref) {
            Some(handle) => self.cancel_resting(handle, CancelReason::UserRequested, sink),
            None => Self::reject(sink, session, user_ref, RejectReason::UnknownOrder),
        }
    }

    pub(crate) fn modify(
        &mut self,
        session: SessionId,
        account: AccountId,
        user_ref: UserRef,
        qty: Qty,
        as_cancel: bool,
        sink: &mut impl EventSink,
    ) {
        let Some(handle) = self.own_order(session, account, user_ref) else {
            return Self::reject(sink, session, user_ref, RejectReason::UnknownOrder);
        };
        let order = *self.orders.get(handle);
        if qty >= order.leaves {
            return Self::reject(sink, session, user_ref, RejectReason::NotAReduction);
        }
        if qty == 0 {
            return self.cancel_resting(handle, CancelReason::UserRequested, sink);
        }
        if as_cancel {
            sink.push(Event::Canceled {
                session,
                account,
                user_ref,
                order_id: order.id,
                instrument: order.instrument,
                qty: order.leaves - qty,
                reason: CancelReason::UserRequested,
            });
            return self.reduce_resting(handle, order.leaves - qty, sink);
        }
        sink.push(Event::Modified {
            session,
            account,
            user_ref,
            order_id: order.id,
            side: order.side,
            qty,
        });
        self.reduce_resting(handle, order.leaves - qty, sink);
    }

    pub(crate) fn replace(&mut self, cmd: &Replace, sink: &mut impl EventSink) {
        let reject =
            |sink: &mut _, reason| Self::reject(sink, cmd.session, cmd.new_user_ref, reason);
        let Some(handle) = self.own_order(cmd.session, cmd.account, cmd.user_ref) else {
            return reject(sink, RejectReason::UnknownOrder);
        };
        let old = *self.orders.get(handle);
        let Some(instrument) = self.instrument(old.instrument).copied() else {
            return reject(sink, RejectReason::UnknownInstrument);
        };
        if cmd.qty == 0 {
            return reject(sink, RejectReason::InvalidQty);
        }
        if cmd.new_user_ref != cmd.user_ref
            && self
                .by_user_ref
                .get(pair_key(cmd.session, cmd.new_user_ref))
                .is_some()
        {
            return reject(sink, RejectReason::DuplicateUserRef);
        }
        let keeps_priority = cmd.price == old.price && cmd.qty <= old.leaves;
        if !keeps_priority {
            match instrument.status {
                InstrumentStatus::Trading => {}
                InstrumentStatus::Halted => return reject(sink, RejectReason::InstrumentHalted),
                InstrumentStatus::CancelOnly => return reject(sink, RejectReason::CancelOnly),
            }
            if let Err(reason) = Self::check_price(&instrument, cmd.price) {
                return reject(sink, reason);
            }
        }
        let Some(account) = self.account(cmd.account).copied() else {
            return reject(sink, RejectReason::UnknownAccount);
        };
        if !keeps_priority && !account.spec.order_entry_enabled {
            return reject(sink, RejectReason::OrderEntryDisabled);
        }

        if keeps_priority {
            self.rekey(handle, cmd.session, cmd.user_ref, cmd.new_user_ref);
            sink.push(Event::Replaced {
                session: cmd.session,
                account: cmd.account,
                old_user_ref: cmd.user_ref,
                user_ref: cmd.new_user_ref,
                old_order_id: old.id,
                order_id: old.id,
                instrument: old.instrument,
                side: old.side,
                price: old.price,
                qty: cmd.qty,
            });
            if cmd.qty < old.leaves {
                self.reduce_resting(handle, old.leaves - cmd.qty, sink);
            }
            return;
        }

        // Loses priority: the order is checked as if new, with its old reservation counted as available.
        let reservation =
            match self.check_risk(&instrument, cmd.account, old.side, cmd.price, cmd.qty) {
                Ok(reservation) => reservation,
                Err(reason) => return reject(sink, reason),
            };
        // The old order's level may be the one that frees room, so a full ladder is judged conservatively.
        if !self.books[old.instrument as usize].can_insert(&self.orders, old.side, cmd.price) {
            return reject(sink, RejectReason::BookFull);
        }
        let asset = Self::reserved_asset(&instrument, old.side);
        let old_reserved = old.leaves * old.reserve_per_lot;
        let available = self.balances[self.balance_slot(cmd.account, asset)].available;
        if available as u128 + old_reserved as u128 > u64::MAX as u128
            || available + old_reserved < reservation.total
        {
            return reject(sink, RejectReason::InsufficientFunds);
        }

        self.release(cmd.account, asset, old_reserved);
        self.unrest(handle);
        self.reserve(cmd.account, asset, reservation.total);
        let id = self.next_order_id;
        self.next_order_id += 1;
        let mut order = Order {
            id,
            feed_ref: id,
            user_ref: cmd.new_user_ref,
            price: cmd.price,
            leaves: cmd.qty,
            display: cmd.qty,
            reserve_per_lot: reservation.reserve_per_lot,
            maker_fee_ppm: reservation.maker_fee_ppm,
            taker_fee_ppm: reservation.taker_fee_ppm,
            ..Order::EMPTY
        };
        order.session = old.session;
        order.account = old.account;
        order.instrument = old.instrument;
        order.side = old.side;
        order.time_in_force = old.time_in_force;
        order.group = old.group;
        order.max_floor = old.max_floor;
        order.expire_time_ns = old.expire_time_ns;
        sink.push(Event::Replaced {
            session: cmd.session,
            account: cmd.account,
            old_user_ref: cmd.user_ref,
            user_ref: cmd.new_user_ref,
            old_order_id: old.id,
            order_id: id,
            instrument: old.instrument,
            side: old.side,
            price: cmd.price,
            qty: cmd.qty,
        });
        let book = &self.books[old.instrument as usize];
        let crosses = book
            .best_price(&self.orders, old.side.opposite())
            .is_some_and(|best| old.side.crosses(cmd.price, best));
        if crosses {
            sink.push(Event::Book(BookEvent::Delete {
                instrument: old.instrument,
                order_ref: old.feed_ref,
            }));
            let stop = self.match_incoming(&mut order, sink);
            self.finish_incoming(&mut order, stop, BookPlacement::Add, sink);
        } else {
            self.finish_incoming(
                &mut order,
                MatchStop::Exhausted,
                BookPlacement::ReplaceOf(old.feed_ref),
                sink,
            );
        }
    }

    /// Files a resting order under a new user reference.
    fn rekey(&mut self, handle: Handle, session: SessionId, old_ref: UserRef, new_ref: UserRef) {
        if old_ref == new_ref {
            return;
        }
        self.by_user_ref.remove(pair_key(session, old_ref));
        self.by_user_ref.insert(pair_key(session, new_ref), handle);
        self.orders.get_mut(handle).user_ref = new_ref;
    }

    pub(crate) fn mass_cancel(&mut self, cmd: &MassCancel, sink: &mut impl EventSink) {
        let reason = match cmd.reason {
            MassCancelReason::UserRequested => CancelReason::MassCancel,
            MassCancelReason::Disconnect => CancelReason::Disconnect,
            MassCancelReason::Admin => CancelReason::Admin,
        };
        let matches = |order: &Order| {
            cmd.account.is_none_or(|a| order.account == a)
                && cmd.only_session.is_none_or(|s| order.session == s)
                && cmd.instrument.is_none_or(|i| order.instrument == i)
                && cmd.side.is_none_or(|s| order.side == s)
                && cmd.group.is_none_or(|g| order.group == g)
        };
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        if let Some(account) = cmd.account {
            if self.account(account).is_none() {
                self.scratch = scratch;
                return Self::reject(
                    sink,
                    cmd.session,
                    cmd.user_ref,
                    RejectReason::UnknownAccount,
                );
            }
            let mut handle = self.accounts[account as usize].orders_head;
            while handle != NIL {
                let order = self.orders.get(handle);
                if matches(order) {
                    scratch.push(handle);
                }
                handle = order.account_next;
            }
        } else if let Some(instrument) = cmd.instrument {
            if self.instrument(instrument).is_none() {
                self.scratch = scratch;
                return Self::reject(
                    sink,
                    cmd.session,
                    cmd.user_ref,
                    RejectReason::UnknownInstrument,
                );
            }
            for side in [Side::Buy, Side::Sell] {
                self.books[instrument as usize].visit(&self.orders, side, |handle| {
                    if matches(self.orders.get(handle)) {
                        scratch.push(handle);
                    }
                    true
                });
            }
        } else {
            self.scratch = scratch;
            return Self::reject(
                sink,
                cmd.session,
                cmd.user_ref,
                RejectReason::MassCancelNeedsScope,
            );
        }
        // Cancel in order-id order: the same commands give the same events whatever the internal list order.
        let orders = &self.orders;
        scratch.sort_unstable_by_key(|&handle| orders.get(handle).id);
        for &handle in &scratch {
            self.cancel_resting(handle, reason, sink);
        }
        let count = scratch.len() as u64;
        self.scratch = scratch;
        sink.push(Event::MassCanceled {
            session: cmd.session,
            user_ref: cmd.user_ref,
            count,
        });
    }

    /// Cancels every resting Day order (quotes are Day orders), instrument by instrument.
    pub(crate) fn end_of_day(&mut self, sink: &mut impl EventSink) {
        let mut scratch = std::mem::take(&mut self.scratch);
        for instrument in 0..self.instruments.len() {
            if self.instruments[instrument].is_none() {
                continue;
            }
            scratch.clear();
            for side in [Side::Buy, Side::Sell] {
                self.books[instrument].visit(&self.orders, side, |handle| {
                    if self.orders.get(handle).time_in_force == TimeInForce::Day {
                        scratch.push(handle);
                    }
                    true
                });
            }
            for &handle in &scratch {
                self.cancel_resting(handle, CancelReason::EndOfDay, sink);
            }
        }
        scratch.clear();
        self.scratch = scratch;
        sink.push(Event::SettingsApplied);
    }
}
