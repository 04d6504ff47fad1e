//! The optional appendage: OUCH 5.0's tag-value options after a message's fixed fields.
//!
//! On the wire: a 2-byte Appendage Length, then TagValue elements back to back. Each element is a 1-byte length
//! (of the tag and the value: value bytes + 1), a 1-byte option tag and the value. Known tags decode into
//! `Options`, a plain struct, and encode back in ascending tag order; a tag this codec does not know is skipped
//! by its length, so a newer client's options never break parsing. A known tag with the wrong value size, an
//! element running past the appendage, a zero element length or a repeated tag is an error.
//!
//! Tags and value sizes are those of OUCH 5.0 Appendix B; tags 26 to 28 come from later revisions of the
//! specification (Mass Cancel's Side and GroupID criteria and the UserRefIdx order-flow channel).

use super::types::Side;
use super::OuchError;
use crate::wire::{Field, FieldError, Reader, Writer};

/// Option tag numbers.
pub mod tag {
    pub const SECONDARY_ORD_REF_NUM: u8 = 1;
    pub const FIRM: u8 = 2;
    pub const MIN_QTY: u8 = 3;
    pub const CUSTOMER_TYPE: u8 = 4;
    pub const MAX_FLOOR: u8 = 5;
    pub const PRICE_TYPE: u8 = 6;
    pub const PEG_OFFSET: u8 = 7;
    pub const DISCRETION_PRICE: u8 = 9;
    pub const DISCRETION_PRICE_TYPE: u8 = 10;
    pub const DISCRETION_PEG_OFFSET: u8 = 11;
    pub const POST_ONLY: u8 = 12;
    pub const RANDOM_RESERVES: u8 = 13;
    pub const ROUTE: u8 = 14;
    pub const EXPIRE_TIME: u8 = 15;
    pub const TRADE_NOW: u8 = 16;
    pub const HANDLE_INST: u8 = 17;
    pub const BBO_WEIGHT_INDICATOR: u8 = 18;
    pub const DISPLAY_QUANTITY: u8 = 22;
    pub const DISPLAY_PRICE: u8 = 23;
    pub const GROUP_ID: u8 = 24;
    pub const SHARES_LOCATED: u8 = 25;
    pub const LOCATE_BROKER: u8 = 26;
    pub const SIDE: u8 = 27;
    pub const USER_REF_IDX: u8 = 28;
}

wire_enum! {
    /// PostOnly option values.
    pub enum PostOnly {
        PostOnly = b'P',
        No = b'N',
    }
}

