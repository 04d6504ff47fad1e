//! `crossline tune check | plan | apply` against fixture trees of /proc and /sys (tests/fixtures/tune/), through
//! the real binary, so nothing depends on the host the tests run on.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tune")
        .join(name)
}

fn crossline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crossline"))
        .args(args)
        .output()
        .expect("running crossline")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `tune check --json` on a fixture: the exit code and the findings by id.
fn check(root: &Path, config: Option<&Path>) -> (i32, BTreeMap<String, Value>) {
    let root = root.to_str().expect("utf-8 path");
    let mut args = vec!["tune", "check", "--json", "--root", root];
    let config_str;
    if let Some(config) = config {
        config_str = config.to_str().expect("utf-8 path").to_string();
        args.extend(["--config", config_str.as_str()]);
    }
    let output = crossline(&args);
    let findings: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "--json output does not parse ({e}): {}\n{}",
            stdout(&output),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let mut by_id = BTreeMap::new();
    for f in findings {
        for key in ["id", "status", "detail", "fix"] {
            assert!(f.get(key).is_some(), "finding without {key}: {f}");
        }
        let id = f["id"].as_str().expect("id is a string").to_string();
        assert!(by_id.insert(id.clone(), f).is_none(), "{id} reported twice");
    }
    (output.status.code().expect("exit code"), by_id)
}

