//! `crossline-bench codec`: crossline-net's wire codecs alone, one thread, no sockets. A seeded mix of messages is
//! generated and encoded before the clock starts; each operation is then timed over the whole batch with
//! `Instant` around it (ns per message = batch time / messages), 5 times, and reported as the median and the
//! minimum. Nothing is allocated inside the timed loops but the book's (below): inputs are prebuilt, output
//! buffers preallocated and touched, and every result goes through `black_box`.
//!
//! Rows: decode of inbound OUCH (the mix, and each message type on its own), encode of outbound OUCH, encode and
//! decode of ITCH, the ITCH book (`BookBuilder::apply` over a consistent add/execute/delete flow, into a new book
//! that grows as a subscriber's does), and SoupBinTCP framing of a stream of Unsequenced Data packets through
//! `FrameDecoder` (fed in 64 KiB reads, as a socket would), with `parse_frame` on the stream in place as a floor.
//!
//! The Enter Order decode batches run inside `enter_order_decode_batch` and `enter_order_options_decode_batch`,
//! so `valgrind --tool=callgrind --toggle-collect='*enter_order_decode_batch*'` counts exactly that work; the book's
//! inside `book_apply_batch`.

use crate::env::Environment;
use crate::report::{group_digits, LatencySampling, Named, Report};
use crate::rng::Rng;
use anyhow::bail;
use crossline_engine::Symbol;
use crossline_net::feed::BookBuilder;
use crossline_net::itch;
use crossline_net::ouch::{
    CancelOrder, CancelReason, Capacity, CrossType, Display, EnterOrder, Inbound, IsoEligibility,
    LiquidityFlag, OrderAccepted, OrderCanceled, OrderExecuted, OrderState, Outbound, PostOnly,
    Quote, ReplaceOrder, Side, TimeInForce,
};
use crossline_net::soupbin::{parse_frame, FrameDecoder, Packet, Parsed};
use serde::Serialize;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Timed repeats of each operation.
pub const REPEATS: usize = 5;
/// Bytes handed to `FrameDecoder::feed` at a time, like one socket read.
pub const READ_BYTES: usize = 64 * 1024;
/// The largest frame the SoupBinTCP decoder accepts (as the gateway's).
const MAX_FRAME_BYTES: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CodecOptions {
    /// Messages per batch: each operation is timed over this many (per-type rows over that type's share).
    pub messages: u64,
    pub seed: u64,
}

/// One timed operation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CodecRow {
    /// For example "ouch_decode_all".
    pub name: String,
    pub description: String,
    /// Messages per batch.
    pub messages: u64,
    /// Wire bytes per batch.
    pub bytes: u64,
    pub repeats: usize,
    pub ns_per_message_median: f64,
    pub ns_per_message_min: f64,
    /// Every repeat, in run order.
    pub ns_per_message_runs: Vec<f64>,
    /// At the median.
    pub messages_per_sec: f64,
}

/// The JSON of a codec run: the common report (its ops and seconds are those of `ouch_decode_all` at the median)
/// with every row beside it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CodecReport {
    #[serde(flatten)]
    pub report: Report,
    pub rows: Vec<CodecRow>,
}

/// Messages laid out back to back in one buffer, each found by its span.
#[derive(Debug, Default)]
struct Batch {
    bytes: Vec<u8>,
    spans: Vec<(u32, u32)>,
}

impl Batch {
    fn push_with(&mut self, len: usize, encode: impl FnOnce(&mut [u8]) -> usize) {
        let start = self.bytes.len();
        self.bytes.resize(start + len, 0);
        let written = encode(&mut self.bytes[start..]);
        assert_eq!(written, len, "encoded length");
        self.spans.push((start as u32, (start + len) as u32));
    }

    fn len(&self) -> u64 {
        self.spans.len() as u64
    }
}

/// Inbound kinds, in report order.
const INBOUND_KINDS: [(&str, &str); 5] = [
    ("enter", "Enter Order, no options"),
    ("enter_opts", "Enter Order with an options appendage"),
    ("cancel", "Cancel Order"),
    ("replace", "Replace Order"),
    ("quote", "Quote"),
];

