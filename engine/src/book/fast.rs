//! The production book. Each side is a ladder of price levels kept sorted with the best price at the end, so the
//! best level is one load away and orders arriving near the top (the common case) look at few rungs. Each level is
//! a FIFO queue linked through the orders' own `prev`/`next` fields; an order knows its level, so cancel and fill
//! touch only the order, its neighbours and its level. Level records come from a preallocated pool.
//!
//! A level that empties below the best stays in the ladder as an empty rung rather than being cut out: books churn
//! around the same prices, so the next order at that price finds its rung without moving the ladder, and removing
//! a deep level costs nothing. Empty rungs at the end are trimmed at once, so the last rung is always the best
//! occupied level. When the ladder is full, one pass drops every empty rung.

use super::{LevelView, OrderBook};
use crate::order::{Handle, OrderPool, NIL};
use crate::types::{Price, Qty, Side};

#[derive(Debug, Clone, Copy)]
struct Level {
    price: Price,
    head: Handle,
    tail: Handle,
    qty: Qty,
    /// Orders queued; zero for an empty rung.
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
struct Ladder {
    rungs: Vec<Rung>,
    /// Rungs whose level holds orders.
    occupied: usize,
}

#[derive(Debug, Clone)]
pub struct FastBook {
    levels: Vec<Level>,
    free_levels: Vec<u32>,
    ladders: [Ladder; 2],
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

/// Position of the rung with this key, or where it would go.
#[inline]
fn find(rungs: &[Rung], key: i64) -> Result<usize, usize> {
    // Most activity is near the best price, at the end: look at the last few rungs before bisecting.
    let len = rungs.len();
    let near = len.saturating_sub(4);
    for pos in (near..len).rev() {
        let rung_key = rungs[pos].0;
        if rung_key == key {
            return Ok(pos);
        }
        if rung_key < key {
            return Err(pos + 1);
        }
    }
    rungs[..near].binary_search_by(|rung| rung.0.cmp(&key))
}

impl FastBook {
    /// Drops every empty rung of a full ladder in one pass, returning their levels to the pool.
    fn compact(&mut self, side: Side) {
        let levels = &self.levels;
        let free_levels = &mut self.free_levels;
        self.ladders[side.index()].rungs.retain(|&(_, slot)| {
            let keep = levels[slot as usize].count > 0;
            if !keep {
                free_levels.push(slot);
            }
            keep
        });
    }

    /// Pops empty rungs off the end so that the last rung is the best occupied level.
    #[inline]
    fn trim(&mut self, side: Side) {
        let rungs = &mut self.ladders[side.index()].rungs;
        while let Some(&(_, slot)) = rungs.last() {
            if self.levels[slot as usize].count > 0 {
                break;
            }
            rungs.pop();
            self.free_levels.push(slot);
        }
    }

    #[inline]
    fn occupied_at(&self, side: Side, price: Price) -> bool {
        let rungs = &self.ladders[side.index()].rungs;
        find(rungs, sort_key(side, price))
            .is_ok_and(|pos| self.levels[rungs[pos].1 as usize].count > 0)
    }
}

impl OrderBook for FastBook {
    fn with_capacity(max_levels_per_side: u32) -> Self {
        let per_side = max_levels_per_side as usize;
        let total = per_side * 2;
        let ladder = || Ladder {
            rungs: Vec::with_capacity(per_side),
            occupied: 0,
        };
        FastBook {
            levels: vec![EMPTY_LEVEL; total],
            free_levels: (0..total as u32).rev().collect(),
            ladders: [ladder(), ladder()],
            max_levels_per_side: per_side,
            order_count: 0,
        }
    }

    fn can_insert(&self, _orders: &OrderPool, side: Side, price: Price) -> bool {
        self.ladders[side.index()].occupied < self.max_levels_per_side
            || self.occupied_at(side, price)
    }

