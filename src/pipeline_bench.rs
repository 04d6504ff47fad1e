//! `crossline bench-pipeline` (hidden; `crossline-bench pipeline` runs it): the appliance's pipeline in process,
//! without sockets. A producer thread stands in for the gateway, writing `InboundCommand`s into the inbound ring;
//! the real `EngineStage` (sequencer, journal writer in a temporary directory with the embedded configuration's
//! journal settings, matcher) runs on its own thread exactly as `serve` starts it, after the configuration's
//! genesis commands; a consumer thread stands in for the gateway's reply side and drains the outbound ring.
//!
//! The flow is deterministic: the embedded configuration's three trading sessions (accounts 1..=3) in turn; each
//! keeps at most 8 resting Day limit orders on ACME a few ticks off the reference price and cancels its oldest
//! when it has 8; one command in 10 is an aggressive IOC that crosses the other sessions' orders. A cancel can
//! find its order already filled (the engine rejects it): counted, not a failure.
//!
//! Reported, as JSON on stdout with `--json`: commands per second from the first command written to the last
//! command's events read; the consumer's latency per drained batch (the producer stamps each batch it writes with
//! the wall clock, the consumer reads the clock when a batch of events arrives: ring -> sequencer -> journal ->
//! matcher -> ring); the engine stage's own batch latency histogram (journal append + commit + apply, power-of-two
//! buckets); and the baseline: the same producer and consumer through one ring with no engine.

use crate::config::Config;
use crate::metrics::{self, Metrics};
use crate::pipeline::engine_stage::{AdminResults, EngineStage, Fatal};
use crate::pipeline::idle::Idle;
use crate::pipeline::ledger::SessionLedger;
use crate::pipeline::messages::{wall_clock_ns, AdminCommand, InboundCommand, OutboundEvent};
use crate::pipeline::ring::{ring, Consumer, Producer};
use crate::pipeline::Lifecycle;
use anyhow::Context;
use crossline_engine::{CommandBody, Engine, NewOrder, OrderType, Side, TimeInForce};
use crossline_journal::JournalWriter;
use hdrhistogram::Histogram;
use serde_json::json;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const INBOUND_RING_SLOTS: usize = 65_536;
const OUTBOUND_RING_SLOTS: usize = 262_144;
/// Commands the producer writes before publishing (one clock read each batch).
const PRODUCER_BATCH: u64 = 64;
const RESTING_PER_SESSION: usize = 8;
const AGGRESSOR_ONE_IN: u64 = 10;
const INSTRUMENT: u32 = 1;
const REFERENCE_PRICE: i64 = 1_000_000;
const TICK: i64 = 100;

/// The deterministic flow.
struct Flow {
    state: u64,
    sessions: Vec<(u32, u32)>,
    next_ref: Vec<u32>,
    resting: Vec<std::collections::VecDeque<u32>>,
    turn: usize,
}

impl Flow {
    fn new(config: &Config) -> Flow {
        let sessions: Vec<(u32, u32)> = config
            .users
            .iter()
            .enumerate()
            .map(|(index, user)| (Config::session_of_user(index), user.account))
            .collect();
        let count = sessions.len();
        Flow {
            state: 0x9E37_79B9_7F4A_7C15,
            sessions,
            next_ref: vec![1; count],
            resting: vec![std::collections::VecDeque::new(); count],
            turn: 0,
        }
    }

