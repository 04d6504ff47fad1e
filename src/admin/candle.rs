//! Candles (open, high, low, close, volume, trades) per interval, with bucket starts aligned in UTC: fixed
//! intervals to multiples of their length since the epoch, weeks to Monday 00:00, months to the first of the
//! calendar month. Only buckets with trades exist (no gap filling).

use super::calendar::{monday_on_or_before, month_bounds, SECONDS_PER_DAY};
use crossline_engine::{Price, Qty};
use serde::Serialize;
use std::collections::VecDeque;

/// Candles kept per interval per instrument.
pub const CANDLES_KEPT: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Interval {
    M1,
    M5,
    M15,
    M30,
    H1,
    H2,
    H4,
    H6,
    H12,
    D1,
    W1,
    Mo1,
}

impl Interval {
    pub const ALL: [Interval; 12] = [
        Interval::M1,
        Interval::M5,
        Interval::M15,
        Interval::M30,
        Interval::H1,
        Interval::H2,
        Interval::H4,
        Interval::H6,
        Interval::H12,
        Interval::D1,
        Interval::W1,
        Interval::Mo1,
    ];

    /// The name used in `?interval=`: 1m 5m 15m 30m 1h 2h 4h 6h 12h 1d 1w 1M.
    pub fn name(self) -> &'static str {
        match self {
            Interval::M1 => "1m",
            Interval::M5 => "5m",
            Interval::M15 => "15m",
            Interval::M30 => "30m",
            Interval::H1 => "1h",
            Interval::H2 => "2h",
            Interval::H4 => "4h",
            Interval::H6 => "6h",
            Interval::H12 => "12h",
            Interval::D1 => "1d",
            Interval::W1 => "1w",
            Interval::Mo1 => "1M",
        }
    }

    pub fn parse(text: &str) -> Option<Interval> {
        Interval::ALL.into_iter().find(|i| i.name() == text)
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// Length in seconds of the fixed-length intervals (everything but the calendar month).
    fn fixed_seconds(self) -> Option<i64> {
        Some(match self {
            Interval::M1 => 60,
            Interval::M5 => 300,
            Interval::M15 => 900,
            Interval::M30 => 1_800,
            Interval::H1 => 3_600,
            Interval::H2 => 7_200,
            Interval::H4 => 14_400,
            Interval::H6 => 21_600,
            Interval::H12 => 43_200,
            Interval::D1 => SECONDS_PER_DAY,
            Interval::W1 | Interval::Mo1 => return None,
        })
    }

    /// [start, end) in seconds since the epoch of the bucket holding `seconds`.
    pub fn bucket(self, seconds: i64) -> (i64, i64) {
        match self {
            Interval::W1 => {
                let monday = monday_on_or_before(seconds.div_euclid(SECONDS_PER_DAY));
                (monday * SECONDS_PER_DAY, (monday + 7) * SECONDS_PER_DAY)
            }
            Interval::Mo1 => {
                let (start, end) = month_bounds(seconds.div_euclid(SECONDS_PER_DAY));
                (start * SECONDS_PER_DAY, end * SECONDS_PER_DAY)
            }
            fixed => {
                let len = fixed.fixed_seconds().unwrap_or(60);
                let start = seconds.div_euclid(len) * len;
                (start, start + len)
            }
        }
    }
}

/// One bucket's prices and volume. Times are seconds since the Unix epoch, UTC; `end` is exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Candle {
    pub start: i64,
    pub end: i64,
    pub open: Price,
    pub high: Price,
    pub low: Price,
    pub close: Price,
    /// Lots traded.
    pub volume: u64,
    pub trades: u64,
}

impl Candle {
    fn new(start: i64, end: i64, price: Price, qty: Qty) -> Candle {
        Candle {
            start,
            end,
            open: price,
            high: price,
            low: price,
            close: price,
            volume: qty,
            trades: 1,
        }
    }

    fn add(&mut self, price: Price, qty: Qty) {
        self.high = self.high.max(price);
        self.low = self.low.min(price);
        self.close = price;
        self.volume = self.volume.saturating_add(qty);
        self.trades += 1;
    }
}

