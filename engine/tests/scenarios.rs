//! The engine's rules as scenarios: a name, the orders, the expected events. Every scenario runs against both the
//! production book and the reference book, and the harness checks every invariant after every command.

mod common;

use common::*;
use crossline_engine::*;

fn new_market<B: OrderBook>() -> Market<B> {
    Market::new()
}

// ---- replication's state check ---------------------------------------------------------------------------------

fn a_state_check_compares_the_hash_before_it_and_changes_no_order<B: OrderBook>() {
    let mut m = new_market::<B>();
    m.buy(1, 9_990, 10);
    m.sell(2, 10_010, 4);
    let before = m.engine.state_hash();
    let events = m.run(CommandBody::StateCheck { state_hash: before });
    assert_eq!(
        events,
        vec![Event::StateChecked {
            expected: before,
            actual: before
        }]
    );
    // The clock moved with the first check (the hash covers it): compare with the state just before.
    let here = m.engine.state_hash();
    assert_ne!(here, 7);
    let events = m.run(CommandBody::StateCheck { state_hash: 7 });
    assert_eq!(
        events,
        vec![Event::StateChecked {
            expected: 7,
            actual: here
        }]
    );
    assert_eq!(m.book(Side::Buy), vec![(9_990, 10)]);
    assert_eq!(m.book(Side::Sell), vec![(10_010, 4)]);
}

fn an_order_keyed_by_the_largest_session_and_user_ref_is_found_and_cancelled<B: OrderBook>() {
    let mut m = new_market::<B>();
    // Nothing rests under (u32::MAX, u32::MAX): a cancel is rejected, not matched to an empty index slot.
    let events = m.run(CommandBody::Cancel {
        session: u32::MAX,
        account: 1,
        user_ref: u32::MAX,
    });
    assert_eq!(rejects(&events).len(), 1);
    let mut order = m.order(1, Side::Buy, 9_990, 10);
    order.session = u32::MAX;
    order.user_ref = u32::MAX;
    let id = accepted_id(&m.submit(order));
    assert_eq!(m.book(Side::Buy), vec![(9_990, 10)]);
    let events = m.run(CommandBody::Cancel {
        session: u32::MAX,
        account: 1,
        user_ref: u32::MAX,
    });
    assert!(rejects(&events).is_empty(), "{events:?}");
    assert!(m.book(Side::Buy).is_empty());
    assert!(m.resting(Side::Buy).iter().all(|o| o.order_id != id));
}

// ---- resting and matching -------------------------------------------------------------------------------------

fn a_limit_order_that_does_not_cross_rests<B: OrderBook>() {
    let mut m = new_market::<B>();
    let events = m.buy(1, 9_990, 10);
    let id = accepted_id(&events);
    assert_eq!(
        book_events(&events),
        vec![BookEvent::Add {
            instrument: ACME,
            order_ref: id,
            side: Side::Buy,
            price: 9_990,
            qty: 10
        }]
    );
    assert_eq!(m.book(Side::Buy), vec![(9_990, 10)]);
    // The buy reserves price x qty plus the fee at the higher of its tier's rates, rounded up per lot.
    let fee_per_lot = (9_990u64 * TAKER_FEE_PPM as u64).div_ceil(1_000_000);
    assert_eq!(m.balance(1, QUOTE).reserved, 10 * (9_990 + fee_per_lot));
}

fn a_crossing_order_trades_at_the_resting_price<B: OrderBook>() {
    let mut m = new_market::<B>();
    m.sell(2, 10_000, 5);
    let events = m.buy(1, 10_050, 5);
    assert_eq!(
        fills(&events),
        vec![
            (2, Side::Sell, 10_000, 5, Liquidity::Maker),
            (1, Side::Buy, 10_000, 5, Liquidity::Taker)
        ]
    );
    assert!(m.book(Side::Buy).is_empty() && m.book(Side::Sell).is_empty());
    // Settlement: buyer pays 50_000 + taker fee, seller receives 50_000 - maker fee, the fee account both fees.
    let taker_fee = 5 * (10_000u64 * TAKER_FEE_PPM as u64).div_ceil(1_000_000);
    let maker_fee = 5 * (10_000u64 * MAKER_FEE_PPM as u64).div_ceil(1_000_000);
    assert_eq!(
        m.balance(1, QUOTE),
        Balance {
            available: FUNDED_QUOTE - 50_000 - taker_fee,
            reserved: 0
        }
    );
    assert_eq!(m.balance(1, BASE).available, FUNDED_BASE + 5);
    assert_eq!(
        m.balance(2, QUOTE).available,
        FUNDED_QUOTE + 50_000 - maker_fee
    );
    assert_eq!(
        m.balance(2, BASE),
        Balance {
            available: FUNDED_BASE - 5,
            reserved: 0
        }
    );
    assert_eq!(
        m.balance(FEE_ACCOUNT, QUOTE).available,
        taker_fee + maker_fee
    );
}

fn orders_at_one_price_fill_in_time_priority<B: OrderBook>() {
    let mut m = new_market::<B>();
    m.sell(2, 10_000, 3);
    m.sell(3, 10_000, 3);
    m.sell(4, 9_999, 1);
    let events = m.buy(1, 10_000, 5);
    let makers: Vec<_> = fills(&events)
        .into_iter()
        .filter(|f| f.4 == Liquidity::Maker)
        .map(|f| (f.0, f.2, f.3))
        .collect();
    assert_eq!(makers, vec![(4, 9_999, 1), (2, 10_000, 3), (3, 10_000, 1)]);
    assert_eq!(m.book(Side::Sell), vec![(10_000, 2)]);
    assert_eq!(m.resting(Side::Sell)[0].account, 3);
}

fn a_partly_filled_limit_order_rests_with_the_rest<B: OrderBook>() {
    let mut m = new_market::<B>();
    m.sell(2, 10_000, 4);
    let events = m.buy(1, 10_010, 10);
    assert_eq!(fills(&events).len(), 2);
    assert_eq!(m.book(Side::Buy), vec![(10_010, 6)]);
    assert!(m.book(Side::Sell).is_empty());
}

