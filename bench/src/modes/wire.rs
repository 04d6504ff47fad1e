//! `crossline-bench wire`: the appliance over the wire. Starts the real `crossline` binary (`--spawn`) on a temporary
//! configuration (ports chosen by the kernel, a temporary data directory, the example's users plus as many more as
//! `--sessions` needs), or connects to a running one (`--connect ADDR`), logs in N SoupBinTCP sessions, and drives
//! OUCH orders over loopback.
//!
//! Open loop (the default): message `i` of the whole run is planned at `start + i / rate` and goes to session
//! `i % N`; latency = receipt of the message's FIRST response (Order Accepted, Order Rejected, Order Canceled for
//! a cancel, Quote Status) − its PLANNED send time, so a stall anywhere shows in the percentiles. Taker fills are
//! timed separately (planned send of the aggressive order → its first Order Executed). In the same run the bare echo
//! baseline is measured: the in-process crossline-net echo server and the echo client at the same rate and message
//! size (`modes::echo`). With `--spawn` in open loop it is interleaved (`BaselineSchedule::Interleaved`): the
//! schedule is cut into `--slices` parts, and before each part an echo slice of the same length runs while every
//! thread of the appliance is stopped (SIGSTOP, continued after), so the two are measured over the same stretch of
//! the host's time and neither sees the other's threads. On a shared virtual machine whose hiccups come and go by
//! the minute, measuring one after the other made the ratio of their p99s depend on which of them drew the noisier
//! minute. `--baseline before` measures the whole echo first, before the appliance starts.
//!
//! `--max`: every session keeps a bounded window of messages in flight and sends whenever the window has room, for
//! `--duration-s`; the result is the sustained orders per second (responses received per second). Latency there is
//! from the actual send (a closed window hides stalls; the report says so).
//!
//! The report also places the latency in time: per 100 ms of the schedule (planned send times), how many messages,
//! how many answered later than 1 ms, and the slowest (`timeline_100ms` in the JSON, the three worst intervals in the
//! text). A start-up transient, a periodic stall and the host's scattered hiccups look alike in a percentile and
//! nothing alike there.
//!
//! The client is ONE thread driving every session's non-blocking TCP_NODELAY socket in turn: due messages of a
//! session are framed into one buffer and handed to one `write`, responses are read as they come; SoupBinTCP login
//! and framing come from crossline-net (`soupbin::{LoginRequest, PacketBuffer, FrameDecoder}`), the OUCH messages
//! from `crossline_net::ouch`. (The client library `crossline_net::client::Client` writes every message with its own
//! blocking `write`, which is what a market maker does but would make the rig, not the appliance, the limit at
//! high rates.)
//!
//! The flows (`--workload`) are seeded market-maker flows that keep the book bounded, so they can run at any rate
//! for any time: `mm-orders` (each session keeps at most 8 resting Day orders a few ticks off the reference price,
//! cancels its oldest when it has 8, and sends one aggressive IOC in 10 that crosses the other sessions' orders)
//! and `mm-quotes` (two-sided quotes replacing the session's previous quote, and one aggressive IOC in 10).

use crate::env::Environment;
use crate::histogram::{latency_histogram, LatencyNs};
use crate::modes::echo::{self, EchoBackend, EchoOptions, EchoServerOptions, Load};
use crate::modes::echo_io::EchoIo;
use crate::placement::{self, PinnedThread, Placement, SplitCores};
use crate::report::{group_digits, Baseline, LatencySampling, Named, Report};
use crate::rng::Rng;
use crate::search::{RateTarget, StepMeasurement};
use crate::threads::{ThreadUse, ThreadWatch};
use crate::timer::{Timer, TimerSource};
use anyhow::{bail, Context};
use crossline_net::ouch::{
    CancelOrder, CancelReason, Capacity, CrossType, Display, EnterOrder, IsoEligibility, Outbound,
    Quote, QuoteStatusCode, Side, TimeInForce,
};
use crossline_net::soupbin::{
    packet_type, FrameDecoder, LoginRequest, Packet, PacketBuffer, SessionId,
};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// The goal of issue 5: appliance p99 <= this times the echo p99.
pub const P99_RATIO_GOAL: f64 = 1.5;
/// The goal of issue 5 for `--max --sessions 8`.
pub const MAX_RATE_GOAL: f64 = 1_000_000.0;
/// Resting orders per session at most (mm-orders).
const RESTING_PER_SESSION: usize = 8;
/// One message in this many is an aggressive IOC.
const AGGRESSOR_ONE_IN: u64 = 10;
/// Slots of the per-session table of messages by UserRefNum (a power of two).
const SLOTS: usize = 1 << 18;
/// Messages framed into one write per session at most.
const SEND_BATCH_MAX: usize = 64;
const SEND_BUFFER_BYTES: usize = 64 * 1024;
const RECEIVE_BUFFER_BYTES: usize = 1 << 20;
const MAX_FRAME_BYTES: usize = 2 + u16::MAX as usize;
/// The first message is planned this long after the clock starts.
const START_LEAD_NS: u64 = 2_000_000;
const SLEEP_THRESHOLD_NS: u64 = 200_000;
const SLEEP_WAKE_EARLY_NS: u64 = 100_000;
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
const CLIENT_HEARTBEAT_NS: u64 = 500_000_000;
/// Loops with nothing sent or received before a floating client blocks in ppoll(2) (spin, then block: on a box
/// with fewer cores than busy threads a spinning client takes a core from the appliance). A split run's client has
/// a core of its own and never blocks for a response, as the echo's client never does: a client that sleeps lets
/// its vCPU halt and reads the response only once the host has run it again.
const IDLE_SPINS: u32 = 50;
/// The client wakes this long before the next planned send and spins the rest.
const IDLE_WAKE_EARLY_NS: u64 = 20_000;
/// The longest single block.
const IDLE_BLOCK_MAX_NS: u64 = 1_000_000;

/// The instrument the flows trade (the example configuration's ACME).
const SYMBOL: &str = "ACME";
const REFERENCE_PRICE: u64 = 1_000_000;
const TICK: u64 = 100;

/// The flows of the wire mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WireWorkload {
    /// Resting Day orders a few ticks off the reference, cancel of the oldest at 8 per session, 1 in 10 an IOC.
    MmOrders,
    /// Two-sided quotes replacing the previous one, 1 in 10 an IOC.
    MmQuotes,
}

impl WireWorkload {
    pub fn name(self) -> &'static str {
        match self {
            WireWorkload::MmOrders => "mm-orders",
            WireWorkload::MmQuotes => "mm-quotes",
        }
    }
}

/// How the bare echo baseline shares the run with the appliance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BaselineSchedule {
    /// In slices alternating with the appliance's, the appliance paused (SIGSTOP) while the echo runs, so both
    /// are measured over the same stretch of the box's time and see the same neighbours (--spawn, open loop).
    Interleaved,
    /// The whole echo run first, before the appliance starts.
    Before,
    /// No baseline.
    #[value(name = "none")]
    Off,
}

impl BaselineSchedule {
    pub fn name(self) -> &'static str {
        match self {
            BaselineSchedule::Interleaved => "interleaved",
            BaselineSchedule::Before => "before",
            BaselineSchedule::Off => "none",
        }
    }

    /// The schedule a run gets when none is asked for: interleaved where it can be (a spawned appliance, open
    /// loop), else the echo first.
    pub fn default_for(target: &Target, max: bool) -> BaselineSchedule {
        if matches!(target, Target::Spawn { .. }) && !max {
            BaselineSchedule::Interleaved
        } else {
            BaselineSchedule::Before
        }
    }
}

/// Slices of an interleaved run when none are asked for.
pub const DEFAULT_SLICES: u32 = 10;
/// The longest slice of an interleaved run: the appliance is paused for as long, its sessions silent, and it
/// disconnects a session silent for its client timeout (15 s in the example configuration).
const INTERLEAVED_SLICE_MAX: Duration = Duration::from_secs(10);
/// After each part of an interleaved run, responses are still read for this long before the appliance is paused:
/// an aggressive order's first execution can follow its acceptance in a later read, and read only after the next
/// echo slice it would be timed seconds late.
const PART_DRAIN: Duration = Duration::from_millis(20);
/// After an interleaved echo slice, the continued appliance gets this long (timers that came due while it was
/// paused, heartbeats) before its next slice is planned.
const RESUME_SETTLE: Duration = Duration::from_millis(50);

/// Where the appliance comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Start `binary serve --config <config>`; `config` None: the example with ports 0 and a temporary directory.
    Spawn {
        binary: PathBuf,
        config: Option<PathBuf>,
    },
    /// An appliance already running, with the example's users (or users named mm{i} with password mm{i}-pw).
    Connect(SocketAddr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct WireOptions {
    pub target: Target,
    /// Total messages per second over all sessions (ignored by `max`).
    pub rate_per_sec: u64,
    pub duration: Duration,
    pub sessions: usize,
    pub workload: WireWorkload,
    pub seed: u64,
    /// Drive as fast as possible with `window` messages in flight per session.
    pub max: bool,
    pub window: usize,
    /// How the echo baseline is measured, if at all.
    pub baseline: BaselineSchedule,
    /// What the baseline's echo server does besides echoing: nothing (the goal's baseline), or the appliance's
    /// journal, UDP feed or both (a diagnostic: what that I/O alone costs the tail).
    pub echo_io: EchoIo,
    /// Slices of each side in an interleaved run (at least 1, at most one message each).
    pub slices: u32,
    pub response_timeout: Duration,
    /// Keep every answered message's planned send and latency (`WireRun::answers`), for a look at the tail one
    /// message at a time. The room is allocated before the run (open loop: the planned count).
    pub keep_answers: bool,
    /// Where the client and the server (the gateway, the echo server) run (`placement`).
    pub placement: Placement,
}

impl Default for WireOptions {
    fn default() -> Self {
        WireOptions {
            target: Target::Spawn {
                binary: PathBuf::from("crossline"),
                config: None,
            },
            rate_per_sec: 100_000,
            duration: Duration::from_secs(10),
            sessions: 1,
            workload: WireWorkload::MmOrders,
            seed: 1,
            max: false,
            window: 256,
            baseline: BaselineSchedule::Interleaved,
            echo_io: EchoIo::Bare,
            slices: DEFAULT_SLICES,
            response_timeout: Duration::from_secs(10),
            keep_answers: false,
            placement: Placement::Float,
        }
    }
}

/// The placement a run gets when none is asked for: split for an appliance spawned on the example configuration
/// in open loop on a box with two cores or more (`placement`); float with `--config` or `--connect` (the
/// appliance's placement is then its own, and pinning the echo alone would not compare like with like), with
/// `--max` (the sessions and the appliance use every core) and on one core.
pub fn default_placement(target: &Target, max: bool) -> Placement {
    let two_cores = matches!(placement::split_cores(), Ok(Some(_)));
    if matches!(target, Target::Spawn { config: None, .. }) && !max && two_cores {
        Placement::Split
    } else {
        Placement::Float
    }
}

/// The `crossline` next to this executable (target/release/crossline for target/release/crossline-bench, and for
/// a test executable in target/release/deps, the one a directory up).
pub fn default_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating crossline-bench's own executable")?;
    let mut dir = exe.parent().map(Path::to_path_buf);
    for _ in 0..2 {
        let Some(current) = dir else { break };
        let candidate = current.join("crossline");
        if candidate.is_file() {
            return Ok(candidate);
        }
        dir = current.parent().map(Path::to_path_buf);
    }
    bail!(
        "the crossline binary is not next to {} (nor a directory up): build it with `cargo build --release -p \
         crossline`, or pass --binary PATH",
        exe.display()
    )
}

