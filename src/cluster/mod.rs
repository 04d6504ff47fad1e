//! Asynchronous journal replication through Raft (openraft 0.9, storage v2) to hot standbys and learners.
//!
//! **What travels.** One Raft entry carries one contiguous batch of journal records (`Batch`): its first seq and
//! the records' rkyv archives, the very bytes of the journal frames' payloads, in one `Arc<[u8]>` that every
//! replication stream and log read shares. The leader's replicator (`Replicator`) tails the local journal off the
//! hot path and proposes batches.
//!
//! **The journal is Raft's log; `raft-index` only indexes it** (`log_store.rs`, `journal_slot.rs`). Each index
//! record maps a Raft entry (term, index) to the seq range of the journal it carries, about 40 bytes an entry. A
//! follower appends an entry's records to its journal when it accepts the entry (the journal writer is
//! deterministic, so its journal is a byte-identical prefix of the leader's, checkpoint blocks aside); on the
//! leader they are already there, its engine wrote them first (replication is asynchronous). No record is written
//! twice. What makes this safe:
//! - Raft may truncate entries a follower accepted but the cluster did not commit: the journal is then cut after
//!   the last record the log keeps (`JournalWriter::cut_after`), live, under the writer.
//! - Nothing downstream may act on a record before it is committed: the journal's visibility limit
//!   (`Watermarks::limit_visibility`) keeps the readers (the standby's engine, the read-only views, the query
//!   side) at the committed seq, which the state machine raises as entries are applied; a restart replays only
//!   up to the committed seq it knows (`log_bounds`). A leader's limit is lifted at promotion.
//! - A leader's journal may run ahead of its log (written, not yet proposed). At start-up, before anything reads
//!   it, a node cuts its journal after the last record its log carries: that tail was never proposed, so never
//!   committed, and a deposed leader restarts.
//!
//! **Persistent state.** `raft-meta` (vote, committed log id, purge point; temp file + fsync + rename),
//! `raft-index` (entries), `raft-snapshot` (the last Raft snapshot: the appliance's payload plus the seq it
//! covers). The state machine keeps nothing else: after a restart openraft re-applies the log after the snapshot,
//! which only raises the visibility limit again.
//!
//! **Network** (`network.rs`): TCP, length-prefixed bincode frames, the cluster token first on every connection
//! (constant-time comparison; refused otherwise). **Health** (`health.rs`): active pings and passive RPC failure
//! counting per peer, as Kraken does. **Timing** (`config/cluster.rs`): heartbeat 40 ms, election timeout 120-200 ms; a
//! crashed leader is replaced as soon as the leases allow (`leader_loss.rs`).
//!
//! Bootstrap: on first start the lowest-id voter initializes the cluster with every configured voter; the leader
//! adds configured learners.

// Parts of the API (the log's measurements, writer hand-back on demotion, batch types) serve the tests and
// measurements only.
#![allow(dead_code, unused_imports)]

mod health;
mod journal_slot;
mod leader_loss;
mod log_store;
mod network;
mod replicator;
mod state_machine;
mod types;

#[cfg(test)]
mod tests;

pub use crate::config::cluster::{ClusterConfig, HealthConfig, PeerConfig};
pub use health::{ClusterStatus, PeerHealth, PeerStatus};
pub use journal_slot::JournalSlot;
pub use log_store::{LogBounds, LogStore};
pub use network::{token_matches, CallError, PeerClient};
pub use replicator::{Replicator, ReplicatorConfig, ReplicatorExit};
pub use state_machine::ClusterApp;
pub use types::{Batch, BatchBuilder, BatchError, RaftMetrics, TypeConfig};

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossline_journal::JournalWriter;
use openraft::{BasicNode, ServerState, SnapshotPolicy};

use network::Network;
use state_machine::{SmShared, StateMachine};
use types::Raft;

/// How long a node's shutdown waits for its Raft core to stop.
const RAFT_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// What this node's Raft state says about its journal (read before the journal is opened): the last seq its log
/// carries (a journal holding more has an unproposed tail to cut) and the last seq it knows committed (what a
/// restart may replay).
pub fn journal_bounds(raft_dir: &Path) -> Result<LogBounds, String> {
    let snapshot_seq = state_machine::snapshot_seq_on_disk(raft_dir)
        .map_err(|err| format!("cluster snapshot in {}: {err}", raft_dir.display()))?;
    log_store::log_bounds(raft_dir, snapshot_seq)
        .map_err(|err| format!("cluster log in {}: {err}", raft_dir.display()))
}

