//! The ITCH stream over SoupBinTCP 4.0 for TCP subscribers, and the snapshot service for late joiners.
//!
//! `FeedServer` owns two reactors (one listening port each), a bounded store of the last messages and a
//! `BookBuilder` that it keeps current by applying every message it publishes. It is single-threaded: the feed
//! thread calls `publish` for each ITCH message (with the MoldUDP64 sequence number it got) and `poll` in its
//! loop. No clock of its own beyond `poll`'s: time is read once per event and per `poll`.
//!
//! Stream port: a subscriber logs in (username and password checked against the order-entry `Users`), asking
//! for sequence number 0 (live: from the next message) or N (replay from N if the store still holds it, then
//! live); older than the store is Login Rejected `S` with a Debug packet saying to take a snapshot. Each ITCH
//! message is one Sequenced Data packet. Server Heartbeats go out after `heartbeat_interval_ms` without data;
//! a subscriber that sends nothing for `client_timeout_ms` (or does not log in within `login_timeout_ms`) is
//! closed. A subscriber is sent what fits its send queue and the rest follows as the queue drains; one that falls
//! more than `max_backlog_messages` behind (or behind the store) is disconnected as a slow subscriber. Garbage
//! (a broken frame, a packet not allowed in the state) gets a Debug packet and a close.
//!
//! Snapshot port: after the same login the subscriber gets the snapshot (see `snapshot`) and End of Session,
//! and the connection is closed once it has all been handed to the kernel.
//!
//! A sequence gap in what `publish` is given (a message that never came) makes the server stale for good: the
//! stream would skip messages and the book would be wrong. Every subscriber is sent a Debug packet with the
//! reason and closed, and later logins are refused with `S`.

use super::book::{BookBuilder, BookError};
use super::publisher::MAX_STORED_MESSAGE_BYTES;
use super::snapshot::{snapshot_frames, Reference};
use crate::itch::{ItchError, Message};
use crate::reactor::{Backend, ConnId, Connections, Event, Reactor, ReactorConfig, ReactorError};
use crate::session::{Transport, Users};
use crate::soupbin::{
    packet_type, FrameDecoder, LoginAccepted, LoginRejectReason, LoginRequest, Packet, SessionId,
    SoupError,
};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;

const NS_PER_MS: u64 = 1_000_000;
/// How long a connection's last packets may take to reach the kernel before it is closed anyway.
const LINGER_NS: u64 = 2_000 * NS_PER_MS;

/// Settings of the TCP feed. Every limit is a hard bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedServerConfig {
    /// The SoupBinTCP stream of ITCH messages; `None`: off.
    pub tcp_listen: Option<SocketAddr>,
    /// The snapshot service; `None`: off.
    pub snapshot_listen: Option<SocketAddr>,
    pub backend: Backend,
    /// The SoupBinTCP session id both ports announce (a Login Request must name it or leave it blank).
    pub session: SessionId,
    /// The sequence number of the first message `publish` will be given (1 for a fresh feed).
    pub first_sequence_number: u64,
    /// Recent messages held for replay.
    pub store_messages: usize,
    /// A stream subscriber this many messages behind the newest is disconnected (at most `store_messages`).
    pub max_backlog_messages: usize,
    /// Stream subscribers connected at once; one more is refused at accept.
    pub max_subscribers: usize,
    /// Snapshot subscribers connected at once.
    pub max_snapshot_subscribers: usize,
    /// Bytes a connection may have queued and unsent.
    pub send_queue_bytes: usize,
    /// SO_SNDBUF of accepted sockets, or the kernel's default.
    pub socket_send_buffer_bytes: Option<usize>,
    /// Largest inbound frame, length field included (a Login Request is 49 bytes).
    pub max_inbound_frame_bytes: usize,
    pub login_timeout_ms: u64,
    pub heartbeat_interval_ms: u64,
    pub client_timeout_ms: u64,
}

impl Default for FeedServerConfig {
    fn default() -> Self {
        FeedServerConfig {
            tcp_listen: None,
            snapshot_listen: None,
            backend: Backend::Auto,
            session: SessionId::new("1"),
            first_sequence_number: 1,
            store_messages: 65_536,
            max_backlog_messages: 65_536,
            max_subscribers: 64,
            max_snapshot_subscribers: 16,
            send_queue_bytes: 1024 * 1024,
            socket_send_buffer_bytes: None,
            max_inbound_frame_bytes: 256,
            login_timeout_ms: 5_000,
            heartbeat_interval_ms: 1_000,
            client_timeout_ms: 15_000,
        }
    }
}

