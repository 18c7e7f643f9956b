//! Domain types and the seams every mode shares. No tokio, no polars, no revm in here.

pub mod amount;
pub mod event;
pub mod rng;
pub mod strategy;

pub use amount::{AmountError, format_units, parse_amount, parse_duration};
pub use event::{Action, ArbPlan, AtomicPlan, BlockInfo, Event, LegOrder, LegVenue, Side};
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

/// Gas paid in wei, in quote raw units at `mark` (quote raw per whole native coin), rounded up so a
/// cost is never understated.
pub fn wei_to_quote(wei: Wei, mark: u128) -> u128 {
    let v = alloy_primitives::U256::from(wei) * alloy_primitives::U256::from(mark);
    v.div_ceil(alloy_primitives::U256::from(1_000_000_000_000_000_000u128)).saturating_to()
}

#[cfg(test)]
mod tests {
    #[test]
    fn gas_converts_to_quote_rounding_up() {
        // 0.00264 ETH at 3000.000000 USDC is exactly 7.92 USDC.
        assert_eq!(super::wei_to_quote(2_640_000_000_000_000, 3_000_000_000), 7_920_000);
        assert_eq!(super::wei_to_quote(1, 3_000_000_000), 1);
        assert_eq!(super::wei_to_quote(0, 3_000_000_000), 0);
    }
}
