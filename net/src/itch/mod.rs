//! TotalView-ITCH 5.0: the order-by-order market data messages Crossline publishes.
//!
//! Every message starts with the same 11 bytes: type (1), Stock Locate (2; the instrument id, 0 for messages
//! about no instrument), Tracking Number (2) and Timestamp (6; nanoseconds since midnight). Prices are `u32`
//! with 4 implied decimals (at most `MAX_PRICE`), shares are `u32`, order reference numbers and match numbers
//! `u64`, stock symbols 8 space-padded bytes. Each message has one fixed size, so `decode` wants exactly one
//! message's bytes (one MoldUDP64 message block or one SoupBinTCP payload) and `encode` writes exactly that.
//!
//! Only the messages the feed needs are here: System Event `S`, Stock Directory `R`, Stock Trading Action `H`,
//! Add Order `A` and `F`, Order Executed `E`, Order Executed With Price `C`, Order Cancel `X`, Order Delete `D`,
//! Order Replace `U` and Trade `P`. Other ITCH types decode as `UnknownType`, which a subscriber skips.

mod messages;

pub use messages::{
    AddOrder, AddOrderMpid, Message, OrderCancel, OrderDelete, OrderExecuted,
    OrderExecutedWithPrice, OrderReplace, StockDirectory, StockTradingAction, SystemEvent, Trade,
};

use crate::wire::FieldError;
use thiserror::Error;

/// Bytes of the header every message starts with: type, Stock Locate, Tracking Number, Timestamp.
pub const HEADER_BYTES: usize = 11;
/// The largest price ITCH carries: $200,000.0000 with 4 implied decimals.
pub const MAX_PRICE: u32 = 0x7735_9400;

/// Why bytes are not a valid ITCH message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ItchError {
    #[error("empty ITCH message")]
    Empty,
    #[error("ITCH message type {message_type:#04x} is not one this codec reads")]
    UnknownType { message_type: u8 },
    #[error("expected ITCH message type {expected:#04x}, got {actual:#04x}")]
    WrongType { expected: u8, actual: u8 },
    #[error("ITCH message {message_type:#04x} is {expected_bytes} bytes, got {actual_bytes}")]
    BadLength {
        message_type: u8,
        expected_bytes: usize,
        actual_bytes: usize,
    },
    #[error("ITCH message {message_type:#04x}: {field} has undefined value {value:#04x}")]
    BadCode {
        message_type: u8,
        field: &'static str,
        value: u8,
    },
}

impl ItchError {
    fn field(message_type: u8, error: FieldError) -> ItchError {
        match error {
            FieldError::BadCode { field, value } => ItchError::BadCode {
                message_type,
                field,
                value,
            },
            // The exact length is checked before any field is read; reaching this means a wrong size table.
            FieldError::Truncated => ItchError::BadLength {
                message_type,
                expected_bytes: 0,
                actual_bytes: 0,
            },
        }
    }
}

wire_enum! {
    /// System Event codes.
    pub enum EventCode {
        /// First message of the day.
        StartOfMessages = b'O',
        /// The system accepts orders.
        StartOfSystemHours = b'S',
        /// Market hours orders can execute.
        StartOfMarketHours = b'Q',
        EndOfMarketHours = b'M',
        /// No more orders today.
        EndOfSystemHours = b'E',
        /// Last message of the day.
        EndOfMessages = b'C',
    }
}

wire_enum! {
    /// Trading state in Stock Trading Action.
    pub enum TradingState {
        Halted = b'H',
        Paused = b'P',
        QuotationOnly = b'Q',
        Trading = b'T',
    }
}

wire_enum! {
    /// Buy/sell indicator.
    pub enum BuySell {
        Buy = b'B',
        Sell = b'S',
    }
}

impl From<crossline_engine::Side> for BuySell {
    fn from(side: crossline_engine::Side) -> BuySell {
        match side {
            crossline_engine::Side::Buy => BuySell::Buy,
            crossline_engine::Side::Sell => BuySell::Sell,
        }
    }
}

impl From<BuySell> for crossline_engine::Side {
    fn from(side: BuySell) -> crossline_engine::Side {
        match side {
            BuySell::Buy => crossline_engine::Side::Buy,
            BuySell::Sell => crossline_engine::Side::Sell,
        }
    }
}

wire_enum! {
    /// Whether an execution counts for time-and-sales and volume.
    pub enum Printable {
        No = b'N',
        Yes = b'Y',
    }
}
