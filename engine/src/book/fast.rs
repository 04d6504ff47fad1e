//! The production book. Each side is a ladder of occupied price levels kept sorted with the best price at the end,
//! so the best level is one load away and orders arriving near the top (the common case) move few entries. Each
//! level is a FIFO queue linked through the orders' own `prev`/`next` fields; an order knows its level, so cancel
//! and fill touch only the order, its neighbours and its level. Level records come from a preallocated pool.

use super::{LevelView, OrderBook};
use crate::order::{Handle, OrderPool, NIL};
use crate::types::{Price, Qty, Side};

#[derive(Debug, Clone, Copy)]
struct Level {
    price: Price,
    head: Handle,
    tail: Handle,
    qty: Qty,
    count: u32,
}

const EMPTY_LEVEL: Level = Level {
    price: 0,
    head: NIL,
    tail: NIL,
    qty: 0,
    count: 0,
};

/// A ladder entry: the sort key (the price for bids, its negation for asks, so that "better" is always "larger")
/// and the level's slot.
type Rung = (i64, u32);

#[derive(Debug, Clone)]
pub struct FastBook {
    levels: Vec<Level>,
    free_levels: Vec<u32>,
    ladders: [Vec<Rung>; 2],
    max_levels_per_side: usize,
    order_count: usize,
}

#[inline]
fn sort_key(side: Side, price: Price) -> i64 {
    match side {
        Side::Buy => price,
        Side::Sell => price.wrapping_neg(),
    }
}

impl FastBook {
    /// Position of the rung with this key, or where it would go.
    #[inline]
    fn find(ladder: &[Rung], key: i64) -> Result<usize, usize> {
        // Most activity is near the best price, at the end: look at the last few rungs before bisecting.
        let len = ladder.len();
        let near = len.saturating_sub(4);
        for pos in (near..len).rev() {
            let rung_key = ladder[pos].0;
            if rung_key == key {
                return Ok(pos);
            }
            if rung_key < key {
                return Err(pos + 1);
            }
        }
        ladder[..near].binary_search_by(|rung| rung.0.cmp(&key))
    }
}

impl OrderBook for FastBook {
    fn with_capacity(max_levels_per_side: u32) -> Self {
        let per_side = max_levels_per_side as usize;
        let total = per_side * 2;
        FastBook {
            levels: vec![EMPTY_LEVEL; total],
            free_levels: (0..total as u32).rev().collect(),
            ladders: [Vec::with_capacity(per_side), Vec::with_capacity(per_side)],
            max_levels_per_side: per_side,
            order_count: 0,
        }
    }

    fn can_insert(&self, _orders: &OrderPool, side: Side, price: Price) -> bool {
        let ladder = &self.ladders[side.index()];
        ladder.len() < self.max_levels_per_side || Self::find(ladder, sort_key(side, price)).is_ok()
    }

    #[inline]
    fn insert(&mut self, orders: &mut OrderPool, handle: Handle) {
        let (side, price, display) = {
            let order = orders.get(handle);
            (order.side, order.price, order.display)
        };
        let key = sort_key(side, price);
        let ladder = &mut self.ladders[side.index()];
        let level_slot = match Self::find(ladder, key) {
            Ok(pos) => ladder[pos].1,
            Err(pos) => {
                // can_insert guaranteed room; the ladder never grows past its reserved capacity.
                let slot = self
                    .free_levels
                    .pop()
                    .expect("level pool sized for both sides");
                self.levels[slot as usize] = Level {
                    price,
                    ..EMPTY_LEVEL
                };
                ladder.insert(pos, (key, slot));
                slot
            }
        };
        let level = &mut self.levels[level_slot as usize];
        let old_tail = level.tail;
        {
            let order = orders.get_mut(handle);
            order.level = level_slot;
            order.prev = old_tail;
            order.next = NIL;
        }
        if old_tail == NIL {
            level.head = handle;
        } else {
            orders.get_mut(old_tail).next = handle;
        }
        level.tail = handle;
        level.qty += display;
        level.count += 1;
        self.order_count += 1;
    }

