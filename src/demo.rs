//! `crossline demo`: starts the appliance on the embedded configuration in a temporary directory with its own
//! ports, trades through the client library, and prints what happened: replies, fills, the book as the engine
//! and as the ITCH feed see it, and order round-trip latency.

use crate::config::Config;
use crate::serve::start;
use anyhow::Context;
use crossline_engine::Side as EngineSide;
use crossline_net::client::{Client, ClientTimeouts, Credentials};
use crossline_net::feed::BookBuilder;
use crossline_net::ouch::{
    CancelOrder, Capacity, CrossType, Display, EnterOrder, IsoEligibility, Outbound, Quote, Side,
    TimeInForce,
};
use crossline_net::soupbin::SessionId;
use hdrhistogram::Histogram;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const REPLY_WAIT: Duration = Duration::from_secs(5);

fn symbol(text: &str) -> [u8; 8] {
    crossline_engine::symbol(text)
}

fn limit(
    user_ref_num: u32,
    side: Side,
    quantity: u32,
    symbol_text: &str,
    price: u64,
) -> EnterOrder {
    EnterOrder {
        user_ref_num,
        side,
        quantity,
        symbol: symbol(symbol_text),
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

/// Waits for the next message and describes it.
fn next_reply(client: &mut Client, who: &str) -> anyhow::Result<Outbound> {
    let deadline = Instant::now() + REPLY_WAIT;
    loop {
        if let Some(received) = client.poll_message(Duration::from_millis(50))? {
            let message = received.message;
            println!(
                "  {who:<5} <- #{:<3} {}",
                received.sequence_number,
                describe(&message)
            );
            return Ok(message);
        }
        if Instant::now() >= deadline {
            anyhow::bail!("{who}: no reply within {} s", REPLY_WAIT.as_secs());
        }
    }
}

fn price_text(price: u64) -> String {
    format!("{}.{:04}", price / 10_000, price % 10_000)
}

fn describe(message: &Outbound) -> String {
    match message {
        Outbound::OrderAccepted(m) => format!(
            "Accepted  ref {} {:?} {} @ {} (order {})",
            m.user_ref_num,
            m.side,
            m.quantity,
            price_text(m.price),
            m.order_reference_number
        ),
        Outbound::OrderExecuted(m) => format!(
            "Executed  ref {} {} @ {} ({:?}, match {})",
            m.user_ref_num,
            m.quantity,
            price_text(m.price),
            m.liquidity_flag,
            m.match_number
        ),
        Outbound::OrderCanceled(m) => format!(
            "Canceled  ref {} {} lots ({:?})",
            m.user_ref_num, m.quantity, m.reason
        ),
        Outbound::OrderRejected(m) => {
            let [high, low] = m.reason.0.to_be_bytes();
            let code = if high.is_ascii_uppercase() && low.is_ascii_uppercase() {
                format!("{}{}", high as char, low as char)
            } else {
                format!("{:#06x}", m.reason.0)
            };
            format!("Rejected  ref {} reason {code}", m.user_ref_num)
        }
        Outbound::QuoteStatus(m) => format!(
            "Quote     ref {} {:?} bid {} @ {} / ask {} @ {}",
            m.user_ref_num,
            m.status,
            m.bid_quantity,
            price_text(m.bid_price),
            m.ask_quantity,
            price_text(m.ask_price)
        ),
        other => format!("{other:?}"),
    }
}

/// Runs the demo; prints as it goes.
pub fn run() -> anyhow::Result<i32> {
    let data_dir = std::env::temp_dir().join(format!("crossline-demo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data_dir);
    let feed_socket = UdpSocket::bind("127.0.0.1:0").context("binding the demo's feed socket")?;
    feed_socket.set_read_timeout(Some(Duration::from_millis(20)))?;
    let feed_addr = feed_socket.local_addr()?;
    let mut config = Config::embedded()?;
    config.node.data_dir = data_dir.clone();
    config.gateway.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.admin.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.feed.retransmit_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    config.feed.tcp_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    config.feed.snapshot_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    config.feed.udp_destinations = vec![feed_addr];
    config.snapshot.interval_s = 0;
    let result = run_with(&config, &feed_socket);
    let _ = std::fs::remove_dir_all(&data_dir);
    result
}

fn run_with(config: &Config, feed_socket: &UdpSocket) -> anyhow::Result<i32> {
    println!("Starting the appliance (embedded configuration, data in a temporary directory)...");
    let appliance = start(config)?;
    let gateway = appliance.endpoints.order_entry;
    println!(
        "Order entry on {} ({}), ITCH feed to {}, admin HTTP on {}\n",
        gateway,
        appliance.endpoints.backend,
        feed_socket.local_addr()?,
        appliance
            .endpoints
            .admin
            .map_or(String::from("off"), |a| a.to_string())
    );
    // A subscriber thread reads the feed while the trading runs, as a real one would (the socket's buffer
    // would not hold the whole session's datagrams).
    let subscriber_socket = feed_socket.try_clone()?;
    let subscriber_stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let subscriber_flag = std::sync::Arc::clone(&subscriber_stop);
    let subscriber = std::thread::spawn(move || {
        let mut builder = BookBuilder::new(1);
        let mut datagram = [0u8; 2048];
        let mut applied_messages = 0usize;
        let mut gaps = 0usize;
        loop {
            match subscriber_socket.recv(&mut datagram) {
                Ok(len) => match builder.apply_packet(&datagram[..len]) {
                    Ok(crossline_net::feed::PacketOutcome::Applied { applied }) => {
                        applied_messages += usize::from(applied)
                    }
                    Ok(crossline_net::feed::PacketOutcome::Gap { .. }) => gaps += 1,
                    _ => {}
                },
                Err(_) if subscriber_flag.load(std::sync::atomic::Ordering::Acquire) => break,
                Err(_) => {}
            }
        }
        (builder, applied_messages, gaps)
    });
    let mut outcome = trade(&[gateway]);
    let book = {
        // Let the follower catch up with the engine before reading its book.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let engine_seq = crate::metrics::get(&appliance.metrics.engine.last_seq);
            let applied = appliance
                .follower_state
                .lock()
                .map(|s| s.applied_seq)
                .unwrap_or(0);
            if applied >= engine_seq || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        appliance
            .follower_state
            .lock()
            .map(|state| {
                (
                    state.engine.depth(1, EngineSide::Buy, 5),
                    state.engine.depth(1, EngineSide::Sell, 5),
                    state.engine.state_hash(),
                )
            })
            .ok()
    };
    // The feed's last packet leaves on the gateway's next flush.
    std::thread::sleep(Duration::from_millis(50));
    subscriber_stop.store(true, std::sync::atomic::Ordering::Release);
    let (builder, feed_messages, feed_gaps) = subscriber
        .join()
        .map_err(|_| anyhow::anyhow!("the feed subscriber thread panicked"))?;
    if let Ok((_, alice, bob)) = outcome.as_mut() {
        let _ = alice.logout();
        let _ = bob.logout();
    }
    appliance.shutdown();
    appliance.wait()?;
    let (latency, _, _) = outcome?;

    if let Some((bids, asks, hash)) = book {
        println!("\nACME book (engine, via the journal follower):");
        println!("  {:>12} {:>8} | {:<12} {:<8}", "bid", "qty", "ask", "qty");
        for i in 0..bids.len().max(asks.len()) {
            let bid = bids.get(i).map_or((String::new(), String::new()), |l| {
                (price_text(l.price as u64), l.qty.to_string())
            });
            let ask = asks.get(i).map_or((String::new(), String::new()), |l| {
                (price_text(l.price as u64), l.qty.to_string())
            });
            println!("  {:>12} {:>8} | {:<12} {:<8}", bid.0, bid.1, ask.0, ask.1);
        }
        let feed_bids = builder.depth(1, EngineSide::Buy, 5);
        let feed_asks = builder.depth(1, EngineSide::Sell, 5);
        let same = feed_bids.len() == bids.len()
            && feed_asks.len() == asks.len()
            && feed_bids
                .iter()
                .zip(&bids)
                .all(|(f, e)| i64::from(f.price) == e.price && f.shares == e.qty)
            && feed_asks
                .iter()
                .zip(&asks)
                .all(|(f, e)| i64::from(f.price) == e.price && f.shares == e.qty);
        println!(
            "  the ITCH feed ({} messages applied, {} gaps) rebuilds {} book; state hash {:016x}",
            feed_messages,
            feed_gaps,
            if same { "the same" } else { "a DIFFERENT" },
            hash
        );
    }
    println!(
        "\nOrder round trip (send -> Order Accepted, closed loop, {} orders, this machine):",
        latency.len()
    );
    for (label, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0)] {
        println!(
            "  {label:<4} {:>8.1} us",
            latency.value_at_quantile(q) as f64 / 1_000.0
        );
    }
    println!("\nFor open-loop numbers: cargo run --release -p crossline-bench -- --help");
    Ok(0)
}

fn connect(addresses: &[SocketAddr], user: &str, password: &str) -> anyhow::Result<Client> {
    let credentials = Credentials::new(user, password).map_err(|e| anyhow::anyhow!("{e}"))?;
    Client::connect(
        addresses,
        credentials,
        SessionId::BLANK,
        1,
        ClientTimeouts::default(),
    )
    .map_err(|error| anyhow::anyhow!("{user} could not log in: {error}"))
}

fn trade(addresses: &[SocketAddr]) -> anyhow::Result<(Histogram<u64>, Client, Client)> {
    let mut alice = connect(addresses, "alice", "alice-pw")?;
    let mut bob = connect(addresses, "bob", "bob-pw")?;
    println!("alice and bob logged in.\n\nalice builds a bid ladder on ACME, bob an ask ladder:");
    for (i, price) in [99_9900u64, 99_9800, 99_9700].into_iter().enumerate() {
        alice.enter_order(&limit(
            i as u32 + 1,
            Side::Buy,
            100 * (i as u32 + 1),
            "ACME",
            price,
        ))?;
        next_reply(&mut alice, "alice")?;
    }
    for (i, price) in [100_0100u64, 100_0200, 100_0300].into_iter().enumerate() {
        bob.enter_order(&limit(
            i as u32 + 1,
            Side::Sell,
            100 * (i as u32 + 1),
            "ACME",
            price,
        ))?;
        next_reply(&mut bob, "bob")?;
    }
    println!("\nbob sells 250 at 99.9800, through alice's two best bids:");
    bob.enter_order(&limit(10, Side::Sell, 250, "ACME", 99_9800))?;
    for _ in 0..3 {
        next_reply(&mut bob, "bob")?;
    }
    for _ in 0..2 {
        next_reply(&mut alice, "alice")?;
    }
    println!(
        "\ncarol is not logged in; alice quotes GLOBX two-sided, then cancels her 99.9700 bid:"
    );
    alice.quote(&Quote {
        user_ref_num: 20,
        symbol: symbol("GLOBX"),
        bid_price: 24_9950,
        bid_quantity: 500,
        ask_price: 25_0050,
        ask_quantity: 500,
    })?;
    next_reply(&mut alice, "alice")?;
    alice.cancel(&CancelOrder {
        user_ref_num: 3,
        quantity: 0,
        options: Default::default(),
    })?;
    next_reply(&mut alice, "alice")?;
    println!("\nand an order the engine refuses (price outside the band):");
    alice.enter_order(&limit(21, Side::Buy, 10, "ACME", 50_0000))?;
    next_reply(&mut alice, "alice")?;

    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
    let mut user_ref = 100u32;
    for _ in 0..2_000 {
        user_ref += 1;
        let sent = Instant::now();
        alice.enter_order(&limit(user_ref, Side::Buy, 1, "ACME", 95_0000))?;
        loop {
            let Some(received) = alice.poll_message(REPLY_WAIT)? else {
                anyhow::bail!("no reply to order {user_ref}");
            };
            if matches!(
                received.message,
                Outbound::OrderAccepted(_) | Outbound::OrderRejected(_)
            ) {
                break;
            }
        }
        let _ = latency.record(u64::try_from(sent.elapsed().as_nanos()).unwrap_or(u64::MAX));
        alice.cancel(&CancelOrder {
            user_ref_num: user_ref,
            quantity: 0,
            options: Default::default(),
        })?;
        while alice.poll_message(Duration::ZERO)?.is_some() {}
    }
    // The last cancel's reply, so that the book below is settled.
    drain_replies(&mut alice)?;
    Ok((latency, alice, bob))
}

fn drain_replies(client: &mut Client) -> anyhow::Result<()> {
    while client.poll_message(Duration::from_millis(100))?.is_some() {}
    Ok(())
}
