//! `crossline tune plan`: a thread-to-core layout for this host's topology, as a `[cores]` section to paste into
//! the configuration, with the kernel arguments that isolate the cores it makes busy-spin.
//!
//! The rules: the kernel, interrupts and everything else keep cpu 0 and its SMT siblings (housekeeping); the
//! engine thread (sequencer, journal, matcher) gets a physical core of its own with its siblings left idle; the
//! gateway gets another; both on the NUMA node of the network card (node 0 when unknown). Only cores the plan
//! isolates busy-spin. With two CPUs (or one physical core) nothing can be spared: the gateway spin-then-yield, with
//! the engine in its loop (a second thread there waits for a core at every hand-off; BENCHMARKS.md); with two CPUs
//! it floats rather than be pinned where the kernel's own work runs.

use super::config::{Idle, StageThread, ThreadPlacement};
use super::cpulist::{self, CpuSet};
use super::topology::Topology;

/// One thread's line in the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedThread {
    pub name: &'static str,
    pub placement: ThreadPlacement,
    pub comment: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub threads: Vec<PlannedThread>,
    /// CPUs to isolate (isolcpus, nohz_full, rcu_nocbs); empty when nothing can be spared.
    pub isolate: CpuSet,
    /// CPUs for the kernel, interrupts and everything else.
    pub housekeeping: CpuSet,
    pub node: usize,
    pub notes: Vec<String>,
}

fn thread(name: &'static str, core: Option<usize>, idle: Idle, comment: String) -> PlannedThread {
    PlannedThread {
        name,
        placement: ThreadPlacement::own(core, idle),
        comment,
    }
}

/// A stage that runs inside the gateway's loop (a box with no core to spare for it).
fn in_gateway_loop(name: &'static str, comment: &str) -> PlannedThread {
    PlannedThread {
        name,
        placement: ThreadPlacement::on_gateway_thread(),
        comment: comment.to_string(),
    }
}

pub fn plan(topology: &Topology) -> Plan {
    let online = &topology.online;
    let mut notes = topology.notes.clone();
    let first = online.iter().next().copied().unwrap_or(0);
    let admin = |housekeeping: &CpuSet| {
        thread(
            "admin",
            None,
            Idle::BackoffPark,
            format!(
                "floats on the housekeeping cpus {}",
                cpulist::format(housekeeping)
            ),
        )
    };

    if online.len() <= 2 {
        notes.push(format!(
            "{} CPU{}: no core can be spared for isolation, so nothing busy-spins, and the gateway floats: \
             pinned, it could not leave a cpu while the kernel's own work runs there",
            online.len(),
            if online.len() == 1 { "" } else { "s" }
        ));
        return Plan {
            threads: vec![
                thread(
                    "gateway",
                    None,
                    Idle::SpinThenYield,
                    "sessions and the network".into(),
                ),
                in_gateway_loop(
                    "engine",
                    "sequencer + journal + matcher: no hand-off between cores",
                ),
                admin(online),
            ],
            isolate: CpuSet::new(),
            housekeeping: online.clone(),
            node: topology.node_of(first),
            notes,
        };
    }

    let housekeeping_core = topology
        .cores
        .iter()
        .find(|c| c.contains(&first))
        .cloned()
        .unwrap_or_else(|| CpuSet::from([first]));
    let node = match &topology.nic_node {
        Some((nic, node)) if topology.nodes.contains_key(node) => {
            notes.push(format!("{nic} is on NUMA node {node}"));
            *node
        }
        _ => {
            let node = if topology.nodes.contains_key(&0) {
                0
            } else {
                topology.node_of(first)
            };
            if topology.nodes.len() > 1 {
                notes.push(format!("NIC locality unknown: node {node}"));
            }
            node
        }
    };
    let spare = |on_node: bool| -> Vec<&CpuSet> {
        topology
            .cores
            .iter()
            .filter(|c| **c != housekeeping_core)
            .filter(|c| {
                let min = c.iter().next().copied().unwrap_or(0);
                (topology.node_of(min) == node) == on_node
            })
            .collect()
    };
    let mut candidates = spare(true);
    if candidates.len() < 2 {
        let others = spare(false);
        if !others.is_empty() {
            notes.push(format!(
                "node {node} has {} spare physical core{}; taking the rest from other nodes",
                candidates.len(),
                if candidates.len() == 1 { "" } else { "s" }
            ));
        }
        candidates.extend(others);
    }

    let lowest = |c: &CpuSet| c.iter().next().copied().unwrap_or(0);
    let idle_siblings = |c: &CpuSet| {
        let rest: CpuSet = c.iter().skip(1).copied().collect();
        if rest.is_empty() {
            "isolated".to_string()
        } else {
            format!("isolated; sibling {} left idle", cpulist::format(&rest))
        }
    };
    let mut isolate = CpuSet::new();
    let (engine, gateway) = match candidates.as_slice() {
        [e, g, ..] => {
            isolate.extend(e.iter().chain(g.iter()));
            (
                thread(
                    "engine",
                    Some(lowest(e)),
                    Idle::BusySpin,
                    format!("sequencer + journal + matcher; {}", idle_siblings(e)),
                ),
                thread(
                    "gateway",
                    Some(lowest(g)),
                    Idle::BusySpin,
                    format!("sessions and the network; {}", idle_siblings(g)),
                ),
            )
        }
        [e] => {
            isolate.extend(e.iter());
            let gateway_cpu = housekeeping_core
                .iter()
                .next_back()
                .copied()
                .unwrap_or(first);
            notes.push(
                "one physical core to spare: it goes to the engine; the gateway shares the housekeeping core"
                    .to_string(),
            );
            (
                thread(
                    "engine",
                    Some(lowest(e)),
                    Idle::BusySpin,
                    format!("sequencer + journal + matcher; {}", idle_siblings(e)),
                ),
                thread(
                    "gateway",
                    Some(gateway_cpu),
                    Idle::SpinThenYield,
                    "sessions and the network; shares the housekeeping core".into(),
                ),
            )
        }
        [] => {
            let cpus: Vec<usize> = online.iter().copied().collect();
            notes.push(
                "a single physical core: nothing can be isolated, so nothing busy-spins"
                    .to_string(),
            );
            (
                in_gateway_loop(
                    "engine",
                    "sequencer + journal + matcher: no hand-off between cores",
                ),
                thread(
                    "gateway",
                    cpus.get(1).copied(),
                    Idle::SpinThenYield,
                    "sessions and the network".into(),
                ),
            )
        }
    };
    let housekeeping: CpuSet = online.difference(&isolate).copied().collect();
    Plan {
        threads: vec![gateway, engine, admin(&housekeeping)],
        isolate,
        housekeeping,
        node,
        notes,
    }
}

