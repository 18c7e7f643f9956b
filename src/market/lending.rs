//! Aave v3's lending arithmetic, exactly as our `LendingPool` contract computes it (PercentageMath
//! half-up rounding, wad division, base-currency values floored): account data, health factor,
//! close factor and the collateral a liquidation seizes. Differential-tested against the contract.

use alloy_primitives::U256;
use revm::database::DatabaseRef;

pub const PERCENTAGE_FACTOR: u64 = 10_000;
pub const WAD: u128 = 1_000_000_000_000_000_000;
/// Below this health factor the whole debt may be liquidated at once.
pub const CLOSE_FACTOR_HF_THRESHOLD: u128 = 950_000_000_000_000_000;
pub const DEFAULT_CLOSE_FACTOR: u64 = 5_000;
pub const MAX_CLOSE_FACTOR: u64 = 10_000;

/// One reserve's risk parameters (bps) and token decimals, and its oracle price (8 decimals).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reserve {
    pub ltv: u16,
    pub liquidation_threshold: u16,
    pub liquidation_bonus: u16,
    pub decimals: u8,
    pub price: U256,
}

/// `getUserAccountData`'s six numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountData {
    pub total_collateral_base: U256,
    pub total_debt_base: U256,
    pub available_borrows_base: U256,
    pub current_liquidation_threshold: U256,
    pub ltv: U256,
    pub health_factor: U256,
}

pub fn percent_mul(value: U256, pct: U256) -> U256 {
    (value * pct + U256::from(PERCENTAGE_FACTOR / 2)) / U256::from(PERCENTAGE_FACTOR)
}

pub fn percent_div(value: U256, pct: U256) -> U256 {
    (value * U256::from(PERCENTAGE_FACTOR) + pct / U256::from(2u8)) / pct
}

pub fn wad_div(a: U256, b: U256) -> U256 {
    (a * U256::from(WAD) + b / U256::from(2u8)) / b
}

/// 10^decimals from a table (a 256-bit `pow` per call was a fifth of the liquidation hot path).
pub fn unit(decimals: u8) -> U256 {
    static POW10: std::sync::OnceLock<[U256; 78]> = std::sync::OnceLock::new();
    let table = POW10.get_or_init(|| {
        let mut t = [U256::from(1u8); 78];
        for i in 1..78 {
            t[i] = t[i - 1] * U256::from(10u8);
        }
        t
    });
    table.get(usize::from(decimals)).copied().unwrap_or_else(|| U256::from(10u8).pow(U256::from(decimals)))
}

/// Account data for balances `collateral[i]`, `debt[i]` of `reserves[i]`, in reserve order.
pub fn account_data(reserves: &[Reserve], collateral: &[U256], debt: &[U256]) -> AccountData {
    let (mut coll, mut dbt, mut ltv, mut lt) = (U256::ZERO, U256::ZERO, U256::ZERO, U256::ZERO);
    for (i, r) in reserves.iter().enumerate() {
        let (c, d) = (collateral.get(i).copied().unwrap_or_default(), debt.get(i).copied().unwrap_or_default());
        if c.is_zero() && d.is_zero() {
            continue;
        }
        let u = unit(r.decimals);
        if !c.is_zero() {
            let base = c * r.price / u;
            coll += base;
            ltv += base * U256::from(r.ltv);
            lt += base * U256::from(r.liquidation_threshold);
        }
        if !d.is_zero() {
            dbt += d * r.price / u;
        }
    }
    if !coll.is_zero() {
        ltv /= coll;
        lt /= coll;
    }
    let health_factor = if dbt.is_zero() { U256::MAX } else { wad_div(percent_mul(coll, lt), dbt) };
    let capacity = percent_mul(coll, ltv);
    AccountData {
        total_collateral_base: coll,
        total_debt_base: dbt,
        available_borrows_base: capacity.saturating_sub(dbt),
        current_liquidation_threshold: lt,
        ltv,
        health_factor,
    }
}

