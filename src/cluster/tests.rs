//! Cluster tests: three in-process nodes on 127.0.0.1 with temporary journals; replication to byte-identical
//! journals, failover, the old leader's return, the token, the log store and its cost. Every wait is bounded.

use super::*;
use crossline_engine::{Command, CommandBody, NewOrder, OrderType, Side, TimeInForce};
use crossline_journal::{FsyncPolicy, JournalConfig, JournalReader, Verdict};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const TOKEN: &str = "crossline-test-cluster-token";
/// Small segments so that replication crosses several rollovers.
const SEGMENT_BYTES: u64 = 256 << 10;

fn journal_config() -> JournalConfig {
    JournalConfig {
        segment_bytes: SEGMENT_BYTES,
        fsync: FsyncPolicy::None,
        first_seq: 1,
        ..JournalConfig::default()
    }
}

fn command(seq: u64) -> Command {
    Command {
        seq,
        timestamp_ns: 1_700_000_000_000_000_000 + seq * 1_000,
        body: CommandBody::NewOrder(NewOrder {
            session: (seq % 7) as u32 + 1,
            account: (seq % 13) as u32 + 1,
            user_ref: seq as u32,
            instrument: 1,
            side: if seq.is_multiple_of(2) {
                Side::Buy
            } else {
                Side::Sell
            },
            order_type: OrderType::Limit,
            time_in_force: TimeInForce::Day,
            price: 100_0000 + (seq % 50) as i64,
            qty: 1 + seq % 10,
            min_qty: 0,
            display_qty: 0,
            post_only: false,
            expire_time_ns: 0,
            group: 0,
        }),
    }
}

/// Counts the committed records replication tells the application about and checks they come in order, without
/// gaps.
#[derive(Default)]
struct TestApp {
    state: Mutex<AppState>,
}

#[derive(Default)]
struct AppState {
    first_received: Option<u64>,
    last_received: u64,
    received: u64,
    gaps: Vec<(u64, u64)>,
    installed: Vec<u64>,
}

impl ClusterApp for TestApp {
    fn on_committed(&self, first_seq: u64, last_seq: u64) {
        let mut state = self.state.lock().unwrap();
        if state.first_received.is_none() {
            state.first_received = Some(first_seq);
        } else if first_seq != state.last_received + 1 {
            let gap = (state.last_received, first_seq);
            state.gaps.push(gap);
        }
        state.last_received = last_seq;
        state.received += last_seq + 1 - first_seq;
    }

    fn build_snapshot(&self, applied_seq: u64) -> Result<(u64, Vec<u8>), String> {
        Ok((
            applied_seq,
            format!("engine state at {applied_seq}").into_bytes(),
        ))
    }

    fn install_snapshot(&self, seq: u64, _payload: &[u8]) -> Result<(), String> {
        self.state.lock().unwrap().installed.push(seq);
        Ok(())
    }
}

/// Multi-node tests run one at a time: six Raft runtimes on a 2-vCPU box starve each other's heartbeats.
static CLUSTERS: Mutex<()> = Mutex::new(());

fn one_cluster_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    CLUSTERS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn cluster_config(id: u64, ports: &[(u64, u16)], token: &str) -> ClusterConfig {
    let port = ports.iter().find(|(i, _)| *i == id).unwrap().1;
    ClusterConfig {
        node_id: id,
        listen: format!("127.0.0.1:{port}"),
        peers: ports
            .iter()
            .filter(|(i, _)| *i != id)
            .map(|(i, p)| PeerConfig {
                id: *i,
                addr: format!("127.0.0.1:{p}"),
                learner: false,
            })
            .collect(),
        token: token.into(),
        heartbeat_ms: 50,
        election_min_ms: 150,
        election_max_ms: 300,
        learner: false,
        batch_max_records: 256,
        batch_max_us: 100,
        log_fsync: true,
        snapshot_entries: 10_000,
        snapshot_keep_entries: 1_000,
        state_check_interval_ms: 0,
        health: HealthConfig {
            interval_ms: 50,
            timeout_ms: 100,
            ..HealthConfig::default()
        },
    }
}

struct TestNode {
    id: u64,
    config: ClusterConfig,
    journal_dir: PathBuf,
    raft_dir: PathBuf,
    app: Arc<TestApp>,
    node: Option<ClusterNode>,
}

impl TestNode {
    fn start(id: u64, config: ClusterConfig, root: &Path) -> TestNode {
        let journal_dir = root.join(format!("node{id}/journal"));
        let raft_dir = root.join(format!("node{id}/raft"));
        std::fs::create_dir_all(&journal_dir).unwrap();
        let mut node = TestNode {
            id,
            config,
            journal_dir,
            raft_dir,
            app: Arc::new(TestApp::default()),
            node: None,
        };
        node.restart();
        node
    }

