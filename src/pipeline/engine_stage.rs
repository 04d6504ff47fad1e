//! The engine stage: sequencer, journal writer and matcher. Each `step` takes a batch from the gateway's ring (and
//! the admin ring), stamps each command with the next sequence number and one clock read per batch, appends the
//! batch to the journal and commits it, then applies each command to the engine, writing the events straight into
//! the outbound ring. Replies wait in the gateway for the ack policy's watermark, never here.
//!
//! The stage runs inside the gateway's loop (the default: the gateway calls `step` after flushing its commands) or
//! on a thread of its own (`run`, a loop over `step` with an idle strategy around it).
//!
//! Nothing here allocates, locks or logs per command. A full outbound ring makes the stage wait for room, which
//! its caller makes (`make_room`): its own thread waits for the gateway, which never waits for it (it queues
//! inbound commands on its side); in the gateway's loop the gateway drains the ring itself. There is no cycle.

use super::idle::Idle;
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
    /// When the next `StateCheck` is due (wall-clock ns; `u64::MAX`: never). Set by `start`.
    pub next_state_check_ns: u64,
}

/// Writes events into the outbound ring, waiting for room (the gateway always drains it).
pub(super) struct RingSink<'a> {
    pub ring: &'a mut Producer<OutboundEvent>,
    pub ledger: &'a mut SessionLedger,
    pub metrics: &'a Metrics,
    /// Called while the ring is full, until the gateway has drained some of it.
    pub make_room: &'a mut dyn FnMut(),
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
    /// The outbound ring is full: publish what is written and have room made until a slot is free. The gateway
    /// drains this ring on every loop and never waits on the engine, and it runs until the engine is done: the wait
    /// ends.
    #[cold]
    #[inline(never)]
    fn wait_for_room(&mut self, item: OutboundEvent) {
        self.ring.publish();
        metrics::bump(&self.metrics.engine.outbound_ring_full);
        loop {
            (self.make_room)();
            if self.ring.try_write(item) {
                break;
            }
        }
    }
}

/// What one `EngineStage::step` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Applied commands (or a timer): step again at once.
    Worked,
    /// Both rings were empty and no timer was due.
    Idle,
    /// Stopped and drained, or the journal failed: call `finish`.
    Done,
}

impl EngineStage {
    /// Runs on a thread of its own until stopped (after draining) or until the journal fails. Returns the engine and
    /// its ledger; the journal is closed (synced).
    pub fn run(mut self) -> (Engine, SessionLedger) {
        self.lifecycle.engine_wakeup.register_current();
        // While the outbound ring is full, end the gateway's wait and spin: the gateway drains it on every loop
        // and never waits on this thread, and it runs until this thread is done.
        let lifecycle = Arc::clone(&self.lifecycle);
        let mut wait_for_gateway = move || {
            lifecycle.gateway_wakeup.wake();
            std::hint::spin_loop();
        };
        if self.start(&mut wait_for_gateway) {
            loop {
                match self.step(&mut wait_for_gateway) {
                    Step::Worked => self.idle.reset(),
                    Step::Done => break,
                    Step::Idle if self.idle.parks_next() => {
                        // Announce the park, then look at the rings once more: a command published in between is
                        // either seen here or its producer sees the announcement and unparks this thread.
                        let wakeup = &self.lifecycle.engine_wakeup;
                        wakeup.announce_park();
                        if self.from_gateway.available() == 0 && self.from_admin.available() == 0 {
                            self.idle.park();
                        }
                        self.lifecycle.engine_wakeup.awake();
                    }
                    Step::Idle => self.idle.idle(),
                }
            }
        }
        self.finish()
    }

    /// Sequences the opening commands. False when the journal failed (call `finish`).
    ///
    /// `make_room` is called while the outbound ring is full, until the gateway has drained some of it: on the
    /// engine's own thread it wakes the gateway and spins; when the gateway's thread runs the engine, it drains the
    /// ring itself.
    pub fn start(&mut self, make_room: &mut dyn FnMut()) -> bool {
        let genesis = std::mem::take(&mut self.genesis);
        for body in genesis {
            if self.sequence_one(body, 0, None, make_room).is_err() {
                return false;
            }
        }
        self.next_state_check_ns = self.next_state_check(wall_clock_ns());
        true
    }

