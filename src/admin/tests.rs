//! The admin server end to end over real sockets, with a fake backend.

use super::http::{spawn, spawn_with, Limits};
use super::{AdminBackend, BookLevel, BookView, Health, MarketView};
use crate::metrics::{bump, Metrics};
use crate::pipeline::admin_ring::{AdminOutcome, SubmitError};
use crate::pipeline::follower::ApplyObserver;
use crossline_engine::{
    symbol, Command, CommandBody, Event, InstrumentId, InstrumentStatus, Liquidity, Side,
};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const TOKEN: &str = "s3cret-token";
/// 2026-11-25 10:00:00 UTC in ns.
const T0: u64 = 1_795_600_800_000_000_000;

struct Fake {
    metrics: Metrics,
    market: Mutex<MarketView>,
    submitted: Mutex<Vec<CommandBody>>,
}

impl Fake {
    fn new() -> Fake {
        let mut market = MarketView::default();
        let command = |seq| Command {
            seq,
            timestamp_ns: T0,
            body: CommandBody::EndOfDay,
        };
        market.on_applied(
            &command(1),
            &[Event::InstrumentAdded {
                instrument: 1,
                symbol: symbol("BTCUSD"),
            }],
        );
        let executed = |side, price, m, liquidity| Event::Executed {
            session: 1,
            account: 1,
            user_ref: 1,
            order_id: m,
            instrument: 1,
            side,
            price,
            qty: 2,
            leaves: 0,
            match_number: m,
            liquidity,
            fee: 0,
        };
        market.on_applied(
            &command(2),
            &[
                executed(Side::Buy, 500, 1, Liquidity::Taker),
                executed(Side::Sell, 500, 1, Liquidity::Maker),
                executed(Side::Buy, 510, 2, Liquidity::Maker),
            ],
        );
        let metrics = Metrics::default();
        bump(&metrics.engine.commands);
        Fake {
            metrics,
            market: Mutex::new(market),
            submitted: Mutex::new(Vec::new()),
        }
    }
}

impl AdminBackend for Fake {
    fn health(&self) -> Health {
        Health {
            role: "leader".into(),
            applied_seq: 2,
            engine_seq: 3,
            state_hash: 0xabcdef,
            journal_written_seq: 3,
            journal_durable_seq: 2,
            cluster: None,
            invariant_violation: None,
            query: None,
            sessions_logged_in: 1,
        }
    }

    fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    fn book(&self, instrument: InstrumentId, levels: usize) -> Option<BookView> {
        (instrument == 1).then(|| BookView {
            seq: 2,
            bids: [
                BookLevel {
                    price: 499,
                    qty: 3,
                    orders: 1,
                },
                BookLevel {
                    price: 498,
                    qty: 1,
                    orders: 1,
                },
            ]
            .into_iter()
            .take(levels)
            .collect(),
            asks: vec![BookLevel {
                price: 511,
                qty: 4,
                orders: 2,
            }],
        })
    }

    fn with_market(&self, f: &mut dyn FnMut(&MarketView)) {
        if let Ok(market) = self.market.lock() {
            f(&market);
        }
    }

    fn submit(&self, command: CommandBody) -> Result<AdminOutcome, SubmitError> {
        let mut submitted = self.submitted.lock().map_err(|_| SubmitError::Closed)?;
        submitted.push(command);
        let seq = 100 + submitted.len() as u64;
        match command {
            CommandBody::Withdraw { amount, .. } if amount > 1_000 => Ok(AdminOutcome {
                seq,
                rejected: Some("InsufficientFunds".into()),
            }),
            CommandBody::Deposit {
                amount: u64::MAX, ..
            } => Err(SubmitError::Timeout { timeout_ms: 5 }),
            _ => Ok(AdminOutcome {
                seq,
                rejected: None,
            }),
        }
    }
}

struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    fake: Arc<Fake>,
}

impl Server {
    fn start(token: &str) -> Server {
        Server::start_with(token, None)
    }

    fn start_with(token: &str, limits: Option<Limits>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let fake = Arc::new(Fake::new());
        let backend: Arc<dyn AdminBackend> = fake.clone();
        let thread = match limits {
            None => spawn(listener, token.to_string(), backend, stop.clone()),
            Some(limits) => spawn_with(listener, token.to_string(), backend, stop.clone(), limits),
        }
        .expect("spawn");
        Server {
            addr,
            stop,
            thread: Some(thread),
            fake,
        }
    }

