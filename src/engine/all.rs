//! Every enabled strategy in one run, on one chain and one wallet (`sim::all::AllWorld`): the
//! micro-arbitrage and cross-DEX strategies on the CEX venues and EVM pools, the sandwich strategy
//! on the victims in the mempool, the liquidation strategy on the lending pool, registered with
//! one strategy manager, gated by one risk gate and driven by the one driver. The result carries a
//! section per strategy family (the standalone runs' own result types, so their report writers
//! and checks apply unchanged) and the shared wallet's reconciliation.

use super::backtest::{BacktestResult, market_result, outcomes};
use super::driver;
use super::journal::Journal;
use super::liquidation::LiquidationResult;
use super::manager::StrategyManager;
use super::queue::EventQueue;
use super::sandwich::{SandwichParts, SandwichResult};
use crate::config::RunSpec;
use crate::core::{BundleStatus, SimTime};
use crate::execution::bundle_manager::BundleStats;
use crate::risk::RiskGate;
pub use crate::sim::all::AllRunError;
use crate::sim::all::{AllWorld, CROSS_DEX, LIQUIDATION, MICRO, SANDWICH};
use crate::strategies::liquidation_strategy::{LiquidationSetup, LiquidationStrategy};
use crate::strategies::sandwich_strategy::SandwichStrategy;
use crate::strategies::{CrossDex, MicroArbitrage};

/// The strategy families, as `SharedWallet::changes` names them.
pub const FAMILIES: [&str; 3] = ["market", "sandwich", "liquidation"];

/// The one wallet every strategy trades from, per token (the lending reserves, WETH and the quote
/// token first) then ETH: at genesis, as the strategies booked it together (genesis plus every
/// strategy's own realised changes), and on the chain. They must agree to the wei.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SharedWallet {
    pub symbols: Vec<String>,
    pub initial: Vec<u128>,
    pub booked: Vec<u128>,
    pub on_chain: Vec<u128>,
    /// Each strategy family's realised change per token (same order), as it booked it.
    pub changes: Vec<(&'static str, Vec<i128>)>,
}

impl SharedWallet {
    pub fn matches(&self) -> bool {
        self.booked == self.on_chain
    }
}

pub struct AllResult {
    /// Micro-arbitrage and cross-DEX: the CEX/DEX market's section.
    pub market: BacktestResult,
    pub sandwich: SandwichResult,
    pub liquidation: LiquidationResult,
    pub wallet: SharedWallet,
    pub events_processed: u64,
}

/// Does `spec` enable more than one family of strategies (the CEX/DEX market's, sandwich,
/// liquidation)? Then they all run together, here: none is dropped.
/// Liquidations over forked state (`[chain.fork]`) run here too: the lending market is laid on the
/// market's forked chain.
pub fn combines(spec: &RunSpec) -> bool {
    let market = spec.micro.enabled || (spec.cross_dex.enabled && spec.dex.len() >= 2);
    let families = [market, spec.sandwich.enabled, spec.liquidation.enabled].iter().filter(|x| **x).count();
    families > 1 || (spec.chain.fork.is_some() && spec.liquidation.enabled)
}

pub fn run(spec: &RunSpec, progress: &mut dyn FnMut(SimTime)) -> Result<AllResult, AllRunError> {
    run_journaled(spec, Journal::default(), progress)
}

