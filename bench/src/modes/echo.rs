//! `crossline-bench echo`: the bare TCP echo baseline that wire modes are read against, and the rig's open-loop
//! measurement core.
//!
//! The system under test is an in-process echo server on 127.0.0.1:0 built on the crossline-net reactor
//! (io_uring or epoll), polled on its own thread. The client is ONE thread driving a non-blocking,
//! TCP_NODELAY `std::net::TcpStream`: it interleaves sending and receiving in a busy loop, so a receive never waits
//! behind a blocked send and the box needs only two busy cores (client and server). Every message is
//! `message_bytes` long: sequence number (u64 LE), planned send time (u64 LE, ns on the run's clock), then filler
//! drawn from the seed; each echo is checked for order and content.
//!
//! Open loop (the default): message `i` is planned at `start + i / rate`. The client hands every message that is
//! due to the socket as soon as possible after its planned time and never waits for responses; when it falls
//! behind (a stalled server filling the socket buffers, a preempted client), the due messages go out back to back
//! and keep their planned times, so the delay shows up in their latency: latency = receive time − PLANNED send
//! time (no coordinated omission). How late the hand-off itself was is reported (`send_lag_max_ns`,
//! `sends_late_over_10us`).
//!
//! Closed loop (`--closed-loop`, for comparison only): message `i` is sent at the later of its planned time and
//! the response to message `i − 1`, and timed from its actual send. A stall then delays the sends after it instead
//! of showing in their latency, so the percentiles hide it; the report says so.
//!
//! The clock is `std::time::Instant` (CLOCK_MONOTONIC through the vDSO) read through `Timer`, so planned, send and
//! receive times are all nanoseconds on one clock on one thread.

use crate::env::Environment;
use crate::histogram::{latency_histogram, LatencyNs};
use crate::live::{self, LiveOptions, LiveRecorder, LiveThread, ProgressOptions};
use crate::modes::echo_io::{ApplianceIo, ApplianceIoStats, EchoIo};
use crate::report::{group_digits, LatencySampling, Named, Report};
use crate::rng::Rng;
use crate::search::{RateTarget, StepMeasurement};
use crate::threads::ThreadWatch;
use crate::timer::{Timer, TimerSource};
use anyhow::{bail, Context};
use crossline_net::reactor::{Backend, CloseReason, Event, Reactor, ReactorConfig};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

/// Sequence number and planned send time at the front of every message.
pub const MESSAGE_HEADER_BYTES: usize = 16;
/// The largest `--message-bytes`.
pub const MESSAGE_BYTES_MAX: usize = 64 * 1024;
/// A hand-off to the socket later than this after the planned time counts as a late send.
pub const LATE_SEND_THRESHOLD_NS: u64 = 10_000;
/// Messages handed to one `write` at most when several are due at once.
const SEND_BATCH_MESSAGES_MAX: usize = 64;
/// The first message is planned this long after the clock starts, so it is not late by construction.
const START_LEAD_NS: u64 = 1_000_000;
/// When nothing is outstanding and the next send is further away than this, the client sleeps instead of spinning.
const SLEEP_THRESHOLD_NS: u64 = 200_000;
/// ...waking this long before the planned time and spinning the rest.
const SLEEP_WAKE_EARLY_NS: u64 = 100_000;
/// How long the server's `poll` blocks when idle; bounds how long `stop` takes.
const SERVER_POLL_TIMEOUT: Duration = Duration::from_millis(1);
/// How long the client waits for the server to accept its connection.
const ACCEPT_TIMEOUT_NS: u64 = 2_000_000_000;

/// The reactor backend of the echo server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EchoBackend {
    /// io_uring when the kernel allows it, otherwise epoll (the report says why).
    Auto,
    #[value(name = "io_uring")]
    IoUring,
    Epoll,
}

impl From<EchoBackend> for Backend {
    fn from(backend: EchoBackend) -> Backend {
        match backend {
            EchoBackend::Auto => Backend::Auto,
            EchoBackend::IoUring => Backend::IoUring,
            EchoBackend::Epoll => Backend::Epoll,
        }
    }
}

/// The name a report shows for a backend in use.
pub fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Auto => "auto",
        Backend::IoUring => "io_uring",
        Backend::Epoll => "epoll",
    }
}

/// How load is offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Load {
    /// Sends on schedule whatever the responses do; latency from the planned send time.
    OpenLoop,
    /// Sends after the previous response; latency from the actual send. Hides stalls.
    ClosedLoop,
}

impl Load {
    pub fn name(self) -> &'static str {
        match self {
            Load::OpenLoop => "open_loop",
            Load::ClosedLoop => "closed_loop",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Load::OpenLoop => "open loop (latency from planned send time)",
            Load::ClosedLoop => {
                "closed loop (latency from actual send; each message waits for the previous response, \
                 so stalls are hidden)"
            }
        }
    }
}

