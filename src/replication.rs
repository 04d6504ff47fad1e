//! Replication in the running appliance (`[cluster]`): what happens before recovery, the bridge between Raft's
//! snapshots and the appliance's, and the watcher that promotes this node when Raft elects it and steps it down
//! when it is deposed.
//!
//! - **Before recovery** (`prepare_journal`), the journal is cut after the last record Raft's log carries (what a
//!   former leader wrote and never proposed), local snapshots past the seq this node knows committed go, and the
//!   replay stops at that seq: records accepted and not yet known committed stay in the journal, unseen, until
//!   Raft commits them (or truncates them, which cuts them from the journal).
//! - **Standby**: replication owns the journal writer and appends the records it accepts; the engine thread
//!   follows them as they are committed (`StandbyStage`), the gateway keeps the reply stores and refuses logins.
//! - **Promotion**: when Raft has elected this node and it has applied its whole log (`ready_to_serve`), the
//!   watcher takes the journal writer from replication and offers it to the engine thread, which catches up and
//!   starts sequencing; the gateway opens; the replicator tails the journal from there.
//! - **Stepping down**: a leader that sees another leader, or whose replicator stopped, stops releasing
//!   anything and `serve` restarts the process, which rejoins as a standby from its committed journal.
//! - **Raft snapshots** are the appliance's state (engine and session ledger) exactly at the committed seq,
//!   rebuilt from the newest local snapshot and the journal. Installing one stores it as a local snapshot and
//!   asks for a restart, which recovers from it.

use crate::cluster::{ClusterApp, ClusterConfig, ClusterNode, JournalSlot, Replicator};
use crate::config::Config;
use crate::pipeline::role::{Role, RoleCell};
use crate::pipeline::standby_stage::Promotion;
use crate::pipeline::{recovery, state_snapshot, Lifecycle};
use crossline_journal::{JournalConfig, JournalWriter, SnapshotStore};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the watcher looks at Raft's state.
const WATCH_INTERVAL: Duration = Duration::from_millis(1);

/// What `prepare_journal` found and did.
pub struct PreparedJournal {
    /// A line for the start-up report when it cut something.
    pub note: Option<String>,
    /// The last seq this node knows committed: recovery replays up to it and readers see no further until Raft
    /// raises it.
    pub committed_seq: u64,
}

/// Before recovery opens the journal: cuts the tail this node wrote and never proposed (after the last record its
/// Raft log carries), and drops local snapshots past the seq it knows committed (a former leader's snapshot may
/// cover records the cluster never committed).
pub fn prepare_journal(config: &Config) -> anyhow::Result<PreparedJournal> {
    let raft_dir = config.raft_dir();
    let journal_dir = config.journal_dir();
    let bounds = crate::cluster::journal_bounds(&raft_dir).map_err(anyhow::Error::msg)?;
    let mut notes = Vec::new();
    let has_segments = std::fs::read_dir(&journal_dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .any(|entry| entry.file_name().to_string_lossy().ends_with(".seg"))
        })
        .unwrap_or(false);
    if has_segments {
        let report = crossline_journal::recover(&journal_dir)
            .map_err(|error| anyhow::anyhow!("recovering {}: {error}", journal_dir.display()))?;
        if let Some(last_seq) = report.last_seq {
            if !raft_dir.join("raft-meta").exists() && !raft_dir.join("raft-snapshot").exists() {
                anyhow::bail!(
                    "the journal in {} holds records up to seq {last_seq} but this node has no Raft state in {}: \
                     a journal written standalone cannot join a cluster (start the cluster's first leader from \
                     an empty data directory, or remove [cluster] to run it standalone)",
                    journal_dir.display(),
                    raft_dir.display()
                );
            }
            if last_seq > bounds.last_seq {
                let cut = crossline_journal::truncate_after(&journal_dir, bounds.last_seq)
                    .map_err(|error| {
                        anyhow::anyhow!(
                            "cutting the journal after seq {}: {error}",
                            bounds.last_seq
                        )
                    })?;
                notes.push(format!(
                    "cut {} journal records after seq {}: this node wrote them as leader and never proposed them",
                    cut.records_dropped, bounds.last_seq
                ));
            }
        }
    }
    let mut removed_snapshots = 0;
    if let Ok(store) = SnapshotStore::open(&config.snapshot_dir()) {
        for info in store.list().unwrap_or_default() {
            if info.seq > bounds.committed_seq && std::fs::remove_file(&info.path).is_ok() {
                removed_snapshots += 1;
            }
        }
    }
    if removed_snapshots > 0 {
        notes.push(format!(
            "removed {removed_snapshots} local snapshots past the committed seq {}",
            bounds.committed_seq
        ));
    }
    Ok(PreparedJournal {
        note: (!notes.is_empty()).then(|| notes.join("; ")),
        committed_seq: bounds.committed_seq,
    })
}

