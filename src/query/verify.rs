//! The database against the journal: replays the journal into a fresh engine up to the database's seq and
//! compares every execution, order event, balance change and trading action by key and count,
//! then the balances and open orders now. This is the exactly-once check: a duplicate, a gap or a wrong value
//! shows up as a difference.

use super::audit::engine_balances;
use super::balances::BalanceTracker;
use super::db::{progress, Cell, QueryDb, QueryError};
use crossline_engine::{Command, Engine, EngineConfig, Event, Side};
use crossline_journal::JournalReader;
use std::collections::BTreeSet;
use std::path::Path;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub db_seq: u64,
    pub executions: usize,
    pub balance_changes: usize,
    pub order_events: usize,
    pub trading_actions: usize,
    pub balances: usize,
    pub open_orders: usize,
    /// Differences, at most `MISMATCHES_MAX` of them.
    pub mismatches: Vec<String>,
}

const MISMATCHES_MAX: usize = 50;

/// Keys and values of one table as the engine's events predict it.
#[derive(Default)]
struct Expected {
    executions: BTreeSet<Vec<Cell>>,
    balance_changes: BTreeSet<Vec<Cell>>,
    order_events: BTreeSet<Vec<Cell>>,
    trading_actions: BTreeSet<Vec<Cell>>,
}

