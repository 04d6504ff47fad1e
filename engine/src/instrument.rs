//! An instrument's trading state: its specification, status, price band and circuit breaker.

use crate::command::InstrumentSpec;
use crate::types::*;

/// Buckets of the circuit breaker's sliding window.
const BREAKER_BUCKETS: usize = 16;

/// The lowest and highest trade price seen in one slice of the breaker window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerBucket {
    /// Which slice of time (timestamp / bucket width) the bucket holds; `u64::MAX` when empty.
    pub epoch: u64,
    pub low: Price,
    pub high: Price,
}

const EMPTY_BUCKET: BreakerBucket = BreakerBucket {
    epoch: u64::MAX,
    low: 0,
    high: 0,
};

/// The circuit breaker's memory of recent trades: the window is cut into equal slices and each keeps its price
/// range, so the check is exact to one slice and costs a fixed amount of work and memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Breaker {
    pub buckets: [BreakerBucket; BREAKER_BUCKETS],
    pub bucket_ns: u64,
    pub move_bps: u32,
}

impl Breaker {
    fn new(spec: &InstrumentSpec) -> Breaker {
        Breaker {
            buckets: [EMPTY_BUCKET; BREAKER_BUCKETS],
            bucket_ns: (spec.breaker_window_ns / BREAKER_BUCKETS as u64).max(1),
            move_bps: spec.breaker_move_bps,
        }
    }

    /// Lowest and highest trade price inside the window ending at `now_ns`.
    pub fn is_on(&self) -> bool {
        self.move_bps != 0
    }

    pub fn range(&self, now_ns: TimestampNs) -> Option<(Price, Price)> {
        if self.move_bps == 0 {
            return None;
        }
        let epoch = now_ns / self.bucket_ns;
        let mut range: Option<(Price, Price)> = None;
        for bucket in &self.buckets {
            if bucket.epoch == u64::MAX
                || bucket.epoch > epoch
                || epoch - bucket.epoch >= BREAKER_BUCKETS as u64
            {
                continue;
            }
            range = Some(match range {
                None => (bucket.low, bucket.high),
                Some((low, high)) => (low.min(bucket.low), high.max(bucket.high)),
            });
        }
        range
    }

    /// True if a trade at `price` would move more than the limit away from a price in `range`.
    pub fn trips(&self, range: Option<(Price, Price)>, price: Price) -> bool {
        if self.move_bps == 0 {
            return false;
        }
        let Some((low, high)) = range else {
            return false;
        };
        let bps = self.move_bps as i128;
        let scaled = price as i128 * 10_000;
        scaled > low as i128 * (10_000 + bps) || scaled < high as i128 * (10_000 - bps)
    }

    pub fn record(&mut self, now_ns: TimestampNs, price: Price) {
        if self.move_bps == 0 {
            return;
        }
        let epoch = now_ns / self.bucket_ns;
        let bucket = &mut self.buckets[(epoch % BREAKER_BUCKETS as u64) as usize];
        if bucket.epoch == epoch {
            bucket.low = bucket.low.min(price);
            bucket.high = bucket.high.max(price);
        } else {
            *bucket = BreakerBucket {
                epoch,
                low: price,
                high: price,
            };
        }
    }

    pub fn clear(&mut self) {
        self.buckets = [EMPTY_BUCKET; BREAKER_BUCKETS];
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instrument {
    pub spec: InstrumentSpec,
    pub status: InstrumentStatus,
    /// Centre of the band: the reference price until the first trade, then the last trade price.
    pub band_centre: Price,
    pub band_low: Price,
    pub band_high: Price,
    /// Zero before the first trade.
    pub last_trade_price: Price,
    /// A breaker halt ends at this time; `u64::MAX` for an operator's halt, zero when not halted.
    pub halt_until_ns: TimestampNs,
    pub breaker: Breaker,
}

/// Why a specification cannot be used.
pub fn check_spec(spec: &InstrumentSpec, max_assets: u32) -> bool {
    spec.tick > 0
        && spec.lot_size > 0
        && spec.quote_per_price_lot > 0
        && spec.base_asset < max_assets
        && spec.quote_asset < max_assets
        && spec.base_asset != spec.quote_asset
        && spec.reference_price > 0
        && spec.reference_price % spec.tick == 0
        && (1..=10_000).contains(&spec.band_bps)
        && spec.breaker_move_bps <= 10_000
        && (spec.breaker_move_bps == 0 || (spec.breaker_window_ns > 0 && spec.breaker_halt_ns > 0))
        // Keep every product of price, quantity and multiplier inside i128 with room to spare.
        && spec.reference_price < (1 << 52)
        && spec.quote_per_price_lot < (1 << 32)
}

impl Instrument {
    pub fn new(spec: InstrumentSpec) -> Instrument {
        let mut instrument = Instrument {
            spec,
            status: InstrumentStatus::Trading,
            band_centre: spec.reference_price,
            band_low: 0,
            band_high: 0,
            last_trade_price: 0,
            halt_until_ns: 0,
            breaker: Breaker::new(&spec),
        };
        instrument.recentre(spec.reference_price);
        instrument
    }

    /// Moves the band's centre; the edges are rounded inward to the tick and never fall below one tick.
    #[inline]
    pub fn recentre(&mut self, centre: Price) {
        if centre == self.band_centre && self.band_high != 0 {
            return;
        }
        // Prices are below 2^52 and the band below 10_000 bps, so the width fits i64 when the product does.
        if let Some(scaled) = centre.checked_mul(self.spec.band_bps as i64) {
            let tick = self.spec.tick;
            let width = scaled / 10_000;
            let low = (centre - width).max(1);
            let high = centre.saturating_add(width);
            let low_on_tick = if tick == 1 {
                low
            } else {
                (low + tick - 1) / tick * tick
            };
            let high_on_tick = if tick == 1 { high } else { high / tick * tick };
            self.band_centre = centre;
            self.band_low = low_on_tick.max(tick);
            self.band_high = high_on_tick.max(tick);
            return;
        }
        let tick = self.spec.tick as i128;
        let width = centre as i128 * self.spec.band_bps as i128 / 10_000;
        let low = centre as i128 - width;
        let high = centre as i128 + width;
        let low_on_tick = ((low + tick - 1).div_euclid(tick)) * tick;
        let high_on_tick = high.div_euclid(tick) * tick;
        self.band_centre = centre;
        self.band_low = low_on_tick.max(tick).min(i64::MAX as i128) as Price;
        self.band_high = high_on_tick.max(tick).min(i64::MAX as i128) as Price;
    }

    /// The price a market order trades up (buy) or down (sell) to.
    pub fn protection_price(&self, side: Side) -> Price {
        match side {
            Side::Buy => self.band_high,
            Side::Sell => self.band_low,
        }
    }

    /// Quote units per lot at `price`.
    #[inline]
    pub fn lot_value(&self, price: Price) -> u128 {
        price as u128 * self.spec.quote_per_price_lot as u128
    }
}

/// Fee on one lot at `price`, rounded up to a whole quote unit; charged per lot so that the sum over partial fills
/// never exceeds what was reserved for the whole order.
#[inline]
pub fn fee_per_lot(lot_value: u128, fee_ppm: u32) -> u128 {
    // The common case fits 64 bits, where dividing by a constant is a multiply; the rest takes the wide path.
    if lot_value < 1 << 40 {
        return ((lot_value as u64 * fee_ppm as u64).div_ceil(1_000_000)) as u128;
    }
    (lot_value * fee_ppm as u128).div_ceil(1_000_000)
}
