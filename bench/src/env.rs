//! The environment a result was measured in: without it a number cannot be compared with another. Everything is
//! read from /proc and /sys at start-up; what cannot be read is reported as unknown rather than guessed.

use serde::Serialize;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
            "{} · {} cores · Linux {} · governor {} · isolated {} · clocksource {} · {} build",
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
            self.build,
        )
    }
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
    fn capture_fills_what_linux_exposes() {
        let env = Environment::capture(42);
        assert_eq!(env.seed, 42);
        assert!(env.cores >= 1);
        assert!(!env.kernel.is_empty());
        assert!(!env.command_line.is_empty());
    }
}
