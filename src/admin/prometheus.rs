//! The shared counters as Prometheus text exposition (format 0.0.4): every name prefixed `crossline_`, counters
//! ending in `_total`, HELP and TYPE before each family's samples, latency histograms in seconds.

use super::Health;
use crate::metrics::{get, Log2Histogram, Metrics, GATEWAY_REJECT_KINDS, LOG2_BUCKETS};
use std::fmt::Write;
use std::sync::atomic::AtomicU64;

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

struct Out(String);

impl Out {
    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP crossline_{name} {help}");
        let _ = writeln!(self.0, "# TYPE crossline_{name} {kind}");
    }

    fn counter(&mut self, name: &str, help: &str, value: &AtomicU64) {
        self.header(&format!("{name}_total"), "counter", help);
        let _ = writeln!(self.0, "crossline_{name}_total {}", get(value));
    }

    fn gauge(&mut self, name: &str, help: &str, value: u64) {
        self.header(name, "gauge", help);
        let _ = writeln!(self.0, "crossline_{name} {value}");
    }

    fn histogram(&mut self, name: &str, help: &str, histogram: &Log2Histogram) {
        let name = format!("{name}_seconds");
        self.header(&name, "histogram", help);
        let (buckets, sum_ns) = histogram.read();
        let mut cumulative = 0u64;
        for (i, (upper_ns, count)) in buckets.iter().enumerate() {
            cumulative = cumulative.saturating_add(*count);
            // The last bucket also holds everything above its nominal bound: it only feeds +Inf.
            if i + 1 < LOG2_BUCKETS {
                let le = seconds(*upper_ns);
                let _ = writeln!(
                    self.0,
                    "crossline_{name}_bucket{{le=\"{le}\"}} {cumulative}"
                );
            }
        }
        let _ = writeln!(
            self.0,
            "crossline_{name}_bucket{{le=\"+Inf\"}} {cumulative}"
        );
        let _ = writeln!(self.0, "crossline_{name}_sum {}", seconds(sum_ns));
        let _ = writeln!(self.0, "crossline_{name}_count {cumulative}");
    }
}

