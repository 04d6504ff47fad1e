//! Where a latency run puts its two busy threads. `split` gives the client one core and the server the other: the
//! spawned appliance's gateway (through its configuration's `cores.gateway.core`) and the echo baseline's server
//! thread alike, so both sides of the p99 ratio run in the same layout. Every other thread (the appliance's
//! follower, flusher and feed threads, the bench's helpers) floats. `float` pins nothing.
//!
//! The server's core is the one that has taken the fewest device interrupts (the numbered lines of
//! `/proc/interrupts`), the last core on a tie. A device's interrupt and the softirq work after it (a disk's
//! completions: the journal's syncs) run on the core its affinity names, whatever runs there; a guest may not be
//! allowed to move them (a virtio disk's queue interrupt is managed by the kernel). On the reference box every
//! completion of the disk lands on cpu 1, and the gateway on cpu 0 had fewer slow answers than on cpu 1 in ten
//! pairs of thirteen (BENCHMARKS.md). The client is busy less of the time, so it absorbs them with less queueing.
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
    /// The server on the core this process may use that has taken the fewest device interrupts (the last on a
    /// tie), the client on the first other one.
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

/// The two cores of a split run among those the calling thread may use (`choose_split`); None with fewer than two.
pub fn split_cores() -> io::Result<Option<SplitCores>> {
    let cores = allowed_cores()?;
    Ok(choose_split(
        &cores,
        device_interrupts_per_core().as_deref(),
    ))
}

/// The server on the core of `cores` with the fewest device interrupts in `interrupts` (indexed by cpu; the last
/// core on a tie, and when they are unknown), the client on the first other core; None with fewer than two cores.
fn choose_split(cores: &[usize], interrupts: Option<&[u64]>) -> Option<SplitCores> {
    if cores.len() < 2 {
        return None;
    }
    let taken = |cpu: usize| {
        interrupts
            .and_then(|counts| counts.get(cpu))
            .copied()
            .unwrap_or(0)
    };
    // `min_by_key` keeps the first of equal keys: walking from the last core, a tie goes to the later core.
    let server = cores.iter().rev().copied().min_by_key(|&cpu| taken(cpu))?;
    let client = cores.iter().copied().find(|&cpu| cpu != server)?;
    Some(SplitCores { client, server })
}

/// Device interrupts each core has taken since boot (the numbered lines of `/proc/interrupts`; the local timer,
/// rescheduling and other per-core lines are not devices), indexed by cpu number; None when the file cannot be
/// read or its header parsed.
pub fn device_interrupts_per_core() -> Option<Vec<u64>> {
    let text = std::fs::read_to_string("/proc/interrupts").ok()?;
    parse_device_interrupts(&text)
}

fn parse_device_interrupts(text: &str) -> Option<Vec<u64>> {
    let mut lines = text.lines();
    let columns: Vec<usize> = lines
        .next()?
        .split_whitespace()
        .map(|name| name.strip_prefix("CPU")?.parse().ok())
        .collect::<Option<_>>()?;
    let mut counts = vec![0u64; columns.iter().max()? + 1];
    for line in lines {
        let Some((label, fields)) = line.split_once(':') else {
            continue;
        };
        if label.trim().parse::<u32>().is_err() {
            continue;
        }
        for (&cpu, field) in columns.iter().zip(fields.split_whitespace()) {
            let Ok(count) = field.parse::<u64>() else {
                break;
            };
            counts[cpu] = counts[cpu].saturating_add(count);
        }
    }
    Some(counts)
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

    const INTERRUPTS: &str = "\
           CPU0       CPU1       CPU2
 24:          1          0          0  IO-APIC   5-edge      ACPI:Ged
 36:          0     809454          3  PCI-MSIX-0000:00:02.0   1-edge      virtio1-req.0
 41:       3437          0        100  PCI-MSIX-0000:00:04.0   1-edge      virtio3-rx
NMI:          0          0          0   Non-maskable interrupts
LOC:    5129041    5929131         10   Local timer interrupts
ERR:          0
";

    #[test]
    fn device_interrupts_are_the_numbered_lines_summed_per_cpu() {
        assert_eq!(
            parse_device_interrupts(INTERRUPTS),
            Some(vec![3438, 809454, 103])
        );
        assert_eq!(parse_device_interrupts("no header\n 1: 2 3\n"), None);
        assert!(
            device_interrupts_per_core().is_some(),
            "this kernel has /proc/interrupts"
        );
    }

    #[test]
    fn the_server_goes_where_the_fewest_device_interrupts_land() {
        let counts = parse_device_interrupts(INTERRUPTS).unwrap();
        // The disk's interrupts land on cpu 1: the server takes cpu 0, the client cpu 1.
        assert_eq!(
            choose_split(&[0, 1], Some(&counts)),
            Some(SplitCores {
                client: 1,
                server: 0
            })
        );
        assert_eq!(
            choose_split(&[0, 1, 2], Some(&counts)),
            Some(SplitCores {
                client: 0,
                server: 2
            })
        );
        // A tie, or nothing known: the server on the last core, the client on the first.
        assert_eq!(
            choose_split(&[0, 1, 2], Some(&[5, 9, 5])),
            Some(SplitCores {
                client: 0,
                server: 2
            })
        );
        assert_eq!(
            choose_split(&[2, 5], None),
            Some(SplitCores {
                client: 2,
                server: 5
            })
        );
        // A core beyond the counts has taken none.
        assert_eq!(
            choose_split(&[1, 7], Some(&counts)),
            Some(SplitCores {
                client: 1,
                server: 7
            })
        );
        assert_eq!(choose_split(&[3], Some(&counts)), None);
        assert_eq!(choose_split(&[], None), None);
    }

    #[test]
    fn split_takes_two_different_allowed_cores_and_needs_two() {
        std::thread::spawn(|| {
            let cores = allowed_cores().unwrap();
            match split_cores().unwrap() {
                Some(split) => {
                    assert!(cores.contains(&split.client) && cores.contains(&split.server));
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
