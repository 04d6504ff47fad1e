//! The tuning profile: the target values that `tune check` compares against and `tune apply` writes. The profile
//! is data (tuning/profiles/latency.toml), embedded so the binary needs no files beside it.

use serde::Deserialize;

/// The embedded latency profile's text.
pub const LATENCY_TOML: &str = include_str!("../../tuning/profiles/latency.toml");

#[derive(Debug, Clone, Deserialize)]
pub struct Profile {
    pub name: String,
    pub description: String,
    pub cpu: CpuProfile,
    pub memory: MemoryProfile,
    pub irq: IrqProfile,
    pub net: NetProfile,
    pub clock: ClockProfile,
    pub journal: JournalProfile,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CpuProfile {
    pub isolate_spinning_cores: bool,
    pub idle_smt_siblings: bool,
    pub governor: String,
    pub max_idle_exit_latency_us: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MemoryProfile {
    pub transparent_hugepage: String,
    pub min_hugepages: u64,
    pub max_swappiness: u64,
    pub min_memlock_bytes: u64,
    pub fail_memlock_bytes: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IrqProfile {
    pub irqbalance: bool,
    pub keep_nic_irqs_off_pinned_cores: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NetProfile {
    pub busy_poll_us: u64,
    pub busy_read_us: u64,
    pub max_rx_coalesce_usecs: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ClockProfile {
    pub clocksource: String,
    pub also_good: Vec<String>,
    pub paravirtual: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JournalProfile {
    pub volatile_fs: Vec<String>,
    pub remote_fs: Vec<String>,
    pub min_free_gib: u64,
}

impl Profile {
    /// The embedded latency profile.
    pub fn latency() -> anyhow::Result<Profile> {
        toml::from_str(LATENCY_TOML)
            .map_err(|e| anyhow::anyhow!("the embedded latency profile does not parse: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_profile_parses() {
        let profile = Profile::latency().unwrap();
        assert_eq!(profile.name, "latency");
        assert_eq!(profile.cpu.governor, "performance");
        assert_eq!(profile.memory.transparent_hugepage, "never");
    }
}
