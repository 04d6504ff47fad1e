//! Arbitrary bytes as journal segment files, then the read-only tools, recovery, a reader and a writer over them
//! (`crossline_journal::fuzzing::journal_recovery`): no panic, no change on refusal, and a recovered journal that
//! reads back exactly as recovery reports.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    crossline_journal::fuzzing::journal_recovery(data);
});
