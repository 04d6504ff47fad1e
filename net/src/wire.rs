//! Big-endian fields on byte slices: a reader and a writer that never panic, the fixed-width field trait the
//! message macros build on, and the alpha-field helpers.
//!
//! Every protocol here is big-endian with fixed-width fields, so one `Field` trait covers integers, alpha arrays
//! and one-byte code enums. Decoders check a message's whole length before reading its fields, so a `Truncated`
//! from the reader means a bug in a length table, not bad input; it is still an error value, never a panic.

use thiserror::Error;

/// Why an encoder refused to write. Encoders check the room they need before writing a byte, so on error the
/// output buffer holds nothing new that matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EncodeError {
    #[error("output buffer too small: the message needs {needed_bytes} bytes, {available_bytes} are free")]
    BufferTooSmall {
        needed_bytes: usize,
        available_bytes: usize,
    },
    #[error("{field} does not fit its wire field")]
    ValueOutOfRange { field: &'static str },
}

/// A field-level decoding failure, converted into each protocol's own error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldError {
    /// The slice ended inside a field.
    Truncated,
    /// A one-byte code field held a value its type does not define.
    BadCode { field: &'static str, value: u8 },
}

/// Reads fixed-width big-endian fields from the front of a slice.
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { rest: bytes }
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], FieldError> {
        let (head, tail) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(FieldError::Truncated)?;
        self.rest = tail;
        Ok(*head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, FieldError> {
        let [byte] = self.array::<1>()?;
        Ok(byte)
    }

    pub(crate) fn u16(&mut self) -> Result<u16, FieldError> {
        self.array().map(u16::from_be_bytes)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, FieldError> {
        self.array().map(u32::from_be_bytes)
    }

    pub(crate) fn u64(&mut self) -> Result<u64, FieldError> {
        self.array().map(u64::from_be_bytes)
    }

    /// A 6-byte unsigned integer (ITCH timestamps).
    pub(crate) fn u48(&mut self) -> Result<u64, FieldError> {
        let six: [u8; 6] = self.array()?;
        let mut eight = [0u8; 8];
        eight[2..].copy_from_slice(&six);
        Ok(u64::from_be_bytes(eight))
    }
}

/// The largest value a 6-byte field holds.
pub(crate) const U48_MAX: u64 = (1 << 48) - 1;

/// Writes fixed-width big-endian fields into a caller's buffer. A write past the end or a value too large for
/// its field sets a flag instead of panicking; `finish` turns the flag into an error. Encoders check the room
/// first, so the flag only catches a wrong length table.
pub(crate) struct Writer<'a> {
    out: &'a mut [u8],
    position: usize,
    overflowed: bool,
    out_of_range: Option<&'static str>,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(out: &'a mut [u8]) -> Self {
        Writer {
            out,
            position: 0,
            overflowed: false,
            out_of_range: None,
        }
    }

    pub(crate) fn bytes(&mut self, bytes: &[u8]) {
        let end = self.position.saturating_add(bytes.len());
        match self.out.get_mut(self.position..end) {
            Some(dst) => dst.copy_from_slice(bytes),
            None => self.overflowed = true,
        }
        self.position = end;
    }

    pub(crate) fn u8(&mut self, value: u8) {
        self.bytes(&[value]);
    }

    pub(crate) fn u16(&mut self, value: u16) {
        self.bytes(&value.to_be_bytes());
    }

    pub(crate) fn u64(&mut self, value: u64) {
        self.bytes(&value.to_be_bytes());
    }

    /// A 6-byte unsigned integer; `field` names it in the error when `value` needs more than 48 bits.
    pub(crate) fn u48(&mut self, value: u64, field: &'static str) {
        if value > U48_MAX {
            self.out_of_range.get_or_insert(field);
        }
        let eight = value.to_be_bytes();
        self.bytes(&eight[2..]);
    }

    /// Records that a value cannot be represented; `finish` reports it.
    pub(crate) fn reject_value(&mut self, field: &'static str) {
        self.out_of_range.get_or_insert(field);
    }

    /// Bytes written, or why the message could not be written.
    pub(crate) fn finish(self) -> Result<usize, EncodeError> {
        if let Some(field) = self.out_of_range {
            return Err(EncodeError::ValueOutOfRange { field });
        }
        if self.overflowed {
            return Err(EncodeError::BufferTooSmall {
                needed_bytes: self.position,
                available_bytes: self.out.len(),
            });
        }
        Ok(self.position)
    }
}

