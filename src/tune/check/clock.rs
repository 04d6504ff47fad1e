//! The clock source: every timestamp the appliance takes is a clock read.

use super::Context;
use crate::tune::findings::Finding;

pub const CURRENT: &str = "/sys/devices/system/clocksource/clocksource0/current_clocksource";
pub const AVAILABLE: &str = "/sys/devices/system/clocksource/clocksource0/available_clocksource";

/// current_clocksource is the TSC (or the architecture's equivalent).
pub fn clocksource(ctx: &Context) -> Finding {
    const ID: &str = "clock.source";
    let want = &ctx.profile.clock.clocksource;
    let available = ctx.host.read_trim(AVAILABLE).unwrap_or_default();
    let offered = available.split_whitespace().any(|s| s == want);
    let fix = if offered {
        format!(
            "echo {want} > {CURRENT} (`crossline tune apply`); persistently: clocksource={want} on the kernel \
             command line"
        )
    } else {
        format!(
            "the kernel does not offer {want} (available: {available}); boot with clocksource={want} \
             tsc=reliable if the CPU has an invariant TSC, or check the firmware and hypervisor"
        )
    };
    let current = match ctx.host.read_trim(CURRENT) {
        Ok(current) => current,
        Err(e) => return Finding::warn(ID, format!("cannot tell: {e}"), fix),
    };
    if &current == want || ctx.profile.clock.also_good.contains(&current) {
        Finding::pass(ID, format!("clock source {current}"))
    } else if ctx.profile.clock.paravirtual.contains(&current) {
        Finding::warn(
            ID,
            format!(
                "clock source {current}: a paravirtual clock, readable without a system call but slower and \
                 noisier than {want}"
            ),
            fix,
        )
    } else {
        Finding::fail(
            ID,
            format!(
                "clock source {current}: every clock read is a system call or a slow device read, microseconds \
                 on every timestamp"
            ),
            fix,
        )
    }
}