    #[inline]
    fn insert(&mut self, orders: &mut OrderPool, handle: Handle) {
        let (side, price, display) = {
            let order = orders.get(handle);
            (order.side, order.price, order.display)
        };
        let key = sort_key(side, price);
        let mut found = find(&self.ladders[side.index()].rungs, key);
        if found.is_err() && self.ladders[side.index()].rungs.len() == self.max_levels_per_side {
            // Full of rungs but not of occupied levels (can_insert said so): make room.
            self.compact(side);
            found = find(&self.ladders[side.index()].rungs, key);
        }
        let level_slot = match found {
            Ok(pos) => self.ladders[side.index()].rungs[pos].1,
            Err(pos) => {
                // Each side holds at most `max_levels_per_side` rungs, and the pool has that many per side.
                let Some(slot) = self.free_levels.pop() else {
                    return;
                };
                self.levels[slot as usize] = Level {
                    price,
                    ..EMPTY_LEVEL
                };
                let rungs = &mut self.ladders[side.index()].rungs;
                // The rung count stays within the capacity reserved at construction, so this never allocates.
                rungs.insert(pos, (key, slot));
                slot
            }
        };
        let level = &mut self.levels[level_slot as usize];
        if level.count == 0 {
            self.ladders[side.index()].occupied += 1;
        }
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
        let emptied = level.count == 0;
        {
            let order = orders.get_mut(handle);
            order.prev = NIL;
            order.next = NIL;
            order.level = NIL;
        }
        if emptied {
            self.ladders[side.index()].occupied -= 1;
            self.trim(side);
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
        let &(_, slot) = self.ladders[side.index()].rungs.last()?;
        Some(self.levels[slot as usize].head)
    }

    #[inline]
    fn best_price(&self, _orders: &OrderPool, side: Side) -> Option<Price> {
        let &(_, slot) = self.ladders[side.index()].rungs.last()?;
        Some(self.levels[slot as usize].price)
    }

    fn visit(&self, orders: &OrderPool, side: Side, mut visit: impl FnMut(Handle) -> bool) {
        for &(_, slot) in self.ladders[side.index()].rungs.iter().rev() {
            let mut handle = self.levels[slot as usize].head;
            while handle != NIL {
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
        for &(_, slot) in self.ladders[side.index()].rungs.iter().rev() {
            let level = &self.levels[slot as usize];
            if level.count > 0
                && !visit(LevelView {
                    price: level.price,
                    qty: level.qty,
                    orders: level.count,
                })
            {
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
            if ladder.rungs.len() > self.max_levels_per_side
                || ladder.occupied > self.max_levels_per_side
            {
                return Err(format!(
                    "{side:?} ladder over {} levels",
                    self.max_levels_per_side
                ));
            }
            for pair in ladder.rungs.windows(2) {
                if pair[0].0 >= pair[1].0 {
                    return Err(format!(
                        "{side:?} ladder not strictly sorted at key {}",
                        pair[0].0
                    ));
                }
            }
            if ladder
                .rungs
                .last()
                .is_some_and(|&(_, slot)| self.levels[slot as usize].count == 0)
            {
                return Err(format!("{side:?} ladder ends in an empty rung"));
            }
            let mut occupied = 0;
            for &(key, slot) in &ladder.rungs {
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
                if prev != level.tail || count != level.count || qty != level.qty {
                    return Err(format!(
                        "level {}: tail/count/qty {}/{}/{} but queue gives {}/{}/{}",
                        level.price, level.tail, level.count, level.qty, prev, count, qty
                    ));
                }
                if count > 0 {
                    occupied += 1;
                }
                total_orders += count as usize;
            }
            if occupied != ladder.occupied {
                return Err(format!(
                    "{side:?} ladder counts {} occupied levels, holds {occupied}",
                    ladder.occupied
                ));
            }
        }
        let rungs = self.ladders[0].rungs.len() + self.ladders[1].rungs.len();
        if rungs + self.free_levels.len() != self.levels.len() {
            return Err(format!(
                "{rungs} rungs and {} free levels of {}",
                self.free_levels.len(),
                self.levels.len()
            ));
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
