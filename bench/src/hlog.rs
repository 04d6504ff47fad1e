//! `--hlog FILE`: HdrHistogram's interval histogram log, the format of Java's `HistogramLogWriter` that
//! `HistogramLogReader`, `HistogramLogProcessor` and HistogramLogAnalyzer read: a header (format version, comments,
//! `StartTime` and `BaseTime` in seconds since the epoch, the column legend), then one line per interval: start
//! (seconds after BaseTime), length (seconds), max (milliseconds: values are nanoseconds, divided by 10^6 as the
//! Java writer does) and the interval's histogram, V2-deflate encoded in base64.
//!
//! Intervals are cut from the 100 ms chunks the live view hands over (`crate::live`), so an interval's length is a
//! whole number of chunks, about `--hlog-interval-ms`. Every interval is written, empty ones too: an interval with
//! no samples is what a stall looks like before the late samples land in the next one.

use crate::histogram::latency_histogram;
use crate::live::{Chunk, HlogOptions, CHUNK_NS};
use anyhow::Context;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriter, IntervalLogWriterBuilder, LogEntry,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use std::io::Write;
use std::time::{Duration, SystemTime};

/// The format version the header declares (the Java implementation's current one).
pub const LOG_FORMAT_VERSION: &str = "1.3";
/// The max column is in milliseconds: nanosecond values divided by this.
pub const MAX_VALUE_DIVISOR: f64 = 1e6;

/// Writes intervals as chunks arrive.
pub struct HlogWriter<'a, W: Write> {
    log: IntervalLogWriter<'a, 'a, W, V2DeflateSerializer>,
    interval_ns: u64,
    current: Histogram<u64>,
    interval_start_ns: u64,
    last_end_ns: u64,
}

impl<'a, W: Write> HlogWriter<'a, W> {
    /// Writes the header. `run_start` is the wall-clock time of the run's origin: StartTime and BaseTime.
    pub fn begin(
        out: &'a mut W,
        serializer: &'a mut V2DeflateSerializer,
        run_start: SystemTime,
        options: &HlogOptions,
    ) -> anyhow::Result<HlogWriter<'a, W>> {
        let start = run_start
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        writeln!(out, "#[Histogram log format version {LOG_FORMAT_VERSION}]")
            .and_then(|()| {
                options
                    .comments
                    .iter()
                    .flat_map(|comment| comment.lines())
                    .try_for_each(|line| writeln!(out, "#{line}"))
            })
            .and_then(|()| writeln!(out, "#[StartTime: {start:.3} (seconds since epoch)]"))
            .and_then(|()| writeln!(out, "#[BaseTime: {start:.3} (seconds since epoch)]"))
            .and_then(|()| {
                writeln!(
                    out,
                    "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
                )
            })
            .context("writing the interval log's header")?;
        let log = IntervalLogWriterBuilder::new()
            .with_max_value_divisor(MAX_VALUE_DIVISOR)
            .begin_log_with(out, serializer)
            .context("starting the interval log")?;
        let interval_ns = u64::try_from(options.interval.as_nanos())
            .unwrap_or(u64::MAX)
            .max(CHUNK_NS);
        Ok(HlogWriter {
            log,
            interval_ns,
            current: latency_histogram(),
            interval_start_ns: 0,
            last_end_ns: 0,
        })
    }

    /// Adds a chunk; writes an interval when it is long enough (within half a chunk of the asked length).
    pub fn chunk(&mut self, chunk: &Chunk) -> anyhow::Result<()> {
        self.current
            .add(&chunk.histogram)
            .context("adding a chunk to the interval")?;
        self.last_end_ns = chunk.end_ns;
        if chunk.end_ns.saturating_sub(self.interval_start_ns) + CHUNK_NS / 2 >= self.interval_ns {
            self.write_interval(chunk.end_ns)?;
        }
        Ok(())
    }

    fn write_interval(&mut self, end_ns: u64) -> anyhow::Result<()> {
        let start = Duration::from_nanos(self.interval_start_ns);
        let length = Duration::from_nanos(end_ns.saturating_sub(self.interval_start_ns));
        self.log
            .write_histogram(&self.current, start, length, None)
            .map_err(|error| anyhow::anyhow!("writing an interval: {error}"))?;
        self.current.reset();
        self.interval_start_ns = end_ns;
        Ok(())
    }

    /// Writes the last, partial interval if it holds anything.
    pub fn finish(mut self) -> anyhow::Result<()> {
        if !self.current.is_empty() || self.last_end_ns > self.interval_start_ns {
            self.write_interval(self.last_end_ns.max(self.interval_start_ns))?;
        }
        Ok(())
    }
}

