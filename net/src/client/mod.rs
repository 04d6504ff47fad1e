//! A SoupBinTCP 4.00 / OUCH 5.0 order-entry client: the library crossline-bench, the end-to-end tests and
//! market makers use to talk to a Crossline gateway.
//!
//! Design (documented in docs/PROTOCOL.md, "Client library"):
//!
//! - One plain std `TcpStream` per client, `TCP_NODELAY`, no async runtime, no helper thread. Writes are
//!   blocking, bounded by `ClientTimeouts::write_ms`. Reads wait with `ppoll(2)` for at most the caller's
//!   timeout (a zero timeout only looks at what has already arrived), then read whatever the kernel holds into
//!   the `FrameDecoder`, so `poll_message` never blocks longer than asked and a pipelining caller can send and
//!   drain in one thread.
//! - Everything is allocated in `connect`: a `PacketBuffer` for sends and a `FrameDecoder` for receives. Sending
//!   a message encodes it straight into the send buffer's frame; a received message borrows from the decoder.
//!   Nothing is allocated per message (error values listing the addresses tried are built only when
//!   `connect` fails).
//! - Finding the leader: `connect` tries each address in order. A refused connection, a connect or login
//!   timeout, or Login Rejected `S` (a standby, or a session not available) moves on to the next address;
//!   Login Rejected `A` (not authorized) stops at once, since every node holds the same users.
//! - Sequencing: the client counts the Sequenced Data packets it receives from the Login Accepted sequence
//!   number on; `resume_seq()` is the next one it expects, which a later `connect` (or `reconnect`) asks for
//!   so that nothing is lost or repeated across a disconnect.
//! - Heartbeats: the caller calls `send_heartbeat_if_due` in its loop (any sent packet counts as traffic); a
//!   server silent for `server_silence_ms` (its heartbeats included) is a `ClientError::ServerTimeout`.

use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::ouch::{
    CancelOrder, EnterOrder, Inbound, MassCancel, ModifyOrder, OuchError, Outbound, Quote,
    ReplaceOrder,
};
use crate::soupbin::{
    packet_type, FrameDecoder, LoginAccepted, LoginRejectReason, LoginRequest, Packet,
    PacketBuffer, SessionId, SoupError,
};
use crate::EncodeError;

/// Largest frame accepted from the server (the most the 2-byte length field describes), length field included.
pub const MAX_RECEIVE_FRAME_BYTES: usize = 2 + u16::MAX as usize;
/// Receive buffer: several maximum frames, so a burst of small messages is drained with few reads.
pub const RECEIVE_BUFFER_BYTES: usize = 4 * MAX_RECEIVE_FRAME_BYTES;
/// Send buffer: one OUCH message with every option fits many times over.
pub const SEND_BUFFER_BYTES: usize = 4096;

/// Username and password of a SoupBinTCP login, space-padded as the Login Request carries them.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Credentials {
    username: [u8; 6],
    password: [u8; 10],
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &crate::alpha_text(&self.username))
            .field("password", &"<hidden>")
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum CredentialsError {
    #[error("username must be 1 to 6 printable ASCII characters without spaces")]
    BadUsername,
    #[error("password must be 1 to 10 printable ASCII characters without spaces")]
    BadPassword,
}

impl Credentials {
    pub fn new(username: &str, password: &str) -> Result<Credentials, CredentialsError> {
        Ok(Credentials {
            username: padded(username).ok_or(CredentialsError::BadUsername)?,
            password: padded(password).ok_or(CredentialsError::BadPassword)?,
        })
    }

    /// The username without its padding.
    pub fn username(&self) -> &str {
        crate::alpha_text(&self.username).unwrap_or_default()
    }
}

fn padded<const N: usize>(text: &str) -> Option<[u8; N]> {
    let valid = !text.is_empty() && text.len() <= N && text.bytes().all(|b| b.is_ascii_graphic());
    valid.then(|| crate::alpha(text))
}

/// Timers of a client. Every one is a hard bound on how long a call may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientTimeouts {
    /// TCP connect, per address.
    pub connect_ms: u64,
    /// From sending Login Request to Login Accepted or Rejected, per address. Argon2 verification on the
    /// server takes tens of milliseconds, so keep this well above that.
    pub login_ms: u64,
    /// A blocking send that cannot complete in this long fails the connection.
    pub write_ms: u64,
    /// `send_heartbeat_if_due` sends a Client Heartbeat after this long without sending anything (the
    /// specification's 1 s by default).
    pub heartbeat_interval_ms: u64,
    /// A server that sends nothing (heartbeats included) for this long is considered gone.
    pub server_silence_ms: u64,
}

