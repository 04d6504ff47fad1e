//! A small HTTP/1.1 server on std::net: one accept thread polling a nonblocking listener (so `stop` ends it
//! within ~20 ms), one short-lived thread per connection up to a bound (503 beyond), one request per connection.

use super::request::{read_request, ReadError};
use super::response::Response;
use super::{routes, AdminBackend};
use std::io::{self, Read};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The server's bounds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    /// Each read's timeout.
    pub read_timeout: Duration,
    /// The whole request must arrive within this.
    pub request_deadline: Duration,
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 16,
            read_timeout: Duration::from_secs(2),
            request_deadline: Duration::from_secs(5),
            write_timeout: Duration::from_secs(2),
        }
    }
}

const ACCEPT_POLL: Duration = Duration::from_millis(20);

struct Shared {
    token: String,
    backend: Arc<dyn AdminBackend>,
    active: AtomicUsize,
    limits: Limits,
}

/// Serves the admin API on `listener` until `stop` is set. The returned thread ends after `stop` once the
/// connections in progress have finished (bounded by the request deadline).
pub fn spawn(
    listener: TcpListener,
    token: String,
    backend: Arc<dyn AdminBackend>,
    stop: Arc<AtomicBool>,
) -> io::Result<JoinHandle<()>> {
    spawn_with(listener, token, backend, stop, Limits::default())
}

pub fn spawn_with(
    listener: TcpListener,
    token: String,
    backend: Arc<dyn AdminBackend>,
    stop: Arc<AtomicBool>,
    limits: Limits,
) -> io::Result<JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    let shared = Arc::new(Shared {
        token,
        backend,
        active: AtomicUsize::new(0),
        limits,
    });
    thread::Builder::new()
        .name("admin-http".into())
        .spawn(move || accept_loop(&listener, &shared, &stop))
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>, stop: &AtomicBool) {
    while !stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((stream, _)) => admit(stream, shared),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // WouldBlock, or a transient failure (out of descriptors...): wait and poll again.
            Err(_) => thread::sleep(ACCEPT_POLL),
        }
    }
    let deadline = Instant::now() + shared.limits.request_deadline + shared.limits.write_timeout;
    while shared.active.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
}

/// Decrements the active-connection count however the connection thread ends (panics included).
struct Slot(Arc<Shared>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

fn admit(stream: TcpStream, shared: &Arc<Shared>) {
    let limits = shared.limits;
    if stream.set_nonblocking(false).is_err()
        || stream.set_read_timeout(Some(limits.read_timeout)).is_err()
        || stream
            .set_write_timeout(Some(limits.write_timeout))
            .is_err()
    {
        return;
    }
    let _ = stream.set_nodelay(true);
    if shared.active.fetch_add(1, Ordering::AcqRel) >= limits.max_connections {
        shared.active.fetch_sub(1, Ordering::AcqRel);
        let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
        finish(
            stream,
            &Response::error(503, "too many admin connections"),
            false,
        );
        return;
    }
    let slot = Slot(Arc::clone(shared));
    let spawned = thread::Builder::new()
        .name("admin-conn".into())
        .spawn(move || {
            let shared = Arc::clone(&slot.0);
            serve(stream, &shared);
            drop(slot);
        });
    // On failure the closure, and with it the slot and the stream, is dropped: the peer sees the close.
    drop(spawned);
}

fn serve(mut stream: TcpStream, shared: &Shared) {
    let response = match read_request(&mut stream, shared.limits.request_deadline) {
        Ok(request) => routes::handle(&request, &shared.token, shared.backend.as_ref()),
        Err(ReadError::Closed) => return,
        Err(ReadError::Timeout) => Response::error(408, "request not received in time"),
        Err(ReadError::HeadTooLarge) => Response::error(431, "request head larger than 8 KiB"),
        Err(ReadError::BodyTooLarge) => Response::error(413, "request body larger than 64 KiB"),
        Err(ReadError::LengthRequired) => {
            Response::error(411, "a body needs Content-Length (no Transfer-Encoding)")
        }
        Err(ReadError::Bad(reason)) => Response::error(400, &reason),
    };
    finish(stream, &response, true);
}

/// Writes the response and half-closes; with `linger`, drains what the peer still sends (briefly) so that
/// unread request bytes do not turn the close into a reset that loses the response.
fn finish(mut stream: TcpStream, response: &Response, linger: bool) {
    if response.write_to(&mut stream).is_err() {
        return;
    }
    let _ = stream.shutdown(Shutdown::Write);
    if !linger {
        return;
    }
    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
    let mut sink = [0u8; 4096];
    let mut drained = 0usize;
    while drained < 1 << 20 {
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}