/// The known options of one message. `None` means the tag was absent. Prices have 4 implied decimals; one-byte
/// code options Crossline does not interpret are kept as their raw bytes for the session layer to judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Options {
    /// Tag 1: order reference number of the displayed part on the market data feed.
    pub secondary_ord_ref_num: Option<u64>,
    /// Tag 2: firm identifier; blank means the account's default firm.
    pub firm: Option<[u8; 4]>,
    /// Tag 3: minimum quantity that must trade on entry (with IOC and MinQty = Quantity: fill-or-kill).
    pub min_qty: Option<u32>,
    /// Tag 4: `R` retail designated, `N` not.
    pub customer_type: Option<u8>,
    /// Tag 5: displayed part of a reserve (iceberg) order.
    pub max_floor: Option<u32>,
    /// Tag 6: `L` limit, `P` market peg, `M` midpoint peg, `R` primary peg, `Q` market maker peg, `m` midpoint.
    pub price_type: Option<u8>,
    /// Tag 7: signed peg offset, 4 implied decimals.
    pub peg_offset: Option<i32>,
    /// Tag 9: discretion price, 4 implied decimals.
    pub discretion_price: Option<u64>,
    /// Tag 10: `L`, `P`, `M` or `R` as PriceType.
    pub discretion_price_type: Option<u8>,
    /// Tag 11: signed discretion peg offset, 4 implied decimals.
    pub discretion_peg_offset: Option<i32>,
    /// Tag 12: post only (rejected rather than trade on entry).
    pub post_only: Option<PostOnly>,
    /// Tag 13: shares for random reserve replenishment.
    pub random_reserves: Option<u32>,
    /// Tag 14: routing strategy.
    pub route: Option<[u8; 4]>,
    /// Tag 15: seconds the order lives (GTT); less than 86,400.
    pub expire_time_s: Option<u32>,
    /// Tag 16: `Y` / `N`.
    pub trade_now: Option<u8>,
    /// Tag 17: handling instruction code.
    pub handle_inst: Option<u8>,
    /// Tag 18: BBO weight indicator code (outbound).
    pub bbo_weight_indicator: Option<u8>,
    /// Tag 22: new displayed quantity (Order Restated).
    pub display_quantity: Option<u32>,
    /// Tag 23: new displayed price, 4 implied decimals (Order Restated).
    pub display_price: Option<u64>,
    /// Tag 24: customer group id within the firm.
    pub group_id: Option<u16>,
    /// Tag 25: `Y` / `N`, shares located for a short sale.
    pub shares_located: Option<u8>,
    /// Tag 26: locate broker.
    pub locate_broker: Option<[u8; 4]>,
    /// Tag 27: side criterion (Mass Cancel).
    pub side: Option<Side>,
    /// Tag 28: order-flow channel index for UserRefNum sequencing.
    pub user_ref_idx: Option<u8>,
}

/// Visits every present option as (tag, value writer) in ascending tag order. One list drives both the length
/// and the bytes, so they cannot disagree.
macro_rules! for_each_option {
    ($options:expr, |$tag:ident, $value:ident| $body:expr) => {{
        let options = $options;
        macro_rules! visit {
            ($t:expr, $field:expr) => {
                if let Some($value) = &$field {
                    let $tag: u8 = $t;
                    $body;
                }
            };
        }
        visit!(tag::SECONDARY_ORD_REF_NUM, options.secondary_ord_ref_num);
        visit!(tag::FIRM, options.firm);
        visit!(tag::MIN_QTY, options.min_qty);
        visit!(tag::CUSTOMER_TYPE, options.customer_type);
        visit!(tag::MAX_FLOOR, options.max_floor);
        visit!(tag::PRICE_TYPE, options.price_type);
        visit!(tag::PEG_OFFSET, options.peg_offset);
        visit!(tag::DISCRETION_PRICE, options.discretion_price);
        visit!(tag::DISCRETION_PRICE_TYPE, options.discretion_price_type);
        visit!(tag::DISCRETION_PEG_OFFSET, options.discretion_peg_offset);
        visit!(tag::POST_ONLY, options.post_only);
        visit!(tag::RANDOM_RESERVES, options.random_reserves);
        visit!(tag::ROUTE, options.route);
        visit!(tag::EXPIRE_TIME, options.expire_time_s);
        visit!(tag::TRADE_NOW, options.trade_now);
        visit!(tag::HANDLE_INST, options.handle_inst);
        visit!(tag::BBO_WEIGHT_INDICATOR, options.bbo_weight_indicator);
        visit!(tag::DISPLAY_QUANTITY, options.display_quantity);
        visit!(tag::DISPLAY_PRICE, options.display_price);
        visit!(tag::GROUP_ID, options.group_id);
        visit!(tag::SHARES_LOCATED, options.shares_located);
        visit!(tag::LOCATE_BROKER, options.locate_broker);
        visit!(tag::SIDE, options.side);
        visit!(tag::USER_REF_IDX, options.user_ref_idx);
    }};
}

/// Bytes of one TagValue element around its value: the length byte and the tag byte.
const ELEMENT_OVERHEAD_BYTES: usize = 2;

