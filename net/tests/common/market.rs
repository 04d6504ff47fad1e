//! The engine reference data the end-to-end tests trade in: one instrument and plain trading accounts.

use crossline_engine::{symbol, AccountId, AccountSpec, InstrumentId, InstrumentSpec, StpMode};

/// ACME: tick 1, lot 1, base asset 1, quote asset 2, a 10% band around 10,000, no circuit breaker.
pub fn acme_spec(instrument: InstrumentId) -> InstrumentSpec {
    InstrumentSpec {
        instrument,
        symbol: symbol("ACME"),
        tick: 1,
        lot_size: 1,
        quote_per_price_lot: 1,
        base_asset: 1,
        quote_asset: 2,
        reference_price: 10_000,
        band_bps: 1_000,
        breaker_move_bps: 0,
        breaker_window_ns: 0,
        breaker_halt_ns: 0,
    }
}

/// An account on fee tier 1 with generous limits.
pub fn trading_account(account: AccountId, max_open_orders: u32) -> AccountSpec {
    AccountSpec {
        account,
        fee_tier: 1,
        stp_group: 0,
        stp_mode: StpMode::CancelResting,
        max_order_qty: 1_000_000,
        max_order_notional: u64::MAX,
        max_open_orders,
        order_entry_enabled: true,
    }
}

/// The commands that set up a market to trade ACME in: fee tier 1 without fees, the instrument, accounts 1 and 2
/// funded in both assets.
pub fn setup_commands(instrument: InstrumentId) -> Vec<crossline_engine::CommandBody> {
    use crossline_engine::CommandBody;
    let mut commands = vec![
        CommandBody::SetFeeTier {
            tier: 1,
            maker_fee_ppm: 0,
            taker_fee_ppm: 0,
        },
        CommandBody::AddInstrument(acme_spec(instrument)),
    ];
    for account in 1..=2 {
        commands.push(CommandBody::SetAccount(trading_account(account, 10_000)));
        for asset in [1, 2] {
            commands.push(CommandBody::Deposit {
                account,
                asset,
                amount: 1_000_000_000_000,
            });
        }
    }
    commands
}
