//! The CEX/DEX backtest: wires the market world, its strategies and the risk gate into the driver
//! and runs a scenario to its end. Everything it returns is a pure function of the
//! `RunSpec` except `BacktestResult::wall`.

use super::driver::{self, Source};
use super::journal::Journal;
use super::manager::{StrategyManager, StrategyStats};
use super::queue::{EventQueue, SimEvent};
use crate::config::RunSpec;
use crate::core::{LegVenue, SimTime, StrategyId};
use crate::execution::{ExecStats, TradeRecord};
use crate::market::dex::BlockStats;
use crate::market::feed::FeedStats;
use crate::market::pool_engine::PoolEngine;
use crate::risk::RiskGate;
use crate::sim::market::MarketWorld;
use crate::strategies::{CrossDex, MicroArbitrage};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EquityPoint {
    pub time: SimTime,
    pub block: u64,
    /// Mark-to-market P&L versus the starting inventory, quote raw units.
    pub equity: i128,
    /// Fundamental price used as the mark, quote raw per whole base.
    pub mark: u128,
}

#[derive(Clone, Debug)]
pub struct StrategyOutcome {
    pub id: StrategyId,
    pub enabled: bool,
    pub stats: StrategyStats,
    pub wall_ns_samples: crate::market::latency::LatencySketch,
}

/// Wall-clock measurements: kept apart because they differ from run to run.
#[derive(Clone, Debug, Default)]
pub struct WallTiming {
    pub run_ns: u64,
}

/// Our wallet at the end of an EVM run: the balances the books say (wrapped base, quote, native
/// coin) next to what the chain holds. They must agree to the wei.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WalletCheck {
    pub booked: [u128; 3],
    pub on_chain: [u128; 3],
}

pub struct BacktestResult {
    /// `None` with the math engine (no chain to compare with).
    pub wallet: Option<WalletCheck>,
    pub trades: Vec<TradeRecord>,
    pub equity: Vec<EquityPoint>,
    pub strategies: Vec<StrategyOutcome>,
    pub exec: ExecStats,
    pub feed: FeedStats,
    pub blocks: u64,
    pub block_stats: BlockStats,
    pub final_base_fee_wei: u128,
    pub events_processed: u64,
    pub order_latencies: Vec<u64>,
    pub feed_latencies: crate::market::latency::LatencySketch,
    pub completion_latencies: Vec<u64>,
    pub quote_ages: Vec<u64>,
    pub risk_rejects: [u64; crate::risk::RiskReject::ALL.len()],
    pub emergency_stop_at: Option<SimTime>,
    pub risk: crate::report::RiskOutcome,
    pub outliers_published: u64,
    pub venue_names: Vec<String>,
    pub pool_names: Vec<String>,
    /// What the strategies saw and asked for, and what was decided.
    pub journal: Journal,
    pub wall: WallTiming,
}

impl BacktestResult {
    pub fn venue_name(&self, v: LegVenue) -> &str {
        match v {
            LegVenue::Cex(c) => &self.venue_names[c.0 as usize],
            LegVenue::Dex(p) => &self.pool_names[p.0 as usize],
        }
    }
}

/// Runs `spec` to completion. `progress` is called now and then with the simulated time reached.
pub fn run(spec: &RunSpec, progress: &mut dyn FnMut(SimTime)) -> Result<BacktestResult, crate::chain::ChainError> {
    run_journaled(spec, Journal::default(), progress)
}

/// `run`, filling `journal` (e.g. one that logs every event, for a file journal).
pub fn run_journaled(
    spec: &RunSpec,
    journal: Journal,
    progress: &mut dyn FnMut(SimTime),
) -> Result<BacktestResult, crate::chain::ChainError> {
    let mut queue = EventQueue::new();
    run_from_with(spec, &mut queue, journal, progress)
}

/// Runs `spec` on the events `source` gives: the world's own queue in a backtest, or a channel fed
/// by other tasks (the live boundary; a test feeds a recorded run through it).
pub fn run_from(
    spec: &RunSpec,
    source: &mut dyn Source<SimEvent>,
    progress: &mut dyn FnMut(SimTime),
) -> Result<BacktestResult, crate::chain::ChainError> {
    run_from_with(spec, source, Journal::default(), progress)
}

