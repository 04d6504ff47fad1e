//! Replication and failover with real processes: three `crossline serve` nodes on 127.0.0.1, ack policy
//! `replicated`, clients that find the leader from their address list. Bounded in time and count.
//!
//! - SIGKILL of the leader under load: a standby takes over, the clients resume by sequence number, every
//!   acknowledged order is in the new leader's history exactly once and no fill is duplicated; the killed node
//!   rejoins and every node ends at the same seq with the same state hash.
//! - SIGSTOP of the leader past the election timeout, then SIGCONT: it steps down; the order it received while
//!   deposed is never acknowledged nor in anyone's history; it restarts and follows.
//! - A fault-injecting proxy on every directed link between the nodes (delay, blackhole, dropped connections,
//!   pause) while a client trades: the cluster heals, every acknowledged order is there exactly once, and all
//!   nodes end with the same state hash.
//! - A leader whose standbys are both gone, SIGTERMed with an order it journaled and could not commit: it stops
//!   cleanly after a bounded wait, and never acknowledges that order.
//! - A learner (two voters and a learner): it never leads, follows the journal, and its query database ends equal
//!   to what the journal says (`crossline query verify`).
//! - A standby killed while the others go on, its log pruned behind a Raft snapshot: it restarts, installs the
//!   leader's snapshot, recovers from it and catches up.

mod cluster_support;
mod common;
mod fault_proxy;

use cluster_support::*;
use common::*;
use crossline_net::client::{Client, ClientTimeouts, ConnectError};
use crossline_net::ouch::{Outbound, Side};
use crossline_net::soupbin::SessionId;
use fault_proxy::Fault;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

#[test]
fn a_killed_leader_is_replaced_and_clients_resume_with_every_acknowledged_order() {
    let _serial = one_cluster_at_a_time();
    let mut cluster = Cluster::new("");
    let leader = cluster.wait_for_leader(None);
    let addresses = cluster.order_entry();

    // A standby refuses order entry with Login Rejected S.
    let standby = (leader + 1) % NODES;
    match Client::connect(
        &[cluster.addrs[standby].order_entry],
        credentials("alice"),
        SessionId::BLANK,
        0,
        ClientTimeouts::default(),
    ) {
        Err(ConnectError::NoLeader { attempts }) => {
            assert!(attempts.to_string().contains('S'), "{attempts}")
        }
        other => panic!("a standby took a login: {:?}", other.map(|c| c.address())),
    }

    // alice rests sells, bob lifts some of them: every acknowledgement is a committed command.
    let mut alice = connect(&addresses, "alice", 0);
    let mut bob = connect(&addresses, "bob", 0);
    assert_eq!(alice.address(), cluster.addrs[leader].order_entry);
    let mut acknowledged_alice = BTreeSet::new();
    let mut ref_num = 1u32;
    for round in 0..40u64 {
        alice
            .enter_order(&limit(
                ref_num,
                Side::Sell,
                10,
                "ACME",
                1_000_000 + round * 100,
            ))
            .expect("send");
        bob.enter_order(&limit(
            ref_num,
            Side::Buy,
            5,
            "ACME",
            1_000_000 + round * 100,
        ))
        .expect("send");
        ref_num += 1;
    }
    // Wait for the first half of the acknowledgements, then kill the leader with the rest in flight.
    let deadline = Instant::now() + REPLY_TIMEOUT;
    while acknowledged_alice.len() < 20 {
        if Instant::now() > deadline {
            for index in 0..NODES {
                println!("{index}: {:?}", cluster.health(index));
            }
            panic!("too few acknowledgements: {acknowledged_alice:?}");
        }
        if let Ok(Some(received)) = alice.poll_message(Duration::from_millis(50)) {
            if let Outbound::OrderAccepted(a) = received.message {
                acknowledged_alice.insert(a.user_ref_num);
            }
        }
    }
    let killed_at = Instant::now();
    cluster.nodes[leader].take().expect("leader").kill();
    while let Ok(Some(received)) = alice.poll_message(Duration::from_millis(100)) {
        if let Outbound::OrderAccepted(a) = received.message {
            acknowledged_alice.insert(a.user_ref_num);
        }
    }

    // A standby takes over; alice resumes where she was and carries on trading.
    let new_leader = cluster.wait_for_leader(Some(leader));
    let resume = alice.resume_seq();
    alice = connect(&addresses, "alice", resume);
    assert_eq!(alice.address(), cluster.addrs[new_leader].order_entry);
    alice
        .enter_order(&limit(ref_num, Side::Sell, 1, "ACME", 1_050_000))
        .expect("send after failover");
    let deadline = Instant::now() + REPLY_TIMEOUT;
    loop {
        assert!(
            Instant::now() < deadline,
            "no acknowledgement from the new leader"
        );
        match alice.poll_message(Duration::from_millis(50)) {
            Ok(Some(received)) => {
                if let Outbound::OrderAccepted(a) = received.message {
                    acknowledged_alice.insert(a.user_ref_num);
                    if a.user_ref_num == ref_num {
                        break;
                    }
                }
            }
            Ok(None) => {}
            Err(error) => panic!("alice after failover: {error}"),
        }
    }
    println!(
        "failover: SIGKILL of the leader to an order acknowledged by the new one: {} ms",
        killed_at.elapsed().as_millis()
    );
    let _ = alice.logout();
    drop(bob);

    // Every acknowledged order is in the new leader's history exactly once, fills are not repeated.
    assert_history(&addresses, "alice", &acknowledged_alice);

    // The killed node comes back as a standby and catches up; everyone agrees.
    cluster.nodes[leader] = Some(cluster.start_node(leader));
    let seq = cluster.wait_until_converged();
    assert!(seq > 0);
    assert_eq!(cluster.health(leader).expect("health")["role"], "standby");
}

