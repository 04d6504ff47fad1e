//! SoupBinTCP framing and OUCH decoding on arbitrary bytes: a stream cut at arbitrary points goes through the
//! frame decoder, and every frame's payload through the OUCH decoders (inbound and outbound). Nothing may panic.
#![no_main]

use crossline_net::ouch::{Inbound, Outbound};
use crossline_net::soupbin::FrameDecoder;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
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
});
