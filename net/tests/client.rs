//! The order-entry client against a real in-process gateway on 127.0.0.1 (epoll backend): an echo application
//! answers each Enter Order with Order Accepted and each Cancel Order with Order Canceled. Every wait is bounded.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossline_net::alpha;
use crossline_net::client::{
    AttemptOutcome, Client, ClientError, ClientTimeouts, ConnectError, Credentials,
};
use crossline_net::ouch::{
    CancelOrder, CancelReason, Capacity, CrossType, Display, EnterOrder, Inbound, IsoEligibility,
    OrderAccepted, OrderCanceled, OrderState, Outbound, Side, TimeInForce,
};
use crossline_net::reactor::{Backend, Reactor, ReactorConfig};
use crossline_net::session::{
    cheap_params, hash_password_with_params, Gateway, SessionCloseReason, SessionConfig,
    SessionEvent, SessionManager, UserId, Users,
};
use crossline_net::soupbin::{LoginAccepted, LoginRejectReason, Packet, SessionId};

const TIMEOUT: Duration = Duration::from_secs(5);

enum Command {
    Publish(Vec<u8>),
    Stop,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Record {
    LoggedIn(String),
    Closed(Option<String>, SessionCloseReason),
}

struct Server {
    addr: SocketAddr,
    commands: Sender<Command>,
    records: Receiver<Record>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.commands.send(Command::Stop).ok();
        if let Some(thread) = self.thread.take() {
            thread.join().expect("server thread panicked");
        }
    }
}

impl Server {
    /// Publishes an Order Accepted for `user_ref_num` to alice's session.
    fn publish_accepted(&self, user_ref_num: u32) {
        let mut bytes = [0; 256];
        let len = accepted_for(&order(user_ref_num), 0)
            .encode(&mut bytes)
            .unwrap();
        self.commands
            .send(Command::Publish(bytes[..len].to_vec()))
            .unwrap();
    }

    fn wait_for(&self, wanted: impl Fn(&Record) -> bool) -> Record {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.records.recv_timeout(left) {
                Ok(record) if wanted(&record) => return record,
                Ok(_) => {}
                Err(_) => panic!("expected session record not seen within {TIMEOUT:?}"),
            }
        }
    }
}

fn order(user_ref_num: u32) -> EnterOrder {
    EnterOrder {
        user_ref_num,
        side: Side::Buy,
        quantity: 100,
        symbol: alpha("AAPL"),
        price: 1_503_400,
        time_in_force: TimeInForce::Day,
        display: Display::Visible,
        capacity: Capacity::Agency,
        intermarket_sweep: IsoEligibility::NotEligible,
        cross_type: CrossType::ContinuousMarket,
        cl_ord_id: alpha("CL1"),
        options: Default::default(),
    }
}

fn accepted_for(order: &EnterOrder, order_reference_number: u64) -> OrderAccepted {
    OrderAccepted {
        timestamp_ns: 1,
        user_ref_num: order.user_ref_num,
        side: order.side,
        quantity: order.quantity,
        symbol: order.symbol,
        price: order.price,
        time_in_force: order.time_in_force,
        display: order.display,
        order_reference_number,
        capacity: order.capacity,
        intermarket_sweep: order.intermarket_sweep,
        cross_type: order.cross_type,
        order_state: OrderState::Live,
        cl_ord_id: order.cl_ord_id,
        options: order.options,
    }
}

/// The echo application's answer to one inbound message.
fn answer(inbound: &Inbound, order_reference_number: u64) -> Option<Outbound> {
    match inbound {
        Inbound::EnterOrder(order) => Some(accepted_for(order, order_reference_number).into()),
        Inbound::CancelOrder(cancel) => Some(
            OrderCanceled {
                timestamp_ns: 2,
                user_ref_num: cancel.user_ref_num,
                quantity: 100,
                reason: CancelReason::UserRequested,
                options: Default::default(),
            }
            .into(),
        ),
        _ => None,
    }
}

