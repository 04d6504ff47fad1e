//! The SoupBinTCP server session state machine: logins, sequencing, replay, heartbeats and timeouts.

use super::store::{OutboundStore, StoreError};
use super::users::{UserId, Users};
use super::verifier::{Handoff, Verifier};
use super::{SessionCloseReason, SessionConfig, SessionConfigError, SessionEvent, Transport};
use crate::reactor::{CloseReason, ConnId};
use crate::soupbin::{
    FrameDecoder, LoginAccepted, LoginRejectReason, LoginRequest, Packet, SessionId,
    FRAME_HEADER_BYTES,
};
use std::sync::Arc;

const NS_PER_MS: u64 = 1_000_000;
/// Bytes of the scratch buffer replayed and live Sequenced Data packets are assembled in before one send.
const SCRATCH_BYTES_MIN: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkState {
    Free,
    /// Accepted; the first Login Request must arrive by `login_deadline_ns`.
    AwaitingLogin,
    /// Its Login Request is with the verifier thread; frames after it wait in the receive buffer.
    Verifying,
    /// Logged in as `user`; `cursor` is the sequence number of the next Sequenced Data packet it will be sent.
    LoggedIn {
        user: UserId,
        cursor: u64,
    },
    /// The manager closed it and reported why; the transport's close is still to come.
    Closed,
}

#[derive(Debug, Clone, Copy)]
struct Link {
    conn: Option<ConnId>,
    state: LinkState,
    login_deadline_ns: u64,
    last_inbound_ns: u64,
    last_outbound_ns: u64,
}

const FREE_LINK: Link = Link {
    conn: None,
    state: LinkState::Free,
    login_deadline_ns: 0,
    last_inbound_ns: 0,
    last_outbound_ns: 0,
};

struct Session {
    store: OutboundStore,
    /// The connection logged in to this session, at most one.
    conn: Option<ConnId>,
}

/// What one inbound frame asks the manager to do once the frame's borrow of the receive buffer has ended.
enum Action {
    NeedBytes,
    Continue,
    Login(LoginRequest),
    Close(SessionCloseReason),
}

/// Every SoupBinTCP server session of one gateway thread. Single-threaded: the reactor's thread owns it.
///
/// Connections are indexed by `ConnId::slot()` in a table of `max_sessions` entries allocated at start-up, each
/// with its own receive buffer; each configured user has one session (sequence numbers and an outbound store)
/// allocated at start-up too. After `new`, only logins allocate (password verification).
pub struct SessionManager {
    config: SessionConfig,
    users: Arc<Users>,
    /// Verifies passwords off this thread once `verify_off_thread` started it.
    verifier: Option<Verifier>,
    links: Box<[Link]>,
    decoders: Box<[FrameDecoder]>,
    sessions: Box<[Session]>,
    scratch: Box<[u8]>,
    /// Whether logins are taken: a standby answers every login with Login Rejected `S`.
    serving: bool,
}

impl SessionManager {
    pub fn new(config: SessionConfig, users: Users) -> Result<SessionManager, SessionConfigError> {
        config.validate()?;
        let decoders = (0..config.max_sessions)
            .map(|_| {
                FrameDecoder::new(
                    config.max_inbound_frame_bytes,
                    2 * config.max_inbound_frame_bytes,
                )
            })
            .collect();
        let sessions = (0..users.len())
            .map(|_| Session {
                store: OutboundStore::new(
                    config.store_bytes_per_session,
                    config.store_messages_per_session,
                ),
                conn: None,
            })
            .collect();
        let scratch_bytes =
            SCRATCH_BYTES_MIN.max(FRAME_HEADER_BYTES + config.max_outbound_message_bytes);
        Ok(SessionManager {
            links: vec![FREE_LINK; config.max_sessions].into_boxed_slice(),
            decoders,
            sessions,
            scratch: vec![0; scratch_bytes].into_boxed_slice(),
            config,
            users: Arc::new(users),
            verifier: None,
            serving: true,
        })
    }

    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Takes logins (`true`, the default) or answers each with Login Rejected `S` (a standby), before checking the
    /// password. Sessions already logged in are not touched: the caller closes them when it stops serving.
    pub fn set_serving(&mut self, serving: bool) {
        self.serving = serving;
    }

