//! The appliance end to end: the real binary, real sockets on 127.0.0.1, a temporary directory.

mod common;

use common::*;
use crossline_net::ouch::{
    AccountQuery, CancelOrder, CancelReason, Inbound, MassCancel, Outbound, Quote, QuoteStatusCode,
    RejectReason, ReplaceOrder, Side,
};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

const QUIET: Duration = Duration::from_millis(300);

fn rejected_reason(message: &Outbound) -> RejectReason {
    match message {
        Outbound::OrderRejected(r) => r.reason,
        other => panic!("expected Order Rejected, got {other:?}"),
    }
}

#[test]
fn orders_trade_and_rejects_carry_reasons() {
    let site = Site::new(|text| text);
    let appliance = site.start();
    let addr = appliance.endpoints.order_entry;
    let mut alice = login(addr, "alice", 1);
    let mut bob = login(addr, "bob", 1);

    alice
        .enter_order(&limit(1, Side::Buy, 100, "ACME", 99_9900))
        .expect("send");
    let (seq, accepted) = next(&mut alice);
    assert_eq!(seq, 1);
    let Outbound::OrderAccepted(accepted) = accepted else {
        panic!("{accepted:?}")
    };
    assert_eq!((accepted.quantity, accepted.price), (100, 99_9900));

    // Bob sells through: both sides hear of the trade at alice's price.
    bob.enter_order(&limit(1, Side::Sell, 60, "ACME", 99_0000))
        .expect("send");
    let replies: Vec<Outbound> = (0..2).map(|_| next(&mut bob).1).collect();
    assert!(
        matches!(replies[0], Outbound::OrderAccepted(_)),
        "{replies:?}"
    );
    let Outbound::OrderExecuted(taker) = replies[1] else {
        panic!("{replies:?}")
    };
    assert_eq!((taker.quantity, taker.price), (60, 99_9900));
    let Outbound::OrderExecuted(maker) = next(&mut alice).1 else {
        panic!("maker execution")
    };
    assert_eq!((maker.user_ref_num, maker.quantity), (1, 60));

    // Replace the rest to a new price and size; then cancel it.
    alice
        .replace(&ReplaceOrder {
            orig_user_ref_num: 1,
            user_ref_num: 2,
            quantity: 30,
            price: 99_9800,
            time_in_force: crossline_net::ouch::TimeInForce::Day,
            display: crossline_net::ouch::Display::Visible,
            intermarket_sweep: crossline_net::ouch::IsoEligibility::NotEligible,
            cl_ord_id: [b' '; 14],
            options: Default::default(),
        })
        .expect("send");
    assert!(matches!(next(&mut alice).1, Outbound::OrderReplaced(_)));
    alice
        .cancel(&CancelOrder {
            user_ref_num: 2,
            quantity: 0,
            options: Default::default(),
        })
        .expect("send");
    let Outbound::OrderCanceled(canceled) = next(&mut alice).1 else {
        panic!("cancel")
    };
    assert_eq!(canceled.reason, CancelReason::UserRequested);

    // Rejects, each with its reason: UserRefNum not above the last, unknown symbol, outside the price band,
    // over the account's maximum quantity.
    alice
        .enter_order(&limit(2, Side::Buy, 1, "ACME", 99_0000))
        .expect("send");
    assert_eq!(rejected_reason(&next(&mut alice).1), RejectReason::OTHER);
    alice
        .enter_order(&limit(3, Side::Buy, 1, "NOPE", 99_0000))
        .expect("send");
    assert_eq!(
        rejected_reason(&next(&mut alice).1),
        RejectReason::INVALID_SYMBOL
    );
    alice
        .enter_order(&limit(4, Side::Buy, 1, "ACME", 50_0000))
        .expect("send");
    assert_eq!(
        rejected_reason(&next(&mut alice).1),
        RejectReason::PRICE_BAND
    );
    alice
        .enter_order(&limit(5, Side::Buy, 2_000_000, "ACME", 99_0000))
        .expect("send");
    assert_eq!(
        rejected_reason(&next(&mut alice).1),
        RejectReason::SHARES_EXCEED_THRESHOLD
    );

    // A quote, a crossed quote (rejected), an account query, a mass cancel.
    alice
        .quote(&Quote {
            user_ref_num: 6,
            symbol: crossline_engine::symbol("GLOBX"),
            bid_price: 24_9900,
            bid_quantity: 100,
            ask_price: 25_0100,
            ask_quantity: 100,
        })
        .expect("send");
    let Outbound::QuoteStatus(status) = next(&mut alice).1 else {
        panic!("quote status")
    };
    assert_eq!(status.status, QuoteStatusCode::Accepted);
    alice
        .quote(&Quote {
            user_ref_num: 7,
            symbol: crossline_engine::symbol("GLOBX"),
            bid_price: 25_0100,
            bid_quantity: 100,
            ask_price: 24_9900,
            ask_quantity: 100,
        })
        .expect("send");
    let Outbound::QuoteStatus(status) = next(&mut alice).1 else {
        panic!("quote status")
    };
    assert_eq!(status.status, QuoteStatusCode::Rejected);
    alice
        .send(&Inbound::AccountQuery(AccountQuery {
            options: Default::default(),
        }))
        .expect("send");
    let Outbound::AccountQueryResponse(query) = next(&mut alice).1 else {
        panic!("account query")
    };
    assert_eq!(query.next_user_ref_num, 8);
    alice
        .mass_cancel(&MassCancel {
            user_ref_num: 8,
            firm: *b"ALCE",
            symbol: [b' '; 8],
            options: Default::default(),
        })
        .expect("send");
    let replies = drain(&mut alice, QUIET);
    assert!(
        replies
            .iter()
            .any(|(_, m)| matches!(m, Outbound::MassCancelResponse(_))),
        "{replies:?}"
    );
    // The quote's two sides were cancelled by it.
    assert_eq!(
        replies
            .iter()
            .filter(|(_, m)| matches!(m, Outbound::OrderCanceled(_)))
            .count(),
        2,
        "{replies:?}"
    );
    assert!(appliance.terminate().success());
}

