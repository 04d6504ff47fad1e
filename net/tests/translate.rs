//! OUCH <-> engine translation: every inbound message and option, the UserRefNum rule, typed rejections, every
//! order-entry event, and a round trip through the codec and a real engine.

mod common;

use common::market;

use crossline_engine::{
    self as engine, symbol, Command, CommandBody, Engine, EngineConfig, Event, FastBook, Liquidity,
    MassCancelReason, OrderType, QuoteSide,
};
use crossline_net::ouch::{self, *};
use crossline_net::translate::*;

const SESSION: engine::SessionId = 7;
const ACCOUNT: engine::AccountId = 3;
const ACME: engine::InstrumentId = 1;
const BOLT: engine::InstrumentId = 2;
const RECEIVED_NS: u64 = 5_000_000_000;
const TS_NS: u64 = 34_200_000_000_000;

fn context() -> SessionContext {
    SessionContext {
        session: SESSION,
        account: ACCOUNT,
        firm: *b"FIRM",
    }
}

const INSTRUMENTS: [(engine::InstrumentId, engine::Symbol); 2] =
    [(ACME, *b"ACME    "), (BOLT, *b"BOLT    ")];

fn table() -> InstrumentTable<'static> {
    InstrumentTable {
        instruments: &INSTRUMENTS,
    }
}

fn enter(user_ref_num: u32) -> EnterOrder {
    EnterOrder {
        user_ref_num,
        side: ouch::Side::Buy,
        quantity: 100,
        symbol: *b"ACME    ",
        price: 10_000,
        time_in_force: ouch::TimeInForce::Day,
        display: Display::Visible,
        capacity: Capacity::Agency,
        intermarket_sweep: IsoEligibility::NotEligible,
        cross_type: CrossType::ContinuousMarket,
        cl_ord_id: *b"CLIENT-ORDER-1",
        options: Options::NONE,
    }
}

fn new_order(user_ref: u32) -> engine::NewOrder {
    engine::NewOrder {
        session: SESSION,
        account: ACCOUNT,
        user_ref,
        instrument: ACME,
        side: engine::Side::Buy,
        order_type: OrderType::Limit,
        time_in_force: engine::TimeInForce::Day,
        price: 10_000,
        qty: 100,
        min_qty: 0,
        display_qty: 0,
        post_only: false,
        expire_time_ns: 0,
        group: 0,
    }
}

fn command(message: Inbound) -> CommandBody {
    let mut state = SessionOrderState::new();
    match state.translate(&context(), &table(), RECEIVED_NS, &message) {
        Ok(Translated::Command(body)) => body,
        other => panic!("{message:?} gave {other:?}"),
    }
}

fn rejection(message: Inbound) -> Rejection {
    let mut state = SessionOrderState::new();
    match state.translate(&context(), &table(), RECEIVED_NS, &message) {
        Err(rejection) => rejection,
        other => panic!("{message:?} gave {other:?}"),
    }
}