/// Starts a gateway with users alice/pw1 and bob/pw2 on 127.0.0.1:0.
fn start(client_timeout_ms: u64) -> Server {
    let (ready_tx, ready_rx) = mpsc::channel();
    let (commands, command_rx) = mpsc::channel::<Command>();
    let (record_tx, records) = mpsc::channel();
    let thread = thread::spawn(move || {
        let reactor_config = ReactorConfig {
            backend: Backend::Epoll,
            max_connections: 8,
            recv_buffer_bytes: 4096,
            recv_buffers: 32,
            send_queue_bytes_max: 64 * 1024,
            socket_send_buffer_bytes: None,
            ring_entries: 256,
            ..ReactorConfig::default()
        };
        let reactor = Reactor::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), reactor_config)
            .expect("bind");
        let mut users = Users::with_params(cheap_params()).unwrap();
        let alice = users
            .add(
                "alice",
                &hash_password_with_params("pw1", cheap_params()).unwrap(),
            )
            .unwrap();
        users
            .add(
                "bob",
                &hash_password_with_params("pw2", cheap_params()).unwrap(),
            )
            .unwrap();
        let config = SessionConfig {
            session_id: SessionId::new("T1"),
            max_sessions: 8,
            store_messages_per_session: 100,
            store_bytes_per_session: 16 * 1024,
            login_timeout_ms: 2_000,
            heartbeat_interval_ms: 100,
            client_timeout_ms,
            ..SessionConfig::default()
        };
        let manager = SessionManager::new(config, users).unwrap();
        let mut gateway = Gateway::new(reactor, manager);
        ready_tx.send(gateway.local_addr().unwrap()).ok();
        let name = |user: UserId| if user == alice { "alice" } else { "bob" }.to_owned();
        let record = |event: SessionEvent<'_>| {
            let record = match event {
                SessionEvent::LoggedIn { user, .. } => Record::LoggedIn(name(user)),
                SessionEvent::Closed { user, reason, .. } => Record::Closed(user.map(name), reason),
                SessionEvent::Message { .. } => return,
            };
            record_tx.send(record).ok();
        };
        let mut answers: Vec<(UserId, Outbound)> = Vec::with_capacity(64);
        let mut next_order_reference: u64 = 1;
        let mut bytes = [0; 512];
        // Bounded: the test drops the server (Stop) within its own time bound; a lost test thread ends the loop
        // through the closed channel.
        loop {
            gateway
                .poll(Duration::from_millis(2), |event| {
                    if let SessionEvent::Message { user, ouch, .. } = event {
                        if let Some(reply) = Inbound::decode(ouch)
                            .ok()
                            .and_then(|inbound| answer(&inbound, next_order_reference))
                        {
                            next_order_reference += 1;
                            answers.push((user, reply));
                        }
                    } else {
                        record(event);
                    }
                })
                .expect("poll");
            for (user, reply) in answers.drain(..) {
                let len = reply.encode(&mut bytes).expect("encode");
                gateway
                    .publish(user, &bytes[..len], record)
                    .expect("publish");
            }
            loop {
                match command_rx.try_recv() {
                    Ok(Command::Publish(message)) => {
                        gateway.publish(alice, &message, record).expect("publish");
                    }
                    Ok(Command::Stop) | Err(mpsc::TryRecvError::Disconnected) => return,
                    Err(mpsc::TryRecvError::Empty) => break,
                }
            }
        }
    });
    let addr = ready_rx
        .recv_timeout(TIMEOUT)
        .expect("server did not start");
    Server {
        addr,
        commands,
        records,
        thread: Some(thread),
    }
}

fn alice() -> Credentials {
    Credentials::new("alice", "pw1").unwrap()
}

fn timeouts() -> ClientTimeouts {
    ClientTimeouts {
        login_ms: 3_000,
        ..ClientTimeouts::default()
    }
}

/// The next sequenced message as (sequence number, message), failing the test after `TIMEOUT`.
fn next(client: &mut Client) -> (u64, Outbound) {
    let received = client
        .poll_message(TIMEOUT)
        .expect("poll")
        .expect("a message within the timeout");
    (received.sequence_number, received.message)
}

fn user_ref(message: &Outbound) -> u32 {
    match message {
        Outbound::OrderAccepted(accepted) => accepted.user_ref_num,
        Outbound::OrderCanceled(canceled) => canceled.user_ref_num,
        other => panic!("unexpected message {other:?}"),
    }
}

