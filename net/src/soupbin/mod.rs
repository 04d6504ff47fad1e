//! SoupBinTCP 4.00: the framing and session packets that carry OUCH (and ITCH for TCP subscribers).
//!
//! Every logical packet is a 2-byte big-endian length (the bytes after the length field: the type byte plus the
//! payload), a 1-byte packet type and the payload. TCP may split or merge packets anywhere, so `frame` finds
//! packet boundaries in a byte stream, `packet` gives the packets their meaning, and `buffer` assembles outgoing
//! packets in a reusable buffer.
//!
//! Layouts (Nasdaq "SoupBinTCP 4.00", 2010), offsets from the start of the packet:
//!
//! | type | packet | payload |
//! | --- | --- | --- |
//! | `+` | Debug | free text |
//! | `A` | Login Accepted | Session (3, 10, alpha, left-padded with spaces), Sequence Number (13, 20, ASCII digits, left-padded with spaces) |
//! | `J` | Login Rejected | Reject Reason Code (3, 1): `A` not authorized, `S` session not available |
//! | `S` | Sequenced Data | one higher-level message |
//! | `U` | Unsequenced Data | one higher-level message (either direction) |
//! | `H` | Server Heartbeat | none |
//! | `Z` | End of Session | none |
//! | `L` | Login Request | Username (3, 6), Password (9, 10), Requested Session (19, 10), Requested Sequence Number (29, 20) |
//! | `R` | Client Heartbeat | none |
//! | `O` | Logout Request | none |

mod buffer;
mod frame;
mod packet;

pub use buffer::PacketBuffer;
pub use frame::{parse_frame, Frame, FrameDecoder, Parsed, FRAME_HEADER_BYTES, LENGTH_FIELD_BYTES};
pub use packet::{packet_type, LoginAccepted, LoginRejectReason, LoginRequest, Packet, SessionId};

use thiserror::Error;

/// Why bytes from a SoupBinTCP peer could not be read as packets. A framing error leaves the stream without
/// packet boundaries: the session answers with a Debug packet and disconnects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SoupError {
    #[error("packet length field is zero: every packet has at least a type byte")]
    ZeroLength,
    #[error("packet of {frame_bytes} bytes exceeds the configured maximum of {max_frame_bytes}")]
    Oversize {
        frame_bytes: usize,
        max_frame_bytes: usize,
    },
    #[error("unknown SoupBinTCP packet type {packet_type:#04x}")]
    UnknownType { packet_type: u8 },
    #[error(
        "packet type {packet_type:#04x} needs a {expected_bytes}-byte payload, got {actual_bytes}"
    )]
    BadLength {
        packet_type: u8,
        expected_bytes: usize,
        actual_bytes: usize,
    },
    #[error("login reject code {code:#04x} is neither 'A' nor 'S'")]
    BadRejectCode { code: u8 },
    #[error("{field} is not an ASCII number")]
    BadNumeric { field: &'static str },
}
