//! Crash test: the real writer runs in a child process (this test binary, re-executed with an environment variable
//! that selects the writer role) and is killed with SIGKILL at moments drawn from a seeded generator. After each kill
//! every record the child reported durable must be present, the journal must run on without a gap, and the next
//! child must continue from exactly where recovery left off.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command as Process, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::*;
use crossline_journal::{recover, verify, FsyncPolicy, JournalWriter, Verdict};

const CHILD_DIR_ENV: &str = "CROSSLINE_JOURNAL_CRASH_CHILD_DIR";
const CHILD_POLICY_ENV: &str = "CROSSLINE_JOURNAL_CRASH_CHILD_POLICY";
const KILLS: u64 = 10;
/// Small segments so that kills land in rollovers too.
const SEGMENT_BYTES: u64 = 16 * 1024;
/// A child that is never killed stops after this many records, so the test is bounded either way.
const CHILD_RECORDS_MAX: u64 = 400_000;

/// The child's role. Run directly (without the environment variable) it does nothing.
#[test]
fn crash_writer_child() {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else {
        return;
    };
    let fsync = match std::env::var(CHILD_POLICY_ENV).as_deref() {
        Ok("every_batch") => FsyncPolicy::EveryBatch,
        _ => FsyncPolicy::IntervalMs(1),
    };
    let (mut writer, _) =
        JournalWriter::open(Path::new(&dir), config(SEGMENT_BYTES, fsync)).expect("child open");
    let marks = writer.watermarks();
    let mut out = std::io::stdout().lock();
    let first = writer.next_seq();
    writeln!(out, "ready {first}").expect("stdout");
    out.flush().expect("stdout");
    let mut reported = marks.durable_seq();
    let mut rng = SplitMix(first);
    let mut seq = first;
    while seq < first + CHILD_RECORDS_MAX {
        for _ in 0..1 + rng.below(8) {
            writer.append(&command(seq)).expect("child append");
            seq += 1;
        }
        writer.commit_batch().expect("child commit");
        let durable = marks.durable_seq();
        if durable > reported {
            // Reported only after the watermark moved: this is the acknowledgement the test holds the journal to.
            writeln!(out, "durable {durable}").expect("stdout");
            out.flush().expect("stdout");
            reported = durable;
        }
    }
    writer.close().expect("child close");
}

#[test]
fn sigkill_at_random_moments_never_loses_a_durable_record_or_leaves_a_gap() {
    let dir = scratch();
    let exe = std::env::current_exe().expect("test binary path");
    let mut rng = SplitMix(0x5EED_CAFE);
    let mut last_recovered = 0u64;
    let started = Instant::now();
    for kill in 0..KILLS {
        let policy = if kill & 1 == 0 {
            "interval_ms"
        } else {
            "every_batch"
        };
        let mut child = Process::new(&exe)
            .args([
                "--exact",
                "crash_writer_child",
                "--nocapture",
                "--test-threads=1",
                "-q",
            ])
            .env(CHILD_DIR_ENV, dir.path())
            .env(CHILD_POLICY_ENV, policy)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("child stdout");
        let durable = Arc::new(AtomicU64::new(0));
        let ready = Arc::new(AtomicU64::new(0));
        let watcher = {
            let (durable, ready) = (Arc::clone(&durable), Arc::clone(&ready));
            thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let mut words = line.split_whitespace();
                    match (
                        words.next(),
                        words.next().and_then(|w| w.parse::<u64>().ok()),
                    ) {
                        (Some("durable"), Some(seq)) => {
                            durable.fetch_max(seq, Ordering::AcqRel);
                        }
                        (Some("ready"), Some(seq)) => ready.store(seq, Ordering::Release),
                        _ => {}
                    }
                }
            })
        };
        let wait_started = Instant::now();
        while ready.load(Ordering::Acquire) == 0 {
            assert!(
                wait_started.elapsed() < Duration::from_secs(20),
                "child never became ready"
            );
            thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            ready.load(Ordering::Acquire),
            last_recovered + 1,
            "the child continues after the last record"
        );
        thread::sleep(Duration::from_micros(rng.below(40_000)));
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        watcher.join().expect("watcher");

        let acknowledged = durable.load(Ordering::Acquire);
        let report =
            recover(dir.path()).unwrap_or_else(|err| panic!("kill {kill}: recovery failed: {err}"));
        let last = report.last_seq.unwrap_or(0);
        assert!(
            last >= acknowledged,
            "kill {kill}: durable {acknowledged} reported but only {last} recovered"
        );
        assert!(
            last >= last_recovered,
            "kill {kill}: records recovered before were lost"
        );
        // read_all checks contiguity and content from seq 1: nothing after a gap can appear.
        assert_prefix(&read_all(dir.path()), 1, last);
        eprintln!(
            "kill {kill} ({policy}): durable {acknowledged}, recovered {last}, torn {:?}, removed {}",
            report.torn_tail.as_ref().map(|t| t.bytes),
            report.removed_files.len()
        );
        last_recovered = last;
    }
    assert!(last_recovered > 0, "the children wrote nothing");
    assert_eq!(verify(dir.path()).expect("verify").verdict, Verdict::Clean);
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "crash test too slow: {:?}",
        started.elapsed()
    );
}
