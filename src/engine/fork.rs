//! A fork dry run: the sandwich and liquidation strategies, unchanged, over real chain state
//! through the one driver.
//! The world (`sim::fork::ForkWorld`) pins each block through the node (or a recording), offers
//! the next block's transactions as pending, confirms our bundles by simulation on that state and
//! records them; nothing is sent.

use std::collections::BTreeMap;

use super::driver;
use super::journal::Journal;
use super::manager::StrategyManager;
use super::queue::EventQueue;
use crate::chain::rpc::{BlockHead, RpcSource};
use crate::config::RunSpec;
use crate::core::SimTime;
use crate::execution::bundle_manager::BundleStats;
use crate::risk::RiskGate;
use crate::sim::fork::ForkWorld;
pub use crate::sim::fork::{AtomicRecord, ForkCounts, ForkRunError, RivalLiquidation, RivalSandwich, WouldSend};
use crate::strategies::liquidation_strategy::{LiquidationRecord, LiquidationSetup, LiquidationStrategy};
use crate::strategies::sandwich_strategy::{SandwichRecord, SandwichStrategy};

pub struct ForkLendingResult {
    pub slot: u16,
    /// Reserve symbols in the strategy's order (WETH, the quote token, then the pool's list).
    pub symbols: Vec<String>,
    pub decimals: Vec<u8>,
    pub borrowers: u64,
    pub records: Vec<LiquidationRecord>,
    pub skips: BTreeMap<String, u64>,
    pub rivals: Vec<RivalLiquidation>,
}

pub struct ForkCrossDexResult {
    pub slot: u16,
    pub records: Vec<AtomicRecord>,
    pub opportunities: crate::core::strategy::OpportunityStats,
}

/// The micro-arbitrage strategy's DEX-CEX trades: CEX legs filled against the recorded books,
/// DEX legs simulated on the pinned state.
pub struct ForkMicroResult {
    pub slot: u16,
    pub trades: Vec<crate::execution::TradeRecord>,
    pub exec: crate::execution::order_executor::ExecStats,
    pub opportunities: crate::core::strategy::OpportunityStats,
    pub venue_names: Vec<String>,
    pub pool_names: Vec<String>,
    /// Recorded books in the walked span, those our feed took and those it dropped as stale.
    pub books: u64,
    pub quotes_heard: u64,
    pub quotes_out_of_order: u64,
    /// Each DEX leg's bundle at the dry-run sink: (order, index in `would_send`).
    pub leg_bundles: Vec<(u32, usize)>,
}

pub struct ForkResult {
    pub first: BlockHead,
    pub blocks: u64,
    /// The sandwich strategy's slot, records and passes (empty when it is off).
    pub sandwich_slot: Option<u16>,
    pub records: Vec<SandwichRecord>,
    pub skips: BTreeMap<String, u64>,
    /// The liquidation strategy's, when `[fork.lending]` is watched.
    pub lending: Option<ForkLendingResult>,
    /// The cross-DEX strategy's, when it is on.
    pub cross_dex: Option<ForkCrossDexResult>,
    /// The micro-arbitrage strategy's, when it is on.
    pub micro: Option<ForkMicroResult>,
    pub would_send: Vec<WouldSend>,
    pub rivals: Vec<RivalSandwich>,
    pub bundles: BundleStats,
    pub counts: ForkCounts,
    /// Requests that reached the transport (a batch is one; replayed ones included).
    pub rpc_requests: u64,
    pub risk_rejects: [u64; crate::risk::RiskReject::ALL.len()],
    pub journal: Journal,
}

/// Strategies fork mode runs today, checked against what the config enables.
fn check_strategies(spec: &RunSpec) -> Result<(), ForkRunError> {
    if spec.micro.enabled && spec.fork.as_ref().is_some_and(|f| f.cex_quotes.is_none()) {
        return Err(ForkRunError::Config {
            key: "fork.cex_quotes".into(),
            message: "the micro-arbitrage strategy trades the pools against CEX books: give their recording (a CSV \
                      of unix_ms,venue,side,price,size) or set strategies.micro_arbitrage.enabled = false"
                .into(),
        });
    }
    let pools = spec.fork.as_ref().map_or(0, |f| f.pools.len());
    if spec.cross_dex.enabled && pools < 2 {
        return Err(ForkRunError::Config {
            key: "strategies.cross_dex.enabled".into(),
            message: format!("cross-DEX arbitrage needs two pools of the pair; [[fork.pools]] declares {pools}"),
        });
    }
    let lending = spec.fork.as_ref().is_some_and(|f| f.lending.is_some());
    if spec.liquidation.enabled && !lending {
        return Err(ForkRunError::Config {
            key: "strategies.liquidation.enabled".into(),
            message: "liquidations in fork mode watch a lending pool on the chain: declare [fork.lending]".into(),
        });
    }
    if !spec.sandwich.enabled && !spec.liquidation.enabled && !spec.cross_dex.enabled && !spec.micro.enabled {
        return Err(ForkRunError::Config {
            key: "strategies.sandwich.enabled".into(),
            message: "fork mode has nothing to run: enable the sandwich, cross-DEX or (with fork.cex_quotes) \
                      micro-arbitrage strategy or, with [fork.lending], the liquidation strategy"
                .into(),
        });
    }
    Ok(())
}

