//! The reactor: a single-threaded TCP event loop that the gateway runs on its own core.
//!
//! One listening socket, a fixed table of connections and, per connection, a bounded send queue, all allocated
//! when the reactor is bound; nothing is allocated per event afterwards. `Reactor::poll` waits for I/O, hands each
//! accept, receive and close to the caller's callback as an [`Event`], and at the end of the iteration flushes every
//! send queue that the callback wrote to, so replies are coalesced into one send per connection per iteration.
//!
//! Two backends do the I/O: `io_uring` (multishot accept, multishot receive into provided buffers, batched
//! submission; see `uring`) and `epoll` (non-blocking sockets, level-triggered; see `epoll`). `Backend::Auto`
//! prefers io_uring and falls back to epoll when the kernel or a seccomp profile refuses it, keeping the reason for
//! the caller to show ([`Reactor::fallback_reason`]). The reactor never logs and never panics on peer behaviour:
//! every error on a connection closes that connection with a [`CloseReason`].
//!
//! Lifecycle of a connection as the callback sees it: exactly one `Accepted`, any number of `Data`, exactly one
//! `Closed`. A connection refused because the table is full is reported once as `Refused` and never gets an id.

mod conn;
mod epoll;
mod sys;
mod uring;

pub use conn::Connections;

use std::io;
use std::marker::PhantomData;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::RawFd;
use std::time::Duration;

use thiserror::Error;

/// Which I/O backend to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// io_uring when the kernel allows it, otherwise epoll (the reason is kept, see `Reactor::fallback_reason`).
    Auto,
    /// io_uring or an error: used by tests and by operators who want to know.
    IoUring,
    /// epoll, never io_uring.
    Epoll,
}

/// Sizes of everything the reactor preallocates. Every limit here is a hard bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReactorConfig {
    pub backend: Backend,
    /// Open connections at most; one more is accepted and closed at once with `CloseReason::MaxConnections`.
    pub max_connections: usize,
    /// Bytes in one receive buffer: the most one `Event::Data` carries.
    pub recv_buffer_bytes: usize,
    /// Receive buffers shared by all connections (io_uring's provided-buffer group; epoll uses one).
    pub recv_buffers: usize,
    /// Bytes a connection may have queued and unsent; a send beyond this disconnects it as a slow consumer.
    pub send_queue_bytes_max: usize,
    /// SO_SNDBUF for accepted sockets, or `None` for the kernel's default (and autotuning).
    pub socket_send_buffer_bytes: Option<usize>,
    /// io_uring submission queue entries (the completion queue is four times larger).
    pub ring_entries: u32,
    /// A kernel thread polls the submission queue (io_uring SQPOLL), so submitting needs no system call while it
    /// is awake. io_uring only; a kernel that refuses it is an error, not a silent fallback.
    pub sqpoll: Option<SqPoll>,
    /// NAPI busy polling on the ring's sockets for this many microseconds before sleeping (Linux 6.9+; io_uring
    /// only). Pays off with a NIC whose interrupts are moderated; on loopback it changes nothing.
    pub napi_busy_poll_us: Option<u32>,
}

/// The SQPOLL kernel thread's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqPoll {
    /// Pin the kernel thread to this CPU (it spins while there is work: never put it on a busy-spinning core).
    pub cpu: Option<u32>,
    /// The thread sleeps after this long without submissions (the next submit wakes it with a system call).
    pub idle_ms: u32,
}

impl Default for ReactorConfig {
    fn default() -> Self {
        ReactorConfig {
            backend: Backend::Auto,
            max_connections: 256,
            recv_buffer_bytes: 16 * 1024,
            recv_buffers: 512,
            send_queue_bytes_max: 1024 * 1024,
            socket_send_buffer_bytes: None,
            ring_entries: 1024,
            sqpoll: None,
            napi_busy_poll_us: None,
        }
    }
}