fn match_numbers_are_shared_by_both_sides_and_increase<B: OrderBook>() {
    let mut m = new_market::<B>();
    m.sell(2, 10_000, 1);
    m.sell(2, 10_001, 1);
    let events = m.buy(1, 10_001, 2);
    let numbers: Vec<u64> = events
        .iter()
        .filter_map(|e| {
            if let Event::Executed { match_number, .. } = e {
                Some(*match_number)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(numbers, vec![1, 1, 2, 2]);
}

// ---- time in force and order types -----------------------------------------------------------------------------

fn an_ioc_order_cancels_what_it_cannot_fill<B: OrderBook>() {
    let mut m = new_market::<B>();
    m.sell(2, 10_000, 3);
    let mut order = m.order(1, Side::Buy, 10_000, 5);
    order.time_in_force = TimeInForce::Ioc;
    let events = m.submit(order);
    assert_eq!(fills(&events).len(), 2);
    assert_eq!(
        cancels(&events),
        vec![(1, 2, CancelReason::ImmediateOrCancel)]
    );
    assert!(m.book(Side::Buy).is_empty());
    assert_eq!(m.balance(1, QUOTE).reserved, 0);
}

fn a_fill_or_kill_order_trades_all_or_nothing<B: OrderBook>() {
    let mut m = new_market::<B>();
    m.sell(2, 10_000, 3);
    m.sell(3, 10_001, 3);
    let mut fok = m.order(1, Side::Buy, 10_000, 5);
    fok.time_in_force = TimeInForce::Ioc;
    fok.min_qty = 5;
    let events = m.submit(fok);
    assert!(
        fills(&events).is_empty(),
        "only 3 lots are available at 10_000"
    );
    assert_eq!(cancels(&events), vec![(1, 5, CancelReason::MinQtyNotMet)]);
    assert_eq!(m.book(Side::Sell), vec![(10_000, 3), (10_001, 3)]);

    let mut fok = m.order(1, Side::Buy, 10_001, 5);
    fok.time_in_force = TimeInForce::Ioc;
    fok.min_qty = 5;
    let events = m.submit(fok);
    assert_eq!(
        fills(&events)
            .iter()
            .filter(|f| f.0 == 1)
            .map(|f| f.3)
            .sum::<u64>(),
        5
    );
    assert!(cancels(&events).is_empty());
}

fn min_qty_is_only_for_ioc_and_not_above_qty<B: OrderBook>() {
    let mut m = new_market::<B>();
    let mut order = m.order(1, Side::Buy, 10_000, 5);
    order.min_qty = 2;
    assert_eq!(rejects(&m.submit(order)), vec![RejectReason::InvalidMinQty]);
    let mut order = m.order(1, Side::Buy, 10_000, 5);
    order.time_in_force = TimeInForce::Ioc;
    order.min_qty = 6;
    assert_eq!(rejects(&m.submit(order)), vec![RejectReason::InvalidMinQty]);
}

fn a_market_order_sweeps_to_the_band_and_cancels_the_rest<B: OrderBook>() {
    let mut m = new_market::<B>();
    let (_, band_high) = m.engine.price_band(ACME).unwrap();
    assert_eq!(band_high, 11_000);
    m.sell(2, 10_500, 2);
    m.sell(2, 11_000, 2);
    let mut order = m.order(1, Side::Buy, 0, 10);
    order.order_type = OrderType::Market;
    let events = m.submit(order);
    assert!(matches!(
        events[0],
        Event::Accepted {
            price: 11_000,
            time_in_force: TimeInForce::Ioc,
            ..
        }
    ));
    assert_eq!(
        fills(&events)
            .iter()
            .filter(|f| f.0 == 1)
            .map(|f| f.3)
            .sum::<u64>(),
        4
    );
    assert_eq!(
        cancels(&events),
        vec![(1, 6, CancelReason::ImmediateOrCancel)]
    );
}

fn a_post_only_order_that_would_take_is_rejected<B: OrderBook>() {
    let mut m = new_market::<B>();
    m.sell(2, 10_000, 1);
    let mut order = m.order(1, Side::Buy, 10_000, 1);
    order.post_only = true;
    assert_eq!(
        rejects(&m.submit(order)),
        vec![RejectReason::PostOnlyWouldTrade]
    );
    let mut order = m.order(1, Side::Buy, 9_999, 1);
    order.post_only = true;
    m.submit(order);
    assert_eq!(m.book(Side::Buy), vec![(9_999, 1)]);
}

fn an_iceberg_shows_its_floor_and_refills_at_the_back<B: OrderBook>() {
    let mut m = new_market::<B>();
    let mut iceberg = m.order(2, Side::Sell, 10_000, 10);
    iceberg.display_qty = 3;
    let first_ref = accepted_id(&m.submit(iceberg));
    m.sell(3, 10_000, 2);
    assert_eq!(m.book(Side::Sell), vec![(10_000, 5)]);

    // Taking the 3 displayed lots refills the iceberg behind account 3's order, under a new reference.
    let events = m.buy(1, 10_000, 4);
    let makers: Vec<_> = fills(&events)
        .into_iter()
        .filter(|f| f.4 == Liquidity::Maker)
        .map(|f| (f.0, f.3))
        .collect();
    assert_eq!(makers, vec![(2, 3), (3, 1)]);
    let refill = book_events(&events)
        .into_iter()
        .find_map(|b| {
            if let BookEvent::Add { order_ref, qty, .. } = b {
                Some((order_ref, qty))
            } else {
                None
            }
        })
        .expect("a refill");
    assert_ne!(refill.0, first_ref);
    assert_eq!(refill.1, 3);
    let queue: Vec<_> = m
        .resting(Side::Sell)
        .iter()
        .map(|o| (o.account, o.display, o.leaves))
        .collect();
    assert_eq!(queue, vec![(3, 1, 1), (2, 3, 7)]);
}

fn an_incoming_iceberg_takes_with_its_whole_size<B: OrderBook>() {
    let mut m = new_market::<B>();
    m.sell(2, 10_000, 6);
    let mut iceberg = m.order(1, Side::Buy, 10_000, 10);
    iceberg.display_qty = 2;
    let events = m.submit(iceberg);
    assert_eq!(fills(&events)[1].3, 6);
    assert_eq!(m.book(Side::Buy), vec![(10_000, 2)]);
    assert_eq!(m.resting(Side::Buy)[0].leaves, 4);
}

fn a_gtt_order_expires_at_its_time<B: OrderBook>() {
    let mut m = new_market::<B>();
    let mut order = m.order(1, Side::Buy, 9_900, 1);
    order.time_in_force = TimeInForce::Gtt;
    order.expire_time_ns = m.now_ns + 1_000;
    m.submit(order);
    m.advance_ns(500);
    assert!(cancels(&m.buy(2, 9_800, 1)).is_empty());
    m.advance_ns(500);
    let events = m.buy(2, 9_800, 1);
    assert_eq!(cancels(&events), vec![(1, 1, CancelReason::Expired)]);
    assert_eq!(m.book(Side::Buy), vec![(9_800, 2)]);
    assert_eq!(m.balance(1, QUOTE).reserved, 0);
}

fn a_gtt_order_in_the_past_is_rejected<B: OrderBook>() {
    let mut m = new_market::<B>();
    let mut order = m.order(1, Side::Buy, 9_900, 1);
    order.time_in_force = TimeInForce::Gtt;
    order.expire_time_ns = 5;
    assert_eq!(
        rejects(&m.submit(order)),
        vec![RejectReason::InvalidExpireTime]
    );
}

fn the_end_of_day_cancels_day_orders_only<B: OrderBook>() {
    let mut m = new_market::<B>();
    let mut day = m.order(1, Side::Buy, 9_900, 1);
    day.time_in_force = TimeInForce::Day;
    m.submit(day);
    m.buy(1, 9_901, 1);
    let events = m.ok(CommandBody::EndOfDay);
    assert_eq!(cancels(&events), vec![(1, 1, CancelReason::EndOfDay)]);
    assert_eq!(m.book(Side::Buy), vec![(9_901, 1)]);
}

// ---- cancel, modify, replace -----------------------------------------------------------------------------------

fn cancel_removes_the_order_and_releases_funds<B: OrderBook>() {
    let mut m = new_market::<B>();
    let order = m.order(1, Side::Buy, 9_950, 4);
    let user_ref = order.user_ref;
    let id = accepted_id(&m.submit(order));
    let events = m.ok(CommandBody::Cancel {
        session: session(1),
        account: 1,
        user_ref,
    });
    assert_eq!(cancels(&events), vec![(1, 4, CancelReason::UserRequested)]);
    assert_eq!(
        book_events(&events),
        vec![BookEvent::Delete {
            instrument: ACME,
            order_ref: id
        }]
    );
    assert_eq!(
        m.balance(1, QUOTE),
        Balance {
            available: FUNDED_QUOTE,
            reserved: 0
        }
    );
}

fn a_session_cannot_touch_another_sessions_orders<B: OrderBook>() {
    let mut m = new_market::<B>();
    let order = m.order(1, Side::Buy, 9_950, 4);
    let user_ref = order.user_ref;
    m.submit(order);
    let events = m.run(CommandBody::Cancel {
        session: session(2),
        account: 2,
        user_ref,
    });
    assert_eq!(rejects(&events), vec![RejectReason::UnknownOrder]);
    // The right session but a forged account is refused too.
    let events = m.run(CommandBody::Cancel {
        session: session(1),
        account: 2,
        user_ref,
    });
    assert_eq!(rejects(&events), vec![RejectReason::UnknownOrder]);
    assert_eq!(m.book(Side::Buy), vec![(9_950, 4)]);
}

fn modify_reduces_and_keeps_priority<B: OrderBook>() {
    let mut m = new_market::<B>();
    let first = m.order(1, Side::Sell, 10_000, 5);
    let user_ref = first.user_ref;
    m.submit(first);
    m.sell(2, 10_000, 5);
    let events = m.ok(CommandBody::Modify {
        session: session(1),
        account: 1,
        user_ref,
        qty: 2,
    });
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Modified { qty: 2, .. })));
    assert!(book_events(&events)
        .iter()
        .any(|b| matches!(b, BookEvent::Cancel { qty: 3, .. })));
    assert_eq!(m.resting(Side::Sell)[0].account, 1);
    assert_eq!(m.balance(1, BASE).reserved, 2);
    let events = m.run(CommandBody::Modify {
        session: session(1),
        account: 1,
        user_ref,
        qty: 3,
    });
    assert_eq!(rejects(&events), vec![RejectReason::NotAReduction]);
}

