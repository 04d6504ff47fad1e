//! OUCH 5.0: the order-entry messages inside SoupBinTCP (inbound in Unsequenced Data, outbound in Sequenced
//! Data), plus Crossline's extensions.
//!
//! Each message is a plain `Copy` struct whose fields follow the specification's table in order: `decode` reads
//! one from the exact bytes of one SoupBinTCP payload, `encode` writes one into a caller's buffer and returns its
//! size, `encoded_len` says how much room that takes. Nothing is allocated. `Inbound::decode` and
//! `Outbound::decode` dispatch on the type byte (the same letter means different messages in each direction).
//!
//! Field conventions: integers are big-endian; prices are `u64` with 4 implied decimals (1 = $0.0001, see
//! `MAX_PRICE` and `MARKET_PRICE`); quantities are `u32` shares (lots here); timestamps are `u64` nanoseconds
//! since midnight; alpha fields are byte arrays, left-justified and space-padded (`crate::alpha` builds them).
//!
//! The optional appendage: messages whose table ends with Appendage Length always carry it (zero when there are
//! no options). Later revisions of OUCH 5.0 let several other messages (Cancel, Modify, Account Query, Canceled,
//! Rejected, ...) carry an appendage too, so those decode with or without one and encode without one unless they
//! have options. Messages with neither decode only at their exact size.

mod appendage;
pub mod extensions;
mod inbound;
mod outbound;
mod types;

pub use appendage::{tag, Options, PostOnly};
pub use extensions::{Quote, QuoteStatus, QuoteStatusCode};
pub use inbound::{
    AccountQuery, CancelOrder, DisableOrderEntry, EnableOrderEntry, EnterOrder, Inbound,
    MassCancel, ModifyOrder, ReplaceOrder,
};
pub use outbound::{
    AccountQueryResponse, AiqCanceled, BrokenTrade, CancelPending, CancelReject,
    DisableOrderEntryResponse, EnableOrderEntryResponse, MassCancelResponse, OrderAccepted,
    OrderCanceled, OrderExecuted, OrderModified, OrderRejected, OrderReplaced, OrderRestated,
    Outbound, PriorityUpdate, SystemEvent,
};
pub use types::{
    BrokenTradeReason, CancelReason, Capacity, CrossType, Display, EventCode, IsoEligibility,
    LiquidityFlag, OrderState, RejectReason, RestatedReason, Side, TimeInForce, MARKET_PRICE,
    MAX_PRICE,
};

use crate::wire::FieldError;
use thiserror::Error;

/// Why bytes are not a valid OUCH message. Every malformed input ends here; none panics. `message_type` is the
/// first byte of the message being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum OuchError {
    #[error("empty OUCH message")]
    Empty,
    #[error("unknown OUCH message type {message_type:#04x}")]
    UnknownType { message_type: u8 },
    #[error("expected OUCH message type {expected:#04x}, got {actual:#04x}")]
    WrongType { expected: u8, actual: u8 },
    #[error(
        "OUCH message {message_type:#04x} needs at least {min_bytes} bytes, got {actual_bytes}"
    )]
    TooShort {
        message_type: u8,
        min_bytes: usize,
        actual_bytes: usize,
    },
    #[error("OUCH message {message_type:#04x} is {expected_bytes} bytes, got {actual_bytes}")]
    BadLength {
        message_type: u8,
        expected_bytes: usize,
        actual_bytes: usize,
    },
    #[error("OUCH message {message_type:#04x}: {field} has undefined value {value:#04x}")]
    BadCode {
        message_type: u8,
        field: &'static str,
        value: u8,
    },
    #[error("OUCH message {message_type:#04x}: Appendage Length says {declared_bytes} bytes, {actual_bytes} follow")]
    AppendageLengthMismatch {
        message_type: u8,
        declared_bytes: usize,
        actual_bytes: usize,
    },
    #[error("OUCH message {message_type:#04x}: tag-value element at appendage offset {offset} runs past its end")]
    TagTruncated { message_type: u8, offset: usize },
    #[error("OUCH message {message_type:#04x}: tag-value element at appendage offset {offset} has length 0")]
    ZeroTagLength { message_type: u8, offset: usize },
    #[error("OUCH message {message_type:#04x}: option tag {tag} has a {value_bytes}-byte value, expected {expected_bytes}")]
    BadTagLength {
        message_type: u8,
        tag: u8,
        value_bytes: usize,
        expected_bytes: usize,
    },
    #[error("OUCH message {message_type:#04x}: option tag {tag} appears twice")]
    DuplicateTag { message_type: u8, tag: u8 },
    #[error("OUCH message {message_type:#04x}: option tag {tag} has undefined value {value:#04x}")]
    BadTagValue {
        message_type: u8,
        tag: u8,
        value: u8,
    },
}