    /// Takes one batch from each ring (or applies a due timer) and says what it did; `make_room` as for `start`.
    #[inline]
    pub fn step(&mut self, make_room: &mut dyn FnMut()) -> Step {
        if self.next_state_check_ns != u64::MAX {
            let now_ns = wall_clock_ns();
            if now_ns >= self.next_state_check_ns {
                let state_hash = self.engine.state_hash();
                if self
                    .sequence_one(CommandBody::StateCheck { state_hash }, 0, None, make_room)
                    .is_err()
                {
                    return Step::Done;
                }
                self.next_state_check_ns = self.next_state_check(now_ns);
            }
        }
        let from_gateway = self.from_gateway.available().min(BATCH_MAX);
        let from_admin = self.from_admin.available().min(BATCH_MAX);
        if from_gateway == 0 && from_admin == 0 {
            if self.engine.next_timer_ns() != u64::MAX
                && wall_clock_ns() >= self.engine.next_timer_ns()
            {
                return match self.sequence_one(CommandBody::Tick, 0, None, make_room) {
                    Ok(()) => Step::Worked,
                    Err(()) => Step::Done,
                };
            }
            if self.lifecycle.engine_stop.load(Ordering::Acquire) {
                // Drained: both rings were empty after the stop was seen.
                if self.from_gateway.available() == 0 && self.from_admin.available() == 0 {
                    return Step::Done;
                }
                return Step::Worked;
            }
            return Step::Idle;
        }
        if from_gateway > 0 && self.gateway_batch(from_gateway, make_room).is_err() {
            return Step::Done;
        }
        if from_admin > 0 && self.admin_batch(from_admin, make_room).is_err() {
            return Step::Done;
        }
        Step::Worked
    }

    /// Publishes the last events, ends the gateway's wait and closes the journal (synced). Returns the engine and its
    /// ledger.
    pub fn finish(mut self) -> (Engine, SessionLedger) {
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

    fn gateway_batch(&mut self, count: u64, make_room: &mut dyn FnMut()) -> Result<(), ()> {
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
            self.apply(&command, item.received_ns, None, make_room);
        }
        self.from_gateway.release(count);
        self.finish_batch(count, first_seq + count - 1, started);
        Ok(())
    }

    fn admin_batch(&mut self, count: u64, make_room: &mut dyn FnMut()) -> Result<(), ()> {
        for i in 0..count {
            let Some(item) = self.from_admin.peek(i) else {
                break;
            };
            self.sequence_one(item.body, 0, Some(item.ticket), make_room)?;
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
        make_room: &mut dyn FnMut(),
    ) -> Result<(), ()> {
        let started = Instant::now();
        let command = Command {
            seq: self.journal.next_seq(),
            timestamp_ns: wall_clock_ns(),
            body,
        };
        self.append(&command)?;
        self.commit()?;
        self.apply(&command, received_ns, ticket, make_room);
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
            self.lifecycle.fail_journal();
            return Err(());
        }
        Ok(())
    }

    #[inline]
    fn commit(&mut self) -> Result<(), ()> {
        if let Err(error) = self.journal.commit_batch() {
            self.fatal.set(format!("journal commit failed: {error}"));
            self.lifecycle.fail_journal();
            return Err(());
        }
        Ok(())
    }

