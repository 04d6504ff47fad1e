//! The schema, as numbered migrations the learner runs itself. Each migration has one text per backend (the types
//! differ: SQLite's INTEGER, PostgreSQL's BIGINT) with the same tables and columns; `TABLES` lists them, and the
//! tests check both backends against it. A database records every migration applied in `schema_version`.
//!
//! Migration 1 is the first released schema. Migration 2 is additive: account settings and fee tiers, and the
//! account's fee tier on each execution (NULL on executions written before it).

use super::db::{QueryDb, QueryError};

pub const LATEST_VERSION: u32 = 2;

/// Every table and its columns at the latest version, in creation order.
pub const TABLES: &[(&str, &[&str])] = &[
    ("schema_version", &["version", "applied_at_ns"]),
    (
        "progress",
        &["id", "applied_seq", "applied_timestamp_ns", "updated_at_ns"],
    ),
    (
        "instruments",
        &[
            "instrument_id",
            "symbol",
            "base_asset_id",
            "quote_asset_id",
            "tick",
            "lot_size",
            "quote_per_price_lot",
            "reference_price",
            "band_bps",
            "status",
            "added_seq",
            "updated_seq",
        ],
    ),
    (
        "trading_actions",
        &[
            "seq",
            "event_index",
            "timestamp_ns",
            "instrument_id",
            "status",
            "reason",
        ],
    ),
    (
        "orders",
        &[
            "order_id",
            "account_id",
            "session_id",
            "user_ref",
            "instrument_id",
            "side",
            "price",
            "qty",
            "leaves",
            "time_in_force",
            "status",
            "created_seq",
            "created_timestamp_ns",
            "updated_seq",
            "updated_timestamp_ns",
        ],
    ),
    (
        "order_events",
        &[
            "seq",
            "event_index",
            "timestamp_ns",
            "order_id",
            "related_order_id",
            "account_id",
            "session_id",
            "user_ref",
            "instrument_id",
            "kind",
            "side",
            "price",
            "qty",
            "leaves",
            "reason",
        ],
    ),
    (
        "executions",
        &[
            "seq",
            "event_index",
            "timestamp_ns",
            "match_number",
            "order_id",
            "account_id",
            "session_id",
            "user_ref",
            "instrument_id",
            "side",
            "price",
            "qty",
            "leaves",
            "liquidity",
            "fee",
            "fee_asset_id",
            "fee_tier",
        ],
    ),
    (
        "balance_changes",
        &[
            "seq",
            "account_id",
            "asset_id",
            "timestamp_ns",
            "available",
            "reserved",
            "cause",
        ],
    ),
    (
        "balances",
        &[
            "account_id",
            "asset_id",
            "available",
            "reserved",
            "updated_seq",
        ],
    ),
    (
        "candles",
        &[
            "instrument_id",
            "interval_s",
            "start_ns",
            "open",
            "high",
            "low",
            "close",
            "volume",
            "trades",
            "updated_seq",
        ],
    ),
    (
        "audit_snapshots",
        &[
            "audit_seq",
            "timestamp_ns",
            "taken_at_ns",
            "balance_rows",
            "open_orders",
            "state_hash",
        ],
    ),
    (
        "audit_balances",
        &[
            "audit_seq",
            "account_id",
            "asset_id",
            "available",
            "reserved",
        ],
    ),
    (
        "audit_open_orders",
        &[
            "audit_seq",
            "order_id",
            "account_id",
            "session_id",
            "user_ref",
            "instrument_id",
            "side",
            "price",
            "leaves",
            "display",
            "is_quote",
        ],
    ),
    (
        "fee_tiers",
        &["tier", "maker_fee_ppm", "taker_fee_ppm", "updated_seq"],
    ),
    (
        "accounts",
        &[
            "account_id",
            "fee_tier",
            "stp_group",
            "order_entry_enabled",
            "updated_seq",
        ],
    ),
];

