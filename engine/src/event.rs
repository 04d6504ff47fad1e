//! Events: everything the engine says about a command. The gateway turns them into OUCH replies and the ITCH
//! feed; the journal never stores them because replaying the commands reproduces them exactly.

use crate::command::SessionReply;
use crate::types::*;

/// Why a command was refused. Every rule the engine enforces has its own reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RejectReason {
    UnknownInstrument = 1,
    InstrumentExists,
    InvalidInstrumentSpec,
    InstrumentHalted,
    CancelOnly,
    UnknownAccount,
    UnknownAsset,
    UnknownFeeTier,
    InvalidFeeRate,
    InvalidAmount,
    OrderEntryDisabled,
    InvalidPrice,
    PriceNotOnTick,
    PriceOutsideBand,
    InvalidQty,
    InvalidMinQty,
    InvalidDisplayQty,
    InvalidExpireTime,
    InvalidTimeInForce,
    QtyAboveMax,
    NotionalAboveMax,
    TooManyOpenOrders,
    InsufficientFunds,
    BookFull,
    DuplicateUserRef,
    UnknownOrder,
    PostOnlyWouldTrade,
    NotAReduction,
    QuoteCrossed,
    NotReplaceable,
    MassCancelNeedsScope,
    BalanceOverflow,
    NotionalOverflow,
}

/// Why an order left the book (or never reached it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum CancelReason {
    UserRequested = 1,
    /// The unfilled rest of an IOC or market order.
    ImmediateOrCancel,
    /// An IOC with a minimum quantity (FOK) that could not trade enough on entry.
    MinQtyNotMet,
    SelfTradePrevention,
    Expired,
    EndOfDay,
    MassCancel,
    Disconnect,
    Admin,
    /// Replaced by a new quote from the same session.
    QuoteReplaced,
    /// The rest of an incoming order when its trade tripped the circuit breaker.
    CircuitBreaker,
}

/// Why an instrument's trading status changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TradingActionReason {
    Operator = 1,
    CircuitBreaker,
    HaltEnded,
}

/// Order-by-order changes to the visible book: what the ITCH feed carries. `order_ref` identifies the displayed
/// order; an iceberg refill gets a new one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookEvent {
    Add {
        instrument: InstrumentId,
        order_ref: OrderId,
        side: Side,
        price: Price,
        qty: Qty,
    },
    Execute {
        instrument: InstrumentId,
        order_ref: OrderId,
        qty: Qty,
        price: Price,
        match_number: u64,
    },
    /// Part of the displayed quantity was cancelled; the order stays.
    Cancel {
        instrument: InstrumentId,
        order_ref: OrderId,
        qty: Qty,
    },
    Delete {
        instrument: InstrumentId,
        order_ref: OrderId,
    },
    /// The order lost priority and rests again under a new reference.
    Replace {
        instrument: InstrumentId,
        old_ref: OrderId,
        new_ref: OrderId,
        price: Price,
        qty: Qty,
    },
}

/// Status of one side of a quote after a Quote command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuoteSide {
    /// Zero when the side is empty (withdrawn, not quoted, or fully traded on entry).
    pub order_id: OrderId,
    pub price: Price,
    /// Open quantity now resting.
    pub qty: Qty,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Accepted {
        session: SessionId,
        account: AccountId,
        user_ref: UserRef,
        order_id: OrderId,
        instrument: InstrumentId,
        side: Side,
        price: Price,
        qty: Qty,
        time_in_force: TimeInForce,
    },
    Rejected {
        session: SessionId,
        user_ref: UserRef,
        reason: RejectReason,
    },
    /// A Quote command was refused; the previous quote, if any, stays.
    QuoteRejected {
        session: SessionId,
        user_ref: UserRef,
        instrument: InstrumentId,
        reason: RejectReason,
    },
    Executed {
        session: SessionId,
        account: AccountId,
        user_ref: UserRef,
        order_id: OrderId,
        instrument: InstrumentId,
        side: Side,
        price: Price,
        qty: Qty,
        /// Open quantity left after this execution.
        leaves: Qty,
        match_number: u64,
        liquidity: Liquidity,
        /// Quote units charged.
        fee: u64,
    },
    Canceled {
        session: SessionId,
        account: AccountId,
        user_ref: UserRef,
        order_id: OrderId,
        instrument: InstrumentId,
        /// Quantity taken off the order.
        qty: Qty,
        reason: CancelReason,
    },
    /// Self-trade prevention cancelled (part of) an order (OUCH "AIQ Canceled").
    SelfTradeCanceled {
        session: SessionId,
        account: AccountId,
        user_ref: UserRef,
        order_id: OrderId,
        instrument: InstrumentId,
        qty: Qty,
        /// Quantity that would have traded.
        prevented_qty: Qty,
        /// Price the prevented trade would have had.
        price: Price,
        liquidity: Liquidity,
    },
    Replaced {
        session: SessionId,
        account: AccountId,
        old_user_ref: UserRef,
        user_ref: UserRef,
        old_order_id: OrderId,
        order_id: OrderId,
        instrument: InstrumentId,
        side: Side,
        price: Price,
        qty: Qty,
    },
    Modified {
        session: SessionId,
        account: AccountId,
        user_ref: UserRef,
        order_id: OrderId,
        side: Side,
        /// Open quantity after the reduction.
        qty: Qty,
    },
    QuoteStatus {
        session: SessionId,
        account: AccountId,
        user_ref: UserRef,
        instrument: InstrumentId,
        bid: QuoteSide,
        ask: QuoteSide,
    },
    MassCanceled {
        session: SessionId,
        user_ref: UserRef,
        count: u64,
    },
    TradingAction {
        instrument: InstrumentId,
        status: InstrumentStatus,
        reason: TradingActionReason,
    },
    InstrumentAdded {
        instrument: InstrumentId,
        symbol: Symbol,
    },
    /// A settings command was applied (fee tier, account, reference price).
    SettingsApplied,
    /// A session switched its account's order entry off or on (`CommandBody::SetOrderEntry`).
    OrderEntrySet {
        session: SessionId,
        account: AccountId,
        user_ref: UserRef,
        firm: [u8; 4],
        enabled: bool,
    },
    /// The gateway's own answer, passed through unchanged (`CommandBody::SessionReply`).
    SessionReply(SessionReply),
    /// The answer to `CommandBody::StateCheck`: the leader's hash and this engine's at the same seq. A replica that
    /// sees them differ must stop.
    StateChecked {
        expected: u64,
        actual: u64,
    },
    BalanceChanged {
        account: AccountId,
        asset: AssetId,
        available: u64,
        reserved: u64,
    },
    Book(BookEvent),
}

/// Where `Engine::apply` writes its events. The pipeline writes straight into its outbound ring; tests collect
/// into a `Vec`. Implementations on the hot path must not allocate.
pub trait EventSink {
    fn push(&mut self, event: Event);
}

impl EventSink for Vec<Event> {
    fn push(&mut self, event: Event) {
        Vec::push(self, event);
    }
}

/// Counts events and drops them: for measuring the engine alone.
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingSink {
    pub events: u64,
    pub executions: u64,
    pub rejects: u64,
}

impl EventSink for CountingSink {
    #[inline]
    fn push(&mut self, event: Event) {
        self.events += 1;
        match event {
            Event::Executed { .. } => self.executions += 1,
            Event::Rejected { .. } | Event::QuoteRejected { .. } => self.rejects += 1,
            _ => {}
        }
    }
}
