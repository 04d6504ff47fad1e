//! How a pipeline thread waits when it has nothing to do (as Aeron's idle strategies): spin, spin then yield, or
//! back off to short parks. `idle` is called after an empty poll and `reset` after a useful one.

use crate::config::IdleChoice;
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::time::Duration;

const SPINS_BEFORE_YIELD: u32 = 100;
const YIELDS_BEFORE_PARK: u32 = 100;
/// Yields a spin-then-yield thread goes through before its poller may block (the gateway's wait budget): about
/// 1-2 ms of an idle gateway loop. While orders keep coming the gateway never sleeps. A thread that sleeps on a
/// virtual machine lets its vCPU halt, and then waits for the host to run that vCPU again, and for the scheduler to
/// place it afresh, sometimes on the core of the thread it was talking to; at 100,000 orders/s, blocking after the
/// spins alone made the p99 about 1.5 times higher at the median (BENCHMARKS.md).
const YIELDS_BEFORE_WAIT: u32 = 2_000;
/// How long a spin-then-yield thread's poller may block once it has yielded `YIELDS_BEFORE_WAIT` times.
const SPIN_THEN_YIELD_WAIT_US: u64 = 50;
const PARK_MIN_US: u64 = 1;
const PARK_MAX_US: u64 = 1_000;

#[derive(Debug, Clone, Copy)]
pub struct Idle {
    choice: IdleChoice,
    empty_polls: u32,
    park_us: u64,
}

impl Idle {
    pub fn new(choice: IdleChoice) -> Idle {
        Idle {
            choice,
            empty_polls: 0,
            park_us: PARK_MIN_US,
        }
    }

    #[inline]
    pub fn reset(&mut self) {
        self.empty_polls = 0;
        self.park_us = PARK_MIN_US;
    }

    /// The thread found nothing to do.
    #[inline]
    pub fn idle(&mut self) {
        self.empty_polls = self.empty_polls.saturating_add(1);
        match self.choice {
            IdleChoice::BusySpin => std::hint::spin_loop(),
            IdleChoice::SpinThenYield => {
                if self.empty_polls < SPINS_BEFORE_YIELD {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
            IdleChoice::BackoffPark => {
                if self.empty_polls < SPINS_BEFORE_YIELD {
                    std::hint::spin_loop();
                } else if self.empty_polls < SPINS_BEFORE_YIELD + YIELDS_BEFORE_PARK {
                    std::thread::yield_now();
                } else {
                    std::thread::park_timeout(Duration::from_micros(self.park_us));
                    self.park_us = (self.park_us * 2).min(PARK_MAX_US);
                }
            }
        }
    }

    /// True when the next `idle` would park (a `BackoffPark` thread past its spins and yields): a thread that can
    /// be woken announces it is parking first (see `Wakeup`), then calls `park`.
    #[inline]
    pub fn parks_next(&self) -> bool {
        self.choice == IdleChoice::BackoffPark
            && self.empty_polls.saturating_add(1) >= SPINS_BEFORE_YIELD + YIELDS_BEFORE_PARK
    }

    /// Parks as `idle` would in its park phase.
    pub fn park(&mut self) {
        self.empty_polls = self.empty_polls.saturating_add(1);
        std::thread::park_timeout(Duration::from_micros(self.park_us));
        self.park_us = (self.park_us * 2).min(PARK_MAX_US);
    }

    /// How long a thread that can block in a system call (the gateway's reactor) may wait there: zero while
    /// spinning (and, for spin-then-yield, while yielding), a little longer as it backs off.
    pub fn wait_budget(&self) -> Duration {
        match self.choice {
            IdleChoice::BusySpin => Duration::ZERO,
            IdleChoice::SpinThenYield => {
                if self.empty_polls < SPINS_BEFORE_YIELD + YIELDS_BEFORE_WAIT {
                    Duration::ZERO
                } else {
                    Duration::from_micros(SPIN_THEN_YIELD_WAIT_US)
                }
            }
            IdleChoice::BackoffPark => {
                if self.empty_polls < SPINS_BEFORE_YIELD {
                    Duration::ZERO
                } else {
                    Duration::from_micros(self.park_us.max(50))
                }
            }
        }
    }
}

/// The handshake both wake-ups below share: the consumer announces that it is about to wait, then looks at its ring
/// once more; the producer, after publishing, looks at the announcement. Each side puts a SeqCst fence between its
/// store and its load, so at least one of them sees the other's store: either the consumer sees the new entries or
/// the producer sees the announcement (a lost wake-up is still bounded by the wait's timeout).
#[derive(Debug, Default)]
struct Announcement(AtomicBool);

impl Announcement {
    /// Consumer: about to look at the ring a last time and wait.
    #[inline]
    fn announce(&self) {
        self.0.store(true, Ordering::Relaxed);
        fence(Ordering::SeqCst);
    }

    /// Consumer: back from the wait.
    #[inline]
    fn withdraw(&self) {
        self.0.store(false, Ordering::Relaxed);
    }

    /// Producer, having published: whether the consumer announced a wait.
    #[inline]
    fn seen(&self) -> bool {
        fence(Ordering::SeqCst);
        self.0.load(Ordering::Relaxed)
    }

    /// Producer, having published: whether the consumer announced a wait, withdrawing it so that only the first
    /// producer call after an announcement acts on it.
    #[inline]
    fn take(&self) -> bool {
        self.seen() && self.0.swap(false, Ordering::Relaxed)
    }
}

/// Wakes a parked consumer when its producer publishes (`Announcement`): the producer unparks the consumer's thread
/// only when the consumer announced the park.
#[derive(Debug, Default)]
pub struct Wakeup {
    parked: Announcement,
    thread: std::sync::OnceLock<std::thread::Thread>,
}

impl Wakeup {
    /// The consumer's thread, once, before it first parks.
    pub fn register_current(&self) {
        let _ = self.thread.set(std::thread::current());
    }

    /// The consumer is about to check its ring a last time and park.
    #[inline]
    pub fn announce_park(&self) {
        self.parked.announce();
    }

    /// The consumer is awake again.
    #[inline]
    pub fn awake(&self) {
        self.parked.withdraw();
    }

    /// The producer has published: unpark the consumer if it parks (a system call only then).
    #[inline]
    pub fn wake(&self) {
        if self.parked.seen() {
            if let Some(thread) = self.thread.get() {
                thread.unpark();
            }
        }
    }
}

/// Wakes a thread that waits in its poller (the gateway, in io_uring or epoll) by writing to an eventfd the poller
/// watches, only when the waiter announced the wait (`Announcement`), so a busy pipeline makes no system call for
/// it. Without an eventfd (its creation failed) a wait ends at its timeout, as before.
#[derive(Debug)]
pub struct PollerWakeup {
    waiting: Announcement,
    eventfd: Option<std::os::fd::OwnedFd>,
}

impl Default for PollerWakeup {
    fn default() -> Self {
        // SAFETY: eventfd takes only integer arguments.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        let eventfd = (fd >= 0).then(|| {
            // SAFETY: `fd` is a descriptor eventfd just opened, owned by nothing else.
            unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) }
        });
        PollerWakeup {
            waiting: Announcement::default(),
            eventfd,
        }
    }
}

