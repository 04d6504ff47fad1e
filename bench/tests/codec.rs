//! A short codec run: the JSON carries every row, every ns figure is positive, and the round-trip checks pass.
//! This checks the rig, not the codecs' speed (no timing is asserted beyond being above zero).

use crossline_bench::modes::codec::{run, CodecOptions, REPEATS};

const ROWS: [&str; 12] = [
    "ouch_decode_all",
    "ouch_decode_enter",
    "ouch_decode_enter_opts",
    "ouch_decode_cancel",
    "ouch_decode_replace",
    "ouch_decode_quote",
    "ouch_encode_out",
    "itch_encode",
    "itch_decode",
    "itch_book_apply",
    "soup_frame_decode",
    "soup_parse_frame",
];

#[test]
fn small_run_reports_every_row_with_positive_figures() {
    let report = run(&CodecOptions {
        messages: 2_000,
        seed: 7,
    })
    .expect("the run completes");
    assert!(
        report.report.checks_passed(),
        "{}",
        report.report.render_table()
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("codec.json");
    crossline_bench::report::write_json_file(&report, &path).expect("writes JSON");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("reads JSON")).expect("parses");

    assert_eq!(json["mode"], "codec");
    for key in ["workload", "ops", "seconds", "ops_per_sec", "env", "checks"] {
        assert!(json.get(key).is_some(), "JSON lacks {key}");
    }
    assert_eq!(json["ops"], 2_000);
    assert!(json["ops_per_sec"].as_f64().unwrap_or(0.0) > 0.0);

    let rows = json["rows"].as_array().expect("rows");
    let names: Vec<&str> = rows.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, ROWS);
    for row in rows {
        let name = row["name"].as_str().unwrap_or("?");
        assert!(
            row["messages"].as_u64().unwrap_or(0) > 0,
            "{name}: messages"
        );
        assert!(row["bytes"].as_u64().unwrap_or(0) > 0, "{name}: bytes");
        for key in [
            "ns_per_message_median",
            "ns_per_message_min",
            "messages_per_sec",
        ] {
            let value = row[key].as_f64().unwrap_or(0.0);
            assert!(value > 0.0 && value.is_finite(), "{name}: {key} = {value}");
        }
        let runs = row["ns_per_message_runs"].as_array().expect("runs");
        assert_eq!(runs.len(), REPEATS, "{name}");
        assert!(
            runs.iter().all(|v| v.as_f64().unwrap_or(0.0) > 0.0),
            "{name}: {runs:?}"
        );
    }
}

#[test]
fn zero_messages_is_refused() {
    assert!(run(&CodecOptions {
        messages: 0,
        seed: 1
    })
    .is_err());
}
