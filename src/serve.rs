//! `crossline serve`: recover, start the threads, wait for a signal, shut down in order.

use crate::config::{BackendChoice, Config};
use crate::metrics::Metrics;
use crate::pipeline::admin_ring::AdminSubmitter;
use crate::pipeline::cores::CoreList;
use crate::pipeline::engine_stage::{AdminResults, EngineStage, Fatal};
use crate::pipeline::follower::{Follower, FollowerState};
use crate::pipeline::gateway_stage::{
    encode_buffer, AckGate, Feed, GatewayStage, GatewayState, Instruments, UserSlot,
};
use crate::pipeline::idle::Idle;
use crate::pipeline::ledger::SessionLedger;
use crate::pipeline::messages::{since_midnight_ns, wall_clock_ns};
use crate::pipeline::rate::{RateRule, SessionFlow};
use crate::pipeline::recovery::{fsync_policy, recover, RecoveryInput, RecoveryObserver};
use crate::pipeline::ring::ring;
use crate::pipeline::role::Role;
use crate::pipeline::standby_stage::{Promotion, StandbyExit, StandbyStage};
use crate::pipeline::{state_snapshot, Lifecycle};
use crate::replication::{Replication, WatchParts};
use anyhow::Context;
use crossline_engine::{Command, Engine, Event};
use crossline_journal::{JournalConfig, JournalReader, SnapshotStore};
use crossline_net::feed::{MoldPublisher, PublisherConfig, RetransmitServer, UdpFeedSender};
use crossline_net::reactor::{Backend, Reactor, ReactorConfig, SqPoll};
use crossline_net::session::{Gateway, SessionConfig, SessionManager, UserId, Users};
use crossline_net::soupbin::SessionId as SoupSessionId;
use crossline_net::translate::{SessionContext, SessionOrderState};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const NS_PER_MS: u64 = 1_000_000;
const INBOUND_RING_SLOTS: usize = 65_536;
const OUTBOUND_RING_SLOTS: usize = 262_144;
const ADMIN_RING_SLOTS: usize = 64;

/// Set by the signal handler.
static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_signal: libc::c_int) {
    SIGNALLED.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() {
    for signal in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: `on_signal` only stores to an atomic, which is async-signal-safe; the handler pointer stays
        // valid for the life of the process.
        unsafe {
            libc::signal(signal, on_signal as *const () as libc::sighandler_t);
        }
    }
}

/// Where a running appliance listens.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub order_entry: SocketAddr,
    pub backend: &'static str,
    pub backend_note: Option<String>,
    pub feed_retransmit: Option<SocketAddr>,
    pub feed_destinations: Vec<SocketAddr>,
    /// ITCH over SoupBinTCP, and the snapshot service for late joiners.
    pub feed_tcp: Option<SocketAddr>,
    pub feed_snapshot: Option<SocketAddr>,
    pub admin: Option<SocketAddr>,
}

/// Rebuilds the gateway's view during recovery: session numbering, instruments, and the replayable replies.
struct GatewayRestore<'a> {
    stage: &'a mut GatewayStage,
    sessions: usize,
}

impl RecoveryObserver for GatewayRestore<'_> {
    fn on_start(&mut self, engine: &Engine, ledger: &SessionLedger) {
        for spec in engine.instrument_specs() {
            self.stage.restore_event(
                &Event::InstrumentAdded {
                    instrument: spec.instrument,
                    symbol: spec.symbol,
                },
                0,
            );
        }
        for index in 0..self.sessions {
            let session = Config::session_of_user(index);
            let _ = self
                .stage
                .gateway
                .start_sequence_at(UserId(index as u32), ledger.next_out_seq(session));
        }
    }

    fn on_event(&mut self, command: &Command, event: &Event) {
        self.stage
            .restore_event(event, since_midnight_ns(command.timestamp_ns));
    }
}

fn reactor_config(config: &Config) -> ReactorConfig {
    let backend = match config.gateway.backend {
        BackendChoice::Auto => Backend::Auto,
        BackendChoice::IoUring => Backend::IoUring,
        BackendChoice::Epoll => Backend::Epoll,
    };
    ReactorConfig {
        backend,
        max_connections: config.gateway.max_sessions,
        send_queue_bytes_max: config.gateway.send_queue_bytes,
        sqpoll: config.gateway.sqpoll_core.map(|core| SqPoll {
            cpu: u32::try_from(core).ok(),
            idle_ms: config.gateway.sqpoll_idle_ms,
        }),
        napi_busy_poll_us: config.gateway.napi_busy_poll_us,
        ..ReactorConfig::default()
    }
}

