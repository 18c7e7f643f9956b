//! A centralized exchange venue: an L2 book republished around the (possibly lagged) fundamental with
//! spread, depth, per-refresh noise and occasional bad prints. Our orders execute against this live book.

use rand::RngExt;
use rand_distr::StandardNormal;

use crate::config::CexSpecRun;
use crate::core::rng::SimRng;
use crate::core::{BookSnapshot, Level, SimTime, VenueId};

pub struct CexVenue {
    pub id: VenueId,
    pub spec: CexSpecRun,
    /// Quote units (not raw) per tick: converts a decimal price into integer ticks.
    tick_value: f64,
    lag_ticks: usize,
    pub book: BookSnapshot,
    seq: u64,
    pub outliers_published: u64,
}

/// What strategies know of the configured venues (`[[market.cex]]`), in order, all trading `asset`.
pub fn venue_specs(cex: &[CexSpecRun], asset: crate::core::AssetId) -> Vec<crate::core::strategy::CexSpec> {
    cex.iter()
        .enumerate()
        .map(|(i, c)| crate::core::strategy::CexSpec {
            id: VenueId(i as u16),
            name: c.name.clone(),
            asset,
            taker_fee_bps: c.taker_fee_bps,
            quote_per_tick_lot: c.quote_per_tick_lot,
            lot_base_raw: c.lot_base_raw,
        })
        .collect()
}

/// What a venue's terms make of an immediate-or-cancel order.
pub fn ioc_terms(c: &CexSpecRun) -> super::orderbook::IocTerms {
    super::orderbook::IocTerms {
        quote_per_tick_lot: c.quote_per_tick_lot,
        lot_base_raw: c.lot_base_raw,
        taker_fee_bps: c.taker_fee_bps,
    }
}

impl CexVenue {
    pub fn new(id: VenueId, spec: CexSpecRun, quote_decimals: u32, tick_interval: SimTime) -> Self {
        let tick_value = spec.tick_quote_raw as f64 / 10f64.powi(quote_decimals as i32);
        let lag_ticks = (spec.lag / tick_interval.max(1)) as usize;
        CexVenue { id, spec, tick_value, lag_ticks, book: BookSnapshot::empty(id), seq: 0, outliers_published: 0 }
    }

    pub fn lag_ticks(&self) -> usize {
        self.lag_ticks
    }

    /// Rebuilds the book around `fundamental` (already lagged for this venue) and returns it.
    pub fn refresh(&mut self, now: SimTime, fundamental: f64, rng: &mut SimRng) -> &BookSnapshot {
        let s = &self.spec;
        let noise: f64 = rng.sample(StandardNormal);
        let mut mid = fundamental * (1.0 + s.noise_bps * 1e-4 * noise);
        if s.outlier_probability > 0.0 && rng.random::<f64>() < s.outlier_probability {
            let sign = if rng.random::<bool>() { 1.0 } else { -1.0 };
            mid *= 1.0 + sign * s.outlier_size_bps * 1e-4;
            self.outliers_published += 1;
        }
        let mid_ticks = mid / self.tick_value;
        let half = (mid_ticks * s.spread_bps * 0.5e-4).max(0.5);
        let best_bid = (mid_ticks - half).floor().max(1.0) as u64;
        let best_ask = ((mid_ticks + half).ceil() as u64).max(best_bid + 1);
        let step = ((mid_ticks * s.level_spacing_bps * 1e-4).round() as u64).max(1);
        let n = s.depth_levels;
        for i in 0..n {
            let bid_lots = jitter(s.level_lots, rng);
            let ask_lots = jitter(s.level_lots, rng);
            self.book.bids[i] = Level { price_ticks: best_bid.saturating_sub(i as u64 * step).max(1), lots: bid_lots };
            self.book.asks[i] = Level { price_ticks: best_ask + i as u64 * step, lots: ask_lots };
        }
        // A very low price can collapse bid levels onto tick 1; keep them strictly decreasing.
        let mut nb = n;
        for i in 1..n {
            if self.book.bids[i].price_ticks >= self.book.bids[i - 1].price_ticks {
                nb = i;
                break;
            }
        }
        self.book.n_bids = nb as u8;
        self.book.n_asks = n as u8;
        self.seq += 1;
        self.book.seq = self.seq;
        self.book.exchange_time = now;
        &self.book
    }
}

/// Level size drawn uniformly in [0.5, 1.5) × mean, at least one lot.
#[inline]
fn jitter(mean: u64, rng: &mut SimRng) -> u64 {
    let f: f64 = rng.random::<f64>() + 0.5;
    ((mean as f64 * f) as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LatencySpec;
    use crate::core::rng::component_rng;

    pub fn spec() -> CexSpecRun {
        CexSpecRun {
            name: "binance".into(),
            taker_fee_bps: 10,
            maker_fee_bps: 2,
            tick_quote_raw: 10_000,
            lot_base_raw: 100_000_000_000_000,
            quote_per_tick_lot: 1,
            spread_bps: 2.0,
            depth_levels: 10,
            level_lots: 20_000,
            level_spacing_bps: 1.0,
            refresh: 100_000_000,
            noise_bps: 0.0,
            lag: 0,
            outlier_probability: 0.0,
            outlier_size_bps: 0.0,
            latency: LatencySpec::Constant { nanos: 1 },
            feed_latency: LatencySpec::Constant { nanos: 1 },
            balance_base: 0,
            balance_quote: 0,
        }
    }

    #[test]
    fn book_is_centred_and_ordered() {
        let mut v = CexVenue::new(VenueId(0), spec(), 6, 100_000_000);
        let mut rng = component_rng(1, "cex");
        let b = *v.refresh(0, 3000.0, &mut rng);
        let (bid, ask) = (b.best_bid().unwrap().price_ticks, b.best_ask().unwrap().price_ticks);
        assert!(bid < 300_000 && ask > 300_000, "{bid} {ask}");
        assert!(ask - bid <= 62, "spread 2 bps of 300000 ticks is 60 ticks, got {}", ask - bid);
        assert!(b.bids().windows(2).all(|w| w[0].price_ticks > w[1].price_ticks));
        assert!(b.asks().windows(2).all(|w| w[0].price_ticks < w[1].price_ticks));
        assert_eq!(b.seq, 1);
    }
}
