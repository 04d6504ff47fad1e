//! The appliance's snapshot payload: the engine's rkyv snapshot first (so it keeps the payload's alignment),
//! then the session ledger, then a trailer of the ledger's length and a magic. The snapshot store checksums the
//! whole payload.

use super::ledger::{LedgerDecodeError, SessionLedger};
use crossline_engine::{Engine, EngineConfig, SnapshotError};
use thiserror::Error;

const MAGIC: &[u8; 8] = b"XLSTATE1";
const TRAILER_BYTES: usize = 4 + 8;

#[derive(Debug, Error)]
pub enum StateSnapshotError {
    #[error("not an appliance snapshot (no trailer magic)")]
    NoTrailer,
    #[error("ledger length {len} does not fit a payload of {payload} bytes")]
    BadLedgerLength { len: usize, payload: usize },
    #[error("session ledger: {0}")]
    Ledger(#[from] LedgerDecodeError),
    #[error("engine snapshot: {0}")]
    Engine(#[from] SnapshotError),
}

pub fn encode(engine: &Engine, ledger: &SessionLedger) -> Vec<u8> {
    let mut payload = engine.snapshot_bytes();
    let engine_len = payload.len();
    ledger.encode(&mut payload);
    let ledger_len = (payload.len() - engine_len) as u32;
    payload.extend_from_slice(&ledger_len.to_le_bytes());
    payload.extend_from_slice(MAGIC);
    payload
}

pub fn decode(
    payload: &[u8],
    config: EngineConfig,
    sessions: usize,
) -> Result<(Engine, SessionLedger), StateSnapshotError> {
    if payload.len() < TRAILER_BYTES || &payload[payload.len() - 8..] != MAGIC {
        return Err(StateSnapshotError::NoTrailer);
    }
    let mut len_bytes = [0u8; 4];
    len_bytes.copy_from_slice(&payload[payload.len() - TRAILER_BYTES..payload.len() - 8]);
    let ledger_len = u32::from_le_bytes(len_bytes) as usize;
    let body = payload.len() - TRAILER_BYTES;
    if ledger_len > body {
        return Err(StateSnapshotError::BadLedgerLength {
            len: ledger_len,
            payload: payload.len(),
        });
    }
    let engine_len = body - ledger_len;
    let ledger = SessionLedger::decode(&payload[engine_len..body], sessions)?;
    let engine = Engine::from_snapshot_bytes(config, &payload[..engine_len])?;
    Ok((engine, ledger))
}