#[test]
fn a_leader_stopped_past_the_election_timeout_steps_down_and_acknowledges_nothing() {
    let _serial = one_cluster_at_a_time();
    let cluster = Cluster::new("");
    let leader = cluster.wait_for_leader(None);
    let addresses = cluster.order_entry();
    let mut alice = alice_with_one_order_accepted(&addresses);

    let pid = cluster.nodes[leader].as_ref().expect("leader").child.id() as i32;
    // SAFETY: kill(2) on our own child's pid, which we have not waited for.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let new_leader = cluster.wait_for_leader(Some(leader));
    // Sent to the deposed leader while it is stopped: the kernel buffers it.
    alice
        .enter_order(&limit(2, Side::Buy, 1, "ACME", 950_100))
        .expect("send to the stopped leader");
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };

    // The old leader must not acknowledge it: the connection ends without an OrderAccepted for ref 2.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match alice.poll_message(Duration::from_millis(50)) {
            Ok(Some(received)) => {
                if let Outbound::OrderAccepted(a) = received.message {
                    panic!("the deposed leader acknowledged order {}", a.user_ref_num);
                }
            }
            Ok(None) => {}
            Err(_) => break,
        }
        assert!(
            Instant::now() < deadline,
            "the deposed leader kept the session open"
        );
    }
    alice = connect(&addresses, "alice", alice.resume_seq());
    assert_eq!(alice.address(), cluster.addrs[new_leader].order_entry);
    let _ = alice.logout();
    let history = full_history(&addresses, "alice");
    assert_eq!(accepted_refs(&history), vec![1]);

    // The old leader restarted itself, cut what it wrote in its old term, and follows.
    cluster.wait_until_converged();
    assert_eq!(cluster.health(leader).expect("health")["role"], "standby");
}

