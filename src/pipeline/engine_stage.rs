//! The engine thread: sequencer, journal writer and matcher on one core. It takes a batch from the gateway's
//! ring (and the admin ring), stamps each command with the next sequence number and one clock read per batch,
//! appends the batch to the journal and commits it, then applies each command to the engine, writing the events
//! straight into the outbound ring. Replies wait in the gateway for the ack policy's watermark, never here.
//!
//! Nothing here allocates, locks or logs per command. A full outbound ring makes this thread wait for the
//! gateway (which never waits for this thread: it queues inbound commands on its side), so there is no cycle.

use super::idle::{Idle, PollerWakeup};
use super::ledger::SessionLedger;
use super::messages::{wall_clock_ns, AdminCommand, InboundCommand, OutboundEvent};
use super::ring::{Consumer, Producer};
use super::Lifecycle;
use crate::metrics::{self, Metrics};
use crossline_engine::{Command, CommandBody, Engine, Event, EventSink};
use crossline_journal::{JournalWriter, FRAME_BYTES};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Commands taken from a ring per batch at most.
pub const BATCH_MAX: u64 = 256;

/// The outcome of the latest admin command, for the admin thread that submitted it.
#[derive(Debug, Default)]
pub struct AdminResults {
    /// Ticket of the latest admin command applied.
    pub done_ticket: AtomicU64,
    /// Its sequence number.
    pub seq: AtomicU64,
    /// 0 when it was applied, otherwise 1 + the engine's reject reason code.
    pub reject: AtomicU64,
}

/// Why the engine thread stopped on its own. Shared so that `serve` can say it.
#[derive(Debug, Default)]
pub struct Fatal {
    pub reason: Mutex<Option<String>>,
}

impl Fatal {
    pub fn set(&self, reason: String) {
        if let Ok(mut slot) = self.reason.lock() {
            slot.get_or_insert(reason);
        }
    }

    pub fn get(&self) -> Option<String> {
        self.reason.lock().ok().and_then(|slot| slot.clone())
    }
}

pub struct EngineStage {
    pub engine: Engine,
    pub ledger: SessionLedger,
    pub journal: JournalWriter,
    pub from_gateway: Consumer<InboundCommand>,
    pub from_admin: Consumer<AdminCommand>,
    pub to_gateway: Producer<OutboundEvent>,
    pub metrics: Arc<Metrics>,
    pub admin_results: Arc<AdminResults>,
    /// `engine_stop` ends the stage once both rings are drained; a journal failure sets it and `gateway_stop`.
    pub lifecycle: Arc<Lifecycle>,
    pub fatal: Arc<Fatal>,
    pub idle: Idle,
    /// Commands to sequence before anything else (the configuration's opening commands on a fresh journal).
    pub genesis: Vec<CommandBody>,
    /// How often the leader of a cluster journals its state hash (`CommandBody::StateCheck`); 0: never.
    pub state_check_interval_ns: u64,
}

/// Writes events into the outbound ring, waiting for room (the gateway always drains it).
pub(super) struct RingSink<'a> {
    pub ring: &'a mut Producer<OutboundEvent>,
    pub ledger: &'a mut SessionLedger,
    pub metrics: &'a Metrics,
    /// Ends the gateway's wait when this sink must wait for room.
    pub gateway_wakeup: &'a PollerWakeup,
    pub seq: u64,
    pub timestamp_ns: u64,
    pub received_ns: u64,
    pub events: u64,
    pub first_reject: Option<u8>,
    /// A `StateCheck` whose hash differs from this engine's: (leader's, this engine's).
    pub state_mismatch: Option<(u64, u64)>,
}

impl EventSink for RingSink<'_> {
    #[inline]
    fn push(&mut self, event: Event) {
        self.ledger.on_event(&event);
        match event {
            Event::Rejected { reason, .. } | Event::QuoteRejected { reason, .. } => {
                self.first_reject.get_or_insert(reason as u8);
            }
            Event::StateChecked { expected, actual } if expected != actual => {
                self.state_mismatch = Some((expected, actual));
            }
            _ => {}
        }
        let item = OutboundEvent {
            seq: self.seq,
            timestamp_ns: self.timestamp_ns,
            received_ns: self.received_ns,
            event,
        };
        self.events += 1;
        if !self.ring.try_write(item) {
            self.wait_for_room(item);
        }
    }
}

