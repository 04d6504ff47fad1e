//! Per-session flow control: a token bucket (sustained rate and burst) and a penalty box. After `breaches`
//! refused messages within `window`, the session is disconnected and refused for `refuse` (Kraken publishes the
//! same rule: three rate-limit errors within five seconds). Integer arithmetic in nanoseconds, no allocation.

const NS_PER_S: u64 = 1_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateRule {
    pub per_s: u64,
    pub burst: u64,
    pub breaches: u32,
    pub window_ns: u64,
    pub refuse_ns: u64,
}

/// What to do with one inbound message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Over the rate: refuse this message.
    Refuse,
    /// Over the rate for the `breaches`-th time within the window: refuse it and disconnect.
    Disconnect,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SessionFlow {
    /// Tokens scaled by NS_PER_S, so refill is exact integer arithmetic.
    scaled_tokens: u64,
    last_refill_ns: u64,
    /// Start of the current breach window and breaches in it.
    window_start_ns: u64,
    window_breaches: u32,
    /// Logins are refused until this time.
    refused_until_ns: u64,
    started: bool,
}

impl SessionFlow {
    /// Takes one token for a message arriving at `now_ns`.
    pub fn on_message(&mut self, rule: &RateRule, now_ns: u64) -> Verdict {
        let capacity = rule.burst.saturating_mul(NS_PER_S);
        if !self.started {
            self.started = true;
            self.scaled_tokens = capacity;
            self.last_refill_ns = now_ns;
        }
        let elapsed = now_ns.saturating_sub(self.last_refill_ns);
        self.last_refill_ns = now_ns.max(self.last_refill_ns);
        self.scaled_tokens = self
            .scaled_tokens
            .saturating_add(elapsed.saturating_mul(rule.per_s))
            .min(capacity);
        if self.scaled_tokens >= NS_PER_S {
            self.scaled_tokens -= NS_PER_S;
            return Verdict::Pass;
        }
        if now_ns.saturating_sub(self.window_start_ns) > rule.window_ns || self.window_breaches == 0
        {
            self.window_start_ns = now_ns;
            self.window_breaches = 0;
        }
        self.window_breaches += 1;
        if self.window_breaches >= rule.breaches {
            self.window_breaches = 0;
            self.refused_until_ns = now_ns.saturating_add(rule.refuse_ns);
            return Verdict::Disconnect;
        }
        Verdict::Refuse
    }

    /// True while the session sits in the penalty box.
    pub fn refused(&self, now_ns: u64) -> bool {
        now_ns < self.refused_until_ns
    }

    /// A new login starts with a full bucket.
    pub fn reset_bucket(&mut self) {
        self.started = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: RateRule = RateRule {
        per_s: 10,
        burst: 5,
        breaches: 3,
        window_ns: 5 * NS_PER_S,
        refuse_ns: 10 * NS_PER_S,
    };

    #[test]
    fn burst_then_sustained_rate() {
        let mut flow = SessionFlow::default();
        let t0 = 1_000 * NS_PER_S;
        for _ in 0..5 {
            assert_eq!(flow.on_message(&RULE, t0), Verdict::Pass);
        }
        assert_eq!(flow.on_message(&RULE, t0), Verdict::Refuse);
        // 100 ms later one token (10 per second) is back.
        assert_eq!(flow.on_message(&RULE, t0 + NS_PER_S / 10), Verdict::Pass);
        assert_eq!(flow.on_message(&RULE, t0 + NS_PER_S / 10), Verdict::Refuse);
    }

    #[test]
    fn third_breach_in_window_disconnects_and_refuses() {
        let mut flow = SessionFlow::default();
        let t0 = 1_000 * NS_PER_S;
        for _ in 0..5 {
            flow.on_message(&RULE, t0);
        }
        assert_eq!(flow.on_message(&RULE, t0), Verdict::Refuse);
        assert_eq!(flow.on_message(&RULE, t0 + 1), Verdict::Refuse);
        assert_eq!(flow.on_message(&RULE, t0 + 2), Verdict::Disconnect);
        assert!(flow.refused(t0 + 9 * NS_PER_S));
        assert!(!flow.refused(t0 + 11 * NS_PER_S));
    }

    #[test]
    fn breaches_outside_the_window_do_not_add_up() {
        let mut flow = SessionFlow::default();
        let mut now = 1_000 * NS_PER_S;
        for _ in 0..5 {
            flow.on_message(&RULE, now);
        }
        for _ in 0..4 {
            assert_eq!(flow.on_message(&RULE, now), Verdict::Refuse);
            // Six seconds later: a new window, and the bucket is full again: drain it.
            now += 6 * NS_PER_S;
            for _ in 0..5 {
                assert_eq!(flow.on_message(&RULE, now), Verdict::Pass);
            }
        }
    }
}
