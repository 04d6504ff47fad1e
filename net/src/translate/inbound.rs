//! Inbound OUCH -> engine command bodies, with the session's UserRefNum rule.

use super::{ReferenceData, SessionContext};
use crate::ouch::{
    self, CrossType, Display, Inbound, IsoEligibility, Options, OuchError, Outbound, PostOnly,
    RejectReason, MARKET_PRICE, MAX_PRICE,
};
use crossline_engine::{
    CommandBody, MassCancel, MassCancelReason, NewOrder, OrderType, Price, Qty, Quote, Replace,
    Symbol, TimeInForce, TimestampNs,
};
use thiserror::Error;

/// ExpireTime (option 15) is a lifetime in seconds and must be below one day.
pub const MAX_EXPIRE_TIME_S: u32 = 86_399;
pub const NANOS_PER_SECOND: u64 = 1_000_000_000;

const BLANK_SYMBOL: Symbol = [b' '; 8];
const BLANK_FIRM: [u8; 4] = [b' '; 4];

/// What a valid inbound message becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Translated {
    /// For the sequencer and the engine.
    Command(CommandBody),
    /// Answered by the gateway itself; the engine never sees it.
    Gateway(GatewayRequest),
}

/// Messages the gateway answers without the engine. Disable/Enable Order Entry would need the account's whole
/// `AccountSpec` to become a `SetAccount` command, which only the gateway's account configuration holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayRequest {
    DisableOrderEntry {
        user_ref_num: u32,
        firm: [u8; 4],
    },
    EnableOrderEntry {
        user_ref_num: u32,
        firm: [u8; 4],
    },
    /// Answer with Account Query Response carrying `next_user_ref_num`.
    AccountQuery {
        next_user_ref_num: u32,
    },
}

/// Why an inbound message is refused before it reaches the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TranslateError {
    #[error("UserRefNum {user_ref_num} is not above the session's last, {last_user_ref_num}")]
    UserRefNumNotIncreasing {
        user_ref_num: u32,
        last_user_ref_num: u32,
    },
    #[error("malformed message: {0}")]
    Malformed(OuchError),
    #[error("unknown symbol {symbol:?}")]
    UnknownSymbol { symbol: Symbol },
    #[error("quantity must be above zero")]
    ZeroQuantity,
    #[error("price {price} is neither 1..=MAX_PRICE nor allowed as the market sentinel here")]
    InvalidPrice { price: u64 },
    #[error(
        "ExpireTime {expire_time_s:?} s does not fit time in force GTT (1..=86399 s, GTT only)"
    )]
    InvalidExpireTime { expire_time_s: Option<u32> },
    #[error("display {display:#04x} is not supported (visible orders and MaxFloor icebergs only)")]
    UnsupportedDisplay { display: u8 },
    #[error("MaxFloor 0 (a fully hidden order) is not supported")]
    ZeroMaxFloor,
    #[error("cross orders are not supported")]
    CrossNotSupported,
    #[error("intermarket sweep orders are not allowed")]
    IntermarketSweepNotAllowed,
    #[error("pegging and discretion (option tag {tag}) are not supported")]
    PeggingNotSupported { tag: u8 },
    #[error("firm {firm:?} is not the session's")]
    FirmNotAuthorized { firm: [u8; 4] },
}

impl TranslateError {
    /// The OUCH reject code sent for this error (see docs/PROTOCOL.md, "Translation").
    pub fn reject_reason(&self) -> RejectReason {
        match self {
            TranslateError::Malformed(OuchError::BadCode { field: "side", .. }) => {
                RejectReason::INVALID_SIDE
            }
            TranslateError::UserRefNumNotIncreasing { .. }
            | TranslateError::Malformed(_)
            | TranslateError::InvalidExpireTime { .. } => RejectReason::OTHER,
            TranslateError::UnknownSymbol { .. } => RejectReason::INVALID_SYMBOL,
            TranslateError::ZeroQuantity => RejectReason::INVALID_QUANTITY,
            TranslateError::InvalidPrice { .. } => RejectReason::INVALID_PRICE,
            TranslateError::UnsupportedDisplay { .. } => RejectReason::INVALID_DISPLAY,
            TranslateError::ZeroMaxFloor => RejectReason::INVALID_MAX_FLOOR,
            TranslateError::CrossNotSupported => RejectReason::INVALID_CROSS_ORDER,
            TranslateError::IntermarketSweepNotAllowed => RejectReason::ISO_NOT_ALLOWED,
            TranslateError::PeggingNotSupported { .. } => RejectReason::PEGGING_NOT_ALLOWED,
            TranslateError::FirmNotAuthorized { .. } => RejectReason::FIRM_NOT_AUTHORIZED,
        }
    }
}

