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
/// new ratio: a range query. Borrowers with several collateral or debt assets are re-checked in
/// full, but only on updates of an asset they hold.
#[derive(Default)]
pub struct WatchList {
    /// (collateral reserve, debt reserve) → trigger ratio (scaled, as u128) → borrowers.
    by_pair: BTreeMap<(usize, usize), BTreeMap<(u128, usize), ()>>,
    /// Where each borrower sits in `by_pair` (None: in `complex`).
    keys: Vec<Option<((usize, usize), u128)>>,
    /// Borrowers with several collateral or debt assets, by each asset they hold: an update of
    /// one price re-checks only its holders.
    complex: BTreeMap<usize, std::collections::BTreeSet<usize>>,
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
    let coll = crate::core::amount::u256_to_f64(b.collateral[c]) / 10f64.powi(rc.decimals as i32);
    let debt = crate::core::amount::u256_to_f64(b.debt[d]) / 10f64.powi(rd.decimals as i32);
    let ratio = debt / (coll * f64::from(rc.liquidation_threshold) / 1e4);
    Some((c, d, (ratio * RATIO_SCALE).min(u128::MAX as f64) as u128))
}

fn ratio(prices: &[U256], c: usize, d: usize) -> u128 {
    let pc = crate::core::amount::u256_to_f64(prices[c]);
    let pd = crate::core::amount::u256_to_f64(prices[d].max(U256::from(1u8)));
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
                    for a in (0..b.collateral.len()).filter(|&a| !b.collateral[a].is_zero() || !b.debt[a].is_zero()) {
                        self.complex.entry(a).or_default().insert(i);
                    }
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
        for holders in self.complex.values_mut() {
            holders.remove(&i);
        }
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
        if let Some(holders) = self.complex.get(&asset) {
            out.extend(holders.iter().copied().filter(|&i| self.liquidatable(reserves, i)));
        }
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
    let seize = Seizure::new(reserves, b, collateral, debt)?;
    let max = u128::try_from(seize.max_debt).ok()?;
    let at = |x: u128| -> Option<LiquidationPlan> {
        let (seized, repaid) = seize.at(x)?;
        let proceeds = get_amount_out(seized, pool.0, pool.1, fee_bps).ok()?;
        Some(LiquidationPlan { collateral, debt, debt_to_cover: U256::from(x), seized, repaid, proceeds })
    };
    // Closed form for the continuous optimum: seized ≈ k·x, so the net is
    // getAmountOut(k·x) − x, maximal at x* = (√(γ·k·R_in·R_out) − R_in) / (γ·k).
    let (rc, rd) = (&reserves[collateral], &reserves[debt]);
    let k = crate::core::amount::u256_to_f64(rd.price)
        / crate::core::amount::u256_to_f64(rc.price.max(U256::from(1u8)))
        * 10f64.powi(rc.decimals as i32 - rd.decimals as i32)
        * f64::from(rc.liquidation_bonus)
        / 1e4;
    let gamma = f64::from(10_000 - fee_bps) / 1e4;
    let (r_in, r_out) = (crate::core::amount::u256_to_f64(pool.0), crate::core::amount::u256_to_f64(pool.1));
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

/// How a liquidation's repayment is funded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Funding {
    /// Repaid from our wallet; the seized collateral is sold back into the debt asset.
    Inventory = 0,
    /// Flash-borrowed from the (collateral, debt) pair and paid back in seized collateral: no
    /// inventory needed; the profit stays in the collateral asset.
    FlashSwap = 1,
}

impl Funding {
    pub fn name(self) -> &'static str {
        match self {
            Funding::Inventory => "inventory",
            Funding::FlashSwap => "flash_swap",
        }
    }
}

/// The DEX path that sells collateral for the debt asset: each pool's (reserve in, reserve out) in
/// the direction of the sale.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub hops: Vec<(U256, U256)>,
    pub fee_bps: u32,
}

