//! Cross-DEX arbitrage: when two constant-product pools of the same pair disagree by more than both
//! fees, buy base on the cheap one and sell it on the dear one in one executor transaction.
//!
//! Two pools chained are one constant-product curve with effective reserves
//! A' = Rq_i·Rb_j / (Rb_j + γ_j·Rb_i) and B' = γ_j·Rb_i·Rq_j / (Rb_j + γ_j·Rb_i), so the optimal quote
//! input is x* = (√(γ_i·A'·B') − A') / γ_i; the integer optimum of the exact V2 arithmetic is then
//! found around it (the rounding-aware scan of `sizing`), to within 2 raw units of the best.

use alloy_primitives::U256;

use super::sizing::argmax_from;
use crate::config::CrossDexSpec;
use crate::core::{
    Action, AssetId, AtomicPlan, Ctx, Event, LegVenue, PoolId, SkipReason, Strategy, StrategyError, StrategyId,
};
use crate::market::amm::{MAX_RESERVE, get_amount_out_u128};

pub const ID: StrategyId = StrategyId("cross_dex");

/// Near the optimum the profit is flat over millions of raw quote units; scanning 4,096 of them each
/// way keeps the choice within `ROUNDING_SLACK` raw units (2e-6 USDC) of the best.
const SCAN: u64 = 4_096;

pub struct CrossDex {
    spec: CrossDexSpec,
    episodes: crate::core::strategy::Episodes,
}

impl CrossDex {
    pub fn new(spec: CrossDexSpec) -> Self {
        CrossDex { spec, episodes: Default::default() }
    }
}

/// Exact output of buying on (rq_i, rb_i) with `x` quote and selling the base on (rb_j, rq_j).
#[inline]
fn round_trip(x: u128, i: (u128, u128, u32), j: (u128, u128, u32)) -> Option<(u128, u128)> {
    let mid = get_amount_out_u128(x, i.1, i.0, i.2).ok()?;
    if mid == 0 {
        return None;
    }
    let out = get_amount_out_u128(mid, j.0, j.1, j.2).ok()?;
    Some((mid, out))
}

