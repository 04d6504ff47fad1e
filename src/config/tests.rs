use super::*;

/// The embedded default's engine placement.
const DEFAULT_ENGINE: &str = "engine = { thread = \"gateway\" }";
const DEFAULT_GATEWAY: &str = "gateway = { idle = \"spin-then-yield\" }";

fn embedded_text() -> String {
    DEFAULT_TOML.to_string()
}

fn refused(text: &str) -> ConfigError {
    Config::parse(text, "test").expect_err("the configuration should be refused")
}

#[test]
fn the_embedded_default_is_valid_and_makes_a_genesis() {
    let config = Config::embedded().expect("embedded default");
    assert_eq!(config.instruments.len(), 2);
    assert_eq!(config.users.len(), 3);
    let genesis = genesis_commands(&config);
    assert!(genesis
        .iter()
        .any(|c| matches!(c, crossline_engine::CommandBody::AddInstrument(_))));
    // Every genesis command is accepted by a fresh engine.
    let mut engine: crossline_engine::Engine =
        crossline_engine::Engine::new(config.engine_config()).expect("engine");
    let mut events = Vec::new();
    for (i, body) in genesis.into_iter().enumerate() {
        events.clear();
        let command = crossline_engine::Command {
            seq: i as u64 + 1,
            timestamp_ns: 1,
            body,
        };
        engine.apply(&command, &mut events);
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, crossline_engine::Event::Rejected { .. })),
            "genesis command {command:?} was rejected: {events:?}"
        );
    }
}

#[test]
fn unknown_fields_are_refused_with_their_place() {
    let text = embedded_text().replace("[node]\n", "[node]\nbogus = 1\n");
    let error = refused(&text);
    assert!(error.why.contains("bogus"), "{error}");
}

#[test]
fn durable_acks_need_a_syncing_journal() {
    let text = embedded_text()
        .replace("fsync = \"interval\"", "fsync = \"none\"")
        .replace("policy = \"local\"", "policy = \"durable\"");
    let error = refused(&text);
    assert_eq!(error.field, "ack.policy");
}

#[test]
fn two_busy_spinners_on_one_core_are_refused() {
    let text = embedded_text()
        .replace(
            DEFAULT_GATEWAY,
            "gateway = { core = 1, idle = \"busy-spin\" }",
        )
        .replace(
            DEFAULT_ENGINE,
            "engine = { core = 1, idle = \"busy-spin\" }",
        );
    let error = refused(&text);
    assert_eq!(error.field, "cores.gateway.core");
    assert!(error.why.contains("busy-spins"), "{error}");
}

#[test]
fn a_busy_spinner_without_a_core_is_refused() {
    let text = embedded_text().replace(
        "admin = { idle = \"backoff-park\" }",
        "admin = { idle = \"busy-spin\" }",
    );
    assert_eq!(refused(&text).field, "cores.admin.idle");
}

#[test]
fn bad_reference_data_names_the_field() {
    let text = embedded_text().replace("reference_price = 1000000", "reference_price = 1000050");
    let error = refused(&text);
    assert_eq!(error.field, "instruments[ACME].reference_price");
    let text = embedded_text().replace("symbol = \"GLOBX\"", "symbol = \"ACME\"");
    assert_eq!(refused(&text).field, "instruments[ACME].symbol");
    let text = embedded_text().replace("account = 3\n", "account = 9\n");
    assert_eq!(refused(&text).field, "users[carol].account");
}

#[test]
fn a_plain_text_password_is_refused_without_echoing_it() {
    let config = Config::embedded().expect("embedded default");
    let hash = &config.users[0].password_hash;
    let text = embedded_text().replace(hash.as_str(), "hunter2");
    let error = refused(&text);
    assert_eq!(error.field, "users[alice].password_hash");
    assert!(!error.to_string().contains("hunter2"));
}

#[test]
fn a_core_layout_outside_this_machine_is_refused() {
    let text = embedded_text().replace(
        DEFAULT_ENGINE,
        "engine = { core = 4096, idle = \"spin-then-yield\" }",
    );
    let config = Config::parse(&text, "test").expect("valid on paper");
    let cores = crate::pipeline::cores::CoreList::read();
    let error = cores.check(&config.cores, None).expect_err("no core 4096");
    assert_eq!(error.field, "cores.engine.core");
}

