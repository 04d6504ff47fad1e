//! TotalView-ITCH 5.0 messages against byte vectors written by hand from the specification's tables (section
//! numbers in the test names). Every message starts: type (0), Stock Locate (1, 2), Tracking Number (3, 2),
//! Timestamp (5, 6).

mod common;

use common::{bytes, TS6, TS_NS};
use crossline_net::itch::*;
use crossline_net::{alpha, EncodeError};

fn golden(message: Message, expected: &[u8]) {
    let mut out = [0u8; 64];
    let written = message.encode(&mut out).expect("encode");
    assert_eq!(&out[..written], expected, "encoding of {message:?}");
    assert_eq!(message.encoded_len(), expected.len());
    assert_eq!(Message::decode(expected), Ok(message));
}

const ORDER_REF: u64 = 123_456_789;
const ORDER_REF_HEX: &str = "00000000075BCD15";
const MATCH: u64 = 987_654_321;
const MATCH_HEX: &str = "000000003ADE68B1";

#[test]
fn system_event_1_1() {
    let message = SystemEvent {
        stock_locate: 0,
        tracking_number: 1,
        timestamp_ns: TS_NS,
        event_code: EventCode::StartOfMessages,
    };
    let expected = bytes(&["53", "0000", "0001", TS6, "'O"]);
    assert_eq!(expected.len(), 12);
    golden(Message::SystemEvent(message), &expected);
}

#[test]
fn stock_directory_1_2_1() {
    let message = StockDirectory {
        stock_locate: 1,
        tracking_number: 0,
        timestamp_ns: TS_NS,
        stock: alpha("AAPL"),
        market_category: b'Q',
        financial_status_indicator: b'N',
        round_lot_size: 100,
        round_lots_only: b'N',
        issue_classification: b'C',
        issue_sub_type: *b"C ",
        authenticity: b'P',
        short_sale_threshold_indicator: b'N',
        ipo_flag: b'N',
        luld_reference_price_tier: b'1',
        etp_flag: b'N',
        etp_leverage_factor: 0,
        inverse_indicator: b'N',
    };
    let expected = bytes(&[
        "52",
        "0001",
        "0000",
        TS6,         // header
        "'AAPL    ", // Stock (11)
        "'Q",        // Market Category (19)
        "'N",        // Financial Status Indicator (20)
        "00000064",  // Round Lot Size 100 (21)
        "'N",        // Round Lots Only (25)
        "'C",        // Issue Classification (26)
        "'C ",       // Issue Sub-Type (27, 2)
        "'P",        // Authenticity (29)
        "'N",        // Short Sale Threshold Indicator (30)
        "'N",        // IPO Flag (31)
        "'1",        // LULD Reference Price Tier (32)
        "'N",        // ETP Flag (33)
        "00000000",  // ETP Leverage Factor (34)
        "'N",        // Inverse Indicator (38)
    ]);
    assert_eq!(expected.len(), 39);
    golden(Message::StockDirectory(message), &expected);
}

#[test]
fn stock_trading_action_1_2_2() {
    let message = StockTradingAction {
        stock_locate: 1,
        tracking_number: 0,
        timestamp_ns: TS_NS,
        stock: alpha("AAPL"),
        trading_state: TradingState::Halted,
        reserved: b' ',
        reason: *b"LUDP",
    };
    let expected = bytes(&["48", "0001", "0000", TS6, "'AAPL    ", "'H", "20", "'LUDP"]);
    assert_eq!(expected.len(), 25);
    golden(Message::StockTradingAction(message), &expected);
}

#[test]
fn add_order_1_3_1_and_with_mpid_1_3_2() {
    let add = AddOrder {
        stock_locate: 1,
        tracking_number: 2,
        timestamp_ns: TS_NS,
        order_reference_number: ORDER_REF,
        side: BuySell::Buy,
        shares: 100,
        stock: alpha("AAPL"),
        price: 1_503_400,
    };
    let expected = bytes(&[
        "41",
        "0001",
        "0002",
        TS6,           // header
        ORDER_REF_HEX, // Order Reference Number (11)
        "'B",          // Buy/Sell Indicator (19)
        "00000064",    // Shares (20)
        "'AAPL    ",   // Stock (24)
        "0016F0A8",    // Price $150.3400 (32)
    ]);
    assert_eq!(expected.len(), 36);
    golden(Message::AddOrder(add), &expected);

    let attributed = AddOrderMpid {
        stock_locate: 1,
        tracking_number: 2,
        timestamp_ns: TS_NS,
        order_reference_number: ORDER_REF,
        side: BuySell::Sell,
        shares: 100,
        stock: alpha("AAPL"),
        price: 1_503_400,
        attribution: *b"NSDQ",
    };
    let expected = bytes(&[
        "46",
        "0001",
        "0002",
        TS6,
        ORDER_REF_HEX,
        "'S",
        "00000064",
        "'AAPL    ",
        "0016F0A8",
        "'NSDQ",
    ]);
    assert_eq!(expected.len(), 40);
    golden(Message::AddOrderMpid(attributed), &expected);
}

