//! Crossline's additions to OUCH 5.0 (documented in docs/PROTOCOL.md).
//!
//! Extension messages use lowercase type letters, which OUCH 5.0 never assigns, so an off-the-shelf client that
//! does not send them never meets them. Crossline's own reject codes are two ASCII capital letters read as a
//! big-endian u16 (`BF` = 0x4246): the specification's codes are all below 0x0100, so the two sets cannot
//! collide, and the code reads as text in a packet capture.
//!
//! Quote, `q` inbound, 37 bytes:
//!
//! | offset | bytes | field |
//! | ---: | ---: | --- |
//! | 0 | 1 | type `q` |
//! | 1 | 4 | UserRefNum (same sequence rules as Enter Order) |
//! | 5 | 8 | Symbol |
//! | 13 | 8 | Bid Price (4 implied decimals) |
//! | 21 | 4 | Bid Size (0 withdraws the bid) |
//! | 25 | 8 | Ask Price (4 implied decimals) |
//! | 33 | 4 | Ask Size (0 withdraws the ask) |
//!
//! Quote Status, `q` outbound, 64 bytes:
//!
//! | offset | bytes | field |
//! | ---: | ---: | --- |
//! | 0 | 1 | type `q` |
//! | 1 | 8 | Timestamp (ns since midnight) |
//! | 9 | 4 | UserRefNum of the Quote |
//! | 13 | 8 | Symbol |
//! | 21 | 1 | Status: `A` accepted, `J` rejected |
//! | 22 | 2 | Reject Reason (as Order Rejected; 0 when accepted) |
//! | 24 | 8 | Bid Price |
//! | 32 | 4 | Bid Size now resting (0: no bid) |
//! | 36 | 8 | Bid Order Reference Number (0: no bid) |
//! | 44 | 8 | Ask Price |
//! | 52 | 4 | Ask Size now resting (0: no ask) |
//! | 56 | 8 | Ask Order Reference Number (0: no ask) |

use super::ouch_message;
use super::types::{CancelReason, RejectReason};
use crossline_engine::Symbol;

ouch_message! {
    /// `q` inbound: a two-sided quote that atomically replaces the session's previous quote on the symbol.
    pub struct Quote = b'q', fixed {
        pub user_ref_num: u32,
        pub symbol: Symbol,
        /// 4 implied decimals.
        pub bid_price: u64,
        /// Zero withdraws the bid.
        pub bid_quantity: u32,
        /// 4 implied decimals.
        pub ask_price: u64,
        /// Zero withdraws the ask.
        pub ask_quantity: u32,
    }
}

wire_enum! {
    /// Outcome of a Quote.
    pub enum QuoteStatusCode {
        Accepted = b'A',
        Rejected = b'J',
    }
}

ouch_message! {
    /// `q` outbound: the answer to a Quote, with what now rests on each side. Fills on quote sides arrive as
    /// ordinary Order Executed messages carrying the Quote's UserRefNum; the execution price tells the side.
    pub struct QuoteStatus = b'q', fixed {
        pub timestamp_ns: u64,
        pub user_ref_num: u32,
        pub symbol: Symbol,
        pub status: QuoteStatusCode,
        /// `RejectReason(0)` when accepted.
        pub reject_reason: RejectReason,
        pub bid_price: u64,
        /// Open quantity resting on the bid; zero when there is none.
        pub bid_quantity: u32,
        /// Engine order id of the bid (its ITCH order reference); zero when there is none.
        pub bid_order_reference_number: u64,
        pub ask_price: u64,
        pub ask_quantity: u32,
        pub ask_order_reference_number: u64,
    }
}

/// Two ASCII capitals as a reject code.
const fn letters(code: &[u8; 2]) -> RejectReason {
    RejectReason(u16::from_be_bytes(*code))
}

impl RejectReason {
    /// Crossline: the instrument's order pool is full.
    pub const BOOK_FULL: RejectReason = letters(b"BF");
    /// Crossline: the account cannot reserve the order's cost.
    pub const INSUFFICIENT_FUNDS: RejectReason = letters(b"IF");
    /// Crossline: the price is outside the instrument's price band.
    pub const PRICE_BAND: RejectReason = letters(b"PB");
    /// Crossline: the instrument is halted.
    pub const INSTRUMENT_HALTED: RejectReason = letters(b"IH");
    /// Crossline: the session exceeded its message rate.
    pub const RATE_LIMITED: RejectReason = letters(b"RL");
    /// Crossline: the instrument accepts cancels and reductions only.
    pub const CANCEL_ONLY: RejectReason = letters(b"CO");

    /// Crossline's own codes.
    pub const CROSSLINE: [RejectReason; 6] = [
        RejectReason::BOOK_FULL,
        RejectReason::INSUFFICIENT_FUNDS,
        RejectReason::PRICE_BAND,
        RejectReason::INSTRUMENT_HALTED,
        RejectReason::RATE_LIMITED,
        RejectReason::CANCEL_ONLY,
    ];

