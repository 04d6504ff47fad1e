//! The clock the measured loops read around sampled operations. On x86-64 with an invariant TSC it is the time-stamp
//! counter, fenced so that the operation cannot leak outside the two reads; elsewhere it is `Instant`. Both are
//! turned into nanoseconds after the run, with a rate calibrated against the monotonic clock, so the hot loop
//! does no arithmetic beyond one subtraction.

use std::time::{Duration, Instant};

/// Which counter the ticks come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerSource {
    /// The TSC, read with `lfence; rdtsc` before and `rdtscp; lfence` after.
    Tsc,
    /// Nanoseconds of `std::time::Instant` since the timer was made.
    Instant,
}

/// A calibrated tick counter. `ticks()` is the only call on a hot path.
#[derive(Debug, Clone, Copy)]
pub struct Timer {
    source: TimerSource,
    origin: Instant,
    ticks_per_ns: f64,
    /// Median of the ticks between a start and an end read with nothing in between.
    overhead_ticks: u64,
}

impl Timer {
    /// Chooses the TSC when the CPU says it is invariant (constant rate, running in every sleep state) and has
    /// rdtscp, otherwise
    /// `Instant`. Calibration busy-waits for about `calibration` of wall time.
    pub fn new(calibration: Duration) -> Timer {
        let source = if tsc_is_invariant() {
            TimerSource::Tsc
        } else {
            TimerSource::Instant
        };
        Timer::with_source(source, calibration)
    }

    pub fn with_source(source: TimerSource, calibration: Duration) -> Timer {
        let mut timer = Timer {
            source,
            origin: Instant::now(),
            ticks_per_ns: 1.0,
            overhead_ticks: 0,
        };
        if source == TimerSource::Tsc {
            timer.ticks_per_ns = timer.calibrate(calibration);
        }
        timer.overhead_ticks = timer.measure_overhead();
        timer
    }

    pub fn source(&self) -> TimerSource {
        self.source
    }

    pub fn ticks_per_ns(&self) -> f64 {
        self.ticks_per_ns
    }

    /// What one sampled measurement adds by itself, in nanoseconds. Samples include it; the report shows it.
    pub fn overhead_ns(&self) -> f64 {
        self.overhead_ticks as f64 / self.ticks_per_ns
    }

    pub fn describe(&self) -> String {
        match self.source {
            TimerSource::Tsc => format!("rdtsc at {:.3} GHz (calibrated)", self.ticks_per_ns),
            TimerSource::Instant => "std::time::Instant".to_string(),
        }
    }

    /// A reading to start an interval.
    #[inline(always)]
    pub fn start(&self) -> u64 {
        match self.source {
            TimerSource::Tsc => tsc_start(),
            TimerSource::Instant => self.origin.elapsed().as_nanos() as u64,
        }
    }

    /// A reading to end an interval: it waits for the work before it to finish.
    #[inline(always)]
    pub fn end(&self) -> u64 {
        match self.source {
            TimerSource::Tsc => tsc_end(),
            TimerSource::Instant => self.origin.elapsed().as_nanos() as u64,
        }
    }

    pub fn ticks_to_ns(&self, ticks: u64) -> u64 {
        (ticks as f64 / self.ticks_per_ns).round() as u64
    }

    fn calibrate(&self, calibration: Duration) -> f64 {
        let wall_start = Instant::now();
        let ticks_start = self.start();
        while wall_start.elapsed() < calibration {
            std::hint::spin_loop();
        }
        let ticks_end = self.end();
        let wall_ns = wall_start.elapsed().as_nanos() as f64;
        let rate = ticks_end.wrapping_sub(ticks_start) as f64 / wall_ns;
        // A rate outside 0.1..100 GHz means the counter is not what the CPU flags promised.
        assert!(
            (0.1..100.0).contains(&rate),
            "TSC calibration gave {rate} ticks/ns"
        );
        rate
    }

    fn measure_overhead(&self) -> u64 {
        let mut gaps: Vec<u64> = (0..1001)
            .map(|_| {
                let start = self.start();
                let end = self.end();
                end.wrapping_sub(start)
            })
            .collect();
        gaps.sort_unstable();
        gaps[gaps.len() / 2]
    }
}

/// True on x86-64 when /proc/cpuinfo lists `constant_tsc`, `nonstop_tsc` and `rdtscp`.
fn tsc_is_invariant() -> bool {
    if !cfg!(target_arch = "x86_64") {
        return false;
    }
    let Ok(cpuinfo) = std::fs::read_to_string("/proc/cpuinfo") else {
        return false;
    };
    let Some(flags) = cpuinfo.lines().find(|line| line.starts_with("flags")) else {
        return false;
    };
    let has = |flag: &str| flags.split_whitespace().any(|word| word == flag);
    has("constant_tsc") && has("nonstop_tsc") && has("rdtscp")
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn tsc_start() -> u64 {
    use std::arch::x86_64::{_mm_lfence, _rdtsc};
    // SAFETY: lfence (SSE2) and rdtsc are part of the x86-64 baseline; neither touches memory.
    unsafe {
        _mm_lfence();
        _rdtsc()
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn tsc_end() -> u64 {
    use std::arch::x86_64::{__rdtscp, _mm_lfence};
    let mut processor = 0u32;
    // SAFETY: rdtscp is present (the CPU flags were checked before the TSC source was chosen) and writes only to
    // `processor`, a live local; lfence is baseline x86-64.
    unsafe {
        let ticks = __rdtscp(&mut processor);
        _mm_lfence();
        ticks
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn tsc_start() -> u64 {
    unreachable!("the TSC source is only chosen on x86-64")
}

#[cfg(not(target_arch = "x86_64"))]
fn tsc_end() -> u64 {
    unreachable!("the TSC source is only chosen on x86-64")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sleep_measures_about_its_length() {
        let timer = Timer::new(Duration::from_millis(20));
        let start = timer.start();
        std::thread::sleep(Duration::from_millis(30));
        let elapsed_ns = timer.ticks_to_ns(timer.end().wrapping_sub(start));
        assert!(
            (29_000_000..200_000_000).contains(&elapsed_ns),
            "measured {elapsed_ns} ns"
        );
        assert!(timer.overhead_ns() < 10_000.0);
    }
}