    fn restart(&mut self) {
        assert!(self.node.is_none());
        self.app = Arc::new(TestApp::default());
        let journal = JournalSlot::open(&self.journal_dir, journal_config()).unwrap();
        let app: Arc<dyn ClusterApp> = self.app.clone();
        self.node = Some(
            ClusterNode::start(self.config.clone(), &self.raft_dir, journal, app)
                .unwrap_or_else(|err| panic!("node {}: {err}", self.id)),
        );
    }

    fn node(&self) -> &ClusterNode {
        self.node.as_ref().expect("running")
    }

    fn stop(&mut self) {
        self.node.take().expect("running").shutdown().unwrap();
    }

    fn committed(&self) -> u64 {
        self.node().committed_seq().load(Ordering::Acquire)
    }
}

fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

fn leader_of(nodes: &[TestNode]) -> Option<usize> {
    let leaders: Vec<usize> = nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.node.as_ref().is_some_and(|node| node.is_leader()))
        .map(|(i, _)| i)
        .collect();
    (leaders.len() == 1).then(|| leaders[0])
}

/// The engine's side on a leader: appends `from..=to` in journal batches of 64 and hands the writer back.
fn append_commands(mut writer: JournalWriter, from: u64, to: u64) -> JournalWriter {
    assert_eq!(writer.next_seq(), from);
    for seq in from..=to {
        writer.append(&command(seq)).unwrap();
        if seq % 64 == 0 || seq == to {
            writer.commit_batch().unwrap();
        }
    }
    writer
}

fn segment_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".seg"))
        .collect();
    names.sort();
    names
}

/// `follower`'s journal is a byte-identical prefix of `leader`'s: every segment header and every published frame
/// (and seal) is the same byte for byte; only the checkpoint block (bytes 64..128, which records when each node
/// synced) may differ. Returns the number of frames compared.
fn assert_byte_identical_prefix(follower: &Path, leader: &Path) -> u64 {
    let frame = crossline_journal::FRAME_BYTES;
    let first = crossline_journal::FIRST_FRAME_OFFSET_BYTES;
    let mut frames = 0;
    for name in segment_files(follower) {
        let f = std::fs::read(follower.join(&name)).unwrap();
        let l = std::fs::read(leader.join(&name))
            .unwrap_or_else(|err| panic!("leader lacks {name}: {err}"));
        assert_eq!(f.len(), l.len(), "{name}: sizes differ");
        assert_eq!(f[..64], l[..64], "{name}: headers differ");
        let mut offset = first;
        while offset + 4 <= f.len() {
            let word = u32::from_le_bytes(f[offset..offset + 4].try_into().unwrap());
            if word == 0 {
                break;
            }
            if word == u32::MAX {
                assert_eq!(f[offset..offset + 4], l[offset..offset + 4], "{name}: seal");
                break;
            }
            assert_eq!(
                f[offset..offset + frame],
                l[offset..offset + frame],
                "{name}: frame at offset {offset} differs"
            );
            frames += 1;
            offset += frame;
        }
    }
    frames
}

fn journal_seqs(dir: &Path) -> (u64, u64) {
    let mut reader = JournalReader::open(dir).unwrap();
    let mut count = 0;
    let mut last = 0;
    while let Some(record) = reader.next_record().unwrap() {
        assert_eq!(record.seq, last + 1);
        last = record.seq;
        count += 1;
    }
    (count, last)
}

#[test]
fn cluster_replicates_fails_over_and_the_old_leader_catches_up() {
    // The documented defaults: heartbeat 40 ms, election timeout 120-200 ms. How long the failover takes is
    // measured by `crossline-bench failover`, not asserted here.
    let failover = replicate_fail_over_and_catch_up((40, 120, 200), (20_000, 5_000));
    println!("failover (stop of the leader to a new leader ready): {failover:?}");
}

