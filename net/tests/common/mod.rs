//! Shared by the integration tests: hand-written byte vectors and proptest strategies for every message.
#![allow(dead_code)]

pub mod market;

use crossline_net::itch;
use crossline_net::ouch::{self, Options, PostOnly};
use proptest::prelude::*;
use proptest::sample::select;

/// Bytes from pieces written by hand: hex digits (spaces ignored), or, for a piece starting with `'`, the ASCII
/// text after the quote, spaces included. Inside a hex piece a word starting with `'` is ASCII too (`"02 0C 'P"`).
/// Golden vectors are written this way, one piece per field.
pub fn bytes(pieces: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for piece in pieces {
        if let Some(text) = piece.strip_prefix('\'') {
            out.extend_from_slice(text.as_bytes());
            continue;
        }
        for word in piece.split_whitespace() {
            if let Some(text) = word.strip_prefix('\'') {
                out.extend_from_slice(text.as_bytes());
                continue;
            }
            assert!(word.len() % 2 == 0, "odd number of hex digits in {piece:?}");
            for pair in word.as_bytes().chunks(2) {
                let text = std::str::from_utf8(pair).unwrap();
                out.push(
                    u8::from_str_radix(text, 16)
                        .unwrap_or_else(|_| panic!("bad hex {text:?} in {piece:?}")),
                );
            }
        }
    }
    out
}

/// 09:30:00.000000123 in nanoseconds since midnight, 34,200,000,000,123.
pub const TS_NS: u64 = 34_200_000_000_123;
/// `TS_NS` as 8 bytes (OUCH).
pub const TS8: &str = "00001F1ACED9F07B";
/// `TS_NS` as 6 bytes (ITCH).
pub const TS6: &str = "1F1ACED9F07B";

fn code<T: Clone + std::fmt::Debug + 'static>(all: &'static [T]) -> impl Strategy<Value = T> {
    select(all)
}

pub fn options() -> impl Strategy<Value = Options> {
    use proptest::option::of;
    let first = (
        of(any::<u64>()),
        of(any::<[u8; 4]>()),
        of(any::<u32>()),
        of(any::<u8>()),
        of(any::<u32>()),
        of(any::<u8>()),
        of(any::<i32>()),
        of(any::<u64>()),
        of(any::<u8>()),
        of(any::<i32>()),
        of(code(PostOnly::ALL)),
        of(any::<u32>()),
    );
    let second = (
        of(any::<[u8; 4]>()),
        of(any::<u32>()),
        of(any::<u8>()),
        of(any::<u8>()),
        of(any::<u8>()),
        of(any::<u32>()),
        of(any::<u64>()),
        of(any::<u16>()),
        of(any::<u8>()),
        of(any::<[u8; 4]>()),
        of(code(ouch::Side::ALL)),
        of(any::<u8>()),
    );
    (first, second).prop_map(|(a, b)| Options {
        secondary_ord_ref_num: a.0,
        firm: a.1,
        min_qty: a.2,
        customer_type: a.3,
        max_floor: a.4,
        price_type: a.5,
        peg_offset: a.6,
        discretion_price: a.7,
        discretion_price_type: a.8,
        discretion_peg_offset: a.9,
        post_only: a.10,
        random_reserves: a.11,
        route: b.0,
        expire_time_s: b.1,
        trade_now: b.2,
        handle_inst: b.3,
        bbo_weight_indicator: b.4,
        display_quantity: b.5,
        display_price: b.6,
        group_id: b.7,
        shares_located: b.8,
        locate_broker: b.9,
        side: b.10,
        user_ref_idx: b.11,
    })
}

