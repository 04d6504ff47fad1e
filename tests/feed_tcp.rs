//! The appliance's ITCH feed over SoupBinTCP and its snapshot service, end to end: a late joiner takes the
//! snapshot, then the TCP stream from where it ends, and rebuilds the book the admin API shows.

mod common;

use common::*;
use crossline_net::feed::{BookBuilder, EndOfSnapshot};
use crossline_net::itch::Message;
use crossline_net::ouch::Side;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const QUIET: Duration = Duration::from_millis(300);

/// A bare SoupBinTCP subscriber.
struct Subscriber {
    stream: TcpStream,
}

impl Subscriber {
    fn login(addr: SocketAddr, user: &str, sequence: u64) -> Subscriber {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(REPLY_TIMEOUT))
            .expect("timeout");
        let password = format!("{user}-pw");
        let mut frame = vec![0, 47, b'L'];
        frame.extend_from_slice(
            format!("{user:<6}{password:<10}{:>10}{sequence:>20}", "").as_bytes(),
        );
        stream.write_all(&frame).expect("login");
        let mut subscriber = Subscriber { stream };
        let (kind, payload) = subscriber.data().expect("login answer");
        assert_eq!(kind, b'A', "{:?}", String::from_utf8_lossy(&payload));
        subscriber
    }

    /// The next packet other than a heartbeat, or `None` at end of stream.
    fn data(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            let mut header = [0u8; 3];
            if let Err(error) = self.stream.read_exact(&mut header) {
                assert!(
                    matches!(
                        error.kind(),
                        ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset
                    ),
                    "read: {error}"
                );
                return None;
            }
            let length = usize::from(u16::from_be_bytes([header[0], header[1]]));
            let mut payload = vec![0u8; length - 1];
            self.stream.read_exact(&mut payload).expect("payload");
            if header[2] != b'H' {
                return Some((header[2], payload));
            }
        }
    }
}

fn levels(book: &serde_json::Value, side: &str) -> Vec<(i64, u64)> {
    book[side]
        .as_array()
        .expect("levels")
        .iter()
        .map(|l| {
            (
                l["price"].as_i64().expect("price"),
                l["qty"].as_u64().expect("qty"),
            )
        })
        .collect()
}

fn admin_book(admin: SocketAddr) -> serde_json::Value {
    // Let the follower catch up with the engine first.
    for _ in 0..200 {
        let (_, body) = http(admin, "GET", "/health", None, "");
        let health: serde_json::Value = serde_json::from_str(&body).expect("health JSON");
        if health["lag"] == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (status, body) = http(admin, "GET", "/book/ACME?levels=50", None, "");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("book JSON")
}

fn feed_levels(builder: &BookBuilder, side: crossline_engine::Side) -> Vec<(i64, u64)> {
    builder
        .depth(1, side, 50)
        .iter()
        .map(|l| (i64::from(l.price), l.shares))
        .collect()
}

#[test]
fn a_late_joiner_takes_the_snapshot_then_the_stream_and_sees_the_admin_book() {
    let site = Site::new(|text| text);
    let appliance = site.start();
    let addr = appliance.endpoints.order_entry;
    let admin = appliance.endpoints.admin.expect("admin");
    let tcp = appliance.endpoints.feed_tcp.expect("feed_tcp endpoint");
    let snapshot = appliance
        .endpoints
        .feed_snapshot
        .expect("feed_snapshot endpoint");

    // An early subscriber from the first message.
    let mut early = Subscriber::login(tcp, "carol", 1);

    let mut alice = login(addr, "alice", 1);
    let mut bob = login(addr, "bob", 1);
    let mut user_ref = 0;
    let mut trade = |alice: &mut crossline_net::client::Client,
                     bob: &mut crossline_net::client::Client,
                     round: u64| {
        for level in 0..4u64 {
            user_ref += 1;
            alice
                .enter_order(&limit(
                    user_ref,
                    Side::Buy,
                    100 + level as u32,
                    "ACME",
                    99_9900 - level * 100 - round * 100,
                ))
                .expect("send");
            bob.enter_order(&limit(
                user_ref,
                Side::Sell,
                100 + level as u32,
                "ACME",
                100_0100 + level * 100 + round * 100,
            ))
            .expect("send");
        }
        // An aggressive sell that takes part of the bids.
        user_ref += 1;
        bob.enter_order(&limit(user_ref, Side::Sell, 150, "ACME", 99_0000))
            .expect("send");
        let _ = drain(alice, QUIET);
        let _ = drain(bob, QUIET);
    };
    trade(&mut alice, &mut bob, 0);
    trade(&mut alice, &mut bob, 1);

    // The late joiner: snapshot first.
    let mut late = BookBuilder::new(1);
    let mut snap = Subscriber::login(snapshot, "carol", 0);
    let current_to = loop {
        let (kind, payload) = snap.data().expect("snapshot message");
        assert_eq!(kind, b'S');
        if payload[0] == EndOfSnapshot::TYPE {
            break EndOfSnapshot::decode(&payload)
                .expect("end of snapshot")
                .sequence_number;
        }
        late.apply(&Message::decode(&payload).expect("ITCH"))
            .expect("snapshot applies");
    };
    assert_eq!(snap.data(), Some((b'Z', Vec::new())));
    assert!(current_to > 3, "snapshot current to {current_to}");
    let book = admin_book(admin);
    assert_eq!(
        feed_levels(&late, crossline_engine::Side::Buy),
        levels(&book, "bids")
    );
    assert_eq!(
        feed_levels(&late, crossline_engine::Side::Sell),
        levels(&book, "asks")
    );

    // More trading, then the stream from where the snapshot ends.
    trade(&mut alice, &mut bob, 2);
    let mut stream = Subscriber::login(tcp, "carol", current_to + 1);
    trade(&mut alice, &mut bob, 3);
    let book = admin_book(admin);
    let bids = levels(&book, "bids");
    let asks = levels(&book, "asks");
    let deadline = std::time::Instant::now() + REPLY_TIMEOUT;
    while feed_levels(&late, crossline_engine::Side::Buy) != bids
        || feed_levels(&late, crossline_engine::Side::Sell) != asks
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the late joiner's book never matched the admin book"
        );
        let (kind, payload) = stream.data().expect("stream message");
        assert_eq!(kind, b'S');
        late.apply(&Message::decode(&payload).expect("ITCH"))
            .expect("stream applies");
    }
    assert!(!bids.is_empty() && !asks.is_empty());

    // The early subscriber, from message 1, sees the same book.
    let mut from_start = BookBuilder::new(1);
    let deadline = std::time::Instant::now() + REPLY_TIMEOUT;
    while feed_levels(&from_start, crossline_engine::Side::Buy) != bids
        || feed_levels(&from_start, crossline_engine::Side::Sell) != asks
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the early subscriber never matched"
        );
        let (kind, payload) = early.data().expect("stream message");
        assert_eq!(kind, b'S');
        from_start
            .apply(&Message::decode(&payload).expect("ITCH"))
            .expect("stream applies");
    }

    let (_, metrics) = http(admin, "GET", "/metrics", None, "");
    assert!(
        metrics.contains("crossline_feed_tcp_dropped_total 0"),
        "{metrics}"
    );
    drop(alice);
    drop(bob);
    assert!(appliance.terminate().success());
    // Shutdown ends the stream with End of Session.
    let mut ended = false;
    while let Some((kind, _)) = stream.data() {
        if kind == b'Z' {
            ended = true;
        }
    }
    assert!(ended, "no End of Session at shutdown");
}
