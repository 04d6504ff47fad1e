//! MoldUDP64 packets and ITCH messages on arbitrary bytes, as a subscriber meets them: packet decoding, message
//! decoding, and the book builder applying whatever decodes. Nothing may panic.
#![no_main]

use crossline_net::feed::BookBuilder;
use crossline_net::itch::Message;
use crossline_net::moldudp64::Packet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
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
});
