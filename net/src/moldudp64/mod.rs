//! MoldUDP64 1.00: ITCH over UDP, one transmitter to many listeners, with gap re-requests.
//!
//! A downstream packet is a 20-byte header — Session (10, alphanumeric), Sequence Number (8, of the first
//! message in the packet), Message Count (2) — followed by that many message blocks, each a 2-byte length and
//! the message. A count of 0 is a heartbeat and 0xFFFF marks the end of the session; both carry the next
//! expected sequence number and no blocks. A listener that sees a gap sends a Request Packet (Session 10,
//! Sequence Number 8, Requested Message Count 2) to the re-request server, which answers with ordinary
//! downstream packets.
//!
//! `packet` reads and writes headers, downstream packets and request packets; `builder` packs messages into
//! packets up to a maximum size.

mod builder;
mod packet;

pub use builder::PacketBuilder;
pub use packet::{
    Header, Messages, Packet, PacketKind, RequestPacket, END_OF_SESSION_COUNT, HEADER_BYTES,
    MESSAGE_LENGTH_BYTES, REQUEST_BYTES,
};

use thiserror::Error;

/// Why a datagram is not a valid MoldUDP64 packet, or a message cannot be packed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MoldError {
    #[error("datagram of {actual_bytes} bytes is shorter than the 20-byte MoldUDP64 header")]
    TooShort { actual_bytes: usize },
    #[error("message block {message_index} runs past the end of the datagram")]
    BlockTruncated { message_index: u16 },
    #[error("{extra_bytes} bytes follow the last message block the header announces")]
    TrailingBytes { extra_bytes: usize },
    #[error("sequence number {sequence_number} plus {message_count} messages overflows")]
    SequenceOverflow {
        sequence_number: u64,
        message_count: u16,
    },
    #[error("a request packet is 20 bytes, got {actual_bytes}")]
    BadRequestLength { actual_bytes: usize },
    #[error(
        "a {message_bytes}-byte message can never fit a packet of at most {max_packet_bytes} bytes"
    )]
    MessageTooLarge {
        message_bytes: usize,
        max_packet_bytes: usize,
    },
}
