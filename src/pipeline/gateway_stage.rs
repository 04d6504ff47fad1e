//! The gateway thread: SoupBinTCP sessions on the reactor, OUCH in and out, the ITCH feed.
//!
//! Inbound, each OUCH message passes the session's rate limit, is translated against the session's UserRefNum
//! rule and account, and goes to the sequencer as a command. Everything the gateway answers itself (a refused
//! message, an account query) also goes to the sequencer, as a `SessionReply`, so that every session's outbound
//! stream is a function of the journal. The gateway never waits for the engine: when the ring is full, commands
//! queue in a bounded overflow queue here, and a session that would overflow it is disconnected.
//!
//! Outbound, events from the matcher are released once the ack policy's watermark covers their command: OUCH
//! replies to their session's stream (the session layer sends or stores them for replay), book changes to the
//! ITCH feed in MoldUDP64 packets.

use super::engine_stage::{EngineStage, Step};
use super::feed_stage::{self, FeedMessage};
use super::idle::Idle;
use super::messages::{since_midnight_ns, wall_clock_ns, InboundCommand, OutboundEvent};
use super::rate::{RateRule, SessionFlow, Verdict};
use super::ring::{Consumer, Producer};
use super::role::Role;
use super::Lifecycle;
use crate::config::AckPolicy;
use crate::metrics::{self, GatewayReject, Metrics};
use crossline_engine::{
    CommandBody, Event, InstrumentId, MassCancel, MassCancelReason, SessionReply, SessionReplyKind,
    Symbol,
};
use crossline_journal::Watermarks;
use crossline_net::feed::{FeedEncoder, MoldPublisher, RetransmitServer, UdpFeedSender};
use crossline_net::itch::EventCode;
use crossline_net::ouch::{self, RejectReason};
use crossline_net::reactor::{CloseReason, ConnId};
use crossline_net::session::{Gateway, SessionEvent, UserId};
use crossline_net::translate::{
    translate_bytes, translate_event, GatewayRequest, ReferenceData, SessionContext,
    SessionOrderState, Translated,
};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Application close code for a session disconnected by the penalty box (SessionCloseReason codes end at 13).
pub const CLOSE_PENALTY_BOX: u16 = 100;
/// Application close code for a session whose commands would overflow the gateway's queue.
pub const CLOSE_OVERLOADED: u16 = 101;
/// Application close code for the appliance shutting down.
pub const CLOSE_SHUTDOWN: u16 = 102;

/// Outbound OUCH messages are encoded here before the session layer frames them.
const ENCODE_BUFFER_BYTES: usize = 1024;
/// Outbound events handled per loop iteration at most, so that inbound traffic is not starved.
const OUTBOUND_BATCH_MAX: u64 = 4096;

/// How long a stopping gateway, its engine done, waits for the ack watermark to release the events left in the
/// ring (a cluster's commit, the journal's sync) while the watermark does not move, before it stops without them.
const RELEASE_WAIT_AT_STOP: std::time::Duration = std::time::Duration::from_secs(5);

/// The instruments the gateway knows: filled from the engine at start-up and from `InstrumentAdded` events.
#[derive(Debug, Clone, Default)]
pub struct Instruments {
    entries: Vec<(InstrumentId, Symbol)>,
}

impl Instruments {
    pub fn new(entries: Vec<(InstrumentId, Symbol)>) -> Instruments {
        Instruments { entries }
    }

    fn add(&mut self, instrument: InstrumentId, symbol: Symbol) {
        if self.symbol(instrument).is_none() {
            self.entries.push((instrument, symbol));
        }
    }

    pub fn entries(&self) -> &[(InstrumentId, Symbol)] {
        &self.entries
    }
}

impl ReferenceData for Instruments {
    fn instrument_id(&self, symbol: &Symbol) -> Option<InstrumentId> {
        self.entries
            .iter()
            .find(|(_, known)| known == symbol)
            .map(|&(id, _)| id)
    }

    fn symbol(&self, instrument: InstrumentId) -> Option<Symbol> {
        self.entries
            .iter()
            .find(|(id, _)| *id == instrument)
            .map(|&(_, symbol)| symbol)
    }
}

impl ReferenceData for &Instruments {
    fn instrument_id(&self, symbol: &Symbol) -> Option<InstrumentId> {
        (*self).instrument_id(symbol)
    }

