//! The ITCH 5.0 messages, one struct each, fields in wire order after the common header.

use super::{BuySell, EventCode, ItchError, Printable, TradingState, HEADER_BYTES};
use crossline_engine::Symbol;

/// Declares one ITCH message: the struct (common header fields, then the message's own fields in wire order),
/// its type byte and size, `decode`, `encoded_len` and `encode`. Offsets follow from order and sizes; the
/// golden tests check them against the specification's tables.
macro_rules! itch_message {
    (
        $(#[$meta:meta])*
        pub struct $name:ident = $type_byte:literal {
            $( $(#[$fmeta:meta])* pub $field:ident: $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name {
            /// The instrument's locate code for the day (Crossline: the instrument id); 0 when none applies.
            pub stock_locate: u16,
            pub tracking_number: u16,
            /// Nanoseconds since midnight; must fit 6 bytes.
            pub timestamp_ns: u64,
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $name {
            pub const TYPE: u8 = $type_byte;
            /// Bytes on the wire, type byte included.
            pub const BYTES: usize = HEADER_BYTES $( + <$ty as $crate::wire::Field>::BYTES )*;

            pub fn decode(bytes: &[u8]) -> Result<Self, ItchError> {
                match bytes.first() {
                    None => return Err(ItchError::Empty),
                    Some(&actual) if actual != Self::TYPE => {
                        return Err(ItchError::WrongType { expected: Self::TYPE, actual })
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
                let field_error = |error| ItchError::field(Self::TYPE, error);
                let mut reader = $crate::wire::Reader::new(bytes.get(1..).unwrap_or_default());
                let stock_locate = reader.u16().map_err(field_error)?;
                let tracking_number = reader.u16().map_err(field_error)?;
                let timestamp_ns = reader.u48().map_err(field_error)?;
                $(
                    let $field = <$ty as $crate::wire::Field>::read(&mut reader, stringify!($field))
                        .map_err(field_error)?;
                )*
                Ok($name { stock_locate, tracking_number, timestamp_ns, $( $field, )* })
            }

            pub fn encoded_len(&self) -> usize {
                Self::BYTES
            }

            /// Writes the message; a timestamp above 6 bytes is `ValueOutOfRange`.
            pub fn encode(&self, out: &mut [u8]) -> Result<usize, $crate::wire::EncodeError> {
                $crate::wire::check_room(out, Self::BYTES)?;
                let mut writer = $crate::wire::Writer::new(out);
                writer.u8(Self::TYPE);
                writer.u16(self.stock_locate);
                writer.u16(self.tracking_number);
                writer.u48(self.timestamp_ns, "timestamp_ns");
                $( $crate::wire::Field::write(&self.$field, &mut writer); )*
                writer.finish()
            }
        }
    };
}

itch_message! {
    /// `S`, 12 bytes: a market or feed event. Stock Locate is 0.
    pub struct SystemEvent = b'S' {
        pub event_code: EventCode,
    }
}

itch_message! {
    /// `R`, 39 bytes: one instrument's directory entry, sent at the start of the day.
    pub struct StockDirectory = b'R' {
        pub stock: Symbol,
        /// Listing market code (`Q`, `G`, `S`, `N`, `A`, `P`, `Z`, `V`, space).
        pub market_category: u8,
        /// `N` normal, space when not applicable; other codes flag listing deficiencies.
        pub financial_status_indicator: u8,
        /// Shares in a round lot.
        pub round_lot_size: u32,
        /// `Y`: only round lots accepted; `N`: any size.
        pub round_lots_only: u8,
        /// Security class code (Appendix D).
        pub issue_classification: u8,
        /// Security sub-type code (Appendix E), space-padded.
        pub issue_sub_type: [u8; 2],
        /// `P` live/production, `T` test.
        pub authenticity: u8,
        /// `Y`, `N` or space.
        pub short_sale_threshold_indicator: u8,
        /// `Y`, `N` or space.
        pub ipo_flag: u8,
        /// `1`, `2` or space.
        pub luld_reference_price_tier: u8,
        /// `Y`, `N` or space.
        pub etp_flag: u8,
        pub etp_leverage_factor: u32,
        /// `Y` or `N`.
        pub inverse_indicator: u8,
    }
}

itch_message! {
    /// `H`, 25 bytes: an instrument's trading state changed (halt, pause, resume).
    pub struct StockTradingAction = b'H' {
        pub stock: Symbol,
        pub trading_state: TradingState,
        pub reserved: u8,
        /// Trading action reason code (Appendix C), space-padded, e.g. `LUDP`, `H11 `, or spaces.
        pub reason: [u8; 4],
    }
}

itch_message! {
    /// `A`, 36 bytes: an order was added to the displayed book.
    pub struct AddOrder = b'A' {
        pub order_reference_number: u64,
        pub side: BuySell,
        pub shares: u32,
        pub stock: Symbol,
        /// Display price, 4 implied decimals.
        pub price: u32,
    }
}

itch_message! {
    /// `F`, 40 bytes: Add Order with the market participant's attribution.
    pub struct AddOrderMpid = b'F' {
        pub order_reference_number: u64,
        pub side: BuySell,
        pub shares: u32,
        pub stock: Symbol,
        pub price: u32,
        /// Market participant id.
        pub attribution: [u8; 4],
    }
}

itch_message! {
    /// `E`, 31 bytes: a displayed order executed at its display price.
    pub struct OrderExecuted = b'E' {
        pub order_reference_number: u64,
        pub executed_shares: u32,
        pub match_number: u64,
    }
}

itch_message! {
    /// `C`, 36 bytes: a displayed order executed at a price other than its display price.
    pub struct OrderExecutedWithPrice = b'C' {
        pub order_reference_number: u64,
        pub executed_shares: u32,
        pub match_number: u64,
        pub printable: Printable,
        /// 4 implied decimals.
        pub execution_price: u32,
    }
}

itch_message! {
    /// `X`, 23 bytes: part of a displayed order was cancelled.
    pub struct OrderCancel = b'X' {
        pub order_reference_number: u64,
        pub cancelled_shares: u32,
    }
}

itch_message! {
    /// `D`, 19 bytes: an order left the book.
    pub struct OrderDelete = b'D' {
        pub order_reference_number: u64,
    }
}

itch_message! {
    /// `U`, 35 bytes: an order was replaced; side, stock and attribution carry over from the original.
    pub struct OrderReplace = b'U' {
        pub original_order_reference_number: u64,
        pub new_order_reference_number: u64,
        pub shares: u32,
        pub price: u32,
    }
}

itch_message! {
    /// `P`, 44 bytes: an execution against non-displayed quantity (the book does not change).
    pub struct Trade = b'P' {
        /// Zero in Nasdaq's feed; Crossline too, since hidden quantity has no displayed reference.
        pub order_reference_number: u64,
        pub side: BuySell,
        pub shares: u32,
        pub stock: Symbol,
        pub price: u32,
        pub match_number: u64,
    }
}

/// Declares the message enum with type-byte dispatch.
macro_rules! itch_enum {
    ( $( $variant:ident ),* $(,)? ) => {
        /// Any ITCH message this codec reads and writes.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Message {
            $( $variant($variant), )*
        }

        impl Message {
            /// Decodes one message, choosing its type by the first byte.
            pub fn decode(bytes: &[u8]) -> Result<Message, ItchError> {
                let Some(&message_type) = bytes.first() else {
                    return Err(ItchError::Empty);
                };
                match message_type {
                    $( $variant::TYPE => $variant::decode(bytes).map(Message::$variant), )*
                    _ => Err(ItchError::UnknownType { message_type }),
                }
            }

            pub fn message_type(&self) -> u8 {
                match self {
                    $( Message::$variant(_) => $variant::TYPE, )*
                }
            }

            pub fn encoded_len(&self) -> usize {
                match self {
                    $( Message::$variant(message) => message.encoded_len(), )*
                }
            }

            pub fn encode(&self, out: &mut [u8]) -> Result<usize, $crate::wire::EncodeError> {
                match self {
                    $( Message::$variant(message) => message.encode(out), )*
                }
            }

            /// The Stock Locate every message carries.
            pub fn stock_locate(&self) -> u16 {
                match self {
                    $( Message::$variant(message) => message.stock_locate, )*
                }
            }

            pub fn timestamp_ns(&self) -> u64 {
                match self {
                    $( Message::$variant(message) => message.timestamp_ns, )*
                }
            }
        }

        $(
            impl From<$variant> for Message {
                fn from(message: $variant) -> Message {
                    Message::$variant(message)
                }
            }
        )*
    };
}

itch_enum!(
    SystemEvent,
    StockDirectory,
    StockTradingAction,
    AddOrder,
    AddOrderMpid,
    OrderExecuted,
    OrderExecutedWithPrice,
    OrderCancel,
    OrderDelete,
    OrderReplace,
    Trade,
);
