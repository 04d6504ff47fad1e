//! Where a latency run puts its two busy threads. `split` gives the client one core and the server the other: the
//! spawned appliance's gateway (through its configuration's `cores.gateway.core`) and the echo baseline's server
//! thread alike, so both sides of the p99 ratio run in the same layout. Every other thread (the appliance's
//! follower, flusher and feed threads, the bench's helpers) floats. `float` pins nothing.
//!
//! Why split is the default for a spawned appliance in open loop: on a box with two vCPUs and both threads
//! floating, the scheduler now and then stacks the gateway behind the spinning client on one vCPU while the other
//! runs the appliance's short background turns or idles, and the answers of those milliseconds wait
//! (BENCHMARKS.md). Pinning the two apart is what a latency benchmark does on a host it owns; the echo gets the
//! same treatment, so the ratio compares like with like.

use std::io;
use std::marker::PhantomData;

/// How the run places the client and the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Placement {
    /// The client on the first core this process may use, the server on the last.
    Split,
    /// No pinning: the scheduler places every thread.
    Float,
}

impl Placement {
    pub fn name(self) -> &'static str {
        match self {
            Placement::Split => "split",
            Placement::Float => "float",
        }
    }
}

/// The two cores of a split run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitCores {
    pub client: usize,
    pub server: usize,
}

/// The cores the calling thread may run on, in order.
pub fn allowed_cores() -> io::Result<Vec<usize>> {
    current_mask().map(|set| cores_in(&set))
}

fn cores_in(set: &libc::cpu_set_t) -> Vec<usize> {
    let count = usize::try_from(libc::CPU_SETSIZE).unwrap_or(0);
    (0..count)
        // SAFETY: `set` is an initialised cpu_set_t and every index is below CPU_SETSIZE.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, set) })
        .collect()
}

/// The first and the last core the calling thread may use; None with fewer than two.
pub fn split_cores() -> io::Result<Option<SplitCores>> {
    let cores = allowed_cores()?;
    Ok(match (cores.first(), cores.last()) {
        (Some(&client), Some(&server)) if client != server => Some(SplitCores { client, server }),
        _ => None,
    })
}

fn current_mask() -> io::Result<libc::cpu_set_t> {
    mask_of(0)
}

/// The affinity mask of thread `tid` (0: the calling thread).
fn mask_of(tid: libc::pid_t) -> io::Result<libc::cpu_set_t> {
    // SAFETY: cpu_set_t is plain bits; all zeroes is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: the kernel writes at most `size_of::<cpu_set_t>()` bytes into `set`, which lives across the call; a
    // `tid` that is gone is an error return, not undefined behaviour.
    let rc =
        unsafe { libc::sched_getaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc == 0 {
        Ok(set)
    } else {
        Err(io::Error::last_os_error())
    }
}

fn set_mask(set: &libc::cpu_set_t) -> io::Result<()> {
    // SAFETY: pid 0 is the calling thread; the kernel reads `size_of::<cpu_set_t>()` bytes from `set`, alive across
    // the call.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The cores thread `name` of process `pid` may run on, as the kernel has its affinity now; None when there is no
/// such thread (or it ended meanwhile).
pub fn thread_cores(pid: u32, name: &str) -> Option<Vec<usize>> {
    let thread = crate::threads::sample_process(pid)
        .into_iter()
        .find(|thread| thread.name == name)?;
    mask_of(thread.tid).ok().map(|set| cores_in(&set))
}

/// Pins the calling thread to `core` for good (a thread that exists only to serve, like the echo server).
pub fn pin_current_thread(core: usize) -> io::Result<()> {
    if core >= usize::try_from(libc::CPU_SETSIZE).unwrap_or(0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cpu {core} is beyond the affinity mask"),
        ));
    }
    // SAFETY: cpu_set_t is plain bits; all zeroes is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `core` is below CPU_SETSIZE (checked above).
    unsafe { libc::CPU_SET(core, &mut set) };
    set_mask(&set)
}

/// The calling thread pinned to one core until this is dropped, when its former mask comes back. Threads it starts
/// meanwhile inherit the pin, so start what must float (a child process) before, or pin it elsewhere itself.
/// It restores the mask of the thread that drops it, so it stays on the thread that made it (not `Send`).
#[derive(Debug)]
pub struct PinnedThread {
    saved: libc::cpu_set_t,
    _this_thread_only: PhantomData<*const ()>,
}

impl PinnedThread {
    pub fn pin(core: usize) -> io::Result<PinnedThread> {
        let saved = current_mask()?;
        pin_current_thread(core)?;
        Ok(PinnedThread {
            saved,
            _this_thread_only: PhantomData,
        })
    }
}

impl Drop for PinnedThread {
    fn drop(&mut self) {
        // The saved mask was the thread's own a moment ago; if the kernel refuses it now (the process's cpuset
        // shrank meanwhile), the thread stays pinned, which only places it.
        let _ = set_mask(&self.saved);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_thread_runs_on_its_core_only_and_gets_its_mask_back() {
        std::thread::spawn(|| {
            let before = allowed_cores().unwrap();
            assert!(!before.is_empty());
            let core = *before.last().unwrap();
            {
                let _pinned = PinnedThread::pin(core).unwrap();
                assert_eq!(allowed_cores().unwrap(), vec![core]);
                let inherited = std::thread::spawn(|| allowed_cores().unwrap())
                    .join()
                    .unwrap();
                assert_eq!(
                    inherited,
                    vec![core],
                    "threads started meanwhile inherit it"
                );
            }
            assert_eq!(allowed_cores().unwrap(), before);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn split_takes_the_first_and_the_last_core_and_needs_two() {
        std::thread::spawn(|| {
            let cores = allowed_cores().unwrap();
            match split_cores().unwrap() {
                Some(split) => {
                    assert_eq!(split.client, cores[0]);
                    assert_eq!(split.server, *cores.last().unwrap());
                    assert_ne!(split.client, split.server);
                }
                None => assert_eq!(cores.len(), 1),
            }
            let _pinned = PinnedThread::pin(cores[0]).unwrap();
            assert_eq!(split_cores().unwrap(), None, "one core: nothing to split");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_named_threads_cores_are_read_from_the_kernel() {
        let core = *allowed_cores().unwrap().last().unwrap();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("placement-probe".to_string())
            .spawn(move || {
                pin_current_thread(core).unwrap();
                ready_tx.send(()).unwrap();
                done_rx.recv().unwrap();
            })
            .unwrap();
        ready_rx.recv().unwrap();
        assert_eq!(
            thread_cores(std::process::id(), "placement-probe"),
            Some(vec![core])
        );
        assert_eq!(thread_cores(std::process::id(), "no-such-thread"), None);
        done_tx.send(()).unwrap();
        thread.join().unwrap();
    }

    #[test]
    fn a_core_beyond_the_mask_is_refused() {
        let error = pin_current_thread(usize::MAX).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    }
}
