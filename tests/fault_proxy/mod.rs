//! A TCP proxy that injects faults between two nodes: delay, blackhole (bytes read and thrown away, so the
//! stream is also corrupted), pause (nothing read: the sender's buffers fill), and dropping every connection.
//! Each proxy carries one direction of one node pair's Raft traffic (node A's route to node B).

#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Pass,
    /// Every chunk is held this long before it is forwarded.
    Delay(Duration),
    /// Bytes are read and discarded.
    Blackhole,
    /// Nothing is read.
    Pause,
}

struct Shared {
    mode: AtomicU8,
    delay_ms: AtomicU64,
    /// Bumped to close every connection open now.
    generation: AtomicU64,
    stop: AtomicBool,
    /// Connections accepted, and faults applied (for the test's report).
    accepted: AtomicU64,
}

pub struct FaultProxy {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    listener: Option<JoinHandle<()>>,
}

const POLL: Duration = Duration::from_millis(10);

impl FaultProxy {
    pub fn start(target: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("proxy addr");
        let shared = Arc::new(Shared {
            mode: AtomicU8::new(0),
            delay_ms: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            accepted: AtomicU64::new(0),
        });
        let accept_shared = Arc::clone(&shared);
        let handle = std::thread::spawn(move || {
            while !accept_shared.stop.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((client, _)) => {
                        accept_shared.accepted.fetch_add(1, Ordering::Relaxed);
                        let Ok(server) =
                            TcpStream::connect_timeout(&target, Duration::from_millis(200))
                        else {
                            continue;
                        };
                        let generation = accept_shared.generation.load(Ordering::Acquire);
                        for (from, to) in [
                            (client.try_clone(), server.try_clone()),
                            (server.try_clone(), client.try_clone()),
                        ] {
                            let (Ok(from), Ok(to)) = (from, to) else {
                                continue;
                            };
                            let shared = Arc::clone(&accept_shared);
                            std::thread::spawn(move || pump(from, to, &shared, generation));
                        }
                    }
                    Err(error) if error.kind() == ErrorKind::WouldBlock => std::thread::sleep(POLL),
                    Err(_) => std::thread::sleep(POLL),
                }
            }
        });
        FaultProxy {
            addr,
            shared,
            listener: Some(handle),
        }
    }

    pub fn set(&self, fault: Fault) {
        let (mode, delay) = match fault {
            Fault::Pass => (0, 0),
            Fault::Delay(delay) => (1, delay.as_millis() as u64),
            Fault::Blackhole => (2, 0),
            Fault::Pause => (3, 0),
        };
        self.shared.delay_ms.store(delay, Ordering::Release);
        self.shared.mode.store(mode, Ordering::Release);
    }

    /// Closes every connection open now (new ones are accepted).
    pub fn drop_connections(&self) {
        self.shared.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.drop_connections();
        if let Some(handle) = self.listener.take() {
            let _ = handle.join();
        }
    }
}

/// Copies `from` to `to` as the current fault allows, until either side closes, the generation changes or the
/// proxy stops.
fn pump(mut from: TcpStream, mut to: TcpStream, shared: &Shared, generation: u64) {
    let _ = from.set_read_timeout(Some(POLL));
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        if shared.stop.load(Ordering::Acquire)
            || shared.generation.load(Ordering::Acquire) != generation
        {
            break;
        }
        let mode = shared.mode.load(Ordering::Acquire);
        if mode == 3 {
            std::thread::sleep(POLL);
            continue;
        }
        let read = match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                continue
            }
            Err(_) => break,
        };
        match mode {
            2 => continue,
            1 => std::thread::sleep(Duration::from_millis(
                shared.delay_ms.load(Ordering::Acquire),
            )),
            _ => {}
        }
        if to.write_all(&buffer[..read]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(std::net::Shutdown::Both);
    let _ = to.shutdown(std::net::Shutdown::Both);
}