pub fn run(spec: &RunSpec, rpc: RpcSource) -> Result<ForkResult, ForkRunError> {
    check_strategies(spec)?;
    let counter = rpc.clone();
    let mut world = ForkWorld::new(spec, rpc)?;
    let first = *world.first_block();
    let blocks = world.blocks();
    let fork = spec.fork.as_ref().ok_or(ForkRunError::Internal("fork mode without [fork]"))?;
    let mut strategies = StrategyManager::default();
    let mut slots = 0u16..;
    let sandwich_slot = spec.sandwich.enabled.then(|| slots.next()).flatten();
    if let Some(slot) = sandwich_slot {
        let fees = fork.pools.iter().map(|p| p.fee_bps).collect();
        let strategy = SandwichStrategy::new(
            spec.sandwich.clone(),
            slot,
            fees,
            spec.chain.block_time,
            first.timestamp,
            world.initial,
        );
        strategies.register(Box::new(strategy), true);
    }
    let lending_slot = spec.liquidation.enabled.then(|| slots.next()).flatten();
    if let (Some(slot), Some(m)) = (lending_slot, world.lending.as_ref()) {
        let n = m.book.tokens.len();
        // Our dry-run wallet: WETH and the quote token as [account] gives them, no other reserve,
        // then ETH.
        let mut initial = vec![0u128; n + 1];
        (initial[0], initial[1], initial[n]) = (spec.wallet_base, spec.wallet_quote, spec.wallet_native);
        let setup = LiquidationSetup {
            spec: spec.liquidation.clone(),
            slot,
            world: m.book.clone(),
            reserves: m.reserves.clone(),
            borrowers: m.watch_list(),
            initial,
            base_fee: world.head_base_fee_next(),
            quote_decimals: spec.quote_decimals,
            operator: m.operator,
            us: world.desk.manager.address(),
            genesis_ts: first.timestamp,
        };
        strategies.register(Box::new(LiquidationStrategy::new(setup)), true);
    }
    let cross_slot = spec.cross_dex.enabled.then(|| slots.next()).flatten();
    if cross_slot.is_some() {
        strategies.register(Box::new(crate::strategies::cross_dex::CrossDex::new(spec.cross_dex.clone())), true);
    }
    let micro_slot = spec.micro.enabled.then(|| slots.next()).flatten();
    if let (Some(slot), Some(c)) = (micro_slot, world.cex.as_mut()) {
        c.slot = slot;
        strategies.register(Box::new(crate::strategies::MicroArbitrage::new(spec.micro.clone())), true);
    }
    let mut risk = RiskGate::new(spec.safety.clone());
    let mut journal = Journal::default();
    let mut queue = EventQueue::new();
    driver::drive(&mut world, &mut queue, &mut strategies, &mut risk, &mut journal, SimTime::MAX, &mut |_| {});
    if let Some(e) = world.failure() {
        return Err(ForkRunError::Fork(crate::chain::fork::ForkError::Source {
            method: "fork run",
            message: e.into(),
        }));
    }
    let of =
        |slot: Option<u16>| slot.and_then(|s| strategies.strategies.get(usize::from(s))).map(|r| r.strategy.as_any());
    let (records, skips) = match of(sandwich_slot) {
        None => (Vec::new(), BTreeMap::new()),
        Some(any) => {
            let s = any
                .downcast_ref::<SandwichStrategy>()
                .ok_or(ForkRunError::Internal("the sandwich strategy is not in its slot"))?;
            (s.records.clone(), s.skips.iter().map(|(k, v)| (k.to_string(), *v)).collect())
        }
    };
    let lending = match (of(lending_slot), lending_slot, world.lending.as_ref()) {
        (Some(any), Some(slot), Some(m)) => {
            let s = any
                .downcast_ref::<LiquidationStrategy>()
                .ok_or(ForkRunError::Internal("the liquidation strategy is not in its slot"))?;
            Some(ForkLendingResult {
                slot,
                symbols: m.book.tokens.iter().map(|t| t.symbol.clone()).collect(),
                decimals: m.book.tokens.iter().map(|t| t.decimals).collect(),
                borrowers: m.borrowers.len() as u64,
                records: s.records.clone(),
                skips: s.skips.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
                rivals: std::mem::take(&mut world.rival_liquidations),
            })
        }
        _ => None,
    };
    let cross_dex = cross_slot.and_then(|slot| {
        let r = strategies.strategies.get(usize::from(slot))?;
        Some(ForkCrossDexResult {
            slot,
            records: world.atomic.iter().filter(|a| a.strategy == slot).cloned().collect(),
            opportunities: r.stats.opportunities.clone(),
        })
    });
    let micro = match (micro_slot, world.cex.as_mut()) {
        (Some(slot), Some(c)) => {
            let r = strategies.strategies.get(usize::from(slot));
            let exec = c.exec.take().ok_or(ForkRunError::Internal("the order executor is out"))?;
            Some(ForkMicroResult {
                slot,
                trades: exec.records.clone(),
                exec: exec.stats,
                opportunities: r.map(|r| r.stats.opportunities.clone()).unwrap_or_default(),
                venue_names: c.specs.iter().map(|v| v.name.clone()).collect(),
                pool_names: fork.pools.iter().map(|p| p.name.clone()).collect(),
                books: c.books.len() as u64,
                quotes_heard: c.quotes_heard,
                quotes_out_of_order: c.quotes_out_of_order,
                leg_bundles: std::mem::take(&mut c.leg_bundles),
            })
        }
        _ => None,
    };
    let bundles = world.desk.manager.stats.clone();
    let would_send = std::mem::take(&mut world.would_send);
    let rivals = std::mem::take(&mut world.rivals);
    let counts = world.finish();
    Ok(ForkResult {
        first,
        blocks,
        sandwich_slot,
        records,
        skips,
        lending,
        cross_dex,
        micro,
        would_send,
        rivals,
        bundles,
        counts,
        rpc_requests: counter.requests(),
        risk_rejects: risk.rejects,
        journal,
    })
}
