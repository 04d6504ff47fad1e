//! `crossline-bench failover`: how long order entry is out when the leader dies, and whether an acknowledged order
//! survives it.
//!
//! A three-node cluster on 127.0.0.1 (`modes::cluster_spawn`, ack `replicated`, the Raft timing of the options) and
//! one client (`crossline_net::client::Client`, user `carol`, whose session keeps its orders on disconnect) sending
//! at a modest rate: a Day buy of one lot below the market, and a cancel of its oldest resting order once five rest,
//! so the book stays small. Each kill:
//!
//! 1. load for `--settle-ms`; the current leader is read from GET /health;
//! 2. SIGKILL of the leader; the clock starts just before the signal;
//! 3. the client sees its connection end, logs in again through the address list (every node, retried every few
//!    milliseconds while the standbys answer Login Rejected S) resuming from its next sequence number, and keeps
//!    sending; the clock stops at the first Order Accepted for an order SENT on the new connection (replayed
//!    acknowledgements of orders sent to the dead leader do not stop it);
//! 4. check: the client logs out and logs in again from sequence 1, replays its whole stream from the new leader and
//!    counts Order Accepted by UserRefNum: `lost_acknowledged` = orders the client saw accepted that are not in the
//!    stream, `duplicated` = orders accepted more than once in it; that session then carries on as the live client;
//! 5. the killed node is started again (on its data directory as it was left) while the load continues, and counts
//!    as rejoined when GET /health says `standby` with an engine_seq at least the leader's, read just before.
//!
//! At the end the load stops and every node must reach the same engine_seq and state_hash (`converged`).

use crate::env::Environment;
use crate::histogram::{latency_histogram, LatencyNs};
use crate::modes::cluster_spawn::{Cluster, ClusterSpec, RaftTiming};
use crate::report::group_digits;
use anyhow::{bail, Context};
use crossline_net::client::{Client, ClientTimeouts, Credentials};
use crossline_net::ouch::{
    CancelOrder, Capacity, CrossType, Display, EnterOrder, IsoEligibility, Outbound, Side,
    TimeInForce,
};
use crossline_net::soupbin::SessionId;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Goal of issue 7: SIGKILL of the leader to the first order acknowledged by the new one, p99.
pub const LATENCY_P99_GOAL_NS: u64 = 300_000_000;
const NODES: usize = 3;
const USER: &str = "carol";
const SYMBOL: &str = "ACME";
const PRICE: u64 = 950_000;
/// Resting orders at most before the oldest is cancelled.
const RESTING_MAX: usize = 5;
/// A failed login through the address list is retried after this long.
const RETRY_EVERY: Duration = Duration::from_millis(2);
/// The longest a single poll for replies waits.
const POLL_MAX: Duration = Duration::from_millis(5);
/// A replayed stream is complete when nothing arrives for this long after its expected end.
const REPLAY_QUIET: Duration = Duration::from_millis(300);
const HEALTH_EVERY: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, PartialEq)]
pub struct FailoverOptions {
    pub binary: PathBuf,
    pub kills: usize,
    /// Orders per second the client sends.
    pub rate_per_sec: u64,
    pub timing: RaftTiming,
    /// `[cluster] log_fsync` (None: the appliance's default).
    pub log_fsync: Option<bool>,
    /// Load before each kill.
    pub settle: Duration,
    pub idle: String,
    /// Bound of each wait: a leader, the first acknowledgement after a kill, a replay, a rejoin.
    pub step_timeout: Duration,
    pub seed: u64,
}