impl Default for ClientTimeouts {
    fn default() -> Self {
        ClientTimeouts {
            connect_ms: 1_000,
            login_ms: 5_000,
            write_ms: 1_000,
            heartbeat_interval_ms: 1_000,
            server_silence_ms: 15_000,
        }
    }
}

/// What happened at one address during `connect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Nothing listens there (connection refused).
    Refused,
    /// The TCP connect did not complete within `connect_ms`.
    ConnectTimeout,
    /// The connect failed otherwise (unreachable network, ...).
    ConnectFailed(ErrorKind),
    /// Login Rejected: `NotAuthorized` stops the search, `SessionNotAvailable` (a standby) moves on.
    Rejected(LoginRejectReason),
    /// No answer to the Login Request within `login_ms`.
    LoginTimeout,
    /// The server closed the connection before answering the login.
    ClosedDuringLogin,
    /// The server sent bytes that are not a valid answer to a login.
    Protocol(SoupError),
    /// A packet other than Login Accepted / Rejected, Heartbeat or Debug arrived before the answer.
    UnexpectedPacket { packet_type: u8 },
    /// Reading or writing failed.
    Io(ErrorKind),
}

impl fmt::Display for AttemptOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttemptOutcome::Refused => write!(f, "connection refused"),
            AttemptOutcome::ConnectTimeout => write!(f, "connect timed out"),
            AttemptOutcome::ConnectFailed(kind) => write!(f, "connect failed: {kind}"),
            AttemptOutcome::Rejected(LoginRejectReason::NotAuthorized) => {
                write!(f, "login rejected 'A' (not authorized)")
            }
            AttemptOutcome::Rejected(LoginRejectReason::SessionNotAvailable) => {
                write!(f, "login rejected 'S' (session not available: a standby?)")
            }
            AttemptOutcome::LoginTimeout => write!(f, "no answer to the login"),
            AttemptOutcome::ClosedDuringLogin => write!(f, "closed before answering the login"),
            AttemptOutcome::Protocol(error) => write!(f, "broken stream: {error}"),
            AttemptOutcome::UnexpectedPacket { packet_type } => {
                write!(
                    f,
                    "unexpected packet type {packet_type:#04x} before the login answer"
                )
            }
            AttemptOutcome::Io(kind) => write!(f, "I/O error: {kind}"),
        }
    }
}

/// One address tried by `connect` and what happened there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attempt {
    pub address: SocketAddr,
    pub outcome: AttemptOutcome,
}

/// The addresses tried, in order, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempts(pub Vec<Attempt>);

impl fmt::Display for Attempts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, attempt) in self.0.iter().enumerate() {
            if index > 0 {
                write!(f, "; ")?;
            }
            write!(f, "{}: {}", attempt.address, attempt.outcome)?;
        }
        Ok(())
    }
}

/// Why `connect` found no session to log in to.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConnectError {
    #[error("no address to connect to")]
    NoAddresses,
    /// Login Rejected `A` at `address`: the credentials are wrong everywhere, so no further address was tried.
    #[error("not authorized at {address} (stopped there); tried {attempts}")]
    NotAuthorized {
        address: SocketAddr,
        attempts: Attempts,
    },
    /// Every address failed; each one's outcome is listed.
    #[error("no address accepted the login: {attempts}")]
    NoLeader { attempts: Attempts },
}

/// Why a call on a connected client failed. `EndOfSession`, `Disconnected`, `ServerTimeout`, `Protocol` and
/// `Io` end the connection: later calls return `NotConnected` until `reconnect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ClientError {
    #[error("the connection is closed")]
    NotConnected,
    #[error("the server sent End of Session")]
    EndOfSession,
    #[error("the server closed the connection")]
    Disconnected,
    #[error("nothing received from the server for {silent_ms} ms")]
    ServerTimeout { silent_ms: u64 },
    #[error("broken stream from the server: {0}")]
    Protocol(SoupError),
    #[error("unexpected packet type {packet_type:#04x} from a logged-in server")]
    UnexpectedPacket { packet_type: u8 },
    /// A Sequenced Data packet that is not a valid OUCH message. It counted as sequence `sequence_number`;
    /// the connection stays up.
    #[error("sequenced message {sequence_number} is not valid OUCH: {error}")]
    BadMessage {
        sequence_number: u64,
        error: OuchError,
    },
    /// The message could not be encoded (nothing was sent).
    #[error("could not encode the message: {0}")]
    Encode(EncodeError),
    #[error("I/O error: {0}")]
    Io(ErrorKind),
}