/// Knobs of the echo server that the wire mode and tests set (not on the command line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EchoServerOptions {
    /// The core the server's thread pins itself to (a split placement), where it spins; None: it floats, and
    /// blocks in its poll when idle.
    pub core: Option<usize>,
    /// Stall once, for `pause_ms`, as soon as this many messages have been received in total.
    pub pause_once_after_messages: Option<u64>,
    pub pause_ms: u64,
    /// What the server does with each message besides echoing it.
    pub io: EchoIo,
}

/// What `crossline-bench echo` was asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoOptions {
    /// Target rate in messages per second.
    pub rate_per_sec: u64,
    /// Length of the send schedule; `rate_per_sec * duration` messages are sent.
    pub duration: Duration,
    pub message_bytes: usize,
    pub backend: EchoBackend,
    pub load: Load,
    /// Seeds the message filler.
    pub seed: u64,
    pub server: EchoServerOptions,
    /// The run fails when messages are outstanding and nothing arrives for this long (on top of any test pause).
    pub response_timeout: Duration,
}

impl Default for EchoOptions {
    fn default() -> Self {
        EchoOptions {
            rate_per_sec: 100_000,
            duration: Duration::from_secs(5),
            message_bytes: 64,
            backend: EchoBackend::Auto,
            load: Load::OpenLoop,
            seed: 1,
            server: EchoServerOptions::default(),
            response_timeout: Duration::from_secs(5),
        }
    }
}

/// Messages in a run: `rate_per_sec * duration`, rounded down. The same rate and duration always give the same count.
pub fn planned_messages(rate_per_sec: u64, duration: Duration) -> u64 {
    let count = u128::from(rate_per_sec) * duration.as_nanos() / 1_000_000_000;
    u64::try_from(count).unwrap_or(u64::MAX)
}

/// Planned send time of message `index`, in nanoseconds after the first. Exact integer arithmetic: no drift.
pub fn planned_offset_ns(index: u64, rate_per_sec: u64) -> u64 {
    let offset = u128::from(index) * 1_000_000_000 / u128::from(rate_per_sec.max(1));
    u64::try_from(offset).unwrap_or(u64::MAX)
}

/// The JSON of an echo run: the common report with the echo mode's own figures beside it at the top level.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EchoReport {
    #[serde(flatten)]
    pub report: Report,
    /// "open_loop" or "closed_loop".
    pub load: String,
    pub load_description: String,
    pub target_rate_per_sec: u64,
    /// Responses received per second of the run (first planned send to last response).
    pub achieved_rate_per_sec: f64,
    pub message_bytes: usize,
    pub messages_planned: u64,
    pub messages_received: u64,
    /// The backend in use ("io_uring" or "epoll").
    pub backend: String,
    pub backend_fallback_reason: Option<String>,
    /// Largest delay from a planned send time to the hand-off of that message to the socket.
    pub send_lag_max_ns: u64,
    pub sends_late_over_10us: u64,
    /// The server's one stall (test knob), if it happened.
    pub server_pause_ms: Option<u64>,
}

/// A finished run: the report and the histogram behind it (for `--hgrm`).
#[derive(Debug)]
pub struct EchoRun {
    pub report: EchoReport,
    pub histogram: Histogram<u64>,
}

/// What the echo server did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EchoServerStats {
    pub connections: u64,
    pub bytes_echoed: u64,
    pub paused: bool,
    /// `send`s the reactor refused (closed connection or slow consumer).
    pub send_failures: u64,
    /// Connections closed for any reason but the peer closing or shutdown.
    pub abnormal_closes: u64,
    /// What the journal and the feed did (zero for the bare echo).
    pub io: ApplianceIoStats,
}

struct Ready {
    addr: SocketAddr,
    backend: Backend,
    fallback_reason: Option<String>,
    cores: Vec<usize>,
}

/// The in-process echo server: a reactor polled on its own thread, echoing every byte back on the connection it
/// came from. Stops (and joins its thread) on `stop` or drop.
pub struct EchoServer {
    addr: SocketAddr,
    backend: Backend,
    fallback_reason: Option<String>,
    /// The cores the server's thread may run on, as it read them once started (and pinned, if asked).
    cores: Vec<usize>,
    connections: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<anyhow::Result<EchoServerStats>>>,
}