pub fn inbound() -> impl Strategy<Value = ouch::Inbound> {
    use ouch::*;
    let enter = (
        (
            any::<u32>(),
            code(Side::ALL),
            any::<u32>(),
            any::<[u8; 8]>(),
            any::<u64>(),
            code(TimeInForce::ALL),
        ),
        (
            code(Display::ALL),
            code(Capacity::ALL),
            code(IsoEligibility::ALL),
            code(CrossType::ALL),
        ),
        (any::<[u8; 14]>(), options()),
    )
        .prop_map(
            |(
                (user_ref_num, side, quantity, symbol, price, time_in_force),
                a,
                (cl_ord_id, options),
            )| {
                Inbound::EnterOrder(EnterOrder {
                    user_ref_num,
                    side,
                    quantity,
                    symbol,
                    price,
                    time_in_force,
                    display: a.0,
                    capacity: a.1,
                    intermarket_sweep: a.2,
                    cross_type: a.3,
                    cl_ord_id,
                    options,
                })
            },
        );
    let replace = (
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u64>(),
            code(TimeInForce::ALL),
        ),
        (
            code(Display::ALL),
            code(IsoEligibility::ALL),
            any::<[u8; 14]>(),
            options(),
        ),
    )
        .prop_map(|(a, b)| {
            Inbound::ReplaceOrder(ReplaceOrder {
                orig_user_ref_num: a.0,
                user_ref_num: a.1,
                quantity: a.2,
                price: a.3,
                time_in_force: a.4,
                display: b.0,
                intermarket_sweep: b.1,
                cl_ord_id: b.2,
                options: b.3,
            })
        });
    let cancel =
        (any::<u32>(), any::<u32>(), options()).prop_map(|(user_ref_num, quantity, options)| {
            Inbound::CancelOrder(CancelOrder {
                user_ref_num,
                quantity,
                options,
            })
        });
    let modify = (any::<u32>(), code(Side::ALL), any::<u32>(), options()).prop_map(
        |(user_ref_num, side, quantity, options)| {
            Inbound::ModifyOrder(ModifyOrder {
                user_ref_num,
                side,
                quantity,
                options,
            })
        },
    );
    let mass = (any::<u32>(), any::<[u8; 4]>(), any::<[u8; 8]>(), options()).prop_map(
        |(user_ref_num, firm, symbol, options)| {
            Inbound::MassCancel(MassCancel {
                user_ref_num,
                firm,
                symbol,
                options,
            })
        },
    );
    let disable =
        (any::<u32>(), any::<[u8; 4]>(), options()).prop_map(|(user_ref_num, firm, options)| {
            Inbound::DisableOrderEntry(DisableOrderEntry {
                user_ref_num,
                firm,
                options,
            })
        });
    let enable =
        (any::<u32>(), any::<[u8; 4]>(), options()).prop_map(|(user_ref_num, firm, options)| {
            Inbound::EnableOrderEntry(EnableOrderEntry {
                user_ref_num,
                firm,
                options,
            })
        });
    let query = options().prop_map(|options| Inbound::AccountQuery(AccountQuery { options }));
    let quote = (
        any::<u32>(),
        any::<[u8; 8]>(),
        any::<u64>(),
        any::<u32>(),
        any::<u64>(),
        any::<u32>(),
    )
        .prop_map(|a| {
            Inbound::Quote(Quote {
                user_ref_num: a.0,
                symbol: a.1,
                bid_price: a.2,
                bid_quantity: a.3,
                ask_price: a.4,
                ask_quantity: a.5,
            })
        });
    prop_oneof![enter, replace, cancel, modify, mass, disable, enable, query, quote]
}

