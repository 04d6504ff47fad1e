//! The engine's whole state as one rkyv value, and its reconstruction. A snapshot lists resting orders in priority
//! order, so loading it rebuilds the same queues; everything derived (indexes, level totals, account lists, asset
//! totals, the expiry heap) is rebuilt rather than stored, so a snapshot cannot carry a broken index.

use crate::account::Balance;
use crate::book::OrderBook;
use crate::command::{AccountSpec, InstrumentSpec};
use crate::config::EngineConfig;
use crate::engine::Engine;
use crate::instrument::{check_spec, Breaker, BreakerBucket, Instrument};
use crate::order::Order;
use crate::types::*;
use rkyv::{rancor, Archive, Deserialize, Serialize};

/// Version of the snapshot layout; a loader refuses any other.
pub const SNAPSHOT_FORMAT_VERSION: u32 = 1;

#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct EngineSnapshot {
    pub format_version: u32,
    pub last_seq: u64,
    pub now_ns: u64,
    pub next_order_id: u64,
    pub next_match_number: u64,
    pub state_hash: u64,
    pub instruments: Vec<InstrumentState>,
    pub fee_tiers: Vec<FeeTierState>,
    pub accounts: Vec<AccountSpec>,
    pub balances: Vec<BalanceState>,
    /// Per instrument, bids then asks, each in priority order.
    pub orders: Vec<OrderState>,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstrumentState {
    pub spec: InstrumentSpec,
    pub status: InstrumentStatus,
    pub band_centre: Price,
    pub last_trade_price: Price,
    pub halt_until_ns: u64,
    /// (epoch, low, high) of each breaker bucket.
    pub breaker_buckets: [(u64, Price, Price); 16],
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeTierState {
    pub tier: u32,
    pub maker_fee_ppm: u32,
    pub taker_fee_ppm: u32,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct BalanceState {
    pub account: AccountId,
    pub asset: AssetId,
    pub available: u64,
    pub reserved: u64,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderState {
    pub id: OrderId,
    pub feed_ref: OrderId,
    pub session: SessionId,
    pub account: AccountId,
    pub user_ref: UserRef,
    pub instrument: InstrumentId,
    pub side: Side,
    pub time_in_force: TimeInForce,
    pub is_quote: bool,
    pub group: u16,
    pub price: Price,
    pub leaves: Qty,
    pub display: Qty,
    pub max_floor: Qty,
    pub expire_time_ns: u64,
    pub reserve_per_lot: u64,
    pub maker_fee_ppm: u32,
    pub taker_fee_ppm: u32,
}

/// Why a snapshot could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotError {
    /// The bytes are not an engine snapshot of this layout.
    Malformed(String),
    UnsupportedVersion(u32),
    /// The state does not fit the configured capacities.
    DoesNotFit(String),
    /// The loaded state breaks an invariant or hashes differently from when it was taken.
    Inconsistent(String),
}

impl std::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SnapshotError::Malformed(why) => write!(f, "not a readable engine snapshot: {why}"),
            SnapshotError::UnsupportedVersion(v) => {
                write!(
                    f,
                    "snapshot format version {v}, this build reads only {SNAPSHOT_FORMAT_VERSION}"
                )
            }
            SnapshotError::DoesNotFit(why) => {
                write!(f, "snapshot does not fit the configuration: {why}")
            }
            SnapshotError::Inconsistent(why) => write!(f, "snapshot state is inconsistent: {why}"),
        }
    }
}

impl std::error::Error for SnapshotError {}

