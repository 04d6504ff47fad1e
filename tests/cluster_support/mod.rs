//! Three `crossline serve` nodes on 127.0.0.1 with fixed ports (a node that restarts itself keeps them), and the
//! client helpers the replication tests and the fault campaign share.

#![allow(dead_code)]

use crate::common::*;
use crate::fault_proxy::{Fault, FaultProxy};
use crossline_net::client::{Client, ClientTimeouts, Credentials};
use crossline_net::ouch::{Outbound, Side};
use crossline_net::soupbin::SessionId;
use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub const NODES: usize = 3;
pub const LEADER_TIMEOUT: Duration = Duration::from_secs(30);
pub const TOKEN: &str = "cluster-test-token-0123456789";

/// The tests of one binary run on parallel threads; three nodes each on a two-core box would starve each other's
/// heartbeats, so each test holds this while its cluster lives.
pub fn one_cluster_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static CLUSTERS: std::sync::Mutex<()> = std::sync::Mutex::new(());
    CLUSTERS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A port a node keeps across restarts. It is taken below Linux's ephemeral range (32768 and up by default), so
/// that while the node is down no outgoing connection of this host is given it.
pub fn free_addr() -> SocketAddr {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = 12_000 + std::process::id().wrapping_mul(1_117) % 16_000;
    loop {
        let port = start + NEXT.fetch_add(1, Ordering::Relaxed) % 4_000;
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port as u16)) {
            return listener.local_addr().expect("addr");
        }
    }
}

/// One node's fixed addresses: a restart (the process re-executes itself) keeps them.
#[derive(Debug, Clone, Copy)]
pub struct NodeAddrs {
    pub order_entry: SocketAddr,
    pub admin: SocketAddr,
    pub raft: SocketAddr,
}

pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub configs: Vec<PathBuf>,
    pub addrs: Vec<NodeAddrs>,
    pub nodes: Vec<Option<Appliance>>,
}

impl Cluster {
    /// Writes three configurations; `extra` goes into each `[cluster]` section.
    pub fn new(extra: &str) -> Cluster {
        Cluster::with_routes(extra, node_addrs(), |_, _, direct| direct)
    }

    /// As `new`, with node `from`'s route to node `to`'s Raft listener given by `route(from, to, direct)`.
    pub fn with_routes(
        extra: &str,
        addrs: Vec<NodeAddrs>,
        route: impl Fn(usize, usize, SocketAddr) -> SocketAddr,
    ) -> Cluster {
        Cluster::with_routes_and_edit(extra, addrs, route, |_, text| text)
    }

    /// As `with_routes`, with node `index`'s configuration text passed through `edit(index, text)` last.
    pub fn with_routes_and_edit(
        extra: &str,
        addrs: Vec<NodeAddrs>,
        route: impl Fn(usize, usize, SocketAddr) -> SocketAddr,
        edit: impl Fn(usize, String) -> String,
    ) -> Cluster {
        let mut cluster = Cluster::configured(extra, addrs, route, edit);
        cluster.start_all();
        cluster
    }