impl Options {
    /// No options.
    pub const NONE: Options = Options {
        secondary_ord_ref_num: None,
        firm: None,
        min_qty: None,
        customer_type: None,
        max_floor: None,
        price_type: None,
        peg_offset: None,
        discretion_price: None,
        discretion_price_type: None,
        discretion_peg_offset: None,
        post_only: None,
        random_reserves: None,
        route: None,
        expire_time_s: None,
        trade_now: None,
        handle_inst: None,
        bbo_weight_indicator: None,
        display_quantity: None,
        display_price: None,
        group_id: None,
        shares_located: None,
        locate_broker: None,
        side: None,
        user_ref_idx: None,
    };

    pub fn is_empty(&self) -> bool {
        *self == Options::NONE
    }

    /// Bytes of the TagValue elements (the Appendage Length field excluded).
    pub fn encoded_len(&self) -> usize {
        let mut total = 0;
        for_each_option!(self, |_tag, value| total +=
            ELEMENT_OVERHEAD_BYTES + field_bytes(value));
        total
    }

    /// Writes the TagValue elements in ascending tag order.
    pub(crate) fn write(&self, writer: &mut Writer<'_>) {
        for_each_option!(self, |tag, value| {
            // Option values are at most 8 bytes, so the element length always fits its byte.
            writer.u8((1 + field_bytes(value)) as u8);
            writer.u8(tag);
            Field::write(value, writer);
        });
    }

    /// Reads TagValue elements filling exactly `bytes` (the appendage after its length field). `message_type`
    /// only labels errors.
    pub(crate) fn decode(bytes: &[u8], message_type: u8) -> Result<Options, OuchError> {
        let mut options = Options::NONE;
        let mut offset = 0usize;
        let mut rest = bytes;
        while let Some((&element_len, after_len)) = rest.split_first() {
            let Some((element, after_element)) =
                after_len.split_at_checked(usize::from(element_len))
            else {
                return Err(OuchError::TagTruncated {
                    message_type,
                    offset,
                });
            };
            let Some((&tag, value)) = element.split_first() else {
                return Err(OuchError::ZeroTagLength {
                    message_type,
                    offset,
                });
            };
            options.set(tag, value, message_type)?;
            offset += 1 + element.len();
            rest = after_element;
        }
        Ok(options)
    }

    fn set(&mut self, tag: u8, value: &[u8], message_type: u8) -> Result<(), OuchError> {
        let context = Context {
            tag,
            value,
            message_type,
        };
        match tag {
            tag::SECONDARY_ORD_REF_NUM => context.store(&mut self.secondary_ord_ref_num),
            tag::FIRM => context.store(&mut self.firm),
            tag::MIN_QTY => context.store(&mut self.min_qty),
            tag::CUSTOMER_TYPE => context.store(&mut self.customer_type),
            tag::MAX_FLOOR => context.store(&mut self.max_floor),
            tag::PRICE_TYPE => context.store(&mut self.price_type),
            tag::PEG_OFFSET => context.store(&mut self.peg_offset),
            tag::DISCRETION_PRICE => context.store(&mut self.discretion_price),
            tag::DISCRETION_PRICE_TYPE => context.store(&mut self.discretion_price_type),
            tag::DISCRETION_PEG_OFFSET => context.store(&mut self.discretion_peg_offset),
            tag::POST_ONLY => context.store(&mut self.post_only),
            tag::RANDOM_RESERVES => context.store(&mut self.random_reserves),
            tag::ROUTE => context.store(&mut self.route),
            tag::EXPIRE_TIME => context.store(&mut self.expire_time_s),
            tag::TRADE_NOW => context.store(&mut self.trade_now),
            tag::HANDLE_INST => context.store(&mut self.handle_inst),
            tag::BBO_WEIGHT_INDICATOR => context.store(&mut self.bbo_weight_indicator),
            tag::DISPLAY_QUANTITY => context.store(&mut self.display_quantity),
            tag::DISPLAY_PRICE => context.store(&mut self.display_price),
            tag::GROUP_ID => context.store(&mut self.group_id),
            tag::SHARES_LOCATED => context.store(&mut self.shares_located),
            tag::LOCATE_BROKER => context.store(&mut self.locate_broker),
            tag::SIDE => context.store(&mut self.side),
            tag::USER_REF_IDX => context.store(&mut self.user_ref_idx),
            // A tag from a revision this codec does not know: its length says how far to skip.
            _ => Ok(()),
        }
    }
}

