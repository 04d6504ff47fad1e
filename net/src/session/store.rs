//! A session's recent outbound messages: a byte ring with an index, so a client that logs in again can be sent
//! every message from the sequence number it asks for.
//!
//! Both rings are allocated once. Appending evicts the oldest messages until the new one fits in the byte ring
//! and the index has a free entry, so memory never grows; a message older than what is held is gone from memory
//! (a later change rebuilds it from the journal).

use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum StoreError {
    #[error(
        "message of {message_bytes} bytes exceeds the store's {max_message_bytes}-byte maximum"
    )]
    MessageTooLarge {
        message_bytes: usize,
        max_message_bytes: usize,
    },
    #[error("no session for this user")]
    UnknownSession,
}

#[derive(Debug, Clone, Copy, Default)]
struct Entry {
    /// Position of the first byte in the byte stream ever appended (not wrapped).
    position: u64,
    len: u32,
}

/// The outbound messages `first_sequence()..next_sequence()` of one session.
#[derive(Debug)]
pub struct OutboundStore {
    bytes: Box<[u8]>,
    index: Box<[Entry]>,
    /// Sequence number of the oldest message held.
    first_sequence: u64,
    /// Sequence number the next appended message gets.
    next_sequence: u64,
    /// Stream position where the oldest held message starts, and where the next one will be written.
    tail_position: u64,
    head_position: u64,
    max_message_bytes: usize,
}

impl OutboundStore {
    /// A store of `capacity_bytes` of message bytes and at most `capacity_messages` messages; a single message
    /// may be at most `capacity_bytes` long. Both capacities are raised to at least 1.
    pub fn new(capacity_bytes: usize, capacity_messages: usize) -> OutboundStore {
        let capacity_bytes = capacity_bytes.max(1);
        OutboundStore {
            bytes: vec![0; capacity_bytes].into_boxed_slice(),
            index: vec![Entry::default(); capacity_messages.max(1)].into_boxed_slice(),
            first_sequence: 1,
            next_sequence: 1,
            tail_position: 0,
            head_position: 0,
            max_message_bytes: capacity_bytes.min(u32::MAX as usize),
        }
    }

    /// Sequence number of the oldest message still held (equals `next_sequence()` when none is).
    pub fn first_sequence(&self) -> u64 {
        self.first_sequence
    }

    /// Sequence number the next appended message will get (messages are numbered from 1).
    pub fn next_sequence(&self) -> u64 {
        self.next_sequence
    }

    pub fn held_messages(&self) -> u64 {
        self.next_sequence - self.first_sequence
    }

    pub fn held_bytes(&self) -> usize {
        (self.head_position - self.tail_position) as usize
    }

    /// Drops every held message and numbers the next one `next_sequence`: a session restored from a snapshot
    /// whose earlier messages are no longer held. Numbers never go backwards: a smaller value is ignored.
    pub fn start_at(&mut self, next_sequence: u64) {
        if next_sequence <= self.next_sequence {
            return;
        }
        self.first_sequence = next_sequence;
        self.next_sequence = next_sequence;
        self.tail_position = self.head_position;
    }

    /// Appends one message and returns its sequence number, evicting the oldest messages as needed.
    pub fn append(&mut self, message: &[u8]) -> Result<u64, StoreError> {
        if message.len() > self.max_message_bytes {
            return Err(StoreError::MessageTooLarge {
                message_bytes: message.len(),
                max_message_bytes: self.max_message_bytes,
            });
        }
        let capacity_bytes = self.bytes.len() as u64;
        let capacity_messages = self.index.len() as u64;
        // Bounded: each round removes one held message, and there are at most `capacity_messages`.
        while self.held_messages() > 0
            && (self.held_messages() >= capacity_messages
                || self.held_bytes() + message.len() > self.bytes.len())
        {
            let oldest = self.index[(self.first_sequence % capacity_messages) as usize];
            self.tail_position = oldest.position + u64::from(oldest.len);
            self.first_sequence += 1;
        }
        let start = (self.head_position % capacity_bytes) as usize;
        let first = message.len().min(self.bytes.len() - start);
        self.bytes[start..start + first].copy_from_slice(&message[..first]);
        self.bytes[..message.len() - first].copy_from_slice(&message[first..]);
        let sequence = self.next_sequence;
        self.index[(sequence % capacity_messages) as usize] = Entry {
            position: self.head_position,
            len: message.len() as u32,
        };
        self.head_position += message.len() as u64;
        self.next_sequence += 1;
        if self.held_messages() == 1 {
            self.tail_position = self.index[(sequence % capacity_messages) as usize].position;
        }
        Ok(sequence)
    }