impl EchoServer {
    /// Binds 127.0.0.1:0 with `backend` on a new thread and returns once it is accepting.
    pub fn start(
        backend: Backend,
        options: EchoServerOptions,
        message_bytes: usize,
    ) -> anyhow::Result<EchoServer> {
        let (ready_tx, ready_rx) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicU64::new(0));
        let thread = std::thread::Builder::new()
            .name("echo-server".to_string())
            .spawn({
                let stop = Arc::clone(&stop);
                let connections = Arc::clone(&connections);
                move || {
                    serve(
                        backend,
                        options,
                        message_bytes,
                        &stop,
                        &connections,
                        ready_tx,
                    )
                }
            })
            .context("spawning the echo server thread")?;
        match ready_rx.recv() {
            Ok(Ok(ready)) => Ok(EchoServer {
                addr: ready.addr,
                backend: ready.backend,
                fallback_reason: ready.fallback_reason,
                cores: ready.cores,
                connections,
                stop,
                thread: Some(thread),
            }),
            Ok(Err(error)) => {
                let _ = thread.join();
                Err(error.context("starting the echo server"))
            }
            Err(_) => {
                let _ = thread.join();
                bail!("the echo server thread ended before it was ready")
            }
        }
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The backend in use (never `Auto`).
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Why `Auto` fell back to epoll, if it did.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback_reason.as_deref()
    }

    /// The cores the server's thread may run on (one, when it was pinned).
    pub fn cores(&self) -> &[usize] {
        &self.cores
    }

    /// Connections accepted so far.
    pub fn connections_accepted(&self) -> u64 {
        self.connections.load(Ordering::Acquire)
    }

    /// Stops the server and returns what it did.
    pub fn stop(mut self) -> anyhow::Result<EchoServerStats> {
        self.stop.store(true, Ordering::Release);
        match self.thread.take() {
            Some(thread) => match thread.join() {
                Ok(result) => result,
                Err(_) => bail!("the echo server thread panicked"),
            },
            None => bail!("the echo server was already stopped"),
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn serve(
    backend: Backend,
    options: EchoServerOptions,
    message_bytes: usize,
    stop: &AtomicBool,
    connections: &AtomicU64,
    ready: mpsc::Sender<anyhow::Result<Ready>>,
) -> anyhow::Result<EchoServerStats> {
    if let Some(core) = options.core {
        if let Err(error) = crate::placement::pin_current_thread(core) {
            let error = anyhow::anyhow!("pinning the echo server to cpu {core}: {error}");
            let _ = ready.send(Err(anyhow::anyhow!("{error}")));
            return Err(error);
        }
    }
    let config = ReactorConfig {
        backend,
        max_connections: 8,
        send_queue_bytes_max: 16 * 1024 * 1024,
        ..ReactorConfig::default()
    };
    let bound = Reactor::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config)
        .map_err(anyhow::Error::from)
        .and_then(|reactor| {
            let addr = reactor.local_addr().context("reading the bound address")?;
            let io = ApplianceIo::open(options.io)?;
            Ok((reactor, addr, io))
        });
    let (mut reactor, mut io) = match bound {
        Ok((reactor, addr, io)) => {
            let _ = ready.send(Ok(Ready {
                addr,
                backend: reactor.backend(),
                fallback_reason: reactor.fallback_reason().map(str::to_string),
                cores: crate::placement::allowed_cores().unwrap_or_default(),
            }));
            (reactor, io)
        }
        Err(error) => {
            let _ = ready.send(Err(error));
            return Ok(EchoServerStats::default());
        }
    };
    drop(ready);

    let message_bytes = message_bytes.max(1) as u64;
    // Pinned, the server has its core to itself and spins, so that the baseline is the best an echo does there; a
    // floating one blocks when idle, leaving the core to whatever else runs.
    let poll_timeout = if options.core.is_some() {
        Duration::ZERO
    } else {
        SERVER_POLL_TIMEOUT
    };
    let mut stats = EchoServerStats::default();
    let mut io_error: Option<anyhow::Error> = None;
    while !stop.load(Ordering::Acquire) {
        reactor
            .poll(poll_timeout, |conns, event| match event {
                Event::Accepted(..) => {
                    stats.connections += 1;
                    connections.fetch_add(1, Ordering::Release);
                }
                Event::Data(id, bytes) => {
                    let before = stats.bytes_echoed;
                    stats.bytes_echoed += bytes.len() as u64;
                    if let Some(io) = io.as_mut() {
                        // The messages this chunk completes are journaled before their echo is queued.
                        let messages = stats.bytes_echoed / message_bytes - before / message_bytes;
                        if let Err(error) = io.on_messages(messages, stats.bytes_echoed) {
                            io_error.get_or_insert(error);
                        }
                    }
                    if let Some(after_messages) = options.pause_once_after_messages {
                        if !stats.paused && stats.bytes_echoed / message_bytes >= after_messages {
                            stats.paused = true;
                            std::thread::sleep(Duration::from_millis(options.pause_ms));
                        }
                    }
                    if conns.send(id, bytes).is_err() {
                        stats.send_failures += 1;
                    }
                }
                Event::Closed(_, reason) => {
                    if !matches!(reason, CloseReason::PeerClosed | CloseReason::Shutdown) {
                        stats.abnormal_closes += 1;
                    }
                }
                Event::Refused(..) => stats.abnormal_closes += 1,
            })
            .context("polling the echo server's reactor")?;
        if let Some(io) = io.as_mut() {
            io.after_poll();
        }
        if let Some(error) = io_error.take() {
            return Err(error.context("the echo server's journal"));
        }
    }
    if let Some(mut io) = io {
        io.close()?;
        stats.io = io.stats;
    }
    Ok(stats)
}

/// What the client measured.
struct ClientOutcome {
    histogram: Histogram<u64>,
    received: u64,
    start_ns: u64,
    last_receive_ns: u64,
    send_lag_max_ns: u64,
    late_sends: u64,
}

impl ClientOutcome {
    fn note_send_lag(&mut self, lag_ns: u64) {
        self.send_lag_max_ns = self.send_lag_max_ns.max(lag_ns);
        if lag_ns > LATE_SEND_THRESHOLD_NS {
            self.late_sends += 1;
        }
    }
}

/// Reassembles echoed messages from a byte stream and checks each one's order and content.
struct FrameReader {
    buf: Vec<u8>,
    filled: usize,
    message_bytes: usize,
    expected_seq: u64,
    filler: Vec<u8>,
}

impl FrameReader {
    fn new(message_bytes: usize, filler: Vec<u8>) -> FrameReader {
        FrameReader {
            buf: vec![0; (64 * 1024).max(2 * message_bytes)],
            filled: 0,
            message_bytes,
            expected_seq: 0,
            filler,
        }
    }

    /// One non-blocking read; calls `on_frame(planned_ns, receive_ns)` for every complete message in it, in order.
    /// Returns how many there were (0 when nothing was ready).
    fn poll(
        &mut self,
        stream: &mut TcpStream,
        timer: &Timer,
        mut on_frame: impl FnMut(u64, u64),
    ) -> anyhow::Result<u64> {
        let read = match stream.read(&mut self.buf[self.filled..]) {
            Ok(0) => bail!(
                "the echo server closed the connection after {} responses",
                self.expected_seq
            ),
            Ok(read) => read,
            Err(error)
                if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) =>
            {
                return Ok(0)
            }
            Err(error) => return Err(error).context("receiving echoes"),
        };
        let receive_ns = timer.end();
        self.filled += read;
        let mut at = 0;
        let mut frames = 0;
        while self.filled - at >= self.message_bytes {
            let frame = &self.buf[at..at + self.message_bytes];
            let seq = read_u64(frame, 0);
            let planned_ns = read_u64(frame, 8);
            if seq != self.expected_seq {
                bail!(
                    "echo out of order: expected message {}, got {seq}",
                    self.expected_seq
                );
            }
            if frame[MESSAGE_HEADER_BYTES..] != self.filler[..] {
                bail!("echo of message {seq} came back with different bytes");
            }
            on_frame(planned_ns, receive_ns);
            self.expected_seq += 1;
            at += self.message_bytes;
            frames += 1;
        }
        self.buf.copy_within(at..self.filled, 0);
        self.filled -= at;
        Ok(frames)
    }
}

