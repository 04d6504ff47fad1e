//! The admin side of the appliance, on its own HTTP port: health, Prometheus metrics, derived market data (book
//! depth, recent trades, candles) computed off the hot path by the journal follower, and operator commands that
//! become sequenced, journaled engine commands. The pipeline implements `AdminBackend`; `http::spawn` serves it.

pub mod action;
pub mod appliance;
mod auth;
pub mod calendar;
pub mod candle;
pub mod http;
pub mod market;
pub mod prometheus;
mod request;
mod response;
mod routes;

#[cfg(test)]
mod tests;

pub use market::MarketView;

use crate::pipeline::admin_ring::{AdminOutcome, SubmitError};
use crossline_engine::{CommandBody, InstrumentId, LevelView};
use serde::Serialize;

/// What GET /health reports. `lag` and `status` are derived when it is rendered.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Health {
    /// "leader", "standby", "learner"...
    pub role: String,
    /// Last command the follower (the read side) applied.
    pub applied_seq: u64,
    /// Last command the engine applied.
    pub engine_seq: u64,
    /// The follower engine's state hash.
    pub state_hash: u64,
    pub journal_written_seq: u64,
    pub journal_durable_seq: u64,
    pub sessions_logged_in: u64,
    /// The cluster as this node sees it (`crossline cluster status` prints it); `None` standalone.
    pub cluster: Option<serde_json::Value>,
    /// The query side's progress and lag on a node that keeps the query database; `None` elsewhere.
    pub query: Option<serde_json::Value>,
    /// The follower engine's invariant check (books, reservations, funds conserved per asset): `None` when they
    /// hold, else the first one broken.
    pub invariant_violation: Option<String>,
}

impl Health {
    /// How many commands the follower is behind the engine.
    pub fn lag(&self) -> u64 {
        self.engine_seq.saturating_sub(self.applied_seq)
    }
}

/// One price level of the visible book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BookLevel {
    pub price: i64,
    /// Displayed quantity in lots.
    pub qty: u64,
    pub orders: u32,
}

impl From<LevelView> for BookLevel {
    fn from(level: LevelView) -> Self {
        BookLevel {
            price: level.price,
            qty: level.qty,
            orders: level.orders,
        }
    }
}

/// The visible depth of one instrument as of `seq`; best prices first on each side.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BookView {
    pub seq: u64,
    pub bids: Vec<BookLevel>,
    pub asks: Vec<BookLevel>,
}

/// What the admin server needs from the appliance. Every method is called from the admin server's threads.
pub trait AdminBackend: Send + Sync + 'static {
    fn health(&self) -> Health;

    /// Metrics beyond `metrics()` in Prometheus text (the query side's), appended to GET /metrics.
    fn extra_metrics(&self, _out: &mut String) {}

    fn metrics(&self) -> &crate::metrics::Metrics;

    /// Up to `levels` levels per side of `instrument`'s book, or None if the instrument is unknown (e.g. from
    /// the follower's engine: `engine.depth(instrument, Side::Buy, levels)`, `seq` = its applied sequence).
    fn book(&self, instrument: InstrumentId, levels: usize) -> Option<BookView>;

    /// Calls `f` with read access to the market view (under the follower's lock). Not calling `f` (the lock is
    /// poisoned) makes the request answer 503.
    fn with_market(&self, f: &mut dyn FnMut(&MarketView));

    /// Sequences, journals and applies `command`, and waits for the engine's verdict (the admin ring's
    /// `AdminSubmitter::submit`).
    fn submit(&self, command: CommandBody) -> Result<AdminOutcome, SubmitError>;
}