    fn symbol(&self, instrument: InstrumentId) -> Option<Symbol> {
        (*self).symbol(instrument)
    }
}

/// One configured user's order-entry state.
#[derive(Debug, Clone)]
pub struct UserSlot {
    pub context: SessionContext,
    pub orders: SessionOrderState,
    pub cancel_on_disconnect: bool,
    pub flow: SessionFlow,
    pub conn: Option<ConnId>,
}

/// When replies may leave.
pub struct AckGate {
    pub policy: AckPolicy,
    pub watermarks: Arc<Watermarks>,
    /// The last seq the cluster has committed and this node applied (`replicated`; unused standalone).
    pub committed_seq: Arc<AtomicU64>,
}

impl AckGate {
    #[inline]
    fn released_seq(&self) -> u64 {
        match self.policy {
            // The engine thread journals a batch before applying it: every event in the ring is written.
            AckPolicy::Local => u64::MAX,
            AckPolicy::Durable => self.watermarks.durable_seq(),
            // Committed by a majority: a failover cannot lose it.
            AckPolicy::Replicated => self.committed_seq.load(Ordering::Acquire),
        }
    }

    /// Events wait in the ring for the watermark: under `durable`, the journal's flusher is asked for a round (after
    /// a gap that follows the journal's rate, at most `journal.requested_round_max_gap_us`) rather than at the end
    /// of its interval (a system call only when no request is pending).
    #[inline]
    fn waiting(&self) {
        if self.policy == AckPolicy::Durable {
            self.watermarks.request_sync();
        }
    }
}

/// How often the gateway reads the MoldUDP64 retransmission socket. Reading it on every loop pass cost one
/// failed `recvfrom` per pass (tens of thousands a second under load, each a full system call); a gap-filling
/// request waits at most this long more, a small part of its round trip.
pub const RETRANSMIT_POLL_INTERVAL_NS: u64 = 100_000;

/// Sends one MoldUDP64 packet to the feed's UDP destinations (if any) and counts it, with the destinations that did
/// not get it (subscribers recover it through the retransmission server) and the unreachable ports reported.
#[inline]
fn send_feed_packet(udp: &Option<UdpFeedSender>, metrics: &Metrics, packet: &[u8]) {
    metrics::bump(&metrics.gateway.feed_packets);
    if let Some(udp) = udp {
        let outcome = udp.send(packet);
        if outcome.lost > 0 {
            metrics::add(
                &metrics.gateway.feed_udp_packets_lost,
                u64::from(outcome.lost),
            );
        }
        if outcome.unreachable_reports > 0 {
            metrics::add(
                &metrics.gateway.feed_udp_unreachable_reports,
                u64::from(outcome.unreachable_reports),
            );
        }
    }
}

/// The ITCH feed: encoder state, MoldUDP64 packets, UDP destinations and the retransmission server.
pub struct Feed {
    pub publisher: MoldPublisher,
    pub udp: Option<UdpFeedSender>,
    pub retransmit: Option<RetransmitServer>,
    /// When the retransmission server's socket is next read (ns since the Unix epoch; see
    /// `RETRANSMIT_POLL_INTERVAL_NS`).
    pub retransmit_due_ns: u64,
    // feed-tcp: every published message also goes to the TCP feed thread (None: no TCP feed).
    pub tcp: Option<Producer<FeedMessage>>,
}

/// Everything the gateway loop needs besides the session layer itself (split so that the session layer's
/// callbacks can borrow it).
pub struct GatewayState {
    /// The shutdown handshake, and the engine thread's wake-up.
    pub lifecycle: Arc<Lifecycle>,
    pub users: Vec<UserSlot>,
    pub instruments: Instruments,
    pub to_engine: Producer<InboundCommand>,
    /// Commands waiting for room in the ring, in arrival order.
    pub overflow: VecDeque<InboundCommand>,
    pub overflow_max: usize,
    pub rate: RateRule,
    pub metrics: Arc<Metrics>,
    /// Connections to close after the current callback (penalty box, overload).
    pub to_close: Vec<(ConnId, u16)>,
    /// The clock for the current iteration: wall-clock ns since the Unix epoch.
    pub now_ns: u64,
    /// `now_ns` was read before the poller's wait: the first event after it reads the clock again, so that a
    /// message's receipt time does not include the wait.
    pub clock_before_wait: bool,
    pub accepting: bool,
}

