//! The record frame: how one command is laid out in a segment, checksummed, published and checked.
//!
//! ```text
//! offset size field
//!      0    4 payload_bytes  u32 LE; the commit word, stored last with Release. 0 = nothing here yet,
//!                            0xFFFF_FFFF = segment sealed (the next record is in the next segment)
//!      4    4 crc32c         u32 LE over payload_bytes (4 LE bytes) then bytes 8..16+payload_bytes
//!      8    8 seq            u64 LE
//!     16    n payload        the rkyv-archived Command, n = payload_bytes
//!   16+n    p padding        zero, so the next frame starts 8-byte aligned
//! ```
//!
//! Every frame of a segment is the same size because `Command` archives to a fixed size; a length word that is not
//! that size is a defect, which makes a damaged length word detectable without trusting it.

use std::mem::{align_of, size_of};

use crossline_engine::{ArchivedCommand, Command};
use rkyv::rancor::{Failure, Strategy};
use rkyv::ser::allocator::SubAllocator;
use rkyv::ser::writer::Buffer;
use rkyv::ser::{Positional, Serializer};
use rkyv::{Archive, Place, Serialize};

use crate::error::FrameDefect;
use crate::header::RECORD_ALIGN_BYTES;
use crate::segment::Segment;

pub const FRAME_HEADER_BYTES: usize = 16;
/// Size of an archived `Command` in this build; every record's payload is exactly this long.
pub const ARCHIVED_COMMAND_BYTES: usize = size_of::<ArchivedCommand>();
/// Size of one record frame including header and padding.
pub const FRAME_BYTES: usize = FRAME_HEADER_BYTES + align_up(ARCHIVED_COMMAND_BYTES);
/// Written in place of a length word when the next record did not fit and went to the next segment.
pub(crate) const SEAL_WORD: u32 = u32::MAX;

// Payloads start 16 bytes into an 8-aligned frame inside a page-aligned mapping, so they are 8-aligned; the archived
// command must not need more, or in-place access would be misaligned.
const _: () = assert!(align_of::<ArchivedCommand>() <= RECORD_ALIGN_BYTES);
const _: () = assert!(ARCHIVED_COMMAND_BYTES > 0 && ARCHIVED_COMMAND_BYTES < SEAL_WORD as usize);

pub(crate) const fn align_up(bytes: usize) -> usize {
    (bytes + RECORD_ALIGN_BYTES - 1) & !(RECORD_ALIGN_BYTES - 1)
}

/// crc32c over the length word and the seq+payload bytes, which sit contiguously at 8..16+n.
///
/// A frame is about a hundred bytes, too short for the `crc32c` crate's three-way interleaving to pay off: on x86-64
/// with SSE 4.2 the sum is taken here inline, eight bytes per `crc32` instruction, which gives the same value (the
/// instruction computes CRC-32C, the Castagnoli polynomial, over its operand's little-endian bytes).
#[inline]
pub(crate) fn frame_checksum(payload_bytes: u32, seq_and_payload: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("sse4.2") {
            // SAFETY: the CPU supports SSE 4.2, checked just above.
            return unsafe { frame_checksum_sse42(payload_bytes, seq_and_payload) };
        }
    }
    crc32c::crc32c_append(
        crc32c::crc32c(&payload_bytes.to_le_bytes()),
        seq_and_payload,
    )
}

/// `frame_checksum` with the `crc32` instruction.
///
/// # Safety
/// The CPU must support SSE 4.2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
#[inline]
unsafe fn frame_checksum_sse42(payload_bytes: u32, seq_and_payload: &[u8]) -> u32 {
    use std::arch::x86_64::{_mm_crc32_u32, _mm_crc32_u64, _mm_crc32_u8};
    let mut state = _mm_crc32_u32(u32::MAX, payload_bytes);
    let mut words = seq_and_payload.chunks_exact(8);
    let mut wide = u64::from(state);
    for word in &mut words {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(word);
        wide = _mm_crc32_u64(wide, u64::from_le_bytes(bytes));
    }
    // The instruction leaves the upper half zero.
    state = wide as u32;
    for &byte in words.remainder() {
        state = _mm_crc32_u8(state, byte);
    }
    !state
}

