//! The io_uring backend: one multishot accept, one multishot receive per connection drawing from a group of
//! provided buffers, at most one send in flight per connection, and one submission per loop iteration.
//!
//! Buffer lifetime, which every `unsafe` push below relies on: the kernel reads or writes three kinds of memory.
//! (1) The receive pool (`recv_pool`), allocated here at start-up, never resized, and freed only after `Drop` has
//! waited for every operation to complete. The kernel owns a buffer from the moment it is provided until a
//! completion names it; we hand it back (re-provide it) only after the callback that borrowed it returned.
//! (2) Send queues, owned by the connection table's slots, which are allocated at start-up and never move; a slot
//! is not reused while `ops_in_flight` is non-zero, and the in-flight bytes of a queue are never overwritten (see
//! `SendQueue`). The reactor drops this backend before the table, and this backend's `Drop` drains the ring.
//! (3) Nothing else: accepts pass no address buffer, cancels and provides carry only integers and pool pointers.

use std::io;
use std::net::TcpListener;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use io_uring::{cqueue, opcode, squeue, types, IoUring, Probe};

use super::conn::{Connections, SlotState};
use super::sys;
use super::{CloseReason, Event, ReactorConfig, ReactorError};

const BUFFER_GROUP: u16 = 0;

// user_data: the operation kind in the top byte, the slot's generation in the next three, the slot below.
const KIND_ACCEPT: u64 = 1;
const KIND_RECV: u64 = 2;
const KIND_SEND: u64 = 3;
const KIND_PROVIDE: u64 = 4;
const KIND_CANCEL: u64 = 5;
const KIND_WAKE: u64 = 6;

fn user_data(kind: u64, slot: usize, generation: u32) -> u64 {
    (kind << 56) | (u64::from(generation & 0x00ff_ffff) << 32) | slot as u64
}

pub(crate) struct UringIo {
    // Declared first so it drops first: its fd closes before the buffers below are freed.
    ring: IoUring,
    listener_fd: RawFd,
    accept_armed: bool,
    recv_pool: Box<[u8]>,
    recv_buffer_bytes: usize,
    socket_send_buffer_bytes: Option<usize>,
    /// Completions copied out of the ring so that handling them may submit new entries.
    completions: Vec<(u64, i32, u32)>,
    /// Operations submitted (or queued to submit) whose final completion has not arrived.
    ops_in_flight: u64,
    /// The eventfd whose writes end a wait (`add_wake_fd`), polled multishot.
    wake_fd: Option<RawFd>,
    /// The ring defers completion work to our `io_uring_enter` calls and says in its flags when some is waiting
    /// (`IORING_SETUP_DEFER_TASKRUN` with `IORING_SETUP_TASKRUN_FLAG`): a poll that may not wait can then skip the
    /// system call when it has nothing to submit and no work is waiting.
    flags_tell_pending_work: bool,
}

fn unavailable(what: &str, error: io::Error) -> ReactorError {
    ReactorError::IoUringUnavailable(format!("{what}: {error}"))
}