    /// Message `sequence` as one or two slices (two when it wraps around the ring's end), or `None` when it is
    /// not held (evicted, or not yet appended).
    pub fn get(&self, sequence: u64) -> Option<(&[u8], &[u8])> {
        if sequence < self.first_sequence || sequence >= self.next_sequence {
            return None;
        }
        let entry = self.index[(sequence % self.index.len() as u64) as usize];
        let start = (entry.position % self.bytes.len() as u64) as usize;
        let len = entry.len as usize;
        let first = len.min(self.bytes.len() - start);
        Some((
            &self.bytes[start..start + first],
            &self.bytes[..len - first],
        ))
    }

    /// Bytes of message `sequence`, if held.
    pub fn message_bytes(&self, sequence: u64) -> Option<usize> {
        self.get(sequence).map(|(a, b)| a.len() + b.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(store: &OutboundStore, sequence: u64) -> Option<Vec<u8>> {
        store.get(sequence).map(|(a, b)| [a, b].concat())
    }

    #[test]
    fn messages_are_numbered_from_one_and_read_back_across_the_ring_end() {
        let mut store = OutboundStore::new(10, 8);
        assert_eq!(store.append(b"abcd").unwrap(), 1);
        assert_eq!(store.append(b"efgh").unwrap(), 2);
        // The third message wraps: "ij" at the end of the ring, "kl" at its start, evicting message 1.
        assert_eq!(store.append(b"ijkl").unwrap(), 3);
        assert_eq!(store.first_sequence(), 2);
        assert_eq!(joined(&store, 1), None);
        assert_eq!(joined(&store, 2).unwrap(), b"efgh");
        assert_eq!(joined(&store, 3).unwrap(), b"ijkl");
        assert_eq!(joined(&store, 4), None);
        assert_eq!(store.held_bytes(), 8);
    }

    #[test]
    fn the_index_bound_evicts_too() {
        let mut store = OutboundStore::new(100, 2);
        for message in [b"a", b"b", b"c"] {
            store.append(message).unwrap();
        }
        assert_eq!((store.first_sequence(), store.next_sequence()), (2, 4));
        assert_eq!(joined(&store, 2).unwrap(), b"b");
    }

    #[test]
    fn a_message_larger_than_the_ring_is_refused_and_nothing_changes() {
        let mut store = OutboundStore::new(4, 4);
        store.append(b"ab").unwrap();
        assert!(store.append(b"abcde").is_err());
        assert_eq!(joined(&store, 1).unwrap(), b"ab");
        assert_eq!(store.append(b"wxyz").unwrap(), 2);
        assert_eq!(store.first_sequence(), 2);
        assert_eq!(joined(&store, 2).unwrap(), b"wxyz");
    }

    #[test]
    fn random_appends_keep_the_newest_messages_intact() {
        let mut store = OutboundStore::new(37, 5);
        let mut all: Vec<Vec<u8>> = Vec::new();
        for i in 0..500u32 {
            let message: Vec<u8> = (0..(i * 7 % 13) as u8).map(|b| b ^ i as u8).collect();
            assert_eq!(store.append(&message).unwrap(), u64::from(i) + 1);
            all.push(message);
            assert!(store.held_bytes() <= 37 && store.held_messages() <= 5);
            for sequence in store.first_sequence()..store.next_sequence() {
                assert_eq!(
                    joined(&store, sequence).unwrap(),
                    all[(sequence - 1) as usize]
                );
            }
        }
    }
}