/// One interval read back from a log.
#[derive(Debug)]
pub struct LoggedInterval {
    /// Seconds after BaseTime (or since the epoch when the log has none).
    pub start: Duration,
    pub length: Duration,
    /// The max column as written (milliseconds for this rig's logs).
    pub max: f64,
    pub histogram: Histogram<u64>,
}

/// A log read back: its StartTime and BaseTime, if any, and its intervals in order.
#[derive(Debug, Default)]
pub struct ReadLog {
    pub start_time: Option<Duration>,
    pub base_time: Option<Duration>,
    pub intervals: Vec<LoggedInterval>,
}

/// Parses an interval log with the hdrhistogram crate's reader and decodes every interval.
pub fn read_log(bytes: &[u8]) -> anyhow::Result<ReadLog> {
    use base64::Engine as _;
    let mut log = ReadLog::default();
    let mut deserializer = Deserializer::new();
    for entry in IntervalLogIterator::new(bytes) {
        match entry.map_err(|error| anyhow::anyhow!("parsing the interval log: {error:?}"))? {
            LogEntry::StartTime(time) => log.start_time = Some(time),
            LogEntry::BaseTime(time) => log.base_time = Some(time),
            LogEntry::Interval(interval) => {
                let encoded = base64::engine::general_purpose::STANDARD
                    .decode(interval.encoded_histogram())
                    .context("decoding an interval's base64")?;
                let histogram: Histogram<u64> = deserializer
                    .deserialize(&mut encoded.as_slice())
                    .map_err(|error| {
                    anyhow::anyhow!("decoding an interval's histogram: {error:?}")
                })?;
                log.intervals.push(LoggedInterval {
                    start: interval.start_timestamp(),
                    length: interval.duration(),
                    max: interval.max(),
                    histogram,
                });
            }
        }
    }
    Ok(log)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(start_ns: u64, end_ns: u64, values: &[u64]) -> Chunk {
        let mut histogram = latency_histogram();
        for &value in values {
            histogram.saturating_record(value);
        }
        Chunk {
            run_start: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            start_ns,
            end_ns,
            histogram,
        }
    }

    #[test]
    fn chunks_make_whole_intervals_and_read_back() {
        let options = HlogOptions {
            path: "unused".into(),
            interval: Duration::from_millis(300),
            comments: vec!["values in nanoseconds".into()],
        };
        let mut out = Vec::new();
        let mut serializer = V2DeflateSerializer::new();
        {
            let first = chunk(0, 100_000_000, &[1_000, 2_000]);
            let mut writer =
                HlogWriter::begin(&mut out, &mut serializer, first.run_start, &options)
                    .expect("header");
            writer.chunk(&first).expect("chunk");
            writer
                .chunk(&chunk(100_000_000, 200_000_000, &[]))
                .expect("chunk");
            writer
                .chunk(&chunk(200_000_000, 301_000_000, &[3_000_000]))
                .expect("chunk");
            writer
                .chunk(&chunk(301_000_000, 400_000_000, &[5_000]))
                .expect("chunk");
            writer.finish().expect("finish");
        }
        let text = String::from_utf8(out.clone()).expect("utf-8");
        assert!(text.starts_with("#[Histogram log format version 1.3]\n#values in nanoseconds\n"));
        let log = read_log(&out).expect("parses");
        assert_eq!(log.base_time, Some(Duration::from_secs(1_700_000_000)));
        assert_eq!(log.intervals.len(), 2);
        assert_eq!(log.intervals[0].histogram.len(), 3);
        assert_eq!(log.intervals[0].start, Duration::ZERO);
        assert_eq!(log.intervals[0].length, Duration::from_millis(301));
        assert!(
            (log.intervals[0].max - 3.0).abs() < 0.01,
            "max in ms: {}",
            log.intervals[0].max
        );
        assert_eq!(log.intervals[1].histogram.len(), 1);
        assert_eq!(log.intervals[1].start, Duration::from_millis(301));
    }
}
