//! `crossline tune apply`: the runtime-changeable settings of the profile as exact commands (sysctl, sysfs
//! writes, interrupt affinity), written when not a dry run; the steps crossline never runs itself (stopping
//! services, swapoff) and the kernel command line (which needs a reboot) are printed, never applied.

use super::check::{clock, cpu, irq, memory, net, Context};
use super::cpulist;
use super::host::Host;

/// One runtime change: write `value` to the file at host path `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// What it changes, for the report (`cpu 3 governor`).
    pub what: String,
    pub path: String,
    pub value: String,
    /// The sysctl key when the file is under /proc/sys.
    pub sysctl: Option<String>,
    /// The value before, as read.
    pub before: String,
}

/// Everything apply would do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actions {
    pub writes: Vec<Write>,
    /// Commands printed for the operator: crossline does not stop services or turn swap off.
    pub manual: Vec<String>,
    /// Kernel command line arguments (need a reboot).
    pub reboot: Vec<String>,
    /// Things apply cannot do anything about here.
    pub notes: Vec<String>,
}

fn sysctl_key(path: &str) -> Option<String> {
    path.strip_prefix("/proc/sys/").map(|k| k.replace('/', "."))
}

impl Actions {
    fn write(&mut self, what: String, path: &str, value: String, before: String) {
        self.writes.push(Write {
            what,
            path: path.to_string(),
            value,
            sysctl: sysctl_key(path),
            before,
        });
    }
}

/// Works out the actions from the host's current state and the profile.
pub fn plan(ctx: &Context) -> Actions {
    let mut actions = Actions::default();
    let profile = ctx.profile;
    let host = ctx.host;

    // irqbalance first: it would undo the interrupt affinity below.
    if !profile.irq.irqbalance
        && irq::processes_named(host, "irqbalance").is_ok_and(|p| !p.is_empty())
    {
        actions
            .manual
            .push("systemctl disable --now irqbalance".to_string());
    }

    if let Ok(online) = &ctx.online {
        let want = &profile.cpu.governor;
        for cpu in online {
            let path = format!("/sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor");
            let Ok(current) = host.read_trim(&path) else {
                continue;
            };
            let offered = host
                .read_trim(&format!(
                    "/sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_available_governors"
                ))
                .map(|a| a.split_whitespace().any(|g| g == want))
                .unwrap_or(true);
            if &current != want {
                if offered {
                    actions.write(format!("cpu {cpu} governor"), &path, want.clone(), current);
                } else {
                    actions.notes.push(format!(
                        "cpu {cpu}: the cpufreq driver offers no {want} governor"
                    ));
                }
            }
        }
    }

    let idle_poll = ctx
        .cmdline
        .as_ref()
        .is_ok_and(|c| c.get("idle") == Some("poll"));
    if !idle_poll {
        for state in cpu::deep_idle_states(ctx).unwrap_or_default() {
            actions.write(state.label, &state.path, "1".into(), "0".into());
        }
    }

    if let Ok(Some(ns)) = cpu::guest_halt_poll_ns(ctx) {
        if ns < cpu::GUEST_HALT_POLL_WANT_NS {
            actions.write(
                "guest halt polling".into(),
                cpu::GUEST_HALT_POLL_NS,
                cpu::GUEST_HALT_POLL_WANT_NS.to_string(),
                ns.to_string(),
            );
        }
    }

    let thp = &profile.memory.transparent_hugepage;
    if let Ok(text) = host.read(memory::THP_ENABLED) {
        if let Some(mode) = memory::selected(&text).filter(|m| m != thp) {
            actions.write(
                "transparent huge pages".into(),
                memory::THP_ENABLED,
                thp.clone(),
                mode.to_string(),
            );
        }
    }

    for index in memory::running_kdamonds(ctx).unwrap_or_default() {
        actions.write(
            format!("DAMON monitoring thread kdamond.{index}"),
            &memory::damon_state_path(index),
            "off".into(),
            "on".into(),
        );
    }

    // Swappiness matters (and is checked) only while swap is active.
    let swap_active = !memory::swap_areas(ctx).is_ok_and(|a| a.is_empty());
    let sysctls = [
        (memory::SWAPPINESS, profile.memory.max_swappiness, false),
        (net::BUSY_POLL, profile.net.busy_poll_us, true),
        (net::BUSY_READ, profile.net.busy_read_us, true),
    ];
    for (path, want, at_least) in sysctls {
        if path == memory::SWAPPINESS && !swap_active {
            continue;
        }
        if let Ok(value) = host.read_u64(path) {
            let off = if at_least { value < want } else { value > want };
            if off {
                let key = sysctl_key(path).unwrap_or_default();
                actions.write(key, path, want.to_string(), value.to_string());
            }
        }
    }

    let want = &profile.clock.clocksource;
    if let (Ok(current), Ok(available)) = (
        host.read_trim(clock::CURRENT),
        host.read_trim(clock::AVAILABLE),
    ) {
        let good = &current == want || profile.clock.also_good.contains(&current);
        if !good && available.split_whitespace().any(|s| s == want) {
            actions.write("clock source".into(), clock::CURRENT, want.clone(), current);
        }
    }

    if profile.irq.keep_nic_irqs_off_pinned_cores {
        if let Ok((misplaced, _, _)) = irq::misplaced_nic_irqs(ctx) {
            match ctx.housekeeping_cpus() {
                Some(housekeeping) => {
                    let list = cpulist::format(&housekeeping);
                    for m in misplaced {
                        actions.write(
                            format!("irq {} ({}) affinity", m.irq.irq, m.irq.name),
                            &format!("/proc/irq/{}/smp_affinity_list", m.irq.irq),
                            list.clone(),
                            cpulist::format(&m.affinity),
                        );
                    }
                }
                None if !misplaced.is_empty() => actions.notes.push(
                    "every CPU is pinned or isolated: no housekeeping CPU is left for the NIC interrupts"
                        .to_string(),
                ),
                None => {}
            }
        }
    }

    if memory::swap_areas(ctx).is_ok_and(|a| !a.is_empty()) {
        actions
            .manual
            .push("swapoff -a   # and remove the swap entries from /etc/fstab".to_string());
    }

    // The kernel command line: isolation of the busy-spinning cores.
    let spinning = ctx.config.spinning_cores();
    if profile.cpu.isolate_spinning_cores && !spinning.is_empty() {
        let target = ctx.cpus_to_isolate();
        let list = cpulist::format(&target);
        let cmdline = ctx.cmdline.clone().unwrap_or_default();
        let covered = |arg: &str, sysfs: Option<&str>| {
            let mut set = cmdline.cpus(arg).unwrap_or_default();
            if let Some(path) = sysfs {
                set.extend(host.read_cpus(path).unwrap_or_default());
            }
            target.is_subset(&set)
        };
        if !covered("isolcpus", Some("/sys/devices/system/cpu/isolated")) {
            actions.reboot.push(format!("isolcpus={list}"));
        }
        if !covered("nohz_full", Some("/sys/devices/system/cpu/nohz_full")) {
            actions.reboot.push(format!("nohz_full={list}"));
        }
        if !covered("rcu_nocbs", None)
            && !covered("nohz_full", Some("/sys/devices/system/cpu/nohz_full"))
        {
            actions.reboot.push(format!("rcu_nocbs={list}"));
        }
        if !actions.reboot.is_empty() {
            if let Some(housekeeping) = ctx.housekeeping_cpus() {
                if cmdline.get("irqaffinity").is_none() {
                    actions
                        .reboot
                        .push(format!("irqaffinity={}", cpulist::format(&housekeeping)));
                }
            }
        }
    }
    actions
}

