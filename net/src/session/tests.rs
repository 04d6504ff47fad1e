//! The session state machine with a fake transport and a fake clock: each test is a scenario, its packets and
//! the expected answers.

use std::collections::HashMap;

use super::*;
use crate::soupbin::{parse_frame, LoginRequest, Packet, Parsed};

const MS: u64 = 1_000_000;

#[derive(Default)]
struct FakeTransport {
    sent: HashMap<ConnId, Vec<u8>>,
    closed: Vec<(ConnId, u16)>,
    free_bytes: HashMap<ConnId, usize>,
}

impl Transport for FakeTransport {
    fn send(&mut self, conn: ConnId, bytes: &[u8]) -> bool {
        if self.closed.iter().any(|(c, _)| *c == conn) || bytes.len() > self.free_send_bytes(conn) {
            return false;
        }
        self.sent.entry(conn).or_default().extend_from_slice(bytes);
        if let Some(free) = self.free_bytes.get_mut(&conn) {
            *free -= bytes.len();
        }
        true
    }

    fn free_send_bytes(&self, conn: ConnId) -> usize {
        self.free_bytes.get(&conn).copied().unwrap_or(1 << 20)
    }

    fn close(&mut self, conn: ConnId, code: u16) {
        self.closed.push((conn, code));
    }
}

impl FakeTransport {
    /// Every packet sent to `conn` since the last call, as (type, payload).
    fn take(&mut self, conn: ConnId) -> Vec<(u8, Vec<u8>)> {
        let bytes = self.sent.remove(&conn).unwrap_or_default();
        let mut rest = &bytes[..];
        let mut packets = Vec::new();
        while !rest.is_empty() {
            match parse_frame(rest, 70_000).unwrap() {
                Parsed::Frame(frame) => {
                    packets.push((frame.packet_type, frame.payload.to_vec()));
                    rest = &rest[frame.frame_bytes()..];
                }
                Parsed::Incomplete { .. } => panic!("partial frame sent"),
            }
        }
        packets
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    LoggedIn(ConnId, UserId, u64),
    Message(ConnId, UserId, Vec<u8>),
    Closed(ConnId, Option<UserId>, SessionCloseReason),
}

struct Harness {
    manager: SessionManager,
    out: FakeTransport,
    seen: Vec<Seen>,
    alice: UserId,
    bob: UserId,
}

fn conn(slot: u32) -> ConnId {
    ConnId {
        slot,
        generation: 7,
    }
}

fn config() -> SessionConfig {
    SessionConfig {
        session_id: SessionId::new("DAY1"),
        max_sessions: 4,
        max_inbound_frame_bytes: 256,
        max_outbound_message_bytes: 64,
        store_bytes_per_session: 1024,
        store_messages_per_session: 3,
        login_timeout_ms: 2_000,
        heartbeat_interval_ms: 1_000,
        client_timeout_ms: 3_000,
    }
}

fn harness() -> Harness {
    let mut users = Users::with_params(cheap_params()).unwrap();
    let alice = users
        .add(
            "alice",
            &hash_password_with_params("pw1", cheap_params()).unwrap(),
        )
        .unwrap();
    let bob = users
        .add(
            "bob",
            &hash_password_with_params("pw2", cheap_params()).unwrap(),
        )
        .unwrap();
    Harness {
        manager: SessionManager::new(config(), users).unwrap(),
        out: FakeTransport::default(),
        seen: Vec::new(),
        alice,
        bob,
    }
}

fn login_bytes(user: &str, password: &str, session: SessionId, sequence: u64) -> Vec<u8> {
    let mut username = [b' '; 6];
    username[..user.len()].copy_from_slice(user.as_bytes());
    let mut pass = [b' '; 10];
    pass[..password.len()].copy_from_slice(password.as_bytes());
    encode(&Packet::LoginRequest(LoginRequest {
        username,
        password: pass,
        requested_session: session,
        requested_sequence_number: sequence,
    }))
}

fn encode(packet: &Packet<'_>) -> Vec<u8> {
    let mut bytes = vec![0; packet.frame_bytes()];
    packet.encode(&mut bytes).unwrap();
    bytes
}

fn accepted(sequence: u64) -> (u8, Vec<u8>) {
    let packet = encode(&Packet::LoginAccepted(crate::soupbin::LoginAccepted {
        session: SessionId::new("DAY1"),
        sequence_number: sequence,
    }));
    (b'A', packet[3..].to_vec())
}

fn data(message: &[u8]) -> (u8, Vec<u8>) {
    (b'S', message.to_vec())
}

impl Harness {
    fn accept(&mut self, c: ConnId, now_ns: u64) {
        self.manager.on_accepted(c, now_ns, &mut self.out);
    }