/// Set when the process must restart to rebuild its state (a replicated snapshot was installed, or a leader
/// stepped down), with the reason.
#[derive(Debug, Default)]
pub struct RestartRequest {
    requested: AtomicBool,
    reason: Mutex<Option<String>>,
}

impl RestartRequest {
    pub fn request(&self, reason: String) {
        if let Ok(mut slot) = self.reason.lock() {
            slot.get_or_insert(reason);
        }
        self.requested.store(true, Ordering::Release);
    }

    /// `request`, and a leader steps down at once (its gateway releases nothing more): the restart is asked for
    /// before the role changes, so that `serve` sees the pipeline wind down as part of it.
    pub fn request_stepping_down(&self, reason: String, role: &RoleCell) {
        self.request(reason);
        if role.get() == Role::Leader {
            role.set(Role::SteppingDown);
        }
    }

    pub fn requested(&self) -> Option<String> {
        if !self.requested.load(Ordering::Acquire) {
            return None;
        }
        self.reason.lock().ok().and_then(|slot| slot.clone())
    }
}

/// The appliance's side of Raft's state machine.
struct ApplianceApp {
    config: Config,
    restart: Arc<RestartRequest>,
}

impl ClusterApp for ApplianceApp {
    fn build_snapshot(&self, applied_seq: u64) -> Result<(u64, Vec<u8>), String> {
        let (engine, ledger) = recovery::state_at(
            &self.config.journal_dir(),
            &self.config.snapshot_dir(),
            self.config.engine_config(),
            self.config.users.len(),
            applied_seq,
        )
        .map_err(|error| format!("building the state at seq {applied_seq}: {error:#}"))?;
        Ok((applied_seq, state_snapshot::encode(&engine, &ledger)))
    }

    fn install_snapshot(&self, seq: u64, payload: &[u8]) -> Result<(), String> {
        state_snapshot::decode(
            payload,
            self.config.engine_config(),
            self.config.users.len(),
        )
        .map_err(|error| format!("replicated snapshot at seq {seq}: {error}"))?;
        let store = SnapshotStore::open(&self.config.snapshot_dir())
            .map_err(|error| format!("snapshot store: {error}"))?;
        store
            .write(seq, payload)
            .map_err(|error| format!("storing the replicated snapshot at seq {seq}: {error}"))?;
        Ok(())
    }

    fn snapshot_installed(&self, seq: u64) {
        self.restart.request(format!(
            "installed the leader's snapshot at seq {seq}; restarting to recover from it"
        ));
    }
}

/// A clustered node's replication: its Raft node and the watcher thread.
pub struct Replication {
    pub node: Arc<ClusterNode>,
    pub restart: Arc<RestartRequest>,
    stop: Arc<AtomicBool>,
    watcher: Option<JoinHandle<()>>,
}

/// What the watcher needs.
pub struct WatchParts {
    pub lifecycle: Arc<Lifecycle>,
    pub promotion: Arc<Promotion>,
}

