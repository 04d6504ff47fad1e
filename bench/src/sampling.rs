//! Which operations of a measured run are timed one by one. Timing every operation would add two fenced counter
//! reads (tens of nanoseconds) to operations that take tens of nanoseconds, so a run times about one in N. The
//! positions are drawn before the run with random gaps (uniform in 1..=2N-1, mean N) rather than every N-th
//! operation, because a fixed stride can lock onto a periodic flow (liquibook alternates buy and sell: every
//! 16th order is always a buy) and report one kind of operation as the whole.

use crate::rng::Rng;

/// Sorted positions (indices into the measured commands) to time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamplePlan {
    pub every: u32,
    pub positions: Vec<u32>,
}

impl SamplePlan {
    /// `every == 0` times nothing; `every == 1` times every operation.
    pub fn new(op_count: usize, every: u32, rng: &mut Rng) -> SamplePlan {
        assert!(
            op_count <= u32::MAX as usize,
            "a measured round holds at most 2^32 - 1 commands"
        );
        let mut positions = Vec::new();
        if every == 1 {
            positions.extend(0..op_count as u32);
        } else if every > 1 {
            positions.reserve(op_count / every as usize + 1);
            // Start somewhere in the first gap, so the first operation is not always the one timed.
            let mut position = rng.below(u64::from(every)) as usize;
            while position < op_count {
                positions.push(position as u32);
                position += rng.range_u64(1, 2 * u64::from(every) - 1) as usize;
            }
        }
        debug_assert!(positions.windows(2).all(|pair| pair[0] < pair[1]));
        SamplePlan { every, positions }
    }

    pub fn len(&self) -> usize {
        self.positions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// How the report names the sampling.
    pub fn describe(&self) -> String {
        describe_sampling(self.every)
    }
}

/// How a report names sampling one op in `every`.
pub fn describe_sampling(every: u32) -> String {
    match every {
        0 => "not sampled".to_string(),
        1 => "every op timed".to_string(),
        every => format!("sampled 1 in {every} (random gaps)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_have_the_asked_density() {
        let mut rng = Rng::new(5);
        let plan = SamplePlan::new(160_000, 16, &mut rng);
        assert!(plan.len().abs_diff(10_000) < 400, "{} samples", plan.len());
        assert!(plan.positions.iter().all(|&p| p < 160_000));
        assert_eq!(
            SamplePlan::new(100, 1, &mut rng).positions,
            (0..100).collect::<Vec<u32>>()
        );
        assert!(SamplePlan::new(100, 0, &mut rng).is_empty());
    }

    #[test]
    fn random_gaps_sample_both_parities() {
        let mut rng = Rng::new(6);
        let plan = SamplePlan::new(10_000, 16, &mut rng);
        let odd = plan.positions.iter().filter(|&&p| p % 2 == 1).count();
        assert!(odd > plan.len() / 3 && odd < plan.len() * 2 / 3);
    }
}
