//! The reactor over real sockets on 127.0.0.1, every scenario run on both backends. io_uring is skipped, with a
//! note on stderr, only where the kernel refuses it.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossline_net::reactor::{
    Backend, CloseReason, ConnId, Event, Reactor, ReactorConfig, ReactorError, SendError, SqPoll,
};
use crossline_net::soupbin::{FrameDecoder, Packet, PacketBuffer};

const TIMEOUT: Duration = Duration::from_secs(5);
const MAX_FRAME_BYTES: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Send every received byte back.
    Echo,
    /// As `Echo`, polling only with a zero timeout, as a busy-spinning loop does: on io_uring such a poll skips the
    /// system call whenever the ring's flags say nothing waits, so every event must still get through.
    SpinEcho,
    /// Decode SoupBinTCP frames per connection and send each back as its own packet.
    SoupEcho,
    /// Send 16 KiB chunks to every connection until the reactor refuses, never reading.
    Flood,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Record {
    Accepted(ConnId),
    Closed(ConnId, CloseReason),
    Refused(CloseReason),
    SendRefused(ConnId, SendError),
}

struct Server {
    addr: SocketAddr,
    records: Receiver<Record>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.join().expect("server thread panicked");
        }
    }
}

impl Server {
    /// The next record, or a test failure after `TIMEOUT`.
    fn next(&self) -> Record {
        match self.records.recv_timeout(TIMEOUT) {
            Ok(record) => record,
            Err(RecvTimeoutError::Timeout) => panic!("no reactor event within {TIMEOUT:?}"),
            Err(RecvTimeoutError::Disconnected) => panic!("server thread ended"),
        }
    }

    /// Skips records until one matches, bounded by `TIMEOUT`.
    fn wait_for(&self, wanted: impl Fn(&Record) -> bool) -> Record {
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            let record = self.next();
            if wanted(&record) {
                return record;
            }
        }
        panic!("expected record not seen within {TIMEOUT:?}");
    }
}

fn backends() -> [Backend; 2] {
    [Backend::Epoll, Backend::IoUring]
}

fn config(backend: Backend) -> ReactorConfig {
    ReactorConfig {
        backend,
        max_connections: 16,
        recv_buffer_bytes: 4096,
        recv_buffers: 64,
        send_queue_bytes_max: 256 * 1024,
        socket_send_buffer_bytes: None,
        ring_entries: 256,
        sqpoll: None,
        napi_busy_poll_us: None,
    }
}

