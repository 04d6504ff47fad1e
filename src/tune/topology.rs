//! The host's CPU topology from sysfs: online CPUs, which share a physical core (SMT siblings), NUMA nodes, and
//! the node the network card hangs off.

use super::cpulist::{self, CpuSet};
use super::host::Host;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
pub struct Topology {
    pub online: CpuSet,
    /// Physical cores, each as the set of its hardware threads, ordered by their lowest CPU.
    pub cores: Vec<CpuSet>,
    /// NUMA node to its online CPUs.
    pub nodes: BTreeMap<usize, CpuSet>,
    /// The first network card that reports its NUMA node, and the node.
    pub nic_node: Option<(String, usize)>,
    /// What could not be read, for the report.
    pub notes: Vec<String>,
}

impl Topology {
    pub fn read(host: &Host) -> Result<Topology, String> {
        let online = host.online_cpus()?;
        if online.is_empty() {
            return Err("no CPU is online".to_string());
        }
        let mut notes = Vec::new();
        // Group the CPUs into physical cores: by thread_siblings_list, or else by (package, core_id).
        let mut by_key: BTreeMap<(u8, usize, usize), CpuSet> = BTreeMap::new();
        for cpu in &online {
            let dir = format!("/sys/devices/system/cpu/cpu{cpu}/topology");
            let key = match host.read_cpus(&format!("{dir}/thread_siblings_list")) {
                Ok(siblings) => {
                    let first = siblings
                        .intersection(&online)
                        .next()
                        .copied()
                        .unwrap_or(*cpu);
                    (0, first.min(*cpu), 0)
                }
                Err(e) => match (
                    host.read_u64(&format!("{dir}/physical_package_id")),
                    host.read_u64(&format!("{dir}/core_id")),
                ) {
                    (Ok(package), Ok(core)) => (1, package as usize, core as usize),
                    _ => {
                        notes.push(format!("{e}; cpu {cpu} taken as a core of its own"));
                        (2, *cpu, 0)
                    }
                },
            };
            by_key.entry(key).or_default().insert(*cpu);
        }
        let mut cores: Vec<CpuSet> = by_key.into_values().collect();
        cores.sort_by_key(|c| c.iter().next().copied());

        let mut nodes = BTreeMap::new();
        for entry in host.list("/sys/devices/system/node").unwrap_or_default() {
            let Some(n) = entry
                .strip_prefix("node")
                .and_then(|n| n.parse::<usize>().ok())
            else {
                continue;
            };
            match host.read_cpus(&format!("/sys/devices/system/node/{entry}/cpulist")) {
                Ok(cpus) => {
                    let cpus: CpuSet = cpus.intersection(&online).copied().collect();
                    if !cpus.is_empty() {
                        nodes.insert(n, cpus);
                    }
                }
                Err(e) => notes.push(e),
            }
        }
        if nodes.is_empty() {
            nodes.insert(0, online.clone());
        }

        let nic_node = host.nics().into_iter().find_map(|nic| {
            let text = host
                .read_trim(&format!("/sys/class/net/{nic}/device/numa_node"))
                .ok()?;
            let node = text.parse::<i64>().ok()?;
            (node >= 0).then_some((nic, node as usize))
        });
        Ok(Topology {
            online,
            cores,
            nodes,
            nic_node,
            notes,
        })
    }

    /// The NUMA node of a CPU (0 when unknown).
    pub fn node_of(&self, cpu: usize) -> usize {
        self.nodes
            .iter()
            .find(|(_, cpus)| cpus.contains(&cpu))
            .map(|(n, _)| *n)
            .unwrap_or(0)
    }

    /// `16 CPUs (0-15), 8 physical cores of 2 threads, 1 NUMA node`.
    pub fn summary(&self) -> String {
        let threads: CpuSet = self.cores.iter().map(|c| c.len()).collect();
        let per_core = match (threads.iter().next(), threads.len()) {
            (Some(1), 1) => "no SMT".to_string(),
            (Some(n), 1) => format!("{n} threads each"),
            _ => "mixed SMT".to_string(),
        };
        format!(
            "{} CPUs online ({}), {} physical cores ({per_core}), {} NUMA node{}",
            self.online.len(),
            cpulist::format(&self.online),
            self.cores.len(),
            self.nodes.len(),
            if self.nodes.len() == 1 { "" } else { "s" }
        )
    }
}
