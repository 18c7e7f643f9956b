//! Latency models: how long a message (order, quote) takes between us and a venue.

use rand::RngExt;
use rand_distr::StandardNormal;

use crate::config::LatencySpec;
use crate::core::SimTime;
use crate::core::rng::SimRng;

pub trait LatencyModel {
    fn sample(&self, rng: &mut SimRng) -> SimTime;
}

impl LatencyModel for LatencySpec {
    #[inline]
    fn sample(&self, rng: &mut SimRng) -> SimTime {
        match *self {
            LatencySpec::Constant { nanos } => nanos,
            LatencySpec::LogNormal { median_ns, sigma } => {
                let z: f64 = rng.sample(StandardNormal);
                (median_ns * (sigma * z).exp()).round() as SimTime
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::rng::component_rng;

    #[test]
    fn lognormal_median_is_the_configured_median() {
        let m = LatencySpec::LogNormal { median_ns: 3e6, sigma: 0.4 };
        let mut rng = component_rng(1, "t");
        let mut v: Vec<u64> = (0..10_001).map(|_| m.sample(&mut rng)).collect();
        v.sort_unstable();
        let med = v[5000] as f64;
        assert!((med / 3e6 - 1.0).abs() < 0.03, "median {med}");
    }
}
