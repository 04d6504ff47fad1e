//! OUCH 5.0 messages against byte vectors written by hand, field by field, from the specification's tables
//! (section numbers in the test names; offsets in the comments). The specification gives no byte examples, so
//! each vector is assembled from its layout table and must equal the encoder's output and decode back.

mod common;

use common::{bytes, TS8, TS_NS};
use crossline_net::ouch::*;
use crossline_net::{alpha, EncodeError};

fn golden_in(message: Inbound, expected: &[u8]) {
    let mut out = [0u8; 256];
    let written = message.encode(&mut out).expect("encode");
    assert_eq!(&out[..written], expected, "encoding of {message:?}");
    assert_eq!(message.encoded_len(), expected.len());
    assert_eq!(Inbound::decode(expected), Ok(message));
}

fn golden_out(message: Outbound, expected: &[u8]) {
    let mut out = [0u8; 256];
    let written = message.encode(&mut out).expect("encode");
    assert_eq!(&out[..written], expected, "encoding of {message:?}");
    assert_eq!(message.encoded_len(), expected.len());
    assert_eq!(Outbound::decode(expected), Ok(message));
}

fn aapl_enter_order(options: Options) -> EnterOrder {
    EnterOrder {
        user_ref_num: 1,
        side: Side::Buy,
        quantity: 100,
        symbol: alpha("AAPL"),
        price: 1_503_400,
        time_in_force: TimeInForce::Day,
        display: Display::Visible,
        capacity: Capacity::Agency,
        intermarket_sweep: IsoEligibility::NotEligible,
        cross_type: CrossType::ContinuousMarket,
        cl_ord_id: alpha("CLORD1"),
        options,
    }
}

const ENTER_ORDER_FIXED: [&str; 12] = [
    "4F",               // Type 'O' (0)
    "00000001",         // UserRefNum 1 (1)
    "'B",               // Side (5)
    "00000064",         // Quantity 100 (6)
    "'AAPL    ",        // Symbol (10)
    "000000000016F0A8", // Price $150.3400 (18)
    "'0",               // Time In Force Day (26)
    "'Y",               // Display (27)
    "'A",               // Capacity (28)
    "'N",               // InterMarket Sweep Eligibility (29)
    "'N",               // CrossType continuous (30)
    "'CLORD1        ",  // ClOrdID (31, 14)
];

#[test]
fn enter_order_2_1_without_options_is_47_bytes() {
    let mut pieces = ENTER_ORDER_FIXED.to_vec();
    pieces.push("0000"); // Appendage Length (45)
    let expected = bytes(&pieces);
    assert_eq!(expected.len(), 47);
    golden_in(
        Inbound::EnterOrder(aapl_enter_order(Options::NONE)),
        &expected,
    );
}

#[test]
fn enter_order_2_1_with_the_options_crossline_uses() {
    let options = Options {
        firm: Some(*b"FRMA"),
        min_qty: Some(100),
        max_floor: Some(50),
        post_only: Some(PostOnly::PostOnly),
        expire_time_s: Some(3600),
        group_id: Some(7),
        ..Options::NONE
    };
    let mut pieces = ENTER_ORDER_FIXED.to_vec();
    pieces.extend([
        "001F",           // Appendage Length 31 (45)
        "05 02 'FRMA",    // Firm: length 5, tag 2, 4 bytes
        "05 03 00000064", // MinQty 100: tag 3, 4 bytes
        "05 05 00000032", // MaxFloor 50: tag 5, 4 bytes
        "02 0C 'P",       // PostOnly 'P': tag 12, 1 byte
        "05 0F 00000E10", // ExpireTime 3600 s: tag 15, 4 bytes
        "03 18 0007",     // GroupID 7: tag 24, 2 bytes
    ]);
    let expected = bytes(&pieces);
    assert_eq!(expected.len(), 47 + 31);
    golden_in(Inbound::EnterOrder(aapl_enter_order(options)), &expected);
}

#[test]
fn options_decode_in_any_order_and_unknown_tags_are_skipped() {
    let mut pieces = ENTER_ORDER_FIXED.to_vec();
    pieces.extend([
        "0014",           // Appendage Length 20
        "05 0F 00000E10", // ExpireTime first
        "04 63 AABBCC",   // tag 99, unknown: skipped by its length
        "02 0C 'N",       // PostOnly 'N'
        "05 03 00000064", // MinQty
    ]);
    let decoded = Inbound::decode(&bytes(&pieces)).unwrap();
    let expected = Options {
        expire_time_s: Some(3600),
        post_only: Some(PostOnly::No),
        min_qty: Some(100),
        ..Options::NONE
    };
    assert_eq!(decoded, Inbound::EnterOrder(aapl_enter_order(expected)));
}

