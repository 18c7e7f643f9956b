//! The liquidation backtest: the lending world (borrowers, oracle updates as signed transactions
//! in the mempool, DEX pools kept at the market, rival liquidators) and the liquidation strategy
//! (watch list, candidates, several liquidations per borrower, bribe, learned gas), run by the one
//! driver: on each update the strategy finds the newly liquidatable borrowers, sizes each against
//! the pools, and asks for the bundle [oracle updates, liquidations…, bribe]; the world's bundle
//! manager simulates it, checks our flows to the wei and sends it over HTTP to the relay to land in
//! the update's block.

use std::collections::BTreeMap;

use super::driver;
use super::journal::Journal;
pub use super::lending_history::HealthPoint;
use super::manager::StrategyManager;
use super::queue::EventQueue;
use crate::config::RunSpec;
use crate::execution::bundle_manager::BundleStats;
use crate::risk::RiskGate;
pub use crate::sim::lending::LiquidationRunError;
use crate::sim::lending::{LendingFlow, LendingSimWorld};
pub use crate::strategies::liquidation_strategy::LiquidationRecord;
use crate::strategies::liquidation_strategy::{LiquidationSetup, LiquidationStrategy};

pub struct LiquidationResult {
    pub records: Vec<LiquidationRecord>,
    pub symbols: Vec<String>,
    pub blocks: u64,
    pub oracle_updates: u64,
    pub borrowers: u32,
    pub unhealthy_at_end: u64,
    /// Of those, how many have no liquidation that pays its gas and the minimum profit at the
    /// end's prices and pools (the ones a liquidator rightly leaves alone).
    pub unhealthy_unprofitable_at_end: u64,
    /// Debt above collateral value, in base units.
    pub bad_debt_base: u128,
    /// Per reserve token, then ETH (last): at the start, as booked, and on the chain.
    pub initial: Vec<u128>,
    pub booked: Vec<u128>,
    pub on_chain: Vec<u128>,
    pub bundles_submitted: u64,
    pub bundles_included: u64,
    pub simulation_failed: u64,
    pub rival_liquidations: u64,
    /// Liquidatable borrowers passed over, by reason, once per evaluation.
    pub skips: BTreeMap<String, u64>,
    pub timeline: Vec<HealthPoint>,
    /// In a replay: (our block, recorded block) where each recorded row took effect.
    pub replay_blocks: Vec<(u64, u64)>,
    /// Bundles the risk gate refused, by `RiskReject`.
    pub risk_rejects: [u64; crate::risk::RiskReject::ALL.len()],
    pub risk: crate::report::RiskOutcome,
    pub journal: Journal,
}

pub fn run(spec: &RunSpec) -> Result<LiquidationResult, LiquidationRunError> {
    run_journaled(spec, Journal::default())
}

/// `run`, filling `journal` (e.g. one that logs every event, for a file journal).
pub fn run_journaled(spec: &RunSpec, mut journal: Journal) -> Result<LiquidationResult, LiquidationRunError> {
    let mut world = LendingSimWorld::new(spec)?;
    let setup = LiquidationSetup {
        spec: spec.liquidation.clone(),
        slot: 0,
        world: world.flow.w.book.clone(),
        reserves: world.flow.reserves.clone(),
        borrowers: world.flow.borrowers.clone(),
        initial: world.flow.initial.clone(),
        base_fee: world.base_fee(),
        quote_decimals: spec.quote_decimals,
        operator: world.operator_address(),
        us: world.desk.manager.address(),
        genesis_ts: crate::market::dex::GENESIS_TIMESTAMP,
    };
    let mut strategies = StrategyManager::default();
    strategies.register(Box::new(LiquidationStrategy::new(setup)), true);
    let mut risk = RiskGate::new(spec.safety.clone());
    let mut queue = EventQueue::new();
    driver::drive(&mut world, &mut queue, &mut strategies, &mut risk, &mut journal, spec.duration, &mut |_| {});
    let s = strategies.strategies[0]
        .strategy
        .as_any()
        .downcast_ref::<LiquidationStrategy>()
        .ok_or(LiquidationRunError::Internal("the liquidation strategy is not the first registered"))?;
    let (unhealthy, unprofitable, bad_debt) = s.end_state(&world);
    let blocks = world.blocks();
    let (world, on_chain, bundle_stats) = world.finish()?;
    let wallet = [s.initial.clone(), s.booked.clone(), on_chain];
    Ok(result_of(&world, s, blocks, (unhealthy, unprofitable, bad_debt), wallet, &bundle_stats, &risk, journal))
}

/// What a lending flow and its liquidation strategy come to. `wallet` is (initial, booked, on
/// chain) per token then ETH and `bundles` the strategy's bundle counts (a combined run gives the
/// shared wallet's and its own strategy's); `end` is `LiquidationStrategy::end_state`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn result_of(
    flow: &LendingFlow<'_>,
    s: &LiquidationStrategy,
    blocks: u64,
    end: (u64, u64, u128),
    wallet: [Vec<u128>; 3],
    bundles: &BundleStats,
    risk: &RiskGate,
    journal: Journal,
) -> LiquidationResult {
    let (records, timeline) = flow.report_records(&s.records, blocks);
    let [initial, booked, on_chain] = wallet;
    LiquidationResult {
        records,
        symbols: flow.w.tokens.iter().map(|t| t.symbol.clone()).collect(),
        blocks,
        oracle_updates: flow.updates_posted,
        borrowers: flow.borrowers.len() as u32,
        unhealthy_at_end: end.0,
        unhealthy_unprofitable_at_end: end.1,
        bad_debt_base: end.2,
        initial,
        booked,
        on_chain,
        bundles_submitted: bundles.submitted,
        bundles_included: bundles.included,
        simulation_failed: bundles.simulation_failed,
        rival_liquidations: flow.rival_wins,
        skips: s.skips.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        timeline,
        replay_blocks: flow.replay_blocks.clone(),
        risk_rejects: risk.rejects,
        risk: crate::report::RiskOutcome::of(risk),
        journal,
    }
}