/// Why the feed server could not start.
#[derive(Debug, Error)]
pub enum FeedServerError {
    #[error("feed server settings: {0}")]
    Config(&'static str),
    #[error("feed TCP stream: {0}")]
    Stream(#[source] ReactorError),
    #[error("feed snapshot service: {0}")]
    Snapshot(#[source] ReactorError),
}

impl FeedServerConfig {
    pub fn validate(&self) -> Result<(), &'static str> {
        if self.first_sequence_number == 0 {
            return Err("first_sequence_number must be at least 1");
        }
        if self.store_messages == 0 || self.store_messages > (1 << 24) {
            return Err("store_messages must be in 1..=16777216");
        }
        if self.max_backlog_messages == 0 {
            return Err("max_backlog_messages must be positive");
        }
        if !(49..=65_537).contains(&self.max_inbound_frame_bytes) {
            return Err("max_inbound_frame_bytes must be in 49..=65537");
        }
        if self.send_queue_bytes < 64 {
            return Err("send_queue_bytes must be at least 64");
        }
        if self.login_timeout_ms == 0 || self.heartbeat_interval_ms == 0 {
            return Err("login_timeout_ms and heartbeat_interval_ms must be positive");
        }
        if self.client_timeout_ms <= self.heartbeat_interval_ms {
            return Err("client_timeout_ms must exceed heartbeat_interval_ms");
        }
        Ok(())
    }
}

/// Why `publish` did not take a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PublishError {
    #[error("the feed is stale: {0}")]
    Stale(StaleReason),
    #[error(
        "a {message_bytes}-byte message does not fit the store (1..={MAX_STORED_MESSAGE_BYTES})"
    )]
    BadSize { message_bytes: usize },
}

/// Why the server stopped serving.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum StaleReason {
    #[error("sequence gap: expected message {expected}, got {got}")]
    Gap { expected: u64, got: u64 },
    #[error("message {sequence} could not be stored ({message_bytes} bytes)")]
    Unstorable { sequence: u64, message_bytes: usize },
}

/// Why a subscriber was disconnected (the reactor's application close code is `code()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedCloseReason {
    LoginTimeout,
    ClientTimeout,
    Logout,
    NotAuthorized,
    SessionNotAvailable,
    ReplayTooOld,
    SlowSubscriber,
    Framing,
    Protocol,
    EndOfSession,
    Stale,
    SnapshotDone,
}

impl FeedCloseReason {
    pub fn code(self) -> u16 {
        200 + self as u16
    }
}

/// Counters, for the caller's metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedStats {
    pub logins_accepted: u64,
    pub logins_rejected: u64,
    pub snapshots_served: u64,
    pub slow_disconnects: u64,
    pub protocol_disconnects: u64,
    pub stream_subscribers: u64,
    pub snapshot_subscribers: u64,
}

/// The bounded store of recent messages: fixed 64-byte slots, slot of sequence s is `s % capacity`.
#[derive(Debug)]
struct MessageStore {
    bytes: Box<[u8]>,
    lengths: Box<[u8]>,
    next: u64,
    held: u64,
}

impl MessageStore {
    fn new(capacity: usize, first_sequence_number: u64) -> MessageStore {
        MessageStore {
            bytes: vec![0; capacity * MAX_STORED_MESSAGE_BYTES].into_boxed_slice(),
            lengths: vec![0; capacity].into_boxed_slice(),
            next: first_sequence_number,
            held: 0,
        }
    }

    fn capacity(&self) -> u64 {
        self.lengths.len() as u64
    }

    fn oldest(&self) -> u64 {
        self.next - self.held
    }

    fn push(&mut self, message: &[u8]) {
        let index = (self.next % self.capacity()) as usize;
        let start = index * MAX_STORED_MESSAGE_BYTES;
        if let Some(slot) = self.bytes.get_mut(start..start + message.len()) {
            slot.copy_from_slice(message);
        }
        if let Some(length) = self.lengths.get_mut(index) {
            // Checked by `publish`: 1..=64 bytes.
            *length = message.len() as u8;
        }
        self.next += 1;
        self.held = (self.held + 1).min(self.capacity());
    }

