//! The environment a result was measured in: without it a number cannot be compared with another. Everything is
//! read from /proc and /sys at start-up; what cannot be read is reported as unknown rather than guessed.

use serde::Serialize;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Environment {
    pub cpu_model: String,
    /// Logical CPUs this process may run on.
    pub cores: usize,
    /// Logical CPUs online in the machine.
    pub cores_online: usize,
    pub kernel: String,
    /// The cpufreq governor of CPU 0; None where cpufreq is not exposed (common in virtual machines).
    pub governor: Option<String>,
    /// The kernel's isolated CPU list (isolcpus), empty when none.
    pub isolated_cpus: String,
    pub clocksource: Option<String>,
    /// Share of the last 10 s in which some runnable task waited for a CPU (/proc/pressure/cpu, "some avg10"),
    /// read at start-up: other work on the box before the run. None where PSI is not exposed.
    pub cpu_pressure_avg10_pct: Option<f64>,
    pub command_line: String,
    pub seed: u64,
    /// `release` or `debug`: a debug build's numbers are not worth reading.
    pub build: String,
    pub bench_version: String,
}

impl Environment {
    pub fn capture(seed: u64) -> Environment {
        let cpuinfo = read_trimmed("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|line| {
                line.starts_with("model name")
                    || line.starts_with("Model")
                    || line.starts_with("cpu model")
            })
            .and_then(|line| line.split_once(':'))
            .map(|(_, model)| model.trim().to_string())
            .unwrap_or_else(|| "unknown".to_string());
        let cores_online = cpuinfo
            .lines()
            .filter(|line| line.starts_with("processor"))
            .count();
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(cores_online.max(1));
        Environment {
            cpu_model,
            cores,
            cores_online: cores_online.max(cores),
            kernel: read_trimmed("/proc/sys/kernel/osrelease")
                .unwrap_or_else(|| "unknown".to_string()),
            governor: read_trimmed("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
            isolated_cpus: read_trimmed("/sys/devices/system/cpu/isolated").unwrap_or_default(),
            clocksource: read_trimmed(
                "/sys/devices/system/clocksource/clocksource0/current_clocksource",
            ),
            cpu_pressure_avg10_pct: read_trimmed("/proc/pressure/cpu")
                .as_deref()
                .and_then(some_avg10),
            command_line: command_line(std::env::args()),
            seed,
            build: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
            .to_string(),
            bench_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// One line for the terminal.
    pub fn summary(&self) -> String {
        format!(
            "{} · {} cores · Linux {} · governor {} · isolated {} · clocksource {} · cpu pressure {} · {} build",
            self.cpu_model,
            self.cores,
            self.kernel,
            self.governor.as_deref().unwrap_or("n/a"),
            if self.isolated_cpus.is_empty() {
                "none"
            } else {
                &self.isolated_cpus
            },
            self.clocksource.as_deref().unwrap_or("n/a"),
            self.cpu_pressure_avg10_pct
                .map_or_else(|| "n/a".to_string(), |pct| format!("{pct:.0}% (avg10 before the run)")),
            self.build,
        )
    }
}

/// "some avg10=29.43 avg60=..." (the first line of /proc/pressure/cpu) -> 29.43.
fn some_avg10(pressure: &str) -> Option<f64> {
    pressure
        .lines()
        .find(|line| line.starts_with("some "))?
        .split_whitespace()
        .find_map(|field| field.strip_prefix("avg10="))?
        .parse()
        .ok()
}

/// Page faults taken by the calling thread so far (`getrusage(RUSAGE_THREAD)`): (minor, major). A first touch of
/// anonymous memory, or a store to a page of a shared file mapping that is not yet writable (even one prefaulted with
/// MAP_POPULATE, which maps file pages read-only so the kernel can track dirtying), is a minor fault; counting them
/// explains where a loop's time went.
pub fn thread_page_faults() -> Option<(u64, u64)> {
    // SAFETY: `rusage` is plain integers, for which all-zero bytes are a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes only into `usage`, a live local of the type it expects.
    let status = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    if status != 0 {
        return None;
    }
    Some((
        u64::try_from(usage.ru_minflt).unwrap_or(0),
        u64::try_from(usage.ru_majflt).unwrap_or(0),
    ))
}

/// Faults taken between two `thread_page_faults` readings, summed (minor + major); None if either failed.
pub fn faults_between(before: Option<(u64, u64)>, after: Option<(u64, u64)>) -> Option<u64> {
    let ((minor_before, major_before), (minor_after, major_after)) = (before?, after?);
    Some(minor_after.saturating_sub(minor_before) + major_after.saturating_sub(major_before))
}

/// The file system `path` lives on, as "ext4 on /dev/vda (mounted at /)", from /proc/self/mounts: a journal's
/// figures on tmpfs and on a disk are different things. None if the path or the mount table cannot be read.
pub fn filesystem_of(path: &Path) -> Option<String> {
    let path = std::fs::canonicalize(path).ok()?;
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mount_containing(&mounts, &path).map(|(source, mount_point, fs_type)| {
        format!("{fs_type} on {source} (mounted at {mount_point})")
    })
}

/// The (source, mount point, type) of the last-listed mount with the longest mount point containing `path`
/// (later mounts hide earlier ones at the same point).
fn mount_containing(mounts: &str, path: &Path) -> Option<(String, String, String)> {
    let mut best: Option<(usize, (String, String, String))> = None;
    for line in mounts.lines() {
        let mut fields = line.split_whitespace();
        let (Some(source), Some(mount_point), Some(fs_type)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let mount_point = unescape_mount_field(mount_point);
        if !path.starts_with(&mount_point) {
            continue;
        }
        let depth = Path::new(&mount_point).components().count();
        let deeper = match &best {
            Some((best_depth, _)) => depth >= *best_depth,
            None => true,
        };
        if deeper {
            best = Some((
                depth,
                (
                    unescape_mount_field(source),
                    mount_point,
                    fs_type.to_string(),
                ),
            ));
        }
    }
    best.map(|(_, found)| found)
}

/// The mount table writes space, tab, newline and backslash as three-digit octal escapes (`\040`).
fn unescape_mount_field(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b));
        if escaped {
            let value = bytes[i + 1..i + 4]
                .iter()
                .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
            out.push(value as u8);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn read_trimmed(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|text| text.trim().to_string())
}

/// The arguments as a shell would need them typed, so the line can be pasted to reproduce the run.
pub fn command_line(args: impl IntoIterator<Item = String>) -> String {
    args.into_iter()
        .map(|arg| shell_quote(&arg))
        .collect::<Vec<_>>()
        .join(" ")
}

fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_lines_quote_what_a_shell_would_split() {
        let args = ["crossline-bench", "engine", "--json", "my out.json", "it's"].map(String::from);
        assert_eq!(
            command_line(args),
            r"crossline-bench engine --json 'my out.json' 'it'\''s'"
        );
    }

    #[test]
    fn the_deepest_mount_containing_a_path_wins() {
        let mounts = "/dev/vda / ext4 rw 0 0\n\
                      tmpfs /dev/shm tmpfs rw 0 0\n\
                      /dev/vdb /mnt/my\\040disk xfs rw 0 0\n";
        let found = |path: &str| mount_containing(mounts, Path::new(path)).map(|(_, _, fs)| fs);
        assert_eq!(found("/dev/shm/journal").as_deref(), Some("tmpfs"));
        assert_eq!(found("/tmp/x").as_deref(), Some("ext4"));
        assert_eq!(found("/mnt/my disk/j").as_deref(), Some("xfs"));
        assert_eq!(found("/dev/shmem").as_deref(), Some("ext4"));
        assert!(filesystem_of(&std::env::temp_dir()).is_some());
    }

    #[test]
    fn cpu_pressure_is_read_from_the_some_line() {
        let text = "some avg10=29.43 avg60=18.69 avg300=22.49 total=441537358\n\
                    full avg10=0.00 avg60=0.00 avg300=0.00 total=0";
        assert_eq!(some_avg10(text), Some(29.43));
        assert_eq!(some_avg10("full avg10=1.00"), None);
    }

    #[test]
    fn touching_fresh_pages_counts_faults() {
        let before = thread_page_faults();
        assert!(before.is_some());
        let mut pages = vec![0u8; 64 << 12];
        for page in pages.chunks_mut(4096) {
            page[0] = 1;
        }
        std::hint::black_box(&pages);
        let taken = faults_between(before, thread_page_faults()).expect("counted");
        assert!(taken > 0, "no faults counted for 64 fresh pages");
    }

    #[test]
    fn capture_fills_what_linux_exposes() {
        let env = Environment::capture(42);
        assert_eq!(env.seed, 42);
        assert!(env.cores >= 1);
        assert!(!env.kernel.is_empty());
        assert!(!env.command_line.is_empty());
    }
}
