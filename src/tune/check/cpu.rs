//! The cores: that the pinned ones exist, isolation of the busy-spinning ones (isolcpus, nohz_full, rcu_nocbs),
//! their SMT siblings, the frequency governor and the idle states.

use super::Context;
use crate::tune::cpulist::{self, CpuSet};
use crate::tune::findings::Finding;

/// Every pinned core is online.
pub fn cores_online(ctx: &Context) -> Finding {
    const ID: &str = "cpu.cores";
    let pinned = ctx.config.pinned_cores();
    if pinned.is_empty() {
        return Finding::pass(ID, "no thread is pinned to a core");
    }
    let online = match &ctx.online {
        Ok(online) => online,
        Err(e) => {
            return Finding::warn(
                ID,
                format!("cannot tell whether the pinned cores exist: {e}"),
                "check that /sys is mounted",
            )
        }
    };
    let missing: CpuSet = pinned.difference(online).copied().collect();
    if missing.is_empty() {
        Finding::pass(
            ID,
            format!(
                "pinned {} online (online: {})",
                ctx.describe(&pinned),
                cpulist::format(online)
            ),
        )
    } else {
        Finding::fail(
            ID,
            format!(
                "pinned {} not online (online: {})",
                ctx.describe(&missing),
                cpulist::format(online)
            ),
            "pin the threads to online cores in [cores] (see `crossline tune plan`)",
        )
    }
}

/// A set read from sysfs, falling back to (and merged with) the kernel command line.
fn kernel_set(ctx: &Context, sysfs: Option<&str>, arg: &str) -> Result<(CpuSet, String), String> {
    let mut set = CpuSet::new();
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    if let Some(path) = sysfs {
        match ctx.host.read(path) {
            // nohz_full reads "(null)" when the kernel was booted without it.
            Ok(text) if text.trim() == "(null)" => sources.push(format!("{path}: empty")),
            Ok(text) => match cpulist::parse(&text) {
                Some(s) => {
                    sources.push(format!("{path}: {}", display(&s)));
                    set.extend(s);
                }
                None => errors.push(format!("{path} holds {:?}", text.trim())),
            },
            Err(e) => errors.push(e),
        }
    }
    match &ctx.cmdline {
        Ok(cmdline) => {
            let s = cmdline.cpus(arg).unwrap_or_default();
            sources.push(format!("{arg}= {}", display(&s)));
            set.extend(s);
        }
        Err(e) => errors.push(e.clone()),
    }
    if sources.is_empty() {
        Err(errors.join("; "))
    } else {
        Ok((set, sources.join(", ")))
    }
}

fn display(set: &CpuSet) -> String {
    if set.is_empty() {
        "none".to_string()
    } else {
        cpulist::format(set)
    }
}