/// A refused inbound message: what to tell the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejection {
    /// The message's type byte (zero when the message was empty).
    pub message_type: u8,
    /// The UserRefNum the answer carries (for Replace Order, the replacement's); zero if unreadable.
    pub user_ref_num: u32,
    /// The Quote's symbol, for Quote Status; blank otherwise.
    pub symbol: Symbol,
    pub error: TranslateError,
}

impl Rejection {
    pub fn reject_reason(&self) -> RejectReason {
        self.error.reject_reason()
    }

    /// The answer: Quote Status `J` for a Quote, Order Rejected for everything else. `timestamp_ns` is
    /// nanoseconds since midnight.
    pub fn to_outbound(&self, timestamp_ns: u64) -> Outbound {
        if self.message_type == ouch::Quote::TYPE {
            return super::outbound::rejected_quote(
                timestamp_ns,
                self.user_ref_num,
                self.symbol,
                self.reject_reason(),
            );
        }
        Outbound::OrderRejected(ouch::OrderRejected {
            timestamp_ns,
            user_ref_num: self.user_ref_num,
            reason: self.reject_reason(),
            cl_ord_id: [b' '; 14],
            options: Options::NONE,
        })
    }
}

/// One session's order-entry state: the last UserRefNum it used. Eight bytes, no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionOrderState {
    last_user_ref_num: u32,
}

impl SessionOrderState {
    /// A new session: the first UserRefNum must be at least 1.
    pub const fn new() -> SessionOrderState {
        SessionOrderState {
            last_user_ref_num: 0,
        }
    }

    /// A session resumed after a reconnect or fail-over, whose last used UserRefNum is known.
    pub const fn resume(last_user_ref_num: u32) -> SessionOrderState {
        SessionOrderState { last_user_ref_num }
    }

    pub fn last_user_ref_num(&self) -> u32 {
        self.last_user_ref_num
    }

    /// What Account Query answers (saturates at `u32::MAX`, after which every new reference is refused).
    pub fn next_user_ref_num(&self) -> u32 {
        self.last_user_ref_num.saturating_add(1)
    }

    /// Uses up `user_ref_num` if it is above the last one.
    pub fn accept_user_ref_num(&mut self, user_ref_num: u32) -> Result<(), TranslateError> {
        if user_ref_num <= self.last_user_ref_num {
            return Err(TranslateError::UserRefNumNotIncreasing {
                user_ref_num,
                last_user_ref_num: self.last_user_ref_num,
            });
        }
        self.last_user_ref_num = user_ref_num;
        Ok(())
    }

