//! Interrupts: irqbalance, and where the network cards' interrupts are delivered.

use super::Context;
use crate::tune::cpulist::{self, CpuSet};
use crate::tune::findings::Finding;
use crate::tune::host::Host;
use std::collections::BTreeMap;

/// The pids whose `comm` is `name`, from /proc/*/comm.
pub fn processes_named(host: &Host, name: &str) -> Result<Vec<u32>, String> {
    let entries = host.list("/proc")?;
    Ok(entries
        .iter()
        .filter_map(|e| e.parse::<u32>().ok())
        .filter(|pid| {
            host.read_trim(&format!("/proc/{pid}/comm"))
                .map(|comm| comm == name)
                .unwrap_or(false)
        })
        .collect())
}

/// irqbalance is not running.
pub fn irqbalance(ctx: &Context) -> Finding {
    const ID: &str = "irq.irqbalance";
    let fix = "systemctl disable --now irqbalance (or list the pinned cores in IRQBALANCE_BANNED_CPULIST in \
               /etc/default/irqbalance or /etc/sysconfig/irqbalance)";
    if ctx.profile.irq.irqbalance {
        return Finding::skip(ID, "the profile allows irqbalance");
    }
    match processes_named(ctx.host, "irqbalance") {
        Err(e) => Finding::warn(ID, format!("cannot tell: {e}"), fix),
        Ok(pids) if pids.is_empty() => Finding::pass(ID, "irqbalance is not running"),
        Ok(pids) => {
            let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
            Finding::warn(
                ID,
                format!(
                    "irqbalance is running (pid {}): it moves interrupts back onto the pinned cores every ten \
                     seconds",
                    pids.join(", ")
                ),
                fix,
            )
        }
    }
}

/// One interrupt line of a network card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NicIrq {
    pub irq: u32,
    /// The action name from /proc/interrupts (`eth0-TxRx-0`), or the interface for MSI vectors found by number.
    pub name: String,
}

/// The network cards' interrupts: lines of /proc/interrupts whose action names an interface (or its device),
/// and the vectors listed in /sys/class/net/IF/device/msi_irqs.
pub fn nic_irqs(host: &Host) -> Result<Vec<NicIrq>, String> {
    let nics = host.nics();
    // Prefixes an action name starts with: the interface, and its device's name (virtio0 for eth0).
    let mut prefixes: Vec<String> = nics.clone();
    for nic in &nics {
        if let Ok(device) =
            std::fs::canonicalize(host.path(&format!("/sys/class/net/{nic}/device")))
        {
            if let Some(name) = device.file_name().and_then(|n| n.to_str()) {
                if name != "device" {
                    prefixes.push(name.to_string());
                }
            }
        }
    }
    let text = host.read("/proc/interrupts")?;
    let mut found: BTreeMap<u32, String> = BTreeMap::new();
    for line in text.lines() {
        let Some((number, rest)) = line.split_once(':') else {
            continue;
        };
        let Ok(irq) = number.trim().parse::<u32>() else {
            continue;
        };
        let names: Vec<&str> = rest
            .split_whitespace()
            .skip_while(|t| t.chars().all(|c| c.is_ascii_digit()))
            .collect();
        let nic_name = names.iter().rev().find(|token| {
            let token = token.trim_end_matches(',');
            prefixes.iter().any(|p| {
                token == p
                    || token
                        .strip_prefix(p.as_str())
                        .is_some_and(|rest| rest.starts_with(['-', '@', '.', ':']))
            })
        });
        if let Some(name) = nic_name {
            found.insert(irq, name.trim_end_matches(',').to_string());
        }
    }
    for nic in &nics {
        let dir = format!("/sys/class/net/{nic}/device/msi_irqs");
        for entry in host.list(&dir).unwrap_or_default() {
            if let Ok(irq) = entry.parse::<u32>() {
                found.entry(irq).or_insert_with(|| nic.clone());
            }
        }
    }
    Ok(found
        .into_iter()
        .map(|(irq, name)| NicIrq { irq, name })
        .collect())
}

/// A NIC interrupt allowed on pinned cores.
pub struct MisplacedIrq {
    pub irq: NicIrq,
    pub affinity: CpuSet,
    pub on_spinning: bool,
}

/// The NIC interrupts whose smp_affinity_list includes a pinned core, and the ones whose affinity is unreadable.
pub fn misplaced_nic_irqs(
    ctx: &Context,
) -> Result<(Vec<MisplacedIrq>, Vec<String>, usize), String> {
    let pinned = ctx.config.pinned_cores();
    let spinning = ctx.config.spinning_cores();
    let irqs = nic_irqs(ctx.host)?;
    let count = irqs.len();
    let mut misplaced = Vec::new();
    let mut unreadable = Vec::new();
    for irq in irqs {
        match ctx
            .host
            .read_cpus(&format!("/proc/irq/{}/smp_affinity_list", irq.irq))
        {
            Err(e) => unreadable.push(e),
            Ok(affinity) => {
                if !affinity.is_disjoint(&pinned) {
                    let on_spinning = !affinity.is_disjoint(&spinning);
                    misplaced.push(MisplacedIrq {
                        irq,
                        affinity,
                        on_spinning,
                    });
                }
            }
        }
    }
    Ok((misplaced, unreadable, count))
}

/// NIC interrupts stay off the pinned cores.
pub fn nic_affinity(ctx: &Context) -> Finding {
    const ID: &str = "irq.nic_affinity";
    if !ctx.profile.irq.keep_nic_irqs_off_pinned_cores {
        return Finding::skip(ID, "the profile leaves NIC interrupts alone");
    }
    let pinned = ctx.config.pinned_cores();
    if pinned.is_empty() {
        return Finding::pass(ID, "no thread is pinned to a core");
    }
    let fix = match ctx.housekeeping_cpus() {
        Some(set) => {
            let housekeeping = cpulist::format(&set);
            format!(
                "echo {housekeeping} > /proc/irq/N/smp_affinity_list for each (`crossline tune apply`); \
                 persistently: irqaffinity={housekeeping} on the kernel command line and irqbalance off"
            )
        }
        None => "every online CPU has a pinned thread, so the interrupts have nowhere else to go: leave a CPU \
                 for housekeeping (see `crossline tune plan`) and move them there"
            .to_string(),
    };
    let (misplaced, unreadable, count) = match misplaced_nic_irqs(ctx) {
        Ok(found) => found,
        Err(e) => return Finding::warn(ID, format!("cannot tell: {e}"), fix),
    };
    if count == 0 {
        return Finding::pass(ID, "no network card interrupts found in /proc/interrupts");
    }
    if !misplaced.is_empty() {
        let list: Vec<String> = misplaced
            .iter()
            .map(|m| {
                format!(
                    "irq {} {} on cpu {}",
                    m.irq.irq,
                    m.irq.name,
                    cpulist::format(&m.affinity)
                )
            })
            .collect();
        let detail = format!(
            "{} may be delivered to pinned {}: each one stops the thread there for microseconds",
            list.join(", "),
            ctx.describe(&pinned)
        );
        return if misplaced.iter().any(|m| m.on_spinning) {
            Finding::fail(ID, detail, fix)
        } else {
            Finding::warn(ID, detail, fix)
        };
    }
    if !unreadable.is_empty() {
        return Finding::warn(
            ID,
            format!("cannot read the affinity: {}", unreadable.join("; ")),
            fix,
        );
    }
    Finding::pass(
        ID,
        format!(
            "{count} network card interrupts, none on pinned {}",
            ctx.describe(&pinned)
        ),
    )
}
