//! A standalone appliance whose disk fills while it trades: it stops with the reason, a restart on the full disk
//! is refused with the reason, and once there is room a restart brings back every acknowledged reply. The data
//! directory is a small tmpfs (`disk_limit`), which needs root; where mounting is refused the test says so and
//! passes vacuously (the fault campaign in tests/chaos.rs does the same for clusters).

mod common;
mod disk_limit;

use common::*;
use crossline_net::ouch::{Outbound, Side};
use std::time::{Duration, Instant};

/// Small segments, so that the node rolls over every few hundred records.
const SEGMENT_BYTES: u64 = 64 * 1024;

/// At most this many orders are sent before the disk is expected to have stopped the node.
const MAX_ORDERS: u32 = 20_000;

#[test]
fn a_full_disk_stops_a_node_with_the_reason_and_loses_no_acknowledged_reply() {
    let site = Site::new(|text| {
        text.replace(
            "segment_bytes = 268435456",
            &format!("segment_bytes = {SEGMENT_BYTES}"),
        )
        .replace("policy = \"local\"", "policy = \"durable\"")
    });
    let data_dir = site.dir.path().join("data");
    let _mount = match disk_limit::TmpfsMounts::mount(std::slice::from_ref(&data_dir), 32 << 20) {
        Ok(mount) => mount,
        Err(reason) => {
            eprintln!("skipping: {reason}");
            return;
        }
    };
    let mut appliance = site.start();
    let addr = appliance.endpoints.order_entry;
    let mut alice = login(addr, "alice", 1);
    let mut acknowledged: Vec<(u64, Outbound)> = drain(&mut alice, Duration::from_millis(200));
    let ballast = disk_limit::fill(&data_dir).expect("fill the disk");
    assert!(ballast > 0);

    // Trade in bursts until the node stops: the segment in use and the one prepared ahead hold a few hundred
    // records each; the next one cannot be created.
    let mut next_ref = 1u32;
    let started = Instant::now();
    while alice.is_open() && next_ref < MAX_ORDERS && started.elapsed() < Duration::from_secs(60) {
        for _ in 0..50 {
            let price = 950_000 + 100 * u64::from(next_ref % 100);
            if alice
                .enter_order(&limit(next_ref, Side::Buy, 1, "ACME", price))
                .is_err()
            {
                break;
            }
            next_ref += 1;
        }
        acknowledged.extend(drain(&mut alice, Duration::from_millis(20)));
    }
    acknowledged.extend(drain(&mut alice, Duration::from_millis(200)));
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = appliance.child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the node kept running on a full disk after {next_ref} orders"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // The engine stops before applying what it could not journal; the process shuts down and exits with the
    // error (2), naming the segment it could not create.
    assert_eq!(status.code(), Some(2), "{status}");
    let accepted = acknowledged
        .iter()
        .filter(|(_, message)| matches!(message, Outbound::OrderAccepted(_)))
        .count();
    assert!(
        accepted > 100,
        "orders were accepted into the preallocated segments before the stop ({accepted})"
    );

    // A start on the full disk is refused and says why.
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_crossline"))
        .args(["serve", "--config"])
        .arg(&site.config_path)
        .output()
        .expect("run crossline serve");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "started on a full disk: {said}");
    assert!(
        said.contains("bytes free") && said.contains("to start"),
        "{said}"
    );

    // With room again, every acknowledged reply comes back, in order and unchanged.
    disk_limit::empty(&data_dir);
    let appliance = site.start();
    let mut alice = login(appliance.endpoints.order_entry, "alice", 1);
    let replayed = drain(&mut alice, Duration::from_millis(500));
    assert!(
        replayed.len() >= acknowledged.len(),
        "{} replayed, {} acknowledged before the stop",
        replayed.len(),
        acknowledged.len()
    );
    assert!(
        replayed[..acknowledged.len()] == acknowledged[..],
        "an acknowledged reply changed or went missing"
    );
    // The restarted engine reports the sequence number it recovered to before any new command.
    let admin = appliance.endpoints.admin.expect("admin endpoint");
    let (status, body) = http(admin, "GET", "/health", None, "");
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).expect("health json");
    let engine_seq = health["engine_seq"].as_u64().expect("engine_seq");
    assert!(engine_seq > 1_000, "{health}");
    assert_eq!(health["applied_seq"].as_u64(), Some(engine_seq), "{health}");
    // And the node trades on.
    alice
        .enter_order(&limit(next_ref, Side::Buy, 1, "ACME", 950_000))
        .expect("send");
    let (_, reply) = next(&mut alice);
    assert!(matches!(reply, Outbound::OrderAccepted(_)), "{reply:?}");
}
