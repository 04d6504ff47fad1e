//! The ITCH stream over SoupBinTCP and the snapshot service, on real sockets on 127.0.0.1.

use crossline_engine::Side;
use crossline_net::feed::{BookBuilder, EndOfSnapshot, FeedServer, FeedServerConfig, FeedStats};
use crossline_net::itch::{
    AddOrder, BuySell, EventCode, Message, OrderCancel, OrderDelete, OrderExecuted, OrderReplace,
    StockDirectory, SystemEvent,
};
use crossline_net::reactor::Backend;
use crossline_net::session::{cheap_params, hash_password_with_params, Users};
use crossline_net::soupbin::SessionId;
use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);

fn users() -> Arc<Users> {
    let mut users = Users::with_params(cheap_params()).expect("users");
    let hash = hash_password_with_params("alice-pw", cheap_params()).expect("hash");
    users.add("alice", &hash).expect("add");
    Arc::new(users)
}

fn config() -> FeedServerConfig {
    FeedServerConfig {
        tcp_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        snapshot_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        backend: if std::env::var("FEED_EPOLL").is_ok() {
            Backend::Epoll
        } else {
            Backend::Auto
        },
        session: SessionId::new("FEED1"),
        store_messages: 256,
        max_backlog_messages: 256,
        heartbeat_interval_ms: 100,
        client_timeout_ms: 5_000,
        login_timeout_ms: 2_000,
        ..FeedServerConfig::default()
    }
}

enum Command {
    Publish(Vec<(u64, Vec<u8>)>),
    Stats(Sender<FeedStats>),
    Book(Sender<Vec<(u16, BookSide, BookSide)>>),
    Stop,
}

type BookSide = Vec<(u64, u32, u32)>;

/// A FeedServer on a thread of its own (the reactor stays on the thread that bound it).
struct Server {
    tcp: SocketAddr,
    snapshot: SocketAddr,
    commands: Sender<Command>,
    thread: Option<JoinHandle<()>>,
    next_sequence: u64,
}

impl Server {
    fn start(config: FeedServerConfig) -> Server {
        let (ready_tx, ready_rx) = channel();
        let (commands, rx): (Sender<Command>, Receiver<Command>) = channel();
        let thread = std::thread::spawn(move || {
            let mut server = FeedServer::bind(config, users()).expect("bind");
            ready_tx
                .send((
                    server.tcp_addr().expect("tcp"),
                    server.snapshot_addr().expect("snapshot"),
                ))
                .expect("ready");
            loop {
                while let Ok(command) = rx.try_recv() {
                    match command {
                        Command::Publish(messages) => {
                            for (sequence, bytes) in messages {
                                let _ = server.publish(sequence, &bytes);
                            }
                        }
                        Command::Stats(reply) => {
                            let _ = reply.send(server.stats());
                        }
                        Command::Book(reply) => {
                            let _ = reply.send(book_view(server.book()));
                        }
                        Command::Stop => {
                            server.end_session();
                            while server.open_connections() > 0 {
                                let _ = server.poll(Duration::from_millis(1));
                            }
                            return;
                        }
                    }
                }
                server.poll(Duration::from_millis(1)).expect("poll");
            }
        });
        let (tcp, snapshot) = ready_rx.recv_timeout(WAIT).expect("server ready");
        Server {
            tcp,
            snapshot,
            commands,
            thread: Some(thread),
            next_sequence: 1,
        }
    }

    fn publish(&mut self, messages: &[Message]) {
        let batch = messages
            .iter()
            .map(|message| {
                let sequence = self.next_sequence;
                self.next_sequence += 1;
                (sequence, encode(message))
            })
            .collect();
        self.commands
            .send(Command::Publish(batch))
            .expect("publish");
    }

    fn stats(&self) -> FeedStats {
        let (tx, rx) = channel();
        self.commands.send(Command::Stats(tx)).expect("stats");
        rx.recv_timeout(WAIT).expect("stats reply")
    }