fn cancel_to_a_quantity_reports_the_decrement_and_keeps_priority<B: OrderBook>() {
    let mut m = new_market::<B>();
    let first = m.order(1, Side::Sell, 10_000, 5);
    let user_ref = first.user_ref;
    m.submit(first);
    m.sell(2, 10_000, 5);
    let events = m.ok(CommandBody::CancelTo {
        session: session(1),
        account: 1,
        user_ref,
        qty: 2,
    });
    // Answered as a cancellation of the 3 lots taken off, not as a modification.
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Canceled {
            qty: 3,
            reason: CancelReason::UserRequested,
            ..
        }
    )));
    assert!(!events.iter().any(|e| matches!(e, Event::Modified { .. })));
    assert_eq!(m.resting(Side::Sell)[0].account, 1);
    assert_eq!(m.balance(1, BASE).reserved, 2);
    let events = m.run(CommandBody::CancelTo {
        session: session(1),
        account: 1,
        user_ref,
        qty: 2,
    });
    assert_eq!(rejects(&events), vec![RejectReason::NotAReduction]);
}

fn replace_to_a_new_price_loses_priority<B: OrderBook>() {
    let mut m = new_market::<B>();
    let first = m.order(1, Side::Buy, 9_990, 5);
    let user_ref = first.user_ref;
    let old_id = accepted_id(&m.submit(first));
    m.buy(2, 9_995, 5);
    let events = m.ok(CommandBody::Replace(Replace {
        session: session(1),
        account: 1,
        user_ref,
        new_user_ref: 100,
        price: 9_995,
        qty: 5,
    }));
    let new_id = events
        .iter()
        .find_map(|e| {
            if let Event::Replaced {
                order_id,
                old_order_id,
                ..
            } = e
            {
                Some((*old_order_id, *order_id))
            } else {
                None
            }
        })
        .unwrap();
    assert_eq!(new_id.0, old_id);
    assert_ne!(new_id.1, old_id);
    assert_eq!(
        book_events(&events),
        vec![BookEvent::Replace {
            instrument: ACME,
            old_ref: old_id,
            new_ref: new_id.1,
            price: 9_995,
            qty: 5
        }]
    );
    let queue: Vec<_> = m
        .resting(Side::Buy)
        .iter()
        .map(|o| (o.account, o.user_ref))
        .collect();
    assert_eq!(
        queue,
        vec![(2, 1), (1, 100)],
        "account 2 was first at 9_995"
    );
    assert!(m.engine.order_by_user_ref(session(1), user_ref).is_none());
}