/// Archives `command` into `frame[16..]`, fills seq, padding and checksum, and returns the length word to publish.
/// The length word itself (`frame[0..4]`) is left untouched: the caller stores it with Release once this returns.
#[inline]
pub(crate) fn encode_frame(frame: &mut [u8], command: &Command) -> Result<u32, ()> {
    debug_assert_eq!(frame.len(), FRAME_BYTES);
    let (head, body) = frame.split_at_mut(FRAME_HEADER_BYTES);
    let (payload, padding) = body.split_at_mut(ARCHIVED_COMMAND_BYTES);
    // Command holds only fixed-size fields, so serializing writes nothing out of line and never asks the allocator
    // for scratch space (an empty arena keeps this free of heap allocation); it only yields the resolver. The archive
    // is then resolved in place, into the zeroed payload, exactly as rkyv's `to_bytes` resolves it into a zeroed
    // value before copying that out: the same bytes, without the copy.
    let resolver = {
        let mut serializer =
            Serializer::new(Buffer::from(&mut *payload), SubAllocator::new(&mut []), ());
        let resolver = command
            .serialize(Strategy::<_, Failure>::wrap(&mut serializer))
            .map_err(|_| ())?;
        if serializer.pos() != 0 {
            // Something was written out of line: not a fixed-size archive.
            return Err(());
        }
        resolver
    };
    payload.fill(0);
    let out = payload.as_mut_ptr().cast::<ArchivedCommand>();
    if !out.is_aligned() {
        return Err(());
    }
    // SAFETY: `out` points at `payload`, which is exactly `size_of::<ArchivedCommand>()` bytes long, aligned for it
    // (checked above), fully initialized (zeroed just above) and borrowed mutably here, so nothing else touches it.
    let place = unsafe { Place::new_unchecked(0, out) };
    command.resolve(resolver, place);
    padding.fill(0);
    head[8..16].copy_from_slice(&command.seq.to_le_bytes());
    let payload_bytes = ARCHIVED_COMMAND_BYTES as u32;
    let crc = frame_checksum(payload_bytes, &frame[8..FRAME_BYTES - padding_bytes()]);
    frame[4..8].copy_from_slice(&crc.to_le_bytes());
    Ok(payload_bytes)
}

const fn padding_bytes() -> usize {
    FRAME_BYTES - FRAME_HEADER_BYTES - ARCHIVED_COMMAND_BYTES
}

/// What sits at a frame boundary.
#[derive(Debug)]
pub(crate) enum Frame<'a> {
    /// No room for another word: the segment is exactly full.
    End,
    /// Length word zero: nothing published here (yet).
    Empty,
    Sealed,
    Valid {
        seq: u64,
        command: &'a ArchivedCommand,
    },
    Invalid(FrameDefect),
}

/// Reads and checks the frame at `offset`: length word (Acquire), bounds, checksum, then rkyv's bytecheck.
///
/// # Safety
/// The caller guarantees what `Segment::bytes` requires for the frame's range once its length word reads non-zero:
/// either the frame was published by this process's writer (its `pwrite` returned before the written watermark the
/// caller loaded with Acquire was stored), or nothing in this process writes this part of the segment (recovery
/// holds the lock; tools saw no live writer). A writer in another process may still be copying a frame in when a
/// reader here reads it: those bytes change under the reader outside this process, the reader copies nothing out of
/// them unchecked, and the checksum tells that the frame is not complete yet.
#[inline]
pub(crate) unsafe fn read_frame(segment: &Segment, offset: usize) -> Frame<'_> {
    debug_assert!(offset & (RECORD_ALIGN_BYTES - 1) == 0);
    if offset + 4 > segment.region_bytes {
        return Frame::End;
    }
    let payload_bytes = segment.load_u32_acquire(offset);
    match payload_bytes {
        0 => return Frame::Empty,
        SEAL_WORD => return Frame::Sealed,
        n if n as usize != ARCHIVED_COMMAND_BYTES => {
            return Frame::Invalid(FrameDefect::UnexpectedLength {
                found: n,
                expected: ARCHIVED_COMMAND_BYTES as u32,
            })
        }
        _ => {}
    }
    let available = segment.region_bytes - offset;
    if available < FRAME_BYTES {
        return Frame::Invalid(FrameDefect::Truncated {
            needed: FRAME_BYTES as u64,
            available: available as u64,
        });
    }
    // SAFETY: the range is inside the region (checked above) and unchanging by the caller's contract.
    let frame = unsafe { segment.bytes(offset, FRAME_HEADER_BYTES + ARCHIVED_COMMAND_BYTES) };
    let stored = u32::from_le_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let computed = frame_checksum(payload_bytes, &frame[8..]);
    if stored != computed {
        return Frame::Invalid(FrameDefect::Checksum { stored, computed });
    }
    let mut seq_bytes = [0u8; 8];
    seq_bytes.copy_from_slice(&frame[8..16]);
    let seq = u64::from_le_bytes(seq_bytes);
    match access_command(&frame[FRAME_HEADER_BYTES..]) {
        // The frame's seq and its command's are written from one value: a frame where they differ was not written
        // by the journal writer.
        Some(command) if command.seq.to_native() == seq => Frame::Valid { seq, command },
        _ => Frame::Invalid(FrameDefect::Undecodable),
    }
}

