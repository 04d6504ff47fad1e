//! The ITCH 5.0 feed: encoder output against the codec, a real engine's book rebuilt from MoldUDP64 packets,
//! gaps filled from the retransmission store, heartbeats, and the same over real UDP on 127.0.0.1.

mod common;

use common::market;

use crossline_engine::{
    self as engine, symbol, BookEvent, Command, CommandBody, Engine, EngineConfig, Event,
    InstrumentStatus, OrderType, TradingActionReason,
};
use crossline_net::feed::*;
use crossline_net::itch::{self, BuySell, EventCode, Message, TradingState};
use crossline_net::moldudp64::{Packet, PacketKind, RequestPacket};
use crossline_net::translate::InstrumentTable;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const ACME: engine::InstrumentId = 1;
const LOCATE: u16 = 1;
const TS_NS: u64 = 34_200_000_000_123;
const SESSION: [u8; 10] = *b"FEEDTEST01";
const INSTRUMENTS: [(engine::InstrumentId, engine::Symbol); 1] = [(ACME, *b"ACME    ")];

fn encoder() -> FeedEncoder<InstrumentTable<'static>> {
    FeedEncoder::new(InstrumentTable {
        instruments: &INSTRUMENTS,
    })
}

/// Encodes through the encoder, writes bytes, checks type byte and length, and decodes with the codec.
fn wire(message: Message) -> (Vec<u8>, Message) {
    let mut out = [0u8; 64];
    let len = message.encode(&mut out).unwrap();
    assert_eq!(len, message.encoded_len());
    let bytes = out[..len].to_vec();
    let decoded = Message::decode(&bytes).unwrap();
    assert_eq!(decoded, message);
    (bytes, decoded)
}

fn book(event: BookEvent) -> Message {
    encoder().encode_book_event(&event, TS_NS).unwrap()
}

#[test]
fn every_message_type_encodes_to_the_codec_layout() {
    let (bytes, add) = wire(book(BookEvent::Add {
        instrument: ACME,
        order_ref: 0x0102_0304_0506_0708,
        side: engine::Side::Sell,
        price: 1_234_500,
        qty: 300,
    }));
    // Add Order, written from the specification: type, locate, tracking, 6-byte timestamp, ref, side, shares,
    // stock, price.
    let mut golden = vec![b'A', 0, 1, 0, 0];
    golden.extend_from_slice(&TS_NS.to_be_bytes()[2..]);
    golden.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, b'S', 0, 0, 1, 44]);
    golden.extend_from_slice(b"ACME    ");
    golden.extend_from_slice(&1_234_500u32.to_be_bytes());
    assert_eq!(bytes, golden);
    assert_eq!(bytes.len(), 36);
    let Message::AddOrder(add) = add else {
        panic!()
    };
    assert_eq!(
        (
            add.stock_locate,
            add.tracking_number,
            add.timestamp_ns,
            add.side,
            add.shares
        ),
        (LOCATE, 0, TS_NS, BuySell::Sell, 300)
    );

    let (bytes, executed) = wire(book(BookEvent::Execute {
        instrument: ACME,
        order_ref: 9,
        qty: 40,
        price: 10_000,
        match_number: 77,
    }));
    assert_eq!((bytes[0], bytes.len()), (b'E', 31));
    let Message::OrderExecuted(e) = executed else {
        panic!()
    };
    assert_eq!(
        (e.order_reference_number, e.executed_shares, e.match_number),
        (9, 40, 77)
    );

    let (bytes, cancel) = wire(book(BookEvent::Cancel {
        instrument: ACME,
        order_ref: 9,
        qty: 5,
    }));
    assert_eq!((bytes[0], bytes.len()), (b'X', 23));
    let Message::OrderCancel(x) = cancel else {
        panic!()
    };
    assert_eq!(
        (x.stock_locate, x.order_reference_number, x.cancelled_shares),
        (LOCATE, 9, 5)
    );

    let (bytes, delete) = wire(book(BookEvent::Delete {
        instrument: ACME,
        order_ref: 9,
    }));
    assert_eq!((bytes[0], bytes.len()), (b'D', 19));
    let Message::OrderDelete(d) = delete else {
        panic!()
    };
    assert_eq!((d.order_reference_number, d.timestamp_ns), (9, TS_NS));

    let (bytes, replace) = wire(book(BookEvent::Replace {
        instrument: ACME,
        old_ref: 9,
        new_ref: 10,
        price: 10_100,
        qty: 70,
    }));
    assert_eq!((bytes[0], bytes.len()), (b'U', 35));
    let Message::OrderReplace(u) = replace else {
        panic!()
    };
    assert_eq!(
        (
            u.original_order_reference_number,
            u.new_order_reference_number,
            u.shares,
            u.price
        ),
        (9, 10, 70, 10_100)
    );

    let halt = Event::TradingAction {
        instrument: ACME,
        status: InstrumentStatus::Halted,
        reason: TradingActionReason::CircuitBreaker,
    };
    let (bytes, halt) = wire(encoder().encode_event(&halt, TS_NS).unwrap().unwrap());
    assert_eq!((bytes[0], bytes.len()), (b'H', 25));
    let Message::StockTradingAction(h) = halt else {
        panic!()
    };
    assert_eq!(
        (h.stock, h.trading_state, h.reason),
        (*b"ACME    ", TradingState::Halted, *b"LUDP")
    );

    let added = Event::InstrumentAdded {
        instrument: ACME,
        symbol: symbol("ACME"),
    };
    let (bytes, directory) = wire(encoder().encode_event(&added, TS_NS).unwrap().unwrap());
    assert_eq!((bytes[0], bytes.len()), (b'R', 39));
    let Message::StockDirectory(r) = directory else {
        panic!()
    };
    assert_eq!(
        (r.stock_locate, r.stock, r.round_lot_size, r.authenticity),
        (LOCATE, *b"ACME    ", 1, b'P')
    );

    let (bytes, system) = wire(
        encoder()
            .system_event(EventCode::StartOfMessages, TS_NS)
            .unwrap(),
    );
    assert_eq!(
        bytes,
        [b'S', 0, 0, 0, 0, 0x1f, 0x1a, 0xce, 0xd9, 0xf0, 0x7b, b'O']
    );
    assert!(matches!(system, Message::SystemEvent(s) if s.stock_locate == 0));

    assert_eq!(
        encoder().encode_event(&Event::SettingsApplied, TS_NS),
        Ok(None)
    );
}