pub struct GatewayStage {
    /// Taking logins and publishing the feed: a leader's gateway. A standby's keeps the reply stores only.
    pub serving: bool,
    pub gateway: Gateway,
    pub state: GatewayState,
    pub from_engine: Consumer<OutboundEvent>,
    pub ack: AckGate,
    pub feed: Feed,
    pub lifecycle: Arc<Lifecycle>,
    pub idle: Idle,
    pub encode_buffer: Box<[u8]>,
    /// The engine, when it runs inside this loop (`[cores] engine = { thread = "gateway" }`) rather than on a
    /// thread of its own. None once it has finished.
    pub engine: Option<Box<EngineStage>>,
}

impl GatewayState {
    /// Handles one session-layer event.
    fn on_session_event(&mut self, event: SessionEvent<'_>) {
        if self.clock_before_wait {
            self.now_ns = wall_clock_ns();
            self.clock_before_wait = false;
        }
        match event {
            SessionEvent::LoggedIn { conn, user, .. } => {
                let now_ns = self.now_ns;
                let Some(slot) = self.users.get_mut(user.index()) else {
                    self.to_close.push((conn, CLOSE_SHUTDOWN));
                    return;
                };
                if !self.accepting || slot.flow.refused(now_ns) {
                    if self.accepting {
                        metrics::bump(
                            &self.metrics.gateway.rejects[GatewayReject::PenaltyBox as usize],
                        );
                    }
                    let code = if self.accepting {
                        CLOSE_PENALTY_BOX
                    } else {
                        CLOSE_SHUTDOWN
                    };
                    self.to_close.push((conn, code));
                    return;
                }
                slot.conn = Some(conn);
                slot.flow.reset_bucket();
                metrics::bump(&self.metrics.gateway.logins);
                metrics::bump(&self.metrics.gateway.sessions_logged_in);
            }
            SessionEvent::Message { conn, user, ouch } => self.on_message(conn, user, ouch),
            SessionEvent::Closed { conn, user, .. } => {
                metrics::bump(&self.metrics.gateway.disconnects);
                let Some(user) = user else { return };
                let Some(slot) = self.users.get_mut(user.index()) else {
                    return;
                };
                if slot.conn != Some(conn) {
                    return;
                }
                slot.conn = None;
                self.metrics
                    .gateway
                    .sessions_logged_in
                    .fetch_sub(1, Ordering::Relaxed);
                if slot.cancel_on_disconnect {
                    let context = slot.context;
                    self.submit(
                        CommandBody::MassCancel(MassCancel {
                            session: context.session,
                            user_ref: 0,
                            reason: MassCancelReason::Disconnect,
                            account: Some(context.account),
                            only_session: Some(context.session),
                            instrument: None,
                            side: None,
                            group: None,
                        }),
                        0,
                        None,
                    );
                }
            }
        }
    }

