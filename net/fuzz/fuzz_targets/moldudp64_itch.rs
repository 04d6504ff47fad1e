//! MoldUDP64 packets and ITCH messages on arbitrary bytes, as a subscriber meets them: packet decoding, message
//! decoding, and the book builder applying whatever decodes. Nothing may panic. The check is in ../checks.rs,
//! shared with the smoke test.
#![no_main]

#[path = "../checks.rs"]
mod checks;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    checks::moldudp64_itch(data);
});
