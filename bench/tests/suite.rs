//! `crossline-bench suite --quick` into a temporary directory: every run's files, the charts, and the generated
//! section of a markdown file, leaving its hand-written text as it was. It never touches the repository's files.

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn quick_suite_writes_its_files_and_only_its_section() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out_dir = dir.path().join("bench");
    let markdown = dir.path().join("BENCHMARKS.md");
    let hand = "# Benchmarks\n\nHand-written text that must survive, even where it names `<!-- suite:begin -->`.\n";
    std::fs::write(&markdown, hand).expect("writes");

    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_crossline-bench"))
        .args(["suite", "--quick", "--out-dir"])
        .arg(&out_dir)
        .arg("--benchmarks-md")
        .arg(&markdown)
        .arg("--dir")
        .arg(dir.path())
        .output()
        .expect("runs");
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        elapsed < Duration::from_secs(90),
        "suite --quick took {elapsed:?}"
    );

    for stem in [
        "engine-liquibook",
        "engine-xc-single",
        "engine-mm-quotes",
        "engine-mass-cancel",
        "journal",
        "echo-open-loop",
        "echo-closed-loop",
    ] {
        for extension in ["json", "hgrm"] {
            let path = out_dir.join(format!("{stem}.{extension}"));
            assert!(path.is_file(), "missing {}", path.display());
        }
        let json: serde_json::Value = serde_json::from_slice(
            &std::fs::read(out_dir.join(format!("{stem}.json"))).expect("reads"),
        )
        .expect("valid JSON");
        assert!(
            json["ops_per_sec"].as_f64().is_some_and(|rate| rate > 0.0),
            "{stem}"
        );
    }
    assert!(out_dir.join("restart.json").is_file());
    for (chart, series) in [
        ("engine.svg", &["liquibook", "xc-single", "mm-quotes"][..]),
        ("engine-mass-cancel.svg", &["mass-cancel"][..]),
        ("journal.svg", &["append"][..]),
        ("echo.svg", &["open loop", "closed loop"][..]),
    ] {
        let svg = std::fs::read_to_string(out_dir.join(chart)).expect("chart written");
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        for name in series {
            assert!(svg.contains(name), "{chart} lacks {name}");
        }
    }

    let text = std::fs::read_to_string(&markdown).expect("reads");
    assert!(text.starts_with(hand), "hand-written text changed:\n{text}");
    let begin = text.find("\n<!-- suite:begin -->\n").expect("begin marker");
    let end = text.find("\n<!-- suite:end -->").expect("end marker");
    let section = &text[begin..end];
    assert!(section.contains("**Quick run**"));
    for row in [
        "| engine-liquibook |",
        "| journal |",
        "| echo-open-loop |",
        "total, ready engine",
    ] {
        assert!(section.contains(row), "section lacks {row}");
    }
    assert!(
        section.contains("](bench/engine.svg)"),
        "charts linked relative to the markdown file"
    );
    assert_eq!(
        text.lines()
            .filter(|line| *line == "<!-- suite:begin -->")
            .count(),
        1
    );
}
