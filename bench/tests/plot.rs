//! The percentile spectrum chart: a valid SVG naming every series, from histograms and from .hgrm files (also
//! through `crossline-bench plot`).

use crossline_bench::histogram::{latency_histogram, write_hgrm};
use crossline_bench::plot::{render_svg, Series};
use std::process::Command;

fn hgrm_of(values: impl IntoIterator<Item = u64>) -> String {
    let mut histogram = latency_histogram();
    for value in values {
        histogram.saturating_record(value);
    }
    let mut text = Vec::new();
    write_hgrm(&histogram, 1000.0, &mut text).expect("formats");
    String::from_utf8(text).expect("utf-8")
}

fn assert_valid_svg(svg: &str) {
    assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
    assert!(svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    assert!(
        svg.contains("<polyline") || svg.contains("<path"),
        "no curve drawn"
    );
}

#[test]
fn two_series_are_drawn_and_named() {
    let fast =
        Series::from_hgrm("fast-run", &hgrm_of((1..=10_000).map(|i| 1_000 + i))).expect("rows");
    let slow = Series::from_hgrm("slow-run", &hgrm_of((1..=10_000).map(|i| 5_000 + 10 * i)))
        .expect("rows");
    assert!(fast.points.last().expect("points").1 < slow.points.last().expect("points").1);
    let svg = render_svg("two runs", &[fast, slow]).expect("draws");
    assert_valid_svg(&svg);
    for text in [
        "fast-run",
        "slow-run",
        "two runs",
        "99.9%",
        "latency (log scale)",
    ] {
        assert!(svg.contains(text), "missing {text:?}");
    }
}

#[test]
fn the_plot_command_overlays_hgrm_files() {
    let dir = tempfile::tempdir().expect("temp dir");
    let a = dir.path().join("open-loop.hgrm");
    let b = dir.path().join("closed-loop.hgrm");
    std::fs::write(&a, hgrm_of((1..=1_000).map(|i| i * 100))).expect("writes");
    std::fs::write(&b, hgrm_of((1..=1_000).map(|i| i * 10))).expect("writes");
    let out = dir.path().join("chart.svg");
    let status = Command::new(env!("CARGO_BIN_EXE_crossline-bench"))
        .arg("plot")
        .arg("--out")
        .arg(&out)
        .arg(&a)
        .arg(&b)
        .status()
        .expect("runs");
    assert!(status.success());
    let svg = std::fs::read_to_string(&out).expect("the chart was written");
    assert_valid_svg(&svg);
    assert!(svg.contains("open-loop") && svg.contains("closed-loop"));

    let not_hgrm = dir.path().join("notes.hgrm");
    std::fs::write(&not_hgrm, "hello\n").expect("writes");
    let status = Command::new(env!("CARGO_BIN_EXE_crossline-bench"))
        .args(["plot", "--out"])
        .arg(dir.path().join("bad.svg"))
        .arg(&not_hgrm)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("runs");
    assert!(
        !status.success(),
        "a file without percentile rows is refused"
    );
}