/// The first schema. `@INT@` is the backend's 64-bit integer type.
const V1: &str = "
CREATE TABLE progress (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    applied_seq @INT@ NOT NULL,
    applied_timestamp_ns @INT@ NOT NULL,
    updated_at_ns @INT@ NOT NULL
);
INSERT INTO progress (id, applied_seq, applied_timestamp_ns, updated_at_ns) VALUES (1, 0, 0, 0);
CREATE TABLE instruments (
    instrument_id @INT@ PRIMARY KEY,
    symbol TEXT NOT NULL,
    base_asset_id @INT@ NOT NULL,
    quote_asset_id @INT@ NOT NULL,
    tick @INT@ NOT NULL,
    lot_size @INT@ NOT NULL,
    quote_per_price_lot @INT@ NOT NULL,
    reference_price @INT@ NOT NULL,
    band_bps @INT@ NOT NULL,
    status TEXT NOT NULL,
    added_seq @INT@ NOT NULL,
    updated_seq @INT@ NOT NULL
);
CREATE TABLE trading_actions (
    seq @INT@ NOT NULL,
    event_index @INT@ NOT NULL,
    timestamp_ns @INT@ NOT NULL,
    instrument_id @INT@ NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (seq, event_index)
);
CREATE TABLE orders (
    order_id @INT@ PRIMARY KEY,
    account_id @INT@ NOT NULL,
    session_id @INT@ NOT NULL,
    user_ref @INT@ NOT NULL,
    instrument_id @INT@ NOT NULL,
    side TEXT NOT NULL,
    price @INT@ NOT NULL,
    qty @INT@ NOT NULL,
    leaves @INT@ NOT NULL,
    time_in_force TEXT NOT NULL,
    status TEXT NOT NULL,
    created_seq @INT@ NOT NULL,
    created_timestamp_ns @INT@ NOT NULL,
    updated_seq @INT@ NOT NULL,
    updated_timestamp_ns @INT@ NOT NULL
);
CREATE INDEX orders_by_status_account ON orders (status, account_id);
CREATE TABLE order_events (
    seq @INT@ NOT NULL,
    event_index @INT@ NOT NULL,
    timestamp_ns @INT@ NOT NULL,
    order_id @INT@ NOT NULL,
    related_order_id @INT@ NOT NULL,
    account_id @INT@ NOT NULL,
    session_id @INT@ NOT NULL,
    user_ref @INT@ NOT NULL,
    instrument_id @INT@ NOT NULL,
    kind TEXT NOT NULL,
    side TEXT NOT NULL,
    price @INT@ NOT NULL,
    qty @INT@ NOT NULL,
    leaves @INT@ NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (seq, event_index, order_id)
);
CREATE INDEX order_events_by_order ON order_events (order_id, seq);
CREATE TABLE executions (
    seq @INT@ NOT NULL,
    event_index @INT@ NOT NULL,
    timestamp_ns @INT@ NOT NULL,
    match_number @INT@ NOT NULL,
    order_id @INT@ NOT NULL,
    account_id @INT@ NOT NULL,
    session_id @INT@ NOT NULL,
    user_ref @INT@ NOT NULL,
    instrument_id @INT@ NOT NULL,
    side TEXT NOT NULL,
    price @INT@ NOT NULL,
    qty @INT@ NOT NULL,
    leaves @INT@ NOT NULL,
    liquidity TEXT NOT NULL,
    fee @INT@ NOT NULL,
    fee_asset_id @INT@ NOT NULL,
    PRIMARY KEY (seq, event_index)
);
CREATE INDEX executions_by_account_time ON executions (account_id, timestamp_ns);
CREATE INDEX executions_by_instrument_time ON executions (instrument_id, timestamp_ns);
CREATE TABLE balance_changes (
    seq @INT@ NOT NULL,
    account_id @INT@ NOT NULL,
    asset_id @INT@ NOT NULL,
    timestamp_ns @INT@ NOT NULL,
    available @INT@ NOT NULL,
    reserved @INT@ NOT NULL,
    cause TEXT NOT NULL,
    PRIMARY KEY (seq, account_id, asset_id)
);
CREATE INDEX balance_changes_by_account ON balance_changes (account_id, asset_id, seq);
CREATE INDEX balance_changes_by_time ON balance_changes (timestamp_ns);
CREATE TABLE balances (
    account_id @INT@ NOT NULL,
    asset_id @INT@ NOT NULL,
    available @INT@ NOT NULL,
    reserved @INT@ NOT NULL,
    updated_seq @INT@ NOT NULL,
    PRIMARY KEY (account_id, asset_id)
);
CREATE TABLE candles (
    instrument_id @INT@ NOT NULL,
    interval_s @INT@ NOT NULL,
    start_ns @INT@ NOT NULL,
    open @INT@ NOT NULL,
    high @INT@ NOT NULL,
    low @INT@ NOT NULL,
    close @INT@ NOT NULL,
    volume @INT@ NOT NULL,
    trades @INT@ NOT NULL,
    updated_seq @INT@ NOT NULL,
    PRIMARY KEY (instrument_id, interval_s, start_ns)
);
CREATE TABLE audit_snapshots (
    audit_seq @INT@ PRIMARY KEY,
    timestamp_ns @INT@ NOT NULL,
    taken_at_ns @INT@ NOT NULL,
    balance_rows @INT@ NOT NULL,
    open_orders @INT@ NOT NULL,
    state_hash TEXT NOT NULL
);
CREATE TABLE audit_balances (
    audit_seq @INT@ NOT NULL,
    account_id @INT@ NOT NULL,
    asset_id @INT@ NOT NULL,
    available @INT@ NOT NULL,
    reserved @INT@ NOT NULL,
    PRIMARY KEY (audit_seq, account_id, asset_id)
);
CREATE TABLE audit_open_orders (
    audit_seq @INT@ NOT NULL,
    order_id @INT@ NOT NULL,
    account_id @INT@ NOT NULL,
    session_id @INT@ NOT NULL,
    user_ref @INT@ NOT NULL,
    instrument_id @INT@ NOT NULL,
    side TEXT NOT NULL,
    price @INT@ NOT NULL,
    leaves @INT@ NOT NULL,
    display @INT@ NOT NULL,
    is_quote @INT@ NOT NULL,
    PRIMARY KEY (audit_seq, order_id)
);
";

