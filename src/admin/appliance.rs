//! `AdminBackend` for the running appliance: reads go to the journal follower's state (its engine for depth
//! and the state hash, its `MarketView` for trades and candles), operator commands go through the admin ring.

use super::{AdminBackend, BookView, Health, MarketView};
use crate::metrics::{get, Metrics};
use crate::pipeline::admin_ring::{AdminOutcome, AdminSubmitter, SubmitError};
use crate::pipeline::follower::FollowerState;
use crossline_engine::{CommandBody, InstrumentId, Side};
use crossline_journal::Watermarks;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A value the admin server reads afresh on every request.
pub type Live<T> = Arc<dyn Fn() -> T + Send + Sync>;

pub struct ApplianceBackend {
    /// "leader" standalone; in a cluster "leader", "standby", "learner" or "stepping-down".
    pub role: Live<String>,
    /// The cluster's status; `None` standalone.
    pub cluster: Option<Live<serde_json::Value>>,
    /// The query side's lag, on a node that keeps the query database.
    pub query: Option<Arc<crate::query::QueryLag>>,
    pub metrics: Arc<Metrics>,
    pub follower: Arc<Mutex<FollowerState<MarketView>>>,
    pub submitter: Arc<AdminSubmitter>,
    pub watermarks: Arc<Watermarks>,
    /// How long a POST waits for the engine to apply its command.
    pub submit_timeout: Duration,
}

impl AdminBackend for ApplianceBackend {
    fn health(&self) -> Health {
        let (applied_seq, state_hash, invariant_violation) = match self.follower.lock() {
            Ok(state) => (
                state.applied_seq,
                state.engine.state_hash(),
                state.engine.validate().err(),
            ),
            Err(_) => (0, 0, Some(String::from("follower state unavailable"))),
        };
        Health {
            role: (self.role)(),
            applied_seq,
            engine_seq: get(&self.metrics.engine.last_seq),
            state_hash,
            journal_written_seq: self.watermarks.written_seq(),
            journal_durable_seq: self.watermarks.durable_seq(),
            sessions_logged_in: get(&self.metrics.gateway.sessions_logged_in),
            cluster: self.cluster.as_ref().map(|status| status()),
            query: self
                .query
                .as_ref()
                .map(|lag| lag.health_json(crate::pipeline::messages::wall_clock_ns())),
            invariant_violation,
        }
    }

    fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    fn extra_metrics(&self, out: &mut String) {
        if let Some(lag) = &self.query {
            lag.render_prometheus(crate::pipeline::messages::wall_clock_ns(), out);
        }
    }

    fn book(&self, instrument: InstrumentId, levels: usize) -> Option<BookView> {
        let state = self.follower.lock().ok()?;
        state.engine.instrument_status(instrument)?;
        let side = |side| {
            state
                .engine
                .depth(instrument, side, levels)
                .into_iter()
                .map(Into::into)
                .collect()
        };
        Some(BookView {
            seq: state.applied_seq,
            bids: side(Side::Buy),
            asks: side(Side::Sell),
        })
    }

    fn with_market(&self, f: &mut dyn FnMut(&MarketView)) {
        if let Ok(state) = self.follower.lock() {
            f(&state.observer);
        }
    }

    fn submit(&self, command: CommandBody) -> Result<AdminOutcome, SubmitError> {
        self.submitter.submit(command, self.submit_timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::set;
    use crate::pipeline::engine_stage::AdminResults;
    use crate::pipeline::follower::ApplyObserver;
    use crate::pipeline::ledger::SessionLedger;
    use crate::pipeline::messages::AdminCommand;
    use crate::pipeline::ring::ring;
    use crossline_engine::{symbol, Command, Engine, EngineConfig, InstrumentSpec};
    use std::sync::atomic::Ordering;

    fn spec() -> InstrumentSpec {
        InstrumentSpec {
            instrument: 1,
            symbol: symbol("BTCUSD"),
            tick: 1,
            lot_size: 1,
            quote_per_price_lot: 1,
            base_asset: 1,
            quote_asset: 2,
            reference_price: 1_000,
            band_bps: 1_000,
            breaker_move_bps: 0,
            breaker_window_ns: 0,
            breaker_halt_ns: 0,
        }
    }

    #[test]
    fn reads_the_follower_and_submits_through_the_ring() {
        let mut engine = Engine::new(EngineConfig::default()).expect("engine");
        let mut market = MarketView::default();
        let command = Command {
            seq: 1,
            timestamp_ns: 1,
            body: CommandBody::AddInstrument(spec()),
        };
        let mut events = Vec::new();
        engine.apply(&command, &mut events);
        market.on_applied(&command, &events);
        let follower = Arc::new(Mutex::new(FollowerState {
            engine,
            ledger: SessionLedger::new(1),
            observer: market,
            applied_seq: 1,
        }));
        let (producer, mut consumer) = ring::<AdminCommand>(8);
        let results = Arc::new(AdminResults::default());
        let metrics = Arc::new(Metrics::default());
        set(&metrics.engine.last_seq, 3);
        let backend = ApplianceBackend {
            role: Arc::new(|| String::from("leader")),
            cluster: None,
            query: None,
            metrics: Arc::clone(&metrics),
            follower,
            submitter: Arc::new(AdminSubmitter::new(producer, Arc::clone(&results))),
            watermarks: Arc::new(Watermarks::default()),
            submit_timeout: Duration::from_secs(5),
        };

        let health = backend.health();
        assert_eq!(
            (health.applied_seq, health.engine_seq, health.lag()),
            (1, 3, 2)
        );
        assert_ne!(health.state_hash, 0);
        let book = backend.book(1, 5).expect("known instrument");
        assert_eq!((book.seq, book.bids.len(), book.asks.len()), (1, 0, 0));
        assert!(backend.book(2, 5).is_none());
        let mut found = None;
        backend.with_market(&mut |m| found = m.instrument_id("BTCUSD"));
        assert_eq!(found, Some(1));

        // A stand-in engine thread: applies the first admin command as seq 42, rejected with code 3.
        let engine = std::thread::spawn(move || {
            for _ in 0..5_000 {
                if consumer.available() > 0 {
                    let command = consumer.peek(0);
                    consumer.release(1);
                    results.seq.store(42, Ordering::Relaxed);
                    results.reject.store(1 + 3, Ordering::Relaxed);
                    results.done_ticket.store(1, Ordering::Release);
                    return command.map(|c| c.body);
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            None
        });
        let body = CommandBody::Deposit {
            account: 1,
            asset: 2,
            amount: 3,
        };
        let outcome = backend.submit(body).expect("submitted");
        assert_eq!(outcome.seq, 42);
        assert_eq!(outcome.rejected.as_deref(), Some("InvalidInstrumentSpec"));
        assert_eq!(engine.join().expect("engine thread"), Some(body));
    }
}
