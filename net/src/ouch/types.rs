//! OUCH 5.0 code fields: one-byte enums whose unknown values are decoding errors, and the open-ended two-byte
//! reject reason.

wire_enum! {
    /// Buy/sell indicator.
    pub enum Side {
        Buy = b'B',
        Sell = b'S',
        SellShort = b'T',
        SellShortExempt = b'E',
    }
}

impl Side {
    /// The book side: every kind of sale sells.
    pub fn book_side(self) -> crossline_engine::Side {
        match self {
            Side::Buy => crossline_engine::Side::Buy,
            Side::Sell | Side::SellShort | Side::SellShortExempt => crossline_engine::Side::Sell,
        }
    }
}

impl From<crossline_engine::Side> for Side {
    fn from(side: crossline_engine::Side) -> Side {
        match side {
            crossline_engine::Side::Buy => Side::Buy,
            crossline_engine::Side::Sell => Side::Sell,
        }
    }
}

wire_enum! {
    /// Time in force (FIX TimeInForce codes).
    pub enum TimeInForce {
        /// Market hours.
        Day = b'0',
        ImmediateOrCancel = b'3',
        /// Extended hours.
        Gtx = b'5',
        /// Good till time: the ExpireTime option says how long.
        Gtt = b'6',
        AfterHours = b'E',
    }
}

wire_enum! {
    /// Display instruction.
    pub enum Display {
        Visible = b'Y',
        Hidden = b'N',
        Attributable = b'A',
        /// Outbound only: the order was made conformant on entry.
        Conformant = b'Z',
    }
}

wire_enum! {
    pub enum Capacity {
        Agency = b'A',
        Principal = b'P',
        Riskless = b'R',
        Other = b'O',
    }
}

wire_enum! {
    /// InterMarket Sweep eligibility.
    pub enum IsoEligibility {
        Eligible = b'Y',
        NotEligible = b'N',
    }
}

wire_enum! {
    pub enum CrossType {
        ContinuousMarket = b'N',
        OpeningCross = b'O',
        ClosingCross = b'C',
        HaltIpo = b'H',
        Supplemental = b'S',
        Retail = b'R',
        ExtendedLife = b'E',
        AfterHoursClose = b'A',
    }
}

wire_enum! {
    /// Whether an accepted or replaced order is still live.
    pub enum OrderState {
        Live = b'L',
        /// Accepted and cancelled at once: no further messages for this order.
        Dead = b'D',
    }
}

wire_enum! {
    /// System Event codes.
    pub enum EventCode {
        StartOfDay = b'S',
        EndOfDay = b'E',
    }
}

wire_enum! {
    /// Why an order was reduced or cancelled (Appendix C).
    pub enum CancelReason {
        RegulatoryRestriction = b'D',
        Closed = b'E',
        PostOnlyNms = b'F',
        PostOnlyDisplayed = b'G',
        Halted = b'H',
        ImmediateOrCancel = b'I',
        MarketCollars = b'K',
        SelfMatchPrevention = b'Q',
        Supervisory = b'S',
        Timeout = b'T',
        UserRequested = b'U',
        OpenProtection = b'X',
        SystemCancel = b'Z',
        DirectListingCapitalRaise = b'e',
    }
}

wire_enum! {
    /// Liquidity flag of an execution (Appendix E).
    pub enum LiquidityFlag {
        Added = b'A',
        ClosingCross = b'C',
        RetailAddedDisplayed = b'e',
        HaltIpoCross = b'H',
        AfterHoursClosingCross = b'i',
        NonDisplayedAdded = b'J',
        RpiProvided = b'j',
        MidpointAdded = b'k',
        HaltCross = b'K',
        ClosingCrossImbalanceOnly = b'L',
        OpeningCrossImbalanceOnly = b'M',
        MidpointRemoved = b'm',
        PassiveMidpoint = b'N',
        MidpointExtendedLife = b'n',
        OpeningCross = b'O',
        PriceImprovingNonDisplayedRemoved = b'p',
        RmoRemovedNonRpiMidpoint = b'q',
        Removed = b'R',
        RetailRemovedRpi = b'r',
        RetailRemovedPriceImproving = b't',
        ReserveNonDisplayedAdded = b'u',
        Supplemental = b'0',
        DisplayedImprovesNbbo = b'7',
        DisplayedSetsQbbo = b'8',
        RpiProvidedNoRpii = b'1',
    }
}

impl From<crossline_engine::Liquidity> for LiquidityFlag {
    fn from(liquidity: crossline_engine::Liquidity) -> LiquidityFlag {
        match liquidity {
            crossline_engine::Liquidity::Maker => LiquidityFlag::Added,
            crossline_engine::Liquidity::Taker => LiquidityFlag::Removed,
        }
    }
}

wire_enum! {
    /// Why a trade was broken.
    pub enum BrokenTradeReason {
        Erroneous = b'E',
        Consent = b'C',
        Supervisory = b'S',
        External = b'X',
    }
}

wire_enum! {
    /// Why an order was restated.
    pub enum RestatedReason {
        /// Display refreshed from reserve.
        Refresh = b'R',
        /// Displayed price updated.
        PriceUpdate = b'P',
    }
}