#[test]
fn values_the_feed_cannot_carry_are_errors() {
    let add = |instrument, price, qty| BookEvent::Add {
        instrument,
        order_ref: 1,
        side: engine::Side::Buy,
        price,
        qty,
    };
    let enc = encoder();
    assert_eq!(
        enc.encode_book_event(&add(ACME, i64::from(itch::MAX_PRICE) + 1, 1), TS_NS),
        Err(FeedError::PriceOutOfRange {
            instrument: ACME,
            price: i64::from(itch::MAX_PRICE) + 1
        })
    );
    assert!(enc.encode_book_event(&add(ACME, -1, 1), TS_NS).is_err());
    assert!(enc
        .encode_book_event(&add(ACME, i64::from(itch::MAX_PRICE), 1), TS_NS)
        .is_ok());
    assert_eq!(
        enc.encode_book_event(&add(ACME, 100, u64::from(u32::MAX) + 1), TS_NS),
        Err(FeedError::QtyOutOfRange {
            instrument: ACME,
            qty: u64::from(u32::MAX) + 1
        })
    );
    assert_eq!(
        enc.encode_book_event(&add(70_000, 100, 1), TS_NS),
        Err(FeedError::InstrumentIdTooLarge { instrument: 70_000 })
    );
    assert_eq!(
        enc.encode_book_event(&add(2, 100, 1), TS_NS),
        Err(FeedError::UnknownInstrument { instrument: 2 })
    );
    assert_eq!(
        enc.encode_book_event(&add(ACME, 100, 1), 1 << 48),
        Err(FeedError::TimestampOutOfRange {
            timestamp_ns: 1 << 48
        })
    );
}

/// A real engine with ACME and two funded accounts; every event goes through encoder and publisher.
struct Market {
    engine: Engine,
    seq: u64,
    now_ns: u64,
    publisher: MoldPublisher,
    packets: Vec<Vec<u8>>,
}

impl Market {
    fn new(config: PublisherConfig) -> Market {
        let mut market = Market {
            engine: Engine::new(EngineConfig {
                max_orders: 4096,
                max_levels_per_side: 256,
                ..EngineConfig::default()
            })
            .expect("config"),
            seq: 0,
            now_ns: TS_NS,
            publisher: MoldPublisher::new(config, TS_NS),
            packets: Vec::new(),
        };
        let start = encoder()
            .system_event(EventCode::StartOfMessages, TS_NS)
            .unwrap();
        let packets = &mut market.packets;
        market
            .publisher
            .publish(&start, TS_NS, &mut |p: &[u8]| packets.push(p.to_vec()))
            .unwrap();
        for body in market::setup_commands(ACME) {
            market.run(body);
        }
        market
    }

