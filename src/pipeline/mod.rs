//! The appliance's pipeline: the gateway thread and the engine thread (sequencer, journal, matcher) joined by
//! single-producer single-consumer rings, the journal follower beside them, and start-up recovery.

pub mod admin_ring;
pub mod background;
pub mod cores;
pub mod engine_stage;
pub mod feed_stage;
pub mod follower;
pub mod gateway_stage;
pub mod idle;
pub mod ledger;
pub mod messages;
pub mod rate;
pub mod recovery;
pub mod ring;
pub mod role;
pub mod standby_stage;
pub mod state_snapshot;

use std::sync::atomic::{AtomicBool, Ordering};

/// The shutdown handshake between `serve`, the gateway thread, the engine thread and the follower.
///
/// `serve` sets `gateway_stop`; the gateway closes its sessions, hands its queued commands to the engine and
/// sets `engine_stop`; the engine drains its rings, closes the journal (synced) and sets `engine_done`; the
/// gateway then releases the last replies and exits, and the follower catches up, snapshots and exits.
#[derive(Debug, Default)]
pub struct Lifecycle {
    pub gateway_stop: AtomicBool,
    pub engine_stop: AtomicBool,
    pub engine_done: AtomicBool,
    /// Unparks the engine thread when the gateway or the admin publishes a command to it.
    pub engine_wakeup: idle::Wakeup,
    /// Ends the gateway's wait in its poller when the engine publishes events to it.
    pub gateway_wakeup: idle::PollerWakeup,
    /// Leader, standby or stepping down (a standalone node is a leader).
    pub role: role::RoleCell,
    /// The engine stopped because its journal could not take a record (a full disk, an I/O error): a clustered
    /// node restarts, once there is room, to follow from the committed journal.
    pub journal_failed: AtomicBool,
}

impl Lifecycle {
    /// The engine cannot go on (its journal failed): stop everything.
    pub fn fail(&self) {
        self.engine_stop.store(true, Ordering::Release);
        self.gateway_stop.store(true, Ordering::Release);
    }

    /// `fail`, because the journal could not take a record.
    pub fn fail_journal(&self) {
        self.journal_failed.store(true, Ordering::Release);
        self.fail();
    }

    /// Asks the engine thread to stop once drained, waking it if it parks.
    pub fn stop_engine(&self) {
        self.engine_stop.store(true, Ordering::Release);
        self.engine_wakeup.wake();
    }
}
