//! Performance statistics over an equity curve and latency samples. Inputs are exact integers; floats
//! appear only in the figures computed here.

use serde::Serialize;

use crate::core::NANOS_PER_SEC;

const SECONDS_PER_YEAR: f64 = 365.25 * 86_400.0;

/// The interval a run's Sharpe ratio is measured over: hourly returns for runs of hours, daily
/// returns for runs of three days or more. Annualising 12-second steps gives figures of 50–150 that
/// mean nothing to a reader used to daily Sharpe ratios.
pub fn sharpe_interval(duration_ns: u64) -> (u64, &'static str) {
    const HOUR: u64 = 3600 * NANOS_PER_SEC;
    if duration_ns >= 72 * HOUR { (24 * HOUR, "1d") } else { (HOUR, "1h") }
}

/// Fewest returns a Sharpe ratio is computed from; with fewer the report says so instead.
pub const MIN_SHARPE_RETURNS: usize = 3;

/// Annualised Sharpe ratio of the equity curve's returns over `interval_ns` (equity at each
/// interval boundary: the last sample at or before it), relative to `capital`; `None` with fewer
/// than `MIN_SHARPE_RETURNS` whole intervals. `points` are (time, equity), time-ordered.
pub fn sharpe_over(points: &[(u64, i128)], interval_ns: u64, capital: f64) -> (Option<f64>, usize) {
    let Some(&(_, first)) = points.first() else { return (None, 0) };
    let end = points.last().map(|p| p.0).unwrap_or(0);
    let mut at_boundaries = vec![first];
    let mut i = 0;
    let mut boundary = interval_ns;
    while interval_ns > 0 && boundary <= end {
        while i + 1 < points.len() && points[i + 1].0 <= boundary {
            i += 1;
        }
        at_boundaries.push(points[i].1);
        boundary += interval_ns;
    }
    let returns = at_boundaries.len() - 1;
    if returns < MIN_SHARPE_RETURNS {
        return (None, returns);
    }
    (Some(sharpe(&at_boundaries, interval_ns, capital)), returns)
}

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
    fn sharpe_is_taken_over_whole_intervals_and_refused_on_too_few() {
        let h = 3600 * NANOS_PER_SEC;
        // Samples every 12 s for 2 h: one hourly boundary short of three returns.
        let short: Vec<(u64, i128)> = (0..=600).map(|k| (k * 12 * NANOS_PER_SEC, k as i128)).collect();
        assert_eq!(sharpe_over(&short, h, 1000.0), (None, 2));
        // Hourly equity 0, 2, 3, 5, 6 (samples in between ignored): the hourly series' Sharpe.
        let hourly = [0i128, 2, 3, 5, 6];
        let mut pts = Vec::new();
        for (k, w) in hourly.windows(2).enumerate() {
            pts.push((k as u64 * h, w[0]));
            pts.push((k as u64 * h + h / 2, w[0] + 100));
        }
        pts.push((4 * h, 6));
        let (s, n) = sharpe_over(&pts, h, 100.0);
        assert_eq!(n, 4);
        assert_eq!(s, Some(sharpe(&hourly, h, 100.0)));
        assert_eq!(sharpe_interval(71 * h), (h, "1h"));
        assert_eq!(sharpe_interval(72 * h), (24 * h, "1d"));
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