    fn on_message(&mut self, conn: ConnId, user: UserId, bytes: &[u8]) {
        metrics::bump(&self.metrics.gateway.messages_in);
        let now_ns = self.now_ns;
        let Some(slot) = self.users.get_mut(user.index()) else {
            return;
        };
        if slot.conn != Some(conn) || !self.accepting {
            return;
        }
        let context = slot.context;
        match slot.flow.on_message(&self.rate, now_ns) {
            Verdict::Pass => {}
            verdict => {
                metrics::bump(&self.metrics.gateway.rejects[GatewayReject::RateLimited as usize]);
                let reply = refused_reply(context.session, bytes, ouch::RejectReason::RATE_LIMITED);
                self.submit(CommandBody::SessionReply(reply), now_ns, Some(conn));
                if verdict == Verdict::Disconnect {
                    metrics::bump(
                        &self.metrics.gateway.rejects[GatewayReject::PenaltyBox as usize],
                    );
                    self.to_close.push((conn, CLOSE_PENALTY_BOX));
                }
                return;
            }
        }
        let body =
            match translate_bytes(&mut slot.orders, &context, &self.instruments, now_ns, bytes) {
                Ok(Translated::Command(body)) => body,
                Ok(Translated::Gateway(GatewayRequest::AccountQuery { next_user_ref_num })) => {
                    CommandBody::SessionReply(SessionReply {
                        session: context.session,
                        user_ref: next_user_ref_num,
                        kind: SessionReplyKind::AccountQuery,
                        code: 0,
                        symbol: [b' '; 8],
                    })
                }
                Ok(Translated::Gateway(GatewayRequest::DisableOrderEntry {
                    user_ref_num,
                    firm,
                })) => CommandBody::SetOrderEntry {
                    session: context.session,
                    account: context.account,
                    user_ref: user_ref_num,
                    firm,
                    enabled: false,
                },
                Ok(Translated::Gateway(GatewayRequest::EnableOrderEntry {
                    user_ref_num,
                    firm,
                })) => CommandBody::SetOrderEntry {
                    session: context.session,
                    account: context.account,
                    user_ref: user_ref_num,
                    firm,
                    enabled: true,
                },
                Err(rejection) => {
                    metrics::bump(
                        &self.metrics.gateway.rejects[GatewayReject::Translation as usize],
                    );
                    let kind = if rejection.message_type == ouch::Quote::TYPE {
                        SessionReplyKind::QuoteRejected
                    } else {
                        SessionReplyKind::OrderRejected
                    };
                    CommandBody::SessionReply(SessionReply {
                        session: context.session,
                        user_ref: rejection.user_ref_num,
                        kind,
                        code: rejection.reject_reason().0,
                        symbol: rejection.symbol,
                    })
                }
            };
        self.submit(body, now_ns, Some(conn));
    }

    /// Hands a command to the sequencer, or queues it when the ring is full. A command that fits neither
    /// disconnects its session (`conn`), rather than waiting or being dropped silently.
    #[inline]
    fn submit(&mut self, body: CommandBody, received_ns: u64, conn: Option<ConnId>) {
        let item = InboundCommand { body, received_ns };
        metrics::bump(&self.metrics.gateway.commands_out);
        if self.overflow.is_empty() && self.to_engine.try_write(item) {
            return;
        }
        metrics::bump(&self.metrics.gateway.inbound_ring_full);
        if self.overflow.len() < self.overflow_max {
            self.overflow.push_back(item);
        } else if let Some(conn) = conn {
            self.to_close.push((conn, CLOSE_OVERLOADED));
        } else {
            // A cancel-on-disconnect must not be lost: the queue may pass its soft bound for it (bounded by
            // the number of sessions).
            self.overflow.push_back(item);
        }
    }

    /// Moves queued commands into the ring and publishes everything written.
    #[inline]
    fn flush_to_engine(&mut self) {
        while let Some(item) = self.overflow.front() {
            if !self.to_engine.try_write(*item) {
                break;
            }
            self.overflow.pop_front();
        }
        if self.to_engine.publish() {
            self.lifecycle.engine_wakeup.wake();
        }
        metrics::set(
            &self.metrics.gateway.inbound_ring_occupancy,
            self.to_engine.occupancy(),
        );
    }
}

/// The OUCH answer to a refused message, built from its raw bytes (it was never decoded).
fn refused_reply(session: u32, bytes: &[u8], code: RejectReason) -> SessionReply {
    let message_type = bytes.first().copied().unwrap_or(0);
    // Replace Order carries the replacement's UserRefNum after the original's.
    let offset = if message_type == ouch::ReplaceOrder::TYPE {
        5
    } else {
        1
    };
    let user_ref = bytes
        .get(offset..offset + 4)
        .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let (kind, symbol) = if message_type == ouch::Quote::TYPE {
        let mut symbol = [b' '; 8];
        if let Some(s) = bytes.get(5..13) {
            symbol.copy_from_slice(s);
        }
        (SessionReplyKind::QuoteRejected, symbol)
    } else {
        (SessionReplyKind::OrderRejected, [b' '; 8])
    };
    SessionReply {
        session,
        user_ref,
        kind,
        code: code.0,
        symbol,
    }
}

