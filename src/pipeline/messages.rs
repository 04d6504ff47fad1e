//! What travels on the rings between stages. Plain `Copy` values: a ring slot is written in place.

use crossline_engine::{CommandBody, Event};

/// Gateway -> sequencer: one command body and when its message arrived.
#[derive(Debug, Clone, Copy)]
pub struct InboundCommand {
    pub body: CommandBody,
    /// Wall-clock nanoseconds since the Unix epoch when the gateway read the message (0 if not from a client).
    pub received_ns: u64,
}

/// Admin -> sequencer: an operator's command and the ticket its result is reported under.
#[derive(Debug, Clone, Copy)]
pub struct AdminCommand {
    pub ticket: u64,
    pub body: CommandBody,
}

/// Matcher -> gateway: one event of command `seq`.
#[derive(Debug, Clone, Copy)]
pub struct OutboundEvent {
    pub seq: u64,
    /// The command's timestamp: wall-clock nanoseconds since the Unix epoch, stamped by the sequencer.
    pub timestamp_ns: u64,
    /// Copied from the command's `InboundCommand`.
    pub received_ns: u64,
    pub event: Event,
}

/// Nanoseconds since the Unix epoch.
#[inline]
pub fn wall_clock_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Nanoseconds since the UTC midnight before `epoch_ns`: OUCH and ITCH timestamps.
#[inline]
pub fn since_midnight_ns(epoch_ns: u64) -> u64 {
    epoch_ns % 86_400_000_000_000
}
