//! The leader's replicator: a thread of its own (off the hot path, and off the Raft runtime) that tails the local
//! journal behind its written watermark, groups records into batches and proposes each batch as one Raft entry.
//!
//! A batch is proposed when it holds `max_records`, when its first record has waited `max_delay`, or at once when
//! the journal has nothing more and no proposal is in flight (so a quiet leader adds no batching delay, and a busy
//! one sends fewer, larger entries). Proposals are pipelined (`client_write_ff`, in seq order) up to
//! `max_in_flight`; commitment is observed through the state machine's applied seq, not here.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossline_engine::Command;
use crossline_journal::{JournalReader, Watermarks};
use openraft::error::ClientWriteError;
use tokio::sync::oneshot::error::TryRecvError;

use super::types::{BatchBuilder, Raft, TypeConfig};

type Pending = tokio::sync::oneshot::Receiver<
    Result<
        openraft::raft::ClientWriteResponse<TypeConfig>,
        ClientWriteError<u64, openraft::BasicNode>,
    >,
>;

#[derive(Debug, Clone, Copy)]
pub struct ReplicatorConfig {
    pub max_records: usize,
    pub max_delay: Duration,
    pub max_in_flight: usize,
}

/// How the replicator ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicatorExit {
    /// Seq of the last record proposed.
    pub proposed_seq: u64,
    /// Why it stopped by itself (lost leadership, an unreadable journal); `None` after `stop`.
    pub error: Option<String>,
}

#[derive(Debug)]
pub struct Replicator {
    stop: Arc<AtomicBool>,
    proposed: Arc<AtomicU64>,
    thread: Option<JoinHandle<ReplicatorExit>>,
}

impl Replicator {
    /// Starts tailing `dir` from `from_seq`.
    pub fn start(
        raft: Raft,
        runtime: tokio::runtime::Handle,
        dir: PathBuf,
        watermarks: Arc<Watermarks>,
        from_seq: u64,
        config: ReplicatorConfig,
    ) -> std::io::Result<Replicator> {
        let stop = Arc::new(AtomicBool::new(false));
        let proposed = Arc::new(AtomicU64::new(from_seq.saturating_sub(1)));
        let thread = {
            let stop = Arc::clone(&stop);
            let proposed = Arc::clone(&proposed);
            std::thread::Builder::new()
                .name("cluster-replicator".into())
                .spawn(move || {
                    let mut run = Run {
                        raft,
                        runtime,
                        config,
                        stop,
                        proposed,
                        in_flight: VecDeque::new(),
                    };
                    let error = run.run(dir, watermarks, from_seq).err();
                    ReplicatorExit {
                        proposed_seq: run.proposed.load(Ordering::Acquire),
                        error,
                    }
                })?
        };
        Ok(Replicator {
            stop,
            proposed,
            thread: Some(thread),
        })
    }

    /// Seq of the last record proposed so far.
    pub fn proposed_seq(&self) -> u64 {
        self.proposed.load(Ordering::Acquire)
    }

    /// Whether the thread has ended by itself.
    pub fn is_finished(&self) -> bool {
        self.thread
            .as_ref()
            .is_none_or(|thread| thread.is_finished())
    }

    /// Proposes what it has read, stops and returns how it ended.
    pub fn stop(mut self) -> ReplicatorExit {
        self.stop.store(true, Ordering::Release);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(exit)) => exit,
            Some(Err(_)) => ReplicatorExit {
                proposed_seq: self.proposed_seq(),
                error: Some("the replicator thread panicked".into()),
            },
            None => ReplicatorExit {
                proposed_seq: self.proposed_seq(),
                error: None,
            },
        }
    }
}

impl Drop for Replicator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Run {
    raft: Raft,
    runtime: tokio::runtime::Handle,
    config: ReplicatorConfig,
    stop: Arc<AtomicBool>,
    proposed: Arc<AtomicU64>,
    in_flight: VecDeque<Pending>,
}

impl Run {
    fn run(
        &mut self,
        dir: PathBuf,
        watermarks: Arc<Watermarks>,
        from_seq: u64,
    ) -> Result<(), String> {
        let mut reader =
            JournalReader::open_tailing(&dir, watermarks, from_seq).map_err(|err| {
                format!(
                    "replicator: tail {} from seq {from_seq}: {err}",
                    dir.display()
                )
            })?;
        let mut builder = BatchBuilder::with_capacity(self.config.max_records);
        let mut first_at: Option<Instant> = None;
        let mut idle_rounds = 0u32;
        loop {
            let stopping = self.stop.load(Ordering::Acquire);
            let mut dry = false;
            while builder.len() < self.config.max_records {
                match reader.next_record() {
                    Ok(Some(record)) => {
                        let command =
                            rkyv::deserialize::<Command, rkyv::rancor::Error>(record.command)
                                .map_err(|err| format!("replicator: seq {}: {err}", record.seq))?;
                        builder
                            .push(&command)
                            .map_err(|err| format!("replicator: {err}"))?;
                        first_at.get_or_insert_with(Instant::now);
                    }
                    Ok(None) => {
                        dry = true;
                        break;
                    }
                    Err(err) => return Err(format!("replicator: {err}")),
                }
            }
            self.reap()?;
            let due = builder.len() >= self.config.max_records
                || first_at.is_some_and(|at| at.elapsed() >= self.config.max_delay)
                || (dry && self.in_flight.is_empty())
                || stopping;
            if !builder.is_empty() && due {
                let batch = builder.take();
                first_at = None;
                let last = batch.last_seq();
                while self.in_flight.len() >= self.config.max_in_flight {
                    let oldest = self.in_flight.pop_front().expect("non-empty");
                    Self::check(self.runtime.block_on(oldest))?;
                }
                let pending = self
                    .runtime
                    .block_on(self.raft.client_write_ff(batch))
                    .map_err(|err| format!("replicator: raft stopped: {err}"))?;
                self.in_flight.push_back(pending);
                self.proposed.store(last, Ordering::Release);
                idle_rounds = 0;
                continue;
            }
            if stopping {
                return Ok(());
            }
            if dry {
                // Spin briefly (a burst usually continues), then sleep in short naps.
                idle_rounds = idle_rounds.saturating_add(1);
                if idle_rounds < 64 {
                    std::hint::spin_loop();
                } else if idle_rounds < 256 {
                    std::thread::yield_now();
                } else {
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
        }
    }

    /// Drops proposals that have completed; a refused one (this node is no longer leader) ends the replicator.
    fn reap(&mut self) -> Result<(), String> {
        while let Some(front) = self.in_flight.front_mut() {
            match front.try_recv() {
                Ok(result) => {
                    self.in_flight.pop_front();
                    Self::check(Ok(result))?;
                }
                Err(TryRecvError::Empty) => return Ok(()),
                Err(TryRecvError::Closed) => {
                    return Err("replicator: raft dropped a proposal (shut down)".into())
                }
            }
        }
        Ok(())
    }

    fn check(
        result: Result<
            Result<
                openraft::raft::ClientWriteResponse<TypeConfig>,
                ClientWriteError<u64, openraft::BasicNode>,
            >,
            tokio::sync::oneshot::error::RecvError,
        >,
    ) -> Result<(), String> {
        match result {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(err)) => Err(format!("replicator: proposal refused: {err}")),
            Err(_) => Err("replicator: raft dropped a proposal (shut down)".into()),
        }
    }
}