fn replace_to_a_smaller_size_keeps_priority_and_a_larger_loses_it<B: OrderBook>() {
    let mut m = new_market::<B>();
    let first = m.order(1, Side::Buy, 9_990, 5);
    let user_ref = first.user_ref;
    m.submit(first);
    m.buy(2, 9_990, 5);
    let replace = |user_ref, new_user_ref, qty| {
        CommandBody::Replace(Replace {
            session: session(1),
            account: 1,
            user_ref,
            new_user_ref,
            price: 9_990,
            qty,
        })
    };
    m.ok(replace(user_ref, 50, 3));
    assert_eq!(m.resting(Side::Buy)[0].account, 1);
    assert_eq!(m.resting(Side::Buy)[0].leaves, 3);
    m.ok(replace(50, 51, 4));
    assert_eq!(
        m.resting(Side::Buy)[1].account,
        1,
        "a larger size goes to the back"
    );
    assert_eq!(m.book(Side::Buy), vec![(9_990, 9)]);
}

fn a_replace_that_crosses_trades<B: OrderBook>() {
    let mut m = new_market::<B>();
    m.sell(2, 10_000, 2);
    let first = m.order(1, Side::Buy, 9_990, 5);
    let user_ref = first.user_ref;
    let old_id = accepted_id(&m.submit(first));
    let events = m.ok(CommandBody::Replace(Replace {
        session: session(1),
        account: 1,
        user_ref,
        new_user_ref: 9,
        price: 10_000,
        qty: 5,
    }));
    let books = book_events(&events);
    assert_eq!(
        books[0],
        BookEvent::Delete {
            instrument: ACME,
            order_ref: old_id
        }
    );
    assert!(matches!(
        books.last(),
        Some(BookEvent::Add {
            qty: 3,
            price: 10_000,
            ..
        })
    ));
    assert_eq!(fills(&events).len(), 2);
}

fn a_replace_with_a_used_user_ref_is_rejected<B: OrderBook>() {
    let mut m = new_market::<B>();
    let a = m.order(1, Side::Buy, 9_990, 5);
    let b = m.order(1, Side::Buy, 9_991, 5);
    let (a_ref, b_ref) = (a.user_ref, b.user_ref);
    m.submit(a);
    m.submit(b);
    let events = m.run(CommandBody::Replace(Replace {
        session: session(1),
        account: 1,
        user_ref: a_ref,
        new_user_ref: b_ref,
        price: 9_992,
        qty: 5,
    }));
    assert_eq!(rejects(&events), vec![RejectReason::DuplicateUserRef]);
}

fn a_new_order_with_a_live_user_ref_is_rejected<B: OrderBook>() {
    let mut m = new_market::<B>();
    let order = m.order(1, Side::Buy, 9_990, 5);
    m.submit(order);
    assert_eq!(
        rejects(&m.submit(order)),
        vec![RejectReason::DuplicateUserRef]
    );
}

// ---- mass cancel -----------------------------------------------------------------------------------------------

fn mass_cancel_by_account_side_and_group<B: OrderBook>() {
    let mut m = new_market::<B>();
    let mut grouped = m.order(1, Side::Buy, 9_990, 1);
    grouped.group = 7;
    m.submit(grouped);
    m.buy(1, 9_991, 1);
    m.sell(1, 10_010, 1);
    m.sell(2, 10_011, 1);
    let mass = |account, side, group| MassCancel {
        session: session(1),
        user_ref: 0,
        reason: MassCancelReason::UserRequested,
        account: Some(account),
        only_session: None,
        instrument: None,
        side,
        group,
    };
    let events = m.ok(CommandBody::MassCancel(mass(1, None, Some(7))));
    assert_eq!(cancels(&events), vec![(1, 1, CancelReason::MassCancel)]);
    let events = m.ok(CommandBody::MassCancel(mass(1, Some(Side::Sell), None)));
    assert_eq!(cancels(&events), vec![(1, 1, CancelReason::MassCancel)]);
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::MassCanceled { count: 1, .. })));
    assert_eq!(m.book(Side::Buy), vec![(9_991, 1)]);
    assert_eq!(m.book(Side::Sell), vec![(10_011, 1)]);
}

fn mass_cancel_by_instrument_and_on_disconnect<B: OrderBook>() {
    let mut m = new_market::<B>();
    m.buy(1, 9_990, 1);
    m.buy(2, 9_991, 1);
    m.sell(3, 10_010, 1);
    let disconnect = MassCancel {
        session: 0,
        user_ref: 0,
        reason: MassCancelReason::Disconnect,
        account: Some(2),
        only_session: Some(session(2)),
        instrument: None,
        side: None,
        group: None,
    };
    assert_eq!(
        cancels(&m.ok(CommandBody::MassCancel(disconnect))),
        vec![(2, 1, CancelReason::Disconnect)]
    );
    let admin = MassCancel {
        session: 0,
        user_ref: 0,
        reason: MassCancelReason::Admin,
        account: None,
        only_session: None,
        instrument: Some(ACME),
        side: None,
        group: None,
    };
    let events = m.ok(CommandBody::MassCancel(admin));
    assert_eq!(cancels(&events).len(), 2);
    assert!(m.book(Side::Buy).is_empty() && m.book(Side::Sell).is_empty());
    let unscoped = MassCancel {
        instrument: None,
        ..admin
    };
    assert_eq!(
        rejects(&m.run(CommandBody::MassCancel(unscoped))),
        vec![RejectReason::MassCancelNeedsScope]
    );
}

// ---- quotes ----------------------------------------------------------------------------------------------------

fn quote(
    account: AccountId,
    user_ref: UserRef,
    bid: (Price, Qty),
    ask: (Price, Qty),
) -> CommandBody {
    CommandBody::Quote(Quote {
        session: session(account),
        account,
        user_ref,
        instrument: ACME,
        bid_price: bid.0,
        bid_qty: bid.1,
        ask_price: ask.0,
        ask_qty: ask.1,
    })
}

fn quote_status(events: &[Event]) -> (QuoteSide, QuoteSide) {
    events
        .iter()
        .find_map(|e| {
            if let Event::QuoteStatus { bid, ask, .. } = e {
                Some((*bid, *ask))
            } else {
                None
            }
        })
        .unwrap()
}