#[test]
fn inbound_messages_map_to_command_bodies() {
    let cases: Vec<(Inbound, CommandBody)> = vec![
        (enter(1).into(), CommandBody::NewOrder(new_order(1))),
        (
            EnterOrder {
                side: ouch::Side::Sell,
                ..enter(1)
            }
            .into(),
            CommandBody::NewOrder(engine::NewOrder {
                side: engine::Side::Sell,
                ..new_order(1)
            }),
        ),
        (
            EnterOrder {
                side: ouch::Side::SellShort,
                ..enter(1)
            }
            .into(),
            CommandBody::NewOrder(engine::NewOrder {
                side: engine::Side::Sell,
                ..new_order(1)
            }),
        ),
        (
            EnterOrder {
                side: ouch::Side::SellShortExempt,
                ..enter(1)
            }
            .into(),
            CommandBody::NewOrder(engine::NewOrder {
                side: engine::Side::Sell,
                ..new_order(1)
            }),
        ),
        (
            EnterOrder {
                time_in_force: ouch::TimeInForce::ImmediateOrCancel,
                ..enter(1)
            }
            .into(),
            CommandBody::NewOrder(engine::NewOrder {
                time_in_force: engine::TimeInForce::Ioc,
                ..new_order(1)
            }),
        ),
        (
            EnterOrder {
                time_in_force: ouch::TimeInForce::Gtx,
                ..enter(1)
            }
            .into(),
            CommandBody::NewOrder(new_order(1)),
        ),
        (
            EnterOrder {
                time_in_force: ouch::TimeInForce::AfterHours,
                ..enter(1)
            }
            .into(),
            CommandBody::NewOrder(new_order(1)),
        ),
        (
            EnterOrder {
                time_in_force: ouch::TimeInForce::Gtt,
                options: Options {
                    expire_time_s: Some(60),
                    ..Options::NONE
                },
                ..enter(1)
            }
            .into(),
            CommandBody::NewOrder(engine::NewOrder {
                time_in_force: engine::TimeInForce::Gtt,
                expire_time_ns: RECEIVED_NS + 60 * NANOS_PER_SECOND,
                ..new_order(1)
            }),
        ),
        (
            EnterOrder {
                price: MARKET_PRICE,
                ..enter(1)
            }
            .into(),
            CommandBody::NewOrder(engine::NewOrder {
                order_type: OrderType::Market,
                time_in_force: engine::TimeInForce::Ioc,
                price: 0,
                ..new_order(1)
            }),
        ),
        (
            EnterOrder {
                time_in_force: ouch::TimeInForce::ImmediateOrCancel,
                options: Options {
                    min_qty: Some(100),
                    ..Options::NONE
                },
                ..enter(1)
            }
            .into(),
            CommandBody::NewOrder(engine::NewOrder {
                time_in_force: engine::TimeInForce::Ioc,
                min_qty: 100,
                ..new_order(1)
            }),
        ),
        (
            EnterOrder {
                options: Options {
                    max_floor: Some(10),
                    post_only: Some(PostOnly::PostOnly),
                    group_id: Some(42),
                    firm: Some(*b"FIRM"),
                    customer_type: Some(b'N'),
                    price_type: Some(b'L'),
                    ..Options::NONE
                },
                ..enter(1)
            }
            .into(),
            CommandBody::NewOrder(engine::NewOrder {
                display_qty: 10,
                post_only: true,
                group: 42,
                ..new_order(1)
            }),
        ),
        (
            EnterOrder {
                options: Options {
                    post_only: Some(PostOnly::No),
                    firm: Some(*b"    "),
                    ..Options::NONE
                },
                ..enter(1)
            }
            .into(),
            CommandBody::NewOrder(new_order(1)),
        ),
        (
            ReplaceOrder {
                orig_user_ref_num: 1,
                user_ref_num: 2,
                quantity: 50,
                price: 10_100,
                time_in_force: ouch::TimeInForce::Day,
                display: Display::Visible,
                intermarket_sweep: IsoEligibility::NotEligible,
                cl_ord_id: [b' '; 14],
                options: Options::NONE,
            }
            .into(),
            CommandBody::Replace(engine::Replace {
                session: SESSION,
                account: ACCOUNT,
                user_ref: 1,
                new_user_ref: 2,
                price: 10_100,
                qty: 50,
            }),
        ),
        (
            CancelOrder {
                user_ref_num: 4,
                quantity: 0,
                options: Options::NONE,
            }
            .into(),
            CommandBody::Cancel {
                session: SESSION,
                account: ACCOUNT,
                user_ref: 4,
            },
        ),
        (
            CancelOrder {
                user_ref_num: 4,
                quantity: 30,
                options: Options::NONE,
            }
            .into(),
            CommandBody::CancelTo {
                session: SESSION,
                account: ACCOUNT,
                user_ref: 4,
                qty: 30,
            },
        ),
        (
            ModifyOrder {
                user_ref_num: 4,
                side: ouch::Side::SellShort,
                quantity: 20,
                options: Options::NONE,
            }
            .into(),
            CommandBody::Modify {
                session: SESSION,
                account: ACCOUNT,
                user_ref: 4,
                qty: 20,
            },
        ),
        (
            ModifyOrder {
                user_ref_num: 4,
                side: ouch::Side::Sell,
                quantity: 0,
                options: Options::NONE,
            }
            .into(),
            CommandBody::Cancel {
                session: SESSION,
                account: ACCOUNT,
                user_ref: 4,
            },
        ),
        (
            ouch::MassCancel {
                user_ref_num: 9,
                firm: *b"    ",
                symbol: *b"        ",
                options: Options::NONE,
            }
            .into(),
            CommandBody::MassCancel(engine::MassCancel {
                session: SESSION,
                user_ref: 9,
                reason: MassCancelReason::UserRequested,
                account: Some(ACCOUNT),
                only_session: None,
                instrument: None,
                side: None,
                group: None,
            }),
        ),
        (
            ouch::MassCancel {
                user_ref_num: 9,
                firm: *b"FIRM",
                symbol: *b"BOLT    ",
                options: Options {
                    side: Some(ouch::Side::SellShort),
                    group_id: Some(3),
                    ..Options::NONE
                },
            }
            .into(),
            CommandBody::MassCancel(engine::MassCancel {
                session: SESSION,
                user_ref: 9,
                reason: MassCancelReason::UserRequested,
                account: Some(ACCOUNT),
                only_session: None,
                instrument: Some(BOLT),
                side: Some(engine::Side::Sell),
                group: Some(3),
            }),
        ),
        (
            ouch::Quote {
                user_ref_num: 11,
                symbol: *b"BOLT    ",
                bid_price: 9_900,
                bid_quantity: 10,
                ask_price: 10_100,
                ask_quantity: 0,
            }
            .into(),
            CommandBody::Quote(engine::Quote {
                session: SESSION,
                account: ACCOUNT,
                user_ref: 11,
                instrument: BOLT,
                bid_price: 9_900,
                bid_qty: 10,
                ask_price: 0,
                ask_qty: 0,
            }),
        ),
    ];
    for (message, expected) in cases {
        assert_eq!(command(message), expected, "{message:?}");
    }
}

