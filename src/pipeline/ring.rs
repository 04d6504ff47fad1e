//! A bounded single-producer single-consumer ring, the link between two pipeline stages.
//!
//! Slots are preallocated; the producer writes slots and publishes them in batches by storing its tail with
//! Release, the consumer reads every slot up to the tail it loaded with Acquire and hands them back in batches
//! by storing its head. Head and tail sit on their own cache lines (crossbeam-utils' `CachePadded`), and each
//! side keeps a private copy of the other's index so that it touches the shared line only when its copy says the
//! ring is full (producer) or empty (consumer). No locks and no allocation after `ring`.

use crossbeam_utils::CachePadded;
use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

struct Shared<T> {
    /// Next slot the consumer will read (count of slots consumed).
    head: CachePadded<AtomicU64>,
    /// Next slot the producer will publish (count of slots published).
    tail: CachePadded<AtomicU64>,
    /// A power of two of them; each end keeps `len - 1` as its index mask.
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
}

// SAFETY: a slot is written only by the producer while it is outside head..tail and read only by the consumer
// while it is inside; the Release/Acquire pairs on `tail` and `head` order those accesses. `T: Send` because
// values move from the producer's thread to the consumer's.
unsafe impl<T: Send> Sync for Shared<T> {}
// SAFETY: as above; the shared state holds only `T: Send` values and atomics.
unsafe impl<T: Send> Send for Shared<T> {}

/// The writing end.
pub struct Producer<T> {
    shared: Arc<Shared<T>>,
    /// Slots written, published or not.
    tail: u64,
    /// Slots published (the shared tail as this side last stored it).
    published: u64,
    /// The consumer's head as last loaded.
    head_cache: u64,
    /// Slot count minus one (the slot count is a power of two), kept here so that a write touches only this
    /// side's own fields and the slot.
    mask: u64,
}

/// The reading end.
pub struct Consumer<T> {
    shared: Arc<Shared<T>>,
    /// Slots consumed and handed back, or about to be.
    head: u64,
    /// The producer's tail as last loaded.
    tail_cache: u64,
    /// Slot count minus one, like the producer's.
    mask: u64,
}

/// A ring of `capacity` slots (rounded up to a power of two, at least 2).
pub fn ring<T: Copy + Send>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    let capacity = capacity.max(2).next_power_of_two();
    let slots = (0..capacity)
        .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
        .collect();
    let mask = capacity as u64 - 1;
    let shared = Arc::new(Shared {
        head: CachePadded::new(AtomicU64::new(0)),
        tail: CachePadded::new(AtomicU64::new(0)),
        slots,
    });
    (
        Producer {
            shared: Arc::clone(&shared),
            tail: 0,
            published: 0,
            head_cache: 0,
            mask,
        },
        Consumer {
            shared,
            head: 0,
            tail_cache: 0,
            mask,
        },
    )
}

impl<T: Copy + Send> Producer<T> {
    /// Writes `value` into the next slot without publishing it; false when the ring is full.
    #[inline]
    pub fn try_write(&mut self, value: T) -> bool {
        // The capacity is `mask + 1`: a full ring has `tail - head > mask`.
        if self.tail - self.head_cache > self.mask {
            self.head_cache = self.shared.head.load(Ordering::Acquire);
            if self.tail - self.head_cache > self.mask {
                return false;
            }
        }
        // SAFETY: `slots` has `mask + 1` entries (a power of two), so the masked index is in bounds.
        let slot = unsafe {
            self.shared
                .slots
                .get_unchecked((self.tail & self.mask) as usize)
        };
        // SAFETY: `tail - head < capacity`, so this slot is outside the consumer's readable range head..tail and
        // no one else writes it: the producer is unique (`Producer` is not Clone).
        unsafe { (*slot.get()).write(value) };
        self.tail += 1;
        true
    }

    /// Makes every written slot visible to the consumer; true when there was something new (the shared tail is
    /// stored only then, so an idle producer does not touch the consumer's cache line).
    #[inline]
    pub fn publish(&mut self) -> bool {
        if self.tail == self.published {
            return false;
        }
        self.shared.tail.store(self.tail, Ordering::Release);
        self.published = self.tail;
        true
    }

    /// Slots published and not yet handed back by the consumer (an occupancy gauge; racy by nature).
    pub fn occupancy(&self) -> u64 {
        self.tail
            .saturating_sub(self.shared.head.load(Ordering::Relaxed))
    }
}

impl<T: Copy + Send> Consumer<T> {
    /// Slots published and not yet read (loads the producer's tail: call it once per batch).
    #[inline]
    pub fn available(&mut self) -> u64 {
        self.tail_cache = self.shared.tail.load(Ordering::Acquire);
        self.tail_cache - self.head
    }

    /// Reads the next published slot, or `None` when none is published. The slot is handed back to the
    /// producer only by `release`, so a batch is read first and released once.
    #[inline]
    pub fn peek(&mut self, offset: u64) -> Option<T> {
        if offset >= self.tail_cache - self.head && offset >= self.available() {
            return None;
        }
        // SAFETY: `slots` has `mask + 1` entries (a power of two), so the masked index is in bounds.
        let slot = unsafe {
            self.shared
                .slots
                .get_unchecked(((self.head + offset) & self.mask) as usize)
        };
        // SAFETY: head + offset < tail as loaded with Acquire, so the producer wrote this slot and published it
        // with Release before; it will not write it again until `head` moves past it.
        Some(unsafe { (*slot.get()).assume_init() })
    }

    /// Hands `count` read slots back to the producer.
    #[inline]
    pub fn release(&mut self, count: u64) {
        debug_assert!(count <= self.tail_cache - self.head);
        self.head += count.min(self.tail_cache - self.head);
        self.shared.head.store(self.head, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_arrive_in_order_across_wraps() {
        let (mut tx, mut rx) = ring::<u64>(4);
        let mut next_expected = 0;
        for round in 0..100u64 {
            for i in 0..3 {
                assert!(tx.try_write(round * 3 + i));
            }
            tx.publish();
            let n = rx.available();
            assert_eq!(n, 3);
            for i in 0..n {
                assert_eq!(rx.peek(i), Some(next_expected));
                next_expected += 1;
            }
            rx.release(n);
        }
    }

    #[test]
    fn full_ring_refuses_and_unpublished_slots_are_invisible() {
        let (mut tx, mut rx) = ring::<u32>(2);
        assert!(tx.try_write(1));
        assert!(tx.try_write(2));
        assert!(!tx.try_write(3));
        assert_eq!(rx.available(), 0);
        tx.publish();
        assert_eq!(rx.available(), 2);
        rx.release(1);
        assert!(tx.try_write(3));
        tx.publish();
        assert_eq!(rx.peek(0), Some(2));
        assert_eq!(rx.peek(1), Some(3));
        assert_eq!(rx.peek(2), None);
    }

    #[test]
    fn two_threads_pass_a_million_values() {
        let (mut tx, mut rx) = ring::<u64>(1024);
        let count = 1_000_000u64;
        let producer = std::thread::spawn(move || {
            let mut i = 0;
            while i < count {
                while i < count && tx.try_write(i) {
                    i += 1;
                }
                tx.publish();
                std::hint::spin_loop();
            }
        });
        let mut expected = 0u64;
        let mut sum = 0u64;
        while expected < count {
            let n = rx.available();
            for k in 0..n {
                let v = rx.peek(k).expect("published");
                assert_eq!(v, expected);
                sum = sum.wrapping_add(v);
                expected += 1;
            }
            rx.release(n);
        }
        producer.join().expect("producer");
        assert_eq!(sum, count * (count - 1) / 2);
    }
}
