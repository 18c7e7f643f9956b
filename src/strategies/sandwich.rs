//! The sandwich decision: for one pool, the pending victims trading in one direction, in the order a
//! builder would put them (priority fee, then arrival), the profit-maximising front-run that keeps
//! every victim within its limit (`sandwich_math`), priced net of gas and of a bribe chosen against
//! the rival-bid model, with its chance of winning the block. Pure: no I/O, no clock.

use alloy_primitives::{B256, U256};

use super::sandwich_math::{self, Pool, SandwichRun, VictimLimit};
use crate::config::SandwichSpec;
use crate::mempool::SwapLimit;

/// A decoded pending swap on one of our pools.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Victim {
    pub tx_hash: B256,
    pub pool: usize,
    /// Sells the base (WETH) for the quote; otherwise buys the base with the quote.
    pub sells_base: bool,
    pub limit: SwapLimit,
    pub priority_fee_wei: u128,
    pub arrival_seq: u64,
    /// The same sender's previous transaction, when it is still pending: a bundle may wrap this
    /// victim only with that one in it too (before it), or the chain refuses it (`NonceTooHigh`).
    pub after: Option<B256>,
}

impl Victim {
    /// A builder's order for public transactions: higher tip first, then earlier arrival.
    pub fn builder_order(a: &Victim, b: &Victim) -> std::cmp::Ordering {
        b.priority_fee_wei.cmp(&a.priority_fee_wei).then(a.arrival_seq.cmp(&b.arrival_seq))
    }
}

/// The pool and our means, as of the block the sandwich targets.
#[derive(Clone, Copy, Debug)]
pub struct Market {
    pub pool: usize,
    pub reserve_base: U256,
    pub reserve_quote: U256,
    pub fee_bps: u32,
    /// Our wallet: wrapped base, quote, native coin (pays gas and bribe).
    pub base: U256,
    pub quote: U256,
    pub native: u128,
    pub base_fee_wei: u128,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SandwichPlan {
    pub pool: usize,
    /// Direction of the victims and of our front-run.
    pub sells_base: bool,
    pub run: SandwichRun,
    /// The victims in bundle order.
    pub victims: Vec<B256>,
    /// Gross profit in wei of ETH value (in-token profit; quote converted at the pool's price).
    pub gross_wei: u128,
    pub gas_wei: u128,
    pub bribe_wei: u128,
    pub success_probability: f64,
    pub gas_limit: u64,
    /// Tip per gas on our two transactions.
    pub priority_fee_wei: u128,
}

impl SandwichPlan {
    /// Expected net in wei: gross − gas − bribe (if it lands).
    pub fn net_wei(&self) -> i128 {
        self.gross_wei as i128 - self.gas_wei as i128 - self.bribe_wei as i128
    }
}

/// Why a pool's victims were not sandwiched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SandwichSkip {
    NoVictims,
    /// Even the smallest front-run breaks a victim's limit (or no victim would succeed at all).
    LimitsTooTight,
    /// Nothing to front-run with.
    InsufficientInventory,
    /// Profit does not cover gas, bribe and the minimum.
    Unprofitable,
    /// Rivals would likely win the block at any bribe worth paying.
    LowSuccessProbability,
}

impl SandwichSkip {
    pub fn as_str(self) -> &'static str {
        match self {
            SandwichSkip::NoVictims => "no_victims",
            SandwichSkip::LimitsTooTight => "limits_too_tight",
            SandwichSkip::InsufficientInventory => "insufficient_inventory",
            SandwichSkip::Unprofitable => "unprofitable",
            SandwichSkip::LowSuccessProbability => "low_success_probability",
        }
    }
}

impl Market {
    /// The pool as seen by a trade selling the base (`sells_base`) or the quote.
    pub fn pool(&self, sells_base: bool) -> Pool {
        if sells_base {
            Pool { reserve_in: self.reserve_base, reserve_out: self.reserve_quote, fee_bps: self.fee_bps }
        } else {
            Pool { reserve_in: self.reserve_quote, reserve_out: self.reserve_base, fee_bps: self.fee_bps }
        }
    }
}

