//! Seeded order flows. A workload turns (ops, seed) into a `Flow`: the set-up commands (instrument, fee tier,
//! accounts, deposits, and any book the measurement starts from) and one or more rounds of measured commands, all
//! generated before anything is timed. The same (workload, ops, seed) gives the same commands on every machine.
//!
//! Every workload funds its accounts and sets risk limits so that no command is rejected; a reject in a run means
//! a generator or an engine bug, and the report says so.

pub mod liquibook;
pub mod mass_cancel;
pub mod mm_quotes;
pub mod xc_single;

use crate::rng::Rng;
use crossline_engine::{
    symbol, AccountId, AccountSpec, AssetId, Command, CommandBody, EngineConfig, InstrumentId,
    InstrumentSpec, NewOrder, OrderType, Price, Qty, SessionId, Side, StpMode, TimeInForce,
    UserRef,
};

/// The instrument every single-instrument workload trades (and the most traded one of a multi-instrument flow).
pub const INSTRUMENT: InstrumentId = 1;
/// The default shape of the instrument distribution: the "80/20" Pareto (log 5 / log 4).
pub const DEFAULT_PARETO_ALPHA: f64 = 1.16;
/// The most instruments a flow may spread over (each has its own preallocated book in the engine).
pub const MAX_INSTRUMENTS: u32 = 1_024;
/// Where the instrument draws come from: a stream of their own, so a multi-instrument flow keeps every other draw
/// of the same seed's single-instrument flow, and a single-instrument flow draws nothing for it.
const INSTRUMENT_STREAM: u64 = 0x1A57_0C0D_E000_0006;

/// How instruments are chosen in a multi-instrument flow, printed by `crossline-bench workloads`.
pub const INSTRUMENTS_DEFINITION: &str = "\
instruments (--instruments N, default 1; --pareto-alpha A, default 1.16): with N = 1 every workload trades its \
one instrument exactly as defined above. With N > 1 the set-up adds instruments 1..=N (symbols I0001, I0002, \
..., the workload's spec otherwise: tick, band, reference price), and each order or quote draws its instrument \
from a bounded Pareto over ranks: X = (1 - u * (1 - (N + 1)^-A))^(-1/A), u uniform in [0, 1), instrument = \
floor(X), so P(k) = (k^-A - (k+1)^-A) / (1 - (N+1)^-A) (A = 1.16: instrument 1 takes 59.9% of the flow for \
N = 8, 55.7% for N = 64). The draw is made from its own seeded stream through a precomputed cumulative table (53-bit thresholds) and a \
binary search; every other draw is the single-instrument flow's. liquibook: each order on its drawn instrument. \
mm-quotes: every maker quotes every instrument untimed first, each instrument has its own mid (drifting only \
when a command is drawn on it), quotes are per (maker, instrument), takers aim at their instrument's mid. \
mass-cancel: each built order on its drawn instrument; each account's MassCancel is scoped to the account alone \
(every instrument). xc-single is exchange-core's single-symbol mix and refuses N > 1.";

/// The instruments of a flow: how many, and the shape of the Pareto the orders draw them from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Instruments {
    pub count: u32,
    pub pareto_alpha: f64,
}

impl Default for Instruments {
    fn default() -> Self {
        Instruments::single()
    }
}

impl Instruments {
    /// The single-instrument flows every figure so far was measured on.
    pub fn single() -> Instruments {
        Instruments {
            count: 1,
            pareto_alpha: DEFAULT_PARETO_ALPHA,
        }
    }

    pub fn new(count: u32, pareto_alpha: f64) -> Instruments {
        Instruments {
            count,
            pareto_alpha,
        }
    }

    pub fn is_single(&self) -> bool {
        self.count == 1
    }

