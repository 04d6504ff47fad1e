//! Where the cores went during a measurement: each thread's CPU time and the time it spent runnable but waiting
//! for a core, from the scheduler's own accounting in `/proc/PID/task/TID/schedstat` (run time, run-queue delay
//! and number of times run, all since the thread started).
//!
//! On a box with fewer cores than busy threads, a latency tail is mostly threads waiting for a core. Reading these
//! counters around the measured parts shows which threads did the waiting (the appliance's gateway, the bench's
//! own client) and which threads took the cores meanwhile, without a tracer. Threads of a process that is stopped
//! (an interleaved baseline's pause) are not on a run queue, so a pause adds to neither figure.

use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Instant;

/// One thread's counters at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadSample {
    pub tid: i32,
    pub name: String,
    /// Time on a core.
    pub run_ns: u64,
    /// Time runnable on a run queue, waiting for a core.
    pub wait_ns: u64,
    /// Times it was given a core.
    pub runs: u64,
}

/// Parses a schedstat line: run time (ns), run-queue delay (ns), times run.
pub fn parse_schedstat(line: &str) -> Option<(u64, u64, u64)> {
    let mut fields = line.split_whitespace().map(str::parse::<u64>);
    let run_ns = fields.next()?.ok()?;
    let wait_ns = fields.next()?.ok()?;
    let runs = fields.next()?.ok()?;
    Some((run_ns, wait_ns, runs))
}

/// Every thread of process `pid` now; empty when the process is gone or the kernel keeps no schedstat (built
/// without `CONFIG_SCHED_INFO`). Threads that end while being read are skipped.
pub fn sample_process(pid: u32) -> Vec<ThreadSample> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut samples = Vec::new();
    for task in tasks.flatten() {
        let Some(tid) = task
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<i32>().ok())
        else {
            continue;
        };
        let path = task.path();
        let (Ok(stat), Ok(comm)) = (
            std::fs::read_to_string(path.join("schedstat")),
            std::fs::read_to_string(path.join("comm")),
        ) else {
            continue;
        };
        if let Some((run_ns, wait_ns, runs)) = parse_schedstat(&stat) {
            samples.push(ThreadSample {
                tid,
                name: comm.trim_end().to_string(),
                run_ns,
                wait_ns,
                runs,
            });
        }
    }
    samples
}

/// One thread's share of the measured time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ThreadUse {
    /// "appliance" or "bench".
    pub process: String,
    pub name: String,
    pub tid: i32,
    /// On a core during the measured parts.
    pub cpu_ns: u64,
    /// Runnable and waiting for a core during the measured parts.
    pub runnable_wait_ns: u64,
    /// Times it was given a core.
    pub runs: u64,
    /// `cpu_ns` and `runnable_wait_ns` over the measured time.
    pub cpu_share: f64,
    pub runnable_wait_share: f64,
}

/// Adds up the threads' counters over measured parts: `begin` before each part, `end` after it.
#[derive(Debug, Default)]
pub struct ThreadWatch {
    /// (label, pid) of each process watched.
    processes: Vec<(String, u32)>,
    at_begin: Vec<(usize, ThreadSample)>,
    began: Option<Instant>,
    /// (process index, tid) -> the thread's counters added up over the parts.
    totals: BTreeMap<(usize, i32), ThreadSample>,
    window_ns: u64,
}

impl ThreadWatch {
    /// Watches the processes given as (label, pid).
    pub fn new(processes: Vec<(String, u32)>) -> ThreadWatch {
        ThreadWatch {
            processes,
            ..ThreadWatch::default()
        }
    }

    /// A watch of nothing: `begin` and `end` do nothing and the report is empty.
    pub fn none() -> ThreadWatch {
        ThreadWatch::default()
    }