/// Three nodes: replicate, stop the leader, measure the failover (returned), continue on the new leader, restart
/// the old one and check that it catches up; every journal byte-identical at the end.
#[allow(non_snake_case)]
fn replicate_fail_over_and_catch_up(
    (heartbeat_ms, election_min_ms, election_max_ms): (u64, u64, u64),
    (N1, N2): (u64, u64),
) -> Duration {
    let _serial = one_cluster_at_a_time();
    let root = tempfile::tempdir().unwrap();
    let ports: Vec<(u64, u16)> = (1..=3).map(|id| (id, free_port())).collect();
    let mut nodes: Vec<TestNode> = (1..=3)
        .map(|id| {
            let mut config = cluster_config(id, &ports, TOKEN);
            config.heartbeat_ms = heartbeat_ms;
            config.election_min_ms = election_min_ms;
            config.election_max_ms = election_max_ms;
            TestNode::start(id, config, root.path())
        })
        .collect();

    // 1. A leader is elected and ready.
    let elected = wait_until(Duration::from_secs(5), || {
        leader_of(&nodes).is_some_and(|i| nodes[i].node().ready_to_serve())
    })
    .expect("no leader within 5 s");
    let first = leader_of(&nodes).unwrap();
    eprintln!("cluster: node {} elected in {elected:?}", nodes[first].id);

    // 2. The leader's engine appends N1 commands; the replicator ships them.
    let writer = nodes[first].node().take_journal_writer().expect("writer");
    let replicator = nodes[first]
        .node()
        .start_replicator(writer.next_seq())
        .unwrap();
    let started = Instant::now();
    let engine = std::thread::spawn(move || append_commands(writer, 1, N1));
    let writer = engine.join().unwrap();
    let replicated = wait_until(Duration::from_secs(20), || {
        nodes.iter().all(|n| n.committed() == N1)
    })
    .unwrap_or_else(|| {
        panic!(
            "not replicated within 20 s: {:?}",
            nodes.iter().map(|n| n.node().status()).collect::<Vec<_>>()
        )
    });
    let elapsed = started.elapsed();
    eprintln!(
        "cluster: {N1} records committed on all three nodes {elapsed:?} after the first append \
         ({:.0} records/s); leader's raft log {} bytes ({:.1} bytes/record)",
        N1 as f64 / elapsed.as_secs_f64(),
        nodes[first].node().log_appended_bytes(),
        nodes[first].node().log_appended_bytes() as f64 / N1 as f64
    );
    let _ = replicated;
    for (i, n) in nodes.iter().enumerate() {
        if i == first {
            continue;
        }
        wait_until(Duration::from_secs(2), || {
            n.node().status().journal_written_seq == N1
        })
        .unwrap();
        let state = n.app.state.lock().unwrap();
        assert_eq!(
            (state.first_received, state.last_received, state.received),
            (Some(1), N1, N1)
        );
        assert!(state.gaps.is_empty());
        drop(state);
        assert_eq!(
            assert_byte_identical_prefix(&n.journal_dir, &nodes[first].journal_dir),
            N1
        );
    }
    // The leader's own records are not announced to its application (its engine wrote them).
    assert_eq!(nodes[first].app.state.lock().unwrap().received, 0);
    let status = nodes[first].node().status();
    assert_eq!(status.state, "Leader");
    assert_eq!(status.voters, vec![1, 2, 3]);
    assert_eq!(status.peers.len(), 2);
    let healthy = wait_until(Duration::from_secs(2), || {
        nodes[first]
            .node()
            .status()
            .peers
            .iter()
            .all(|p| p.healthy && p.checks >= 2)
    });
    assert!(healthy.is_some(), "{:?}", nodes[first].node().status());

    // 3. Stop the leader (everything it wrote is committed): a new leader within the bound.
    let exit = replicator.stop();
    assert_eq!(
        exit,
        ReplicatorExit {
            proposed_seq: N1,
            error: None
        }
    );
    nodes[first].node().return_journal_writer(writer);
    let stop_started = Instant::now();
    nodes[first].stop();
    let stopped_in = stop_started.elapsed();
    let failover = wait_until(Duration::from_secs(5), || {
        leader_of(&nodes).is_some_and(|i| nodes[i].node().ready_to_serve())
    })
    .expect("no new leader within 5 s");
    let total = stop_started.elapsed();
    let second = leader_of(&nodes).unwrap();
    assert_ne!(second, first);
    eprintln!(
        "cluster [{heartbeat_ms}/{election_min_ms}-{election_max_ms} ms]: leader node {} stopped in {stopped_in:?}; \
         node {} leads and is ready {failover:?} later ({total:?} from the stop)",
        nodes[first].id, nodes[second].id
    );

    // 4. The new leader continues the journal.
    let writer = nodes[second].node().take_journal_writer().expect("writer");
    assert_eq!(writer.next_seq(), N1 + 1);
    let replicator = nodes[second].node().start_replicator(N1 + 1).unwrap();
    let writer = std::thread::spawn(move || append_commands(writer, N1 + 1, N1 + N2))
        .join()
        .unwrap();
    let third = 3 - first - second;
    wait_until(Duration::from_secs(20), || {
        nodes[second].committed() == N1 + N2 && nodes[third].committed() == N1 + N2
    })
    .expect("new leader's records not replicated within 20 s");

    // 5. The old leader restarts and catches up.
    let restart_started = Instant::now();
    nodes[first].restart();
    let caught_up = wait_until(Duration::from_secs(20), || {
        nodes[first].committed() == N1 + N2
            && nodes[first].node().status().journal_written_seq == N1 + N2
    })
    .unwrap_or_else(|| {
        panic!(
            "old leader did not catch up: {:?}",
            nodes[first].node().status()
        )
    });
    eprintln!(
        "cluster: old leader node {} restarted and caught up {N2} records in {:?}",
        nodes[first].id,
        restart_started.elapsed()
    );
    let _ = caught_up;
    {
        // It recovered what it knew committed (its persisted commit point may lag); the rest is announced.
        let state = nodes[first].app.state.lock().unwrap();
        let first_received = state.first_received.expect("records announced");
        assert!(first_received <= N1 + 1, "{first_received}");
        assert_eq!(
            (state.last_received, state.received),
            (N1 + N2, N1 + N2 + 1 - first_received)
        );
        assert!(state.gaps.is_empty());
    }
    assert_eq!(nodes[first].node().status().state, "Follower");

    // 6. Every journal is the same, byte for byte, and verifies clean.
    let exit = replicator.stop();
    assert_eq!(exit.error, None);
    nodes[second].node().return_journal_writer(writer);
    for n in &nodes {
        if n.id != nodes[second].id {
            assert_eq!(
                assert_byte_identical_prefix(&n.journal_dir, &nodes[second].journal_dir),
                N1 + N2
            );
        }
    }
    for n in &mut nodes {
        n.stop();
    }
    for n in &nodes {
        assert_eq!(journal_seqs(&n.journal_dir), (N1 + N2, N1 + N2));
        let report = crossline_journal::verify(&n.journal_dir).unwrap();
        assert_eq!(
            report.verdict,
            Verdict::Clean,
            "node {}: {:?}",
            n.id,
            report
        );
    }
    total
}