    /// Checks and translates one inbound message. `received_ns` is the gateway's clock when the message
    /// arrived, in the sequencer's time base: ExpireTime is counted from it.
    ///
    /// A message that carries a new UserRefNum (Enter Order, Replace Order's new one, Quote, Mass Cancel,
    /// Disable/Enable Order Entry) is first checked against the rule; if it passes, the number is used up even
    /// if a later check rejects the message (as OUCH says of Order Rejected). A refused number is not used up.
    pub fn translate(
        &mut self,
        context: &SessionContext,
        reference: &impl ReferenceData,
        received_ns: TimestampNs,
        message: &Inbound,
    ) -> Result<Translated, Rejection> {
        let reject = |user_ref_num: u32, symbol: Symbol, error: TranslateError| Rejection {
            message_type: message.message_type(),
            user_ref_num,
            symbol,
            error,
        };
        match message {
            Inbound::EnterOrder(order) => {
                let user_ref_num = order.user_ref_num;
                self.accept_user_ref_num(user_ref_num)
                    .and_then(|()| enter_order(context, reference, received_ns, order))
                    .map(|body| Translated::Command(CommandBody::NewOrder(body)))
                    .map_err(|error| reject(user_ref_num, BLANK_SYMBOL, error))
            }
            Inbound::ReplaceOrder(replace) => {
                let user_ref_num = replace.user_ref_num;
                self.accept_user_ref_num(user_ref_num)
                    .and_then(|()| replace_order(context, replace))
                    .map(|body| Translated::Command(CommandBody::Replace(body)))
                    .map_err(|error| reject(user_ref_num, BLANK_SYMBOL, error))
            }
            Inbound::CancelOrder(cancel) => Ok(Translated::Command(reduce(
                context,
                cancel.user_ref_num,
                cancel.quantity,
                true,
            ))),
            // Side is not forwarded: the engine has one sell side, so a change among sell types changes nothing.
            Inbound::ModifyOrder(modify) => Ok(Translated::Command(reduce(
                context,
                modify.user_ref_num,
                modify.quantity,
                false,
            ))),
            Inbound::MassCancel(mass) => {
                let user_ref_num = mass.user_ref_num;
                self.accept_user_ref_num(user_ref_num)
                    .and_then(|()| mass_cancel(context, reference, mass))
                    .map(|body| Translated::Command(CommandBody::MassCancel(body)))
                    .map_err(|error| reject(user_ref_num, BLANK_SYMBOL, error))
            }
            Inbound::DisableOrderEntry(disable) => {
                let user_ref_num = disable.user_ref_num;
                self.accept_user_ref_num(user_ref_num)
                    .and_then(|()| check_firm(context, disable.firm))
                    .and_then(|()| check_firm_option(context, &disable.options))
                    .map(|()| {
                        Translated::Gateway(GatewayRequest::DisableOrderEntry {
                            user_ref_num,
                            firm: disable.firm,
                        })
                    })
                    .map_err(|error| reject(user_ref_num, BLANK_SYMBOL, error))
            }
            Inbound::EnableOrderEntry(enable) => {
                let user_ref_num = enable.user_ref_num;
                self.accept_user_ref_num(user_ref_num)
                    .and_then(|()| check_firm(context, enable.firm))
                    .and_then(|()| check_firm_option(context, &enable.options))
                    .map(|()| {
                        Translated::Gateway(GatewayRequest::EnableOrderEntry {
                            user_ref_num,
                            firm: enable.firm,
                        })
                    })
                    .map_err(|error| reject(user_ref_num, BLANK_SYMBOL, error))
            }
            Inbound::AccountQuery(_) => Ok(Translated::Gateway(GatewayRequest::AccountQuery {
                next_user_ref_num: self.next_user_ref_num(),
            })),
            Inbound::Quote(quote) => {
                let user_ref_num = quote.user_ref_num;
                self.accept_user_ref_num(user_ref_num)
                    .and_then(|()| two_sided_quote(context, reference, quote))
                    .map(|body| Translated::Command(CommandBody::Quote(body)))
                    .map_err(|error| reject(user_ref_num, quote.symbol, error))
            }
        }
    }
}

/// Decodes one OUCH inbound payload and translates it. Undecodable bytes are a `Rejection` with
/// `TranslateError::Malformed`, carrying the UserRefNum if its bytes are there; they use up nothing.
pub fn translate_bytes(
    state: &mut SessionOrderState,
    context: &SessionContext,
    reference: &impl ReferenceData,
    received_ns: TimestampNs,
    bytes: &[u8],
) -> Result<Translated, Rejection> {
    match Inbound::decode(bytes) {
        Ok(message) => state.translate(context, reference, received_ns, &message),
        Err(error) => {
            let message_type = bytes.first().copied().unwrap_or(0);
            // Replace Order's own (new) UserRefNum follows the original one.
            let offset = if message_type == ouch::ReplaceOrder::TYPE {
                5
            } else {
                1
            };
            let user_ref_num = bytes
                .get(offset..offset + 4)
                .and_then(|field| <[u8; 4]>::try_from(field).ok())
                .map_or(0, u32::from_be_bytes);
            let symbol = match (message_type, bytes.get(5..13)) {
                (ouch::Quote::TYPE, Some(field)) => {
                    <Symbol>::try_from(field).unwrap_or(BLANK_SYMBOL)
                }
                _ => BLANK_SYMBOL,
            };
            Err(Rejection {
                message_type,
                user_ref_num,
                symbol,
                error: TranslateError::Malformed(error),
            })
        }
    }
}

