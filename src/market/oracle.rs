//! When a price oracle posts: like Chainlink's feeds, on a deviation from the last posted price
//! beyond a threshold, or when the heartbeat since the last post runs out, whichever comes first.

use crate::core::SimTime;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OracleRule {
    /// Relative move that triggers a post, in basis points (Chainlink ETH/USD: 50 = 0.5 %).
    pub deviation_bps: u32,
    /// Longest time between posts (ETH/USD: 1 h).
    pub heartbeat: SimTime,
}

/// The oracle's posting state: last posted price (8 decimals, as `getAssetPrice` returns) and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OracleFeed {
    pub rule: OracleRule,
    pub posted: u128,
    pub posted_at: SimTime,
}

impl OracleFeed {
    pub fn new(rule: OracleRule, price: u128, now: SimTime) -> Self {
        OracleFeed { rule, posted: price, posted_at: now }
    }

    /// Whether `price` observed at `now` is posted: |price − posted| ≥ deviation × posted, or the
    /// heartbeat elapsed. Integer arithmetic: the threshold is exact in basis points.
    pub fn should_post(&self, price: u128, now: SimTime) -> bool {
        let diff = price.abs_diff(self.posted);
        diff.saturating_mul(10_000) >= self.posted.saturating_mul(u128::from(self.rule.deviation_bps))
            || now.saturating_sub(self.posted_at) >= self.rule.heartbeat
    }

    /// Observes `price` at `now`; returns it when it is posted (the caller sends the update).
    pub fn observe(&mut self, price: u128, now: SimTime) -> Option<u128> {
        if self.should_post(price, now) {
            self.posted = price;
            self.posted_at = now;
            Some(price)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::NANOS_PER_SEC;

    #[test]
    fn posts_on_deviation_or_heartbeat() {
        let hour = 3600 * NANOS_PER_SEC;
        let mut f = OracleFeed::new(OracleRule { deviation_bps: 50, heartbeat: hour }, 300_000_000_000, 0);
        // 0.49 % move: no post; exactly 0.5 %: post (either direction).
        assert_eq!(f.observe(301_470_000_000, 10), None);
        assert_eq!(f.observe(298_500_000_000, 20), Some(298_500_000_000));
        assert_eq!(f.posted_at, 20);
        // Quiet market: the heartbeat posts an unchanged price an hour after the last post.
        assert_eq!(f.observe(298_500_000_000, 20 + hour - 1), None);
        assert_eq!(f.observe(298_500_000_001, 20 + hour), Some(298_500_000_001));
    }
}
