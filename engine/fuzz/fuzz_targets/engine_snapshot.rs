//! Arbitrary bytes as an engine snapshot: refused with an error, or loaded into a state that passes `validate()`
//! and round-trips (`crossline_engine::fuzzing::engine_snapshot`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    crossline_engine::fuzzing::engine_snapshot(data);
});
