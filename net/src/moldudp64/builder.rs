//! Packs messages into MoldUDP64 downstream packets.

use super::packet::{Header, END_OF_SESSION_COUNT, HEADER_BYTES, MESSAGE_LENGTH_BYTES};
use super::MoldError;
use crate::wire::EncodeError;

/// Largest UDP payload over IPv4.
const MAX_UDP_PAYLOAD_BYTES: usize = 65_507;
/// A data packet's count must stay below the end-of-session marker.
const MAX_MESSAGES_PER_PACKET: u16 = END_OF_SESSION_COUNT - 1;

/// Builds one downstream packet at a time in a buffer allocated once, numbering messages consecutively across
/// packets.
///
/// Use: `push` (or `reserve` and encode in place) until it returns `Ok(false)` (no room) or the batch ends,
/// send `packet()`, then `advance()` to start the next packet after the messages just sent.
#[derive(Debug)]
pub struct PacketBuilder {
    buffer: Box<[u8]>,
    len: usize,
    session: [u8; 10],
    /// Sequence number of the first message of the packet being built.
    sequence_number: u64,
    message_count: u16,
}

impl PacketBuilder {
    /// A builder whose packets hold at most `max_packet_bytes` (header included; e.g. 1,400 to stay inside a
    /// 1,500-byte Ethernet MTU), kept between a header plus one empty block and the largest UDP payload. The
    /// first message pushed gets `next_sequence_number`.
    pub fn new(session: [u8; 10], next_sequence_number: u64, max_packet_bytes: usize) -> Self {
        let max_packet_bytes =
            max_packet_bytes.clamp(HEADER_BYTES + MESSAGE_LENGTH_BYTES, MAX_UDP_PAYLOAD_BYTES);
        PacketBuilder {
            buffer: vec![0; max_packet_bytes].into_boxed_slice(),
            len: HEADER_BYTES,
            session,
            sequence_number: next_sequence_number,
            message_count: 0,
        }
    }

    pub fn max_packet_bytes(&self) -> usize {
        self.buffer.len()
    }

    /// Messages in the packet being built.
    pub fn message_count(&self) -> u16 {
        self.message_count
    }

    pub fn is_empty(&self) -> bool {
        self.message_count == 0
    }

    /// The sequence number the next pushed message will get.
    pub fn next_sequence_number(&self) -> u64 {
        self.sequence_number + u64::from(self.message_count)
    }

    /// Appends a message. `Ok(false)`: the packet has no room left for it (send and `advance`, then push again).
    /// A message too large for any packet is an error.
    pub fn push(&mut self, message: &[u8]) -> Result<bool, MoldError> {
        match self.reserve(message.len())? {
            Some(slot) => {
                slot.copy_from_slice(message);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Appends a block of `message_bytes` and returns its slot for the caller to fill (an ITCH encoder writes
    /// straight into the packet). `Ok(None)`: no room in this packet.
    pub fn reserve(&mut self, message_bytes: usize) -> Result<Option<&mut [u8]>, MoldError> {
        let block_bytes = MESSAGE_LENGTH_BYTES + message_bytes;
        let (Ok(length), true) = (
            u16::try_from(message_bytes),
            HEADER_BYTES + block_bytes <= self.buffer.len(),
        ) else {
            return Err(MoldError::MessageTooLarge {
                message_bytes,
                max_packet_bytes: self.buffer.len(),
            });
        };
        if self.len + block_bytes > self.buffer.len()
            || self.message_count == MAX_MESSAGES_PER_PACKET
        {
            return Ok(None);
        }
        let start = self.len;
        self.len += block_bytes;
        self.message_count += 1;
        let block = self.buffer.get_mut(start..self.len).unwrap_or_default();
        let (length_field, slot) = block.split_at_mut(MESSAGE_LENGTH_BYTES.min(block.len()));
        length_field.copy_from_slice(&length.to_be_bytes());
        Ok(Some(slot))
    }

    /// The packet built so far, header written: ready to send.
    pub fn packet(&mut self) -> &[u8] {
        let header = Header {
            session: self.session,
            sequence_number: self.sequence_number,
            message_count: self.message_count,
        };
        // The buffer is at least a header long (see `new`), so this cannot fail.
        let _ = header.encode(&mut self.buffer);
        self.buffer.get(..self.len).unwrap_or_default()
    }

    /// Starts the next packet after the messages of this one.
    pub fn advance(&mut self) {
        self.sequence_number += u64::from(self.message_count);
        self.message_count = 0;
        self.len = HEADER_BYTES;
    }

    /// Writes a heartbeat carrying the next sequence number into `out`.
    pub fn heartbeat(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        Header::heartbeat(self.session, self.next_sequence_number()).encode(out)
    }

    /// Writes an end-of-session packet carrying the next sequence number into `out`.
    pub fn end_of_session(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        Header::end_of_session(self.session, self.next_sequence_number()).encode(out)
    }
}