#[test]
fn a_dropped_connection_cancels_its_orders_and_replay_shows_it() {
    let site = Site::new(|text| text);
    let appliance = site.start();
    let addr = appliance.endpoints.order_entry;
    let mut alice = login(addr, "alice", 1);
    for (i, price) in [99_0000u64, 98_0000].into_iter().enumerate() {
        alice
            .enter_order(&limit(i as u32 + 1, Side::Buy, 10, "ACME", price))
            .expect("send");
        assert!(matches!(next(&mut alice).1, Outbound::OrderAccepted(_)));
    }
    // carol does not cancel on disconnect; alice does.
    let mut carol = login(addr, "carol", 1);
    carol
        .enter_order(&limit(1, Side::Sell, 10, "ACME", 101_0000))
        .expect("send");
    assert!(matches!(next(&mut carol).1, Outbound::OrderAccepted(_)));
    drop(alice);
    drop(carol);
    std::thread::sleep(Duration::from_millis(300));

    // Logging in again from sequence 1 replays the whole stream: the two acceptances, then the cancels.
    let mut alice = login(addr, "alice", 1);
    let replayed = drain(&mut alice, QUIET);
    let kinds: Vec<u64> = replayed.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(kinds, (1..=kinds.len() as u64).collect::<Vec<_>>());
    let cancels = replayed
        .iter()
        .filter(|(_, m)| matches!(m, Outbound::OrderCanceled(_)))
        .count();
    assert_eq!(cancels, 2, "{replayed:?}");
    // Carol's order is still there: bob can trade with it.
    let mut bob = login(addr, "bob", 1);
    bob.enter_order(&limit(1, Side::Buy, 10, "ACME", 101_0000))
        .expect("send");
    assert!(matches!(next(&mut bob).1, Outbound::OrderAccepted(_)));
    let Outbound::OrderExecuted(fill) = next(&mut bob).1 else {
        panic!("fill against carol")
    };
    assert_eq!(fill.quantity, 10);
    assert!(appliance.terminate().success());
}

