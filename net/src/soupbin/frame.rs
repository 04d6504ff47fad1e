//! Packet boundaries in a TCP byte stream.
//!
//! `parse_frame` looks at the front of any buffer and says "here is one whole packet", "I need at least N more
//! bytes", or "this stream is broken". `FrameDecoder` owns a fixed receive buffer around it for callers that
//! read from a socket into spare room and then drain whole frames: partial frames across reads, many frames in
//! one read and one-byte reads all come out as the same frames. Frames borrow from the buffer; nothing is
//! allocated after construction.

use super::{Packet, SoupError};

/// Bytes of the length field.
pub const LENGTH_FIELD_BYTES: usize = 2;
/// Bytes before the payload: the length field and the packet type.
pub const FRAME_HEADER_BYTES: usize = 3;
/// The largest frame the 2-byte length field can describe.
const MAX_ENCODABLE_FRAME_BYTES: usize = LENGTH_FIELD_BYTES + u16::MAX as usize;

/// One whole SoupBinTCP packet, borrowed from the receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    pub packet_type: u8,
    /// The bytes after the type byte.
    pub payload: &'a [u8],
}

impl<'a> Frame<'a> {
    /// Bytes the frame occupies on the wire, length field included.
    pub fn frame_bytes(&self) -> usize {
        FRAME_HEADER_BYTES + self.payload.len()
    }

    /// The packet this frame carries.
    pub fn packet(&self) -> Result<Packet<'a>, SoupError> {
        Packet::from_frame(*self)
    }
}

/// What the front of a buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed<'a> {
    Frame(Frame<'a>),
    /// The buffer holds the start of a frame; at least `needed_bytes` more must arrive before it is whole.
    Incomplete {
        needed_bytes: usize,
    },
}

/// Reads the frame at the front of `buffer`. A length field of zero, or a frame longer than `max_frame_bytes`
/// (length field included), is an error as soon as the length field has arrived, so a peer cannot make the
/// receiver wait for bytes it will refuse anyway.
pub fn parse_frame(buffer: &[u8], max_frame_bytes: usize) -> Result<Parsed<'_>, SoupError> {
    let Some((length_field, rest)) = buffer.split_first_chunk::<LENGTH_FIELD_BYTES>() else {
        return Ok(Parsed::Incomplete {
            needed_bytes: FRAME_HEADER_BYTES - buffer.len(),
        });
    };
    let length = usize::from(u16::from_be_bytes(*length_field));
    if length == 0 {
        return Err(SoupError::ZeroLength);
    }
    let frame_bytes = LENGTH_FIELD_BYTES + length;
    if frame_bytes > max_frame_bytes {
        return Err(SoupError::Oversize {
            frame_bytes,
            max_frame_bytes,
        });
    }
    let Some((body, _)) = rest.split_at_checked(length) else {
        return Ok(Parsed::Incomplete {
            needed_bytes: frame_bytes - buffer.len(),
        });
    };
    match body.split_first() {
        Some((&packet_type, payload)) => Ok(Parsed::Frame(Frame {
            packet_type,
            payload,
        })),
        // `length` is at least 1, so the body has its type byte; this arm is unreachable.
        None => Err(SoupError::ZeroLength),
    }
}

/// A fixed receive buffer that yields whole frames.
///
/// Use: write received bytes into `spare()` and `commit` them (or `feed` a slice), then call `next_frame` until
/// it returns `Ok(None)`. The buffer is at least one maximum frame long and is compacted only when its end is
/// reached, so a frame that is still arriving always has room and each byte moves at most once per frame.
/// After an error the stream has no packet boundaries left; the error repeats until `clear`.
#[derive(Debug)]
pub struct FrameDecoder {
    buffer: Box<[u8]>,
    /// Start of the first byte not yet returned as part of a frame.
    start: usize,
    /// End of the received bytes.
    end: usize,
    max_frame_bytes: usize,
}

impl FrameDecoder {
    /// A decoder refusing frames longer than `max_frame_bytes` (length field included; kept between the 3-byte
    /// smallest frame and the 65,537-byte largest), with a receive buffer of `buffer_bytes`, raised to one
    /// maximum frame when smaller.
    pub fn new(max_frame_bytes: usize, buffer_bytes: usize) -> Self {
        let max_frame_bytes = max_frame_bytes.clamp(FRAME_HEADER_BYTES, MAX_ENCODABLE_FRAME_BYTES);
        let buffer_bytes = buffer_bytes.max(max_frame_bytes);
        FrameDecoder {
            buffer: vec![0; buffer_bytes].into_boxed_slice(),
            start: 0,
            end: 0,
            max_frame_bytes,
        }
    }

    pub fn max_frame_bytes(&self) -> usize {
        self.max_frame_bytes
    }

    /// Bytes received and not yet returned in a frame.
    pub fn buffered_bytes(&self) -> usize {
        self.end - self.start
    }

    /// Room to receive into. Empty only when the buffer is full of whole frames not yet drained.
    pub fn spare(&mut self) -> &mut [u8] {
        self.make_room();
        self.buffer.get_mut(self.end..).unwrap_or_default()
    }

