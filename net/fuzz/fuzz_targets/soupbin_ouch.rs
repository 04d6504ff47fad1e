//! SoupBinTCP framing and OUCH decoding on arbitrary bytes: a stream cut at arbitrary points goes through the
//! frame decoder, and every frame's payload through the OUCH decoders (inbound and outbound). Nothing may panic.
//! The check is in ../checks.rs, shared with the smoke test.
#![no_main]

#[path = "../checks.rs"]
mod checks;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    checks::soupbin_ouch(data);
});
