//! The whole state seen from outside: its hash, its invariants, and read-only queries.

use super::Engine;
use crate::account::Balance;
use crate::book::{LevelView, OrderBook};
use crate::index::pair_key;
use crate::instrument::fee_per_lot;
use crate::order::{Handle, Order, NIL};
use crate::types::*;
use xxhash_rust::xxh3::Xxh3;

/// A resting order as queries report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestingOrder {
    pub order_id: OrderId,
    pub feed_ref: OrderId,
    pub session: SessionId,
    pub account: AccountId,
    pub user_ref: UserRef,
    pub side: Side,
    pub price: Price,
    pub leaves: Qty,
    pub display: Qty,
    pub time_in_force: TimeInForce,
    pub is_quote: bool,
}

impl From<&Order> for RestingOrder {
    fn from(o: &Order) -> Self {
        RestingOrder {
            order_id: o.id,
            feed_ref: o.feed_ref,
            session: o.session,
            account: o.account,
            user_ref: o.user_ref,
            side: o.side,
            price: o.price,
            leaves: o.leaves,
            display: o.display,
            time_in_force: o.time_in_force,
            is_quote: o.is_quote,
        }
    }
}

/// Feeds fixed-width little-endian integers to the hasher, so the hash is the same on every machine.
struct StateHasher(Xxh3);

impl StateHasher {
    fn u64(&mut self, value: u64) {
        self.0.update(&value.to_le_bytes());
    }
    fn i64(&mut self, value: i64) {
        self.0.update(&value.to_le_bytes());
    }
}

impl<B: OrderBook> Engine<B> {
    /// A hash of everything that decides future behaviour: instruments and their bands and breakers, every resting
    /// order in priority order, accounts, balances, fee tiers and counters. Internal slot numbers are left out, so
    /// two engines that reached the same state by different paths (a replay and a snapshot load) agree.
    pub fn state_hash(&self) -> u64 {
        let mut h = StateHasher(Xxh3::new());
        h.u64(self.next_order_id);
        h.u64(self.next_match_number);
        h.u64(self.now_ns);
        for (id, instrument) in self.instruments.iter().enumerate() {
            let Some(i) = instrument else { continue };
            h.u64(id as u64);
            h.0.update(&i.spec.symbol);
            for value in [
                i.spec.tick,
                i.band_centre,
                i.band_low,
                i.band_high,
                i.last_trade_price,
            ] {
                h.i64(value);
            }
            for value in [i.spec.lot_size, i.spec.quote_per_price_lot, i.halt_until_ns] {
                h.u64(value);
            }
            h.u64(i.status as u64);
            for bucket in &i.breaker.buckets {
                h.u64(bucket.epoch);
                h.i64(bucket.low);
                h.i64(bucket.high);
            }
            for side in [Side::Buy, Side::Sell] {
                self.books[id].visit(&self.orders, side, |handle| {
                    let o = self.orders.get(handle);
                    for value in [
                        o.id,
                        o.feed_ref,
                        o.leaves,
                        o.display,
                        o.max_floor,
                        o.expire_time_ns,
                        o.reserve_per_lot,
                    ] {
                        h.u64(value);
                    }
                    h.i64(o.price);
                    for value in [
                        o.session,
                        o.account,
                        o.user_ref,
                        o.maker_fee_ppm,
                        o.taker_fee_ppm,
                    ] {
                        h.u64(value as u64);
                    }
                    h.u64(
                        o.side as u64 | (o.time_in_force as u64) << 8 | (o.is_quote as u64) << 16,
                    );
                    h.u64(o.group as u64);
                    true
                });
                h.u64(u64::MAX);
            }
        }
        for (id, tier) in self.fee_tiers.iter().enumerate() {
            if tier.exists {
                h.u64(id as u64);
                h.u64((tier.maker_fee_ppm as u64) << 32 | tier.taker_fee_ppm as u64);
            }
        }
        let assets = self.config.max_assets as usize;
        for (id, account) in self.accounts.iter().enumerate() {
            if !account.exists {
                continue;
            }
            let s = &account.spec;
            h.u64(id as u64);
            for value in [
                s.fee_tier,
                s.stp_group,
                s.stp_mode as u32,
                s.max_open_orders,
                s.order_entry_enabled as u32,
            ] {
                h.u64(value as u64);
            }
            h.u64(s.max_order_qty);
            h.u64(s.max_order_notional);
            h.u64(account.open_orders as u64);
            for balance in &self.balances[id * assets..(id + 1) * assets] {
                h.u64(balance.available);
                h.u64(balance.reserved);
            }
        }
        h.0.digest()
    }

