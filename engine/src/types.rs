//! Identifiers, units and small enums shared by commands, events and the book.

use rkyv::{Archive, Deserialize, Serialize};

/// A price in the instrument's price unit: 1/10_000 of a quote unit per lot on the wire (4 implied decimals).
pub type Price = i64;
/// A quantity in lots.
pub type Qty = u64;
/// An engine-assigned order id; also the ITCH order reference number of the order's displayed part.
pub type OrderId = u64;
/// An account: the owner of balances, risk limits and a fee tier.
pub type AccountId = u32;
/// A gateway session (one SoupBinTCP login). Several sessions may trade for one account.
pub type SessionId = u32;
/// An instrument; also the ITCH stock locate code, so it must fit 16 bits on the feed.
pub type InstrumentId = u32;
/// An asset (currency or security) that balances are kept in.
pub type AssetId = u32;
/// The client's order reference (OUCH UserRefNum), unique per session.
pub type UserRef = u32;
/// Nanoseconds, stamped on every command by the sequencer.
pub type TimestampNs = u64;

/// Which side of the book an order rests on.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[rkyv(derive(Debug))]
#[repr(u8)]
pub enum Side {
    Buy = 0,
    Sell = 1,
}

impl Side {
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// True when an order on this side with `limit` may trade against a resting order at `resting`.
    pub fn crosses(self, limit: Price, resting: Price) -> bool {
        match self {
            Side::Buy => limit >= resting,
            Side::Sell => limit <= resting,
        }
    }
}

/// How long an order may rest.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[rkyv(derive(Debug))]
#[repr(u8)]
pub enum TimeInForce {
    /// Rests until the end-of-day command cancels it.
    Day = 0,
    /// Rests until cancelled.
    Gtc = 1,
    /// Rests until the command time reaches the order's expire time.
    Gtt = 2,
    /// Trades what it can on entry; the rest is cancelled.
    Ioc = 3,
}

/// Limit orders carry their price; market orders trade as IOC at the instrument band's protection price.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[rkyv(derive(Debug))]
#[repr(u8)]
pub enum OrderType {
    Limit = 0,
    Market = 1,
}

/// Trading status of an instrument.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[rkyv(derive(Debug))]
#[repr(u8)]
pub enum InstrumentStatus {
    /// Orders are accepted and matched.
    Trading = 0,
    /// No new orders, replaces or quotes; cancels and reductions are accepted.
    Halted = 1,
    /// Like halted, set by an operator for an orderly wind-down rather than an event.
    CancelOnly = 2,
}

/// What self-trade prevention does when an incoming order would trade with a resting order of the same account
/// (or of an account in the same self-trade group).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[rkyv(derive(Debug))]
#[repr(u8)]
pub enum StpMode {
    CancelResting = 0,
    CancelIncoming = 1,
    CancelBoth = 2,
}

/// Which side of a trade provided liquidity.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[rkyv(derive(Debug))]
#[repr(u8)]
pub enum Liquidity {
    Maker = 0,
    Taker = 1,
}

/// An instrument symbol: 8 bytes, left-justified and space-padded, as on the wire.
pub type Symbol = [u8; 8];

/// Builds a wire symbol from text, space-padded; longer text is cut at 8 bytes.
pub fn symbol(text: &str) -> Symbol {
    let mut out = [b' '; 8];
    for (slot, byte) in out.iter_mut().zip(text.bytes()) {
        *slot = byte;
    }
    out
}

/// The symbol as text without its padding.
pub fn symbol_text(symbol: &Symbol) -> &str {
    let end = symbol.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
    std::str::from_utf8(&symbol[..end]).unwrap_or("?")
}