    fn sample_all(&self) -> Vec<(usize, ThreadSample)> {
        self.processes
            .iter()
            .enumerate()
            .flat_map(|(index, (_, pid))| {
                sample_process(*pid)
                    .into_iter()
                    .map(move |sample| (index, sample))
            })
            .collect()
    }

    pub fn begin(&mut self) {
        if self.processes.is_empty() {
            return;
        }
        self.at_begin = self.sample_all();
        self.began = Some(Instant::now());
    }

    /// Adds what each thread did since `begin`. A thread started meanwhile counts from zero.
    pub fn end(&mut self) {
        let Some(began) = self.began.take() else {
            return;
        };
        self.window_ns = self
            .window_ns
            .saturating_add(u64::try_from(began.elapsed().as_nanos()).unwrap_or(u64::MAX));
        let before: BTreeMap<(usize, i32), &ThreadSample> = self
            .at_begin
            .iter()
            .map(|(index, sample)| ((*index, sample.tid), sample))
            .collect();
        for (index, sample) in self.sample_all() {
            let (run0, wait0, runs0) = before
                .get(&(index, sample.tid))
                .map_or((0, 0, 0), |s| (s.run_ns, s.wait_ns, s.runs));
            let total = self
                .totals
                .entry((index, sample.tid))
                .or_insert_with(|| ThreadSample {
                    run_ns: 0,
                    wait_ns: 0,
                    runs: 0,
                    ..sample.clone()
                });
            total.name.clone_from(&sample.name);
            total.run_ns += sample.run_ns.saturating_sub(run0);
            total.wait_ns += sample.wait_ns.saturating_sub(wait0);
            total.runs += sample.runs.saturating_sub(runs0);
        }
        self.at_begin.clear();
    }

    /// The measured time: the parts' wall time added up.
    pub fn window_ns(&self) -> u64 {
        self.window_ns
    }

    /// Every thread that ran or waited in the measured parts, the most CPU first.
    pub fn report(&self) -> Vec<ThreadUse> {
        let window = self.window_ns.max(1) as f64;
        let mut uses: Vec<ThreadUse> = self
            .totals
            .iter()
            .filter(|(_, total)| total.run_ns > 0 || total.wait_ns > 0)
            .map(|((index, _), total)| ThreadUse {
                process: self.processes[*index].0.clone(),
                name: total.name.clone(),
                tid: total.tid,
                cpu_ns: total.run_ns,
                runnable_wait_ns: total.wait_ns,
                runs: total.runs,
                cpu_share: round4(total.run_ns as f64 / window),
                runnable_wait_share: round4(total.wait_ns as f64 / window),
            })
            .collect();
        uses.sort_by(|a, b| {
            b.cpu_ns
                .cmp(&a.cpu_ns)
                .then(b.runnable_wait_ns.cmp(&a.runnable_wait_ns))
        });
        uses
    }
}

fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