fn read_u64(frame: &[u8], offset: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&frame[offset..offset + 8]);
    u64::from_le_bytes(bytes)
}

fn encode_message(out: &mut Vec<u8>, seq: u64, planned_ns: u64, filler: &[u8]) {
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&planned_ns.to_le_bytes());
    out.extend_from_slice(filler);
}

/// The filler after the header, the same for every message of a run, drawn from the seed.
fn message_filler(seed: u64, message_bytes: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..message_bytes - MESSAGE_HEADER_BYTES)
        .map(|_| rng.next_u64() as u8)
        .collect()
}

/// Spins (sleeping first when it is far off) until the clock reaches `deadline_ns`.
fn wait_until(timer: &Timer, deadline_ns: u64) {
    loop {
        let now = timer.start();
        if now >= deadline_ns {
            return;
        }
        let remaining = deadline_ns - now;
        if remaining > SLEEP_THRESHOLD_NS {
            std::thread::sleep(Duration::from_nanos(remaining - SLEEP_WAKE_EARLY_NS));
        } else {
            std::hint::spin_loop();
        }
    }
}

fn validate(options: &EchoOptions) -> anyhow::Result<u64> {
    if options.rate_per_sec == 0 {
        bail!("--rate must be at least 1 message per second");
    }
    if !(MESSAGE_HEADER_BYTES..=MESSAGE_BYTES_MAX).contains(&options.message_bytes) {
        bail!(
            "--message-bytes must be in {MESSAGE_HEADER_BYTES}..={MESSAGE_BYTES_MAX} (sequence number and planned \
             time take {MESSAGE_HEADER_BYTES})"
        );
    }
    let messages = planned_messages(options.rate_per_sec, options.duration);
    if messages == 0 {
        bail!(
            "--rate {} for {:?} plans no message",
            options.rate_per_sec,
            options.duration
        );
    }
    Ok(messages)
}

