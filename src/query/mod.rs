//! The query side: a learner's sink that keeps trades, orders and balances in a SQL database for reporting and
//! audit, fed by replaying the journal into an engine of its own, never by asking the matcher.
//!
//! Layers, each talking only to the one below: `stage` tails a journal directory, replays every command into its
//! own `Engine` and hands the events to `translate`, which turns them into rows of a `Batch`; `db` is the small
//! `QueryDb` trait with a SQLite (`sqlite_db`) and a PostgreSQL (`postgres_db`) backend that writes a batch and the
//! last applied sequence number in one transaction; `schema` holds the numbered migrations, one text per backend;
//! `audit` takes consistent snapshots of every balance and open order and checks them; `verify` replays a journal
//! and compares the database with the engine's events; `cli` answers `crossline query`.
//!
//! It must never slow the leader: it reads the journal through the writer's watermarks, in its own thread, and
//! nothing on the hot path waits for it. It must never write a row twice or skip one: see docs/QUERY.md.

pub mod audit;
pub mod balances;
pub mod bench;
pub mod cli;
pub mod db;
pub mod flow;
pub mod lag;
pub mod output;
pub mod postgres_db;
pub mod schema;
pub mod sqlite_db;
pub mod stage;
pub mod translate;
pub mod verify;

#[cfg(test)]
mod tests;

pub use db::{DbUrl, QueryError};
pub use lag::QueryLag;
pub use stage::{QueryStageOptions, StartFrom};

impl crate::config::Config {
    /// The query database; a relative SQLite path is under `node.data_dir`.
    pub fn query_db_url(&self) -> Result<DbUrl, QueryError> {
        DbUrl::parse(&self.query.database_url, &self.node.data_dir)
    }

    /// The query stage's settings from `[query]` and `[engine]`; its engine starts from this node's snapshots.
    pub fn query_stage_options(&self) -> QueryStageOptions {
        QueryStageOptions {
            batch_max_commands: self.query.batch_max_commands,
            batch_max_delay_ms: self.query.batch_max_delay_ms,
            audit_interval_s: self.query.audit_interval_s,
            engine: self.engine_config(),
            start: StartFrom::Snapshots {
                dir: self.snapshot_dir(),
                sessions: self.users.len(),
            },
        }
    }
}