impl Replication {
    /// Starts Raft with the recovered journal (replication owns its writer until promotion) and the watcher.
    pub fn start(
        config: &Config,
        cluster: &ClusterConfig,
        journal: JournalWriter,
        journal_config: JournalConfig,
        committed_seq: Arc<AtomicU64>,
        parts: WatchParts,
    ) -> anyhow::Result<Replication> {
        let restart = Arc::new(RestartRequest::default());
        let app = Arc::new(ApplianceApp {
            config: config.clone(),
            restart: Arc::clone(&restart),
        });
        let slot = JournalSlot::with_writer(&config.journal_dir(), journal_config, journal)
            .with_committed_seq(committed_seq);
        let node = ClusterNode::start(cluster.clone(), &config.raft_dir(), slot, app)
            .map_err(|error| anyhow::anyhow!("starting replication: {error}"))?;
        let node = Arc::new(node);
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = {
            let node = Arc::clone(&node);
            let stop = Arc::clone(&stop);
            let restart = Arc::clone(&restart);
            let learner = cluster.learner;
            std::thread::Builder::new()
                .name(String::from("crossline-cluster"))
                .spawn(move || watch(&node, &parts, &restart, &stop, learner))?
        };
        Ok(Replication {
            node,
            restart,
            stop,
            watcher: Some(watcher),
        })
    }

    /// Stops the watcher (and the replicator with it), then Raft. The journal's writer, if replication holds it,
    /// is closed.
    pub fn shutdown(mut self) -> Result<(), String> {
        self.stop.store(true, Ordering::Release);
        if let Some(watcher) = self.watcher.take() {
            let _ = watcher.join();
        }
        match Arc::try_unwrap(self.node) {
            Ok(node) => node.shutdown(),
            // Another holder (the admin server) is gone with the process.
            Err(_) => Ok(()),
        }
    }
}

/// Notices a Raft core that has stopped working without stopping: openraft's core reports its metrics after
/// every message it handles, and its tick sends it one every 1.5 heartbeats, so a core that is alive reports many
/// times a second. One that is stuck (a storage call that never returns) would otherwise keep its last word: a
/// leader that no longer commits, sends no heartbeat and never learns that another node has been elected.
struct CoreStall {
    metrics: tokio::sync::watch::Receiver<crate::cluster::RaftMetrics>,
    last_report: Instant,
    /// Watch rounds since the last report: a process that was stopped (SIGSTOP) and continued has a long gap
    /// since its last report and few rounds, and is not stuck.
    quiet_rounds: u64,
    limit: Duration,
    /// Rounds the watcher must also have counted: half of those the limit holds.
    rounds_needed: u64,
}

impl CoreStall {
    fn new(node: &ClusterNode) -> CoreStall {
        CoreStall::with_limit(node.raft().metrics(), core_stall_limit(node.heartbeat_ms()))
    }

    fn with_limit(
        metrics: tokio::sync::watch::Receiver<crate::cluster::RaftMetrics>,
        limit: Duration,
    ) -> CoreStall {
        CoreStall {
            metrics,
            last_report: Instant::now(),
            quiet_rounds: 0,
            limit,
            rounds_needed: (limit.as_micros() / WATCH_INTERVAL.as_micros().max(1) / 2) as u64,
        }
    }

    /// How long the core has been quiet, once that is past the limit.
    fn stalled(&mut self) -> Option<Duration> {
        if self.metrics.has_changed().unwrap_or(false) {
            self.metrics.borrow_and_update();
            self.last_report = Instant::now();
            self.quiet_rounds = 0;
            return None;
        }
        self.quiet_rounds += 1;
        let quiet = self.last_report.elapsed();
        (quiet >= self.limit && self.quiet_rounds >= self.rounds_needed).then_some(quiet)
    }
}

/// A core quiet for this long is stuck: forty ticks, and never under 5 s (a loaded box delays a tick now and then,
/// and a slow disk an fsync, never by seconds).
fn core_stall_limit(heartbeat_ms: u64) -> Duration {
    Duration::from_millis(heartbeat_ms.saturating_mul(60).max(5_000))
}

