//! MoldUDP64 packets against hand-written bytes (Session 10, Sequence Number 8, Message Count 2, then 2-byte
//! length message blocks), the packing of messages into 1,400-byte packets, and malformed datagrams.

mod common;

use common::bytes;
use crossline_net::moldudp64::*;
use crossline_net::EncodeError;
use proptest::prelude::*;

const SESSION: [u8; 10] = *b"0000000042";

#[test]
fn downstream_packet_with_two_messages() {
    let datagram = bytes(&[
        "'0000000042",      // Session (0, 10)
        "0000000000000007", // Sequence Number 7 (10, 8)
        "0002",             // Message Count 2 (18, 2)
        "0003 AABBCC",      // block: length 3, message
        "0001 DD",          // block: length 1, message
    ]);
    let packet = Packet::decode(&datagram).unwrap();
    assert_eq!(
        packet.header,
        Header {
            session: SESSION,
            sequence_number: 7,
            message_count: 2
        }
    );
    assert_eq!(packet.kind(), PacketKind::Data);
    let messages: Vec<_> = packet.messages().collect();
    assert_eq!(
        messages,
        vec![(7, &[0xAA, 0xBB, 0xCC][..]), (8, &[0xDD][..])]
    );
    assert_eq!(packet.next_sequence_number(), 9);

    let mut builder = PacketBuilder::new(SESSION, 7, 1400);
    assert_eq!(builder.push(&[0xAA, 0xBB, 0xCC]), Ok(true));
    assert_eq!(builder.push(&[0xDD]), Ok(true));
    assert_eq!(builder.packet(), &datagram[..]);
}

#[test]
fn heartbeat_and_end_of_session_carry_the_next_sequence_number() {
    let mut builder = PacketBuilder::new(SESSION, 1, 1400);
    builder.push(&[1, 2, 3]).unwrap();
    let mut out = [0u8; 20];
    assert_eq!(builder.heartbeat(&mut out), Ok(20));
    assert_eq!(
        out[..],
        bytes(&["'0000000042", "0000000000000002", "0000"])[..]
    );
    let heartbeat = Packet::decode(&out).unwrap();
    assert_eq!(heartbeat.kind(), PacketKind::Heartbeat);
    assert_eq!(heartbeat.next_sequence_number(), 2);
    assert_eq!(heartbeat.messages().count(), 0);

    assert_eq!(builder.end_of_session(&mut out), Ok(20));
    assert_eq!(
        out[..],
        bytes(&["'0000000042", "0000000000000002", "FFFF"])[..]
    );
    let end = Packet::decode(&out).unwrap();
    assert_eq!(end.kind(), PacketKind::EndOfSession);
    assert_eq!(end.messages().count(), 0);
    assert_eq!(
        builder.heartbeat(&mut out[..19]),
        Err(EncodeError::BufferTooSmall {
            needed_bytes: 20,
            available_bytes: 19
        })
    );
}

#[test]
fn request_packet() {
    let request = RequestPacket {
        session: SESSION,
        sequence_number: 1000,
        requested_message_count: 25,
    };
    let expected = bytes(&["'0000000042", "00000000000003E8", "0019"]);
    let mut out = [0u8; 20];
    assert_eq!(request.encode(&mut out), Ok(20));
    assert_eq!(out[..], expected[..]);
    assert_eq!(RequestPacket::decode(&expected), Ok(request));
    assert_eq!(
        RequestPacket::decode(&expected[..19]),
        Err(MoldError::BadRequestLength { actual_bytes: 19 })
    );
}

#[test]
fn builder_fills_1400_byte_packets_and_numbers_messages_across_them() {
    // 36-byte messages (an ITCH Add Order) take 38 bytes a block: (1400 - 20) / 38 = 36 per packet.
    let mut builder = PacketBuilder::new(SESSION, 1, 1400);
    let mut packets = Vec::new();
    for index in 0..100u8 {
        let message = [index; 36];
        if !builder.push(&message).unwrap() {
            packets.push(builder.packet().to_vec());
            builder.advance();
            assert!(builder.push(&message).unwrap());
        }
    }
    packets.push(builder.packet().to_vec());
    let counts: Vec<u16> = packets
        .iter()
        .map(|p| Packet::decode(p).unwrap().header.message_count)
        .collect();
    assert_eq!(counts, vec![36, 36, 28]);
    let mut expected_sequence = 1;
    for datagram in &packets {
        assert!(datagram.len() <= 1400);
        for (sequence, message) in Packet::decode(datagram).unwrap().messages() {
            assert_eq!(sequence, expected_sequence);
            assert_eq!(message, &[(sequence - 1) as u8; 36]);
            expected_sequence += 1;
        }
    }
    assert_eq!(expected_sequence, 101);
}

