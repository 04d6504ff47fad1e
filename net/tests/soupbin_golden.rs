//! SoupBinTCP 4.00 packets against byte vectors written by hand from the specification's tables (section 2):
//! 2-byte big-endian length counting the type byte and payload, 1-byte type, payload.

mod common;

use common::bytes;
use crossline_net::soupbin::{
    parse_frame, LoginAccepted, LoginRejectReason, LoginRequest, Packet, Parsed, SessionId,
    SoupError,
};
use crossline_net::{alpha, EncodeError};

/// Encodes `packet`, checks the bytes, then parses them back to the same packet.
fn golden(packet: Packet<'_>, expected: &[u8]) {
    let mut out = [0u8; 128];
    let written = packet.encode(&mut out).expect("encode");
    assert_eq!(&out[..written], expected, "encoding of {packet:?}");
    assert_eq!(packet.frame_bytes(), expected.len());
    let Ok(Parsed::Frame(frame)) = parse_frame(expected, 1024) else {
        panic!("no whole frame in {expected:?}")
    };
    assert_eq!(frame.frame_bytes(), expected.len());
    assert_eq!(frame.packet(), Ok(packet));
}

#[test]
fn debug_packet_2_1() {
    golden(Packet::Debug(b"hello"), &bytes(&["0006", "2B", "'hello"]));
}

#[test]
fn login_accepted_2_2_1_session_and_sequence_are_left_padded_with_spaces() {
    let packet = Packet::LoginAccepted(LoginAccepted {
        session: SessionId::new("42"),
        sequence_number: 1,
    });
    golden(
        packet,
        &bytes(&[
            "001F",                  // length 31 = type + 30
            "41",                    // 'A'
            "'        42",           // Session (3, 10)
            "'                   1", // Sequence Number (13, 20)
        ]),
    );
}

#[test]
fn login_accepted_reads_a_zero_padded_sequence_number() {
    let frame = bytes(&["001F", "41", "'0000000007", "'00000000000000000005"]);
    let Ok(Parsed::Frame(frame)) = parse_frame(&frame, 64) else {
        panic!()
    };
    assert_eq!(
        frame.packet(),
        Ok(Packet::LoginAccepted(LoginAccepted {
            session: SessionId(*b"0000000007"),
            sequence_number: 5
        }))
    );
}

#[test]
fn login_rejected_2_2_2_codes() {
    golden(
        Packet::LoginRejected(LoginRejectReason::NotAuthorized),
        &bytes(&["0002", "4A", "'A"]),
    );
    golden(
        Packet::LoginRejected(LoginRejectReason::SessionNotAvailable),
        &bytes(&["0002", "4A", "'S"]),
    );
}

#[test]
fn sequenced_and_unsequenced_data_2_2_3_and_2_2_4() {
    golden(
        Packet::SequencedData(&[0x53, 0x00, 0xFF]),
        &bytes(&["0004", "53", "5300FF"]),
    );
    golden(
        Packet::UnsequencedData(&[0x4F]),
        &bytes(&["0002", "55", "4F"]),
    );
    golden(Packet::SequencedData(&[]), &bytes(&["0001", "53"]));
}

#[test]
fn payloadless_packets() {
    golden(Packet::ServerHeartbeat, &bytes(&["0001", "48"]));
    golden(Packet::EndOfSession, &bytes(&["0001", "5A"]));
    golden(Packet::ClientHeartbeat, &bytes(&["0001", "52"]));
    golden(Packet::LogoutRequest, &bytes(&["0001", "4F"]));
}

#[test]
fn login_request_2_3_1_fields_at_their_offsets() {
    let packet = Packet::LoginRequest(LoginRequest {
        username: alpha("TRADR"),
        password: alpha("secret"),
        requested_session: SessionId::BLANK,
        requested_sequence_number: 1,
    });
    golden(
        packet,
        &bytes(&[
            "002F",                  // length 47 = type + 46
            "4C",                    // 'L'
            "'TRADR ",               // Username (3, 6), padded on the right
            "'secret    ",           // Password (9, 10)
            "'          ",           // Requested Session (19, 10): blank = current session
            "'                   1", // Requested Sequence Number (29, 20)
        ]),
    );
}

#[test]
fn login_request_with_a_blank_sequence_number_asks_for_zero() {
    let frame = bytes(&[
        "002F",
        "4C",
        "'USER01",
        "'PASSWORD01",
        "'0000000003",
        "'                    ",
    ]);
    let Ok(Parsed::Frame(frame)) = parse_frame(&frame, 64) else {
        panic!()
    };
    let Ok(Packet::LoginRequest(login)) = frame.packet() else {
        panic!()
    };
    assert_eq!(login.requested_sequence_number, 0);
    assert_eq!(login.requested_session.text(), Some("0000000003"));
}

#[test]
fn malformed_packets_are_typed_errors() {
    let parse = |pieces: &[&str]| {
        let raw = bytes(pieces);
        match parse_frame(&raw, 1024) {
            Ok(Parsed::Frame(frame)) => frame.packet().map(|_| ()),
            other => panic!("not a frame: {other:?}"),
        }
    };
    assert_eq!(
        parse(&["0001", "58"]),
        Err(SoupError::UnknownType { packet_type: b'X' })
    );
    assert_eq!(
        parse(&["0002", "48", "00"]),
        Err(SoupError::BadLength {
            packet_type: b'H',
            expected_bytes: 0,
            actual_bytes: 1
        })
    );
    assert_eq!(
        parse(&["0002", "4A", "'X"]),
        Err(SoupError::BadRejectCode { code: b'X' })
    );
    assert_eq!(
        parse(&["0010", "4C", "'short login...."]),
        Err(SoupError::BadLength {
            packet_type: b'L',
            expected_bytes: 46,
            actual_bytes: 15
        })
    );
    assert_eq!(
        parse(&["001F", "41", "'SESSION001", "'              12x456"]),
        Err(SoupError::BadNumeric {
            field: "sequence_number"
        })
    );
}

#[test]
fn encoding_into_a_short_buffer_is_an_error() {
    let mut out = [0u8; 4];
    assert_eq!(
        Packet::SequencedData(&[1, 2]).encode(&mut out),
        Err(EncodeError::BufferTooSmall {
            needed_bytes: 5,
            available_bytes: 4
        })
    );
    let huge = vec![0u8; 70_000];
    let mut out = vec![0u8; 70_010];
    assert_eq!(
        Packet::SequencedData(&huge).encode(&mut out),
        Err(EncodeError::ValueOutOfRange {
            field: "packet length"
        })
    );
}