/// Fails with `BufferTooSmall` unless `out` holds `needed_bytes`.
pub(crate) fn check_room(out: &[u8], needed_bytes: usize) -> Result<(), EncodeError> {
    if out.len() < needed_bytes {
        return Err(EncodeError::BufferTooSmall {
            needed_bytes,
            available_bytes: out.len(),
        });
    }
    Ok(())
}

/// A fixed-width wire field: its size, how to read it, how to write it.
pub(crate) trait Field: Sized {
    const BYTES: usize;
    fn read(reader: &mut Reader<'_>, field: &'static str) -> Result<Self, FieldError>;
    fn write(&self, writer: &mut Writer<'_>);
}

macro_rules! integer_field {
    ($($ty:ty => $read:ident),* $(,)?) => {
        $(
            impl Field for $ty {
                const BYTES: usize = core::mem::size_of::<$ty>();
                fn read(reader: &mut Reader<'_>, _field: &'static str) -> Result<Self, FieldError> {
                    reader.$read()
                }
                fn write(&self, writer: &mut Writer<'_>) {
                    writer.bytes(&self.to_be_bytes());
                }
            }
        )*
    };
}

integer_field!(u8 => u8, u16 => u16, u32 => u32, u64 => u64);

impl Field for i32 {
    const BYTES: usize = 4;
    fn read(reader: &mut Reader<'_>, _field: &'static str) -> Result<Self, FieldError> {
        reader.array().map(i32::from_be_bytes)
    }
    fn write(&self, writer: &mut Writer<'_>) {
        writer.bytes(&self.to_be_bytes());
    }
}

/// Alpha fields: fixed-width byte arrays, kept as the raw bytes.
impl<const N: usize> Field for [u8; N] {
    const BYTES: usize = N;
    fn read(reader: &mut Reader<'_>, _field: &'static str) -> Result<Self, FieldError> {
        reader.array()
    }
    fn write(&self, writer: &mut Writer<'_>) {
        writer.bytes(self);
    }
}

/// Declares a one-byte code enum (`Side`, `TimeInForce`, ...): the variants and their wire bytes, a checked
/// conversion from a byte, the list of all values, and its `Field` impl so decoders reject unknown codes.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $byte:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant = $byte ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value for a wire byte, if the byte is one this type defines.
            pub fn from_byte(byte: u8) -> Option<Self> {
                match byte {
                    $( $byte => Some($name::$variant), )+
                    _ => None,
                }
            }

            /// The wire byte.
            pub fn as_byte(self) -> u8 {
                self as u8
            }
        }

        impl $crate::wire::Field for $name {
            const BYTES: usize = 1;
            fn read(
                reader: &mut $crate::wire::Reader<'_>,
                field: &'static str,
            ) -> Result<Self, $crate::wire::FieldError> {
                let value = reader.u8()?;
                $name::from_byte(value).ok_or($crate::wire::FieldError::BadCode { field, value })
            }
            fn write(&self, writer: &mut $crate::wire::Writer<'_>) {
                writer.u8(self.as_byte());
            }
        }
    };
}

/// A fixed-width alpha field from text: left-justified, space-padded, cut at `N` bytes.
pub fn alpha<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [b' '; N];
    for (slot, byte) in out.iter_mut().zip(text.bytes()) {
        *slot = byte;
    }
    out
}

/// An alpha field without its padding: trailing spaces (and leading ones, which right-justified fields use)
/// removed. Bytes that are not UTF-8 give `None`.
pub fn alpha_text(field: &[u8]) -> Option<&str> {
    std::str::from_utf8(field)
        .ok()
        .map(|text| text.trim_matches(' '))
}