    /// Refuses counts and shapes no flow can use.
    pub fn check(&self, workload: &'static str) -> Result<(), GenerateError> {
        let why = if self.count == 0 || self.count > MAX_INSTRUMENTS {
            format!("--instruments {} must be 1..={MAX_INSTRUMENTS}", self.count)
        } else if !(self.pareto_alpha.is_finite() && self.pareto_alpha > 0.0) {
            format!(
                "--pareto-alpha {} must be a finite number above 0",
                self.pareto_alpha
            )
        } else {
            return Ok(());
        };
        Err(GenerateError::Instruments { workload, why })
    }

    /// A note for the report, or none for a single instrument.
    pub fn note(&self) -> Option<String> {
        if self.is_single() {
            return None;
        }
        let ranks = ParetoRanks::new(self.count, self.pareto_alpha);
        Some(format!(
            "{} instruments, drawn from a bounded Pareto over ranks with alpha {}: instrument 1 expects {:.1}% of \
             the orders, the top 20% of instruments {:.1}%",
            self.count,
            self.pareto_alpha,
            ranks.probability(1) * 100.0,
            ranks.top_share(self.count.div_ceil(5)) * 100.0
        ))
    }
}

/// Draws instrument ranks 1..=N from a bounded Pareto: rank k with probability
/// (k^-a - (k+1)^-a) / (1 - (N+1)^-a), the floor of a Pareto on [1, N+1). A cumulative table of 53-bit integer
/// thresholds is built once; each draw is 53 uniform bits and a binary search, so the choice itself is exact
/// integer arithmetic.
#[derive(Debug, Clone)]
pub struct ParetoRanks {
    /// `thresholds[k - 1]`: P(rank <= k) scaled to 2^53; the last is exactly 2^53.
    thresholds: Vec<u64>,
    alpha: f64,
}

const PARETO_SCALE_BITS: u32 = 53;

impl ParetoRanks {
    pub fn new(count: u32, alpha: f64) -> ParetoRanks {
        assert!(count >= 1, "ParetoRanks over no ranks");
        let scale = (1u64 << PARETO_SCALE_BITS) as f64;
        let mut thresholds: Vec<u64> = (1..=count)
            .map(|rank| (Self::cdf(count, alpha, rank) * scale).round() as u64)
            .collect();
        if let Some(last) = thresholds.last_mut() {
            *last = 1u64 << PARETO_SCALE_BITS;
        }
        ParetoRanks { thresholds, alpha }
    }

    /// P(rank <= k) of the bounded Pareto over 1..=count.
    fn cdf(count: u32, alpha: f64, rank: u32) -> f64 {
        let tail = |x: u32| (f64::from(x)).powf(-alpha);
        (1.0 - tail(rank + 1)) / (1.0 - tail(count + 1))
    }

    pub fn count(&self) -> u32 {
        self.thresholds.len() as u32
    }

    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// The probability of rank `rank` (1-based), from the table the draws use.
    pub fn probability(&self, rank: u32) -> f64 {
        let index = rank as usize - 1;
        let low = if index == 0 {
            0
        } else {
            self.thresholds[index - 1]
        };
        (self.thresholds[index] - low) as f64 / (1u64 << PARETO_SCALE_BITS) as f64
    }

    /// The probability of the top `ranks` ranks together.
    pub fn top_share(&self, ranks: u32) -> f64 {
        let ranks = ranks.clamp(1, self.count()) as usize;
        self.thresholds[ranks - 1] as f64 / (1u64 << PARETO_SCALE_BITS) as f64
    }

    /// A rank in 1..=N. Draws nothing when N = 1.
    pub fn sample(&self, rng: &mut Rng) -> u32 {
        if self.thresholds.len() == 1 {
            return 1;
        }
        let draw = rng.next_u64() >> (64 - PARETO_SCALE_BITS);
        self.thresholds
            .partition_point(|&threshold| threshold <= draw) as u32
            + 1
    }
}

/// Picks the instrument of each order: the Pareto ranks and their own random stream (seeded from the flow's seed).
#[derive(Debug, Clone)]
pub struct InstrumentPicker {
    ranks: ParetoRanks,
    rng: Rng,
}

