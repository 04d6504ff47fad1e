//! The commands that set up a fresh appliance from its configuration: fee tiers, accounts, instruments and
//! opening deposits. They are journaled like any other command, so a restart replays them rather than reading
//! the configuration again; later changes go through the admin endpoints as sequenced commands.

use super::{Config, InstrumentConfig, StpChoice};
use crossline_engine::{symbol, AccountSpec, CommandBody, InstrumentSpec, StpMode};

const NS_PER_MS: u64 = 1_000_000;

/// The engine's specification of a configured instrument.
pub fn instrument_spec(instrument: &InstrumentConfig) -> InstrumentSpec {
    InstrumentSpec {
        instrument: instrument.id,
        symbol: symbol(&instrument.symbol),
        tick: instrument.tick,
        lot_size: instrument.lot_size,
        quote_per_price_lot: instrument.quote_per_price_lot,
        base_asset: instrument.base_asset,
        quote_asset: instrument.quote_asset,
        reference_price: instrument.reference_price,
        band_bps: instrument.band_bps,
        breaker_move_bps: instrument.breaker_move_bps,
        breaker_window_ns: instrument.breaker_window_ms.saturating_mul(NS_PER_MS),
        breaker_halt_ns: instrument.breaker_halt_ms.saturating_mul(NS_PER_MS),
    }
}

/// The opening commands, in the order the engine needs them: fee tiers before the accounts that use them.
pub fn genesis_commands(config: &Config) -> Vec<CommandBody> {
    let mut commands = Vec::new();
    for tier in &config.fee_tiers {
        commands.push(CommandBody::SetFeeTier {
            tier: tier.tier,
            maker_fee_ppm: tier.maker_fee_ppm,
            taker_fee_ppm: tier.taker_fee_ppm,
        });
    }
    for account in &config.accounts {
        commands.push(CommandBody::SetAccount(AccountSpec {
            account: account.id,
            fee_tier: account.fee_tier,
            stp_group: account.stp_group,
            stp_mode: match account.stp_mode {
                StpChoice::CancelResting => StpMode::CancelResting,
                StpChoice::CancelIncoming => StpMode::CancelIncoming,
                StpChoice::CancelBoth => StpMode::CancelBoth,
            },
            max_order_qty: account.max_order_qty,
            max_order_notional: account.max_order_notional,
            max_open_orders: account.max_open_orders,
            order_entry_enabled: true,
        }));
    }
    for instrument in &config.instruments {
        commands.push(CommandBody::AddInstrument(instrument_spec(instrument)));
    }
    for account in &config.accounts {
        for deposit in &account.deposits {
            commands.push(CommandBody::Deposit {
                account: account.id,
                asset: deposit.asset,
                amount: deposit.amount,
            });
        }
    }
    commands
}