/// The exact command for a write: `sysctl -w` on this machine, `echo > path` otherwise.
pub fn command(host: &Host, write: &Write) -> String {
    match (&write.sysctl, host.is_live()) {
        (Some(key), true) => format!("sysctl -w {key}={}", write.value),
        _ => format!(
            "echo {} > {}",
            write.value,
            host.path(&write.path).display()
        ),
    }
}

/// The commands, as text.
pub fn render(host: &Host, actions: &Actions, dry_run: bool) -> String {
    let mut out = String::new();
    if actions.writes.is_empty() {
        out.push_str("# runtime settings: nothing to change\n");
    } else {
        out.push_str(if dry_run {
            "# runtime settings (written by `crossline tune apply` as root):\n"
        } else {
            "# runtime settings:\n"
        });
        for w in &actions.writes {
            out.push_str(&format!(
                "{}   # {}, was {}\n",
                command(host, w),
                w.what,
                w.before
            ));
        }
    }
    if !actions.manual.is_empty() {
        out.push_str(
            "\n# run these yourself (crossline does not stop services or turn swap off):\n",
        );
        for m in &actions.manual {
            out.push_str(&format!("{m}\n"));
        }
    }
    if !actions.reboot.is_empty() {
        out.push_str("\n# needs reboot: add to the kernel command line (never applied; see tuning/README.md):\n");
        out.push_str(&actions.reboot.join(" "));
        out.push('\n');
    }
    for note in &actions.notes {
        out.push_str(&format!("# note: {note}\n"));
    }
    out
}

/// What happened to one write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Changed { before: String, after: String },
    Failed(String),
}

/// Writes every runtime setting and reads it back.
pub fn execute(host: &Host, actions: &Actions) -> Vec<(Write, Outcome)> {
    actions
        .writes
        .iter()
        .map(|w| {
            let path = host.path(&w.path);
            let outcome = match std::fs::write(&path, format!("{}\n", w.value)) {
                Err(e) => Outcome::Failed(format!("writing {}: {e}", path.display())),
                Ok(()) => {
                    let after = host
                        .read(&w.path)
                        .map(|t| {
                            memory::selected(&t)
                                .map(str::to_string)
                                .unwrap_or_else(|| t.trim().to_string())
                        })
                        .unwrap_or_else(|e| e);
                    Outcome::Changed {
                        before: w.before.clone(),
                        after,
                    }
                }
            };
            (w.clone(), outcome)
        })
        .collect()
}