#[test]
fn cluster_refuses_a_peer_without_the_token() {
    let _serial = one_cluster_at_a_time();
    let root = tempfile::tempdir().unwrap();
    let ports = vec![(1, free_port()), (2, free_port())];
    // Node 1 bootstraps {1, 2}, but node 2 holds another token: no vote can pass, no leader.
    let a = TestNode::start(1, cluster_config(1, &ports, TOKEN), root.path());
    let b = TestNode::start(
        2,
        cluster_config(2, &ports, "another-cluster-token-entirely"),
        root.path(),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let addr = a.node().local_addr().to_string();
    runtime.block_on(async {
        let mut good = PeerClient::new(1, addr.clone(), Arc::from(TOKEN), None);
        good.ping(Duration::from_secs(1))
            .await
            .expect("the right token is accepted");
        let mut bad = PeerClient::new(
            1,
            addr.clone(),
            Arc::from("crossline-test-cluster-tokem"),
            None,
        );
        let err = bad.ping(Duration::from_secs(1)).await.unwrap_err();
        assert!(matches!(err, CallError::Refused { .. }), "{err}");
        let mut short = PeerClient::new(1, addr.clone(), Arc::from("x"), None);
        assert!(matches!(
            short.ping(Duration::from_secs(1)).await.unwrap_err(),
            CallError::Refused { .. }
        ));
        // A raw peer that sends a wrong token and then a request gets the connection closed, nothing else.
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut raw = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let token = b"not-the-token-at-all";
        raw.write_all(&(token.len() as u32).to_le_bytes())
            .await
            .unwrap();
        raw.write_all(token).await.unwrap();
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(Duration::from_secs(1), raw.read(&mut buf))
            .await
            .expect("closed promptly");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    });
    std::thread::sleep(Duration::from_millis(800));
    let mut nodes = [a, b];
    assert_eq!(leader_of(&nodes), None);
    let peer = &nodes[0].node().status().peers[0];
    assert!(!peer.active_healthy, "{peer:?}");
    assert!(
        peer.last_error
            .as_deref()
            .is_some_and(|e| e.contains("refused the cluster token")),
        "{peer:?}"
    );
    for n in &mut nodes {
        n.stop();
    }
}

#[test]
fn cluster_token_comparison() {
    assert!(token_matches(b"abcdef", b"abcdef"));
    assert!(!token_matches(b"abcdeg", b"abcdef"));
    assert!(!token_matches(b"abcde", b"abcdef"));
    assert!(!token_matches(b"", b"abcdef"));
}

#[test]
fn cluster_peer_health_counts_actively_and_passively() {
    let config = HealthConfig {
        interval_ms: 10,
        timeout_ms: 10,
        passes: 2,
        fails: 3,
        passive_fails: 2,
        passive_window_ms: 60_000,
    };
    let peer = PeerHealth::new(2, "127.0.0.1:1".into(), config);
    assert!(peer.status().healthy);
    peer.record_check(Err("down".into()));
    peer.record_check(Err("down".into()));
    assert!(peer.status().active_healthy);
    peer.record_check(Err("down".into()));
    assert!(!peer.status().active_healthy);
    peer.record_check(Ok(Duration::from_micros(80)));
    assert!(!peer.status().active_healthy);
    peer.record_check(Ok(Duration::from_micros(90)));
    let status = peer.status();
    assert!(status.active_healthy && status.healthy);
    assert_eq!(status.last_rtt_us, Some(90));
    peer.record_rpc_failure("reset".into());
    assert!(peer.status().healthy);
    peer.record_rpc_failure("reset".into());
    let status = peer.status();
    assert!(status.passive_tripped && !status.healthy);
    assert_eq!(status.total_rpc_failures, 2);
}

#[test]
fn cluster_config_parses_and_refuses_unknown_fields() {
    let text = r#"
        node_id = 1
        listen = "127.0.0.1:7001"
        token = "0123456789abcdef0123"
        learner = false
        peers = [{ id = 2, addr = "127.0.0.1:7002" }, { id = 3, addr = "127.0.0.1:7003", learner = true }]
    "#;
    let config: ClusterConfig = toml::from_str(text).unwrap();
    config.validate().unwrap();
    assert_eq!(
        (
            config.heartbeat_ms,
            config.election_min_ms,
            config.election_max_ms
        ),
        (40, 120, 200)
    );
    assert_eq!(
        config.voters(),
        vec![(1, "127.0.0.1:7001".into()), (2, "127.0.0.1:7002".into())]
    );
    assert!(toml::from_str::<ClusterConfig>(&format!("{text}\nheartbeat = 5")).is_err());
    let mut bad = config.clone();
    bad.election_min_ms = 60;
    assert!(bad.validate().is_err());
    let mut bad = config.clone();
    bad.token = "short".into();
    assert!(bad.validate().is_err());
    let mut bad = config;
    bad.peers[0].id = 1;
    assert!(bad.validate().is_err());
}

#[test]
fn cluster_batch_round_trips_and_matches_the_journal_payload() {
    let mut builder = BatchBuilder::with_capacity(4);
    for seq in 10..14 {
        builder.push(&command(seq)).unwrap();
    }
    assert!(matches!(
        builder.push(&command(20)),
        Err(BatchError::WrongSeq {
            expected: 14,
            found: 20,
            ..
        })
    ));
    let batch = builder.take();
    assert!(builder.is_empty());
    assert_eq!(
        (batch.first_seq, batch.len(), batch.last_seq()),
        (10, 4, 13)
    );
    assert_eq!(
        batch.commands().unwrap(),
        (10..14).map(command).collect::<Vec<_>>()
    );
    let wire = bincode::serialize(&batch).unwrap();
    assert!(
        wire.len() < batch.records.len() + 32,
        "compact: {} bytes",
        wire.len()
    );
    let back: Batch = bincode::deserialize(&wire).unwrap();
    assert_eq!(back, batch);

    // The batch's bytes are the journal frames' payloads.
    let dir = tempfile::tempdir().unwrap();
    let (mut writer, _) = JournalWriter::open(dir.path(), journal_config()).unwrap();
    writer.append(&command(1)).unwrap();
    writer.close().unwrap();
    let mut one = BatchBuilder::default();
    one.push(&command(1)).unwrap();
    let one = one.take();
    let segment = std::fs::read(dir.path().join(crossline_journal::segment_file_name(1))).unwrap();
    let payload_at =
        crossline_journal::FIRST_FRAME_OFFSET_BYTES + crossline_journal::FRAME_HEADER_BYTES;
    assert_eq!(
        &segment[payload_at..payload_at + crossline_journal::ARCHIVED_COMMAND_BYTES],
        one.record_bytes(0)
    );
}

fn entry(term: u64, index: u64, batch: Option<Batch>) -> types::Entry {
    openraft::Entry {
        log_id: openraft::LogId::new(openraft::CommittedLeaderId::new(term, 1), index),
        payload: match batch {
            Some(batch) => openraft::EntryPayload::Normal(batch),
            None => openraft::EntryPayload::Blank,
        },
    }
}

fn batch(first: u64, count: u64) -> Batch {
    let mut builder = BatchBuilder::default();
    for seq in first..first + count {
        builder.push(&command(seq)).unwrap();
    }
    builder.take()
}

fn log_journal(dir: &Path) -> Arc<Mutex<JournalSlot>> {
    std::fs::create_dir_all(dir).unwrap();
    Arc::new(Mutex::new(
        JournalSlot::open(dir, journal_config()).unwrap(),
    ))
}

#[test]
fn cluster_log_store_survives_reopen_truncate_and_a_torn_tail() {
    use openraft::storage::RaftLogStorage;
    use openraft::RaftLogReader;
    let dir = tempfile::tempdir().unwrap();
    let journal_dir = dir.path().join("journal");
    let raft_dir = dir.path().join("raft");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let journal = log_journal(&journal_dir);
        let mut log = LogStore::open(&raft_dir, true, Arc::clone(&journal)).unwrap();
        // A follower's log: the entries' records go into its journal.
        log.write_entries_synced((1..=10).map(|i| entry(1, i, Some(batch(1 + (i - 1) * 10, 10)))))
            .unwrap();
        assert_eq!(log.last_seq(), 100);
        assert_eq!(journal.lock().unwrap().last_seq(), 100);
        log.save_vote(&openraft::Vote::new(3, 2)).await.unwrap();
        // Raft truncates entries 8..=10: their records are cut from the journal.
        log.truncate(openraft::LogId::new(
            openraft::CommittedLeaderId::new(1, 1),
            8,
        ))
        .await
        .unwrap();
        assert_eq!(log.last_seq(), 70);
        assert_eq!(journal.lock().unwrap().last_seq(), 70);
        log.write_entries_synced([entry(2, 8, None)]).unwrap();
        log.purge(openraft::LogId::new(
            openraft::CommittedLeaderId::new(1, 1),
            2,
        ))
        .await
        .unwrap();
        drop(log);
        drop(journal);

        // A torn append at the end is cut at reopening.
        let path = raft_dir.join("raft-index");
        let mut bytes = std::fs::read(&path).unwrap();
        let good = bytes.len();
        // About 40 bytes an entry, whatever the batch's size.
        assert!(good < 11 * 64, "{good} bytes for 11 index records");
        bytes.extend_from_slice(&[200, 0, 0, 0, 1, 2, 3, 4, 5]);
        std::fs::write(&path, &bytes).unwrap();

        assert_eq!(
            journal_bounds(&raft_dir).unwrap(),
            LogBounds {
                last_seq: 70,
                committed_seq: 0
            }
        );
        let journal = log_journal(&journal_dir);
        let mut log = LogStore::open(&raft_dir, true, journal).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, good);
        assert_eq!(
            log.read_vote().await.unwrap(),
            Some(openraft::Vote::new(3, 2))
        );
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id.map(|id| id.index), Some(2));
        assert_eq!(
            state.last_log_id.map(|id| (id.leader_id.term, id.index)),
            Some((2, 8))
        );
        let entries = log.try_get_log_entries(0..100).await.unwrap();
        assert_eq!(
            entries.iter().map(|e| e.log_id.index).collect::<Vec<_>>(),
            (3..=8).collect::<Vec<_>>()
        );
        assert_eq!(log.last_seq(), 70);
        // The batches were read back from the journal.
        match &entries[0].payload {
            openraft::EntryPayload::Normal(b) => {
                assert_eq!(b.commands().unwrap(), batch(21, 10).commands().unwrap())
            }
            other => panic!("{other:?}"),
        }
    });
}