fn a_quote_sets_both_sides_and_a_new_quote_replaces_it<B: OrderBook>() {
    let mut m = new_market::<B>();
    let (bid, ask) = quote_status(&m.ok(quote(3, 1, (9_990, 10), (10_010, 10))));
    assert_eq!(
        (bid.price, bid.qty, ask.price, ask.qty),
        (9_990, 10, 10_010, 10)
    );
    let events = m.ok(quote(3, 2, (9_995, 10), (10_005, 8)));
    assert_eq!(
        cancels(&events),
        vec![
            (3, 10, CancelReason::QuoteReplaced),
            (3, 10, CancelReason::QuoteReplaced)
        ]
    );
    assert_eq!(m.book(Side::Buy), vec![(9_995, 10)]);
    assert_eq!(m.book(Side::Sell), vec![(10_005, 8)]);
    assert_eq!(m.engine.open_orders(3), 2);
}

fn a_zero_size_withdraws_a_side_and_unchanged_sides_keep_priority<B: OrderBook>() {
    let mut m = new_market::<B>();
    m.ok(quote(3, 1, (9_990, 10), (10_010, 10)));
    m.buy(1, 9_990, 1);
    let events = m.ok(quote(3, 2, (9_990, 10), (10_010, 0)));
    assert!(cancels(&events) == vec![(3, 10, CancelReason::QuoteReplaced)]);
    assert!(m.book(Side::Sell).is_empty());
    assert_eq!(
        m.resting(Side::Buy)[0].account,
        3,
        "the unchanged bid keeps its place ahead of account 1"
    );
    m.ok(quote(3, 3, (9_990, 4), (0, 0)));
    assert_eq!(
        m.resting(Side::Buy)[0].account,
        3,
        "a smaller bid at the same price keeps its place"
    );
    assert_eq!(m.resting(Side::Buy)[0].leaves, 4);
}

fn a_rejected_quote_leaves_the_previous_quote_in_place<B: OrderBook>() {
    let mut m = new_market::<B>();
    m.ok(quote(3, 1, (9_990, 10), (10_010, 10)));
    let events = m.run(quote(3, 2, (10_010, 10), (10_000, 10)));
    assert_eq!(rejects(&events), vec![RejectReason::QuoteCrossed]);
    let events = m.run(quote(3, 3, (9_995, 10), (20_000, 10)));
    assert_eq!(rejects(&events), vec![RejectReason::PriceOutsideBand]);
    assert_eq!(m.book(Side::Buy), vec![(9_990, 10)]);
    assert_eq!(m.book(Side::Sell), vec![(10_010, 10)]);
}

fn a_quote_can_trade_and_its_fills_are_ordinary_executions<B: OrderBook>() {
    let mut m = new_market::<B>();
    m.ok(quote(3, 1, (9_990, 10), (10_010, 10)));
    let events = m.buy(1, 10_010, 4);
    assert_eq!(
        fills(&events)[0],
        (3, Side::Sell, 10_010, 4, Liquidity::Maker)
    );
    let (_, ask) = quote_status(&m.ok(quote(3, 2, (9_990, 10), (10_010, 6))));
    assert_eq!(ask.qty, 6, "the remaining 6 lots are kept");
    // A quote that crosses the book takes liquidity.
    m.sell(2, 10_000, 3);
    let events = m.ok(quote(4, 1, (10_000, 5), (10_020, 5)));
    assert!(fills(&events).contains(&(4, Side::Buy, 10_000, 3, Liquidity::Taker)));
    let (bid, _) = quote_status(&events);
    assert_eq!((bid.price, bid.qty), (10_000, 2));
}

fn a_new_quote_through_the_old_one_replaces_it_without_trading_with_it<B: OrderBook>() {
    let mut m = new_market::<B>();
    m.ok(quote(3, 1, (9_990, 10), (10_001, 10)));
    // The new bid is at the old ask: the old sides go first, so nothing trades and no self-trade happens.
    let events = m.ok(quote(3, 2, (10_001, 5), (10_003, 5)));
    assert!(fills(&events).is_empty());
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::SelfTradeCanceled { .. })));
    assert_eq!(
        cancels(&events),
        vec![
            (3, 10, CancelReason::QuoteReplaced),
            (3, 10, CancelReason::QuoteReplaced)
        ]
    );
    assert_eq!(m.book(Side::Buy), vec![(10_001, 5)]);
    assert_eq!(m.book(Side::Sell), vec![(10_003, 5)]);
}

fn a_quote_needs_funds_for_both_sides<B: OrderBook>() {
    let mut m = new_market::<B>();
    m.ok(CommandBody::SetAccount(account_spec(5)));
    m.ok(CommandBody::Deposit {
        account: 5,
        asset: QUOTE,
        amount: 200_000,
    });
    let events = m.run(quote(5, 1, (9_990, 10), (10_010, 10)));
    assert_eq!(
        rejects(&events),
        vec![RejectReason::InsufficientFunds],
        "no base to sell"
    );
    m.ok(CommandBody::Deposit {
        account: 5,
        asset: BASE,
        amount: 10,
    });
    m.ok(quote(5, 2, (9_990, 10), (10_010, 10)));
    // Moving the bid needs the same funds again, available only because the old bid frees its own.
    m.ok(quote(5, 3, (9_991, 10), (10_010, 10)));
    assert_eq!(m.book(Side::Buy), vec![(9_991, 10)]);
}

fn a_quote_for_another_account_on_the_same_session_does_not_spend_the_funds_the_old_quote_frees<
    B: OrderBook,
