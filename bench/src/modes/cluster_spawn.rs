//! Real `crossline serve` processes on 127.0.0.1 for the `replication` and `failover` modes: a standalone node or a
//! Raft cluster of one leader and N standbys, built from `crossline config example` with fixed free ports (order
//! entry, admin, Raft), so a restarted node keeps its addresses. Every process is killed when its `Node` (or the
//! `Cluster` holding it) is dropped, on every exit path.
//!
//! Also: a minimal HTTP/1.1 GET for the admin port (`/health` as JSON, `/metrics` as Prometheus text) and the
//! parsing of the replication lag histogram out of the Prometheus text.

use anyhow::{bail, Context};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

/// How long a node may take to print `ready`.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a node may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// Connect and read timeout of one admin request.
const HTTP_TIMEOUT: Duration = Duration::from_secs(2);
/// The shared secret of the bench's clusters.
const TOKEN: &str = "crossline-bench-cluster-token";

/// The Raft timing written into every node's `[cluster]` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RaftTiming {
    pub heartbeat_ms: u64,
    pub election_min_ms: u64,
    pub election_max_ms: u64,
}

impl Default for RaftTiming {
    fn default() -> Self {
        RaftTiming {
            heartbeat_ms: 40,
            election_min_ms: 120,
            election_max_ms: 200,
        }
    }
}

/// What every node of a spawned cluster runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterSpec {
    pub binary: PathBuf,
    /// 1: a standalone node (no `[cluster]` section); more: a cluster of that many voters.
    pub nodes: usize,
    /// `[ack] policy`: "local", "durable" or "replicated".
    pub ack: String,
    /// `idle` of the gateway and engine threads: "backoff-park", "spin-then-yield" or "busy-spin".
    pub idle: String,
    pub timing: RaftTiming,
    /// `log_fsync` of the `[cluster]` section (None: the appliance's default, on).
    pub log_fsync: Option<bool>,
}

/// One node's fixed addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeAddrs {
    pub order_entry: SocketAddr,
    pub admin: SocketAddr,
    pub raft: SocketAddr,
}

/// A free port on 127.0.0.1 that a node keeps across restarts (bound, read and released: another process could
/// take it in between, which a start then reports as a bind failure). It is taken below Linux's ephemeral range
/// (32768 and up by default), so that while a killed node is down no outgoing connection of this host is given it.
pub fn free_addr() -> anyhow::Result<SocketAddr> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = 12_000 + std::process::id().wrapping_mul(1_117) % 16_000;
    for _ in 0..4_000 {
        let port = start + NEXT.fetch_add(1, Ordering::Relaxed) % 4_000;
        if let Ok(listener) = TcpListener::bind(("127.0.0.1", port as u16)) {
            return listener.local_addr().context("a free port's address");
        }
    }
    anyhow::bail!("no free port between 12000 and 32000 on 127.0.0.1")
}

/// A running `crossline serve` child; SIGKILLed and reaped on drop.
pub struct Node {
    child: Child,
    lines: Receiver<String>,
    ready: bool,
    /// The last few lines read while waiting for `ready`.
    seen: Vec<String>,
}

