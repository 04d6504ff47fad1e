//! The engine: state and the dispatch of each command to the rule that handles it.

mod amend;
mod funds;
mod matching;
mod quote;
mod settings;
mod state;
pub use state::RestingOrder;
mod timers;

use crate::account::{Account, Balance, FeeTier};
use crate::book::{FastBook, OrderBook};
use crate::command::{Command, CommandBody};
use crate::config::{ConfigError, EngineConfig};
use crate::event::{Event, EventSink, RejectReason};
use crate::expiry::ExpiryHeap;
use crate::index::FixedIndex;
use crate::instrument::Instrument;
use crate::order::{Handle, OrderPool, NIL};
use crate::types::*;

/// The two resting sides of one session's quote on one instrument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QuoteEntry {
    pub sides: [Handle; 2],
}

/// The matching engine. `B` is the book implementation: `FastBook` in production, `NaiveBook` as the reference.
#[derive(Debug, Clone)]
pub struct Engine<B: OrderBook = FastBook> {
    pub(crate) config: EngineConfig,
    pub(crate) instruments: Vec<Option<Instrument>>,
    pub(crate) books: Vec<B>,
    pub(crate) orders: OrderPool,
    /// (session, user_ref) of every resting order that is not a quote side.
    pub(crate) by_user_ref: FixedIndex,
    /// (session, instrument) to a slot of `quotes`.
    pub(crate) quote_index: FixedIndex,
    pub(crate) quotes: Vec<QuoteEntry>,
    pub(crate) free_quotes: Vec<u32>,
    pub(crate) accounts: Vec<Account>,
    /// `max_assets` entries per account.
    pub(crate) balances: Vec<Balance>,
    /// Sum of every account's balance per asset; changes only by deposit and withdrawal.
    pub(crate) asset_totals: Vec<u64>,
    pub(crate) fee_tiers: Vec<FeeTier>,
    pub(crate) expiry: ExpiryHeap,
    pub(crate) next_order_id: OrderId,
    pub(crate) next_match_number: u64,
    pub(crate) last_seq: u64,
    pub(crate) now_ns: TimestampNs,
    /// The earliest time at which an order expires or a halt ends.
    pub(crate) next_timer_ns: TimestampNs,
    /// Handles collected by mass cancels; its capacity is the pool's.
    pub(crate) scratch: Vec<Handle>,
}