impl UringIo {
    pub(crate) fn new(
        listener: &TcpListener,
        config: &ReactorConfig,
    ) -> Result<UringIo, ReactorError> {
        let entries = config.ring_entries;
        let mut flags_tell_pending_work = false;
        let ring = match config.sqpoll {
            // A kernel thread polls the submission queue; deferred task running cannot be combined with it.
            Some(sqpoll) => {
                let mut builder = IoUring::builder();
                builder
                    .setup_cqsize(entries * 4)
                    .setup_single_issuer()
                    .setup_sqpoll(sqpoll.idle_ms);
                if let Some(cpu) = sqpoll.cpu {
                    builder.setup_sqpoll_cpu(cpu);
                }
                builder
                    .build(entries)
                    .map_err(|error| ReactorError::SqPollRefused(error.to_string()))?
            }
            // Single issuer and deferred task running let the kernel skip locking and run completions only when
            // we ask for them (6.1+), and the task-run flag tells us when there are some to ask for; an older
            // kernel refuses the flags, so retry without them.
            None => match IoUring::builder()
                .setup_cqsize(entries * 4)
                .setup_single_issuer()
                .setup_defer_taskrun()
                .setup_taskrun_flag()
                .build(entries)
            {
                Ok(ring) => {
                    flags_tell_pending_work = true;
                    ring
                }
                Err(_) => IoUring::builder()
                    .setup_cqsize(entries * 4)
                    .build(entries)
                    .map_err(|error| unavailable("io_uring_setup failed", error))?,
            },
        };
        if let Some(timeout_us) = config.napi_busy_poll_us {
            let mut napi = io_uring::types::Napi::new()
                .set_busy_poll_timeout(timeout_us)
                .set_prefer_busy_poll(true);
            ring.submitter()
                .register_napi(&mut napi)
                .map_err(|error| ReactorError::NapiRefused(error.to_string()))?;
        }
        if !ring.params().is_feature_ext_arg() || !ring.params().is_feature_nodrop() {
            return Err(ReactorError::IoUringUnavailable(
                "kernel lacks IORING_FEAT_EXT_ARG or IORING_FEAT_NODROP (needs 5.19+)".into(),
            ));
        }
        let mut probe = Probe::new();
        ring.submitter()
            .register_probe(&mut probe)
            .map_err(|error| unavailable("io_uring probe failed", error))?;
        // Multishot receive arrived in 6.0 together with SEND_ZC, which the probe can see; multishot receive
        // itself cannot be probed.
        for (code, name) in [
            (opcode::AcceptMulti::CODE, "ACCEPT"),
            (opcode::RecvMulti::CODE, "RECV"),
            (opcode::ProvideBuffers::CODE, "PROVIDE_BUFFERS"),
            (
                opcode::SendZc::CODE,
                "SEND_ZC (kernel 6.0, for multishot receive)",
            ),
        ] {
            if !probe.is_supported(code) {
                return Err(ReactorError::IoUringUnavailable(format!(
                    "opcode {name} not supported"
                )));
            }
        }
        let mut io = UringIo {
            ring,
            listener_fd: listener.as_raw_fd(),
            accept_armed: false,
            recv_pool: vec![0; config.recv_buffer_bytes * config.recv_buffers].into_boxed_slice(),
            recv_buffer_bytes: config.recv_buffer_bytes,
            socket_send_buffer_bytes: config.socket_send_buffer_bytes,
            completions: Vec::with_capacity(entries as usize * 4),
            ops_in_flight: 0,
            wake_fd: None,
            flags_tell_pending_work,
        };
        let provide = opcode::ProvideBuffers::new(
            io.recv_pool.as_mut_ptr(),
            config.recv_buffer_bytes as i32,
            config.recv_buffers as u16,
            BUFFER_GROUP,
            0,
        )
        .build()
        .user_data(user_data(KIND_PROVIDE, 0, 0));
        io.push(&provide).map_err(ReactorError::IoUring)?;
        io.arm_accept().map_err(ReactorError::IoUring)?;
        io.ring
            .submit()
            .map_err(|error| unavailable("first submit failed", error))?;
        Ok(io)
    }

    /// Queues one entry, submitting what is queued if the submission queue is full.
    fn push(&mut self, entry: &squeue::Entry) -> io::Result<()> {
        for _ in 0..2 {
            // SAFETY: every entry built in this file references only memory that outlives the operation, as the
            // module comment sets out.
            if unsafe { self.ring.submission().push(entry) }.is_ok() {
                self.ops_in_flight += 1;
                return Ok(());
            }
            self.ring.submit()?;
        }
        Err(io::Error::from_raw_os_error(libc::EBUSY))
    }

    fn arm_accept(&mut self) -> io::Result<()> {
        let entry = opcode::AcceptMulti::new(types::Fd(self.listener_fd))
            .flags(libc::SOCK_CLOEXEC)
            .build()
            .user_data(user_data(KIND_ACCEPT, 0, 0));
        self.push(&entry)?;
        self.accept_armed = true;
        Ok(())
    }

    fn provide(&mut self, buffer_id: u16) -> io::Result<()> {
        let offset = usize::from(buffer_id) * self.recv_buffer_bytes;
        let entry = opcode::ProvideBuffers::new(
            self.recv_pool[offset..].as_mut_ptr(),
            self.recv_buffer_bytes as i32,
            1,
            BUFFER_GROUP,
            buffer_id,
        )
        .build()
        .user_data(user_data(KIND_PROVIDE, 0, 0));
        self.push(&entry)
    }