/// One kill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KillRecord {
    pub kill: usize,
    pub killed_node: usize,
    pub new_leader_node: usize,
    /// SIGKILL to the first Order Accepted of an order sent to the new leader.
    pub latency_ns: u64,
    /// SIGKILL to the client's login on the new leader.
    pub relogin_ns: u64,
    /// Logins refused (Login Rejected S, connection refused) before the new leader took it.
    pub failed_logins: u64,
    pub orders_in_history: usize,
    pub lost_acknowledged: usize,
    pub duplicated: usize,
    /// Restart of the killed node to it reporting standby at the leader's seq.
    pub rejoin_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FailoverReport {
    pub mode: String,
    pub kills: usize,
    pub nodes: usize,
    pub ack: String,
    pub raft_timing: RaftTiming,
    /// `[cluster] log_fsync` (None: the appliance's default, on).
    pub raft_log_fsync: Option<bool>,
    pub rate_per_sec: u64,
    pub settle_ms: u64,
    /// Over the kills: SIGKILL of the leader to the first order acknowledged by the new leader.
    pub latency_ns: Option<LatencyNs>,
    pub latency_p99_goal_ns: u64,
    /// Over the kills: SIGKILL to the client's login on the new leader.
    pub relogin_ns: Option<LatencyNs>,
    pub lost_acknowledged: usize,
    pub duplicated: usize,
    pub orders_sent: u64,
    pub orders_acknowledged: usize,
    pub logins: u64,
    /// Replays from sequence 1 started again because the first was cut short (a leader stepping down meanwhile).
    pub replay_retries: u64,
    pub converged: bool,
    pub per_kill: Vec<KillRecord>,
    pub checks: BTreeMap<String, String>,
    pub notes: Vec<String>,
    pub env: Environment,
}

impl FailoverReport {
    pub fn checks_passed(&self) -> bool {
        self.checks.values().all(|v| v == "ok")
    }

    pub fn render_table(&self) -> String {
        let mut out = String::new();
        let l = |v: &Option<LatencyNs>| {
            v.map_or("n/a".to_string(), |l| {
                format!(
                    "p50 {} · p90 {} · p99 {} · max {} ms",
                    ms(l.p50),
                    ms(l.p90),
                    ms(l.p99),
                    ms(l.max)
                )
            })
        };
        out.push_str(&format!(
            "crossline-bench failover · {} nodes · ack {} · heartbeat {} ms · election {}..{} ms\n",
            self.nodes,
            self.ack,
            self.raft_timing.heartbeat_ms,
            self.raft_timing.election_min_ms,
            self.raft_timing.election_max_ms
        ));
        out.push_str(&format!(
            "  kills              {} (client at {} orders/s, {} ms of load before each)\n",
            self.kills, self.rate_per_sec, self.settle_ms
        ));
        out.push_str(&format!("  kill to new ack    {}\n", l(&self.latency_ns)));
        out.push_str(&format!("  kill to re-login   {}\n", l(&self.relogin_ns)));
        out.push_str(&format!(
            "  orders             {} sent · {} acknowledged · {} logins\n",
            group_digits(self.orders_sent),
            group_digits(self.orders_acknowledged as u64),
            self.logins
        ));
        out.push_str(&format!(
            "  lost / duplicated  {} / {} (replays started again: {})\n",
            self.lost_acknowledged, self.duplicated, self.replay_retries
        ));
        out.push_str(&format!("  converged          {}\n", self.converged));
        for (name, value) in &self.checks {
            out.push_str(&format!("  check {name:<12} {value}\n"));
        }
        for note in &self.notes {
            out.push_str(&format!("  note: {note}\n"));
        }
        out.push_str(&format!("  env: {}\n", self.env.summary()));
        out
    }
}

fn ms(ns: u64) -> String {
    format!("{:.1}", ns as f64 / 1e6)
}

fn progress(line: &str) {
    eprintln!("failover: {line}");
}

fn order(user_ref_num: u32) -> EnterOrder {
    EnterOrder {
        user_ref_num,
        side: Side::Buy,
        quantity: 1,
        symbol: crossline_engine::symbol(SYMBOL),
        price: PRICE,
        time_in_force: TimeInForce::Day,
        display: Display::Visible,
        capacity: Capacity::Agency,
        intermarket_sweep: IsoEligibility::NotEligible,
        cross_type: CrossType::ContinuousMarket,
        cl_ord_id: [b' '; 14],
        options: Default::default(),
    }
}

fn credentials() -> anyhow::Result<Credentials> {
    Credentials::new(USER, &format!("{USER}-pw"))
        .map_err(|error| anyhow::anyhow!("credentials: {error:?}"))
}

fn timeouts() -> ClientTimeouts {
    ClientTimeouts {
        connect_ms: 200,
        login_ms: 2_000,
        write_ms: 1_000,
        heartbeat_interval_ms: 500,
        server_silence_ms: 5_000,
    }
}