/// The text report's line: threads of the same process and name added up (an interleaved baseline starts an echo
/// server per slice), those that used or waited for at least half a percent of the measured time, the most CPU
/// first.
pub fn describe(uses: &[ThreadUse]) -> String {
    let mut grouped: Vec<(&str, &str, f64, f64, usize)> = Vec::new();
    for u in uses {
        match grouped
            .iter_mut()
            .find(|(process, name, ..)| *process == u.process && *name == u.name)
        {
            Some(group) => {
                group.2 += u.cpu_share;
                group.3 += u.runnable_wait_share;
                group.4 += 1;
            }
            None => grouped.push((&u.process, &u.name, u.cpu_share, u.runnable_wait_share, 1)),
        }
    }
    grouped.sort_by(|a, b| b.2.total_cmp(&a.2));
    let shown: Vec<String> = grouped
        .iter()
        .filter(|(_, _, cpu, wait, _)| *cpu >= 0.005 || *wait >= 0.005)
        .map(|(process, name, cpu, wait, count)| {
            let threads = if *count > 1 {
                format!(" ({count} threads)")
            } else {
                String::new()
            };
            format!(
                "{process} {name}{threads} cpu {:.1}% waited {:.1}%",
                cpu * 100.0,
                wait * 100.0
            )
        })
        .collect();
    if shown.is_empty() {
        "n/a (no thread of a watched process ran; --connect watches only the bench)".to_string()
    } else {
        shown.join(" · ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedstat_line_gives_run_wait_and_runs() {
        assert_eq!(
            parse_schedstat("181584970 6276878 372\n"),
            Some((181_584_970, 6_276_878, 372))
        );
        assert_eq!(parse_schedstat("12 x 3"), None);
        assert_eq!(parse_schedstat("12 34"), None);
        assert_eq!(parse_schedstat(""), None);
    }

    #[test]
    fn this_process_threads_are_read_with_their_names() {
        let samples = sample_process(std::process::id());
        if samples.is_empty() {
            eprintln!("note: this kernel keeps no schedstat; nothing to check");
            return;
        }
        // The test harness names its threads after the test.
        assert!(samples.iter().all(|s| !s.name.is_empty()));
        assert!(samples.iter().any(|s| s.run_ns > 0));
    }

    #[test]
    fn a_spinning_thread_shows_its_cpu_over_the_parts_and_nothing_outside_them() {
        if sample_process(std::process::id()).is_empty() {
            eprintln!("note: this kernel keeps no schedstat; nothing to check");
            return;
        }
        let spin = |ms: u64| {
            let until = Instant::now() + std::time::Duration::from_millis(ms);
            let mut x = 0u64;
            while Instant::now() < until {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        };
        let mut watch = ThreadWatch::new(vec![("bench".to_string(), std::process::id())]);
        watch.begin();
        spin(60);
        watch.end();
        // Outside a part: not counted.
        spin(60);
        watch.begin();
        spin(60);
        watch.end();
        assert!(watch.window_ns() >= 120_000_000);
        let report = watch.report();
        // /proc/thread-self links to PID/task/TID.
        let link = std::fs::read_link("/proc/thread-self").expect("/proc/thread-self");
        let tid: i32 = link
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.parse().ok())
            .expect("a thread id");
        let me = report
            .iter()
            .find(|u| u.tid == tid)
            .expect("this thread ran");
        assert_eq!(me.process, "bench");
        // It spun through both parts (less whatever time it waited for a core on a busy box), and the spin
        // between them is not counted: at most the parts' length.
        assert!(me.cpu_ns + me.runnable_wait_ns >= 60_000_000, "{me:?}");
        assert!(me.cpu_ns <= watch.window_ns() + 5_000_000, "{me:?}");
        assert!(me.cpu_share > 0.0 && me.cpu_share <= 1.05, "{me:?}");
        assert!(describe(&report).contains("bench "));
    }

    #[test]
    fn threads_of_one_name_are_added_up_in_the_text() {
        let thread = |tid: i32, name: &str, cpu: f64, wait: f64| ThreadUse {
            process: "bench".to_string(),
            name: name.to_string(),
            tid,
            cpu_ns: 0,
            runnable_wait_ns: 0,
            runs: 0,
            cpu_share: cpu,
            runnable_wait_share: wait,
        };
        let text = describe(&[
            thread(1, "client", 0.9, 0.01),
            thread(2, "echo-server", 0.4, 0.002),
            thread(3, "echo-server", 0.45, 0.004),
            thread(4, "idle", 0.001, 0.001),
        ]);
        assert_eq!(
            text,
            "bench client cpu 90.0% waited 1.0% · bench echo-server (2 threads) cpu 85.0% waited 0.6%"
        );
    }

    #[test]
    fn a_watch_of_nothing_reports_nothing() {
        let mut watch = ThreadWatch::none();
        watch.begin();
        watch.end();
        assert!(watch.report().is_empty());
        assert_eq!(watch.window_ns(), 0);
        assert!(describe(&[]).starts_with("n/a"));
    }
}