impl GatewayStage {
    /// Publishes the feed's opening messages: start of messages and the directory of every instrument.
    pub fn open_feed(&mut self) {
        let now_ns = wall_clock_ns();
        let encoder = FeedEncoder::new(&self.state.instruments);
        let mut messages = Vec::new();
        if let Ok(message) =
            encoder.system_event(EventCode::StartOfMessages, since_midnight_ns(now_ns))
        {
            messages.push(message);
        }
        for &(instrument, symbol) in self.state.instruments.entries() {
            if let Ok(message) =
                encoder.stock_directory(instrument, symbol, since_midnight_ns(now_ns))
            {
                messages.push(message);
            }
        }
        let udp = &self.feed.udp;
        let metrics = &self.state.metrics;
        let mut send = |packet: &[u8]| send_feed_packet(udp, metrics, packet);
        for message in &messages {
            if let Ok(sequence) = self.feed.publisher.publish(message, now_ns, &mut send) {
                // feed-tcp
                feed_stage::push(&mut self.feed.tcp, metrics, sequence, message);
            }
        }
        self.feed.publisher.flush(now_ns, &mut send);
    }

    /// Replays recovered events into the session stores before any client connects (no feed output: the
    /// feed starts afresh).
    pub fn restore_event(&mut self, event: &Event, timestamp_ns: u64) {
        if let Event::InstrumentAdded { instrument, symbol } = *event {
            self.state.instruments.add(instrument, symbol);
        }
        self.publish_reply(event, timestamp_ns, 0);
    }

    /// Runs the loop until shut down. A leader's gateway opens the feed and takes logins at once; a standby's
    /// does when the node is promoted.
    pub fn run(mut self) {
        if let Some(fd) = self.lifecycle.gateway_wakeup.fd() {
            if let Err(error) = self.gateway.add_wake_fd(fd) {
                // Waits then end at their timeouts alone: replies wait up to the idle strategy's wait budget.
                eprintln!("crossline: the gateway cannot watch its wake-up eventfd ({error}); replies may wait for its poll timeout");
            }
        }
        self.serving = self.lifecycle.role.get() == Role::Leader;
        self.gateway.set_serving(self.serving);
        if self.serving {
            self.open_feed();
        }
        // What the engine has already produced (the opening commands of a fresh start) is taken in before any
        // socket is read, so that the instrument table is complete when the first client speaks.
        self.state.now_ns = wall_clock_ns();
        if let Some(mut engine) = self.engine.take() {
            if engine.start(&mut || {
                self.drain_outbound();
            }) {
                self.engine = Some(engine);
            } else {
                self.finish_engine(engine);
            }
        }
        while self.drain_outbound() > 0 {}
        // While stopping with the engine done: when the ring's events last moved (their ack watermark rose).
        let mut withheld_since: Option<std::time::Instant> = None;
        loop {
            self.follow_role();
            let busy = self.iterate();
            if self.state.accepting && self.lifecycle.gateway_stop.load(Ordering::Acquire) {
                self.begin_shutdown();
            }
            if !self.state.accepting
                && self.state.overflow.is_empty()
                && self.lifecycle.engine_done.load(Ordering::Acquire)
            {
                let waiting = self.from_engine.available();
                if waiting == 0 {
                    break;
                }
                if busy {
                    withheld_since = None;
                }
                let since = *withheld_since.get_or_insert_with(std::time::Instant::now);
                if since.elapsed() >= RELEASE_WAIT_AT_STOP {
                    self.withhold_at_stop(waiting);
                    break;
                }
            }
            if !self.state.accepting && self.state.overflow.is_empty() {
                self.lifecycle.stop_engine();
            }
            if busy {
                self.idle.reset();
            } else {
                self.idle.idle();
            }
        }
        let now_ns = wall_clock_ns();
        let udp = &self.feed.udp;
        let metrics = &self.state.metrics;
        self.feed.publisher.flush(now_ns, &mut |packet: &[u8]| {
            send_feed_packet(udp, metrics, packet)
        });
        // Give the session layer one last turn to send what is queued before the process goes.
        let _ = self
            .gateway
            .poll(std::time::Duration::from_millis(10), |_| {});
    }