#[test]
fn restart_resumes_every_session_by_sequence_number() {
    let site = Site::new(|text| text);
    let appliance = site.start();
    let addr = appliance.endpoints.order_entry;
    let mut carol = login(addr, "carol", 1);
    let mut before = Vec::new();
    for i in 1..=20u32 {
        carol
            .enter_order(&limit(
                i,
                Side::Sell,
                5,
                "GLOBX",
                25_0000 + u64::from(i) * 50,
            ))
            .expect("send");
        before.push(next(&mut carol));
    }
    let resume = carol.resume_seq();
    drop(carol);
    let status = appliance.terminate();
    assert!(status.success(), "{status:?}");

    let appliance = site.start();
    let addr = appliance.endpoints.order_entry;
    // Everything from 1 is replayed identically, from the journal (carol does not cancel on disconnect).
    let mut carol = login(addr, "carol", 1);
    let replayed = drain(&mut carol, QUIET);
    assert!(
        replayed == before,
        "replay after restart differs: {} messages vs {}",
        replayed.len(),
        before.len()
    );
    drop(carol);
    // Resuming where the client left off gets only new messages, numbered on.
    let mut carol = login(addr, "carol", resume);
    carol
        .enter_order(&limit(21, Side::Sell, 5, "GLOBX", 26_0000))
        .expect("send");
    let (seq, message) = next(&mut carol);
    assert_eq!(seq, resume);
    assert!(matches!(message, Outbound::OrderAccepted(_)));
    // The UserRefNum rule survived the restart too.
    carol
        .enter_order(&limit(21, Side::Sell, 5, "GLOBX", 26_0000))
        .expect("send");
    assert_eq!(rejected_reason(&next(&mut carol).1), RejectReason::OTHER);
    assert!(appliance.terminate().success());

    let verify = std::process::Command::new(env!("CARGO_BIN_EXE_crossline"))
        .args(["journal", "verify"])
        .arg(site.journal_dir())
        .output()
        .expect("journal verify");
    assert!(verify.status.success(), "{verify:?}");
}

#[test]
fn sigkill_under_durable_acks_loses_no_acknowledged_order() {
    let site = Site::new(|text| {
        text.replace("policy = \"local\"", "policy = \"durable\"")
            .replace("fsync = \"interval\"", "fsync = \"batch\"")
    });
    // Alice buys and carol sells at one price, so the streams carry fills as well as acceptances.
    let users = ["alice", "carol"];
    let mut acknowledged: [Vec<(u64, Outbound)>; 2] = [Vec::new(), Vec::new()];
    let mut next_ref = [1u32, 1u32];
    for round in 0..3 {
        let appliance = site.start();
        let addr = appliance.endpoints.order_entry;
        let mut clients = users.map(|user| login(addr, user, 1));
        for (i, client) in clients.iter_mut().enumerate() {
            // Everything acknowledged before the kill comes back, byte for byte and number for number.
            let replayed = drain(client, QUIET);
            assert!(
                replayed.len() >= acknowledged[i].len(),
                "round {round}, {}: {} replayed, {} acknowledged before",
                users[i],
                replayed.len(),
                acknowledged[i].len()
            );
            assert!(
                replayed[..acknowledged[i].len()] == acknowledged[i][..],
                "round {round}, {}: an acknowledged message changed or went missing",
                users[i]
            );
            // No fill is reported twice.
            let mut matches: Vec<u64> = replayed
                .iter()
                .filter_map(|(_, m)| match m {
                    Outbound::OrderExecuted(e) => Some(e.match_number),
                    _ => None,
                })
                .collect();
            let fills = matches.len();
            matches.sort_unstable();
            matches.dedup();
            assert_eq!(matches.len(), fills, "round {round}: a duplicate fill");
            acknowledged[i] = replayed;
        }
        // Pipeline a burst and kill the process while replies are still coming.
        for _ in 0..100 {
            for (i, (client, side)) in clients.iter_mut().zip([Side::Buy, Side::Sell]).enumerate() {
                client
                    .enter_order(&limit(next_ref[i], side, 1, "ACME", 90_0000))
                    .expect("send");
                next_ref[i] += 1;
            }
        }
        for (i, client) in clients.iter_mut().enumerate() {
            for _ in 0..25 {
                acknowledged[i].push(next(client));
            }
        }
        appliance.kill();
        // Whatever else arrived before the kill was acknowledged too.
        for (i, client) in clients.iter_mut().enumerate() {
            acknowledged[i].extend(drain(client, Duration::from_millis(100)));
        }
    }
}

