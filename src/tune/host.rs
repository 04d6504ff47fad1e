//! The host as files: every read of /proc and /sys goes through here, under a root directory, so that a check
//! runs the same against this machine (`/`) and against a fixture tree. A file that is missing or unreadable is
//! an error that names its path, for the caller to turn into a finding; nothing here panics on file contents.

use super::cpulist::{self, CpuSet};
use std::path::{Path, PathBuf};

/// A root directory holding `proc/` and `sys/`.
#[derive(Debug, Clone)]
pub struct Host {
    root: PathBuf,
}

impl Host {
    pub fn new(root: &Path) -> Host {
        Host {
            root: root.to_path_buf(),
        }
    }

    /// True when the root is this machine's `/`, so live system calls describe the same host as the files.
    pub fn is_live(&self) -> bool {
        self.root == Path::new("/")
    }

    /// The real path of an absolute host path such as `/proc/cmdline`.
    pub fn path(&self, host_path: &str) -> PathBuf {
        self.root.join(host_path.trim_start_matches('/'))
    }

    /// A file's contents, or a message naming the path and the error.
    pub fn read(&self, host_path: &str) -> Result<String, String> {
        let path = self.path(host_path);
        std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    }

    /// A file's contents, trimmed.
    pub fn read_trim(&self, host_path: &str) -> Result<String, String> {
        self.read(host_path).map(|s| s.trim().to_string())
    }

    /// A file holding one integer.
    pub fn read_u64(&self, host_path: &str) -> Result<u64, String> {
        let text = self.read_trim(host_path)?;
        text.parse::<u64>().map_err(|_| {
            format!(
                "{} holds {text:?}, not a number",
                self.path(host_path).display()
            )
        })
    }

    /// A file holding a CPU list.
    pub fn read_cpus(&self, host_path: &str) -> Result<CpuSet, String> {
        let text = self.read(host_path)?;
        cpulist::parse(&text).ok_or_else(|| {
            format!(
                "{} holds {:?}, not a CPU list",
                self.path(host_path).display(),
                text.trim()
            )
        })
    }

    /// True when the path exists.
    pub fn exists(&self, host_path: &str) -> bool {
        self.path(host_path).exists()
    }

    /// The names in a directory, sorted; an error names the path.
    pub fn list(&self, host_path: &str) -> Result<Vec<String>, String> {
        let path = self.path(host_path);
        let entries =
            std::fs::read_dir(&path).map_err(|e| format!("cannot list {}: {e}", path.display()))?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort_by_key(|n| natural_key(n));
        Ok(names)
    }

    /// The online CPUs (`/sys/devices/system/cpu/online`).
    pub fn online_cpus(&self) -> Result<CpuSet, String> {
        self.read_cpus("/sys/devices/system/cpu/online")
    }

    /// The kernel command line (`/proc/cmdline`).
    pub fn cmdline(&self) -> Result<KernelCmdline, String> {
        self.read("/proc/cmdline").map(|s| KernelCmdline::parse(&s))
    }

    /// The network interfaces backed by a device (not `lo`, bridges, veths or other virtual interfaces),
    /// from `/sys/class/net/*/device`.
    pub fn nics(&self) -> Vec<String> {
        self.list("/sys/class/net")
            .unwrap_or_default()
            .into_iter()
            .filter(|name| name != "lo" && self.exists(&format!("/sys/class/net/{name}/device")))
            .collect()
    }
}

/// Sorts `cpu10` after `cpu9`.
fn natural_key(name: &str) -> (String, u64) {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (stem, num) = name.split_at(name.len() - digits);
    (stem.to_string(), num.parse().unwrap_or(0))
}

/// The kernel command line as `key=value` and bare words; the part after `--` belongs to init and is ignored.
#[derive(Debug, Clone, Default)]
pub struct KernelCmdline {
    args: Vec<(String, Option<String>)>,
}

impl KernelCmdline {
    pub fn parse(text: &str) -> KernelCmdline {
        let args = text
            .split_whitespace()
            .take_while(|word| *word != "--")
            .map(|word| match word.split_once('=') {
                Some((k, v)) => (k.to_string(), Some(v.trim_matches('"').to_string())),
                None => (word.to_string(), None),
            })
            .collect();
        KernelCmdline { args }
    }

    /// The value of the last `key=value` (the kernel takes the last).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.args
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_deref())
    }

    /// The CPU list given to `key`; None when absent, Some(empty) when it does not parse.
    pub fn cpus(&self, key: &str) -> Option<CpuSet> {
        self.get(key).map(|v| cpulist::parse(v).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cmdline_ignores_init_args_and_takes_the_last_value() {
        let cmd = KernelCmdline::parse(
            "BOOT_IMAGE=/vmlinuz isolcpus=1 isolcpus=domain,2-3 quiet -- nohz_full=1",
        );
        assert_eq!(cpulist::format(&cmd.cpus("isolcpus").unwrap()), "2-3");
        assert!(cmd.cpus("nohz_full").is_none());
    }

    #[test]
    fn names_sort_naturally() {
        let mut names = vec![
            "cpu10".to_string(),
            "cpu9".to_string(),
            "cpufreq".to_string(),
        ];
        names.sort_by_key(|n| natural_key(n));
        assert_eq!(names, ["cpu9", "cpu10", "cpufreq"]);
    }
}
