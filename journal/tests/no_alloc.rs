//! The hot paths allocate nothing after start-up: `append`, `commit_batch` (under every policy) and a tailing
//! `next_record`. A counting allocator counts allocations made on the test's own thread only, so the flusher
//! thread and the test harness do not disturb the count.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::*;
use crossline_journal::{FsyncPolicy, JournalWriter};

struct CountingAllocator;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the thread-locals are const-initialized
// `Cell`s without destructors, so touching them cannot allocate or recurse.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = COUNTING.try_with(|counting| {
            if counting.get() {
                let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
            }
        });
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc` is passed on as is.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = COUNTING.try_with(|counting| {
            if counting.get() {
                let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
            }
        });
        // SAFETY: the caller's contract for `realloc` is passed on as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn allocations_during(work: impl FnOnce()) -> u64 {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    work();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(|n| n.get())
}

#[test]
fn appending_committing_and_tailing_allocate_nothing_after_start_up() {
    let control = allocations_during(|| drop(std::hint::black_box(vec![1u8; 64])));
    assert!(
        control > 0,
        "the counting allocator must see this test thread's allocations"
    );
    for fsync in [
        FsyncPolicy::None,
        FsyncPolicy::IntervalMs(1),
        FsyncPolicy::EveryBatch,
    ] {
        let dir = scratch();
        // One segment holds every record of the measured window: a rollover (file creation) may allocate.
        let (mut writer, _) =
            JournalWriter::open(dir.path(), config(4 << 20, fsync)).expect("open");
        let mut tail = writer.tail_reader(1).expect("tail reader");
        let commands: Vec<_> = (1..=10_000).map(command).collect();
        for c in &commands[..100] {
            writer.append(c).expect("warm-up append");
        }
        writer.commit_batch().expect("warm-up commit");
        let allocations = allocations_during(|| {
            for (i, c) in commands[100..].iter().enumerate() {
                writer.append(c).expect("append");
                if i % 8 == 7 {
                    writer.commit_batch().expect("commit");
                }
            }
            writer.commit_batch().expect("commit");
            let mut read = 0;
            while let Some(record) = tail.next_record().expect("tail") {
                assert_eq!(record.seq, read + 1);
                read += 1;
            }
            assert_eq!(read, 10_000);
        });
        assert_eq!(
            allocations, 0,
            "{fsync:?}: {allocations} allocations on the hot path"
        );
        writer.close().expect("close");
    }
}
