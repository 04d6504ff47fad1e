//! The part of the appliance's configuration file that the tuning kit needs: which thread runs on which core and
//! how it idles (`[cores]`), and where the journal lives (`[journal] dir`, under `[node] data_dir` when relative).
//! Everything else in the file is ignored.

pub use crate::config::StageThread;
use anyhow::Context;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How a thread waits for work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Idle {
    /// Never gives the core back: the lowest latency, and a core of its own.
    BusySpin,
    /// Spins for a while, then yields to the scheduler.
    SpinThenYield,
    /// Backs off and parks: for threads off the latency path.
    BackoffPark,
}

impl Idle {
    pub fn as_str(self) -> &'static str {
        match self {
            Idle::BusySpin => "busy-spin",
            Idle::SpinThenYield => "spin-then-yield",
            Idle::BackoffPark => "backoff-park",
        }
    }
}

fn default_idle() -> Idle {
    Idle::BackoffPark
}

/// One thread's placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct ThreadPlacement {
    /// The core it is pinned to; None floats.
    #[serde(default)]
    pub core: Option<usize>,
    #[serde(default = "default_idle")]
    pub idle: Idle,
    #[serde(default)]
    pub thread: StageThread,
}

impl ThreadPlacement {
    pub fn own(core: Option<usize>, idle: Idle) -> ThreadPlacement {
        ThreadPlacement {
            core,
            idle,
            thread: StageThread::Own,
        }
    }

    /// A stage in the gateway's loop.
    pub fn on_gateway_thread() -> ThreadPlacement {
        ThreadPlacement {
            core: None,
            idle: default_idle(),
            thread: StageThread::Gateway,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Default)]
struct JournalSection {
    #[serde(default)]
    dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Default)]
struct NodeSection {
    #[serde(default)]
    data_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
struct File {
    #[serde(default)]
    node: Option<NodeSection>,
    /// Thread placements, and `background` (a scheduling setting, not a thread).
    #[serde(default)]
    cores: Option<BTreeMap<String, toml::Value>>,
    #[serde(default)]
    journal: Option<JournalSection>,
}

/// What the tuning kit reads from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TuneConfig {
    /// Thread name to placement, in name order.
    pub cores: BTreeMap<String, ThreadPlacement>,
    pub journal_dir: PathBuf,
    /// Where it came from, for the report.
    pub source: String,
}

/// The embedded default configuration's journal: `node.data_dir` + `journal.dir`.
const DEFAULT_JOURNAL_DIR: &str = "crossline-data/journal";

impl TuneConfig {
    /// The layout without a configuration file (the embedded default's): the gateway unpinned and
    /// spin-then-yield, the engine in the gateway's loop.
    pub fn default_layout() -> TuneConfig {
        TuneConfig {
            cores: BTreeMap::from([
                ("engine".to_string(), ThreadPlacement::on_gateway_thread()),
                (
                    "gateway".to_string(),
                    ThreadPlacement::own(None, Idle::SpinThenYield),
                ),
            ]),
            journal_dir: PathBuf::from(DEFAULT_JOURNAL_DIR),
            source: "built-in default".to_string(),
        }
    }

    /// Parses the TOML text of a configuration file; missing sections take the defaults.
    pub fn parse(text: &str, source: &str) -> anyhow::Result<TuneConfig> {
        let file: File = toml::from_str(text).with_context(|| format!("parsing {source}"))?;
        let default = TuneConfig::default_layout();
        // A relative journal dir is under [node] data_dir when the file sets one.
        let data_dir = file.node.and_then(|n| n.data_dir);
        let journal_dir = match (data_dir, file.journal.and_then(|j| j.dir)) {
            (Some(data), Some(dir)) => data.join(dir),
            (Some(data), None) => data.join("journal"),
            (None, Some(dir)) => dir,
            (None, None) => default.journal_dir,
        };
        let cores = match file.cores {
            None => default.cores,
            Some(entries) => entries
                .into_iter()
                .filter(|(name, _)| name != "background")
                .map(|(name, value)| {
                    let placement = value
                        .try_into::<ThreadPlacement>()
                        .with_context(|| format!("parsing {source}: cores.{name}"))?;
                    Ok((name, placement))
                })
                .collect::<anyhow::Result<_>>()?,
        };
        Ok(TuneConfig {
            cores,
            journal_dir,
            source: source.to_string(),
        })
    }