    /// Applies a command; its feed messages are published and flushed as one batch.
    fn run(&mut self, body: CommandBody) {
        self.seq += 1;
        self.now_ns += 1_000;
        let mut events = Vec::new();
        self.engine.apply(
            &Command {
                seq: self.seq,
                timestamp_ns: self.now_ns,
                body,
            },
            &mut events,
        );
        let enc = encoder();
        let packets = &mut self.packets;
        let mut send = |p: &[u8]| packets.push(p.to_vec());
        for event in &events {
            if let Some(message) = enc.encode_event(event, self.now_ns).unwrap() {
                self.publisher
                    .publish(&message, self.now_ns, &mut send)
                    .unwrap();
            }
        }
        self.publisher.flush(self.now_ns, &mut send);
    }
}

/// xorshift64*: a seeded flow without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn order(
    session: u32,
    user_ref: u32,
    side: engine::Side,
    price: i64,
    qty: u64,
) -> engine::NewOrder {
    engine::NewOrder {
        session,
        account: session,
        user_ref,
        instrument: ACME,
        side,
        order_type: OrderType::Limit,
        time_in_force: engine::TimeInForce::Day,
        price,
        qty,
        min_qty: 0,
        display_qty: 0,
        post_only: false,
        expire_time_ns: 0,
        group: 0,
    }
}

/// Crossing and resting limit orders, icebergs, IOCs, cancels, reductions, replaces and halts/resumes.
fn seeded_flow(market: &mut Market, seed: u64, commands: usize) {
    let mut rng = Rng(seed);
    let mut next_ref = [0u32; 3];
    for step in 0..commands {
        let session = 1 + rng.below(2) as u32;
        let roll = rng.below(100);
        let body = if roll < 55 || next_ref[session as usize] == 0 {
            next_ref[session as usize] += 1;
            let side = if rng.below(2) == 0 {
                engine::Side::Buy
            } else {
                engine::Side::Sell
            };
            let price = 9_980 + rng.below(41) as i64;
            let mut new = order(
                session,
                next_ref[session as usize],
                side,
                price,
                1 + rng.below(400),
            );
            match rng.below(10) {
                0 | 1 => new.display_qty = 1 + rng.below(new.qty),
                2 => new.time_in_force = engine::TimeInForce::Ioc,
                _ => {}
            }
            CommandBody::NewOrder(new)
        } else if roll < 75 {
            CommandBody::Cancel {
                session,
                account: session,
                user_ref: 1 + rng.below(u64::from(next_ref[session as usize])) as u32,
            }
        } else if roll < 85 {
            // Reduction keeping priority (Order Cancel on the feed when displayed quantity goes).
            CommandBody::Modify {
                session,
                account: session,
                user_ref: 1 + rng.below(u64::from(next_ref[session as usize])) as u32,
                qty: 1 + rng.below(60),
            }
        } else if roll < 97 {
            next_ref[session as usize] += 1;
            CommandBody::Replace(engine::Replace {
                session,
                account: session,
                user_ref: 1 + rng.below(u64::from(next_ref[session as usize] - 1).max(1)) as u32,
                new_user_ref: next_ref[session as usize],
                price: 9_980 + rng.below(41) as i64,
                qty: 1 + rng.below(400),
            })
        } else {
            CommandBody::SetInstrumentStatus {
                instrument: ACME,
                status: if step % 2 == 0 {
                    InstrumentStatus::Halted
                } else {
                    InstrumentStatus::Trading
                },
            }
        };
        market.run(body);
    }
    market.run(CommandBody::SetInstrumentStatus {
        instrument: ACME,
        status: InstrumentStatus::Trading,
    });
}