/// isolcpus, nohz_full and rcu_nocbs for the busy-spinning cores.
pub fn isolation(ctx: &Context) -> Vec<Finding> {
    let spinning = ctx.config.spinning_cores();
    let target = cpulist::format(&ctx.cpus_to_isolate());
    let checks: [(&str, Option<&str>, &str, bool, &str); 3] = [
        (
            "cpu.isolcpus",
            Some("/sys/devices/system/cpu/isolated"),
            "isolcpus",
            true,
            "the scheduler runs other tasks there, and a busy-spinning thread competes with them",
        ),
        (
            "cpu.nohz_full",
            Some("/sys/devices/system/cpu/nohz_full"),
            "nohz_full",
            false,
            "the scheduler tick interrupts the spinning thread every few milliseconds",
        ),
        (
            "cpu.rcu_nocbs",
            None,
            "rcu_nocbs",
            false,
            "RCU callbacks run on the spinning core",
        ),
    ];
    let mut findings = Vec::new();
    for (id, sysfs, arg, fatal, why) in checks {
        if spinning.is_empty() {
            findings.push(Finding::pass(
                id,
                "no thread busy-spins on a pinned core; nothing needs isolating",
            ));
            continue;
        }
        if !ctx.profile.cpu.isolate_spinning_cores {
            findings.push(Finding::skip(id, "the profile does not isolate cores"));
            continue;
        }
        let (mut set, mut sources) = match kernel_set(ctx, sysfs, arg) {
            Ok(found) => found,
            Err(e) => {
                findings.push(Finding::warn(
                    id,
                    format!(
                        "cannot tell whether {} is isolated: {e}",
                        ctx.describe(&spinning)
                    ),
                    format!("boot with {arg}={target} (needs reboot)"),
                ));
                continue;
            }
        };
        // nohz_full= offloads RCU callbacks from its CPUs too.
        if arg == "rcu_nocbs" {
            if let Ok((nohz, _)) =
                kernel_set(ctx, Some("/sys/devices/system/cpu/nohz_full"), "nohz_full")
            {
                if !nohz.is_empty() {
                    sources.push_str(&format!(
                        ", implied by nohz_full: {}",
                        cpulist::format(&nohz)
                    ));
                    set.extend(nohz);
                }
            }
        }
        let missing: CpuSet = spinning.difference(&set).copied().collect();
        if missing.is_empty() {
            findings.push(Finding::pass(
                id,
                format!(
                    "busy-spinning {} covered ({sources})",
                    ctx.describe(&spinning)
                ),
            ));
        } else {
            let detail = format!(
                "busy-spinning {} not in {arg} ({sources}): {why}",
                ctx.describe(&missing)
            );
            let fix = format!(
                "add {arg}={target} to the kernel command line (needs reboot; see tuning/README.md)"
            );
            findings.push(if fatal {
                Finding::fail(id, detail, fix)
            } else {
                Finding::warn(id, detail, fix)
            });
        }
    }
    findings
}

/// The SMT siblings of the busy-spinning cores are isolated and run no other pinned thread.
pub fn smt(ctx: &Context) -> Finding {
    const ID: &str = "cpu.smt";
    let spinning = ctx.config.spinning_cores();
    if spinning.is_empty() {
        return Finding::pass(ID, "no thread busy-spins on a pinned core");
    }
    if !ctx.profile.cpu.idle_smt_siblings {
        return Finding::skip(ID, "the profile does not ask for idle siblings");
    }
    let isolated = kernel_set(ctx, Some("/sys/devices/system/cpu/isolated"), "isolcpus")
        .map(|(s, _)| s)
        .unwrap_or_default();
    let pinned = ctx.config.pinned_cores();
    let mut shared = Vec::new();
    let mut exposed = Vec::new();
    let mut unknown = Vec::new();
    let mut single = Vec::new();
    for cpu in &spinning {
        match ctx.siblings(*cpu) {
            Err(e) => unknown.push(e),
            Ok(siblings) if siblings.is_empty() => single.push(*cpu),
            Ok(siblings) => {
                for sibling in siblings {
                    if pinned.contains(&sibling) {
                        shared.push(format!(
                            "cpu {cpu} shares its physical core with cpu {sibling} ({})",
                            ctx.config.threads_on(sibling).join(", ")
                        ));
                    } else if !isolated.contains(&sibling) {
                        exposed.push(format!("cpu {cpu}'s sibling cpu {sibling} is not isolated"));
                    }
                }
            }
        }
    }
    let target = cpulist::format(&ctx.cpus_to_isolate());
    if !shared.is_empty() {
        return Finding::warn(
            ID,
            format!(
                "{}: two threads share one core's execution units and caches",
                shared.join("; ")
            ),
            "pin the threads to different physical cores and leave the spinning core's sibling idle \
             (see `crossline tune plan`)",
        );
    }
    if !exposed.is_empty() {
        return Finding::warn(
            ID,
            format!(
                "{}: whatever the scheduler runs there takes the spinning core's execution units and caches",
                exposed.join("; ")
            ),
            format!(
                "isolate the siblings too (isolcpus/nohz_full/rcu_nocbs={target}) and leave them idle, or turn \
                 SMT off (nosmt on the kernel command line)"
            ),
        );
    }
    if !unknown.is_empty() {
        return Finding::warn(
            ID,
            format!("cannot read the SMT topology: {}", unknown.join("; ")),
            "check that /sys is mounted",
        );
    }
    if single.len() == spinning.len() {
        Finding::pass(
            ID,
            format!("{} have no SMT siblings", ctx.describe(&spinning)),
        )
    } else {
        Finding::pass(
            ID,
            format!(
                "the siblings of {} are isolated and idle",
                ctx.describe(&spinning)
            ),
        )
    }
}