#[test]
fn gateway_messages_are_answered_by_the_gateway() {
    let mut state = SessionOrderState::new();
    let mut translate =
        |message: Inbound| state.translate(&context(), &table(), RECEIVED_NS, &message);
    assert_eq!(
        translate(
            AccountQuery {
                options: Options::NONE
            }
            .into()
        ),
        Ok(Translated::Gateway(GatewayRequest::AccountQuery {
            next_user_ref_num: 1
        }))
    );
    assert_eq!(
        translate(
            DisableOrderEntry {
                user_ref_num: 5,
                firm: *b"FIRM",
                options: Options::NONE
            }
            .into()
        ),
        Ok(Translated::Gateway(GatewayRequest::DisableOrderEntry {
            user_ref_num: 5,
            firm: *b"FIRM"
        }))
    );
    assert_eq!(
        translate(
            EnableOrderEntry {
                user_ref_num: 6,
                firm: *b"    ",
                options: Options::NONE
            }
            .into()
        ),
        Ok(Translated::Gateway(GatewayRequest::EnableOrderEntry {
            user_ref_num: 6,
            firm: *b"    "
        }))
    );
    assert_eq!(
        translate(
            AccountQuery {
                options: Options::NONE
            }
            .into()
        ),
        Ok(Translated::Gateway(GatewayRequest::AccountQuery {
            next_user_ref_num: 7
        }))
    );
    let refused = translate(
        EnableOrderEntry {
            user_ref_num: 8,
            firm: *b"OTHR",
            options: Options::NONE,
        }
        .into(),
    )
    .unwrap_err();
    assert_eq!(refused.reject_reason(), RejectReason::FIRM_NOT_AUTHORIZED);
}

#[test]
fn user_ref_num_must_strictly_increase() {
    let mut state = SessionOrderState::new();
    let mut translate =
        |message: Inbound| state.translate(&context(), &table(), RECEIVED_NS, &message);
    assert!(translate(enter(1).into()).is_ok());
    assert!(translate(enter(5).into()).is_ok());
    for repeated in [5, 4, 0] {
        let refused = translate(enter(repeated).into()).unwrap_err();
        assert_eq!(
            refused.error,
            TranslateError::UserRefNumNotIncreasing {
                user_ref_num: repeated,
                last_user_ref_num: 5
            }
        );
        assert_eq!(refused.user_ref_num, repeated);
        assert_eq!(refused.reject_reason(), RejectReason::OTHER);
    }
    // A replace's new reference must increase too; the original may be any earlier one.
    let replace = |orig_user_ref_num, user_ref_num| -> Inbound {
        ReplaceOrder {
            orig_user_ref_num,
            user_ref_num,
            quantity: 10,
            price: 10_000,
            time_in_force: ouch::TimeInForce::Day,
            display: Display::Visible,
            intermarket_sweep: IsoEligibility::NotEligible,
            cl_ord_id: [b' '; 14],
            options: Options::NONE,
        }
        .into()
    };
    assert!(matches!(
        translate(replace(1, 5)).unwrap_err().error,
        TranslateError::UserRefNumNotIncreasing { .. }
    ));
    assert!(translate(replace(1, 6)).is_ok());
    // Quotes and mass cancels share the sequence.
    let quote = |user_ref_num| -> Inbound {
        ouch::Quote {
            user_ref_num,
            symbol: *b"ACME    ",
            bid_price: 9_000,
            bid_quantity: 1,
            ask_price: 11_000,
            ask_quantity: 1,
        }
        .into()
    };
    assert!(translate(quote(6)).is_err());
    assert!(translate(quote(7)).is_ok());
    let mass = |user_ref_num| -> Inbound {
        ouch::MassCancel {
            user_ref_num,
            firm: *b"    ",
            symbol: [b' '; 8],
            options: Options::NONE,
        }
        .into()
    };
    assert!(translate(mass(7)).is_err());
    assert!(translate(mass(8)).is_ok());
    // Cancels and modifies name existing orders and use nothing up.
    assert!(translate(
        CancelOrder {
            user_ref_num: 1,
            quantity: 0,
            options: Options::NONE
        }
        .into()
    )
    .is_ok());
    // A reference refused for another reason is still used up.
    let unknown = translate(
        EnterOrder {
            symbol: *b"NOPE    ",
            ..enter(9)
        }
        .into(),
    )
    .unwrap_err();
    assert_eq!(unknown.reject_reason(), RejectReason::INVALID_SYMBOL);
    assert!(translate(enter(9).into()).is_err());
    assert!(translate(enter(10).into()).is_ok());
    assert_eq!(state.last_user_ref_num(), 10);
    assert_eq!(state.next_user_ref_num(), 11);
    assert_eq!(std::mem::size_of::<SessionOrderState>(), 4);
    let mut full = SessionOrderState::resume(u32::MAX);
    assert_eq!(full.next_user_ref_num(), u32::MAX);
    assert!(full.accept_user_ref_num(u32::MAX).is_err());
}

