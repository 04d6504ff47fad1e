//! MoldUDP64 headers, downstream packets and request packets.

use super::MoldError;
use crate::wire::{check_room, EncodeError, Reader, Writer};

/// Bytes of the downstream packet header.
pub const HEADER_BYTES: usize = 20;
/// Bytes of a message block's length field.
pub const MESSAGE_LENGTH_BYTES: usize = 2;
/// Bytes of a request packet.
pub const REQUEST_BYTES: usize = 20;
/// Message Count of an end-of-session packet.
pub const END_OF_SESSION_COUNT: u16 = 0xFFFF;

/// A downstream packet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub session: [u8; 10],
    /// Sequence number of the first message in the packet; for heartbeats and end of session, the next
    /// sequence number the transmitter will use.
    pub sequence_number: u64,
    pub message_count: u16,
}

impl Header {
    pub fn decode(bytes: &[u8]) -> Result<Header, MoldError> {
        let too_short = MoldError::TooShort {
            actual_bytes: bytes.len(),
        };
        let mut reader = Reader::new(bytes);
        let session = reader.array().map_err(|_| too_short)?;
        let sequence_number = reader.u64().map_err(|_| too_short)?;
        let message_count = reader.u16().map_err(|_| too_short)?;
        Ok(Header {
            session,
            sequence_number,
            message_count,
        })
    }

    /// Writes the 20 header bytes.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        check_room(out, HEADER_BYTES)?;
        let mut writer = Writer::new(out);
        writer.bytes(&self.session);
        writer.u64(self.sequence_number);
        writer.u16(self.message_count);
        writer.finish()
    }

    pub fn kind(&self) -> PacketKind {
        match self.message_count {
            0 => PacketKind::Heartbeat,
            END_OF_SESSION_COUNT => PacketKind::EndOfSession,
            _ => PacketKind::Data,
        }
    }

    /// A heartbeat: no messages, `next_sequence_number` is the next one the transmitter will send.
    pub fn heartbeat(session: [u8; 10], next_sequence_number: u64) -> Header {
        Header {
            session,
            sequence_number: next_sequence_number,
            message_count: 0,
        }
    }

    /// An end-of-session marker, sent for a while in place of heartbeats when the session is over.
    pub fn end_of_session(session: [u8; 10], next_sequence_number: u64) -> Header {
        Header {
            session,
            sequence_number: next_sequence_number,
            message_count: END_OF_SESSION_COUNT,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    Data,
    Heartbeat,
    EndOfSession,
}

/// A validated downstream packet borrowing its message blocks from the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    pub header: Header,
    blocks: &'a [u8],
}

impl<'a> Packet<'a> {
    /// Reads a datagram. Every message block is checked here: one that runs past the end, bytes after the last
    /// announced block, or a sequence range that overflows are errors, so iterating the messages cannot fail.
    pub fn decode(datagram: &'a [u8]) -> Result<Packet<'a>, MoldError> {
        let header = Header::decode(datagram)?;
        let blocks = datagram.get(HEADER_BYTES..).unwrap_or_default();
        let announced = match header.kind() {
            PacketKind::Data => header.message_count,
            PacketKind::Heartbeat | PacketKind::EndOfSession => 0,
        };
        if header
            .sequence_number
            .checked_add(u64::from(announced))
            .is_none()
        {
            return Err(MoldError::SequenceOverflow {
                sequence_number: header.sequence_number,
                message_count: announced,
            });
        }
        let mut rest = blocks;
        for message_index in 0..announced {
            rest = split_block(rest)
                .ok_or(MoldError::BlockTruncated { message_index })?
                .1;
        }
        if !rest.is_empty() {
            return Err(MoldError::TrailingBytes {
                extra_bytes: rest.len(),
            });
        }
        Ok(Packet { header, blocks })
    }

    pub fn kind(&self) -> PacketKind {
        self.header.kind()
    }

    /// The messages with their sequence numbers, in order.
    pub fn messages(&self) -> Messages<'a> {
        Messages {
            rest: self.blocks,
            next_sequence_number: self.header.sequence_number,
        }
    }

    /// The sequence number a listener expects after this packet.
    pub fn next_sequence_number(&self) -> u64 {
        match self.kind() {
            PacketKind::Data => self.header.sequence_number + u64::from(self.header.message_count),
            PacketKind::Heartbeat | PacketKind::EndOfSession => self.header.sequence_number,
        }
    }
}

/// Iterates a validated packet's messages as (sequence number, message bytes).
#[derive(Debug, Clone)]
pub struct Messages<'a> {
    rest: &'a [u8],
    next_sequence_number: u64,
}

impl<'a> Iterator for Messages<'a> {
    type Item = (u64, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (message, rest) = split_block(self.rest)?;
        let sequence_number = self.next_sequence_number;
        self.rest = rest;
        // `Packet::decode` checked that the packet's range does not overflow.
        self.next_sequence_number = sequence_number.saturating_add(1);
        Some((sequence_number, message))
    }
}

/// Splits one message block off the front: (message, rest).
fn split_block(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (length, rest) = bytes.split_first_chunk::<MESSAGE_LENGTH_BYTES>()?;
    rest.split_at_checked(usize::from(u16::from_be_bytes(*length)))
}

/// A listener's request for retransmission of `requested_message_count` messages from `sequence_number`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestPacket {
    pub session: [u8; 10],
    pub sequence_number: u64,
    pub requested_message_count: u16,
}

impl RequestPacket {
    pub fn decode(datagram: &[u8]) -> Result<RequestPacket, MoldError> {
        if datagram.len() != REQUEST_BYTES {
            return Err(MoldError::BadRequestLength {
                actual_bytes: datagram.len(),
            });
        }
        let header = Header::decode(datagram)?;
        Ok(RequestPacket {
            session: header.session,
            sequence_number: header.sequence_number,
            requested_message_count: header.message_count,
        })
    }

    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        Header {
            session: self.session,
            sequence_number: self.sequence_number,
            message_count: self.requested_message_count,
        }
        .encode(out)
    }
}