    pub(crate) fn add_wake_fd(&mut self, fd: RawFd) -> Result<(), ReactorError> {
        self.wake_fd = Some(fd);
        self.arm_wake(fd).map_err(ReactorError::IoUring)
    }

    fn arm_wake(&mut self, fd: RawFd) -> io::Result<()> {
        let entry = opcode::PollAdd::new(types::Fd(fd), libc::POLLIN as u32)
            .multi(true)
            .build()
            .user_data(user_data(KIND_WAKE, 0, 0));
        self.push(&entry)
    }

    fn arm_recv(&mut self, conns: &mut Connections, slot: usize) -> io::Result<()> {
        let entry = opcode::RecvMulti::new(types::Fd(conns.slots[slot].fd), BUFFER_GROUP)
            .build()
            .user_data(user_data(KIND_RECV, slot, conns.slots[slot].generation));
        self.push(&entry)?;
        conns.slots[slot].ops_in_flight += 1;
        conns.slots[slot].armed = true;
        Ok(())
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
        // Closes and sends requested between polls are queued here and submitted by the wait below.
        let mut delivered = self.finish_iteration(conns, &mut on_event)?;
        let entered = if timeout.is_zero() && self.flags_tell_pending_work {
            self.enter_without_waiting()
        } else {
            let timespec = types::Timespec::new()
                .sec(timeout.as_secs())
                .nsec(timeout.subsec_nanos());
            let args = types::SubmitArgs::new().timespec(&timespec);
            self.ring.submitter().submit_with_args(1, &args)
        };
        match entered {
            Ok(_) => {}
            Err(error)
                if matches!(
                    error.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) => {}
            Err(error) => return Err(ReactorError::IoUring(error)),
        }
        self.completions.clear();
        let capacity = self.completions.capacity();
        for cqe in self.ring.completion().take(capacity) {
            self.completions
                .push((cqe.user_data(), cqe.result(), cqe.flags()));
        }
        for index in 0..self.completions.len() {
            let (data, result, flags) = self.completions[index];
            delivered += self.complete(conns, data, result, flags, &mut on_event)?;
        }
        delivered += self.finish_iteration(conns, &mut on_event)?;
        Ok(delivered)
    }

    /// A poll that may not wait, on a ring whose flags tell when work is waiting: submits what is queued and runs
    /// the completion work the kernel deferred to us, without a timeout (even a zero one arms a timer and passes
    /// through the scheduler). With nothing queued and no work waiting there is no system call at all: a spinning
    /// loop then costs a few loads of shared memory per turn.
    fn enter_without_waiting(&mut self) -> io::Result<usize> {
        // A fresh view of the queue has just loaded the kernel's head and our tail: no `sync` is needed to see
        // whether anything is queued.
        let submission = self.ring.submission();
        let idle = submission.is_empty() && !submission.taskrun() && !submission.cq_overflow();
        drop(submission);
        if idle {
            return Ok(0);
        }
        // `submit` asks the kernel to run deferred work (GETEVENTS) when the task-run flag or an overflow is set,
        // and never waits.
        self.ring.submit()
    }

