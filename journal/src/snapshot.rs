//! Snapshots: an opaque payload (the engine's rkyv-archived state) tagged with the sequence number of the last
//! command it covers, so start-up loads it and replays the journal from `seq + 1`.
//!
//! A snapshot file `<seq:020>.snap` is the common 64-byte header (header.rs) with these fields, then the payload:
//!
//! ```text
//! offset size field
//!     16    8 seq              last command sequence number the state includes
//!     24    8 payload_bytes
//!     32    4 payload_crc32c
//!     36   24 reserved (zero)
//!     64    n payload
//! ```
//!
//! Writing goes to `<seq>.snap.tmp`, is fsynced, renamed, and the directory fsynced: a crash leaves the previous
//! snapshots intact and at worst a temporary, which the next write removes. Loading takes the newest snapshot whose
//! header and payload checksum hold and reports every newer one it skipped and why.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use rkyv::util::AlignedVec;

use crate::error::SnapshotError;
use crate::fsio;
use crate::header::{self, FileKind, HEADER_BYTES};

const SNAPSHOT_SUFFIX: &str = ".snap";
const TEMP_SUFFIX: &str = ".snap.tmp";
/// Payload alignment in memory after loading: enough for any rkyv archive.
pub const SNAPSHOT_ALIGN_BYTES: usize = 16;

/// `00000000000000001000.snap`
pub fn snapshot_file_name(seq: u64) -> String {
    format!("{seq:020}{SNAPSHOT_SUFFIX}")
}

fn parse_snapshot_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SNAPSHOT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A snapshot file found in the directory (not yet checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    pub seq: u64,
    pub path: PathBuf,
}

/// A snapshot whose header and payload checksum held.
#[derive(Debug)]
pub struct LoadedSnapshot {
    pub seq: u64,
    pub path: PathBuf,
    payload: AlignedVec<SNAPSHOT_ALIGN_BYTES>,
}

impl LoadedSnapshot {
    /// The payload, aligned to `SNAPSHOT_ALIGN_BYTES` so it can be accessed in place with rkyv.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
}

/// A snapshot that was passed over, and why.
#[derive(Debug)]
pub struct SkippedSnapshot {
    pub path: PathBuf,
    pub reason: SnapshotError,
}

/// The newest valid snapshot, if any, and the newer ones that were not valid.
#[derive(Debug, Default)]
pub struct SnapshotLoad {
    pub snapshot: Option<LoadedSnapshot>,
    pub skipped: Vec<SkippedSnapshot>,
}

/// The snapshots of one directory (which may be the journal's own).
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    dir: PathBuf,
}