/// Share of a debt one liquidation may repay (bps): half, or all of it below HF 0.95.
pub fn close_factor(health_factor: U256) -> u64 {
    if health_factor > U256::from(CLOSE_FACTOR_HF_THRESHOLD) { DEFAULT_CLOSE_FACTOR } else { MAX_CLOSE_FACTOR }
}

/// (collateral seized, debt repaid) for repaying `debt_to_cover` of `debt` against `collateral`
/// holding `user_collateral`: the contract's `calculateAvailableCollateralToLiquidate`.
pub fn collateral_to_liquidate(
    collateral: &Reserve,
    debt: &Reserve,
    debt_to_cover: U256,
    user_collateral: U256,
) -> (U256, U256) {
    let (cu, du) = (unit(collateral.decimals), unit(debt.decimals));
    let base = debt.price * debt_to_cover * cu / (collateral.price * du);
    let max_collateral = percent_mul(base, U256::from(collateral.liquidation_bonus));
    if max_collateral > user_collateral {
        let needed = percent_div(
            collateral.price * user_collateral * du / (debt.price * cu),
            U256::from(collateral.liquidation_bonus),
        );
        (user_collateral, needed)
    } else {
        (max_collateral, debt_to_cover)
    }
}

/// Aave v3 mainnet's WETH and USDC risk parameters: (LTV, liquidation threshold, bonus) in bps.
pub const WETH_PARAMS: (u16, u16, u16) = (8000, 8250, 10500);
pub const QUOTE_PARAMS: (u16, u16, u16) = (7700, 8000, 10450);
/// One unit of the oracle's base currency (USD, 8 decimals).
pub const USD: u64 = 100_000_000;

/// Our lending pool and its oracle on a chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LendingMarket {
    pub pool: alloy_primitives::Address,
    pub oracle: alloy_primitives::Address,
}

/// Deploys a `PriceOracle` and a `LendingPool` owned by `owner` with two reserves — `weth` (18
/// decimals, WETH parameters) at `weth_price` and `quote` (quote parameters) at 1 USD — and returns
/// them with the matching `Reserve`s for the Rust side, in that order.
pub fn deploy_market<X: DatabaseRef>(
    chain: &mut crate::chain::SimChain<X>,
    owner: alloy_primitives::Address,
    weth: alloy_primitives::Address,
    quote: alloy_primitives::Address,
    quote_decimals: u8,
    weth_price: U256,
) -> Result<(LendingMarket, Vec<Reserve>), crate::chain::ChainError> {
    let r = |(ltv, liquidation_threshold, liquidation_bonus): (u16, u16, u16), decimals, price| Reserve {
        ltv,
        liquidation_threshold,
        liquidation_bonus,
        decimals,
        price,
    };
    deploy_market_with(
        chain,
        owner,
        &[(weth, r(WETH_PARAMS, 18, weth_price)), (quote, r(QUOTE_PARAMS, quote_decimals, U256::from(USD)))],
    )
}