    fn get(&self, sequence: u64) -> Option<&[u8]> {
        if sequence < self.oldest() || sequence >= self.next {
            return None;
        }
        let index = (sequence % self.capacity()) as usize;
        let length = usize::from(*self.lengths.get(index)?);
        let start = index * MAX_STORED_MESSAGE_BYTES;
        self.bytes.get(start..start + length)
    }
}

/// What both services share: the store, the book and the rules.
struct Shared {
    config: FeedServerConfig,
    users: Arc<Users>,
    store: MessageStore,
    book: BookBuilder,
    reference: Reference,
    /// The book could not apply a message: snapshots would be wrong, so they are refused.
    book_error: Option<BookError>,
    stale: Option<StaleReason>,
    stats: FeedStats,
    epoch: Instant,
    now_ns: u64,
}

impl Shared {
    fn clock(&mut self) -> u64 {
        self.now_ns = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.now_ns
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Stream,
    Snapshot,
}

enum Phase {
    Free,
    AwaitingLogin,
    Streaming {
        cursor: u64,
    },
    Snapshot {
        frames: Vec<u8>,
        offset: usize,
    },
    /// Its last packets are queued: closed once the kernel has them all (or at the linger timeout), so that a
    /// send still in flight does not make the reactor drop them.
    Lingering {
        reason: FeedCloseReason,
        since_ns: u64,
    },
    Closing,
}

struct Sub {
    id: Option<ConnId>,
    decoder: FrameDecoder,
    phase: Phase,
    accepted_ns: u64,
    last_recv_ns: u64,
    last_sent_ns: u64,
}

/// A client packet, copied out of the receive buffer.
enum ClientPacket {
    Login(LoginRequest),
    Heartbeat,
    Logout,
    Debug,
    Other,
}

/// One listening port's connections.
struct Subs {
    kind: Kind,
    slots: Vec<Sub>,
    /// Logged-in connections.
    active: Vec<ConnId>,
}

struct Service {
    reactor: Reactor,
    subs: Subs,
}

/// The SoupBinTCP ITCH stream and the snapshot service. See the module documentation.
pub struct FeedServer {
    shared: Shared,
    stream: Option<Service>,
    snapshot: Option<Service>,
}

impl FeedServer {
    /// Binds the configured ports and allocates the store, connection tables and receive buffers.
    pub fn bind(
        config: FeedServerConfig,
        users: Arc<Users>,
    ) -> Result<FeedServer, FeedServerError> {
        config.validate().map_err(FeedServerError::Config)?;
        let config = FeedServerConfig {
            max_backlog_messages: config.max_backlog_messages.min(config.store_messages),
            ..config
        };
        let service = |addr: SocketAddr, kind: Kind, max: usize| -> Result<Service, ReactorError> {
            let reactor = Reactor::bind(
                addr,
                ReactorConfig {
                    backend: config.backend,
                    max_connections: max,
                    recv_buffer_bytes: 4096,
                    recv_buffers: 64,
                    send_queue_bytes_max: config.send_queue_bytes,
                    socket_send_buffer_bytes: config.socket_send_buffer_bytes,
                    ring_entries: 256,
                    ..ReactorConfig::default()
                },
            )?;
            let slots = (0..max)
                .map(|_| Sub {
                    id: None,
                    decoder: FrameDecoder::new(config.max_inbound_frame_bytes, 1024),
                    phase: Phase::Free,
                    accepted_ns: 0,
                    last_recv_ns: 0,
                    last_sent_ns: 0,
                })
                .collect();
            Ok(Service {
                reactor,
                subs: Subs {
                    kind,
                    slots,
                    active: Vec::with_capacity(max),
                },
            })
        };
        let stream = config
            .tcp_listen
            .map(|addr| service(addr, Kind::Stream, config.max_subscribers))
            .transpose()
            .map_err(FeedServerError::Stream)?;
        let snapshot = config
            .snapshot_listen
            .map(|addr| service(addr, Kind::Snapshot, config.max_snapshot_subscribers))
            .transpose()
            .map_err(FeedServerError::Snapshot)?;
        Ok(FeedServer {
            shared: Shared {
                config,
                users,
                store: MessageStore::new(config.store_messages, config.first_sequence_number),
                book: BookBuilder::new(config.first_sequence_number),
                reference: Reference::default(),
                book_error: None,
                stale: None,
                stats: FeedStats::default(),
                epoch: Instant::now(),
                now_ns: 0,
            },
            stream,
            snapshot,
        })
    }