impl RingSink<'_> {
    /// The outbound ring is full: publish what is written, end the gateway's wait, and spin until it has drained
    /// a slot. The gateway drains this ring on every loop and never waits on this thread, and it runs until this
    /// thread is done: the wait ends.
    #[cold]
    #[inline(never)]
    fn wait_for_room(&mut self, item: OutboundEvent) {
        self.ring.publish();
        self.gateway_wakeup.wake();
        metrics::bump(&self.metrics.engine.outbound_ring_full);
        while !self.ring.try_write(item) {
            std::hint::spin_loop();
        }
    }
}

impl EngineStage {
    /// Runs until stopped (after draining) or until the journal fails. Returns the engine, its ledger and the
    /// journal, closed (synced).
    pub fn run(mut self) -> (Engine, SessionLedger) {
        self.lifecycle.engine_wakeup.register_current();
        let genesis = std::mem::take(&mut self.genesis);
        for body in genesis {
            if self.sequence_one(body, 0, None).is_err() {
                break;
            }
        }
        let mut next_state_check_ns = self.next_state_check(wall_clock_ns());
        loop {
            if next_state_check_ns != u64::MAX {
                let now_ns = wall_clock_ns();
                if now_ns >= next_state_check_ns {
                    let state_hash = self.engine.state_hash();
                    if self
                        .sequence_one(CommandBody::StateCheck { state_hash }, 0, None)
                        .is_err()
                    {
                        break;
                    }
                    next_state_check_ns = self.next_state_check(now_ns);
                }
            }
            let from_gateway = self.from_gateway.available().min(BATCH_MAX);
            let from_admin = self.from_admin.available().min(BATCH_MAX);
            if from_gateway == 0 && from_admin == 0 {
                if self.engine.next_timer_ns() != u64::MAX
                    && wall_clock_ns() >= self.engine.next_timer_ns()
                    && self.sequence_one(CommandBody::Tick, 0, None).is_err()
                {
                    break;
                }
                if self.lifecycle.engine_stop.load(Ordering::Acquire) {
                    // Drained: both rings were empty after the stop was seen.
                    if self.from_gateway.available() == 0 && self.from_admin.available() == 0 {
                        break;
                    }
                    continue;
                }
                if self.idle.parks_next() {
                    // Announce the park, then look at the rings once more: a command published in between is
                    // either seen here or its producer sees the announcement and unparks this thread.
                    let wakeup = &self.lifecycle.engine_wakeup;
                    wakeup.announce_park();
                    if self.from_gateway.available() == 0 && self.from_admin.available() == 0 {
                        self.idle.park();
                    }
                    self.lifecycle.engine_wakeup.awake();
                } else {
                    self.idle.idle();
                }
                continue;
            }
            self.idle.reset();
            if from_gateway > 0 && self.gateway_batch(from_gateway).is_err() {
                break;
            }
            if from_admin > 0 && self.admin_batch(from_admin).is_err() {
                break;
            }
        }
        self.to_gateway.publish();
        self.lifecycle.gateway_wakeup.wake();
        let EngineStage {
            engine,
            ledger,
            journal,
            fatal,
            ..
        } = self;
        if let Err(error) = journal.close() {
            fatal.set(format!("journal close failed: {error}"));
        }
        (engine, ledger)
    }

    fn next_state_check(&self, now_ns: u64) -> u64 {
        if self.state_check_interval_ns == 0 {
            u64::MAX
        } else {
            now_ns.saturating_add(self.state_check_interval_ns)
        }
    }

