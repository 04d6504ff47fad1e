//! Every rule a configuration must meet before the appliance starts on it.

use super::{AckPolicy, Config, FsyncChoice, IdleChoice, StageThread, ThreadPlacement};
use std::collections::HashSet;
use thiserror::Error;

/// A refused configuration: which field, its value, and why.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("configuration: {field} = {value}: {why}")]
pub struct ConfigError {
    pub field: String,
    pub value: String,
    pub why: String,
}

fn refuse(field: &str, value: impl std::fmt::Display, why: &str) -> Result<(), ConfigError> {
    Err(ConfigError {
        field: field.to_string(),
        value: value.to_string(),
        why: why.to_string(),
    })
}

fn within<T: PartialOrd + std::fmt::Display + Copy>(
    field: &str,
    value: T,
    low: T,
    high: T,
) -> Result<(), ConfigError> {
    if value < low || value > high {
        return refuse(field, value, &format!("must be between {low} and {high}"));
    }
    Ok(())
}

impl Config {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        self.check_node()?;
        self.check_gateway()?;
        self.check_feed()?;
        self.check_storage()?;
        self.check_engine()?;
        self.check_reference_data()?;
        self.check_users()?;
        self.check_query()?;
        Ok(())
    }

    fn check_query(&self) -> Result<(), ConfigError> {
        let q = &self.query;
        // The same rules as the query side's URL parser, here so that the configuration stands on its own.
        let url = q.database_url.as_str();
        let why = match url.strip_prefix("sqlite://") {
            Some("") => Some("names no file"),
            Some(_) => None,
            None if url.starts_with("postgres://") || url.starts_with("postgresql://") => None,
            None => Some("must start with sqlite:// or postgres://"),
        };
        if let Some(why) = why {
            return refuse("query.database_url", format!("{url:?}"), why);
        }
        if q.enabled
            && self
                .cluster
                .as_ref()
                .is_some_and(|cluster| !cluster.learner)
        {
            return refuse(
                "query.enabled",
                "true",
                "a clustered node keeps the query database only as a learner (cluster.learner = true): the \
                 leader and its standbys must not spend their cores on it",
            );
        }
        within(
            "query.batch_max_commands",
            q.batch_max_commands,
            1,
            1_000_000,
        )?;
        within("query.batch_max_delay_ms", q.batch_max_delay_ms, 1, 60_000)?;
        if q.audit_interval_s != 0 {
            within("query.audit_interval_s", q.audit_interval_s, 10, 604_800)?;
        }
        Ok(())
    }

    fn check_node(&self) -> Result<(), ConfigError> {
        let id = &self.node.session_id;
        if id.len() > 10 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return refuse(
                "node.session_id",
                format!("{id:?}"),
                "must be up to 10 ASCII letters or digits (SoupBinTCP session)",
            );
        }
        if self.node.data_dir.as_os_str().is_empty() {
            return refuse("node.data_dir", "\"\"", "must name a directory");
        }
        Ok(())
    }

    fn check_gateway(&self) -> Result<(), ConfigError> {
        let g = &self.gateway;
        within("gateway.max_sessions", g.max_sessions, 1, 65_536)?;
        within("gateway.max_frame_bytes", g.max_frame_bytes, 64, 65_537)?;
        within(
            "gateway.send_queue_bytes",
            g.send_queue_bytes,
            4_096,
            1 << 30,
        )?;
        within(
            "gateway.replay_store_bytes",
            g.replay_store_bytes,
            4_096,
            1 << 32,
        )?;
        within(
            "gateway.replay_store_messages",
            g.replay_store_messages,
            16,
            1 << 26,
        )?;
        within("gateway.login_timeout_ms", g.login_timeout_ms, 10, 600_000)?;
        within(
            "gateway.heartbeat_interval_ms",
            g.heartbeat_interval_ms,
            10,
            60_000,
        )?;
        if g.client_timeout_ms <= g.heartbeat_interval_ms {
            return refuse(
                "gateway.client_timeout_ms",
                g.client_timeout_ms,
                "must be above gateway.heartbeat_interval_ms, or idle clients are cut off between heartbeats",
            );
        }
        within(
            "gateway.rate_limit_per_s",
            g.rate_limit_per_s,
            1,
            100_000_000,
        )?;
        within(
            "gateway.rate_limit_burst",
            g.rate_limit_burst,
            1,
            100_000_000,
        )?;
        within("gateway.penalty_breaches", g.penalty_breaches, 1, 1_000)?;
        within("gateway.penalty_window_s", g.penalty_window_s, 1, 3_600)?;
        within("gateway.penalty_refuse_s", g.penalty_refuse_s, 0, 86_400)?;
        within("gateway.sqpoll_idle_ms", g.sqpoll_idle_ms, 1, 60_000)?;
        if let Some(us) = g.napi_busy_poll_us {
            within("gateway.napi_busy_poll_us", us, 1, 1_000_000)?;
        }
        if (g.sqpoll_core.is_some() || g.napi_busy_poll_us.is_some())
            && g.backend == super::BackendChoice::Epoll
        {
            return refuse(
                "gateway.backend",
                "\"epoll\"",
                "sqpoll_core and napi_busy_poll_us are io_uring settings",
            );
        }
        Ok(())
    }

    fn check_feed(&self) -> Result<(), ConfigError> {
        let f = &self.feed;
        if f.session.is_empty()
            || f.session.len() > 10
            || !f.session.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return refuse(
                "feed.session",
                format!("{:?}", f.session),
                "must be 1 to 10 ASCII letters or digits (MoldUDP64 session)",
            );
        }
        within("feed.max_packet_bytes", f.max_packet_bytes, 128, 65_507)?;
        within(
            "feed.heartbeat_interval_ms",
            f.heartbeat_interval_ms,
            10,
            60_000,
        )?;
        within(
            "feed.retransmit_store_messages",
            f.retransmit_store_messages,
            1,
            1 << 24,
        )?;
        within("feed.tcp_store_messages", f.tcp_store_messages, 1, 1 << 24)?;
        if f.tcp_listen.is_some()
            && f.tcp_listen == f.snapshot_listen
            && f.tcp_listen.is_some_and(|a| a.port() != 0)
        {
            return refuse(
                "feed.snapshot_listen",
                format!("{:?}", f.snapshot_listen),
                "must differ from feed.tcp_listen",
            );
        }
        Ok(())
    }

    fn check_storage(&self) -> Result<(), ConfigError> {
        within(
            "journal.segment_bytes",
            self.journal.segment_bytes,
            1 << 16,
            1 << 36,
        )?;
        if self.journal.fsync == FsyncChoice::Interval {
            within(
                "journal.fsync_interval_ms",
                self.journal.fsync_interval_ms,
                1,
                60_000,
            )?;
            within(
                "journal.requested_round_max_gap_us",
                u64::from(self.journal.requested_round_max_gap_us),
                0,
                crossline_journal::REQUESTED_ROUND_MAX_GAP_LIMIT_US.into(),
            )?;
        }
        within("snapshot.keep", self.snapshot.keep, 1, 1_000)?;
        match self.ack.policy {
            AckPolicy::Durable if self.journal.fsync == FsyncChoice::None => refuse(
                "ack.policy",
                "\"durable\"",
                "needs journal.fsync = \"interval\" or \"batch\": with \"none\" nothing is ever synced",
            ),
            AckPolicy::Replicated if self.cluster.is_none() => refuse(
                "ack.policy",
                "\"replicated\"",
                "needs a [cluster] section, and this node is configured standalone",
            ),
            _ => Ok(()),
        }?;
        match &self.cluster {
            Some(cluster) => cluster.validate().map_err(|why| ConfigError {
                field: String::from("cluster"),
                value: format!("node_id = {}", cluster.node_id),
                why,
            }),
            None => Ok(()),
        }
    }

    fn check_engine(&self) -> Result<(), ConfigError> {
        self.engine_config().check().map_err(|error| ConfigError {
            field: String::from("engine"),
            value: String::new(),
            why: error.0,
        })?;
        self.check_cores()
    }

    fn check_cores(&self) -> Result<(), ConfigError> {
        for (name, placement) in [
            ("cores.gateway", self.cores.gateway),
            ("cores.admin", self.cores.admin),
        ] {
            if placement.thread != StageThread::Own {
                return refuse(
                    &format!("{name}.thread"),
                    "\"gateway\"",
                    "only the engine can run on another stage's thread",
                );
            }
        }
        let engine_inline = self.cores.engine_on_gateway_thread();
        if engine_inline {
            if let Some(core) = self.cores.engine.core {
                return refuse(
                    "cores.engine.core",
                    core,
                    "the engine runs on the gateway's thread (thread = \"gateway\"), which cores.gateway places",
                );
            }
        }
        let all: [(&str, ThreadPlacement); 3] = [
            ("cores.gateway", self.cores.gateway),
            ("cores.engine", self.cores.engine),
            ("cores.admin", self.cores.admin),
        ];
        // An engine on the gateway's thread is no thread of its own.
        let threads: Vec<(&str, ThreadPlacement)> = all
            .into_iter()
            .filter(|(name, _)| !(engine_inline && *name == "cores.engine"))
            .collect();
        if let Some(core) = self.gateway.sqpoll_core {
            for (name, placement) in &threads {
                if placement.core == Some(core) && placement.idle == IdleChoice::BusySpin {
                    return refuse(
                        "gateway.sqpoll_core",
                        core,
                        &format!(
                            "{name} busy-spins on that core: the SQPOLL thread would starve it (or it the SQPOLL \
                             thread)"
                        ),
                    );
                }
            }
        }
        for (i, (name, placement)) in threads.iter().enumerate() {
            if placement.idle == IdleChoice::BusySpin && placement.core.is_none() {
                return refuse(
                    &format!("{name}.idle"),
                    "\"busy-spin\"",
                    "a busy-spinning thread needs a core of its own: set core",
                );
            }
            for (other, other_placement) in &threads[i + 1..] {
                let same_core = placement.core.is_some() && placement.core == other_placement.core;
                let spinning = placement.idle == IdleChoice::BusySpin
                    || other_placement.idle == IdleChoice::BusySpin;
                if same_core && spinning {
                    return refuse(
                        &format!("{name}.core"),
                        placement.core.unwrap_or_default(),
                        &format!(
                            "{other} is on the same core and one of them busy-spins: it would starve the other"
                        ),
                    );
                }
            }
        }
        Ok(())
    }

    fn check_reference_data(&self) -> Result<(), ConfigError> {
        let max_assets = self.engine.max_assets;
        let mut assets = HashSet::new();
        for asset in &self.assets {
            if asset.name.is_empty() || asset.name.len() > 16 {
                return refuse(
                    "assets.name",
                    format!("{:?}", asset.name),
                    "must be 1 to 16 characters",
                );
            }
            if asset.id >= max_assets || !assets.insert(asset.id) {
                return refuse(
                    "assets.id",
                    asset.id,
                    "must be unique and below engine.max_assets",
                );
            }
        }
        let mut tiers = HashSet::new();
        for tier in &self.fee_tiers {
            if tier.tier >= self.engine.max_fee_tiers || !tiers.insert(tier.tier) {
                return refuse(
                    "fee_tiers.tier",
                    tier.tier,
                    "must be unique and below engine.max_fee_tiers",
                );
            }
            within("fee_tiers.maker_fee_ppm", tier.maker_fee_ppm, 0, 1_000_000)?;
            within("fee_tiers.taker_fee_ppm", tier.taker_fee_ppm, 0, 1_000_000)?;
        }
        let mut ids = HashSet::new();
        let mut symbols = HashSet::new();
        for instrument in &self.instruments {
            let field = |name: &str| format!("instruments[{}].{name}", instrument.symbol);
            if instrument.id == 0
                || instrument.id >= self.engine.max_instruments
                || !ids.insert(instrument.id)
            {
                return refuse(
                    &field("id"),
                    instrument.id,
                    "must be unique, at least 1 and below engine.max_instruments",
                );
            }
            let symbol = &instrument.symbol;
            if symbol.is_empty()
                || symbol.len() > 8
                || !symbol.bytes().all(|b| b.is_ascii_graphic())
                || !symbols.insert(symbol.clone())
            {
                return refuse(
                    &field("symbol"),
                    format!("{symbol:?}"),
                    "must be unique, 1 to 8 printable ASCII characters",
                );
            }
            for asset in [instrument.base_asset, instrument.quote_asset] {
                if !assets.contains(&asset) {
                    return refuse(
                        &field("base_asset/quote_asset"),
                        asset,
                        "is not in [[assets]]",
                    );
                }
            }
            if instrument.tick <= 0 {
                return refuse(&field("tick"), instrument.tick, "must be above zero");
            }
            if instrument.reference_price <= 0 || instrument.reference_price % instrument.tick != 0
            {
                return refuse(
                    &field("reference_price"),
                    instrument.reference_price,
                    "must be above zero and a multiple of tick",
                );
            }
            if instrument.reference_price > u32::MAX as i64 {
                return refuse(
                    &field("reference_price"),
                    instrument.reference_price,
                    "must fit OUCH and ITCH's 4-byte price",
                );
            }
            let spec = super::genesis::instrument_spec(instrument);
            if !crossline_engine::instrument::check_spec(&spec, max_assets) {
                return refuse(
                    &field("spec"),
                    &instrument.symbol,
                    "is refused by the engine: check lot_size, quote_per_price_lot (1..2^32), distinct \
                     assets, band_bps (1..=10000), breaker_move_bps (<= 10000, with window and halt times \
                     when set)",
                );
            }
        }
        let mut accounts = HashSet::new();
        for account in &self.accounts {
            let field = |name: &str| format!("accounts[{}].{name}", account.id);
            if account.id >= self.engine.max_accounts || !accounts.insert(account.id) {
                return refuse(
                    &field("id"),
                    account.id,
                    "must be unique and below engine.max_accounts",
                );
            }
            if !tiers.contains(&account.fee_tier) {
                return refuse(
                    &field("fee_tier"),
                    account.fee_tier,
                    "is not in [[fee_tiers]]",
                );
            }
            if account.max_order_qty > u64::from(u32::MAX) {
                return refuse(
                    &field("max_order_qty"),
                    account.max_order_qty,
                    "must fit OUCH's 4-byte quantity",
                );
            }
            for deposit in &account.deposits {
                if !assets.contains(&deposit.asset) {
                    return refuse(
                        &field("deposits.asset"),
                        deposit.asset,
                        "is not in [[assets]]",
                    );
                }
            }
        }
        if !accounts.contains(&self.engine.fee_account) {
            return refuse(
                "engine.fee_account",
                self.engine.fee_account,
                "must be one of [[accounts]]",
            );
        }
        Ok(())
    }

    fn check_users(&self) -> Result<(), ConfigError> {
        let accounts: HashSet<u32> = self.accounts.iter().map(|a| a.id).collect();
        let mut names = HashSet::new();
        for user in &self.users {
            let field = |name: &str| format!("users[{}].{name}", user.name);
            let name = &user.name;
            if name.is_empty()
                || name.len() > 6
                || !name.bytes().all(|b| b.is_ascii_alphanumeric())
                || !names.insert(name.to_ascii_uppercase())
            {
                return refuse(
                    &field("name"),
                    format!("{name:?}"),
                    "must be unique (ignoring case), 1 to 6 ASCII letters or digits (SoupBinTCP username)",
                );
            }
            if !accounts.contains(&user.account) {
                return refuse(&field("account"), user.account, "is not in [[accounts]]");
            }
            if user.firm.len() != 4 || !user.firm.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return refuse(
                    &field("firm"),
                    format!("{:?}", user.firm),
                    "must be 4 ASCII letters or digits (OUCH Firm)",
                );
            }
            if !user.password_hash.starts_with("$argon2") {
                return refuse(
                    &field("password_hash"),
                    "(hidden)",
                    "must be an Argon2 PHC string: make one with `crossline config hash-password`",
                );
            }
        }
        Ok(())
    }
}
