//! Peer health, as Uber's Kraken judges its peers: active checks (a ping every interval, a timeout, so many
//! passes in a row to turn healthy and so many fails in a row to turn unhealthy) and passive failure counting
//! (failed Raft RPCs within a window). Read as `PeerStatus` for GET /health and `crossline cluster status`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::cluster::HealthConfig;

#[derive(Debug)]
struct State {
    /// The active verdict; a peer starts healthy, as in Kraken, so a cluster starting up is not all red.
    active_healthy: bool,
    consecutive_passes: u32,
    consecutive_fails: u32,
    last_rtt: Option<Duration>,
    last_check: Option<Instant>,
    checks: u64,
    /// Times of recent failed RPCs, oldest first, none older than the window.
    failures: VecDeque<Instant>,
    total_rpc_failures: u64,
    last_error: Option<String>,
}

/// One peer's health, shared by its checker task, its Raft clients and the status readers.
#[derive(Debug)]
pub struct PeerHealth {
    pub id: u64,
    pub addr: String,
    config: HealthConfig,
    state: Mutex<State>,
}

/// What `status` reports for a peer.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PeerStatus {
    pub id: u64,
    pub addr: String,
    /// Active checks pass and passive counting has not tripped.
    pub healthy: bool,
    pub active_healthy: bool,
    pub consecutive_passes: u32,
    pub consecutive_fails: u32,
    pub checks: u64,
    pub last_rtt_us: Option<u64>,
    pub last_check_ms_ago: Option<u64>,
    pub passive_failures_in_window: u32,
    pub passive_tripped: bool,
    pub total_rpc_failures: u64,
    pub last_error: Option<String>,
}

impl PeerHealth {
    pub fn new(id: u64, addr: String, config: HealthConfig) -> Arc<PeerHealth> {
        Arc::new(PeerHealth {
            id,
            addr,
            config,
            state: Mutex::new(State {
                active_healthy: true,
                consecutive_passes: 0,
                consecutive_fails: 0,
                last_rtt: None,
                last_check: None,
                checks: 0,
                failures: VecDeque::new(),
                total_rpc_failures: 0,
                last_error: None,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The outcome of one active check.
    pub fn record_check(&self, outcome: Result<Duration, String>) {
        let mut state = self.lock();
        state.checks += 1;
        state.last_check = Some(Instant::now());
        match outcome {
            Ok(rtt) => {
                state.last_rtt = Some(rtt);
                state.consecutive_fails = 0;
                state.consecutive_passes = state.consecutive_passes.saturating_add(1);
                if state.consecutive_passes >= self.config.passes {
                    state.active_healthy = true;
                }
            }
            Err(error) => {
                state.consecutive_passes = 0;
                state.consecutive_fails = state.consecutive_fails.saturating_add(1);
                if state.consecutive_fails >= self.config.fails {
                    state.active_healthy = false;
                }
                state.last_error = Some(error);
            }
        }
    }

    /// A failed Raft RPC to this peer (passive counting).
    pub fn record_rpc_failure(&self, error: String) {
        let now = Instant::now();
        let mut state = self.lock();
        state.total_rpc_failures += 1;
        state.failures.push_back(now);
        let window = Duration::from_millis(self.config.passive_window_ms);
        while state
            .failures
            .front()
            .is_some_and(|&at| now.duration_since(at) > window)
        {
            state.failures.pop_front();
        }
        // Bounded: only the count within the window matters.
        while state.failures.len() > self.config.passive_fails.max(1) as usize * 4 {
            state.failures.pop_front();
        }
        state.last_error = Some(error);
    }

    pub fn status(&self) -> PeerStatus {
        let now = Instant::now();
        let state = self.lock();
        let window = Duration::from_millis(self.config.passive_window_ms);
        let in_window = state
            .failures
            .iter()
            .filter(|&&at| now.duration_since(at) <= window)
            .count() as u32;
        let passive_tripped =
            self.config.passive_fails > 0 && in_window >= self.config.passive_fails;
        PeerStatus {
            id: self.id,
            addr: self.addr.clone(),
            healthy: state.active_healthy && !passive_tripped,
            active_healthy: state.active_healthy,
            consecutive_passes: state.consecutive_passes,
            consecutive_fails: state.consecutive_fails,
            checks: state.checks,
            last_rtt_us: state.last_rtt.map(|rtt| rtt.as_micros() as u64),
            last_check_ms_ago: state
                .last_check
                .map(|at| now.duration_since(at).as_millis() as u64),
            passive_failures_in_window: in_window,
            passive_tripped,
            total_rpc_failures: state.total_rpc_failures,
            last_error: state.last_error.clone(),
        }
    }
}

/// This node's view of the cluster, for GET /health and `crossline cluster status`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ClusterStatus {
    pub node_id: u64,
    /// "Leader", "Follower", "Candidate", "Learner" or "Shutdown".
    pub state: String,
    pub leader: Option<u64>,
    pub term: u64,
    pub last_log_index: Option<u64>,
    pub last_applied_index: Option<u64>,
    /// Seq of the last record committed by the cluster and applied here.
    pub committed_seq: u64,
    /// This node's journal written watermark.
    pub journal_written_seq: u64,
    pub voters: Vec<u64>,
    pub learners: Vec<u64>,
    pub peers: Vec<PeerStatus>,
}