/// One Sequenced Data message from the server: its sequence number, the decoded OUCH message, and its bytes
/// (borrowed from the receive buffer until the next call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received<'a> {
    pub sequence_number: u64,
    pub message: Outbound,
    pub bytes: &'a [u8],
}

/// A logged-in SoupBinTCP/OUCH session. See the module documentation.
pub struct Client {
    stream: TcpStream,
    open: bool,
    address: SocketAddr,
    credentials: Credentials,
    timeouts: ClientTimeouts,
    session: SessionId,
    /// Sequence number of the next Sequenced Data packet expected.
    next_sequence: u64,
    decoder: FrameDecoder,
    send_buffer: PacketBuffer,
    last_sent_at: Instant,
    last_received_at: Instant,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("address", &self.address)
            .field("open", &self.open)
            .field("session", &self.session)
            .field("next_sequence", &self.next_sequence)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Tries `addresses` in order and logs in to the first that accepts (see the module documentation for
    /// which outcomes move on). `requested_session` is normally `SessionId::BLANK` (the current session);
    /// `requested_seq` is the first Sequenced Data message wanted (0: only new ones; a previous client's
    /// `resume_seq()` to resume).
    pub fn connect(
        addresses: &[SocketAddr],
        credentials: Credentials,
        requested_session: SessionId,
        requested_seq: u64,
        timeouts: ClientTimeouts,
    ) -> Result<Client, ConnectError> {
        let mut decoder = FrameDecoder::new(MAX_RECEIVE_FRAME_BYTES, RECEIVE_BUFFER_BYTES);
        let mut send_buffer = PacketBuffer::new(SEND_BUFFER_BYTES);
        let login = LoginRequest {
            username: credentials.username,
            password: credentials.password,
            requested_session,
            requested_sequence_number: requested_seq,
        };
        let (stream, address, accepted) =
            log_in_anywhere(addresses, &login, &timeouts, &mut decoder, &mut send_buffer)?;
        let now = Instant::now();
        Ok(Client {
            stream,
            open: true,
            address,
            credentials,
            timeouts,
            session: accepted.session,
            next_sequence: accepted.sequence_number,
            decoder,
            send_buffer,
            last_sent_at: now,
            last_received_at: now,
        })
    }

    /// Logs in again (after a disconnect, or to move to a new leader) with the same credentials, to the
    /// session last logged into, from `resume_seq()`, reusing this client's buffers. The old connection, if
    /// still open, is closed first.
    pub fn reconnect(&mut self, addresses: &[SocketAddr]) -> Result<(), ConnectError> {
        self.close();
        self.decoder.clear();
        self.send_buffer.clear();
        let login = LoginRequest {
            username: self.credentials.username,
            password: self.credentials.password,
            requested_session: self.session,
            requested_sequence_number: self.next_sequence,
        };
        let (stream, address, accepted) = log_in_anywhere(
            addresses,
            &login,
            &self.timeouts,
            &mut self.decoder,
            &mut self.send_buffer,
        )?;
        let now = Instant::now();
        self.stream = stream;
        self.open = true;
        self.address = address;
        self.session = accepted.session;
        self.next_sequence = accepted.sequence_number;
        self.last_sent_at = now;
        self.last_received_at = now;
        Ok(())
    }

    /// The address logged in to.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The session id from Login Accepted.
    pub fn session(&self) -> SessionId {
        self.session
    }

    /// The sequence number of the next Sequenced Data message expected: ask for it when logging in again.
    pub fn resume_seq(&self) -> u64 {
        self.next_sequence
    }

    pub fn is_open(&self) -> bool {
        self.open
    }

    /// `O` Enter Order.
    pub fn enter_order(&mut self, order: &EnterOrder) -> Result<(), ClientError> {
        self.send_message(order.encoded_len(), |slot| order.encode(slot))
    }

    /// `U` Replace Order.
    pub fn replace(&mut self, replace: &ReplaceOrder) -> Result<(), ClientError> {
        self.send_message(replace.encoded_len(), |slot| replace.encode(slot))
    }

    /// `X` Cancel Order (Quantity 0 cancels, more reduces to that).
    pub fn cancel(&mut self, cancel: &CancelOrder) -> Result<(), ClientError> {
        self.send_message(cancel.encoded_len(), |slot| cancel.encode(slot))
    }

    /// `M` Modify Order.
    pub fn modify(&mut self, modify: &ModifyOrder) -> Result<(), ClientError> {
        self.send_message(modify.encoded_len(), |slot| modify.encode(slot))
    }

    /// `C` Mass Cancel.
    pub fn mass_cancel(&mut self, mass_cancel: &MassCancel) -> Result<(), ClientError> {
        self.send_message(mass_cancel.encoded_len(), |slot| mass_cancel.encode(slot))
    }

    /// `q` Quote (Crossline's extension).
    pub fn quote(&mut self, quote: &Quote) -> Result<(), ClientError> {
        self.send_message(quote.encoded_len(), |slot| quote.encode(slot))
    }

    /// Any inbound OUCH message (Disable / Enable Order Entry, Account Query, ...).
    pub fn send(&mut self, message: &Inbound) -> Result<(), ClientError> {
        self.send_message(message.encoded_len(), |slot| message.encode(slot))
    }

    /// Sends a Client Heartbeat if nothing was sent for `heartbeat_interval_ms` before `now`; true if one went.
    /// Call it from the client's loop, at least as often as the interval.
    pub fn send_heartbeat_if_due(&mut self, now: Instant) -> Result<bool, ClientError> {
        self.ensure_open()?;
        let interval = Duration::from_millis(self.timeouts.heartbeat_interval_ms);
        if now.saturating_duration_since(self.last_sent_at) < interval {
            return Ok(false);
        }
        self.send_packet(&Packet::ClientHeartbeat)?;
        Ok(true)
    }

    /// Sends Logout Request and closes the connection. `resume_seq()` stays valid for a later login.
    pub fn logout(&mut self) -> Result<(), ClientError> {
        self.ensure_open()?;
        let sent = self.send_packet(&Packet::LogoutRequest);
        self.close();
        sent
    }

    /// The next Sequenced Data message, waiting at most `timeout` for one (`Duration::ZERO`: only what has
    /// already arrived). `Ok(None)` when none came in time. Server Heartbeats and Debug packets are absorbed.
    pub fn poll_message(&mut self, timeout: Duration) -> Result<Option<Received<'_>>, ClientError> {
        self.ensure_open()?;
        let started_at = Instant::now();
        loop {
            let front = self.decoder.peek_frame().map(|f| f.map(|f| f.packet_type));
            match front {
                Err(error) => return Err(self.fail(ClientError::Protocol(error))),
                Ok(Some(packet_type::SEQUENCED_DATA)) => break,
                Ok(Some(_)) => {
                    self.absorb_frame()?;
                    continue;
                }
                Ok(None) => {}
            }
            let now = Instant::now();
            let silence = Duration::from_millis(self.timeouts.server_silence_ms);
            let silent_for = now.saturating_duration_since(self.last_received_at);
            if silent_for >= silence {
                let silent_ms = u64::try_from(silent_for.as_millis()).unwrap_or(u64::MAX);
                return Err(self.fail(ClientError::ServerTimeout { silent_ms }));
            }
            let waited = now.saturating_duration_since(started_at);
            if waited >= timeout && !timeout.is_zero() {
                return Ok(None);
            }
            let wait = timeout.saturating_sub(waited).min(silence - silent_for);
            let received = match receive(&mut self.stream, &mut self.decoder, wait) {
                Ok(received) => received,
                Err(error) => return Err(self.fail(error)),
            };
            if received {
                self.last_received_at = Instant::now();
            } else if timeout.is_zero() {
                return Ok(None);
            }
        }
        let sequence_number = self.next_sequence;
        self.next_sequence = self.next_sequence.saturating_add(1);
        match self.decoder.next_frame() {
            Ok(Some(frame)) => match Outbound::decode(frame.payload) {
                Ok(message) => Ok(Some(Received {
                    sequence_number,
                    message,
                    bytes: frame.payload,
                })),
                Err(error) => Err(ClientError::BadMessage {
                    sequence_number,
                    error,
                }),
            },
            // The peek above saw this frame, so neither arm is reached; both keep this total.
            Ok(None) => Ok(None),
            Err(error) => Err(ClientError::Protocol(error)),
        }
    }

