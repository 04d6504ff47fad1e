//! A short run of each engine fuzz target in the normal test suite: every input of the kept corpus
//! (engine/fuzz/corpus), then deterministic mutations of them, through the same checking functions as the
//! cargo-fuzz targets. A regression that a campaign once found fails here.

use crossline_engine::fuzzing;
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
fn smoke(target: &str, mutations: u64, max_len: usize, check: fn(&[u8])) {
    let inputs = corpus(target);
    for (path, bytes) in &inputs {
        let outcome = std::panic::catch_unwind(|| check(bytes));
        assert!(outcome.is_ok(), "{target}: {} fails", path.display());
    }
    for seed in 0..mutations {
        let (path, base) = &inputs[seed as usize % inputs.len()];
        let input = fuzzing::mutate(base, seed, max_len);
        let outcome = std::panic::catch_unwind(|| check(&input));
        assert!(
            outcome.is_ok(),
            "{target}: mutation {seed} of {} fails on {input:?}",
            path.display()
        );
    }
}

#[test]
fn engine_commands_corpus_and_mutations() {
    smoke("engine_commands", 3_000, 4_096, fuzzing::engine_commands);
}

#[test]
fn engine_snapshot_corpus_and_mutations() {
    smoke("engine_snapshot", 3_000, 16_384, fuzzing::engine_snapshot);
}

/// Writes the seed inputs into the corpus directories (run by hand with `--ignored` when the input encoding
/// changes; a campaign grows the corpus from them and `cargo fuzz cmin` keeps it small).
#[test]
#[ignore]
fn write_seed_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (target, seeds) in [
        ("engine_commands", fuzzing::seed_command_streams()),
        ("engine_snapshot", fuzzing::seed_snapshots()),
    ] {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).expect("corpus directory");
        for (index, seed) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{index:02}")), seed).expect("seed file");
        }
    }
}

/// The snapshot corpus holds loadable snapshots, so the smoke run checks loaded states and not only refusals.
#[test]
fn the_snapshot_corpus_holds_loadable_snapshots() {
    let loadable = corpus("engine_snapshot")
        .iter()
        .filter(|(_, bytes)| {
            crossline_engine::Engine::<crossline_engine::FastBook>::from_snapshot_bytes(
                fuzzing::config(),
                bytes,
            )
            .is_ok()
        })
        .count();
    assert!(loadable > 0, "no loadable snapshot in the corpus");
}