fn status(findings: &BTreeMap<String, Value>, id: &str) -> String {
    findings
        .get(id)
        .unwrap_or_else(|| panic!("no finding {id}"))["status"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn text(findings: &BTreeMap<String, Value>, id: &str, key: &str) -> String {
    findings[id][key].as_str().unwrap_or_default().to_string()
}

fn spinning_config() -> PathBuf {
    fixture("spinning.toml")
}

const ALL_IDS: [&str; 22] = [
    "cpu.cores",
    "cpu.isolcpus",
    "cpu.nohz_full",
    "cpu.rcu_nocbs",
    "cpu.smt",
    "cpu.governor",
    "cpu.idle",
    "cpu.haltpoll",
    "mem.thp",
    "mem.hugepages",
    "mem.swap",
    "vm.swappiness",
    "mem.damon",
    "irq.irqbalance",
    "irq.nic_affinity",
    "nic.coalescing",
    "net.busy_poll",
    "net.busy_read",
    "clock.source",
    "limits.memlock",
    "io_uring",
    "journal.fs",
];

fn assert_statuses(findings: &BTreeMap<String, Value>, expected: &[(&str, &str)]) {
    let ids: Vec<&str> = findings.keys().map(String::as_str).collect();
    let mut all = ALL_IDS.to_vec();
    all.sort_unstable();
    assert_eq!(ids, all);
    for (id, want) in expected {
        assert_eq!(
            &status(findings, id),
            want,
            "{id}: {}",
            text(findings, id, "detail")
        );
    }
}

#[test]
fn a_well_tuned_host_is_ready() {
    let (code, findings) = check(&fixture("well-tuned"), Some(&spinning_config()));
    for id in ALL_IDS {
        let want = if id == "nic.coalescing" {
            "skip"
        } else {
            "pass"
        };
        assert_eq!(
            status(&findings, id),
            want,
            "{id}: {}",
            text(&findings, id, "detail")
        );
        if want == "pass" {
            assert!(findings[id]["fix"].is_null(), "{id} passes with a fix");
        }
    }
    assert_eq!(code, 0);
    assert!(text(&findings, "cpu.smt", "detail").contains("isolated and idle"));
    assert!(text(&findings, "journal.fs", "detail").contains("xfs"));
}

#[test]
fn a_default_host_with_the_default_layout_warns() {
    let (code, findings) = check(&fixture("default"), None);
    assert_statuses(
        &findings,
        &[
            ("cpu.cores", "pass"),
            ("cpu.isolcpus", "pass"),
            ("cpu.nohz_full", "pass"),
            ("cpu.rcu_nocbs", "pass"),
            ("cpu.smt", "pass"),
            ("cpu.governor", "warn"),
            ("cpu.idle", "warn"),
            ("cpu.haltpoll", "pass"),
            ("mem.thp", "warn"),
            ("mem.hugepages", "pass"),
            ("mem.swap", "warn"),
            ("vm.swappiness", "warn"),
            ("mem.damon", "warn"),
            ("irq.irqbalance", "warn"),
            ("irq.nic_affinity", "pass"),
            ("nic.coalescing", "skip"),
            ("net.busy_poll", "warn"),
            ("net.busy_read", "warn"),
            ("clock.source", "pass"),
            ("limits.memlock", "warn"),
            ("io_uring", "pass"),
            ("journal.fs", "pass"),
        ],
    );
    assert_eq!(code, 1);
    // The default layout pins nothing (the gateway floats, the engine runs in its loop): no core to keep the NIC's
    // interrupts off.
    assert!(text(&findings, "irq.nic_affinity", "detail").contains("no thread is pinned"));
    assert!(text(&findings, "irq.irqbalance", "detail").contains("pid 812"));
    assert!(text(&findings, "cpu.idle", "detail").contains("cpu 0 C6 (exit 133 µs)"));
    assert!(text(&findings, "mem.thp", "fix")
        .contains("echo never > /sys/kernel/mm/transparent_hugepage/enabled"));
    assert!(text(&findings, "vm.swappiness", "fix").contains("sysctl -w vm.swappiness=1"));
    assert!(text(&findings, "net.busy_poll", "fix").contains("sysctl -w net.core.busy_poll=50"));
    assert!(text(&findings, "mem.damon", "detail").contains("kdamond.0"));
    assert!(text(&findings, "mem.damon", "fix")
        .contains("echo off > /sys/kernel/mm/damon/admin/kdamonds/0/state"));
}

#[test]
fn a_default_host_fails_a_busy_spinning_engine() {
    let (code, findings) = check(&fixture("default"), Some(&spinning_config()));
    assert_statuses(
        &findings,
        &[
            ("cpu.isolcpus", "fail"),
            ("cpu.nohz_full", "warn"),
            ("cpu.rcu_nocbs", "warn"),
            ("cpu.smt", "warn"),
            ("irq.nic_affinity", "fail"),
            ("journal.fs", "pass"),
        ],
    );
    assert_eq!(code, 2);
    // The fix isolates the spinning core and its SMT sibling.
    assert!(text(&findings, "cpu.isolcpus", "fix").contains("isolcpus=1,3"));
    assert!(text(&findings, "cpu.nohz_full", "fix").contains("nohz_full=1,3"));
    assert!(text(&findings, "cpu.smt", "detail").contains("sibling cpu 3 is not isolated"));
    // Housekeeping is what is left: online 0-3 minus pinned 0-1 minus the isolated 1,3.
    assert!(text(&findings, "irq.nic_affinity", "fix")
        .contains("echo 2 > /proc/irq/N/smp_affinity_list"));
}

#[test]
fn a_broken_host_fails_and_names_what_it_could_not_read() {
    let (code, findings) = check(&fixture("broken"), Some(&spinning_config()));
    assert_statuses(
        &findings,
        &[
            ("cpu.cores", "pass"),
            ("cpu.isolcpus", "pass"),
            ("cpu.nohz_full", "warn"),
            ("cpu.rcu_nocbs", "warn"),
            ("cpu.smt", "warn"),
            ("cpu.governor", "warn"),
            ("cpu.idle", "warn"),
            ("mem.thp", "warn"),
            ("mem.hugepages", "warn"),
            ("mem.swap", "warn"),
            ("vm.swappiness", "warn"),
            ("mem.damon", "warn"),
            ("irq.irqbalance", "warn"),
            ("irq.nic_affinity", "fail"),
            ("nic.coalescing", "skip"),
            ("net.busy_poll", "warn"),
            ("net.busy_read", "warn"),
            ("clock.source", "fail"),
            ("limits.memlock", "fail"),
            ("io_uring", "warn"),
            ("journal.fs", "warn"),
        ],
    );
    assert_eq!(code, 2);
    // Missing and unreadable files are findings that name their path, not panics.
    assert!(
        text(&findings, "mem.thp", "detail").contains("sys/kernel/mm/transparent_hugepage/enabled")
    );
    assert!(text(&findings, "mem.hugepages", "detail").contains("proc/meminfo"));
    assert!(text(&findings, "cpu.governor", "detail").contains("cpufreq/scaling_governor"));
    assert!(text(&findings, "net.busy_poll", "detail").contains("\"abc\", not a number"));
    assert!(text(&findings, "irq.nic_affinity", "detail").contains("irq 40 eth0-TxRx-0 on cpu 1"));
    assert!(text(&findings, "clock.source", "detail").contains("hpet"));
    assert!(text(&findings, "clock.source", "fix").contains("does not offer tsc"));
    assert!(text(&findings, "limits.memlock", "detail").contains("32 KiB"));
    assert!(text(&findings, "io_uring", "detail").contains("kernel.io_uring_disabled = 2"));
    assert!(text(&findings, "journal.fs", "detail").contains("tmpfs"));
    assert!(text(&findings, "mem.swap", "detail").contains("/dev/sda2"));
    assert!(text(&findings, "mem.damon", "detail").contains("kdamonds/nr_kdamonds"));
}

#[test]
fn a_pinned_core_that_does_not_exist_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("crossline.toml");
    std::fs::write(
        &config,
        "[cores]\nengine = { core = 7, idle = \"busy-spin\" }\n[unknown]\nkey = 1\n",
    )
    .expect("writing the config");
    let (code, findings) = check(&fixture("well-tuned"), Some(&config));
    assert_eq!(status(&findings, "cpu.cores"), "fail");
    assert!(text(&findings, "cpu.cores", "detail").contains("cpu 7 (engine) not online"));
    assert_eq!(code, 2);
}

#[test]
fn a_bad_config_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("crossline.toml");
    std::fs::write(&config, "[cores]\nengine = { core = 1, idle = \"nap\" }\n").expect("write");
    let output = crossline(&[
        "tune",
        "check",
        "--root",
        fixture("well-tuned").to_str().unwrap_or_default(),
        "--config",
        config.to_str().unwrap_or_default(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("error: parsing"), "{stderr}");
}

#[test]
fn the_text_report_has_fixes_and_a_verdict() {
    let output = crossline(&[
        "tune",
        "check",
        "--root",
        fixture("default").to_str().unwrap_or_default(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let out = stdout(&output);
    assert!(out.contains("WARN  mem.thp"), "{out}");
    assert!(out.contains("fix: swapoff -a"), "{out}");
    assert!(
        out.contains("11 pass, 10 warn, 0 fail, 1 skipped: runs, with warnings"),
        "{out}"
    );
}

#[test]
fn check_on_this_host_reports_without_panicking() {
    let output = crossline(&["tune", "check", "--json"]);
    let code = output.status.code().expect("exit code");
    assert!((0..=2).contains(&code), "exit code {code}");
    let findings: Vec<Value> = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(findings.len(), ALL_IDS.len());
}

/// `tune plan` on a fixture: the whole output and the `[cores]` section parsed.
fn plan(root: &Path) -> (String, toml::Table) {
    let output = crossline(&["tune", "plan", "--root", root.to_str().unwrap_or_default()]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out = stdout(&output);
    let section: String = out
        .lines()
        .skip_while(|l| *l != "[cores]")
        .take_while(|l| !l.is_empty())
        .map(|l| format!("{l}\n"))
        .collect();
    let table: toml::Table = toml::from_str(&section).expect("the [cores] section parses");
    let cores = table["cores"].as_table().expect("[cores]").clone();
    (out, cores)
}

fn placement(cores: &toml::Table, thread: &str) -> (Option<i64>, String) {
    let entry = cores[thread].as_table().expect("an inline table");
    (
        entry.get("core").and_then(|c| c.as_integer()),
        entry
            .get("idle")
            .and_then(|idle| idle.as_str())
            .unwrap_or_default()
            .to_string(),
    )
}

#[test]
fn plan_on_two_cpus_spins_nowhere() {
    let (out, cores) = plan(&fixture("plan-2cpu"));
    assert_eq!(
        placement(&cores, "gateway"),
        (None, "spin-then-yield".into())
    );
    // No core to spare for the engine: it runs in the gateway's loop.
    assert_eq!(placement(&cores, "engine"), (None, String::new()));
    assert_eq!(cores["engine"]["thread"].as_str(), Some("gateway"));
    assert_eq!(placement(&cores, "admin"), (None, "backoff-park".into()));
    assert!(
        out.contains("# kernel command line: nothing to isolate"),
        "{out}"
    );
    assert!(!out.contains("isolcpus="), "{out}");
}

#[test]
fn plan_on_sixteen_cpus_with_smt_leaves_siblings_idle() {
    let (out, cores) = plan(&fixture("plan-16smt"));
    assert!(
        out.contains("16 CPUs online (0-15), 8 physical cores (2 threads each), 1 NUMA node"),
        "{out}"
    );
    // Housekeeping keeps cpu 0 and its sibling 8; the engine and the gateway take the next two physical
    // cores, whose siblings (9, 10) stay idle.
    assert_eq!(placement(&cores, "engine"), (Some(1), "busy-spin".into()));
    assert_eq!(placement(&cores, "gateway"), (Some(2), "busy-spin".into()));
    assert_eq!(placement(&cores, "admin"), (None, "backoff-park".into()));
    assert!(out.contains("sibling 9 left idle"), "{out}");
    assert!(
        out.contains(
            "isolcpus=1-2,9-10 nohz_full=1-2,9-10 rcu_nocbs=1-2,9-10 irqaffinity=0,3-8,11-15"
        ),
        "{out}"
    );
}

#[test]
fn plan_on_two_numa_nodes_follows_the_nic() {
    let (out, cores) = plan(&fixture("plan-numa"));
    assert!(out.contains("# eth0 is on NUMA node 1"), "{out}");
    assert_eq!(placement(&cores, "engine"), (Some(4), "busy-spin".into()));
    assert_eq!(placement(&cores, "gateway"), (Some(5), "busy-spin".into()));
    assert!(
        out.contains("isolcpus=4-5 nohz_full=4-5 rcu_nocbs=4-5 irqaffinity=0-3,6-7"),
        "{out}"
    );
}

#[test]
fn plan_on_two_numa_nodes_without_nic_locality_uses_node_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&fixture("plan-numa"), dir.path());
    std::fs::remove_file(dir.path().join("sys/class/net/eth0/device/numa_node")).expect("rm");
    let (out, cores) = plan(dir.path());
    assert!(out.contains("NIC locality unknown: node 0"), "{out}");
    assert_eq!(placement(&cores, "engine"), (Some(1), "busy-spin".into()));
    assert_eq!(placement(&cores, "gateway"), (Some(2), "busy-spin".into()));
    assert!(
        out.contains("isolcpus=1-2 nohz_full=1-2 rcu_nocbs=1-2 irqaffinity=0,3-7"),
        "{out}"
    );
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[test]
fn apply_dry_run_prints_the_commands_and_the_reboot_arguments() {
    let root = fixture("default");
    let root_str = root.to_str().unwrap_or_default();
    let config = spinning_config();
    let output = crossline(&[
        "tune",
        "apply",
        "--dry-run",
        "--root",
        root_str,
        "--config",
        config.to_str().unwrap_or_default(),
    ]);
    assert_eq!(output.status.code(), Some(0));
    let out = stdout(&output);
    for line in [
        format!(
            "echo performance > {root_str}/sys/devices/system/cpu/cpu3/cpufreq/scaling_governor"
        ),
        format!("echo 1 > {root_str}/sys/devices/system/cpu/cpu1/cpuidle/state2/disable"),
        format!("echo never > {root_str}/sys/kernel/mm/transparent_hugepage/enabled"),
        format!("echo 1 > {root_str}/proc/sys/vm/swappiness"),
        format!("echo 50 > {root_str}/proc/sys/net/core/busy_poll"),
        format!("echo 50 > {root_str}/proc/sys/net/core/busy_read"),
        format!("echo 2 > {root_str}/proc/irq/40/smp_affinity_list"),
        format!("echo off > {root_str}/sys/kernel/mm/damon/admin/kdamonds/0/state"),
        "systemctl disable --now irqbalance".to_string(),
        "isolcpus=1,3 nohz_full=1,3 rcu_nocbs=1,3 irqaffinity=2".to_string(),
    ] {
        assert!(out.contains(&line), "missing {line:?} in\n{out}");
    }
    // The dry run changed nothing.
    let (_, findings) = check(&root, Some(&config));
    assert_eq!(status(&findings, "mem.thp"), "warn");
}

#[test]
fn apply_on_a_well_tuned_host_has_nothing_to_do() {
    let output = crossline(&[
        "tune",
        "apply",
        "--dry-run",
        "--root",
        fixture("well-tuned").to_str().unwrap_or_default(),
        "--config",
        spinning_config().to_str().unwrap_or_default(),
    ]);
    assert_eq!(output.status.code(), Some(0));
    let out = stdout(&output);
    assert!(
        out.contains("# runtime settings: nothing to change"),
        "{out}"
    );
    assert!(!out.contains("needs reboot"), "{out}");
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[test]
fn apply_writes_the_runtime_settings_as_root_and_refuses_otherwise() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&fixture("default"), dir.path());
    let config = spinning_config();
    let args = [
        "tune",
        "apply",
        "--root",
        dir.path().to_str().unwrap_or_default(),
        "--config",
        config.to_str().unwrap_or_default(),
    ];
    let output = crossline(&args);
    if !is_root() {
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("must run as root"), "{stderr}");
        return;
    }
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    let out = stdout(&output);
    assert!(
        out.contains("changed  transparent huge pages: always -> never"),
        "{out}"
    );
    assert!(
        out.contains("changed  irq 40 (eth0-TxRx-0) affinity: 0-3 -> 2"),
        "{out}"
    );
    let (_, findings) = check(dir.path(), Some(&config));
    for id in [
        "cpu.governor",
        "cpu.idle",
        "mem.thp",
        "vm.swappiness",
        "mem.damon",
        "irq.nic_affinity",
        "net.busy_poll",
    ] {
        assert_eq!(
            status(&findings, id),
            "pass",
            "{id}: {}",
            text(&findings, id, "detail")
        );
    }
    // The kernel command line and the services are left to the operator.
    assert_eq!(status(&findings, "cpu.isolcpus"), "fail");
    assert_eq!(status(&findings, "irq.irqbalance"), "warn");
}

#[test]
fn a_guest_that_halts_at_once_is_told_to_poll_first_and_apply_sets_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(&fixture("default"), dir.path());
    let root_str = dir.path().to_str().expect("utf-8 path").to_string();
    let driver = dir
        .path()
        .join("sys/devices/system/cpu/cpuidle/current_driver");
    std::fs::write(&driver, "haltpoll\n").expect("driver");
    let parameters = dir.path().join("sys/module/haltpoll/parameters");
    std::fs::create_dir_all(&parameters).expect("mkdir");
    let poll = parameters.join("guest_halt_poll_ns");

    // The driver is in use but its parameter is missing: a warning that names the file.
    let (_, findings) = check(dir.path(), None);
    assert_eq!(status(&findings, "cpu.haltpoll"), "warn");
    assert!(text(&findings, "cpu.haltpoll", "detail").contains("guest_halt_poll_ns"));

    std::fs::write(&poll, "0\n").expect("poll");
    let (_, findings) = check(dir.path(), None);
    assert_eq!(status(&findings, "cpu.haltpoll"), "warn");
    assert!(text(&findings, "cpu.haltpoll", "detail").contains("guest_halt_poll_ns = 0"));
    assert!(text(&findings, "cpu.haltpoll", "fix")
        .contains("echo 200000 > /sys/module/haltpoll/parameters/guest_halt_poll_ns"));
    let output = crossline(&["tune", "apply", "--dry-run", "--root", &root_str]);
    assert_eq!(output.status.code(), Some(0));
    let out = stdout(&output);
    let line =
        format!("echo 200000 > {root_str}/sys/module/haltpoll/parameters/guest_halt_poll_ns");
    assert!(out.contains(&line), "missing {line:?} in\n{out}");

    std::fs::write(&poll, "200000\n").expect("poll");
    let (_, findings) = check(dir.path(), None);
    assert_eq!(status(&findings, "cpu.haltpoll"), "pass");
    assert!(findings["cpu.haltpoll"]["fix"].is_null());
    let output = crossline(&["tune", "apply", "--dry-run", "--root", &root_str]);
    assert!(
        !stdout(&output).contains("guest_halt_poll_ns"),
        "{}",
        stdout(&output)
    );
}