    fn book(&self) -> Vec<(u16, BookSide, BookSide)> {
        let (tx, rx) = channel();
        self.commands.send(Command::Book(tx)).expect("book");
        rx.recv_timeout(WAIT).expect("book reply")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn encode(message: &Message) -> Vec<u8> {
    let mut out = vec![0u8; message.encoded_len()];
    message.encode(&mut out).expect("encode");
    out
}

fn book_view(book: &BookBuilder) -> Vec<(u16, BookSide, BookSide)> {
    let side = |locate, side| {
        book.orders(locate, side)
            .iter()
            .map(|o| (o.order_reference_number, o.price, o.shares))
            .collect::<Vec<_>>()
    };
    book.stock_locates()
        .into_iter()
        .map(|locate| (locate, side(locate, Side::Buy), side(locate, Side::Sell)))
        .filter(|(_, bids, asks)| !bids.is_empty() || !asks.is_empty())
        .collect()
}

/// A bare SoupBinTCP client on a blocking socket.
struct Client {
    stream: TcpStream,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(WAIT)).expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Client { stream }
    }

    fn login(addr: SocketAddr, password: &str, sequence: u64) -> Client {
        let mut client = Client::connect(addr);
        client.send_login("alice", password, "", sequence);
        client
    }

    fn send_login(&mut self, user: &str, password: &str, session: &str, sequence: u64) {
        let mut frame = vec![0, 47, b'L'];
        frame.extend_from_slice(
            format!("{user:<6}{password:<10}{session:>10}{sequence:>20}").as_bytes(),
        );
        assert_eq!(frame.len(), 49);
        self.stream.write_all(&frame).expect("send login");
    }

    /// The next packet (type, payload), or `None` at end of stream.
    fn packet(&mut self) -> Option<(u8, Vec<u8>)> {
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
        Some((header[2], payload))
    }

    /// The next packet that is not a Server Heartbeat.
    fn data(&mut self) -> Option<(u8, Vec<u8>)> {
        loop {
            match self.packet() {
                Some((b'H', _)) => continue,
                other => return other,
            }
        }
    }

    fn accepted(&mut self) -> u64 {
        let (kind, payload) = self.data().expect("login answer");
        assert_eq!(
            kind,
            b'A',
            "login answer {:?}",
            String::from_utf8_lossy(&payload)
        );
        assert_eq!(&payload[..10], b"     FEED1");
        std::str::from_utf8(&payload[10..])
            .expect("ascii")
            .trim()
            .parse()
            .expect("sequence number")
    }

    /// Reads until end of stream; true if it ended (rather than timing out).
    fn closed(&mut self) -> bool {
        loop {
            match self.packet() {
                None => return true,
                Some(_) => continue,
            }
        }
    }
}

fn directory(locate: u16, stock: &[u8; 8]) -> Message {
    Message::StockDirectory(StockDirectory {
        stock_locate: locate,
        tracking_number: 0,
        timestamp_ns: 1,
        stock: *stock,
        market_category: b' ',
        financial_status_indicator: b' ',
        round_lot_size: 1,
        round_lots_only: b'N',
        issue_classification: b' ',
        issue_sub_type: *b"  ",
        authenticity: b'P',
        short_sale_threshold_indicator: b' ',
        ipo_flag: b' ',
        luld_reference_price_tier: b' ',
        etp_flag: b' ',
        etp_leverage_factor: 0,
        inverse_indicator: b'N',
    })
}

fn opening() -> Vec<Message> {
    vec![
        Message::SystemEvent(SystemEvent {
            stock_locate: 0,
            tracking_number: 0,
            timestamp_ns: 1,
            event_code: EventCode::StartOfMessages,
        }),
        directory(1, b"ACME    "),
        directory(2, b"GLOBX   "),
    ]
}

/// A random but consistent flow of Add / Execute / Cancel / Delete / Replace messages.
struct Flow {
    state: u64,
    next_ref: u64,
    live: BTreeMap<u64, (u16, u32)>,
    timestamp_ns: u64,
}

impl Flow {
    fn new(seed: u64) -> Flow {
        Flow {
            state: seed | 1,
            next_ref: 1,
            live: BTreeMap::new(),
            timestamp_ns: 10,
        }
    }