/// Why an order or replace was rejected: a 2-byte code. The specification's codes (Appendix D) are the
/// associated constants; Crossline's own codes are in `ouch::extensions`. The code space is open (Nasdaq adds
/// codes), so decoding accepts any value and `is_specified` tells whether it is one of Appendix D's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RejectReason(pub u16);

impl RejectReason {
    pub const QUOTE_UNAVAILABLE: RejectReason = RejectReason(0x0001);
    pub const DESTINATION_CLOSED: RejectReason = RejectReason(0x0002);
    pub const INVALID_DISPLAY: RejectReason = RejectReason(0x0003);
    pub const INVALID_MAX_FLOOR: RejectReason = RejectReason(0x0004);
    pub const INVALID_PEG_TYPE: RejectReason = RejectReason(0x0005);
    pub const FAT_FINGER: RejectReason = RejectReason(0x0006);
    pub const HALTED: RejectReason = RejectReason(0x0007);
    pub const ISO_NOT_ALLOWED: RejectReason = RejectReason(0x0008);
    pub const INVALID_SIDE: RejectReason = RejectReason(0x0009);
    pub const PROCESSING_ERROR: RejectReason = RejectReason(0x000A);
    pub const CANCEL_PENDING: RejectReason = RejectReason(0x000B);
    pub const FIRM_NOT_AUTHORIZED: RejectReason = RejectReason(0x000C);
    pub const INVALID_MIN_QUANTITY: RejectReason = RejectReason(0x000D);
    pub const NO_CLOSING_REFERENCE_PRICE: RejectReason = RejectReason(0x000E);
    pub const OTHER: RejectReason = RejectReason(0x000F);
    pub const CANCEL_NOT_ALLOWED: RejectReason = RejectReason(0x0010);
    pub const PEGGING_NOT_ALLOWED: RejectReason = RejectReason(0x0011);
    pub const CROSSED_MARKET: RejectReason = RejectReason(0x0012);
    pub const INVALID_QUANTITY: RejectReason = RejectReason(0x0013);
    pub const INVALID_CROSS_ORDER: RejectReason = RejectReason(0x0014);
    pub const REPLACE_NOT_ALLOWED: RejectReason = RejectReason(0x0015);
    pub const ROUTING_NOT_ALLOWED: RejectReason = RejectReason(0x0016);
    pub const INVALID_SYMBOL: RejectReason = RejectReason(0x0017);
    pub const TEST: RejectReason = RejectReason(0x0018);
    pub const LATE_LOC_TOO_AGGRESSIVE: RejectReason = RejectReason(0x0019);
    pub const RETAIL_NOT_ALLOWED: RejectReason = RejectReason(0x001A);
    pub const INVALID_MIDPOINT_POST_ONLY_PRICE: RejectReason = RejectReason(0x001B);
    pub const INVALID_DESTINATION: RejectReason = RejectReason(0x001C);
    pub const INVALID_PRICE: RejectReason = RejectReason(0x001D);
    pub const SHARES_EXCEED_THRESHOLD: RejectReason = RejectReason(0x001E);
    pub const EXCEEDS_MAXIMUM_NOTIONAL: RejectReason = RejectReason(0x001F);
    pub const RISK_AGGREGATE_EXPOSURE: RejectReason = RejectReason(0x0020);
    pub const RISK_MARKET_IMPACT: RejectReason = RejectReason(0x0021);
    pub const RISK_RESTRICTED_STOCK: RejectReason = RejectReason(0x0022);
    pub const RISK_SHORT_SELL_RESTRICTED: RejectReason = RejectReason(0x0023);
    pub const RISK_ORDER_TYPE_RESTRICTED: RejectReason = RejectReason(0x0024);
    pub const RISK_EXCEEDS_ADV_LIMIT: RejectReason = RejectReason(0x0025);
    pub const RISK_FAT_FINGER: RejectReason = RejectReason(0x0026);
    pub const RISK_LOCATE_REQUIRED: RejectReason = RejectReason(0x0027);
    pub const RISK_SYMBOL_MESSAGE_RATE: RejectReason = RejectReason(0x0028);
    pub const RISK_PORT_MESSAGE_RATE: RejectReason = RejectReason(0x0029);
    pub const RISK_DUPLICATE_MESSAGE_RATE: RejectReason = RejectReason(0x002A);

    /// True for the codes of the specification's Appendix D.
    pub fn is_specified(self) -> bool {
        (0x0001..=0x002A).contains(&self.0)
    }
}

impl crate::wire::Field for RejectReason {
    const BYTES: usize = 2;
    fn read(
        reader: &mut crate::wire::Reader<'_>,
        _field: &'static str,
    ) -> Result<Self, crate::wire::FieldError> {
        reader.u16().map(RejectReason)
    }
    fn write(&self, writer: &mut crate::wire::Writer<'_>) {
        writer.u16(self.0);
    }
}

/// Prices with 4 implied decimals: the largest regular price, $199,999.9900.
pub const MAX_PRICE: u64 = 0x7735_939C;
/// The special price that marks a market order for a cross, $214,748.3647.
pub const MARKET_PRICE: u64 = 0x7FFF_FFFF;