/// Mix of inbound messages in parts per thousand, in `INBOUND_KINDS` order.
const INBOUND_MIX_PPT: [u64; 5] = [350, 100, 250, 150, 150];

const SYMBOLS: [&str; 8] = [
    "AAPL", "MSFT", "NVDA", "AMZN", "GOOG", "META", "TSLA", "AMD",
];

fn symbol(rng: &mut Rng) -> (u16, Symbol) {
    let index = rng.index(SYMBOLS.len());
    (index as u16 + 1, crossline_net::alpha(SYMBOLS[index]))
}

/// A price in 4 implied decimals: $50 to $500 in cents.
fn price(rng: &mut Rng) -> u64 {
    rng.range_u64(5_000, 50_000) * 100
}

fn quantity(rng: &mut Rng) -> u32 {
    [100, 100, 200, 300, 500, 1_000, 50, 10][rng.index(8)]
}

fn pick(rng: &mut Rng, weights_ppt: &[u64]) -> usize {
    let mut roll = rng.below(weights_ppt.iter().sum());
    for (index, &weight) in weights_ppt.iter().enumerate() {
        if roll < weight {
            return index;
        }
        roll -= weight;
    }
    weights_ppt.len() - 1
}

fn inbound_message(rng: &mut Rng, kind: usize, user_ref_num: u32) -> Inbound {
    let cl_ord_id = crossline_net::alpha(&format!("C{user_ref_num:013}"));
    match kind {
        0 | 1 => {
            let mut order = EnterOrder {
                user_ref_num,
                side: if rng.below(2) == 0 {
                    Side::Buy
                } else {
                    Side::Sell
                },
                quantity: quantity(rng),
                symbol: symbol(rng).1,
                price: price(rng),
                time_in_force: if rng.chance_ppm(100_000) {
                    TimeInForce::ImmediateOrCancel
                } else {
                    TimeInForce::Day
                },
                display: Display::Visible,
                capacity: Capacity::Agency,
                intermarket_sweep: IsoEligibility::NotEligible,
                cross_type: CrossType::ContinuousMarket,
                cl_ord_id,
                options: crossline_net::ouch::Options::NONE,
            };
            if kind == 1 {
                let options = &mut order.options;
                options.firm = Some(*b"XLNE");
                if rng.below(2) == 0 {
                    options.post_only = Some(PostOnly::PostOnly);
                }
                if rng.below(3) == 0 {
                    options.min_qty = Some(order.quantity / 2);
                }
                if rng.below(4) == 0 {
                    options.max_floor = Some(order.quantity.min(100));
                }
                options.group_id = Some(rng.range_u64(1, 16) as u16);
                options.user_ref_idx = Some(rng.below(4) as u8);
            }
            Inbound::EnterOrder(order)
        }
        2 => Inbound::CancelOrder(CancelOrder {
            user_ref_num: user_ref_num.saturating_sub(rng.range_u64(1, 50) as u32),
            quantity: if rng.chance_ppm(900_000) { 0 } else { 50 },
            options: crossline_net::ouch::Options::NONE,
        }),
        3 => Inbound::ReplaceOrder(ReplaceOrder {
            orig_user_ref_num: user_ref_num.saturating_sub(rng.range_u64(1, 50) as u32),
            user_ref_num,
            quantity: quantity(rng),
            price: price(rng),
            time_in_force: TimeInForce::Day,
            display: Display::Visible,
            intermarket_sweep: IsoEligibility::NotEligible,
            cl_ord_id,
            options: crossline_net::ouch::Options::NONE,
        }),
        _ => {
            let mid = price(rng);
            Inbound::Quote(Quote {
                user_ref_num,
                symbol: symbol(rng).1,
                bid_price: mid - 100,
                bid_quantity: quantity(rng),
                ask_price: mid + 100,
                ask_quantity: quantity(rng),
            })
        }
    }
}

