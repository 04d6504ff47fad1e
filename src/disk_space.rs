//! Free space where the node keeps its data. A start is refused without room for the journal's next segment (the
//! journal prepares it as soon as it opens, so the node would stop at its first rollover), and a clustered node that
//! must restart (after stepping down, or after its replication stopped on a failed write) waits for that room
//! instead of restarting into the refusal. A directory not created yet cannot be asked; opening the journal then
//! reports a full disk itself (`OpenError::DiskFull`).

use std::path::{Path, PathBuf};

/// Bytes an unprivileged writer can still take on the file system holding `path`; `None` when it cannot be asked.
pub fn free_bytes(path: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs(3) only writes the struct it is given; an all-zero `statvfs` is a valid value of it.
    let mut stats: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c_path` is NUL-terminated and both pointers are valid for the call.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stats) } != 0 {
        return None;
    }
    #[allow(clippy::useless_conversion)] // the field types differ between targets
    let (available_blocks, block_bytes) = (u64::from(stats.f_bavail), u64::from(stats.f_frsize));
    Some(available_blocks.saturating_mul(block_bytes))
}

/// The room a node needs before it (re)starts: a new journal segment plus a margin for the Raft index, its
/// metadata and a snapshot's temporary file header.
#[derive(Debug, Clone)]
pub struct Headroom {
    paths: Vec<PathBuf>,
    needed_bytes: u64,
}

/// Margin on top of one journal segment.
const MARGIN_BYTES: u64 = 1 << 20;

impl Headroom {
    pub fn new(paths: Vec<PathBuf>, segment_bytes: u64) -> Headroom {
        Headroom {
            paths,
            needed_bytes: segment_bytes.saturating_add(MARGIN_BYTES),
        }
    }

    pub fn needed_bytes(&self) -> u64 {
        self.needed_bytes
    }

    /// The first path whose file system has less than the room needed, with its free bytes; `None` when every one
    /// has enough (or cannot be asked: then opening the journal says what is wrong).
    pub fn short(&self) -> Option<(&Path, u64)> {
        self.paths.iter().find_map(|path| {
            let free = free_bytes(path)?;
            (free < self.needed_bytes).then_some((path.as_path(), free))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_free_space_of_a_real_directory_is_known() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(free_bytes(dir.path()).is_some());
        assert!(free_bytes(&dir.path().join("missing")).is_none());
    }

    #[test]
    fn headroom_is_short_only_where_the_room_needed_exceeds_the_free_space() {
        let dir = tempfile::tempdir().expect("tempdir");
        let free = free_bytes(dir.path()).expect("free");
        let roomy = Headroom::new(vec![dir.path().to_path_buf()], 0);
        assert_eq!(roomy.needed_bytes(), MARGIN_BYTES);
        if free >= MARGIN_BYTES {
            assert!(roomy.short().is_none());
        }
        let greedy = Headroom::new(vec![dir.path().to_path_buf()], u64::MAX);
        let (path, reported) = greedy.short().expect("nothing has u64::MAX bytes free");
        assert_eq!(path, dir.path());
        assert!(reported < u64::MAX);
        let unknown = Headroom::new(vec![dir.path().join("missing")], u64::MAX);
        assert!(
            unknown.short().is_none(),
            "unknown space does not hold a restart back"
        );
    }
}
