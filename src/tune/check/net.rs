//! The network: NIC interrupt coalescing and the busy-poll sysctls.

use super::Context;
use crate::tune::findings::Finding;
use crate::tune::live;

pub const BUSY_POLL: &str = "/proc/sys/net/core/busy_poll";
pub const BUSY_READ: &str = "/proc/sys/net/core/busy_read";

/// Receive interrupt coalescing, read with ethtool's ioctl on this machine; skipped under another root and for
/// drivers that do not report it.
pub fn coalescing(ctx: &Context) -> Finding {
    const ID: &str = "nic.coalescing";
    let max = ctx.profile.net.max_rx_coalesce_usecs;
    if !ctx.host.is_live() {
        return Finding::skip(
            ID,
            "coalescing is read with ethtool's ioctl, only when --root is /",
        );
    }
    let nics = ctx.host.nics();
    if nics.is_empty() {
        return Finding::skip(ID, "no network card found under /sys/class/net");
    }
    let mut slow = Vec::new();
    let mut good = Vec::new();
    let mut unreadable = Vec::new();
    for nic in &nics {
        match live::nic_coalesce(nic) {
            Ok(c) if c.adaptive_rx || u64::from(c.rx_usecs) > max => slow.push(format!(
                "{nic}: rx-usecs {}, rx-frames {}, adaptive-rx {}",
                c.rx_usecs,
                c.rx_frames,
                if c.adaptive_rx { "on" } else { "off" }
            )),
            Ok(c) => good.push(format!("{nic}: rx-usecs {}", c.rx_usecs)),
            Err(e) => unreadable.push(format!("{nic}: {e}")),
        }
    }
    if !slow.is_empty() {
        return Finding::warn(
            ID,
            format!(
                "{}: the card holds received packets back to batch its interrupts",
                slow.join("; ")
            ),
            format!(
                "ethtool -C IFACE adaptive-rx off rx-usecs {max}; persistently: a udev rule or a systemd unit \
                 running it at boot"
            ),
        );
    }
    if good.is_empty() {
        return Finding::skip(
            ID,
            format!("no card reports coalescing ({})", unreadable.join("; ")),
        );
    }
    let mut detail = good.join("; ");
    if !unreadable.is_empty() {
        detail.push_str(&format!("; not reported: {}", unreadable.join("; ")));
    }
    Finding::pass(ID, detail)
}

/// net.core.busy_poll and net.core.busy_read.
pub fn busy_poll(ctx: &Context) -> Vec<Finding> {
    let settings = [
        (
            "net.busy_poll",
            BUSY_POLL,
            "net.core.busy_poll",
            ctx.profile.net.busy_poll_us,
        ),
        (
            "net.busy_read",
            BUSY_READ,
            "net.core.busy_read",
            ctx.profile.net.busy_read_us,
        ),
    ];
    settings
        .into_iter()
        .map(|(id, path, key, want)| {
            let fix = format!(
                "sysctl -w {key}={want} (`crossline tune apply`); persistently: {key} = {want} in \
                 /etc/sysctl.d/90-crossline.conf"
            );
            match ctx.host.read_u64(path) {
                Err(e) => Finding::warn(id, format!("cannot tell: {e}"), fix),
                Ok(value) if value >= want => Finding::pass(id, format!("{key} = {value} µs")),
                Ok(value) => Finding::warn(
                    id,
                    format!(
                        "{key} = {value} µs (profile: {want}): a socket read waits for the interrupt instead of \
                         polling the card's queue"
                    ),
                    fix,
                ),
            }
        })
        .collect()
}
