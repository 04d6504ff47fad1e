//! SoupBinTCP 4.00 server sessions: who may log in, what each session has been sent, and when a connection is
//! closed.
//!
//! `SessionManager` is the state machine. It is transport-independent: bytes come in through `on_data`, packets
//! go out through a [`Transport`] (the reactor's `Connections` and `Reactor` implement it), and time comes in as
//! `now_ns` arguments, so it reads no clock and every timer is testable with a fake one. Per connection it runs
//! awaiting login (login timeout) -> logged in -> closed; per configured user it keeps one session: outbound
//! sequence numbers from 1 and an [`OutboundStore`] of recent messages to replay to a client that logs in again
//! asking for sequence number N. `Gateway` glues it to the reactor and reads the clock once per loop iteration.
//!
//! Everything is allocated when the manager is built: a connection table of `max_sessions` entries with one
//! receive buffer each, and one store per user. After that only logins allocate (Argon2 verification). Nothing
//! a peer sends can panic it: every bad input closes that connection with a [`SessionCloseReason`].

mod gateway;
mod manager;
mod store;
mod users;
mod verifier;

pub use gateway::Gateway;
pub use manager::SessionManager;
pub use store::{OutboundStore, StoreError};
pub use users::{
    cheap_params, hash_password, hash_password_with_params, UserId, Users, UsersError,
    PASSWORD_BYTES, USERNAME_BYTES, USERS_MAX,
};

use thiserror::Error;

use crate::reactor::{CloseReason, ConnId, Connections, Reactor};
use crate::soupbin::{SessionId, SoupError};

/// Limits and timers of the session layer. Every limit is a hard bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// The current session id (one per trading day); a Login Request must name it or leave it blank.
    pub session_id: SessionId,
    /// Connections tracked at once: connection slots at or above this are closed at once. Set it to the
    /// reactor's `max_connections`.
    pub max_sessions: usize,
    /// Largest inbound frame, length field included; a longer one breaks the stream and closes the connection.
    pub max_inbound_frame_bytes: usize,
    /// Largest outbound OUCH message `publish` takes.
    pub max_outbound_message_bytes: usize,
    /// Message bytes each user's outbound store holds for replay.
    pub store_bytes_per_session: usize,
    /// Messages each user's outbound store holds for replay.
    pub store_messages_per_session: usize,
    /// A connection that has not logged in this long after it was accepted is closed.
    pub login_timeout_ms: u64,
    /// A Server Heartbeat goes out after this long without outbound traffic.
    pub heartbeat_interval_ms: u64,
    /// A logged-in connection that has sent nothing for this long is closed.
    pub client_timeout_ms: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            session_id: SessionId::new("1"),
            max_sessions: 256,
            max_inbound_frame_bytes: 1024,
            max_outbound_message_bytes: 1024,
            store_bytes_per_session: 4 * 1024 * 1024,
            store_messages_per_session: 65_536,
            login_timeout_ms: 5_000,
            heartbeat_interval_ms: 1_000,
            client_timeout_ms: 15_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SessionConfigError {
    #[error("max_sessions must be in 1..=1048576")]
    MaxSessions,
    #[error("max_inbound_frame_bytes must be in 49..=65537 (a Login Request is 49 bytes)")]
    MaxInboundFrame,
    #[error("max_outbound_message_bytes must be in 1..=65534 (the 2-byte length field's limit)")]
    MaxOutboundMessage,
    #[error(
        "store_bytes_per_session must be at least max_outbound_message_bytes and at most 1 GiB"
    )]
    StoreBytes,
    #[error("store_messages_per_session must be in 1..=16777216")]
    StoreMessages,
    #[error("login_timeout_ms, heartbeat_interval_ms and client_timeout_ms must be positive")]
    Timers,
    #[error("client_timeout_ms must exceed heartbeat_interval_ms")]
    ClientTimeoutTooShort,
}

impl SessionConfig {
    pub fn validate(&self) -> Result<(), SessionConfigError> {
        if self.max_sessions == 0 || self.max_sessions > (1 << 20) {
            return Err(SessionConfigError::MaxSessions);
        }
        if !(49..=65_537).contains(&self.max_inbound_frame_bytes) {
            return Err(SessionConfigError::MaxInboundFrame);
        }
        if !(1..=65_534).contains(&self.max_outbound_message_bytes) {
            return Err(SessionConfigError::MaxOutboundMessage);
        }
        if self.store_bytes_per_session < self.max_outbound_message_bytes
            || self.store_bytes_per_session > (1 << 30)
        {
            return Err(SessionConfigError::StoreBytes);
        }
        if self.store_messages_per_session == 0 || self.store_messages_per_session > (1 << 24) {
            return Err(SessionConfigError::StoreMessages);
        }
        if self.login_timeout_ms == 0
            || self.heartbeat_interval_ms == 0
            || self.client_timeout_ms == 0
        {
            return Err(SessionConfigError::Timers);
        }
        if self.client_timeout_ms <= self.heartbeat_interval_ms {
            return Err(SessionConfigError::ClientTimeoutTooShort);
        }
        Ok(())
    }
}

