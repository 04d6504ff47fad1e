//! Electing a new leader as soon as the old one is known dead, instead of after the election timers.
//!
//! openraft lets a follower stand only once its leader lease (the maximum election timeout since it last heard
//! from the leader) and then its own random election timeout have run out, and checks timers on a tick: with the
//! default 120-200 ms, a crashed leader is replaced 320-475 ms after its last heartbeat. The lease cannot be
//! shortened from here (a voter refuses votes until it ends), but the random timeout can be skipped when a crash is
//! certain: the leader's replication connection to this node ended, and its Raft port refuses connections (a dead
//! process on a live host; a paused process, a dropped connection or a partition still leave it to the timers).
//!
//! Two followers that both start at the lease's end would split the vote, and one with a shorter log would be
//! refused, so they first compare logs: each asks the other voters for their last log index and how long ago they
//! last heard from the leader, and only the node with the longest log (the lowest id among equals) triggers the
//! election, once every voter's lease has run out; a vote still refused for a lease is asked again a little later.
//! Raft's safety does not depend on any of this: an early election is an ordinary election.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openraft::ServerState;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::network::{PeerClient, Request, Response};
use super::types::{NodeId, Raft};

/// Time after the end of the latest lease before standing: covers the round trip that measured the other voters'
/// contact times (a vote refused for a lease is asked again `RETRY_AFTER` later).
const LEASE_MARGIN: Duration = Duration::from_millis(5);
/// How long the checks (connecting to the dead leader, asking the others' logs) may take.
const PROBE_TIMEOUT: Duration = Duration::from_millis(100);
/// How long an accepted probe connection must stay open for its listener to count as alive.
const CLOSE_WAIT: Duration = Duration::from_millis(40);
/// Campaigns started at most, this far apart, while no leader emerges.
const ATTEMPTS: u32 = 4;
const RETRY_AFTER: Duration = Duration::from_millis(30);

/// Whether nothing listens at `addr` any more. A killed process's connections may close a moment before its
/// listening socket does, so a connection that is accepted must also stay open: a live node waits for the
/// cluster token for a second, a dead one's half-accepted connection is reset at once.
async fn listener_gone(addr: &str) -> bool {
    match tokio::time::timeout(PROBE_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Err(err)) => err.kind() == std::io::ErrorKind::ConnectionRefused,
        Ok(Ok(mut stream)) => {
            let mut byte = [0u8; 1];
            match tokio::time::timeout(CLOSE_WAIT, stream.read(&mut byte)).await {
                // Closed or reset without a word: nobody is behind it.
                Ok(Ok(0)) | Ok(Err(_)) => true,
                _ => false,
            }
        }
        Err(_) => false,
    }
}

/// What this node needs to act on a lost leader.
#[derive(Debug)]
pub struct LeaderLoss {
    pub node_id: NodeId,
    /// openraft's leader lease: its maximum election timeout.
    pub lease: Duration,
    /// Every peer's id, Raft address and whether it votes.
    pub peers: Vec<(NodeId, String, bool)>,
    pub token: Arc<str>,
    /// A learner never stands.
    pub learner: bool,
    /// The leader this node last accepted entries from, and when.
    pub last_contact: Mutex<Option<(NodeId, Instant)>>,
}

impl LeaderLoss {
    pub fn new(
        node_id: NodeId,
        lease: Duration,
        peers: Vec<(NodeId, String, bool)>,
        token: Arc<str>,
        learner: bool,
    ) -> LeaderLoss {
        LeaderLoss {
            node_id,
            lease,
            peers,
            token,
            learner,
            last_contact: Mutex::new(None),
        }
    }

    /// This node accepted entries from `leader` just now.
    pub fn heard_from(&self, leader: NodeId) {
        if let Ok(mut last) = self.last_contact.lock() {
            *last = Some((leader, Instant::now()));
        }
    }

    /// How long ago this node last heard from `leader`, in microseconds (`None`: never, or another leader since).
    pub fn contact_age_us(&self, leader: NodeId) -> Option<u64> {
        let last = *self.last_contact.lock().ok()?;
        match last {
            Some((heard, at)) if heard == leader => Some(at.elapsed().as_micros() as u64),
            _ => None,
        }
    }

