//! Outbound OUCH 5.0 messages: Crossline to client, carried in Sequenced Data packets. Every one starts with the
//! type byte and an 8-byte timestamp in nanoseconds since midnight.

use super::extensions::QuoteStatus;
use super::types::{
    BrokenTradeReason, CancelReason, Capacity, CrossType, Display, EventCode, IsoEligibility,
    LiquidityFlag, OrderState, RejectReason, RestatedReason, Side, TimeInForce,
};
use super::{message_enum, ouch_message};
use crossline_engine::Symbol;

ouch_message! {
    /// `S`: the system opened or closed. 10 bytes.
    pub struct SystemEvent = b'S', fixed {
        pub timestamp_ns: u64,
        pub event_code: EventCode,
    }
}

ouch_message! {
    /// `A`: an Enter Order was accepted; the fields echo it, possibly adjusted. 64 bytes plus options.
    pub struct OrderAccepted = b'A', appendage required {
        pub timestamp_ns: u64,
        pub user_ref_num: u32,
        pub side: Side,
        pub quantity: u32,
        pub symbol: Symbol,
        pub price: u64,
        pub time_in_force: TimeInForce,
        pub display: Display,
        /// The day-unique order reference number (Crossline: the engine order id, also the ITCH reference).
        pub order_reference_number: u64,
        pub capacity: Capacity,
        pub intermarket_sweep: IsoEligibility,
        pub cross_type: CrossType,
        pub order_state: OrderState,
        pub cl_ord_id: [u8; 14],
    }
}

ouch_message! {
    /// `U`: a Replace Order was accepted. 68 bytes plus options.
    pub struct OrderReplaced = b'U', appendage required {
        pub timestamp_ns: u64,
        pub orig_user_ref_num: u32,
        pub user_ref_num: u32,
        pub side: Side,
        /// Shares outstanding after the replace.
        pub quantity: u32,
        pub symbol: Symbol,
        pub price: u64,
        pub time_in_force: TimeInForce,
        pub display: Display,
        pub order_reference_number: u64,
        pub capacity: Capacity,
        pub intermarket_sweep: IsoEligibility,
        pub cross_type: CrossType,
        pub order_state: OrderState,
        pub cl_ord_id: [u8; 14],
    }
}

ouch_message! {
    /// `C`: an order was reduced or cancelled. 18 bytes.
    pub struct OrderCanceled = b'C', appendage optional {
        pub timestamp_ns: u64,
        pub user_ref_num: u32,
        /// Shares taken off the order by this message (incremental).
        pub quantity: u32,
        pub reason: CancelReason,
    }
}

ouch_message! {
    /// `D`: self-match prevention reduced or cancelled an order. 32 bytes.
    pub struct AiqCanceled = b'D', appendage optional {
        pub timestamp_ns: u64,
        pub user_ref_num: u32,
        /// Shares taken off the order by this message (incremental).
        pub decrement_quantity: u32,
        /// Always `SelfMatchPrevention` (`Q`).
        pub reason: CancelReason,
        /// Shares that would have traded.
        pub quantity_prevented_from_trading: u32,
        /// Price the prevented trade would have had.
        pub execution_price: u64,
        pub liquidity_flag: LiquidityFlag,
        /// The AIQ strategy applied (a code byte).
        pub aiq_strategy: u8,
    }
}

ouch_message! {
    /// `E`: an order (partly) executed. 36 bytes plus options.
    pub struct OrderExecuted = b'E', appendage required {
        pub timestamp_ns: u64,
        pub user_ref_num: u32,
        /// Shares executed by this message (incremental).
        pub quantity: u32,
        pub price: u64,
        pub liquidity_flag: LiquidityFlag,
        /// Shared by both sides of the trade.
        pub match_number: u64,
    }
}

ouch_message! {
    /// `B`: an execution was broken. 36 bytes.
    pub struct BrokenTrade = b'B', appendage optional {
        pub timestamp_ns: u64,
        pub user_ref_num: u32,
        pub match_number: u64,
        pub reason: BrokenTradeReason,
        pub cl_ord_id: [u8; 14],
    }
}

