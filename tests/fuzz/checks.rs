//! The check behind the `config_parse` fuzz target, shared with its smoke test (tests/fuzz_smoke.rs). The
//! including crate provides the appliance's configuration module as `crate::config`.
//!
//! Arbitrary bytes, read as UTF-8 (lossily), go through `Config::parse`: a refusal must name a field and print
//! without panicking; an accepted configuration must give an engine configuration the engine accepts, and, when
//! its capacities are small enough to allocate here, opening commands that a fresh engine accepts one and all.

use crate::config::{genesis_commands, Config};
use crossline_engine::{Command, Engine, Event, FastBook};

/// Capacities above these are accepted on paper but not allocated by the check (a fuzz input may ask for 2^30
/// orders).
const MAX_CHECKED_ORDERS: u32 = 1 << 14;
const MAX_CHECKED_TABLE: u32 = 1 << 12;

pub fn config_parse(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let config = match Config::parse(&text, "fuzz input") {
        Ok(config) => config,
        Err(error) => {
            assert!(
                !error.field.is_empty(),
                "a refusal names no field: {error:?}"
            );
            let _ = error.to_string();
            return;
        }
    };
    let engine_config = config.engine_config();
    if let Err(error) = engine_config.check() {
        panic!("an accepted configuration has an engine section the engine refuses: {error}");
    }
    let _ = (config.journal_dir(), config.snapshot_dir());
    if engine_config.max_orders > MAX_CHECKED_ORDERS
        || engine_config.max_levels_per_side > MAX_CHECKED_TABLE
        || engine_config.max_accounts > MAX_CHECKED_TABLE
        || engine_config.max_quotes > MAX_CHECKED_TABLE
        || engine_config.max_instruments > 256
        || u64::from(engine_config.max_accounts) * u64::from(engine_config.max_assets) > 1 << 16
    {
        return;
    }
    let mut engine = Engine::<FastBook>::new(engine_config)
        .expect("an engine configuration that checks out builds an engine");
    let mut events = Vec::new();
    for (index, body) in genesis_commands(&config).into_iter().enumerate() {
        events.clear();
        let command = Command {
            seq: index as u64 + 1,
            timestamp_ns: 0,
            body,
        };
        engine.apply(&command, &mut events);
        let refused = events
            .iter()
            .find(|event| matches!(event, Event::Rejected { .. } | Event::QuoteRejected { .. }));
        assert!(
            refused.is_none(),
            "an accepted configuration's opening command {body:?} is refused: {refused:?}"
        );
    }
    if let Err(error) = engine.validate() {
        panic!("the opening commands leave a broken state: {error}");
    }
}
