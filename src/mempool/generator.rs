//! Victim swaps for backtests: arrivals and sizes from the calibrated distributions (or the exact
//! fixture list), turned into limits against the pool as the victim's wallet would quote it.

use alloy_primitives::U256;
use rand::RngExt;
use rand_distr::{Distribution, Exp, StandardNormal};

use super::decode::{SwapLimit, SwapMethod};
use crate::config::MempoolSpec;
use crate::core::rng::SimRng;
use crate::core::{NANOS_PER_SEC, SimTime};
use crate::market::amm::{get_amount_in, get_amount_out};

/// What a victim wants, before it sees the pool: size in quote units, direction, exact-in or out,
/// tolerance and tip.
#[derive(Clone, Debug, PartialEq)]
pub struct Intent {
    pub at: SimTime,
    pub pool: usize,
    pub sells_base: bool,
    pub exact_out: bool,
    pub size_quote: f64,
    pub slippage_bps: u32,
    pub priority_fee_wei: u128,
}

/// Arrival times and intents over `[0, duration)`, from the component's own seeded stream.
pub fn intents(spec: &MempoolSpec, pools: usize, duration: SimTime, rng: &mut SimRng) -> Vec<Intent> {
    let mut out = Vec::new();
    if spec.victims_per_minute <= 0.0 || pools == 0 {
        return out;
    }
    let Ok(gap) = Exp::new(spec.victims_per_minute / 60.0) else { return out };
    let mut t = 0f64;
    loop {
        t += gap.sample(rng);
        let at = (t * NANOS_PER_SEC as f64) as SimTime;
        if at >= duration {
            return out;
        }
        let z: f64 = rng.sample(StandardNormal);
        let fee_z: f64 = rng.sample(StandardNormal);
        let pick: f64 = rng.random();
        let mut acc = 0.0;
        let slippage_bps = spec
            .slippage
            .iter()
            .find(|(_, w)| {
                acc += w;
                pick < acc
            })
            .or(spec.slippage.last())
            .map(|(b, _)| *b)
            .unwrap_or(50);
        out.push(Intent {
            at,
            pool: rng.random_range(0..pools),
            sells_base: rng.random::<f64>() >= spec.buy_probability,
            exact_out: rng.random::<f64>() < spec.exact_out_probability,
            size_quote: spec.size_median_usd * (spec.size_sigma * z).exp(),
            slippage_bps,
            priority_fee_wei: (spec.priority_fee_median_gwei * 1e9 * (spec.priority_fee_sigma * fee_z).exp()) as u128,
        });
    }
}

/// The Router02 method and limit a wallet would send for `intent` on a pool with these reserves:
/// the quote it shows, less (exact in) or plus (exact out) the user's tolerance. `None` when the
/// size rounds to nothing or exceeds the pool.
pub fn limit_for(
    intent: &Intent,
    reserve_base: U256,
    reserve_quote: U256,
    fee_bps: u32,
    quote_decimals: u32,
) -> Option<(SwapMethod, SwapLimit)> {
    let quote_raw = U256::from((intent.size_quote * 10f64.powi(quote_decimals as i32)) as u128);
    if quote_raw.is_zero() {
        return None;
    }
    let base_raw = quote_raw * reserve_base / reserve_quote;
    let tol = U256::from(intent.slippage_bps);
    let bps = U256::from(10_000u32);
    let (r_in, r_out) = if intent.sells_base { (reserve_base, reserve_quote) } else { (reserve_quote, reserve_base) };
    let (size_in, size_out) = if intent.sells_base { (base_raw, quote_raw) } else { (quote_raw, base_raw) };
    if intent.exact_out {
        let paid = get_amount_in(size_out, r_in, r_out, fee_bps).ok()?;
        let max_in = paid * (bps + tol) / bps;
        let method = if intent.sells_base { SwapMethod::EthForExactTokens } else { SwapMethod::TokensForExactEth };
        Some((method, SwapLimit::ExactOut { amount_out: size_out, max_in }))
    } else {
        let got = get_amount_out(size_in, r_in, r_out, fee_bps).ok()?;
        if got.is_zero() {
            return None;
        }
        let min_out = got * (bps - tol) / bps;
        let method = if intent.sells_base { SwapMethod::ExactEthForTokens } else { SwapMethod::ExactTokensForEth };
        Some((method, SwapLimit::ExactIn { amount_in: size_in, min_out }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::rng::component_rng;

    fn spec() -> MempoolSpec {
        MempoolSpec {
            victims_per_minute: 1.92,
            size_median_usd: 307.0,
            size_sigma: 1.88,
            buy_probability: 0.6,
            exact_out_probability: 0.25,
            slippage: vec![(10, 0.1), (50, 0.45), (100, 0.25), (300, 0.15), (500, 0.05)],
            priority_fee_median_gwei: 1.0,
            priority_fee_sigma: 0.7,
            propagation: 1_000_000_000,
            pending: vec![],
        }
    }

    #[test]
    fn generated_flow_matches_its_calibration() {
        let mut rng = component_rng(7, "mempool/victims");
        let day = 24 * 3600 * NANOS_PER_SEC;
        let v = intents(&spec(), 2, day, &mut rng);
        let per_min = v.len() as f64 / (24.0 * 60.0);
        assert!((per_min - 1.92).abs() < 0.1, "{per_min}");
        let mut sizes: Vec<f64> = v.iter().map(|i| i.size_quote).collect();
        sizes.sort_by(f64::total_cmp);
        let median = sizes[sizes.len() / 2];
        assert!((median / 307.0 - 1.0).abs() < 0.15, "{median}");
        let buys = v.iter().filter(|i| !i.sells_base).count() as f64 / v.len() as f64;
        assert!((buys - 0.6).abs() < 0.03, "{buys}");
        assert!(v.windows(2).all(|w| w[0].at <= w[1].at));
        // Same seed, same flow.
        assert_eq!(v, intents(&spec(), 2, day, &mut component_rng(7, "mempool/victims")));
    }

    #[test]
    fn limits_are_the_quote_less_the_tolerance() {
        let (rb, rq) = (U256::from(1000u128 * 10u128.pow(18)), U256::from(3_000_000u128 * 10u128.pow(6)));
        let i = Intent {
            at: 0,
            pool: 0,
            sells_base: true,
            exact_out: false,
            size_quote: 3000.0,
            slippage_bps: 50,
            priority_fee_wei: 0,
        };
        let (m, l) = limit_for(&i, rb, rq, 30, 6).unwrap();
        assert_eq!(m, SwapMethod::ExactEthForTokens);
        let SwapLimit::ExactIn { amount_in, min_out } = l else { panic!() };
        assert_eq!(amount_in, U256::from(10u128.pow(18)));
        let quote = get_amount_out(amount_in, rb, rq, 30).unwrap();
        assert_eq!(min_out, quote * U256::from(9950u32) / U256::from(10_000u32));
        let o = Intent { exact_out: true, sells_base: false, ..i };
        let (m, l) = limit_for(&o, rb, rq, 30, 6).unwrap();
        assert_eq!(m, SwapMethod::TokensForExactEth);
        let SwapLimit::ExactOut { amount_out, max_in } = l else { panic!() };
        let paid = get_amount_in(amount_out, rq, rb, 30).unwrap();
        assert_eq!(max_in, paid * U256::from(10_050u32) / U256::from(10_000u32));
    }
}
