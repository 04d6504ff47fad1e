//! MoldUDP64 publishing: packets, heartbeats and a bounded retransmission store.

use super::FeedError;
use crate::itch::Message;
use crate::moldudp64::{Header, PacketBuilder, RequestPacket, HEADER_BYTES, MESSAGE_LENGTH_BYTES};

/// Bytes of one retransmission store slot: every ITCH message Crossline sends fits (the largest, Trade, is 44).
pub const MAX_STORED_MESSAGE_BYTES: usize = 64;

/// Publisher settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublisherConfig {
    /// MoldUDP64 session name (10 bytes, alphanumeric, space-padded).
    pub session: [u8; 10],
    /// Sequence number of the first message (1 for a new session).
    pub first_sequence_number: u64,
    /// Largest datagram, header included (e.g. 1,400 to stay inside a 1,500-byte MTU).
    pub max_packet_bytes: usize,
    /// A heartbeat goes out after this long without any packet.
    pub heartbeat_interval_ns: u64,
    /// Messages the retransmission store holds (the last N by sequence number); at least 1.
    pub store_messages: usize,
    /// Most messages one retransmission answer carries (also limited by `max_packet_bytes`).
    pub max_messages_per_request: u16,
}

impl Default for PublisherConfig {
    fn default() -> Self {
        PublisherConfig {
            session: *b"CROSSLINE ",
            first_sequence_number: 1,
            max_packet_bytes: 1_400,
            heartbeat_interval_ns: 1_000_000_000,
            store_messages: 65_536,
            max_messages_per_request: 256,
        }
    }
}

/// The answer to a retransmission request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetransmitAnswer {
    /// A downstream packet of `message_count` messages from `first_sequence_number`, `packet_bytes` long, was
    /// written to the output buffer.
    Packet {
        first_sequence_number: u64,
        message_count: u16,
        packet_bytes: usize,
    },
    /// The request starts before the oldest message held; the store can go back to `oldest_held` (a
    /// subscriber that far behind needs a snapshot instead).
    TooOld { oldest_held: u64 },
    /// Nothing to send: a zero count, or a sequence number not published yet.
    NothingToSend,
    /// The request names another session.
    WrongSession,
}

/// Packs ITCH messages into MoldUDP64 packets. Buffers are allocated once in `new`; publishing, flushing,
/// heartbeats and retransmission answers do not allocate. Packets are handed to a `send` closure.
#[derive(Debug)]
pub struct MoldPublisher {
    config: PublisherConfig,
    builder: PacketBuilder,
    /// `store_messages` slots of `MAX_STORED_MESSAGE_BYTES`; slot of sequence s is `s % store_messages`.
    store: Box<[u8]>,
    store_lengths: Box<[u8]>,
    /// Messages held: sequence numbers `next - held .. next`.
    held: u64,
    last_packet_ns: u64,
}

impl MoldPublisher {
    pub fn new(config: PublisherConfig, now_ns: u64) -> Self {
        let config = PublisherConfig {
            store_messages: config.store_messages.max(1),
            max_messages_per_request: config.max_messages_per_request.max(1),
            ..config
        };
        MoldPublisher {
            builder: PacketBuilder::new(
                config.session,
                config.first_sequence_number,
                config.max_packet_bytes,
            ),
            store: vec![0; config.store_messages * MAX_STORED_MESSAGE_BYTES].into_boxed_slice(),
            store_lengths: vec![0; config.store_messages].into_boxed_slice(),
            held: 0,
            last_packet_ns: now_ns,
            config,
        }
    }

    pub fn config(&self) -> &PublisherConfig {
        &self.config
    }

    /// The sequence number the next published message gets.
    pub fn next_sequence_number(&self) -> u64 {
        self.builder.next_sequence_number()
    }

    /// The oldest sequence number the store can retransmit (equal to `next_sequence_number` when empty).
    pub fn oldest_held(&self) -> u64 {
        self.next_sequence_number() - self.held
    }

    /// Adds a message to the current packet, sending the packet first when full; returns its sequence number.
    pub fn publish(
        &mut self,
        message: &Message,
        now_ns: u64,
        send: &mut impl FnMut(&[u8]),
    ) -> Result<u64, FeedError> {
        let message_bytes = message.encoded_len();
        if message_bytes > MAX_STORED_MESSAGE_BYTES {
            return Err(FeedError::MessageTooLarge { message_bytes });
        }
        let sequence_number = self.builder.next_sequence_number();
        let mut written = None;
        for _ in 0..2 {
            let slot = self
                .builder
                .reserve(message_bytes)
                .map_err(|_| FeedError::MessageTooLarge { message_bytes })?;
            if let Some(slot) = slot {
                // The slot is exactly `encoded_len` bytes, so encoding cannot run out of room; a timestamp the
                // encoder refuses was already refused by `FeedEncoder`.
                written = Some(
                    message
                        .encode(slot)
                        .map_err(|_| FeedError::MessageTooLarge { message_bytes })?,
                );
                break;
            }
            self.flush(now_ns, send);
        }
        if written.is_none() {
            return Err(FeedError::MessageTooLarge { message_bytes });
        }
        self.store_message(sequence_number, message, message_bytes);
        Ok(sequence_number)
    }