/// One element being stored: enough to check its size, detect a repeat and label an error.
struct Context<'a> {
    tag: u8,
    value: &'a [u8],
    message_type: u8,
}

impl Context<'_> {
    fn store<T: Field>(&self, slot: &mut Option<T>) -> Result<(), OuchError> {
        let Context {
            tag,
            value,
            message_type,
        } = *self;
        if value.len() != T::BYTES {
            return Err(OuchError::BadTagLength {
                message_type,
                tag,
                value_bytes: value.len(),
                expected_bytes: T::BYTES,
            });
        }
        if slot.is_some() {
            return Err(OuchError::DuplicateTag { message_type, tag });
        }
        let parsed = T::read(&mut Reader::new(value), "option").map_err(|error| match error {
            FieldError::BadCode { value, .. } => OuchError::BadTagValue {
                message_type,
                tag,
                value,
            },
            // The size was checked above.
            FieldError::Truncated => OuchError::BadTagLength {
                message_type,
                tag,
                value_bytes: value.len(),
                expected_bytes: T::BYTES,
            },
        })?;
        *slot = Some(parsed);
        Ok(())
    }
}

fn field_bytes<T: Field>(_value: &T) -> usize {
    T::BYTES
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_round_trip_in_tag_order() {
        let options = Options {
            min_qty: Some(100),
            firm: Some(*b"ABCD"),
            post_only: Some(PostOnly::PostOnly),
            group_id: Some(7),
            ..Options::NONE
        };
        let mut buf = [0u8; 64];
        let mut writer = Writer::new(&mut buf);
        options.write(&mut writer);
        let written = writer.finish().unwrap();
        assert_eq!(written, options.encoded_len());
        assert_eq!(
            &buf[..written],
            &[5, 2, b'A', b'B', b'C', b'D', 5, 3, 0, 0, 0, 100, 2, 12, b'P', 3, 24, 0, 7]
        );
        assert_eq!(Options::decode(&buf[..written], b'O'), Ok(options));
    }

    #[test]
    fn unknown_tags_are_skipped_by_their_length() {
        let bytes = [4, 200, 1, 2, 3, 5, 3, 0, 0, 1, 0, 1, 201];
        let options = Options::decode(&bytes, b'O').unwrap();
        assert_eq!(
            options,
            Options {
                min_qty: Some(256),
                ..Options::NONE
            }
        );
    }

    #[test]
    fn malformed_elements_are_errors() {
        assert_eq!(
            Options::decode(&[5, 3, 0, 0], b'O'),
            Err(OuchError::TagTruncated {
                message_type: b'O',
                offset: 0
            })
        );
        assert_eq!(
            Options::decode(&[0], b'O'),
            Err(OuchError::ZeroTagLength {
                message_type: b'O',
                offset: 0
            })
        );
        assert_eq!(
            Options::decode(&[3, 3, 0, 1], b'O'),
            Err(OuchError::BadTagLength {
                message_type: b'O',
                tag: 3,
                value_bytes: 2,
                expected_bytes: 4
            })
        );
        assert_eq!(
            Options::decode(&[2, 12, b'P', 2, 12, b'N'], b'O'),
            Err(OuchError::DuplicateTag {
                message_type: b'O',
                tag: 12
            })
        );
        assert_eq!(
            Options::decode(&[2, 12, b'Y'], b'O'),
            Err(OuchError::BadTagValue {
                message_type: b'O',
                tag: 12,
                value: b'Y'
            })
        );
    }
}
