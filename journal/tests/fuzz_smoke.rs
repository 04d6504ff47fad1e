//! A short run of each journal fuzz target in the normal test suite: every input of the kept corpus
//! (journal/fuzz/corpus), then deterministic mutations of them, through the same checking functions as the
//! cargo-fuzz targets. A regression that a campaign once found fails here.

use crossline_engine::fuzzing::mutate;
use crossline_journal::fuzzing;
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
        let input = mutate(base, seed, max_len);
        let outcome = std::panic::catch_unwind(|| check(&input));
        assert!(
            outcome.is_ok(),
            "{target}: mutation {seed} of {} fails on {input:?}",
            path.display()
        );
    }
}

#[test]
fn journal_recovery_corpus_and_mutations() {
    smoke("journal_recovery", 2_000, 16_384, fuzzing::journal_recovery);
}

#[test]
fn snapshot_load_corpus_and_mutations() {
    smoke("snapshot_load", 3_000, 16_384, fuzzing::snapshot_load);
}

/// Writes the seed inputs into the corpus directories (run by hand with `--ignored` when the input encoding
/// changes; a campaign grows the corpus from them and `cargo fuzz cmin` keeps it small).
#[test]
#[ignore]
fn write_seed_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (target, seeds) in [
        ("journal_recovery", fuzzing::seed_journals()),
        ("snapshot_load", fuzzing::seed_snapshots()),
    ] {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).expect("corpus directory");
        for (index, seed) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{index:02}")), seed).expect("seed file");
        }
    }
}

/// The recovery corpus holds journals that recover with records, so the smoke run checks what recovery keeps and
/// not only refusals.
#[test]
fn the_recovery_corpus_holds_recoverable_journals() {
    let mut recovered = 0;
    for (index, (_, bytes)) in corpus("journal_recovery").iter().enumerate() {
        let dir = std::env::temp_dir().join(format!(
            "crossline-fuzz-smoke-{}-{index}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        for (name, contents) in fuzzing::decode_segments(bytes).1 {
            std::fs::write(dir.join(name), contents).expect("segment file");
        }
        if crossline_journal::recover(&dir).is_ok_and(|report| report.records > 0) {
            recovered += 1;
        }
        std::fs::remove_dir_all(&dir).expect("removing the scratch directory");
    }
    assert!(recovered > 0, "no recoverable journal in the corpus");
}

/// Found by the journal_recovery campaign: a segment whose first frame is a seal word, or whose file ends before
/// its first frame, made a reader reopen the same segment for ever. Both inputs are in the corpus too.
#[test]
fn a_segment_that_ends_before_its_first_record_ends_the_journal_for_a_reader() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/journal_recovery");
    for name in [
        "regression-sealed-before-first-record",
        "regression-cut-short-before-first-record",
    ] {
        let input = std::fs::read(dir.join(name)).expect("regression input");
        let scratch = std::env::temp_dir().join(format!(
            "crossline-fuzz-regression-{}-{name}",
            std::process::id()
        ));
        std::fs::create_dir_all(&scratch).expect("scratch directory");
        for (file, contents) in fuzzing::decode_segments(&input).1 {
            std::fs::write(scratch.join(file), contents).expect("segment file");
        }
        let mut reader = crossline_journal::JournalReader::open(&scratch).expect("a reader opens");
        assert!(matches!(reader.next_record(), Ok(None)), "{name}");
        std::fs::remove_dir_all(&scratch).expect("removing the scratch directory");
        fuzzing::journal_recovery(&input);
    }
}