    fn below(&mut self, n: u64) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state % n
    }

    fn messages(&mut self, count: usize) -> Vec<Message> {
        (0..count).map(|_| self.message()).collect()
    }

    fn message(&mut self) -> Message {
        self.timestamp_ns += 1;
        let timestamp_ns = self.timestamp_ns;
        let pick = self.below(10);
        if self.live.len() < 5 || pick < 4 {
            let reference = self.next_ref;
            self.next_ref += 1;
            let locate = 1 + self.below(2) as u16;
            let side = if self.below(2) == 0 {
                BuySell::Buy
            } else {
                BuySell::Sell
            };
            let offset = self.below(10) as u32 * 100;
            let price = match side {
                BuySell::Buy => 99_0000 - offset,
                BuySell::Sell => 101_0000 + offset,
            };
            let shares = 1 + self.below(500) as u32;
            self.live.insert(reference, (locate, shares));
            return Message::AddOrder(AddOrder {
                stock_locate: locate,
                tracking_number: 0,
                timestamp_ns,
                order_reference_number: reference,
                side,
                shares,
                stock: if locate == 1 {
                    *b"ACME    "
                } else {
                    *b"GLOBX   "
                },
                price,
            });
        }
        let index = self.below(self.live.len() as u64) as usize;
        let (&reference, &(locate, shares)) = self.live.iter().nth(index).expect("live order");
        match pick {
            4 | 5 => {
                let executed = 1 + self.below(u64::from(shares)) as u32;
                if executed == shares {
                    self.live.remove(&reference);
                } else {
                    self.live.insert(reference, (locate, shares - executed));
                }
                Message::OrderExecuted(OrderExecuted {
                    stock_locate: locate,
                    tracking_number: 0,
                    timestamp_ns,
                    order_reference_number: reference,
                    executed_shares: executed,
                    match_number: self.timestamp_ns,
                })
            }
            6 => {
                let cancelled = 1 + self.below(u64::from(shares)) as u32;
                if cancelled == shares {
                    self.live.remove(&reference);
                } else {
                    self.live.insert(reference, (locate, shares - cancelled));
                }
                Message::OrderCancel(OrderCancel {
                    stock_locate: locate,
                    tracking_number: 0,
                    timestamp_ns,
                    order_reference_number: reference,
                    cancelled_shares: cancelled,
                })
            }
            7 => {
                self.live.remove(&reference);
                Message::OrderDelete(OrderDelete {
                    stock_locate: locate,
                    tracking_number: 0,
                    timestamp_ns,
                    order_reference_number: reference,
                })
            }
            _ => {
                self.live.remove(&reference);
                let new_reference = self.next_ref;
                self.next_ref += 1;
                let shares = 1 + self.below(500) as u32;
                self.live.insert(new_reference, (locate, shares));
                // A replacement keeps its side; a price in the middle band is valid for either side of this
                // synthetic flow (the builder does not check crossing).
                Message::OrderReplace(OrderReplace {
                    stock_locate: locate,
                    tracking_number: 0,
                    timestamp_ns,
                    original_order_reference_number: reference,
                    new_order_reference_number: new_reference,
                    shares,
                    price: 100_0000 + self.below(5) as u32 * 100,
                })
            }
        }
    }
}

fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn payloads(messages: &[Message]) -> Vec<Vec<u8>> {
    messages.iter().map(encode).collect()
}

#[test]
fn replay_from_n_then_live() {
    let mut server = Server::start(config());
    let mut flow = Flow::new(7);
    let mut sent = opening();
    sent.extend(flow.messages(97));
    server.publish(&sent);
    wait_for("publish", || server.book().len() == 2);

    let mut client = Client::login(server.tcp, "alice-pw", 50);
    assert_eq!(client.accepted(), 50);
    let expected = payloads(&sent);
    for sequence in 50..=100 {
        let (kind, payload) = client.data().expect("replayed message");
        assert_eq!(kind, b'S');
        assert_eq!(payload, expected[sequence - 1], "message {sequence}");
    }
    let live = flow.messages(20);
    server.publish(&live);
    for message in payloads(&live) {
        let (kind, payload) = client.data().expect("live message");
        assert_eq!((kind, payload), (b'S', message));
    }
}

#[test]
fn sequence_zero_is_live_from_the_next_message_and_heartbeats_flow() {
    let mut server = Server::start(config());
    let mut flow = Flow::new(11);
    server.publish(&opening());
    server.publish(&flow.messages(40));
    wait_for("publish", || {
        server.stats().stream_subscribers == 0 && !server.book().is_empty()
    });

    let mut client = Client::login(server.tcp, "ALICE-PW", 0);
    assert_eq!(client.accepted(), 44);
    // Idle: heartbeats only.
    let started = Instant::now();
    let (kind, _) = client.packet().expect("heartbeat");
    assert_eq!(kind, b'H');
    assert!(started.elapsed() < Duration::from_secs(2));
    let live = flow.messages(3);
    server.publish(&live);
    for message in payloads(&live) {
        assert_eq!(client.data().expect("live"), (b'S', message));
    }
    // The client's heartbeat and a logout.
    client.stream.write_all(&[0, 1, b'R']).expect("heartbeat");
    client.stream.write_all(&[0, 1, b'O']).expect("logout");
    assert!(client.closed());
}

