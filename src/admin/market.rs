//! Derived market data off the hot path: the instruments, the recent trades and the candles of each instrument,
//! built from the follower's applied commands and events. Pure and deterministic: the same journal gives the
//! same view.

use super::candle::{Candle, CandleSeries, Interval};
use crate::pipeline::follower::ApplyObserver;
use crossline_engine::{
    symbol_text, Command, Event, InstrumentId, InstrumentStatus, Liquidity, Price, Qty, Side,
    Symbol,
};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};

/// Recent trades kept per instrument.
pub const TRADES_KEPT: usize = 1000;

/// One match, as the aggressor saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Trade {
    pub match_number: u64,
    pub price: Price,
    pub qty: Qty,
    /// The side of the incoming order (the opposite of the resting order's side).
    #[serde(serialize_with = "serialize_side")]
    pub aggressor: Side,
    /// Nanoseconds since the Unix epoch: the sequencer's stamp on the command that traded.
    pub timestamp_ns: u64,
}

fn serialize_side<S: serde::Serializer>(side: &Side, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(side_name(*side))
}

pub fn side_name(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

pub fn status_name(status: InstrumentStatus) -> &'static str {
    match status {
        InstrumentStatus::Trading => "trading",
        InstrumentStatus::Halted => "halted",
        InstrumentStatus::CancelOnly => "cancel_only",
    }
}

/// What the view knows about one instrument.
#[derive(Debug, Clone)]
pub struct InstrumentMarket {
    pub id: InstrumentId,
    pub symbol: String,
    pub status: InstrumentStatus,
    pub last_price: Option<Price>,
    trades: VecDeque<Trade>,
    candles: Vec<CandleSeries>,
}

impl InstrumentMarket {
    fn new(id: InstrumentId, symbol: String, candles_kept: usize) -> Self {
        InstrumentMarket {
            id,
            symbol,
            status: InstrumentStatus::Trading,
            last_price: None,
            trades: VecDeque::new(),
            candles: Interval::ALL
                .iter()
                .map(|&interval| CandleSeries::new(interval, candles_kept))
                .collect(),
        }
    }

    /// The most recent `limit` trades, oldest first.
    pub fn recent_trades(&self, limit: usize) -> impl Iterator<Item = &Trade> {
        self.trades
            .iter()
            .skip(self.trades.len().saturating_sub(limit))
    }

    /// The most recent `limit` candles of `interval`, oldest first.
    pub fn candles(&self, interval: Interval, limit: usize) -> Vec<Candle> {
        self.candles
            .get(interval.index())
            .map_or_else(Vec::new, |series| series.last(limit))
    }
}

/// The follower's market view: implements `ApplyObserver`.
#[derive(Debug, Clone)]
pub struct MarketView {
    instruments: BTreeMap<InstrumentId, InstrumentMarket>,
    by_symbol: HashMap<String, InstrumentId>,
    trades_kept: usize,
    candles_kept: usize,
}

impl Default for MarketView {
    fn default() -> Self {
        MarketView::new(TRADES_KEPT, super::candle::CANDLES_KEPT)
    }
}

impl MarketView {
    /// A view keeping at most `trades_kept` trades and `candles_kept` candles per interval per instrument.
    pub fn new(trades_kept: usize, candles_kept: usize) -> Self {
        MarketView {
            instruments: BTreeMap::new(),
            by_symbol: HashMap::new(),
            trades_kept: trades_kept.max(1),
            candles_kept: candles_kept.max(1),
        }
    }

    pub fn instrument_id(&self, symbol: &str) -> Option<InstrumentId> {
        self.by_symbol.get(symbol).copied()
    }

    pub fn by_symbol(&self, symbol: &str) -> Option<&InstrumentMarket> {
        self.instrument_id(symbol)
            .and_then(|id| self.instruments.get(&id))
    }

    /// Every instrument, by id.
    pub fn instruments(&self) -> impl Iterator<Item = &InstrumentMarket> {
        self.instruments.values()
    }

    /// Makes an instrument known without its `InstrumentAdded` event (one restored from a snapshot). Trades and
    /// candles start empty: they are derived from the commands applied since.
    pub fn learn_instrument(&mut self, instrument: InstrumentId, symbol: Symbol) {
        let text = symbol_text(&symbol).to_string();
        self.by_symbol.insert(text.clone(), instrument);
        let candles_kept = self.candles_kept;
        self.instruments
            .entry(instrument)
            .or_insert_with(|| InstrumentMarket::new(instrument, text, candles_kept));
    }

    /// Sets an instrument's trading status (one restored from a snapshot).
    pub fn learn_status(&mut self, instrument: InstrumentId, status: InstrumentStatus) {
        if let Some(market) = self.instruments.get_mut(&instrument) {
            market.status = status;
        }
    }

    fn on_event(&mut self, timestamp_ns: u64, event: &Event) {
        match *event {
            Event::InstrumentAdded { instrument, symbol } => {
                self.learn_instrument(instrument, symbol)
            }
            Event::TradingAction {
                instrument, status, ..
            } => self.learn_status(instrument, status),
            Event::Executed {
                instrument,
                side,
                price,
                qty,
                match_number,
                liquidity: Liquidity::Maker,
                ..
            } => {
                let trades_kept = self.trades_kept;
                let Some(market) = self.instruments.get_mut(&instrument) else {
                    return;
                };
                let trade = Trade {
                    match_number,
                    price,
                    qty,
                    aggressor: side.opposite(),
                    timestamp_ns,
                };
                if market.trades.len() >= trades_kept {
                    market.trades.pop_front();
                }
                market.trades.push_back(trade);
                market.last_price = Some(price);
                for series in &mut market.candles {
                    series.record(timestamp_ns, price, qty);
                }
            }
            _ => {}
        }
    }
}

