//! Work due at a time rather than on a command: good-till-time expiry and the end of circuit-breaker halts. It runs
//! at the start of the first command stamped at or after the due time, so it is as deterministic as the commands.

use super::Engine;
use crate::book::OrderBook;
use crate::event::{CancelReason, Event, EventSink, TradingActionReason};
use crate::types::InstrumentStatus;

impl<B: OrderBook> Engine<B> {
    pub(crate) fn run_timers(&mut self, sink: &mut impl EventSink) {
        while let Some(handle) = self.expiry.peek() {
            if self.orders.get(handle).expire_time_ns > self.now_ns {
                break;
            }
            self.cancel_resting(handle, CancelReason::Expired, sink);
        }
        let mut next_ns = self.expiry.next_expiry_ns(&self.orders).unwrap_or(u64::MAX);
        for (instrument, state) in self.instruments.iter_mut().enumerate() {
            let Some(state) = state.as_mut() else {
                continue;
            };
            if state.status != InstrumentStatus::Halted || state.halt_until_ns == 0 {
                continue;
            }
            if state.halt_until_ns <= self.now_ns {
                state.status = InstrumentStatus::Trading;
                state.halt_until_ns = 0;
                // The move that tripped the breaker is the new normal once the halt is over.
                state.breaker.clear();
                sink.push(Event::TradingAction {
                    instrument: instrument as u32,
                    status: InstrumentStatus::Trading,
                    reason: TradingActionReason::HaltEnded,
                });
            } else {
                next_ns = next_ns.min(state.halt_until_ns);
            }
        }
        self.next_timer_ns = next_ns;
    }
}