    /// Consumes one frame that is not Sequenced Data.
    fn absorb_frame(&mut self) -> Result<(), ClientError> {
        let packet = match self.decoder.next_frame() {
            Ok(Some(frame)) => frame.packet().map(|packet| packet.packet_type()),
            Ok(None) => return Ok(()),
            Err(error) => Err(error),
        };
        match packet {
            Err(error) => Err(self.fail(ClientError::Protocol(error))),
            Ok(packet_type::SERVER_HEARTBEAT | packet_type::DEBUG) => Ok(()),
            // OUCH sends nothing unsequenced; SoupBinTCP allows it, so it is skipped rather than fatal.
            Ok(packet_type::UNSEQUENCED_DATA) => Ok(()),
            Ok(packet_type::END_OF_SESSION) => Err(self.fail(ClientError::EndOfSession)),
            Ok(packet_type) => Err(self.fail(ClientError::UnexpectedPacket { packet_type })),
        }
    }

    fn send_message(
        &mut self,
        message_bytes: usize,
        encode: impl FnOnce(&mut [u8]) -> Result<usize, EncodeError>,
    ) -> Result<(), ClientError> {
        self.ensure_open()?;
        let start = self.send_buffer.len();
        let slot = self
            .send_buffer
            .reserve_frame(packet_type::UNSEQUENCED_DATA, message_bytes)
            .map_err(ClientError::Encode)?;
        if let Err(error) = encode(slot) {
            self.send_buffer.truncate(start);
            return Err(ClientError::Encode(error));
        }
        self.flush()
    }