/// A `crossline serve` child: killed (SIGTERM, then SIGKILL) on drop.
pub struct Spawned {
    child: Option<Child>,
    pub order_entry: SocketAddr,
    lines: Receiver<String>,
    _dir: Option<tempfile::TempDir>,
    /// Where the spawned appliance's MoldUDP64 feed goes (see `temp_config`).
    _feed_sink: Option<UdpSocket>,
}

impl Spawned {
    /// The appliance's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Starts the appliance and waits for its `ready` line. `gateway_core` pins the gateway of the example
    /// configuration (a configuration of the caller's own is used as it is).
    pub fn start(
        binary: &Path,
        config: Option<&Path>,
        sessions: usize,
        gateway_core: Option<usize>,
    ) -> anyhow::Result<Spawned> {
        if !binary.is_file() {
            bail!(
                "{} does not exist: build the appliance with `cargo build --release -p crossline` or pass \
                 --binary PATH",
                binary.display()
            );
        }
        let (dir, config_path, feed_sink) = match config {
            Some(path) => (None, path.to_path_buf(), None),
            None => {
                let dir = tempfile::Builder::new()
                    .prefix("crossline-bench-wire-")
                    .tempdir()
                    .context("creating the appliance's temporary directory")?;
                let feed_sink = UdpSocket::bind((std::net::Ipv4Addr::LOCALHOST, 0))
                    .context("binding the feed's sink socket")?;
                let feed_addr = feed_sink.local_addr().context("the feed sink's address")?;
                let text = temp_config(
                    binary,
                    &dir.path().join("data"),
                    sessions,
                    feed_addr,
                    gateway_core,
                )?;
                let path = dir.path().join("crossline.toml");
                std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?;
                (Some(dir), path, Some(feed_sink))
            }
        };
        let mut child = Command::new(binary)
            .args(["serve", "--config"])
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("starting {} serve", binary.display()))?;
        let stdout = child.stdout.take().context("the appliance's stdout")?;
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut spawned = Spawned {
            child: Some(child),
            order_entry: SocketAddr::from(([127, 0, 0, 1], 0)),
            lines,
            _dir: dir,
            _feed_sink: feed_sink,
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut order_entry = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = spawned.lines.recv_timeout(left) else {
                let status = spawned.stop().ok();
                bail!("the appliance did not say it was ready within {READY_TIMEOUT:?} (exit {status:?})");
            };
            if line.contains("listening") {
                order_entry = line
                    .split_whitespace()
                    .find_map(|field| field.strip_prefix("order_entry="))
                    .and_then(|value| value.parse().ok());
            }
            if line.contains("ready") {
                break;
            }
        }
        spawned.order_entry =
            order_entry.context("the appliance printed no order_entry= address")?;
        Ok(spawned)
    }

    /// SIGTERM, wait up to 30 s, then SIGKILL. Returns the output lines printed since start-up.
    pub fn stop(&mut self) -> anyhow::Result<Vec<String>> {
        let Some(mut child) = self.child.take() else {
            return Ok(Vec::new());
        };
        let pid = libc::pid_t::try_from(child.id()).context("child pid")?;
        // SAFETY: kill(2) on our own child, which has not been waited for, so the pid is still ours. SIGCONT
        // first: a paused appliance (see `pause`) would not act on SIGTERM until continued.
        unsafe {
            libc::kill(pid, libc::SIGCONT);
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().context("waiting for the appliance")? {
                break Some(status);
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut lines: Vec<String> = self.lines.try_iter().collect();
        match status {
            Some(status) if status.success() => {}
            Some(status) => lines.push(format!("the appliance exited with {status}")),
            None => lines.push(format!(
                "the appliance did not stop within {STOP_TIMEOUT:?} of SIGTERM and was killed"
            )),
        }
        Ok(lines)
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

impl Spawned {
    /// Stops every thread of the appliance and of any process it started (a wrapper script's `crossline`, say)
    /// with SIGSTOP, and returns once each of them is stopped, so that nothing of it runs while the guard lives;
    /// the guard continues them (SIGCONT) when dropped.
    pub fn pause(&self) -> anyhow::Result<Paused> {
        let child = self.child.as_ref().context("the appliance has stopped")?;
        let pid = libc::pid_t::try_from(child.id()).context("child pid")?;
        let pids = with_descendants(pid)?;
        let paused = Paused { pids };
        for &pid in &paused.pids {
            // SAFETY: kill(2) with a pid just read from /proc as our child or one of its descendants. One that has
            // exited since makes the call fail harmlessly (ESRCH), and is then skipped by the check below.
            unsafe {
                libc::kill(pid, libc::SIGSTOP);
            }
        }
        let deadline = Instant::now() + PAUSE_TIMEOUT;
        while !paused.pids.iter().all(|&pid| all_threads_stopped(pid)) {
            if Instant::now() >= deadline {
                bail!(
                    "the appliance's threads did not all stop within {PAUSE_TIMEOUT:?} of SIGSTOP"
                );
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        Ok(paused)
    }
}

/// How long `Spawned::pause` waits for every thread to stop.
const PAUSE_TIMEOUT: Duration = Duration::from_secs(2);

/// A paused appliance (`Spawned::pause`): continued on drop.
#[derive(Debug)]
pub struct Paused {
    /// The child first, then its descendants.
    pids: Vec<libc::pid_t>,
}

impl Drop for Paused {
    fn drop(&mut self) {
        for &pid in &self.pids {
            // SAFETY: kill(2) on the processes `pause` stopped; the `Spawned` that owns the child outlives this
            // guard.
            unsafe {
                libc::kill(pid, libc::SIGCONT);
            }
        }
    }
}

/// `pid` and every process descended from it, from the parent links in /proc/*/stat.
fn with_descendants(pid: libc::pid_t) -> anyhow::Result<Vec<libc::pid_t>> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").context("reading /proc")? {
        let Ok(entry) = entry else { continue };
        let Some(process) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<libc::pid_t>().ok())
        else {
            continue;
        };
        // A process that has just exited leaves no stat to read.
        if let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) {
            if let Some(parent) = parent_pid(&stat) {
                parents.push((process, parent));
            }
        }
    }
    let mut family = vec![pid];
    let mut next = 0;
    while next < family.len() {
        let parent = family[next];
        family.extend(
            parents
                .iter()
                .filter(|(_, of)| *of == parent)
                .map(|(process, _)| *process),
        );
        next += 1;
    }
    Ok(family)
}

/// Whether every thread of `pid` is stopped (`T`) or can no longer run (a zombie, `Z`, or gone).
fn all_threads_stopped(pid: libc::pid_t) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return true;
    };
    tasks.filter_map(Result::ok).all(|task| {
        // A thread that has just exited leaves no stat to read: it cannot run either.
        std::fs::read_to_string(task.path().join("stat")).map_or(true, |stat| {
            matches!(thread_state(&stat), Some('T' | 'Z' | 'X'))
        })
    })
}

/// The fields of a /proc stat line after the command name, which is in parentheses and may itself hold spaces and
/// parentheses: the state, the parent pid, ...
fn stat_fields(stat: &str) -> Option<std::str::SplitWhitespace<'_>> {
    Some(stat[stat.rfind(')')? + 1..].split_whitespace())
}

/// The parent pid of a /proc stat line.
fn parent_pid(stat: &str) -> Option<libc::pid_t> {
    stat_fields(stat)?.nth(1)?.parse().ok()
}

/// The state letter of a /proc stat line.
fn thread_state(stat: &str) -> Option<char> {
    stat_fields(stat)?.next()?.chars().next()
}

/// Username and password of session `index` (0-based): the example's alice, bob, carol, then mm04, mm05, ...
fn credentials(index: usize) -> (String, String) {
    let name = match index {
        0 => "alice".to_string(),
        1 => "bob".to_string(),
        2 => "carol".to_string(),
        n => format!("mm{:02}", n + 1),
    };
    let password = format!("{name}-pw");
    (name, password)
}

/// `binary`'s example configuration, made the spawned appliance's by `configure_example`.
fn temp_config(
    binary: &Path,
    data_dir: &Path,
    sessions: usize,
    feed_sink: SocketAddr,
    gateway_core: Option<usize>,
) -> anyhow::Result<String> {
    let out = Command::new(binary)
        .args(["config", "example"])
        .output()
        .with_context(|| format!("running {} config example", binary.display()))?;
    if !out.status.success() {
        bail!("{} config example failed", binary.display());
    }
    let text = String::from_utf8(out.stdout).context("the example configuration is not UTF-8")?;
    configure_example(&text, data_dir, sessions, feed_sink, gateway_core)
}

/// The example configuration with ports 0, `data_dir`, the gateway pinned to `gateway_core` (else nothing pinned:
/// the bench shares the box), the MoldUDP64 feed sent to `feed_sink` (a socket the bench holds open and never
/// reads: the kernel drops what its buffer cannot hold, where a port with no socket would answer every datagram
/// with an ICMP port-unreachable, work a venue's feed to its subscribers never causes), and users (with their own
/// funded accounts) for sessions beyond the example's three.
fn configure_example(
    text: &str,
    data_dir: &Path,
    sessions: usize,
    feed_sink: SocketAddr,
    gateway_core: Option<usize>,
) -> anyhow::Result<String> {
    let mut text = text
        .replace(
            "data_dir = \"crossline-data\"",
            &format!("data_dir = {:?}", data_dir.display().to_string()),
        )
        .replace("listen = \"127.0.0.1:15000\"", "listen = \"127.0.0.1:0\"")
        .replace(
            "udp_destinations = [\"127.0.0.1:16000\"]",
            &format!("udp_destinations = [\"{feed_sink}\"]"),
        )
        .replace("listen = \"127.0.0.1:18080\"", "listen = \"127.0.0.1:0\"")
        .replace(
            "retransmit_listen = \"127.0.0.1:16001\"",
            "retransmit_listen = \"127.0.0.1:0\"",
        )
        .replace(
            "tcp_listen = \"127.0.0.1:16002\"",
            "tcp_listen = \"127.0.0.1:0\"",
        )
        .replace(
            "snapshot_listen = \"127.0.0.1:16003\"",
            "snapshot_listen = \"127.0.0.1:0\"",
        )
        // Unpinned, each with the idle strategy the binary's example gives it (so that --binary compares builds
        // on their own defaults). The example pins nothing now; older builds' examples pinned these two.
        .replace("gateway = { core = 0, idle = ", "gateway = { idle = ")
        .replace("engine = { core = 1, idle = ", "engine = { idle = ");
    if let Some(core) = gateway_core {
        let pinned = format!("gateway = {{ core = {core}, idle = ");
        text = text.replace("gateway = { idle = ", &pinned);
        if !text.contains(&pinned) {
            bail!(
                "the example configuration changed shape: could not pin the gateway to cpu {core}"
            );
        }
    }
    if !text.contains("listen = \"127.0.0.1:0\"") {
        bail!("the example configuration changed shape: could not point order entry at port 0");
    }
    if !text.contains(&format!("udp_destinations = [\"{feed_sink}\"]")) {
        bail!(
            "the example configuration changed shape: could not point the feed at the bench's sink"
        );
    }
    let params = crossline_net::session::cheap_params();
    for index in 3..sessions {
        let (name, password) = credentials(index);
        let hash = crossline_net::session::hash_password_with_params(&password, params.clone())
            .map_err(|error| anyhow::anyhow!("hashing {name}'s password: {error}"))?;
        let account = index + 1;
        text.push_str(&format!(
            "\n[[accounts]]\nid = {account}\nfee_tier = 1\nmax_order_qty = 1000000\n\
             max_order_notional = 100000000000000\nmax_open_orders = 100000\n\
             deposits = [{{ asset = 0, amount = 100000000000000000 }}, {{ asset = 1, amount = 100000000 }}, \
             {{ asset = 2, amount = 100000000 }}]\n\n[[users]]\nname = \"{name}\"\npassword_hash = \"{hash}\"\n\
             account = {account}\nfirm = \"M{:03}\"\ncancel_on_disconnect = true\n",
            index + 1
        ));
    }
    Ok(text)
}

