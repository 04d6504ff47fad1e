//! Engine events -> outbound OUCH messages for the session that owns them.

use super::ReferenceData;
use crate::ouch::{
    self, Capacity, CrossType, Display, IsoEligibility, LiquidityFlag, Options, OrderState,
    Outbound, QuoteStatusCode, RejectReason,
};
use crossline_engine::{
    Event, InstrumentId, Liquidity, Price, Qty, SessionId, SessionReply, SessionReplyKind, Symbol,
    TimeInForce,
};
use thiserror::Error;

/// AIQ Strategy byte of AIQ Canceled: `O` when the resting (older) order was cancelled, `N` when the incoming
/// (newer) one was. The engine's event says which side of the prevented trade the order was on, not the
/// account's STP mode, so "cancel both" shows as one `O` and one `N`.
pub const AIQ_STRATEGY: [u8; 2] = [b'O', b'N'];

const BLANK_SYMBOL: Symbol = [b' '; 8];
const BLANK_FIRM: [u8; 4] = [b' '; 4];
const BLANK_CL_ORD_ID: [u8; 14] = [b' '; 14];

/// One outbound OUCH message and the session whose Sequenced Data stream it goes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionMessage {
    pub session: SessionId,
    pub message: Outbound,
}

/// Why an engine event cannot be written as OUCH. None of these happens with a consistent instrument table and
/// engine limits that fit the wire (quantities below 2^32); they are errors, not panics, all the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum OutboundError {
    #[error("instrument {instrument} is not in the instrument table")]
    UnknownInstrument { instrument: InstrumentId },
    #[error("price {price} cannot be an OUCH price (negative)")]
    PriceOutOfRange { price: Price },
    #[error("quantity {qty} lots does not fit OUCH's 4-byte quantity")]
    QuantityOutOfRange { qty: Qty },
}