/// `run`, filling `journal` (e.g. one that logs every event, for a file journal).
pub fn run_journaled(
    spec: &RunSpec,
    mut journal: Journal,
    progress: &mut dyn FnMut(SimTime),
) -> Result<AllResult, AllRunError> {
    let wall_start = std::time::Instant::now();
    let mut world = AllWorld::new(spec)?;
    let mut strategies = StrategyManager::default();
    strategies.register(Box::new(MicroArbitrage::new(spec.micro.clone())), spec.micro.enabled);
    strategies.register(Box::new(CrossDex::new(spec.cross_dex.clone())), spec.cross_dex.enabled && spec.dex.len() >= 2);
    let initial3 = [spec.wallet_base, spec.wallet_quote, spec.wallet_native];
    let fees = spec.dex.iter().map(|d| d.fee_bps).collect();
    let sandwich = SandwichStrategy::new(
        spec.sandwich.clone(),
        SANDWICH,
        fees,
        spec.chain.block_time,
        world.market.sim.chain.genesis_ts,
        initial3,
    );
    strategies.register(Box::new(sandwich), spec.sandwich.enabled);
    let setup = LiquidationSetup {
        spec: spec.liquidation.clone(),
        slot: LIQUIDATION,
        world: world.lending.w.book.clone(),
        reserves: world.lending.reserves.clone(),
        borrowers: world.lending.borrowers.clone(),
        initial: world.lending.initial.clone(),
        base_fee: world.lending.base_fee,
        quote_decimals: spec.quote_decimals,
        operator: world.lending.operator_address(),
        us: world.us(),
        genesis_ts: world.market.sim.chain.genesis_ts,
    };
    strategies.register(Box::new(LiquidationStrategy::new(setup)), spec.liquidation.enabled);
    debug_assert_eq!((MICRO, CROSS_DEX), (0, 1));
    let mut risk = RiskGate::new(spec.safety.clone());
    let mut queue = EventQueue::new();
    let drive =
        driver::drive(&mut world, &mut queue, &mut strategies, &mut risk, &mut journal, spec.duration, progress);
    progress(spec.duration);

    let internal = |what: &str| AllRunError::Setup(format!("internal: {what}"));
    let sw = strategies.strategies[SANDWICH as usize]
        .strategy
        .as_any()
        .downcast_ref::<SandwichStrategy>()
        .ok_or_else(|| internal("the sandwich strategy is not where it was registered"))?;
    let lq = strategies.strategies[LIQUIDATION as usize]
        .strategy
        .as_any()
        .downcast_ref::<LiquidationStrategy>()
        .ok_or_else(|| internal("the liquidation strategy is not where it was registered"))?;
    let (unhealthy, unprofitable, bad_debt) = lq.end_state(&world);
    let on_chain = world.finish()?;
    let relay = world.relay_stats();
    let blocks = world.sandwich.head.saturating_sub(1);
    let final_base_fee_wei = world.market.sim.chain.base_fee;

    // The shared wallet: every family's booked change, added to genesis, against the chain.
    let n = world.lending.reserves.len();
    let symbols: Vec<String> =
        world.lending.w.tokens.iter().map(|t| t.symbol.clone()).chain(["ETH".to_string()]).collect();
    let initial = world.initial.clone();
    let delta3 = |booked: [u128; 3]| -> Vec<i128> {
        let mut d = vec![0i128; n + 1];
        for (slot, k) in [(0usize, 0usize), (crate::engine::lending_world::QUOTE, 1), (n, 2)] {
            d[slot] = booked[k] as i128 - initial3[k] as i128;
        }
        d
    };
    let inv = &world.market.sim.inventory;
    let market_change = delta3([inv.wallet_base[0], inv.wallet_quote, inv.wallet_native]);
    let sandwich_change = delta3(sw.booked);
    let liquidation_change: Vec<i128> =
        lq.booked.iter().zip(&lq.initial).map(|(&b, &i)| b as i128 - i as i128).collect();
    let changes: Vec<(&'static str, Vec<i128>)> =
        FAMILIES.into_iter().zip([market_change, sandwich_change, liquidation_change]).collect();
    let booked: Vec<u128> = (0..=n)
        .map(|t| {
            let sum: i128 = changes.iter().map(|(_, c)| c.get(t).copied().unwrap_or(0)).sum();
            // A negative balance cannot be on the chain: booked as u128::MAX, it fails the check.
            u128::try_from(initial[t] as i128 + sum).unwrap_or(u128::MAX)
        })
        .collect();
    let wallet = SharedWallet { symbols: symbols.clone(), initial: initial.clone(), booked, on_chain, changes };
    let three = |v: &[u128]| [v[0], v[crate::engine::lending_world::QUOTE], v[n]];

    // The desk's counters are both bundle strategies'; each section counts its own, by the
    // reports its strategy heard (the journal's). The wallet is the shared one, as all strategies
    // booked it: the sandwich's own changes are in its records.
    let parts = SandwichParts {
        victims: std::mem::take(&mut world.sandwich.victims_out),
        bundles: bundle_stats(&journal, SANDWICH),
        relay,
        blocks,
        final_base_fee_wei,
    };
    let wallet3 = [three(&wallet.booked), three(&wallet.on_chain), initial3];
    let sandwich = super::sandwich::result_of(sw, parts, wallet3, &risk, Journal::default());
    let liquidation = super::liquidation::result_of(
        &world.lending,
        lq,
        blocks,
        (unhealthy, unprofitable, bad_debt),
        [initial.clone(), wallet.booked.clone(), wallet.on_chain.clone()],
        &bundle_stats(&journal, LIQUIDATION),
        &risk,
        Journal::default(),
    );
    let AllWorld { market, .. } = world;
    let outcomes = outcomes(strategies, 0..2);
    let mut market = market_result(spec, market, outcomes, &risk, journal, drive.events, wall_start)?;
    // The market's wallet line is the shared wallet's too.
    if let Some(w) = market.wallet.as_mut() {
        w.booked = three(&wallet.booked);
        w.on_chain = three(&wallet.on_chain);
    }
    Ok(AllResult { market, sandwich, liquidation, wallet, events_processed: drive.events })
}

/// What became of `strategy`'s bundles, from the reports it heard.
fn bundle_stats(journal: &Journal, strategy: u16) -> BundleStats {
    let mut b = BundleStats::default();
    for e in journal.bundles.iter().filter(|e| e.strategy == strategy) {
        let n = match e.status {
            BundleStatus::Submitted => &mut b.submitted,
            BundleStatus::SimulationFailed => &mut b.simulation_failed,
            BundleStatus::SubmitFailed => &mut b.submit_failed,
            BundleStatus::Refused | BundleStatus::NotSent => continue,
            BundleStatus::Replaced => &mut b.replaced,
            BundleStatus::Cancelled => &mut b.cancelled,
            BundleStatus::Included => &mut b.included,
            BundleStatus::Outbid => &mut b.outbid,
            BundleStatus::Failed => &mut b.failed,
            BundleStatus::Expired => &mut b.expired,
        };
        *n += 1;
    }
    b.built = b.submitted + b.simulation_failed + b.submit_failed;
    b
}