/// Runs the echo baseline: starts the server, offers the load, stops the server, reports.
pub fn run(options: &EchoOptions) -> anyhow::Result<EchoRun> {
    run_with_live(options, LiveOptions::default())
}

/// `run`, with a progress bar and/or an interval log fed from the measuring thread (see `crate::live`).
pub fn run_with_live(options: &EchoOptions, live: LiveOptions) -> anyhow::Result<EchoRun> {
    run_inner(options, live, &mut ThreadWatch::none())
}

/// `run`, adding to `threads` what this process's threads (the client and the echo server) did from the
/// connection's accept to the last answer.
pub fn run_watched(options: &EchoOptions, threads: &mut ThreadWatch) -> anyhow::Result<EchoRun> {
    run_inner(options, LiveOptions::default(), threads)
}

fn run_inner(
    options: &EchoOptions,
    live: LiveOptions,
    threads: &mut ThreadWatch,
) -> anyhow::Result<EchoRun> {
    let messages = validate(options)?;
    let env = Environment::capture(options.seed);
    let timer = Timer::with_source(TimerSource::Instant, Duration::ZERO);
    let server = EchoServer::start(
        options.backend.into(),
        options.server,
        options.message_bytes,
    )?;
    let mut stream = TcpStream::connect(server.local_addr())
        .with_context(|| format!("connecting to the echo server at {}", server.local_addr()))?;
    stream
        .set_nodelay(true)
        .context("setting TCP_NODELAY on the client socket")?;
    stream
        .set_nonblocking(true)
        .context("making the client socket non-blocking")?;
    let accept_started_ns = timer.start();
    while server.connections_accepted() == 0 {
        if timer.start() - accept_started_ns > ACCEPT_TIMEOUT_NS {
            bail!("the echo server did not accept the client's connection within 2 s");
        }
        std::thread::sleep(Duration::from_micros(50));
    }

    let filler = message_filler(options.seed, options.message_bytes);
    let response_timeout_ns = u64::try_from(
        (options.response_timeout + Duration::from_millis(options.server.pause_ms)).as_nanos(),
    )
    .unwrap_or(u64::MAX);
    let (mut recorder, live_thread) = if live.is_active() {
        let (recorder, thread) = live::spawn(live)?;
        (Some(recorder), Some(thread))
    } else {
        (None, None)
    };
    threads.begin();
    let outcome = match options.load {
        Load::OpenLoop => open_loop(
            &mut stream,
            options,
            messages,
            &timer,
            filler,
            response_timeout_ns,
            &mut recorder,
        ),
        Load::ClosedLoop => closed_loop(
            &mut stream,
            options,
            messages,
            &timer,
            filler,
            response_timeout_ns,
            &mut recorder,
        ),
    };
    threads.end();
    drop(stream);
    if let (Some(recorder), Ok(outcome)) = (&mut recorder, &outcome) {
        recorder.finish(outcome.last_receive_ns);
    }
    drop(recorder);
    let live_outcome = live_thread.map_or(Ok(()), LiveThread::join);
    let backend = server.backend();
    let fallback_reason = server.fallback_reason().map(str::to_string);
    let server_stats = server.stop()?;
    let outcome = outcome?;
    live_outcome?;
    let report = build_report(
        options,
        messages,
        &timer,
        &outcome,
        &server_stats,
        backend,
        fallback_reason,
        env,
    );
    Ok(EchoRun {
        report,
        histogram: outcome.histogram,
    })
}

