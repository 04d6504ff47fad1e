//! Resting orders and the preallocated pool they live in. A handle is the order's slot in the pool.

use crate::types::*;

/// The slot of an order in the pool.
pub type Handle = u32;
/// No order: the end of a list.
pub const NIL: Handle = u32::MAX;

/// An order inside the engine: its identity, what is left of it, what it has reserved, and the links of the
/// lists it belongs to (its price level's queue, its account's orders, the expiry heap).
#[derive(Debug, Clone, Copy)]
pub struct Order {
    pub id: OrderId,
    /// Reference of the displayed part on the feed; changes when an iceberg is refilled.
    pub feed_ref: OrderId,
    pub session: SessionId,
    pub account: AccountId,
    pub user_ref: UserRef,
    pub instrument: InstrumentId,
    pub side: Side,
    pub time_in_force: TimeInForce,
    pub is_quote: bool,
    pub group: u16,
    pub price: Price,
    /// Open quantity, displayed and hidden.
    pub leaves: Qty,
    /// Displayed quantity now; equals `leaves` unless the order is an iceberg.
    pub display: Qty,
    /// Iceberg refill size; zero for a fully displayed order.
    pub max_floor: Qty,
    pub expire_time_ns: TimestampNs,
    /// Amount reserved per open lot: quote units for a buy (price, and fee at the highest rate), base units for a
    /// sell.
    pub reserve_per_lot: u64,
    /// Fee rates fixed when the order was accepted, in millionths of the notional.
    pub maker_fee_ppm: u32,
    pub taker_fee_ppm: u32,
    /// Book links, owned by the book implementation.
    pub prev: Handle,
    pub next: Handle,
    pub level: u32,
    /// Links of the account's order list.
    pub account_prev: Handle,
    pub account_next: Handle,
    /// Position in the expiry heap, or NIL.
    pub heap_pos: u32,
    pub live: bool,
}

impl Order {
    pub const EMPTY: Order = Order {
        id: 0,
        feed_ref: 0,
        session: 0,
        account: 0,
        user_ref: 0,
        instrument: 0,
        side: Side::Buy,
        time_in_force: TimeInForce::Gtc,
        is_quote: false,
        group: 0,
        price: 0,
        leaves: 0,
        display: 0,
        max_floor: 0,
        expire_time_ns: 0,
        reserve_per_lot: 0,
        maker_fee_ppm: 0,
        taker_fee_ppm: 0,
        prev: NIL,
        next: NIL,
        level: NIL,
        account_prev: NIL,
        account_next: NIL,
        heap_pos: NIL,
        live: false,
    };

    /// Quantity not displayed.
    pub fn hidden(&self) -> Qty {
        self.leaves - self.display
    }
}

/// All order slots, allocated once, with a free list.
#[derive(Debug, Clone)]
pub struct OrderPool {
    slots: Vec<Order>,
    free: Vec<Handle>,
}

impl OrderPool {
    pub fn with_capacity(capacity: u32) -> Self {
        OrderPool {
            slots: vec![Order::EMPTY; capacity as usize],
            // Popped from the end, so the lowest slots are used first.
            free: (0..capacity).rev().collect(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    pub fn live_count(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    pub fn is_full(&self) -> bool {
        self.free.is_empty()
    }

    /// Takes a free slot and fills it; None when the pool is full.
    #[inline]
    pub fn alloc(&mut self, order: &Order) -> Option<Handle> {
        let handle = self.free.pop()?;
        let slot = &mut self.slots[handle as usize];
        *slot = *order;
        slot.live = true;
        Some(handle)
    }

    #[inline]
    pub fn release(&mut self, handle: Handle) {
        debug_assert!(self.slots[handle as usize].live);
        self.slots[handle as usize].live = false;
        // Never exceeds the capacity reserved at construction: every handle is released at most once.
        self.free.push(handle);
    }

    #[inline]
    pub fn get(&self, handle: Handle) -> &Order {
        &self.slots[handle as usize]
    }

    #[inline]
    pub fn get_mut(&mut self, handle: Handle) -> &mut Order {
        &mut self.slots[handle as usize]
    }

    /// Every live order, in slot order.
    pub fn iter_live(&self) -> impl Iterator<Item = (Handle, &Order)> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, o)| o.live)
            .map(|(h, o)| (h as Handle, o))
    }
}

#[cfg(test)]
mod tests {
    /// An order fits two cache lines; the book touches the first (identity, price, quantities, links).
    #[test]
    fn an_order_fits_two_cache_lines() {
        assert!(
            std::mem::size_of::<super::Order>() <= 128,
            "{}",
            std::mem::size_of::<super::Order>()
        );
    }
}