/// Writes `value` as ASCII digits right-justified in `N` bytes, padded on the left with spaces (SoupBinTCP's
/// numeric fields). A value with more than `N` digits does not fit: `None`.
pub(crate) fn ascii_numeric<const N: usize>(value: u64) -> Option<[u8; N]> {
    let mut out = [b' '; N];
    let mut rest = value;
    let mut index = N;
    loop {
        index = index.checked_sub(1)?;
        // The remainder is a single decimal digit, so the cast cannot truncate.
        out[index] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            return Some(out);
        }
    }
}

/// Reads an ASCII numeric field: digits with optional spaces on either side. All spaces reads as zero, which is
/// what a blank Requested Sequence Number means. Anything else, or a value above `u64::MAX`, is `None`.
pub(crate) fn parse_ascii_numeric(field: &[u8]) -> Option<u64> {
    let start = field.iter().position(|&b| b != b' ').unwrap_or(field.len());
    let end = field
        .iter()
        .rposition(|&b| b != b' ')
        .map_or(start, |i| i + 1);
    let digits = field.get(start..end)?;
    let mut value: u64 = 0;
    for &byte in digits {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(byte - b'0'))?;
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_reads_big_endian_and_reports_truncation() {
        let bytes = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07];
        let mut reader = Reader::new(&bytes);
        assert_eq!(reader.u16(), Ok(0x0102));
        assert_eq!(reader.u48(), Err(FieldError::Truncated));
        assert_eq!(reader.u32(), Ok(0x0304_0506));
        assert_eq!(reader.u8(), Ok(0x07));
        assert_eq!(reader.u8(), Err(FieldError::Truncated));
    }

    #[test]
    fn u48_round_trips_and_refuses_wider_values() {
        let mut buf = [0u8; 6];
        let mut writer = Writer::new(&mut buf);
        writer.u48(0x0000_1234_5678_9ABC, "timestamp_ns");
        assert_eq!(writer.finish(), Ok(6));
        assert_eq!(buf, [0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC]);
        assert_eq!(Reader::new(&buf).u48(), Ok(0x1234_5678_9ABC));

        let mut writer = Writer::new(&mut buf);
        writer.u48(U48_MAX + 1, "timestamp_ns");
        assert_eq!(
            writer.finish(),
            Err(EncodeError::ValueOutOfRange {
                field: "timestamp_ns"
            })
        );
    }

    #[test]
    fn writer_past_the_end_is_an_error_not_a_panic() {
        let mut buf = [0u8; 3];
        let mut writer = Writer::new(&mut buf);
        writer.bytes(&[0, 0, 0, 7]);
        assert_eq!(
            writer.finish(),
            Err(EncodeError::BufferTooSmall {
                needed_bytes: 4,
                available_bytes: 3
            })
        );
    }

    #[test]
    fn ascii_numeric_is_right_justified_and_space_padded() {
        assert_eq!(&ascii_numeric::<20>(1).unwrap(), b"                   1");
        assert_eq!(
            &ascii_numeric::<20>(u64::MAX).unwrap(),
            b"18446744073709551615"
        );
        assert_eq!(&ascii_numeric::<4>(0).unwrap(), b"   0");
        assert_eq!(ascii_numeric::<4>(12345), None);
    }

    #[test]
    fn parse_ascii_numeric_accepts_either_padding_and_rejects_the_rest() {
        assert_eq!(parse_ascii_numeric(b"                  42"), Some(42));
        assert_eq!(parse_ascii_numeric(b"42                  "), Some(42));
        assert_eq!(parse_ascii_numeric(b"00000000000000000042"), Some(42));
        assert_eq!(parse_ascii_numeric(b"                    "), Some(0));
        assert_eq!(parse_ascii_numeric(b"       4 2          "), None);
        assert_eq!(parse_ascii_numeric(b"                  -1"), None);
        assert_eq!(parse_ascii_numeric(b"18446744073709551616"), None);
    }

    #[test]
    fn alpha_pads_cuts_and_trims() {
        assert_eq!(&alpha::<8>("AAPL"), b"AAPL    ");
        assert_eq!(&alpha::<4>("TOOLONG"), b"TOOL");
        assert_eq!(alpha_text(b"AAPL    "), Some("AAPL"));
        assert_eq!(alpha_text(b"     12345"), Some("12345"));
        assert_eq!(alpha_text(&[0xFF, b' ']), None);
    }
}