fn int(v: u64) -> Cell {
    Cell::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

fn is_order_event(event: &Event) -> bool {
    match event {
        Event::Accepted { .. }
        | Event::Executed { .. }
        | Event::Canceled { .. }
        | Event::SelfTradeCanceled { .. }
        | Event::Replaced { .. }
        | Event::Modified { .. } => true,
        Event::QuoteStatus { bid, ask, .. } => bid.order_id != 0 || ask.order_id != 0,
        _ => false,
    }
}

fn collect(command: &Command, events: &[Event], expected: &mut Expected) {
    let seq = int(command.seq);
    for (index, event) in events.iter().enumerate() {
        let ix = int(index as u64);
        match *event {
            Event::Executed {
                order_id,
                account,
                price,
                qty,
                fee,
                match_number,
                ..
            } => {
                expected.executions.insert(vec![
                    seq.clone(),
                    ix.clone(),
                    int(match_number),
                    int(order_id),
                    int(account.into()),
                    Cell::Int(price),
                    int(qty),
                    int(fee),
                ]);
            }
            Event::TradingAction { instrument, .. } => {
                expected.trading_actions.insert(vec![
                    seq.clone(),
                    ix.clone(),
                    int(instrument.into()),
                ]);
            }
            _ => {}
        }
        if let Event::QuoteStatus { bid, ask, .. } = event {
            // One row per quoted side, both under the event's key: count them by order id.
            for side in [bid, ask] {
                if side.order_id != 0 {
                    expected
                        .order_events
                        .insert(vec![seq.clone(), ix.clone(), int(side.order_id)]);
                }
            }
        } else if is_order_event(event) {
            let order_id = match *event {
                Event::Accepted { order_id, .. }
                | Event::Executed { order_id, .. }
                | Event::Canceled { order_id, .. }
                | Event::SelfTradeCanceled { order_id, .. }
                | Event::Replaced { order_id, .. }
                | Event::Modified { order_id, .. } => order_id,
                _ => 0,
            };
            expected
                .order_events
                .insert(vec![seq.clone(), ix, int(order_id)]);
        }
    }
}

fn diff(table: &str, found: &[Vec<Cell>], expected: &BTreeSet<Vec<Cell>>, out: &mut Vec<String>) {
    let found_set: BTreeSet<Vec<Cell>> = found.iter().cloned().collect();
    if found_set.len() != found.len() {
        out.push(format!(
            "{table}: {} duplicate rows",
            found.len() - found_set.len()
        ));
    }
    if found.len() != expected.len() {
        out.push(format!(
            "{table}: {} rows, the journal's events give {}",
            found.len(),
            expected.len()
        ));
    }
    for missing in expected.difference(&found_set).take(5) {
        out.push(format!("{table}: missing {missing:?}"));
    }
    for extra in found_set.difference(expected).take(5) {
        out.push(format!("{table}: not in the journal's events {extra:?}"));
    }
}

/// Replays `journal_dir` up to the database's seq and compares.
pub fn verify(
    db: &mut dyn QueryDb,
    journal_dir: &Path,
    engine_config: EngineConfig,
) -> Result<VerifyReport, QueryError> {
    let (db_seq, _) = progress(db)?;
    let mut engine = Engine::new(engine_config)
        .map_err(|error| QueryError::Invalid(format!("engine configuration: {error}")))?;
    let mut expected = Expected::default();
    if db_seq > 0 {
        let mut reader =
            JournalReader::open(journal_dir).map_err(|e| QueryError::Journal(e.to_string()))?;
        let mut events = Vec::with_capacity(4096);
        let mut tracker = BalanceTracker::new(&engine);
        let mut changes = Vec::new();
        while engine.last_seq() < db_seq {
            let command = match reader.next_record() {
                Ok(Some(record)) => rkyv::deserialize::<Command, rkyv::rancor::Error>(
                    record.command,
                )
                .map_err(|error| QueryError::Journal(format!("record {}: {error}", record.seq)))?,
                Ok(None) => {
                    return Err(QueryError::Journal(format!(
                        "the journal ends at seq {}, before the database's {db_seq}",
                        engine.last_seq()
                    )))
                }
                Err(error) => return Err(QueryError::Journal(error.to_string())),
            };
            events.clear();
            engine.apply(&command, &mut events);
            collect(&command, &events, &mut expected);
            tracker.changes(&engine, &command, &events, &mut changes);
            for change in &changes {
                expected.balance_changes.insert(vec![
                    int(command.seq),
                    int(change.account.into()),
                    int(change.asset.into()),
                    int(change.balance.available),
                    int(change.balance.reserved),
                ]);
            }
        }
    }
    let mut mismatches = Vec::new();
    let executions = db
        .select(
            "SELECT seq, event_index, match_number, order_id, account_id, price, qty, fee FROM executions",
            &[],
        )?
        .rows;
    diff(
        "executions",
        &executions,
        &expected.executions,
        &mut mismatches,
    );
    let balance_changes = db
        .select(
            "SELECT seq, account_id, asset_id, available, reserved FROM balance_changes",
            &[],
        )?
        .rows;
    diff(
        "balance_changes",
        &balance_changes,
        &expected.balance_changes,
        &mut mismatches,
    );
    let order_events = db
        .select("SELECT seq, event_index, order_id FROM order_events", &[])?
        .rows;
    diff(
        "order_events",
        &order_events,
        &expected.order_events,
        &mut mismatches,
    );
    let trading_actions = db
        .select(
            "SELECT seq, event_index, instrument_id FROM trading_actions",
            &[],
        )?
        .rows;
    diff(
        "trading_actions",
        &trading_actions,
        &expected.trading_actions,
        &mut mismatches,
    );

    let engine_now = engine_balances(&engine);
    let db_balances: BTreeSet<Vec<Cell>> = db
        .select(
            "SELECT account_id, asset_id, available, reserved FROM balances \
             WHERE available <> 0 OR reserved <> 0",
            &[],
        )?
        .rows
        .into_iter()
        .collect();
    let engine_balance_rows: BTreeSet<Vec<Cell>> = engine_now
        .iter()
        .map(|(&(account, asset), &(available, reserved))| {
            vec![
                Cell::Int(account),
                Cell::Int(asset),
                Cell::Int(available),
                Cell::Int(reserved),
            ]
        })
        .collect();
    diff(
        "balances",
        &db_balances.iter().cloned().collect::<Vec<_>>(),
        &engine_balance_rows,
        &mut mismatches,
    );

    let mut engine_open = BTreeSet::new();
    for spec in engine.instrument_specs() {
        for side in [Side::Buy, Side::Sell] {
            for order in engine.resting_orders(spec.instrument, side) {
                engine_open.insert(vec![int(order.order_id), int(order.leaves)]);
            }
        }
    }
    let db_open = db
        .select(
            "SELECT order_id, leaves FROM orders WHERE status = 'open'",
            &[],
        )?
        .rows;
    diff("open orders", &db_open, &engine_open, &mut mismatches);
    mismatches.truncate(MISMATCHES_MAX);
    Ok(VerifyReport {
        db_seq,
        executions: executions.len(),
        balance_changes: balance_changes.len(),
        order_events: order_events.len(),
        trading_actions: trading_actions.len(),
        balances: db_balances.len(),
        open_orders: db_open.len(),
        mismatches,
    })
}