/// Outbound mix, parts per thousand: Order Accepted, Order Executed, Order Canceled.
const OUTBOUND_MIX_PPT: [u64; 3] = [450, 250, 300];

fn outbound_message(rng: &mut Rng, index: u64) -> Outbound {
    let timestamp_ns = 34_200_000_000_000 + index * 1_000;
    let user_ref_num = index as u32 + 1;
    match pick(rng, &OUTBOUND_MIX_PPT) {
        0 => Outbound::OrderAccepted(OrderAccepted {
            timestamp_ns,
            user_ref_num,
            side: Side::Buy,
            quantity: quantity(rng),
            symbol: symbol(rng).1,
            price: price(rng),
            time_in_force: TimeInForce::Day,
            display: Display::Visible,
            order_reference_number: index + 1,
            capacity: Capacity::Agency,
            intermarket_sweep: IsoEligibility::NotEligible,
            cross_type: CrossType::ContinuousMarket,
            order_state: OrderState::Live,
            cl_ord_id: crossline_net::alpha(&format!("C{user_ref_num:013}")),
            options: crossline_net::ouch::Options::NONE,
        }),
        1 => Outbound::OrderExecuted(OrderExecuted {
            timestamp_ns,
            user_ref_num,
            quantity: quantity(rng),
            price: price(rng),
            liquidity_flag: if rng.below(2) == 0 {
                LiquidityFlag::Added
            } else {
                LiquidityFlag::Removed
            },
            match_number: index + 1,
            options: crossline_net::ouch::Options::NONE,
        }),
        _ => Outbound::OrderCanceled(OrderCanceled {
            timestamp_ns,
            user_ref_num,
            quantity: quantity(rng),
            reason: CancelReason::UserRequested,
            options: crossline_net::ouch::Options::NONE,
        }),
    }
}

/// ITCH mix, parts per thousand: Add Order, Order Executed, Order Delete.
const ITCH_MIX_PPT: [u64; 3] = [500, 200, 300];

fn itch_message(rng: &mut Rng, index: u64) -> itch::Message {
    let timestamp_ns = 34_200_000_000_000 + index * 1_000;
    let (stock_locate, stock) = symbol(rng);
    let tracking_number = 0;
    let order_reference_number = index.saturating_sub(rng.below(1_000)) + 1;
    match pick(rng, &ITCH_MIX_PPT) {
        0 => itch::Message::AddOrder(itch::AddOrder {
            stock_locate,
            tracking_number,
            timestamp_ns,
            order_reference_number: index + 1,
            side: if rng.below(2) == 0 {
                itch::BuySell::Buy
            } else {
                itch::BuySell::Sell
            },
            shares: quantity(rng),
            stock,
            price: price(rng) as u32,
        }),
        1 => itch::Message::OrderExecuted(itch::OrderExecuted {
            stock_locate,
            tracking_number,
            timestamp_ns,
            order_reference_number,
            executed_shares: quantity(rng),
            match_number: index + 1,
        }),
        _ => itch::Message::OrderDelete(itch::OrderDelete {
            stock_locate,
            tracking_number,
            timestamp_ns,
            order_reference_number,
        }),
    }
}

/// Live orders the book flow keeps between, after its opening adds.
const BOOK_LIVE_ORDERS_MIN: usize = 500;
const BOOK_LIVE_ORDERS_MAX: usize = 2_000;

