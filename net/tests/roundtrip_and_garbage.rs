//! Properties over every OUCH and ITCH message: what is encoded decodes to the same message, in exactly
//! `encoded_len` bytes, also inside a SoupBinTCP frame; and no input — arbitrary bytes, valid messages cut
//! short, valid messages with a byte changed — makes a decoder panic.

mod common;

use crossline_net::itch;
use crossline_net::ouch::{Inbound, Outbound};
use crossline_net::soupbin::{parse_frame, FrameDecoder, Packet, PacketBuffer, Parsed};
use proptest::prelude::*;

const OUCH_TYPES: &[u8] = b"OUXMCDEQqSACDEBJPITMRXGKq";
const ITCH_TYPES: &[u8] = b"SRHAFECXDUP";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn inbound_round_trip(message in common::inbound()) {
        let mut out = [0u8; 512];
        let written = message.encode(&mut out).unwrap();
        prop_assert_eq!(written, message.encoded_len());
        prop_assert_eq!(Inbound::decode(&out[..written]), Ok(message));
    }

    #[test]
    fn outbound_round_trip(message in common::outbound()) {
        let mut out = [0u8; 512];
        let written = message.encode(&mut out).unwrap();
        prop_assert_eq!(written, message.encoded_len());
        prop_assert_eq!(Outbound::decode(&out[..written]), Ok(message));
    }

    #[test]
    fn itch_round_trip(message in common::itch_message()) {
        let mut out = [0u8; 64];
        let written = message.encode(&mut out).unwrap();
        prop_assert_eq!(written, message.encoded_len());
        prop_assert_eq!(itch::Message::decode(&out[..written]), Ok(message));
    }

    #[test]
    fn outbound_messages_written_into_sequenced_data_frames_come_back(
        messages in prop::collection::vec(common::outbound(), 1..20),
    ) {
        let mut buffer = PacketBuffer::new(8192);
        for message in &messages {
            let slot = buffer.reserve_frame(b'S', message.encoded_len()).unwrap();
            prop_assert_eq!(message.encode(slot), Ok(message.encoded_len()));
        }
        let mut decoder = FrameDecoder::new(1024, 1024);
        let mut decoded = Vec::new();
        for chunk in buffer.as_bytes().chunks(7) {
            prop_assert_eq!(decoder.feed(chunk), chunk.len());
            while let Some(frame) = decoder.next_frame().unwrap() {
                let Packet::SequencedData(payload) = frame.packet().unwrap() else { panic!("not sequenced data") };
                decoded.push(Outbound::decode(payload).unwrap());
            }
        }
        prop_assert_eq!(decoded, messages);
    }

    #[test]
    fn arbitrary_bytes_never_panic_any_decoder(raw in prop::collection::vec(any::<u8>(), 0..160)) {
        let _ = Inbound::decode(&raw);
        let _ = Outbound::decode(&raw);
        let _ = itch::Message::decode(&raw);
        if let Ok(Parsed::Frame(frame)) = parse_frame(&raw, 1024) {
            let _ = frame.packet();
        }
    }

    #[test]
    fn garbage_behind_a_valid_type_byte_never_panics(
        ouch_type in prop::sample::select(OUCH_TYPES),
        itch_type in prop::sample::select(ITCH_TYPES),
        tail in prop::collection::vec(any::<u8>(), 0..120),
    ) {
        let mut raw = vec![ouch_type];
        raw.extend_from_slice(&tail);
        let _ = Inbound::decode(&raw);
        let _ = Outbound::decode(&raw);
        raw[0] = itch_type;
        let _ = itch::Message::decode(&raw);
    }

    #[test]
    fn cut_or_altered_valid_messages_never_panic(
        inbound in common::inbound(),
        outbound in common::outbound(),
        itch_message in common::itch_message(),
        cut in any::<prop::sample::Index>(),
        position in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let mut out = [0u8; 512];
        let lengths = [
            inbound.encode(&mut out[..256]).unwrap(),
            outbound.encode(&mut out[256..]).unwrap(),
        ];
        for (offset, len) in [(0, lengths[0]), (256, lengths[1])] {
            let message = &mut out[offset..offset + len];
            let _ = Inbound::decode(&message[..cut.index(len + 1)]);
            let _ = Outbound::decode(&message[..cut.index(len + 1)]);
            message[position.index(len)] = byte;
            let _ = Inbound::decode(message);
            let _ = Outbound::decode(message);
        }
        let len = itch_message.encode(&mut out).unwrap();
        let _ = itch::Message::decode(&out[..cut.index(len + 1)]);
        out[position.index(len)] = byte;
        let _ = itch::Message::decode(&out[..len]);
    }
}
