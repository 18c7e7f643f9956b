//! Liquidation search: a watch list that answers "whose health factor just fell below 1?" for an
//! oracle update in time proportional to the borrowers affected, not to all borrowers; and the
//! profit-maximising `debtToCover` for one borrower, net of the DEX cost of turning the seized
//! collateral back into the debt asset and of gas. Pure: no I/O.

use std::collections::BTreeMap;

use alloy_primitives::{Address, U256};

use crate::market::amm::get_amount_out;
use crate::market::lending::{self, Reserve};
use crate::strategies::sizing::argmax_within;

/// A borrower's position: raw balances per reserve index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Borrower {
    pub user: Address,
    pub collateral: Vec<U256>,
    pub debt: Vec<U256>,
}

/// Fixed-point scale of trigger ratios (collateral price / debt price).
const RATIO_SCALE: f64 = 1e18;

/// Borrowers indexed by the price ratio at which they become liquidatable. A borrower with one
/// collateral asset `c` and one debt asset `d` is liquidatable exactly when
/// `price_c / price_d < debt_d · unit_c / (collateral_c · lt_c · unit_d)` (up to rounding), so an
/// update of either price only concerns the borrowers whose trigger lies between the old and the
/// new ratio: a range query. Borrowers with several collateral or debt assets are few and are
/// re-checked in full on every update.
#[derive(Default)]
pub struct WatchList {
    /// (collateral reserve, debt reserve) → trigger ratio (scaled, as u128) → borrowers.
    by_pair: BTreeMap<(usize, usize), BTreeMap<(u128, usize), ()>>,
    /// Where each borrower sits in `by_pair` (None: in `complex`).
    keys: Vec<Option<((usize, usize), u128)>>,
    complex: Vec<usize>,
    pub borrowers: Vec<Borrower>,
}

/// The trigger ratio of a single-pair borrower, or `None` for a borrower the index cannot hold.
fn trigger(reserves: &[Reserve], b: &Borrower) -> Option<(usize, usize, u128)> {
    let cs: Vec<usize> = (0..b.collateral.len()).filter(|&i| !b.collateral[i].is_zero()).collect();
    let ds: Vec<usize> = (0..b.debt.len()).filter(|&i| !b.debt[i].is_zero()).collect();
    if cs.len() != 1 || ds.len() != 1 {
        return None;
    }
    let (c, d) = (cs[0], ds[0]);
    let (rc, rd) = (&reserves[c], &reserves[d]);
    let coll = b.collateral[c].to::<u128>() as f64 / 10f64.powi(rc.decimals as i32);
    let debt = b.debt[d].to::<u128>() as f64 / 10f64.powi(rd.decimals as i32);
    let ratio = debt / (coll * f64::from(rc.liquidation_threshold) / 1e4);
    Some((c, d, (ratio * RATIO_SCALE).min(u128::MAX as f64) as u128))
}

fn ratio(prices: &[U256], c: usize, d: usize) -> u128 {
    let pc = prices[c].to::<u128>() as f64;
    let pd = prices[d].to::<u128>().max(1) as f64;
    (pc / pd * RATIO_SCALE).min(u128::MAX as f64) as u128
}

impl WatchList {
    pub fn new(reserves: &[Reserve], borrowers: Vec<Borrower>) -> Self {
        let n = borrowers.len();
        let mut w = WatchList { borrowers, keys: vec![None; n], ..Default::default() };
        for i in 0..n {
            w.index(reserves, i);
        }
        w
    }

    fn index(&mut self, reserves: &[Reserve], i: usize) {
        match trigger(reserves, &self.borrowers[i]) {
            Some((c, d, t)) => {
                self.by_pair.entry((c, d)).or_default().insert((t, i), ());
                self.keys[i] = Some(((c, d), t));
            }
            None => {
                // A borrower without debt (or without collateral) cannot become liquidatable by
                // a price move; several assets on a side go to the full-check list.
                let b = &self.borrowers[i];
                if b.debt.iter().any(|d| !d.is_zero()) && b.collateral.iter().any(|c| !c.is_zero()) {
                    self.complex.push(i);
                }
                self.keys[i] = None;
            }
        }
    }

    /// Replaces borrower `i`'s balances (after a liquidation, a repayment …) and re-indexes it.
    pub fn update(&mut self, reserves: &[Reserve], i: usize, collateral: Vec<U256>, debt: Vec<U256>) {
        if let Some((pair, t)) = self.keys[i].take()
            && let Some(m) = self.by_pair.get_mut(&pair)
        {
            m.remove(&(t, i));
        }
        self.complex.retain(|&j| j != i);
        self.borrowers[i].collateral = collateral;
        self.borrowers[i].debt = debt;
        self.index(reserves, i);
    }