/// A connection's handle. The generation makes a handle to a closed connection useless even after its slot is
/// reused: `send` to it returns `SendError::NotConnected` instead of writing to a stranger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnId {
    pub(crate) slot: u32,
    pub(crate) generation: u32,
}

impl ConnId {
    /// The connection's slot in the table, below `max_connections`: an index for the caller's own per-connection
    /// arrays.
    pub fn slot(&self) -> usize {
        self.slot as usize
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer closed its side (a receive returned end of file).
    PeerClosed,
    /// A socket operation failed with this errno (ECONNRESET for an abrupt disconnect).
    IoError { errno: i32 },
    /// The connection's unsent bytes would have exceeded `send_queue_bytes_max`.
    SlowConsumer,
    /// The connection table was full when this connection arrived.
    MaxConnections,
    /// The owner closed the connection through `close`, with its own code.
    Application { code: u16 },
    /// The reactor is shutting down.
    Shutdown,
}

/// What `poll` reports. `Data` borrows the receive buffer, which goes back to the kernel when the callback returns.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    Accepted(ConnId, SocketAddr),
    Data(ConnId, &'a [u8]),
    Closed(ConnId, CloseReason),
    Refused(SocketAddr, CloseReason),
}

/// Why `send` did not queue the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SendError {
    #[error("connection is closed or the id is stale")]
    NotConnected,
    #[error("send queue full: the connection is disconnected as a slow consumer")]
    SlowConsumer,
}

/// Errors of binding and polling the reactor (per-connection errors close the connection instead).
#[derive(Debug, Error)]
pub enum ReactorError {
    #[error("invalid reactor configuration: {0}")]
    Config(&'static str),
    #[error("cannot bind {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("io_uring unavailable: {0}")]
    IoUringUnavailable(String),
    #[error("io_uring SQPOLL was asked for and the kernel refused it: {0}")]
    SqPollRefused(String),
    #[error(
        "NAPI busy polling was asked for and the kernel refused it (it needs Linux 6.9+): {0}"
    )]
    NapiRefused(String),
    #[error("epoll: {0}")]
    Epoll(io::Error),
    #[error("io_uring: {0}")]
    IoUring(io::Error),
}

enum Io {
    Uring(Box<uring::UringIo>),
    Epoll(epoll::EpollIo),
}

/// The event loop. It must be bound and polled on one thread (io_uring is set up single-issuer), so it is not
/// `Send`.
pub struct Reactor {
    // Field order is drop order: the I/O backend (which waits for the kernel to let go of every buffer) drops
    // before the connection table that owns the send queues.
    io: Io,
    conns: Connections,
    listener: TcpListener,
    fallback_reason: Option<String>,
    _not_send: PhantomData<*const ()>,
}

impl Reactor {
    /// Binds `addr`, allocates every table and buffer, and starts accepting.
    pub fn bind(addr: SocketAddr, config: ReactorConfig) -> Result<Reactor, ReactorError> {
        validate(&config)?;
        let listener =
            TcpListener::bind(addr).map_err(|source| ReactorError::Bind { addr, source })?;
        let conns = Connections::new(&config);
        let mut fallback_reason = None;
        let io = match config.backend {
            Backend::Epoll => Io::Epoll(epoll::EpollIo::new(&listener, &config)?),
            Backend::IoUring => Io::Uring(Box::new(uring::UringIo::new(&listener, &config)?)),
            Backend::Auto => match uring::UringIo::new(&listener, &config) {
                Ok(io) => Io::Uring(Box::new(io)),
                Err(ReactorError::IoUringUnavailable(why)) => {
                    fallback_reason = Some(format!("io_uring unavailable: {why}; using epoll"));
                    Io::Epoll(epoll::EpollIo::new(&listener, &config)?)
                }
                Err(error) => return Err(error),
            },
        };
        Ok(Reactor {
            io,
            conns,
            listener,
            fallback_reason,
            _not_send: PhantomData,
        })
    }

    /// The backend in use (never `Auto`).
    pub fn backend(&self) -> Backend {
        match self.io {
            Io::Uring(_) => Backend::IoUring,
            Io::Epoll(_) => Backend::Epoll,
        }
    }

