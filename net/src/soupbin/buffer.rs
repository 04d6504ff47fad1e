//! A reusable send buffer: frames appended back to back, allocated once.

use super::frame::FRAME_HEADER_BYTES;
use super::Packet;
use crate::wire::EncodeError;

/// Outgoing SoupBinTCP frames for one connection, appended back to back into a buffer allocated once and
/// never grown: a full buffer is an error the session turns into back-pressure or a disconnect, not a
/// reallocation. `reserve_frame` lets a higher-level encoder write its message straight into the frame.
#[derive(Debug)]
pub struct PacketBuffer {
    buffer: Box<[u8]>,
    len: usize,
}

impl PacketBuffer {
    pub fn new(capacity_bytes: usize) -> Self {
        PacketBuffer {
            buffer: vec![0; capacity_bytes].into_boxed_slice(),
            len: 0,
        }
    }

    pub fn capacity_bytes(&self) -> usize {
        self.buffer.len()
    }

    pub fn free_bytes(&self) -> usize {
        self.buffer.len() - self.len
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The frames written so far, ready to send.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.get(..self.len).unwrap_or_default()
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Drops the first `sent_bytes` (a partial send), keeping the rest at the front.
    pub fn consume(&mut self, sent_bytes: usize) {
        let sent_bytes = sent_bytes.min(self.len);
        self.buffer.copy_within(sent_bytes..self.len, 0);
        self.len -= sent_bytes;
    }

    /// Appends one packet. On error nothing is appended.
    pub fn push(&mut self, packet: &Packet<'_>) -> Result<(), EncodeError> {
        let free = self.buffer.get_mut(self.len..).unwrap_or_default();
        let written = packet.encode(free)?;
        self.len += written;
        Ok(())
    }

    /// Appends the length field and type of a packet with a `payload_bytes` payload and returns the payload's
    /// slot for the caller to fill (for example `OrderAccepted::encode` into a Sequenced Data packet). The slot
    /// counts as written; a caller that cannot fill it must `truncate` back.
    pub fn reserve_frame(
        &mut self,
        packet_type: u8,
        payload_bytes: usize,
    ) -> Result<&mut [u8], EncodeError> {
        let length =
            u16::try_from(1 + payload_bytes).map_err(|_| EncodeError::ValueOutOfRange {
                field: "packet length",
            })?;
        let frame_bytes = FRAME_HEADER_BYTES + payload_bytes;
        if self.free_bytes() < frame_bytes {
            return Err(EncodeError::BufferTooSmall {
                needed_bytes: frame_bytes,
                available_bytes: self.free_bytes(),
            });
        }
        let start = self.len;
        self.len += frame_bytes;
        let frame = self.buffer.get_mut(start..self.len).unwrap_or_default();
        let (header, payload) = frame.split_at_mut(FRAME_HEADER_BYTES.min(frame.len()));
        if let [high, low, kind] = header {
            [*high, *low] = length.to_be_bytes();
            *kind = packet_type;
        }
        Ok(payload)
    }

    /// Forgets everything after the first `len` bytes (undoes a `reserve_frame` the caller could not fill).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_appended_until_the_buffer_is_full() {
        let mut buffer = PacketBuffer::new(8);
        buffer.push(&Packet::ServerHeartbeat).unwrap();
        let slot = buffer.reserve_frame(b'S', 2).unwrap();
        slot.copy_from_slice(&[0xAB, 0xCD]);
        assert_eq!(buffer.as_bytes(), &[0, 1, b'H', 0, 3, b'S', 0xAB, 0xCD]);
        assert_eq!(
            buffer.push(&Packet::ServerHeartbeat),
            Err(EncodeError::BufferTooSmall {
                needed_bytes: 3,
                available_bytes: 0
            })
        );
        buffer.consume(3);
        assert_eq!(buffer.as_bytes(), &[0, 3, b'S', 0xAB, 0xCD]);
    }
}
