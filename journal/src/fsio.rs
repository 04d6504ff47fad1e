//! The few file-system calls the standard library does not offer: preallocation, directory fsync, syncfs and the
//! writer's directory lock.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// The lock file that makes one writer per journal directory; tools take it shared to learn whether a writer is live.
pub(crate) const LOCK_FILE_NAME: &str = "LOCK";

/// Reserves `len_bytes` of real blocks for `file`, so that a full disk is reported here, when a segment is created,
/// and never later as SIGBUS on a page fault in the middle of an append.
pub(crate) fn preallocate(file: &File, len_bytes: u64) -> io::Result<()> {
    let len =
        libc::off_t::try_from(len_bytes).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    loop {
        // SAFETY: posix_fallocate only reads its integer arguments; the descriptor is open for writing and owned by
        // `file` for the duration of the call.
        let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
        match rc {
            0 => return Ok(()),
            libc::EINTR => continue,
            errno => return Err(io::Error::from_raw_os_error(errno)),
        }
    }
}

/// Makes a directory entry change (create, rename, unlink) durable.
pub(crate) fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Flushes every dirty page of the file system that holds `dir`. Used when `FsyncPolicy::None` has already dropped
/// the mappings of sealed segments and an explicit `sync()` must still cover them.
pub(crate) fn syncfs(dir: &Path) -> io::Result<()> {
    let handle = File::open(dir)?;
    // SAFETY: syncfs takes a descriptor that `handle` keeps open for the duration of the call.
    let rc = unsafe { libc::syncfs(handle.as_raw_fd()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// An exclusive advisory lock on `dir/LOCK`, held for the life of a writer. Two writers on one directory would
/// interleave frames; the lock turns that into an error at open.
#[derive(Debug)]
pub(crate) struct DirLock {
    file: File,
}

pub(crate) enum LockError {
    Held(PathBuf),
    Io(PathBuf, io::Error),
}

impl DirLock {
    pub(crate) fn acquire(dir: &Path) -> Result<DirLock, LockError> {
        let path = dir.join(LOCK_FILE_NAME);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|err| LockError::Io(path.clone(), err))?;
        match flock(&file, libc::LOCK_EX | libc::LOCK_NB) {
            Ok(()) => Ok(DirLock { file }),
            Err(err) if err.raw_os_error() == Some(libc::EWOULDBLOCK) => Err(LockError::Held(path)),
            Err(err) => Err(LockError::Io(path, err)),
        }
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Unlock explicitly rather than by closing: a child forked by another thread of this process shares the
        // open file description until it execs, and would keep the lock alive a moment after the writer is gone.
        let _ = flock(&self.file, libc::LOCK_UN);
    }
}

/// True when a writer holds the lock on `dir`. Read-only tools use it to treat the tail of the newest segment as
/// in progress rather than torn.
pub(crate) fn writer_is_live(dir: &Path) -> bool {
    let Ok(file) = File::open(dir.join(LOCK_FILE_NAME)) else {
        return false;
    };
    match flock(&file, libc::LOCK_SH | libc::LOCK_NB) {
        Ok(()) => {
            // Same reason as `DirLock::drop`: do not let a concurrent fork hold this probe against a writer.
            let _ = flock(&file, libc::LOCK_UN);
            false
        }
        Err(err) => err.raw_os_error() == Some(libc::EWOULDBLOCK),
    }
}

fn flock(file: &File, operation: libc::c_int) -> io::Result<()> {
    loop {
        // SAFETY: flock takes a descriptor that `file` keeps open for the duration of the call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), operation) };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EINTR) {
            return Err(err);
        }
    }
}