    /// Sends the packet being built, if it holds any message. Call at the end of every batch of events.
    pub fn flush(&mut self, now_ns: u64, send: &mut impl FnMut(&[u8])) {
        if self.builder.is_empty() {
            return;
        }
        send(self.builder.packet());
        self.builder.advance();
        self.last_packet_ns = now_ns;
    }

    /// Sends a heartbeat if nothing was sent for `heartbeat_interval_ns`; returns whether it did.
    pub fn poll_heartbeat(&mut self, now_ns: u64, send: &mut impl FnMut(&[u8])) -> bool {
        if !self.builder.is_empty()
            || now_ns.saturating_sub(self.last_packet_ns) < self.config.heartbeat_interval_ns
        {
            return false;
        }
        let mut packet = [0u8; HEADER_BYTES];
        if self.builder.heartbeat(&mut packet).is_err() {
            return false;
        }
        send(&packet);
        self.last_packet_ns = now_ns;
        true
    }

    /// Writes an end-of-session packet into `out`; returns its length (0 if `out` is shorter than a header).
    pub fn end_of_session(&self, out: &mut [u8]) -> usize {
        self.builder.end_of_session(out).unwrap_or(0)
    }

    /// Answers a retransmission request from the store, writing a downstream packet into `out` (give it
    /// `max_packet_bytes`). At most `max_messages_per_request` messages, and only those that fit `out`.
    pub fn answer_request(&self, request: &RequestPacket, out: &mut [u8]) -> RetransmitAnswer {
        if request.session != self.config.session {
            return RetransmitAnswer::WrongSession;
        }
        let first = request.sequence_number;
        let next = self.next_sequence_number();
        if first < self.oldest_held() {
            return RetransmitAnswer::TooOld {
                oldest_held: self.oldest_held(),
            };
        }
        let wanted = u64::from(
            request
                .requested_message_count
                .min(self.config.max_messages_per_request),
        )
        .min(next.saturating_sub(first));
        let out_len = out.len().min(self.config.max_packet_bytes);
        if wanted == 0 || out_len < HEADER_BYTES {
            return RetransmitAnswer::NothingToSend;
        }
        let mut len = HEADER_BYTES;
        let mut count: u16 = 0;
        for sequence_number in first..first + wanted {
            let message = self.stored(sequence_number);
            let end = len + MESSAGE_LENGTH_BYTES + message.len();
            let Some(block) = out.get_mut(len..end).filter(|_| end <= out_len) else {
                break;
            };
            let (length_field, body) = block.split_at_mut(MESSAGE_LENGTH_BYTES);
            // Stored messages are at most MAX_STORED_MESSAGE_BYTES long.
            length_field.copy_from_slice(&(message.len() as u16).to_be_bytes());
            body.copy_from_slice(message);
            len = end;
            count += 1;
        }
        if count == 0 {
            return RetransmitAnswer::NothingToSend;
        }
        let header = Header {
            session: self.config.session,
            sequence_number: first,
            message_count: count,
        };
        if header.encode(out).is_err() {
            return RetransmitAnswer::NothingToSend;
        }
        RetransmitAnswer::Packet {
            first_sequence_number: first,
            message_count: count,
            packet_bytes: len,
        }
    }

    fn slot_index(&self, sequence_number: u64) -> usize {
        // The remainder is below `store_messages`, a usize.
        (sequence_number % self.config.store_messages as u64) as usize
    }

    fn store_message(&mut self, sequence_number: u64, message: &Message, message_bytes: usize) {
        let index = self.slot_index(sequence_number);
        let start = index * MAX_STORED_MESSAGE_BYTES;
        if let Some(slot) = self.store.get_mut(start..start + message_bytes) {
            let _ = message.encode(slot);
        }
        if let Some(length) = self.store_lengths.get_mut(index) {
            // At most MAX_STORED_MESSAGE_BYTES, checked in `publish`.
            *length = message_bytes as u8;
        }
        self.held = (self.held + 1).min(self.config.store_messages as u64);
    }

    fn stored(&self, sequence_number: u64) -> &[u8] {
        let index = self.slot_index(sequence_number);
        let length = usize::from(self.store_lengths.get(index).copied().unwrap_or(0));
        let start = index * MAX_STORED_MESSAGE_BYTES;
        self.store.get(start..start + length).unwrap_or_default()
    }
}