/// In-place access to an archived command, validated by rkyv's bytecheck (see docs/JOURNAL.md for why the checked
/// path is used even after the checksum holds: it costs a few nanoseconds and keeps a hand-crafted file from
/// becoming undefined behaviour).
#[inline]
pub(crate) fn access_command(payload: &[u8]) -> Option<&ArchivedCommand> {
    rkyv::api::low::access::<ArchivedCommand, Failure>(payload).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossline_engine::{CommandBody, NewOrder, OrderType, Side, TimeInForce};

    fn order(seq: u64) -> Command {
        Command {
            seq,
            timestamp_ns: seq * 1_000,
            body: CommandBody::NewOrder(NewOrder {
                session: 7,
                account: 42,
                user_ref: seq as u32,
                instrument: 1,
                side: Side::Buy,
                order_type: OrderType::Limit,
                time_in_force: TimeInForce::Day,
                price: 100_0000,
                qty: 10,
                min_qty: 0,
                display_qty: 0,
                post_only: false,
                expire_time_ns: 0,
                group: 0,
            }),
        }
    }

    #[repr(align(8))]
    struct AlignedFrame([u8; FRAME_BYTES]);

    #[test]
    fn an_encoded_frame_decodes_to_the_same_command() {
        let mut frame = AlignedFrame([0xAA; FRAME_BYTES]);
        let command = order(5);
        let len = encode_frame(&mut frame.0, &command).expect("a command always fits its frame");
        assert_eq!(len as usize, ARCHIVED_COMMAND_BYTES);
        let crc = u32::from_le_bytes([frame.0[4], frame.0[5], frame.0[6], frame.0[7]]);
        assert_eq!(
            crc,
            frame_checksum(
                len,
                &frame.0[8..FRAME_HEADER_BYTES + ARCHIVED_COMMAND_BYTES]
            )
        );
        assert!(frame.0[FRAME_HEADER_BYTES + ARCHIVED_COMMAND_BYTES..]
            .iter()
            .all(|&b| b == 0));
        let archived = access_command(
            &frame.0[FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + ARCHIVED_COMMAND_BYTES],
        )
        .expect("valid archive");
        let back: Command =
            rkyv::deserialize::<Command, rkyv::rancor::Error>(archived).expect("deserializes");
        assert_eq!(back, command);
    }

    #[test]
    fn the_payload_is_what_rkyv_to_bytes_archives() {
        let mut commands = vec![order(1), order(u64::MAX / 3)];
        commands.push(Command {
            seq: 77,
            timestamp_ns: 123_456_789,
            body: CommandBody::Cancel {
                session: 3,
                account: 9,
                user_ref: 0xDEAD_BEEF,
            },
        });
        commands.push(Command {
            seq: 78,
            timestamp_ns: 1,
            body: CommandBody::Tick,
        });
        for command in commands {
            let mut frame = AlignedFrame([0x5A; FRAME_BYTES]);
            encode_frame(&mut frame.0, &command).expect("fits");
            let expected = rkyv::to_bytes::<rkyv::rancor::Error>(&command).expect("archives");
            assert_eq!(
                &frame.0[FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + ARCHIVED_COMMAND_BYTES],
                expected.as_slice()
            );
        }
    }

    #[test]
    fn the_inline_checksum_matches_the_crc32c_crate() {
        let data: Vec<u8> = (0..300u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for len in 0..data.len() {
            for payload_bytes in [0, 1, ARCHIVED_COMMAND_BYTES as u32, u32::MAX] {
                let expected = crc32c::crc32c_append(
                    crc32c::crc32c(&payload_bytes.to_le_bytes()),
                    &data[..len],
                );
                assert_eq!(frame_checksum(payload_bytes, &data[..len]), expected);
            }
        }
    }

    #[test]
    fn archiving_is_deterministic_whatever_the_buffer_held_before() {
        // Replicas compare journals byte for byte, so padding inside the archive must not leak old bytes.
        let mut a = AlignedFrame([0x00; FRAME_BYTES]);
        let mut b = AlignedFrame([0xFF; FRAME_BYTES]);
        encode_frame(&mut a.0, &order(9)).expect("fits");
        encode_frame(&mut b.0, &order(9)).expect("fits");
        assert_eq!(&a.0[4..], &b.0[4..]);
    }
}