fn open_loop(
    stream: &mut TcpStream,
    options: &EchoOptions,
    messages: u64,
    timer: &Timer,
    filler: Vec<u8>,
    response_timeout_ns: u64,
    live: &mut Option<LiveRecorder>,
) -> anyhow::Result<ClientOutcome> {
    let message_bytes = options.message_bytes;
    let batch_messages = SEND_BATCH_MESSAGES_MAX
        .min((256 * 1024) / message_bytes)
        .max(1);
    let mut out: Vec<u8> = Vec::with_capacity(batch_messages * message_bytes);
    let mut out_offset = 0usize;
    let mut reader = FrameReader::new(message_bytes, filler.clone());
    let start_ns = timer.start() + START_LEAD_NS;
    let mut outcome = ClientOutcome {
        histogram: latency_histogram(),
        received: 0,
        start_ns,
        last_receive_ns: start_ns,
        send_lag_max_ns: 0,
        late_sends: 0,
    };
    if let Some(live) = live {
        live.begin(start_ns);
    }
    let mut next = 0u64;
    let mut last_progress_ns = start_ns;
    loop {
        let now = timer.start();
        // Everything due goes out as soon as possible after its planned time, in order, whatever the responses.
        if out_offset == out.len() {
            out.clear();
            out_offset = 0;
            while next < messages && out.len() < batch_messages * message_bytes {
                let planned_ns = start_ns + planned_offset_ns(next, options.rate_per_sec);
                if planned_ns > now {
                    break;
                }
                outcome.note_send_lag(now - planned_ns);
                encode_message(&mut out, next, planned_ns, &filler);
                next += 1;
            }
        }
        if out_offset < out.len() {
            match stream.write(&out[out_offset..]) {
                Ok(0) => bail!("the echo server's socket accepts no more bytes"),
                Ok(written) => out_offset += written,
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                Err(error) => return Err(error).context("sending to the echo server"),
            }
        }
        let histogram = &mut outcome.histogram;
        let mut last_receive_ns = outcome.last_receive_ns;
        let frames = reader.poll(stream, timer, |planned_ns, receive_ns| {
            let latency_ns = receive_ns.saturating_sub(planned_ns).max(1);
            histogram.saturating_record(latency_ns);
            if let Some(live) = live.as_mut() {
                live.record(latency_ns);
            }
            last_receive_ns = receive_ns;
        })?;
        outcome.last_receive_ns = last_receive_ns;
        outcome.received += frames;
        if outcome.received == messages {
            return Ok(outcome);
        }
        let now = timer.start();
        if let Some(live) = live.as_mut() {
            live.tick(now);
        }
        if frames > 0 || outcome.received == next {
            last_progress_ns = now;
        } else if now.saturating_sub(last_progress_ns) > response_timeout_ns {
            bail!(
                "no echo for {} ms with {} of {messages} messages sent and {} received",
                response_timeout_ns / 1_000_000,
                next,
                outcome.received
            );
        }
        if outcome.received == next && out_offset == out.len() && next < messages {
            let planned_ns = start_ns + planned_offset_ns(next, options.rate_per_sec);
            if planned_ns.saturating_sub(now) > SLEEP_THRESHOLD_NS {
                wait_until(timer, planned_ns - SLEEP_WAKE_EARLY_NS);
            }
        }
    }
}

fn closed_loop(
    stream: &mut TcpStream,
    options: &EchoOptions,
    messages: u64,
    timer: &Timer,
    filler: Vec<u8>,
    response_timeout_ns: u64,
    live: &mut Option<LiveRecorder>,
) -> anyhow::Result<ClientOutcome> {
    let message_bytes = options.message_bytes;
    let mut out: Vec<u8> = Vec::with_capacity(message_bytes);
    let mut reader = FrameReader::new(message_bytes, filler.clone());
    let start_ns = timer.start() + START_LEAD_NS;
    let mut outcome = ClientOutcome {
        histogram: latency_histogram(),
        received: 0,
        start_ns,
        last_receive_ns: start_ns,
        send_lag_max_ns: 0,
        late_sends: 0,
    };
    if let Some(live) = live {
        live.begin(start_ns);
    }
    for seq in 0..messages {
        let planned_ns = start_ns + planned_offset_ns(seq, options.rate_per_sec);
        wait_until(timer, planned_ns);
        let send_ns = timer.start();
        outcome.note_send_lag(send_ns - planned_ns);
        out.clear();
        encode_message(&mut out, seq, planned_ns, &filler);
        let mut written = 0;
        while written < out.len() {
            match stream.write(&out[written..]) {
                Ok(0) => bail!("the echo server's socket accepts no more bytes"),
                Ok(count) => written += count,
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) =>
                {
                    if timer.start().saturating_sub(send_ns) > response_timeout_ns {
                        bail!(
                            "could not send message {seq} for {} ms",
                            response_timeout_ns / 1_000_000
                        );
                    }
                }
                Err(error) => return Err(error).context("sending to the echo server"),
            }
        }
        // Timed from the actual send: what a closed-loop rig reports, and why it hides stalls.
        let mut frames = 0;
        while frames == 0 {
            let histogram = &mut outcome.histogram;
            let mut last_receive_ns = outcome.last_receive_ns;
            frames = reader.poll(stream, timer, |_planned_ns, receive_ns| {
                let latency_ns = receive_ns.saturating_sub(send_ns).max(1);
                histogram.saturating_record(latency_ns);
                if let Some(live) = live.as_mut() {
                    live.record(latency_ns);
                    live.tick(receive_ns);
                }
                last_receive_ns = receive_ns;
            })?;
            outcome.last_receive_ns = last_receive_ns;
            if frames == 0 && timer.start().saturating_sub(send_ns) > response_timeout_ns {
                bail!(
                    "no echo of message {seq} for {} ms",
                    response_timeout_ns / 1_000_000
                );
            }
        }
        outcome.received += frames;
    }
    Ok(outcome)
}

