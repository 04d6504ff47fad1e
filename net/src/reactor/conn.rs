//! The connection table and its send queues: the backend-independent half of the reactor.

use std::os::fd::RawFd;

use super::{CloseReason, ConnId, ReactorConfig, SendError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlotState {
    Free,
    Open,
    /// Closed by the owner or by the reactor; the `Closed` event has not been delivered yet.
    Closing,
    /// `Closed` delivered; the backend still waits for the kernel to finish operations on the socket.
    Draining,
}

/// Unsent bytes of one connection in a fixed ring. Bytes from `head` for `len` are queued; the first `in_flight`
/// of them are being sent by the kernel (io_uring) and must not move until the send completes. New bytes are only
/// ever written after `head + len`, so a send in flight never sees its bytes change.
pub(crate) struct SendQueue {
    bytes: Box<[u8]>,
    head: usize,
    len: usize,
    pub(crate) in_flight: usize,
}

impl SendQueue {
    fn new(capacity_bytes: usize) -> SendQueue {
        assert!(capacity_bytes > 0);
        SendQueue {
            bytes: vec![0; capacity_bytes].into_boxed_slice(),
            head: 0,
            len: 0,
            in_flight: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn free_bytes(&self) -> usize {
        self.bytes.len() - self.len
    }

    fn push(&mut self, src: &[u8]) {
        assert!(src.len() <= self.free_bytes());
        let capacity = self.bytes.len();
        let tail = (self.head + self.len) % capacity;
        let first = src.len().min(capacity - tail);
        self.bytes[tail..tail + first].copy_from_slice(&src[..first]);
        self.bytes[..src.len() - first].copy_from_slice(&src[first..]);
        self.len += src.len();
    }

    /// The longest contiguous run of queued bytes that is not already in flight.
    pub(crate) fn unsent(&self) -> &[u8] {
        let capacity = self.bytes.len();
        let start = (self.head + self.in_flight) % capacity;
        let count = (self.len - self.in_flight).min(capacity - start);
        &self.bytes[start..start + count]
    }

    /// Drops `sent_bytes` from the front, after the kernel has taken them.
    pub(crate) fn consume(&mut self, sent_bytes: usize) {
        assert!(sent_bytes <= self.len);
        self.head = (self.head + sent_bytes) % self.bytes.len();
        self.len -= sent_bytes;
    }

    fn clear(&mut self) {
        assert_eq!(self.in_flight, 0);
        self.head = 0;
        self.len = 0;
    }
}

pub(crate) struct Slot {
    pub(crate) generation: u32,
    pub(crate) state: SlotState,
    pub(crate) fd: RawFd,
    pub(crate) close_reason: CloseReason,
    pub(crate) queue: SendQueue,
    /// On the `dirty` list: has bytes that the next flush should send.
    dirty: bool,
    /// Backend bookkeeping: kernel operations (io_uring) not yet completed on this socket.
    pub(crate) ops_in_flight: u32,
    /// Backend bookkeeping: io_uring's multishot receive is armed / epoll waits for EPOLLOUT.
    pub(crate) armed: bool,
}

/// The connection table. The callback of `Reactor::poll` gets it to send and close through.
pub struct Connections {
    pub(crate) slots: Box<[Slot]>,
    free: Vec<u32>,
    dirty: Vec<u32>,
    closing: Vec<u32>,
    open: usize,
}

impl Connections {
    pub(crate) fn new(config: &ReactorConfig) -> Connections {
        let slots: Vec<Slot> = (0..config.max_connections)
            .map(|_| Slot {
                generation: 0,
                state: SlotState::Free,
                fd: -1,
                close_reason: CloseReason::Shutdown,
                queue: SendQueue::new(config.send_queue_bytes_max),
                dirty: false,
                ops_in_flight: 0,
                armed: false,
            })
            .collect();
        // Slots are handed out lowest first, so the free list is a stack with slot 0 on top.
        let free = (0..config.max_connections as u32).rev().collect();
        Connections {
            slots: slots.into_boxed_slice(),
            free,
            dirty: Vec::with_capacity(config.max_connections),
            closing: Vec::with_capacity(config.max_connections),
            open: 0,
        }
    }

    /// Connections accepted and not yet fully released.
    pub fn open_connections(&self) -> usize {
        self.open
    }

    /// Queues `bytes` for `id`. A queue that cannot take them all takes none, and the connection is closed with
    /// `CloseReason::SlowConsumer`: a peer that does not read is disconnected, never buffered without limit.
    pub fn send(&mut self, id: ConnId, bytes: &[u8]) -> Result<(), SendError> {
        let Some(slot) = self.open_slot(id) else {
            return Err(SendError::NotConnected);
        };
        if bytes.is_empty() {
            return Ok(());
        }
        let entry = &mut self.slots[slot];
        if bytes.len() > entry.queue.free_bytes() {
            self.close(id, CloseReason::SlowConsumer);
            return Err(SendError::SlowConsumer);
        }
        entry.queue.push(bytes);
        self.mark_dirty(slot);
        Ok(())
    }

    /// Closes `id` with `reason`; `poll` delivers its `Closed` event. Returns false for a connection that is
    /// already closed or a stale id.
    pub fn close(&mut self, id: ConnId, reason: CloseReason) -> bool {
        let Some(slot) = self.open_slot(id) else {
            return false;
        };
        self.slots[slot].state = SlotState::Closing;
        self.slots[slot].close_reason = reason;
        self.closing.push(slot as u32);
        true
    }

    /// Bytes `id` can queue now without being closed as a slow consumer; 0 for a closed connection.
    pub fn free_send_bytes(&self, id: ConnId) -> usize {
        self.open_slot(id)
            .map_or(0, |slot| self.slots[slot].queue.free_bytes())
    }

    /// Whether `id` names an open connection.
    pub fn is_open(&self, id: ConnId) -> bool {
        self.open_slot(id).is_some()
    }

    fn open_slot(&self, id: ConnId) -> Option<usize> {
        let slot = self.slots.get(id.slot as usize)?;
        (slot.generation == id.generation && slot.state == SlotState::Open)
            .then_some(id.slot as usize)
    }

    pub(crate) fn id(&self, slot: usize) -> ConnId {
        ConnId {
            slot: slot as u32,
            generation: self.slots[slot].generation,
        }
    }

    pub(crate) fn mark_dirty(&mut self, slot: usize) {
        if !self.slots[slot].dirty {
            self.slots[slot].dirty = true;
            self.dirty.push(slot as u32);
        }
    }

    /// Takes the next slot off the dirty list.
    pub(crate) fn pop_dirty(&mut self) -> Option<usize> {
        let slot = self.dirty.pop()? as usize;
        self.slots[slot].dirty = false;
        Some(slot)
    }

    /// Best effort, just before the backend closes `slot`'s socket: hands the kernel the bytes still queued, so
    /// the last packets an owner sends before closing (a login reject, a Debug packet, End of Session) reach the
    /// peer. Only for a close the owner asked for, only when no send is in flight (queued bytes must not pass
    /// it), and without blocking: whatever the socket buffer does not take is dropped with the connection.
    pub(crate) fn flush_before_close(&mut self, slot: usize) {
        let entry = &mut self.slots[slot];
        if !matches!(entry.close_reason, CloseReason::Application { .. })
            || entry.queue.in_flight > 0
            || entry.fd < 0
        {
            return;
        }
        // Two contiguous runs cover the ring; a short send ends the attempt.
        for _ in 0..2 {
            let unsent = entry.queue.unsent();
            if unsent.is_empty() {
                return;
            }
            // SAFETY: the pointer and length describe queued bytes that live across the call, and `fd` is the
            // connection's open socket (the backend closes it only after this returns).
            let sent = unsafe {
                libc::send(
                    entry.fd,
                    unsent.as_ptr().cast(),
                    unsent.len(),
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                )
            };
            if sent <= 0 {
                return;
            }
            let sent = sent as usize;
            let whole_run = sent == unsent.len();
            entry.queue.consume(sent);
            if !whole_run {
                return;
            }
        }
    }

    pub(crate) fn pop_closing(&mut self) -> Option<usize> {
        self.closing.pop().map(|slot| slot as usize)
    }

    /// Takes a free slot for an accepted socket, or `None` when the table is full.
    pub(crate) fn open_slot_for(&mut self, fd: RawFd) -> Option<usize> {
        let slot = self.free.pop()? as usize;
        let entry = &mut self.slots[slot];
        debug_assert_eq!(entry.state, SlotState::Free);
        entry.state = SlotState::Open;
        entry.fd = fd;
        entry.ops_in_flight = 0;
        entry.armed = false;
        entry.queue.clear();
        self.open += 1;
        Some(slot)
    }

    /// Returns a slot whose socket the backend has closed. The generation moves on so old ids go stale.
    pub(crate) fn release(&mut self, slot: usize) {
        let entry = &mut self.slots[slot];
        assert!(matches!(
            entry.state,
            SlotState::Closing | SlotState::Draining
        ));
        assert_eq!(entry.ops_in_flight, 0);
        entry.state = SlotState::Free;
        entry.fd = -1;
        entry.generation = entry.generation.wrapping_add(1);
        entry.queue.in_flight = 0;
        entry.queue.clear();
        self.open -= 1;
        self.free.push(slot as u32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reactor::Backend;

    fn table(send_queue_bytes_max: usize) -> Connections {
        Connections::new(&ReactorConfig {
            backend: Backend::Epoll,
            max_connections: 2,
            send_queue_bytes_max,
            ..ReactorConfig::default()
        })
    }

    #[test]
    fn send_queue_wraps_and_never_moves_bytes_in_flight() {
        let mut queue = SendQueue::new(8);
        queue.push(b"abcdef");
        queue.in_flight = 6;
        assert_eq!(queue.unsent(), b"");
        queue.push(b"gh");
        queue.consume(6);
        queue.in_flight = 0;
        queue.push(b"ijkl");
        // Bytes run "gh" to the end of the ring, then "ijkl" from its start.
        assert_eq!(queue.unsent(), b"gh");
        queue.consume(2);
        assert_eq!(queue.unsent(), b"ijkl");
        queue.consume(4);
        assert_eq!(queue.len(), 0);
    }

    #[test]
    fn a_send_past_the_bound_closes_as_slow_consumer_and_the_id_goes_stale() {
        let mut conns = table(8);
        let slot = conns.open_slot_for(100).expect("free slot");
        let id = conns.id(slot);
        assert_eq!(conns.send(id, b"12345678"), Ok(()));
        assert_eq!(conns.send(id, b"9"), Err(SendError::SlowConsumer));
        assert_eq!(conns.send(id, b"9"), Err(SendError::NotConnected));
        assert_eq!(conns.pop_closing(), Some(slot));
        assert_eq!(conns.slots[slot].close_reason, CloseReason::SlowConsumer);
        conns.release(slot);
        let reused = conns.open_slot_for(101).expect("slot reused");
        assert_eq!(reused, slot);
        assert_ne!(conns.id(reused), id);
        assert_eq!(conns.send(id, b"x"), Err(SendError::NotConnected));
        assert!(!conns.close(id, CloseReason::Application { code: 1 }));
    }

    #[test]
    fn a_full_table_refuses_another_slot() {
        let mut conns = table(8);
        assert!(conns.open_slot_for(1).is_some());
        assert!(conns.open_slot_for(2).is_some());
        assert_eq!(conns.open_slot_for(3), None);
        assert_eq!(conns.open_connections(), 2);
    }
}