/// A consistent ITCH flow for `BookBuilder`: every execution and delete names a live order. It opens with
/// `BOOK_LIVE_ORDERS_MIN` adds, then adds (two fifths), executes one share of (a fifth) or deletes (two fifths) a
/// live order: adds and deletes balance, so the book wanders between `BOOK_LIVE_ORDERS_MIN` and
/// `BOOK_LIVE_ORDERS_MAX` live orders, held in that band at its edges.
fn book_flow(rng: &mut Rng, n: u64) -> Vec<itch::Message> {
    // (order reference, stock locate, shares left)
    let mut live: Vec<(u64, u16, u32)> = Vec::with_capacity(BOOK_LIVE_ORDERS_MAX + 1);
    let mut messages = Vec::with_capacity(n as usize);
    let mut next_reference = 1u64;
    for index in 0..n {
        let timestamp_ns = 34_200_000_000_000 + index * 1_000;
        let roll = rng.below(5);
        let add =
            live.len() < BOOK_LIVE_ORDERS_MIN || (live.len() < BOOK_LIVE_ORDERS_MAX && roll < 2);
        if add {
            let (stock_locate, stock) = symbol(rng);
            let shares = quantity(rng);
            messages.push(itch::Message::AddOrder(itch::AddOrder {
                stock_locate,
                tracking_number: 0,
                timestamp_ns,
                order_reference_number: next_reference,
                side: if rng.below(2) == 0 {
                    itch::BuySell::Buy
                } else {
                    itch::BuySell::Sell
                },
                shares,
                stock,
                price: price(rng) as u32,
            }));
            live.push((next_reference, stock_locate, shares));
            next_reference += 1;
            continue;
        }
        let at = rng.index(live.len());
        let (order_reference_number, stock_locate, shares) = live[at];
        // The roll's middle fifth executes (a delete when one share is left); its last two fifths delete.
        if roll == 2 && shares > 1 {
            live[at].2 -= 1;
            messages.push(itch::Message::OrderExecuted(itch::OrderExecuted {
                stock_locate,
                tracking_number: 0,
                timestamp_ns,
                order_reference_number,
                executed_shares: 1,
                match_number: index + 1,
            }));
        } else {
            live.swap_remove(at);
            messages.push(itch::Message::OrderDelete(itch::OrderDelete {
                stock_locate,
                tracking_number: 0,
                timestamp_ns,
                order_reference_number,
            }));
        }
    }
    messages
}

/// Everything generated before timing.
struct Inputs {
    inbound: Vec<Inbound>,
    inbound_kind: Vec<u8>,
    inbound_all: Batch,
    inbound_by_kind: Vec<Batch>,
    outbound: Vec<Outbound>,
    itch: Vec<itch::Message>,
    itch_bytes: Batch,
    /// A consistent flow for `BookBuilder` (`book_flow`).
    book: Vec<itch::Message>,
    /// SoupBinTCP Unsequenced Data frames carrying `inbound_all`, back to back.
    soup_stream: Vec<u8>,
}

fn generate(options: &CodecOptions) -> Inputs {
    let n = options.messages;
    let mut rng = Rng::new(options.seed);
    let mut in_rng = rng.fork(1);
    let mut out_rng = rng.fork(2);
    let mut itch_rng = rng.fork(3);
    let mut book_rng = rng.fork(4);

    let mut inbound = Vec::with_capacity(n as usize);
    let mut inbound_kind = Vec::with_capacity(n as usize);
    let mut inbound_all = Batch::default();
    let mut inbound_by_kind: Vec<Batch> =
        (0..INBOUND_KINDS.len()).map(|_| Batch::default()).collect();
    let mut soup_stream = Vec::new();
    for index in 0..n {
        let kind = pick(&mut in_rng, &INBOUND_MIX_PPT);
        let message = inbound_message(&mut in_rng, kind, index as u32 + 100);
        let len = message.encoded_len();
        let encode = |out: &mut [u8]| message.encode(out).expect("inbound encodes");
        inbound_all.push_with(len, encode);
        inbound_by_kind[kind].push_with(len, encode);
        let (start, end) = *inbound_all.spans.last().expect("just pushed");
        let packet = Packet::UnsequencedData(&inbound_all.bytes[start as usize..end as usize]);
        let at = soup_stream.len();
        soup_stream.resize(at + packet.frame_bytes(), 0);
        packet
            .encode(&mut soup_stream[at..])
            .expect("frame encodes");
        inbound.push(message);
        inbound_kind.push(kind as u8);
    }

    let outbound = (0..n).map(|i| outbound_message(&mut out_rng, i)).collect();
    let itch: Vec<itch::Message> = (0..n).map(|i| itch_message(&mut itch_rng, i)).collect();
    let mut itch_bytes = Batch::default();
    for message in &itch {
        itch_bytes.push_with(message.encoded_len(), |out| {
            message.encode(out).expect("ITCH encodes")
        });
    }
    let book = book_flow(&mut book_rng, n);
    Inputs {
        inbound,
        inbound_kind,
        inbound_all,
        inbound_by_kind,
        outbound,
        itch,
        itch_bytes,
        book,
        soup_stream,
    }
}