// ---------------------------------------------------------------------------------------------------------------
// Sessions and flows.

/// What the client knows of one of its messages, by UserRefNum.
#[derive(Debug, Clone, Copy)]
struct Slot {
    used: bool,
    /// The order (or quote) awaits its first response, planned at `planned_ns`.
    new_pending: bool,
    /// A cancel of it awaits its response, planned at `cancel_planned_ns`.
    cancel_pending: bool,
    /// Off the book (filled, cancelled, rejected) as far as the responses say.
    done: bool,
    planned_ns: u64,
    cancel_planned_ns: u64,
    qty_left: u32,
    aggressor: bool,
    fill_timed: bool,
}

impl Slot {
    fn reusable(&self) -> bool {
        !self.used || (self.done && !self.new_pending && !self.cancel_pending)
    }
}

const FREE_SLOT: Slot = Slot {
    used: false,
    new_pending: false,
    cancel_pending: false,
    done: false,
    planned_ns: 0,
    cancel_planned_ns: 0,
    qty_left: 0,
    aggressor: false,
    fill_timed: false,
};

/// What one session counted.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    sent: u64,
    acked: u64,
    new_orders: u64,
    aggressors: u64,
    cancels: u64,
    quotes: u64,
    accepted: u64,
    rejected: u64,
    quote_rejected: u64,
    cancels_too_late: u64,
    unsolicited_cancels: u64,
    executions: u64,
    taker_fills_timed: u64,
}

struct Session {
    stream: TcpStream,
    decoder: FrameDecoder,
    out: PacketBuffer,
    rng: Rng,
    workload: WireWorkload,
    next_ref: u32,
    live: VecDeque<u32>,
    slots: Vec<Slot>,
    counts: Counts,
    last_send_ns: u64,
}

fn slot_index(user_ref: u32) -> usize {
    user_ref as usize & (SLOTS - 1)
}

fn pad<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [b' '; N];
    for (slot, byte) in out.iter_mut().zip(text.bytes()) {
        *slot = byte;
    }
    out
}

impl Session {
    fn login(
        addr: SocketAddr,
        index: usize,
        seed: u64,
        workload: WireWorkload,
    ) -> anyhow::Result<Session> {
        let (user, password) = credentials(index);
        let mut stream =
            TcpStream::connect(addr).with_context(|| format!("connecting {user} to {addr}"))?;
        stream.set_nodelay(true).context("TCP_NODELAY")?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .context("read timeout")?;
        let mut out = PacketBuffer::new(SEND_BUFFER_BYTES);
        out.push(&Packet::LoginRequest(LoginRequest {
            username: pad(&user),
            password: pad(&password),
            requested_session: SessionId::BLANK,
            requested_sequence_number: 0,
        }))
        .map_err(|error| anyhow::anyhow!("encoding {user}'s login: {error}"))?;
        stream
            .write_all(out.as_bytes())
            .with_context(|| format!("sending {user}'s login"))?;
        out.clear();
        let mut decoder = FrameDecoder::new(MAX_FRAME_BYTES, RECEIVE_BUFFER_BYTES);
        'login: loop {
            while let Some(frame) = decoder
                .next_frame()
                .map_err(|error| anyhow::anyhow!("{user}'s login: {error}"))?
            {
                match frame
                    .packet()
                    .map_err(|error| anyhow::anyhow!("{user}'s login: {error}"))?
                {
                    Packet::LoginAccepted(_) => break 'login,
                    Packet::LoginRejected(reason) => {
                        bail!("{user}'s login was rejected: {reason:?}")
                    }
                    _ => {}
                }
            }
            let read = stream
                .read(decoder.spare())
                .with_context(|| format!("waiting for {user}'s login answer"))?;
            if read == 0 {
                bail!("the appliance closed {user}'s connection during login");
            }
            decoder.commit(read);
        }
        stream.set_read_timeout(None).context("read timeout")?;
        stream
            .set_nonblocking(true)
            .context("non-blocking socket")?;
        let mut rng = Rng::new(seed);
        let rng = rng.fork(index as u64 + 1);
        Ok(Session {
            stream,
            decoder,
            out,
            rng,
            workload,
            next_ref: 1,
            live: VecDeque::with_capacity(RESTING_PER_SESSION + 1),
            slots: vec![FREE_SLOT; SLOTS],
            counts: Counts::default(),
            last_send_ns: 0,
        })
    }

    fn in_flight(&self) -> u64 {
        self.counts.sent - self.counts.acked
    }

    fn new_ref(&mut self) -> anyhow::Result<u32> {
        let user_ref = self.next_ref;
        self.next_ref += 1;
        if !self.slots[slot_index(user_ref)].reusable() {
            bail!("more than {SLOTS} messages of one session are unanswered or resting: the appliance fell too far behind");
        }
        Ok(user_ref)
    }

    /// Frames the flow's next message into the send buffer, planned at `planned_ns`.
    fn frame_next(&mut self, planned_ns: u64) -> anyhow::Result<()> {
        let symbol = crossline_engine::symbol(SYMBOL);
        let aggressor = self.rng.below(AGGRESSOR_ONE_IN) == 0;
        while let Some(&front) = self.live.front() {
            if self.slots[slot_index(front)].done {
                self.live.pop_front();
            } else {
                break;
            }
        }
        let encoded = if !aggressor
            && self.workload == WireWorkload::MmOrders
            && self.live.len() >= RESTING_PER_SESSION
        {
            let user_ref = self.live.pop_front().unwrap_or(0);
            let slot = &mut self.slots[slot_index(user_ref)];
            slot.cancel_pending = true;
            slot.cancel_planned_ns = planned_ns;
            self.counts.cancels += 1;
            let cancel = CancelOrder {
                user_ref_num: user_ref,
                quantity: 0,
                options: Default::default(),
            };
            let slot = self
                .out
                .reserve_frame(packet_type::UNSEQUENCED_DATA, cancel.encoded_len())
                .map_err(|error| anyhow::anyhow!("framing a cancel: {error}"))?;
            cancel.encode(slot).map(|_| ())
        } else if !aggressor && self.workload == WireWorkload::MmQuotes {
            let user_ref = self.new_ref()?;
            let quote = Quote {
                user_ref_num: user_ref,
                symbol,
                bid_price: REFERENCE_PRICE - TICK * self.rng.range_u64(1, 10),
                bid_quantity: self.rng.range_u64(1, 10) as u32,
                ask_price: REFERENCE_PRICE + TICK * self.rng.range_u64(1, 10),
                ask_quantity: self.rng.range_u64(1, 10) as u32,
            };
            self.slots[slot_index(user_ref)] = Slot {
                used: true,
                new_pending: true,
                planned_ns,
                fill_timed: true,
                ..FREE_SLOT
            };
            self.counts.quotes += 1;
            let slot = self
                .out
                .reserve_frame(packet_type::UNSEQUENCED_DATA, quote.encoded_len())
                .map_err(|error| anyhow::anyhow!("framing a quote: {error}"))?;
            quote.encode(slot).map(|_| ())
        } else {
            let user_ref = self.new_ref()?;
            let buy = self.rng.below(2) == 0;
            let (price, quantity, time_in_force) = if aggressor {
                let price = if buy {
                    REFERENCE_PRICE + 5 * TICK
                } else {
                    REFERENCE_PRICE - 5 * TICK
                };
                (
                    price,
                    self.rng.range_u64(1, 3) as u32,
                    TimeInForce::ImmediateOrCancel,
                )
            } else {
                let ticks = self.rng.range_u64(1, 20);
                let price = if buy {
                    REFERENCE_PRICE - ticks * TICK
                } else {
                    REFERENCE_PRICE + ticks * TICK
                };
                (price, self.rng.range_u64(1, 10) as u32, TimeInForce::Day)
            };
            let order = EnterOrder {
                user_ref_num: user_ref,
                side: if buy { Side::Buy } else { Side::Sell },
                quantity,
                symbol,
                price,
                time_in_force,
                display: Display::Visible,
                capacity: Capacity::Agency,
                intermarket_sweep: IsoEligibility::NotEligible,
                cross_type: CrossType::ContinuousMarket,
                cl_ord_id: [b' '; 14],
                options: Default::default(),
            };
            self.slots[slot_index(user_ref)] = Slot {
                used: true,
                new_pending: true,
                planned_ns,
                qty_left: quantity,
                aggressor,
                fill_timed: !aggressor,
                ..FREE_SLOT
            };
            self.counts.new_orders += 1;
            if aggressor {
                self.counts.aggressors += 1;
            } else if self.workload == WireWorkload::MmOrders {
                self.live.push_back(user_ref);
            }
            let slot = self
                .out
                .reserve_frame(packet_type::UNSEQUENCED_DATA, order.encoded_len())
                .map_err(|error| anyhow::anyhow!("framing an order: {error}"))?;
            order.encode(slot).map(|_| ())
        };
        encoded.map_err(|error| anyhow::anyhow!("encoding OUCH: {error}"))?;
        self.counts.sent += 1;
        Ok(())
    }

    /// Hands what is framed to the socket (non-blocking); true if the buffer is now empty.
    fn flush(&mut self, now_ns: u64) -> anyhow::Result<bool> {
        while !self.out.is_empty() {
            match self.stream.write(self.out.as_bytes()) {
                Ok(0) => bail!("the appliance's socket accepts no more bytes"),
                Ok(written) => {
                    self.out.consume(written);
                    self.last_send_ns = now_ns;
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => return Err(error).context("sending to the appliance"),
            }
        }
        Ok(true)
    }

    fn heartbeat_if_idle(&mut self, now_ns: u64) -> anyhow::Result<()> {
        if self.out.is_empty() && now_ns.saturating_sub(self.last_send_ns) > CLIENT_HEARTBEAT_NS {
            self.out
                .push(&Packet::ClientHeartbeat)
                .map_err(|error| anyhow::anyhow!("framing a heartbeat: {error}"))?;
            self.flush(now_ns)?;
        }
        Ok(())
    }

    /// One non-blocking read; every whole response in it is matched and timed. Returns the responses acked.
    fn poll(&mut self, timer: &Timer, recorder: &mut Recorder) -> anyhow::Result<u64> {
        let spare = self.decoder.spare();
        if spare.is_empty() {
            bail!("a response frame larger than the receive buffer");
        }
        let read = match self.stream.read(spare) {
            Ok(0) => bail!(
                "the appliance closed the connection after {} responses",
                self.counts.acked
            ),
            Ok(read) => read,
            Err(error)
                if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) =>
            {
                return Ok(0)
            }
            Err(error) => return Err(error).context("receiving from the appliance"),
        };
        let receive_ns = timer.end();
        self.decoder.commit(read);
        let acked_before = self.counts.acked;
        loop {
            let frame = match self.decoder.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => break,
                Err(error) => bail!("bad SoupBinTCP frame from the appliance: {error}"),
            };
            match frame.packet_type {
                packet_type::SEQUENCED_DATA => {
                    let message = Outbound::decode(frame.payload).map_err(|error| {
                        anyhow::anyhow!("bad OUCH message from the appliance: {error}")
                    })?;
                    on_response(
                        &mut self.slots,
                        &mut self.counts,
                        message,
                        receive_ns,
                        recorder,
                    );
                }
                packet_type::END_OF_SESSION => bail!("the appliance ended the session"),
                _ => {}
            }
        }
        Ok(self.counts.acked - acked_before)
    }

    fn logout(&mut self) {
        self.out.clear();
        if self.out.push(&Packet::LogoutRequest).is_ok() {
            let _ = self.stream.set_nonblocking(false);
            let _ = self.stream.write_all(self.out.as_bytes());
        }
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// Where the latencies go.
struct Recorder {
    ack: Histogram<u64>,
    taker_fill: Histogram<u64>,
    last_receive_ns: u64,
    /// The schedule's start: interval `i` of the timeline holds the messages planned in
    /// `[start + i * TIMELINE_INTERVAL_NS, start + (i + 1) * TIMELINE_INTERVAL_NS)`.
    start_ns: u64,
    /// The measured time: from each part's first planned send to its last answer, added up (see
    /// `drive_schedule_part`); the achieved rate is answers per second of it.
    active_ns: u64,
    /// Each part's own p99, in order (an interleaved run's parts).
    part_p99_ns: Vec<u64>,
    timeline: Vec<TimelineInterval>,
    /// Every answer, when the options ask for them (allocated up front).
    answers: Option<Vec<Answer>>,
    /// The threads' CPU and waits for a core over the measured parts.
    threads: ThreadWatch,
    /// The same for the bench's own threads (the echo's client and server) over an interleaved run's echo slices.
    echo_threads: ThreadWatch,
}

/// Length of one interval of the latency timeline.
const TIMELINE_INTERVAL_NS: u64 = 100_000_000;
/// A message answered later than this after its planned send counts as slow in the timeline.
const TIMELINE_SLOW_NS: u64 = 1_000_000;
/// The report's second share of slow messages: above the bare echo's quiet tail on loopback, well below the box's
/// stalls.
const QUIET_TAIL_NS: u64 = 100_000;
/// Intervals the text report names (the slowest first).
const TIMELINE_WORST_SHOWN: usize = 3;

/// The messages planned in one 100 ms interval of the schedule, and how they fared: where in the run the tail is
/// (a start-up transient, a periodic stall, the host's hiccups scattered throughout).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TimelineInterval {
    /// Offset of the interval from the schedule's start.
    pub start_ms: u64,
    pub messages: u64,
    /// Answered more than 1 ms after their planned send.
    pub slow_over_1ms: u64,
    pub max_ns: u64,
}