impl OuchError {
    fn field(message_type: u8, error: FieldError) -> OuchError {
        match error {
            FieldError::BadCode { field, value } => OuchError::BadCode {
                message_type,
                field,
                value,
            },
            // Lengths are checked before fields are read; reaching this means a wrong size table.
            FieldError::Truncated => OuchError::TooShort {
                message_type,
                min_bytes: 0,
                actual_bytes: 0,
            },
        }
    }
}

/// Whether a message carries the optional appendage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AppendageRule {
    /// Appendage Length is part of the message (zero when there are no options).
    Required,
    /// The message may end after its fixed fields or carry Appendage Length and options.
    Optional,
}

impl AppendageRule {
    /// Bytes of Appendage Length plus the elements, as this message would encode `options`.
    fn encoded_len(self, options: &Options) -> usize {
        match self {
            AppendageRule::Optional if options.is_empty() => 0,
            _ => APPENDAGE_LENGTH_BYTES + options.encoded_len(),
        }
    }

    fn write(self, options: &Options, writer: &mut crate::wire::Writer<'_>) {
        if self == AppendageRule::Optional && options.is_empty() {
            return;
        }
        match u16::try_from(options.encoded_len()) {
            Ok(length) => writer.u16(length),
            // Every known option together is about a hundred bytes; this only keeps the writer total.
            Err(_) => writer.reject_value("appendage length"),
        }
        options.write(writer);
    }
}

const APPENDAGE_LENGTH_BYTES: usize = 2;

/// Checks the type byte and splits `bytes` into the fixed part (type byte included) and the decoded options.
fn split_message(
    bytes: &[u8],
    message_type: u8,
    base_bytes: usize,
    rule: AppendageRule,
) -> Result<(&[u8], Options), OuchError> {
    check_type(bytes, message_type)?;
    let required_bytes = match rule {
        AppendageRule::Required => base_bytes + APPENDAGE_LENGTH_BYTES,
        AppendageRule::Optional => base_bytes,
    };
    let too_short = OuchError::TooShort {
        message_type,
        min_bytes: required_bytes,
        actual_bytes: bytes.len(),
    };
    let (base, appendage) = bytes.split_at_checked(base_bytes).ok_or(too_short)?;
    if appendage.is_empty() && rule == AppendageRule::Optional {
        return Ok((base, Options::NONE));
    }
    let Some((length_field, elements)) = appendage.split_first_chunk::<APPENDAGE_LENGTH_BYTES>()
    else {
        return Err(OuchError::TooShort {
            message_type,
            min_bytes: base_bytes + APPENDAGE_LENGTH_BYTES,
            actual_bytes: bytes.len(),
        });
    };
    let declared_bytes = usize::from(u16::from_be_bytes(*length_field));
    if declared_bytes != elements.len() {
        return Err(OuchError::AppendageLengthMismatch {
            message_type,
            declared_bytes,
            actual_bytes: elements.len(),
        });
    }
    Ok((base, Options::decode(elements, message_type)?))
}

/// Checks the type byte and the exact size of a message without an appendage.
fn check_fixed(bytes: &[u8], message_type: u8, expected_bytes: usize) -> Result<(), OuchError> {
    check_type(bytes, message_type)?;
    if bytes.len() != expected_bytes {
        return Err(OuchError::BadLength {
            message_type,
            expected_bytes,
            actual_bytes: bytes.len(),
        });
    }
    Ok(())
}

fn check_type(bytes: &[u8], expected: u8) -> Result<(), OuchError> {
    match bytes.first() {
        None => Err(OuchError::Empty),
        Some(&actual) if actual != expected => Err(OuchError::WrongType { expected, actual }),
        Some(_) => Ok(()),
    }
}