    /// Why `Backend::Auto` fell back to epoll, for the caller to show; `None` if it did not.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback_reason.as_deref()
    }

    /// The bound address (the ephemeral port when bound to port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.conns.open_connections()
    }

    /// Waits up to `timeout` for I/O, delivers every event to `on_event`, then flushes the send queues that were
    /// written. The callback gets the connection table to `send` and `close` through. Returns the number of
    /// events delivered.
    pub fn poll<F>(&mut self, timeout: Duration, on_event: F) -> Result<usize, ReactorError>
    where
        F: FnMut(&mut Connections, Event<'_>),
    {
        match &mut self.io {
            Io::Uring(io) => io.poll(&mut self.conns, timeout, on_event),
            Io::Epoll(io) => io.poll(&mut self.conns, timeout, on_event),
        }
    }

    /// Adds `fd`, an eventfd another thread writes to, to what `poll` waits on: a write to it ends a wait at once.
    /// It delivers no event (the reactor reads the count back to zero). The caller keeps `fd` open for as long as
    /// the reactor lives.
    pub fn add_wake_fd(&mut self, fd: RawFd) -> Result<(), ReactorError> {
        match &mut self.io {
            Io::Uring(io) => io.add_wake_fd(fd),
            Io::Epoll(io) => io.add_wake_fd(fd),
        }
    }

    /// Whether `id` names an open connection.
    pub fn is_open(&self, id: ConnId) -> bool {
        self.conns.is_open(id)
    }

    /// Queues `bytes` on a connection; they are sent at the end of the next `poll` iteration.
    pub fn send(&mut self, id: ConnId, bytes: &[u8]) -> Result<(), SendError> {
        self.conns.send(id, bytes)
    }

    /// Bytes `id` can queue now without being closed as a slow consumer; 0 for a closed connection.
    pub fn free_send_bytes(&self, id: ConnId) -> usize {
        self.conns.free_send_bytes(id)
    }

    /// Closes a connection; its `Closed` event with `reason` comes from the next `poll`.
    pub fn close(&mut self, id: ConnId, reason: CloseReason) -> bool {
        self.conns.close(id, reason)
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        match &mut self.io {
            Io::Uring(io) => {
                if !io.shutdown(&mut self.conns) {
                    // Sends still in flight reference the queues: leak them rather than free memory the kernel
                    // may read.
                    std::mem::forget(std::mem::take(&mut self.conns.slots));
                }
            }
            Io::Epoll(io) => io.shutdown(&mut self.conns),
        }
    }
}

fn validate(config: &ReactorConfig) -> Result<(), ReactorError> {
    if config.backend == Backend::Epoll
        && (config.sqpoll.is_some() || config.napi_busy_poll_us.is_some())
    {
        return Err(ReactorError::Config(
            "sqpoll and napi_busy_poll_us are io_uring settings: the epoll backend cannot honour them",
        ));
    }
    if config.max_connections == 0 || config.max_connections > (1 << 20) {
        return Err(ReactorError::Config(
            "max_connections must be in 1..=1048576",
        ));
    }
    if config.recv_buffer_bytes == 0 || config.recv_buffer_bytes > (1 << 24) {
        return Err(ReactorError::Config(
            "recv_buffer_bytes must be in 1..=16777216",
        ));
    }
    if config.recv_buffers == 0 || config.recv_buffers > usize::from(u16::MAX) {
        return Err(ReactorError::Config("recv_buffers must be in 1..=65535"));
    }
    if config.send_queue_bytes_max == 0 || config.send_queue_bytes_max > (1 << 30) {
        return Err(ReactorError::Config(
            "send_queue_bytes_max must be in 1..=1073741824",
        ));
    }
    if !config.ring_entries.is_power_of_two() || config.ring_entries > 32768 {
        return Err(ReactorError::Config(
            "ring_entries must be a power of two up to 32768",
        ));
    }
    Ok(())
}