    /// Reads the file at `path`, or the default layout when there is none.
    pub fn load(path: Option<&Path>) -> anyhow::Result<TuneConfig> {
        match path {
            None => Ok(TuneConfig::default_layout()),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                TuneConfig::parse(&text, &path.display().to_string())
            }
        }
    }

    /// Every pinned core, whatever its idle strategy.
    pub fn pinned_cores(&self) -> super::cpulist::CpuSet {
        self.cores.values().filter_map(|p| p.core).collect()
    }

    /// The latency-critical cores: pinned and busy-spinning.
    pub fn spinning_cores(&self) -> super::cpulist::CpuSet {
        self.cores
            .values()
            .filter(|p| p.idle == Idle::BusySpin)
            .filter_map(|p| p.core)
            .collect()
    }

    /// The threads on a core, for messages.
    pub fn threads_on(&self, core: usize) -> Vec<&str> {
        self.cores
            .iter()
            .filter(|(_, p)| p.core == Some(core))
            .map(|(name, _)| name.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cores_and_journal_and_ignores_the_rest() {
        let text = r#"
            [listen]
            address = "0.0.0.0:15000"
            [cores]
            gateway = { core = 0, idle = "spin-then-yield" }
            engine = { core = 1, idle = "busy-spin", note = "ignored" }
            admin = { idle = "backoff-park" }
            [journal]
            dir = "/srv/journal"
            fsync = "none"
        "#;
        let config = TuneConfig::parse(text, "test").unwrap();
        assert_eq!(config.cores.len(), 3);
        assert_eq!(config.cores["admin"].core, None);
        assert_eq!(config.spinning_cores().into_iter().collect::<Vec<_>>(), [1]);
        assert_eq!(config.pinned_cores().len(), 2);
        assert_eq!(config.journal_dir, PathBuf::from("/srv/journal"));
    }

    #[test]
    fn a_relative_journal_dir_is_under_the_data_dir() {
        let text = "[node]\ndata_dir = \"crossline-data\"\n[journal]\ndir = \"journal\"\n";
        let config = TuneConfig::parse(text, "test").unwrap();
        assert_eq!(config.journal_dir, PathBuf::from("crossline-data/journal"));
        let text = "[node]\ndata_dir = \"/srv/x\"\n[journal]\ndir = \"/journal\"\n";
        let config = TuneConfig::parse(text, "test").unwrap();
        assert_eq!(config.journal_dir, PathBuf::from("/journal"));
    }

    #[test]
    fn the_background_setting_is_not_a_thread() {
        let text =
            "[cores]\ngateway = { core = 1, idle = \"busy-spin\" }\nbackground = \"batch\"\n";
        let config = TuneConfig::parse(text, "test").unwrap();
        assert_eq!(config.cores.keys().collect::<Vec<_>>(), ["gateway"]);
    }

    #[test]
    fn refuses_an_unknown_idle_strategy() {
        let text = "[cores]\nengine = { core = 1, idle = \"sleepy\" }\n";
        assert!(TuneConfig::parse(text, "test").is_err());
    }

    #[test]
    fn default_layout() {
        let config = TuneConfig::parse("", "empty").unwrap();
        assert_eq!(config.cores, TuneConfig::default_layout().cores);
        assert_eq!(config.journal_dir, PathBuf::from("crossline-data/journal"));
        assert!(config.spinning_cores().is_empty());
    }
}
