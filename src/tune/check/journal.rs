//! The journal directory's file system: not volatile, not remote, with room to grow.

use super::Context;
use crate::tune::findings::Finding;
use crate::tune::live;
use std::path::{Path, PathBuf};

/// A line of /proc/mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub device: String,
    pub point: PathBuf,
    pub fstype: String,
}

/// Undoes /proc/mounts' octal escapes (`\040` is a space).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() {
            let digits = std::str::from_utf8(&bytes[i + 1..i + 4]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(digits, 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse_mounts(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let device = fields.next()?;
            let point = fields.next()?;
            let fstype = fields.next()?;
            Some(Mount {
                device: unescape(device),
                point: PathBuf::from(unescape(point)),
                fstype: fstype.to_string(),
            })
        })
        .collect()
}

/// The mount holding `path`: the last-mounted of the longest mount points that contain it.
pub fn mount_of<'m>(mounts: &'m [Mount], path: &Path) -> Option<&'m Mount> {
    mounts
        .iter()
        .enumerate()
        .filter(|(_, m)| path.starts_with(&m.point))
        .max_by_key(|(i, m)| (m.point.components().count(), *i))
        .map(|(_, m)| m)
}

/// The nearest existing ancestor of `path` (the journal creates its directory on first start).
fn existing_ancestor(path: &Path) -> Option<PathBuf> {
    path.ancestors().find(|p| p.exists()).map(Path::to_path_buf)
}

/// The journal directory as an absolute host path, and how it was resolved.
fn resolve(ctx: &Context) -> (PathBuf, String) {
    let dir = &ctx.config.journal_dir;
    if dir.is_absolute() {
        return (dir.clone(), dir.display().to_string());
    }
    if ctx.host.is_live() {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        let full = cwd.join(dir);
        // Resolve symlinks in the part that exists, so the mount is the real one.
        let resolved = existing_ancestor(&full)
            .and_then(|existing| {
                let rest = full.strip_prefix(&existing).ok()?.to_path_buf();
                Some(std::fs::canonicalize(&existing).ok()?.join(rest))
            })
            .unwrap_or_else(|| full.clone());
        (resolved, format!("{} ({})", dir.display(), full.display()))
    } else {
        let full = Path::new("/").join(dir);
        (
            full.clone(),
            format!(
                "{} (taken as {} under --root)",
                dir.display(),
                full.display()
            ),
        )
    }
}

/// The journal directory's file system type and free space.
pub fn file_system(ctx: &Context) -> Finding {
    const ID: &str = "journal.fs";
    let (path, label) = resolve(ctx);
    let profile = &ctx.profile.journal;
    let fix = "put [journal] dir on a local, persistent file system (ext4 or xfs on an NVMe drive) with room for \
               a trading day's journal and snapshots";
    let mounts = match ctx.host.read("/proc/mounts") {
        Ok(text) => parse_mounts(&text),
        Err(e) => return Finding::warn(ID, format!("journal {label}: cannot tell: {e}"), fix),
    };
    let Some(mount) = mount_of(&mounts, &path) else {
        return Finding::warn(
            ID,
            format!("journal {label}: no mount in /proc/mounts holds it"),
            fix,
        );
    };
    let mut problems = Vec::new();
    let fstype = mount.fstype.as_str();
    if profile.volatile_fs.iter().any(|f| f == fstype) {
        problems.push(format!(
            "{fstype} is memory: the journal, and with it every acknowledged order, is gone after a reboot or \
             power loss"
        ));
    }
    if profile
        .remote_fs
        .iter()
        .any(|f| f == fstype || fstype.starts_with(&format!("{f}.")))
    {
        problems.push(format!(
            "{fstype} is remote or in user space: every fsync is a round trip"
        ));
    }
    let mut detail = format!(
        "journal {label} on {fstype} ({} at {})",
        mount.device,
        mount.point.display()
    );
    if ctx.host.is_live() {
        match existing_ancestor(&path).map(|p| live::free_space(&p)) {
            Some(Ok((free, _))) => {
                let gib = free as f64 / (1u64 << 30) as f64;
                detail.push_str(&format!(", {gib:.1} GiB free"));
                if free < profile.min_free_gib << 30 {
                    problems.push(format!(
                        "{gib:.1} GiB free, under the profile's {} GiB",
                        profile.min_free_gib
                    ));
                }
            }
            Some(Err(e)) => problems.push(format!("cannot measure free space: {e}")),
            None => {
                problems.push("cannot measure free space: no part of the path exists".to_string())
            }
        }
    } else {
        detail.push_str(", free space not measured under --root");
    }
    if problems.is_empty() {
        Finding::pass(ID, detail)
    } else {
        Finding::warn(ID, format!("{detail}: {}", problems.join("; ")), fix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_innermost_mount() {
        let mounts = parse_mounts(
            "/dev/sda1 / ext4 rw 0 0\ntmpfs /srv tmpfs rw 0 0\n/dev/sdb1 /srv/data\\040x xfs rw 0 0\n",
        );
        assert_eq!(mounts[2].point, PathBuf::from("/srv/data x"));
        let m = mount_of(&mounts, Path::new("/srv/journal")).unwrap();
        assert_eq!(m.fstype, "tmpfs");
        let m = mount_of(&mounts, Path::new("/srv/data x/j")).unwrap();
        assert_eq!(m.fstype, "xfs");
        let m = mount_of(&mounts, Path::new("/srvx")).unwrap();
        assert_eq!(m.fstype, "ext4");
    }
}