/// Translates one engine event. `timestamp_ns` is the event's command time as nanoseconds since midnight.
/// Returns `Ok(None)` for events that are not order-entry messages (book, trading action, instrument, settings
/// and balance events: ITCH and the operator's business).
pub fn translate_event(
    event: &Event,
    reference: &impl ReferenceData,
    timestamp_ns: u64,
) -> Result<Option<SessionMessage>, OutboundError> {
    let (session, message) = match *event {
        Event::Accepted {
            session,
            user_ref,
            order_id,
            instrument,
            side,
            price,
            qty,
            time_in_force,
            ..
        } => (
            session,
            Outbound::OrderAccepted(ouch::OrderAccepted {
                timestamp_ns,
                user_ref_num: user_ref,
                side: ouch::Side::from(side),
                quantity: wire_quantity(qty)?,
                symbol: symbol_of(reference, instrument)?,
                price: wire_price(price)?,
                time_in_force: wire_time_in_force(time_in_force),
                display: Display::Visible,
                order_reference_number: order_id,
                capacity: Capacity::Agency,
                intermarket_sweep: IsoEligibility::NotEligible,
                cross_type: CrossType::ContinuousMarket,
                order_state: OrderState::Live,
                cl_ord_id: BLANK_CL_ORD_ID,
                options: Options::NONE,
            }),
        ),
        Event::Rejected {
            session,
            user_ref,
            reason,
        } => (
            session,
            Outbound::OrderRejected(ouch::OrderRejected {
                timestamp_ns,
                user_ref_num: user_ref,
                reason: RejectReason::from(reason),
                cl_ord_id: BLANK_CL_ORD_ID,
                options: Options::NONE,
            }),
        ),
        Event::QuoteRejected {
            session,
            user_ref,
            instrument,
            reason,
        } => (
            session,
            rejected_quote(
                timestamp_ns,
                user_ref,
                reference.symbol(instrument).unwrap_or(BLANK_SYMBOL),
                RejectReason::from(reason),
            ),
        ),
        Event::Executed {
            session,
            user_ref,
            price,
            qty,
            match_number,
            liquidity,
            ..
        } => (
            session,
            Outbound::OrderExecuted(ouch::OrderExecuted {
                timestamp_ns,
                user_ref_num: user_ref,
                quantity: wire_quantity(qty)?,
                price: wire_price(price)?,
                liquidity_flag: LiquidityFlag::from(liquidity),
                match_number,
                options: Options::NONE,
            }),
        ),
        Event::Canceled {
            session,
            user_ref,
            qty,
            reason,
            ..
        } => (
            session,
            Outbound::OrderCanceled(ouch::OrderCanceled {
                timestamp_ns,
                user_ref_num: user_ref,
                quantity: wire_quantity(qty)?,
                reason: ouch::CancelReason::from(reason),
                options: Options::NONE,
            }),
        ),
        Event::SelfTradeCanceled {
            session,
            user_ref,
            qty,
            prevented_qty,
            price,
            liquidity,
            ..
        } => (
            session,
            Outbound::AiqCanceled(ouch::AiqCanceled {
                timestamp_ns,
                user_ref_num: user_ref,
                decrement_quantity: wire_quantity(qty)?,
                reason: ouch::CancelReason::SelfMatchPrevention,
                quantity_prevented_from_trading: wire_quantity(prevented_qty)?,
                execution_price: wire_price(price)?,
                liquidity_flag: LiquidityFlag::from(liquidity),
                aiq_strategy: match liquidity {
                    Liquidity::Maker => AIQ_STRATEGY[0],
                    Liquidity::Taker => AIQ_STRATEGY[1],
                },
                options: Options::NONE,
            }),
        ),
        Event::Replaced {
            session,
            old_user_ref,
            user_ref,
            order_id,
            instrument,
            side,
            price,
            qty,
            ..
        } => (
            session,
            Outbound::OrderReplaced(ouch::OrderReplaced {
                timestamp_ns,
                orig_user_ref_num: old_user_ref,
                user_ref_num: user_ref,
                side: ouch::Side::from(side),
                quantity: wire_quantity(qty)?,
                symbol: symbol_of(reference, instrument)?,
                price: wire_price(price)?,
                // The engine keeps the order's time in force but its event does not carry it.
                time_in_force: ouch::TimeInForce::Day,
                display: Display::Visible,
                order_reference_number: order_id,
                capacity: Capacity::Agency,
                intermarket_sweep: IsoEligibility::NotEligible,
                cross_type: CrossType::ContinuousMarket,
                order_state: OrderState::Live,
                cl_ord_id: BLANK_CL_ORD_ID,
                options: Options::NONE,
            }),
        ),
        Event::Modified {
            session,
            user_ref,
            side,
            qty,
            ..
        } => (
            session,
            Outbound::OrderModified(ouch::OrderModified {
                timestamp_ns,
                user_ref_num: user_ref,
                side: ouch::Side::from(side),
                quantity: wire_quantity(qty)?,
                options: Options::NONE,
            }),
        ),
        Event::OrderEntrySet {
            session,
            user_ref,
            firm,
            enabled,
            ..
        } => (
            session,
            if enabled {
                Outbound::EnableOrderEntryResponse(ouch::EnableOrderEntryResponse {
                    timestamp_ns,
                    user_ref_num: user_ref,
                    firm,
                    options: Options::NONE,
                })
            } else {
                Outbound::DisableOrderEntryResponse(ouch::DisableOrderEntryResponse {
                    timestamp_ns,
                    user_ref_num: user_ref,
                    firm,
                    options: Options::NONE,
                })
            },
        ),
        Event::SessionReply(reply) => (reply.session, session_reply(&reply, timestamp_ns)),
        Event::QuoteStatus {
            session,
            user_ref,
            instrument,
            bid,
            ask,
            ..
        } => (
            session,
            Outbound::QuoteStatus(ouch::QuoteStatus {
                timestamp_ns,
                user_ref_num: user_ref,
                symbol: symbol_of(reference, instrument)?,
                status: QuoteStatusCode::Accepted,
                reject_reason: RejectReason(0),
                bid_price: wire_price(bid.price)?,
                bid_quantity: wire_quantity(bid.qty)?,
                bid_order_reference_number: bid.order_id,
                ask_price: wire_price(ask.price)?,
                ask_quantity: wire_quantity(ask.qty)?,
                ask_order_reference_number: ask.order_id,
            }),
        ),
        Event::MassCanceled {
            session, user_ref, ..
        } => (
            session,
            // The engine's event does not echo the request's Firm and Symbol: both go out blank.
            Outbound::MassCancelResponse(ouch::MassCancelResponse {
                timestamp_ns,
                user_ref_num: user_ref,
                firm: BLANK_FIRM,
                symbol: BLANK_SYMBOL,
                options: Options::NONE,
            }),
        ),
        Event::TradingAction { .. }
        | Event::InstrumentAdded { .. }
        | Event::SettingsApplied
        | Event::StateChecked { .. }
        | Event::BalanceChanged { .. }
        | Event::Book(_) => return Ok(None),
    };
    Ok(Some(SessionMessage { session, message }))
}

