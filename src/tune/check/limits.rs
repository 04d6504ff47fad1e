//! What the kernel lets the appliance's process do: lock memory, and set up io_uring.

use super::Context;
use crate::tune::findings::Finding;
use crate::tune::live::{self, Limit};

pub const IO_URING_DISABLED: &str = "/proc/sys/kernel/io_uring_disabled";

/// The `Max locked memory` line of a /proc/PID/limits file.
pub fn parse_memlock(text: &str) -> Option<Limit> {
    let line = text.lines().find(|l| l.starts_with("Max locked memory"))?;
    let mut values = line["Max locked memory".len()..].split_whitespace();
    let value = |v: &str| -> Option<Option<u64>> {
        if v == "unlimited" {
            Some(None)
        } else {
            v.parse().ok().map(Some)
        }
    };
    Some(Limit {
        soft: value(values.next()?)?,
        hard: value(values.next()?)?,
    })
}

fn bytes(limit: Option<u64>) -> String {
    match limit {
        None => "unlimited".to_string(),
        Some(b) if b >= 1 << 20 => format!("{} MiB", b >> 20),
        Some(b) => format!("{} KiB", b >> 10),
    }
}

/// RLIMIT_MEMLOCK.
pub fn memlock(ctx: &Context) -> Finding {
    const ID: &str = "limits.memlock";
    let min = ctx.profile.memory.min_memlock_bytes;
    let fix = "LimitMEMLOCK=infinity in the appliance's systemd unit, or `crossline - memlock unlimited` in \
               /etc/security/limits.d/crossline.conf for the user it runs as";
    let (limit, source) = if ctx.host.is_live() {
        match live::memlock_limit() {
            Ok(limit) => (limit, "getrlimit(RLIMIT_MEMLOCK) of this process"),
            Err(e) => return Finding::warn(ID, format!("cannot tell: getrlimit: {e}"), fix),
        }
    } else {
        let text = match ctx.host.read("/proc/self/limits") {
            Ok(text) => text,
            Err(e) => return Finding::warn(ID, format!("cannot tell: {e}"), fix),
        };
        match parse_memlock(&text) {
            Some(limit) => (limit, "/proc/self/limits"),
            None => {
                return Finding::warn(
                    ID,
                    "cannot tell: /proc/self/limits has no readable Max locked memory line",
                    fix,
                )
            }
        }
    };
    let detail = format!(
        "memlock soft {}, hard {} ({source})",
        bytes(limit.soft),
        bytes(limit.hard)
    );
    match limit.soft {
        None => Finding::pass(ID, detail),
        Some(soft) if soft < ctx.profile.memory.fail_memlock_bytes => Finding::fail(
            ID,
            format!(
                "{detail}: too small for the io_uring rings on kernels that charge them to memlock"
            ),
            fix,
        ),
        Some(soft) if soft < min => Finding::warn(
            ID,
            format!(
                "{detail}; the profile wants {} for io_uring rings and registered buffers",
                bytes(Some(min))
            ),
            fix,
        ),
        Some(_) => Finding::pass(ID, detail),
    }
}

/// The `Seccomp:` mode of /proc/self/status: 0 none, 1 strict, 2 filter.
fn seccomp_mode(ctx: &Context) -> Option<u32> {
    let status = ctx.host.read("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Seccomp:"))
        .and_then(|v| v.trim().parse().ok())
}

/// io_uring can be set up: the sysctl allows it, and (on this machine) io_uring_setup succeeds.
pub fn io_uring(ctx: &Context) -> Finding {
    const ID: &str = "io_uring";
    let fallback = "the gateway falls back to epoll, which costs a system call per readiness event";
    let sysctl = ctx.host.read_u64(IO_URING_DISABLED);
    let seccomp = seccomp_mode(ctx);
    let seccomp_note = match seccomp {
        Some(0) => "no seccomp filter".to_string(),
        Some(2) => "a seccomp filter is active".to_string(),
        Some(mode) => format!("seccomp mode {mode}"),
        None => "seccomp mode unknown".to_string(),
    };
    let sysctl_note = match &sysctl {
        Ok(v) => format!("kernel.io_uring_disabled = {v}"),
        Err(_) if !ctx.host.exists(IO_URING_DISABLED) => {
            "no kernel.io_uring_disabled (kernel before 6.6)".to_string()
        }
        Err(e) => e.clone(),
    };
    let sysctl_fix = "sysctl -w kernel.io_uring_disabled=0 (or add the appliance's user to kernel.io_uring_group); \
                      persistently in /etc/sysctl.d/90-crossline.conf";
    if let Ok(v @ 1..) = sysctl {
        let who = if v == 1 {
            "only to members of kernel.io_uring_group and CAP_SYS_ADMIN"
        } else {
            "to every process"
        };
        return Finding::warn(
            ID,
            format!("io_uring is disabled {who} (kernel.io_uring_disabled = {v}): {fallback}"),
            sysctl_fix,
        );
    }
    if !ctx.host.is_live() {
        return if seccomp == Some(2) {
            Finding::warn(
                ID,
                format!(
                    "{sysctl_note}; {seccomp_note}: whether it allows io_uring_setup is only known on the host"
                ),
                "run `crossline tune check` on the host itself, inside the appliance's service or container",
            )
        } else {
            Finding::pass(ID, format!("{sysctl_note}; {seccomp_note}"))
        };
    }
    match live::io_uring_probe() {
        Ok(()) => Finding::pass(
            ID,
            format!("io_uring_setup succeeds ({sysctl_note}; {seccomp_note})"),
        ),
        Err(e) => {
            let errno = e.raw_os_error().unwrap_or(0);
            let (why, fix) = match errno {
                libc::EPERM => (
                    "EPERM: a seccomp profile or kernel.io_uring_disabled blocks it",
                    "allow io_uring_setup, io_uring_enter and io_uring_register in the container's or \
                     service's seccomp profile (SystemCallFilter=), and check kernel.io_uring_disabled",
                ),
                libc::ENOSYS => (
                    "ENOSYS: the kernel has no io_uring, or a seccomp profile answers ENOSYS for it",
                    "use a kernel built with CONFIG_IO_URING (5.19 or later), and allow io_uring_* in the \
                     seccomp profile",
                ),
                libc::ENOMEM => (
                    "ENOMEM: the memlock limit is too small for the rings",
                    "raise the memlock limit (see limits.memlock)",
                ),
                _ => ("io_uring_setup failed", sysctl_fix),
            };
            Finding::warn(
                ID,
                format!("{why} ({e}; {sysctl_note}; {seccomp_note}): {fallback}"),
                fix,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memlock_line() {
        let text = "Limit                     Soft Limit           Hard Limit           Units\n\
                    Max locked memory         8388608              unlimited            bytes\n";
        assert_eq!(
            parse_memlock(text),
            Some(Limit {
                soft: Some(8_388_608),
                hard: None
            })
        );
        assert_eq!(parse_memlock("nothing"), None);
    }
}