#[test]
fn replace_order_2_2() {
    let message = Inbound::ReplaceOrder(ReplaceOrder {
        orig_user_ref_num: 1,
        user_ref_num: 2,
        quantity: 500,
        price: 1_500_100,
        time_in_force: TimeInForce::Gtt,
        display: Display::Attributable,
        intermarket_sweep: IsoEligibility::NotEligible,
        cl_ord_id: alpha("REPL-2"),
        options: Options {
            expire_time_s: Some(3600),
            ..Options::NONE
        },
    });
    let expected = bytes(&[
        "55",               // Type 'U' (0)
        "00000001",         // OrigUserRefNum (1)
        "00000002",         // UserRefNum (5)
        "000001F4",         // Quantity 500 (9)
        "000000000016E3C4", // Price $150.0100 (13)
        "'6",               // Time In Force GTT (21)
        "'A",               // Display (22)
        "'N",               // ISO (23)
        "'REPL-2        ",  // ClOrdID (24)
        "0006",             // Appendage Length (38)
        "05 0F 00000E10",   // ExpireTime 3600
    ]);
    assert_eq!(expected.len(), 40 + 6);
    golden_in(message, &expected);
}

#[test]
fn cancel_order_2_3_with_and_without_an_appendage() {
    let bare = CancelOrder {
        user_ref_num: 77,
        quantity: 0,
        options: Options::NONE,
    };
    golden_in(
        Inbound::CancelOrder(bare),
        &bytes(&["58", "0000004D", "00000000"]),
    );
    let tagged = CancelOrder {
        quantity: 25,
        options: Options {
            user_ref_idx: Some(7),
            ..Options::NONE
        },
        ..bare
    };
    golden_in(
        Inbound::CancelOrder(tagged),
        &bytes(&["58", "0000004D", "00000019", "0003", "02 1C 07"]),
    );
    // An explicit empty appendage is read too (and written back without one).
    assert_eq!(
        Inbound::decode(&bytes(&["58", "0000004D", "00000000", "0000"])),
        Ok(Inbound::CancelOrder(bare))
    );
}

#[test]
fn modify_order_2_4() {
    let message = ModifyOrder {
        user_ref_num: 3,
        side: Side::SellShort,
        quantity: 50,
        options: Options::NONE,
    };
    golden_in(
        Inbound::ModifyOrder(message),
        &bytes(&["4D", "00000003", "'T", "00000032"]),
    );
}

#[test]
fn account_query_2_5_is_one_byte() {
    golden_in(
        Inbound::AccountQuery(AccountQuery {
            options: Options::NONE,
        }),
        &bytes(&["51"]),
    );
}

#[test]
fn mass_cancel_with_side_and_group_criteria() {
    let message = MassCancel {
        user_ref_num: 10,
        firm: *b"FIRM",
        symbol: alpha(""),
        options: Options {
            group_id: Some(7),
            side: Some(Side::Sell),
            ..Options::NONE
        },
    };
    let expected = bytes(&[
        "43",         // Type 'C' (0)
        "0000000A",   // UserRefNum (1)
        "'FIRM",      // Firm (5)
        "'        ",  // Symbol (9): blank = every symbol
        "0007",       // Appendage Length (17)
        "03 18 0007", // GroupID 7
        "02 1B 'S",   // Side 'S' (tag 27)
    ]);
    assert_eq!(expected.len(), 26);
    golden_in(Inbound::MassCancel(message), &expected);
}

#[test]
fn disable_and_enable_order_entry() {
    let disable = DisableOrderEntry {
        user_ref_num: 11,
        firm: *b"FRMA",
        options: Options::NONE,
    };
    golden_in(
        Inbound::DisableOrderEntry(disable),
        &bytes(&["44", "0000000B", "'FRMA", "0000"]),
    );
    let enable = EnableOrderEntry {
        user_ref_num: 12,
        firm: *b"FRMA",
        options: Options::NONE,
    };
    golden_in(
        Inbound::EnableOrderEntry(enable),
        &bytes(&["45", "0000000C", "'FRMA", "0000"]),
    );
}