impl Route {
    pub fn amount_out(&self, amount_in: U256) -> Option<U256> {
        self.hops.iter().try_fold(amount_in, |a, &(r_in, r_out)| get_amount_out(a, r_in, r_out, self.fee_bps).ok())
    }
}

/// The best liquidation of one borrower over every (collateral, debt) pair it holds and both ways
/// of funding it, valued in the oracle's base currency (USD, 8 decimals) net of gas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    pub plan: LiquidationPlan,
    pub funding: Funding,
    /// Flash swaps: collateral paid back for the borrowed debt (to the pair, or sold for the hub
    /// token when the debt comes from a hub pair), and that hub amount (zero when direct).
    pub flash_repay: U256,
    pub flash_hub: U256,
    /// The asset our profit arrives in (debt asset for inventory, collateral for flash swaps) and
    /// the amount, raw, before gas and bribe.
    pub profit_asset: usize,
    pub profit_raw: i128,
    /// `profit_raw` at the oracle price, and the same net of the gas estimate (base units).
    pub gross_base: i128,
    pub net_base: i128,
}

/// Why a liquidatable borrower is passed over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skip {
    HealthFactorAbove1,
    /// No pair and funding yields more than the debt repaid after the DEX cost.
    UnprofitableAfterSwap,
    UnprofitableAfterGas,
    /// Profitable only with debt-asset inventory we lack, and no flash-swap pair.
    InsufficientInventory,
}

impl Skip {
    pub fn name(self) -> &'static str {
        match self {
            Skip::HealthFactorAbove1 => "health_factor_above_1",
            Skip::UnprofitableAfterSwap => "unprofitable_after_swap",
            Skip::UnprofitableAfterGas => "unprofitable_after_gas",
            Skip::InsufficientInventory => "insufficient_inventory",
        }
    }
}

/// What `best_choice` needs to know about the market besides the borrower.
pub struct Market<'a> {
    pub reserves: &'a [Reserve],
    /// Sale path from collateral `c` to debt `d`, if the DEX has one.
    pub route: &'a dyn Fn(usize, usize) -> Option<Route>,
    /// Where a flash swap between collateral `c` and debt `d` borrows from, if anywhere.
    pub flash: &'a dyn Fn(usize, usize) -> Option<FlashRoute>,
    pub fee_bps: u32,
    /// Our wallet's balance of each reserve (inventory for repayments).
    pub inventory: &'a [U256],
    /// Gas cost of one liquidation in base units, by funding.
    pub gas_base: &'a dyn Fn(Funding) -> i128,
    pub min_profit_base: i128,
}

/// Where a flash swap borrows the debt asset and how it is paid back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlashRoute {
    /// From the (collateral, debt) pair, paid back in collateral: (reserve of c, reserve of d).
    Direct((U256, U256)),
    /// From the (hub, debt) pair, paid back in the hub token bought with collateral on the
    /// (collateral, hub) pair: `debt_pair` = (reserve of hub, reserve of d), `collateral_pair` =
    /// (reserve of c, reserve of hub).
    Via { debt_pair: (U256, U256), collateral_pair: (U256, U256) },
}

/// Base-currency value (8 decimals) of `raw` units of reserve `r` at its oracle price.
pub fn base_value(r: &Reserve, raw: i128) -> i128 {
    let v = U256::from(raw.unsigned_abs()) * r.price / lending::unit(r.decimals);
    let v = v.saturating_to::<i128>();
    if raw < 0 { -v } else { v }
}