pub fn outbound() -> impl Strategy<Value = ouch::Outbound> {
    use ouch::*;
    let ts = any::<u64>;
    let event = (ts(), code(EventCode::ALL)).prop_map(|(timestamp_ns, event_code)| {
        Outbound::SystemEvent(SystemEvent {
            timestamp_ns,
            event_code,
        })
    });
    let order_fields = || {
        (
            (
                any::<u32>(),
                code(Side::ALL),
                any::<u32>(),
                any::<[u8; 8]>(),
                any::<u64>(),
                code(TimeInForce::ALL),
            ),
            (
                code(Display::ALL),
                any::<u64>(),
                code(Capacity::ALL),
                code(IsoEligibility::ALL),
                code(CrossType::ALL),
            ),
            (code(OrderState::ALL), any::<[u8; 14]>(), options()),
        )
    };
    let accepted = (ts(), order_fields()).prop_map(|(timestamp_ns, (a, b, c))| {
        Outbound::OrderAccepted(OrderAccepted {
            timestamp_ns,
            user_ref_num: a.0,
            side: a.1,
            quantity: a.2,
            symbol: a.3,
            price: a.4,
            time_in_force: a.5,
            display: b.0,
            order_reference_number: b.1,
            capacity: b.2,
            intermarket_sweep: b.3,
            cross_type: b.4,
            order_state: c.0,
            cl_ord_id: c.1,
            options: c.2,
        })
    });
    let replaced = (ts(), any::<u32>(), order_fields()).prop_map(
        |(timestamp_ns, orig_user_ref_num, (a, b, c))| {
            Outbound::OrderReplaced(OrderReplaced {
                timestamp_ns,
                orig_user_ref_num,
                user_ref_num: a.0,
                side: a.1,
                quantity: a.2,
                symbol: a.3,
                price: a.4,
                time_in_force: a.5,
                display: b.0,
                order_reference_number: b.1,
                capacity: b.2,
                intermarket_sweep: b.3,
                cross_type: b.4,
                order_state: c.0,
                cl_ord_id: c.1,
                options: c.2,
            })
        },
    );
    let canceled = (
        ts(),
        any::<u32>(),
        any::<u32>(),
        code(CancelReason::ALL),
        options(),
    )
        .prop_map(|a| {
            Outbound::OrderCanceled(OrderCanceled {
                timestamp_ns: a.0,
                user_ref_num: a.1,
                quantity: a.2,
                reason: a.3,
                options: a.4,
            })
        });
    let aiq = (
        (
            ts(),
            any::<u32>(),
            any::<u32>(),
            code(CancelReason::ALL),
            any::<u32>(),
        ),
        (
            any::<u64>(),
            code(LiquidityFlag::ALL),
            any::<u8>(),
            options(),
        ),
    )
        .prop_map(|(a, b)| {
            Outbound::AiqCanceled(AiqCanceled {
                timestamp_ns: a.0,
                user_ref_num: a.1,
                decrement_quantity: a.2,
                reason: a.3,
                quantity_prevented_from_trading: a.4,
                execution_price: b.0,
                liquidity_flag: b.1,
                aiq_strategy: b.2,
                options: b.3,
            })
        });
    let executed = (
        ts(),
        any::<u32>(),
        any::<u32>(),
        any::<u64>(),
        code(LiquidityFlag::ALL),
        any::<u64>(),
        options(),
    )
        .prop_map(|a| {
            Outbound::OrderExecuted(OrderExecuted {
                timestamp_ns: a.0,
                user_ref_num: a.1,
                quantity: a.2,
                price: a.3,
                liquidity_flag: a.4,
                match_number: a.5,
                options: a.6,
            })
        });
    let broken = (
        ts(),
        any::<u32>(),
        any::<u64>(),
        code(BrokenTradeReason::ALL),
        any::<[u8; 14]>(),
        options(),
    )
        .prop_map(|a| {
            Outbound::BrokenTrade(BrokenTrade {
                timestamp_ns: a.0,
                user_ref_num: a.1,
                match_number: a.2,
                reason: a.3,
                cl_ord_id: a.4,
                options: a.5,
            })
        });
    let rejected = (
        ts(),
        any::<u32>(),
        any::<u16>(),
        any::<[u8; 14]>(),
        options(),
    )
        .prop_map(|a| {
            Outbound::OrderRejected(OrderRejected {
                timestamp_ns: a.0,
                user_ref_num: a.1,
                reason: RejectReason(a.2),
                cl_ord_id: a.3,
                options: a.4,
            })
        });
    let pending =
        (ts(), any::<u32>(), options()).prop_map(|(timestamp_ns, user_ref_num, options)| {
            Outbound::CancelPending(CancelPending {
                timestamp_ns,
                user_ref_num,
                options,
            })
        });
    let cancel_reject =
        (ts(), any::<u32>(), options()).prop_map(|(timestamp_ns, user_ref_num, options)| {
            Outbound::CancelReject(CancelReject {
                timestamp_ns,
                user_ref_num,
                options,
            })
        });
    let priority = (
        ts(),
        any::<u32>(),
        any::<u64>(),
        code(Display::ALL),
        any::<u64>(),
        options(),
    )
        .prop_map(|a| {
            Outbound::PriorityUpdate(PriorityUpdate {
                timestamp_ns: a.0,
                user_ref_num: a.1,
                price: a.2,
                display: a.3,
                order_reference_number: a.4,
                options: a.5,
            })
        });
    let modified = (ts(), any::<u32>(), code(Side::ALL), any::<u32>(), options()).prop_map(|a| {
        Outbound::OrderModified(OrderModified {
            timestamp_ns: a.0,
            user_ref_num: a.1,
            side: a.2,
            quantity: a.3,
            options: a.4,
        })
    });
    let restated = (ts(), any::<u32>(), code(RestatedReason::ALL), options()).prop_map(|a| {
        Outbound::OrderRestated(OrderRestated {
            timestamp_ns: a.0,
            user_ref_num: a.1,
            reason: a.2,
            options: a.3,
        })
    });
    let mass = (
        ts(),
        any::<u32>(),
        any::<[u8; 4]>(),
        any::<[u8; 8]>(),
        options(),
    )
        .prop_map(|a| {
            Outbound::MassCancelResponse(MassCancelResponse {
                timestamp_ns: a.0,
                user_ref_num: a.1,
                firm: a.2,
                symbol: a.3,
                options: a.4,
            })
        });
    let disable = (ts(), any::<u32>(), any::<[u8; 4]>(), options()).prop_map(|a| {
        Outbound::DisableOrderEntryResponse(DisableOrderEntryResponse {
            timestamp_ns: a.0,
            user_ref_num: a.1,
            firm: a.2,
            options: a.3,
        })
    });
    let enable = (ts(), any::<u32>(), any::<[u8; 4]>(), options()).prop_map(|a| {
        Outbound::EnableOrderEntryResponse(EnableOrderEntryResponse {
            timestamp_ns: a.0,
            user_ref_num: a.1,
            firm: a.2,
            options: a.3,
        })
    });
    let query =
        (ts(), any::<u32>(), options()).prop_map(|(timestamp_ns, next_user_ref_num, options)| {
            Outbound::AccountQueryResponse(AccountQueryResponse {
                timestamp_ns,
                next_user_ref_num,
                options,
            })
        });
    let quote_status = (
        (
            ts(),
            any::<u32>(),
            any::<[u8; 8]>(),
            code(QuoteStatusCode::ALL),
            any::<u16>(),
        ),
        (
            any::<u64>(),
            any::<u32>(),
            any::<u64>(),
            any::<u64>(),
            any::<u32>(),
            any::<u64>(),
        ),
    )
        .prop_map(|(a, b)| {
            Outbound::QuoteStatus(QuoteStatus {
                timestamp_ns: a.0,
                user_ref_num: a.1,
                symbol: a.2,
                status: a.3,
                reject_reason: RejectReason(a.4),
                bid_price: b.0,
                bid_quantity: b.1,
                bid_order_reference_number: b.2,
                ask_price: b.3,
                ask_quantity: b.4,
                ask_order_reference_number: b.5,
            })
        });
    prop_oneof![
        event,
        accepted,
        replaced,
        canceled,
        aiq,
        executed,
        broken,
        rejected,
        pending,
        cancel_reject,
        priority,
        modified,
        restated,
        mass,
        disable,
        enable,
        query,
        quote_status,
    ]
}