#[allow(clippy::too_many_arguments)]
fn build_report(
    options: &EchoOptions,
    messages: u64,
    timer: &Timer,
    outcome: &ClientOutcome,
    server: &EchoServerStats,
    backend: Backend,
    fallback_reason: Option<String>,
    env: Environment,
) -> EchoReport {
    let seconds = outcome.last_receive_ns.saturating_sub(outcome.start_ns) as f64 / 1e9;
    let achieved = if seconds > 0.0 {
        outcome.received as f64 / seconds
    } else {
        0.0
    };
    let load = options.load;

    let mut counters = Named::new();
    counters.push("messages_planned", messages);
    counters.push("messages_received", outcome.received);
    counters.push("sends_late_over_10us", outcome.late_sends);
    counters.push("server_bytes_echoed", server.bytes_echoed);
    if matches!(options.server.io, EchoIo::Journal | EchoIo::JournalFeed) {
        counters.push("records_journaled", server.io.records_journaled);
    }
    if matches!(options.server.io, EchoIo::Feed | EchoIo::JournalFeed) {
        counters.push("feed_packets", server.io.feed_packets);
        counters.push("feed_packets_lost", server.io.feed_packets_lost);
    }

    let mut checks = Named::new();
    checks.push(
        "responses",
        if outcome.received == messages {
            "ok".to_string()
        } else {
            format!("{} of {messages}", outcome.received)
        },
    );
    checks.push(
        "server",
        if server.send_failures == 0 && server.abnormal_closes == 0 {
            "ok".to_string()
        } else {
            format!(
                "{} refused sends, {} abnormal closes",
                server.send_failures, server.abnormal_closes
            )
        },
    );

    if matches!(options.server.io, EchoIo::Journal | EchoIo::JournalFeed) {
        let echoed = server.bytes_echoed / options.message_bytes.max(1) as u64;
        checks.push(
            "journal",
            if server.io.records_journaled == echoed {
                "ok".to_string()
            } else {
                format!(
                    "{} records for {echoed} messages echoed",
                    server.io.records_journaled
                )
            },
        );
    }

    let mut notes = Vec::new();
    if options.server.io != EchoIo::Bare {
        notes.push(format!(
            "the server is the {}: each message is journaled before its echo and/or published in a datagram \
             after it, as the appliance's gateway does with an order",
            options.server.io.describe()
        ));
    }
    if load == Load::ClosedLoop {
        notes.push(
            "closed loop: a stall in the server delays the sends after it instead of showing in their latency \
             (coordinated omission); read these percentiles as a best case, not as what clients see"
                .to_string(),
        );
    }
    if achieved < 0.95 * options.rate_per_sec as f64 {
        notes.push(format!(
            "achieved {} msg/s of the {} msg/s target: {}",
            group_digits(achieved.round() as u64),
            group_digits(options.rate_per_sec),
            match load {
                Load::ClosedLoop => {
                    "the closed loop waits for each response, so its schedule slipped and the stall-free \
                     percentiles above were measured at a lower rate"
                }
                Load::OpenLoop => "the server or the client could not keep up with the schedule",
            }
        ));
    }
    if load == Load::OpenLoop && outcome.late_sends * 100 > messages {
        notes.push(format!(
            "the client handed {} messages to the socket more than 10 us after their planned time (max {} ns): \
             at this rate the client or the socket, not only the server, shapes the latency",
            group_digits(outcome.late_sends),
            group_digits(outcome.send_lag_max_ns)
        ));
    }
    if let Some(reason) = &fallback_reason {
        notes.push(reason.clone());
    }
    if server.paused {
        notes.push(format!(
            "the server stalled once for {} ms (test knob)",
            options.server.pause_ms
        ));
    }

    let extra_rows = vec![
        ("load".to_string(), load.describe().to_string()),
        (
            "rate".to_string(),
            format!(
                "target {} msg/s · achieved {} msg/s",
                group_digits(options.rate_per_sec),
                group_digits(achieved.round() as u64)
            ),
        ),
        (
            "server".to_string(),
            format!(
                "crossline-net reactor, {} · {} B messages · TCP_NODELAY · 127.0.0.1",
                backend_name(backend),
                options.message_bytes
            ),
        ),
        (
            "send lag".to_string(),
            format!(
                "max {} ns · {} sends > 10 us late",
                group_digits(outcome.send_lag_max_ns),
                group_digits(outcome.late_sends)
            ),
        ),
    ];

    let method = match load {
        Load::OpenLoop => {
            "every message timed, from its planned send time to the receipt of its echo"
        }
        Load::ClosedLoop => "every message timed, from its actual send to the receipt of its echo",
    };
    let report = Report {
        mode: "echo".to_string(),
        workload: format!("bare-echo-{}B", options.message_bytes),
        ops: outcome.received,
        seconds,
        ops_per_sec: achieved,
        latency_ns: LatencyNs::from_histogram(&outcome.histogram),
        latency_sampling: LatencySampling {
            method: method.to_string(),
            every: 1,
            samples: outcome.histogram.len(),
            timer: timer.describe(),
            timer_overhead_ns: (timer.overhead_ns() * 10.0).round() / 10.0,
            unit: "one message's round trip over loopback TCP".to_string(),
        },
        headline: None,
        baseline: None,
        counters,
        mix: Named::new(),
        checks,
        state_hash: None,
        env,
        notes,
        extra_rows,
    };
    EchoReport {
        report,
        load: load.name().to_string(),
        load_description: load.describe().to_string(),
        target_rate_per_sec: options.rate_per_sec,
        achieved_rate_per_sec: achieved,
        message_bytes: options.message_bytes,
        messages_planned: messages,
        messages_received: outcome.received,
        backend: backend_name(backend).to_string(),
        backend_fallback_reason: fallback_reason,
        send_lag_max_ns: outcome.send_lag_max_ns,
        sends_late_over_10us: outcome.late_sends,
        server_pause_ms: server.paused.then_some(options.server.pause_ms),
    }
}