    /// Checks every invariant of the state; the message names the first one that fails.
    pub fn validate(&self) -> Result<(), String> {
        let assets = self.config.max_assets as usize;
        let mut reserved = vec![0u128; self.balances.len()];
        let mut open_orders = vec![0u32; self.accounts.len()];
        let mut on_books = 0usize;
        for (id, instrument) in self.instruments.iter().enumerate() {
            let book = &self.books[id];
            book.validate(&self.orders)
                .map_err(|e| format!("instrument {id}: {e}"))?;
            let Some(instrument) = instrument else {
                if book.order_count() != 0 {
                    return Err(format!("instrument {id} does not exist but has orders"));
                }
                continue;
            };
            if let (Some(bid), Some(ask)) = (
                book.best_price(&self.orders, Side::Buy),
                book.best_price(&self.orders, Side::Sell),
            ) {
                if bid >= ask {
                    return Err(format!(
                        "instrument {id} is crossed: bid {bid} >= ask {ask}"
                    ));
                }
            }
            on_books += book.order_count();
            let mut failure = None;
            for side in [Side::Buy, Side::Sell] {
                book.visit(&self.orders, side, |handle| {
                    let o = self.orders.get(handle);
                    let asset = Self::reserved_asset(instrument, o.side) as usize;
                    reserved[o.account as usize * assets + asset] +=
                        o.leaves as u128 * o.reserve_per_lot as u128;
                    open_orders[o.account as usize] += 1;
                    if let Err(e) = self.check_order(handle, o, id as u32) {
                        failure = Some(e);
                        return false;
                    }
                    true
                });
            }
            if let Some(e) = failure {
                return Err(e);
            }
        }
        if on_books != self.orders.live_count() {
            return Err(format!(
                "{} live orders but {on_books} on books",
                self.orders.live_count()
            ));
        }
        // One pass over the pool counts what the checks below compare with their tables.
        let (mut non_quotes, mut quotes_live, mut gtt) = (0usize, 0usize, 0usize);
        for (_, o) in self.orders.iter_live() {
            if o.is_quote {
                quotes_live += 1;
            } else {
                non_quotes += 1;
            }
            if o.time_in_force == TimeInForce::Gtt {
                gtt += 1;
            }
        }
        if non_quotes != self.by_user_ref.len() {
            return Err(format!(
                "{non_quotes} resting orders but {} user references",
                self.by_user_ref.len()
            ));
        }
        for (slot, balance) in self.balances.iter().enumerate() {
            if balance.reserved as u128 != reserved[slot] {
                return Err(format!(
                    "account {} asset {}: reserved {} but open orders need {}",
                    slot / assets,
                    slot % assets,
                    balance.reserved,
                    reserved[slot]
                ));
            }
        }
        for (asset, &total) in self.asset_totals.iter().enumerate() {
            let sum: u128 = (0..self.accounts.len())
                .map(|a| {
                    let b = self.balances[a * assets + asset];
                    b.available as u128 + b.reserved as u128
                })
                .sum();
            if sum != total as u128 {
                return Err(format!(
                    "asset {asset}: accounts hold {sum} but deposits net {total}"
                ));
            }
        }
        for (id, account) in self.accounts.iter().enumerate() {
            if account.open_orders != open_orders[id] {
                return Err(format!(
                    "account {id} counts {} open orders, books hold {}",
                    account.open_orders, open_orders[id]
                ));
            }
            let mut count = 0u32;
            let mut prev = NIL;
            let mut handle = account.orders_head;
            while handle != NIL {
                let o = self.orders.get(handle);
                if !o.live || o.account as usize != id || o.account_prev != prev {
                    return Err(format!("account {id}: order list broken at slot {handle}"));
                }
                count += 1;
                if count > account.open_orders {
                    return Err(format!("account {id}: order list longer than its count"));
                }
                prev = handle;
                handle = o.account_next;
            }
            if count != account.open_orders || prev != account.orders_tail {
                return Err(format!(
                    "account {id}: order list holds {count}, counts {}",
                    account.open_orders
                ));
            }
        }
        self.expiry.validate(&self.orders)?;
        if gtt != self.expiry.len() {
            return Err(format!(
                "{gtt} GTT orders but {} in the expiry heap",
                self.expiry.len()
            ));
        }
        // Each counted order has the entry's key and the side's index, keys are distinct and an order has one key
        // and one side, so no order is counted twice.
        let mut quote_sides = 0usize;
        for (key, slot) in self.quote_index.iter() {
            for (side, &handle) in self.quotes[slot as usize].sides.iter().enumerate() {
                if handle == NIL {
                    continue;
                }
                let o = self.orders.get(handle);
                if !o.live
                    || !o.is_quote
                    || pair_key(o.session, o.instrument) != key
                    || o.side.index() != side
                {
                    return Err(format!(
                        "quote entry {slot} points at a wrong order in slot {handle}"
                    ));
                }
                quote_sides += 1;
            }
        }
        if quotes_live != quote_sides {
            return Err(format!(
                "{quotes_live} quote orders but {quote_sides} in the quote table"
            ));
        }
        Ok(())
    }

