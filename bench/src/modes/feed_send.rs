//! `crossline-bench feed-send`: what the gateway pays to put one MoldUDP64 packet on the wire, one thread, to a
//! loopback UDP sink that is never read (its buffer fills, and the kernel then drops each packet on arrival, as it
//! does for the `wire` mode's feed sink). Rows, each timed over a batch of packets with `Instant` around it, in
//! alternating repeats so that both see the same stretch of the box's time:
//!
//! - `udp_sendto_unconnected`, the baseline: `send_to` on an unconnected socket, which looks up the route and
//!   copies the address on every packet;
//! - `udp_feed_sender`: `UdpFeedSender::send`, the appliance's path (a connected, non-blocking socket).
//!
//! On loopback the sender's system call also runs the receiving side (the sink's socket), so the figures are above
//! what a network card's transmit path costs.

use super::codec::{row, timed, CodecRow, REPEATS};
use crate::env::Environment;
use crate::report::{group_digits, LatencySampling, Named, Report};
use anyhow::{bail, Context};
use crossline_net::feed::UdpFeedSender;
use serde::Serialize;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeedSendOptions {
    /// Packets per timed batch.
    pub packets: u64,
    /// Bytes per packet (a MoldUDP64 header and one ITCH Add Order is 20 + 2 + 36 = 58).
    pub packet_bytes: usize,
}

/// The JSON of a run: the common report (its ops and seconds are `udp_feed_sender`'s at the median) and the rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeedSendReport {
    #[serde(flatten)]
    pub report: Report,
    pub rows: Vec<CodecRow>,
}

/// Sends `packets` copies of `packet` through `send`; returns how many sends failed.
fn send_batch(packets: u64, packet: &[u8], mut send: impl FnMut(&[u8]) -> bool) -> u64 {
    let mut failed = 0;
    for _ in 0..packets {
        if !send(std::hint::black_box(packet)) {
            failed += 1;
        }
    }
    failed
}

pub fn run(options: &FeedSendOptions) -> anyhow::Result<FeedSendReport> {
    if options.packets == 0 {
        bail!("--packets must be at least 1");
    }
    if !(20..=1400).contains(&options.packet_bytes) {
        bail!("--packet-bytes must be 20 (a MoldUDP64 header) to 1,400");
    }
    let env = Environment::capture(0);
    let localhost = SocketAddr::from(([127, 0, 0, 1], 0));
    let sink = UdpSocket::bind(localhost).context("binding the sink")?;
    let sink_addr = sink.local_addr().context("the sink's address")?;
    let unconnected = UdpSocket::bind(localhost).context("binding the baseline's socket")?;
    let sender = UdpFeedSender::new(localhost, &[sink_addr], 1).context("the feed sender")?;
    let packet = vec![0x5Au8; options.packet_bytes];
    let n = options.packets;

    // Fill the sink's buffer first, so that every timed packet meets a full socket.
    send_batch(n.min(100_000), &packet, |p| {
        unconnected.send_to(p, sink_addr).is_ok()
    });

    let mut baseline_times: Vec<Duration> = Vec::with_capacity(REPEATS);
    let mut sender_times: Vec<Duration> = Vec::with_capacity(REPEATS);
    let mut baseline_failed = 0;
    let mut sender_failed = 0;
    for _ in 0..REPEATS {
        let (time, failed) =
            timed(|| send_batch(n, &packet, |p| unconnected.send_to(p, sink_addr).is_ok()));
        baseline_times.push(time);
        baseline_failed += failed;
        let (time, failed) = timed(|| send_batch(n, &packet, |p| sender.send(p).lost == 0));
        sender_times.push(time);
        sender_failed += failed;
    }
    let bytes = n * options.packet_bytes as u64;
    let rows = vec![
        row(
            "udp_sendto_unconnected",
            "UdpSocket::send_to on an unconnected socket (baseline)",
            n,
            bytes,
            &baseline_times,
        ),
        row(
            "udp_feed_sender",
            "UdpFeedSender::send: one connected, non-blocking socket",
            n,
            bytes,
            &sender_times,
        ),
    ];

    let mut checks = Named::new();
    checks.push(
        "sends_failed",
        if baseline_failed == 0 && sender_failed == 0 {
            "ok".to_string()
        } else {
            format!("FAILED: {baseline_failed} baseline, {sender_failed} feed sender")
        },
    );
    let mut counters = Named::new();
    counters.push("packets_per_batch", n);
    counters.push("packet_bytes", options.packet_bytes as u64);

    let mut extra_rows = vec![(
        "feed send, ns per packet".to_string(),
        format!(
            "{:>9} {:>9} {:>12} {:>11}",
            "median", "min", "packets/s", "packets"
        ),
    )];
    for row in &rows {
        extra_rows.push((
            row.name.clone(),
            format!(
                "{:>9.1} {:>9.1} {:>12} {:>11}",
                row.ns_per_message_median,
                row.ns_per_message_min,
                group_digits(row.messages_per_sec.round() as u64),
                group_digits(row.messages),
            ),
        ));
    }
    if let [baseline, feed] = rows.as_slice() {
        extra_rows.push((
            "vs baseline".to_string(),
            format!(
                "feed sender {:+.1}% per packet (medians)",
                (feed.ns_per_message_median / baseline.ns_per_message_median - 1.0) * 100.0
            ),
        ));
    }
    let headline = &rows[1];
    let report = Report {
        mode: "feed-send".to_string(),
        workload: format!("{}-byte packets to a full loopback sink", options.packet_bytes),
        ops: n,
        seconds: headline.ns_per_message_median * n as f64 / 1e9,
        ops_per_sec: headline.messages_per_sec,
        latency_ns: None,
        latency_sampling: LatencySampling {
            method: format!("none: batch timing, {REPEATS} repeats of each row, alternating (see rows)"),
            every: 0,
            samples: 0,
            timer: "std::time::Instant".to_string(),
            timer_overhead_ns: 0.0,
            unit: "one packet".to_string(),
        },
        headline: None,
        baseline: None,
        counters,
        mix: Named::new(),
        checks,
        state_hash: None,
        env,
        notes: vec![
            "on loopback each send also runs the receiving side: the sink's socket is full, so the kernel drops the \
             packet there"
                .to_string(),
        ],
        extra_rows,
    };
    Ok(FeedSendReport { report, rows })
}