    /// The stream port's bound address.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.stream
            .as_ref()
            .and_then(|s| s.reactor.local_addr().ok())
    }

    /// The snapshot port's bound address.
    pub fn snapshot_addr(&self) -> Option<SocketAddr> {
        self.snapshot
            .as_ref()
            .and_then(|s| s.reactor.local_addr().ok())
    }

    /// Why the backend fell back to epoll, if it did.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.stream
            .as_ref()
            .or(self.snapshot.as_ref())
            .and_then(|s| s.reactor.fallback_reason())
    }

    /// The book as the published messages build it.
    pub fn book(&self) -> &BookBuilder {
        &self.shared.book
    }

    /// The sequence number the next published message must have.
    pub fn next_sequence_number(&self) -> u64 {
        self.shared.store.next
    }

    /// The oldest sequence number a subscriber can ask to replay from.
    pub fn oldest_held(&self) -> u64 {
        self.shared.store.oldest()
    }

    /// Why the server stopped serving, if it did.
    pub fn stale_reason(&self) -> Option<StaleReason> {
        self.shared.stale
    }

    /// Why snapshots are refused (the book could not apply a message), if they are.
    pub fn book_error(&self) -> Option<BookError> {
        self.shared.book_error
    }

    pub fn stats(&self) -> FeedStats {
        let mut stats = self.shared.stats;
        stats.stream_subscribers = self.stream.as_ref().map_or(0, |s| s.subs.active.len()) as u64;
        stats.snapshot_subscribers =
            self.snapshot.as_ref().map_or(0, |s| s.subs.active.len()) as u64;
        stats
    }

    /// Takes the ITCH message with `sequence` (the MoldUDP64 sequence number) in `message_bytes`: stores it,
    /// applies it to the book and queues it to every live subscriber. A sequence number below the next expected
    /// is a duplicate and ignored; above it is a gap, which makes the server stale.
    pub fn publish(&mut self, sequence: u64, message_bytes: &[u8]) -> Result<(), PublishError> {
        if let Some(reason) = self.shared.stale {
            return Err(PublishError::Stale(reason));
        }
        let expected = self.shared.store.next;
        if sequence < expected {
            return Ok(());
        }
        if sequence > expected {
            self.go_stale(StaleReason::Gap {
                expected,
                got: sequence,
            });
            return Err(PublishError::Stale(StaleReason::Gap {
                expected,
                got: sequence,
            }));
        }
        if message_bytes.is_empty() || message_bytes.len() > MAX_STORED_MESSAGE_BYTES {
            self.go_stale(StaleReason::Unstorable {
                sequence,
                message_bytes: message_bytes.len(),
            });
            return Err(PublishError::BadSize {
                message_bytes: message_bytes.len(),
            });
        }
        self.shared.store.push(message_bytes);
        match Message::decode(message_bytes) {
            Ok(message) => {
                self.shared.reference.observe(&message);
                if self.shared.book_error.is_none() {
                    if let Err(error) = self.shared.book.apply(&message) {
                        self.shared.book_error = Some(error);
                    }
                }
            }
            // Types this codec does not read carry nothing a book needs; they still go on the stream.
            Err(ItchError::UnknownType { .. }) => {}
            Err(error) => {
                if self.shared.book_error.is_none() {
                    self.shared.book_error = Some(BookError::Itch(error));
                }
            }
        }
        if let Some(service) = self.stream.as_mut() {
            let Service { reactor, subs } = service;
            subs.pump_all(&mut self.shared, reactor);
        }
        Ok(())
    }

    /// One loop iteration: waits up to `timeout` for I/O on the stream port (the snapshot port is polled without
    /// waiting), handles logins and client packets, sends what fits, runs heartbeats and timeouts.
    pub fn poll(&mut self, timeout: Duration) -> Result<(), ReactorError> {
        let mut timeout = timeout;
        for service in [self.stream.as_mut(), self.snapshot.as_mut()]
            .into_iter()
            .flatten()
        {
            let Service { reactor, subs } = service;
            let shared = &mut self.shared;
            reactor.poll(timeout, |conns, event| subs.on_event(shared, conns, event))?;
            timeout = Duration::ZERO;
            shared.clock();
            subs.tick(shared, reactor);
        }
        if self.stream.is_none() && self.snapshot.is_none() {
            std::thread::sleep(timeout);
        }
        Ok(())
    }

    /// Sends End of Session to every subscriber and closes every connection once it has gone out (shutdown):
    /// keep calling `poll` until `open_connections` is 0 (each is closed within two seconds at most).
    pub fn end_session(&mut self) {
        for service in [self.stream.as_mut(), self.snapshot.as_mut()]
            .into_iter()
            .flatten()
        {
            let Service { reactor, subs } = service;
            subs.close_all(
                &self.shared,
                reactor,
                Some(&[0, 1, packet_type::END_OF_SESSION]),
                FeedCloseReason::EndOfSession,
            );
        }
    }

    /// Connections accepted and not yet closed, on both ports.
    pub fn open_connections(&self) -> usize {
        [self.stream.as_ref(), self.snapshot.as_ref()]
            .into_iter()
            .flatten()
            .map(|s| s.subs.open())
            .sum()
    }

    fn go_stale(&mut self, reason: StaleReason) {
        self.shared.stale = Some(reason);
        let mut text = [0u8; 128];
        let text = debug_text(&mut text, format_args!("closing: feed stale: {reason}"));
        let mut packet = [0u8; 160];
        let len = Packet::Debug(text).encode(&mut packet).unwrap_or(0);
        for service in [self.stream.as_mut(), self.snapshot.as_mut()]
            .into_iter()
            .flatten()
        {
            let Service { reactor, subs } = service;
            subs.close_all(
                &self.shared,
                reactor,
                packet.get(..len).filter(|p| !p.is_empty()),
                FeedCloseReason::Stale,
            );
        }
    }
}

