//! Domain types and the seams every mode shares. No tokio, no polars, no revm in here.

pub mod amount;
pub mod event;
pub mod rng;
pub mod strategy;

pub use amount::{AmountError, format_units, parse_amount, parse_duration};
pub use event::{Action, ArbPlan, BlockInfo, Event, LegOrder, LegVenue, Side};
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