impl PollerWakeup {
    /// The eventfd for the waiter's poller to watch.
    pub fn fd(&self) -> Option<std::os::fd::RawFd> {
        self.eventfd.as_ref().map(std::os::fd::AsRawFd::as_raw_fd)
    }

    /// The waiter is about to look at its ring a last time and wait.
    #[inline]
    pub fn announce_wait(&self) {
        self.waiting.announce();
    }

    /// The waiter is back.
    #[inline]
    pub fn done_waiting(&self) {
        self.waiting.withdraw();
    }

    /// The producer has published: end the waiter's wait if it announced one (one write per wait at most).
    #[inline]
    pub fn wake(&self) {
        if self.waiting.take() {
            if let Some(fd) = self.fd() {
                let one = 1u64;
                // SAFETY: writes the 8 bytes of `one`, which lives across the call, to an eventfd this value owns.
                // A full counter (EAGAIN) already means a pending wake-up.
                let _ = unsafe {
                    libc::write(fd, (&one as *const u64).cast(), std::mem::size_of::<u64>())
                };
            }
        }
    }
}

#[cfg(test)]
mod wait_budget_tests {
    use super::*;

    fn after_empty_polls(choice: IdleChoice, polls: u32) -> Idle {
        let mut idle = Idle::new(choice);
        idle.empty_polls = polls;
        idle
    }

    #[test]
    fn spin_then_yield_blocks_only_after_its_spins_and_yields_and_a_useful_poll_starts_over() {
        let first_wait = SPINS_BEFORE_YIELD + YIELDS_BEFORE_WAIT;
        for polls in [0, SPINS_BEFORE_YIELD, first_wait - 1] {
            let idle = after_empty_polls(IdleChoice::SpinThenYield, polls);
            assert_eq!(
                idle.wait_budget(),
                Duration::ZERO,
                "after {polls} empty polls"
            );
        }
        let mut idle = after_empty_polls(IdleChoice::SpinThenYield, first_wait);
        assert_eq!(
            idle.wait_budget(),
            Duration::from_micros(SPIN_THEN_YIELD_WAIT_US)
        );
        idle.reset();
        assert_eq!(idle.wait_budget(), Duration::ZERO);
    }

    #[test]
    fn busy_spin_never_blocks_and_backoff_park_blocks_after_its_spins() {
        let idle = after_empty_polls(IdleChoice::BusySpin, u32::MAX);
        assert_eq!(idle.wait_budget(), Duration::ZERO);
        let idle = after_empty_polls(IdleChoice::BackoffPark, SPINS_BEFORE_YIELD - 1);
        assert_eq!(idle.wait_budget(), Duration::ZERO);
        let idle = after_empty_polls(IdleChoice::BackoffPark, SPINS_BEFORE_YIELD);
        assert!(idle.wait_budget() >= Duration::from_micros(50));
    }

    #[test]
    fn counting_empty_polls_saturates_instead_of_wrapping_to_spinning() {
        let mut idle = after_empty_polls(IdleChoice::SpinThenYield, u32::MAX);
        idle.idle();
        assert!(!idle.wait_budget().is_zero());
    }
}

#[cfg(test)]
mod poller_wakeup_tests {
    use super::PollerWakeup;

    /// The eventfd's count, read back to zero; 0 when nothing was written.
    fn take_count(wakeup: &PollerWakeup) -> u64 {
        let fd = wakeup.fd().expect("an eventfd");
        let mut count = 0u64;
        // SAFETY: reads at most 8 bytes into `count`, alive across the call.
        let read = unsafe { libc::read(fd, (&mut count as *mut u64).cast(), 8) };
        if read == 8 {
            count
        } else {
            0
        }
    }

    #[test]
    fn only_an_announced_wait_is_woken_and_only_once() {
        let wakeup = PollerWakeup::default();
        wakeup.wake();
        assert_eq!(take_count(&wakeup), 0, "nobody waits: no system call");
        wakeup.announce_wait();
        wakeup.wake();
        wakeup.wake();
        assert_eq!(take_count(&wakeup), 1, "one write per announced wait");
        wakeup.announce_wait();
        wakeup.done_waiting();
        wakeup.wake();
        assert_eq!(take_count(&wakeup), 0, "the waiter came back on its own");
    }
}
