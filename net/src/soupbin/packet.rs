//! The SoupBinTCP packets: what each frame means, and how to write one.

use super::frame::{Frame, FRAME_HEADER_BYTES};
use super::SoupError;
use crate::wire::{ascii_numeric, check_room, parse_ascii_numeric, EncodeError, Writer};

/// Packet type bytes.
pub mod packet_type {
    pub const DEBUG: u8 = b'+';
    pub const LOGIN_ACCEPTED: u8 = b'A';
    pub const LOGIN_REJECTED: u8 = b'J';
    pub const SEQUENCED_DATA: u8 = b'S';
    pub const UNSEQUENCED_DATA: u8 = b'U';
    pub const SERVER_HEARTBEAT: u8 = b'H';
    pub const END_OF_SESSION: u8 = b'Z';
    pub const LOGIN_REQUEST: u8 = b'L';
    pub const CLIENT_HEARTBEAT: u8 = b'R';
    pub const LOGOUT_REQUEST: u8 = b'O';
}

const SESSION_BYTES: usize = 10;
const SEQUENCE_NUMBER_BYTES: usize = 20;
const USERNAME_BYTES: usize = 6;
const PASSWORD_BYTES: usize = 10;
const LOGIN_ACCEPTED_PAYLOAD_BYTES: usize = SESSION_BYTES + SEQUENCE_NUMBER_BYTES;
const LOGIN_REQUEST_PAYLOAD_BYTES: usize =
    USERNAME_BYTES + PASSWORD_BYTES + SESSION_BYTES + SEQUENCE_NUMBER_BYTES;

/// A SoupBinTCP session id: 10 alphanumeric bytes. All spaces in a Login Request means "the current session".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionId(pub [u8; SESSION_BYTES]);

impl SessionId {
    /// All spaces: in a Login Request, "log me into the currently active session".
    pub const BLANK: SessionId = SessionId([b' '; SESSION_BYTES]);

    /// A session id from text, right-justified and padded on the left with spaces as the Login Accepted packet
    /// describes; text longer than 10 bytes keeps its last 10.
    pub fn new(text: &str) -> SessionId {
        let mut out = [b' '; SESSION_BYTES];
        for (slot, byte) in out.iter_mut().rev().zip(text.bytes().rev()) {
            *slot = byte;
        }
        SessionId(out)
    }

    pub fn is_blank(&self) -> bool {
        self.0.iter().all(|&b| b == b' ')
    }

    /// The id without its padding (`None` if the bytes are not UTF-8).
    pub fn text(&self) -> Option<&str> {
        crate::wire::alpha_text(&self.0)
    }
}

/// The server accepted a login: the session now logged into and the sequence number of the next Sequenced
/// Data packet it will send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginAccepted {
    pub session: SessionId,
    pub sequence_number: u64,
}

/// Why the server refused a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum LoginRejectReason {
    /// Invalid username and password combination.
    NotAuthorized = b'A',
    /// The requested session is invalid or not available (also what a standby answers: only the leader trades).
    SessionNotAvailable = b'S',
}

impl LoginRejectReason {
    pub fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            b'A' => Some(LoginRejectReason::NotAuthorized),
            b'S' => Some(LoginRejectReason::SessionNotAvailable),
            _ => None,
        }
    }

    pub fn as_byte(self) -> u8 {
        self as u8
    }
}

/// A client's login. Username and password are compared case-insensitively by the server and padded on the
/// right with spaces; a requested sequence number of 0 asks for the most recently generated message on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginRequest {
    pub username: [u8; USERNAME_BYTES],
    pub password: [u8; PASSWORD_BYTES],
    pub requested_session: SessionId,
    pub requested_sequence_number: u64,
}