#[test]
fn crossline_quote_extension() {
    let quote = Quote {
        user_ref_num: 5,
        symbol: alpha("AAPL"),
        bid_price: 1_500_000,
        bid_quantity: 200,
        ask_price: 1_500_100,
        ask_quantity: 0,
    };
    let expected = bytes(&[
        "71",               // Type 'q' (0)
        "00000005",         // UserRefNum (1)
        "'AAPL    ",        // Symbol (5)
        "000000000016E360", // Bid Price $150.0000 (13)
        "000000C8",         // Bid Size 200 (21)
        "000000000016E3C4", // Ask Price $150.0100 (25)
        "00000000",         // Ask Size 0: withdraw the ask (33)
    ]);
    assert_eq!(expected.len(), 37);
    golden_in(Inbound::Quote(quote), &expected);
}

#[test]
fn system_event_3_1() {
    let message = SystemEvent {
        timestamp_ns: TS_NS,
        event_code: EventCode::StartOfDay,
    };
    golden_out(Outbound::SystemEvent(message), &bytes(&["53", TS8, "'S"]));
}

#[test]
fn order_accepted_3_2() {
    let message = OrderAccepted {
        timestamp_ns: TS_NS,
        user_ref_num: 1,
        side: Side::Buy,
        quantity: 100,
        symbol: alpha("AAPL"),
        price: 1_503_400,
        time_in_force: TimeInForce::Day,
        display: Display::Visible,
        order_reference_number: 123_456_789,
        capacity: Capacity::Agency,
        intermarket_sweep: IsoEligibility::NotEligible,
        cross_type: CrossType::ContinuousMarket,
        order_state: OrderState::Live,
        cl_ord_id: alpha("CLORD1"),
        options: Options {
            min_qty: Some(100),
            ..Options::NONE
        },
    };
    let expected = bytes(&[
        "41",               // Type 'A' (0)
        TS8,                // Timestamp (1)
        "00000001",         // UserRefNum (9)
        "'B",               // Side (13)
        "00000064",         // Quantity (14)
        "'AAPL    ",        // Symbol (18)
        "000000000016F0A8", // Price (26)
        "'0",               // Time In Force (34)
        "'Y",               // Display (35)
        "00000000075BCD15", // Order Reference Number 123456789 (36)
        "'A",               // Capacity (44)
        "'N",               // ISO (45)
        "'N",               // CrossType (46)
        "'L",               // Order State (47)
        "'CLORD1        ",  // ClOrdID (48)
        "0006",             // Appendage Length (62)
        "05 03 00000064",   // MinQty 100
    ]);
    assert_eq!(expected.len(), 64 + 6);
    golden_out(Outbound::OrderAccepted(message), &expected);
}

#[test]
fn order_replaced_3_3() {
    let message = OrderReplaced {
        timestamp_ns: TS_NS,
        orig_user_ref_num: 1,
        user_ref_num: 2,
        side: Side::Sell,
        quantity: 400,
        symbol: alpha("MSFT"),
        price: 4_000_000,
        time_in_force: TimeInForce::ImmediateOrCancel,
        display: Display::Hidden,
        order_reference_number: 123_456_789,
        capacity: Capacity::Principal,
        intermarket_sweep: IsoEligibility::NotEligible,
        cross_type: CrossType::ContinuousMarket,
        order_state: OrderState::Dead,
        cl_ord_id: alpha("CLORD2"),
        options: Options::NONE,
    };
    let expected = bytes(&[
        "55",               // Type 'U' (0)
        TS8,                // Timestamp (1)
        "00000001",         // OrigUserRefNum (9)
        "00000002",         // UserRefNum (13)
        "'S",               // Side (17)
        "00000190",         // Quantity 400 (18)
        "'MSFT    ",        // Symbol (22)
        "00000000003D0900", // Price $400.0000 (30)
        "'3",               // Time In Force IOC (38)
        "'N",               // Display (39)
        "00000000075BCD15", // Order Reference Number (40)
        "'P",               // Capacity (48)
        "'N",               // ISO (49)
        "'N",               // CrossType (50)
        "'D",               // Order State dead (51)
        "'CLORD2        ",  // ClOrdID (52)
        "0000",             // Appendage Length (66)
    ]);
    assert_eq!(expected.len(), 68);
    golden_out(Outbound::OrderReplaced(message), &expected);
}

#[test]
fn order_canceled_3_4() {
    let message = OrderCanceled {
        timestamp_ns: TS_NS,
        user_ref_num: 2,
        quantity: 100,
        reason: CancelReason::UserRequested,
        options: Options::NONE,
    };
    golden_out(
        Outbound::OrderCanceled(message),
        &bytes(&["43", TS8, "00000002", "00000064", "'U"]),
    );
}

