//! `crossline journal inspect|verify|dump DIR`: operator views of a journal directory, printed for people.
//!
//! Each function returns the process exit code: 0 all well, 1 problems found (verify failed, a bad record, nothing
//! at the requested sequence), 2 the path is unusable (missing, not a directory, unreadable, no segments in it).
//! Nothing here writes to the directory, so it is safe on a live journal and on a read-only copy.

use std::path::Path;

use crossline_journal::{InspectReport, JournalError, OpenError, SegmentEnd, Verdict};

const EXIT_OK: i32 = 0;
const EXIT_PROBLEMS: i32 = 1;
const EXIT_UNUSABLE_PATH: i32 = 2;

/// Segments, record counts, sequence range, torn tail and problems.
pub fn inspect(dir: &Path) -> anyhow::Result<i32> {
    let report = match crossline_journal::inspect(dir) {
        Ok(report) => report,
        Err(err) => return unusable(dir, &err),
    };
    print_report(&report);
    Ok(
        if report.problems.is_empty() && report.torn_tail.is_none() {
            EXIT_OK
        } else {
            EXIT_PROBLEMS
        },
    )
}

/// Checks every header and record (checksums, rkyv bytecheck, sequence continuity) and prints a verdict.
pub fn verify(dir: &Path) -> anyhow::Result<i32> {
    let verified = match crossline_journal::verify(dir) {
        Ok(verified) => verified,
        Err(err) => return unusable(dir, &err),
    };
    print_report(&verified.report);
    let (line, code) = match verified.verdict {
        Verdict::Clean => ("verdict: OK, every record checks out", EXIT_OK),
        Verdict::Recoverable => (
            "verdict: RECOVERABLE, a crash left a torn tail or an interrupted rollover; the writer repairs it at open",
            EXIT_PROBLEMS,
        ),
        Verdict::Corrupt => ("verdict: CORRUPT, recovery will refuse to start until this is resolved", EXIT_PROBLEMS),
    };
    println!("{line}");
    Ok(code)
}

/// Prints up to `count` commands from `from` on, one per line.
pub fn dump(dir: &Path, from: u64, count: u64) -> anyhow::Result<i32> {
    let commands = match crossline_journal::dump(dir, from, count) {
        Ok(commands) => commands,
        Err(JournalError::Open(err)) => return unusable(dir, &err),
        Err(err) => {
            eprintln!("error: {err}");
            return Ok(EXIT_PROBLEMS);
        }
    };
    let mut printed = 0u64;
    for item in commands {
        match item {
            Ok(command) => {
                println!(
                    "{:>20}  t={}ns  {:?}",
                    command.seq, command.timestamp_ns, command.body
                );
                printed += 1;
            }
            Err(err) => {
                eprintln!("error after {printed} commands: {err}");
                return Ok(EXIT_PROBLEMS);
            }
        }
    }
    if printed == 0 && count > 0 {
        eprintln!("no command at seq {from} in {}", dir.display());
        return Ok(EXIT_PROBLEMS);
    }
    Ok(EXIT_OK)
}

fn unusable(dir: &Path, err: &OpenError) -> anyhow::Result<i32> {
    eprintln!("error: {err}");
    if matches!(err, OpenError::NoSegments { .. }) {
        eprintln!(
            "hint: point at the journal directory itself (the one holding *.seg files): {}",
            dir.display()
        );
    }
    Ok(EXIT_UNUSABLE_PATH)
}

fn print_report(report: &InspectReport) {
    println!("journal {}", report.dir.display());
    if report.writer_live {
        println!("  a writer is live: the newest segment's tail may still be growing");
    }
    match (report.first_seq, report.last_seq) {
        (Some(first), Some(last)) => {
            println!("  records {} (seq {first}..={last})", report.records)
        }
        _ => println!("  records 0"),
    }
    println!("  segments {}", report.segments.len());
    for segment in &report.segments {
        let name = segment.path.file_name().map_or_else(
            || segment.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let state = match segment.end {
            None => "unreadable header".to_string(),
            Some(SegmentEnd::Full) => "full".to_string(),
            Some(SegmentEnd::Sealed) => "sealed".to_string(),
            Some(SegmentEnd::Open) => "open".to_string(),
            Some(SegmentEnd::Torn { bytes, .. }) => format!("torn tail of {bytes} bytes"),
            Some(SegmentEnd::Corrupt {
                next_valid_offset, ..
            }) => {
                format!("CORRUPT (valid records resume at offset {next_valid_offset})")
            }
            Some(SegmentEnd::Gap { expected, found }) => {
                format!("SEQUENCE GAP (expected {expected}, found {found})")
            }
        };
        let range = match segment.last_seq {
            Some(last) => format!("seq {}..={last}", segment.first_seq),
            None => format!("seq {}.. (empty)", segment.first_seq),
        };
        println!(
            "    {name}  {range}  {} records  {}/{} bytes used  {state}",
            segment.records, segment.used_bytes, segment.segment_bytes
        );
    }
    if let Some(torn) = &report.torn_tail {
        println!(
            "  torn tail: {} bytes at {} offset {} ({}); recovery will cut it",
            torn.bytes,
            torn.path.display(),
            torn.offset,
            torn.defect
        );
    }
    for path in &report.pending_repairs {
        println!("  pending repair: {}", path.display());
    }
    for problem in &report.problems {
        println!("  PROBLEM: {problem}");
    }
}
