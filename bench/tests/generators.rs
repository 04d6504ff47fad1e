//! The generators' contract: the same (workload, ops, seed) gives the same flow, a flow is what its definition
//! says, and a changed flow for a pinned seed cannot pass unnoticed (old results would stop being comparable).

use crossline_bench::workload::{
    liquibook, mass_cancel, mm_quotes, xc_single, Flow, WorkloadKind, INSTRUMENT,
};
use crossline_engine::{Command, CommandBody, NewOrder, OrderType, Side, TimeInForce};
use std::collections::{BTreeMap, HashSet};

fn new_orders(commands: &[Command]) -> Vec<NewOrder> {
    commands
        .iter()
        .filter_map(|command| match command.body {
            CommandBody::NewOrder(order) => Some(order),
            _ => None,
        })
        .collect()
}

fn measured(flow: &Flow) -> Vec<Command> {
    flow.measured_commands().copied().collect()
}

#[test]
fn every_workload_gives_the_same_flow_for_the_same_seed_and_another_for_another() {
    for workload in WorkloadKind::ALL {
        let first = workload.generate(3_000, 11).expect("generates");
        let again = workload.generate(3_000, 11).expect("generates");
        let other = workload.generate(3_000, 12).expect("generates");
        assert_eq!(first, again, "{} is not deterministic", workload.name());
        assert_ne!(
            measured(&first),
            measured(&other),
            "{} ignores its seed",
            workload.name()
        );
    }
}

#[test]
fn sequence_numbers_run_from_one_without_gaps_and_time_never_goes_back() {
    for workload in WorkloadKind::ALL {
        let flow = workload.generate(2_000, 5).expect("generates");
        let mut last_time_ns = 0;
        for (expected_seq, command) in (1..).zip(flow.all_commands()) {
            assert_eq!(command.seq, expected_seq, "{}", workload.name());
            assert!(command.timestamp_ns >= last_time_ns);
            last_time_ns = command.timestamp_ns;
        }
    }
}

#[test]
fn user_refs_are_never_reused_within_a_session() {
    for workload in WorkloadKind::ALL {
        let flow = workload.generate(5_000, 8).expect("generates");
        let mut seen = HashSet::new();
        for command in flow.all_commands() {
            let key = match command.body {
                CommandBody::NewOrder(order) => (order.session, order.user_ref),
                CommandBody::Replace(replace) => (replace.session, replace.new_user_ref),
                CommandBody::Quote(quote) => (quote.session, quote.user_ref),
                CommandBody::MassCancel(mass_cancel) => (mass_cancel.session, mass_cancel.user_ref),
                _ => continue,
            };
            assert!(seen.insert(key), "{}: {key:?} used twice", workload.name());
        }
    }
}