/// Why the session layer closed a connection, or why the transport did. Logins that are refused end here too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SessionCloseReason {
    #[error("no Login Request within the login timeout")]
    LoginTimeout,
    #[error("nothing received within the client timeout")]
    ClientTimeout,
    #[error("client sent Logout Request")]
    Logout,
    #[error("login rejected (A): unknown user or wrong password")]
    NotAuthorized,
    #[error("login rejected (S): requested session {requested:?} is not the current session")]
    SessionNotAvailable { requested: SessionId },
    #[error("login rejected (S): user {user:?} is already logged in on connection {other:?}")]
    AlreadyLoggedIn { user: UserId, other: ConnId },
    #[error(
        "login rejected (S): user {user:?} asked for sequence {requested_sequence} but the oldest message held \
         in memory is {oldest_sequence}"
    )]
    ReplayTooOld {
        user: UserId,
        requested_sequence: u64,
        oldest_sequence: u64,
    },
    #[error(
        "user {user:?} read too slowly: its next message {cursor_sequence} was evicted (oldest held \
         {oldest_sequence})"
    )]
    FellBehind {
        user: UserId,
        cursor_sequence: u64,
        oldest_sequence: u64,
    },
    #[error("broken stream: {0}")]
    FramingError(SoupError),
    #[error("unexpected packet type {packet_type:#04x} in this state")]
    ProtocolError { packet_type: u8 },
    #[error("end of session")]
    EndOfSession,
    #[error("connection table full")]
    TableFull,
    #[error(
        "login rejected (S): this node does not take order entry now (a standby, or stepping down)"
    )]
    NotServing,
    #[error("transport closed the connection: {0:?}")]
    Transport(CloseReason),
}

impl SessionCloseReason {
    /// The code given to the transport's `close` (`CloseReason::Application { code }`).
    pub fn code(&self) -> u16 {
        match self {
            SessionCloseReason::LoginTimeout => 1,
            SessionCloseReason::ClientTimeout => 2,
            SessionCloseReason::Logout => 3,
            SessionCloseReason::NotAuthorized => 4,
            SessionCloseReason::SessionNotAvailable { .. } => 5,
            SessionCloseReason::AlreadyLoggedIn { .. } => 6,
            SessionCloseReason::ReplayTooOld { .. } => 7,
            SessionCloseReason::FellBehind { .. } => 8,
            SessionCloseReason::FramingError(_) => 9,
            SessionCloseReason::ProtocolError { .. } => 10,
            SessionCloseReason::EndOfSession => 11,
            SessionCloseReason::TableFull => 12,
            SessionCloseReason::Transport(_) => 13,
            SessionCloseReason::NotServing => 14,
        }
    }

    /// The text of the Debug packet sent before closing a broken stream (static: no formatting per packet).
    pub(crate) fn debug_text(&self) -> &'static [u8] {
        match self {
            SessionCloseReason::FramingError(SoupError::ZeroLength) => {
                b"closing: zero packet length"
            }
            SessionCloseReason::FramingError(SoupError::Oversize { .. }) => {
                b"closing: packet too long"
            }
            SessionCloseReason::FramingError(SoupError::UnknownType { .. }) => {
                b"closing: unknown packet type"
            }
            SessionCloseReason::FramingError(SoupError::BadLength { .. }) => {
                b"closing: bad packet length"
            }
            SessionCloseReason::FramingError(_) => b"closing: malformed packet",
            SessionCloseReason::ProtocolError { .. } => {
                b"closing: packet not allowed in this state"
            }
            _ => b"closing",
        }
    }
}

/// What the session layer tells the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEvent<'a> {
    /// `user` logged in on `conn`; Sequenced Data starts at `first_sequence` (replay first, then live).
    LoggedIn {
        conn: ConnId,
        user: UserId,
        first_sequence: u64,
    },
    /// One inbound OUCH message (an Unsequenced Data payload), borrowed from the receive buffer.
    Message {
        conn: ConnId,
        user: UserId,
        ouch: &'a [u8],
    },
    /// The connection is closed (refused logins included); `user` is set when it was logged in.
    Closed {
        conn: ConnId,
        user: Option<UserId>,
        reason: SessionCloseReason,
    },
}

/// Where the session layer's bytes go. `send` queues all of `bytes` or none.
pub trait Transport {
    /// Queues `bytes` on `conn`; false when the connection is gone or refused them (it is then being closed).
    fn send(&mut self, conn: ConnId, bytes: &[u8]) -> bool;
    /// Bytes `conn` can queue now without being closed as a slow consumer (0 when it is gone).
    fn free_send_bytes(&self, conn: ConnId) -> usize;
    /// Closes `conn` with an application code (`SessionCloseReason::code`).
    fn close(&mut self, conn: ConnId, code: u16);
}

impl Transport for Connections {
    fn send(&mut self, conn: ConnId, bytes: &[u8]) -> bool {
        Connections::send(self, conn, bytes).is_ok()
    }

    fn free_send_bytes(&self, conn: ConnId) -> usize {
        Connections::free_send_bytes(self, conn)
    }

    fn close(&mut self, conn: ConnId, code: u16) {
        Connections::close(self, conn, CloseReason::Application { code });
    }
}

impl Transport for Reactor {
    fn send(&mut self, conn: ConnId, bytes: &[u8]) -> bool {
        Reactor::send(self, conn, bytes).is_ok()
    }

    fn free_send_bytes(&self, conn: ConnId) -> usize {
        Reactor::free_send_bytes(self, conn)
    }

    fn close(&mut self, conn: ConnId, code: u16) {
        Reactor::close(self, conn, CloseReason::Application { code });
    }
}

#[cfg(test)]
mod tests;