/// Starts a server thread; `None` (with a note) when io_uring was asked for and the kernel refuses it.
fn start(config: ReactorConfig, mode: Mode) -> Option<Server> {
    let (ready_tx, ready_rx) = mpsc::channel();
    let (records_tx, records) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let stop_flag = Arc::clone(&stop);
    let thread = thread::spawn(move || {
        let any_port = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let mut reactor = match Reactor::bind(any_port, config) {
            Ok(reactor) => reactor,
            Err(error) => {
                ready_tx.send(Err(error)).ok();
                return;
            }
        };
        assert_eq!(reactor.backend(), config.backend);
        ready_tx
            .send(Ok(reactor.local_addr().expect("local addr")))
            .ok();
        let mut decoders: Vec<FrameDecoder> = (0..config.max_connections)
            .map(|_| FrameDecoder::new(MAX_FRAME_BYTES, 4 * MAX_FRAME_BYTES))
            .collect();
        let mut packet = PacketBuffer::new(MAX_FRAME_BYTES);
        let mut flooded: Vec<ConnId> = Vec::new();
        let chunk = vec![0x5a_u8; 16 * 1024];
        while !stop_flag.load(Ordering::Relaxed) {
            let timeout = match mode {
                Mode::Flood => Duration::from_millis(1),
                Mode::SpinEcho => Duration::ZERO,
                Mode::Echo | Mode::SoupEcho => Duration::from_millis(5),
            };
            reactor
                .poll(timeout, |conns, event| match event {
                    Event::Accepted(id, _peer) => {
                        decoders[id.slot()].clear();
                        if mode == Mode::Flood {
                            flooded.push(id);
                        }
                        records_tx.send(Record::Accepted(id)).ok();
                    }
                    Event::Data(id, bytes) => match mode {
                        Mode::Echo | Mode::SpinEcho => {
                            if let Err(error) = conns.send(id, bytes) {
                                records_tx.send(Record::SendRefused(id, error)).ok();
                            }
                        }
                        Mode::SoupEcho => {
                            let decoder = &mut decoders[id.slot()];
                            let mut rest = bytes;
                            while !rest.is_empty() {
                                let taken = decoder.feed(rest);
                                rest = &rest[taken..];
                                while let Ok(Some(frame)) = decoder.next_frame() {
                                    packet.clear();
                                    let decoded =
                                        frame.packet().expect("test client sends valid packets");
                                    packet.push(&decoded).expect("packet fits");
                                    conns.send(id, packet.as_bytes()).expect("echo queued");
                                }
                            }
                        }
                        Mode::Flood => {}
                    },
                    Event::Closed(id, reason) => {
                        records_tx.send(Record::Closed(id, reason)).ok();
                    }
                    Event::Refused(_peer, reason) => {
                        records_tx.send(Record::Refused(reason)).ok();
                    }
                })
                .expect("poll");
            if mode == Mode::Flood {
                for &id in &flooded {
                    for _ in 0..8 {
                        match reactor.send(id, &chunk) {
                            Ok(()) => {}
                            Err(error) => {
                                if error == SendError::SlowConsumer {
                                    records_tx.send(Record::SendRefused(id, error)).ok();
                                }
                                break;
                            }
                        }
                    }
                }
                flooded.retain(|&id| reactor.is_open(id));
            }
        }
    });
    match ready_rx
        .recv_timeout(TIMEOUT)
        .expect("server did not start")
    {
        Ok(addr) => Some(Server {
            addr,
            records,
            stop,
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

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream
        .set_read_timeout(Some(TIMEOUT))
        .expect("read timeout");
    stream
        .set_write_timeout(Some(TIMEOUT))
        .expect("write timeout");
    stream
}

fn read_exactly(stream: &mut TcpStream, count: usize) -> Vec<u8> {
    let mut bytes = vec![0; count];
    stream
        .read_exact(&mut bytes)
        .expect("read echo within the timeout");
    bytes
}

/// `clients` connections, each sending `rounds` numbered 48-byte messages and reading each echo back before the
/// next, sleeping 2 ms before every `pause_every`-th message when given; returns once every client has finished.
fn echo_from_clients(addr: SocketAddr, clients: u8, rounds: u32, pause_every: Option<u32>) {
    let clients: Vec<JoinHandle<()>> = (0..clients)
        .map(|client| {
            thread::spawn(move || {
                let mut stream = connect(addr);
                for round in 0..rounds {
                    if pause_every.is_some_and(|every| round % every == 0) {
                        thread::sleep(Duration::from_millis(2));
                    }
                    let mut message = [client; 48];
                    message[..4].copy_from_slice(&round.to_be_bytes());
                    stream.write_all(&message).expect("write");
                    assert_eq!(read_exactly(&mut stream, message.len()), message);
                }
            })
        })
        .collect();
    for client in clients {
        client.join().expect("client failed");
    }
}

#[test]
fn many_messages_echo_in_order_on_several_connections() {
    for backend in backends() {
        let Some(server) = start(config(backend), Mode::Echo) else {
            continue;
        };
        echo_from_clients(server.addr, 4, 500, None);
        for _ in 0..4 {
            server.wait_for(|record| matches!(record, Record::Closed(_, CloseReason::PeerClosed)));
        }
    }
}

#[test]
fn a_loop_that_only_ever_polls_without_waiting_still_accepts_echoes_and_sees_closes() {
    for backend in backends() {
        let Some(server) = start(config(backend), Mode::SpinEcho) else {
            continue;
        };
        // Pauses between some messages let the loop spin through empty polls in between.
        echo_from_clients(server.addr, 3, 300, Some(50));
        let mut accepted = 0;
        let mut closed = 0;
        while closed < 3 {
            match server.next() {
                Record::Accepted(_) => accepted += 1,
                Record::Closed(_, CloseReason::PeerClosed) => closed += 1,
                other => panic!("unexpected record {other:?} on {backend:?}"),
            }
        }
        assert_eq!(accepted, 3, "{backend:?}");
    }
}

#[test]
fn one_byte_writes_reassemble_into_frames() {
    for backend in backends() {
        let Some(server) = start(config(backend), Mode::SoupEcho) else {
            continue;
        };
        let mut stream = connect(server.addr);
        let mut packets = PacketBuffer::new(64 * 1024);
        for index in 0..40u8 {
            packets
                .push(&Packet::UnsequencedData(&[index; 7]))
                .expect("fits");
        }
        for &byte in packets.as_bytes() {
            stream.write_all(&[byte]).expect("write one byte");
        }
        assert_eq!(read_exactly(&mut stream, packets.len()), packets.as_bytes());
    }
}

#[test]
fn many_frames_in_one_write_each_come_back() {
    for backend in backends() {
        let Some(server) = start(config(backend), Mode::SoupEcho) else {
            continue;
        };
        let mut stream = connect(server.addr);
        let mut packets = PacketBuffer::new(64 * 1024);
        for index in 0..1000u32 {
            let payload = index.to_be_bytes();
            packets
                .push(&Packet::UnsequencedData(
                    &payload[..1 + (index % 4) as usize],
                ))
                .expect("fits");
        }
        stream
            .write_all(packets.as_bytes())
            .expect("write all frames at once");
        let echoed = read_exactly(&mut stream, packets.len());
        let mut decoder = FrameDecoder::new(MAX_FRAME_BYTES, 64 * 1024);
        assert_eq!(decoder.feed(&echoed), echoed.len());
        let mut frames = 0u32;
        while let Some(frame) = decoder.next_frame().expect("valid frames") {
            let payload = frames.to_be_bytes();
            assert_eq!(
                frame.packet().expect("packet"),
                Packet::UnsequencedData(&payload[..1 + (frames % 4) as usize])
            );
            frames += 1;
        }
        assert_eq!(frames, 1000);
    }
}

#[test]
fn connections_beyond_the_maximum_are_refused_and_slots_are_reused() {
    for backend in backends() {
        let Some(server) = start(
            ReactorConfig {
                max_connections: 3,
                ..config(backend)
            },
            Mode::Echo,
        ) else {
            continue;
        };
        let mut admitted: Vec<TcpStream> = (0..3).map(|_| connect(server.addr)).collect();
        for stream in &mut admitted {
            stream.write_all(b"ping").expect("write");
            assert_eq!(read_exactly(stream, 4), b"ping");
        }
        let mut extra = connect(server.addr);
        assert_eq!(
            server.wait_for(|record| matches!(record, Record::Refused(_))),
            Record::Refused(CloseReason::MaxConnections)
        );
        let mut byte = [0u8; 1];
        match extra.read(&mut byte) {
            Ok(0) => {}
            Ok(_) => panic!("refused connection got data"),
            Err(error) => assert_eq!(
                error.kind(),
                ErrorKind::ConnectionReset,
                "refused connection: {error}"
            ),
        }
        drop(admitted.pop());
        server.wait_for(|record| matches!(record, Record::Closed(_, CloseReason::PeerClosed)));
        let mut replacement = connect(server.addr);
        replacement.write_all(b"again").expect("write");
        assert_eq!(read_exactly(&mut replacement, 5), b"again");
    }
}

#[test]
fn a_client_that_never_reads_is_disconnected_as_a_slow_consumer() {
    for backend in backends() {
        let config = ReactorConfig {
            send_queue_bytes_max: 64 * 1024,
            socket_send_buffer_bytes: Some(8 * 1024),
            ..config(backend)
        };
        let Some(server) = start(config, Mode::Flood) else {
            continue;
        };
        let _never_reads = connect(server.addr);
        let Record::Accepted(id) = server.next() else {
            panic!("expected Accepted")
        };
        assert_eq!(
            server.wait_for(|record| matches!(record, Record::Closed(..))),
            Record::Closed(id, CloseReason::SlowConsumer)
        );
    }
}

#[test]
fn an_abrupt_disconnect_is_reported_as_closed() {
    for backend in backends() {
        let Some(server) = start(config(backend), Mode::Echo) else {
            continue;
        };
        let mut stream = connect(server.addr);
        let Record::Accepted(id) = server.next() else {
            panic!("expected Accepted")
        };
        stream.write_all(b"hello").expect("write");
        assert_eq!(read_exactly(&mut stream, 5), b"hello");
        // SO_LINGER with a zero timeout makes close send a reset instead of an orderly FIN.
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        // SAFETY: the pointer and length describe `linger`, which lives across the call.
        let rc = unsafe {
            libc::setsockopt(
                stream.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_LINGER,
                (&linger as *const libc::linger).cast(),
                std::mem::size_of::<libc::linger>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0);
        drop(stream);
        match server.wait_for(|record| matches!(record, Record::Closed(..))) {
            Record::Closed(
                closed,
                CloseReason::IoError {
                    errno: libc::ECONNRESET,
                }
                | CloseReason::PeerClosed,
            ) => {
                assert_eq!(closed, id)
            }
            other => panic!("unexpected close: {other:?}"),
        }
    }
}

#[test]
fn auto_prefers_io_uring_or_says_why_not() {
    let any_port = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let reactor = Reactor::bind(any_port, config(Backend::Auto)).expect("bind");
    match reactor.backend() {
        Backend::IoUring => assert_eq!(reactor.fallback_reason(), None),
        Backend::Epoll => {
            let reason = reactor
                .fallback_reason()
                .expect("a reason for the fallback");
            assert!(
                reason.starts_with("io_uring unavailable: ") && reason.ends_with("; using epoll")
            );
            eprintln!("note: {reason}");
        }
        Backend::Auto => panic!("Auto is never the backend in use"),
    }
}

#[test]
fn a_tiny_receive_pool_still_serves_every_connection() {
    for backend in backends() {
        let config = ReactorConfig {
            recv_buffers: 2,
            recv_buffer_bytes: 64,
            ..config(backend)
        };
        let Some(server) = start(config, Mode::Echo) else {
            continue;
        };
        let clients: Vec<JoinHandle<()>> = (0..8u8)
            .map(|client| {
                let addr = server.addr;
                thread::spawn(move || {
                    let mut stream = connect(addr);
                    let message: Vec<u8> =
                        (0..4096u32).map(|index| (index as u8) ^ client).collect();
                    for _ in 0..10 {
                        stream.write_all(&message).expect("write");
                        assert_eq!(read_exactly(&mut stream, message.len()), message);
                    }
                })
            })
            .collect();
        for client in clients {
            client.join().expect("client failed");
        }
    }
}

#[test]
fn a_submission_polling_ring_echoes_like_the_others() {
    let config = ReactorConfig {
        sqpoll: Some(SqPoll {
            cpu: None,
            idle_ms: 10,
        }),
        ..config(Backend::IoUring)
    };
    let any_port = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    match Reactor::bind(any_port, config) {
        Err(ReactorError::SqPollRefused(why)) | Err(ReactorError::IoUringUnavailable(why)) => {
            eprintln!("note: SQPOLL not available here: {why}");
            return;
        }
        Err(error) => panic!("{error}"),
        Ok(_) => {}
    }
    let Some(server) = start(config, Mode::Echo) else {
        return;
    };
    let mut stream = connect(server.addr);
    // Rounds with pauses longer than the kernel thread's idle time, so that it falls asleep and is woken.
    for round in 0..20u32 {
        let message = round.to_be_bytes().repeat(8);
        stream.write_all(&message).expect("write");
        assert_eq!(read_exactly(&mut stream, message.len()), message);
        if round % 5 == 0 {
            thread::sleep(Duration::from_millis(15));
        }
    }
}

#[test]
fn io_uring_settings_on_the_epoll_backend_are_refused() {
    let any_port = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    for config in [
        ReactorConfig {
            sqpoll: Some(SqPoll {
                cpu: None,
                idle_ms: 1,
            }),
            ..config(Backend::Epoll)
        },
        ReactorConfig {
            napi_busy_poll_us: Some(50),
            ..config(Backend::Epoll)
        },
    ] {
        assert!(matches!(
            Reactor::bind(any_port, config),
            Err(ReactorError::Config(_))
        ));
    }
}

#[test]
fn a_write_to_the_wake_fd_ends_a_long_wait_and_is_read_back() {
    for backend in backends() {
        let any_port = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
        let mut reactor = match Reactor::bind(any_port, config(backend)) {
            Ok(reactor) => reactor,
            Err(ReactorError::IoUringUnavailable(why)) => {
                eprintln!("skipped io_uring: {why}");
                continue;
            }
            Err(error) => panic!("{backend:?}: {error}"),
        };
        // SAFETY: eventfd takes only integer arguments.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        assert!(fd >= 0, "eventfd");
        reactor.add_wake_fd(fd).expect("add the wake fd");
        // Completions of the set-up (the receive pool's provide) come out here, not in the timed waits below.
        reactor.poll(Duration::ZERO, |_, _| {}).expect("poll");
        for round in 0..3 {
            let writer = thread::spawn(move || {
                thread::sleep(Duration::from_millis(20));
                let one = 1u64;
                // SAFETY: writes the 8 bytes of `one`, alive across the call, to the test's eventfd.
                let written = unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
                assert_eq!(written, 8);
            });
            let started = Instant::now();
            let events = reactor
                .poll(Duration::from_secs(30), |_, _| {})
                .expect("poll");
            let waited = started.elapsed();
            writer.join().expect("writer");
            assert!(
                waited < Duration::from_secs(20),
                "{backend:?} round {round}: a 30 s wait did not end at the wake-up ({waited:?})"
            );
            assert_eq!(events, 0, "{backend:?}: a wake-up is not an event");
            let mut count = 0u64;
            // SAFETY: reads at most 8 bytes into `count`, alive across the call.
            let read = unsafe { libc::read(fd, (&mut count as *mut u64).cast(), 8) };
            assert_eq!(
                (read, std::io::Error::last_os_error().raw_os_error()),
                (-1, Some(libc::EAGAIN)),
                "{backend:?} round {round}: the reactor reads the count back to zero"
            );
        }
        drop(reactor);
        // SAFETY: closes the test's eventfd once the reactor that watched it is gone.
        unsafe { libc::close(fd) };
    }
}