#[test]
fn durable_replies_ask_for_their_sync_instead_of_waiting_out_the_flush_interval() {
    // An interval far longer than the reply timeout: a reply that waited for the flusher's timer would never come.
    let site = Site::new(|text| {
        let text = text.replace("policy = \"local\"", "policy = \"durable\"");
        assert!(
            text.contains("fsync_interval_ms = 10\n"),
            "the example's interval moved"
        );
        text.replace("fsync_interval_ms = 10\n", "fsync_interval_ms = 60000\n")
    });
    let appliance = site.start();
    let mut alice = login(appliance.endpoints.order_entry, "alice", 1);
    let mut acknowledged = Vec::new();
    for user_ref in 1..=20u32 {
        alice
            .enter_order(&limit(user_ref, Side::Buy, 1, "ACME", 90_0000))
            .expect("send");
        let (sequence, reply) = next(&mut alice);
        assert!(matches!(reply, Outbound::OrderAccepted(_)), "{reply:?}");
        acknowledged.push((sequence, reply));
    }
    // Every acknowledged order is on disk: killed now, the appliance comes back with all of them.
    appliance.kill();
    let appliance = site.start();
    let mut alice = login(appliance.endpoints.order_entry, "alice", 1);
    let replayed = drain(&mut alice, QUIET);
    assert!(
        replayed.len() >= acknowledged.len() && replayed[..acknowledged.len()] == acknowledged[..],
        "{} replayed, {} acknowledged before the kill",
        replayed.len(),
        acknowledged.len()
    );
    assert!(appliance.terminate().success());
}

