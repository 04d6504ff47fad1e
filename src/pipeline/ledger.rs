//! What the gateway's sessions need to resume that the engine does not keep: each session's next outbound
//! sequence number and last UserRefNum. Both are functions of the journal (commands and the events they
//! produce), so the stage that applies the journal keeps them, a snapshot carries them, and a replay rebuilds
//! them exactly.

use crossline_engine::{CommandBody, Event, SessionId, SessionReplyKind};
use crossline_net::translate::message_session;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionLedger {
    /// Indexed by engine session id; session 0 (the operator) is never a SoupBinTCP session.
    next_out_seq: Vec<u64>,
    last_user_ref: Vec<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LedgerDecodeError {
    #[error("session ledger is {len} bytes, not a whole number of 12-byte entries")]
    BadLength { len: usize },
}

const ENTRY_BYTES: usize = 12;

impl SessionLedger {
    /// A ledger for sessions `1..=sessions` (the configured users).
    pub fn new(sessions: usize) -> SessionLedger {
        SessionLedger {
            next_out_seq: vec![1; sessions + 1],
            last_user_ref: vec![0; sessions + 1],
        }
    }

    /// Sequence number the session's next outbound message gets (1 for a session that has had none).
    pub fn next_out_seq(&self, session: SessionId) -> u64 {
        self.next_out_seq
            .get(session as usize)
            .copied()
            .unwrap_or(1)
    }

    pub fn last_user_ref(&self, session: SessionId) -> u32 {
        self.last_user_ref
            .get(session as usize)
            .copied()
            .unwrap_or(0)
    }

    /// Notes the UserRefNum a command used up.
    #[inline]
    pub fn on_command(&mut self, body: &CommandBody) {
        let (session, user_ref) = match body {
            CommandBody::NewOrder(order) => (order.session, order.user_ref),
            CommandBody::Replace(replace) => (replace.session, replace.new_user_ref),
            CommandBody::MassCancel(mass) => (mass.session, mass.user_ref),
            CommandBody::Quote(quote) => (quote.session, quote.user_ref),
            CommandBody::SetOrderEntry {
                session, user_ref, ..
            } => (*session, *user_ref),
            CommandBody::SessionReply(reply) => match reply.kind {
                SessionReplyKind::OrderRejected | SessionReplyKind::QuoteRejected => {
                    (reply.session, reply.user_ref)
                }
                SessionReplyKind::AccountQuery => return,
            },
            _ => return,
        };
        if let Some(last) = self.last_user_ref.get_mut(session as usize) {
            if session != 0 && user_ref > *last {
                *last = user_ref;
            }
        }
    }

    /// Counts the outbound message an event adds to its session's stream.
    #[inline]
    pub fn on_event(&mut self, event: &Event) {
        if let Some(session) = message_session(event) {
            if session != 0 {
                if let Some(next) = self.next_out_seq.get_mut(session as usize) {
                    *next += 1;
                }
            }
        }
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        for (next, last) in self.next_out_seq.iter().zip(&self.last_user_ref) {
            out.extend_from_slice(&next.to_le_bytes());
            out.extend_from_slice(&last.to_le_bytes());
        }
    }

    /// Decodes a ledger written by `encode`, sized for `sessions` now configured: entries past them are dropped,
    /// missing ones start fresh.
    pub fn decode(bytes: &[u8], sessions: usize) -> Result<SessionLedger, LedgerDecodeError> {
        if !bytes.len().is_multiple_of(ENTRY_BYTES) {
            return Err(LedgerDecodeError::BadLength { len: bytes.len() });
        }
        let mut ledger = SessionLedger::new(sessions);
        for (i, entry) in bytes
            .chunks_exact(ENTRY_BYTES)
            .enumerate()
            .take(sessions + 1)
        {
            let mut next = [0u8; 8];
            next.copy_from_slice(&entry[..8]);
            let mut last = [0u8; 4];
            last.copy_from_slice(&entry[8..]);
            ledger.next_out_seq[i] = u64::from_le_bytes(next).max(1);
            ledger.last_user_ref[i] = u32::from_le_bytes(last);
        }
        Ok(ledger)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossline_engine::{RejectReason, SessionReply};

    #[test]
    fn counts_messages_and_user_refs_and_round_trips() {
        let mut ledger = SessionLedger::new(2);
        ledger.on_event(&Event::Rejected {
            session: 2,
            user_ref: 7,
            reason: RejectReason::UnknownOrder,
        });
        ledger.on_event(&Event::SettingsApplied);
        ledger.on_event(&Event::Rejected {
            session: 0,
            user_ref: 0,
            reason: RejectReason::UnknownAccount,
        });
        ledger.on_command(&CommandBody::SessionReply(SessionReply {
            session: 1,
            user_ref: 9,
            kind: SessionReplyKind::OrderRejected,
            code: 1,
            symbol: [b' '; 8],
        }));
        assert_eq!(ledger.next_out_seq(1), 1);
        assert_eq!(ledger.next_out_seq(2), 2);
        assert_eq!(ledger.last_user_ref(1), 9);
        let mut bytes = Vec::new();
        ledger.encode(&mut bytes);
        assert_eq!(SessionLedger::decode(&bytes, 2), Ok(ledger.clone()));
        let grown = SessionLedger::decode(&bytes, 3).expect("decode");
        assert_eq!(grown.next_out_seq(2), 2);
        assert_eq!(grown.next_out_seq(3), 1);
        assert!(SessionLedger::decode(&bytes[1..], 2).is_err());
    }
}