/// An address where nothing listens: a port bound and released.
fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    listener.local_addr().unwrap()
}

/// A standby: answers each of `logins` Login Requests with Login Rejected 'S'.
fn standby(logins: usize) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    let thread = thread::spawn(move || {
        let deadline = Instant::now() + TIMEOUT;
        let mut answered = 0;
        while answered < logins && Instant::now() < deadline {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    stream.set_nonblocking(false).unwrap();
                    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
                    let mut login = [0; 49];
                    stream.read_exact(&mut login).unwrap();
                    assert_eq!(&login[..3], &[0, 47, b'L']);
                    stream.write_all(&[0, 2, b'J', b'S']).unwrap();
                    answered += 1;
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => {
                    thread::sleep(Duration::from_millis(2))
                }
                Err(error) => panic!("accept: {error}"),
            }
        }
    });
    (addr, thread)
}

#[test]
fn logs_in_sends_an_order_and_receives_its_acceptance() {
    let server = start(3_000);
    let mut client =
        Client::connect(&[server.addr], alice(), SessionId::BLANK, 0, timeouts()).unwrap();
    assert_eq!(client.address(), server.addr);
    assert_eq!(client.session(), SessionId::new("T1"));
    assert_eq!(client.resume_seq(), 1);

    client.enter_order(&order(7)).unwrap();
    let (sequence, message) = next(&mut client);
    assert_eq!(sequence, 1);
    let Outbound::OrderAccepted(accepted) = message else {
        panic!("expected Order Accepted, got {message:?}");
    };
    assert_eq!(accepted.user_ref_num, 7);
    assert_eq!(accepted.quantity, 100);

    client
        .cancel(&CancelOrder {
            user_ref_num: 7,
            quantity: 0,
            options: Default::default(),
        })
        .unwrap();
    let (sequence, message) = next(&mut client);
    assert_eq!(sequence, 2);
    assert!(matches!(message, Outbound::OrderCanceled(c) if c.user_ref_num == 7));
    assert_eq!(client.resume_seq(), 3);

    client.logout().unwrap();
    assert!(!client.is_open());
    assert_eq!(
        client.enter_order(&order(8)).map_err(|e| e.to_string()),
        Err(ClientError::NotConnected.to_string())
    );
    server.wait_for(|record| {
        *record == Record::Closed(Some("alice".into()), SessionCloseReason::Logout)
    });
}

#[test]
fn a_wrong_password_is_not_authorized_and_stops_the_search() {
    let server = start(3_000);
    let untouched = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    untouched.set_nonblocking(true).unwrap();
    let addresses = [server.addr, untouched.local_addr().unwrap()];
    let wrong = Credentials::new("alice", "wrong").unwrap();
    let error = Client::connect(&addresses, wrong, SessionId::BLANK, 0, timeouts()).unwrap_err();
    let ConnectError::NotAuthorized { address, attempts } = &error else {
        panic!("expected NotAuthorized, got {error:?}");
    };
    assert_eq!(*address, server.addr);
    assert_eq!(attempts.0.len(), 1);
    assert_eq!(
        attempts.0[0].outcome,
        AttemptOutcome::Rejected(LoginRejectReason::NotAuthorized)
    );
    assert!(error.to_string().contains("not authorized"), "{error}");
    assert_eq!(
        untouched.accept().map(|_| ()).unwrap_err().kind(),
        ErrorKind::WouldBlock,
        "the next address must not be tried"
    );
}

#[test]
fn a_refused_address_and_a_standby_are_skipped_to_reach_the_leader() {
    let server = start(3_000);
    let (standby_addr, standby_thread) = standby(2);
    let refused = closed_port();

    let error = Client::connect(
        &[refused, standby_addr],
        alice(),
        SessionId::BLANK,
        0,
        timeouts(),
    )
    .unwrap_err();
    let ConnectError::NoLeader { attempts } = &error else {
        panic!("expected NoLeader, got {error:?}");
    };
    let outcomes: Vec<_> = attempts.0.iter().map(|a| (a.address, a.outcome)).collect();
    assert_eq!(
        outcomes,
        [
            (refused, AttemptOutcome::Refused),
            (
                standby_addr,
                AttemptOutcome::Rejected(LoginRejectReason::SessionNotAvailable)
            ),
        ]
    );

    let mut client = Client::connect(
        &[refused, standby_addr, server.addr],
        alice(),
        SessionId::BLANK,
        0,
        timeouts(),
    )
    .unwrap();
    assert_eq!(client.address(), server.addr);
    client.enter_order(&order(1)).unwrap();
    assert_eq!(user_ref(&next(&mut client).1), 1);
    standby_thread.join().unwrap();
}

