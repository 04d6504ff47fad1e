//! Capacities fixed at start-up. Every pool and table is allocated once from these; a full pool rejects.

/// Sizes of the engine's preallocated pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineConfig {
    /// Orders resting or in flight, over all instruments.
    pub max_orders: u32,
    /// Price levels per side of each book.
    pub max_levels_per_side: u32,
    pub max_instruments: u32,
    pub max_accounts: u32,
    pub max_assets: u32,
    pub max_fee_tiers: u32,
    /// Live two-sided quotes (one per session and instrument).
    pub max_quotes: u32,
    /// The account that receives every fee.
    pub fee_account: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_orders: 1 << 20,
            max_levels_per_side: 4096,
            max_instruments: 64,
            max_accounts: 4096,
            max_assets: 16,
            max_fee_tiers: 8,
            max_quotes: 4096,
            fee_account: 0,
        }
    }
}

/// Why a configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl EngineConfig {
    pub fn check(&self) -> Result<(), ConfigError> {
        let bad = |what: &str, value: u32, why: &str| {
            Err(ConfigError(format!("{what} = {value}: {why}")))
        };
        if self.max_orders == 0 || self.max_orders > (1 << 30) {
            return bad("max_orders", self.max_orders, "must be between 1 and 2^30");
        }
        if self.max_levels_per_side == 0 || self.max_levels_per_side > (1 << 24) {
            return bad(
                "max_levels_per_side",
                self.max_levels_per_side,
                "must be between 1 and 2^24",
            );
        }
        if self.max_instruments == 0 || self.max_instruments > 65_535 {
            return bad(
                "max_instruments",
                self.max_instruments,
                "must be between 1 and 65535 (ITCH stock locate)",
            );
        }
        if self.max_accounts == 0 || self.max_accounts > (1 << 24) {
            return bad(
                "max_accounts",
                self.max_accounts,
                "must be between 1 and 2^24",
            );
        }
        if self.max_assets == 0 || self.max_assets > 1024 {
            return bad("max_assets", self.max_assets, "must be between 1 and 1024");
        }
        if self.max_fee_tiers == 0 || self.max_fee_tiers > 256 {
            return bad(
                "max_fee_tiers",
                self.max_fee_tiers,
                "must be between 1 and 256",
            );
        }
        if self.max_quotes > (1 << 24) {
            return bad("max_quotes", self.max_quotes, "must be at most 2^24");
        }
        if self.fee_account >= self.max_accounts {
            return bad(
                "fee_account",
                self.fee_account,
                "must be below max_accounts",
            );
        }
        Ok(())
    }
}
