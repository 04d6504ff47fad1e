//! The SoupBinTCP frame decoder on a byte stream as TCP delivers it: any split of a stream of frames, down to
//! one byte per read, yields exactly the frames that were sent; oversized and broken streams are errors.

use crossline_net::soupbin::{parse_frame, FrameDecoder, Packet, PacketBuffer, Parsed, SoupError};
use proptest::prelude::*;

const MAX_FRAME_BYTES: usize = 300;

/// (packet type, payload) pairs with payloads that fit `MAX_FRAME_BYTES`.
fn frames() -> impl Strategy<Value = Vec<(u8, Vec<u8>)>> {
    let kind = prop::sample::select(&b"+AJSHZLURO"[..]);
    prop::collection::vec(
        (
            kind,
            prop::collection::vec(any::<u8>(), 0..=MAX_FRAME_BYTES - 3),
        ),
        0..40,
    )
}

fn encode_stream(frames: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut stream = Vec::new();
    for (kind, payload) in frames {
        stream.extend_from_slice(&((1 + payload.len()) as u16).to_be_bytes());
        stream.push(*kind);
        stream.extend_from_slice(payload);
    }
    stream
}

/// Feeds `stream` to a decoder in reads of the given sizes (cycled), draining whole frames after each read.
fn decode_in_reads(
    stream: &[u8],
    read_sizes: &[usize],
    buffer_bytes: usize,
) -> Result<Vec<(u8, Vec<u8>)>, SoupError> {
    let mut decoder = FrameDecoder::new(MAX_FRAME_BYTES, buffer_bytes);
    let mut out = Vec::new();
    let mut sent = 0;
    let mut reads = read_sizes.iter().cycle();
    while sent < stream.len() {
        let want = (*reads.next().unwrap()).min(stream.len() - sent);
        let spare = decoder.spare();
        assert!(
            !spare.is_empty(),
            "a drained decoder always has room for the frame still arriving"
        );
        let taken = want.min(spare.len());
        spare[..taken].copy_from_slice(&stream[sent..sent + taken]);
        decoder.commit(taken);
        sent += taken;
        while let Some(frame) = decoder.next_frame()? {
            out.push((frame.packet_type, frame.payload.to_vec()));
        }
    }
    assert_eq!(decoder.buffered_bytes(), 0);
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn random_read_sizes_yield_exactly_the_frames(
        frames in frames(),
        read_sizes in prop::collection::vec(1usize..700, 1..20),
        extra_buffer_bytes in 0usize..400,
    ) {
        let stream = encode_stream(&frames);
        let decoded = decode_in_reads(&stream, &read_sizes, MAX_FRAME_BYTES + extra_buffer_bytes).unwrap();
        prop_assert_eq!(decoded, frames);
    }

    #[test]
    fn one_byte_reads_yield_exactly_the_frames(frames in frames()) {
        let stream = encode_stream(&frames);
        prop_assert_eq!(decode_in_reads(&stream, &[1], MAX_FRAME_BYTES).unwrap(), frames);
    }

    #[test]
    fn parse_frame_walks_a_whole_buffer_of_frames(frames in frames()) {
        let stream = encode_stream(&frames);
        let mut rest = &stream[..];
        let mut decoded = Vec::new();
        while !rest.is_empty() {
            let Parsed::Frame(frame) = parse_frame(rest, MAX_FRAME_BYTES).unwrap() else { panic!("cut frame") };
            decoded.push((frame.packet_type, frame.payload.to_vec()));
            rest = &rest[frame.frame_bytes()..];
        }
        prop_assert_eq!(decoded, frames);
    }

    #[test]
    fn an_oversized_frame_is_an_error_once_its_length_field_arrives(
        frames in frames(),
        oversize_bytes in MAX_FRAME_BYTES + 1..=65_537,
        read_size in 1usize..64,
    ) {
        let mut stream = encode_stream(&frames);
        stream.extend_from_slice(&((oversize_bytes - 2) as u16).to_be_bytes());
        stream.push(b'S');
        let result = decode_in_reads(&stream, &[read_size], MAX_FRAME_BYTES);
        prop_assert_eq!(
            result,
            Err(SoupError::Oversize { frame_bytes: oversize_bytes, max_frame_bytes: MAX_FRAME_BYTES })
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_frames_respect_the_maximum(
        garbage in prop::collection::vec(any::<u8>(), 0..2048),
        read_size in 1usize..300,
    ) {
        let mut decoder = FrameDecoder::new(MAX_FRAME_BYTES, MAX_FRAME_BYTES);
        'reads: for chunk in garbage.chunks(read_size) {
            decoder.feed(chunk);
            loop {
                match decoder.next_frame() {
                    Ok(Some(frame)) => {
                        prop_assert!(frame.frame_bytes() <= MAX_FRAME_BYTES);
                        let _ = frame.packet();
                    }
                    Ok(None) => break,
                    Err(_) => break 'reads,
                }
            }
        }
    }
}

#[test]
fn many_frames_in_one_read() {
    let mut buffer = PacketBuffer::new(256);
    for _ in 0..10 {
        buffer.push(&Packet::ServerHeartbeat).unwrap();
        buffer.push(&Packet::SequencedData(b"message")).unwrap();
    }
    let mut decoder = FrameDecoder::new(64, 512);
    assert_eq!(decoder.feed(buffer.as_bytes()), buffer.len());
    let mut packets = Vec::new();
    while let Some(frame) = decoder.next_frame().unwrap() {
        packets.push(format!("{:?}", frame.packet().unwrap()));
    }
    assert_eq!(packets.len(), 20);
    assert_eq!(packets[0], "ServerHeartbeat");
    assert_eq!(
        packets[19],
        format!("{:?}", Packet::SequencedData(b"message"))
    );
}

#[test]
fn zero_length_is_a_broken_stream() {
    let mut decoder = FrameDecoder::new(64, 64);
    decoder.feed(&[0x00, 0x01, b'H', 0x00, 0x00, 0x00, 0x01, b'H']);
    assert!(decoder.next_frame().unwrap().is_some());
    assert_eq!(decoder.next_frame(), Err(SoupError::ZeroLength));
    // The error repeats until the connection's buffer is cleared.
    assert_eq!(decoder.next_frame(), Err(SoupError::ZeroLength));
    decoder.clear();
    assert_eq!(decoder.next_frame(), Ok(None));
}