    /// The borrowers liquidatable after `asset`'s price moves from `old` to `new` (all other prices
    /// as in `reserves`, which already holds `new`), each confirmed by the exact health factor.
    /// Floating-point triggers only narrow the search; a relative band of 1e-9 around the crossed
    /// range keeps rounding from hiding anyone.
    pub fn affected(&self, reserves: &[Reserve], asset: usize, old: U256) -> Vec<usize> {
        let prices: Vec<U256> = reserves.iter().map(|r| r.price).collect();
        let mut before = prices.clone();
        before[asset] = old;
        let mut out = Vec::new();
        for (&(c, d), index) in &self.by_pair {
            if c != asset && d != asset {
                continue;
            }
            let (r_old, r_new) = (ratio(&before, c, d), ratio(&prices, c, d));
            // Liquidatable when ratio < trigger: newly so for triggers in (r_new, r_old].
            if r_new >= r_old {
                continue;
            }
            let lo = r_new - r_new / 1_000_000_000;
            let hi = r_old + r_old / 1_000_000_000;
            for (&(_, i), _) in index.range((lo, 0)..=(hi, usize::MAX)) {
                if self.liquidatable(reserves, i) {
                    out.push(i);
                }
            }
        }
        out.extend(self.complex.iter().copied().filter(|&i| self.liquidatable(reserves, i)));
        out.sort_unstable();
        out
    }

    pub fn liquidatable(&self, reserves: &[Reserve], i: usize) -> bool {
        let b = &self.borrowers[i];
        lending::account_data(reserves, &b.collateral, &b.debt).health_factor < U256::from(lending::WAD)
    }
}

/// The best liquidation of one borrower for one (collateral, debt) pair: debt repaid, collateral
/// seized, and what selling the collateral on the DEX pool returns in the debt asset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiquidationPlan {
    pub collateral: usize,
    pub debt: usize,
    pub debt_to_cover: U256,
    pub seized: U256,
    pub repaid: U256,
    /// Debt-asset raw units the seized collateral sells for on the pool.
    pub proceeds: U256,
}

impl LiquidationPlan {
    /// Proceeds − repaid, in debt-asset raw units, before gas.
    pub fn gross(&self) -> i128 {
        self.proceeds.saturating_to::<i128>() - self.repaid.saturating_to::<i128>()
    }
}

