//! SoupBinTCP sessions over real sockets on 127.0.0.1, through `Gateway` on both reactor backends. io_uring is
//! skipped, with a note on stderr, only where the kernel refuses it.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossline_net::reactor::{Backend, Reactor, ReactorConfig, ReactorError};
use crossline_net::session::{
    cheap_params, hash_password_with_params, Gateway, SessionCloseReason, SessionConfig,
    SessionEvent, SessionManager, UserId, Users,
};
use crossline_net::soupbin::{FrameDecoder, LoginAccepted, LoginRequest, Packet, SessionId};

const TIMEOUT: Duration = Duration::from_secs(5);
const LOGIN_TIMEOUT_MS: u64 = 300;

enum Command {
    Publish(&'static str, Vec<u8>),
    Stop,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Record {
    LoggedIn(String, u64),
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
    fn publish(&self, user: &'static str, message: &[u8]) {
        self.commands
            .send(Command::Publish(user, message.to_vec()))
            .unwrap();
    }

    /// Skips records until one matches, bounded by `TIMEOUT`.
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

/// Starts a gateway thread; `None` (with a note) when io_uring was asked for and the kernel refuses it.
fn start(backend: Backend) -> Option<Server> {
    let (ready_tx, ready_rx) = mpsc::channel();
    let (commands, command_rx) = mpsc::channel::<Command>();
    let (record_tx, records) = mpsc::channel();
    let thread = thread::spawn(move || {
        let reactor_config = ReactorConfig {
            backend,
            max_connections: 8,
            recv_buffer_bytes: 4096,
            recv_buffers: 32,
            send_queue_bytes_max: 64 * 1024,
            socket_send_buffer_bytes: None,
            ring_entries: 256,
            ..ReactorConfig::default()
        };
        let reactor =
            match Reactor::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), reactor_config) {
                Ok(reactor) => reactor,
                Err(error) => {
                    ready_tx.send(Err(error)).ok();
                    return;
                }
            };
        let mut users = Users::with_params(cheap_params()).unwrap();
        let alice = users
            .add(
                "alice",
                &hash_password_with_params("pw1", cheap_params()).unwrap(),
            )
            .unwrap();
        let bob = users
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
            login_timeout_ms: LOGIN_TIMEOUT_MS,
            heartbeat_interval_ms: 50,
            client_timeout_ms: 3_000,
            ..SessionConfig::default()
        };
        let manager = SessionManager::new(config, users).unwrap();
        let mut gateway = Gateway::new(reactor, manager);
        ready_tx.send(Ok(gateway.local_addr().unwrap())).ok();
        let name = |user: UserId| if user == alice { "alice" } else { "bob" }.to_owned();
        let mut on_event = |event: SessionEvent<'_>| {
            let record = match event {
                SessionEvent::LoggedIn {
                    user,
                    first_sequence,
                    ..
                } => Record::LoggedIn(name(user), first_sequence),
                SessionEvent::Closed { user, reason, .. } => Record::Closed(user.map(name), reason),
                SessionEvent::Message { .. } => return,
            };
            record_tx.send(record).ok();
        };
        // Bounded: the test drops the server (Stop) within its own time bound; a lost test thread ends the loop
        // through the closed channel.
        loop {
            gateway
                .poll(Duration::from_millis(2), &mut on_event)
                .expect("poll");
            match command_rx.try_recv() {
                Ok(Command::Publish(user, message)) => {
                    let user = if user == "alice" { alice } else { bob };
                    gateway
                        .publish(user, &message, &mut on_event)
                        .expect("publish");
                }
                Ok(Command::Stop) | Err(mpsc::TryRecvError::Disconnected) => break,
                Err(mpsc::TryRecvError::Empty) => {}
            }
        }
    });
    match ready_rx
        .recv_timeout(TIMEOUT)
        .expect("server did not start")
    {
        Ok(addr) => Some(Server {
            addr,
            commands,
            records,
            thread: Some(thread),
        }),
        Err(ReactorError::IoUringUnavailable(why)) => {
            eprintln!("note: skipping the io_uring run: io_uring unavailable: {why}");
            thread.join().ok();
            None
        }
        Err(error) => panic!("reactor did not bind: {error}"),
    }
}

struct Client {
    stream: TcpStream,
    decoder: FrameDecoder,
}

