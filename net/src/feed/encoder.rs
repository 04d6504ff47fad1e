//! Engine events -> ITCH 5.0 messages.

use crate::itch::{
    AddOrder, BuySell, EventCode, Message, OrderCancel, OrderDelete, OrderExecuted, OrderReplace,
    StockDirectory, StockTradingAction, SystemEvent, TradingState, MAX_PRICE,
};
use crate::translate::ReferenceData;
use crossline_engine::{
    BookEvent, Event, InstrumentId, InstrumentStatus, Price, Qty, TradingActionReason,
};
use thiserror::Error;

/// The largest timestamp ITCH carries: 6 bytes of nanoseconds.
const MAX_TIMESTAMP_NS: u64 = (1 << 48) - 1;

/// Why an engine event cannot be put on the feed. None of these happens for an instrument configured within the
/// feed's limits (instrument id below 65,536, price band within 0..=`itch::MAX_PRICE`, maximum order quantity
/// within `u32`); when one does, the message is not published and the caller must treat the feed as broken for
/// that instrument (halt it), because subscribers would otherwise rebuild a different book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FeedError {
    #[error("instrument {instrument} does not fit the 16-bit ITCH stock locate")]
    InstrumentIdTooLarge { instrument: InstrumentId },
    #[error("instrument {instrument} has no symbol in the feed's reference table")]
    UnknownInstrument { instrument: InstrumentId },
    #[error("price {price} of instrument {instrument} is outside ITCH's 0..={MAX_PRICE}")]
    PriceOutOfRange {
        instrument: InstrumentId,
        price: Price,
    },
    #[error("quantity {qty} of instrument {instrument} does not fit ITCH's 32-bit shares")]
    QtyOutOfRange { instrument: InstrumentId, qty: Qty },
    #[error("timestamp {timestamp_ns} ns does not fit ITCH's 6 bytes")]
    TimestampOutOfRange { timestamp_ns: u64 },
    #[error("a {message_bytes}-byte message does not fit the publisher's packets or store")]
    MessageTooLarge { message_bytes: usize },
}

/// The ITCH trading state for an engine instrument status: cancel-only is halted for new orders, as on the wire
/// a subscriber only needs to know that nothing new will trade.
pub fn trading_state(status: InstrumentStatus) -> TradingState {
    match status {
        InstrumentStatus::Trading => TradingState::Trading,
        InstrumentStatus::Halted | InstrumentStatus::CancelOnly => TradingState::Halted,
    }
}

/// Turns engine events into ITCH messages. Stock locate = instrument id, tracking number 0, order reference
/// numbers = the engine's feed references, prices 4 bytes with 4 implied decimals (engine price units are used
/// as is), shares = engine lots.
#[derive(Debug, Clone)]
pub struct FeedEncoder<R> {
    reference: R,
}

impl<R: ReferenceData> FeedEncoder<R> {
    /// `reference` gives each instrument's 8-byte symbol (Add Order and Trading Action carry it).
    pub fn new(reference: R) -> Self {
        FeedEncoder { reference }
    }

    /// System Event `S` (stock locate 0), e.g. `StartOfMessages` at start-up.
    pub fn system_event(
        &self,
        event_code: EventCode,
        timestamp_ns: u64,
    ) -> Result<Message, FeedError> {
        Ok(Message::SystemEvent(SystemEvent {
            stock_locate: 0,
            tracking_number: 0,
            timestamp_ns: timestamp(timestamp_ns)?,
            event_code,
        }))
    }

    /// Stock Directory `R` for an instrument (sent at start-up for every instrument, and when one is added).
    pub fn stock_directory(
        &self,
        instrument: InstrumentId,
        stock: crossline_engine::Symbol,
        timestamp_ns: u64,
    ) -> Result<Message, FeedError> {
        Ok(Message::StockDirectory(StockDirectory {
            stock_locate: locate(instrument)?,
            tracking_number: 0,
            timestamp_ns: timestamp(timestamp_ns)?,
            stock,
            market_category: b' ',
            financial_status_indicator: b' ',
            // Feed quantities are already lots.
            round_lot_size: 1,
            round_lots_only: b'N',
            issue_classification: b' ',
            issue_sub_type: *b"  ",
            authenticity: b'P',
            short_sale_threshold_indicator: b' ',
            ipo_flag: b' ',
            luld_reference_price_tier: b' ',
            etp_flag: b' ',
            etp_leverage_factor: 0,
            inverse_indicator: b'N',
        }))
    }

