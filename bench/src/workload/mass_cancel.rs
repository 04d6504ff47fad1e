//! `mass-cancel`: how fast the engine clears a book when members pull everything at once (a volatility event, a
//! disconnect storm). Books are built untimed; only the mass cancels are measured.

use super::{
    engine_config_with, limit_order_on, market_setup_with, Flow, GenerateError, InstrumentPicker,
    Instruments, Round, Stamper, UserRefs, WorkloadKind, INSTRUMENT,
};
use crate::rng::Rng;
use crossline_engine::{
    AccountId, CommandBody, MassCancel, MassCancelReason, Price, Side, TimeInForce,
};

pub const DEFINITION: &str = "\
mass-cancel: --ops is the number of orders built and then cancelled. One instrument, centre 100,000 (tick 1), \
200 accounts (one session each). The orders are built in rounds of at most 50,000, untimed: each order comes \
from a uniformly chosen account, is a buy at 99,999 - uniform 0..=499 or a sell at 100,001 + uniform 0..=499 \
(equally likely; nothing crosses), size (uniform 1..=10) x 100 lots, limit GTC. Then, measured, each account \
sends one MassCancel of all its orders (scope: account and instrument), the accounts in a shuffled order. The headline figure \
is orders cancelled (Canceled events) per second of measured time; latency is per MassCancel command (about \
250 orders each).";

pub const ACCOUNTS: u32 = 200;
pub const ORDERS_PER_ROUND_MAX: u64 = 50_000;
pub const CENTER_PRICE: Price = 100_000;
pub const PRICE_SPREAD_TICKS: i64 = 499;
pub const BAND_BPS: u32 = 1_000;

pub fn generate(ops: u64, seed: u64) -> Result<Flow, GenerateError> {
    generate_with(ops, seed, Instruments::single())
}

/// The flow over `instruments`: each built order on an instrument drawn from the Pareto; each account's mass
/// cancel then covers every instrument (scope: the account alone).
pub fn generate_with(ops: u64, seed: u64, instruments: Instruments) -> Result<Flow, GenerateError> {
    instruments.check("mass-cancel")?;
    if ops == 0 || ops > 500_000_000 {
        return Err(GenerateError::OpsOutOfRange {
            workload: "mass-cancel",
            ops,
            why: "must be 1..=500,000,000",
        });
    }
    let mut stamper = Stamper::new();
    let setup = market_setup_with(
        &mut stamper,
        "MASSCXL",
        CENTER_PRICE,
        BAND_BPS,
        ACCOUNTS,
        instruments.count,
    );
    let mut rng = Rng::new(seed);
    let mut picker = InstrumentPicker::new(instruments, seed);
    let scope = if instruments.is_single() {
        Some(INSTRUMENT)
    } else {
        None
    };
    let mut user_refs = UserRefs::new(ACCOUNTS);
    let mut accounts: Vec<AccountId> = (1..=ACCOUNTS).collect();
    let mut rounds = Vec::new();
    let mut orders_left = ops;
    while orders_left > 0 {
        let orders = orders_left.min(ORDERS_PER_ROUND_MAX);
        orders_left -= orders;
        let mut prepare = Vec::with_capacity(orders as usize);
        for _ in 0..orders {
            let account = 1 + rng.below(u64::from(ACCOUNTS)) as u32;
            let (side, price) = if rng.chance_ppm(500_000) {
                (
                    Side::Buy,
                    CENTER_PRICE - 1 - rng.range_inclusive(0, PRICE_SPREAD_TICKS),
                )
            } else {
                (
                    Side::Sell,
                    CENTER_PRICE + 1 + rng.range_inclusive(0, PRICE_SPREAD_TICKS),
                )
            };
            let qty = rng.range_u64(1, 10) * 100;
            let user_ref = user_refs.next(account);
            let instrument = picker.pick();
            prepare.push(stamper.stamp(limit_order_on(
                instrument,
                account,
                user_ref,
                side,
                price,
                qty,
                TimeInForce::Gtc,
            )));
        }
        rng.shuffle(&mut accounts);
        let mut measured = Vec::with_capacity(accounts.len());
        for &account in &accounts {
            let user_ref = user_refs.next(account);
            measured.push(stamper.stamp(CommandBody::MassCancel(MassCancel {
                session: account,
                user_ref,
                reason: MassCancelReason::UserRequested,
                account: Some(account),
                only_session: None,
                instrument: scope,
                side: None,
                group: None,
            })));
        }
        rounds.push(Round { prepare, measured });
    }
    Ok(Flow {
        kind: WorkloadKind::MassCancel,
        seed,
        config: engine_config_with(
            "mass-cancel",
            ops.min(ORDERS_PER_ROUND_MAX),
            ACCOUNTS,
            0,
            instruments.count,
        )?,
        setup,
        rounds,
        sample_every_default: 1,
        sample_unit: "one MassCancel command",
        expected_state_hash: None,
        generation_rejects: 0,
        generation_resting_orders: None,
        notes: std::iter::once(format!(
            "{ops} orders built untimed in rounds of up to {ORDERS_PER_ROUND_MAX}; only the mass cancels are timed"
        ))
        .chain(instruments.note())
        .collect(),
    })
}
