//! Commands: every input that changes engine state. A command is also the journal's record: it is archived with
//! rkyv as is, so it holds only fixed-size fields.

use crate::types::*;
use rkyv::{Archive, Deserialize, Serialize};

/// One sequenced input. `seq` and `timestamp_ns` are stamped by the sequencer; the engine reads time only from here.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct Command {
    pub seq: u64,
    pub timestamp_ns: TimestampNs,
    pub body: CommandBody,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub enum CommandBody {
    AddInstrument(InstrumentSpec),
    SetInstrumentStatus {
        instrument: InstrumentId,
        status: InstrumentStatus,
    },
    /// Re-centres the price band.
    SetReferencePrice {
        instrument: InstrumentId,
        price: Price,
    },
    SetFeeTier {
        tier: u32,
        maker_fee_ppm: u32,
        taker_fee_ppm: u32,
    },
    /// Creates an account or changes its settings; balances are untouched.
    SetAccount(AccountSpec),
    Deposit {
        account: AccountId,
        asset: AssetId,
        amount: u64,
    },
    Withdraw {
        account: AccountId,
        asset: AssetId,
        amount: u64,
    },
    NewOrder(NewOrder),
    Cancel {
        session: SessionId,
        account: AccountId,
        user_ref: UserRef,
    },
    /// New price, or a larger quantity, loses time priority; the same price with a smaller quantity keeps it.
    Replace(Replace),
    /// Reduces an order's open quantity, keeping its priority; zero cancels it.
    Modify {
        session: SessionId,
        account: AccountId,
        user_ref: UserRef,
        qty: Qty,
    },
    /// Reduces an order to `qty` open lots, answered as a cancellation of the difference (OUCH Cancel Order with
    /// a quantity) where `Modify` is answered as a modification (OUCH Modify Order). `qty` 0 cancels it.
    CancelTo {
        session: SessionId,
        account: AccountId,
        user_ref: UserRef,
        qty: Qty,
    },
    MassCancel(MassCancel),
    Quote(Quote),
    /// Cancels every resting Day order.
    EndOfDay,
    /// A session switches its account's order entry off or on (OUCH Disable / Enable Order Entry).
    SetOrderEntry {
        session: SessionId,
        account: AccountId,
        user_ref: UserRef,
        firm: [u8; 4],
        enabled: bool,
    },
    /// The passage of time and nothing else: the sequencer sends one when a timer (an order's expiry, the end of a
    /// halt) is due and no other command has come to run it.
    Tick,
    /// An answer the gateway gave without the engine's help. It changes no state; it is journaled so that each
    /// session's outbound stream is a function of the journal alone.
    SessionReply(SessionReply),
    /// The leader's state hash before this command (`Engine::state_hash`), journaled now and then so that every
    /// replica compares its own at the same seq: a cross-node check of the in-memory books. Changes nothing.
    StateCheck {
        state_hash: u64,
    },
}

/// Static description of an instrument.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct InstrumentSpec {
    pub instrument: InstrumentId,
    pub symbol: Symbol,
    /// Prices must be multiples of this, in price units.
    pub tick: Price,
    /// Base-asset units in one lot.
    pub lot_size: u64,
    /// Quote-asset units paid per lot per price unit: the notional of `qty` lots at `price` is
    /// `price * qty * quote_per_price_lot`.
    pub quote_per_price_lot: u64,
    pub base_asset: AssetId,
    pub quote_asset: AssetId,
    /// Centre of the price band until the first trade; afterwards the band follows the last trade price.
    pub reference_price: Price,
    /// Half-width of the price band in basis points of the reference price (1..=10_000).
    pub band_bps: u32,
    /// Circuit breaker: a trade more than this many basis points away from any trade in the window halts the
    /// instrument. Zero turns the breaker off.
    pub breaker_move_bps: u32,
    pub breaker_window_ns: u64,
    pub breaker_halt_ns: u64,
}

/// Settings of one account.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct AccountSpec {
    pub account: AccountId,
    pub fee_tier: u32,
    /// Accounts with the same non-zero group never trade with each other (a firm's accounts).
    pub stp_group: u32,
    pub stp_mode: StpMode,
    pub max_order_qty: Qty,
    /// Maximum notional of one order in quote units.
    pub max_order_notional: u64,
    pub max_open_orders: u32,
    /// False disables order entry (OUCH Disable Order Entry); cancels still work.
    pub order_entry_enabled: bool,
}

/// A new order from a session.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct NewOrder {
    pub session: SessionId,
    pub account: AccountId,
    pub user_ref: UserRef,
    pub instrument: InstrumentId,
    pub side: Side,
    pub order_type: OrderType,
    pub time_in_force: TimeInForce,
    /// Ignored for market orders.
    pub price: Price,
    pub qty: Qty,
    /// Only with IOC: the order trades at least this much on entry or not at all (FOK: `min_qty == qty`).
    pub min_qty: Qty,
    /// Iceberg: the displayed part, refilled from the hidden rest. Zero displays the whole order.
    pub display_qty: Qty,
    /// Rejected if any part would trade on entry.
    pub post_only: bool,
    /// Only with GTT.
    pub expire_time_ns: TimestampNs,
    /// The client's grouping tag (OUCH GroupID), usable as a mass-cancel filter.
    pub group: u16,
}

#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct Replace {
    pub session: SessionId,
    pub account: AccountId,
    pub user_ref: UserRef,
    pub new_user_ref: UserRef,
    pub price: Price,
    /// The new open quantity.
    pub qty: Qty,
}

/// Why a mass cancel happens; carried into each cancel event.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[rkyv(derive(Debug))]
#[repr(u8)]
pub enum MassCancelReason {
    UserRequested = 0,
    Disconnect = 1,
    Admin = 2,
}

/// Cancels every resting order that matches all the filters given. An account-less mass cancel is an operator's
/// and must name an instrument.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct MassCancel {
    /// Who asked (for the response); zero for the operator.
    pub session: SessionId,
    pub user_ref: UserRef,
    pub reason: MassCancelReason,
    pub account: Option<AccountId>,
    pub only_session: Option<SessionId>,
    pub instrument: Option<InstrumentId>,
    pub side: Option<Side>,
    pub group: Option<u16>,
}

/// A market maker's two-sided quote: atomically replaces the session's previous quote on the instrument. A zero
/// size withdraws that side. A side whose price is unchanged and whose size does not grow keeps its priority.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct Quote {
    pub session: SessionId,
    pub account: AccountId,
    pub user_ref: UserRef,
    pub instrument: InstrumentId,
    pub bid_price: Price,
    pub bid_qty: Qty,
    pub ask_price: Price,
    pub ask_qty: Qty,
}

/// What kind of answer a `SessionReply` carries.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[rkyv(derive(Debug))]
#[repr(u8)]
pub enum SessionReplyKind {
    /// An order message refused before the engine (OUCH Order Rejected with `code`).
    OrderRejected = 0,
    /// A Quote refused before the engine (Quote Status `J` with `code`).
    QuoteRejected = 1,
    /// Account Query Response; `user_ref` is the next UserRefNum the session may use.
    AccountQuery = 2,
}

/// The gateway's own answer to one inbound message, journaled and passed through the engine unchanged so that a
/// replay, a restart or a standby rebuilds every session's outbound stream message for message.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct SessionReply {
    pub session: SessionId,
    pub user_ref: UserRef,
    pub kind: SessionReplyKind,
    /// The protocol's reject code (zero for non-rejects).
    pub code: u16,
    /// The Quote's symbol for `QuoteRejected`; blank otherwise.
    pub symbol: Symbol,
}