/// FNV-1a over the fields that define a liquibook order.
fn liquibook_digest(flow: &Flow) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for order in new_orders(&measured(flow)) {
        for word in [
            order.side as u64,
            order.price as u64,
            order.qty,
            u64::from(order.account),
        ] {
            for byte in word.to_le_bytes() {
                hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
    }
    hash
}

#[test]
fn the_liquibook_flow_for_seed_3_is_pinned() {
    let flow = liquibook::generate(1_000, 3).expect("generates");
    assert_eq!(
        liquibook_digest(&flow),
        PINNED_LIQUIBOOK_SEED_3_DIGEST,
        "the liquibook flow changed for seed 3"
    );
}

const PINNED_LIQUIBOOK_SEED_3_DIGEST: u64 = 10_596_924_873_846_048_550;

#[test]
fn liquibook_alternates_sides_within_its_price_ranges_and_quantities() {
    let flow = liquibook::generate(20_000, 3).expect("generates");
    let orders = new_orders(&measured(&flow));
    assert_eq!(orders.len(), 20_000);
    let mut price_offsets = BTreeMap::<(u8, i64), u32>::new();
    let mut quantities = BTreeMap::<u64, u32>::new();
    for (i, order) in orders.iter().enumerate() {
        let (side, base) = if i % 2 == 0 {
            (Side::Buy, liquibook::BUY_PRICE_BASE)
        } else {
            (Side::Sell, liquibook::SELL_PRICE_BASE)
        };
        assert_eq!(order.side, side, "order {i}");
        assert!(
            (0..=9).contains(&(order.price - base)),
            "order {i} priced {}",
            order.price
        );
        assert!(
            order.qty % 100 == 0 && (100..=1000).contains(&order.qty),
            "order {i} qty {}",
            order.qty
        );
        assert_eq!(
            (order.order_type, order.time_in_force),
            (OrderType::Limit, TimeInForce::Gtc)
        );
        assert_eq!(order.instrument, INSTRUMENT);
        let buyer = order.account <= liquibook::ACCOUNTS_PER_SIDE;
        assert_eq!(
            buyer,
            side == Side::Buy,
            "buyers and sellers never share an account"
        );
        *price_offsets
            .entry((side as u8, order.price - base))
            .or_default() += 1;
        *quantities.entry(order.qty).or_default() += 1;
    }
    // Ten offsets per side and ten quantities, each near 1/10 of its population.
    assert_eq!(price_offsets.len(), 20);
    assert!(
        price_offsets
            .values()
            .all(|&count| (850..=1150).contains(&count)),
        "{price_offsets:?}"
    );
    assert_eq!(quantities.len(), 10);
    assert!(
        quantities
            .values()
            .all(|&count| (1750..=2250).contains(&count)),
        "{quantities:?}"
    );
}

#[test]
fn xc_single_mix_matches_exchange_cores_within_tolerance() {
    let ops = 40_000;
    let flow = xc_single::generate(ops, 3).expect("generates");
    let mix = flow.measured_mix();
    assert_eq!(mix.total(), ops);
    let percent = |count: u64| count as f64 * 100.0 / ops as f64;
    let within = |name: &str, count: u64, target: f64, tolerance: f64| {
        let actual = percent(count);
        assert!(
            (actual - target).abs() <= tolerance,
            "{name}: {actual:.2}% against {target}%"
        );
    };
    within("GTC", mix.gtc, 9.0, 0.6);
    within("IOC", mix.ioc, 3.0, 0.4);
    within("cancel", mix.cancel, 6.0, 0.5);
    within("move", mix.replace, 82.0, 0.8);
    assert_eq!(
        mix.gtc + mix.ioc + mix.cancel + mix.replace,
        ops,
        "nothing else is sent"
    );
    assert_eq!(flow.generation_rejects, 0, "{:?}", flow.notes);
    let resting = flow
        .generation_resting_orders
        .expect("the generator counts resting orders");
    assert!(
        (900..=1100).contains(&resting),
        "{resting} orders resting, not about 1,000"
    );
}

#[test]
fn xc_single_uses_its_2000_accounts() {
    let flow = xc_single::generate(20_000, 4).expect("generates");
    let commands: Vec<Command> = flow.all_commands().copied().collect();
    let accounts: HashSet<u32> = new_orders(&commands)
        .iter()
        .map(|order| order.account)
        .collect();
    // About 3,400 orders from 2,000 accounts drawn uniformly reach about 1,640 of them.
    assert!(accounts.len() > 1_400, "{} accounts", accounts.len());
    assert!(accounts
        .iter()
        .all(|&account| (1..=xc_single::ACCOUNTS).contains(&account)));
}

#[test]
fn mm_quotes_are_two_sided_around_the_mid_and_takers_are_ioc() {
    let ops = 20_000;
    let flow = mm_quotes::generate(ops, 3).expect("generates");
    let mix = flow.measured_mix();
    let quote_share = mix.quote as f64 / ops as f64;
    assert!(
        (0.78..=0.82).contains(&quote_share),
        "quotes are {quote_share:.3} of the flow"
    );
    assert_eq!(mix.quote + mix.ioc, ops);
    for command in measured(&flow) {
        match command.body {
            CommandBody::Quote(quote) => {
                assert!((1..=mm_quotes::MAKERS).contains(&quote.account));
                assert!(quote.bid_qty > 0 || quote.ask_qty > 0);
                assert!(quote.bid_price < quote.ask_price);
                assert!(quote.ask_price - quote.bid_price <= 2 * 6);
            }
            CommandBody::NewOrder(order) => {
                assert!(order.account > mm_quotes::MAKERS);
                assert_eq!(order.time_in_force, TimeInForce::Ioc);
            }
            other => panic!("unexpected command {other:?}"),
        }
    }
}

#[test]
fn mass_cancel_builds_the_asked_orders_and_cancels_every_account_each_round() {
    let ops = 120_000;
    let flow = mass_cancel::generate(ops, 3).expect("generates");
    assert_eq!(flow.rounds.len(), 3);
    let mut built = 0;
    for round in &flow.rounds {
        let orders = new_orders(&round.prepare);
        built += orders.len() as u64;
        assert!(orders.iter().all(|order| match order.side {
            Side::Buy => order.price < mass_cancel::CENTER_PRICE,
            Side::Sell => order.price > mass_cancel::CENTER_PRICE,
        }));
        let accounts: HashSet<u32> = round
            .measured
            .iter()
            .map(|command| match command.body {
                CommandBody::MassCancel(mass_cancel) => {
                    mass_cancel.account.expect("scoped by account")
                }
                _ => panic!("only mass cancels are measured"),
            })
            .collect();
        assert_eq!(accounts.len(), mass_cancel::ACCOUNTS as usize);
    }
    assert_eq!(built, ops);
}

#[test]
fn ops_out_of_range_are_refused() {
    for workload in WorkloadKind::ALL {
        assert!(workload.generate(0, 1).is_err(), "{}", workload.name());
    }
}
