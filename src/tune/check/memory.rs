//! Memory: transparent huge pages, reserved huge pages, swap, swappiness and DAMON's monitoring threads.

use super::Context;
use crate::tune::findings::Finding;

pub const THP_ENABLED: &str = "/sys/kernel/mm/transparent_hugepage/enabled";
pub const SWAPPINESS: &str = "/proc/sys/vm/swappiness";

/// The bracketed choice of a sysfs selector such as `always [madvise] never`; a file holding one bare word (as
/// a copy of the tree written by `tune apply` does) is that word.
pub fn selected(text: &str) -> Option<&str> {
    let Some(start) = text.find('[') else {
        let word = text.trim();
        return (!word.is_empty() && !word.contains(char::is_whitespace)).then_some(word);
    };
    let end = text[start..].find(']')? + start;
    Some(&text[start + 1..end])
}

/// Transparent huge pages.
pub fn transparent_hugepages(ctx: &Context) -> Finding {
    const ID: &str = "mem.thp";
    let want = &ctx.profile.memory.transparent_hugepage;
    let fix = format!(
        "echo {want} > {THP_ENABLED} (`crossline tune apply`); persistently: transparent_hugepage={want} on \
         the kernel command line"
    );
    let text = match ctx.host.read(THP_ENABLED) {
        Ok(text) => text,
        Err(e) => return Finding::warn(ID, format!("cannot tell: {e}"), fix),
    };
    match selected(&text) {
        Some(mode) if mode == want => Finding::pass(ID, format!("transparent huge pages: {mode}")),
        Some(mode) => Finding::warn(
            ID,
            format!(
                "transparent huge pages: {mode}: khugepaged compaction and huge-page faults stall the \
                 thread that touches the memory, for up to milliseconds"
            ),
            fix,
        ),
        None => Finding::warn(
            ID,
            format!("{THP_ENABLED} holds {:?}", text.trim()),
            fix,
        ),
    }
}

/// One `Key: value` line of /proc/meminfo, as a number.
pub fn meminfo(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (k, rest) = line.split_once(':')?;
        (k.trim() == key).then(|| rest.split_whitespace().next()?.parse().ok())?
    })
}

/// Reserved huge pages.
pub fn hugepages(ctx: &Context) -> Finding {
    const ID: &str = "mem.hugepages";
    let min = ctx.profile.memory.min_hugepages;
    let fix = if min == 0 {
        "check that /proc is mounted".to_string()
    } else {
        format!(
            "reserve them: vm.nr_hugepages = {min} in /etc/sysctl.d/90-crossline.conf, or hugepages={min} on \
             the kernel command line"
        )
    };
    let text = match ctx.host.read("/proc/meminfo") {
        Ok(text) => text,
        Err(e) => return Finding::warn(ID, format!("cannot tell: {e}"), fix),
    };
    let (Some(total), Some(free)) = (
        meminfo(&text, "HugePages_Total"),
        meminfo(&text, "HugePages_Free"),
    ) else {
        return Finding::warn(
            ID,
            "/proc/meminfo has no HugePages_Total / HugePages_Free (kernel without hugetlbfs)",
            fix,
        );
    };
    let size_kb = meminfo(&text, "Hugepagesize").unwrap_or(0);
    let detail = format!("{total} huge pages of {size_kb} kB reserved, {free} free");
    if total >= min {
        Finding::pass(ID, detail)
    } else {
        Finding::warn(
            ID,
            format!("{detail}; the profile wants at least {min}"),
            fix,
        )
    }
}

/// Active swap areas (lines after the header of /proc/swaps).
pub fn swap_areas(ctx: &Context) -> Result<Vec<String>, String> {
    let text = ctx.host.read("/proc/swaps")?;
    Ok(text
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect())
}

/// Swap.
pub fn swap(ctx: &Context) -> Finding {
    const ID: &str = "mem.swap";
    let fix =
        "swapoff -a, and remove the swap entries from /etc/fstab (and any systemd swap units)";
    match swap_areas(ctx) {
        Err(e) => Finding::warn(ID, format!("cannot tell: {e}"), fix),
        Ok(areas) if areas.is_empty() => Finding::pass(ID, "no swap is active"),
        Ok(areas) => Finding::warn(
            ID,
            format!(
                "swap active on {}: a page of the engine or the journal swapped out costs a disk read on the \
                 order path",
                areas.join(", ")
            ),
            fix,
        ),
    }
}