/// The most profitable liquidation of `b`, or why there is none.
pub fn best_choice(m: &Market<'_>, b: &Borrower) -> Result<Choice, Skip> {
    let hf = lending::account_data(m.reserves, &b.collateral, &b.debt).health_factor;
    if hf >= U256::from(lending::WAD) {
        return Err(Skip::HealthFactorAbove1);
    }
    let mut best: Option<Choice> = None;
    let mut blocked_by_inventory = false;
    let mut any_gross = false;
    for c in (0..b.collateral.len()).filter(|&c| !b.collateral[c].is_zero()) {
        for d in (0..b.debt.len()).filter(|&d| !b.debt[d].is_zero()) {
            let mut options: Vec<Choice> = Vec::with_capacity(2);
            if let Some(route) = (m.route)(c, d) {
                let have = m.inventory.get(d).copied().unwrap_or_default();
                match best_sale(m.reserves, b, c, d, &route, have) {
                    Some(plan) => options.push(Choice {
                        funding: Funding::Inventory,
                        flash_repay: U256::ZERO,
                        flash_hub: U256::ZERO,
                        profit_asset: d,
                        profit_raw: plan.gross(),
                        gross_base: 0,
                        net_base: 0,
                        plan,
                    }),
                    None if have.is_zero() => blocked_by_inventory = true,
                    None => {}
                }
            }
            let flash = match (m.flash)(c, d) {
                Some(FlashRoute::Direct(pair)) => {
                    best_flash(m.reserves, b, c, d, pair, m.fee_bps).map(|(p, repay)| (p, repay, U256::ZERO))
                }
                Some(FlashRoute::Via { debt_pair, collateral_pair }) => {
                    best_flash_via(m.reserves, b, c, d, debt_pair, collateral_pair, m.fee_bps)
                }
                None => None,
            };
            if let Some((plan, repay, hub)) = flash {
                options.push(Choice {
                    funding: Funding::FlashSwap,
                    flash_repay: repay,
                    flash_hub: hub,
                    profit_asset: c,
                    profit_raw: plan.seized.saturating_to::<i128>() - repay.saturating_to::<i128>(),
                    gross_base: 0,
                    net_base: 0,
                    plan,
                });
            }
            for mut o in options {
                o.gross_base = base_value(&m.reserves[o.profit_asset], o.profit_raw);
                o.net_base = o.gross_base - (m.gas_base)(o.funding);
                any_gross |= o.gross_base > 0;
                if best.as_ref().is_none_or(|x| o.net_base > x.net_base) {
                    best = Some(o);
                }
            }
        }
    }
    match best {
        Some(x) if x.net_base >= m.min_profit_base && x.gross_base > 0 => Ok(x),
        _ if any_gross => Err(Skip::UnprofitableAfterGas),
        _ if blocked_by_inventory => Err(Skip::InsufficientInventory),
        _ => Err(Skip::UnprofitableAfterSwap),
    }
}

/// Flash swap through a hub: borrow the repaid debt from the (hub, debt) pair, pay it back
/// `getAmountIn` of the hub, bought with collateral on the (collateral, hub) pair; the profit is
/// the seized collateral left over. Concave in the size (two convex costs against a linear
/// bonus): searched over the close-factor range. Returns the plan, the collateral sold and the
/// hub amount paid back.
pub fn best_flash_via(
    reserves: &[Reserve],
    b: &Borrower,
    collateral: usize,
    debt: usize,
    debt_pair: (U256, U256),
    collateral_pair: (U256, U256),
    fee_bps: u32,
) -> Option<(LiquidationPlan, U256, U256)> {
    let seize = Seizure::new(reserves, b, collateral, debt)?;
    let max = u128::try_from(seize.max_debt).ok()?;
    let at = |x: u128| -> Option<(LiquidationPlan, U256, U256)> {
        let (seized, repaid) = seize.at(x)?;
        let hub = crate::market::amm::get_amount_in(repaid, debt_pair.0, debt_pair.1, fee_bps).ok()?;
        let sold = crate::market::amm::get_amount_in(hub, collateral_pair.0, collateral_pair.1, fee_bps).ok()?;
        let plan = LiquidationPlan { collateral, debt, debt_to_cover: U256::from(x), seized, repaid, proceeds: sold };
        Some((plan, sold, hub))
    };
    let f = |x: u128| {
        at(x)
            .map(|(p, sold, _)| p.seized.saturating_to::<i128>() - sold.saturating_to::<i128>())
            .unwrap_or(i128::MIN / 2)
    };
    let (x, v) = argmax_within(max, 8, 256, f);
    (v > 0).then(|| at(x)).flatten()
}

