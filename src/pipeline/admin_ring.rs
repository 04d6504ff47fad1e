//! How the admin thread submits operator commands: one ring into the engine thread and a result slot back.
//! Used by one thread at a time (the HTTP server serializes state-changing requests through a mutex).

use super::engine_stage::AdminResults;
use super::messages::AdminCommand;
use super::ring::Producer;
use crossline_engine::CommandBody;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use thiserror::Error;

/// What became of a submitted command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminOutcome {
    pub seq: u64,
    /// The engine's reject reason when it refused the command.
    pub rejected: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SubmitError {
    #[error("the engine's admin ring is full")]
    RingFull,
    #[error("the engine did not apply the command within {timeout_ms} ms")]
    Timeout { timeout_ms: u64 },
    #[error("the appliance is not accepting commands")]
    Closed,
}

struct Inner {
    ring: Producer<AdminCommand>,
    next_ticket: u64,
}

/// The submitting end, shareable between the admin server's threads.
pub struct AdminSubmitter {
    inner: Mutex<Inner>,
    results: Arc<AdminResults>,
}

impl AdminSubmitter {
    pub fn new(ring: Producer<AdminCommand>, results: Arc<AdminResults>) -> AdminSubmitter {
        AdminSubmitter {
            inner: Mutex::new(Inner {
                ring,
                next_ticket: 1,
            }),
            results,
        }
    }

    /// Submits `body` and waits until the engine has sequenced, journaled and applied it.
    pub fn submit(
        &self,
        body: CommandBody,
        timeout: Duration,
    ) -> Result<AdminOutcome, SubmitError> {
        let mut inner = self.inner.lock().map_err(|_| SubmitError::Closed)?;
        let ticket = inner.next_ticket;
        if !inner.ring.try_write(AdminCommand { ticket, body }) {
            return Err(SubmitError::RingFull);
        }
        inner.next_ticket += 1;
        inner.ring.publish();
        let deadline = Instant::now() + timeout;
        while self.results.done_ticket.load(Ordering::Acquire) < ticket {
            if Instant::now() >= deadline {
                return Err(SubmitError::Timeout {
                    timeout_ms: timeout.as_millis() as u64,
                });
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let seq = self.results.seq.load(Ordering::Relaxed);
        let reject = self.results.reject.load(Ordering::Relaxed);
        Ok(AdminOutcome {
            seq,
            rejected: (reject != 0).then(|| reject_name(reject - 1)),
        })
    }
}

fn reject_name(code: u64) -> String {
    // The engine's RejectReason discriminants start at 1 (UnknownInstrument).
    use crossline_engine::RejectReason as R;
    const ALL: [R; 32] = [
        R::UnknownInstrument,
        R::InstrumentExists,
        R::InvalidInstrumentSpec,
        R::InstrumentHalted,
        R::CancelOnly,
        R::UnknownAccount,
        R::UnknownAsset,
        R::UnknownFeeTier,
        R::InvalidFeeRate,
        R::InvalidAmount,
        R::OrderEntryDisabled,
        R::InvalidPrice,
        R::PriceNotOnTick,
        R::PriceOutsideBand,
        R::InvalidQty,
        R::InvalidMinQty,
        R::InvalidDisplayQty,
        R::InvalidExpireTime,
        R::InvalidTimeInForce,
        R::QtyAboveMax,
        R::NotionalAboveMax,
        R::TooManyOpenOrders,
        R::InsufficientFunds,
        R::BookFull,
        R::DuplicateUserRef,
        R::UnknownOrder,
        R::PostOnlyWouldTrade,
        R::NotAReduction,
        R::QuoteCrossed,
        R::NotReplaceable,
        R::MassCancelNeedsScope,
        R::BalanceOverflow,
    ];
    ALL.iter()
        .chain(std::iter::once(&R::NotionalOverflow))
        .find(|r| **r as u64 == code)
        .map_or_else(|| format!("reject code {code}"), |r| format!("{r:?}"))
}