impl InstrumentPicker {
    pub fn new(instruments: Instruments, seed: u64) -> InstrumentPicker {
        InstrumentPicker {
            ranks: ParetoRanks::new(instruments.count, instruments.pareto_alpha),
            rng: Rng::new(seed ^ INSTRUMENT_STREAM),
        }
    }

    /// Instrument ids are the ranks: instrument 1 is the most traded.
    pub fn pick(&mut self) -> InstrumentId {
        self.ranks.sample(&mut self.rng)
    }
}
pub const BASE_ASSET: AssetId = 1;
pub const QUOTE_ASSET: AssetId = 2;
/// The engine's default fee account.
pub const FEE_ACCOUNT: AccountId = 0;
/// Every trading account is on this tier; fees make settlement do its full work.
pub const FEE_TIER: u32 = 1;
pub const MAKER_FEE_PPM: u32 = 100;
pub const TAKER_FEE_PPM: u32 = 200;
/// Deposited in each asset of each trading account: far above what any flow here can reserve or lose.
pub const DEPOSIT_UNITS: u64 = 1_000_000_000_000_000;
/// Commands are stamped `seq * TIME_STEP_NS` nanoseconds: a steady 10M commands per second of command time.
pub const TIME_STEP_NS: u64 = 100;

/// The workloads, as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum WorkloadKind {
    Liquibook,
    XcSingle,
    MmQuotes,
    MassCancel,
}

impl WorkloadKind {
    pub const ALL: [WorkloadKind; 4] = [
        WorkloadKind::Liquibook,
        WorkloadKind::XcSingle,
        WorkloadKind::MmQuotes,
        WorkloadKind::MassCancel,
    ];

    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Liquibook => "liquibook",
            WorkloadKind::XcSingle => "xc-single",
            WorkloadKind::MmQuotes => "mm-quotes",
            WorkloadKind::MassCancel => "mass-cancel",
        }
    }

    /// The exact definition, printed by `crossline-bench workloads`.
    pub fn definition(self) -> &'static str {
        match self {
            WorkloadKind::Liquibook => liquibook::DEFINITION,
            WorkloadKind::XcSingle => xc_single::DEFINITION,
            WorkloadKind::MmQuotes => mm_quotes::DEFINITION,
            WorkloadKind::MassCancel => mass_cancel::DEFINITION,
        }
    }

    /// Generates the flow. `ops` is the number of measured commands, except for mass-cancel where it is the
    /// number of orders built and cancelled.
    pub fn generate(self, ops: u64, seed: u64) -> Result<Flow, GenerateError> {
        self.generate_with(ops, seed, Instruments::single())
    }

    /// Generates the flow over `instruments` (one instrument gives exactly `generate`'s flow).
    pub fn generate_with(
        self,
        ops: u64,
        seed: u64,
        instruments: Instruments,
    ) -> Result<Flow, GenerateError> {
        instruments.check(self.name())?;
        match self {
            WorkloadKind::Liquibook => liquibook::generate_with(ops, seed, instruments),
            WorkloadKind::XcSingle => {
                if !instruments.is_single() {
                    return Err(GenerateError::Instruments {
                        workload: self.name(),
                        why: format!(
                            "--instruments {}: xc-single is exchange-core's single-symbol mix (its generator \
                             tracks one book); use liquibook, mm-quotes or mass-cancel for multi-instrument runs",
                            instruments.count
                        ),
                    });
                }
                xc_single::generate(ops, seed)
            }
            WorkloadKind::MmQuotes => mm_quotes::generate_with(ops, seed, instruments),
            WorkloadKind::MassCancel => mass_cancel::generate_with(ops, seed, instruments),
        }
    }
}