    fn receive(&mut self, c: ConnId, bytes: &[u8], now_ns: u64) {
        let seen = &mut self.seen;
        self.manager
            .on_data(c, bytes, now_ns, &mut self.out, &mut |event| {
                seen.push(own(event))
            });
    }

    fn tick(&mut self, now_ns: u64) {
        let seen = &mut self.seen;
        self.manager
            .on_tick(now_ns, &mut self.out, &mut |event| seen.push(own(event)));
    }

    fn publish(&mut self, user: UserId, message: &[u8], now_ns: u64) -> u64 {
        let seen = &mut self.seen;
        self.manager
            .publish(user, message, now_ns, &mut self.out, &mut |event| {
                seen.push(own(event))
            })
            .unwrap()
    }

    fn transport_closed(&mut self, c: ConnId) {
        let seen = &mut self.seen;
        self.manager
            .on_closed(c, crate::reactor::CloseReason::PeerClosed, &mut |event| {
                seen.push(own(event))
            });
        self.out.closed.retain(|(closed, _)| *closed != c);
    }

    /// Accepts `c` and logs in as alice asking for `sequence`; returns the packets sent.
    fn login_alice(&mut self, c: ConnId, sequence: u64, now_ns: u64) -> Vec<(u8, Vec<u8>)> {
        self.accept(c, now_ns);
        self.receive(
            c,
            &login_bytes("alice", "pw1", SessionId::BLANK, sequence),
            now_ns,
        );
        self.out.take(c)
    }
}

fn own(event: SessionEvent<'_>) -> Seen {
    match event {
        SessionEvent::LoggedIn {
            conn,
            user,
            first_sequence,
        } => Seen::LoggedIn(conn, user, first_sequence),
        SessionEvent::Message { conn, user, ouch } => Seen::Message(conn, user, ouch.to_vec()),
        SessionEvent::Closed { conn, user, reason } => Seen::Closed(conn, user, reason),
    }
}

#[test]
fn login_with_the_right_password_is_accepted_and_live_messages_follow_from_one() {
    let mut h = harness();
    let c = conn(0);
    // Case-insensitive username and password, as SoupBinTCP says.
    h.accept(c, 0);
    h.receive(
        c,
        &login_bytes("ALICE", "PW1", SessionId::new("DAY1"), 0),
        0,
    );
    assert_eq!(h.out.take(c), vec![accepted(1)]);
    assert_eq!(h.seen, vec![Seen::LoggedIn(c, h.alice, 1)]);
    assert_eq!(h.publish(h.alice, b"first", MS), 1);
    assert_eq!(h.publish(h.alice, b"second", MS), 2);
    assert_eq!(h.out.take(c), vec![data(b"first"), data(b"second")]);
    assert_eq!(h.manager.logged_in(h.alice), Some(c));
}

#[test]
fn wrong_password_and_unknown_user_are_rejected_with_a_then_closed() {
    let mut h = harness();
    for (slot, user, password) in [(0, "alice", "nope"), (1, "mallry", "pw1")] {
        let c = conn(slot);
        h.accept(c, 0);
        h.receive(c, &login_bytes(user, password, SessionId::BLANK, 0), 0);
        assert_eq!(h.out.take(c), vec![(b'J', vec![b'A'])]);
        assert_eq!(
            h.seen.pop(),
            Some(Seen::Closed(c, None, SessionCloseReason::NotAuthorized))
        );
        assert_eq!(
            h.out.closed.last(),
            Some(&(c, SessionCloseReason::NotAuthorized.code()))
        );
    }
    assert_eq!(h.manager.logged_in(h.alice), None);
}

#[test]
fn a_session_other_than_blank_or_current_is_rejected_with_s() {
    let mut h = harness();
    let c = conn(0);
    h.accept(c, 0);
    h.receive(
        c,
        &login_bytes("alice", "pw1", SessionId::new("DAY0"), 0),
        0,
    );
    assert_eq!(h.out.take(c), vec![(b'J', vec![b'S'])]);
    assert_eq!(
        h.seen,
        vec![Seen::Closed(
            c,
            None,
            SessionCloseReason::SessionNotAvailable {
                requested: SessionId::new("DAY0")
            }
        )]
    );
}

#[test]
fn a_second_login_of_a_logged_in_user_is_rejected_and_the_first_is_untouched() {
    let mut h = harness();
    let (first, second) = (conn(0), conn(1));
    assert_eq!(h.login_alice(first, 0, 0), vec![accepted(1)]);
    assert_eq!(h.login_alice(second, 0, 0), vec![(b'J', vec![b'S'])]);
    assert_eq!(
        h.seen.last(),
        Some(&Seen::Closed(
            second,
            None,
            SessionCloseReason::AlreadyLoggedIn {
                user: h.alice,
                other: first
            }
        ))
    );
    h.publish(h.alice, b"still here", 0);
    assert_eq!(h.out.take(first), vec![data(b"still here")]);
}

#[test]
fn a_client_logging_in_again_at_n_gets_n_onwards_then_live_messages() {
    let mut h = harness();
    let c = conn(0);
    h.login_alice(c, 1, 0);
    for message in [b"m1", b"m2", b"m3"] {
        h.publish(h.alice, message, 0);
    }
    assert_eq!(h.out.take(c).len(), 3);
    h.transport_closed(c);
    assert_eq!(
        h.seen.last(),
        Some(&Seen::Closed(
            c,
            Some(h.alice),
            SessionCloseReason::Transport(crate::reactor::CloseReason::PeerClosed)
        ))
    );
    // Published while nobody is logged in: kept in the store.
    h.publish(h.alice, b"m4", 0);
    let again = conn(1);
    assert_eq!(
        h.login_alice(again, 2, 0),
        vec![accepted(2), data(b"m2"), data(b"m3"), data(b"m4")]
    );
    h.publish(h.alice, b"m5", 0);
    assert_eq!(h.out.take(again), vec![data(b"m5")]);
}

#[test]
fn sequence_zero_means_from_the_next_new_message_and_past_the_end_clamps_to_it() {
    let mut h = harness();
    h.publish(h.alice, b"old", 0);
    assert_eq!(h.login_alice(conn(0), 0, 0), vec![accepted(2)]);
    h.transport_closed(conn(0));
    assert_eq!(h.login_alice(conn(1), 99, 0), vec![accepted(2)]);
}

#[test]
fn replay_older_than_the_store_is_rejected_with_s_and_the_reason() {
    let mut h = harness();
    // The store holds three messages: after five, 3..=5 remain.
    for message in [b"m1", b"m2", b"m3", b"m4", b"m5"] {
        h.publish(h.alice, message, 0);
    }
    assert_eq!(h.login_alice(conn(0), 2, 0), vec![(b'J', vec![b'S'])]);
    assert_eq!(
        h.seen.last(),
        Some(&Seen::Closed(
            conn(0),
            None,
            SessionCloseReason::ReplayTooOld {
                user: h.alice,
                requested_sequence: 2,
                oldest_sequence: 3
            }
        ))
    );
    assert_eq!(
        h.login_alice(conn(1), 3, 0),
        vec![accepted(3), data(b"m3"), data(b"m4"), data(b"m5")]
    );
}

#[test]
fn server_heartbeats_follow_one_interval_of_outbound_silence() {
    let mut h = harness();
    let c = conn(0);
    h.login_alice(c, 0, 0);
    h.receive(c, &encode(&Packet::ClientHeartbeat), 999 * MS);
    h.tick(999 * MS);
    assert_eq!(h.out.take(c), vec![]);
    h.tick(1_000 * MS);
    assert_eq!(h.out.take(c), vec![(b'H', vec![])]);
    h.publish(h.alice, b"x", 1_500 * MS);
    h.receive(c, &encode(&Packet::ClientHeartbeat), 1_900 * MS);
    h.tick(2_000 * MS);
    assert_eq!(h.out.take(c), vec![data(b"x")]);
    h.tick(2_499 * MS);
    assert_eq!(h.out.take(c), vec![]);
    h.tick(2_500 * MS);
    assert_eq!(h.out.take(c), vec![(b'H', vec![])]);
}

#[test]
fn a_silent_client_is_closed_at_the_client_timeout() {
    let mut h = harness();
    let c = conn(0);
    h.login_alice(c, 0, 0);
    h.receive(c, &encode(&Packet::ClientHeartbeat), 2_000 * MS);
    h.tick(4_999 * MS);
    assert!(h.out.closed.is_empty());
    h.tick(5_000 * MS);
    assert_eq!(
        h.out.closed,
        vec![(c, SessionCloseReason::ClientTimeout.code())]
    );
    assert_eq!(
        h.seen.last(),
        Some(&Seen::Closed(
            c,
            Some(h.alice),
            SessionCloseReason::ClientTimeout
        ))
    );
    assert_eq!(h.manager.logged_in(h.alice), None);
}

#[test]
fn a_connection_that_never_logs_in_is_closed_at_the_login_timeout() {
    let mut h = harness();
    let c = conn(2);
    h.accept(c, 10 * MS);
    h.receive(c, &encode(&Packet::ClientHeartbeat), 1_000 * MS);
    h.tick(2_009 * MS);
    assert!(h.out.closed.is_empty());
    h.tick(2_010 * MS);
    assert_eq!(
        h.seen,
        vec![Seen::Closed(c, None, SessionCloseReason::LoginTimeout)]
    );
}

#[test]
fn logout_closes_and_frees_the_user_for_another_login() {
    let mut h = harness();
    h.login_alice(conn(0), 0, 0);
    h.receive(conn(0), &encode(&Packet::LogoutRequest), MS);
    assert_eq!(
        h.seen.last(),
        Some(&Seen::Closed(
            conn(0),
            Some(h.alice),
            SessionCloseReason::Logout
        ))
    );
    assert_eq!(h.login_alice(conn(1), 0, MS), vec![accepted(1)]);
}

#[test]
fn unsequenced_data_reaches_the_application_whole_even_one_byte_at_a_time() {
    let mut h = harness();
    let c = conn(0);
    h.login_alice(c, 0, 0);
    let mut stream = encode(&Packet::UnsequencedData(b"OUCH-1"));
    stream.extend(encode(&Packet::Debug(b"ignored")));
    stream.extend(encode(&Packet::UnsequencedData(b"OUCH-2")));
    for byte in &stream {
        h.receive(c, std::slice::from_ref(byte), 0);
    }
    assert_eq!(
        h.seen[1..],
        [
            Seen::Message(c, h.alice, b"OUCH-1".to_vec()),
            Seen::Message(c, h.alice, b"OUCH-2".to_vec())
        ]
    );
}

#[test]
fn garbage_gets_a_debug_packet_and_a_close_and_other_sessions_carry_on() {
    let mut h = harness();
    h.login_alice(conn(0), 0, 0);
    let bob = conn(1);
    h.accept(bob, 0);
    h.receive(bob, &login_bytes("bob", "pw2", SessionId::BLANK, 0), 0);
    h.out.take(bob);
    h.receive(conn(0), &[0xFF, 0xFF, b'?', 1, 2, 3], 0);
    let sent = h.out.take(conn(0));
    assert_eq!(sent[0].0, b'+');
    assert!(matches!(
        h.seen.last(),
        Some(Seen::Closed(
            _,
            Some(_),
            SessionCloseReason::FramingError(crate::soupbin::SoupError::Oversize { .. })
        ))
    ));
    // Data before login, and a packet only a server sends, are protocol errors.
    h.accept(conn(2), 0);
    h.receive(conn(2), &encode(&Packet::UnsequencedData(b"x")), 0);
    assert_eq!(
        h.seen.last(),
        Some(&Seen::Closed(
            conn(2),
            None,
            SessionCloseReason::ProtocolError { packet_type: b'U' }
        ))
    );
    h.publish(h.bob, b"bob's", 0);
    assert_eq!(h.out.take(bob), vec![data(b"bob's")]);
}

#[test]
fn a_full_send_queue_defers_replay_and_a_reader_left_behind_is_closed() {
    let mut h = harness();
    let c = conn(0);
    for message in [b"m1", b"m2", b"m3"] {
        h.publish(h.alice, message, 0);
    }
    h.accept(c, 0);
    // Room for Login Accepted (33 bytes) and one 5-byte data packet.
    h.out.free_bytes.insert(c, 33 + 5);
    h.receive(c, &login_bytes("alice", "pw1", SessionId::BLANK, 1), 0);
    assert_eq!(h.out.take(c), vec![accepted(1), data(b"m1")]);
    h.out.free_bytes.insert(c, 5);
    h.tick(MS);
    assert_eq!(h.out.take(c), vec![data(b"m2")]);
    h.out.free_bytes.insert(c, 0);
    // m3 is still owed; three more messages evict it from the 3-message store.
    for message in [b"m4", b"m5", b"m6"] {
        h.publish(h.alice, message, 2 * MS);
    }
    assert_eq!(
        h.seen.last(),
        Some(&Seen::Closed(
            c,
            Some(h.alice),
            SessionCloseReason::FellBehind {
                user: h.alice,
                cursor_sequence: 3,
                oldest_sequence: 4
            }
        ))
    );
}

#[test]
fn end_of_session_is_sent_to_every_logged_in_client() {
    let mut h = harness();
    h.login_alice(conn(0), 0, 0);
    h.accept(conn(1), 0);
    let seen = &mut h.seen;
    h.manager
        .end_session(MS, &mut h.out, &mut |event| seen.push(own(event)));
    assert_eq!(h.out.take(conn(0)), vec![(b'Z', vec![])]);
    assert_eq!(h.out.take(conn(1)), vec![]);
    assert_eq!(h.out.closed.len(), 2);
    assert_eq!(h.manager.active_connections(), 0);
}

#[test]
fn a_connection_slot_beyond_max_sessions_is_closed_at_once() {
    let mut h = harness();
    h.accept(conn(4), 0);
    assert_eq!(
        h.out.closed,
        vec![(conn(4), SessionCloseReason::TableFull.code())]
    );
}

#[test]
fn invalid_configurations_are_refused() {
    let users = || Users::with_params(cheap_params()).unwrap();
    let bad = [
        SessionConfig {
            max_sessions: 0,
            ..config()
        },
        SessionConfig {
            max_inbound_frame_bytes: 48,
            ..config()
        },
        SessionConfig {
            max_outbound_message_bytes: 65_535,
            ..config()
        },
        SessionConfig {
            store_bytes_per_session: 63,
            ..config()
        },
        SessionConfig {
            client_timeout_ms: 1_000,
            ..config()
        },
    ];
    for config in bad {
        assert!(SessionManager::new(config, users()).is_err(), "{config:?}");
    }
}

mod arbitrary_input {
    use super::*;
    use proptest::prelude::*;