/// An index entry whose records the journal lost (never synced, so never acknowledged) is dropped at opening.
#[test]
fn cluster_log_store_drops_entries_the_journal_does_not_hold() {
    let dir = tempfile::tempdir().unwrap();
    let journal_dir = dir.path().join("journal");
    let raft_dir = dir.path().join("raft");
    let log = LogStore::open(&raft_dir, true, log_journal(&journal_dir)).unwrap();
    log.write_entries_synced((1..=5).map(|i| entry(1, i, Some(batch(1 + (i - 1) * 10, 10)))))
        .unwrap();
    drop(log);
    // The journal loses its last 15 records.
    crossline_journal::truncate_after(&journal_dir, 35).unwrap();
    let log = LogStore::open(&raft_dir, true, log_journal(&journal_dir)).unwrap();
    assert_eq!(log.last_seq(), 30);
}

/// What indexing costs on a follower: the records go into the journal, about 40 bytes an entry into the index
/// (printed; run with --nocapture).
#[test]
fn cluster_log_store_append_cost() {
    let _serial = one_cluster_at_a_time();
    const ENTRIES: u64 = 400;
    const RECORDS: u64 = 256;
    for fsync in [false, true] {
        let dir = tempfile::tempdir_in(std::env::temp_dir()).unwrap();
        let log = LogStore::open(
            &dir.path().join("raft"),
            fsync,
            log_journal(&dir.path().join("journal")),
        )
        .unwrap();
        let batches: Vec<Batch> = (0..ENTRIES)
            .map(|i| batch(1 + i * RECORDS, RECORDS))
            .collect();
        let start = Instant::now();
        for (i, b) in batches.into_iter().enumerate() {
            let entries = [entry(1, i as u64 + 1, Some(b))];
            if fsync {
                log.write_entries_synced(entries).unwrap();
            } else {
                log.write_entries(entries).unwrap();
            }
        }
        let elapsed = start.elapsed();
        let records = ENTRIES * RECORDS;
        eprintln!(
            "cluster: follower append (journal + index), fsync {fsync}: {records} records in {ENTRIES} entries of \
             {RECORDS}: {elapsed:?}, {:.0} ns/record, {:.0} us/entry, {:.2} index bytes/record",
            elapsed.as_nanos() as f64 / records as f64,
            elapsed.as_micros() as f64 / ENTRIES as f64,
            log.appended_bytes() as f64 / records as f64
        );
        assert!(log.appended_bytes() < ENTRIES * 64);
    }
}

