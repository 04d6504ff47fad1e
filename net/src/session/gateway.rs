//! The session layer on the reactor: one loop type that owns both and reads the clock once per iteration.

use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{SessionEvent, SessionManager, StoreError, UserId};
use crate::reactor::{Event, Reactor, ReactorError};

/// A SoupBinTCP server: the reactor's connections driven through a `SessionManager`. Single-threaded, like the
/// reactor. The application calls `poll` in its loop and `publish` between polls; bytes queued between polls go
/// out at the start of the next one, before it waits.
pub struct Gateway {
    reactor: Reactor,
    sessions: SessionManager,
    epoch: Instant,
    /// The clock as read by the last `poll`, so `publish` between polls needs no clock read of its own.
    now_ns: u64,
}

impl Gateway {
    pub fn new(reactor: Reactor, sessions: SessionManager) -> Gateway {
        Gateway {
            reactor,
            sessions,
            epoch: Instant::now(),
            now_ns: 0,
        }
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.reactor.local_addr()
    }

    pub fn reactor(&self) -> &Reactor {
        &self.reactor
    }

    /// Lets another thread end this loop's waits by writing to an eventfd (see `Reactor::add_wake_fd`).
    pub fn add_wake_fd(
        &mut self,
        fd: std::os::fd::RawFd,
    ) -> Result<(), crate::reactor::ReactorError> {
        self.reactor.add_wake_fd(fd)
    }

    /// Moves password verification off this thread (see `SessionManager::verify_off_thread`).
    pub fn verify_off_thread(&mut self) -> io::Result<()> {
        self.sessions.verify_off_thread()
    }

    pub fn sessions(&self) -> &SessionManager {
        &self.sessions
    }

    /// One loop iteration: waits up to `timeout` for I/O, hands every connection event to the session layer,
    /// then runs its timers. The clock is read once, after the wait, and that time is used for everything in
    /// the iteration.
    pub fn poll<F>(&mut self, timeout: Duration, mut on_event: F) -> Result<(), ReactorError>
    where
        F: FnMut(SessionEvent<'_>),
    {
        let epoch = self.epoch;
        let mut now_ns: Option<u64> = None;
        let sessions = &mut self.sessions;
        self.reactor.poll(timeout, |conns, event| {
            let now_ns = *now_ns.get_or_insert_with(|| elapsed_ns(epoch));
            match event {
                Event::Accepted(conn, _) => sessions.on_accepted(conn, now_ns, conns),
                Event::Data(conn, bytes) => {
                    sessions.on_data(conn, bytes, now_ns, conns, &mut on_event)
                }
                Event::Closed(conn, reason) => sessions.on_closed(conn, reason, &mut on_event),
                Event::Refused(..) => {}
            }
        })?;
        let now_ns = now_ns.unwrap_or_else(|| elapsed_ns(epoch));
        self.now_ns = now_ns;
        self.sessions
            .poll_verified(now_ns, &mut self.reactor, &mut on_event);
        self.sessions
            .on_tick(now_ns, &mut self.reactor, &mut on_event);
        Ok(())
    }

    /// Appends an outbound OUCH message to `user`'s session (see `SessionManager::publish`).
    pub fn publish<F>(
        &mut self,
        user: UserId,
        message: &[u8],
        mut on_event: F,
    ) -> Result<u64, StoreError>
    where
        F: FnMut(SessionEvent<'_>),
    {
        self.sessions
            .publish(user, message, self.now_ns, &mut self.reactor, &mut on_event)
    }

    /// Closes `conn` for an application reason; the session layer hears of it as `Closed` on the next poll.
    pub fn close(
        &mut self,
        conn: crate::reactor::ConnId,
        reason: crate::reactor::CloseReason,
    ) -> bool {
        self.reactor.close(conn, reason)
    }

    /// Takes logins, or refuses each with Login Rejected `S` (see `SessionManager::set_serving`).
    pub fn set_serving(&mut self, serving: bool) {
        self.sessions.set_serving(serving);
    }

    /// Restores `user`'s next outbound sequence number (see `SessionManager::start_sequence_at`).
    pub fn start_sequence_at(
        &mut self,
        user: UserId,
        next_sequence: u64,
    ) -> Result<(), StoreError> {
        self.sessions.start_sequence_at(user, next_sequence)
    }

    /// Sends End of Session to every logged-in client and closes every connection.
    pub fn end_session<F>(&mut self, mut on_event: F)
    where
        F: FnMut(SessionEvent<'_>),
    {
        self.sessions
            .end_session(self.now_ns, &mut self.reactor, &mut on_event);
    }
}

fn elapsed_ns(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}
