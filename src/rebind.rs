//! Binding a listening port that this node's previous run may still hold for a moment.

use std::time::{Duration, Instant};

/// How long a start waits for a listening port still held by this node's previous run.
const REBIND_WAIT_MS: u64 = 30_000;

/// `bind()`, with a port in use tried again for up to `REBIND_WAIT_MS`. The previous run of this node (one that
/// was killed, or one that replaced itself through `restart_process`) held its listeners in an io_uring instance,
/// and the kernel tears such an instance down asynchronously, after the process has gone: its ports can stay taken
/// for a while. `what` names the listener in the notes printed when it has to wait; an address that some other
/// program holds is reported once the wait is over.
pub(crate) fn bind_when_free<T, E: std::error::Error + 'static>(
    what: &str,
    mut bind: impl FnMut() -> Result<T, E>,
) -> Result<T, E> {
    let started = Instant::now();
    let deadline = started + Duration::from_millis(REBIND_WAIT_MS);
    let mut waited = false;
    loop {
        match bind() {
            Err(error) if address_in_use(&error) && Instant::now() < deadline => {
                if !waited {
                    println!(
                        "crossline: {what}: address in use; waiting up to {} s for this node's previous run to \
                         release it",
                        REBIND_WAIT_MS / 1_000
                    );
                    waited = true;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            result => {
                if waited && result.is_ok() {
                    println!(
                        "crossline: {what}: bound after waiting {} ms",
                        started.elapsed().as_millis()
                    );
                }
                return result;
            }
        }
    }
}

/// Whether `error`, or an error it wraps, is EADDRINUSE.
fn address_in_use(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::AddrInUse {
                return true;
            }
        }
        current = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn a_port_released_during_the_wait_is_bound() {
        let held = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = held.local_addr().expect("addr");
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            drop(held);
        });
        let listener = bind_when_free("test listener", || TcpListener::bind(addr))
            .expect("bound once released");
        assert_eq!(listener.local_addr().expect("addr"), addr);
        releaser.join().expect("releaser");
    }

    #[test]
    fn only_an_address_in_use_is_waited_for() {
        let mut attempts = 0;
        let result: Result<(), std::io::Error> = bind_when_free("test listener", || {
            attempts += 1;
            Err(std::io::Error::from(std::io::ErrorKind::PermissionDenied))
        });
        assert!(result.is_err());
        assert_eq!(attempts, 1);
    }

    #[test]
    fn an_address_in_use_is_found_inside_a_wrapping_error() {
        let in_use = std::io::Error::from(std::io::ErrorKind::AddrInUse);
        let wrapped = crossline_net::reactor::ReactorError::Bind {
            addr: "127.0.0.1:1".parse().expect("addr"),
            source: in_use,
        };
        assert!(address_in_use(&wrapped));
        let other = crossline_net::reactor::ReactorError::Bind {
            addr: "127.0.0.1:1".parse().expect("addr"),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        };
        assert!(!address_in_use(&other));
    }
}
