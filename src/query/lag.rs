//! How far the query database is behind the journal, as atomics the learner's stage writes and /metrics and
//! /health read from any thread.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// The admin server's /metrics and /health render it (`render_prometheus`, `health_json`) on a node that runs
/// the learner role.
#[derive(Debug, Default)]
#[allow(dead_code)]
pub struct QueryLag {
    /// The journal's written watermark when the stage last looked.
    pub journal_written_seq: AtomicU64,
    /// The last sequence number committed to the database.
    pub db_seq: AtomicU64,
    /// The command time (sequencer clock, ns since the epoch) of the oldest command read but not yet committed;
    /// zero when none is pending.
    pub oldest_pending_timestamp_ns: AtomicU64,
    /// Wall clock of the last commit.
    pub last_commit_wall_ns: AtomicU64,
    pub batches: AtomicU64,
    pub rows: AtomicU64,
    pub commands: AtomicU64,
    pub audits: AtomicU64,
    /// Balances that differed between the database and the engine in audit checks (should stay 0).
    pub audit_mismatches: AtomicU64,
    /// Transactions that failed (each retried from the journal).
    pub write_errors: AtomicU64,
}

#[allow(dead_code)]
impl QueryLag {
    /// Commands in the journal that are not in the database yet.
    pub fn lag_commands(&self) -> u64 {
        self.journal_written_seq
            .load(Ordering::Acquire)
            .saturating_sub(self.db_seq.load(Ordering::Acquire))
    }

    /// How long the oldest command not yet in the database has waited, in milliseconds of wall clock against its
    /// sequencer stamp; zero when the database is caught up.
    pub fn lag_ms(&self, now_wall_ns: u64) -> u64 {
        if self.lag_commands() == 0 {
            return 0;
        }
        let pending = self.oldest_pending_timestamp_ns.load(Ordering::Acquire);
        let since = if pending != 0 {
            pending
        } else {
            self.last_commit_wall_ns.load(Ordering::Acquire)
        };
        now_wall_ns.saturating_sub(since) / 1_000_000
    }

    /// The Prometheus exposition lines.
    pub fn render_prometheus(&self, now_wall_ns: u64, out: &mut String) {
        let gauges = [
            (
                "crossline_query_journal_written_seq",
                "Journal written watermark seen by the query side",
                self.journal_written_seq.load(Ordering::Acquire),
            ),
            (
                "crossline_query_db_seq",
                "Last sequence number committed to the query database",
                self.db_seq.load(Ordering::Acquire),
            ),
            (
                "crossline_query_lag_commands",
                "Journaled commands not yet in the query database",
                self.lag_commands(),
            ),
            (
                "crossline_query_lag_ms",
                "Age of the oldest command not yet in the query database",
                self.lag_ms(now_wall_ns),
            ),
        ];
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        let counters = [
            ("crossline_query_batches_total", &self.batches),
            ("crossline_query_rows_total", &self.rows),
            ("crossline_query_commands_total", &self.commands),
            ("crossline_query_audits_total", &self.audits),
            (
                "crossline_query_audit_mismatches_total",
                &self.audit_mismatches,
            ),
            ("crossline_query_write_errors_total", &self.write_errors),
        ];
        for (name, value) in counters {
            let _ = writeln!(
                out,
                "# TYPE {name} counter\n{name} {}",
                value.load(Ordering::Acquire)
            );
        }
    }

    /// The fields /health reports.
    pub fn health_json(&self, now_wall_ns: u64) -> serde_json::Value {
        serde_json::json!({
            "db_seq": self.db_seq.load(Ordering::Acquire),
            "journal_written_seq": self.journal_written_seq.load(Ordering::Acquire),
            "lag_commands": self.lag_commands(),
            "lag_ms": self.lag_ms(now_wall_ns),
            "audit_mismatches": self.audit_mismatches.load(Ordering::Acquire),
        })
    }
}