#[test]
fn bad_inputs_are_typed_rejections() {
    let with = |options: Options| EnterOrder {
        options,
        ..enter(1)
    };
    let cases: Vec<(Inbound, TranslateError, RejectReason)> = vec![
        (
            EnterOrder {
                symbol: *b"NOPE    ",
                ..enter(1)
            }
            .into(),
            TranslateError::UnknownSymbol {
                symbol: *b"NOPE    ",
            },
            RejectReason::INVALID_SYMBOL,
        ),
        (
            EnterOrder {
                quantity: 0,
                ..enter(1)
            }
            .into(),
            TranslateError::ZeroQuantity,
            RejectReason::INVALID_QUANTITY,
        ),
        (
            EnterOrder {
                price: 0,
                ..enter(1)
            }
            .into(),
            TranslateError::InvalidPrice { price: 0 },
            RejectReason::INVALID_PRICE,
        ),
        (
            EnterOrder {
                price: MAX_PRICE + 1,
                ..enter(1)
            }
            .into(),
            TranslateError::InvalidPrice {
                price: MAX_PRICE + 1,
            },
            RejectReason::INVALID_PRICE,
        ),
        (
            EnterOrder {
                time_in_force: ouch::TimeInForce::Gtt,
                ..enter(1)
            }
            .into(),
            TranslateError::InvalidExpireTime {
                expire_time_s: None,
            },
            RejectReason::OTHER,
        ),
        (
            EnterOrder {
                time_in_force: ouch::TimeInForce::Gtt,
                ..with(Options {
                    expire_time_s: Some(86_400),
                    ..Options::NONE
                })
            }
            .into(),
            TranslateError::InvalidExpireTime {
                expire_time_s: Some(86_400),
            },
            RejectReason::OTHER,
        ),
        (
            with(Options {
                expire_time_s: Some(60),
                ..Options::NONE
            })
            .into(),
            TranslateError::InvalidExpireTime {
                expire_time_s: Some(60),
            },
            RejectReason::OTHER,
        ),
        (
            EnterOrder {
                display: Display::Hidden,
                ..enter(1)
            }
            .into(),
            TranslateError::UnsupportedDisplay { display: b'N' },
            RejectReason::INVALID_DISPLAY,
        ),
        (
            with(Options {
                max_floor: Some(0),
                ..Options::NONE
            })
            .into(),
            TranslateError::ZeroMaxFloor,
            RejectReason::INVALID_MAX_FLOOR,
        ),
        (
            EnterOrder {
                cross_type: CrossType::OpeningCross,
                ..enter(1)
            }
            .into(),
            TranslateError::CrossNotSupported,
            RejectReason::INVALID_CROSS_ORDER,
        ),
        (
            EnterOrder {
                intermarket_sweep: IsoEligibility::Eligible,
                ..enter(1)
            }
            .into(),
            TranslateError::IntermarketSweepNotAllowed,
            RejectReason::ISO_NOT_ALLOWED,
        ),
        (
            with(Options {
                price_type: Some(b'M'),
                ..Options::NONE
            })
            .into(),
            TranslateError::PeggingNotSupported {
                tag: tag::PRICE_TYPE,
            },
            RejectReason::PEGGING_NOT_ALLOWED,
        ),
        (
            with(Options {
                discretion_price: Some(1),
                ..Options::NONE
            })
            .into(),
            TranslateError::PeggingNotSupported {
                tag: tag::DISCRETION_PRICE,
            },
            RejectReason::PEGGING_NOT_ALLOWED,
        ),
        (
            with(Options {
                firm: Some(*b"OTHR"),
                ..Options::NONE
            })
            .into(),
            TranslateError::FirmNotAuthorized { firm: *b"OTHR" },
            RejectReason::FIRM_NOT_AUTHORIZED,
        ),
        (
            ouch::MassCancel {
                user_ref_num: 1,
                firm: *b"OTHR",
                symbol: [b' '; 8],
                options: Options::NONE,
            }
            .into(),
            TranslateError::FirmNotAuthorized { firm: *b"OTHR" },
            RejectReason::FIRM_NOT_AUTHORIZED,
        ),
        (
            ouch::MassCancel {
                user_ref_num: 1,
                firm: *b"    ",
                symbol: *b"NOPE    ",
                options: Options::NONE,
            }
            .into(),
            TranslateError::UnknownSymbol {
                symbol: *b"NOPE    ",
            },
            RejectReason::INVALID_SYMBOL,
        ),
        (
            ReplaceOrder {
                orig_user_ref_num: 0,
                user_ref_num: 1,
                quantity: 10,
                price: MARKET_PRICE,
                time_in_force: ouch::TimeInForce::Day,
                display: Display::Visible,
                intermarket_sweep: IsoEligibility::NotEligible,
                cl_ord_id: [b' '; 14],
                options: Options::NONE,
            }
            .into(),
            TranslateError::InvalidPrice {
                price: MARKET_PRICE,
            },
            RejectReason::INVALID_PRICE,
        ),
        (
            ReplaceOrder {
                orig_user_ref_num: 0,
                user_ref_num: 1,
                quantity: 0,
                price: 100,
                time_in_force: ouch::TimeInForce::Day,
                display: Display::Visible,
                intermarket_sweep: IsoEligibility::NotEligible,
                cl_ord_id: [b' '; 14],
                options: Options::NONE,
            }
            .into(),
            TranslateError::ZeroQuantity,
            RejectReason::INVALID_QUANTITY,
        ),
    ];
    for (message, error, reason) in cases {
        let refused = rejection(message);
        assert_eq!(refused.error, error, "{message:?}");
        assert_eq!(refused.reject_reason(), reason, "{message:?}");
        assert_eq!(refused.user_ref_num, 1);
        match refused.to_outbound(TS_NS) {
            Outbound::OrderRejected(answer) => {
                assert_eq!((answer.user_ref_num, answer.reason), (1, reason));
            }
            other => panic!("{other:?}"),
        }
    }

    // A quote is refused with Quote Status `J`.
    let quote = ouch::Quote {
        user_ref_num: 3,
        symbol: *b"ACME    ",
        bid_price: MAX_PRICE + 1,
        bid_quantity: 5,
        ask_price: 11_000,
        ask_quantity: 5,
    };
    let refused = rejection(quote.into());
    assert_eq!(
        refused.error,
        TranslateError::InvalidPrice {
            price: MAX_PRICE + 1
        }
    );
    match refused.to_outbound(TS_NS) {
        Outbound::QuoteStatus(status) => {
            assert_eq!(status.status, QuoteStatusCode::Rejected);
            assert_eq!(status.symbol, *b"ACME    ");
            assert_eq!(status.user_ref_num, 3);
            assert_eq!(status.reject_reason, RejectReason::INVALID_PRICE);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn undecodable_bytes_are_rejections_not_panics() {
    let mut buf = [0u8; 64];
    let len = enter(3).encode(&mut buf).unwrap();
    let mut bad_side = buf;
    bad_side[5] = b'X';
    let mut state = SessionOrderState::new();
    let refused = translate_bytes(
        &mut state,
        &context(),
        &table(),
        RECEIVED_NS,
        &bad_side[..len],
    )
    .unwrap_err();
    assert_eq!(refused.user_ref_num, 3);
    assert_eq!(refused.reject_reason(), RejectReason::INVALID_SIDE);
    let mut bad_tif = buf;
    bad_tif[26] = b'9';
    let refused = translate_bytes(
        &mut state,
        &context(),
        &table(),
        RECEIVED_NS,
        &bad_tif[..len],
    )
    .unwrap_err();
    assert!(matches!(
        refused.error,
        TranslateError::Malformed(OuchError::BadCode {
            field: "time_in_force",
            ..
        })
    ));
    assert_eq!(refused.reject_reason(), RejectReason::OTHER);
    // Nothing was used up by the malformed messages.
    assert_eq!(state.last_user_ref_num(), 0);
    for garbage in [
        &[][..],
        b"O",
        &[b'U', 0, 0],
        &[b'q', 1, 2, 3, 4, 5, 6],
        &[0xFF; 40],
    ] {
        assert!(translate_bytes(&mut state, &context(), &table(), RECEIVED_NS, garbage).is_err());
    }
    assert!(translate_bytes(&mut state, &context(), &table(), RECEIVED_NS, &buf[..len]).is_ok());
}

fn outbound(event: Event) -> Outbound {
    let translated = translate_event(&event, &table(), TS_NS)
        .unwrap()
        .expect("a message");
    assert_eq!(translated.session, SESSION);
    translated.message
}

#[test]
fn engine_events_map_to_outbound_messages() {
    let accepted = outbound(Event::Accepted {
        session: SESSION,
        account: ACCOUNT,
        user_ref: 4,
        order_id: 77,
        instrument: BOLT,
        side: engine::Side::Sell,
        price: 12_345,
        qty: 300,
        time_in_force: engine::TimeInForce::Gtt,
    });
    let Outbound::OrderAccepted(accepted) = accepted else {
        panic!("{accepted:?}")
    };
    assert_eq!(
        (
            accepted.timestamp_ns,
            accepted.user_ref_num,
            accepted.side,
            accepted.quantity,
            accepted.symbol
        ),
        (TS_NS, 4, ouch::Side::Sell, 300, *b"BOLT    ")
    );
    assert_eq!(
        (
            accepted.price,
            accepted.time_in_force,
            accepted.order_reference_number
        ),
        (12_345, ouch::TimeInForce::Gtt, 77)
    );
    assert_eq!(accepted.order_state, OrderState::Live);

    let Outbound::OrderExecuted(executed) = outbound(Event::Executed {
        session: SESSION,
        account: ACCOUNT,
        user_ref: 4,
        order_id: 77,
        instrument: BOLT,
        side: engine::Side::Sell,
        price: 12_345,
        qty: 40,
        leaves: 260,
        match_number: 900,
        liquidity: Liquidity::Maker,
        fee: 3,
    }) else {
        panic!()
    };
    assert_eq!(
        (
            executed.user_ref_num,
            executed.quantity,
            executed.price,
            executed.liquidity_flag,
            executed.match_number
        ),
        (4, 40, 12_345, LiquidityFlag::Added, 900)
    );

    let reasons = [
        (
            engine::CancelReason::UserRequested,
            ouch::CancelReason::UserRequested,
        ),
        (
            engine::CancelReason::MassCancel,
            ouch::CancelReason::UserRequested,
        ),
        (
            engine::CancelReason::QuoteReplaced,
            ouch::CancelReason::UserRequested,
        ),
        (
            engine::CancelReason::ImmediateOrCancel,
            ouch::CancelReason::ImmediateOrCancel,
        ),
        (
            engine::CancelReason::MinQtyNotMet,
            ouch::CancelReason::ImmediateOrCancel,
        ),
        (
            engine::CancelReason::SelfTradePrevention,
            ouch::CancelReason::SelfMatchPrevention,
        ),
        (engine::CancelReason::Expired, ouch::CancelReason::Timeout),
        (engine::CancelReason::EndOfDay, ouch::CancelReason::Closed),
        (
            engine::CancelReason::Disconnect,
            ouch::CancelReason::SystemCancel,
        ),
        (engine::CancelReason::Admin, ouch::CancelReason::Supervisory),
        (
            engine::CancelReason::CircuitBreaker,
            ouch::CancelReason::Halted,
        ),
    ];
    for (engine_reason, wire_reason) in reasons {
        let Outbound::OrderCanceled(canceled) = outbound(Event::Canceled {
            session: SESSION,
            account: ACCOUNT,
            user_ref: 4,
            order_id: 77,
            instrument: BOLT,
            qty: 60,
            reason: engine_reason,
        }) else {
            panic!()
        };
        assert_eq!(
            (canceled.user_ref_num, canceled.quantity, canceled.reason),
            (4, 60, wire_reason)
        );
    }

    let Outbound::AiqCanceled(aiq) = outbound(Event::SelfTradeCanceled {
        session: SESSION,
        account: ACCOUNT,
        user_ref: 4,
        order_id: 77,
        instrument: BOLT,
        qty: 50,
        prevented_qty: 20,
        price: 12_300,
        liquidity: Liquidity::Taker,
    }) else {
        panic!()
    };
    assert_eq!(
        (
            aiq.decrement_quantity,
            aiq.reason,
            aiq.quantity_prevented_from_trading,
            aiq.execution_price
        ),
        (50, ouch::CancelReason::SelfMatchPrevention, 20, 12_300)
    );
    assert_eq!(
        (aiq.liquidity_flag, aiq.aiq_strategy),
        (LiquidityFlag::Removed, b'N')
    );

    let Outbound::OrderRejected(rejected) = outbound(Event::Rejected {
        session: SESSION,
        user_ref: 5,
        reason: engine::RejectReason::InsufficientFunds,
    }) else {
        panic!()
    };
    assert_eq!(
        (rejected.user_ref_num, rejected.reason),
        (5, RejectReason::INSUFFICIENT_FUNDS)
    );

    let Outbound::OrderReplaced(replaced) = outbound(Event::Replaced {
        session: SESSION,
        account: ACCOUNT,
        old_user_ref: 4,
        user_ref: 6,
        old_order_id: 77,
        order_id: 78,
        instrument: ACME,
        side: engine::Side::Buy,
        price: 10_100,
        qty: 25,
    }) else {
        panic!()
    };
    assert_eq!(
        (
            replaced.orig_user_ref_num,
            replaced.user_ref_num,
            replaced.side,
            replaced.quantity,
            replaced.symbol
        ),
        (4, 6, ouch::Side::Buy, 25, *b"ACME    ")
    );
    assert_eq!(
        (replaced.price, replaced.order_reference_number),
        (10_100, 78)
    );

    let Outbound::OrderModified(modified) = outbound(Event::Modified {
        session: SESSION,
        account: ACCOUNT,
        user_ref: 4,
        order_id: 77,
        side: engine::Side::Sell,
        qty: 15,
    }) else {
        panic!()
    };
    assert_eq!(
        (modified.user_ref_num, modified.side, modified.quantity),
        (4, ouch::Side::Sell, 15)
    );
    let Outbound::QuoteStatus(status) = outbound(Event::QuoteStatus {
        session: SESSION,
        account: ACCOUNT,
        user_ref: 8,
        instrument: ACME,
        bid: QuoteSide {
            order_id: 101,
            price: 9_900,
            qty: 10,
        },
        ask: QuoteSide {
            order_id: 0,
            price: 0,
            qty: 0,
        },
    }) else {
        panic!()
    };
    assert_eq!(
        (
            status.user_ref_num,
            status.symbol,
            status.status,
            status.reject_reason
        ),
        (8, *b"ACME    ", QuoteStatusCode::Accepted, RejectReason(0))
    );
    assert_eq!(
        (
            status.bid_price,
            status.bid_quantity,
            status.bid_order_reference_number
        ),
        (9_900, 10, 101)
    );
    assert_eq!(
        (
            status.ask_price,
            status.ask_quantity,
            status.ask_order_reference_number
        ),
        (0, 0, 0)
    );

    let Outbound::MassCancelResponse(mass) = outbound(Event::MassCanceled {
        session: SESSION,
        user_ref: 9,
        count: 3,
    }) else {
        panic!()
    };
    assert_eq!(
        (mass.user_ref_num, mass.firm, mass.symbol),
        (9, *b"    ", [b' '; 8])
    );

    // Feed, admin and balance events are not order-entry messages.
    for event in [
        Event::SettingsApplied,
        Event::InstrumentAdded {
            instrument: ACME,
            symbol: symbol("ACME"),
        },
        Event::TradingAction {
            instrument: ACME,
            status: engine::InstrumentStatus::Halted,
            reason: engine::TradingActionReason::Operator,
        },
        Event::BalanceChanged {
            account: ACCOUNT,
            asset: 1,
            available: 1,
            reserved: 0,
        },
        Event::Book(engine::BookEvent::Delete {
            instrument: ACME,
            order_ref: 1,
        }),
    ] {
        assert_eq!(translate_event(&event, &table(), TS_NS), Ok(None));
    }

    // Inconsistent data is an error, not a panic.
    let unknown_instrument = Event::Accepted {
        session: SESSION,
        account: ACCOUNT,
        user_ref: 1,
        order_id: 1,
        instrument: 99,
        side: engine::Side::Buy,
        price: 1,
        qty: 1,
        time_in_force: engine::TimeInForce::Day,
    };
    assert_eq!(
        translate_event(&unknown_instrument, &table(), TS_NS),
        Err(OutboundError::UnknownInstrument { instrument: 99 })
    );
    let huge = Event::Executed {
        session: SESSION,
        account: ACCOUNT,
        user_ref: 1,
        order_id: 1,
        instrument: ACME,
        side: engine::Side::Buy,
        price: -1,
        qty: 1,
        leaves: 0,
        match_number: 1,
        liquidity: Liquidity::Taker,
        fee: 0,
    };
    assert_eq!(
        translate_event(&huge, &table(), TS_NS),
        Err(OutboundError::PriceOutOfRange { price: -1 })
    );
}

/// A funded market as engine/tests builds one: ACME traded for a quote asset, accounts 1 and 2 funded.
struct Market {
    engine: Engine<FastBook>,
    seq: u64,
    now_ns: u64,
}

impl Market {
    fn new() -> Market {
        let mut market = Market {
            engine: Engine::new(EngineConfig {
                max_orders: 1024,
                max_levels_per_side: 64,
                ..EngineConfig::default()
            })
            .expect("config"),
            seq: 0,
            now_ns: 1_000,
        };
        market.run(CommandBody::SetFeeTier {
            tier: 1,
            maker_fee_ppm: 100,
            taker_fee_ppm: 250,
        });
        market.run(CommandBody::AddInstrument(market::acme_spec(ACME)));
        for account in 0..=2 {
            market.run(CommandBody::SetAccount(market::trading_account(
                account, 1_000,
            )));
            for asset in [1, 2] {
                if account > 0 {
                    market.run(CommandBody::Deposit {
                        account,
                        asset,
                        amount: 1_000_000_000_000,
                    });
                }
            }
        }
        market
    }

    fn run(&mut self, body: CommandBody) -> Vec<Event> {
        self.seq += 1;
        self.now_ns += 1;
        let mut events = Vec::new();
        self.engine.apply(
            &Command {
                seq: self.seq,
                timestamp_ns: self.now_ns,
                body,
            },
            &mut events,
        );
        assert!(
            !events
                .iter()
                .any(|event| matches!(event, Event::Rejected { .. })),
            "{events:?}"
        );
        events
    }
}

/// Client bytes -> decode -> translate -> engine -> translate -> encode -> client decode.
fn client_round_trip(
    market: &mut Market,
    state: &mut SessionOrderState,
    context: &SessionContext,
    order: EnterOrder,
) -> Vec<(engine::SessionId, Outbound)> {
    let mut wire = [0u8; 128];
    let len = order.encode(&mut wire).unwrap();
    let Translated::Command(body) =
        translate_bytes(state, context, &table(), market.now_ns, &wire[..len]).unwrap()
    else {
        panic!("not an engine command")
    };
    let mut seen = Vec::new();
    for event in market.run(body) {
        let Some(message) = translate_event(&event, &table(), TS_NS).unwrap() else {
            continue;
        };
        let mut out = [0u8; 128];
        let written = message.message.encode(&mut out).unwrap();
        seen.push((message.session, Outbound::decode(&out[..written]).unwrap()));
    }
    seen
}

#[test]
fn round_trip_through_the_codec_and_a_real_engine() {
    let mut market = Market::new();
    let seller = SessionContext {
        session: 1,
        account: 1,
        firm: *b"SELL",
    };
    let buyer = SessionContext {
        session: 2,
        account: 2,
        firm: *b"BUYR",
    };
    let mut seller_state = SessionOrderState::new();
    let mut buyer_state = SessionOrderState::new();

    let ask = EnterOrder {
        side: ouch::Side::SellShort,
        quantity: 300,
        price: 10_050,
        ..enter(1)
    };
    let seen = client_round_trip(&mut market, &mut seller_state, &seller, ask);
    assert_eq!(seen.len(), 1, "{seen:?}");
    let (session, Outbound::OrderAccepted(accepted)) = seen[0] else {
        panic!("{seen:?}")
    };
    assert_eq!(session, 1);
    assert_eq!(
        (
            accepted.user_ref_num,
            accepted.side,
            accepted.quantity,
            accepted.price,
            accepted.symbol
        ),
        (1, ouch::Side::Sell, 300, 10_050, *b"ACME    ")
    );
    let resting_ref = accepted.order_reference_number;

    let bid = EnterOrder {
        side: ouch::Side::Buy,
        quantity: 100,
        price: 10_100,
        ..enter(1)
    };
    let seen = client_round_trip(&mut market, &mut buyer_state, &buyer, bid);
    let buyer_messages: Vec<_> = seen
        .iter()
        .filter(|(session, _)| *session == 2)
        .map(|(_, m)| *m)
        .collect();
    let seller_messages: Vec<_> = seen
        .iter()
        .filter(|(session, _)| *session == 1)
        .map(|(_, m)| *m)
        .collect();
    let [Outbound::OrderAccepted(accepted), Outbound::OrderExecuted(executed)] = buyer_messages[..]
    else {
        panic!("{seen:?}")
    };
    assert_eq!(
        (
            accepted.user_ref_num,
            accepted.side,
            accepted.quantity,
            accepted.price
        ),
        (1, ouch::Side::Buy, 100, 10_100)
    );
    // The incoming buy trades at the resting ask's price.
    assert_eq!(
        (
            executed.user_ref_num,
            executed.quantity,
            executed.price,
            executed.liquidity_flag
        ),
        (1, 100, 10_050, LiquidityFlag::Removed)
    );
    let [Outbound::OrderExecuted(maker)] = seller_messages[..] else {
        panic!("{seen:?}")
    };
    assert_eq!(
        (
            maker.user_ref_num,
            maker.quantity,
            maker.price,
            maker.liquidity_flag
        ),
        (1, 100, 10_050, LiquidityFlag::Added)
    );
    assert_eq!(maker.match_number, executed.match_number);
    assert_ne!(resting_ref, 0);

    // A GTT order: ExpireTime seconds after arrival, accepted by the engine as GTT.
    let gtt = EnterOrder {
        user_ref_num: 2,
        side: ouch::Side::Sell,
        quantity: 10,
        price: 10_200,
        time_in_force: ouch::TimeInForce::Gtt,
        options: Options {
            expire_time_s: Some(60),
            ..Options::NONE
        },
        ..enter(2)
    };
    let seen = client_round_trip(&mut market, &mut seller_state, &seller, gtt);
    let [(1, Outbound::OrderAccepted(accepted))] = seen[..] else {
        panic!("{seen:?}")
    };
    assert_eq!(
        (
            accepted.user_ref_num,
            accepted.time_in_force,
            accepted.quantity,
            accepted.price
        ),
        (2, ouch::TimeInForce::Gtt, 10, 10_200)
    );
}

proptest::proptest! {
    /// Whatever the bytes, translation answers with a command, a gateway request or a rejection.
    #[test]
    fn arbitrary_bytes_never_panic(
        message_type in proptest::sample::select(b"OUXMCDEQq".to_vec()),
        body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80),
    ) {
        let mut bytes = vec![message_type];
        bytes.extend_from_slice(&body);
        let mut state = SessionOrderState::resume(1);
        let _ = translate_bytes(&mut state, &context(), &table(), RECEIVED_NS, &bytes);
    }
}
