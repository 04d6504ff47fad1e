//! Subscriber side: rebuilds per-instrument order-by-order books from ITCH over MoldUDP64.

use super::key_hash::KeyHash;
use crate::itch::{BuySell, ItchError, Message};
use crate::moldudp64::{MoldError, Packet, PacketKind};
use crossline_engine::Side;
use std::collections::{BTreeMap, HashMap};
use thiserror::Error;

/// Why a message or packet could not be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum BookError {
    #[error(transparent)]
    Mold(#[from] MoldError),
    #[error(transparent)]
    Itch(#[from] ItchError),
    #[error("order reference {order_reference_number} is already in the book")]
    DuplicateOrder { order_reference_number: u64 },
    #[error("order reference {order_reference_number} is not in the book")]
    UnknownOrder { order_reference_number: u64 },
    #[error("{shares} shares taken off order {order_reference_number}, which shows {shown}")]
    TooManyShares {
        order_reference_number: u64,
        shares: u32,
        shown: u32,
    },
    #[error("packet from session {session:?}, expected {expected:?}")]
    WrongSession {
        session: [u8; 10],
        expected: [u8; 10],
    },
}

/// What applying a packet did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketOutcome {
    /// `applied` new messages went into the book (0 for heartbeats and duplicates).
    Applied { applied: u16 },
    /// Messages from `first_missing` were lost: nothing of this packet was applied. Request `count` messages
    /// from `first_missing` (they end where this packet ends), then continue.
    Gap { first_missing: u64, count: u64 },
    /// The publisher ended the session.
    EndOfSession,
}

/// One displayed order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookOrder {
    pub order_reference_number: u64,
    pub stock_locate: u16,
    pub side: Side,
    /// 4 implied decimals.
    pub price: u32,
    pub shares: u32,
    /// Arrival counter: priority within a price.
    arrival: u64,
}

/// One aggregated price level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepthLevel {
    pub price: u32,
    pub shares: u64,
    pub orders: u32,
}

#[derive(Debug, Default)]
struct SideBook {
    /// (price, arrival) -> order reference; bids are read in reverse price order.
    queue: BTreeMap<(u32, u64), u64>,
    levels: BTreeMap<u32, DepthLevel>,
}

#[derive(Debug, Default)]
struct InstrumentBook {
    bids: SideBook,
    asks: SideBook,
}

impl InstrumentBook {
    fn side(&mut self, side: Side) -> &mut SideBook {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }
}

/// Rebuilds books from the feed. Sequence numbers start at `next_sequence_number` (1 for a new session).
#[derive(Debug)]
pub struct BookBuilder {
    session: Option<[u8; 10]>,
    next_sequence_number: u64,
    orders: HashMap<u64, BookOrder, KeyHash>,
    books: HashMap<u16, InstrumentBook, KeyHash>,
    symbols: HashMap<u16, crossline_engine::Symbol, KeyHash>,
    arrivals: u64,
}

impl Default for BookBuilder {
    fn default() -> Self {
        BookBuilder::new(1)
    }
}

impl BookBuilder {
    pub fn new(next_sequence_number: u64) -> Self {
        BookBuilder {
            session: None,
            next_sequence_number,
            orders: HashMap::default(),
            books: HashMap::default(),
            symbols: HashMap::default(),
            arrivals: 0,
        }
    }

    /// The sequence number of the next message the builder expects.
    pub fn next_sequence_number(&self) -> u64 {
        self.next_sequence_number
    }

    /// The symbol a Stock Directory gave a locate code.
    pub fn symbol(&self, stock_locate: u16) -> Option<crossline_engine::Symbol> {
        self.symbols.get(&stock_locate).copied()
    }

    /// Applies one MoldUDP64 datagram (live or retransmitted). Messages already applied are skipped; a packet
    /// starting after the next expected sequence number is a gap and is not applied.
    pub fn apply_packet(&mut self, datagram: &[u8]) -> Result<PacketOutcome, BookError> {
        let packet = Packet::decode(datagram)?;
        match self.session {
            Some(expected) if expected != packet.header.session => {
                return Err(BookError::WrongSession {
                    session: packet.header.session,
                    expected,
                })
            }
            _ => self.session = Some(packet.header.session),
        }
        if packet.header.sequence_number > self.next_sequence_number {
            return Ok(PacketOutcome::Gap {
                first_missing: self.next_sequence_number,
                count: packet.next_sequence_number() - self.next_sequence_number,
            });
        }
        if packet.kind() == PacketKind::EndOfSession {
            return Ok(PacketOutcome::EndOfSession);
        }
        let mut applied = 0;
        for (sequence_number, bytes) in packet.messages() {
            if sequence_number < self.next_sequence_number {
                continue;
            }
            self.next_sequence_number = sequence_number + 1;
            match Message::decode(bytes) {
                Ok(message) => self.apply(&message)?,
                // Types this codec does not read carry nothing a book needs.
                Err(ItchError::UnknownType { .. }) => {}
                Err(error) => return Err(error.into()),
            }
            applied += 1;
        }
        Ok(PacketOutcome::Applied { applied })
    }

