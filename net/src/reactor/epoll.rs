//! The epoll backend: non-blocking sockets, level-triggered readiness, and `send` calls made directly at flush.

use std::io;
use std::mem;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use super::conn::{Connections, SlotState};
use super::sys;
use super::{CloseReason, Event, ReactorConfig, ReactorError};

const LISTENER_TOKEN: u64 = u64::MAX;
const WAKE_TOKEN: u64 = u64::MAX - 1;
/// Accepts per readiness event, so a connect storm cannot starve established connections.
const ACCEPTS_PER_POLL_MAX: usize = 64;
/// Receives per connection per readiness event, for the same fairness.
const READS_PER_EVENT_MAX: usize = 4;

pub(crate) struct EpollIo {
    epfd: RawFd,
    listener_fd: RawFd,
    events: Box<[libc::epoll_event]>,
    recv_buffer: Box<[u8]>,
    socket_send_buffer_bytes: Option<usize>,
    /// The eventfd whose writes end a wait (`add_wake_fd`).
    wake_fd: Option<RawFd>,
}

impl Drop for EpollIo {
    fn drop(&mut self) {
        sys::close_fd(self.epfd);
    }
}

fn token(slot: usize, generation: u32) -> u64 {
    (u64::from(generation) << 32) | slot as u64
}

impl EpollIo {
    pub(crate) fn new(
        listener: &TcpListener,
        config: &ReactorConfig,
    ) -> Result<EpollIo, ReactorError> {
        listener
            .set_nonblocking(true)
            .map_err(ReactorError::Epoll)?;
        // SAFETY: epoll_create1 has no memory arguments.
        let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epfd < 0 {
            return Err(ReactorError::Epoll(io::Error::last_os_error()));
        }
        let io = EpollIo {
            epfd,
            listener_fd: listener.as_raw_fd(),
            events: vec![
                libc::epoll_event { events: 0, u64: 0 };
                config.max_connections.min(1024) + 1
            ]
            .into_boxed_slice(),
            recv_buffer: vec![0; config.recv_buffer_bytes].into_boxed_slice(),
            socket_send_buffer_bytes: config.socket_send_buffer_bytes,
            wake_fd: None,
        };
        io.control(
            libc::EPOLL_CTL_ADD,
            io.listener_fd,
            libc::EPOLLIN as u32,
            LISTENER_TOKEN,
        )
        .map_err(ReactorError::Epoll)?;
        Ok(io)
    }

    /// Closes every socket; the kernel holds no user memory between epoll calls, so nothing waits.
    pub(crate) fn shutdown(&mut self, conns: &mut Connections) {
        for slot in 0..conns.slots.len() {
            if conns.slots[slot].state != SlotState::Free {
                sys::close_fd(conns.slots[slot].fd);
                conns.slots[slot].fd = -1;
            }
        }
    }

    pub(crate) fn add_wake_fd(&mut self, fd: RawFd) -> Result<(), ReactorError> {
        self.control(libc::EPOLL_CTL_ADD, fd, libc::EPOLLIN as u32, WAKE_TOKEN)
            .map_err(ReactorError::Epoll)?;
        self.wake_fd = Some(fd);
        Ok(())
    }

