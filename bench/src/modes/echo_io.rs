//! The echo server's optional share of the appliance's I/O. With `EchoIo::JournalFeed` every message it echoes is
//! first journaled by the appliance's own `JournalWriter` (same segment size and flush interval as the example
//! configuration, so its flusher and preparer threads run as the appliance's do), and the messages of each poll go
//! out as one datagram through the appliance's own `UdpFeedSender` to a loopback sink that is never read, as the
//! `wire` mode's feed sink is. `EchoIo::Journal` and `EchoIo::Feed` do one of the two.
//!
//! The order matches the gateway's: a message's journal record is written (one `pwrite` per batch) before its echo is
//! queued, and the datagram for a poll's messages is sent after the next poll has submitted their echoes, so no echo
//! waits behind the feed. What this echo still leaves out is the appliance's own work on a message: decoding,
//! sessions, matching, encoding the reply, and the threads no reply waits for (the journal follower, the TCP feed).
//! Against the bare echo it measures what the I/O an acknowledged order needs costs the tail; against the
//! appliance, what its own work does.

use anyhow::Context;
use crossline_engine::{Command, CommandBody};
use crossline_journal::{FsyncPolicy, JournalConfig, JournalWriter};
use crossline_net::feed::{PublisherConfig, UdpFeedSender};
use crossline_net::{itch, moldudp64};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};

/// What the echo server does with a message besides echoing it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum EchoIo {
    /// Nothing: the bare echo.
    #[default]
    Bare,
    /// Journal it, as the appliance's gateway does with an order before its reply.
    Journal,
    /// Publish it on a UDP feed, as the appliance's gateway does with the event an order makes.
    Feed,
    /// Both.
    JournalFeed,
}

impl EchoIo {
    pub fn name(self) -> &'static str {
        match self {
            EchoIo::Bare => "bare",
            EchoIo::Journal => "journal",
            EchoIo::Feed => "feed",
            EchoIo::JournalFeed => "journal-feed",
        }
    }

    /// How a report names the echo server.
    pub fn describe(self) -> &'static str {
        match self {
            EchoIo::Bare => "bare echo",
            EchoIo::Journal => "echo with the appliance's journal",
            EchoIo::Feed => "echo with the appliance's UDP feed",
            EchoIo::JournalFeed => "echo with the appliance's journal and UDP feed",
        }
    }
}

/// The journal's group-commit interval: the example configuration's (its segment size is the journal's default).
const FSYNC_INTERVAL_MS: u32 = 10;
/// One ITCH Add Order in a MoldUDP64 packet, with its length field.
const FEED_MESSAGE_BYTES: usize = moldudp64::MESSAGE_LENGTH_BYTES + itch::AddOrder::BYTES;

/// The journal and the feed of one echo server.
pub struct ApplianceIo {
    journal: Option<JournalWriter>,
    /// Removed when the server stops.
    _dir: Option<tempfile::TempDir>,
    /// The sender and its sink, held open and never read, so that its buffer fills and the kernel drops the
    /// packets there.
    feed: Option<(UdpFeedSender, UdpSocket)>,
    next_seq: u64,
    /// Feed messages of the poll in progress.
    messages_this_poll: usize,
    /// Feed messages of the previous poll, sent after the current one.
    messages_waiting: usize,
    packet: Vec<u8>,
    pub stats: ApplianceIoStats,
}

/// What the journal and the feed did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplianceIoStats {
    pub records_journaled: u64,
    pub feed_packets: u64,
    pub feed_packets_lost: u64,
}

impl ApplianceIo {
    /// Creates the journal in a new temporary directory (waiting for its first prepared segment, as the appliance
    /// does before it takes orders) and binds the feed's sender and sink, as `io` asks; None for the bare echo.
    pub fn open(io: EchoIo) -> anyhow::Result<Option<ApplianceIo>> {
        let (journal, dir) = match io {
            EchoIo::Bare => return Ok(None),
            EchoIo::Journal | EchoIo::JournalFeed => {
                let (journal, dir) = open_journal()?;
                (Some(journal), Some(dir))
            }
            EchoIo::Feed => (None, None),
        };
        let feed = match io {
            EchoIo::Feed | EchoIo::JournalFeed => Some(open_feed()?),
            EchoIo::Bare | EchoIo::Journal => None,
        };
        Ok(Some(ApplianceIo {
            journal,
            _dir: dir,
            feed,
            next_seq: 1,
            messages_this_poll: 0,
            messages_waiting: 0,
            packet: vec![0; PublisherConfig::default().max_packet_bytes],
            stats: ApplianceIoStats::default(),
        }))
    }

    /// Journals `messages` records and ends the batch (the `pwrite`); call before their echoes are queued. Without
    /// a journal, only counts them for the feed.
    pub fn on_messages(&mut self, messages: u64, timestamp_ns: u64) -> anyhow::Result<()> {
        self.messages_this_poll += messages as usize;
        let Some(journal) = self.journal.as_mut() else {
            return Ok(());
        };
        for _ in 0..messages {
            let command = Command {
                seq: self.next_seq,
                timestamp_ns,
                body: CommandBody::Deposit {
                    account: 1,
                    asset: 1,
                    amount: self.next_seq,
                },
            };
            journal.append(&command).context("journaling a message")?;
            self.next_seq += 1;
        }
        journal.commit_batch().context("committing a batch")?;
        self.stats.records_journaled += messages;
        Ok(())
    }

    /// After each poll: sends the datagram of the poll before (whose echoes this poll submitted), and keeps this
    /// poll's messages for the next.
    pub fn after_poll(&mut self) {
        if let Some((feed, _)) = &self.feed {
            let per_packet = (self.packet.len() - moldudp64::HEADER_BYTES) / FEED_MESSAGE_BYTES;
            let mut left = self.messages_waiting;
            while left > 0 {
                let count = left.min(per_packet);
                let bytes = moldudp64::HEADER_BYTES + count * FEED_MESSAGE_BYTES;
                let outcome = feed.send(&self.packet[..bytes]);
                self.stats.feed_packets += 1;
                self.stats.feed_packets_lost += u64::from(outcome.lost);
                left -= count;
            }
        }
        self.messages_waiting = self.messages_this_poll;
        self.messages_this_poll = 0;
    }

    /// Syncs and closes the journal.
    pub fn close(&mut self) -> anyhow::Result<()> {
        if let Some(journal) = self.journal.take() {
            journal.close().context("closing the echo journal")?;
        }
        Ok(())
    }
}

/// A journal like the appliance's, in a new temporary directory, ready for its first record.
fn open_journal() -> anyhow::Result<(JournalWriter, tempfile::TempDir)> {
    let dir = tempfile::Builder::new()
        .prefix("crossline-bench-echo-journal-")
        .tempdir()
        .context("creating the echo journal's directory")?;
    let config = JournalConfig {
        fsync: FsyncPolicy::IntervalMs(FSYNC_INTERVAL_MS),
        first_seq: 1,
        ..JournalConfig::default()
    };
    let (journal, _) = JournalWriter::open(dir.path(), config)
        .with_context(|| format!("opening a journal in {}", dir.path().display()))?;
    journal.wait_for_next_segment();
    Ok((journal, dir))
}

/// The appliance's feed sender, connected to a sink on loopback that is never read.
fn open_feed() -> anyhow::Result<(UdpFeedSender, UdpSocket)> {
    let sink = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).context("binding the feed's sink")?;
    let sink_addr = sink.local_addr().context("the feed sink's address")?;
    let feed = UdpFeedSender::new(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), &[sink_addr], 1)
        .context("binding the feed's sender")?;
    Ok((feed, sink))
}
