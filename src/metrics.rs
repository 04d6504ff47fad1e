//! Counters the pipeline threads bump and the admin thread reads: plain relaxed atomics, each thread writing its
//! own cache-padded group, so counting costs the hot path one uncontended add.

use crossbeam_utils::CachePadded;
use std::sync::atomic::{AtomicU64, Ordering};

/// Buckets of a power-of-two latency histogram: bucket i counts values in [2^i, 2^(i+1)) ns (bucket 0 also
/// holds 0), up to 2^39 ns (about 9 minutes).
pub const LOG2_BUCKETS: usize = 40;

/// A lock-free power-of-two histogram one thread records into and any thread reads.
#[derive(Debug)]
pub struct Log2Histogram {
    buckets: [AtomicU64; LOG2_BUCKETS],
    sum_ns: AtomicU64,
}

impl Default for Log2Histogram {
    fn default() -> Self {
        Log2Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_ns: AtomicU64::new(0),
        }
    }
}

impl Log2Histogram {
    #[inline]
    pub fn record(&self, value_ns: u64) {
        let bucket = (63 - (value_ns | 1).leading_zeros() as usize).min(LOG2_BUCKETS - 1);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(value_ns, Ordering::Relaxed);
    }

    /// (upper bound in ns of each bucket, count) pairs, and the sum.
    pub fn read(&self) -> ([(u64, u64); LOG2_BUCKETS], u64) {
        let mut out = [(0u64, 0u64); LOG2_BUCKETS];
        for (i, slot) in out.iter_mut().enumerate() {
            *slot = (1u64 << (i + 1), self.buckets[i].load(Ordering::Relaxed));
        }
        (out, self.sum_ns.load(Ordering::Relaxed))
    }
}

/// Why the gateway refused an inbound message or a session: one counter each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum GatewayReject {
    /// Translation refused the message (bad field, unknown symbol, UserRefNum not increasing...).
    Translation = 0,
    RateLimited = 1,
    PenaltyBox = 2,
}

pub const GATEWAY_REJECT_KINDS: [(&str, GatewayReject); 3] = [
    ("translation", GatewayReject::Translation),
    ("rate_limited", GatewayReject::RateLimited),
    ("penalty_box", GatewayReject::PenaltyBox),
];

#[derive(Debug, Default)]
pub struct GatewayMetrics {
    pub messages_in: AtomicU64,
    pub commands_out: AtomicU64,
    pub rejects: [AtomicU64; 3],
    pub logins: AtomicU64,
    pub disconnects: AtomicU64,
    pub sessions_logged_in: AtomicU64,
    pub replies_out: AtomicU64,
    pub reply_translate_errors: AtomicU64,
    /// Engine events a stopping gateway gave up on: their ack watermark did not rise within the stop's wait.
    pub events_withheld_at_stop: AtomicU64,
    pub feed_messages: AtomicU64,
    pub feed_packets: AtomicU64,
    /// MoldUDP64 packets a UDP destination did not get (no room in its socket, or an error from the network), one
    /// per destination.
    pub feed_udp_packets_lost: AtomicU64,
    /// Unreachable ports reported to the feed's UDP sends (a destination with no listener); they cost no packet.
    pub feed_udp_unreachable_reports: AtomicU64,
    /// ITCH messages the gateway could not hand to the TCP feed thread (its ring was full).
    pub feed_tcp_dropped: AtomicU64,
    /// TCP feed subscribers logged in (set by the feed thread).
    pub feed_tcp_subscribers: AtomicU64,
    pub inbound_ring_full: AtomicU64,
    pub inbound_ring_occupancy: AtomicU64,
    /// From the gateway's receipt of a message to the matcher's events for it being turned into replies.
    pub reply_latency: Log2Histogram,
}

#[derive(Debug, Default)]
pub struct EngineMetrics {
    pub commands: AtomicU64,
    pub batches: AtomicU64,
    pub events: AtomicU64,
    pub last_seq: AtomicU64,
    pub rejects: AtomicU64,
    pub outbound_ring_full: AtomicU64,
    pub outbound_ring_occupancy: AtomicU64,
    pub journal_bytes: AtomicU64,
    /// Journal append + engine apply of one batch.
    pub batch_latency: Log2Histogram,
    /// A standby: from the leader's sequencer stamping a command to this node's engine applying it (both wall
    /// clocks; meaningful when the nodes' clocks agree, as on one host or under PTP).
    pub replication_lag: Log2Histogram,
    pub replication_lag_max_ns: AtomicU64,
}

#[derive(Debug, Default)]
pub struct FollowerMetrics {
    pub applied_seq: AtomicU64,
    pub snapshots: AtomicU64,
    pub snapshot_failures: AtomicU64,
    pub last_snapshot_seq: AtomicU64,
    pub last_snapshot_ms: AtomicU64,
    pub state_hash: AtomicU64,
}

/// Every thread's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    pub gateway: CachePadded<GatewayMetrics>,
    pub engine: CachePadded<EngineMetrics>,
    pub follower: CachePadded<FollowerMetrics>,
}

#[inline]
pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

#[inline]
pub fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

#[inline]
pub fn set(counter: &AtomicU64, value: u64) {
    counter.store(value, Ordering::Relaxed);
}

#[inline]
pub fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}
