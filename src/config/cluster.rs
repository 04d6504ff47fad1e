//! `[cluster]`: this node, its peers, the cluster token, Raft timing, batching and health checks.
//!
//! Timing for sub-second failover. The leader sends a heartbeat every `heartbeat_ms`; openraft's tick runs every
//! 1.5 heartbeats. A follower that has seen a committed leader stands for election only after openraft's leader
//! lease (`election_max_ms`) *plus* a random timeout in [`election_min_ms`, `election_max_ms`) without hearing from
//! it; the lease keeps a follower from deposing a leader whose lease still holds, the randomness keeps two
//! followers from splitting the vote. So a leader that stops answering is replaced after roughly
//! `election_max + random(election_min, election_max) + up to one tick`, plus a vote round and the commit of the
//! new term's first entry.
//!
//! A leader whose process died is replaced sooner (`cluster/leader_loss.rs`): its connections end and its Raft port
//! refuses connections, so the follower with the longest log stands as soon as every voter's lease is over,
//! skipping the random timeout and the tick: `election_max` after the last heartbeat, plus the vote.
//!
//! | heartbeat / election | crashed leader (SIGKILL) to the first order acknowledged by the new one, 20 kills |
//! | --- | --- |
//! | 40 / 120-200 ms (default) | p50 255 ms, max 291 ms |
//! | 50 / 150-300 ms | p50 357 ms, max 367 ms (8 kills); p50 630 ms, max 1,551 ms before the fast path |
//!
//! (`crossline-bench failover`, BENCHMARKS.md.) The default keeps three heartbeats inside the smallest election
//! timeout, so one late heartbeat on a busy box does not depose a healthy leader; a paused or partitioned leader is
//! replaced after 320-475 ms.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// One other member of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    pub id: u64,
    /// host:port of its Raft listener.
    pub addr: String,
    /// A non-voting member (a read-only replica for the query side).
    #[serde(default)]
    pub learner: bool,
}

/// Active checks of each peer (as Uber's Kraken does them): a ping every `interval_ms`, failed if no answer within
/// `timeout_ms`; a peer turns unhealthy after `fails` failures in a row and healthy again after `passes` successes
/// in a row. Passive: every failed Raft RPC to a peer counts; `passive_fails` of them within `passive_window_ms`
/// mark it failed until the window has passed without that many.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub passes: u32,
    pub fails: u32,
    pub passive_fails: u32,
    pub passive_window_ms: u64,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            interval_ms: 200,
            timeout_ms: 100,
            passes: 2,
            fails: 3,
            passive_fails: 5,
            passive_window_ms: 2_000,
        }
    }
}

/// The `[cluster]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    pub node_id: u64,
    /// host:port this node's Raft listener binds; also the address other nodes know it by.
    pub listen: String,
    #[serde(default)]
    pub peers: Vec<PeerConfig>,
    /// Shared secret every Raft connection starts with; compared in constant time.
    pub token: String,
    #[serde(default = "default_heartbeat_ms")]
    pub heartbeat_ms: u64,
    #[serde(default = "default_election_min_ms")]
    pub election_min_ms: u64,
    #[serde(default = "default_election_max_ms")]
    pub election_max_ms: u64,
    /// This node is a non-voting member.
    #[serde(default)]
    pub learner: bool,
    /// A batch (one Raft entry) holds at most this many records ...
    #[serde(default = "default_batch_max_records")]
    pub batch_max_records: usize,
    /// ... and is proposed at the latest this long after its first record was read.
    #[serde(default = "default_batch_max_us")]
    pub batch_max_us: u64,
    /// Sync the journal through an appended entry's records, and the Raft index, before the append counts (off: a
    /// power loss of a majority can lose acknowledged entries; a process crash cannot).
    #[serde(default = "default_true")]
    pub log_fsync: bool,
    /// Build a Raft snapshot after this many entries (batches) since the last one.
    #[serde(default = "default_snapshot_entries")]
    pub snapshot_entries: u64,
    /// Entries kept in the Raft log behind a snapshot, so that a briefly absent follower catches up from the log
    /// rather than through a snapshot.
    #[serde(default = "default_snapshot_keep_entries")]
    pub snapshot_keep_entries: u64,
    /// The leader puts its engine's state hash into the journal this often; every replica compares its own at
    /// the same seq and stops loudly on a difference (0: never).
    #[serde(default = "default_state_check_interval_ms")]
    pub state_check_interval_ms: u64,
    #[serde(default)]
    pub health: HealthConfig,
}

fn default_heartbeat_ms() -> u64 {
    40
}
fn default_election_min_ms() -> u64 {
    120
}
fn default_election_max_ms() -> u64 {
    200
}
fn default_batch_max_records() -> usize {
    256
}
fn default_batch_max_us() -> u64 {
    1_000
}
fn default_state_check_interval_ms() -> u64 {
    1_000
}
fn default_true() -> bool {
    true
}
fn default_snapshot_entries() -> u64 {
    10_000
}
fn default_snapshot_keep_entries() -> u64 {
    1_000
}

impl ClusterConfig {
    /// Checks what serde cannot: ids, timing, token.
    pub fn validate(&self) -> Result<(), String> {
        if self.token.len() < 16 {
            return Err("cluster.token must be at least 16 characters".into());
        }
        if self.heartbeat_ms == 0 {
            return Err("cluster.heartbeat_ms must be positive".into());
        }
        if self.election_min_ms < 2 * self.heartbeat_ms {
            return Err(format!(
                "cluster.election_min_ms ({}) must be at least twice heartbeat_ms ({})",
                self.election_min_ms, self.heartbeat_ms
            ));
        }
        if self.election_max_ms <= self.election_min_ms {
            return Err("cluster.election_max_ms must be above election_min_ms".into());
        }
        if self.batch_max_records == 0 {
            return Err("cluster.batch_max_records must be positive".into());
        }
        let mut ids = BTreeSet::from([self.node_id]);
        for peer in &self.peers {
            if !ids.insert(peer.id) {
                return Err(format!("cluster: node id {} appears twice", peer.id));
            }
        }
        if self.voters().is_empty() {
            return Err("cluster: no voting member".into());
        }
        Ok(())
    }

    /// Every member, this node included: (id, address, learner).
    pub fn members(&self) -> Vec<(u64, String, bool)> {
        let mut members = vec![(self.node_id, self.listen.clone(), self.learner)];
        members.extend(
            self.peers
                .iter()
                .map(|peer| (peer.id, peer.addr.clone(), peer.learner)),
        );
        members.sort();
        members
    }

    pub fn voters(&self) -> Vec<(u64, String)> {
        self.members()
            .into_iter()
            .filter(|(_, _, learner)| !learner)
            .map(|(id, addr, _)| (id, addr))
            .collect()
    }
}