/// Why a flow could not be generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenerateError {
    #[error("--ops {ops} is out of range for {workload}: {why}")]
    OpsOutOfRange {
        workload: &'static str,
        ops: u64,
        why: &'static str,
    },
    #[error("{workload}: {why}")]
    Instruments { workload: &'static str, why: String },
    #[error("the engine refused the configuration {workload} needs: {message}")]
    Config {
        workload: &'static str,
        message: String,
    },
    #[error("{workload}: the generator's own engine rejected set-up command seq {seq}: {reason}")]
    SetupRejected {
        workload: &'static str,
        seq: u64,
        reason: String,
    },
}

/// One measured stretch: `prepare` is applied untimed right before `measured` is timed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Round {
    pub prepare: Vec<Command>,
    pub measured: Vec<Command>,
}

/// Everything a run applies, in order: `setup`, then for each round its `prepare` and its `measured` commands.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    pub kind: WorkloadKind,
    pub seed: u64,
    pub config: EngineConfig,
    pub setup: Vec<Command>,
    pub rounds: Vec<Round>,
    /// The default of `--sample-every` for this workload.
    pub sample_every_default: u32,
    /// What one latency sample is.
    pub sample_unit: &'static str,
    /// The state hash the generator's own engine reached after applying the whole flow, where the generator ran
    /// one (xc-single needs to see fills to know which orders are still live). A run must reach the same.
    pub expected_state_hash: Option<u64>,
    /// Commands the generator's own engine rejected (should be zero).
    pub generation_rejects: u64,
    /// Orders resting when the generator's own engine finished, where it ran one.
    pub generation_resting_orders: Option<u64>,
    /// Facts about the flow for the report.
    pub notes: Vec<String>,
}

impl Flow {
    pub fn measured_ops(&self) -> u64 {
        self.rounds
            .iter()
            .map(|round| round.measured.len() as u64)
            .sum()
    }

    pub fn measured_commands(&self) -> impl Iterator<Item = &Command> {
        self.rounds.iter().flat_map(|round| round.measured.iter())
    }

    pub fn all_commands(&self) -> impl Iterator<Item = &Command> {
        self.setup.iter().chain(
            self.rounds
                .iter()
                .flat_map(|round| round.prepare.iter().chain(&round.measured)),
        )
    }

    pub fn measured_mix(&self) -> Mix {
        let mut mix = Mix::default();
        for command in self.measured_commands() {
            mix.add(command);
        }
        mix
    }
}

/// Commands by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mix {
    pub gtc: u64,
    pub ioc: u64,
    /// Day and GTT limit orders, market orders.
    pub other_orders: u64,
    pub cancel: u64,
    pub replace: u64,
    pub modify: u64,
    pub quote: u64,
    pub mass_cancel: u64,
    pub admin: u64,
}

impl Mix {
    pub fn add(&mut self, command: &Command) {
        match &command.body {
            CommandBody::NewOrder(order) => match (order.order_type, order.time_in_force) {
                (OrderType::Limit, TimeInForce::Gtc) => self.gtc += 1,
                (OrderType::Limit, TimeInForce::Ioc) => self.ioc += 1,
                _ => self.other_orders += 1,
            },
            CommandBody::Cancel { .. } => self.cancel += 1,
            CommandBody::Replace(_) => self.replace += 1,
            CommandBody::Modify { .. } => self.modify += 1,
            CommandBody::Quote(_) => self.quote += 1,
            CommandBody::MassCancel(_) => self.mass_cancel += 1,
            _ => self.admin += 1,
        }
    }

    pub fn total(&self) -> u64 {
        self.gtc
            + self.ioc
            + self.other_orders
            + self.cancel
            + self.replace
            + self.modify
            + self.quote
            + self.mass_cancel
            + self.admin
    }

    /// The non-zero kinds, named as the report shows them.
    pub fn named(&self) -> Vec<(&'static str, u64)> {
        [
            ("gtc", self.gtc),
            ("ioc", self.ioc),
            ("other_orders", self.other_orders),
            ("cancel", self.cancel),
            ("replace", self.replace),
            ("modify", self.modify),
            ("quote", self.quote),
            ("mass_cancel", self.mass_cancel),
            ("admin", self.admin),
        ]
        .into_iter()
        .filter(|(_, count)| *count > 0)
        .collect()
    }
}