impl Recorder {
    fn record_ack(&mut self, planned_ns: u64, receive_ns: u64) {
        let latency_ns = receive_ns.saturating_sub(planned_ns).max(1);
        self.ack.saturating_record(latency_ns);
        if let Some(answers) = self.answers.as_mut() {
            // Never grows during an open-loop run (room for every planned message); --max grows it.
            answers.push(Answer {
                planned_offset_ns: planned_ns.saturating_sub(self.start_ns),
                latency_ns,
            });
        }
        self.last_receive_ns = receive_ns;
        let index = (planned_ns.saturating_sub(self.start_ns) / TIMELINE_INTERVAL_NS) as usize;
        if index >= self.timeline.len() {
            let from = self.timeline.len() as u64;
            self.timeline
                .extend((from..=index as u64).map(|i| TimelineInterval {
                    start_ms: i * TIMELINE_INTERVAL_NS / 1_000_000,
                    ..TimelineInterval::default()
                }));
        }
        let interval = &mut self.timeline[index];
        interval.messages += 1;
        interval.slow_over_1ms += u64::from(latency_ns > TIMELINE_SLOW_NS);
        interval.max_ns = interval.max_ns.max(latency_ns);
    }
}

/// The text report's line about the timeline: the intervals with the most slow messages.
fn describe_worst_intervals(timeline: &[TimelineInterval]) -> String {
    let mut worst: Vec<&TimelineInterval> =
        timeline.iter().filter(|i| i.slow_over_1ms > 0).collect();
    if worst.is_empty() {
        return "no message over 1 ms".to_string();
    }
    let slow: u64 = worst.iter().map(|i| i.slow_over_1ms).sum();
    worst.sort_by_key(|i| std::cmp::Reverse((i.slow_over_1ms, i.max_ns)));
    let named: Vec<String> = worst
        .iter()
        .take(TIMELINE_WORST_SHOWN)
        .map(|i| {
            format!(
                "{:.1} s: {} (max {:.1} ms)",
                i.start_ms as f64 / 1e3,
                group_digits(i.slow_over_1ms),
                i.max_ns as f64 / 1e6
            )
        })
        .collect();
    format!(
        "{} messages over 1 ms in {} of {} intervals of 100 ms; most at {}",
        group_digits(slow),
        worst.len(),
        timeline.len(),
        named.join(", ")
    )
}

