//! Arbitrary bytes as a snapshot file, loaded through `SnapshotStore` and the engine's snapshot decoder
//! (`crossline_journal::fuzzing::snapshot_load`): a clear error or a valid snapshot, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    crossline_journal::fuzzing::snapshot_load(data);
});