    fn control(&self, op: i32, fd: RawFd, events: u32, data: u64) -> io::Result<()> {
        let mut event = libc::epoll_event { events, u64: data };
        // SAFETY: `event` lives across the call; the kernel copies it.
        let rc = unsafe { libc::epoll_ctl(self.epfd, op, fd, &mut event) };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    pub(crate) fn poll<F>(
        &mut self,
        conns: &mut Connections,
        timeout: Duration,
        mut on_event: F,
    ) -> Result<usize, ReactorError>
    where
        F: FnMut(&mut Connections, Event<'_>),
    {
        let mut delivered = 0;
        // Closes and sends requested between polls go out before we sleep.
        delivered += self.finish_iteration(conns, &mut on_event);
        let timeout_ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: `events` is a live buffer of `events.len()` entries for the kernel to fill.
        let ready = unsafe {
            libc::epoll_wait(
                self.epfd,
                self.events.as_mut_ptr(),
                self.events.len() as i32,
                timeout_ms,
            )
        };
        if ready < 0 {
            let error = io::Error::last_os_error();
            if error.kind() == io::ErrorKind::Interrupted {
                return Ok(delivered);
            }
            return Err(ReactorError::Epoll(error));
        }
        for index in 0..ready as usize {
            let libc::epoll_event { events, u64: data } = self.events[index];
            if data == LISTENER_TOKEN {
                delivered += self.accept_ready(conns, &mut on_event);
                continue;
            }
            if data == WAKE_TOKEN {
                if let Some(fd) = self.wake_fd {
                    sys::drain_eventfd(fd);
                }
                continue;
            }
            let slot = (data & u64::from(u32::MAX)) as usize;
            let generation = (data >> 32) as u32;
            if slot >= conns.slots.len()
                || conns.slots[slot].generation != generation
                || conns.slots[slot].state != SlotState::Open
            {
                continue;
            }
            if events & (libc::EPOLLIN | libc::EPOLLERR | libc::EPOLLHUP | libc::EPOLLRDHUP) as u32
                != 0
            {
                delivered += self.read_ready(conns, slot, &mut on_event);
            }
            if events & libc::EPOLLOUT as u32 != 0 {
                conns.mark_dirty(slot);
            }
        }
        delivered += self.finish_iteration(conns, &mut on_event);
        Ok(delivered)
    }

    fn accept_ready<F>(&mut self, conns: &mut Connections, on_event: &mut F) -> usize
    where
        F: FnMut(&mut Connections, Event<'_>),
    {
        let mut delivered = 0;
        for _ in 0..ACCEPTS_PER_POLL_MAX {
            // SAFETY: sockaddr_storage is plain old data; all zeroes is a valid value.
            let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
            let mut len = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            // SAFETY: the pointer and length describe `storage`, which lives across the call.
            let fd = unsafe {
                libc::accept4(
                    self.listener_fd,
                    (&mut storage as *mut libc::sockaddr_storage).cast(),
                    &mut len,
                    libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                )
            };
            if fd < 0 {
                // EAGAIN ends the batch; anything else (EMFILE, ECONNABORTED) is retried on the next readiness.
                break;
            }
            let peer = sys::sockaddr_to_std(&storage);
            let Some(slot) = conns.open_slot_for(fd) else {
                sys::close_fd(fd);
                on_event(conns, Event::Refused(peer, CloseReason::MaxConnections));
                delivered += 1;
                continue;
            };
            sys::configure_accepted(fd, self.socket_send_buffer_bytes);
            let id = conns.id(slot);
            let interest = (libc::EPOLLIN | libc::EPOLLRDHUP) as u32;
            if let Err(error) = self.control(
                libc::EPOLL_CTL_ADD,
                fd,
                interest,
                token(slot, id.generation),
            ) {
                // The slot is open, so the Closed event pairs with this Accepted one.
                on_event(conns, Event::Accepted(id, peer));
                conns.close(
                    id,
                    CloseReason::IoError {
                        errno: error.raw_os_error().unwrap_or(libc::EIO),
                    },
                );
                delivered += 1;
                continue;
            }
            on_event(conns, Event::Accepted(id, peer));
            delivered += 1;
        }
        delivered
    }

    fn read_ready<F>(&mut self, conns: &mut Connections, slot: usize, on_event: &mut F) -> usize
    where
        F: FnMut(&mut Connections, Event<'_>),
    {
        let mut delivered = 0;
        for _ in 0..READS_PER_EVENT_MAX {
            if conns.slots[slot].state != SlotState::Open {
                break;
            }
            let id = conns.id(slot);
            let fd = conns.slots[slot].fd;
            // SAFETY: the pointer and length describe `recv_buffer`, which lives across the call.
            let received = unsafe {
                libc::recv(
                    fd,
                    self.recv_buffer.as_mut_ptr().cast(),
                    self.recv_buffer.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if received > 0 {
                on_event(
                    conns,
                    Event::Data(id, &self.recv_buffer[..received as usize]),
                );
                delivered += 1;
                continue;
            }
            if received == 0 {
                conns.close(id, CloseReason::PeerClosed);
                break;
            }
            let errno = sys::last_errno();
            if errno != libc::EAGAIN && errno != libc::EINTR {
                conns.close(id, CloseReason::IoError { errno });
            }
            break;
        }
        delivered
    }

    /// Delivers pending closes and flushes dirty send queues until neither produces more work. Each round closes
    /// or empties at least one connection, so the loop is bounded by the table size.
    fn finish_iteration<F>(&mut self, conns: &mut Connections, on_event: &mut F) -> usize
    where
        F: FnMut(&mut Connections, Event<'_>),
    {
        let mut delivered = 0;
        for _ in 0..=conns.slots.len() * 2 + 1 {
            let mut progressed = false;
            while let Some(slot) = conns.pop_closing() {
                progressed = true;
                let id = conns.id(slot);
                let fd = conns.slots[slot].fd;
                let reason = conns.slots[slot].close_reason;
                conns.flush_before_close(slot);
                // Removal fails only if the fd was never added; closing it removes it anyway.
                let _ = self.control(libc::EPOLL_CTL_DEL, fd, 0, 0);
                sys::close_fd(fd);
                conns.release(slot);
                on_event(conns, Event::Closed(id, reason));
                delivered += 1;
            }
            while let Some(slot) = conns.pop_dirty() {
                progressed = true;
                self.flush(conns, slot);
            }
            if !progressed {
                break;
            }
        }
        delivered
    }

    fn flush(&mut self, conns: &mut Connections, slot: usize) {
        if conns.slots[slot].state != SlotState::Open {
            return;
        }
        let id = conns.id(slot);
        let fd = conns.slots[slot].fd;
        // Each send either empties a contiguous run, stops at EAGAIN, or fails; two runs cover the ring.
        for _ in 0..4 {
            let unsent = conns.slots[slot].queue.unsent();
            if unsent.is_empty() {
                break;
            }
            // SAFETY: the pointer and length describe queued bytes that live across the call.
            let sent = unsafe {
                libc::send(
                    fd,
                    unsent.as_ptr().cast(),
                    unsent.len(),
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                )
            };
            if sent >= 0 {
                conns.slots[slot].queue.consume(sent as usize);
                continue;
            }
            let errno = sys::last_errno();
            if errno == libc::EAGAIN || errno == libc::EINTR {
                break;
            }
            conns.close(id, CloseReason::IoError { errno });
            return;
        }
        let want_write = conns.slots[slot].queue.len() > 0;
        if want_write != conns.slots[slot].armed {
            let mut interest = (libc::EPOLLIN | libc::EPOLLRDHUP) as u32;
            if want_write {
                interest |= libc::EPOLLOUT as u32;
            }
            match self.control(
                libc::EPOLL_CTL_MOD,
                fd,
                interest,
                token(slot, id.generation),
            ) {
                Ok(()) => conns.slots[slot].armed = want_write,
                Err(error) => {
                    conns.close(
                        id,
                        CloseReason::IoError {
                            errno: error.raw_os_error().unwrap_or(libc::EIO),
                        },
                    );
                }
            }
        }
    }
}
