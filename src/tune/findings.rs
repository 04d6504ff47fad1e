//! One finding of `crossline tune check`: what was looked at, how it stands, and how to fix it; and the report
//! made of them (text for people, JSON for machines, an exit code for scripts).

use serde::Serialize;

/// How a setting stands against the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Meets the profile.
    Pass,
    /// Not looked at on this host (the interface does not expose it, or the check does not apply under --root).
    Skip,
    /// Costs latency or could not be verified; the appliance runs.
    Warn,
    /// The appliance should not open on this host as it is.
    Fail,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Skip => "SKIP",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// A stable identifier, e.g. `cpu.isolcpus`.
    pub id: String,
    pub status: Status,
    /// What was found, with the paths read.
    pub detail: String,
    /// What to do about it; None when nothing needs doing.
    pub fix: Option<String>,
}

impl Finding {
    pub fn pass(id: &str, detail: impl Into<String>) -> Finding {
        Finding {
            id: id.to_string(),
            status: Status::Pass,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn skip(id: &str, detail: impl Into<String>) -> Finding {
        Finding {
            id: id.to_string(),
            status: Status::Skip,
            detail: detail.into(),
            fix: None,
        }
    }

    pub fn warn(id: &str, detail: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            id: id.to_string(),
            status: Status::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    pub fn fail(id: &str, detail: impl Into<String>, fix: impl Into<String>) -> Finding {
        Finding {
            id: id.to_string(),
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// The exit code for a set of findings: 0 ready, 1 warnings, 2 failures.
pub fn exit_code(findings: &[Finding]) -> i32 {
    match findings.iter().map(|f| f.status).max() {
        Some(Status::Fail) => 2,
        Some(Status::Warn) => 1,
        _ => 0,
    }
}

/// The findings as a JSON array of `{id, status, detail, fix}`.
pub fn to_json(findings: &[Finding]) -> String {
    serde_json::to_string_pretty(findings).unwrap_or_else(|_| "[]".to_string())
}

/// The findings as text, one block per finding, then a one-line verdict.
pub fn to_text(findings: &[Finding]) -> String {
    let mut out = String::new();
    let width = findings.iter().map(|f| f.id.len()).max().unwrap_or(0);
    for f in findings {
        out.push_str(&format!(
            "{}  {:width$}  {}\n",
            f.status.label(),
            f.id,
            f.detail
        ));
        if let Some(fix) = &f.fix {
            out.push_str(&format!("      {:width$}  fix: {}\n", "", fix));
        }
    }
    let count = |s: Status| findings.iter().filter(|f| f.status == s).count();
    let verdict = match exit_code(findings) {
        0 => "ready",
        1 => "runs, with warnings",
        _ => "not ready",
    };
    out.push_str(&format!(
        "\n{} pass, {} warn, {} fail, {} skipped: {verdict}\n",
        count(Status::Pass),
        count(Status::Warn),
        count(Status::Fail),
        count(Status::Skip)
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_code_is_the_worst_status() {
        assert_eq!(exit_code(&[]), 0);
        assert_eq!(
            exit_code(&[Finding::pass("a", ""), Finding::skip("b", "")]),
            0
        );
        assert_eq!(
            exit_code(&[Finding::pass("a", ""), Finding::warn("b", "", "")]),
            1
        );
        assert_eq!(
            exit_code(&[Finding::fail("a", "", ""), Finding::warn("b", "", "")]),
            2
        );
    }
}