#[test]
fn an_sqpoll_thread_on_a_busy_spinning_core_is_refused() {
    let text = embedded_text()
        .replace(
            DEFAULT_ENGINE,
            "engine = { core = 1, idle = \"busy-spin\" }",
        )
        .replace("# sqpoll_core = 3", "sqpoll_core = 1");
    let error = refused(&text);
    assert_eq!(error.field, "gateway.sqpoll_core");
    assert!(error.why.contains("engine"), "{error}");
    let text = embedded_text()
        .replace("backend = \"auto\"", "backend = \"epoll\"")
        .replace("# napi_busy_poll_us = 50", "napi_busy_poll_us = 50");
    assert_eq!(refused(&text).field, "gateway.backend");
}

#[test]
fn a_configuration_without_a_query_section_gets_the_query_defaults() {
    let text = embedded_text();
    let start = text
        .find("[query]")
        .expect("the embedded default has [query]");
    let end = text[start..].find("# Fee tiers").expect("next section") + start;
    let without = format!("{}{}", &text[..start], &text[end..]);
    let config = Config::parse(&without, "test").expect("parses without [query]");
    assert_eq!(config.query, QuerySection::default());
    assert_eq!(
        Config::embedded().expect("embedded").query,
        QuerySection::default()
    );
}

#[test]
fn the_requested_round_gap_is_read_and_bounded() {
    let config = Config::embedded().expect("embedded default");
    assert_eq!(config.journal.requested_round_max_gap_us, 1_000);
    let text = embedded_text();
    let back_to_back = text.replace(
        "requested_round_max_gap_us = 1000",
        "requested_round_max_gap_us = 0",
    );
    let config = Config::parse(&back_to_back, "test").expect("0 runs rounds back to back");
    assert_eq!(config.journal.requested_round_max_gap_us, 0);
    let too_long = text.replace(
        "requested_round_max_gap_us = 1000",
        "requested_round_max_gap_us = 20000",
    );
    let error = refused(&too_long);
    assert_eq!(error.field, "journal.requested_round_max_gap_us");
    assert!(error.why.contains("between 0 and 10000"), "{error}");
    // A configuration written before the field existed still loads, with the default.
    let older = text.replace("requested_round_max_gap_us = 1000\n", "");
    assert!(!older.contains("requested_round_max_gap_us ="));
    let config = Config::parse(&older, "test").expect("an older configuration");
    assert_eq!(config.journal.requested_round_max_gap_us, 1_000);
}

#[test]
fn a_bad_query_section_is_refused_with_the_field() {
    let text = embedded_text();
    let bad_url = text.replace(
        "database_url = \"sqlite://query.sqlite3\"",
        "database_url = \"mysql://x\"",
    );
    assert_eq!(refused(&bad_url).field, "query.database_url");
    let bad_batch = text.replace("batch_max_commands = 4096", "batch_max_commands = 0");
    assert_eq!(refused(&bad_batch).field, "query.batch_max_commands");
    let bad_audit = text.replace("audit_interval_s = 600", "audit_interval_s = 5");
    assert_eq!(refused(&bad_audit).field, "query.audit_interval_s");
}

#[test]
fn the_engine_runs_in_the_gateways_loop_by_default_and_then_takes_no_core() {
    let config = Config::embedded().expect("embedded default");
    assert!(config.cores.engine_on_gateway_thread());
    // The gateway may busy-spin on its core: the engine is no second thread there.
    let text = embedded_text().replace(
        DEFAULT_GATEWAY,
        "gateway = { core = 0, idle = \"busy-spin\" }",
    );
    Config::parse(&text, "test").expect("one busy-spinning thread on core 0");
    let text = embedded_text().replace(
        DEFAULT_ENGINE,
        "engine = { thread = \"gateway\", core = 1 }",
    );
    let error = refused(&text);
    assert_eq!(error.field, "cores.engine.core");
    assert!(error.why.contains("gateway's thread"), "{error}");
}

#[test]
fn only_the_engine_may_share_another_stages_thread() {
    let text = embedded_text().replace(
        "admin = { idle = \"backoff-park\" }",
        "admin = { idle = \"backoff-park\", thread = \"gateway\" }",
    );
    assert_eq!(refused(&text).field, "cores.admin.thread");
    let text = embedded_text().replace(DEFAULT_ENGINE, "engine = { thread = \"matcher\" }");
    assert!(refused(&text).why.contains("matcher"));
}

#[test]
fn an_engine_thread_of_its_own_waits_by_backoff_park_unless_told() {
    let text = embedded_text().replace(DEFAULT_ENGINE, "engine = { core = 1 }");
    let config = Config::parse(&text, "test").expect("valid");
    assert!(!config.cores.engine_on_gateway_thread());
    assert_eq!(config.cores.engine.core, Some(1));
    assert_eq!(config.cores.engine.idle, IdleChoice::BackoffPark);
}