impl Node {
    /// Starts `binary serve --config config` and waits for its `ready` line.
    pub fn start(binary: &Path, config: &Path) -> anyhow::Result<Node> {
        let mut node = Node::spawn(binary, config)?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if node.poll_ready()? {
                return Ok(node);
            }
            if Instant::now() >= deadline {
                let status = node.child.try_wait().ok().flatten();
                bail!(
                    "{} did not say it was ready within {READY_TIMEOUT:?} (exit {status:?}; output: {})",
                    config.display(),
                    node.seen.join(" | ")
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Starts `binary serve --config config` without waiting: `poll_ready` says when it is ready. Its standard
    /// error goes to `config` with the extension `stderr` (appended: a restarted node adds to it).
    pub fn spawn(binary: &Path, config: &Path) -> anyhow::Result<Node> {
        let log_path = config.with_extension("stderr");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))?;
        let mut child = Command::new(binary)
            .args(["serve", "--config"])
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("starting {} serve", binary.display()))?;
        let stdout = child.stdout.take().context("the node's stdout")?;
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Node {
            child,
            lines,
            ready: false,
            seen: Vec::new(),
        })
    }

    /// True once the node has printed its `ready` line; an error if it exited before.
    pub fn poll_ready(&mut self) -> anyhow::Result<bool> {
        while !self.ready {
            match self.lines.try_recv() {
                Ok(line) => {
                    self.ready = line.contains("ready");
                    if self.seen.len() == 5 {
                        self.seen.remove(0);
                    }
                    self.seen.push(line);
                }
                Err(_) => break,
            }
        }
        if !self.ready {
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!(
                    "the node exited with {status} before it was ready (output: {})",
                    self.seen.join(" | ")
                );
            }
        }
        Ok(self.ready)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no chance to sync, snapshot or say goodbye. Waits for the exit.
    pub fn kill(mut self) {
        self.kill_now();
    }

    fn kill_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then SIGKILL after `STOP_TIMEOUT`. True if it exited by itself.
    pub fn stop(mut self) -> bool {
        let Ok(pid) = libc::pid_t::try_from(self.child.id()) else {
            self.kill_now();
            return false;
        };
        // SAFETY: kill(2) on our own child, not yet waited for, so the pid is still ours.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            if Instant::now() >= deadline {
                self.kill_now();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The output lines printed since the last call.
    pub fn drain_lines(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill_now();
    }
}

/// What one node's GET /health says, the fields the modes use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthView {
    pub role: String,
    pub engine_seq: u64,
    pub applied_seq: u64,
    pub state_hash: String,
    pub cluster: Value,
}