/// The most recent candles of one interval, oldest first, at most `kept`.
#[derive(Debug, Clone)]
pub struct CandleSeries {
    interval: Interval,
    kept: usize,
    candles: VecDeque<Candle>,
}

impl CandleSeries {
    pub fn new(interval: Interval, kept: usize) -> CandleSeries {
        CandleSeries {
            interval,
            kept: kept.max(1),
            candles: VecDeque::new(),
        }
    }

    /// Adds one trade at `timestamp_ns` (since the epoch). A trade older than the newest bucket (a clock that
    /// stepped back) goes into its own bucket if that is still kept; older than everything kept, it is dropped.
    pub fn record(&mut self, timestamp_ns: u64, price: Price, qty: Qty) {
        let seconds = (timestamp_ns / 1_000_000_000) as i64;
        let (start, end) = self.interval.bucket(seconds);
        match self.candles.back_mut() {
            Some(last) if last.start == start => {
                last.add(price, qty);
                return;
            }
            Some(last) if last.start > start => {}
            _ => {
                if self.candles.len() >= self.kept {
                    self.candles.pop_front();
                }
                self.candles.push_back(Candle::new(start, end, price, qty));
                return;
            }
        }
        match self.candles.binary_search_by_key(&start, |c| c.start) {
            Ok(at) => {
                if let Some(candle) = self.candles.get_mut(at) {
                    candle.add(price, qty);
                }
            }
            Err(0) if self.candles.len() >= self.kept => {}
            Err(at) => {
                self.candles.insert(at, Candle::new(start, end, price, qty));
                if self.candles.len() > self.kept {
                    self.candles.pop_front();
                }
            }
        }
    }