/// A packet as the client saw it (heartbeats are filtered out by `next`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Got {
    Accepted(LoginAccepted),
    Rejected(u8),
    Data(Vec<u8>),
    Debug,
    EndOfSession,
    Eof,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect");
        stream.set_nodelay(true).unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        Client {
            stream,
            decoder: FrameDecoder::new(4096, 8192),
        }
    }

    fn send(&mut self, packet: &Packet<'_>) {
        let mut bytes = vec![0; packet.frame_bytes()];
        packet.encode(&mut bytes).unwrap();
        self.stream.write_all(&bytes).unwrap();
    }

    fn login(&mut self, user: &str, password: &str, sequence: u64) {
        let mut username = [b' '; 6];
        username[..user.len()].copy_from_slice(user.as_bytes());
        let mut pass = [b' '; 10];
        pass[..password.len()].copy_from_slice(password.as_bytes());
        self.send(&Packet::LoginRequest(LoginRequest {
            username,
            password: pass,
            requested_session: SessionId::BLANK,
            requested_sequence_number: sequence,
        }));
    }

    /// The next packet other than a Server Heartbeat, or `Eof`; a test failure after `TIMEOUT`.
    fn next(&mut self) -> Got {
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            if let Some(frame) = self
                .decoder
                .next_frame()
                .expect("server sends valid frames")
            {
                match frame.packet().expect("valid packet") {
                    Packet::ServerHeartbeat => continue,
                    Packet::LoginAccepted(accepted) => return Got::Accepted(accepted),
                    Packet::LoginRejected(reason) => return Got::Rejected(reason.as_byte()),
                    Packet::SequencedData(bytes) => return Got::Data(bytes.to_vec()),
                    Packet::Debug(_) => return Got::Debug,
                    Packet::EndOfSession => return Got::EndOfSession,
                    other => panic!("unexpected packet from the server: {other:?}"),
                }
            }
            match self.stream.read(self.decoder.spare()) {
                Ok(0) => return Got::Eof,
                Ok(read) => self.decoder.commit(read),
                Err(error) if error.kind() == ErrorKind::ConnectionReset => return Got::Eof,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => panic!("read: {error}"),
            }
        }
        panic!("no packet within {TIMEOUT:?}");
    }
}

fn data(text: &str) -> Got {
    Got::Data(text.as_bytes().to_vec())
}

fn accepted(sequence: u64) -> Got {
    Got::Accepted(LoginAccepted {
        session: SessionId::new("T1"),
        sequence_number: sequence,
    })
}

fn each_backend(scenario: impl Fn(&Server)) {
    for backend in [Backend::Epoll, Backend::IoUring] {
        if let Some(server) = start(backend) {
            scenario(&server);
        }
    }
}

#[test]
fn a_client_logging_in_again_at_n_receives_exactly_n_onwards_then_live_messages() {
    each_backend(|server| {
        let mut client = Client::connect(server.addr);
        client.login("alice", "pw1", 1);
        assert_eq!(client.next(), accepted(1));
        for message in ["m1", "m2", "m3", "m4"] {
            server.publish("alice", message.as_bytes());
        }
        for message in ["m1", "m2", "m3", "m4"] {
            assert_eq!(client.next(), data(message));
        }
        drop(client);
        server
            .wait_for(|record| matches!(record, Record::Closed(Some(user), _) if user == "alice"));
        server.publish("alice", b"m5");

        let mut again = Client::connect(server.addr);
        again.login("alice", "pw1", 3);
        assert_eq!(again.next(), accepted(3));
        server.publish("alice", b"m6");
        again.send(&Packet::ClientHeartbeat);
        // Once m6 is in, log out: the server closes, so everything it sent is read up to end of file.
        for message in ["m3", "m4", "m5", "m6"] {
            assert_eq!(again.next(), data(message));
        }
        again.send(&Packet::LogoutRequest);
        assert_eq!(again.next(), Got::Eof);
        server.wait_for(|record| {
            *record == Record::Closed(Some("alice".into()), SessionCloseReason::Logout)
        });
    });
}

#[test]
fn a_client_sending_garbage_is_disconnected_and_another_session_carries_on() {
    each_backend(|server| {
        let mut alice = Client::connect(server.addr);
        alice.login("alice", "pw1", 0);
        let Got::Accepted(LoginAccepted {
            sequence_number: alice_next,
            ..
        }) = alice.next()
        else {
            panic!("alice not accepted");
        };
        let mut bob = Client::connect(server.addr);
        bob.login("bob", "pw2", 0);
        assert!(matches!(bob.next(), Got::Accepted(_)));
        bob.stream
            .write_all(&[0x00, 0x00, 0xde, 0xad, 0xbe, 0xef])
            .unwrap();
        assert_eq!(bob.next(), Got::Debug);
        assert_eq!(bob.next(), Got::Eof);
        let record = server
            .wait_for(|record| matches!(record, Record::Closed(Some(user), _) if user == "bob"));
        assert!(
            matches!(
                record,
                Record::Closed(_, SessionCloseReason::FramingError(_))
            ),
            "{record:?}"
        );

        server.publish("alice", b"after");
        assert_eq!(alice.next(), data("after"));
        assert!(alice_next >= 1);
        // A wrong password on a third connection is refused with 'A' and does not disturb alice either.
        let mut intruder = Client::connect(server.addr);
        intruder.login("alice", "wrong", 0);
        assert_eq!(intruder.next(), Got::Rejected(b'A'));
        assert_eq!(intruder.next(), Got::Eof);
        server.publish("alice", b"still");
        assert_eq!(alice.next(), data("still"));
        alice.stream.shutdown(Shutdown::Both).ok();
    });
}

#[test]
fn a_client_that_never_logs_in_is_closed_at_the_login_timeout() {
    each_backend(|server| {
        let started = Instant::now();
        let mut silent = Client::connect(server.addr);
        assert_eq!(silent.next(), Got::Eof);
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(LOGIN_TIMEOUT_MS - 20),
            "closed after {waited:?}"
        );
        server.wait_for(|record| *record == Record::Closed(None, SessionCloseReason::LoginTimeout));
    });
}