#[test]
fn garbage_and_wrong_logins_do_not_disturb_other_sessions() {
    let site = Site::new(|text| text);
    let appliance = site.start();
    let addr = appliance.endpoints.order_entry;
    let mut bob = login(addr, "bob", 1);

    // A frame of garbage: the connection is closed (after a Debug packet), nothing else happens.
    let mut raw = TcpStream::connect(addr).expect("connect");
    raw.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    raw.write_all(&[0, 3, b'Z', 1, 2]).expect("write");
    let mut buf = [0u8; 256];
    let mut closed = false;
    for _ in 0..20 {
        match raw.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(_) => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    assert!(closed, "garbage should close the connection");

    // An oversized frame length: closed too.
    let mut raw = TcpStream::connect(addr).expect("connect");
    raw.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    raw.write_all(&[0xFF, 0xFF, b'L']).expect("write");
    let mut closed = false;
    for _ in 0..20 {
        match raw.read(&mut buf) {
            Ok(0) | Err(_) => {
                closed = true;
                break;
            }
            Ok(_) => {}
        }
    }
    assert!(closed, "an oversized frame should close the connection");

    // A wrong password is refused.
    let refused = crossline_net::client::Client::connect(
        &[addr],
        crossline_net::client::Credentials::new("alice", "wrong").expect("credentials"),
        crossline_net::soupbin::SessionId::BLANK,
        1,
        crossline_net::client::ClientTimeouts::default(),
    );
    assert!(refused.is_err());

    // Bob never noticed.
    bob.enter_order(&limit(1, Side::Buy, 1, "ACME", 99_0000))
        .expect("send");
    assert!(matches!(next(&mut bob).1, Outbound::OrderAccepted(_)));
    assert!(appliance.terminate().success());
}

#[test]
fn an_over_rate_session_is_refused_then_penalized() {
    let site = Site::new(|text| {
        text.replace("rate_limit_per_s = 200000", "rate_limit_per_s = 1")
            .replace("rate_limit_burst = 20000", "rate_limit_burst = 5")
            .replace("penalty_refuse_s = 10", "penalty_refuse_s = 30")
    });
    let appliance = site.start();
    let addr = appliance.endpoints.order_entry;
    let mut carol = login(addr, "carol", 1);
    for i in 1..=7u32 {
        carol
            .enter_order(&limit(i, Side::Buy, 1, "ACME", 99_0000))
            .expect("send");
    }
    let replies = drain(&mut carol, QUIET);
    let accepted = replies
        .iter()
        .filter(|(_, m)| matches!(m, Outbound::OrderAccepted(_)))
        .count();
    let limited = replies
        .iter()
        .filter(|(_, m)| matches!(m, Outbound::OrderRejected(r) if r.reason == RejectReason::RATE_LIMITED))
        .count();
    assert_eq!((accepted, limited), (5, 2), "{replies:?}");
    // The third breach within the window disconnects.
    let _ = carol.enter_order(&limit(8, Side::Buy, 1, "ACME", 99_0000));
    let _ = drain(&mut carol, QUIET);
    assert!(
        carol
            .enter_order(&limit(9, Side::Buy, 1, "ACME", 99_0000))
            .is_err()
            || !carol.is_open()
            || carol.poll_message(QUIET).is_err(),
        "the session should be closed"
    );
    // ... and a new login is cut off while the penalty lasts.
    if let Ok(mut again) = crossline_net::client::Client::connect(
        &[addr],
        crossline_net::client::Credentials::new("carol", "carol-pw").expect("credentials"),
        crossline_net::soupbin::SessionId::BLANK,
        0,
        crossline_net::client::ClientTimeouts::default(),
    ) {
        assert!(again.poll_message(QUIET).is_err() || !again.is_open());
    }
    // Others trade on.
    let mut bob = login(addr, "bob", 1);
    bob.enter_order(&limit(1, Side::Buy, 1, "ACME", 99_0000))
        .expect("send");
    assert!(matches!(next(&mut bob).1, Outbound::OrderAccepted(_)));
    assert!(appliance.terminate().success());
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|error| panic!("not JSON ({error}): {body}"))
}