    /// Marks `written_bytes` of `spare()` as received (at most the spare room).
    pub fn commit(&mut self, written_bytes: usize) {
        self.end = self
            .end
            .saturating_add(written_bytes)
            .min(self.buffer.len());
    }

    /// Copies as much of `bytes` as fits and returns how many were taken: all of them unless the buffer holds
    /// whole frames not yet drained.
    pub fn feed(&mut self, bytes: &[u8]) -> usize {
        let mut taken = 0;
        // Two rounds at most: the first fills the room up to the buffer's end, the second the room compaction
        // frees at its front.
        for _ in 0..2 {
            let rest = bytes.get(taken..).unwrap_or_default();
            let spare = self.spare();
            let now = spare.len().min(rest.len());
            spare[..now].copy_from_slice(&rest[..now]);
            self.commit(now);
            taken += now;
        }
        taken
    }

    /// The next whole frame, `Ok(None)` when more bytes are needed, or why the stream is broken.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, SoupError> {
        let received = self.buffer.get(self.start..self.end).unwrap_or_default();
        match parse_frame(received, self.max_frame_bytes)? {
            Parsed::Incomplete { .. } => Ok(None),
            Parsed::Frame(frame) => {
                self.start += frame.frame_bytes();
                Ok(Some(frame))
            }
        }
    }

    /// The next whole frame without consuming it: what `next_frame` would return. Lets a caller decide, with
    /// nothing borrowed, whether to take the frame now or handle it and look again.
    pub fn peek_frame(&self) -> Result<Option<Frame<'_>>, SoupError> {
        let received = self.buffer.get(self.start..self.end).unwrap_or_default();
        match parse_frame(received, self.max_frame_bytes)? {
            Parsed::Incomplete { .. } => Ok(None),
            Parsed::Frame(frame) => Ok(Some(frame)),
        }
    }

    /// Forgets every buffered byte (a new connection, or after an error).
    pub fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    fn make_room(&mut self) {
        if self.start == self.end {
            self.clear();
        } else if self.end == self.buffer.len() && self.start > 0 {
            // Only a frame still arriving (shorter than the buffer) moves, so the copy is bounded by one frame.
            self.buffer.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_the_length_field_then_the_whole_frame() {
        assert_eq!(
            parse_frame(&[], 64),
            Ok(Parsed::Incomplete { needed_bytes: 3 })
        );
        assert_eq!(
            parse_frame(&[0x00], 64),
            Ok(Parsed::Incomplete { needed_bytes: 2 })
        );
        assert_eq!(
            parse_frame(&[0x00, 0x03, b'U'], 64),
            Ok(Parsed::Incomplete { needed_bytes: 2 })
        );
        assert_eq!(
            parse_frame(&[0x00, 0x03, b'U', 1, 2, 9], 64),
            Ok(Parsed::Frame(Frame {
                packet_type: b'U',
                payload: &[1, 2]
            }))
        );
    }

    #[test]
    fn zero_length_and_oversize_are_errors_before_the_body_arrives() {
        assert_eq!(parse_frame(&[0x00, 0x00], 64), Err(SoupError::ZeroLength));
        assert_eq!(
            parse_frame(&[0x00, 0x3F], 64),
            Err(SoupError::Oversize {
                frame_bytes: 65,
                max_frame_bytes: 64
            })
        );
        assert!(matches!(
            parse_frame(&[0x00, 0x3E], 64),
            Ok(Parsed::Incomplete { needed_bytes: 62 })
        ));
    }

    #[test]
    fn decoder_compacts_a_partial_frame_when_the_buffer_end_is_reached() {
        // Buffer of exactly one maximum frame: the second frame must move to the front to complete.
        let mut decoder = FrameDecoder::new(8, 8);
        let stream = [0x00, 0x04, b'S', 1, 2, 3, 0x00, 0x06, b'S', 4, 5, 6, 7, 8];
        assert_eq!(decoder.feed(&stream), 8);
        assert_eq!(
            decoder.next_frame().unwrap(),
            Some(Frame {
                packet_type: b'S',
                payload: &[1, 2, 3]
            })
        );
        assert_eq!(decoder.next_frame().unwrap(), None);
        assert_eq!(decoder.feed(&stream[8..]), 6);
        assert_eq!(
            decoder.next_frame().unwrap(),
            Some(Frame {
                packet_type: b'S',
                payload: &[4, 5, 6, 7, 8]
            })
        );
        assert_eq!(decoder.buffered_bytes(), 0);
    }

    #[test]
    fn peek_returns_the_next_frame_without_consuming_it() {
        let mut decoder = FrameDecoder::new(16, 16);
        decoder.feed(&[0x00, 0x01, b'H', 0x00, 0x02, b'S', 7]);
        let heartbeat = Frame {
            packet_type: b'H',
            payload: &[],
        };
        assert_eq!(decoder.peek_frame().unwrap(), Some(heartbeat));
        assert_eq!(decoder.peek_frame().unwrap(), Some(heartbeat));
        assert_eq!(decoder.next_frame().unwrap(), Some(heartbeat));
        assert_eq!(
            decoder.peek_frame().unwrap(),
            Some(Frame {
                packet_type: b'S',
                payload: &[7]
            })
        );
        assert!(decoder.next_frame().unwrap().is_some());
        assert_eq!(decoder.peek_frame().unwrap(), None);
    }
}
