//! Audit snapshots: every non-zero balance and every open order of the engine at one seq, written in the same
//! transaction as that seq's rows (so the snapshot and the history agree by construction), and a check that the
//! database's balances at that seq, rebuilt from `balance_changes`, equal both the snapshot and the engine's.

use super::db::{Batch, Cell, Param, QueryDb, QueryError, Stmt};
use super::translate::side_name;
use crossline_engine::{Engine, Side};
use std::collections::BTreeMap;

/// The balances of every account and asset as of `seq`: the last change at or before it, per account and asset.
pub const BALANCES_AT_SEQ_SQL: &str = "SELECT account_id, asset_id, available, reserved FROM (\
     SELECT account_id, asset_id, available, reserved, ROW_NUMBER() OVER (\
     PARTITION BY account_id, asset_id ORDER BY seq DESC) AS newest \
     FROM balance_changes WHERE seq <= $1) AS latest WHERE newest = 1 ORDER BY account_id, asset_id";

/// Adds the engine's balances and open orders at its current seq to `batch`.
pub fn append_snapshot(engine: &Engine, batch: &mut Batch, taken_at_ns: u64) {
    let seq = engine.last_seq();
    let int = Param::U64;
    let mut balance_rows = 0u64;
    for account in 0..engine.config().max_accounts {
        for (asset, balance) in engine.all_balances(account).iter().enumerate() {
            if balance.available == 0 && balance.reserved == 0 {
                continue;
            }
            balance_rows += 1;
            batch.push(
                Stmt::InsertAuditBalance,
                [
                    int(seq),
                    int(account.into()),
                    int(asset as u64),
                    int(balance.available),
                    int(balance.reserved),
                ],
            );
        }
    }
    let mut open_orders = 0u64;
    for spec in engine.instrument_specs() {
        for side in [Side::Buy, Side::Sell] {
            for order in engine.resting_orders(spec.instrument, side) {
                open_orders += 1;
                batch.push(
                    Stmt::InsertAuditOrder,
                    [
                        int(seq),
                        int(order.order_id),
                        int(order.account.into()),
                        int(order.session.into()),
                        int(order.user_ref.into()),
                        int(spec.instrument.into()),
                        Param::Str(side_name(side)),
                        Param::Int(order.price),
                        int(order.leaves),
                        int(order.display),
                        int(order.is_quote.into()),
                    ],
                );
            }
        }
    }
    batch.push(
        Stmt::InsertAuditSnapshot,
        [
            int(seq),
            int(batch.last_timestamp_ns),
            int(taken_at_ns),
            int(balance_rows),
            int(open_orders),
            Param::Text(format!("{:016x}", engine.state_hash())),
        ],
    );
}

pub fn exists(db: &mut dyn QueryDb, seq: u64) -> Result<bool, QueryError> {
    let rows = db.select(
        "SELECT audit_seq FROM audit_snapshots WHERE audit_seq = $1",
        &[Param::U64(seq)],
    )?;
    Ok(!rows.rows.is_empty())
}

/// What an audit check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditCheck {
    pub seq: u64,
    pub balances_compared: usize,
    /// One line per difference; empty when the database agrees with the engine.
    pub mismatches: Vec<String>,
}

type BalanceMap = BTreeMap<(i64, i64), (i64, i64)>;

fn balance_map(rows: &[Vec<Cell>]) -> BalanceMap {
    rows.iter()
        .filter_map(|row| {
            let v = |i: usize| row.get(i).and_then(Cell::int);
            Some(((v(0)?, v(1)?), (v(2)?, v(3)?)))
        })
        .filter(|(_, (available, reserved))| *available != 0 || *reserved != 0)
        .collect()
}

/// The engine's non-zero balances.
pub fn engine_balances(engine: &Engine) -> BalanceMap {
    let mut out = BalanceMap::new();
    for account in 0..engine.config().max_accounts {
        for (asset, balance) in engine.all_balances(account).iter().enumerate() {
            if balance.available != 0 || balance.reserved != 0 {
                out.insert(
                    (i64::from(account), asset as i64),
                    (
                        i64::try_from(balance.available).unwrap_or(i64::MAX),
                        i64::try_from(balance.reserved).unwrap_or(i64::MAX),
                    ),
                );
            }
        }
    }
    out
}

fn compare(what: &str, db: &BalanceMap, engine: &BalanceMap, out: &mut Vec<String>) {
    for (key, value) in engine {
        match db.get(key) {
            Some(found) if found == value => {}
            Some(found) => out.push(format!(
                "{what}: account {} asset {}: database {found:?}, engine {value:?}",
                key.0, key.1
            )),
            None => out.push(format!(
                "{what}: account {} asset {}: missing, engine {value:?}",
                key.0, key.1
            )),
        }
    }
    for (key, found) in db {
        if !engine.contains_key(key) {
            out.push(format!(
                "{what}: account {} asset {}: database {found:?}, engine has none",
                key.0, key.1
            ));
        }
    }
}

/// Compares the database's balances at `seq` (from the history, and from the audit snapshot at `seq` if there is
/// one) with `engine`'s, which must be at `seq`.
pub fn check(db: &mut dyn QueryDb, seq: u64, engine: &Engine) -> Result<AuditCheck, QueryError> {
    if engine.last_seq() != seq {
        return Err(QueryError::Invalid(format!(
            "the engine is at seq {}, not {seq}",
            engine.last_seq()
        )));
    }
    let expected = engine_balances(engine);
    let mut mismatches = Vec::new();
    let history = balance_map(&db.select(BALANCES_AT_SEQ_SQL, &[Param::U64(seq)])?.rows);
    compare("history", &history, &expected, &mut mismatches);
    if exists(db, seq)? {
        let snapshot = balance_map(
            &db.select(
                "SELECT account_id, asset_id, available, reserved FROM audit_balances WHERE audit_seq = $1",
                &[Param::U64(seq)],
            )?
            .rows,
        );
        compare("audit snapshot", &snapshot, &expected, &mut mismatches);
    }
    Ok(AuditCheck {
        seq,
        balances_compared: expected.len(),
        mismatches,
    })
}