/// The client: one session through the address list, sending on a schedule, logging in again when its
/// connection ends.
struct Driver {
    addresses: Vec<SocketAddr>,
    client: Option<Client>,
    interval: Duration,
    next_due: Instant,
    next_ref: u32,
    /// Successful logins so far; an order's epoch is the login it was sent on.
    epoch: u64,
    sent_epoch: Vec<u64>,
    resting: VecDeque<u32>,
    acked: BTreeSet<u32>,
    /// Next sequence number to ask for when logging in again.
    resume_seq: u64,
    last_attempt: Option<Instant>,
    failed_logins: u64,
    /// The first acknowledgement of an order sent on login `watch_epoch` or later, and when it arrived.
    watch_epoch: u64,
    first_ack: Option<Instant>,
    login_at: Option<Instant>,
    sent: u64,
    /// Replays from sequence 1 started again because the first was cut short.
    replay_retries: u64,
}

impl Driver {
    fn new(addresses: Vec<SocketAddr>, rate_per_sec: u64) -> Driver {
        Driver {
            addresses,
            client: None,
            interval: Duration::from_nanos(1_000_000_000 / rate_per_sec.max(1)),
            next_due: Instant::now(),
            next_ref: 1,
            epoch: 0,
            sent_epoch: vec![0],
            resting: VecDeque::new(),
            acked: BTreeSet::new(),
            resume_seq: 1,
            last_attempt: None,
            failed_logins: 0,
            watch_epoch: u64::MAX,
            first_ack: None,
            login_at: None,
            sent: 0,
            replay_retries: 0,
        }
    }

    fn address(&self) -> Option<SocketAddr> {
        self.client.as_ref().map(Client::address)
    }

    /// From now on, watch for the first acknowledgement of an order sent on a later login than the current one.
    fn watch_next_login(&mut self) {
        self.watch_epoch = self.epoch + 1;
        self.first_ack = None;
        self.login_at = None;
        self.failed_logins = 0;
    }

    fn drop_client(&mut self) {
        if let Some(client) = self.client.take() {
            self.resume_seq = client.resume_seq();
        }
    }

    fn try_login(&mut self, now: Instant) -> anyhow::Result<()> {
        if self
            .last_attempt
            .is_some_and(|at| now.saturating_duration_since(at) < RETRY_EVERY)
        {
            std::thread::sleep(RETRY_EVERY);
            return Ok(());
        }
        self.last_attempt = Some(now);
        match Client::connect(
            &self.addresses,
            credentials()?,
            SessionId::BLANK,
            self.resume_seq,
            timeouts(),
        ) {
            Ok(client) => {
                self.client = Some(client);
                self.epoch += 1;
                if self.epoch == self.watch_epoch {
                    self.login_at = Some(Instant::now());
                }
                self.next_due = self.next_due.max(Instant::now());
            }
            Err(_) => self.failed_logins += 1,
        }
        Ok(())
    }

    fn on_message(&mut self, message: Outbound) {
        if let Outbound::OrderAccepted(accepted) = message {
            let user_ref = accepted.user_ref_num;
            self.acked.insert(user_ref);
            self.resting.push_back(user_ref);
            let epoch = self.sent_epoch.get(user_ref as usize).copied().unwrap_or(0);
            if epoch >= self.watch_epoch && self.first_ack.is_none() {
                self.first_ack = Some(Instant::now());
            }
        }
    }

    /// Sends what is due and reads replies until `until` (or until `stop` says so).
    fn pump(&mut self, until: Instant, stop: impl Fn(&Driver) -> bool) -> anyhow::Result<()> {
        loop {
            let now = Instant::now();
            if now >= until || stop(self) {
                return Ok(());
            }
            if self.client.is_none() {
                self.try_login(now)?;
                continue;
            }
            let mut failed = false;
            if now >= self.next_due {
                let user_ref = self.next_ref;
                let cancel = (self.resting.len() >= RESTING_MAX)
                    .then(|| self.resting.pop_front())
                    .flatten();
                let client = self.client.as_mut().context("client")?;
                let mut result = client.enter_order(&order(user_ref));
                if result.is_ok() {
                    if let Some(oldest) = cancel {
                        result = client.cancel(&CancelOrder {
                            user_ref_num: oldest,
                            quantity: 0,
                            options: Default::default(),
                        });
                    }
                }
                self.next_ref += 1;
                self.sent_epoch.push(self.epoch);
                self.sent += 1;
                self.next_due += self.interval;
                if self.next_due + Duration::from_secs(1) < now {
                    self.next_due = now;
                }
                failed = result.is_err();
            }
            if !failed {
                let wait = self
                    .next_due
                    .saturating_duration_since(now)
                    .min(until.saturating_duration_since(now))
                    .min(POLL_MAX);
                let client = self.client.as_mut().context("client")?;
                let _ = client.send_heartbeat_if_due(now);
                match client.poll_message(wait) {
                    Ok(Some(received)) => {
                        let message = received.message;
                        self.on_message(message);
                    }
                    Ok(None) => {}
                    Err(_) => failed = true,
                }
            }
            if failed {
                self.drop_client();
            }
        }
    }