/// Formats into a fixed buffer (truncating), for Debug packets.
fn debug_text<'a>(buffer: &'a mut [u8], args: std::fmt::Arguments<'_>) -> &'a [u8] {
    use std::io::Write;
    let mut cursor = io::Cursor::new(&mut *buffer);
    let _ = cursor.write_fmt(args);
    let len = cursor.position() as usize;
    buffer.get(..len).unwrap_or_default()
}

impl Subs {
    fn slot(&mut self, conn: ConnId) -> Option<&mut Sub> {
        self.slots
            .get_mut(conn.slot())
            .filter(|sub| sub.id == Some(conn))
    }

    fn on_event(&mut self, shared: &mut Shared, conns: &mut Connections, event: Event<'_>) {
        let now_ns = shared.clock();
        match event {
            Event::Accepted(conn, _) => {
                let Some(sub) = self.slots.get_mut(conn.slot()) else {
                    conns.close(
                        conn,
                        crate::reactor::CloseReason::Application {
                            code: FeedCloseReason::Protocol.code(),
                        },
                    );
                    return;
                };
                sub.id = Some(conn);
                sub.decoder.clear();
                sub.phase = Phase::AwaitingLogin;
                sub.accepted_ns = now_ns;
                sub.last_recv_ns = now_ns;
                sub.last_sent_ns = now_ns;
            }
            Event::Data(conn, bytes) => self.on_data(shared, conns, conn, bytes),
            Event::Closed(conn, _) => {
                if let Some(sub) = self.slot(conn) {
                    sub.id = None;
                    sub.phase = Phase::Free;
                    sub.decoder.clear();
                }
                self.active.retain(|&c| c != conn);
            }
            Event::Refused(..) => {}
        }
    }

    fn on_data(
        &mut self,
        shared: &mut Shared,
        io: &mut impl Transport,
        conn: ConnId,
        bytes: &[u8],
    ) {
        let mut rest = bytes;
        loop {
            let Some(sub) = self.slot(conn) else { return };
            if matches!(
                sub.phase,
                Phase::Closing | Phase::Free | Phase::Lingering { .. }
            ) {
                return;
            }
            sub.last_recv_ns = shared.now_ns;
            let taken = sub.decoder.feed(rest);
            rest = rest.get(taken..).unwrap_or_default();
            loop {
                let Some(sub) = self.slot(conn) else { return };
                let packet = match sub.decoder.next_frame() {
                    Ok(None) => break,
                    Ok(Some(frame)) => match frame.packet() {
                        Ok(Packet::LoginRequest(login)) => ClientPacket::Login(login),
                        Ok(Packet::ClientHeartbeat) => ClientPacket::Heartbeat,
                        Ok(Packet::LogoutRequest) => ClientPacket::Logout,
                        Ok(Packet::Debug(_)) => ClientPacket::Debug,
                        Ok(_) => ClientPacket::Other,
                        Err(error) => {
                            self.refuse_garbage(shared, io, conn, error);
                            return;
                        }
                    },
                    Err(error) => {
                        self.refuse_garbage(shared, io, conn, error);
                        return;
                    }
                };
                if !self.on_packet(shared, io, conn, packet) {
                    return;
                }
            }
            if rest.is_empty() {
                return;
            }
            if taken == 0 {
                // The receive buffer is full of whole frames that were all handled: cannot happen, but never
                // loop on it.
                self.close(io, conn, FeedCloseReason::Protocol);
                return;
            }
        }
    }