fn assert_same_book(market: &Market, builder: &BookBuilder) {
    for side in [engine::Side::Buy, engine::Side::Sell] {
        let rebuilt: Vec<_> = builder
            .depth(LOCATE, side, 1_000)
            .iter()
            .map(|l| (i64::from(l.price), l.shares, l.orders))
            .collect();
        let expected: Vec<_> = market
            .engine
            .depth(ACME, side, 1_000)
            .iter()
            .map(|l| (l.price, l.qty, l.orders))
            .collect();
        assert_eq!(rebuilt, expected, "{side:?} depth");
        let rebuilt: Vec<_> = builder
            .orders(LOCATE, side)
            .iter()
            .map(|o| {
                (
                    o.order_reference_number,
                    i64::from(o.price),
                    u64::from(o.shares),
                )
            })
            .collect();
        let expected: Vec<_> = market
            .engine
            .resting_orders(ACME, side)
            .iter()
            .map(|o| (o.feed_ref, o.price, o.display))
            .collect();
        assert_eq!(rebuilt, expected, "{side:?} orders");
    }
}

fn config() -> PublisherConfig {
    PublisherConfig {
        session: SESSION,
        max_packet_bytes: 400,
        store_messages: 100_000,
        max_messages_per_request: 64,
        ..PublisherConfig::default()
    }
}

#[test]
fn book_rebuilt_from_the_feed_equals_the_engine() {
    for seed in [1, 0xdead_beef, 42] {
        let mut market = Market::new(config());
        seeded_flow(&mut market, seed, 1_500);
        let mut builder = BookBuilder::new(1);
        for packet in &market.packets {
            assert!(matches!(
                builder.apply_packet(packet),
                Ok(PacketOutcome::Applied { .. })
            ));
        }
        assert_eq!(
            builder.next_sequence_number(),
            market.publisher.next_sequence_number()
        );
        assert_eq!(builder.symbol(LOCATE), Some(*b"ACME    "));
        assert!(!market
            .engine
            .resting_orders(ACME, engine::Side::Buy)
            .is_empty());
        assert!(!market
            .engine
            .resting_orders(ACME, engine::Side::Sell)
            .is_empty());
        assert_same_book(&market, &builder);
        // The flow exercised every message type the feed sends.
        let mut seen = std::collections::BTreeSet::new();
        for packet in &market.packets {
            for (_, message) in Packet::decode(packet).unwrap().messages() {
                seen.insert(message[0]);
            }
        }
        assert_eq!(seen, b"ADEHRSUX".iter().copied().collect(), "{seen:?}");
    }
}

/// Requests from the store until the builder reaches `target`.
fn fill_gap(publisher: &MoldPublisher, builder: &mut BookBuilder, target: u64) {
    let mut answer = vec![0u8; publisher.config().max_packet_bytes];
    for _ in 0..10_000 {
        let next = builder.next_sequence_number();
        if next >= target {
            return;
        }
        let request = RequestPacket {
            session: SESSION,
            sequence_number: next,
            requested_message_count: u16::try_from(target - next).unwrap_or(u16::MAX),
        };
        let RetransmitAnswer::Packet {
            packet_bytes,
            first_sequence_number,
            ..
        } = publisher.answer_request(&request, &mut answer)
        else {
            panic!("no answer for {request:?}")
        };
        assert_eq!(first_sequence_number, next);
        assert!(matches!(
            builder.apply_packet(&answer[..packet_bytes]),
            Ok(PacketOutcome::Applied { applied }) if applied > 0
        ));
    }
    panic!("gap not filled");
}