/// One node of the cluster: its Raft, its Raft listener, its peers' health checkers, on a runtime of its own.
pub struct ClusterNode {
    config: ClusterConfig,
    runtime: Option<tokio::runtime::Runtime>,
    raft: Raft,
    sm: Arc<SmShared>,
    log: LogStore,
    peers: Vec<Arc<PeerHealth>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    local_addr: SocketAddr,
}

impl std::fmt::Debug for ClusterNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterNode")
            .field("node_id", &self.config.node_id)
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

/// openraft's settings from ours.
fn raft_config(config: &ClusterConfig) -> Result<openraft::Config, String> {
    openraft::Config {
        cluster_name: "crossline".into(),
        heartbeat_interval: config.heartbeat_ms,
        election_timeout_min: config.election_min_ms,
        election_timeout_max: config.election_max_ms,
        install_snapshot_timeout: 1_000,
        // A batch is up to batch_max_records records; this bounds one AppendEntries message (at most 512 x 256
        // records of about 104 bytes: 13 MiB). Each follower has one AppendEntries in flight, so an entry count
        // per message well above the entries a busy leader proposes per follower round trip keeps it from falling
        // behind.
        max_payload_entries: 512,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_entries),
        max_in_snapshot_log_to_keep: config.snapshot_keep_entries,
        ..openraft::Config::default()
    }
    .validate()
    .map_err(|err| format!("cluster: {err}"))
}