/// Any ITCH message with a timestamp that fits 6 bytes.
pub fn itch_message() -> impl Strategy<Value = itch::Message> {
    use itch::*;
    let header = || (any::<u16>(), any::<u16>(), 0u64..(1 << 48));
    let side = || code(BuySell::ALL);
    prop_oneof![
        (header(), code(EventCode::ALL)).prop_map(
            |((stock_locate, tracking_number, timestamp_ns), event_code)| {
                Message::SystemEvent(SystemEvent {
                    stock_locate,
                    tracking_number,
                    timestamp_ns,
                    event_code,
                })
            }
        ),
        (
            header(),
            any::<[u8; 8]>(),
            any::<[u8; 8]>(),
            any::<[u8; 2]>(),
            any::<u32>(),
            any::<u32>()
        )
            .prop_map(
                |(
                    (stock_locate, tracking_number, timestamp_ns),
                    stock,
                    c,
                    sub,
                    round_lot_size,
                    etp_leverage_factor,
                )| {
                    Message::StockDirectory(StockDirectory {
                        stock_locate,
                        tracking_number,
                        timestamp_ns,
                        stock,
                        market_category: c[0],
                        financial_status_indicator: c[1],
                        round_lot_size,
                        round_lots_only: c[2],
                        issue_classification: c[3],
                        issue_sub_type: sub,
                        authenticity: c[4],
                        short_sale_threshold_indicator: c[5],
                        ipo_flag: c[6],
                        luld_reference_price_tier: c[7],
                        etp_flag: sub[0],
                        etp_leverage_factor,
                        inverse_indicator: sub[1],
                    })
                }
            ),
        (
            header(),
            any::<[u8; 8]>(),
            code(TradingState::ALL),
            any::<u8>(),
            any::<[u8; 4]>()
        )
            .prop_map(
                |(
                    (stock_locate, tracking_number, timestamp_ns),
                    stock,
                    trading_state,
                    reserved,
                    reason,
                )| {
                    Message::StockTradingAction(StockTradingAction {
                        stock_locate,
                        tracking_number,
                        timestamp_ns,
                        stock,
                        trading_state,
                        reserved,
                        reason,
                    })
                }
            ),
        (
            header(),
            any::<u64>(),
            side(),
            any::<u32>(),
            any::<[u8; 8]>(),
            any::<u32>()
        )
            .prop_map(
                |(
                    (stock_locate, tracking_number, timestamp_ns),
                    order_reference_number,
                    side,
                    shares,
                    stock,
                    price,
                )| {
                    Message::AddOrder(AddOrder {
                        stock_locate,
                        tracking_number,
                        timestamp_ns,
                        order_reference_number,
                        side,
                        shares,
                        stock,
                        price,
                    })
                }
            ),
        (
            header(),
            any::<u64>(),
            side(),
            any::<u32>(),
            any::<[u8; 8]>(),
            any::<u32>(),
            any::<[u8; 4]>()
        )
            .prop_map(
                |(
                    (stock_locate, tracking_number, timestamp_ns),
                    order_reference_number,
                    side,
                    shares,
                    stock,
                    price,
                    attribution,
                )| {
                    Message::AddOrderMpid(AddOrderMpid {
                        stock_locate,
                        tracking_number,
                        timestamp_ns,
                        order_reference_number,
                        side,
                        shares,
                        stock,
                        price,
                        attribution,
                    })
                }
            ),
        (header(), any::<u64>(), any::<u32>(), any::<u64>()).prop_map(
            |(
                (stock_locate, tracking_number, timestamp_ns),
                order_reference_number,
                executed_shares,
                match_number,
            )| {
                Message::OrderExecuted(OrderExecuted {
                    stock_locate,
                    tracking_number,
                    timestamp_ns,
                    order_reference_number,
                    executed_shares,
                    match_number,
                })
            }
        ),
        (
            header(),
            any::<u64>(),
            any::<u32>(),
            any::<u64>(),
            code(Printable::ALL),
            any::<u32>()
        )
            .prop_map(
                |(
                    (stock_locate, tracking_number, timestamp_ns),
                    order_reference_number,
                    executed_shares,
                    match_number,
                    printable,
                    execution_price,
                )| {
                    Message::OrderExecutedWithPrice(OrderExecutedWithPrice {
                        stock_locate,
                        tracking_number,
                        timestamp_ns,
                        order_reference_number,
                        executed_shares,
                        match_number,
                        printable,
                        execution_price,
                    })
                }
            ),
        (header(), any::<u64>(), any::<u32>()).prop_map(
            |(
                (stock_locate, tracking_number, timestamp_ns),
                order_reference_number,
                cancelled_shares,
            )| {
                Message::OrderCancel(OrderCancel {
                    stock_locate,
                    tracking_number,
                    timestamp_ns,
                    order_reference_number,
                    cancelled_shares,
                })
            }
        ),
        (header(), any::<u64>()).prop_map(
            |((stock_locate, tracking_number, timestamp_ns), order_reference_number)| {
                Message::OrderDelete(OrderDelete {
                    stock_locate,
                    tracking_number,
                    timestamp_ns,
                    order_reference_number,
                })
            }
        ),
        (
            header(),
            any::<u64>(),
            any::<u64>(),
            any::<u32>(),
            any::<u32>()
        )
            .prop_map(
                |((stock_locate, tracking_number, timestamp_ns), original, new, shares, price)| {
                    Message::OrderReplace(OrderReplace {
                        stock_locate,
                        tracking_number,
                        timestamp_ns,
                        original_order_reference_number: original,
                        new_order_reference_number: new,
                        shares,
                        price,
                    })
                }
            ),
        (
            header(),
            any::<u64>(),
            side(),
            any::<u32>(),
            any::<[u8; 8]>(),
            any::<u32>(),
            any::<u64>()
        )
            .prop_map(
                |(
                    (stock_locate, tracking_number, timestamp_ns),
                    order_reference_number,
                    side,
                    shares,
                    stock,
                    price,
                    match_number,
                )| {
                    Message::Trade(Trade {
                        stock_locate,
                        tracking_number,
                        timestamp_ns,
                        order_reference_number,
                        side,
                        shares,
                        stock,
                        price,
                        match_number,
                    })
                }
            ),
    ]
}
