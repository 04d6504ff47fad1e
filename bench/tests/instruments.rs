//! Multi-instrument flows (`--instruments N`, `--pareto-alpha A`): one instrument gives exactly the flows every
//! earlier figure was measured on, the same seed gives the same multi-instrument flow, the instruments follow the
//! documented Pareto, and the engine accepts every command of an N = 8 flow.

use crossline_bench::modes::engine::{run_with, EngineOptions};
use crossline_bench::timer::Timer;
use crossline_bench::workload::{
    mm_quotes, Flow, Instruments, ParetoRanks, WorkloadKind, DEFAULT_PARETO_ALPHA, MAX_INSTRUMENTS,
};
use crossline_engine::{symbol, CommandBody, Engine, Event, InstrumentId};
use std::collections::HashSet;
use std::time::Duration;

/// FNV-1a over the Debug text of the whole flow: config, set-up, every round, the expected state hash.
fn flow_digest(flow: &Flow) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    let mut eat = |text: String| {
        for byte in text.bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(format!("{:?}", flow.config));
    for command in &flow.setup {
        eat(format!("{command:?}"));
    }
    for round in &flow.rounds {
        eat(format!(
            "round {} {}",
            round.prepare.len(),
            round.measured.len()
        ));
        for command in round.prepare.iter().chain(&round.measured) {
            eat(format!("{command:?}"));
        }
    }
    eat(format!("{:?}", flow.expected_state_hash));
    hash
}

/// Digests of (workload, 20,000 ops, seed 42) captured from the generators before `--instruments` existed.
const PINNED_SINGLE_INSTRUMENT_DIGESTS: [(WorkloadKind, u64); 4] = [
    (WorkloadKind::Liquibook, 7_344_307_369_890_987_437),
    (WorkloadKind::XcSingle, 33_943_537_837_060_815),
    (WorkloadKind::MmQuotes, 5_360_860_343_651_410_741),
    (WorkloadKind::MassCancel, 7_478_126_612_589_652_660),
];

const MULTI: [WorkloadKind; 3] = [
    WorkloadKind::Liquibook,
    WorkloadKind::MmQuotes,
    WorkloadKind::MassCancel,
];

fn eight() -> Instruments {
    Instruments::new(8, DEFAULT_PARETO_ALPHA)
}

/// The instrument of each measured or prepared order and quote.
fn order_instruments(flow: &Flow) -> Vec<InstrumentId> {
    flow.rounds
        .iter()
        .flat_map(|round| round.prepare.iter().chain(&round.measured))
        .filter_map(|command| match command.body {
            CommandBody::NewOrder(order) => Some(order.instrument),
            CommandBody::Quote(quote) => Some(quote.instrument),
            _ => None,
        })
        .collect()
}

#[test]
fn one_instrument_gives_exactly_the_flows_from_before() {
    for (workload, pinned) in PINNED_SINGLE_INSTRUMENT_DIGESTS {
        let flow = workload.generate(20_000, 42).expect("generates");
        assert_eq!(flow_digest(&flow), pinned, "{} changed", workload.name());
        let explicit = workload
            .generate_with(20_000, 42, Instruments::single())
            .expect("generates");
        assert_eq!(explicit, flow, "{}", workload.name());
        assert_eq!(flow.config.max_instruments, 4);
    }
}

#[test]
fn the_same_seed_gives_the_same_flow_over_eight_instruments() {
    for workload in MULTI {
        let first = workload
            .generate_with(5_000, 11, eight())
            .expect("generates");
        let again = workload
            .generate_with(5_000, 11, eight())
            .expect("generates");
        let other = workload
            .generate_with(5_000, 12, eight())
            .expect("generates");
        assert_eq!(first, again, "{}", workload.name());
        assert_ne!(
            order_instruments(&first),
            order_instruments(&other),
            "{} ignores its seed for instruments",
            workload.name()
        );
        let used: HashSet<InstrumentId> = order_instruments(&first).into_iter().collect();
        assert_eq!(used, (1..=8).collect::<HashSet<_>>(), "{}", workload.name());
    }
}

#[test]
fn set_up_adds_instruments_one_to_n_and_the_engine_has_room() {
    for workload in MULTI {
        let flow = workload
            .generate_with(1_000, 3, eight())
            .expect("generates");
        let added: Vec<_> = flow
            .setup
            .iter()
            .filter_map(|command| match command.body {
                CommandBody::AddInstrument(spec) => Some((spec.instrument, spec.symbol)),
                _ => None,
            })
            .collect();
        let expected: Vec<_> = (1..=8)
            .map(|id| (id, symbol(&format!("I{id:04}"))))
            .collect();
        assert_eq!(added, expected, "{}", workload.name());
        assert!(flow.config.max_instruments > 8);
        assert!(flow.config.check().is_ok());
    }
    let wide = WorkloadKind::Liquibook
        .generate_with(
            100,
            1,
            Instruments::new(MAX_INSTRUMENTS, DEFAULT_PARETO_ALPHA),
        )
        .expect("the largest count fits the engine");
    assert!(wide.config.max_instruments > MAX_INSTRUMENTS);
}