/// Account settings, fee tiers, and the fee tier on each execution.
const V2: &str = "
CREATE TABLE fee_tiers (
    tier @INT@ PRIMARY KEY,
    maker_fee_ppm @INT@ NOT NULL,
    taker_fee_ppm @INT@ NOT NULL,
    updated_seq @INT@ NOT NULL
);
CREATE TABLE accounts (
    account_id @INT@ PRIMARY KEY,
    fee_tier @INT@ NOT NULL,
    stp_group @INT@ NOT NULL,
    order_entry_enabled @INT@ NOT NULL,
    updated_seq @INT@ NOT NULL
);
ALTER TABLE executions ADD COLUMN fee_tier @INT@;
CREATE INDEX executions_by_fee_tier ON executions (fee_tier);
";

/// The `schema_version` table itself, created before any migration.
pub const VERSION_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS schema_version (version @INT@ PRIMARY KEY, applied_at_ns @INT@ NOT NULL)";

/// The migration scripts in order: index 0 is version 1.
const MIGRATIONS: [&str; LATEST_VERSION as usize] = [V1, V2];

/// A script with the backend's types.
pub fn for_sqlite(script: &str) -> String {
    script.replace("@INT@", "INTEGER")
}

pub fn for_postgres(script: &str) -> String {
    script.replace("@INT@", "BIGINT")
}

/// Migration `version`'s script in the shared spelling (`@INT@` for the backend's 64-bit integer).
pub fn migration(version: u32) -> Option<&'static str> {
    MIGRATIONS.get((version as usize).checked_sub(1)?).copied()
}

/// Brings the database to `target`, one migration per transaction; returns the version it was at.
pub fn migrate(db: &mut dyn QueryDb, target: u32) -> Result<u32, QueryError> {
    let found = db.schema_version()?;
    if found > LATEST_VERSION {
        return Err(QueryError::SchemaTooNew {
            found,
            supported: LATEST_VERSION,
        });
    }
    for version in found + 1..=target.min(LATEST_VERSION) {
        let Some(script) = migration(version) else {
            break;
        };
        db.run_migration(version, script)?;
    }
    Ok(found)
}