impl<B: OrderBook> Engine<B> {
    /// Allocates every pool. The only fee tier is 0, with no fees; accounts and instruments arrive by command.
    pub fn new(config: EngineConfig) -> Result<Self, ConfigError> {
        config.check()?;
        let mut fee_tiers = vec![FeeTier::default(); config.max_fee_tiers as usize];
        fee_tiers[0].exists = true;
        Ok(Engine {
            instruments: vec![None; config.max_instruments as usize],
            books: (0..config.max_instruments)
                .map(|_| B::with_capacity(config.max_levels_per_side))
                .collect(),
            orders: OrderPool::with_capacity(config.max_orders),
            by_user_ref: FixedIndex::with_capacity(config.max_orders as usize),
            quote_index: FixedIndex::with_capacity(config.max_quotes.max(1) as usize),
            quotes: vec![QuoteEntry { sides: [NIL, NIL] }; config.max_quotes as usize],
            free_quotes: (0..config.max_quotes).rev().collect(),
            accounts: vec![Account::NONE; config.max_accounts as usize],
            balances: vec![
                Balance::default();
                config.max_accounts as usize * config.max_assets as usize
            ],
            asset_totals: vec![0; config.max_assets as usize],
            fee_tiers,
            expiry: ExpiryHeap::with_capacity(config.max_orders),
            next_order_id: 1,
            next_match_number: 1,
            last_seq: 0,
            now_ns: 0,
            next_timer_ns: u64::MAX,
            scratch: Vec::with_capacity(config.max_orders as usize),
            config,
        })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Sequence number of the last command applied.
    /// Command time at which the next timer (an expiry, the end of a halt) is due; `u64::MAX` when none is.
    pub fn next_timer_ns(&self) -> TimestampNs {
        self.next_timer_ns
    }

    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Applies one command, writing what happened to `sink`. Never panics on any command: whatever is wrong with
    /// it becomes a `Rejected` event with the reason.
    pub fn apply(&mut self, command: &Command, sink: &mut impl EventSink) {
        if let CommandBody::StateCheck { state_hash } = command.body {
            // Compared before the command's time moves the clock or runs timers: the leader hashed this state.
            sink.push(Event::StateChecked {
                expected: state_hash,
                actual: self.state_hash(),
            });
        }
        self.last_seq = command.seq;
        // Time never runs backwards inside the engine, even if a command's stamp does.
        if command.timestamp_ns > self.now_ns {
            self.now_ns = command.timestamp_ns;
        }
        if self.now_ns >= self.next_timer_ns {
            self.run_timers(sink);
        }
        match &command.body {
            CommandBody::NewOrder(order) => self.new_order(order, sink),
            CommandBody::Cancel {
                session,
                account,
                user_ref,
            } => self.cancel(*session, *account, *user_ref, sink),
            CommandBody::Replace(replace) => self.replace(replace, sink),
            CommandBody::Modify {
                session,
                account,
                user_ref,
                qty,
            } => self.modify(*session, *account, *user_ref, *qty, false, sink),
            CommandBody::CancelTo {
                session,
                account,
                user_ref,
                qty,
            } => self.modify(*session, *account, *user_ref, *qty, true, sink),
            CommandBody::MassCancel(mass_cancel) => self.mass_cancel(mass_cancel, sink),
            CommandBody::Quote(quote) => self.quote(quote, sink),
            CommandBody::AddInstrument(spec) => self.add_instrument(spec, sink),
            CommandBody::SetInstrumentStatus { instrument, status } => {
                self.set_instrument_status(*instrument, *status, sink)
            }
            CommandBody::SetReferencePrice { instrument, price } => {
                self.set_reference_price(*instrument, *price, sink)
            }
            CommandBody::SetFeeTier {
                tier,
                maker_fee_ppm,
                taker_fee_ppm,
            } => self.set_fee_tier(*tier, *maker_fee_ppm, *taker_fee_ppm, sink),
            CommandBody::SetAccount(spec) => self.set_account(spec, sink),
            CommandBody::Deposit {
                account,
                asset,
                amount,
            } => self.deposit(*account, *asset, *amount, sink),
            CommandBody::Withdraw {
                account,
                asset,
                amount,
            } => self.withdraw(*account, *asset, *amount, sink),
            CommandBody::EndOfDay => self.end_of_day(sink),
            CommandBody::SetOrderEntry {
                session,
                account,
                user_ref,
                firm,
                enabled,
            } => self.set_order_entry(*session, *account, *user_ref, *firm, *enabled, sink),
            CommandBody::SessionReply(reply) => sink.push(Event::SessionReply(*reply)),
            // The timers due ran above; the state check was answered before them.
            CommandBody::Tick | CommandBody::StateCheck { .. } => {}
        }
    }

    #[inline]
    pub(crate) fn reject(
        sink: &mut impl EventSink,
        session: SessionId,
        user_ref: UserRef,
        reason: RejectReason,
    ) {
        sink.push(Event::Rejected {
            session,
            user_ref,
            reason,
        });
    }

    #[inline]
    pub(crate) fn instrument(&self, instrument: InstrumentId) -> Option<&Instrument> {
        self.instruments.get(instrument as usize)?.as_ref()
    }

    #[inline]
    pub(crate) fn account(&self, account: AccountId) -> Option<&Account> {
        self.accounts.get(account as usize).filter(|a| a.exists)
    }

    #[inline]
    pub(crate) fn balance_slot(&self, account: AccountId, asset: AssetId) -> usize {
        account as usize * self.config.max_assets as usize + asset as usize
    }

    /// The balance of an asset in an account (zero for unknown ones).
    pub fn balance(&self, account: AccountId, asset: AssetId) -> Balance {
        if account >= self.config.max_accounts || asset >= self.config.max_assets {
            return Balance::default();
        }
        self.balances[self.balance_slot(account, asset)]
    }
}
