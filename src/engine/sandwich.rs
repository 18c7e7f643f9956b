//! The sandwich backtest: pending victim swaps arrive (generated or replayed from a fixture) as raw
//! signed transactions in the world's mempool; the sandwich strategy decodes them, sizes a bundle
//! per pool and the world's bundle manager signs and simulates it and sends it over real HTTP to
//! our relay, whose builder puts the winning bundles at the top of the next block; the rest of the
//! public mempool follows. Everything runs in the EVM, block by block, through the one driver.

use std::collections::BTreeMap;

use alloy_primitives::{B256, U256};

use super::driver;
use super::journal::Journal;
use super::manager::StrategyManager;
use super::queue::EventQueue;
use crate::chain::rpc::RpcSource;
use crate::config::RunSpec;
use crate::execution::bundle_manager::BundleStats;
use crate::market::dex::GENESIS_TIMESTAMP;
use crate::mempool::SwapMethod;
use crate::relay::RelayStats;
use crate::risk::RiskGate;
pub use crate::sim::sandwich::SandwichRunError;
use crate::sim::sandwich::SandwichWorld;
pub use crate::strategies::sandwich_strategy::SandwichRecord;
use crate::strategies::sandwich_strategy::SandwichStrategy;

/// A victim swap and what it cost the victim to be sandwiched, versus executing without us.
#[derive(Clone, Debug, PartialEq)]
pub struct VictimRecord {
    pub tx_hash: B256,
    pub block: Option<u64>,
    pub pool: usize,
    pub method: SwapMethod,
    pub sells_base: bool,
    pub sandwiched: bool,
    pub succeeded: bool,
    /// Exact in: what it received; exact out: what it paid (raw units of that token).
    pub alone_raw: Option<U256>,
    pub actual_raw: Option<U256>,
    /// Positive = the victim is worse off by this many raw units of the token above.
    pub loss_raw: i128,
    /// Decimals of the token `loss_raw` is in.
    pub loss_decimals: u32,
}

pub struct SandwichResult {
    pub records: Vec<SandwichRecord>,
    pub victims: Vec<VictimRecord>,
    pub bundles: BundleStats,
    pub relay: RelayStats,
    pub skips: BTreeMap<String, u64>,
    pub blocks: u64,
    /// Our wallet: booked (initial + every realised change) vs on the chain, (WETH, quote, ETH).
    pub booked: [u128; 3],
    pub on_chain: [u128; 3],
    pub initial: [u128; 3],
    pub final_base_fee_wei: u128,
    /// Bundles the risk gate refused, by `RiskReject`.
    pub risk_rejects: [u64; crate::risk::RiskReject::ALL.len()],
    pub risk: crate::report::RiskOutcome,
    pub journal: Journal,
}

pub fn run(spec: &RunSpec) -> Result<SandwichResult, SandwichRunError> {
    run_journaled(spec, Journal::default())
}

/// `run`, filling `journal` (e.g. one that logs every event, for a file journal).
pub fn run_journaled(spec: &RunSpec, journal: Journal) -> Result<SandwichResult, SandwichRunError> {
    match &spec.chain.fork {
        None => drive_world(spec, SandwichWorld::new(spec)?, GENESIS_TIMESTAMP, journal),
        Some(_) => run_forked(spec, crate::sim::fork::forked_chain::source(spec).map_err(forked)?, journal),
    }
}

fn forked(e: crate::sim::fork::forked_chain::ForkedChainError) -> SandwichRunError {
    match e {
        crate::sim::fork::forked_chain::ForkedChainError::Fork(e) => SandwichRunError::Fork(e),
        crate::sim::fork::forked_chain::ForkedChainError::Message(m) => SandwichRunError::Forked(m),
    }
}

/// The sandwich backtest on a chain started from `rpc`'s state at `[chain.fork]`'s block (a node,
/// a recording, or a recorder around a node).
pub fn run_forked(spec: &RunSpec, rpc: RpcSource, journal: Journal) -> Result<SandwichResult, SandwichRunError> {
    let (db, head, venues) = crate::sim::fork::forked_chain::pin(spec, rpc).map_err(forked)?;
    let world = SandwichWorld::forked(spec, db, head.timestamp, venues)?;
    drive_world(spec, world, head.timestamp, journal)
}

fn drive_world<X: revm::database::DatabaseRef + crate::chain::fork::ReadFailure>(
    spec: &RunSpec,
    mut world: SandwichWorld<'_, X>,
    genesis_ts: u64,
    mut journal: Journal,
) -> Result<SandwichResult, SandwichRunError> {
    let initial = world.initial;
    let mut strategies = StrategyManager::default();
    let fees = spec.dex.iter().map(|d| d.fee_bps).collect();
    let strategy = SandwichStrategy::new(spec.sandwich.clone(), 0, fees, spec.chain.block_time, genesis_ts, initial);
    strategies.register(Box::new(strategy), true);
    let mut risk = RiskGate::new(spec.safety.clone());
    let mut queue = EventQueue::new();
    driver::drive(&mut world, &mut queue, &mut strategies, &mut risk, &mut journal, spec.duration, &mut |_| {});
    if let Some(e) = world.db().db.read_failure() {
        return Err(SandwichRunError::Forked(format!("reading the forked state: {e}")));
    }
    let blocks = world.blocks();
    let final_base_fee_wei = world.base_fee();
    let (on_chain, relay, manager, victims) = world.finish()?;
    let s = strategies.strategies[0]
        .strategy
        .as_any()
        .downcast_ref::<SandwichStrategy>()
        .ok_or(SandwichRunError::Internal("the sandwich strategy is not the first registered"))?;
    let parts = SandwichParts { victims, bundles: manager.stats.clone(), relay, blocks, final_base_fee_wei };
    Ok(result_of(s, parts, [s.booked, on_chain, initial], &risk, journal))
}

/// What a sandwich run's world leaves besides its strategy: the victims' records, the bundle
/// counts (the strategy's own), the relay's, the blocks and the last base fee.
pub(crate) struct SandwichParts {
    pub victims: Vec<VictimRecord>,
    pub bundles: BundleStats,
    pub relay: RelayStats,
    pub blocks: u64,
    pub final_base_fee_wei: u128,
}

/// What a sandwich strategy and its world come to. `wallet` is (booked, on chain, initial) as
/// (WETH, quote, ETH): a combined run gives the shared wallet's.
pub(crate) fn result_of(
    s: &SandwichStrategy,
    parts: SandwichParts,
    wallet: [[u128; 3]; 3],
    risk: &RiskGate,
    journal: Journal,
) -> SandwichResult {
    let mut bundles = parts.bundles;
    bundles.resubmitted += s.resubmitted;
    let [booked, on_chain, initial] = wallet;
    SandwichResult {
        records: s.records.clone(),
        victims: parts.victims,
        bundles,
        relay: parts.relay,
        skips: s.skips.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        blocks: parts.blocks,
        booked,
        on_chain,
        initial,
        final_base_fee_wei: parts.final_base_fee_wei,
        risk_rejects: risk.rejects,
        risk: crate::report::RiskOutcome::of(risk),
        journal,
    }
}
