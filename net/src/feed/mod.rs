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
//!
//! Time is always passed in (`now_ns`, `timestamp_ns`), never read.

mod book;
mod encoder;
mod publisher;
mod udp;

pub use book::{BookBuilder, BookError, BookOrder, DepthLevel, PacketOutcome};
pub use encoder::{trading_state, FeedEncoder, FeedError};
pub use publisher::{MoldPublisher, PublisherConfig, RetransmitAnswer, MAX_STORED_MESSAGE_BYTES};
pub use udp::{RetransmitServer, UdpFeedSender};