    /// Stopping, the engine done, and `count` events still in the ring whose ack watermark has not risen for
    /// `RELEASE_WAIT_AT_STOP`: their commands were journaled but never committed (or made durable), so they were
    /// never acknowledged and are not now. Without this a stop would wait forever for a cluster or a disk that no
    /// longer answers; a restart rebuilds every session's replies from the journal.
    #[cold]
    fn withhold_at_stop(&mut self, count: u64) {
        let first_seq = self.from_engine.peek(0).map_or(0, |item| item.seq);
        self.from_engine.release(count);
        metrics::add(&self.state.metrics.gateway.events_withheld_at_stop, count);
        eprintln!(
            "crossline: stopping with {count} engine events from seq {first_seq} never released: their commands \
             were not {} within {} s, so none of them was acknowledged",
            match self.ack.policy {
                AckPolicy::Replicated => "committed by the cluster (ack = replicated)",
                _ => "made durable (ack = durable)",
            },
            RELEASE_WAIT_AT_STOP.as_secs(),
        );
    }

    /// Promotion opens order entry and the feed; stepping down closes every session and releases nothing more
    /// (the process restarts as a standby).
    #[inline]
    fn follow_role(&mut self) {
        let role = self.lifecycle.role.get();
        if self.serving == (role == Role::Leader) || role == Role::Standby {
            return;
        }
        if role == Role::Leader {
            self.serving = true;
            self.gateway.set_serving(true);
            self.open_feed();
        } else {
            self.serving = false;
            self.gateway.set_serving(false);
            self.state.accepting = false;
            for slot in &self.state.users {
                if let Some(conn) = slot.conn {
                    self.state.to_close.push((conn, CLOSE_SHUTDOWN));
                }
            }
            self.close_pending();
        }
    }

    fn begin_shutdown(&mut self) {
        self.state.accepting = false;
        for slot in &self.state.users {
            if let Some(conn) = slot.conn {
                self.state.to_close.push((conn, CLOSE_SHUTDOWN));
            }
        }
    }

    /// One loop iteration; true when it did something.
    fn iterate(&mut self) -> bool {
        self.state.now_ns = wall_clock_ns();
        let before_in = metrics::get(&self.state.metrics.gateway.messages_in);
        let mut wait = self.idle.wait_budget();
        // A wait ends early when the engine publishes (it writes the wake-up eventfd only after this announcement),
        // so replies do not sit in the ring for the rest of the wait.
        let announced = !wait.is_zero();
        if announced {
            self.lifecycle.gateway_wakeup.announce_wait();
            if self.from_engine.available() > 0 {
                wait = std::time::Duration::ZERO;
            }
        }
        let state = &mut self.state;
        state.clock_before_wait = !wait.is_zero();
        let _ = self
            .gateway
            .poll(wait, |event| state.on_session_event(event));
        state.clock_before_wait = false;
        if announced {
            self.lifecycle.gateway_wakeup.done_waiting();
        }
        // The poll above submitted the replies the previous iteration encoded; the feed's datagrams for the same
        // events go out after them, so that no reply waits behind a send to the feed.
        self.publish_feed();
        self.close_pending();
        self.state.flush_to_engine();
        let engine_worked = self.step_engine();
        let outbound = self.drain_outbound();
        self.close_pending();
        engine_worked
            || outbound > 0
            || metrics::get(&self.state.metrics.gateway.messages_in) != before_in
    }

    /// Sends the MoldUDP64 packet built so far (or a heartbeat when the feed has been quiet) and answers
    /// retransmission requests.
    #[inline]
    fn publish_feed(&mut self) {
        let now_ns = wall_clock_ns();
        let udp = &self.feed.udp;
        let metrics = &self.state.metrics;
        let mut send = |packet: &[u8]| send_feed_packet(udp, metrics, packet);
        self.feed.publisher.flush(now_ns, &mut send);
        self.feed.publisher.poll_heartbeat(now_ns, &mut send);
        if let Some(server) = self.feed.retransmit.as_mut() {
            if now_ns >= self.feed.retransmit_due_ns {
                self.feed.retransmit_due_ns = now_ns.saturating_add(RETRANSMIT_POLL_INTERVAL_NS);
                let _ = server.poll(&self.feed.publisher, 16);
            }
        }
    }

    /// Runs the engine when it lives in this loop: batches until its rings are empty. True when it did something.
    #[inline]
    fn step_engine(&mut self) -> bool {
        let Some(mut engine) = self.engine.take() else {
            return false;
        };
        let mut worked = false;
        loop {
            // A full outbound ring is drained here, in the middle of the engine's batch: the engine never waits
            // for this loop, which is waiting for it.
            let step = engine.step(&mut || {
                self.drain_outbound();
            });
            match step {
                Step::Worked => worked = true,
                Step::Idle => break,
                Step::Done => {
                    self.finish_engine(engine);
                    return true;
                }
            }
        }
        self.engine = Some(engine);
        worked
    }

