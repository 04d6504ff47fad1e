//! The checks behind the net fuzz targets, shared with their smoke test (net/tests/fuzz_smoke.rs), which includes
//! this file with `#[path]`. Each takes arbitrary bytes and may only return; any panic is a finding.

use crossline_net::feed::BookBuilder;
use crossline_net::itch::Message;
use crossline_net::moldudp64::Packet;
use crossline_net::ouch::{Inbound, Outbound};
use crossline_net::soupbin::FrameDecoder;

/// SoupBinTCP framing and OUCH decoding: the first byte sets the size of the chunks the rest of the stream arrives
/// in; the frame decoder takes them as a socket would deliver them, and every frame's payload goes through the OUCH
/// decoders (inbound and outbound).
pub fn soupbin_ouch(data: &[u8]) {
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let mut decoder = FrameDecoder::new(1024, 4096);
    let chunk = usize::from(cut).max(1);
    for piece in stream.chunks(chunk) {
        let mut rest = piece;
        while !rest.is_empty() {
            let taken = decoder.feed(rest);
            rest = &rest[taken..];
            loop {
                match decoder.next_frame() {
                    Ok(Some(frame)) => {
                        if let Ok(packet) = frame.packet() {
                            let _ = packet;
                        }
                        let _ = Inbound::decode(frame.payload);
                        let _ = Outbound::decode(frame.payload);
                    }
                    Ok(None) => break,
                    Err(_) => {
                        decoder.clear();
                        break;
                    }
                }
            }
            if taken == 0 {
                break;
            }
        }
    }
    let _ = Inbound::decode(stream);
    let _ = Outbound::decode(stream);
}

/// MoldUDP64 packets and ITCH messages as a subscriber meets them: packet decoding, message decoding, and the book
/// builder applying whatever decodes.
pub fn moldudp64_itch(data: &[u8]) {
    if let Ok(packet) = Packet::decode(data) {
        for (_, message) in packet.messages() {
            let _ = Message::decode(message);
        }
    }
    let _ = Message::decode(data);
    let mut builder = BookBuilder::new(1);
    let _ = builder.apply_packet(data);
    if let Ok(message) = Message::decode(data) {
        let _ = builder.apply(&message);
    }
}
