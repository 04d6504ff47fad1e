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

use crossline_engine::{
    symbol, AccountId, AccountSpec, AssetId, Command, CommandBody, EngineConfig, InstrumentId,
    InstrumentSpec, NewOrder, OrderType, Price, Qty, SessionId, Side, StpMode, TimeInForce,
    UserRef,
};

/// The instrument every single-instrument workload trades.
pub const INSTRUMENT: InstrumentId = 1;
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
        match self {
            WorkloadKind::Liquibook => liquibook::generate(ops, seed),
            WorkloadKind::XcSingle => xc_single::generate(ops, seed),
            WorkloadKind::MmQuotes => mm_quotes::generate(ops, seed),
            WorkloadKind::MassCancel => mass_cancel::generate(ops, seed),
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
    InstrumentSpec {
        instrument: INSTRUMENT,
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
    let mut setup = Vec::with_capacity(3 + 3 * accounts as usize);
    setup.push(stamper.stamp(CommandBody::AddInstrument(instrument_spec(
        name,
        reference_price,
        band_bps,
    ))));
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
    CommandBody::NewOrder(NewOrder {
        session: account,
        account,
        user_ref,
        instrument: INSTRUMENT,
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
        max_instruments: 4,
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
