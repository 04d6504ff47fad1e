//! `crossline tune`: what the host does to a latency-critical appliance, and what to change. `check` compares
//! the host with the latency profile (tuning/profiles/latency.toml), `plan` suggests a thread-to-core layout for
//! its topology, `apply` writes the runtime-changeable settings, and `jitter` measures what a spinning core loses.

pub mod apply;
pub mod check;
pub mod config;
pub mod cpulist;
pub mod findings;
pub mod host;
pub mod jitter;
pub mod live;
pub mod plan;
pub mod profile;
pub mod topology;

use anyhow::bail;
use config::TuneConfig;
use host::Host;
use profile::Profile;
use std::path::Path;

/// `crossline tune check`: prints the findings; the exit code is 0 ready, 1 warnings, 2 failures.
pub fn run_check(root: &Path, config: Option<&Path>, json: bool) -> anyhow::Result<i32> {
    let config = TuneConfig::load(config)?;
    let profile = Profile::latency()?;
    let host = Host::new(root);
    let found = check::run(&host, &config, &profile);
    if json {
        println!("{}", findings::to_json(&found));
    } else {
        let spinning = config.spinning_cores();
        println!(
            "crossline tune check: host {}, config {}, profile {} ({}); busy-spinning cores: {}\n",
            root.display(),
            config.source,
            profile.name,
            profile.description,
            if spinning.is_empty() {
                "none".to_string()
            } else {
                cpulist::format(&spinning)
            }
        );
        print!("{}", findings::to_text(&found));
    }
    Ok(findings::exit_code(&found))
}

/// `crossline tune plan`: prints the suggested `[cores]` section and kernel arguments.
pub fn run_plan(root: &Path) -> anyhow::Result<i32> {
    let host = Host::new(root);
    let topology = topology::Topology::read(&host)
        .map_err(|e| anyhow::anyhow!("reading the CPU topology: {e}"))?;
    let plan = plan::plan(&topology);
    print!("{}", plan.render(&topology));
    Ok(0)
}

/// `crossline tune apply`: prints the commands; without `dry_run`, as root, runs the runtime ones. The exit code
/// is 0 when every write took, 1 when some failed.
pub fn run_apply(root: &Path, config: Option<&Path>, dry_run: bool) -> anyhow::Result<i32> {
    let config = TuneConfig::load(config)?;
    let profile = Profile::latency()?;
    let host = Host::new(root);
    if !dry_run {
        let euid = live::euid();
        if euid != 0 {
            bail!(
                "tune apply writes kernel settings and must run as root (effective uid 0; this is uid {euid}); \
                 `crossline tune apply --dry-run` prints the commands instead"
            );
        }
    }
    let ctx = check::Context::new(&host, &config, &profile);
    let actions = apply::plan(&ctx);
    print!("{}", apply::render(&host, &actions, dry_run));
    if dry_run || actions.writes.is_empty() {
        return Ok(0);
    }
    println!();
    let mut failed = 0;
    for (write, outcome) in apply::execute(&host, &actions) {
        match outcome {
            apply::Outcome::Changed { before, after } => {
                println!("changed  {}: {before} -> {after}", write.what)
            }
            apply::Outcome::Failed(e) => {
                failed += 1;
                println!("failed   {}: {e}", write.what)
            }
        }
    }
    Ok(if failed == 0 { 0 } else { 1 })
}