/// Nodes on fixed ports with their configurations in a temporary directory; every running node is killed on drop.
pub struct Cluster {
    pub spec: ClusterSpec,
    pub addrs: Vec<NodeAddrs>,
    configs: Vec<PathBuf>,
    nodes: Vec<Option<Node>>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    /// Writes the configurations and starts every node (without waiting for a leader).
    pub fn start(spec: ClusterSpec) -> anyhow::Result<Cluster> {
        if spec.nodes == 0 {
            bail!("a cluster needs at least one node");
        }
        if !spec.binary.is_file() {
            bail!(
                "{} does not exist: build the appliance with `cargo build --release -p crossline` or pass --binary \
                 PATH",
                spec.binary.display()
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("crossline-bench-cluster-")
            .tempdir()
            .context("creating the cluster's temporary directory")?;
        let example = example_config(&spec.binary)?;
        let addrs = (0..spec.nodes)
            .map(|_| {
                Ok(NodeAddrs {
                    order_entry: free_addr()?,
                    admin: free_addr()?,
                    raft: free_addr()?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut configs = Vec::new();
        for index in 0..spec.nodes {
            let data = dir.path().join(format!("node{}", index + 1));
            let text = node_config(&example, &spec, &addrs, index, &data)?;
            let path = dir.path().join(format!("node{}.toml", index + 1));
            std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            configs.push(path);
        }
        let mut cluster = Cluster {
            spec,
            addrs,
            configs,
            nodes: Vec::new(),
            _dir: dir,
        };
        // The nodes start one after the other: each waits for its peers' Raft listeners only through Raft itself.
        for index in 0..cluster.spec.nodes {
            let node = Node::start(&cluster.spec.binary, &cluster.configs[index])
                .with_context(|| format!("starting node {}", index + 1))?;
            cluster.nodes.push(Some(node));
        }
        Ok(cluster)
    }

    pub fn len(&self) -> usize {
        self.addrs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.addrs.is_empty()
    }

    pub fn is_running(&self, index: usize) -> bool {
        self.nodes.get(index).is_some_and(Option::is_some)
    }

    /// Every node's order entry address, in node order (the client library's address list).
    pub fn order_entry(&self) -> Vec<SocketAddr> {
        self.addrs.iter().map(|a| a.order_entry).collect()
    }

    /// The node whose order entry address is `addr`.
    pub fn index_of(&self, addr: SocketAddr) -> Option<usize> {
        self.addrs.iter().position(|a| a.order_entry == addr)
    }

    /// SIGKILL of node `index`; returns when the process is gone.
    pub fn kill(&mut self, index: usize) -> anyhow::Result<()> {
        let node = self.nodes[index]
            .take()
            .with_context(|| format!("node {} is not running", index + 1))?;
        node.kill();
        Ok(())
    }

    /// Starts node `index` again on its configuration (its data directory as it was left) and waits until it is
    /// ready.
    pub fn restart(&mut self, index: usize) -> anyhow::Result<()> {
        self.respawn(index)?;
        let deadline = Instant::now() + READY_TIMEOUT;
        while !self.poll_ready(index)? {
            if Instant::now() >= deadline {
                bail!("node {} was not ready within {READY_TIMEOUT:?}", index + 1);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }

    /// Starts node `index` again without waiting (see `poll_ready`); the cluster owns it from now on.
    pub fn respawn(&mut self, index: usize) -> anyhow::Result<()> {
        if self.is_running(index) {
            bail!("node {} is already running", index + 1);
        }
        let node = Node::spawn(&self.spec.binary, &self.configs[index])
            .with_context(|| format!("restarting node {}", index + 1))?;
        self.nodes[index] = Some(node);
        Ok(())
    }

    /// True once node `index` has said it is ready.
    pub fn poll_ready(&mut self, index: usize) -> anyhow::Result<bool> {
        match self.nodes[index].as_mut() {
            Some(node) => node
                .poll_ready()
                .with_context(|| format!("node {}", index + 1)),
            None => bail!("node {} is not running", index + 1),
        }
    }

    /// SIGTERM to every running node (SIGKILL after a timeout); true if all exited by themselves.
    pub fn stop_all(&mut self) -> bool {
        let mut clean = true;
        for slot in &mut self.nodes {
            if let Some(node) = slot.take() {
                clean &= node.stop();
            }
        }
        clean
    }

    /// The last lines every node wrote (standard output since the last call, standard error since it first
    /// started), for an error message.
    pub fn output_tail(&self) -> String {
        let mut out = Vec::new();
        for (index, config) in self.configs.iter().enumerate() {
            let mut lines = self.drain_lines(index);
            if let Ok(text) = std::fs::read_to_string(config.with_extension("stderr")) {
                lines.extend(text.lines().map(str::to_string));
            }
            let tail: Vec<&String> = lines.iter().rev().take(6).rev().collect();
            out.push(format!("node {}: {tail:?}", index + 1));
        }
        out.join("; ")
    }

    /// The output of node `index` since the last call.
    pub fn drain_lines(&self, index: usize) -> Vec<String> {
        self.nodes[index]
            .as_ref()
            .map(Node::drain_lines)
            .unwrap_or_default()
    }

    /// GET /health of node `index`; None if it does not answer.
    pub fn health(&self, index: usize) -> Option<HealthView> {
        let (status, body) = http_get(self.addrs[index].admin, "/health").ok()?;
        if status != 200 {
            return None;
        }
        let value: Value = serde_json::from_str(&body).ok()?;
        Some(HealthView {
            role: value["role"].as_str().unwrap_or("").to_string(),
            engine_seq: value["engine_seq"].as_u64().unwrap_or(0),
            applied_seq: value["applied_seq"].as_u64().unwrap_or(0),
            state_hash: value["state_hash"].as_str().unwrap_or("").to_string(),
            cluster: value["cluster"].clone(),
        })
    }

    /// GET /metrics of node `index` (Prometheus text).
    pub fn metrics(&self, index: usize) -> anyhow::Result<String> {
        let (status, body) = http_get(self.addrs[index].admin, "/metrics")?;
        if status != 200 {
            bail!("GET /metrics of node {} answered {status}", index + 1);
        }
        Ok(body)
    }

    /// Waits until a running node other than `except` says it leads and has its instruments (engine seq >= 10).
    pub fn wait_for_leader(
        &self,
        except: Option<usize>,
        timeout: Duration,
    ) -> anyhow::Result<usize> {
        let deadline = Instant::now() + timeout;
        loop {
            for index in 0..self.len() {
                if Some(index) == except || !self.is_running(index) {
                    continue;
                }
                if let Some(health) = self.health(index) {
                    if health.role == "leader" && health.engine_seq >= 10 {
                        return Ok(index);
                    }
                }
            }
            if Instant::now() >= deadline {
                bail!("no node became leader within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every running node's health, in node order (None for a node that did not answer).
    pub fn views(&self) -> Vec<(usize, Option<HealthView>)> {
        (0..self.len())
            .filter(|index| self.is_running(*index))
            .map(|index| (index, self.health(index)))
            .collect()
    }

    /// Waits (at most `timeout`) until every running node reports the same engine seq and state hash and has
    /// applied all of it. Returns the last views seen and whether they agreed.
    pub fn wait_until_converged(
        &self,
        timeout: Duration,
    ) -> (bool, Vec<(usize, Option<HealthView>)>) {
        let deadline = Instant::now() + timeout;
        loop {
            let views = self.views();
            let agreed = views.iter().all(|(_, view)| view.is_some()) && {
                let first = views.first().and_then(|(_, v)| v.as_ref());
                views.iter().all(|(_, view)| match (view, first) {
                    (Some(view), Some(first)) => {
                        view.engine_seq == first.engine_seq
                            && view.state_hash == first.state_hash
                            && view.applied_seq == view.engine_seq
                    }
                    _ => false,
                })
            };
            if agreed || Instant::now() >= deadline {
                return (agreed, views);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for slot in &mut self.nodes {
            if let Some(node) = slot.take() {
                node.kill();
            }
        }
    }
}

/// `crossline config example`'s text.
fn example_config(binary: &Path) -> anyhow::Result<String> {
    let out = Command::new(binary)
        .args(["config", "example"])
        .output()
        .with_context(|| format!("running {} config example", binary.display()))?;
    if !out.status.success() {
        bail!("{} config example failed", binary.display());
    }
    String::from_utf8(out.stdout).context("the example configuration is not UTF-8")
}

/// Replaces `from` (which must occur) by `to` in `text`.
fn replace_required(text: &str, from: &str, to: &str) -> anyhow::Result<String> {
    if !text.contains(from) {
        bail!("the example configuration changed shape: no `{from}`");
    }
    Ok(text.replace(from, to))
}

/// Node `index`'s configuration: the example with its fixed ports, its own data directory, the feed's ports
/// chosen by the kernel, threads not pinned, 8 MiB journal segments, the spec's ack policy and idle strategy, and
/// (for more than one node) a `[cluster]` section naming the others as peers.
fn node_config(
    example: &str,
    spec: &ClusterSpec,
    addrs: &[NodeAddrs],
    index: usize,
    data_dir: &Path,
) -> anyhow::Result<String> {
    let own = addrs[index];
    let idle = &spec.idle;
    let mut text = example.to_string();
    for (from, to) in [
        (
            "data_dir = \"crossline-data\"".to_string(),
            format!("data_dir = {:?}", data_dir.display().to_string()),
        ),
        (
            "listen = \"127.0.0.1:15000\"".to_string(),
            format!("listen = \"{}\"", own.order_entry),
        ),
        (
            "listen = \"127.0.0.1:18080\"".to_string(),
            format!("listen = \"{}\"", own.admin),
        ),
        (
            "retransmit_listen = \"127.0.0.1:16001\"".to_string(),
            "retransmit_listen = \"127.0.0.1:0\"".to_string(),
        ),
        (
            "tcp_listen = \"127.0.0.1:16002\"".to_string(),
            "tcp_listen = \"127.0.0.1:0\"".to_string(),
        ),
        (
            "snapshot_listen = \"127.0.0.1:16003\"".to_string(),
            "snapshot_listen = \"127.0.0.1:0\"".to_string(),
        ),
        (
            "segment_bytes = 268435456".to_string(),
            "segment_bytes = 8388608".to_string(),
        ),
        (
            "policy = \"local\"".to_string(),
            format!("policy = {:?}", spec.ack),
        ),
        (
            "gateway = { idle = \"spin-then-yield\" }".to_string(),
            format!("gateway = {{ idle = {idle:?} }}"),
        ),
        // A cluster node's engine has a thread of its own (its standby engine follows the replicated journal).
        (
            "engine = { thread = \"gateway\" }".to_string(),
            format!("engine = {{ idle = {idle:?} }}"),
        ),
    ] {
        text = replace_required(&text, &from, &to)?;
    }
    if spec.nodes > 1 {
        let peers: Vec<String> = addrs
            .iter()
            .enumerate()
            .filter(|(other, _)| *other != index)
            .map(|(other, a)| format!("{{ id = {}, addr = \"{}\" }}", other + 1, a.raft))
            .collect();
        let timing = spec.timing;
        let section = format!(
            "[cluster]\nnode_id = {}\nlisten = \"{}\"\npeers = [{}]\ntoken = \"{TOKEN}\"\nheartbeat_ms = {}\n\
             election_min_ms = {}\nelection_max_ms = {}\n{}\n[[fee_tiers]]",
            index + 1,
            own.raft,
            peers.join(", "),
            timing.heartbeat_ms,
            timing.election_min_ms,
            timing.election_max_ms,
            spec.log_fsync
                .map_or(String::new(), |on| format!("log_fsync = {on}\n"))
        );
        if !text.contains("[[fee_tiers]]") {
            bail!("the example configuration changed shape: no [[fee_tiers]]");
        }
        text = text.replacen("[[fee_tiers]]", &section, 1);
    }
    Ok(text)
}

/// GET `path` from `addr` over HTTP/1.1 with `Connection: close`; (status, body). Bounded by `HTTP_TIMEOUT`.
pub fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, HTTP_TIMEOUT)
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(HTTP_TIMEOUT))?;
    stream.set_write_timeout(Some(HTTP_TIMEOUT))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: crossline\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .with_context(|| format!("reading GET {path} from {addr}"))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .with_context(|| format!("GET {path} from {addr}: no end of headers"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("GET {path} from {addr}: no status"))?;
    Ok((status, body.to_string()))
}

/// A Prometheus histogram's cumulative buckets: (upper bound in ns, cumulative count), ascending, `+Inf` as
/// `u64::MAX`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Buckets(pub Vec<(u64, u64)>);

impl Buckets {
    /// The buckets of `crossline_{name}_bucket` in `text`, le converted from seconds to nanoseconds.
    pub fn parse(text: &str, name: &str) -> Buckets {
        let prefix = format!("crossline_{name}_bucket{{le=\"");
        let mut out = Vec::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix(&prefix) else {
                continue;
            };
            let Some((le, count)) = rest.split_once("\"}") else {
                continue;
            };
            let Ok(count) = count.trim().parse::<u64>() else {
                continue;
            };
            let upper = if le == "+Inf" {
                u64::MAX
            } else {
                match seconds_to_ns(le) {
                    Some(ns) => ns,
                    None => continue,
                }
            };
            out.push((upper, count));
        }
        out.sort_unstable();
        Buckets(out)
    }

    pub fn count(&self) -> u64 {
        self.0.last().map_or(0, |(_, count)| *count)
    }

    /// These counts minus `earlier`'s (the samples recorded in between), bucket by bucket.
    pub fn since(&self, earlier: &Buckets) -> Buckets {
        Buckets(
            self.0
                .iter()
                .map(|(upper, count)| {
                    let before = earlier
                        .0
                        .iter()
                        .find(|(u, _)| u == upper)
                        .map_or(0, |(_, c)| *c);
                    (*upper, count.saturating_sub(before))
                })
                .collect(),
        )
    }

    /// The sum of two histograms with the same bounds.
    pub fn add(&self, other: &Buckets) -> Buckets {
        if self.0.is_empty() {
            return other.clone();
        }
        Buckets(
            self.0
                .iter()
                .map(|(upper, count)| {
                    let more = other
                        .0
                        .iter()
                        .find(|(u, _)| u == upper)
                        .map_or(0, |(_, c)| *c);
                    (*upper, count + more)
                })
                .collect(),
        )
    }

    /// The upper bound of the bucket holding quantile `q` (the smallest bound with at least `ceil(q * count)`
    /// samples at or below it); `u64::MAX` for the `+Inf` bucket, None without samples.
    pub fn quantile_upper_bound(&self, q: f64) -> Option<u64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        self.0
            .iter()
            .find(|(_, cumulative)| *cumulative >= rank)
            .map(|(upper, _)| *upper)
    }

    /// The upper bound of the highest bucket with a sample.
    pub fn max_upper_bound(&self) -> Option<u64> {
        let mut previous = 0;
        let mut highest = None;
        for (upper, cumulative) in &self.0 {
            if *cumulative > previous {
                highest = Some(*upper);
            }
            previous = *cumulative;
        }
        highest
    }
}

/// "0.000131072" -> 131072; exact for up to 9 decimals.
fn seconds_to_ns(text: &str) -> Option<u64> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 9 {
        return None;
    }
    let whole: u64 = whole.parse().ok()?;
    let frac_ns: u64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    whole.checked_mul(1_000_000_000)?.checked_add(frac_ns)
}

/// The value of the gauge `crossline_{name}` in `text`.
pub fn gauge(text: &str, name: &str) -> Option<u64> {
    let prefix = format!("crossline_{name} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|value| value.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# TYPE crossline_replication_lag_seconds histogram\n\
        crossline_replication_lag_seconds_bucket{le=\"0.000001024\"} 0\n\
        crossline_replication_lag_seconds_bucket{le=\"0.000002048\"} 50\n\
        crossline_replication_lag_seconds_bucket{le=\"0.000004096\"} 99\n\
        crossline_replication_lag_seconds_bucket{le=\"1\"} 100\n\
        crossline_replication_lag_seconds_bucket{le=\"+Inf\"} 100\n\
        crossline_replication_lag_seconds_sum 0.5\n\
        crossline_replication_lag_max_ns 700000000\n";

    #[test]
    fn buckets_parse_and_give_upper_bounds() {
        let buckets = Buckets::parse(TEXT, "replication_lag_seconds");
        assert_eq!(buckets.0.len(), 5);
        assert_eq!(buckets.count(), 100);
        assert_eq!(buckets.quantile_upper_bound(0.5), Some(2048));
        assert_eq!(buckets.quantile_upper_bound(0.99), Some(4096));
        assert_eq!(buckets.quantile_upper_bound(0.999), Some(1_000_000_000));
        assert_eq!(buckets.max_upper_bound(), Some(1_000_000_000));
        assert_eq!(gauge(TEXT, "replication_lag_max_ns"), Some(700_000_000));
        let none = buckets.since(&buckets);
        assert_eq!(none.count(), 0);
        assert_eq!(none.quantile_upper_bound(0.5), None);
        assert_eq!(buckets.add(&buckets).count(), 200);
    }

    #[test]
    fn seconds_convert_exactly() {
        assert_eq!(seconds_to_ns("0.000131072"), Some(131_072));
        assert_eq!(seconds_to_ns("2"), Some(2_000_000_000));
        assert_eq!(seconds_to_ns("1.5"), Some(1_500_000_000));
    }
}
