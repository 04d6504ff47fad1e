//! The `crossline journal` subcommands' library half (src/journal_cli.rs in the root package), compiled here so that
//! it is tested against this crate: exit codes for a clean, a damaged and an unusable journal.

mod common;

#[path = "../../src/journal_cli.rs"]
mod journal_cli;

use std::fs;

use common::*;
use crossline_journal::FsyncPolicy;

#[test]
fn a_clean_journal_inspects_verifies_and_dumps_with_exit_code_0() {
    let dir = scratch();
    write_range(dir.path(), config(4096, FsyncPolicy::None), 1, 100, 10);
    assert_eq!(journal_cli::inspect(dir.path()).expect("inspect"), 0);
    assert_eq!(journal_cli::verify(dir.path()).expect("verify"), 0);
    assert_eq!(journal_cli::dump(dir.path(), 95, 10).expect("dump"), 0);
    assert_eq!(
        journal_cli::dump(dir.path(), 101, 1).expect("dump past the end"),
        1
    );
}

#[test]
fn a_damaged_journal_fails_verify_with_exit_code_1() {
    let dir = scratch();
    write_range(dir.path(), config(4096, FsyncPolicy::None), 1, 100, 10);
    let first = &segment_paths(dir.path())[0];
    let mut bytes = fs::read(first).expect("read");
    let offset = frame_offset(1, 3) as usize + 20;
    bytes[offset] ^= 0xFF;
    fs::write(first, &bytes).expect("write");
    assert_eq!(journal_cli::verify(dir.path()).expect("verify"), 1);
    assert_eq!(journal_cli::inspect(dir.path()).expect("inspect"), 1);
    assert_eq!(
        journal_cli::dump(dir.path(), 1, 10).expect("dump"),
        1,
        "dump stops at the bad record"
    );
}

#[test]
fn a_torn_tail_is_reported_as_recoverable_with_exit_code_1() {
    // Records 6..=10 were never synced, so damage to them is a torn tail, not corruption.
    let dir = scratch();
    write_with_checkpoint(dir.path(), 4096, 5, 10);
    let first = &segment_paths(dir.path())[0];
    let mut bytes = fs::read(first).expect("read");
    let offset = frame_offset(1, 10) as usize + 50;
    bytes[offset..offset + 8]
        .iter_mut()
        .for_each(|b| *b ^= 0x5A);
    fs::write(first, &bytes).expect("write");
    assert_eq!(journal_cli::verify(dir.path()).expect("verify"), 1);
    assert_eq!(
        crossline_journal::verify(dir.path())
            .expect("verify")
            .verdict,
        crossline_journal::Verdict::Recoverable
    );
}

#[test]
fn an_unusable_path_gives_exit_code_2() {
    let dir = scratch();
    let missing = dir.path().join("missing");
    let file = dir.path().join("file");
    fs::write(&file, b"not a directory").expect("write");
    for path in [missing.as_path(), file.as_path(), dir.path()] {
        assert_eq!(
            journal_cli::inspect(path).expect("inspect"),
            2,
            "{}",
            path.display()
        );
        assert_eq!(
            journal_cli::verify(path).expect("verify"),
            2,
            "{}",
            path.display()
        );
        assert_eq!(
            journal_cli::dump(path, 1, 1).expect("dump"),
            2,
            "{}",
            path.display()
        );
    }
}
