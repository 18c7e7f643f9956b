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

/// Latency samples (ns) summarised in constant memory: an HDR histogram with three significant
/// digits (every reported percentile within 0.1 % of the exact one), so a run of any length keeps
/// the same ~300 kB where a list of every quote's latency grew ~1 MB per simulated hour.
#[derive(Clone, Debug)]
pub struct LatencySketch {
    hist: hdrhistogram::Histogram<u64>,
}

impl Default for LatencySketch {
    fn default() -> Self {
        // 1 ns to one day at three significant digits: ~300 kB, whatever the run's length; a
        // sample beyond a day is counted as a day.
        let hist = hdrhistogram::Histogram::new_with_bounds(1, SKETCH_MAX_NS, 3)
            .unwrap_or_else(|_| hdrhistogram::Histogram::new(3).unwrap_or_else(|_| std::process::abort()));
        LatencySketch { hist }
    }
}

const SKETCH_MAX_NS: u64 = 86_400_000_000_000;

impl LatencySketch {
    pub fn record(&mut self, ns: SimTime) {
        self.hist.saturating_record(ns.max(1));
    }
    pub fn count(&self) -> u64 {
        self.hist.len()
    }
    /// The value at quantile `q` (0–1]: the highest value equivalent to the nearest-rank sample.
    pub fn quantile(&self, q: f64) -> SimTime {
        if self.hist.is_empty() { 0 } else { self.hist.value_at_quantile(q) }
    }
    pub fn mean(&self) -> f64 {
        if self.hist.is_empty() { 0.0 } else { self.hist.mean() }
    }
    pub fn max(&self) -> SimTime {
        if self.hist.is_empty() { 0 } else { self.hist.max() }
    }
    /// The recorded buckets as (highest equivalent value, count): enough to rebuild the same
    /// sketch (a journal stores it this way).
    pub fn buckets(&self) -> Vec<(u64, u64)> {
        self.hist.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect()
    }
    pub fn from_buckets(buckets: &[(u64, u64)]) -> Self {
        let mut s = LatencySketch::default();
        for &(v, n) in buckets {
            // Saturating: a bucket's top value records into the same bucket.
            let _ = s.hist.record_n(v.max(1), n);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::rng::component_rng;

    #[test]
    fn sketch_percentiles_are_within_a_tenth_of_a_percent_of_the_exact_ones() {
        let m = LatencySpec::LogNormal { median_ns: 3e6, sigma: 0.8 };
        let mut rng = component_rng(2, "t");
        let mut v: Vec<u64> = (0..100_000).map(|_| m.sample(&mut rng)).collect();
        let mut s = LatencySketch::default();
        v.iter().for_each(|x| s.record(*x));
        v.sort_unstable();
        for q in [0.5, 0.9, 0.99] {
            let exact = v[(q * v.len() as f64).ceil() as usize - 1] as f64;
            let got = s.quantile(q) as f64;
            assert!((got / exact - 1.0).abs() <= 1e-3, "q {q}: {got} vs {exact}");
        }
        assert_eq!(s.count(), 100_000);
        assert!((s.max() as f64 / *v.last().unwrap() as f64 - 1.0).abs() <= 1e-3);
    }

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