    fn complete<F>(
        &mut self,
        conns: &mut Connections,
        data: u64,
        result: i32,
        flags: u32,
        on_event: &mut F,
    ) -> Result<usize, ReactorError>
    where
        F: FnMut(&mut Connections, Event<'_>),
    {
        let more = cqueue::more(flags);
        if !more {
            self.ops_in_flight = self.ops_in_flight.saturating_sub(1);
        }
        let kind = data >> 56;
        let slot = (data & u64::from(u32::MAX)) as usize;
        let generation = ((data >> 32) & 0x00ff_ffff) as u32;
        match kind {
            KIND_ACCEPT => {
                if !more {
                    self.accept_armed = false;
                }
                if result < 0 {
                    return Ok(0);
                }
                let fd = result as RawFd;
                let peer = sys::peer_addr(fd);
                let Some(slot) = conns.open_slot_for(fd) else {
                    sys::close_fd(fd);
                    on_event(conns, Event::Refused(peer, CloseReason::MaxConnections));
                    return Ok(1);
                };
                sys::configure_accepted(fd, self.socket_send_buffer_bytes);
                let id = conns.id(slot);
                on_event(conns, Event::Accepted(id, peer));
                if let Err(error) = self.arm_recv(conns, slot) {
                    conns.close(
                        id,
                        CloseReason::IoError {
                            errno: error.raw_os_error().unwrap_or(libc::EIO),
                        },
                    );
                }
                Ok(1)
            }
            KIND_RECV => {
                let buffer_id = cqueue::buffer_select(flags);
                let owned = slot < conns.slots.len()
                    && conns.slots[slot].generation & 0x00ff_ffff == generation;
                let mut delivered = 0;
                if owned && !more {
                    conns.slots[slot].ops_in_flight -= 1;
                    conns.slots[slot].armed = false;
                }
                if let (true, Some(buffer_id), true) = (owned, buffer_id, result > 0) {
                    if conns.slots[slot].state == SlotState::Open {
                        let offset = usize::from(buffer_id) * self.recv_buffer_bytes;
                        let length = (result as usize).min(self.recv_buffer_bytes);
                        let id = conns.id(slot);
                        on_event(
                            conns,
                            Event::Data(id, &self.recv_pool[offset..offset + length]),
                        );
                        delivered = 1;
                    }
                }
                if let Some(buffer_id) = buffer_id {
                    self.provide(buffer_id).map_err(ReactorError::IoUring)?;
                }
                if owned && !more && conns.slots[slot].state == SlotState::Open {
                    let id = conns.id(slot);
                    match result {
                        0 => {
                            conns.close(id, CloseReason::PeerClosed);
                        }
                        // The pool ran dry, or the kernel ended the multishot: re-arm once buffers are back.
                        _ if result > 0 || result == -libc::ENOBUFS => {
                            if let Err(error) = self.arm_recv(conns, slot) {
                                let errno = error.raw_os_error().unwrap_or(libc::EIO);
                                conns.close(id, CloseReason::IoError { errno });
                            }
                        }
                        _ => {
                            conns.close(id, CloseReason::IoError { errno: -result });
                        }
                    }
                }
                self.release_if_drained(conns, slot, generation);
                Ok(delivered)
            }
            KIND_SEND => {
                if slot >= conns.slots.len()
                    || conns.slots[slot].generation & 0x00ff_ffff != generation
                {
                    return Ok(0);
                }
                conns.slots[slot].ops_in_flight -= 1;
                let in_flight = conns.slots[slot].queue.in_flight;
                conns.slots[slot].queue.in_flight = 0;
                if result >= 0 {
                    conns.slots[slot]
                        .queue
                        .consume((result as usize).min(in_flight));
                    if conns.slots[slot].queue.len() > 0 {
                        conns.mark_dirty(slot);
                    }
                } else if conns.slots[slot].state == SlotState::Open {
                    let id = conns.id(slot);
                    conns.close(id, CloseReason::IoError { errno: -result });
                }
                self.release_if_drained(conns, slot, generation);
                Ok(0)
            }
            KIND_CANCEL => {
                if slot < conns.slots.len()
                    && conns.slots[slot].generation & 0x00ff_ffff == generation
                {
                    conns.slots[slot].ops_in_flight -= 1;
                    self.release_if_drained(conns, slot, generation);
                }
                Ok(0)
            }
            KIND_WAKE => {
                if let Some(fd) = self.wake_fd {
                    sys::drain_eventfd(fd);
                    // The kernel ended the multishot poll (an overflowing completion queue): poll again. A cancel
                    // (shutdown) or an error leaves it ended; waits are then bounded by their timeouts alone.
                    if !more && result >= 0 {
                        self.arm_wake(fd).map_err(ReactorError::IoUring)?;
                    }
                }
                Ok(0)
            }
            // A failed provide loses one buffer for good; the pool is sized with headroom for it.
            _ => Ok(0),
        }
    }

    fn release_if_drained(&mut self, conns: &mut Connections, slot: usize, generation: u32) {
        if slot < conns.slots.len()
            && conns.slots[slot].generation & 0x00ff_ffff == generation
            && conns.slots[slot].state == SlotState::Draining
            && conns.slots[slot].ops_in_flight == 0
        {
            sys::close_fd(conns.slots[slot].fd);
            conns.release(slot);
        }
    }

    /// Delivers pending closes, queues one send per dirty connection, re-arms the accept, and submits the batch.
    fn finish_iteration<F>(
        &mut self,
        conns: &mut Connections,
        on_event: &mut F,
    ) -> Result<usize, ReactorError>
    where
        F: FnMut(&mut Connections, Event<'_>),
    {
        let mut delivered = 0;
        for _ in 0..=conns.slots.len() * 2 + 1 {
            let mut progressed = false;
            while let Some(slot) = conns.pop_closing() {
                progressed = true;
                let id = conns.id(slot);
                let reason = conns.slots[slot].close_reason;
                conns.flush_before_close(slot);
                conns.slots[slot].state = SlotState::Draining;
                // Shutdown ends the multishot receive and any send with an error or end of file; the cancel
                // covers a receive that the shutdown did not wake.
                sys::shutdown_fd(conns.slots[slot].fd);
                if conns.slots[slot].armed {
                    let entry = opcode::AsyncCancel::new(user_data(KIND_RECV, slot, id.generation))
                        .build()
                        .user_data(user_data(KIND_CANCEL, slot, id.generation));
                    if self.push(&entry).is_ok() {
                        conns.slots[slot].ops_in_flight += 1;
                    }
                }
                self.release_if_drained(conns, slot, id.generation & 0x00ff_ffff);
                on_event(conns, Event::Closed(id, reason));
                delivered += 1;
            }
            while let Some(slot) = conns.pop_dirty() {
                progressed = true;
                if conns.slots[slot].state != SlotState::Open
                    || conns.slots[slot].queue.in_flight > 0
                {
                    continue;
                }
                let unsent = conns.slots[slot].queue.unsent();
                if unsent.is_empty() {
                    continue;
                }
                let (pointer, length) = (unsent.as_ptr(), unsent.len().min(u32::MAX as usize));
                let generation = conns.slots[slot].generation;
                let entry =
                    opcode::Send::new(types::Fd(conns.slots[slot].fd), pointer, length as u32)
                        .flags(libc::MSG_NOSIGNAL)
                        .build()
                        .user_data(user_data(KIND_SEND, slot, generation));
                match self.push(&entry) {
                    Ok(()) => {
                        conns.slots[slot].queue.in_flight = length;
                        conns.slots[slot].ops_in_flight += 1;
                    }
                    Err(error) => {
                        let id = conns.id(slot);
                        conns.close(
                            id,
                            CloseReason::IoError {
                                errno: error.raw_os_error().unwrap_or(libc::EIO),
                            },
                        );
                    }
                }
            }
            if !progressed {
                break;
            }
        }
        if !self.accept_armed {
            self.arm_accept().map_err(ReactorError::IoUring)?;
        }
        // One submission per iteration carries every send, re-provided buffer, re-arm and cancel queued above.
        if !self.ring.submission().is_empty() {
            self.ring.submit().map_err(ReactorError::IoUring)?;
        }
        Ok(delivered)
    }

    /// Closes every socket and waits, bounded, for the kernel to finish with every buffer. Returns false if
    /// operations are still in flight, in which case the caller must leak the buffers rather than free them.
    pub(crate) fn shutdown(&mut self, conns: &mut Connections) -> bool {
        for slot in 0..conns.slots.len() {
            if conns.slots[slot].state != SlotState::Free {
                sys::shutdown_fd(conns.slots[slot].fd);
            }
        }
        let cancel = opcode::AsyncCancel2::new(types::CancelBuilder::any())
            .build()
            .user_data(user_data(KIND_CANCEL, u32::MAX as usize, 0));
        let _ = self.push(&cancel);
        let timespec = types::Timespec::new().nsec(10_000_000);
        for _ in 0..200 {
            if self.ops_in_flight == 0 {
                break;
            }
            let args = types::SubmitArgs::new().timespec(&timespec);
            let _ = self.ring.submitter().submit_with_args(1, &args);
            let mut finished = 0;
            for cqe in self.ring.completion() {
                if !cqueue::more(cqe.flags()) {
                    finished += 1;
                }
            }
            self.ops_in_flight = self.ops_in_flight.saturating_sub(finished);
        }
        for slot in 0..conns.slots.len() {
            if conns.slots[slot].state != SlotState::Free {
                sys::close_fd(conns.slots[slot].fd);
                conns.slots[slot].fd = -1;
            }
        }
        if self.ops_in_flight == 0 {
            return true;
        }
        // The kernel may still write into the pool: leaking it is the only sound choice.
        std::mem::forget(std::mem::take(&mut self.recv_pool));
        false
    }
}
