//! The strategy seam: pure, synchronous, deterministic. A strategy sees the world through `Ctx` and
//! answers with `Action`s; backtest, fork and live differ only in what feeds the `MarketView`.

use alloy_primitives::U256;

use super::{Action, AssetId, BlockInfo, Event, PoolId, SimTime, VenueId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StrategyId(pub &'static str);

#[derive(Debug, thiserror::Error)]
pub enum StrategyError {
    #[error("strategy {strategy}: {message}")]
    Invalid { strategy: &'static str, message: String },
}

pub trait Strategy: Send {
    fn id(&self) -> StrategyId;
    /// The strategy's own state, for the report at the end of a run.
    fn as_any(&self) -> &dyn std::any::Any;
    fn on_event(&mut self, event: &Event, ctx: &mut Ctx<'_>, out: &mut Vec<Action>) -> Result<(), StrategyError>;
}

/// Deepest book a snapshot carries. Fixed so snapshots are plain arrays (no allocation per quote).
pub const MAX_DEPTH: usize = 16;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Level {
    pub price_ticks: u64,
    pub lots: u64,
}

/// One side-pair of an L2 book: bids best (highest) first, asks best (lowest) first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookSnapshot {
    pub venue: VenueId,
    pub seq: u64,
    /// When the venue produced it.
    pub exchange_time: SimTime,
    /// When our feed received it.
    pub received_at: SimTime,
    pub bids: [Level; MAX_DEPTH],
    pub asks: [Level; MAX_DEPTH],
    pub n_bids: u8,
    pub n_asks: u8,
}

impl BookSnapshot {
    pub fn empty(venue: VenueId) -> Self {
        BookSnapshot {
            venue,
            seq: 0,
            exchange_time: 0,
            received_at: 0,
            bids: [Level::default(); MAX_DEPTH],
            asks: [Level::default(); MAX_DEPTH],
            n_bids: 0,
            n_asks: 0,
        }
    }
    pub fn bids(&self) -> &[Level] {
        &self.bids[..self.n_bids as usize]
    }
    pub fn asks(&self) -> &[Level] {
        &self.asks[..self.n_asks as usize]
    }
    pub fn best_bid(&self) -> Option<Level> {
        self.bids().first().copied()
    }
    pub fn best_ask(&self) -> Option<Level> {
        self.asks().first().copied()
    }
    /// Mid in ticks ×2 (kept integer: (bid + ask)).
    pub fn mid_ticks_x2(&self) -> Option<u64> {
        Some(self.best_bid()?.price_ticks + self.best_ask()?.price_ticks)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssetSpec {
    pub id: AssetId,
    pub symbol: String,
    pub decimals: u32,
}

/// What a strategy needs to know about a CEX venue to price a trade on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CexSpec {
    pub id: VenueId,
    pub name: String,
    pub asset: AssetId,
    pub taker_fee_bps: u32,
    /// Quote raw units per tick per lot: notional of `lots` at `ticks` is `ticks × lots × this`.
    pub quote_per_tick_lot: u128,
    /// Base raw units per lot.
    pub lot_base_raw: u128,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolSpec {
    pub id: PoolId,
    pub name: String,
    pub asset: AssetId,
    pub fee_bps: u32,
    /// Gas a router swap on this pool uses when it succeeds.
    pub swap_gas: u64,
}

/// Balances the searcher holds, per venue and in its on-chain wallet, in raw units.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    pub cex_base: Vec<u128>,
    pub cex_quote: Vec<u128>,
    /// Indexed by `AssetId` (the wrapped token, e.g. WETH).
    pub wallet_base: Vec<u128>,
    pub wallet_quote: u128,
    /// Native coin for gas.
    pub wallet_native: u128,
}

/// No balances anywhere: what a world whose strategies keep their own books shows.
pub static NO_INVENTORY: Inventory = Inventory {
    cex_base: Vec::new(),
    cex_quote: Vec::new(),
    wallet_base: Vec::new(),
    wallet_quote: 0,
    wallet_native: 0,
};

/// The world as of `Ctx::now`: feed-accepted books, pool reserves as of the last block, balances.
pub trait MarketView {
    fn assets(&self) -> &[AssetSpec];
    fn quote_decimals(&self) -> u32;
    fn venues(&self) -> &[CexSpec];
    fn pools(&self) -> &[PoolSpec];
    /// The last snapshot the price feed accepted for this venue.
    fn book(&self, venue: VenueId) -> Option<&BookSnapshot>;
    /// (base reserve, quote reserve) after the last mined block.
    fn reserves(&self, pool: PoolId) -> (U256, U256);
    fn block(&self) -> BlockInfo;
    fn inventory(&self) -> &Inventory;
    /// Quote raw units per whole base unit of `asset`, from the feed (median of venue mids). Used to
    /// convert gas into quote; `None` before any quote arrived.
    fn mark_price(&self, asset: AssetId) -> Option<u128>;
}

/// Why a detected opportunity was not taken. Every skip carries exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// Spread exists at the top of book but no size is profitable after fees, slippage and gas.
    UnprofitableAfterCosts,
    BelowMinProfitUsd,
    BelowMinProfitPct,
    /// Quote older than `latency_threshold_ms` when the decision would be made.
    StaleQuote,
    /// All `max_concurrent_trades` slots busy.
    ConcurrencyLimit,
    /// Not enough base or quote on the venue that would pay.
    InsufficientInventory,
    /// Another trade already has an order in flight on one of the venues.
    VenueBusy,
    /// Safety: position cap, daily gas budget or emergency stop.
    RiskLimit,
    /// The EVM simulation of the bundle reverted or disagreed with the prediction: never sent.
    SimulationFailed,
}

impl SkipReason {
    pub const ALL: [SkipReason; 9] = [
        SkipReason::UnprofitableAfterCosts,
        SkipReason::BelowMinProfitUsd,
        SkipReason::BelowMinProfitPct,
        SkipReason::StaleQuote,
        SkipReason::ConcurrencyLimit,
        SkipReason::InsufficientInventory,
        SkipReason::VenueBusy,
        SkipReason::RiskLimit,
        SkipReason::SimulationFailed,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::UnprofitableAfterCosts => "unprofitable_after_costs",
            SkipReason::BelowMinProfitUsd => "below_min_profit_usd",
            SkipReason::BelowMinProfitPct => "below_min_profit_percentage",
            SkipReason::StaleQuote => "stale_quote",
            SkipReason::ConcurrencyLimit => "concurrency_limit",
            SkipReason::InsufficientInventory => "insufficient_inventory",
            SkipReason::VenueBusy => "venue_busy",
            SkipReason::RiskLimit => "risk_limit",
            SkipReason::SimulationFailed => "simulation_failed",
        }
    }
}

/// Opportunity accounting a strategy writes through `Ctx`. A spread that lasts over many quotes is
/// one opportunity (`episodes`) evaluated many times (`seen`: each evaluation is taken or skipped).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpportunityStats {
    pub episodes: u64,
    pub seen: u64,
    pub taken: u64,
    pub skipped: [u64; SkipReason::ALL.len()],
}

/// Which routes (a buy leg and a sell leg, by index) show a spread right now: a new episode starts
/// when a route's spread appears and ends when it goes.
#[derive(Clone, Debug, Default)]
pub struct Episodes {
    open: Vec<bool>,
    width: usize,
}

impl Episodes {
    /// Records whether route (`buy`, `sell`) of `width` legs shows a spread; true when one starts.
    #[inline]
    pub fn observe(&mut self, buy: usize, sell: usize, width: usize, spread: bool) -> bool {
        if self.width != width {
            self.open = vec![false; width * width];
            self.width = width;
        }
        let slot = &mut self.open[buy * width + sell];
        let started = spread && !*slot;
        *slot = spread;
        started
    }
}

impl OpportunityStats {
    pub fn skip(&mut self, reason: SkipReason) {
        self.skipped[reason as usize] += 1;
    }
    pub fn skipped_total(&self) -> u64 {
        self.skipped.iter().sum()
    }
}

pub struct Ctx<'a> {
    pub now: SimTime,
    pub market: &'a dyn MarketView,
    pub chain: &'a dyn super::ChainView,
    /// Trade slots the executor can still open (its semaphore's free permits).
    pub free_trade_slots: usize,
    /// Venues with an order of ours in flight (a second order would race the first).
    pub busy: &'a dyn Fn(crate::core::LegVenue) -> bool,
    pub opportunities: &'a mut OpportunityStats,
}

#[cfg(test)]
mod tests {
    use super::Episodes;

    #[test]
    fn a_spread_is_one_episode_however_long_it_lasts() {
        let mut e = Episodes::default();
        let seen = [true, true, true, false, true, false, false, true];
        let started: Vec<bool> = seen.iter().map(|&s| e.observe(0, 1, 2, s)).collect();
        assert_eq!(started, [true, false, false, false, true, false, false, true]);
        // Routes are apart: the reverse route has its own episodes.
        assert!(e.observe(1, 0, 2, true));
        assert!(!e.observe(0, 1, 2, true), "route (0, 1) is still open");
    }
}
