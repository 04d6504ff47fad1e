//! crossline-net: Crossline's wire protocols, byte for byte as Nasdaq publishes them.
//!
//! This layer turns bytes into messages and messages into bytes for the four protocols Crossline speaks:
//! SoupBinTCP 4.00 framing and session packets (`soupbin`), OUCH 5.0 order entry with Crossline's quote
//! extension (`ouch`), TotalView-ITCH 5.0 market data (`itch`) and MoldUDP64 packets (`moldudp64`). It never
//! panics on bytes from outside: every short, oversized, unknown or malformed input is a typed error. It never
//! allocates per message: decoders borrow from or copy out of the input slice, encoders write into a buffer the
//! caller owns, and the buffered helpers (`soupbin::FrameDecoder`, `soupbin::PacketBuffer`,
//! `moldudp64::PacketBuilder`) allocate once when built. The codecs do no I/O, keep no session state and read
//! no clock.
//!
//! Below the codecs, `reactor` moves bytes between TCP sockets and the layers above: a single-threaded event
//! loop over io_uring (epoll where io_uring is refused) with every connection, buffer and send queue allocated
//! at start-up and bounded. It knows nothing of protocols; sessions and sequencing belong to the layers above.
//! Above it, `session` runs SoupBinTCP server sessions: logins against Argon2-hashed users, per-session
//! outbound sequence numbers with a bounded replay store, heartbeats and timeouts, with time passed in, never read.
//!
//! `client` is the order-entry client: SoupBinTCP login over a list of addresses (to find the leader), OUCH
//! sends, sequenced receives with resume by sequence number; std sockets, no allocation per message.
//!
//! `feed` is the ITCH 5.0 market data feed: `FeedEncoder` (engine events to ITCH), `MoldPublisher` (MoldUDP64
//! packets, heartbeats, bounded retransmission store), `BookBuilder` (subscriber book rebuild with gap
//! detection) and a std UDP sender and retransmission server.
//!
//! `translate` maps OUCH messages to engine command bodies and engine events back to OUCH, with the per-session
//! UserRefNum rule; pure functions, no I/O.
//!
//! Main types: `soupbin::{FrameDecoder, Packet}`, `ouch::{Inbound, Outbound, Options}`, `itch::Message`,
//! `moldudp64::{Packet, PacketBuilder, RequestPacket}`, `reactor::{Reactor, Event}`,
//! `session::{SessionManager, Gateway, Users}`, and `Error`, which every protocol error converts into.

#[macro_use]
mod wire;
pub mod client;
pub mod feed;
pub mod itch;
pub mod moldudp64;
pub mod ouch;
pub mod reactor;
pub mod session;
pub mod soupbin;
pub mod translate;

pub use wire::{alpha, alpha_text, EncodeError};

use thiserror::Error;

/// Any codec error, for callers that do not care which protocol failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Error {
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error(transparent)]
    SoupBin(#[from] soupbin::SoupError),
    #[error(transparent)]
    Ouch(#[from] ouch::OuchError),
    #[error(transparent)]
    Itch(#[from] itch::ItchError),
    #[error(transparent)]
    MoldUdp64(#[from] moldudp64::MoldError),
}
