//! The snapshot (GLIMPSE-like) service's content: the book as ITCH messages up to a sequence number.
//!
//! A snapshot is a run of SoupBinTCP Sequenced Data packets, one ITCH message each: System Event `O`, a Stock
//! Directory `R` for every instrument (and its last Stock Trading Action `H`, when one was published), every
//! resting displayed order as an Add Order `A` (per instrument, bids then asks, each side in priority order),
//! then End of Snapshot `G` carrying the ITCH sequence number the snapshot is current to, and End of Session.
//!
//! End of Snapshot is Nasdaq GLIMPSE 5.0's message: type `G` (1 byte), then Sequence Number (20 bytes, ASCII
//! digits, right-justified and padded on the left with spaces, as SoupBinTCP writes its numeric fields). The
//! number is that of the last ITCH message the snapshot reflects (0 when none was published yet): a subscriber
//! continues with the TCP stream (or MoldUDP64) from that number plus one.

use super::book::BookBuilder;
use crate::itch::{
    AddOrder, EventCode, ItchError, Message, StockDirectory, StockTradingAction, SystemEvent,
};
use crate::soupbin::{packet_type, FRAME_HEADER_BYTES};
use crate::wire::{ascii_numeric, parse_ascii_numeric};
use crossline_engine::Side;
use std::collections::BTreeMap;

/// GLIMPSE's End of Snapshot message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndOfSnapshot {
    /// The ITCH sequence number of the last message the snapshot reflects; the live stream continues from the
    /// next one.
    pub sequence_number: u64,
}

impl EndOfSnapshot {
    pub const TYPE: u8 = b'G';
    /// Type (1) and Sequence Number (20).
    pub const BYTES: usize = 21;

    /// The 21 bytes of the message.
    pub fn encode(&self) -> [u8; Self::BYTES] {
        let mut out = [b' '; Self::BYTES];
        out[0] = Self::TYPE;
        // Twenty ASCII digits hold every u64, so `ascii_numeric` always succeeds.
        if let Some(digits) = ascii_numeric::<20>(self.sequence_number) {
            out[1..].copy_from_slice(&digits);
        }
        out
    }

    /// Reads the message; the wrong type, size or a non-numeric field is an error.
    pub fn decode(bytes: &[u8]) -> Result<EndOfSnapshot, ItchError> {
        match bytes.first() {
            None => return Err(ItchError::Empty),
            Some(&actual) if actual != Self::TYPE => {
                return Err(ItchError::WrongType {
                    expected: Self::TYPE,
                    actual,
                })
            }
            Some(_) => {}
        }
        if bytes.len() != Self::BYTES {
            return Err(ItchError::BadLength {
                message_type: Self::TYPE,
                expected_bytes: Self::BYTES,
                actual_bytes: bytes.len(),
            });
        }
        let sequence_number =
            bytes
                .get(1..)
                .and_then(parse_ascii_numeric)
                .ok_or(ItchError::BadCode {
                    message_type: Self::TYPE,
                    field: "sequence_number",
                    value: bytes.get(1).copied().unwrap_or(0),
                })?;
        Ok(EndOfSnapshot { sequence_number })
    }
}

/// What the feed thread keeps besides the book to write a snapshot: the last Stock Directory and Stock Trading
/// Action of each instrument, and the last timestamp (snapshot messages carry it).
#[derive(Debug, Default)]
pub(crate) struct Reference {
    pub directory: BTreeMap<u16, StockDirectory>,
    pub actions: BTreeMap<u16, StockTradingAction>,
    pub last_timestamp_ns: u64,
}

impl Reference {
    pub fn observe(&mut self, message: &Message) {
        self.last_timestamp_ns = message.timestamp_ns();
        match *message {
            Message::StockDirectory(m) => {
                self.directory.insert(m.stock_locate, m);
            }
            Message::StockTradingAction(m) => {
                self.actions.insert(m.stock_locate, m);
            }
            _ => {}
        }
    }
}

/// Appends one Sequenced Data frame carrying `message`.
fn push_message(out: &mut Vec<u8>, message: &Message) {
    let mut buffer = [0u8; 64];
    let Ok(len) = message.encode(&mut buffer) else {
        return;
    };
    push_payload(out, buffer.get(..len).unwrap_or_default());
}

fn push_payload(out: &mut Vec<u8>, payload: &[u8]) {
    // ITCH messages are at most 44 bytes, so the length always fits two bytes.
    let length = (1 + payload.len()) as u16;
    out.extend_from_slice(&length.to_be_bytes());
    out.push(packet_type::SEQUENCED_DATA);
    out.extend_from_slice(payload);
}

/// The whole snapshot as SoupBinTCP frames, End of Session included, current to `sequence_number`.
pub(crate) fn snapshot_frames(
    book: &BookBuilder,
    reference: &Reference,
    sequence_number: u64,
) -> Vec<u8> {
    let timestamp_ns = reference.last_timestamp_ns;
    let mut locates: Vec<u16> = book.stock_locates();
    locates.extend(reference.directory.keys().copied());
    locates.sort_unstable();
    locates.dedup();
    let orders: usize = locates.iter().map(|&locate| book.order_count(locate)).sum();
    let mut out = Vec::with_capacity(
        (orders + 2 * locates.len() + 2) * (FRAME_HEADER_BYTES + 40) + FRAME_HEADER_BYTES,
    );
    push_message(
        &mut out,
        &Message::SystemEvent(SystemEvent {
            stock_locate: 0,
            tracking_number: 0,
            timestamp_ns,
            event_code: EventCode::StartOfMessages,
        }),
    );
    for locate in &locates {
        if let Some(directory) = reference.directory.get(locate) {
            push_message(&mut out, &Message::StockDirectory(*directory));
        }
        if let Some(action) = reference.actions.get(locate) {
            push_message(&mut out, &Message::StockTradingAction(*action));
        }
    }
    for &locate in &locates {
        let stock = reference
            .directory
            .get(&locate)
            .map(|d| d.stock)
            .or_else(|| book.symbol(locate))
            .unwrap_or([b' '; 8]);
        for side in [Side::Buy, Side::Sell] {
            for order in book.orders(locate, side) {
                push_message(
                    &mut out,
                    &Message::AddOrder(AddOrder {
                        stock_locate: locate,
                        tracking_number: 0,
                        timestamp_ns,
                        order_reference_number: order.order_reference_number,
                        side: side.into(),
                        shares: order.shares,
                        stock,
                        price: order.price,
                    }),
                );
            }
        }
    }
    push_payload(&mut out, &EndOfSnapshot { sequence_number }.encode());
    out.extend_from_slice(&[0, 1, packet_type::END_OF_SESSION]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn end_of_snapshot_is_g_and_twenty_ascii_digits() {
        let bytes = EndOfSnapshot {
            sequence_number: 1234,
        }
        .encode();
        let mut expected = [b' '; 21];
        expected[0] = b'G';
        expected[17..].copy_from_slice(b"1234");
        assert_eq!(bytes, expected);
        assert_eq!(
            EndOfSnapshot::decode(&bytes),
            Ok(EndOfSnapshot {
                sequence_number: 1234
            })
        );
        assert!(EndOfSnapshot::decode(&bytes[..20]).is_err());
        assert!(EndOfSnapshot::decode(b"G1234567890123456789x").is_err());
        assert!(EndOfSnapshot::decode(b"").is_err());
    }
}