/// Nanoseconds as decimal seconds, exactly (no float rounding).
fn seconds(ns: u64) -> String {
    let whole = ns / 1_000_000_000;
    let frac = ns % 1_000_000_000;
    if frac == 0 {
        return whole.to_string();
    }
    let digits = format!("{frac:09}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// The exposition of `metrics`, plus the journal watermarks and follower lag from `health` when given.
pub fn render(metrics: &Metrics, health: Option<&Health>) -> String {
    let mut out = Out(String::with_capacity(16 * 1024));
    let g = &metrics.gateway;
    out.counter(
        "gateway_messages_in",
        "Inbound OUCH messages received by the gateway.",
        &g.messages_in,
    );
    out.counter(
        "gateway_commands_out",
        "Commands the gateway handed to the engine.",
        &g.commands_out,
    );
    out.header(
        "gateway_rejects_total",
        "counter",
        "Inbound messages or sessions the gateway refused, by reason.",
    );
    for (reason, kind) in GATEWAY_REJECT_KINDS {
        let value = g.rejects.get(kind as usize).map_or(0, get);
        let _ = writeln!(
            out.0,
            "crossline_gateway_rejects_total{{reason=\"{reason}\"}} {value}"
        );
    }
    out.counter("gateway_logins", "Successful session logins.", &g.logins);
    out.counter(
        "gateway_disconnects",
        "Session disconnects.",
        &g.disconnects,
    );
    out.gauge(
        "gateway_sessions_logged_in",
        "Sessions logged in now.",
        get(&g.sessions_logged_in),
    );
    out.counter(
        "gateway_replies_out",
        "OUCH replies sent to sessions.",
        &g.replies_out,
    );
    out.counter(
        "gateway_reply_translate_errors",
        "Engine events the gateway could not turn into replies.",
        &g.reply_translate_errors,
    );
    out.counter(
        "gateway_events_withheld_at_stop",
        "Engine events a stopping gateway never released: not committed (or durable) within its wait.",
        &g.events_withheld_at_stop,
    );
    out.counter(
        "feed_messages",
        "ITCH messages published.",
        &g.feed_messages,
    );
    out.counter(
        "feed_packets",
        "MoldUDP64 packets published.",
        &g.feed_packets,
    );
    out.counter(
        "feed_udp_packets_lost",
        "MoldUDP64 packets a UDP destination did not get (no room in its socket, or a network error), per destination.",
        &g.feed_udp_packets_lost,
    );
    out.counter(
        "feed_udp_unreachable_reports",
        "Unreachable ports reported to the feed's UDP sends (a destination with no listener); no packet is lost for them.",
        &g.feed_udp_unreachable_reports,
    );
    out.counter(
        "feed_tcp_dropped",
        "ITCH messages the TCP feed thread missed because its ring was full (it then goes stale).",
        &g.feed_tcp_dropped,
    );
    out.gauge(
        "feed_tcp_subscribers",
        "Subscribers logged in to the ITCH stream over SoupBinTCP.",
        get(&g.feed_tcp_subscribers),
    );
    out.counter(
        "gateway_inbound_ring_full",
        "Times the gateway found the inbound ring full.",
        &g.inbound_ring_full,
    );
    out.gauge(
        "gateway_inbound_ring_occupancy",
        "Entries waiting in the gateway-to-engine ring.",
        get(&g.inbound_ring_occupancy),
    );
    out.histogram(
        "gateway_reply_latency",
        "From a message's receipt by the gateway to its replies being produced.",
        &g.reply_latency,
    );

    let e = &metrics.engine;
    out.counter(
        "engine_commands",
        "Commands sequenced, journaled and applied.",
        &e.commands,
    );
    out.counter(
        "engine_batches",
        "Batches the engine thread processed.",
        &e.batches,
    );
    out.counter("engine_events", "Events the engine produced.", &e.events);
    out.gauge(
        "engine_last_seq",
        "Sequence number of the last command applied by the engine.",
        get(&e.last_seq),
    );
    out.counter(
        "engine_rejects",
        "Commands the engine rejected.",
        &e.rejects,
    );
    out.counter(
        "engine_outbound_ring_full",
        "Times the engine found the outbound ring full.",
        &e.outbound_ring_full,
    );
    out.gauge(
        "engine_outbound_ring_occupancy",
        "Entries waiting in the engine-to-gateway ring.",
        get(&e.outbound_ring_occupancy),
    );
    out.counter(
        "journal_bytes",
        "Bytes appended to the journal.",
        &e.journal_bytes,
    );
    out.histogram(
        "engine_batch_latency",
        "Journal append and engine apply of one batch.",
        &e.batch_latency,
    );
    out.histogram(
        "replication_lag",
        "A standby: from the leader's sequencer stamping a command to this node applying it.",
        &e.replication_lag,
    );
    out.gauge(
        "replication_lag_max_ns",
        "A standby: the largest replication lag seen, in nanoseconds.",
        get(&e.replication_lag_max_ns),
    );

    let f = &metrics.follower;
    out.gauge(
        "follower_applied_seq",
        "Sequence number of the last command the follower applied.",
        get(&f.applied_seq),
    );
    out.counter(
        "follower_snapshots",
        "Snapshots the follower wrote.",
        &f.snapshots,
    );
    out.counter(
        "follower_snapshot_failures",
        "Periodic snapshots that could not be written (a full disk, say); each is tried again one interval later.",
        &f.snapshot_failures,
    );
    out.gauge(
        "follower_last_snapshot_seq",
        "Sequence number covered by the last snapshot.",
        get(&f.last_snapshot_seq),
    );
    let _ = writeln!(
        out.0,
        "# HELP crossline_follower_last_snapshot_duration_seconds How long the last snapshot took.\n\
         # TYPE crossline_follower_last_snapshot_duration_seconds gauge\n\
         crossline_follower_last_snapshot_duration_seconds {}",
        seconds(get(&f.last_snapshot_ms).saturating_mul(1_000_000))
    );

    if let Some(health) = health {
        out.gauge(
            "journal_written_seq",
            "Highest sequence number written to the journal.",
            health.journal_written_seq,
        );
        out.gauge(
            "journal_durable_seq",
            "Highest sequence number synced to disk.",
            health.journal_durable_seq,
        );
        out.gauge(
            "follower_lag",
            "Commands the engine applied that the follower has not.",
            health.lag(),
        );
    }
    out.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{add, bump, set, GatewayReject};
    use std::collections::{HashMap, HashSet};

    /// A minimal parser of the exposition: checks the shape of every line and returns the samples.
    fn parse(text: &str) -> Vec<(String, String, f64)> {
        let mut typed: HashMap<String, String> = HashMap::new();
        let mut helped: HashSet<String> = HashSet::new();
        let mut samples = Vec::new();
        for line in text.lines() {
            assert!(!line.is_empty(), "empty line");
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().expect("help name");
                assert!(helped.insert(name.to_string()), "second HELP for {name}");
                continue;
            }
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut parts = rest.split(' ');
                let name = parts.next().expect("type name");
                let kind = parts.next().expect("type kind");
                assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
                assert!(
                    typed.insert(name.to_string(), kind.to_string()).is_none(),
                    "second TYPE for {name}"
                );
                continue;
            }
            assert!(!line.starts_with('#'), "{line}");
            let (series, value) = line.rsplit_once(' ').expect("sample has a value");
            let value: f64 = value
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line}"));
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => {
                    let labels = labels.strip_suffix('}').expect("closing brace");
                    for label in labels.split(',') {
                        let (k, v) = label.split_once('=').expect("label k=v");
                        assert!(
                            k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                            "{line}"
                        );
                        assert!(
                            v.starts_with('"') && v.ends_with('"') && v.len() >= 2,
                            "{line}"
                        );
                    }
                    (name, labels.to_string())
                }
                None => (series, String::new()),
            };
            assert!(name.starts_with("crossline_"), "{line}");
            assert!(
                name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "bad name in {line}"
            );
            let family = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| {
                    name.strip_suffix(s)
                        .filter(|f| typed.get(*f).is_some_and(|k| k == "histogram"))
                })
                .unwrap_or(name);
            let kind = typed
                .get(family)
                .unwrap_or_else(|| panic!("sample before TYPE: {line}"));
            assert!(helped.contains(family), "no HELP for {family}");
            if kind == "counter" {
                assert!(
                    family.ends_with("_total"),
                    "counter {family} without _total"
                );
            }
            samples.push((name.to_string(), labels, value));
        }
        samples
    }

    #[test]
    fn exposition_parses_and_histograms_are_cumulative() {
        let metrics = Metrics::default();
        bump(&metrics.gateway.messages_in);
        add(
            &metrics.gateway.rejects[GatewayReject::RateLimited as usize],
            3,
        );
        set(&metrics.gateway.sessions_logged_in, 2);
        for v in [0, 1, 900, 1_000, 5_000, 5_000, 1_000_000, u64::MAX / 4] {
            metrics.engine.batch_latency.record(v);
        }
        metrics.gateway.reply_latency.record(1_500);
        set(&metrics.follower.last_snapshot_ms, 1_250);
        let health = Health {
            role: "leader".into(),
            applied_seq: 5,
            engine_seq: 9,
            state_hash: 1,
            journal_written_seq: 9,
            journal_durable_seq: 7,
            cluster: None,
            invariant_violation: None,
            query: None,
            sessions_logged_in: 2,
        };
        let text = render(&metrics, Some(&health));
        let samples = parse(&text);
        let value = |name: &str, labels: &str| {
            samples
                .iter()
                .find(|(n, l, _)| n == name && l == labels)
                .map(|s| s.2)
                .unwrap_or_else(|| panic!("no sample {name}{{{labels}}}"))
        };
        assert_eq!(value("crossline_gateway_messages_in_total", ""), 1.0);
        assert_eq!(
            value("crossline_gateway_rejects_total", "reason=\"rate_limited\""),
            3.0
        );
        assert_eq!(
            value("crossline_gateway_rejects_total", "reason=\"translation\""),
            0.0
        );
        assert_eq!(value("crossline_gateway_sessions_logged_in", ""), 2.0);
        assert_eq!(value("crossline_follower_lag", ""), 4.0);
        assert_eq!(value("crossline_journal_durable_seq", ""), 7.0);
        assert_eq!(
            value("crossline_follower_last_snapshot_duration_seconds", ""),
            1.25
        );
        assert_eq!(
            value("crossline_engine_batch_latency_seconds_count", ""),
            8.0
        );
        assert_eq!(
            value(
                "crossline_engine_batch_latency_seconds_bucket",
                "le=\"+Inf\""
            ),
            8.0
        );
        // [2^0, 2^1) ns holds 0 and 1; le is the upper bound 2 ns.
        assert_eq!(
            value(
                "crossline_engine_batch_latency_seconds_bucket",
                "le=\"0.000000002\""
            ),
            2.0
        );
        assert_eq!(
            value("crossline_gateway_reply_latency_seconds_sum", ""),
            0.0000015
        );

        for family in [
            "crossline_engine_batch_latency_seconds",
            "crossline_gateway_reply_latency_seconds",
        ] {
            let bucket = format!("{family}_bucket");
            let buckets: Vec<(f64, f64)> = samples
                .iter()
                .filter(|(n, _, _)| *n == bucket)
                .map(|(_, l, v)| {
                    let le = l.trim_start_matches("le=\"").trim_end_matches('"');
                    let le = if le == "+Inf" {
                        f64::INFINITY
                    } else {
                        le.parse().expect("le")
                    };
                    (le, *v)
                })
                .collect();
            assert_eq!(buckets.len(), LOG2_BUCKETS);
            for pair in buckets.windows(2) {
                assert!(pair[0].0 < pair[1].0, "le not increasing in {family}");
                assert!(pair[0].1 <= pair[1].1, "counts not cumulative in {family}");
            }
            assert_eq!(
                buckets.last().map(|b| b.1),
                Some(value(&format!("{family}_count"), ""))
            );
        }
    }

    #[test]
    fn without_health_still_parses() {
        let text = render(&Metrics::default(), None);
        assert!(!parse(&text).is_empty());
        assert!(!text.contains("crossline_follower_lag"));
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn seconds_are_exact() {
        assert_eq!(seconds(0), "0");
        assert_eq!(seconds(2), "0.000000002");
        assert_eq!(seconds(1_500_000_000), "1.5");
        assert_eq!(seconds(3_000_000_000), "3");
        assert_eq!(seconds(u64::MAX), "18446744073.709551615");
    }
}
