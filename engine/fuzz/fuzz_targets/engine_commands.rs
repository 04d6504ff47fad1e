//! Arbitrary command sequences applied to the engine, with the fast book and the reference book side by side:
//! after every command both pass `validate()`, give the same events, and hold every asset exactly as deposited
//! less withdrawn (`crossline_engine::fuzzing::engine_commands`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    crossline_engine::fuzzing::engine_commands(data);
});