/// vm.swappiness, when swap is active.
pub fn swappiness(ctx: &Context) -> Finding {
    const ID: &str = "vm.swappiness";
    let max = ctx.profile.memory.max_swappiness;
    let fix = format!(
        "sysctl -w vm.swappiness={max} (`crossline tune apply`); persistently: vm.swappiness = {max} in \
         /etc/sysctl.d/90-crossline.conf"
    );
    let value = match ctx.host.read_u64(SWAPPINESS) {
        Ok(value) => value,
        Err(e) => return Finding::warn(ID, format!("cannot tell: {e}"), fix),
    };
    let swap_active = swap_areas(ctx).map(|a| !a.is_empty()).unwrap_or(true);
    if value <= max {
        Finding::pass(ID, format!("vm.swappiness = {value}"))
    } else if !swap_active {
        Finding::pass(
            ID,
            format!("vm.swappiness = {value}, but no swap is active"),
        )
    } else {
        Finding::warn(
            ID,
            format!(
                "vm.swappiness = {value} (profile: at most {max}): the kernel swaps out idle pages to keep \
                 page cache"
            ),
            fix,
        )
    }
}

/// How many DAMON monitoring threads the sysfs interface has set up.
pub const DAMON_KDAMONDS: &str = "/sys/kernel/mm/damon/admin/kdamonds/nr_kdamonds";

/// The state file of DAMON monitoring thread `index` ("on" while it runs).
pub fn damon_state_path(index: u64) -> String {
    format!("/sys/kernel/mm/damon/admin/kdamonds/{index}/state")
}

/// The DAMON monitoring threads that are running (their indexes). No sysfs interface (a kernel without DAMON) is
/// none running; a state that cannot be read is an error.
pub fn running_kdamonds(ctx: &Context) -> Result<Vec<u64>, String> {
    if !ctx.host.exists(DAMON_KDAMONDS) {
        return Ok(Vec::new());
    }
    let count = ctx.host.read_u64(DAMON_KDAMONDS)?;
    let mut running = Vec::new();
    for index in 0..count.min(64) {
        if ctx.host.read_trim(&damon_state_path(index))? == "on" {
            running.push(index);
        }
    }
    Ok(running)
}

/// DAMON (the kernel's data-access monitor): its `kdamond` threads sample page accesses on a fixed interval and
/// run on whatever core the scheduler gives them.
pub fn damon(ctx: &Context) -> Finding {
    const ID: &str = "mem.damon";
    let fix = |indexes: &[u64]| {
        let commands: Vec<String> = indexes
            .iter()
            .map(|index| format!("echo off > {}", damon_state_path(*index)))
            .collect();
        format!(
            "{} (`crossline tune apply`); and stop whatever starts it at boot (a DAMON user-space tool or \
             service)",
            commands.join("; ")
        )
    };
    match running_kdamonds(ctx) {
        Err(e) => Finding::warn(ID, format!("cannot tell: {e}"), fix(&[0])),
        Ok(running) if running.is_empty() => {
            Finding::pass(ID, "no DAMON monitoring thread is running")
        }
        Ok(running) => {
            let names: Vec<String> = running.iter().map(|i| format!("kdamond.{i}")).collect();
            Finding::warn(
                ID,
                format!(
                    "DAMON monitoring is on ({}): each thread wakes on its own schedule and holds a core while it \
                     scans (on the reference 2-vCPU box, every 0.5 s for 1.5-3.6 ms, stalling whatever ran there)",
                    names.join(", ")
                ),
                fix(&running),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selected_choice() {
        assert_eq!(selected("always [madvise] never\n"), Some("madvise"));
        assert_eq!(selected("always madvise never"), None);
        assert_eq!(selected("never\n"), Some("never"));
    }

    #[test]
    fn meminfo_values() {
        let text = "MemTotal: 100 kB\nHugePages_Total:       4\nHugepagesize:    2048 kB\n";
        assert_eq!(meminfo(text, "HugePages_Total"), Some(4));
        assert_eq!(meminfo(text, "Hugepagesize"), Some(2048));
        assert_eq!(meminfo(text, "HugePages_Free"), None);
    }
}