    /// Sets `stop` and waits (bounded) for the server thread to end; true if it did.
    fn stop(&mut self) -> bool {
        self.stop.store(true, Ordering::Release);
        let Some(thread) = self.thread.take() else {
            return true;
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        thread.is_finished() && thread.join().is_ok()
    }

    fn raw(&self, bytes: &[u8]) -> Reply {
        let mut stream = TcpStream::connect(self.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream.write_all(bytes).expect("write");
        read_reply(&mut stream)
    }

    fn get(&self, path: &str) -> Reply {
        self.raw(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes())
    }

    fn post(&self, path: &str, token: Option<&str>, body: &str) -> Reply {
        let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
        self.raw(
            format!(
                "POST {path} HTTP/1.1\r\nHost: test\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn read_reply(stream: &mut TcpStream) -> Reply {
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).expect("read reply");
    let text = String::from_utf8(bytes).expect("utf8 reply");
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no head end: {text:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line: {head}"));
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.parse().ok())
        .expect("content-length");
    assert_eq!(length, body.len(), "Content-Length matches");
    Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

#[test]
fn read_routes() {
    let server = Server::start(TOKEN);

    let r = server.get("/health");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.head.contains("Content-Type: application/json"));
    let h = r.json();
    assert_eq!(h["status"], "ok");
    assert_eq!(h["role"], "leader");
    assert_eq!(h["lag"], 1);
    assert_eq!(h["state_hash"], "0000000000abcdef");
    assert_eq!(h["journal"]["durable_seq"], 2);
    assert_eq!(h["sessions_logged_in"], 1);

    let r = server.get("/metrics");
    assert_eq!(r.status, 200);
    assert!(r.head.contains("Content-Type: text/plain; version=0.0.4"));
    assert!(
        r.body.contains("\ncrossline_engine_commands_total 1\n"),
        "{}",
        r.body
    );
    assert!(r.body.contains("crossline_follower_lag 1\n"));

    let r = server.get("/book/BTCUSD?levels=1");
    assert_eq!(r.status, 200, "{r:?}");
    let b = r.json();
    assert_eq!(b["seq"], 2);
    assert_eq!(b["status"], "trading");
    assert_eq!(b["bids"].as_array().map(Vec::len), Some(1));
    assert_eq!(b["bids"][0]["price"], 499);
    assert_eq!(b["asks"][0]["orders"], 2);
    assert_eq!(
        server.get("/book/BTCUSD").json()["bids"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    let r = server.get("/trades/BTCUSD");
    assert_eq!(r.status, 200);
    let t = r.json();
    let trades = t["trades"].as_array().expect("trades");
    assert_eq!(trades.len(), 2);
    assert_eq!(trades[0]["aggressor"], "buy");
    assert_eq!(trades[1]["aggressor"], "sell");
    assert_eq!(trades[1]["price"], 510);
    assert_eq!(trades[0]["timestamp_ns"], T0);
    assert_eq!(
        server.get("/trades/BTCUSD?limit=1").json()["trades"][0]["match_number"],
        2
    );

    let r = server.get("/candles/BTCUSD?interval=1h&limit=5");
    assert_eq!(r.status, 200, "{r:?}");
    let c = r.json();
    assert_eq!(c["interval"], "1h");
    let candle = &c["candles"][0];
    assert_eq!(candle["start"], T0 / 1_000_000_000);
    assert_eq!(
        (candle["open"].clone(), candle["close"].clone()),
        (500.into(), 510.into())
    );
    assert_eq!(candle["volume"], 4);
    for interval in [
        "1m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d", "1w", "1M",
    ] {
        let r = server.get(&format!("/candles/BTCUSD?interval={interval}"));
        assert_eq!(r.status, 200, "{interval}");
        assert_eq!(
            r.json()["candles"].as_array().map(Vec::len),
            Some(1),
            "{interval}"
        );
    }
    assert_eq!(server.get("/candles/BTCUSD").status, 200);
    let r = server.get("/candles/BTCUSD?interval=7m");
    assert_eq!(r.status, 400);
    assert!(r.json()["error"]
        .as_str()
        .is_some_and(|e| e.contains("interval")));
    assert_eq!(server.get("/trades/BTCUSD?limit=abc").status, 400);
    assert_eq!(server.get("/book/BTCUSD?levels=-1").status, 400);

    let r = server.get("/instruments");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["instruments"][0]["symbol"], "BTCUSD");
    assert_eq!(r.json()["instruments"][0]["last_price"], 510);

    for path in [
        "/book/NOPE",
        "/trades/NOPE",
        "/candles/NOPE",
        "/",
        "/nope",
        "/book",
        "/book/BTCUSD/x",
    ] {
        let r = server.get(path);
        assert_eq!(r.status, 404, "{path}");
        assert!(r.json()["error"].is_string());
    }
    let r = server.post("/health", Some(TOKEN), "");
    assert_eq!(r.status, 405);
    assert!(r.head.contains("Allow: GET"));
    assert_eq!(server.get("/admin/halt/BTCUSD").status, 405);
}

#[test]
fn admin_routes() {
    let server = Server::start(TOKEN);
    let ok = |r: Reply, seq: u64| {
        assert_eq!(r.status, 200, "{r:?}");
        let v = r.json();
        assert_eq!(v["seq"], seq);
        assert_eq!(v["applied"], true);
    };
    ok(server.post("/admin/halt/BTCUSD", Some(TOKEN), ""), 101);
    ok(server.post("/admin/resume/BTCUSD", Some(TOKEN), ""), 102);
    ok(
        server.post("/admin/cancel-only/BTCUSD", Some(TOKEN), ""),
        103,
    );
    let instrument = r#"{"id": 2, "symbol": "ETHUSD", "base_asset": 3, "quote_asset": 2, "tick": 1,
        "lot_size": 1, "quote_per_price_lot": 1, "reference_price": 3000, "band_bps": 1000,
        "breaker_move_bps": 500, "breaker_window_ms": 1000, "breaker_halt_ms": 2000}"#;
    ok(
        server.post("/admin/instruments", Some(TOKEN), instrument),
        104,
    );
    ok(
        server.post(
            "/admin/deposit",
            Some(TOKEN),
            r#"{"account": 7, "asset": 2, "amount": 500}"#,
        ),
        105,
    );
    ok(
        server.post(
            "/admin/withdraw",
            Some(TOKEN),
            r#"{"account": 7, "asset": 2, "amount": 5}"#,
        ),
        106,
    );

    let r = server.post(
        "/admin/withdraw",
        Some(TOKEN),
        r#"{"account": 7, "asset": 2, "amount": 5000}"#,
    );
    assert_eq!(r.status, 409, "{r:?}");
    assert_eq!(r.json()["rejected"], "InsufficientFunds");
    assert_eq!(r.json()["seq"], 107);

    let r = server.post(
        "/admin/deposit",
        Some(TOKEN),
        &format!(r#"{{"account":1,"asset":1,"amount":{}}}"#, u64::MAX),
    );
    assert_eq!(r.status, 503, "{r:?}");

    {
        let submitted = server.fake.submitted.lock().expect("lock");
        assert_eq!(
            submitted[0],
            CommandBody::SetInstrumentStatus {
                instrument: 1,
                status: InstrumentStatus::Halted
            }
        );
        assert!(matches!(
            submitted[1],
            CommandBody::SetInstrumentStatus {
                status: InstrumentStatus::Trading,
                ..
            }
        ));
        assert!(matches!(
            submitted[2],
            CommandBody::SetInstrumentStatus {
                status: InstrumentStatus::CancelOnly,
                ..
            }
        ));
        let CommandBody::AddInstrument(spec) = submitted[3] else {
            panic!("{:?}", submitted[3]);
        };
        assert_eq!(
            (spec.instrument, spec.symbol, spec.breaker_halt_ns),
            (2, symbol("ETHUSD"), 2_000_000_000)
        );
        assert_eq!(
            submitted[4],
            CommandBody::Deposit {
                account: 7,
                asset: 2,
                amount: 500
            }
        );
        assert_eq!(submitted.len(), 8);
    }

    // Authentication.
    let r = server.post("/admin/halt/BTCUSD", None, "");
    assert_eq!(r.status, 401);
    assert!(r.head.contains("WWW-Authenticate: Bearer"));
    assert_eq!(
        server.post("/admin/halt/BTCUSD", Some("wrong"), "").status,
        401
    );
    assert_eq!(
        server
            .post("/admin/halt/BTCUSD", Some("s3cret-token2"), "")
            .status,
        401
    );
    assert_eq!(server.post("/admin/deposit", Some(""), "{}").status, 401);

    // Bad input.
    for (path, body) in [
        ("/admin/deposit", "{"),
        ("/admin/deposit", ""),
        ("/admin/deposit", r#"{"account": 1, "asset": 1}"#),
        (
            "/admin/deposit",
            r#"{"account": 1, "asset": 1, "amount": -5}"#,
        ),
        (
            "/admin/withdraw",
            r#"{"account": "x", "asset": 1, "amount": 5}"#,
        ),
        ("/admin/instruments", r#"{"id": 3}"#),
        (
            "/admin/instruments",
            &instrument.replace("ETHUSD", "TOOLONGSYM"),
        ),
        (
            "/admin/instruments",
            &instrument.replace("\"tick\"", "\"tock\""),
        ),
        ("/admin/halt/BAD%20SYM", ""),
    ] {
        let r = server.post(path, Some(TOKEN), body);
        assert_eq!(r.status, 400, "{path} {body}: {r:?}");
        assert!(r.json()["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    let r = server.post("/admin/halt/NOPE", Some(TOKEN), "");
    assert_eq!(r.status, 404);
    assert_eq!(server.post("/admin/nope", Some(TOKEN), "").status, 404);
    // Nothing more was submitted.
    assert_eq!(server.fake.submitted.lock().expect("lock").len(), 8);
}

#[test]
fn empty_token_refuses_every_post() {
    let server = Server::start("");
    for path in ["/admin/halt/BTCUSD", "/admin/deposit"] {
        let r = server.post(path, Some(""), "{}");
        assert_eq!(r.status, 403, "{r:?}");
        assert!(r.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("token")));
        assert_eq!(server.post(path, None, "{}").status, 403);
        assert_eq!(server.post(path, Some("anything"), "{}").status, 403);
    }
    assert!(server.fake.submitted.lock().expect("lock").is_empty());
    assert_eq!(server.get("/health").status, 200);
}

#[test]
fn limits_and_garbage() {
    let server = Server::start(TOKEN);
    let r = server.raw(b"POST /admin/deposit HTTP/1.1\r\nAuthorization: Bearer s3cret-token\r\nContent-Length: 70000\r\n\r\n");
    assert_eq!(r.status, 413, "{r:?}");
    // The oversize body actually sent: still a clean 413.
    let mut big = b"POST /admin/deposit HTTP/1.1\r\nContent-Length: 100000\r\n\r\n".to_vec();
    big.extend_from_slice(&vec![b'x'; 100_000]);
    assert_eq!(server.raw(&big).status, 413);

    let mut head = b"GET /health HTTP/1.1\r\nX-Fill: ".to_vec();
    head.extend_from_slice(&vec![b'a'; 9_000]);
    head.extend_from_slice(b"\r\n\r\n");
    assert_eq!(server.raw(&head).status, 431);

    assert_eq!(server.raw(b"\x00\x01\x02garbage\r\n\r\n").status, 400);
    assert_eq!(
        server
            .raw(b"GET /health HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
            .status,
        411
    );
    // A client that connects and leaves without a word: no answer, no harm.
    drop(TcpStream::connect(server.addr).expect("connect"));
    assert_eq!(server.get("/health").status, 200);
}

#[test]
fn slow_clients_time_out_and_excess_connections_get_503() {
    let limits = Limits {
        max_connections: 2,
        read_timeout: Duration::from_millis(1_000),
        request_deadline: Duration::from_millis(1_500),
        write_timeout: Duration::from_millis(1_000),
    };
    let server = Server::start_with(TOKEN, Some(limits));
    let mut idle: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(server.addr).expect("connect"))
        .collect();
    let mut third = TcpStream::connect(server.addr).expect("connect");
    third
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    assert_eq!(read_reply(&mut third).status, 503);
    for stream in &mut idle {
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let _ = stream.write_all(b"GET /hea");
        assert_eq!(read_reply(stream).status, 408);
    }
    // The slots are free again.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = server.get("/health");
        if r.status == 200 || Instant::now() > deadline {
            assert_eq!(r.status, 200);
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn stop_ends_the_server() {
    let mut server = Server::start(TOKEN);
    assert_eq!(server.get("/health").status, 200);
    let started = Instant::now();
    assert!(server.stop(), "server thread still running");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // Nobody accepts any more.
    let refused = TcpStream::connect_timeout(&server.addr, Duration::from_millis(500))
        .map(|mut s| {
            let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
            let _ = s.write_all(b"GET /health HTTP/1.1\r\n\r\n");
            let mut buf = [0u8; 16];
            !matches!(s.read(&mut buf), Ok(n) if n > 0)
        })
        .unwrap_or(true);
    assert!(refused);
}
