//! A short run of each net fuzz target in the normal test suite: every input of the kept corpus (net/fuzz/corpus),
//! then deterministic mutations of them, through the same checks as the cargo-fuzz targets (net/fuzz/checks.rs).
//! A regression that a campaign once found fails here.

#[path = "../fuzz/checks.rs"]
mod checks;

use crossline_engine::fuzzing::mutate;
use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
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

/// Runs `check` over the corpus and then `mutations` mutated corpus inputs.
fn smoke(target: &str, mutations: u64, check: fn(&[u8])) {
    let inputs = corpus(target);
    for (path, bytes) in &inputs {
        let outcome = std::panic::catch_unwind(|| check(bytes));
        assert!(outcome.is_ok(), "{target}: {} fails", path.display());
    }
    for seed in 0..mutations {
        let (path, base) = &inputs[seed as usize % inputs.len()];
        let input = mutate(base, seed, 4_096);
        let outcome = std::panic::catch_unwind(|| check(&input));
        assert!(
            outcome.is_ok(),
            "{target}: mutation {seed} of {} fails on {input:?}",
            path.display()
        );
    }
}

#[test]
fn soupbin_ouch_corpus_and_mutations() {
    smoke("soupbin_ouch", 5_000, checks::soupbin_ouch);
}

#[test]
fn moldudp64_itch_corpus_and_mutations() {
    smoke("moldudp64_itch", 5_000, checks::moldudp64_itch);
}
