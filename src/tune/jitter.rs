//! The hiccup meter (`crossline tune jitter`): one thread, pinned to a core, reads the clock in a tight loop and
//! records every gap between two reads. On a quiet, isolated core the gaps are the loop's own cost, tens of
//! nanoseconds; everything larger is time the host took away (an interrupt, a timer tick, another thread, the
//! hypervisor). It shows what a busy-spinning matcher on that core would lose, before the appliance runs there.

use anyhow::{bail, Context};
use hdrhistogram::Histogram;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct JitterOptions {
    pub duration_s: f64,
    /// Pin to this core; None measures wherever the scheduler puts the thread.
    pub core: Option<usize>,
    /// Gaps at or above this count as hiccups.
    pub hiccup_threshold_ns: u64,
    pub json: Option<PathBuf>,
}

/// The outcome of one run.
#[derive(Debug, Clone)]
pub struct JitterReport {
    pub core: Option<usize>,
    pub duration_s: f64,
    pub clock_reads: u64,
    /// Gap percentiles in nanoseconds: (label, quantile, value).
    pub gap_ns: Vec<(&'static str, f64, u64)>,
    pub gap_max_ns: u64,
    pub hiccups: u64,
    pub hiccup_threshold_ns: u64,
    /// Sum of the hiccups' lengths.
    pub time_lost_ns: u64,
}

const QUANTILES: [(&str, f64); 7] = [
    ("p50", 0.50),
    ("p90", 0.90),
    ("p99", 0.99),
    ("p99_9", 0.999),
    ("p99_99", 0.9999),
    ("p99_999", 0.99999),
    ("p99_9999", 0.999999),
];

/// Checks the options and the core against this host's core list, read once before pinning.
fn pin(core: Option<usize>) -> anyhow::Result<()> {
    let Some(core) = core else { return Ok(()) };
    let cores = core_affinity::get_core_ids().context("reading this host's core list")?;
    let Some(id) = cores.iter().find(|c| c.id == core) else {
        let list: Vec<String> = cores.iter().map(|c| c.id.to_string()).collect();
        bail!(
            "core {core} does not exist on this host (cores: {})",
            list.join(", ")
        );
    };
    if !core_affinity::set_for_current(*id) {
        bail!("could not pin the meter to core {core}");
    }
    Ok(())
}

pub fn run(options: &JitterOptions) -> anyhow::Result<JitterReport> {
    if !(options.duration_s > 0.0 && options.duration_s <= 3_600.0) {
        bail!(
            "--duration-s {} must be above 0 and at most 3600",
            options.duration_s
        );
    }
    if options.hiccup_threshold_ns == 0 {
        bail!("--hiccup-threshold-ns must be above 0");
    }
    // Allocate and pin before measuring, so that neither shows up as a hiccup.
    let mut gaps = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)
        .context("creating the histogram")?;
    pin(options.core)?;
    let duration = Duration::from_secs_f64(options.duration_s);
    let (mut hiccups, mut time_lost_ns, mut clock_reads) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    let mut last = start;
    loop {
        let now = Instant::now();
        let gap_ns = now.duration_since(last).as_nanos() as u64;
        last = now;
        clock_reads += 1;
        gaps.saturating_record(gap_ns.max(1));
        if gap_ns >= options.hiccup_threshold_ns {
            hiccups += 1;
            time_lost_ns += gap_ns;
        }
        // Checking the end every 1,024 reads keeps the loop's own cost flat.
        if clock_reads & 1_023 == 0 && now.duration_since(start) >= duration {
            break;
        }
    }
    let elapsed_s = start.elapsed().as_secs_f64();
    Ok(JitterReport {
        core: options.core,
        duration_s: elapsed_s,
        clock_reads,
        gap_ns: QUANTILES
            .iter()
            .map(|&(label, q)| (label, q, gaps.value_at_quantile(q)))
            .collect(),
        gap_max_ns: gaps.max(),
        hiccups,
        hiccup_threshold_ns: options.hiccup_threshold_ns,
        time_lost_ns,
    })
}

impl JitterReport {
    pub fn print(&self) {
        let core = self
            .core
            .map_or("not pinned".to_string(), |c| format!("core {c}"));
        println!(
            "crossline tune jitter · {core} · {:.2} s · {} clock reads",
            self.duration_s, self.clock_reads
        );
        println!("  gap between clock reads, ns:");
        let labels: Vec<String> = self
            .gap_ns
            .iter()
            .map(|(l, _, _)| format!("{:>10}", l.replace('_', ".")))
            .collect();
        let values: Vec<String> = self
            .gap_ns
            .iter()
            .map(|(_, _, v)| format!("{v:>10}"))
            .collect();
        println!("  {}{:>12}", labels.join(""), "max");
        println!("  {}{:>12}", values.join(""), self.gap_max_ns);
        let lost_percent = self.time_lost_ns as f64 / (self.duration_s * 1e9) * 100.0;
        println!(
            "  hiccups >= {} ns: {} ({:.1} per second), {:.3} ms lost ({lost_percent:.3}% of the run)",
            self.hiccup_threshold_ns,
            self.hiccups,
            self.hiccups as f64 / self.duration_s,
            self.time_lost_ns as f64 / 1e6
        );
    }

    pub fn to_json(&self) -> serde_json::Value {
        let mut gaps = serde_json::Map::new();
        for (label, _, value) in &self.gap_ns {
            gaps.insert(label.to_string(), (*value).into());
        }
        gaps.insert("max".to_string(), self.gap_max_ns.into());
        serde_json::json!({
            "mode": "jitter",
            "core": self.core,
            "seconds": self.duration_s,
            "clock_reads": self.clock_reads,
            "gap_ns": gaps,
            "hiccup_threshold_ns": self.hiccup_threshold_ns,
            "hiccups": self.hiccups,
            "time_lost_ns": self.time_lost_ns,
        })
    }
}