/// The `debtToCover` maximising proceeds − repaid when the seized collateral is sold into a pool
/// with `(reserve_collateral, reserve_debt)` at `fee_bps`. The bonus grows linearly with the size
/// and the pool's price impact faster, so the net is concave: a search over the close-factor range
/// (exact within rounding), then the contract's own arithmetic at the chosen size.
pub fn best_liquidation(
    reserves: &[Reserve],
    b: &Borrower,
    collateral: usize,
    debt: usize,
    pool: (U256, U256),
    fee_bps: u32,
) -> Option<LiquidationPlan> {
    let hf = lending::account_data(reserves, &b.collateral, &b.debt).health_factor;
    if hf >= U256::from(lending::WAD) || b.debt[debt].is_zero() || b.collateral[collateral].is_zero() {
        return None;
    }
    let max = lending::percent_mul(b.debt[debt], U256::from(lending::close_factor(hf)));
    let max = u128::try_from(max).ok()?;
    let at = |x: u128| -> Option<LiquidationPlan> {
        let (seized, repaid) =
            lending::liquidation(reserves, &b.collateral, &b.debt, collateral, debt, U256::from(x)).ok()?;
        let proceeds = get_amount_out(seized, pool.0, pool.1, fee_bps).ok()?;
        Some(LiquidationPlan { collateral, debt, debt_to_cover: U256::from(x), seized, repaid, proceeds })
    };
    // Closed form for the continuous optimum: seized ≈ k·x, so the net is
    // getAmountOut(k·x) − x, maximal at x* = (√(γ·k·R_in·R_out) − R_in) / (γ·k).
    let (rc, rd) = (&reserves[collateral], &reserves[debt]);
    let k = rd.price.to::<u128>() as f64 / rc.price.to::<u128>().max(1) as f64
        * 10f64.powi(rc.decimals as i32 - rd.decimals as i32)
        * f64::from(rc.liquidation_bonus)
        / 1e4;
    let gamma = f64::from(10_000 - fee_bps) / 1e4;
    let (r_in, r_out) = (pool.0.to::<u128>() as f64, pool.1.to::<u128>() as f64);
    let x_star = ((gamma * k * r_in * r_out).sqrt() - r_in) / (gamma * k);
    let f = |x: u128| at(x).map(|p| p.gross()).unwrap_or(i128::MIN / 2);
    let x = if !x_star.is_finite() || x_star >= max as f64 {
        max
    } else if x_star < 1.0 {
        return None;
    } else {
        // Integer refinement in a 1 % window around the closed form, then a scan within rounding.
        let c = x_star as u128;
        let (lo, hi) = ((c - c / 100).max(1), (c + c / 100).min(max));
        let (x, _) = argmax_within(hi - lo + 1, 4, 256, |d| f(lo + d - 1));
        lo + x - 1
    };
    (f(x) > 0).then(|| at(x)).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    fn reserves(eth_usd: u64) -> Vec<Reserve> {
        vec![
            Reserve {
                ltv: 8000,
                liquidation_threshold: 8250,
                liquidation_bonus: 10500,
                decimals: 18,
                price: U256::from(eth_usd) * U256::from(100_000_000u64),
            },
            Reserve {
                ltv: 7700,
                liquidation_threshold: 8000,
                liquidation_bonus: 10450,
                decimals: 6,
                price: U256::from(100_000_000u64),
            },
        ]
    }

    /// The range query finds exactly the borrowers a full scan finds, for price drops of every size.
    #[test]
    fn affected_borrowers_equal_a_full_scan() {
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(5);
        let e18 = 10u128.pow(18);
        let mut borrowers: Vec<Borrower> = (0..3_000)
            .map(|i| {
                let coll = rng.random_range(1..50u128) * e18 / 10 + rng.random_range(0..e18);
                // Health factors 1.0–1.6 at 3,000 USD.
                let hf = rng.random_range(1.0..1.6);
                let debt = (coll as f64 / 1e18 * 3000.0 * 0.825 / hf * 1e6) as u128;
                Borrower {
                    user: Address::with_last_byte((i % 251) as u8),
                    collateral: vec![U256::from(coll), U256::ZERO],
                    debt: vec![U256::ZERO, U256::from(debt)],
                }
            })
            .collect();
        // A few two-collateral borrowers take the full-check path.
        for b in borrowers.iter_mut().take(20) {
            b.collateral[1] = U256::from(100_000_000u64);
        }
        let w = WatchList::new(&reserves(3000), borrowers);
        for new_price in [2990, 2950, 2800, 2500, 2000, 1500] {
            let r = reserves(new_price);
            let found = w.affected(&r, 0, U256::from(3000u64) * U256::from(100_000_000u64));
            let scan: Vec<usize> = (0..w.borrowers.len()).filter(|&i| w.liquidatable(&r, i)).collect();
            assert_eq!(found, scan, "price {new_price}");
            assert!(new_price > 2900 || !found.is_empty());
        }
    }

    /// The chosen `debtToCover` beats every other size on a grid over the whole close-factor range,
    /// and no neighbour within 1,000 raw units does better.
    #[test]
    fn best_liquidation_is_the_net_maximum() {
        let e18 = 10u128.pow(18);
        let r = reserves(1800);
        let b = Borrower {
            user: Address::ZERO,
            collateral: vec![U256::from(400 * e18), U256::ZERO],
            debt: vec![U256::ZERO, U256::from(640_000_000_000u128)],
        };
        // A shallow WETH/USDC pool: selling all the collateral would cost more than the bonus.
        let pool = (U256::from(300 * e18), U256::from(540_000_000_000u128));
        let p = best_liquidation(&r, &b, 0, 1, pool, 30).unwrap();
        let net = |x: U256| {
            let (s, rp) = lending::liquidation(&r, &b.collateral, &b.debt, 0, 1, x).unwrap();
            get_amount_out(s, pool.0, pool.1, 30).unwrap().saturating_to::<i128>() - rp.saturating_to::<i128>()
        };
        let max = lending::percent_mul(
            b.debt[1],
            U256::from(lending::close_factor(lending::account_data(&r, &b.collateral, &b.debt).health_factor)),
        );
        assert!(p.debt_to_cover < max, "the pool's depth, not the close factor, binds");
        for k in 1..=400u64 {
            assert!(p.gross() >= net(max * U256::from(k) / U256::from(400u64)));
        }
        for d in 1..=1000u64 {
            assert!(
                p.gross() >= net(p.debt_to_cover + U256::from(d)) && p.gross() >= net(p.debt_to_cover - U256::from(d))
            );
        }
    }
}