/// The victim's limit in the pool's direction of its trade (router limits are over the path; our
/// victims trade one pool).
pub fn pool_limit(l: &SwapLimit) -> Option<VictimLimit> {
    match *l {
        SwapLimit::ExactIn { amount_in, min_out } => Some(VictimLimit::ExactIn { amount_in, min_out }),
        SwapLimit::ExactOut { amount_out, max_in } => Some(VictimLimit::ExactOut { amount_out, max_in }),
        // A direct pair call fixes its outputs: any front-run makes its K check fail.
        SwapLimit::PairOut { .. } => None,
    }
}

/// Standard normal CDF (Abramowitz–Stegun 7.1.26, |error| < 1.5e-7): a probability estimate.
fn normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly =
        t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    if z >= 0.0 { 0.5 * (1.0 + erf) } else { 0.5 * (1.0 - erf) }
}

/// Chance our total payment to the builder beats the rival model (no rival, or a lower rival bid).
pub fn win_probability(spec: &SandwichSpec, our_payment_wei: u128) -> f64 {
    if spec.rival_probability == 0.0 {
        return 1.0;
    }
    let beats = if our_payment_wei == 0 || spec.rival_bid_median_wei <= 0.0 {
        if spec.rival_bid_median_wei <= 0.0 { 1.0 } else { 0.0 }
    } else if spec.rival_bid_sigma == 0.0 {
        if our_payment_wei as f64 > spec.rival_bid_median_wei { 1.0 } else { 0.0 }
    } else {
        normal_cdf(((our_payment_wei as f64).ln() - spec.rival_bid_median_wei.ln()) / spec.rival_bid_sigma)
    };
    1.0 - spec.rival_probability + spec.rival_probability * beats
}

/// The best sandwich of `victims` on `m.pool` (both directions tried), or why there is none.
pub fn plan(spec: &SandwichSpec, m: &Market, victims: &[Victim]) -> Result<SandwichPlan, SandwichSkip> {
    let mine: Vec<&Victim> = victims.iter().filter(|v| v.pool == m.pool).collect();
    if mine.is_empty() {
        return Err(SandwichSkip::NoVictims);
    }
    let mut best: Result<SandwichPlan, SandwichSkip> = Err(SandwichSkip::NoVictims);
    for sells_base in [true, false] {
        let mut side: Vec<&Victim> = mine.iter().copied().filter(|v| v.sells_base == sells_base).collect();
        if side.is_empty() {
            continue;
        }
        // Builder order: priority fee, then arrival.
        side.sort_by(|a, b| Victim::builder_order(a, b));
        let r = plan_side(spec, m, sells_base, &side);
        best = match (best, r) {
            (Ok(a), Ok(b)) => Ok(if b.net_wei() > a.net_wei() { b } else { a }),
            (Ok(a), Err(_)) => Ok(a),
            (Err(_), Ok(b)) => Ok(b),
            // Keep the most informative reason (later variants are further along the pipeline).
            (Err(a), Err(b)) => Err(a.max(b)),
        };
    }
    best
}