#[test]
fn the_top_instrument_takes_the_paretos_share() {
    let ranks = ParetoRanks::new(8, DEFAULT_PARETO_ALPHA);
    // P(1) = (1 - 2^-a) / (1 - 9^-a).
    let analytic =
        (1.0 - 2f64.powf(-DEFAULT_PARETO_ALPHA)) / (1.0 - 9f64.powf(-DEFAULT_PARETO_ALPHA));
    assert!((ranks.probability(1) - analytic).abs() < 1e-9);
    assert!((0.59..0.61).contains(&analytic), "{analytic}");
    let total: f64 = (1..=8).map(|rank| ranks.probability(rank)).sum();
    assert!((total - 1.0).abs() < 1e-12);

    let ops = 200_000;
    for workload in [WorkloadKind::Liquibook, WorkloadKind::MmQuotes] {
        let flow = workload.generate_with(ops, 5, eight()).expect("generates");
        let instruments: Vec<InstrumentId> = flow
            .measured_commands()
            .filter_map(|command| match command.body {
                CommandBody::NewOrder(order) => Some(order.instrument),
                CommandBody::Quote(quote) => Some(quote.instrument),
                _ => None,
            })
            .collect();
        assert_eq!(instruments.len() as u64, ops);
        // One standard deviation of a share near 0.6 over 200,000 draws is about 0.0011.
        for rank in 1..=8 {
            let share = instruments.iter().filter(|&&i| i == rank).count() as f64 / ops as f64;
            let expected = ranks.probability(rank);
            assert!(
                (share - expected).abs() < 0.006,
                "{}: instrument {rank} has {share:.4} of the orders, expected {expected:.4}",
                workload.name()
            );
        }
    }
}

#[test]
fn the_sampler_follows_other_shapes_too() {
    // Uniform-ish (small alpha) and steep (large alpha), over 64 ranks.
    for alpha in [0.5, DEFAULT_PARETO_ALPHA, 2.5] {
        let ranks = ParetoRanks::new(64, alpha);
        let mut rng = crossline_bench::rng::Rng::new(9);
        let draws = 400_000;
        let mut counts = vec![0u64; 65];
        for _ in 0..draws {
            let rank = ranks.sample(&mut rng);
            assert!((1..=64).contains(&rank));
            counts[rank as usize] += 1;
        }
        for rank in [1u32, 2, 5, 20] {
            let share = counts[rank as usize] as f64 / draws as f64;
            let expected = ranks.probability(rank);
            assert!(
                (share - expected).abs() < 0.005,
                "alpha {alpha}: rank {rank} {share:.4} against {expected:.4}"
            );
        }
    }
    assert_eq!(ParetoRanks::new(1, 1.16).probability(1), 1.0);
}

#[test]
fn mm_quotes_quote_every_instrument_and_the_engine_accepts_them_all() {
    let flow = mm_quotes::generate_with(20_000, 4, eight()).expect("generates");
    let setup_quotes: HashSet<(u32, InstrumentId)> = flow
        .setup
        .iter()
        .filter_map(|command| match command.body {
            CommandBody::Quote(quote) => Some((quote.session, quote.instrument)),
            _ => None,
        })
        .collect();
    assert_eq!(setup_quotes.len(), (mm_quotes::MAKERS * 8) as usize);
    assert!(flow.config.max_quotes as usize >= setup_quotes.len());

    // Through an engine: every order and quote is accepted.
    let mut engine: Engine = Engine::new(flow.config).expect("config");
    let mut events = Vec::new();
    let mut rejects = 0;
    for command in flow.all_commands() {
        events.clear();
        engine.apply(command, &mut events);
        rejects += events
            .iter()
            .filter(|event| matches!(event, Event::Rejected { .. }))
            .count();
    }
    assert_eq!(rejects, 0);
    engine.validate().expect("the engine's invariants hold");
}

#[test]
fn eight_instrument_runs_through_the_engine_have_no_rejects() {
    let timer = Timer::new(Duration::from_millis(5));
    for workload in MULTI {
        let options = EngineOptions {
            workload,
            ops: 20_000,
            seed: 3,
            sample_every: None,
        };
        let report = run_with(&options, eight(), &timer)
            .expect("the run completes")
            .report;
        assert!(report.checks_passed(), "{}", report.render_table());
        assert_eq!(
            report.counters.get("rejects"),
            Some(&0),
            "{}",
            workload.name()
        );
        assert!(
            report
                .notes
                .iter()
                .any(|note| note.contains("8 instruments")),
            "{:?}",
            report.notes
        );
    }
}

#[test]
fn unusable_instrument_settings_are_refused() {
    let error = WorkloadKind::XcSingle
        .generate_with(1_000, 1, eight())
        .expect_err("xc-single is single-symbol");
    assert!(error.to_string().contains("single-symbol"), "{error}");
    for bad in [
        Instruments::new(0, DEFAULT_PARETO_ALPHA),
        Instruments::new(MAX_INSTRUMENTS + 1, DEFAULT_PARETO_ALPHA),
        Instruments::new(8, 0.0),
        Instruments::new(8, f64::NAN),
    ] {
        for workload in WorkloadKind::ALL {
            assert!(workload.generate_with(100, 1, bad).is_err(), "{bad:?}");
        }
    }
}