    #[inline]
    fn remove(&mut self, orders: &mut OrderPool, handle: Handle) {
        let (prev, next, level_slot, display, side) = {
            let order = orders.get(handle);
            (
                order.prev,
                order.next,
                order.level,
                order.display,
                order.side,
            )
        };
        if prev != NIL {
            orders.get_mut(prev).next = next;
        }
        if next != NIL {
            orders.get_mut(next).prev = prev;
        }
        let level = &mut self.levels[level_slot as usize];
        if level.head == handle {
            level.head = next;
        }
        if level.tail == handle {
            level.tail = prev;
        }
        level.qty -= display;
        level.count -= 1;
        self.order_count -= 1;
        {
            let order = orders.get_mut(handle);
            order.prev = NIL;
            order.next = NIL;
            order.level = NIL;
        }
        if level.count == 0 {
            let key = sort_key(side, level.price);
            let ladder = &mut self.ladders[side.index()];
            if let Ok(pos) = Self::find(ladder, key) {
                ladder.remove(pos);
            }
            self.free_levels.push(level_slot);
        }
    }

    #[inline]
    fn reduce_display(&mut self, orders: &mut OrderPool, handle: Handle, qty: Qty) {
        let order = orders.get_mut(handle);
        order.display -= qty;
        self.levels[order.level as usize].qty -= qty;
    }

    #[inline]
    fn best(&self, _orders: &OrderPool, side: Side) -> Option<Handle> {
        let &(_, slot) = self.ladders[side.index()].last()?;
        Some(self.levels[slot as usize].head)
    }

    #[inline]
    fn best_price(&self, _orders: &OrderPool, side: Side) -> Option<Price> {
        let &(_, slot) = self.ladders[side.index()].last()?;
        Some(self.levels[slot as usize].price)
    }

    fn visit(&self, orders: &OrderPool, side: Side, mut visit: impl FnMut(Handle) -> bool) {
        for &(_, slot) in self.ladders[side.index()].iter().rev() {
            let mut handle = self.levels[slot as usize].head;
            while handle != NIL {
                // Read the link first: the visitor may not change the book, but keep the walk independent of it.
                let next = orders.get(handle).next;
                if !visit(handle) {
                    return;
                }
                handle = next;
            }
        }
    }

    fn visit_levels(
        &self,
        _orders: &OrderPool,
        side: Side,
        mut visit: impl FnMut(LevelView) -> bool,
    ) {
        for &(_, slot) in self.ladders[side.index()].iter().rev() {
            let level = &self.levels[slot as usize];
            if !visit(LevelView {
                price: level.price,
                qty: level.qty,
                orders: level.count,
            }) {
                return;
            }
        }
    }

    fn order_count(&self) -> usize {
        self.order_count
    }

    fn validate(&self, orders: &OrderPool) -> Result<(), String> {
        let mut total_orders = 0usize;
        for side in [Side::Buy, Side::Sell] {
            let ladder = &self.ladders[side.index()];
            if ladder.len() > self.max_levels_per_side {
                return Err(format!(
                    "{side:?} ladder has {} levels, over {}",
                    ladder.len(),
                    self.max_levels_per_side
                ));
            }
            for pair in ladder.windows(2) {
                if pair[0].0 >= pair[1].0 {
                    return Err(format!(
                        "{side:?} ladder not strictly sorted at key {}",
                        pair[0].0
                    ));
                }
            }
            for &(key, slot) in ladder {
                let level = &self.levels[slot as usize];
                if sort_key(side, level.price) != key {
                    return Err(format!(
                        "{side:?} level {} filed under key {key}",
                        level.price
                    ));
                }
                let (mut qty, mut count, mut prev, mut handle) = (0u64, 0u32, NIL, level.head);
                while handle != NIL {
                    let order = orders.get(handle);
                    if !order.live || order.level != slot || order.prev != prev {
                        return Err(format!(
                            "order in slot {handle} badly linked at level {}",
                            level.price
                        ));
                    }
                    if order.side != side || order.price != level.price || order.display == 0 {
                        return Err(format!(
                            "order in slot {handle} does not belong at {side:?} {}",
                            level.price
                        ));
                    }
                    qty += order.display;
                    count += 1;
                    prev = handle;
                    handle = order.next;
                    if count as usize > orders.capacity() {
                        return Err(format!("cycle in the queue at level {}", level.price));
                    }
                }
                if prev != level.tail || count != level.count || qty != level.qty || count == 0 {
                    return Err(format!(
                        "level {}: tail/count/qty {}/{}/{} but queue gives {}/{}/{}",
                        level.price, level.tail, level.count, level.qty, prev, count, qty
                    ));
                }
                total_orders += count as usize;
            }
        }
        if total_orders != self.order_count {
            return Err(format!(
                "book counts {} orders but queues hold {total_orders}",
                self.order_count
            ));
        }
        Ok(())
    }
}