    /// The engine in this loop has stopped (drained after the stop, or its journal failed): its journal is closed
    /// and the shutdown handshake goes on as if its thread had ended.
    #[cold]
    fn finish_engine(&mut self, engine: Box<EngineStage>) {
        let _ = engine.finish();
        self.lifecycle.engine_done.store(true, Ordering::Release);
    }

    fn close_pending(&mut self) {
        while let Some((conn, code)) = self.state.to_close.pop() {
            self.gateway.close(conn, CloseReason::Application { code });
        }
    }

    /// Releases matcher events up to the ack watermark: replies to sessions, book changes to the feed.
    fn drain_outbound(&mut self) -> u64 {
        if self.lifecycle.role.get() == Role::SteppingDown {
            // A deposed leader's events may never be committed: none is released.
            return 0;
        }
        let released = self.ack.released_seq();
        let available = self.from_engine.available().min(OUTBOUND_BATCH_MAX);
        if available > 0 {
            // The replies' clock (their latency metric): the engine may have run in this very iteration, after
            // its clock was read.
            self.state.now_ns = wall_clock_ns();
        }
        let mut handled = 0;
        while handled < available {
            let Some(item) = self.from_engine.peek(handled) else {
                break;
            };
            if item.seq > released {
                self.ack.waiting();
                break;
            }
            self.on_outbound(&item);
            handled += 1;
        }
        if handled > 0 {
            self.from_engine.release(handled);
        }
        handled
    }

    fn on_outbound(&mut self, item: &OutboundEvent) {
        if !self.serving {
            // A standby keeps every session's outbound stream; the feed is the leader's.
            self.restore_event(&item.event, since_midnight_ns(item.timestamp_ns));
            return;
        }
        let timestamp_ns = since_midnight_ns(item.timestamp_ns);
        if let Event::InstrumentAdded { instrument, symbol } = item.event {
            self.state.instruments.add(instrument, symbol);
        }
        if self.publish_reply(&item.event, timestamp_ns, item.received_ns) {
            return;
        }
        let encoder = FeedEncoder::new(&self.state.instruments);
        if let Ok(Some(message)) = encoder.encode_event(&item.event, timestamp_ns) {
            let udp = &self.feed.udp;
            let metrics = &self.state.metrics;
            metrics::bump(&metrics.gateway.feed_messages);
            let published =
                self.feed
                    .publisher
                    .publish(&message, item.timestamp_ns, &mut |packet: &[u8]| {
                        send_feed_packet(udp, metrics, packet)
                    });
            if let Ok(sequence) = published {
                // feed-tcp
                feed_stage::push(&mut self.feed.tcp, metrics, sequence, &message);
            }
        }
    }

    /// Publishes the OUCH message an event makes, if any; true when the event was an order-entry reply.
    fn publish_reply(&mut self, event: &Event, timestamp_ns: u64, received_ns: u64) -> bool {
        let message = match translate_event(event, &self.state.instruments, timestamp_ns) {
            Ok(Some(message)) => message,
            Ok(None) => return false,
            Err(_) => {
                metrics::bump(&self.state.metrics.gateway.reply_translate_errors);
                return true;
            }
        };
        if message.session == 0 {
            return true;
        }
        let user = UserId(message.session - 1);
        let Ok(len) = message.message.encode(&mut self.encode_buffer) else {
            metrics::bump(&self.state.metrics.gateway.reply_translate_errors);
            return true;
        };
        let state = &mut self.state;
        if self
            .gateway
            .publish(user, &self.encode_buffer[..len], |event| {
                state.on_session_event(event)
            })
            .is_ok()
        {
            metrics::bump(&state.metrics.gateway.replies_out);
        }
        if received_ns != 0 {
            state
                .metrics
                .gateway
                .reply_latency
                .record(state.now_ns.saturating_sub(received_ns));
        }
        true
    }
}

/// Bytes of the buffer outbound OUCH messages are encoded into.
pub fn encode_buffer() -> Box<[u8]> {
    vec![0; ENCODE_BUFFER_BYTES].into_boxed_slice()
}
