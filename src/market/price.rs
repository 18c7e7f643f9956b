//! Fundamental price processes: geometric Brownian motion with Poisson jumps, or a replayed series.

use rand::RngExt;
use rand_distr::{Poisson, StandardNormal};

use crate::config::PriceModelSpec;
use crate::core::rng::SimRng;
use crate::core::{NANOS_PER_SEC, SimTime};

const SECONDS_PER_YEAR: f64 = 365.25 * 86_400.0;

/// The "true" price every venue derives its quotes from. Quote units per whole base unit.
pub struct Fundamental {
    model: PriceModelSpec,
    dt_years: f64,
    drift_term: f64,
    diffusion: f64,
    jumps: Option<Poisson<f64>>,
    jump_sigma: f64,
    price: f64,
    replay_idx: usize,
    /// Ring of past prices, one per tick, so a lagging venue can quote the past.
    history: Vec<f64>,
    head: usize,
    ticks: u64,
}

impl Fundamental {
    pub fn new(model: PriceModelSpec, tick: SimTime, max_lag: SimTime) -> Self {
        let dt_years = tick as f64 / NANOS_PER_SEC as f64 / SECONDS_PER_YEAR;
        let (price, drift_term, diffusion, jumps, jump_sigma) = match &model {
            PriceModelSpec::Gbm { start, vol_annual, drift_annual, jump_rate_per_day, jump_sigma } => {
                let lambda = jump_rate_per_day * (tick as f64 / NANOS_PER_SEC as f64) / 86_400.0;
                (
                    *start,
                    (drift_annual - 0.5 * vol_annual * vol_annual) * dt_years,
                    vol_annual * dt_years.sqrt(),
                    if lambda > 0.0 { Poisson::new(lambda).ok() } else { None },
                    *jump_sigma,
                )
            }
            PriceModelSpec::Replay { points } => (points[0].1, 0.0, 0.0, None, 0.0),
        };
        let slots = (max_lag / tick.max(1)) as usize + 2;
        Fundamental {
            model,
            dt_years,
            drift_term,
            diffusion,
            jumps,
            jump_sigma,
            price,
            replay_idx: 0,
            history: vec![price; slots],
            head: 0,
            ticks: 0,
        }
    }

    pub fn price(&self) -> f64 {
        self.price
    }

    /// Price `lag_ticks` ticks ago (clamped to the oldest kept).
    pub fn lagged(&self, lag_ticks: usize) -> f64 {
        let n = self.history.len();
        let lag = lag_ticks.min(n - 1).min(self.ticks as usize);
        self.history[(self.head + n - lag) % n]
    }

    /// Advances one tick to time `now`.
    pub fn step(&mut self, now: SimTime, rng: &mut SimRng) {
        match &self.model {
            PriceModelSpec::Gbm { .. } => {
                let z: f64 = rng.sample(StandardNormal);
                let mut log_ret = self.drift_term + self.diffusion * z;
                if let Some(j) = &self.jumps {
                    let k: f64 = rng.sample(j);
                    for _ in 0..k as u32 {
                        let jz: f64 = rng.sample(StandardNormal);
                        log_ret += self.jump_sigma * jz;
                    }
                }
                self.price *= log_ret.exp();
            }
            PriceModelSpec::Replay { points } => {
                while self.replay_idx + 1 < points.len() && points[self.replay_idx + 1].0 <= now {
                    self.replay_idx += 1;
                }
                let (t0, p0) = points[self.replay_idx];
                self.price = match points.get(self.replay_idx + 1) {
                    Some(&(t1, p1)) => p0 + (p1 - p0) * (now - t0) as f64 / (t1 - t0) as f64,
                    None => p0,
                };
            }
        }
        let _ = self.dt_years;
        self.ticks += 1;
        self.head = (self.head + 1) % self.history.len();
        self.history[self.head] = self.price;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::rng::component_rng;

    #[test]
    fn gbm_volatility_matches_configuration() {
        let tick = NANOS_PER_SEC;
        let mut f = Fundamental::new(
            PriceModelSpec::Gbm {
                start: 3000.0,
                vol_annual: 0.8,
                drift_annual: 0.0,
                jump_rate_per_day: 0.0,
                jump_sigma: 0.0,
            },
            tick,
            0,
        );
        let mut rng = component_rng(3, "fundamental");
        let mut rets = Vec::new();
        let mut last = f.price();
        for i in 0..200_000u64 {
            f.step(i * tick, &mut rng);
            rets.push((f.price() / last).ln());
            last = f.price();
        }
        let mean = rets.iter().sum::<f64>() / rets.len() as f64;
        let var = rets.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (rets.len() - 1) as f64;
        let annual = (var * SECONDS_PER_YEAR).sqrt();
        assert!((annual - 0.8).abs() < 0.02, "annualised vol {annual}");
    }

    #[test]
    fn replay_interpolates_and_lag_looks_back() {
        let mut f = Fundamental::new(
            PriceModelSpec::Replay { points: vec![(0, 100.0), (10 * NANOS_PER_SEC, 200.0)] },
            NANOS_PER_SEC,
            3 * NANOS_PER_SEC,
        );
        let mut rng = component_rng(1, "x");
        for s in 1..=5u64 {
            f.step(s * NANOS_PER_SEC, &mut rng);
        }
        assert!((f.price() - 150.0).abs() < 1e-9);
        assert!((f.lagged(2) - 130.0).abs() < 1e-9);
    }
}