/// The echo mode as a step-rate search target: each step is one open-loop (or closed-loop) run at the offered
/// rate, with the options given for everything else.
pub struct EchoRateTarget {
    pub options: EchoOptions,
    /// Draw a progress bar for each step (when stderr is a terminal and the step lasts over a second).
    pub progress: bool,
}

impl RateTarget for EchoRateTarget {
    fn describe(&self) -> String {
        format!(
            "echo, {}, {} B messages, {:.1} s per step",
            self.options.load.describe(),
            self.options.message_bytes,
            self.options.duration.as_secs_f64()
        )
    }

    fn measure(&mut self, rate_per_sec: u64) -> anyhow::Result<StepMeasurement> {
        let options = EchoOptions {
            rate_per_sec,
            ..self.options
        };
        let live = LiveOptions {
            progress: (self.progress && crate::progress::wanted(false, options.duration)).then(
                || ProgressOptions {
                    total: planned_messages(rate_per_sec, options.duration),
                    unit: "msg".to_string(),
                },
            ),
            hlog: None,
        };
        let run = run_with_live(&options, live)?;
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

    #[test]
    fn an_echo_server_given_a_core_runs_there_and_one_it_cannot_have_is_refused() {
        let allowed = crate::placement::allowed_cores().unwrap();
        let core = *allowed.last().unwrap();
        let options = EchoServerOptions {
            core: Some(core),
            ..EchoServerOptions::default()
        };
        let server = EchoServer::start(Backend::Auto, options, 64).unwrap();
        assert_eq!(server.cores(), [core]);
        server.stop().unwrap();
        let floating = EchoServer::start(Backend::Auto, EchoServerOptions::default(), 64).unwrap();
        assert_eq!(floating.cores(), allowed.as_slice());
        floating.stop().unwrap();
        // A core past the mask's size, and one the kernel does not let this process use (when there is one).
        let not_allowed = (0..1024).find(|cpu| !allowed.contains(cpu));
        for refused in [Some(usize::MAX), not_allowed].into_iter().flatten() {
            let options = EchoServerOptions {
                core: Some(refused),
                ..EchoServerOptions::default()
            };
            let error = EchoServer::start(Backend::Auto, options, 64).err().unwrap();
            assert!(
                format!("{error:#}").contains(&format!("pinning the echo server to cpu {refused}")),
                "{error:#}"
            );
        }
    }

    #[test]
    fn planned_times_do_not_drift() {
        assert_eq!(planned_messages(3, Duration::from_secs(1)), 3);
        assert_eq!(
            planned_messages(100_000, Duration::from_millis(1500)),
            150_000
        );
        assert_eq!(planned_offset_ns(0, 3), 0);
        assert_eq!(planned_offset_ns(1, 3), 333_333_333);
        assert_eq!(planned_offset_ns(3, 3), 1_000_000_000);
        assert_eq!(planned_offset_ns(999_999, 1_000_000), 999_999_000);
    }

    #[test]
    fn options_are_checked() {
        let too_small = EchoOptions {
            message_bytes: 8,
            ..EchoOptions::default()
        };
        assert!(validate(&too_small).is_err());
        let no_messages = EchoOptions {
            rate_per_sec: 1,
            duration: Duration::from_millis(500),
            ..EchoOptions::default()
        };
        assert!(validate(&no_messages).is_err());
        assert!(validate(&EchoOptions::default()).is_ok());
    }

    #[test]
    fn messages_round_trip_through_the_reader_format() {
        let filler = message_filler(7, 64);
        assert_eq!(filler.len(), 48);
        assert_eq!(filler, message_filler(7, 64));
        let mut out = Vec::new();
        encode_message(&mut out, 5, 123, &filler);
        assert_eq!(out.len(), 64);
        assert_eq!(read_u64(&out, 0), 5);
        assert_eq!(read_u64(&out, 8), 123);
    }
}