    fn refuse_garbage(
        &mut self,
        shared: &mut Shared,
        io: &mut impl Transport,
        conn: ConnId,
        error: SoupError,
    ) {
        let text: &[u8] = match error {
            SoupError::ZeroLength => b"closing: zero packet length",
            SoupError::Oversize { .. } => b"closing: packet too long",
            SoupError::UnknownType { .. } => b"closing: unknown packet type",
            SoupError::BadLength { .. } => b"closing: bad packet length",
            _ => b"closing: malformed packet",
        };
        send_debug(io, conn, text);
        shared.stats.protocol_disconnects += 1;
        self.linger(shared, conn, FeedCloseReason::Framing);
    }

    /// Handles one client packet; false when the connection was closed.
    fn on_packet(
        &mut self,
        shared: &mut Shared,
        io: &mut impl Transport,
        conn: ConnId,
        packet: ClientPacket,
    ) -> bool {
        let awaiting = matches!(
            self.slot(conn).map(|s| &s.phase),
            Some(Phase::AwaitingLogin)
        );
        match packet {
            ClientPacket::Heartbeat | ClientPacket::Debug => true,
            ClientPacket::Logout => {
                self.close(io, conn, FeedCloseReason::Logout);
                false
            }
            ClientPacket::Login(login) if awaiting => self.on_login(shared, io, conn, &login),
            ClientPacket::Login(_) | ClientPacket::Other => {
                send_debug(io, conn, b"closing: packet not allowed in this state");
                shared.stats.protocol_disconnects += 1;
                self.linger(shared, conn, FeedCloseReason::Protocol);
                false
            }
        }
    }

    fn on_login(
        &mut self,
        shared: &mut Shared,
        io: &mut impl Transport,
        conn: ConnId,
        login: &LoginRequest,
    ) -> bool {
        // Argon2 verification inline: tens of milliseconds, on the feed's own thread.
        let verified = shared.users.verify(&login.username, &login.password);
        shared.clock();
        if verified.is_none() {
            return self.reject(shared, io, conn, LoginRejectReason::NotAuthorized, None);
        }
        let session = shared.config.session;
        if !login.requested_session.is_blank() && login.requested_session != session {
            return self.reject(
                shared,
                io,
                conn,
                LoginRejectReason::SessionNotAvailable,
                Some(b"requested session is not the current session"),
            );
        }
        if shared.stale.is_some() {
            return self.reject(
                shared,
                io,
                conn,
                LoginRejectReason::SessionNotAvailable,
                Some(b"the feed is stale (a sequence gap): not serving"),
            );
        }
        let now_ns = shared.now_ns;
        match self.kind {
            Kind::Stream => {
                let next = shared.store.next;
                let requested = login.requested_sequence_number;
                let cursor = if requested == 0 || requested > next {
                    next
                } else {
                    requested
                };
                if cursor < shared.store.oldest() {
                    let mut text = [0u8; 128];
                    let text = debug_text(
                        &mut text,
                        format_args!(
                            "sequence {cursor} is older than the oldest held, {}: take a snapshot",
                            shared.store.oldest()
                        ),
                    );
                    return self.reject(
                        shared,
                        io,
                        conn,
                        LoginRejectReason::SessionNotAvailable,
                        Some(text),
                    );
                }
                if !send_packet(
                    io,
                    conn,
                    &Packet::LoginAccepted(LoginAccepted {
                        session,
                        sequence_number: cursor,
                    }),
                ) {
                    return false;
                }
                let Some(sub) = self.slot(conn) else {
                    return false;
                };
                sub.phase = Phase::Streaming { cursor };
                sub.last_sent_ns = now_ns;
                self.active.push(conn);
                shared.stats.logins_accepted += 1;
                self.pump(shared, io, conn);
            }
            Kind::Snapshot => {
                if shared.book_error.is_some() {
                    return self.reject(
                        shared,
                        io,
                        conn,
                        LoginRejectReason::SessionNotAvailable,
                        Some(b"the feed's book is inconsistent: no snapshots"),
                    );
                }
                if !send_packet(
                    io,
                    conn,
                    &Packet::LoginAccepted(LoginAccepted {
                        session,
                        sequence_number: 1,
                    }),
                ) {
                    return false;
                }
                let frames =
                    snapshot_frames(&shared.book, &shared.reference, shared.store.next - 1);
                let Some(sub) = self.slot(conn) else {
                    return false;
                };
                sub.phase = Phase::Snapshot { frames, offset: 0 };
                sub.last_sent_ns = now_ns;
                self.active.push(conn);
                shared.stats.logins_accepted += 1;
                shared.stats.snapshots_served += 1;
                self.pump(shared, io, conn);
            }
        }
        true
    }

