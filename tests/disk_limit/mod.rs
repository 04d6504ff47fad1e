//! Size-limited data directories for the fault campaign: a tmpfs mounted on each node's data directory, so that a
//! node's disk can be filled on purpose (a ballast file up to the last free byte) and freed again. Mounting needs
//! root (CI and the dev boxes run as root); where it is not allowed, `TmpfsMounts::mount` says why and the campaign
//! leaves the disk-full fault out.

#![allow(dead_code)]

#[path = "../../src/disk_space.rs"]
mod disk_space;

#[allow(unused_imports)] // the campaign reads it, the standalone test does not
pub use disk_space::free_bytes;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The ballast file's name inside a data directory.
const BALLAST: &str = "ballast";

/// tmpfs mounts, lazily unmounted when dropped (a node still running keeps its files until it exits).
pub struct TmpfsMounts {
    points: Vec<PathBuf>,
}

impl TmpfsMounts {
    /// Mounts a tmpfs of `size_bytes` on each of `points` (created when missing); on the first failure unmounts the
    /// ones already mounted and returns why.
    pub fn mount(points: &[PathBuf], size_bytes: u64) -> Result<TmpfsMounts, String> {
        let mut mounts = TmpfsMounts { points: Vec::new() };
        for point in points {
            std::fs::create_dir_all(point)
                .map_err(|error| format!("{}: {error}", point.display()))?;
            let output = Command::new("mount")
                .args([
                    "-t",
                    "tmpfs",
                    "-o",
                    &format!("size={size_bytes},mode=0700"),
                    "tmpfs",
                ])
                .arg(point)
                .stdin(Stdio::null())
                .output()
                .map_err(|error| format!("mount: {error}"))?;
            if !output.status.success() {
                return Err(format!(
                    "mount -t tmpfs on {}: {}",
                    point.display(),
                    String::from_utf8_lossy(&output.stderr).trim()
                ));
            }
            mounts.points.push(point.clone());
        }
        Ok(mounts)
    }
}

impl Drop for TmpfsMounts {
    fn drop(&mut self) {
        for point in &self.points {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(point)
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Fills the file system holding `dir` with a ballast file until a write fails for lack of space; returns the
/// ballast's size.
pub fn fill(dir: &Path) -> std::io::Result<u64> {
    let path = dir.join(BALLAST);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    let chunk = vec![0x5a_u8; 1 << 20];
    let mut step = chunk.len();
    // Megabytes first, then smaller writes for the tail the node may be taking at the same time.
    while step >= 512 {
        match file.write_all(&chunk[..step]) {
            Ok(()) => {}
            Err(error) if error.raw_os_error() == Some(libc::ENOSPC) => step /= 2,
            Err(error) => return Err(error),
        }
    }
    file.sync_all()?;
    Ok(file.metadata()?.len())
}

/// Removes the ballast file from `dir`: the space is back.
pub fn empty(dir: &Path) {
    let _ = std::fs::remove_file(dir.join(BALLAST));
}