#[test]
fn a_leader_whose_standbys_are_gone_stops_on_sigterm_without_acknowledging_what_it_could_not_commit(
) {
    let _serial = one_cluster_at_a_time();
    let mut cluster = Cluster::new("");
    let leader = cluster.wait_for_leader(None);
    let addresses = cluster.order_entry();
    let mut alice = alice_with_one_order_accepted(&addresses);

    // Both standbys gone: the leader journals and matches what comes next, and can never commit it.
    for index in (0..NODES).filter(|index| *index != leader) {
        cluster.nodes[index].take().expect("standby").kill();
    }
    alice
        .enter_order(&limit(2, Side::Buy, 1, "ACME", 950_100))
        .expect("send");
    expect_no_acknowledgement(
        &mut alice,
        Duration::from_millis(500),
        "a leader without a majority",
    );
    let health = cluster.health(leader).expect("health");
    assert!(
        health["engine_seq"].as_u64() > health["cluster"]["committed_seq"].as_u64(),
        "the leader applied the order it cannot commit: {health}"
    );

    // SIGTERM: the events waiting for a commit that cannot come are given up after a bounded wait (the stop used to
    // wait for them forever), and the node stops cleanly.
    let node = cluster.nodes[leader].take().expect("leader");
    let status = node.terminate();
    assert!(status.success(), "{status:?}");
    expect_no_acknowledgement(&mut alice, Duration::from_secs(10), "the stopping leader");
}

/// alice logged in (finding the leader through the address list) with her order 1 acknowledged.
fn alice_with_one_order_accepted(addresses: &[std::net::SocketAddr]) -> Client {
    let mut alice = connect(addresses, "alice", 0);
    alice
        .enter_order(&limit(1, Side::Buy, 1, "ACME", 950_000))
        .expect("send");
    let (_, reply) = next(&mut alice);
    assert!(matches!(reply, Outbound::OrderAccepted(_)), "{reply:?}");
    alice
}

/// Reads `client`'s messages for `within`, or until its session ends, and fails on any Order Accepted.
fn expect_no_acknowledgement(client: &mut Client, within: Duration, who: &str) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        match client.poll_message(Duration::from_millis(50)) {
            Ok(Some(received)) => assert!(
                !matches!(received.message, Outbound::OrderAccepted(_)),
                "{who} acknowledged {:?}",
                received.message
            ),
            Ok(None) => {}
            Err(_) => break,
        }
    }
}

#[test]
fn a_standby_that_missed_pruned_log_entries_catches_up_through_a_snapshot() {
    let _serial = one_cluster_at_a_time();
    let mut cluster = Cluster::new("snapshot_entries = 20\nsnapshot_keep_entries = 0");
    let leader = cluster.wait_for_leader(None);
    let addresses = cluster.order_entry();
    let standby = (leader + 1) % NODES;
    cluster.nodes[standby].take().expect("standby").kill();

    // Enough batches for the leader to snapshot and purge its log more than once.
    let mut alice = connect(&addresses, "alice", 0);
    for ref_num in 1..=120u32 {
        alice
            .enter_order(&limit(
                ref_num,
                Side::Buy,
                1,
                "ACME",
                950_000 + 100 * u64::from(ref_num),
            ))
            .expect("send");
        assert!(matches!(next(&mut alice).1, Outbound::OrderAccepted(_)));
    }
    let _ = alice.logout();

    cluster.nodes[standby] = Some(cluster.start_node(standby));
    cluster.wait_until_converged();
    let lines = cluster.nodes[standby]
        .as_ref()
        .expect("standby")
        .drain_lines();
    assert!(
        lines
            .iter()
            .any(|line| line.contains("installed the leader's snapshot")),
        "the standby did not install a snapshot: {lines:?}"
    );
}

