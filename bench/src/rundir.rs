//! The scratch directories the journal and restart modes write in, and the file-system helpers they share.
//!
//! A run always writes into a directory it creates itself (`crossline-bench-<mode>-XXXXXX`), inside `--dir` or the
//! system temp dir, so it never appends to, recovers or deletes a journal it did not make. The directory is removed
//! when the run ends, whether it succeeded or not, unless `--keep` was given.

use anyhow::{bail, Context};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// A directory created for one run.
#[derive(Debug)]
pub struct RunDir {
    temp: TempDir,
    keep: bool,
}

impl RunDir {
    /// Creates `<parent>/crossline-bench-<mode>-XXXXXX`; `parent` defaults to the system temp dir and must exist.
    /// With `keep`, the directory survives the run (and a failed run, for inspection).
    pub fn create(parent: Option<&Path>, mode: &str, keep: bool) -> anyhow::Result<RunDir> {
        let parent = parent.map_or_else(std::env::temp_dir, Path::to_path_buf);
        if !parent.is_dir() {
            bail!(
                "--dir {}: not an existing directory (the run creates its own directory inside it)",
                parent.display()
            );
        }
        let mut temp = tempfile::Builder::new()
            .prefix(&format!("crossline-bench-{mode}-"))
            .tempdir_in(&parent)
            .with_context(|| format!("creating a run directory in {}", parent.display()))?;
        temp.disable_cleanup(keep);
        Ok(RunDir { temp, keep })
    }

    pub fn path(&self) -> &Path {
        self.temp.path()
    }

    /// A subdirectory, created.
    pub fn subdir(&self, name: &str) -> anyhow::Result<PathBuf> {
        let path = self.path().join(name);
        std::fs::create_dir(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(path)
    }

    /// Ends the run: removes the directory, or with `--keep` leaves it and returns where it is.
    pub fn finish(self) -> anyhow::Result<Option<PathBuf>> {
        if self.keep {
            return Ok(Some(self.temp.keep()));
        }
        let path = self.temp.path().to_path_buf();
        self.temp
            .close()
            .with_context(|| format!("removing {}", path.display()))?;
        Ok(None)
    }
}

/// Reserves `bytes` of disk for `file` (`posix_fallocate`), as the journal does for its segments, so the baseline's
/// stores land in allocated blocks and a full disk is an error here rather than a SIGBUS in the copy loop.
pub fn preallocate(file: &File, bytes: u64, path: &Path) -> anyhow::Result<()> {
    let len = libc::off_t::try_from(bytes)
        .with_context(|| format!("{}: {bytes} bytes is too large a file", path.display()))?;
    // SAFETY: posix_fallocate only reads its integer arguments and acts on the open descriptor, which `file` keeps
    // alive for the duration of the call.
    let status = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
    if status != 0 {
        return Err(std::io::Error::from_raw_os_error(status))
            .with_context(|| format!("preallocating {bytes} bytes for {}", path.display()));
    }
    Ok(())
}

/// Asks the kernel to drop the cached pages of every regular file directly in `dir` (`posix_fadvise` DONTNEED), so
/// the next read comes from the device. Only clean pages can be dropped: the files must have been synced. Returns
/// the number of files and bytes concerned.
pub fn evict_from_page_cache(dir: &Path) -> anyhow::Result<(u64, u64)> {
    let mut files = 0u64;
    let mut bytes = 0u64;
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let path = entry.path();
        let meta = entry
            .metadata()
            .with_context(|| format!("reading {}", path.display()))?;
        if !meta.is_file() {
            continue;
        }
        let file = File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        file.sync_data()
            .with_context(|| format!("syncing {}", path.display()))?;
        // SAFETY: posix_fadvise only reads its integer arguments and acts on the open descriptor, which `file`
        // keeps alive for the duration of the call; it changes no memory of this process.
        let status =
            unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        if status != 0 {
            return Err(std::io::Error::from_raw_os_error(status))
                .with_context(|| format!("evicting {} from the page cache", path.display()));
        }
        files += 1;
        bytes += meta.len();
    }
    Ok((files, bytes))
}

/// Files directly in `dir` whose names end with `suffix`, and their total size.
pub fn files_with_suffix(dir: &Path, suffix: &str) -> anyhow::Result<(u64, u64)> {
    let mut count = 0u64;
    let mut bytes = 0u64;
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.ends_with(suffix))
        {
            count += 1;
            bytes += entry
                .metadata()
                .with_context(|| format!("reading {}", entry.path().display()))?
                .len();
        }
    }
    Ok((count, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_dir_is_removed_unless_kept() {
        let parent = tempfile::tempdir().expect("temp dir");
        let run = RunDir::create(Some(parent.path()), "test", false).expect("created");
        let path = run.path().to_path_buf();
        std::fs::write(path.join("file"), b"x").expect("write");
        assert!(run.finish().expect("finished").is_none());
        assert!(!path.exists());

        let kept = RunDir::create(Some(parent.path()), "test", true).expect("created");
        let path = kept.path().to_path_buf();
        assert_eq!(kept.finish().expect("finished"), Some(path.clone()));
        assert!(path.is_dir());
    }

    #[test]
    fn a_missing_parent_is_refused() {
        let parent = tempfile::tempdir().expect("temp dir");
        let missing = parent.path().join("nope");
        let error = RunDir::create(Some(&missing), "test", false).expect_err("refused");
        assert!(error.to_string().contains("not an existing directory"));
    }

    #[test]
    fn preallocated_files_have_their_size_and_can_be_evicted() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("data.bin");
        let file = File::create(&path).expect("create");
        preallocate(&file, 1 << 16, &path).expect("preallocate");
        assert_eq!(file.metadata().expect("metadata").len(), 1 << 16);
        drop(file);
        assert_eq!(
            files_with_suffix(dir.path(), ".bin").expect("listed"),
            (1, 1 << 16)
        );
        assert_eq!(
            evict_from_page_cache(dir.path()).expect("evicted"),
            (1, 1 << 16)
        );
    }
}
