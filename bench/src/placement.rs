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
    let set = current_mask()?;
    let count = usize::try_from(libc::CPU_SETSIZE).unwrap_or(0);
    // SAFETY: `set` is an initialised cpu_set_t and every index is below CPU_SETSIZE.
    Ok((0..count)
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect())
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
    // SAFETY: cpu_set_t is plain bits; all zeroes is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is the calling thread; the kernel writes at most `size_of::<cpu_set_t>()` bytes into `set`,
    // which lives across the call.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
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

/// The cores thread `name` of process `pid` may run on, from its /proc status (`Cpus_allowed_list`); None when
/// there is no such thread or the list cannot be read.
pub fn thread_cores(pid: u32, name: &str) -> Option<Vec<usize>> {
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let status = std::fs::read_to_string(task.path().join("status")).ok()?;
        return status
            .lines()
            .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
            .and_then(|list| parse_cores(list.trim()));
    }
    None
}

/// Parses the kernel's cpu list format ("0-2,5"); None if it is malformed.
pub fn parse_cores(list: &str) -> Option<Vec<usize>> {
    let mut cores = Vec::new();
    for part in list.split(',').filter(|part| !part.is_empty()) {
        match part.split_once('-') {
            Some((first, last)) => {
                let (first, last): (usize, usize) = (first.parse().ok()?, last.parse().ok()?);
                if first > last {
                    return None;
                }
                cores.extend(first..=last);
            }
            None => cores.push(part.parse().ok()?),
        }
    }
    Some(cores)
}

/// Writes cores as the kernel's cpu list ("0-2,5").
pub fn format_cores(cores: &[usize]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut index = 0;
    while index < cores.len() {
        let first = cores[index];
        let mut last = first;
        while index + 1 < cores.len() && cores[index + 1] == last + 1 {
            index += 1;
            last = cores[index];
        }
        parts.push(if first == last {
            first.to_string()
        } else {
            format!("{first}-{last}")
        });
        index += 1;
    }
    parts.join(",")
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
    fn cpu_lists_read_and_write_as_the_kernel_writes_them() {
        assert_eq!(parse_cores("0-2,5"), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse_cores("3"), Some(vec![3]));
        assert_eq!(parse_cores(""), Some(vec![]));
        assert_eq!(parse_cores("2-1"), None);
        assert_eq!(parse_cores("a"), None);
        assert_eq!(format_cores(&[0, 1, 2, 5]), "0-2,5");
        assert_eq!(format_cores(&[1]), "1");
        assert_eq!(format_cores(&[]), "");
    }

    #[test]
    fn a_named_threads_cores_are_read_from_proc() {
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
