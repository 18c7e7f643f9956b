//! Performance statistics over an equity curve and latency samples. Inputs are exact integers; floats
//! appear only in the figures computed here.

use serde::Serialize;

use crate::core::NANOS_PER_SEC;

const SECONDS_PER_YEAR: f64 = 365.25 * 86_400.0;

/// Annualised Sharpe ratio of per-interval P&L relative to `capital` (same units as equity).
/// Zero when there is no variance (e.g. no trades).
pub fn sharpe(equity: &[i128], interval_ns: u64, capital: f64) -> f64 {
    if equity.len() < 3 || capital <= 0.0 || interval_ns == 0 {
        return 0.0;
    }
    let rets: Vec<f64> = equity.windows(2).map(|w| (w[1] - w[0]) as f64 / capital).collect();
    let n = rets.len() as f64;
    let mean = rets.iter().sum::<f64>() / n;
    let var = rets.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0);
    if var <= 0.0 {
        return 0.0;
    }
    let periods_per_year = SECONDS_PER_YEAR * NANOS_PER_SEC as f64 / interval_ns as f64;
    mean / var.sqrt() * periods_per_year.sqrt()
}

/// Largest peak-to-trough fall of the curve (≥ 0), in the curve's units.
pub fn max_drawdown(equity: &[i128]) -> i128 {
    let mut peak = i128::MIN;
    let mut worst = 0;
    for &e in equity {
        peak = peak.max(e);
        worst = worst.max(peak - e);
    }
    worst
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

/// Nearest-rank percentile `p` (0–100] of sorted samples; 0 when there are none.
pub fn nearest_rank(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// Nearest-rank percentiles of nanosecond samples, reported in milliseconds.
pub fn percentiles_ms(samples: &[u64]) -> Percentiles {
    if samples.is_empty() {
        return Percentiles::default();
    }
    let mut v = samples.to_vec();
    v.sort_unstable();
    let at = |p: f64| nearest_rank(&v, p) as f64 / 1e6;
    Percentiles {
        count: v.len(),
        p50: at(50.0),
        p90: at(90.0),
        p99: at(99.0),
        max: *v.last().unwrap_or(&0) as f64 / 1e6,
    }
}

/// Percentiles of a latency sketch, in milliseconds (within 0.1 % of the exact nearest rank).
pub fn sketch_percentiles_ms(s: &crate::market::latency::LatencySketch) -> Percentiles {
    let ms = |ns: u64| ns as f64 / 1e6;
    Percentiles {
        count: s.count() as usize,
        p50: ms(s.quantile(0.5)),
        p90: ms(s.quantile(0.9)),
        p99: ms(s.quantile(0.99)),
        max: ms(s.max()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawdown_is_peak_to_trough() {
        assert_eq!(max_drawdown(&[0, 10, 4, 12, 3, 8]), 9);
        assert_eq!(max_drawdown(&[0, 1, 2]), 0);
        assert_eq!(max_drawdown(&[]), 0);
    }

    #[test]
    fn sharpe_of_constant_gains_is_zero_variance_guarded() {
        assert_eq!(sharpe(&[0, 1, 2, 3], NANOS_PER_SEC, 100.0), 0.0);
        let s = sharpe(&[0, 2, 3, 5, 6, 8], NANOS_PER_SEC, 100.0);
        assert!(s > 0.0);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).map(|i| i * 1_000_000).collect();
        let p = percentiles_ms(&v);
        assert_eq!((p.p50, p.p90, p.p99, p.max, p.count), (50.0, 90.0, 99.0, 100.0, 100));
    }
}