    fn reject(
        &mut self,
        shared: &mut Shared,
        io: &mut impl Transport,
        conn: ConnId,
        reason: LoginRejectReason,
        text: Option<&[u8]>,
    ) -> bool {
        if let Some(text) = text {
            send_debug(io, conn, text);
        }
        send_packet(io, conn, &Packet::LoginRejected(reason));
        shared.stats.logins_rejected += 1;
        let why = match reason {
            LoginRejectReason::NotAuthorized => FeedCloseReason::NotAuthorized,
            LoginRejectReason::SessionNotAvailable => FeedCloseReason::SessionNotAvailable,
        };
        self.linger(shared, conn, why);
        false
    }

    /// Closes `conn` once what is queued for it has gone to the kernel.
    fn linger(&mut self, shared: &Shared, conn: ConnId, reason: FeedCloseReason) {
        let since_ns = shared.now_ns;
        if let Some(sub) = self.slot(conn) {
            sub.phase = Phase::Lingering { reason, since_ns };
        }
        self.active.retain(|&c| c != conn);
    }

    fn close(&mut self, io: &mut impl Transport, conn: ConnId, reason: FeedCloseReason) {
        if let Some(sub) = self.slot(conn) {
            sub.phase = Phase::Closing;
        }
        self.active.retain(|&c| c != conn);
        io.close(conn, reason.code());
    }

    fn close_all(
        &mut self,
        shared: &Shared,
        io: &mut impl Transport,
        last: Option<&[u8]>,
        reason: FeedCloseReason,
    ) {
        for index in 0..self.slots.len() {
            let Some(sub) = self.slots.get(index) else {
                continue;
            };
            let Some(conn) = sub.id else { continue };
            if matches!(
                sub.phase,
                Phase::Closing | Phase::Free | Phase::Lingering { .. }
            ) {
                continue;
            }
            if let Some(last) = last {
                io.send(conn, last);
            }
            self.linger(shared, conn, reason);
        }
    }

    /// Connections not yet closed.
    fn open(&self) -> usize {
        self.slots.iter().filter(|sub| sub.id.is_some()).count()
    }

    /// Sends what fits of each logged-in subscriber's backlog.
    fn pump_all(&mut self, shared: &mut Shared, io: &mut impl Transport) {
        let mut index = 0;
        while let Some(&conn) = self.active.get(index) {
            self.pump(shared, io, conn);
            // A closed subscriber left `active`: the same index is the next one.
            if self.active.get(index) == Some(&conn) {
                index += 1;
            }
        }
    }