fn enter_order(
    context: &SessionContext,
    reference: &impl ReferenceData,
    received_ns: TimestampNs,
    order: &ouch::EnterOrder,
) -> Result<NewOrder, TranslateError> {
    let options = &order.options;
    check_firm_option(context, options)?;
    let instrument = lookup(reference, &order.symbol)?;
    let qty = quantity(order.quantity)?;
    check_display(order.display)?;
    if order.intermarket_sweep == IsoEligibility::Eligible {
        return Err(TranslateError::IntermarketSweepNotAllowed);
    }
    if order.cross_type != CrossType::ContinuousMarket {
        return Err(TranslateError::CrossNotSupported);
    }
    check_no_pegging(options)?;
    let (order_type, price) = if order.price == MARKET_PRICE {
        (OrderType::Market, 0)
    } else {
        (OrderType::Limit, limit_price(order.price)?)
    };
    let time_in_force = match (order_type, order.time_in_force) {
        // A market order trades what it can at once: always IOC, whatever the field says.
        (OrderType::Market, _) => TimeInForce::Ioc,
        (OrderType::Limit, ouch::TimeInForce::ImmediateOrCancel) => TimeInForce::Ioc,
        (OrderType::Limit, ouch::TimeInForce::Gtt) => TimeInForce::Gtt,
        // One continuous session: market hours, extended hours and after hours all end at end of day.
        (
            OrderType::Limit,
            ouch::TimeInForce::Day | ouch::TimeInForce::Gtx | ouch::TimeInForce::AfterHours,
        ) => TimeInForce::Day,
    };
    let expire_time_ns = match (time_in_force, options.expire_time_s) {
        (TimeInForce::Gtt, Some(seconds @ 1..=MAX_EXPIRE_TIME_S)) => {
            received_ns.saturating_add(u64::from(seconds) * NANOS_PER_SECOND)
        }
        (TimeInForce::Gtt, expire_time_s) | (_, expire_time_s @ Some(_)) => {
            return Err(TranslateError::InvalidExpireTime { expire_time_s })
        }
        (_, None) => 0,
    };
    let display_qty = match options.max_floor {
        Some(0) => return Err(TranslateError::ZeroMaxFloor),
        Some(max_floor) => Qty::from(max_floor),
        None => 0,
    };
    Ok(NewOrder {
        session: context.session,
        account: context.account,
        user_ref: order.user_ref_num,
        instrument,
        side: order.side.book_side(),
        order_type,
        time_in_force,
        price,
        qty,
        min_qty: options.min_qty.map_or(0, Qty::from),
        display_qty,
        post_only: options.post_only == Some(PostOnly::PostOnly),
        expire_time_ns,
        group: options.group_id.unwrap_or(0),
    })
}

fn replace_order(
    context: &SessionContext,
    replace: &ouch::ReplaceOrder,
) -> Result<Replace, TranslateError> {
    check_firm_option(context, &replace.options)?;
    let qty = quantity(replace.quantity)?;
    check_display(replace.display)?;
    if replace.intermarket_sweep == IsoEligibility::Eligible {
        return Err(TranslateError::IntermarketSweepNotAllowed);
    }
    check_no_pegging(&replace.options)?;
    Ok(Replace {
        session: context.session,
        account: context.account,
        user_ref: replace.orig_user_ref_num,
        new_user_ref: replace.user_ref_num,
        price: limit_price(replace.price)?,
        qty,
    })
}

/// Cancel Order and Modify Order: zero cancels, more reduces the open quantity to that. A Cancel Order that
/// reduces is answered as Order Canceled with the decrement (`CancelTo`), a Modify Order as Order Modified.
fn reduce(
    context: &SessionContext,
    user_ref_num: u32,
    quantity: u32,
    answer_as_cancel: bool,
) -> CommandBody {
    if quantity == 0 {
        CommandBody::Cancel {
            session: context.session,
            account: context.account,
            user_ref: user_ref_num,
        }
    } else if answer_as_cancel {
        CommandBody::CancelTo {
            session: context.session,
            account: context.account,
            user_ref: user_ref_num,
            qty: Qty::from(quantity),
        }
    } else {
        CommandBody::Modify {
            session: context.session,
            account: context.account,
            user_ref: user_ref_num,
            qty: Qty::from(quantity),
        }
    }
}

