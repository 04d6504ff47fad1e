//! Inbound OUCH 5.0 messages: client to Crossline, carried in Unsequenced Data packets.

use super::extensions::Quote;
use super::types::{Capacity, CrossType, Display, IsoEligibility, Side, TimeInForce};
use super::{message_enum, ouch_message};
use crossline_engine::Symbol;

ouch_message! {
    /// `O`: a new order. 47 bytes plus options.
    pub struct EnterOrder = b'O', appendage required {
        /// Day-unique and strictly increasing per session.
        pub user_ref_num: u32,
        pub side: Side,
        /// Shares (lots); more than zero.
        pub quantity: u32,
        pub symbol: Symbol,
        /// 4 implied decimals; `MARKET_PRICE` marks a market order.
        pub price: u64,
        pub time_in_force: TimeInForce,
        pub display: Display,
        pub capacity: Capacity,
        pub intermarket_sweep: IsoEligibility,
        pub cross_type: CrossType,
        /// The client's own order id; not checked for uniqueness.
        pub cl_ord_id: [u8; 14],
    }
}

ouch_message! {
    /// `U`: replace a live order with a new one (new UserRefNum, loses priority). 40 bytes plus options.
    pub struct ReplaceOrder = b'U', appendage required {
        /// The order being replaced: its Enter Order's or last Replace's UserRefNum.
        pub orig_user_ref_num: u32,
        /// The replacement's UserRefNum, unique and increasing like Enter Order's.
        pub user_ref_num: u32,
        /// Total shares liable for the whole chain, executions included.
        pub quantity: u32,
        pub price: u64,
        pub time_in_force: TimeInForce,
        pub display: Display,
        pub intermarket_sweep: IsoEligibility,
        pub cl_ord_id: [u8; 14],
    }
}

ouch_message! {
    /// `X`: reduce an order to `quantity` shares still executable; zero cancels it. 9 bytes.
    pub struct CancelOrder = b'X', appendage optional {
        pub user_ref_num: u32,
        /// The new intended order size.
        pub quantity: u32,
    }
}

ouch_message! {
    /// `M`: change the side among sell types or reduce the size without losing priority. 10 bytes.
    pub struct ModifyOrder = b'M', appendage optional {
        pub user_ref_num: u32,
        pub side: Side,
        /// The new intended order size.
        pub quantity: u32,
    }
}

ouch_message! {
    /// `C`: cancel every booked order of the firm, optionally only on one symbol (blank: all) and matching the
    /// Side and GroupID options. 19 bytes plus options.
    pub struct MassCancel = b'C', appendage required {
        pub user_ref_num: u32,
        pub firm: [u8; 4],
        /// Spaces: every symbol.
        pub symbol: Symbol,
    }
}

ouch_message! {
    /// `D`: block new orders for the firm on this account. 11 bytes plus options.
    pub struct DisableOrderEntry = b'D', appendage required {
        pub user_ref_num: u32,
        pub firm: [u8; 4],
    }
}

ouch_message! {
    /// `E`: allow new orders again. 11 bytes plus options.
    pub struct EnableOrderEntry = b'E', appendage required {
        pub user_ref_num: u32,
        pub firm: [u8; 4],
    }
}

ouch_message! {
    /// `Q`: ask for the next UserRefNum the session may use. 1 byte.
    pub struct AccountQuery = b'Q', appendage optional {}
}

message_enum! {
    /// Any message a client may send; `Quote` is Crossline's extension `q`.
    pub enum Inbound {
        EnterOrder(EnterOrder),
        ReplaceOrder(ReplaceOrder),
        CancelOrder(CancelOrder),
        ModifyOrder(ModifyOrder),
        MassCancel(MassCancel),
        DisableOrderEntry(DisableOrderEntry),
        EnableOrderEntry(EnableOrderEntry),
        AccountQuery(AccountQuery),
        Quote(Quote),
    }
}