    fn pump(&mut self, shared: &mut Shared, io: &mut impl Transport, conn: ConnId) {
        let now_ns = shared.now_ns;
        let max_backlog = shared.config.max_backlog_messages as u64;
        let Some(sub) = self.slot(conn) else { return };
        match &mut sub.phase {
            Phase::Streaming { cursor } => {
                let store = &shared.store;
                if *cursor < store.oldest() || store.next - *cursor > max_backlog {
                    shared.stats.slow_disconnects += 1;
                    self.close(io, conn, FeedCloseReason::SlowSubscriber);
                    return;
                }
                let mut frame = [0u8; 3 + MAX_STORED_MESSAGE_BYTES];
                let mut free = io.free_send_bytes(conn);
                let mut sent = false;
                while *cursor < store.next {
                    let Some(message) = store.get(*cursor) else {
                        break;
                    };
                    let frame_bytes = 3 + message.len();
                    if free < frame_bytes {
                        break;
                    }
                    frame[..2].copy_from_slice(&((1 + message.len()) as u16).to_be_bytes());
                    frame[2] = packet_type::SEQUENCED_DATA;
                    frame[3..frame_bytes].copy_from_slice(message);
                    if !io.send(conn, &frame[..frame_bytes]) {
                        break;
                    }
                    free -= frame_bytes;
                    *cursor += 1;
                    sent = true;
                }
                if sent {
                    sub.last_sent_ns = now_ns;
                }
            }
            Phase::Snapshot { frames, offset } => {
                let free = io.free_send_bytes(conn);
                let remaining = frames.get(*offset..).unwrap_or_default();
                if !remaining.is_empty() {
                    let now = remaining.len().min(free);
                    if now > 0 && io.send(conn, &remaining[..now]) {
                        *offset += now;
                        sub.last_sent_ns = now_ns;
                    }
                    return;
                }
                // Everything is queued: close once the kernel has it all.
                sub.phase = Phase::Lingering {
                    reason: FeedCloseReason::SnapshotDone,
                    since_ns: now_ns,
                };
                self.active.retain(|&c| c != conn);
            }
            Phase::Free | Phase::AwaitingLogin | Phase::Lingering { .. } | Phase::Closing => {}
        }
    }

    /// Timers and backlog, once per poll.
    fn tick(&mut self, shared: &mut Shared, io: &mut impl Transport) {
        let now_ns = shared.now_ns;
        let login_timeout_ns = shared.config.login_timeout_ms * NS_PER_MS;
        let client_timeout_ns = shared.config.client_timeout_ms * NS_PER_MS;
        let heartbeat_ns = shared.config.heartbeat_interval_ms * NS_PER_MS;
        let queue_bytes = shared.config.send_queue_bytes;
        for index in 0..self.slots.len() {
            let Some(sub) = self.slots.get(index) else {
                continue;
            };
            let Some(conn) = sub.id else { continue };
            match sub.phase {
                Phase::AwaitingLogin => {
                    if now_ns.saturating_sub(sub.accepted_ns) >= login_timeout_ns {
                        self.close(io, conn, FeedCloseReason::LoginTimeout);
                    }
                }
                Phase::Streaming { .. } | Phase::Snapshot { .. } => {
                    if now_ns.saturating_sub(sub.last_recv_ns) >= client_timeout_ns {
                        self.close(io, conn, FeedCloseReason::ClientTimeout);
                        continue;
                    }
                    self.pump(shared, io, conn);
                    let Some(sub) = self.slot(conn) else { continue };
                    if matches!(sub.phase, Phase::Streaming { .. })
                        && now_ns.saturating_sub(sub.last_sent_ns) >= heartbeat_ns
                        && io.free_send_bytes(conn) >= 3
                        && send_packet(io, conn, &Packet::ServerHeartbeat)
                    {
                        if let Some(sub) = self.slot(conn) {
                            sub.last_sent_ns = now_ns;
                        }
                    }
                }
                Phase::Lingering { reason, since_ns } => {
                    if io.free_send_bytes(conn) >= queue_bytes
                        || now_ns.saturating_sub(since_ns) >= LINGER_NS
                    {
                        self.close(io, conn, reason);
                    }
                }
                Phase::Free | Phase::Closing => {}
            }
        }
    }
}

fn send_packet(io: &mut impl Transport, conn: ConnId, packet: &Packet<'_>) -> bool {
    let mut buffer = [0u8; 64];
    match packet.encode(&mut buffer) {
        Ok(len) => io.send(conn, buffer.get(..len).unwrap_or_default()),
        Err(_) => false,
    }
}

fn send_debug(io: &mut impl Transport, conn: ConnId, text: &[u8]) {
    let mut buffer = [0u8; 256];
    let text = text.get(..text.len().min(200)).unwrap_or_default();
    if let Ok(len) = Packet::Debug(text).encode(&mut buffer) {
        io.send(conn, buffer.get(..len).unwrap_or_default());
    }
}