/// Deploys the oracle and the pool owned by `owner` and lists each `(asset, reserve)` in order,
/// with the oracle at the reserve's price.
pub fn deploy_market_with<X: DatabaseRef>(
    chain: &mut crate::chain::SimChain<X>,
    owner: alloy_primitives::Address,
    reserves: &[(alloy_primitives::Address, Reserve)],
) -> Result<(LendingMarket, Vec<Reserve>), crate::chain::ChainError> {
    use crate::chain::contracts::{self, ILendingPool, IPriceOracle};
    use alloy_sol_types::{SolCall, SolValue};
    let oracle = chain.deploy(owner, contracts::price_oracle(), &[])?;
    let pool = chain.deploy(owner, contracts::lending_pool(), &oracle.abi_encode())?;
    for &(asset, r) in reserves {
        let init = ILendingPool::initReserveCall {
            asset,
            ltv: r.ltv,
            liquidationThreshold: r.liquidation_threshold,
            liquidationBonus: r.liquidation_bonus,
            decimals: r.decimals,
        };
        let set = IPriceOracle::setAssetPriceCall { asset, price: r.price };
        for (to, data, what) in [(pool, init.abi_encode(), "initReserve"), (oracle, set.abi_encode(), "setAssetPrice")]
        {
            let o = chain.call(owner, to, data.into(), U256::ZERO)?;
            if !o.success {
                return Err(crate::chain::ChainError::Deploy {
                    contract: what,
                    reason: o.revert_reason.unwrap_or_default(),
                });
            }
        }
    }
    Ok((LendingMarket { pool, oracle }, reserves.iter().map(|&(_, r)| r).collect()))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LiquidationError {
    #[error("health factor not below 1")]
    Healthy,
    #[error("no debt in that asset")]
    NoDebt,
    #[error("no collateral in that asset")]
    NoCollateral,
    #[error("nothing to liquidate (dust)")]
    Nothing,
}

/// What `liquidationCall(collateral i, debt j, user, debt_to_cover)` does: (collateral seized, debt
/// repaid), or why the contract reverts.
pub fn liquidation(
    reserves: &[Reserve],
    collateral: &[U256],
    debt: &[U256],
    coll_i: usize,
    debt_j: usize,
    debt_to_cover: U256,
) -> Result<(U256, U256), LiquidationError> {
    let hf = account_data(reserves, collateral, debt).health_factor;
    if hf >= U256::from(WAD) {
        return Err(LiquidationError::Healthy);
    }
    let (user_debt, user_coll) = (debt[debt_j], collateral[coll_i]);
    if user_debt.is_zero() {
        return Err(LiquidationError::NoDebt);
    }
    if user_coll.is_zero() {
        return Err(LiquidationError::NoCollateral);
    }
    let max_debt = percent_mul(user_debt, U256::from(close_factor(hf)));
    let amount = debt_to_cover.min(max_debt);
    let (seized, repaid) = collateral_to_liquidate(&reserves[coll_i], &reserves[debt_j], amount, user_coll);
    if seized.is_zero() || repaid.is_zero() {
        return Err(LiquidationError::Nothing);
    }
    Ok((seized, repaid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weth(price_usd: u64) -> Reserve {
        Reserve {
            ltv: 8000,
            liquidation_threshold: 8250,
            liquidation_bonus: 10500,
            decimals: 18,
            price: U256::from(price_usd) * U256::from(100_000_000u64),
        }
    }
    fn usdc() -> Reserve {
        Reserve {
            ltv: 7700,
            liquidation_threshold: 8000,
            liquidation_bonus: 10450,
            decimals: 6,
            price: U256::from(100_000_000u64),
        }
    }

    #[test]
    fn health_factor_and_close_factor_at_the_boundaries() {
        // 10 ETH at 2000 USD against 16,500 USDC: HF = 20,000 × 0.825 / 16,500 = 1.0 exactly.
        let r = [weth(2000), usdc()];
        let e18 = U256::from(WAD);
        let coll = [U256::from(10u8) * e18, U256::ZERO];
        let d = account_data(&r, &coll, &[U256::ZERO, U256::from(16_500_000_000u64)]);
        assert_eq!(d.health_factor, e18);
        assert_eq!(
            liquidation(&r, &coll, &[U256::ZERO, U256::from(16_500_000_000u64)], 0, 1, U256::MAX),
            Err(LiquidationError::Healthy)
        );
        // HF exactly 0.95 already allows 100 % (Aave: `hf > 0.95` keeps 50 %); a wei above: 50 %.
        assert_eq!(close_factor(U256::from(CLOSE_FACTOR_HF_THRESHOLD)), MAX_CLOSE_FACTOR);
        assert_eq!(close_factor(U256::from(CLOSE_FACTOR_HF_THRESHOLD + 1)), DEFAULT_CLOSE_FACTOR);
        // Liquidating half of 17,000 USDC debt seizes 8,500 × 1.05 / 2000 ETH.
        let debt = [U256::ZERO, U256::from(17_000_000_000u64)];
        let (seized, repaid) = liquidation(&r, &coll, &debt, 0, 1, U256::MAX).unwrap();
        assert_eq!(repaid, U256::from(8_500_000_000u64));
        assert_eq!(seized, U256::from(4_462_500_000_000_000_000u128));
    }
}