fn session_config(config: &Config) -> SessionConfig {
    let g = &config.gateway;
    SessionConfig {
        session_id: SoupSessionId::new(&config.node.session_id),
        max_sessions: g.max_sessions,
        max_inbound_frame_bytes: g.max_frame_bytes,
        max_outbound_message_bytes: 1024,
        store_bytes_per_session: g.replay_store_bytes,
        store_messages_per_session: g.replay_store_messages,
        login_timeout_ms: g.login_timeout_ms,
        heartbeat_interval_ms: g.heartbeat_interval_ms,
        client_timeout_ms: g.client_timeout_ms,
    }
}

fn feed(config: &Config) -> anyhow::Result<Feed> {
    let f = &config.feed;
    let mut session = [b' '; 10];
    for (slot, byte) in session.iter_mut().zip(f.session.bytes()) {
        *slot = byte;
    }
    let publisher = MoldPublisher::new(
        PublisherConfig {
            session,
            first_sequence_number: 1,
            max_packet_bytes: f.max_packet_bytes,
            heartbeat_interval_ns: f.heartbeat_interval_ms * NS_PER_MS,
            store_messages: f.retransmit_store_messages,
            max_messages_per_request: 256,
        },
        wall_clock_ns(),
    );
    let udp = if f.udp_destinations.is_empty() {
        None
    } else {
        let bind: SocketAddr = if f.udp_destinations.iter().all(|d| d.ip().is_loopback()) {
            SocketAddr::from(([127, 0, 0, 1], 0))
        } else {
            SocketAddr::from(([0, 0, 0, 0], 0))
        };
        let sender = UdpFeedSender::new(bind, &f.udp_destinations, 1)
            .context("opening the feed's UDP sockets")?;
        for (destination, why) in sender.unconnected() {
            eprintln!(
                "crossline: feed.udp_destinations: {destination} has no route yet ({why}); its packets are addressed \
                 one by one, and lost while it has none"
            );
        }
        Some(sender)
    };
    let retransmit = match f.retransmit_listen {
        Some(addr) => Some(
            RetransmitServer::bind(addr, f.max_packet_bytes)
                .with_context(|| format!("binding the feed's retransmission server on {addr}"))?,
        ),
        None => None,
    };
    Ok(Feed {
        publisher,
        udp,
        retransmit,
        retransmit_due_ns: 0,
        // Set by `start` when the TCP feed thread runs.
        tcp: None,
    })
}

/// Makes `thread` a background thread (`cores.background`); a refusal is reported and the thread runs on as it is.
fn background_thread(name: &str, thread: libc::pthread_t, policy: crate::config::BackgroundPolicy) {
    if let Err(error) = crate::pipeline::background::apply(thread, policy) {
        eprintln!("crossline: the {name} thread stays an ordinary thread: setting {policy:?} failed: {error}");
    }
}

/// Starts a named thread pinned as `placement` says.
fn spawn_pinned(
    name: &str,
    cores: &CoreList,
    placement: crate::config::ThreadPlacement,
    body: impl FnOnce() + Send + 'static,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let cores = cores.clone();
    std::thread::Builder::new()
        .name(format!("crossline-{name}"))
        .spawn(move || {
            cores.pin_current(&placement);
            body();
        })
        .with_context(|| format!("starting the {name} thread"))
}