#[test]
fn a_sequence_older_than_the_store_is_rejected_s_with_a_hint() {
    let mut server = Server::start(config());
    let mut flow = Flow::new(3);
    server.publish(&opening());
    server.publish(&flow.messages(400));
    wait_for("publish", || !server.book().is_empty());

    let mut client = Client::login(server.tcp, "alice-pw", 10);
    let (kind, text) = client.packet().expect("debug");
    assert_eq!(kind, b'+');
    let text = String::from_utf8_lossy(&text).to_string();
    assert!(text.contains("snapshot"), "{text}");
    assert_eq!(client.packet(), Some((b'J', vec![b'S'])));
    assert!(client.closed());

    // The oldest held still works.
    let mut client = Client::login(server.tcp, "alice-pw", 403 - 256 + 1);
    assert_eq!(client.accepted(), 148);
}

#[test]
fn a_wrong_password_or_session_is_rejected() {
    let server = Server::start(config());
    let mut client = Client::login(server.tcp, "wrong", 0);
    assert_eq!(client.data(), Some((b'J', vec![b'A'])));
    assert!(client.closed());

    let mut client = Client::connect(server.snapshot);
    client.send_login("bob", "alice-pw", "", 0);
    assert_eq!(client.data(), Some((b'J', vec![b'A'])));
    assert!(client.closed());

    let mut client = Client::connect(server.tcp);
    client.send_login("alice", "alice-pw", "OTHER", 0);
    assert_eq!(client.data().map(|(kind, _)| kind), Some(b'+'));
    assert_eq!(client.data(), Some((b'J', vec![b'S'])));
    assert!(client.closed());
    assert_eq!(server.stats().logins_rejected, 3);
}

#[test]
fn a_slow_subscriber_is_disconnected_and_others_carry_on() {
    let mut server = Server::start(FeedServerConfig {
        store_messages: 4096,
        max_backlog_messages: 1000,
        send_queue_bytes: 4096,
        socket_send_buffer_bytes: Some(4096),
        heartbeat_interval_ms: 1_000,
        ..config()
    });
    server.publish(&opening());
    let mut slow = Client::login(server.tcp, "alice-pw", 0);
    slow.accepted();
    let mut fast = Client::login(server.tcp, "alice-pw", 1);
    assert_eq!(fast.accepted(), 1);
    wait_for("two subscribers", || server.stats().stream_subscribers == 2);
    const BATCHES: u64 = 250;
    const BATCH: u64 = 200;
    // The fast one reads on a thread of its own; the flow waits for it, never for the slow one.
    let read = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = Arc::clone(&read);
    let reader = std::thread::spawn(move || {
        while let Some((kind, _)) = fast.data() {
            assert_eq!(kind, b'S');
            let count = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if count == 3 + BATCHES * BATCH {
                break;
            }
        }
    });
    let mut flow = Flow::new(5);
    for batch in 1..=BATCHES {
        server.publish(&flow.messages(BATCH as usize));
        wait_for("the fast subscriber", || {
            read.load(std::sync::atomic::Ordering::Relaxed) >= 3 + batch * BATCH
        });
    }
    reader.join().expect("reader");
    let stats = server.stats();
    assert_eq!(stats.slow_disconnects, 1, "{stats:?}");
    drop(slow);
}

#[test]
fn garbage_gets_a_debug_packet_and_a_close() {
    let server = Server::start(config());
    for (garbage, reason) in [
        (&[0u8, 0][..], "zero packet length"),
        (&[0, 2, b'Q', 1][..], "unknown packet type"),
        (&[0, 2, b'R', 1][..], "bad packet length"),
        (&[0, 3, b'U', 1, 2][..], "not allowed"),
    ] {
        for addr in [server.tcp, server.snapshot] {
            let mut client = Client::connect(addr);
            client.stream.write_all(garbage).expect("send");
            let (kind, text) = client.packet().expect("debug packet");
            assert_eq!(kind, b'+');
            let text = String::from_utf8_lossy(&text).to_string();
            assert!(text.contains(reason), "{text} for {garbage:?}");
            assert!(client.closed());
        }
    }
    // After login too.
    let mut client = Client::login(server.tcp, "alice-pw", 0);
    client.accepted();
    client.send_login("alice", "alice-pw", "", 0);
    let (kind, _) = client.data().expect("debug");
    assert_eq!(kind, b'+');
    assert!(client.closed());
}