impl ApplyObserver for MarketView {
    fn on_applied(&mut self, command: &Command, events: &[Event]) {
        for event in events {
            self.on_event(command.timestamp_ns, event);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossline_engine::{symbol, CommandBody};

    fn command(seq: u64, timestamp_ns: u64) -> Command {
        Command {
            seq,
            timestamp_ns,
            body: CommandBody::EndOfDay,
        }
    }

    fn added(id: InstrumentId, text: &str) -> Event {
        Event::InstrumentAdded {
            instrument: id,
            symbol: symbol(text),
        }
    }

    fn executed(
        id: InstrumentId,
        side: Side,
        price: Price,
        qty: Qty,
        m: u64,
        l: Liquidity,
    ) -> Event {
        Event::Executed {
            session: 1,
            account: 1,
            user_ref: 1,
            order_id: 1,
            instrument: id,
            side,
            price,
            qty,
            leaves: 0,
            match_number: m,
            liquidity: l,
            fee: 0,
        }
    }

    #[test]
    fn learns_symbols_and_status() {
        let mut view = MarketView::default();
        view.on_applied(&command(1, 0), &[added(7, "BTCUSD")]);
        assert_eq!(view.instrument_id("BTCUSD"), Some(7));
        assert_eq!(view.instrument_id("ETHUSD"), None);
        view.on_applied(
            &command(2, 0),
            &[Event::TradingAction {
                instrument: 7,
                status: InstrumentStatus::Halted,
                reason: crossline_engine::TradingActionReason::Operator,
            }],
        );
        assert_eq!(
            view.by_symbol("BTCUSD").map(|m| m.status),
            Some(InstrumentStatus::Halted)
        );
    }

    #[test]
    fn one_trade_per_match_from_the_maker_side() {
        let mut view = MarketView::default();
        view.on_applied(&command(1, 0), &[added(1, "AAA")]);
        let t = 1_700_000_000_000_000_000;
        view.on_applied(
            &command(2, t),
            &[
                executed(1, Side::Buy, 100, 5, 1, Liquidity::Taker),
                executed(1, Side::Sell, 100, 5, 1, Liquidity::Maker),
                executed(1, Side::Buy, 101, 2, 2, Liquidity::Taker),
                executed(1, Side::Sell, 101, 2, 2, Liquidity::Maker),
            ],
        );
        let market = view.by_symbol("AAA").expect("instrument");
        let trades: Vec<_> = market.recent_trades(10).copied().collect();
        assert_eq!(trades.len(), 2);
        assert_eq!(trades[0].aggressor, Side::Buy);
        assert_eq!(trades[0].match_number, 1);
        assert_eq!(trades[1].price, 101);
        assert_eq!(trades[1].timestamp_ns, t);
        assert_eq!(market.last_price, Some(101));
        let candles = market.candles(Interval::M1, 10);
        assert_eq!(candles.len(), 1);
        assert_eq!(
            (candles[0].open, candles[0].close, candles[0].volume),
            (100, 101, 7)
        );
        assert_eq!(candles[0].trades, 2);
    }

    #[test]
    fn trade_ring_is_bounded() {
        let mut view = MarketView::new(3, 10);
        view.on_applied(&command(1, 0), &[added(1, "AAA")]);
        for m in 1..=10u64 {
            view.on_applied(
                &command(m + 1, m * 1_000_000_000),
                &[executed(
                    1,
                    Side::Buy,
                    100 + m as i64,
                    1,
                    m,
                    Liquidity::Maker,
                )],
            );
        }
        let market = view.by_symbol("AAA").expect("instrument");
        assert_eq!(market.recent_trades(usize::MAX).count(), 3);
        let numbers: Vec<u64> = market.recent_trades(100).map(|t| t.match_number).collect();
        assert_eq!(numbers, vec![8, 9, 10]);
        let numbers: Vec<u64> = market.recent_trades(2).map(|t| t.match_number).collect();
        assert_eq!(numbers, vec![9, 10]);
        assert_eq!(
            market.recent_trades(2).next().map(|t| t.aggressor),
            Some(Side::Sell)
        );
    }

    #[test]
    fn learns_instruments_restored_from_a_snapshot() {
        let mut view = MarketView::default();
        view.learn_instrument(4, symbol("XYZ"));
        view.learn_status(4, InstrumentStatus::CancelOnly);
        view.learn_status(5, InstrumentStatus::Halted);
        assert_eq!(view.instrument_id("XYZ"), Some(4));
        assert_eq!(
            view.by_symbol("XYZ").map(|m| m.status),
            Some(InstrumentStatus::CancelOnly)
        );
        assert_eq!(view.instruments().count(), 1);
        // The event for an instrument already known changes nothing.
        view.on_applied(&command(9, 0), &[added(4, "XYZ")]);
        assert_eq!(
            view.by_symbol("XYZ").map(|m| m.status),
            Some(InstrumentStatus::CancelOnly)
        );
    }

    #[test]
    fn trades_of_unknown_instruments_are_ignored() {
        let mut view = MarketView::default();
        view.on_applied(
            &command(1, 0),
            &[executed(9, Side::Buy, 1, 1, 1, Liquidity::Maker)],
        );
        assert_eq!(view.instruments().count(), 0);
    }
}