    pub fn serving(&self) -> bool {
        self.serving
    }

    /// The session id a login must name when not blank.
    pub fn session_id(&self) -> SessionId {
        self.config.session_id
    }

    /// Moves password verification to a thread of its own, so that a login (an Argon2 verification, tens of
    /// milliseconds) never stalls other sessions. Answers are picked up by `poll_verified`.
    pub fn verify_off_thread(&mut self) -> std::io::Result<()> {
        if self.verifier.is_none() {
            self.verifier = Some(Verifier::spawn(
                Arc::clone(&self.users),
                self.config.max_sessions,
            )?);
        }
        Ok(())
    }

    /// Completes the logins the verifier thread has answered; then handles any frames those clients sent after
    /// their Login Request.
    pub fn poll_verified<T, F>(&mut self, now_ns: u64, out: &mut T, on_event: &mut F)
    where
        T: Transport,
        F: FnMut(SessionEvent<'_>),
    {
        // Bounded: at most one verification is outstanding per connection slot.
        for _ in 0..self.links.len() {
            let Some(verified) = self.verifier.as_ref().and_then(Verifier::try_next) else {
                return;
            };
            let slot = verified.conn.slot();
            let current = self.links.get(slot).copied();
            let Some(link) = current else { continue };
            if link.conn != Some(verified.conn) || link.state != LinkState::Verifying {
                // Closed (timed out, or the peer left) while it was being verified.
                continue;
            }
            self.links[slot].state = LinkState::AwaitingLogin;
            self.finish_login(
                slot,
                verified.conn,
                verified.user,
                &verified.request,
                now_ns,
                out,
                on_event,
            );
            if self.active_slot(verified.conn).is_some() {
                self.on_data(verified.conn, &[], now_ns, out, on_event);
            }
        }
    }

    pub fn users(&self) -> &Users {
        &self.users
    }

    /// The connection logged in as `user`, if any.
    pub fn logged_in(&self, user: UserId) -> Option<ConnId> {
        self.sessions.get(user.index())?.conn
    }

    /// Sequence number the next message published to `user` will get.
    pub fn next_sequence(&self, user: UserId) -> Option<u64> {
        Some(self.sessions.get(user.index())?.store.next_sequence())
    }

    /// Restores `user`'s session to number its next message `next_sequence` (messages before it are not held
    /// and a login asking for them is refused as too old). For start-up from a snapshot, before any login.
    pub fn start_sequence_at(
        &mut self,
        user: UserId,
        next_sequence: u64,
    ) -> Result<(), StoreError> {
        let session = self
            .sessions
            .get_mut(user.index())
            .ok_or(StoreError::UnknownSession)?;
        session.store.start_at(next_sequence);
        Ok(())
    }

    /// Connections accepted and not yet closed (awaiting login or logged in).
    pub fn active_connections(&self) -> usize {
        self.links
            .iter()
            .filter(|link| {
                matches!(
                    link.state,
                    LinkState::AwaitingLogin | LinkState::LoggedIn { .. }
                )
            })
            .count()
    }

    /// A new connection: it has `login_timeout_ms` to log in. A slot beyond `max_sessions` is closed at once.
    pub fn on_accepted<T: Transport>(&mut self, conn: ConnId, now_ns: u64, out: &mut T) {
        let Some(link) = self.links.get_mut(conn.slot()) else {
            out.close(conn, SessionCloseReason::TableFull.code());
            return;
        };
        *link = Link {
            conn: Some(conn),
            state: LinkState::AwaitingLogin,
            login_deadline_ns: now_ns
                .saturating_add(self.config.login_timeout_ms.saturating_mul(NS_PER_MS)),
            last_inbound_ns: now_ns,
            last_outbound_ns: now_ns,
        };
        self.decoders[conn.slot()].clear();
    }

    /// Bytes received on `conn`: every whole packet in them is handled, Unsequenced Data reaching `on_event` as
    /// borrowed OUCH bytes.
    pub fn on_data<T, F>(
        &mut self,
        conn: ConnId,
        bytes: &[u8],
        now_ns: u64,
        out: &mut T,
        on_event: &mut F,
    ) where
        T: Transport,
        F: FnMut(SessionEvent<'_>),
    {
        let Some(slot) = self.active_slot(conn) else {
            return;
        };
        self.links[slot].last_inbound_ns = now_ns;
        let mut rest = bytes;
        // Bounded: every round either takes input bytes or closes the connection, and the inner loop drains the
        // frames the receive buffer holds.
        loop {
            let taken = self.decoders[slot].feed(rest);
            rest = rest.get(taken..).unwrap_or_default();
            loop {
                match self.next_action(slot, conn, on_event) {
                    Action::NeedBytes => break,
                    Action::Continue => {}
                    Action::Login(request) => {
                        self.login(slot, conn, &request, now_ns, out, on_event)
                    }
                    Action::Close(reason) => {
                        if let SessionCloseReason::FramingError(_)
                        | SessionCloseReason::ProtocolError { .. } = reason
                        {
                            self.send_packet(
                                slot,
                                &Packet::Debug(reason.debug_text()),
                                now_ns,
                                out,
                            );
                        }
                        self.close_link(slot, reason, out, on_event);
                    }
                }
                if self.active_slot(conn).is_none() {
                    return;
                }
            }
            if rest.is_empty() {
                return;
            }
            if taken == 0 {
                // Unreachable: a drained buffer always has room for a frame. Kept so the loop is provably bounded.
                self.close_link(
                    slot,
                    SessionCloseReason::ProtocolError { packet_type: 0 },
                    out,
                    on_event,
                );
                return;
            }
        }
    }

    /// The transport closed `conn` (the peer left, an I/O error, a slow consumer, or after the manager's own
    /// close). A connection the manager had not closed is reported with the transport's reason.
    pub fn on_closed<F>(&mut self, conn: ConnId, reason: CloseReason, on_event: &mut F)
    where
        F: FnMut(SessionEvent<'_>),
    {
        let Some(link) = self.links.get_mut(conn.slot()) else {
            return;
        };
        if link.conn != Some(conn) {
            return;
        }
        let state = link.state;
        *link = FREE_LINK;
        let user = match state {
            LinkState::Free | LinkState::Closed => return,
            LinkState::AwaitingLogin | LinkState::Verifying => None,
            LinkState::LoggedIn { user, .. } => {
                self.release_session(user, conn);
                Some(user)
            }
        };
        on_event(SessionEvent::Closed {
            conn,
            user,
            reason: SessionCloseReason::Transport(reason),
        });
    }

    /// Timers and back-pressure, once per loop iteration: closes connections past their login or client
    /// timeout, sends Server Heartbeats after `heartbeat_interval_ms` without outbound traffic, and sends replayed
    /// messages that did not fit in a connection's send queue before.
    pub fn on_tick<T, F>(&mut self, now_ns: u64, out: &mut T, on_event: &mut F)
    where
        T: Transport,
        F: FnMut(SessionEvent<'_>),
    {
        let client_timeout_ns = self.config.client_timeout_ms.saturating_mul(NS_PER_MS);
        let heartbeat_interval_ns = self.config.heartbeat_interval_ms.saturating_mul(NS_PER_MS);
        for slot in 0..self.links.len() {
            let link = self.links[slot];
            match link.state {
                LinkState::Free | LinkState::Closed => {}
                LinkState::AwaitingLogin | LinkState::Verifying => {
                    if now_ns >= link.login_deadline_ns {
                        self.close_link(slot, SessionCloseReason::LoginTimeout, out, on_event);
                    }
                }
                LinkState::LoggedIn { user, .. } => {
                    if now_ns.saturating_sub(link.last_inbound_ns) >= client_timeout_ns {
                        self.close_link(slot, SessionCloseReason::ClientTimeout, out, on_event);
                        continue;
                    }
                    self.pump(slot, user, now_ns, out, on_event);
                    let link = self.links[slot];
                    if matches!(link.state, LinkState::LoggedIn { .. })
                        && now_ns.saturating_sub(link.last_outbound_ns) >= heartbeat_interval_ns
                    {
                        self.send_packet(slot, &Packet::ServerHeartbeat, now_ns, out);
                    }
                }
            }
        }
    }

    /// Appends one outbound OUCH message to `user`'s session and returns its sequence number. A logged-in
    /// connection gets it now if it is caught up and its send queue has room, or later from the store.
    pub fn publish<T, F>(
        &mut self,
        user: UserId,
        message: &[u8],
        now_ns: u64,
        out: &mut T,
        on_event: &mut F,
    ) -> Result<u64, StoreError>
    where
        T: Transport,
        F: FnMut(SessionEvent<'_>),
    {
        if message.len() > self.config.max_outbound_message_bytes {
            return Err(StoreError::MessageTooLarge {
                message_bytes: message.len(),
                max_message_bytes: self.config.max_outbound_message_bytes,
            });
        }
        let Some(session) = self.sessions.get_mut(user.index()) else {
            return Err(StoreError::UnknownSession);
        };
        let sequence = session.store.append(message)?;
        if let Some(conn) = session.conn {
            if let Some(slot) = self.active_slot(conn) {
                self.pump(slot, user, now_ns, out, on_event);
            }
        }
        Ok(sequence)
    }

    /// The end of the trading session: every logged-in connection gets End of Session and is closed; connections
    /// still awaiting login are closed.
    pub fn end_session<T, F>(&mut self, now_ns: u64, out: &mut T, on_event: &mut F)
    where
        T: Transport,
        F: FnMut(SessionEvent<'_>),
    {
        for slot in 0..self.links.len() {
            match self.links[slot].state {
                LinkState::Free | LinkState::Closed => {}
                LinkState::AwaitingLogin | LinkState::Verifying => {
                    self.close_link(slot, SessionCloseReason::EndOfSession, out, on_event)
                }
                LinkState::LoggedIn { .. } => {
                    self.send_packet(slot, &Packet::EndOfSession, now_ns, out);
                    self.close_link(slot, SessionCloseReason::EndOfSession, out, on_event);
                }
            }
        }
    }

    fn active_slot(&self, conn: ConnId) -> Option<usize> {
        let link = self.links.get(conn.slot())?;
        (link.conn == Some(conn)
            && matches!(
                link.state,
                LinkState::AwaitingLogin | LinkState::Verifying | LinkState::LoggedIn { .. }
            ))
        .then_some(conn.slot())
    }

    /// Decodes the next frame of `slot` and handles what needs no other state; Unsequenced Data goes to
    /// `on_event` while it still borrows the receive buffer.
    fn next_action<F>(&mut self, slot: usize, conn: ConnId, on_event: &mut F) -> Action
    where
        F: FnMut(SessionEvent<'_>),
    {
        let state = self.links[slot].state;
        if state == LinkState::Verifying {
            // The client's next frames wait until its login is answered.
            return Action::NeedBytes;
        }
        let frame = match self.decoders[slot].next_frame() {
            Ok(Some(frame)) => frame,
            Ok(None) => return Action::NeedBytes,
            Err(error) => return Action::Close(SessionCloseReason::FramingError(error)),
        };
        let packet = match frame.packet() {
            Ok(packet) => packet,
            Err(error) => return Action::Close(SessionCloseReason::FramingError(error)),
        };
        match (state, packet) {
            (_, Packet::Debug(_)) => Action::Continue,
            (LinkState::AwaitingLogin, Packet::LoginRequest(request)) => Action::Login(request),
            (LinkState::AwaitingLogin | LinkState::LoggedIn { .. }, Packet::ClientHeartbeat) => {
                Action::Continue
            }
            (LinkState::LoggedIn { user, .. }, Packet::UnsequencedData(ouch)) => {
                on_event(SessionEvent::Message { conn, user, ouch });
                Action::Continue
            }
            (LinkState::LoggedIn { .. }, Packet::LogoutRequest) => {
                Action::Close(SessionCloseReason::Logout)
            }
            (_, other) => Action::Close(SessionCloseReason::ProtocolError {
                packet_type: other.packet_type(),
            }),
        }
    }

    fn login<T, F>(
        &mut self,
        slot: usize,
        conn: ConnId,
        request: &LoginRequest,
        now_ns: u64,
        out: &mut T,
        on_event: &mut F,
    ) where
        T: Transport,
        F: FnMut(SessionEvent<'_>),
    {
        if !self.serving {
            // Answered before the password is checked: `S` says nothing about the credentials, and a standby
            // spends no hashing on clients that look for the leader during a failover.
            self.reject(
                slot,
                LoginRejectReason::SessionNotAvailable,
                SessionCloseReason::NotServing,
                now_ns,
                out,
                on_event,
            );
            return;
        }
        let request = match self.verifier.as_ref().map(|v| v.hand_off(conn, *request)) {
            Some(Handoff::Queued) => {
                self.links[slot].state = LinkState::Verifying;
                return;
            }
            Some(Handoff::Refused(request)) => request,
            None => *request,
        };
        let user = self.users.verify(&request.username, &request.password);
        self.finish_login(slot, conn, user, &request, now_ns, out, on_event);
    }

    /// The rest of a login once the password has been checked (`user` is `None` when it did not match).
    #[allow(clippy::too_many_arguments)]
    fn finish_login<T, F>(
        &mut self,
        slot: usize,
        conn: ConnId,
        user: Option<UserId>,
        request: &LoginRequest,
        now_ns: u64,
        out: &mut T,
        on_event: &mut F,
    ) where
        T: Transport,
        F: FnMut(SessionEvent<'_>),
    {
        let Some(user) = user else {
            self.reject(
                slot,
                LoginRejectReason::NotAuthorized,
                SessionCloseReason::NotAuthorized,
                now_ns,
                out,
                on_event,
            );
            return;
        };
        if !self.serving {
            self.reject(
                slot,
                LoginRejectReason::SessionNotAvailable,
                SessionCloseReason::NotServing,
                now_ns,
                out,
                on_event,
            );
            return;
        }
        let session_id = self.config.session_id;
        if !request.requested_session.is_blank() && request.requested_session != session_id {
            let reason = SessionCloseReason::SessionNotAvailable {
                requested: request.requested_session,
            };
            self.reject(
                slot,
                LoginRejectReason::SessionNotAvailable,
                reason,
                now_ns,
                out,
                on_event,
            );
            return;
        }
        let Some(session) = self.sessions.get(user.index()) else {
            self.reject(
                slot,
                LoginRejectReason::NotAuthorized,
                SessionCloseReason::NotAuthorized,
                now_ns,
                out,
                on_event,
            );
            return;
        };
        if let Some(other) = session.conn {
            let reason = SessionCloseReason::AlreadyLoggedIn { user, other };
            self.reject(
                slot,
                LoginRejectReason::SessionNotAvailable,
                reason,
                now_ns,
                out,
                on_event,
            );
            return;
        }
        let next_sequence = session.store.next_sequence();
        let requested = request.requested_sequence_number;
        let cursor = if requested == 0 || requested > next_sequence {
            next_sequence
        } else if requested < session.store.first_sequence() {
            let reason = SessionCloseReason::ReplayTooOld {
                user,
                requested_sequence: requested,
                oldest_sequence: session.store.first_sequence(),
            };
            self.reject(
                slot,
                LoginRejectReason::SessionNotAvailable,
                reason,
                now_ns,
                out,
                on_event,
            );
            return;
        } else {
            requested
        };
        let accepted = Packet::LoginAccepted(LoginAccepted {
            session: session_id,
            sequence_number: cursor,
        });
        if !self.send_packet(slot, &accepted, now_ns, out) {
            return;
        }
        self.links[slot].state = LinkState::LoggedIn { user, cursor };
        self.sessions[user.index()].conn = Some(conn);
        on_event(SessionEvent::LoggedIn {
            conn,
            user,
            first_sequence: cursor,
        });
        self.pump(slot, user, now_ns, out, on_event);
    }

    fn reject<T, F>(
        &mut self,
        slot: usize,
        code: LoginRejectReason,
        reason: SessionCloseReason,
        now_ns: u64,
        out: &mut T,
        on_event: &mut F,
    ) where
        T: Transport,
        F: FnMut(SessionEvent<'_>),
    {
        self.send_packet(slot, &Packet::LoginRejected(code), now_ns, out);
        self.close_link(slot, reason, out, on_event);
    }

    /// Sends the messages from the connection's cursor on, as many as its send queue has room for. A connection
    /// whose cursor the store has evicted (it read too slowly to keep up) is closed.
    fn pump<T, F>(&mut self, slot: usize, user: UserId, now_ns: u64, out: &mut T, on_event: &mut F)
    where
        T: Transport,
        F: FnMut(SessionEvent<'_>),
    {
        let link = self.links[slot];
        let (LinkState::LoggedIn { cursor, .. }, Some(conn)) = (link.state, link.conn) else {
            return;
        };
        let Some(session) = self.sessions.get(user.index()) else {
            return;
        };
        let store = &session.store;
        if cursor < store.first_sequence() {
            let reason = SessionCloseReason::FellBehind {
                user,
                cursor_sequence: cursor,
                oldest_sequence: store.first_sequence(),
            };
            self.close_link(slot, reason, out, on_event);
            return;
        }
        let mut next = cursor;
        let mut room_bytes = out.free_send_bytes(conn);
        // Bounded by the messages the store holds; each round sends one scratch buffer of packets.
        while next < store.next_sequence() {
            let mut used = 0;
            while let Some((first, second)) = store.get(next) {
                let frame_bytes = FRAME_HEADER_BYTES + first.len() + second.len();
                if used + frame_bytes > self.scratch.len().min(room_bytes) {
                    break;
                }
                let length = (1 + first.len() + second.len()) as u16;
                let frame = &mut self.scratch[used..used + frame_bytes];
                frame[..2].copy_from_slice(&length.to_be_bytes());
                frame[2] = crate::soupbin::packet_type::SEQUENCED_DATA;
                frame[3..3 + first.len()].copy_from_slice(first);
                frame[3 + first.len()..].copy_from_slice(second);
                used += frame_bytes;
                next += 1;
            }
            if used == 0 || !out.send(conn, &self.scratch[..used]) {
                break;
            }
            room_bytes -= used;
            self.links[slot].last_outbound_ns = now_ns;
        }
        if let LinkState::LoggedIn { cursor, .. } = &mut self.links[slot].state {
            *cursor = next;
        }
    }

    /// Sends one packet to `slot`'s connection; false when the transport refused it.
    fn send_packet<T: Transport>(
        &mut self,
        slot: usize,
        packet: &Packet<'_>,
        now_ns: u64,
        out: &mut T,
    ) -> bool {
        let Some(conn) = self.links[slot].conn else {
            return false;
        };
        let Ok(written) = packet.encode(&mut self.scratch) else {
            return false;
        };
        let sent = out.send(conn, &self.scratch[..written]);
        if sent {
            self.links[slot].last_outbound_ns = now_ns;
        }
        sent
    }

    fn close_link<T, F>(
        &mut self,
        slot: usize,
        reason: SessionCloseReason,
        out: &mut T,
        on_event: &mut F,
    ) where
        T: Transport,
        F: FnMut(SessionEvent<'_>),
    {
        let link = self.links[slot];
        let Some(conn) = link.conn else {
            return;
        };
        let user = match link.state {
            LinkState::Free | LinkState::Closed => return,
            LinkState::AwaitingLogin | LinkState::Verifying => None,
            LinkState::LoggedIn { user, .. } => {
                self.release_session(user, conn);
                Some(user)
            }
        };
        self.links[slot].state = LinkState::Closed;
        out.close(conn, reason.code());
        on_event(SessionEvent::Closed { conn, user, reason });
    }

    fn release_session(&mut self, user: UserId, conn: ConnId) {
        if let Some(session) = self.sessions.get_mut(user.index()) {
            if session.conn == Some(conn) {
                session.conn = None;
            }
        }
    }
}
