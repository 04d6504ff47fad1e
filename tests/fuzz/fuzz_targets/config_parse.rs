//! Arbitrary bytes (as lossy UTF-8) as the appliance's TOML configuration, through `Config::parse` and, when it is
//! accepted, the engine it describes (see ../checks.rs). Nothing may panic.
#![no_main]

#[allow(dead_code, unused_imports)]
#[path = "../../../src/config/mod.rs"]
mod config;

#[path = "../checks.rs"]
mod checks;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    checks::config_parse(data);
});