    /// Chunks that are sometimes valid packets (so logins and data happen) and sometimes any bytes at all.
    fn chunk() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..64),
            (0u64..8).prop_map(|sequence| login_bytes("alice", "pw1", SessionId::BLANK, sequence)),
            Just(login_bytes("bob", "pw2", SessionId::new("DAY1"), 0)),
            Just(encode(&Packet::UnsequencedData(b"OUCH"))),
            Just(encode(&Packet::ClientHeartbeat)),
            Just(encode(&Packet::LogoutRequest)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn any_bytes_on_any_connection_never_panic_and_keep_one_login_per_user(
            steps in proptest::collection::vec((0u32..4, chunk(), 0u64..400), 1..40)
        ) {
            let mut h = harness();
            for slot in 0..4 {
                h.accept(conn(slot), 0);
            }
            let mut now_ns = 0;
            for (slot, bytes, advance_ms) in steps {
                now_ns += advance_ms * MS;
                h.receive(conn(slot), &bytes, now_ns);
                let alice = h.alice;
                h.publish(alice, b"tick", now_ns);
                h.tick(now_ns);
                for user in [h.alice, h.bob] {
                    let logged_in: Vec<_> = h
                        .seen
                        .iter()
                        .filter(|seen| matches!(seen, Seen::LoggedIn(_, u, _) if *u == user))
                        .collect();
                    let closed = h
                        .seen
                        .iter()
                        .filter(|seen| matches!(seen, Seen::Closed(_, Some(u), _) if *u == user))
                        .count();
                    prop_assert!(logged_in.len() - closed <= 1);
                    prop_assert_eq!(h.manager.logged_in(user).is_some(), logged_in.len() > closed);
                }
            }
        }
    }
}