impl SnapshotStore {
    pub fn open(dir: &Path) -> Result<SnapshotStore, SnapshotError> {
        match fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => Ok(SnapshotStore {
                dir: dir.to_path_buf(),
            }),
            Ok(_) => Err(SnapshotError::DirectoryMissing {
                path: dir.to_path_buf(),
            }),
            Err(err) => Err(SnapshotError::io(dir, err)),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes the state as of `seq` durably and returns where it went. An existing snapshot of the same seq is
    /// replaced atomically.
    pub fn write(&self, seq: u64, payload: &[u8]) -> Result<SnapshotInfo, SnapshotError> {
        if seq == 0 {
            return Err(SnapshotError::ZeroSeq);
        }
        self.remove_temporaries()?;
        let path = self.dir.join(snapshot_file_name(seq));
        let temp = self.dir.join(format!("{seq:020}{TEMP_SUFFIX}"));
        let mut head = header::new_header(FileKind::Snapshot);
        head[16..24].copy_from_slice(&seq.to_le_bytes());
        head[24..32].copy_from_slice(&(payload.len() as u64).to_le_bytes());
        head[32..36].copy_from_slice(&crc32c::crc32c(payload).to_le_bytes());
        header::seal_header(&mut head);

        let written = (|| {
            let mut file = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(&temp)?;
            // Reserve first so that a full disk fails here rather than half-way through the payload.
            fsio::preallocate(&file, (HEADER_BYTES + payload.len()) as u64)?;
            file.write_all(&head)?;
            file.write_all(payload)?;
            file.sync_all()
        })();
        if let Err(err) = written {
            let _ = fs::remove_file(&temp);
            return Err(SnapshotError::io(&path, err));
        }
        fs::rename(&temp, &path).map_err(|err| SnapshotError::io(&path, err))?;
        fsio::fsync_dir(&self.dir).map_err(|err| SnapshotError::io(&self.dir, err))?;
        Ok(SnapshotInfo { seq, path })
    }

    /// Snapshot files in ascending seq order, unchecked.
    pub fn list(&self) -> Result<Vec<SnapshotInfo>, SnapshotError> {
        let mut found = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(|err| SnapshotError::io(&self.dir, err))? {
            let entry = entry.map_err(|err| SnapshotError::io(&self.dir, err))?;
            let name = entry.file_name();
            if let Some(seq) = name.to_str().and_then(parse_snapshot_name) {
                found.push(SnapshotInfo {
                    seq,
                    path: entry.path(),
                });
            }
        }
        found.sort_unstable_by_key(|info| info.seq);
        Ok(found)
    }

    /// Reads and checks one snapshot: header (magic, version, layout, checksum, seq matching the name), payload
    /// length and payload checksum.
    pub fn load(&self, info: &SnapshotInfo) -> Result<LoadedSnapshot, SnapshotError> {
        let path = &info.path;
        let mut file = File::open(path).map_err(|err| SnapshotError::io(path, err))?;
        let file_bytes = file
            .metadata()
            .map_err(|err| SnapshotError::io(path, err))?
            .len();
        let mut head = [0u8; HEADER_BYTES];
        let head_len = file_bytes.min(HEADER_BYTES as u64) as usize;
        file.read_exact(&mut head[..head_len])
            .map_err(|err| SnapshotError::io(path, err))?;
        let head = header::check_common(path, FileKind::Snapshot, &head[..head_len], file_bytes)?;
        let seq = header::read_u64(&head, 16);
        if seq != info.seq {
            return Err(crate::error::FormatError::NameMismatch {
                path: path.clone(),
                named: info.seq,
                header: seq,
            }
            .into());
        }
        let payload_bytes = header::read_u64(&head, 24);
        let stored = header::read_u32(&head, 32);
        let found = file_bytes.saturating_sub(HEADER_BYTES as u64);
        if found != payload_bytes {
            return Err(SnapshotError::PayloadLength {
                path: path.clone(),
                found,
                expected: payload_bytes,
            });
        }
        let len = usize::try_from(payload_bytes).map_err(|_| SnapshotError::PayloadLength {
            path: path.clone(),
            found,
            expected: payload_bytes,
        })?;
        let mut payload = AlignedVec::<SNAPSHOT_ALIGN_BYTES>::with_capacity(len);
        payload.resize(len, 0);
        file.read_exact(&mut payload)
            .map_err(|err| SnapshotError::io(path, err))?;
        let computed = crc32c::crc32c(&payload);
        if computed != stored {
            return Err(SnapshotError::PayloadChecksum {
                path: path.clone(),
                stored,
                computed,
            });
        }
        Ok(LoadedSnapshot {
            seq,
            path: path.clone(),
            payload,
        })
    }

    /// The newest snapshot that checks out, falling back past corrupt ones (each reported in `skipped`). An I/O
    /// error reading the directory is an error; an unreadable snapshot file is only skipped.
    pub fn load_newest_valid(&self) -> Result<SnapshotLoad, SnapshotError> {
        let mut result = SnapshotLoad::default();
        for info in self.list()?.into_iter().rev() {
            match self.load(&info) {
                Ok(snapshot) => {
                    result.snapshot = Some(snapshot);
                    break;
                }
                Err(reason) => result.skipped.push(SkippedSnapshot {
                    path: info.path,
                    reason,
                }),
            }
        }
        Ok(result)
    }

    /// Deletes leftovers of interrupted writes; they were never renamed, so no one can be relying on them.
    pub(crate) fn remove_temporaries(&self) -> Result<(), SnapshotError> {
        for entry in fs::read_dir(&self.dir).map_err(|err| SnapshotError::io(&self.dir, err))? {
            let entry = entry.map_err(|err| SnapshotError::io(&self.dir, err))?;
            if entry
                .file_name()
                .to_str()
                .is_some_and(|name| name.ends_with(TEMP_SUFFIX))
            {
                let path = entry.path();
                fs::remove_file(&path).map_err(|err| SnapshotError::io(&path, err))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(snapshot_file_name(1000), "00000000000000001000.snap");
        assert_eq!(parse_snapshot_name(&snapshot_file_name(7)), Some(7));
        assert_eq!(parse_snapshot_name("00000000000000001000.snap.tmp"), None);
    }
}