fn on_response(
    slots: &mut [Slot],
    counts: &mut Counts,
    message: Outbound,
    receive_ns: u64,
    recorder: &mut Recorder,
) {
    let mut ack = |planned_ns: u64, counts: &mut Counts| {
        recorder.record_ack(planned_ns, receive_ns);
        counts.acked += 1;
    };
    // The first response of an order (or quote) that awaits one answers it.
    let answer_new = |slot: &mut Slot| -> Option<u64> {
        if slot.used && slot.new_pending {
            slot.new_pending = false;
            Some(slot.planned_ns)
        } else {
            None
        }
    };
    match message {
        Outbound::OrderAccepted(accepted) => {
            let slot = &mut slots[slot_index(accepted.user_ref_num)];
            if let Some(planned_ns) = answer_new(slot) {
                ack(planned_ns, counts);
                counts.accepted += 1;
            }
        }
        Outbound::OrderRejected(rejected) => {
            let slot = &mut slots[slot_index(rejected.user_ref_num)];
            if let Some(planned_ns) = answer_new(slot) {
                ack(planned_ns, counts);
                counts.rejected += 1;
                slot.done = true;
            } else if slot.used && slot.cancel_pending {
                slot.cancel_pending = false;
                slot.done = true;
                counts.cancels_too_late += 1;
                ack(slot.cancel_planned_ns, counts);
            }
        }
        Outbound::CancelReject(reject) => {
            let slot = &mut slots[slot_index(reject.user_ref_num)];
            if slot.used && slot.cancel_pending {
                slot.cancel_pending = false;
                counts.cancels_too_late += 1;
                ack(slot.cancel_planned_ns, counts);
            }
        }
        Outbound::OrderCanceled(canceled) => {
            let slot = &mut slots[slot_index(canceled.user_ref_num)];
            if let Some(planned_ns) = answer_new(slot) {
                ack(planned_ns, counts);
                counts.accepted += 1;
            }
            if slot.used && slot.cancel_pending && canceled.reason == CancelReason::UserRequested {
                slot.cancel_pending = false;
                ack(slot.cancel_planned_ns, counts);
            } else if !slot.aggressor && !slot.done {
                counts.unsolicited_cancels += 1;
            }
            slot.done = true;
        }
        Outbound::AiqCanceled(canceled) => {
            let slot = &mut slots[slot_index(canceled.user_ref_num)];
            if let Some(planned_ns) = answer_new(slot) {
                ack(planned_ns, counts);
                counts.accepted += 1;
            }
            counts.unsolicited_cancels += 1;
            slot.qty_left = slot.qty_left.saturating_sub(canceled.decrement_quantity);
            if slot.qty_left == 0 {
                slot.done = true;
            }
        }
        Outbound::OrderExecuted(executed) => {
            counts.executions += 1;
            let slot = &mut slots[slot_index(executed.user_ref_num)];
            if let Some(planned_ns) = answer_new(slot) {
                ack(planned_ns, counts);
                counts.accepted += 1;
            }
            if slot.used && !slot.fill_timed {
                slot.fill_timed = true;
                counts.taker_fills_timed += 1;
                recorder
                    .taker_fill
                    .saturating_record(receive_ns.saturating_sub(slot.planned_ns).max(1));
            }
            slot.qty_left = slot.qty_left.saturating_sub(executed.quantity);
            if slot.qty_left == 0 {
                slot.done = true;
            }
        }
        Outbound::QuoteStatus(status) => {
            let slot = &mut slots[slot_index(status.user_ref_num)];
            if let Some(planned_ns) = answer_new(slot) {
                ack(planned_ns, counts);
                if status.status == QuoteStatusCode::Rejected {
                    counts.quote_rejected += 1;
                } else {
                    counts.accepted += 1;
                }
                slot.done = true;
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The run.

/// The JSON of a wire run: the common report (baseline = the bare echo) with the wire mode's figures beside it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WireReport {
    #[serde(flatten)]
    pub report: Report,
    /// "open_loop" or "max".
    pub load: String,
    pub target_rate_per_sec: Option<u64>,
    pub achieved_rate_per_sec: f64,
    pub sessions: usize,
    pub window_per_session: Option<usize>,
    pub messages_sent: u64,
    pub messages_answered: u64,
    /// Planned send of an aggressive IOC -> its first Order Executed.
    pub taker_fill_latency_ns: Option<LatencyNs>,
    pub executions: u64,
    /// Appliance p99 / echo p99 (open loop), over the whole run: the goal's measure.
    pub p99_ratio_to_echo: Option<f64>,
    /// An interleaved run: the median over its slices of (the appliance's p99 in the slice / the echo's p99 in
    /// the slice just before). One stall of the host weighs on one slice here, where it can set the whole run's
    /// p99 of one side.
    pub median_slice_p99_ratio: Option<f64>,
    /// An interleaved run, slice by slice.
    pub slices: Vec<SliceP99>,
    /// The fraction of messages answered more than 1 ms after their planned send. When the echo's is near 1% too,
    /// the box's own stalls decide where both p99s fall.
    pub share_over_1ms: Option<f64>,
    pub baseline_share_over_1ms: Option<f64>,
    /// The fraction answered more than 100 us after their planned send: a figure that moves little between runs,
    /// where the p99 jumps with the host's stalls. Beside the echo's, it measures the appliance's own tail (its
    /// threads and the client's competing for the cores).
    pub share_over_100us: Option<f64>,
    pub baseline_share_over_100us: Option<f64>,
    pub p99_ratio_goal: f64,
    pub max_rate_goal: Option<f64>,
    pub echo_message_bytes: usize,
    /// "interleaved", "before" or "none" (`BaselineSchedule`).
    pub baseline_schedule: String,
    /// What the baseline's echo server did besides echoing: `bare` (the goal's baseline), `journal`, `feed` or
    /// `journal-feed` (`EchoIo`).
    pub echo_io: String,
    /// The echo runs the baseline adds up: the slices of an interleaved run, 1 before, None without a baseline.
    pub baseline_slices: Option<u32>,
    /// "split" or "float" (`Placement`).
    pub placement: String,
    /// Split: the core of the client, and of the server (the spawned appliance's gateway and the echo server).
    pub client_core: Option<usize>,
    pub server_core: Option<usize>,
    /// The cores the spawned appliance's gateway thread was allowed, read from the kernel at the end of the run
    /// (None: not spawned, or not found).
    pub gateway_cores: Option<Vec<usize>>,
    pub appliance_output: Vec<String>,
    /// Latency by 100 ms of the schedule (planned send times).
    pub timeline_100ms: Vec<TimelineInterval>,
    /// Each thread of the spawned appliance and of the bench: its CPU time and its time runnable but waiting for
    /// a core over the appliance's measured parts (`threads`), the most CPU first.
    pub threads: Vec<ThreadUse>,
    /// The measured parts' wall time the threads' shares are of.
    pub threads_window_ns: u64,
    /// An interleaved run: the bench's threads (the echo's client and server) over the echo slices.
    pub baseline_threads: Vec<ThreadUse>,
    pub baseline_threads_window_ns: u64,
}

pub struct WireRun {
    pub report: WireReport,
    pub histogram: Histogram<u64>,
    pub baseline_histogram: Option<Histogram<u64>>,
    /// With `keep_answers`: every answered message in the order the answers arrived.
    pub answers: Vec<Answer>,
}

/// One answered message: when it was planned (from the schedule's start) and how long its answer took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub planned_offset_ns: u64,
    pub latency_ns: u64,
}

/// The fraction of the recorded values above `threshold_ns` (None for an empty histogram).
fn share_over(histogram: &Histogram<u64>, threshold_ns: u64) -> Option<f64> {
    if histogram.is_empty() {
        return None;
    }
    let at_or_below = histogram.count_between(0, threshold_ns);
    Some(histogram.len().saturating_sub(at_or_below) as f64 / histogram.len() as f64)
}

/// A text report's line comparing a share of slow messages of the appliance and the echo, with what it tells.
fn describe_shares(appliance: Option<f64>, echo: Option<f64>, reading: &str) -> String {
    let percent =
        |share: Option<f64>| share.map_or("n/a".to_string(), |s| format!("{:.2}%", s * 100.0));
    match echo {
        Some(_) => format!(
            "{} of messages (echo {}: {reading})",
            percent(appliance),
            percent(echo)
        ),
        None => format!("{} of messages", percent(appliance)),
    }
}

/// One slice of an interleaved run: the echo's p99 and the appliance's, measured one after the other.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SliceP99 {
    pub echo_p99_ns: u64,
    pub appliance_p99_ns: u64,
    /// appliance / echo, to two decimals (None when the echo's p99 is 0).
    pub ratio: Option<f64>,
}

/// Pairs each echo slice's p99 with the appliance part after it.
fn slice_pairs(echo_p99_ns: &[u64], appliance_p99_ns: &[u64]) -> Vec<SliceP99> {
    if echo_p99_ns.len() < 2 || echo_p99_ns.len() != appliance_p99_ns.len() {
        return Vec::new();
    }
    echo_p99_ns
        .iter()
        .zip(appliance_p99_ns)
        .map(|(&echo, &appliance)| SliceP99 {
            echo_p99_ns: echo,
            appliance_p99_ns: appliance,
            ratio: (echo > 0).then(|| (appliance as f64 / echo as f64 * 100.0).round() / 100.0),
        })
        .collect()
}

/// The median of the slices' ratios (the mean of the middle two for an even count).
fn median_ratio(slices: &[SliceP99]) -> Option<f64> {
    let mut ratios: Vec<f64> = slices.iter().filter_map(|slice| slice.ratio).collect();
    if ratios.is_empty() {
        return None;
    }
    ratios.sort_by(f64::total_cmp);
    let middle = ratios.len() / 2;
    let median = if ratios.len() % 2 == 1 {
        ratios[middle]
    } else {
        (ratios[middle - 1] + ratios[middle]) / 2.0
    };
    Some((median * 100.0).round() / 100.0)
}

/// The text report's line about the slices of an interleaved run.
fn describe_slices(slices: &[SliceP99], median: Option<f64>) -> String {
    let Some(median) = median else {
        return "n/a (an interleaved baseline has slices)".to_string();
    };
    let range = |values: &mut dyn Iterator<Item = u64>| {
        let values: Vec<u64> = values.collect();
        let low = values.iter().min().copied().unwrap_or(0);
        let high = values.iter().max().copied().unwrap_or(0);
        format!(
            "{}-{} us",
            group_digits(low / 1_000),
            group_digits(high / 1_000)
        )
    };
    format!(
        "median ratio {median:.2}x over {} slices · echo p99 {} · appliance p99 {}",
        slices.len(),
        range(&mut slices.iter().map(|slice| slice.echo_p99_ns)),
        range(&mut slices.iter().map(|slice| slice.appliance_p99_ns)),
    )
}

/// Writes `answers` as CSV (`planned_offset_ns,latency_ns`, a header line first).
pub fn write_answers_csv(answers: &[Answer], out: &mut impl std::io::Write) -> std::io::Result<()> {
    writeln!(out, "planned_offset_ns,latency_ns")?;
    for answer in answers {
        writeln!(out, "{},{}", answer.planned_offset_ns, answer.latency_ns)?;
    }
    Ok(())
}

/// Bytes of a framed Enter Order: what the echo baseline sends per message.
pub fn order_frame_bytes() -> usize {
    let order = EnterOrder {
        user_ref_num: 1,
        side: Side::Buy,
        quantity: 1,
        symbol: crossline_engine::symbol(SYMBOL),
        price: REFERENCE_PRICE,
        time_in_force: TimeInForce::Day,
        display: Display::Visible,
        capacity: Capacity::Agency,
        intermarket_sweep: IsoEligibility::NotEligible,
        cross_type: CrossType::ContinuousMarket,
        cl_ord_id: [b' '; 14],
        options: Default::default(),
    };
    3 + order.encoded_len()
}

fn validate(options: &WireOptions) -> anyhow::Result<()> {
    if options.sessions == 0 || options.sessions > 200 {
        bail!("--sessions must be in 1..=200");
    }
    if !options.max && options.rate_per_sec == 0 {
        bail!("--rate must be at least 1");
    }
    if options.max && options.window == 0 {
        bail!("--window must be at least 1");
    }
    if !options.max && echo::planned_messages(options.rate_per_sec, options.duration) == 0 {
        bail!(
            "--rate {} for {:?} plans no message",
            options.rate_per_sec,
            options.duration
        );
    }
    if options.baseline == BaselineSchedule::Interleaved {
        if options.max {
            bail!("--baseline interleaved times an open-loop schedule; with --max use --baseline before");
        }
        if !matches!(options.target, Target::Spawn { .. }) {
            bail!(
                "--baseline interleaved pauses the appliance while the echo runs, so it needs --spawn; with \
                 --connect use --baseline before"
            );
        }
        if options.slices == 0 {
            bail!("--slices must be at least 1");
        }
        let slice = options.duration / options.slices;
        if slice > INTERLEAVED_SLICE_MAX {
            bail!(
                "--baseline interleaved keeps the appliance paused for each echo slice; slices of {:.1} s would \
                 outlast the sessions' client timeout (15 s in the example configuration): use at least {} \
                 --slices",
                slice.as_secs_f64(),
                options.duration.as_nanos().div_ceil(INTERLEAVED_SLICE_MAX.as_nanos())
            );
        }
    }
    Ok(())
}

/// What every echo run of a wire run shares: the message size (an order's frame) and the server's core.
#[derive(Debug, Clone, Copy)]
struct EchoSetup {
    bytes: usize,
    server_core: Option<usize>,
    io: EchoIo,
}

/// The echo baseline's options for a run (or a slice) of `duration`.
fn echo_options(options: &WireOptions, duration: Duration, echo: EchoSetup) -> EchoOptions {
    EchoOptions {
        rate_per_sec: if options.max {
            2_000_000
        } else {
            options.rate_per_sec
        },
        duration,
        message_bytes: echo.bytes,
        backend: EchoBackend::Auto,
        load: Load::OpenLoop,
        seed: options.seed,
        server: EchoServerOptions {
            core: echo.server_core,
            io: echo.io,
            ..EchoServerOptions::default()
        },
        response_timeout: options.response_timeout,
    }
}

/// The echo baseline as the wire report reads it: one run, or the slices of an interleaved run added up.
struct EchoBaseline {
    histogram: Histogram<u64>,
    backend: String,
    target_rate_per_sec: u64,
    received: u64,
    seconds: f64,
    checks_passed: bool,
    slices: u32,
    /// Each echo run's own p99, in order: one per slice of an interleaved run.
    slice_p99_ns: Vec<u64>,
}

impl EchoBaseline {
    fn new(run: echo::EchoRun) -> EchoBaseline {
        EchoBaseline {
            backend: run.report.backend.clone(),
            target_rate_per_sec: run.report.target_rate_per_sec,
            received: run.report.messages_received,
            seconds: run.report.report.seconds,
            checks_passed: run.report.report.checks_passed(),
            slices: 1,
            slice_p99_ns: vec![run.histogram.value_at_quantile(0.99)],
            histogram: run.histogram,
        }
    }

    fn add(&mut self, run: echo::EchoRun) {
        // Both histograms come from `latency_histogram`, so they have the same bounds and the addition cannot
        // fail; a value out of range would be clamped as when it was recorded.
        let _ = self.histogram.add(&run.histogram);
        self.received += run.report.messages_received;
        self.seconds += run.report.report.seconds;
        self.checks_passed &= run.report.report.checks_passed();
        self.slices += 1;
        self.slice_p99_ns
            .push(run.histogram.value_at_quantile(0.99));
    }

    fn achieved_rate_per_sec(&self) -> f64 {
        if self.seconds > 0.0 {
            self.received as f64 / self.seconds
        } else {
            0.0
        }
    }
}

pub fn run(options: &WireOptions) -> anyhow::Result<WireRun> {
    validate(options)?;
    let env = Environment::capture(options.seed);
    let echo_bytes = order_frame_bytes().max(echo::MESSAGE_HEADER_BYTES);
    let split = match options.placement {
        Placement::Split => Some(
            placement::split_cores()
                .context("reading the cores this process may use")?
                .context("--placement split needs two cores, and this process may use one")?,
        ),
        Placement::Float => None,
    };
    let server_core = split.map(|cores| cores.server);
    let echo_setup = EchoSetup {
        bytes: echo_bytes,
        server_core,
        io: options.echo_io,
    };
    // A baseline measured before: the whole echo run first, before the appliance's threads exist.
    let mut baseline = if options.baseline == BaselineSchedule::Before {
        let _client = pin_client(split)?;
        let run = echo::run(&echo_options(options, options.duration, echo_setup))
            .context("the echo baseline")?;
        Some(EchoBaseline::new(run))
    } else {
        None
    };

    let mut spawned = match &options.target {
        Target::Spawn { binary, config } => Some(Spawned::start(
            binary,
            config.as_deref(),
            options.sessions,
            server_core,
        )?),
        Target::Connect(_) => None,
    };
    let addr = match (&options.target, &spawned) {
        (Target::Connect(addr), _) => *addr,
        (_, Some(spawned)) => spawned.order_entry,
        _ => bail!("no appliance"),
    };
    // The appliance's threads (when this run started it) and the bench's own, over the appliance's measured parts.
    let mut watched = vec![("bench".to_string(), std::process::id())];
    if let Some(pid) = spawned.as_ref().and_then(Spawned::pid) {
        watched.insert(0, ("appliance".to_string(), pid));
    }
    let threads = ThreadWatch::new(watched);
    // Pinned only now: the appliance started above must not inherit the client's core. Unpinned again when the
    // run returns.
    let client_pin = pin_client(split)?;
    let outcome = (|| {
        let mut sessions = (0..options.sessions)
            .map(|index| Session::login(addr, index, options.seed, options.workload))
            .collect::<anyhow::Result<Vec<Session>>>()?;
        let timer = Timer::with_source(TimerSource::Instant, Duration::ZERO);
        let result = match (options.max, options.baseline, spawned.as_ref()) {
            (true, _, _) => drive_max(&mut sessions, options, &timer, threads),
            (false, BaselineSchedule::Interleaved, Some(appliance)) => drive_interleaved(
                &mut sessions,
                options,
                &timer,
                appliance,
                &mut baseline,
                echo_setup,
                threads,
            ),
            (false, _, _) => drive_open_loop(&mut sessions, options, &timer, threads),
        };
        for session in &mut sessions {
            session.logout();
        }
        result.map(|recorder| (recorder, sessions, timer))
    })();
    drop(client_pin);
    // Where the gateway was allowed to run, as the kernel has it (the appliance may have failed to pin it).
    let gateway_cores = spawned
        .as_ref()
        .and_then(Spawned::pid)
        .and_then(|pid| placement::thread_cores(pid, GATEWAY_THREAD));
    let appliance_output = match spawned.as_mut() {
        Some(spawned) => spawned.stop()?,
        None => Vec::new(),
    };
    let (recorder, sessions, timer) = match outcome {
        Ok(outcome) => outcome,
        Err(error) => {
            let tail = appliance_output
                .iter()
                .rev()
                .take(5)
                .rev()
                .cloned()
                .collect::<Vec<_>>()
                .join(" | ");
            return Err(error.context(format!("appliance output: {tail}")));
        }
    };
    Ok(build_report(
        options,
        recorder,
        &sessions,
        &timer,
        baseline,
        echo_bytes,
        appliance_output,
        env,
        split,
        gateway_cores,
    ))
}

/// The spawned appliance's gateway thread, by the name /proc gives it (15 characters).
const GATEWAY_THREAD: &str = "crossline-gatew";

/// The report's placement line: what was pinned, and where the gateway actually ran.
fn describe_layout(
    placement: Placement,
    split: Option<SplitCores>,
    gateway_cores: Option<&[usize]>,
) -> String {
    let gateway = match gateway_cores {
        Some(cores) => {
            let cores: Vec<String> = cores.iter().map(usize::to_string).collect();
            format!("the gateway on cpu {}", cores.join(","))
        }
        None => "the gateway not watched (not spawned by this run)".to_string(),
    };
    match split {
        Some(cores) => format!(
            "{}: client on cpu {}, echo server on cpu {}{}, {gateway}; other threads float",
            placement.name(),
            cores.client,
            cores.server,
            describe_interrupts(&[cores.server, cores.client])
        ),
        None => format!(
            "{}: nothing pinned by the bench, {gateway}",
            placement.name()
        ),
    }
}

/// " (the fewest device interrupts: cpu 0 5,700, cpu 1 809,454 since boot)": why the server has its core; empty when
/// /proc/interrupts cannot be read (the split then took the last core).
fn describe_interrupts(cpus: &[usize]) -> String {
    let Some(counts) = placement::device_interrupts_per_core() else {
        return String::new();
    };
    let taken: Vec<String> = cpus
        .iter()
        .map(|&cpu| {
            format!(
                "cpu {cpu} {}",
                group_digits(counts.get(cpu).copied().unwrap_or(0))
            )
        })
        .collect();
    format!(
        " (the fewest device interrupts: {} since boot)",
        taken.join(", ")
    )
}

/// Pins the calling thread (the client) to the client's core of a split run, until the guard is dropped.
fn pin_client(split: Option<SplitCores>) -> anyhow::Result<Option<PinnedThread>> {
    split
        .map(|cores| {
            PinnedThread::pin(cores.client)
                .with_context(|| format!("pinning the client to cpu {}", cores.client))
        })
        .transpose()
}

fn new_recorder(start_ns: u64, answers_room: Option<usize>, threads: ThreadWatch) -> Recorder {
    Recorder {
        ack: latency_histogram(),
        taker_fill: latency_histogram(),
        last_receive_ns: start_ns,
        start_ns,
        active_ns: 0,
        part_p99_ns: Vec::new(),
        timeline: Vec::new(),
        answers: answers_room.map(Vec::with_capacity),
        threads,
        echo_threads: ThreadWatch::none(),
    }
}

/// The whole open-loop schedule in one go.
fn drive_open_loop(
    sessions: &mut [Session],
    options: &WireOptions,
    timer: &Timer,
    threads: ThreadWatch,
) -> anyhow::Result<Recorder> {
    let messages = echo::planned_messages(options.rate_per_sec, options.duration);
    let room = usize::try_from(messages).unwrap_or(usize::MAX);
    let mut recorder = new_recorder(timer.start(), options.keep_answers.then_some(room), threads);
    drive_schedule_part(sessions, options, timer, &mut recorder, 0..messages)?;
    Ok(recorder)
}

/// The open-loop schedule in `options.slices` parts, each after an echo slice of the same length run with the
/// appliance paused: the echo and the appliance are measured over the same stretch of the box's time, a slice
/// each in turn, so a noisy minute of the host lands on both instead of on whichever ran then.
fn drive_interleaved(
    sessions: &mut [Session],
    options: &WireOptions,
    timer: &Timer,
    appliance: &Spawned,
    baseline: &mut Option<EchoBaseline>,
    echo: EchoSetup,
    threads: ThreadWatch,
) -> anyhow::Result<Recorder> {
    let messages = echo::planned_messages(options.rate_per_sec, options.duration);
    let slices = u64::from(options.slices.max(1)).min(messages);
    let room = usize::try_from(messages).unwrap_or(usize::MAX);
    let mut recorder = new_recorder(timer.start(), options.keep_answers.then_some(room), threads);
    recorder.echo_threads = ThreadWatch::new(vec![("bench".to_string(), std::process::id())]);
    for slice in 0..slices {
        let part = messages * slice / slices..messages * (slice + 1) / slices;
        // Exactly as many echo messages as the part has: its length in ns, rounded up.
        let echo_ns = u128::from(part.end - part.start) * 1_000_000_000;
        let echo_duration = Duration::from_nanos(
            u64::try_from(echo_ns.div_ceil(u128::from(options.rate_per_sec))).unwrap_or(u64::MAX),
        );
        let run = {
            let _paused = appliance.pause()?;
            echo::run_watched(
                &echo_options(options, echo_duration, echo),
                &mut recorder.echo_threads,
            )
            .with_context(|| format!("the echo baseline's slice {}", slice + 1))?
        };
        match baseline {
            Some(baseline) => baseline.add(run),
            None => *baseline = Some(EchoBaseline::new(run)),
        }
        std::thread::sleep(RESUME_SETTLE);
        let before = recorder.ack.clone();
        drive_schedule_part(sessions, options, timer, &mut recorder, part)?;
        let drain_until = Instant::now() + PART_DRAIN;
        while Instant::now() < drain_until {
            for session in sessions.iter_mut() {
                session.poll(timer, &mut recorder)?;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let mut this_part = recorder.ack.clone();
        // `before` holds a subset of the same counts (recorded into the same histogram), so this cannot fail.
        let _ = this_part.subtract(&before);
        recorder.part_p99_ns.push(this_part.value_at_quantile(0.99));
    }
    Ok(recorder)
}

/// Sends messages `part` of the run's open-loop schedule, message `i` planned at `offset(i) - offset(part.start)`
/// after a start taken now, and returns once every one of them is answered. The recorder places them on the
/// schedule's own clock (its `start_ns` is moved back by `offset(part.start)`), so the timeline and the answers
/// read as one schedule whatever ran between the parts.
fn drive_schedule_part(
    sessions: &mut [Session],
    options: &WireOptions,
    timer: &Timer,
    recorder: &mut Recorder,
    part: std::ops::Range<u64>,
) -> anyhow::Result<()> {
    let count = sessions.len() as u64;
    // Read before the part's clock starts: reading /proc must not make the first sends late.
    recorder.threads.begin();
    let part_start_ns = timer.start() + START_LEAD_NS;
    let first_offset_ns = echo::planned_offset_ns(part.start, options.rate_per_sec);
    let planned = |index: u64| {
        part_start_ns + echo::planned_offset_ns(index, options.rate_per_sec) - first_offset_ns
    };
    recorder.start_ns = part_start_ns.saturating_sub(first_offset_ns);
    recorder.last_receive_ns = part_start_ns;
    let wanted = part.end - part.start;
    let mut next = part.start;
    let mut acked = 0u64;
    let mut last_progress_ns = part_start_ns;
    let timeout_ns = u64::try_from(options.response_timeout.as_nanos()).unwrap_or(u64::MAX);
    let mut idle_rounds = 0u32;
    loop {
        let now = timer.start();
        // Everything due is framed into its session's buffer, in order.
        let mut framed = 0;
        while next < part.end && framed < SEND_BATCH_MAX * sessions.len() {
            let planned_ns = planned(next);
            if planned_ns > now {
                break;
            }
            let session = &mut sessions[(next % count) as usize];
            if session.out.free_bytes() < 128 {
                break;
            }
            session.frame_next(planned_ns)?;
            next += 1;
            framed += 1;
        }
        let mut got = 0;
        for session in sessions.iter_mut() {
            session.flush(now)?;
            got += session.poll(timer, recorder)?;
            session.heartbeat_if_idle(now)?;
        }
        acked += got;
        if acked >= wanted {
            recorder.threads.end();
            recorder.active_ns += recorder.last_receive_ns.saturating_sub(part_start_ns);
            return Ok(());
        }
        let now = timer.start();
        let sent = next - part.start;
        if got > 0 || acked == sent {
            last_progress_ns = now;
        } else if now.saturating_sub(last_progress_ns) > timeout_ns {
            let counts: Vec<Counts> = sessions.iter().map(|s| s.counts).collect();
            bail!(
                "no response for {} ms with {sent} of {wanted} messages sent and {acked} answered ({counts:?})",
                timeout_ns / 1_000_000
            );
        }
        if acked == sent && next < part.end {
            let planned_ns = planned(next);
            if planned_ns.saturating_sub(now) > SLEEP_THRESHOLD_NS {
                std::thread::sleep(Duration::from_nanos(planned_ns - now - SLEEP_WAKE_EARLY_NS));
            }
        }
        if framed == 0 && got == 0 {
            idle_rounds += 1;
            if idle_rounds > IDLE_SPINS && options.placement == Placement::Float {
                // Nothing to send yet and nothing arrived: give the core to the appliance until a response
                // arrives or the next message is due.
                let until_next = if next < part.end {
                    planned(next)
                        .saturating_sub(now)
                        .saturating_sub(IDLE_WAKE_EARLY_NS)
                } else {
                    IDLE_BLOCK_MAX_NS
                };
                if until_next > 0 {
                    wait_for_responses(sessions, until_next.min(IDLE_BLOCK_MAX_NS))?;
                }
            }
        } else {
            idle_rounds = 0;
        }
    }
}

/// Blocks until one of the sessions' sockets has bytes to read (or room to write, for a session with unsent
/// bytes), or `timeout_ns` passes.
fn wait_for_responses(sessions: &[Session], timeout_ns: u64) -> anyhow::Result<()> {
    let mut fds: Vec<libc::pollfd> = sessions
        .iter()
        .map(|session| libc::pollfd {
            fd: session.stream.as_raw_fd(),
            events: if session.out.is_empty() {
                libc::POLLIN
            } else {
                libc::POLLIN | libc::POLLOUT
            },
            revents: 0,
        })
        .collect();
    let timeout = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout_ns / 1_000_000_000).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::try_from(timeout_ns % 1_000_000_000).unwrap_or(0),
    };
    // SAFETY: `fds` is a live, initialized array of `fds.len()` pollfds and `timeout` a live timespec for the whole
    // call; a null signal mask leaves the mask as it is (ppoll(2)).
    let ready = unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            &timeout,
            std::ptr::null(),
        )
    };
    if ready < 0 {
        let error = std::io::Error::last_os_error();
        if error.kind() != ErrorKind::Interrupted {
            return Err(error).context("waiting for the appliance's responses");
        }
    }
    Ok(())
}

