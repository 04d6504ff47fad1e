//! The feed thread: the ITCH stream over SoupBinTCP and the snapshot service (`crossline_net::feed::FeedServer`),
//! fed by the gateway through an SPSC ring of the messages it publishes over MoldUDP64, with their sequence
//! numbers. The ring is large; if it is ever full the gateway counts the message as dropped
//! (`feed_tcp_dropped`), and the feed thread sees the gap, marks itself stale and closes its subscribers.

use super::ring::{ring, Consumer, Producer};
use crate::config::{BackendChoice, Config};
use crate::metrics::{self, Metrics};
use crossline_net::feed::{FeedServer, FeedServerConfig};
use crossline_net::itch::Message;
use crossline_net::reactor::Backend;
use crossline_net::session::Users;
use crossline_net::soupbin::SessionId;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Slots of the gateway-to-feed ring.
pub const FEED_RING_SLOTS: usize = 1 << 18;

/// One published ITCH message.
#[derive(Debug, Clone, Copy)]
pub struct FeedMessage {
    pub sequence: u64,
    pub len: u8,
    pub bytes: [u8; 64],
}

/// Hands a published message to the feed thread (gateway side). A full ring counts `feed_tcp_dropped`.
#[inline]
pub fn push(
    tcp: &mut Option<Producer<FeedMessage>>,
    metrics: &Metrics,
    sequence: u64,
    message: &Message,
) {
    let Some(producer) = tcp.as_mut() else {
        return;
    };
    let mut item = FeedMessage {
        sequence,
        len: 0,
        bytes: [0; 64],
    };
    let Ok(len) = message.encode(&mut item.bytes) else {
        return;
    };
    item.len = len as u8;
    if producer.try_write(item) {
        producer.publish();
    } else {
        metrics::bump(&metrics.gateway.feed_tcp_dropped);
    }
}

/// Sets the feed thread's stop flag when dropped: the gateway thread holds it, so the feed thread stops after
/// the gateway however the gateway ends.
pub struct FeedStopGuard(pub Arc<AtomicBool>);

impl Drop for FeedStopGuard {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// A started feed thread.
pub struct FeedThread {
    pub producer: Producer<FeedMessage>,
    pub stop: FeedStopGuard,
    pub handle: std::thread::JoinHandle<()>,
    pub tcp: Option<SocketAddr>,
    pub snapshot: Option<SocketAddr>,
}

fn server_config(config: &Config) -> FeedServerConfig {
    let f = &config.feed;
    let g = &config.gateway;
    FeedServerConfig {
        tcp_listen: f.tcp_listen,
        snapshot_listen: f.snapshot_listen,
        backend: match g.backend {
            BackendChoice::Auto => Backend::Auto,
            BackendChoice::IoUring => Backend::IoUring,
            BackendChoice::Epoll => Backend::Epoll,
        },
        session: SessionId::new(&f.session),
        first_sequence_number: 1,
        store_messages: f.tcp_store_messages,
        max_backlog_messages: f.tcp_store_messages,
        login_timeout_ms: g.login_timeout_ms,
        heartbeat_interval_ms: g.heartbeat_interval_ms,
        client_timeout_ms: g.client_timeout_ms,
        ..FeedServerConfig::default()
    }
}

/// Starts the feed thread when `tcp_listen` or `snapshot_listen` is configured; it binds on its own thread (the
/// reactor stays there) and reports its addresses or the error.
pub fn start(config: &Config, metrics: Arc<Metrics>) -> anyhow::Result<Option<FeedThread>> {
    if config.feed.tcp_listen.is_none() && config.feed.snapshot_listen.is_none() {
        return Ok(None);
    }
    let mut users = Users::new().map_err(|e| anyhow::anyhow!("feed user table: {e}"))?;
    for user in &config.users {
        users
            .add(&user.name, &user.password_hash)
            .map_err(|e| anyhow::anyhow!("users[{}]: {e}", user.name))?;
    }
    let users = Arc::new(users);
    let server_config = server_config(config);
    let (producer, consumer) = ring::<FeedMessage>(FEED_RING_SLOTS);
    let stop = Arc::new(AtomicBool::new(false));
    let thread_stop = Arc::clone(&stop);
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
    let handle = std::thread::Builder::new()
        .name(String::from("crossline-feed"))
        .spawn(move || {
            let bound = crate::rebind::bind_when_free("feed TCP", || {
                FeedServer::bind(server_config, Arc::clone(&users))
            });
            let server = match bound {
                Ok(server) => server,
                Err(error) => {
                    let _ = ready_tx.send(Err(anyhow::anyhow!("{error}")));
                    return;
                }
            };
            if ready_tx
                .send(Ok((server.tcp_addr(), server.snapshot_addr())))
                .is_err()
            {
                return;
            }
            run(server, consumer, &thread_stop, &metrics);
        })?;
    match ready_rx.recv() {
        Ok(Ok((tcp, snapshot))) => Ok(Some(FeedThread {
            producer,
            stop: FeedStopGuard(stop),
            handle,
            tcp,
            snapshot,
        })),
        Ok(Err(error)) => {
            let _ = handle.join();
            Err(error)
        }
        Err(_) => {
            let _ = handle.join();
            anyhow::bail!("the feed thread stopped during start-up")
        }
    }
}

/// Messages from the gateway taken per turn on the core, at most: with more waiting, the thread gives its core back
/// after each such batch (`background::end_turn`), about 20 us of work at this size.
const TURN_MESSAGES_MAX: u64 = 128;

/// With this many messages or more still waiting, the thread keeps its core until fewer are: short turns must not
/// let the ring from the gateway fill (a full ring makes the TCP feed stale), nor the subscribers fall far behind.
const KEEP_CORE_WAITING_MESSAGES: u64 = (FEED_RING_SLOTS / 64) as u64;

fn run(
    mut server: FeedServer,
    mut from_gateway: Consumer<FeedMessage>,
    stop: &AtomicBool,
    metrics: &Metrics,
) {
    let mut stale_reported = false;
    loop {
        let stopping = stop.load(Ordering::Acquire);
        let available = from_gateway.available().min(TURN_MESSAGES_MAX);
        for offset in 0..available {
            let Some(item) = from_gateway.peek(offset) else {
                break;
            };
            let bytes = item.bytes.get(..usize::from(item.len)).unwrap_or_default();
            let _ = server.publish(item.sequence, bytes);
        }
        if available > 0 {
            from_gateway.release(available);
        }
        if !stale_reported {
            if let Some(reason) = server.stale_reason() {
                eprintln!("crossline: the TCP feed is stale and closed its subscribers: {reason}");
                stale_reported = true;
            }
        }
        let wait = if available > 0 {
            Duration::ZERO
        } else {
            Duration::from_millis(1)
        };
        let _ = server.poll(wait);
        if available == TURN_MESSAGES_MAX && from_gateway.available() < KEEP_CORE_WAITING_MESSAGES {
            super::background::end_turn();
        }
        metrics::set(
            &metrics.gateway.feed_tcp_subscribers,
            server.stats().stream_subscribers,
        );
        if stopping && from_gateway.available() == 0 {
            break;
        }
    }
    server.end_session();
    let deadline = Instant::now() + Duration::from_secs(3);
    while server.open_connections() > 0 && Instant::now() < deadline {
        let _ = server.poll(Duration::from_millis(1));
    }
}