#[test]
fn gaps_are_detected_and_filled_from_the_store() {
    let mut market = Market::new(config());
    seeded_flow(&mut market, 7, 600);
    let mut builder = BookBuilder::new(1);
    let mut gaps = 0;
    for (index, packet) in market.packets.iter().enumerate() {
        if index % 17 == 5 {
            continue; // lost
        }
        match builder.apply_packet(packet).unwrap() {
            PacketOutcome::Applied { .. } => {}
            PacketOutcome::Gap {
                first_missing,
                count,
            } => {
                gaps += 1;
                assert_eq!(first_missing, builder.next_sequence_number());
                fill_gap(&market.publisher, &mut builder, first_missing + count);
                // The packet itself was in the retransmission: applying it again changes nothing.
                assert_eq!(
                    builder.apply_packet(packet),
                    Ok(PacketOutcome::Applied { applied: 0 })
                );
            }
            PacketOutcome::EndOfSession => panic!(),
        }
    }
    assert!(gaps > 3);
    assert_same_book(&market, &builder);

    // A small store: old requests say how far back it goes, capped answers, nothing beyond the end.
    let mut small = Market::new(PublisherConfig {
        store_messages: 8,
        max_messages_per_request: 3,
        ..config()
    });
    seeded_flow(&mut small, 9, 50);
    let next = small.publisher.next_sequence_number();
    assert_eq!(small.publisher.oldest_held(), next - 8);
    let mut out = [0u8; 400];
    let request = |sequence_number, count| RequestPacket {
        session: SESSION,
        sequence_number,
        requested_message_count: count,
    };
    assert_eq!(
        small.publisher.answer_request(&request(1, 5), &mut out),
        RetransmitAnswer::TooOld {
            oldest_held: next - 8
        }
    );
    let RetransmitAnswer::Packet {
        message_count,
        packet_bytes,
        ..
    } = small
        .publisher
        .answer_request(&request(next - 8, 100), &mut out)
    else {
        panic!()
    };
    assert_eq!(message_count, 3);
    let packet = Packet::decode(&out[..packet_bytes]).unwrap();
    assert_eq!(packet.header.sequence_number, next - 8);
    assert_eq!(
        small.publisher.answer_request(&request(next, 1), &mut out),
        RetransmitAnswer::NothingToSend
    );
    assert_eq!(
        small
            .publisher
            .answer_request(&request(next - 1, 0), &mut out),
        RetransmitAnswer::NothingToSend
    );
    let other = RequestPacket {
        session: *b"OTHER     ",
        ..request(next - 1, 1)
    };
    assert_eq!(
        small.publisher.answer_request(&other, &mut out),
        RetransmitAnswer::WrongSession
    );
    // Garbage never panics the builder.
    let mut builder = BookBuilder::new(1);
    for len in 0..60 {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + len) as u8).collect();
        let _ = builder.apply_packet(&bytes);
    }
}

#[test]
fn heartbeats_when_idle() {
    let config = PublisherConfig {
        heartbeat_interval_ns: 1_000,
        ..config()
    };
    let mut publisher = MoldPublisher::new(config, 0);
    let mut sent: Vec<Vec<u8>> = Vec::new();
    let mut send = |p: &[u8]| sent.push(p.to_vec());
    assert!(!publisher.poll_heartbeat(999, &mut send));
    assert!(publisher.poll_heartbeat(1_000, &mut send));
    assert!(!publisher.poll_heartbeat(1_500, &mut send));
    let start = encoder()
        .system_event(EventCode::StartOfMessages, 1_600)
        .unwrap();
    assert_eq!(publisher.publish(&start, 1_600, &mut send), Ok(1));
    // A packet in progress is not idle.
    assert!(!publisher.poll_heartbeat(5_000, &mut send));
    publisher.flush(5_000, &mut send);
    assert!(!publisher.poll_heartbeat(5_999, &mut send));
    assert!(publisher.poll_heartbeat(6_000, &mut send));
    assert_eq!(sent.len(), 3);
    let first = Packet::decode(&sent[0]).unwrap();
    assert_eq!(
        (
            first.kind(),
            first.header.sequence_number,
            first.header.session
        ),
        (PacketKind::Heartbeat, 1, SESSION)
    );
    let last = Packet::decode(&sent[2]).unwrap();
    assert_eq!(
        (last.kind(), last.header.sequence_number),
        (PacketKind::Heartbeat, 2)
    );

    let mut builder = BookBuilder::new(1);
    assert_eq!(
        builder.apply_packet(&sent[0]),
        Ok(PacketOutcome::Applied { applied: 0 })
    );
    // A heartbeat announcing a later sequence number than seen reveals the loss of the data packet.
    assert_eq!(
        builder.apply_packet(&sent[2]),
        Ok(PacketOutcome::Gap {
            first_missing: 1,
            count: 1
        })
    );
    assert_eq!(
        builder.apply_packet(&sent[1]),
        Ok(PacketOutcome::Applied { applied: 1 })
    );
    assert_eq!(
        builder.apply_packet(&sent[2]),
        Ok(PacketOutcome::Applied { applied: 0 })
    );

    let mut out = [0u8; 20];
    assert_eq!(publisher.end_of_session(&mut out), 20);
    assert_eq!(builder.apply_packet(&out), Ok(PacketOutcome::EndOfSession));
}