/// Waits until the follower has applied everything the engine has (GET /health's lag reaches 0).
fn settled_health(admin: std::net::SocketAddr) -> serde_json::Value {
    for _ in 0..200 {
        let (status, body) = http(admin, "GET", "/health", None, "");
        assert_eq!(status, 200, "{body}");
        let health = json(&body);
        if health["lag"] == 0 {
            return health;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the follower never caught up");
}

#[test]
fn admin_views_match_the_feed_and_operator_commands_are_journaled() {
    let site = Site::new(|text| text);
    let appliance = site.start();
    let addr = appliance.endpoints.order_entry;
    let admin = appliance.endpoints.admin.expect("admin endpoint");
    let mut alice = login(addr, "alice", 1);
    let mut bob = login(addr, "bob", 1);
    for (i, price) in [99_9900u64, 99_9800, 99_9700].into_iter().enumerate() {
        alice
            .enter_order(&limit(i as u32 + 1, Side::Buy, 100, "ACME", price))
            .expect("send");
        next(&mut alice);
        bob.enter_order(&limit(i as u32 + 1, Side::Sell, 100, "ACME", price + 500))
            .expect("send");
        next(&mut bob);
    }
    bob.enter_order(&limit(10, Side::Sell, 150, "ACME", 99_9800))
        .expect("send");
    let _ = drain(&mut bob, QUIET);
    let _ = drain(&mut alice, QUIET);
    let health = settled_health(admin);

    // The book as the follower's engine has it...
    let (status, body) = http(admin, "GET", "/book/ACME?levels=10", None, "");
    assert_eq!(status, 200, "{body}");
    let book = json(&body);
    let levels = |side: &str| -> Vec<(i64, u64)> {
        book[side]
            .as_array()
            .expect("levels")
            .iter()
            .map(|l| {
                (
                    l["price"].as_i64().expect("price"),
                    l["qty"].as_u64().expect("qty"),
                )
            })
            .collect()
    };
    assert_eq!(levels("bids"), vec![(99_9800, 50), (99_9700, 100)]);
    assert_eq!(
        levels("asks"),
        vec![(100_0200, 100), (100_0300, 100), (100_0400, 100)]
    );
    // ... and as the ITCH feed rebuilds it.
    let mut builder = crossline_net::feed::BookBuilder::new(1);
    let mut datagram = [0u8; 2048];
    while let Ok(len) = site.feed.recv(&mut datagram) {
        builder.apply_packet(&datagram[..len]).expect("feed packet");
    }
    let feed = |side| -> Vec<(i64, u64)> {
        builder
            .depth(1, side, 10)
            .iter()
            .map(|l| (i64::from(l.price), l.shares))
            .collect()
    };
    assert_eq!(feed(crossline_engine::Side::Buy), levels("bids"));
    assert_eq!(feed(crossline_engine::Side::Sell), levels("asks"));

    let (status, body) = http(admin, "GET", "/trades/ACME", None, "");
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["trades"].as_array().expect("trades").len(), 2);
    let (status, body) = http(admin, "GET", "/candles/ACME?interval=1m", None, "");
    assert_eq!(status, 200, "{body}");
    assert!(!json(&body)["candles"]
        .as_array()
        .expect("candles")
        .is_empty());
    let (status, body) = http(admin, "GET", "/metrics", None, "");
    assert_eq!(status, 200);
    assert!(body.contains("crossline_"), "{body}");
    // Each reply's latency runs from its message's receipt to the reply, on clocks read at those two moments: with
    // the engine in the gateway's loop both fall in one iteration, and a single clock read would make them all 0.
    let bucket = |le: &str| -> u64 {
        let key = format!("crossline_gateway_reply_latency_seconds_bucket{{le=\"{le}\"}} ");
        body.lines()
            .find_map(|line| line.strip_prefix(key.as_str()))
            .and_then(|count| count.trim().parse().ok())
            .unwrap_or_else(|| panic!("no bucket {le} in {body}"))
    };
    let replies = bucket("+Inf");
    assert!(replies > 0, "{body}");
    assert!(bucket("0.000000002") < replies, "{body}");

    // Operator commands need the token, and become sequenced commands the engine applies.
    let (status, _) = http(admin, "POST", "/admin/halt/ACME", None, "");
    assert_eq!(status, 401);
    let (status, body) = http(admin, "POST", "/admin/halt/ACME", Some("change-me"), "");
    assert_eq!(status, 200, "{body}");
    alice
        .enter_order(&limit(20, Side::Buy, 1, "ACME", 99_0000))
        .expect("send");
    assert_eq!(
        rejected_reason(&next(&mut alice).1),
        RejectReason::INSTRUMENT_HALTED
    );
    let (status, body) = http(admin, "POST", "/admin/resume/ACME", Some("change-me"), "");
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(
        admin,
        "POST",
        "/admin/deposit",
        Some("change-me"),
        r#"{"account": 3, "asset": 0, "amount": 1000}"#,
    );
    assert_eq!(status, 200, "{body}");
    let (status, body) = http(
        admin,
        "POST",
        "/admin/withdraw",
        Some("change-me"),
        r#"{"account": 3, "asset": 0, "amount": 1000000000000000000000"}"#,
    );
    assert!(status == 400 || status == 409, "{status} {body}");
    drop(alice);
    drop(bob);
    let before = settled_health(admin);
    assert!(before["applied_seq"].as_u64() > health["applied_seq"].as_u64());
    assert!(appliance.terminate().success());

    // After a restart the state hash at the same sequence number is the same.
    let appliance = site.start();
    let admin = appliance.endpoints.admin.expect("admin endpoint");
    let after = settled_health(admin);
    assert_eq!(after["applied_seq"], before["applied_seq"]);
    assert_eq!(after["state_hash"], before["state_hash"]);
    assert!(appliance.terminate().success());
}

#[test]
fn a_good_till_time_order_expires_on_time_with_no_other_traffic() {
    let site = Site::new(|text| text);
    let appliance = site.start();
    let mut carol = login(appliance.endpoints.order_entry, "carol", 1);
    let mut order = limit(1, Side::Buy, 10, "ACME", 99_0000);
    order.time_in_force = crossline_net::ouch::TimeInForce::Gtt;
    order.options.expire_time_s = Some(1);
    carol.enter_order(&order).expect("send");
    assert!(matches!(next(&mut carol).1, Outbound::OrderAccepted(_)));
    // Nothing else is sent: the sequencer's tick runs the expiry.
    let started = std::time::Instant::now();
    let Outbound::OrderCanceled(canceled) = next(&mut carol).1 else {
        panic!("expected the expiry")
    };
    assert_eq!(canceled.reason, CancelReason::Timeout);
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(appliance.terminate().success());
}

#[test]
fn the_gateway_trades_on_a_submission_polling_ring() {
    let site = Site::new(|text| text.replace("# sqpoll_core = 3", "sqpoll_core = 0"));
    let appliance = site.start();
    let mut bob = login(appliance.endpoints.order_entry, "bob", 1);
    for i in 1..=20u32 {
        bob.enter_order(&limit(i, Side::Buy, 1, "ACME", 99_0000))
            .expect("send");
        assert!(matches!(next(&mut bob).1, Outbound::OrderAccepted(_)));
    }
    assert!(appliance.terminate().success());
}

#[test]
fn an_engine_on_a_parking_thread_of_its_own_is_woken_for_every_command() {
    // The default runs the engine in the gateway's loop; this layout gives it a thread that parks when idle.
    let site = Site::new(|text| {
        assert!(text.contains("engine = { thread = \"gateway\" }"), "{text}");
        text.replace(
            "engine = { thread = \"gateway\" }",
            "engine = { idle = \"backoff-park\" }",
        )
    });
    let appliance = site.start();
    let mut carol = login(appliance.endpoints.order_entry, "carol", 1);
    for i in 1..=20u32 {
        // Pauses long enough for the engine thread to park between orders.
        std::thread::sleep(Duration::from_millis(3));
        carol
            .enter_order(&limit(i, Side::Buy, 1, "ACME", 99_0000))
            .expect("send");
        assert!(matches!(next(&mut carol).1, Outbound::OrderAccepted(_)));
    }
    assert!(appliance.terminate().success());
}

#[test]
fn a_listener_that_missed_feed_packets_gets_them_again_from_the_retransmission_port() {
    use crossline_net::moldudp64::{Packet, PacketKind, RequestPacket};
    let site = Site::new(|text| text);
    let appliance = site.start();
    let retransmit = appliance
        .endpoints
        .feed_retransmit
        .expect("retransmission endpoint");
    let mut alice = login(appliance.endpoints.order_entry, "alice", 1);
    for i in 0..3u32 {
        alice
            .enter_order(&limit(
                i + 1,
                Side::Buy,
                100,
                "ACME",
                99_9000 - u64::from(i) * 100,
            ))
            .expect("send");
        next(&mut alice);
    }
    let _ = drain(&mut alice, QUIET);

    // What the live feed carried, by sequence number.
    let mut session = None;
    let mut sent: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut datagram = [0u8; 2048];
    while let Ok(len) = site.feed.recv(&mut datagram) {
        let packet = Packet::decode(&datagram[..len]).expect("feed packet");
        if packet.kind() == PacketKind::Data {
            session = Some(packet.header.session);
            sent.extend(packet.messages().map(|(seq, bytes)| (seq, bytes.to_vec())));
        }
    }
    let session = session.expect("the feed sent data packets");
    assert!(sent.len() >= 3, "{} messages on the feed", sent.len());
    assert_eq!(sent[0].0, 1);

    // A listener that lost all of it asks for it again.
    let listener = std::net::UdpSocket::bind("127.0.0.1:0").expect("listener socket");
    listener
        .set_read_timeout(Some(REPLY_TIMEOUT))
        .expect("timeout");
    let mut request = [0u8; 20];
    let len = RequestPacket {
        session,
        sequence_number: 1,
        requested_message_count: sent.len() as u16,
    }
    .encode(&mut request)
    .expect("request");
    listener
        .send_to(&request[..len], retransmit)
        .expect("send request");
    let len = listener.recv(&mut datagram).expect("an answer");
    let answer = Packet::decode(&datagram[..len]).expect("answer packet");
    assert_eq!(answer.kind(), PacketKind::Data);
    assert_eq!(answer.header.session, session);
    let resent: Vec<(u64, Vec<u8>)> = answer
        .messages()
        .map(|(seq, bytes)| (seq, bytes.to_vec()))
        .collect();
    assert!(!resent.is_empty());
    assert_eq!(resent[..], sent[..resent.len()], "the same messages again");
}

/// The scheduling policy of each thread of process `pid`, by thread name (0 = SCHED_OTHER, 3 = SCHED_BATCH).
fn thread_policies(pid: u32) -> std::collections::BTreeMap<String, u32> {
    let mut policies = std::collections::BTreeMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("task list") {
        let task = task.expect("task").path();
        let (Ok(name), Ok(stat)) = (
            std::fs::read_to_string(task.join("comm")),
            std::fs::read_to_string(task.join("stat")),
        ) else {
            continue;
        };
        // Field 41 (`policy`), counted after the parenthesized command name.
        let policy = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(38))
            .and_then(|field| field.parse().ok())
            .expect("policy field");
        policies.insert(name.trim().to_string(), policy);
    }
    policies
}