#[test]
fn reserve_lets_an_encoder_write_in_place_and_refuses_what_can_never_fit() {
    let mut builder = PacketBuilder::new(SESSION, 1, 64);
    let slot = builder.reserve(4).unwrap().unwrap();
    slot.copy_from_slice(b"ITCH");
    assert_eq!(builder.next_sequence_number(), 2);
    assert_eq!(
        builder.reserve(64 - 20 - 2 + 1),
        Err(MoldError::MessageTooLarge {
            message_bytes: 43,
            max_packet_bytes: 64
        })
    );
    assert_eq!(builder.reserve(64 - 26 - 2 + 1), Ok(None));
    let packet = Packet::decode(builder.packet()).unwrap();
    assert_eq!(
        packet.messages().collect::<Vec<_>>(),
        vec![(1, &b"ITCH"[..])]
    );
}

#[test]
fn malformed_datagrams_are_typed_errors() {
    assert_eq!(
        Packet::decode(&[0; 19]),
        Err(MoldError::TooShort { actual_bytes: 19 })
    );
    let header = |count: &str| bytes(&["'0000000042", "0000000000000001", count]);
    let mut truncated = header("0002");
    truncated.extend(bytes(&["0001 AA", "0005 BBCC"]));
    assert_eq!(
        Packet::decode(&truncated),
        Err(MoldError::BlockTruncated { message_index: 1 })
    );
    let mut trailing = header("0001");
    trailing.extend(bytes(&["0001 AA", "00"]));
    assert_eq!(
        Packet::decode(&trailing),
        Err(MoldError::TrailingBytes { extra_bytes: 1 })
    );
    let mut end_with_data = header("FFFF");
    end_with_data.extend(bytes(&["0001 AA"]));
    assert_eq!(
        Packet::decode(&end_with_data),
        Err(MoldError::TrailingBytes { extra_bytes: 3 })
    );
    let overflow = bytes(&["'0000000042", "FFFFFFFFFFFFFFFF", "0001", "0000"]);
    assert_eq!(
        Packet::decode(&overflow),
        Err(MoldError::SequenceOverflow {
            sequence_number: u64::MAX,
            message_count: 1
        })
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn packed_messages_come_back_in_order_with_their_sequence_numbers(
        messages in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 0..200),
        first_sequence in 1u64..1_000_000,
        max_packet_bytes in 222usize..2000,
    ) {
        let mut builder = PacketBuilder::new(SESSION, first_sequence, max_packet_bytes);
        let mut datagrams = Vec::new();
        for message in &messages {
            if !builder.push(message).unwrap() {
                datagrams.push(builder.packet().to_vec());
                builder.advance();
                prop_assert!(builder.push(message).unwrap());
            }
        }
        if !builder.is_empty() {
            datagrams.push(builder.packet().to_vec());
        }
        let mut received = Vec::new();
        let mut next = first_sequence;
        for datagram in &datagrams {
            prop_assert!(datagram.len() <= max_packet_bytes);
            let packet = Packet::decode(datagram).unwrap();
            prop_assert_eq!(packet.header.sequence_number, next);
            for (sequence, message) in packet.messages() {
                prop_assert_eq!(sequence, next);
                next += 1;
                received.push(message.to_vec());
            }
        }
        prop_assert_eq!(received, messages);
    }

    #[test]
    fn arbitrary_datagrams_never_panic(datagram in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(packet) = Packet::decode(&datagram) {
            let total: usize = packet.messages().map(|(_, message)| 2 + message.len()).sum();
            prop_assert_eq!(20 + total, datagram.len());
        }
        let _ = RequestPacket::decode(&datagram);
    }
}
