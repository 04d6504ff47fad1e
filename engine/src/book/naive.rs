//! The reference book: a flat list of handles per side. Every question scans the list, so there is little to get
//! wrong. It is slow on purpose and used only to check `FastBook`.

use super::{LevelView, OrderBook};
use crate::order::{Handle, OrderPool};
use crate::types::{Price, Qty, Side};

#[derive(Debug, Clone)]
pub struct NaiveBook {
    /// Each side's handles in arrival order: an order joins at the back and a refilled iceberg rejoins there.
    sides: [Vec<Handle>; 2],
    max_levels_per_side: usize,
}

impl NaiveBook {
    /// The side's handles sorted by priority: better price first, then earlier arrival (the sort is stable and
    /// the list is in arrival order).
    fn sorted(&self, orders: &OrderPool, side: Side) -> Vec<Handle> {
        let mut handles = self.sides[side.index()].clone();
        handles.sort_by_key(|&h| {
            let price = orders.get(h).price;
            match side {
                Side::Buy => -price,
                Side::Sell => price,
            }
        });
        handles
    }

    fn levels(&self, orders: &OrderPool, side: Side) -> Vec<LevelView> {
        let mut levels: Vec<LevelView> = Vec::new();
        for h in self.sorted(orders, side) {
            let order = orders.get(h);
            match levels.last_mut() {
                Some(level) if level.price == order.price => {
                    level.qty += order.display;
                    level.orders += 1;
                }
                _ => levels.push(LevelView {
                    price: order.price,
                    qty: order.display,
                    orders: 1,
                }),
            }
        }
        levels
    }
}

impl OrderBook for NaiveBook {
    fn with_capacity(max_levels_per_side: u32) -> Self {
        NaiveBook {
            sides: [Vec::new(), Vec::new()],
            max_levels_per_side: max_levels_per_side as usize,
        }
    }

    fn can_insert(&self, orders: &OrderPool, side: Side, price: Price) -> bool {
        let levels = self.levels(orders, side);
        levels.iter().any(|level| level.price == price) || levels.len() < self.max_levels_per_side
    }

    fn insert(&mut self, orders: &mut OrderPool, handle: Handle) {
        self.sides[orders.get(handle).side.index()].push(handle);
    }

    fn remove(&mut self, orders: &mut OrderPool, handle: Handle) {
        let side = orders.get(handle).side.index();
        self.sides[side].retain(|&h| h != handle);
    }

    fn reduce_display(&mut self, orders: &mut OrderPool, handle: Handle, qty: Qty) {
        orders.get_mut(handle).display -= qty;
    }

    fn best(&self, orders: &OrderPool, side: Side) -> Option<Handle> {
        self.sorted(orders, side).first().copied()
    }

    fn best_price(&self, orders: &OrderPool, side: Side) -> Option<Price> {
        self.best(orders, side).map(|h| orders.get(h).price)
    }

    fn visit(&self, orders: &OrderPool, side: Side, mut visit: impl FnMut(Handle) -> bool) {
        for h in self.sorted(orders, side) {
            if !visit(h) {
                break;
            }
        }
    }

    fn visit_levels(
        &self,
        orders: &OrderPool,
        side: Side,
        mut visit: impl FnMut(LevelView) -> bool,
    ) {
        for level in self.levels(orders, side) {
            if !visit(level) {
                break;
            }
        }
    }

    fn order_count(&self) -> usize {
        self.sides[0].len() + self.sides[1].len()
    }

    fn validate(&self, orders: &OrderPool) -> Result<(), String> {
        for side in [Side::Buy, Side::Sell] {
            if self.levels(orders, side).len() > self.max_levels_per_side {
                return Err(format!(
                    "{side:?} side has more than {} levels",
                    self.max_levels_per_side
                ));
            }
            for &h in &self.sides[side.index()] {
                let order = orders.get(h);
                if !order.live || order.side != side || order.display == 0 {
                    return Err(format!(
                        "order in slot {h} is not a live displayed {side:?} order"
                    ));
                }
            }
        }
        Ok(())
    }
}