#[test]
fn order_executed_1_4_1_and_with_price_1_4_2() {
    let executed = OrderExecuted {
        stock_locate: 1,
        tracking_number: 3,
        timestamp_ns: TS_NS,
        order_reference_number: ORDER_REF,
        executed_shares: 50,
        match_number: MATCH,
    };
    let expected = bytes(&[
        "45",
        "0001",
        "0003",
        TS6,
        ORDER_REF_HEX,
        "00000032",
        MATCH_HEX,
    ]);
    assert_eq!(expected.len(), 31);
    golden(Message::OrderExecuted(executed), &expected);

    let with_price = OrderExecutedWithPrice {
        stock_locate: 1,
        tracking_number: 3,
        timestamp_ns: TS_NS,
        order_reference_number: ORDER_REF,
        executed_shares: 50,
        match_number: MATCH,
        printable: Printable::Yes,
        execution_price: 1_503_300,
    };
    let expected = bytes(&[
        "43",
        "0001",
        "0003",
        TS6,           // header
        ORDER_REF_HEX, // Order Reference Number (11)
        "00000032",    // Executed Shares (19)
        MATCH_HEX,     // Match Number (23)
        "'Y",          // Printable (31)
        "0016F044",    // Execution Price (32)
    ]);
    assert_eq!(expected.len(), 36);
    golden(Message::OrderExecutedWithPrice(with_price), &expected);
}

#[test]
fn order_cancel_1_4_3_delete_1_4_4_and_replace_1_4_5() {
    let cancel = OrderCancel {
        stock_locate: 1,
        tracking_number: 4,
        timestamp_ns: TS_NS,
        order_reference_number: ORDER_REF,
        cancelled_shares: 10,
    };
    let expected = bytes(&["58", "0001", "0004", TS6, ORDER_REF_HEX, "0000000A"]);
    assert_eq!(expected.len(), 23);
    golden(Message::OrderCancel(cancel), &expected);

    let delete = OrderDelete {
        stock_locate: 1,
        tracking_number: 4,
        timestamp_ns: TS_NS,
        order_reference_number: ORDER_REF,
    };
    let expected = bytes(&["44", "0001", "0004", TS6, ORDER_REF_HEX]);
    assert_eq!(expected.len(), 19);
    golden(Message::OrderDelete(delete), &expected);

    let replace = OrderReplace {
        stock_locate: 1,
        tracking_number: 4,
        timestamp_ns: TS_NS,
        original_order_reference_number: ORDER_REF,
        new_order_reference_number: ORDER_REF + 1,
        shares: 200,
        price: 1_500_000,
    };
    let expected = bytes(&[
        "55",
        "0001",
        "0004",
        TS6,                // header
        ORDER_REF_HEX,      // Original Order Reference Number (11)
        "00000000075BCD16", // New Order Reference Number (19)
        "000000C8",         // Shares (27)
        "0016E360",         // Price (31)
    ]);
    assert_eq!(expected.len(), 35);
    golden(Message::OrderReplace(replace), &expected);
}

#[test]
fn trade_1_5_1() {
    let trade = Trade {
        stock_locate: 1,
        tracking_number: 5,
        timestamp_ns: TS_NS,
        order_reference_number: 0,
        side: BuySell::Buy,
        shares: 100,
        stock: alpha("AAPL"),
        price: 1_503_400,
        match_number: MATCH,
    };
    let expected = bytes(&[
        "50",
        "0001",
        "0005",
        TS6,                // header
        "0000000000000000", // Order Reference Number, zero (11)
        "'B",               // Buy/Sell Indicator (19)
        "00000064",         // Shares (20)
        "'AAPL    ",        // Stock (24)
        "0016F0A8",         // Price (32)
        MATCH_HEX,          // Match Number (36)
    ]);
    assert_eq!(expected.len(), 44);
    golden(Message::Trade(trade), &expected);
}

#[test]
fn malformed_messages_are_typed_errors() {
    assert_eq!(Message::decode(&[]), Err(ItchError::Empty));
    // Cross Trade is valid ITCH but not one this codec reads.
    assert_eq!(
        Message::decode(&bytes(&["51", "0001"])),
        Err(ItchError::UnknownType { message_type: b'Q' })
    );
    assert_eq!(
        Message::decode(&bytes(&["44", "0001", "0004", TS6, "00"])),
        Err(ItchError::BadLength {
            message_type: b'D',
            expected_bytes: 19,
            actual_bytes: 12
        })
    );
    assert_eq!(
        Message::decode(&bytes(&[
            "41",
            "0001",
            "0002",
            TS6,
            ORDER_REF_HEX,
            "'T",
            "00000064",
            "'AAPL    ",
            "0016F0A8"
        ])),
        Err(ItchError::BadCode {
            message_type: b'A',
            field: "side",
            value: b'T'
        })
    );
    assert_eq!(
        OrderDelete::decode(&bytes(&[
            "58",
            "0001",
            "0004",
            TS6,
            ORDER_REF_HEX,
            "0000000A"
        ])),
        Err(ItchError::WrongType {
            expected: b'D',
            actual: b'X'
        })
    );
}

#[test]
fn a_timestamp_beyond_six_bytes_is_refused() {
    let delete = OrderDelete {
        stock_locate: 1,
        tracking_number: 0,
        timestamp_ns: 1 << 48,
        order_reference_number: 1,
    };
    let mut out = [0u8; 19];
    assert_eq!(
        delete.encode(&mut out),
        Err(EncodeError::ValueOutOfRange {
            field: "timestamp_ns"
        })
    );
}
