//! A short feed-send run: both rows are there with positive figures, every send was taken, and the JSON carries
//! them. This checks the rig, not the speed of a send (no timing is asserted beyond being above zero).

use crossline_bench::modes::codec::REPEATS;
use crossline_bench::modes::feed_send::{run, FeedSendOptions};

#[test]
fn small_run_reports_both_rows_and_refuses_bad_sizes() {
    let report = run(&FeedSendOptions {
        packets: 2_000,
        packet_bytes: 58,
    })
    .expect("the run completes");
    assert!(
        report.report.checks_passed(),
        "{}",
        report.report.render_table()
    );
    let names: Vec<&str> = report.rows.iter().map(|row| row.name.as_str()).collect();
    assert_eq!(names, ["udp_sendto_unconnected", "udp_feed_sender"]);
    for row in &report.rows {
        assert_eq!(row.messages, 2_000);
        assert_eq!(row.bytes, 2_000 * 58);
        assert!(row.ns_per_message_median > 0.0, "{}", row.name);
        assert_eq!(row.ns_per_message_runs.len(), REPEATS, "{}", row.name);
    }
    let table = report.report.render_table();
    assert!(table.contains("feed sender "), "{table}");

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("feed-send.json");
    crossline_bench::report::write_json_file(&report, &path).expect("writes JSON");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("reads JSON")).expect("parses");
    assert_eq!(json["mode"], "feed-send");
    assert_eq!(json["rows"].as_array().map(Vec::len), Some(2));

    for packet_bytes in [0, 19, 1_401] {
        assert!(run(&FeedSendOptions {
            packets: 10,
            packet_bytes,
        })
        .is_err());
    }
    assert!(run(&FeedSendOptions {
        packets: 0,
        packet_bytes: 58,
    })
    .is_err());
}