// The timed loops. Each returns the number of messages that failed (zero expected), so nothing is optimized
// away and failures are reported rather than hidden.

#[inline(never)]
fn decode_inbound_batch(batch: &Batch) -> u64 {
    let bytes = batch.bytes.as_slice();
    let mut errors = 0u64;
    for &(start, end) in &batch.spans {
        let message = Inbound::decode(black_box(&bytes[start as usize..end as usize]));
        errors += u64::from(message.is_err());
        black_box(&message);
    }
    errors
}

/// Enter Order without options: its own symbol for callgrind's `--toggle-collect`. The labels through
/// `black_box` keep the two wrappers different, so the compiler cannot merge them into one symbol.
#[inline(never)]
fn enter_order_decode_batch(batch: &Batch) -> u64 {
    black_box("enter_order");
    decode_inbound_batch(batch)
}

/// Enter Order with options: its own symbol for callgrind's `--toggle-collect`.
#[inline(never)]
fn enter_order_options_decode_batch(batch: &Batch) -> u64 {
    black_box("enter_order_options");
    decode_inbound_batch(batch)
}

#[inline(never)]
fn encode_outbound_batch(messages: &[Outbound], out: &mut [u8]) -> u64 {
    let mut at = 0usize;
    let mut errors = 0u64;
    for message in messages {
        match black_box(message).encode(&mut out[at..]) {
            Ok(written) => at += written,
            Err(_) => errors += 1,
        }
    }
    black_box(&out[..at]);
    errors
}

#[inline(never)]
fn encode_itch_batch(messages: &[itch::Message], out: &mut [u8]) -> u64 {
    let mut at = 0usize;
    let mut errors = 0u64;
    for message in messages {
        match black_box(message).encode(&mut out[at..]) {
            Ok(written) => at += written,
            Err(_) => errors += 1,
        }
    }
    black_box(&out[..at]);
    errors
}

#[inline(never)]
fn decode_itch_batch(batch: &Batch) -> u64 {
    let bytes = batch.bytes.as_slice();
    let mut errors = 0u64;
    for &(start, end) in &batch.spans {
        let message = itch::Message::decode(black_box(&bytes[start as usize..end as usize]));
        errors += u64::from(message.is_err());
        black_box(&message);
    }
    errors
}

/// Applies the flow to a new book. Returns the messages the book refused.
#[inline(never)]
fn book_apply_batch(messages: &[itch::Message]) -> u64 {
    let mut book = BookBuilder::new(1);
    let mut errors = 0u64;
    for message in messages {
        errors += u64::from(book.apply(black_box(message)).is_err());
    }
    black_box(&book);
    errors
}

/// Feeds the stream in `READ_BYTES` reads and drains every frame as a packet. Returns (frames, errors).
#[inline(never)]
fn soup_decode_stream(stream: &[u8], decoder: &mut FrameDecoder) -> (u64, u64) {
    decoder.clear();
    let mut frames = 0u64;
    let mut errors = 0u64;
    let mut at = 0usize;
    while at < stream.len() {
        let end = (at + READ_BYTES).min(stream.len());
        at += decoder.feed(black_box(&stream[at..end]));
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => match Packet::from_frame(frame) {
                    Ok(Packet::UnsequencedData(payload)) => {
                        frames += 1;
                        black_box(payload);
                    }
                    _ => errors += 1,
                },
                Ok(None) => break,
                Err(_) => {
                    errors += 1;
                    decoder.clear();
                    break;
                }
            }
        }
    }
    (frames, errors)
}