ouch_message! {
    /// `J`: an Enter Order or Replace Order was rejected; its UserRefNum is used up. 29 bytes.
    pub struct OrderRejected = b'J', appendage optional {
        pub timestamp_ns: u64,
        pub user_ref_num: u32,
        pub reason: RejectReason,
        pub cl_ord_id: [u8; 14],
    }
}

ouch_message! {
    /// `P`: a cross order cannot be cancelled now; its rest will be after the cross. 13 bytes.
    pub struct CancelPending = b'P', appendage optional {
        pub timestamp_ns: u64,
        pub user_ref_num: u32,
    }
}

ouch_message! {
    /// `I`: a partial cancel of a cross order was refused. 13 bytes.
    pub struct CancelReject = b'I', appendage optional {
        pub timestamp_ns: u64,
        pub user_ref_num: u32,
    }
}

ouch_message! {
    /// `T`: an order's priority changed; it has a new order reference number. 30 bytes.
    pub struct PriorityUpdate = b'T', appendage optional {
        pub timestamp_ns: u64,
        pub user_ref_num: u32,
        pub price: u64,
        pub display: Display,
        pub order_reference_number: u64,
    }
}

ouch_message! {
    /// `M`: a Modify Order was applied. 18 bytes.
    pub struct OrderModified = b'M', appendage optional {
        pub timestamp_ns: u64,
        pub user_ref_num: u32,
        pub side: Side,
        /// Shares outstanding.
        pub quantity: u32,
    }
}

ouch_message! {
    /// `R`: the system changed an order (display refresh or price update); details in the options. 16 bytes
    /// plus options.
    pub struct OrderRestated = b'R', appendage required {
        pub timestamp_ns: u64,
        pub user_ref_num: u32,
        pub reason: RestatedReason,
    }
}

ouch_message! {
    /// `X`: a Mass Cancel was received; its fields are echoed. 27 bytes plus options.
    pub struct MassCancelResponse = b'X', appendage required {
        pub timestamp_ns: u64,
        pub user_ref_num: u32,
        pub firm: [u8; 4],
        pub symbol: Symbol,
    }
}

ouch_message! {
    /// `G`: a Disable Order Entry was applied. 19 bytes plus options.
    pub struct DisableOrderEntryResponse = b'G', appendage required {
        pub timestamp_ns: u64,
        pub user_ref_num: u32,
        pub firm: [u8; 4],
    }
}

ouch_message! {
    /// `K`: an Enable Order Entry was applied. 19 bytes plus options.
    pub struct EnableOrderEntryResponse = b'K', appendage required {
        pub timestamp_ns: u64,
        pub user_ref_num: u32,
        pub firm: [u8; 4],
    }
}

ouch_message! {
    /// `Q`: the answer to Account Query. 13 bytes.
    pub struct AccountQueryResponse = b'Q', appendage optional {
        pub timestamp_ns: u64,
        pub next_user_ref_num: u32,
    }
}

message_enum! {
    /// Any message Crossline sends on an order-entry session; `QuoteStatus` is Crossline's extension `q`.
    pub enum Outbound {
        SystemEvent(SystemEvent),
        OrderAccepted(OrderAccepted),
        OrderReplaced(OrderReplaced),
        OrderCanceled(OrderCanceled),
        AiqCanceled(AiqCanceled),
        OrderExecuted(OrderExecuted),
        BrokenTrade(BrokenTrade),
        OrderRejected(OrderRejected),
        CancelPending(CancelPending),
        CancelReject(CancelReject),
        PriorityUpdate(PriorityUpdate),
        OrderModified(OrderModified),
        OrderRestated(OrderRestated),
        MassCancelResponse(MassCancelResponse),
        DisableOrderEntryResponse(DisableOrderEntryResponse),
        EnableOrderEntryResponse(EnableOrderEntryResponse),
        AccountQueryResponse(AccountQueryResponse),
        QuoteStatus(QuoteStatus),
    }
}