#[test]
fn aiq_canceled_3_5() {
    let message = AiqCanceled {
        timestamp_ns: TS_NS,
        user_ref_num: 4,
        decrement_quantity: 100,
        reason: CancelReason::SelfMatchPrevention,
        quantity_prevented_from_trading: 60,
        execution_price: 1_503_400,
        liquidity_flag: LiquidityFlag::Removed,
        aiq_strategy: b'O',
        options: Options::NONE,
    };
    let expected = bytes(&[
        "44",               // Type 'D' (0)
        TS8,                // Timestamp (1)
        "00000004",         // UserRefNum (9)
        "00000064",         // Decrement Shares (13)
        "'Q",               // Reason (17)
        "0000003C",         // Quantity prevented from trading 60 (18)
        "000000000016F0A8", // Execution Price (22)
        "'R",               // Liquidity Flag (30)
        "'O",               // AIQ Strategy (31)
    ]);
    assert_eq!(expected.len(), 32);
    golden_out(Outbound::AiqCanceled(message), &expected);
}

#[test]
fn order_executed_3_6() {
    let message = OrderExecuted {
        timestamp_ns: TS_NS,
        user_ref_num: 1,
        quantity: 100,
        price: 1_503_400,
        liquidity_flag: LiquidityFlag::Added,
        match_number: 987_654_321,
        options: Options::NONE,
    };
    let expected = bytes(&[
        "45",               // Type 'E' (0)
        TS8,                // Timestamp (1)
        "00000001",         // UserRefNum (9)
        "00000064",         // Quantity (13)
        "000000000016F0A8", // Price (17)
        "'A",               // Liquidity Flag (25)
        "000000003ADE68B1", // Match Number 987654321 (26)
        "0000",             // Appendage Length (34)
    ]);
    assert_eq!(expected.len(), 36);
    golden_out(Outbound::OrderExecuted(message), &expected);
}

#[test]
fn broken_trade_3_7() {
    let message = BrokenTrade {
        timestamp_ns: TS_NS,
        user_ref_num: 1,
        match_number: 987_654_321,
        reason: BrokenTradeReason::Erroneous,
        cl_ord_id: alpha("CLORD1"),
        options: Options::NONE,
    };
    let expected = bytes(&[
        "42",
        TS8,
        "00000001",
        "000000003ADE68B1",
        "'E",
        "'CLORD1        ",
    ]);
    assert_eq!(expected.len(), 36);
    golden_out(Outbound::BrokenTrade(message), &expected);
}

#[test]
fn rejected_3_8_with_a_specification_code_and_a_crossline_code() {
    let message = OrderRejected {
        timestamp_ns: TS_NS,
        user_ref_num: 9,
        reason: RejectReason::INVALID_PRICE,
        cl_ord_id: alpha("BADPX"),
        options: Options::NONE,
    };
    let expected = bytes(&["4A", TS8, "00000009", "001D", "'BADPX         "]);
    assert_eq!(expected.len(), 29);
    golden_out(Outbound::OrderRejected(message), &expected);

    let book_full = OrderRejected {
        reason: RejectReason::BOOK_FULL,
        ..message
    };
    golden_out(
        Outbound::OrderRejected(book_full),
        &bytes(&["4A", TS8, "00000009", "'BF", "'BADPX         "]),
    );
}

#[test]
fn cancel_pending_3_9_and_cancel_reject_3_10() {
    let pending = CancelPending {
        timestamp_ns: TS_NS,
        user_ref_num: 5,
        options: Options::NONE,
    };
    golden_out(
        Outbound::CancelPending(pending),
        &bytes(&["50", TS8, "00000005"]),
    );
    let reject = CancelReject {
        timestamp_ns: TS_NS,
        user_ref_num: 6,
        options: Options::NONE,
    };
    golden_out(
        Outbound::CancelReject(reject),
        &bytes(&["49", TS8, "00000006"]),
    );
}

#[test]
fn priority_update_3_11() {
    let message = PriorityUpdate {
        timestamp_ns: TS_NS,
        user_ref_num: 7,
        price: 1_503_300,
        display: Display::Visible,
        order_reference_number: 555,
        options: Options::NONE,
    };
    let expected = bytes(&[
        "54",
        TS8,
        "00000007",
        "000000000016F044",
        "'Y",
        "000000000000022B",
    ]);
    assert_eq!(expected.len(), 30);
    golden_out(Outbound::PriorityUpdate(message), &expected);
}

