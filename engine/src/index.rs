//! A fixed-capacity hash map from u64 keys to u32 values: open addressing, linear probing and backward-shift
//! deletion, so it never allocates after construction and never accumulates tombstones. Every u64 is a valid key:
//! the one the slots use to mean "empty" is kept beside them.

const EMPTY: u64 = u64::MAX;

#[derive(Debug, Clone)]
pub struct FixedIndex {
    keys: Box<[u64]>,
    values: Box<[u32]>,
    mask: usize,
    len: usize,
    max_len: usize,
    /// The value of the key `EMPTY`, which cannot live in a slot.
    empty_key_value: Option<u32>,
}

impl FixedIndex {
    /// Room for `max_len` entries at a load factor of at most one half.
    pub fn with_capacity(max_len: usize) -> Self {
        let slots = (max_len.max(1) * 2).next_power_of_two();
        FixedIndex {
            keys: vec![EMPTY; slots].into_boxed_slice(),
            values: vec![0; slots].into_boxed_slice(),
            mask: slots - 1,
            len: 0,
            max_len,
            empty_key_value: None,
        }
    }

    #[inline]
    fn home(&self, key: u64) -> usize {
        // Fibonacci hashing: the high bits of the product are well mixed.
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & self.mask
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
            let k = self.keys[slot];
            if k == key {
                return Some(self.values[slot]);
            }
            if k == EMPTY {
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
            let k = self.keys[slot];
            if k == key {
                return false;
            }
            if k == EMPTY {
                self.keys[slot] = key;
                self.values[slot] = value;
                self.len += 1;
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
            let k = self.keys[slot];
            if k == EMPTY {
                return None;
            }
            if k == key {
                break;
            }
            slot = (slot + 1) & self.mask;
        }
        let value = self.values[slot];
        // Backward shift: move later entries of the probe run into the hole when their home allows it.
        let mut hole = slot;
        let mut next = (hole + 1) & self.mask;
        loop {
            let k = self.keys[next];
            if k == EMPTY {
                break;
            }
            let home = self.home(k);
            // The entry at `next` may move to `hole` if its home is not cyclically within (hole, next].
            let distance_to_next = next.wrapping_sub(home) & self.mask;
            let distance_to_hole = hole.wrapping_sub(home) & self.mask;
            if distance_to_hole < distance_to_next {
                self.keys[hole] = k;
                self.values[hole] = self.values[next];
                hole = next;
            }
            next = (next + 1) & self.mask;
        }
        self.keys[hole] = EMPTY;
        self.len -= 1;
        Some(value)
    }

    /// Every (key, value), in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.keys
            .iter()
            .zip(self.values.iter())
            .filter(|(k, _)| **k != EMPTY)
            .map(|(k, v)| (*k, *v))
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
}
