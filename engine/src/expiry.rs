//! Good-till-time orders by expiry: an indexed binary min-heap of order handles keyed by (expire time, order id).
//! Each order stores its heap position, so a cancel takes its order out in O(log n) and the heap never holds stale
//! entries; its capacity is the order pool's, so it never grows.

use crate::order::{Handle, OrderPool, NIL};
use crate::types::TimestampNs;

#[derive(Debug, Clone)]
pub struct ExpiryHeap {
    heap: Vec<Handle>,
}

#[inline]
fn key(orders: &OrderPool, handle: Handle) -> (TimestampNs, u64) {
    let order = orders.get(handle);
    (order.expire_time_ns, order.id)
}

impl ExpiryHeap {
    pub fn with_capacity(capacity: u32) -> Self {
        ExpiryHeap {
            heap: Vec::with_capacity(capacity as usize),
        }
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The order expiring first.
    pub fn peek(&self) -> Option<Handle> {
        self.heap.first().copied()
    }

    pub fn next_expiry_ns(&self, orders: &OrderPool) -> Option<TimestampNs> {
        self.peek().map(|h| orders.get(h).expire_time_ns)
    }

    pub fn push(&mut self, orders: &mut OrderPool, handle: Handle) {
        // One entry per live order and at most one live order per pool slot: never beyond the capacity.
        self.heap.push(handle);
        let pos = self.heap.len() - 1;
        orders.get_mut(handle).heap_pos = pos as u32;
        self.sift_up(orders, pos);
    }

    pub fn remove(&mut self, orders: &mut OrderPool, handle: Handle) {
        let pos = orders.get(handle).heap_pos;
        if pos == NIL {
            return;
        }
        let pos = pos as usize;
        let last = self.heap.len() - 1;
        self.swap(orders, pos, last);
        self.heap.pop();
        orders.get_mut(handle).heap_pos = NIL;
        if pos < self.heap.len() {
            self.sift_down(orders, pos);
            self.sift_up(orders, pos);
        }
    }

    fn swap(&mut self, orders: &mut OrderPool, a: usize, b: usize) {
        self.heap.swap(a, b);
        orders.get_mut(self.heap[a]).heap_pos = a as u32;
        orders.get_mut(self.heap[b]).heap_pos = b as u32;
    }

    fn sift_up(&mut self, orders: &mut OrderPool, mut pos: usize) {
        while pos > 0 {
            let parent = (pos - 1) / 2;
            if key(orders, self.heap[pos]) >= key(orders, self.heap[parent]) {
                break;
            }
            self.swap(orders, pos, parent);
            pos = parent;
        }
    }

    fn sift_down(&mut self, orders: &mut OrderPool, mut pos: usize) {
        loop {
            let left = 2 * pos + 1;
            if left >= self.heap.len() {
                break;
            }
            let right = left + 1;
            let mut child = left;
            if right < self.heap.len()
                && key(orders, self.heap[right]) < key(orders, self.heap[left])
            {
                child = right;
            }
            if key(orders, self.heap[child]) >= key(orders, self.heap[pos]) {
                break;
            }
            self.swap(orders, pos, child);
            pos = child;
        }
    }

    /// Checks the heap property and every stored position.
    pub fn validate(&self, orders: &OrderPool) -> Result<(), String> {
        for (pos, &handle) in self.heap.iter().enumerate() {
            if orders.get(handle).heap_pos != pos as u32 {
                return Err(format!("expiry heap position of slot {handle} is stale"));
            }
            if pos > 0 && key(orders, handle) < key(orders, self.heap[(pos - 1) / 2]) {
                return Err(format!("expiry heap out of order at position {pos}"));
            }
        }
        Ok(())
    }
}
