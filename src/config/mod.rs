//! The appliance's configuration: a TOML file, or the embedded default (`default.toml`, which is also what
//! `crossline config example` prints). `Config::parse` reads and checks it; a bad configuration is refused with
//! the field, the value and why.

mod check;
pub mod cluster;
mod genesis;

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use check::ConfigError;
pub use genesis::{genesis_commands, instrument_spec};

/// The embedded default configuration, comments included.
pub const DEFAULT_TOML: &str = include_str!("default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub node: NodeConfig,
    pub gateway: GatewayConfig,
    pub feed: FeedConfig,
    pub admin: AdminConfig,
    pub journal: JournalSection,
    pub snapshot: SnapshotSection,
    pub ack: AckSection,
    pub engine: EngineSection,
    pub cores: CoresConfig,
    /// Replication to hot standbys and learners; absent: a standalone node.
    #[serde(default)]
    pub cluster: Option<cluster::ClusterConfig>,
    /// The query side; absent: its defaults (off).
    #[serde(default)]
    pub query: QuerySection,
    #[serde(default)]
    pub fee_tiers: Vec<FeeTierConfig>,
    #[serde(default)]
    pub assets: Vec<AssetConfig>,
    #[serde(default)]
    pub instruments: Vec<InstrumentConfig>,
    #[serde(default)]
    pub accounts: Vec<AccountConfig>,
    #[serde(default)]
    pub users: Vec<UserConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    pub data_dir: PathBuf,
    pub session_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendChoice {
    Auto,
    #[serde(rename = "io_uring")]
    IoUring,
    Epoll,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    pub listen: SocketAddr,
    pub backend: BackendChoice,
    pub max_sessions: usize,
    pub max_frame_bytes: usize,
    pub send_queue_bytes: usize,
    pub replay_store_bytes: usize,
    pub replay_store_messages: usize,
    pub login_timeout_ms: u64,
    pub heartbeat_interval_ms: u64,
    pub client_timeout_ms: u64,
    pub rate_limit_per_s: u64,
    pub rate_limit_burst: u64,
    pub penalty_breaches: u32,
    pub penalty_window_s: u64,
    pub penalty_refuse_s: u64,
    /// io_uring SQPOLL: a kernel thread on this core polls the submission queue.
    #[serde(default)]
    pub sqpoll_core: Option<usize>,
    #[serde(default = "default_sqpoll_idle_ms")]
    pub sqpoll_idle_ms: u32,
    /// NAPI busy polling on the gateway's sockets, in microseconds (Linux 6.9+).
    #[serde(default)]
    pub napi_busy_poll_us: Option<u32>,
}

fn default_sqpoll_idle_ms() -> u32 {
    100
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    pub udp_destinations: Vec<SocketAddr>,
    pub retransmit_listen: Option<SocketAddr>,
    pub session: String,
    pub max_packet_bytes: usize,
    pub heartbeat_interval_ms: u64,
    pub retransmit_store_messages: usize,
    /// The same ITCH stream over SoupBinTCP for TCP subscribers; absent: off.
    #[serde(default)]
    pub tcp_listen: Option<SocketAddr>,
    /// The snapshot service for late joiners; absent: off.
    #[serde(default)]
    pub snapshot_listen: Option<SocketAddr>,
    /// Recent messages the TCP stream holds for replay.
    #[serde(default = "default_tcp_store_messages")]
    pub tcp_store_messages: usize,
}

fn default_tcp_store_messages() -> usize {
    65_536
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    pub token: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsyncChoice {
    None,
    Interval,
    Batch,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournalSection {
    pub dir: PathBuf,
    pub segment_bytes: u64,
    pub fsync: FsyncChoice,
    pub fsync_interval_ms: u64,
    #[serde(default = "default_requested_round_max_gap_us")]
    pub requested_round_max_gap_us: u32,
}

fn default_requested_round_max_gap_us() -> u32 {
    crossline_journal::DEFAULT_REQUESTED_ROUND_MAX_GAP_US
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotSection {
    pub dir: PathBuf,
    pub interval_s: u64,
    pub keep: usize,
    pub replay_min_commands: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AckPolicy {
    /// A reply leaves once the journal writer has the command.
    Local,
    /// A reply leaves once the command is synced to stable storage.
    Durable,
    /// A reply leaves once a Raft majority has the command.
    Replicated,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckSection {
    pub policy: AckPolicy,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    pub max_orders: u32,
    pub max_levels_per_side: u32,
    pub max_instruments: u32,
    pub max_accounts: u32,
    pub max_assets: u32,
    pub max_fee_tiers: u32,
    pub max_quotes: u32,
    pub fee_account: u32,
}

/// The query side: a learner's SQL database of trades, orders and balances (docs/QUERY.md).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuerySection {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default = "default_query_database_url")]
    pub database_url: String,
    #[serde(default = "default_query_batch_max_commands")]
    pub batch_max_commands: usize,
    #[serde(default = "default_query_batch_max_delay_ms")]
    pub batch_max_delay_ms: u64,
    #[serde(default = "default_query_audit_interval_s")]
    pub audit_interval_s: u64,
}

fn default_query_database_url() -> String {
    String::from("sqlite://query.sqlite3")
}

fn default_query_batch_max_commands() -> usize {
    4096
}

fn default_query_batch_max_delay_ms() -> u64 {
    50
}

fn default_query_audit_interval_s() -> u64 {
    600
}

impl Default for QuerySection {
    fn default() -> Self {
        QuerySection {
            enabled: false,
            database_url: default_query_database_url(),
            batch_max_commands: default_query_batch_max_commands(),
            batch_max_delay_ms: default_query_batch_max_delay_ms(),
            audit_interval_s: default_query_audit_interval_s(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdleChoice {
    BusySpin,
    SpinThenYield,
    BackoffPark,
}

/// The thread a stage runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StageThread {
    /// A thread of its own, placed by `core` and waiting by `idle`.
    #[default]
    Own,
    /// The gateway's thread: the engine runs inside the gateway's loop (`cores.engine` only).
    Gateway,
}

fn default_idle() -> IdleChoice {
    IdleChoice::BackoffPark
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreadPlacement {
    pub core: Option<usize>,
    #[serde(default = "default_idle")]
    pub idle: IdleChoice,
    #[serde(default)]
    pub thread: StageThread,
}

impl CoresConfig {
    /// Whether the engine runs inside the gateway's loop rather than on a thread of its own.
    pub fn engine_on_gateway_thread(&self) -> bool {
        self.engine.thread == StageThread::Gateway
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoresConfig {
    pub gateway: ThreadPlacement,
    pub engine: ThreadPlacement,
    pub admin: ThreadPlacement,
    /// How the threads no reply waits for are scheduled (`pipeline::background`).
    #[serde(default)]
    pub background: BackgroundPolicy,
}

/// The scheduling policy of the background threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BackgroundPolicy {
    /// `SCHED_BATCH`: they never preempt a running thread when they wake.
    #[default]
    Batch,
    /// Ordinary threads (`SCHED_OTHER`).
    Normal,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeeTierConfig {
    pub tier: u32,
    pub maker_fee_ppm: u32,
    pub taker_fee_ppm: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetConfig {
    pub id: u32,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentConfig {
    pub id: u32,
    pub symbol: String,
    pub base_asset: u32,
    pub quote_asset: u32,
    pub tick: i64,
    pub lot_size: u64,
    pub quote_per_price_lot: u64,
    pub reference_price: i64,
    pub band_bps: u32,
    #[serde(default)]
    pub breaker_move_bps: u32,
    #[serde(default)]
    pub breaker_window_ms: u64,
    #[serde(default)]
    pub breaker_halt_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[allow(clippy::enum_variant_names)] // the names are the configuration's values
pub enum StpChoice {
    CancelResting,
    CancelIncoming,
    CancelBoth,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DepositConfig {
    pub asset: u32,
    pub amount: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    pub id: u32,
    pub fee_tier: u32,
    #[serde(default)]
    pub stp_group: u32,
    #[serde(default = "default_stp")]
    pub stp_mode: StpChoice,
    #[serde(default)]
    pub max_order_qty: u64,
    #[serde(default)]
    pub max_order_notional: u64,
    #[serde(default)]
    pub max_open_orders: u32,
    #[serde(default)]
    pub deposits: Vec<DepositConfig>,
}

fn default_stp() -> StpChoice {
    StpChoice::CancelResting
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserConfig {
    pub name: String,
    pub password_hash: String,
    pub account: u32,
    pub firm: String,
    #[serde(default = "default_true")]
    pub cancel_on_disconnect: bool,
}

fn default_true() -> bool {
    true
}

impl Config {
    /// The embedded default.
    pub fn embedded() -> Result<Config, ConfigError> {
        Config::parse(DEFAULT_TOML, "embedded default")
    }

    /// Reads and checks a TOML file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError {
            field: String::from("--config"),
            value: path.display().to_string(),
            why: format!("cannot read the file: {error}"),
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Parses and checks TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|error| ConfigError {
            field: error
                .span()
                .map(|span| format!("{origin}, bytes {}..{}", span.start, span.end))
                .unwrap_or_else(|| origin.to_string()),
            value: String::new(),
            why: error.message().to_string(),
        })?;
        config.check()?;
        Ok(config)
    }

    pub fn journal_dir(&self) -> PathBuf {
        self.node.data_dir.join(&self.journal.dir)
    }

    pub fn snapshot_dir(&self) -> PathBuf {
        self.node.data_dir.join(&self.snapshot.dir)
    }

    /// Raft's own state (vote, log, last Raft snapshot) of a clustered node.
    pub fn raft_dir(&self) -> PathBuf {
        self.node.data_dir.join("raft")
    }

    /// The engine session id of the `index`-th configured user (0 is the operator's).
    pub fn session_of_user(index: usize) -> u32 {
        index as u32 + 1
    }

    pub fn engine_config(&self) -> crossline_engine::EngineConfig {
        let e = &self.engine;
        crossline_engine::EngineConfig {
            max_orders: e.max_orders,
            max_levels_per_side: e.max_levels_per_side,
            max_instruments: e.max_instruments,
            max_accounts: e.max_accounts,
            max_assets: e.max_assets,
            max_fee_tiers: e.max_fee_tiers,
            max_quotes: e.max_quotes,
            fee_account: e.fee_account,
        }
    }
}

#[cfg(test)]
mod tests;