impl Plan {
    /// The `[cores]` section to paste into the configuration.
    pub fn cores_section(&self) -> String {
        let lines: Vec<(String, &str)> = self
            .threads
            .iter()
            .map(|t| {
                let value = match t.placement.core {
                    _ if t.placement.thread == StageThread::Gateway => {
                        String::from("{ thread = \"gateway\" }")
                    }
                    Some(core) => format!(
                        "{{ core = {core}, idle = \"{}\" }}",
                        t.placement.idle.as_str()
                    ),
                    None => format!("{{ idle = \"{}\" }}", t.placement.idle.as_str()),
                };
                (format!("{} = {value}", t.name), t.comment.as_str())
            })
            .collect();
        let width = lines.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
        let mut out = String::from("[cores]\n");
        for (line, comment) in lines {
            out.push_str(&format!("{line:width$}  # {comment}\n"));
        }
        out
    }

    /// The kernel arguments the plan implies, or None when it isolates nothing.
    pub fn kernel_args(&self) -> Option<String> {
        if self.isolate.is_empty() {
            return None;
        }
        let list = cpulist::format(&self.isolate);
        Some(format!(
            "isolcpus={list} nohz_full={list} rcu_nocbs={list} irqaffinity={}",
            cpulist::format(&self.housekeeping)
        ))
    }

    /// The whole report.
    pub fn render(&self, topology: &Topology) -> String {
        let mut out = format!("# {}\n", topology.summary());
        out.push_str(&format!("# threads on NUMA node {}\n", self.node));
        for note in &self.notes {
            out.push_str(&format!("# {note}\n"));
        }
        out.push_str(&format!(
            "# housekeeping (kernel, interrupts, admin): cpu {}\n",
            cpulist::format(&self.housekeeping)
        ));
        if !self.isolate.is_empty() {
            out.push_str(&format!(
                "# isolated: cpu {}\n",
                cpulist::format(&self.isolate)
            ));
        }
        out.push('\n');
        out.push_str(&self.cores_section());
        out.push('\n');
        match self.kernel_args() {
            Some(args) => {
                out.push_str("# kernel command line (needs reboot; see tuning/README.md):\n");
                out.push_str(&args);
                out.push('\n');
            }
            None => out.push_str("# kernel command line: nothing to isolate\n"),
        }
        out
    }
}