impl<B: OrderBook> Engine<B> {
    /// The whole state, for a snapshot.
    pub fn snapshot(&self) -> EngineSnapshot {
        let instruments = self
            .instruments
            .iter()
            .flatten()
            .map(|i| InstrumentState {
                spec: i.spec,
                status: i.status,
                band_centre: i.band_centre,
                last_trade_price: i.last_trade_price,
                halt_until_ns: i.halt_until_ns,
                breaker_buckets: i.breaker.buckets.map(|b| (b.epoch, b.low, b.high)),
            })
            .collect();
        let fee_tiers = self
            .fee_tiers
            .iter()
            .enumerate()
            .filter(|(_, t)| t.exists)
            .map(|(tier, t)| FeeTierState {
                tier: tier as u32,
                maker_fee_ppm: t.maker_fee_ppm,
                taker_fee_ppm: t.taker_fee_ppm,
            })
            .collect();
        let accounts = self
            .accounts
            .iter()
            .filter(|a| a.exists)
            .map(|a| a.spec)
            .collect();
        let assets = self.config.max_assets as usize;
        let balances = self
            .balances
            .iter()
            .enumerate()
            .filter(|(_, b)| b.available != 0 || b.reserved != 0)
            .map(|(slot, b)| BalanceState {
                account: (slot / assets) as AccountId,
                asset: (slot % assets) as AssetId,
                available: b.available,
                reserved: b.reserved,
            })
            .collect();
        let mut orders = Vec::with_capacity(self.orders.live_count());
        for (id, instrument) in self.instruments.iter().enumerate() {
            if instrument.is_none() {
                continue;
            }
            for side in [Side::Buy, Side::Sell] {
                self.books[id].visit(&self.orders, side, |handle| {
                    let o = self.orders.get(handle);
                    orders.push(OrderState {
                        id: o.id,
                        feed_ref: o.feed_ref,
                        session: o.session,
                        account: o.account,
                        user_ref: o.user_ref,
                        instrument: o.instrument,
                        side: o.side,
                        time_in_force: o.time_in_force,
                        is_quote: o.is_quote,
                        group: o.group,
                        price: o.price,
                        leaves: o.leaves,
                        display: o.display,
                        max_floor: o.max_floor,
                        expire_time_ns: o.expire_time_ns,
                        reserve_per_lot: o.reserve_per_lot,
                        maker_fee_ppm: o.maker_fee_ppm,
                        taker_fee_ppm: o.taker_fee_ppm,
                    });
                    true
                });
            }
        }
        EngineSnapshot {
            format_version: SNAPSHOT_FORMAT_VERSION,
            last_seq: self.last_seq,
            now_ns: self.now_ns,
            next_order_id: self.next_order_id,
            next_match_number: self.next_match_number,
            state_hash: self.state_hash(),
            instruments,
            fee_tiers,
            accounts,
            balances,
            orders,
        }
    }

    /// The snapshot archived with rkyv.
    pub fn snapshot_bytes(&self) -> Vec<u8> {
        match rkyv::to_bytes::<rancor::Error>(&self.snapshot()) {
            Ok(bytes) => bytes.to_vec(),
            // Serializing owned vectors of plain values into memory cannot fail short of allocation failure.
            Err(e) => panic!("archiving the engine snapshot failed: {e}"),
        }
    }

    /// Rebuilds an engine from snapshot bytes, checking them fully: the layout (bytecheck), the version, that the
    /// state fits `config`, every invariant, and the state hash recorded when the snapshot was taken.
    pub fn from_snapshot_bytes(config: EngineConfig, bytes: &[u8]) -> Result<Self, SnapshotError> {
        let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(bytes.len());
        aligned.extend_from_slice(bytes);
        let snapshot = rkyv::from_bytes::<EngineSnapshot, rancor::Error>(&aligned)
            .map_err(|e| SnapshotError::Malformed(e.to_string()))?;
        Self::from_snapshot(config, &snapshot)
    }