#[test]
fn order_modified_3_12() {
    let message = OrderModified {
        timestamp_ns: TS_NS,
        user_ref_num: 3,
        side: Side::SellShortExempt,
        quantity: 50,
        options: Options::NONE,
    };
    golden_out(
        Outbound::OrderModified(message),
        &bytes(&["4D", TS8, "00000003", "'E", "00000032"]),
    );
}

#[test]
fn order_restated_3_13_carries_its_details_in_options() {
    let message = OrderRestated {
        timestamp_ns: TS_NS,
        user_ref_num: 8,
        reason: RestatedReason::Refresh,
        options: Options {
            secondary_ord_ref_num: Some(777),
            display_quantity: Some(100),
            ..Options::NONE
        },
    };
    let expected = bytes(&[
        "52",                     // Type 'R' (0)
        TS8,                      // Timestamp (1)
        "00000008",               // UserRefNum (9)
        "'R",                     // Reason (13)
        "0010",                   // Appendage Length 16 (14)
        "09 01 0000000000000309", // SecondaryOrdRefNum 777: tag 1, 8 bytes
        "05 16 00000064",         // Display Quantity 100: tag 22, 4 bytes
    ]);
    assert_eq!(expected.len(), 32);
    golden_out(Outbound::OrderRestated(message), &expected);
}

#[test]
fn account_query_response_3_14() {
    let message = AccountQueryResponse {
        timestamp_ns: TS_NS,
        next_user_ref_num: 13,
        options: Options::NONE,
    };
    golden_out(
        Outbound::AccountQueryResponse(message),
        &bytes(&["51", TS8, "0000000D"]),
    );
}

#[test]
fn mass_cancel_and_order_entry_responses() {
    let mass = MassCancelResponse {
        timestamp_ns: TS_NS,
        user_ref_num: 10,
        firm: *b"FIRM",
        symbol: alpha("MSFT"),
        options: Options::NONE,
    };
    golden_out(
        Outbound::MassCancelResponse(mass),
        &bytes(&["58", TS8, "0000000A", "'FIRM", "'MSFT    ", "0000"]),
    );
    let disable = DisableOrderEntryResponse {
        timestamp_ns: TS_NS,
        user_ref_num: 11,
        firm: *b"FRMA",
        options: Options::NONE,
    };
    golden_out(
        Outbound::DisableOrderEntryResponse(disable),
        &bytes(&["47", TS8, "0000000B", "'FRMA", "0000"]),
    );
    let enable = EnableOrderEntryResponse {
        timestamp_ns: TS_NS,
        user_ref_num: 12,
        firm: *b"FRMA",
        options: Options::NONE,
    };
    golden_out(
        Outbound::EnableOrderEntryResponse(enable),
        &bytes(&["4B", TS8, "0000000C", "'FRMA", "0000"]),
    );
}

#[test]
fn crossline_quote_status_extension() {
    let message = QuoteStatus {
        timestamp_ns: TS_NS,
        user_ref_num: 5,
        symbol: alpha("AAPL"),
        status: QuoteStatusCode::Accepted,
        reject_reason: RejectReason(0),
        bid_price: 1_500_000,
        bid_quantity: 200,
        bid_order_reference_number: 41,
        ask_price: 1_500_100,
        ask_quantity: 0,
        ask_order_reference_number: 0,
    };
    let expected = bytes(&[
        "71",               // Type 'q' (0)
        TS8,                // Timestamp (1)
        "00000005",         // UserRefNum (9)
        "'AAPL    ",        // Symbol (13)
        "'A",               // Status accepted (21)
        "0000",             // Reject Reason (22)
        "000000000016E360", // Bid Price (24)
        "000000C8",         // Bid Size (32)
        "0000000000000029", // Bid Order Reference Number 41 (36)
        "000000000016E3C4", // Ask Price (44)
        "00000000",         // Ask Size (52)
        "0000000000000000", // Ask Order Reference Number (56)
    ]);
    assert_eq!(expected.len(), 64);
    golden_out(Outbound::QuoteStatus(message), &expected);
}

#[test]
fn the_same_letter_means_different_messages_in_each_direction() {
    let enable = bytes(&["45", "0000000C", "'FRMA", "0000"]);
    assert!(matches!(
        Inbound::decode(&enable),
        Ok(Inbound::EnableOrderEntry(_))
    ));
    assert_eq!(
        Outbound::decode(&enable),
        Err(OuchError::TooShort {
            message_type: b'E',
            min_bytes: 36,
            actual_bytes: 11
        })
    );
    assert_eq!(
        Inbound::decode(&bytes(&["41"])),
        Err(OuchError::UnknownType { message_type: b'A' })
    );
    assert_eq!(
        Outbound::decode(&bytes(&["4F"])),
        Err(OuchError::UnknownType { message_type: b'O' })
    );
}

