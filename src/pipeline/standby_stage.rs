//! The engine thread of a standby: it follows the replicated journal instead of sequencing, keeping the engine,
//! the session ledger and the gateway's reply stores hot, until promotion hands it the journal writer.
//!
//! Replication appends the records this node accepts to its journal and makes them visible to readers once they
//! are committed (the journal's visibility limit); this stage reads them as they become visible and applies each
//! to the engine, writing the events into the outbound ring exactly as the leader's engine
//! thread did (the gateway keeps every session's outbound stream, so that a client that logs in after a failover
//! resumes by sequence number). A `StateCheck` record whose hash differs from this engine's stops the node: its
//! books are not the leader's.
//!
//! Promotion: once Raft has elected this node and it has applied everything committed, the cluster watcher takes
//! the journal writer from replication and leaves it in `Promotion`. This stage reads on until it has applied
//! every record the writer holds, then returns the writer with the engine; the caller runs the sequencer with
//! them. Nothing else writes the journal in between: replication gave the writer up.

use super::engine_stage::{Fatal, RingSink};
use super::idle::Idle;
use super::ledger::SessionLedger;
use super::messages::OutboundEvent;
use super::ring::Producer;
use super::Lifecycle;
use crate::metrics::{self, Metrics};
use crossline_engine::{Command, Engine};
use crossline_journal::{JournalReader, JournalWriter};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Records applied per turn at most, between looks at the stop flag and the promotion slot.
const APPLY_BATCH_MAX: u64 = 1024;

/// Where the cluster watcher leaves the journal writer for the engine thread.
#[derive(Debug, Default)]
pub struct Promotion {
    writer: Mutex<Option<JournalWriter>>,
    offered: AtomicBool,
}

impl Promotion {
    pub fn offer(&self, writer: JournalWriter) {
        if let Ok(mut slot) = self.writer.lock() {
            *slot = Some(writer);
            self.offered.store(true, Ordering::Release);
        }
    }

    fn take(&self) -> Option<JournalWriter> {
        if !self.offered.load(Ordering::Acquire) {
            return None;
        }
        self.offered.store(false, Ordering::Release);
        self.writer.lock().ok().and_then(|mut slot| slot.take())
    }
}

pub struct StandbyStage {
    pub engine: Engine,
    pub ledger: SessionLedger,
    pub reader: JournalReader,
    pub to_gateway: Producer<OutboundEvent>,
    pub metrics: Arc<Metrics>,
    pub lifecycle: Arc<Lifecycle>,
    pub fatal: Arc<Fatal>,
    pub idle: Idle,
    pub promotion: Arc<Promotion>,
}

/// How a standby's stage ended.
#[allow(clippy::large_enum_variant)] // Returned once per process life.
pub enum StandbyExit {
    /// Elected and caught up: run the sequencer with these.
    Promoted {
        engine: Engine,
        ledger: SessionLedger,
        journal: JournalWriter,
        to_gateway: Producer<OutboundEvent>,
    },
    /// Stopped (shutdown), or failed (`fatal` says why).
    Stopped,
}

impl StandbyStage {
    pub fn run(mut self) -> StandbyExit {
        let mut writer: Option<JournalWriter> = None;
        loop {
            let applied = match self.apply_some() {
                Ok(applied) => applied,
                Err(reason) => {
                    self.fatal.set(reason);
                    self.lifecycle.fail();
                    return StandbyExit::Stopped;
                }
            };
            if applied > 0 {
                self.idle.reset();
                continue;
            }
            if writer.is_none() {
                writer = self.promotion.take();
            }
            if let Some(journal) = writer.take() {
                if self.engine.last_seq() + 1 >= journal.next_seq() {
                    return StandbyExit::Promoted {
                        engine: self.engine,
                        ledger: self.ledger,
                        journal,
                        to_gateway: self.to_gateway,
                    };
                }
                // Records the writer holds are not read yet: read on.
                writer = Some(journal);
                continue;
            }
            if self.lifecycle.engine_stop.load(Ordering::Acquire) {
                if let Some(journal) = writer.take() {
                    let _ = journal.close();
                }
                return StandbyExit::Stopped;
            }
            self.idle.idle();
        }
    }

    fn apply_some(&mut self) -> Result<u64, String> {
        let mut applied = 0;
        // One clock read per turn: the lag of every record in it is measured against it.
        let now_ns = super::messages::wall_clock_ns();
        while applied < APPLY_BATCH_MAX {
            let record = match self.reader.next_record() {
                Ok(Some(record)) => record,
                Ok(None) => break,
                Err(error) => {
                    return Err(format!("standby: reading the replicated journal: {error}"))
                }
            };
            let command = rkyv::deserialize::<Command, rkyv::rancor::Error>(record.command)
                .map_err(|error| format!("standby: record {}: {error}", record.seq))?;
            self.ledger.on_command(&command.body);
            let gateway_wakeup = &self.lifecycle.gateway_wakeup;
            // The gateway drains the ring on every loop and never waits on this thread.
            let mut wait_for_gateway = || {
                gateway_wakeup.wake();
                std::hint::spin_loop();
            };
            let mut sink = RingSink {
                ring: &mut self.to_gateway,
                ledger: &mut self.ledger,
                metrics: &self.metrics,
                make_room: &mut wait_for_gateway,
                seq: command.seq,
                timestamp_ns: command.timestamp_ns,
                received_ns: 0,
                events: 0,
                first_reject: None,
                state_mismatch: None,
            };
            self.engine.apply(&command, &mut sink);
            if let Some((leader, here)) = sink.state_mismatch {
                return Err(format!(
                    "state hash mismatch at seq {}: the leader's engine hashed {leader:016x}, this node's \
                     {here:016x}; stopping: this replica's books differ from the leader's",
                    command.seq
                ));
            }
            metrics::add(&self.metrics.engine.events, sink.events);
            let lag_ns = now_ns.saturating_sub(command.timestamp_ns);
            self.metrics.engine.replication_lag.record(lag_ns);
            self.metrics
                .engine
                .replication_lag_max_ns
                .fetch_max(lag_ns, Ordering::Relaxed);
            applied += 1;
        }
        if applied > 0 {
            self.to_gateway.publish();
            self.lifecycle.gateway_wakeup.wake();
            let m = &self.metrics.engine;
            metrics::add(&m.commands, applied);
            metrics::set(&m.last_seq, self.engine.last_seq());
        }
        Ok(applied)
    }
}