    fn check_order(
        &self,
        handle: Handle,
        o: &Order,
        instrument: InstrumentId,
    ) -> Result<(), String> {
        if o.instrument != instrument || o.leaves == 0 || o.display == 0 || o.display > o.leaves {
            return Err(format!("order {} has bad quantities or instrument", o.id));
        }
        if o.max_floor == 0 && o.display != o.leaves {
            return Err(format!(
                "order {} is not an iceberg but hides quantity",
                o.id
            ));
        }
        if o.max_floor > 0 && o.display > o.max_floor {
            return Err(format!("iceberg {} displays more than its floor", o.id));
        }
        if !o.is_quote && self.by_user_ref.get(pair_key(o.session, o.user_ref)) != Some(handle) {
            return Err(format!(
                "order {} is not indexed by its user reference",
                o.id
            ));
        }
        if o.time_in_force == TimeInForce::Ioc {
            return Err(format!("IOC order {} rests", o.id));
        }
        if o.price <= 0 || o.maker_fee_ppm > 1_000_000 || o.taker_fee_ppm > 1_000_000 {
            return Err(format!("order {} has a bad price or fee rate", o.id));
        }
        let Some(instrument) = self.instrument(instrument) else {
            return Err(format!("order {} rests on an unknown instrument", o.id));
        };
        // The reservation per lot must cover the worst the order can pay: its own price and the higher fee.
        let lot_value = instrument.lot_value(o.price);
        let needed = match o.side {
            Side::Buy => lot_value + fee_per_lot(lot_value, o.maker_fee_ppm.max(o.taker_fee_ppm)),
            Side::Sell => instrument.spec.lot_size as u128,
        };
        if o.reserve_per_lot as u128 != needed {
            return Err(format!(
                "order {} reserves {} per lot but needs {needed}",
                o.id, o.reserve_per_lot
            ));
        }
        Ok(())
    }

    /// Aggregated levels from the best price, at most `max_levels`.
    pub fn depth(&self, instrument: InstrumentId, side: Side, max_levels: usize) -> Vec<LevelView> {
        let mut levels = Vec::new();
        if let Some(book) = self.books.get(instrument as usize) {
            book.visit_levels(&self.orders, side, |level| {
                levels.push(level);
                levels.len() < max_levels
            });
        }
        levels
    }

    /// Resting orders on one side in priority order.
    pub fn resting_orders(&self, instrument: InstrumentId, side: Side) -> Vec<RestingOrder> {
        let mut out = Vec::new();
        if let Some(book) = self.books.get(instrument as usize) {
            book.visit(&self.orders, side, |handle| {
                out.push(RestingOrder::from(self.orders.get(handle)));
                true
            });
        }
        out
    }

    /// A session's resting order by its user reference.
    pub fn order_by_user_ref(&self, session: SessionId, user_ref: UserRef) -> Option<RestingOrder> {
        let handle = self.by_user_ref.get(pair_key(session, user_ref))?;
        Some(RestingOrder::from(self.orders.get(handle)))
    }

    /// Every instrument's specification, by id.
    pub fn instrument_specs(&self) -> Vec<crate::command::InstrumentSpec> {
        self.instruments
            .iter()
            .flatten()
            .map(|instrument| instrument.spec)
            .collect()
    }

    pub fn instrument_status(&self, instrument: InstrumentId) -> Option<InstrumentStatus> {
        self.instrument(instrument).map(|i| i.status)
    }

    /// The price band (low, high) an instrument accepts now.
    pub fn price_band(&self, instrument: InstrumentId) -> Option<(Price, Price)> {
        self.instrument(instrument)
            .map(|i| (i.band_low, i.band_high))
    }

    /// Sum over all accounts of one asset, available and reserved.
    pub fn asset_total(&self, asset: AssetId) -> u64 {
        self.asset_totals.get(asset as usize).copied().unwrap_or(0)
    }

    pub fn open_orders(&self, account: AccountId) -> u32 {
        self.accounts
            .get(account as usize)
            .map_or(0, |a| a.open_orders)
    }

    pub fn all_balances(&self, account: AccountId) -> Vec<Balance> {
        let assets = self.config.max_assets as usize;
        let start = account as usize * assets;
        self.balances
            .get(start..start + assets)
            .map(|b| b.to_vec())
            .unwrap_or_default()
    }
}