/// Promotes this node when Raft elects it and steps it down when it is deposed.
fn watch(
    node: &ClusterNode,
    parts: &WatchParts,
    restart: &RestartRequest,
    stop: &AtomicBool,
    learner: bool,
) {
    let mut replicator: Option<Replicator> = None;
    let mut core = CoreStall::new(node);
    while !stop.load(Ordering::Acquire) {
        std::thread::sleep(WATCH_INTERVAL);
        if let Some(quiet) = core.stalled() {
            restart.request_stepping_down(
                format!(
                    "the Raft core has not reported for {} ms (a storage call that does not return): \
                     restarting to follow from the committed journal",
                    quiet.as_millis()
                ),
                &parts.lifecycle.role,
            );
            break;
        }
        if let Some(fatal) = node.fatal() {
            restart.request_stepping_down(
                format!(
                    "replication stopped ({fatal}); restarting to cut the journal back to the cluster's history"
                ),
                &parts.lifecycle.role,
            );
            break;
        }
        match parts.lifecycle.role.get() {
            Role::Standby if !learner && node.ready_to_serve() => {
                let Some(writer) = node.take_journal_writer() else {
                    continue;
                };
                let from_seq = writer.next_seq();
                parts.promotion.offer(writer);
                match node.start_replicator(from_seq) {
                    Ok(started) => replicator = Some(started),
                    Err(error) => {
                        restart.request(format!("promotion failed: {error}"));
                        parts.lifecycle.role.set(Role::SteppingDown);
                        break;
                    }
                }
                parts.lifecycle.role.set(Role::Leader);
            }
            Role::Leader => {
                let finished = replicator.as_ref().is_some_and(Replicator::is_finished);
                if !node.is_leader() || finished {
                    // The restart is asked for before the role changes: once the gateway sees the role, the
                    // pipeline winds down, and `serve` must then know to restart rather than report a failure.
                    restart.request(format!(
                        "stepping down: node {} is no longer the leader (leader now: {}{}); restarting to \
                         follow from the committed journal",
                        node.node_id(),
                        node.current_leader()
                            .map_or(String::from("none"), |id| id.to_string()),
                        if finished { ", its replicator stopped" } else { "" }
                    ));
                    parts.lifecycle.role.set(Role::SteppingDown);
                    break;
                }
            }
            _ => {}
        }
    }
    if let Some(replicator) = replicator {
        let _ = replicator.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::RaftMetrics;

    #[test]
    fn a_core_that_reports_is_never_stalled_and_one_quiet_past_the_limit_is() {
        let (reports, metrics) = tokio::sync::watch::channel(RaftMetrics::new_initial(1));
        let limit = Duration::from_millis(30);
        let mut core = CoreStall::with_limit(metrics, limit);
        // Reporting every round, for longer than the limit: never stalled.
        let started = Instant::now();
        while started.elapsed() < 3 * limit {
            reports.send_modify(|m| m.current_term += 1);
            std::thread::sleep(WATCH_INTERVAL);
            assert_eq!(core.stalled(), None);
        }
        // Quiet: stalled once the limit has passed, not before.
        let quiet_from = Instant::now();
        let stalled = loop {
            std::thread::sleep(WATCH_INTERVAL);
            if let Some(quiet) = core.stalled() {
                break quiet;
            }
            assert!(quiet_from.elapsed() < 100 * limit, "never reported stalled");
        };
        assert!(stalled >= limit, "{stalled:?}");
        assert!(quiet_from.elapsed() >= limit - WATCH_INTERVAL);
        // One report and it is alive again.
        reports.send_modify(|m| m.current_term += 1);
        assert_eq!(core.stalled(), None);
    }

    #[test]
    fn a_process_stopped_and_continued_is_not_taken_for_a_stuck_core() {
        let (_reports, metrics) = tokio::sync::watch::channel(RaftMetrics::new_initial(1));
        let limit = Duration::from_millis(30);
        let mut core = CoreStall::with_limit(metrics, limit);
        // A long gap with no watch rounds in it (the whole process was stopped): a few rounds are not enough.
        std::thread::sleep(3 * limit);
        assert_eq!(core.stalled(), None);
        assert_eq!(core.stalled(), None);
    }

    #[test]
    fn the_stall_limit_follows_the_heartbeat_and_is_never_under_five_seconds() {
        assert_eq!(core_stall_limit(40), Duration::from_secs(5));
        assert_eq!(core_stall_limit(500), Duration::from_secs(30));
    }
}