fn journal_commands(dir: &Path) -> Vec<Command> {
    let mut reader = JournalReader::open(dir).unwrap();
    let mut commands = Vec::new();
    while let Some(record) = reader.next_record().unwrap() {
        commands.push(rkyv::deserialize::<Command, rkyv::rancor::Error>(record.command).unwrap());
    }
    commands
}

#[test]
fn cluster_brings_a_far_behind_follower_up_with_a_snapshot() {
    let _serial = one_cluster_at_a_time();
    let root = tempfile::tempdir().unwrap();
    let ports: Vec<(u64, u16)> = (1..=3).map(|id| (id, free_port())).collect();
    let mut nodes: Vec<TestNode> = (1..=3)
        .map(|id| {
            let mut config = cluster_config(id, &ports, TOKEN);
            config.batch_max_records = 64;
            config.snapshot_entries = 20;
            config.snapshot_keep_entries = 0;
            TestNode::start(id, config, root.path())
        })
        .collect();
    wait_until(Duration::from_secs(5), || {
        leader_of(&nodes).is_some_and(|i| nodes[i].node().ready_to_serve())
    })
    .expect("no leader within 5 s");
    let leader = leader_of(&nodes).unwrap();
    let lagging = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    let writer = nodes[leader].node().take_journal_writer().unwrap();
    let replicator = nodes[leader].node().start_replicator(1).unwrap();
    let writer = append_commands(writer, 1, 2_000);
    wait_until(Duration::from_secs(20), || {
        nodes.iter().all(|n| n.committed() == 2_000)
    })
    .expect("first records not replicated");

    // One follower goes away while the leader moves on, snapshots and purges its log.
    nodes[lagging].stop();
    let writer = append_commands(writer, 2_001, 12_000);
    wait_until(Duration::from_secs(20), || {
        nodes[leader].committed() == 12_000 && nodes[other].committed() == 12_000
    })
    .expect("records not replicated to the remaining follower");
    wait_until(Duration::from_secs(10), || {
        let metrics = nodes[leader].node().raft().metrics().borrow().clone();
        metrics.purged.is_some_and(|purged| purged.index > 100)
    })
    .expect("the leader never purged its log");

    // It comes back: too far behind for the log, it gets the snapshot, then the records after it.
    nodes[lagging].restart();
    wait_until(Duration::from_secs(20), || {
        nodes[lagging].committed() == 12_000
            && nodes[lagging].node().status().journal_written_seq == 12_000
    })
    .unwrap_or_else(|| panic!("no catch-up: {:?}", nodes[lagging].node().status()));
    // One snapshot, or a second one when the leader snapshotted and purged again before the first was followed
    // by log entries (snapshot_keep_entries is 0 here).
    let installed = nodes[lagging].app.state.lock().unwrap().installed.clone();
    assert!(
        !installed.is_empty()
            && installed.windows(2).all(|pair| pair[0] < pair[1])
            && installed.iter().all(|seq| *seq > 2_000 && *seq <= 12_000),
        "{installed:?}; lagging {:?}; leader {:?}",
        nodes[lagging].node().raft().metrics().borrow().clone(),
        nodes[leader].node().raft().metrics().borrow().clone()
    );
    let snapshot_seq = *installed.last().expect("one");
    eprintln!(
        "cluster: a follower 10000 records behind installed a snapshot at seq {snapshot_seq} and caught up"
    );

    // And it follows from there: its journal restarted after the snapshot.
    let writer = append_commands(writer, 12_001, 13_000);
    wait_until(Duration::from_secs(20), || {
        nodes.iter().all(|n| n.committed() == 13_000)
    })
    .expect("records after the snapshot not replicated");
    {
        let state = nodes[lagging].app.state.lock().unwrap();
        // Records arrive right after an installed snapshot; the only jumps are to just after a later one.
        let after_install = |seq: u64| installed.iter().any(|installed| seq == installed + 1);
        assert!(
            state.first_received.is_some_and(after_install),
            "{:?} {installed:?}",
            state.first_received
        );
        assert_eq!(state.last_received, 13_000);
        assert!(
            state.gaps.iter().all(|(_, next)| after_install(*next)),
            "{:?} {installed:?}",
            state.gaps
        );
    }

    assert_eq!(replicator.stop().error, None);
    nodes[leader].node().return_journal_writer(writer);
    for n in &mut nodes {
        n.stop();
    }
    let reference = journal_commands(&nodes[leader].journal_dir);
    assert_eq!(reference.len(), 13_000);
    let restarted = journal_commands(&nodes[lagging].journal_dir);
    assert_eq!(restarted.first().map(|c| c.seq), Some(snapshot_seq + 1));
    assert_eq!(restarted[..], reference[snapshot_seq as usize..]);
    assert_eq!(journal_commands(&nodes[other].journal_dir), reference);
    for n in &nodes {
        let report = crossline_journal::verify(&n.journal_dir).unwrap();
        assert_eq!(
            report.verdict,
            Verdict::Clean,
            "node {}: {:?}",
            n.id,
            report
        );
    }
}