    /// The feed message for an engine event, or `None` for events the feed does not carry (order-entry replies,
    /// balances, settings).
    pub fn encode_event(
        &self,
        event: &Event,
        timestamp_ns: u64,
    ) -> Result<Option<Message>, FeedError> {
        match *event {
            Event::Book(book) => self.encode_book_event(&book, timestamp_ns).map(Some),
            Event::InstrumentAdded { instrument, symbol } => self
                .stock_directory(instrument, symbol, timestamp_ns)
                .map(Some),
            Event::TradingAction {
                instrument,
                status,
                reason,
            } => Ok(Some(Message::StockTradingAction(StockTradingAction {
                stock_locate: locate(instrument)?,
                tracking_number: 0,
                timestamp_ns: timestamp(timestamp_ns)?,
                stock: self.symbol(instrument)?,
                trading_state: trading_state(status),
                reserved: b' ',
                reason: match (reason, status) {
                    // Appendix C: LUDP, the volatility trading pause, is the nearest code to a breaker halt.
                    (TradingActionReason::CircuitBreaker, InstrumentStatus::Halted) => *b"LUDP",
                    _ => *b"    ",
                },
            }))),
            _ => Ok(None),
        }
    }

    /// The order-by-order message for a book change.
    pub fn encode_book_event(
        &self,
        event: &BookEvent,
        timestamp_ns: u64,
    ) -> Result<Message, FeedError> {
        let timestamp_ns = timestamp(timestamp_ns)?;
        Ok(match *event {
            BookEvent::Add {
                instrument,
                order_ref,
                side,
                price,
                qty,
            } => Message::AddOrder(AddOrder {
                stock_locate: locate(instrument)?,
                tracking_number: 0,
                timestamp_ns,
                order_reference_number: order_ref,
                side: BuySell::from(side),
                shares: shares(instrument, qty)?,
                stock: self.symbol(instrument)?,
                price: price4(instrument, price)?,
            }),
            // A resting order always trades at its own displayed price in this engine, so `E` (not `C`).
            BookEvent::Execute {
                instrument,
                order_ref,
                qty,
                match_number,
                ..
            } => Message::OrderExecuted(OrderExecuted {
                stock_locate: locate(instrument)?,
                tracking_number: 0,
                timestamp_ns,
                order_reference_number: order_ref,
                executed_shares: shares(instrument, qty)?,
                match_number,
            }),
            BookEvent::Cancel {
                instrument,
                order_ref,
                qty,
            } => Message::OrderCancel(OrderCancel {
                stock_locate: locate(instrument)?,
                tracking_number: 0,
                timestamp_ns,
                order_reference_number: order_ref,
                cancelled_shares: shares(instrument, qty)?,
            }),
            BookEvent::Delete {
                instrument,
                order_ref,
            } => Message::OrderDelete(OrderDelete {
                stock_locate: locate(instrument)?,
                tracking_number: 0,
                timestamp_ns,
                order_reference_number: order_ref,
            }),
            BookEvent::Replace {
                instrument,
                old_ref,
                new_ref,
                price,
                qty,
            } => Message::OrderReplace(OrderReplace {
                stock_locate: locate(instrument)?,
                tracking_number: 0,
                timestamp_ns,
                original_order_reference_number: old_ref,
                new_order_reference_number: new_ref,
                shares: shares(instrument, qty)?,
                price: price4(instrument, price)?,
            }),
        })
    }

    fn symbol(&self, instrument: InstrumentId) -> Result<crossline_engine::Symbol, FeedError> {
        self.reference
            .symbol(instrument)
            .ok_or(FeedError::UnknownInstrument { instrument })
    }
}

fn locate(instrument: InstrumentId) -> Result<u16, FeedError> {
    u16::try_from(instrument).map_err(|_| FeedError::InstrumentIdTooLarge { instrument })
}

fn timestamp(timestamp_ns: u64) -> Result<u64, FeedError> {
    if timestamp_ns > MAX_TIMESTAMP_NS {
        return Err(FeedError::TimestampOutOfRange { timestamp_ns });
    }
    Ok(timestamp_ns)
}

fn shares(instrument: InstrumentId, qty: Qty) -> Result<u32, FeedError> {
    u32::try_from(qty).map_err(|_| FeedError::QtyOutOfRange { instrument, qty })
}

fn price4(instrument: InstrumentId, price: Price) -> Result<u32, FeedError> {
    match u32::try_from(price) {
        Ok(price) if price <= MAX_PRICE => Ok(price),
        _ => Err(FeedError::PriceOutOfRange { instrument, price }),
    }
}