    pub fn from_snapshot(config: EngineConfig, s: &EngineSnapshot) -> Result<Self, SnapshotError> {
        if s.format_version != SNAPSHOT_FORMAT_VERSION {
            return Err(SnapshotError::UnsupportedVersion(s.format_version));
        }
        let mut engine =
            Engine::<B>::new(config).map_err(|e| SnapshotError::DoesNotFit(e.to_string()))?;
        let fit = |what: String| SnapshotError::DoesNotFit(what);
        engine.last_seq = s.last_seq;
        engine.now_ns = s.now_ns;
        engine.next_order_id = s.next_order_id;
        engine.next_match_number = s.next_match_number;
        for i in &s.instruments {
            if !check_spec(&i.spec, config.max_assets) {
                return Err(SnapshotError::Inconsistent(format!(
                    "instrument {} has an invalid specification",
                    i.spec.instrument
                )));
            }
            let slot = engine
                .instruments
                .get_mut(i.spec.instrument as usize)
                .ok_or_else(|| {
                    fit(format!(
                        "instrument {} over max_instruments",
                        i.spec.instrument
                    ))
                })?;
            let mut state = Instrument::new(i.spec);
            state.status = i.status;
            state.recentre(i.band_centre);
            state.last_trade_price = i.last_trade_price;
            state.halt_until_ns = i.halt_until_ns;
            state.breaker = Breaker {
                buckets: i.breaker_buckets.map(|(epoch, low, high)| BreakerBucket {
                    epoch,
                    low,
                    high,
                }),
                ..state.breaker
            };
            *slot = Some(state);
        }
        for t in &s.fee_tiers {
            let tier = engine
                .fee_tiers
                .get_mut(t.tier as usize)
                .ok_or_else(|| fit(format!("fee tier {} over max_fee_tiers", t.tier)))?;
            tier.exists = true;
            tier.maker_fee_ppm = t.maker_fee_ppm;
            tier.taker_fee_ppm = t.taker_fee_ppm;
        }
        for spec in &s.accounts {
            if !engine
                .fee_tiers
                .get(spec.fee_tier as usize)
                .is_some_and(|t| t.exists)
            {
                return Err(SnapshotError::Inconsistent(format!(
                    "account {} has an unknown fee tier",
                    spec.account
                )));
            }
            let account = engine
                .accounts
                .get_mut(spec.account as usize)
                .ok_or_else(|| fit(format!("account {} over max_accounts", spec.account)))?;
            account.exists = true;
            account.spec = *spec;
        }
        for b in &s.balances {
            if b.account >= config.max_accounts || b.asset >= config.max_assets {
                return Err(fit(format!(
                    "balance of account {} asset {}",
                    b.account, b.asset
                )));
            }
            let slot = engine.balance_slot(b.account, b.asset);
            engine.balances[slot] = Balance {
                available: b.available,
                reserved: b.reserved,
            };
            let total = &mut engine.asset_totals[b.asset as usize];
            *total = total
                .checked_add(b.available)
                .and_then(|t| t.checked_add(b.reserved))
                .ok_or_else(|| {
                    SnapshotError::Inconsistent(format!("asset {} total overflows", b.asset))
                })?;
        }
        for o in &s.orders {
            let known =
                engine.instrument(o.instrument).is_some() && engine.account(o.account).is_some();
            if !known || o.leaves == 0 || o.display == 0 || o.display > o.leaves {
                return Err(SnapshotError::Inconsistent(format!(
                    "order {} is not a valid resting order",
                    o.id
                )));
            }
            if engine.orders.is_full()
                || !engine.books[o.instrument as usize].can_insert(&engine.orders, o.side, o.price)
            {
                return Err(fit(format!("order {} finds no room in the pools", o.id)));
            }
            if !o.is_quote
                && engine
                    .by_user_ref
                    .get(crate::index::pair_key(o.session, o.user_ref))
                    .is_some()
            {
                return Err(SnapshotError::Inconsistent(format!(
                    "order {} repeats a user reference",
                    o.id
                )));
            }
            let order = Order {
                id: o.id,
                feed_ref: o.feed_ref,
                session: o.session,
                account: o.account,
                user_ref: o.user_ref,
                instrument: o.instrument,
                side: o.side,
                time_in_force: o.time_in_force,
                is_quote: o.is_quote,
                group: o.group,
                price: o.price,
                leaves: o.leaves,
                display: o.display,
                max_floor: o.max_floor,
                expire_time_ns: o.expire_time_ns,
                reserve_per_lot: o.reserve_per_lot,
                maker_fee_ppm: o.maker_fee_ppm,
                taker_fee_ppm: o.taker_fee_ppm,
                ..Order::EMPTY
            };
            let new_quote = o.is_quote
                && engine
                    .quote_index
                    .get(crate::index::pair_key(o.session, o.instrument))
                    .is_none();
            if new_quote && engine.free_quotes.is_empty() {
                return Err(fit("more quotes than max_quotes".to_string()));
            }
            let handle = engine.rest(&order);
            if o.is_quote {
                engine.restore_quote_side(o.session, o.instrument, o.side, handle);
            }
        }
        // Timers are recomputed at the next command.
        engine.next_timer_ns = 0;
        engine.validate().map_err(SnapshotError::Inconsistent)?;
        let hash = engine.state_hash();
        if hash != s.state_hash {
            return Err(SnapshotError::Inconsistent(format!(
                "state hash {hash:016x} differs from the recorded {:016x}",
                s.state_hash
            )));
        }
        Ok(engine)
    }
}