>() {
    let mut m = new_market::<B>();
    m.ok(CommandBody::SetAccount(account_spec(5)));
    // Account 3 quotes on its session; the same session then quotes for account 5, which holds nothing.
    m.ok(quote(3, 1, (9_990, 10), (10_010, 10)));
    let for_five = |user_ref, bid: (Price, Qty), ask: (Price, Qty)| {
        CommandBody::Quote(Quote {
            session: session(3),
            account: 5,
            user_ref,
            instrument: ACME,
            bid_price: bid.0,
            bid_qty: bid.1,
            ask_price: ask.0,
            ask_qty: ask.1,
        })
    };
    let events = m.run(for_five(2, (9_991, 1), (10_009, 2)));
    assert_eq!(
        rejects(&events),
        vec![RejectReason::InsufficientFunds],
        "account 3's reservations are not account 5's to spend"
    );
    assert_eq!(m.book(Side::Buy), vec![(9_990, 10)]);
    assert_eq!(m.book(Side::Sell), vec![(10_010, 10)]);
    // Funded, account 5 replaces the session's quote; account 3 gets its reservations back.
    m.ok(CommandBody::Deposit {
        account: 5,
        asset: QUOTE,
        amount: 200_000,
    });
    m.ok(CommandBody::Deposit {
        account: 5,
        asset: BASE,
        amount: 10,
    });
    m.ok(for_five(3, (9_991, 1), (10_009, 2)));
    assert_eq!(m.book(Side::Buy), vec![(9_991, 1)]);
    assert_eq!(m.book(Side::Sell), vec![(10_009, 2)]);
    assert_eq!(m.engine.open_orders(3), 0);
    assert_eq!(m.engine.open_orders(5), 2);
    for asset in [BASE, QUOTE] {
        assert_eq!(m.engine.balance(3, asset).reserved, 0);
    }
}

// ---- self-trade prevention -------------------------------------------------------------------------------------

fn stp_mode(m: &mut Market<impl OrderBook>, account: AccountId, mode: StpMode, group: u32) {
    m.ok(CommandBody::SetAccount(AccountSpec {
        stp_mode: mode,
        stp_group: group,
        ..account_spec(account)
    }));
}

fn self_trade_prevention_cancels_the_resting_order<B: OrderBook>() {
    let mut m = new_market::<B>();
    m.sell(1, 10_000, 3);
    m.sell(2, 10_000, 3);
    let events = m.buy(1, 10_000, 3);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::SelfTradeCanceled {
            account: 1,
            qty: 3,
            prevented_qty: 3,
            liquidity: Liquidity::Maker,
            ..
        }
    )));
    assert_eq!(
        fills(&events),
        vec![
            (2, Side::Sell, 10_000, 3, Liquidity::Maker),
            (1, Side::Buy, 10_000, 3, Liquidity::Taker)
        ]
    );
}

fn self_trade_prevention_cancels_the_incoming_order<B: OrderBook>() {
    let mut m = new_market::<B>();
    stp_mode(&mut m, 1, StpMode::CancelIncoming, 0);
    m.sell(2, 9_999, 1);
    m.sell(1, 10_000, 3);
    let events = m.buy(1, 10_000, 5);
    assert_eq!(fills(&events).len(), 2, "trades with account 2 first");
    assert!(events.iter().any(|e| matches!(
        e,
        Event::SelfTradeCanceled {
            account: 1,
            qty: 4,
            prevented_qty: 3,
            liquidity: Liquidity::Taker,
            ..
        }
    )));
    assert_eq!(m.book(Side::Sell), vec![(10_000, 3)]);
    assert!(m.book(Side::Buy).is_empty());
    assert_eq!(m.balance(1, QUOTE).reserved, 0);
}

fn self_trade_prevention_cancels_both_across_a_firm_group<B: OrderBook>() {
    let mut m = new_market::<B>();
    stp_mode(&mut m, 1, StpMode::CancelBoth, 42);
    stp_mode(&mut m, 2, StpMode::CancelResting, 42);
    m.sell(2, 10_000, 3);
    let events = m.buy(1, 10_000, 5);
    let stp: Vec<_> = events
        .iter()
        .filter_map(|e| {
            if let Event::SelfTradeCanceled { account, qty, .. } = e {
                Some((*account, *qty))
            } else {
                None
            }
        })
        .collect();
    assert_eq!(stp, vec![(2, 3), (1, 5)]);
    assert!(fills(&events).is_empty());
    assert!(m.book(Side::Buy).is_empty() && m.book(Side::Sell).is_empty());
}

// ---- risk and reference data -----------------------------------------------------------------------------------

fn orders_breaking_a_rule_are_rejected_with_its_reason<B: OrderBook>() {
    let mut m = new_market::<B>();
    m.ok(CommandBody::SetAccount(AccountSpec {
        max_order_qty: 100,
        max_order_notional: 500_000,
        max_open_orders: 1,
        ..account_spec(1)
    }));
    let cases: Vec<(NewOrder, RejectReason)> = vec![
        (
            NewOrder {
                price: 0,
                ..m.order(1, Side::Buy, 0, 1)
            },
            RejectReason::InvalidPrice,
        ),
        (
            NewOrder {
                price: -5,
                ..m.order(1, Side::Buy, 0, 1)
            },
            RejectReason::InvalidPrice,
        ),
        (
            m.order(1, Side::Buy, 12_000, 1),
            RejectReason::PriceOutsideBand,
        ),
        (
            m.order(1, Side::Buy, 8_000, 1),
            RejectReason::PriceOutsideBand,
        ),
        (m.order(1, Side::Buy, 10_000, 0), RejectReason::InvalidQty),
        (
            m.order(1, Side::Buy, 10_000, 101),
            RejectReason::QtyAboveMax,
        ),
        (
            m.order(1, Side::Buy, 10_000, 60),
            RejectReason::NotionalAboveMax,
        ),
        (
            NewOrder {
                instrument: 99,
                ..m.order(1, Side::Buy, 10_000, 1)
            },
            RejectReason::UnknownInstrument,
        ),
        (
            NewOrder {
                account: 77,
                ..m.order(1, Side::Buy, 10_000, 1)
            },
            RejectReason::UnknownAccount,
        ),
        (
            NewOrder {
                display_qty: 5,
                ..m.order(1, Side::Buy, 10_000, 1)
            },
            RejectReason::InvalidDisplayQty,
        ),
        (
            NewOrder {
                post_only: true,
                time_in_force: TimeInForce::Ioc,
                ..m.order(1, Side::Buy, 10_000, 1)
            },
            RejectReason::InvalidTimeInForce,
        ),
    ];
    for (order, reason) in cases {
        assert_eq!(rejects(&m.submit(order)), vec![reason], "{order:?}");
    }
    m.buy(1, 9_000, 1);
    assert_eq!(
        rejects(&m.buy(1, 9_001, 1)),
        vec![RejectReason::TooManyOpenOrders]
    );
}