/// `liquidationCall`'s arithmetic for one borrower and pair with the health factor and close
/// factor computed once (the search evaluates hundreds of sizes): exactly `lending::liquidation`.
struct Seizure<'a> {
    collateral: &'a Reserve,
    debt: &'a Reserve,
    user_collateral: U256,
    max_debt: U256,
}

impl<'a> Seizure<'a> {
    fn new(reserves: &'a [Reserve], b: &Borrower, c: usize, d: usize) -> Option<Self> {
        let hf = lending::account_data(reserves, &b.collateral, &b.debt).health_factor;
        if hf >= U256::from(lending::WAD) || b.debt[d].is_zero() || b.collateral[c].is_zero() {
            return None;
        }
        let max_debt = lending::percent_mul(b.debt[d], U256::from(lending::close_factor(hf)));
        Some(Seizure { collateral: &reserves[c], debt: &reserves[d], user_collateral: b.collateral[c], max_debt })
    }

    /// (collateral seized, debt repaid) for `debtToCover = x`, or None where the contract reverts.
    fn at(&self, x: u128) -> Option<(U256, U256)> {
        let amount = U256::from(x).min(self.max_debt);
        let (seized, repaid) =
            lending::collateral_to_liquidate(self.collateral, self.debt, amount, self.user_collateral);
        (!seized.is_zero() && !repaid.is_zero()).then_some((seized, repaid))
    }
}

/// Inventory-funded sizing over a multi-hop sale path, with `debtToCover` at most `have` (what the
/// wallet holds of the debt asset). Single-hop paths use the closed form of `best_liquidation`.
pub fn best_sale(
    reserves: &[Reserve],
    b: &Borrower,
    collateral: usize,
    debt: usize,
    route: &Route,
    have: U256,
) -> Option<LiquidationPlan> {
    if have.is_zero() {
        return None;
    }
    let capped = |p: LiquidationPlan| (p.repaid <= have).then_some(p);
    if route.hops.len() == 1
        && let Some(p) = best_liquidation(reserves, b, collateral, debt, route.hops[0], route.fee_bps)
        && let Some(p) = capped(p)
    {
        return Some(p);
    }
    let seize = Seizure::new(reserves, b, collateral, debt)?;
    let max = u128::try_from(seize.max_debt.min(have)).ok()?;
    let at = |x: u128| -> Option<LiquidationPlan> {
        let (seized, repaid) = seize.at(x)?;
        let proceeds = route.amount_out(seized)?;
        Some(LiquidationPlan { collateral, debt, debt_to_cover: U256::from(x), seized, repaid, proceeds })
    };
    let f = |x: u128| at(x).map(|p| p.gross()).unwrap_or(i128::MIN / 2);
    let (x, v) = argmax_within(max, 4 * route.hops.len() as i128, 256, f);
    (v > 0).then(|| at(x)).flatten()
}