#[test]
fn resuming_at_resume_seq_receives_exactly_what_was_published_while_away() {
    let server = start(3_000);
    let mut first =
        Client::connect(&[server.addr], alice(), SessionId::BLANK, 0, timeouts()).unwrap();
    first.enter_order(&order(1)).unwrap();
    assert_eq!(next(&mut first), (1, accepted_for(&order(1), 1).into()));
    let resume_seq = first.resume_seq();
    assert_eq!(resume_seq, 2);
    drop(first);
    server.wait_for(|record| matches!(record, Record::Closed(Some(user), _) if user == "alice"));

    for user_ref_num in [100, 101, 102] {
        server.publish_accepted(user_ref_num);
    }
    let mut second = Client::connect(
        &[server.addr],
        alice(),
        SessionId::new("T1"),
        resume_seq,
        timeouts(),
    )
    .unwrap();
    assert_eq!(second.resume_seq(), 2);
    for (sequence, user_ref_num) in [(2, 100), (3, 101), (4, 102)] {
        let (got_sequence, message) = next(&mut second);
        assert_eq!((got_sequence, user_ref(&message)), (sequence, user_ref_num));
    }
    assert!(second
        .poll_message(Duration::from_millis(300))
        .unwrap()
        .is_none());

    // `reconnect` resumes by itself, reusing the client's buffers.
    second.logout().unwrap();
    server.wait_for(|record| {
        *record == Record::Closed(Some("alice".into()), SessionCloseReason::Logout)
    });
    server.publish_accepted(103);
    second.reconnect(&[server.addr]).unwrap();
    let (sequence, message) = next(&mut second);
    assert_eq!((sequence, user_ref(&message)), (5, 103));
    assert!(second.poll_message(Duration::ZERO).unwrap().is_none());
}

#[test]
fn client_heartbeats_keep_an_idle_session_alive_past_the_client_timeout() {
    const SERVER_CLIENT_TIMEOUT_MS: u64 = 400;
    let server = start(SERVER_CLIENT_TIMEOUT_MS);
    let heartbeating = ClientTimeouts {
        heartbeat_interval_ms: 100,
        ..timeouts()
    };
    let mut client =
        Client::connect(&[server.addr], alice(), SessionId::BLANK, 0, heartbeating).unwrap();
    let idle_until = Instant::now() + Duration::from_millis(3 * SERVER_CLIENT_TIMEOUT_MS);
    let mut heartbeats = 0;
    while Instant::now() < idle_until {
        assert!(client
            .poll_message(Duration::from_millis(20))
            .unwrap()
            .is_none());
        if client.send_heartbeat_if_due(Instant::now()).unwrap() {
            heartbeats += 1;
        }
    }
    assert!(heartbeats >= 5, "only {heartbeats} heartbeats");
    client.enter_order(&order(1)).unwrap();
    assert_eq!(user_ref(&next(&mut client).1), 1);

    // Without heartbeats the server closes the session at its client timeout.
    let mut silent = Client::connect(
        &[server.addr],
        Credentials::new("bob", "pw2").unwrap(),
        SessionId::BLANK,
        0,
        timeouts(),
    )
    .unwrap();
    let started = Instant::now();
    let outcome = loop {
        // Alice keeps heartbeating meanwhile.
        client.send_heartbeat_if_due(Instant::now()).unwrap();
        assert!(client.poll_message(Duration::ZERO).unwrap().is_none());
        match silent.poll_message(Duration::from_millis(20)) {
            Ok(None) if started.elapsed() < TIMEOUT => continue,
            other => break other.map(|received| received.map(|r| r.sequence_number)),
        }
    };
    assert_eq!(outcome, Err(ClientError::Disconnected));
    assert!(started.elapsed() >= Duration::from_millis(SERVER_CLIENT_TIMEOUT_MS - 50));
    server.wait_for(|record| {
        *record == Record::Closed(Some("bob".into()), SessionCloseReason::ClientTimeout)
    });
    // Alice, heartbeating through all this, was never closed.
    client.enter_order(&order(2)).unwrap();
    assert_eq!(user_ref(&next(&mut client).1), 2);
}