impl ClusterNode {
    /// Opens the Raft state in `raft_dir`, binds `config.listen` and starts Raft. `journal` is this node's journal
    /// (its writer is replication's until `take_journal_writer`).
    pub fn start(
        config: ClusterConfig,
        raft_dir: &Path,
        journal: JournalSlot,
        app: Arc<dyn ClusterApp>,
    ) -> Result<ClusterNode, String> {
        config.validate()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(format!("raft-{}", config.node_id))
            .enable_all()
            .build()
            .map_err(|err| format!("cluster runtime: {err}"))?;
        let bounds = journal_bounds(raft_dir)?;
        let mut journal = journal;
        let committed_seq = bounds.committed_seq.min(journal.last_seq());
        // Readers see what is committed; the tail a leader wrote and never proposed goes.
        journal.watermarks.limit_visibility(committed_seq);
        journal.cut_after(bounds.last_seq)?;
        let journal = Arc::new(std::sync::Mutex::new(journal));
        let log = LogStore::open(raft_dir, config.log_fsync, Arc::clone(&journal))
            .map_err(|err| format!("cluster log {}: {err}", raft_dir.display()))?;
        let sm = SmShared::new(raft_dir, journal, committed_seq, app)
            .map_err(|err| format!("cluster state {}: {err}", raft_dir.display()))?;
        let peers: Vec<Arc<PeerHealth>> = config
            .peers
            .iter()
            .map(|peer| PeerHealth::new(peer.id, peer.addr.clone(), config.health.clone()))
            .collect();
        let token: Arc<str> = Arc::from(config.token.as_str());
        let network = Network {
            token: Arc::clone(&token),
            peers: peers.clone(),
            backoff: Duration::from_millis(config.heartbeat_ms.max(20)),
        };
        let raft_config = Arc::new(raft_config(&config)?);
        let (raft, listener) = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind(&config.listen)
                .await
                .map_err(|err| format!("cluster listen {}: {err}", config.listen))?;
            let raft = Raft::new(
                config.node_id,
                raft_config,
                network,
                log.clone(),
                StateMachine::new(Arc::clone(&sm)),
            )
            .await
            .map_err(|err| format!("cluster raft: {err}"))?;
            Ok::<_, String>((raft, listener))
        })?;
        let local_addr = listener
            .local_addr()
            .map_err(|err| format!("cluster listen: {err}"))?;
        let leader_loss = Arc::new(leader_loss::LeaderLoss::new(
            config.node_id,
            Duration::from_millis(config.election_max_ms),
            config
                .peers
                .iter()
                .map(|peer| (peer.id, peer.addr.clone(), !peer.learner))
                .collect(),
            Arc::clone(&token),
            config.learner,
        ));
        let mut tasks = vec![runtime.spawn(network::serve(
            listener,
            raft.clone(),
            Arc::clone(&token),
            Arc::clone(&leader_loss),
        ))];
        for peer in &peers {
            tasks.push(runtime.spawn(check_peer(
                Arc::clone(peer),
                Arc::clone(&token),
                config.health.clone(),
            )));
        }
        tasks.push(runtime.spawn(add_learners(raft.clone(), config.clone())));
        raft.runtime_config().elect(false);
        tasks.push(runtime.spawn(leader_loss::hold_elections_at_start(
            raft.clone(),
            leader_loss,
            Duration::from_millis(config.election_max_ms * 2),
        )));
        let node = ClusterNode {
            config,
            runtime: Some(runtime),
            raft,
            sm,
            log,
            peers,
            tasks,
            local_addr,
        };
        node.bootstrap()?;
        Ok(node)
    }

    /// The lowest-id voter initializes a pristine cluster with every configured voter.
    fn bootstrap(&self) -> Result<(), String> {
        let voters = self.config.voters();
        if voters.first().map(|(id, _)| *id) != Some(self.config.node_id) {
            return Ok(());
        }
        self.block_on(async {
            if self
                .raft
                .is_initialized()
                .await
                .map_err(|err| err.to_string())?
            {
                return Ok(());
            }
            let members: BTreeMap<u64, BasicNode> = voters
                .into_iter()
                .map(|(id, addr)| (id, BasicNode { addr }))
                .collect();
            match self.raft.initialize(members).await {
                Ok(()) => Ok(()),
                Err(openraft::error::RaftError::APIError(
                    openraft::error::InitializeError::NotAllowed(_),
                )) => Ok(()),
                Err(err) => Err(format!("cluster initialize: {err}")),
            }
        })
    }

    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime
            .as_ref()
            .expect("runtime lives until shutdown")
            .block_on(future)
    }

    pub fn node_id(&self) -> u64 {
        self.config.node_id
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// Seq of the last record committed by the cluster and applied here (ack policy `replicated` on the leader).
    pub fn committed_seq(&self) -> Arc<AtomicU64> {
        self.sm.applied_seq()
    }

    /// Seq of the last record in this node's Raft log (committed or not).
    pub fn log_last_seq(&self) -> u64 {
        self.log.last_seq()
    }

    /// Bytes appended to the log's index file since start.
    pub fn log_appended_bytes(&self) -> u64 {
        self.log.appended_bytes()
    }

    /// The leader's heartbeat interval (openraft's tick runs every 1.5 of them).
    pub fn heartbeat_ms(&self) -> u64 {
        self.config.heartbeat_ms
    }

    pub fn is_leader(&self) -> bool {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        metrics.state == ServerState::Leader && metrics.current_leader == Some(self.config.node_id)
    }

    /// Why Raft stopped on this node (a storage error, such as a committed record that differs from the
    /// journal's), if it did; the node must restart to recover.
    pub fn fatal(&self) -> Option<String> {
        match &self.raft.metrics().borrow().running_state {
            Ok(()) => None,
            Err(fatal) => Some(fatal.to_string()),
        }
    }

    pub fn current_leader(&self) -> Option<u64> {
        self.raft.metrics().borrow().current_leader
    }

    /// A leader that has applied every entry of its log (its own term's first entry included): its journal holds
    /// everything the cluster has, so the engine may take the journal writer and the gateway may open.
    pub fn ready_to_serve(&self) -> bool {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        metrics.state == ServerState::Leader
            && metrics.current_leader == Some(self.config.node_id)
            && metrics.last_applied.map(|id| id.index) == metrics.last_log_index
            && metrics
                .last_applied
                .is_some_and(|id| id.leader_id.term == metrics.current_term)
    }

    /// Promotion: the engine takes the journal writer (after `ready_to_serve`).
    pub fn take_journal_writer(&self) -> Option<JournalWriter> {
        self.sm.take_writer()
    }

    /// Demotion: replication takes the journal writer back.
    pub fn return_journal_writer(&self, writer: JournalWriter) {
        self.sm.return_writer(writer);
    }

    /// Starts the leader's replicator from `from_seq` (normally the journal's written seq + 1 at promotion).
    pub fn start_replicator(&self, from_seq: u64) -> Result<Replicator, String> {
        let handle = self
            .runtime
            .as_ref()
            .expect("runtime lives until shutdown")
            .handle()
            .clone();
        Replicator::start(
            self.raft.clone(),
            handle,
            self.sm.journal_dir(),
            self.sm.journal_watermarks(),
            from_seq,
            ReplicatorConfig {
                max_records: self.config.batch_max_records,
                max_delay: Duration::from_micros(self.config.batch_max_us),
                max_in_flight: 64,
            },
        )
        .map_err(|err| format!("replicator thread: {err}"))
    }

    /// This node's view, for GET /health and `crossline cluster status`.
    pub fn status(&self) -> ClusterStatus {
        let metrics = self.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        ClusterStatus {
            node_id: self.config.node_id,
            state: format!("{:?}", metrics.state),
            leader: metrics.current_leader,
            term: metrics.current_term,
            last_log_index: metrics.last_log_index,
            last_applied_index: metrics.last_applied.map(|id| id.index),
            committed_seq: self.sm.applied_seq().load(Ordering::Acquire),
            journal_written_seq: self.sm.journal_written_seq(),
            voters: membership.voter_ids().collect(),
            learners: membership.learner_ids().collect(),
            peers: self.peers.iter().map(|peer| peer.status()).collect(),
        }
    }

    /// Stops Raft, the listener (every accepted connection with it) and the health checkers, then closes the
    /// journal if replication holds its writer.
    pub fn shutdown(mut self) -> Result<(), String> {
        let runtime = self.runtime.take().expect("runtime lives until shutdown");
        let raft = self.raft.clone();
        // A Raft core that is stuck in a storage call never sees the request: the process stops without it.
        let stopped = runtime.block_on(async move {
            match tokio::time::timeout(RAFT_STOP_TIMEOUT, raft.shutdown()).await {
                Ok(stopped) => stopped.map_err(|err| err.to_string()),
                Err(_) => Err(format!(
                    "Raft did not stop within {} s",
                    RAFT_STOP_TIMEOUT.as_secs()
                )),
            }
        });
        for task in self.tasks.drain(..) {
            task.abort();
        }
        runtime.shutdown_timeout(Duration::from_secs(1));
        self.sm.close_writer()?;
        stopped.map_err(|err| format!("cluster shutdown: {err}"))
    }
}