#[test]
fn cluster_a_returning_leader_cuts_its_uncommitted_suffix_and_follows() {
    let _serial = one_cluster_at_a_time();
    let root = tempfile::tempdir().unwrap();
    let ports: Vec<(u64, u16)> = (1..=3).map(|id| (id, free_port())).collect();
    let mut nodes: Vec<TestNode> = (1..=3)
        .map(|id| TestNode::start(id, cluster_config(id, &ports, TOKEN), root.path()))
        .collect();
    wait_until(Duration::from_secs(5), || {
        leader_of(&nodes).is_some_and(|i| nodes[i].node().ready_to_serve())
    })
    .expect("no leader within 5 s");
    let old = leader_of(&nodes).unwrap();
    let writer = nodes[old].node().take_journal_writer().unwrap();
    let replicator = nodes[old].node().start_replicator(1).unwrap();
    let writer = append_commands(writer, 1, 1_000);
    wait_until(Duration::from_secs(20), || {
        nodes.iter().all(|n| n.committed() == 1_000)
    })
    .expect("not replicated");

    // The followers go away; the leader's engine goes on writing records nobody will commit, and proposes them.
    for i in (0..3).filter(|&i| i != old) {
        nodes[i].stop();
    }
    let writer = append_commands(writer, 1_001, 1_100);
    wait_until(Duration::from_secs(5), || {
        nodes[old].node().log_last_seq() == 1_100
    })
    .expect("the old leader's records not proposed");
    assert_eq!(nodes[old].committed(), 1_000);
    let _ = replicator.stop();
    nodes[old].node().return_journal_writer(writer);
    nodes[old].stop();
    // And writes some it never proposes.
    let (mut writer, _) = JournalWriter::open(&nodes[old].journal_dir, journal_config()).unwrap();
    for seq in 1_101..=1_120 {
        writer.append(&command(seq)).unwrap();
    }
    writer.close().unwrap();

    // The followers come back and elect one of them, which writes other records at those seqs.
    for i in (0..3).filter(|&i| i != old) {
        nodes[i].restart();
    }
    wait_until(Duration::from_secs(5), || {
        leader_of(&nodes).is_some_and(|i| nodes[i].node().ready_to_serve())
    })
    .expect("no new leader within 5 s");
    let new = leader_of(&nodes).unwrap();
    let mut writer = nodes[new].node().take_journal_writer().unwrap();
    assert_eq!(writer.next_seq(), 1_001);
    let replicator = nodes[new].node().start_replicator(1_001).unwrap();
    for seq in 1_001..=1_050 {
        let mut other = command(seq);
        other.timestamp_ns += 7;
        writer.append(&other).unwrap();
    }
    writer.commit_batch().unwrap();
    wait_until(Duration::from_secs(10), || {
        (0..3)
            .filter(|&i| i != old)
            .all(|i| nodes[i].committed() == 1_050)
    })
    .expect("new records not replicated");

    // The old leader returns: the tail it never proposed is cut at start, Raft truncates the entries it proposed
    // and nobody committed (cutting their records from its journal), and it follows the new leader's history.
    nodes[old].restart();
    wait_until(Duration::from_secs(10), || {
        nodes[old].committed() == 1_050 && nodes[old].node().status().journal_written_seq == 1_050
    })
    .unwrap_or_else(|| {
        panic!(
            "the old leader did not follow: {:?}",
            nodes[old].node().status()
        )
    });
    assert!(nodes[old].node().fatal().is_none());
    {
        let state = nodes[old].app.state.lock().unwrap();
        assert_eq!(state.last_received, 1_050);
        assert!(state.gaps.is_empty());
    }

    assert_eq!(replicator.stop().error, None);
    nodes[new].node().return_journal_writer(writer);
    for n in nodes.iter_mut() {
        n.stop();
    }
    let reference = journal_commands(&nodes[new].journal_dir);
    assert_eq!(reference.len(), 1_050);
    assert_eq!(
        reference[1_000].timestamp_ns,
        command(1_001).timestamp_ns + 7
    );
    assert_eq!(journal_commands(&nodes[old].journal_dir), reference);
    assert_eq!(
        assert_byte_identical_prefix(&nodes[old].journal_dir, &nodes[new].journal_dir),
        1_050
    );
}
