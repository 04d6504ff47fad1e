//! How the appliance schedules its background threads: the ones no reply and no durability bound waits for
//! (`cores.background`).
//!
//! On a box with fewer cores than busy threads, a background thread that wakes (the follower, the TCP feed, the
//! HTTP server, the journal's preparer) preempts whatever runs on its core, most often the gateway in the middle of
//! a message. As `SCHED_BATCH` threads they never preempt on waking: they run when the core's current thread yields
//! or blocks, or when its time slice ends, and still get their fair share of the core. The gateway, an engine thread
//! of its own and the journal's flusher stay ordinary threads: a deferred flusher would stretch the window a power
//! loss can take under `ack = "local"` (measured: from a few milliseconds to tens, BENCHMARKS.md) and delay every
//! reply under `ack = "durable"`.

use crate::config::BackgroundPolicy;
use crossline_journal::JournalThread;
use std::io;

/// The appliance threads (by the names `serve` gives them) that run as background threads.
pub const BACKGROUND_THREADS: [&str; 4] = ["feed", "follower", "query", "admin"];

/// Whether a journal thread is a background thread: the preparer is; the flusher is not (see the module comment).
pub fn journal_thread_is_background(thread: JournalThread) -> bool {
    match thread {
        JournalThread::Preparer => true,
        JournalThread::Flusher => false,
    }
}

/// Ends a background thread's turn on its core while it still has work: the thread yields, so that a busy thread
/// it took the core from (the gateway, or a client beside the appliance) runs again, and it resumes at the next
/// yield or tick.
///
/// A background thread that never yields works off everything that queued while it waited in one turn: at
/// 100,000 orders/s that was 64-128 us for the follower (about 190 times a second) and 32-64 us for the TCP feed,
/// each a hole in the gateway's core that the orders behind it queue across (BENCHMARKS.md). Turns of about 20 us
/// leave holes that short. On a core of its own the yield returns at once. A thread far behind (the follower by
/// thousands of records, the TCP feed with its ring filling) keeps the core until it is closer.
#[inline]
pub fn end_turn() {
    std::thread::yield_now();
}

/// Gives `thread` the scheduling policy of background threads under `policy` (nothing under `Normal`). Threads it
/// creates afterwards inherit the policy.
pub fn apply(thread: libc::pthread_t, policy: BackgroundPolicy) -> io::Result<()> {
    let sched_policy = match policy {
        BackgroundPolicy::Normal => return Ok(()),
        BackgroundPolicy::Batch => libc::SCHED_BATCH,
    };
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: `thread` is a live thread of this process (its handle is held by the caller), and `param` lives
    // across the call, which only reads it.
    let rc = unsafe { libc::pthread_setschedparam(thread, sched_policy, &param) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(rc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scheduling policy of thread `tid` of process `pid`, as /proc shows it (0 = `SCHED_OTHER`, 3 = `SCHED_BATCH`).
    fn policy_of(pid: u32, tid: u32) -> io::Result<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat"))?;
        // The command name, in parentheses, may hold spaces: count fields after its closing parenthesis.
        let after_name = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no command name in stat"))?;
        // Field 41 (`policy`) is the 39th after the name (fields 3 onwards).
        after_name
            .split_whitespace()
            .nth(38)
            .and_then(|field| field.parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no policy field in stat"))
    }

    fn own_policy() -> u32 {
        // SAFETY: gettid has no arguments and cannot fail.
        let tid = unsafe { libc::gettid() } as u32;
        policy_of(std::process::id(), tid).unwrap()
    }

    #[test]
    fn a_thread_given_the_batch_policy_reports_it_and_its_children_inherit_it() {
        use std::os::unix::thread::JoinHandleExt;
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let (read_tx, read_rx) = std::sync::mpsc::channel::<()>();
        let handle = std::thread::spawn(move || {
            let before = own_policy();
            read_tx.send(()).unwrap();
            go_rx.recv().unwrap();
            let after = own_policy();
            let child = std::thread::spawn(own_policy).join().unwrap();
            (before, after, child)
        });
        read_rx.recv().unwrap();
        apply(handle.as_pthread_t(), BackgroundPolicy::Batch).unwrap();
        go_tx.send(()).unwrap();
        let (before, after, child) = handle.join().unwrap();
        assert_eq!(before, 0, "threads start as SCHED_OTHER");
        assert_eq!(after, libc::SCHED_BATCH as u32);
        assert_eq!(child, libc::SCHED_BATCH as u32);
    }

    #[test]
    fn normal_leaves_a_thread_alone_and_only_the_preparer_of_the_journal_is_background() {
        // SAFETY: pthread_self has no arguments and cannot fail.
        apply(unsafe { libc::pthread_self() }, BackgroundPolicy::Normal).unwrap();
        assert_eq!(own_policy(), 0);
        assert!(!journal_thread_is_background(JournalThread::Flusher));
        assert!(journal_thread_is_background(JournalThread::Preparer));
    }
}