/// `parse_frame` over the stream in place: the framing alone, with no copy into a receive buffer.
#[inline(never)]
fn soup_parse_in_place(stream: &[u8]) -> (u64, u64) {
    let mut frames = 0u64;
    let mut at = 0usize;
    while at < stream.len() {
        match parse_frame(black_box(&stream[at..]), MAX_FRAME_BYTES) {
            Ok(Parsed::Frame(frame)) => {
                at += frame.frame_bytes();
                frames += 1;
                black_box(frame.payload);
            }
            _ => return (frames, 1),
        }
    }
    (frames, 0)
}

/// Runs `operation` `REPEATS` times; returns each run's time and the errors of all of them.
fn repeat(mut operation: impl FnMut() -> u64) -> (Vec<Duration>, u64) {
    let mut times = Vec::with_capacity(REPEATS);
    let mut errors = 0;
    for _ in 0..REPEATS {
        let (time, failed) = timed(&mut operation);
        errors += failed;
        times.push(time);
    }
    (times, errors)
}

/// One timed run of `operation`: its time and the failures it returned.
pub(crate) fn timed(operation: impl FnOnce() -> u64) -> (Duration, u64) {
    let started = Instant::now();
    let failed = black_box(operation());
    (started.elapsed(), failed)
}

pub(crate) fn row(
    name: &str,
    description: &str,
    messages: u64,
    bytes: u64,
    times: &[Duration],
) -> CodecRow {
    let per_message: Vec<f64> = times
        .iter()
        .map(|time| time.as_secs_f64() * 1e9 / messages.max(1) as f64)
        .collect();
    let mut sorted = per_message.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    CodecRow {
        name: name.to_string(),
        description: description.to_string(),
        messages,
        bytes,
        repeats: times.len(),
        ns_per_message_median: median,
        ns_per_message_min: sorted[0],
        ns_per_message_runs: per_message,
        messages_per_sec: if median > 0.0 { 1e9 / median } else { 0.0 },
    }
}

fn check(ok: bool, failure: impl FnOnce() -> String) -> String {
    if ok {
        "ok".to_string()
    } else {
        format!("FAILED: {}", failure())
    }
}

