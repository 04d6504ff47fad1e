//! crossline-bench: Crossline's benchmarking rig, built so that people can believe what it prints.
//!
//! Its job is to measure Crossline (and, in later modes, other systems) with seeded, reproducible order flows and
//! to report throughput and latency percentiles together with everything needed to judge them: how latency was
//! sampled, the environment, the exact command line and seed, counters that show the run did what it claims (no
//! rejects, the engine's invariants hold, the state hash reached), in a table and in JSON. It must never time its
//! own preparation (flows are generated before the clock starts), never hide how many samples a percentile stands
//! on, and never change a flow for a given seed without a test noticing.
//!
//! Layout: `workload` (the flow generators, one file each), `modes` (one file per mode: `engine`, `journal`,
//! `restart`, `echo`, `wire`, `pipeline`), `rundir` (the temporary directories the journal modes write in),
//! `report` (JSON and table), `histogram` (HdrHistogram shape, percentiles, .hgrm), `sampling` and `timer`
//! (which ops are timed and with what clock), `env` (environment capture), `rng` (the seeded generator);
//! `live` (hands a running measurement's samples to a side thread every 100 ms) with its two consumers,
//! `progress` (the progress bar) and `hlog` (interval histogram logs); `plot` (percentile spectrum charts, SVG);
//! `search` (the step-rate search over any `RateTarget`); `suite` (the standard set and BENCHMARKS.md's
//! generated section); `threads` (each thread's CPU time and its wait for a core over the measured parts, from
//! the scheduler's schedstat); `placement` (the client on one core and the server on another in latency runs).

pub mod env;
pub mod histogram;
pub mod hlog;
pub mod live;
pub mod modes;
pub mod placement;
pub mod plot;
pub mod progress;
pub mod report;
pub mod rng;
pub mod rundir;
pub mod sampling;
pub mod search;
pub mod suite;
pub mod threads;
pub mod timer;
pub mod workload;
