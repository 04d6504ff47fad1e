//! The few things only a system call on this machine can tell (used when the root is `/`): the memlock limit,
//! whether io_uring can be set up, a file system's free space, NIC interrupt coalescing, and who we run as.

use std::ffi::CString;
use std::io;
use std::path::Path;

/// A resource limit: None is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

/// RLIMIT_MEMLOCK of this process.
pub fn memlock_limit() -> io::Result<Limit> {
    let mut rlim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own and pass by valid pointer.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut rlim) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // rlim_t is u64 on 64-bit Linux and narrower elsewhere.
    #[allow(clippy::unnecessary_cast)]
    let value = |v: libc::rlim_t| (v != libc::RLIM_INFINITY).then_some(v as u64);
    Ok(Limit {
        soft: value(rlim.rlim_cur),
        hard: value(rlim.rlim_max),
    })
}

/// Sets up (and drops) a two-entry io_uring: the error is what the gateway's reactor would get.
pub fn io_uring_probe() -> io::Result<()> {
    io_uring::IoUring::new(2).map(|_| ())
}

/// Free bytes for an unprivileged writer and the file system's magic number, of the file system holding `path`.
pub fn free_space(path: &Path) -> io::Result<(u64, i64)> {
    let c_path = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds a NUL byte"))?;
    // SAFETY: an all-zero statfs is a valid value of this plain C struct.
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: c_path is a NUL-terminated string that outlives the call; stat is a valid, writable statfs.
    let rc = unsafe { libc::statfs(c_path.as_ptr(), &mut stat) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let free = (stat.f_bavail as u64).saturating_mul(stat.f_bsize as u64);
    Ok((free, stat.f_type as i64))
}

/// The effective user id.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// A NIC's receive interrupt coalescing, as `ethtool -c` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coalesce {
    pub rx_usecs: u32,
    pub rx_frames: u32,
    pub adaptive_rx: bool,
}

const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GCOALESCE: u32 = 0x0000_000e;
/// struct ethtool_coalesce: the command word and 22 more u32 fields.
const ETHTOOL_COALESCE_WORDS: usize = 23;

/// Reads a NIC's coalescing with the ETHTOOL_GCOALESCE ioctl (no privileges needed). Drivers without
/// coalescing answer EOPNOTSUPP.
pub fn nic_coalesce(interface: &str) -> io::Result<Coalesce> {
    let name = interface.as_bytes();
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not an interface name",
        ));
    }
    // SAFETY: socket has no memory preconditions; the result is checked below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut words = [0u32; ETHTOOL_COALESCE_WORDS];
    words[0] = ETHTOOL_GCOALESCE;
    // SAFETY: an all-zero ifreq is a valid value of this plain C struct.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in ifr.ifr_name.iter_mut().zip(name) {
        *dst = *src as libc::c_char;
    }
    ifr.ifr_ifru.ifru_data = words.as_mut_ptr().cast();
    // SAFETY: fd is an open socket; ifr names the interface and points ifru_data at `words`, a buffer of the
    // size struct ethtool_coalesce has, which lives until after the call.
    let rc = unsafe { libc::ioctl(fd, SIOCETHTOOL as _, &mut ifr) };
    let result = if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(Coalesce {
            rx_usecs: words[1],
            rx_frames: words[2],
            adaptive_rx: words[10] != 0,
        })
    };
    // SAFETY: fd is the socket opened above and closed exactly once.
    unsafe { libc::close(fd) };
    result
}
