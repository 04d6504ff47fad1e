//! What this node does in its cluster, as the pipeline's threads see it: one atomic, read once per loop.
//!
//! A standalone node is `Leader` from the start. A clustered node starts `Standby`: its engine follows the
//! replicated journal and its gateway refuses logins. The cluster watcher moves it to `Leader` once Raft has
//! elected it and it has applied everything (promotion), or to `SteppingDown` when a leader loses its
//! leadership: the gateway then closes every session and releases nothing more, and `serve` restarts the process
//! so that it rejoins as a standby from its committed journal.

use std::sync::atomic::{AtomicU8, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Role {
    Standby = 0,
    Leader = 1,
    SteppingDown = 2,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Standby => "standby",
            Role::Leader => "leader",
            Role::SteppingDown => "stepping-down",
        }
    }
}

#[derive(Debug)]
pub struct RoleCell(AtomicU8);

impl Default for RoleCell {
    fn default() -> Self {
        RoleCell(AtomicU8::new(Role::Leader as u8))
    }
}

impl RoleCell {
    #[inline]
    pub fn get(&self) -> Role {
        match self.0.load(Ordering::Acquire) {
            0 => Role::Standby,
            1 => Role::Leader,
            _ => Role::SteppingDown,
        }
    }

    pub fn set(&self, role: Role) {
        self.0.store(role as u8, Ordering::Release);
    }
}