    #[inline]
    fn apply(
        &mut self,
        command: &Command,
        received_ns: u64,
        ticket: Option<u64>,
        make_room: &mut dyn FnMut(),
    ) {
        self.ledger.on_command(&command.body);
        let mut sink = RingSink {
            ring: &mut self.to_gateway,
            ledger: &mut self.ledger,
            metrics: &self.metrics,
            make_room,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::pipeline::messages::AdminCommand;
    use crate::pipeline::recovery::fsync_policy;
    use crate::pipeline::ring::ring;
    use crossline_engine::{NewOrder, OrderType, Side, TimeInForce};
    use crossline_journal::{JournalConfig, JournalReader};

    /// Outbound slots: far fewer than the events of the opening commands or of one batch.
    const TINY_RING_SLOTS: usize = 4;

    struct Harness {
        stage: EngineStage,
        to_engine: Producer<InboundCommand>,
        from_engine: Consumer<OutboundEvent>,
        config: Config,
        dir: tempfile::TempDir,
    }

    fn harness() -> Harness {
        let config = Config::embedded().expect("embedded configuration");
        let dir = tempfile::tempdir().expect("temporary directory");
        let journal_config = JournalConfig {
            segment_bytes: 1 << 20,
            fsync: fsync_policy(crate::config::FsyncChoice::None, 1),
            first_seq: 1,
            ..JournalConfig::default()
        };
        let (journal, _) = JournalWriter::open(dir.path(), journal_config).expect("journal");
        let (to_engine, from_gateway) = ring::<InboundCommand>(64);
        let (to_gateway, from_engine) = ring::<OutboundEvent>(TINY_RING_SLOTS);
        let (_admin, from_admin) = ring::<AdminCommand>(4);
        let stage = EngineStage {
            engine: Engine::new(config.engine_config()).expect("engine"),
            ledger: SessionLedger::new(config.users.len()),
            journal,
            from_gateway,
            from_admin,
            to_gateway,
            metrics: Arc::new(Metrics::default()),
            admin_results: Arc::new(AdminResults::default()),
            lifecycle: Arc::new(Lifecycle::default()),
            fatal: Arc::new(Fatal::default()),
            idle: Idle::new(crate::config::IdleChoice::BackoffPark),
            genesis: crate::config::genesis_commands(&config),
            state_check_interval_ns: 0,
            next_state_check_ns: u64::MAX,
        };
        Harness {
            stage,
            to_engine,
            from_engine,
            config,
            dir,
        }
    }

    fn resting_buy(config: &Config, user_ref: u32) -> CommandBody {
        CommandBody::NewOrder(NewOrder {
            session: Config::session_of_user(0),
            account: config.users[0].account,
            user_ref,
            instrument: config.instruments[0].id,
            side: Side::Buy,
            order_type: OrderType::Limit,
            time_in_force: TimeInForce::Day,
            price: config.instruments[0].reference_price - config.instruments[0].tick,
            qty: 1,
            min_qty: 0,
            display_qty: 0,
            post_only: false,
            expire_time_ns: 0,
            group: 0,
        })
    }

    /// Drains the consumer into `seen` (sequence numbers in ring order).
    fn drain(from_engine: &mut Consumer<OutboundEvent>, seen: &mut Vec<u64>) {
        let available = from_engine.available();
        for i in 0..available {
            if let Some(item) = from_engine.peek(i) {
                seen.push(item.seq);
            }
        }
        from_engine.release(available);
    }

    #[test]
    fn an_engine_stepped_by_its_consumer_finishes_batches_larger_than_the_outbound_ring() {
        let Harness {
            mut stage,
            mut to_engine,
            mut from_engine,
            config,
            dir,
        } = harness();
        let genesis_len = stage.genesis.len() as u64;
        let mut seen = Vec::new();
        let mut room_calls = 0;
        // The consumer is the caller (the gateway's loop, when the engine runs in it): it makes room itself.
        assert!(stage.start(&mut || {
            room_calls += 1;
            drain(&mut from_engine, &mut seen);
        }));
        stage.to_gateway.publish();
        drain(&mut from_engine, &mut seen);
        assert!(
            seen.len() > TINY_RING_SLOTS,
            "the opening commands make {} events",
            seen.len()
        );
        assert!(room_calls > 0);
        assert_eq!(seen.last().copied(), Some(genesis_len));

        let orders = 40u32;
        for user_ref in 1..=orders {
            assert!(to_engine.try_write(InboundCommand {
                body: resting_buy(&config, user_ref),
                received_ns: 0,
            }));
        }
        assert!(to_engine.publish());
        seen.clear();
        let mut steps = Vec::new();
        loop {
            let step = stage.step(&mut || drain(&mut from_engine, &mut seen));
            steps.push(step);
            if step != Step::Worked {
                break;
            }
        }
        assert_eq!(steps, vec![Step::Worked, Step::Idle]);
        drain(&mut from_engine, &mut seen);
        // Every order was accepted, in sequence order, none lost to the full ring.
        let expected: Vec<u64> = (genesis_len + 1..=genesis_len + u64::from(orders)).collect();
        let mut distinct = seen.clone();
        distinct.dedup();
        assert_eq!(distinct, expected);
        assert_eq!(stage.engine.last_seq(), genesis_len + u64::from(orders));

        // Stopped with empty rings: done, and the journal holds every command.
        stage.lifecycle.stop_engine();
        assert_eq!(stage.step(&mut || {}), Step::Done);
        let (engine, _) = stage.finish();
        assert_eq!(engine.last_seq(), genesis_len + u64::from(orders));
        let mut reader = JournalReader::open(dir.path()).expect("reader");
        let mut records = 0;
        while let Some(record) = reader.next_record().expect("record") {
            records += 1;
            assert_eq!(record.seq, records);
        }
        assert_eq!(records, genesis_len + u64::from(orders));
    }
}
