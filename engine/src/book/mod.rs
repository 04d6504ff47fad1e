//! Price-time priority books. The engine keeps order data in its pool; a book only orders handles by price and
//! arrival. Two implementations share one contract: `FastBook` (price levels with intrusive FIFO queues) runs in
//! production, `NaiveBook` (a flat list scanned on every question) is obviously correct and exists to check the
//! fast one.

mod fast;
mod naive;

pub use fast::FastBook;
pub use naive::NaiveBook;

use crate::order::{Handle, OrderPool};
use crate::types::{Price, Qty, Side};

/// One aggregated price level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LevelView {
    pub price: Price,
    /// Displayed quantity at the level.
    pub qty: Qty,
    pub orders: u32,
}

/// The contract both books keep. Orders are resting when inserted: their `side`, `price` and `display` are read
/// from the pool. The book may use the order's `prev`, `next` and `level` fields.
pub trait OrderBook {
    fn with_capacity(max_levels_per_side: u32) -> Self;

    /// True if `insert` of an order at this price would succeed (the level exists or a new one fits).
    fn can_insert(&self, orders: &OrderPool, side: Side, price: Price) -> bool;

    /// Appends the order at the back of its price level. Precondition: `can_insert` said yes.
    fn insert(&mut self, orders: &mut OrderPool, handle: Handle);

    /// Takes the order out of the book.
    fn remove(&mut self, orders: &mut OrderPool, handle: Handle);

    /// Lowers the order's displayed quantity by `qty` (a fill or a reduction), keeping its place.
    fn reduce_display(&mut self, orders: &mut OrderPool, handle: Handle, qty: Qty);

    /// The order first in priority on this side.
    fn best(&self, orders: &OrderPool, side: Side) -> Option<Handle>;

    fn best_price(&self, orders: &OrderPool, side: Side) -> Option<Price>;

    /// Calls `visit` with each order on the side in priority order until it returns false.
    fn visit(&self, orders: &OrderPool, side: Side, visit: impl FnMut(Handle) -> bool);

    /// Calls `visit` with each level on the side from the best price until it returns false.
    fn visit_levels(&self, orders: &OrderPool, side: Side, visit: impl FnMut(LevelView) -> bool);

    fn order_count(&self) -> usize;

    /// Checks every internal invariant; the message says which one failed.
    fn validate(&self, orders: &OrderPool) -> Result<(), String>;
}
