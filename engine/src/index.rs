//! A fixed-capacity hash map from u64 keys to u32 values: open addressing, linear probing and backward-shift
//! deletion, so it never allocates after construction and never accumulates tombstones. Every u64 is a valid key:
//! the one the slots use to mean "empty" is kept beside them.
//!
//! A slot holds its key and its value together, four slots to a 64-byte bucket aligned to a cache line, and keys
//! that differ only in their two low bits start their probe in the same bucket: the keys here are (session,
//! UserRefNum) pairs, and a session's UserRefNums increase, so the orders a session enters one after another share
//! a cache line, and a cancel of a recent order finds the line its entry already brought in. The rest of the key
//! is spread by Fibonacci hashing, so buckets fill evenly.

const EMPTY: u64 = u64::MAX;
const SLOTS_PER_BUCKET: usize = 4;
/// The key bits that choose the slot within the home bucket.
const LANE_BITS: u32 = SLOTS_PER_BUCKET.trailing_zeros();

#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct Slot {
    key: u64,
    value: u32,
}

const EMPTY_SLOT: Slot = Slot {
    key: EMPTY,
    value: 0,
};

#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Bucket([Slot; SLOTS_PER_BUCKET]);

#[derive(Debug, Clone)]
pub struct FixedIndex {
    buckets: Box<[Bucket]>,
    /// Slot count minus one; the slot count is a power of two and at least one bucket.
    mask: usize,
    len: usize,
    max_len: usize,
    /// The value of the key `EMPTY`, which cannot live in a slot.
    empty_key_value: Option<u32>,
}

impl FixedIndex {
    /// Room for `max_len` entries at a load factor of at most one half.
    pub fn with_capacity(max_len: usize) -> Self {
        let slots = (max_len.max(1) * 2)
            .max(SLOTS_PER_BUCKET)
            .next_power_of_two();
        FixedIndex {
            buckets: vec![Bucket([EMPTY_SLOT; SLOTS_PER_BUCKET]); slots / SLOTS_PER_BUCKET]
                .into_boxed_slice(),
            mask: slots - 1,
            len: 0,
            max_len,
            empty_key_value: None,
        }
    }

