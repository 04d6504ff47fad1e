//! `liquibook`: Liquibook's published insert benchmark, so that Crossline's figure can be set beside Liquibook's
//! measured on the same box.

use super::{
    engine_config_with, limit_order_on, market_setup_with, Flow, GenerateError, InstrumentPicker,
    Instruments, Round, Stamper, UserRefs,
};
use crate::rng::Rng;
use crossline_engine::{Price, Qty, Side, TimeInForce};

pub const DEFINITION: &str = "\
liquibook: Liquibook's insert benchmark. One instrument (tick = 1 price unit). Order i (from 0) is a buy when i \
is even and a sell when odd. A buy is priced 1880 + r, a sell 1884 + r, r uniform in 0..=9 (ten values, as \
`rand() % 10`), so buys span 1880..=1889 and sells 1884..=1893 and cross on 1884..=1889. Quantity is \
(uniform 1..=10) x 100 lots. All limit GTC. Buys come from accounts 1..=50, sells from 51..=100 (uniform), one \
session per account, so self-trade prevention never fires. Fees 100/200 ppm maker/taker, risk checks on, every \
account funded far beyond need: no command is rejected. Every command is measured.";

pub const BUY_PRICE_BASE: Price = 1880;
pub const SELL_PRICE_BASE: Price = 1884;
/// r in 0..=PRICE_OFFSET_MAX.
pub const PRICE_OFFSET_MAX: i64 = 9;
pub const QTY_STEP: Qty = 100;
pub const QTY_STEPS_MAX: u64 = 10;
pub const ACCOUNTS_PER_SIDE: u32 = 50;
/// The price band: ±5% around the last trade covers 1880..=1893 from any trade price the flow can make.
pub const BAND_BPS: u32 = 500;
pub const REFERENCE_PRICE: Price = 1886;

pub fn generate(ops: u64, seed: u64) -> Result<Flow, GenerateError> {
    generate_with(ops, seed, Instruments::single())
}

/// The flow over `instruments`: each order on an instrument drawn from the Pareto, everything else as with one.
pub fn generate_with(ops: u64, seed: u64, instruments: Instruments) -> Result<Flow, GenerateError> {
    instruments.check("liquibook")?;
    if ops == 0 || ops > 500_000_000 {
        return Err(GenerateError::OpsOutOfRange {
            workload: "liquibook",
            ops,
            why: "must be 1..=500,000,000",
        });
    }
    let accounts = 2 * ACCOUNTS_PER_SIDE;
    let mut stamper = Stamper::new();
    let setup = market_setup_with(
        &mut stamper,
        "LIQBOOK",
        REFERENCE_PRICE,
        BAND_BPS,
        accounts,
        instruments.count,
    );
    let mut picker = InstrumentPicker::new(instruments, seed);
    let mut rng = Rng::new(seed);
    let mut user_refs = UserRefs::new(accounts);
    let mut measured = Vec::with_capacity(ops as usize);
    for i in 0..ops {
        let (side, price_base, first_account) = if i % 2 == 0 {
            (Side::Buy, BUY_PRICE_BASE, 1)
        } else {
            (Side::Sell, SELL_PRICE_BASE, 1 + ACCOUNTS_PER_SIDE)
        };
        let price = price_base + rng.range_inclusive(0, PRICE_OFFSET_MAX);
        let qty = rng.range_u64(1, QTY_STEPS_MAX) * QTY_STEP;
        let account = first_account + rng.below(u64::from(ACCOUNTS_PER_SIDE)) as u32;
        let user_ref = user_refs.next(account);
        let instrument = picker.pick();
        measured.push(stamper.stamp(limit_order_on(
            instrument,
            account,
            user_ref,
            side,
            price,
            qty,
            TimeInForce::Gtc,
        )));
    }
    Ok(Flow {
        kind: super::WorkloadKind::Liquibook,
        seed,
        // Every order may rest (the buys at 1880..=1883 never trade).
        config: engine_config_with("liquibook", ops, accounts, 0, instruments.count)?,
        setup,
        rounds: vec![Round { prepare: Vec::new(), measured }],
        sample_every_default: 16,
        sample_unit: "one NewOrder command",
        expected_state_hash: None,
        generation_rejects: 0,
        generation_resting_orders: None,
        notes: std::iter::once(
            "buys at 1880..=1883 and sells at 1890..=1893 (40% of orders) can never trade: the book deepens \
             through the run"
                .to_string(),
        )
        .chain(instruments.note())
        .collect(),
    })
}