fn drive_max(
    sessions: &mut [Session],
    options: &WireOptions,
    timer: &Timer,
    mut threads: ThreadWatch,
) -> anyhow::Result<Recorder> {
    // Read before the clock starts: reading /proc is not part of the measured time.
    threads.begin();
    let start_ns = timer.start();
    let end_ns = start_ns + u64::try_from(options.duration.as_nanos()).unwrap_or(u64::MAX);
    let mut recorder = new_recorder(start_ns, options.keep_answers.then_some(1 << 20), threads);
    let window = options.window as u64;
    let timeout_ns = u64::try_from(options.response_timeout.as_nanos()).unwrap_or(u64::MAX);
    let mut last_progress_ns = start_ns;
    let mut idle_rounds = 0u32;
    loop {
        let now = timer.start();
        let sending = now < end_ns;
        let mut got = 0;
        let mut outstanding = 0;
        for session in sessions.iter_mut() {
            if sending {
                let mut framed = 0;
                while session.in_flight() < window
                    && framed < SEND_BATCH_MAX
                    && session.out.free_bytes() >= 128
                {
                    session.frame_next(now)?;
                    framed += 1;
                }
            }
            session.flush(now)?;
            got += session.poll(timer, &mut recorder)?;
            session.heartbeat_if_idle(now)?;
            outstanding += session.in_flight();
        }
        if !sending && outstanding == 0 {
            recorder.threads.end();
            recorder.active_ns = recorder.last_receive_ns.saturating_sub(start_ns);
            return Ok(recorder);
        }
        if got > 0 {
            last_progress_ns = now;
            idle_rounds = 0;
        } else {
            if now.saturating_sub(last_progress_ns) > timeout_ns {
                bail!(
                    "no response for {} ms with {outstanding} messages in flight",
                    timeout_ns / 1_000_000
                );
            }
            // Every window is full and nothing came back: give the appliance's threads the core.
            idle_rounds += 1;
            if idle_rounds > IDLE_SPINS && options.placement == Placement::Float {
                wait_for_responses(sessions, IDLE_BLOCK_MAX_NS)?;
            } else {
                std::hint::spin_loop();
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn build_report(
    options: &WireOptions,
    recorder: Recorder,
    sessions: &[Session],
    timer: &Timer,
    baseline: Option<EchoBaseline>,
    echo_bytes: usize,
    appliance_output: Vec<String>,
    env: Environment,
    split: Option<SplitCores>,
    gateway_cores: Option<Vec<usize>>,
) -> WireRun {
    let mut total = Counts::default();
    for session in sessions {
        let c = &session.counts;
        total.sent += c.sent;
        total.acked += c.acked;
        total.new_orders += c.new_orders;
        total.aggressors += c.aggressors;
        total.cancels += c.cancels;
        total.quotes += c.quotes;
        total.accepted += c.accepted;
        total.rejected += c.rejected;
        total.quote_rejected += c.quote_rejected;
        total.cancels_too_late += c.cancels_too_late;
        total.unsolicited_cancels += c.unsolicited_cancels;
        total.executions += c.executions;
        total.taker_fills_timed += c.taker_fills_timed;
    }
    let seconds = recorder.active_ns as f64 / 1e9;
    let achieved = if seconds > 0.0 {
        total.acked as f64 / seconds
    } else {
        0.0
    };
    let latency = LatencyNs::from_histogram(&recorder.ack);
    let baseline_latency = baseline
        .as_ref()
        .and_then(|run| LatencyNs::from_histogram(&run.histogram));
    let ratio = match (latency, baseline_latency, options.max) {
        (Some(wire), Some(echo), false) if echo.p99 > 0 => {
            Some((wire.p99 as f64 / echo.p99 as f64 * 100.0).round() / 100.0)
        }
        _ => None,
    };
    let share_over_1ms = share_over(&recorder.ack, TIMELINE_SLOW_NS);
    let baseline_share_over_1ms = baseline
        .as_ref()
        .and_then(|run| share_over(&run.histogram, TIMELINE_SLOW_NS));
    let share_over_100us = share_over(&recorder.ack, QUIET_TAIL_NS);
    let baseline_share_over_100us = baseline
        .as_ref()
        .and_then(|run| share_over(&run.histogram, QUIET_TAIL_NS));
    let slice_pairs = baseline
        .as_ref()
        .map(|run| slice_pairs(&run.slice_p99_ns, &recorder.part_p99_ns))
        .unwrap_or_default();
    let median_slice_ratio = median_ratio(&slice_pairs);
    let thread_uses = recorder.threads.report();
    let echo_thread_uses = recorder.echo_threads.report();

    let mut counters = Named::new();
    counters.push("messages_sent", total.sent);
    counters.push("messages_answered", total.acked);
    counters.push("orders_accepted", total.accepted);
    counters.push("orders_rejected", total.rejected + total.quote_rejected);
    counters.push("cancels_too_late", total.cancels_too_late);
    counters.push("unsolicited_cancels", total.unsolicited_cancels);
    counters.push("executions", total.executions);
    let mut mix = Named::new();
    mix.push("new_orders", total.new_orders - total.aggressors);
    mix.push("aggressive_ioc", total.aggressors);
    mix.push("cancels", total.cancels);
    mix.push("quotes", total.quotes);

    let mut checks = Named::new();
    checks.push(
        "responses",
        if total.acked == total.sent {
            "ok".to_string()
        } else {
            format!("{} of {}", total.acked, total.sent)
        },
    );
    checks.push(
        "rejects",
        if total.rejected + total.quote_rejected == 0 {
            "ok".to_string()
        } else {
            format!(
                "{} new orders or quotes rejected",
                total.rejected + total.quote_rejected
            )
        },
    );
    if let Some(run) = &baseline {
        checks.push(
            "baseline",
            if run.checks_passed {
                "ok".to_string()
            } else {
                "the echo baseline's checks failed".to_string()
            },
        );
    }

    let mut notes = Vec::new();
    let load = if options.max { "max" } else { "open_loop" };
    if options.max {
        notes.push(format!(
            "max: each session keeps at most {} messages in flight; latency is from the actual send, so it is a \
             closed-window figure (stalls are hidden); the throughput is the result. Goal: {} orders/s",
            options.window,
            group_digits(MAX_RATE_GOAL as u64)
        ));
        if achieved < MAX_RATE_GOAL {
            notes.push(format!(
                "goal missed: {} orders/s of {} (the appliance's gateway, engine and follower threads and this \
                 client share the box's {} cores)",
                group_digits(achieved.round() as u64),
                group_digits(MAX_RATE_GOAL as u64),
                env.cores
            ));
        }
    } else {
        if achieved < 0.95 * options.rate_per_sec as f64 {
            notes.push(format!(
                "achieved {} msg/s of the {} msg/s target: the appliance or the client could not keep up",
                group_digits(achieved.round() as u64),
                group_digits(options.rate_per_sec)
            ));
        }
        match (ratio, options.echo_io) {
            (Some(ratio), EchoIo::Bare) => notes.push(format!(
                "p99 is {ratio:.2}x the bare echo's p99 (goal <= {P99_RATIO_GOAL}x): {}",
                if ratio <= P99_RATIO_GOAL {
                    "met"
                } else {
                    "missed"
                }
            )),
            (Some(ratio), io) => notes.push(format!(
                "p99 is {ratio:.2}x the p99 of the {} (a diagnostic baseline: the goal is read against the bare \
                 echo)",
                io.describe()
            )),
            (None, _) => {}
        }
    }
    if total.cancels_too_late > 0 {
        notes.push(format!(
            "{} cancels arrived after their order had filled or been cancelled (answered with a reject; counted, \
             not a failure)",
            group_digits(total.cancels_too_late)
        ));
    }
    if matches!(options.target, Target::Spawn { config: None, .. }) {
        notes.push(
            "spawned on the example configuration (journal on, fsync interval 10 ms, ack local)"
                .to_string(),
        );
    }
    if split.is_some()
        && matches!(
            options.target,
            Target::Spawn {
                config: Some(_),
                ..
            }
        )
    {
        notes.push(
            "split placement with --config: the client and the echo server are pinned; the gateway runs where the \
             given configuration puts it"
                .to_string(),
        );
    }

    let extra_rows = vec![
        (
            "load".to_string(),
            if options.max {
                format!("max, window {} per session", options.window)
            } else {
                "open loop (latency from planned send time to the first response)".to_string()
            },
        ),
        (
            "rate".to_string(),
            format!(
                "{}achieved {} msg/s over {} session(s)",
                if options.max {
                    String::new()
                } else {
                    format!("target {} msg/s · ", group_digits(options.rate_per_sec))
                },
                group_digits(achieved.round() as u64),
                options.sessions
            ),
        ),
        (
            "placement".to_string(),
            describe_layout(options.placement, split, gateway_cores.as_deref()),
        ),
        (
            "p99 vs echo".to_string(),
            ratio.map_or("n/a".to_string(), |r| match options.echo_io {
                EchoIo::Bare => format!("{r:.2}x (goal <= {P99_RATIO_GOAL}x)"),
                io => format!(
                    "{r:.2}x the {} (the goal is read against the bare echo)",
                    io.describe()
                ),
            }),
        ),
        (
            "timeline".to_string(),
            describe_worst_intervals(&recorder.timeline),
        ),
        (
            "over 100 us".to_string(),
            describe_shares(
                share_over_100us,
                baseline_share_over_100us,
                "the appliance's own tail, steadier than its p99",
            ),
        ),
        (
            "over 1 ms".to_string(),
            describe_shares(
                share_over_1ms,
                baseline_share_over_1ms,
                "stalls of the box itself show in both",
            ),
        ),
        (
            "p99 by slice".to_string(),
            describe_slices(&slice_pairs, median_slice_ratio),
        ),
        (
            "threads".to_string(),
            crate::threads::describe(&thread_uses),
        ),
        (
            "echo threads".to_string(),
            if echo_thread_uses.is_empty() {
                "n/a (an interleaved baseline has them)".to_string()
            } else {
                crate::threads::describe(&echo_thread_uses)
            },
        ),
        (
            "taker fills".to_string(),
            LatencyNs::from_histogram(&recorder.taker_fill).map_or("none".to_string(), |l| {
                format!(
                    "{} timed · p50 {} · p99 {} · p99.9 {} · max {} ns",
                    group_digits(recorder.taker_fill.len()),
                    group_digits(l.p50),
                    group_digits(l.p99),
                    group_digits(l.p99_9),
                    group_digits(l.max)
                )
            }),
        ),
    ];

    let baseline_report = baseline.as_ref().map(|run| Baseline {
        name: format!(
            "{}: crossline-net reactor ({}), {} B messages, open loop at {} msg/s, same run, {}",
            options.echo_io.describe(),
            run.backend,
            echo_bytes,
            group_digits(run.target_rate_per_sec),
            match options.baseline {
                BaselineSchedule::Interleaved => format!(
                    "interleaved: {} slices, each before the appliance's (paused meanwhile)",
                    run.slices
                ),
                _ => "before the appliance started".to_string(),
            }
        ),
        ops_per_sec: run.achieved_rate_per_sec(),
        latency_ns: LatencyNs::from_histogram(&run.histogram),
    });

    let report = Report {
        mode: "wire".to_string(),
        workload: options.workload.name().to_string(),
        ops: total.acked,
        seconds,
        ops_per_sec: achieved,
        latency_ns: latency,
        latency_sampling: LatencySampling {
            method: if options.max {
                "every message timed, from its actual send to its first response".to_string()
            } else {
                "every message timed, from its planned send time to its first response".to_string()
            },
            every: 1,
            samples: recorder.ack.len(),
            timer: timer.describe(),
            timer_overhead_ns: (timer.overhead_ns() * 10.0).round() / 10.0,
            unit: "one OUCH message over SoupBinTCP on loopback to its first response".to_string(),
        },
        headline: None,
        baseline: baseline_report,
        counters,
        mix,
        checks,
        state_hash: None,
        env,
        notes,
        extra_rows,
    };
    WireRun {
        report: WireReport {
            report,
            load: load.to_string(),
            target_rate_per_sec: (!options.max).then_some(options.rate_per_sec),
            achieved_rate_per_sec: achieved,
            sessions: options.sessions,
            window_per_session: options.max.then_some(options.window),
            messages_sent: total.sent,
            messages_answered: total.acked,
            taker_fill_latency_ns: LatencyNs::from_histogram(&recorder.taker_fill),
            executions: total.executions,
            p99_ratio_to_echo: ratio,
            median_slice_p99_ratio: median_slice_ratio,
            share_over_1ms,
            baseline_share_over_1ms,
            share_over_100us,
            baseline_share_over_100us,
            slices: slice_pairs,
            p99_ratio_goal: P99_RATIO_GOAL,
            max_rate_goal: options.max.then_some(MAX_RATE_GOAL),
            echo_message_bytes: echo_bytes,
            baseline_schedule: options.baseline.name().to_string(),
            echo_io: options.echo_io.name().to_string(),
            baseline_slices: baseline.as_ref().map(|run| run.slices),
            placement: options.placement.name().to_string(),
            client_core: split.map(|cores| cores.client),
            server_core: split.map(|cores| cores.server),
            gateway_cores: gateway_cores.clone(),
            appliance_output,
            timeline_100ms: recorder.timeline,
            threads: thread_uses,
            threads_window_ns: recorder.threads.window_ns(),
            baseline_threads: echo_thread_uses,
            baseline_threads_window_ns: recorder.echo_threads.window_ns(),
        },
        histogram: recorder.ack,
        baseline_histogram: baseline.map(|run| run.histogram),
        answers: recorder.answers.unwrap_or_default(),
    }
}

/// The wire mode as a step-rate search target: one spawned (or connected) open-loop run per step, without the
/// echo baseline (run `search echo` for that).
pub struct WireRateTarget {
    pub options: WireOptions,
}

impl RateTarget for WireRateTarget {
    fn describe(&self) -> String {
        format!(
            "wire, {}, {} session(s), open loop, {:.1} s per step",
            self.options.workload.name(),
            self.options.sessions,
            self.options.duration.as_secs_f64()
        )
    }

    fn measure(&mut self, rate_per_sec: u64) -> anyhow::Result<StepMeasurement> {
        let options = WireOptions {
            rate_per_sec,
            max: false,
            baseline: BaselineSchedule::Off,
            keep_answers: false,
            ..self.options.clone()
        };
        let run = run(&options)?;
        Ok(StepMeasurement {
            achieved_rate: run.report.achieved_rate_per_sec,
            checks_passed: run.report.report.checks_passed(),
            notes: run.report.report.notes.clone(),
            histogram: run.histogram,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The appliance's own example, as `crossline config example` prints it.
    const EXAMPLE: &str = include_str!("../../../src/config/default.toml");

    #[test]
    fn the_spawned_configuration_pins_the_gateway_only_when_asked() {
        let sink = SocketAddr::from(([127, 0, 0, 1], 16999));
        let data = Path::new("/nonexistent/data");
        let floating = configure_example(EXAMPLE, data, 1, sink, None).unwrap();
        let gateway_line = |text: &str| {
            text.lines()
                .find(|line| line.starts_with("gateway = "))
                .map(str::to_string)
        };
        assert_eq!(
            gateway_line(&floating).as_deref(),
            Some("gateway = { idle = \"spin-then-yield\" }")
        );
        let pinned = configure_example(EXAMPLE, data, 1, sink, Some(1)).unwrap();
        assert_eq!(
            gateway_line(&pinned).as_deref(),
            Some("gateway = { core = 1, idle = \"spin-then-yield\" }")
        );
        assert_eq!(pinned.matches("core = 1").count(), 1, "the gateway alone");
        assert!(pinned.contains("udp_destinations = [\"127.0.0.1:16999\"]"));
        let reshaped = EXAMPLE.replace("gateway = { idle = ", "gateway = { idle=");
        let error = configure_example(&reshaped, data, 1, sink, Some(1)).unwrap_err();
        assert!(
            error.to_string().contains("could not pin the gateway"),
            "{error}"
        );
    }

    #[test]
    fn split_is_the_default_only_for_the_example_configuration_in_open_loop_on_two_cores() {
        let two_cores = placement::allowed_cores().unwrap().len() >= 2;
        let spawned = WireOptions::default().target;
        let expected = if two_cores {
            Placement::Split
        } else {
            Placement::Float
        };
        assert_eq!(default_placement(&spawned, false), expected);
        assert_eq!(default_placement(&spawned, true), Placement::Float);
        let connected = Target::Connect(SocketAddr::from(([127, 0, 0, 1], 15000)));
        assert_eq!(default_placement(&connected, false), Placement::Float);
        let own_config = Target::Spawn {
            binary: PathBuf::from("crossline"),
            config: Some(PathBuf::from("venue.toml")),
        };
        assert_eq!(default_placement(&own_config, false), Placement::Float);
    }

    #[test]
    fn an_interleaved_baseline_needs_a_spawned_appliance_in_open_loop() {
        let spawned = WireOptions::default();
        assert!(validate(&spawned).is_ok());
        let connected = WireOptions {
            target: Target::Connect(SocketAddr::from(([127, 0, 0, 1], 15000))),
            ..WireOptions::default()
        };
        let error = validate(&connected).expect_err("refused").to_string();
        assert!(error.contains("--spawn"), "{error}");
        let max = WireOptions {
            max: true,
            ..WireOptions::default()
        };
        let error = validate(&max).expect_err("refused").to_string();
        assert!(error.contains("--max"), "{error}");
        let no_slices = WireOptions {
            slices: 0,
            ..WireOptions::default()
        };
        assert!(validate(&no_slices).is_err());
        let long_slices = WireOptions {
            duration: Duration::from_secs(150),
            ..WireOptions::default()
        };
        let error = validate(&long_slices).expect_err("refused").to_string();
        assert!(error.contains("use at least 15 --slices"), "{error}");
        assert!(validate(&WireOptions {
            slices: 15,
            ..long_slices.clone()
        })
        .is_ok());
        for options in [connected, max, no_slices, long_slices] {
            let before = WireOptions {
                baseline: BaselineSchedule::Before,
                ..options
            };
            assert!(validate(&before).is_ok());
        }
        assert_eq!(
            BaselineSchedule::default_for(
                &Target::Connect(SocketAddr::from(([127, 0, 0, 1], 1))),
                false
            ),
            BaselineSchedule::Before
        );
        assert_eq!(
            BaselineSchedule::default_for(&WireOptions::default().target, true),
            BaselineSchedule::Before
        );
        assert_eq!(
            BaselineSchedule::default_for(&WireOptions::default().target, false),
            BaselineSchedule::Interleaved
        );
    }

    #[test]
    fn slices_pair_in_order_and_their_median_ratio_ignores_one_bad_slice() {
        let pairs = slice_pairs(&[100, 200, 100, 50_000], &[150, 200, 300, 1_000]);
        let ratios: Vec<Option<f64>> = pairs.iter().map(|pair| pair.ratio).collect();
        assert_eq!(ratios, vec![Some(1.5), Some(1.0), Some(3.0), Some(0.02)]);
        assert_eq!(median_ratio(&pairs), Some(1.25));
        assert_eq!(median_ratio(&pairs[..3]), Some(1.5));
        assert!(
            slice_pairs(&[100], &[100]).is_empty(),
            "one slice is the whole run"
        );
        assert!(slice_pairs(&[100, 100], &[100]).is_empty(), "unpaired");
        let unmeasurable = slice_pairs(&[0, 0], &[10, 10]);
        assert_eq!(median_ratio(&unmeasurable), None);
        assert!(describe_slices(&pairs, median_ratio(&pairs)).contains("1.25x over 4 slices"));
    }

    #[test]
    fn the_share_over_a_threshold_counts_only_values_above_it() {
        let mut histogram = latency_histogram();
        for value in [10_000u64, 20_000, 999_000, 1_000_000, 2_000_000, 50_000_000] {
            histogram.record(value).expect("in range");
        }
        let share = share_over(&histogram, 1_000_000).expect("a share");
        assert!((share - 2.0 / 6.0).abs() < 1e-9, "{share}");
        assert_eq!(share_over(&latency_histogram(), 1_000_000), None);
        assert_eq!(
            describe_shares(Some(0.0123), Some(0.0045), "stalls"),
            "1.23% of messages (echo 0.45%: stalls)"
        );
        assert_eq!(
            describe_shares(Some(0.0123), None, "stalls"),
            "1.23% of messages"
        );
        // At 100 us, a value at the threshold is not over it, and one just past its bucket is.
        let mut histogram = latency_histogram();
        for value in [50_000u64, 100_000, 101_000, 400_000] {
            histogram.record(value).expect("in range");
        }
        assert_eq!(share_over(&histogram, QUIET_TAIL_NS), Some(0.5));
    }

    #[test]
    fn a_pause_stops_the_child_and_what_it_started_and_the_guard_continues_them() {
        let child = Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .spawn()
            .expect("sh");
        let pid = libc::pid_t::try_from(child.id()).expect("pid");
        // The shell starts its sleep a moment after it starts.
        let deadline = Instant::now() + Duration::from_secs(5);
        let family = loop {
            let family = with_descendants(pid).expect("/proc");
            if family.len() >= 2 || Instant::now() >= deadline {
                break family;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(family.len(), 2, "{family:?}");
        assert_eq!(family[0], pid);
        let spawned = Spawned {
            child: Some(child),
            order_entry: SocketAddr::from(([127, 0, 0, 1], 0)),
            lines: channel().1,
            _dir: None,
            _feed_sink: None,
        };
        let paused = spawned.pause().expect("paused");
        assert!(family.iter().all(|&pid| all_threads_stopped(pid)));
        drop(paused);
        let running = |pid: libc::pid_t| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|stat| thread_state(&stat) == Some('S'))
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while !family.iter().all(|&pid| running(pid)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(family.iter().all(|&pid| running(pid)), "continued");
        // SAFETY: kill(2) on the sleep this test's shell started.
        unsafe {
            libc::kill(family[1], libc::SIGKILL);
        }
        // Dropping the `Spawned` stops the shell (SIGTERM) and waits for it.
        drop(spawned);
    }

    #[test]
    fn a_thread_state_is_read_past_a_command_name_with_parentheses() {
        assert_eq!(thread_state("42 (crossline) T 1 42"), Some('T'));
        assert_eq!(thread_state("43 (a (b) c) R 1 43"), Some('R'));
        assert_eq!(thread_state("44 (x)"), None);
        assert_eq!(thread_state("garbage"), None);
        assert_eq!(parent_pid("43 (a (b) c) R 17 43"), Some(17));
        assert_eq!(parent_pid("44 (x) S"), None);
    }

    #[test]
    fn credentials_fit_soupbintcp() {
        for index in 0..200 {
            let (user, password) = credentials(index);
            assert!(user.len() <= 6, "{user}");
            assert!(password.len() <= 10, "{password}");
        }
        assert_eq!(credentials(0).0, "alice");
        assert_eq!(credentials(3).0, "mm04");
    }

    #[test]
    fn an_order_frame_is_small() {
        let bytes = order_frame_bytes();
        assert!((40..=80).contains(&bytes), "{bytes}");
    }
}
