//! The kernel's CPU list format (`0-3,8,10-11`), as read from sysfs and written on the kernel command line.

use std::collections::BTreeSet;

/// A set of CPU numbers.
pub type CpuSet = BTreeSet<usize>;

/// Parses `0-3,8,10-11`; blank input is the empty set. Entries the kernel allows after the list in
/// `isolcpus=` (flags such as `domain`, `managed_irq`, `nohz`) are skipped. `N-M:a/b` group syntax keeps every
/// `a`-th of each `b` CPUs. Returns None on anything else.
pub fn parse(text: &str) -> Option<CpuSet> {
    let mut set = CpuSet::new();
    let text = text.trim();
    if text.is_empty() {
        return Some(set);
    }
    for part in text.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        if part.chars().all(|c| c.is_ascii_alphabetic() || c == '_') {
            continue; // an isolcpus flag
        }
        let (range, group) = match part.split_once(':') {
            Some((range, group)) => (range, Some(group)),
            None => (part, None),
        };
        let (lo, hi) = match range.split_once('-') {
            Some((lo, hi)) => (lo.parse::<usize>().ok()?, hi.parse::<usize>().ok()?),
            None => {
                let n = range.parse::<usize>().ok()?;
                (n, n)
            }
        };
        if lo > hi || hi > 65_535 {
            return None;
        }
        let (used, size) = match group {
            Some(group) => {
                let (used, size) = group.split_once('/')?;
                (used.parse::<usize>().ok()?, size.parse::<usize>().ok()?)
            }
            None => (1, 1),
        };
        if size == 0 || used > size {
            return None;
        }
        for cpu in lo..=hi {
            if (cpu - lo) % size < used {
                set.insert(cpu);
            }
        }
    }
    Some(set)
}

/// Formats a set as the kernel does: ascending, runs collapsed (`0-3,8`). The empty set is an empty string.
pub fn format(set: &CpuSet) -> String {
    let mut parts = Vec::new();
    let mut iter = set.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let set = parse("0-3,8,10-11\n").unwrap();
        assert_eq!(
            set.iter().copied().collect::<Vec<_>>(),
            [0, 1, 2, 3, 8, 10, 11]
        );
        assert_eq!(format(&set), "0-3,8,10-11");
        assert_eq!(format(&parse("").unwrap()), "");
    }

    #[test]
    fn skips_isolcpus_flags_and_expands_groups() {
        let set = parse("managed_irq,domain,2-3").unwrap();
        assert_eq!(format(&set), "2-3");
        assert_eq!(format(&parse("0-7:2/4").unwrap()), "0-1,4-5");
    }

    #[test]
    fn refuses_garbage() {
        assert!(parse("1-x").is_none());
        assert!(parse("5-2").is_none());
    }
}