fn a_price_off_the_tick_is_rejected<B: OrderBook>() {
    let mut m = Market::<B>::with_config(
        EngineConfig::default(),
        InstrumentSpec {
            tick: 5,
            ..acme_spec()
        },
    );
    assert_eq!(
        rejects(&m.buy(1, 10_001, 1)),
        vec![RejectReason::PriceNotOnTick]
    );
    assert!(rejects(&m.buy(1, 10_005, 1)).is_empty());
}

fn an_order_without_funds_is_rejected<B: OrderBook>() {
    let mut m = new_market::<B>();
    m.ok(CommandBody::SetAccount(account_spec(6)));
    m.ok(CommandBody::Deposit {
        account: 6,
        asset: QUOTE,
        amount: 10_000,
    });
    assert_eq!(
        rejects(&m.buy(6, 10_000, 1)),
        vec![RejectReason::InsufficientFunds],
        "the fee needs funds too"
    );
    assert_eq!(
        rejects(&m.sell(6, 10_000, 1)),
        vec![RejectReason::InsufficientFunds]
    );
    m.ok(CommandBody::Deposit {
        account: 6,
        asset: QUOTE,
        amount: 3,
    });
    assert!(rejects(&m.buy(6, 10_000, 1)).is_empty());
}

fn halted_and_cancel_only_instruments_accept_only_cancels<B: OrderBook>() {
    let mut m = new_market::<B>();
    let resting = m.order(1, Side::Buy, 9_990, 5);
    let user_ref = resting.user_ref;
    m.submit(resting);
    m.ok(CommandBody::SetInstrumentStatus {
        instrument: ACME,
        status: InstrumentStatus::Halted,
    });
    assert_eq!(
        rejects(&m.buy(2, 9_990, 1)),
        vec![RejectReason::InstrumentHalted]
    );
    m.ok(CommandBody::SetInstrumentStatus {
        instrument: ACME,
        status: InstrumentStatus::CancelOnly,
    });
    assert_eq!(rejects(&m.buy(2, 9_990, 1)), vec![RejectReason::CancelOnly]);
    m.ok(CommandBody::Modify {
        session: session(1),
        account: 1,
        user_ref,
        qty: 2,
    });
    m.ok(CommandBody::Cancel {
        session: session(1),
        account: 1,
        user_ref,
    });
    m.ok(CommandBody::SetInstrumentStatus {
        instrument: ACME,
        status: InstrumentStatus::Trading,
    });
    assert!(rejects(&m.buy(2, 9_990, 1)).is_empty());
}

fn disabled_order_entry_rejects_orders_but_allows_cancels<B: OrderBook>() {
    let mut m = new_market::<B>();
    let resting = m.order(1, Side::Buy, 9_990, 5);
    let user_ref = resting.user_ref;
    m.submit(resting);
    m.ok(CommandBody::SetAccount(AccountSpec {
        order_entry_enabled: false,
        ..account_spec(1)
    }));
    assert_eq!(
        rejects(&m.buy(1, 9_990, 1)),
        vec![RejectReason::OrderEntryDisabled]
    );
    m.ok(CommandBody::Cancel {
        session: session(1),
        account: 1,
        user_ref,
    });
}

fn the_band_follows_the_last_trade<B: OrderBook>() {
    let mut m = new_market::<B>();
    m.sell(2, 10_900, 1);
    m.buy(1, 10_900, 1);
    assert_eq!(m.engine.price_band(ACME), Some((9_810, 11_990)));
    assert!(rejects(&m.buy(1, 11_500, 1)).is_empty());
}

fn a_big_move_trips_the_circuit_breaker_until_the_halt_ends<B: OrderBook>() {
    let spec = InstrumentSpec {
        breaker_move_bps: 200,
        breaker_window_ns: 1_000_000,
        breaker_halt_ns: 5_000_000,
        ..acme_spec()
    };
    let mut m = Market::<B>::with_config(EngineConfig::default(), spec);
    m.sell(2, 10_000, 1);
    m.sell(2, 10_100, 1);
    m.sell(2, 10_300, 1);
    let events = m.buy(1, 10_300, 3);
    // 10_000 and 10_100 trade; 10_300 is more than 2% above 10_000, so trading halts and the rest is cancelled.
    assert_eq!(fills(&events).iter().filter(|f| f.0 == 1).count(), 2);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::TradingAction {
            status: InstrumentStatus::Halted,
            reason: TradingActionReason::CircuitBreaker,
            ..
        }
    )));
    assert_eq!(cancels(&events), vec![(1, 1, CancelReason::CircuitBreaker)]);
    assert_eq!(
        rejects(&m.buy(1, 10_300, 1)),
        vec![RejectReason::InstrumentHalted]
    );
    m.advance_ns(5_000_000);
    let events = m.buy(1, 10_300, 1);
    assert!(events.iter().any(|e| matches!(
        e,
        Event::TradingAction {
            status: InstrumentStatus::Trading,
            reason: TradingActionReason::HaltEnded,
            ..
        }
    )));
    assert_eq!(fills(&events).len(), 2, "after the halt the order trades");
}

// ---- capacity --------------------------------------------------------------------------------------------------

fn a_full_order_pool_rejects_with_book_full<B: OrderBook>() {
    let config = EngineConfig {
        max_orders: 3,
        max_levels_per_side: 8,
        ..EngineConfig::default()
    };
    let mut m = Market::<B>::with_config(config, acme_spec());
    for price in [9_990, 9_991, 9_992] {
        m.buy(1, price, 1);
    }
    assert_eq!(rejects(&m.buy(1, 9_993, 1)), vec![RejectReason::BookFull]);
    // An IOC needs no slot and still trades.
    m.sell(2, 10_000, 1);
    let mut ioc = m.order(2, Side::Sell, 9_992, 1);
    ioc.time_in_force = TimeInForce::Ioc;
    assert_eq!(fills(&m.submit(ioc)).len(), 2);
}

fn a_full_ladder_rejects_new_prices_but_not_existing_ones<B: OrderBook>() {
    let config = EngineConfig {
        max_orders: 64,
        max_levels_per_side: 2,
        ..EngineConfig::default()
    };
    let mut m = Market::<B>::with_config(config, acme_spec());
    m.buy(1, 9_990, 1);
    m.buy(1, 9_991, 1);
    assert_eq!(rejects(&m.buy(1, 9_992, 1)), vec![RejectReason::BookFull]);
    assert!(rejects(&m.buy(1, 9_991, 1)).is_empty());
}