/// Active health checks of one peer, forever (aborted at shutdown).
async fn check_peer(peer: Arc<PeerHealth>, token: Arc<str>, config: HealthConfig) {
    let mut client = PeerClient::new(peer.id, peer.addr.clone(), token, None);
    let timeout = Duration::from_millis(config.timeout_ms.max(1));
    let mut interval = tokio::time::interval(Duration::from_millis(config.interval_ms.max(1)));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let outcome = client.ping(timeout).await.map_err(|err| err.to_string());
        peer.record_check(outcome);
    }
}

/// While this node leads, makes every configured learner a member.
async fn add_learners(raft: Raft, config: ClusterConfig) {
    let learners: Vec<(u64, String)> = config
        .members()
        .into_iter()
        .filter(|(_, _, learner)| *learner)
        .map(|(id, addr, _)| (id, addr))
        .collect();
    if learners.is_empty() {
        return;
    }
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (leading, known) = {
            let metrics = raft.metrics();
            let metrics = metrics.borrow();
            let known: Vec<u64> = metrics
                .membership_config
                .membership()
                .nodes()
                .map(|(id, _)| *id)
                .collect();
            (
                metrics.state == ServerState::Leader
                    && metrics.current_leader == Some(config.node_id),
                known,
            )
        };
        if !leading {
            continue;
        }
        for (id, addr) in &learners {
            if !known.contains(id) {
                let _ = raft
                    .add_learner(*id, BasicNode { addr: addr.clone() }, false)
                    .await;
            }
        }
    }
}
