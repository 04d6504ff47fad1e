//! The hash of the book's integer keys (order reference numbers, stock locates): one 64x64-bit multiply whose two
//! halves are folded together.
//!
//! The standard map's SipHash is built to resist keys chosen by an attacker, and costs a third of
//! `BookBuilder::apply` (BENCHMARKS.md, "The ITCH book's hash"). The book's keys come from the venue's own feed:
//! order references the matching engine hands out one after another, and a few stock locates. The multiply spreads
//! consecutive references over the whole word (the map takes its bucket from the low bits and its tag from the
//! high ones), and the fold keeps the high half's mixing in the low bits.

use std::hash::{BuildHasherDefault, Hasher};

/// Builds `KeyHasher`s; the map type parameter.
pub type KeyHash = BuildHasherDefault<KeyHasher>;

/// An odd constant with well-spread bits (2^64 divided by the golden ratio).
const MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;

/// Hashes integer keys; any other input is folded in eight bytes at a time.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyHasher {
    state: u64,
}

#[inline]
fn fold_multiply(value: u64) -> u64 {
    let product = u128::from(value) * u128::from(MULTIPLIER);
    (product as u64) ^ ((product >> 64) as u64)
}

impl Hasher for KeyHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.state = fold_multiply(self.state.rotate_left(23) ^ value);
    }

    #[inline]
    fn write_u16(&mut self, value: u16) {
        self.write_u64(u64::from(value));
    }

    #[inline]
    fn write_u32(&mut self, value: u32) {
        self.write_u64(u64::from(value));
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};
    use std::hash::BuildHasher;

    fn hash_of(key: u64) -> u64 {
        KeyHash::default().hash_one(key)
    }

    #[test]
    fn consecutive_references_spread_over_the_low_and_the_high_bits() {
        // A map of 2^k buckets takes its bucket from the low bits and a 7-bit tag from the top ones: 4,096
        // consecutive references must fill most of 4,096 buckets, and most of the 128 tags.
        let keys = 1_000_000u64..1_004_096;
        let buckets: HashSet<u64> = keys.clone().map(|key| hash_of(key) & 4_095).collect();
        let tags: HashSet<u64> = keys.map(|key| hash_of(key) >> 57).collect();
        assert!(buckets.len() > 2_500, "{} buckets of 4,096", buckets.len());
        assert_eq!(tags.len(), 128);
    }

    #[test]
    fn equal_keys_hash_alike_and_a_map_keyed_by_it_works() {
        assert_eq!(hash_of(42), hash_of(42));
        assert_ne!(hash_of(42), hash_of(43));
        let build = KeyHash::default();
        assert_eq!(build.hash_one(7u16), build.hash_one(7u16));
        assert_eq!(build.hash_one(&b"ACME"[..]), build.hash_one(&b"ACME"[..]));
        assert_ne!(build.hash_one(&b"ACME"[..]), build.hash_one(&b"ACMF"[..]));
        let mut map: HashMap<u64, u64, KeyHash> = HashMap::default();
        for key in 0..10_000 {
            map.insert(key * 3, key);
        }
        for key in 0..10_000 {
            assert_eq!(map.get(&(key * 3)), Some(&key));
            assert_eq!(map.get(&(key * 3 + 1)), None);
        }
        for key in 0..5_000 {
            assert_eq!(map.remove(&(key * 3)), Some(key));
        }
        assert_eq!(map.len(), 5_000);
    }
}