/// scaling_governor on every online CPU.
pub fn governor(ctx: &Context) -> Finding {
    const ID: &str = "cpu.governor";
    let want = &ctx.profile.cpu.governor;
    let online = match &ctx.online {
        Ok(online) => online,
        Err(e) => {
            return Finding::warn(
                ID,
                format!("cannot list the CPUs: {e}"),
                "check that /sys is mounted",
            )
        }
    };
    let mut wrong: Vec<(usize, String)> = Vec::new();
    let mut missing = Vec::new();
    for cpu in online {
        let path = format!("/sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor");
        match ctx.host.read_trim(&path) {
            Ok(governor) if &governor == want => {}
            Ok(governor) => wrong.push((*cpu, governor)),
            Err(e) => missing.push((*cpu, e)),
        }
    }
    if !wrong.is_empty() {
        let list: Vec<String> = wrong.iter().map(|(c, g)| format!("cpu {c}: {g}")).collect();
        return Finding::warn(
            ID,
            format!(
                "{}: the frequency drops when a core waits and ramps up late when orders arrive",
                list.join(", ")
            ),
            format!(
                "echo {want} > /sys/devices/system/cpu/cpuN/cpufreq/scaling_governor (`crossline tune apply`); \
                 persistently: cpupower frequency-set -g {want} in a systemd unit"
            ),
        );
    }
    if let Some((_, e)) = missing.first() {
        let cpus: CpuSet = missing.iter().map(|(c, _)| *c).collect();
        return Finding::warn(
            ID,
            format!(
                "no cpufreq governor for cpu {} ({e}): the frequency is left to firmware or the hypervisor and \
                 cannot be verified here",
                cpulist::format(&cpus)
            ),
            "set the firmware's power profile to maximum performance (P-states and turbo fixed), or load a \
             cpufreq driver and set the performance governor",
        );
    }
    Finding::pass(ID, format!("{want} on cpu {}", cpulist::format(online)))
}

/// Idle states slower to leave than the profile allows, enabled on a pinned core.
pub fn deep_idle_states(ctx: &Context) -> Result<Vec<IdleStateRef>, String> {
    let mut pinned = ctx.config.pinned_cores();
    if pinned.is_empty() {
        pinned = ctx.online.clone().unwrap_or_default();
    }
    let mut deep = Vec::new();
    for cpu in pinned {
        let dir = format!("/sys/devices/system/cpu/cpu{cpu}/cpuidle");
        let states = match ctx.host.list(&dir) {
            Ok(states) => states,
            Err(e) => {
                // Without a cpuidle driver the kernel only halts, which is quick to leave.
                match ctx.host.read_trim(CPUIDLE_DRIVER) {
                    Ok(driver) if driver != "none" => return Err(e),
                    _ => continue,
                }
            }
        };
        for state in states.iter().filter(|s| s.starts_with("state")) {
            let read = |file: &str| ctx.host.read_trim(&format!("{dir}/{state}/{file}"));
            let latency_us = read("latency")?
                .parse::<u64>()
                .map_err(|_| format!("{dir}/{state}/latency is not a number"))?;
            let disabled = read("disable").map(|d| d != "0").unwrap_or(false);
            if !disabled && latency_us > ctx.profile.cpu.max_idle_exit_latency_us {
                let name = read("name").unwrap_or_else(|_| state.clone());
                deep.push(IdleStateRef {
                    path: format!("{dir}/{state}/disable"),
                    label: format!("cpu {cpu} {name} (exit {latency_us} µs)"),
                });
            }
        }
    }
    Ok(deep)
}