pub fn run(options: &CodecOptions) -> anyhow::Result<CodecReport> {
    if options.messages == 0 {
        bail!("--messages must be at least 1");
    }
    if options.messages > 20_000_000 {
        bail!("--messages at most 20,000,000 (the batches are held in memory)");
    }
    let env = Environment::capture(options.seed);
    let generation_started = Instant::now();
    let inputs = generate(options);
    let generation_s = generation_started.elapsed().as_secs_f64();
    let n = options.messages;

    let mut rows = Vec::new();
    let mut decode_errors = 0u64;

    let (times, errors) = repeat(|| decode_inbound_batch(&inputs.inbound_all));
    decode_errors += errors;
    rows.push(row(
        "ouch_decode_all",
        "Inbound::decode, the inbound OUCH mix",
        n,
        inputs.inbound_all.bytes.len() as u64,
        &times,
    ));
    for (kind, (name, description)) in INBOUND_KINDS.iter().enumerate() {
        let batch = &inputs.inbound_by_kind[kind];
        if batch.len() == 0 {
            continue;
        }
        let (times, errors) = match kind {
            0 => repeat(|| enter_order_decode_batch(batch)),
            1 => repeat(|| enter_order_options_decode_batch(batch)),
            _ => repeat(|| decode_inbound_batch(batch)),
        };
        decode_errors += errors;
        rows.push(row(
            &format!("ouch_decode_{name}"),
            &format!("Inbound::decode, {description} only"),
            batch.len(),
            batch.bytes.len() as u64,
            &times,
        ));
    }

    // Output buffers: room for every message at its largest, touched before timing.
    let outbound_bytes: usize = inputs.outbound.iter().map(Outbound::encoded_len).sum();
    let mut outbound_out = vec![0xA5u8; outbound_bytes];
    let (times, encode_errors_out) =
        repeat(|| encode_outbound_batch(&inputs.outbound, &mut outbound_out));
    rows.push(row(
        "ouch_encode_out",
        "Outbound::encode, Accepted/Executed/Canceled mix, back to back into one buffer",
        n,
        outbound_bytes as u64,
        &times,
    ));

    let itch_bytes = inputs.itch_bytes.bytes.len();
    let mut itch_out = vec![0xA5u8; itch_bytes];
    let (times, encode_errors_itch) = repeat(|| encode_itch_batch(&inputs.itch, &mut itch_out));
    rows.push(row(
        "itch_encode",
        "itch::Message::encode, Add Order/Executed/Delete mix, back to back into one buffer",
        n,
        itch_bytes as u64,
        &times,
    ));
    let (times, errors) = repeat(|| decode_itch_batch(&inputs.itch_bytes));
    decode_errors += errors;
    rows.push(row(
        "itch_decode",
        "itch::Message::decode, the same mix",
        n,
        itch_bytes as u64,
        &times,
    ));
    let (times, book_refusals) = repeat(|| book_apply_batch(&inputs.book));
    rows.push(row(
        "itch_book_apply",
        "BookBuilder::apply, a consistent add/execute/delete flow of 500-2,000 live orders into a new book (the TCP \
         feed's snapshot book; a subscriber's book); the book allocates as it grows",
        n,
        inputs.book.iter().map(itch::Message::encoded_len).sum::<usize>() as u64,
        &times,
    ));

    let mut decoder = FrameDecoder::new(MAX_FRAME_BYTES, 4 * READ_BYTES);
    let mut soup_frames = Vec::with_capacity(REPEATS);
    let (times, errors) = repeat(|| {
        let (frames, errors) = soup_decode_stream(&inputs.soup_stream, &mut decoder);
        soup_frames.push(frames);
        errors
    });
    decode_errors += errors;
    rows.push(row(
        "soup_frame_decode",
        "FrameDecoder feed (64 KiB reads) + next_frame + Packet::from_frame, Unsequenced Data carrying the inbound mix",
        n,
        inputs.soup_stream.len() as u64,
        &times,
    ));
    let mut parse_frames = Vec::with_capacity(REPEATS);
    let (times, errors) = repeat(|| {
        let (frames, errors) = soup_parse_in_place(&inputs.soup_stream);
        parse_frames.push(frames);
        errors
    });
    decode_errors += errors;
    rows.push(row(
        "soup_parse_frame",
        "parse_frame over the same stream in place (no copy into a receive buffer)",
        n,
        inputs.soup_stream.len() as u64,
        &times,
    ));

    // Checks, untimed: what was encoded decodes back to what was generated.
    let mut checks = Named::new();
    checks.push(
        "errors_in_timed_loops",
        check(
            decode_errors == 0 && encode_errors_out == 0 && encode_errors_itch == 0,
            || {
                format!(
                    "{decode_errors} decode, {} encode",
                    encode_errors_out + encode_errors_itch
                )
            },
        ),
    );
    checks.push(
        "book_flow_applies",
        check(book_refusals == 0, || {
            format!("the book refused {book_refusals} messages of a consistent flow")
        }),
    );
    let inbound_ok =
        inputs
            .inbound_all
            .spans
            .iter()
            .zip(&inputs.inbound)
            .all(|(&(s, e), message)| {
                Inbound::decode(&inputs.inbound_all.bytes[s as usize..e as usize]).as_ref()
                    == Ok(message)
            });
    checks.push(
        "ouch_inbound_round_trip",
        check(inbound_ok, || "a decoded message differs".to_string()),
    );
    let mut at = 0usize;
    let outbound_ok = inputs.outbound.iter().all(|message| {
        let len = message.encoded_len();
        let decoded = Outbound::decode(&outbound_out[at..at + len]);
        at += len;
        decoded.as_ref() == Ok(message)
    });
    checks.push(
        "ouch_outbound_round_trip",
        check(outbound_ok && at == outbound_bytes, || {
            "an encoded message decodes differently".to_string()
        }),
    );
    let itch_ok = itch_out == inputs.itch_bytes.bytes
        && inputs
            .itch_bytes
            .spans
            .iter()
            .zip(&inputs.itch)
            .all(|(&(s, e), message)| {
                itch::Message::decode(&itch_out[s as usize..e as usize]).as_ref() == Ok(message)
            });
    checks.push(
        "itch_round_trip",
        check(itch_ok, || "an ITCH message differs".to_string()),
    );
    checks.push(
        "soup_frames",
        check(
            soup_frames
                .iter()
                .chain(&parse_frames)
                .all(|&frames| frames == n),
            || format!("frames per run {soup_frames:?} / {parse_frames:?}, expected {n}"),
        ),
    );

    let mut mix = Named::new();
    for (kind, (name, _)) in INBOUND_KINDS.iter().enumerate() {
        let count = inputs
            .inbound_kind
            .iter()
            .filter(|&&k| usize::from(k) == kind)
            .count() as u64;
        mix.push(format!("in_{name}"), count);
    }
    for (name, type_byte) in [
        ("accepted", OrderAccepted::TYPE),
        ("executed", OrderExecuted::TYPE),
        ("canceled", OrderCanceled::TYPE),
    ] {
        let count = inputs
            .outbound
            .iter()
            .filter(|m| m.message_type() == type_byte)
            .count() as u64;
        mix.push(format!("out_{name}"), count);
    }
    for (name, type_byte) in [
        ("add", itch::AddOrder::TYPE),
        ("executed", itch::OrderExecuted::TYPE),
        ("delete", itch::OrderDelete::TYPE),
    ] {
        let count = inputs
            .itch
            .iter()
            .filter(|m| m.message_type() == type_byte)
            .count() as u64;
        mix.push(format!("itch_{name}"), count);
    }

    let mut counters = Named::new();
    counters.push("ouch_inbound_bytes", inputs.inbound_all.bytes.len() as u64);
    counters.push("ouch_outbound_bytes", outbound_bytes as u64);
    counters.push("itch_bytes", itch_bytes as u64);
    counters.push("soup_stream_bytes", inputs.soup_stream.len() as u64);

    let mut extra_rows = vec![(
        "codec, ns per message".to_string(),
        format!(
            "{:>9} {:>9} {:>12} {:>11} {:>7}",
            "median", "min", "msg/s", "messages", "B/msg"
        ),
    )];
    for row in &rows {
        extra_rows.push((
            row.name.clone(),
            format!(
                "{:>9.1} {:>9.1} {:>12} {:>11} {:>7.1}",
                row.ns_per_message_median,
                row.ns_per_message_min,
                group_digits(row.messages_per_sec.round() as u64),
                group_digits(row.messages),
                row.bytes as f64 / row.messages.max(1) as f64
            ),
        ));
    }

    let headline = &rows[0];
    let seconds = headline.ns_per_message_median * n as f64 / 1e9;
    let notes = vec![
        format!(
            "each row: {REPEATS} timed batches, Instant around the whole batch, ns per message = batch time / \
             messages; median and min of the {REPEATS}; ops, duration and throughput above are ouch_decode_all's \
             median"
        ),
        "per-type ouch_decode rows decode that type's messages of the mix, back to back, through \
         Inbound::decode"
            .to_string(),
        format!(
            "inputs generated and encoded in {generation_s:.2} s before timing; output buffers preallocated and \
             touched; no allocation in the timed loops but itch_book_apply's, whose book grows as a subscriber's does"
        ),
    ];

    let report = Report {
        mode: "codec".to_string(),
        workload: "ouch-itch-soupbin-mix".to_string(),
        ops: n,
        seconds,
        ops_per_sec: headline.messages_per_sec,
        latency_ns: None,
        latency_sampling: LatencySampling {
            method: format!("none: batch timing, {REPEATS} repeats (see rows)"),
            every: 0,
            samples: 0,
            timer: "std::time::Instant".to_string(),
            timer_overhead_ns: 0.0,
            unit: "one message".to_string(),
        },
        headline: None,
        baseline: None,
        counters,
        mix,
        checks,
        state_hash: None,
        env,
        notes,
        extra_rows,
    };
    Ok(CodecReport { report, rows })
}