/// Declares one OUCH message: the struct (fields in wire order), its type byte, fixed size, `decode`,
/// `encoded_len` and `encode`. `appendage required` / `appendage optional` add an `options` field; `fixed`
/// messages have none and an exact size. Field offsets follow from the order and sizes; the golden tests check
/// them against the specification's offset tables.
macro_rules! ouch_message {
    (
        $(#[$meta:meta])*
        pub struct $name:ident = $type_byte:literal, fixed {
            $( $(#[$fmeta:meta])* pub $field:ident: $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $name {
            pub const TYPE: u8 = $type_byte;
            /// Bytes on the wire, type byte included.
            pub const BYTES: usize = 1 $( + <$ty as $crate::wire::Field>::BYTES )*;

            pub fn decode(bytes: &[u8]) -> Result<Self, $crate::ouch::OuchError> {
                $crate::ouch::check_fixed(bytes, Self::TYPE, Self::BYTES)?;
                let mut reader = $crate::wire::Reader::new(bytes.get(1..).unwrap_or_default());
                $(
                    let $field = <$ty as $crate::wire::Field>::read(&mut reader, stringify!($field))
                        .map_err(|error| $crate::ouch::OuchError::field(Self::TYPE, error))?;
                )*
                let _ = &mut reader;
                Ok($name { $( $field, )* })
            }

            pub fn encoded_len(&self) -> usize {
                Self::BYTES
            }

            pub fn encode(&self, out: &mut [u8]) -> Result<usize, $crate::wire::EncodeError> {
                $crate::wire::check_room(out, self.encoded_len())?;
                let mut writer = $crate::wire::Writer::new(out);
                writer.u8(Self::TYPE);
                $( $crate::wire::Field::write(&self.$field, &mut writer); )*
                writer.finish()
            }
        }
    };
    (
        $(#[$meta:meta])*
        pub struct $name:ident = $type_byte:literal, appendage $rule:ident {
            $( $(#[$fmeta:meta])* pub $field:ident: $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
            /// The optional appendage's known options.
            pub options: $crate::ouch::Options,
        }

        impl $name {
            pub const TYPE: u8 = $type_byte;
            /// Bytes of the fixed fields, type byte included, Appendage Length excluded.
            pub const BASE_BYTES: usize = 1 $( + <$ty as $crate::wire::Field>::BYTES )*;
            const APPENDAGE: $crate::ouch::AppendageRule = ouch_message!(@rule $rule);

            pub fn decode(bytes: &[u8]) -> Result<Self, $crate::ouch::OuchError> {
                let (base, options) =
                    $crate::ouch::split_message(bytes, Self::TYPE, Self::BASE_BYTES, Self::APPENDAGE)?;
                let mut reader = $crate::wire::Reader::new(base.get(1..).unwrap_or_default());
                $(
                    let $field = <$ty as $crate::wire::Field>::read(&mut reader, stringify!($field))
                        .map_err(|error| $crate::ouch::OuchError::field(Self::TYPE, error))?;
                )*
                let _ = &mut reader;
                Ok($name { $( $field, )* options })
            }

            pub fn encoded_len(&self) -> usize {
                Self::BASE_BYTES + Self::APPENDAGE.encoded_len(&self.options)
            }

            pub fn encode(&self, out: &mut [u8]) -> Result<usize, $crate::wire::EncodeError> {
                $crate::wire::check_room(out, self.encoded_len())?;
                let mut writer = $crate::wire::Writer::new(out);
                writer.u8(Self::TYPE);
                $( $crate::wire::Field::write(&self.$field, &mut writer); )*
                Self::APPENDAGE.write(&self.options, &mut writer);
                writer.finish()
            }
        }
    };
    (@rule required) => { $crate::ouch::AppendageRule::Required };
    (@rule optional) => { $crate::ouch::AppendageRule::Optional };
}

/// Declares a direction's message enum: one variant per message struct, dispatch of `decode` on the type byte,
/// and `encoded_len` / `encode` / `message_type` over every variant.
macro_rules! message_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $variant:ident($ty:ident), )* }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $( $variant($ty), )*
        }

        impl $name {
            /// Decodes one message, choosing its type by the first byte.
            pub fn decode(bytes: &[u8]) -> Result<Self, $crate::ouch::OuchError> {
                let Some(&message_type) = bytes.first() else {
                    return Err($crate::ouch::OuchError::Empty);
                };
                match message_type {
                    $( $ty::TYPE => $ty::decode(bytes).map($name::$variant), )*
                    _ => Err($crate::ouch::OuchError::UnknownType { message_type }),
                }
            }

            pub fn message_type(&self) -> u8 {
                match self {
                    $( $name::$variant(_) => $ty::TYPE, )*
                }
            }

            pub fn encoded_len(&self) -> usize {
                match self {
                    $( $name::$variant(message) => message.encoded_len(), )*
                }
            }

            pub fn encode(&self, out: &mut [u8]) -> Result<usize, $crate::wire::EncodeError> {
                match self {
                    $( $name::$variant(message) => message.encode(out), )*
                }
            }
        }

        $(
            impl From<$ty> for $name {
                fn from(message: $ty) -> $name {
                    $name::$variant(message)
                }
            }
        )*
    };
}

use message_enum;
use ouch_message;