/// A scripted server: accepts one connection, reads its Login Request, writes `packets`, then holds the
/// connection open for `hold` before closing it.
fn scripted(packets: Vec<Packet<'static>>, hold: Duration) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let addr = listener.local_addr().unwrap();
    let thread = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let mut login = [0; 49];
        stream.read_exact(&mut login).unwrap();
        let mut bytes = Vec::new();
        for packet in &packets {
            let mut frame = vec![0; packet.frame_bytes()];
            packet.encode(&mut frame).unwrap();
            bytes.extend_from_slice(&frame);
        }
        stream.write_all(&bytes).unwrap();
        thread::sleep(hold);
    });
    (addr, thread)
}

#[test]
fn heartbeats_and_debug_are_absorbed_a_bad_message_is_typed_and_end_of_session_ends_it() {
    let mut accepted = [0; 128];
    let len = accepted_for(&order(9), 1).encode(&mut accepted).unwrap();
    let accepted: &'static [u8] = accepted[..len].to_vec().leak();
    let (addr, server) = scripted(
        vec![
            Packet::LoginAccepted(LoginAccepted {
                session: SessionId::new("S7"),
                sequence_number: 5,
            }),
            Packet::ServerHeartbeat,
            Packet::SequencedData(accepted),
            Packet::Debug(b"hello"),
            Packet::SequencedData(b"?garbage"),
            Packet::ServerHeartbeat,
            Packet::EndOfSession,
        ],
        Duration::from_millis(500),
    );
    let mut client = Client::connect(&[addr], alice(), SessionId::BLANK, 0, timeouts()).unwrap();
    assert_eq!(client.session(), SessionId::new("S7"));
    let received = client.poll_message(TIMEOUT).unwrap().unwrap();
    assert_eq!(received.sequence_number, 5);
    assert_eq!(received.bytes, accepted);
    assert_eq!(user_ref(&received.message), 9);
    assert!(matches!(
        client.poll_message(TIMEOUT),
        Err(ClientError::BadMessage {
            sequence_number: 6,
            ..
        })
    ));
    assert_eq!(client.resume_seq(), 7);
    assert!(matches!(
        client.poll_message(TIMEOUT),
        Err(ClientError::EndOfSession)
    ));
    assert!(matches!(
        client.poll_message(TIMEOUT),
        Err(ClientError::NotConnected)
    ));
    server.join().unwrap();
}

#[test]
fn a_silent_server_is_a_server_timeout() {
    let (addr, server) = scripted(
        vec![Packet::LoginAccepted(LoginAccepted {
            session: SessionId::new("S7"),
            sequence_number: 1,
        })],
        Duration::from_millis(800),
    );
    let impatient = ClientTimeouts {
        server_silence_ms: 200,
        ..timeouts()
    };
    let mut client = Client::connect(&[addr], alice(), SessionId::BLANK, 0, impatient).unwrap();
    let started = Instant::now();
    let outcome = loop {
        match client.poll_message(Duration::from_millis(50)) {
            Ok(None) if started.elapsed() < TIMEOUT => continue,
            other => break other.map(|received| received.map(|r| r.sequence_number)),
        }
    };
    assert!(
        matches!(outcome, Err(ClientError::ServerTimeout { silent_ms }) if silent_ms >= 200),
        "{outcome:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(700));
    server.join().unwrap();
}

#[test]
fn credentials_are_checked_for_the_login_fields() {
    assert!(Credentials::new("alice", "pw1").is_ok());
    assert!(Credentials::new("toolong", "pw").is_err());
    assert!(Credentials::new("al ce", "pw").is_err());
    assert!(Credentials::new("alice", "elevenchars").is_err());
    assert!(Credentials::new("", "pw").is_err());
    assert!(!format!("{:?}", alice()).contains("pw1"));
    assert_eq!(alice().username(), "alice");
}
