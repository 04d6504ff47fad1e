//! OUCH 5.0 messages <-> engine commands and events: pure functions, no I/O, no clock, no allocation.
//!
//! Inbound: `SessionOrderState::translate` checks one decoded `ouch::Inbound` against the session's UserRefNum
//! rule and Crossline's order-entry rules and returns either the `CommandBody` for the sequencer (which stamps
//! `seq` and `timestamp_ns`), a `GatewayRequest` the gateway answers itself, or a typed `Rejection` that carries
//! the OUCH reject code. `translate_bytes` does the same from raw bytes, so a bad side or time-in-force code is a
//! rejection with `0x0009 Invalid Side` / `0x000F Other` rather than only a decode error.
//!
//! Outbound: `translate_event` turns one engine `Event` into the OUCH message for the session that owns it;
//! book, admin and balance events produce nothing (they are for ITCH and operators).
//!
//! Reference data (symbol <-> instrument id) comes from the caller through `ReferenceData`. The rules are written out in docs/PROTOCOL.md, section "Translation".

mod inbound;
mod outbound;

pub use inbound::{
    translate_bytes, GatewayRequest, Rejection, SessionOrderState, TranslateError, Translated,
    MAX_EXPIRE_TIME_S, NANOS_PER_SECOND,
};
pub use outbound::{message_session, translate_event, OutboundError, SessionMessage, AIQ_STRATEGY};

use crossline_engine::{AccountId, InstrumentId, SessionId, Symbol};

/// What the translation needs to know that the messages themselves do not carry.
pub trait ReferenceData {
    /// The instrument trading under `symbol` (8 bytes, space-padded).
    fn instrument_id(&self, symbol: &Symbol) -> Option<InstrumentId>;
    /// The symbol of `instrument`.
    fn symbol(&self, instrument: InstrumentId) -> Option<Symbol>;
}

/// A fixed instrument table: a slice of (instrument id, symbol) pairs searched linearly (a handful of
/// instruments; a gateway with many uses its own `ReferenceData`).
#[derive(Debug, Clone, Copy)]
pub struct InstrumentTable<'a> {
    pub instruments: &'a [(InstrumentId, Symbol)],
}

impl ReferenceData for InstrumentTable<'_> {
    fn instrument_id(&self, symbol: &Symbol) -> Option<InstrumentId> {
        self.instruments
            .iter()
            .find(|(_, known)| known == symbol)
            .map(|&(id, _)| id)
    }

    fn symbol(&self, instrument: InstrumentId) -> Option<Symbol> {
        self.instruments
            .iter()
            .find(|(id, _)| *id == instrument)
            .map(|&(_, symbol)| symbol)
    }
}

/// Who a session trades for: fixed at login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionContext {
    pub session: SessionId,
    pub account: AccountId,
    /// The session's OUCH Firm. A Firm option or field that is blank or equal to this is accepted; any
    /// other firm is `0x000C Firm Not Authorized` (a session acts only for its own account).
    pub firm: [u8; 4],
}