    /// Applies one ITCH message.
    pub fn apply(&mut self, message: &Message) -> Result<(), BookError> {
        match *message {
            Message::StockDirectory(m) => {
                self.symbols.insert(m.stock_locate, m.stock);
            }
            Message::AddOrder(m) => self.add(
                m.order_reference_number,
                m.stock_locate,
                m.side,
                m.price,
                m.shares,
            )?,
            Message::AddOrderMpid(m) => self.add(
                m.order_reference_number,
                m.stock_locate,
                m.side,
                m.price,
                m.shares,
            )?,
            Message::OrderExecuted(m) => {
                self.reduce(m.order_reference_number, m.executed_shares)?
            }
            Message::OrderExecutedWithPrice(m) => {
                self.reduce(m.order_reference_number, m.executed_shares)?
            }
            Message::OrderCancel(m) => self.reduce(m.order_reference_number, m.cancelled_shares)?,
            Message::OrderDelete(m) => {
                self.remove(m.order_reference_number)?;
            }
            Message::OrderReplace(m) => {
                if self.orders.contains_key(&m.new_order_reference_number) {
                    return Err(BookError::DuplicateOrder {
                        order_reference_number: m.new_order_reference_number,
                    });
                }
                let old = self.remove(m.original_order_reference_number)?;
                let side = match old.side {
                    Side::Buy => BuySell::Buy,
                    Side::Sell => BuySell::Sell,
                };
                self.add(
                    m.new_order_reference_number,
                    old.stock_locate,
                    side,
                    m.price,
                    m.shares,
                )?;
            }
            Message::SystemEvent(_) | Message::StockTradingAction(_) | Message::Trade(_) => {}
        }
        Ok(())
    }

    /// Aggregated levels from the best price, at most `max_levels`.
    pub fn depth(&self, stock_locate: u16, side: Side, max_levels: usize) -> Vec<DepthLevel> {
        let Some(book) = self.books.get(&stock_locate) else {
            return Vec::new();
        };
        match side {
            Side::Buy => book
                .bids
                .levels
                .values()
                .rev()
                .take(max_levels)
                .copied()
                .collect(),
            Side::Sell => book
                .asks
                .levels
                .values()
                .take(max_levels)
                .copied()
                .collect(),
        }
    }

    /// Every stock locate the builder knows (from a Stock Directory or an order), ascending.
    pub fn stock_locates(&self) -> Vec<u16> {
        let mut locates: Vec<u16> = self
            .symbols
            .keys()
            .chain(self.books.keys())
            .copied()
            .collect();
        locates.sort_unstable();
        locates.dedup();
        locates
    }

    /// Displayed orders resting for one stock locate, both sides.
    pub fn order_count(&self, stock_locate: u16) -> usize {
        self.books
            .get(&stock_locate)
            .map_or(0, |book| book.bids.queue.len() + book.asks.queue.len())
    }

    /// Displayed orders on one side in priority order (best price first, then arrival).
    pub fn orders(&self, stock_locate: u16, side: Side) -> Vec<BookOrder> {
        let Some(book) = self.books.get(&stock_locate) else {
            return Vec::new();
        };
        let by_ref = |order_ref: &u64| self.orders.get(order_ref).copied();
        match side {
            Side::Buy => {
                // Best (highest) price first, earliest arrival first within a price.
                let mut out: Vec<BookOrder> = Vec::new();
                for level in book.bids.levels.keys().rev() {
                    out.extend(
                        book.bids
                            .queue
                            .range((*level, 0)..=(*level, u64::MAX))
                            .filter_map(|(_, r)| by_ref(r)),
                    );
                }
                out
            }
            Side::Sell => book.asks.queue.values().filter_map(by_ref).collect(),
        }
    }

    fn add(
        &mut self,
        order_reference_number: u64,
        stock_locate: u16,
        side: BuySell,
        price: u32,
        shares: u32,
    ) -> Result<(), BookError> {
        if self.orders.contains_key(&order_reference_number) {
            return Err(BookError::DuplicateOrder {
                order_reference_number,
            });
        }
        self.arrivals += 1;
        let order = BookOrder {
            order_reference_number,
            stock_locate,
            side: side.into(),
            price,
            shares,
            arrival: self.arrivals,
        };
        self.orders.insert(order_reference_number, order);
        let book = self.books.entry(stock_locate).or_default().side(order.side);
        book.queue
            .insert((price, order.arrival), order_reference_number);
        let level = book.levels.entry(price).or_insert(DepthLevel {
            price,
            shares: 0,
            orders: 0,
        });
        level.shares += u64::from(shares);
        level.orders += 1;
        Ok(())
    }

    /// Takes shares off an order; the order leaves the book when none are left.
    fn reduce(&mut self, order_reference_number: u64, shares: u32) -> Result<(), BookError> {
        let order =
            self.orders
                .get_mut(&order_reference_number)
                .ok_or(BookError::UnknownOrder {
                    order_reference_number,
                })?;
        if shares > order.shares {
            return Err(BookError::TooManyShares {
                order_reference_number,
                shares,
                shown: order.shares,
            });
        }
        if shares == order.shares {
            self.remove(order_reference_number)?;
            return Ok(());
        }
        order.shares -= shares;
        let (locate, side, price) = (order.stock_locate, order.side, order.price);
        if let Some(level) = self
            .books
            .get_mut(&locate)
            .and_then(|book| book.side(side).levels.get_mut(&price))
        {
            level.shares = level.shares.saturating_sub(u64::from(shares));
        }
        Ok(())
    }

    fn remove(&mut self, order_reference_number: u64) -> Result<BookOrder, BookError> {
        let order = self
            .orders
            .remove(&order_reference_number)
            .ok_or(BookError::UnknownOrder {
                order_reference_number,
            })?;
        if let Some(book) = self.books.get_mut(&order.stock_locate) {
            let book = book.side(order.side);
            book.queue.remove(&(order.price, order.arrival));
            if let Some(level) = book.levels.get_mut(&order.price) {
                level.shares = level.shares.saturating_sub(u64::from(order.shares));
                level.orders = level.orders.saturating_sub(1);
                if level.orders == 0 {
                    book.levels.remove(&order.price);
                }
            }
        }
        Ok(order)
    }
}
