//! `crossline tune check`: reads the host's /proc and /sys (under a root directory) and reports, for each setting
//! that matters to a latency-critical appliance, whether it meets the profile and how to fix it. Each submodule
//! checks one area.

pub mod clock;
pub mod cpu;
pub mod irq;
pub mod journal;
pub mod limits;
pub mod memory;
pub mod net;

use super::config::TuneConfig;
use super::cpulist::{self, CpuSet};
use super::findings::Finding;
use super::host::{Host, KernelCmdline};
use super::profile::Profile;

/// What every check needs: the host, the configuration, the profile, and the facts several checks share.
pub struct Context<'a> {
    pub host: &'a Host,
    pub config: &'a TuneConfig,
    pub profile: &'a Profile,
    pub online: Result<CpuSet, String>,
    pub cmdline: Result<KernelCmdline, String>,
}

impl<'a> Context<'a> {
    pub fn new(host: &'a Host, config: &'a TuneConfig, profile: &'a Profile) -> Context<'a> {
        Context {
            host,
            config,
            profile,
            online: host.online_cpus(),
            cmdline: host.cmdline(),
        }
    }

    /// The CPUs that share a physical core with `cpu`, without `cpu` itself.
    pub fn siblings(&self, cpu: usize) -> Result<CpuSet, String> {
        let mut set = self.host.read_cpus(&format!(
            "/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list"
        ))?;
        set.remove(&cpu);
        Ok(set)
    }

    /// The CPUs to isolate: the busy-spinning cores and (when the profile says so) their SMT siblings.
    pub fn cpus_to_isolate(&self) -> CpuSet {
        let mut set = self.config.spinning_cores();
        if self.profile.cpu.idle_smt_siblings {
            for cpu in self.config.spinning_cores() {
                set.extend(self.siblings(cpu).unwrap_or_default());
            }
        }
        set
    }

    /// The CPUs the housekeeping (and the NIC interrupts) should use: online minus every pinned core and the
    /// CPUs to isolate.
    pub fn housekeeping_cpus(&self) -> Option<CpuSet> {
        let online = self.online.as_ref().ok()?;
        let mut reserved = self.config.pinned_cores();
        reserved.extend(self.cpus_to_isolate());
        let set: CpuSet = online.difference(&reserved).copied().collect();
        (!set.is_empty()).then_some(set)
    }

    /// `cpus 1,3 (engine; gateway)`-style label for messages.
    pub fn describe(&self, cpus: &CpuSet) -> String {
        let threads: Vec<String> = cpus
            .iter()
            .flat_map(|c| self.config.threads_on(*c))
            .map(str::to_string)
            .collect();
        if threads.is_empty() {
            format!("cpu {}", cpulist::format(cpus))
        } else {
            format!("cpu {} ({})", cpulist::format(cpus), threads.join(", "))
        }
    }
}

/// Runs every check, in report order.
pub fn run(host: &Host, config: &TuneConfig, profile: &Profile) -> Vec<Finding> {
    let ctx = Context::new(host, config, profile);
    let mut findings = Vec::new();
    findings.push(cpu::cores_online(&ctx));
    findings.extend(cpu::isolation(&ctx));
    findings.push(cpu::smt(&ctx));
    findings.push(cpu::governor(&ctx));
    findings.push(cpu::idle_states(&ctx));
    findings.push(cpu::halt_polling(&ctx));
    findings.push(memory::transparent_hugepages(&ctx));
    findings.push(memory::hugepages(&ctx));
    findings.push(memory::swap(&ctx));
    findings.push(memory::swappiness(&ctx));
    findings.push(memory::damon(&ctx));
    findings.push(irq::irqbalance(&ctx));
    findings.push(irq::nic_affinity(&ctx));
    findings.push(net::coalescing(&ctx));
    findings.extend(net::busy_poll(&ctx));
    findings.push(clock::clocksource(&ctx));
    findings.push(limits::memlock(&ctx));
    findings.push(limits::io_uring(&ctx));
    findings.push(journal::file_system(&ctx));
    findings
}