    /// Logs out, logs in from sequence 1 and replays the whole stream: (orders in it, lost acknowledged, duplicated).
    /// The replaying session then stays on as the live client.
    fn verify(&mut self, timeout: Duration) -> anyhow::Result<(usize, usize, usize)> {
        if let Some(mut client) = self.client.take() {
            self.resume_seq = client.resume_seq();
            let _ = client.logout();
        }
        let expected_last = self.resume_seq.saturating_sub(1);
        let deadline = Instant::now() + timeout;
        // A replay cut short (the leader stepped down meanwhile) starts again from sequence 1 on whichever node
        // leads, until the deadline.
        let (client, accepted) = loop {
            match replay(&self.addresses, expected_last, deadline) {
                Ok(done) => break done,
                Err(error) => {
                    self.replay_retries += 1;
                    if Instant::now() >= deadline {
                        return Err(error.context(format!("no complete replay within {timeout:?}")));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        };
        let lost = self
            .acked
            .iter()
            .filter(|r| !accepted.contains_key(r))
            .count();
        let duplicated = accepted.values().filter(|count| **count > 1).count();
        // Orders that rest now, as the replayed stream says (cancels and fills are not tracked: a cancel of an order
        // already gone is answered with a reject and costs nothing).
        self.resting = accepted
            .keys()
            .rev()
            .take(RESTING_MAX)
            .rev()
            .copied()
            .collect();
        self.client = Some(client);
        self.epoch += 1;
        self.next_due = self.next_due.max(Instant::now());
        Ok((accepted.len(), lost, duplicated))
    }

    fn logout(&mut self) {
        if let Some(mut client) = self.client.take() {
            let _ = client.logout();
        }
    }
}

/// Logs in from sequence 1 and reads the stream up to `expected_last` (and until it is quiet): the client and
/// each UserRefNum's count of Order Accepted.
fn replay(
    addresses: &[SocketAddr],
    expected_last: u64,
    deadline: Instant,
) -> anyhow::Result<(Client, BTreeMap<u32, usize>)> {
    let mut client = loop {
        match Client::connect(addresses, credentials()?, SessionId::BLANK, 1, timeouts()) {
            Ok(client) => break client,
            Err(error) => {
                if Instant::now() >= deadline {
                    bail!("no node took the replay login: {error}");
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    };
    let mut accepted: BTreeMap<u32, usize> = BTreeMap::new();
    let mut last_seq = 0;
    loop {
        match client.poll_message(REPLAY_QUIET) {
            Ok(Some(received)) => {
                last_seq = received.sequence_number;
                if let Outbound::OrderAccepted(a) = received.message {
                    *accepted.entry(a.user_ref_num).or_insert(0) += 1;
                }
            }
            Ok(None) if last_seq >= expected_last => return Ok((client, accepted)),
            Ok(None) => {}
            Err(error) => bail!("the replay from sequence 1 failed at {last_seq}: {error}"),
        }
        if Instant::now() >= deadline {
            bail!("the replay from sequence 1 reached {last_seq} of {expected_last}");
        }
    }
}

fn validate(options: &FailoverOptions) -> anyhow::Result<()> {
    if options.kills == 0 || options.kills > 1000 {
        bail!("--kills must be in 1..=1000");
    }
    if options.rate_per_sec == 0 || options.rate_per_sec > 100_000 {
        bail!("--rate must be in 1..=100000 (a light load)");
    }
    let t = options.timing;
    if t.heartbeat_ms == 0
        || t.election_min_ms < 2 * t.heartbeat_ms
        || t.election_max_ms <= t.election_min_ms
    {
        bail!(
            "the Raft timing needs heartbeat > 0, election-min >= 2 x heartbeat and election-max > election-min"
        );
    }
    Ok(())
}

pub fn run(options: &FailoverOptions) -> anyhow::Result<FailoverReport> {
    validate(options)?;
    let env = Environment::capture(options.seed);
    let timeout = options.step_timeout;
    progress(&format!(
        "{NODES} nodes, ack replicated, heartbeat {} ms, election {}..{} ms; waiting for a leader",
        options.timing.heartbeat_ms, options.timing.election_min_ms, options.timing.election_max_ms
    ));
    let mut cluster = Cluster::start(ClusterSpec {
        binary: options.binary.clone(),
        nodes: NODES,
        ack: "replicated".to_string(),
        idle: options.idle.clone(),
        timing: options.timing,
        log_fsync: options.log_fsync,
    })?;
    cluster.wait_for_leader(None, timeout)?;
    let mut driver = Driver::new(cluster.order_entry(), options.rate_per_sec);
    let mut records = Vec::new();
    let outcome = kill_loop(&mut cluster, &mut driver, options, &mut records);
    driver.logout();
    let mut notes = Vec::new();
    let aborted = outcome.err().map(|error| {
        let text = format!(
            "{error:#} (nodes: {:?}; output: {})",
            cluster.views(),
            cluster.output_tail()
        );
        progress(&format!("stopped early: {text}"));
        text
    });
    let (converged, views) = cluster.wait_until_converged(timeout);
    let clean = cluster.stop_all();

    let mut latency: Histogram<u64> = latency_histogram();
    let mut relogin: Histogram<u64> = latency_histogram();
    for record in &records {
        latency.saturating_record(record.latency_ns.max(1));
        relogin.saturating_record(record.relogin_ns.max(1));
    }
    let lost: usize = records.iter().map(|r| r.lost_acknowledged).sum();
    let duplicated: usize = records.iter().map(|r| r.duplicated).sum();
    let latency_ns = LatencyNs::from_histogram(&latency);
    let mut checks = BTreeMap::new();
    checks.insert(
        "lost".to_string(),
        if lost == 0 {
            "ok".to_string()
        } else {
            format!("{lost} acknowledged orders missing from the new leader's stream")
        },
    );
    checks.insert(
        "duplicated".to_string(),
        if duplicated == 0 {
            "ok".to_string()
        } else {
            format!("{duplicated} orders accepted more than once")
        },
    );
    checks.insert(
        "kills".to_string(),
        match &aborted {
            None => "ok".to_string(),
            Some(error) => format!(
                "stopped after {} of {} kills: {error}",
                records.len(),
                options.kills
            ),
        },
    );
    checks.insert(
        "converged".to_string(),
        if converged {
            "ok".to_string()
        } else {
            format!("the nodes did not agree at the end: {views:?}")
        },
    );
    if let Some(l) = latency_ns {
        notes.push(format!(
            "p99 {} ms (goal < {} ms): {}; over {} kills (fewer than 100: p99 is the largest or next to it)",
            ms(l.p99),
            ms(LATENCY_P99_GOAL_NS),
            if l.p99 < LATENCY_P99_GOAL_NS {
                "met"
            } else {
                "missed"
            },
            records.len()
        ));
    }
    notes.push(format!(
        "latency: SIGKILL of the leader to the first Order Accepted of an order sent on the client's new login \
         (the client logs in through the address list, retried every {} ms); threads not pinned, idle {}",
        RETRY_EVERY.as_millis(),
        options.idle
    ));
    if !clean {
        notes.push("a node did not stop within the timeout of SIGTERM and was killed".to_string());
    }
    Ok(FailoverReport {
        mode: "failover".to_string(),
        kills: records.len(),
        nodes: NODES,
        ack: "replicated".to_string(),
        raft_timing: options.timing,
        raft_log_fsync: options.log_fsync,
        rate_per_sec: options.rate_per_sec,
        settle_ms: u64::try_from(options.settle.as_millis()).unwrap_or(u64::MAX),
        latency_ns,
        latency_p99_goal_ns: LATENCY_P99_GOAL_NS,
        relogin_ns: LatencyNs::from_histogram(&relogin),
        lost_acknowledged: lost,
        duplicated,
        orders_sent: driver.sent,
        orders_acknowledged: driver.acked.len(),
        logins: driver.epoch,
        replay_retries: driver.replay_retries,
        converged,
        per_kill: records,
        checks,
        notes,
        env,
    })
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

fn kill_loop(
    cluster: &mut Cluster,
    driver: &mut Driver,
    options: &FailoverOptions,
    records: &mut Vec<KillRecord>,
) -> anyhow::Result<()> {
    let timeout = options.step_timeout;
    for kill in 1..=options.kills {
        // Load, then make sure the client is on the leader and its orders are acknowledged.
        driver.pump(Instant::now() + options.settle, |_| false)?;
        let leader = cluster.wait_for_leader(None, timeout)?;
        let leader_addr = cluster.addrs[leader].order_entry;
        let deadline = Instant::now() + timeout;
        driver.pump(deadline, |d| d.address() == Some(leader_addr))?;
        if driver.address() != Some(leader_addr) {
            bail!(
                "kill {kill}: the client is not on the leader (node {})",
                leader + 1
            );
        }

        driver.watch_next_login();
        let killed_at = Instant::now();
        cluster.kill(leader)?;
        let deadline = killed_at + timeout;
        driver.pump(deadline, |d| d.first_ack.is_some())?;
        let Some(acked_at) = driver.first_ack else {
            bail!("kill {kill}: no order acknowledged by a new leader within {timeout:?}");
        };
        let latency = acked_at.saturating_duration_since(killed_at);
        let relogin = driver
            .login_at
            .map_or(latency, |at| at.saturating_duration_since(killed_at));
        let failed_logins = driver.failed_logins;
        let new_leader = driver
            .address()
            .and_then(|addr| cluster.index_of(addr))
            .context("the client's node")?;

        let (orders_in_history, lost, duplicated) = driver
            .verify(timeout)
            .with_context(|| format!("kill {kill}: replaying the stream"))?;

        // The killed node comes back while the load goes on.
        let restarted_at = Instant::now();
        cluster.respawn(leader)?;
        let deadline = restarted_at + timeout;
        let mut next_check = Instant::now();
        let mut rejoined = false;
        while Instant::now() < deadline {
            driver.pump(next_check.min(deadline), |_| false)?;
            next_check = Instant::now() + HEALTH_EVERY;
            if !cluster.poll_ready(leader)? {
                continue;
            }
            // Whichever node leads now (a stressed box can elect again meanwhile).
            let Some(leader_seq) = (0..cluster.len())
                .filter(|index| *index != leader && cluster.is_running(*index))
                .filter_map(|index| cluster.health(index))
                .find(|h| h.role == "leader")
                .map(|h| h.engine_seq)
            else {
                continue;
            };
            if let Some(view) = cluster.health(leader) {
                if view.role == "standby" && view.engine_seq >= leader_seq {
                    rejoined = true;
                    break;
                }
            }
        }
        if !rejoined {
            bail!(
                "kill {kill}: node {} did not rejoin as a standby at the leader's seq within {timeout:?} (node {} was the last to lead)",
                leader + 1,
                new_leader + 1
            );
        }
        let rejoin = restarted_at.elapsed();
        let record = KillRecord {
            kill,
            killed_node: leader + 1,
            new_leader_node: new_leader + 1,
            latency_ns: nanos(latency),
            relogin_ns: nanos(relogin),
            failed_logins,
            orders_in_history,
            lost_acknowledged: lost,
            duplicated,
            rejoin_ms: u64::try_from(rejoin.as_millis()).unwrap_or(u64::MAX),
        };
        progress(&format!(
            "kill {kill}/{}: node {} -> node {} · ack after {} ms (login {} ms, {} refused) · history {} orders, \
             lost {lost}, duplicated {duplicated} · rejoined in {} ms",
            options.kills,
            record.killed_node,
            record.new_leader_node,
            ms(record.latency_ns),
            ms(record.relogin_ns),
            failed_logins,
            orders_in_history,
            record.rejoin_ms
        ));
        records.push(record);
    }
    Ok(())
}
