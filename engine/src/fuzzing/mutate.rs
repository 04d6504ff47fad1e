//! A deterministic byte mutator for the fuzz targets' smoke tests. Self-contained (no crate imports) so that the
//! smoke tests of crates that do not depend on the engine can include it with `#[path]`.

/// A deterministic mutation of `input` for the smoke tests: flips, overwrites, inserts, deletions and splices,
/// driven by `seed`. Not a fuzzer, only enough to stray from the corpus a little on every run.
pub fn mutate(input: &[u8], seed: u64, max_len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut out = input.to_vec();
    let rounds = 1 + next() % 8;
    for _ in 0..rounds {
        let r = next();
        let at = if out.is_empty() {
            0
        } else {
            (next() as usize) % out.len()
        };
        match r % 6 {
            0 if !out.is_empty() => out[at] ^= 1 << (r >> 8 & 7),
            1 if !out.is_empty() => out[at] = (r >> 8) as u8,
            2 => out.insert(at.min(out.len()), (r >> 8) as u8),
            3 if !out.is_empty() => {
                let len = ((r >> 8) as usize % 16).min(out.len() - at);
                out.drain(at..at + len);
            }
            4 if !out.is_empty() => {
                // Interesting values: all ones, zero, a boundary.
                let value = [0u8, 0xFF, 0x7F, 0x80][(r >> 8) as usize % 4];
                let len = ((r >> 10) as usize % 8).min(out.len() - at);
                out[at..at + len].fill(value);
            }
            _ if !out.is_empty() => {
                let from = (r >> 8) as usize % out.len();
                let len = ((r >> 24) as usize % 32).min(out.len() - from);
                let piece = out[from..from + len].to_vec();
                let at = at.min(out.len());
                out.splice(at..at, piece);
            }
            _ => out.push((r >> 8) as u8),
        }
    }
    out.truncate(max_len);
    out
}