/// Stamps commands with consecutive sequence numbers from 1 and a steady clock.
#[derive(Debug, Clone)]
pub struct Stamper {
    next_seq: u64,
}

impl Default for Stamper {
    fn default() -> Self {
        Stamper::new()
    }
}

impl Stamper {
    pub fn new() -> Stamper {
        Stamper { next_seq: 1 }
    }

    pub fn stamp(&mut self, body: CommandBody) -> Command {
        let seq = self.next_seq;
        self.next_seq += 1;
        Command {
            seq,
            timestamp_ns: seq * TIME_STEP_NS,
            body,
        }
    }
}

/// The next user reference of each session: strictly increasing from 1, so never a duplicate.
#[derive(Debug, Clone)]
pub struct UserRefs {
    next: Vec<UserRef>,
}

impl UserRefs {
    pub fn new(max_session: SessionId) -> UserRefs {
        UserRefs {
            next: vec![1; max_session as usize + 1],
        }
    }

    pub fn next(&mut self, session: SessionId) -> UserRef {
        let slot = &mut self.next[session as usize];
        let user_ref = *slot;
        *slot = slot
            .checked_add(1)
            .expect("a session ran out of 2^32 user references");
        user_ref
    }
}

/// The instrument of a workload: tick 1 price unit, lot 1 base unit, 1 quote unit per price unit per lot, no
/// circuit breaker (a benchmark measures matching, not halts).
pub fn instrument_spec(name: &str, reference_price: Price, band_bps: u32) -> InstrumentSpec {
    instrument_spec_for(INSTRUMENT, name, reference_price, band_bps)
}

/// The same spec for any instrument id.
pub fn instrument_spec_for(
    instrument: InstrumentId,
    name: &str,
    reference_price: Price,
    band_bps: u32,
) -> InstrumentSpec {
    InstrumentSpec {
        instrument,
        symbol: symbol(name),
        tick: 1,
        lot_size: 1,
        quote_per_price_lot: 1,
        base_asset: BASE_ASSET,
        quote_asset: QUOTE_ASSET,
        reference_price,
        band_bps,
        breaker_move_bps: 0,
        breaker_window_ns: 0,
        breaker_halt_ns: 0,
    }
}

/// Limits so generous that risk checks run but never refuse.
pub fn trader_spec(account: AccountId) -> AccountSpec {
    AccountSpec {
        account,
        fee_tier: FEE_TIER,
        stp_group: 0,
        stp_mode: StpMode::CancelResting,
        max_order_qty: 1_000_000_000,
        // Large, yet far from the top of their types, so no limit arithmetic can overflow.
        max_order_notional: 1 << 62,
        max_open_orders: 1 << 30,
        order_entry_enabled: true,
    }
}

/// The set-up every workload starts with: the instrument, the fee tier, the fee account, then each trading
/// account `1..=accounts` with deposits in both assets.
pub fn market_setup(
    stamper: &mut Stamper,
    name: &str,
    reference_price: Price,
    band_bps: u32,
    accounts: u32,
) -> Vec<Command> {
    market_setup_with(stamper, name, reference_price, band_bps, accounts, 1)
}

