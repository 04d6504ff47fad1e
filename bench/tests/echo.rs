//! The echo mode against its in-process reactor server, and the proof that the rig is honest: a server that
//! stalls once for 50 ms must show in the open-loop p99.9 and is hidden by the closed loop. The tests run one at a
//! time (each busies a client core and a server core) and every run is bounded by its schedule plus a response
//! timeout.

use crossline_bench::modes::echo::{
    planned_messages, run, EchoBackend, EchoOptions, EchoServerOptions, Load,
};
use crossline_bench::modes::echo_io::EchoIo;
use std::sync::Mutex;
use std::time::Duration;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn options(rate_per_sec: u64, duration: Duration, load: Load) -> EchoOptions {
    EchoOptions {
        rate_per_sec,
        duration,
        load,
        response_timeout: Duration::from_secs(3),
        ..EchoOptions::default()
    }
}

#[test]
fn open_loop_at_a_modest_rate_receives_every_message() {
    let _serial = serial();
    let run =
        run(&options(20_000, Duration::from_secs(1), Load::OpenLoop)).expect("the run completes");
    let echo = &run.report;
    let report = &echo.report;
    assert!(report.checks_passed(), "{}", report.render_table());
    assert_eq!(echo.messages_planned, 20_000);
    assert_eq!(echo.messages_received, 20_000);
    assert_eq!(report.ops, 20_000);
    assert_eq!(run.histogram.len(), 20_000, "every message timed");
    assert!(run.histogram.min() >= 1, "latencies are positive");
    let latency = report.latency_ns.expect("latency measured");
    assert!(latency.p50 > 0 && latency.p50 <= latency.max);
    assert!(
        report.seconds >= 0.99,
        "the schedule spans the duration: {}",
        report.seconds
    );
    assert_eq!(echo.load, "open_loop");
    assert!(report
        .render_table()
        .contains("open loop (latency from planned send time)"));
    let json = serde_json::to_value(echo).expect("serializes");
    assert_eq!(json["mode"], "echo");
    assert_eq!(json["target_rate_per_sec"], 20_000);
    for key in ["p50", "p90", "p99", "p99_9", "p99_99", "max"] {
        assert!(
            json["latency_ns"].get(key).is_some(),
            "missing latency_ns.{key}"
        );
    }
    assert!(json["env"].get("command_line").is_some());
}

/// The honesty test. 10,000 messages/s for 1 s against a server that stalls once for 50 ms after 2,000
/// messages: about 500 messages (5%, far above the 0.1% a p99.9 needs) are planned during the stall.
#[test]
fn a_50_ms_stall_shows_in_open_loop_p99_9_and_is_hidden_by_closed_loop() {
    let _serial = serial();
    let stalling = |load: Load| EchoOptions {
        server: EchoServerOptions {
            pause_once_after_messages: Some(2_000),
            pause_ms: 50,
            ..EchoServerOptions::default()
        },
        ..options(10_000, Duration::from_secs(1), load)
    };

    let open = run(&stalling(Load::OpenLoop)).expect("open-loop run completes");
    assert_eq!(open.report.server_pause_ms, Some(50), "the server stalled");
    assert_eq!(open.report.messages_received, 10_000);
    let open_p99_9 = open.report.report.latency_ns.expect("latency").p99_9;
    assert!(
        open_p99_9 >= 25_000_000,
        "open loop must show the 50 ms stall in p99.9, got {open_p99_9} ns\n{}",
        open.report.report.render_table()
    );

    let closed = run(&stalling(Load::ClosedLoop)).expect("closed-loop run completes");
    assert_eq!(
        closed.report.server_pause_ms,
        Some(50),
        "the server stalled"
    );
    assert_eq!(closed.report.messages_received, 10_000);
    let closed_latency = closed.report.report.latency_ns.expect("latency");
    assert!(
        closed_latency.max >= 40_000_000,
        "the one message caught in the stall waited for it: max {} ns",
        closed_latency.max
    );
    eprintln!(
        "50 ms stall: open-loop p99.9 {open_p99_9} ns, closed-loop p99.9 {} ns (max {} ns)",
        closed_latency.p99_9, closed_latency.max
    );
    assert!(
        closed_latency.p99_9 < 10_000_000,
        "closed loop hides the stall: p99.9 {} ns\n{}",
        closed_latency.p99_9,
        closed.report.report.render_table()
    );
    assert!(closed
        .report
        .report
        .render_table()
        .contains("closed loop (latency from actual send"));
}

#[test]
fn the_same_seed_and_rate_send_the_same_number_of_messages() {
    let _serial = serial();
    let first = EchoOptions {
        backend: EchoBackend::Epoll,
        seed: 9,
        ..options(5_000, Duration::from_millis(300), Load::OpenLoop)
    };
    let a = run(&first).expect("first run");
    let b = run(&first).expect("second run");
    assert_eq!(a.report.messages_planned, 1_500);
    assert_eq!(a.report.messages_planned, b.report.messages_planned);
    assert_eq!(a.report.messages_received, b.report.messages_received);
    assert_eq!(a.report.report.ops, b.report.report.ops);
    assert_eq!(a.report.backend, "epoll");
    assert_eq!(planned_messages(5_000, Duration::from_millis(300)), 1_500);
}

#[test]
fn impossible_options_are_refused() {
    let too_short = EchoOptions {
        message_bytes: 15,
        ..options(1_000, Duration::from_millis(10), Load::OpenLoop)
    };
    assert!(run(&too_short).is_err());
    let no_messages = options(1, Duration::from_millis(10), Load::ClosedLoop);
    assert!(run(&no_messages).is_err());
}

/// The diagnostic echo that does the appliance's I/O: every message it echoes is journaled first (by the
/// appliance's own journal writer) and published in a feed datagram after, and the report counts both.
#[test]
fn an_echo_with_the_appliances_journal_and_feed_journals_every_message() {
    let _serial = serial();
    let with_io = EchoOptions {
        server: EchoServerOptions {
            io: EchoIo::JournalFeed,
            ..EchoServerOptions::default()
        },
        ..options(5_000, Duration::from_secs(1), Load::OpenLoop)
    };
    let run = run(&with_io).expect("the run completes");
    let report = &run.report.report;
    assert!(report.checks_passed(), "{}", report.render_table());
    assert_eq!(run.report.messages_received, 5_000);
    let json = serde_json::to_value(&run.report).expect("serializes");
    assert_eq!(json["checks"]["journal"], "ok", "{json}");
    assert_eq!(json["counters"]["records_journaled"].as_u64(), Some(5_000));
    let packets = json["counters"]["feed_packets"].as_u64().unwrap_or(0);
    assert!(
        packets > 0 && packets <= 5_000,
        "one datagram per poll that echoed something: {packets}"
    );
    assert!(report
        .notes
        .iter()
        .any(|note| note.contains("echo with the appliance's journal and UDP feed")));

    // The bare echo journals nothing and says nothing of it.
    let bare = run_bare();
    let json = serde_json::to_value(&bare.report).expect("serializes");
    assert!(json["counters"].get("records_journaled").is_none());
    assert!(json["checks"].get("journal").is_none());
}

fn run_bare() -> crossline_bench::modes::echo::EchoRun {
    run(&options(5_000, Duration::from_millis(200), Load::OpenLoop)).expect("the run completes")
}