fn plan_side(
    spec: &SandwichSpec,
    m: &Market,
    sells_base: bool,
    side: &[&Victim],
) -> Result<SandwichPlan, SandwichSkip> {
    let pool = m.pool(sells_base);
    // Keep the victims that succeed on their own, in order (a failing one would revert the bundle).
    let mut kept: Vec<(&Victim, VictimLimit)> = Vec::new();
    for v in side {
        // Its sender's previous transaction left out (its limit failed): this one cannot run.
        if v.after.is_some_and(|h| !kept.iter().any(|(k, _)| k.tx_hash == h)) {
            continue;
        }
        let Some(l) = pool_limit(&v.limit) else { continue };
        let mut trial: Vec<VictimLimit> = kept.iter().map(|(_, l)| *l).collect();
        trial.push(l);
        if sandwich_math::victims_alone(pool, &trial).is_some() {
            kept.push((v, l));
        }
    }
    if kept.is_empty() {
        return Err(SandwichSkip::LimitsTooTight);
    }
    let limits: Vec<VictimLimit> = kept.iter().map(|(_, l)| *l).collect();
    let cap = if sells_base { m.base } else { m.quote };
    if cap.is_zero() {
        return Err(SandwichSkip::InsufficientInventory);
    }
    if sandwich_math::max_front_run(pool, &limits, cap).is_zero() {
        return Err(SandwichSkip::LimitsTooTight);
    }
    let run = sandwich_math::best_sandwich(pool, &limits, cap).ok_or(SandwichSkip::Unprofitable)?;
    let gross_in = u128::try_from(run.gross_profit().max(0)).unwrap_or(0);
    // Quote profit in wei of ETH at the pool's pre-trade price (the bribe is paid in ETH).
    let gross_wei = if sells_base {
        gross_in
    } else {
        (U256::from(gross_in) * m.reserve_base / m.reserve_quote.max(U256::from(1u8))).saturating_to()
    };
    let gas_units = 2 * spec.gas_estimate;
    let gas_wei = u128::from(gas_units) * (m.base_fee_wei + spec.priority_fee_wei);
    let after_gas = gross_wei.saturating_sub(gas_wei);
    // `min_profit` is in quote: in wei at the pool's price.
    let min_net_wei: u128 =
        (U256::from(spec.min_profit_quote) * m.reserve_base / m.reserve_quote.max(U256::from(1u8))).saturating_to();
    if after_gas <= min_net_wei {
        return Err(SandwichSkip::Unprofitable);
    }
    // Bribe: at least the configured share of the profit after gas; above it, the share (in 1 %
    // steps) with the best expected net under the rival model.
    let tips = u128::from(gas_units) * spec.priority_fee_wei;
    let floor = (spec.bribe_share * 100.0).ceil() as u32;
    let mut choice: Option<(u128, f64, f64)> = None;
    for pct in floor.min(99)..=99 {
        // Rounded up: the configured share is a floor.
        let bribe = (after_gas * u128::from(pct)).div_ceil(100).min(after_gas);
        let p = win_probability(spec, bribe + tips);
        let expected = p * (after_gas - bribe) as f64;
        if choice.is_none_or(|(_, _, e)| expected > e) {
            choice = Some((bribe, p, expected));
        }
    }
    let (bribe_wei, success_probability, _) = choice.unwrap_or((0, 1.0, 0.0));
    if after_gas - bribe_wei <= min_net_wei {
        return Err(SandwichSkip::Unprofitable);
    }
    if success_probability < spec.min_success_probability {
        return Err(SandwichSkip::LowSuccessProbability);
    }
    if bribe_wei + gas_wei > m.native {
        return Err(SandwichSkip::InsufficientInventory);
    }
    Ok(SandwichPlan {
        pool: m.pool,
        sells_base,
        victims: kept.iter().map(|(v, _)| v.tx_hash).collect(),
        run,
        gross_wei,
        gas_wei,
        bribe_wei,
        success_probability,
        gas_limit: spec.gas_estimate * 3 / 2,
        priority_fee_wei: spec.priority_fee_wei,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SandwichSpec {
        SandwichSpec {
            enabled: true,
            min_profit_quote: 1_000_000,
            bribe_share: 0.5,
            min_success_probability: 0.3,
            priority_fee_wei: 1_000_000_000,
            gas_estimate: 110_000,
            rival_probability: 0.3,
            rival_bid_median_wei: 0.00194e18,
            rival_bid_sigma: 1.97,
            submit_latency: 50_000_000,
        }
    }

    #[test]
    fn normal_cdf_and_win_probability_behave() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.96) - 0.975).abs() < 1e-4);
        assert!((normal_cdf(-1.96) - 0.025).abs() < 1e-4);
        let s = spec();
        // Paying the rival median wins against a present rival half the time.
        assert!((win_probability(&s, 1_940_000_000_000_000) - (0.7 + 0.3 * 0.5)).abs() < 1e-6);
        assert!(win_probability(&s, 10u128.pow(20)) > 0.999);
        assert!((win_probability(&s, 0) - 0.7).abs() < 1e-12);
    }

    /// A 1,000 WETH pool and what selling 50 WETH into it gives.
    fn deep_market() -> (Market, U256, u128) {
        let e18 = 10u128.pow(18);
        let m = Market {
            pool: 0,
            reserve_base: U256::from(1_000 * e18),
            reserve_quote: U256::from(3_000_000_000_000u128),
            fee_bps: 30,
            base: U256::from(100 * e18),
            quote: U256::from(300_000_000_000u128),
            native: 10 * e18,
            base_fee_wei: 10_000_000_000,
        };
        let out =
            crate::market::amm::get_amount_out(U256::from(50 * e18), m.reserve_base, m.reserve_quote, 30).unwrap();
        (m, out, e18)
    }

    #[test]
    fn a_big_loose_victim_is_sandwiched_and_a_tight_one_skipped() {
        let (m, out, e18) = deep_market();
        let victim = |min_out: U256| Victim {
            tx_hash: B256::repeat_byte(1),
            pool: 0,
            sells_base: true,
            limit: SwapLimit::ExactIn { amount_in: U256::from(50 * e18), min_out },
            priority_fee_wei: 2_000_000_000,
            arrival_seq: 1,
            after: None,
        };
        let p = plan(&spec(), &m, &[victim(out * U256::from(97) / U256::from(100))]).unwrap();
        assert!(p.sells_base && p.run.front_in > U256::ZERO && p.net_wei() > 0);
        assert!(p.bribe_wei * 2 >= p.gross_wei - p.gas_wei, "at least half the profit after gas is bribed");
        assert!(p.success_probability >= 0.3);
        assert_eq!(plan(&spec(), &m, &[victim(out)]), Err(SandwichSkip::Unprofitable));
        assert_eq!(plan(&spec(), &m, &[]), Err(SandwichSkip::NoVictims));
    }

    #[test]
    fn a_victim_whose_previous_transaction_is_left_out_is_left_out_too() {
        let (m, out, e18) = deep_market();
        let victim = |n: u8, min_out: U256, after: Option<u8>| Victim {
            tx_hash: B256::repeat_byte(n),
            pool: 0,
            sells_base: true,
            limit: SwapLimit::ExactIn { amount_in: U256::from(50 * e18), min_out },
            priority_fee_wei: 2_000_000_000,
            arrival_seq: u64::from(n),
            after: after.map(B256::repeat_byte),
        };
        let loose = out * U256::from(90) / U256::from(100);
        // The sender's first swap cannot be met even alone (min out above what the pool gives):
        // its second one is loose, but without the first the chain refuses it.
        let impossible = out + U256::from(1u8);
        let alone = plan(&spec(), &m, &[victim(1, impossible, None), victim(2, loose, None)]).unwrap();
        assert_eq!(alone.victims, vec![B256::repeat_byte(2)], "unrelated, the loose one would be kept");
        let chained = plan(&spec(), &m, &[victim(1, impossible, None), victim(2, loose, Some(1))]);
        assert_eq!(chained.err(), Some(SandwichSkip::LimitsTooTight));
        // Both met: both kept, the earlier first.
        let both = plan(&spec(), &m, &[victim(1, loose, None), victim(2, loose, Some(1))]).unwrap();
        assert_eq!(both.victims, vec![B256::repeat_byte(1), B256::repeat_byte(2)]);
    }
}
