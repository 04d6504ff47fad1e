//! Accounts, their balances and fee tiers.

use crate::command::AccountSpec;
use crate::order::{Handle, NIL};
use crate::types::StpMode;

/// One asset's balance in an account, in the asset's smallest unit.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Balance {
    pub available: u64,
    /// Held for open orders.
    pub reserved: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    pub exists: bool,
    pub spec: AccountSpec,
    /// Orders resting on any book.
    pub open_orders: u32,
    /// First and last of the account's resting orders, linked through the orders' account links.
    pub orders_head: Handle,
    pub orders_tail: Handle,
}

impl Account {
    pub const NONE: Account = Account {
        exists: false,
        spec: AccountSpec {
            account: 0,
            fee_tier: 0,
            stp_group: 0,
            stp_mode: StpMode::CancelResting,
            max_order_qty: 0,
            max_order_notional: 0,
            max_open_orders: 0,
            order_entry_enabled: false,
        },
        open_orders: 0,
        orders_head: NIL,
        orders_tail: NIL,
    };
}

/// Fee rates of a tier, in millionths of the notional.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FeeTier {
    pub exists: bool,
    pub maker_fee_ppm: u32,
    pub taker_fee_ppm: u32,
}