    #[inline]
    fn home(&self, key: u64) -> usize {
        // Fibonacci hashing of all but the lane bits picks the bucket (the high bits of the product are well
        // mixed); the lane bits pick the slot in it.
        let bucket = ((key >> LANE_BITS).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize;
        ((bucket << LANE_BITS) | (key as usize & (SLOTS_PER_BUCKET - 1))) & self.mask
    }

    /// Starts loading the home bucket of `key` into the cache. Called with the first key of the next block when a
    /// block's first key is inserted: a session's next four orders will look there, four orders from now.
    #[inline]
    fn prefetch_home(&self, key: u64) {
        #[cfg(target_arch = "x86_64")]
        {
            let bucket: *const Bucket = &self.buckets[self.home(key) / SLOTS_PER_BUCKET];
            // SAFETY: a prefetch is a hint that reads nothing and cannot fault; the pointer is to a live element,
            // and SSE (which has the instruction) is part of every x86_64 target.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    bucket.cast(),
                );
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = key;
    }

    #[inline]
    fn slot(&self, slot: usize) -> &Slot {
        &self.buckets[slot / SLOTS_PER_BUCKET].0[slot % SLOTS_PER_BUCKET]
    }

    #[inline]
    fn slot_mut(&mut self, slot: usize) -> &mut Slot {
        &mut self.buckets[slot / SLOTS_PER_BUCKET].0[slot % SLOTS_PER_BUCKET]
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub fn get(&self, key: u64) -> Option<u32> {
        if key == EMPTY {
            return self.empty_key_value;
        }
        let mut slot = self.home(key);
        loop {
            let entry = self.slot(slot);
            if entry.key == key {
                return Some(entry.value);
            }
            if entry.key == EMPTY {
                return None;
            }
            slot = (slot + 1) & self.mask;
        }
    }

    /// Inserts a new key. Returns false, changing nothing, if the key exists or the index is full.
    #[inline]
    pub fn insert(&mut self, key: u64, value: u32) -> bool {
        if self.len >= self.max_len {
            return false;
        }
        if key == EMPTY {
            if self.empty_key_value.is_some() {
                return false;
            }
            self.empty_key_value = Some(value);
            self.len += 1;
            return true;
        }
        let mut slot = self.home(key);
        loop {
            let entry = self.slot_mut(slot);
            if entry.key == key {
                return false;
            }
            if entry.key == EMPTY {
                *entry = Slot { key, value };
                self.len += 1;
                if key as usize & (SLOTS_PER_BUCKET - 1) == 0 {
                    self.prefetch_home(key.wrapping_add(SLOTS_PER_BUCKET as u64));
                }
                return true;
            }
            slot = (slot + 1) & self.mask;
        }
    }

    /// Removes a key, returning its value.
    #[inline]
    pub fn remove(&mut self, key: u64) -> Option<u32> {
        if key == EMPTY {
            let value = self.empty_key_value.take()?;
            self.len -= 1;
            return Some(value);
        }
        let mut slot = self.home(key);
        loop {
            let k = self.slot(slot).key;
            if k == EMPTY {
                return None;
            }
            if k == key {
                break;
            }
            slot = (slot + 1) & self.mask;
        }
        let value = self.slot(slot).value;
        // Backward shift: move later entries of the probe run into the hole when their home allows it.
        let mut hole = slot;
        let mut next = (hole + 1) & self.mask;
        loop {
            let entry = *self.slot(next);
            if entry.key == EMPTY {
                break;
            }
            let home = self.home(entry.key);
            // The entry at `next` may move to `hole` if its home is not cyclically within (hole, next].
            let distance_to_next = next.wrapping_sub(home) & self.mask;
            let distance_to_hole = hole.wrapping_sub(home) & self.mask;
            if distance_to_hole < distance_to_next {
                *self.slot_mut(hole) = entry;
                hole = next;
            }
            next = (next + 1) & self.mask;
        }
        *self.slot_mut(hole) = EMPTY_SLOT;
        self.len -= 1;
        Some(value)
    }

    /// Every (key, value), in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.buckets
            .iter()
            .flat_map(|bucket| bucket.0.iter())
            .filter(|entry| entry.key != EMPTY)
            .map(|entry| (entry.key, entry.value))
            .chain(self.empty_key_value.map(|v| (EMPTY, v)))
    }
}

/// Packs two 32-bit halves into an index key.
#[inline]
pub fn pair_key(high: u32, low: u32) -> u64 {
    ((high as u64) << 32) | low as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn matches_a_hash_map_under_churn() {
        let mut index = FixedIndex::with_capacity(64);
        let mut model = HashMap::new();
        let mut state = 12345u64;
        for _ in 0..20_000 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Key 96 stands for u64::MAX, the key the slots use to mean "empty".
            let key = match (state >> 40) % 97 {
                96 => u64::MAX,
                key => key,
            };
            let value = (state >> 8) as u32;
            if state & 1 == 0 {
                let inserted = index.insert(key, value);
                let expected = model.len() < 64 && !model.contains_key(&key);
                assert_eq!(inserted, expected);
                if expected {
                    model.insert(key, value);
                }
            } else {
                assert_eq!(index.remove(key), model.remove(&key));
            }
            assert_eq!(index.len(), model.len());
        }
        for (k, v) in &model {
            assert_eq!(index.get(*k), Some(*v));
        }
    }

    #[test]
    fn sessions_entering_and_cancelling_increasing_refs_match_a_hash_map() {
        // The engine's pattern: several sessions, each with increasing UserRefNums (with gaps), cancelling some old
        // and some recent ones; the probe runs this makes across bucket edges must stay consistent under removal.
        let mut index = FixedIndex::with_capacity(256);
        let mut model = HashMap::new();
        let mut next_ref = [1u32; 5];
        let mut state = 99u64;
        for step in 0..50_000u32 {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let session = (state >> 33) as usize % next_ref.len();
            if state & 3 != 0 && model.len() < 256 {
                let key = pair_key(session as u32 + 1, next_ref[session]);
                next_ref[session] += 1 + u32::from((state >> 50).is_multiple_of(3));
                assert!(index.insert(key, step));
                model.insert(key, step);
            } else if let Some(&key) = model
                .keys()
                .nth((state >> 20) as usize % model.len().max(1))
            {
                assert_eq!(index.remove(key), model.remove(&key));
            }
            assert_eq!(index.len(), model.len());
        }
        for (k, v) in &model {
            assert_eq!(index.get(*k), Some(*v));
        }
        assert_eq!(index.iter().count(), model.len());
    }

    #[test]
    fn consecutive_refs_of_a_session_start_in_one_bucket() {
        let index = FixedIndex::with_capacity(1 << 20);
        let homes: Vec<usize> = (8..12).map(|r| index.home(pair_key(7, r))).collect();
        assert!(homes
            .iter()
            .all(|h| h / SLOTS_PER_BUCKET == homes[0] / SLOTS_PER_BUCKET));
        assert_eq!(
            homes
                .iter()
                .map(|h| h % SLOTS_PER_BUCKET)
                .collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        assert_ne!(
            index.home(pair_key(7, 12)) / SLOTS_PER_BUCKET,
            homes[0] / SLOTS_PER_BUCKET,
            "the next four start elsewhere"
        );
    }
}
