//! crossline-engine: the deterministic state machine at the centre of Crossline.
//!
//! Its one job is `Engine::apply(command) -> events`: instruments, price-time books, matching, balances, pre-trade
//! risk, fees and circuit breakers, as a pure function of the state and the command. It never does I/O, never reads
//! a clock (time arrives in the command), never spawns threads, never uses randomness, and allocates nothing per
//! command after construction: every pool is sized by `EngineConfig` and a full pool is a clean reject.
//!
//! Main types: `Command` (also the journal record), `Event` and `EventSink`, `Engine` (generic over the book
//! implementation, `FastBook` in production and `NaiveBook` as the reference), `EngineConfig`.

pub mod account;
pub mod book;
pub mod command;
pub mod config;
mod engine;
pub mod event;
pub mod expiry;
#[doc(hidden)]
pub mod fuzzing;
pub mod index;
pub mod instrument;
pub mod order;
pub mod snapshot;
pub mod types;

pub use account::Balance;
pub use book::{FastBook, LevelView, NaiveBook, OrderBook};
pub use command::*;
pub use config::{ConfigError, EngineConfig};
pub use engine::{Engine, RestingOrder};
pub use event::*;
pub use snapshot::{EngineSnapshot, SnapshotError, SNAPSHOT_FORMAT_VERSION};
pub use types::*;