    /// The replication connection from `leader`, last heard at `last_contact`, has ended.
    pub async fn connection_ended(
        self: Arc<Self>,
        raft: Raft,
        leader: NodeId,
        last_contact: Instant,
    ) {
        if self.learner || leader == self.node_id {
            return;
        }
        if raft.metrics().borrow().current_leader != Some(leader) {
            return;
        }
        let Some((_, addr, _)) = self.peers.iter().find(|(id, _, _)| *id == leader) else {
            return;
        };
        // It answers (a dropped connection), or cannot be told apart from a partition: the timers decide.
        if !listener_gone(addr).await {
            return;
        }
        let mine = raft.metrics().borrow().last_log_index;
        // Every voter's lease ends `lease` after it last heard from the leader: the latest contact decides.
        let mut latest_contact = last_contact;
        for (id, addr, voter) in &self.peers {
            if !voter || *id == leader {
                continue;
            }
            let mut client = PeerClient::new(*id, addr.clone(), Arc::clone(&self.token), None);
            let asked = Instant::now();
            match client
                .call(&Request::LogState { leader }, PROBE_TIMEOUT)
                .await
            {
                Ok(Response::LogState {
                    last_log_index,
                    leader_contact_age_us,
                    ..
                }) => {
                    // The other voter goes first: it has a longer log, or as long a log and a lower id.
                    if (last_log_index, std::cmp::Reverse(*id))
                        > (mine, std::cmp::Reverse(self.node_id))
                    {
                        return;
                    }
                    if let Some(age_us) = leader_contact_age_us {
                        let theirs = asked
                            .checked_sub(Duration::from_micros(age_us))
                            .unwrap_or(asked);
                        latest_contact = latest_contact.max(theirs);
                    }
                }
                // No answer: it may be standing too; let a lower id have the first go.
                _ if *id < self.node_id => latest_contact += RETRY_AFTER * 2,
                _ => {}
            }
        }
        tokio::time::sleep_until((latest_contact + self.lease + LEASE_MARGIN).into()).await;
        for _ in 0..ATTEMPTS {
            let metrics = raft.metrics().borrow().clone();
            let leaderless =
                metrics.current_leader.is_none() || metrics.current_leader == Some(leader);
            if metrics.state == ServerState::Leader || !leaderless {
                return;
            }
            // A follower, or a candidate whose vote was refused (a lease not yet over): stand (again).
            if metrics.state != ServerState::Learner {
                let _ = raft.trigger().elect().await;
            }
            tokio::time::sleep(RETRY_AFTER).await;
        }
    }
}

/// A node that starts (or restarts, rejoining a running cluster) stands for election only once it has heard from a
/// leader or `hold` has passed. Without this, a node whose start-up outlasts its election timeout campaigns before
/// the leader reaches it, and the higher term it then answers the leader with deposes a healthy leader. (Elections
/// are disabled by the caller before the node can tick.)
pub async fn hold_elections_at_start(raft: Raft, leader_loss: Arc<LeaderLoss>, hold: Duration) {
    let started = Instant::now();
    while started.elapsed() < hold {
        let heard = leader_loss
            .last_contact
            .lock()
            .map(|last| last.is_some())
            .unwrap_or(true);
        if heard {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    raft.runtime_config().elect(true);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_port_nobody_listens_on_is_gone_and_a_live_listener_is_not() {
        runtime().block_on(async {
            // A live listener that, like a node, waits for the token without a word.
            let live = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let live_addr = live.local_addr().unwrap().to_string();
            let held = tokio::spawn(async move {
                let (stream, _) = live.accept().await.unwrap();
                tokio::time::sleep(Duration::from_millis(500)).await;
                drop(stream);
            });
            assert!(!listener_gone(&live_addr).await);
            held.abort();

            // A listener that has gone: its port refuses connections.
            let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let gone_addr = gone.local_addr().unwrap().to_string();
            drop(gone);
            assert!(listener_gone(&gone_addr).await);

            // A dying listener: it accepts, then resets at once.
            let dying = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let dying_addr = dying.local_addr().unwrap().to_string();
            let closer = tokio::spawn(async move {
                let (stream, _) = dying.accept().await.unwrap();
                drop(stream);
            });
            assert!(listener_gone(&dying_addr).await);
            let _ = closer.await;
        });
    }

    #[test]
    fn contact_age_is_reported_for_the_leader_last_heard_only() {
        let loss = LeaderLoss::new(
            2,
            Duration::from_millis(200),
            Vec::new(),
            Arc::from("t"),
            false,
        );
        assert_eq!(loss.contact_age_us(1), None);
        loss.heard_from(1);
        assert!(loss.contact_age_us(1).is_some_and(|age| age < 1_000_000));
        assert_eq!(loss.contact_age_us(3), None);
    }
}