    fn gateway_batch(&mut self, count: u64) -> Result<(), ()> {
        let started = Instant::now();
        let timestamp_ns = wall_clock_ns();
        let first_seq = self.journal.next_seq();
        for i in 0..count {
            let Some(item) = self.from_gateway.peek(i) else {
                break;
            };
            let command = Command {
                seq: first_seq + i,
                timestamp_ns,
                body: item.body,
            };
            self.append(&command)?;
        }
        self.commit()?;
        for i in 0..count {
            let Some(item) = self.from_gateway.peek(i) else {
                break;
            };
            let command = Command {
                seq: first_seq + i,
                timestamp_ns,
                body: item.body,
            };
            self.apply(&command, item.received_ns, None);
        }
        self.from_gateway.release(count);
        self.finish_batch(count, first_seq + count - 1, started);
        Ok(())
    }

    fn admin_batch(&mut self, count: u64) -> Result<(), ()> {
        for i in 0..count {
            let Some(item) = self.from_admin.peek(i) else {
                break;
            };
            self.sequence_one(item.body, 0, Some(item.ticket))?;
        }
        self.from_admin.release(count);
        Ok(())
    }

    /// Sequences, journals and applies one command on its own (genesis and admin commands: rare).
    fn sequence_one(
        &mut self,
        body: CommandBody,
        received_ns: u64,
        ticket: Option<u64>,
    ) -> Result<(), ()> {
        let started = Instant::now();
        let command = Command {
            seq: self.journal.next_seq(),
            timestamp_ns: wall_clock_ns(),
            body,
        };
        self.append(&command)?;
        self.commit()?;
        self.apply(&command, received_ns, ticket);
        self.finish_batch(1, command.seq, started);
        Ok(())
    }

    #[inline]
    fn append(&mut self, command: &Command) -> Result<(), ()> {
        if let Err(error) = self.journal.append(command) {
            self.fatal.set(format!(
                "journal append of seq {} failed, stopping the engine so that nothing unjournaled is \
                 applied: {error}",
                command.seq
            ));
            self.lifecycle.fail();
            return Err(());
        }
        Ok(())
    }

    #[inline]
    fn commit(&mut self) -> Result<(), ()> {
        if let Err(error) = self.journal.commit_batch() {
            self.fatal.set(format!("journal commit failed: {error}"));
            self.lifecycle.fail();
            return Err(());
        }
        Ok(())
    }

    #[inline]
    fn apply(&mut self, command: &Command, received_ns: u64, ticket: Option<u64>) {
        self.ledger.on_command(&command.body);
        let mut sink = RingSink {
            ring: &mut self.to_gateway,
            ledger: &mut self.ledger,
            metrics: &self.metrics,
            gateway_wakeup: &self.lifecycle.gateway_wakeup,
            seq: command.seq,
            timestamp_ns: command.timestamp_ns,
            received_ns,
            events: 0,
            first_reject: None,
            state_mismatch: None,
        };
        self.engine.apply(command, &mut sink);
        let (events, first_reject) = (sink.events, sink.first_reject);
        metrics::add(&self.metrics.engine.events, events);
        if first_reject.is_some() {
            metrics::bump(&self.metrics.engine.rejects);
        }
        if let Some(ticket) = ticket {
            let results = &self.admin_results;
            results.seq.store(command.seq, Ordering::Relaxed);
            results.reject.store(
                first_reject.map_or(0, |code| u64::from(code) + 1),
                Ordering::Relaxed,
            );
            results.done_ticket.store(ticket, Ordering::Release);
        }
    }

    #[inline]
    fn finish_batch(&mut self, commands: u64, last_seq: u64, started: Instant) {
        self.to_gateway.publish();
        self.lifecycle.gateway_wakeup.wake();
        let m = &self.metrics.engine;
        metrics::add(&m.commands, commands);
        metrics::add(&m.journal_bytes, commands * FRAME_BYTES as u64);
        metrics::bump(&m.batches);
        metrics::set(&m.last_seq, last_seq);
        metrics::set(&m.outbound_ring_occupancy, self.to_gateway.occupancy());
        m.batch_latency
            .record(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
}
