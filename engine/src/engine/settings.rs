//! Operator commands: instruments, fee tiers, accounts, deposits and withdrawals.

use super::Engine;
use crate::book::OrderBook;
use crate::command::{AccountSpec, InstrumentSpec};
use crate::event::{Event, EventSink, RejectReason, TradingActionReason};
use crate::instrument::{check_spec, Instrument};
use crate::types::*;

/// Deposits stop where an asset's total over all accounts would pass this, so that no balance or settlement sum can
/// overflow.
const ASSET_TOTAL_MAX: u64 = 1 << 62;

impl<B: OrderBook> Engine<B> {
    pub(crate) fn add_instrument(&mut self, spec: &InstrumentSpec, sink: &mut impl EventSink) {
        let Some(slot) = self.instruments.get(spec.instrument as usize) else {
            return Self::reject(sink, 0, 0, RejectReason::UnknownInstrument);
        };
        if slot.is_some() {
            return Self::reject(sink, 0, 0, RejectReason::InstrumentExists);
        }
        if !check_spec(spec, self.config.max_assets) {
            return Self::reject(sink, 0, 0, RejectReason::InvalidInstrumentSpec);
        }
        self.instruments[spec.instrument as usize] = Some(Instrument::new(*spec));
        sink.push(Event::InstrumentAdded {
            instrument: spec.instrument,
            symbol: spec.symbol,
        });
    }

    pub(crate) fn set_instrument_status(
        &mut self,
        instrument: InstrumentId,
        status: InstrumentStatus,
        sink: &mut impl EventSink,
    ) {
        let Some(state) = self
            .instruments
            .get_mut(instrument as usize)
            .and_then(|i| i.as_mut())
        else {
            return Self::reject(sink, 0, 0, RejectReason::UnknownInstrument);
        };
        state.status = status;
        // An operator's halt lasts until the operator ends it.
        state.halt_until_ns = if status == InstrumentStatus::Halted {
            u64::MAX
        } else {
            0
        };
        if status == InstrumentStatus::Trading {
            state.breaker.clear();
        }
        sink.push(Event::TradingAction {
            instrument,
            status,
            reason: TradingActionReason::Operator,
        });
    }

    pub(crate) fn set_reference_price(
        &mut self,
        instrument: InstrumentId,
        price: Price,
        sink: &mut impl EventSink,
    ) {
        let Some(state) = self
            .instruments
            .get_mut(instrument as usize)
            .and_then(|i| i.as_mut())
        else {
            return Self::reject(sink, 0, 0, RejectReason::UnknownInstrument);
        };
        if price <= 0 || price % state.spec.tick != 0 || price >= (1 << 52) {
            return Self::reject(sink, 0, 0, RejectReason::InvalidPrice);
        }
        state.recentre(price);
        sink.push(Event::SettingsApplied);
    }

    pub(crate) fn set_fee_tier(
        &mut self,
        tier: u32,
        maker_fee_ppm: u32,
        taker_fee_ppm: u32,
        sink: &mut impl EventSink,
    ) {
        let Some(slot) = self.fee_tiers.get_mut(tier as usize) else {
            return Self::reject(sink, 0, 0, RejectReason::UnknownFeeTier);
        };
        // A fee above 100% of the notional could exceed a seller's proceeds.
        if maker_fee_ppm > 1_000_000 || taker_fee_ppm > 1_000_000 {
            return Self::reject(sink, 0, 0, RejectReason::InvalidFeeRate);
        }
        slot.exists = true;
        slot.maker_fee_ppm = maker_fee_ppm;
        slot.taker_fee_ppm = taker_fee_ppm;
        sink.push(Event::SettingsApplied);
    }

    pub(crate) fn set_account(&mut self, spec: &AccountSpec, sink: &mut impl EventSink) {
        if spec.account >= self.config.max_accounts {
            return Self::reject(sink, 0, 0, RejectReason::UnknownAccount);
        }
        if !self
            .fee_tiers
            .get(spec.fee_tier as usize)
            .is_some_and(|t| t.exists)
        {
            return Self::reject(sink, 0, 0, RejectReason::UnknownFeeTier);
        }
        let account = &mut self.accounts[spec.account as usize];
        account.exists = true;
        account.spec = *spec;
        sink.push(Event::SettingsApplied);
    }

    pub(crate) fn set_order_entry(
        &mut self,
        session: SessionId,
        account: AccountId,
        user_ref: UserRef,
        firm: [u8; 4],
        enabled: bool,
        sink: &mut impl EventSink,
    ) {
        let Some(slot) = self.accounts.get_mut(account as usize).filter(|a| a.exists) else {
            return Self::reject(sink, session, user_ref, RejectReason::UnknownAccount);
        };
        slot.spec.order_entry_enabled = enabled;
        sink.push(Event::OrderEntrySet {
            session,
            account,
            user_ref,
            firm,
            enabled,
        });
    }

    fn checked_account_asset(
        &self,
        account: AccountId,
        asset: AssetId,
    ) -> Result<usize, RejectReason> {
        if self.account(account).is_none() {
            return Err(RejectReason::UnknownAccount);
        }
        if asset >= self.config.max_assets {
            return Err(RejectReason::UnknownAsset);
        }
        Ok(self.balance_slot(account, asset))
    }

    pub(crate) fn deposit(
        &mut self,
        account: AccountId,
        asset: AssetId,
        amount: u64,
        sink: &mut impl EventSink,
    ) {
        let slot = match self.checked_account_asset(account, asset) {
            Ok(slot) => slot,
            Err(reason) => return Self::reject(sink, 0, 0, reason),
        };
        if amount == 0 {
            return Self::reject(sink, 0, 0, RejectReason::InvalidAmount);
        }
        let total = &mut self.asset_totals[asset as usize];
        if amount > ASSET_TOTAL_MAX - *total {
            return Self::reject(sink, 0, 0, RejectReason::BalanceOverflow);
        }
        *total += amount;
        let balance = &mut self.balances[slot];
        balance.available += amount;
        sink.push(Event::BalanceChanged {
            account,
            asset,
            available: balance.available,
            reserved: balance.reserved,
        });
    }

    pub(crate) fn withdraw(
        &mut self,
        account: AccountId,
        asset: AssetId,
        amount: u64,
        sink: &mut impl EventSink,
    ) {
        let slot = match self.checked_account_asset(account, asset) {
            Ok(slot) => slot,
            Err(reason) => return Self::reject(sink, 0, 0, reason),
        };
        if amount == 0 {
            return Self::reject(sink, 0, 0, RejectReason::InvalidAmount);
        }
        let balance = &mut self.balances[slot];
        if balance.available < amount {
            return Self::reject(sink, 0, 0, RejectReason::InsufficientFunds);
        }
        balance.available -= amount;
        self.asset_totals[asset as usize] -= amount;
        sink.push(Event::BalanceChanged {
            account,
            asset,
            available: balance.available,
            reserved: balance.reserved,
        });
    }
}