impl Strategy for CrossDex {
    fn id(&self) -> StrategyId {
        ID
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn on_event(&mut self, event: &Event, ctx: &mut Ctx<'_>, out: &mut Vec<Action>) -> Result<(), StrategyError> {
        let Event::Block(block) = *event else { return Ok(()) };
        let m = ctx.market;
        let n = m.pools().len();
        for bi in 0..n {
            for si in 0..n {
                if bi == si {
                    continue;
                }
                let (buy, sell) = (PoolId(bi as u16), PoolId(si as u16));
                let (rb_i, rq_i) = m.reserves(buy);
                let (rb_j, rq_j) = m.reserves(sell);
                let (fi, fj) = (m.pools()[bi].fee_bps, m.pools()[si].fee_bps);
                let (gi, gj) = (U256::from(10_000 - fi), U256::from(10_000 - fj));
                // Cross after both fees: γ_i·γ_j·Rq_j·Rb_i > Rq_i·Rb_j (marginal sell above marginal buy).
                let spread = gi * gj * rq_j * rb_i > U256::from(100_000_000u64) * rq_i * rb_j;
                if self.episodes.observe(bi, si, n, spread) {
                    ctx.opportunities.episodes += 1;
                }
                if !spread {
                    continue;
                }
                ctx.opportunities.seen += 1;
                if ctx.free_trade_slots == 0 {
                    ctx.opportunities.skip(SkipReason::ConcurrencyLimit);
                    continue;
                }
                if (ctx.busy)(LegVenue::Dex(buy)) || (ctx.busy)(LegVenue::Dex(sell)) {
                    ctx.opportunities.skip(SkipReason::VenueBusy);
                    continue;
                }
                let cap = self.spec.max_input_quote.min(m.inventory().wallet_quote).min(u64::MAX as u128) as u64;
                if cap == 0 {
                    ctx.opportunities.skip(SkipReason::InsufficientInventory);
                    continue;
                }
                let to = |x: U256| -> u128 { x.min(MAX_RESERVE).to::<u128>() };
                let pi = (to(rb_i), to(rq_i), fi);
                let pj = (to(rb_j), to(rq_j), fj);
                let (x, gross) = optimal_input(cap, pi, pj);
                let Some((mid, quote_out)) = round_trip(u128::from(x), pi, pj) else {
                    ctx.opportunities.skip(SkipReason::UnprofitableAfterCosts);
                    continue;
                };
                let gas_price = block.base_fee_wei + self.spec.priority_fee_wei;
                let mark = m.mark_price(AssetId(0)).unwrap_or(0);
                let gas_quote = crate::core::wei_to_quote(u128::from(self.spec.gas_estimate) * gas_price, mark) as i128;
                let net = gross - gas_quote;
                if net <= 0 {
                    ctx.opportunities.skip(SkipReason::UnprofitableAfterCosts);
                    continue;
                }
                if (net as u128) < self.spec.min_profit_quote {
                    ctx.opportunities.skip(SkipReason::BelowMinProfitUsd);
                    continue;
                }
                ctx.opportunities.taken += 1;
                out.push(Action::AtomicArb(AtomicPlan {
                    buy_pool: buy,
                    sell_pool: sell,
                    quote_in: u128::from(x),
                    base_mid: mid,
                    quote_out,
                    min_profit: 1,
                    priority_fee_wei: self.spec.priority_fee_wei,
                    gas_limit: self.spec.gas_estimate + self.spec.gas_estimate / 2,
                    predicted_gross: gross,
                    predicted_gas: gas_quote,
                    predicted_net: net,
                    decided_at: ctx.now,
                }));
            }
        }
        Ok(())
    }
}

/// The integer quote input maximising the exact round-trip profit: start at the closed form, then
/// scan around it (within `ROUNDING_SLACK` raw units of the best).
fn optimal_input(cap: u64, pi: (u128, u128, u32), pj: (u128, u128, u32)) -> (u64, i128) {
    let f = |x: u64| match round_trip(u128::from(x), pi, pj) {
        Some((_, o)) => o as i128 - i128::from(x),
        None => i128::MIN / 4,
    };
    let g = |p: (u128, u128, u32)| (p.0 as f64, p.1 as f64, (10_000 - p.2) as f64 / 10_000.0);
    let x0 = closed_form_input(g(pi), g(pj));
    let start = if x0.is_finite() { (x0.round().max(1.0) as u64).min(cap) } else { 1 };
    argmax_from(cap, start, f(start), SCAN, f)
}

/// The closed-form optimum (real-valued), for tests and diagnostics.
pub fn closed_form_input(i: (f64, f64, f64), j: (f64, f64, f64)) -> f64 {
    let (rb_i, rq_i, gi) = i;
    let (rb_j, rq_j, gj) = j;
    let d = rb_j + gj * rb_i;
    let a = rq_i * rb_j / d;
    let b = gj * rb_i * rq_j / d;
    ((gi * a * b).sqrt() - a) / gi
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::sizing::ROUNDING_SLACK;
    use proptest::prelude::*;

    proptest! {
        /// The integer optimum sits where the closed form says, and no other input on a grid beats it.
        #[test]
        fn integer_optimum_matches_closed_form(
            rb_i in 100u128..10_000, px_i in 2_900u128..3_000, rb_j in 100u128..10_000, px_j in 3_050u128..3_200,
        ) {
            let e18 = 10u128.pow(18);
            let pi = (rb_i * e18, rb_i * px_i * 1_000_000, 30u32);
            let pj = (rb_j * e18, rb_j * px_j * 1_000_000, 30u32);
            let cap = 10u64.pow(12);
            let f = |x: u64| match round_trip(u128::from(x), pi, pj) { Some((_, o)) => o as i128 - i128::from(x), None => i128::MIN / 4 };
            let (x, best) = optimal_input(cap, pi, pj);
            let g = |p: (u128, u128, u32)| (p.0 as f64, p.1 as f64, 0.997);
            let xf = closed_form_input(g(pi), g(pj));
            prop_assert!((x as f64 - xf).abs() <= 1e-6 * xf + (SCAN + 16) as f64, "integer {x} vs closed form {xf}");
            for k in 1..=64u64 {
                let y = x / 32 * k;
                if y >= 1 && y <= cap {
                    prop_assert!(f(y) <= best + ROUNDING_SLACK, "input {y} earns {} > {best}", f(y));
                }
            }
        }
    }
}