    /// The newest `limit` candles, oldest first.
    pub fn last(&self, limit: usize) -> Vec<Candle> {
        let skip = self.candles.len().saturating_sub(limit);
        self.candles.iter().skip(skip).copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::calendar::days_from_civil;
    use super::*;

    const NS: u64 = 1_000_000_000;

    fn at(y: i64, mo: u32, d: u32, h: i64, mi: i64, s: i64) -> i64 {
        days_from_civil(y, mo, d) * SECONDS_PER_DAY + h * 3_600 + mi * 60 + s
    }

    #[test]
    fn names_round_trip() {
        for interval in Interval::ALL {
            assert_eq!(Interval::parse(interval.name()), Some(interval));
            assert_eq!(Interval::ALL[interval.index()], interval);
        }
        assert_eq!(Interval::parse("1M"), Some(Interval::Mo1));
        assert_eq!(Interval::parse("1m"), Some(Interval::M1));
        assert_eq!(Interval::parse("3m"), None);
        assert_eq!(Interval::parse(""), None);
    }

    #[test]
    fn fixed_boundaries() {
        let t = at(2026, 11, 25, 13, 47, 31);
        assert_eq!(
            Interval::M1.bucket(t),
            (at(2026, 11, 25, 13, 47, 0), at(2026, 11, 25, 13, 48, 0))
        );
        assert_eq!(Interval::M5.bucket(t).0, at(2026, 11, 25, 13, 45, 0));
        assert_eq!(Interval::M15.bucket(t).0, at(2026, 11, 25, 13, 45, 0));
        assert_eq!(Interval::M30.bucket(t).0, at(2026, 11, 25, 13, 30, 0));
        assert_eq!(Interval::H1.bucket(t).0, at(2026, 11, 25, 13, 0, 0));
        assert_eq!(Interval::H2.bucket(t).0, at(2026, 11, 25, 12, 0, 0));
        assert_eq!(Interval::H4.bucket(t).0, at(2026, 11, 25, 12, 0, 0));
        assert_eq!(Interval::H6.bucket(t).0, at(2026, 11, 25, 12, 0, 0));
        assert_eq!(Interval::H12.bucket(t).0, at(2026, 11, 25, 12, 0, 0));
        assert_eq!(
            Interval::D1.bucket(t),
            (at(2026, 11, 25, 0, 0, 0), at(2026, 11, 26, 0, 0, 0))
        );
        // A boundary belongs to the bucket it starts.
        let b = at(2026, 11, 25, 14, 0, 0);
        assert_eq!(Interval::H1.bucket(b).0, b);
        assert_eq!(Interval::H1.bucket(b - 1).0, at(2026, 11, 25, 13, 0, 0));
    }

    #[test]
    fn week_starts_on_monday() {
        // Wednesday 2026-11-25 -> Monday 2026-11-23 .. Monday 2026-11-30.
        let t = at(2026, 11, 25, 13, 47, 31);
        assert_eq!(
            Interval::W1.bucket(t),
            (at(2026, 11, 23, 0, 0, 0), at(2026, 11, 30, 0, 0, 0))
        );
        // Sunday 23:59:59 still belongs to the week before; Monday 00:00 starts the next.
        let sunday = at(2026, 11, 29, 23, 59, 59);
        assert_eq!(Interval::W1.bucket(sunday).0, at(2026, 11, 23, 0, 0, 0));
        assert_eq!(Interval::W1.bucket(sunday + 1).0, at(2026, 11, 30, 0, 0, 0));
        // Across a year end: Thursday 2026-01-01 -> Monday 2025-12-29.
        assert_eq!(
            Interval::W1.bucket(at(2026, 1, 1, 0, 0, 0)).0,
            at(2025, 12, 29, 0, 0, 0)
        );
    }

    #[test]
    fn month_starts_on_the_first() {
        let t = at(2024, 2, 29, 23, 59, 59);
        assert_eq!(
            Interval::Mo1.bucket(t),
            (at(2024, 2, 1, 0, 0, 0), at(2024, 3, 1, 0, 0, 0))
        );
        assert_eq!(Interval::Mo1.bucket(t + 1).0, at(2024, 3, 1, 0, 0, 0));
        let t = at(2026, 12, 31, 12, 0, 0);
        assert_eq!(
            Interval::Mo1.bucket(t),
            (at(2026, 12, 1, 0, 0, 0), at(2027, 1, 1, 0, 0, 0))
        );
        assert_eq!(
            Interval::Mo1.bucket(at(2023, 2, 14, 0, 0, 0)).1 - at(2023, 2, 1, 0, 0, 0),
            28 * SECONDS_PER_DAY
        );
    }

    #[test]
    fn aggregates_ohlcv() {
        let base = at(2026, 11, 25, 10, 0, 0) as u64 * NS;
        let mut series = CandleSeries::new(Interval::M1, 10);
        series.record(base, 100, 1);
        series.record(base + 10 * NS, 105, 2);
        series.record(base + 20 * NS, 95, 3);
        series.record(base + 59 * NS + 999_999_999, 99, 4);
        series.record(base + 60 * NS, 98, 5);
        let candles = series.last(10);
        assert_eq!(candles.len(), 2);
        let c = candles[0];
        assert_eq!(
            (c.open, c.high, c.low, c.close, c.volume, c.trades),
            (100, 105, 95, 99, 10, 4)
        );
        assert_eq!(c.end - c.start, 60);
        assert_eq!(candles[1].open, 98);
        assert_eq!(series.last(1), candles[1..].to_vec());
    }

    #[test]
    fn bounded_and_tolerates_a_clock_step_back() {
        let base = at(2026, 11, 25, 10, 0, 0) as u64 * NS;
        let mut series = CandleSeries::new(Interval::M1, 3);
        for minute in 0..5u64 {
            series.record(base + minute * 60 * NS, 100 + minute as i64, 1);
        }
        let starts: Vec<i64> = series.last(10).iter().map(|c| c.start).collect();
        let b = (base / NS) as i64;
        assert_eq!(starts, vec![b + 120, b + 180, b + 240]);
        // Back into a kept bucket: added there.
        series.record(base + 3 * 60 * NS + 5 * NS, 200, 7);
        let c = series.last(10)[1];
        assert_eq!((c.high, c.close, c.volume, c.trades), (200, 200, 8, 2));
        // Older than everything kept: dropped.
        series.record(base, 1, 1);
        assert_eq!(series.last(10).len(), 3);
        assert_eq!(series.last(10)[0].start, b + 120);
    }
}