/// The session whose outbound stream `event` adds a message to: `Some` exactly when `translate_event` returns a
/// message. Cheap (no encoding), for a stage that only counts each session's messages.
pub fn message_session(event: &Event) -> Option<SessionId> {
    match *event {
        Event::Accepted { session, .. }
        | Event::Rejected { session, .. }
        | Event::QuoteRejected { session, .. }
        | Event::Executed { session, .. }
        | Event::Canceled { session, .. }
        | Event::SelfTradeCanceled { session, .. }
        | Event::Replaced { session, .. }
        | Event::Modified { session, .. }
        | Event::QuoteStatus { session, .. }
        | Event::MassCanceled { session, .. }
        | Event::OrderEntrySet { session, .. } => Some(session),
        Event::SessionReply(reply) => Some(reply.session),
        Event::TradingAction { .. }
        | Event::InstrumentAdded { .. }
        | Event::SettingsApplied
        | Event::StateChecked { .. }
        | Event::BalanceChanged { .. }
        | Event::Book(_) => None,
    }
}

/// Quote Status `J`: a refused quote, sizes and prices zero.
pub fn rejected_quote(
    timestamp_ns: u64,
    user_ref_num: u32,
    symbol: Symbol,
    reason: RejectReason,
) -> Outbound {
    Outbound::QuoteStatus(ouch::QuoteStatus {
        timestamp_ns,
        user_ref_num,
        symbol,
        status: QuoteStatusCode::Rejected,
        reject_reason: reason,
        bid_price: 0,
        bid_quantity: 0,
        bid_order_reference_number: 0,
        ask_price: 0,
        ask_quantity: 0,
        ask_order_reference_number: 0,
    })
}

/// The gateway's own answers, as the engine passed them through.
fn session_reply(reply: &SessionReply, timestamp_ns: u64) -> Outbound {
    match reply.kind {
        SessionReplyKind::OrderRejected => Outbound::OrderRejected(ouch::OrderRejected {
            timestamp_ns,
            user_ref_num: reply.user_ref,
            reason: RejectReason(reply.code),
            cl_ord_id: BLANK_CL_ORD_ID,
            options: Options::NONE,
        }),
        SessionReplyKind::QuoteRejected => rejected_quote(
            timestamp_ns,
            reply.user_ref,
            reply.symbol,
            RejectReason(reply.code),
        ),
        SessionReplyKind::AccountQuery => {
            Outbound::AccountQueryResponse(ouch::AccountQueryResponse {
                timestamp_ns,
                next_user_ref_num: reply.user_ref,
                options: Options::NONE,
            })
        }
    }
}

fn symbol_of(
    reference: &impl ReferenceData,
    instrument: InstrumentId,
) -> Result<Symbol, OutboundError> {
    reference
        .symbol(instrument)
        .ok_or(OutboundError::UnknownInstrument { instrument })
}

/// Engine prices are already in OUCH units (1/10_000); only a negative price cannot be written.
fn wire_price(price: Price) -> Result<u64, OutboundError> {
    u64::try_from(price).map_err(|_| OutboundError::PriceOutOfRange { price })
}

fn wire_quantity(qty: Qty) -> Result<u32, OutboundError> {
    u32::try_from(qty).map_err(|_| OutboundError::QuantityOutOfRange { qty })
}

/// GTC cannot be entered over OUCH; should an operator-entered GTC order show up it reads as GTX (`5`).
fn wire_time_in_force(time_in_force: TimeInForce) -> ouch::TimeInForce {
    match time_in_force {
        TimeInForce::Day => ouch::TimeInForce::Day,
        TimeInForce::Gtc => ouch::TimeInForce::Gtx,
        TimeInForce::Gtt => ouch::TimeInForce::Gtt,
        TimeInForce::Ioc => ouch::TimeInForce::ImmediateOrCancel,
    }
}