#[test]
fn background_threads_never_preempt_on_waking_unless_told_and_the_flusher_always_may() {
    const OTHER: u32 = 0;
    const BATCH: u32 = 3;
    let background = [
        "journal-prepare",
        "crossline-feed",
        "crossline-follo",
        "admin-http",
    ];
    type ConfigEdit = fn(String) -> String;
    let cases: [(&str, ConfigEdit, u32); 2] = [
        ("the default", |text| text, BATCH),
        (
            "background = normal",
            |text| text.replace("background = \"batch\"", "background = \"normal\""),
            OTHER,
        ),
    ];
    for (case, edit, others_policy) in cases {
        let site = Site::new(edit);
        let appliance = site.start();
        // A new thread names itself once it first runs: wait until every thread has.
        let deadline = std::time::Instant::now() + REPLY_TIMEOUT;
        let policies = loop {
            let policies = thread_policies(appliance.child.id());
            let named = background
                .iter()
                .chain(&["crossline-gatew", "journal-flusher"])
                .all(|name| policies.contains_key(*name));
            if named || std::time::Instant::now() > deadline {
                break policies;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(
            policies.get("crossline-gatew"),
            Some(&OTHER),
            "{case}: {policies:?}"
        );
        // The flusher bounds what a power loss can take: it stays an ordinary thread.
        assert_eq!(
            policies.get("journal-flusher"),
            Some(&OTHER),
            "{case}: {policies:?}"
        );
        for name in background {
            assert_eq!(
                policies.get(name),
                Some(&others_policy),
                "{case}, {name}: {policies:?}"
            );
        }
        // The appliance trades as before.
        let mut alice = login(appliance.endpoints.order_entry, "alice", 1);
        alice
            .enter_order(&limit(1, Side::Buy, 100, "ACME", 99_9000))
            .expect("send");
        let (_, reply) = next(&mut alice);
        assert!(
            matches!(reply, Outbound::OrderAccepted(_)),
            "{case}: {reply:?}"
        );
    }
}