#[test]
fn the_cluster_heals_after_network_faults_between_nodes_and_loses_no_acknowledged_order() {
    let _serial = one_cluster_at_a_time();
    let addrs = node_addrs();
    let mesh = ProxyMesh::start(&addrs);
    let cluster = Cluster::with_routes("", addrs, |from, to, _| mesh.route(from, to));
    let leader = cluster.wait_for_leader(None);
    let mut alice = Trader::new(&cluster.order_entry(), "alice");
    let phase = Duration::from_millis(1_500);
    alice.trade(phase);
    mesh.all(Fault::Delay(Duration::from_millis(30)));
    alice.trade(phase);
    // Cut the leader off both ways: the others elect a new one; the old one steps down once it hears of it.
    mesh.all(Fault::Pass);
    mesh.isolate(leader);
    alice.trade(2 * phase);
    mesh.all(Fault::Pass);
    mesh.drop_connections();
    alice.trade(phase);
    mesh.all(Fault::Pause);
    alice.trade(phase);
    mesh.all(Fault::Pass);
    alice.trade(phase);

    cluster.wait_for_leader(None);
    cluster.wait_until_converged();
    let in_history = alice.check_history();
    assert!(!alice.acknowledged.is_empty());
    println!(
        "faults: {} orders sent, {} acknowledged, {in_history} in the history; {} proxied connections",
        alice.next_ref - 1,
        alice.acknowledged.len(),
        mesh.connections()
    );
}

#[test]
fn a_learner_follows_without_voting_and_keeps_the_query_database() {
    let _serial = one_cluster_at_a_time();
    let learner = NODES - 1;
    let learner_id = learner + 1;
    let addrs = node_addrs();
    let learner_raft = addrs[learner].raft;
    let cluster = Cluster::with_routes_and_edit(
        "",
        addrs,
        |_, _, direct| direct,
        |index, text| {
            // Every node knows the last one as a learner; the learner knows it of itself and keeps the database.
            let text = text.replace(
                &format!("{{ id = {learner_id}, addr = \"{learner_raft}\" }}"),
                &format!("{{ id = {learner_id}, addr = \"{learner_raft}\", learner = true }}"),
            );
            if index == learner {
                text.replace(
                    &format!("node_id = {learner_id}\n"),
                    &format!("node_id = {learner_id}\nlearner = true\n"),
                )
                .replace("[query]\nenabled = false", "[query]\nenabled = true")
            } else {
                text
            }
        },
    );
    let leader = cluster.wait_for_leader(None);
    assert_ne!(leader, learner);
    let mut alice = Trader::new(&cluster.order_entry(), "alice");
    alice.trade(Duration::from_millis(1_500));
    let mut bob = connect(&cluster.order_entry(), "bob", 0);
    bob.enter_order(&limit(1, Side::Sell, 5, "ACME", 950_000))
        .expect("send");
    let _ = drain(&mut bob, Duration::from_millis(300));
    let _ = bob.logout();
    alice.check_history();
    cluster.wait_until_converged();

    let health = cluster.health(learner).expect("learner health");
    assert_eq!(health["role"], "learner");
    assert_eq!(
        health["cluster"]["learners"],
        serde_json::json!([learner_id])
    );
    // The query side catches up with the journal.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let health = cluster.health(learner).expect("learner health");
        if health["query"]["lag_commands"] == 0 && health["query"]["db_seq"].as_u64() > Some(10) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the query side lags: {}",
            health["query"]
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Stopped cleanly, its database equals what its journal says, row for row.
    let config = cluster.configs[learner].clone();
    let mut nodes = cluster.nodes;
    let status = nodes[learner].take().expect("learner").terminate();
    assert!(status.success(), "{status:?}");
    let verify = std::process::Command::new(env!("CARGO_BIN_EXE_crossline"))
        .args(["query", "--format", "json", "--config"])
        .arg(&config)
        .arg("verify")
        .output()
        .expect("crossline query verify");
    let report: serde_json::Value =
        serde_json::from_slice(&verify.stdout).expect("verify prints JSON");
    assert!(verify.status.success(), "{report}");
    assert!(report["executions"].as_u64() > Some(0), "{report}");
    assert_eq!(report["mismatches"], serde_json::json!([]));
}