/// Flash-swap sizing: borrow the repaid debt from the (collateral, debt) pair `(r_c, r_d)` and pay
/// it back in collateral (`getAmountIn`); the profit is the seized collateral left over. The
/// continuous optimum of k·y − R_c·y / (γ·(R_d − y)) is y* = R_d − √(R_c·R_d / (γ·k)); integer
/// refinement around it. Returns the plan and the collateral paid back to the pair.
pub fn best_flash(
    reserves: &[Reserve],
    b: &Borrower,
    collateral: usize,
    debt: usize,
    pair: (U256, U256),
    fee_bps: u32,
) -> Option<(LiquidationPlan, U256)> {
    let seize = Seizure::new(reserves, b, collateral, debt)?;
    let max = u128::try_from(seize.max_debt).ok()?;
    let at = |x: u128| -> Option<(LiquidationPlan, U256)> {
        let (seized, repaid) = seize.at(x)?;
        let repay = crate::market::amm::get_amount_in(repaid, pair.0, pair.1, fee_bps).ok()?;
        let plan = LiquidationPlan { collateral, debt, debt_to_cover: U256::from(x), seized, repaid, proceeds: repay };
        Some((plan, repay))
    };
    let f = |x: u128| {
        at(x).map(|(p, r)| p.seized.saturating_to::<i128>() - r.saturating_to::<i128>()).unwrap_or(i128::MIN / 2)
    };
    let (rc, rd) = (&reserves[collateral], &reserves[debt]);
    let k = crate::core::amount::u256_to_f64(rd.price)
        / crate::core::amount::u256_to_f64(rc.price.max(U256::from(1u8)))
        * 10f64.powi(rc.decimals as i32 - rd.decimals as i32)
        * f64::from(rc.liquidation_bonus)
        / 1e4;
    let gamma = f64::from(10_000 - fee_bps) / 1e4;
    let (r_c, r_d) = (crate::core::amount::u256_to_f64(pair.0), crate::core::amount::u256_to_f64(pair.1));
    let y_star = r_d - (r_c * r_d / (gamma * k)).sqrt();
    let x = if !y_star.is_finite() || y_star >= max as f64 {
        // Concave and still rising at the close factor: the largest size (the contract caps it
        // at the collateral, where the net goes flat).
        max
    } else if y_star < 1.0 {
        return None;
    } else {
        let c = y_star as u128;
        let (lo, hi) = ((c - c / 100).max(1), (c + c / 100).min(max));
        lo + argmax_within(hi - lo + 1, 4, 256, |d| f(lo + d - 1)).0 - 1
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

    /// `best` (the net at `chosen`) is at least the net of every size on a 400-point grid up to
    /// `max` and of the ±1,000 raw units around `chosen`.
    fn assert_net_maximum(best: i128, chosen: U256, max: U256, net: impl Fn(U256) -> i128) {
        for k in 1..=400u64 {
            assert!(best >= net(max * U256::from(k) / U256::from(400u64)), "grid point {k}/400");
        }
        for d in 1..=1000u64 {
            assert!(best >= net(chosen + U256::from(d)) && best >= net(chosen - U256::from(d)), "neighbour {d}");
        }
    }

    /// 400 WETH against 640,000 USDC at 1,800 USD/ETH (HF 0.93) next to a shallow WETH/USDC pool:
    /// selling all the collateral would cost more than the bonus.
    fn large_borrower_shallow_pool() -> (Vec<Reserve>, Borrower, (U256, U256)) {
        let e18 = 10u128.pow(18);
        let b = Borrower {
            user: Address::ZERO,
            collateral: vec![U256::from(400 * e18), U256::ZERO],
            debt: vec![U256::ZERO, U256::from(640_000_000_000u128)],
        };
        (reserves(1800), b, (U256::from(300 * e18), U256::from(540_000_000_000u128)))
    }

    /// The chosen `debtToCover` beats every other size on a grid over the whole close-factor range,
    /// and no neighbour within 1,000 raw units does better.
    #[test]
    fn best_liquidation_is_the_net_maximum() {
        let (r, b, pool) = large_borrower_shallow_pool();
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
        assert_net_maximum(p.gross(), p.debt_to_cover, max, net);
    }

    /// The flash-swap size beats every other size on a grid and its ±1,000 neighbours, and pays
    /// the pair back exactly getAmountIn of the debt it borrowed.
    #[test]
    fn best_flash_is_the_net_maximum() {
        let (r, b, pair) = large_borrower_shallow_pool();
        let (p, repay) = best_flash(&r, &b, 0, 1, pair, 30).unwrap();
        assert_eq!(repay, crate::market::amm::get_amount_in(p.repaid, pair.0, pair.1, 30).unwrap());
        let net = |x: U256| {
            let (s, rp) = lending::liquidation(&r, &b.collateral, &b.debt, 0, 1, x).unwrap();
            s.saturating_to::<i128>()
                - crate::market::amm::get_amount_in(rp, pair.0, pair.1, 30)
                    .map(|a| a.saturating_to::<i128>())
                    .unwrap_or(i128::MAX / 2)
        };
        let best = p.seized.saturating_to::<i128>() - repay.saturating_to::<i128>();
        let max = lending::percent_mul(b.debt[1], U256::from(lending::DEFAULT_CLOSE_FACTOR));
        assert_net_maximum(best, p.debt_to_cover, max, net);
    }

    /// Through a hub: the size beats a 400-point grid and its ±1,000 neighbours; the pair is paid
    /// back getAmountIn of the hub for the repaid debt, bought with getAmountIn of collateral.
    #[test]
    fn best_flash_via_a_hub_is_the_net_maximum() {
        let (r, b, weth_hub) = large_borrower_shallow_pool();
        // The debt (6 decimals) against a hub stablecoin of 18 decimals, 20 M deep each side.
        let debt_pair = (U256::from(20_000_000u128 * 10u128.pow(18)), U256::from(20_000_000_000_000u128));
        let coll_pair = (weth_hub.0, weth_hub.1 * U256::from(10u128.pow(12)));
        let (p, sold, hub) = best_flash_via(&r, &b, 0, 1, debt_pair, coll_pair, 30).unwrap();
        let amm_in = crate::market::amm::get_amount_in;
        assert_eq!(hub, amm_in(p.repaid, debt_pair.0, debt_pair.1, 30).unwrap());
        assert_eq!(sold, amm_in(hub, coll_pair.0, coll_pair.1, 30).unwrap());
        let net = |x: U256| {
            let (s, rp) = lending::liquidation(&r, &b.collateral, &b.debt, 0, 1, x).unwrap();
            let cost = amm_in(rp, debt_pair.0, debt_pair.1, 30).and_then(|h| amm_in(h, coll_pair.0, coll_pair.1, 30));
            s.saturating_to::<i128>() - cost.map(|c| c.saturating_to::<i128>()).unwrap_or(i128::MAX / 2)
        };
        let best = p.seized.saturating_to::<i128>() - sold.saturating_to::<i128>();
        let max = lending::percent_mul(b.debt[1], U256::from(lending::DEFAULT_CLOSE_FACTOR));
        assert_net_maximum(best, p.debt_to_cover, max, net);
    }

    /// Over a borrower with two collateral and two debt assets, the choice is the best of every
    /// (collateral, debt, funding) evaluated alone; without inventory or a pair it says why.
    #[test]
    fn best_choice_takes_the_most_profitable_pair_and_funding() {
        let e18 = 10u128.pow(18);
        let mut r = reserves(2000);
        // A third reserve: an 8-decimal collateral at 40,000 USD with a 10 % bonus.
        r.push(Reserve {
            ltv: 7000,
            liquidation_threshold: 7500,
            liquidation_bonus: 11000,
            decimals: 8,
            price: U256::from(40_000u64) * U256::from(100_000_000u64),
        });
        let b = Borrower {
            user: Address::ZERO,
            collateral: vec![U256::from(5 * e18), U256::ZERO, U256::from(50_000_000u64)],
            debt: vec![U256::ZERO, U256::from(24_000_000_000u128), U256::ZERO],
        };
        assert!(lending::account_data(&r, &b.collateral, &b.debt).health_factor < U256::from(lending::WAD));
        let pools = [
            (0usize, (U256::from(1000 * e18), U256::from(2_000_000_000_000u128))),
            (2, (U256::from(50u128 * 100_000_000), U256::from(2_000_000_000_000u128))),
        ];
        let pool_of = |c: usize| pools.iter().find(|p| p.0 == c).map(|p| p.1);
        let route =
            |c: usize, d: usize| (d == 1).then(|| pool_of(c)).flatten().map(|h| Route { hops: vec![h], fee_bps: 30 });
        let pair = |c: usize, d: usize| (d == 1).then(|| pool_of(c)).flatten();
        let flash = |c: usize, d: usize| pair(c, d).map(FlashRoute::Direct);
        let inventory = [U256::ZERO, U256::from(1_000_000_000_000u128), U256::ZERO];
        let m = Market {
            reserves: &r,
            route: &route,
            flash: &flash,
            fee_bps: 30,
            inventory: &inventory,
            gas_base: &|_| 20 * 100_000_000,
            min_profit_base: 0,
        };
        let c = best_choice(&m, &b).unwrap();
        let mut every = Vec::new();
        for coll in [0, 2] {
            let s = best_sale(&r, &b, coll, 1, &route(coll, 1).unwrap(), inventory[1]).unwrap();
            every.push(base_value(&r[1], s.gross()));
            let (f, repay) = best_flash(&r, &b, coll, 1, pair(coll, 1).unwrap(), 30).unwrap();
            every.push(base_value(&r[coll], f.seized.saturating_to::<i128>() - repay.saturating_to::<i128>()));
        }
        assert_eq!(c.gross_base, *every.iter().max().unwrap(), "{every:?}");
        assert_eq!(c.net_base, c.gross_base - 20 * 100_000_000);
        // No flash pairs and no inventory: nothing can fund it.
        let none = |_: usize, _: usize| None;
        let empty = [U256::ZERO; 3];
        let m = Market { flash: &none, inventory: &empty, ..m };
        assert_eq!(best_choice(&m, &b), Err(Skip::InsufficientInventory));
        // A healthy borrower is never a choice.
        let healthy = Borrower { debt: vec![U256::ZERO, U256::from(1_000_000u64), U256::ZERO], ..b };
        assert_eq!(best_choice(&m, &healthy), Err(Skip::HealthFactorAbove1));
    }

    /// With single-pair and multi-asset borrowers over three reserves, updates of one price and
    /// then another (as the engine applies them) find every borrower the updates made
    /// liquidatable; multi-asset borrowers are indexed only under the assets they hold.
    #[test]
    fn affected_borrowers_over_several_assets_cover_every_newly_liquidatable_one() {
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(8);
        let mut r = reserves(3000);
        r.push(Reserve {
            ltv: 7300,
            liquidation_threshold: 7800,
            liquidation_bonus: 10500,
            decimals: 8,
            price: U256::from(60_000u64) * U256::from(100_000_000u64),
        });
        let borrowers: Vec<Borrower> = (0..2_000)
            .map(|i| {
                let (eth, btc) = match i % 3 {
                    0 => (rng.random_range(1.0..50.0), 0.0),
                    1 => (0.0, rng.random_range(0.05..2.5)),
                    _ => (rng.random_range(1.0..25.0), rng.random_range(0.05..1.2)),
                };
                let value = eth * 3000.0 * 0.825 + btc * 60_000.0 * 0.78;
                let debt = value / rng.random_range(1.0..1.5) * 1e6;
                Borrower {
                    user: Address::with_last_byte((i % 251) as u8),
                    collateral: vec![U256::from((eth * 1e18) as u128), U256::ZERO, U256::from((btc * 1e8) as u128)],
                    debt: vec![U256::ZERO, U256::from(debt as u128), U256::ZERO],
                }
            })
            .collect();
        let w = WatchList::new(&r, borrowers);
        assert!(w.complex.get(&2).is_some_and(|h| h.len() > 600) && !w.complex.contains_key(&3));
        for (eth, btc) in [(2900u64, 59_000u64), (2700, 52_000), (2950, 45_000)] {
            let before = r.clone();
            r[0].price = U256::from(eth) * U256::from(100_000_000u64);
            let mut found = w.affected(&r, 0, before[0].price);
            r[2].price = U256::from(btc) * U256::from(100_000_000u64);
            found.extend(w.affected(&r, 2, before[2].price));
            found.sort_unstable();
            found.dedup();
            let newly: Vec<usize> =
                (0..w.borrowers.len()).filter(|&i| w.liquidatable(&r, i) && !w.liquidatable(&before, i)).collect();
            let found_now: Vec<usize> = found.iter().copied().filter(|&i| w.liquidatable(&r, i)).collect();
            assert!(newly.iter().all(|i| found_now.contains(i)), "ETH {eth}, BTC {btc}");
            assert!(!newly.is_empty(), "ETH {eth}, BTC {btc}");
        }
    }
}
