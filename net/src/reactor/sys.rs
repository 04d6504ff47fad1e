//! Thin wrappers over the socket system calls both backends share.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// The errno of the last failed system call on this thread.
pub(crate) fn last_errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// The address used when the kernel cannot tell a peer's (the socket was reset before we asked).
pub(crate) const UNKNOWN_PEER: SocketAddr =
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0));

pub(crate) fn sockaddr_to_std(storage: &libc::sockaddr_storage) -> SocketAddr {
    match i32::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the kernel filled an AF_INET address, so the storage holds a sockaddr_in, and
            // sockaddr_storage is large enough and aligned for every sockaddr type.
            let v4 =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr)),
                u16::from_be(v4.sin_port),
            ))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for an AF_INET6 address and sockaddr_in6.
            let v6 = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(v6.sin6_addr.s6_addr),
                u16::from_be(v6.sin6_port),
                v6.sin6_flowinfo,
                v6.sin6_scope_id,
            ))
        }
        _ => UNKNOWN_PEER,
    }
}

/// The peer's address of a connected socket, or `UNKNOWN_PEER`.
pub(crate) fn peer_addr(fd: RawFd) -> SocketAddr {
    // SAFETY: sockaddr_storage is plain old data; all zeroes is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let mut len = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: the pointer and length describe `storage`, which lives across the call.
    let rc = unsafe {
        libc::getpeername(
            fd,
            (&mut storage as *mut libc::sockaddr_storage).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        sockaddr_to_std(&storage)
    } else {
        UNKNOWN_PEER
    }
}

fn set_int_option(fd: RawFd, level: i32, name: i32, value: i32) {
    // SAFETY: the pointer and length describe `value`, a c_int that lives across the call. A failure leaves the
    // socket with the kernel's default, which is correct if slower, so it is ignored.
    unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            mem::size_of::<i32>() as libc::socklen_t,
        );
    }
}

/// Options every accepted socket gets: no Nagle delay, and the configured kernel send buffer.
pub(crate) fn configure_accepted(fd: RawFd, send_buffer_bytes: Option<usize>) {
    set_int_option(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
    if let Some(bytes) = send_buffer_bytes {
        set_int_option(
            fd,
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            bytes.min(i32::MAX as usize) as i32,
        );
    }
}

pub(crate) fn close_fd(fd: RawFd) {
    // SAFETY: the caller owns `fd` and never uses it again. close's error (EINTR, EIO) still releases the
    // descriptor on Linux, so there is nothing to retry.
    unsafe {
        libc::close(fd);
    }
}

pub(crate) fn shutdown_fd(fd: RawFd) {
    // SAFETY: the caller owns `fd`; shutdown has no memory arguments. ENOTCONN (peer already gone) is harmless.
    unsafe {
        libc::shutdown(fd, libc::SHUT_RDWR);
    }
}

/// Reads an eventfd's count back to zero (non-blocking: nothing to read is not an error worth reporting).
pub(crate) fn drain_eventfd(fd: RawFd) {
    let mut count = 0u64;
    // SAFETY: reads at most 8 bytes into `count`, which lives across the call.
    let _ = unsafe {
        libc::read(
            fd,
            (&mut count as *mut u64).cast(),
            std::mem::size_of::<u64>(),
        )
    };
}