    #[inline]
    fn random(&mut self) -> u64 {
        // SplitMix64.
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    #[inline]
    fn next(&mut self) -> CommandBody {
        let index = self.turn;
        self.turn += 1;
        if self.turn == self.sessions.len() {
            self.turn = 0;
        }
        let (session, account) = self.sessions[index];
        let r = self.random();
        let aggressor = r.is_multiple_of(AGGRESSOR_ONE_IN);
        if !aggressor && self.resting[index].len() >= RESTING_PER_SESSION {
            let user_ref = self.resting[index].pop_front().unwrap_or(0);
            return CommandBody::Cancel {
                session,
                account,
                user_ref,
            };
        }
        let user_ref = self.next_ref[index];
        self.next_ref[index] += 1;
        let buy = (r >> 8) & 1 == 0;
        let ticks = 1 + ((r >> 16) % 20) as i64;
        let (price, qty, time_in_force) = if aggressor {
            let price = if buy {
                REFERENCE_PRICE + 5 * TICK
            } else {
                REFERENCE_PRICE - 5 * TICK
            };
            (price, 1 + (r >> 32) % 3, TimeInForce::Ioc)
        } else {
            self.resting[index].push_back(user_ref);
            let price = if buy {
                REFERENCE_PRICE - ticks * TICK
            } else {
                REFERENCE_PRICE + ticks * TICK
            };
            (price, 1 + (r >> 32) % 10, TimeInForce::Day)
        };
        CommandBody::NewOrder(NewOrder {
            session,
            account,
            user_ref,
            instrument: INSTRUMENT,
            side: if buy { Side::Buy } else { Side::Sell },
            order_type: OrderType::Limit,
            time_in_force,
            price,
            qty,
            min_qty: 0,
            display_qty: 0,
            post_only: false,
            expire_time_ns: 0,
            group: 0,
        })
    }
}

/// Writes `ops` commands of the flow, stamping each batch with the wall clock.
fn produce(mut tx: Producer<InboundCommand>, mut flow: Flow, ops: u64) {
    let mut written = 0u64;
    while written < ops {
        let stamp = wall_clock_ns();
        let batch_end = (written + PRODUCER_BATCH).min(ops);
        while written < batch_end {
            let item = InboundCommand {
                body: flow.next(),
                received_ns: stamp,
            };
            let mut spins = 0u32;
            while !tx.try_write(item) {
                tx.publish();
                spins += 1;
                if spins > 100 {
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
            }
            written += 1;
        }
        tx.publish();
    }
}

fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("constant bounds")
}

fn percentiles(histogram: &Histogram<u64>) -> serde_json::Value {
    if histogram.is_empty() {
        return serde_json::Value::Null;
    }
    json!({
        "p50": histogram.value_at_quantile(0.5),
        "p90": histogram.value_at_quantile(0.9),
        "p99": histogram.value_at_quantile(0.99),
        "p99_9": histogram.value_at_quantile(0.999),
        "p99_99": histogram.value_at_quantile(0.9999),
        "max": histogram.max(),
    })
}

/// Percentiles of a power-of-two histogram, as bucket upper bounds.
fn log2_percentiles(histogram: &metrics::Log2Histogram) -> serde_json::Value {
    let (buckets, _sum) = histogram.read();
    let total: u64 = buckets.iter().map(|(_, count)| count).sum();
    if total == 0 {
        return serde_json::Value::Null;
    }
    let at = |quantile: f64| {
        let rank = ((total as f64) * quantile).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (upper, count) in buckets {
            seen += count;
            if seen >= rank {
                return upper;
            }
        }
        buckets[buckets.len() - 1].0
    };
    json!({
        "p50": at(0.5),
        "p90": at(0.9),
        "p99": at(0.99),
        "p99_9": at(0.999),
        "p99_99": at(0.9999),
        "batches": total,
    })
}

/// What a consumer saw.
struct Drained {
    items: u64,
    histogram: Histogram<u64>,
    end: Instant,
}

/// Drains the outbound ring until it has seen an event of `last_seq`.
fn consume_events(mut rx: Consumer<OutboundEvent>, last_seq: u64, stop: &AtomicBool) -> Drained {
    let mut histogram = latency_histogram();
    let mut items = 0u64;
    let mut spins = 0u32;
    loop {
        let available = rx.available();
        if available == 0 {
            if stop.load(Ordering::Acquire) {
                break;
            }
            spins += 1;
            if spins > 100 {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
            continue;
        }
        spins = 0;
        let now = wall_clock_ns();
        let mut done = false;
        for i in 0..available {
            let Some(event) = rx.peek(i) else { break };
            if i == 0 && event.received_ns != 0 {
                histogram.saturating_record(now.saturating_sub(event.received_ns).max(1));
            }
            if event.seq >= last_seq {
                done = true;
            }
        }
        items += available;
        rx.release(available);
        if done {
            break;
        }
    }
    Drained {
        items,
        histogram,
        end: Instant::now(),
    }
}

/// Drains the inbound ring directly (the baseline) until `ops` commands arrived.
fn consume_commands(mut rx: Consumer<InboundCommand>, ops: u64) -> Drained {
    let mut histogram = latency_histogram();
    let mut items = 0u64;
    let mut spins = 0u32;
    let mut checksum = 0u64;
    while items < ops {
        let available = rx.available();
        if available == 0 {
            spins += 1;
            if spins > 100 {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
            continue;
        }
        spins = 0;
        let now = wall_clock_ns();
        for i in 0..available {
            let Some(item) = rx.peek(i) else { break };
            if i == 0 {
                histogram.saturating_record(now.saturating_sub(item.received_ns).max(1));
            }
            if let CommandBody::NewOrder(order) = item.body {
                checksum = checksum.wrapping_add(order.price as u64);
            }
        }
        items += available;
        rx.release(available);
    }
    std::hint::black_box(checksum);
    Drained {
        items,
        histogram,
        end: Instant::now(),
    }
}

fn scratch_dir() -> anyhow::Result<PathBuf> {
    let nanos = wall_clock_ns();
    let dir = std::env::temp_dir().join(format!(
        "crossline-bench-pipeline-{}-{nanos}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// The pipeline run.
fn run_pipeline(
    config: &Config,
    ops: u64,
    dir: &std::path::Path,
) -> anyhow::Result<serde_json::Value> {
    let journal_config = crate::serve::journal_config(config);
    let journal_dir = dir.join("journal");
    std::fs::create_dir_all(&journal_dir)
        .with_context(|| format!("creating {}", journal_dir.display()))?;
    let (journal, _) = JournalWriter::open(&journal_dir, journal_config)
        .map_err(|error| anyhow::anyhow!("opening the journal: {error}"))?;
    let engine = Engine::new(config.engine_config())
        .map_err(|error| anyhow::anyhow!("engine configuration: {error:?}"))?;
    let sessions = config.users.len();
    let genesis = crate::config::genesis_commands(config);
    let genesis_len = genesis.len() as u64;
    let last_seq = genesis_len + ops;

    let metrics = Arc::new(Metrics::default());
    let lifecycle = Arc::new(Lifecycle::default());
    let fatal = Arc::new(Fatal::default());
    let (to_engine, from_gateway) = ring::<InboundCommand>(INBOUND_RING_SLOTS);
    let (to_gateway, from_engine) = ring::<OutboundEvent>(OUTBOUND_RING_SLOTS);
    let (_admin_producer, from_admin) = ring::<AdminCommand>(64);
    let stage = EngineStage {
        engine,
        ledger: SessionLedger::new(sessions),
        journal,
        from_gateway,
        from_admin,
        to_gateway,
        metrics: Arc::clone(&metrics),
        admin_results: Arc::new(AdminResults::default()),
        lifecycle: Arc::clone(&lifecycle),
        fatal: Arc::clone(&fatal),
        idle: Idle::new(config.cores.engine.idle),
        genesis,
        state_check_interval_ns: 0,
        next_state_check_ns: u64::MAX,
    };
    let engine_thread = std::thread::Builder::new()
        .name("bench-engine".to_string())
        .spawn(move || stage.run())
        .context("starting the engine thread")?;
    // The consumer drains the genesis events too; the clock starts once they are applied.
    let consumer_stop = Arc::new(AtomicBool::new(false));
    let consumer = std::thread::Builder::new()
        .name("bench-consumer".to_string())
        .spawn({
            let stop = Arc::clone(&consumer_stop);
            move || consume_events(from_engine, last_seq, &stop)
        })
        .context("starting the consumer thread")?;
    let wait_started = Instant::now();
    while metrics::get(&metrics.engine.commands) < genesis_len {
        if let Some(reason) = fatal.get() {
            anyhow::bail!("the engine stage stopped: {reason}");
        }
        if wait_started.elapsed() > Duration::from_secs(30) {
            anyhow::bail!("the genesis commands were not applied within 30 s");
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let rejects_before = metrics::get(&metrics.engine.rejects);
    let events_before = metrics::get(&metrics.engine.events);
    let flow = Flow::new(config);
    let started = Instant::now();
    let producer = std::thread::Builder::new()
        .name("bench-producer".to_string())
        .spawn(move || produce(to_engine, flow, ops))
        .context("starting the producer thread")?;
    producer
        .join()
        .map_err(|_| anyhow::anyhow!("the producer panicked"))?;
    // Wait for the consumer to see the last command's events (or the engine to fail).
    while !consumer.is_finished() {
        if let Some(reason) = fatal.get() {
            consumer_stop.store(true, Ordering::Release);
            lifecycle.stop_engine();
            anyhow::bail!("the engine stage stopped: {reason}");
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let drained = consumer
        .join()
        .map_err(|_| anyhow::anyhow!("the consumer panicked"))?;
    let seconds = drained.end.duration_since(started).as_secs_f64();
    lifecycle.stop_engine();
    let (engine, _ledger) = engine_thread
        .join()
        .map_err(|_| anyhow::anyhow!("the engine thread panicked"))?;
    if let Some(reason) = fatal.get() {
        anyhow::bail!("the engine stage failed: {reason}");
    }
    let commands = metrics::get(&metrics.engine.commands) - genesis_len;
    let journal_bytes: u64 = std::fs::read_dir(dir.join("journal"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| entry.metadata().ok())
                .map(|meta| meta.len())
                .sum()
        })
        .unwrap_or(0);
    Ok(json!({
        "ops": ops,
        "commands_applied": commands,
        "seconds": seconds,
        "ops_per_sec": ops as f64 / seconds,
        "events": metrics::get(&metrics.engine.events) - events_before,
        "events_read": drained.items,
        "rejects": metrics::get(&metrics.engine.rejects) - rejects_before,
        "batches": metrics::get(&metrics.engine.batches),
        "outbound_ring_full": metrics::get(&metrics.engine.outbound_ring_full),
        "last_seq": engine.last_seq(),
        "journal_fsync": format!("{:?}", config.journal.fsync),
        "journal_fsync_interval_ms": config.journal.fsync_interval_ms,
        "journal_segment_files_bytes": journal_bytes,
        "latency_ns": percentiles(&drained.histogram),
        "latency_samples": drained.histogram.len(),
        "engine_batch_latency_ns": log2_percentiles(&metrics.engine.batch_latency),
    }))
}

/// The baseline: the same producer and a consumer through one ring, no engine.
fn run_ring_hop(config: &Config, ops: u64) -> anyhow::Result<serde_json::Value> {
    let (tx, rx) = ring::<InboundCommand>(INBOUND_RING_SLOTS);
    let flow = Flow::new(config);
    let consumer = std::thread::Builder::new()
        .name("bench-hop-consumer".to_string())
        .spawn(move || consume_commands(rx, ops))
        .context("starting the baseline consumer")?;
    let started = Instant::now();
    let producer = std::thread::Builder::new()
        .name("bench-hop-producer".to_string())
        .spawn(move || produce(tx, flow, ops))
        .context("starting the baseline producer")?;
    producer
        .join()
        .map_err(|_| anyhow::anyhow!("the baseline producer panicked"))?;
    let drained = consumer
        .join()
        .map_err(|_| anyhow::anyhow!("the baseline consumer panicked"))?;
    let seconds = drained.end.duration_since(started).as_secs_f64();
    Ok(json!({
        "name": "raw ring hop: the same producer and flow, one SPSC ring, a consumer that reads each command; no engine, no journal",
        "ops": drained.items,
        "seconds": seconds,
        "ops_per_sec": drained.items as f64 / seconds,
        "latency_ns": percentiles(&drained.histogram),
        "latency_samples": drained.histogram.len(),
    }))
}

/// `crossline bench-pipeline --ops N [--json]`.
pub fn run(ops: u64, json_out: bool) -> anyhow::Result<i32> {
    if ops == 0 {
        anyhow::bail!("--ops must be at least 1");
    }
    let config = Config::embedded().map_err(|error| anyhow::anyhow!("{error}"))?;
    let dir = scratch_dir()?;
    let pipeline = run_pipeline(&config, ops, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    let pipeline = pipeline?;
    let baseline = run_ring_hop(&config, ops)?;
    let report = json!({
        "mode": "pipeline",
        "flow": "mm-orders: 3 sessions in turn, at most 8 resting Day orders each (cancel of the oldest), 1 in 10 an aggressive IOC",
        "pipeline": pipeline,
        "baseline": baseline,
        "threads": "producer (gateway stand-in), engine stage (sequencer + journal + matcher), consumer (reply stand-in), journal flusher",
        "journal_dir": "a temporary directory, removed after the run",
    });
    if json_out {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "pipeline: {} ops in {:.3} s = {:.0} ops/s; ring hop baseline {:.0} ops/s",
            ops,
            report["pipeline"]["seconds"].as_f64().unwrap_or(0.0),
            report["pipeline"]["ops_per_sec"].as_f64().unwrap_or(0.0),
            report["baseline"]["ops_per_sec"].as_f64().unwrap_or(0.0)
        );
    }
    Ok(0)
}