    pub fn is_crossline(self) -> bool {
        RejectReason::CROSSLINE.contains(&self)
    }

    /// The nearest specification code, for a session configured for clients that refuse codes outside
    /// Appendix D. Specification codes map to themselves.
    pub fn spec_fallback(self) -> RejectReason {
        match self {
            RejectReason::BOOK_FULL => RejectReason::PROCESSING_ERROR,
            RejectReason::INSUFFICIENT_FUNDS => RejectReason::RISK_AGGREGATE_EXPOSURE,
            RejectReason::PRICE_BAND => RejectReason::FAT_FINGER,
            RejectReason::INSTRUMENT_HALTED => RejectReason::HALTED,
            RejectReason::RATE_LIMITED => RejectReason::RISK_PORT_MESSAGE_RATE,
            RejectReason::CANCEL_ONLY => RejectReason::DESTINATION_CLOSED,
            specified if specified.is_specified() => specified,
            _ => RejectReason::OTHER,
        }
    }
}

/// The code each engine reject reason carries on the wire: a specification code where one fits, Crossline's
/// where none does.
impl From<crossline_engine::RejectReason> for RejectReason {
    fn from(reason: crossline_engine::RejectReason) -> RejectReason {
        use crossline_engine::RejectReason as Engine;
        match reason {
            Engine::InstrumentHalted => RejectReason::INSTRUMENT_HALTED,
            Engine::CancelOnly => RejectReason::CANCEL_ONLY,
            Engine::PriceOutsideBand => RejectReason::PRICE_BAND,
            Engine::InsufficientFunds => RejectReason::INSUFFICIENT_FUNDS,
            Engine::BookFull => RejectReason::BOOK_FULL,
            Engine::UnknownInstrument => RejectReason::INVALID_SYMBOL,
            Engine::UnknownAccount | Engine::OrderEntryDisabled => {
                RejectReason::FIRM_NOT_AUTHORIZED
            }
            Engine::InvalidPrice | Engine::PriceNotOnTick => RejectReason::INVALID_PRICE,
            Engine::InvalidQty | Engine::NotAReduction => RejectReason::INVALID_QUANTITY,
            Engine::InvalidMinQty => RejectReason::INVALID_MIN_QUANTITY,
            Engine::InvalidDisplayQty => RejectReason::INVALID_MAX_FLOOR,
            Engine::QtyAboveMax => RejectReason::SHARES_EXCEED_THRESHOLD,
            Engine::NotionalAboveMax | Engine::NotionalOverflow => {
                RejectReason::EXCEEDS_MAXIMUM_NOTIONAL
            }
            Engine::PostOnlyWouldTrade | Engine::QuoteCrossed => RejectReason::CROSSED_MARKET,
            Engine::NotReplaceable => RejectReason::REPLACE_NOT_ALLOWED,
            Engine::BalanceOverflow => RejectReason::PROCESSING_ERROR,
            Engine::InstrumentExists
            | Engine::InvalidInstrumentSpec
            | Engine::UnknownAsset
            | Engine::UnknownFeeTier
            | Engine::InvalidFeeRate
            | Engine::InvalidAmount
            | Engine::InvalidExpireTime
            | Engine::InvalidTimeInForce
            | Engine::TooManyOpenOrders
            | Engine::DuplicateUserRef
            | Engine::UnknownOrder
            | Engine::MassCancelNeedsScope => RejectReason::OTHER,
        }
    }
}

/// The specification's cancel reason for each engine cancel reason (Crossline adds no cancel codes).
impl From<crossline_engine::CancelReason> for CancelReason {
    fn from(reason: crossline_engine::CancelReason) -> CancelReason {
        use crossline_engine::CancelReason as Engine;
        match reason {
            Engine::UserRequested | Engine::MassCancel | Engine::QuoteReplaced => {
                CancelReason::UserRequested
            }
            Engine::ImmediateOrCancel | Engine::MinQtyNotMet => CancelReason::ImmediateOrCancel,
            Engine::SelfTradePrevention => CancelReason::SelfMatchPrevention,
            Engine::Expired => CancelReason::Timeout,
            Engine::EndOfDay => CancelReason::Closed,
            Engine::Disconnect => CancelReason::SystemCancel,
            Engine::Admin => CancelReason::Supervisory,
            Engine::CircuitBreaker => CancelReason::Halted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crossline_codes_are_letters_outside_the_specification() {
        assert_eq!(RejectReason::BOOK_FULL, RejectReason(0x4246));
        for code in RejectReason::CROSSLINE {
            assert!(!code.is_specified());
            assert!(code.0.to_be_bytes().iter().all(u8::is_ascii_uppercase));
            assert!(code.spec_fallback().is_specified());
        }
        let mut distinct = RejectReason::CROSSLINE.map(|code| code.0);
        distinct.sort_unstable();
        assert!(distinct.windows(2).all(|pair| pair[0] != pair[1]));
    }
}
