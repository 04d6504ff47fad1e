//! `mm-quotes`: the flow a market-making venue lives on. Market makers keep replacing two-sided quotes around a
//! drifting mid; takers send IOC orders that hit them.

use super::{
    engine_config_with, limit_order_on, market_setup_with, Flow, GenerateError, InstrumentPicker,
    Instruments, Round, Stamper, UserRefs, WorkloadKind,
};
use crate::rng::Rng;
use crossline_engine::{
    AccountId, Command, CommandBody, InstrumentId, Price, Quote, Side, TimeInForce,
};

pub const DEFINITION: &str = "\
mm-quotes: one instrument, mid starting at 100,000 (tick 1). 20 market makers (accounts/sessions 1..=20) and 200 \
takers (21..=220). Before each command the mid moves one tick with probability 1/4, up with probability \
0.5 + (100,000 - mid) / 1,000 clamped to 0.1..=0.9 (it wanders, mean-reverting). 80% of commands are a Quote \
from a uniformly chosen maker m: half-spread 1 + (m mod 4) + uniform 0..=2 ticks, bid = mid - half, ask = \
mid + half, each size (uniform 1..=10) x 100 lots; in 5% of quotes one side (either, equally) is withdrawn with \
size 0. 20% are a taker IOC limit order from a uniformly chosen taker, buy or sell equally, priced 8 ticks \
through the mid, size (uniform 1..=5) x 100. Every maker quotes once, untimed, before the measurement. Fees, \
risk and funding as everywhere: no command is rejected.";

pub const MAKERS: u32 = 20;
pub const TAKERS: u32 = 200;
pub const CENTER_PRICE: Price = 100_000;
pub const BAND_BPS: u32 = 1_000;
/// Per million: a quote (else a taker order).
pub const QUOTE_PPM: u32 = 800_000;
/// Per million: one side of a quote is withdrawn.
pub const WITHDRAW_PPM: u32 = 50_000;
/// Per million: the mid moves before a command.
pub const MID_MOVE_PPM: u32 = 250_000;
/// How far through the mid a taker's limit reaches.
pub const TAKER_REACH_TICKS: Price = 8;

/// The market makers' side of the generator: each instrument's mid (index: instrument - 1).
struct Quoting {
    mids: Vec<Price>,
}

impl Quoting {
    fn mid(&self, instrument: InstrumentId) -> Price {
        self.mids[instrument as usize - 1]
    }

    fn drift(&mut self, instrument: InstrumentId, rng: &mut Rng) {
        if !rng.chance_ppm(MID_MOVE_PPM) {
            return;
        }
        let mid = &mut self.mids[instrument as usize - 1];
        let up_ppm = (500_000 + (CENTER_PRICE - *mid) * 1_000).clamp(100_000, 900_000) as u32;
        *mid += if rng.chance_ppm(up_ppm) { 1 } else { -1 };
    }

    fn quote(
        &self,
        instrument: InstrumentId,
        maker: AccountId,
        user_ref: u32,
        rng: &mut Rng,
        allow_withdraw: bool,
    ) -> CommandBody {
        let half_spread = 1 + Price::from(maker % 4) + rng.range_inclusive(0, 2);
        let mut bid_qty = rng.range_u64(1, 10) * 100;
        let mut ask_qty = rng.range_u64(1, 10) * 100;
        if allow_withdraw && rng.chance_ppm(WITHDRAW_PPM) {
            if rng.chance_ppm(500_000) {
                bid_qty = 0;
            } else {
                ask_qty = 0;
            }
        }
        CommandBody::Quote(Quote {
            session: maker,
            account: maker,
            user_ref,
            instrument,
            bid_price: self.mid(instrument) - half_spread,
            bid_qty,
            ask_price: self.mid(instrument) + half_spread,
            ask_qty,
        })
    }
}

pub fn generate(ops: u64, seed: u64) -> Result<Flow, GenerateError> {
    generate_with(ops, seed, Instruments::single())
}

/// The flow over `instruments`: every maker quotes every instrument, each instrument has its own mid, and each
/// command is on an instrument drawn from the Pareto (its mid drifts before it, as with one).
pub fn generate_with(ops: u64, seed: u64, instruments: Instruments) -> Result<Flow, GenerateError> {
    instruments.check("mm-quotes")?;
    if ops == 0 || ops > 500_000_000 {
        return Err(GenerateError::OpsOutOfRange {
            workload: "mm-quotes",
            ops,
            why: "must be 1..=500,000,000",
        });
    }
    let accounts = MAKERS + TAKERS;
    let mut stamper = Stamper::new();
    let mut setup = market_setup_with(
        &mut stamper,
        "MMQUOTE",
        CENTER_PRICE,
        BAND_BPS,
        accounts,
        instruments.count,
    );
    let mut rng = Rng::new(seed);
    let mut picker = InstrumentPicker::new(instruments, seed);
    let mut user_refs = UserRefs::new(accounts);
    let mut quoting = Quoting {
        mids: vec![CENTER_PRICE; instruments.count as usize],
    };
    for instrument in 1..=instruments.count {
        for maker in 1..=MAKERS {
            let user_ref = user_refs.next(maker);
            setup.push(stamper.stamp(quoting.quote(instrument, maker, user_ref, &mut rng, false)));
        }
    }
    let mut measured: Vec<Command> = Vec::with_capacity(ops as usize);
    for _ in 0..ops {
        let instrument = picker.pick();
        quoting.drift(instrument, &mut rng);
        let body = if rng.chance_ppm(QUOTE_PPM) {
            let maker = 1 + rng.below(u64::from(MAKERS)) as u32;
            let user_ref = user_refs.next(maker);
            quoting.quote(instrument, maker, user_ref, &mut rng, true)
        } else {
            let taker = MAKERS + 1 + rng.below(u64::from(TAKERS)) as u32;
            let user_ref = user_refs.next(taker);
            let mid = quoting.mid(instrument);
            let (side, price) = if rng.chance_ppm(500_000) {
                (Side::Buy, mid + TAKER_REACH_TICKS)
            } else {
                (Side::Sell, mid - TAKER_REACH_TICKS)
            };
            let qty = rng.range_u64(1, 5) * 100;
            limit_order_on(
                instrument,
                taker,
                user_ref,
                side,
                price,
                qty,
                TimeInForce::Ioc,
            )
        };
        measured.push(stamper.stamp(body));
    }
    Ok(Flow {
        kind: WorkloadKind::MmQuotes,
        seed,
        // At most two resting sides per maker and instrument, plus one incoming order at a time.
        config: engine_config_with(
            "mm-quotes",
            2 * u64::from(MAKERS) * u64::from(instruments.count) + 16,
            accounts,
            MAKERS * instruments.count,
            instruments.count,
        )?,
        setup,
        rounds: vec![Round {
            prepare: Vec::new(),
            measured,
        }],
        sample_every_default: 16,
        sample_unit: "one Quote or IOC command",
        expected_state_hash: None,
        generation_rejects: 0,
        generation_resting_orders: None,
        notes: instruments.note().into_iter().collect(),
    })
}
