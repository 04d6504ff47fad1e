//! The query side as an operator runs it: `crossline query apply` SIGKILLed in the middle of a transaction and at
//! an arbitrary moment, restarted, and `crossline query verify` finds no duplicate and no missing row; the query
//! subcommands answer in CSV and JSON.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

const FLOW_COMMANDS: &str = "15000";

fn crossline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crossline"))
        .args(args)
        .output()
        .expect("the crossline binary runs")
}

fn ok(args: &[&str]) -> String {
    let out = crossline(args);
    assert!(
        out.status.success(),
        "crossline {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn applied_seq(db: &str) -> u64 {
    let text = ok(&["query", "status", "--db", db, "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&text).expect("status JSON");
    json[0]["applied_seq"].as_u64().expect("applied_seq")
}

/// Starts `query apply` and SIGKILLs it once it has printed `stop_after` lines starting with `marker`.
fn apply_and_kill(journal: &Path, db: &str, extra: &[&str], marker: &str, stop_after: usize) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_crossline"))
        .args([
            "query",
            "apply",
            "--progress",
            "--batch-max-commands",
            "250",
        ])
        .args(["--db", db, "--journal"])
        .arg(journal)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn query apply");
    let stdout = child.stdout.take().expect("stdout");
    let mut seen = 0;
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("a line");
        if line.starts_with(marker) {
            seen += 1;
            if seen == stop_after {
                break;
            }
        }
    }
    assert_eq!(
        seen, stop_after,
        "the child printed {seen} {marker:?} lines before it ended"
    );
    // Child::kill is SIGKILL on Unix: no destructor, no rollback, no flush runs.
    child.kill().expect("SIGKILL");
    let _ = child.wait();
}

#[test]
fn a_learner_killed_mid_transaction_and_mid_run_resumes_without_duplicates_or_gaps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = dir.path().join("journal");
    let written = ok(&[
        "query",
        "write-flow",
        "--journal",
        journal.to_str().expect("utf-8 path"),
        "--commands",
        FLOW_COMMANDS,
        "--seed",
        "21",
    ]);
    assert!(written.starts_with("wrote seq 1..="), "{written}");
    let last_seq: u64 = written["wrote seq 1..=".len()..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("last seq");
    let db = format!("sqlite://{}", dir.path().join("query.sqlite3").display());

    // Killed at whatever it was doing after a few commits.
    apply_and_kill(&journal, &db, &[], "db_seq", 4);
    let after_first = applied_seq(&db);
    assert!(after_first > 0 && after_first < last_seq, "{after_first}");

    // Killed while a transaction is open, with half of the batch's rows written: none of them stays.
    apply_and_kill(
        &journal,
        &db,
        &["--pause-mid-transaction-ms", "60000"],
        "mid-transaction",
        1,
    );
    assert_eq!(applied_seq(&db), after_first);
    let verified = ok(&[
        "query",
        "verify",
        "--db",
        &db,
        "--journal",
        journal.to_str().unwrap(),
    ]);
    assert!(verified.contains("ok: the database matches"), "{verified}");

    // Restarted to the end.
    let applied = ok(&[
        "query",
        "apply",
        "--db",
        &db,
        "--journal",
        journal.to_str().unwrap(),
        "--audit",
    ]);
    assert!(applied.contains(", 0 mismatches"), "{applied}");
    assert_eq!(applied_seq(&db), last_seq);
    let out = crossline(&[
        "query",
        "verify",
        "--db",
        &db,
        "--journal",
        journal.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("ok: the database matches"), "{text}");

    // The common questions answer in CSV and JSON.
    let trades = ok(&[
        "query",
        "--db",
        &db,
        "--format",
        "csv",
        "trades",
        "--account",
        "1",
        "--symbol",
        "ACME",
        "--limit",
        "5",
    ]);
    let mut lines = trades.lines();
    assert!(lines
        .next()
        .expect("header")
        .starts_with("seq,timestamp_ns,match_number,symbol,account_id"));
    assert_eq!(lines.count(), 5, "{trades}");
    let trades_day = ok(&[
        "query",
        "--db",
        &db,
        "--format",
        "json",
        "trades",
        "--account",
        "2",
        "--from-time",
        "2026-01-01",
        "--to-time",
        "2026-01-02",
    ]);
    let rows: serde_json::Value = serde_json::from_str(&trades_day).expect("json");
    assert!(!rows.as_array().expect("array").is_empty());
    assert!(rows
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["account_id"] == 2));
    let fees = ok(&["query", "--db", &db, "--format", "json", "fees"]);
    let fees: serde_json::Value = serde_json::from_str(&fees).expect("json");
    assert!(fees
        .as_array()
        .expect("array")
        .iter()
        .any(|r| r["fee_tier"] == 1 && r["fees"].as_i64() > Some(0)));
    let open = ok(&[
        "query",
        "--db",
        &db,
        "--format",
        "json",
        "orders",
        "--account",
        "3",
    ]);
    let open: serde_json::Value = serde_json::from_str(&open).expect("json");
    let first = &open.as_array().expect("array")[0];
    let history = ok(&[
        "query",
        "--db",
        &db,
        "--format",
        "json",
        "orders",
        "--order-id",
        &first["order_id"].to_string(),
    ]);
    let history: serde_json::Value = serde_json::from_str(&history).expect("json");
    assert!(!history.as_array().expect("array").is_empty());
    let audits = ok(&["query", "--db", &db, "--format", "json", "audits"]);
    let audits: serde_json::Value = serde_json::from_str(&audits).expect("json");
    assert_eq!(audits[0]["audit_seq"].as_u64(), Some(last_seq));
    let at_audit = ok(&[
        "query",
        "--db",
        &db,
        "--format",
        "csv",
        "balances",
        "--audit",
        &last_seq.to_string(),
    ]);
    let now = ok(&["query", "--db", &db, "--format", "csv", "balances"]);
    let non_zero = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !l.ends_with(",0,0"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(non_zero(&at_audit), non_zero(&now));
}