/// `market_setup` over `instruments` instruments: one instrument is the workload's own (`name`, id 1); more are
/// ids 1..=N named I0001, I0002, ... with the same spec.
pub fn market_setup_with(
    stamper: &mut Stamper,
    name: &str,
    reference_price: Price,
    band_bps: u32,
    accounts: u32,
    instruments: u32,
) -> Vec<Command> {
    let mut setup = Vec::with_capacity(2 + instruments as usize + 3 * accounts as usize);
    if instruments == 1 {
        setup.push(stamper.stamp(CommandBody::AddInstrument(instrument_spec(
            name,
            reference_price,
            band_bps,
        ))));
    } else {
        for instrument in 1..=instruments {
            setup.push(
                stamper.stamp(CommandBody::AddInstrument(instrument_spec_for(
                    instrument,
                    &format!("I{instrument:04}"),
                    reference_price,
                    band_bps,
                ))),
            );
        }
    }
    setup.push(stamper.stamp(CommandBody::SetFeeTier {
        tier: FEE_TIER,
        maker_fee_ppm: MAKER_FEE_PPM,
        taker_fee_ppm: TAKER_FEE_PPM,
    }));
    setup.push(stamper.stamp(CommandBody::SetAccount(AccountSpec {
        fee_tier: 0,
        ..trader_spec(FEE_ACCOUNT)
    })));
    for account in 1..=accounts {
        setup.push(stamper.stamp(CommandBody::SetAccount(trader_spec(account))));
        for asset in [BASE_ASSET, QUOTE_ASSET] {
            setup.push(stamper.stamp(CommandBody::Deposit {
                account,
                asset,
                amount: DEPOSIT_UNITS,
            }));
        }
    }
    setup
}

/// A plain limit order; the session is the account (one session per account in every workload here).
pub fn limit_order(
    account: AccountId,
    user_ref: UserRef,
    side: Side,
    price: Price,
    qty: Qty,
    time_in_force: TimeInForce,
) -> CommandBody {
    limit_order_on(
        INSTRUMENT,
        account,
        user_ref,
        side,
        price,
        qty,
        time_in_force,
    )
}

/// `limit_order` on any instrument.
pub fn limit_order_on(
    instrument: InstrumentId,
    account: AccountId,
    user_ref: UserRef,
    side: Side,
    price: Price,
    qty: Qty,
    time_in_force: TimeInForce,
) -> CommandBody {
    CommandBody::NewOrder(NewOrder {
        session: account,
        account,
        user_ref,
        instrument,
        side,
        order_type: OrderType::Limit,
        time_in_force,
        price,
        qty,
        min_qty: 0,
        display_qty: 0,
        post_only: false,
        expire_time_ns: 0,
        group: 0,
    })
}

/// Engine capacities for a flow: room for every order that could rest at once (bounded by the orders the flow
/// sends), levels and accounts with margin.
pub fn engine_config(
    workload: &'static str,
    orders_max: u64,
    accounts: u32,
    quotes: u32,
) -> Result<EngineConfig, GenerateError> {
    engine_config_with(workload, orders_max, accounts, quotes, 1)
}

/// `engine_config` with room for instruments 1..=`instruments` (ids index the engine's instrument table).
pub fn engine_config_with(
    workload: &'static str,
    orders_max: u64,
    accounts: u32,
    quotes: u32,
    instruments: u32,
) -> Result<EngineConfig, GenerateError> {
    const ORDERS_LIMIT: u64 = 1 << 30;
    let max_orders = (orders_max + 2 * u64::from(quotes) + 1024)
        .next_power_of_two()
        .max(4096);
    if max_orders > ORDERS_LIMIT {
        return Err(GenerateError::OpsOutOfRange {
            workload,
            ops: orders_max,
            why: "the engine's order pool holds at most 2^30 orders",
        });
    }
    let config = EngineConfig {
        max_orders: max_orders as u32,
        max_levels_per_side: 16_384,
        // Ids 0..max_instruments: 4 for one instrument, as always.
        max_instruments: (instruments + 1).next_power_of_two().max(4),
        max_accounts: (accounts + 1).next_power_of_two().max(64),
        max_assets: 4,
        max_fee_tiers: 4,
        max_quotes: quotes.next_power_of_two().max(16),
        fee_account: FEE_ACCOUNT,
    };
    config.check().map_err(|error| GenerateError::Config {
        workload,
        message: error.0,
    })?;
    Ok(config)
}