/// A running appliance: its threads and endpoints. `wait` blocks until it has shut down.
pub struct Appliance {
    pub endpoints: Endpoints,
    pub lifecycle: Arc<Lifecycle>,
    pub fatal: Arc<Fatal>,
    pub metrics: Arc<Metrics>,
    pub follower_state: Arc<Mutex<FollowerState<crate::admin::market::MarketView>>>,
    threads: Vec<(&'static str, std::thread::JoinHandle<()>)>,
    admin_stop: Arc<AtomicBool>,
    pub recovery_note: String,
    /// Why the configured thread layout was adjusted, if it was.
    pub placement_note: Option<String>,
    /// Raft and the promotion watcher of a clustered node.
    pub replication: Option<Replication>,
}

/// The gateway's ends of the rings and what it shares with the other threads.
struct GatewayParts {
    to_engine: crate::pipeline::ring::Producer<crate::pipeline::messages::InboundCommand>,
    from_engine: crate::pipeline::ring::Consumer<crate::pipeline::messages::OutboundEvent>,
    metrics: Arc<Metrics>,
    lifecycle: Arc<Lifecycle>,
    /// The TCP feed thread's ring, if it runs.
    feed_tcp: Option<crate::pipeline::ring::Producer<crate::pipeline::feed_stage::FeedMessage>>,
    /// The cluster's committed seq (ack policy `replicated`).
    committed_seq: Arc<AtomicU64>,
    /// A replica replays no further than the seq it knows committed.
    replay_through: Option<u64>,
}

/// What the gateway thread hands back after binding and recovering.
struct StartedGateway {
    recovered: crate::pipeline::recovery::Recovered,
    order_entry: SocketAddr,
    backend: &'static str,
    backend_note: Option<String>,
    feed_retransmit: Option<SocketAddr>,
    recovery_note: String,
}

/// Binds order entry and the feed, builds the gateway stage, and recovers the state into it. Runs on the
/// gateway thread: the reactor stays on the thread that created it.
fn build_gateway(
    config: &Config,
    parts: GatewayParts,
) -> anyhow::Result<(GatewayStage, StartedGateway)> {
    let mut users = Users::new().context("user table")?;
    for user in &config.users {
        users
            .add(&user.name, &user.password_hash)
            .with_context(|| format!("users[{}]", user.name))?;
    }
    let sessions = SessionManager::new(session_config(config), users)
        .map_err(|error| anyhow::anyhow!("gateway session settings: {error}"))?;
    let reactor = crate::rebind::bind_when_free("order entry", || {
        Reactor::bind(config.gateway.listen, reactor_config(config))
    })
    .with_context(|| format!("listening for order entry on {}", config.gateway.listen))?;
    let backend = match reactor.backend() {
        Backend::IoUring => "io_uring",
        _ => "epoll",
    };
    let backend_note = reactor.fallback_reason().map(str::to_string);
    let mut gateway = Gateway::new(reactor, sessions);
    gateway
        .verify_off_thread()
        .context("starting the login verifier thread")?;
    let order_entry = gateway.local_addr().context("order entry address")?;

    let user_slots = config
        .users
        .iter()
        .enumerate()
        .map(|(index, user)| {
            let mut firm = [b' '; 4];
            for (slot, byte) in firm.iter_mut().zip(user.firm.bytes()) {
                *slot = byte;
            }
            UserSlot {
                context: SessionContext {
                    session: Config::session_of_user(index),
                    account: user.account,
                    firm,
                },
                orders: SessionOrderState::new(),
                cancel_on_disconnect: user.cancel_on_disconnect,
                flow: SessionFlow::default(),
                conn: None,
            }
        })
        .collect();
    let mut feed = feed(config)?;
    feed.tcp = parts.feed_tcp;
    let feed_retransmit = feed
        .retransmit
        .as_ref()
        .and_then(|server| server.local_addr().ok());

    let mut stage = GatewayStage {
        serving: false,
        gateway,
        state: GatewayState {
            lifecycle: Arc::clone(&parts.lifecycle),
            users: user_slots,
            instruments: Instruments::default(),
            to_engine: parts.to_engine,
            overflow: VecDeque::with_capacity(INBOUND_RING_SLOTS),
            overflow_max: INBOUND_RING_SLOTS,
            rate: RateRule {
                per_s: config.gateway.rate_limit_per_s,
                burst: config.gateway.rate_limit_burst,
                breaches: config.gateway.penalty_breaches,
                window_ns: config.gateway.penalty_window_s * 1_000 * NS_PER_MS,
                refuse_ns: config.gateway.penalty_refuse_s * 1_000 * NS_PER_MS,
            },
            metrics: parts.metrics,
            to_close: Vec::with_capacity(config.gateway.max_sessions * 2),
            now_ns: 0,
            clock_before_wait: false,
            accepting: true,
        },
        from_engine: parts.from_engine,
        ack: AckGate {
            policy: config.ack.policy,
            // Replaced below, once the journal is open.
            watermarks: Arc::default(),
            committed_seq: parts.committed_seq,
        },
        feed,
        lifecycle: parts.lifecycle,
        idle: Idle::new(config.cores.gateway.idle),
        encode_buffer: encode_buffer(),
        engine: None,
    };

    let session_count = config.users.len();
    let recovered = recover(
        &RecoveryInput {
            journal_dir: &config.journal_dir(),
            snapshot_dir: &config.snapshot_dir(),
            journal: journal_config(config),
            engine: config.engine_config(),
            sessions: session_count,
            replay_min_commands: config.snapshot.replay_min_commands,
            replay_through: parts.replay_through,
        },
        &mut GatewayRestore {
            stage: &mut stage,
            sessions: session_count,
        },
    )?;
    let summary = &recovered.summary;
    let recovery_note = format!(
        "recovered: {}{}, snapshot {}, {} commands replayed in {} ms{}",
        match (summary.journal.first_seq, summary.journal.last_seq) {
            (Some(first), Some(last)) => format!("journal seq {first}..{last}"),
            _ => String::from(
                "empty journal (a fresh start: the configuration's opening commands go first)"
            ),
        },
        summary
            .journal
            .torn_tail
            .as_ref()
            .map_or(String::new(), |_| String::from(" (torn tail truncated)")),
        summary
            .snapshot_seq
            .map_or(String::from("none"), |seq| format!("at seq {seq}")),
        summary.replayed_commands,
        summary.elapsed.as_millis(),
        if summary.skipped_snapshots.is_empty() {
            String::new()
        } else {
            format!("; skipped: {}", summary.skipped_snapshots.join("; "))
        }
    );
    for (index, slot) in stage.state.users.iter_mut().enumerate() {
        slot.orders = SessionOrderState::resume(
            recovered
                .ledger
                .last_user_ref(Config::session_of_user(index)),
        );
    }
    stage.ack.watermarks = recovered.journal.watermarks();
    for (thread, handle) in recovered.journal.threads() {
        if crate::pipeline::background::journal_thread_is_background(thread) {
            background_thread(
                &format!("journal {thread:?}"),
                handle,
                config.cores.background,
            );
        }
    }
    Ok((
        stage,
        StartedGateway {
            recovered,
            order_entry,
            backend,
            backend_note,
            feed_retransmit,
            recovery_note,
        },
    ))
}

/// The journal writer's settings from the configuration (the appliance's and the in-process pipeline bench's).
pub(crate) fn journal_config(config: &Config) -> JournalConfig {
    JournalConfig {
        segment_bytes: config.journal.segment_bytes,
        fsync: fsync_policy(
            config.journal.fsync,
            u32::try_from(config.journal.fsync_interval_ms).unwrap_or(u32::MAX),
        ),
        first_seq: 1,
        requested_round_max_gap_us: config.journal.requested_round_max_gap_us,
    }
}

/// The engine thread's parts other than the state it runs on.
struct EngineParts {
    from_gateway: crate::pipeline::ring::Consumer<crate::pipeline::messages::InboundCommand>,
    from_admin: crate::pipeline::ring::Consumer<crate::pipeline::messages::AdminCommand>,
    metrics: Arc<Metrics>,
    admin_results: Arc<AdminResults>,
    lifecycle: Arc<Lifecycle>,
    fatal: Arc<Fatal>,
    idle: crate::config::IdleChoice,
    state_check_interval_ns: u64,
}

impl EngineParts {
    fn stage(
        self,
        engine: Engine,
        ledger: SessionLedger,
        journal: crossline_journal::JournalWriter,
        to_gateway: crate::pipeline::ring::Producer<crate::pipeline::messages::OutboundEvent>,
        genesis: Vec<crossline_engine::CommandBody>,
    ) -> EngineStage {
        EngineStage {
            engine,
            ledger,
            journal,
            from_gateway: self.from_gateway,
            from_admin: self.from_admin,
            to_gateway,
            metrics: self.metrics,
            admin_results: self.admin_results,
            lifecycle: self.lifecycle,
            fatal: self.fatal,
            idle: Idle::new(self.idle),
            genesis,
            state_check_interval_ns: self.state_check_interval_ns,
            next_state_check_ns: u64::MAX,
        }
    }
}

/// The room a node needs where it keeps its data and its journal before it starts or restarts.
fn storage_headroom(config: &Config) -> crate::disk_space::Headroom {
    crate::disk_space::Headroom::new(
        vec![config.node.data_dir.clone(), config.journal_dir()],
        config.journal.segment_bytes,
    )
}

/// Recovers and starts every thread.
pub fn start(config: &Config) -> anyhow::Result<Appliance> {
    let cores = CoreList::read();
    cores.check(&config.cores, config.gateway.sqpoll_core)?;
    // The journal prepares its next segment as soon as it opens: without room for it the node would stop at its
    // first rollover, so it is refused here, saying how much is missing.
    let headroom = storage_headroom(config);
    if let Some((path, free_bytes)) = headroom.short() {
        anyhow::bail!(
            "the file system of {} has {free_bytes} bytes free; a node needs {} (a journal segment of {} and a \
             margin) to start",
            path.display(),
            headroom.needed_bytes(),
            config.journal.segment_bytes
        );
    }

    let metrics = Arc::new(Metrics::default());
    let lifecycle = Arc::new(Lifecycle::default());
    let committed_seq = Arc::new(AtomicU64::new(0));
    let mut cut_note = None;
    let mut replay_through = None;
    if config.cluster.is_some() {
        // Before recovery opens the journal: drop what this node wrote and the cluster never committed.
        let prepared = crate::replication::prepare_journal(config)?;
        cut_note = prepared.note;
        replay_through = Some(prepared.committed_seq);
        lifecycle.role.set(Role::Standby);
    }
    let (to_engine, from_gateway) = ring(INBOUND_RING_SLOTS);
    let (to_gateway, from_engine) = ring(OUTBOUND_RING_SLOTS);
    let (admin_producer, from_admin) = ring(ADMIN_RING_SLOTS);
    let feed_thread = crate::pipeline::feed_stage::start(config, Arc::clone(&metrics))?;
    let (feed_tcp_ring, feed_stop, feed_handle, feed_tcp, feed_snapshot) = match feed_thread {
        Some(feed) => (
            Some(feed.producer),
            Some(feed.stop),
            Some(feed.handle),
            feed.tcp,
            feed.snapshot,
        ),
        None => (None, None, None, None, None),
    };

    // The gateway thread binds, recovers, reports back, then waits for the word to run.
    let (started_tx, started_rx) = std::sync::mpsc::sync_channel(1);
    // The word to run carries the engine when it runs inside the gateway's loop.
    let (go_tx, go_rx) = std::sync::mpsc::sync_channel::<Option<Box<EngineStage>>>(1);
    let gateway_config = config.clone();
    let parts = GatewayParts {
        to_engine,
        from_engine,
        metrics: Arc::clone(&metrics),
        lifecycle: Arc::clone(&lifecycle),
        feed_tcp: feed_tcp_ring,
        committed_seq: Arc::clone(&committed_seq),
        replay_through,
    };
    let gateway_cores = cores.clone();
    let gateway_thread = std::thread::Builder::new()
        .name(String::from("crossline-gateway"))
        .spawn(move || {
            // The TCP feed thread stops once this thread has ended, however it ends.
            let _feed_stop = feed_stop;
            let (mut stage, started) = match build_gateway(&gateway_config, parts) {
                Ok(built) => built,
                Err(error) => {
                    let _ = started_tx.send(Err(error));
                    return;
                }
            };
            if started_tx.send(Ok(started)).is_err() {
                return;
            }
            let Ok(engine) = go_rx.recv() else {
                return;
            };
            stage.engine = engine;
            gateway_cores.pin_current(&gateway_config.cores.gateway);
            stage.run();
        })
        .context("starting the gateway thread")?;
    let started = match started_rx.recv() {
        Ok(Ok(started)) => started,
        Ok(Err(error)) => {
            let _ = gateway_thread.join();
            return Err(error);
        }
        Err(_) => {
            let _ = gateway_thread.join();
            anyhow::bail!("the gateway thread stopped during start-up");
        }
    };
    let StartedGateway {
        recovered,
        order_entry,
        backend,
        backend_note,
        feed_retransmit,
        mut recovery_note,
    } = started;
    if let Some(note) = cut_note {
        recovery_note = format!("{note}; {recovery_note}");
    }

    let session_count = config.users.len();
    let watermarks = recovered.journal.watermarks();
    let fresh = recovered.journal.next_seq() == 1;
    // A cluster's opening commands are sequenced by its first leader, when it is promoted.
    let genesis = if fresh && config.cluster.is_none() {
        crate::config::genesis_commands(config)
    } else {
        Vec::new()
    };
    // The engine's sequence number once the opening commands are applied (0 when recovering).
    let genesis_seq = genesis.len() as u64;

    // The follower starts from a copy of the recovered state.
    let copy = state_snapshot::encode(&recovered.engine, &recovered.ledger);
    let (follower_engine, follower_ledger) =
        state_snapshot::decode(&copy, config.engine_config(), session_count)
            .map_err(|error| anyhow::anyhow!("copying the recovered state: {error}"))?;
    drop(copy);
    let applied_seq = follower_engine.last_seq();
    // The engine starts where recovery left it: /health and the shutdown line say so before the first new command.
    crate::metrics::set(&metrics.engine.last_seq, applied_seq);
    let mut market = crate::admin::market::MarketView::default();
    for spec in follower_engine.instrument_specs() {
        market.learn_instrument(spec.instrument, spec.symbol);
        if let Some(status) = follower_engine.instrument_status(spec.instrument) {
            market.learn_status(spec.instrument, status);
        }
    }
    let follower_state = Arc::new(Mutex::new(FollowerState {
        engine: follower_engine,
        ledger: follower_ledger,
        observer: market,
        applied_seq,
    }));
    let journal_dir = config.journal_dir();
    let reader =
        JournalReader::open_tailing(&journal_dir, Arc::clone(&watermarks), applied_seq + 1)
            .context("opening the journal follower")?;
    let follower = Follower {
        state: Arc::clone(&follower_state),
        reader,
        watermarks: Arc::clone(&watermarks),
        snapshot_needs_durable: config.journal.fsync != crate::config::FsyncChoice::None,
        snapshots: Some(SnapshotStore::open(&config.snapshot_dir()).context("snapshot store")?),
        snapshot_interval: (config.snapshot.interval_s > 0)
            .then(|| Duration::from_secs(config.snapshot.interval_s)),
        snapshots_kept: config.snapshot.keep,
        metrics: Arc::clone(&metrics),
        lifecycle: Arc::clone(&lifecycle),
        idle: Idle::new(config.cores.admin.idle),
        error: None,
    };

    let fatal = Arc::new(Fatal::default());
    let admin_results = Arc::new(AdminResults::default());
    let submitter = Arc::new(AdminSubmitter::new(
        admin_producer,
        Arc::clone(&admin_results),
    ));
    let engine_parts = EngineParts {
        from_gateway,
        from_admin,
        metrics: Arc::clone(&metrics),
        admin_results,
        lifecycle: Arc::clone(&lifecycle),
        fatal: Arc::clone(&fatal),
        idle: config.cores.engine.idle,
        state_check_interval_ns: config
            .cluster
            .as_ref()
            .map_or(0, |cluster| cluster.state_check_interval_ms * NS_PER_MS),
    };
    let crate::pipeline::recovery::Recovered {
        engine,
        ledger,
        journal,
        ..
    } = recovered;
    let mut replication = None;
    let mut inline_engine = None;
    let placement_note = (config.cluster.is_some() && config.cores.engine_on_gateway_thread()).then(|| {
        String::from(
            "cores.engine thread = \"gateway\" applies to a standalone node; a cluster node's engine follows the \
             replicated journal on a thread of its own (backoff-park, not pinned)",
        )
    });
    let engine_body: Option<Box<dyn FnOnce() + Send>> = match &config.cluster {
        None if config.cores.engine_on_gateway_thread() => {
            inline_engine = Some(Box::new(
                engine_parts.stage(engine, ledger, journal, to_gateway, genesis),
            ));
            None
        }
        None => {
            let stage = engine_parts.stage(engine, ledger, journal, to_gateway, genesis);
            Some(Box::new(move || {
                let _ = stage.run();
            }))
        }
        Some(cluster) => {
            let promotion = Arc::new(Promotion::default());
            let reader = JournalReader::open_tailing(
                &journal_dir,
                Arc::clone(&watermarks),
                engine.last_seq() + 1,
            )
            .context("opening the replicated journal for the standby engine")?;
            let started = Replication::start(
                config,
                cluster,
                journal,
                journal_config(config),
                Arc::clone(&committed_seq),
                WatchParts {
                    lifecycle: Arc::clone(&lifecycle),
                    promotion: Arc::clone(&promotion),
                },
            )?;
            replication = Some(started);
            let standby = StandbyStage {
                engine,
                ledger,
                reader,
                to_gateway,
                metrics: Arc::clone(&metrics),
                lifecycle: Arc::clone(&lifecycle),
                fatal: Arc::clone(&fatal),
                idle: Idle::new(config.cores.engine.idle),
                promotion,
            };
            let genesis_config = config.clone();
            Some(Box::new(move || {
                if let StandbyExit::Promoted {
                    engine,
                    ledger,
                    journal,
                    to_gateway,
                } = standby.run()
                {
                    let genesis = if journal.next_seq() == 1 {
                        crate::config::genesis_commands(&genesis_config)
                    } else {
                        Vec::new()
                    };
                    let _ = engine_parts
                        .stage(engine, ledger, journal, to_gateway, genesis)
                        .run();
                }
            }))
        }
    };

    let mut threads = Vec::new();
    if let Some(engine_body) = engine_body {
        let engine_lifecycle = Arc::clone(&lifecycle);
        threads.push((
            "engine",
            spawn_pinned("engine", &cores, config.cores.engine, move || {
                engine_body();
                engine_lifecycle.engine_done.store(true, Ordering::Release);
            })?,
        ));
        // The opening commands are applied before the gateway opens, so that the first client finds the
        // instruments there (the gateway drains their events before it reads any socket). An engine in the
        // gateway's loop applies them there before the loop starts.
        let waited = std::time::Instant::now();
        while crate::metrics::get(&metrics.engine.last_seq) < genesis_seq {
            if waited.elapsed() > Duration::from_secs(30)
                || lifecycle.engine_stop.load(Ordering::Acquire)
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let _ = go_tx.send(inline_engine);
    threads.push(("gateway", gateway_thread));
    if let Some(handle) = feed_handle {
        threads.push(("feed", handle));
    }
    let follower_fatal = Arc::clone(&fatal);
    threads.push((
        "follower",
        spawn_pinned("follower", &cores, config.cores.admin, move || {
            let follower = follower.run();
            if let Some(error) = follower.error {
                follower_fatal.set(error);
            }
        })?,
    ));

    // The query side, on a node that keeps the query database: it follows the same journal as the follower.
    let query_lag = if config.query.enabled {
        let lag = Arc::new(crate::query::QueryLag::default());
        let url = config
            .query_db_url()
            .map_err(|error| anyhow::anyhow!("query.database_url: {error}"))?;
        let db = crate::query::db::open_db(&url).map_err(|error| {
            anyhow::anyhow!("opening the query database {}: {error}", url.display())
        })?;
        let stage = crate::query::stage::QueryStage::open(
            &journal_dir,
            Some(Arc::clone(&watermarks)),
            db,
            config.query_stage_options(),
            Arc::clone(&lag),
        )
        .map_err(|error| anyhow::anyhow!("starting the query side: {error}"))?;
        let query_lifecycle = Arc::clone(&lifecycle);
        let query_fatal = Arc::clone(&fatal);
        threads.push((
            "query",
            spawn_pinned("query", &cores, config.cores.admin, move || {
                if let Err(error) = stage.run(&query_lifecycle.engine_done) {
                    query_fatal.set(format!("the query side stopped: {error}"));
                }
            })?,
        ));
        Some(lag)
    } else {
        None
    };

    let admin_stop = Arc::new(AtomicBool::new(false));
    let role_lifecycle = Arc::clone(&lifecycle);
    let learner = config
        .cluster
        .as_ref()
        .is_some_and(|cluster| cluster.learner);
    let node_view = crate::admin_backend::NodeView {
        role: Arc::new(move || {
            if learner {
                String::from("learner")
            } else {
                role_lifecycle.role.get().name().to_string()
            }
        }),
        cluster: replication.as_ref().map(|replication: &Replication| {
            let node = Arc::clone(&replication.node);
            let status: crate::admin::appliance::Live<serde_json::Value> =
                Arc::new(move || serde_json::to_value(node.status()).unwrap_or_default());
            status
        }),
        query: query_lag,
    };
    let admin = crate::admin_backend::start(
        config,
        Arc::clone(&metrics),
        Arc::clone(&follower_state),
        submitter,
        watermarks,
        node_view,
        Arc::clone(&admin_stop),
    );
    let admin = match admin {
        Ok(admin) => admin,
        Err(error) => {
            lifecycle.gateway_stop.store(true, Ordering::Release);
            for (_, handle) in threads {
                let _ = handle.join();
            }
            return Err(error);
        }
    };
    let admin_addr = admin.as_ref().map(|(addr, _)| *addr);
    if let Some((_, handle)) = admin {
        threads.push(("admin", handle));
    }

    for (name, handle) in &threads {
        if crate::pipeline::background::BACKGROUND_THREADS.contains(name) {
            use std::os::unix::thread::JoinHandleExt;
            background_thread(name, handle.as_pthread_t(), config.cores.background);
        }
    }

    Ok(Appliance {
        endpoints: Endpoints {
            order_entry,
            backend,
            backend_note,
            feed_retransmit,
            feed_destinations: config.feed.udp_destinations.clone(),
            feed_tcp,
            feed_snapshot,
            admin: admin_addr,
        },
        lifecycle,
        fatal,
        metrics,
        follower_state,
        threads,
        admin_stop,
        recovery_note,
        placement_note,
        replication,
    })
}

impl Appliance {
    /// Starts the orderly shutdown: stop accepting, drain, sync, final snapshot.
    pub fn shutdown(&self) {
        self.lifecycle.gateway_stop.store(true, Ordering::Release);
    }

    /// A thread that has ended while the appliance runs (they end only when shut down).
    pub fn stopped_thread(&self) -> Option<&'static str> {
        self.threads
            .iter()
            .find(|(_, handle)| handle.is_finished())
            .map(|(name, _)| *name)
    }

    /// Waits for every thread; the error says why the appliance stopped on its own, if it did.
    pub fn wait(self) -> anyhow::Result<()> {
        let mut panicked = Vec::new();
        for (name, handle) in self.threads {
            if name == "admin" {
                // The admin server stops once the pipeline has.
                self.admin_stop.store(true, Ordering::Release);
            }
            if handle.join().is_err() {
                panicked.push(name);
            }
        }
        if let Some(replication) = self.replication {
            if let Err(error) = replication.shutdown() {
                eprintln!("crossline: stopping replication: {error}");
            }
        }
        if let Some(reason) = self.fatal.get() {
            anyhow::bail!("{reason}");
        }
        if !panicked.is_empty() {
            anyhow::bail!("thread(s) {} panicked", panicked.join(", "));
        }
        Ok(())
    }
}

/// Replaces this process by a fresh run of the same command line: a clustered node rebuilds its state from its
/// committed journal that way (after stepping down, or after installing a replicated snapshot). The journal holds
/// everything acknowledged, as after a SIGKILL. Every descriptor is close-on-exec, so locks and ports are free
/// for the new run.
fn restart_process() -> ! {
    use std::os::unix::process::CommandExt;
    // This executable, or the path it was started by when the file has been replaced since (an upgrade).
    let mut candidates: Vec<std::path::PathBuf> = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        candidates.push(exe);
    }
    if let Some(argv0) = std::env::args_os().next() {
        candidates.push(argv0.into());
    }
    for exe in candidates {
        let error = std::process::Command::new(&exe)
            .args(std::env::args_os().skip(1))
            .exec();
        eprintln!("crossline: restart as {} failed: {error}", exe.display());
    }
    std::process::exit(75);
}

/// `crossline serve`: runs until SIGTERM or SIGINT, then shuts down in order and exits 0.
pub fn serve(config: &Config) -> anyhow::Result<i32> {
    install_signal_handlers();
    let appliance = start(config)?;
    let e = &appliance.endpoints;
    println!(
        "crossline {}: {}",
        env!("CARGO_PKG_VERSION"),
        appliance.recovery_note
    );
    if let Some(note) = &appliance.placement_note {
        println!("crossline: {note}");
    }
    if let Some(note) = &e.backend_note {
        println!("crossline: io_uring unavailable, using epoll: {note}");
    }
    println!(
        "crossline: listening order_entry={} backend={} feed_retransmit={} feed_udp={} feed_tcp={} \
         feed_snapshot={} admin={}",
        e.order_entry,
        e.backend,
        e.feed_retransmit
            .map_or(String::from("off"), |a| a.to_string()),
        e.feed_destinations
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(","),
        e.feed_tcp.map_or(String::from("off"), |a| a.to_string()),
        e.feed_snapshot.map_or(String::from("off"), |a| a.to_string()),
        e.admin.map_or(String::from("off"), |a| a.to_string()),
    );
    if let Some(replication) = &appliance.replication {
        println!(
            "crossline: cluster node {} raft={} (a standby until elected: logins are refused with S)",
            replication.node.node_id(),
            replication.node.local_addr()
        );
    }
    println!("crossline: ready (SIGTERM or Ctrl-C stops it cleanly)");
    let headroom = storage_headroom(config);
    let mut restart_announced = false;
    let mut waiting_for_room = false;
    loop {
        if let Some(replication) = &appliance.replication {
            if appliance.lifecycle.journal_failed.load(Ordering::Acquire)
                && replication.restart.requested().is_none()
            {
                // The journal is this node's Raft log: a record it cannot take is a storage failure like any
                // other, and the node rebuilds from what the cluster committed once there is room.
                replication.restart.request_stepping_down(
                    format!(
                        "the engine stopped ({}); restarting to follow from the committed journal",
                        appliance
                            .fatal
                            .get()
                            .unwrap_or_else(|| String::from("its journal failed"))
                    ),
                    &appliance.lifecycle.role,
                );
            }
            let reason = replication.restart.requested().or_else(|| {
                (appliance.lifecycle.role.get() == Role::SteppingDown).then(|| {
                    String::from("stepping down; restarting to follow from the committed journal")
                })
            });
            if let Some(reason) = reason {
                if !restart_announced {
                    println!("crossline: {reason}");
                    restart_announced = true;
                }
                match headroom.short() {
                    None => restart_process(),
                    Some((path, free_bytes)) if !waiting_for_room => {
                        println!(
                            "crossline: the file system of {} has {free_bytes} bytes free, {} are needed to \
                             restart (a journal segment and a margin): waiting for room",
                            path.display(),
                            headroom.needed_bytes()
                        );
                        waiting_for_room = true;
                    }
                    Some(_) => {}
                }
                // The pipeline winds down for the restart: its threads ending is expected here.
                if SIGNALLED.load(Ordering::SeqCst) {
                    println!("crossline: signal received while waiting for room; stopping");
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
        }
        if SIGNALLED.load(Ordering::SeqCst) {
            println!("crossline: signal received, draining and syncing");
            break;
        }
        if appliance.lifecycle.gateway_stop.load(Ordering::Acquire) {
            break;
        }
        if let Some(name) = appliance.stopped_thread() {
            // A thread that panicked cannot be waited for in order (the others may wait on it). The journal
            // holds every acknowledged command, as after a SIGKILL: a restart recovers.
            eprintln!(
                "crossline: the {name} thread stopped unexpectedly ({}); exiting so that a restart recovers",
                appliance
                    .fatal
                    .get()
                    .unwrap_or_else(|| String::from("no reason recorded"))
            );
            std::process::exit(3);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    appliance.shutdown();
    let metrics = Arc::clone(&appliance.metrics);
    appliance.wait()?;
    println!(
        "crossline: stopped cleanly at seq {} (journal synced, final snapshot at seq {})",
        crate::metrics::get(&metrics.engine.last_seq),
        crate::metrics::get(&metrics.follower.last_snapshot_seq),
    );
    Ok(0)
}