fn mass_cancel(
    context: &SessionContext,
    reference: &impl ReferenceData,
    mass: &ouch::MassCancel,
) -> Result<MassCancel, TranslateError> {
    check_firm(context, mass.firm)?;
    check_firm_option(context, &mass.options)?;
    let instrument = if mass.symbol == BLANK_SYMBOL {
        None
    } else {
        Some(lookup(reference, &mass.symbol)?)
    };
    Ok(MassCancel {
        session: context.session,
        user_ref: mass.user_ref_num,
        reason: MassCancelReason::UserRequested,
        account: Some(context.account),
        only_session: None,
        instrument,
        side: mass.options.side.map(ouch::Side::book_side),
        group: mass.options.group_id,
    })
}

fn two_sided_quote(
    context: &SessionContext,
    reference: &impl ReferenceData,
    quote: &ouch::Quote,
) -> Result<Quote, TranslateError> {
    let instrument = lookup(reference, &quote.symbol)?;
    // A withdrawn side (size 0) ignores its price.
    let side_price = |price: u64, size: u32| if size == 0 { Ok(0) } else { limit_price(price) };
    Ok(Quote {
        session: context.session,
        account: context.account,
        user_ref: quote.user_ref_num,
        instrument,
        bid_price: side_price(quote.bid_price, quote.bid_quantity)?,
        bid_qty: Qty::from(quote.bid_quantity),
        ask_price: side_price(quote.ask_price, quote.ask_quantity)?,
        ask_qty: Qty::from(quote.ask_quantity),
    })
}

fn lookup(
    reference: &impl ReferenceData,
    symbol: &Symbol,
) -> Result<crossline_engine::InstrumentId, TranslateError> {
    reference
        .instrument_id(symbol)
        .ok_or(TranslateError::UnknownSymbol { symbol: *symbol })
}

fn quantity(quantity: u32) -> Result<Qty, TranslateError> {
    match quantity {
        0 => Err(TranslateError::ZeroQuantity),
        lots => Ok(Qty::from(lots)),
    }
}

/// OUCH prices and engine prices are the same unit (1/10_000, 4 implied decimals): the value is copied.
fn limit_price(price: u64) -> Result<Price, TranslateError> {
    match price {
        1..=MAX_PRICE => Price::try_from(price).map_err(|_| TranslateError::InvalidPrice { price }),
        _ => Err(TranslateError::InvalidPrice { price }),
    }
}

fn check_display(display: Display) -> Result<(), TranslateError> {
    match display {
        Display::Visible | Display::Attributable => Ok(()),
        Display::Hidden | Display::Conformant => Err(TranslateError::UnsupportedDisplay {
            display: display.as_byte(),
        }),
    }
}

fn check_firm(context: &SessionContext, firm: [u8; 4]) -> Result<(), TranslateError> {
    if firm == BLANK_FIRM || firm == context.firm {
        Ok(())
    } else {
        Err(TranslateError::FirmNotAuthorized { firm })
    }
}

fn check_firm_option(context: &SessionContext, options: &Options) -> Result<(), TranslateError> {
    options
        .firm
        .map_or(Ok(()), |firm| check_firm(context, firm))
}

/// Limit prices only: any peg, discretion or non-limit price type is refused rather than silently ignored.
fn check_no_pegging(options: &Options) -> Result<(), TranslateError> {
    use crate::ouch::tag;
    let refused = [
        (
            tag::PRICE_TYPE,
            options.price_type.is_some_and(|code| code != b'L'),
        ),
        (tag::PEG_OFFSET, options.peg_offset.is_some()),
        (tag::DISCRETION_PRICE, options.discretion_price.is_some()),
        (
            tag::DISCRETION_PRICE_TYPE,
            options.discretion_price_type.is_some(),
        ),
        (
            tag::DISCRETION_PEG_OFFSET,
            options.discretion_peg_offset.is_some(),
        ),
    ];
    match refused.iter().find(|(_, present)| *present) {
        Some(&(tag, _)) => Err(TranslateError::PeggingNotSupported { tag }),
        None => Ok(()),
    }
}