/// The cpuidle driver in use.
pub const CPUIDLE_DRIVER: &str = "/sys/devices/system/cpu/cpuidle/current_driver";
/// How long, at most, the haltpoll driver (a KVM guest's) lets an idle vCPU poll before it halts.
pub const GUEST_HALT_POLL_NS: &str = "/sys/module/haltpoll/parameters/guest_halt_poll_ns";
/// The poll the check asks for: the driver grows the poll towards it while wake-ups keep coming soon after a halt,
/// and shrinks it when they do not, so an idle box still halts.
pub const GUEST_HALT_POLL_WANT_NS: u64 = 200_000;

/// The haltpoll driver's longest poll: None when the guest does not use that driver (bare metal, another
/// hypervisor, another cpuidle driver).
pub fn guest_halt_poll_ns(ctx: &Context) -> Result<Option<u64>, String> {
    match ctx.host.read_trim(CPUIDLE_DRIVER) {
        Ok(driver) if driver == "haltpoll" => ctx.host.read_u64(GUEST_HALT_POLL_NS).map(Some),
        _ => Ok(None),
    }
}

/// Whether an idle vCPU polls before it halts. One that halts at once makes every thread that sleeps (a floating
/// gateway, a client, the journal's flusher) wait for the host to run its vCPU again when it is woken.
pub fn halt_polling(ctx: &Context) -> Finding {
    const ID: &str = "cpu.haltpoll";
    let want = GUEST_HALT_POLL_WANT_NS;
    let fix = format!(
        "echo {want} > {GUEST_HALT_POLL_NS} (`crossline tune apply`); persistently: \
         haltpoll.guest_halt_poll_ns={want} on the kernel command line"
    );
    match guest_halt_poll_ns(ctx) {
        Ok(None) => Finding::pass(
            ID,
            "no haltpoll cpuidle driver: no guest halt polling to set",
        ),
        Err(e) => Finding::warn(
            ID,
            format!("the haltpoll cpuidle driver is in use, but how long it polls cannot be read: {e}"),
            fix,
        ),
        Ok(Some(ns)) if ns >= want => Finding::pass(
            ID,
            format!("an idle vCPU polls for up to {ns} ns before it halts"),
        ),
        Ok(Some(ns)) => Finding::warn(
            ID,
            format!(
                "guest_halt_poll_ns = {ns}: an idle vCPU halts almost at once, and a thread woken on it waits for \
                 the host to run the vCPU again (on the reference 2-vCPU box, a floating echo at 10,000 messages/s \
                 had a p50 of 35-49 us at 0 against 18-30 us at {want})"
            ),
            fix,
        ),
    }
}

/// An idle state to disable: its `disable` file and a label.
pub struct IdleStateRef {
    pub path: String,
    pub label: String,
}

/// Deep idle states on the pinned cores.
pub fn idle_states(ctx: &Context) -> Finding {
    const ID: &str = "cpu.idle";
    let max = ctx.profile.cpu.max_idle_exit_latency_us;
    if let Ok(cmdline) = &ctx.cmdline {
        if cmdline.get("idle") == Some("poll") {
            return Finding::pass(ID, "idle=poll: the cores never enter an idle state");
        }
    }
    match deep_idle_states(ctx) {
        Err(e) => Finding::warn(
            ID,
            format!("cannot read the idle states: {e}"),
            "check that /sys is mounted",
        ),
        Ok(deep) if deep.is_empty() => Finding::pass(
            ID,
            format!("no idle state slower than {max} µs to leave is enabled on the pinned cores"),
        ),
        Ok(deep) => {
            let labels: Vec<&str> = deep.iter().map(|d| d.label.as_str()).collect();
            Finding::warn(
                ID,
                format!(
                    "{}: a core waking from these loses that long on the first order after a pause",
                    labels.join(", ")
                ),
                format!(
                    "echo 1 > /sys/devices/system/cpu/cpuN/cpuidle/stateK/disable (`crossline tune apply`); \
                     persistently: intel_idle.max_cstate=1 processor.max_cstate=1 on the kernel command line, \
                     or states over {max} µs disabled by a systemd unit"
                ),
            )
        }
    }
}