/// A backtest whose chain starts from real state (`[chain.fork]`) read through `rpc` (e.g. a
/// recorder around a node) rather than where `[chain.fork]` says.
pub fn run_forked(
    spec: &RunSpec,
    rpc: crate::chain::rpc::RpcSource,
    progress: &mut dyn FnMut(SimTime),
) -> Result<BacktestResult, crate::chain::ChainError> {
    let wall_start = std::time::Instant::now();
    let world = MarketWorld::with_source(spec, Some(rpc))?;
    drive_market(spec, world, &mut EventQueue::new(), Journal::default(), progress, wall_start)
}

fn run_from_with(
    spec: &RunSpec,
    source: &mut dyn Source<SimEvent>,
    journal: Journal,
    progress: &mut dyn FnMut(SimTime),
) -> Result<BacktestResult, crate::chain::ChainError> {
    let wall_start = std::time::Instant::now();
    drive_market(spec, MarketWorld::new(spec)?, source, journal, progress, wall_start)
}

fn drive_market(
    spec: &RunSpec,
    mut world: MarketWorld<'_>,
    source: &mut dyn Source<SimEvent>,
    mut journal: Journal,
    progress: &mut dyn FnMut(SimTime),
    wall_start: std::time::Instant,
) -> Result<BacktestResult, crate::chain::ChainError> {
    let mut strategies = StrategyManager::default();
    strategies.register(Box::new(MicroArbitrage::new(spec.micro.clone())), spec.micro.enabled);
    strategies.register(Box::new(CrossDex::new(spec.cross_dex.clone())), spec.cross_dex.enabled && spec.dex.len() >= 2);
    let mut risk = RiskGate::new(spec.safety.clone());
    let drive = driver::drive(&mut world, source, &mut strategies, &mut risk, &mut journal, spec.duration, progress);
    progress(spec.duration);
    let outcomes = outcomes(strategies, 0..2);
    market_result(spec, world, outcomes, &risk, journal, drive.events, wall_start)
}

/// The registered strategies `range` (registration order) as the report shows them.
pub(crate) fn outcomes(strategies: StrategyManager, range: std::ops::Range<usize>) -> Vec<StrategyOutcome> {
    let ids = strategies.ids();
    strategies
        .strategies
        .into_iter()
        .zip(ids)
        .enumerate()
        .filter(|(i, _)| range.contains(i))
        .map(|(_, (r, id))| StrategyOutcome {
            id,
            enabled: r.enabled,
            stats: r.stats,
            wall_ns_samples: r.wall_ns_samples,
        })
        .collect()
}

/// What the market world's run comes to, once the driver is done with it.
pub(crate) fn market_result(
    spec: &RunSpec,
    mut world: MarketWorld<'_>,
    strategies: Vec<StrategyOutcome>,
    risk: &RiskGate,
    journal: Journal,
    events: u64,
    wall_start: std::time::Instant,
) -> Result<BacktestResult, crate::chain::ChainError> {
    world.close_equity();
    let MarketWorld { mut sim, exec, equity, quote_ages, .. } = world;

    if let Some(e) = sim.chain.engine.evm().and_then(|evm| evm.read_failure()) {
        return Err(crate::chain::ChainError::Fork(format!("reading the forked state: {e}")));
    }
    let wallet = match &mut sim.chain.engine {
        PoolEngine::Evm(evm) => {
            let (base, quote, native) = evm.wallet_balances()?;
            let inv = &sim.inventory;
            Some(WalletCheck {
                booked: [inv.wallet_base[0], inv.wallet_quote, inv.wallet_native],
                on_chain: [base, quote, native].map(|v| v.saturating_to()),
            })
        }
        PoolEngine::Math => None,
    };
    Ok(BacktestResult {
        wallet,
        trades: exec.records.clone(),
        equity,
        strategies,
        exec: exec.stats,
        feed: sim.feed.stats,
        blocks: sim.chain.number - sim.chain.number_base,
        block_stats: sim.chain.stats.clone(),
        final_base_fee_wei: sim.chain.base_fee,
        events_processed: events,
        order_latencies: exec.order_latencies.clone(),
        feed_latencies: std::mem::take(&mut sim.feed_latencies),
        completion_latencies: exec.completion_latencies.clone(),
        quote_ages,
        risk_rejects: risk.rejects,
        emergency_stop_at: risk.stopped_at,
        risk: crate::report::RiskOutcome::of(risk),
        outliers_published: sim.venues.iter().map(|v| v.outliers_published).sum(),
        venue_names: spec.cex.iter().map(|c| c.name.clone()).collect(),
        pool_names: spec.dex.iter().map(|d| d.name.clone()).collect(),
        journal,
        wall: WallTiming { run_ns: wall_start.elapsed().as_nanos() as u64 },
    })
}