/// One SoupBinTCP packet. Data payloads and debug text borrow from the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Human-readable text; both sides ignore it.
    Debug(&'a [u8]),
    LoginAccepted(LoginAccepted),
    LoginRejected(LoginRejectReason),
    /// One sequenced higher-level message from the server; its sequence number is implied by its position.
    SequencedData(&'a [u8]),
    /// One unsequenced higher-level message, in either direction.
    UnsequencedData(&'a [u8]),
    ServerHeartbeat,
    EndOfSession,
    LoginRequest(LoginRequest),
    ClientHeartbeat,
    LogoutRequest,
}

impl<'a> Packet<'a> {
    /// The packet a frame carries. Fixed-size packets must have exactly their size.
    pub fn from_frame(frame: Frame<'a>) -> Result<Packet<'a>, SoupError> {
        use packet_type as t;
        let payload = frame.payload;
        let packet = match frame.packet_type {
            t::DEBUG => Packet::Debug(payload),
            t::SEQUENCED_DATA => Packet::SequencedData(payload),
            t::UNSEQUENCED_DATA => Packet::UnsequencedData(payload),
            t::LOGIN_ACCEPTED => {
                let fields = fixed::<LOGIN_ACCEPTED_PAYLOAD_BYTES>(frame)?;
                let (session, sequence) = fields.split_at(SESSION_BYTES);
                Packet::LoginAccepted(LoginAccepted {
                    session: SessionId(array(session)),
                    sequence_number: numeric(sequence, "sequence_number")?,
                })
            }
            t::LOGIN_REJECTED => {
                let [code] = fixed::<1>(frame)?;
                Packet::LoginRejected(
                    LoginRejectReason::from_byte(code).ok_or(SoupError::BadRejectCode { code })?,
                )
            }
            t::LOGIN_REQUEST => {
                let fields = fixed::<LOGIN_REQUEST_PAYLOAD_BYTES>(frame)?;
                let (username, rest) = fields.split_at(USERNAME_BYTES);
                let (password, rest) = rest.split_at(PASSWORD_BYTES);
                let (session, sequence) = rest.split_at(SESSION_BYTES);
                Packet::LoginRequest(LoginRequest {
                    username: array(username),
                    password: array(password),
                    requested_session: SessionId(array(session)),
                    requested_sequence_number: numeric(sequence, "requested_sequence_number")?,
                })
            }
            t::SERVER_HEARTBEAT => empty(frame, Packet::ServerHeartbeat)?,
            t::END_OF_SESSION => empty(frame, Packet::EndOfSession)?,
            t::CLIENT_HEARTBEAT => empty(frame, Packet::ClientHeartbeat)?,
            t::LOGOUT_REQUEST => empty(frame, Packet::LogoutRequest)?,
            packet_type => return Err(SoupError::UnknownType { packet_type }),
        };
        Ok(packet)
    }

    pub fn packet_type(&self) -> u8 {
        use packet_type as t;
        match self {
            Packet::Debug(_) => t::DEBUG,
            Packet::LoginAccepted(_) => t::LOGIN_ACCEPTED,
            Packet::LoginRejected(_) => t::LOGIN_REJECTED,
            Packet::SequencedData(_) => t::SEQUENCED_DATA,
            Packet::UnsequencedData(_) => t::UNSEQUENCED_DATA,
            Packet::ServerHeartbeat => t::SERVER_HEARTBEAT,
            Packet::EndOfSession => t::END_OF_SESSION,
            Packet::LoginRequest(_) => t::LOGIN_REQUEST,
            Packet::ClientHeartbeat => t::CLIENT_HEARTBEAT,
            Packet::LogoutRequest => t::LOGOUT_REQUEST,
        }
    }

    /// Payload bytes (after the type byte).
    pub fn payload_bytes(&self) -> usize {
        match self {
            Packet::Debug(bytes)
            | Packet::SequencedData(bytes)
            | Packet::UnsequencedData(bytes) => bytes.len(),
            Packet::LoginAccepted(_) => LOGIN_ACCEPTED_PAYLOAD_BYTES,
            Packet::LoginRejected(_) => 1,
            Packet::LoginRequest(_) => LOGIN_REQUEST_PAYLOAD_BYTES,
            Packet::ServerHeartbeat
            | Packet::EndOfSession
            | Packet::ClientHeartbeat
            | Packet::LogoutRequest => 0,
        }
    }

    /// Bytes the packet occupies on the wire, length field included.
    pub fn frame_bytes(&self) -> usize {
        FRAME_HEADER_BYTES + self.payload_bytes()
    }

    /// Writes the whole frame (length, type, payload) to the front of `out` and returns its size. A payload
    /// longer than the length field can describe is `ValueOutOfRange`.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let length =
            u16::try_from(1 + self.payload_bytes()).map_err(|_| EncodeError::ValueOutOfRange {
                field: "packet length",
            })?;
        check_room(out, self.frame_bytes())?;
        let mut writer = Writer::new(out);
        writer.u16(length);
        writer.u8(self.packet_type());
        match self {
            Packet::Debug(bytes)
            | Packet::SequencedData(bytes)
            | Packet::UnsequencedData(bytes) => writer.bytes(bytes),
            Packet::LoginAccepted(accepted) => {
                writer.bytes(&accepted.session.0);
                write_numeric(&mut writer, accepted.sequence_number, "sequence_number");
            }
            Packet::LoginRejected(reason) => writer.u8(reason.as_byte()),
            Packet::LoginRequest(login) => {
                writer.bytes(&login.username);
                writer.bytes(&login.password);
                writer.bytes(&login.requested_session.0);
                write_numeric(
                    &mut writer,
                    login.requested_sequence_number,
                    "requested_sequence_number",
                );
            }
            Packet::ServerHeartbeat
            | Packet::EndOfSession
            | Packet::ClientHeartbeat
            | Packet::LogoutRequest => {}
        }
        writer.finish()
    }
}

/// The payload of a fixed-size packet, or `BadLength`.
fn fixed<const N: usize>(frame: Frame<'_>) -> Result<[u8; N], SoupError> {
    <[u8; N]>::try_from(frame.payload).map_err(|_| SoupError::BadLength {
        packet_type: frame.packet_type,
        expected_bytes: N,
        actual_bytes: frame.payload.len(),
    })
}

fn empty<'a>(frame: Frame<'_>, packet: Packet<'a>) -> Result<Packet<'a>, SoupError> {
    fixed::<0>(frame).map(|_| packet)
}

/// Copies a sub-slice whose length the caller's `split_at` fixed; a wrong length yields spaces, never a panic.
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    <[u8; N]>::try_from(bytes).unwrap_or([b' '; N])
}

fn numeric(bytes: &[u8], field: &'static str) -> Result<u64, SoupError> {
    parse_ascii_numeric(bytes).ok_or(SoupError::BadNumeric { field })
}

fn write_numeric(writer: &mut Writer<'_>, value: u64, field: &'static str) {
    // Twenty digits hold every u64, so the field always fits; the fallback only keeps this panic-free.
    match ascii_numeric::<SEQUENCE_NUMBER_BYTES>(value) {
        Some(digits) => writer.bytes(&digits),
        None => writer.reject_value(field),
    }
}