#[test]
fn a_connection_that_does_not_log_in_is_closed_at_the_login_timeout() {
    let server = Server::start(FeedServerConfig {
        login_timeout_ms: 100,
        ..config()
    });
    let mut client = Client::connect(server.tcp);
    let started = Instant::now();
    assert!(client.closed());
    assert!(started.elapsed() >= Duration::from_millis(90));
}

/// Takes a snapshot: the builder it makes and the sequence number it is current to.
fn take_snapshot(addr: SocketAddr) -> (BookBuilder, u64, Vec<u8>) {
    let mut client = Client::login(addr, "alice-pw", 1);
    assert_eq!(client.accepted(), 1);
    let mut builder = BookBuilder::new(1);
    let mut types = Vec::new();
    loop {
        let (kind, payload) = client.data().expect("snapshot message");
        if kind == b'Z' {
            panic!("End of Session before End of Snapshot");
        }
        assert_eq!(kind, b'S');
        types.push(payload[0]);
        if payload[0] == EndOfSnapshot::TYPE {
            let end = EndOfSnapshot::decode(&payload).expect("end of snapshot");
            assert_eq!(client.data(), Some((b'Z', Vec::new())));
            assert!(client.closed());
            return (builder, end.sequence_number, types);
        }
        let message = Message::decode(&payload).expect("ITCH message");
        builder.apply(&message).expect("snapshot applies");
    }
}

#[test]
fn a_snapshot_then_the_stream_rebuilds_the_same_book() {
    let mut server = Server::start(config());
    let mut flow = Flow::new(42);
    let mut all = opening();
    all.extend(flow.messages(3000));
    server.publish(&all);
    wait_for("publish", || {
        server.stats().logins_accepted == 0 && !server.book().is_empty()
    });

    let (mut late, current_to, types) = take_snapshot(server.snapshot);
    // Published so far: 3003 messages, all reflected.
    assert_eq!(current_to, 3003);
    assert_eq!(&types[..3], b"SRR");
    assert!(types[3..types.len() - 1].iter().all(|&t| t == b'A'));
    // The snapshot alone equals the server's book.
    assert_eq!(book_view(&late), server.book());

    // More flow while the late joiner connects to the stream from where the snapshot ends.
    let more = flow.messages(500);
    server.publish(&more[..200]);
    let mut stream = Client::login(server.tcp, "alice-pw", current_to + 1);
    assert_eq!(stream.accepted(), current_to + 1);
    server.publish(&more[200..]);
    all.extend(more);
    for _ in 0..500 {
        let (kind, payload) = stream.data().expect("stream message");
        assert_eq!(kind, b'S');
        late.apply(&Message::decode(&payload).expect("ITCH"))
            .expect("stream applies");
    }

    let mut reference = BookBuilder::new(1);
    for message in &all {
        reference.apply(message).expect("reference applies");
    }
    assert!(!book_view(&reference).is_empty());
    assert_eq!(book_view(&late), book_view(&reference));
    for locate in [1, 2] {
        for side in [Side::Buy, Side::Sell] {
            assert_eq!(
                late.depth(locate, side, 100),
                reference.depth(locate, side, 100)
            );
        }
    }
    assert_eq!(server.book(), book_view(&reference));
}

#[test]
fn a_sequence_gap_makes_the_feed_stale_and_closes_subscribers() {
    let mut server = Server::start(config());
    server.publish(&opening());
    let mut client = Client::login(server.tcp, "alice-pw", 1);
    assert_eq!(client.accepted(), 1);
    for _ in 0..3 {
        assert_eq!(client.data().map(|(kind, _)| kind), Some(b'S'));
    }
    // Skip sequence 4.
    server.next_sequence += 1;
    server.publish(&Flow::new(1).messages(1));
    let (kind, text) = client.data().expect("debug");
    assert_eq!(kind, b'+');
    assert!(String::from_utf8_lossy(&text).contains("gap"));
    assert!(client.closed());
    let mut again = Client::login(server.tcp, "alice-pw", 0);
    assert_eq!(again.data().map(|(kind, _)| kind), Some(b'+'));
    assert_eq!(again.data(), Some((b'J', vec![b'S'])));
}