#[test]
fn udp_feed_with_a_lost_packet_recovered_through_the_retransmission_port() {
    let localhost: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let receiver = UdpSocket::bind(localhost).unwrap();
    receiver
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let sender = UdpFeedSender::new(localhost, &[receiver.local_addr().unwrap()], 1).unwrap();
    let mut server = RetransmitServer::bind(localhost, config().max_packet_bytes).unwrap();
    let server_addr = server.local_addr().unwrap();

    let mut market = Market::new(config());
    seeded_flow(&mut market, 3, 150);
    let lost = market.packets.len() / 2;
    assert!(market.packets.len() > 10);
    for (index, packet) in market.packets.iter().enumerate() {
        if index != lost {
            assert_eq!(sender.send(packet).lost, 0);
        }
    }

    let target = market.publisher.next_sequence_number();
    let mut builder = BookBuilder::new(1);
    let mut buffer = [0u8; 2_048];
    let mut requests = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while builder.next_sequence_number() < target {
        assert!(Instant::now() < deadline, "feed not recovered");
        let mut request_from = None;
        match receiver.recv(&mut buffer) {
            Ok(len) => match builder.apply_packet(&buffer[..len]).unwrap() {
                PacketOutcome::Gap { first_missing, .. } => request_from = Some(first_missing),
                PacketOutcome::Applied { .. } | PacketOutcome::EndOfSession => {}
            },
            // Quiet and still behind: ask for the rest.
            Err(_) => request_from = Some(builder.next_sequence_number()),
        }
        if let Some(sequence_number) = request_from {
            requests += 1;
            let request = RequestPacket {
                session: SESSION,
                sequence_number,
                requested_message_count: u16::try_from(target - sequence_number)
                    .unwrap_or(u16::MAX),
            };
            let mut bytes = [0u8; 20];
            request.encode(&mut bytes).unwrap();
            receiver.send_to(&bytes, server_addr).unwrap();
            let until = Instant::now() + Duration::from_secs(1);
            while server.poll(&market.publisher, 16).unwrap() == 0 && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    assert!(requests >= 1);
    assert_eq!(builder.next_sequence_number(), target);
    assert_same_book(&market, &builder);
}

#[test]
fn udp_sender_reaches_every_destination_and_a_dead_one_costs_no_packet() {
    let localhost: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let first = UdpSocket::bind(localhost).unwrap();
    let second = UdpSocket::bind(localhost).unwrap();
    for receiver in [&first, &second] {
        receiver
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
    }
    // A port that takes nothing from the sender: its socket stays bound (so no other test can take the port) but is
    // connected to another peer, and the kernel answers the sender's packets with an unreachable port. The report
    // depends on the kernel sending ICMP on loopback, within its global rate limit: hence several tries.
    let dead = UdpSocket::bind(localhost).unwrap();
    dead.connect(first.local_addr().unwrap()).unwrap();
    let destinations = [
        first.local_addr().unwrap(),
        dead.local_addr().unwrap(),
        second.local_addr().unwrap(),
    ];
    // The wildcard bind, as the appliance uses for destinations that are not all loopback.
    let any: SocketAddr = "0.0.0.0:0".parse().unwrap();
    let sender = UdpFeedSender::new(any, &destinations, 1).unwrap();
    assert_eq!(sender.unconnected().count(), 0);

    let mut buffer = [0u8; 64];
    let mut reports = 0;
    let mut sources = Vec::new();
    for index in 0..20u8 {
        let packet = [index; 24];
        let outcome = sender.send(&packet);
        assert_eq!(outcome.lost, 0, "packet {index}");
        reports += outcome.unreachable_reports;
        // Both live destinations get every packet, whatever the dead one reported: a report costs no packet.
        for receiver in [&first, &second] {
            let (len, from) = receiver.recv_from(&mut buffer).unwrap();
            assert_eq!(&buffer[..len], &packet[..]);
            sources.push(from.port());
        }
        if reports > 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        reports > 0,
        "the unreachable destination was never reported"
    );
    // One socket per destination: each destination's packets come from a port of their own.
    assert_eq!(sources[0], sender.local_addr(0).unwrap().port());
    assert_eq!(sources[1], sender.local_addr(2).unwrap().port());
    assert_ne!(sources[0], sources[1]);
    assert!(sender.local_addr(3).is_err());
}

#[test]
fn udp_sender_refuses_a_fixed_port_for_several_destinations() {
    let localhost: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let receiver = UdpSocket::bind(localhost).unwrap();
    let destination = receiver.local_addr().unwrap();
    let fixed = UdpSocket::bind(localhost).unwrap().local_addr().unwrap();
    let error = UdpFeedSender::new(fixed, &[destination, destination], 1).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("bind port must be 0"), "{error}");
    // One destination may have a fixed source port.
    let sender = UdpFeedSender::new(fixed, &[destination], 1).unwrap();
    assert_eq!(sender.local_addr(0).unwrap(), fixed);
}
