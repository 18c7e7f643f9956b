//! Domain types and the seams every mode shares. No tokio, no polars, no revm in here.

pub mod amount;
pub mod bundle;
pub mod event;
pub mod rng;
pub mod strategy;

pub use amount::{AmountError, format_units, parse_amount, parse_duration};
pub use bundle::{
    BundleReport, BundleRequest, BundleStatus, BundleTx, ChainView, Contest, DexBook, NoChain, OurTxEffect, TxId,
};
pub use event::{Action, ArbPlan, AtomicPlan, BUILD_DEADLINE, BlockInfo, Event, LegOrder, LegVenue, Side};
pub use strategy::{BookSnapshot, Ctx, Level, MAX_DEPTH, MarketView, SkipReason, Strategy, StrategyError, StrategyId};

/// Simulated time in nanoseconds since the start of the run.
pub type SimTime = u64;

pub const NANOS_PER_MS: u64 = 1_000_000;
pub const NANOS_PER_SEC: u64 = 1_000_000_000;

/// Index of a CEX venue in the market (stable for a run: the scenario's order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VenueId(pub u16);

/// Index of a DEX pool in the market (stable for a run: the scenario's order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PoolId(pub u16);

/// Index of a base asset (ETH, BTC, ...). Every pair in a run is quoted in the run's one quote asset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AssetId(pub u16);

/// Raw on-chain units of the quote asset (e.g. USDC with 6 decimals). Signed so P&L can be negative.
pub type QuoteRaw = i128;
/// Raw units of a base asset (e.g. wei for ETH).
pub type BaseRaw = u128;
/// Wei of the chain's native asset (gas is paid in it).
pub type Wei = u128;

/// Gas limit of a block (mainnet's 30 M); the EIP-1559 target is half of it.
pub const BLOCK_GAS_LIMIT: u64 = 30_000_000;

/// The next block's base fee by EIP-1559's integer rule: it moves by up to 1/8 towards how far the
/// parent's gas used is from the target (half the limit); an increase is at least 1 wei.
pub fn next_base_fee(parent_base_fee: Wei, gas_used: u64, gas_limit: u64) -> Wei {
    let target = u128::from(gas_limit / 2).max(1);
    let used = u128::from(gas_used);
    let change = |diff: u128| -> Wei {
        // base * diff / target / 8 in U256: base fees are u128 but the product need not fit.
        let v = alloy_primitives::U256::from(parent_base_fee) * alloy_primitives::U256::from(diff)
            / alloy_primitives::U256::from(target)
            / alloy_primitives::U256::from(8u8);
        v.saturating_to()
    };
    match used.cmp(&target) {
        std::cmp::Ordering::Equal => parent_base_fee,
        std::cmp::Ordering::Greater => parent_base_fee.saturating_add(change(used - target).max(1)),
        std::cmp::Ordering::Less => parent_base_fee - change(target - used),
    }
}

/// Gas paid in wei, in quote raw units at `mark` (quote raw per whole native coin), rounded up so a
/// cost is never understated.
pub fn wei_to_quote(wei: Wei, mark: u128) -> u128 {
    let v = alloy_primitives::U256::from(wei) * alloy_primitives::U256::from(mark);
    v.div_ceil(alloy_primitives::U256::from(1_000_000_000_000_000_000u128)).saturating_to()
}

/// `raw` (a signed amount of the base token, `decimals` of them a whole unit) in quote raw units at
/// `mark` (quote raw per whole unit), truncated toward zero as integer division is; in 256 bits,
/// so an 18-decimal quote token's marks do not overflow, and saturating at the i128 range.
pub fn base_to_quote(raw: i128, mark: u128, decimals: u32) -> i128 {
    use alloy_primitives::U256;
    let v = U256::from(raw.unsigned_abs()) * U256::from(mark) / U256::from(10u8).pow(U256::from(decimals));
    let v: i128 = v.try_into().unwrap_or(i128::MAX);
    if raw < 0 { -v } else { v }
}

#[cfg(test)]
mod tests {
    #[test]
    fn base_converts_to_quote_as_i128_division_does_without_overflow() {
        for (raw, mark) in [(7i128, 3_000_000_000u128), (-7, 3_000_000_000), (123_456_789_012_345_678, 2_999_999_999)] {
            assert_eq!(super::base_to_quote(raw, mark, 18), raw * mark as i128 / 10i128.pow(18));
        }
        // A DAI-quoted pool: 1 ETH at 3,000 DAI (18 decimals) overflows i128 in a plain product.
        let e18 = 10i128.pow(18);
        assert_eq!(super::base_to_quote(5 * e18, 3_000 * 10u128.pow(18), 18), 15_000 * e18);
        assert_eq!(super::base_to_quote(-5 * e18, 3_000 * 10u128.pow(18), 18), -15_000 * e18);
    }

    #[test]
    fn gas_converts_to_quote_rounding_up() {
        // 0.00264 ETH at 3000.000000 USDC is exactly 7.92 USDC.
        assert_eq!(super::wei_to_quote(2_640_000_000_000_000, 3_000_000_000), 7_920_000);
        assert_eq!(super::wei_to_quote(1, 3_000_000_000), 1);
        assert_eq!(super::wei_to_quote(0, 3_000_000_000), 0);
    }
}

#[cfg(test)]
mod base_fee_tests {
    use super::*;

    #[test]
    fn eip1559_integer_rule() {
        let g = 1_000_000_000u128;
        // Full block: +12.5 %; empty: −12.5 %; at target: unchanged.
        assert_eq!(next_base_fee(8 * g, BLOCK_GAS_LIMIT, BLOCK_GAS_LIMIT), 9 * g);
        assert_eq!(next_base_fee(8 * g, 0, BLOCK_GAS_LIMIT), 7 * g);
        assert_eq!(next_base_fee(8 * g, BLOCK_GAS_LIMIT / 2, BLOCK_GAS_LIMIT), 8 * g);
        // An increase is at least one wei, a decrease can round to nothing at tiny fees.
        assert_eq!(next_base_fee(7, BLOCK_GAS_LIMIT / 2 + 1, BLOCK_GAS_LIMIT), 8);
        assert_eq!(next_base_fee(7, 0, BLOCK_GAS_LIMIT), 7);
        // Integer division truncates: 100 wei at 3/4 full rises by 100 * 7.5M / 15M / 8 = 6.25 → 6.
        assert_eq!(next_base_fee(100, 22_500_000, BLOCK_GAS_LIMIT), 106);
        // Huge fees do not overflow the intermediate product.
        assert_eq!(next_base_fee(u128::MAX / 2, BLOCK_GAS_LIMIT, BLOCK_GAS_LIMIT), u128::MAX / 2 + u128::MAX / 16);
    }
}