    /// As `with_routes_and_edit`, without starting the nodes (each node's data directory is `node_dir`): the caller
    /// prepares the directories, then calls `start_all`.
    pub fn configured(
        extra: &str,
        addrs: Vec<NodeAddrs>,
        route: impl Fn(usize, usize, SocketAddr) -> SocketAddr,
        edit: impl Fn(usize, String) -> String,
    ) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut configs = Vec::new();
        for (index, own) in addrs.iter().enumerate() {
            let id = index + 1;
            let data = dir.path().join(format!("node{id}"));
            let feed = free_addr();
            let peers: Vec<String> = addrs
                .iter()
                .enumerate()
                .filter(|(other, _)| *other != index)
                .map(|(other, a)| {
                    format!(
                        "{{ id = {}, addr = \"{}\" }}",
                        other + 1,
                        route(index, other, a.raft)
                    )
                })
                .collect();
            let text = config_text(&data, feed)
                .replacen(
                    "listen = \"127.0.0.1:0\"",
                    &format!("listen = \"{}\"", own.order_entry),
                    1,
                )
                .replace("segment_bytes = 268435456", "segment_bytes = 8388608")
                .replace("policy = \"local\"", "policy = \"replicated\"")
                .replace(
                    "gateway = { idle = \"spin-then-yield\" }",
                    "gateway = { idle = \"backoff-park\" }",
                )
                // A cluster node's engine has a thread of its own.
                .replace(
                    "engine = { thread = \"gateway\" }",
                    "engine = { idle = \"backoff-park\" }",
                )
                .replacen(
                    "[[fee_tiers]]",
                    &format!(
                        "[cluster]\nnode_id = {id}\nlisten = \"{}\"\npeers = [{}]\ntoken = \"{TOKEN}\"\n\
                         heartbeat_ms = 50\nelection_min_ms = 300\nelection_max_ms = 600\n{extra}\n\n\
                         [[fee_tiers]]",
                        own.raft,
                        peers.join(", ")
                    ),
                    1,
                );
            let text = in_section(
                &text,
                "[admin]",
                "listen = \"127.0.0.1:0\"",
                &format!("listen = \"{}\"", own.admin),
            );
            let path = dir.path().join(format!("node{id}.toml"));
            std::fs::write(&path, edit(index, text)).expect("write config");
            configs.push(path);
        }
        Cluster {
            dir,
            configs,
            addrs,
            nodes: Vec::new(),
        }
    }

    /// Node `index`'s data directory.
    pub fn node_dir(&self, index: usize) -> PathBuf {
        self.dir.path().join(format!("node{}", index + 1))
    }

    /// Starts every node of a `configured` cluster.
    pub fn start_all(&mut self) {
        for index in 0..NODES {
            let node = self.start_node(index);
            self.nodes.push(Some(node));
        }
    }

    pub fn start_node(&self, index: usize) -> Appliance {
        let node = Appliance::start(&self.configs[index]);
        assert_eq!(node.endpoints.order_entry, self.addrs[index].order_entry);
        node
    }

    pub fn order_entry(&self) -> Vec<SocketAddr> {
        self.addrs.iter().map(|a| a.order_entry).collect()
    }

    pub fn health(&self, index: usize) -> Option<serde_json::Value> {
        let stream = std::net::TcpStream::connect_timeout(
            &self.addrs[index].admin,
            Duration::from_millis(500),
        )
        .ok()?;
        drop(stream);
        let (status, body) = http(self.addrs[index].admin, "GET", "/health", None, "");
        (status == 200)
            .then(|| serde_json::from_str(&body).ok())
            .flatten()
    }

    /// The index of the node that says it leads and has its instruments committed, waiting for one. (Under
    /// `ack = "replicated"` the gateway learns an instrument when its `InstrumentAdded` is committed: an order
    /// naming it before then is refused as an unknown symbol.)
    pub fn wait_for_leader(&self, except: Option<usize>) -> usize {
        let deadline = Instant::now() + LEADER_TIMEOUT;
        loop {
            for index in 0..NODES {
                if Some(index) == except || self.nodes[index].is_none() {
                    continue;
                }
                if let Some(health) = self.health(index) {
                    if health["role"] == "leader"
                        && health["engine_seq"].as_u64() >= Some(10)
                        && health["cluster"]["committed_seq"].as_u64() >= Some(10)
                    {
                        return index;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "no leader within {LEADER_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until every running node reports the same engine seq and state hash; returns the seq.
    pub fn wait_until_converged(&self) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let views: Vec<(u64, String, u64)> = (0..NODES)
                .filter(|index| self.nodes[*index].is_some())
                .filter_map(|index| self.health(index))
                .map(|h| {
                    (
                        h["engine_seq"].as_u64().unwrap_or(0),
                        h["state_hash"].as_str().unwrap_or("").to_string(),
                        h["applied_seq"].as_u64().unwrap_or(0),
                    )
                })
                .collect();
            let running = self.nodes.iter().filter(|n| n.is_some()).count();
            if views.len() == running
                && views
                    .iter()
                    .all(|v| v.0 == views[0].0 && v.1 == views[0].1 && v.2 == v.0)
            {
                return views[0].0;
            }
            if Instant::now() >= deadline {
                let healths: Vec<String> = (0..NODES)
                    .map(|index| {
                        let said = self.nodes[index]
                            .as_ref()
                            .map(|node| node.drain_lines())
                            .unwrap_or_default();
                        match self.health(index) {
                            Some(health) => format!("node {}: {health}; said {said:?}", index + 1),
                            None => format!("node {}: no answer; said {said:?}", index + 1),
                        }
                    })
                    .collect();
                if let Ok(seconds) = std::env::var("CROSSLINE_TEST_HOLD_S") {
                    eprintln!("holding: {}", healths.join("\n"));
                    std::thread::sleep(Duration::from_secs(seconds.parse().unwrap_or(0)));
                }
                panic!(
                    "the nodes did not converge: {views:?}\n{}",
                    healths.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// `text` with the first `from` after the line `section` replaced by `to`.
pub fn in_section(text: &str, section: &str, from: &str, to: &str) -> String {
    let start = text.find(section).expect("section");
    let (head, tail) = text.split_at(start);
    format!("{head}{}", tail.replacen(from, to, 1))
}

pub fn credentials(user: &str) -> Credentials {
    Credentials::new(user, &format!("{user}-pw")).expect("credentials")
}

/// Logs in through the address list, retrying while no node takes the login (an election in progress).
pub fn connect(addresses: &[SocketAddr], user: &str, from_seq: u64) -> Client {
    let deadline = Instant::now() + LEADER_TIMEOUT;
    loop {
        match Client::connect(
            addresses,
            credentials(user),
            SessionId::BLANK,
            from_seq,
            ClientTimeouts::default(),
        ) {
            Ok(client) => return client,
            Err(error) => {
                assert!(
                    Instant::now() < deadline,
                    "{user}: no node took the login: {error}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Everything in `user`'s outbound stream, from sequence 1, read from whichever node leads.
pub fn full_history(addresses: &[SocketAddr], user: &str) -> Vec<Outbound> {
    let mut client = connect(addresses, user, 1);
    let messages = drain(&mut client, Duration::from_millis(500));
    let _ = client.logout();
    for (expected, (seq, _)) in (1..).zip(messages.iter()) {
        assert_eq!(*seq, expected, "{user}'s stream has a gap or a repeat");
    }
    messages.into_iter().map(|(_, m)| m).collect()
}

pub fn accepted_refs(history: &[Outbound]) -> Vec<u32> {
    history
        .iter()
        .filter_map(|m| match m {
            Outbound::OrderAccepted(a) => Some(a.user_ref_num),
            _ => None,
        })
        .collect()
}

/// A client that sends an order every few milliseconds, reconnecting through the address list whenever its
/// session ends, and records every acknowledged user_ref_num.
pub struct Trader {
    pub client: Client,
    pub addresses: Vec<SocketAddr>,
    pub user: &'static str,
    pub next_ref: u32,
    pub acknowledged: BTreeSet<u32>,
}

impl Trader {
    pub fn new(addresses: &[SocketAddr], user: &'static str) -> Trader {
        Trader {
            client: connect(addresses, user, 0),
            addresses: addresses.to_vec(),
            user,
            next_ref: 1,
            acknowledged: BTreeSet::new(),
        }
    }

    pub fn trade(&mut self, duration: Duration) {
        let until = Instant::now() + duration;
        while Instant::now() < until {
            if !self.client.is_open() && self.client.reconnect(&self.addresses).is_err() {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            let price = 950_000 + 100 * u64::from(self.next_ref % 500);
            if self
                .client
                .enter_order(&limit(self.next_ref, Side::Buy, 1, "ACME", price))
                .is_ok()
            {
                self.next_ref += 1;
            }
            while let Ok(Some(received)) = self.client.poll_message(Duration::from_millis(5)) {
                if let Outbound::OrderAccepted(a) = received.message {
                    self.acknowledged.insert(a.user_ref_num);
                }
            }
        }
    }

    /// Logs out, checks the user's whole stream (`assert_history`), logs in again; returns the number of orders in
    /// the history.
    pub fn check_history(&mut self) -> usize {
        let _ = self.client.logout();
        let in_history = assert_history(&self.addresses, self.user, &self.acknowledged);
        self.client = connect(&self.addresses, self.user, 0);
        in_history
    }
}

/// Checks `user`'s whole stream on the current leader: every acknowledged order is there exactly once and no
/// fill repeats. Returns the number of orders in the history.
pub fn assert_history(addresses: &[SocketAddr], user: &str, acknowledged: &BTreeSet<u32>) -> usize {
    let history = full_history(addresses, user);
    let accepted = accepted_refs(&history);
    let unique: BTreeSet<u32> = accepted.iter().copied().collect();
    assert_eq!(unique.len(), accepted.len(), "an order accepted twice");
    assert!(
        acknowledged.is_subset(&unique),
        "acknowledged orders lost: {:?}",
        acknowledged.difference(&unique).collect::<Vec<_>>()
    );
    let mut fills = std::collections::BTreeMap::new();
    for message in &history {
        if let Outbound::OrderExecuted(e) = message {
            *fills.entry(e.match_number).or_insert(0u32) += 1;
        }
    }
    assert!(fills.values().all(|count| *count == 1), "a fill repeated");
    unique.len()
}

/// A fault proxy on every directed link between the nodes: `links[from][to]` carries node `from`'s Raft traffic to
/// node `to`.
pub struct ProxyMesh {
    pub links: Vec<Vec<Option<FaultProxy>>>,
}

impl ProxyMesh {
    pub fn start(addrs: &[NodeAddrs]) -> ProxyMesh {
        ProxyMesh {
            links: (0..addrs.len())
                .map(|from| {
                    (0..addrs.len())
                        .map(|to| (from != to).then(|| FaultProxy::start(addrs[to].raft)))
                        .collect()
                })
                .collect(),
        }
    }

    /// Node `from`'s route to node `to`.
    pub fn route(&self, from: usize, to: usize) -> SocketAddr {
        self.links[from][to]
            .as_ref()
            .expect("a proxy on every link")
            .addr
    }

    pub fn all(&self, fault: Fault) {
        for proxy in self.links.iter().flatten().flatten() {
            proxy.set(fault);
        }
    }

    /// Every link into and out of `node` blackholed.
    pub fn isolate(&self, node: usize) {
        for other in (0..self.links.len()).filter(|other| *other != node) {
            for (from, to) in [(node, other), (other, node)] {
                self.links[from][to]
                    .as_ref()
                    .expect("proxy")
                    .set(Fault::Blackhole);
            }
        }
    }

    pub fn drop_connections(&self) {
        for proxy in self.links.iter().flatten().flatten() {
            proxy.drop_connections();
        }
    }

    pub fn connections(&self) -> u64 {
        self.links
            .iter()
            .flatten()
            .flatten()
            .map(FaultProxy::accepted)
            .sum()
    }
}

/// Fresh fixed addresses for every node.
pub fn node_addrs() -> Vec<NodeAddrs> {
    (0..NODES)
        .map(|_| NodeAddrs {
            order_entry: free_addr(),
            admin: free_addr(),
            raft: free_addr(),
        })
        .collect()
}