    fn send_packet(&mut self, packet: &Packet<'_>) -> Result<(), ClientError> {
        self.send_buffer.push(packet).map_err(ClientError::Encode)?;
        self.flush()
    }

    fn flush(&mut self) -> Result<(), ClientError> {
        let result = self.stream.write_all(self.send_buffer.as_bytes());
        self.send_buffer.clear();
        match result {
            Ok(()) => {
                self.last_sent_at = Instant::now();
                Ok(())
            }
            // A partial write leaves the stream without packet boundaries: the connection is over.
            Err(error) => Err(self.fail(io_error(&error))),
        }
    }

    fn ensure_open(&self) -> Result<(), ClientError> {
        if self.open {
            Ok(())
        } else {
            Err(ClientError::NotConnected)
        }
    }

    /// Closes the connection and passes `error` through.
    fn fail(&mut self, error: ClientError) -> ClientError {
        self.close();
        error
    }

    fn close(&mut self) {
        if self.open {
            self.stream.shutdown(std::net::Shutdown::Both).ok();
            self.open = false;
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.close();
    }
}

fn io_error(error: &io::Error) -> ClientError {
    match error.kind() {
        ErrorKind::UnexpectedEof
        | ErrorKind::ConnectionReset
        | ErrorKind::ConnectionAborted
        | ErrorKind::BrokenPipe => ClientError::Disconnected,
        kind => ClientError::Io(kind),
    }
}

/// Tries every address in order; see `Client::connect`.
fn log_in_anywhere(
    addresses: &[SocketAddr],
    login: &LoginRequest,
    timeouts: &ClientTimeouts,
    decoder: &mut FrameDecoder,
    send_buffer: &mut PacketBuffer,
) -> Result<(TcpStream, SocketAddr, LoginAccepted), ConnectError> {
    if addresses.is_empty() {
        return Err(ConnectError::NoAddresses);
    }
    let mut attempts = Vec::with_capacity(addresses.len());
    for &address in addresses {
        decoder.clear();
        send_buffer.clear();
        match log_in_at(address, login, timeouts, decoder, send_buffer) {
            Ok((stream, accepted)) => return Ok((stream, address, accepted)),
            Err(outcome) => {
                attempts.push(Attempt { address, outcome });
                if outcome == AttemptOutcome::Rejected(LoginRejectReason::NotAuthorized) {
                    return Err(ConnectError::NotAuthorized {
                        address,
                        attempts: Attempts(attempts),
                    });
                }
            }
        }
    }
    Err(ConnectError::NoLeader {
        attempts: Attempts(attempts),
    })
}

/// Connects to one address, sends the Login Request and waits for the answer.
fn log_in_at(
    address: SocketAddr,
    login: &LoginRequest,
    timeouts: &ClientTimeouts,
    decoder: &mut FrameDecoder,
    send_buffer: &mut PacketBuffer,
) -> Result<(TcpStream, LoginAccepted), AttemptOutcome> {
    let connect_timeout = Duration::from_millis(timeouts.connect_ms.max(1));
    let mut stream = TcpStream::connect_timeout(&address, connect_timeout).map_err(|error| {
        match error.kind() {
            ErrorKind::ConnectionRefused => AttemptOutcome::Refused,
            ErrorKind::TimedOut | ErrorKind::WouldBlock => AttemptOutcome::ConnectTimeout,
            kind => AttemptOutcome::ConnectFailed(kind),
        }
    })?;
    let io = |error: io::Error| AttemptOutcome::Io(error.kind());
    stream.set_nodelay(true).map_err(io)?;
    stream
        .set_write_timeout(Some(Duration::from_millis(timeouts.write_ms.max(1))))
        .map_err(io)?;
    send_buffer
        .push(&Packet::LoginRequest(*login))
        .map_err(|_| AttemptOutcome::Io(ErrorKind::InvalidInput))?;
    let written = stream.write_all(send_buffer.as_bytes());
    send_buffer.clear();
    written.map_err(io)?;

    let login_timeout = Duration::from_millis(timeouts.login_ms);
    let started_at = Instant::now();
    loop {
        while let Some(frame) = decoder.next_frame().map_err(AttemptOutcome::Protocol)? {
            match frame.packet().map_err(AttemptOutcome::Protocol)? {
                Packet::LoginAccepted(accepted) => return Ok((stream, accepted)),
                Packet::LoginRejected(reason) => return Err(AttemptOutcome::Rejected(reason)),
                Packet::ServerHeartbeat | Packet::Debug(_) => {}
                other => {
                    return Err(AttemptOutcome::UnexpectedPacket {
                        packet_type: other.packet_type(),
                    })
                }
            }
        }
        let waited = started_at.elapsed();
        if waited >= login_timeout {
            return Err(AttemptOutcome::LoginTimeout);
        }
        match receive(&mut stream, decoder, login_timeout - waited) {
            Ok(_) => {}
            Err(ClientError::Disconnected) => return Err(AttemptOutcome::ClosedDuringLogin),
            Err(ClientError::Io(kind)) => return Err(AttemptOutcome::Io(kind)),
            Err(_) => return Err(AttemptOutcome::Io(ErrorKind::Other)),
        }
    }
}

/// Waits up to `wait` for the socket to be readable, then reads what it holds into the decoder. True if bytes
/// arrived; `Disconnected` at end of stream.
fn receive(
    stream: &mut TcpStream,
    decoder: &mut FrameDecoder,
    wait: Duration,
) -> Result<bool, ClientError> {
    if !wait_readable(stream, wait).map_err(|error| io_error(&error))? {
        return Ok(false);
    }
    let spare = decoder.spare();
    if spare.is_empty() {
        // Only whole frames fill the buffer, and the callers drain those before reading.
        return Ok(false);
    }
    loop {
        match stream.read(spare) {
            Ok(0) => return Err(ClientError::Disconnected),
            Ok(read_bytes) => {
                decoder.commit(read_bytes);
                return Ok(true);
            }
            Err(error) if error.kind() == ErrorKind::Interrupted => {}
            Err(error) if error.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(error) => return Err(io_error(&error)),
        }
    }
}

/// `ppoll(2)` on one socket for readability (or hang-up / error, which the following read reports).
fn wait_readable(stream: &TcpStream, wait: Duration) -> io::Result<bool> {
    let mut poll_fd = libc::pollfd {
        fd: stream.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let timeout = libc::timespec {
        tv_sec: libc::time_t::try_from(wait.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: wait.subsec_nanos().into(),
    };
    // SAFETY: `poll_fd` and `timeout` are live, initialized locals for the whole call; the count (1) matches
    // the one pollfd passed; a null signal mask leaves the mask unchanged, as ppoll(2) documents.
    let ready = unsafe { libc::ppoll(&mut poll_fd, 1, &timeout, std::ptr::null()) };
    if ready < 0 {
        let error = io::Error::last_os_error();
        if error.kind() == ErrorKind::Interrupted {
            return Ok(false);
        }
        return Err(error);
    }
    Ok(ready > 0)
}
