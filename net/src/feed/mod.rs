//! The ITCH 5.0 market data feed: engine events in, MoldUDP64 packets out, and the subscriber side that
//! rebuilds the book.
//!
//! - `FeedEncoder` turns engine events into `itch::Message` values (plain copies, no allocation).
//! - `MoldPublisher` packs encoded messages into MoldUDP64 packets, sends heartbeats when idle and keeps a
//!   bounded retransmission store that answers `RequestPacket`s. It does no I/O: packets go to a closure.
//! - `BookBuilder` (subscriber side) applies packets and messages, keeps order-by-order books with aggregated
//!   depth per instrument and reports sequence gaps to request.
//! - `UdpFeedSender` and `RetransmitServer` are the std `UdpSocket` transport: the publisher's packets to a
//!   list of unicast or multicast destinations, and a request port answering from the store.
//! - `FeedServer` serves the same ITCH stream over SoupBinTCP to TCP subscribers (replay from a bounded store)
//!   and snapshots of the book (Add Order messages up to a sequence number, then `EndOfSnapshot`) to late
//!   joiners, on two ports of its own.
//!
//! Time is always passed in (`now_ns`, `timestamp_ns`), never read.

mod book;
mod encoder;
mod key_hash;
mod publisher;
mod snapshot;
mod tcp;
mod udp;

pub use book::{BookBuilder, BookError, BookOrder, DepthLevel, PacketOutcome};
pub use encoder::{trading_state, FeedEncoder, FeedError};
pub use publisher::{MoldPublisher, PublisherConfig, RetransmitAnswer, MAX_STORED_MESSAGE_BYTES};
pub use snapshot::EndOfSnapshot;
pub use tcp::{
    FeedCloseReason, FeedServer, FeedServerConfig, FeedServerError, FeedStats, PublishError,
    StaleReason,
};
pub use udp::{RetransmitServer, UdpFeedSender};