#[test]
fn malformed_inbound_messages_are_typed_errors() {
    let enter = |pieces: &[&str]| {
        let mut all = ENTER_ORDER_FIXED.to_vec();
        all.extend_from_slice(pieces);
        Inbound::decode(&bytes(&all))
    };
    assert_eq!(Inbound::decode(&[]), Err(OuchError::Empty));
    // Missing the Appendage Length.
    assert_eq!(
        enter(&[]),
        Err(OuchError::TooShort {
            message_type: b'O',
            min_bytes: 47,
            actual_bytes: 45
        })
    );
    // Appendage Length disagreeing with the bytes that follow.
    assert_eq!(
        enter(&["0005", "02 0C 'P"]),
        Err(OuchError::AppendageLengthMismatch {
            message_type: b'O',
            declared_bytes: 5,
            actual_bytes: 3
        })
    );
    // An element running past the appendage, a zero-length element, a wrong-sized known tag.
    assert_eq!(
        enter(&["0003", "05 03 00"]),
        Err(OuchError::TagTruncated {
            message_type: b'O',
            offset: 0
        })
    );
    assert_eq!(
        enter(&["0001", "00"]),
        Err(OuchError::ZeroTagLength {
            message_type: b'O',
            offset: 0
        })
    );
    assert_eq!(
        enter(&["0004", "03 03 0064"]),
        Err(OuchError::BadTagLength {
            message_type: b'O',
            tag: 3,
            value_bytes: 2,
            expected_bytes: 4
        })
    );
    assert_eq!(
        enter(&["0003", "02 0C 'Y"]),
        Err(OuchError::BadTagValue {
            message_type: b'O',
            tag: 12,
            value: b'Y'
        })
    );
    // An undefined side.
    let mut bad_side = bytes(&ENTER_ORDER_FIXED);
    bad_side.extend_from_slice(&[0, 0]);
    bad_side[5] = b'X';
    assert_eq!(
        Inbound::decode(&bad_side),
        Err(OuchError::BadCode {
            message_type: b'O',
            field: "side",
            value: b'X'
        })
    );
    // A fixed-size message with a byte too many, and an optional appendage cut inside its length field.
    assert_eq!(
        Inbound::decode(&bytes(&[
            "71",
            "00000005",
            "'AAPL    ",
            "0000000000000000",
            "00000000",
            "0000000000000000",
            "00000000",
            "00"
        ])),
        Err(OuchError::BadLength {
            message_type: b'q',
            expected_bytes: 37,
            actual_bytes: 38
        })
    );
    assert_eq!(
        Inbound::decode(&bytes(&["58", "0000004D", "00000000", "00"])),
        Err(OuchError::TooShort {
            message_type: b'X',
            min_bytes: 11,
            actual_bytes: 10
        })
    );
    assert_eq!(
        CancelOrder::decode(&bytes(&["4D", "00000003", "'T", "00000032"])),
        Err(OuchError::WrongType {
            expected: b'X',
            actual: b'M'
        })
    );
}

#[test]
fn malformed_outbound_messages_are_typed_errors() {
    assert_eq!(
        Outbound::decode(&bytes(&["53", TS8, "'X"])),
        Err(OuchError::BadCode {
            message_type: b'S',
            field: "event_code",
            value: b'X'
        })
    );
    assert_eq!(
        Outbound::decode(&bytes(&["43", TS8, "00000002", "00000064", "'W"])),
        Err(OuchError::BadCode {
            message_type: b'C',
            field: "reason",
            value: b'W'
        })
    );
    assert_eq!(
        Outbound::decode(&bytes(&["53", TS8, "'S", "00"])),
        Err(OuchError::BadLength {
            message_type: b'S',
            expected_bytes: 10,
            actual_bytes: 11
        })
    );
}

#[test]
fn encoding_checks_the_room_first() {
    let message = Inbound::EnterOrder(aapl_enter_order(Options {
        min_qty: Some(1),
        ..Options::NONE
    }));
    let mut out = [0u8; 52];
    assert_eq!(
        message.encode(&mut out),
        Err(EncodeError::BufferTooSmall {
            needed_bytes: 53,
            available_bytes: 52
        })
    );
}