#[test]
fn a_message_larger_than_the_configured_maximum_is_refused_and_not_numbered() {
    let mut h = harness();
    let seen = &mut h.seen;
    let too_big = [0u8; 65];
    let result = h
        .manager
        .publish(h.alice, &too_big, 0, &mut h.out, &mut |event| {
            seen.push(own(event))
        });
    assert_eq!(
        result,
        Err(StoreError::MessageTooLarge {
            message_bytes: 65,
            max_message_bytes: 64
        })
    );
    assert_eq!(h.manager.next_sequence(h.alice), Some(1));
}

impl Harness {
    /// Polls the verifier thread until it has answered (bounded: 5 s of 1 ms waits).
    fn wait_verified(&mut self, now_ns: u64) {
        for _ in 0..5_000 {
            let before = (self.seen.len(), self.out.sent.len(), self.out.closed.len());
            let seen = &mut self.seen;
            self.manager
                .poll_verified(now_ns, &mut self.out, &mut |event| seen.push(own(event)));
            if (self.seen.len(), self.out.sent.len(), self.out.closed.len()) != before {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        panic!("the verifier thread never answered");
    }
}

#[test]
fn logins_verified_off_thread_hold_later_frames_until_accepted() {
    let mut h = harness();
    h.manager.verify_off_thread().unwrap();
    let c = conn(0);
    h.accept(c, 0);
    // The Login Request and an order right behind it, in one read.
    let mut bytes = login_bytes("alice", "pw1", SessionId::BLANK, 1);
    bytes.extend(encode(&Packet::UnsequencedData(b"O-order")));
    h.receive(c, &bytes, MS);
    // Nothing is answered and nothing delivered while the password is being checked.
    assert!(h.out.take(c).is_empty());
    assert!(h.seen.is_empty());
    h.wait_verified(2 * MS);
    assert_eq!(h.out.take(c), vec![accepted(1)]);
    assert_eq!(
        h.seen,
        vec![
            Seen::LoggedIn(c, h.alice, 1),
            Seen::Message(c, h.alice, b"O-order".to_vec())
        ]
    );
}

#[test]
fn a_wrong_password_verified_off_thread_is_rejected_and_a_vanished_client_is_forgotten() {
    let mut h = harness();
    h.manager.verify_off_thread().unwrap();
    let (bad, gone) = (conn(0), conn(1));
    h.accept(bad, 0);
    h.accept(gone, 0);
    h.receive(bad, &login_bytes("alice", "nope", SessionId::BLANK, 1), MS);
    h.receive(gone, &login_bytes("bob", "pw2", SessionId::BLANK, 1), MS);
    // The second client leaves before its answer comes back.
    h.transport_closed(gone);
    h.wait_verified(2 * MS);
    // Give the second answer time to arrive too, then poll once more.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let seen = &mut h.seen;
    h.manager
        .poll_verified(3 * MS, &mut h.out, &mut |event| seen.push(own(event)));
    assert_eq!(h.out.take(bad)[0].0, b'J');
    assert!(h.out.take(gone).is_empty());
    assert!(!h.seen.iter().any(|s| matches!(s, Seen::LoggedIn(..))));
    // A verification still pending at the login deadline times the connection out as usual.
    let late = conn(2);
    h.accept(late, 10 * MS);
    h.receive(
        late,
        &login_bytes("bob", "pw2", SessionId::BLANK, 1),
        11 * MS,
    );
    h.tick(10 * MS + 2_000 * MS);
    assert!(h.seen.iter().any(
        |s| matches!(s, Seen::Closed(c, None, SessionCloseReason::LoginTimeout) if *c == late)
    ));
}

#[test]
fn a_node_that_is_not_serving_rejects_logins_with_s_and_serves_again_when_told() {
    let mut h = harness();
    h.manager.set_serving(false);
    let c = conn(0);
    assert_eq!(h.login_alice(c, 0, 0), vec![(b'J', vec![b'S'])]);
    assert_eq!(
        h.seen.last(),
        Some(&Seen::Closed(c, None, SessionCloseReason::NotServing))
    );
    assert_eq!(h.manager.logged_in(h.alice), None);
    // Whatever the password: a standby does not check it.
    let wrong = conn(2);
    h.accept(wrong, 0);
    h.receive(
        wrong,
        &login_bytes("alice", "wrongpass", SessionId::BLANK, 0),
        0,
    );
    assert_eq!(h.out.take(wrong), vec![(b'J', vec![b'S'])]);
    h.manager.set_serving(true);
    let again = conn(1);
    assert_eq!(h.login_alice(again, 0, 0), vec![accepted(1)]);
}
