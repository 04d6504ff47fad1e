//! The real appliance in a child process, on 127.0.0.1 ports of its own choosing, in a temporary directory; and
//! the client helpers the end-to-end tests share.

#![allow(dead_code)]

use crossline_net::client::{Client, ClientTimeouts, Credentials, Received};
use crossline_net::ouch::{
    Capacity, CrossType, Display, EnterOrder, IsoEligibility, Outbound, Side, TimeInForce,
};
use crossline_net::soupbin::SessionId;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

pub const START_TIMEOUT: Duration = Duration::from_secs(30);
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// The embedded example configuration with everything pointed at this test.
pub fn config_text(data_dir: &Path, feed: SocketAddr) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_crossline"))
        .args(["config", "example"])
        .output()
        .expect("crossline config example");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("utf-8");
    text.replace(
        "data_dir = \"crossline-data\"",
        &format!("data_dir = {:?}", data_dir.display().to_string()),
    )
    .replace("listen = \"127.0.0.1:15000\"", "listen = \"127.0.0.1:0\"")
    .replace("listen = \"127.0.0.1:18080\"", "listen = \"127.0.0.1:0\"")
    .replace(
        "retransmit_listen = \"127.0.0.1:16001\"",
        "retransmit_listen = \"127.0.0.1:0\"",
    )
    .replace(
        "tcp_listen = \"127.0.0.1:16002\"",
        "tcp_listen = \"127.0.0.1:0\"",
    )
    .replace(
        "snapshot_listen = \"127.0.0.1:16003\"",
        "snapshot_listen = \"127.0.0.1:0\"",
    )
    .replace(
        "udp_destinations = [\"127.0.0.1:16000\"]",
        &format!("udp_destinations = [\"{feed}\"]"),
    )
}

/// Where a started appliance listens.
#[derive(Debug, Clone, Copy)]
pub struct Endpoints {
    pub order_entry: SocketAddr,
    pub admin: Option<SocketAddr>,
    pub feed_retransmit: Option<SocketAddr>,
    pub feed_tcp: Option<SocketAddr>,
    pub feed_snapshot: Option<SocketAddr>,
}

/// A `crossline serve` child process.
pub struct Appliance {
    pub child: Child,
    pub endpoints: Endpoints,
    pub lines: Receiver<String>,
    pub config_path: PathBuf,
}

fn parse_endpoint(line: &str, key: &str) -> Option<SocketAddr> {
    line.split_whitespace()
        .find_map(|field| field.strip_prefix(&format!("{key}=")))
        .and_then(|value| value.parse().ok())
}

fn forward_lines(stdout: ChildStdout) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

impl Appliance {
    /// Starts `crossline serve --config <config_path>` and waits until it says it is ready.
    pub fn start(config_path: &Path) -> Appliance {
        let mut child = Command::new(env!("CARGO_BIN_EXE_crossline"))
            .args(["serve", "--config"])
            .arg(config_path)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn crossline serve");
        let lines = forward_lines(child.stdout.take().expect("stdout"));
        let deadline = Instant::now() + START_TIMEOUT;
        let mut endpoints = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match lines.recv_timeout(left) {
                Ok(line) => line,
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait().ok();
                    panic!("the appliance did not become ready (exit {status:?})");
                }
            };
            if line.contains("listening") {
                endpoints = Some(Endpoints {
                    order_entry: parse_endpoint(&line, "order_entry").expect("order_entry"),
                    admin: parse_endpoint(&line, "admin"),
                    feed_retransmit: parse_endpoint(&line, "feed_retransmit"),
                    feed_tcp: parse_endpoint(&line, "feed_tcp"),
                    feed_snapshot: parse_endpoint(&line, "feed_snapshot"),
                });
            }
            if line.contains("ready") {
                break;
            }
        }
        Appliance {
            child,
            endpoints: endpoints.expect("a listening line before ready"),
            lines,
            config_path: config_path.to_path_buf(),
        }
    }

    /// SIGTERM, then the exit status (waits at most 30 s).
    pub fn terminate(mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child's pid, which we have not waited for yet.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("the appliance did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no chance to sync or snapshot.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The output lines printed so far.
    pub fn drain_lines(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }
}

impl Drop for Appliance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary directory, its config file and a UDP socket the feed is sent to.
pub struct Site {
    pub dir: tempfile::TempDir,
    pub feed: UdpSocket,
    pub config_path: PathBuf,
}

impl Site {
    pub fn new(edit: impl FnOnce(String) -> String) -> Site {
        let dir = tempfile::tempdir().expect("tempdir");
        let feed = UdpSocket::bind("127.0.0.1:0").expect("feed socket");
        feed.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let text = edit(config_text(
            &dir.path().join("data"),
            feed.local_addr().expect("feed addr"),
        ));
        let config_path = dir.path().join("crossline.toml");
        std::fs::write(&config_path, text).expect("write config");
        Site {
            dir,
            feed,
            config_path,
        }
    }

    pub fn start(&self) -> Appliance {
        Appliance::start(&self.config_path)
    }

    pub fn journal_dir(&self) -> PathBuf {
        self.dir.path().join("data").join("journal")
    }
}

pub fn login(addr: SocketAddr, user: &str, from_seq: u64) -> Client {
    Client::connect(
        &[addr],
        Credentials::new(user, &format!("{user}-pw")).expect("credentials"),
        SessionId::BLANK,
        from_seq,
        ClientTimeouts::default(),
    )
    .unwrap_or_else(|error| panic!("{user} login: {error}"))
}

pub fn limit(user_ref_num: u32, side: Side, quantity: u32, symbol: &str, price: u64) -> EnterOrder {
    EnterOrder {
        user_ref_num,
        side,
        quantity,
        symbol: crossline_engine::symbol(symbol),
        price,
        time_in_force: TimeInForce::Day,
        display: Display::Visible,
        capacity: Capacity::Agency,
        intermarket_sweep: IsoEligibility::NotEligible,
        cross_type: CrossType::ContinuousMarket,
        cl_ord_id: [b' '; 14],
        options: Default::default(),
    }
}

/// The next Sequenced Data message and its sequence number; panics after `REPLY_TIMEOUT`.
pub fn next(client: &mut Client) -> (u64, Outbound) {
    let deadline = Instant::now() + REPLY_TIMEOUT;
    loop {
        match client.poll_message(Duration::from_millis(50)) {
            Ok(Some(Received {
                sequence_number,
                message,
                ..
            })) => return (sequence_number, message),
            Ok(None) => {}
            Err(error) => panic!("client error while waiting for a reply: {error}"),
        }
        assert!(
            Instant::now() < deadline,
            "no reply within {REPLY_TIMEOUT:?}"
        );
    }
}

/// Every message that arrives within `quiet` of the previous one.
pub fn drain(client: &mut Client, quiet: Duration) -> Vec<(u64, Outbound)> {
    let mut out = Vec::new();
    while let Ok(Some(received)) = client.poll_message(quiet) {
        out.push((received.sequence_number, received.message));
    }
    out
}

/// A plain HTTP/1.1 request; returns (status, body).
pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("admin connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).expect("send request");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map_or(String::new(), |(_, b)| b.to_string());
    (status, body)
}
