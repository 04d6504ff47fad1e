//! A short run of the `config_parse` fuzz target (tests/fuzz) in the normal test suite: every input of its kept
//! corpus, then deterministic mutations of them, through the same check (tests/fuzz/checks.rs). The appliance is a
//! binary crate, so the configuration module is compiled in here with `#[path]`, as the fuzz target does; its own
//! unit tests come along and need the core list of the pipeline module, included the same way.

#[allow(dead_code, unused_imports)]
#[path = "../src/config/mod.rs"]
mod config;

#[allow(dead_code)]
#[path = "../src/pipeline/cores.rs"]
mod cores;

mod pipeline {
    pub(crate) use super::cores;
}

#[path = "fuzz/checks.rs"]
mod checks;

use crossline_engine::fuzzing::mutate;
use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/corpus")
        .join(target);
    let mut inputs: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.expect("corpus entry").path();
            let bytes = std::fs::read(&path).expect("corpus file");
            (path, bytes)
        })
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "empty corpus in {}", dir.display());
    inputs
}

#[test]
fn config_parse_corpus_and_mutations() {
    let inputs = corpus("config_parse");
    for (path, bytes) in &inputs {
        let outcome = std::panic::catch_unwind(|| checks::config_parse(bytes));
        assert!(outcome.is_ok(), "config_parse: {} fails", path.display());
    }
    for seed in 0..3_000u64 {
        let (path, base) = &inputs[seed as usize % inputs.len()];
        let input = mutate(base, seed, 16_384);
        let outcome = std::panic::catch_unwind(|| checks::config_parse(&input));
        assert!(
            outcome.is_ok(),
            "config_parse: mutation {seed} of {} fails on {:?}",
            path.display(),
            String::from_utf8_lossy(&input)
        );
    }
}

/// The embedded default is in the corpus as it is now, so the smoke run follows changes to it.
#[test]
fn the_embedded_default_passes_the_check() {
    checks::config_parse(config::DEFAULT_TOML.as_bytes());
    assert!(config::Config::embedded().is_ok());
}