// ---- accounts --------------------------------------------------------------------------------------------------

fn deposits_and_withdrawals_move_available_funds_only<B: OrderBook>() {
    let mut m = new_market::<B>();
    m.buy(1, 10_000, 1);
    let reserved = m.balance(1, QUOTE).reserved;
    let events = m.run(CommandBody::Withdraw {
        account: 1,
        asset: QUOTE,
        amount: FUNDED_QUOTE,
    });
    assert_eq!(
        rejects(&events),
        vec![RejectReason::InsufficientFunds],
        "reserved funds cannot leave"
    );
    m.ok(CommandBody::Withdraw {
        account: 1,
        asset: QUOTE,
        amount: FUNDED_QUOTE - reserved,
    });
    assert_eq!(
        m.balance(1, QUOTE),
        Balance {
            available: 0,
            reserved
        }
    );
    assert_eq!(
        rejects(&m.run(CommandBody::Deposit {
            account: 99,
            asset: QUOTE,
            amount: 1
        })),
        vec![RejectReason::UnknownAccount]
    );
    assert_eq!(
        rejects(&m.run(CommandBody::Deposit {
            account: 1,
            asset: 999,
            amount: 1
        })),
        vec![RejectReason::UnknownAsset]
    );
    assert_eq!(
        rejects(&m.run(CommandBody::Deposit {
            account: 1,
            asset: QUOTE,
            amount: 0
        })),
        vec![RejectReason::InvalidAmount]
    );
    assert_eq!(
        rejects(&m.run(CommandBody::Deposit {
            account: 1,
            asset: QUOTE,
            amount: u64::MAX
        })),
        vec![RejectReason::BalanceOverflow]
    );
}

fn instruments_are_added_once_and_checked<B: OrderBook>() {
    let mut m = new_market::<B>();
    assert_eq!(
        rejects(&m.run(CommandBody::AddInstrument(acme_spec()))),
        vec![RejectReason::InstrumentExists]
    );
    let bad = InstrumentSpec {
        instrument: BOLT,
        band_bps: 0,
        ..acme_spec()
    };
    assert_eq!(
        rejects(&m.run(CommandBody::AddInstrument(bad))),
        vec![RejectReason::InvalidInstrumentSpec]
    );
    let same_assets = InstrumentSpec {
        instrument: BOLT,
        quote_asset: BASE,
        ..acme_spec()
    };
    assert_eq!(
        rejects(&m.run(CommandBody::AddInstrument(same_assets))),
        vec![RejectReason::InvalidInstrumentSpec]
    );
    let good = InstrumentSpec {
        instrument: BOLT,
        symbol: symbol("BOLT"),
        base_asset: BOLT_BASE,
        ..acme_spec()
    };
    assert!(matches!(
        m.ok(CommandBody::AddInstrument(good))[..],
        [Event::InstrumentAdded {
            instrument: BOLT,
            ..
        }]
    ));
}

macro_rules! for_both_books {
    ($($name:ident),* $(,)?) => {
        mod fast_book {
            use crossline_engine::FastBook;
            $( #[test] fn $name() { super::$name::<FastBook>() } )*
        }
        mod naive_book {
            use crossline_engine::NaiveBook;
            $( #[test] fn $name() { super::$name::<NaiveBook>() } )*
        }
    };
}

for_both_books!(
    a_state_check_compares_the_hash_before_it_and_changes_no_order,
    an_order_keyed_by_the_largest_session_and_user_ref_is_found_and_cancelled,
    a_limit_order_that_does_not_cross_rests,
    a_crossing_order_trades_at_the_resting_price,
    orders_at_one_price_fill_in_time_priority,
    a_partly_filled_limit_order_rests_with_the_rest,
    match_numbers_are_shared_by_both_sides_and_increase,
    an_ioc_order_cancels_what_it_cannot_fill,
    a_fill_or_kill_order_trades_all_or_nothing,
    min_qty_is_only_for_ioc_and_not_above_qty,
    a_market_order_sweeps_to_the_band_and_cancels_the_rest,
    a_post_only_order_that_would_take_is_rejected,
    an_iceberg_shows_its_floor_and_refills_at_the_back,
    an_incoming_iceberg_takes_with_its_whole_size,
    a_gtt_order_expires_at_its_time,
    a_gtt_order_in_the_past_is_rejected,
    the_end_of_day_cancels_day_orders_only,
    cancel_removes_the_order_and_releases_funds,
    a_session_cannot_touch_another_sessions_orders,
    modify_reduces_and_keeps_priority,
    cancel_to_a_quantity_reports_the_decrement_and_keeps_priority,
    replace_to_a_new_price_loses_priority,
    replace_to_a_smaller_size_keeps_priority_and_a_larger_loses_it,
    a_replace_that_crosses_trades,
    a_replace_with_a_used_user_ref_is_rejected,
    a_new_order_with_a_live_user_ref_is_rejected,
    mass_cancel_by_account_side_and_group,
    mass_cancel_by_instrument_and_on_disconnect,
    a_quote_sets_both_sides_and_a_new_quote_replaces_it,
    a_zero_size_withdraws_a_side_and_unchanged_sides_keep_priority,
    a_rejected_quote_leaves_the_previous_quote_in_place,
    a_quote_can_trade_and_its_fills_are_ordinary_executions,
    a_quote_needs_funds_for_both_sides,
    a_quote_for_another_account_on_the_same_session_does_not_spend_the_funds_the_old_quote_frees,
    a_new_quote_through_the_old_one_replaces_it_without_trading_with_it,
    self_trade_prevention_cancels_the_resting_order,
    self_trade_prevention_cancels_the_incoming_order,
    self_trade_prevention_cancels_both_across_a_firm_group,
    orders_breaking_a_rule_are_rejected_with_its_reason,
    a_price_off_the_tick_is_rejected,
    an_order_without_funds_is_rejected,
    halted_and_cancel_only_instruments_accept_only_cancels,
    disabled_order_entry_rejects_orders_but_allows_cancels,
    the_band_follows_the_last_trade,
    a_big_move_trips_the_circuit_breaker_until_the_halt_ends,
    a_full_order_pool_rejects_with_book_full,
    a_full_ladder_rejects_new_prices_but_not_existing_ones,
    deposits_and_withdrawals_move_available_funds_only,
    instruments_are_added_once_and_checked,
);
