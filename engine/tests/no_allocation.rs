//! The hot-path rule, checked: after construction, applying commands allocates nothing. A counting allocator
//! watches this thread while a busy flow (orders, fills, icebergs, replaces, quotes, mass cancels, expiries) runs.

mod common;

use common::*;
use crossline_engine::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the wrapper only counts.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with this layout, through `alloc` above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|count| count.set(count.get() + 1));
        // SAFETY: as for `alloc` and `dealloc`: the caller's guarantees are passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn allocations() -> u64 {
    ALLOCATIONS.with(|count| count.get())
}

#[test]
fn applying_commands_allocates_nothing_after_start_up() {
    // Commands are built first; the sink only counts.
    let mut commands = Vec::new();
    let push = |body: CommandBody, commands: &mut Vec<Command>| {
        let seq = 1_000 + commands.len() as u64;
        commands.push(Command {
            seq,
            timestamp_ns: seq * 1_000,
            body,
        });
    };
    let mut user_ref = 0;
    for round in 0..2_000u64 {
        let account = 1 + (round % 4) as AccountId;
        user_ref += 1;
        let side = if round % 2 == 0 {
            Side::Buy
        } else {
            Side::Sell
        };
        let price = 10_000 + (round % 11) as Price - 5;
        let order = NewOrder {
            session: session(account),
            account,
            user_ref,
            instrument: ACME,
            side,
            order_type: OrderType::Limit,
            time_in_force: [
                TimeInForce::Gtc,
                TimeInForce::Gtt,
                TimeInForce::Day,
                TimeInForce::Ioc,
            ][(round % 4) as usize],
            price,
            qty: 1 + round % 9,
            min_qty: 0,
            display_qty: if round % 5 == 0 { 1 } else { 0 },
            post_only: false,
            expire_time_ns: (1_050 + commands.len() as u64) * 1_000,
            group: (round % 3) as u16,
        };
        let order = if order.time_in_force == TimeInForce::Ioc {
            NewOrder {
                display_qty: 0,
                ..order
            }
        } else {
            order
        };
        push(CommandBody::NewOrder(order), &mut commands);
        if round % 7 == 0 {
            let replace = Replace {
                session: session(account),
                account,
                user_ref,
                new_user_ref: user_ref + 1_000_000,
                price: price + 1,
                qty: 3,
            };
            push(CommandBody::Replace(replace), &mut commands);
        }
        if round % 13 == 0 {
            push(
                CommandBody::Quote(Quote {
                    session: 100 + account,
                    account,
                    user_ref,
                    instrument: ACME,
                    bid_price: 9_990 + (round % 5) as Price,
                    bid_qty: 5,
                    ask_price: 10_010 - (round % 5) as Price,
                    ask_qty: 5,
                }),
                &mut commands,
            );
        }
        if round % 97 == 0 {
            let mass = MassCancel {
                session: session(account),
                user_ref,
                reason: MassCancelReason::UserRequested,
                account: Some(account),
                only_session: None,
                instrument: None,
                side: None,
                group: None,
            };
            push(CommandBody::MassCancel(mass), &mut commands);
        }
    }
    push(CommandBody::EndOfDay, &mut commands);

    // The counter sees this thread's allocations.
    let probe = allocations();
    drop(std::hint::black_box(Vec::<u8>::with_capacity(16)));
    assert!(allocations() > probe);

    let mut market = Market::<FastBook>::new();
    let mut sink = CountingSink::default();
    let before = allocations();
    for command in &commands {
        market.engine.apply(command, &mut sink);
    }
    let after = allocations();
    assert_eq!(
        after - before,
        0,
        "allocations while applying {} commands",
        commands.len()
    );
    assert!(sink.executions > 1_000, "the flow trades: {sink:?}");
    market.engine.validate().unwrap();
}
